#!/usr/bin/env python3
"""Golden vectors of tok's tokenisation wire protocol (man/tok-protocol.7).

Writes Tests/TokSharedTests/Fixtures/protocol-vectors.json, which is committed: CI does not
run this script. Valid payloads are built by the `protobuf` package from tok's own .proto
definitions in testpeers/proto/ (compiled here with grpcio-tools' protoc), not by hand; the
invalid ones are valid payloads broken on purpose, byte by byte, with the reason man
tok-protocol.7 gives. Canonical JSON (RFC 8785) vectors come from the `rfc8785` package, an
implementation independent of tok's.

Rerun (a scratch venv, never committed):

    python3 -m venv /tmp/venv-proto
    /tmp/venv-proto/bin/pip install protobuf==7.36.2 grpcio-tools==1.85.1 rfc8785==0.1.4
    /tmp/venv-proto/bin/python testpeers/gen_protocol_vectors.py

Cross-check with Fractal Engine's own .proto files (once, locally; they are not part of tok):

    /tmp/venv-proto/bin/python testpeers/gen_protocol_vectors.py --check-fractal DIR

where DIR holds its mint.proto, invoices.proto and payment.proto; the script then builds the
version-1 vectors with both definitions and fails unless the bytes are identical.

Output is deterministic: the same inputs give the same file, byte for byte.
"""

import argparse
import hashlib
import importlib
import json
import os
import sys
import tempfile

import rfc8785
from google.protobuf import __version__ as protobuf_version
from grpc_tools import protoc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO_DIR = os.path.join(ROOT, "testpeers", "proto")
OUTPUT = os.path.join(ROOT, "Tests", "TokSharedTests", "Fixtures", "protocol-vectors.json")

TAG = bytes.fromhex("fe0001fe")
FRACTAL_VERSION = 1
TOK_VERSION = 0x74
MAX_MONEY = 10**18
MAX_QUANTITY = 2**63 - 1
U32 = 2**32 - 1

MINT, BUY_OFFER, SELL_OFFER, INVOICE, PAYMENT, DELETE_BUY, DELETE_SELL, APPROVAL = range(1, 9)

REGTEST_CHAIN = "bip122:3d2160a3b5dc4a9d62e7e66a295f7031"
REGTEST_P2PKH, REGTEST_P2SH = 111, 196


def compile_protos(proto_dir, names, out_dir):
    """protoc --python_out for `names`; returns the imported modules by file stem."""
    os.makedirs(out_dir, exist_ok=True)
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = ["protoc", f"-I{proto_dir}", f"-I{include}", f"--python_out={out_dir}"] + names
    if protoc.main(args) != 0:
        sys.exit(f"protoc failed on {names} in {proto_dir}")
    sys.path.insert(0, out_dir)
    try:
        return {n[:-6]: importlib.import_module(n[:-6] + "_pb2") for n in names}
    finally:
        sys.path.pop(0)


def sha(text):
    return hashlib.sha256(text.encode()).digest()


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number, wire_type):
    return varint(number << 3 | wire_type)


def envelope(action, version, payload):
    return TAG + bytes([action, version]) + payload


def script(data):
    """OP_RETURN and one minimal push."""
    push = bytes([len(data)]) if len(data) <= 75 else bytes([0x4C, len(data)])
    return b"\x6a" + push + data


# Hashes the vectors use: SHA-256 of short labels, so anyone can recompute them.
MINT_RECORD = sha("tok vector: mint record")
INVOICE_RECORD = sha("tok vector: invoice record")
OFFER_RECORD = sha("tok vector: offer record")


