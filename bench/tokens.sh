#!/usr/bin/env bash
# tok's tokenisation benchmark (a script, not a test; issue 10, item 10).
# Two regtest Dogecoin Core chains of the same shape, BENCH_TOKENS_BLOCKS
# blocks of BENCH_TOKENS_TXS transactions after the same set-up
# (bench/tokens_chain.py generate: seeded, block hashes included):
#   tokens    every transaction one anchored tok message that takes effect:
#             a mint by each of 100 users, then invoices by minters and the
#             buyers' payments of them (quantity x price koinu to the seller's
#             script, one or more blocks later), a new mint now and then;
#   deposits  every transaction a plain payment from a user to the receiver.
# In one run, each through the same pipeline on a fresh ledger:
#   tok-follow --once --db L | tok-verify --db L | tok-apply --db L
# from the first block after the set-up to the tip; the figure is anchored
# messages per second against deposits per second (the peer), same tools,
# same machine, same run. confirmations = 1, so every payment settles and
# every deposit is credited inside the run. Before timing, one untimed pass
# per chain checks that tok-apply gives every message the outcome `applied`
# (and that nothing is left unsettled but the generator's unpaid invoices),
# credits every deposit, connects every block, and that `tok-apply check`
# passes (it also warms the nodes' caches). Each pipeline runs twice,
# alternating; the better time counts. tok-follow alone (to /dev/null, no
# ledger) is timed beside each, to show what reading the chain costs.
# The chains are kept in bench/data and reused when their parameters match
# (generating the default 2 x 300 blocks of 100 transactions takes about 3
# minutes on a 2-core machine).
# Results go to stdout and to the section of bench/RESULTS.md between the
# tokens:begin/tokens:end markers (added before "## Notes" the first time).
#
# Environment:
#   BENCH_TOKENS_BLOCKS     blocks after the set-up, per chain (default 300)
#   BENCH_TOKENS_TXS        transactions per block (default 100)
#   BENCH_TOKENS_SEED       the generator's seed (default 1)
#   TOK_DOGECOIN_DIR        where dogecoind and dogecoin-cli are (default ../shared/tools/dogecoin)
#   TOK_ATTESTATION_SECRET  attestation secret (a bench-only one is used if unset)
#   BENCH_SKIP_BUILD=1      use the release tools already built
# Progress goes to stderr; stdout carries only the results.
set -euo pipefail

cd "$(dirname "$0")/.."
blocks=${BENCH_TOKENS_BLOCKS:-300}
txs=${BENCH_TOKENS_TXS:-100}
seed=${BENCH_TOKENS_SEED:-1}
for value in "$blocks" "$txs" "$seed"; do
    [[ $value =~ ^[1-9][0-9]*$ ]] || { echo "tokens: BENCH_TOKENS_BLOCKS, _TXS and _SEED must be positive integers" >&2; exit 64; }
done
dogecoin_dir=${TOK_DOGECOIN_DIR:-../shared/tools/dogecoin}
[[ -x $dogecoin_dir/dogecoind && -x $dogecoin_dir/dogecoin-cli ]] \
    || { echo "tokens: no dogecoind and dogecoin-cli in $dogecoin_dir (set TOK_DOGECOIN_DIR)" >&2; exit 69; }
bin=.build/release
out=bench/out/tokens
export TOK_ATTESTATION_SECRET=${TOK_ATTESTATION_SECRET:-bench-only-attestation-secret-0123456789abcdef}
export TOK_LOG_LEVEL=warning
mkdir -p "$out"

bench_name=tokens
# shellcheck source=bench/common.sh
source bench/common.sh

build_release_tools

# ------------------------------------------------------------ the nodes, one per chain
user=bench
password=bench-tokens-password
declare -A port node_pid chain_dir
stop_nodes() {
    for kind in "${!node_pid[@]}"; do
        [[ -n ${node_pid[$kind]} ]] || continue
        "$dogecoin_dir/dogecoin-cli" -regtest -rpcport="${port[$kind]}" -rpcuser="$user" -rpcpassword="$password" stop \
            > /dev/null 2>&1 || kill "${node_pid[$kind]}" 2> /dev/null || true
        wait "${node_pid[$kind]}" 2> /dev/null || true
        node_pid[$kind]=
    done
}
trap stop_nodes EXIT
cli() { "$dogecoin_dir/dogecoin-cli" -regtest -rpcport="${port[$1]}" -rpcuser="$user" -rpcpassword="$password" "${@:2}"; }
summary() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "${chain_dir[$1]}/chain.json" "$2"; }

