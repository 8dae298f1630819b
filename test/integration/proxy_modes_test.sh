#!/usr/bin/env bash
# The sidecar proxy's modes, end to end with real processes on loopback:
#   proxy_modes_test.sh MUTUAL_BINARY REPO_ROOT
# - inbound STRICT: mesh mTLS from a mutual client proxy reaches the backend; plaintext, no
#   client certificate, another CA, an expired SVID are refused with named reasons; a SPIFFE ID
#   denied by an AuthorizationPolicy never reaches the backend;
# - inbound PERMISSIVE: plaintext passes, mesh mTLS is terminated, other TLS is passed through
#   untouched to a TLS backend; DISABLE passes bytes (even a ClientHello) untouched;
# - outbound per DestinationRule: ISTIO_MUTUAL (trust domain, subjectAltNames), MUTUAL to
#   openssl s_server, haproxy and nginx requiring client certificates, SIMPLE with
#   caCertificates and SNI, insecureSkipVerify (warned on every connection), DISABLE;
# - fail closed until valid credential files appear; policy reload while running;
# - the admin API (/ready, /metrics, /certs, /config_dump, /logging) and `mutual proxy-config`.
# Needs openssl, curl, jq, python3; haproxy and nginx cases are skipped (with a note) without them.
set -euo pipefail

MUTUAL=${1:?usage: proxy_modes_test.sh MUTUAL_BINARY REPO_ROOT}
ROOT=${2:?usage: proxy_modes_test.sh MUTUAL_BINARY REPO_ROOT}
source "$ROOT/test/integration/proxy_lib.sh"
need openssl curl jq python3
HAVE_HAPROXY=$(command -v haproxy || true)
HAVE_NGINX=$(command -v nginx || true)

# ---- PKI ------------------------------------------------------------------------------------
make_mesh_pki int  # cart, the server, sends a chain of leaf + intermediate; web is the client
issue evil spiffe://cluster.local/ns/evil/sa/intruder ca   # valid, but denied by policy
issue rogue spiffe://cluster.local/ns/shop/sa/web otherca  # the right name from the wrong CA
issue expired spiffe://cluster.local/ns/shop/sa/web ca --ttl 1s
EXPIRED_AT=$SECONDS
# A certificate of another trust domain signed by our own root: chains, but is not ours.
openssl_leaf foreign "$TMP/ca/ca.crt" "$TMP/ca/ca.key" /O=foreign URI:spiffe://other.org/ns/x/sa/y 1
# An external PKI (not SPIFFE) for DestinationRule SIMPLE/MUTUAL peers, as in interop.md.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/eca.key" \
  -out "$TMP/eca.pem" -days 30 -subj "/O=Ext/CN=Ext Root" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
for who in server client; do
  openssl_leaf "$who" "$TMP/eca.pem" "$TMP/eca.key" "/O=Ext/CN=$who" DNS:localhost,IP:127.0.0.1 7
  cat "$TMP/$who.pem" "$TMP/$who.key" >"$TMP/$who-combined.pem"
done
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/selfsigned.key" \
  -out "$TMP/selfsigned.pem" -days 7 -subj "/CN=selfsigned" -addext "subjectAltName=DNS:localhost" 2>/dev/null
pass "PKI: root, intermediate, other CA, expired, foreign trust domain, external CA"

# ---- backends -------------------------------------------------------------------------------
start_http_backend
start_echo_backend

# s_server NAME PORT args...: openssl s_server -www on PORT.
s_server() {
  local name=$1 port=$2
  shift 2
  bg "$name" openssl s_server -accept "127.0.0.1:$port" -www -quiet "$@"
  wait_port "$port"
}
SS_SIMPLE=$(free_port)
s_server ss-simple "$SS_SIMPLE" -cert "$TMP/server.pem" -key "$TMP/server.key"
SS_MUTUAL=$(free_port)
s_server ss-mutual "$SS_MUTUAL" -cert "$TMP/server.pem" -key "$TMP/server.key" -CAfile "$TMP/eca.pem" \
  -Verify 1 -verify_return_error
SS_FOREIGN=$(free_port)
s_server ss-foreign "$SS_FOREIGN" -cert "$TMP/foreign.pem" -key "$TMP/foreign.key"
SS_SELF=$(free_port)
s_server ss-self "$SS_SELF" -cert "$TMP/selfsigned.pem" -key "$TMP/selfsigned.key"

HAPROXY_PORT=$(free_port)
if [[ -n "$HAVE_HAPROXY" ]]; then
  cat >"$TMP/haproxy.cfg" <<EOF
global
  maxconn 100
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend mtls_in
  bind 127.0.0.1:$HAPROXY_PORT ssl crt $TMP/server-combined.pem ca-file $TMP/eca.pem verify required ssl-min-ver TLSv1.2
  http-request return status 200 content-type text/plain lf-string "haproxy verify=%[ssl_c_verify] dn=%[ssl_c_s_dn]\n"
EOF
  bg haproxy haproxy -db -f "$TMP/haproxy.cfg"
  wait_port "$HAPROXY_PORT"
fi
NGINX_PORT=$(free_port)
if [[ -n "$HAVE_NGINX" ]]; then
  mkdir -p "$TMP/nginx"
  cat >"$TMP/nginx/nginx.conf" <<EOF
master_process off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $TMP/server.pem;
    ssl_certificate_key $TMP/server.key;
    ssl_client_certificate $TMP/eca.pem;
    ssl_verify_client on;
    location / { return 200 "nginx verify=\$ssl_client_verify dn=\$ssl_client_s_dn\n"; }
  }
}
EOF
  bg nginx nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" -g 'daemon off;'
  wait_port "$NGINX_PORT"
fi
pass "backends: http, echo, 4 x openssl s_server${HAVE_HAPROXY:+, haproxy}${HAVE_NGINX:+, nginx}"