def fractal_messages(fe):
    """(name, action, message, fields) of Fractal Engine's version 1, built by protobuf."""
    m, inv, pay = fe["mint"], fe["invoice"], fe["payment"]
    return [
        ("fe_v1_mint", MINT, m(hash=MINT_RECORD.hex()), {"hash": MINT_RECORD.hex()}),
        ("fe_v1_invoice", INVOICE, inv(version=1, invoice_hash=INVOICE_RECORD, mint_hash=MINT_RECORD, quantity=100),
         {"version": 1, "invoice_hash": INVOICE_RECORD.hex(), "mint_hash": MINT_RECORD.hex(), "quantity": "100"}),
        ("fe_v1_invoice_largest_that_fits", INVOICE, inv(version=1, invoice_hash=INVOICE_RECORD, mint_hash=MINT_RECORD, quantity=2**21 - 1),
         {"version": 1, "invoice_hash": INVOICE_RECORD.hex(), "mint_hash": MINT_RECORD.hex(), "quantity": str(2**21 - 1)}),
        ("fe_v1_invoice_without_version", INVOICE, inv(invoice_hash=INVOICE_RECORD, mint_hash=MINT_RECORD, quantity=7),
         {"invoice_hash": INVOICE_RECORD.hex(), "mint_hash": MINT_RECORD.hex(), "quantity": "7"}),
        ("fe_v1_payment", PAYMENT, pay(hash=INVOICE_RECORD.hex()), {"hash": INVOICE_RECORD.hex()}),
        ("fe_v1_payment_with_version", PAYMENT, pay(version=1, hash=INVOICE_RECORD.hex()),
         {"version": 1, "hash": INVOICE_RECORD.hex()}),
    ]


def fractal_oversize(fe):
    """Fractal Engine composes these; they exceed 80 bytes, so tok refuses them."""
    inv = fe["invoice"]
    return [
        ("fe_v1_invoice_quantity_2^21", inv(version=1, invoice_hash=INVOICE_RECORD, mint_hash=MINT_RECORD, quantity=2**21)),
        ("fe_v1_invoice_quantity_max_int32", inv(version=1, invoice_hash=INVOICE_RECORD, mint_hash=MINT_RECORD, quantity=2**31 - 1)),
        ("fe_v1_invoice_negative_quantity", inv(version=1, invoice_hash=INVOICE_RECORD, mint_hash=MINT_RECORD, quantity=-1)),
    ]


