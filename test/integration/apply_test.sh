#!/usr/bin/env bash
# Integration test for `mutual apply`: the real binary against examples/cert-manager.
#   apply_test.sh MUTUAL_BINARY REPO_ROOT
# Needs openssl and python3 (for -o json). Exits non-zero with a message on the first failure.
set -euo pipefail

MUTUAL=${1:?usage: apply_test.sh MUTUAL_BINARY REPO_ROOT}
ROOT=${2:?usage: apply_test.sh MUTUAL_BINARY REPO_ROOT}
EXAMPLES="$ROOT/examples/cert-manager"
TMP=$(mktemp -d)
WATCH_PID=""
cleanup() {
  if [[ -n "$WATCH_PID" ]]; then kill "$WATCH_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
mode() { stat -c %a "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# Runs `mutual apply` and records stdout, stderr and the exit code (never aborts the script).
run_apply() {
  set +e
  "$MUTUAL" apply "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
}

# Expects exit code 2, a "file:line:" naming `file` and `pattern` on stderr, and nothing
# written under `state`.
expect_bad_input() {
  local what=$1 file=$2 pattern=$3 state=$4
  [[ $RC -eq 2 ]] || fail "$what: exit code $RC, want 2 (stderr: $(cat "$TMP/err"))"
  grep -Eq "$(basename "$file"):[0-9]+:" "$TMP/err" ||
    fail "$what: stderr does not name $(basename "$file"):LINE: $(cat "$TMP/err")"
  grep -Eq -- "$pattern" "$TMP/err" || fail "$what: stderr lacks /$pattern/: $(cat "$TMP/err")"
  [[ $(wc -l <"$TMP/err") -eq 1 ]] || fail "$what: want one error line, got: $(cat "$TMP/err")"
  if [[ -e "$state" ]] && [[ -n "$(find "$state" -type f)" ]]; then
    fail "$what: files were written: $(find "$state" -type f)"
  fi
  pass "$what: exit 2, $(cat "$TMP/err")"
}

STATE="$TMP/state"
TLS="$STATE/default/my-service-tls"
SVID="$STATE/default/my-service-svid"

# ---- first run issues both certificates ------------------------------------------------------
run_apply -f "$EXAMPLES" --state "$STATE"
[[ $RC -eq 0 ]] || fail "first apply: exit $RC: $(cat "$TMP/err")"
cat "$TMP/out"
head -1 "$TMP/out" | grep -Eq '^NAMESPACE +NAME +SECRET +ACTION +NOT AFTER +RENEW AT' ||
  fail "table header: $(head -1 "$TMP/out")"
[[ $(grep -c ' issued ' "$TMP/out") -eq 2 ]] || fail "want 2 issued rows: $(cat "$TMP/out")"

for dir in "$TLS" "$SVID"; do
  for f in tls.crt tls.key ca.crt secret.yaml .mutual-spec.json; do
    [[ -f "$dir/$f" ]] || fail "missing $dir/$f"
  done
  [[ $(mode "$dir/tls.key") == 600 ]] || fail "$dir/tls.key mode $(mode "$dir/tls.key")"
  [[ $(mode "$dir/secret.yaml") == 600 ]] || fail "$dir/secret.yaml mode $(mode "$dir/secret.yaml")"
  [[ $(mode "$dir/tls.crt") == 644 ]] || fail "$dir/tls.crt mode $(mode "$dir/tls.crt")"
  [[ $(mode "$dir/ca.crt") == 644 ]] || fail "$dir/ca.crt mode $(mode "$dir/ca.crt")"
  openssl verify -x509_strict -CAfile "$dir/ca.crt" "$dir/tls.crt" >/dev/null ||
    fail "openssl verify -x509_strict $dir/tls.crt"
  [[ "$(openssl x509 -in "$dir/tls.crt" -noout -pubkey)" == \
     "$(openssl pkey -in "$dir/tls.key" -pubout)" ]] || fail "$dir: tls.key does not match tls.crt"
  grep -q '^type: kubernetes.io/tls$' "$dir/secret.yaml" || fail "$dir/secret.yaml type"
  grep -q 'cert-manager.io/issuer-name: ca-issuer' "$dir/secret.yaml" ||
    fail "$dir/secret.yaml issuer annotation"
done
pass "files, modes, openssl verify -x509_strict, key match, secret.yaml"

text=$(openssl x509 -in "$TLS/tls.crt" -noout -text)
grep -q 'DNS:my-service.default.svc.cluster.local' <<<"$text" || fail "my-service-tls SANs"
grep -q 'TLS Web Server Authentication, TLS Web Client Authentication' <<<"$text" ||
  fail "my-service-tls EKU"
text=$(openssl x509 -in "$SVID/tls.crt" -noout -text)
grep -q 'URI:spiffe://cluster.local/ns/default/sa/my-service' <<<"$text" || fail "SVID URI SAN"
grep -q 'TLS Web Server Authentication, TLS Web Client Authentication' <<<"$text" ||
  fail "SVID EKU (server+client by default)"
grep -q 'CA:FALSE' <<<"$text" || fail "SVID must not be a CA"
pass "SANs and extended key usages"

# ---- a second run changes nothing --------------------------------------------------------------
before_tls=$(sha "$TLS/tls.crt")
before_svid=$(sha "$SVID/tls.crt")
run_apply -f "$EXAMPLES/cluster-issuer.yaml" "$EXAMPLES/ca-key-pair.yaml" \
  "$EXAMPLES/certificates.yaml" --state "$STATE"
[[ $RC -eq 0 ]] || fail "second apply: exit $RC: $(cat "$TMP/err")"
[[ $(grep -c ' up-to-date ' "$TMP/out") -eq 2 ]] || fail "want 2 up-to-date: $(cat "$TMP/out")"
[[ $(sha "$TLS/tls.crt") == "$before_tls" ]] || fail "tls.crt changed on an up-to-date run"
[[ $(sha "$SVID/tls.crt") == "$before_svid" ]] || fail "SVID tls.crt changed on an up-to-date run"
pass "second run: up-to-date, tls.crt unchanged"

run_apply -f "$EXAMPLES" --state "$STATE" -o json
[[ $RC -eq 0 ]] || fail "-o json: exit $RC"
python3 - "$TMP/out" <<'EOF' || fail "-o json output: $(cat "$TMP/out")"
import json, sys
doc = json.load(open(sys.argv[1]))
certs = doc["certificates"]
assert [c["name"] for c in certs] == ["my-service-tls", "my-service-svid"], certs
assert all(c["action"] == "up-to-date" for c in certs), certs
assert all(c["notAfter"] and c["renewAt"] and c["serial"] for c in certs), certs
assert doc["nextRenewal"], doc
EOF
pass "-o json"

# ---- bad input: exit 2, file:line in the message, nothing written ------------------------------
bad_case() {  # bad_case NAME: copies the examples to $TMP/NAME for editing
  rm -rf "${TMP:?}/$1" "$TMP/state-$1"
  cp -r "$EXAMPLES" "$TMP/$1"
}

bad_case duration
line=$(grep -n 'duration: 24h' "$TMP/duration/certificates.yaml" | head -1 | cut -d: -f1)
sed -i "${line}s/24h/24x/" "$TMP/duration/certificates.yaml"
run_apply -f "$TMP/duration" --state "$TMP/state-duration"
expect_bad_input "bad duration" certificates.yaml \
  "certificates.yaml:$line: spec.duration: invalid duration \"24x\"" "$TMP/state-duration"

bad_case renew
line=$(grep -n 'renewBefore: 8h' "$TMP/renew/certificates.yaml" | tail -1 | cut -d: -f1)
sed -i "${line}s/8h/48h/" "$TMP/renew/certificates.yaml"
run_apply -f "$TMP/renew" --state "$TMP/state-renew"
expect_bad_input "renewBefore >= duration" certificates.yaml \
  "certificates.yaml:$line: spec.renewBefore: must be shorter than the duration" \
  "$TMP/state-renew"

bad_case unknown
sed -i 's/^  dnsNames:/  dnsName:/' "$TMP/unknown/certificates.yaml"
run_apply -f "$TMP/unknown" --state "$TMP/state-unknown"
expect_bad_input "unknown field" certificates.yaml 'spec.dnsName: unknown field' \
  "$TMP/state-unknown"

bad_case spiffe
sed -i 's|spiffe://cluster.local/ns/default/sa/my-service|spiffe://Cluster.Local/x|' \
  "$TMP/spiffe/certificates.yaml"
run_apply -f "$TMP/spiffe" --state "$TMP/state-spiffe"
expect_bad_input "bad SPIFFE ID" certificates.yaml 'spec.uris\[0\]: invalid SPIFFE ID' \
  "$TMP/state-spiffe"

bad_case issuer
rm "$TMP/issuer/cluster-issuer.yaml"
run_apply -f "$TMP/issuer" --state "$TMP/state-issuer"
expect_bad_input "missing issuer" certificates.yaml \
  'spec.issuerRef: ClusterIssuer "ca-issuer" not found' "$TMP/state-issuer"

bad_case secret
rm "$TMP/secret/ca-key-pair.yaml"
run_apply -f "$TMP/secret" --state "$TMP/state-secret"
expect_bad_input "missing CA secret" cluster-issuer.yaml \
  'spec.ca.secretName: Secret "ca-key-pair" not found' "$TMP/state-secret"

bad_case kind
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n' >"$TMP/kind/widget.yaml"
run_apply -f "$TMP/kind" --state "$TMP/state-kind"
expect_bad_input "unknown kind" widget.yaml 'widget.yaml:2: kind: unknown kind "Widget"' \
  "$TMP/state-kind"

bad_case yaml
printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: [x}\n' >"$TMP/yaml/broken.yaml"
run_apply -f "$TMP/yaml" --state "$TMP/state-yaml"
expect_bad_input "malformed YAML" broken.yaml 'broken.yaml:[0-9]+:[0-9]+: invalid YAML' \
  "$TMP/state-yaml"

# Bad input against an existing state changes nothing there either. The state is made stale
# first, so that an apply that went ahead would write: my-service-tls loses its tls.crt (a
# successful apply reissues it) and my-service-svid (valid in the bad copy: only
# my-service-tls's duration is bad) loses its whole directory (a successful or partial apply
# issues it anew).
rm "$TLS/tls.crt"
rm -r "$SVID"
state_list() { (cd "$STATE" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(state_list)
run_apply -f "$TMP/duration" --state "$STATE"
[[ $RC -eq 2 ]] || fail "bad input over existing state: exit $RC, want 2: $(cat "$TMP/err")"
grep -q 'certificates.yaml:[0-9]*: spec.duration: invalid duration "24x"' "$TMP/err" ||
  fail "bad input over existing state: not refused for the bad duration: $(cat "$TMP/err")"
[[ ! -e "$TLS/tls.crt" ]] || fail "bad input over existing state wrote $TLS/tls.crt"
[[ ! -e "$SVID" ]] || fail "bad input over existing state wrote $SVID: $(ls -A "$SVID")"
[[ "$(state_list)" == "$before" ]] || fail "bad input changed the existing state: $(state_list)"
# The same state with good input is written: the stale state was one apply would change.
run_apply -f "$EXAMPLES" --state "$STATE"
[[ $RC -eq 0 ]] || fail "apply over the stale state: exit $RC: $(cat "$TMP/err")"
grep -Eq '^default +my-service-tls +my-service-tls +issued .*tls\.crt is missing$' "$TMP/out" &&
  grep -Eq '^default +my-service-svid +my-service-svid +issued .*new certificate$' "$TMP/out" ||
  fail "apply over the stale state: want both issued (tls.crt is missing, new certificate): $(cat "$TMP/out")"
[[ -f "$TLS/tls.crt" && -f "$SVID/tls.crt" ]] || fail "apply over the stale state did not write tls.crt"
pass "bad input leaves a stale existing state untouched (tls.crt still missing, no my-service-svid); good input then issues both"

run_apply -f "$EXAMPLES"
[[ $RC -eq 2 ]] || fail "missing --state: exit $RC, want 2"
run_apply -f "$TMP/nope.yaml" --state "$TMP/state-nope"
[[ $RC -eq 2 ]] || fail "missing -f path: exit $RC, want 2"
pass "usage errors exit 2"

# ---- --watch: picks up edits, stops cleanly on SIGTERM -----------------------------------------
cp -r "$EXAMPLES" "$TMP/watch"
"$MUTUAL" apply -f "$TMP/watch" --state "$TMP/state-watch" --watch >"$TMP/watch.out" \
  2>"$TMP/watch.err" &
WATCH_PID=$!
wait_for() {  # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    kill -0 "$WATCH_PID" 2>/dev/null || return 1
    sleep 0.2
  done
}
WTLS="$TMP/state-watch/default/my-service-tls"
wait_for 20 test -f "$WTLS/.mutual-spec.json" || fail "--watch did not issue: $(cat "$TMP/watch.err")"
first=$(sha "$WTLS/tls.crt")
sed -i 's/^    - my-service$/    - my-service\n    - my-service.example.com/' \
  "$TMP/watch/certificates.yaml"
changed() { [[ -f "$WTLS/.mutual-spec.json" ]] && grep -q 'my-service.example.com' "$WTLS/.mutual-spec.json"; }
wait_for 20 changed || fail "--watch did not pick up the edit: $(cat "$TMP/watch.err")"
[[ $(sha "$WTLS/tls.crt") != "$first" ]] || fail "--watch: tls.crt not reissued after the edit"
openssl x509 -in "$WTLS/tls.crt" -noout -ext subjectAltName | grep -q 'DNS:my-service.example.com' ||
  fail "--watch: new SAN missing"
# The row is printed after the files are written: wait for it.
wait_for 20 grep -q 'renewed' "$TMP/watch.out" || fail "--watch: no renewed row printed: $(cat "$TMP/watch.out")"
kill -TERM "$WATCH_PID"
set +e
wait "$WATCH_PID"
rc=$?
set -e
WATCH_PID=""
[[ $rc -eq 0 ]] || fail "--watch exit code on SIGTERM: $rc ($(cat "$TMP/watch.err"))"
pass "--watch: reissued on edit, exit 0 on SIGTERM"

echo "apply_test.sh: all passed"
