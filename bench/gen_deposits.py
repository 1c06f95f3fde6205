#!/usr/bin/env python3
"""Generates deposit records (NDJSON) for the benchmark, deterministically.

Modes:
  raw        deposit requests as a client sends them (tok-validate's input)
  validated  the same records exactly as tok-validate writes them
  attested   the same records as tok-verify writes them after verifying them
             on chain: validated, verified and attested (tok-apply's input)

Accounts come from a fixed pool of distinct addresses. Requests carry them in
lowercase (valid input); the validated and attested forms carry the canonical
CAIP-10 id with the EIP-55 checksum, as tok-validate produces it. EIP-55 needs
Keccak-256, which hashlib lacks (its sha3_256 pads differently), so a small
Keccak-f[1600] is written out below; the address pool is only 1000 entries.

The attestation is computed as Sources/TokShared/Records/Attestation.swift
does: HMAC-SHA256 under the secret over "tok-attest-v1\\nverify\\n<key_id>\\n"
followed by the record without "attestation", keys sorted at every level, no
whitespace. json.dumps(sort_keys=True, separators=(",", ":")) gives the same
bytes as tok's canonical writer for this all-ASCII content.

Standard library only. Usage:
  gen_deposits.py [--mode raw|validated|attested] [--seed S] COUNT > out.ndjson
The attested mode reads the secret from TOK_ATTESTATION_SECRET (or the
variable named by --secret-env) and signs under --key-id.
"""

import argparse
import hashlib
import hmac
import json
import os
import random
import sys

CHAIN = "eip155:131277322940537"
NETWORK_ALIAS = "evm-local"
# The token aliases and their CAIP-19 asset types on evm-local (examples/tok.toml).
ASSETS = {
    "ETH": CHAIN + "/slip44:60",
    "TOK": CHAIN + "/erc20:0x1000000000000000000000000000000000000001",
}
ACCOUNT_POOL = 1000
CONFIRMATIONS = 3
ATTESTATION_VERSION = "tok-attest-v1"

# --- Keccak-256 (the original Keccak padding, as Ethereum uses it) ---------

_ROUND_CONSTANTS = []
_ROTATIONS = [[0] * 5 for _ in range(5)]


def _init_keccak_tables():
    # Round constants from the degree-8 LFSR of the Keccak reference.
    state = 1
    for _ in range(24):
        constant = 0
        for bit in range(7):
            if state & 1:
                constant |= 1 << ((1 << bit) - 1)
            state = ((state << 1) ^ 0x71) & 0xFF if state & 0x80 else state << 1
        _ROUND_CONSTANTS.append(constant)
    # Rho offsets: walk (x, y) -> (y, 2x + 3y) from (1, 0).
    x, y = 1, 0
    for t in range(24):
        _ROTATIONS[x][y] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5


_init_keccak_tables()
_MASK = (1 << 64) - 1


def _rotl(value, shift):
    return ((value << shift) | (value >> (64 - shift))) & _MASK if shift else value


def _keccak_f(lanes):
    for constant in _ROUND_CONSTANTS:
        # theta
        columns = [lanes[x][0] ^ lanes[x][1] ^ lanes[x][2] ^ lanes[x][3] ^ lanes[x][4] for x in range(5)]
        for x in range(5):
            delta = columns[(x - 1) % 5] ^ _rotl(columns[(x + 1) % 5], 1)
            for y in range(5):
                lanes[x][y] ^= delta
        # rho and pi
        moved = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                moved[y][(2 * x + 3 * y) % 5] = _rotl(lanes[x][y], _ROTATIONS[x][y])
        # chi
        for x in range(5):
            for y in range(5):
                lanes[x][y] = moved[x][y] ^ ((~moved[(x + 1) % 5][y]) & moved[(x + 2) % 5][y])
        # iota
        lanes[0][0] ^= constant


