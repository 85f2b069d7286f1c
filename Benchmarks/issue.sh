#!/usr/bin/env bash
# Issue benchmark: 1,000 invoices of 5 lines issued to stripe-sim (8 writes each: customer,
# invoice, 5 items, finalize). First with the simulator limited to 100 writes/s and the client
# paced at 95 (the floor is 8,000 / 100 = 80 s; 8,000 / 95 = 84.2 s), then with both limits
# lifted. Prints wall time, invoices/s, 429s seen and failed invoices.
# Usage: bash Benchmarks/issue.sh [FOLDER] [INVOICES] [LINES]   (default /tmp/tollbooth-issue-bench 1000 5)
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-/tmp/tollbooth-issue-bench}
invoices=${2:-1000}
lines=${3:-5}
mkdir -p "$folder"
bash scripts/setup.sh
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null 2>&1 || sudo apt-get install -y -qq time >/dev/null; }
command -v curl >/dev/null || { apt-get install -y -qq curl >/dev/null 2>&1 || sudo apt-get install -y -qq curl >/dev/null; }
swift build -c release --product tollbooth
swift build -c release --product stripe-sim
bin=.build/release
sim_pid=""
trap '[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true' EXIT

# start_sim RATE: a simulator on a free port with RATE writes and reads a second; sets $base.
start_sim() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null || true
  rm -f "$folder/sim.out"
  "$bin/stripe-sim" --port 0 --writes-per-second "$1" --reads-per-second "$1" > "$folder/sim.out" 2>/dev/null &
  sim_pid=$!
  for _ in $(seq 100); do grep -q "^listening on" "$folder/sim.out" 2>/dev/null && break; sleep 0.1; done
  base="http://$(sed -n 's/^listening on //p' "$folder/sim.out")"
}

# measure LABEL SIM_RATE CLIENT_RATE
measure() {
  local label=$1 sim_rate=$2 client_rate=$3 db="$folder/$1.db"
  start_sim "$sim_rate"
  as_of=$("$bin/tollbooth" bench prepare-issue --path "$db" --invoices "$invoices" --lines "$lines")
  printf '{"stripe": {"apiBase": "%s", "writesPerSecond": %s, "readsPerSecond": %s}}\n' "$base" "$client_rate" "$client_rate" > "$folder/$label.json"
  local tb=("$bin/tollbooth" --db "$db" --config "$folder/$label.json")
  TOLLBOOTH_STRIPE_KEY=sk_test_benchmark000000000001 "${tb[@]}" stripe connect > /dev/null
  for stage in close rate tax; do "${tb[@]}" run --as-of "$as_of" --stage "$stage" > /dev/null 2>&1; done
  /usr/bin/time -f "%e %M" -o "$folder/$label.time" "${tb[@]}" run --as-of "$as_of" --stage issue > "$folder/$label.out" 2> "$folder/$label.err" || true
  read -r seconds kb < "$folder/$label.time"
  writes=$(curl -s "$base/_sim/requests?method=POST" | { grep -o '"status":' || true; } | wc -l)
  limited=$(curl -s "$base/_sim/requests" | { grep -o '"status":429' || true; } | wc -l)
  echo "$label: $(cat "$folder/$label.out")"
  awk -v l="$label" -v s="$seconds" -v n="$invoices" -v w="$writes" -v r="$sim_rate" -v q="$limited" -v kb="$kb" 'BEGIN {
    printf "%s: %d invoices in %.1f s, %.1f invoices/s, %d writes (%.1f/s; floor at %s/s: %.1f s), %d answers 429, %.0f MB peak\n",
           l, n, s, n / s, w, w / s, r, w / r, q, kb / 1024 }'
}

echo "issuing $invoices invoices of $lines lines"
measure paced 100 95
measure unlimited 100000 100000
