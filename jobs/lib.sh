# Shared by the job scripts: configuration from the environment, the lock, the log file and the
# backup. Sourced, not run. Every variable below may be set by cron; nothing else is read.
#
#   TOLLBOOTH_HOME        working folder: settings file, database, spool, logs (default: this checkout)
#   TOLLBOOTH_BIN         the tollbooth executable (default: .build/release, else .build/debug
#                         under TOLLBOOTH_HOME, else `tollbooth` on PATH)
#   TOLLBOOTH_DB          the database: a SQLite file (default: $TOLLBOOTH_HOME/tollbooth.db) or
#                         postgres://USER:PASSWORD@HOST:PORT/DB
#   TOLLBOOTH_SECRETS     the Stripe secrets file, passed through (a PostgreSQL database needs one)
#   TOLLBOOTH_CONFIG      the settings file (default: $TOLLBOOTH_HOME/tollbooth.json, may be missing)
#   TOLLBOOTH_SPOOL       spool folder: incoming/*.ndjson, then done/ or rejected/ (default: $TOLLBOOTH_HOME/spool)
#   TOLLBOOTH_LOG_DIR     one log file per run (default: $TOLLBOOTH_HOME/logs)
#   TOLLBOOTH_BACKUP_DIR  database backups (default: the settings' backupDir, else $TOLLBOOTH_HOME/backups)
#   TOLLBOOTH_KEEP_BACKUPS  backups kept (default 14)
#   TOLLBOOTH_REPORT_DIR  workbooks of period-end.sh (default: $TOLLBOOTH_HOME/reports/out)
#   TOLLBOOTH_AS_OF       RFC 3339 time standing in for now (default: now), to replay a day
#   TOLLBOOTH_STRIPE_KEY  passed through to tollbooth when set (else the connected key is used)
#   TOLLBOOTH_LOG_LEVEL   passed through (default warning)
set -uo pipefail
export PATH="${PATH:-/usr/local/bin:/usr/bin:/bin}"

