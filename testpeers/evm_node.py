#!/usr/bin/env python3
"""A real local EVM chain served over HTTP JSON-RPC 2.0 on loopback.

Used by tok's Swift tests, the demo and the benchmarks as the Ethereum peer.
Run it with the interpreter of the venv that scripts/peers-venv.sh builds:

    bash scripts/peers-venv.sh
    .venv-peers/bin/python testpeers/evm_node.py --port 0 --port-file /tmp/evm.port

Engine: eth-tester's EthereumTester around a PyEVMBackend (py-evm, Prague
rules).  Every transaction is executed by py-evm, so signatures, nonces, gas,
balances, contract code and logs are real; only networking and consensus are
absent.  Blocks are produced on demand (auto-mine: one block per transaction,
or manual mining with evm_mine).

Choices and quirks (see testpeers/README.md for the full list):

* Chain id.  eth-tester hard-codes 131277322940537 as a class attribute of a
  chain class it defines inside a function; it has no parameter for it.  We
  always rebuild the chain from the same genesis with a subclass that sets
  `chain_id` (default: eth-tester's own value, or --chain-id N) and an exact
  gas estimator.  py-evm does NOT check the chain id of EIP-155 legacy
  transactions, so this server checks it itself before executing.
* Addresses in standard eth_* results are lowercase 0x hex, as geth prints
  them.  tokdev_* results carry EIP-55 checksummed addresses.  Inputs accept
  any case (no checksum check, like geth).
* Quantities are minimal hex ("0x0", "0x1a"); inputs of standard methods are
  parsed strictly like geth (leading zeros refused), inputs of tokdev_*
  methods also accept decimal strings and JSON numbers.
* "latest" is the last mined block; "pending" is the block being built;
  "safe"/"finalized" are latest minus --finality-lag (default 0, i.e. equal to
  latest, which is what eth-tester does).
* Transaction/receipt/log serialisation is our own, from py-evm objects,
  because eth-tester's differs from geth: its logIndex restarts at 0 in every
  receipt (geth: position in the block), receipts lack logsBloom, the
  extraData is padded, legacy transactions lack chainId.
* Only EIP-155 replay-protected legacy transactions are accepted, as geth
  does by default over RPC.  A nonce above the account's next nonce is refused
  ("nonce too high") instead of being queued: there is no future queue.

Stdout is unused; all logging goes to stderr.
"""

import argparse
import http.server
import importlib.metadata
import json
import os
import signal
import sys
import threading
import time
import traceback

from peerlife import serve_until_parent_exits, write_port_file

try:
    import eth_abi
    import rlp
    from eth.estimators.gas import binary_gas_search
    from eth.exceptions import HeaderNotFound, Revert, VMError
    from eth.vm.forks.berlin.transactions import TypedTransaction
    from eth.vm.spoof import SpoofTransaction
    from eth_account import Account
    from eth_account.messages import encode_defunct
    from eth_bloom import BloomFilter
    from eth_tester import EthereumTester, PyEVMBackend
    from eth_utils import ValidationError, keccak, to_checksum_address
    import vyper
except ImportError as exc:  # pragma: no cover - environment problem
    sys.stderr.write(
        f"evm_node: missing dependency ({exc}).\n"
        "Build the venv with `bash scripts/peers-venv.sh` and run this file "
        "with .venv-peers/bin/python.\n"
    )
    sys.exit(1)

ETH_TESTER_CHAIN_ID = 131277322940537
DEFAULT_TIP = 10**9  # 1 gwei: our answer to eth_maxPriorityFeePerGas
MAX_BODY = 16 * 1024 * 1024  # largest accepted HTTP request body
MAX_BATCH = 1000  # largest accepted JSON-RPC batch
MAX_MINE = 10000  # most blocks one evm_mine may produce
MAX_LOG_RANGE = 10000  # widest eth_getLogs block range
MAX_FEE_HISTORY = 1024  # most blocks one eth_feeHistory may cover
CALL_GAS_CAP = 50_000_000  # gas for eth_call when the caller gives none
UINT256_MAX = 2**256 - 1
ZERO_ADDRESS = b"\x00" * 20
TOKEN_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Token.vy")

# Exact gas estimation: py-evm's default search stops within 21000 gas of the
# minimum, which makes estimates look arbitrary to tests comparing numbers.
exact_gas_search = binary_gas_search(tolerance=1)


def log(msg):
    sys.stderr.write(f"evm_node: {msg}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# JSON-RPC errors and parameter parsing
# ---------------------------------------------------------------------------


class RpcError(Exception):
    """An error answered to the client as a JSON-RPC error object."""

    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self):
        err = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


def invalid(msg):
    return RpcError(-32602, f"invalid params: {msg}")


def tx_error(msg, data=None):
    return RpcError(-32000, msg, data)


def hx(b):
    """bytes -> 0x-prefixed lowercase hex (data, hashes, addresses)."""
    return "0x" + bytes(b).hex()


def q(n):
    """int -> minimal hex quantity, as geth prints them ("0x0", "0x1a")."""
    return hex(int(n))


def opt_q(n):
    return None if n is None else q(n)


def bloom_hex(bloom_int):
    return hx(int(bloom_int).to_bytes(256, "big"))


def _is_hex(s):
    try:
        int(s, 16)
        return True
    except ValueError:
        return False


def parse_quantity(v, name, bits=256):
    """Strict geth-style quantity: "0x" + hex digits, no leading zeros."""
    if not isinstance(v, str) or not v.startswith(("0x", "0X")):
        raise invalid(f"{name}: expected a hex quantity string like \"0x1a\", got {v!r}")
    digits = v[2:]
    if not digits or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise invalid(f"{name}: not a hex quantity: {v!r}")
    if len(digits) > 1 and digits[0] == "0":
        raise invalid(f"{name}: hex quantity with leading zero digits: {v!r}")
    n = int(digits, 16)
    if n >= 1 << bits:
        raise invalid(f"{name}: quantity exceeds {bits} bits")
    return n


def parse_amount(v, name):
    """Lenient amount for tokdev_*: JSON integer, decimal string or 0x hex."""
    if isinstance(v, bool):
        raise invalid(f"{name}: expected an amount, got a boolean")
    if isinstance(v, int):
        n = v
    elif isinstance(v, str) and v[:2] in ("0x", "0X") and len(v) > 2 and _is_hex(v[2:]) and "_" not in v:
        n = int(v[2:], 16)
    elif isinstance(v, str) and v.isascii() and v.isdigit():
        n = int(v, 10)
    else:
        raise invalid(f"{name}: expected a decimal string, a 0x hex quantity or an integer, got {v!r}")
    if n < 0 or n > UINT256_MAX:
        raise invalid(f"{name}: out of uint256 range")
    return n


