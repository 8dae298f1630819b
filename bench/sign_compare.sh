#!/usr/bin/env bash
# X509 certificates signed per second, per server CPU-second and their latency: `cfssl serve`
# (Debian's golang-cfssl) against `mutual server` on SQLite and, when PostgreSQL's server
# binaries are installed, on PostgreSQL, side by side in one run on loopback (issue 5).
#
#   bench/sign_compare.sh [BUILD_DIR]        # default build-srvbench; needs BUILD_DIR/mutual and
#                                            # BUILD_DIR/bench/sign_driver
#   DURATION=10 CLIENTS=4 WARMUP=2 NCSR=256 OUT=/tmp/x PG=auto|0 bench/sign_compare.sh
#   BATCH=10 (default; 1 to skip): also a mutual run with BATCH CSRs per call, as an agent sends
#     at rotation; its latency is per call and is not compared with cfssl's
#   SIGN_BENCH=PATH (default BUILD_DIR/bench/server_sign_bench): measures, after the sides, the
#     ceiling one CSR verification + one signature allow per core-second, and prints the goal
#     as a share of it (skipped when the binary is missing)
#   PERF=1 ...    also a system-wide `perf record -g` over each measured window
#     ($OUT/NAME.perf.data; report with `perf report --pid $(cat $OUT/NAME.pid)`; needs root)
#
# What each side does with the same P-256 CSRs (NCSR of them, ecdsa-with-SHA256, made by
# openssl beforehand and sent round-robin):
# - cfssl: one P-256 CA made here (openssl), `cfssl serve` with a "default" signing profile
#   (1 h, digital signature, key encipherment, server and client auth), log level warning so
#   that it does not log each request. cfssl keeps no record of what it signs.
# - mutual: `mutual server run` with UpstreamAuthority "disk" on the same CA (so its signing
#   authority is a P-256 intermediate under that root), log level WARN, one join-token agent
#   (attested by the driver), one entry parented by it; each call is the agent API's SignX509Svids with one CSR, over mTLS with the agent's
#   SVID, authenticated and authorized as for a real agent, and every certificate recorded in
#   the datastore's issued_certificates table (checked by counting rows after the run).
#
# The client (bench/sign_driver.cc) is one C++ program for both sides, CLIENTS threads each
# with its own connection, closed loop (next request when the answer is in), each answer
# checked for a certificate but not parsed. Why one driver in C++ rather than Python: on 2
# cores the client shares the CPUs with the server, and a Python client would use more CPU than
# the servers and add its own latency on top of theirs; with the same C++ client both sides
# pay the same small client cost, and the comparison measures the servers. (Parsing the answers
# with OpenSSL 3.0 was dropped for the same reason: d2i_X509 cost the client more CPU than
# either server spent, more for mutual's leaf + intermediate than for cfssl's leaf.)
#
# Server CPU-seconds: utime+stime from /proc/PID/stat of the server process over the measured
# window (not the warm-up); for PostgreSQL also the postmaster and all its children (the
# backends doing the inserts), since recording is part of the cost. PostgreSQL runs with its
# defaults (fsync on). The sides run one after the other, each alone on the machine.
#
# Output: a table on stdout, $OUT/results.json, the driver's JSON per side and server logs in
# $OUT. Every process started here is stopped by PID on exit; everything binds to 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-srvbench}
MUTUAL=${MUTUAL:-$BUILD/mutual}
DRIVER=${DRIVER:-$BUILD/bench/sign_driver}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
WARMUP=${WARMUP:-2}
NCSR=${NCSR:-256}
BATCH=${BATCH:-10}
PG=${PG:-auto}
PY=/usr/bin/python3  # Debian's, not a pyenv one first on PATH

skip() { echo "SKIP: $*"; exit 0; }
for tool in cfssl openssl jq; do
  command -v "$tool" >/dev/null || skip "$tool is needed (scripts/deps.sh installs it)"
done
[[ -x $PY ]] || skip "$PY is needed"
[[ -x $MUTUAL ]] || skip "no mutual binary at $MUTUAL (ninja -C BUILD_DIR mutual)"
[[ -x $DRIVER ]] || skip "no driver at $DRIVER (ninja -C BUILD_DIR sign_driver)"

