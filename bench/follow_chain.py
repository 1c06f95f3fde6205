#!/usr/bin/env python3
"""The chain of tok's follower benchmark (bench/follow.sh), and its peer.

    follow_chain.py generate --url URL --user U --password P --blocks N --txs-per-block K --seed S --out DIR
    follow_chain.py plan --url URL --user U --password P --out DIR
    follow_chain.py peer --url URL --user U --password P --plan DIR/plan.ndjson [--transport quickack|http.client]

generate: on a fresh Dogecoin Core regtest node (no wallet needed), builds a
chain of N blocks of K transactions each after a short set-up (coinbases to
mature, then funding a pool of coins), from a seeded generator: keys derived
from the seed, every choice drawn from random.Random(seed), block times set
with setmocktime. Transactions spend coins of earlier blocks and are signed
with signrawtransaction and explicit keys (Core signs deterministically,
RFC 6979), so one seed gives the same chain, block hashes included. Kinds:
payments between users (most), payments to the operator's receiver (about
6 %; a tenth of all transactions have two inputs, usually of two owners, so
some of those prove no sender), and tokenisation anchors (about 3 %: an
OP_RETURN carrying a valid envelope from tok's golden vectors). Writes
DIR/chain.json: the receiver, the tip and its hash, what was made.

plan: DIR/plan.ndjson from the node's own decoding of the chain (getblock
<hash> 2): per block, its transaction count, its interesting transactions
(paying the receiver or carrying an anchor) and the txids their inputs spend.

peer: the minimal client tok-follow is measured against. One keep-alive HTTP
connection (a raw socket acknowledging at once, see QuickAckRPC; or
http.client with --transport http.client), the same JSON-RPC calls in the
same batches as tok-follow makes them (UTXOBlockFollower / UTXOBlockSource):
per group of --batch-blocks heights one getblockhash batch, getblock <hash>
false in batches of 7, then getrawtransaction <txid> false in batches of 50
for the txids the group's interesting transactions spend (each once, none
of the group's interesting transactions themselves). It parses every answer
(json) and nothing more: the node's own cost.

Standard library only. Amounts are integers (koinu) written as 8-decimal text.
"""

import argparse
import base64
import decimal
import hashlib
import http.client
import json
import os
import random
import socket
import sys
import time
import urllib.parse

from anchor_messages import base58check

COIN = 100_000_000
FEE = COIN // 100  # 0.01 DOGE per transaction (and per extra input): far above the relay minimum
USERS = 64
SETUP_BLOCKS = 110  # coinbase maturity is 60 on regtest: the first 50 are spendable after these
FUNDING_COINBASES = 20
FUNDING_OUTPUTS = 25
START_TIME = 1_700_000_000
BLOCKS_PER_REQUEST = 7  # UTXOBlockSource.maxBlocksPerBatch
TXIDS_PER_REQUEST = 50  # UTXOBlockSource.maxTransactionsPerBatch
BLOCK_SECONDS = 60
VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TokSharedTests", "Fixtures",
                       "protocol-vectors.json")

# ----------------------------------------------------------------- JSON-RPC


class RPC:
    """JSON-RPC over one keep-alive HTTP connection; params are JSON text."""

    def __init__(self, url, user, password):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        self.next_id = 1

    def post(self, body):
        self.connection.request("POST", "/", body=body, headers={
            "Authorization": self.auth, "Content-Type": "application/json", "Connection": "keep-alive"})
        response = self.connection.getresponse()
        data = response.read()
        return json.loads(data, parse_float=decimal.Decimal)

    def batch(self, calls):
        """calls: [(method, params JSON text)] -> results in order; an error answer raises."""
        first = self.next_id
        self.next_id += len(calls)
        body = "[" + ",".join('{"jsonrpc":"1.0","id":%d,"method":"%s","params":%s}' % (first + i, m, p)
                              for i, (m, p) in enumerate(calls)) + "]"
        answers = {a["id"]: a for a in self.post(body)}
        results = []
        for i, (method, params) in enumerate(calls):
            answer = answers.get(first + i)
            if answer is None or answer.get("error"):
                raise SystemExit(f"follow_chain: {method} {params[:200]}: {answer and answer.get('error')}")
            results.append(answer["result"])
        return results

    def call(self, method, params="[]"):
        return self.batch([(method, params)])[0]


