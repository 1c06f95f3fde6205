#!/usr/bin/env bash
# The tok demo, from a fresh clone: installs what is missing, builds the tools,
# starts a real local EVM chain (eth-tester + py-evm on loopback), makes real
# signed native and ERC-20 deposits, runs them through
#     tok-validate | tok-verify | tok-apply
# shows the credited balances and a replay that changes nothing, then pays out
# (native and ERC-20) and runs a transfer through
#     tok-validate | tok-verify | tok-apply | tok-submit | tok-apply
# showing on-chain and tok balances before and after, and reconciliation.
# Then the Bitcoin family: a real litecoind on regtest, a liquidity deposit
# that funds the operator's coin pool, cross-chain transfers of one token (LTC:
# wrapped as an 18-decimal ERC-20 on the EVM chain, native on regtest) in both
# directions, the regtest side authorised with the node's own signmessage, and
# amounts with no exact 8-decimal equivalent refused. Then Dogecoin
# (scripts/demo-dogecoin.sh): a real dogecoind on regtest followed by
# tok-follow, an automatic deposit, a token minted, an invoice paid and
# settled, two users trading on the market. It ends with the audit trail and
# the invariant check. Everything it creates lives in ./run/demo (gitignored);
# every node is stopped on exit.
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
ltc_pid=""
doge_pid=""
cleanup() {
    if [ -n "$doge_pid" ]; then
        doge stop >/dev/null 2>&1 || kill "$doge_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$doge_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$doge_pid" 2>/dev/null || true
    fi
    if [ -n "$ltc_pid" ]; then
        ltc stop >/dev/null 2>&1 || kill "$ltc_pid" 2>/dev/null || true
        # litecoind flushes its databases on the way down: give it a bounded while.
        for _ in $(seq 100); do kill -0 "$ltc_pid" 2>/dev/null || break; sleep 0.1; done
        kill "$ltc_pid" 2>/dev/null || true
    fi
    [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null || true
}
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

# ------------------------------------------------- the Bitcoin family
say "starting litecoind on regtest (a real Bitcoin-family node)"
ltc_dir="$work/litecoin"
mkdir -p "$ltc_dir"
ltc_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export LTC_RPC_PASSWORD="demo-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ltc() { litecoin-cli -regtest -datadir="$ltc_dir" -rpcport="$ltc_port" -rpcuser=tok -rpcpassword="$LTC_RPC_PASSWORD" "$@"; }
# /usr/lib/litecoin/litecoind itself: Debian's /usr/bin/litecoind wrapper writes ~/.litecoin.
/usr/lib/litecoin/litecoind -regtest -daemon=0 -server=1 -listen=0 -rpcbind=127.0.0.1 -rpcallowip=127.0.0.1 \
    -rpcport="$ltc_port" -rpcuser=tok -rpcpassword="$LTC_RPC_PASSWORD" -txindex=1 -fallbackfee=0.0001 \
    -printtoconsole=0 -datadir="$ltc_dir" >/dev/null 2>&1 &
ltc_pid=$!
for _ in $(seq 600); do                      # bounded wait (60 s) for the RPC server
    ltc getblockchaininfo >/dev/null 2>&1 && break
    kill -0 "$ltc_pid" 2>/dev/null || { echo "litecoind exited" >&2; exit 69; }
    sleep 0.1
done
ltc getblockchaininfo >/dev/null
ltc createwallet demo >/dev/null
miner="$(ltc getnewaddress "" legacy)"
ltc_mine() { ltc generatetoaddress "$1" "$miner" >/dev/null; }
ltc_mine 110                                  # coinbase outputs mature after 100 blocks
ltc_chain=bip122:530827f38f93b43ed12af0b3ad25a288
echo "litecoind at 127.0.0.1:$ltc_port, chain $ltc_chain, height $(ltc getblockcount)"

# The operator's key (the same as on the EVM chain) and its legacy P2PKH address on regtest.
p2pkh_address() {   # $1 private key (hex), $2 version byte -> the compressed key's P2PKH address
    python3 - "$1" "$2" <<'PY'
import hashlib, sys
P = 2**256 - 2**32 - 977
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)
def add(a, b):
    if a is None: return b
    if b is None: return a
    if a[0] == b[0] and (a[1] + b[1]) % P == 0: return None
    if a == b: s = 3 * a[0] * a[0] * pow(2 * a[1], -1, P) % P
    else: s = (b[1] - a[1]) * pow(b[0] - a[0], -1, P) % P
    x = (s * s - a[0] - b[0]) % P
    return (x, (s * (a[0] - x) - a[1]) % P)
def mul(k, point):
    result = None
    while k:
        if k & 1: result = add(result, point)
        point, k = add(point, point), k >> 1
    return result
x, y = mul(int(sys.argv[1], 16), G)
pub = bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
payload = bytes([int(sys.argv[2])]) + hashlib.new("ripemd160", hashlib.sha256(pub).digest()).digest()
payload += hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
digits, n = "", int.from_bytes(payload, "big")
while n:
    n, r = divmod(n, 58)
    digits = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"[r] + digits
print("1" * (len(payload) - len(payload.lstrip(b"\0"))) + digits)
PY
}
export TOK_OPERATOR_KEY_LTC_REGTEST="$TOK_OPERATOR_KEY_EVM_LOCAL"
ltc_operator="$(p2pkh_address "$TOK_OPERATOR_KEY_LTC_REGTEST" 111)"   # 111: the regtest P2PKH version byte
[ "$(ltc validateaddress "$ltc_operator" | jq .isvalid)" = true ]