def parse_data(v, name):
    if not isinstance(v, str) or not v.startswith(("0x", "0X")):
        raise invalid(f"{name}: expected 0x-prefixed hex data")
    body = v[2:]
    if len(body) % 2 or not all(c in "0123456789abcdefABCDEF" for c in body):
        raise invalid(f"{name}: malformed hex data")
    return bytes.fromhex(body)


def parse_fixed(v, name, size):
    b = parse_data(v, name)
    if len(b) != size:
        raise invalid(f"{name}: expected {size} bytes, got {len(b)}")
    return b


def parse_address(v, name):
    return parse_fixed(v, name, 20)


def parse_hash(v, name):
    return parse_fixed(v, name, 32)


def parse_bool(v, name):
    if not isinstance(v, bool):
        raise invalid(f"{name}: expected true or false")
    return v


def positional(params, lo, hi, method):
    """Positional params as a list of exactly hi items (missing -> None)."""
    if params is None:
        params = []
    if not isinstance(params, list):
        raise invalid(f"{method} takes positional params (a JSON array)")
    if not lo <= len(params) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise invalid(f"{method} takes {want} params, got {len(params)}")
    return params + [None] * (hi - len(params))


def dev_object(params, method, required, optional=()):
    """tokdev_* params: [{...}] or {...}; checks the set of keys."""
    if isinstance(params, list) and len(params) == 1:
        params = params[0]
    if not isinstance(params, dict):
        raise invalid(f"{method} takes one object param")
    unknown = set(params) - set(required) - set(optional)
    if unknown:
        raise invalid(f"{method}: unknown field(s) {sorted(unknown)}")
    missing = [k for k in required if k not in params]
    if missing:
        raise invalid(f"{method}: missing field(s) {missing}")
    return params


# ---------------------------------------------------------------------------
# The chain
# ---------------------------------------------------------------------------


