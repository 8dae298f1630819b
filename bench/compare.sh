#!/usr/bin/env bash
# Side-by-side mTLS proxy benchmark on loopback (issue 4): for each pair — mutual, haproxy,
# nginx (stream), stunnel — a client-side proxy takes plaintext and originates mTLS to a
# server-side proxy that requires a client certificate (ECDSA P-256: root, intermediate, leaf),
# both in front of the same nginx HTTP backend; plus "direct" (wrk to the backend). One worker
# per proxy side. Measures:
#   (a) keep-alive requests/s and p50/p99 latency at 64 connections (wrk);
#   (b) a new connection per request (full mTLS handshakes between the proxies);
#   (c) the same with TLS session resumption;
#   (d) bulk throughput (iperf3);
#   (e) proxy CPU per 1,000 requests/s, RSS (and its anonymous part), and RSS per 1,000 idle
#       mTLS connections (each carries one request first, so every handshake is done when
#       memory is read).
# Then ratios of mutual to the best peer. Results: $OUT/results.json and $OUT/summary.md.
# FLOOR=1 adds two reference pairs that carry the keep-alive load without TLS: haproxy and
# mutual forwarding plaintext (mutual: PeerAuthentication and DestinationRule DISABLE). Their
# CPU per request is what the same proxies cost with TLS free: the floor of goal (a), which is
# the kernel's (TCP on loopback, wake-ups). They are references, not peers in the ratios.
#
# Usage: bench/compare.sh [MUTUAL_BINARY]   (default: build-bench/mutual, built if missing)
# Environment: DURATION (s per wrk run, default 10), RUNS (repetitions, median kept, default 3),
#   PAIRS (default "mutual haproxy nginx stunnel"), FLOOR (0 or 1, default 0), IDLE (idle connections, default 1000),
#   OUT (default /tmp/mutual-compare), NGINX_PROTOCOLS (default "TLSv1.2 TLSv1.3": Debian 12's
#   nginx 1.22 leaves TLS 1.3 off unless told, and then its pair resumes with TLS 1.2's
#   abbreviated handshake, which has no key exchange at all; every other pair negotiates 1.3).
# Needs: wrk iperf3 haproxy nginx (libnginx-mod-stream) stunnel4 openssl python3 jq.
# The machine should be otherwise idle: the figures are only as quiet as the machine.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mutual=$(realpath -m "${1:-$root/build-bench/mutual}")  # the script works in $OUT
duration=${DURATION:-10}
runs=${RUNS:-3}
pairs=${PAIRS:-"mutual haproxy nginx stunnel"}
idle=${IDLE:-1000}
out=${OUT:-/tmp/mutual-compare}
nginx_protocols=${NGINX_PROTOCOLS:-TLSv1.2 TLSv1.3}
for tool in wrk iperf3 haproxy nginx stunnel4 openssl python3 jq; do
  command -v $tool >/dev/null || { echo "compare.sh: $tool is required" >&2; exit 2; }
done
if [[ ! -x $mutual ]]; then
  cmake -S "$root" -B "$root/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$root/build-bench" mutual >/dev/null
fi
rm -rf "$out"; mkdir -p "$out"
cd "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 8192 || true

# ---- PKI: root -> intermediate -> leaves with SPIFFE IDs ----------------------------------------
"$mutual" ca init --trust-domain bench.local --out pki/root >/dev/null
"$mutual" ca intermediate --ca pki/root --out pki/int --name bench-int >/dev/null
"$mutual" cert issue --ca pki/int --spiffe-id spiffe://bench.local/ns/bench/sa/server \
  --dns localhost --ip 127.0.0.1 --ttl 24h --out pki/server >/dev/null
"$mutual" cert issue --ca pki/int --spiffe-id spiffe://bench.local/ns/bench/sa/client \
  --dns localhost --ip 127.0.0.1 --ttl 24h --out pki/client >/dev/null
for who in server client; do
  cat pki/$who/tls.crt pki/$who/tls.key > pki/$who/combined.pem
