#!/usr/bin/env bash
# Runs every test of tok from a fresh clone: installs what is missing
# (scripts/setup.sh), checks the local EVM test chain on its own, then runs
# `swift test` — unit tests and pipeline tests that run the built tok-*
# executables against the real local chain. The last line is swift test's
# summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
echo "== test peer self-check" >&2
.venv-peers/bin/python testpeers/selftest.py >&2
echo "== swift build" >&2
swift build --build-tests >&2
echo "== swift test" >&2
exec swift test --skip-build
