#!/usr/bin/env bash
# tok's payout benchmark (a script, not a test). In one run it measures:
#   (1) tok-apply's payout steps with no chain involved: prepare (signed →
#       prepared) and commit (confirmed → paid) of BENCH_PAYOUTS pre-signed
#       records (bench/gen_payouts.py), after attested deposits that fund
#       them (bench/gen_deposits.py --mode attested; loading them is set-up,
#       not timed); with the config's batch size and with --batch-size 64, to
#       show what group commit buys. Durability as in production:
#       examples/tok.toml's [database] (synchronous = "full", WAL).
#   (2) tok-submit against the local EVM chain (testpeers/evm_node.py, started
#       here) with rpc_batch_size 10 and rpc_concurrency 1, 2, 4, 8, over
#       BENCH_CHAIN_PAYOUTS real payouts prepared by the real pipeline
#       (tok-validate | tok-verify --db | tok-apply --db): (a) the first
#       broadcast of each set, at concurrency 1 only and in nonce order (the
#       node keeps no queue of future nonces: a later nonce arriving first is
#       refused "nonce too high"); (b) at each concurrency, the
#       reconciliation-style pass over the already-broadcast set (re-broadcast,
#       which the node accepts as known, plus observe). The peer figure is the
#       node's own rate for eth_getTransactionReceipt over the same payouts.
# Every measurement runs twice (two rounds; in (2) each round prepares its own
# set); the better time counts. Before timing, a sample runs through the real
# tools: every generated payout must come out "prepared" then "paid", the
# generated confirmed records must be the prepared output plus exactly what
# tok-submit adds, `tok-apply --check` must pass, and the generated records
# must have the shape the real tok-verify and tok-submit give in part (2).
# Results go to stdout and to the section of bench/RESULTS.md between the
# payouts:begin/payouts:end markers (added before "## Notes" the first time);
# the rest of that file is left alone. Progress goes to stderr.
#
# Environment:
#   BENCH_PAYOUTS           pre-signed payouts for (1) (default 100000)
#   BENCH_PAYOUT_DEPOSITS   deposits funding them (default max(2000, BENCH_PAYOUTS/4))
#   BENCH_CHAIN_PAYOUTS     payouts per set for (2) (default 400, at most 1000)
#   TOK_ATTESTATION_SECRET  attestation secret (a bench-only one is used if unset)
#   BENCH_SKIP_BUILD=1      use the release tools already built
set -euo pipefail

cd "$(dirname "$0")/.."
payouts=${BENCH_PAYOUTS:-100000}
chain_payouts=${BENCH_CHAIN_PAYOUTS:-400}
[[ $payouts =~ ^[1-9][0-9]*$ ]] || { echo "payouts: BENCH_PAYOUTS must be a positive integer" >&2; exit 64; }
[[ $chain_payouts =~ ^[1-9][0-9]*$ && $chain_payouts -le 1000 ]] \
    || { echo "payouts: BENCH_CHAIN_PAYOUTS must be 1..1000 (the node's batch limit, for the peer figure)" >&2; exit 64; }
deposits=${BENCH_PAYOUT_DEPOSITS:-$(( payouts / 4 > 2000 ? payouts / 4 : 2000 ))}
[[ $deposits =~ ^[1-9][0-9]*$ ]] || { echo "payouts: BENCH_PAYOUT_DEPOSITS must be a positive integer" >&2; exit 64; }
config=examples/tok.toml
bin=.build/release
data=bench/data
out=bench/out/payouts
py=.venv-peers/bin/python
levels=(1 2 4 8)
export TOK_ATTESTATION_SECRET=${TOK_ATTESTATION_SECRET:-bench-only-attestation-secret-0123456789abcdef}
export TOK_LOG_LEVEL=info
mkdir -p "$data" "$out"

