#!/usr/bin/env bash
# Deposit pipeline for cron or by hand: validates, verifies and credits the
# requests appended to a spool file since the last run, and retries the
# deposits still below the confirmation level.
#   pipelines/deposit.sh requests.ndjson state.sqlite [outcomes.ndjson]
# Uses $TOK_CONFIG and $TOK_ATTESTATION_SECRET; needs jq and flock(1).
#
# Idempotent and bounded:
#   - <requests>.offset records how many bytes of the spool were handled; each
#     run reads only the complete lines after it, at most $TOK_DEPOSIT_MAX_LINES
#     (default 100000); the rest waits for the next run. A spool cut shorter
#     than the offset (rotated) is read from its start again.
#   - <requests>.pending holds each deposit still pending exactly once (by
#     request id); it is re-verified every run until it is credited or
#     rejected, and never copied again.
#   - A crash between steps repeats work at worst: a request credited twice is
#     a "duplicate" (tok-apply keys deposits by chain and transaction).
#   - Concurrent runs take <requests>.lock in turn (flock, waiting up to
#     $TOK_DEPOSIT_LOCK_SECONDS, default 600; exit 75 when it stays taken).
# Exit status: that of the pipeline (75 when the database stayed locked, 69
# when tok-verify refused records for the operator's setup); nothing advances
# unless the pipeline succeeded (0, or 69: those records are in the outcomes,
# retryable, and the operator sends them again).
# A crontab line:
#   */2 * * * *  cd /srv/tok && pipelines/deposit.sh spool/requests.ndjson state.sqlite log/outcomes.ndjson 2>> log/deposit.log
set -euo pipefail
requests="$1"; database="$2"; outcomes="${3:-/dev/stdout}"
pending="$requests.pending"; offset_file="$requests.offset"
max_lines="${TOK_DEPOSIT_MAX_LINES:-100000}"

command -v jq > /dev/null || { echo "deposit.sh: jq is required" >&2; exit 69; }
exec 9>> "$requests.lock"
flock -w "${TOK_DEPOSIT_LOCK_SECONDS:-600}" 9 || { echo "deposit.sh: $requests.lock stayed taken" >&2; exit 75; }

work="$(mktemp -d "${TMPDIR:-/tmp}/tok-deposit.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The new complete lines of the spool: from the recorded offset, at most max_lines.
offset=0
[ -f "$offset_file" ] && offset="$(cat "$offset_file")"
[[ "$offset" =~ ^[0-9]+$ ]] || offset=0
size=0
[ -f "$requests" ] && size="$(stat -c %s "$requests")"
[ -f "$requests" ] || : > "$requests"
[ "$size" -lt "$offset" ] && offset=0
# The bytes between the offset and the size seen now (the spool may grow meanwhile).
dd if="$requests" of="$work/tail" bs=1M iflag=skip_bytes,count_bytes skip="$offset" count="$((size - offset))" status=none
# At most max_lines whole lines: a last line without its newline is a producer
# still writing it, and waits for the next run.
head -n "$max_lines" "$work/tail" > "$work/lines"
if [ -s "$work/lines" ] && [ -n "$(tail -c 1 "$work/lines")" ]; then sed -i '$d' "$work/lines"; fi
taken="$(wc -c < "$work/lines")"

status=0
{ cat "$work/lines"; [ -f "$pending" ] && cat "$pending"; true; } \
    | tok-validate | tok-verify | tok-apply --db "$database" > "$work/out" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 69 ]; then
    echo "deposit.sh: the pipeline exited $status; nothing advanced" >&2
    exit "$status"
fi

# Outcomes first, then the pending set, then the offset: a crash in between only repeats work.
cat "$work/out" >> "$outcomes"
# Renamed into place from beside their targets, so each file is whole or as it was.
jq -c 'select(.status == "pending")' "$work/out" | jq -s -c 'unique_by(.id) | .[]' > "$pending.new"
mv "$pending.new" "$pending"
echo "$((offset + taken))" > "$offset_file.new"
mv "$offset_file.new" "$offset_file"
exit "$status"
