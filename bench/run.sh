#!/usr/bin/env bash
# Builds bench/pki_bench (RelWithDebInfo, in build-bench/) and runs it, then prints the ratios
# that matter: workload certificates issued per second against the raw OpenSSL key generation +
# signature rate of the same run (issue 2's goal: at least 50%), and X509-SVID verifications per
# second against raw X509_verify_cert and the two raw ECDSA verifications.
#
# Environment:
#   BUILD_DIR            build directory (default: build-bench beside this script's parent)
#   BENCH_MIN_TIME       seconds per benchmark repetition (default 1)
#   BENCH_REPETITIONS    repetitions, randomly interleaved across benchmarks so that a burst of
#                        load elsewhere on the machine does not land on one benchmark only;
#                        the summary uses the median (default 5)
#   BENCH_FILTER         --benchmark_filter regex (default: all)
# Rates are per CPU second of one thread. The figures are informative: nothing fails on them.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
min_time=${BENCH_MIN_TIME:-1}
repetitions=${BENCH_REPETITIONS:-5}
filter=${BENCH_FILTER:-.}
command -v jq >/dev/null || { echo "bench/run.sh: jq is required (apt install jq)" >&2; exit 2; }

if [[ ! -f $build/build.ninja ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" pki_bench >/dev/null

json=$build/pki_bench.json
"$build/bench/pki_bench" \
  --benchmark_filter="$filter" \
  --benchmark_min_time="$min_time" \
  --benchmark_repetitions="$repetitions" \
  --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true \
  --benchmark_out="$json" --benchmark_out_format=json

echo
echo "== Summary: median of $repetitions repetitions, operations per CPU second =="
jq -r '
  def rate($name):
    [.benchmarks[] | select((.run_name | sub("/min_time:.*$"; "")) == $name
                            and .aggregate_name == "median")
     | (.certs // .ops // .chains // .ids)] | first;
  def fmt: if . == null then "n/a" else (. * 10 | round / 10 | tostring) end;
  def pct($a; $b): if $a == null or $b == null then "n/a"
                   else ($a / $b * 1000 | round / 10 | tostring) + "%" end;
  def row($title; $ours; $raw; $raw_label; $goal):
    "\($title)  \($ours | fmt)/s   \($raw_label) \($raw | fmt)/s   ratio \(pct($ours; $raw))"
    + (if $goal == null or $ours == null or $raw == null then ""
       elif $ours / $raw >= $goal then "   (goal >= \($goal * 100)%: met)"
       else "   (goal >= \($goal * 100)%: NOT met)" end);
  . as $r
  | "Issuance (ca::issueWorkload + PEM of cert and key) vs raw keygen + 1 ECDSA P-256 signature:",
    ($r | row("  ec-p256 ";  rate("BM_IssueWorkload/ec_p256");  rate("BM_RawKeygenSign/ec_p256");  "raw"; 0.5)),
    ($r | row("  ec-p256 ";  rate("BM_IssueWorkload/ec_p256");  rate("BM_RawKeygenFromParamsSign"); "stricter raw (keygen from cached curve params)"; null)),
    ($r | row("  ed25519 ";  rate("BM_IssueWorkload/ed25519");  rate("BM_RawKeygenSign/ed25519");  "raw"; null)),
    ($r | row("  rsa-2048";  rate("BM_IssueWorkload/rsa_2048"); rate("BM_RawKeygenSign/rsa_2048"); "raw"; null)),
    "Chain verification (leaf + intermediate, EC P-256):",
    ($r | row("  verifyX509Svid"; rate("BM_VerifyX509Svid"); rate("BM_RawX509VerifyCert"); "raw X509_verify_cert"; null)),
    ($r | row("  verifyX509Svid"; rate("BM_VerifyX509Svid"); rate("BM_RawEcdsaVerify2"); "raw 2x ECDSA verify"; null)),
    "Parsing:",
    "  SpiffeId::parse  valid \(rate("BM_SpiffeIdParse") | fmt)/s   invalid \(rate("BM_SpiffeIdParseInvalid") | fmt)/s"
' "$json"
echo "(full results: $json)"
