#!/usr/bin/env bash
# Server benchmark, in one run on this machine over loopback with keep-alive (wrk):
#   1. nginx answering a static 200 JSON (the ceiling), then non-consuming checks;
#   2. consuming checks (each stored before its answer), from 32 and from 64 connections;
#   3. events through POST /v1/events in batches of 100, from 64 and from 512 connections,
#      beside `meter ingest` of as many events from a file.
# Prints requests/s and p50/p99 latency of each, and what was stored against what was answered.
# Usage: bash Benchmarks/serve.sh [FOLDER] [SECONDS]   (default /tmp/tollbooth-serve-bench, 10)
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-/tmp/tollbooth-serve-bench}
seconds=${2:-10}
bash scripts/setup.sh
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
swift build -c release --product tollbooth
tollbooth=$PWD/.build/release/tollbooth
# A run stopped half-way may have left its nginx behind.
[ -f "$folder/nginx.pid" ] && /usr/sbin/nginx -c "$folder/nginx.conf" -s stop 2>/dev/null || true
rm -rf "$folder" && mkdir -p "$folder"
db=$folder/serve.db
start=$(date -u +%Y-%m-01T00:00:00Z)
event_time=$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)
python3 Benchmarks/serve_prepare.py "$folder" "$start" "$event_time" 1000000
"$tollbooth" --db "$db" catalog import "$folder/catalog.json" > /dev/null
"$tollbooth" --db "$db" customers import "$folder/customers.json" > /dev/null
"$tollbooth" --db "$db" subscriptions import "$folder/subscriptions.json" > /dev/null
check_token=$("$tollbooth" --db "$db" tokens create --scope check 2>/dev/null)
ingest_token=$("$tollbooth" --db "$db" tokens create --scope ingest 2>/dev/null)
cp "$db" "$folder/peer.db"

cat > "$folder/nginx.conf" <<NGINX
worker_processes auto;
pid $folder/nginx.pid;
error_log $folder/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:18080;
    location / { default_type application/json; return 200 '{"allowed":true}'; }
  }
}
NGINX
/usr/sbin/nginx -c "$folder/nginx.conf"
TOLLBOOTH_LOG_LEVEL=warning "$tollbooth" --db "$db" serve --listen 127.0.0.1:18081 > "$folder/serve.out" 2> "$folder/serve.err" &
serve=$!
trap 'kill $serve 2>/dev/null || true; /usr/sbin/nginx -c "$folder/nginx.conf" -s stop 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$folder/serve.out" 2>/dev/null && break; sleep 0.1; done

summary() { # label, wrk output file
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$2")
  p50=$(awk '$1 == "50%" {print $2}' "$2")
  p99=$(awk '$1 == "99%" {print $2}' "$2")
  printf '%-40s %10.0f requests/s   p50 %-9s p99 %s\n' "$1" "$rps" "$p50" "$p99"
  grep -E "^answered" "$2" || true
}
run_wrk() { # label, connections, script or "", url
  local out="$folder/$(echo "$1" | tr ' /' '__').txt"
  if [ -n "$3" ]; then wrk -t2 -c"$2" -d"${seconds}s" --latency -s "$3" "$4" > "$out"; else wrk -t2 -c"$2" -d"${seconds}s" --latency "$4" > "$out"; fi
  summary "$1" "$out"
}
export TOLLBOOTH_TOKEN=$check_token TOLLBOOTH_RUN=$$ TOLLBOOTH_EVENT_TIME=$event_time
wrk -t2 -c16 -d2s -s Benchmarks/wrk/check.lua http://127.0.0.1:18081 > /dev/null   # warm-up
run_wrk "nginx, static 200 JSON" 32 "" http://127.0.0.1:18080/
run_wrk "checks (not consuming)" 32 Benchmarks/wrk/check.lua http://127.0.0.1:18081
run_wrk "consuming checks" 32 Benchmarks/wrk/consume.lua http://127.0.0.1:18081
TOLLBOOTH_RUN=$$-64 run_wrk "consuming checks, 64 connections" 64 Benchmarks/wrk/consume.lua http://127.0.0.1:18081
export TOLLBOOTH_TOKEN=$ingest_token
TOLLBOOTH_RUN=$$-64 run_wrk "events, batches of 100" 64 Benchmarks/wrk/events.lua http://127.0.0.1:18081
# Many senders at once (a fleet of gateways): bigger groups per commit.
TOLLBOOTH_RUN=$$-512 run_wrk "events, batches of 100, 512 senders" 512 Benchmarks/wrk/events.lua http://127.0.0.1:18081
kill -TERM $serve; wait $serve || true
stored=$(sqlite3 "$db" "SELECT coalesce(sum(count), 0) FROM usage_rows")
echo "stored after the server stopped: $stored events (consuming checks' and the batches')"
answered=$(cat "$folder"/consuming_checks*.txt "$folder"/events,_batches_of_100*.txt | awk '/^answered 200:/ {s += $3} /^answered 202:/ {gsub(/\(/, "", $5); s += $5} END {print s}')
echo "answered 200 (consuming) or 202 (events): $answered"
/usr/bin/time -f "meter ingest of 1,000,000 events from a file: %e s wall" "$tollbooth" --db "$folder/peer.db" meter ingest "$folder/events.ndjson" 2>&1 | grep -v "^ingested"
