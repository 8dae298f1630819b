#!/usr/bin/env bash
# Regenerates the checked-in seed corpora under fuzz/corpus/<target>/: a few valid and invalid
# inputs per fuzzer. Certificates and keys come from the openssl command line; their validity
# dates do not matter to the parsers. Run from anywhere; needs openssl and base64.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- spiffe_id --------------------------------------------------------------------------------
d=$here/spiffe_id
rm -rf "$d" && mkdir -p "$d"
put() { printf '%s' "$2" >"$d/$1"; }
put valid_workload 'spiffe://example.org/ns/default/sa/web'
put valid_trust_domain_only 'spiffe://example.org'
put valid_all_chars 'spiffe://a-b_c.9/Seg-1_x.y/Z'
put invalid_uppercase_td 'spiffe://Example.org/a'
put invalid_port 'spiffe://example.org:8443/a'
put invalid_userinfo 'spiffe://user@example.org/a'
put invalid_dot_segment 'spiffe://example.org/a/../b'
put invalid_empty_segment 'spiffe://example.org/a//b'
put invalid_trailing_slash 'spiffe://example.org/a/'
put invalid_percent 'spiffe://example.org/a%20b'
put invalid_query 'spiffe://example.org/a?x=1#f'
put invalid_scheme 'https://example.org/a'
put invalid_no_td 'spiffe:///a'
put bare_trust_domain 'example.org'
put bare_path '/ns/default/sa/web'

# ---- duration ---------------------------------------------------------------------------------
d=$here/duration
rm -rf "$d" && mkdir -p "$d"
put valid_hours_minutes '1h30m'
put valid_ten_years '87600h'
put valid_fraction '1.5h'
put valid_millis '2500ms'
put valid_zero '0'
put valid_plus '+90s'
put invalid_negative '-5m'
put invalid_no_unit '5'
put invalid_unit '3d'
put invalid_two_dots '1.2.3h'
put invalid_huge '99999999999999999999999h'
put invalid_empty ''

# ---- pem --------------------------------------------------------------------------------------
d=$here/pem
rm -rf "$d" && mkdir -p "$d"
cd "$tmp"
openssl ecparam -name prime256v1 -genkey -noout -out ca.ec.pem
openssl req -x509 -new -key ca.ec.pem -subj '/O=mutual/CN=fuzz root' -days 3650 \
  -addext 'basicConstraints=critical,CA:true' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
  -addext 'subjectAltName=URI:spiffe://example.org' \
  -addext 'nameConstraints=critical,permitted;URI:example.org' -out ca.crt 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key 2>/dev/null
openssl req -new -key leaf.key -subj '/O=mutual' -out leaf.csr 2>/dev/null
cat >leaf.ext <<'EOF'
basicConstraints=critical,CA:false
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=critical,URI:spiffe://example.org/ns/default/sa/web,DNS:web.default.svc,IP:10.0.0.1,IP:::1,email:ops@example.org
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.ec.pem -set_serial 0x7f0102030405060708090a0b0c0d0e0f \
  -days 1 -extfile leaf.ext -out leaf.crt 2>/dev/null
# notAfter in year 9999: RFC 5280's "no well-defined expiration date" is 99991231235959Z.
days=$(( ($(date -u -d 9999-12-30 +%s) - $(date -u +%s)) / 86400 ))
openssl req -x509 -new -key ca.ec.pem -subj '/CN=forever' -days "$days" -out forever.crt
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa.key 2>/dev/null
openssl req -x509 -new -key rsa.key -subj '/CN=rsa' -days 1 -sha256 -out rsa.crt 2>/dev/null
openssl genpkey -algorithm ED25519 -out ed.key
openssl req -x509 -new -key ed.key -subj '/CN=ed25519' -days 1 -out ed.crt
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key 2>/dev/null

