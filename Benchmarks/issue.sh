#!/usr/bin/env bash
# Issue benchmark: 1,000 invoices of 5 lines, one new customer each, issued to stripe-sim under
# Stripe's rate limits: first live (100 requests/s per account, 25/s per endpoint), then sandbox
# (25/s per account, 25/s per endpoint). Each invoice costs 4 requests: customer, invoice, one
# add_lines (5 lines), finalize; the next month's invoice of a known customer 3 (measured once,
# at live limits). For each run it prints the wall time, the requests per invoice,
# the 429s the simulator answered and the invoices that failed, and the floor the limits allow:
# the larger of (requests / global rate) and, for each endpoint, (its requests / endpoint rate).
#
# The client is run twice per limit: with the settings' defaults (90 or 22 requests/s in all, 22
# per endpoint: headroom for the Dashboard and other clients) and paced at 96% of the limits
# (96 or 24 in all, 24 per endpoint), the most that never meets a 429.
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

# start_sim LIMITS: a simulator on a free port with Stripe's LIMITS (live, sandbox); sets $base.
start_sim() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null || true
  rm -f "$folder/sim.out"
  "$bin/stripe-sim" --port 0 --limits "$1" > "$folder/sim.out" 2>/dev/null &
  sim_pid=$!
  for _ in $(seq 100); do grep -q "^listening on" "$folder/sim.out" 2>/dev/null && break; sleep 0.1; done
  base="http://$(sed -n 's/^listening on //p' "$folder/sim.out")"
}

# measure LABEL LIMITS GLOBAL_RATE ENDPOINT_RATE CLIENT_GLOBAL CLIENT_ENDPOINT [then-next-month]
# With a seventh argument, the next month's invoices of the same (now known) customers are
# issued after, against the same simulator, and measured as LABEL-known.
measure() {
  local label=$1 limits=$2 global=$3 endpoint=$4 client_global=$5 client_endpoint=$6 db="$folder/$1.db"
  start_sim "$limits"
  as_of=$("$bin/tollbooth" bench prepare-issue --path "$db" --invoices "$invoices" --lines "$lines")
  printf '{"stripe": {"apiBase": "%s", "requestsPerSecond": %s, "endpointRequestsPerSecond": %s}}\n' \
    "$base" "$client_global" "$client_endpoint" > "$folder/$label.json"
  local tb=("$bin/tollbooth" --db "$db" --config "$folder/$label.json")
  TOLLBOOTH_STRIPE_KEY=sk_test_benchmark000000000001 "${tb[@]}" stripe connect > /dev/null
  issue_and_report "$label" "$as_of" 0
  if [ $# -ge 7 ]; then
    local served
    served=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["data"]))' "$folder/$label.requests.json")
    issue_and_report "$label-known" "$(echo "$as_of" | sed 's/-01-01T/-02-01T/')" "$served"
  fi
}

# issue_and_report LABEL AS_OF SKIP: close, rate and tax to AS_OF, then the timed issue stage;
# the simulator's first SKIP requests belong to an earlier run. Uses measure's variables.
issue_and_report() {
  local label=$1 as_of=$2 skip=$3
  for stage in close rate tax; do "${tb[@]}" run --as-of "$as_of" --stage "$stage" > /dev/null 2>&1; done
  /usr/bin/time -f "%e %M" -o "$folder/$label.time" "${tb[@]}" run --as-of "$as_of" --stage issue > "$folder/$label.out" 2> "$folder/$label.err" || true
  curl -s "$base/_sim/requests" > "$folder/$label.requests.json"
  read -r seconds kb < "$folder/$label.time"
  echo "$label: $(cat "$folder/$label.out")"
  python3 - "$folder/$label.requests.json" "$label" "$seconds" "$invoices" "$global" "$endpoint" "$kb" \
    "$client_global" "$client_endpoint" "$skip" <<'PY'
import json, re, sys
path, label, seconds, invoices, global_rate, endpoint_rate, kb, client_global, client_endpoint, skip = sys.argv[1:]
seconds, invoices, global_rate, endpoint_rate = float(seconds), int(invoices), float(global_rate), float(endpoint_rate)
# Every request but the account check of `stripe connect` and an earlier run's is the issue stage's.
served = [r for r in json.load(open(path))["data"][int(skip):] if r["path"] != "/v1/account"]
def endpoint(entry):
    path = re.sub(r"/(cus|in|pm|ii|il|cs)_[A-Za-z0-9]+", "/{id}", entry["path"])
    return entry["method"] + " " + path
answered = [r for r in served if r["status"] != 429]
limited = [r for r in served if r["status"] == 429]
by_endpoint = {}
for r in answered:
    by_endpoint[endpoint(r)] = by_endpoint.get(endpoint(r), 0) + 1
floor = max([len(answered) / global_rate] + [n / endpoint_rate for n in by_endpoint.values()])
print(f"{label}: {invoices} invoices in {seconds:.1f} s ({invoices / seconds:.1f}/s), {len(answered)} requests "
      f"({len(answered) / invoices:.2f} per invoice), {len(limited)} answers 429; floor at {global_rate:g}/s in all and "
      f"{endpoint_rate:g}/s per endpoint: {floor:.1f} s, so {100 * (seconds / floor - 1):+.1f}%; client paced at "
      f"{client_global}/s and {client_endpoint}/s per endpoint; {float(kb) / 1024:.0f} MB peak")
for name, count in sorted(by_endpoint.items()):
    print(f"    {name}: {count} ({count / endpoint_rate:.1f} s at {endpoint_rate:g}/s)")
PY
}

echo "issuing $invoices invoices of $lines lines"
measure live-paced-96 live 100 25 96 24 then-next-month
measure live-defaults live 100 25 90 22
measure sandbox-paced-96 sandbox 25 25 24 24
measure sandbox-defaults sandbox 25 25 22 22