def tok_messages(t):
    """(name, action, message, fields) of tok's version, typical and worst-case sizes."""
    def fields(message):
        out = {}
        for descriptor, value in message.ListFields():
            if isinstance(value, bytes):
                out[descriptor.name] = value.hex()
            elif isinstance(value, bool):
                out[descriptor.name] = value
            elif descriptor.type in (descriptor.TYPE_UINT64,):
                out[descriptor.name] = str(value)
            else:
                out[descriptor.name] = value
        return out

    def selling(**kw):
        return t.Selling(**kw)

    rows = [
        ("tok_mint", MINT, t.Mint(record_hash=MINT_RECORD, supply=1_000_000)),
        ("tok_mint_with_managers", MINT, t.Mint(record_hash=MINT_RECORD, supply=21_000, manager_count=3, min_approvals=2)),
        ("tok_mint_largest", MINT, t.Mint(record_hash=MINT_RECORD, supply=MAX_QUANTITY, manager_count=16, min_approvals=16)),
        ("tok_buy_offer", BUY_OFFER, t.BuyOffer(token_height=250, token_tx_index=1, quantity=40,
                                                max_unit_price_koinu=150_000_000, expiry_height=400, record_hash=OFFER_RECORD)),
        ("tok_buy_offer_largest", BUY_OFFER, t.BuyOffer(token_height=U32, token_tx_index=U32, quantity=1,
                                                        max_unit_price_koinu=MAX_MONEY, expiry_height=U32, record_hash=OFFER_RECORD)),
        ("tok_sell_offer", SELL_OFFER, selling(token_height=250, token_tx_index=1, quantity=25, unit_price_koinu=120_000_000,
                                               expiry_height=400, record_hash=OFFER_RECORD)),
        ("tok_sell_offer_largest", SELL_OFFER, selling(token_height=U32, token_tx_index=U32, quantity=MAX_MONEY, unit_price_koinu=1,
                                                       expiry_height=U32, record_hash=OFFER_RECORD, pay_to_named_output=True)),
        ("tok_invoice", INVOICE, selling(token_height=250, token_tx_index=1, quantity=10, unit_price_koinu=150_000_000,
                                         expiry_height=300, record_hash=INVOICE_RECORD)),
        ("tok_invoice_pay_to_named_output", INVOICE, selling(token_height=250, token_tx_index=1, quantity=3, unit_price_koinu=99,
                                                             expiry_height=260, record_hash=INVOICE_RECORD, pay_to_named_output=True)),
        ("tok_invoice_largest", INVOICE, selling(token_height=U32, token_tx_index=U32, quantity=2**30, unit_price_koinu=2**29,
                                                 expiry_height=U32, record_hash=INVOICE_RECORD, pay_to_named_output=True)),
        ("tok_payment_of_invoice", PAYMENT, t.Reservation(invoice_height=255, invoice_tx_index=2)),
        ("tok_payment_of_match", PAYMENT, t.Reservation(sell_offer_height=260, sell_offer_tx_index=1,
                                                        buy_offer_height=262, buy_offer_tx_index=3)),
        ("tok_payment_largest", PAYMENT, t.Reservation(sell_offer_height=U32, sell_offer_tx_index=U32,
                                                       buy_offer_height=U32, buy_offer_tx_index=U32)),
        ("tok_delete_buy_offer", DELETE_BUY, t.DeleteOffer(offer_height=262, offer_tx_index=3)),
        ("tok_delete_sell_offer", DELETE_SELL, t.DeleteOffer(offer_height=U32, offer_tx_index=U32)),
        ("tok_approval_of_invoice", APPROVAL, t.Reservation(invoice_height=255, invoice_tx_index=2)),
        ("tok_approval_of_match", APPROVAL, t.Reservation(sell_offer_height=260, sell_offer_tx_index=1,
                                                          buy_offer_height=262, buy_offer_tx_index=3)),
    ]
    return [(name, action, message, fields(message)) for name, action, message in rows]


def valid_vector(name, action, version, message, fields):
    payload = message.SerializeToString(deterministic=True)
    data = envelope(action, version, payload)
    assert len(data) <= 80, f"{name}: {len(data)} bytes"
    return {"name": name, "action": action, "version": version, "fields": fields,
            "payload_bytes": len(payload), "data_hex": data.hex(), "script_hex": script(data).hex()}


