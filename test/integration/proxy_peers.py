#!/usr/bin/env python3
"""Test peers for the proxy integration scripts (proxy_*_test.sh): backends the proxy forwards
to, clients that misbehave on purpose, a load generator. Standard library only; loopback only.

Every server prints "listening PORT" on stdout once it accepts, so a script can wait for it,
and appends one line per accepted connection to --conn-log when given (to prove that a refused
connection never reached the application).
"""
import argparse
import hashlib
import http.server
import os
import random
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time


def log_connection(path):
    if path:
        with open(path, "a") as f:
            f.write("conn\n")


def announce(port):
    print(f"listening {port}", flush=True)


# ---- servers ------------------------------------------------------------------------------------


def http_backend(args):
    """HTTP/1.1: GET /... answers 200 "backend ok PATH"; GET /bytes/N answers N bytes."""
    conn_log = args.conn_log

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path.startswith("/bytes/"):
                body = b"x" * int(self.path.split("/")[2])
            else:
                body = f"backend ok {self.path}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024

        def verify_request(self, request, client_address):
            log_connection(conn_log)
            return True

    server = Server(("127.0.0.1", args.port), Handler)
    announce(server.server_address[1])
    server.serve_forever()


class ThreadedTcp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def tcp_server(args, handle):
    conn_log = args.conn_log

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            log_connection(conn_log)
            try:
                handle(self.request, args)
            except OSError:
                pass

    server = ThreadedTcp(("127.0.0.1", args.port), Handler)
    announce(server.server_address[1])
    server.serve_forever()


def handle_echo(sock, args):
    while True:
        data = sock.recv(65536)
        if not data:
            break
        sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)


def handle_eof(sock, args):
    """Reads to EOF, then answers with the byte count and SHA-256 of what it read, then N bytes."""
    h = hashlib.sha256()
    total = 0
    while True:
        data = sock.recv(65536)
        if not data:
            break
        total += len(data)
        h.update(data)
    sock.sendall(f"got {total} {h.hexdigest()}\n".encode())
    sock.sendall(b"y" * args.reply_bytes)
    sock.shutdown(socket.SHUT_WR)


def handle_server_closes_first(sock, args):
    """Greets, closes its write side at once, then keeps reading to EOF and records the count."""
    sock.sendall(b"greeting\n")
    sock.shutdown(socket.SHUT_WR)
    h = hashlib.sha256()
    total = 0
    while True:
        data = sock.recv(65536)
        if not data:
            break
        total += len(data)
        h.update(data)
    with open(args.result, "a") as f:
        f.write(f"got {total} {h.hexdigest()}\n")


def handle_reset(sock, args):
    """Sends some data, then resets (SO_LINGER 0)."""
    sock.recv(65536)
    sock.sendall(b"z" * 100000)
    time.sleep(0.2)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def hold_backend(args):
    """Accepts and holds thousands of connections (one epoll loop), reading and discarding;
    closes each one when its peer does."""
    import selectors
    sel = selectors.DefaultSelector()
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(4096)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ)
    announce(lsock.getsockname()[1])
    while True:
        for key, _ in sel.select():
            if key.fileobj is lsock:
                for _ in range(256):
                    try:
                        conn, _ = lsock.accept()
                    except BlockingIOError:
                        break
                    log_connection(args.conn_log)
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()


# ---- clients ------------------------------------------------------------------------------------


def connect(target, timeout=10):
    host, port = target.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_all(sock):
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def http_get_once(target, path="/"):
    s = connect(target)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return recv_all(s)
    finally:
        s.close()