OUT=${OUT:-$(mktemp -d /tmp/sign-compare.XXXXXX)}
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/sign-compare-work.XXXXXX)
PIDS=()
source "$ROOT/test/integration/postgres_lib.sh"
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  pg_stop
  rm -rf "$TMP"
}
trap cleanup EXIT
die() { echo "sign_compare: $*" >&2; exit 1; }
free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {  # PORT PID
  for _ in $(seq 1 100); do
    "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null &&
      return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# Stops one process started here, by PID, and waits for it.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

echo "sign_compare: $NCSR P-256 CSRs, $CLIENTS clients, ${DURATION}s per side after ${WARMUP}s" \
  "warm-up; results in $OUT"

# --- the CA and the CSRs -------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/O=sign-compare/CN=bench CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2>/dev/null
mkdir -p "$TMP/csr"
for i in $(seq 1 "$NCSR"); do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj "/CN=workload-$i" -outform DER -out "$TMP/csr/$i.der" 2>/dev/null
done

# run_driver NAME PID MODE [driver flags...]: runs the measured load, keeps its JSON in $OUT.
# With PERF=1, also `perf record -g` over the measured window (report with --pid PID; the
# server's PID is in $OUT/NAME.pid).
run_driver() {
  local name=$1 server_pid=$2 perf_pid=""
  shift 2
  if [[ ${PERF:-0} == 1 ]] && command -v perf >/dev/null; then
    # System-wide, to be filtered with `perf report --pid`: with -p, threads that gRPC's
    # sync server starts after perf attached were missed.
    (sleep "$WARMUP" && exec perf record -q -F 499 -g -a \
      -o "$OUT/$name.perf.data" -- sleep "$DURATION") >"$OUT/$name.perf.log" 2>&1 &
    perf_pid=$!
    PIDS+=("$perf_pid")
  fi
  "$DRIVER" "$@" --csr-dir "$TMP/csr" --clients "$CLIENTS" --duration "$DURATION" \
    --warmup "$WARMUP" --out "$OUT/$name.json" >/dev/null 2>"$OUT/$name.driver.log" ||
    die "$name: the driver failed: $(tail -3 "$OUT/$name.driver.log")"
  [[ -z $perf_pid ]] || wait "$perf_pid" 2>/dev/null || true
  echo "$server_pid" >"$OUT/$name.pid"
  jq -e '.errors == 0' "$OUT/$name.json" >/dev/null ||
    die "$name: $(jq -r '.errors' "$OUT/$name.json") errors: $(jq -r .first_error "$OUT/$name.json")"
}

# --- cfssl -----------------------------------------------------------------------------------
cat >"$TMP/cfssl.json" <<'JSON'
{"signing": {"default": {"expiry": "1h",
  "usages": ["digital signature", "key encipherment", "server auth", "client auth"]}}}
JSON
port=$(free_port)
cfssl serve -address 127.0.0.1 -port "$port" -ca "$TMP/ca.pem" -ca-key "$TMP/ca.key" \
  -config "$TMP/cfssl.json" -loglevel 2 >"$OUT/cfssl.log" 2>&1 &
cfssl_pid=$!
PIDS+=("$cfssl_pid")
wait_port "$port" "$cfssl_pid" || die "cfssl serve did not start: $(tail -5 "$OUT/cfssl.log")"
run_driver cfssl "$cfssl_pid" cfssl --url "http://127.0.0.1:$port" --cpu-pid "$cfssl_pid"
stop_pid "$cfssl_pid"
echo "cfssl: $(jq -r '.certificates_per_s|floor' "$OUT/cfssl.json") certificates/s"

# --- mutual server ---------------------------------------------------------------------------
# run_mutual NAME DATABASE_TYPE CONNECTION_STRING [EXTRA_CPU_PID]
run_mutual() {
  local name=$1 type=$2 connection=$3 extra_pid=${4:-}
  local dir=$TMP/$name
  mkdir -p "$dir"
  local node_port
  node_port=$(free_port)
  cat >"$dir/server.conf" <<CONF
server {
    bind_address = "127.0.0.1"
    bind_port = "$node_port"
    socket_path = "$dir/private/api.sock"
    trust_domain = "example.org"
    data_dir = "$dir/data"
    log_level = "WARN"
    ca_ttl = "24h"
    default_x509_svid_ttl = "1h"
    ca_key_type = "ec-p256"
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "$type"
            connection_string = "$connection"
        }
    }
    NodeAttestor "join_token" { plugin_data {} }
    KeyManager "memory" { plugin_data {} }
    UpstreamAuthority "disk" {
        plugin_data {
            key_file_path = "$TMP/ca.key"
            cert_file_path = "$TMP/ca.pem"
        }
    }
}
CONF
  "$MUTUAL" server run -c "$dir/server.conf" >"$OUT/$name.server.log" 2>&1 &
  local server_pid=$!
  PIDS+=("$server_pid")
  local admin=(--socket "$dir/private/api.sock")
  local healthy=0
  for _ in $(seq 1 100); do
    if "$MUTUAL" server healthcheck "${admin[@]}" >/dev/null 2>&1; then healthy=1; break; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ $healthy == 1 ]] || die "$name: the server did not start: $(tail -5 "$OUT/$name.server.log")"
  "$MUTUAL" server bundle show "${admin[@]}" >"$dir/bundle.pem"
  local cpu=(--cpu-pid "$server_pid")
  [[ -n $extra_pid ]] && cpu+=(--cpu-pid "$extra_pid")
  # One agent (join token) and one entry per variant: a token attests once.
  local variant batch token signed=0
  for variant in "$name" "$name-batch$BATCH"; do
    batch=1
    if [[ $variant != "$name" ]]; then
      ((BATCH > 1)) || continue
      batch=$BATCH
    fi
    token=$("$MUTUAL" server token generate "${admin[@]}" --ttl 600 -o json | jq -r .token)
    "$MUTUAL" server entry create "${admin[@]}" --entry-id "entry-$variant" \
      --parent-id "spiffe://example.org/spire/agent/join_token/$token" \
      --spiffe-id "spiffe://example.org/bench/$variant" --selector unix:uid:0 >/dev/null
    run_driver "$variant" "$server_pid" mutual --address "127.0.0.1:$node_port" \
      --bundle "$dir/bundle.pem" --token "$token" --entry-id "entry-$variant" --batch "$batch" \
      "${cpu[@]}"
    signed=$((signed + $(jq -r .signed_total "$OUT/$variant.json")))
    sides+=("$variant")
  done
  sleep 1  # records are written behind, at most 50 ms after signing
  local rows
  if [[ $type == sqlite3 ]]; then
    rows=$("$PY" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(
      'SELECT count(*) FROM issued_certificates').fetchone()[0])" "$connection")
  else
    rows=$("$PG_BIN/psql" "$connection" -Atc 'SELECT count(*) FROM issued_certificates')
  fi
  stop_pid "$server_pid"
  # Rows: every SVID signed (warm-up included) plus the agents' and the server's own SVIDs.
  jq --argjson rows "$rows" --argjson signed "$signed" \
    '. + {recorded_rows_in_datastore: $rows, signed_on_this_server: $signed}' \
    "$OUT/$name.json" >"$OUT/$name.tmp" && mv "$OUT/$name.tmp" "$OUT/$name.json"
  ((rows >= signed)) || die "$name: only $rows of $signed certificates recorded"
  echo "$name: $(jq -r '.certificates_per_s|floor' "$OUT/$name.json") certificates/s;" \
    "$rows rows recorded for $signed signed on this server"
}

