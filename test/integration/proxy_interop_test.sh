#!/usr/bin/env bash
# The proxy's STRICT inbound against stock TLS clients, and a mutual pair carrying HTTP:
#   proxy_interop_test.sh MUTUAL_BINARY REPO_ROOT
# - openssl s_client with a mesh SVID and -alpn istio gets through (TLS 1.1 and CBC ciphers do
#   not, even with one); without a certificate or
#   with one from another CA it gets no application data;
# - curl with --cert/--key: the SVID has only a URI SAN, which curl cannot match against a host
#   name, so curl's own verification fails (exit 60) by design; the test then uses -k together
#   with --pinnedpubkey (the server's key must be the SVID's key) and prints the URI SAN from
#   %{certs}; without a client certificate or with a rogue one, curl gets no response;
# - Python's ssl (load_cert_chain, CERT_REQUIRED) checks getpeercert()['subjectAltName'] is
#   exactly the server's SPIFFE URI;
# - a mutual client proxy -> server proxy pair carries HTTP end to end (5 MB body intact).
# Outbound MUTUAL / SIMPLE against openssl s_server, haproxy and nginx are in proxy_modes_test.sh.
# Needs openssl, curl, jq, python3.
set -euo pipefail

MUTUAL=${1:?usage: proxy_interop_test.sh MUTUAL_BINARY REPO_ROOT}
ROOT=${2:?usage: proxy_interop_test.sh MUTUAL_BINARY REPO_ROOT}
source "$ROOT/test/integration/proxy_lib.sh"
need openssl curl jq python3

make_mesh_pki int
issue rogue spiffe://cluster.local/ns/shop/sa/web otherca
CART_ID=spiffe://cluster.local/ns/shop/sa/cart

start_http_backend
peer_authn
proxy_config server cart cart pol/ <<EOF
inbound:
  - {port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: http}
EOF
start_proxy server "$TMP/server.yaml"
STRICT=$(in_addr server 0)
wait_ready server

