# Shared by the PostgreSQL benchmarks (sourced): a PostgreSQL server of Debian's packages on a
# free loopback port in a temporary folder, as the server's own user when run as root, with
# durable settings (fsync and synchronous_commit on), stopped and removed when the script exits.
#   start_postgres   sets $pg_url (postgres://postgres@127.0.0.1:PORT) and $pg_bin
#   pg_sql SQL       runs SQL as the superuser
start_postgres() {
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  pg_dir=$(mktemp -d /tmp/tollbooth-bench-pg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres "$pg_dir"
  pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_server "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 --locale=C > "$pg_dir/initdb.log"
  as_server "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c shared_buffers=256MB -c max_wal_size=4GB -c max_connections=200" start > /dev/null
  trap stop_postgres EXIT
  pg_url="postgres://postgres@127.0.0.1:$pg_port"
}
as_server() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_postgres() { as_server "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop > /dev/null 2>&1 || true; rm -rf "$pg_dir"; }
pg_sql() { as_server psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "$1" > /dev/null; }
