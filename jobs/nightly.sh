#!/usr/bin/env bash
# Nightly job: back the database up, ingest the spool's usage files, run the bill run to now
# (close, rate, tax, issue, collect, reconcile). Bills despite rejected lines. Exit status: 0 all
# well, 1 a line was rejected, a file could not be ingested or an invoice failed, 75 another job
# holds the lock. Configuration: environment variables, see jobs/lib.sh.
source "$(dirname "$0")/lib.sh"
nightly_steps
[ "$spool_failed" -eq 0 ] && [ "$run_status" -eq 0 ] || exit 1
