#!/usr/bin/env python3
"""A fixture JSON-RPC server that answers like Dogecoin Core 1.14.

No Dogecoin node can run where tok's tests run, so the Dogecoin-only RPC
shapes are covered by fixtures: answers written in the shapes of Dogecoin
Core 1.14's RPC code (rpc/blockchain.cpp, rpc/rawtransaction.cpp,
core_write.cpp), NOT recorded from a live node.  The fixture file
(testpeers/fixtures/dogecoin-mainnet.json) is made by gen_dogecoin_fixtures.py
from real, signed transactions; see that script for what is real in it.

Standard library only: run it with any Python 3.8+ (/usr/bin/python3 is
enough, no venv):

    python3 testpeers/dogecoin_fixture_rpc.py --fixture testpeers/fixtures/dogecoin-mainnet.json \\
        --port 0 --rpc-user tok --rpc-password secret

The first line on stdout is the bound port (then nothing more is written
there); --port-file PATH also writes it to a file, atomically.  Logs go to
stderr.  The server stops on SIGTERM/SIGINT, when its parent process dies
(polled), and when stdin reaches end of file (so a test that holds a pipe to
its stdin cannot leave it behind); --ignore-stdin turns the last one off for
shells that start it in the background with stdin at /dev/null.

What it reproduces of Core 1.14 (httprpc.cpp, rpc/server.cpp, the methods):

* HTTP: POST only (405 otherwise); HTTP basic auth, 401 with
  `WWW-Authenticate: Basic realm="jsonrpc"` and an empty body on a missing or
  wrong password; single requests answer 200, or 500 for an error (400 for
  -32600, 404 for -32601); batches always answer 200 with an array.
* Replies are `{"result":...,"error":...,"id":...}`, compact, both members
  always present, no "jsonrpc" member, whatever version the request named.
* Numbers keep their fixture spelling byte for byte: amounts are printed by
  Core's ValueFromAmount as `%d.%08d` (12.34000000, 0.00100000).  The
  fixture is parsed with decimal.Decimal and written back by our own
  serialiser, because Python's json would print 12.34.
* getblock "hash" ( verbose ): verbose must be a JSON boolean; a number
  (`getblock <hash> 2`, Bitcoin Core 0.15's verbosity) fails with -1 "JSON
  value is not a boolean as expected", as get_bool() throws in 1.14.
* getblockheader "hash" ( verbose ): boolean only, default true.
* getrawtransaction "txid" ( verbose ): a number (non-zero means verbose) or a
  boolean; anything else is -3.  An unknown txid is -5 "No such mempool or
  blockchain transaction. Use gettransaction for wallet transactions.";
  a txid that is not 64 hex digits is -8.  Unknown blocks are -5 "Block not
  found".  A wrong parameter count is -1 with the method's usage line (Core
  prints its whole help text there).
* Any other method found in the fixture answers by exact parameter match;
  a method the fixture does not have is -32601 "Method not found".

Fixture format: {"methods": {"<method>": [{"params": [...], "result": ...}
or {"params": [...], "error": {"code": n, "message": "..."}}, ...]}, ...};
other top-level members (comment, scenario) are ignored here.  For the three
methods above, params are stored canonically: [txid or hash in lowercase,
verbose as a boolean].
"""

import argparse
import base64
import decimal
import hmac
import http.server
import json
import os
import signal
import sys
import threading
import time

from peerlife import serve_until_parent_exits, write_port_file

MAX_BODY = 1 << 24

# Core's error codes (rpc/protocol.h).
RPC_MISC_ERROR = -1
RPC_TYPE_ERROR = -3
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
RPC_INVALID_REQUEST = -32600
RPC_METHOD_NOT_FOUND = -32601
RPC_PARSE_ERROR = -32700

