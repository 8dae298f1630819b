#!/usr/bin/env bash
# Integration test for the PKI commands (`mutual ca ...`, `mutual cert ...`): the real binary,
# checked against `openssl verify -x509_strict`, Python's `cryptography`, and the deliberately
# bad certificates of test/fixtures/make-pki.sh.
#   pki_cli_test.sh MUTUAL_BINARY REPO_ROOT
# Needs openssl and python3 with `cryptography`. Prints each check; exits non-zero with a
# message on the first failure.
set -euo pipefail

MUTUAL=${1:?usage: pki_cli_test.sh MUTUAL_BINARY REPO_ROOT}
ROOT=${2:?usage: pki_cli_test.sh MUTUAL_BINARY REPO_ROOT}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
mode() { stat -c %a "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
show() { echo "--- stdout"; cat "$TMP/out"; echo "--- stderr"; cat "$TMP/err"; }

command -v openssl >/dev/null || fail "openssl not found"
# The first python3 that has `cryptography` (Debian's python3-cryptography is in scripts/deps.sh;
# a python3 earlier on PATH, such as a pyenv one, may lack it).
PY=""
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import cryptography' 2>/dev/null; then PY=$candidate; break; fi
done
[[ -n $PY ]] || fail "no python3 can import cryptography (apt-get install python3-cryptography)"

# Runs a command, recording stdout, stderr and the exit code in RC (never aborts the script).
run() {
  set +e
  "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
}

# expect RC DESCRIPTION COMMAND...: the command exits with RC.
expect() {
  local want=$1 what=$2
  shift 2
  run "$@"
  [[ $RC -eq $want ]] || { show; fail "$what: exit $RC, want $want (command: $*)"; }
  pass "$what"
}

# mutual_ok DESCRIPTION ARGS...: `mutual ARGS` succeeds (its output is kept quiet).
mutual_ok() {
  local what=$1
  shift
  expect 0 "$what" "$MUTUAL" "$@"
}

# verify_is RC REASON DESCRIPTION ARGS...: `mutual cert verify ARGS -o json` exits RC; its JSON
# says valid (RC 0, REASON "") or invalid with REASON (RC 1).
verify_is() {
  local want=$1 reason=$2 what=$3
  shift 3
  run "$MUTUAL" cert verify "$@" -o json
  [[ $RC -eq $want ]] || { show; fail "$what: exit $RC, want $want (mutual cert verify $*)"; }
  # nlohmann::json's dump(2): one "key": value per line.
  local field
  for field in valid reason message spiffe_id profile chain; do
    grep -q "^  \"$field\": " "$TMP/out" || { show; fail "$what: no \"$field\" in the JSON"; }
  done
  if [[ $want -eq 0 ]]; then
    grep -Eq '^  "valid": true,?$' "$TMP/out" && grep -Eq '^  "reason": null,?$' "$TMP/out" ||
      { show; fail "$what: the JSON does not say valid"; }
  else
    grep -Eq '^  "valid": false,?$' "$TMP/out" || { show; fail "$what: the JSON does not say invalid"; }
    grep -Eq "^  \"reason\": \"$reason\",?\$" "$TMP/out" ||
      { show; fail "$what: reason is not \"$reason\""; }
  fi
  pass "$what: exit $want${reason:+ [$reason]}"
}

# bad_input DESCRIPTION PATTERN COMMAND...: exit 2 with PATTERN (ERE) on stderr.
bad_input() {
  local what=$1 pattern=$2
  shift 2
  run "$@"
  [[ $RC -eq 2 ]] || { show; fail "$what: exit $RC, want 2 (command: $*)"; }
  grep -Eq -- "$pattern" "$TMP/err" || { show; fail "$what: stderr lacks /$pattern/"; }
  pass "$what: exit 2: $(head -1 "$TMP/err")"
}

# The PEM blocks of FILE after the first (a tls.crt's intermediates), into OUT.
tail_certs() {
  awk '/-----BEGIN CERTIFICATE-----/ { n++ } n > 1 { print }' "$1" >"$2"
}

# ---- the Python checker -----------------------------------------------------------------------
# check_cert.py LIST: for each line "KIND<TAB>CERT<TAB>SPEC_JSON" of LIST, loads CERT (its first
# PEM block) with `cryptography` and checks the profile mutual promises for KIND (root,
# intermediate or leaf). One Python start for many certificates: importing cryptography is slow.
cat >"$TMP/check_cert.py" <<'EOF'
import json, sys, time, datetime
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519

def check_one(kind, path, spec):
    cert = x509.load_pem_x509_certificates(open(path, "rb").read())[0]

    def utc(name):  # cryptography 38 has naive UTC datetimes; 42+ adds *_utc
        value = getattr(cert, name + "_utc", None)
        if value is None:
            value = getattr(cert, name).replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()

    def ext(cls):
        return cert.extensions.get_extension_for_class(cls)

    def check(cond, what):
        if not cond:
            sys.exit(f"{kind} {path}: {what}")

    check(cert.version == x509.Version.v3, "not X.509 v3")
    bits = cert.serial_number.bit_length()
    check(100 < bits <= 127, f"serial is {bits} bits, want a random positive 128-bit-wide serial")
    issued = spec["issued_at"]
    nb, na = utc("not_valid_before"), utc("not_valid_after")
    check(abs(nb - (issued - 10)) <= 15, f"notBefore {nb} is not about issue time - 10 s ({issued})")
    check(abs((na - issued) - spec["ttl"]) <= 15, f"lifetime {na - issued} s, want about {spec['ttl']}")

    bc = ext(x509.BasicConstraints)
    ku = ext(x509.KeyUsage)
    san = ext(x509.SubjectAlternativeName).value
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    check(uris == [spec["id"]], f"URI SANs {uris}, want exactly [{spec['id']}]")
    check(bc.critical, "basicConstraints not critical")
    check(ku.critical, "keyUsage not critical")
    ski = ext(x509.SubjectKeyIdentifier).value.digest
    check(len(ski) == 20, "SKI is not a 20-byte SHA-1")

    if kind in ("root", "intermediate"):
        check(bc.value.ca, "CA certificate without cA=true")
        check(ku.value.key_cert_sign and ku.value.crl_sign, "CA keyUsage lacks keyCertSign/cRLSign")
        check(not ku.value.digital_signature, "CA keyUsage has digitalSignature")
        check(bc.value.path_length == spec.get("path_len"),
              f"pathLen {bc.value.path_length}, want {spec.get('path_len')}")
        try:
            ext(x509.ExtendedKeyUsage)
            check(False, "CA certificate has an extendedKeyUsage")
        except x509.ExtensionNotFound:
            pass

    if kind == "root":
        check(cert.issuer == cert.subject, "root is not self-issued")
        try:
            aki = ext(x509.AuthorityKeyIdentifier).value
            check(aki.key_identifier == ski, "root AKI differs from its SKI")
        except x509.ExtensionNotFound:
            pass
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        check(cn and cn[0].value == spec["cn"], f"root CN {cn}, want {spec['cn']}")

    if kind in ("intermediate", "leaf"):
        parent = x509.load_pem_x509_certificates(open(spec["parent"], "rb").read())[0]
        parent_ski = parent.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        aki = ext(x509.AuthorityKeyIdentifier).value
        check(aki.key_identifier == parent_ski, "AKI is not the issuer's SKI")
        check(aki.authority_cert_issuer is None and aki.authority_cert_serial_number is None,
              "AKI names the issuer by name and serial")
        check(cert.issuer == parent.subject, "issuer name is not the parent's subject")

    if kind == "intermediate":
        try:
            nc = ext(x509.NameConstraints)
            check(spec.get("name_constraint"), "unexpected nameConstraints")
            check(nc.critical, "nameConstraints not critical")
            permitted = [g.value for g in nc.value.permitted_subtrees or []]
            check(permitted == [spec["td"]], f"permitted subtrees {permitted}, want [{spec['td']}]")
        except x509.ExtensionNotFound:
            check(not spec.get("name_constraint"), "no nameConstraints")

    if kind == "leaf":
        check(not bc.value.ca, "leaf has cA=true")
        check(bc.value.path_length is None, "leaf has a pathLen")
        k = ku.value
        check(k.digital_signature, "leaf keyUsage lacks digitalSignature")
        check(not k.key_cert_sign and not k.crl_sign, "leaf keyUsage has keyCertSign or cRLSign")
        key = cert.public_key()
        want_type = {"ec-p256": ec.EllipticCurvePublicKey, "ec-p384": ec.EllipticCurvePublicKey,
                     "rsa-2048": rsa.RSAPublicKey, "rsa-3072": rsa.RSAPublicKey,
                     "rsa-4096": rsa.RSAPublicKey, "ed25519": ed25519.Ed25519PublicKey}[spec["key"]]
        check(isinstance(key, want_type), f"public key {type(key).__name__}, want {spec['key']}")
        if spec["key"].startswith("ec-"):
            check(key.curve.key_size == int(spec["key"][4:]), f"curve {key.curve.name}")
        if spec["key"].startswith("rsa-"):
            check(key.key_size == int(spec["key"][4:]), f"RSA modulus {key.key_size} bits")
            check(k.key_encipherment, "RSA leaf keyUsage lacks keyEncipherment")
        else:
            check(not k.key_encipherment, "non-RSA leaf keyUsage has keyEncipherment")
        ekus = set(ext(x509.ExtendedKeyUsage).value)
        want = set()
        if "server" in spec["usage"].split(","):
            want.add(ExtendedKeyUsageOID.SERVER_AUTH)
        if "client" in spec["usage"].split(","):
            want.add(ExtendedKeyUsageOID.CLIENT_AUTH)
        check(ekus == want, f"EKU {ekus}, want {want}")
        dns = san.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        check(dns == spec.get("dns", []), f"DNS SANs {dns}, want {spec.get('dns', [])}")
        check(ips == spec.get("ip", []), f"IP SANs {ips}, want {spec.get('ip', [])}")
        # RFC 5280 §4.2.1.6: critical SAN exactly when the subject is empty.
        check(ext(x509.SubjectAlternativeName).critical == (len(cert.subject) == 0),
              "SAN criticality does not follow the subject's emptiness")
    print(f"ok: cryptography: {kind} {path}: profile ok")

for line in open(sys.argv[1]):
    kind, path, spec = line.rstrip("\n").split("\t")
    check_one(kind, path, json.loads(spec))
EOF

# profile KIND CERT SPEC_JSON: queues CERT for check_profiles.
: >"$TMP/profiles.tsv"
profile() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$TMP/profiles.tsv"; }
# check_profiles: checks every queued certificate's profile with `cryptography`.
check_profiles() {
  run "$PY" "$TMP/check_cert.py" "$TMP/profiles.tsv"
  cat "$TMP/out"
  [[ $RC -eq 0 ]] || { cat "$TMP/err"; fail "cryptography profile check"; }
  : >"$TMP/profiles.tsv"
}

# ossl_verify WANT DESCRIPTION CERT BUNDLE UNTRUSTED [OPTIONS...]: `openssl verify -x509_strict`
# exits 0 (WANT=ok), or rejects the leaf for one reason (WANT=error:N, N the X509_V_ERR_* code of
# <openssl/x509_vfy.h>, stable across versions): it prints "error N at 0 depth lookup:" (the
# CLI's error line; its text after the colon is OpenSSL's wording, not matched) and no other
# error line, so a chain that fails for an unrelated reason does not count as the wanted one.
ossl_verify() {
  local want=$1 what=$2 cert=$3 bundle=$4 untrusted=$5
  shift 5
  local -a args=(-x509_strict -CAfile "$bundle")
  if [[ -s "$untrusted" ]]; then args+=(-untrusted "$untrusted"); fi
  run openssl verify "${args[@]}" "$@" "$cert"
  if [[ $want == ok ]]; then
    [[ $RC -eq 0 ]] || { show; fail "openssl verify $what: rejected"; }
    pass "openssl verify $what: ok"
    return
  fi
  [[ $want =~ ^error:([0-9]+)$ ]] || fail "ossl_verify: WANT is ok or error:N, not $want"
  local code=${BASH_REMATCH[1]} line
  [[ $RC -ne 0 ]] || { show; fail "openssl verify $what: accepted, want error $code"; }
  line=$(grep -hE '^error [0-9]+ at [0-9]+ depth lookup:' "$TMP/out" "$TMP/err" | sort -u || true)
  [[ $line == "error $code at 0 depth lookup:"* && $line != *$'\n'* ]] ||
    { show; fail "openssl verify $what: want exactly \"error $code at 0 depth lookup\", got: ${line:-none}"; }
  pass "openssl verify $what: $line"
}

now() { date -u +%s; }
HOUR=3600

# ==== ca init ==================================================================================
T=$(now)
mutual_ok "ca init (ec-p256 root)" ca init --trust-domain example.org --out root
profile root root/ca.crt \
  "{\"id\":\"spiffe://example.org\",\"issued_at\":$T,\"ttl\":$((87600 * HOUR)),\"cn\":\"mutual root CA (example.org)\"}"
ossl_verify ok "root (self-signed)" root/ca.crt root/ca.crt ""
[[ $(mode root/ca.key) == 600 ]] || fail "root/ca.key mode $(mode root/ca.key), want 600"
pass "root/ca.key mode 0600"

T=$(now)
mutual_ok "ca init (ec-p384 root, other.org, custom CN, 48h)" ca init --trust-domain other.org \
  --out other-root --key ec-p384 --common-name "Other Root" --ttl 48h
profile root other-root/ca.crt \
  "{\"id\":\"spiffe://other.org\",\"issued_at\":$T,\"ttl\":$((48 * HOUR)),\"cn\":\"Other Root\"}"
ossl_verify ok "ec-p384 root" other-root/ca.crt other-root/ca.crt ""

# A second root for example.org: same trust domain, different key (for unknown_ca).
mutual_ok "ca init (second example.org root, rsa-3072)" ca init --trust-domain example.org \
  --out root-b --key rsa-3072
ossl_verify ok "rsa-3072 root" root-b/ca.crt root-b/ca.crt ""

# Refuses to replace a CA key without --force.
before=$(sha root/ca.key)
bad_input "ca init over an existing ca.key" "already exists.*--force" \
  "$MUTUAL" ca init --trust-domain example.org --out root
[[ $(sha root/ca.key) == "$before" ]] || fail "ca init without --force replaced root/ca.key"
pass "root/ca.key untouched"
mkdir spare && cp root/ca.crt root/ca.key spare/
mutual_ok "ca init --force replaces a CA" ca init --trust-domain example.org --out spare --force
[[ $(sha spare/ca.key) != "$before" ]] || fail "ca init --force kept the old key"
pass "ca init --force wrote a new key"

# Bad input: exit 2, nothing written.
bad_input "ca init --key dsa" "--key.*dsa" \
  "$MUTUAL" ca init --trust-domain example.org --out bad1 --key dsa
bad_input "ca init --ttl 5y" "--ttl" "$MUTUAL" ca init --trust-domain example.org --out bad2 --ttl 5y
bad_input "ca init --ttl -1h" "--ttl" \
  "$MUTUAL" ca init --trust-domain example.org --out bad3 --ttl -1h
bad_input "ca init --trust-domain Example.org" "trust domain" \
  "$MUTUAL" ca init --trust-domain Example.org --out bad4
bad_input "ca init --trust-domain example.org:8443" "trust domain" \
  "$MUTUAL" ca init --trust-domain example.org:8443 --out bad5
bad_input "ca init without --out" "--out" "$MUTUAL" ca init --trust-domain example.org
bad_input "ca init --trust-domain ." "trust domain" \
  "$MUTUAL" ca init --trust-domain . --out bad9
bad_input "ca init --trust-domain a..b" "trust domain" \
  "$MUTUAL" ca init --trust-domain a..b --out bad9
bad_input "ca init --out ''" "--out: must not be empty" \
  "$MUTUAL" ca init --trust-domain example.org --out ''
bad_input "ca intermediate --out ''" "--out: must not be empty" \
  "$MUTUAL" ca intermediate --ca root --out ''
bad_input "cert issue --out ''" "--out: must not be empty" \
  "$MUTUAL" cert issue --ca root --spiffe-id spiffe://example.org/w --out ''
[[ ! -e ca.key && ! -e tls.key && ! -e ca.crt ]] || fail "--out '' wrote into the current directory"
# A TTL so large that notAfter would wrap into the past (292 years): refused, not wrapped.
bad_input "ca init --ttl 2562047h" "--ttl: duration too large" \
  "$MUTUAL" ca init --trust-domain z.org --out bad6 --ttl 2562047h
bad_input "ca intermediate --ttl 8760000h" "--ttl: duration too large" \
  "$MUTUAL" ca intermediate --ca root --out bad7 --ttl 8760000h
bad_input "cert issue --ttl 8760000h" "--ttl: duration too large" \
  "$MUTUAL" cert issue --ca root --spiffe-id spiffe://example.org/w --out bad8 --ttl 8760000h
for d in bad1 bad2 bad3 bad4 bad5 bad6 bad7 bad8 bad9; do
  [[ ! -e $d || -z "$(find "$d" -type f)" ]] || fail "ca init with bad input wrote $(find "$d" -type f)"
done
pass "ca init with bad input wrote nothing"

# ==== ca intermediate ==========================================================================
T=$(now)
mutual_ok "ca intermediate (no path length)" ca intermediate --ca root --out int1
profile intermediate int1/ca.crt \
  "{\"id\":\"spiffe://example.org\",\"issued_at\":$T,\"ttl\":$((8760 * HOUR)),\"parent\":\"root/ca.crt\"}"
ossl_verify ok "intermediate" int1/ca.crt root/ca.crt ""
[[ $(mode int1/ca.key) == 600 ]] || fail "int1/ca.key mode $(mode int1/ca.key), want 600"
pass "int1/ca.key mode 0600"
cmp -s int1/bundle.crt root/ca.crt || fail "int1/bundle.crt is not the root"
cmp -s int1/chain.crt int1/ca.crt || fail "int1/chain.crt is not the intermediate alone"
pass "int1 chain.crt and bundle.crt"

T=$(now)
mutual_ok "ca intermediate --path-len 1 --name-constraint" ca intermediate --ca root --out int-nc \
  --name cluster-nc --path-len 1 --name-constraint --ttl 720h
profile intermediate int-nc/ca.crt \
  "{\"id\":\"spiffe://example.org\",\"issued_at\":$T,\"ttl\":$((720 * HOUR)),\"parent\":\"root/ca.crt\",\"path_len\":1,\"name_constraint\":true,\"td\":\"example.org\"}"
ossl_verify ok "intermediate with pathLen 1 and nameConstraints" int-nc/ca.crt root/ca.crt ""

T=$(now)
mutual_ok "second-level intermediate (ed25519)" ca intermediate --ca int-nc --out int2 \
  --name cluster-2 --key ed25519 --ttl 240h
# Its path length is capped below the parent's (1 - 1 = 0).
profile intermediate int2/ca.crt \
  "{\"id\":\"spiffe://example.org\",\"issued_at\":$T,\"ttl\":$((240 * HOUR)),\"parent\":\"int-nc/ca.crt\",\"path_len\":0}"
ossl_verify ok "second-level intermediate" int2/ca.crt root/ca.crt int-nc/ca.crt
[[ $(grep -c 'BEGIN CERTIFICATE' int2/chain.crt) -eq 2 ]] || fail "int2/chain.crt: want 2 certificates"
pass "int2/chain.crt holds both intermediates"

bad_input "an intermediate under pathLen 0" "path length 0" \
  "$MUTUAL" ca intermediate --ca int2 --out int3
[[ ! -e int3 ]] || fail "a refused intermediate wrote int3"
mutual_ok "ca intermediate --path-len 0" ca intermediate --ca root --out int-pl0 --path-len 0
bad_input "an intermediate under --path-len 0" "path length 0" \
  "$MUTUAL" ca intermediate --ca int-pl0 --out int-pl0-child
bad_input "ca intermediate --ca missing-dir" "missing-dir" \
  "$MUTUAL" ca intermediate --ca missing-dir --out int4
bad_input "ca intermediate --path-len -1" "--path-len: must be 0 or more" \
  "$MUTUAL" ca intermediate --ca root --out int5 --path-len -1
[[ ! -e int5 ]] || fail "a refused --path-len wrote int5"
# Under a parent with path length 1, --path-len 5 becomes 0, with a warning.
mutual_ok "ca intermediate --path-len 5 under path length 1" ca intermediate --ca int-nc \
  --out int-pl5 --path-len 5
grep -q "^warning: .*path length capped: asked for 5, issued 0" "$TMP/err" ||
  { show; fail "--path-len 5 under path length 1: no warning"; }
grep -q "path length  0" "$TMP/out" || { show; fail "--path-len 5 under path length 1: not 0"; }
pass "--path-len above the parent's is capped with a warning"

check_profiles

# ==== cert issue: every key type and usage =====================================================
# Every key type, every usage (each usage with several key types; RSA key generation is slow),
# alternately from the plain intermediate and from the second-level one under nameConstraints.
ID=spiffe://example.org/ns/default/sa/web
for leaf in ec-p256:server:int1 ec-p256:client:int2 ec-p256:server,client:int1 \
  ec-p384:client:int1 ec-p384:server:int2 rsa-2048:server:int2 rsa-3072:server,client:int1 \
  ed25519:client:int1 ed25519:server,client:int2; do
  IFS=: read -r key usage ca <<<"$leaf"
  dir="leaf-$key-${usage/,/-}"
  T=$(now)
  mutual_ok "cert issue --key $key --usage $usage (by $ca)" cert issue --ca "$ca" \
    --spiffe-id "$ID" --key "$key" --usage "$usage" --dns web.example.org --ip 10.0.0.7 \
    --ip 2001:db8::7 --out "$dir"
  profile leaf "$dir/tls.crt" \
    "{\"id\":\"$ID\",\"issued_at\":$T,\"ttl\":$HOUR,\"parent\":\"$ca/ca.crt\",\"key\":\"$key\",\"usage\":\"$usage\",\"dns\":[\"web.example.org\"],\"ip\":[\"10.0.0.7\",\"2001:db8::7\"]}"
  [[ $(mode "$dir/tls.key") == 600 ]] || fail "$dir/tls.key mode $(mode "$dir/tls.key"), want 600"
  cmp -s "$dir/ca.crt" root/ca.crt || fail "$dir/ca.crt is not the root"
  tail_certs "$dir/tls.crt" "$dir/intermediates.pem"
  cmp -s "$dir/intermediates.pem" "$ca/chain.crt" || fail "$dir/tls.crt does not end with $ca's chain"
  pass "$dir: tls.key 0600, ca.crt is the root, tls.crt = leaf + chain"
  case $usage in
    server) ok=(sslserver) bad=(sslclient) ;;
    client) ok=(sslclient) bad=(sslserver) ;;
    *) ok=(sslserver sslclient) bad=() ;;
  esac
  for p in "${ok[@]}"; do
    ossl_verify ok "$dir -purpose $p" "$dir/tls.crt" "$dir/ca.crt" "$dir/intermediates.pem" \
      -purpose "$p"
  done
  for p in "${bad[@]}"; do  # 26: X509_V_ERR_INVALID_PURPOSE
    ossl_verify error:26 "$dir -purpose $p" "$dir/tls.crt" "$dir/ca.crt" "$dir/intermediates.pem" \
      -purpose "$p"
  done
  verify_is 0 "" "mutual cert verify $dir" "$dir/tls.crt" --bundle "$dir/ca.crt" \
    --spiffe-id "$ID" --dns web.example.org
