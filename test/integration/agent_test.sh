#!/usr/bin/env bash
# The control plane end to end: `mutual server run` (SQLite), a join token, `mutual agent run`
# attesting with it, syncing an entry for this test's uid and serving its X509-SVID over the
# Workload API (to `mutual agent api` and to the independent Python client); SVIDs re-signed
# when entries or authorities change; the health listener; the token cannot be replayed; a
# stopped server does not take the workload's SVID away, and the agent syncs again once it is
# back; a restarted agent reuses its node SVID (no new token needed); an evicted agent attests
# again with x509pop, or says that a new join token is needed.
# Usage: agent_test.sh MUTUAL_BINARY REPO_ROOT
set -euo pipefail
mutual=$1
root=$(cd "${2:?usage: agent_test.sh MUTUAL_BINARY REPO_ROOT}" && pwd)
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

# The fleet CA x509pop agents chain to, and one node's certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=fleet-ca -days 1 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout fleet-ca.key -out fleet-ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=node-2 \
  -keyout node2.key -out node2.csr 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' > node2.ext
openssl x509 -req -in node2.csr -CA fleet-ca.pem -CAkey fleet-ca.key -CAcreateserial -days 1 \
  -extfile node2.ext -out node2.pem 2>/dev/null || fail "cannot make the x509pop certificate"

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
    NodeAttestor "x509pop" { plugin_data { ca_bundle_path = "$tmp/fleet-ca.pem" } }
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
cp bundle.pem bundle0.pem  # the bootstrap bundle: only the first root
web_entry=$("$mutual" server entry create "${admin[@]}" --parent-id spiffe://example.org/node/n1 \
  --spiffe-id spiffe://example.org/ns/shop/sa/web --selector "unix:uid:$(id -u)" \
  --hint internal -o json | jq -r '.[0].id')
[[ -n $web_entry && $web_entry != null ]] || fail "no entry ID"

# write_agent_conf DIR SOCKET [JOIN_TOKEN [HEALTH_PORT]]: DIR/agent.conf; its NodeAttestor and
# KeyManager plugins come on stdin; with HEALTH_PORT, a health_checks listener on it.
write_agent_conf() {
  mkdir -p "$1"
  local token_line="" health=""
  [[ -z ${3:-} ]] || token_line="    join_token = \"$3\""
  [[ -z ${4:-} ]] || health="health_checks {
    listener_enabled = true
    bind_address = \"127.0.0.1\"
    bind_port = \"$4\"
}"
  {
    cat <<CONF
agent {
    data_dir = "./data"
    log_level = "INFO"
    trust_domain = "example.org"
    server_address = "127.0.0.1"
    server_port = "$port"
    socket_path = "$2"
    trust_bundle_path = "$tmp/bundle.pem"
$token_line
}
plugins {
CONF
    cat
    printf '    WorkloadAttestor "unix" { plugin_data {} }\n}\n%s\n' "$health"
  } > "$1/agent.conf"
}
health_port=$(free_port)
write_agent_conf agent "$tmp/agent.sock" "$token" "$health_port" <<'CONF'
    NodeAttestor "join_token" { plugin_data {} }
    KeyManager "disk" { plugin_data { directory = "./keys" } }
CONF
"$mutual" agent validate -c agent/agent.conf >/dev/null || fail "agent validate"
# validate checks the files agent.conf names; run refuses them at start; both name the field.
mkdir -p bad
sed "s|trust_bundle_path = \"$tmp/bundle.pem\"|trust_bundle_path = \"$tmp/missing.pem\"|" \
  agent/agent.conf > bad/agent.conf
rc=0; "$mutual" agent validate -c bad/agent.conf >/dev/null 2>bad.err || rc=$?
[[ $rc == 2 ]] && grep -Eq "bad/agent.conf:[0-9]+: agent.trust_bundle_path: .*missing.pem" bad.err \
  || fail "validate with a missing trust_bundle_path: exit $rc: $(cat bad.err)"