done

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done
  echo "compare.sh: nothing listens on $1" >&2; return 1
}
cpu_ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
rss_kb() { local t=0; for p in "$@"; do t=$((t + $(awk '/VmRSS/{print $2}' /proc/$p/status))); done; echo $t; }
# Anonymous memory only (RssAnon): RSS minus the file-backed pages of the binary and its
# libraries, which the kernel shares and can drop.
rss_anon_kb() { local t=0; for p in "$@"; do t=$((t + $(awk '/RssAnon/{print $2}' /proc/$p/status))); done; echo $t; }
hz=$(getconf CLK_TCK)

# ---- the backend: nginx answering a small page, kept alive ----------------------------------------
backend=$(port)
mkdir -p backend/logs
cat > backend/nginx.conf <<CONF
worker_processes 1;
error_log stderr error;
pid $out/backend/nginx.pid;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$backend reuseport; location / { return 200 "hello from the backend\n"; } }
}
CONF
nginx -c "$out/backend/nginx.conf" -p "$out/backend" -g 'daemon off;' & pids+=($!)
iperf_port=$(port)
iperf3 -s -B 127.0.0.1 -p "$iperf_port" >/dev/null 2>&1 & pids+=($!)
wait_port "$backend"

# ---- each pair: start(pair, resumption) sets CLIENT_PORT and PAIR_PIDS --------------------------
start_mutual() {
  local resume=$1 dir=$out/mutual-$2 c s sa ca
  mkdir -p "$dir/policies"; c=$(port); s=$(port); sa=$(port); ca=$(port)
  cat > "$dir/policies/strict.yaml" <<YAML
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: bench}
spec: {mtls: {mode: STRICT}}
YAML
  cat > "$dir/server.yaml" <<YAML
workload: {namespace: bench, name: server, service_account: server}
trust_domain: bench.local
credentials: {files: {cert: $out/pki/server/tls.crt, key: $out/pki/server/tls.key, bundle: $out/pki/server/ca.crt}}
policies: [$dir/policies]
inbound: [{port: 80, listen: 127.0.0.1:$s, forward: 127.0.0.1:$TARGET}]
admin: 127.0.0.1:$sa
access_log: "off"
workers: 1
tls: {session_resumption: $resume}
YAML
  cat > "$dir/client.yaml" <<YAML
workload: {namespace: bench, name: client, service_account: client}
trust_domain: bench.local
credentials: {files: {cert: $out/pki/client/tls.crt, key: $out/pki/client/tls.key, bundle: $out/pki/client/ca.crt}}
outbound: [{listen: 127.0.0.1:$c, destination: "server.bench.svc.cluster.local:80", endpoints: ["127.0.0.1:$s"]}]
admin: 127.0.0.1:$ca
access_log: "off"
workers: 1
tls: {session_resumption: $resume}
YAML
  "$mutual" proxy run -c "$dir/server.yaml" 2>"$dir/server.log" & PAIR_PIDS=($!)
  "$mutual" proxy run -c "$dir/client.yaml" 2>"$dir/client.log" & PAIR_PIDS+=($!)
  CLIENT_PORT=$c; SERVER_PORT=$s; wait_port "$s"; wait_port "$c"
}

# haproxy_head [GLOBAL_LINE]: the global and defaults sections of every haproxy side here.
haproxy_head() {
  printf 'global\n  nbthread 1\n  maxconn 3000\n'
  [[ -z ${1:-} ]] || printf '  %s\n' "$1"
  printf 'defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n'
}

start_haproxy() {
  local resume=$1 dir=$out/haproxy-$2 c s reuse=""
  mkdir -p "$dir"; c=$(port); s=$(port)
  [[ $resume == false ]] && reuse="no-ssl-reuse"
  { haproxy_head "tune.ssl.default-dh-param 2048"; cat <<CONF; } > "$dir/server.cfg"
frontend mtls
  bind 127.0.0.1:$s ssl crt $out/pki/server/combined.pem ca-file $out/pki/server/ca.crt verify required
  default_backend app
backend app
  server app 127.0.0.1:$TARGET
CONF
  { haproxy_head; cat <<CONF; } > "$dir/client.cfg"
frontend plain
  bind 127.0.0.1:$c
  default_backend mesh
backend mesh
  server peer 127.0.0.1:$s ssl crt $out/pki/client/combined.pem ca-file $out/pki/client/ca.crt verify required verifyhost localhost $reuse
CONF
  haproxy -f "$dir/server.cfg" -db 2>"$dir/server.log" & PAIR_PIDS=($!)
  haproxy -f "$dir/client.cfg" -db 2>"$dir/client.log" & PAIR_PIDS+=($!)
  CLIENT_PORT=$c; SERVER_PORT=$s; wait_port "$s"; wait_port "$c"
}

