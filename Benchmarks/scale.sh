#!/usr/bin/env bash
# Scale benchmark: the same work on SQLite and on PostgreSQL, in one run. A generated month of
# EVENTS events of SUBJECTS subjects (a customer and subscription each) is ingested with
# `meter ingest`, then billed with `tollbooth run --as-of` (close, rate, tax), first into a SQLite
# file, then into a PostgreSQL database of Debian's packages started here in a temporary folder
# (durable settings: fsync and synchronous_commit on). Prints each time and peak memory, and
# whether both backends billed the same invoices to the cent (subscription ids aside).
# Then the same bill run shared by 1, 2 and 4 workers (`run --worker`, WORKERS overrides the
# counts) on each backend, each from the ingested state, checked against the single run.
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

source Benchmarks/postgres.sh
start_postgres
pg_sql "CREATE DATABASE bench"
url="$pg_url/bench"
bin=$pg_bin
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
# The ingested state, for the runs with workers.
sqlite3 "$folder/sqlite/bench.db" "PRAGMA wal_checkpoint(TRUNCATE);" > /dev/null
cp "$folder/sqlite/bench.db" "$folder/sqlite/ingested.db"
pg_sql "CREATE DATABASE ingested TEMPLATE bench"
timed "SQLite bill run" "$tollbooth" --db "$folder/sqlite/bench.db" run --as-of "$as_of"
timed "PostgreSQL bill run" "$tollbooth" --db "$url" run --as-of "$as_of"
head -n 3 "$folder/PostgreSQL bill run.out"

# A bill run leaves PostgreSQL background work (autovacuum of the rows it wrote): done here,
# untimed, rather than beside the next timed run.
settle() { as_server psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -d "$1" -c "VACUUM ANALYZE" > /dev/null; }
settle bench

normalised() { "$tollbooth" --db "$1" invoices list --format json | sed -E 's/sub_[0-9a-f]{16}/sub/g'; }

# The bill run shared by N workers (`run --worker`), started at once on this machine; the time
# is from the start to the last worker's end.
workers() { # label, database, N
  local label=$1 db=$2 n=$3 pids=() start end
  start=$(date +%s.%N)
  for i in $(seq "$n"); do
    /usr/bin/time -f "%U %S" -o "$folder/$label-$i.cpu" \
      "$tollbooth" --db "$db" run --worker --as-of "$as_of" > "$folder/$label-$i.out" 2> "$folder/$label-$i.err" & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || { echo "$label: a worker failed"; cat "$folder/$label"-*.err; exit 1; }; done
  end=$(date +%s.%N)
  # The workers' own processor time (user and system, all of them): the rest of the wall time
  # is the database's work and waiting.
  cpu=$(cat "$folder/$label"-*.cpu | awk '{ t += $1 + $2 } END { print t }')
  awk -v label="$label" -v s="$start" -v e="$end" -v cpu="$cpu" 'BEGIN { printf "%s: %.2f s (workers'"'"' CPU %.2f s)\n", label, e - s, cpu }'
}
for n in ${WORKERS:-1 2 4}; do
  cp "$folder/sqlite/ingested.db" "$folder/sqlite/workers$n.db"
  workers "SQLite bill run, $n workers" "$folder/sqlite/workers$n.db" "$n"
  pg_sql "CREATE DATABASE workers$n TEMPLATE ingested"
  workers "PostgreSQL bill run, $n workers" "$pg_url/workers$n" "$n"
  settle "workers$n"
  if [ "$(normalised "$pg_url/workers$n")" != "$(normalised "$folder/sqlite/bench.db")" ] \
     || [ "$(normalised "$folder/sqlite/workers$n.db")" != "$(normalised "$folder/sqlite/bench.db")" ]; then
    echo "check: $n workers billed other invoices than one run"; exit 1
  fi
done
echo "check: every worker count billed the same invoices as one run, on both backends"
if [ "$(normalised "$folder/sqlite/bench.db")" = "$(normalised "$url")" ]; then
  echo "check: both backends billed the same invoices to the cent ($(normalised "$url" | grep -c '"id"') invoices)"
else
  echo "check: the backends' invoices differ"; exit 1
fi