# ---- the server proxy (workload cart) ---------------------------------------------------------
peer_authn cart 8081=PERMISSIVE 8082=DISABLE 8083=PERMISSIVE 8084=DISABLE 8085=DISABLE
cat >"$TMP/pol/authz.yaml" <<EOF
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-evil, namespace: shop}
spec:
  action: DENY
  rules:
    - from: [{source: {namespaces: ["evil"]}}]
---
# Ports 8084 and 8085 admit by the client's address only: from 10.0.0.0/8 (so not from this
# loopback client), and when source.ip is 127.0.0.1. Every other port admits everyone.
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-by-address, namespace: shop}
spec:
  rules:
    - to: [{operation: {notPorts: ["8084", "8085"]}}]
    - from: [{source: {ipBlocks: ["10.0.0.0/8"]}}]
      to: [{operation: {ports: ["8084"]}}]
    - to: [{operation: {ports: ["8085"]}}]
      when: [{key: source.ip, values: ["127.0.0.1"]}]
EOF
proxy_config server cart cart pol/ <<EOF
inbound:
  - {port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: strict-http}
  - {port: 8081, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: permissive-http}
  - {port: 8082, listen: 127.0.0.1:0, forward: 127.0.0.1:$ECHO_PORT, name: disable-echo}
  - {port: 8083, listen: 127.0.0.1:0, forward: 127.0.0.1:$SS_SIMPLE, name: permissive-tls-app}
  - {port: 8084, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: allow-10-net}
  - {port: 8085, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: allow-when-loopback}
workers: 2
EOF
start_proxy server "$TMP/server.yaml"
STRICT=$(in_addr server 0)
PERM=$(in_addr server 1)
DISABLE=$(in_addr server 2)
PERM_TLS=$(in_addr server 3)
ALLOW_10=$(in_addr server 4)
ALLOW_WHEN=$(in_addr server 5)

# ---- the client proxy (workload web) ----------------------------------------------------------
ext_mutual="{mode: MUTUAL, clientCertificate: $TMP/client.pem, privateKey: $TMP/client.key,"
ext_mutual+=" caCertificates: $TMP/eca.pem, sni: localhost}"
{
  destination_rule san-ok cart-san-ok.shop.svc.cluster.local \
    '{mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/shop/sa/cart"]}'
  destination_rule san-bad cart-san-bad.shop.svc.cluster.local \
    '{mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/shop/sa/nobody"]}'
  destination_rule bank bank.example.com "$ext_mutual"
  destination_rule haproxy haproxy.example.com "$ext_mutual"
  destination_rule nginx nginx.example.com "$ext_mutual"
  destination_rule simple simple.example.com "{mode: SIMPLE, caCertificates: $TMP/eca.pem, sni: localhost}"
  destination_rule wrong-sni wrong-sni.example.com \
    "{mode: SIMPLE, caCertificates: $TMP/eca.pem, sni: not-the-server.example}"
  destination_rule insecure insecure.example.com '{mode: SIMPLE, insecureSkipVerify: true, sni: localhost}'
  destination_rule plain plain.example.com '{mode: DISABLE}'
  destination_rule crl-revoked crl-revoked.example.com \
    "{mode: SIMPLE, caCertificates: $TMP/eca.pem, caCrl: $TMP/revoked.crl, sni: localhost}"
  destination_rule crl-clean crl-clean.example.com \
    "{mode: SIMPLE, caCertificates: $TMP/eca.pem, caCrl: $TMP/clean.crl, sni: localhost}"
  destination_rule late-files late.example.com \
    "{mode: MUTUAL, clientCertificate: $TMP/late/client.pem, privateKey: $TMP/late/client.key, caCertificates: $TMP/eca.pem, sni: localhost}"
  destination_rule san-dns cart-san-dns.shop.svc.cluster.local \
    '{mode: ISTIO_MUTUAL, subjectAltNames: ["cart.shop.example"]}'
  destination_rule san-mixed cart-san-mixed.shop.svc.cluster.local \
    '{mode: ISTIO_MUTUAL, subjectAltNames: ["cart.shop.example", "spiffe://cluster.local/ns/shop/sa/cart"]}'
} >"$TMP/pol-client.yaml"
# caCrl: one CRL of the external root revoking the s_server certificate, one revoking nothing.
python3 - "$TMP" <<'PY'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
d = sys.argv[1]
ca = x509.load_pem_x509_certificate(open(f"{d}/eca.pem", "rb").read())
key = serialization.load_pem_private_key(open(f"{d}/eca.key", "rb").read(), None)
served = x509.load_pem_x509_certificate(open(f"{d}/server.pem", "rb").read())
now = datetime.datetime.now(datetime.timezone.utc)
for name, revoked in (("revoked", [served.serial_number]), ("clean", [])):
    b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
         .last_update(now - datetime.timedelta(minutes=5)).next_update(now + datetime.timedelta(days=1)))
    for serial in revoked:
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                      .revocation_date(now - datetime.timedelta(minutes=5)).build())
    crl = b.sign(key, hashes.SHA256())
    open(f"{d}/{name}.crl", "wb").write(crl.public_bytes(serialization.Encoding.PEM))
