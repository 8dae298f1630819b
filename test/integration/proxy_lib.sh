# Shared by the proxy_*_test.sh scripts (sourced, not run; no `_test.sh` suffix so ctest does not
# pick it up). Gives: a temp dir $TMP removed on exit, background processes stopped by PID,
# fail/pass/skip, a test PKI, proxies started on port 0 with their bound addresses read back
# from their log, and access-log queries with jq.
#
# Callers set MUTUAL and ROOT first, and `set -euo pipefail`.

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/proxy_peers.py"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mutual-proxy.XXXXXX")
PIDS=()                 # every background process, stopped in reverse order on exit
declare -A PROXY_PID     # proxy name -> pid
declare -A PROXY_ADMIN   # proxy name -> admin host:port
declare -A PROXY_IN      # proxy name -> inbound addresses, space separated, config order
declare -A PROXY_OUT     # proxy name -> outbound addresses
declare -A LOG_MARK      # proxy name -> access-log lines already looked at
PEER_PORT=""
LAST_PID=""

stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
  wait 2>/dev/null || true
  if [[ -n "${KEEP_TMP:-}" ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  ((BASH_SUBSHELL == 0)) || exit 1  # the main script reports (and dumps logs) once
  local name
  for name in "${!PROXY_PID[@]}"; do
    echo "---- last lines of proxy $name ($TMP/$name.out)" >&2
    tail -n 15 "$TMP/$name.out" >&2 || true
  done
  exit 1
}
pass() { echo "ok: $*"; }
# A command failing outside a condition is a test failure too: say where.
set -o errtrace
trap 'fail "line $LINENO: unexpected failure of: $BASH_COMMAND"' ERR
skip() { echo "SKIP: $*"; exit 0; }

need() {
  local tool
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"; done
}

# Polls `cmd...` every 0.1 s until it succeeds; fails with DESC after TIMEOUT seconds.
wait_for() {
  local desc=$1 timeout=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for: $desc"
    sleep 0.1
  done
}

# can_connect PORT: something accepts on 127.0.0.1:PORT.
can_connect() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port in 20000-59999 nobody listens on (for peers that cannot take port 0).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    can_connect "$port" || { echo "$port"; return; }
  done
}

