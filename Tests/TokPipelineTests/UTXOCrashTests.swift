import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest
@testable import TokShared

/// The crash test of CrashTests on a Bitcoin-family chain: kill -9 each stage
/// at random moments while a stream of deposits and payouts runs against a
/// real litecoind on regtest (a background miner keeps producing blocks), then
/// reconcile and replay, and check against the node that no coin was spent
/// twice, no payout was made twice, nothing is stranded, and the ledger's coin
/// pool is exactly the operator's unspent outputs on chain.
///
/// The run is driven by a seed (printed first). To replay a failing run:
///     TOK_CRASH_SEED=<seed> swift test --skip-build --filter UTXOCrashTests
/// TOK_CRASH_ROUNDS overrides the number of chaos rounds (default 6);
/// TOK_UTXO_CRASH_SCALE multiplies the stream (default 1: 10 deposits, 10 payouts).
class UTXOCrashTests: PipelineTestCase {
    enum Kind: String { case deposit, payout }

    /// One request of the stream and what it must do. Amounts in base units
    /// (LTC has 8 decimals on chain and in the ledger).
    struct StreamItem {
        let kind: Kind
        let id: String
        let user: Int
        /// Deposits: the on-chain deposit and its amount.
        let depositTx: String?
        let depositAmount: UInt64
        /// Payouts: a fresh wallet address and what it must receive.
        let destination: String?
        let quantity: UInt64
        let line: String
    }

    /// The fee rules of the config below: fixed fee, failure fee (base units).
    static let fee: UInt64 = 10_000
    static let failureFee: UInt64 = 5_000
    static let network = "ltc-regtest"
    static var operatorAddress: String { UTXOPayoutPipelineTests.operatorAddress }

    var node: LitecoinNode!
    var miner: BackgroundMiner?
    var users: [String] = []
    var seedNote = ""
    var chaos: CrashLedger { CrashLedger(workspace: workspace, seedNote: seedNote) }

    override func setUpWithError() throws {
        try super.setUpWithError()
        node = try LitecoinNode()
        try node.mine(110)  // coinbase maturity is 100 on regtest
        try workspace.write("tok.toml", node.payoutConfig(operatorAddress: UTXOCrashTests.operatorAddress))
    }

    override func tearDown() {
        miner?.stop()
        miner = nil
        node?.stop()
        node = nil
        super.tearDown()
    }

    // MARK: The test