cp leaf.crt "$d/valid_leaf.pem"
cat leaf.crt ca.crt >"$d/valid_chain.pem"
openssl x509 -in leaf.crt -outform DER >"$d/valid_leaf.der"
cat "$d/valid_leaf.der" <(openssl x509 -in ca.crt -outform DER) >"$d/valid_chain.der"
cp forever.crt "$d/valid_not_after_9999.pem"
cp rsa.crt "$d/valid_rsa.pem"
cp ed.crt "$d/valid_ed25519.pem"
cat leaf.key leaf.crt >"$d/valid_key_then_cert.pem"
cp leaf.key "$d/key_ec_p256_pkcs8.pem"
openssl ec -in leaf.key -out "$d/key_ec_p256_traditional.pem" 2>/dev/null
openssl ec -in leaf.key -conv_form compressed -out "$d/key_ec_p256_compressed.pem" 2>/dev/null
openssl ec -in leaf.key -no_public -out "$d/key_ec_p256_no_public.pem" 2>/dev/null
openssl ec -in leaf.key -param_enc explicit -out "$d/key_ec_p256_explicit.pem" 2>/dev/null
cp p384.key "$d/key_ec_p384.pem"
cp ed.key "$d/key_ed25519.pem"
cp rsa.key "$d/key_rsa.pem"
openssl pkcs8 -topk8 -in leaf.key -passout pass:x -out "$d/key_encrypted.pem" 2>/dev/null
head -c 300 leaf.crt >"$d/invalid_truncated.pem"
sed '3s/./#/' leaf.crt >"$d/invalid_bad_base64.pem"
head -c 200 "$d/valid_leaf.der" >"$d/invalid_truncated.der"
printf 'not a certificate\n' >"$d/invalid_text"

# ---- bundle -----------------------------------------------------------------------------------
d=$here/bundle
rm -rf "$d" && mkdir -p "$d"
ca_b64=$(openssl x509 -in ca.crt -outform DER | base64 -w0)
rsa_b64=$(openssl x509 -in rsa.crt -outform DER | base64 -w0)
cat >"$d/valid_one_authority.json" <<EOF
{"keys":[{"kty":"EC","crv":"P-256","use":"x509-svid","x5c":["$ca_b64"]}],"spiffe_sequence":7,"spiffe_refresh_hint":300}
EOF
cat >"$d/valid_with_jwt.json" <<EOF
{
  "keys": [
    {"kty": "RSA", "use": "x509-svid", "x5c": ["$rsa_b64"]},
    {"kty": "EC", "use": "jwt-svid", "kid": "k1", "crv": "P-256", "x": "AAAA", "y": "BBBB"},
    {"kty": "EC", "use": "something-new", "x5c": []}
  ]
}
EOF
printf '{"keys":[]}' >"$d/valid_empty_keys.json"
printf '{"keys":[{"kty":"EC"}]}' >"$d/valid_no_use.json"
printf '{}' >"$d/invalid_no_keys.json"
printf '{"keys":{}}' >"$d/invalid_keys_not_array.json"
cat >"$d/invalid_two_x5c.json" <<EOF
{"keys":[{"kty":"EC","use":"x509-svid","x5c":["$ca_b64","$ca_b64"]}]}
EOF
cat >"$d/invalid_kid_on_x509.json" <<EOF
{"keys":[{"kty":"EC","use":"x509-svid","kid":"a","x5c":["$ca_b64"]}]}
EOF
printf '{"keys":[{"kty":"EC","use":"x509-svid","x5c":["!!notbase64"]}]}' >"$d/invalid_bad_base64.json"
printf '{"keys":[{"kty":"EC","use":"jwt-svid"}]}' >"$d/invalid_jwt_without_kid.json"
printf '{"keys":[],"spiffe_sequence":-1}' >"$d/invalid_negative_sequence.json"
printf '{"keys":[' >"$d/invalid_truncated.json"
# A jwt-svid key nested 1000 deep (the parser refuses past 32; dump() used to recurse on it).
{
  printf '{"keys":[{"kty":"EC","use":"jwt-svid","kid":"deep","x":'
  printf '%.0s[' $(seq 1000)
  printf '%.0s]' $(seq 1000)
  printf '}]}'
} >"$d/invalid_deep_nesting.json"
cp ca.crt "$d/pem_bundle.pem"

# ---- csr --------------------------------------------------------------------------------------
d=$here/csr
rm -rf "$d" && mkdir -p "$d"
csr() {  # csr NAME OPENSSL_KEY_ARGS...
  local name=$1
  shift
  openssl req -new -nodes -newkey "$@" -keyout "$tmp/$name.key" -subj / -outform DER \
    -out "$d/$name.der" 2>/dev/null
}
csr p256 ec -pkeyopt ec_paramgen_curve:P-256
csr p384 ec -pkeyopt ec_paramgen_curve:P-384
csr rsa2048 rsa:2048
csr ed25519 ed25519
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$tmp/san.key" \
  -subj /CN=web -addext subjectAltName=URI:spiffe://example.org/web -outform DER \
  -out "$d/p256_with_san.der" 2>/dev/null
head -c 100 "$d/p256.der" >"$d/invalid_truncated.der"
cp "$d/p256.der" "$d/invalid_bad_signature.der"
printf '\x01' | dd of="$d/invalid_bad_signature.der" bs=1 seek=$(($(stat -c %s "$d/p256.der") - 2)) \
  conv=notrunc 2>/dev/null

echo "seed corpora written under $here"
