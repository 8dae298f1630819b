#!/usr/bin/env bash
# Certificate rotation under load, without a dropped connection:
#   proxy_rotation_test.sh MUTUAL_BINARY REPO_ROOT
# A client proxy -> server proxy (STRICT) pair carries many short HTTP requests on new
# connections and one long-lived streaming connection, while both proxies' SVIDs are re-issued
# every second (key and certificate written to new files, then renamed over tls.key and tls.crt).
# Asserts: no failed request, no failed handshake, the long-lived connection survived, /certs
# shows new serials, the rotation metric rose. Then invalid files, one at a time (a garbage or an
# empty tls.crt, a garbage tls.key, a valid key of another certificate, a garbage ca.crt, the root
# of another CA as ca.crt): the proxy keeps serving with the last good credentials, /certs reports
# last_error and the failure metric rises. Last, SVIDs that expire with nothing to replace them:
# both proxies fail closed, and recover with valid ones.
# Needs curl, jq, python3, openssl.
set -euo pipefail

MUTUAL=${1:?usage: proxy_rotation_test.sh MUTUAL_BINARY REPO_ROOT}
ROOT=${2:?usage: proxy_rotation_test.sh MUTUAL_BINARY REPO_ROOT}
source "$ROOT/test/integration/proxy_lib.sh"
need curl jq python3 openssl

ROTATE_SECONDS=${ROTATE_SECONDS:-10}

make_mesh_pki ca

start_http_backend
start_echo_backend

peer_authn
proxy_config server cart cart pol/ <<EOF
inbound:
  - {port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: http}
  - {port: 9000, listen: 127.0.0.1:0, forward: 127.0.0.1:$ECHO_PORT, name: stream}
workers: 2
EOF
start_proxy server "$TMP/server.yaml"
proxy_config client web web <<EOF
outbound:
  - {name: http, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8080, endpoints: [$(in_addr server 0)]}
  - {name: stream, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:9000, endpoints: [$(in_addr server 1)]}
workers: 2
EOF
start_proxy client "$TMP/client.yaml"
wait_ready server client

serial() { curl -sf "http://$(admin "$1")/certs" | jq -r .serial; }
rotations() { metric "$1" 'mutual_svid_rotations_total{result="success"}'; }
SERVER_SERIAL0=$(serial server)
CLIENT_SERIAL0=$(serial client)
SERVER_ROT0=$(rotations server)
CLIENT_ROT0=$(rotations client)
out=$(curl -sS --max-time 10 "http://$(out_addr client 0)/") || fail "first request through the pair failed"
[[ "$out" == "backend ok /" ]] || fail "first request: got '$out'"
pass "pair up: server serial $SERVER_SERIAL0, client serial $CLIENT_SERIAL0"

# Fresh SVIDs for every second of the run, issued up front (in parallel) so that the loop below
# really renames a new key and certificate into place every second on a loaded machine.
mkdir -p "$TMP/issued"
issuers=()
for n in $(seq 1 "$ROTATE_SECONDS"); do
  for who in cart web; do
    "$MUTUAL" cert issue --ca "$TMP/ca" --spiffe-id "spiffe://cluster.local/ns/shop/sa/$who" \
      --out "$TMP/issued/$who-$n" >/dev/null &
    issuers+=($!)
  done
done
for pid in "${issuers[@]}"; do wait "$pid" || fail "re-issuing SVIDs for the rotation"; done

# rotate DIR N: the N-th new key and certificate, renamed over the proxy's files (install_svid:
# a proxy that reads the new key before the certificate keeps its current credentials and
# retries on its next poll).
rotate() { install_svid "issued/$1-$2" "$1"; }

mark server
mark client
bg load python3 -u "$PEERS" load --target "$(out_addr client 0)" --stream "$(out_addr client 1)" \
  --threads 4 --seconds $((ROTATE_SECONDS + 2))