PY
proxy_config client web web pol-client.yaml <<EOF
outbound:
  - {name: auto-strict, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8080, endpoints: [$STRICT]}
  - {name: auto-permissive, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8081, endpoints: [$PERM]}
  - {name: san-ok, listen: 127.0.0.1:0, destination: cart-san-ok.shop.svc.cluster.local:8080, endpoints: [$STRICT]}
  - {name: san-bad, listen: 127.0.0.1:0, destination: cart-san-bad.shop.svc.cluster.local:8080, endpoints: [$STRICT]}
  - {name: foreign-td, listen: 127.0.0.1:0, destination: foreign.shop.svc.cluster.local:9443, endpoints: [127.0.0.1:$SS_FOREIGN]}
  - {name: mutual-openssl, listen: 127.0.0.1:0, destination: bank.example.com:443, endpoints: [127.0.0.1:$SS_MUTUAL]}
  - {name: mutual-haproxy, listen: 127.0.0.1:0, destination: haproxy.example.com:443, endpoints: [127.0.0.1:$HAPROXY_PORT]}
  - {name: mutual-nginx, listen: 127.0.0.1:0, destination: nginx.example.com:443, endpoints: [127.0.0.1:$NGINX_PORT]}
  - {name: simple, listen: 127.0.0.1:0, destination: simple.example.com:443, endpoints: [127.0.0.1:$SS_SIMPLE]}
  - {name: wrong-sni, listen: 127.0.0.1:0, destination: wrong-sni.example.com:443, endpoints: [127.0.0.1:$SS_SIMPLE]}
  - {name: insecure, listen: 127.0.0.1:0, destination: insecure.example.com:443, endpoints: [127.0.0.1:$SS_SELF]}
  - {name: plain, listen: 127.0.0.1:0, destination: plain.example.com:80, endpoints: [127.0.0.1:$HTTP_PORT]}
  - {name: san-dns, listen: 127.0.0.1:0, destination: cart-san-dns.shop.svc.cluster.local:8080, endpoints: [$STRICT]}
  - {name: san-mixed, listen: 127.0.0.1:0, destination: cart-san-mixed.shop.svc.cluster.local:8080, endpoints: [$STRICT]}
  - {name: crl-revoked, listen: 127.0.0.1:0, destination: crl-revoked.example.com:443, endpoints: [127.0.0.1:$SS_SIMPLE]}
  - {name: crl-clean, listen: 127.0.0.1:0, destination: crl-clean.example.com:443, endpoints: [127.0.0.1:$SS_SIMPLE]}
  - {name: late-files, listen: 127.0.0.1:0, destination: late.example.com:443, endpoints: [127.0.0.1:$SS_MUTUAL]}
workers: 1
EOF
start_proxy client "$TMP/client.yaml"
wait_ready server client
pass "proxies up: server inbound ${PROXY_IN[server]}; client outbound ${PROXY_OUT[client]}"
# With file credentials a proxy never loads the control-plane module (src/app/README.md).
control_libs='mutual-control\.so|libgrpc|libprotobuf|libpq|libsqlite3'
if grep -qE "$control_libs" "/proc/${PROXY_PID[server]}/maps"; then
  fail "the file-credentials proxy mapped: $(grep -oE "[^/ ]*($control_libs)[^ ]*" \
    "/proc/${PROXY_PID[server]}/maps" | sort -u | tr '\n' ' ')"
fi
pass "a file-credentials proxy maps none of the control plane's libraries"

# curl_out I [PATH]: an HTTP GET through the client proxy's I-th outbound listener.
curl_out() { curl -sS --max-time 10 "http://$(out_addr client "$1")${2:-/}"; }

# ---- inbound STRICT ---------------------------------------------------------------------------
mark server
mark client
out=$(curl_out 0 /strict) || fail "STRICT via the client proxy: curl failed"
[[ "$out" == "backend ok /strict" ]] || fail "STRICT via the client proxy: got '$out'"
expect_log server '.downstream_local_address == "'"$STRICT"'" and .peer_principal == "spiffe://cluster.local/ns/shop/sa/web" and .authz_decision == "allow" and .tls_version != null' "STRICT mTLS (server log)"
expect_log client '.peer_principal == "spiffe://cluster.local/ns/shop/sa/cart" and .alpn == "istio-peer-exchange"' "STRICT mTLS (client log)"
pass "STRICT: mesh mTLS from the client proxy reaches the backend: $(jq -c '{peer_principal, requested_server_name, alpn, tls_version}' <<<"$LAST_LOG")"

mark server
plain=$(curl -sS --max-time 5 "http://$STRICT/" 2>&1) && rc=0 || rc=$?
[[ $rc -ne 0 && "$plain" != *"backend ok"* ]] || fail "STRICT accepted plaintext: $plain"
expect_log server '.downstream_transport_failure_reason // "" | startswith("plaintext_under_strict")' "STRICT plaintext"
pass "STRICT refuses plaintext (curl exit $rc): $(brief)"

refused_tls server "$STRICT" "a TLS client without a certificate" no_client_certificate -CAfile "$TMP/ca/ca.crt"
refused_tls server "$STRICT" "a certificate from another CA" unknown_ca -cert "$TMP/rogue/tls.crt" -key "$TMP/rogue/tls.key"
while ((SECONDS - EXPIRED_AT < 2)); do sleep 0.2; done
openssl x509 -checkend 0 -noout -in "$TMP/expired/tls.crt" >/dev/null && fail "the 1s SVID is not expired yet"
refused_tls server "$STRICT" "an expired SVID" expired -cert "$TMP/expired/tls.crt" -key "$TMP/expired/tls.key"

mark server
before=$(conns)
got=$(sclient "$STRICT" -alpn istio -cert "$TMP/evil/tls.crt" -key "$TMP/evil/tls.key")
[[ "$got" != *"backend ok"* ]] || fail "STRICT: a denied SPIFFE ID got data: $got"
expect_log server '.peer_principal == "spiffe://cluster.local/ns/evil/sa/intruder" and .authz_decision == "deny"' "authz deny"
[[ "$(jq -r .upstream_host <<<"$LAST_LOG")" == null ]] || fail "authz deny: an upstream was dialled: $LAST_LOG"
sleep 0.3
[[ $(conns) -eq $before ]] || fail "authz deny: the backend saw a connection"
pass "STRICT + AuthorizationPolicy DENY: mTLS completes, then closed before any upstream: $(jq -c '{peer_principal, authz_decision, authz_rule, connection_termination_details, upstream_host}' <<<"$LAST_LOG")"

