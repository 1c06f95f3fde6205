#!/usr/bin/env bash
# Builds, funds, signs and sends the transaction that anchors a tok message on
# Dogecoin, from a Dogecoin Core wallet that holds the party's key, with input
# 0 spending from the party's address (tok takes the actor from input 0;
# tok-protocol(7)). Reads one NDJSON line carrying "anchor" (what
# `tok-validate --anchor-payload` adds to a record or a reference) on stdin and
# prints the transaction id.
#
#   tok-validate --anchor-payload < mint.ndjson | pipelines/anchor.sh --from nOwner...
#   echo '{"op":"anchor","id":"p","payment":{"invoice":"812:3"}}' | tok-validate --anchor-payload |
#     pipelines/anchor.sh --from nBuyer... --pay nSeller...=250000000
#
# Outputs, in order: the OP_RETURN, one output of --named-value to each named
# party (the message's layout needs them right after it), the --pay outputs,
# then change back to --from. Amounts are koinu. The wallet signs every input
# SIGHASH_ALL. createrawtransaction takes one output per address: a named
# party, a payee and the change address must be distinct addresses.
#
# Environment: DOGECOIN_CLI (default dogecoin-cli) and DOGECOIN_CLI_ARGS
# (e.g. "-regtest -rpcport=18444 -rpcuser=u -rpcpassword=p").
# Exit: 0 sent; 64 usage; 65 the input line carries no anchor; 69 the node or
# the wallet refused (its message on stderr).
set -euo pipefail
say() { printf 'anchor.sh: %s\n' "$*" >&2; }
usage() { say "usage: anchor.sh --from ADDRESS [--pay ADDRESS=KOINU]... [--named-value KOINU] [--fee KOINU]"; exit 64; }

from="" named_value=1000000 fee=2000000
pays=()
while [ $# -gt 0 ]; do
    case "$1" in
        --from) from="${2:-}"; shift 2 ;;
        --pay) pays+=("${2:-}"); shift 2 ;;
        --named-value) named_value="${2:-}"; shift 2 ;;
        --fee) fee="${2:-}"; shift 2 ;;
        *) usage ;;
    esac
done
[ -n "$from" ] || usage
for number in "$named_value" "$fee"; do [[ "$number" =~ ^[0-9]+$ ]] || usage; done

cli() { ${DOGECOIN_CLI:-dogecoin-cli} ${DOGECOIN_CLI_ARGS:-} "$@"; }
# koinu -> "D.DDDDDDDD", exactly (never through floating point).
coins() { printf '%d.%08d' "$(( $1 / 100000000 ))" "$(( $1 % 100000000 ))"; }
# The wallet's coins of one address as "txid vout koinu", largest first. The node prints
# amounts as JSON numbers; they are read as decimals (jq would read them as doubles).
coins_of() {
    python3 -c '
import decimal, json, sys
coins = json.load(sys.stdin, parse_float=decimal.Decimal, parse_int=decimal.Decimal)
rows = [(c["txid"], int(c["vout"]), int(decimal.Decimal(c["amount"]) * 100000000)) for c in coins]
for txid, vout, koinu in sorted(rows, key=lambda row: -row[2]):
    print(txid, vout, koinu)'
}

read -r line || { say "no input line"; exit 65; }
data="$(jq -r '.anchor.data // empty' <<<"$line")"
[ -n "$data" ] || { say "the input line carries no anchor (run tok-validate --anchor-payload first): $(jq -c '.error // {}' <<<"$line")"; exit 65; }
mapfile -t named < <(jq -r '.anchor.named_outputs[]?' <<<"$line")

# What the outputs need, in koinu.
needed=$(( fee + named_value * ${#named[@]} ))
outputs="{\"data\":\"$data\""
for address in "${named[@]}"; do outputs+=",\"$address\":$(coins "$named_value")"; done
for pay in "${pays[@]}"; do
    address="${pay%%=*}" amount="${pay#*=}"
    [[ "$amount" =~ ^[0-9]+$ ]] && [ "$address" != "$pay" ] || usage
    needed=$(( needed + amount ))
    outputs+=",\"$address\":$(coins "$amount")"
done

# Input 0 is a confirmed coin of the party, the largest; more of its coins follow until the outputs are covered.
unspent="$(cli listunspent 1 9999999 "[\"$from\"]")" || { say "listunspent failed"; exit 69; }
inputs="" gathered=0
mapfile -t coins < <(coins_of <<<"$unspent")
for coin in "${coins[@]}"; do
    read -r txid vout amount <<<"$coin"
    inputs+="${inputs:+,}{\"txid\":\"$txid\",\"vout\":$vout}"
    gathered=$(( gathered + amount ))
    [ "$gathered" -ge "$needed" ] && break
done
[ "$gathered" -ge "$needed" ] || { say "$from has $(coins "$gathered") DOGE confirmed; the transaction needs $(coins "$needed")"; exit 69; }
change=$(( gathered - needed ))
[ "$change" -gt 0 ] && outputs+=",\"$from\":$(coins "$change")"
outputs+="}"

raw="$(cli createrawtransaction "[$inputs]" "$outputs")" || { say "createrawtransaction refused the outputs"; exit 69; }
signed="$(cli signrawtransaction "$raw")" || { say "signrawtransaction failed"; exit 69; }
[ "$(jq -r '.complete' <<<"$signed")" = "true" ] || { say "the wallet could not sign every input: $(jq -c '.errors // []' <<<"$signed")"; exit 69; }
cli sendrawtransaction "$(jq -r '.hex' <<<"$signed")" || { say "the node refused the transaction"; exit 69; }
