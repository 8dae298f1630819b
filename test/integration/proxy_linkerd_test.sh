#!/usr/bin/env bash
# Linkerd authorization in the sidecar proxy, end to end with real processes on loopback:
#   proxy_linkerd_test.sh MUTUAL_BINARY REPO_ROOT
# - a Linkerd Server on the inbound port with an AuthorizationPolicy requiring a
#   MeshTLSAuthentication of identity A (Linkerd's name for it): a mutual client proxy with
#   identity A reaches the backend; one with identity B is denied after the handshake, the
#   backend sees no connection and the access log names the Server; plaintext is denied too;
#   a port no Server selects keeps Linkerd's default (all-unauthenticated);
# - removing the Server (a policy reload) admits B;
# - a ServerAuthorization admitting unauthenticated clients from networks (with an exception)
#   decides by source address;
# - /config_dump shows the Server, its authorizations and the Linkerd object counts;
# - default inbound policies on the port without a Server, from the cluster default of a
#   linkerd-config ConfigMap (deny: B and plaintext refused, no backend connection, the access
#   log naming the policy and the reason; all-authenticated: B admitted, plaintext refused) and
#   the Namespace annotation (cluster-unauthenticated refuses 127.0.0.1 while 127.0.0.0/8 is
#   outside the cluster networks, admits it once inside);
# - a Server with accessPolicy all-authenticated admits B, whom no authorization names, and
#   refuses plaintext; a ServerAuthorization without networks admits the cluster networks only;
# - a workload annotation in proxy.yaml (audit) wins over the Namespace's and lets plaintext in
#   with the audit in authz_reason; an unknown value stops the proxy at start with file:line.
# Needs curl, jq, python3.
set -euo pipefail

MUTUAL=${1:?usage: proxy_linkerd_test.sh MUTUAL_BINARY REPO_ROOT}
ROOT=${2:?usage: proxy_linkerd_test.sh MUTUAL_BINARY REPO_ROOT}
source "$ROOT/test/integration/proxy_lib.sh"
need curl jq python3

A=spiffe://cluster.local/ns/shop/sa/web
B=spiffe://cluster.local/ns/shop/sa/other

# ---- PKI and backend --------------------------------------------------------------------------
make_pki
issue cart spiffe://cluster.local/ns/shop/sa/cart ca
issue web "$A" ca
issue other "$B" ca
pass "PKI: server cart, client A ($A), client B ($B)"

start_peer http http --conn-log "$TMP/http.conns"
HTTP_PORT=$PEER_PORT
touch "$TMP/http.conns"
backend_conns() { wc -l <"$TMP/http.conns"; }

# ---- policies -----------------------------------------------------------------------------------
mkdir -p "$TMP/pol"
# put_policy NAME: stdin becomes pol/NAME.yaml in one rename, so a reload never sees half a file.
put_policy() {
  cat >"$TMP/$1.yaml.tmp"
  mv "$TMP/$1.yaml.tmp" "$TMP/pol/$1.yaml"
}
put_policy server <<EOF
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-http, namespace: shop}
spec:
  podSelector: {matchLabels: {app: cart}}
  port: 8080
  proxyProtocol: HTTP/1
EOF
put_policy authz <<EOF
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: cart-http-web, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: cart-http}
  requiredAuthenticationRefs:
    - {group: policy.linkerd.io, kind: MeshTLSAuthentication, name: web-only}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: web-only, namespace: shop}
spec:
  identities: [web.shop.serviceaccount.identity.linkerd.cluster.local]
EOF

# ---- proxies ----------------------------------------------------------------------------------
cat >"$TMP/server.yaml" <<EOF
version: 1
workload: {namespace: shop, name: cart, service_account: cart, labels: {app: cart}}
trust_domain: cluster.local
credentials:
  files: {cert: cart/tls.crt, key: cart/tls.key, bundle: cart/ca.crt}
policies: [pol/]
inbound:
  - {port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: cart-http}
  - {port: 8081, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: no-server}
admin: 127.0.0.1:0
access_log: server.access.log
workers: 2
EOF
start_proxy server "$TMP/server.yaml"
SERVER_HTTP=$(in_addr server 0)
SERVER_OPEN=$(in_addr server 1)