    func testKillNineAnyStageThenReconcileAndReplay() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["TOK_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(Int64.max))
        let rounds = environment["TOK_CRASH_ROUNDS"].flatMap { Int($0) } ?? 6
        let scale = max(1, environment["TOK_UTXO_CRASH_SCALE"].flatMap { Int($0) } ?? 1)
        seedNote = "seed \(seed) (rerun: TOK_CRASH_SEED=\(seed) swift test --skip-build --filter UTXOCrashTests)"
        print("UTXOCrashTests: \(seedNote), \(rounds) rounds, scale \(scale)")
        var rng = SeededGenerator(seed: seed)
        let started = Date()

        let items = try makeStream(deposits: 10 * scale, payouts: 10 * scale, rng: &rng)
        try workspace.write("stream.ndjson", items.map(\.line).joined(separator: "\n") + "\n")
        print("UTXOCrashTests: stream of \(items.count) requests: " + items.map(\.id).joined(separator: " "))

        // Blocks keep coming while the stages run, so tok-submit --wait sees confirmations grow.
        let miner = BackgroundMiner(node: node, address: try node.newAddress(), intervalMilliseconds: 200)
        self.miner = miner
        miner.start()

        let campaign = CrashCampaign(workspace: workspace, label: "UTXOCrashTests", seedNote: seedNote)
        let kills = try campaign.chaos(
            lines: items.map(\.line), rounds: rounds, rng: &rng,
            firstUnfinished: { try firstUnfinished(items) },
            describe: UTXOCrashTests.refusals,
            afterRound: { try checkInvariants(after: "round \($0)") })
        // Another pass only for refusals that are retryable by design and lock nothing: no free coin
        // (every coin reserved by open payouts, or their change not confirmed yet: insufficient_coins,
        // coin_conflict), or tok-verify's advisory balance check not counting a deposit still in flight
        // (insufficient_balance at verify, see CrashTests).
        let (states, passes) = try campaign.recover(
            ids: items.map(\.id), maxPasses: 4, isFinal: { isFinal(items[$0], $1) },
            mayRetry: {
                UTXOCrashTests.isRetryableRefusal(code: $0?.string(at: "code"), stage: $0?.string(at: "stage"))
            },
            describe: UTXOCrashTests.refusals)
        miner.stop()
        try assertOutcome(items, states: states)
        let seconds = Int(Date().timeIntervalSince(started))
        print(
            "UTXOCrashTests: \(rounds) rounds, kills \(kills.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")), "
                + "\(items.count) requests, \(passes) replay pass(es), \(miner.blocks) blocks mined meanwhile, \(seconds) s; \(seedNote)"
        )
    }

    /// ", refused: code@stage×n ..." for the records that carry an error (empty when none do).
    static func refusals(_ records: [JSON]) -> String {
        var counts: [String: Int] = [:]
        for record in records {
            guard let error = record["error"] else { continue }
            counts["\(error.string(at: "code") ?? "?")@\(error.string(at: "stage") ?? "?")", default: 0] += 1
        }
        return counts.isEmpty
            ? ""
            : ", refused: " + counts.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")
    }

    /// Refusals that lock nothing and go through on a later run.
    static func isRetryableRefusal(code: String?, stage: String?) -> Bool {
        switch (code, stage) {
        case ("insufficient_coins", "verify"), ("coin_conflict", "verify"), ("insufficient_balance", "verify"),
            ("coin_conflict", "apply"):
            return true
        default:
            return false
        }
    }

    // MARK: The stream

    /// Real deposits on chain (each from one user's own coins to the operator),
    /// then the request lines: the deposits and payouts to fresh wallet addresses,
    /// shuffled so that each user's deposits before a payout cover it and every
    /// payout of that user before it.
    func makeStream(deposits: Int, payouts: Int, rng: inout SeededGenerator) throws -> [StreamItem] {
        users = try (0..<3).map { _ in try node.newAddress() }
        // node.send spends confirmed coins only: give each user one coin per deposit it makes.
        for (index, user) in users.enumerated() {
            for _ in 0..<((deposits - index + 2) / 3) { try node.fund(user, coins: "10") }
        }
        try node.mine(1)
        var items: [StreamItem] = []
        for index in 0..<deposits {
            let user = index % 3
            let amount = 50_000_000 + rng.next() % 250_000_001  // 0.5-3 LTC
            let tx = try node.send(
                from: [users[user]], to: UTXOCrashTests.operatorAddress,
                coins: CoinAmount.decimalText(baseUnits: amount, decimals: 8))
            let id = String(format: "d-%03d", index)
            items.append(
                StreamItem(
                    kind: .deposit, id: id, user: user, depositTx: tx, depositAmount: amount, destination: nil,
                    quantity: 0,
                    line: depositRequest(
                        id: id, account: users[user], token: "LTC", tx: tx, network: UTXOCrashTests.network)))
        }
        try node.mine(3)  // the deposits are at the confirmation level before the stream starts
        for index in 0..<payouts {
            let user = index % 3
            let quantity = 1_000_000 + rng.next() % 39_000_001  // 0.01-0.4 LTC
            let destination = try node.newAddress()
            let id = String(format: "p-%03d", index)
            items.append(
                StreamItem(
                    kind: .payout, id: id, user: user, depositTx: nil, depositAmount: 0, destination: destination,
                    quantity: quantity,
                    line: try node.payoutRequest(
                        id: id, from: users[user], to: destination, quantity: String(quantity),
                        network: UTXOCrashTests.network)))
        }

        // Mixed order; then a payout not yet covered gets its user's next deposit moved in front of it.
        var order = items.shuffled(using: &rng)
        var repaired = false
        while !repaired {
            repaired = true
            for (position, item) in order.enumerated() where item.kind == .payout {
                let mine = order[...position].filter { $0.user == item.user }
                let deposited = mine.reduce(UInt64(0)) { $0 + $1.depositAmount }
                let debited = mine.filter { $0.kind == .payout }.reduce(UInt64(0)) {
                    $0 + $1.quantity + UTXOCrashTests.fee
                }
                if deposited >= debited { continue }
                let next = try XCTUnwrap(
                    order[(position + 1)...].firstIndex { $0.kind == .deposit && $0.user == item.user },
                    "the deposits of user \(item.user) do not cover its payouts")
                order.insert(order.remove(at: next), at: position)
                repaired = false
                break
            }
        }
        return order
    }

    // MARK: Ledger views (reconciliation runs: CrashLedger)

    /// The position of the first request of the stream that is not final yet.
    func firstUnfinished(_ items: [StreamItem]) throws -> Int {
        let states = try chaos.requestStates(items.map(\.id))
        return items.firstIndex { !isFinal($0, states[$0.id]) } ?? items.count
    }

    func isFinal(_ item: StreamItem, _ state: JSON?) -> Bool {
        item.kind == .deposit ? state?.string(at: "state") == "credited" : state?.string(at: "state") == "confirmed"
    }

    func checkInvariants(after what: String) throws {
        let check = try workspace.run("tok-apply --db state.sqlite --check")
        XCTAssertEqual(check.exitCode, 0, "invariants after \(what): \(check.stdout)\(check.stderr); \(seedNote)")
    }

    func ledger() throws -> Ledger {
        try workspace.readLedger()
    }

    // MARK: Checks

    func assertOutcome(_ items: [StreamItem], states: [String: JSON]) throws {
        let note = seedNote
        let chain = LitecoinNode.chain
        let operatorAddress = UTXOCrashTests.operatorAddress
        try checkInvariants(after: "recovery")

        // Every request ends final: deposits credited, payouts confirmed.
        for item in items {
            let state = states[item.id]
            XCTAssertTrue(
                isFinal(item, state),
                "\(item.id) (\(item.kind.rawValue)) ended as \(state.map { "\($0)" } ?? "unknown"); \(note)")
        }

        // No deposit credited twice: one row per deposit transaction, and exact balances.
        let depositTxs = Set(items.compactMap(\.depositTx))
        XCTAssertEqual(
            try chaos.sql("SELECT count(*) FROM deposits"), String(depositTxs.count), "deposit rows; \(note)")
        var expected = [UInt64](repeating: 0, count: users.count)
        for item in items where item.kind == .deposit { expected[item.user] += item.depositAmount }
        for item in items where item.kind == .payout {
            let payout = states[item.id]?["payout"]
            switch payout?.string(at: "state") {
            case "confirmed"?:
                XCTAssertGreaterThanOrEqual(
                    expected[item.user], item.quantity + UTXOCrashTests.fee, "\(item.id) pays more than was deposited")
                expected[item.user] -= min(expected[item.user], item.quantity + UTXOCrashTests.fee)
            case "failed"?:
                let charged = UInt64(payout?.string(at: "charged_fee") ?? "0") ?? .max
                XCTAssertLessThanOrEqual(
                    charged, UTXOCrashTests.failureFee, "\(item.id) charged more than the failure fee")
                expected[item.user] -= min(expected[item.user], charged)
            default:
                break
            }
        }
        let queries = users.enumerated().map { index, user in
            "{\"op\":\"balance\",\"id\":\"b-\(index)\",\"source\":{\"account\":\"\(user)\",\"network\":\"\(UTXOCrashTests.network)\",\"token\":\"LTC\"}}"
        }
        let balances = try workspace.run("tok-apply --db state.sqlite", input: queries.joined(separator: "\n"))
        for index in users.indices {
            let answer = balances.record(id: "b-\(index)")?["balance"]
            let available = try UInt256(decimal: answer?.string(at: "available") ?? "0")
            let locked = try UInt256(decimal: answer?.string(at: "locked") ?? "0")
            XCTAssertEqual(
                available.adding(locked), UInt256(expected[index]),
                "balance of user \(index): \(balances.stdout); \(note)")
            XCTAssertEqual(locked, .zero, "user \(index) still has a lock; \(note)")
        }

        // Each fresh destination received exactly its payout, in confirmed outputs, by the node's count.
        for item in items where item.kind == .payout {
            let received = try node.call("getreceivedbyaddress", "[\"\(item.destination!)\", 1]").stringValue ?? "?"
            XCTAssertEqual(
                try CoinAmount.baseUnits(fromDecimalText: received, decimals: 8), item.quantity,
                "received by \(item.id) at \(item.destination!); \(note)")
        }

        // No payout twice. The operator's key signs nothing but payouts, so every transaction that
        // spends an operator output is one. Walking the whole chain in order (outputs are created
        // before they are spent), collecting the operator's outputs by script and the transactions
        // that spend them, and then the node's pool, counts them from the chain alone, whatever tok
        // recorded: exactly one per confirmed payout, the very transactions the ledger names, and
        // none left pending in the pool. The same walk yields the operator's unspent outputs.
        let operatorScript = Hex.encode(
            try UTXOAddress.parse(operatorAddress, chain: UTXOPayoutPipelineTests.parameters).scriptPubKey)
        var operatorOutputs: [String: UInt64] = [:]  // txid:vout -> value, unspent so far
        var spenders: Set<String> = []
        func scan(_ transaction: JSON, inPool: Bool) throws {
            let txid = try XCTUnwrap(transaction.string(at: "txid"))
            for input in transaction["vin"]?.arrayElements ?? [] {
                // A coinbase input names no previous output.
                guard let previous = input.string(at: "txid"), let vout = input["vout"]?.lenientInt64 else { continue }
                let outpoint = "\(previous):\(vout)"
                guard operatorOutputs[outpoint] != nil else { continue }
                spenders.insert(txid)
                if !inPool { operatorOutputs[outpoint] = nil }  // a pool spend leaves the output unspent on chain
            }
            guard !inPool else { return }
            for output in transaction["vout"]?.arrayElements ?? []
            where output["scriptPubKey"]?.string(at: "hex") == operatorScript {
                let value = try CoinAmount.baseUnits(
                    fromDecimalText: try XCTUnwrap(output.string(at: "value")), decimals: 8)
                operatorOutputs["\(txid):\(try XCTUnwrap(output["n"]?.lenientInt64))"] = value
            }
        }
        let height = try XCTUnwrap(try node.call("getblockcount").lenientInt64)
        for number in 0...height {
            let hash = try XCTUnwrap(try node.call("getblockhash", "[\(number)]").stringValue)
            for transaction in try node.call("getblock", "[\"\(hash)\", 2]")["tx"]?.arrayElements ?? [] {
                try scan(transaction, inPool: false)
            }
        }
        let minedSpenders = spenders
        for txid in try node.call("getrawmempool").arrayElements.compactMap(\.stringValue) {
            try scan(try node.call("getrawtransaction", "[\"\(txid)\", true]"), inPool: true)
        }
        let confirmedTxs = Set(
            try chaos.sql("SELECT tx FROM payouts WHERE state = 'confirmed'").split(separator: "\n").map(String.init))
        let byState = try chaos.sql("SELECT state, count(*) FROM payouts GROUP BY state").replacingOccurrences(
            of: "\n", with: ", ")
        XCTAssertEqual(
            spenders.count, confirmedTxs.count,
            "transactions spending the operator's coins vs confirmed payouts (\(byState)); \(note)")
        XCTAssertEqual(minedSpenders, confirmedTxs, "mined operator spends vs the ledger's confirmed payouts; \(note)")
        XCTAssertEqual(spenders, minedSpenders, "operator spends still in the node's pool; \(note)")
        XCTAssertEqual(
            confirmedTxs.count, items.filter { $0.kind == .payout }.count,
            "one confirmed payout per payout request; \(note)")

        // The strongest: the ledger's available coins are exactly the operator's unspent outputs, as the
        // node's own wallet sees them (the operator address watched, the chain rescanned), and as the
        // walk above found them; nothing is left reserved or pending.
        try node.call("importaddress", "[\"\(operatorAddress)\", \"\", true]")
        var nodeUnspent: [String: UInt64] = [:]
        for coin in try node.call("listunspent", "[1, 9999999, [\"\(operatorAddress)\"]]").arrayElements {
            let outpoint = "\(try XCTUnwrap(coin.string(at: "txid"))):\(try XCTUnwrap(coin["vout"]?.lenientInt64))"
            nodeUnspent[outpoint] = try CoinAmount.baseUnits(
                fromDecimalText: try XCTUnwrap(coin.string(at: "amount")), decimals: 8)
        }
        let ledger = try ledger()
        var ledgerAvailable: [String: UInt64] = [:]
        for coin in try ledger.spendableCoins(chain: chain, address: operatorAddress, excluding: [], limit: 1_000_000) {
            ledgerAvailable[coin.outpoint] = coin.value
        }
        XCTAssertEqual(
            ledgerAvailable, nodeUnspent,
            "the ledger's available coins vs the node's unspent outputs of the operator; \(note)")
        XCTAssertEqual(
            nodeUnspent, operatorOutputs, "the node's unspent outputs of the operator vs the chain walk; \(note)")
        let totals = try ledger.coinTotals(chain: chain, address: operatorAddress)
        XCTAssertNil(totals["reserved"], "reserved coins left: \(totals); \(note)")
        XCTAssertNil(totals["pending"], "pending change left: \(totals); \(note)")
        XCTAssertEqual(
            try chaos.sql("SELECT count(*) FROM utxos WHERE state IN ('reserved', 'pending')"), "0",
            "coins held by open payouts; \(note)")
        print(
            "UTXOCrashTests: on chain \(minedSpenders.count) operator spend(s) for \(confirmedTxs.count) confirmed payout(s); "
                + "\(nodeUnspent.count) unspent operator output(s), \(ledgerAvailable.count) available coin(s) in the ledger; payouts \(byState)"
        )

        // No lock stranded, nothing left between prepare and a final state.
        XCTAssertEqual(
            try chaos.sql("SELECT count(*) FROM balances WHERE locked <> '0'"), "0", "stranded locks; \(note)")
        XCTAssertEqual(
            try chaos.sql("SELECT count(*) FROM payouts WHERE state IN ('prepared', 'submitted')"), "0",
            "open payouts; \(note)")
    }
}

