#!/usr/bin/env python3
"""Generates pre-signed payout records for bench/payouts.sh, deterministically
(apart from the expiry, which is counted from the time of the run).

Two files, COUNT records each, in the same order:
  --signed     payouts as tok-verify writes them: the request fields,
               "validated", status "signed", "payout_tx" and an attestation by
               stage "verify" (tok-apply's prepare input);
  --confirmed  the same payouts as tok-submit writes them once mined at the
               confirmation level: tok-apply's "prepared" output (payout_tx as
               the ledger stores it, so without chain_nonce, and "applied")
               with status "confirmed", a "submission" object and an
               attestation by stage "submit" (tok-apply's commit input).

The payouts spend balances that attested deposits fund: --deposits names a
file written by `gen_deposits.py --mode attested`, and every payout draws on
an (account, token) balance those deposits credit, never more than it holds.
Fees follow the config's [[networks.assets]] rule,
max(fee_fixed + quantity x fee_basis_points / 10000, fee_minimum); quantities
respect minimum_payout. The operator's address (the transactions' sender) and
the chain come from the config's first network; nonces are 0..COUNT-1 in
order and chain_nonce is 0 (nothing broadcast yet when they were signed).

What tok-apply never reads is realistic in shape only: "signature" is 65
random bytes (tok-verify checked the real one; the attestation covers it),
"raw" is random hex of an EIP-1559 transfer's length (prepare records it
verbatim) and "tx" is unique random hex, not its hash.

The attestation is computed as Sources/TokShared/Records/Attestation.swift
does: HMAC-SHA256 under the secret over "tok-attest-v1\\n<stage>\\n<key_id>\\n"
followed by the record without "attestation", keys sorted at every level, no
whitespace (json.dumps(sort_keys=True, separators=(",", ":")) writes the same
bytes as tok's canonical writer for this all-ASCII content).

Standard library only. Usage:
  gen_payouts.py --deposits D.ndjson --signed S.ndjson --confirmed C.ndjson \\
                 [--config examples/tok.toml] [--seed S] COUNT
The secret is read from TOK_ATTESTATION_SECRET (or --secret-env); the key id
is the config's [attestation] key_id unless --key-id is given.
"""

import argparse
import hashlib
import hmac
import json
import os
import random
import sys
import time
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_deposits  # noqa: E402  (the Keccak-256 / EIP-55 helpers and the network constants)

ATTESTATION_VERSION = "tok-attest-v1"
CONFIRMATIONS_BLOCK_START = 100000   # first block number used for the confirmations
PAYOUTS_PER_BLOCK = 8
DESTINATION_POOL = 1000
EXPIRY_SECONDS = 7 * 86400           # tok-validate accepts at most 30 days ahead


def load_config(path):
    with open(path, "rb") as handle:
        config = tomllib.load(handle)
    network = config["networks"][0]
    assets = {}
    for asset in network.get("assets", []):
        assets[asset["token"]] = {
            "asset": asset["asset"],
            "decimals": int(asset["decimals"]),
            "fee_fixed": int(asset.get("fee_fixed", "0")),
            "bps": int(asset.get("fee_basis_points", 0)),
            "fee_minimum": int(asset.get("fee_minimum", "0")),
            "minimum_payout": int(asset.get("minimum_payout", "0")),
        }
    decimals = {token["alias"]: int(token["decimals"]) for token in config.get("tokens", []) if "decimals" in token}
    return {
        "alias": network["alias"],
        "chain": network["chain"],
        "operator": network["operator"],
        "confirmations": int(network.get("confirmations", 1)),
        "key_id": config.get("attestation", {}).get("key_id", ""),
        "assets": assets,
        "decimals": decimals,
    }


