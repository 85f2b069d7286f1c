#!/usr/bin/env bash
# Workbook benchmark: the reconciliation workbook of INVOICES invoices of LINES lines each
# (default 100,000 x 10 = 1,000,000 lines), written three times by `tollbooth report
# reconciliation` and three times by libxlsxwriter alone (`bench xlsx-replay`: the same calls,
# recorded once by `bench xlsx-record`, made straight through the C API), interleaved; then
# Python XlsxWriter (constant_memory) writing the Invoices and Lines rows from the same database,
# when `pip install XlsxWriter` succeeds in a virtual environment. Prints wall time and peak
# memory (/usr/bin/time) of each run.
# Usage: bash Benchmarks/xlsx.sh [FOLDER] [INVOICES] [LINES]   (default /tmp/tollbooth-xlsx-bench 100000 10)
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-/tmp/tollbooth-xlsx-bench}
invoices=${2:-100000}
lines=${3:-10}
mkdir -p "$folder"
bash scripts/setup.sh
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null 2>&1 || sudo apt-get install -y -qq time >/dev/null; }
swift build -c release --product tollbooth
bin=.build/release/tollbooth
db="$folder/bench-$invoices-$lines.db"
from=2026-01-01T00:00:00Z
to=2026-02-01T00:00:00Z

# The database: one customer per invoice on a plan of LINES monthly fees, billed on 2026-01-01
# (close, rate, tax; no Stripe needed). Kept between runs: making it takes minutes.
if [ ! -f "$db.ready" ]; then
  as_of=$("$bin" bench prepare-issue --path "$db" --invoices "$invoices" --lines "$lines")
  for stage in close rate tax; do "$bin" --db "$db" run --as-of "$as_of" --stage "$stage" > /dev/null 2>&1; done
  touch "$db.ready"
fi
echo "$(sqlite3 "$db" 'SELECT count(*) FROM invoices') invoices, $(sqlite3 "$db" 'SELECT count(*) FROM invoice_lines') lines"
"$bin" --db "$db" bench xlsx-record --from "$from" --to "$to" --tape "$folder/tape"

measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$folder/time" "$@" > /dev/null
  read -r seconds kb < "$folder/time"
  printf '%-34s %6.2f s  %5.0f MB peak\n' "$label" "$seconds" "$((kb / 1024))"
  echo "$seconds" >> "$folder/$label.times"
}
rm -f "$folder"/*.times
for _ in 1 2 3; do
  measure tollbooth "$bin" --db "$db" report reconciliation --from "$from" --to "$to" --out "$folder/tollbooth.xlsx"
  measure libxlsxwriter "$bin" bench xlsx-replay --tape "$folder/tape" --out "$folder/libxlsxwriter.xlsx"
done
median() { sort -n "$folder/$1.times" | sed -n 2p; }
awk -v t="$(median tollbooth)" -v r="$(median libxlsxwriter)" \
  'BEGIN { printf "median: tollbooth %.2f s, libxlsxwriter %.2f s: %.2fx libxlsxwriter'"'"'s time\n", t, r, t / r }'

venv="$folder/venv"
if [ -x "$venv/bin/python" ] || python3 -m venv "$venv" > /dev/null 2>&1; then
  if "$venv/bin/python" -m pip install --quiet --disable-pip-version-check XlsxWriter > /dev/null 2>&1; then
    start=$(date -d "$from" +%s); end=$(date -d "$to" +%s)
    measure "python-xlsxwriter" "$venv/bin/python" Benchmarks/xlsxwriter_peer.py "$db" "$start" "$end" "$folder/python.xlsx"
    awk -v t="$(median tollbooth)" -v p="$(cat "$folder/python-xlsxwriter.times")" \
      'BEGIN { printf "Python XlsxWriter %.2f s: tollbooth is %.1fx faster\n", p, p / t }'
  else
    echo "XlsxWriter could not be installed: no Python peer"
  fi
fi