# Methods whose parameters Core itself interprets (positional names, for named
# parameters, and the usage line printed on a wrong parameter count).
KNOWN_METHODS = {
    "getrawtransaction": (["txid", "verbose"], 'getrawtransaction "txid" ( verbose )'),
    "getblock": (["blockhash", "verbose"], 'getblock "blockhash" ( verbose )'),
    "getblockheader": (["hash", "verbose"], 'getblockheader "hash" ( verbose )'),
}


def log(message):
    sys.stderr.write(f"dogecoin_fixture_rpc: {message}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# JSON text that keeps the spelling of numbers.

def loads(text):
    """Parses JSON keeping every fractional number as its exact Decimal spelling."""
    return json.loads(text, parse_float=decimal.Decimal)


def dumps(value, indent=None, _depth=0):
    """Serialises like UniValue::write: compact unless indent is given.

    Decimals are written with format(d, "f"), which keeps their digits and
    trailing zeros (Decimal("0.00100000") -> 0.00100000, never 1E-3).
    Floats are refused: a float has already lost the spelling."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ValueError(f"not a JSON number: {value}")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats lose the spelling of numbers; use decimal.Decimal")
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        items = [dumps(item, indent, _depth + 1) for item in value]
        return _wrap("[", "]", items, indent, _depth)
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings, got {key!r}")
            separator = ": " if indent is not None else ":"
            items.append(json.dumps(key) + separator + dumps(item, indent, _depth + 1))
        return _wrap("{", "}", items, indent, _depth)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _wrap(opening, closing, items, indent, depth):
    if not items:
        return opening + closing
    if indent is None:
        return opening + ",".join(items) + closing
    inner = "\n" + " " * (indent * (depth + 1))
    return opening + inner + ("," + inner).join(items) + "\n" + " " * (indent * depth) + closing


def same_json(a, b):
    """Equality of parsed JSON values in which true is not 1 (Python's True == 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, (int, decimal.Decimal)) and isinstance(b, (int, decimal.Decimal)):
        return a == b
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------------------
# The fixture and Core's parameter handling.

class RPCError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def is_number(value):
    return isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool)


def get_str(value):
    if not isinstance(value, str):
        raise RPCError(RPC_MISC_ERROR, "JSON value is not a string as expected")
    return value


def get_bool(value):
    if not isinstance(value, bool):
        raise RPCError(RPC_MISC_ERROR, "JSON value is not a boolean as expected")
    return value


def get_int(value):
    if not is_number(value) or value != int(value):
        raise RPCError(RPC_MISC_ERROR, "JSON value is not an integer as expected")
    return int(value)


def parse_hash(value, name):
    """ParseHashV: a string of exactly 64 hex digits (either case)."""
    text = get_str(value)
    if any(c not in "0123456789abcdefABCDEF" for c in text):
        raise RPCError(RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')")
    if len(text) != 64:
        raise RPCError(RPC_INVALID_PARAMETER, f"{name} must be of length 64 (not {len(text)}, for '{text}')")
    return text.lower()


def loose_hash(value):
    """uint256S as getblock/getblockheader use it: no validation, unknown text finds no block."""
    return get_str(value).strip().lower()


def check_amount_spelling(fixture):
    """Every vout value in a verbose transaction must have exactly 8 decimals, as
    ValueFromAmount prints it; a hand-edited fixture that lost them is refused."""
    def check_tx(tx, where):
        for output in tx.get("vout", []):
            value = output.get("value")
            if not isinstance(value, decimal.Decimal) or value.as_tuple().exponent != -8:
                raise ValueError(f"{where}: vout value {value!r} is not a number with 8 decimals")

    for entry in fixture["methods"].get("getrawtransaction", []):
        if isinstance(entry.get("result"), dict):
            check_tx(entry["result"], f"getrawtransaction {entry['params']}")
    for entry in fixture["methods"].get("getblock", []):
        result = entry.get("result")
        if isinstance(result, dict) and isinstance(result.get("auxpow"), dict):
            check_tx(result["auxpow"]["tx"], f"getblock {entry['params']} auxpow")


class Fixture:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            data = loads(f.read())
        methods = data.get("methods")
        if not isinstance(methods, dict):
            raise ValueError(f"{path}: no \"methods\" object")
        for method, entries in methods.items():
            if not isinstance(entries, list):
                raise ValueError(f"{path}: {method} is not a list of answers")
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("params"), list) \
                        or ("result" in entry) == ("error" in entry):
                    raise ValueError(f"{path}: {method}: each answer needs params and one of result/error")
        check_amount_spelling(data)
        self.methods = methods

    def lookup(self, method, params):
        for entry in self.methods.get(method, []):
            if same_json(entry["params"], params):
                if "error" in entry:
                    raise RPCError(int(entry["error"]["code"]), entry["error"]["message"])
                return entry["result"]
        return None

    def call(self, method, params):
        if method not in self.methods:
            raise RPCError(RPC_METHOD_NOT_FOUND, "Method not found")
        if isinstance(params, dict):
            params = self.positional(method, params)
        if method in KNOWN_METHODS:
            names, usage = KNOWN_METHODS[method]
            if not 1 <= len(params) <= len(names):
                raise RPCError(RPC_MISC_ERROR, usage)
        if method == "getrawtransaction":
            txid = parse_hash(params[0], "parameter 1")
            verbose = False
            if len(params) > 1:
                if is_number(params[1]):
                    verbose = get_int(params[1]) != 0
                elif isinstance(params[1], bool):
                    verbose = params[1]
                else:
                    raise RPCError(RPC_TYPE_ERROR, "Invalid type provided. Verbose parameter must be a boolean.")
            answer = self.lookup(method, [txid, verbose])
            if answer is None:
                raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "No such mempool or blockchain transaction. "
                               "Use gettransaction for wallet transactions.")
            return answer
        if method in ("getblock", "getblockheader"):
            block_hash = loose_hash(params[0])
            verbose = get_bool(params[1]) if len(params) > 1 else True
            answer = self.lookup(method, [block_hash, verbose])
            if answer is None:
                raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
            return answer
        answer = self.lookup(method, params)
        if answer is None:
            raise RPCError(RPC_MISC_ERROR, f"the fixture has no answer for {method} {dumps(params)}")
        return answer

    @staticmethod
    def positional(method, named):
        """Named parameters (Core 0.14's transformNamedArguments), for the methods we know."""
        if method not in KNOWN_METHODS:
            raise RPCError(RPC_INVALID_PARAMETER, f"the fixture server takes named parameters only for {', '.join(KNOWN_METHODS)}")
        names = KNOWN_METHODS[method][0]
        for name in named:
            if name not in names:
                raise RPCError(RPC_INVALID_PARAMETER, f"Unknown named parameter {name}")
        params = [named.get(name) for name in names]
        while params and params[-1] is None:
            params.pop()
        return params


