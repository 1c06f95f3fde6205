#!/usr/bin/env bash
# Installs everything tok needs on a fresh Debian 12 machine (run as root) and
# is quick when it is all there already. Used by scripts/test.sh and
# scripts/demo.sh; safe to run any number of times.
#   - Debian packages: the C libraries tok links (jansson, sqlite3, libpq,
#     OpenSSL's libcrypto, libsecp256k1), pkg-config, and the tools the tests
#     and benchmarks use (jq, sqlite3, the PostgreSQL 15 server the tests and
#     benchmarks start themselves, python3-venv, flock from util-linux, and
#     litecoind: a real Bitcoin-family node on regtest that judges the
#     transactions tok signs), and the two boost libraries that the prebuilt
#     dogecoind of ../shared/tools/dogecoin needs beyond litecoind's.
#   - .venv-peers/: the Python environment of the local EVM test chain.
# Progress goes to stderr.
set -euo pipefail
say() { printf 'setup: %s\n' "$*" >&2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(libjansson-dev libsqlite3-dev libpq-dev libssl-dev libsecp256k1-dev pkg-config jq sqlite3
          postgresql python3 python3-venv gcc util-linux litecoind
          libboost-chrono1.74.0 libboost-program-options1.74.0)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || { say "missing ${missing[*]} and no apt-get"; exit 69; }
    [ "$(id -u)" = 0 ] || { say "missing ${missing[*]}: run as root (or install them) first"; exit 77; }
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

command -v swift >/dev/null || { say "swift is not on PATH (Swift 6 toolchain required)"; exit 69; }
bash "$root/scripts/peers-venv.sh"
say "ready"