def invalid_payloads(t):
    """(name, action, version, payload, reason): valid payloads broken one rule at a time."""
    mint = t.Mint(record_hash=MINT_RECORD, supply=1_000_000).SerializeToString()
    h = key(1, 2) + varint(32) + MINT_RECORD           # tok.mint.record_hash
    fe_mint = key(1, 2) + varint(64) + MINT_RECORD.hex().encode()
    invoice = t.Selling(token_height=250, token_tx_index=1, quantity=10, unit_price_koinu=150_000_000,
                        expiry_height=300, record_hash=INVOICE_RECORD).SerializeToString()
    head = key(1, 0) + varint(250) + key(2, 0) + varint(1)
    tail = key(5, 0) + varint(300) + key(6, 2) + varint(32) + INVOICE_RECORD
    fe_invoice_head = key(1, 0) + varint(1) + key(2, 2) + varint(32) + INVOICE_RECORD + key(3, 2) + varint(32) + MINT_RECORD
    rows = [
        ("supply_non_minimal_varint", MINT, h + key(2, 0) + b"\x81\x00", "non_minimal_varint"),
        ("tag_non_minimal_varint", MINT, b"\x8a\x00" + varint(32) + MINT_RECORD, "non_minimal_varint"),
        ("length_non_minimal_varint", MINT, key(1, 2) + b"\xa0\x00" + MINT_RECORD, "non_minimal_varint"),
        ("supply_varint_11_bytes", MINT, h + key(2, 0) + b"\xff" * 10 + b"\x01", "varint_overflow"),
        ("supply_varint_above_2^64", MINT, h + key(2, 0) + b"\xff" * 9 + b"\x02", "varint_overflow"),
        ("supply_negative_int64", MINT, h + key(2, 0) + b"\xff" * 9 + b"\x01", "negative_value"),
        ("fe_invoice_negative_int32_quantity_cut", INVOICE, key(4, 0) + b"\xff" * 9 + b"\x01", "negative_value"),
        ("fields_out_of_order", MINT, key(2, 0) + varint(1_000_000) + h, "field_out_of_order"),
        ("duplicate_supply", MINT, h + key(2, 0) + varint(5) + key(2, 0) + varint(5), "duplicate_field"),
        ("duplicate_hash", MINT, h + h, "duplicate_field"),
        ("unknown_field_5", MINT, mint + key(5, 0) + varint(1), "unknown_field"),
        ("unknown_field_0", MINT, mint + b"\x00", "unknown_field"),
        ("unknown_field_large_number", MINT, mint + key(2**28, 0) + varint(1), "unknown_field"),
        ("supply_as_length_delimited", MINT, h + key(2, 2) + varint(1) + b"\x05", "wrong_wire_type"),
        ("hash_as_varint", MINT, key(1, 0) + varint(1), "wrong_wire_type"),
        ("supply_as_fixed64", MINT, h + key(2, 1) + bytes(8), "wrong_wire_type"),
        ("fe_mint_trailing_zero", MINT, fe_mint + b"\x00", "trailing_bytes"),
        ("fe_mint_trailing_field", MINT, fe_mint + key(1, 2) + varint(1) + b"0", "trailing_bytes"),
        ("invoice_trailing_after_flag", INVOICE, invoice + key(7, 0) + b"\x01" + b"\x00", "trailing_bytes"),
        ("supply_zero_written", MINT, h + key(2, 0) + b"\x00", "default_value_written"),
        ("hash_empty_written", MINT, key(1, 2) + b"\x00" + key(2, 0) + varint(1), "default_value_written"),
        ("flag_false_written", INVOICE, invoice + key(7, 0) + b"\x00", "default_value_written"),
        ("flag_two", INVOICE, invoice + key(7, 0) + b"\x02", "value_out_of_range"),
        ("supply_above_2^63-1", MINT, h + key(2, 0) + varint(2**63), "negative_value"),
        ("manager_count_17", MINT, mint + key(3, 0) + varint(17) + key(4, 0) + varint(1), "value_out_of_range"),
        ("price_above_max_money", INVOICE, head + key(3, 0) + varint(1) + key(4, 0) + varint(MAX_MONEY + 1) + tail, "value_out_of_range"),
        ("token_height_above_2^32-1", INVOICE, key(1, 0) + varint(2**32) + invoice[len(key(1, 0) + varint(250)):], "value_out_of_range"),
        ("fe_invoice_version_2", INVOICE, key(1, 0) + varint(2) + fe_invoice_head[2:] + key(4, 0) + varint(1), "value_out_of_range"),
        ("quantity_times_price_above_max_money", INVOICE, head + key(3, 0) + varint(2) + key(4, 0) + varint(MAX_MONEY) + tail, "amount_overflow"),
        ("quantity_times_price_wraps_uint64", INVOICE, head + key(3, 0) + varint(2**62) + key(4, 0) + varint(4) + tail, "amount_overflow"),
        ("buy_offer_quantity_times_max_price", BUY_OFFER, head + key(3, 0) + varint(10**9 + 1) + key(4, 0) + varint(10**9) + tail, "amount_overflow"),
        ("hash_31_bytes", MINT, key(1, 2) + varint(31) + MINT_RECORD[:31] + key(2, 0) + varint(1), "bad_length"),
        ("hash_33_bytes", MINT, key(1, 2) + varint(33) + MINT_RECORD + b"\x00" + key(2, 0) + varint(1), "bad_length"),
        ("fe_mint_hash_63_chars", MINT, key(1, 2) + varint(63) + MINT_RECORD.hex().encode()[:63], "bad_length"),
        ("fe_mint_uppercase_hex", MINT, key(1, 2) + varint(64) + MINT_RECORD.hex().upper().encode(), "bad_hex"),
        ("fe_mint_not_hex", MINT, key(1, 2) + varint(64) + b"g" * 64, "bad_hex"),
        ("mint_without_supply", MINT, h, "missing_field"),
        ("mint_without_hash", MINT, key(2, 0) + varint(5), "missing_field"),
        ("invoice_without_expiry", INVOICE, head + key(3, 0) + varint(1) + key(4, 0) + varint(1) + key(6, 2) + varint(32) + INVOICE_RECORD, "missing_field"),
        ("mint_managers_without_min", MINT, mint + key(3, 0) + varint(2), "missing_field"),
        ("fe_invoice_without_quantity", INVOICE, fe_invoice_head, "missing_field"),
        ("mint_min_above_managers", MINT, mint + key(3, 0) + varint(2) + key(4, 0) + varint(3), "approvals_exceed_managers"),
        ("mint_min_without_managers", MINT, mint + key(4, 0) + varint(1), "approvals_exceed_managers"),
        ("payment_invoice_and_match", PAYMENT, key(1, 0) + varint(5) + key(2, 0) + varint(1) + key(3, 0) + varint(5)
         + key(4, 0) + varint(1) + key(5, 0) + varint(6) + key(6, 0) + varint(1), "bad_reference"),
        ("payment_half_invoice", PAYMENT, key(1, 0) + varint(5), "bad_reference"),
        ("approval_half_match", APPROVAL, key(3, 0) + varint(5) + key(4, 0) + varint(1) + key(5, 0) + varint(6), "bad_reference"),
        ("hash_cut_short", MINT, key(1, 2) + varint(32) + MINT_RECORD[:20], "truncated"),
        ("varint_cut", MINT, h + key(2, 0) + b"\x80", "truncated"),
        ("tag_cut", MINT, b"\x80", "truncated"),
        ("length_beyond_end", MINT, key(1, 2) + varint(2**40), "truncated"),
    ]
    out = []
    for name, action, payload, reason in rows:
        version = FRACTAL_VERSION if name.startswith("fe_") else TOK_VERSION
        out.append((name, action, version, payload, reason))
    return out


