#!/usr/bin/env bash
# Build .venv-peers/ at the repo root: the Python environment of the local
# test peers (testpeers/evm_node.py: eth-tester + py-evm + vyper).
#
#   bash scripts/peers-venv.sh          # then use .venv-peers/bin/python
#
# Idempotent: the venv is stamped with the sha256 of testpeers/requirements.lock;
# a rerun with an unchanged lock and a working venv returns at once.  A changed
# lock rebuilds the venv from scratch, so no stale package survives.
# Installs exactly the lock (--no-deps, wheels only: no compiler needed), then
# runs `pip check` so an incomplete lock fails here, not in a test.
# Works as root on a fresh Debian 12 (installs python3-venv with apt if the
# venv/ensurepip modules are missing).  Progress goes to stderr; stdout is
# left empty.  Env: PYTHON (default python3) picks the interpreter.
set -euo pipefail

say() { printf 'peers-venv: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock="$root/testpeers/requirements.lock"
venv="$root/.venv-peers"
stamp="$venv/.tok-lock-sha256"
python="${PYTHON:-python3}"

[ -f "$lock" ] || die "missing $lock"
want="$(sha256sum "$lock" | cut -d' ' -f1)"

up_to_date() {
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && "$venv/bin/python" -c '' 2>/dev/null
}

if up_to_date; then
    say "up to date ($venv)"
    exit 0
fi

# Serialise concurrent builds (parallel test jobs): the second one waits and
# then finds the venv up to date.  The lock file lives outside the repo.
if command -v flock >/dev/null 2>&1; then
    lockfile="${TMPDIR:-/tmp}/tok-peers-venv-$(printf '%s' "$root" | sha256sum | cut -c1-16).lock"
    exec 9>"$lockfile"
    flock -w 900 9 || die "timed out waiting for another peers-venv.sh run ($lockfile)"
    if up_to_date; then
        say "up to date ($venv, built by a concurrent run)"
        exit 0
    fi
fi

command -v "$python" >/dev/null 2>&1 || die "$python not found (Debian: apt-get install python3)"
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
    || die "$python does not run"
if [ "$pyver" != "3.11" ]; then
    say "warning: $python is Python $pyver; the lock was made on 3.11 and may lack wheels for it"
fi

# Debian splits venv/ensurepip into python3-venv.
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    command -v apt-get >/dev/null 2>&1 || die "$python lacks the venv/ensurepip modules and apt-get is unavailable"
    [ "$(id -u)" = 0 ] || die "$python lacks venv/ensurepip: run as root or apt-get install python3-venv"
    say "installing python3-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q python3-venv >&2 \
        || { apt-get update -q >&2 && apt-get install -y -q python3-venv >&2; } \
        || die "apt-get install python3-venv failed"
    "$python" -c 'import venv, ensurepip' 2>/dev/null || die "venv still unavailable after installing python3-venv"
fi

start=$(date +%s)
say "building $venv with $python ($pyver) from testpeers/requirements.lock"
rm -rf "$venv"
"$python" -m venv "$venv" >&2 || die "python -m venv failed"
# Keep the venv out of git without touching the repo's .gitignore.
printf '*\n' > "$venv/.gitignore"

pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)
"${pip[@]}" install --no-deps --only-binary=:all: --retries 5 --timeout 60 -q -r "$lock" >&2 \
    || die "pip install -r testpeers/requirements.lock failed (see above); $venv is left unstamped"
"${pip[@]}" check >&2 || die "pip check failed: requirements.lock is incomplete or inconsistent"
"$venv/bin/python" -c 'import eth_tester, eth, eth_account, vyper' \
    || die "installed packages do not import"

printf '%s\n' "$want" > "$stamp"
say "done in $(( $(date +%s) - start ))s ($(du -sh "$venv" | cut -f1))"