sides=(cfssl)
run_mutual mutual-sqlite sqlite3 "$TMP/mutual-sqlite/datastore.sqlite3"

if [[ $PG == 0 ]]; then
  echo "PostgreSQL: skipped (PG=0)"
elif ! pg_start "$TMP/pg"; then
  echo "PostgreSQL: skipped ($PG_SKIP_REASON)"
else
  run_mutual mutual-postgres postgres "$PG_CONNECTION" "$(pg_postmaster_pid)"
  pg_stop
fi

# --- the cryptography's ceiling, in the same run ----------------------------------------------
# One CSR verification and one signature per certificate (server_sign_bench's
# BM_RawVerifyAndSign, one thread) bound what any signer can reach per CPU-second on this
# machine; BM_SignOnly is mutual's signer on its own (no gRPC, no datastore). The goal of 2.5x
# cfssl reads against these: a goal above the ceiling cannot be met by any server.
ceiling=null
SIGN_BENCH=${SIGN_BENCH:-$BUILD/bench/server_sign_bench}
if [[ -x $SIGN_BENCH ]]; then
  "$SIGN_BENCH" --benchmark_filter='^BM_(RawVerifyAndSign|SignOnly)$' --benchmark_min_time=2 \
    --benchmark_format=json >"$OUT/ceiling.json" 2>"$OUT/ceiling.log" ||
    die "server_sign_bench failed: $(tail -3 "$OUT/ceiling.log")"
  ceiling=$(jq '[.benchmarks[] | {key: .name, value: .certs}] | from_entries |
    {crypto_per_core_s: .BM_RawVerifyAndSign, signer_per_core_s: .BM_SignOnly}' "$OUT/ceiling.json")
else
  echo "ceiling: skipped (no $SIGN_BENCH; ninja -C BUILD_DIR server_sign_bench)"
fi

# --- the table and results.json --------------------------------------------------------------
jq -n --arg date "$(date -u +%FT%TZ)" --argjson clients "$CLIENTS" \
  --argjson duration "$DURATION" --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)" \
  --argjson cores "$(nproc)" --argjson ceiling "$ceiling" \
  '{date: $date, clients: $clients, duration_s: $duration, cpu: ($cpu|ltrimstr(" ")),
    cores: $cores, goals: {per_cpu_s_vs_cfssl: ">= 2.5", p50_vs_cfssl: "<= 0.5",
    p99_vs_cfssl: "<= 0.25"}, ceiling: $ceiling, sides: {}}' >"$OUT/results.json"
