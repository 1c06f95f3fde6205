import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest
@testable import TokShared

/// Crash test: kill -9 each stage at random moments while a mixed stream of
/// deposits, payouts and transfers runs against the real local chain, then
/// reconcile and replay, and check that nothing was credited or paid twice and
/// no lock is stranded.
///
/// The run is driven by a seed (printed first). To replay a failing run:
///     TOK_CRASH_SEED=<seed> swift test --skip-build --filter CrashTests
/// TOK_CRASH_ROUNDS overrides the number of chaos rounds (default 6).
/// bench/crash.sh does the same at a larger size.
class CrashTests: PipelineTestCase {
    enum Kind: String { case deposit, payout, transfer }

    /// One request of the stream and what it must do.
    struct StreamItem {
        let kind: Kind
        let id: String
        let user: Int
        let token: String
        /// Deposits and transfers: the on-chain deposit and its amount.
        let depositTx: String?
        let depositAmount: UInt256
        /// Payouts and transfers: a fresh address and what it must receive.
        let destination: String?
        let quantity: UInt256
        let line: String
    }

    /// The stages of the chaos pipeline, named by their place in it.
    static let stageNames = ["validate", "verify", "apply-prepare", "submit", "apply-commit"]
    static func chaosPipeline(input: String, waitTimeoutMilliseconds: Int) -> String {
        "tok-validate --batch-size 2 < \(input)"
            + " | tok-verify --db state.sqlite --batch-size 2"
            + " | tok-apply --db state.sqlite --batch-size 2"
            + " | tok-submit --batch-size 2 --wait --poll-milliseconds 100 --wait-timeout-milliseconds \(waitTimeoutMilliseconds)"
            + " | tok-apply --db state.sqlite --batch-size 3"
    }

    /// Which of the five stages a process is (the two tok-apply differ by batch size).
    static func stageName(_ process: StageProcess) -> String? {
        switch process.tool {
        case "tok-validate": return "validate"
        case "tok-verify": return "verify"
        case "tok-submit": return "submit"
        case "tok-apply":
            guard let flag = process.arguments.firstIndex(of: "--batch-size"), flag + 1 < process.arguments.count else {
                return nil
            }
            return process.arguments[flag + 1] == "3" ? "apply-commit" : "apply-prepare"
        default: return nil
        }
    }

    static func fee(token: String, quantity: UInt256) -> UInt256 {
        // The fee rules of EVMNode.config: ETH 1000 + 10 bps (floor), TOK 7.
        token == "ETH" ? UInt256(1000).adding(quantity.basisPoints(10))! : UInt256(7)
    }

    var node: EVMNode!
    var token: String!
    var seedNote = ""
    var chaos: CrashLedger { CrashLedger(workspace: workspace, seedNote: seedNote) }

    override func setUpWithError() throws {
        try super.setUpWithError()
        node = try EVMNode()
        // A chain that keeps producing blocks, so confirmations grow while stages wait.
        try node.call("tokdev_setBlockInterval", "[100]")
        token = try node.deployToken()
        try workspace.write("tok.toml", node.config(token: token))
    }

    override func tearDown() {
        node?.stop()
        node = nil
        super.tearDown()
    }

    // MARK: The test