echo "not PEM" > notpem.pem
sed -i "s|$tmp/missing.pem|$tmp/notpem.pem|" bad/agent.conf
rc=0; "$mutual" agent validate -c bad/agent.conf >/dev/null 2>bad.err || rc=$?
[[ $rc == 2 ]] && grep -Eq "bad/agent.conf:[0-9]+: agent.trust_bundle_path: .*notpem.pem" bad.err \
  || fail "validate with a trust_bundle_path that is not PEM: exit $rc: $(cat bad.err)"
rc=0; "$mutual" agent run -c bad/agent.conf >/dev/null 2>bad.err || rc=$?
[[ $rc == 2 ]] && grep -Eq "bad/agent.conf:[0-9]+: agent.trust_bundle_path: .*notpem.pem" bad.err \
  || fail "run with a trust_bundle_path that is not PEM: exit $rc: $(cat bad.err)"
write_agent_conf badpop "$tmp/badpop.sock" <<CONF
    NodeAttestor "x509pop" {
        plugin_data {
            private_key_path = "$tmp/nope.key"
            certificate_path = "$tmp/node2.pem"
        }
    }
    KeyManager "memory" { plugin_data {} }
CONF
field='badpop/agent.conf:[0-9]+: plugins.NodeAttestor "x509pop".plugin_data.private_key_path: .*nope.key'
rc=0; "$mutual" agent validate -c badpop/agent.conf >/dev/null 2>bad.err || rc=$?
[[ $rc == 2 ]] && grep -Eq "$field" bad.err || fail "validate with a missing x509pop key: exit $rc: $(cat bad.err)"
rc=0; "$mutual" agent run -c badpop/agent.conf >/dev/null 2>bad.err || rc=$?
[[ $rc == 2 ]] && grep -Eq "$field" bad.err || fail "run with a missing x509pop key: exit $rc: $(cat bad.err)"
echo "ok: validate and run check the files agent.conf names, naming file, line and field"
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
fetch | jq -e '.svids[0].hint == "internal"' >/dev/null || fail "the entry's hint is not served"
[[ -s agent/keys/agent_svid.pem && $(stat -c %a agent/keys/agent_svid.key) == 600 ]] \
  || fail "KeyManager \"disk\": no node SVID (or a key not 0600) in its directory"
[[ ! -e agent/data/agent_svid.pem && ! -e agent/data/agent_svid.key ]] \
  || fail "KeyManager \"disk\": the node SVID is in data_dir, not in its directory"
echo "ok: attested, synced, SVID (with its hint) served and verified by openssl"
# A second agent on the same agent.conf is refused (data_dir locked), naming the holder.
rc=0; "$mutual" agent run -c agent/agent.conf >/dev/null 2>dup.err || rc=$?
[[ $rc == 2 ]] && grep -q "another mutual agent is running with data_dir .*(pid $agent_pid)" dup.err \
  || fail "a second agent on the same data_dir: exit $rc: $(cat dup.err)"
fetch | jq -e '.svids | length == 1' >/dev/null || fail "the first agent stopped serving"
echo "ok: a second agent on the same data_dir is refused"

# health_checks: SPIRE's /live and /ready.
# probe PORT PATH: "STATUS BODY" of a GET.
probe() {
  curl -s --max-time 5 -o probe.body -w '%{http_code}' "http://127.0.0.1:$1$2" || true
  echo " $(cat probe.body 2>/dev/null)"
}
[[ $(probe "$health_port" /live) == '200 {"live":true}' ]] || fail "agent /live: $(probe "$health_port" /live)"
[[ $(probe "$health_port" /ready) == '200 {"ready":true}' ]] || fail "agent /ready: $(probe "$health_port" /ready)"
echo "ok: the agent's health listener answers /live and /ready"

