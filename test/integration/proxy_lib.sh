# Shared by the proxy_*_test.sh scripts (sourced, not run; no `_test.sh` suffix so ctest does not
# pick it up). Gives: a temp dir $TMP removed on exit, background processes stopped by PID,
# fail/pass/skip, a test PKI, proxy configs and Istio policies, proxies started on port 0 with
# their bound addresses read back from their log, backends and test clients, access-log
# queries with jq, and file descriptor counts.
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

# free_port (ports_lib.sh): a port nobody listens on, for peers that cannot take port 0.
source "$(dirname "${BASH_SOURCE[0]}")/ports_lib.sh"

# bg NAME cmd...: runs cmd in the background, output in $TMP/NAME.out; LAST_PID is its pid.
bg() {
  local name=$1
  shift
  # Truncated here first: a reused NAME must not show the last run's lines to a reader
  # that polls the file before the background job's own redirection has happened.
  : >"$TMP/$name.out"
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

# wait_ready NAME...: each proxy's /ready answers 200 within 5 s.
wait_ready() {
  local name
  for name in "$@"; do wait_for "proxy $name ready" 5 curl -sf "http://$(admin "$name")/ready"; done
}

# ---- configs and policies ---------------------------------------------------------------------

# proxy_config NAME WORKLOAD CREDS [POLICIES]: writes $TMP/NAME.yaml for start_proxy: workload
# WORKLOAD of namespace shop (service account WORKLOAD, label app=WORKLOAD), the SVID files of
# $TMP/CREDS (see issue), POLICIES (files or dir/ under $TMP, comma separated; none without),
# an admin API on port 0 and the access log $(alog NAME). Listeners and other settings
# (workers, timeouts, ...) come from stdin.
proxy_config() {
  local name=$1 workload=$2 creds=$3 policies=${4:-}
  {
    cat <<EOF
version: 1
workload: {namespace: shop, name: $workload, service_account: $workload, labels: {app: $workload}}
trust_domain: cluster.local
credentials:
  files: {cert: $creds/tls.crt, key: $creds/tls.key, bundle: $creds/ca.crt}
EOF
    if [[ -n $policies ]]; then echo "policies: [$policies]"; fi
    cat
    echo "admin: 127.0.0.1:0"
    echo "access_log: $name.access.log"
  } >"$TMP/$name.yaml"
}

# peer_authn [WORKLOAD PORT=MODE...]: $TMP/pol/pa.yaml, written atomically (a running proxy may
# reload it): mTLS STRICT in namespace shop ("default"), or with WORKLOAD for the pods labelled
# app=WORKLOAD, with a port-level mode for each PORT.
peer_authn() {
  mkdir -p "$TMP/pol"
  if (($# == 0)); then
    cat >"$TMP/pa.yaml.tmp" <<EOF
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: STRICT}}
EOF
  else
    local workload=$1 port_mode
    shift
    {
      cat <<EOF
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: $workload, namespace: shop}
spec:
  selector: {matchLabels: {app: $workload}}
  mtls: {mode: STRICT}
EOF
      if (($# > 0)); then echo "  portLevelMtls:"; fi
      for port_mode in "$@"; do echo "    ${port_mode%%=*}: {mode: ${port_mode#*=}}"; done
    } >"$TMP/pa.yaml.tmp"
  fi
  mv "$TMP/pa.yaml.tmp" "$TMP/pol/pa.yaml"
}

# destination_rule NAME HOST TLS: prints a DestinationRule document (after a "---" line) for
# HOST in namespace shop whose trafficPolicy.tls is TLS, a YAML flow mapping.
destination_rule() {
  cat <<EOF
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: $1, namespace: shop}
spec:
  host: $2
  trafficPolicy: {tls: $3}
EOF
}

# ---- backends and clients ---------------------------------------------------------------------

# start_http_backend: the http peer on $HTTP_PORT; each connection it accepts is a line of
# $TMP/http.conns (see conns).
start_http_backend() {
  start_peer http http --conn-log "$TMP/http.conns"
  HTTP_PORT=$PEER_PORT
  touch "$TMP/http.conns"
}
# conns: how many connections the http backend has accepted so far.
conns() { wc -l <"$TMP/http.conns"; }

# start_echo_backend: the echo peer on $ECHO_PORT.
start_echo_backend() {
  start_peer echo echo
  ECHO_PORT=$PEER_PORT
}

# sclient ADDR args...: openssl s_client sending one HTTP request; prints what came back (its
# stderr is in $TMP/sclient.err).
sclient() {
  local addr=$1
  shift
  printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "$addr" -quiet "$@" 2>"$TMP/sclient.err" || true
}

# refused_tls NAME ADDR WHAT REASON args...: an openssl s_client with -alpn istio and args to
# proxy NAME's STRICT listener ADDR must get no application data back, NAME's access log must
# name REASON, and the http backend must not see a connection.
refused_tls() {
  local name=$1 addr=$2 what=$3 reason=$4
  shift 4
  mark "$name"
  local before got
  before=$(conns)
  got=$(sclient "$addr" -alpn istio "$@")
  [[ "$got" != *"backend ok"* && "$got" != *HTTP/* ]] || fail "STRICT $what: application data came back: $got"
  expect_log "$name" '.downstream_transport_failure_reason // "" | startswith("'"$reason"'")' "STRICT $what"
  [[ $(conns) -eq $before ]] || fail "STRICT $what: the backend saw a connection"
  pass "STRICT refuses $what: $(brief)"
}

# hold_idle NAME TARGET COUNT TIMEOUT: COUNT idle connections to TARGET, opened by a background
# proxy_peers.py (LAST_PID) that reports in $TMP/NAME.status once they are all open (waited for,
# up to TIMEOUT seconds) and closes them when $TMP/NAME.control appears (see release_idle).
hold_idle() {
  local name=$1 target=$2 count=$3 timeout=$4
  rm -f "$TMP/$name.status" "$TMP/$name.control"
  bg "$name" python3 "$PEERS" idle-clients --target "$target" --count "$count" \
    --control "$TMP/$name.control" --status "$TMP/$name.status"
  wait_for "$count idle connections to $target" "$timeout" test -s "$TMP/$name.status"
}

# release_idle NAME PID: the connections of hold_idle NAME close; waits for its process PID.
release_idle() {
  touch "$TMP/$1.control"
  wait "$2" || true
}

# ---- file descriptors -------------------------------------------------------------------------

# wait_fds PID OP N TIMEOUT: polls (every 0.2 s) until the fd count of PID is OP N (a test(1)
# comparison: -le, -ge); false after TIMEOUT seconds.
wait_fds() {
  local pid=$1 op=$2 n=$3 timeout=$4
  local deadline=$((SECONDS + timeout))
  until [ "$(fd_count "$pid")" "$op" "$n" ]; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# back_to_baseline NAME PID BASELINE WHAT: the proxy's fd count returns to its baseline.
back_to_baseline() {
  local name=$1 pid=$2 base=$3 what=$4
  wait_fds "$pid" -le "$base" 20 || fail "$what: proxy $name holds $(fd_count "$pid") fds, baseline $base (leak)"
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

# make_mesh_pki CART_CA: make_pki, then the SVIDs of the two workloads every script runs, cart
# (the server side, issued by CART_CA: ca or int) and web (the client side, issued by ca).
make_mesh_pki() {
  make_pki
  issue cart spiffe://cluster.local/ns/shop/sa/cart "$1"
  issue web spiffe://cluster.local/ns/shop/sa/web ca
}

# openssl_leaf NAME CA_CERT CA_KEY SUBJECT SAN DAYS: an EC P-256 key $TMP/NAME.key and a
# certificate $TMP/NAME.pem for client and server use, with subjectAltName SAN, signed by the CA
# CA_CERT/CA_KEY with openssl itself (not mutual).
openssl_leaf() {
  local name=$1 ca_cert=$2 ca_key=$3 subject=$4 san=$5 days=$6
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/$name.key" \
    -out "$TMP/$name.csr" -subj "$subject" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san" >"$TMP/$name.ext"
  openssl x509 -req -in "$TMP/$name.csr" -CA "$ca_cert" -CAkey "$ca_key" -CAcreateserial \
    -days "$days" -extfile "$TMP/$name.ext" -out "$TMP/$name.pem" 2>/dev/null ||
    fail "signing the $name certificate with openssl"
}

# install_svid FROM TO: the key and certificate of $TMP/FROM renamed over those of $TMP/TO, the
# way a rotating issuer writes them (new files, then rename; key first: until the certificate
# follows, the pair does not match and a proxy keeps its current credentials).
install_svid() {
  local from=$1 to=$2
  cp "$TMP/$from/tls.key" "$TMP/$to/tls.key.new"
  cp "$TMP/$from/tls.crt" "$TMP/$to/tls.crt.new"
  mv "$TMP/$to/tls.key.new" "$TMP/$to/tls.key"
  mv "$TMP/$to/tls.crt.new" "$TMP/$to/tls.crt"
}