done
L=leaf-ec-p256-server-client  # issued by int1
L2=leaf-ec-p256-client        # issued by int2 (two intermediates)
ossl_verify ok "$L -verify_hostname web.example.org" "$L/tls.crt" "$L/ca.crt" \
  "$L/intermediates.pem" -verify_hostname web.example.org
# 62: X509_V_ERR_HOSTNAME_MISMATCH, 64: X509_V_ERR_IP_ADDRESS_MISMATCH
ossl_verify error:62 "$L -verify_hostname other.example.org" "$L/tls.crt" "$L/ca.crt" \
  "$L/intermediates.pem" -verify_hostname other.example.org
ossl_verify ok "$L -verify_ip 10.0.0.7" "$L/tls.crt" "$L/ca.crt" "$L/intermediates.pem" \
  -verify_ip 10.0.0.7
ossl_verify ok "$L -verify_ip 2001:db8::7" "$L/tls.crt" "$L/ca.crt" "$L/intermediates.pem" \
  -verify_ip 2001:db8::7
ossl_verify error:64 "$L -verify_ip 10.0.0.8" "$L/tls.crt" "$L/ca.crt" "$L/intermediates.pem" \
  -verify_ip 10.0.0.8

# A leaf with neither DNS nor IP SANs, and a custom TTL; one RSA-4096 leaf.
T=$(now)
mutual_ok "cert issue --ttl 30m (URI SAN only)" cert issue --ca int1 \
  --spiffe-id spiffe://example.org/job --ttl 30m --out leaf-bare
