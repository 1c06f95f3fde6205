#!/usr/bin/env bash
# tok's market benchmark (a script, not a test; issue 11, item 8): orders
# matched per second through tok-apply against resting books of each size in
# BENCH_MARKET_SIZES, and the same number of plain deposits through tok-apply
# on the same ledger in the same run (the peer).
#
# Input is what tok-follow writes for Dogecoin blocks (op "block", attested by
# stage "follow"), made by bench/market_records.py (seeded, stdlib only): no
# node is involved, so what is timed is tok-apply alone.
#   book      height 1 mints one token; then blocks of BENCH_MARKET_PER_BLOCK
#             sell offers by its minter, 1000 units each at unit prices drawn
#             from [10^6, 10^8] koinu. One stream for the largest size, fed to
#             one ledger segment by segment; the ledger is copied when it holds
#             each size (the build time of each segment is reported too).
#   orders    BENCH_MARKET_ORDERS buy offers after the book's tip, the same
#             number per block, each 1 unit at up to 10^8 koinu by one of 1000
#             buyers: each crosses the best resting sell offer and makes one
#             match (a reservation with its payment window; 10,000 blocks here,
#             so none ends inside the run).
#   deposits  as many payments to the receiver in as many blocks after the same
#             tip (confirmations = 1: each is credited in its own block).
# For each size and round, a copy of that size's book ledger (flushed to disk
# first) takes the orders, another copy the deposits; each runs twice, the
# better time counts. After
# each run the output is checked: every block connected, every order applied
# with exactly one match (the matches table holds one row per order), every
# deposit credited. The cost per order should grow at most like log(book
# size); the table shows µs per order against the smallest book next to
# log2(size) / log2(smallest).
# Generated records are kept in bench/data; ledgers and outputs in
# bench/out/market. Results go to stdout and to the section of
# bench/RESULTS.md between the market:begin/market:end markers.
#
# Environment:
#   BENCH_MARKET_SIZES      resting book sizes, ascending (default "1000 10000 100000 1000000")
#   BENCH_MARKET_ORDERS     crossing orders (and deposits) per run (default 10000)
#   BENCH_MARKET_PER_BLOCK  events per block, 1..2000 (default 1000)
#   BENCH_MARKET_SEED       the generator's seed (default 1)
#   TOK_ATTESTATION_SECRET  attestation secret (a bench-only one is used if unset)
#   BENCH_SKIP_BUILD=1      use the release tools already built
# Progress goes to stderr; stdout carries only the results.
set -euo pipefail

cd "$(dirname "$0")/.."
read -r -a sizes <<< "${BENCH_MARKET_SIZES:-1000 10000 100000 1000000}"
orders=${BENCH_MARKET_ORDERS:-10000}
per_block=${BENCH_MARKET_PER_BLOCK:-1000}
seed=${BENCH_MARKET_SEED:-1}
previous_size=0
for value in "${sizes[@]}"; do
    [[ $value =~ ^[1-9][0-9]*$ ]] && (( value > previous_size )) \
        || { echo "market: BENCH_MARKET_SIZES must be positive integers in ascending order" >&2; exit 64; }
    previous_size=$value
done
for value in "$orders" "$per_block" "$seed"; do
    [[ $value =~ ^[1-9][0-9]*$ ]] || { echo "market: BENCH_MARKET_ORDERS, _PER_BLOCK and _SEED must be positive integers" >&2; exit 64; }
done
(( per_block <= 2000 )) || { echo "market: BENCH_MARKET_PER_BLOCK is at most 2000 (events per block record)" >&2; exit 64; }
largest=${sizes[-1]}
bin=.build/release
out=bench/out/market
data=bench/data
export TOK_ATTESTATION_SECRET=${TOK_ATTESTATION_SECRET:-bench-only-attestation-secret-0123456789abcdef}
export TOK_ATTESTATION_KEY_ID=bench
export TOK_LOG_LEVEL=warning
mkdir -p "$out" "$data"