def envelope_vectors(fe, t):
    """Data-level outcomes that are not about one payload field."""
    fe_mint = fe["mint"](hash=MINT_RECORD.hex()).SerializeToString()
    tok_mint = t.Mint(record_hash=MINT_RECORD, supply=1).SerializeToString()
    invalid = [
        {"name": "tag_only", "data_hex": TAG.hex(), "reason": "truncated_envelope"},
        {"name": "tag_and_action", "data_hex": (TAG + b"\x01").hex(), "reason": "truncated_envelope"},
        {"name": "header_without_payload", "data_hex": (TAG + b"\x01\x01").hex(), "reason": "empty_payload"},
        {"name": "tok_header_without_payload", "data_hex": (TAG + bytes([APPROVAL, TOK_VERSION])).hex(), "reason": "empty_payload"},
        {"name": "81_bytes", "data_hex": envelope(MINT, TOK_VERSION, tok_mint + b"\x00" * (75 - len(tok_mint))).hex(),
         "reason": "anchor_too_large"},
    ]
    for name, message in fractal_oversize(fe):
        data = envelope(INVOICE, FRACTAL_VERSION, message.SerializeToString())
        assert len(data) > 80, name
        invalid.append({"name": name, "data_hex": data.hex(), "reason": "anchor_too_large", "data_bytes": len(data)})
    unsupported = [
        {"name": "fe_v1_sell_offer", "data_hex": envelope(SELL_OFFER, 1, fe_mint).hex(), "action": 3, "version": 1},
        {"name": "fe_v1_invoice_signature", "data_hex": envelope(APPROVAL, 1, fe_mint).hex(), "action": 8, "version": 1},
        {"name": "version_2", "data_hex": envelope(MINT, 2, fe_mint).hex(), "action": 1, "version": 2},
        {"name": "action_0", "data_hex": envelope(0, TOK_VERSION, tok_mint).hex(), "action": 0, "version": TOK_VERSION},
        {"name": "action_9", "data_hex": envelope(9, TOK_VERSION, tok_mint).hex(), "action": 9, "version": TOK_VERSION},
        {"name": "unsupported_even_without_payload", "data_hex": (TAG + b"\x09\x01").hex(), "action": 9, "version": 1},
    ]
    not_anchor = [
        {"name": "empty", "data_hex": ""},
        {"name": "three_tag_bytes", "data_hex": TAG[:3].hex()},
        {"name": "other_tag", "data_hex": (bytes.fromhex("fe0001ff") + b"\x01\x01" + fe_mint).hex()},
        {"name": "omni_like", "data_hex": (b"omni" + bytes(16)).hex()},
    ]
    return invalid, unsupported, not_anchor


