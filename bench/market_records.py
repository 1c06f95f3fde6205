#!/usr/bin/env python3
"""Block records for tok's market benchmark (bench/market.sh), as tok-follow
writes them after reading Dogecoin blocks, attested by it (stage "follow").

    market_records.py book   --offers N [--per-block K] [--seed S]
    market_records.py orders --after H --count M [--per-block K] [--seed S]
    market_records.py deposits --after H --count M [--per-block K] [--seed S]

book: height 1 mints one token (supply 10^15, actor the seller); heights 2..
carry K sell offers each by the seller (1000 units each, unit prices drawn
from [10^6, 10^8] koinu, expiring at height 2,000,000,000): N offers in all.
The book of N offers is the first 1 + N/K blocks of the same stream, so one
run of tok-apply builds every size and is copied at each.

orders: M crossing buy offers, K per block, continuing the chain after height
H of the book stream: each by one of 1000 buyers, 1 unit at a maximum of 10^8
koinu, so each fills 1 unit of the best resting sell offer (lowest price,
then earliest) and makes one match.

deposits: the same number of plain payments to the receiver in the same
number of blocks after height H (one input, so the sender is proven): the
peer, through the same tool on the same ledger.

Every block's hash is derived from (seed, branch, height), its previous hash
from the block before, so these records extend each other exactly as
tok-apply checks. The attestation is Attestation.swift's: HMAC-SHA256 under
$TOK_ATTESTATION_SECRET over "tok-attest-v1\\nfollow\\n<key_id>\\n" and the
record without "attestation", keys sorted, no whitespace. Standard library only.
"""

import argparse
import hashlib
import hmac
import json
import os
import random
import sys

from anchor_messages import base58check, envelope_message

CHAIN = "bip122:3d2160a3b5dc4a9d62e7e66a295f7031"   # Dogecoin regtest
ASSET = CHAIN + "/slip44:3"
SUPPLY = 10**15
OFFER_QUANTITY = 1000
LOW_PRICE, HIGH_PRICE = 10**6, 10**8
EXPIRY = 2_000_000_000
BUYERS = 1000
START_TIME = 1_700_000_000



def address(seed, name):
    """A regtest P2PKH address (version 111) of a made-up key hash, and its script: no signature is ever checked
    downstream of tok-follow, which proved the actor from the spent output."""
    key_hash = hashlib.sha256(b"tok-bench-market:%d:%s" % (seed, name.encode())).digest()[:20]
    return base58check(bytes([111]) + key_hash), "76a914" + key_hash.hex() + "88ac"


def block_hash(seed, branch, height):
    return hashlib.sha256(b"tok-bench-market-block:%d:%s:%d" % (seed, branch.encode(), height)).hexdigest()



def anchor_script(action, fields):
    """OP_RETURN <push of the envelope and the canonical payload>: fields (number, int | 32 bytes), ascending."""
    data = envelope_message(action, fields)
    assert len(data) <= 75, "a direct push"
    return "6a" + "%02x" % len(data) + data.hex()


class Writer:
    def __init__(self, seed, out):
        self.seed, self.out = seed, out
        self.random = random.Random(seed)
        self.key_id = os.environ.get("TOK_ATTESTATION_KEY_ID", "bench")
        secret = os.environ.get("TOK_ATTESTATION_SECRET", "").encode()
        if len(secret) < 32:
            raise SystemExit("market_records: TOK_ATTESTATION_SECRET must hold at least 32 bytes")
        self.secret = secret
        self.prefix = b"tok-attest-v1\nfollow\n" + self.key_id.encode() + b"\n"

    def txid(self):
        return "%064x" % self.random.getrandbits(256)

    def block(self, branch, height, previous, payments=(), anchors=()):
        digest = block_hash(self.seed, branch, height)
        record = {"op": "block", "id": "block:%s:%d:%s" % (CHAIN, height, digest), "status": "observed",
                  "block": {"network": CHAIN, "height": height, "hash": digest, "previous_hash": previous,
                            "time": START_TIME + 60 * height, "payments": list(payments), "spends": [],
                            "anchors": list(anchors)}}
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":"))
        mac = hmac.new(self.secret, self.prefix + canonical.encode(), hashlib.sha256).hexdigest()
        record["attestation"] = {"stage": "follow", "key_id": self.key_id, "mac": mac}
        self.out.write(json.dumps(record, separators=(",", ":")) + "\n")
        return digest

    def anchor(self, position, actor, script, change_script):
        return {"tx": self.txid(), "position": position, "output": 0, "actor": actor, "sighash_all": True,
                "outputs": [{"script": script, "value": "0"}, {"script": change_script, "value": "100000000000"}]}


