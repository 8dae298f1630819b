#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, makes one HTTP request on each, then holds them
idle until told to stop (stdin closes), and closes them.

The request proves each connection is established end to end (both proxies' mTLS handshakes
done, the backend connected) before anyone measures: a proxy that is slow to handshake would
otherwise be measured with half its connections still pending. Prints "open N" once every
response has arrived, so the caller can then measure the proxies' memory.
"""
import selectors
import socket
import sys

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
REQUEST = b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n"
DEADLINE_S = 120.0


def response_complete(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    raise SystemExit(f"idle_conns: response without Content-Length: {head[:200]!r}")


conns = [socket.create_connection((host, port)) for _ in range(count)]
selector = selectors.DefaultSelector()
received = {}
for s in conns:
    s.sendall(REQUEST)
    s.setblocking(False)
    received[s] = b""
    selector.register(s, selectors.EVENT_READ)
while received:
    events = selector.select(timeout=DEADLINE_S)
    if not events:
        raise SystemExit(f"idle_conns: {len(received)} of {count} requests unanswered after {DEADLINE_S:.0f} s")
    for key, _ in events:
        s = key.fileobj
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("idle_conns: a connection closed before its response")
        received[s] += chunk
        if response_complete(received[s]):
            selector.unregister(s)
            del received[s]
print(f"open {len(conns)}", flush=True)
sys.stdin.read()
for s in conns:
    s.close()
