#!/usr/bin/env bash
# One agent serving many workload entries (issue 5): `mutual server run` (SQLite) and one
# `mutual agent run` attested with a join token; ENTRIES registration entries parented by the
# agent's ID with a short X.509 TTL, so that every SVID rotates within the measured cycle.
#
#   bench/agent_scale.sh [BUILD_DIR]     # default build-srvbench; needs BUILD_DIR/mutual
#   ENTRIES=1000 TTL=60 CYCLE=70 OUT=/tmp/x bench/agent_scale.sh
#
# Entry i has selector unix:uid:<30000+i>, except entry 1, which has this script's uid: one
# workload (this script) watches its SVID over the Workload API for the whole run, as a real
# workload would, so that rotation updates are delivered while the other SVIDs rotate.
#
# Measures, from /proc/PID of the agent: the time from its start until it holds an SVID for
# every entry (its log line "serving N entries" after N SVIDs signed) and the CPU-seconds that
# took; then over CYCLE seconds (default TTL + 10: with renewal at half of an SVID's life,
# +-10% jitter, every SVID is renewed at least once) its CPU-seconds, the SVIDs it had signed,
# RSS sampled every second (steady: the median of the samples) and its peak (VmHWM), and the
# server's CPU-seconds over the same cycle. Results: a summary on stdout and $OUT/results.json.
# Every process started here is stopped by PID on exit; everything binds to 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-srvbench}
MUTUAL=${MUTUAL:-$BUILD/mutual}
ENTRIES=${ENTRIES:-1000}
TTL=${TTL:-60}
CYCLE=${CYCLE:-$((TTL + 10))}
PY=/usr/bin/python3  # Debian's, not a pyenv one first on PATH

skip() { echo "SKIP: $*"; exit 0; }
command -v jq >/dev/null || skip "jq is needed (scripts/deps.sh installs it)"
[[ -x $PY ]] || skip "$PY is needed"
[[ -x $MUTUAL ]] || skip "no mutual binary at $MUTUAL (ninja -C BUILD_DIR mutual)"

OUT=${OUT:-$(mktemp -d /tmp/agent-scale.XXXXXX)}
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/agent-scale-work.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
die() { echo "agent_scale: $*" >&2; exit 1; }
now() { date +%s.%N; }
free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
cpu_s() {  # PID: utime+stime in seconds (all threads)
  awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat"
}
status_kb() {  # PID FIELD (VmRSS, VmHWM)
  awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

cd "$TMP"
port=$(free_port)
cat >server.conf <<CONF
server {
    bind_address = "127.0.0.1"
    bind_port = "$port"
    socket_path = "$TMP/server/api.sock"
    trust_domain = "example.org"
    data_dir = "$TMP/server"
    log_level = "WARN"
    ca_ttl = "24h"
    default_x509_svid_ttl = "1h"
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "$TMP/server/datastore.sqlite3"
        }
    }
    NodeAttestor "join_token" { plugin_data {} }
    KeyManager "memory" { plugin_data {} }
}
CONF
"$MUTUAL" server run -c server.conf >"$OUT/server.log" 2>&1 &
server_pid=$!
PIDS+=("$server_pid")
admin=(--socket "$TMP/server/api.sock")
for _ in $(seq 1 100); do
  "$MUTUAL" server healthcheck "${admin[@]}" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || die "the server exited: $(tail -5 "$OUT/server.log")"
  sleep 0.1
done
"$MUTUAL" server healthcheck "${admin[@]}" >/dev/null || die "the server is not healthy"
token=$("$MUTUAL" server token generate "${admin[@]}" --ttl 3600 -o json | jq -r .token)
agent_id=spiffe://example.org/spire/agent/join_token/$token
"$MUTUAL" server bundle show "${admin[@]}" >bundle.pem

echo "agent_scale: creating $ENTRIES entries (x509 TTL ${TTL}s) ..."
t0=$(now)
for i in $(seq 1 "$ENTRIES"); do
  uid=$((30000 + i))
  [[ $i == 1 ]] && uid=$(id -u)
  printf '%s\0' "$i:$uid"
done | xargs -0 -P 2 -I{} sh -c 'i=${1%%:*}; uid=${1#*:}; exec "$0" server entry create \
    --socket "$2" --entry-id "bench-$i" --parent-id "$3" \
    --spiffe-id "spiffe://example.org/bench/w$i" --selector "unix:uid:$uid" \
    --x509-svid-ttl "$4" >/dev/null' "$MUTUAL" {} "$TMP/server/api.sock" "$agent_id" "$TTL" \
  2>"$OUT/entries.err" || true
created=$("$MUTUAL" server entry show "${admin[@]}" --parent-id "$agent_id" -o json | jq length)
[[ $created == "$ENTRIES" ]] || die "$created of $ENTRIES entries created: $(head -3 "$OUT/entries.err")"
echo "agent_scale: $created entries in $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')s"