# start_client NAME CERT_DIR: a client proxy with an outbound listener per server port (auto-mTLS).
start_client() {
  cat >"$TMP/$1.yaml" <<EOF
version: 1
workload: {namespace: shop, name: $1, service_account: $2, labels: {app: $1}}
trust_domain: cluster.local
credentials:
  files: {cert: $2/tls.crt, key: $2/tls.key, bundle: $2/ca.crt}
outbound:
  - {name: cart-http, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8080, endpoints: [$SERVER_HTTP]}
  - {name: no-server, listen: 127.0.0.1:0, destination: cart.shop.svc.cluster.local:8081, endpoints: [$SERVER_OPEN]}
admin: 127.0.0.1:0
access_log: $1.access.log
workers: 1
EOF
  start_proxy "$1" "$TMP/$1.yaml"
}
start_client client-a web
start_client client-b other
for p in server client-a client-b; do
  wait_for "proxy $p ready" 10 curl -sf "http://$(admin "$p")/ready"
done
pass "proxies up: server inbound ${PROXY_IN[server]}; clients A and B"

# through CLIENT I PATH: an HTTP GET through the I-th outbound listener of CLIENT.
through() { curl -sS --max-time 10 "http://$(out_addr "$1" "$2")$3"; }
config_dump() { curl -sf "http://$(admin server)/config_dump"; }

# ---- /config_dump -----------------------------------------------------------------------------
config_dump | jq -e '.snapshot.inbound[0].linkerd_server == "linkerd Server shop/cart-http" and
              .snapshot.inbound[0].linkerd_authorizations == ["linkerd AuthorizationPolicy shop/cart-http-web"] and
              .snapshot.inbound[1].linkerd_server == "" and
              .policies.linkerd_servers == 1 and .policies.linkerd_authorization_policies == 1 and
              .policies.meshtls_authentications == 1' >/dev/null ||
  fail "/config_dump does not show the Linkerd plan: $(config_dump | jq -c '{inbound: .snapshot.inbound, policies}')"
pass "/config_dump: $(config_dump | jq -c '.snapshot.inbound[0] | {listener, linkerd_server, linkerd_authorizations}')"

# ---- identity A is admitted ---------------------------------------------------------------------
mark server
before=$(backend_conns)
out=$(through client-a 0 /from-a) || fail "A through the Server: curl failed"
[[ "$out" == "backend ok /from-a" ]] || fail "A through the Server: got '$out'"
expect_log server '.peer_principal == "'"$A"'" and .authz_decision == "allow"' "A allowed"
[[ "$(jq -r .authz_rule <<<"$LAST_LOG")" == "linkerd AuthorizationPolicy shop/cart-http-web" ]] ||
  fail "A allowed: authz_rule is not the AuthorizationPolicy: $LAST_LOG"
[[ $(backend_conns) -eq $((before + 1)) ]] || fail "A allowed: the backend saw $(($(backend_conns) - before)) connections"
pass "identity A reaches the backend: $(jq -c '{peer_principal, authz_decision, authz_rule, upstream_host}' <<<"$LAST_LOG")"

# ---- identity B is denied before any upstream connection ---------------------------------------
# expect_b_denied WHAT: B through the Server port gets no reply, the backend no connection, and the
# server's access log a deny naming the Server.
expect_b_denied() {
  mark server
  local before got
  before=$(backend_conns)
  got=$(through client-b 0 /from-b 2>&1) && fail "$1: B got a reply: $got"
  expect_log server '.peer_principal == "'"$B"'" and .authz_decision == "deny"' "$1"
  [[ "$(jq -r .authz_rule <<<"$LAST_LOG")" == "linkerd Server shop/cart-http" ]] ||
    fail "$1: authz_rule does not name the Server: $LAST_LOG"
  [[ "$(jq -r .connection_termination_details <<<"$LAST_LOG")" == authz_denied ]] ||
    fail "$1: not authz_denied: $LAST_LOG"
  [[ "$(jq -r .upstream_host <<<"$LAST_LOG")" == null ]] || fail "$1: an upstream was dialled: $LAST_LOG"
  sleep 0.3
  [[ $(backend_conns) -eq $before ]] || fail "$1: the backend saw a connection"
}
expect_b_denied "B denied"
pass "identity B is denied after mTLS, no upstream: $(jq -c '{peer_principal, authz_decision, authz_rule, connection_termination_details, upstream_host}' <<<"$LAST_LOG")"

