#!/usr/bin/env python3
"""Self-test of testpeers/evm_node.py over real HTTP.

    bash scripts/peers-venv.sh && .venv-peers/bin/python testpeers/selftest.py

Starts the node on a free loopback port, exercises every method (standard,
dev, batch and error paths, externally signed legacy and EIP-1559 raw
transactions, a token deploy/transfer, a snapshot/revert reorg, concurrent
clients, evmctl.py), stops it with SIGTERM, and ends with the line
"N passed, M failed".  Exit status 0 only if nothing failed.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from eth_account import Account
from eth_account.messages import encode_defunct

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = os.path.join(HERE, "evm_node.py")
EVMCTL = os.path.join(HERE, "evmctl.py")
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
CHAIN_ID = 131277322940537
STARTUP_TIMEOUT = 60


class RpcErr(Exception):
    def __init__(self, err):
        super().__init__(f"{err.get('code')}: {err.get('message')}")
        self.code = err.get("code")
        self.message = err.get("message", "")
        self.data = err.get("data")


class Client:
    def __init__(self, url):
        self.url = url
        self.next_id = 0

    def post(self, body):
        """Raw POST -> (HTTP status, body bytes)."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def __call__(self, method, *params):
        self.next_id += 1
        status, body = self.post({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": list(params)})
        if status != 200:
            raise AssertionError(f"HTTP {status} for {method}")
        answer = json.loads(body)
        assert answer.get("jsonrpc") == "2.0" and answer.get("id") == self.next_id, answer
        if "error" in answer:
            raise RpcErr(answer["error"])
        return answer["result"]

    def error_of(self, method, *params):
        try:
            result = self(method, *params)
        except RpcErr as err:
            return err
        raise AssertionError(f"{method} succeeded ({result!r}) but an error was expected")


def eq(got, want, what=""):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def is_quantity(v):
    return isinstance(v, str) and v.startswith("0x") and len(v) > 2 and (v == "0x0" or v[2] != "0") \
        and all(c in "0123456789abcdef" for c in v[2:])


def is_data(v, size=None):
    ok = isinstance(v, str) and v.startswith("0x") and len(v) % 2 == 0 \
        and all(c in "0123456789abcdef" for c in v[2:])
    return ok and (size is None or len(v) == 2 + 2 * size)


def pad_topic(addr):
    return "0x" + "00" * 12 + addr.lower()[2:]


class SelfTest:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.s = {}  # state shared between checks

    def check(self, name, fn):
        try:
            fn()
        except Exception as exc:  # any failure, assertion or not, is reported
            self.failed += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}", flush=True)
        else:
            self.passed += 1
            print(f"ok   {name}", flush=True)

    # -- node lifecycle --------------------------------------------------------

    def start(self):
        self.tmp = tempfile.mkdtemp(prefix="tok-evm-selftest-")
        self.port_file = os.path.join(self.tmp, "port")
        self.log = open(os.path.join(self.tmp, "node.log"), "w+")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, NODE, "--host", "127.0.0.1", "--port", "0", "--port-file", self.port_file],
            stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = t0 + STARTUP_TIMEOUT
        while not os.path.exists(self.port_file):  # bounded by the deadline
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"node did not start:\n{self.node_log()}")
            time.sleep(0.02)
        self.startup = time.monotonic() - t0
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.url = f"http://127.0.0.1:{self.port}"
        self.rpc = Client(self.url)
        print(f"node ready in {self.startup:.2f}s on {self.url}", flush=True)

    def node_log(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("node ignored SIGTERM for 15s")
        eq(self.proc.returncode, 0, "exit status after SIGTERM")
        assert not os.path.exists(self.port_file), "port file left behind"

    # -- helpers -------------------------------------------------------------------

    def receipt(self, tx_hash):
        r = self.rpc("eth_getTransactionReceipt", tx_hash)
        assert r is not None, f"no receipt for {tx_hash}"
        return r

    def balance(self, addr, tag="latest"):
        return int(self.rpc("eth_getBalance", addr, tag), 16)

    def nonce(self, addr, tag="latest"):
        return int(self.rpc("eth_getTransactionCount", addr, tag), 16)

    def base_fee(self):
        return int(self.rpc("eth_getBlockByNumber", "pending", False)["baseFeePerGas"], 16)

    # -- checks ----------------------------------------------------------------------

    def run(self):
        c = self.check
        c("web3_clientVersion", self.t_client_version)
        c("net_version / eth_chainId", self.t_chain_id)
        c("eth_blockNumber at genesis", lambda: eq(self.rpc("eth_blockNumber"), "0x0", "blockNumber"))
        c("tokdev_accounts", self.t_accounts)
        c("eth_getBlockByNumber tags and shapes", self.t_blocks)
        c("unknown block/tx/receipt -> null", self.t_nulls)
        c("eth_getBalance / eth_getCode / eth_getTransactionCount", self.t_state)
        c("fee methods (gasPrice, maxPriorityFee, feeHistory)", self.t_fees)
        c("tokdev_sendEth native transfer", self.t_send_eth)
        c("transaction and receipt shapes (type 2)", self.t_tx_shapes)
        c("eth_getBlockByHash full transactions", self.t_block_by_hash)
        c("tokdev_deployToken", self.t_deploy)
        c("eth_call name/symbol/decimals/totalSupply", self.t_token_calls)
        c("tokdev_transferToken + Transfer log", self.t_transfer)
        c("token amount above 2^64", self.t_big_amount)
        c("eth_getLogs filters", self.t_logs)
        c("eth_estimateGas", self.t_estimate)
        c("eth_call revert -> -32000 with reason", self.t_call_revert)
        c("externally signed legacy EIP-155 raw tx", self.t_raw_legacy)
        c("externally signed type-2 raw tx", self.t_raw_type2)
        c("externally signed type-1 raw tx with access list", self.t_raw_type1)
        c("reverting raw tx is mined with status 0x0", self.t_failed_tx)
        c("re-sent raw tx returns the same hash", self.t_resend)
        c("raw tx rejections (chain id, unprotected, nonce, funds, garbage)", self.t_raw_rejects)
        c("batch requests", self.t_batch)
        c("JSON-RPC error codes", self.t_errors)
        c("notifications get no response", self.t_notifications)
        c("manual mining (tokdev_setAutoMine false, evm_mine)", self.t_manual_mining)
        c("evm_mine count", self.t_mine)
        c("evm_snapshot / evm_revert reorg", self.t_reorg)
        c("safe/finalized with tokdev_setFinalityLag", self.t_finality)
        c("tokdev_personalSign (EIP-191)", self.t_personal_sign)
        c("tokdev_newAccount", self.t_new_account)
        c("concurrent clients", self.t_concurrency)
        c("evmctl.py", self.t_evmctl)

    def t_client_version(self):
        v = self.rpc("web3_clientVersion")
        assert isinstance(v, str) and v.startswith("tok-evm-node/") and "py-evm" in v, v

    def t_chain_id(self):
        eq(self.rpc("net_version"), str(CHAIN_ID), "net_version")
        eq(self.rpc("eth_chainId"), hex(CHAIN_ID), "eth_chainId")

    def t_accounts(self):
        accts = self.rpc("tokdev_accounts")
        eq(len(accts), 10, "account count")
        for i, a in enumerate(accts):
            eq(set(a), {"address", "privateKey"}, "account fields")
            eq(Account.from_key(a["privateKey"]).address, a["address"], "key matches EIP-55 address")
            eq(int(a["privateKey"], 16), i + 1, "eth-tester default keys 1..10")
        self.s["accts"] = accts
        self.s["addr"] = [a["address"] for a in accts]
        self.s["key"] = [a["privateKey"] for a in accts]

    def t_blocks(self):
        latest = self.rpc("eth_getBlockByNumber", "latest", False)
        for tag in ("earliest", "safe", "finalized", "0x0"):
            eq(self.rpc("eth_getBlockByNumber", tag, False)["hash"], latest["hash"], tag)
        pending = self.rpc("eth_getBlockByNumber", "pending", True)
        eq(pending["number"], "0x1", "pending number")
        eq(pending["hash"], None, "pending hash is null (geth)")
        for k in ("number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas", "size", "difficulty"):
            assert is_quantity(latest[k]), (k, latest[k])
        for k in ("hash", "parentHash", "stateRoot", "transactionsRoot", "receiptsRoot", "mixHash"):
            assert is_data(latest[k], 32), (k, latest[k])
        assert is_data(latest["logsBloom"], 256)
        assert is_data(latest["miner"], 20) and latest["miner"] == latest["miner"].lower()
        eq(latest["transactions"], [], "genesis transactions")
        self.s["genesis"] = latest["hash"]

    def t_nulls(self):
        zero32 = "0x" + "11" * 32
        eq(self.rpc("eth_getBlockByNumber", "0x99999", False), None, "future block")
        eq(self.rpc("eth_getBlockByHash", zero32, False), None, "unknown block hash")
        eq(self.rpc("eth_getTransactionByHash", zero32), None, "unknown tx")
        eq(self.rpc("eth_getTransactionReceipt", zero32), None, "unknown receipt")

    def t_state(self):
        a0 = self.s["addr"][0]
        eq(self.balance(a0), 10**24, "funded balance (1,000,000 ETH)")
        eq(self.balance(a0.lower(), "earliest"), 10**24, "balance at earliest, lowercase address")
        eq(self.rpc("eth_getCode", a0, "latest"), "0x", "EOA code")
        eq(self.rpc("eth_getTransactionCount", a0, "latest"), "0x0", "nonce")
        eq(self.rpc("eth_getTransactionCount", a0, "pending"), "0x0", "pending nonce")
        err = self.rpc.error_of("eth_getBalance", a0, "0x999")
        eq(err.code, -32000, "state of a future block")

    def t_fees(self):
        tip = int(self.rpc("eth_maxPriorityFeePerGas"), 16)
        eq(tip, 10**9, "maxPriorityFeePerGas")
        eq(int(self.rpc("eth_gasPrice"), 16), self.base_fee() + tip, "gasPrice = next base fee + tip")
        fh = self.rpc("eth_feeHistory", "0x4", "latest", [25, 75])
        eq(fh["oldestBlock"], "0x0", "oldestBlock at genesis")
        eq(len(fh["baseFeePerGas"]), 2, "baseFeePerGas has blocks+1 entries")
        eq(len(fh["gasUsedRatio"]), 1, "gasUsedRatio")
        eq(fh["reward"], [["0x0", "0x0"]], "rewards of an empty block")

    def t_send_eth(self):
        a0, a1 = self.s["addr"][0], self.s["addr"][1]
        before0, before1 = self.balance(a0), self.balance(a1)
        value = 12345 * 10**15
        h = self.rpc("tokdev_sendEth", {"from": 0, "to": a1, "value": str(value)})
        assert is_data(h, 32), h
        r = self.receipt(h)
        eq(r["status"], "0x1", "status")
        eq(r["blockNumber"], "0x1", "auto-mined into block 1")
        eq(self.rpc("eth_blockNumber"), "0x1", "blockNumber")
        eq(self.balance(a1) - before1, value, "recipient credited exactly")
        fee = int(r["gasUsed"], 16) * int(r["effectiveGasPrice"], 16)
        eq(before0 - self.balance(a0), value + fee, "sender debited value + fee")
        eq(self.nonce(a0), 1, "sender nonce")
        # index form of `to` and hex value
        h2 = self.rpc("tokdev_sendEth", {"from": a0, "to": "2", "value": "0x10"})
        eq(self.receipt(h2)["to"], self.s["addr"][2].lower(), "to by index")
        self.s["eth_tx"] = h

    def t_tx_shapes(self):
        h = self.s["eth_tx"]
        tx = self.rpc("eth_getTransactionByHash", h)
        r = self.receipt(h)
        want_tx = {"hash", "nonce", "blockHash", "blockNumber", "transactionIndex", "from", "to", "value", "gas",
                   "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "input", "type", "chainId", "v", "r", "s"}
        missing = want_tx - set(tx)
        assert not missing, f"tx lacks {missing}"
        eq(tx["type"], "0x2", "type")
        eq(tx["chainId"], hex(CHAIN_ID), "chainId")
        eq(tx["from"], self.s["addr"][0].lower(), "from lowercase")
        eq(tx["input"], "0x", "input")
        eq(tx["blockHash"], r["blockHash"], "tx/receipt blockHash")
        for k in ("nonce", "value", "gas", "gasPrice", "maxFeePerGas", "v", "r", "s", "blockNumber", "transactionIndex"):
            assert is_quantity(tx[k]), (k, tx[k])
        want_r = {"transactionHash", "transactionIndex", "blockHash", "blockNumber", "from", "to", "contractAddress",
                  "cumulativeGasUsed", "gasUsed", "effectiveGasPrice", "status", "logs", "type", "logsBloom"}
        missing = want_r - set(r)
        assert not missing, f"receipt lacks {missing}"
        eq(r["gasUsed"], "0x5208", "21000 gas")
        eq(r["contractAddress"], None, "contractAddress")
        eq(r["logs"], [], "logs")
        eq(r["type"], "0x2", "receipt type")
        eq(tx["gasPrice"], r["effectiveGasPrice"], "mined gasPrice = effective price")

    def t_block_by_hash(self):
        r = self.receipt(self.s["eth_tx"])
        b = self.rpc("eth_getBlockByHash", r["blockHash"], True)
        eq(b["number"], r["blockNumber"], "number")
        eq([t["hash"] for t in b["transactions"]], [self.s["eth_tx"]], "full tx objects")
        b2 = self.rpc("eth_getBlockByNumber", r["blockNumber"], False)
        eq(b2["transactions"], [self.s["eth_tx"]], "hashes only")
        eq(b2["hash"], r["blockHash"], "same block by number")
        eq(b["parentHash"], self.s["genesis"], "parent is genesis")

    def t_deploy(self):
        res = self.rpc("tokdev_deployToken", {"from": 0, "name": "Tok Test", "symbol": "TTK",
                                               "decimals": 18, "supply": str(10**30)})
        eq(set(res), {"address", "txHash"}, "result fields")
        r = self.receipt(res["txHash"])
        eq(r["status"], "0x1", "deploy status")
        eq(r["contractAddress"], res["address"].lower(), "contractAddress")
        eq(r["to"], None, "creation has no to")
        assert len(self.rpc("eth_getCode", res["address"], "latest")) > 1000, "code deployed"
        eq(int(self.rpc("tokdev_tokenBalance", {"token": res["address"], "owner": 0}), 16), 10**30, "supply")
        mint = r["logs"][0]
        eq(mint["topics"], [TRANSFER_TOPIC, "0x" + "00" * 32, pad_topic(self.s["addr"][0])], "mint Transfer log")
        self.s["token"] = res["address"]

    def t_token_calls(self):
        token = self.s["token"]

        def call(selector):
            return self.rpc("eth_call", {"to": token, "data": "0x" + selector}, "latest")
        from eth_abi import decode
        eq(decode(["string"], bytes.fromhex(call("06fdde03")[2:]))[0], "Tok Test", "name()")
        eq(decode(["string"], bytes.fromhex(call("95d89b41")[2:]))[0], "TTK", "symbol()")
        eq(int(call("313ce567"), 16), 18, "decimals()")
        eq(int(call("18160ddd"), 16), 10**30, "totalSupply()")
        # eth_call with an `input` field and a from, at "pending"
        out = self.rpc("eth_call", {"from": self.s["addr"][5], "to": token, "input": "0x313ce567"}, "pending")
        eq(int(out, 16), 18, "decimals() via input at pending")

    def t_transfer(self):
        token, a0, a3 = self.s["token"], self.s["addr"][0], self.s["addr"][3]
        h = self.rpc("tokdev_transferToken", {"token": token, "from": 0, "to": a3, "amount": "1000"})
        r = self.receipt(h)
        eq(r["status"], "0x1", "status")
        eq(len(r["logs"]), 1, "one log")
        lg = r["logs"][0]
        eq(lg["address"], token.lower(), "log address")
        eq(lg["topics"], [TRANSFER_TOPIC, pad_topic(a0), pad_topic(a3)], "topics")
        eq(int(lg["data"], 16), 1000, "data = amount")
        eq(len(lg["data"]), 66, "data is one 32-byte word")
        for k, v in (("blockHash", r["blockHash"]), ("blockNumber", r["blockNumber"]),
                     ("transactionHash", h), ("transactionIndex", "0x0"), ("logIndex", "0x0"), ("removed", False)):
            eq(lg[k], v, f"log {k}")
        tx = self.rpc("eth_getTransactionByHash", h)
        eq(tx["input"][:10], "0xa9059cbb", "transfer selector")
        eq(tx["to"], token.lower(), "tx to token")
        eq(self.rpc("tokdev_tokenBalance", {"token": token, "owner": a3}), "0x3e8", "recipient balance")
        self.s["transfer_tx"], self.s["transfer_block"] = h, r["blockNumber"]

    def t_big_amount(self):
        token, a4 = self.s["token"], self.s["addr"][4]
        amount = 2**70 + 12345
        h = self.rpc("tokdev_transferToken", {"token": token, "from": "0", "to": 4, "amount": hex(amount)})
        eq(int(self.receipt(h)["logs"][0]["data"], 16), amount, "log amount")
        eq(int(self.rpc("tokdev_tokenBalance", {"token": token, "owner": a4}), 16), amount, "balance")
        big_eth = 3 * 10**20  # 300 ETH in wei > 2^64
        before = self.balance(a4)
        self.receipt(self.rpc("tokdev_sendEth", {"from": 1, "to": a4, "value": str(big_eth)}))
        eq(self.balance(a4) - before, big_eth, "wei above 2^64")

    def t_logs(self):
        token = self.s["token"]
        a0, a3 = self.s["addr"][0], self.s["addr"][3]
        all_logs = self.rpc("eth_getLogs", {"fromBlock": "earliest", "toBlock": "latest", "address": token})
        eq(len(all_logs), 3, "mint + two transfers")
        eq([lg["topics"][0] for lg in all_logs], [TRANSFER_TOPIC] * 3, "all Transfer")
        blocks = [int(lg["blockNumber"], 16) for lg in all_logs]
        assert blocks == sorted(blocks), "logs in chain order"
        to_a3 = self.rpc("eth_getLogs", {"fromBlock": "0x0", "topics": [TRANSFER_TOPIC, None, pad_topic(a3)]})
        eq([lg["transactionHash"] for lg in to_a3], [self.s["transfer_tx"]], "filter on topics[2]")
        either = self.rpc("eth_getLogs", {"fromBlock": "0x0", "address": [token, "0x" + "22" * 20],
                                          "topics": [[TRANSFER_TOPIC, "0x" + "33" * 32], pad_topic(a0)]})
        eq(len(either), 2, "OR within a position, AND across")
        eq(self.rpc("eth_getLogs", {"fromBlock": "0x0", "topics": ["0x" + "44" * 32]}), [], "no match")
        by_hash = self.rpc("eth_getLogs", {"blockHash": all_logs[1]["blockHash"]})
        eq(by_hash, [all_logs[1]], "blockHash filter")
        one = self.rpc("eth_getLogs", {"fromBlock": self.s["transfer_block"], "toBlock": self.s["transfer_block"]})
        eq(len(one), 1, "single block range")
        eq(self.rpc("eth_getLogs", {}), [], "default range is latest only")
        err = self.rpc.error_of("eth_getLogs", {"fromBlock": "0x5", "toBlock": "0x2"})
        eq(err.code, -32602, "from > to")

    def t_estimate(self):
        a0, a1 = self.s["addr"][0], self.s["addr"][1]
        eq(self.rpc("eth_estimateGas", {"from": a0, "to": a1, "value": "0x1"}), "0x5208", "plain transfer")
        data = "0xa9059cbb" + "00" * 12 + a1[2:].lower() + "%064x" % 5
        g = int(self.rpc("eth_estimateGas", {"from": a0, "to": self.s["token"], "data": data}), 16)
        assert 21000 < g < 100000, g
        err = self.rpc.error_of("eth_estimateGas", {"from": a1, "to": self.s["token"], "data":
                                "0xa9059cbb" + "00" * 12 + a0[2:].lower() + "%064x" % 10**40})
        eq(err.code, -32000, "estimate of a reverting transfer")
        assert "exceeds balance" in err.message, err.message

    def t_call_revert(self):
        a0 = self.s["addr"][0]
        data = "0xa9059cbb" + "00" * 12 + a0[2:].lower() + "%064x" % 1
        err = self.rpc.error_of("eth_call", {"from": self.s["addr"][9], "to": self.s["token"], "data": data}, "latest")
        eq(err.code, -32000, "code")
        assert err.message.startswith("execution reverted") and "exceeds balance" in err.message, err.message
        assert is_data(err.data) and err.data.startswith("0x08c379a0"), err.data

    def _signed(self, i, tx):
        return Account.sign_transaction(tx, self.s["key"][i])

    def t_raw_legacy(self):
        a5, a6 = self.s["addr"][5], self.s["addr"][6]
        nonce = self.nonce(a5, "pending")
        signed = self._signed(5, {"chainId": CHAIN_ID, "nonce": nonce, "to": a6, "value": 777,
                                  "gas": 21000, "gasPrice": 2 * self.base_fee()})
        before = self.balance(a6)
        h = self.rpc("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
        eq(h, "0x" + signed.hash.hex(), "hash = keccak(raw)")
        r = self.receipt(h)
        eq(r["status"], "0x1", "status")
        eq(r["type"], "0x0", "legacy receipt type")
        tx = self.rpc("eth_getTransactionByHash", h)
        eq(tx["type"], "0x0", "type")
        eq(tx["chainId"], hex(CHAIN_ID), "chainId derived from v")
        assert int(tx["v"], 16) in (CHAIN_ID * 2 + 35, CHAIN_ID * 2 + 36), tx["v"]
        eq(int(tx["r"], 16), signed.r, "r")
        eq(int(tx["s"], 16), signed.s, "s")
        assert "maxFeePerGas" not in tx
        eq(self.balance(a6) - before, 777, "value arrived")
        self.s["legacy_raw"] = "0x" + signed.raw_transaction.hex()

    def t_raw_type2(self):
        a6, a7 = self.s["addr"][6], self.s["addr"][7]
        base = self.base_fee()
        signed = self._signed(6, {"type": 2, "chainId": CHAIN_ID, "nonce": self.nonce(a6, "pending"), "to": a7,
                                  "value": 10**18, "gas": 21000, "maxFeePerGas": 2 * base + 10**9,
                                  "maxPriorityFeePerGas": 10**9})
        h = self.rpc("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
        eq(h, "0x" + signed.hash.hex(), "hash")
        r = self.receipt(h)
        eq(r["status"], "0x1", "status")
        tx = self.rpc("eth_getTransactionByHash", h)
        eq(tx["type"], "0x2", "type")
        eq(int(tx["maxFeePerGas"], 16), 2 * base + 10**9, "maxFeePerGas")
        eq(int(tx["maxPriorityFeePerGas"], 16), 10**9, "maxPriorityFeePerGas")
        block = self.rpc("eth_getBlockByNumber", r["blockNumber"], False)
        eq(int(r["effectiveGasPrice"], 16), int(block["baseFeePerGas"], 16) + 10**9, "effective price")
        eq(tx["accessList"], [], "accessList")
        assert tx["yParity"] in ("0x0", "0x1") and tx["v"] == tx["yParity"]
        self.s["type2_raw"] = "0x" + signed.raw_transaction.hex()
        self.s["type2_hash"] = h

    def t_raw_type1(self):
        a7 = self.s["addr"][7]
        slot = "0x" + "00" * 31 + "01"
        signed = self._signed(7, {"type": 1, "chainId": CHAIN_ID, "nonce": self.nonce(a7, "pending"),
                                  "to": self.s["token"], "value": 0, "gas": 30000, "gasPrice": 2 * self.base_fee(),
                                  "accessList": [{"address": self.s["token"], "storageKeys": [slot]}]})
        h = self.rpc("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
        eq(h, "0x" + signed.hash.hex(), "hash")
        tx = self.rpc("eth_getTransactionByHash", h)
        eq(tx["type"], "0x1", "type")
        eq(tx["accessList"], [{"address": self.s["token"].lower(), "storageKeys": [slot]}], "accessList")
        assert "gasPrice" in tx and "maxFeePerGas" not in tx
        eq(self.receipt(h)["type"], "0x1", "receipt type")

    def t_failed_tx(self):
        a8 = self.s["addr"][8]
        data = bytes.fromhex("a9059cbb" + "00" * 12 + a8[2:].lower() + "%064x" % 10**40)
        signed = self._signed(8, {"type": 2, "chainId": CHAIN_ID, "nonce": self.nonce(a8, "pending"),
                                  "to": self.s["token"], "value": 0, "gas": 100000, "data": data,
                                  "maxFeePerGas": 2 * self.base_fee() + 10**9, "maxPriorityFeePerGas": 10**9})
        r = self.receipt(self.rpc("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex()))
        eq(r["status"], "0x0", "status")
        eq(r["logs"], [], "no logs")
        assert 21000 < int(r["gasUsed"], 16) < 100000, r["gasUsed"]
        eq(r["logsBloom"], "0x" + "00" * 256, "empty bloom")

    def t_resend(self):
        head = self.rpc("eth_blockNumber")
        for raw in (self.s["legacy_raw"], self.s["type2_raw"]):
            h = self.rpc("eth_sendRawTransaction", raw)
            assert is_data(h, 32)
        eq(self.rpc("eth_sendRawTransaction", self.s["type2_raw"]), self.s["type2_hash"], "same hash")
        eq(self.rpc("eth_blockNumber"), head, "nothing mined twice")

    def t_raw_rejects(self):
        a8, a9 = self.s["addr"][8], self.s["addr"][9]
        n = self.nonce(a8, "pending")
        gp = 2 * self.base_fee()

        def send(tx, i=8):
            return self.rpc.error_of("eth_sendRawTransaction", "0x" + self._signed(i, tx).raw_transaction.hex())
        base = {"nonce": n, "to": a9, "value": 1, "gas": 21000, "gasPrice": gp}
        err = send(dict(base, chainId=1))
        eq(err.code, -32000, "wrong chain id (legacy)")
        assert "chain id" in err.message, err.message
        err = send({"type": 2, "chainId": 5, "nonce": n, "to": a9, "value": 1, "gas": 21000,
                    "maxFeePerGas": gp, "maxPriorityFeePerGas": 1})
        eq(err.code, -32000, "wrong chain id (type 2)")
        err = send(base)  # no chainId: pre-EIP-155
        assert err.code == -32000 and "replay-protected" in err.message, err
        if n == 0:  # make a nonce-too-low case
            self.receipt(self.rpc("tokdev_sendEth", {"from": 8, "to": 9, "value": "1"}))
        err = send(dict(base, chainId=CHAIN_ID, nonce=0))
        assert err.code == -32000 and "nonce too low" in err.message, err
        err = send(dict(base, chainId=CHAIN_ID, nonce=self.nonce(a8, "pending") + 5))
        assert err.code == -32000 and "nonce too high" in err.message, err
        err = send(dict(base, chainId=CHAIN_ID, nonce=self.nonce(a8, "pending"), value=10**30))
        assert err.code == -32000 and "insufficient funds" in err.message, err
        err = self.rpc.error_of("eth_sendRawTransaction", "0x02c0ffee")
        eq(err.code, -32000, "undecodable")
        err = self.rpc.error_of("eth_sendRawTransaction", "0xzz")
        eq(err.code, -32602, "not hex")

    def t_batch(self):
        status, body = self.rpc.post([
            {"jsonrpc": "2.0", "id": "a", "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "no_such_method", "params": []},
            {"jsonrpc": "2.0", "id": 3},
            {"jsonrpc": "2.0", "id": 4, "method": "eth_getBalance", "params": ["0x12"]},
            {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []},  # notification: no entry
            {"jsonrpc": "2.0", "id": None, "method": "eth_blockNumber"},
            5,
        ])
        eq(status, 200, "HTTP status")
        out = json.loads(body)
        assert isinstance(out, list), out
        eq([o.get("id") for o in out], ["a", 2, 3, 4, None, None], "ids in order")
        eq(out[0]["result"], hex(CHAIN_ID), "first result")
        eq(out[1]["error"]["code"], -32601, "unknown method")
        eq(out[2]["error"]["code"], -32600, "no method")
        eq(out[3]["error"]["code"], -32602, "bad params")
        assert is_quantity(out[4]["result"]), out[4]
        eq(out[5]["error"]["code"], -32600, "non-object entry")
        status, body = self.rpc.post(b"[]")
        out = json.loads(body)
        assert isinstance(out, dict) and out["error"]["code"] == -32600 and out["id"] is None, out
        # a batch of dev calls is executed in order
        status, body = self.rpc.post([
            {"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber"},
        ])
        out = json.loads(body)
        eq(out[0]["result"], out[1]["result"], "mine then blockNumber")

    def t_errors(self):
        for raw in (b"{not json", b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[NaN]}'):
            status, body = self.rpc.post(raw)
            out = json.loads(body)
            eq((status, out["error"]["code"], out["id"]), (200, -32700, None), f"parse error for {raw!r}")
        for bad in ({"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}, {"id": 1, "method": "eth_chainId"},
                    {"jsonrpc": "2.0", "id": 1, "method": 5}, {"jsonrpc": "2.0", "id": 1, "method": "x", "params": 3}):
            out = json.loads(self.rpc.post(bad)[1])
            eq(out["error"]["code"], -32600, f"invalid request {bad}")
        eq(self.rpc.error_of("eth_foo").code, -32601, "method not found")
        for method, params in (("eth_getBalance", ["0x1234", "latest"]),
                               ("eth_getBlockByNumber", ["0x01", False]),  # leading zero
                               ("eth_getBlockByNumber", ["latest", "yes"]),
                               ("eth_getBlockByNumber", [1, False]),
                               ("eth_getTransactionByHash", ["0x12"]),
                               ("eth_blockNumber", [1]),
                               ("tokdev_sendEth", [{"from": 0, "to": 1}]),
                               ("tokdev_sendEth", [{"from": 0, "to": 1, "value": "-1"}]),
                               ("tokdev_sendEth", [{"from": 11, "to": 1, "value": "1"}]),
                               ("tokdev_sendEth", [{"from": "0x" + "55" * 20, "to": 1, "value": "1"}]),
                               ("evm_mine", [0])):
            err = self.rpc.error_of(method, *params)
            eq(err.code, -32602, f"{method} {params}")
        status, _ = self.rpc.post(b"x" * 10)  # still a parse error, not a crash
        eq(status, 200, "garbage body")
        req = urllib.request.Request(self.url)
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("GET accepted")
        except urllib.error.HTTPError as exc:
            eq(exc.code, 405, "GET")

    def t_notifications(self):
        status, body = self.rpc.post({"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []})
        eq((status, body), (204, b""), "single notification")
        status, body = self.rpc.post([{"jsonrpc": "2.0", "method": "eth_blockNumber"}])
        eq((status, body), (204, b""), "batch of notifications")

    def t_manual_mining(self):
        a2, a3 = self.s["addr"][2], self.s["addr"][3]
        eq(self.rpc("tokdev_setAutoMine", False), False, "auto-mine off")
        try:
            head = int(self.rpc("eth_blockNumber"), 16)
            n = self.nonce(a2)
            hashes = [self.rpc("tokdev_sendEth", {"from": 2, "to": a3, "value": str(v)}) for v in (1, 2)]
            raw = self._signed(2, {"chainId": CHAIN_ID, "nonce": n + 2, "to": a3, "value": 3,
                                   "gas": 21000, "gasPrice": 2 * self.base_fee()})
            hashes.append(self.rpc("eth_sendRawTransaction", "0x" + raw.raw_transaction.hex()))
            eq(int(self.rpc("eth_blockNumber"), 16), head, "nothing mined yet")
            for h in hashes:
                eq(self.rpc("eth_getTransactionReceipt", h), None, "no receipt while pending")
                tx = self.rpc("eth_getTransactionByHash", h)
                eq((tx["blockHash"], tx["blockNumber"], tx["transactionIndex"]), (None, None, None), "pending tx")
            eq(self.nonce(a2, "latest"), n, "latest nonce unchanged")
            eq(self.nonce(a2, "pending"), n + 3, "pending nonce counts pending txs")
            pend = self.rpc("eth_getBlockByNumber", "pending", False)
            eq(pend["transactions"], hashes, "pending block lists them")
            eq(self.rpc("evm_mine"), hex(head + 1), "evm_mine returns the new number")
            rs = [self.receipt(h) for h in hashes]
            eq({r["blockNumber"] for r in rs}, {hex(head + 1)}, "one block")
            eq([r["transactionIndex"] for r in rs], ["0x0", "0x1", "0x2"], "indexes")
            eq([r["status"] for r in rs], ["0x1"] * 3, "statuses")
            cum = [int(r["cumulativeGasUsed"], 16) for r in rs]
            eq(cum, [21000, 42000, 63000], "cumulativeGasUsed")
            # pending txs are mined when auto-mine is switched back on
            h = self.rpc("tokdev_sendEth", {"from": 2, "to": a3, "value": "4"})
            eq(self.rpc("eth_getTransactionReceipt", h), None, "pending again")
        finally:
            eq(self.rpc("tokdev_setAutoMine", True), True, "auto-mine on")
        eq(self.receipt(h)["status"], "0x1", "mined on switching auto-mine on")

    def t_mine(self):
        head = int(self.rpc("eth_blockNumber"), 16)
        eq(self.rpc("evm_mine", 3), hex(head + 3), "evm_mine 3")
        eq(self.rpc("evm_mine", "0x2"), hex(head + 5), "evm_mine 0x2")
        b = self.rpc("eth_getBlockByNumber", "latest", False)
        p = self.rpc("eth_getBlockByNumber", hex(head + 4), False)
        eq(b["parentHash"], p["hash"], "linked")
        assert int(b["timestamp"], 16) >= int(p["timestamp"], 16)

    def t_reorg(self):
        a1, a2 = self.s["addr"][1], self.s["addr"][2]
        snap = self.rpc("evm_snapshot")
        assert is_quantity(snap), snap
        head = int(self.rpc("eth_blockNumber"), 16)
        signed = self._signed(1, {"type": 2, "chainId": CHAIN_ID, "nonce": self.nonce(a1, "pending"), "to": a2,
                                  "value": 5, "gas": 21000, "maxFeePerGas": 2 * self.base_fee() + 10**9,
                                  "maxPriorityFeePerGas": 10**9})
        raw = "0x" + signed.raw_transaction.hex()
        h = self.rpc("eth_sendRawTransaction", raw)
        old = self.receipt(h)
        eq(old["blockNumber"], hex(head + 1), "mined on top")
        self.rpc("evm_mine", 2)
        eq(self.rpc("evm_revert", snap), True, "revert")
        eq(self.rpc("eth_blockNumber"), hex(head), "head back at the snapshot")
        eq(self.rpc("eth_getTransactionReceipt", h), None, "reorged-out receipt")
        eq(self.rpc("eth_getTransactionByHash", h), None, "reorged-out tx")
        eq(self.rpc("eth_getBlockByNumber", hex(head + 1), False), None, "orphaned height empty")
        self.rpc("evm_mine", 2)  # a competing branch
        new_block = self.rpc("eth_getBlockByNumber", hex(head + 1), False)
        assert new_block["hash"] != old["blockHash"], "same height, different block"
        eq(new_block["transactions"], [], "the tx is not on the new branch")
        eq(self.rpc("eth_getBlockByHash", old["blockHash"], False)["hash"], old["blockHash"],
           "orphaned block still retrievable by hash (like geth)")
        eq(self.rpc("eth_sendRawTransaction", raw), h, "rebroadcast after reorg")
        again = self.receipt(h)
        eq(again["blockNumber"], hex(head + 3), "re-mined in the new branch")
        assert again["blockHash"] != old["blockHash"]
        eq(self.rpc("evm_revert", "0x999"), False, "unknown snapshot id")

    def t_finality(self):
        head = int(self.rpc("eth_blockNumber"), 16)
        eq(self.rpc("eth_getBlockByNumber", "safe", False)["number"], hex(head), "lag 0: safe = latest")
        eq(self.rpc("tokdev_setFinalityLag", 3), "0x3", "set lag")
        try:
            eq(self.rpc("eth_getBlockByNumber", "finalized", False)["number"], hex(head - 3), "finalized")
            eq(self.rpc("eth_getBlockByNumber", "safe", False)["number"], hex(head - 3), "safe")
        finally:
            self.rpc("tokdev_setFinalityLag", 0)

    def t_personal_sign(self):
        for msg in ("hello tok", "ünïcödé ✓ multi\nline", ""):
            sig = self.rpc("tokdev_personalSign", {"from": 3, "message": msg})
            assert is_data(sig, 65), sig
            assert sig[-2:] in ("1b", "1c"), f"v must be 27/28: {sig[-2:]}"
            eq(Account.recover_message(encode_defunct(text=msg), signature=sig), self.s["addr"][3], "recovers")
        eq(self.rpc.error_of("tokdev_personalSign", {"from": 3, "message": 5}).code, -32602, "non-string")

    def t_new_account(self):
        acct = self.rpc("tokdev_newAccount")
        eq(set(acct), {"address", "privateKey"}, "fields")
        eq(Account.from_key(acct["privateKey"]).address, acct["address"], "key/address")
        assert acct["address"] not in self.s["addr"]
        eq(self.balance(acct["address"]), 0, "unfunded")
        self.receipt(self.rpc("tokdev_sendEth", {"from": 0, "to": acct["address"], "value": str(10**18)}))
        h = self.rpc("tokdev_sendEth", {"from": acct["address"], "to": 0, "value": "1"})
        eq(self.receipt(h)["from"], acct["address"].lower(), "new account can send once funded")

    def t_concurrency(self):
        errors = []
        head = int(self.rpc("eth_blockNumber"), 16)
        n_before = [self.nonce(self.s["addr"][i]) for i in range(4)]

        def worker(i):
            cl = Client(self.url)
            try:
                for _ in range(8):
                    h = cl("tokdev_sendEth", {"from": i, "to": 9, "value": "1"})
                    cl("eth_getTransactionReceipt", h)
                    cl("eth_blockNumber")
            except Exception as exc:
                errors.append(f"worker {i}: {exc}")
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        eq(int(self.rpc("eth_blockNumber"), 16), head + 32, "32 blocks")
        eq([self.nonce(self.s["addr"][i]) - n_before[i] for i in range(4)], [8] * 4, "nonces")

    def t_evmctl(self):
        def ctl(*args, url=None):
            p = subprocess.run([sys.executable, EVMCTL, "--url", url or self.url, *args],
                               capture_output=True, text=True, timeout=60)
            return p.returncode, p.stdout.strip(), p.stderr.strip()
        rc, out, _ = ctl("call", "eth_chainId")
        eq((rc, out), (0, json.dumps(hex(CHAIN_ID))), "call prints JSON")
        rc, out, _ = ctl("accounts")
        eq(json.loads(out)[0]["address"], self.s["addr"][0], "accounts")
        rc, out, _ = ctl("balance", "7")
        eq((rc, out), (0, self.rpc("eth_getBalance", self.s["addr"][7], "latest")), "balance by index, bare")
        head = int(self.rpc("eth_blockNumber"), 16)
        eq(ctl("mine", "2")[:2], (0, hex(head + 2)), "mine")
        rc, h, _ = ctl("send-eth", "0", self.s["addr"][8], str(10**18))
        eq(self.receipt(h)["status"], "0x1", "send-eth")
        rc, out, _ = ctl("deploy-token", "1", "Second", "SEC", "6", "1000000")
        token = json.loads(out)["address"]
        rc, h, _ = ctl("transfer-token", token, "1", "2", "250")
        eq(self.receipt(h)["status"], "0x1", "transfer-token")
        eq(ctl("token-balance", token, "2")[:2], (0, "0xfa"), "token-balance")
        rc, _, err = ctl("call", "nope_method")
        eq(rc, 65, "JSON-RPC error exit")
        assert "nope_method" in err, err
        rc, _, _ = ctl("call", "eth_chainId", url="http://127.0.0.1:9")
        eq(rc, 69, "unreachable exit")
        rc, out, _ = ctl("wait-ready", self.port_file, "10")
        eq((rc, out), (0, self.url), "wait-ready")
        rc, _, _ = ctl("wait-ready", os.path.join(self.tmp, "never"), "0.3")
        eq(rc, 69, "wait-ready timeout")


def main():
    st = SelfTest()
    try:
        st.start()
    except Exception as exc:
        print(f"FAIL start: {exc}")
        print("0 passed, 1 failed")
        return 1
    try:
        st.run()
    finally:
        st.check("clean shutdown on SIGTERM", st.stop)
        if st.failed:
            print("---- node log (tail) ----\n" + st.node_log())
        print(f"node start-up: {st.startup:.2f}s until the port file appeared")
        print(f"{st.passed} passed, {st.failed} failed")
    return 1 if st.failed else 0


if __name__ == "__main__":
    sys.exit(main())
