#!/usr/bin/env bash
# Ingest and bill-run benchmark: 2,000,000 CloudEvents (10,000 subjects, 3 meters, 30 days)
# ingested into durable segments with de-duplication, against DuckDB's read_json_auto + GROUP BY
# on the same file; then the bill run for the 10,000 subscriptions. Prints times, rates and peak
# memory. Usage: bash Benchmarks/run.sh [FOLDER]   (default /tmp/tollbooth-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-/tmp/tollbooth-bench}
mkdir -p "$folder"
bash scripts/setup.sh
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null 2>&1 || sudo apt-get install -y -qq time >/dev/null; }
swift build -c release --product tollbooth
tollbooth=.build/release/tollbooth

echo "preparing $folder (events file, database with 10,000 customers and subscriptions)"
times=$($tollbooth bench prepare --folder "$folder" --events 2000000 --subjects 10000 --days 30)
ingest_at=$(echo "$times" | sed -n 1p)
as_of=$(echo "$times" | sed -n 2p)
ls -l "$folder/events.ndjson" | awk '{printf "events file: %.0f MB\n", $5 / 1000000}'

measure() { # label, command...: prints wall seconds and peak RSS
  local label=$1; shift
  /usr/bin/time -f "$label: %e s wall, %M KB peak memory" "$@" > "$folder/$label.out" 2> "$folder/$label.err" || true
  tail -n 1 "$folder/$label.err"
  grep -v "^ingested " "$folder/$label.out" | head -n 3
}

measure ingest $tollbooth --db "$folder/bench.db" --at "$ingest_at" meter ingest "$folder/events.ndjson"
seconds=$(grep -o "ingest: [0-9.]*" "$folder/ingest.err" | awk '{print $2}')
awk -v s="$seconds" 'BEGIN { printf "tollbooth ingest: %.0f events/s\n", 2000000 / s }'

if [ -x "$folder/venv/bin/python" ] || { python3 -m venv "$folder/venv" >/dev/null 2>&1 && "$folder/venv/bin/pip" install -q duckdb >/dev/null 2>&1; }; then
  "$folder/venv/bin/python" Benchmarks/duckdb_ingest.py "$folder/events.ndjson" --window month
else
  echo "duckdb could not be installed (pip install duckdb); skipping the peer"
fi

measure billrun $tollbooth --db "$folder/bench.db" run --as-of "$as_of"
