#!/usr/bin/env bash
# The long-running follower pipeline, for a service manager (see
# examples/tok-follow@.service):
#   pipelines/follow.sh NETWORK state.sqlite [outcomes.ndjson]
# runs tok-follow --follow --network NETWORK | tok-verify | tok-apply --db state.sqlite.
# On SIGTERM or SIGINT only tok-follow is told: it stops at a block boundary,
# and the stages after it finish what they have read and exit, so a stop
# never cuts a batch. Uses $TOK_CONFIG and $TOK_ATTESTATION_SECRET; with
# $TOK_METRICS_DIR set, each tool writes its metrics there (TOOL.prom).
# Exit status: tok-follow's when it failed (76: a reorganisation deeper than
# max_reorg_depth), else that of the stages after it.
set -uo pipefail
network="$1"; database="$2"; outcomes="${3:-/dev/stdout}"
metrics() { [ -n "${TOK_METRICS_DIR:-}" ] && printf '%s\n' --metrics-file "$TOK_METRICS_DIR/$1.prom"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/tok-follow.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkfifo "$work/blocks"
# shellcheck disable=SC2046 # metrics prints whole words or nothing
tok-verify --db "$database" $(metrics tok-verify) < "$work/blocks" \
    | tok-apply --db "$database" $(metrics tok-apply) >> "$outcomes" &
rest=$!
# shellcheck disable=SC2046
tok-follow --follow --network "$network" --db "$database" $(metrics tok-follow) > "$work/blocks" &
follow=$!
trap 'kill -TERM "$follow" 2> /dev/null' TERM INT

# A trap interrupts wait; wait again until tok-follow has really exited (a zombie still answers kill -0).
while :; do
    wait "$follow"; follow_status=$?
    kill -0 "$follow" 2> /dev/null || break
done
wait "$rest"; rest_status=$?
[ "$follow_status" -ne 0 ] && exit "$follow_status"
exit "$rest_status"
