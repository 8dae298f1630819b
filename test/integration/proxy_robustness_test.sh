#!/usr/bin/env bash
# The sidecar proxy against misbehaving peers and at scale, on loopback:
#   proxy_robustness_test.sh MUTUAL_BINARY REPO_ROOT
# garbage and oversized ClientHellos; a ClientHello in 1-byte writes; clients that stall
# mid-handshake (timeouts.handshake 2s); resets mid-stream both ways; half-close in both
# directions through a mutual client proxy and mTLS; 10,000 idle connections (fd count back to
# baseline, VmRSS recorded) and 1,000 idle mTLS connections; an upstream that refuses (UF); one
# that never answers the SYN, given up on after timeouts.connect 1s (UF), then the next endpoint;
# SIGTERM drain (stops accepting at once, open connections finish, exit after timeouts.drain);
# max_connections (UO); timeouts.idle (a silent connection closed, a busy one kept). After each
# case the proxies must still be running.
# Needs curl, jq, python3.
set -euo pipefail

MUTUAL=${1:?usage: proxy_robustness_test.sh MUTUAL_BINARY REPO_ROOT}
ROOT=${2:?usage: proxy_robustness_test.sh MUTUAL_BINARY REPO_ROOT}
IDLE_WANT=${IDLE_CONNECTIONS:-10000}
IDLE_TLS=${IDLE_TLS_CONNECTIONS:-1000}

# Every process started below inherits this: the proxy needs two descriptors per connection.
want_fds=$((2 * IDLE_WANT + 100))
ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
source "$ROOT/test/integration/proxy_lib.sh"
need curl jq python3
IDLE=$IDLE_WANT
if ((FD_LIMIT < want_fds)); then
  IDLE=$(((FD_LIMIT - 100) / 2))
  echo "NOTE: ulimit -n is $FD_LIMIT (could not raise it to $want_fds): $IDLE idle connections instead of $IDLE_WANT"
fi

make_mesh_pki ca

start_http_backend
start_echo_backend
start_peer eof eof --reply-bytes 1048576
EOF_PORT=$PEER_PORT
start_peer scf server-closes-first --result "$TMP/scf.result"
SCF_PORT=$PEER_PORT
start_peer reset reset
RESET_PORT=$PEER_PORT
start_peer hold hold
HOLD_PORT=$PEER_PORT
CLOSED_PORT=$(free_port)  # nothing listens here

peer_authn cart 8081=PERMISSIVE 8082=PERMISSIVE 8083=PERMISSIVE 8084=PERMISSIVE 8085=DISABLE \
  8086=DISABLE 8087=PERMISSIVE 8088=PERMISSIVE 8090=PERMISSIVE
proxy_config rb cart cart pol/ <<EOF
inbound:
  - {port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: strict-http}
  - {port: 8081, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: http}
  - {port: 8082, listen: 127.0.0.1:0, forward: 127.0.0.1:$ECHO_PORT, name: echo}
  - {port: 8083, listen: 127.0.0.1:0, forward: 127.0.0.1:$CLOSED_PORT, name: refused}
  - {port: 8084, listen: 127.0.0.1:0, forward: 127.0.0.1:$EOF_PORT, name: eof}
  - {port: 8085, listen: 127.0.0.1:0, forward: 127.0.0.1:$SCF_PORT, name: server-closes-first}
  - {port: 8086, listen: 127.0.0.1:0, forward: 127.0.0.1:$HOLD_PORT, name: hold}
  - {port: 8087, listen: 127.0.0.1:0, forward: 127.0.0.1:$RESET_PORT, name: reset}
  - {port: 8088, listen: 127.0.0.1:0, forward: 127.0.0.1:$HOLD_PORT, name: hold-mtls}
  - {port: 8089, listen: 127.0.0.1:0, forward: 127.0.0.1:$SCF_PORT, name: server-closes-first-mtls}
  - {port: 8090, listen: 127.0.0.1:0, forward: 127.0.0.1:$SCF_PORT, name: server-first-permissive}