# Plaintext (the port is PERMISSIVE) has no identity: denied by the Server as well.
mark server
before=$(backend_conns)
plain=$(curl -sS --max-time 5 "http://$SERVER_HTTP/plain" 2>&1) && fail "plaintext through the Server got a reply: $plain"
expect_log server '.downstream_local_address == "'"$SERVER_HTTP"'" and .tls_version == null and .authz_decision == "deny"' "plaintext denied"
[[ "$(jq -r .authz_rule <<<"$LAST_LOG")" == "linkerd Server shop/cart-http" ]] || fail "plaintext denied: $LAST_LOG"
sleep 0.3
[[ $(backend_conns) -eq $before ]] || fail "plaintext denied: the backend saw a connection"
pass "plaintext to the Server port is denied: $(jq -c '{peer_principal, tls_version, authz_decision, authz_rule}' <<<"$LAST_LOG")"

# A port no Server selects: Linkerd's default policy (all-unauthenticated).
out=$(through client-b 1 /open) || fail "B to the port without a Server: curl failed"
[[ "$out" == "backend ok /open" ]] || fail "B to the port without a Server: got '$out'"
pass "a port without a Server admits B (default policy all-unauthenticated)"

# ---- removing the Server admits B ---------------------------------------------------------------
rm "$TMP/pol/server.yaml"
wait_for "the reload without the Server" 10 \
  sh -c "curl -sf http://$(admin server)/config_dump | jq -e '.snapshot.inbound[0].linkerd_server == \"\"'"
mark server
before=$(backend_conns)
out=$(through client-b 0 /after-removal) || fail "B after the Server was removed: curl failed"
[[ "$out" == "backend ok /after-removal" ]] || fail "B after the Server was removed: got '$out'"
expect_log server '.peer_principal == "'"$B"'" and .authz_decision == "allow"' "B allowed after removal"
[[ $(backend_conns) -eq $((before + 1)) ]] || fail "B after removal: the backend saw no connection"
pass "Server removed (policy reload): B reaches the backend: $(jq -c '{peer_principal, authz_decision, authz_rule}' <<<"$LAST_LOG")"

# ---- ServerAuthorization by network -------------------------------------------------------------
put_policy server <<EOF
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-http, namespace: shop, labels: {auth: loopback}}
spec: {podSelector: {matchLabels: {app: cart}}, port: 8080}
EOF
put_policy saz <<EOF
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: loopback, namespace: shop}
spec:
  server: {selector: {matchLabels: {auth: loopback}}}
  client:
    unauthenticated: true
    networks: [{cidr: 127.0.0.0/8, except: [127.0.0.1/32]}]
EOF
wait_for "the reload with the ServerAuthorization" 10 \
  sh -c "curl -sf http://$(admin server)/config_dump | jq -e '.snapshot.inbound[0].linkerd_authorizations | index(\"linkerd ServerAuthorization shop/loopback\") != null'"
expect_b_denied "B from an excepted address"
pass "ServerAuthorization networks: 127.0.0.1 is excepted, B denied: $(jq -c '{downstream_remote_address, authz_rule}' <<<"$LAST_LOG")"

put_policy saz <<EOF
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: loopback, namespace: shop}
spec:
  server: {selector: {matchLabels: {auth: loopback}}}
  client:
    unauthenticated: true
    networks: [{cidr: 127.0.0.0/8, except: [127.0.0.2/32]}]
EOF
# Plaintext from 127.0.0.1 is admitted once the reload is in.
wait_for "the reload with the new networks" 10 \
  sh -c "curl -sf --max-time 2 http://$SERVER_HTTP/plain-net | grep -q 'backend ok'"