def load(args):
    """Many short HTTP requests, each on a new connection, from --threads threads for
    --seconds; plus, with --stream, one long-lived connection to an echo service streaming
    data and checking every byte comes back. Prints a summary; exits 1 on any failure."""
    stop = time.monotonic() + args.seconds
    lock = threading.Lock()
    stats = {"ok": 0, "failed": 0, "errors": []}

    def worker():
        while time.monotonic() < stop:
            try:
                reply = http_get_once(args.target)
                good = reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]
                good = good and reply.endswith(b"backend ok /\n")
                err = None if good else f"bad reply: {reply[:80]!r}"
            except OSError as e:
                err = f"{type(e).__name__}: {e}"
            with lock:
                if err is None:
                    stats["ok"] += 1
                else:
                    stats["failed"] += 1
                    if len(stats["errors"]) < 5:
                        stats["errors"].append(err)

    stream = {"bytes": 0, "error": None}

    def streamer():
        try:
            s = connect(args.stream, timeout=10)
            rnd = random.Random(7)
            while time.monotonic() < stop:
                chunk = rnd.randbytes(16384)
                s.sendall(chunk)
                got = b""
                while len(got) < len(chunk):
                    data = s.recv(len(chunk) - len(got))
                    if not data:
                        raise OSError("the long-lived connection was closed")
                    got += data
                if got != chunk:
                    raise OSError("the long-lived connection returned different bytes")
                stream["bytes"] += len(chunk)
                time.sleep(0.01)
            s.shutdown(socket.SHUT_WR)
            if s.recv(1) != b"":
                raise OSError("expected EOF after half-close")
            s.close()
        except OSError as e:
            stream["error"] = f"{type(e).__name__}: {e}"

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    if args.stream:
        threads.append(threading.Thread(target=streamer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"requests ok={stats['ok']} failed={stats['failed']} errors={stats['errors']}")
    if args.stream:
        print(f"stream bytes={stream['bytes']} error={stream['error']}")
    bad = stats["failed"] > 0 or stats["ok"] == 0 or (args.stream and (stream["error"] or stream["bytes"] == 0))
    sys.exit(1 if bad else 0)


def client_context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # an SVID has a URI SAN, no DNS name: the URI is checked below
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(args.ca)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))
    return ctx


def tls_get(args):
    """Python's ssl as a client: verifies the server chain, checks its SPIFFE URI SAN, sends an
    HTTP GET and prints the reply. Exit 3 when the SAN is wrong, 4 when no reply came."""
    ctx = client_context(args)
    with connect(args.target) as raw:
        with ctx.wrap_socket(raw) as s:
            uris = [v for k, v in s.getpeercert().get("subjectAltName", ()) if k == "URI"]
            print(f"peer URI SANs: {uris}; alpn: {s.selected_alpn_protocol()}; {s.version()}")
            if args.expect_spiffe_id and uris != [args.expect_spiffe_id]:
                print(f"want {args.expect_spiffe_id}")
                sys.exit(3)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            try:
                reply = recv_all(s)
            except (ssl.SSLError, OSError) as e:
                print(f"read failed: {e}")
                sys.exit(4)
            sys.stdout.write(reply.decode(errors="replace"))
            sys.exit(0 if reply else 4)


def slow_hello(args):
    """A TLS client (mesh SVID, ALPN istio) that writes its ClientHello one byte at a time,
    then completes the handshake and an HTTP GET; prints the status line."""
    ctx = client_context(args)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing)
    s = connect(args.target)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    for b in hello:
        s.send(bytes([b]))
        time.sleep(args.delay)
    print(f"sent a {len(hello)}-byte ClientHello in 1-byte writes")
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            out = outgoing.read()
            if out:
                s.sendall(out)
            data = s.recv(65536)
            if not data:
                raise SystemExit("connection closed during the handshake")
            incoming.write(data)
    out = outgoing.read()
    if out:
        s.sendall(out)
    tls.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    s.sendall(outgoing.read())
    reply = b""
    while True:
        try:
            chunk = tls.read(65536)
            if not chunk:
                break
            reply += chunk
        except ssl.SSLWantReadError:
            data = s.recv(65536)
            if not data:
                break
            incoming.write(data)
        except ssl.SSLZeroReturnError:
            break
    print(reply.split(b"\r\n", 1)[0].decode(errors="replace"))


