#!/usr/bin/env python3
"""Generates testpeers/fixtures/dogecoin-mainnet.json for dogecoin_fixture_rpc.py.

    python3 testpeers/gen_dogecoin_fixtures.py            # rewrites the fixture
    python3 testpeers/gen_dogecoin_fixtures.py --check    # fails if it is stale

The answers are SHAPED after Dogecoin Core 1.14's RPC code (TxToJSON and
ScriptPubKeyToJSON in rpc/rawtransaction.cpp; blockheaderToJSON, blockToJSON
and AuxpowToJSON in rpc/blockchain.cpp; ValueFromAmount in core_write.cpp).
They were NOT recorded from a live node: none can run where tok is tested.

What is real: every transaction is a legacy Dogecoin transaction serialised
byte for byte, its txid is the byte-reversed double SHA-256 of that
serialisation, its scriptPubKeys and addresses use Dogecoin MAINNET version
bytes (P2PKH 30, "D..."), and every input carries a real ECDSA signature
(legacy SIGHASH_ALL, RFC 6979 nonce, low S, DER) by the key of the output it
spends, made with the small secp256k1 code below (no third-party library is
needed).  Deterministic nonces make the output reproducible;
DogecoinFixtureTests re-signs every transaction with tok's own libsecp256k1
code and checks it gets the same bytes.  Block merkle roots are computed
from the txids, block hashes are the double SHA-256 of the 80-byte headers,
and every block is merge-mined: its auxpow parent coinbase commits to the
block hash behind the fabe6d6d marker and the parent header's merkle root is
computed from the coinbase and its merkle branch.

What is invented: the keys (fixed test keys, derived from labels below: never
send coins to these addresses), heights, times, bits, chainwork, the parent
(Litecoin-side) chain, and the transactions outside the scenario that the
funding transaction and the parent chain refer to (the fixture does not answer
for them: only deposits' previous transactions are served).  Proof of work is not
real (Dogecoin checks scrypt of the parent header; nobody checks it here).

The scenario, on Dogecoin mainnet:
  funding        exchange -> depositor (several outputs) and -> other sender
  deposit        depositor -> receiver 1234.56780000 DOGE + change  (block B1, merge-mined)
  orphaned       depositor -> receiver 42 DOGE, in a block that left the main
                 chain: getblockheader says confirmations -1, and
                 getrawtransaction, which still finds it through -txindex
                 (it is in no mempool), says confirmations 0 as TxToJSON does
  mixed          inputs from the depositor AND the other sender -> receiver
  tiny           depositor -> receiver 0.00100001 DOGE (the koinu counts)
  large          depositor -> receiver 123456789.12345678 DOGE (beyond 2^53
                 koinu: a Double cannot hold it to the koinu)
  elsewhere      depositor -> the other sender: nothing for the receiver
  mempool        depositor -> receiver 0.5 DOGE, not yet mined (no blockhash)
"""

import argparse
import decimal
import hashlib
import hmac
import os
import sys

sys.dont_write_bytecode = True    # no __pycache__ in testpeers/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dogecoin_fixture_rpc import dumps, loads  # noqa: E402  (same directory)

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "dogecoin-mainnet.json")

COIN = 100_000_000
P2PKH_VERSION = 30                    # Dogecoin mainnet, "D..."
GENESIS = "1a91e3dace36e2be3bf030a65679fe821aa1d6ef92e7c9902eb318182c355691"
AUXPOW_VERSION = 0x00620104           # chain id 0x62 << 16 | auxpow flag 0x100 | version 4
BLOCK_REWARD = 10_000 * COIN
SEQUENCE_FINAL = 0xFFFFFFFF
SEQUENCE_WALLET = 0xFFFFFFFE          # 1.14's wallet: final but lets nLockTime (anti fee sniping) count

# ---------------------------------------------------------------------------
# Hashes and encodings.


def sha256(data):
    return hashlib.sha256(data).digest()


