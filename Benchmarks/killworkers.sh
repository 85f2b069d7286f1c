#!/usr/bin/env bash
# Kill test of bill-run workers at scale: SUBJECTS subscriptions (a customer each, billed Jan 1
# and Feb 1) on a PostgreSQL of Debian's packages, issued to a stripe-sim started here. Three
# `tollbooth run --worker` share the run; two are killed with -9 at random moments; the survivor
# finishes, taking the dead workers' customers when their leases (leaseSeconds 5) run out. Then
# checks that every customer is billed once locally and in Stripe, with the totals one run on
# SQLite bills, and prints the times.
# Usage: bash Benchmarks/killworkers.sh [FOLDER] [SUBJECTS]   (default /tmp/tollbooth-kill, 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-/tmp/tollbooth-kill}
subjects=${2:-20000}
events=$((subjects * 10))
rm -rf "$folder" && mkdir -p "$folder/sqlite" "$folder/postgres"
bash scripts/setup.sh
swift build -c release --product tollbooth
swift build -c release --product stripe-sim
tollbooth=$PWD/.build/release/tollbooth
source Benchmarks/postgres.sh
start_postgres
pg_sql "CREATE DATABASE bench"
url="$pg_url/bench"
"$PWD/.build/release/stripe-sim" --port 0 --limits none > "$folder/stripe-sim.out" 2>&1 &
sim=$!
trap 'kill $sim 2> /dev/null || true; stop_postgres' EXIT
for _ in $(seq 50); do grep -q "listening on" "$folder/stripe-sim.out" && break; sleep 0.1; done
sim_url="http://$(sed -n 's/^listening on //p' "$folder/stripe-sim.out")"

echo "preparing $subjects subscriptions and $events events"
times=$("$tollbooth" bench prepare --folder "$folder/sqlite" --events "$events" --subjects "$subjects" --days 30)
"$tollbooth" bench prepare --folder "$folder/postgres" --events 1 --subjects "$subjects" --days 30 --postgres "$url" > /dev/null
at=$(echo "$times" | sed -n 1p); as_of=$(echo "$times" | sed -n 2p)
"$tollbooth" --db "$folder/sqlite/bench.db" --at "$at" meter ingest "$folder/sqlite/events.ndjson" > /dev/null
"$tollbooth" --db "$url" --at "$at" meter ingest "$folder/sqlite/events.ndjson" > /dev/null
cd "$folder/postgres"
echo "{\"leaseSeconds\": 5, \"stripe\": {\"apiBase\": \"$sim_url\", \"requestsPerSecond\": 5000, \"endpointRequestsPerSecond\": 5000}}" > tollbooth.json
export TOLLBOOTH_DB=$url TOLLBOOTH_SECRETS=$folder/postgres/secrets.json
TOLLBOOTH_STRIPE_KEY=sk_test_killworkers00000001 "$tollbooth" stripe connect > /dev/null 2>&1

start=$(date +%s.%N)
pids=()
for i in 1 2 3; do "$tollbooth" run --worker --as-of "$as_of" --at "$as_of" > "worker$i.out" 2> "worker$i.err" & pids+=($!); done
first=$(python3 -c 'import random; print(round(random.uniform(2, 20), 1))')
second=$(python3 -c "import random; print(round(random.uniform($first, 60), 1))")
sleep "$first"; kill -9 "${pids[1]}"; echo "worker 2 killed after $first s"
sleep "$(python3 -c "print($second - $first)")"
if kill -9 "${pids[2]}" 2> /dev/null; then echo "worker 3 killed after $second s"; else echo "worker 3 had finished before $second s"; fi
wait "${pids[0]}" || { echo "the surviving worker failed:"; tail -5 worker1.err; exit 1; }
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "3 workers, 2 killed: the survivor finished after %.1f s\n", e - s }'
cat worker1.out

# Checks: each customer billed once locally and in Stripe, totals equal to one run on SQLite.
"$tollbooth" run --worker --as-of "$as_of" --at "$as_of" > again.out 2>&1
grep -q "rate: rated 0 invoices" again.out && grep -q "issue: issued 0," again.out || { echo "check: a later worker found work left"; cat again.out; exit 1; }
"$tollbooth" invoices list --format json > postgres.json
curl -s "$sim_url/_sim/requests?method=POST&path=/v1/invoices" > creates.json
# The single run rates and taxes only: from its own folder, with no Stripe settings or secrets.
(cd "$folder/sqlite" && env -u TOLLBOOTH_SECRETS -u TOLLBOOTH_DB "$tollbooth" --db bench.db run --as-of "$as_of" --at "$as_of" > /dev/null 2>&1)
"$tollbooth" --db "$folder/sqlite/bench.db" invoices list --format json > sqlite.json
python3 - "$subjects" <<'PY'
import json, sys
subjects = int(sys.argv[1])
local = {row["id"]: row for row in json.load(open("postgres.json"))}
single = {row["id"]: row["total"] for row in json.load(open("sqlite.json"))}
made = [r for r in json.load(open("creates.json"))["data"] if r["path"] == "/v1/invoices" and r["status"] == 200 and not r["replayed"]]
replayed = [r for r in json.load(open("creates.json"))["data"] if r["path"] == "/v1/invoices" and r["replayed"]]
problems = []
if len(local) != 2 * subjects: problems.append(f"{len(local)} local invoices for {subjects} subscriptions billed twice")
open_ = [i for i, r in local.items() if r["status"] not in ("issued", "paid", "payment_failed")]
if open_: problems.append(f"{len(open_)} invoices not issued, e.g. {open_[:3]}")
stripe_ids = [r["stripeInvoiceId"] for r in local.values() if r.get("stripeInvoiceId")]
if len(set(stripe_ids)) != len(local): problems.append(f"{len(set(stripe_ids))} distinct Stripe invoices for {len(local)} local ones")
if len(made) != len(local) or len({r["idempotency_key"] for r in made}) != len(made): problems.append(f"{len(made)} Stripe invoices made for {len(local)}")
if {i: r["total"] for i, r in local.items()} != single: problems.append("totals differ from one run on SQLite")
print("check: " + ("; ".join(problems) if problems else
      f"{len(local)} invoices, each billed once locally and once in Stripe ({len(made)} made, {len(replayed)} creations replayed by idempotency key), totals equal to one run on SQLite"))
sys.exit(1 if problems else 0)
PY