def script_vectors(fe):
    data = envelope(MINT, FRACTAL_VERSION, fe["mint"](hash=MINT_RECORD.hex()).SerializeToString())   # 72 bytes
    assert len(data) == 72
    big = envelope(INVOICE, FRACTAL_VERSION, fe["invoice"](version=1, invoice_hash=INVOICE_RECORD, mint_hash=MINT_RECORD,
                                                           quantity=2**21 - 1).SerializeToString())   # 80 bytes
    assert len(big) == 80
    over = big + b"\x00"
    return [
        {"name": "bare_op_return", "script_hex": "6a", "outcome": "not_anchor"},
        {"name": "op_return_op_0", "script_hex": "6a00", "outcome": "not_anchor"},
        {"name": "not_op_return", "script_hex": "76a914" + "00" * 20 + "88ac", "outcome": "not_anchor"},
        {"name": "empty_script", "script_hex": "", "outcome": "not_anchor"},
        {"name": "pushdata1_header_cut", "script_hex": "6a4c", "outcome": "not_anchor"},
        {"name": "untagged_data", "script_hex": "6a04deadbeef", "outcome": "not_anchor"},
        {"name": "minimal_72", "script_hex": script(data).hex(), "outcome": "message"},
        {"name": "minimal_pushdata1_80", "script_hex": script(big).hex(), "outcome": "message"},
        {"name": "pushdata1_81", "script_hex": ("6a4c51" + over.hex()), "outcome": "invalid", "reason": "anchor_too_large"},
        {"name": "pushdata2_300", "script_hex": ("6a4d2c01" + data.hex()), "outcome": "invalid", "reason": "anchor_too_large"},
        {"name": "push_cut", "script_hex": ("6a48" + data[:40].hex()), "outcome": "invalid", "reason": "truncated_push"},
        {"name": "pushdata1_for_72", "script_hex": ("6a4c48" + data.hex()), "outcome": "invalid", "reason": "non_minimal_push"},
        {"name": "pushdata2_for_72", "script_hex": ("6a4d4800" + data.hex()), "outcome": "invalid", "reason": "non_minimal_push"},
        {"name": "second_push", "script_hex": (script(data) + b"\x01\x00").hex(), "outcome": "invalid", "reason": "extra_script"},
        {"name": "opcode_after_push", "script_hex": (script(data) + b"\x75").hex(), "outcome": "invalid", "reason": "extra_script"},
    ]


def address(version, hash160):
    """Base58Check, for record vectors."""
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    payload = bytes([version]) + hash160
    payload += hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(payload, "big")
    text = ""
    while number:
        number, digit = divmod(number, 58)
        text = alphabet[digit] + text
    return "1" * (len(payload) - len(payload.lstrip(b"\x00"))) + text