say "adding LTC to the config: wrapped LTC (an 18-decimal ERC-20) on evm-local, native on ltc-regtest"
wltc="$(evm deploy-token 0 "Wrapped Litecoin" WLTC 18 1000000000000000000000 | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')"
cat >> "$work/tok.toml" <<CONFIG

  # (added by the demo) LTC on the EVM chain: a wrapped 18-decimal ERC-20
  [[networks.assets]]
  token = "LTC"
  asset = "eip155:131277322940537/erc20:$wltc"
  decimals = 18
  payout = true
  fee_fixed = "10000"                    # ledger units: 0.0001 LTC

[[tokens]]
alias = "LTC"
symbol = "LTC"
name = "Litecoin"
decimals = 8                             # the ledger counts litoshi

[[networks]]
alias = "ltc-regtest"
chain = "$ltc_chain"
rpc_url = "http://127.0.0.1:$ltc_port/"
rpc_user = "tok"
rpc_password_env = "LTC_RPC_PASSWORD"
receiver = "$ltc_operator"               # on bip122 the operator pays from the receiver's coins
operator = "$ltc_operator"
operator_key_env = "TOK_OPERATOR_KEY_LTC_REGTEST"
confirmations = 3

  [[networks.assets]]
  token = "LTC"
  asset = "$ltc_chain/slip44:2"
  decimals = 8
  payout = true
  fee_fixed = "10000"                    # 0.0001 LTC
  failure_fee = "5000"
CONFIG
echo "wLTC $wltc on evm-local (alice holds the supply)"
echo "operator = receiver on regtest: $ltc_operator (key 0x…0a, as on evm-local)"