# ---- openssl s_client ----------------------------------------------------------------------
mark server
out=$(printf 'GET /openssl HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "$STRICT" -quiet \
  -alpn istio -cert "$TMP/web/tls.crt" -key "$TMP/web/tls.key" -CAfile "$TMP/ca/ca.crt" \
  -verify_return_error 2>"$TMP/s_client.err") || true
[[ "$out" == *"backend ok /openssl"* ]] || fail "s_client with an SVID: $out $(cat "$TMP/s_client.err")"
san=$(openssl s_client -connect "$STRICT" -alpn istio -cert "$TMP/web/tls.crt" -key "$TMP/web/tls.key" \
  -CAfile "$TMP/ca/ca.crt" </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName | tail -1 | tr -d ' ')
[[ "$san" == "URI:$CART_ID" ]] || fail "s_client: the server certificate's SAN is '$san'"
expect_log server '.peer_principal == "spiffe://cluster.local/ns/shop/sa/web" and .alpn == "istio"' "s_client"
pass "openssl s_client -alpn istio with an SVID (chain verified with -verify_return_error): HTTP through; server SAN $san; server log $(jq -c '{peer_principal, alpn, tls_version}' <<<"$LAST_LOG")"

refused_tls server "$STRICT" "openssl s_client without a certificate" no_client_certificate \
  -CAfile "$TMP/ca/ca.crt"
refused_tls server "$STRICT" "openssl s_client with a certificate from another CA" unknown_ca \
  -cert "$TMP/rogue/tls.crt" -key "$TMP/rogue/tls.key"
# TLS 1.2 at least, AEAD ciphers only: a valid SVID does not make up for either.
svid=(-cert "$TMP/web/tls.crt" -key "$TMP/web/tls.key")
refused_tls server "$STRICT" "TLS 1.1 with a valid SVID" protocol_error -tls1_1 "${svid[@]}"
refused_tls server "$STRICT" "TLS 1.2 with a CBC cipher and a valid SVID" protocol_error -tls1_2 \
  -cipher ECDHE-ECDSA-AES128-SHA256 "${svid[@]}"
cipher=$(openssl s_client -connect "$STRICT" -tls1_2 -alpn istio "${svid[@]}" -CAfile "$TMP/ca/ca.crt" \
  </dev/null 2>/dev/null | awk '/Cipher is/ {print $NF; exit}')
[[ $cipher == *GCM* || $cipher == *CHACHA20* ]] || fail "TLS 1.2 with an SVID: cipher '$cipher'"
pass "TLS 1.2 with an SVID: $cipher"

# ---- curl ------------------------------------------------------------------------------------
# The SVID names no host, so curl's hostname check cannot pass: prove that first.
rc=0
curl -sS --max-time 10 --cacert "$TMP/ca/ca.crt" --cert "$TMP/web/tls.crt" --key "$TMP/web/tls.key" \
  "https://$STRICT/" -o /dev/null 2>"$TMP/curl.err" || rc=$?
[[ $rc -eq 60 ]] || fail "curl with full verification: exit $rc, want 60 (no host name in the SVID): $(cat "$TMP/curl.err")"
pass "curl --cacert (host name check): exit 60 as expected, the SVID has only a URI SAN: $(head -1 "$TMP/curl.err")"
# -k skips the chain and host name check; --pinnedpubkey still requires the SVID's own key.
pin=$(openssl x509 -in "$TMP/cart/tls.crt" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
mark server
out=$(curl -sS --max-time 10 -k --pinnedpubkey "sha256//$pin" --cert "$TMP/web/tls.crt" --key "$TMP/web/tls.key" \
  -w '\n%{certs}' "https://$STRICT/curl") || fail "curl -k --pinnedpubkey with an SVID failed"
[[ "$(head -1 <<<"$out")" == "backend ok /curl" ]] || fail "curl: got $(head -3 <<<"$out")"
grep -q "URI:$CART_ID" <<<"$out" || fail "curl %{certs} lacks URI:$CART_ID"
expect_log server '.peer_principal == "spiffe://cluster.local/ns/shop/sa/web"' "curl"
pass "curl -k --pinnedpubkey sha256//$pin --cert --key: HTTP through (ALPN $(jq -r .alpn <<<"$LAST_LOG"): curl's h2/http1.1 offer is not answered, it speaks HTTP/1.1); %{certs} shows URI:$CART_ID"
rc=0
curl -sS --max-time 10 -k --pinnedpubkey "sha256//$(head -c 32 /dev/urandom | base64)" --cert "$TMP/web/tls.crt" \
  --key "$TMP/web/tls.key" "https://$STRICT/" -o /dev/null 2>/dev/null || rc=$?
[[ $rc -eq 90 ]] || fail "curl with a wrong pin: exit $rc, want 90"
pass "curl with a wrong --pinnedpubkey: exit 90 (so -k does not mean 'any server')"
# The server's access log must name the reason (as refused_tls does), so that a refusal for an
# unrelated reason (a protocol error, a timeout) does not pass.
for who in none rogue; do
  mark server
  args=()
  reason=no_client_certificate
  if [[ $who == rogue ]]; then
    args=(--cert "$TMP/rogue/tls.crt" --key "$TMP/rogue/tls.key")
    reason=unknown_ca
  fi
  rc=0
  out=$(curl -sS --max-time 10 -k "${args[@]}" "https://$STRICT/" 2>"$TMP/curl.err") || rc=$?
  [[ $rc -ne 0 && "$out" != *"backend ok"* ]] || fail "curl ($who): got a response: $out"
  expect_log server '.downstream_transport_failure_reason // "" | startswith("'"$reason"'")' "curl ($who)"
  pass "curl with $([[ $who == none ]] && echo 'no client certificate' || echo 'a certificate from another CA'): exit $rc ($(head -1 "$TMP/curl.err")); $(brief)"
done

# ---- Python ssl ------------------------------------------------------------------------------
out=$(python3 "$PEERS" tls-get --target "$STRICT" --ca "$TMP/ca/ca.crt" --cert "$TMP/web/tls.crt" \
  --key "$TMP/web/tls.key" --alpn istio --expect-spiffe-id "$CART_ID") || fail "Python ssl: $out"
grep -q "backend ok /" <<<"$out" || fail "Python ssl: no reply: $out"
pass "Python ssl (load_cert_chain, CERT_REQUIRED): $(head -1 <<<"$out")"
rc=0
python3 "$PEERS" tls-get --target "$STRICT" --ca "$TMP/ca/ca.crt" --cert "$TMP/web/tls.crt" \
  --key "$TMP/web/tls.key" --expect-spiffe-id spiffe://cluster.local/ns/shop/sa/other >/dev/null || rc=$?
[[ $rc -eq 3 ]] || fail "Python ssl with a wrong expected SPIFFE ID: exit $rc, want 3"
# Without a client certificate the TLS 1.3 handshake completes on the client's side and the
# server's refusal arrives at the first read: tls-get prints "read failed: ..." and exits 4.
mark server
rc=0
python3 "$PEERS" tls-get --target "$STRICT" --ca "$TMP/ca/ca.crt" >"$TMP/py.out" 2>&1 || rc=$?
! grep -q "backend ok" "$TMP/py.out" || fail "Python ssl without a client certificate got a reply: $(cat "$TMP/py.out")"
[[ $rc -eq 4 ]] && grep -q '^read failed: ' "$TMP/py.out" ||
  fail "Python ssl without a client certificate: exit $rc, want 4 with a \"read failed: \" line: $(cat "$TMP/py.out")"
expect_log server '.downstream_transport_failure_reason // "" | startswith("no_client_certificate")' \
  "Python ssl without a client certificate"
pass "Python ssl: a wrong expected ID exits 3; without a client certificate: exit 4, $(grep '^read failed: ' "$TMP/py.out" | head -1); $(brief)"

# ---- a mutual pair end to end ----------------------------------------------------------------
proxy_config client web web <<EOF
outbound:
  - {name: cart, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8080, endpoints: [$STRICT],
     identities: ["$CART_ID"]}
EOF
start_proxy client "$TMP/client.yaml"
wait_ready client
mark client
sum=$(curl -sS --max-time 20 "http://$(out_addr client 0)/bytes/5000000" | sha256sum | cut -d' ' -f1)
want=$(head -c 5000000 /dev/zero | tr '\0' x | sha256sum | cut -d' ' -f1)
[[ "$sum" == "$want" ]] || fail "pair: the 5 MB body differs"
for i in 1 2 3 4 5; do
  [[ "$(curl -sS --max-time 10 "http://$(out_addr client 0)/r$i")" == "backend ok /r$i" ]] || fail "pair: request $i"
done
expect_log client '.peer_principal == "'"$CART_ID"'" and .bytes_sent > 5000000' "pair"
resumed=$(metric client 'mutual_tls_sessions_resumed_total{direction="outbound"}')
pass "mutual pair: HTTP end to end, a 5 MB body intact, 5 more requests; $resumed of 6 outbound handshakes resumed a session; $(jq -c '{peer_principal, tls_version, alpn}' <<<"$LAST_LOG")"
alive server
alive client
echo "PASS: proxy interop"
