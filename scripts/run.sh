#!/usr/bin/env bash
# `make run`: the whole mesh on this machine, on loopback, with embedded defaults.
#
#   mutual server   CA created on first start, SQLite datastore     127.0.0.1:8081 (node API)
#   mutual agent    attested with a join token, Workload API         RUN_DIR/agent/api.sock
#   app "web"       a Python HTTP server, plaintext                  127.0.0.1:18080
#   proxy "web"     inbound STRICT mTLS in front of it               127.0.0.1:15006
#   proxy "client"  outbound: plaintext in, mTLS out to proxy "web"  127.0.0.1:15001
#
# Both proxies take their identity from the agent over the SPIFFE Workload API (one entry for
# this user's uid, so both hold spiffe://example.org/ns/demo/sa/web). State lives
# in RUN_DIR (default ./run): a second start reuses the CA, the datastore and the agent's node
# SVID. Ctrl-C (or SIGTERM) stops everything this script started.
# Usage: run.sh MUTUAL_BINARY [RUN_DIR]
# Environment: MUTUAL_RUN_PORT_BASE moves every port by the same offset (default 0).
set -euo pipefail

mutual=$(realpath "$1")
dir=$(mkdir -p "${2:-run}" && cd "${2:-run}" && pwd)
offset=${MUTUAL_RUN_PORT_BASE:-0}
td=example.org
node_id=spiffe://$td/node/local
web_id=spiffe://$td/ns/demo/sa/web
server_port=$((8081 + offset))
app_port=$((18080 + offset))
web_in=$((15006 + offset))
client_out=$((15001 + offset))
web_admin=$((15100 + offset))
client_admin=$((15000 + offset))
socket=$dir/server/api.sock
agent_socket=$dir/agent/api.sock
logs=$dir/logs