LOAD_PID=$LAST_PID
sleep 1
for n in $(seq 1 "$ROTATE_SECONDS"); do
  rotate cart "$n"
  rotate web "$n"
  sleep 1
done
LAST_CART_SERIAL=$(openssl x509 -serial -noout -in "$TMP/cart/tls.crt" | cut -d= -f2 | tr 'A-F' 'a-f')
rc=0
wait "$LOAD_PID" || rc=$?
cat "$TMP/load.out"
[[ $rc -eq 0 ]] || fail "load during rotation: $(cat "$TMP/load.out")"
requests=$(sed -n 's/^requests ok=\([0-9]*\).*/\1/p' "$TMP/load.out")
stream_bytes=$(sed -n 's/^stream bytes=\([0-9]*\).*/\1/p' "$TMP/load.out")
pass "$n rotations of both SVIDs in ${ROTATE_SECONDS}s under load: $requests requests, 0 failed; the long-lived connection carried $stream_bytes bytes each way and closed cleanly"

# A connection's access-log line is written (in batches) after it closes: wait for the lines
# of every connection of the load (one per request, and the long-lived one) on both sides.
all_logged() {  # NAME STREAM_LISTENER
  log_match "$1" '.downstream_local_address == "'"$2"'"' && (($(new_lines "$1" | wc -l) > requests))
}
wait_for "the server's access-log lines of the load" 10 all_logged server "$(in_addr server 1)"
wait_for "the client's access-log lines of the load" 10 all_logged client "$(out_addr client 1)"
for p in server client; do
  failed=$(new_lines $p | jq -c 'select(.downstream_transport_failure_reason != null or .upstream_transport_failure_reason != null or .response_flags != null)')
  [[ -z "$failed" ]] || fail "$p: connections failed during rotation: $(head -3 <<<"$failed")"
done
long=$(new_lines server | jq -c 'select(.downstream_local_address == "'"$(in_addr server 1)"'")')
[[ $(wc -l <<<"$long") -eq 1 ]] || fail "want exactly one long-lived connection on the stream listener, got: $long"
jq -e '.duration >= '"$((ROTATE_SECONDS * 1000))" <<<"$long" >/dev/null ||
  fail "the long-lived connection did not span the rotations: $long"
handshakes=$(new_lines server | wc -l)
pass "access logs: $handshakes inbound connections, none failed; the long-lived one lasted $(jq .duration <<<"$long") ms"

wait_for "server /certs shows the last issued serial" 5 \
  sh -c "curl -sf http://$(admin server)/certs | jq -e '.serial == \"$LAST_CART_SERIAL\"'"