# The entry's DNS names change: the SVID is re-signed at the next sync, not at half-life. The
# change is made by the independent Python client of the Workload API (written from the spec,
# test/interop/workload_client.py) while it holds a FetchX509SVID stream open to this agent:
# the re-signed SVID must arrive on that stream. It also checks the header refusal, the bundle
# and JWT-SVIDs against the real agent and server.
rotate="'$mutual' server entry update --socket '$tmp/server.sock' --entry-id '$web_entry' --dns b.local"
if /usr/bin/python3 -c 'import grpc, grpc_tools, cryptography, jwt' 2>/dev/null; then
  /usr/bin/python3 "$root/test/interop/workload_client.py" --proto-root "$root/proto" \
    --socket "$tmp/agent.sock" --spiffe-id spiffe://example.org/ns/shop/sa/web \
    --rotate-command "$rotate" > python.log 2>&1 || fail "the Python Workload API client failed"
  sed 's/^/  python /' python.log
  echo "ok: the independent Python client against the real agent (rotation on its open stream)"
else
  echo "SKIP (part): /usr/bin/python3 lacks grpc, grpc_tools, cryptography or jwt; entry updated without it"
  eval "$rotate" >/dev/null || fail "entry update --dns"
fi
served_dns() {
  rm -rf dns && "$mutual" agent api fetch x509 --socket "$tmp/agent.sock" --write dns \
    >/dev/null 2>&1 && openssl x509 -in dns/svid.0.pem -noout -ext subjectAltName 2>/dev/null
}
for _ in $(seq 75); do served_dns | grep -q 'DNS:b.local' && break; sleep 0.2; done
served_dns | grep -q 'DNS:b.local' || fail "the SVID did not get the entry's new DNS name"
echo "ok: an entry's new DNS name reaches its SVID at the next sync"

# A new root (CA rotation): the next sync brings it to workloads with their current SVIDs, not
# at each SVID's renewal, and to the bundle the agent verifies the server with.
"$mutual" server authority prepare "${admin[@]}" --new-root >/dev/null || fail "authority prepare"
for _ in $(seq 60); do
  fetch | jq -e '.svids[0].bundle | length == 2' >/dev/null && break
  sleep 0.2
done
fetch | jq -e '.svids[0].bundle | length == 2' >/dev/null \
  || fail "the new root did not reach the workload: $(fetch | jq -c '.svids[0].bundle')"
[[ $(grep -c 'BEGIN CERTIFICATE' agent/data/bundle.pem) == 2 ]] \
  || fail "the agent's data_dir/bundle.pem lacks the new root"
echo "ok: a new root reaches workloads and the agent's own bundle at the next sync"

# The new authority active and the old one tainted: SVIDs it signed are re-signed at the next
# sync, by the new one.
served_aki() {
  rm -rf aki && "$mutual" agent api fetch x509 --socket "$tmp/agent.sock" --write aki \
    >/dev/null 2>&1 && openssl x509 -in aki/svid.0.pem -noout -ext authorityKeyIdentifier \
    | grep -oE '([0-9A-Fa-f]{2}:)+[0-9A-Fa-f]{2}' | tr -d : | tr A-F a-f
}
old_aki=$(served_aki)
[[ -n $old_aki ]] || fail "the served SVID has no authority key ID"
"$mutual" server authority activate "${admin[@]}" >/dev/null || fail "authority activate"
"$mutual" server authority taint "${admin[@]}" --authority-id "$old_aki" >/dev/null \
  || fail "authority taint $old_aki"
for _ in $(seq 75); do
  new_aki=$(served_aki)
  [[ -n $new_aki && $new_aki != "$old_aki" ]] && break
  sleep 0.2
done
[[ -n $new_aki && $new_aki != "$old_aki" ]] || fail "the SVID signed by tainted $old_aki was kept"
echo "ok: an SVID signed by a tainted authority is re-signed at the next sync"