profile leaf leaf-bare/tls.crt \
  "{\"id\":\"spiffe://example.org/job\",\"issued_at\":$T,\"ttl\":1800,\"parent\":\"int1/ca.crt\",\"key\":\"ec-p256\",\"usage\":\"server,client\"}"
tail_certs leaf-bare/tls.crt leaf-bare/intermediates.pem
ossl_verify ok "leaf-bare" leaf-bare/tls.crt leaf-bare/ca.crt leaf-bare/intermediates.pem \
  -purpose sslclient
T=$(now)
mutual_ok "cert issue --key rsa-4096 (under the other.org root)" cert issue --ca other-root \
  --spiffe-id spiffe://other.org/db --key rsa-4096 --usage server --out leaf-other
profile leaf leaf-other/tls.crt \
  "{\"id\":\"spiffe://other.org/db\",\"issued_at\":$T,\"ttl\":$HOUR,\"parent\":\"other-root/ca.crt\",\"key\":\"rsa-4096\",\"usage\":\"server\"}"
ossl_verify ok "leaf-other -purpose sslserver" leaf-other/tls.crt leaf-other/ca.crt "" \
  -purpose sslserver
ossl_verify error:26 "leaf-other -purpose sslclient" leaf-other/tls.crt leaf-other/ca.crt "" \
  -purpose sslclient
