#!/usr/bin/env bash
# Crash benchmark (the large sibling of Tests/TokPipelineTests/CrashTests.swift).
#
# Starts its own local EVM chain (testpeers/evm_node.py, a block every 100 ms),
# makes real native and ERC-20 deposits, writes a mixed stream of deposit,
# payout and transfer requests (payouts to fresh, empty addresses, signed with
# the accounts' keys by eth_account in the test-peer venv), then runs chaos
# rounds: each round runs
#   tok-validate | tok-verify | tok-apply | tok-submit --wait | tok-apply
# (small batches) on the stream up to the round's mark (the last round: all of
# it), kill -9s one stage at a random moment, and between rounds sometimes runs
# pipelines/reconcile.sh, and sometimes kill -9s that too. Then it recovers
# (reconciliation, a clean replay of the whole stream, reconciliation until no
# payout is open) and checks:
#   - tok-apply --check passes;
#   - one deposits row per deposit transaction, and every account's
#     available + locked = its deposits - (quantity + fee) of its confirmed
#     payouts - the charged fee of failed ones;
#   - every payout and transfer is confirmed, every deposit credited;
#   - the operator's on-chain nonce grew by exactly the number of confirmed
#     payouts (nonce fillers included), and each fresh destination holds
#     exactly its payout on chain;
#   - no locked balance and no payout left prepared or submitted.
# Prints a summary and exits 1 on any violation (2 when the run itself broke).
#
# Usage: bash bench/crash.sh [options]
#   --deposits N (200)  --payouts N (200)  --transfers N (20)  --rounds N (20)
#   --seed S            replay a run: the seed is printed first (the kill schedule,
#                       the stream's order and amounts follow from it; chain timing does not)
#   --kill-max-ms N     upper end of the random kill delay (default: 2000 + 25 ms per request in the round)
#   --bin DIR           the tok-* executables (default $TOK_BIN_DIR, else .build/release, else .build/debug)
#   --keep              keep the work directory (database, stream, every stage's stdout/stderr)
# Example: bash bench/crash.sh --seed 42 --rounds 30
# Progress goes to stderr; the summary to stdout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$root/.venv-peers/bin/python"
[[ -x $python ]] || { echo "crash: no $python: run bash scripts/peers-venv.sh (or scripts/setup.sh) first" >&2; exit 2; }
export TOK_ROOT="$root"
exec "$python" - "$@" <<'PY'
import argparse, json, os, random, shutil, signal, sqlite3, subprocess, sys, tempfile, time, urllib.request

from eth_account import Account
from eth_account.messages import encode_defunct

ROOT = os.environ["TOK_ROOT"]
RECEIVER = "0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528"          # funded account #10, key 0x..0a
OPERATOR_KEY = "0x" + "0" * 63 + "a"
USER_KEYS = ["0x" + "0" * 63 + str(i + 1) for i in range(4)]     # funded accounts #1-#4
USERS = [Account.from_key(k).address for k in USER_KEYS]
SECRET = "crash-bench-attestation-secret-0123456789abcdef"
STAGES = ["validate", "verify", "apply-prepare", "submit", "apply-commit"]


def say(text):
    print(f"crash: {text}", file=sys.stderr, flush=True)


def broken(text):
    """The run itself failed (not a finding about tok): exit 2."""
    say(text)
    raise SystemExit(2)


parser = argparse.ArgumentParser(prog="bench/crash.sh")
parser.add_argument("--deposits", type=int, default=200)
parser.add_argument("--payouts", type=int, default=200)
parser.add_argument("--transfers", type=int, default=20)
parser.add_argument("--rounds", type=int, default=20)
parser.add_argument("--seed", type=int, default=None)
parser.add_argument("--kill-max-ms", type=int, default=None)
parser.add_argument("--bin", default=None)
parser.add_argument("--keep", action="store_true")
args = parser.parse_args()
if args.deposits < 12 or args.payouts < 1 or args.transfers < 0 or args.rounds < 1:
    parser.error("need --deposits >= 12 (each account needs ETH and TOK deposits), --payouts >= 1, --rounds >= 1")
seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**63)
rng = random.Random(seed)


def default_bin():
    if os.environ.get("TOK_BIN_DIR"):
        return os.environ["TOK_BIN_DIR"]
    for candidate in (".build/release", ".build/debug"):
        if os.access(os.path.join(ROOT, candidate, "tok-apply"), os.X_OK):
            return os.path.join(ROOT, candidate)
    broken("no tok-* executables: swift build -c release (or pass --bin)")