# ALLOW by address: ipBlocks and a `when` on source.ip are evaluated (not assumed to hold).
before=$(conns)
mark server
got=$(curl -sS --max-time 5 "http://$ALLOW_10/ten-net" 2>&1) &&
  fail "ALLOW ipBlocks 10.0.0.0/8: a client from 127.0.0.1 got through: $got"
expect_log server '.downstream_local_address == "'"$ALLOW_10"'" and .authz_decision == "deny"' "ALLOW ipBlocks"
[[ $(conns) -eq $before ]] || fail "ALLOW ipBlocks 10.0.0.0/8: the backend saw a connection"
pass "AuthorizationPolicy ALLOW ipBlocks 10.0.0.0/8: a loopback client is denied: $(jq -c '{authz_rule, authz_reason}' <<<"$LAST_LOG")"
out=$(curl -sS --max-time 5 "http://$ALLOW_WHEN/when") || fail "ALLOW when source.ip 127.0.0.1: curl failed"
[[ "$out" == "backend ok /when" ]] || fail "ALLOW when source.ip 127.0.0.1: got '$out'"
pass "AuthorizationPolicy ALLOW when source.ip 127.0.0.1: admitted"

# ---- inbound PERMISSIVE and DISABLE -----------------------------------------------------------
mark server
out=$(curl -sS --max-time 10 "http://$PERM/permissive-plain") || fail "PERMISSIVE plaintext: curl failed"
[[ "$out" == "backend ok /permissive-plain" ]] || fail "PERMISSIVE plaintext: got '$out'"
expect_log server '.downstream_local_address == "'"$PERM"'" and .tls_version == null and .upstream_host != null' "PERMISSIVE plaintext"
pass "PERMISSIVE: plaintext HTTP passes"

mark server
out=$(curl_out 1 /permissive-mesh) || fail "PERMISSIVE mesh: curl failed"
[[ "$out" == "backend ok /permissive-mesh" ]] || fail "PERMISSIVE mesh: got '$out'"
expect_log server '.downstream_local_address == "'"$PERM"'" and .peer_principal == "spiffe://cluster.local/ns/shop/sa/web"' "PERMISSIVE mesh mTLS"
pass "PERMISSIVE: mesh mTLS (ALPN istio-peer-exchange) is terminated: $(jq -c '{peer_principal, alpn}' <<<"$LAST_LOG")"

mark server
got=$(sclient "$PERM_TLS" -CAfile "$TMP/eca.pem" -verify_return_error -servername localhost)
grep -q 'Ciphers supported in s_server binary' <<<"$got" || fail "PERMISSIVE non-mesh TLS: no s_server page: $got $(cat "$TMP/sclient.err")"
subject=$(openssl s_client -connect "$PERM_TLS" -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -subject)
[[ "$subject" == *"CN = server"* ]] || fail "PERMISSIVE non-mesh TLS: the client saw $subject, not the backend's certificate"
expect_log server '.downstream_local_address == "'"$PERM_TLS"'" and .tls_version == null and .peer_principal == null and .bytes_received > 0' "PERMISSIVE passthrough"
pass "PERMISSIVE: non-mesh TLS passed through untouched (client verified the backend's own cert: $subject)"

mark server
out=$(python3 "$PEERS" echo-check --target "$DISABLE" --tls-prefix --bytes 200000) || fail "DISABLE: $out"
expect_log server '.downstream_local_address == "'"$DISABLE"'" and .tls_version == null and .bytes_received > 200000' "DISABLE"
pass "DISABLE: bytes (a mesh ClientHello first) pass untouched: $out"

# ---- outbound DestinationRule modes ------------------------------------------------------------
out=$(curl_out 2 /san-ok) || fail "ISTIO_MUTUAL subjectAltNames match: curl failed"
[[ "$out" == "backend ok /san-ok" ]] || fail "ISTIO_MUTUAL subjectAltNames match: got '$out'"
pass "ISTIO_MUTUAL with matching subjectAltNames"

# refused_out I WHAT REASON: the I-th outbound listener must fail with REASON (client log, UF).
refused_out() {
  local i=$1 what=$2 reason=$3
  mark client
  local got
  got=$(curl_out "$i" 2>&1) || true
  [[ "$got" != *"backend ok"* && "$got" != *"Ciphers supported"* ]] || fail "$what: data came back: $got"
  expect_log client '.upstream_transport_failure_reason // "" | startswith("'"$reason"'")' "$what"
  [[ "$(jq -r .response_flags <<<"$LAST_LOG")" == UF ]] || fail "$what: response_flags is not UF: $LAST_LOG"
  pass "$what: $(brief)"
}
before=$(conns)
refused_out 3 "ISTIO_MUTUAL with subjectAltNames naming another ID" spiffe_id_not_allowed
refused_out 4 "ISTIO_MUTUAL to a server of another trust domain (signed by our root)" spiffe_id_not_allowed
# A DNS name among subjectAltNames is matched against the server's SANs, not dropped (which
# would admit any server of the trust domain): the cart SVID has no such name.
refused_out 12 "ISTIO_MUTUAL with a DNS subjectAltName the server does not carry" spiffe_id_not_allowed
[[ $(conns) -eq $before ]] || fail "a refused ISTIO_MUTUAL connection reached the backend"
out=$(curl_out 13 /san-mixed) || fail "ISTIO_MUTUAL, a DNS name and the server's SPIFFE ID: curl failed"
[[ "$out" == "backend ok /san-mixed" ]] || fail "ISTIO_MUTUAL, a DNS name and the server's ID: got '$out'"
pass "ISTIO_MUTUAL with a DNS name and the server's SPIFFE ID among subjectAltNames: admitted by the ID"