# ---------------------------------------------------------------------------
# JSON-RPC over HTTP, as httprpc.cpp does it.

def reply(result, error, request_id):
    return {"result": result, "error": error, "id": request_id}


def error_object(code, message):
    return {"code": code, "message": message}


def execute_one(fixture, request, log_requests):
    """One request object -> one reply object (JSONRPCExecOne)."""
    request_id = None
    try:
        if not isinstance(request, dict):
            raise RPCError(RPC_INVALID_REQUEST, "Invalid Request object")
        request_id = request.get("id")
        method = request.get("method")
        if method is None:
            raise RPCError(RPC_INVALID_REQUEST, "Missing method")
        if not isinstance(method, str):
            raise RPCError(RPC_INVALID_REQUEST, "Method must be a string")
        params = request.get("params", [])
        if params is None:
            params = []
        if not isinstance(params, (list, dict)):
            raise RPCError(RPC_INVALID_REQUEST, "Params must be an array or object")
        if log_requests:
            log(f"{method} {dumps(params)}")
        return reply(fixture.call(method, params), None, request_id)
    except RPCError as failure:
        return reply(None, error_object(failure.code, failure.message), request_id)


def handle_body(fixture, body, log_requests=False):
    """Returns (HTTP status, reply text) for a request body."""
    try:
        request = loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return 500, dumps(reply(None, error_object(RPC_PARSE_ERROR, "Parse error"), None))
    if isinstance(request, list):
        return 200, dumps([execute_one(fixture, item, log_requests) for item in request])
    if isinstance(request, dict):
        answer = execute_one(fixture, request, log_requests)
        status = 200
        if answer["error"] is not None:
            code = answer["error"]["code"]
            status = 400 if code == RPC_INVALID_REQUEST else 404 if code == RPC_METHOD_NOT_FOUND else 500
        return status, dumps(answer)
    return 500, dumps(reply(None, error_object(RPC_PARSE_ERROR, "Top-level object parse error"), None))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    server_version = "dogecoin-fixture-rpc"
    disable_nagle_algorithm = True

    def _send(self, status, body=b"", headers=(), content_type="application/json"):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _authorised(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:].strip(), validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(given, self.server.credentials)

    def do_POST(self):  # noqa: N802 (http.server naming)
        if not self._authorised():
            log(f"refused a request from {self.client_address[0]} with wrong credentials")
            time.sleep(0.25)  # Core deters brute-forcing the same way
            self.close_connection = True  # the unread body must not be taken for the next request
            return self._send(401, headers=[("WWW-Authenticate", 'Basic realm="jsonrpc"')])
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY:
            self.close_connection = True
            return self._send(400 if length is None or not length.isdigit() else 413)
        body = self.rfile.read(int(length))
        status, text = handle_body(self.server.fixture, body, self.server.log_requests)
        self._send(status, (text + "\n").encode("utf-8"))

    def _not_post(self):
        self.close_connection = True
        self._send(405, b"JSONRPC server handles only POST requests", content_type="text/html")

    do_GET = do_PUT = do_DELETE = _not_post  # noqa: N815

    def log_message(self, fmt, *args):
        if self.server.log_requests:
            log("http " + (fmt % args))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Fixture JSON-RPC server answering like Dogecoin Core 1.14.")
    ap.add_argument("--fixture", required=True, help="fixture JSON file (method -> list of answers)")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address to bind (127.0.0.0/8 only)")
    ap.add_argument("--port", type=int, default=0, help="TCP port; 0 (the default) picks a free one")
    ap.add_argument("--port-file", help="also write the bound port here, atomically")
    ap.add_argument("--rpc-user", required=True)
    ap.add_argument("--rpc-password", required=True)
    ap.add_argument("--ignore-stdin", action="store_true", help="keep running when stdin reaches end of file")
    ap.add_argument("--log-requests", action="store_true", help="log each call to stderr")
    args = ap.parse_args(argv)
    if not args.host.startswith("127."):
        ap.error("--host must be a loopback address (127.0.0.0/8): this server is for local tests only")
    if not 0 <= args.port <= 65535:
        ap.error("--port must be 0..65535")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        fixture = Fixture(args.fixture)
    except (OSError, ValueError) as problem:
        log(f"cannot load the fixture: {problem}")
        return 1
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as problem:
        log(f"cannot listen on {args.host}:{args.port}: {problem}")
        return 1
    server.fixture = fixture
    server.credentials = f"{args.rpc_user}:{args.rpc_password}".encode("utf-8")
    server.log_requests = args.log_requests
    port = server.server_address[1]

    stop = threading.Event()

    def on_signal(signum, _frame):
        log(f"received {signal.Signals(signum).name}, shutting down")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if not args.ignore_stdin:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except (OSError, ValueError):
                pass
            log("stdin closed, shutting down")
            stop.set()
        threading.Thread(target=watch_stdin, daemon=True).start()

    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    if args.port_file:
        write_port_file(args.port_file, port)
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    log(f"listening on http://{args.host}:{port} with {args.fixture}")

    serve_until_parent_exits(server, stop, port, args.port_file, log, poll_seconds=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
