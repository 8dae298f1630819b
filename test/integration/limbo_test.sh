#!/usr/bin/env bash
# x509-limbo conformance of `mutual cert verify` (the plain X.509 path, crypto::verifyChain):
# every core limbo SERVER case must give the expected verdict, except the ones listed in
# limbo_known_failures.txt (each with its reason; docs/conformance.md has the full story).
#   limbo_test.sh MUTUAL_BINARY REPO_ROOT
# The limbo data and harness live outside the repository, in $MUTUAL_SHARED_DIR (default
# REPO_ROOT/../shared) under conformance/limbo; without them the test is skipped (exit 0).
# A rejection must be exit 1, the documented "invalid" code of `mutual cert verify` (docs/cli.md:
# 0 valid, 1 invalid, 2 bad input): an expected-FAILURE case that exits 2 (the validator refused
# its input) or anything else is a failure, unless the case is listed.
# Exits non-zero on any unexpected failure, and on a listed failure that now passes (so the list
# stays exact).
set -euo pipefail

MUTUAL=${1:?usage: limbo_test.sh MUTUAL_BINARY REPO_ROOT}
ROOT=${2:?usage: limbo_test.sh MUTUAL_BINARY REPO_ROOT}
SHARED=${MUTUAL_SHARED_DIR:-$ROOT/../shared}
LIMBO="$SHARED/conformance/limbo"
KNOWN="$ROOT/test/integration/limbo_known_failures.txt"

if [[ ! -f "$LIMBO/run_limbo.py" || ! -f "$LIMBO/limbo.json" ]]; then
  echo "SKIP: ../shared/conformance/limbo not found (x509-limbo data lives outside the repository)"
  exit 0
fi
[[ -x "$MUTUAL" ]] || { echo "FAIL: $MUTUAL is not executable" >&2; exit 1; }
[[ -f "$KNOWN" ]] || { echo "FAIL: $KNOWN not found" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# One case is one short-lived process; two per core keeps the cores busy while others wait on
# process start-up. The timeout only matters for a hang: a case takes milliseconds.
JOBS=$(($(nproc) * 2))
# limbo's {eku} names map onto --purpose; a case without an EKU runs with --purpose any.
# CRL cases are skipped (cert verify takes no CRLs), as are the 2 cases that constrain keyUsage.
set +e
python3 "$LIMBO/run_limbo.py" --limbo "$LIMBO/limbo.json" --kind SERVER \
  --jobs "$JOBS" --timeout 30 --known-failures "$KNOWN" --results "$TMP/results.json" \
  --harness-name mutual-cert-verify \
  --eku-map serverAuth=server,clientAuth=client,anyExtendedKeyUsage=any \
  --cmd "$MUTUAL cert verify {leaf} --bundle {roots} [[ --untrusted {untrusted} ]] --at {time}
         [[ --dns {dns_name} ]] [[ --ip {ip_name} ]] [[ --purpose {eku} ]]
         [[ --max-intermediates {max_depth} ]]" >"$TMP/out" 2>&1
RC=$?
set -e
cat "$TMP/out"

if [[ $RC -ne 0 ]]; then
  echo "FAIL: x509-limbo cases failed that are not in $(basename "$KNOWN") (see FAIL lines above)" >&2
  exit 1
fi
if grep -q '^FIXED' "$TMP/out"; then
  echo "FAIL: cases listed in $(basename "$KNOWN") now pass: take them off the list and off" \
    "docs/conformance.md" >&2
  exit 1
fi
# Every case must have run or been skipped for a reason we expect: a template or harness change
# that silently skips more cases would otherwise look like a pass.
python3 - "$TMP/results.json" <<'EOF'
import json, re, sys
results = json.load(open(sys.argv[1]))["results"]
# The harness counts any non-zero exit as a rejection: every one it counted must be an exit 1
# (its context is "exit N: last line").
wrong = [r for r in results if r["actual_result"] == "FAILURE" and not r["known_failure"]
         and not re.match(r"exit 1: ", r["context"] or "")]
if wrong:
    sys.exit("FAIL: rejections without exit 1: "
             + ", ".join(f"{r['id']} ({r['context']})" for r in wrong))
bad = [r for r in results if r["verdict"] == "skip"
       and r["context"] not in ("template has no {crls}", "template has no {key_usage}")
       and not r["context"].startswith("validation_kind ")]
if bad:
    sys.exit("FAIL: unexpected skips: " + ", ".join(f"{r['id']} ({r['context']})" for r in bad))
ran = [r for r in results if r["verdict"] != "skip"]
if len(ran) < 180:
    sys.exit(f"FAIL: only {len(ran)} cases ran")
EOF
echo "PASS: limbo_test"