start_nginx() {
  local resume=$1 dir=$out/nginx-$2 c s reuse=on
  mkdir -p "$dir/s" "$dir/c"; c=$(port); s=$(port)
  [[ $resume == false ]] && reuse=off
  local module=/usr/lib/nginx/modules/ngx_stream_module.so
  cat > "$dir/s/nginx.conf" <<CONF
load_module $module;
worker_processes 1;
error_log stderr error;
pid $dir/s/nginx.pid;
events { worker_connections 40000; }
stream {
  ssl_session_cache shared:S:10m;
  ssl_protocols $nginx_protocols;
  server {
    listen 127.0.0.1:$s ssl;
    ssl_certificate $out/pki/server/tls.crt;
    ssl_certificate_key $out/pki/server/tls.key;
    ssl_client_certificate $out/pki/server/ca.crt;
    ssl_verify_client on;
    ssl_verify_depth 3;
    proxy_pass 127.0.0.1:$TARGET;
  }
}
CONF
  cat > "$dir/c/nginx.conf" <<CONF
load_module $module;
worker_processes 1;
error_log stderr error;
pid $dir/c/nginx.pid;
events { worker_connections 40000; }
stream {
  server {
    listen 127.0.0.1:$c;
    proxy_pass 127.0.0.1:$s;
    proxy_ssl on;
    proxy_ssl_certificate $out/pki/client/tls.crt;
    proxy_ssl_certificate_key $out/pki/client/tls.key;
    proxy_ssl_trusted_certificate $out/pki/client/ca.crt;
    proxy_ssl_verify on;
    proxy_ssl_verify_depth 3;
    proxy_ssl_name localhost;
    proxy_ssl_session_reuse $reuse;
    proxy_ssl_protocols $nginx_protocols;
  }
}
CONF
  nginx -c "$dir/s/nginx.conf" -p "$dir/s" -g 'daemon off;' & PAIR_PIDS=($!)
  nginx -c "$dir/c/nginx.conf" -p "$dir/c" -g 'daemon off;' & PAIR_PIDS+=($!)
  CLIENT_PORT=$c; SERVER_PORT=$s; wait_port "$s"; wait_port "$c"
  # nginx forks its worker: measure the workers, which do the work.
  sleep 0.3
  local workers=()
  for p in "${PAIR_PIDS[@]}"; do workers+=($(pgrep -P "$p")); done
  PAIR_PIDS=("${PAIR_PIDS[@]}"); MEASURE_PIDS=("${workers[@]}")
}

start_stunnel() {
  local resume=$1 dir=$out/stunnel-$2 c s cache=""
  mkdir -p "$dir"; c=$(port); s=$(port)
  [[ $resume == false ]] && cache="sessionCacheSize = 1
sessionCacheTimeout = 1"
  cat > "$dir/server.conf" <<CONF
foreground = yes
pid =
[mtls]
accept = 127.0.0.1:$s
connect = 127.0.0.1:$TARGET
cert = $out/pki/server/tls.crt
key = $out/pki/server/tls.key
CAfile = $out/pki/server/ca.crt
verifyChain = yes
requireCert = yes
$cache
CONF
  cat > "$dir/client.conf" <<CONF
foreground = yes
pid =
[plain]
client = yes
accept = 127.0.0.1:$c
connect = 127.0.0.1:$s
cert = $out/pki/client/tls.crt
key = $out/pki/client/tls.key
CAfile = $out/pki/client/ca.crt
verifyChain = yes
checkHost = localhost
$cache
CONF
  stunnel4 "$dir/server.conf" 2>"$dir/server.log" & PAIR_PIDS=($!)
  stunnel4 "$dir/client.conf" 2>"$dir/client.log" & PAIR_PIDS+=($!)
  CLIENT_PORT=$c; SERVER_PORT=$s; wait_port "$s"; wait_port "$c"
}

