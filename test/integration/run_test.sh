#!/usr/bin/env bash
# `make run` (scripts/run.sh): the mesh comes up on loopback, a request crosses both proxies
# with mTLS, SIGTERM stops every process it started, and a second start reuses the CA.
# Usage: run_test.sh MUTUAL_BINARY REPO_ROOT
set -euo pipefail
mutual=$1
root=$2
tmp=$(mktemp -d)
run_pid=""
cleanup() {
  [[ -n $run_pid ]] && kill "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null
  pkill -TERM -f "$tmp/mesh/" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; cat "$tmp/out" >&2 || true; exit 1; }
command -v curl >/dev/null || { echo "SKIP: curl is needed"; exit 0; }

# Ports 8081..18080 moved by one random offset, so parallel tests rarely collide; all stay
# below the kernel's ephemeral ports (those of outgoing connections; 32768 by default).
source "$(dirname "${BASH_SOURCE[0]}")/ports_lib.sh"
offset=$((1000 + RANDOM % (EPHEMERAL_LOW - 19081)))
client_port=$((15001 + offset))

start() {
  # Emptied here, not only by the background job's redirection: the loop below must not
  # read the previous start's "The mesh is up" before that job has truncated the file.
  : > "$tmp/out"
  MUTUAL_RUN_PORT_BASE=$offset bash "$root/scripts/run.sh" "$mutual" "$tmp/mesh" > "$tmp/out" 2>&1 &
  run_pid=$!
  for _ in $(seq 300); do
    grep -q "The mesh is up" "$tmp/out" && return 0
    kill -0 "$run_pid" 2>/dev/null || fail "run.sh exited before the mesh was up"
    sleep 0.2
  done
  fail "the mesh did not come up in 60 s"
}
stop() {
  kill -TERM "$run_pid"
  wait "$run_pid" 2>/dev/null || true
  run_pid=""
  for _ in $(seq 50); do
    pgrep -f "$tmp/mesh/" >/dev/null || return 0
    sleep 0.1
  done
  fail "processes left running after SIGTERM: $(pgrep -af "$tmp/mesh/")"
}

start
grep -q "hello through mTLS" "$tmp/out" || fail "the script's own request did not get through"
body=$(curl -sS --max-time 5 "http://127.0.0.1:$client_port/") || fail "curl through the mesh"
[[ $body == "hello through mTLS, from the web workload" ]] || fail "unexpected answer: $body"
# The proxy writes its access log in batches, after the connection closed: wait for the line.
for _ in $(seq 50); do
  grep -q '"peer_principal":"spiffe://example.org/ns/demo/sa/web"' "$tmp/mesh/logs/web-access.log" \
    2>/dev/null && break
  sleep 0.2
done
grep -q '"peer_principal":"spiffe://example.org/ns/demo/sa/web"' "$tmp/mesh/logs/web-access.log" \
  || fail "the web proxy's access log has no mTLS peer"
grep -q "Empty reply\|Connection reset" "$tmp/out" || fail "plaintext to the STRICT port was not refused"
root_before=$(openssl x509 -in "$tmp/mesh/server/data/root_ca.crt" -noout -fingerprint -sha256)
stop
echo "ok: mesh up, request through both proxies, everything stopped"

start
grep -q "reusing the CA and datastore" "$tmp/out" || fail "the second start did not reuse the CA"
grep -q "join token for a new agent" "$tmp/out" && fail "the second start attested the agent again"
root_after=$(openssl x509 -in "$tmp/mesh/server/data/root_ca.crt" -noout -fingerprint -sha256)
[[ $root_before == "$root_after" ]] || fail "the root CA changed between starts"
body=$(curl -sS --max-time 5 "http://127.0.0.1:$client_port/") || fail "curl after restart"
stop
echo "ok: a second start reuses the CA and the agent's node SVID"