workers: 2
timeouts: {handshake: 2s, drain: 3s}
EOF
start_proxy rb "$TMP/rb.yaml"
STRICT=$(in_addr rb 0)
HTTP=$(in_addr rb 1)
ECHO=$(in_addr rb 2)
REFUSED=$(in_addr rb 3)
EOFL=$(in_addr rb 4)
SCF=$(in_addr rb 5)
HOLD=$(in_addr rb 6)
RESET=$(in_addr rb 7)
HOLD_MTLS=$(in_addr rb 8)
SCF_MTLS=$(in_addr rb 9)
SCF_PERMISSIVE=$(in_addr rb 10)
RB=${PROXY_PID[rb]}

proxy_config cl web web <<EOF
outbound:
  - {name: http, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8081, endpoints: [$HTTP]}
  - {name: eof, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8084, endpoints: [$EOFL]}
  - {name: scf, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8089, endpoints: [$SCF_MTLS]}
  - {name: refused, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8083, endpoints: [$REFUSED]}
  - {name: hold, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8088, endpoints: [$HOLD_MTLS]}
workers: 2
EOF
start_proxy cl "$TMP/cl.yaml"
CL=${PROXY_PID[cl]}
wait_ready rb cl
curl -sf --max-time 10 "http://$(out_addr cl 0)/warmup" >/dev/null || fail "warm-up request through the pair"
sleep 0.5
RB_FD0=$(fd_count "$RB")
CL_FD0=$(fd_count "$CL")
pass "proxies up (ulimit -n $FD_LIMIT); baseline fds: server proxy $RB_FD0, client proxy $CL_FD0"

# ---- garbage and oversized ClientHellos ------------------------------------------------------
for kind in garbage tls-garbage oversized; do
  mark rb
  res=$(python3 "$PEERS" send-raw --target "$STRICT" --kind "$kind" --wait 5)
  [[ "$res" == eof* || "$res" == reset* || "$res" == closed* ]] || fail "STRICT $kind: not closed: $res"
  expect_log rb '.downstream_local_address == "'"$STRICT"'" and .downstream_transport_failure_reason != null' "STRICT $kind"
  alive rb
  pass "STRICT, $kind first bytes: $res; $(jq -r .downstream_transport_failure_reason <<<"$LAST_LOG" | cut -c1-120)"
done
mark rb
res=$(python3 "$PEERS" send-raw --target "$HTTP" --kind oversized --wait 5)
expect_log rb '.downstream_local_address == "'"$HTTP"'"' "PERMISSIVE oversized"
alive rb
pass "PERMISSIVE, oversized ClientHello: not sniffable, passed to the application as opaque bytes ($res; $(jq -c '{upstream_host, bytes_received}' <<<"$LAST_LOG"))"

# ---- stalls mid-handshake (timeouts.handshake: 2s) ------------------------------------------
for stall in "0 nothing at all" "60 the first 60 bytes of a ClientHello" "full a whole ClientHello, then nothing"; do
  bytes=${stall%% *}
  what=${stall#* }
  [[ $bytes == full ]] && bytes=100000
  mark rb
  res=$(python3 "$PEERS" stall --target "$STRICT" --bytes "$bytes" --wait 10)
  secs=$(awk '{print $3}' <<<"$res" | tr -d s)
  [[ "$res" == eof* || "$res" == reset* ]] || fail "stall ($what): $res"
  awk -v s="$secs" 'BEGIN { exit !(s >= 1.8 && s <= 4.5) }' || fail "stall ($what): closed after ${secs}s, want ~2s"
  expect_log rb '.downstream_transport_failure_reason // "" | startswith("handshake_timeout")' "stall ($what)"
  alive rb
  pass "client sends $what: closed after ${secs}s: $(jq -r .downstream_transport_failure_reason <<<"$LAST_LOG")"
done
back_to_baseline rb "$RB" "$RB_FD0" "after the stalls"
pass "fds back to baseline ($RB_FD0) after the stalled handshakes"

# ---- resets mid-stream -------------------------------------------------------------------------
mark rb
res=$(python3 "$PEERS" reset-mid-stream --target "$HTTP" --bytes 50000000)
expect_log rb '.downstream_local_address == "'"$HTTP"'" and .upstream_host != null' "client reset mid-stream (plaintext)"
alive rb
pass "client resets (SO_LINGER 0) mid-download: $res; $(jq -c '{bytes_sent, response_flags}' <<<"$LAST_LOG")"
mark rb
mark cl
res=$(python3 "$PEERS" reset-mid-stream --target "$(out_addr cl 0)" --bytes 50000000)
expect_log cl '.upstream_host != null' "client reset mid-stream (via the client proxy)"
cl_line=$LAST_LOG
expect_log rb '.peer_principal == "spiffe://cluster.local/ns/shop/sa/web"' "client reset mid-stream (server side)"
alive rb
alive cl
pass "client resets mid-download through the mTLS pair: client proxy $(jq -c '{bytes_sent, response_flags}' <<<"$cl_line"), server proxy $(jq -c '{bytes_sent, response_flags}' <<<"$LAST_LOG")"
# The reset did not cost the pair its shared session (the server keeps it in its cache, and
# OpenSSL drops a session whose connection ended without close_notify): the next one resumes.
resumed=$(metric cl 'mutual_tls_sessions_resumed_total{direction="outbound"}')
curl -sS --max-time 10 -o /dev/null "http://$(out_addr cl 0)/after-reset" || fail "a request after the reset"
after=$(metric cl 'mutual_tls_sessions_resumed_total{direction="outbound"}')
((after == resumed + 1)) || fail "the connection after a reset did not resume the session ($resumed -> $after)"
pass "the connection after the reset resumed the pair's session"
mark rb
set -- $(python3 - "$RESET" <<'EOF'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b"go\n")
total, how = 0, "eof"
start = time.monotonic()
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        total += len(d)
except ConnectionResetError:
    how = "reset"
print(total, how, f"{time.monotonic() - start:.2f}")
EOF
)
[[ $2 == eof || $2 == reset ]] || fail "upstream reset: $*"
expect_log rb '.downstream_local_address == "'"$RESET"'"' "upstream reset"
alive rb
pass "upstream resets mid-stream: the client got $1 bytes then $2 after $3s; $(jq -c '{response_flags}' <<<"$LAST_LOG")"
back_to_baseline rb "$RB" "$RB_FD0" "after the resets"
back_to_baseline cl "$CL" "$CL_FD0" "after the resets"