bench_name=market
# shellcheck source=bench/common.sh
source bench/common.sh
# The copy is flushed before timing: else the run's first fsync writes back the whole copy (2.8 GB at 1,000,000 offers).
copy_ledger() { fresh "$2"; cp "$1" "$2"; if [[ -f $1-wal ]]; then cp "$1-wal" "$2-wal"; fi; sync "$2"*; }
declare -A build_seconds

build_release_tools

records() { python3 bench/market_records.py "$@" --per-block "$per_block" --seed "$seed"; }
config=$out/tok.toml
cat > "$config" <<EOF
[attestation]
key_id = "bench"

[database]
lock_timeout_milliseconds = 10000
synchronous = "full"

[[tokens]]
alias = "DOGE"
decimals = 8

[[networks]]
alias = "doge"
chain = "bip122:3d2160a3b5dc4a9d62e7e66a295f7031"
rpc_url = "http://127.0.0.1:1"
receiver = "$(records receiver)"
confirmations = 1
follow_start_height = 1
payment_window_blocks = 10000

  [[networks.assets]]
  token = "DOGE"
  asset = "bip122:3d2160a3b5dc4a9d62e7e66a295f7031/slip44:3"
  decimals = 8
EOF

# Counts from tok-apply's output: blocks connected, anchors applied and not, deposits credited.
tally() {
    python3 - "$1" <<'EOF'
import json, sys
connected = applied = other = credited = 0
for line in open(sys.argv[1]):
    record = json.loads(line)
    if record.get("status") != "connected":
        continue
    connected += 1
    outcome = record.get("applied", {})
    credited += outcome.get("credited", 0)
    for anchor in outcome.get("anchors", []):
        if anchor["outcome"] == "applied":
            applied += 1
        else:
            other += 1
print(connected, applied, other, credited)
EOF
}
count() { python3 -c 'import sqlite3, sys; print(sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True).execute(sys.argv[2]).fetchone()[0])' "$1" "$2"; }

# ------------------------------------------------------------ the book, built once, copied at each size
book_file=$data/market-book-s$seed-k$per_block-n$largest.ndjson
if [[ ! -f $book_file ]]; then
    say "generating the book stream: $largest sell offers, $per_block per block"
    records book --offers "$largest" > "$book_file.tmp"
    mv "$book_file.tmp" "$book_file"
fi
fresh "$out/book.sqlite"
first_line=1
for size in "${sizes[@]}"; do
    height=$(records height --offers "$size")
    say "building the book of $size offers (blocks $first_line to $height)"
    start=$(now)
    sed -n "${first_line},${height}p" "$book_file" | "$bin/tok-apply" --config "$config" --db "$out/book.sqlite" > "$out/book-segment.ndjson"
    build_seconds[$size]=$(elapsed "$start" "$(now)")
    say "  ${build_seconds[$size]}s"
    read -r connected applied other _ < <(tally "$out/book-segment.ndjson")
    (( connected == height - first_line + 1 && other == 0 )) \
        || die "the book segment to height $height: $connected blocks connected, $applied anchors applied, $other not"
    resting=$(count "$out/book.sqlite" "SELECT count(*) FROM offers WHERE side = 'sell' AND state = 'open'")
    [[ $resting == "$size" ]] || die "the book holds $resting open sell offers, not $size"
    copy_ledger "$out/book.sqlite" "$out/book-$size.sqlite"
    first_line=$(( height + 1 ))
done
fresh "$out/book.sqlite"

# ------------------------------------------------------------ timed rounds
for size in "${sizes[@]}"; do
    height=$(records height --offers "$size")
    for kind in orders deposits; do
        file=$data/market-$kind-s$seed-k$per_block-after$height-m$orders.ndjson
        [[ -f $file ]] || { records "$kind" --after "$height" --count "$orders" > "$file.tmp" && mv "$file.tmp" "$file"; }
    done