bench_name=payouts
# shellcheck source=bench/common.sh
source bench/common.sh
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
count() { grep -c "\"status\":\"$1\"" "$2" || true; }
statuses() { { grep -o '"status":"[a-z_]*"' "$1" || true; } | sed 's/"status":"\(.*\)"/\1/' | sort | uniq -c | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }'; }

build_release_tools
say "checking the local chain's Python environment (scripts/peers-venv.sh)"
bash scripts/peers-venv.sh

# ------------------------------------------------------------ (1) tok-apply
batch_default=$(sed -n 's/^batch_size *= *\([0-9]*\).*/\1/p' "$config")
synchronous=$(sed -n 's/^synchronous *= *"\([a-z]*\)".*/\1/p' "$config")
: "${batch_default:=512}" "${synchronous:=full}"
deposit_file=$data/payout-deposits-$deposits.ndjson
signed=$data/payouts-signed-$payouts.ndjson
confirmed=$data/payouts-confirmed-$payouts.ndjson
say "generating $deposits attested deposits and $payouts signed + confirmed payouts into $data/"
python3 bench/gen_deposits.py "$deposits" --mode attested > "$deposit_file"
python3 bench/gen_payouts.py "$payouts" --config "$config" --deposits "$deposit_file" --signed "$signed" --confirmed "$confirmed"

# Sanity first: a sample through the real tool, prepared then paid, invariants intact.
sample=$(( payouts < 300 ? payouts : 300 ))
say "sample: $sample payouts through tok-apply (prepare, commit, --check)"
db=$out/sample.sqlite
fresh "$db"
"$bin/tok-apply" --config "$config" --db "$db" < "$deposit_file" > /dev/null 2> "$out/sample.log"
head -n "$sample" "$signed" | "$bin/tok-apply" --config "$config" --db "$db" > "$out/sample-prepared.ndjson" 2>> "$out/sample.log"
head -n "$sample" "$confirmed" > "$out/sample-confirmed.ndjson"
"$bin/tok-apply" --config "$config" --db "$db" < "$out/sample-confirmed.ndjson" > "$out/sample-paid.ndjson" 2>> "$out/sample.log"
[[ $(count prepared "$out/sample-prepared.ndjson") == "$sample" ]] || die "sample prepare: $(statuses "$out/sample-prepared.ndjson") (see $out/sample-prepared.ndjson)"
[[ $(count paid "$out/sample-paid.ndjson") == "$sample" ]] || die "sample commit: $(statuses "$out/sample-paid.ndjson") (see $out/sample-paid.ndjson)"
"$bin/tok-apply" --config "$config" --db "$db" --check > /dev/null 2>> "$out/sample.log" || die "tok-apply --check failed on the sample database"
python3 - "$out/sample-prepared.ndjson" "$out/sample-confirmed.ndjson" <<'EOF' || die "generated confirmed records are not tok-apply's prepared output plus tok-submit's fields"
import json, sys
# tok-submit adds "submission", sets "status" and re-attests; nothing else may differ.
for number, (p, c) in enumerate(zip(open(sys.argv[1]), open(sys.argv[2])), 1):
    p, c = json.loads(p), json.loads(c)
    for key in ("status", "attestation"): p.pop(key, None)
    for key in ("status", "attestation", "submission"): c.pop(key, None)
    if p != c:
        sys.exit("record %d differs: prepared %s, generated %s" % (number, json.dumps(p, sort_keys=True), json.dumps(c, sort_keys=True)))
EOF

# What one commit's durability costs on this disk: synchronous=full fsyncs the WAL at every commit.
fsync_ms=$(python3 - "$out/fsync.probe" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
block = b"\0" * 4096
start = time.perf_counter()
for i in range(200):
    os.pwrite(fd, block, 4096 * i)
    os.fsync(fd)
print("%.2f" % (1000 * (time.perf_counter() - start) / 200))
os.close(fd)
os.unlink(sys.argv[1])
EOF
)
say "fsync on this disk: $fsync_ms ms (200 x 4 KiB pwrite + fsync)"

