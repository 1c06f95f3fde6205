#!/usr/bin/env python3
"""The chains of tok's tokenisation benchmark (bench/tokens.sh).

    tokens_chain.py generate --kind tokens|deposits --url URL --user U --password P
                             --blocks N --txs-per-block K --seed S --out DIR

On a fresh Dogecoin Core regtest node (no wallet), after a set-up that funds
a pool of users (keys, mocktime and signing as bench/follow_chain.py does,
whose helpers this reuses), N blocks of K transactions each:

  tokens    every transaction carries one anchored tok message (version 0x74)
            that takes effect: first a mint by every user, then invoices by a
            token's minter to another user (buyer named by output 1) and the
            buyers' payments of them one or more blocks later (input 0 the
            buyer, quantity x price koinu to the seller's own script), with a
            new mint now and then. Input 0 always spends the actor's coin.
  deposits  the same number of transactions, each a plain payment from a user
            to the operator's receiver (one input: the sender is proven).

Seeded like follow_chain.py: one seed, one chain, block hashes included.
Writes DIR/chain.json: the receiver, the tip and its hash, what was made
(mints, invoices, payments, deposits). Standard library only; amounts are
integers (koinu).
"""

import argparse
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import follow_chain  # noqa: E402  (its RPC, keys and deterministic mining)
from follow_chain import COIN, FEE, RPC, Key, coins  # noqa: E402
from anchor_messages import envelope_message  # noqa: E402

USERS = 100
FUNDING_COINBASES = 40      # 40 x 25 coins of 20000 DOGE: about 10 per user
NAMED_OUTPUT = COIN         # a named party's output: its value does not matter, 1 DOGE is never dust
INVOICE_BLOCKS = 40         # an invoice's window, [anchor height, anchor height + 40)
SUPPLY = 10**15



def message(action, fields):
    """The envelope and a canonical proto3 payload: fields (number, int | 32 bytes) in ascending order."""
    data = envelope_message(action, fields)
    assert len(data) <= 80
    return data.hex()


class Chain(follow_chain.Generator):
    def __init__(self, rpc, seed, txs_per_block, kind):
        follow_chain.USERS = USERS
        super().__init__(rpc, seed, txs_per_block)
        self.kind = kind
        self.coins = {u: [] for u in range(USERS)}   # confirmed coins per owner: [(txid, vout, koinu)]
        self.tokens = []                              # (height, index, minter)
        self.unpaid = []                              # invoices mined, not yet paid: (height, index, seller, buyer, owed, expiry)
        self.counts = {"transactions": 0, "mints": 0, "invoices": 0, "payments": 0, "deposits": 0, "expired_invoices": 0}

    def set_up(self):
        follow_chain.FUNDING_COINBASES = FUNDING_COINBASES
        super().set_up()
        for txid, vout, koinu, owner in self.pool:
            self.coins[owner].append((txid, vout, koinu))
        self.pool = []

    def take(self, owner, need):
        """The owner's first confirmed coin worth at least `need` koinu, or None."""
        for index, coin in enumerate(self.coins[owner]):
            if coin[2] >= need:
                return self.coins[owner].pop(index)
        return None

    def hash32(self):
        return self.random.getrandbits(256).to_bytes(32, "big")

    def build(self, actor, need, data, payees):
        """One transaction: input 0 a coin of `actor`, outputs the anchor (if any), then `payees`
        [(owner index | address, koinu)] in order, then the actor's change. None if the actor has no such coin."""
        coin = self.take(actor, need + FEE + COIN)
        if coin is None:
            return None
        members, created = ([] if data is None else ['"data":"%s"' % data]), []
        left = coin[2] - FEE
        for payee, koinu in payees:
            address = payee if isinstance(payee, str) else self.users[payee].address
            members.append('"%s":%s' % (address, coins(koinu)))
            if not isinstance(payee, str):
                created.append((len(members) - 1, koinu, payee))
            left -= koinu
        if left >= COIN:
            members.append('"%s":%s' % (self.users[actor].address, coins(left)))
            created.append((len(members) - 1, left, actor))
        return [(coin[0], coin[1])], "{" + ",".join(members) + "}", [self.users[actor]], created

    def choose(self, height, busy):
        """The next transaction of the block being built at `height`: (kind, tx, memo) or None."""
        if self.kind == "deposits":
            actor = self.random.randrange(USERS)
            amount = self.random.randint(1, 50) * COIN + self.random.randrange(COIN)
            return "deposits", self.build(actor, amount, None, [(self.receiver.address, amount)]), None
        unminted = [u for u in range(USERS) if u not in {t[2] for t in self.tokens} and u not in busy]
        if unminted and len(self.tokens) < USERS:
            actor = unminted[0]
        elif self.unpaid and self.random.random() < 0.55:
            invoice = self.unpaid[0]
            _, _, seller, buyer, owed, expiry = invoice
            if expiry <= height:   # too late: let it expire
                self.unpaid.pop(0)
                self.counts["expired_invoices"] += 1
                return None
            tx = self.build(buyer, owed, message(5, [(1, invoice[0]), (2, invoice[1])]), [(seller, owed)])
            if tx is not None:
                self.unpaid.pop(0)
            return "payments", tx, None
        elif not self.tokens or self.random.random() < 0.04:
            actor = self.random.randrange(USERS)
        else:
            token = self.tokens[self.random.randrange(len(self.tokens))]
            seller = token[2]
            buyer = self.random.choice([u for u in range(USERS) if u != seller])
            quantity = self.random.randint(100, 10_000)
            price = self.random.randint(1, 100) * COIN // quantity + 1   # owed: about 1 to 100 DOGE
            expiry = height + INVOICE_BLOCKS
            data = message(4, [(1, token[0]), (2, token[1]), (3, quantity), (4, price), (5, expiry), (6, self.hash32())])
            return "invoices", self.build(seller, NAMED_OUTPUT, data, [(buyer, NAMED_OUTPUT)]), \
                (seller, buyer, quantity * price, expiry)
        data = message(1, [(1, self.hash32()), (2, SUPPLY)])
        return "mints", self.build(actor, 0, data, []), actor

    def block(self):
        height = self.rpc.call("getblockcount") + 1
        built, busy = [], set()
        attempts = 0
        while len(built) < self.txs_per_block and attempts < 4 * self.txs_per_block:
            attempts += 1
            chosen = self.choose(height, busy)
            if chosen is None or chosen[1] is None:
                continue
            kind, tx, memo = chosen
            built.append((kind, tx, memo))
            if kind == "mints":
                busy.add(memo)   # one mint per user
        if not built:
            raise SystemExit("tokens_chain: no user has a coin left")
        txids = self.send([tx[:3] for _, tx, _ in built])
        self.mine(self.miner.address)
        positions = {t: i for i, t in enumerate(self.rpc.call("getblock", '["%s",true]' % self.rpc.call("getbestblockhash"))["tx"])}
        for txid, (kind, tx, memo) in zip(txids, built):
            for vout, koinu, owner in tx[3]:
                self.coins[owner].append((txid, vout, koinu))
            self.counts[kind] += 1
            if kind == "mints":
                self.tokens.append((height, positions[txid], memo))
            elif kind == "invoices":
                seller, buyer, owed, expiry = memo
                self.unpaid.append((height, positions[txid], seller, buyer, owed, expiry))
        self.counts["transactions"] += len(txids)
        return len(txids)


