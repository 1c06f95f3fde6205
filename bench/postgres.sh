#!/usr/bin/env bash
# tok's PostgreSQL benchmark (a script, not a test). In one run, against a
# PostgreSQL 15 server it starts itself (initdb in bench/out/pg, a Unix
# socket there, fsync on, synchronous_commit on: production durability):
#   (a) tok-apply crediting attested deposits on PostgreSQL against
#       bench/pg_loop.c, a minimal C program doing the same statements through
#       libpq with the same durability; and the same deposits on SQLite
#       (tok-apply and bench/sqlite_loop.c) beside them;
#   (b) tok-apply's payout steps (prepare, commit) on PostgreSQL and on SQLite
#       over pre-signed payouts (bench/gen_payouts.py).
# Each measurement runs twice (alternating with its peer); the better time
# counts. Results go to stdout and to the section of bench/RESULTS.md between
# the postgres:begin/postgres:end markers (added before "## Notes" the first
# time). Progress goes to stderr.
#
# Environment:
#   BENCH_PG_RECORDS        deposits (default 100000)
#   BENCH_PG_PAYOUTS        payouts (default 20000)
#   TOK_ATTESTATION_SECRET  attestation secret (a bench-only one is used if unset)
#   BENCH_SKIP_BUILD=1      use the release tools already built
set -euo pipefail

cd "$(dirname "$0")/.."
records=${BENCH_PG_RECORDS:-100000}
payouts=${BENCH_PG_PAYOUTS:-20000}
[[ $records =~ ^[1-9][0-9]*$ && $payouts =~ ^[1-9][0-9]*$ ]] || { echo "postgres: counts must be positive integers" >&2; exit 64; }
config=examples/tok.toml
bin=.build/release
data=bench/data
out=bench/out/postgres
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
export TOK_ATTESTATION_SECRET=${TOK_ATTESTATION_SECRET:-bench-only-attestation-secret-0123456789abcdef}
mkdir -p "$data" "$out"

