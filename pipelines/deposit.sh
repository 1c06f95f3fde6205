#!/usr/bin/env bash
# Deposit pipeline for cron or by hand: validates, verifies and credits the
# requests in a spool file, keeps pending deposits for the next run.
#   pipelines/deposit.sh requests.ndjson state.sqlite [outcomes.ndjson]
# Uses $TOK_CONFIG and $TOK_ATTESTATION_SECRET. Deposits below the confirmation
# level are appended to <requests>.pending and retried on the next run, so a
# crontab line such as
#   */5 * * * *  cd /srv/tok && pipelines/deposit.sh spool/requests.ndjson state.sqlite >> outcomes.ndjson
# drives every deposit to credited or rejected. Safe to run concurrently with
# itself: tok-apply serialises writers, and a replay never credits twice.
set -euo pipefail
requests="$1"; database="$2"; outcomes="${3:-/dev/stdout}"
pending="$requests.pending"
work="$(mktemp)"
trap 'rm -f "$work"' EXIT
{ cat "$requests"; [ -f "$pending" ] && cat "$pending"; true; } \
    | tok-validate | tok-verify | tok-apply --db "$database" > "$work"
grep '"status":"pending"' "$work" > "$pending.new" || true
mv "$pending.new" "$pending"
cat "$work" >> "$outcomes"