# ---- half-close in both directions -----------------------------------------------------------
res=$(python3 "$PEERS" half-close --target "$EOFL" --bytes 1048576 --reply-bytes 1048576) ||
  fail "half-close (plaintext): $res"
pass "client shuts down its write side (plaintext), then reads the whole reply: $res"
res=$(python3 "$PEERS" half-close --target "$(out_addr cl 1)" --bytes 1048576 --reply-bytes 1048576) ||
  fail "half-close (through the mTLS pair): $res"
pass "client shuts down its write side through client proxy -> mTLS -> server proxy, then reads the whole reply: $res"
for target in "$SCF" "$(out_addr cl 2)"; do
  : >"$TMP/scf.result"
  res=$(python3 "$PEERS" keep-sending --target "$target" --bytes 1048576) || fail "server closes first: $res"
  wait_for "the server-closes-first backend to record what it got" 10 test -s "$TMP/scf.result"
  want=$(sed 's/.* sent \([0-9]*\) sha256=\(.*\)/got \1 \2/' <<<"$res")
  [[ "$(cat "$TMP/scf.result")" == "$want" ]] || fail "server closes first ($target): backend $(cat "$TMP/scf.result"), client $res"
done
pass "backend speaks first then closes its write side, client keeps sending 1 MiB: all of it arrives (DISABLE port, and through the mTLS pair to a STRICT port)"
# A server-first protocol on a PERMISSIVE port: the proxy must see the client's first bytes to
# choose mTLS or plaintext, so a client that waits for the server is closed after
# timeouts.handshake, as Istio documents for server-first protocols (use STRICT or DISABLE).
mark rb
res=$(python3 "$PEERS" stall --target "$SCF_PERMISSIVE" --wait 10)
expect_log rb '.downstream_local_address == "'"$SCF_PERMISSIVE"'" and (.downstream_transport_failure_reason // "" | startswith("handshake_timeout"))' "server-first on PERMISSIVE"
pass "server-first protocol on a PERMISSIVE port (documented limitation): the silent client is closed ($res): $(jq -r .downstream_transport_failure_reason <<<"$LAST_LOG")"
alive rb
alive cl