# Pays $3 LTC to $2 spending only coins of $1, change back to $1 (what a user's
# wallet does; tok credits a deposit to the address every input spends from).
ltc_pay_from() {
    local plan raw
    plan="$(ltc listunspent 1 9999999 "[\"$1\"]" | python3 -c '
import json, sys
from decimal import Decimal
source, destination, amount = sys.argv[1], sys.argv[2], Decimal(sys.argv[3])
coins = json.load(sys.stdin, parse_float=Decimal)
change = sum(coin["amount"] for coin in coins) - amount - Decimal("0.0001")
assert change >= 0, "not enough coins at " + source
outputs = {destination: str(amount)}
if change > 0: outputs[source] = str(change)
print(json.dumps([[{"txid": c["txid"], "vout": c["vout"]} for c in coins], outputs]))' "$1" "$2" "$3")"
    raw="$(ltc createrawtransaction "$(jq -c '.[0]' <<<"$plan")" "$(jq -c '.[1]' <<<"$plan")")"
    ltc sendrawtransaction "$(ltc signrawtransactionwithwallet "$raw" | jq -r .hex)"
}
show_pool() {
    sqlite3 -column -header "$work/state.sqlite" \
        "SELECT substr(tx, 1, 12) || '…:' || vout AS coin, value AS litoshi, state, origin, request_id FROM utxos ORDER BY request_id, vout"
}
ltc_balance() {   # $1 account, $2 network
    jq -cn --arg a "$1" --arg n "$2" '{op: "balance", id: "q", source: {account: $a, network: $n, token: "LTC"}}' \
        | tok-apply --db "$work/state.sqlite" 2>/dev/null \
        | jq -r '"  tok: \(.balance.account) LTC available \(.balance.available) locked \(.balance.locked) (litoshi)"'
}
transfer_json() {   # id from from_network to to_network quantity max_fee deposit_tx (amounts in the source asset's units)
    jq -cn --arg id "$1" --arg from "$2" --arg fnet "$3" --arg to "$4" --arg tnet "$5" --arg q "$6" --arg fee "$7" \
        --arg tx "$8" --argjson expires "$expires" \
        '{op: "transfer", id: $id, source: {account: $from, network: $fnet, token: "LTC"},
          destination: {account: $to, network: $tnet, token: "LTC"},
          quantity: $q, max_fee: $fee, expires: $expires, deposit: {tx: $tx}}'
}

say "(a) liquidity: a provider deposits 5 LTC to the operator on regtest, funding its coin pool"
provider="$(ltc getnewaddress "" legacy)"
ltc sendtoaddress "$provider" 10 >/dev/null
ltc_mine 1
tx_pool="$(ltc_pay_from "$provider" "$ltc_operator" 5)"
ltc_mine 3
echo "provider $provider paid 5 LTC in $tx_pool"
jq -cn --arg a "$provider" --arg tx "$tx_pool" \
    '{op: "deposit", id: "ltc-liquidity-1", source: {account: $a, network: "ltc-regtest", token: "LTC"}, deposit: {tx: $tx}}' \
    | tok-validate 2>>"$work/pipeline.log" | tok-verify 2>>"$work/pipeline.log" \
    | tok-apply --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | jq -c '{id, status, amount: .verified.amount, error: .error.code}'
ltc_balance "$provider" ltc-regtest
echo "the operator's coin pool on regtest (table utxos of the ledger):"
show_pool

say "(b) EVM -> regtest: alice deposits 1.5001 wLTC (1.5 + the 0.0001 fee) and is paid 1.5 LTC on regtest"
ltc_carol="$(ltc getnewaddress "" legacy)"
tx_wltc="$(evm transfer-token "$wltc" 0 "$receiver" 1500100000000000000)"
evm mine 3 >/dev/null
echo "alice's wLTC deposit $tx_wltc"
echo "destination on regtest $ltc_carol"
sign_request "$(transfer_json x-evm-ltc "$alice" evm-local "$ltc_carol" ltc-regtest 1500000000000000000 100000000000000 "$tx_wltc")" 0 \
    > "$work/transfer-evm-ltc.ndjson"
tok-validate < "$work/transfer-evm-ltc.ndjson" 2>>"$work/pipeline.log" \
    | tok-verify --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | tok-apply --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | tok-submit 2>>"$work/pipeline.log" \
    | tok-apply --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | tee "$work/transfer-evm-ltc.out" \
    | jq -c '{id, status, deposited: .verified.amount, pays_litoshi: .validated.destination_amount, regtest_tx: .payout_tx.tx, error: .error.code}'