# The agent's own node SVID, signed by the tainted authority too, is renewed by the new one; the
# tainted authority can then be revoked without locking the (join token) agent out.
node_aki() {
  openssl x509 -in agent/keys/agent_svid.pem -noout -ext authorityKeyIdentifier 2>/dev/null \
    | grep -oE '([0-9A-Fa-f]{2}:)+[0-9A-Fa-f]{2}' | tr -d : | tr A-F a-f
}
for _ in $(seq 75); do [[ $(node_aki) == "$new_aki" ]] && break; sleep 0.2; done
[[ $(node_aki) == "$new_aki" ]] || fail "the node SVID signed by tainted $old_aki was not renewed ($(node_aki))"
revoke_mark=$(wc -l < agent.log)
"$mutual" server authority revoke "${admin[@]}" --authority-id "$old_aki" >/dev/null \
  || fail "authority revoke $old_aki"
"$mutual" server entry update "${admin[@]}" --entry-id "$web_entry" --dns r.local >/dev/null \
  || fail "entry update --dns r.local"
for _ in $(seq 75); do served_dns | grep -q 'DNS:r.local' && break; sleep 0.2; done
served_dns | grep -q 'DNS:r.local' || fail "after the revoke the agent no longer syncs"
if tail -n +"$((revoke_mark + 1))" agent.log | grep 'node SVID dropped'; then
  fail "the revoke dropped the agent's node SVID"
fi
echo "ok: the node SVID is renewed off a tainted authority; after its revoke the agent keeps working"

# JWT-SVIDs: minted by the server, checked by the agent against the JWT keys it synced.
jwt_out=$("$mutual" agent api fetch jwt --socket "$tmp/agent.sock" --audience db -o json) \
  || fail "agent api fetch jwt"
echo "$jwt_out" | jq -e '.bundles["example.org"].keys | length >= 1' >/dev/null \
  || fail "no JWT keys in the JWT bundle: $jwt_out"
jwt_svid=$(echo "$jwt_out" | jq -r '.svids[0].token')
"$mutual" agent api validate jwt --socket "$tmp/agent.sock" --audience db --svid "$jwt_svid" \
  >/dev/null || fail "the agent does not validate its own JWT-SVID"
rc=0
"$mutual" agent api validate jwt --socket "$tmp/agent.sock" --audience other \
  --svid "$jwt_svid" >/dev/null 2>validate.err || rc=$?
[[ $rc == 1 ]] && grep -q 'expected audience in \[other\], the token has \[db\]' validate.err \
  || fail "a JWT-SVID for another audience: want exit 1 and the audience named, got $rc: $(cat validate.err)"
echo "ok: JWT-SVID fetched, its bundle synced, validated (and refused for another audience)"

# The token is single use: a second agent with it is refused. (It starts from the current
# bundle: the server's certificate chains to the new root by now, and a TLS failure must not
# pass for the refusal.)
"$mutual" server bundle show "${admin[@]}" > bundle.pem || fail "bundle show"
replay_health=$(free_port)
write_agent_conf replay "$tmp/replay.sock" "$token" "$replay_health" <<'CONF'
    NodeAttestor "join_token" { plugin_data {} }
    KeyManager "disk" { plugin_data { directory = "./keys" } }
CONF
"$mutual" agent run -c replay/agent.conf > replay.log 2>&1 &
replay_pid=$!
pids+=($replay_pid)
refused='join_token: the token was already used'
for _ in $(seq 50); do grep -q "$refused" replay.log && break; sleep 0.2; done
grep -q "$refused" replay.log || fail "a replayed join token was not refused: $(cat replay.log)"
# Not ready, saying why.
replay_ready=$(probe "$replay_health" /ready)
[[ $replay_ready == '503 {"ready":false,"reason":"not synced with the server yet: '*"$refused"* ]] \
  || fail "a refused agent's /ready: $replay_ready"
echo "  $replay_ready"
kill $replay_pid 2>/dev/null || true
echo "ok: a replayed join token is refused (and the agent's /ready says so)"