check_profiles

# Refusals.
bad_input "cert issue outside the CA's trust domain" "outside" \
  "$MUTUAL" cert issue --ca int1 --spiffe-id spiffe://other.org/x --out bad-issue1
bad_input "cert issue --spiffe-id without a path" "no path" \
  "$MUTUAL" cert issue --ca int1 --spiffe-id spiffe://example.org --out bad-issue2
bad_input "cert issue --usage signing" "usage" \
  "$MUTUAL" cert issue --ca int1 --spiffe-id "$ID" --usage signing --out bad-issue3
bad_input "cert issue --ip 10.0.0.300" "10.0.0.300" \
  "$MUTUAL" cert issue --ca int1 --spiffe-id "$ID" --ip 10.0.0.300 --out bad-issue4
bad_input "cert issue --key dsa" "--key" \
  "$MUTUAL" cert issue --ca int1 --spiffe-id "$ID" --key dsa --out bad-issue5
for d in bad-issue1 bad-issue2 bad-issue3 bad-issue4 bad-issue5; do
  [[ ! -e $d || -z "$(find "$d" -type f)" ]] || fail "a refused cert issue wrote $(find "$d" -type f)"
done
pass "refused cert issue commands wrote nothing"

# --dns takes the names `cert verify` and `apply` accept, nothing else.
for name in 'a..b' '' 'f*o.svc' '-bad.svc' 'web.svc.'; do
  bad_input "cert issue --dns '$name'" "--dns: invalid DNS name" \
    "$MUTUAL" cert issue --ca int1 --spiffe-id "$ID" --dns "$name" --out bad-dns
done
[[ ! -e bad-dns ]] || fail "a refused --dns wrote bad-dns"
# A valid DNS name longer than a CN (64) is issued, without a CN, and verifies.
long_dns=$(printf 'a%.0s' {1..60}).svc.x
mutual_ok "cert issue --dns <66 characters>" cert issue --ca int1 --spiffe-id "$ID" \
  --dns "$long_dns" --out long-dns
