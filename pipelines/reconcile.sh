#!/usr/bin/env bash
# Reconciliation: drives every payout left between prepare and commit to
# commit or rollback, and fills any released nonce that open payouts are
# waiting behind (tok-verify signs a zero-value filler for it). Safe to run at any time and any number of times:
# tok-submit re-broadcasts the recorded signed transaction (same bytes, never a
# new payment), and tok-apply's commit and rollback are idempotent, so it
# never pays twice and never strands a lock.
#
#   pipelines/reconcile.sh state.sqlite [--wait-timeout-milliseconds N]
#
# Uses $TOK_CONFIG and $TOK_ATTESTATION_SECRET. Exit status: that of the
# pipeline (75 when the database stayed locked). Crontab (every 5 minutes,
# never two runs at once thanks to flock -n on a lock of its own):
#
#   */5 * * * *  cd /srv/tok && flock -n run/reconcile.lock pipelines/reconcile.sh state.sqlite >> log/reconcile.ndjson 2>> log/reconcile.log
set -euo pipefail
database="$1"; shift
wait_ms=120000
if [ "${1:-}" = "--wait-timeout-milliseconds" ]; then wait_ms="$2"; shift 2; fi
tok-apply --db "$database" --open-payouts \
    | tok-verify --db "$database" \
    | tok-apply --db "$database" \
    | tok-submit --wait --poll-milliseconds 1000 --wait-timeout-milliseconds "$wait_ms" \
    | tok-apply --db "$database"