job_name=$(basename "$0" .sh)
TOLLBOOTH_HOME=${TOLLBOOTH_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TOLLBOOTH_DB=${TOLLBOOTH_DB:-$TOLLBOOTH_HOME/tollbooth.db}
[ -n "${TOLLBOOTH_SECRETS:-}" ] && export TOLLBOOTH_SECRETS
# A PostgreSQL URL, or a SQLite file.
case $TOLLBOOTH_DB in postgres://*|postgresql://*) on_postgres=1 ;; *) on_postgres=0 ;; esac
# The database as logs show it: a URL without its password.
database_shown=$(printf '%s' "$TOLLBOOTH_DB" | sed -E 's#^(postgres(ql)?://[^:@/]+):[^@]*@#\1@#')
# A settings file that does not exist means every default, unless TOLLBOOTH_CONFIG names it.
config_given=${TOLLBOOTH_CONFIG:+yes}
TOLLBOOTH_CONFIG=${TOLLBOOTH_CONFIG:-$TOLLBOOTH_HOME/tollbooth.json}
TOLLBOOTH_SPOOL=${TOLLBOOTH_SPOOL:-$TOLLBOOTH_HOME/spool}
TOLLBOOTH_LOG_DIR=${TOLLBOOTH_LOG_DIR:-$TOLLBOOTH_HOME/logs}
TOLLBOOTH_KEEP_BACKUPS=${TOLLBOOTH_KEEP_BACKUPS:-14}
TOLLBOOTH_REPORT_DIR=${TOLLBOOTH_REPORT_DIR:-$TOLLBOOTH_HOME/reports/out}
TOLLBOOTH_AS_OF=${TOLLBOOTH_AS_OF:-}
if [ -z "${TOLLBOOTH_BIN:-}" ]; then
  for candidate in "$TOLLBOOTH_HOME/.build/release/tollbooth" "$TOLLBOOTH_HOME/.build/debug/tollbooth"; do
    [ -x "$candidate" ] && { TOLLBOOTH_BIN=$candidate; break; }
  done
  TOLLBOOTH_BIN=${TOLLBOOTH_BIN:-tollbooth}
fi
export TOLLBOOTH_LOG_LEVEL=${TOLLBOOTH_LOG_LEVEL:-warning}
[ -n "${TOLLBOOTH_STRIPE_KEY:-}" ] && export TOLLBOOTH_STRIPE_KEY

# tollbooth ARGS...: the executable on this installation's database and settings; "now" is
# TOLLBOOTH_AS_OF when set.
tollbooth() {
  local options=(--db "$TOLLBOOTH_DB")
  if [ -n "$config_given" ] || [ -f "$TOLLBOOTH_CONFIG" ]; then options+=(--config "$TOLLBOOTH_CONFIG"); fi
  [ -n "$TOLLBOOTH_AS_OF" ] && options+=(--at "$TOLLBOOTH_AS_OF")
  "$TOLLBOOTH_BIN" "${options[@]}" "$@"
}

say() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$job_name" "$*"; }
fail() { say "error: $*" >&2; exit 1; }

# Takes the jobs' lock (one for all job scripts of a database, beside it) or exits 75 at once,
# naming the holder. The kernel releases it when the job ends, however it ends. With PostgreSQL
# the lock is in TOLLBOOTH_HOME, for this machine's jobs; the bill run itself takes the
# database's own lock, whichever machine runs it.
take_lock() {
  # Beside the real file, so a symlink or another spelling of the path takes the same lock.
  local lock
  if [ "$on_postgres" -eq 1 ]; then
    lock="$TOLLBOOTH_HOME/tollbooth.jobs.lock"
  else
    lock="$(realpath -m "$TOLLBOOTH_DB").jobs.lock"
  fi
  exec 9<>"$lock" || fail "cannot open the lock file $lock"
  if ! flock -n 9; then
    local holder
    holder=$(head -n 1 "$lock" 2>/dev/null)
    printf '%s: another tollbooth job holds %s (%s); exiting\n' "$job_name" "$lock" "${holder:-holder unknown}" >&2
    exit 75
  fi
  printf '%s pid %s started %s\n' "$job_name" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$lock"
}

# Sends everything from here on to a log file of this run. At the end, a run that failed prints
# its whole log on stderr (what cron mails); one that succeeded prints one line on stdout.
start_log() {
  mkdir -p "$TOLLBOOTH_LOG_DIR" || fail "cannot create the log folder $TOLLBOOTH_LOG_DIR"
  log_file="$TOLLBOOTH_LOG_DIR/$job_name-$(date -u +%Y%m%dT%H%M%SZ)-$$.log"
  exec 7>&1 8>&2
  exec >>"$log_file" 2>&1
  trap 'finish_log $?' EXIT
  say "started; database $database_shown"
}

finish_log() {
  say "exit $1"
  if [ "$1" -eq 0 ]; then
    printf '%s: done, log %s\n' "$job_name" "$log_file" >&7
  else
    cat "$log_file" >&8
  fi
}

# Copies the database to a dated file, keeping the newest TOLLBOOTH_KEEP_BACKUPS: SQLite's with
# VACUUM INTO, PostgreSQL's with pg_dump --format=custom (the password through PGPASSWORD, never
# on a command line).
backup() {
  [ "$on_postgres" -eq 1 ] || [ -f "$TOLLBOOTH_DB" ] || fail "no database at $TOLLBOOTH_DB (set TOLLBOOTH_DB)"
  local dir=${TOLLBOOTH_BACKUP_DIR:-}
  if [ -z "$dir" ] && [ -f "$TOLLBOOTH_CONFIG" ] && command -v python3 >/dev/null; then
    dir=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("backupDir", ""))' "$TOLLBOOTH_CONFIG" 2>/dev/null)
    [ -n "$dir" ] && case $dir in /*) ;; *) dir="$TOLLBOOTH_HOME/$dir" ;; esac
  fi
  dir=${dir:-$TOLLBOOTH_HOME/backups}
  mkdir -p "$dir" || fail "cannot create the backup folder $dir"
  local target suffix=db
  [ "$on_postgres" -eq 1 ] && suffix=dump
  target="$dir/tollbooth-$(date -u +%Y%m%dT%H%M%SZ)-$$.$suffix"
  if [ "$on_postgres" -eq 1 ]; then
    local password
    password=$(printf '%s' "$TOLLBOOTH_DB" | sed -nE 's#^postgres(ql)?://[^:@/]+:([^@]*)@.*#\2#p')
    PGPASSWORD=$(printf '%b' "${password//%/\\x}") pg_dump --format=custom --file="$target" "$database_shown" \
      || fail "backup to $target failed"
  else
    sqlite3 "$TOLLBOOTH_DB" "VACUUM INTO '${target//\'/\'\'}'" || fail "backup to $target failed"
  fi
  say "backup: $target"
  ls -1t "$dir"/tollbooth-*."$suffix" 2>/dev/null | tail -n +"$((TOLLBOOTH_KEEP_BACKUPS + 1))" | while read -r old; do rm -f "$old"; done
}

# Ingests every file of the spool's incoming/ in name order: a file with no rejected line goes to
# done/, one with rejected lines to rejected/ with FILE.rejected.txt saying which and why (its
# accepted lines are billed); a file that could not be ingested stays for the next run.
# Sets spool_failed=1 when any line was rejected or any file failed.
ingest_spool() {
  spool_failed=0
  local incoming="$TOLLBOOTH_SPOOL/incoming"
  mkdir -p "$incoming" "$TOLLBOOTH_SPOOL/done" "$TOLLBOOTH_SPOOL/rejected" || fail "cannot create the spool folders in $TOLLBOOTH_SPOOL"
  local file name errors counts status
  for file in "$incoming"/*; do
    [ -f "$file" ] || continue
    name=$(basename "$file")
    errors="$TOLLBOOTH_SPOOL/rejected/$name.rejected.txt"
    counts=$(tollbooth meter ingest "$file" 2> "$errors.new")
    status=$?
    # Exit 2 with the counts printed means lines were rejected (and the rest stored); without
    # them the file was not read at all.
    if [ "$status" -eq 0 ]; then
      mv "$file" "$TOLLBOOTH_SPOOL/done/$name"; rm -f "$errors.new"; say "ingested $name: $counts"
    elif [ "$status" -eq 2 ] && [[ $counts == accepted* ]]; then
      mv "$file" "$TOLLBOOTH_SPOOL/rejected/$name"; mv "$errors.new" "$errors"; spool_failed=1
      say "ingested $name with rejected lines: $counts; which and why: $errors"; cat "$errors"
    else
      spool_failed=1; cat "$errors.new"; rm -f "$errors.new"; say "could not ingest $name (exit $status); it stays in incoming/"
    fi
  done
}

# The bill run to now (or TOLLBOOTH_AS_OF): close, rate, tax, issue, collect, reconcile.
bill_run() {
  local as_of=()
  [ -n "$TOLLBOOTH_AS_OF" ] && as_of=(--as-of "$TOLLBOOTH_AS_OF")
  tollbooth run "${as_of[@]}"
  run_status=$?
  case $run_status in
    0) say "bill run done" ;;
    1) say "bill run done; invoices failed: see \`tollbooth invoices list --status failed\`, then jobs/rerun-failed.sh" ;;
    75) say "another bill run holds the database's lock" ;;
    *) say "bill run stopped (exit $run_status)" ;;
  esac
}

# What nightly.sh and period-end.sh share: lock, log, backup, the spool, the bill run. A bill run
# that found the database's lock taken ends the job with 75.
nightly_steps() {
  take_lock
  start_log
  backup
  ingest_spool
  bill_run
  [ "$run_status" -eq 75 ] && exit 75
}
