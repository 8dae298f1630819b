#!/usr/bin/env bash
# The SPIFFE Workload API end to end, with real processes:
#   workloadapi_test.sh MUTUAL_BINARY REPO_ROOT
# - workloadapi_test_server (a TEST FIXTURE built beside `mutual`: our WorkloadApiServer over a
#   fake identity provider that issues from a `mutual ca init` CA and rotates on SIGUSR1);
# - an independent client written from the spec in Python (test/interop/workload_client.py:
#   grpc_tools compiles proto/spiffe/workload.proto at run time; cryptography and PyJWT check
#   what comes back): X.509 fetch, a rotation on the open stream, the header refusal, JWT;
# - `mutual agent api fetch x509 --write` checked with openssl; `fetch jwt`, `validate jwt`,
#   `watch`, SPIFFE_ENDPOINT_SOCKET, errors;
# - a proxy with credentials.workload_api: not ready while no agent answers, ready once the test
#   server is up, serving mTLS (HTTP through a mutual proxy pair), following a rotation.
# Needs openssl, curl, jq and /usr/bin/python3 with grpc, grpc_tools, cryptography and jwt.
set -euo pipefail

MUTUAL=${1:?usage: workloadapi_test.sh MUTUAL_BINARY REPO_ROOT}
ROOT=${2:?usage: workloadapi_test.sh MUTUAL_BINARY REPO_ROOT}
source "$ROOT/test/integration/proxy_lib.sh"
need openssl curl jq
SERVER_BIN="$(dirname "$MUTUAL")/workloadapi_test_server"
[[ -x "$SERVER_BIN" ]] || fail "$SERVER_BIN is missing: build the workloadapi_test_server target"
PY=/usr/bin/python3
"$PY" -c 'import grpc, grpc_tools, cryptography, jwt' 2>/dev/null ||
  skip "$PY lacks grpc, grpc_tools, cryptography or jwt (python3-grpcio python3-grpc-tools python3-cryptography python3-jwt)"

CART_ID=spiffe://cluster.local/ns/shop/sa/cart
WEB_ID=spiffe://cluster.local/ns/shop/sa/web

# start_wl NAME SOCKET: the test server on SOCKET; WL_PID is its pid.
start_wl() {
  local name=$1 socket=$2
  bg "$name" "$SERVER_BIN" --socket "$socket" --ca "$TMP/ca" --spiffe-id "$CART_ID" --ttl 1h --hint cart
  WL_PID=$LAST_PID
  wait_for "$name to serve" 15 grep -q '^serving ' "$TMP/$name.out"
}
# rotations NAME: how many rotations test server NAME has printed.
rotations() { grep -c '^rotated ' "$TMP/$1.out" || true; }
# serial NAME: the serial of test server NAME's current SVID.
serial() { grep -Eo '(serving .*|rotated [0-9]+) serial [0-9a-f]+' "$TMP/$1.out" | tail -1 | awk '{print $NF}'; }

# Runs a command, recording stdout, stderr and the exit code in RC (never aborts the script:
# the failure is inside a condition, so proxy_lib's ERR trap stays quiet).
run() {
  RC=0
  "$@" >"$TMP/cmd.out" 2>"$TMP/cmd.err" || RC=$?
}
show() { echo "--- stdout"; cat "$TMP/cmd.out"; echo "--- stderr"; cat "$TMP/cmd.err"; }

make_pki
issue web "$WEB_ID" ca
SOCK="$TMP/agent/public/api.sock"
start_wl wl "$SOCK"
[[ "$(stat -c %a "$SOCK")" == 777 ]] || fail "socket mode $(stat -c %a "$SOCK"), want 777"
pass "test server up on $SOCK (mode 777, directory created)"

# ---- an independent client (Python, from the spec) -------------------------------------------
run "$PY" "$ROOT/test/interop/workload_client.py" --proto-root "$ROOT/proto" --socket "$SOCK" \
  --spiffe-id "$CART_ID" --rotate-pid "$WL_PID"
[[ $RC -eq 0 ]] || { show; fail "the Python Workload API client failed"; }
sed 's/^/  python /' "$TMP/cmd.out"
# The server prints its "rotated" line after pushing the new SVID to the streams.
wait_for "test server wl to print its rotation" 10 grep -q '^rotated ' "$TMP/wl.out"
[[ "$(rotations wl)" -eq 1 ]] || fail "the server did not rotate once"
pass "independent Python client: header refusal, X.509, rotation on the open stream, bundles, JWT"

