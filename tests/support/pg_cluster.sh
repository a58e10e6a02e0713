#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory (as the postgres
# user when run as root), listening on 127.0.0.1 at a free port with trust authentication.
#   pg_cluster.sh start STATE_DIR   writes STATE_DIR/uri (libpq URI of the admin database)
#   pg_cluster.sh stop STATE_DIR    stops it and removes its files
set -euo pipefail
cmd=${1:?start or stop}
state=${2:?state directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg_cluster: no PostgreSQL server installed (tools/install-deps.sh installs postgresql-15)" >&2
  exit 1
fi
as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi

case "$cmd" in
  start)
    mkdir -p "$state"
    if [ -f "$state/data" ]; then "$0" stop "$state" || true; fi
    data=$(mktemp -d /tmp/niem-pg.XXXXXX)
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$data"; fi
    "${as_pg[@]}" "$bin/initdb" -D "$data/db" -U postgres --auth=trust -E UTF8 --no-sync \
      >"$data/initdb.log" 2>&1 || { cat "$data/initdb.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${as_pg[@]}" "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$data -c max_connections=300 -c fsync=on" \
      start >/dev/null || { cat "$data/server.log" >&2; exit 1; }
    echo "$data" >"$state/data"
    echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$state/uri"
    echo "pg_cluster: started on port $port ($data)"
    ;;
  stop)
    [ -f "$state/data" ] || exit 0
    data=$(cat "$state/data")
    "${as_pg[@]}" "$bin/pg_ctl" -D "$data/db" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$data" "$state/data" "$state/uri"
    ;;
  *) echo "pg_cluster: start or stop" >&2; exit 2 ;;
esac