say() { echo "postgres: $*" >&2; }
die() { say "error: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
[[ -x $pgbin/initdb ]] || die "no PostgreSQL server binaries: run scripts/setup.sh"

batch_size=$(sed -n 's/^batch_size *= *\([0-9]*\).*/\1/p' "$config"); : "${batch_size:=512}"
synchronous=$(sed -n 's/^synchronous *= *"\([a-z]*\)".*/\1/p' "$config"); : "${synchronous:=full}"

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    say "building release tools (swift build -c release)"
    swift build -c release >&2
fi
say "building the C peers"
cc -O2 -o "$out/pg_loop" bench/pg_loop.c -I"$("$pgbin/pg_config" --includedir)" -lpq -lcrypto
cc -O2 -o "$out/sqlite_loop" bench/sqlite_loop.c -lsqlite3 -lcrypto

# The server: as an unprivileged user when we are root (PostgreSQL refuses root).
server_dir=$(mktemp -d /tmp/tok-bench-pg-XXXXXX)
as_server=()
user=$(id -un)
if [[ $(id -u) == 0 ]]; then
    id tokpg > /dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin tokpg
    chown tokpg "$server_dir"
    as_server=(runuser -u tokpg --)
    user=tokpg
fi
stop_server() { "${as_server[@]}" "$pgbin/pg_ctl" -D "$server_dir/data" -m fast -w stop > /dev/null 2>&1 || true; rm -rf "$server_dir"; }
trap stop_server EXIT
say "starting PostgreSQL in $server_dir (fsync on)"
"${as_server[@]}" "$pgbin/initdb" -D "$server_dir/data" -U "$user" --auth=trust --locale=C --encoding=UTF8 > "$out/initdb.log"
"${as_server[@]}" "$pgbin/pg_ctl" -D "$server_dir/data" -l "$server_dir/server.log" -w \
    -o "-k $server_dir -c listen_addresses= -c shared_buffers=512MB -c max_wal_size=4GB" start > /dev/null
uri() { echo "postgresql:///$1?host=$server_dir&user=$user"; }
fresh_db() { "$pgbin/psql" -X -q "$(uri postgres)" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1 TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"; }
fresh_sqlite() { rm -f "$1" "$1-wal" "$1-shm" "$1.lock"; }
count_pg() { "$pgbin/psql" -X -A -t "$(uri "$1")" -c "SELECT count(*) FROM $2"; }

attested=$data/deposits-attested-$records.ndjson
[[ -s $attested ]] || python3 bench/gen_deposits.py "$records" --mode attested > "$attested"
funding=$(( payouts / 4 > 2000 ? payouts / 4 : 2000 ))
funding_file=$data/deposits-attested-$funding.ndjson
signed=$data/payouts-signed-$payouts.ndjson
confirmed=$data/payouts-confirmed-$payouts.ndjson
[[ -s $funding_file ]] || python3 bench/gen_deposits.py "$funding" --mode attested > "$funding_file"
[[ -s $signed && -s $confirmed ]] || python3 bench/gen_payouts.py "$payouts" --config "$config" --deposits "$funding_file" --signed "$signed" --confirmed "$confirmed"

declare -A best rounds
record_time() { local name=$1 seconds=$2
    if [[ -z ${best[$name]:-} ]] || awk -v a="$seconds" -v b="${best[$name]}" 'BEGIN { exit !(a < b) }'; then best[$name]=$seconds; fi
    rounds[$name]="${rounds[$name]:+${rounds[$name]}, }$seconds"
    say "  $name: ${seconds}s"
}

# An empty SQLite tok database for sqlite_loop's schema.
fresh_sqlite "$out/template.sqlite"
"$bin/tok-apply" --config "$config" --db "$out/template.sqlite" < /dev/null 2> /dev/null

for round in 1 2; do
    say "round $round: deposits on PostgreSQL, C peer then tok-apply (fresh databases)"
    fresh_db c_loop
    "$bin/tok-apply" --config "$config" --db "$(uri c_loop)" < /dev/null 2> /dev/null   # tok's schema and token units
    start=$(now); "$out/pg_loop" --batch "$batch_size" "$(uri c_loop)" "$records" 2> /dev/null; record_time pg_c "$(elapsed "$start")"
    fresh_db tok_apply
    start=$(now); "$bin/tok-apply" --config "$config" --db "$(uri tok_apply)" < "$attested" > /dev/null 2> "$out/apply-pg.log"
    record_time pg_apply "$(elapsed "$start")"
    for db in c_loop tok_apply; do
        stored=$(count_pg "$db" deposits)
        [[ $stored == "$records" ]] || die "$db holds $stored deposits, not $records"
    done
    "$bin/tok-apply" check --config "$config" --db "$(uri tok_apply)" > /dev/null 2>> "$out/apply-pg.log" || die "check failed on PostgreSQL"

    say "round $round: the same deposits on SQLite"
    fresh_sqlite "$out/c.sqlite"
    start=$(now)
    "$out/sqlite_loop" --synchronous "$synchronous" --batch "$batch_size" "$out/template.sqlite" "$out/c.sqlite" "$records" 2> /dev/null
    record_time sqlite_c "$(elapsed "$start")"
    fresh_sqlite "$out/tok.sqlite"
    start=$(now); "$bin/tok-apply" --config "$config" --db "$out/tok.sqlite" < "$attested" > /dev/null 2> /dev/null
    record_time sqlite_apply "$(elapsed "$start")"

    say "round $round: payouts (prepare, commit) on PostgreSQL and on SQLite"
    fresh_db payouts
    "$bin/tok-apply" --config "$config" --db "$(uri payouts)" < "$funding_file" > /dev/null 2> /dev/null
    start=$(now); "$bin/tok-apply" --config "$config" --db "$(uri payouts)" < "$signed" > "$out/prepared-pg.ndjson" 2> /dev/null
    record_time pg_prepare "$(elapsed "$start")"
    start=$(now); "$bin/tok-apply" --config "$config" --db "$(uri payouts)" < "$confirmed" > "$out/paid-pg.ndjson" 2> /dev/null
    record_time pg_commit "$(elapsed "$start")"
    [[ $(grep -c '"status":"paid"' "$out/paid-pg.ndjson" || true) == "$payouts" ]] || die "not every payout was paid on PostgreSQL"
    fresh_sqlite "$out/payouts.sqlite"
    "$bin/tok-apply" --config "$config" --db "$out/payouts.sqlite" < "$funding_file" > /dev/null 2> /dev/null
    start=$(now); "$bin/tok-apply" --config "$config" --db "$out/payouts.sqlite" < "$signed" > /dev/null 2> /dev/null
    record_time sqlite_prepare "$(elapsed "$start")"
    start=$(now); "$bin/tok-apply" --config "$config" --db "$out/payouts.sqlite" < "$confirmed" > "$out/paid-sqlite.ndjson" 2> /dev/null
    record_time sqlite_commit "$(elapsed "$start")"
done

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }   # peer seconds / tok seconds
met() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "yes" : "no") }'; }
pg_ratio=$(ratio "${best[pg_apply]}" "${best[pg_c]}")
sqlite_ratio=$(ratio "${best[sqlite_apply]}" "${best[sqlite_c]}")
row() { echo "| $1 | \`$2\` | ${rounds[$3]} | ${best[$3]} | $(rate "$4" "${best[$3]}") |"; }
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
section=$(cat <<EOF
## PostgreSQL

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(nproc) cores, ${cpu:-unknown CPU}; load average at the start of the report: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared)
- Software: $("$pgbin/postgres" --version), $(swift --version 2>/dev/null | head -n 1 | sed 's/ (.*//'), $(uname -sr)
- Server: started by \`bench/postgres.sh\` on a Unix socket, fsync on, synchronous_commit on (every commit waits for its WAL flush), shared_buffers 512MB; the same machine as the tools
- Command: \`BENCH_PG_RECORDS=$records BENCH_PG_PAYOUTS=$payouts bash bench/postgres.sh\`; each measurement ran twice, alternating with its peer; the better time counts.

| Measurement | Command | Rounds, s | Best, s | Records/s |
|---|---|---|---:|---:|
$(row "C libpq loop, deposits" "bench/out/postgres/pg_loop --batch $batch_size URI $records" pg_c "$records")
$(row "tok-apply on PostgreSQL, deposits" "$bin/tok-apply --config $config --db URI < $attested" pg_apply "$records")
$(row "C SQLite loop, deposits" "bench/out/postgres/sqlite_loop --synchronous $synchronous --batch $batch_size … $records" sqlite_c "$records")
$(row "tok-apply on SQLite, deposits" "$bin/tok-apply --config $config --db FILE < $attested" sqlite_apply "$records")
$(row "tok-apply on PostgreSQL, prepare" "$bin/tok-apply --config $config --db URI < $signed" pg_prepare "$payouts")
$(row "tok-apply on PostgreSQL, commit" "$bin/tok-apply --config $config --db URI < $confirmed" pg_commit "$payouts")
$(row "tok-apply on SQLite, prepare" "$bin/tok-apply --config $config --db FILE < $signed" sqlite_prepare "$payouts")
$(row "tok-apply on SQLite, commit" "$bin/tok-apply --config $config --db FILE < $confirmed" sqlite_commit "$payouts")

| Comparison | Ratio (tok / peer throughput) | Target | Met |
|---|---:|---:|---|
| tok-apply vs C libpq loop (PostgreSQL deposits) | $pg_ratio | ≥ 0.80 | $(met "$pg_ratio" 0.8) |
| tok-apply vs C SQLite loop (same run) | $sqlite_ratio | ≥ 0.80 | $(met "$sqlite_ratio" 0.8) |
EOF
)
echo "$section"

printf '%s\n' "$section" | python3 bench/write_section.py bench/RESULTS.md postgres
say "wrote bench/RESULTS.md"