    func testKillNineAnyStageThenReconcileAndReplay() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["TOK_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(Int64.max))
        let rounds = environment["TOK_CRASH_ROUNDS"].flatMap { Int($0) } ?? 6
        seedNote = "seed \(seed) (rerun: TOK_CRASH_SEED=\(seed) swift test --skip-build --filter CrashTests)"
        print("CrashTests: \(seedNote), \(rounds) rounds")
        var rng = SeededGenerator(seed: seed)
        let started = Date()

        let items = try makeStream(deposits: 12, payouts: 12, transfers: 3, rng: &rng)
        try workspace.write("stream.ndjson", items.map(\.line).joined(separator: "\n") + "\n")
        let operatorNonceBefore = try node.nonce(EVMNode.receiver)
        print("CrashTests: stream of \(items.count) requests: " + items.map(\.id).joined(separator: " "))

        let campaign = CrashCampaign(workspace: workspace, label: "CrashTests", seedNote: seedNote)
        let kills = try campaign.chaos(
            lines: items.map(\.line), rounds: rounds, rng: &rng,
            firstUnfinished: { try firstUnfinished(items) })
        // A second (third) replay only when the first leaves payouts refused `insufficient_balance` by
        // tok-verify's advisory check, which does not count deposits still in flight in the same run
        // (see testPayoutCoveredByADepositEarlierInTheSameStreamIsMadeInOneRun): retryable by design,
        // not a crash-safety matter, so it is retried and the refused ids are printed.
        let (states, passes) = try campaign.recover(
            ids: items.map(\.id), maxPasses: 3, isFinal: { isFinal(items[$0], $1) },
            mayRetry: { $0?.string(at: "code") == "insufficient_balance" && $0?.string(at: "stage") == "verify" })
        try assertOutcome(items, states: states, operatorNonceBefore: operatorNonceBefore)
        let seconds = Int(Date().timeIntervalSince(started))
        print(
            "CrashTests: \(rounds) rounds, kills \(kills.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")), "
                + "\(items.count) requests, \(passes) replay pass(es), \(seconds) s; \(seedNote)")
    }

    /// The premise of a mixed stream: a payout that deposits earlier in the same stream cover is
    /// made in one run. Fails today: tok-verify's advisory balance check reads only what tok-apply
    /// has committed, so a deposit earlier in the same batch (or not yet applied downstream) is not
    /// counted and the payout is refused `insufficient_balance` (stage verify), although tok-apply,
    /// which re-checks atomically, would prepare it. Same input, different outcome by timing with
    /// small batches; always refused with the default batch size.
    func testPayoutCoveredByADepositEarlierInTheSameStreamIsMadeInOneRun() throws {
        let tx = try node.sendEth(from: 1, to: EVMNode.receiver, wei: "1000000000000000000")
        try node.mine(3)
        let destination = try node.newAccount()
        let stream =
            [
                depositRequest(id: "dep-1", account: EVMNode.accounts[1], token: "ETH", tx: tx),
                signedPayoutRequest(id: "pay-1", from: 1, to: destination, token: "ETH", quantity: "1000000000000000"),
            ].joined(separator: "\n") + "\n"
        let result = try workspace.run(payoutPipeline, input: stream)
        XCTAssertEqual(result.record(id: "dep-1")?.string(at: "status"), "credited", result.stdout)
        let payout = try XCTUnwrap(result.record(id: "pay-1"), result.stdout + result.stderr)
        XCTAssertEqual(payout.string(at: "status"), "paid", "the deposit before it covers it: \(payout)")
        XCTAssertEqual(try node.ethBalance(destination), UInt256(1_000_000_000_000_000), "received on chain")
        XCTAssertEqual(try workspace.run("tok-apply --db state.sqlite --check").exitCode, 0)
    }

    // MARK: The stream

    /// Real deposits on chain, then the request lines: deposits, payouts to fresh
    /// addresses and transfers, shuffled so that each payout comes after a deposit
    /// of the same account and token that covers it.
    func makeStream(deposits: Int, payouts: Int, transfers: Int, rng: inout SeededGenerator) throws -> [StreamItem] {
        // Account 0 holds the TOK supply: give accounts 1-3 some.
        for user in 1..<4 {
            _ = try node.transferToken(token, from: 0, to: EVMNode.accounts[user], amount: "100000000")
        }
        var items: [StreamItem] = []
        for index in 0..<deposits {
            let user = index % 4
            let symbol = (index / 4) % 3 == 2 ? "TOK" : "ETH"
            let amount =
                symbol == "ETH"
                ? UInt256(1_000_000_000_000_000_000).adding(UInt256(rng.next() % 1_000_000))!
                : UInt256(1_000_000 + rng.next() % 1000)
            let tx =
                symbol == "ETH"
                ? try node.sendEth(from: user, to: EVMNode.receiver, wei: amount.description)
                : try node.transferToken(token, from: user, to: EVMNode.receiver, amount: amount.description)
            let id = String(format: "d-%03d", index)
            items.append(
                StreamItem(
                    kind: .deposit, id: id, user: user, token: symbol, depositTx: tx, depositAmount: amount,
                    destination: nil, quantity: .zero,
                    line: depositRequest(id: id, account: EVMNode.accounts[user], token: symbol, tx: tx)))
        }
        for index in 0..<payouts {
            let user = index % 4
            let symbol = index % 3 == 2 ? "TOK" : "ETH"
            let quantity =
                symbol == "ETH"
                ? UInt256(1_000_000_000_000_000 * (1 + rng.next() % 50) + rng.next() % 1000)
                : UInt256(100 + rng.next() % 5000)
            let destination = try node.newAccount()
            let id = String(format: "p-%03d", index)
            items.append(
                StreamItem(
                    kind: .payout, id: id, user: user, token: symbol, depositTx: nil, depositAmount: .zero,
                    destination: destination, quantity: quantity,
                    line: signedPayoutRequest(
                        id: id, from: user, to: destination, token: symbol, quantity: quantity.description)))
        }
        for index in 0..<transfers {
            let user = 1 + index % 3
            let symbol = index % 3 == 1 ? "TOK" : "ETH"
            let amount =
                symbol == "ETH"
                ? UInt256(500_000_000_000_000_000).adding(UInt256(rng.next() % 1_000_000))! : UInt256(500_000)
            let quantity =
                symbol == "ETH"
                ? UInt256(100_000_000_000_000_000).adding(UInt256(rng.next() % 1_000_000))!
                : UInt256(1000 + rng.next() % 1000)
            let tx =
                symbol == "ETH"
                ? try node.sendEth(from: user, to: EVMNode.receiver, wei: amount.description)
                : try node.transferToken(token, from: user, to: EVMNode.receiver, amount: amount.description)
            let destination = try node.newAccount()
            let id = String(format: "t-%03d", index)
            items.append(
                StreamItem(
                    kind: .transfer, id: id, user: user, token: symbol, depositTx: tx, depositAmount: amount,
                    destination: destination, quantity: quantity,
                    line: signedPayoutRequest(
                        id: id, from: user, to: destination, token: symbol,
                        quantity: quantity.description, depositTx: tx)))
        }
        try node.mine(3)

        // Mixed order; then each payout is moved behind a deposit that covers it (each deposit covers all of that user's payouts).
        var order = items.shuffled(using: &rng)
        var repaired = false
        while !repaired {
            repaired = true
            for (position, item) in order.enumerated() where item.kind == .payout {
                let covers = { (other: StreamItem) in
                    other.kind == .deposit && other.user == item.user && other.token == item.token
                }
                if order[..<position].contains(where: covers) { continue }
                let depositPosition = try XCTUnwrap(order.firstIndex(where: covers), "no deposit covers \(item.id)")
                order.insert(order.remove(at: depositPosition), at: position)
                repaired = false
                break
            }
        }
        return order
    }

    // MARK: Checks (reconciliation runs and ledger views: CrashLedger)

    /// The position of the first request of the stream that is not final yet.
    func firstUnfinished(_ items: [StreamItem]) throws -> Int {
        let states = try chaos.requestStates(items.map(\.id))
        return items.firstIndex { !isFinal($0, states[$0.id]) } ?? items.count
    }

    func isFinal(_ item: StreamItem, _ state: JSON?) -> Bool {
        item.kind == .deposit ? state?.string(at: "state") == "credited" : state?.string(at: "state") == "confirmed"
    }

    func assertOutcome(_ items: [StreamItem], states: [String: JSON], operatorNonceBefore: UInt64) throws {
        let note = seedNote
        // The invariant check passes.
        let check = try workspace.run("tok-apply --db state.sqlite --check")
        XCTAssertEqual(check.exitCode, 0, "invariants: \(check.stdout)\(check.stderr); \(note)")

        // Every request ends final: deposits credited, payouts and transfers confirmed.
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
        var expected: [String: UInt256] = [:]  // "user token" -> available + locked
        for item in items where item.depositTx != nil {
            expected["\(item.user) \(item.token)", default: .zero] = expected[
                "\(item.user) \(item.token)", default: .zero
            ].adding(item.depositAmount)!
        }
        for item in items where item.kind != .deposit {
            let key = "\(item.user) \(item.token)"
            let payout = states[item.id]?["payout"]
            switch payout?.string(at: "state") {
            case "confirmed"?:
                let debit = item.quantity.adding(CrashTests.fee(token: item.token, quantity: item.quantity))!
                expected[key] = try XCTUnwrap(
                    expected[key, default: .zero].subtracting(debit), "\(item.id) pays more than was deposited")
            case "failed"?:
                let charged = try UInt256(decimal: payout?.string(at: "charged_fee") ?? "0")
                expected[key] = try XCTUnwrap(
                    expected[key, default: .zero].subtracting(charged), "\(item.id) charged more than was deposited")
            default:
                break
            }
        }
        var balanceQueries: [String] = []
        for user in 0..<4 {
            for symbol in ["ETH", "TOK"] {
                balanceQueries.append(
                    balanceQuery(id: "b-\(user)-\(symbol)", account: EVMNode.accounts[user], token: symbol))
            }
        }
        let balances = try workspace.run("tok-apply --db state.sqlite", input: balanceQueries.joined(separator: "\n"))
        for user in 0..<4 {
            for symbol in ["ETH", "TOK"] {
                let answer = balances.record(id: "b-\(user)-\(symbol)")?["balance"]
                let available = try UInt256(decimal: answer?.string(at: "available") ?? "0")
                let locked = try UInt256(decimal: answer?.string(at: "locked") ?? "0")
                XCTAssertEqual(
                    available.adding(locked), expected["\(user) \(symbol)", default: .zero],
                    "balance of account \(user) in \(symbol): \(balances.stdout); \(note)")
                XCTAssertEqual(locked, .zero, "account \(user) \(symbol) still has a lock; \(note)")
            }
        }

        // No payout lands twice: the operator sent exactly one transaction per confirmed payout (fillers included),
        // and each fresh destination received exactly its payout.
        let confirmed = UInt64(try chaos.sql("SELECT count(*) FROM payouts WHERE state = 'confirmed'")) ?? 0
        let sent = try node.nonce(EVMNode.receiver) - operatorNonceBefore
        let byState = try chaos.sql("SELECT op, state, count(*) FROM payouts GROUP BY op, state")
        XCTAssertEqual(sent, confirmed, "operator transactions on chain vs confirmed payouts (\(byState)); \(note)")
        for item in items where item.kind != .deposit {
            let destination = item.destination!
            XCTAssertEqual(
                try node.ethBalance(destination), item.token == "ETH" ? item.quantity : .zero,
                "ETH received by \(item.id) at \(destination); \(note)")
            XCTAssertEqual(
                try node.tokenBalance(token, of: destination), item.token == "TOK" ? item.quantity : .zero,
                "TOK received by \(item.id) at \(destination); \(note)")
        }

        // No lock stranded, nothing left between prepare and a final state.
        XCTAssertEqual(
            try chaos.sql("SELECT count(*) FROM balances WHERE locked <> '0'"), "0", "stranded locks; \(note)")
        XCTAssertEqual(
            try chaos.sql("SELECT count(*) FROM payouts WHERE state IN ('prepared', 'submitted')"), "0",
            "open payouts; \(note)")
    }
}