# ---- the plaintext references (FLOOR=1): the same proxies with TLS off ---------------------------
start_mutualplain() {
  local dir=$out/mutualplain-$2 c s sa ca
  mkdir -p "$dir/server-policies" "$dir/client-policies"; c=$(port); s=$(port); sa=$(port); ca=$(port)
  cat > "$dir/server-policies/disable.yaml" <<YAML
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: bench}
spec: {mtls: {mode: DISABLE}}
YAML
  cat > "$dir/client-policies/disable.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: server, namespace: bench}
spec: {host: server.bench.svc.cluster.local, trafficPolicy: {tls: {mode: DISABLE}}}
YAML
  local who
  for who in server client; do
    cat > "$dir/$who.yaml" <<YAML
workload: {namespace: bench, name: $who, service_account: $who}
trust_domain: bench.local
credentials: {files: {cert: $out/pki/$who/tls.crt, key: $out/pki/$who/tls.key, bundle: $out/pki/$who/ca.crt}}
policies: [$dir/$who-policies]
admin: 127.0.0.1:$([[ $who == server ]] && echo "$sa" || echo "$ca")
access_log: "off"
workers: 1
YAML
  done
  echo "inbound: [{port: 80, listen: 127.0.0.1:$s, forward: 127.0.0.1:$TARGET}]" >> "$dir/server.yaml"
  echo "outbound: [{listen: 127.0.0.1:$c, destination: \"server.bench.svc.cluster.local:80\", endpoints: [\"127.0.0.1:$s\"]}]" >> "$dir/client.yaml"
  "$mutual" proxy run -c "$dir/server.yaml" 2>"$dir/server.log" & PAIR_PIDS=($!)
  "$mutual" proxy run -c "$dir/client.yaml" 2>"$dir/client.log" & PAIR_PIDS+=($!)
  CLIENT_PORT=$c; SERVER_PORT=$s; wait_port "$s"; wait_port "$c"
}

start_haproxyplain() {
  local dir=$out/haproxyplain-$2 c s side listen target
  mkdir -p "$dir"; c=$(port); s=$(port)
  for side in server client; do
    if [[ $side == server ]]; then listen=$s; target=$TARGET; else listen=$c; target=$s; fi
    { haproxy_head; cat <<CONF; } > "$dir/$side.cfg"
frontend plain
  bind 127.0.0.1:$listen
  default_backend next
backend next
  server next 127.0.0.1:$target
CONF
  done
  haproxy -f "$dir/server.cfg" -db 2>"$dir/server.log" & PAIR_PIDS=($!)
  haproxy -f "$dir/client.cfg" -db 2>"$dir/client.log" & PAIR_PIDS+=($!)
  CLIENT_PORT=$c; SERVER_PORT=$s; wait_port "$s"; wait_port "$c"
}