# secp256k1, only to derive the test keys' addresses (the vectors need no signing).
_P = 2**256 - 2**32 - 977
_G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
      0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % _P == 0:
        return None
    if a == b:
        slope = 3 * a[0] * a[0] * pow(2 * a[1], _P - 2, _P) % _P
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], _P - 2, _P) % _P
    x = (slope * slope - a[0] - b[0]) % _P
    return x, (slope * (a[0] - x) - a[1]) % _P


def key_address(secret, version=REGTEST_P2PKH):
    """P2PKH address of the compressed public key of a 32-byte secret."""
    point, addend, scalar = None, _G, int.from_bytes(secret, "big")
    while scalar:
        if scalar & 1:
            point = _add(point, addend)
        addend, scalar = _add(addend, addend), scalar >> 1
    public_key = bytes([2 + (point[1] & 1)]) + point[0].to_bytes(32, "big")
    return address(version, hashlib.new("ripemd160", hashlib.sha256(public_key).digest()).digest())


# The record authors: the same secrets TokenRecordTests signs with.
ALICE_SECRET = bytes(range(1, 33))
BOB_SECRET = bytes(range(2, 34))


def record_vectors():
    alice = key_address(ALICE_SECRET)
    bob = key_address(BOB_SECRET)
    vault = address(REGTEST_P2SH, hashlib.new("ripemd160", hashlib.sha256(b"tok vector: vault script").digest()).digest())
    records = [
        ("mint_record", {
            "tok": 1, "type": "mint", "chain": REGTEST_CHAIN, "owner": alice, "supply": "1000000",
            "title": "Harbour Lofts, unit 4", "description": "One share in ten thousand of the building.\nSee the deed.",
            "metadata": {"city": "Z\u00fcrich", "floor": "4", "\u20ac": "euro key", "\U0001F600": "emoji key"},
            "managers": [{"address": bob, "name": "Land registry"}, {"address": vault}],
            "min_approvals": 1, "expiry_height": 1000,
        }),
        ("invoice_record", {
            "tok": 1, "type": "invoice", "chain": REGTEST_CHAIN, "seller": alice, "buyer": bob, "token": "250:1",
            "quantity": "10", "unit_price_koinu": "150000000", "expiry_height": 300,
            "contract_of_sale": "Ten shares, paid in full on chain.",
        }),
        ("sell_offer_record", {
            "tok": 1, "type": "sell_offer", "chain": REGTEST_CHAIN, "seller": alice, "token": "250:1",
            "quantity": "25", "unit_price_koinu": "120000000", "expiry_height": 400, "payee": vault,
        }),
        ("buy_offer_record", {
            "tok": 1, "type": "buy_offer", "chain": REGTEST_CHAIN, "buyer": bob, "token": "250:1",
            "quantity": "40", "max_unit_price_koinu": "150000000", "expiry_height": 400, "memo": "\u00bd now, \u00bd later",
        }),
    ]
    out = []
    for name, record in records:
        canonical = rfc8785.dumps(record)
        out.append({"name": name, "input": json.dumps(record, indent=2, ensure_ascii=True),
                    "canonical": canonical.decode("utf-8"), "sha256": hashlib.sha256(canonical).hexdigest()})
    return out


def jcs_vectors():
    """Inputs in non-canonical text (spaces, escapes, order) and rfc8785's canonical form."""
    texts = [
        ("key_order_utf16", '{"\\ufb33": 1, "\\ud83d\\ude00": 2, "\\u20ac": 3, "z": 4, "a": 5, "": 6, "aa": 7, "A": 8}'),
        ("escapes", '{"s": "\\u0041\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\\"\\\\\\u2028\\u00e9"}'),
        ("integers", '[0, -0, 1, -1, 9007199254740991, -9007199254740991, 1000000]'),
        ("literals_and_nesting", '{ "b" : [ true , false , null , { } , [ ] ] , "a" : { "y" : { "x" : [ ] } } }'),
        ("unicode_text", '{"title": "Zürich – 東京 – 😀"}'),
        ("empty_object", '{}'),
    ]
    out = []
    for name, text in texts:
        canonical = rfc8785.dumps(json.loads(text))
        out.append({"name": name, "input": text, "canonical": canonical.decode("utf-8"),
                    "sha256": hashlib.sha256(canonical).hexdigest()})
    refused = [
        ("real", '{"x": 1.5}'), ("real_integral", '[1.0]'), ("exponent", '[1e2]'),
        ("above_2^53-1", '[9007199254740992]'), ("below_-(2^53-1)", '[-9007199254740992]'),
    ]
    for name, text in refused:
        try:
            rfc8785.dumps(json.loads(text))
            refused_by_rfc8785 = False
        except rfc8785.CanonicalizationError:
            refused_by_rfc8785 = True
        out.append({"name": name, "input": text, "refused": True, "refused_by_rfc8785": refused_by_rfc8785})
    return out


