#!/usr/bin/env bash
# What-if pricing benchmark: `tollbooth simulate` over the month the bill run benchmark bills
# (10,000 subscriptions, bill dates Jan 1 and Feb 1: 20,000 bills, each rated twice), beside the
# rate stage alone on the same data (`run --stage rate` after `run --stage close`, on a fresh
# copy each round), interleaved for ROUNDS rounds; then the peak memory of `simulate` for 10,000
# and 20,000 subscriptions, to show it flat in the number of customers.
# The candidate is the live catalog with the API requests' 0.01 raised to 0.011.
# Usage: bash Benchmarks/simulate.sh [FOLDER] [ROUNDS]   (default /tmp/tollbooth-simulate, 3)
# TOLLBOOTH=/path/to/tollbooth skips the release build (use a release binary).
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-/tmp/tollbooth-simulate}
rounds=${2:-3}
mkdir -p "$folder"
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null 2>&1 || sudo apt-get install -y -qq time >/dev/null; }
if [ -z "${TOLLBOOTH:-}" ]; then
  bash scripts/setup.sh
  swift build -c release --product tollbooth
  TOLLBOOTH=$PWD/.build/release/tollbooth
fi
tollbooth=$TOLLBOOTH
. Benchmarks/prepare.sh

seconds() { # label, command...: runs it and prints its wall seconds (from /usr/bin/time)
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$folder/$label.time" "$@" > "$folder/$label.out" 2> "$folder/$label.err"
  cut -d ' ' -f 1 "$folder/$label.time"
}
memory() { awk '{ printf "%.0f MB", $2 / 1024 }' "$folder/$1.time"; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# A closed copy of SIZE's ingested database at $2: the rate stage's input (the closes written).
closed() {
  local size=$1 db=$2
  fresh_copy "$folder/$size/ingested.db" "$db"
  "$tollbooth" --db "$db" run --as-of "$(cat "$folder/$size/as-of")" --stage close > /dev/null
}

# The range holding the month's bill dates (Jan 1 and Feb 1; --to excludes, so one second on).
from=2026-01-01T00:00:00Z
to=2026-02-01T00:00:01Z

for size in 10000 20000; do
  prepare_ingested "$tollbooth" "$folder/$size" $((size * 200)) "$size"
done
"$tollbooth" --db "$folder/10000/ingested.db" catalog list --format json \
  | sed 's/"amount" : "0.01"/"amount" : "0.011"/; s/"amount": "0.01"/"amount": "0.011"/' > "$folder/candidate.json"
grep -q '0.011' "$folder/candidate.json" || { echo "the candidate did not change: check the sed above" >&2; exit 1; }

rate_times=(); simulate_times=()
for round in $(seq 1 "$rounds"); do
  closed 10000 "$folder/rate.db"
  r=$(seconds rate "$tollbooth" --db "$folder/rate.db" run --as-of "$(cat "$folder/10000/as-of")" --stage rate)
  closed 10000 "$folder/simulate.db"
  s=$(seconds simulate "$tollbooth" --db "$folder/simulate.db" simulate --catalog "$folder/candidate.json" \
        --from "$from" --to "$to" --out "$folder/simulation.xlsx")
  echo "round $round: rate stage $r s, $(memory rate) ($(head -n 1 "$folder/rate.out")); simulate $s s, $(memory simulate)"
  rate_times+=("$r"); simulate_times+=("$s")
done
r=$(median "${rate_times[@]}"); s=$(median "${simulate_times[@]}")
awk -v r="$r" -v s="$s" 'BEGIN { printf "medians: rate stage %.2f s, simulate %.2f s: %.2fx the rate stage'"'"'s time\n", r, s, s / r }'

for size in 10000 20000; do
  closed "$size" "$folder/memory.db"
  s=$(seconds "memory-$size" "$tollbooth" --db "$folder/memory.db" simulate --catalog "$folder/candidate.json" \
        --from "$from" --to "$to" --out "$folder/simulation-$size.xlsx")
  j=$(seconds "json-$size" "$tollbooth" --db "$folder/memory.db" simulate --catalog "$folder/candidate.json" \
        --from "$from" --to "$to" --format json)
  echo "$size subscriptions: simulate to xlsx $s s, $(memory "memory-$size") peak; --format json $j s, $(memory "json-$size") peak"
done