# caCrl: the server's certificate revoked by the CRL fails the handshake; a CRL without it passes.
refused_out 14 "SIMPLE with caCrl revoking the server's certificate" verify_failed
out=$(curl_out 15) || fail "SIMPLE with a clean caCrl: curl failed"
grep -q 'Ciphers supported in s_server binary' <<<"$out" ||
  fail "SIMPLE with a clean caCrl: got $(head -c 300 <<<"$out")"
pass "SIMPLE with a caCrl that does not revoke the server: connected"

out=$(curl_out 5) || fail "MUTUAL to openssl s_server: curl failed"
grep -q 'Subject: O = Ext, CN = client\|Subject: O=Ext, CN=client' <<<"$out" ||
  fail "MUTUAL to openssl s_server -Verify 1: the server did not see our client certificate: $(head -c 600 <<<"$out")"
pass "MUTUAL to openssl s_server -Verify 1 -verify_return_error: it verified 'O=Ext, CN=client'"

# Files a DestinationRule names are watched with the policies: MUTUAL whose client certificate
# does not exist yet fails, and works once the files appear, with no change to any manifest.
refused_out 16 "MUTUAL whose client certificate file does not exist yet" tls_config_error
mkdir -p "$TMP/late" && cp "$TMP/client.pem" "$TMP/client.key" "$TMP/late/"
wait_for "MUTUAL once its client certificate files appear" 5 \
  sh -c "curl -s --max-time 3 http://$(out_addr client 16)/ | grep -q 'CN = client\|CN=client'"
pass "MUTUAL picks up the client certificate files it names once they appear"
if [[ -n "$HAVE_HAPROXY" ]]; then
  out=$(curl_out 6) || fail "MUTUAL to haproxy: curl failed"
  [[ "$out" == "haproxy verify=0 dn=/O=Ext/CN=client" ]] || fail "MUTUAL to haproxy: got '$out'"
  pass "MUTUAL to haproxy (verify required): $out"
else
  echo "SKIP: MUTUAL to haproxy: haproxy is not installed"
fi
if [[ -n "$HAVE_NGINX" ]]; then
  out=$(curl_out 7) || fail "MUTUAL to nginx: curl failed"
  [[ "$out" == "nginx verify=SUCCESS dn=CN=client,O=Ext" ]] || fail "MUTUAL to nginx: got '$out'"
  pass "MUTUAL to nginx (ssl_verify_client on): $out"
else
  echo "SKIP: MUTUAL to nginx: nginx is not installed"
fi
mark client
out=$(curl_out 8) || fail "SIMPLE: curl failed"
grep -q 'Ciphers supported in s_server binary' <<<"$out" || fail "SIMPLE to openssl s_server: got $(head -c 300 <<<"$out")"
expect_log client '.requested_server_name == "localhost" and .tls_version != null' "SIMPLE"
pass "SIMPLE with caCertificates and SNI localhost: $(jq -c '{requested_server_name, tls_version}' <<<"$LAST_LOG")"
refused_out 9 "SIMPLE whose SNI does not match the server certificate" spiffe_id_not_allowed

before=$(grep -c 'insecureSkipVerify' "$TMP/client.out" || true)
for _ in 1 2 3; do
  out=$(curl_out 10) || fail "SIMPLE insecureSkipVerify: curl failed"
  grep -q 'Ciphers supported in s_server binary' <<<"$out" || fail "insecureSkipVerify: got $(head -c 300 <<<"$out")"
done
after=$(grep -c 'insecureSkipVerify' "$TMP/client.out" || true)
[[ $((after - before)) -eq 3 ]] || fail "insecureSkipVerify: want 3 warnings for 3 connections, got $((after - before))"
pass "SIMPLE insecureSkipVerify to a self-signed server: works, warned on each of 3 connections: $(grep 'insecureSkipVerify' "$TMP/client.out" | tail -1 | cut -c1-160)"

mark client
out=$(curl_out 11 /plain) || fail "DestinationRule DISABLE: curl failed"
[[ "$out" == "backend ok /plain" ]] || fail "DestinationRule DISABLE: got '$out'"
expect_log client '.upstream_host == "127.0.0.1:'"$HTTP_PORT"'" and .tls_version == null' "DR DISABLE"
pass "DestinationRule DISABLE: plaintext to the endpoint"
alive server
alive client

# ---- fail closed until valid credentials appear --------------------------------------------------
mkdir -p "$TMP/fc"
proxy_config fc cart fc pol/ <<EOF
inbound:
  - {port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: strict-http}
outbound:
  - {name: to-cart, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8080, endpoints: [$STRICT]}
workers: 1
EOF
start_proxy fc "$TMP/fc.yaml"
code=$(curl -s -o "$TMP/ready.body" -w '%{http_code}' "http://$(admin fc)/ready")
[[ $code == 503 ]] || fail "fail closed: /ready is $code without certificate files"
pass "no credential files: /ready 503: $(cat "$TMP/ready.body")"
mark fc
got=$(sclient "$(in_addr fc 0)" -alpn istio -cert "$TMP/web/tls.crt" -key "$TMP/web/tls.key")
[[ "$got" != *"backend ok"* ]] || fail "fail closed: data came back without a certificate loaded"
expect_log fc '.downstream_transport_failure_reason // "" | startswith("no_certificate_loaded")' "fail closed inbound"
pass "no credentials: STRICT handshake fails: $(brief)"
mark fc
got=$(curl -sS --max-time 5 "http://$(out_addr fc 0)/" 2>&1) || true
[[ "$got" != *"backend ok"* ]] || fail "fail closed outbound: data came back"
expect_log fc '.upstream_transport_failure_reason // "" | startswith("no_certificate_loaded")' "fail closed outbound"
pass "no credentials: ISTIO_MUTUAL outbound fails: $(brief)"