/// Mines one block every `intervalMilliseconds` on its own thread until stopped.
final class BackgroundMiner: @unchecked Sendable {
    private let node: LitecoinNode
    private let address: String
    private let intervalMilliseconds: Int
    private let lock = NSLock()
    private var stopping = false
    private var mined = 0
    private var running = false
    private let finished = DispatchSemaphore(value: 0)

    init(node: LitecoinNode, address: String, intervalMilliseconds: Int) {
        self.node = node
        self.address = address
        self.intervalMilliseconds = intervalMilliseconds
    }

    var blocks: Int { lock.withLock { mined } }

    func start() {
        lock.withLock { running = true }
        Thread.detachNewThread { [self] in
            while !lock.withLock({ stopping }) {
                if (try? node.call("generatetoaddress", "[1, \"\(address)\"]")) != nil { lock.withLock { mined += 1 } }
                usleep(UInt32(intervalMilliseconds) * 1000)
            }
            finished.signal()
        }
    }

    /// Stops the miner and waits for its last block; safe to call more than once.
    func stop() {
        let wasRunning = lock.withLock { () -> Bool in
            stopping = true
            defer { running = false }
            return running
        }
        if wasRunning { _ = finished.wait(timeout: .now() + 60) }
    }
}

extension LitecoinNode {
    /// A config whose one network pays out LTC from the operator's coins (as UTXOPayoutPipelineTests'):
    /// operator and receiver are one address, fixed fee 10000, failure fee 5000 base units.
    func payoutConfig(operatorAddress: String) -> String {
        config(receiver: operatorAddress)
            .replacingOccurrences(
                of: "rpc_retries = 2\n",
                with: """
                    rpc_retries = 2
                    operator = "\(operatorAddress)"
                    operator_key_env = "TOK_TEST_OPERATOR_KEY"

                    """
            )
            .replacingOccurrences(
                of: "slip44:2\"\n  decimals = 8\n",
                with: """
                    slip44:2"
                      decimals = 8
                      payout = true
                      fee_fixed = "\(UTXOCrashTests.fee)"
                      failure_fee = "\(UTXOCrashTests.failureFee)"

                    """)
    }
}