# ---- an upstream that refuses ------------------------------------------------------------------
mark rb
start_ns=$(date +%s%N)
curl -sS --max-time 10 "http://$REFUSED/" >/dev/null 2>&1 && fail "refused upstream: curl succeeded"
ms=$((($(date +%s%N) - start_ns) / 1000000))
((ms < 5000)) || fail "refused upstream: the client waited ${ms} ms"
expect_log rb '.response_flags == "UF"' "refused upstream"
pass "application refuses: client sees a close after ${ms} ms; $(brief)"
mark rb
curl -sS --max-time 10 "http://$(out_addr cl 3)/" >/dev/null 2>&1 && fail "refused upstream via mesh: curl succeeded"
expect_log rb '.response_flags == "UF" and .peer_principal != null' "refused upstream via the pair"
pass "application refuses behind the mTLS pair: the client sees a close"
alive rb
alive cl

# ---- an upstream that never answers (timeouts.connect: 1s) -------------------------------------
# A black hole on loopback: a listener with listen(0) that never accepts, its accept queue filled
# by connections of its own. Linux then drops every further SYN to it (tcp_conn_request:
# sk_acceptq_is_full), so a connect() to it stays pending, as to a host that is down, until the
# dialer gives up. It checks that on this machine first: a connection that does not complete.
cat >"$TMP/blackhole.py" <<'EOF'
import signal, socket, sys
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(0)
addr = listener.getsockname()
held = []
for _ in range(8):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(addr)
    except socket.timeout:
        s.close()
        break
    held.append(s)  # queued, never accepted: kept open until this process ends
else:
    sys.exit("a listener with a full accept queue still completes connections: no black hole")
print("listening", addr[1], f"(accept queue full with {len(held)} connection(s))", flush=True)
signal.pause()
EOF
bg blackhole python3 -u "$TMP/blackhole.py"
BH=$LAST_PID
wait_for "the black hole to listen" 15 grep -q '^listening ' "$TMP/blackhole.out"
kill -0 "$BH" 2>/dev/null || fail "black hole: $(cat "$TMP/blackhole.out")"
BLACKHOLE=127.0.0.1:$(awk '/^listening /{print $2; exit}' "$TMP/blackhole.out")
# workers: 1, so the round robin of the failover listener starts at its first endpoint.
proxy_config ct cart cart pol/ <<EOF
inbound:
  - {port: 8086, listen: 127.0.0.1:0, forward: $BLACKHOLE, name: black-hole-in}
  - {port: 8080, listen: 127.0.0.1:0, forward: $BLACKHOLE, name: black-hole-in-mtls}
outbound:
  - {name: black-hole-out, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8081, endpoints: [$BLACKHOLE]}
  - {name: failover, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8081, endpoints: [$BLACKHOLE, $HTTP]}