stop_pair() {
  for p in "${PAIR_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PAIR_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

# wrk_run PORT EXTRA... -> prints "rps p50_ms p99_ms"
wrk_run() {
  local p=$1; shift
  wrk -t2 -c64 -d"${duration}s" --latency "$@" "http://127.0.0.1:$p/" > "$out/wrk.txt" 2>&1 || true
  python3 - "$out/wrk.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
lat = dict((k, ms(v, u)) for k, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", text))
errors = re.search(r"Socket errors: (.*)", text)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{rps:.0f} {lat.get('50', 0):.3f} {lat.get('99', 0):.3f} {int(non2xx.group(1)) if non2xx else 0}")
PY
}

# The protocol version a pair's server side settles on with a client offering TLS 1.2 and 1.3.
server_protocol() {
  echo | openssl s_client -connect "127.0.0.1:$1" -cert "$out/pki/client/tls.crt" \
    -key "$out/pki/client/tls.key" -CAfile "$out/pki/client/ca.crt" -alpn istio 2>/dev/null |
    awk '/^New, / {sub(",", "", $2); print $2; exit}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

results=$out/results.jsonl
: > "$results"
: > "$out/protocols.txt"
record() { echo "{\"pair\":\"$1\",\"metric\":\"$2\",\"value\":$3}" >> "$results"; }

# measure_pair PAIR RUN: every measurement of one pair, once.
measure_pair() {
  local pair=$1 run=$2
  {
    # (a) keep-alive, (e) CPU per 1k rps and RSS.
    TARGET=$backend; MEASURE_PIDS=()
    start_$pair true ka$run; [[ ${#MEASURE_PIDS[@]} -eq 0 ]] && MEASURE_PIDS=("${PAIR_PIDS[@]}")
    local t0 t1 r
    t0=$(cpu_ticks "${MEASURE_PIDS[@]}")
    read -r rps p50 p99 bad < <(wrk_run "$CLIENT_PORT")
    t1=$(cpu_ticks "${MEASURE_PIDS[@]}")
    record $pair keepalive_rps "$rps"; record $pair keepalive_p50_ms "$p50"; record $pair keepalive_p99_ms "$p99"
    record $pair keepalive_errors "$bad"
    record $pair cpu_ms_per_1k_requests "$(python3 -c "print(round(($t1-$t0)/$hz*1000/max($rps*$duration/1000,1e-9),3))")"
    record $pair rss_kb "$(rss_kb "${MEASURE_PIDS[@]}")"
    record $pair rss_anon_kb "$(rss_anon_kb "${MEASURE_PIDS[@]}")"
    if [[ $pair == *plain ]]; then stop_pair; return; fi  # a reference for (a) only
    ((run == 1)) && echo "$pair $(server_protocol "$SERVER_PORT")" >> "$out/protocols.txt"
    # (e) RSS per 1,000 idle mTLS connections.
    local before after
    before=$(rss_kb "${MEASURE_PIDS[@]}")
    coproc IDLE_CONNS { python3 "$root/bench/compare/idle_conns.py" 127.0.0.1 "$CLIENT_PORT" "$idle"; }
    local opened=""
    read -r _ opened <&"${IDLE_CONNS[0]}" || true
    after=$(rss_kb "${MEASURE_PIDS[@]}")
    exec {IDLE_CONNS[1]}>&-; wait "$IDLE_CONNS_PID" 2>/dev/null || true
    if [[ $opened == "$idle" ]]; then
      record $pair idle_rss_kb_per_1k "$(python3 -c "print(round(($after-$before)*1000/$idle))")"
    else
      echo "$pair: the idle connections were not all established; no idle RSS figure" >&2
    fi
    stop_pair
    # (b) full handshakes: a new connection per request, no resumption.
    MEASURE_PIDS=(); start_$pair false full$run; [[ ${#MEASURE_PIDS[@]} -eq 0 ]] && MEASURE_PIDS=("${PAIR_PIDS[@]}")
    t0=$(cpu_ticks "${MEASURE_PIDS[@]}")
    read -r rps p50 p99 bad < <(wrk_run "$CLIENT_PORT" -H "Connection: close")
    t1=$(cpu_ticks "${MEASURE_PIDS[@]}")
    record $pair full_handshakes_per_s "$rps"
    record $pair cpu_ms_per_new_connection "$(python3 -c "print(round(($t1-$t0)/$hz*1000/max($rps*$duration,1e-9),3))")"
    stop_pair
    # (c) resumed handshakes.
    MEASURE_PIDS=(); start_$pair true res$run
    read -r rps p50 p99 bad < <(wrk_run "$CLIENT_PORT" -H "Connection: close")
    record $pair resumed_handshakes_per_s "$rps"
    stop_pair
    # (d) bulk throughput through the pair to iperf3.
    TARGET=$iperf_port; MEASURE_PIDS=(); start_$pair true bulk$run
    local gbps
    gbps=$(iperf3 -c 127.0.0.1 -p "$CLIENT_PORT" -t "$duration" -J 2>/dev/null |
           jq '.end.sum_received.bits_per_second / 1e9' 2>/dev/null || echo 0)
    record $pair bulk_gbit_s "$gbps"
    stop_pair
  }
}

echo "compare.sh: $runs runs of ${duration}s per measurement; results in $out" >&2
for run in $(seq "$runs"); do
  read -r rps p50 p99 bad < <(wrk_run "$backend")
  record direct keepalive_rps "$rps"; record direct keepalive_p50_ms "$p50"; record direct keepalive_p99_ms "$p99"
done
# Run after run, each run starting one pair later: this VM's speed can change within minutes,
# and a fixed order would give one pair every slow (or fast) phase.
[[ ${FLOOR:-0} == 1 ]] && pairs="$pairs mutualplain haproxyplain"
read -r -a pair_list <<<"$pairs"
for run in $(seq "$runs"); do
  for ((i = 0; i < ${#pair_list[@]}; i++)); do
    pair=${pair_list[$(((i + run - 1) % ${#pair_list[@]}))]}
    echo "compare.sh: run $run, $pair" >&2
    measure_pair "$pair" "$run"
  done
done

python3 - "$results" "$out/summary.md" "$out/results.json" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
data = {}
for r in rows:
    data.setdefault(r["pair"], {}).setdefault(r["metric"], []).append(r["value"])
med = {p: {m: statistics.median(v) for m, v in ms.items()} for p, ms in data.items()}
json.dump(med, open(sys.argv[3], "w"), indent=2)
metrics = [("keepalive_rps", "keep-alive req/s", max), ("keepalive_p50_ms", "p50 ms", min),
           ("keepalive_p99_ms", "p99 ms", min), ("cpu_ms_per_1k_requests", "CPU ms / 1k req", min),
           ("full_handshakes_per_s", "full handshakes/s", max),
           ("cpu_ms_per_new_connection", "CPU ms / new conn", min),
           ("resumed_handshakes_per_s", "resumed handshakes/s", max),
           ("bulk_gbit_s", "bulk Gbit/s", max), ("rss_kb", "RSS KiB (both sides)", min),
           ("rss_anon_kb", "RSS anonymous KiB (both sides)", min),
           ("idle_rss_kb_per_1k", "RSS KiB / 1k idle", min)]
references = ("direct", "mutual", "mutualplain", "haproxyplain")  # not peers in the ratios
pairs = [p for p in ["direct", "mutual", "haproxy", "nginx", "stunnel", "mutualplain",
                     "haproxyplain"] if p in med]
out = ["| metric | " + " | ".join(pairs) + " | mutual / best peer |", "|---" * (len(pairs) + 2) + "|"]
for key, label, best in metrics:
    cells = [f"{med[p][key]:g}" if key in med[p] else "-" for p in pairs]
    peers = [med[p][key] for p in pairs if p not in references and key in med[p]]
    ratio = "-"
    if peers and "mutual" in med and key in med["mutual"] and best(peers):
        ratio = f"{med['mutual'][key] / best(peers):.2f}"
    out.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
# The TLS-free floor of goal (a): the plaintext pairs against the best peer with TLS.
tls_peers = [p for p in ("haproxy", "nginx", "stunnel") if p in med]
for ref in ("haproxyplain", "mutualplain"):
    if ref not in med or not tls_peers:
        continue
    best_cpu = min(med[p]["cpu_ms_per_1k_requests"] for p in tls_peers)
    best_rps = max(med[p]["keepalive_rps"] for p in tls_peers)
    out.append("")
    out.append(f"{ref} (no TLS) / best TLS peer: keep-alive req/s "
               f"{med[ref]['keepalive_rps'] / best_rps:.2f}, CPU per request "
               f"{med[ref]['cpu_ms_per_1k_requests'] / best_cpu:.2f}, p50 "
               f"{med[ref]['keepalive_p50_ms'] / min(med[p]['keepalive_p50_ms'] for p in tls_peers):.2f}")
try:
    protocols = [l.split() for l in open(sys.argv[1].rsplit("/", 1)[0] + "/protocols.txt")]
    out.append("")
    out.append("Server side's TLS version: " + ", ".join(f"{p[0]} {p[1] if len(p) > 1 else '?'}" for p in protocols))
except FileNotFoundError:
    pass
text = "\n".join(out)
open(sys.argv[2], "w").write(text + "\n")
print(text)
PY