# Garbage files (written atomically): still not ready, and /certs says why.
echo "not a certificate" >"$TMP/fc/tls.crt.new"
echo "not a key" >"$TMP/fc/tls.key.new"
cp "$TMP/cart/ca.crt" "$TMP/fc/ca.crt.new"
mv "$TMP/fc/ca.crt.new" "$TMP/fc/ca.crt"
mv "$TMP/fc/tls.key.new" "$TMP/fc/tls.key"
mv "$TMP/fc/tls.crt.new" "$TMP/fc/tls.crt"
wait_for "/certs last_error after garbage files" 5 \
  sh -c "curl -sf http://$(admin fc)/certs | jq -e '.last_error != \"\" and .identity == null'"
code=$(curl -s -o "$TMP/ready.body" -w '%{http_code}' "http://$(admin fc)/ready")
[[ $code == 503 ]] || fail "fail closed: /ready is $code with garbage certificate files"
pass "garbage credential files: /ready 503: $(cat "$TMP/ready.body")"

# Valid files by atomic rename: ready within two seconds.
install_svid cart fc
start_ns=$(date +%s%N)
wait_for "fc ready after valid files" 5 curl -sf "http://$(admin fc)/ready"
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
((ready_ms <= 2000)) || fail "fail closed: ready only after ${ready_ms} ms"
out=$(curl -sS --max-time 10 "http://$(out_addr fc 0)/after-files") || fail "after valid files: outbound failed"
[[ "$out" == "backend ok /after-files" ]] || fail "after valid files: got '$out'"
got=$(sclient "$(in_addr fc 0)" -alpn istio -cert "$TMP/web/tls.crt" -key "$TMP/web/tls.key")
[[ "$got" == *"backend ok"* ]] || fail "after valid files: STRICT inbound still refuses: $got"
pass "valid files renamed into place: ready after ${ready_ms} ms; inbound and outbound mTLS work"

# ---- policy reload ----------------------------------------------------------------------------
out=$(curl -sS --max-time 5 "http://$PERM/before-reload") || fail "before reload: plaintext to 8081 failed"
peer_authn cart 8081=STRICT 8082=DISABLE 8083=PERMISSIVE 8084=DISABLE 8085=DISABLE
reload_start=$SECONDS
wait_for "port 8081 STRICT after the reload" 5 sh -c "! curl -sf --max-time 2 http://$PERM/after-reload"
mark server
curl -sS --max-time 5 "http://$PERM/after-reload" >/dev/null 2>&1 || true
expect_log server '.downstream_local_address == "'"$PERM"'" and (.downstream_transport_failure_reason // "" | startswith("plaintext_under_strict"))' "after reload"
out=$(curl_out 1 /mesh-after-reload) || fail "after reload: mesh mTLS to 8081 failed"
curl -sf "http://$(admin server)/config_dump" | jq -e '.snapshot.inbound[] | select(.port == 8081) | .mode == "STRICT"' >/dev/null ||
  fail "after reload: /config_dump does not show 8081 STRICT"
pass "PeerAuthentication PERMISSIVE -> STRICT on disk: plaintext refused within $((SECONDS - reload_start))s, mesh still served"

# A broken manifest next to the good ones: the proxy keeps the policies it has and says why.
printf 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: broken, namespace: shop}\nspec: {mtls: {mode: SOMETIMES}}\n' >"$TMP/pol-bad.tmp"
mv "$TMP/pol-bad.tmp" "$TMP/pol/broken.yaml"
wait_for "/config_dump policies.last_error after a broken manifest" 5 \
  sh -c "curl -sf http://$(admin server)/config_dump | jq -e '.policies.last_error != \"\"'"
policy_error=$(curl -sf "http://$(admin server)/config_dump" | jq -r .policies.last_error)
mark server
curl -sf --max-time 5 "http://$PERM/still-strict" >/dev/null && fail "a broken manifest reset port 8081 to PERMISSIVE"
expect_log server '.downstream_local_address == "'"$PERM"'" and (.downstream_transport_failure_reason // "" | startswith("plaintext_under_strict"))' \
  "plaintext to 8081 with a broken manifest"
# last_error is set before the warning is logged: wait for the line.
wait_for "a log line for the refused policy set" 5 grep -q 'policies: keeping the previous set' "$TMP/server.out"
rm "$TMP/pol/broken.yaml"
wait_for "policies.last_error cleared" 5 \
  sh -c "curl -sf http://$(admin server)/config_dump | jq -e '.policies.last_error == \"\"'"
pass "a broken manifest is refused, the previous policies stay (8081 still STRICT): $policy_error"

# ---- admin API and proxy-config ---------------------------------------------------------------
metrics=$(curl -sf "http://$(admin server)/metrics") || fail "/metrics"
for want in 'mutual_tcp_connections_opened_total{direction="inbound",listener="strict-http"}' \
  'mutual_tls_handshakes_total{direction="inbound",result="success"' \
  'mutual_tls_handshakes_total{direction="inbound",result="failure",reason="plaintext_under_strict"}' \
  'mutual_tls_handshakes_total{direction="inbound",result="failure",reason="unknown_ca"}' \
  'mutual_tls_handshakes_total{direction="inbound",result="failure",reason="expired"}' \
  'mutual_tls_handshakes_total{direction="inbound",result="failure",reason="no_cert"}' \
  'mutual_authz_decisions_total{decision="deny"' \
  'connection_security_policy="mutual_tls",tls="no_identity",no_tls_reason="unknown_ca"' \
  'connection_security_policy="none",tls="no_identity",no_tls_reason="plaintext_under_strict"' \
  'connection_security_policy="none",tls="opaque",no_tls_reason="not_mesh_tls"' \
  'connection_security_policy="none",tls="disabled",no_tls_reason="disabled"' \
  'mutual_svid_expiration_timestamp_seconds{spiffe_id="spiffe://cluster.local/ns/shop/sa/cart"}' \
  'mutual_proxy_ready 1'; do
  grep -qF "$want" <<<"$metrics" || fail "/metrics lacks $want"
