#!/usr/bin/env bash
# The tok demo, from a fresh clone: installs what is missing, builds the tools,
# starts a real local EVM chain (eth-tester + py-evm on loopback), makes real
# signed native and ERC-20 deposits, runs them through
#     tok-validate | tok-verify | tok-apply
# and shows the credited balances, a replay that changes nothing, and the
# invariant check. Everything it creates lives in ./run/demo (gitignored).
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
# A demo secret; an operator keeps theirs in a secret store.
export TOK_ATTESTATION_SECRET="demo-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "token $token, receiver $receiver, confirmations 3"

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

say "invariant check and audit trail"
tok-apply --db "$work/state.sqlite" --check 2>/dev/null
sqlite3 -header -column "$work/state.sqlite" "SELECT seq, kind, request_id, substr(hash, 1, 16) AS hash FROM audit"
echo
echo "logs: $work/pipeline.log; database: $work/state.sqlite"