verify_is 0 "" "cert verify --dns <66 characters>" long-dns/tls.crt --bundle long-dns/ca.crt \
  --dns "$long_dns"
long_cn=$(printf 'c%.0s' {1..65})
bad_input "ca init --common-name <65 characters>" "--common-name: must be at most 64" \
  "$MUTUAL" ca init --trust-domain example.org --out bad-cn --common-name "$long_cn"
bad_input "ca intermediate --name <65 characters>" "--name: must be at most 64" \
  "$MUTUAL" ca intermediate --ca root --out bad-cn --name "$long_cn"
bad_input "ca init --common-name ''" "--common-name: must not be empty" \
  "$MUTUAL" ca init --trust-domain example.org --out bad-cn --common-name ''
[[ ! -e bad-cn ]] || fail "a refused CN wrote bad-cn"
pass "refused names wrote nothing"

# Files are replaced as a set: when one of them cannot be (tls.crt is a directory), the others
# keep their old content, no temporary file is left, and the error names the target.
mutual_ok "cert issue (for the set-write checks)" cert issue --ca int1 --spiffe-id "$ID" \
  --out set-leaf
key_before=$(sha set-leaf/tls.key)
ca_before=$(sha set-leaf/ca.crt)
rm set-leaf/tls.crt && mkdir set-leaf/tls.crt
run "$MUTUAL" cert issue --ca int1 --spiffe-id "$ID" --out set-leaf
[[ $RC -ne 0 ]] || { show; fail "cert issue over a tls.crt directory succeeded"; }
grep -qF "set-leaf/tls.crt" "$TMP/err" && ! grep -qF ".tmp-" "$TMP/err" ||
  { show; fail "cert issue over a tls.crt directory: the error does not name tls.crt"; }
[[ $(sha set-leaf/tls.key) == "$key_before" && $(sha set-leaf/ca.crt) == "$ca_before" ]] ||
  fail "a failed cert issue replaced tls.key or ca.crt"
[[ -z "$(find set-leaf -name '.*.tmp-*')" ]] || fail "a failed cert issue left temporary files"
pass "a failed cert issue left tls.key and ca.crt untouched, no temporary files"
# ca init where ca.crt cannot be written: no orphan ca.key, and a retry works.
mkdir -p set-root/ca.crt
run "$MUTUAL" ca init --trust-domain example.org --out set-root
[[ $RC -ne 0 ]] || { show; fail "ca init over a ca.crt directory succeeded"; }
grep -qF "set-root/ca.crt" "$TMP/err" || { show; fail "ca init: the error does not name ca.crt"; }
[[ ! -e set-root/ca.key && -z "$(find set-root -name '.*.tmp-*')" ]] ||
  fail "a failed ca init left $(find set-root -type f)"
rmdir set-root/ca.crt
mutual_ok "ca init retried once the obstacle is gone" ca init --trust-domain example.org \
  --out set-root
# ca init --force that cannot write ca.crt keeps the old root key.
root_key=$(sha set-root/ca.key)
mv set-root/ca.crt set-root/old.crt && mkdir set-root/ca.crt
run "$MUTUAL" ca init --trust-domain example.org --out set-root --force
[[ $RC -ne 0 && $(sha set-root/ca.key) == "$root_key" ]] ||
  { show; fail "a failed ca init --force replaced the root key"; }
pass "a failed ca init --force kept the root key"

# A leaf's directory is no CA.
mkdir leaf-as-ca
cp "$L/tls.crt" leaf-as-ca/ca.crt
cp "$L/tls.key" leaf-as-ca/ca.key
bad_input "ca intermediate --ca <a leaf>" "not a CA" \
  "$MUTUAL" ca intermediate --ca leaf-as-ca --out from-leaf
bad_input "cert issue --ca <a leaf>" "not a CA" \
  "$MUTUAL" cert issue --ca leaf-as-ca --spiffe-id "$ID" --out from-leaf2
[[ ! -e from-leaf && ! -e from-leaf2 ]] || fail "signing with a leaf wrote files"

# ==== cert verify ==============================================================================
V=("$L/tls.crt" --bundle "$L/ca.crt")
expect 0 "cert verify (text)" "$MUTUAL" cert verify "${V[@]}"
grep -q "^OK .*$ID" "$TMP/out" || { show; fail "cert verify text: no OK line with the ID"; }
pass "cert verify text names the SPIFFE ID"
verify_is 0 "" "cert verify (json)" "${V[@]}"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["spiffe_id"]==sys.argv[2] and v["profile"]=="x509-svid" and len(v["chain"])==3, v' \
  "$TMP/out" "$ID" || fail "cert verify json: spiffe_id/profile/chain"
pass "cert verify json: spiffe_id, profile x509-svid, 3-certificate chain"
verify_is 0 "" "cert verify, two intermediates" "$L2/tls.crt" --bundle "$L2/ca.crt"
# The chain may also come separately.
head -n "$(grep -n 'END CERTIFICATE' "$L2/tls.crt" | head -1 | cut -d: -f1)" "$L2/tls.crt" >leaf-only.pem
verify_is 1 unknown_ca "cert verify, leaf without its intermediates" leaf-only.pem \
  --bundle "$L2/ca.crt"
verify_is 0 "" "cert verify --untrusted" leaf-only.pem --bundle "$L2/ca.crt" \
  --untrusted "$L2/intermediates.pem"
verify_is 0 "" "cert verify --spiffe-id (match)" "${V[@]}" --spiffe-id "$ID"
verify_is 0 "" "cert verify --spiffe-id x2 (one matches)" "${V[@]}" \
  --spiffe-id spiffe://example.org/other --spiffe-id "$ID"
verify_is 1 id_not_allowed "cert verify --spiffe-id (other ID)" "${V[@]}" \
  --spiffe-id spiffe://example.org/ns/default/sa/db
verify_is 0 "" "cert verify --trust-domain example.org" "${V[@]}" --trust-domain example.org
verify_is 1 trust_domain_mismatch "cert verify --trust-domain other.org" "${V[@]}" \
  --trust-domain other.org
verify_is 1 expired "cert verify --at after notAfter (RFC 3339)" "${V[@]}" \
  --at "$(date -u -d @$(($(now) + 2 * HOUR)) +%Y-%m-%dT%H:%M:%SZ)"
verify_is 1 expired "cert verify --at after notAfter (Unix)" "${V[@]}" --at $(($(now) + 2 * HOUR))
verify_is 0 "" "cert verify --at in 30 minutes" "${V[@]}" --at $(($(now) + 1800))
verify_is 1 not_yet_valid "cert verify --at before notBefore" "${V[@]}" \
  --at "$(date -u -d @$(($(now) - HOUR)) +%Y-%m-%dT%H:%M:%SZ)"
verify_is 1 unknown_ca "cert verify against another example.org root" "$L/tls.crt" \
  --bundle root-b/ca.crt
# other.org's root names its trust domain: --trust-domain does not make it example.org's.
verify_is 1 unknown_trust_domain "cert verify against other.org's root as example.org's" \
  "$L/tls.crt" --bundle other-root/ca.crt --trust-domain example.org