# bg NAME cmd...: runs cmd in the background, output in $TMP/NAME.out; LAST_PID is its pid.
bg() {
  local name=$1
  shift
  "$@" >"$TMP/$name.out" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# start_peer NAME KIND [args]: a proxy_peers.py server on a free port; PEER_PORT is the port.
start_peer() {
  local name=$1 kind=$2
  shift 2
  bg "$name" python3 -u "$PEERS" "$kind" "$@"
  local pid=$LAST_PID
  wait_for "peer $name to listen" 15 grep -q '^listening ' "$TMP/$name.out"
  kill -0 "$pid" 2>/dev/null || fail "peer $name exited: $(cat "$TMP/$name.out")"
  PEER_PORT=$(awk '/^listening /{print $2; exit}' "$TMP/$name.out")
}

wait_port() { wait_for "port $1 to accept" 15 can_connect "$1"; }

# start_proxy NAME CONFIG: `mutual proxy run`; reads the bound addresses from its log.
start_proxy() {
  local name=$1 config=$2
  bg "$name" "$MUTUAL" proxy run -c "$config"
  local pid=$LAST_PID
  PROXY_PID[$name]=$pid
  local deadline=$((SECONDS + 20))
  until grep -q 'admin http://' "$TMP/$name.out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || fail "proxy $name exited at start: $(cat "$TMP/$name.out")"
    ((SECONDS < deadline)) || fail "proxy $name did not start: $(cat "$TMP/$name.out")"
    sleep 0.1
  done
  PROXY_ADMIN[$name]=$(grep -o 'admin http://[^/]*' "$TMP/$name.out" | head -1 | sed 's|admin http://||')
  PROXY_IN[$name]=$(grep -o 'inbound [0-9.:]* ->' "$TMP/$name.out" | awk '{print $2}' | tr '\n' ' ' || true)
  PROXY_OUT[$name]=$(grep -o 'outbound [0-9.:]* ->' "$TMP/$name.out" | awk '{print $2}' | tr '\n' ' ' || true)
  LOG_MARK[$name]=0
}

# in_addr NAME I / out_addr NAME I: the I-th (from 0) inbound/outbound address.
in_addr() { local a=(${PROXY_IN[$1]}); echo "${a[$2]}"; }
out_addr() { local a=(${PROXY_OUT[$1]}); echo "${a[$2]}"; }
admin() { echo "${PROXY_ADMIN[$1]}"; }

alive() {
  local name=$1
  kill -0 "${PROXY_PID[$name]}" 2>/dev/null || fail "proxy $name is not running any more (crash?): $(tail -n 20 "$TMP/$name.out")"
}

# The access log of proxy NAME is $TMP/NAME.access.log (configs write it there).
alog() { echo "$TMP/$1.access.log"; }

# mark NAME: later log queries only look at lines written after this point.
mark() { LOG_MARK[$1]=$(wc -l <"$(alog "$1")" 2>/dev/null || echo 0); }

# new_lines NAME: the access-log lines since the mark.
new_lines() { tail -n +"$((${LOG_MARK[$1]} + 1))" "$(alog "$1")" 2>/dev/null; }

# log_match NAME JQ_FILTER: succeeds when a line since the mark matches (jq select).
log_match() { [[ -n "$(new_lines "$1" | jq -c "select($2)" 2>/dev/null)" ]]; }

# expect_log NAME JQ_FILTER WHAT [TIMEOUT]: waits for a matching line, prints it.
expect_log() {
  local name=$1 filter=$2 what=$3 timeout=${4:-5}
  local deadline=$((SECONDS + timeout))
  until log_match "$name" "$filter"; do
    if ((SECONDS >= deadline)); then
      fail "$what: no access-log line of $name matches ($filter); new lines: $(new_lines "$name")"
    fi
    sleep 0.1
  done
  LAST_LOG=$(new_lines "$name" | jq -c "select($filter)" | tail -1)
}

# Excerpt of the last matched line with the interesting fields.
brief() {
  jq -c '{direction, peer_principal, authz_decision, response_flags, connection_termination_details,
          downstream_transport_failure_reason, upstream_transport_failure_reason} | with_entries(select(.value != null))' <<<"$LAST_LOG"
}

fd_count() { ls "/proc/$1/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

# metric NAME SELECTOR: the sum of the samples of proxy NAME whose line starts with SELECTOR.
metric() {
  curl -sf "http://$(admin "$1")/metrics" | awk -v sel="$2" 'index($0, sel) == 1 {sum += $NF} END {print sum + 0}'
}

# ---- PKI ----------------------------------------------------------------------------------------

# make_pki: a root CA for cluster.local, an intermediate, and SVIDs; an unrelated CA with the
# same trust domain name (a stolen-ID rogue); an expired SVID.
make_pki() {
  "$MUTUAL" ca init --trust-domain cluster.local --out "$TMP/ca" >/dev/null
  "$MUTUAL" ca intermediate --ca "$TMP/ca" --out "$TMP/int" >/dev/null
  "$MUTUAL" ca init --trust-domain cluster.local --out "$TMP/otherca" >/dev/null
}

# issue DIR SPIFFE_ID [CA_DIR] [extra args]: an SVID in $TMP/DIR (tls.crt, tls.key, ca.crt).
issue() {
  local dir=$1 id=$2 ca=${3:-ca}
  shift 3 || shift $#
  "$MUTUAL" cert issue --ca "$TMP/$ca" --spiffe-id "$id" --out "$TMP/$dir" "$@" >/dev/null ||
    fail "mutual cert issue $id"
}