workers: 1
timeouts: {connect: 1s}
EOF
start_proxy ct "$TMP/ct.yaml"
wait_ready ct
sleep 0.5
CT_FD0=$(fd_count "${PROXY_PID[ct]}")
# within_connect_timeout MS: MS is about timeouts.connect (1s), well short of the 5s default.
within_connect_timeout() { ((900 <= $1 && $1 < 3500)); }
BH_UF='.response_flags == "UF" and .upstream_host == "'"$BLACKHOLE"'" and .upstream_transport_failure_reason == "upstream_connect_failure: Connection timed out"'
for case in "0 inbound (DISABLE)" "-1 outbound"; do
  i=${case%% *}
  what=${case#* }
  if ((i >= 0)); then target=$(in_addr ct "$i"); else target=$(out_addr ct 0); fi
  mark ct
  res=$(python3 "$PEERS" stall --target "$target" --wait 10)
  [[ "$res" == eof* || "$res" == reset* ]] || fail "black-holed upstream, $what: not closed: $res"
  ms=$(awk '{printf "%d", $3 * 1000}' <<<"$res")
  within_connect_timeout "$ms" || fail "black-holed upstream, $what: closed after $ms ms, want ~1000 (timeouts.connect 1s)"
  expect_log ct "$BH_UF" "black-holed upstream, $what"
  within_connect_timeout "$(jq .duration <<<"$LAST_LOG")" || fail "black-holed upstream, $what: logged duration $(jq .duration <<<"$LAST_LOG") ms"
  pass "timeouts.connect 1s, $what to a black hole: the client sees $res; $(jq -c '{direction, duration, response_flags, upstream_transport_failure_reason}' <<<"$LAST_LOG")"
done
mark ct
start_ns=$(date +%s%N)
rc=0
res=$(python3 "$PEERS" tls-get --target "$(in_addr ct 1)" --ca "$TMP/ca/ca.crt" --cert "$TMP/web/tls.crt" \
  --key "$TMP/web/tls.key" --alpn istio 2>&1) || rc=$?
ms=$((($(date +%s%N) - start_ns) / 1000000))
((rc == 4)) || fail "black-holed upstream, inbound mTLS: want the handshake, then a close without a reply (exit 4), got exit $rc: $res"
# ms includes Python's start and the handshake (up to 1 s more on a loaded machine); the logged
# duration (accept to close) is the proxy's own.
((900 <= ms && ms < 4500)) || fail "black-holed upstream, inbound mTLS: closed after $ms ms, want ~1000 (timeouts.connect 1s)"
expect_log ct "$BH_UF"' and .peer_principal == "spiffe://cluster.local/ns/shop/sa/web"' "black-holed upstream, inbound mTLS"
within_connect_timeout "$(jq .duration <<<"$LAST_LOG")" || fail "black-holed upstream, inbound mTLS: logged duration $(jq .duration <<<"$LAST_LOG") ms"
pass "timeouts.connect 1s, inbound mTLS to a black hole: the handshake completes, the request gets a close after $ms ms; $(jq -c '{duration, response_flags, peer_principal}' <<<"$LAST_LOG")"
# Outbound, a black hole then a live endpoint: given up on after timeouts.connect, the next one serves.
mark ct
start_ns=$(date +%s%N)
res=$(curl -sS --max-time 10 "http://$(out_addr ct 1)/failover" 2>&1) || fail "failover past a black-holed endpoint: $res"
ms=$((($(date +%s%N) - start_ns) / 1000000))
[[ "$res" == "backend ok /failover" ]] || fail "failover past a black-holed endpoint: $res"
within_connect_timeout "$ms" || fail "failover past a black-holed endpoint: answered after $ms ms, want ~1000 (timeouts.connect 1s)"
expect_log ct '.upstream_host == "'"$HTTP"'" and .response_flags == null' "failover past a black-holed endpoint"
pass "timeouts.connect 1s, outbound endpoints [black hole, live]: answered after $ms ms by $(jq -r .upstream_host <<<"$LAST_LOG")"
# The black hole is now held down (EndpointRotation, 10 s): the next connections, the black
# hole's turn among them, go to the live endpoint first and do not wait for timeouts.connect.
for turn in 1 2; do
  mark ct
  res=$(curl -sS --max-time 10 "http://$(out_addr ct 1)/held-down" 2>&1) || fail "after the failover, connection $turn: $res"
  [[ "$res" == "backend ok /held-down" ]] || fail "after the failover, connection $turn: $res"
  expect_log ct '.upstream_host == "'"$HTTP"'" and .response_flags == null and .duration < 900' \
    "after the failover, connection $turn: the live endpoint, without a connect timeout"
done
pass "the failed endpoint is held down: the next 2 connections went straight to $HTTP (logged durations under 900 ms)"
back_to_baseline ct "${PROXY_PID[ct]}" "$CT_FD0" "after the black-holed connects"
alive ct
stop_pid "$BH"
wait "$BH" 2>/dev/null || true

# ---- 10,000 idle connections ---------------------------------------------------------------------
# idle_run NAME PID TARGET COUNT WHAT [PID2]: opens COUNT idle connections to TARGET, records
# the proxy's fds and VmRSS before, while open and after they close (and PID2's VmRSS growth:
# the server side of an mTLS pair).
idle_run() {
  local name=$1 pid=$2 target=$3 count=$4 what=$5 pid2=${6:-}
  local base_fd base_rss base_rss2=0
  # A connection that just ended (the admin API's, asked a moment ago) may still hold its fd:
  # counted in the baseline, it would be missing from "two per connection" below.
  local startup_fds="${name^^}_FD0"
  back_to_baseline "$name" "$pid" "${!startup_fds}" "$what, before opening"
  base_fd=$(fd_count "$pid")
  base_rss=$(rss_kb "$pid")
  if [[ -n $pid2 ]]; then base_rss2=$(rss_kb "$pid2"); fi
  local t0=$SECONDS
  hold_idle idle "$target" "$count" 120
  local idle_pid=$LAST_PID
  local opened
  opened=$(awk '{print $2}' "$TMP/idle.status")
  [[ $opened -eq $count ]] || fail "$what: $(cat "$TMP/idle.status")"
  # Every connection reached the backend once the proxy holds two fds for it.
  wait_fds "$pid" -ge $((base_fd + 2 * count)) 60 ||
    fail "$what: the proxy holds $(fd_count "$pid") fds for $count connections (baseline $base_fd)"
  sleep 1
  local open_fd open_rss
  open_fd=$(fd_count "$pid")
  open_rss=$(rss_kb "$pid")
  local open_rss2=0
  if [[ -n $pid2 ]]; then open_rss2=$(rss_kb "$pid2"); fi
  alive "$name"
  curl -sf "http://$(admin "$name")/ready" >/dev/null || fail "$what: admin not answering with $count open connections"
  release_idle idle "$idle_pid"
  back_to_baseline "$name" "$pid" "$base_fd" "$what, after closing"
  sleep 1
  local after_rss
  after_rss=$(rss_kb "$pid")
  IDLE_REPORT="$what: $count connections opened in $((SECONDS - t0))s; proxy fds $base_fd -> $open_fd -> $(fd_count "$pid"); VmRSS ${base_rss} kB -> ${open_rss} kB -> ${after_rss} kB ($(((open_rss - base_rss) * 1024 / count)) bytes per connection)"
  if [[ -n $pid2 ]]; then IDLE_REPORT+="; the server proxy's VmRSS grew by $((open_rss2 - base_rss2)) kB ($(((open_rss2 - base_rss2) * 1024 / count)) bytes per connection)"; fi
  IDLE_DELTA_KB=$((open_rss - base_rss))
  IDLE_OPEN_RSS=$open_rss
}
# The mTLS run first, so that the server proxy's growth is measured before the plaintext run
# leaves freed heap behind for it to reuse.
idle_run cl "$CL" "$(out_addr cl 4)" "$IDLE_TLS" "idle mTLS connections (client proxy)" "$RB"
((IDLE_DELTA_KB < IDLE_TLS * 64)) || fail "RSS grew by ${IDLE_DELTA_KB} kB for $IDLE_TLS idle mTLS connections (over 64 kB each)"
pass "$IDLE_REPORT"
back_to_baseline rb "$RB" "$RB_FD0" "after the idle mTLS connections (server proxy)"
alive rb
alive cl
dropped0=$(metric rb mutual_access_log_dropped_lines_total)
idle_run rb "$RB" "$HOLD" "$IDLE" "idle plaintext connections (DISABLE listener)"
((IDLE_DELTA_KB < IDLE * 16)) || fail "RSS grew by ${IDLE_DELTA_KB} kB for $IDLE idle connections (over 16 kB each)"
pass "$IDLE_REPORT; access-log lines dropped when they all closed: $(($(metric rb mutual_access_log_dropped_lines_total) - dropped0))"
alive rb
# Bounded: the same load again must reuse that memory, not add to it.
first_rss=$IDLE_OPEN_RSS
idle_run rb "$RB" "$HOLD" "$IDLE" "idle plaintext connections, second round"
((IDLE_OPEN_RSS <= first_rss + first_rss / 10 + 5120)) ||
  fail "VmRSS with $IDLE idle connections grew from ${first_rss} kB (first round) to ${IDLE_OPEN_RSS} kB (second)"
pass "$IDLE_REPORT; VmRSS with them open: first round ${first_rss} kB, second ${IDLE_OPEN_RSS} kB (bounded)"
alive rb

# ---- max_connections ---------------------------------------------------------------------------
proxy_config lim cart cart pol/ <<EOF
inbound:
  - {port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: strict-http}
  - {port: 8082, listen: 127.0.0.1:0, forward: 127.0.0.1:$ECHO_PORT, name: echo}
workers: 1
max_connections: 2
EOF
start_proxy lim "$TMP/lim.yaml"
# lim_active N: proxy lim counts N open connections (the ones max_connections limits).
lim_active() { (($(metric lim mutual_tcp_connections_active) == $1)); }
res=$(python3 "$PEERS" slow-hello --target "$(in_addr lim 0)" --ca "$TMP/ca/ca.crt" \
  --cert "$TMP/web/tls.crt" --key "$TMP/web/tls.key" --alpn istio --delay 0.003) || fail "1-byte ClientHello: $res"
grep -q 'HTTP/1.[01] 200' <<<"$res" || fail "1-byte ClientHello: $res"
pass "a ClientHello written 1 byte at a time (3 ms apart, default 10s handshake timeout) completes: $(tr '\n' ' ' <<<"$res")"
wait_for "proxy lim to close the 1-byte ClientHello connection" 10 lim_active 0
hold_idle lim-idle "$(in_addr lim 1)" 2 10
LIM_IDLE=$LAST_PID
wait_for "proxy lim to hold the 2 idle connections" 10 lim_active 2
mark lim
res=$(python3 "$PEERS" stall --target "$(in_addr lim 1)" --wait 5)
[[ "$res" == eof* || "$res" == reset* ]] || fail "max_connections 2: a third connection was not closed: $res"
expect_log lim '.response_flags == "UO"' "max_connections"
[[ $(metric lim 'mutual_connections_rejected_total') -ge 1 ]] || fail "max_connections: rejected metric not counted"
release_idle lim-idle "$LIM_IDLE"
wait_for "proxy lim to close the 2 idle connections" 10 lim_active 0
res2=$(python3 "$PEERS" echo-check --target "$(in_addr lim 1)" --bytes 1000) || fail "after the limit: $res2"
alive lim
pass "max_connections 2: the third connection is closed ($res, $(brief)); after the two close, new ones are served"

# ---- timeouts.idle ------------------------------------------------------------------------------
# A connection on which nothing moves for timeouts.idle is closed (access log: idle_timeout); one
# that keeps moving outlives it. Plaintext (DISABLE) and through a client proxy and mTLS.
mkdir -p "$TMP/pol-idl"
cat >"$TMP/pol-idl/pa.yaml" <<EOF2
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: idl, namespace: shop}
spec: {selector: {matchLabels: {app: cart}}, portLevelMtls: {8082: {mode: DISABLE}}}
EOF2
proxy_config idl cart cart pol-idl/ <<EOF2
inbound:
  - {port: 8082, listen: 127.0.0.1:0, forward: 127.0.0.1:$ECHO_PORT, name: echo}
  - {port: 8083, listen: 127.0.0.1:0, forward: 127.0.0.1:$ECHO_PORT, name: echo-mtls}