def sha256d(data):
    return sha256(sha256(data))


def hash160(data):
    try:
        return hashlib.new("ripemd160", sha256(data)).digest()
    except ValueError:
        sys.exit("this Python's OpenSSL has no RIPEMD-160; run the generator with another python3")


def label_hash(label):
    """32 bytes derived from a label: the invented parts of the fixture."""
    return sha256(("tok dogecoin fixture: " + label).encode("utf-8"))


def display(internal):
    """A hash as Core prints it (GetHex): byte-reversed hex."""
    return internal[::-1].hex()


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check(payload):
    data = payload + sha256d(payload)[:4]
    number = int.from_bytes(data, "big")
    text = ""
    while number:
        number, digit = divmod(number, 58)
        text = B58[digit] + text
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + text


def compact_size(n):
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    return b"\xfe" + n.to_bytes(4, "little")


def push(data):
    assert 1 <= len(data) <= 75
    return bytes([len(data)]) + data


def amount(koinu):
    """ValueFromAmount: %d.%08d, as a Decimal that keeps the spelling."""
    assert koinu >= 0
    return decimal.Decimal(f"{koinu // COIN}.{koinu % COIN:08d}")


def coins(text):
    whole, _, fraction = text.partition(".")
    return int(whole) * COIN + int((fraction + "00000000")[:8])


# ---------------------------------------------------------------------------
# secp256k1 ECDSA (affine arithmetic; a few dozen signatures, speed is moot).

FIELD = 2**256 - 2**32 - 977
ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GENERATOR = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
             0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def point_add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0]:
        if (a[1] + b[1]) % FIELD == 0:
            return None
        slope = 3 * a[0] * a[0] * pow(2 * a[1], -1, FIELD) % FIELD
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, FIELD) % FIELD
    x = (slope * slope - a[0] - b[0]) % FIELD
    return x, (slope * (a[0] - x) - a[1]) % FIELD


def point_multiply(scalar, point=GENERATOR):
    result = None
    while scalar:
        if scalar & 1:
            result = point_add(result, point)
        point = point_add(point, point)
        scalar >>= 1
    return result


