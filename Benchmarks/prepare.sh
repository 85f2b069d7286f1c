# Shared by the bill-run benchmarks (sourced): an ingested database of generated usage, made once
# per folder and copied for every run.
#   prepare_ingested TOLLBOOTH FOLDER EVENTS SUBJECTS
# leaves FOLDER/ingested.db (EVENTS events of SUBJECTS subjects over 30 days, each subject a
# customer with a subscription from the first day, ingested and checkpointed into the file) and
# FOLDER/as-of (the as-of of the run that bills the month).
prepare_ingested() {
  local tollbooth=$1 folder=$2 events=$3 subjects=$4
  mkdir -p "$folder"
  if [ -f "$folder/ingested.db" ] && [ -f "$folder/as-of" ]; then return; fi
  echo "preparing $folder ($events events of $subjects subjects over 30 days, ingested once)"
  local times
  times=$("$tollbooth" bench prepare --folder "$folder" --events "$events" --subjects "$subjects" --days 30)
  "$tollbooth" --db "$folder/bench.db" --at "$(echo "$times" | sed -n 1p)" meter ingest "$folder/events.ndjson" > /dev/null 2> "$folder/ingest.err"
  # Everything in the database file itself, so a copy of it is the whole database.
  sqlite3 "$folder/bench.db" "PRAGMA wal_checkpoint(TRUNCATE);" > /dev/null
  rm -f "$folder/bench.db-wal" "$folder/bench.db-shm" "$folder/events.ndjson"
  mv "$folder/bench.db" "$folder/ingested.db"
  echo "$times" | sed -n 2p > "$folder/as-of"
}

# fresh SOURCE TARGET: a copy of SOURCE at TARGET, with no log or lock files left over.
fresh_copy() {
  rm -f "$2" "$2-wal" "$2-shm" "$2.lock"
  cp "$1" "$2"
}
