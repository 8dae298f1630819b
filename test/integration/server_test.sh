#!/usr/bin/env bash
# Integration test for `mutual server`: the real binary, run with examples/spire/server.conf
# adapted to a temporary directory and free ports, driven through its CLI.
#   server_test.sh MUTUAL_BINARY REPO_ROOT
# Covers: start, healthcheck (CLI and HTTP), join tokens, entries (our flags and SPIRE's),
# bundle show (PEM through openssl, SPIFFE JSON), authority prepare/activate, errors and exit
# codes, SIGTERM, restart with state kept, a malformed server.conf reported as file:line, and
# two servers sharing one PostgreSQL database (skipped when no PostgreSQL server binaries).
# Needs openssl, python3 and curl. Exits non-zero with a message on the first failure.
set -euo pipefail

MUTUAL=${1:?usage: server_test.sh MUTUAL_BINARY REPO_ROOT}
ROOT=${2:?usage: server_test.sh MUTUAL_BINARY REPO_ROOT}
TMP=$(mktemp -d /tmp/mutual-server-test.XXXXXX)
PIDS=()
source "$ROOT/test/integration/postgres_lib.sh"
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  pg_stop
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in "$TMP"/*/server.log; do
    [[ -f $log ]] && { echo "--- $log" >&2; tail -20 "$log" >&2; }
  done
  exit 1
}
pass() { echo "ok: $*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# Runs the CLI, recording stdout, stderr and the exit code (never aborts the script).
run() {
  set +e
  "$MUTUAL" "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
}
expect_rc() {
  local want=$1 what=$2
  [[ $RC -eq $want ]] || fail "$what: exit code $RC, want $want (stdout: $(cat "$TMP/out"); stderr: $(cat "$TMP/err"))"
}

# make_server DIR DATASTORE_TYPE CONNECTION: examples/spire/server.conf with every path in DIR.
make_server() {
  local dir=$1 type=$2 connection=$3
  mkdir -p "$dir/conf/server"
  cp "$TMP/agent-cacert.pem" "$dir/conf/server/agent-cacert.pem"
  local port health
  port=$(free_port)
  health=$(free_port)
  sed -e 's/bind_address = "0.0.0.0"/bind_address = "127.0.0.1"/' \
      -e "s/bind_port = \"8081\"/bind_port = \"$port\"/" \
      -e "s/bind_port = \"8080\"/bind_port = \"$health\"/" \
      -e "s|/tmp/spire-server/private/api.sock|$dir/private/api.sock|" \
      -e "s|database_type = \"sqlite3\"|database_type = \"$type\"|" \
      -e "s|connection_string = \"./data/server/datastore.sqlite3\"|connection_string = \"$connection\"|" \
      -e 's/log_level = "DEBUG"/log_level = "INFO"/' \
      "$ROOT/examples/spire/server.conf" >"$dir/server.conf"
  echo "$health" >"$dir/health_port"
}

# start_server DIR: runs it in the background and waits until healthcheck passes.
start_server() {
  local dir=$1
  "$MUTUAL" server run -c "$dir/server.conf" >>"$dir/server.log" 2>&1 &
  PIDS+=($!)
  echo $! >"$dir/pid"
  for _ in $(seq 1 100); do
    if "$MUTUAL" server healthcheck -c "$dir/server.conf" >/dev/null 2>&1; then return 0; fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || fail "server in $dir exited: $(tail -5 "$dir/server.log")"
    sleep 0.2
  done
  fail "server in $dir did not become healthy"
}

stop_server() {
  local dir=$1 pid
  pid=$(cat "$dir/pid")
  kill -TERM "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.2
  done
  fail "server $pid did not stop within 10s of SIGTERM"
}

# The fleet CA x509pop agents chain to (the example names it).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=fleet-ca -days 1 \
  -keyout "$TMP/agent-ca.key" -out "$TMP/agent-cacert.pem" 2>/dev/null

S1=$TMP/one
make_server "$S1" sqlite3 ./data/server/datastore.sqlite3
C=(-c "$S1/server.conf")

# --- validate, start, health ---------------------------------------------------------------
run server validate "${C[@]}"
expect_rc 0 "server validate"
grep -q "OK" "$TMP/out" || fail "validate: $(cat "$TMP/out")"
pass "server validate"

start_server "$S1"
run server healthcheck "${C[@]}"
expect_rc 0 "healthcheck"
grep -qx "Server is healthy." "$TMP/out" || fail "healthcheck output: $(cat "$TMP/out")"
run server healthcheck "${C[@]}" -o json
[[ $(json 'd["healthy"]' <"$TMP/out") == True ]] || fail "healthcheck json: $(cat "$TMP/out")"
HEALTH=$(cat "$S1/health_port")
curl -sf "http://127.0.0.1:$HEALTH/live" >/dev/null || fail "GET /live"
curl -sf "http://127.0.0.1:$HEALTH/ready" | grep -q '"ready":true' || fail "GET /ready"
pass "server runs; healthcheck (CLI, JSON, HTTP /live and /ready)"
[[ $(stat -c %a "$S1/private") == 700 ]] || fail "socket directory mode $(stat -c %a "$S1/private")"
[[ $(stat -c %a "$S1/private/api.sock") == 600 ]] || fail "socket mode"
[[ $(stat -c %a "$S1/data/server/keys.json") == 600 ]] || fail "keys.json mode"
# The datastore holds unused join tokens; SQLite gives its WAL files the database's mode.
for f in datastore.sqlite3 datastore.sqlite3-wal datastore.sqlite3-shm; do
  [[ $(stat -c %a "$S1/data/server/$f") == 600 ]] || fail "$f mode $(stat -c %a "$S1/data/server/$f")"
done
pass "admin socket 0600 in a 0700 directory; keys.json and the SQLite datastore 0600"

# --- a second server -------------------------------------------------------------------------
# On the same server.conf: refused before it touches data_dir or the admin socket, naming the
# data_dir and the first server's pid; the first keeps its socket.
run server run -c "$S1/server.conf"
expect_rc 2 "a second server on the same data_dir"
grep -q "another mutual server is running with data_dir $S1/data/server .*(pid $(cat "$S1/pid"))" "$TMP/err" ||
  fail "second server's message: $(cat "$TMP/err")"
run server healthcheck "${C[@]}"
expect_rc 0 "the first server after a refused second one"
# Its own data_dir, the first one's admin socket: refused, the live socket is not taken over.
make_server "$TMP/dup-socket" sqlite3 ./data/server/datastore.sqlite3
sed -i "s|$TMP/dup-socket/private/api.sock|$S1/private/api.sock|" "$TMP/dup-socket/server.conf"
run server run -c "$TMP/dup-socket/server.conf"
expect_rc 2 "a second server on a live admin socket"
grep -q "$S1/private/api.sock: another server is listening on it" "$TMP/err" ||
  fail "live socket message: $(cat "$TMP/err")"
# Its own data_dir and socket, the first one's port: address in use (no SO_REUSEPORT).
S1_PORT=$(grep -m1 -o 'bind_port = "[0-9]*"' "$S1/server.conf" | grep -o '[0-9]*')
make_server "$TMP/dup-port" sqlite3 ./data/server/datastore.sqlite3
sed -i "0,/bind_port = \"[0-9]*\"/s//bind_port = \"$S1_PORT\"/" "$TMP/dup-port/server.conf"
run server run -c "$TMP/dup-port/server.conf"
expect_rc 1 "a second server on the same port"
grep -q "cannot listen on 127.0.0.1:$S1_PORT" "$TMP/err" || fail "port in use message: $(cat "$TMP/err")"
run server healthcheck "${C[@]}"
expect_rc 0 "the first server after refused duplicates"
[[ -S "$S1/private/api.sock" ]] || fail "the first server's admin socket is gone"
pass "a second server is refused: same data_dir (lock, pid named), live admin socket, port in use"

run server healthcheck --socket "$TMP/nowhere.sock"
expect_rc 1 "healthcheck on a missing socket"
grep -q "unhealthy" "$TMP/err" || fail "healthcheck error: $(cat "$TMP/err")"
pass "healthcheck without a server exits 1"

# --- tokens and entries ----------------------------------------------------------------------
run server token generate "${C[@]}" --ttl 600
expect_rc 0 "token generate"
grep -Eq '^Token: [0-9a-f-]{36}$' "$TMP/out" || fail "token output: $(cat "$TMP/out")"
TOKEN=$(sed 's/^Token: //' "$TMP/out")
AGENT=spiffe://example.org/spire/agent/join_token/$TOKEN
pass "token generate"

run server entry create "${C[@]}" --spiffe-id spiffe://example.org/web --parent-id "$AGENT" \
  --selector unix:uid:1000 --dns web.example.org --x509-svid-ttl 1h
expect_rc 0 "entry create"
grep -q "spiffe://example.org/web" "$TMP/out" || fail "entry create output"
# SPIRE's own flags work too.
run server entry create -socketPath "$S1/private/api.sock" -spiffeID spiffe://example.org/db \
  -parentID "$AGENT" -selector unix:uid:70 -selector unix:gid:70 -x509SVIDTTL 600 -output json
expect_rc 0 "entry create with SPIRE flags"
[[ $(json 'd[0]["x509_svid_ttl"]' <"$TMP/out") == 600 ]] || fail "SPIRE flags: $(cat "$TMP/out")"
DB_ID=$(json 'd[0]["id"]' <"$TMP/out")
run server entry show "${C[@]}" -o json
[[ $(json 'len(d)' <"$TMP/out") == 2 ]] || fail "entry show: $(cat "$TMP/out")"
run server entry show "${C[@]}" --selector unix:uid:70 --match-selectors-on superset -o json
[[ $(json 'd[0]["spiffe_id"]' <"$TMP/out") == spiffe://example.org/db ]] || fail "entry show filter"
# SPIRE's default is superset: the entry with uid:70 and gid:70 matches --selector unix:uid:70.
run server entry show "${C[@]}" --selector unix:uid:70 -o json
[[ $(json '[e["spiffe_id"] for e in d]' <"$TMP/out") == "['spiffe://example.org/db']" ]] ||
  fail "entry show --selector defaults to superset: $(cat "$TMP/out")"
run server entry show "${C[@]}" --selector unix:uid:70 --match-selectors-on exact -o json
[[ $(json 'len(d)' <"$TMP/out") == 0 ]] || fail "entry show exact: $(cat "$TMP/out")"
run server entry update "${C[@]}" --entry-id "$DB_ID" --dns db.example.org -o json
[[ $(json 'd[0]["revision_number"]' <"$TMP/out") == 1 ]] || fail "entry update: $(cat "$TMP/out")"
pass "entry create (ours and SPIRE's flags), show with filters, update"

run server entry create "${C[@]}" --spiffe-id spiffe://example.org/web --parent-id "$AGENT"
expect_rc 2 "entry create without selector"
grep -q -- "--selector" "$TMP/err" || fail "missing selector message: $(cat "$TMP/err")"
run server entry create "${C[@]}" --spiffe-id spiffe://other.org/web --parent-id "$AGENT" \
  --selector unix:uid:1
expect_rc 2 "entry in another trust domain"
grep -q "trust domain" "$TMP/err" || fail "trust domain message: $(cat "$TMP/err")"
run server entry create "${C[@]}" --spiffe-id spiffe://example.org/web --parent-id "$AGENT" \
  --selector unix:uid:1000
expect_rc 2 "duplicate entry"
grep -q "similar entry already exists: .* has the same spiffe_id, parent_id and selectors" "$TMP/err" ||
  fail "duplicate entry message: $(cat "$TMP/err")"
run server entry delete "${C[@]}" --entry-id 00000000-0000-0000-0000-000000000000
expect_rc 2 "delete unknown entry"
grep -q "not found" "$TMP/err" || fail "not found message: $(cat "$TMP/err")"
run server entry frobnicate
expect_rc 2 "unknown verb"
pass "bad input is refused with exit code 2 and a message naming the problem"

# --- bundle ----------------------------------------------------------------------------------
run server bundle show "${C[@]}"
expect_rc 0 "bundle show"
openssl x509 -noout -subject <"$TMP/out" >"$TMP/subject" || fail "bundle show PEM does not parse"
grep -q "SPIFFE" "$TMP/subject" || fail "root subject: $(cat "$TMP/subject")"
openssl x509 -noout -ext subjectAltName <"$TMP/out" | grep -q "URI:spiffe://example.org" ||
  fail "root lacks the trust domain URI SAN"
cmp -s <(openssl x509 <"$TMP/out") <(openssl x509 <"$S1/data/server/root_ca.crt") ||
  fail "root_ca.crt differs from the bundle"
run server bundle show "${C[@]}" --format spiffe
[[ $(json 'sorted(set(k["use"] for k in d["keys"]))' <"$TMP/out") == "['jwt-svid', 'x509-svid']" ]] ||
  fail "spiffe bundle: $(cat "$TMP/out")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other -days 1 \
  -keyout "$TMP/other.key" -out "$TMP/other.pem" 2>/dev/null
run server bundle set "${C[@]}" --id spiffe://other.org --path "$TMP/other.pem"
expect_rc 0 "bundle set"
run server bundle list "${C[@]}" -o json
[[ $(json 'd[0]["trust_domain"]' <"$TMP/out") == other.org ]] || fail "bundle list: $(cat "$TMP/out")"
run server bundle show "${C[@]}" -o json
expect_rc 0 "bundle show -o json"
[[ $(json 'd["trust_domain"] + " " + str(len(d["x509_authorities"])) + " " + str(len(d["jwt_authorities"]))' <"$TMP/out") == "example.org 1 1" ]] ||
  fail "bundle show -o json: $(cat "$TMP/out")"
[[ $(json 'd["x509_authorities"][0]["asn1"]' <"$TMP/out") == "$(openssl x509 -outform DER <"$S1/data/server/root_ca.crt" | base64 -w0)" ]] ||
  fail "bundle show -o json: the root's DER differs"
pass "bundle show (PEM parsed by openssl, SPIFFE JSON, -o json), set, list"

# --- authorities -----------------------------------------------------------------------------
run server authority show "${C[@]}" -o json
[[ $(json 'len(d)' <"$TMP/out") == 1 ]] || fail "authority show: $(cat "$TMP/out")"
FIRST=$(json 'd[0]["authority_id"]' <"$TMP/out")
run server authority prepare "${C[@]}" -o json
expect_rc 0 "authority prepare"
NEXT=$(json 'd[0]["authority_id"]' <"$TMP/out")
[[ $(json 'd[0]["status"]' <"$TMP/out") == prepared ]] || fail "prepare: $(cat "$TMP/out")"
run server authority activate "${C[@]}" --authority-id "$NEXT" -o json
expect_rc 0 "authority activate"
run server authority show "${C[@]}" -o json
[[ $(json 'd[0]["authority_id"] + " " + d[0]["status"] + " " + d[1]["status"]' <"$TMP/out") == "$NEXT active old" ]] ||
  fail "after activate: $(cat "$TMP/out")"
run server authority revoke "${C[@]}" --authority-id "$FIRST"
expect_rc 2 "revoke an untainted authority"
grep -q "not tainted" "$TMP/err" || fail "revoke message: $(cat "$TMP/err")"
pass "authority show, prepare, activate; revoke refused until tainted"

# --- SIGTERM, restart ------------------------------------------------------------------------
stop_server "$S1"
grep -q "server stopped" "$S1/server.log" || fail "no graceful stop in the log"
[[ ! -e "$S1/private/api.sock" ]] || fail "the admin socket was left behind"
pass "SIGTERM stops the server gracefully"
start_server "$S1"
run server entry show "${C[@]}" -o json
[[ $(json 'len(d)' <"$TMP/out") == 2 ]] || fail "entries after restart: $(cat "$TMP/out")"
run server authority show "${C[@]}" -o json
[[ $(json 'd[0]["authority_id"]' <"$TMP/out") == "$NEXT" ]] || fail "active authority after restart"
pass "restart: entries and the active authority persist"

# --- malformed configuration ------------------------------------------------------------------
sed 's/ca_ttl = "72h"/ca_ttl = "72 hours"/' "$S1/server.conf" >"$TMP/bad.conf"
run server validate -c "$TMP/bad.conf"
expect_rc 2 "validate malformed conf"
grep -Eq "bad.conf:[0-9]+: server.ca_ttl" "$TMP/err" || fail "validate message: $(cat "$TMP/err")"
run server run -c "$TMP/bad.conf"
expect_rc 2 "run malformed conf"
grep -Eq "bad.conf:[0-9]+:" "$TMP/err" || fail "run message: $(cat "$TMP/err")"
printf 'server {\n  trust_domain = "example.org"\n  bogus = 1\n' >"$TMP/broken.conf"
run server run -c "$TMP/broken.conf"
expect_rc 2 "run unparsable conf"
grep -Eq "broken.conf:[0-9]+:" "$TMP/err" || fail "parse error message: $(cat "$TMP/err")"
pass "malformed server.conf: file:line errors, exit 2"
stop_server "$S1"

# --- two servers, one PostgreSQL ---------------------------------------------------------------
if ! pg_start "$TMP/pg" -F; then
  echo "skip: two servers on PostgreSQL ($PG_SKIP_REASON)"
else
  PG=$PG_CONNECTION
  A=$TMP/pg-a
  B=$TMP/pg-b
  # Each server's free ports are picked just before it starts (a short window for another
  # process to take them), not while the other one starts.
  make_server "$A" postgres "$PG"
  start_server "$A"
  make_server "$B" postgres "$PG"
  start_server "$B"
  run server entry create -c "$A/server.conf" --spiffe-id spiffe://example.org/shared \
    --node --selector x509pop:subject:cn:node-1 -o json
  expect_rc 0 "entry create on server A"
  SHARED=$(json 'd[0]["id"]' <"$TMP/out")
  run server entry show -c "$B/server.conf" --entry-id "$SHARED" -o json
  expect_rc 0 "entry show on server B"
  [[ $(json 'd[0]["parent_id"]' <"$TMP/out") == spiffe://example.org/spire/server ]] ||
    fail "server B sees: $(cat "$TMP/out")"
  run server bundle show -c "$B/server.conf"
  [[ $(grep -c "BEGIN CERTIFICATE" "$TMP/out") -eq 2 ]] || fail "the shared bundle holds both roots"
  run server authority show -c "$A/server.conf" -o json
  expect_rc 0 "authority show on server A"
  A_AUTH=$(json 'd[0]["authority_id"]' <"$TMP/out")
  run server authority show -c "$B/server.conf" -o json
  expect_rc 0 "authority show on server B"
  B_AUTH=$(json 'd[0]["authority_id"]' <"$TMP/out")
  [[ -n $A_AUTH && -n $B_AUTH ]] || fail "authority show: empty authority_id (A '$A_AUTH', B '$B_AUTH')"
  [[ $B_AUTH != "$A_AUTH" ]] || fail "servers share an authority ($A_AUTH)"
  pass "two servers on one PostgreSQL: entries shared, each its own CA, one bundle with both roots"
fi

echo "server_test.sh: all passed"