verify_is 1 unknown_trust_domain "cert verify against only other.org's root" "$L/tls.crt" \
  --bundle other-root/ca.crt
cat root/ca.crt other-root/ca.crt >two-roots.pem
verify_is 0 "" "cert verify, bundle of two trust domains" "$L/tls.crt" --bundle two-roots.pem
verify_is 0 "" "cert verify other.org leaf, bundle of two trust domains" leaf-other/tls.crt \
  --bundle two-roots.pem
# A leaf claiming example.org, signed by other.org's root: no flag and no bundle format lets
# one trust domain's root vouch for another's IDs.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cross.key \
  -subj /O=x -out cross.csr 2>/dev/null
printf 'subjectAltName=URI:spiffe://example.org/ns/shop/sa/web\nkeyUsage=critical,digitalSignature\n' \
  >cross.ext
openssl x509 -req -in cross.csr -CA other-root/ca.crt -CAkey other-root/ca.key -set_serial 7 \
  -days 1 -extfile cross.ext -out cross.crt 2>/dev/null || fail "openssl: the cross-domain leaf"
verify_is 1 unknown_trust_domain "cert verify example.org leaf signed by other.org's root" \
  cross.crt --bundle other-root/ca.crt
verify_is 1 unknown_trust_domain "... with --trust-domain example.org" cross.crt \
  --bundle other-root/ca.crt --trust-domain example.org
verify_is 1 unknown_ca "... with both roots and --trust-domain example.org" cross.crt \
  --bundle two-roots.pem --trust-domain example.org
python3 - other-root/ca.crt >other-root.json <<'PY'
import base64, json, re, sys
der = base64.b64decode("".join(re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END",
                                         open(sys.argv[1]).read(), re.S).group(1).split()))
# An x509-svid key is read from its certificate (x5c); its coordinates are left empty here.
print(json.dumps({"keys": [{"use": "x509-svid", "kty": "EC", "crv": "P-384",
                            "x": "", "y": "", "x5c": [base64.b64encode(der).decode()]}]}))
PY
verify_is 1 unknown_trust_domain "... against other.org's root as a SPIFFE bundle" cross.crt \
  --bundle other-root.json
# --max-intermediates holds for X509-SVIDs as for plain X.509 ($L2 has two).
verify_is 1 chain_too_long "cert verify --max-intermediates 1 (X509-SVID, two intermediates)" \
  "$L2/tls.crt" --bundle "$L2/ca.crt" --max-intermediates 1
verify_is 1 chain_too_long "cert verify --max-intermediates 0 (X509-SVID)" "$L2/tls.crt" \
  --bundle "$L2/ca.crt" --max-intermediates 0
verify_is 1 wrong_purpose "cert verify --purpose server (client-only leaf)" \
  leaf-ec-p384-client/tls.crt --bundle root/ca.crt --purpose server
verify_is 0 "" "cert verify --purpose client (client-only leaf)" \
  leaf-ec-p384-client/tls.crt --bundle root/ca.crt --purpose client
verify_is 1 wrong_purpose "cert verify --purpose client (server-only leaf)" \
  leaf-rsa-2048-server/tls.crt --bundle root/ca.crt --purpose client
verify_is 0 "" "cert verify --purpose server (server,client leaf)" "${V[@]}" --purpose server
verify_is 0 "" "cert verify --dns web.example.org" "${V[@]}" --dns web.example.org
verify_is 1 name_mismatch "cert verify --dns other.example.org" "${V[@]}" --dns other.example.org
verify_is 1 name_mismatch "cert verify --dns on a leaf without DNS SANs" leaf-bare/tls.crt \
  --bundle leaf-bare/ca.crt --dns web.example.org
verify_is 0 "" "cert verify --max-intermediates 2 (two intermediates)" "$L2/tls.crt" \
  --bundle "$L2/ca.crt" --max-intermediates 2
expect 1 "cert verify invalid (text)" "$MUTUAL" cert verify "${V[@]}" --spiffe-id spiffe://example.org/x
grep -q '^INVALID .*\[id_not_allowed\]' "$TMP/out" || { show; fail "text verdict lacks [id_not_allowed]"; }
pass "cert verify text: INVALID ... [id_not_allowed]"
# The root itself is no X509-SVID: its ID has no path.
verify_is 1 id_without_path "cert verify of the root CA as a leaf" root/ca.crt --bundle root/ca.crt

# Bad input: exit 2.
bad_input "cert verify missing file" "no-such.pem" \
  "$MUTUAL" cert verify no-such.pem --bundle root/ca.crt
head -c 300 /dev/urandom >garbage.bin
bad_input "cert verify garbage file" "garbage.bin" \
  "$MUTUAL" cert verify garbage.bin --bundle root/ca.crt
echo "hello, not a certificate" >garbage.pem
bad_input "cert verify text file" "garbage.pem" "$MUTUAL" cert verify garbage.pem --bundle root/ca.crt
head -c 400 "$L/tls.crt" >truncated.pem
bad_input "cert verify truncated PEM" "truncated.pem" \
  "$MUTUAL" cert verify truncated.pem --bundle root/ca.crt
bad_input "cert verify garbage bundle" "garbage.pem" \
  "$MUTUAL" cert verify "$L/tls.crt" --bundle garbage.pem
bad_input "cert verify missing bundle" "no-such-bundle" \
  "$MUTUAL" cert verify "$L/tls.crt" --bundle no-such-bundle.pem
bad_input "cert verify --at yesterday" "--at" "$MUTUAL" cert verify "${V[@]}" --at yesterday
bad_input "cert verify --at 2026-13-01T00:00:00Z" "--at" \
  "$MUTUAL" cert verify "${V[@]}" --at 2026-13-01T00:00:00Z
bad_input "cert verify --spiffe-id with a port" "--spiffe-id.*port" \
  "$MUTUAL" cert verify "${V[@]}" --spiffe-id spiffe://example.org:443/x
bad_input "cert verify --spiffe-id https://" "--spiffe-id" \
  "$MUTUAL" cert verify "${V[@]}" --spiffe-id https://example.org/x
bad_input "cert verify --trust-domain with uppercase" "--trust-domain" \
  "$MUTUAL" cert verify "${V[@]}" --trust-domain Example.org
bad_input "cert verify --purpose email" "--purpose" "$MUTUAL" cert verify "${V[@]}" --purpose email
bad_input "cert verify -o yaml" "yaml" "$MUTUAL" cert verify "${V[@]}" -o yaml
bad_input "cert verify --ip on an X509-SVID" "--ip" "$MUTUAL" cert verify "${V[@]}" --ip 10.0.0.7
bad_input "cert verify without --bundle" "--bundle" "$MUTUAL" cert verify "$L/tls.crt"

# ==== the deliberately bad fixtures ============================================================
PKI="$TMP/pki"
run bash "$ROOT/test/fixtures/make-pki.sh" "$PKI"
[[ $RC -eq 0 ]] || { show; fail "test/fixtures/make-pki.sh"; }
pass "test/fixtures/make-pki.sh generated the fixture PKI"
B=(--bundle "$PKI/bundle.pem")
I=(--untrusted "$PKI/intermediate.crt")
verify_is 0 "" "fixture web-chain.pem" "$PKI/web-chain.pem" "${B[@]}" \
  --spiffe-id spiffe://example.org/ns/default/sa/web --dns web.default.svc --purpose server
