#!/usr/bin/env bash
# Integration test for `mutual check mode|tls|migrate|validate`: the real binary against
# examples/istio and examples/linkerd (docs/policy.md walks through the same outputs).
#   check_test.sh MUTUAL_BINARY REPO_ROOT
# Needs python3 (for -o json). Exits non-zero with a message on the first failure.
set -euo pipefail

MUTUAL=${1:?usage: check_test.sh MUTUAL_BINARY REPO_ROOT}
ROOT=${2:?usage: check_test.sh MUTUAL_BINARY REPO_ROOT}
ISTIO="$ROOT/examples/istio"
LINKERD="$ROOT/examples/linkerd"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# Runs mutual with the arguments; stdout in $TMP/out, stderr in $TMP/err, exit code in RC.
run() {
  set +e
  "$MUTUAL" "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
}
expect_rc() {
  local want=$1 what=$2
  [[ $RC -eq $want ]] ||
    fail "$what: exit $RC, want $want; stdout: $(head -c 2000 "$TMP/out"); stderr: $(cat "$TMP/err")"
}
# expect_row CLIENT HOST:PORT REGEX: the table row for CLIENT -> HOST:PORT matches REGEX.
expect_row() {
  local client=$1 target=$2 pattern=$3
  local row
  row=$(grep -E "^$client +$target " "$TMP/out" || true)
  [[ -n $row ]] || fail "no row $client -> $target in: $(cat "$TMP/out")"
  [[ $(wc -l <<<"$row") -eq 1 ]] || fail "several rows $client -> $target: $row"
  grep -Eq -- "$pattern" <<<"$row" || fail "row $client -> $target: want /$pattern/, got: $row"
  pass "$client -> $target: $(sed -E 's/ +/ /g' <<<"$row" | cut -d' ' -f4-9)"
}
# json EXPR: evaluates a Python expression over the JSON on stdout (as `d`); fails if false.
json() {
  python3 - "$TMP/out" "$1" <<'EOF' || fail "JSON check failed: $1 on: $(head -c 3000 "$TMP/out")"
import json, sys
d = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)
EOF
}

PAY=payment-service.payments.svc.cluster.local
# ---- validate ---------------------------------------------------------------------------------
run check validate -f "$ISTIO"
expect_rc 0 "validate examples/istio"
grep -Eq '^valid: .*3 PeerAuthentication, 5 DestinationRule, 2 AuthorizationPolicy, 5 Service, 6 workloads' "$TMP/out" ||
  fail "validate summary: $(cat "$TMP/out")"
pass "validate examples/istio: $(cat "$TMP/out")"
run check validate -f "$LINKERD"
expect_rc 0 "validate examples/linkerd"

# A broken file: every finding listed with file:line, exit 1.
cat >"$TMP/broken.yaml" <<'EOF'
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: shop-wide
  namespace: shop
spec:
  mtls:
    mode: STRICTLY
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: ports-without-selector
  namespace: shop
spec:
  portLevelMtls:
    8080:
      mode: DISABLE
EOF
run check validate -f "$TMP/broken.yaml"
expect_rc 1 "validate broken.yaml"
grep -Eq 'broken\.yaml:8: spec\.mtls\.mode: unknown value "STRICTLY"' "$TMP/out" ||
  fail "validate: the bad mode is not named with file:line: $(cat "$TMP/out")"
grep -Eq 'broken\.yaml:16: spec\.portLevelMtls: .*port level' "$TMP/out" ||
  fail "validate: the port-level finding is missing: $(cat "$TMP/out")"
grep -q '^invalid: 2 documents in 1 file, 2 errors' "$TMP/out" || fail "validate summary: $(cat "$TMP/out")"
pass "validate broken.yaml: exit 1, $(head -1 "$TMP/out")"
run check validate -f "$TMP/broken.yaml" -o json
expect_rc 1 "validate -o json"
json 'd["valid"] is False and d["errors"] == 2 and d["findings"][0]["file"].endswith("broken.yaml") and d["findings"][0]["line"] == 8 and d["findings"][0]["field"] == "spec.mtls.mode"'