done
grep -qF 'reason="spiffe_id_not_allowed"' <<<"$(curl -sf "http://$(admin client)/metrics")" ||
  fail "client /metrics lacks the spiffe_id_not_allowed handshake failures"
expiry=$(grep -F 'mutual_svid_expiration_timestamp_seconds{' <<<"$metrics" | awk '{print $NF}')
want_expiry=$(date -d "$(openssl x509 -enddate -noout -in "$TMP/cart/tls.crt" | cut -d= -f2)" +%s)
[[ "$expiry" == "$want_expiry" ]] || fail "/metrics SVID expiry $expiry, certificate says $want_expiry"
pass "/metrics: connections, handshakes by reason, authz, SVID expiry ($expiry)"

certs=$(curl -sf "http://$(admin server)/certs") || fail "/certs"
want_serial=$(openssl x509 -serial -noout -in "$TMP/cart/tls.crt" | cut -d= -f2 | tr 'A-F' 'a-f')
jq -e --arg s "$want_serial" '.identity == "spiffe://cluster.local/ns/shop/sa/cart" and (.serial | ascii_downcase) == $s
  and (.chain | length) == 2 and .chain[1].subject != .chain[0].subject
  and (.bundles[0].trust_domain == "cluster.local") and (.bundles[0].roots | length) == 1 and .last_error == ""' \
  <<<"$certs" >/dev/null || fail "/certs: $certs"
pass "/certs: identity, serial $want_serial, chain of 2 (leaf + intermediate), bundle"
curl -sf "http://$(admin server)/config_dump" | jq -e '.config and (.snapshot.inbound | length) == 6 and
  ([.snapshot.inbound[].mode] == ["STRICT", "STRICT", "DISABLE", "PERMISSIVE", "DISABLE", "DISABLE"])' >/dev/null ||
  fail "/config_dump: $(curl -s "http://$(admin server)/config_dump" | head -c 800)"
curl -sf "http://$(admin client)/config_dump" | jq -e '[.snapshot.outbound[].tls_mode] |
  . == ["ISTIO_MUTUAL","ISTIO_MUTUAL","ISTIO_MUTUAL","ISTIO_MUTUAL","ISTIO_MUTUAL","MUTUAL","MUTUAL","MUTUAL","SIMPLE","SIMPLE","SIMPLE","DISABLE","ISTIO_MUTUAL","ISTIO_MUTUAL","SIMPLE","SIMPLE","MUTUAL"]' \
  >/dev/null || fail "client /config_dump outbound modes: $(curl -s "http://$(admin client)/config_dump" | jq -c '[.snapshot.outbound[].tls_mode]')"
curl -sf "http://$(admin client)/config_dump" | jq -e '.snapshot.outbound[12] |
  .allowed_ids == [] and .expected_sans == ["cart.shop.example"]' >/dev/null ||
  fail "client /config_dump: the DNS subjectAltName: $(curl -s "http://$(admin client)/config_dump" | jq -c '.snapshot.outbound[12]')"
pass "/config_dump: effective inbound modes and outbound TLS modes"

"$MUTUAL" proxy-config secret --admin "$(admin server)" >"$TMP/secret.txt" || fail "proxy-config secret"
grep -Eq '^RESOURCE NAME +IDENTITY' "$TMP/secret.txt" || fail "proxy-config secret header: $(cat "$TMP/secret.txt")"
grep -Eq "^default +spiffe://cluster.local/ns/shop/sa/cart +Cert Chain +ACTIVE +$want_serial" "$TMP/secret.txt" ||
  fail "proxy-config secret: no default row with serial $want_serial: $(cat "$TMP/secret.txt")"
grep -Eq '^ROOTCA +cluster.local +CA +ACTIVE' "$TMP/secret.txt" || fail "proxy-config secret: no ROOTCA row"
"$MUTUAL" proxy-config secret --admin "$(admin server)" -o json | jq -e '.identity == "spiffe://cluster.local/ns/shop/sa/cart"' >/dev/null ||
  fail "proxy-config secret -o json"
"$MUTUAL" proxy-config edges --admin "$(admin server)" >"$TMP/edges.txt" || fail "proxy-config edges"
grep -Eq '^DIRECTION +LISTENER +PEER' "$TMP/edges.txt" || fail "edges header: $(cat "$TMP/edges.txt")"
grep -Eq '^inbound +strict-http +spiffe://cluster.local/ns/shop/sa/web .*√' "$TMP/edges.txt" ||
  fail "edges: no secured row for the web client: $(cat "$TMP/edges.txt")"
"$MUTUAL" proxy-config edges --admin "$(admin server)" -o json |
  jq -e 'any(.[]; .peer_identity == "spiffe://cluster.local/ns/evil/sa/intruder" and .failures >= 1 and .last_failure == "authz_denied")' >/dev/null ||
  fail "edges -o json: no failed row for the denied identity"
"$MUTUAL" proxy-config secret --admin 127.0.0.1:1 >/dev/null 2>"$TMP/pc.err" && rc=0 || rc=$?
[[ $rc -ne 0 ]] || fail "proxy-config secret against a closed port exited 0"
pass "proxy-config secret and edges, table and -o json; unreachable admin: exit $rc: $(head -1 "$TMP/pc.err")"
echo "---- proxy-config secret"; cat "$TMP/secret.txt"
echo "---- proxy-config edges"; cat "$TMP/edges.txt"

