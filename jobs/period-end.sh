#!/usr/bin/env bash
# Period-end job: everything nightly.sh does, then the reconciliation workbook for the previous
# calendar month of bill dates (reports/out/reconciliation-YYYY-MM.xlsx). Exit status as
# nightly.sh's, and 1 when the workbook could not be written. Configuration: jobs/lib.sh.
source "$(dirname "$0")/lib.sh"
nightly_steps
now=${TOLLBOOTH_AS_OF:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
to=$(date -u -d "$(date -u -d "$now" +%Y-%m-01)" +%Y-%m-%dT00:00:00Z) || fail "cannot read TOLLBOOTH_AS_OF=$now as a time"
from=$(date -u -d "${to%T*} -1 month" +%Y-%m-%dT00:00:00Z)
mkdir -p "$TOLLBOOTH_REPORT_DIR" || fail "cannot create $TOLLBOOTH_REPORT_DIR"
workbook="$TOLLBOOTH_REPORT_DIR/reconciliation-${from:0:7}.xlsx"
report_status=0
tollbooth report reconciliation --from "$from" --to "$to" --out "$workbook" || report_status=1
[ "$report_status" -eq 0 ] && say "workbook: $workbook" || say "error: the workbook $workbook could not be written"
[ "$spool_failed" -eq 0 ] && [ "$run_status" -eq 0 ] && [ "$report_status" -eq 0 ] || exit 1
