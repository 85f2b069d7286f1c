#!/usr/bin/env bash
# Scale benchmark: the same work on SQLite and on PostgreSQL, in one run. A generated month of
# EVENTS events of SUBJECTS subjects (a customer and subscription each) is ingested with
# `meter ingest`, then billed with `tollbooth run --as-of` (close, rate, tax), first into a SQLite
# file, then into a PostgreSQL database of Debian's packages started here in a temporary folder
# (durable settings: fsync and synchronous_commit on). Prints each time and peak memory, and
# whether both backends billed the same invoices to the cent (subscription ids aside).
# Usage: bash Benchmarks/scale.sh [FOLDER] [SUBJECTS] [EVENTS]   (default /tmp/tollbooth-scale, 10000, 2000000)
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-/tmp/tollbooth-scale}
subjects=${2:-10000}
events=${3:-2000000}
rm -rf "$folder" && mkdir -p "$folder/sqlite" "$folder/postgres"
bash scripts/setup.sh
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null 2>&1 || sudo apt-get install -y -qq time >/dev/null; }
swift build -c release --product tollbooth
tollbooth=$PWD/.build/release/tollbooth

# PostgreSQL on a free loopback port, as the server's own user when run as root.
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgdir=$(mktemp -d /tmp/tollbooth-scale-pg.XXXXXX)
as_server() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$pgdir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_server "$bin/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --locale=C > "$pgdir/initdb.log"
as_server "$bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w \
  -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c shared_buffers=256MB -c max_wal_size=4GB" start > /dev/null
stop() { as_server "$bin/pg_ctl" -D "$pgdir/data" -m fast stop > /dev/null 2>&1 || true; rm -rf "$pgdir"; }
trap stop EXIT
as_server psql -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE bench" > /dev/null
url="postgres://postgres@127.0.0.1:$port/bench"
echo "$(as_server "$bin/postgres" --version); SQLite $(sqlite3 --version | cut -d ' ' -f 1)"

timed() { # label, command...: runs it, prints "label: S s, M MB peak" (from /usr/bin/time)
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$folder/time" "$@" > "$folder/$label.out" 2> "$folder/$label.err" || {
    echo "$label failed:"; cat "$folder/$label.err"; exit 1; }
  awk -v label="$label" '{ printf "%s: %.2f s, %.0f MB peak\n", label, $1, $2 / 1024 }' "$folder/time"
}

echo "preparing $events events of $subjects subjects over 30 days"
times=$("$tollbooth" bench prepare --folder "$folder/sqlite" --events "$events" --subjects "$subjects" --days 30)
"$tollbooth" bench prepare --folder "$folder/postgres" --events 1 --subjects "$subjects" --days 30 --postgres "$url" > /dev/null
at=$(echo "$times" | sed -n 1p); as_of=$(echo "$times" | sed -n 2p)
file="$folder/sqlite/events.ndjson"

timed "SQLite ingest" "$tollbooth" --db "$folder/sqlite/bench.db" --at "$at" meter ingest "$file"
timed "PostgreSQL ingest" "$tollbooth" --db "$url" --at "$at" meter ingest "$file"
timed "SQLite bill run" "$tollbooth" --db "$folder/sqlite/bench.db" run --as-of "$as_of"
timed "PostgreSQL bill run" "$tollbooth" --db "$url" run --as-of "$as_of"
head -n 3 "$folder/PostgreSQL bill run.out"

normalised() { "$tollbooth" --db "$1" invoices list --format json | sed -E 's/sub_[0-9a-f]{16}/sub/g'; }
if [ "$(normalised "$folder/sqlite/bench.db")" = "$(normalised "$url")" ]; then
  echo "check: both backends billed the same invoices to the cent ($(normalised "$url" | grep -c '"id"') invoices)"
else
  echo "check: the backends' invoices differ"; exit 1
fi
