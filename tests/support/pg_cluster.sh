#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory (as the postgres
# user when run as root), listening on 127.0.0.1 at a free port with trust authentication, and
# TLS with a throwaway CA: role niem_tls may log in only over TLS with a client certificate
# (STATE_DIR/tls/{ca.crt,server.crt,client.crt,client.key}; the server's names: localhost,
# 127.0.0.1), role niem_pw only with its password (STATE_DIR/tls/niem_pw.password).
#   pg_cluster.sh start STATE_DIR   writes STATE_DIR/uri (libpq URI of the admin database)
#   pg_cluster.sh stop STATE_DIR    stops it and removes its files
#   pg_cluster.sh crash STATE_DIR   stops it as a crash would (immediate: no checkpoint)
#   pg_cluster.sh resume STATE_DIR  starts it again (crash recovery), same port
#   pg_cluster.sh standby STATE_DIR PRIMARY_STATE_DIR
#                                   a streaming standby of that primary (pg_basebackup), on its own
#                                   port, named standby1 for synchronous_standby_names
#   pg_cluster.sh promote STATE_DIR the standby becomes a primary
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
    tls=$state/tls
    rm -rf "$tls" && mkdir -p "$tls"
    (
      cd "$tls"
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=niem-test-db-ca" \
        -keyout ca.key -out ca.crt 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key \
        -out server.csr 2>/dev/null
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile server.ext -out server.crt 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj "/CN=niem_tls" -keyout client.key \
        -out client.csr 2>/dev/null
      openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -out client.crt 2>/dev/null
      chmod 600 client.key
      openssl rand -hex 16 >niem_pw.password
    )
    cp "$tls/server.crt" "$tls/server.key" "$tls/ca.crt" "$data/db/"
    chmod 600 "$data/db/server.key"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$data/db/server.crt" "$data/db/server.key" "$data/db/ca.crt"; fi
    hba=$data/db/pg_hba.conf
    { printf 'hostssl all niem_tls 127.0.0.1/32 cert\nhost all niem_tls 127.0.0.1/32 reject\n'
      printf 'host all niem_pw 127.0.0.1/32 scram-sha-256\n'
      cat "$hba"; } >"$hba.new" && mv "$hba.new" "$hba"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$hba"; fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >>"$data/db/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
max_connections = 300
fsync = on
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'ca.crt'
CONF
    "${as_pg[@]}" "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 start >/dev/null ||
      { cat "$data/server.log" >&2; exit 1; }
    echo "$data" >"$state/data"
    echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$state/uri"
    psql -X -q "postgresql://postgres@127.0.0.1:$port/postgres" \
      -c "CREATE ROLE niem_tls LOGIN" \
      -c "CREATE ROLE niem_pw LOGIN PASSWORD '$(cat "$tls/niem_pw.password")'" >/dev/null
    echo "pg_cluster: started on port $port ($data)"
    ;;
  stop)
    [ -f "$state/data" ] || exit 0
    data=$(cat "$state/data")
    "${as_pg[@]}" "$bin/pg_ctl" -D "$data/db" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$data" "$state/data" "$state/uri" "$state/tls"
    ;;
  crash)
    data=$(cat "$state/data")
    "${as_pg[@]}" "$bin/pg_ctl" -D "$data/db" -m immediate -w stop >/dev/null
    ;;
  resume)
    data=$(cat "$state/data")
    "${as_pg[@]}" "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 start >/dev/null ||
      { cat "$data/server.log" >&2; exit 1; }
    ;;
  standby)
    primary=${3:?primary state directory}
    mkdir -p "$state"
    data=$(mktemp -d /tmp/niem-pg.XXXXXX)
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$data"; fi
    pport=$(sed -n 's|.*127.0.0.1:\([0-9]*\)/.*|\1|p' "$primary/uri")
    "${as_pg[@]}" "$bin/pg_basebackup" -D "$data/db" -R -X stream -h 127.0.0.1 -p "$pport" \
      -U postgres >"$data/basebackup.log" 2>&1 || { cat "$data/basebackup.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >>"$data/db/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$data'
cluster_name = 'standby1'
CONF
    "${as_pg[@]}" "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 start >/dev/null ||
      { cat "$data/server.log" >&2; exit 1; }
    echo "$data" >"$state/data"
    echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$state/uri"
    ;;
  promote)
    data=$(cat "$state/data")
    "${as_pg[@]}" "$bin/pg_ctl" -D "$data/db" -w promote >/dev/null
    ;;
  *) echo "pg_cluster: start, stop, crash, resume, standby or promote" >&2; exit 2 ;;
esac
