#!/usr/bin/env bash
# Captures the ClientHellos in this folder: runs `openssl s_client` against a tiny loopback
# listener that saves the first bytes a client sends and closes (so no handshake completes).
# Needs openssl and python3. Run from anywhere; rewrites the *.bin files here.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
listener_pid=
cleanup() {
  [[ -n $listener_pid ]] && kill "$listener_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# capture NAME S_CLIENT_ARGS...: one connection, its first flight saved as NAME.bin.
capture() {
  local name=$1
  shift
  python3 - "$tmp/port" "$here/$name.bin" <<'PY' &
import socket, sys, time
port_file, out = sys.argv[1], sys.argv[2]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
open(port_file + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(port_file + ".tmp", port_file)
s.settimeout(10)
c, _ = s.accept()
c.settimeout(1)
data = b""
deadline = time.time() + 2
while time.time() < deadline:
    try:
        chunk = c.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    data += chunk
    # Stop at the end of the first record whose handshake message is complete.
    if len(data) >= 9 and len(data) >= 5 + int.from_bytes(data[3:5], "big"):
        hs_len = int.from_bytes(data[6:9], "big")
        got, pos = b"", 0
        while pos + 5 <= len(data):
            n = int.from_bytes(data[pos + 3:pos + 5], "big")
            got += data[pos + 5:pos + 5 + n]
            pos += 5 + n
        if len(got) >= 4 + hs_len:
            data = data[:pos]
            break
open(out, "wb").write(data)
c.close()
s.close()
PY
  listener_pid=$!
  for _ in $(seq 50); do [[ -f $tmp/port ]] && break; sleep 0.1; done
  local port
  port=$(cat "$tmp/port")
  openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null >/dev/null 2>&1 || true
  wait "$listener_pid"
  listener_pid=
  rm -f "$tmp/port"
  echo "$name.bin: $(stat -c %s "$here/$name.bin") bytes"
}

capture openssl_tls13_sni_alpn -tls1_3 -servername reviews.shop.svc.cluster.local \
  -alpn istio-peer-exchange,istio,h2
capture openssl_tls12_sni_alpn -tls1_2 -servername cart.shop.svc.cluster.local \
  -alpn istio-http/1.1,http/1.1
capture openssl_default_no_sni -noservername
capture openssl_tls12_one_cipher -tls1_2 -no_ticket -servername a.b \
  -cipher ECDHE-ECDSA-AES128-GCM-SHA256