# ---- mutual agent api ... ---------------------------------------------------------------------
run "$MUTUAL" agent api fetch x509 --socket "unix://$SOCK" --write "$TMP/svid"
[[ $RC -eq 0 ]] || { show; fail "mutual agent api fetch x509 --write"; }
grep -q "$CART_ID" "$TMP/cmd.out" || { show; fail "fetch x509 does not print the SPIFFE ID"; }
for f in svid.0.pem svid.0.key bundle.0.pem; do
  [[ -s "$TMP/svid/$f" ]] || fail "--write did not write $f"
done
[[ "$(stat -c %a "$TMP/svid/svid.0.key")" == 600 ]] || fail "svid.0.key mode $(stat -c %a "$TMP/svid/svid.0.key"), want 600"
openssl x509 -in "$TMP/svid/svid.0.pem" -noout -ext subjectAltName | grep -q "URI:$CART_ID" ||
  fail "openssl: svid.0.pem has no URI SAN $CART_ID"
want_serial=$(serial wl | sed 's/^0*//')
got_serial=$(openssl x509 -in "$TMP/svid/svid.0.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
[[ "$got_serial" == "$want_serial" ]] || fail "svid.0.pem serial $got_serial, the server's is $want_serial"
openssl verify -x509_strict -CAfile "$TMP/svid/bundle.0.pem" "$TMP/svid/svid.0.pem" >/dev/null ||
  fail "openssl verify: svid.0.pem does not chain to bundle.0.pem"
cmp -s <(openssl pkey -in "$TMP/svid/svid.0.key" -pubout) <(openssl x509 -in "$TMP/svid/svid.0.pem" -noout -pubkey) ||
  fail "svid.0.key does not match svid.0.pem"
cmp -s <(openssl x509 -in "$TMP/svid/bundle.0.pem") <(openssl x509 -in "$TMP/ca/ca.crt") ||
  fail "bundle.0.pem is not the CA"
pass "fetch x509 --write: svid.0.pem (serial $got_serial, URI SAN, verifies against bundle.0.pem), svid.0.key (0600, matches), bundle.0.pem"

run env SPIFFE_ENDPOINT_SOCKET="unix://$SOCK" "$MUTUAL" agent api fetch x509 -o json
[[ $RC -eq 0 ]] || { show; fail "fetch x509 -o json with SPIFFE_ENDPOINT_SOCKET"; }
[[ "$(jq -r '.svids[0].spiffe_id' "$TMP/cmd.out")" == "$CART_ID" ]] || { show; fail "fetch x509 -o json: spiffe_id"; }
[[ "$(jq -r '.svids[0].hint' "$TMP/cmd.out")" == cart ]] || { show; fail "fetch x509 -o json: hint"; }
pass "fetch x509 -o json via SPIFFE_ENDPOINT_SOCKET"

run "$MUTUAL" agent api fetch jwt --socket "$SOCK" --audience db
[[ $RC -eq 0 ]] || { show; fail "fetch jwt"; }
grep -q "^token($CART_ID):" "$TMP/cmd.out" || { show; fail "fetch jwt: no token line"; }
TOKEN=$(sed -n '2p' "$TMP/cmd.out" | tr -d '\t')
run "$MUTUAL" agent api validate jwt --socket "$SOCK" --audience db --svid "$TOKEN"
[[ $RC -eq 0 ]] && grep -q "SPIFFE ID : $CART_ID" "$TMP/cmd.out" || { show; fail "validate jwt"; }
run "$MUTUAL" agent api validate jwt --socket "$SOCK" --audience other --svid "$TOKEN"
[[ $RC -eq 1 ]] || { show; fail "validate jwt for the wrong audience: exit $RC, want 1"; }
grep -qF 'mutual: SVID is not valid: JWT-SVID: expected audience in [other], the token has [db]' "$TMP/cmd.err" ||
  { show; fail "validate jwt for the wrong audience: not refused for the audience"; }
pass "fetch jwt, validate jwt (and a wrong audience refused)"

run "$MUTUAL" agent api fetch x509 --socket "$TMP/nobody.sock" --timeout 2s
[[ $RC -eq 1 ]] && grep -q '^mutual: ' "$TMP/cmd.err" || { show; fail "fetch from a missing socket: exit $RC, want 1"; }
run env -u SPIFFE_ENDPOINT_SOCKET "$MUTUAL" agent api fetch x509
[[ $RC -eq 2 ]] && grep -q SPIFFE_ENDPOINT_SOCKET "$TMP/cmd.err" || { show; fail "no address: exit $RC, want 2"; }
pass "errors: missing socket (exit 1), no address (exit 2)"

bg watch "$MUTUAL" agent api watch --socket "$SOCK" --count 2
WATCH_PID=$LAST_PID
wait_for "watch to print its first update" 10 grep -q ' update 1: ' "$TMP/watch.out"
kill -USR1 "$WL_PID"
wait_for "watch to exit after 2 updates" 10 bash -c "! kill -0 $WATCH_PID 2>/dev/null"
s1=$(grep ' update 1: ' "$TMP/watch.out" | grep -o 'serial [0-9a-f]*')
s2=$(grep ' update 2: ' "$TMP/watch.out" | grep -o 'serial [0-9a-f]*')
[[ -n "$s2" && "$s1" != "$s2" ]] || fail "watch: $(cat "$TMP/watch.out")"
pass "watch: one line per update ($s1 -> $s2)"

# ---- a proxy with credentials.workload_api ----------------------------------------------------
start_peer http http
HTTP_PORT=$PEER_PORT
SOCK2="$TMP/agent2/api.sock"
cat >"$TMP/cart.yaml" <<EOF
version: 1
workload: {namespace: shop, name: cart, service_account: cart, labels: {app: cart}}
trust_domain: cluster.local
credentials:
  workload_api: {socket: unix://$SOCK2}
inbound:
  - {port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: http}
admin: 127.0.0.1:0
access_log: cart.access.log
workers: 1
EOF
start_proxy cart "$TMP/cart.yaml"
code=$(curl -sS -o "$TMP/ready.body" -w '%{http_code}' "http://$(admin cart)/ready") ||
  fail "/ready did not answer: $code"
[[ $code == 503 && "$(head -1 "$TMP/ready.body")" == "not ready: no SVID loaded yet"* ]] ||
  fail "/ready without an SVID: HTTP $code, body '$(cat "$TMP/ready.body")'; want 503 \"not ready: no SVID loaded yet...\""
pass "proxy with credentials.workload_api starts not ready while no agent answers: $(cat "$TMP/ready.body")"

start_wl wl2 "$SOCK2"
WL2_PID=$WL_PID
wait_for "proxy cart ready" 20 curl -sf "http://$(admin cart)/ready"
certs=$(curl -sf "http://$(admin cart)/certs")
[[ "$(jq -r .identity <<<"$certs")" == "$CART_ID" ]] || fail "/certs identity: $certs"
[[ "$(jq -r .serial <<<"$certs")" == "$(serial wl2)" ]] || fail "/certs serial $(jq -r .serial <<<"$certs"), the agent's is $(serial wl2)"
[[ "$(jq -r .source <<<"$certs")" == "workload_api unix://$SOCK2" ]] || fail "/certs source: $certs"
pass "proxy ready once the Workload API answers: $(jq -c '{identity, serial, source}' <<<"$certs")"

cat >"$TMP/web.yaml" <<EOF
version: 1
workload: {namespace: shop, name: web, service_account: web, labels: {app: web}}
trust_domain: cluster.local
credentials:
  files: {cert: web/tls.crt, key: web/tls.key, bundle: web/ca.crt}
outbound:
  - {name: cart, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8080, endpoints: [$(in_addr cart 0)]}
admin: 127.0.0.1:0
access_log: web.access.log
workers: 1
EOF
start_proxy web "$TMP/web.yaml"
wait_for "proxy web ready" 10 curl -sf "http://$(admin web)/ready"
mark cart
mark web
out=$(curl -sS --max-time 10 "http://$(out_addr web 0)/hello") || fail "HTTP through the proxy pair failed"
[[ "$out" == "backend ok /hello" ]] || fail "HTTP through the proxy pair: got '$out'"
expect_log cart '.peer_principal == "'"$WEB_ID"'" and .tls_version != null' "mTLS at the cart proxy"
expect_log web '.peer_principal == "'"$CART_ID"'"' "mTLS at the web proxy"
pass "HTTP through web -> cart over mTLS; the cart proxy's SVID came from the Workload API"

old=$(serial wl2)
kill -USR1 "$WL2_PID"
wait_for "the rotated serial in /certs" 10 bash -c "curl -sf http://$(admin cart)/certs | jq -e '.serial != \"$old\"'"
new=$(curl -sf "http://$(admin cart)/certs" | jq -r .serial)
wait_for "test server wl2 to print its rotation" 10 grep -q '^rotated ' "$TMP/wl2.out"
[[ "$new" == "$(serial wl2)" ]] || fail "/certs serial $new after rotation, the agent's is $(serial wl2)"
mark web
out=$(curl -sS --max-time 10 "http://$(out_addr web 0)/again") || fail "HTTP after rotation failed"
[[ "$out" == "backend ok /again" ]] || fail "HTTP after rotation: got '$out'"
pass "rotation: the proxy follows the Workload API ($old -> $new) and keeps serving"

echo "PASS: workloadapi_test"