def keccak256(data):
    rate = 136
    padded = bytearray(data)
    padded.append(0x01)
    while len(padded) % rate:
        padded.append(0)
    padded[-1] |= 0x80
    lanes = [[0] * 5 for _ in range(5)]
    for offset in range(0, len(padded), rate):
        block = padded[offset:offset + rate]
        for index in range(rate // 8):
            lanes[index % 5][index // 5] ^= int.from_bytes(block[8 * index:8 * index + 8], "little")
        _keccak_f(lanes)
    out = b"".join(lanes[index % 5][index // 5].to_bytes(8, "little") for index in range(4))
    return out


def eip55(address_hex):
    """The EIP-55 checksummed form of a 40-hex-digit address (no 0x)."""
    lower = address_hex.lower()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def _self_test():
    # Known answers: Keccak-256 of the empty string, and an EIP-55 example.
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert eip55("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


# --- Records ---------------------------------------------------------------


def generate(count, mode, seed, key_id, secret, out):
    rng = random.Random(seed)
    pool = []
    for _ in range(ACCOUNT_POOL):
        hex40 = "%040x" % rng.getrandbits(160)
        pool.append(("0x" + hex40, CHAIN + ":" + eip55(hex40) if mode != "raw" else None))
    if len({lower for lower, _ in pool}) != ACCOUNT_POOL:
        raise SystemExit("gen_deposits: the account pool has duplicates; pick another seed")
    prefix = ("%s\nverify\n%s\n" % (ATTESTATION_VERSION, key_id)).encode("ascii")
    lines = []
    for i in range(count):
        account, canonical = pool[rng.randrange(ACCOUNT_POOL)]
        token = "ETH" if rng.random() < 0.5 else "TOK"
        # i in the low bits keeps every transaction distinct, whatever the random bits.
        tx = "0x%056x%08x" % (rng.getrandbits(224), i)
        record = {
            "op": "deposit",
            "id": "dep-%d" % i,
            "source": {"account": account, "network": NETWORK_ALIAS, "token": token},
            "deposit": {"tx": tx},
        }
        if mode != "raw":
            record["validated"] = {"network": CHAIN, "account": canonical, "token": token,
                                   "asset": ASSETS[token], "tx": tx}
            record["status"] = "validated"
        if mode == "attested":
            record["status"] = "verified"
            record["verified"] = {
                "amount": str(rng.randrange(10**12, 10**21)),
                "block_hash": "0x%064x" % rng.getrandbits(256),
                "block_number": 1000 + i // 64,
                "confirmations": CONFIRMATIONS,
                "required_confirmations": CONFIRMATIONS,
            }
            canonical_text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            mac = hmac.new(secret, prefix + canonical_text.encode("utf-8"), hashlib.sha256).hexdigest()
            record["attestation"] = {"stage": "verify", "key_id": key_id, "mac": mac}
        lines.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
        if len(lines) == 4096:
            out.write("\n".join(lines) + "\n")
            lines.clear()
    if lines:
        out.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description="Generate deposit records for tok's benchmark.")
    parser.add_argument("count", type=int, help="number of records")
    parser.add_argument("--mode", choices=["raw", "validated", "attested"], default="raw")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--key-id", default="operator-2026", help="attestation key id (default: examples/tok.toml's)")
    parser.add_argument("--secret-env", default="TOK_ATTESTATION_SECRET",
                        help="environment variable holding the attestation secret")
    args = parser.parse_args()
    if args.count < 0:
        parser.error("count must not be negative")
    _self_test()
    secret = b""
    if args.mode == "attested":
        value = os.environ.get(args.secret_env, "")
        if len(value.encode("utf-8")) < 32:
            parser.error("attested mode needs a secret of at least 32 bytes in $%s" % args.secret_env)
        secret = value.encode("utf-8")
    out = sys.stdout
    try:
        generate(args.count, args.mode, args.seed, args.key_id, secret, out)
        out.flush()
    except BrokenPipeError:
        # A reader that stops early (head) is not an error; keep Python quiet at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


if __name__ == "__main__":
    main()
