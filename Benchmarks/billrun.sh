#!/usr/bin/env bash
# Bill run benchmark: `tollbooth run` for 10,000 subscriptions (20,000 invoices, 50,000 lines: close,
# rate, tax; no Stripe) against its plain-SQL peer (Benchmarks/billrun_peer.py: the same closes,
# invoices and lines in one durable transaction of INSERT ... SELECT), each on a fresh copy of
# the same ingested database, interleaved for ROUNDS rounds. Prints each time, the medians, the
# ratio tollbooth/peer, and whether the two wrote the same amounts to the cent.
# Usage: bash Benchmarks/billrun.sh [FOLDER] [ROUNDS]   (default /tmp/tollbooth-billrun, 3)
# With BASELINE=/path/to/an/older/tollbooth, each round also times that binary's run.
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-/tmp/tollbooth-billrun}
rounds=${2:-3}
mkdir -p "$folder"
bash scripts/setup.sh
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null 2>&1 || sudo apt-get install -y -qq time >/dev/null; }
swift build -c release --product tollbooth
tollbooth=$PWD/.build/release/tollbooth

. Benchmarks/prepare.sh
prepare_ingested "$tollbooth" "$folder" 2000000 10000
as_of=$(cat "$folder/as-of")

fresh() { fresh_copy "$folder/ingested.db" "$1"; }

seconds() { # label, command...: runs it and prints its wall seconds (from /usr/bin/time)
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$folder/$label.time" "$@" > "$folder/$label.out" 2> "$folder/$label.err"
  cut -d ' ' -f 1 "$folder/$label.time"
}
memory() { awk '{ printf "%.0f MB peak", $2 / 1024 }' "$folder/$1.time"; }

tollbooth_times=(); peer_times=(); baseline_times=()
for round in $(seq 1 "$rounds"); do
  fresh "$folder/tollbooth.db"
  t=$(seconds tollbooth "$tollbooth" --db "$folder/tollbooth.db" run --as-of "$as_of")
  fresh "$folder/peer.db"
  p=$(seconds peer python3 Benchmarks/billrun_peer.py "$folder/peer.db" --as-of "$as_of")
  echo "round $round: tollbooth run $t s, $(memory tollbooth) ($(head -n 2 "$folder/tollbooth.out" | tr '\n' ';' | sed 's/;$//')); peer $p s, $(memory peer) ($(cat "$folder/peer.out"))"
  tollbooth_times+=("$t"); peer_times+=("$p")
  if [ -n "${BASELINE:-}" ]; then
    fresh "$folder/baseline.db"
    b=$(seconds baseline "$BASELINE" --db "$folder/baseline.db" run --as-of "$as_of")
    echo "round $round: baseline run $b s, $(memory baseline)"
    baseline_times+=("$b")
  fi
done

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
t=$(median "${tollbooth_times[@]}"); p=$(median "${peer_times[@]}")
awk -v t="$t" -v p="$p" 'BEGIN { printf "medians: tollbooth run %.2f s, peer %.2f s: %.2fx the peer'"'"'s time\n", t, p, t / p }'
if [ -n "${BASELINE:-}" ]; then
  awk -v b="$(median "${baseline_times[@]}")" -v p="$p" 'BEGIN { printf "baseline median %.2f s: %.2fx the peer'"'"'s time\n", b, b / p }'
fi
# The last round's databases: the same invoices and lines, to the cent?
python3 Benchmarks/billrun_peer.py --compare "$folder/peer.db" "$folder/tollbooth.db"