printf 'apiVersion: v1\nkind: Service\nmetadata: {name: x\n  ports: [\n' >"$TMP/syntax.yaml"
run check validate -f "$TMP/syntax.yaml" "$ISTIO"
expect_rc 1 "validate syntax.yaml"
grep -Eq 'syntax\.yaml:[0-9]+: column [0-9]+: invalid YAML' "$TMP/out" ||
  fail "validate: the YAML error is not named with file:line: $(cat "$TMP/out")"
pass "validate syntax.yaml: exit 1, $(head -1 "$TMP/out")"

# The other verbs refuse invalid documents with exit 2 and print the findings.
run check tls -f "$ISTIO" "$TMP/broken.yaml"
expect_rc 2 "check tls with an invalid document"
grep -q 'broken.yaml:8: spec.mtls.mode' "$TMP/err" || fail "check tls: findings not printed: $(cat "$TMP/err")"
[[ ! -s "$TMP/out" ]] || fail "check tls printed a table despite invalid input"
pass "check tls with an invalid document: exit 2"

# A warning (a selector in the root namespace) goes to stderr and the command carries on.
cat >"$TMP/ignored.yaml" <<'EOF'
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: frontend-permissive
  namespace: istio-system
spec:
  selector:
    matchLabels:
      app: frontend
  mtls:
    mode: PERMISSIVE
EOF
run check mode -f "$ISTIO" "$TMP/ignored.yaml" --namespace shop --labels app=frontend --port 8080
expect_rc 0 "check mode with a warning"
grep -q 'warning: .*ignored.yaml:7: spec.selector: .*ignored' "$TMP/err" ||
  fail "the warning is not on stderr: $(cat "$TMP/err")"
grep -Eq '^effective +istio-system/default +STRICT' "$TMP/out" || fail "mode: $(cat "$TMP/out")"
grep -Eq '^workload +istio-system/frontend-permissive +PERMISSIVE +ignored' "$TMP/out" ||
  fail "mode: the ignored policy is not shown: $(cat "$TMP/out")"
pass "check mode with a root-namespace selector: warning on stderr, policy shown as ignored"

# ---- check mode -------------------------------------------------------------------------------
run check mode -f "$ISTIO" --namespace payments --labels app=payment-service,version=v3 --port 9090
expect_rc 0 "check mode payment-service 9090"
grep -Eq '^effective +payments/payment-service +DISABLE +portLevelMtls entry 9090' "$TMP/out" ||
  fail "mode 9090: $(cat "$TMP/out")"
grep -Eq '^mesh +istio-system/default +STRICT +overridden' "$TMP/out" || fail "mode 9090: $(cat "$TMP/out")"
pass "check mode payments 9090: DISABLE (port level)"
run check mode -f "$ISTIO" --namespace payments --labels app=payment-service --port 8080 -o json
expect_rc 0 "check mode -o json"
json 'd["mode"] == "STRICT" and d["level"] == "port" and d["policy"] == "payments/payment-service" and d["port_entry"] == 8080 and d["namespace"] == "payments" and d["policies"][0]["level"] == "mesh"'
run check mode -f "$ISTIO" --namespace legacy --labels app=legacy-api --port 8080 -o json
json 'd["mode"] == "PERMISSIVE" and d["level"] == "namespace" and d["policy"] == "legacy/default" and d["port_entry"] is None'
run check mode -f "$ISTIO" --namespace shop --port 8080 -o json
json 'd["mode"] == "STRICT" and d["level"] == "mesh" and d["policy"] == "istio-system/default"'
run check mode -f "$ISTIO" --namespace other --port 8080 -o json --root-namespace legacy
json 'd["mode"] == "PERMISSIVE" and d["level"] == "mesh" and d["policy"] == "legacy/default" and d["mesh"]["root_namespace"] == "legacy"'
pass "check mode JSON: mode, level, policy, port_entry; --root-namespace"
run check mode -f "$ISTIO" --namespace payments --port 70000
expect_rc 2 "check mode --port 70000"
run check mode -f "$ISTIO" --namespace payments --labels app --port 80
expect_rc 2 "check mode --labels app"
run check mode -f "$ISTIO" --namespace payments --port 80 -o yaml
expect_rc 2 "check mode -o yaml"