mkdir -p agent
cat >agent/agent.conf <<CONF
agent {
    data_dir = "$TMP/agent/data"
    log_level = "INFO"
    trust_domain = "example.org"
    server_address = "127.0.0.1"
    server_port = "$port"
    socket_path = "$TMP/agent/api.sock"
    trust_bundle_path = "$TMP/bundle.pem"
    join_token = "$token"
}
plugins {
    NodeAttestor "join_token" { plugin_data {} }
    KeyManager "memory" { plugin_data {} }
    WorkloadAttestor "unix" { plugin_data {} }
}
CONF

# --- initial fetch ------------------------------------------------------------------------
start=$(now)
"$MUTUAL" agent run -c agent/agent.conf >"$OUT/agent.log" 2>&1 &
agent_pid=$!
PIDS+=("$agent_pid")
ready=""
for _ in $(seq 1 1200); do
  if grep -q "serving $ENTRIES entries" "$OUT/agent.log"; then ready=$(now); break; fi
  kill -0 "$agent_pid" 2>/dev/null || die "the agent exited: $(tail -5 "$OUT/agent.log")"
  sleep 0.02
done
[[ -n $ready ]] || die "the agent did not get $ENTRIES SVIDs within 24s: $(tail -3 "$OUT/agent.log")"
fetch_s=$(awk -v a="$start" -v b="$ready" 'BEGIN{printf "%.3f", b-a}')
fetch_cpu=$(cpu_s "$agent_pid")
rss_after_fetch=$(status_kb "$agent_pid" VmRSS)
echo "agent_scale: all $ENTRIES SVIDs after ${fetch_s}s (agent CPU ${fetch_cpu}s)"

# A workload watching its SVID for the rest of the run.
"$MUTUAL" agent api watch --socket "$TMP/agent/api.sock" >"$OUT/watch.log" 2>&1 &
watch_pid=$!
PIDS+=("$watch_pid")

# --- one rotation cycle ---------------------------------------------------------------------
signed_before=$(grep -o '[0-9]* SVID(s) signed' "$OUT/agent.log" | awk '{s += $1} END {print s+0}')
agent_cpu0=$(cpu_s "$agent_pid")
server_cpu0=$(cpu_s "$server_pid")
echo "agent_scale: measuring one rotation cycle (${CYCLE}s) ..."
: >"$OUT/rss.txt"
for _ in $(seq 1 "$CYCLE"); do
  sleep 1
  kill -0 "$agent_pid" 2>/dev/null || die "the agent exited: $(tail -5 "$OUT/agent.log")"
  status_kb "$agent_pid" VmRSS >>"$OUT/rss.txt"
done
agent_cpu1=$(cpu_s "$agent_pid")
server_cpu1=$(cpu_s "$server_pid")
peak_kb=$(status_kb "$agent_pid" VmHWM)
signed_after=$(grep -o '[0-9]* SVID(s) signed' "$OUT/agent.log" | awk '{s += $1} END {print s+0}')
served=$("$MUTUAL" agent api fetch x509 --socket "$TMP/agent/api.sock" -o json |
  jq '.svids | length')
updates=$(grep -c . "$OUT/watch.log" || true)
steady_kb=$(sort -n "$OUT/rss.txt" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
min_kb=$(sort -n "$OUT/rss.txt" | head -1)
max_kb=$(sort -n "$OUT/rss.txt" | tail -1)

jq -n --arg date "$(date -u +%FT%TZ)" --argjson entries "$ENTRIES" --argjson ttl "$TTL" \
  --argjson cycle "$CYCLE" --argjson fetch_s "$fetch_s" --argjson fetch_cpu "$fetch_cpu" \
  --argjson agent_cpu "$(awk -v a="$agent_cpu0" -v b="$agent_cpu1" 'BEGIN{print b-a}')" \
  --argjson server_cpu "$(awk -v a="$server_cpu0" -v b="$server_cpu1" 'BEGIN{print b-a}')" \
  --argjson renewed "$((signed_after - signed_before))" --argjson served "$served" \
  --argjson updates "$updates" --argjson rss_fetch "$rss_after_fetch" \
  --argjson steady "$steady_kb" --argjson rss_min "$min_kb" --argjson rss_max "$max_kb" \
  --argjson peak "$peak_kb" \
  '{date: $date, entries: $entries, x509_ttl_s: $ttl, cycle_s: $cycle,
    initial_fetch: {seconds: $fetch_s, agent_cpu_s: $fetch_cpu, rss_kb: $rss_fetch},
    cycle: {agent_cpu_s: $agent_cpu, agent_cpu_per_svid_ms: (if $renewed > 0
              then $agent_cpu * 1000 / $renewed else null end),
            server_cpu_s: $server_cpu, svids_renewed: $renewed,
            workload_stream_updates: $updates,
            rss_kb: {steady_median: $steady, min: $rss_min, max: $rss_max}},
    agent_peak_rss_kb: $peak, svids_served_to_the_watching_workload: $served}' \
  >"$OUT/results.json"
cat "$OUT/results.json"
((signed_after - signed_before >= ENTRIES)) ||
  echo "agent_scale: warning: only $((signed_after - signed_before)) SVIDs renewed in the cycle"
