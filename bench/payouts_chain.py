#!/usr/bin/env python3
"""Chain-side helpers for bench/payouts.sh (run with .venv-peers/bin/python:
`sign` needs eth_account; the other commands use the standard library only).

  requests  COUNT --prefix P --users N [--quantity WEI] [--max-fee WEI]
            Unsigned ETH payout requests from the local node's funded accounts
            #0..#N-1 (round robin) to fresh addresses, as a client sends them
            before signing (pipe them through `tok-validate --payout-message`).
  sign      Reads tok-validate --payout-message output on stdin and signs each
            record's authorisation_message with its source account's key
            (EIP-191 personal_sign, as MetaMask does); writes the request with
            "signature" instead of the message.
  receipts  --url URL [--batch-size K] FILE
            The peer figure: eth_getTransactionReceipt for every payout_tx.tx
            in FILE (NDJSON), as one JSON-RPC batch (default) or as sequential
            batches of K, timed on one keep-alive HTTP connection. Prints
            "<seconds> <count>"; fails unless every receipt is there.

The node's funded accounts have private keys 1..10 (testpeers/README.md).
"""

import argparse
import http.client
import json
import random
import sys
import time
import urllib.parse

NETWORK_ALIAS = "evm-local"


def funded_key(index):
    return "0x%064x" % (index + 1)


def cmd_requests(args):
    from eth_account import Account

    users = [Account.from_key(funded_key(i)).address for i in range(args.users)]
    rng = random.Random(args.seed)
    expires = int(time.time()) + args.expires_in
    out = []
    for i in range(args.count):
        destination = Account.from_key("0x%064x" % rng.getrandbits(255)).address
        out.append(json.dumps({
            "op": "payout",
            "id": "%s-%d" % (args.prefix, i),
            "source": {"account": users[i % len(users)], "network": NETWORK_ALIAS, "token": "ETH"},
            "destination": {"account": destination, "network": NETWORK_ALIAS, "token": "ETH"},
            "quantity": str(args.quantity),
            "max_fee": str(args.max_fee),
            "expires": expires,
        }, separators=(",", ":")))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


def cmd_sign(args):
    from eth_account import Account
    from eth_account.messages import encode_defunct

    keys = {Account.from_key(funded_key(i)).address.lower(): funded_key(i) for i in range(10)}
    for line in sys.stdin:
        record = json.loads(line)
        message = record.pop("authorisation_message", None)
        if message is None:
            raise SystemExit("payouts_chain sign: record %s has no authorisation_message (rejected by tok-validate?): %s"
                             % (record.get("id"), json.dumps(record.get("error"))))
        source = record["source"]["account"].rsplit(":", 1)[-1].lower()
        signature = Account.sign_message(encode_defunct(text=message), private_key=keys[source]).signature.hex()
        record["signature"] = signature if signature.startswith("0x") else "0x" + signature
        sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")


def cmd_receipts(args):
    hashes = []
    with open(args.file, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if "payout_tx" in record:
                hashes.append(record["payout_tx"]["tx"])
    size = args.batch_size or len(hashes)
    bodies = [json.dumps([{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt", "params": [tx]}
                          for i, tx in enumerate(hashes[start:start + size])]).encode()
              for start in range(0, len(hashes), size)]
    url = urllib.parse.urlsplit(args.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    connection.connect()
    results = []
    start = time.perf_counter()
    for body in bodies:
        connection.request("POST", url.path or "/", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            raise SystemExit("payouts_chain receipts: HTTP %d" % response.status)
        results.append(json.loads(response.read()))
    seconds = time.perf_counter() - start
    connection.close()
    answers = [answer for batch in results for answer in batch]
    missing = [a.get("id") for a in answers if not isinstance(a.get("result"), dict)]
    if len(answers) != len(hashes) or missing:
        raise SystemExit("payouts_chain receipts: %d answers for %d calls, %d without a receipt"
                         % (len(answers), len(hashes), len(missing)))
    print("%.4f %d" % (seconds, len(hashes)))


def main():
    parser = argparse.ArgumentParser(description="Chain-side helpers for tok's payout benchmark.")
    sub = parser.add_subparsers(dest="command", required=True)
    requests = sub.add_parser("requests", help="unsigned payout requests")
    requests.add_argument("count", type=int)
    requests.add_argument("--prefix", required=True, help="request id prefix")
    requests.add_argument("--users", type=int, default=4, help="funded accounts #0..#N-1 pay (1-10)")
    requests.add_argument("--quantity", type=int, default=10**16, help="wei per payout (default 0.01 ETH)")
    requests.add_argument("--max-fee", type=int, default=10**15)
    requests.add_argument("--expires-in", type=int, default=3600, help="seconds from now")
    requests.add_argument("--seed", type=int, default=20261123)
    sub.add_parser("sign", help="sign tok-validate --payout-message output")
    receipts = sub.add_parser("receipts", help="time one eth_getTransactionReceipt batch")
    receipts.add_argument("--url", required=True)
    receipts.add_argument("--batch-size", type=int, default=0, help="calls per request (default: all in one)")
    receipts.add_argument("file")
    args = parser.parse_args()
    if args.command == "requests":
        if args.count < 0 or not 1 <= args.users <= 10:
            parser.error("count must not be negative; users must be 1..10")
        cmd_requests(args)
    elif args.command == "sign":
        cmd_sign(args)
    else:
        cmd_receipts(args)


if __name__ == "__main__":
    main()
