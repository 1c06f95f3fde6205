#!/usr/bin/env bash
# The tok demo, from a fresh clone: installs what is missing, builds the tools,
# starts a real local EVM chain (eth-tester + py-evm on loopback), makes real
# signed native and ERC-20 deposits, runs them through
#     tok-validate | tok-verify | tok-apply
# shows the credited balances and a replay that changes nothing, then pays out
# (native and ERC-20) and runs a transfer through
#     tok-validate | tok-verify | tok-apply | tok-submit | tok-apply
# showing on-chain and tok balances before and after, reconciliation, the
# audit trail and the invariant check. Everything it creates lives in
# ./run/demo (gitignored).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf '\n== %s\n' "$*"; }

bash scripts/setup.sh
say "building tok (release)"
swift build -c release >&2
bin="$root/.build/release"
export PATH="$bin:$PATH"

work="$root/run/demo"
rm -rf "$work"
mkdir -p "$work"
node_pid=""
cleanup() { [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null || true; }
trap cleanup EXIT

say "starting the local EVM chain"
.venv-peers/bin/python testpeers/evm_node.py --port 0 --port-file "$work/evm.port" 2>"$work/evm.log" &
node_pid=$!
url="$(python3 testpeers/evmctl.py wait-ready "$work/evm.port" 60)"
evm() { python3 testpeers/evmctl.py --url "$url" -r "$@"; }
echo "chain at $url, chain id $(evm call eth_chainId)"

receiver=0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528     # funded account #10: the operator
alice=0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf        # funded account #1
bob=0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF          # funded account #2

say "deploying an ERC-20 (TOK) and writing the operator config"
token="$(evm deploy-token 0 "Tok Token" TOK 18 1000000000000000000000000 | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')"
evm transfer-token "$token" 0 "$bob" 1000000000000000000000 >/dev/null
sed -e "s#http://127.0.0.1:8545#$url#" -e "s#0x1000000000000000000000000000000000000001#$token#" \
    examples/tok.toml > "$work/tok.toml"
export TOK_CONFIG="$work/tok.toml"
# The operator's key (funded account #10 of the test chain); only tok-verify reads it.
export TOK_OPERATOR_KEY_EVM_LOCAL=0x000000000000000000000000000000000000000000000000000000000000000a
# A demo secret; an operator keeps theirs in a secret store.
export TOK_ATTESTATION_SECRET="demo-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "token $token, receiver $receiver, confirmations 3"

# A chain that keeps producing blocks (every 300 ms), so payouts gain confirmations.
evm call tokdev_setBlockInterval '[300]' >/dev/null

say "users deposit on chain: alice sends 1.5 ETH, bob sends 250 TOK"
tx_eth="$(evm send-eth 0 "$receiver" 1500000000000000000)"
tx_tok="$(evm transfer-token "$token" 1 "$receiver" 250000000000000000000)"
echo "alice's tx $tx_eth"
echo "bob's tx   $tx_tok"
evm mine 3 >/dev/null
echo "mined 3 more blocks (head $(evm call eth_blockNumber))"

cat > "$work/requests.ndjson" <<EOF
{"op":"deposit","id":"alice-1","source":{"account":"$alice","network":"evm-local","token":"ETH"},"deposit":{"tx":"$tx_eth"}}
{"op":"deposit","id":"bob-1","source":{"account":"eip155:131277322940537:$bob","token":"TOK"},"deposit":{"tx":"$tx_tok"}}
{"op":"deposit","id":"mallory-1","source":{"account":"$bob","network":"evm-local","token":"ETH"},"deposit":{"tx":"$tx_eth"}}
this line is not JSON
EOF
say "the requests (one is mallory claiming alice's payment, one is garbage)"
cat "$work/requests.ndjson"

say "tok-validate | tok-verify | tok-apply"
tok-validate < "$work/requests.ndjson" 2>"$work/pipeline.log" \
    | tok-verify 2>>"$work/pipeline.log" \
    | tok-apply --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | tee "$work/outcomes.ndjson" \
    | jq -c '{id, status, amount: .verified.amount, error: .error.code, line: .error.line}'

say "balances"
tok-apply --db "$work/state.sqlite" 2>/dev/null <<EOF | jq -c '.balance'
{"op":"balance","id":"q1","source":{"account":"$alice","network":"evm-local","token":"ETH"}}
{"op":"balance","id":"q2","source":{"account":"$bob","network":"evm-local","token":"TOK"}}
EOF

say "replaying the same request file: nothing changes"
tok-validate < "$work/requests.ndjson" 2>/dev/null | tok-verify 2>/dev/null \
    | tok-apply --db "$work/state.sqlite" 2>/dev/null | jq -c 'select(.op == "deposit") | {id, status, first: .applied.first_request}'

say "status polling"
echo '{"op":"status","id":"alice-1"}' | tok-apply --db "$work/state.sqlite" 2>/dev/null | jq -c .request

# ---------------------------------------------------------------- payouts
carol="$(evm call tokdev_newAccount | jq -r .address)"   # fresh, empty addresses
dave="$(evm call tokdev_newAccount | jq -r .address)"
frank="$(evm call tokdev_newAccount | jq -r .address)"
erin=0x6813Eb9362372EEF6200f3b1dbC3f819671cBA69         # funded account #3
expires=$(( $(date +%s) + 3600 ))

# A user authorises a payout by signing tok's canonical message (EIP-191
# personal_sign, as MetaMask does): tok-validate --payout-message prints it.
sign_request() {   # $1 request JSON without signature, $2 signer's account index on the test chain
    local message signature
    message="$(printf '%s\n' "$1" | tok-validate --payout-message 2>/dev/null | jq -r .authorisation_message)"
    signature="$(evm call tokdev_personalSign "$(jq -cn --arg m "$message" --argjson f "$2" '[{from: $f, message: $m}]')")"
    printf '%s\n' "$1" | jq -c --arg s "$signature" '. + {signature: $s}'
}
payout_json() {   # id op from to token quantity max_fee [deposit tx]
    jq -cn --arg id "$1" --arg op "$2" --arg from "$3" --arg to "$4" --arg token "$5" --arg q "$6" --arg fee "$7" \
        --arg tx "${8:-}" --argjson expires "$expires" \
        '{op: $op, id: $id, source: {account: $from, network: "evm-local", token: $token},
          destination: {account: $to, network: "evm-local", token: $token},
          quantity: $q, max_fee: $fee, expires: $expires}
         + (if $tx == "" then {} else {deposit: {tx: $tx}} end)'
}