# log_since LINE FILE: FILE's lines after the first LINE (a mark taken with `wc -l`).
log_since() { tail -n +"$(($1 + 1))" "$2"; }
# The server goes away: the workload keeps its SVID, also once the agent has failed to sync.
down_mark=$(wc -l < agent.log)
kill $server_pid
wait $server_pid 2>/dev/null || true
for _ in $(seq 75); do log_since "$down_mark" agent.log | grep -q 'serving cached SVIDs; retrying' && break; sleep 0.2; done
log_since "$down_mark" agent.log | grep -q 'serving cached SVIDs; retrying' \
  || fail "the agent did not try (and fail) to sync while the server was down"
fetch | jq -e '.svids | length == 1' >/dev/null || fail "the SVID was lost while the server was down"
[[ $(probe "$health_port" /ready) == '200 {"ready":true}' ]] \
  || fail "the agent is not ready while the server is down: $(probe "$health_port" /ready)"
start_server
# Back: the agent reconnects and follows the entries again (a change re-signs the SVID).
"$mutual" server entry update "${admin[@]}" --entry-id "$web_entry" --dns c.local >/dev/null \
  || fail "entry update --dns c.local"
for _ in $(seq 100); do served_dns | grep -q 'DNS:c.local' && break; sleep 0.2; done
served_dns | grep -q 'DNS:c.local' || fail "after the server's restart, the agent did not sync again"
echo "ok: the SVID is served (and the agent ready) while the server is down; synced again after"

# A quick restart, most likely between two syncs, after another root was prepared (and synced
# to the agent; the first root was revoked above, so the bundle holds two) and activated: the agent's connection is made again to a server whose
# certificate chains to that root, and must be verified with the bundle of the last sync, not
# with the one the connection was first made with (that failed once, then recovered at the
# retry).
"$mutual" server authority prepare "${admin[@]}" --new-root >/dev/null || fail "authority prepare (third root)"
for _ in $(seq 60); do
  [[ $(grep -c 'BEGIN CERTIFICATE' agent/data/bundle.pem) == 2 ]] && break
  sleep 0.2
done
[[ $(grep -c 'BEGIN CERTIFICATE' agent/data/bundle.pem) == 2 ]] || fail "the third root did not reach the agent"
"$mutual" server authority activate "${admin[@]}" >/dev/null || fail "authority activate (third root)"
restart_mark=$(wc -l < agent.log)
kill $server_pid
wait $server_pid 2>/dev/null || true
start_server
"$mutual" server entry update "${admin[@]}" --entry-id "$web_entry" --dns d.local >/dev/null \
  || fail "entry update --dns d.local"
for _ in $(seq 100); do served_dns | grep -q 'DNS:d.local' && break; sleep 0.2; done
served_dns | grep -q 'DNS:d.local' || fail "after a quick restart of the server, the agent did not sync again"
if log_since "$restart_mark" agent.log | grep 'certificate verify failed'; then
  fail "after the server's restart, the agent verified it with an outdated bundle"
fi
echo "ok: after a quick restart of the server the agent syncs again, verifying it with the current bundle"

# The agent restarts without a token: it reuses its node SVID from KeyManager "disk".
kill $agent_pid
wait $agent_pid 2>/dev/null || true
sed -i "s/join_token = \"$token\"/join_token = \"\"/" agent/agent.conf
start_agent
wait_svid
echo "ok: a restarted agent reuses its node SVID"

# Evicted, the agent drops its refused node SVID. Its join token was single use: it says a new
# one is needed, and keeps serving the SVIDs it holds.
evict_mark=$(wc -l < agent.log)
"$mutual" server agent evict "${admin[@]}" \
  --spiffe-id "spiffe://example.org/spire/agent/join_token/$token" >/dev/null || fail "agent evict"