class Node:
    """Chain state plus every JSON-RPC method.  All methods run under
    self.lock (taken by dispatch), so py-evm is never entered concurrently."""

    def __init__(self, chain_id, finality_lag=0, log_requests=False):
        self.lock = threading.Lock()
        self.chain_id = chain_id
        self.finality_lag = finality_lag
        self.log_requests = log_requests
        self.auto_mine = True
        # eth-tester's own auto-mining replays pending transactions through a
        # snapshot/revert dance that forgets earlier pending ones (a second
        # pending tx of the same sender fails its nonce check).  So eth-tester
        # never auto-mines here: transactions go straight into py-evm's
        # pending block and we mine when auto-mine is on.
        self.backend = PyEVMBackend()
        self._install_chain_class()
        self.tester = EthereumTester(backend=self.backend, auto_mine_transactions=False)
        # Keys we can sign with: the ten funded accounts (private keys 1..10,
        # eth-tester's defaults) and any made by tokdev_newAccount.
        self.funded = [k.to_bytes() for k in self.backend.account_keys]
        self.keys = {Account.from_key(k).address.lower(): k for k in self.funded}
        # tx hash -> {block hash: (block number, index)}.  py-evm has no
        # lookup by tx hash for our pending-block flow and eth-tester's scans
        # the whole chain per call; this keeps receipts O(1).  Entries of
        # blocks orphaned by evm_revert stay but are ignored as non-canonical.
        self.tx_index = {}
        self.token_abi, self.token_bytecode = self._compile_token()
        versions = []
        for dist in ("eth-tester", "py-evm", "vyper"):
            try:
                versions.append(f"{dist}-{importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                pass
        self.client_version = "tok-evm-node/v1.0/" + "/".join(versions) + f"/python-{sys.version.split()[0]}"

    def _install_chain_class(self):
        old = self.backend.chain
        cls = type(old)
        sub = type("TokTesterChain", (cls,), {
            "chain_id": self.chain_id,
            "gas_estimator": staticmethod(exact_gas_search),
        })
        genesis = old.get_canonical_block_header_by_number(0)
        # Same database and genesis; only the class (chain id, estimator)
        # changes.  eth-tester's revert-to-genesis calls
        # self.chain.from_genesis_header, a classmethod, so it keeps our class.
        self.backend.chain = sub.from_genesis_header(old.chaindb.db, genesis)

    def _compile_token(self):
        with open(TOKEN_SOURCE, encoding="utf-8") as f:
            source = f.read()
        out = vyper.compile_code(source, output_formats=["abi", "bytecode"])
        return out["abi"], bytes.fromhex(out["bytecode"][2:])

    # -- small chain helpers ------------------------------------------------

    @property
    def chain(self):
        # Re-read every time: eth-tester replaces the chain object when it
        # reverts to a genesis snapshot.
        return self.backend.chain

    def head_number(self):
        return self.chain.get_canonical_head().block_number

    def resolve_header(self, tag, name="block"):
        """Block tag/number/EIP-1898 object -> (header, is_pending).
        header is None when the block does not exist (yet)."""
        chain = self.chain
        if tag is None:
            tag = "latest"
        if isinstance(tag, dict):
            if "blockHash" in tag:
                h = parse_hash(tag["blockHash"], f"{name}.blockHash")
                try:
                    header = chain.get_block_header_by_hash(h)
                except HeaderNotFound:
                    return None, False
                if tag.get("requireCanonical") and not self._is_canonical(header):
                    raise tx_error(f"hash {hx(h)} is not currently canonical")
                return header, False
            if "blockNumber" in tag:
                return self.resolve_header(tag["blockNumber"], name)
            raise invalid(f"{name}: object needs blockHash or blockNumber")
        if tag == "pending":
            return chain.header, True
        head = self.head_number()
        if tag == "latest":
            number = head
        elif tag == "earliest":
            number = 0
        elif tag in ("safe", "finalized"):
            number = max(0, head - self.finality_lag)
        else:
            number = parse_quantity(tag, name, bits=64)
        if number > head:
            return None, False
        return chain.get_canonical_block_header_by_number(number), False

    def state_header(self, tag):
        header, _ = self.resolve_header(tag)
        if header is None:
            raise tx_error("header not found")
        return header

    def _is_canonical(self, header):
        if header.block_number > self.head_number():
            return False  # stale number->hash entry left by evm_revert
        try:
            return self.chain.get_canonical_block_hash(header.block_number) == header.hash
        except HeaderNotFound:
            return False

    def state_at(self, tag):
        return self.chain.get_vm(at_header=self.state_header(tag)).state

    def pending_state(self):
        return self.chain.get_vm().state

    def set_block_interval(self, milliseconds):
        """Called with self.lock held (by dispatch).  One producer thread at a
        time; it takes the lock for each block, so requests interleave."""
        self.block_interval_ms = milliseconds
        self.block_interval_generation = getattr(self, "block_interval_generation", 0) + 1
        if milliseconds == 0:
            return
        generation = self.block_interval_generation

        def produce():
            while True:
                time.sleep(milliseconds / 1000)
                with self.lock:
                    if self.block_interval_generation != generation:
                        return
                    self.mine(1)

        threading.Thread(target=produce, daemon=True).start()

    def mine(self, count):
        hashes = self.backend.mine_blocks(count)
        for h in hashes:
            block = self.chain.get_block_by_hash(h)
            for i, tx in enumerate(block.transactions):
                self.tx_index.setdefault(tx.hash, {})[block.hash] = (block.number, i)
        return self.head_number()

    def find_tx(self, tx_hash):
        """-> (block, tx, index, is_pending) or None."""
        pending = self.chain.get_block()
        for i, tx in enumerate(pending.transactions):
            if tx.hash == tx_hash:
                return pending, tx, i, True
        head = self.head_number()
        for block_hash, (number, i) in self.tx_index.get(tx_hash, {}).items():
            # After evm_revert py-evm keeps stale number->hash entries above
            # the new head, so the height must be checked too.
            try:
                if number > head or self.chain.get_canonical_block_hash(number) != block_hash:
                    continue
            except HeaderNotFound:
                continue
            block = self.chain.get_block_by_hash(block_hash)
            return block, block.transactions[i], i, False
        return None

    # -- serialisation (geth shapes) ---------------------------------------

    @staticmethod
    def tx_type(tx):
        return tx.type_id if isinstance(tx, TypedTransaction) else 0

    def fmt_tx(self, block, tx, index, pending):
        typ = self.tx_type(tx)
        out = {
            "blockHash": None if pending else hx(block.hash),
            "blockNumber": None if pending else q(block.number),
            "transactionIndex": None if pending else q(index),
            "hash": hx(tx.hash),
            "type": q(typ),
            "nonce": q(tx.nonce),
            "from": hx(tx.sender),
            "to": hx(tx.to) if tx.to else None,
            "value": q(tx.value),
            "gas": q(tx.gas),
            "input": hx(tx.data),
        }
        if typ == 0:
            out["gasPrice"] = q(tx.gas_price)
            if tx.v >= 35:  # EIP-155: v = chainId * 2 + 35 + recid
                out["chainId"] = q((tx.v - 35) // 2)
            out["v"] = q(tx.v)
        else:
            out["chainId"] = q(tx.chain_id)
            out["accessList"] = [
                {"address": hx(addr), "storageKeys": [hx(int(k).to_bytes(32, "big")) for k in keys]}
                for addr, keys in (tx.access_list or ())
            ]
            if typ == 1:
                out["gasPrice"] = q(tx.gas_price)
            else:
                out["maxFeePerGas"] = q(tx.max_fee_per_gas)
                out["maxPriorityFeePerGas"] = q(tx.max_priority_fee_per_gas)
                # geth: effective price once mined, the fee cap while pending
                out["gasPrice"] = q(tx.max_fee_per_gas if pending else self.effective_price(tx, block))
            out["v"] = q(tx.y_parity)
            out["yParity"] = q(tx.y_parity)
        out["r"] = q(tx.r)
        out["s"] = q(tx.s)
        return out

    def effective_price(self, tx, block):
        if self.tx_type(tx) >= 2:
            return min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas + block.header.base_fee_per_gas)
        return tx.gas_price

    @staticmethod
    def fmt_log(log_entry, block, tx, tx_index, log_index):
        return {
            "address": hx(log_entry.address),
            "topics": [hx(int(t).to_bytes(32, "big")) for t in log_entry.topics],
            "data": hx(log_entry.data),
            "blockNumber": q(block.number),
            "blockHash": hx(block.hash),
            "transactionHash": hx(tx.hash),
            "transactionIndex": q(tx_index),
            "logIndex": q(log_index),
            "removed": False,
        }

    def fmt_receipt(self, block, tx, index):
        receipts = block.get_receipts(self.chain.chaindb)
        r = receipts[index]
        before = receipts[index - 1].gas_used if index else 0
        first_log = sum(len(x.logs) for x in receipts[:index])
        if tx.to:
            contract = None
        else:
            contract = hx(keccak(rlp.encode([tx.sender, tx.nonce]))[12:])
        return {
            "transactionHash": hx(tx.hash),
            "transactionIndex": q(index),
            "blockHash": hx(block.hash),
            "blockNumber": q(block.number),
            "from": hx(tx.sender),
            "to": hx(tx.to) if tx.to else None,
            "contractAddress": contract,
            "cumulativeGasUsed": q(r.gas_used),
            "gasUsed": q(r.gas_used - before),
            "effectiveGasPrice": q(self.effective_price(tx, block)),
            # Post-Byzantium receipts keep the status in the state_root slot:
            # b"\x01" success, b"" failure.
            "status": "0x1" if r.state_root == b"\x01" else "0x0",
            "logs": [self.fmt_log(lg, block, tx, index, first_log + j) for j, lg in enumerate(r.logs)],
            "logsBloom": bloom_hex(r.bloom),
            "type": q(self.tx_type(tx)),
        }

    def fmt_block(self, block, full, pending):
        h = block.header
        if full:
            txs = [self.fmt_tx(block, tx, i, pending) for i, tx in enumerate(block.transactions)]
        else:
            txs = [hx(tx.hash) for tx in block.transactions]
        out = {
            "number": q(h.block_number),
            # geth leaves hash/nonce/miner null for the pending block: they
            # are not final until it is sealed.
            "hash": None if pending else hx(h.hash),
            "parentHash": hx(h.parent_hash),
            "nonce": None if pending else hx(h.nonce),
            "sha3Uncles": hx(h.uncles_hash),
            "logsBloom": bloom_hex(h.bloom),
            "transactionsRoot": hx(h.transaction_root),
            "stateRoot": hx(h.state_root),
            "receiptsRoot": hx(h.receipt_root),
            "miner": None if pending else hx(h.coinbase),
            "difficulty": q(h.difficulty),
            "totalDifficulty": q(h.difficulty),
            "extraData": hx(h.extra_data),
            "size": q(len(rlp.encode(block))),
            "gasLimit": q(h.gas_limit),
            "gasUsed": q(h.gas_used),
            "timestamp": q(h.timestamp),
            "transactions": txs,
            "uncles": [hx(u.hash) for u in block.uncles],
            "mixHash": hx(h.mix_hash),
        }
        optional = (
            ("baseFeePerGas", "base_fee_per_gas", q),
            ("withdrawalsRoot", "withdrawals_root", hx),
            ("blobGasUsed", "blob_gas_used", q),
            ("excessBlobGas", "excess_blob_gas", q),
            ("parentBeaconBlockRoot", "parent_beacon_block_root", hx),
            ("requestsHash", "requests_hash", hx),
        )
        for key, attr, fmt in optional:
            if hasattr(h, attr):
                out[key] = fmt(getattr(h, attr))
        if hasattr(block, "withdrawals"):
            out["withdrawals"] = [
                {"index": q(w.index), "validatorIndex": q(w.validator_index),
                 "address": hx(w.address), "amount": q(w.amount)}
                for w in block.withdrawals
            ]
        return out

    # -- transaction submission --------------------------------------------

    def submit_raw(self, raw):
        """The one path every transaction takes (eth_sendRawTransaction and
        the tokdev_* helpers).  Returns the tx hash as bytes."""
        try:
            tx = self.chain.get_vm().get_transaction_builder().decode(raw)
        except Exception as exc:  # rlp / type errors from py-evm's decoder
            raise tx_error(f"invalid transaction: cannot decode: {exc}") from None
        # Re-sending a known transaction: geth answers an error ("already
        # known" while it sits in the pool, "nonce too low" once mined).  We
        # return its hash instead so that a broadcaster retrying after a
        # timeout sees success, which is what tok's sender must cope with on
        # real networks anyway (and what several other clients do).
        if self.find_tx(tx.hash) is not None:
            return tx.hash
        if self.tx_type(tx) == 0:
            if tx.v in (27, 28):
                raise tx_error("only replay-protected (EIP-155) transactions allowed over RPC")
            tx_chain = (tx.v - 35) // 2
        else:
            tx_chain = tx.chain_id
        if tx_chain != self.chain_id:
            raise tx_error(f"invalid chain id for signer: have {tx_chain} want {self.chain_id}")
        try:
            sender = tx.sender
        except Exception as exc:
            raise tx_error(f"invalid sender: {exc}") from None
        state = self.pending_state()
        expected = state.get_nonce(sender)
        if tx.nonce < expected:
            raise tx_error(f"nonce too low: address {to_checksum_address(sender)}, tx: {tx.nonce} state: {expected}")
        if tx.nonce > expected:
            raise tx_error(f"nonce too high: address {to_checksum_address(sender)}, tx: {tx.nonce} state: {expected}"
                           " (this node keeps no queue of future transactions)")
        try:
            self.backend.send_raw_transaction(raw)
        except ValidationError as exc:
            msg = str(exc)
            if "enough balance" in msg or "cannot afford" in msg:
                raise tx_error(f"insufficient funds for gas * price + value: {msg}") from None
            if "base fee" in msg:
                raise tx_error(f"max fee per gas less than block base fee: {msg}") from None
            raise tx_error(f"invalid transaction: {msg}") from None
        if self.auto_mine:
            self.mine(1)
        return tx.hash

    # -- calls and estimates -------------------------------------------------

    def parse_call(self, obj, name="transaction"):
        if not isinstance(obj, dict):
            raise invalid(f"{name}: expected a call object")
        # nonce/type/accessList/chainId are accepted (clients send whole
        # transaction objects) but ignored: the call uses the state's nonce.
        allowed = {"from", "to", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas",
                   "value", "data", "input", "nonce", "type", "accessList", "chainId"}
        unknown = set(obj) - allowed
        if unknown:
            raise invalid(f"{name}: unsupported field(s) {sorted(unknown)}")
        if "data" in obj and "input" in obj and obj["data"] != obj["input"]:
            raise invalid(f"{name}: both data and input given and they differ")
        get = lambda k: obj.get(k)  # noqa: E731
        data = get("input") if get("input") is not None else get("data")
        return {
            "from": parse_address(get("from"), f"{name}.from") if get("from") is not None else ZERO_ADDRESS,
            "to": parse_address(get("to"), f"{name}.to") if get("to") is not None else b"",
            "gas": parse_quantity(get("gas"), f"{name}.gas", 64) if get("gas") is not None else None,
            # Without a fee field the call runs at price 0, like geth: no
            # balance is needed to pay for gas.
            "price": next((parse_quantity(get(k), f"{name}.{k}") for k in ("gasPrice", "maxFeePerGas")
                           if get(k) is not None), 0),
            "value": parse_quantity(get("value"), f"{name}.value") if get("value") is not None else 0,
            "data": parse_data(data, f"{name}.input") if data is not None else b"",
        }

    def _spoof(self, vm, state, c, gas):
        unsigned = vm.create_unsigned_transaction(
            nonce=state.get_nonce(c["from"]), gas_price=c["price"], gas=gas,
            to=c["to"], value=c["value"], data=c["data"])
        return SpoofTransaction(unsigned, from_=c["from"])

    @staticmethod
    def _vm_failure(err):
        """A VMError -> the JSON-RPC error geth would give (but code -32000)."""
        if isinstance(err, Revert):
            data = err.args[0] if err.args and isinstance(err.args[0], bytes) else b""
            msg = "execution reverted"
            if data[:4] == bytes.fromhex("08c379a0"):  # Error(string)
                try:
                    msg += ": " + eth_abi.decode(["string"], data[4:])[0]
                except Exception:
                    pass
            return tx_error(msg, hx(data))
        return tx_error(f"execution failed: {err}")

    def execute_call(self, c, header):
        vm = self.chain.get_vm(at_header=header)
        # in_costless_state: a child block of `header` with base fee 0, so a
        # call at price 0 is valid; its changes are discarded afterwards.
        with vm.in_costless_state() as state:
            gas = c["gas"] if c["gas"] is not None else min(CALL_GAS_CAP, state.gas_limit)
            try:
                computation = state.apply_transaction(self._spoof(vm, state, c, gas))
            except ValidationError as exc:
                raise tx_error(str(exc)) from None
        if computation.is_error:
            raise self._vm_failure(computation.error)
        return computation.output

    def estimate(self, c, header):
        vm = self.chain.get_vm(at_header=header)
        with vm.in_costless_state() as state:
            gas = c["gas"] if c["gas"] is not None else state.gas_limit
            try:
                return exact_gas_search(state, self._spoof(vm, state, c, gas))
            except VMError as err:
                raise self._vm_failure(err) from None
            except ValidationError as exc:
                raise tx_error(str(exc)) from None

    # -- dev helpers ----------------------------------------------------------

    def account_key(self, ref, name):
        """Account index (0-9, number or decimal string) or a known address
        -> private key bytes."""
        if isinstance(ref, bool):
            raise invalid(f"{name}: expected an account index or address")
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit()):
            i = int(ref)
            if not 0 <= i < len(self.funded):
                raise invalid(f"{name}: account index must be 0..{len(self.funded) - 1}")
            return self.funded[i]
        addr = hx(parse_address(ref, name))
        if addr not in self.keys:
            raise invalid(f"{name}: no private key known for {ref} (use an index, a tokdev_accounts or a tokdev_newAccount address)")
        return self.keys[addr]

    def account_address(self, ref, name):
        """Index or any address -> 20 bytes."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit()):
            return bytes.fromhex(Account.from_key(self.account_key(ref, name)).address[2:])
        return parse_address(ref, name)

    def dev_send(self, key, to, value, data):
        """Sign a real EIP-1559 transaction with eth_account and submit it
        through submit_raw, exactly like an external wallet would."""
        sender = bytes.fromhex(Account.from_key(key).address[2:])
        state = self.pending_state()
        nonce = state.get_nonce(sender)
        call = {"from": sender, "to": to, "gas": None, "price": 0, "value": value, "data": data}
        gas = self.estimate(call, self.chain.header)
        gas = min(gas + gas // 4, self.chain.header.gas_limit)  # 25% headroom
        base_fee = self.chain.header.base_fee_per_gas
        tx = {
            "type": 2, "chainId": self.chain_id, "nonce": nonce, "value": value, "data": data,
            "gas": gas, "maxPriorityFeePerGas": DEFAULT_TIP, "maxFeePerGas": 2 * base_fee + DEFAULT_TIP,
        }
        if to:
            tx["to"] = to_checksum_address(to)
        signed = Account.sign_transaction(tx, key)
        return self.submit_raw(bytes(signed.raw_transaction)), sender, nonce

    # -- JSON-RPC dispatch ----------------------------------------------------

    def dispatch(self, method, params):
        fn = METHODS.get(method)
        if fn is None:
            raise RpcError(-32601, f"the method {method} does not exist/is not available")
        started = time.monotonic()
        with self.lock:
            try:
                return fn(self, params)
            finally:
                if self.log_requests:
                    log(f"{method} {1000 * (time.monotonic() - started):.1f} ms")

    def handle_one(self, req):
        """One request object -> response object, or None for a notification."""
        if not isinstance(req, dict):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
        rid = req.get("id")
        valid_id = "id" in req and (rid is None or isinstance(rid, str)
                                    or (isinstance(rid, (int, float)) and not isinstance(rid, bool)))
        if req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str) \
                or ("id" in req and not valid_id) \
                or ("params" in req and not isinstance(req["params"], (list, dict))):
            return {"jsonrpc": "2.0", "id": rid if valid_id else None,
                    "error": {"code": -32600, "message": "invalid request"}}
        notification = "id" not in req
        try:
            result = self.dispatch(req["method"], req.get("params"))
            resp = {"jsonrpc": "2.0", "id": rid, "result": result}
        except RpcError as err:
            resp = {"jsonrpc": "2.0", "id": rid, "error": err.to_json()}
        except Exception as exc:  # a bug here or in a library: say so, keep serving
            log(f"internal error in {req['method']}: {exc!r}\n{traceback.format_exc()}")
            resp = {"jsonrpc": "2.0", "id": rid, "error": {"code": -32603, "message": f"internal error: {exc}"}}
        return None if notification else resp

    def handle_body(self, body):
        """Raw HTTP body -> JSON bytes, or None if nothing is to be answered."""
        def reject_constant(name):
            raise ValueError(f"{name} is not valid JSON")
        try:
            req = json.loads(body.decode("utf-8"), parse_constant=reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            out = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": f"parse error: {exc}"}}
        else:
            if isinstance(req, list):
                if not req:
                    out = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request: empty batch"}}
                elif len(req) > MAX_BATCH:
                    out = {"jsonrpc": "2.0", "id": None,
                           "error": {"code": -32600, "message": f"invalid request: batch larger than {MAX_BATCH}"}}
                else:
                    out = [r for r in (self.handle_one(item) for item in req) if r is not None]
                    if not out:
                        return None
            else:
                out = self.handle_one(req)
                if out is None:
                    return None
        return json.dumps(out, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------------------
# Methods.  Each takes (node, params) and returns a JSON-able result.
# ---------------------------------------------------------------------------

METHODS = {}


def method(name):
    def register(fn):
        METHODS[name] = fn
        return fn
    return register


@method("web3_clientVersion")
def _client_version(node, params):
    positional(params, 0, 0, "web3_clientVersion")
    return node.client_version


@method("net_version")
def _net_version(node, params):
    positional(params, 0, 0, "net_version")
    return str(node.chain_id)  # decimal string, as geth does


@method("eth_chainId")
def _chain_id(node, params):
    positional(params, 0, 0, "eth_chainId")
    return q(node.chain_id)


@method("eth_blockNumber")
def _block_number(node, params):
    positional(params, 0, 0, "eth_blockNumber")
    return q(node.head_number())


@method("eth_getBlockByNumber")
def _block_by_number(node, params):
    tag, full = positional(params, 1, 2, "eth_getBlockByNumber")
    full = parse_bool(full, "fullTransactions") if full is not None else False
    if isinstance(tag, dict):
        raise invalid("block: expected a number or tag")
    header, pending = node.resolve_header(tag)
    if header is None:
        return None
    block = node.chain.get_block() if pending else node.chain.get_block_by_header(header)
    return node.fmt_block(block, full, pending)


@method("eth_getBlockByHash")
def _block_by_hash(node, params):
    h, full = positional(params, 1, 2, "eth_getBlockByHash")
    h = parse_hash(h, "blockHash")
    full = parse_bool(full, "fullTransactions") if full is not None else False
    try:
        block = node.chain.get_block_by_hash(h)
    except HeaderNotFound:
        return None
    # A block orphaned by evm_revert is still returned by hash, as geth does.
    return node.fmt_block(block, full, False)


@method("eth_getTransactionByHash")
def _tx_by_hash(node, params):
    (h,) = positional(params, 1, 1, "eth_getTransactionByHash")
    found = node.find_tx(parse_hash(h, "transactionHash"))
    return None if found is None else node.fmt_tx(*found)


@method("eth_getTransactionReceipt")
def _receipt(node, params):
    (h,) = positional(params, 1, 1, "eth_getTransactionReceipt")
    found = node.find_tx(parse_hash(h, "transactionHash"))
    if found is None or found[3]:  # unknown, or pending: no receipt yet
        return None
    block, tx, index, _ = found
    return node.fmt_receipt(block, tx, index)


@method("eth_getBalance")
def _balance(node, params):
    addr, tag = positional(params, 1, 2, "eth_getBalance")
    return q(node.state_at(tag).get_balance(parse_address(addr, "address")))


@method("eth_getTransactionCount")
def _tx_count(node, params):
    addr, tag = positional(params, 1, 2, "eth_getTransactionCount")
    # "pending" reads the pending block's state, which already contains the
    # transactions submitted while auto-mine is off.
    return q(node.state_at(tag).get_nonce(parse_address(addr, "address")))


@method("eth_getCode")
def _code(node, params):
    addr, tag = positional(params, 1, 2, "eth_getCode")
    return hx(node.state_at(tag).get_code(parse_address(addr, "address")))


@method("eth_call")
def _call(node, params):
    obj, tag, overrides = positional(params, 1, 3, "eth_call")
    if overrides is not None:
        raise invalid("state overrides are not supported")
    return hx(node.execute_call(node.parse_call(obj), node.state_header(tag)))


@method("eth_estimateGas")
def _estimate(node, params):
    obj, tag = positional(params, 1, 2, "eth_estimateGas")
    # default block "latest", as in current geth
    return q(node.estimate(node.parse_call(obj), node.state_header(tag)))


@method("eth_gasPrice")
def _gas_price(node, params):
    positional(params, 0, 0, "eth_gasPrice")
    # geth: suggested tip + base fee of the next block
    return q(node.chain.header.base_fee_per_gas + DEFAULT_TIP)


@method("eth_maxPriorityFeePerGas")
def _max_priority(node, params):
    positional(params, 0, 0, "eth_maxPriorityFeePerGas")
    return q(DEFAULT_TIP)


@method("eth_feeHistory")
def _fee_history(node, params):
    count, newest, percentiles = positional(params, 2, 3, "eth_feeHistory")
    if isinstance(count, int) and not isinstance(count, bool):
        pass  # geth accepts a plain number here too
    else:
        count = parse_quantity(count, "blockCount", 64)
    if not 1 <= count <= MAX_FEE_HISTORY:
        raise invalid(f"blockCount must be 1..{MAX_FEE_HISTORY}")
    if percentiles is not None:
        if not isinstance(percentiles, list) or len(percentiles) > 100 or any(
                isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 100 for p in percentiles) \
                or any(a > b for a, b in zip(percentiles, percentiles[1:])):
            raise invalid("rewardPercentiles must be an increasing list of numbers in 0..100")
    header, pending = node.resolve_header(newest, "newestBlock")
    if header is None:
        raise tx_error("request beyond head block")
    if pending:
        header = node.chain.get_canonical_head()
    newest_n = header.block_number
    oldest = max(0, newest_n - count + 1)
    chain = node.chain
    base_fees, ratios, rewards = [], [], []
    for n in range(oldest, newest_n + 1):
        block = chain.get_canonical_block_by_number(n)
        h = block.header
        base_fees.append(q(h.base_fee_per_gas))
        ratios.append(h.gas_used / h.gas_limit if h.gas_limit else 0.0)
        if percentiles:
            rewards.append([q(x) for x in _block_rewards(node, block, percentiles)])
    # the base fee of the block after the newest one
    if newest_n == node.head_number():
        base_fees.append(q(chain.header.base_fee_per_gas))
    else:
        base_fees.append(q(chain.get_canonical_block_header_by_number(newest_n + 1).base_fee_per_gas))
    out = {"oldestBlock": q(oldest), "baseFeePerGas": base_fees, "gasUsedRatio": ratios,
           "baseFeePerBlobGas": ["0x1"] * len(base_fees), "blobGasUsedRatio": [0.0] * len(ratios)}
    if percentiles:
        out["reward"] = rewards
    return out


def _block_rewards(node, block, percentiles):
    """Tip paid at each gas-weighted percentile of a block, like geth."""
    if not block.transactions:
        return [0] * len(percentiles)
    base = block.header.base_fee_per_gas
    receipts = block.get_receipts(node.chain.chaindb)
    items, prev = [], 0
    for tx, r in zip(block.transactions, receipts):
        items.append((node.effective_price(tx, block) - base, r.gas_used - prev))
        prev = r.gas_used
    items.sort()
    out, i, acc = [], 0, items[0][1]
    for p in percentiles:
        threshold = block.header.gas_used * p / 100
        while acc < threshold and i < len(items) - 1:
            i += 1
            acc += items[i][1]
        out.append(items[i][0])
    return out


@method("eth_sendRawTransaction")
def _send_raw(node, params):
    (raw,) = positional(params, 1, 1, "eth_sendRawTransaction")
    raw = parse_data(raw, "rawTransaction")
    if not raw:
        raise invalid("rawTransaction: empty")
    return hx(node.submit_raw(raw))


@method("eth_getLogs")
def _get_logs(node, params):
    (flt,) = positional(params, 1, 1, "eth_getLogs")
    if not isinstance(flt, dict):
        raise invalid("filter: expected an object")
    addresses = flt.get("address")
    if addresses is None:
        addresses = []
    elif isinstance(addresses, str):
        addresses = [addresses]
    elif not isinstance(addresses, list) or len(addresses) > 1000:
        raise invalid("filter.address: expected an address or a list of up to 1000")
    addresses = {parse_address(a, "filter.address") for a in addresses}
    topics = flt.get("topics") or []
    if not isinstance(topics, list) or len(topics) > 4:
        raise invalid("filter.topics: expected a list of at most 4 positions")
    wanted = []  # per position: None (any) or a set of 32-byte values
    for i, t in enumerate(topics):
        if t is None:
            wanted.append(None)
        elif isinstance(t, str):
            wanted.append({parse_hash(t, f"filter.topics[{i}]")})
        elif isinstance(t, list) and len(t) <= 1000:
            alts = [x for x in t if x is not None]
            wanted.append({parse_hash(x, f"filter.topics[{i}]") for x in alts} if len(alts) == len(t) and alts else None)
        else:
            raise invalid(f"filter.topics[{i}]: expected null, a topic or a list of topics")
    chain = node.chain
    if flt.get("blockHash") is not None:
        if flt.get("fromBlock") is not None or flt.get("toBlock") is not None:
            raise invalid("filter: blockHash excludes fromBlock/toBlock")
        try:
            blocks = [chain.get_block_by_hash(parse_hash(flt["blockHash"], "filter.blockHash"))]
        except HeaderNotFound:
            raise tx_error("unknown block") from None
    else:
        head = node.head_number()
        lo_h, lo_p = node.resolve_header(flt.get("fromBlock") or "latest", "filter.fromBlock")
        hi_h, hi_p = node.resolve_header(flt.get("toBlock") or "latest", "filter.toBlock")
        # pending logs are not reported; a bound beyond the head is clamped
        lo = head if lo_p else (lo_h.block_number if lo_h else head + 1)
        hi = head if (hi_p or hi_h is None) else hi_h.block_number
        if lo > hi:
            if lo_h is None or lo_p:
                return []
            raise invalid("invalid block range params: fromBlock is after toBlock")
        if hi - lo + 1 > MAX_LOG_RANGE:
            raise invalid(f"block range too large: at most {MAX_LOG_RANGE} blocks per query")
        blocks = (chain.get_canonical_block_by_number(n) for n in range(lo, hi + 1))
    out = []
    for block in blocks:
        if not block.transactions or not _bloom_may_match(block.header.bloom, addresses, wanted):
            continue
        receipts = block.get_receipts(chain.chaindb)
        log_index = 0
        for ti, (tx, r) in enumerate(zip(block.transactions, receipts)):
            for lg in r.logs:
                if _log_matches(lg, addresses, wanted):
                    out.append(Node.fmt_log(lg, block, tx, ti, log_index))
                log_index += 1
    return out


def _bloom_may_match(bloom, addresses, wanted):
    bf = BloomFilter(bloom)
    if addresses and not any(a in bf for a in addresses):
        return False
    return all(w is None or any(t in bf for t in w) for w in wanted)


def _log_matches(lg, addresses, wanted):
    if addresses and lg.address not in addresses:
        return False
    topics = [int(t).to_bytes(32, "big") for t in lg.topics]
    if len(wanted) > len(topics):
        return False
    return all(w is None or topics[i] in w for i, w in enumerate(wanted))


# -- dev methods ---------------------------------------------------------------


@method("evm_mine")
def _evm_mine(node, params):
    (count,) = positional(params, 0, 1, "evm_mine")
    count = 1 if count is None else parse_amount(count, "count")
    if not 1 <= count <= MAX_MINE:
        raise invalid(f"count must be 1..{MAX_MINE}")
    return q(node.mine(count))


@method("evm_snapshot")
def _evm_snapshot(node, params):
    positional(params, 0, 0, "evm_snapshot")
    return q(node.tester.take_snapshot())


@method("evm_revert")
def _evm_revert(node, params):
    (sid,) = positional(params, 1, 1, "evm_revert")
    sid = parse_amount(sid, "snapshotId")
    # Back to the snapshot's block: later blocks leave the canonical chain
    # (their txs become unknown) and the pending block is emptied.  Mining
    # afterwards builds different blocks at the same heights: a reorg.
    try:
        node.tester.revert_to_snapshot(sid)
    except Exception as exc:
        if type(exc).__name__ == "SnapshotNotFound":
            return False
        raise
    return True


@method("tokdev_setAutoMine")
def _set_auto_mine(node, params):
    (on,) = positional(params, 1, 1, "tokdev_setAutoMine")
    on = parse_bool(on, "enabled")
    if on and not node.auto_mine and node.chain.get_block().transactions:
        node.mine(1)  # nothing stays stranded in the pending block
    node.auto_mine = on
    return on


@method("tokdev_setFinalityLag")
def _set_finality_lag(node, params):
    (lag,) = positional(params, 1, 1, "tokdev_setFinalityLag")
    node.finality_lag = parse_amount(lag, "lag")
    return q(node.finality_lag)


@method("tokdev_setBlockInterval")
def _set_block_interval(node, params):
    """Mine a block every N milliseconds in the background (0 stops), like a
    real chain that keeps producing blocks: confirmations then grow on their
    own, which is what tok-submit --wait waits for."""
    (interval,) = positional(params, 1, 1, "tokdev_setBlockInterval")
    milliseconds = parse_amount(interval, "interval")
    if milliseconds != 0 and not 10 <= milliseconds <= 60000:
        raise invalid("interval must be 0 (off) or 10..60000 milliseconds")
    node.set_block_interval(milliseconds)
    return q(milliseconds)


@method("tokdev_accounts")
def _accounts(node, params):
    positional(params, 0, 0, "tokdev_accounts")
    return [{"address": Account.from_key(k).address, "privateKey": hx(k)} for k in node.funded]


@method("tokdev_newAccount")
def _new_account(node, params):
    positional(params, 0, 0, "tokdev_newAccount")
    acct = Account.create()
    key = bytes(acct.key)
    node.keys[acct.address.lower()] = key
    return {"address": acct.address, "privateKey": hx(key)}


@method("tokdev_sendEth")
def _send_eth(node, params):
    p = dev_object(params, "tokdev_sendEth", ("from", "to", "value"))
    key = node.account_key(p["from"], "from")
    to = node.account_address(p["to"], "to")
    tx_hash, _, _ = node.dev_send(key, to, parse_amount(p["value"], "value"), b"")
    return hx(tx_hash)


@method("tokdev_deployToken")
def _deploy_token(node, params):
    p = dev_object(params, "tokdev_deployToken", ("from", "name", "symbol", "decimals", "supply"))
    key = node.account_key(p["from"], "from")
    for field, limit in (("name", 64), ("symbol", 32)):
        if not isinstance(p[field], str) or len(p[field].encode("utf-8")) > limit:
            raise invalid(f"{field}: expected a string of at most {limit} UTF-8 bytes")
    decimals = parse_amount(p["decimals"], "decimals")
    if decimals > 255:
        raise invalid("decimals: at most 255")
    args = eth_abi.encode(["string", "string", "uint8", "uint256"],
                          [p["name"], p["symbol"], decimals, parse_amount(p["supply"], "supply")])
    tx_hash, sender, nonce = node.dev_send(key, b"", 0, node.token_bytecode + args)
    address = keccak(rlp.encode([sender, nonce]))[12:]
    return {"address": to_checksum_address(address), "txHash": hx(tx_hash)}


@method("tokdev_transferToken")
def _transfer_token(node, params):
    p = dev_object(params, "tokdev_transferToken", ("token", "from", "to", "amount"))
    token = parse_address(p["token"], "token")
    key = node.account_key(p["from"], "from")
    to = node.account_address(p["to"], "to")
    data = bytes.fromhex("a9059cbb") + eth_abi.encode(["address", "uint256"],
                                                      [to_checksum_address(to), parse_amount(p["amount"], "amount")])
    tx_hash, _, _ = node.dev_send(key, token, 0, data)
    return hx(tx_hash)


@method("tokdev_deployCode")
def _deploy_code(node, params):
    """Deploy raw init code: the tests' hand-assembled contracts (a token
    that emits several Transfer logs in one call, a receiver that reverts)."""
    p = dev_object(params, "tokdev_deployCode", ("from", "code"))
    key = node.account_key(p["from"], "from")
    code = parse_data(p["code"], "code")
    if not code or len(code) > 24576:
        raise invalid("code: expected 1..24576 bytes of init code")
    tx_hash, sender, nonce = node.dev_send(key, b"", 0, code)
    address = keccak(rlp.encode([sender, nonce]))[12:]
    return {"address": to_checksum_address(address), "txHash": hx(tx_hash)}


@method("tokdev_tokenBalance")
def _token_balance(node, params):
    p = dev_object(params, "tokdev_tokenBalance", ("token", "owner"), ("block",))
    token = parse_address(p["token"], "token")
    owner = node.account_address(p["owner"], "owner")
    data = bytes.fromhex("70a08231") + eth_abi.encode(["address"], [to_checksum_address(owner)])
    call = {"from": ZERO_ADDRESS, "to": token, "gas": None, "price": 0, "value": 0, "data": data}
    out = node.execute_call(call, node.state_header(p.get("block", "latest")))
    if len(out) != 32:
        raise tx_error(f"balanceOf returned {len(out)} bytes: is {hx(token)} an ERC-20?")
    return q(int.from_bytes(out, "big"))


@method("tokdev_personalSign")
def _personal_sign(node, params):
    p = dev_object(params, "tokdev_personalSign", ("from", "message"))
    if not isinstance(p["message"], str):
        raise invalid("message: expected a string (signed as its UTF-8 bytes)")
    key = node.account_key(p["from"], "from")
    signed = Account.sign_message(encode_defunct(text=p["message"]), key)
    sig = bytes(signed.signature)  # r || s || v, v already 27/28
    return hx(sig)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, for clients that pool connections
    timeout = 60  # an idle keep-alive connection is dropped after this (seconds)
    server_version = "tok-evm-node"
    # Headers and body go out in separate writes; with Nagle's algorithm on, a
    # kept-open connection waits ~40 ms for the delayed ACK on every answer.
    disable_nagle_algorithm = True

    def _reply(self, status, body=b"", content_type="application/json"):
        self.send_response(status)
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_POST(self):  # noqa: N802 (http.server naming)
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            return self._reply(411, b"Content-Length required\n", "text/plain")
        length = int(length)
        if length > MAX_BODY:
            self.close_connection = True
            return self._reply(413, b"request body too large\n", "text/plain")
        body = self.rfile.read(length)
        out = self.server.node.handle_body(body)
        if out is None:
            return self._reply(204)
        return self._reply(200, out)

    def do_GET(self):  # noqa: N802
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        if self.server.node.log_requests:
            log("http " + (fmt % args))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block exit
    allow_reuse_address = True


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Local EVM chain (eth-tester + py-evm) over HTTP JSON-RPC.")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address to bind (127.0.0.0/8 only)")
    ap.add_argument("--port", type=int, default=8545, help="TCP port; 0 picks a free one")
    ap.add_argument("--port-file", help="write the bound port here (atomically) once ready")
    ap.add_argument("--chain-id", default=str(ETH_TESTER_CHAIN_ID),
                    help=f"chain id, decimal or 0x hex (default {ETH_TESTER_CHAIN_ID}, eth-tester's)")
    ap.add_argument("--finality-lag", type=int, default=0,
                    help="safe/finalized = latest - N (default 0: same as latest)")
    ap.add_argument("--log-requests", action="store_true", help="log each request to stderr")
    args = ap.parse_args(argv)
    if not (args.host.startswith("127.") or args.host == "localhost"):
        ap.error("--host must be a loopback address (127.0.0.0/8): this node is for local tests only")
    if not 0 <= args.port <= 65535:
        ap.error("--port must be 0..65535")
    try:
        args.chain_id = int(args.chain_id, 0)
    except ValueError:
        ap.error("--chain-id must be a decimal or 0x hex integer")
    if not 1 <= args.chain_id < 2**64:
        ap.error("--chain-id must be 1..2^64-1")
    if args.finality_lag < 0:
        ap.error("--finality-lag must be >= 0")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    node = Node(args.chain_id, args.finality_lag, args.log_requests)
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as exc:
        log(f"cannot listen on {args.host}:{args.port}: {exc}")
        return 1
    server.node = node
    port = server.server_address[1]

    stop = threading.Event()

    def on_signal(signum, _frame):
        log(f"received {signal.Signals(signum).name}, shutting down")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # serve_forever runs in a thread because server.shutdown() must be called
    # from another thread than the one serving; the main thread only waits.
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    serving.start()
    if args.port_file:
        try:
            write_port_file(args.port_file, port)
        except OSError as exc:
            log(f"cannot write the port file {args.port_file}: {exc}")
            stop.set()
    log(f"listening on http://{args.host}:{port} chain_id={args.chain_id} "
        f"({node.client_version}); ready in {time.monotonic() - started:.2f}s")
    serve_until_parent_exits(server, stop, port, args.port_file, log)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