SERVER_SERIAL1=$(serial server)
CLIENT_SERIAL1=$(serial client)
[[ "$SERVER_SERIAL1" != "$SERVER_SERIAL0" ]] || fail "server serial unchanged"
[[ "$CLIENT_SERIAL1" != "$CLIENT_SERIAL0" ]] || fail "client serial unchanged"
SERVER_ROT1=$(rotations server)
CLIENT_ROT1=$(rotations client)
((SERVER_ROT1 - SERVER_ROT0 >= n - 1)) || fail "server rotations metric rose by $((SERVER_ROT1 - SERVER_ROT0)) for $n re-issues"
((CLIENT_ROT1 - CLIENT_ROT0 >= n - 1)) || fail "client rotations metric rose by $((CLIENT_ROT1 - CLIENT_ROT0)) for $n re-issues"
mark client
out=$(curl -sS --max-time 10 "http://$(out_addr client 0)/") || fail "request after the rotations failed"
expect_log client '.peer_cert_serial == "'"$SERVER_SERIAL1"'"' "a new connection sees the server's new certificate"
fp=$(openssl x509 -in "$TMP/cart/tls.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f')
expect_log client '.peer_cert_fingerprint_sha256 == "'"$fp"'"' \
  "peer_cert_fingerprint_sha256 in Envoy's form (lowercase hex, no colons)"
peer_serial=$SERVER_SERIAL1
pass "/certs: server serial $SERVER_SERIAL0 -> $SERVER_SERIAL1, client $CLIENT_SERIAL0 -> $CLIENT_SERIAL1; mutual_svid_rotations_total{result=\"success\"} server $SERVER_ROT0 -> $SERVER_ROT1, client $CLIENT_ROT0 -> $CLIENT_ROT1; a new connection sees server serial $peer_serial"

# ---- invalid credential files: keep serving with the last good credentials -------------------
# Each case renames a bad version of one of the server's files over the good one (the way a
# rotating issuer writes: FILE.new, then rename). The proxy must refuse it and keep everything it
# had: /certs shows the same SVID, chain and bundle, with last_error naming the problem; /ready
# stays 200; the failure metric rises; new connections through the pair still work, the client
# seeing the last good server certificate. Then the good file is renamed back, and the case ends
# once the proxy has loaded it again (last_error empty), so that no case hides the next one.
certs() { curl -sf "http://$(admin server)/certs"; }
failures() { metric server 'mutual_svid_rotations_total{result="failure"}'; }
GOOD_CERTS=$(certs | jq -c 'del(.last_error, .rotations)')
mkdir -p "$TMP/good" "$TMP/bad"
cp "$TMP/cart/tls.crt" "$TMP/cart/tls.key" "$TMP/cart/ca.crt" "$TMP/good/"
echo "garbage" >"$TMP/bad/garbage"
: >"$TMP/bad/empty"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/bad/other.key" 2>/dev/null ||
  fail "openssl genpkey: a P-256 key"
cp "$TMP/otherca/ca.crt" "$TMP/bad/otherca.crt"

# put SOURCE FILE: SOURCE renamed over the server's FILE (tls.crt, tls.key or ca.crt).
put() {
  cp "$1" "$TMP/cart/$2.new"
  mv "$TMP/cart/$2.new" "$TMP/cart/$2"
}
good_loaded() {
  certs | jq -e --arg s "$SERVER_SERIAL1" '.last_error == "" and .serial == $s'
}
refusing() { certs | jq -e '.last_error != ""'; }
# refused WHAT FILE BAD_SOURCE WANT: the case above, WANT a substring of last_error.
refused() {
  local what=$1 file=$2 source=$3 want=$4
  local fail0 fail1 now err
  wait_for "server /certs: the good files loaded, last_error empty" 10 good_loaded
  fail0=$(failures)
  put "$source" "$file"
  wait_for "server /certs last_error after $what" 10 refusing
  now=$(certs)
  err=$(jq -r .last_error <<<"$now")
  [[ "$err" == *"$want"* ]] || fail "$what: last_error does not say '$want': $err"
  jq -e --arg s "$SERVER_SERIAL1" '.serial == $s and .identity == "spiffe://cluster.local/ns/shop/sa/cart"' <<<"$now" >/dev/null ||
    fail "after $what the credentials changed: $now"
  [[ "$(jq -c 'del(.last_error, .rotations)' <<<"$now")" == "$GOOD_CERTS" ]] ||
    fail "after $what /certs differs from the last good credentials: $now"
  curl -sf "http://$(admin server)/ready" >/dev/null || fail "after $what the proxy is not ready"
  fail1=$(failures)
  ((fail1 > fail0)) || fail "$what: rotation failures metric did not rise ($fail0 -> $fail1)"
  mark server
  mark client
  python3 "$PEERS" load --target "$(out_addr client 0)" --threads 2 --seconds 0.5 >"$TMP/load2.out" ||
    fail "requests after $what: $(cat "$TMP/load2.out")"
  expect_log server '.peer_principal == "spiffe://cluster.local/ns/shop/sa/web"' "serving after $what" 10
  expect_log client '.peer_cert_serial == "'"$SERVER_SERIAL1"'"' "the client sees the last good certificate after $what" 10
  alive server
  pass "$what: still serving with serial $SERVER_SERIAL1 ($(head -1 "$TMP/load2.out")); failures $fail0 -> $fail1; /certs last_error: $err"
  put "$TMP/good/$file" "$file"
  wait_for "server reloads the good $file after $what" 10 good_loaded
}
refused "a garbage tls.crt" tls.crt "$TMP/bad/garbage" "cart/tls.crt: no PEM certificate found"
refused "a garbage tls.key" tls.key "$TMP/bad/garbage" "cart/tls.key: no PEM private key found"
refused "a P-256 tls.key of another certificate" tls.key "$TMP/bad/other.key" \
  "cart/tls.key: does not match the certificate in $TMP/cart/tls.crt"
refused "a garbage ca.crt" ca.crt "$TMP/bad/garbage" "cart/ca.crt: no PEM certificate found"
refused "the ca.crt of another CA" ca.crt "$TMP/bad/otherca.crt" \
  "cart/tls.crt (checked against $TMP/cart/ca.crt): the certificate is not a valid SVID"
refused "an empty tls.crt" tls.crt "$TMP/bad/empty" "cart/tls.crt: no PEM certificate found"

# ---- SVIDs that expire with nothing to replace them: fail closed, then recover ----------------
# Both proxies load SVIDs that expire 6 s after issue. Once they have, neither presents its SVID:
# /ready 503 and /certs "expired", inbound mTLS refused and ISTIO_MUTUAL outbound UF, both
# no_certificate_loaded naming the expiry. Valid SVIDs bring both back.
issue cart-short spiffe://cluster.local/ns/shop/sa/cart ca --ttl 6s
issue web-short spiffe://cluster.local/ns/shop/sa/web ca --ttl 6s
short_serial=$(openssl x509 -serial -noout -in "$TMP/cart-short/tls.crt" | cut -d= -f2 | tr 'A-F' 'a-f')
expires=$(date -d "$(openssl x509 -enddate -noout -in "$TMP/cart-short/tls.crt" | cut -d= -f2)" +%s)
install_svid cart-short cart
install_svid web-short web
wait_for "server loads the short-lived SVID" 5 \
  sh -c "curl -sf http://$(admin server)/certs | jq -e '.serial == \"$short_serial\"'"
curl -sf --max-time 5 "http://$(out_addr client 0)/" >/dev/null ||
  fail "a request before the short-lived SVIDs expire"
sleep $((expires - $(date +%s) + 1))
wait_for "server /certs says expired" 2 sh -c "curl -sf http://$(admin server)/certs | jq -e .expired"
for p in server client; do
  body=$(curl -s "http://$(admin $p)/ready")
  [[ "$body" == "not ready: the SVID expired at "* ]] || fail "$p /ready after expiry: $body"
done
mark client
curl -sf --max-time 5 "http://$(out_addr client 0)/" >/dev/null &&
  fail "a request went through the client proxy with its SVID expired"
expect_log client '.response_flags == "UF" and (.upstream_transport_failure_reason // "" | startswith("no_certificate_loaded: the SVID expired at"))' \
  "ISTIO_MUTUAL outbound with the SVID expired"
refused_tls server "$(in_addr server 0)" "with its own SVID expired" \
  "no_certificate_loaded: the SVID expired at" \
  -cert "$TMP/issued/web-1/tls.crt" -key "$TMP/issued/web-1/tls.key"
install_svid "issued/cart-$ROTATE_SECONDS" cart
install_svid "issued/web-$ROTATE_SECONDS" web
wait_ready server client
out=$(curl -sS --max-time 10 "http://$(out_addr client 0)/") || fail "request after valid SVIDs returned"
[[ "$out" == "backend ok /" ]] || fail "request after valid SVIDs returned: got '$out'"
pass "expired SVIDs: both proxies failed closed (/ready 503, UF outbound, no_certificate_loaded inbound) and recovered with valid ones"
alive server
alive client
echo "PASS: proxy rotation"