mark server
out=$(through client-b 0 /net) || fail "B from 127.0.0.1 with the exception moved: curl failed"
[[ "$out" == "backend ok /net" ]] || fail "B with the exception moved: got '$out'"
expect_log server '.peer_principal == "'"$B"'" and .authz_decision == "allow" and .authz_rule == "linkerd ServerAuthorization shop/loopback"' "B allowed by network"
pass "ServerAuthorization networks: B and plaintext from 127.0.0.1 admitted: $(jq -c '{peer_principal, authz_rule}' <<<"$LAST_LOG")"

# ---- default inbound policies -------------------------------------------------------------------
dump_has() { config_dump | jq -e "$1" >/dev/null; }

# linkerd_config POLICY NETWORKS: Linkerd's cluster settings as the linkerd-config ConfigMap
# holds them (data.values: Helm values as a YAML string).
linkerd_config() {
  put_policy linkerd <<EOF
apiVersion: v1
kind: ConfigMap
metadata: {name: linkerd-config, namespace: linkerd}
data:
  values: |
    clusterDomain: cluster.local
    clusterNetworks: "$2"
    proxy:
      defaultInboundPolicy: $1
      logLevel: warn,linkerd=info
EOF
}

# expect_denied NAME WHAT RULE FILTER cmd...: cmd gets no reply, the backend no connection, and
# proxy NAME's access log a deny matching FILTER whose authz_rule is RULE; LAST_LOG is that line.
expect_denied() {
  local name=$1 what=$2 rule=$3 filter=$4
  shift 4
  mark "$name"
  local before got
  before=$(backend_conns)
  got=$("$@" 2>&1) && fail "$what: got a reply: $got"
  expect_log "$name" "($filter) and .authz_decision == \"deny\"" "$what"
  [[ "$(jq -r .authz_rule <<<"$LAST_LOG")" == "$rule" ]] ||
    fail "$what: authz_rule is not \"$rule\": $LAST_LOG"
  [[ "$(jq -r .connection_termination_details <<<"$LAST_LOG")" == authz_denied ]] ||
    fail "$what: not authz_denied: $LAST_LOG"
  [[ "$(jq -r .upstream_host <<<"$LAST_LOG")" == null ]] || fail "$what: an upstream was dialled: $LAST_LOG"
  sleep 0.3
  [[ $(backend_conns) -eq $before ]] || fail "$what: the backend saw a connection"
}

# expect_allowed NAME WHAT RULE FILTER PATH cmd...: cmd gets the backend's reply for PATH, and
# proxy NAME's access log an allow matching FILTER whose authz_rule is RULE.
expect_allowed() {
  local name=$1 what=$2 rule=$3 filter=$4 path=$5
  shift 5
  mark "$name"
  local out
  out=$("$@" 2>&1) || fail "$what: no reply: $out"
  [[ "$out" == "backend ok $path" ]] || fail "$what: got '$out'"
  expect_log "$name" "($filter) and .authz_decision == \"allow\"" "$what"
  [[ "$(jq -r .authz_rule <<<"$LAST_LOG")" == "$rule" ]] ||
    fail "$what: authz_rule is not \"$rule\": $LAST_LOG"
}

# expect_reason TEXT: the authz_reason of the last matched line.
expect_reason() {
  [[ "$(jq -r .authz_reason <<<"$LAST_LOG")" == "$1" ]] ||
    fail "authz_reason: want \"$1\", got: $LAST_LOG"
}

plain() { curl -sS --max-time 5 "http://$1$2"; }
IS_B='.peer_principal == "'"$B"'"'
PLAIN_OPEN='.downstream_local_address == "'"$SERVER_OPEN"'" and .tls_version == null'
PLAIN_HTTP='.downstream_local_address == "'"$SERVER_HTTP"'" and .tls_version == null'

# The cluster default from linkerd-config, loopback outside the cluster networks: deny.
linkerd_config deny "10.0.0.0/8,fd00::/8"
wait_for "the reload with linkerd-config deny" 10 \
  dump_has '.snapshot.inbound[1].linkerd_default == "linkerd default policy deny (cluster default)"'
expect_denied server "default deny, B" "linkerd default policy deny (cluster default)" "$IS_B" \
  through client-b 1 /deny