def check_fractal(fe_dir, ours, work):
    """Builds the version-1 vectors with Fractal Engine's own definitions; bytes must match."""
    theirs = compile_protos(fe_dir, ["mint.proto", "invoices.proto", "payment.proto"], os.path.join(work, "fe"))
    fe = {"mint": theirs["mint"].OnChainMintMessage, "invoice": theirs["invoices"].OnChainInvoiceMessage,
          "payment": theirs["payment"].OnChainPaymentMessage}
    mine = {name: message.SerializeToString() for name, _, message, _ in fractal_messages(ours)}
    for name, _, message, _ in fractal_messages(fe):
        if message.SerializeToString() != mine[name]:
            sys.exit(f"{name}: Fractal Engine's definition gives different bytes")
    for (name, message), (_, own) in zip(fractal_oversize(fe), fractal_oversize(ours)):
        if message.SerializeToString() != own.SerializeToString():
            sys.exit(f"{name}: Fractal Engine's definition gives different bytes")
    print(f"fractal engine cross-check: {len(mine) + 3} version-1 payloads identical", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-fractal", metavar="DIR", help="compare version 1 with Fractal Engine's .proto files in DIR")
    parser.add_argument("--output", default=OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        modules = compile_protos(PROTO_DIR, ["fractal_v1.proto", "tok_anchor.proto"], os.path.join(work, "tok"))
        v1 = modules["fractal_v1"]
        fe = {"mint": v1.Mint, "invoice": v1.Invoice, "payment": v1.Payment}
        t = modules["tok_anchor"]
        if args.check_fractal:
            check_fractal(args.check_fractal, fe, work)
        valid = [valid_vector(n, a, FRACTAL_VERSION, m, f) for n, a, m, f in fractal_messages(fe)]
        valid += [valid_vector(n, a, TOK_VERSION, m, f) for n, a, m, f in tok_messages(t)]
        invalid = [{"name": n, "data_hex": envelope(a, v, p).hex(), "reason": r} for n, a, v, p, r in invalid_payloads(t)]
        for row in invalid:
            assert len(row["data_hex"]) <= 160, row["name"]
        more_invalid, unsupported, not_anchor = envelope_vectors(fe, t)
        document = {
            "about": "Golden vectors of man/tok-protocol.7, written by testpeers/gen_protocol_vectors.py; do not edit.",
            "generator": {"protobuf": protobuf_version, "rfc8785": rfc8785.__version__},
            "tag_hex": TAG.hex(), "fractal_version": FRACTAL_VERSION, "tok_version": TOK_VERSION,
            "valid": valid,
            "invalid": invalid + more_invalid,
            "unsupported": unsupported,
            "not_anchor": not_anchor,
            "scripts": script_vectors(fe),
            "canonical_json": jcs_vectors(),
            "records": record_vectors(),
        }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=1, ensure_ascii=False)
        out.write("\n")
    print(f"wrote {args.output}: {len(valid)} valid, {len(document['invalid'])} invalid, "
          f"{len(unsupported)} unsupported, {len(not_anchor)} not ours, {len(document['scripts'])} scripts", file=sys.stderr)


if __name__ == "__main__":
    main()
