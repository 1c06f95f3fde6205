"""What the bench generators share to write tokenisation anchors and addresses
(stdlib only): the envelope, canonical proto3 payloads and Base58Check."""

import hashlib

ENVELOPE = bytes.fromhex("fe0001fe")
TOK_VERSION = 0x74
ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def envelope_message(action, fields):
    """The envelope and a canonical proto3 payload: fields (number, int | 32 bytes) in ascending order."""
    payload = bytearray()
    for number, value in fields:
        if isinstance(value, bytes):
            payload += varint(number << 3 | 2) + varint(len(value)) + value
        else:
            assert value > 0, "proto3 never writes a default"
            payload += varint(number << 3) + varint(value)
    return ENVELOPE + bytes([action, TOK_VERSION]) + bytes(payload)


def base58check(payload):
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number, text = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = ALPHABET[digit] + text
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + text