verify_is 0 "" "fixture web.crt + --untrusted intermediate" "$PKI/web.crt" "${I[@]}" "${B[@]}"
verify_is 0 "" "fixture other-web.crt" "$PKI/other-web.crt" --bundle "$PKI/other-root.crt"
verify_is 1 expired "fixture bad-expired" "$PKI/bad-expired.crt" "${I[@]}" "${B[@]}"
verify_is 1 not_yet_valid "fixture bad-not-yet-valid" "$PKI/bad-not-yet-valid.crt" "${I[@]}" "${B[@]}"
verify_is 1 unknown_trust_domain "fixture bad-wrong-trust-domain (example.org bundle)" \
  "$PKI/bad-wrong-trust-domain.crt" "${I[@]}" "${B[@]}"
verify_is 1 trust_domain_mismatch "fixture bad-wrong-trust-domain --trust-domain example.org" \
  "$PKI/bad-wrong-trust-domain.crt" "${I[@]}" "${B[@]}" --trust-domain example.org
cat "$PKI/bundle.pem" "$PKI/other-root.crt" >"$PKI/both.pem"
verify_is 1 unknown_ca "fixture bad-wrong-trust-domain (both trust domains' roots)" \
  "$PKI/bad-wrong-trust-domain.crt" "${I[@]}" --bundle "$PKI/both.pem"
verify_is 1 unknown_trust_domain "fixture other-web.crt against example.org's bundle" \
  "$PKI/other-web.crt" "${B[@]}"
verify_is 1 leaf_is_ca "fixture bad-ca-as-leaf" "$PKI/bad-ca-as-leaf.crt" "${I[@]}" "${B[@]}"
verify_is 1 multiple_uri_sans "fixture bad-two-uri-sans" "$PKI/bad-two-uri-sans.crt" "${I[@]}" "${B[@]}"
verify_is 1 no_uri_san "fixture bad-no-uri-san --trust-domain example.org" \
  "$PKI/bad-no-uri-san.crt" "${I[@]}" "${B[@]}" --trust-domain example.org
verify_is 1 no_uri_san "fixture bad-no-uri-san --spiffe-id" "$PKI/bad-no-uri-san.crt" "${I[@]}" \
  "${B[@]}" --spiffe-id spiffe://example.org/ns/default/sa/web
verify_is 1 invalid_spiffe_id "fixture bad-id-with-port" "$PKI/bad-id-with-port.crt" "${I[@]}" "${B[@]}"
grep -q port "$TMP/out" || { show; fail "bad-id-with-port: the message does not mention the port"; }
pass "fixture bad-id-with-port: the message mentions the port"
verify_is 1 leaf_key_cert_sign "fixture bad-key-cert-sign" "$PKI/bad-key-cert-sign.crt" "${I[@]}" \
  "${B[@]}"
verify_is 1 issuer_cannot_sign "fixture bad-under-no-key-cert-sign" "$PKI/bad-under-no-key-cert-sign.crt" \
  --untrusted "$PKI/bad-intermediate-no-key-cert-sign.crt" "${B[@]}"
verify_is 1 id_without_path "fixture intermediate.crt as a leaf" "$PKI/intermediate.crt" "${B[@]}"
# Without an expected ID, a certificate with no SPIFFE ID gets plain X.509 verification, whose
# own leaf rules still apply.
verify_is 0 "" "fixture bad-no-uri-san as plain X.509" "$PKI/bad-no-uri-san.crt" "${I[@]}" "${B[@]}" \
  --dns web.default.svc --purpose server
run "$MUTUAL" cert verify "$PKI/bad-no-uri-san.crt" "${I[@]}" "${B[@]}" -o json
python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["profile"]=="x509" and v["spiffe_id"] is None, v' \
  "$TMP/out" || fail "plain X.509 verdict: profile/spiffe_id"
pass "plain X.509 verdict: profile x509, no spiffe_id"
# The fixtures also pass (or fail) openssl's own checks the same way, so they are well formed.
ossl_verify ok "fixture web.crt" "$PKI/web.crt" "$PKI/bundle.pem" "$PKI/intermediate.crt" \
  -purpose sslserver
# 10: X509_V_ERR_CERT_HAS_EXPIRED
ossl_verify error:10 "fixture bad-expired" "$PKI/bad-expired.crt" "$PKI/bundle.pem" \
  "$PKI/intermediate.crt"

# ==== cert inspect =============================================================================
expect 0 "cert inspect (text)" "$MUTUAL" cert inspect "$L/tls.crt"
for text in "$ID" "expires in" "Key usage" "digitalSignature" "web.example.org" "10.0.0.7" \
  "Certificate 1 of 2"; do
  grep -qF -- "$text" "$TMP/out" || { show; fail "cert inspect text lacks \"$text\""; }
done
pass "cert inspect text: SPIFFE ID, expires in, key usage, SANs, 2 certificates"
expect 0 "cert inspect -o json" "$MUTUAL" cert inspect "$L/tls.crt" -o json
python3 - "$TMP/out" "$ID" <<'EOF' || fail "cert inspect json"
import json, sys
doc = json.load(open(sys.argv[1]))
certs = doc["certificates"]
assert len(certs) == 2, len(certs)
leaf = certs[0]
assert leaf["spiffe_id"] == sys.argv[2], leaf["spiffe_id"]
assert leaf["dns_names"] == ["web.example.org"], leaf["dns_names"]
assert 3000 < leaf["remaining_seconds"] <= 3600, leaf["remaining_seconds"]
assert leaf["role"] == "leaf" and leaf["is_ca"] is False, leaf
assert "digitalSignature" in leaf["key_usage"], leaf["key_usage"]
assert certs[1]["role"] == "intermediate", certs[1]
EOF
pass "cert inspect json: spiffe_id, dns_names, remaining_seconds, roles"
expect 0 "cert inspect root (DER too)" "$MUTUAL" cert inspect root/ca.crt
openssl x509 -in root/ca.crt -outform DER -out root.der
expect 0 "cert inspect DER" "$MUTUAL" cert inspect root.der -o json
bad_input "cert inspect garbage" "garbage.bin" "$MUTUAL" cert inspect garbage.bin
bad_input "cert inspect missing file" "no-such.pem" "$MUTUAL" cert inspect no-such.pem
bad_input "cert inspect truncated PEM" "truncated.pem" "$MUTUAL" cert inspect truncated.pem

# ==== demo =====================================================================================
mutual_ok "demo into a new --dir" demo --dir demo-dir
demo_key=$(sha demo-dir/root/ca.key)
bad_input "demo into a --dir that holds its CA keys" "demo-dir/root/ca.key already exists.*--dir" \
  "$MUTUAL" demo --dir demo-dir
[[ $(sha demo-dir/root/ca.key) == "$demo_key" ]] || fail "a refused demo replaced root/ca.key"
mkdir -p demo-cluster/cluster-1 && cp int1/ca.key demo-cluster/cluster-1/ca.key
bad_input "demo into a --dir with cluster-1/ca.key" "cluster-1/ca.key already exists" \
  "$MUTUAL" demo --dir demo-cluster