def fee_for(asset, quantity):
    return max(asset["fee_fixed"] + quantity * asset["bps"] // 10000, asset["fee_minimum"])


def balances_from(deposits_path):
    """(account, token) -> credited ledger units, from attested deposit records."""
    balances = {}
    with open(deposits_path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            key = (record["validated"]["account"], record["validated"]["token"])
            balances[key] = balances.get(key, 0) + int(record["verified"]["amount"])
    return balances


def attest(record, stage, key_id, secret):
    prefix = ("%s\n%s\n%s\n" % (ATTESTATION_VERSION, stage, key_id)).encode("ascii")
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    mac = hmac.new(secret, prefix + canonical.encode("utf-8"), hashlib.sha256).hexdigest()
    record["attestation"] = {"stage": stage, "key_id": key_id, "mac": mac}


def generate(count, config, balances, seed, key_id, secret, signed_out, confirmed_out):
    rng = random.Random(seed)
    chain = config["chain"]
    sender = config["operator"]
    expires = int(time.time()) + EXPIRY_SECONDS
    destinations = []
    for _ in range(DESTINATION_POOL):
        hex40 = "%040x" % rng.getrandbits(160)
        destinations.append(gen_deposits.eip55(hex40))
    keys = sorted(balances)
    remaining = dict(balances)
    block_hashes = {}
    signed_lines, confirmed_lines = [], []
    for i in range(count):
        token = "ETH" if rng.random() < 0.5 else "TOK"
        asset = config["assets"][token]
        if asset["decimals"] != config["decimals"].get(token, asset["decimals"]):
            raise SystemExit("gen_payouts: %s's ledger decimals differ from the chain's; not supported here" % token)
        # A thousandth of a token at least, and never below the minimum payout or the fixed fee.
        low = max(asset["minimum_payout"], asset["fee_fixed"], 10 ** max(asset["decimals"] - 3, 0))
        quantity = rng.randrange(low, 10 * low)
        fee = fee_for(asset, quantity)
        debit = quantity + fee
        # A funded balance of this token: start anywhere, take the first that covers the debit.
        start = rng.randrange(len(keys))
        for step in range(len(keys)):
            key = keys[(start + step) % len(keys)]
            if key[1] == token and remaining[key] >= debit:
                break
        else:
            raise SystemExit("gen_payouts: the deposits do not fund payout %d (%s); generate more deposits" % (i, token))
        remaining[key] -= debit
        account = key[0]
        address = account.rsplit(":", 1)[1]
        destination = destinations[rng.randrange(DESTINATION_POOL)]
        tx = "0x%056x%08x" % (rng.getrandbits(224), i)
        raw_bytes = 120 if token == "ETH" else 188   # a native transfer, an ERC-20 transfer call
        raw = "0x02f8" + "%0*x" % (2 * (raw_bytes - 2), rng.getrandbits(8 * (raw_bytes - 2)))
        record = {
            "op": "payout",
            "id": "pay-%d" % i,
            "source": {"account": address, "network": config["alias"], "token": token},
            "destination": {"account": destination, "network": config["alias"], "token": token},
            "quantity": str(quantity),
            "max_fee": str(2 * fee),
            "expires": expires,
            "signature": "0x%0130x" % rng.getrandbits(520),
            "validated": {
                "account": account,
                "network": chain,
                "token": token,
                "quantity": str(quantity),
                "fee": str(fee),
                "destination": chain + ":" + destination,
                "destination_network": chain,
                "destination_asset": asset["asset"],
                "destination_amount": str(quantity),
                "expires": expires,
            },
            "status": "signed",
            "payout_tx": {"chain": chain, "tx": tx, "raw": raw, "sender": sender, "nonce": i, "chain_nonce": 0},
        }
        attest(record, "verify", key_id, secret)
        signed_lines.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False))

        # tok-apply's prepared output, then what tok-submit adds to it.
        del record["attestation"]
        del record["payout_tx"]["chain_nonce"]
        record["status"] = "confirmed"
        record["applied"] = {"outcome": "applied", "state": "prepared"}
        block = CONFIRMATIONS_BLOCK_START + i // PAYOUTS_PER_BLOCK
        if block not in block_hashes:
            block_hashes.clear()
            block_hashes[block] = "0x%064x" % rng.getrandbits(256)
        record["submission"] = {
            "block_hash": block_hashes[block],
            "block_number": block,
            "confirmations": config["confirmations"],
            "required_confirmations": config["confirmations"],
            "tx": tx,
        }
        attest(record, "submit", key_id, secret)
        confirmed_lines.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
        if len(signed_lines) == 4096:
            signed_out.write("\n".join(signed_lines) + "\n")
            confirmed_out.write("\n".join(confirmed_lines) + "\n")
            signed_lines.clear()
            confirmed_lines.clear()
    if signed_lines:
        signed_out.write("\n".join(signed_lines) + "\n")
        confirmed_out.write("\n".join(confirmed_lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description="Generate pre-signed payout records for tok's payout benchmark.")
    parser.add_argument("count", type=int, help="number of payouts")
    parser.add_argument("--deposits", required=True, help="attested deposits (gen_deposits.py --mode attested) that fund the payouts")
    parser.add_argument("--signed", required=True, help="output: signed payouts (tok-apply prepare input)")
    parser.add_argument("--confirmed", required=True, help="output: confirmed payouts (tok-apply commit input)")
    parser.add_argument("--config", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "tok.toml"))
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--key-id", default=None, help="attestation key id (default: the config's)")
    parser.add_argument("--secret-env", default="TOK_ATTESTATION_SECRET",
                        help="environment variable holding the attestation secret")
    args = parser.parse_args()
    if args.count < 0:
        parser.error("count must not be negative")
    value = os.environ.get(args.secret_env, "")
    if len(value.encode("utf-8")) < 32:
        parser.error("needs an attestation secret of at least 32 bytes in $%s" % args.secret_env)
    config = load_config(args.config)
    key_id = args.key_id if args.key_id is not None else config["key_id"]
    balances = balances_from(args.deposits)
    if not balances:
        parser.error("%s holds no deposits" % args.deposits)
    with open(args.signed, "w", encoding="utf-8") as signed_out, open(args.confirmed, "w", encoding="utf-8") as confirmed_out:
        generate(args.count, config, balances, args.seed, key_id, value.encode("utf-8"), signed_out, confirmed_out)


if __name__ == "__main__":
    main()