workers: 1
timeouts: {idle: 1s}
EOF2
start_proxy idl "$TMP/idl.yaml"
proxy_config idlc web web <<EOF2
outbound:
  - {name: echo, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8083, endpoints: [$(in_addr idl 1)]}
workers: 1
timeouts: {idle: 1s}
EOF2
start_proxy idlc "$TMP/idlc.yaml"
wait_ready idl idlc
# silent_close TARGET: one echoed line, then silence; prints the seconds until the proxy closed.
silent_close() {
  python3 - "$1" <<'EOF2'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b"ping\n")
if s.recv(100) != b"ping\n":
    sys.exit("no echo")
start = time.monotonic()
try:
    while s.recv(100):
        pass
except (ConnectionResetError, socket.timeout) as e:
    sys.exit(f"not closed cleanly: {e!r}")
print(f"{time.monotonic() - start:.2f}")
EOF2
}
for target in "$(in_addr idl 0)" "$(out_addr idlc 0)"; do
  mark idl
  secs=$(silent_close "$target") || fail "idle timeout ($target): $secs"
  python3 -c "import sys; sys.exit(not 0.9 <= float('$secs') <= 3.0)" ||
    fail "idle timeout ($target): closed after ${secs}s, want ~1s (timeouts.idle 1s)"
  expect_log idl '.connection_termination_details == "idle_timeout"' "idle timeout ($target)"
  pass "timeouts.idle 1s: a silent connection ($target) was closed after ${secs}s, access log: $(jq -c '{connection_termination_details, response_flags}' <<<"$LAST_LOG")"