for kind in tokens deposits; do
    chain=bench/data/tokens-chain-$kind-s$seed-b$blocks-t$txs
    chain_dir[$kind]=$chain
    [[ -f $chain/chain.json ]] || rm -rf "$chain/node"
    mkdir -p "$chain/node"
    port[$kind]=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$dogecoin_dir/dogecoind" -regtest -daemon=0 -listen=0 -server -rpcbind=127.0.0.1 -rpcallowip=127.0.0.1 \
        -rpcport="${port[$kind]}" -rpcuser="$user" -rpcpassword="$password" -txindex=1 -acceptnonstdtxn=0 -disablewallet \
        -printtoconsole=0 -datadir="$chain/node" > /dev/null 2>&1 &
    node_pid[$kind]=$!
    for _ in $(seq 1 120); do cli "$kind" getblockcount > /dev/null 2>&1 && break; sleep 0.5; done
    cli "$kind" getblockcount > /dev/null || die "dogecoind ($kind) did not answer on port ${port[$kind]}"
    if [[ ! -f $chain/chain.json ]]; then
        say "generating the $kind chain: $blocks blocks of $txs transactions, seed $seed"
        python3 bench/tokens_chain.py generate --kind "$kind" --url "http://127.0.0.1:${port[$kind]}" --user "$user" \
            --password "$password" --blocks "$blocks" --txs-per-block "$txs" --seed "$seed" --out "$chain.tmp" > /dev/null
        mv "$chain.tmp/chain.json" "$chain/" && rmdir "$chain.tmp"
    else
        say "reusing the $kind chain in $chain"
    fi
    [[ $(cli "$kind" getblockcount) == "$(summary "$kind" tip)" && $(cli "$kind" getbestblockhash) == "$(summary "$kind" tip_hash)" ]] \
        || die "the $kind node's chain is not the one $chain/chain.json describes: delete $chain and run again"
    cat > "$out/$kind.toml" <<EOF
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
rpc_url = "http://127.0.0.1:${port[$kind]}"
rpc_user = "$user"
rpc_password = "$password"
receiver = "$(summary "$kind" receiver)"
confirmations = 1
follow_start_height = $(( $(summary "$kind" setup_tip) + 1 ))
rpc_timeout_milliseconds = 60000

  [[networks.assets]]
  token = "DOGE"
  asset = "bip122:3d2160a3b5dc4a9d62e7e66a295f7031/slip44:3"
  decimals = 8
EOF
    chmod 600 "$out/$kind.toml"   # it holds the node's RPC password
done
tip=$(summary tokens tip)
setup_tip=$(summary tokens setup_tip)
[[ $(summary deposits tip) == "$tip" && $(summary deposits setup_tip) == "$setup_tip" ]] || die "the two chains differ in shape"
timed_blocks=$(( tip - setup_tip ))
messages=$(( $(summary tokens mints) + $(summary tokens invoices) + $(summary tokens payments) ))
deposits=$(summary deposits deposits)

pipeline() {   # kind ledger: the timed pipeline, its output to stdout
    "$bin/tok-follow" --config "$out/$1.toml" --network doge --once --db "$2" \
        | "$bin/tok-verify" --config "$out/$1.toml" --db "$2" \
        | "$bin/tok-apply" --config "$out/$1.toml" --db "$2"
}

# ------------------------------------------------------------ sanity (untimed)
for kind in tokens deposits; do
    say "sanity pass: $kind"
    fresh "$out/sanity-$kind.sqlite"
    pipeline "$kind" "$out/sanity-$kind.sqlite" > "$out/sanity-$kind.ndjson"
    "$bin/tok-apply" check --config "$out/$kind.toml" --db "$out/sanity-$kind.sqlite" > /dev/null \
        || die "tok-apply check failed on the $kind sanity ledger"
done
read -r connected applied not_applied credited < <(python3 - "$out/sanity-tokens.ndjson" "$out/sanity-deposits.ndjson" <<'EOF'
import collections, json, sys
connected, outcomes, credited = 0, collections.Counter(), 0
for path in sys.argv[1:]:
    for line in open(path):
        record = json.loads(line)
        if record.get("status") != "connected":
            continue
        connected += 1
        applied = record.get("applied", {})
        credited += applied.get("credited", 0)
        for anchor in applied.get("anchors", []):
            outcomes[anchor["outcome"] + ":" + anchor.get("reason", "")] += 1
print(connected, outcomes["applied:"], sum(outcomes.values()) - outcomes["applied:"], credited)
if sum(outcomes.values()) != outcomes["applied:"]:
    sys.stderr.write("tokens: outcomes %s\n" % dict(outcomes))
EOF
)
[[ $connected == $(( 2 * timed_blocks )) ]] || die "tok-apply connected $connected blocks of the two chains, not $(( 2 * timed_blocks ))"
[[ $applied == "$messages" && $not_applied == 0 ]] || die "$applied of $messages messages applied, $not_applied not"
[[ $credited == "$deposits" ]] || die "tok-apply credited $credited deposits, the generator made $deposits"
read -r settled unsettled < <(python3 - "$out/sanity-tokens.sqlite" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
rows = dict(db.execute("SELECT state = 'settled', count(*) FROM invoices GROUP BY state = 'settled'").fetchall())
print(rows.get(1, 0), rows.get(0, 0))
EOF
)
[[ $settled == "$(summary tokens payments)" && $unsettled == $(( $(summary tokens invoices) - $(summary tokens payments) )) ]] \
    || die "$settled invoices settled and $unsettled not; the generator paid $(summary tokens payments) of $(summary tokens invoices)"