# ---- check tls --------------------------------------------------------------------------------
run check tls -f "$ISTIO"
expect_rc 3 "check tls examples/istio (some connections fail)"
head -1 "$TMP/out" | grep -Eq '^CLIENT +HOST:PORT +SERVER +SERVER MODE +CLIENT TLS +DESTINATION RULE +STATUS +OUTCOME +REASON$' ||
  fail "tls header: $(head -1 "$TMP/out")"
expect_row shop/frontend "$PAY:80" 'payments/payment-service:8080 +STRICT +ISTIO_MUTUAL +istio-system/default +OK +MTLS *$'
expect_row shop/cart "$PAY:80" 'OK +AUTHZ_DENIED +no ALLOW policy matches spiffe://cluster.local/ns/shop/sa/cart'
expect_row legacy/legacy-api "$PAY:80" 'AUTHZ_DENIED +DENY policy payments/deny-legacy'
expect_row shop/frontend "$PAY:9090" 'DISABLE +ISTIO_MUTUAL +istio-system/default +CONFLICT +FAIL_TLS +the client originates mesh mTLS'
expect_row legacy/batch-job frontend.shop.svc.cluster.local:80 'STRICT +- +- +CONFLICT +FAIL_RESET +.*no sidecar'
expect_row legacy/batch-job legacy-api.legacy.svc.cluster.local:8080 'PERMISSIVE +- +- +OK +PLAINTEXT +the client has no sidecar'
expect_row shop/frontend legacy-api.legacy.svc.cluster.local:8080 'PERMISSIVE +DISABLE +shop/legacy-api +OK +PLAINTEXT'
expect_row shop/frontend legacy-db.legacy.svc.cluster.local:5432 'legacy/legacy-db:5432 +- +DISABLE +legacy/legacy-db +OK +PLAINTEXT'
expect_row legacy/legacy-api legacy-db.legacy.svc.cluster.local:5432 'DISABLE +legacy/legacy-db +OK +PLAINTEXT'
grep -Eq '^36 connections: 3 AUTHZ_DENIED, 6 FAIL_RESET, 4 FAIL_TLS, 11 MTLS, 12 PLAINTEXT; 13 would fail$' "$TMP/out" ||
  fail "tls summary: $(tail -1 "$TMP/out")"
pass "check tls summary: $(tail -1 "$TMP/out")"

run check tls -f "$ISTIO" -o json
expect_rc 3 "check tls -o json"
json 'all(list(c.keys()) == ["client", "host", "port", "server", "target_port", "server_mode", "client_tls", "destination_rule", "policy", "authz", "status", "outcome", "reason"] for c in d["connections"])'
json 'any(c["client"] == "shop/frontend" and c["host"].startswith("payment-service.") and c["port"] == 80 and c["authz"] == "payments/payment-service" for c in d["connections"])'
json 'd["summary"]["total"] == 36 and d["summary"]["failed"] == 13 and d["summary"]["outcomes"]["AUTHZ_DENIED"] == 3'
json 'any(c["client"] == "legacy/batch-job" and c["host"] == "frontend.shop.svc.cluster.local" and c["outcome"] == "FAIL_RESET" and c["status"] == "CONFLICT" and c["client_tls"] is None and c["server_mode"] == "STRICT" and c["policy"] == "istio-system/default" and "no sidecar" in c["reason"] for c in d["connections"])'
json 'all(c["reason"] is None for c in d["connections"] if c["status"] == "OK" and c["outcome"] in ("MTLS",))'
pass "check tls JSON: field names, summary, the FAIL_RESET row"

