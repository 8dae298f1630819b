#!/usr/bin/env bash
# The control plane end to end: `mutual server run` (SQLite), a join token, `mutual agent run`
# attesting with it, syncing an entry for this test's uid and serving its X509-SVID over the
# Workload API; the token cannot be replayed; a stopped server does not take the workload's
# SVID away; a restarted agent reuses its node SVID (no new token needed).
# Usage: agent_test.sh MUTUAL_BINARY REPO_ROOT
set -euo pipefail
mutual=$1
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }
command -v jq >/dev/null || { echo "SKIP: jq is needed"; exit 0; }
# The server's port is not port 0: the server is restarted on it after a while down, and a port
# 0 gave us is an ephemeral one, which any outgoing connection of a parallel test may take as its
# source port in the meantime.
source "$(dirname "${BASH_SOURCE[0]}")/ports_lib.sh"
port=$(free_port)
cd "$tmp"

cat > server.conf <<CONF
server {
    bind_address = "127.0.0.1"
    bind_port = "$port"
    socket_path = "$tmp/server.sock"
    trust_domain = "example.org"
    data_dir = "./data/server"
    log_level = "INFO"
    ca_ttl = "72h"
    default_x509_svid_ttl = "1h"
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "./data/server/datastore.sqlite3"
        }
    }
    NodeAttestor "join_token" { plugin_data {} }
    KeyManager "disk" { plugin_data = { keys_path = "./data/server/keys.json" } }
}
CONF
start_server() {
  "$mutual" server run -c server.conf >> server.log 2>&1 &
  server_pid=$!
  pids+=($server_pid)
  for _ in $(seq 100); do
    "$mutual" server healthcheck --socket "$tmp/server.sock" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "the server did not become healthy"
}
start_server
admin=(--socket "$tmp/server.sock")
token=$("$mutual" server token generate "${admin[@]}" --spiffe-id spiffe://example.org/node/n1 \
  --ttl 600 -o json | jq -r .token)
[[ -n $token && $token != null ]] || fail "no token"
"$mutual" server bundle show "${admin[@]}" > bundle.pem
openssl x509 -in bundle.pem -noout || fail "the bundle is not PEM"
"$mutual" server entry create "${admin[@]}" --parent-id spiffe://example.org/node/n1 \
  --spiffe-id spiffe://example.org/ns/shop/sa/web --selector "unix:uid:$(id -u)" >/dev/null

write_agent_conf() {  # DIR SOCKET TOKEN
  mkdir -p "$1"
  cat > "$1/agent.conf" <<CONF
agent {
    data_dir = "./data"
    log_level = "INFO"
    trust_domain = "example.org"
    server_address = "127.0.0.1"
    server_port = "$port"
    socket_path = "$2"
    trust_bundle_path = "$tmp/bundle.pem"
    join_token = "$3"
}
plugins {
    NodeAttestor "join_token" { plugin_data {} }
    KeyManager "memory" { plugin_data {} }
    WorkloadAttestor "unix" { plugin_data {} }
}
CONF
}
write_agent_conf agent "$tmp/agent.sock" "$token"
"$mutual" agent validate -c agent/agent.conf >/dev/null || fail "agent validate"
start_agent() {
  "$mutual" agent run -c agent/agent.conf >> agent.log 2>&1 &
  agent_pid=$!
  pids+=($agent_pid)
}
fetch() { "$mutual" agent api fetch x509 --socket "$tmp/agent.sock" -o json 2>/dev/null; }
wait_svid() {
  for _ in $(seq 100); do
    if out=$(fetch) && echo "$out" | jq -e \
        '.svids[0].spiffe_id == "spiffe://example.org/ns/shop/sa/web"' >/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  fail "no SVID over the Workload API"
}
start_agent
wait_svid
grep -q "attested as spiffe://example.org/spire/agent/join_token/$token" agent.log \
  || fail "no attestation line"
"$mutual" agent api fetch x509 --socket "$tmp/agent.sock" --write svid >/dev/null \
  || fail "fetch --write"
openssl verify -CAfile svid/bundle.0.pem -untrusted svid/svid.0.pem svid/svid.0.pem >/dev/null \
  || fail "openssl does not verify the SVID against the bundle"
[[ $(stat -c %a svid/svid.0.key) == 600 ]] || fail "the key file is not 0600"
echo "ok: attested, synced, SVID served and verified by openssl"

# JWT-SVIDs: minted by the server, checked by the agent against the JWT keys it synced.
jwt_out=$("$mutual" agent api fetch jwt --socket "$tmp/agent.sock" --audience db -o json) \
  || fail "agent api fetch jwt"
echo "$jwt_out" | jq -e '.bundles["example.org"].keys | length >= 1' >/dev/null \
  || fail "no JWT keys in the JWT bundle: $jwt_out"
jwt_svid=$(echo "$jwt_out" | jq -r '.svids[0].token')
"$mutual" agent api validate jwt --socket "$tmp/agent.sock" --audience db --svid "$jwt_svid" \
  >/dev/null || fail "the agent does not validate its own JWT-SVID"
if "$mutual" agent api validate jwt --socket "$tmp/agent.sock" --audience other \
    --svid "$jwt_svid" >/dev/null 2>&1; then
  fail "a JWT-SVID validated for an audience it does not carry"
fi
echo "ok: JWT-SVID fetched, its bundle synced, validated (and refused for another audience)"

# The token is single use: a second agent with it is refused.
write_agent_conf replay "$tmp/replay.sock" "$token"
"$mutual" agent run -c replay/agent.conf > replay.log 2>&1 &
replay_pid=$!
pids+=($replay_pid)
for _ in $(seq 50); do grep -qiE 'permission|used|unknown|invalid' replay.log && break; sleep 0.2; done
kill $replay_pid 2>/dev/null || true
grep -qiE 'permission|used|unknown|invalid' replay.log \
  || fail "a replayed join token was not refused: $(cat replay.log)"
echo "ok: a replayed join token is refused"

# The server goes away: the workload keeps its SVID.
kill $server_pid
wait $server_pid 2>/dev/null || true
sleep 1
fetch | jq -e '.svids | length == 1' >/dev/null || fail "the SVID was lost while the server was down"
start_server
echo "ok: the SVID is served while the server is down"

# The agent restarts without a token: it reuses its node SVID from data_dir.
kill $agent_pid
wait $agent_pid 2>/dev/null || true
sed -i "s/join_token = \"$token\"/join_token = \"\"/" agent/agent.conf
start_agent
wait_svid
echo "ok: a restarted agent reuses its node SVID"
echo "PASS"
