#!/usr/bin/env bash
# Re-runs every failed invoice from the stage that stopped it, after a backup. Exit status: 0
# none failed again, 1 some did (see `tollbooth invoices list --status failed`), 75 another job
# holds the lock. Configuration: jobs/lib.sh.
source "$(dirname "$0")/lib.sh"
take_lock
start_log
backup
tollbooth rerun --failed
status=$?
[ "$status" -eq 0 ] && say "no invoice failed again" || say "rerun ended with exit $status"
exit "$status"