resp=$(curl -sf -X POST "http://$(admin server)/logging?level=debug") || fail "POST /logging?level=debug"
jq -e '.level == "debug"' <<<"$resp" >/dev/null || fail "POST /logging: $resp"
curl -sf "http://$(admin server)/logging" | jq -e '.level == "debug"' >/dev/null || fail "GET /logging after POST"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$(admin server)/logging?level=loud")
[[ $code == 400 ]] || fail "POST /logging?level=loud: HTTP $code, want 400"
curl -sf -X POST "http://$(admin server)/logging?level=info" >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$(admin server)/logging?level=debug")
[[ $code == 405 ]] || fail "GET /logging?level=debug: HTTP $code, want 405 (a GET changes nothing)"
curl -sf "http://$(admin server)/logging" | jq -e '.level == "info"' >/dev/null ||
  fail "GET /logging?level=debug changed the level"
pass "/logging: POST level=debug applied, a bad level is 400, a GET with a level is 405"

# ---- a second proxy on the ports of a running one ----------------------------------------------
# Its listeners would join the running proxy's (SO_REUSEPORT) and take part of its traffic.
for clash in inbound admin; do
  if [[ $clash == inbound ]]; then
    proxy_config dup cart cart pol/ <<EOF
inbound: [{port: 8080, listen: $STRICT, forward: 127.0.0.1:$HTTP_PORT}]
EOF
    taken=$STRICT
  else
    proxy_config dup cart cart pol/ <<EOF
inbound: [{port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT}]
EOF
    sed -i "s/^admin: .*/admin: $(admin server)/" "$TMP/dup.yaml"
    taken=$(admin server)
  fi
  rc=0
  out=$(cd "$TMP" && timeout 10 "$MUTUAL" proxy run -c "$TMP/dup.yaml" 2>&1) || rc=$?
  [[ $rc -ne 0 && $rc -ne 124 ]] || fail "a second proxy on the $clash address $taken started (rc $rc): $out"
  [[ $out == *"$taken"* && $out == *"in use"* ]] || fail "second proxy on $taken: unclear error: $out"
  pass "a second proxy on the running one's $clash address is refused: $(grep -m1 "in use" <<<"$out")"
done

# ---- an SVID that expires with nothing to replace it: not ready (fail closed) -------------------
issue short spiffe://cluster.local/ns/shop/sa/cart ca --ttl 6s
proxy_config exp cart short pol/ <<EOF
inbound: [{port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT}]
EOF
start_proxy exp "$TMP/exp.yaml"
wait_ready exp
wait_for "an expired SVID makes the proxy not ready" 12 \
  sh -c "curl -s http://$(admin exp)/ready | grep -q 'not ready: the SVID expired at'"
pass "an SVID that expired unreplaced: $(curl -s "http://$(admin exp)/ready")"

# ---- proxy validate: what would stop the proxy, or leave a listener unable to carry traffic --
# validate_is WANT_RC WHAT CONFIG WANT_STDERR: `mutual proxy validate` exits WANT_RC, its stderr
# holding WANT_STDERR.
validate_is() {
  local want=$1 what=$2 config=$3 message=$4 rc=0
  "$MUTUAL" proxy validate -c "$config" >"$TMP/v.out" 2>"$TMP/v.err" || rc=$?
  [[ $rc -eq $want ]] || fail "proxy validate, $what: exit $rc, want $want: $(cat "$TMP/v.err")"
  grep -qF -- "$message" "$TMP/v.err" || fail "proxy validate, $what: stderr lacks '$message': $(cat "$TMP/v.err")"
  pass "proxy validate, $what: exit $rc, $(tail -1 "$TMP/v.err")"
}
mkdir -p "$TMP/vpol"
destination_rule gone gone.example.com "{mode: SIMPLE, caCertificates: $TMP/no-such-ca.pem}" \
  >"$TMP/vpol/dr.yaml"
proxy_config vdr web web vpol/ <<EOF
outbound:
  - {name: gone, listen: 127.0.0.1:0, destination: gone.example.com:443, endpoints: [127.0.0.1:9]}
EOF
validate_is 2 "a DestinationRule naming a missing CA file" "$TMP/vdr.yaml" \
  "mutual: outbound gone: DestinationRule shop/gone: $TMP/no-such-ca.pem"
proxy_config vlog web web <<EOF
outbound:
  - {listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8080, endpoints: [127.0.0.1:9]}
EOF
sed -i "s|^access_log: .*|access_log: $TMP/no-such-dir/a.log|" "$TMP/vlog.yaml"
line=$(grep -n '^access_log:' "$TMP/vlog.yaml" | cut -d: -f1)
validate_is 2 "an access log in a missing folder" "$TMP/vlog.yaml" \
  "mutual: $TMP/vlog.yaml:$line: access_log: access log $TMP/no-such-dir/a.log: No such file or directory"
[[ ! -e "$TMP/no-such-dir" ]] || fail "proxy validate created the access log's folder"
rc=0
"$MUTUAL" proxy run -c "$TMP/vlog.yaml" 2>"$TMP/v.err" || rc=$?
[[ $rc -eq 2 ]] && grep -qF "$TMP/vlog.yaml:$line: access_log: access log" "$TMP/v.err" ||
  fail "proxy run with an unwritable access log: exit $rc, $(cat "$TMP/v.err")"
pass "proxy run with an unwritable access log: exit 2, naming the file and line"
proxy_config vsa cart web <<EOF
inbound:
  - {port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:9}
EOF
validate_is 0 "web's SVID for the cart workload" "$TMP/vsa.yaml" \
  "warning: credentials: the SVID is spiffe://cluster.local/ns/shop/sa/web, the workload's identity would be spiffe://cluster.local/ns/shop/sa/cart"
grep -q ": OK (1 inbound" "$TMP/v.out" || fail "proxy validate vsa: no OK line: $(cat "$TMP/v.out")"

alive server
alive client
alive fc
echo "PASS: proxy modes"
