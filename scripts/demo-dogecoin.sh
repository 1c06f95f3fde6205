# The Dogecoin part of the demo (sourced by scripts/demo.sh, which provides
# say, $work, $root and the tools on PATH): a real dogecoind on regtest with
# mainnet's standardness rules, followed by tok-follow; an automatic deposit,
# a token minted, an invoice paid and settled, two users trading on the
# market, and the ledger's tip, state hash and invariants.
dogecoin_dir="${TOK_DOGECOIN_DIR:-$root/../shared/tools/dogecoin}"
if [ ! -x "$dogecoin_dir/dogecoind" ]; then
    say "Dogecoin: skipped (no dogecoind in $dogecoin_dir; set TOK_DOGECOIN_DIR)"
    return 0
fi

say "starting dogecoind on regtest (mainnet's standardness rules: -acceptnonstdtxn=0)"
doge_dir="$work/dogecoin"
mkdir -p "$doge_dir"
doge_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DOGE_RPC_PASSWORD="demo-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export DOGECOIN_CLI="$dogecoin_dir/dogecoin-cli"
export DOGECOIN_CLI_ARGS="-regtest -rpcport=$doge_port -rpcuser=tok -rpcpassword=$DOGE_RPC_PASSWORD"
doge() { "$DOGECOIN_CLI" $DOGECOIN_CLI_ARGS "$@"; }
"$dogecoin_dir/dogecoind" -regtest -daemon=0 -server -listen=0 -rpcbind=127.0.0.1 -rpcallowip=127.0.0.1 \
    -rpcport="$doge_port" -rpcuser=tok -rpcpassword="$DOGE_RPC_PASSWORD" -txindex=1 -acceptnonstdtxn=0 \
    -printtoconsole=0 -datadir="$doge_dir" >/dev/null 2>&1 &
