# A throwaway PostgreSQL cluster on loopback for scripts that need one (sourced, not run).
#
#   source test/integration/postgres_lib.sh
#   pg_start "$TMP/pg" [extra postgres options] || echo "skip: $PG_SKIP_REASON"
#   ... use $PG_CONNECTION (database "spire", user "mutual") or $PG_PORT ...
#   pg_stop            # also safe to call from an EXIT trap when nothing was started
#
# As root the cluster runs as the postgres user (runuser); MUTUAL_PG_BIN overrides the
# server binaries' folder (default: the newest /usr/lib/postgresql/*/bin).

PG_BIN=""
PG_DIR=""
PG_PORT=""
PG_CONNECTION=""
PG_SKIP_REASON=""

pg_as() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start DIR [OPTIONS]: initdb in DIR/data, start on a free loopback port, create "spire".
# Returns 1 with PG_SKIP_REASON set when PostgreSQL cannot run here; fails on other errors.
pg_start() {
  local dir=$1 options=${2:-}
  PG_BIN=${MUTUAL_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)}
  if [[ -z $PG_BIN || ! -x $PG_BIN/pg_ctl ]]; then
    PG_SKIP_REASON="no PostgreSQL server binaries under /usr/lib/postgresql"
    return 1
  fi
  if [[ $(id -u) -eq 0 ]] && { ! id postgres >/dev/null 2>&1 || ! command -v runuser >/dev/null; }; then
    PG_SKIP_REASON="running as root without a postgres user or runuser"
    return 1
  fi
  PG_DIR=$dir
  mkdir -p "$PG_DIR"
  chmod 755 "$(dirname "$PG_DIR")"
  [[ $(id -u) -eq 0 ]] && chown postgres "$PG_DIR"
  pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U mutual --auth=trust --no-locale >/dev/null
  # Picked after initdb (seconds), right before the start: a free port stays free only briefly.
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $PG_PORT -k $PG_DIR -h 127.0.0.1 $options" start >/dev/null
  "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U mutual -d postgres -qc "CREATE DATABASE spire"
  PG_CONNECTION="host=127.0.0.1 port=$PG_PORT user=mutual dbname=spire sslmode=disable"
}

# The postmaster's PID (its children are the backends), for CPU accounting.
pg_postmaster_pid() { head -1 "$PG_DIR/data/postmaster.pid"; }

pg_stop() {
  if [[ -n $PG_DIR && -f $PG_DIR/data/postmaster.pid ]]; then
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
}