# ------------------------------------------------------------ timed rounds
for round in 1 2; do
    say "round $round"
    for kind in tokens deposits; do
        # tok-follow alone (no ledger): how much of the pipeline's time is reading the chain.
        start=$(now)
        "$bin/tok-follow" --config "$out/$kind.toml" --network doge --once > /dev/null
        record_time "follow-$kind" "$(elapsed "$start" "$(now)")"
        fresh "$out/ledger-$kind.sqlite"
        start=$(now)
        pipeline "$kind" "$out/ledger-$kind.sqlite" > /dev/null
        record_time "$kind" "$(elapsed "$start" "$(now)")"
        height=$("$bin/tok-apply" chain-status --config "$out/$kind.toml" --db "$out/ledger-$kind.sqlite" \
            | python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["height"])')
        [[ $height == "$tip" ]] || die "the $kind ledger of round $round stopped at height $height, not $tip"
    done
done
stop_nodes

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
tokens_rate=$(rate "$messages" "${best[tokens]}")
deposits_rate=$(rate "$deposits" "${best[deposits]}")
ratio=$(awk -v a="$tokens_rate" -v b="$deposits_rate" 'BEGIN { printf "%.2f", a / b }')
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
machine="$(nproc) cores, ${cpu:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
versions="$(swift --version 2>/dev/null | head -n 1 | sed 's/ (.*//'), $("$dogecoin_dir/dogecoind" -version | head -n 1), Python $(python3 -c 'import platform; print(platform.python_version())'), $(uname -sr)"
command="tok-follow --config C --network doge --once --db L | tok-verify --config C --db L | tok-apply --config C --db L"

section=$(cat <<EOF
## Tokenisation anchors

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $machine; load average at the start: $load_average (the machine may be shared)
- Software: $versions
- Command: \`BENCH_TOKENS_BLOCKS=$blocks BENCH_TOKENS_TXS=$txs BENCH_TOKENS_SEED=$seed bash bench/tokens.sh\`
- Chains: two Dogecoin Core regtest nodes (\`-txindex=1 -acceptnonstdtxn=0\`), each $setup_tip blocks of set-up then $timed_blocks blocks of $txs transactions (seed $seed, \`bench/tokens_chain.py generate\`). Tokens: $messages anchored messages, every one \`applied\`: $(summary tokens mints) mints, $(summary tokens invoices) invoices (buyer named by output 1), $(summary tokens payments) payments of them (the rest left unpaid); tip $(summary tokens tip_hash), generated in $(summary tokens generation_seconds) s. Deposits: $deposits payments to the receiver, one input each, every one credited; tip $(summary deposits tip_hash), generated in $(summary deposits generation_seconds) s.
- Both pipelines: \`$command\` from height $(( setup_tip + 1 )) to $tip on a fresh ledger, \`confirmations = 1\` (each payment settles, each deposit is credited, in its own block), examples/tok.toml's durability (\`synchronous = "full"\`); each ran twice, alternating; the better time is shown. Sanity before timing: every message applied, every paid invoice settled, every deposit credited, every block connected, \`tok-apply check\` passed on both ledgers.

| Chain | Rounds, s | Best, s | Blocks/s | Events/s |
|---|---|---:|---:|---:|
| tokens: $messages anchored messages | ${all[tokens]} | ${best[tokens]} | $(rate "$timed_blocks" "${best[tokens]}") | $tokens_rate messages/s |
| deposits (the peer): $deposits payments to the receiver | ${all[deposits]} | ${best[deposits]} | $(rate "$timed_blocks" "${best[deposits]}") | $deposits_rate deposits/s |
| tok-follow alone on the tokens chain (\`--once > /dev/null\`, no ledger) | ${all[follow-tokens]} | ${best[follow-tokens]} | $(rate "$timed_blocks" "${best[follow-tokens]}") | $(rate "$messages" "${best[follow-tokens]}") messages/s |
| tok-follow alone on the deposits chain | ${all[follow-deposits]} | ${best[follow-deposits]} | $(rate "$timed_blocks" "${best[follow-deposits]}") | $(rate "$deposits" "${best[follow-deposits]}") deposits/s |

| Comparison | Ratio |
|---|---:|
| anchored messages/s ÷ deposits/s, same pipeline, same run | $ratio |
EOF
)

echo "$section"

results=bench/RESULTS.md
printf '%s\n' "$section" | python3 bench/write_section.py "$results" tokens
say "wrote $results"