say "payout requests: alice pays 0.5 ETH to carol, bob pays 100 TOK to dave"
sign_request "$(payout_json alice-pay-1 payout "$alice" "$carol" ETH 500000000000000000 1000000000000000)" 0 > "$work/payouts.ndjson"
sign_request "$(payout_json bob-pay-1 payout "$bob" "$dave" TOK 100000000000000000000 2000000000000000000)" 1 >> "$work/payouts.ndjson"
say "and a transfer: erin deposits 2 ETH and in the same request pays 1.5 ETH to frank"
tx_erin="$(evm send-eth 2 "$receiver" 2000000000000000000)"
sign_request "$(payout_json erin-transfer-1 transfer "$erin" "$frank" ETH 1500000000000000000 2000000000000000 "$tx_erin")" 2 >> "$work/payouts.ndjson"
jq -c '{op, id, quantity, to: .destination.account, signature: (.signature[0:18] + "…")}' "$work/payouts.ndjson"

show_chain() {
    printf '  on chain: carol %s wei, dave %s TOK base units, frank %s wei\n' \
        "$(python3 -c "print(int('$(evm balance "$carol")', 16))")" \
        "$(python3 -c "print(int('$(evm token-balance "$token" "$dave")', 16))")" \
        "$(python3 -c "print(int('$(evm balance "$frank")', 16))")"
}
show_tok() {
    for query in "$alice ETH" "$bob TOK" "$erin ETH"; do
        set -- $query
        jq -cn --arg a "$1" --arg t "$2" '{op: "balance", id: "q", source: {account: $a, network: "evm-local", token: $t}}'
    done | tok-apply --db "$work/state.sqlite" 2>/dev/null \
         | jq -r '"  tok: \(.balance.account[-42:]) \(.balance.token) available \(.balance.available) locked \(.balance.locked)"'
}
say "before"
show_chain
show_tok

say "tok-validate | tok-verify | tok-apply | tok-submit --wait | tok-apply"
tok-validate < "$work/payouts.ndjson" 2>>"$work/pipeline.log" \
    | tok-verify --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | tok-apply --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | tok-submit --wait --poll-milliseconds 500 --wait-timeout-milliseconds 60000 2>>"$work/pipeline.log" \
    | tok-apply --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | jq -c '{id, status, destination_tx: .payout_tx.tx, block: .submission.block_number, error: .error.code}'

say "after (fees: ETH 0.0001 + 0.1 %, TOK 1 per payout)"
show_chain
show_tok
echo '{"op":"status","id":"alice-pay-1"}' | tok-apply --db "$work/state.sqlite" 2>/dev/null \
    | jq -c '.request | {id, state, payout: (.payout | {destination_tx, quantity, fee, confirmations})}'

say "reconciliation (cron): nothing left between prepare and commit"
bash pipelines/reconcile.sh "$work/state.sqlite" 2>/dev/null | jq -c '{id, status}'
echo "  open payouts: $(sqlite3 "$work/state.sqlite" "SELECT count(*) FROM payouts WHERE state IN ('prepared','submitted')")"

say "invariant check and audit trail"
tok-apply --db "$work/state.sqlite" --check 2>/dev/null
sqlite3 -header -column "$work/state.sqlite" "SELECT seq, kind, request_id, substr(hash, 1, 16) AS hash FROM audit"
echo
echo "logs: $work/pipeline.log; database: $work/state.sqlite"