def book_height(offers, per_block):
    """The height of the book stream's block after which `offers` sell offers rest."""
    return 1 + -(-offers // per_block)


def book(args, writer):
    seller, seller_script = address(args.seed, "seller")
    mint = anchor_script(1, [(1, hashlib.sha256(b"mint").digest()), (2, SUPPLY)])
    previous = writer.block("book", 1, "00" * 32, anchors=[writer.anchor(1, seller, mint, seller_script)])
    written, height = 0, 1
    while written < args.offers:
        height += 1
        anchors = []
        for position in range(1, min(args.per_block, args.offers - written) + 1):
            price = writer.random.randint(LOW_PRICE, HIGH_PRICE)
            script = anchor_script(3, [(1, 1), (2, 1), (3, OFFER_QUANTITY), (4, price), (5, EXPIRY),
                                       (6, writer.random.getrandbits(256).to_bytes(32, "big"))])
            anchors.append(writer.anchor(position, seller, script, seller_script))
        written += len(anchors)
        previous = writer.block("book", height, previous, anchors=anchors)


def continuation(args, writer):
    """orders or deposits after height --after of the book stream."""
    buyers = [address(args.seed, "buyer-%d" % i) for i in range(BUYERS)]
    receiver, receiver_script = address(args.seed, "receiver")
    previous = block_hash(args.seed, "book", args.after)
    height, written = args.after, 0
    while written < args.count:
        height += 1
        events = []
        for position in range(1, min(args.per_block, args.count - written) + 1):
            buyer, buyer_script = buyers[writer.random.randrange(BUYERS)]
            if args.command == "orders":
                script = anchor_script(2, [(1, 1), (2, 1), (3, 1), (4, HIGH_PRICE), (5, EXPIRY),
                                           (6, writer.random.getrandbits(256).to_bytes(32, "big"))])
                events.append(writer.anchor(position, buyer, script, buyer_script))
            else:
                amount = writer.random.randint(1, 50) * 10**8 + writer.random.randrange(10**8)
                events.append({"tx": writer.txid(), "asset": ASSET, "amount": str(amount),
                               "outputs": [{"vout": 0, "value": str(amount)}], "sender": buyer})
        written += len(events)
        if args.command == "orders":
            previous = writer.block(args.command, height, previous, anchors=events)
        else:
            previous = writer.block(args.command, height, previous, payments=events)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("book", "orders", "deposits", "receiver", "height"):
        command = sub.add_parser(name)
        command.add_argument("--per-block", type=int, default=1000)
        command.add_argument("--seed", type=int, default=1)
    sub.choices["book"].add_argument("--offers", type=int, required=True)
    sub.choices["height"].add_argument("--offers", type=int, required=True)
    for name in ("orders", "deposits"):
        sub.choices[name].add_argument("--after", type=int, required=True)
        sub.choices[name].add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    if not 1 <= args.per_block <= 2000:
        raise SystemExit("market_records: --per-block 1..2000 (FollowedBlock.maxEventsPerKind)")
    if args.command == "receiver":
        print(address(args.seed, "receiver")[0])
    elif args.command == "height":
        print(book_height(args.offers, args.per_block))
    else:
        writer = Writer(args.seed, sys.stdout)
        book(args, writer) if args.command == "book" else continuation(args, writer)


if __name__ == "__main__":
    main()