class QuickAckRPC(RPC):
    """The same calls over a raw keep-alive socket that acknowledges at once.

    Core's RPC server (libevent) does not set TCP_NODELAY, so on a kept-alive
    connection an answer it writes in two parts (headers, then a body of more
    than a few KB) waits for the client's ACK of the first part, which Linux
    delays by 40 ms. TCP_QUICKACK (re-armed before every read: the kernel
    clears it) acknowledges at once: what is left is the node's own time."""

    def __init__(self, url, user, password):
        super().__init__(url, user, password)
        self.socket = socket.create_connection((self.host, self.port), timeout=120)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def receive(self):
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        data = self.socket.recv(1 << 20)
        if not data:
            raise SystemExit("follow_chain: the node closed the connection")
        self.pending += data

    def post(self, body):
        payload = body.encode()
        self.socket.sendall(b"POST / HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: application/json\r\n"
                            b"Content-Length: %d\r\n\r\n" % (self.host.encode(), self.auth.encode(), len(payload)) + payload)
        while b"\r\n\r\n" not in self.pending:
            self.receive()
        head, self.pending = self.pending.split(b"\r\n\r\n", 1)
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise SystemExit("follow_chain: an answer without Content-Length")
        while len(self.pending) < length:
            self.receive()
        data, self.pending = self.pending[:length], self.pending[length:]
        return json.loads(data, parse_float=decimal.Decimal)


# ----------------------------------------------------------------- keys and addresses (secp256k1, base58check)

P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def point_add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P == 0:
        return None
    if a == b:
        slope = 3 * a[0] * a[0] * pow(2 * a[1], -1, P) % P
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, P) % P
    x = (slope * slope - a[0] - b[0]) % P
    return x, (slope * (a[0] - x) - a[1]) % P


def point_multiply(k):
    result, addend = None, G
    while k:
        if k & 1:
            result = point_add(result, addend)
        addend = point_add(addend, addend)
        k >>= 1
    return result




class Key:
    """A compressed key of the regtest chain: WIF prefix 0xef, P2PKH version 111."""

    def __init__(self, seed, index):
        digest = hashlib.sha256(b"tok-bench-follow:%d:%d" % (seed, index)).digest()
        self.secret = int.from_bytes(digest, "big") % (N - 1) + 1
        x, y = point_multiply(self.secret)
        public = bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
        try:
            hash160 = hashlib.new("ripemd160", hashlib.sha256(public).digest()).digest()
        except ValueError:
            raise SystemExit("follow_chain: this Python's hashlib has no ripemd160 (OpenSSL legacy provider)")
        self.address = base58check(bytes([111]) + hash160)
        self.wif = base58check(bytes([0xEF]) + self.secret.to_bytes(32, "big") + b"\x01")


def coins(koinu):
    return "%d.%08d" % divmod(koinu, COIN)


# ----------------------------------------------------------------- generation