cmp -s int1/ca.key demo-cluster/cluster-1/ca.key && [[ ! -e demo-cluster/root ]] ||
  fail "a refused demo wrote into demo-cluster"
pass "a refused demo left the existing keys alone"

# ==== cert expiry ==============================================================================
mkdir watch
cp -r "$L" watch/web           # a 1 h leaf (+ its chain and the root)
cp -r int1 watch/int1          # a 1-year intermediate
cp garbage.pem watch/notes.txt  # not a certificate: skipped inside folders
expect 1 "cert expiry --warn 2h (1 h leaf) exits 1" "$MUTUAL" cert expiry watch --warn 2h
sed -n 2p "$TMP/out" | grep -Eq '^EXPIRING .*watch/web/tls.crt' ||
  { show; fail "cert expiry: the 1 h leaf is not listed first as EXPIRING"; }
pass "cert expiry lists the 1 h leaf first, EXPIRING"
expect 0 "cert expiry --warn 30m exits 0" "$MUTUAL" cert expiry watch --warn 30m
expect 1 "cert expiry -o json" "$MUTUAL" cert expiry watch --warn 2h -o json
python3 - "$TMP/out" <<'EOF' || fail "cert expiry json"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["warn_seconds"] == 7200, doc["warn_seconds"]
certs = doc["certificates"]
left = [c["remaining_seconds"] for c in certs]
assert left == sorted(left), f"not soonest first: {left}"
assert certs[0]["status"] == "expiring" and certs[0]["file"].endswith("web/tls.crt"), certs[0]
assert all(c["status"] == "ok" for c in certs[1:]), [c["status"] for c in certs]
EOF
pass "cert expiry json: soonest first, statuses"
expect 1 "cert expiry of an expired fixture" "$MUTUAL" cert expiry "$PKI/bad-expired.crt"
grep -q '^EXPIRED' "$TMP/out" || { show; fail "cert expiry: no EXPIRED row"; }
pass "cert expiry: EXPIRED row"
bad_input "cert expiry garbage file named explicitly" "garbage.pem" \
  "$MUTUAL" cert expiry watch garbage.pem
# Inside a folder, files that mention a PEM certificate but are none are skipped with a warning
# naming them; the table and the exit code cover the real certificates.
mkdir odd && cp -r int1 odd/int1
printf 'Paste it between\n-----BEGIN CERTIFICATE-----\nand the END line.\n' >odd/README.txt
head -c 300 int1/ca.crt >odd/truncated.pem
{ head -c 64 /dev/urandom; echo "-----BEGIN CERTIFICATE-----"; head -c 64 /dev/urandom; } \
  >odd/blob.bin
expect 0 "cert expiry of a folder with odd files" "$MUTUAL" cert expiry odd --warn 1h
grep -q "odd/int1/ca.crt" "$TMP/out" || { show; fail "cert expiry odd: no table"; }
for f in README.txt truncated.pem blob.bin; do
  grep -q "^mutual: warning: skipped odd/$f: " "$TMP/err" ||
    { show; fail "cert expiry odd: no warning for $f"; }
done
pass "cert expiry skips odd files in folders with a warning each"
expect 1 "cert expiry of a folder with odd files, an expiring CA" \
  "$MUTUAL" cert expiry odd --warn 87600h
bad_input "cert expiry truncated file named explicitly" "truncated.pem" \
  "$MUTUAL" cert expiry odd odd/truncated.pem
bad_input "cert expiry missing path" "no-such" "$MUTUAL" cert expiry no-such
bad_input "cert expiry --warn soon" "--warn" "$MUTUAL" cert expiry watch --warn soon

# ==== without the control-plane module (src/app/README.md) ======================================
# `server` and `agent` say where the module was looked for; the local commands do not need it.
nomod=(env "MUTUAL_CONTROL_MODULE=$TMP/no-such-module.so")
expect 1 "server without the control-plane module" "${nomod[@]}" "$MUTUAL" server healthcheck
grep -qF "mutual-control.so) is not installed; looked at $TMP/no-such-module.so" "$TMP/err" ||
  { show; fail "server without the module: the error does not say where it looked"; }
# With SPIFFE_ENDPOINT_SOCKET unset, a module that loaded would stop at the missing address
# (exit 2) rather than at a connect failure (exit 1): only the module message gives exit 1.
expect 1 "agent without the control-plane module" env -u SPIFFE_ENDPOINT_SOCKET \
  "MUTUAL_CONTROL_MODULE=$TMP/no-such-module.so" "$MUTUAL" agent api fetch x509
grep -qF "mutual-control.so) is not installed; looked at $TMP/no-such-module.so" "$TMP/err" ||
  { show; fail "agent without the module: the error does not say where it looked"; }
expect 0 "cert inspect without the control-plane module" "${nomod[@]}" "$MUTUAL" cert inspect "$L/tls.crt"
expect 0 "help without the control-plane module" "${nomod[@]}" "$MUTUAL" --help
# A proxy that takes its identity from the Workload API needs the module: `validate` says so,
# and `run` stops before it listens.
cat >"$TMP/api-proxy.yaml" <<EOF
workload: {namespace: shop, name: cart, service_account: cart}
trust_domain: example.org
credentials: {workload_api: {socket: unix://$TMP/no-agent.sock}}
inbound: [{port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:9}]
admin: 127.0.0.1:0
EOF
expect 1 "proxy validate (workload_api) without the control-plane module" "${nomod[@]}" \
  "$MUTUAL" proxy validate -c "$TMP/api-proxy.yaml"
grep -qF "mutual-control.so) is not installed" "$TMP/err" || { show; fail "proxy validate: no reason"; }
expect 1 "proxy run (workload_api) without the control-plane module" "${nomod[@]}" timeout 20 \
  "$MUTUAL" proxy run -c "$TMP/api-proxy.yaml"
grep -qF "mutual-control.so) is not installed" "$TMP/err" || { show; fail "proxy run: no reason"; }
if grep -q "admin http://" "$TMP/err" "$TMP/out"; then show; fail "proxy run: listened before failing"; fi
# The installed layout (`cmake --install`): bin/mutual finds lib/mutual/mutual-control.so.
mkdir -p "$TMP/prefix/bin" "$TMP/prefix/lib/mutual"
cp "$MUTUAL" "$TMP/prefix/bin/mutual"
cp "$(dirname "$MUTUAL")/mutual-control.so" "$TMP/prefix/lib/mutual/"
expect 0 "installed layout: bin/mutual loads lib/mutual/mutual-control.so" \
  "$TMP/prefix/bin/mutual" server entry --help
grep -q "Registration entries" "$TMP/out" || { show; fail "installed layout: no server commands"; }
rm -r "$TMP/prefix"
echo not-a-module >"$TMP/bad-module.so"
expect 1 "server with a file that is not the module" env "MUTUAL_CONTROL_MODULE=$TMP/bad-module.so" \
  "$MUTUAL" server healthcheck
grep -qF "cannot load the control-plane module $TMP/bad-module.so" "$TMP/err" ||
  { show; fail "a broken module: the error does not name it"; }

echo "PASS: pki_cli_test ($(date -u +%H:%M:%S))"