run check tls -f "$ISTIO" --from shop/frontend --to payment-service.payments:80
expect_rc 0 "check tls one pair"
[[ $(grep -c cluster.local "$TMP/out") -eq 1 ]] || fail "one pair: $(cat "$TMP/out")"
expect_row shop/frontend "$PAY:80" 'OK +MTLS'
run check tls -f "$ISTIO" --from shop/frontend --to api.external.com:80
expect_rc 0 "check tls to an external host"
expect_row shop/frontend api.external.com:80 '- +- +SIMPLE +shop/external-api +CONFLICT +TLS +'
run check tls -f "$ISTIO" --from payments/payment-service --to api.partner.com:80
expect_row payments/payment-service api.partner.com:80 'MUTUAL +payments/partner-bank +CONFLICT +MUTUAL'
run check tls -f "$ISTIO" --from legacy/batch-job --to "$PAY:80"
expect_rc 3 "check tls failing pair"
run check tls -f "$ISTIO" --from shop/nobody
expect_rc 2 "check tls --from an unknown workload"
grep -q 'no such workload' "$TMP/err" || fail "--from nobody: $(cat "$TMP/err")"
run check tls -f "$ISTIO" --to paymnt-service.payments:80
expect_rc 2 "check tls --to a misspelt Service"
run check tls -f "$ISTIO" --to "$PAY:81"
expect_rc 2 "check tls --to a port the Service lacks"
run check tls -f "$ISTIO" --to "$PAY"
expect_rc 2 "check tls --to without a port"
run check tls -f "$ROOT/examples/does-not-exist"
expect_rc 2 "check tls -f missing"
pass "check tls bad input: exit 2"

# --trust-domain: policies written for cluster.local still match (Istio's alias expansion).
run check tls -f "$ISTIO" --trust-domain prod.example.org --from shop/frontend --to "$PAY:80" -o json
json 'd["connections"][0]["outcome"] == "MTLS" and d["mesh"]["trust_domain"] == "prod.example.org"'
run check tls -f "$ISTIO" --trust-domain "bad domain" --from shop/frontend
expect_rc 2 "check tls --trust-domain invalid"

