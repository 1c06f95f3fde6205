#!/usr/bin/env python3
"""Small JSON-RPC client for testpeers/evm_node.py, for shell scripts.

Standard library only, so it runs with any python3 (the venv's included).

    evmctl.py --url http://127.0.0.1:PORT call eth_blockNumber
    evmctl.py --url URL call eth_getBalance '["0x7e5f...", "latest"]'
    evmctl.py --url URL accounts | mine N | balance ADDR
    evmctl.py --url URL send-eth FROM TO VALUE
    evmctl.py --url URL deploy-token FROM NAME SYMBOL DECIMALS SUPPLY
    evmctl.py --url URL transfer-token TOKEN FROM TO AMOUNT
    evmctl.py --url URL token-balance TOKEN OWNER
    evmctl.py wait-ready PORTFILE [TIMEOUT]      # prints the node's URL

FROM/TO/OWNER: an account index 0-9 or an address; VALUE/AMOUNT/SUPPLY:
decimal or 0x hex (may exceed 2^64).  The URL defaults to $TOK_EVM_URL, else
http://127.0.0.1:8545.

Output: `call` prints the result as JSON; the convenience commands print a
string result bare (like jq -r) and anything else as JSON; -r / -j force one
way.  Exit status (sysexits): 0 ok, 64 usage, 65 JSON-RPC error (message on
stderr), 69 node unreachable or not ready in time.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

EX_OK, EX_USAGE, EX_DATAERR, EX_UNAVAILABLE = 0, 64, 65, 69


class Unreachable(Exception):
    pass


class RpcFailure(Exception):
    pass


def rpc(url, method, params, timeout):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raise RpcFailure(f"HTTP {exc.code} from {url}") from None
    except (urllib.error.URLError, OSError) as exc:  # refused, timeout, DNS...
        raise Unreachable(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
    try:
        answer = json.loads(raw)
    except ValueError:
        raise RpcFailure(f"not JSON from {url}: {raw[:200]!r}") from None
    if not isinstance(answer, dict):
        raise RpcFailure(f"unexpected answer: {answer!r}")
    if "error" in answer:
        err = answer["error"] or {}
        data = f" (data {err['data']})" if err.get("data") else ""
        raise RpcFailure(f"{method}: {err.get('message')} [code {err.get('code')}]{data}")
    return answer.get("result")


def wait_ready(portfile, timeout, rpc_timeout):
    """Wait for the port file, then for the node to answer. -> URL."""
    deadline = time.monotonic() + timeout
    last = "port file not written yet"
    while time.monotonic() < deadline:  # bounded by the deadline
        try:
            with open(portfile, encoding="ascii") as f:
                text = f.read().strip()
            if text.isdigit():
                url = f"http://127.0.0.1:{int(text)}"
                rpc(url, "web3_clientVersion", [], min(rpc_timeout, 5))
                return url
        except (OSError, Unreachable, RpcFailure) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise Unreachable(f"node not ready after {timeout}s ({last})")


def address_of(url, ref, timeout):
    """An account index 0-9 -> its address (via tokdev_accounts); else as is."""
    if ref.isdigit():
        accounts = rpc(url, "tokdev_accounts", [], timeout)
        if int(ref) >= len(accounts):
            raise RpcFailure(f"no account index {ref}")
        return accounts[int(ref)]["address"]
    return ref


class Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 64 (EX_USAGE), not 2
        self.print_usage(sys.stderr)
        sys.stderr.write(f"evmctl: {message}\n")
        sys.exit(EX_USAGE)


def build_parser():
    ap = Parser(prog="evmctl.py", description="Client for the tok local EVM node.")
    ap.add_argument("--url", default=os.environ.get("TOK_EVM_URL", "http://127.0.0.1:8545"))
    ap.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    out = ap.add_mutually_exclusive_group()
    out.add_argument("-r", "--raw", action="store_true", help="print a string result without quotes")
    out.add_argument("-j", "--json", action="store_true", help="always print JSON")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("call", help="any method: call METHOD [JSON params]")
    c.add_argument("method")
    c.add_argument("params", nargs="?", default="[]", help="JSON array or object (default [])")
    sub.add_parser("accounts", help="the ten funded accounts with their keys")
    m = sub.add_parser("mine", help="mine N blocks, print the new block number")
    m.add_argument("n", nargs="?", default="1")
    s = sub.add_parser("send-eth")
    s.add_argument("frm", metavar="FROM"); s.add_argument("to"); s.add_argument("value")
    d = sub.add_parser("deploy-token")
    d.add_argument("frm", metavar="FROM"); d.add_argument("name"); d.add_argument("symbol")
    d.add_argument("decimals"); d.add_argument("supply")
    t = sub.add_parser("transfer-token")
    t.add_argument("token"); t.add_argument("frm", metavar="FROM"); t.add_argument("to"); t.add_argument("amount")
    b = sub.add_parser("token-balance")
    b.add_argument("token"); b.add_argument("owner")
    e = sub.add_parser("balance", help="wei balance at latest, hex; ADDR may be an index 0-9")
    e.add_argument("addr")
    w = sub.add_parser("wait-ready", help="wait for PORTFILE and a live node; print its URL")
    w.add_argument("portfile"); w.add_argument("wait_timeout", nargs="?", type=float, default=30.0)
    return ap


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    bare = True  # convenience commands print strings bare
    try:
        if args.cmd == "wait-ready":
            result = wait_ready(args.portfile, args.wait_timeout, args.timeout)
        elif args.cmd == "call":
            try:
                params = json.loads(args.params)
            except ValueError as exc:
                parser.error(f"params are not JSON: {exc}")
            bare = False
            result = rpc(args.url, args.method, params, args.timeout)
        else:
            method, params = {
                "accounts": lambda: ("tokdev_accounts", []),
                "mine": lambda: ("evm_mine", [args.n]),
                "send-eth": lambda: ("tokdev_sendEth", [{"from": args.frm, "to": args.to, "value": args.value}]),
                "deploy-token": lambda: ("tokdev_deployToken", [{
                    "from": args.frm, "name": args.name, "symbol": args.symbol,
                    "decimals": args.decimals, "supply": args.supply}]),
                "transfer-token": lambda: ("tokdev_transferToken", [{
                    "token": args.token, "from": args.frm, "to": args.to, "amount": args.amount}]),
                "token-balance": lambda: ("tokdev_tokenBalance", [{"token": args.token, "owner": args.owner}]),
                "balance": lambda: ("eth_getBalance", [address_of(args.url, args.addr, args.timeout), "latest"]),
            }[args.cmd]()
            result = rpc(args.url, method, params, args.timeout)
    except Unreachable as exc:
        sys.stderr.write(f"evmctl: {exc}\n")
        return EX_UNAVAILABLE
    except RpcFailure as exc:
        sys.stderr.write(f"evmctl: {exc}\n")
        return EX_DATAERR
    if args.raw:
        bare = True
    elif args.json:
        bare = False
    if bare and isinstance(result, str):
        print(result)
    else:
        print(json.dumps(result, indent=None if not isinstance(result, (list, dict)) else 2))
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
