#!/usr/bin/env bash
# Runs every test of tok from a fresh clone: installs what is missing
# (scripts/setup.sh), checks the local EVM test chain on its own, then runs
# `swift test` — unit tests and pipeline tests that run the built tok-*
# executables against the real local chains (EVM and litecoind). The tests are
# XCTest; the last line is a plain "N passed, N failed" summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
# The real dogecoind beside the project (../shared/tools/dogecoin), unless told otherwise.
if [ -z "${TOK_DOGECOIN_DIR:-}" ] && [ -x "$root/../shared/tools/dogecoin/dogecoind" ]; then
    export TOK_DOGECOIN_DIR="$(cd "$root/../shared/tools/dogecoin" && pwd)"
fi
echo "== test peer self-check" >&2
.venv-peers/bin/python testpeers/selftest.py >&2
echo "== swift build" >&2
swift build --build-tests >&2
echo "== swift test" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# XCTest's last summary is the whole run's; with skips it reads "with N tests skipped and M failures".
summary="$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with ([0-9]+ tests? skipped and )?[0-9]+ failures?" "$log" | tail -1)"
executed="$(printf '%s' "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')"
failed="$(printf '%s' "$summary" | sed -E 's/.* ([0-9]+) failures?.*/\1/')"
skipped="$(printf '%s' "$summary" | sed -nE 's/.*with ([0-9]+) tests? skipped.*/\1/p')"
if [ -z "$summary" ]; then
    echo "no XCTest summary found" >&2
    exit 1
fi
echo "$((executed - failed - ${skipped:-0})) passed, $failed failed, ${skipped:-0} skipped"
exit "$status"