doge_pid=$!
for _ in $(seq 300); do doge getblockcount >/dev/null 2>&1 && break; sleep 0.1; done
miner="$(doge getnewaddress)"
doge generatetoaddress 70 "$miner" >/dev/null
# Pays $2 koinu to $1 spending one confirmed coin of each further address; change to the first.
pay() {
    local destination="$1" amount="$2" inputs="" total=0 txid vout koinu raw
    shift 2
    for source in "$@"; do
        read -r txid vout koinu < <(doge listunspent 1 9999999 "[\"$source\"]" | python3 -c '
import decimal, json, sys
coin = json.load(sys.stdin, parse_float=decimal.Decimal)[0]
print(coin["txid"], coin["vout"], int(coin["amount"] * 100000000))')
        inputs+="${inputs:+,}{\"txid\":\"$txid\",\"vout\":$vout}"
        total=$(( total + koinu ))
    done
    local change=$(( total - amount - 1000000 ))
    raw="$(doge createrawtransaction "[$inputs]" "{\"$destination\":$(( amount / 100000000 )).$(printf %08d $(( amount % 100000000 ))),\"$1\":$(( change / 100000000 )).$(printf %08d $(( change % 100000000 )))}")"
    doge sendrawtransaction "$(doge signrawtransaction "$raw" | jq -r .hex)"
}
owner="$(doge getnewaddress)" buyer="$(doge getnewaddress)" trader="$(doge getnewaddress)" doge_receiver="$(doge getnewaddress)"
# Each party gets a coin of its own from the miner (the wallet's own coin choice would spend the parties' coins).
for party in "$owner" "$buyer" "$trader" "$owner" "$buyer" "$trader"; do pay "$party" 100000000000 "$miner" >/dev/null; done
doge generatetoaddress 1 "$miner" >/dev/null
doge_chain=bip122:3d2160a3b5dc4a9d62e7e66a295f7031
cat > "$work/doge.toml" <<TOML
[[tokens]]
alias = "DOGE"
decimals = 8

[[networks]]
alias = "doge"
chain = "$doge_chain"
rpc_url = "http://127.0.0.1:$doge_port"
rpc_user = "tok"
rpc_password_env = "DOGE_RPC_PASSWORD"
receiver = "$doge_receiver"
confirmations = 2
follow_start_height = $(( $(doge getblockcount) + 1 ))

  [[networks.assets]]
  token = "DOGE"
  asset = "$doge_chain/slip44:3"
  decimals = 8
TOML
dtok() { TOK_CONFIG="$work/doge.toml" "$@"; }
ddb="$work/doge.sqlite"
# Mines blocks and takes them: tok-follow | tok-verify | tok-apply; the anchors' outcomes.
follow() {
    doge generatetoaddress "${1:-1}" "$miner" >/dev/null
    dtok tok-follow --network doge --db "$ddb" 2>>"$work/doge.log" | dtok tok-verify --db "$ddb" 2>>"$work/doge.log" \
        | dtok tok-apply --db "$ddb" 2>>"$work/doge.log" > "$work/doge-last.ndjson"
}
query() { printf '%s\n' "$1" | dtok tok-apply --db "$ddb" 2>/dev/null; }
# A record signed by its author with the node's own signmessage, stored, and anchored from the author's wallet.
publish() {   # $1 record JSON, $2 author; prints the anchoring txid
    local hash signed
    hash="$(jq -cn --argjson r "$1" '{op: "record", id: "r", record: $r}' | dtok tok-validate --anchor-payload 2>/dev/null | jq -r .anchor.record_hash)"
    signed="$(jq -cn --argjson r "$1" --arg s "$(doge signmessage "$2" "$hash")" --arg id "rec-${hash:0:12}" \
        '{op: "record", id: $id, record: $r, signature: $s}')"
    printf '%s\n' "$signed" | dtok tok-validate 2>/dev/null | dtok tok-apply --db "$ddb" >/dev/null 2>&1
    printf '%s\n' "$signed" | dtok tok-validate --anchor-payload 2>/dev/null | pipelines/anchor.sh --from "$2"
}
position_of() { jq -r --arg tx "$1" 'select(.block) | .block as $b | $b.anchors[]? | select(.tx == $tx) | "\($b.height):\(.position)"' "$work/doge-last.ndjson"; }
token_balance() { query "{\"op\":\"token_balance\",\"id\":\"b\",\"network\":\"doge\",\"token\":\"$1\",\"address\":\"$2\"}" | jq -c .token_balance; }
height() { doge getblockcount; }


balance() { query "{\"op\":\"balance\",\"id\":\"q\",\"source\":{\"account\":\"$1\",\"network\":\"doge\",\"token\":\"DOGE\"}}" | jq -c .balance; }

say "automatic deposits: the buyer pays 25 DOGE to the receiver, no request; credited at the level to the address its inputs prove"
pay "$doge_receiver" 2500000000 "$buyer" >/dev/null
follow 2
balance "$buyer"
say "a payment from two addresses at once proves no sender: recorded as unattributed, and the operator resolves it"
mixed_tx="$(pay "$doge_receiver" 3000000000 "$owner" "$trader")"
follow 2
query '{"op":"unattributed","id":"u"}' | jq -c '.unattributed[] | {tx: .tx[0:16], amount, reason}'
dtok tok-apply resolve-unattributed --db "$ddb" --network doge --tx "$mixed_tx" --account "$doge_chain:$trader" 2>/dev/null
balance "$trader"

say "a token: the owner mints 1000 (a signed record; its OP_RETURN anchor spends input 0 from the owner)"
record="$(jq -cn --arg c "$doge_chain" --arg o "$owner" --argjson e $(( $(height) + 100 )) \
    '{tok: 1, type: "mint", chain: $c, owner: $o, expiry_height: $e, supply: "1000", title: "Demo token"}')"
mint_tx="$(publish "$record" "$owner")"
follow
token="$(position_of "$mint_tx")"
query "{\"op\":\"token\",\"id\":\"t\",\"network\":\"doge\",\"token\":\"$token\"}" | jq -c '.token | {token, owner, supply, title: .record.title}'

say "an invoice: the owner sells 10 to the buyer at 2 DOGE each; the buyer pays 20 DOGE; it settles at the level"
record="$(jq -cn --arg c "$doge_chain" --arg s "$owner" --arg b "$buyer" --arg t "$token" --argjson e $(( $(height) + 30 )) \
    '{tok: 1, type: "invoice", chain: $c, seller: $s, buyer: $b, token: $t, quantity: "10", unit_price_koinu: "200000000", expiry_height: $e}')"
invoice_tx="$(publish "$record" "$owner")"
follow
invoice="$(position_of "$invoice_tx")"
printf '{"op":"anchor","id":"p","payment":{"invoice":"%s"}}\n' "$invoice" | dtok tok-validate --anchor-payload 2>/dev/null \
    | pipelines/anchor.sh --from "$buyer" --pay "$owner=2000000000" >/dev/null
follow 2
query "{\"op\":\"invoice\",\"id\":\"i\",\"network\":\"doge\",\"invoice\":\"$invoice\"}" | jq -c '.invoice | {state, owed_koinu, paid_koinu}'

say "the market: the owner offers 20 at 1 DOGE; a trader bids for 20 at up to 1.5 DOGE; matched at the resting 1 DOGE"
record="$(jq -cn --arg c "$doge_chain" --arg s "$owner" --arg t "$token" --argjson e $(( $(height) + 40 )) \
    '{tok: 1, type: "sell_offer", chain: $c, seller: $s, token: $t, quantity: "20", unit_price_koinu: "100000000", expiry_height: $e}')"
sell_tx="$(publish "$record" "$owner")"
follow
sell="$(position_of "$sell_tx")"
query "{\"op\":\"order_book\",\"id\":\"o\",\"network\":\"doge\",\"token\":\"$token\"}" | jq -c '.order_book | {sells: [.sells[] | {offer, remaining, unit_price_koinu}]}'
record="$(jq -cn --arg c "$doge_chain" --arg b "$trader" --arg t "$token" --argjson e $(( $(height) + 40 )) \
    '{tok: 1, type: "buy_offer", chain: $c, buyer: $b, token: $t, quantity: "20", max_unit_price_koinu: "150000000", expiry_height: $e}')"
buy_tx="$(publish "$record" "$trader")"
follow
buy="$(position_of "$buy_tx")"
match="{\"op\":\"match\",\"id\":\"m\",\"network\":\"doge\",\"sell_offer\":\"$sell\",\"buy_offer\":\"$buy\"}"
query "$match" | jq -c '.match | {state, quantity, unit_price_koinu, owed_koinu, payee, window_end}'
owed="$(query "$match" | jq -r .match.owed_koinu)"
printf '{"op":"anchor","id":"p","payment":{"sell_offer":"%s","buy_offer":"%s"}}\n' "$sell" "$buy" \
    | dtok tok-validate --anchor-payload 2>/dev/null | pipelines/anchor.sh --from "$trader" --pay "$owner=$owed" >/dev/null
follow 2
query "$match" | jq -c '.match | {state, settled_height}'
for who in owner buyer trader; do printf '%-7s ' "$who"; token_balance "$token" "${!who}"; done

say "the Dogecoin ledger: tip, state hash, invariants"
dtok tok-apply chain-status --db "$ddb" 2>/dev/null
dtok tok-apply check --db "$ddb" 2>/dev/null