done
blocks=$(( (orders + per_block - 1) / per_block ))
for round in 1 2; do
    say "round $round"
    for size in "${sizes[@]}"; do
        height=$(records height --offers "$size")
        for kind in orders deposits; do
            file=$data/market-$kind-s$seed-k$per_block-after$height-m$orders.ndjson
            copy_ledger "$out/book-$size.sqlite" "$out/run.sqlite"
            start=$(now)
            "$bin/tok-apply" --config "$config" --db "$out/run.sqlite" < "$file" > "$out/run.ndjson"
            record_time "$kind-$size" "$(elapsed "$start" "$(now)")"
            read -r connected applied other credited < <(tally "$out/run.ndjson")
            (( connected == blocks )) || die "$kind on the book of $size: $connected blocks connected, not $blocks"
            if [[ $kind == orders ]]; then
                matches=$(count "$out/run.sqlite" "SELECT count(*) FROM matches")
                (( applied == orders && other == 0 && matches == orders )) \
                    || die "orders on the book of $size: $applied applied, $other not, $matches matches (want $orders)"
            else
                (( credited == orders )) || die "deposits on the book of $size: $credited credited, not $orders"
            fi
        done
    done
done
fresh "$out/run.sqlite"

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
micros() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", s * 1e6 / n }'; }
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
machine="$(nproc) cores, ${cpu:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
versions="$(swift --version 2>/dev/null | head -n 1 | sed 's/ (.*//'), Python $(python3 -c 'import platform; print(platform.python_version())'), $(uname -sr)"
smallest=${sizes[0]}
rows=""
build_rows=""
previous_size=0
for size in "${sizes[@]}"; do
    o=${best[orders-$size]} d=${best[deposits-$size]}
    growth=$(awk -v a="$o" -v b="${best[orders-$smallest]}" 'BEGIN { printf "%.2f", a / b }')
    log_growth=$(awk -v n="$size" -v m="$smallest" 'BEGIN { printf "%.2f", log(n) / log(m) }')
    ratio=$(awk -v a="$o" -v b="$d" 'BEGIN { printf "%.2f", b / a }')
    rows+="| $size | ${all[orders-$size]} | $o | $(rate "$orders" "$o") | $(micros "$orders" "$o") | $growth | $log_growth | ${all[deposits-$size]} | $d | $(rate "$orders" "$d") | $ratio |"$'\n'
    build_rows+="| $previous_size → $size | ${build_seconds[$size]} | $(rate $(( size - previous_size )) "${build_seconds[$size]}") |"$'\n'
    previous_size=$size
done
database_size=$(du -m "$out/book-$largest.sqlite" | cut -f1)

section=$(cat <<EOF
## Market

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $machine; load average at the start: $load_average (the machine may be shared)
- Software: $versions
- Command: \`BENCH_MARKET_SIZES="${sizes[*]}" BENCH_MARKET_ORDERS=$orders BENCH_MARKET_PER_BLOCK=$per_block BENCH_MARKET_SEED=$seed bash bench/market.sh\`
- Input: attested block records as tok-follow writes them (\`bench/market_records.py\`, seed $seed), straight into \`tok-apply --config C --db L < FILE\` on a copy of the book's ledger (SQLite, \`synchronous = "full"\`); $per_block events per block. Orders: $orders buy offers of 1 unit, each crossing the best resting sell offer (one match each, $blocks blocks). Deposits (the peer): $orders payments to the receiver in $blocks blocks after the same tip, each credited in its block. Each ran twice, alternating; the better time is shown. Every run was checked: every block connected, every order applied with one match, every deposit credited.

| Resting offers | Orders: rounds, s | Best, s | Orders/s | µs per order | × the smallest book | log(size) ÷ log($smallest) | Deposits: rounds, s | Best, s | Deposits/s | Orders/s ÷ deposits/s |
|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|
${rows%$'\n'}

Building the books (one ledger, fed the book stream segment by segment; $largest offers make a ${database_size} MB database):

| Offers | Seconds | Offers/s |
|---|---:|---:|
${build_rows%$'\n'}
EOF
)

echo "$section"

results=bench/RESULTS.md
printf '%s\n' "$section" | python3 bench/write_section.py "$results" market
say "wrote $results"