# ---- Linkerd, auto-mTLS and mesh settings ----------------------------------------------------
run check tls -f "$LINKERD"
expect_rc 0 "check tls examples/linkerd"
expect_row booksapp/webapp authors.booksapp.svc.cluster.local:7001 'PERMISSIVE +AUTO +- +AUTO +MTLS'
expect_row booksapp/webapp mysql.booksapp.svc.cluster.local:3306 'PERMISSIVE +- +- +OK +PLAINTEXT +port 3306 is in the client.s config.linkerd.io/skip-outbound-ports'
expect_row booksapp/authors books.booksapp.svc.cluster.local:9990 '- +AUTO +- +AUTO +PLAINTEXT +.*skip-inbound-ports'
# Without auto-mTLS the clients send plaintext: the Linkerd Server on authors' port admits only
# booksapp identities, so it denies them; mysql's also admits the pod network.
run check tls -f "$LINKERD" --auto-mtls=false
expect_row booksapp/webapp authors.booksapp.svc.cluster.local:7001 'PERMISSIVE +- +- +OK +AUTHZ_DENIED +linkerd Server booksapp/authors-http: no authorization admits a client without identity$'
expect_row booksapp/authors mysql.booksapp.svc.cluster.local:3306 'PERMISSIVE +- +- +OK +PLAINTEXT *$'
# A mesh settings document turns auto-mTLS off; the flag turns it back on.
cp "$LINKERD"/*.yaml "$TMP/"
cat >"$TMP/settings.yaml" <<'EOF'
apiVersion: mutual.dev/v1alpha1
kind: MeshSettings
metadata:
  name: mesh
spec:
  autoMtls: false
EOF
run check tls -f "$TMP/inventory.yaml" "$TMP/servers.yaml" "$TMP/settings.yaml" -o json
json 'd["mesh"]["auto_mtls"] is False and all(c["outcome"] == "PLAINTEXT" or (c["outcome"] == "AUTHZ_DENIED" and c["host"].startswith("authors.")) for c in d["connections"])'
run check tls -f "$TMP/inventory.yaml" "$TMP/servers.yaml" "$TMP/settings.yaml" --auto-mtls=true -o json
json 'd["mesh"]["auto_mtls"] is True and d["summary"]["outcomes"]["MTLS"] == 15'
run check tls -f "$LINKERD" --auto-mtls=maybe
expect_rc 2 "--auto-mtls=maybe"
pass "auto-mTLS from the settings document and --auto-mtls"

# ---- Linkerd's default inbound policy and accessPolicy -------------------------------------------
# The cluster default from a linkerd-config ConfigMap: deny refuses books' port (no Server there);
# authors' Server still admits the booksapp identities.
cat >"$TMP/linkerd-config.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: linkerd-config, namespace: linkerd}
data:
  values: |
    clusterNetworks: "10.0.0.0/8,100.64.0.0/10,172.16.0.0/12,192.168.0.0/16,fd00::/8"
    proxy:
      defaultInboundPolicy: deny
EOF
LINKERD_DENY=("$TMP/inventory.yaml" "$TMP/servers.yaml" "$TMP/linkerd-config.yaml")
run check tls -f "${LINKERD_DENY[@]}" --from booksapp/webapp
expect_rc 3 "check tls with a deny cluster default"
expect_row booksapp/webapp books.booksapp.svc.cluster.local:7002 'PERMISSIVE +AUTO +- +AUTO +AUTHZ_DENIED +linkerd default policy deny \(cluster default\): no Server selects the port, and the default policy deny admits no client; denied spiffe://cluster.local/ns/booksapp/sa/webapp$'
expect_row booksapp/webapp authors.booksapp.svc.cluster.local:7001 'PERMISSIVE +AUTO +- +AUTO +MTLS'
run check tls -f "${LINKERD_DENY[@]}" --from booksapp/webapp -o json
json 'any(c["host"].startswith("books.") and c["port"] == 7002 and c["authz"] == "linkerd default policy deny (cluster default)" for c in d["connections"])'
json 'any(c["host"].startswith("authors.") and c["authz"] == "linkerd AuthorizationPolicy booksapp/authors-clients" for c in d["connections"])'
json 'd["mesh"]["linkerd"]["default_inbound_policy"] == "deny" and len(d["mesh"]["linkerd"]["cluster_networks"]) == 5'
pass "check tls: the linkerd-config cluster default deny refuses ports without a Server"

# The Namespace's annotation over the cluster default; a workload's over the Namespace's.
sed 's|    linkerd.io/inject: enabled|    linkerd.io/inject: enabled\n    config.linkerd.io/default-inbound-policy: all-authenticated|' \
  "$TMP/inventory.yaml" >"$TMP/annotated.yaml"
run check tls -f "$TMP/annotated.yaml" "$TMP/servers.yaml" "$TMP/linkerd-config.yaml" --from booksapp/webapp -o json
json 'any(c["host"].startswith("books.") and c["port"] == 7002 and c["outcome"] == "MTLS" and c["authz"] == "linkerd default policy all-authenticated (namespace booksapp annotation)" for c in d["connections"])'
run check tls -f "$TMP/annotated.yaml" "$TMP/servers.yaml" "$TMP/linkerd-config.yaml" --auto-mtls=false --from booksapp/webapp
expect_row booksapp/webapp books.booksapp.svc.cluster.local:7002 'AUTHZ_DENIED +linkerd default policy all-authenticated \(namespace booksapp annotation\): .*admits only mesh mTLS clients with an identity; denied a client without identity$'
sed -i 's|        config.linkerd.io/skip-inbound-ports: "9990"|        config.linkerd.io/skip-inbound-ports: "9990"\n        config.linkerd.io/default-inbound-policy: audit|' \
  "$TMP/annotated.yaml"
run check tls -f "$TMP/annotated.yaml" "$TMP/servers.yaml" "$TMP/linkerd-config.yaml" --auto-mtls=false --from booksapp/webapp
expect_row booksapp/webapp books.booksapp.svc.cluster.local:7002 'OK +PLAINTEXT +linkerd default policy audit \(workload annotation\): no Server selects the port; allowed a client without identity for audit \(deny would refuse it\)$'
pass "check tls: the workload annotation over the Namespace's over the cluster default"

# A Server's accessPolicy decides for clients its authorizations do not admit.
cat >"$TMP/access.yaml" <<'EOF'
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: books-http, namespace: booksapp}
spec:
  podSelector: {matchLabels: {app: books}}
  port: http
  accessPolicy: all-authenticated
EOF
run check tls -f "${LINKERD_DENY[@]}" "$TMP/access.yaml" --from booksapp/webapp -o json
json 'any(c["host"].startswith("books.") and c["port"] == 7002 and c["outcome"] == "MTLS" and c["authz"] == "linkerd Server booksapp/books-http accessPolicy all-authenticated" for c in d["connections"])'
pass "check tls: a Server with accessPolicy all-authenticated admits the meshed client"

# Bad values are findings with file, line and field.
sed 's|defaultInboundPolicy: deny|defaultInboundPolicy: deny-all|' "$TMP/linkerd-config.yaml" >"$TMP/bad-linkerd.yaml"
run check validate -f "$TMP/bad-linkerd.yaml"
expect_rc 1 "validate a bad linkerd-config"
grep -q 'bad-linkerd.yaml:8: data.values.proxy.defaultInboundPolicy: unknown value "deny-all"' "$TMP/out" ||
  fail "validate bad linkerd-config: $(cat "$TMP/out")"
pass "validate: a bad default inbound policy names file:line and field"

# ---- check migrate ----------------------------------------------------------------------------
run check migrate -f "$ISTIO" --namespace legacy --to STRICT
expect_rc 3 "migrate legacy (breaks)"
grep -q 'replaces legacy/default (PERMISSIVE)' "$TMP/out" || fail "migrate: $(cat "$TMP/out")"
expect_row legacy/batch-job legacy-api.legacy.svc.cluster.local:8080 'PLAINTEXT +FAIL_RESET +the client has no sidecar$'
expect_row shop/frontend legacy-api.legacy.svc.cluster.local:8080 'PLAINTEXT +FAIL_RESET +DestinationRule shop/legacy-api sets tls.mode DISABLE$'
grep -Eq '^legacy/legacy-db +\* +- +no sidecar' "$TMP/out" || fail "migrate: legacy-db not listed as unprotected: $(cat "$TMP/out")"
run check migrate -f "$ISTIO" --namespace legacy --to STRICT -o json
expect_rc 3 "migrate -o json"
json 'd["scope"] == "namespace" and d["namespace"] == "legacy" and d["replaces"] == "legacy/default" and len(d["breaks"]) == 4'
json 'any(b["client"] == "legacy/batch-job" and b["before"]["outcome"] == "PLAINTEXT" and b["after"]["outcome"] == "FAIL_RESET" and b["after"]["server_mode"] == "STRICT" and b["reason"] == "the client has no sidecar" for b in d["breaks"])'
json 'all(b["server"].startswith("legacy/") for b in d["breaks"])'
pass "check migrate legacy: 4 breaks with reasons"

run check migrate -f "$ISTIO" --mesh --to STRICT
expect_rc 0 "migrate --mesh on an already STRICT mesh"
grep -q '^Nothing breaks' "$TMP/out" || fail "migrate --mesh: $(cat "$TMP/out")"
grep -Eq '^payments/payment-service +9090 +DISABLE +portLevelMtls entry 9090' "$TMP/out" ||
  fail "migrate --mesh: the DISABLE port is not listed: $(cat "$TMP/out")"
run check migrate -f "$LINKERD" --mesh --to STRICT
expect_rc 3 "migrate linkerd --mesh"
expect_row booksapp/webapp mysql.booksapp.svc.cluster.local:3306 'PLAINTEXT +FAIL_RESET +port 3306 is in the client.s config.linkerd.io/skip-outbound-ports$'
grep -Eq '^booksapp/books +9990 +- +in config.linkerd.io/skip-inbound-ports' "$TMP/out" ||
  fail "migrate linkerd: books 9990 not listed: $(cat "$TMP/out")"
pass "check migrate linkerd: the skip-outbound client breaks, the skip-inbound port stays open"

run check migrate -f "$ISTIO" --to STRICT
expect_rc 2 "migrate without a scope"
run check migrate -f "$ISTIO" --namespace legacy --mesh --to STRICT
expect_rc 2 "migrate with two scopes"
run check migrate -f "$ISTIO" --namespace legacy --to PERMISSIVE
expect_rc 2 "migrate --to PERMISSIVE"
run check migrate -f "$ISTIO" --namespace nowhere --to STRICT
expect_rc 2 "migrate an unknown namespace"
pass "check migrate bad input: exit 2"

echo "check_test: all passed"