needed='a new join token is needed to attest again'
for _ in $(seq 150); do log_since "$evict_mark" agent.log | grep -q "$needed" && break; sleep 0.2; done
log_since "$evict_mark" agent.log | grep -q "$needed" \
  || fail "an evicted join_token agent does not say that a new token is needed"
[[ ! -e agent/keys/agent_svid.pem ]] || fail "the refused node SVID is still on disk"
fetch | jq -e '.svids | length == 1' >/dev/null || fail "the SVID was lost when the agent was evicted"
echo "ok: an evicted join_token agent says a new token is needed"

# With a new join token it attests again, verifying the server with the bundle it saved
# (data_dir/bundle.pem), not with trust_bundle_path: that one holds only the first root, revoked
# since. Without the saved bundle the failure names the bundle it verified with.
kill $agent_pid
wait $agent_pid 2>/dev/null || true
token2=$("$mutual" server token generate "${admin[@]}" --spiffe-id spiffe://example.org/node/n1 \
  --ttl 600 -o json | jq -r .token)
sed -i -e "s/join_token = \"\"/join_token = \"$token2\"/" \
  -e "s|trust_bundle_path = \"$tmp/bundle.pem\"|trust_bundle_path = \"$tmp/bundle0.pem\"|" agent/agent.conf
mv agent/data/bundle.pem saved-bundle.pem
nobundle_mark=$(wc -l < agent.log)
start_agent
for _ in $(seq 50); do
  tail -n +"$((nobundle_mark + 1))" agent.log | grep -q "verifying the server with .*/bundle0.pem:" && break
  sleep 0.2
done
tail -n +"$((nobundle_mark + 1))" agent.log | grep -q "verifying the server with .*/bundle0.pem:" \
  || fail "a failed attestation does not name the bundle it verified the server with"
kill $agent_pid
wait $agent_pid 2>/dev/null || true
mv saved-bundle.pem agent/data/bundle.pem
start_agent
wait_svid
grep -q "attested as spiffe://example.org/spire/agent/join_token/$token2" agent.log \
  || fail "the agent did not attest again with the new token"
echo "ok: re-attestation verifies the server with the saved bundle (and names it when that fails)"

# An x509pop agent attests again by itself once evicted. It starts from the current bundle: the
# server's certificate now chains to the third root.
"$mutual" server bundle show "${admin[@]}" > bundle.pem || fail "bundle show"
write_agent_conf pop "$tmp/pop.sock" <<CONF
    NodeAttestor "x509pop" {
        plugin_data {
            private_key_path = "$tmp/node2.key"
            certificate_path = "$tmp/node2.pem"
        }
    }
    KeyManager "memory" { plugin_data {} }
CONF
"$mutual" agent run -c pop/agent.conf > pop.log 2>&1 &
pids+=($!)
attestations() { grep -c "attested as spiffe://example.org/spire/agent/x509pop/" pop.log || true; }
for _ in $(seq 100); do [[ $(attestations) -ge 1 ]] && break; sleep 0.2; done
[[ $(attestations) -ge 1 ]] || fail "the x509pop agent did not attest"
[[ -z $(find pop -name 'agent_svid*') ]] || fail "KeyManager \"memory\" wrote the node SVID"
pop_id=$(grep -o "attested as spiffe://[^ ]*" pop.log | head -1 | cut -d' ' -f3)
"$mutual" server agent evict "${admin[@]}" --spiffe-id "$pop_id" >/dev/null || fail "evict $pop_id"
for _ in $(seq 150); do [[ $(attestations) -ge 2 ]] && break; sleep 0.2; done
[[ $(attestations) -ge 2 ]] || fail "the evicted x509pop agent did not attest again"
"$mutual" server agent list "${admin[@]}" -o json | jq -e --arg id "$pop_id" \
  'map(select(.spiffe_id == $id)) | length == 1' >/dev/null || fail "$pop_id is not attested again"
echo "ok: an evicted x509pop agent attests again"
echo "PASS"