class Key:
    def __init__(self, label):
        self.label = label
        self.secret = int.from_bytes(label_hash("key " + label), "big") % ORDER
        assert self.secret != 0
        x, y = point_multiply(self.secret)
        self.public = bytes([2 + (y & 1)]) + x.to_bytes(32, "big")     # compressed, as 1.14's wallet uses
        self.hash160 = hash160(self.public)
        self.script = bytes([0x76, 0xA9, 0x14]) + self.hash160 + bytes([0x88, 0xAC])
        self.address = base58check(bytes([P2PKH_VERSION]) + self.hash160)

    def rfc6979_nonce(self, digest):
        """RFC 6979 section 3.2 with HMAC-SHA256, as libsecp256k1's default nonce function."""
        secret = self.secret.to_bytes(32, "big")
        message = (int.from_bytes(digest, "big") % ORDER).to_bytes(32, "big")
        v, k = b"\x01" * 32, b"\x00" * 32
        k = hmac.new(k, v + b"\x00" + secret + message, hashlib.sha256).digest()
        v = hmac.new(k, v, hashlib.sha256).digest()
        k = hmac.new(k, v + b"\x01" + secret + message, hashlib.sha256).digest()
        v = hmac.new(k, v, hashlib.sha256).digest()
        while True:
            v = hmac.new(k, v, hashlib.sha256).digest()
            nonce = int.from_bytes(v, "big")
            if 1 <= nonce < ORDER:
                return nonce
            k = hmac.new(k, v + b"\x00", hashlib.sha256).digest()
            v = hmac.new(k, v, hashlib.sha256).digest()

    def sign_der(self, digest):
        nonce = self.rfc6979_nonce(digest)
        r = point_multiply(nonce)[0] % ORDER
        s = pow(nonce, -1, ORDER) * (int.from_bytes(digest, "big") + r * self.secret) % ORDER
        assert r and s
        if s > ORDER // 2:
            s = ORDER - s                     # low S, as relay policy requires

        def integer(value):
            data = value.to_bytes((value.bit_length() + 7) // 8, "big")
            if data[0] & 0x80:
                data = b"\x00" + data
            return b"\x02" + bytes([len(data)]) + data

        body = integer(r) + integer(s)
        return b"\x30" + bytes([len(body)]) + body


# ---------------------------------------------------------------------------
# Transactions.


class Tx:
    """A legacy transaction. inputs: (previous Tx or txid bytes in internal order,
    vout, key that owns the spent output); coinbase: scriptSig bytes."""

    def __init__(self, name, outputs, inputs=(), coinbase=None, version=1, locktime=0, sequence=SEQUENCE_FINAL):
        self.name = name
        self.version = version
        self.locktime = locktime
        self.outputs = list(outputs)          # (koinu, script bytes)
        self.coinbase = coinbase
        self.inputs = []
        for previous, vout, key in inputs:
            previous_id = previous.hash if isinstance(previous, Tx) else previous
            self.inputs.append({"txid": previous_id, "vout": vout, "key": key, "script_sig": b"", "sequence": sequence})
        if coinbase is not None:
            self.inputs = [{"txid": b"\0" * 32, "vout": 0xFFFFFFFF, "key": None, "script_sig": coinbase,
                            "sequence": SEQUENCE_FINAL}]
        else:
            self.sign()
        self.raw = self.serialise()
        self.hash = sha256d(self.raw)
        self.txid = display(self.hash)

    def serialise(self, script_sigs=None):
        out = self.version.to_bytes(4, "little", signed=True) + compact_size(len(self.inputs))
        for index, tx_in in enumerate(self.inputs):
            script = tx_in["script_sig"] if script_sigs is None else script_sigs[index]
            out += tx_in["txid"] + tx_in["vout"].to_bytes(4, "little") + compact_size(len(script)) + script
            out += tx_in["sequence"].to_bytes(4, "little")
        out += compact_size(len(self.outputs))
        for value, script in self.outputs:
            out += value.to_bytes(8, "little") + compact_size(len(script)) + script
        return out + self.locktime.to_bytes(4, "little")

    def sign(self):
        signatures = []
        for index, tx_in in enumerate(self.inputs):
            # Legacy sighash: the spent output's script in this input, every other scriptSig empty.
            blanked = [tx_in["key"].script if other == index else b"" for other in range(len(self.inputs))]
            digest = sha256d(self.serialise(blanked) + (1).to_bytes(4, "little"))
            signature = tx_in["key"].sign_der(digest) + b"\x01"      # SIGHASH_ALL
            signatures.append(push(signature) + push(tx_in["key"].public))
        for tx_in, script in zip(self.inputs, signatures):
            tx_in["script_sig"] = script


def p2pkh_asm(script):
    return f"OP_DUP OP_HASH160 {script[3:23].hex()} OP_EQUALVERIFY OP_CHECKSIG"


def script_sig_asm(script):
    """ScriptToAsmStr(scriptSig, true) for <signature+hashtype> <pubkey>."""
    signature = script[1:1 + script[0]]
    public = script[2 + script[0]:]
    assert signature[-1] == 1
    return f"{signature[:-1].hex()}[ALL] {public.hex()}"


def script_pub_key_json(script):
    assert len(script) == 25 and script[:3] == bytes([0x76, 0xA9, 0x14]) and script[23:] == bytes([0x88, 0xAC])
    return {
        "asm": p2pkh_asm(script),
        "hex": script.hex(),
        "reqSigs": 1,
        "type": "pubkeyhash",
        "addresses": [base58check(bytes([P2PKH_VERSION]) + script[3:23])],
    }


def tx_json(tx, block=None, block_hash=None, verbose_hex=True):
    """getrawtransaction <txid> true: hex, then TxToJSON's members in its order."""
    entry = {"hex": tx.raw.hex()} if verbose_hex else {}
    entry.update({
        "txid": tx.txid,
        "hash": tx.txid,                     # no witness on Dogecoin: GetWitnessHash() == GetHash()
        "size": len(tx.raw),
        "vsize": len(tx.raw),
        "version": tx.version,
        "locktime": tx.locktime,
    })
    vin = []
    for tx_in in tx.inputs:
        if tx.coinbase is not None:
            vin.append({"coinbase": tx_in["script_sig"].hex(), "sequence": tx_in["sequence"]})
        else:
            vin.append({
                "txid": display(tx_in["txid"]),
                "vout": tx_in["vout"],
                "scriptSig": {"asm": script_sig_asm(tx_in["script_sig"]), "hex": tx_in["script_sig"].hex()},
                "sequence": tx_in["sequence"],
            })
    entry["vin"] = vin
    entry["vout"] = [{"value": amount(value), "n": n, "scriptPubKey": script_pub_key_json(script)}
                     for n, (value, script) in enumerate(tx.outputs)]
    if block_hash is not None:               # the auxpow parent coinbase: a block this node does not index
        entry["blockhash"] = block_hash
    elif block is not None:
        entry["blockhash"] = block.hash
        if block.main_chain:
            entry["confirmations"] = block.confirmations
            entry["time"] = block.time
            entry["blocktime"] = block.time
        else:
            entry["confirmations"] = 0
    return entry


# ---------------------------------------------------------------------------
# Blocks.


def merkle_root(hashes):
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def header_bytes(version, previous, merkle, time, bits, nonce):
    return (version.to_bytes(4, "little", signed=True) + previous + merkle + time.to_bytes(4, "little")
            + bits.to_bytes(4, "little") + nonce.to_bytes(4, "little"))


def target(bits):
    return (bits & 0x007FFFFF) << (8 * ((bits >> 24) - 3))


def work(bits):
    return 2**256 // (target(bits) + 1)


def difficulty(bits):
    """GetDifficulty, printed as UniValue prints a double (16 significant digits)."""
    shift = (bits >> 24) & 0xFF
    value = 0x0000FFFF / (bits & 0x00FFFFFF)
    while shift < 29:
        value *= 256.0
        shift += 1
    while shift > 29:
        value /= 256.0
        shift -= 1
    return decimal.Decimal(f"{value:.16g}")


class Block:
    def __init__(self, name, height, previous_hash, time, bits, txs, chainwork, main_chain, confirmations, pool):
        self.name = name
        self.height = height
        self.time = time
        self.bits = bits
        self.txs = txs
        self.chainwork = chainwork
        self.main_chain = main_chain
        self.confirmations = confirmations if main_chain else -1
        self.previous_hash = previous_hash
        self.next_hash = None
        self.merkle = merkle_root([tx.hash for tx in txs])
        self.header = header_bytes(AUXPOW_VERSION, bytes.fromhex(previous_hash)[::-1], self.merkle, time, bits, 0)
        self.hash = display(sha256d(self.header))
        self.mediantime = time - 6 * 60 + 7   # the median of the 11 blocks before, at ~1 minute each
        self.make_auxpow(pool)

    def make_auxpow(self, pool):
        """A merge-mined block: a parent (Litecoin-side) coinbase whose scriptSig carries
        fabe6d6d ‖ this block's hash (display order) ‖ merkle size 1 ‖ nonce 0, one merkle
        branch step to the parent's merkle root, no chain merkle branch (Dogecoin alone)."""
        parent_height = 2_700_000 + (self.height - 5_200_000)
        script = push(parent_height.to_bytes(3, "little"))
        script += bytes.fromhex("fabe6d6d") + bytes.fromhex(self.hash) + (1).to_bytes(4, "little") + bytes(4)
        script += b"/tok-fixture parent/"
        self.parent_coinbase = Tx(f"{self.name}-parent-coinbase", [(625_000_000 + 412_345, pool.script)],
                                  coinbase=script, version=2)
        sibling = label_hash(f"{self.name} parent block tx 1")
        parent_merkle = merkle_root([self.parent_coinbase.hash, sibling])
        self.merkle_branch = [display(sibling)]
        self.parent_header = header_bytes(0x20000000, label_hash(f"{self.name} parent previous"), parent_merkle,
                                          self.time - 2, 0x1924A5C1,
                                          int.from_bytes(label_hash(f"{self.name} parent nonce")[:4], "little"))
        self.parent_hash = display(sha256d(self.parent_header))

    def auxpow_bytes(self):
        """CAuxPow: CMerkleTx (tx, hashBlock, vMerkleBranch, nIndex), vChainMerkleBranch, nChainIndex, parent header."""
        out = self.parent_coinbase.raw + bytes.fromhex(self.parent_hash)[::-1]
        out += compact_size(len(self.merkle_branch)) + b"".join(bytes.fromhex(h)[::-1] for h in self.merkle_branch)
        out += (0).to_bytes(4, "little")
        out += compact_size(0) + (0).to_bytes(4, "little")
        return out + self.parent_header

    def raw(self):
        return self.header + self.auxpow_bytes() + compact_size(len(self.txs)) + b"".join(tx.raw for tx in self.txs)

    def header_json(self):
        entry = {
            "hash": self.hash,
            "confirmations": self.confirmations,
            "height": self.height,
            "version": AUXPOW_VERSION,
            "versionHex": f"{AUXPOW_VERSION:08x}",
            "merkleroot": display(self.merkle),
            "time": self.time,
            "mediantime": self.mediantime,
            "nonce": 0,
            "bits": f"{self.bits:08x}",
            "difficulty": difficulty(self.bits),
            "chainwork": f"{self.chainwork:064x}",
            "previousblockhash": self.previous_hash,
        }
        if self.next_hash is not None:
            entry["nextblockhash"] = self.next_hash
        return entry

    def block_json(self):
        size = len(self.raw())
        header = self.header_json()
        entry = {"hash": self.hash, "confirmations": self.confirmations, "strippedsize": size, "size": size,
                 "weight": 4 * size, "height": self.height, "version": AUXPOW_VERSION,
                 "versionHex": header["versionHex"], "merkleroot": header["merkleroot"],
                 "tx": [tx.txid for tx in self.txs]}
        for key in ("time", "mediantime", "nonce", "bits", "difficulty", "chainwork"):
            entry[key] = header[key]
        auxpow_tx = tx_json(self.parent_coinbase, block_hash=self.parent_hash)
        entry["auxpow"] = {
            "tx": auxpow_tx,
            "index": 0,
            "chainindex": 0,
            "merklebranch": self.merkle_branch,
            "chainmerklebranch": [],
            "parentblock": self.parent_header.hex(),
        }
        entry["previousblockhash"] = header["previousblockhash"]
        if self.next_hash is not None:
            entry["nextblockhash"] = self.next_hash
        return entry


# ---------------------------------------------------------------------------
# The scenario.


def build():
    keys = {name: Key(name) for name in ("depositor", "other-sender", "receiver", "exchange", "pool", "parent-pool")}
    depositor, other, receiver, exchange = keys["depositor"], keys["other-sender"], keys["receiver"], keys["exchange"]
    pool = keys["pool"]

    first_height = 5_200_000
    tip_height = first_height + 12
    base_time = 1_717_243_200                # 2024-06-01 12:00:00 UTC

    # The exchange's coins come from a transaction outside the fixture.
    funding = Tx("funding", [
        (coins("2000"), depositor.script),
        (coins("1"), depositor.script),
        (coins("123456790"), depositor.script),
        (coins("50"), depositor.script),
        (coins("25"), other.script),
        (coins("76541133.99"), exchange.script),
    ], inputs=[(label_hash("exchange cold wallet tx"), 3, exchange)], locktime=first_height - 1, sequence=SEQUENCE_WALLET)
    funding_in = coins("200000000")
    assert sum(value for value, _ in funding.outputs) + coins("0.01") == funding_in

    def wallet_tx(name, height, spends, pay, change_key, fee):
        spent = sum(previous.outputs[vout][0] for previous, vout, _ in spends)
        outputs = [(pay, receiver.script), (spent - pay - fee, change_key.script)]
        return Tx(name, outputs, inputs=spends, locktime=height - 1, sequence=SEQUENCE_WALLET)

    deposit = wallet_tx("deposit", first_height + 1, [(funding, 0, depositor)], coins("1234.5678"), depositor, coins("0.01"))
    orphaned = wallet_tx("orphaned", first_height + 2, [(funding, 3, depositor)], coins("42"), depositor, coins("0.01"))
    mixed = wallet_tx("mixed", first_height + 2, [(funding, 1, depositor), (funding, 4, other)], coins("20"), other,
                      coins("0.01"))
    large = wallet_tx("large", first_height + 2, [(funding, 2, depositor)], coins("123456789.12345678"), depositor,
                      coins("0.01"))
    # 0.00100001 is below the 0.01 DOGE soft dust limit: 0.01 more fee.
    tiny = wallet_tx("tiny", first_height + 3, [(deposit, 1, depositor)], coins("0.00100001"), depositor, coins("0.02"))
    mempool = wallet_tx("mempool", tip_height + 1, [(large, 1, depositor)], coins("0.5"), depositor, coins("0.01"))
    # Sent by the depositor to someone else: nothing for the receiver.
    elsewhere = Tx("elsewhere", [(coins("100"), other.script), (tiny.outputs[1][0] - coins("100.01"), depositor.script)],
                   inputs=[(tiny, 1, depositor)], locktime=first_height + 2, sequence=SEQUENCE_WALLET)
    assert large.outputs[1][0] == coins("0.86654322") and tiny.outputs[1][0] == coins("765.40119999")

    def fees(txs):
        total = 0
        for tx in txs:
            spent = 0
            for tx_in in tx.inputs:
                previous = next(t for t in all_txs if t.hash == tx_in["txid"]) if tx is not funding else None
                spent += previous.outputs[tx_in["vout"]][0] if previous else funding_in
            total += spent - sum(value for value, _ in tx.outputs)
        return total

    all_txs = [funding, deposit, orphaned, mixed, large, tiny, elsewhere, mempool]

    def coinbase(name, height, txs):
        script = push(height.to_bytes(3, "little")) + b"/tok-fixture/"     # BIP 34 height first
        return Tx(name, [(BLOCK_REWARD + fees(txs), pool.script)], coinbase=script)

    layout = [   # name, height, transactions, bits, seconds after base_time, on the main chain
        ("B0", first_height, [funding], 0x1A00F2B5, 0, True),
        ("B1", first_height + 1, [deposit], 0x1A00F1C2, 61, True),
        ("B2", first_height + 2, [mixed, large], 0x1A00F3A0, 118, True),
        ("B2-orphaned", first_height + 2, [orphaned], 0x1A00F3A0, 125, False),
        ("B3", first_height + 3, [tiny, elsewhere], 0x1A00F0E7, 183, True),
    ]
    blocks = {}
    chainwork = 0x1576A3C9E0F24B7D18C6
    previous = {first_height - 1: display(label_hash("block before B0"))}
    work_at = {first_height - 1: chainwork}
    coinbases = []
    for name, height, txs, bits, seconds, main_chain in layout:
        base = coinbase(f"{name}-coinbase", height, txs)
        coinbases.append(base)
        block_work = work_at[height - 1] + work(bits)
        block = Block(name, height, previous[height - 1], base_time + seconds, bits, [base] + txs, block_work,
                      main_chain, tip_height - height + 1, keys["parent-pool"])
        blocks[name] = block
        if main_chain:
            previous[height] = block.hash
            work_at[height] = block_work
    for name, block in blocks.items():
        if block.main_chain:
            below = next((b for b in blocks.values() if b.main_chain and b.height == block.height - 1), None)
            if below:
                below.next_hash = block.hash
    blocks["B3"].next_hash = display(label_hash("block after B3"))

    block_of = {}
    for block in blocks.values():
        for tx in block.txs:
            block_of[tx.txid] = block
    return keys, blocks, all_txs + coinbases, block_of, tip_height


def fixture():
    keys, blocks, txs, block_of, tip_height = build()
    methods = {"getrawtransaction": [], "getblockheader": [], "getblock": [], "getblockhash": [], "getblockcount": []}
    for tx in txs:
        methods["getrawtransaction"].append({"params": [tx.txid, True], "result": tx_json(tx, block_of.get(tx.txid))})
        methods["getrawtransaction"].append({"params": [tx.txid, False], "result": tx.raw.hex()})
    for block in blocks.values():
        methods["getblockheader"].append({"params": [block.hash, True], "result": block.header_json()})
        methods["getblockheader"].append({"params": [block.hash, False],
                                          "result": (block.header + block.auxpow_bytes()).hex()})
        methods["getblock"].append({"params": [block.hash, True], "result": block.block_json()})
        methods["getblock"].append({"params": [block.hash, False], "result": block.raw().hex()})
        if block.main_chain:
            methods["getblockhash"].append({"params": [block.height], "result": block.hash})
    methods["getblockcount"].append({"params": [], "result": tip_height})

    by_name = {tx.name: tx for tx in txs}
    scenario = {
        "keys": {name: {"private_key": key.secret.to_bytes(32, "big").hex(), "address": key.address}
                 for name, key in keys.items()},
        "transactions": {
            name: {
                "txid": tx.txid,
                "signers": [tx_in["key"].label for tx_in in tx.inputs] if tx.coinbase is None else [],
                "block": block_of[tx.txid].name if tx.txid in block_of else None,
            } for name, tx in by_name.items()
        },
        "blocks": {name: {"hash": block.hash, "height": block.height, "main_chain": block.main_chain}
                   for name, block in blocks.items()},
        "unknown_txid": display(label_hash("a transaction no node knows")),
        "tip_height": tip_height,
    }
    return {
        "comment": [
            "Dogecoin Core 1.14-shaped JSON-RPC answers for tok's tests, served by testpeers/dogecoin_fixture_rpc.py.",
            "Shaped after Dogecoin Core 1.14's RPC code (rpc/rawtransaction.cpp TxToJSON, rpc/blockchain.cpp",
            "blockheaderToJSON/blockToJSON/AuxpowToJSON, core_write.cpp ValueFromAmount), NOT recorded from a live node.",
            "Transactions, txids, scripts, addresses and signatures are real (Dogecoin mainnet version bytes);",
            "keys are fixed TEST keys derived from labels: never send coins to these addresses.",
            "Generated by testpeers/gen_dogecoin_fixtures.py: edit that script and regenerate, not this file.",
        ],
        "network": {"name": "dogecoin-mainnet", "chain": "bip122:" + GENESIS[:32], "genesis": GENESIS},
        "scenario": scenario,
        "methods": methods,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description="Writes the Dogecoin fixture for dogecoin_fixture_rpc.py.")
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed fixture differs from a fresh one")
    ap.add_argument("--output", default=FIXTURE)
    args = ap.parse_args(argv)
    text = dumps(fixture(), indent=1) + "\n"
    loads(text)                                  # it must parse back
    if args.check:
        with open(args.output, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{args.output} is stale: run python3 testpeers/gen_dogecoin_fixtures.py", file=sys.stderr)
                return 1
        print(f"{args.output} is up to date")
        return 0
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.output} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