jq -r 'select(.payout_tx.inputs) | .payout_tx as $p | ([$p.inputs[].value | tonumber] | add) as $in
       | ($p.change.value // "0" | tonumber) as $change
       | "  it spends \($p.inputs | length) pool coin(s) of \($in) litoshi: \(.validated.destination_amount) to carol, change \($change), network fee \($in - (.validated.destination_amount | tonumber) - $change)"' \
    "$work/transfer-evm-ltc.out"
ltc_mine 3
echo "mined 3 regtest blocks; reconciliation (pipelines/reconcile.sh) commits it:"
bash pipelines/reconcile.sh "$work/state.sqlite" 2>>"$work/pipeline.log" | jq -c '{id, status}'
echo "  on regtest: carol received $(ltc getreceivedbyaddress "$ltc_carol" 1) LTC"
ltc_balance "$alice" evm-local

say "(c) regtest -> EVM: dave deposits 0.8001 LTC on regtest and is paid 0.8 wLTC on the EVM chain"
ltc_dave="$(ltc getnewaddress "" legacy)"
evm_frank="$(evm call tokdev_newAccount | jq -r .address)"
ltc sendtoaddress "$ltc_dave" 2 >/dev/null
ltc_mine 1
tx_dave="$(ltc_pay_from "$ltc_dave" "$ltc_operator" 0.8001)"
ltc_mine 3
echo "dave's regtest deposit $tx_dave"
echo "destination on evm-local $evm_frank"
# dave authorises with his node's signmessage ("Litecoin Signed Message:\n" + tok's canonical text).
unsigned="$(transfer_json x-ltc-evm "$ltc_dave" ltc-regtest "$evm_frank" evm-local 80000000 10000 "$tx_dave")"
message="$(printf '%s\n' "$unsigned" | tok-validate --payout-message 2>/dev/null | jq -r .authorisation_message)"
signature="$(ltc signmessage "$ltc_dave" "$message")"
printf '%s\n' "$unsigned" | jq -c --arg s "$signature" '. + {signature: $s}' > "$work/transfer-ltc-evm.ndjson"
echo "litecoin-cli signmessage: ${signature:0:24}…"
tok-validate < "$work/transfer-ltc-evm.ndjson" 2>>"$work/pipeline.log" \
    | tok-verify --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | tok-apply --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | tok-submit --wait --poll-milliseconds 500 --wait-timeout-milliseconds 60000 2>>"$work/pipeline.log" \
    | tok-apply --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | jq -c '{id, status, deposited: .verified.amount, pays_wei: .validated.destination_amount, evm_tx: .payout_tx.tx, error: .error.code}'
echo "  on chain: frank holds $(python3 -c "print(int('$(evm token-balance "$wltc" "$evm_frank")', 16))") wLTC base units (18 decimals)"
ltc_balance "$ltc_dave" ltc-regtest
echo "the pool now: (b)'s change is spendable since its payout confirmed, and dave's deposit joined it:"
show_pool

say "(d) amounts with no exact 8-decimal equivalent are refused before anything is credited or locked"
tx_odd="$(evm transfer-token "$wltc" 0 "$receiver" 1000000000000000001)"
tx_even="$(evm transfer-token "$wltc" 0 "$receiver" 1000100000000000000)"
evm mine 3 >/dev/null
{
    jq -cn --arg a "$alice" --arg tx "$tx_odd" \
        '{op: "deposit", id: "odd-deposit", source: {account: $a, network: "evm-local", token: "LTC"}, deposit: {tx: $tx}}'
    sign_request "$(transfer_json odd-quantity "$alice" evm-local "$ltc_carol" ltc-regtest 500000000000000005 100000000000000 "$tx_even")" 0
} > "$work/inexact.ndjson"
echo "a deposit of 1.000000000000000001 wLTC, and a transfer of 0.500000000000000005 LTC to regtest:"
tok-validate < "$work/inexact.ndjson" 2>>"$work/pipeline.log" \
    | tok-verify --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | tok-apply --db "$work/state.sqlite" 2>>"$work/pipeline.log" \
    | jq -c '{id, status, error: .error.code, stage: .error.stage}'
ltc_balance "$alice" evm-local

# ------------------------------------------------------------- Dogecoin
source "$root/scripts/demo-dogecoin.sh"

say "invariant check and audit trail"
tok-apply --db "$work/state.sqlite" --check 2>/dev/null
sqlite3 -header -column "$work/state.sqlite" "SELECT seq, kind, request_id, substr(hash, 1, 16) AS hash FROM audit"
echo
echo "logs: $work/pipeline.log; database: $work/state.sqlite"