variants=("default" "b64")
declare -A variant_option=([default]="" [b64]="--batch-size 64")
declare -A variant_label=([default]="batches of $batch_default (config)" [b64]="--batch-size 64")
for round in 1 2; do
    for variant in "${variants[@]}"; do
        say "round $round, ${variant_label[$variant]}: load $deposits deposits (untimed), prepare and commit $payouts payouts"
        db=$out/apply-$variant.sqlite
        fresh "$db"
        # shellcheck disable=SC2086  # the option is two words or none
        "$bin/tok-apply" --config "$config" --db "$db" < "$deposit_file" > "$out/deposits-applied.ndjson" 2> "$out/apply-$variant.log"
        [[ $(count credited "$out/deposits-applied.ndjson") == "$deposits" ]] || die "deposits: $(statuses "$out/deposits-applied.ndjson")"
        start=$EPOCHREALTIME
        # shellcheck disable=SC2086
        "$bin/tok-apply" --config "$config" ${variant_option[$variant]} --db "$db" < "$signed" > "$out/prepared-$variant.ndjson" 2>> "$out/apply-$variant.log"
        record_time "prepare_$variant" "$(elapsed "$start" "$EPOCHREALTIME")"
        start=$EPOCHREALTIME
        # shellcheck disable=SC2086
        "$bin/tok-apply" --config "$config" ${variant_option[$variant]} --db "$db" < "$confirmed" > "$out/paid-$variant.ndjson" 2>> "$out/apply-$variant.log"
        record_time "commit_$variant" "$(elapsed "$start" "$EPOCHREALTIME")"
        [[ $(count prepared "$out/prepared-$variant.ndjson") == "$payouts" ]] || die "prepare: $(statuses "$out/prepared-$variant.ndjson")"
        [[ $(count paid "$out/paid-$variant.ndjson") == "$payouts" ]] || die "commit: $(statuses "$out/paid-$variant.ndjson")"
        "$bin/tok-apply" --config "$config" --db "$db" --check > /dev/null 2>> "$out/apply-$variant.log" || die "tok-apply --check failed on $db"
    done
done