expect_reason "linkerd default policy deny (cluster default): no Server selects the port, and the default policy deny admits no client; denied $B from 127.0.0.1"
pass "default policy deny: B refused, no upstream: $(jq -c '{authz_rule, authz_reason}' <<<"$LAST_LOG")"
expect_denied server "default deny, plaintext" "linkerd default policy deny (cluster default)" \
  "$PLAIN_OPEN" plain "$SERVER_OPEN" /deny
pass "default policy deny: plaintext refused"

linkerd_config all-authenticated "10.0.0.0/8,fd00::/8"
wait_for "the reload with linkerd-config all-authenticated" 10 \
  dump_has '.snapshot.inbound[1].linkerd_default_policy == "all-authenticated"'
expect_allowed server "all-authenticated, B over mTLS" \
  "linkerd default policy all-authenticated (cluster default)" "$IS_B" /all-authn \
  through client-b 1 /all-authn
[[ "$(jq -r .authz_reason <<<"$LAST_LOG")" == null ]] || fail "an allow with a reason: $LAST_LOG"
pass "default policy all-authenticated admits the mTLS client: $(jq -c '{peer_principal, authz_rule}' <<<"$LAST_LOG")"
expect_denied server "all-authenticated, plaintext" \
  "linkerd default policy all-authenticated (cluster default)" "$PLAIN_OPEN" plain "$SERVER_OPEN" /x
expect_reason "linkerd default policy all-authenticated (cluster default): no Server selects the port, and the default policy all-authenticated admits only mesh mTLS clients with an identity; denied a client without identity from 127.0.0.1"
pass "default policy all-authenticated refuses plaintext: $(jq -r .authz_reason <<<"$LAST_LOG")"

# The Namespace's annotation wins over the cluster default.
put_policy namespace <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  annotations: {config.linkerd.io/default-inbound-policy: cluster-unauthenticated}
EOF
NS_RULE="linkerd default policy cluster-unauthenticated (namespace shop annotation)"
wait_for "the reload with the Namespace" 10 dump_has '.snapshot.inbound[1].linkerd_default == "'"$NS_RULE"'"'
expect_denied server "cluster-unauthenticated, plaintext from loopback" "$NS_RULE" "$PLAIN_OPEN" \
  plain "$SERVER_OPEN" /ns
expect_reason "$NS_RULE: no Server selects the port, and the default policy cluster-unauthenticated admits only clients from the cluster networks (10.0.0.0/8, fd00::/8); denied a client without identity from 127.0.0.1"
expect_denied server "cluster-unauthenticated, B from loopback" "$NS_RULE" "$IS_B" through client-b 1 /ns
pass "namespace cluster-unauthenticated, 127.0.0.0/8 outside the cluster networks: plaintext and B refused"

# ---- Server.accessPolicy ------------------------------------------------------------------------
rm "$TMP/pol/saz.yaml"
put_policy server <<EOF
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-http, namespace: shop}
spec:
  podSelector: {matchLabels: {app: cart}}
  port: 8080
  accessPolicy: all-authenticated
EOF
ACCESS_RULE="linkerd Server shop/cart-http accessPolicy all-authenticated"
wait_for "the reload with accessPolicy" 10 \
  dump_has '.snapshot.inbound[0].linkerd_default == "'"$ACCESS_RULE"'" and
            .snapshot.inbound[0].linkerd_authorizations == ["linkerd AuthorizationPolicy shop/cart-http-web"]'
expect_allowed server "accessPolicy, B (no authorization names it)" "$ACCESS_RULE" "$IS_B" /access \
  through client-b 0 /access
pass "Server accessPolicy all-authenticated admits B: $(jq -c '{peer_principal, authz_rule}' <<<"$LAST_LOG")"
expect_allowed server "accessPolicy, A (its authorization)" \
  "linkerd AuthorizationPolicy shop/cart-http-web" '.peer_principal == "'"$A"'"' /access-a \
  through client-a 0 /access-a
expect_denied server "accessPolicy, plaintext" "$ACCESS_RULE" "$PLAIN_HTTP" plain "$SERVER_HTTP" /access
expect_reason "linkerd Server shop/cart-http: no authorization admits a client without identity from 127.0.0.1, and accessPolicy all-authenticated admits only mesh mTLS clients with an identity"
pass "Server accessPolicy all-authenticated: A by its authorization, plaintext refused"

