#!/usr/bin/env bash
# tok's benchmark (a script, not a test). In one run it measures:
#   (a) tok-validate against `jq -c .` on the same deposit requests;
#   (b) tok-apply on attested deposits against bench/sqlite_loop.c, a minimal
#       C program doing the same SQLite work with the same durability settings.
# Each command runs twice (alternating with its peer); the better time counts.
# Results go to stdout and to the section of bench/RESULTS.md between the
# bench:begin/bench:end markers; the rest of that file (Notes) is left alone.
#
# Environment:
#   BENCH_RECORDS           records per file (default 1000000)
#   TOK_ATTESTATION_SECRET  attestation secret (a bench-only one is used if unset)
#   BENCH_SKIP_BUILD=1      use the release tools already built
# Progress goes to stderr; stdout carries only the results.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
records=${BENCH_RECORDS:-1000000}
[[ $records =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_RECORDS must be a positive integer" >&2; exit 64; }
config=examples/tok.toml
data=bench/data
out=bench/out
bin=.build/release
export TOK_ATTESTATION_SECRET=${TOK_ATTESTATION_SECRET:-bench-only-attestation-secret-0123456789abcdef}
mkdir -p "$data" "$out"

say() { echo "bench: $*" >&2; }

# The durability settings tok-apply reads from the config, passed to the C peer as they are.
synchronous=$(sed -n 's/^synchronous *= *"\([a-z]*\)".*/\1/p' "$config")
busy_timeout=$(sed -n 's/^lock_timeout_milliseconds *= *\([0-9]*\).*/\1/p' "$config")
batch_size=$(sed -n 's/^batch_size *= *\([0-9]*\).*/\1/p' "$config")
: "${synchronous:=full}" "${busy_timeout:=10000}" "${batch_size:=512}"

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    say "building release tools (swift build -c release)"
    swift build -c release >&2
fi
say "building the C peer"
cc -O2 -o "$out/sqlite_loop" bench/sqlite_loop.c -lsqlite3 -lcrypto

raw=$data/deposits-raw-$records.ndjson
attested=$data/deposits-attested-$records.ndjson
say "generating $records raw and attested deposits into $data/"
python3 bench/gen_deposits.py "$records" --mode raw > "$raw"
python3 bench/gen_deposits.py "$records" --mode attested > "$attested"

# Sanity first: the generated records are what the tools produce and accept.
sample=$(( records < 1000 ? records : 1000 ))
head -n "$sample" "$raw" | "$bin/tok-validate" --config "$config" 2>/dev/null > "$out/sample-validated.ndjson"
python3 bench/gen_deposits.py "$sample" --mode validated | cmp -s - "$out/sample-validated.ndjson" \
    || { say "generated validated records differ from tok-validate's output"; exit 1; }
rm -f "$out"/sample.sqlite*
head -n "$sample" "$attested" | "$bin/tok-apply" --config "$config" --db "$out/sample.sqlite" 2>/dev/null > "$out/sample-applied.ndjson"
credited=$(grep -c '"status":"credited"' "$out/sample-applied.ndjson" || true)
[[ $credited == "$sample" ]] || { say "only $credited of $sample attested sample records were credited"; exit 1; }

# An empty tok database: the C peer copies its schema from it, statement for statement.
rm -f "$out"/template.sqlite*
"$bin/tok-apply" --config "$config" --db "$out/template.sqlite" < /dev/null 2>/dev/null

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
now() { date +%s.%N; }
# best NAME SECONDS: keeps the smaller time per name.
declare -A best
record_time() { local name=$1 seconds=$2
    if [[ -z ${best[$name]:-} ]] || awk -v a="$seconds" -v b="${best[$name]}" 'BEGIN { exit !(a < b) }'; then best[$name]=$seconds; fi
    say "  $name: ${seconds}s"
}
fresh() { rm -f "$1" "$1-wal" "$1-shm" "$1.lock"; }
count_deposits() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM deposits").fetchone()[0])' "$1"; }

jq_cmd="jq -c . < $raw > /dev/null"
validate_cmd="$bin/tok-validate --config $config < $raw > /dev/null 2>/dev/null"
c_cmd="$out/sqlite_loop --synchronous $synchronous --busy-timeout $busy_timeout --batch $batch_size $out/template.sqlite $out/c.sqlite $records"
apply_cmd="$bin/tok-apply --config $config --db $out/tok.sqlite < $attested > /dev/null 2>/dev/null"

for round in 1 2; do
    say "round $round: jq and tok-validate"
    start=$(now); jq -c . < "$raw" > /dev/null; record_time jq "$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')"
    start=$(now); "$bin/tok-validate" --config "$config" < "$raw" > /dev/null 2>/dev/null
    record_time validate "$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')"

    say "round $round: C loop and tok-apply (fresh databases)"
    fresh "$out/c.sqlite"
    start=$(now)
    "$out/sqlite_loop" --synchronous "$synchronous" --busy-timeout "$busy_timeout" --batch "$batch_size" \
        "$out/template.sqlite" "$out/c.sqlite" "$records" 2>/dev/null
    record_time c_loop "$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')"
    fresh "$out/tok.sqlite"
    start=$(now); "$bin/tok-apply" --config "$config" --db "$out/tok.sqlite" < "$attested" > /dev/null 2>/dev/null
    record_time apply "$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')"
    for db in c tok; do
        stored=$(count_deposits "$out/$db.sqlite")
        [[ $stored == "$records" ]] || { say "$db.sqlite holds $stored deposits, not $records"; exit 1; }
    done
done

rate() { awk -v n="$records" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }   # peer seconds / tok seconds
met() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "yes" : "no") }'; }
validate_ratio=$(ratio "${best[validate]}" "${best[jq]}")
apply_ratio=$(ratio "${best[apply]}" "${best[c_loop]}")

cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
machine="$(nproc) cores, ${cpu:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo); load average at the start: $load_at_start (the machine may be shared)"
versions="$(swift --version 2>/dev/null | head -n 1 | sed 's/ (.*//'), $(jq --version), SQLite $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)'), $(uname -sr)"
section=$(cat <<EOF
## Latest run

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $machine
- Software: $versions
- Records: $records per file (\`bench/gen_deposits.py\`, fixed seed); durability: synchronous=$synchronous, WAL, batches of $batch_size
- Each command ran twice, alternating with its peer; the better time is shown.

| Measurement | Command | Seconds | Records/s |
|---|---|---:|---:|
| jq | \`$jq_cmd\` | ${best[jq]} | $(rate "${best[jq]}") |
| tok-validate | \`$validate_cmd\` | ${best[validate]} | $(rate "${best[validate]}") |
| C SQLite loop | \`$c_cmd\` | ${best[c_loop]} | $(rate "${best[c_loop]}") |
| tok-apply | \`$apply_cmd\` | ${best[apply]} | $(rate "${best[apply]}") |

| Comparison | Ratio (tok / peer throughput) | Target | Met |
|---|---:|---:|---|
| tok-validate vs jq | $validate_ratio | ≥ 2.00 | $(met "$validate_ratio" 2) |
| tok-apply vs C loop | $apply_ratio | ≥ 0.80 | $(met "$apply_ratio" 0.8) |
EOF
)

echo "$section"

# Rewrite only our section of RESULTS.md; create the file with an empty Notes section the first time.
results=bench/RESULTS.md
printf '%s\n' "$section" | python3 bench/write_section.py "$results" bench \
    "<!-- bench:begin (written by bench/run.sh; edit the Notes instead) -->"
say "wrote $results"