bin_dir = os.path.abspath(args.bin or default_bin())
say(f"seed {seed} (rerun: bash bench/crash.sh --seed {seed} --deposits {args.deposits} --payouts {args.payouts} "
    f"--transfers {args.transfers} --rounds {args.rounds}); tools from {bin_dir}")
work = tempfile.mkdtemp(prefix="tok-crash-")
started = time.monotonic()

# --- the chain -------------------------------------------------------------

port_file = os.path.join(work, "evm.port")
node_log = open(os.path.join(work, "evm_node.log"), "w")
node = subprocess.Popen([os.path.join(ROOT, ".venv-peers/bin/python"), os.path.join(ROOT, "testpeers/evm_node.py"),
                         "--port", "0", "--port-file", port_file], stdin=subprocess.DEVNULL, stdout=node_log, stderr=node_log)
running = []   # pipelines started by us, killed on the way out


def cleanup():
    for process in running:
        if process.poll() is None:
            for child in children(process.pid):
                try: os.kill(child[0], signal.SIGKILL)
                except ProcessLookupError: pass
            process.kill()
            process.wait()
    if node.poll() is None:
        node.terminate()
        try: node.wait(10)
        except subprocess.TimeoutExpired: node.kill()
    if args.keep:
        say(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def children(parent):
    """(pid, argv) of the live (non-zombie) processes whose parent is `parent`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f: stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f: argv = [a.decode() for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[1]) == parent:
            found.append((int(entry), argv))
    return sorted(found)


try:
    deadline = time.monotonic() + 60
    while not os.path.exists(port_file):
        if node.poll() is not None or time.monotonic() > deadline:
            broken("evm_node.py did not start (see evm_node.log with --keep)")
        time.sleep(0.05)
    url = "http://127.0.0.1:" + open(port_file).read().strip()

    def rpc(method, params=()):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    chain_id = int(rpc("eth_chainId"), 16)
    rpc("tokdev_setBlockInterval", [100])
    token = rpc("tokdev_deployToken", [{"from": 0, "name": "Test TOK", "symbol": "TOK", "decimals": 18,
                                         "supply": "1000000000000000000000000"}])["address"]
    # The same config the Swift pipeline tests use: one template, testpeers/evm-local.toml.
    template = open(os.path.join(ROOT, "testpeers", "evm-local.toml")).read()
    with open(os.path.join(work, "tok.toml"), "w") as f:
        f.write(template.replace("@CHAIN_ID@", str(chain_id)).replace("@URL@", url).replace("@RECEIVER@", RECEIVER)
                .replace("@TOKEN@", token).replace("@CONFIRMATIONS@", "3"))

    def fee(symbol, quantity):
        return 1000 + quantity * 10 // 10000 if symbol == "ETH" else 7

    def deposit_tx(user, symbol, amount):
        if symbol == "ETH":
            return rpc("tokdev_sendEth", [{"from": user, "to": RECEIVER, "value": str(amount)}])
        return rpc("tokdev_transferToken", [{"token": token, "from": user, "to": RECEIVER, "amount": str(amount)}])

    def signed_payout(request_id, user, destination, symbol, quantity, tx=None):
        """The request line, signed as Sources/TokShared/Records/PayoutAuthorisation.swift defines the message."""
        max_fee, expires = 10**17, int(time.time()) + 6 * 3600
        message = "\n".join([
            "tok payout v1", f"id: {request_id}", f"source: eip155:{chain_id}:{USERS[user]}",
            f"destination: eip155:{chain_id}:{destination}", f"token: {symbol}", f"quantity: {quantity}",
            f"max fee: {max_fee}", f"expires: {expires}"])
        signature = "0x" + bytes(Account.sign_message(encode_defunct(text=message), USER_KEYS[user]).signature).hex()
        record = {"op": "transfer" if tx else "payout", "id": request_id,
                  "source": {"account": USERS[user], "network": "evm-local", "token": symbol},
                  "destination": {"account": destination, "network": "evm-local", "token": symbol},
                  "quantity": str(quantity), "max_fee": str(max_fee), "expires": expires, "signature": signature}
        if tx:
            record["deposit"] = {"tx": tx}
        return json.dumps(record, separators=(",", ":"))

    def fresh_address():
        # A key from the seeded generator: an address nobody has ever paid.
        return Account.from_key(rng.randrange(1, 2**255).to_bytes(32, "big")).address

    # --- the stream ----------------------------------------------------------

    say(f"making {args.deposits} deposits and {args.transfers} transfer deposits on chain")
    for user in range(1, 4):
        rpc("tokdev_transferToken", [{"token": token, "from": 0, "to": USERS[user], "amount": str(10**12)}])
    items = []
    for index in range(args.deposits):
        user, symbol = index % 4, ("TOK" if (index // 4) % 3 == 2 else "ETH")
        amount = 10**18 + rng.randrange(10**6) if symbol == "ETH" else 10**6 + rng.randrange(1000)
        tx = deposit_tx(user, symbol, amount)
        request_id = f"d-{index:04d}"
        items.append(dict(kind="deposit", id=request_id, user=user, token=symbol, tx=tx, amount=amount,
                          line=json.dumps({"op": "deposit", "id": request_id, "source": {"account": USERS[user], "network": "evm-local", "token": symbol},
                                           "deposit": {"tx": tx}}, separators=(",", ":"))))
    for index in range(args.payouts):
        user, symbol = index % 4, ("TOK" if index % 3 == 2 else "ETH")
        quantity = 10**15 * (1 + rng.randrange(50)) + rng.randrange(1000) if symbol == "ETH" else 100 + rng.randrange(5000)
        destination, request_id = fresh_address(), f"p-{index:04d}"
        items.append(dict(kind="payout", id=request_id, user=user, token=symbol, destination=destination, quantity=quantity,
                          line=signed_payout(request_id, user, destination, symbol, quantity)))
    for index in range(args.transfers):
        user, symbol = 1 + index % 3, ("TOK" if index % 3 == 1 else "ETH")
        amount = 5 * 10**17 + rng.randrange(10**6) if symbol == "ETH" else 500_000
        quantity = 10**17 + rng.randrange(10**6) if symbol == "ETH" else 1000 + rng.randrange(1000)
        tx = deposit_tx(user, symbol, amount)
        destination, request_id = fresh_address(), f"t-{index:04d}"
        items.append(dict(kind="transfer", id=request_id, user=user, token=symbol, tx=tx, amount=amount,
                          destination=destination, quantity=quantity,
                          line=signed_payout(request_id, user, destination, symbol, quantity, tx)))
    rpc("evm_mine", [3])

    # Mixed order, then repaired: before each payout, the deposits of its account and token
    # so far cover every payout of theirs so far (quantity + fee); a later deposit is moved up if not.
    rng.shuffle(items)
    repaired = False
    while not repaired:
        repaired = True
        have, need = {}, {}
        for position, item in enumerate(items):
            key = (item["user"], item["token"])
            if "tx" in item:
                have[key] = have.get(key, 0) + item["amount"]
            if item["kind"] == "deposit":
                continue
            need[key] = need.get(key, 0) + item["quantity"] + fee(item["token"], item["quantity"])
            if need[key] <= have.get(key, 0):
                continue
            later = next((i for i in range(position + 1, len(items))
                          if items[i]["kind"] == "deposit" and (items[i]["user"], items[i]["token"]) == key), None)
            if later is None:
                broken(f"account {key[0]} {key[1]}: the deposits do not cover its payouts; use fewer payouts per deposit")
            items.insert(position, items.pop(later))
            repaired = False
            break
    with open(os.path.join(work, "stream.ndjson"), "w") as f:
        f.write("".join(item["line"] + "\n" for item in items))
    operator_nonce_before = int(rpc("eth_getTransactionCount", [RECEIVER, "latest"]), 16)

    # --- pipelines -------------------------------------------------------------

    env = dict(os.environ, PATH=bin_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin"), TOK_ATTESTATION_SECRET=SECRET,
               TOK_CONFIG=os.path.join(work, "tok.toml"), TOK_LOG_LEVEL="info", TOK_TEST_OPERATOR_KEY=OPERATOR_KEY)

    def chaos_pipeline(stream, wait_ms):
        return (f"tok-validate --batch-size 2 < {stream} | tok-verify --db state.sqlite --batch-size 2"
                f" | tok-apply --db state.sqlite --batch-size 2"
                f" | tok-submit --batch-size 3 --wait --poll-milliseconds 100 --wait-timeout-milliseconds {wait_ms}"
                f" | tok-apply --db state.sqlite --batch-size 3")

    def stage_name(argv):
        tool = os.path.basename(argv[0]) if argv else ""
        if tool == "tok-apply" and "--batch-size" in argv:
            return "apply-commit" if argv[argv.index("--batch-size") + 1] == "3" else "apply-prepare"
        return {"tok-validate": "validate", "tok-verify": "verify", "tok-submit": "submit"}.get(tool)

    def start(name, argv):
        out = open(os.path.join(work, name + ".out"), "w")
        err = open(os.path.join(work, name + ".err"), "w")
        process = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        running.append(process)
        return process

    def live_stages(process):
        return [(pid, argv) for pid, argv in children(process.pid) if argv and os.path.basename(argv[0]).startswith("tok-")]

    def wait_for_stages(process, count, timeout):
        deadline = time.monotonic() + timeout
        while len(live_stages(process)) < count and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)

    def finish(process, name, timeout):
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid, _ in children(process.pid):
                os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait()
            broken(f"{name} did not end within {timeout} s: killed it")

    def records(name):
        found = []
        for line in open(os.path.join(work, name + ".out")):
            try:
                value = json.loads(line)
            except ValueError:
                continue          # half a line from a killed stage
            if isinstance(value, dict):
                found.append(value)
        return found

    def tok(arguments, stdin_text=""):
        return subprocess.run(["bash", "-c", arguments], cwd=work, env=env, input=stdin_text, capture_output=True, text=True)

    reconcile_script = os.path.join(ROOT, "pipelines/reconcile.sh")

    def request_states():
        """id -> the "request" object of tok-apply's status answer."""
        result = tok("tok-apply --db state.sqlite", "".join(json.dumps({"op": "status", "id": item["id"]}) + "\n" for item in items))
        if result.returncode != 0:
            broken(f"status queries failed: {result.stderr.strip()}")
        states = {}
        for line in result.stdout.splitlines():
            record = json.loads(line)
            states[record.get("id")] = record.get("request", {})
        return states

    def is_final(item, state):
        return (state or {}).get("state") == ("credited" if item["kind"] == "deposit" else "confirmed")

    def reconcile(name, wait_ms=20000):
        process = start(name, ["bash", reconcile_script, "state.sqlite", "--wait-timeout-milliseconds", str(wait_ms)])
        code = finish(process, name, 180)
        return code, len(records(name))

    def open_payouts():
        result = tok("tok-apply --db state.sqlite --open-payouts")
        if result.returncode != 0:
            broken(f"tok-apply --open-payouts failed: {result.stderr.strip()}")
        return [line for line in result.stdout.splitlines() if line.strip()]

    # --- chaos -----------------------------------------------------------------

    victims = STAGES[:]
    rng.shuffle(victims)
    while len(victims) < args.rounds:
        victims.append(rng.choice(STAGES))
    between = ["killed-reconcile" if v in ("submit", "apply-commit") else rng.choice(["nothing", "reconcile"]) for v in victims]
    chosen = {name: 0 for name in STAGES}
    landed = {name: 0 for name in STAGES + ["reconcile"]}
    reconcile_runs = 0
    lifetimes = {}   # (stage, odd round?) -> how long it lived in the last such round where no kill landed
    for round_index in range(args.rounds):
        victim = victims[round_index]
        # The stream in `rounds` chunks. Even rounds replay from the first request not final yet (at the
        # latest from the previous chunk, so finished ones are replayed too) through their own chunk, so
        # kills land in fresh work; odd rounds replay everything so far (kills land in replays, and an
        # input above the pipe's 64 KiB keeps tok-validate alive long enough to be killed).
        end = -(-(round_index + 1) * len(items) // args.rounds)
        previous_chunk = 0 if round_index == 0 else (round_index - 1) * len(items) // args.rounds
        states = request_states()
        unfinished = next((i for i, item in enumerate(items) if not is_final(item, states.get(item["id"]))), len(items))
        begin = 0 if round_index % 2 else min(previous_chunk, unfinished)
        stream = f"stream-{round_index}.ndjson"
        with open(os.path.join(work, stream), "w") as f:
            f.write("".join(item["line"] + "\n" for item in items[begin:end]))
        # A random moment, within how long the victim lived in rounds where no kill landed (upstream
        # stages end long before the pipeline does), so most kills land mid-stream.
        kill_max = args.kill_max_ms or 2000 + 25 * (end - begin)
        delay = rng.randint(50, max(50, min(kill_max, lifetimes.get((victim, round_index % 2), kill_max))))
        name = f"round-{round_index}"
        process = start(name, ["bash", "-c", chaos_pipeline(stream, 5000)])
        round_started = time.monotonic()
        chosen[victim] += 1
        hit = attempted = False
        last_seen = {}
        while process.poll() is None and not hit:
            elapsed = int((time.monotonic() - round_started) * 1000)
            stages = live_stages(process)
            for pid, argv in stages:
                last_seen[stage_name(argv)] = elapsed
            if elapsed >= delay and not attempted:
                attempted = True
                for pid, argv in stages:
                    if stage_name(argv) == victim:
                        try:
                            os.kill(pid, signal.SIGKILL)
                            hit = True
                        except ProcessLookupError:
                            pass
            time.sleep(0.005)
        landed[victim] += hit
        if not hit:
            for stage, milliseconds in last_seen.items():
                lifetimes[(stage, round_index % 2)] = max(60, milliseconds)
        code = finish(process, name, 300)
        say(f"round {round_index} (requests {begin}..{end - 1}): kill -9 {victim} after {delay} ms: {'killed' if hit else 'had already exited'};"
            f" exit {code}, {len(records(name))} records out")
        action = between[round_index]
        if action == "reconcile":
            reconcile_runs += 1
            code, count = reconcile(f"reconcile-{round_index}")
            say(f"round {round_index}: reconciliation exit {code}, {count} records")
        elif action == "killed-reconcile":
            reconcile_runs += 1
            open_count = len(open_payouts())
            name = f"reconcile-{round_index}"
            process = start(name, ["bash", reconcile_script, "state.sqlite", "--wait-timeout-milliseconds", "20000"])
            wait_for_stages(process, 5, 2)
            delay = rng.randint(50, 1500)
            time.sleep(delay / 1000)
            stages = live_stages(process)
            target = rng.choice(stages) if stages else None
            if target:
                try:
                    os.kill(target[0], signal.SIGKILL)
                    landed["reconcile"] += 1
                except ProcessLookupError:
                    target = None
            finish(process, name, 180)
            say(f"round {round_index}: reconciliation of {open_count} open payout(s), kill -9 "
                + (f"{os.path.basename(target[1][0])} after {delay} ms" if target else f"nothing (it had ended) after {delay} ms"))

    # --- recovery ----------------------------------------------------------------

    code, _ = reconcile("recover")
    say(f"recovery reconciliation exit {code}")
    violations = []
    states = {}
    passes = 0
    advisory_refusals = 0
    for passes in range(1, 4):
        name = f"replay-{passes}"
        process = start(name, ["bash", "-c", "set -o pipefail; " + chaos_pipeline("stream.ndjson", 30000)])
        code = finish(process, name, 1800)
        if code != 0:
            violations.append(f"replay {passes} exited {code}: {open(os.path.join(work, name + '.err')).read()[-2000:]}")
        settle = 0
        while open_payouts() and settle < 6:
            settle += 1
            reconcile(f"{name}-settle-{settle}")
        states = request_states()
        unfinished = [item["id"] for item in items if not is_final(item, states.get(item["id"]))]
        say(f"replay {passes}: exit {code}, {settle} settling reconciliation(s), {len(unfinished)} request(s) unfinished")
        # Only tok-verify's advisory refusal (it does not count deposits still in flight in the same
        # run; retryable) may leave a request for another pass; anything else is a finding.
        said = {record.get("id"): record for record in records(name)}
        for request_id in unfinished:
            error = (said.get(request_id) or {}).get("error") or {}
            if (error.get("stage"), error.get("code")) != ("verify", "insufficient_balance"):
                violations.append(f"{request_id} not final after replay {passes}: {json.dumps(said.get(request_id))[:600]}")
        advisory_refusals += len(unfinished)
        if not unfinished:
            break

    # --- checks ----------------------------------------------------------------

    check = tok("tok-apply --db state.sqlite --check")
    if check.returncode != 0:
        violations.append(f"tok-apply --check exit {check.returncode}: {check.stdout.strip()} {check.stderr.strip()}")
    for item in items:
        want = "credited" if item["kind"] == "deposit" else "confirmed"
        got = states.get(item["id"], {}).get("state", "unknown")
        if got != want:
            violations.append(f"{item['id']} ({item['kind']}) ended {got}, expected {want}")
    db = sqlite3.connect(f"file:{os.path.join(work, 'state.sqlite')}?mode=ro", uri=True)
    deposit_rows = db.execute("SELECT count(*) FROM deposits").fetchone()[0]
    deposit_txs = {item["tx"] for item in items if "tx" in item}
    if deposit_rows != len(deposit_txs):
        violations.append(f"{deposit_rows} deposit rows for {len(deposit_txs)} deposit transactions")
    expected = {}
    for item in items:
        key = (item["user"], item["token"])
        if "tx" in item:
            expected[key] = expected.get(key, 0) + item["amount"]
        if item["kind"] != "deposit":
            payout = states.get(item["id"], {}).get("payout", {})
            if payout.get("state") == "confirmed":
                expected[key] = expected.get(key, 0) - item["quantity"] - fee(item["token"], item["quantity"])
            elif payout.get("state") == "failed":
                expected[key] = expected.get(key, 0) - int(payout.get("charged_fee", "0"))
    queries = "\n".join(json.dumps({"op": "balance", "id": f"b-{u}-{s}", "source": {"account": USERS[u], "network": "evm-local", "token": s}})
                        for u in range(4) for s in ("ETH", "TOK"))
    answers = {json.loads(line)["id"]: json.loads(line).get("balance", {}) for line in tok("tok-apply --db state.sqlite", queries + "\n").stdout.splitlines()}
    for user in range(4):
        for symbol in ("ETH", "TOK"):
            balance = answers.get(f"b-{user}-{symbol}", {})
            held = int(balance.get("available", "-1")) + int(balance.get("locked", "0"))
            if held != expected.get((user, symbol), 0):
                violations.append(f"account {user} {symbol}: holds {held}, expected {expected.get((user, symbol), 0)}")
    confirmed = db.execute("SELECT count(*) FROM payouts WHERE state = 'confirmed'").fetchone()[0]
    fillers = db.execute("SELECT count(*) FROM payouts WHERE op = 'nonce_fill'").fetchone()[0]
    sent = int(rpc("eth_getTransactionCount", [RECEIVER, "latest"]), 16) - operator_nonce_before
    if sent != confirmed:
        by_state = db.execute("SELECT op, state, count(*) FROM payouts GROUP BY op, state").fetchall()
        violations.append(f"the operator sent {sent} transactions on chain, {confirmed} payouts are confirmed ({by_state})")
    for item in items:
        if item["kind"] == "deposit":
            continue
        eth = int(rpc("eth_getBalance", [item["destination"], "latest"]), 16)
        tok_units = int(rpc("tokdev_tokenBalance", [{"token": token, "owner": item["destination"]}]), 16)
        want_eth, want_tok = (item["quantity"], 0) if item["token"] == "ETH" else (0, item["quantity"])
        if (eth, tok_units) != (want_eth, want_tok):
            violations.append(f"{item['id']}: {item['destination']} received {eth} wei and {tok_units} TOK, expected {want_eth} and {want_tok}")
    stranded = db.execute("SELECT count(*) FROM balances WHERE locked <> '0'").fetchone()[0]
    still_open = db.execute("SELECT count(*) FROM payouts WHERE state IN ('prepared', 'submitted')").fetchone()[0]
    if stranded:
        violations.append(f"{stranded} balance(s) with a stranded lock")
    if still_open:
        violations.append(f"{still_open} payout(s) still prepared or submitted")
    db.close()

    seconds = time.monotonic() - started
    print(f"crash bench: seed {seed}, {args.rounds} rounds, {len(items)} requests "
          f"({args.deposits} deposits, {args.payouts} payouts, {args.transfers} transfers), {seconds:.0f} s")
    print("  kills landed/chosen: " + ", ".join(f"{s} {landed[s]}/{chosen[s]}" for s in STAGES)
          + f", reconcile {landed['reconcile']} (of {reconcile_runs} reconciliation runs between rounds)")
    print(f"  replay passes {passes} ({advisory_refusals} advisory insufficient_balance refusal(s) retried); payouts confirmed {confirmed} (nonce fillers {fillers}); operator transactions {sent}; deposit rows {deposit_rows}")
    if violations:
        print(f"  VIOLATIONS ({len(violations)}):")
        for violation in violations:
            print("   - " + violation)
        print(f"  rerun: bash bench/crash.sh --seed {seed} --deposits {args.deposits} --payouts {args.payouts} "
              f"--transfers {args.transfers} --rounds {args.rounds} --keep")
        exit_code = 1
    else:
        print("  all checks ok: invariants, no double credit, no double payout, every request final, no stranded lock")
        exit_code = 0
finally:
    cleanup()
sys.exit(exit_code)
PY