def generate(args):
    rpc = RPC(args.url, args.user, args.password)
    if rpc.call("getblockcount") != 0:
        raise SystemExit("tokens_chain: generate needs a fresh regtest node (height 0)")
    started = time.monotonic()
    chain = Chain(rpc, args.seed, args.txs_per_block, args.kind)
    chain.set_up()
    setup_tip = rpc.call("getblockcount")
    short = 0
    for number in range(args.blocks):
        if chain.block() < args.txs_per_block:
            short += 1
        if (number + 1) % 100 == 0:
            sys.stderr.write("tokens_chain: %s: %d of %d blocks, %.0f s\n" % (args.kind, number + 1, args.blocks,
                                                                             time.monotonic() - started))
    os.makedirs(args.out, exist_ok=True)
    summary = dict(chain.counts, kind=args.kind, receiver=chain.receiver.address, setup_tip=setup_tip,
                   tip=rpc.call("getblockcount"), tip_hash=rpc.call("getbestblockhash"), seed=args.seed,
                   txs_per_block=args.txs_per_block, short_blocks=short, unpaid_invoices=len(chain.unpaid),
                   generation_seconds=round(time.monotonic() - started, 1))
    with open(os.path.join(args.out, "chain.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    print(json.dumps(summary))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    command = sub.add_parser("generate")
    command.add_argument("--kind", choices=("tokens", "deposits"), required=True)
    command.add_argument("--url", required=True)
    command.add_argument("--user", required=True)
    command.add_argument("--password", required=True)
    command.add_argument("--blocks", type=int, default=300)
    command.add_argument("--txs-per-block", type=int, default=100)
    command.add_argument("--seed", type=int, default=1)
    command.add_argument("--out", required=True)
    args = parser.parse_args()
    if not (1 <= args.blocks <= 100_000 and 1 <= args.txs_per_block <= 1000):
        raise SystemExit("tokens_chain: --blocks 1..100000, --txs-per-block 1..1000")
    generate(args)


if __name__ == "__main__":
    main()