pids=()
stop() {
  trap - EXIT INT TERM
  if ((${#pids[@]} > 0)); then
    echo
    echo "Stopping (pids ${pids[*]})..."
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop EXIT
trap 'exit 130' INT TERM
fatal() { echo "run.sh: $*" >&2; exit 1; }
die() {  # fatal, with the end of every log
  echo "run.sh: $*" >&2
  for f in "$logs"/*.log; do
    [[ -s $f ]] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}
step() { printf '\n== %s\n' "$*"; }
wait_for() {  # TRIES WHAT COMMAND...
  local tries=$1 what=$2
  shift 2
  for _ in $(seq "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "$what did not come up (see $logs)"
}
listening() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for port in $server_port $app_port $web_in $client_out $web_admin $client_admin; do
  listening "$port" && fatal "127.0.0.1:$port is in use; stop what holds it or move every port with MUTUAL_RUN_PORT_BASE=1000 make run"
done
mkdir -p "$dir/server" "$dir/agent" "$dir/proxies" "$dir/www" "$logs"
chmod 700 "$dir/server" "$dir/agent"
: > "$logs/server.log"; : > "$logs/agent.log"

step "Control plane: mutual server (trust domain $td, SQLite in $dir/server)"
cat > "$dir/server/server.conf" <<CONF
server {
    bind_address = "127.0.0.1"
    bind_port = "$server_port"
    socket_path = "$socket"
    trust_domain = "$td"
    data_dir = "$dir/server/data"
    log_level = "INFO"
    ca_ttl = "72h"
    default_x509_svid_ttl = "1h"
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "$dir/server/data/datastore.sqlite3"
        }
    }
    NodeAttestor "join_token" { plugin_data {} }
    KeyManager "disk" { plugin_data = { keys_path = "$dir/server/data/keys.json" } }
}
CONF
[[ -f $dir/server/data/root_ca.crt ]] && echo "reusing the CA and datastore of an earlier run"
"$mutual" server run -c "$dir/server/server.conf" >> "$logs/server.log" 2>&1 &
pids+=($!)
admin=(--socket "$socket")
wait_for 150 "mutual server" "$mutual" server healthcheck "${admin[@]}"
"$mutual" server healthcheck "${admin[@]}"

step "Registration: the node and the workloads it may serve"
agent_token=""
if [[ ! -s $dir/agent/data/agent_svid.pem ]]; then
  agent_token=$("$mutual" server token generate "${admin[@]}" --spiffe-id "$node_id" --ttl 600 \
    -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  echo "join token for a new agent, aliased to $node_id"
fi
if ! "$mutual" server entry show "${admin[@]}" --spiffe-id "$web_id" -o json |
    python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin) else 1)'; then
  "$mutual" server entry create "${admin[@]}" --parent-id "$node_id" --spiffe-id "$web_id" \
    --selector "unix:uid:$(id -u)" --x509-svid-ttl 600 >/dev/null
fi
"$mutual" server entry show "${admin[@]}"
"$mutual" server bundle show "${admin[@]}" > "$dir/agent/bootstrap.crt"

step "Node agent: mutual agent (Workload API on $agent_socket)"
cat > "$dir/agent/agent.conf" <<CONF
agent {
    data_dir = "$dir/agent/data"
    log_level = "INFO"
    trust_domain = "$td"
    server_address = "127.0.0.1"
    server_port = "$server_port"
    socket_path = "$agent_socket"
    trust_bundle_path = "$dir/agent/bootstrap.crt"
    join_token = "$agent_token"
}
plugins {
    NodeAttestor "join_token" { plugin_data {} }
    KeyManager "disk" { plugin_data { directory = "$dir/agent/data" } }
    WorkloadAttestor "unix" { plugin_data {} }
}
CONF
"$mutual" agent run -c "$dir/agent/agent.conf" >> "$logs/agent.log" 2>&1 &
pids+=($!)
wait_for 150 "the agent's Workload API" "$mutual" agent api fetch x509 --socket "$agent_socket"
"$mutual" agent api fetch x509 --socket "$agent_socket"

step "Data plane: an application and two sidecar proxies"
echo "hello through mTLS, from the web workload" > "$dir/www/index.html"
python3 -m http.server --bind 127.0.0.1 --directory "$dir/www" "$app_port" \
  >> "$logs/app.log" 2>&1 &
pids+=($!)
wait_for 150 "the application" curl -sf "http://127.0.0.1:$app_port/"
cat > "$dir/proxies/policies.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: demo}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: web, namespace: demo}
spec:
  selector: {matchLabels: {app: web}}
  action: ALLOW
  rules: [{from: [{source: {principals: [example.org/ns/demo/sa/web]}}]}]
YAML
cat > "$dir/proxies/web.yaml" <<YAML
workload: {namespace: demo, name: web, service_account: web, labels: {app: web}}
trust_domain: $td
credentials: {workload_api: {socket: $agent_socket}}
policies: [$dir/proxies/policies.yaml]
inbound: [{port: 8080, listen: 127.0.0.1:$web_in, forward: 127.0.0.1:$app_port}]
admin: 127.0.0.1:$web_admin
access_log: $logs/web-access.log
workers: 1
YAML
cat > "$dir/proxies/client.yaml" <<YAML
workload: {namespace: demo, name: client, service_account: web, labels: {app: client}}
trust_domain: $td
credentials: {workload_api: {socket: $agent_socket}}
policies: [$dir/proxies/policies.yaml]
outbound:
  - {listen: 127.0.0.1:$client_out, destination: web.demo.svc.cluster.local:8080,
     endpoints: [127.0.0.1:$web_in], identities: [$web_id]}
admin: 127.0.0.1:$client_admin
access_log: $logs/client-access.log
workers: 1
YAML
for side in web client; do
  "$mutual" proxy run -c "$dir/proxies/$side.yaml" >> "$logs/proxy-$side.log" 2>&1 &
  pids+=($!)
done
wait_for 150 "proxy web" curl -sf "http://127.0.0.1:$web_admin/ready"
wait_for 150 "proxy client" curl -sf "http://127.0.0.1:$client_admin/ready"
"$mutual" proxy-config secret --admin "127.0.0.1:$web_admin"

step "A request: curl -> proxy client -> mTLS -> proxy web -> app"
echo "\$ curl http://127.0.0.1:$client_out/"
curl -sS --max-time 5 "http://127.0.0.1:$client_out/" || die "the request through the mesh failed"
echo "\$ mutual proxy-config edges --admin 127.0.0.1:$web_admin"
"$mutual" proxy-config edges --admin "127.0.0.1:$web_admin"
echo "\$ curl http://127.0.0.1:$web_in/   (plaintext straight to the STRICT port: refused)"
if curl -sS --max-time 5 "http://127.0.0.1:$web_in/" 2>&1; then
  die "the STRICT port answered plaintext"
fi

cat <<EOF

The mesh is up (state and logs in $dir). Try:
  curl http://127.0.0.1:$client_out/                      through both proxies, mTLS between them
  $mutual agent api watch --socket $agent_socket     the Workload API stream (SVID rotations)
  $mutual server entry show --socket $socket
  curl -s http://127.0.0.1:$web_admin/metrics | grep mutual_tcp        Prometheus metrics
  tail -f $logs/web-access.log                  one JSON line per connection
Ctrl-C stops everything.
EOF
wait -n "${pids[@]}" || true
die "a process of the mesh exited"