def first_flight(alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def wait_closed(s, seconds):
    """Reads until EOF or reset; returns (how, elapsed seconds). how: eof|reset|timeout."""
    start = time.monotonic()
    s.settimeout(seconds)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return "eof", time.monotonic() - start
    except socket.timeout:
        return "timeout", time.monotonic() - start
    except ConnectionResetError:
        return "reset", time.monotonic() - start


def send_raw(args):
    """Sends crafted first bytes and reports how the proxy ended the connection."""
    s = connect(args.target)
    if args.kind == "garbage":
        payload = bytes(random.Random(1).randrange(256) for _ in range(4096))
        payload = b"\x00" + payload[1:]
    elif args.kind == "tls-garbage":
        # A handshake record header, then noise: looks like TLS, is not a ClientHello.
        payload = b"\x16\x03\x01\x02\x00" + bytes(random.Random(2).randrange(256) for _ in range(512))
    elif args.kind == "oversized":
        # A syntactically valid ClientHello of ~100 KiB (an unknown extension padded to fill
        # it), in 16 KiB records: larger than the proxy sniffs and than OpenSSL accepts.
        payload = oversized_client_hello(100 * 1024)
    elif args.kind == "partial":
        payload = first_flight(["istio"])[: args.bytes]
    else:
        raise SystemExit(f"unknown kind {args.kind}")
    try:
        s.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        print("closed while sending")
        return
    how, elapsed = wait_closed(s, args.wait)
    print(f"{how} after {elapsed:.2f}s")


def oversized_client_hello(size):
    random_bytes = os.urandom(32)
    ciphers = struct.pack("!H", 2) + b"\x13\x01"
    # Extension lengths are 16-bit: many extensions of up to 60000 bytes each.
    exts = b""
    remaining = size
    ext_type = 0xFF00
    while remaining > 0:
        n = min(60000, remaining)
        exts += struct.pack("!HH", ext_type, n) + b"\x00" * n
        ext_type += 1
        remaining -= n
    # The extensions block length is 16-bit too; an oversized hello just lies about it.
    body = b"\x03\x03" + random_bytes + b"\x00" + ciphers + b"\x01\x00" + struct.pack("!H", len(exts) & 0xFFFF) + exts
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    records = b""
    for i in range(0, len(handshake), 16384):
        frag = handshake[i:i + 16384]
        records += b"\x16\x03\x01" + struct.pack("!H", len(frag)) + frag
    return records


def stall(args):
    """Opens a connection, sends the first N bytes of a ClientHello and waits, measuring when
    the proxy closes it."""
    s = connect(args.target)
    if args.bytes:
        s.sendall(first_flight(["istio"])[: args.bytes])
    how, elapsed = wait_closed(s, args.wait)
    print(f"{how} after {elapsed:.2f}s")


def reset_mid_stream(args):
    """Starts a download through the proxy, then resets (SO_LINGER 0)."""
    s = connect(args.target)
    s.sendall(f"GET /bytes/{args.bytes} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got = s.recv(1000)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print(f"reset after {len(got)} bytes")


def half_close_client(args):
    """Sends --bytes, shuts down its write side, then reads the whole reply (eof backend)."""
    s = connect(args.target)
    data = random.Random(3).randbytes(args.bytes)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    reply = recv_all(s)
    head, _, rest = reply.partition(b"\n")
    want = f"got {len(data)} {hashlib.sha256(data).hexdigest()}".encode()
    print(f"reply: {head.decode(errors='replace')} + {len(rest)} bytes")
    ok = head == want and rest == b"y" * args.reply_bytes
    sys.exit(0 if ok else 1)


def keep_sending_client(args):
    """Against the server-closes-first backend: reads the greeting and EOF, then keeps sending
    --bytes (the proxy must still carry them), then closes."""
    s = connect(args.target)
    greeting = recv_all(s)
    data = random.Random(4).randbytes(args.bytes)
    for i in range(0, len(data), 8192):
        s.sendall(data[i:i + 8192])
    s.shutdown(socket.SHUT_WR)
    time.sleep(0.2)
    s.close()
    print(f"greeting={greeting!r} sent {len(data)} sha256={hashlib.sha256(data).hexdigest()}")


def echo_check(args):
    """Sends --bytes (starting with a real TLS ClientHello when --tls-prefix) to an echo
    service, half-closes, and checks the same bytes come back untouched."""
    data = random.Random(5).randbytes(args.bytes)
    if args.tls_prefix:
        data = first_flight(["istio-peer-exchange", "istio"]) + data
    s = connect(args.target)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s)
    print(f"sent {len(data)} got {len(got)} identical={got == data}")
    sys.exit(0 if got == data else 1)


def echo_session(args):
    """One echo connection held open: sends a line every --interval until --control says stop
    (a file: 'close' closes it). Writes progress to --status."""
    s = connect(args.target)
    n = 0
    while True:
        if os.path.exists(args.control):
            break
        msg = f"ping {n}\n".encode()
        try:
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                data = s.recv(len(msg) - len(got))
                if not data:
                    raise OSError("closed by the proxy")
                got += data
            if got != msg:
                raise OSError("wrong echo")
        except OSError as e:
            with open(args.status, "a") as f:
                f.write(f"error {n} {e}\n")
            return
        with open(args.status, "a") as f:
            f.write(f"ok {n}\n")
        n += 1
        time.sleep(args.interval)
    s.close()
    with open(args.status, "a") as f:
        f.write("closed\n")


def idle_clients(args):
    """Opens --count connections (each sends one line, so the proxy has dialled upstream),
    writes 'open N failed F' to --status, holds them until --control exists, then closes them."""
    host, port = args.target.rsplit(":", 1)
    socks = []
    failures = 0
    for _ in range(args.count):
        try:
            s = socket.create_connection((host, int(port)), timeout=20)
            s.sendall(b"hello\n")
            socks.append(s)
        except OSError:
            failures += 1
    with open(args.status, "w") as f:
        f.write(f"open {len(socks)} failed {failures}\n")
    while not os.path.exists(args.control):
        time.sleep(0.1)
    for s in socks:
        s.close()
    with open(args.status, "a") as f:
        f.write("closed\n")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)

    def server(name):
        sp = sub.add_parser(name)
        sp.add_argument("--port", type=int, default=0)
        sp.add_argument("--conn-log")
        return sp

    server("http")
    server("echo")
    sp = server("eof")
    sp.add_argument("--reply-bytes", type=int, default=0)
    sp = server("server-closes-first")
    sp.add_argument("--result", required=True)
    server("reset")
    server("hold")

    sp = sub.add_parser("load")
    sp.add_argument("--target", required=True)
    sp.add_argument("--stream")
    sp.add_argument("--threads", type=int, default=4)
    sp.add_argument("--seconds", type=float, default=10)

    for name in ("tls-get", "slow-hello"):
        sp = sub.add_parser(name)
        sp.add_argument("--target", required=True)
        sp.add_argument("--ca", required=True)
        sp.add_argument("--cert")
        sp.add_argument("--key")
        sp.add_argument("--alpn")
        sp.add_argument("--expect-spiffe-id")
        sp.add_argument("--delay", type=float, default=0.002)

    sp = sub.add_parser("send-raw")
    sp.add_argument("--target", required=True)
    sp.add_argument("--kind", required=True)
    sp.add_argument("--bytes", type=int, default=0)
    sp.add_argument("--wait", type=float, default=10)

    sp = sub.add_parser("stall")
    sp.add_argument("--target", required=True)
    sp.add_argument("--bytes", type=int, default=0)
    sp.add_argument("--wait", type=float, default=10)

    sp = sub.add_parser("reset-mid-stream")
    sp.add_argument("--target", required=True)
    sp.add_argument("--bytes", type=int, default=10_000_000)

    sp = sub.add_parser("half-close")
    sp.add_argument("--target", required=True)
    sp.add_argument("--bytes", type=int, default=1 << 20)
    sp.add_argument("--reply-bytes", type=int, default=0)

    sp = sub.add_parser("keep-sending")
    sp.add_argument("--target", required=True)
    sp.add_argument("--bytes", type=int, default=1 << 20)

    sp = sub.add_parser("echo-check")
    sp.add_argument("--target", required=True)
    sp.add_argument("--bytes", type=int, default=65536)
    sp.add_argument("--tls-prefix", action="store_true")

    sp = sub.add_parser("echo-session")
    sp.add_argument("--target", required=True)
    sp.add_argument("--control", required=True)
    sp.add_argument("--status", required=True)
    sp.add_argument("--interval", type=float, default=0.1)

    sp = sub.add_parser("idle-clients")
    sp.add_argument("--target", required=True)
    sp.add_argument("--count", type=int, required=True)
    sp.add_argument("--control", required=True)
    sp.add_argument("--status", required=True)

    args = p.parse_args()
    if args.cmd == "http":
        http_backend(args)
    elif args.cmd == "echo":
        tcp_server(args, handle_echo)
    elif args.cmd == "eof":
        tcp_server(args, handle_eof)
    elif args.cmd == "server-closes-first":
        tcp_server(args, handle_server_closes_first)
    elif args.cmd == "reset":
        tcp_server(args, handle_reset)
    elif args.cmd == "hold":
        hold_backend(args)
    elif args.cmd == "load":
        load(args)
    elif args.cmd == "tls-get":
        tls_get(args)
    elif args.cmd == "slow-hello":
        slow_hello(args)
    elif args.cmd == "send-raw":
        send_raw(args)
    elif args.cmd == "stall":
        stall(args)
    elif args.cmd == "reset-mid-stream":
        reset_mid_stream(args)
    elif args.cmd == "half-close":
        half_close_client(args)
    elif args.cmd == "keep-sending":
        keep_sending_client(args)
    elif args.cmd == "echo-check":
        echo_check(args)
    elif args.cmd == "echo-session":
        echo_session(args)
    elif args.cmd == "idle-clients":
        idle_clients(args)


if __name__ == "__main__":
    main()
