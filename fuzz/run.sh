#!/usr/bin/env bash
# Builds the libFuzzer targets (clang++, -DMUTUAL_FUZZ=ON, in build-fuzz/) and runs each one for
# FUZZ_SECONDS seconds starting from its checked-in seeds (fuzz/corpus/<target>/) and its
# dictionary (fuzz/dict/<target>.dict). Exits 1 when any target crashes, leaks, trips
# AddressSanitizer or UndefinedBehaviorSanitizer, breaks an invariant or times out; the input
# that did it is saved as build-fuzz/fuzz-artifacts/<target>-crash-* (reproduce it with
# `build-fuzz/fuzz/<target>_fuzz <file>`).
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_TARGETS   space-separated subset of: spiffe_id duration bundle pem manifest
#                  client_hello hcl csr (default: all)
#   BUILD_DIR      build directory (default: build-fuzz beside this script's parent)
#   CXX_FUZZ       the clang++ to use (default clang++)
#   CMAKE_FLAGS    extra CMake flags for a new build directory (CI: -DMUTUAL_DEBUG_INFO=-g1)
# New inputs that reach new code are kept in BUILD_DIR/fuzz-corpus/<target>/ (not checked in),
# so repeated local runs build on each other.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-20}
targets=${FUZZ_TARGETS:-spiffe_id duration bundle pem manifest client_hello hcl csr}

if [[ ! -f $build/build.ninja ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DMUTUAL_FUZZ=ON \
    -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_FLAGS:-}
fi
ninja -C "$build" fuzz

# UBSan reports are warnings unless told otherwise; here every one is a failure.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

mkdir -p "$build/fuzz-artifacts"
failed=()
for target in $targets; do
  binary=$build/fuzz/${target}_fuzz
  [[ -x $binary ]] || { echo "fuzz/run.sh: no fuzzer named $target" >&2; exit 2; }
  work=$build/fuzz-corpus/$target
  log=$build/fuzz-$target.log
  mkdir -p "$work"
  args=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1
        -artifact_prefix="$build/fuzz-artifacts/$target-")
  [[ -f $root/fuzz/dict/$target.dict ]] && args+=(-dict="$root/fuzz/dict/$target.dict")
  echo "== $target: ${seconds}s (log: $log)"
  if "$binary" "${args[@]}" "$work" "$root/fuzz/corpus/$target" >"$log" 2>&1; then
    grep -E '^Done |^stat::(average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" |
      sed 's/^/   /' || true
  else
    failed+=("$target")
    echo "   FAILED; the end of its log:"
    tail -n 40 "$log" | sed 's/^/   | /'
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz/run.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz/run.sh: all targets ran ${seconds}s without a finding"