for side in "${sides[@]}"; do
  jq --arg side "$side" --slurpfile r "$OUT/$side.json" --slurpfile c "$OUT/cfssl.json" \
    '.sides[$side] = ($r[0] + (if $side == "cfssl" then {} else {vs_cfssl: {
       per_cpu_s: ($r[0].certificates_per_cpu_s / $c[0].certificates_per_cpu_s),
       per_s: ($r[0].certificates_per_s / $c[0].certificates_per_s),
       p50: (if $r[0].batch == 1 then $r[0].p50_us / $c[0].p50_us else null end),
       p99: (if $r[0].batch == 1 then $r[0].p99_us / $c[0].p99_us else null end)}} end))' \
    "$OUT/results.json" >"$OUT/results.tmp" && mv "$OUT/results.tmp" "$OUT/results.json"
done
echo
printf '%-24s %10s %9s %10s %9s %9s %9s %22s\n' side "certs/s" "srv CPU s" "per CPU s" \
  "p50 us" "p99 us" "drv CPU s" "vs cfssl (CPU,p50,p99)"
for side in "${sides[@]}"; do
  jq -r --arg side "$side" '.sides[$side] | [$side, (.certificates_per_s|floor),
      (.server_cpu_s*100|round/100), (.certificates_per_cpu_s|floor), (.p50_us|round),
      (.p99_us|round), (.driver_cpu_s*100|round/100),
      (if .vs_cfssl == null then "-"
       elif .vs_cfssl.p50 == null then "\(.vs_cfssl.per_cpu_s*100|round/100)x (per call)"
       else "\(.vs_cfssl.per_cpu_s*100|round/100)x \(.vs_cfssl.p50*100|round/100)x \(.vs_cfssl.p99*100|round/100)x" end)]
    | @tsv' "$OUT/results.json" |
    awk -F'\t' '{printf "%-24s %10s %9s %10s %9s %9s %9s %22s\n", $1,$2,$3,$4,$5,$6,$7,$8}'
done
if [[ $ceiling != null ]]; then
  jq -r '.ceiling as $c | (.sides.cfssl.certificates_per_cpu_s * 2.5) as $goal |
    "ceiling: one verification + one signature \($c.crypto_per_core_s|floor) per core-second;" +
    " mutual'"'"'s signer alone \($c.signer_per_core_s|floor); the goal (2.5x cfssl) is" +
    " \($goal|floor) per CPU-second, \($goal / $c.crypto_per_core_s * 100 | round)% of the ceiling"' \
    "$OUT/results.json"
fi
echo "goals: per CPU-second >= 2.5x cfssl, p50 <= 0.5x, p99 <= 0.25x (latencies of batched calls"
echo "are per call of $BATCH CSRs, not compared); $OUT/results.json"
