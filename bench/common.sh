# What the bench scripts share: their messages, timing, fresh databases,
# best-of-rounds times and the release build. Sourced from the repository's
# root with bench_name set (the prefix of every message on stderr).

say() { echo "$bench_name: $*" >&2; }
die() { say "error: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# A database and its WAL, shared-memory and lock files, gone.
fresh() { rm -f "$1" "$1-wal" "$1-shm" "$1.lock"; }
# record_time NAME SECONDS: keeps every time per name (all, for the tables' rounds) and the smallest (best).
declare -A best all
record_time() { local name=$1 seconds=$2
    all[$name]="${all[$name]:+${all[$name]}, }$seconds"
    if [[ -z ${best[$name]:-} ]] || awk -v a="$seconds" -v b="${best[$name]}" 'BEGIN { exit !(a < b) }'; then best[$name]=$seconds; fi
    say "  $name: ${seconds}s"
}
load_average=$(cut -d' ' -f1-3 /proc/loadavg)

# The release tools, unless BENCH_SKIP_BUILD=1 says they are built already.
build_release_tools() {
    [[ ${BENCH_SKIP_BUILD:-0} == 1 ]] && return 0
    say "building release tools (swift build -c release)"
    swift build -c release >&2
}