done
rm -f "$TMP/idle-session.control" "$TMP/idle-session.status"
bg idle-session python3 "$PEERS" echo-session --target "$(out_addr idlc 0)" --control "$TMP/idle-session.control" \
  --status "$TMP/idle-session.status" --interval 0.3
session=$LAST_PID
# 8 round trips 0.3 s apart span more than 2 s, twice timeouts.idle (however long a loaded
# machine takes to start the session: the deadline is generous, the spacing is the session's).
session_round_trips() { grep -c '^ok' "$TMP/idle-session.status" 2>/dev/null || true; }
session_busy() { grep -q '^error' "$TMP/idle-session.status" 2>/dev/null || (($(session_round_trips) >= 8)); }
wait_for "8 round trips of the echo session" 30 session_busy
grep -q '^error' "$TMP/idle-session.status" && fail "timeouts.idle: a connection with traffic every 0.3 s was closed: $(tail -2 "$TMP/idle-session.status")"
oks=$(session_round_trips)
touch "$TMP/idle-session.control"
wait "$session" || true
pass "timeouts.idle 1s: a connection with traffic every 0.3 s stayed open through the mTLS pair ($oks round trips, over 2 s)"
alive idl
alive idlc

# ---- SIGTERM: drain ----------------------------------------------------------------------------
exited() {  # PID: the process is gone or a zombie
  [[ ! -e /proc/$1 ]] || [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" == Z ]]
}
# drain_case CLOSE_AFTER: SIGTERM with one echo session open; the session closes CLOSE_AFTER
# seconds later ("never": it stays open). Sets DRAIN_EXIT_MS (from SIGTERM to exit).
drain_case() {
  local close_after=$1
  proxy_config drain cart cart pol/ <<EOF
inbound:
  - {port: 8082, listen: 127.0.0.1:0, forward: 127.0.0.1:$ECHO_PORT, name: echo}
workers: 2
timeouts: {drain: 3s}
EOF
  start_proxy drain "$TMP/drain.yaml"
  local pid=${PROXY_PID[drain]} addr
  addr=$(in_addr drain 0)
  rm -f "$TMP/drain.control" "$TMP/drain.status"
  bg session python3 "$PEERS" echo-session --target "$addr" --control "$TMP/drain.control" \
    --status "$TMP/drain.status" --interval 0.05
  local session=$LAST_PID
  wait_for "the echo session to run" 10 grep -q '^ok 3' "$TMP/drain.status"
  local t0
  t0=$(date +%s%N)
  kill -TERM "$pid"
  for _ in $(seq 10); do
    can_connect "${addr##*:}" || break
    sleep 0.1
  done
  can_connect "${addr##*:}" && fail "drain: still accepting 1 s after SIGTERM"
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$(admin drain)/ready" || true)
  [[ $code == 503 || $code == 000 ]] || fail "drain: /ready is $code while draining"
  local oks
  oks=$(grep -c '^ok' "$TMP/drain.status")
  sleep 1
  (($(grep -c '^ok' "$TMP/drain.status") > oks + 5)) || fail "drain: the open connection stopped working: $(tail -3 "$TMP/drain.status")"
  exited "$pid" && fail "drain: exited with a connection open before the drain timeout"
  if [[ $close_after != never ]]; then
    touch "$TMP/drain.control"
    local c0
    c0=$(date +%s%N)
    wait_for "the proxy to exit after its last connection closed" 10 exited "$pid"
    DRAIN_CLOSE_MS=$((($(date +%s%N) - c0) / 1000000))
  else
    wait_for "the proxy to exit after timeouts.drain" 15 exited "$pid"
    # The session notices the close a moment after the proxy exits: wait for its line.
    wait_for "the session to see its connection closed" 5 grep -q '^error' "$TMP/drain.status"
  fi
  DRAIN_EXIT_MS=$((($(date +%s%N) - t0) / 1000000))
  wait "$pid" || true
  wait "$session" || true
  unset 'PROXY_PID[drain]'
}
drain_case 1
((DRAIN_CLOSE_MS < 1500)) || fail "drain: exit ${DRAIN_CLOSE_MS} ms after the last connection closed"
pass "SIGTERM: stopped accepting at once, /ready 503, the open connection kept working; exited ${DRAIN_CLOSE_MS} ms after it closed (${DRAIN_EXIT_MS} ms after SIGTERM)"
drain_case never
((DRAIN_EXIT_MS >= 2800 && DRAIN_EXIT_MS <= 6500)) || fail "drain: exited ${DRAIN_EXIT_MS} ms after SIGTERM, want ~3000 (timeouts.drain 3s)"
pass "SIGTERM with a connection that stays open: exited ${DRAIN_EXIT_MS} ms after SIGTERM (timeouts.drain 3s), the connection was closed"

alive rb
alive cl
alive lim
alive ct
echo "PASS: proxy robustness"