# ------------------------------------------------------------ (2) tok-submit
node_pid=""
cleanup() { if [[ -n $node_pid ]]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
say "starting the local EVM chain (testpeers/evm_node.py --log-requests)"
rm -f "$out/evm.port"
"$py" testpeers/evm_node.py --port 0 --port-file "$out/evm.port" --log-requests 2> "$out/evm.log" &
node_pid=$!
url=$(python3 testpeers/evmctl.py wait-ready "$out/evm.port" 60)
evm() { python3 testpeers/evmctl.py --url "$url" -r "$@"; }
# Requests the node has served so far: its log has one "http" line per HTTP request and one line per JSON-RPC call.
node_counts() { awk '/^evm_node: http / { h++ } /^evm_node: [A-Za-z_]+ [0-9.]+ ms$/ { c++; ms += $(NF-1) } END { printf "%d %d %.1f", h, c, ms }' "$out/evm.log"; }
for c in "${levels[@]}"; do
    sed -e "s#^rpc_url = .*#rpc_url = \"$url\"#" -e 's/^rpc_batch_size = .*/rpc_batch_size = 10/' \
        -e "s/^rpc_concurrency = .*/rpc_concurrency = $c/" "$config" > "$out/tok-c$c.toml"
done
c1=$out/tok-c1.toml
export TOK_OPERATOR_KEY_EVM_LOCAL=0x000000000000000000000000000000000000000000000000000000000000000a   # funded account #10
receiver=$(sed -n 's/^receiver = "\(0x[0-9a-fA-F]*\)".*/\1/p' "$config")
evm call tokdev_setBlockInterval '[0]' > /dev/null   # no background blocks: auto-mine only
users=4
say "funding: accounts #0..#$((users - 1)) deposit 1000 ETH each, credited through tok-validate | tok-verify | tok-apply"
chain_db=$out/chain.sqlite
fresh "$chain_db"
for ((i = 0; i < users; i++)); do
    tx=$(evm send-eth "$i" "$receiver" 1000000000000000000000)
    account=$(evm accounts | python3 -c "import json, sys; print(json.load(sys.stdin)[$i]['address'])")
    printf '{"op":"deposit","id":"bench-deposit-%d","source":{"account":"%s","network":"evm-local","token":"ETH"},"deposit":{"tx":"%s"}}\n' "$i" "$account" "$tx"
done > "$out/chain-deposits.ndjson"
evm mine 3 > /dev/null
"$bin/tok-validate" --config "$c1" < "$out/chain-deposits.ndjson" 2> "$out/chain-pipeline.log" \
    | "$bin/tok-verify" --config "$c1" 2>> "$out/chain-pipeline.log" \
    | "$bin/tok-apply" --config "$c1" --db "$chain_db" > "$out/chain-deposits-applied.ndjson" 2>> "$out/chain-pipeline.log"
[[ $(count credited "$out/chain-deposits-applied.ndjson") == "$users" ]] || die "funding deposits: $(statuses "$out/chain-deposits-applied.ndjson")"

declare -A first_statuses
declare -A calls
for round in 1 2; do
    set_name=set$round
    say "round $round: $chain_payouts payout requests signed by the users, through tok-validate | tok-verify --db | tok-apply --db"
    "$py" bench/payouts_chain.py requests "$chain_payouts" --prefix "bench-$set_name" --users "$users" \
        | "$bin/tok-validate" --config "$c1" --payout-message 2>> "$out/chain-pipeline.log" \
        | "$py" bench/payouts_chain.py sign > "$out/$set_name-requests.ndjson"
    "$bin/tok-validate" --config "$c1" < "$out/$set_name-requests.ndjson" 2>> "$out/chain-pipeline.log" \
        | "$bin/tok-verify" --config "$c1" --db "$chain_db" 2>> "$out/chain-pipeline.log" \
        | tee "$out/$set_name-signed.ndjson" \
        | "$bin/tok-apply" --config "$c1" --db "$chain_db" > "$out/$set_name-prepared.ndjson" 2>> "$out/chain-pipeline.log"
    [[ $(count prepared "$out/$set_name-prepared.ndjson") == "$chain_payouts" ]] || die "$set_name prepare: $(statuses "$out/$set_name-prepared.ndjson")"
    python3 - "$out/$set_name-prepared.ndjson" <<'EOF' || die "$set_name: the prepared nonces are not consecutive"
import json, sys
nonces = [json.loads(line)["payout_tx"]["nonce"] for line in open(sys.argv[1])]
sys.exit(0 if nonces == list(range(nonces[0], nonces[0] + len(nonces))) else 1)
EOF

    say "round $round: first broadcast, concurrency 1, nonce order"
    read -r h0 n0 _ <<< "$(node_counts)"
    start=$EPOCHREALTIME
    "$bin/tok-submit" --config "$c1" < "$out/$set_name-prepared.ndjson" > "$out/$set_name-first.ndjson" 2> "$out/$set_name-first.log"
    record_time first_c1 "$(elapsed "$start" "$EPOCHREALTIME")"
    read -r h1 n1 _ <<< "$(node_counts)"
    calls[first_c1]="$((h1 - h0)) $((n1 - n0))"
    first_statuses[$round]=$(statuses "$out/$set_name-first.ndjson")
    say "  statuses: ${first_statuses[$round]}"
    [[ $(( $(count submitted "$out/$set_name-first.ndjson") + $(count confirmed "$out/$set_name-first.ndjson") )) == "$chain_payouts" ]] \
        || die "$set_name first broadcast: ${first_statuses[$round]} (see $out/$set_name-first.ndjson)"
    "$bin/tok-apply" --config "$c1" --db "$chain_db" < "$out/$set_name-first.ndjson" > "$out/$set_name-first-applied.ndjson" 2>> "$out/chain-pipeline.log"
    evm mine 3 > /dev/null   # every payout of the set now has its confirmations

    for c in "${levels[@]}"; do
        say "round $round: reconciliation-style pass, concurrency $c"
        read -r h0 n0 m0 <<< "$(node_counts)"
        start=$EPOCHREALTIME
        "$bin/tok-submit" --config "$out/tok-c$c.toml" < "$out/$set_name-prepared.ndjson" > "$out/$set_name-pass-c$c.ndjson" 2> "$out/$set_name-pass-c$c.log"
        record_time "pass_c$c" "$(elapsed "$start" "$EPOCHREALTIME")"
        read -r h1 n1 m1 <<< "$(node_counts)"
        calls[pass_c$c]="$((h1 - h0)) $((n1 - n0))"
        [[ $c == 1 ]] && calls[pass_c1_node_ms]=$(awk -v a="$m0" -v b="$m1" 'BEGIN { printf "%.0f", b - a }')
        [[ $(count confirmed "$out/$set_name-pass-c$c.ndjson") == "$chain_payouts" ]] \
            || die "$set_name pass at concurrency $c: $(statuses "$out/$set_name-pass-c$c.ndjson")"
    done

    say "round $round: peer, the node alone: one batch of $chain_payouts eth_getTransactionReceipt"
    read -r seconds _ <<< "$("$py" bench/payouts_chain.py receipts --url "$url" "$out/$set_name-prepared.ndjson")"
    record_time peer_receipts "$seconds"
    read -r seconds _ <<< "$("$py" bench/payouts_chain.py receipts --url "$url" --batch-size 10 "$out/$set_name-prepared.ndjson")"
    record_time peer_receipts_b10 "$seconds"

    # What the chain says now goes into the ledger: every payout of the set is paid.
    "$bin/tok-apply" --config "$c1" --db "$chain_db" < "$out/$set_name-pass-c8.ndjson" > "$out/$set_name-committed.ndjson" 2>> "$out/chain-pipeline.log"
    [[ $(count paid "$out/$set_name-committed.ndjson") == "$chain_payouts" ]] || die "$set_name commit: $(statuses "$out/$set_name-committed.ndjson")"
done
open=$("$bin/tok-apply" --config "$c1" --db "$chain_db" --open-payouts 2>> "$out/chain-pipeline.log" | wc -l)
[[ $open == 0 ]] || die "$open payouts are still open in $chain_db"
"$bin/tok-apply" --config "$c1" --db "$chain_db" --check > /dev/null 2>> "$out/chain-pipeline.log" || die "tok-apply --check failed on $chain_db"
operator=$(sed -n 's/^operator = "\(0x[0-9a-fA-F]*\)".*/\1/p' "$config")
sent=$(python3 -c "print(int('$(evm call eth_getTransactionCount "[\"$operator\", \"latest\"]")', 16))")
[[ $sent == $((2 * chain_payouts)) ]] || die "the operator sent $sent transactions on chain, not $((2 * chain_payouts))"

# The generated records have the shape of the real ones (keys and value types at every level).
python3 - "$signed" "$out/set1-signed.ndjson" "$confirmed" "$out/set1-pass-c1.ndjson" <<'EOF' || die "generated records differ in shape from tok-verify's / tok-submit's"
import json, sys
def shape(value, path=""):
    if isinstance(value, dict):
        return {item for key, child in value.items() for item in shape(child, path + "/" + key)} | {(path, "object")}
    return {(path, type(value).__name__)}
def first(path):
    with open(path) as handle: return json.loads(handle.readline())
for generated, real in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    a, b = shape(first(generated)), shape(first(real))
    if a != b:
        sys.exit("%s vs %s: only generated %s, only real %s" % (generated, real, sorted(a - b), sorted(b - a)))
EOF
cleanup
node_pid=""

# ------------------------------------------------------------ results
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
machine="$(nproc) cores, ${cpu:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
versions="$(swift --version 2>/dev/null | head -n 1 | sed 's/ (.*//'), SQLite $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)'), $("$py" -c 'import importlib.metadata as m; print("eth-tester", m.version("eth-tester"), "/ py-evm", m.version("py-evm"))'), $(uname -sr)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }   # a / b
per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
apply_row() { local name=$1 what=$2 command=$3
    echo "| $what | \`$command\` | ${all[$name]} | ${best[$name]} | $(rate "$payouts" "${best[$name]}") |"; }
submit_row() { local name=$1 what=$2 command=$3 outcome=$4 http rpc
    read -r http rpc <<< "${calls[$name]}"
    echo "| $what | \`$command\` | ${all[$name]} | ${best[$name]} | $(rate "$chain_payouts" "${best[$name]}") | $http | $rpc | $outcome |"; }
peer_receipt_rate=$(rate "$chain_payouts" "${best[peer_receipts]}")
read -r pass8_http pass8_calls <<< "${calls[pass_c8]}"
pass8_call_rate=$(rate "$pass8_calls" "${best[pass_c8]}")
read -r pass1_http pass1_calls <<< "${calls[pass_c1]}"
b10_requests=$(( (chain_payouts + 9) / 10 ))
# The node's cost of one more HTTP request: sequential batches of 10 against one batch of all, per extra request.
stall_ms=$(awk -v s="${best[peer_receipts_b10]}" -v one="${best[peer_receipts]}" -v n="$b10_requests" \
    'BEGIN { if (n > 1) printf "%.0f", 1000 * (s - one) / (n - 1); else printf "n/a" }')

section=$(cat <<EOF
## Payouts

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $machine; load average at the start: $load_average (the machine may be shared)
- Software: $versions
- Command: \`BENCH_PAYOUTS=$payouts BENCH_CHAIN_PAYOUTS=$chain_payouts bash bench/payouts.sh\`
- Every measurement ran twice (two rounds); the better time is shown.

### tok-apply: prepare and commit, no chain

$payouts pre-signed payouts (\`bench/gen_payouts.py\`: status signed, attested by verify; then the same payouts confirmed, attested by submit) over the balances of $deposits attested deposits (\`bench/gen_deposits.py --mode attested\`, loaded first, untimed) in a fresh database per run; \`$config\`: synchronous=$synchronous, WAL. Every payout came out prepared, then paid; \`tok-apply --check\` passed on every database.

| Measurement | Command | Rounds, s | Best, s | Records/s |
|---|---|---|---:|---:|
$(apply_row prepare_default "prepare, batches of $batch_default" "$bin/tok-apply --config $config --db $out/apply-default.sqlite < $signed > $out/prepared-default.ndjson")
$(apply_row commit_default "commit, batches of $batch_default" "$bin/tok-apply --config $config --db $out/apply-default.sqlite < $confirmed > $out/paid-default.ndjson")
$(apply_row prepare_b64 "prepare, batches of 64" "$bin/tok-apply --config $config --batch-size 64 --db $out/apply-b64.sqlite < $signed > $out/prepared-b64.ndjson")
$(apply_row commit_b64 "commit, batches of 64" "$bin/tok-apply --config $config --batch-size 64 --db $out/apply-b64.sqlite < $confirmed > $out/paid-b64.ndjson")

Group commit (throughput with batches of $batch_default / with batches of 64): prepare $(ratio "${best[prepare_b64]}" "${best[prepare_default]}"), commit $(ratio "${best[commit_b64]}" "${best[commit_default]}"). Peer: one 4 KiB write + fsync on this disk took $fsync_ms ms (200 in a row, in bench/out), so batches of 64 spend about $(awk -v n="$payouts" -v f="$fsync_ms" 'BEGIN { printf "%.2f", n / 64 * f / 1000 }') s of a run on commit fsyncs, batches of $batch_default about $(awk -v n="$payouts" -v b="$batch_default" -v f="$fsync_ms" 'BEGIN { printf "%.2f", n / b * f / 1000 }') s.

### tok-submit against the local chain

testpeers/evm_node.py (eth-tester + py-evm, auto-mine, no background blocks), $chain_payouts ETH payouts per set, prepared by \`tok-validate | tok-verify --db | tok-apply --db\` from requests that $users users signed; each round prepares its own set. Config: \`$config\` with rpc_batch_size = 10 and rpc_concurrency = C. tok-submit runs without --wait (broadcast, then look once); setN is set1 in round 1, set2 in round 2. HTTP requests and JSON-RPC calls are counted from the node's --log-requests log.

| Measurement | Command | Rounds, s | Best, s | Records/s | HTTP requests | JSON-RPC calls | Outcome |
|---|---|---|---:|---:|---:|---:|---|
$(submit_row first_c1 "(a) first broadcast, C=1, nonce order" "$bin/tok-submit --config $out/tok-c1.toml < $out/setN-prepared.ndjson" "round 1: ${first_statuses[1]}; round 2: ${first_statuses[2]}")
$(for c in "${levels[@]}"; do submit_row "pass_c$c" "(b) reconciliation-style pass, C=$c" "$bin/tok-submit --config $out/tok-c$c.toml < $out/setN-prepared.ndjson" "$chain_payouts confirmed"; done)

| Peer: the node alone (Python http.client, one keep-alive connection) | Rounds, s | Best, s | Receipts/s |
|---|---|---:|---:|
| one batch of $chain_payouts eth_getTransactionReceipt (\`$py bench/payouts_chain.py receipts --url URL $out/setN-prepared.ndjson\`) | ${all[peer_receipts]} | ${best[peer_receipts]} | $peer_receipt_rate |
| $b10_requests sequential batches of 10 (\`… receipts --batch-size 10 …\`) | ${all[peer_receipts_b10]} | ${best[peer_receipts_b10]} | $(rate "$chain_payouts" "${best[peer_receipts_b10]}") |

- The local node serialises all chain access behind one lock; each extra HTTP request on a keep-alive connection cost it about $stall_ms ms beyond its work in this run (its $b10_requests batches of 10 against its one batch). The C=1 pass made $pass1_http requests; the node spent ${calls[pass_c1_node_ms]} ms of that pass's ${best[pass_c1]} s inside its methods (its own timings, summed). C=8 ran $(ratio "${best[pass_c1]}" "${best[pass_c8]}") × as fast as C=1: with no per-request stall left to overlap, more concurrency only queues on the node's lock.
- In the C=1 pass tok-submit made $(per "$pass1_calls" "$chain_payouts") JSON-RPC calls per payout (broadcast, head, sender nonce, receipt, transaction, the receipt's block) and $(per "$pass1_http" "$b10_requests") HTTP requests per 10 payouts. At C=8 it drew $pass8_call_rate calls/s from the node, $(ratio "$pass8_call_rate" "$peer_receipt_rate") × the node's receipts/s in one large batch.
- First broadcasts run at C=1 only: the node refuses a nonce above its next one ("nonce too high", no queue), so at C>1 chunks overtaking earlier ones are refused (tok-submit then rejects those records as retryable rpc_unavailable and the payouts stay prepared). Each first broadcast also mines a block (auto-mine); payouts still short of 3 confirmations at tok-submit's single look come out submitted.
EOF
)

echo "$section"

results=bench/RESULTS.md
printf '%s\n' "$section" | python3 bench/write_section.py "$results" payouts
say "wrote $results"