class Generator:
    def __init__(self, rpc, seed, txs_per_block):
        self.rpc, self.txs_per_block = rpc, txs_per_block
        self.random = random.Random(seed)
        self.miner = Key(seed, 0)
        self.receiver = Key(seed, 1)
        self.users = [Key(seed, 2 + i) for i in range(USERS)]
        with open(VECTORS, encoding="utf-8") as handle:
            self.anchors = [v["data_hex"] for v in json.load(handle)["valid"] if len(v["data_hex"]) <= 160]
        self.pool = []  # confirmed coins: (txid, vout, koinu, owner index)
        self.counts = {"transactions": 0, "receiver_payments": 0, "anchors": 0, "two_input": 0}

    def mine(self, target):
        height = self.rpc.call("getblockcount") + 1
        self.rpc.call("setmocktime", "[%d]" % (START_TIME + height * BLOCK_SECONDS))
        self.rpc.call("generatetoaddress", '[1,"%s"]' % target)
        if self.rpc.call("getmempoolinfo")["size"] != 0:
            raise SystemExit(f"follow_chain: block {height} left transactions in the mempool")
        return height

    def send(self, transactions):
        """[(inputs [(txid, vout)], outputs JSON text, keys [Key])] -> txids, in three batches."""
        raws = self.rpc.batch([("createrawtransaction", "[%s,%s]" % (
            json.dumps([{"txid": t, "vout": v} for t, v in inputs]), outputs)) for inputs, outputs, _ in transactions])
        signed = self.rpc.batch([("signrawtransaction", '["%s",[],%s]' % (raw, json.dumps(sorted({k.wif for k in keys}))))
                                 for raw, (_, _, keys) in zip(raws, transactions)])
        for answer in signed:
            if not answer.get("complete"):
                raise SystemExit(f"follow_chain: signing failed: {answer}")
        return self.rpc.batch([("sendrawtransaction", '["%s"]' % s["hex"]) for s in signed])

    def set_up(self):
        for _ in range(SETUP_BLOCKS):
            self.mine(self.miner.address)
        hashes = self.rpc.batch([("getblockhash", "[%d]" % h) for h in range(1, FUNDING_COINBASES + 1)])
        blocks = self.rpc.batch([("getblock", '["%s",true]' % h) for h in hashes])
        reward = 500_000 * COIN
        funding = []
        for number, block in enumerate(blocks):
            owners = [(number * FUNDING_OUTPUTS + j) % USERS for j in range(FUNDING_OUTPUTS)]
            # 24 outputs of 20000 DOGE and one of 19999.9: 0.1 DOGE of fee.
            values = [20_000 * COIN] * (FUNDING_OUTPUTS - 1) + [reward - (FUNDING_OUTPUTS - 1) * 20_000 * COIN - COIN // 10]
            outputs = "{" + ",".join('"%s":%s' % (self.users[o].address, coins(v)) for o, v in zip(owners, values)) + "}"
            funding.append(([(block["tx"][0], 0)], outputs, [self.miner], owners, values))
        txids = self.send([(i, o, k) for i, o, k, _, _ in funding])
        self.mine(self.miner.address)
        for txid, (_, _, _, owners, values) in zip(txids, funding):
            self.pool += [(txid, vout, value, owner) for vout, (owner, value) in enumerate(zip(owners, values))]
        self.counts["transactions"] += len(txids)

    def take(self):
        """A random coin of the pool worth at least 1 DOGE (smaller ones are left unspent), or None."""
        while self.pool:
            index = self.random.randrange(len(self.pool))
            self.pool[index], self.pool[-1] = self.pool[-1], self.pool[index]
            coin = self.pool.pop()
            if coin[2] >= COIN:
                return coin
        return None

    def transaction(self):
        """One transaction of a block: (inputs, outputs text, keys, new coins [(vout, koinu, owner)])."""
        spent = [self.take()]
        if spent[0] is None:
            return None
        if self.random.random() < 0.10:
            second = self.take()
            if second is not None:
                spent.append(second)
                self.counts["two_input"] += 1
        owner = spent[0][3]
        available = sum(c[2] for c in spent) - FEE * len(spent)
        kind = self.random.random()
        members, created = [], []
        if kind < 0.03:
            members.append('"data":"%s"' % self.anchors[self.random.randrange(len(self.anchors))])
            self.counts["anchors"] += 1
            pay_to = None
        elif kind < 0.09:
            pay_to = "receiver"
            self.counts["receiver_payments"] += 1
        else:
            pay_to = self.random.choice([u for u in range(USERS) if u != owner])
        if pay_to is not None:
            amount = min(self.random.randint(1, 50) * COIN + self.random.randrange(COIN), available // 2)
            if available - amount < COIN:  # a small coin: all of it goes
                amount = available
            address = self.receiver.address if pay_to == "receiver" else self.users[pay_to].address
            members.append('"%s":%s' % (address, coins(amount)))
            if pay_to != "receiver":
                created.append((len(members) - 1, amount, pay_to))
            available -= amount
        if available > 0:
            members.append('"%s":%s' % (self.users[owner].address, coins(available)))
            created.append((len(members) - 1, available, owner))
        keys = [self.users[c[3]] for c in spent]
        return [(c[0], c[1]) for c in spent], "{" + ",".join(members) + "}", keys, created

    def block(self):
        built = [t for t in (self.transaction() for _ in range(self.txs_per_block)) if t is not None]
        if not built:
            raise SystemExit("follow_chain: the pool has no coin of 1 DOGE or more left")
        txids = self.send([(inputs, outputs, keys) for inputs, outputs, keys, _ in built])
        self.mine(self.miner.address)
        for txid, (_, _, _, created) in zip(txids, built):
            self.pool += [(txid, vout, koinu, owner) for vout, koinu, owner in created]
        self.counts["transactions"] += len(txids)


def generate(args):
    rpc = RPC(args.url, args.user, args.password)
    if rpc.call("getblockcount") != 0:
        raise SystemExit("follow_chain: generate needs a fresh regtest node (height 0)")
    started = time.monotonic()
    generator = Generator(rpc, args.seed, args.txs_per_block)
    generator.set_up()
    for number in range(args.blocks):
        generator.block()
        if (number + 1) % 250 == 0:
            sys.stderr.write("follow_chain: %d of %d blocks, %.0f s\n" % (number + 1, args.blocks, time.monotonic() - started))
    tip = rpc.call("getblockcount")
    os.makedirs(args.out, exist_ok=True)
    summary = dict(generator.counts, receiver=generator.receiver.address, tip=tip, tip_hash=rpc.call("getbestblockhash"),
                   seed=args.seed, txs_per_block=args.txs_per_block, generation_seconds=round(time.monotonic() - started, 1))
    with open(os.path.join(args.out, "chain.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    print(json.dumps(summary))


def interesting(transaction, receiver):
    """What tok-follow fetches previous outputs for: a payment to the receiver or a tokenisation anchor."""
    for output in transaction["vout"]:
        script = output["scriptPubKey"]
        if receiver in script.get("addresses", []) and output["value"] > 0:
            return True
        data = script["hex"]
        if data.startswith("6a"):
            # OP_RETURN, then a push of up to 75 bytes or OP_PUSHDATA1 (Core refuses more than 80 bytes).
            start = 6 if data[2:4] == "4c" else 4
            if data[start:start + 8] == "fe0001fe":
                return True
    return False


def plan(args):
    """DIR/plan.ndjson from the node's own view of the chain (getblock <hash> 2): per block from height 1,
    its transaction count, its interesting transactions and the txids their inputs spend."""
    rpc = RPC(args.url, args.user, args.password)
    receiver = json.load(open(os.path.join(args.out, "chain.json"), encoding="utf-8"))["receiver"]
    tip = rpc.call("getblockcount")
    with open(os.path.join(args.out, "plan.ndjson.tmp"), "w", encoding="utf-8") as handle:
        for first in range(1, tip + 1, 50):
            heights = range(first, min(first + 50, tip + 1))
            hashes = rpc.batch([("getblockhash", "[%d]" % h) for h in heights])
            for height, block in zip(heights, rpc.batch([("getblock", '["%s",2]' % h) for h in hashes])):
                chosen = [t for t in block["tx"][1:] if interesting(t, receiver)]
                prev = []
                for transaction in chosen:
                    prev += [i["txid"] for i in transaction["vin"] if i["txid"] not in prev]
                handle.write(json.dumps({"height": height, "txs": len(block["tx"]), "interesting": [t["txid"] for t in chosen],
                                         "prev": prev}, separators=(",", ":")) + "\n")
    os.replace(os.path.join(args.out, "plan.ndjson.tmp"), os.path.join(args.out, "plan.ndjson"))


# ----------------------------------------------------------------- the peer


def peer(args):
    with open(args.plan, encoding="utf-8") as handle:
        plan = [json.loads(line) for line in handle]
    rpc = (QuickAckRPC if args.transport == "quickack" else RPC)(args.url, args.user, args.password)
    rpc.call("getblockhash", "[0]")          # tok-follow checks the chain's genesis first
    rpc.call("getblockcount")
    calls = http_requests = 2
    for start in range(0, len(plan), args.batch_blocks):
        group = plan[start:start + args.batch_blocks]
        hashes = rpc.batch([("getblockhash", "[%d]" % e["height"]) for e in group])
        http_requests += 1
        for first in range(0, len(hashes), BLOCKS_PER_REQUEST):
            blocks = rpc.batch([("getblock", '["%s",false]' % h) for h in hashes[first:first + BLOCKS_PER_REQUEST]])
            http_requests += 1
            if any(not isinstance(b, str) for b in blocks):
                raise SystemExit("follow_chain: getblock false did not answer hex")
        calls += 2 * len(group)
        # As UTXOBlockSource.spentOutputs over the batch's interesting transactions: each txid once, none of theirs.
        known = {t for e in group for t in e["interesting"]}
        missing = []
        for entry in group:
            for txid in entry["prev"]:
                if txid not in known:
                    known.add(txid)
                    missing.append(txid)
        for first in range(0, len(missing), TXIDS_PER_REQUEST):
            rpc.batch([("getrawtransaction", '["%s",false]' % t) for t in missing[first:first + TXIDS_PER_REQUEST]])
            http_requests += 1
        calls += len(missing)
    print(json.dumps({"blocks": len(plan), "calls": calls, "http_requests": http_requests,
                      "interesting": sum(len(e["interesting"]) for e in plan)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("generate", "plan", "peer"):
        command = sub.add_parser(name)
        command.add_argument("--url", required=True)
        command.add_argument("--user", required=True)
        command.add_argument("--password", required=True)
    sub.choices["generate"].add_argument("--blocks", type=int, default=3000)
    sub.choices["generate"].add_argument("--txs-per-block", type=int, default=40)
    sub.choices["generate"].add_argument("--seed", type=int, default=1)
    sub.choices["generate"].add_argument("--out", required=True)
    sub.choices["plan"].add_argument("--out", required=True)
    sub.choices["peer"].add_argument("--plan", required=True)
    sub.choices["peer"].add_argument("--batch-blocks", type=int, default=20)
    sub.choices["peer"].add_argument("--transport", choices=("quickack", "http.client"), default="quickack",
                                     help="a raw keep-alive socket with TCP_QUICKACK (default), or Python's http.client")
    args = parser.parse_args()
    if args.command == "generate":
        if not (1 <= args.blocks <= 100_000 and 1 <= args.txs_per_block <= 1000):
            raise SystemExit("follow_chain: --blocks 1..100000, --txs-per-block 1..1000")
        generate(args)
    elif args.command == "plan":
        plan(args)
    else:
        peer(args)


if __name__ == "__main__":
    main()