# ---- ServerAuthorization without networks: the cluster networks --------------------------------
put_policy server <<EOF
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-http, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: 8080}
---
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: anyone, namespace: shop}
spec:
  server: {name: cart-http}
  client: {unauthenticated: true}
EOF
wait_for "the reload with a ServerAuthorization without networks" 10 \
  dump_has '.snapshot.inbound[0].linkerd_authorizations | index("linkerd ServerAuthorization shop/anyone") != null'
expect_denied server "ServerAuthorization without networks, loopback outside" \
  "linkerd Server shop/cart-http" "$PLAIN_HTTP" plain "$SERVER_HTTP" /saz
pass "a ServerAuthorization without networks does not admit 127.0.0.1 outside the cluster networks"

linkerd_config all-authenticated "127.0.0.0/8, 10.0.0.0/8,fd00::/8"
wait_for "the reload with loopback in the cluster networks" 10 \
  sh -c "curl -sf --max-time 2 http://$SERVER_HTTP/wait | grep -q 'backend ok'"
expect_allowed server "ServerAuthorization without networks, loopback inside" \
  "linkerd ServerAuthorization shop/anyone" "$PLAIN_HTTP" /saz-in plain "$SERVER_HTTP" /saz-in
expect_allowed server "cluster-unauthenticated, plaintext from loopback inside" "$NS_RULE" \
  "$PLAIN_OPEN" /ns-in plain "$SERVER_OPEN" /ns-in
pass "127.0.0.0/8 in the cluster networks: the ServerAuthorization and cluster-unauthenticated admit plaintext"

# ---- the workload's annotation (proxy.yaml) -----------------------------------------------------
proxy_config server2 cart cart pol/ <<EOF
inbound:
  - {port: 9000, listen: 127.0.0.1:0, forward: 127.0.0.1:$HTTP_PORT, name: audited}
workers: 1
EOF
sed -i 's|labels: {app: cart}}|labels: {app: cart},\n           annotations: {config.linkerd.io/default-inbound-policy: audit, team: shop}}|' \
  "$TMP/server2.yaml"
start_proxy server2 "$TMP/server2.yaml"
wait_ready server2
SERVER2=$(in_addr server2 0)
AUDIT_RULE="linkerd default policy audit (workload annotation)"
expect_allowed server2 "workload annotation audit, plaintext" "$AUDIT_RULE" \
  '.downstream_local_address == "'"$SERVER2"'"' /audit plain "$SERVER2" /audit
expect_reason "$AUDIT_RULE: no Server selects the port; allowed a client without identity from 127.0.0.1 for audit (deny would refuse it)"
curl -sf "http://$(admin server2)/config_dump" |
  jq -e '.config.workload.annotations.team == "shop" and
         .snapshot.inbound[0].linkerd_default == "'"$AUDIT_RULE"'"' >/dev/null ||
  fail "server2 /config_dump: $(curl -sf "http://$(admin server2)/config_dump" | jq -c '{w: .config.workload, i: .snapshot.inbound}')"
pass "workload annotation audit wins over the Namespace's: $(jq -c '{authz_decision, authz_rule, authz_reason}' <<<"$LAST_LOG")"

sed 's|default-inbound-policy: audit|default-inbound-policy: audited|' "$TMP/server2.yaml" >"$TMP/bad.yaml"
rc=0
timeout 10 "$MUTUAL" proxy run -c "$TMP/bad.yaml" >"$TMP/bad.out" 2>&1 || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "a bad default-inbound-policy annotation: exit $rc: $(cat "$TMP/bad.out")"
grep -q 'bad.yaml:[0-9]*: workload.annotations\[config.linkerd.io/default-inbound-policy\]: unknown default inbound policy "audited"' "$TMP/bad.out" ||
  fail "a bad annotation: no file:line and field in: $(cat "$TMP/bad.out")"
pass "an unknown default-inbound-policy in proxy.yaml stops the proxy: $(grep -o 'bad.yaml:.*' "$TMP/bad.out" | head -1)"

for p in server server2 client-a client-b; do alive "$p"; done
pass "all proxies still running"
