import Foundation
import XCTest
@testable import TokShared
import TokTestSupport

/// The operator's coins on UTXO chains: how they enter the pool, how prepare
/// reserves them, how commit and rollback settle them, and the invariants.
/// On SQLite; CoinPoolPostgreSQLTests runs the ledger ones on PostgreSQL.
class CoinPoolTests: XCTestCase {
    class var engine: TestEngine { .sqlite }
    static let chain = "bip122:530827f38f93b43ed12af0b3ad25a288"
    static let operatorAddress = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"
    static let account = "bip122:530827f38f93b43ed12af0b3ad25a288:n3GNqMveyvaPvUbH469vDRadqpJMPc84JA"

    var directory: URL!
    var location: String!
    let log = CapturedLog()

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tok-coins-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        location = try TestDatabase.make(Self.engine, directory: directory.path, file: "ledger.db")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func openLedger() throws -> Ledger {
        try openTestLedger(engine: Self.engine, location: location, logger: log.logger)
    }

    static func txid(_ n: Int) -> String {
        let digits = String(n, radix: 16)
        return String(repeating: "0", count: 64 - digits.count) + digits
    }

    /// A deposit of `values` (one output each) to the operator.
    static func deposit(_ id: String, tx n: Int, values: [UInt64]) -> VerifiedDeposit {
        let total = values.reduce(0, +)
        return VerifiedDeposit(
            requestId: id, chain: chain, tx: txid(n), account: account, token: "LTC",
            asset: chain + "/slip44:2", amount: UInt256(total), credited: UInt256(total),
            blockHash: String(repeating: "b", count: 64), blockNumber: 7, confirmations: 3,
            coins: values.enumerated().map { Coin(tx: txid(n), index: UInt32($0.offset), value: $0.element) },
            receiver: operatorAddress)
    }

    static func payout(
        _ id: String, tx n: Int, inputs: [Coin], change: UInt64?, quantity: UInt64 = 1000
    ) -> PayoutToPrepare {
        let payout = PayoutToPrepare(
            requestId: id, op: .payout, account: account, token: "LTC", quantity: UInt256(quantity), fee: UInt256(10),
            failureFee: UInt256(5), destination: chain + ":n3GNqMveyvaPvUbH469vDRadqpJMPc84JA", destinationChain: chain,
            destinationAsset: chain + "/slip44:2", destinationAmount: UInt256(quantity), sender: operatorAddress,
            spendGuard: .coins(inputs: inputs, change: change.map { Coin(tx: txid(n), index: 1, value: $0) }),
            tx: txid(n), rawTx: "00")
        return payout
    }

    func inBatch<T>(_ ledger: Ledger, _ body: () throws(TokError) -> T) throws -> Result<T, TokError> {
        try ledger.inBatch { () -> Result<T, TokError> in
            do throws(TokError) {
                return .success(try ledger.inRecordSavepoint(body))
            } catch {
                return .failure(error)
            }
        }
    }

    func totals(_ ledger: Ledger) throws -> [String: UInt64] {
        try ledger.coinTotals(chain: CoinPoolTests.chain, address: CoinPoolTests.operatorAddress)
    }

    // A credited deposit's outputs join the pool; a duplicate adds nothing.
    func testDepositsFeedThePool() throws {
        let ledger = try openLedger()
        let deposit = CoinPoolTests.deposit("d-1", tx: 1, values: [50_000, 70_000])
        _ = try inBatch(ledger) { () throws(TokError) in
            try ledger.creditDeposit(deposit, nowMilliseconds: testNowMilliseconds)
        }
        _ = try inBatch(ledger) { () throws(TokError) in
            try ledger.creditDeposit(deposit, nowMilliseconds: testNowMilliseconds)
        }
        XCTAssertEqual(try totals(ledger), ["available": 120_000])
        let coins = try ledger.spendableCoins(
            chain: CoinPoolTests.chain, address: CoinPoolTests.operatorAddress, excluding: [], limit: 10)
        XCTAssertEqual(coins.map(\.value), [70_000, 50_000])  // largest first
        let others = try ledger.spendableCoins(
            chain: CoinPoolTests.chain, address: CoinPoolTests.operatorAddress,
            excluding: [coins[0].outpoint], limit: 10)
        XCTAssertEqual(others.map(\.value), [50_000])
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // Prepare reserves; a second payout spending the same coin is a coin_conflict and locks nothing.
    func testTwoPayoutsNeverHoldTheSameCoin() throws {
        let ledger = try openLedger()
        let deposit = CoinPoolTests.deposit("d-1", tx: 1, values: [50_000])
        _ = try inBatch(ledger) { () throws(TokError) in
            try ledger.creditDeposit(deposit, nowMilliseconds: testNowMilliseconds)
        }
        let coin = deposit.coins[0]
        let first = try inBatch(ledger) { () throws(TokError) in
            try ledger.preparePayout(
                CoinPoolTests.payout("p-1", tx: 10, inputs: [coin], change: 48_000),
                nowMilliseconds: testNowMilliseconds)
        }
        XCTAssertNoThrow(try first.get())
        let second = try inBatch(ledger) { () throws(TokError) in
            try ledger.preparePayout(
                CoinPoolTests.payout("p-2", tx: 11, inputs: [coin], change: 48_000),
                nowMilliseconds: testNowMilliseconds)
        }
        XCTAssertThrowsError(try second.get()) { error in
            XCTAssertEqual((error as? TokError)?.code, .coinConflict)
            XCTAssertEqual((error as? TokError)?.retryable, true)
        }
        XCTAssertEqual(
            try ledger.balance(account: CoinPoolTests.account, token: "LTC"),
            Balance(available: UInt256(50_000 - 1010), locked: UInt256(1010)))
        XCTAssertEqual(try totals(ledger), ["reserved": 50_000, "pending": 48_000])
        // Replaying the first prepare changes nothing.
        let replay = try inBatch(ledger) { () throws(TokError) in
            try ledger.preparePayout(
                CoinPoolTests.payout("p-1", tx: 10, inputs: [coin], change: 48_000),
                nowMilliseconds: testNowMilliseconds)
        }
        guard case .success(.alreadyDone(let row)) = replay else { return XCTFail("\(replay)") }
        XCTAssertEqual(row.inputs, [coin])
        XCTAssertEqual(row.change, Coin(tx: CoinPoolTests.txid(10), index: 1, value: 48_000))
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A coin the pool does not have, or with another value than signed, is refused.
    func testUnknownOrMisvaluedCoinsAreRefused() throws {
        let ledger = try openLedger()
        let deposit = CoinPoolTests.deposit("d-1", tx: 1, values: [50_000])
        _ = try inBatch(ledger) { () throws(TokError) in
            try ledger.creditDeposit(deposit, nowMilliseconds: testNowMilliseconds)
        }
        let unknown = try inBatch(ledger) { () throws(TokError) in
            try ledger.preparePayout(
                CoinPoolTests.payout(
                    "p-1", tx: 10, inputs: [Coin(tx: CoinPoolTests.txid(9), index: 0, value: 50_000)], change: nil),
                nowMilliseconds: testNowMilliseconds)
        }
        XCTAssertEqual((unknown.failure)?.code, .coinConflict)
        let misvalued = try inBatch(ledger) { () throws(TokError) in
            try ledger.preparePayout(
                CoinPoolTests.payout(
                    "p-2", tx: 11, inputs: [Coin(tx: CoinPoolTests.txid(1), index: 0, value: 60_000)], change: nil),
                nowMilliseconds: testNowMilliseconds)
        }
        XCTAssertEqual((misvalued.failure)?.code, .conflictingRecord)
        XCTAssertEqual(try totals(ledger), ["available": 50_000])
        XCTAssertEqual(try ledger.balance(account: CoinPoolTests.account, token: "LTC").locked, .zero)
    }

    // Commit: inputs spent, change spendable. Rollback: inputs free again (or spent when used elsewhere), change gone.
    func testCommitAndRollbackSettleTheCoins() throws {
        let ledger = try openLedger()
        let deposit = CoinPoolTests.deposit("d-1", tx: 1, values: [50_000, 40_000, 30_000])
        _ = try inBatch(ledger) { () throws(TokError) in
            try ledger.creditDeposit(deposit, nowMilliseconds: testNowMilliseconds)
        }
        let confirmation = PayoutConfirmation(
            blockHash: String(repeating: "c", count: 64), blockNumber: 9, confirmations: 3)
        _ = try inBatch(ledger) { () throws(TokError) in
            try ledger.preparePayout(
                CoinPoolTests.payout("p-1", tx: 10, inputs: [deposit.coins[0]], change: 48_000),
                nowMilliseconds: testNowMilliseconds)
        }
        _ = try inBatch(ledger) { () throws(TokError) in
            try ledger.preparePayout(
                CoinPoolTests.payout("p-2", tx: 11, inputs: [deposit.coins[1]], change: 38_000),
                nowMilliseconds: testNowMilliseconds)
        }
        _ = try inBatch(ledger) { () throws(TokError) in
            try ledger.preparePayout(
                CoinPoolTests.payout("p-3", tx: 12, inputs: [deposit.coins[2]], change: nil),
                nowMilliseconds: testNowMilliseconds)
        }
        XCTAssertNoThrow(
            try inBatch(ledger) { () throws(TokError) in
                try ledger.commitPayout(
                    requestId: "p-1", tx: CoinPoolTests.txid(10), confirmation: confirmation,
                    nowMilliseconds: testNowMilliseconds)
            }.get())
        XCTAssertNoThrow(
            try inBatch(ledger) { () throws(TokError) in
                try ledger.rollbackPayout(
                    requestId: "p-2", tx: CoinPoolTests.txid(11), reason: "dropped", nonceConsumed: false,
                    nowMilliseconds: testNowMilliseconds)
            }.get())
        XCTAssertNoThrow(
            try inBatch(ledger) { () throws(TokError) in
                try ledger.rollbackPayout(
                    requestId: "p-3", tx: CoinPoolTests.txid(12), reason: "input spent elsewhere", nonceConsumed: true,
                    nowMilliseconds: testNowMilliseconds)
            }.get())
        // p-1's change (48 000) and p-2's freed input (40 000) are available; p-1's and p-3's inputs are spent.
        XCTAssertEqual(try totals(ledger), ["available": 88_000, "spent": 80_000])
        let free = try ledger.spendableCoins(
            chain: CoinPoolTests.chain, address: CoinPoolTests.operatorAddress, excluding: [], limit: 10)
        XCTAssertEqual(Set(free.map(\.outpoint)), [CoinPoolTests.txid(10) + ":1", CoinPoolTests.txid(1) + ":1"])
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A claimed deposit that is in fact tok's own payout is refused: its change is booked already.
    func testOwnPayoutIsNotADeposit() throws {
        let ledger = try openLedger()
        let deposit = CoinPoolTests.deposit("d-1", tx: 1, values: [50_000])
        _ = try inBatch(ledger) { () throws(TokError) in
            try ledger.creditDeposit(deposit, nowMilliseconds: testNowMilliseconds)
        }
        _ = try inBatch(ledger) { () throws(TokError) in
            try ledger.preparePayout(
                CoinPoolTests.payout("p-1", tx: 10, inputs: [deposit.coins[0]], change: 48_000),
                nowMilliseconds: testNowMilliseconds)
        }
        let claim = CoinPoolTests.deposit("d-2", tx: 10, values: [48_000])
        let result = try inBatch(ledger) { () throws(TokError) in
            try ledger.creditDeposit(claim, nowMilliseconds: testNowMilliseconds)
        }
        XCTAssertEqual(result.failure?.code, .conflictingRecord)
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // The invariant check sees a reservation without an open payout.
    func testInvariantsCatchAStrandedReservation() throws {
        let ledger = try openLedger()
        let deposit = CoinPoolTests.deposit("d-1", tx: 1, values: [50_000])
        _ = try inBatch(ledger) { () throws(TokError) in
            try ledger.creditDeposit(deposit, nowMilliseconds: testNowMilliseconds)
        }
        try ledger.database.execute("UPDATE utxos SET state = 'reserved', spent_by = 'nobody'")
        XCTAssertFalse(try ledger.checkInvariants().isEmpty)
    }

    // A database written by the release before coins (schema 1) is migrated in place, its payouts kept.
    func testSchemaOneIsMigrated() throws {
        let path = directory.appendingPathComponent("old.db").path
        do {
            let old = try SQLiteDatabase(path: path)
            for step in Schema.migrations[0].steps { try old.execute(SQLiteDialect().render(step)) }
            try old.execute("PRAGMA user_version = 1")
            try old.execute(
                """
                INSERT INTO payouts (request_id, op, account, token, quantity, fee, destination, dest_chain, dest_asset, dest_amount,
                                     sender, nonce, tx, raw_tx, state, failure_fee, prepared_at_ms, updated_at_ms)
                VALUES ('p-old', 'payout', 'a', 'ETH', '1', '0', 'd', 'eip155:1', 'eip155:1/slip44:60', '1', 's', 0, '0x01', '0x', 'failed', '0', 1, 1)
                """)
        }
        let ledger = try Ledger(path: path, synchronous: "normal", busyTimeoutMilliseconds: 1000, logger: log.logger)
        XCTAssertEqual(try ledger.database.scalarInt("PRAGMA user_version"), Int64(Schema.currentVersion))
        let row = try XCTUnwrap(try ledger.payout(requestId: "p-old"))
        XCTAssertNil(row.change)
        XCTAssertEqual(row.inputs, [])
        XCTAssertEqual(try totals(ledger), [:])
    }

    // A file of the released tok (schema 2, PRAGMA user_version, no
    // schema_migrations) opens: its two migrations are adopted as applied and
    // the newer ones run, its rows kept.
    func testSchemaTwoFileIsAdopted() throws {
        let path = directory.appendingPathComponent("released.db").path
        do {
            let old = try SQLiteDatabase(path: path)
            for migration in Schema.migrations[0..<2] {
                for step in migration.steps { try old.execute(SQLiteDialect().render(step)) }
            }
            try old.execute("PRAGMA user_version = 2")
            try old.execute("INSERT INTO token_units (token, decimals) VALUES ('LTC', 8)")
        }
        let ledger = try Ledger(path: path, synchronous: "normal", busyTimeoutMilliseconds: 1000, logger: log.logger)
        XCTAssertEqual(try ledger.database.scalarInt("PRAGMA user_version"), Int64(Schema.currentVersion))
        XCTAssertEqual(
            try ledger.database.scalarInt("SELECT count(*) FROM schema_migrations"), Int64(Schema.currentVersion))
        XCTAssertEqual(try ledger.database.scalarInt("SELECT decimals FROM token_units WHERE token = 'LTC'"), 8)
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // MARK: Selection (no node needed)

    static let litecoin = UTXOChains.parameters(for: try! ChainId(parsing: chain))!
    static let dogecoin = UTXOChains.all.first { $0.name == "dogecoin-mainnet" }!

    func coins(_ values: [UInt64]) -> [Coin] {
        values.enumerated().map { Coin(tx: CoinPoolTests.txid($0.offset + 100), index: 0, value: $0.element) }
    }

    func testTheSmallestSufficientCoinIsChosen() throws {
        let plan = try XCTUnwrap(
            UTXOPayoutChannel.select(
                amount: 100_000, from: coins([1_000_000, 150_000, 120_000, 90_000]),
                parameters: CoinPoolTests.litecoin, maxInputs: 10))
        XCTAssertEqual(plan.inputs.map(\.value), [120_000])
        let size = UTXOTransaction.estimatedSizeBytes(p2pkhInputCount: 1, p2pkhOutputCount: 2)
        XCTAssertEqual(
            plan.fee,
            UTXOTransaction.minimumFeeBaseUnits(
                sizeBytes: size, outputValuesBaseUnits: [100_000, 20_000],
                chain: CoinPoolTests.litecoin))
        XCTAssertEqual(plan.change, 120_000 - 100_000 - plan.fee)
        XCTAssertEqual(plan.inputs.map(\.value).reduce(0, +), 100_000 + plan.fee + (plan.change ?? 0))
    }

    func testLargestCoinsAreCombinedWhenNoneSuffices() throws {
        let plan = try XCTUnwrap(
            UTXOPayoutChannel.select(
                amount: 200_000, from: coins([90_000, 80_000, 70_000, 10_000]),
                parameters: CoinPoolTests.litecoin, maxInputs: 10))
        XCTAssertEqual(plan.inputs.map(\.value), [90_000, 80_000, 70_000])
        XCTAssertNil(
            UTXOPayoutChannel.select(
                amount: 200_000, from: coins([90_000, 80_000, 70_000]),
                parameters: CoinPoolTests.litecoin, maxInputs: 2))
        XCTAssertNil(
            UTXOPayoutChannel.select(
                amount: 250_000, from: coins([90_000, 80_000, 70_000]),
                parameters: CoinPoolTests.litecoin, maxInputs: 10))
    }

    // Change below the dust limit is not worth an output: it goes to the fee.
    func testDustChangeGoesToTheFee() throws {
        let plan = try XCTUnwrap(
            UTXOPayoutChannel.plan(amount: 100_000, inputs: coins([102_000]), parameters: CoinPoolTests.litecoin))
        XCTAssertNil(plan.change)
        XCTAssertEqual(plan.fee, 2_000)
    }

    // Dogecoin: change below the soft dust limit (0.01 DOGE) would cost a 0.01 DOGE penalty: dropped into the fee.
    func testDogecoinSoftDustShapesTheChange() throws {
        let doge = CoinPoolTests.dogecoin
        let softDust = try XCTUnwrap(doge.softDustLimitBaseUnits)
        let amount: UInt64 = 500_000_000
        let withChange = try XCTUnwrap(
            UTXOPayoutChannel.plan(amount: amount, inputs: coins([amount + 3 * softDust]), parameters: doge))
        XCTAssertNotNil(withChange.change)
        XCTAssertGreaterThanOrEqual(withChange.change!, softDust)
        let without = try XCTUnwrap(
            UTXOPayoutChannel.plan(
                amount: amount, inputs: coins([amount + doge.minTxFeeBaseUnits + softDust / 2]), parameters: doge))
        XCTAssertNil(without.change)
        XCTAssertGreaterThanOrEqual(without.fee, doge.minTxFeeBaseUnits)
    }

    // What sendrawtransaction's errors mean.
    func testBroadcastErrorsAreClassified() {
        func verdict(_ code: Int64, _ message: String) -> UTXOPayoutChannel.SendVerdict {
            UTXOPayoutChannel.classify(RPCCallError(code: code, message: message))
        }
        XCTAssertEqual(verdict(-27, "Transaction already in block chain"), .accepted)
        XCTAssertEqual(verdict(-26, "txn-already-in-mempool"), .accepted)
        XCTAssertEqual(
            verdict(-25, "bad-txns-inputs-missingorspent"),
            .refused("bad-txns-inputs-missingorspent", inputsSpent: true))
        XCTAssertEqual(verdict(-25, "Missing inputs"), .refused("Missing inputs", inputsSpent: true))
        XCTAssertEqual(verdict(-26, "txn-mempool-conflict"), .retry("txn-mempool-conflict"))
        XCTAssertEqual(
            verdict(
                -26, "non-mandatory-script-verify-flag (Signature must be zero for failed CHECK(MULTI)SIG operation)"),
            .refused(
                "non-mandatory-script-verify-flag (Signature must be zero for failed CHECK(MULTI)SIG operation)",
                inputsSpent: false))
        XCTAssertEqual(
            verdict(-26, "66: min relay fee not met"), .refused("66: min relay fee not met", inputsSpent: false))
        XCTAssertEqual(verdict(-28, "Loading block index..."), .retry("Loading block index..."))
        XCTAssertEqual(
            verdict(-26, "mempool min fee not met, 2000 < 3000"), .retry("mempool min fee not met, 2000 < 3000"))
    }

    // Coins in a record: a vout and a positive base-unit value that fits the ledger's 63 bits; anything else is refused.
    func testMalformedCoinsAreRefused() throws {
        let good = PayoutTx(
            chain: CoinPoolTests.chain, tx: CoinPoolTests.txid(10), rawHex: "0100",
            sender: CoinPoolTests.operatorAddress,
            spendGuard: .coins(inputs: coins([5]), change: nil))
        let cases: [(JSON) -> Void] = [
            { input in input.set("value", string: "0") },
            { input in input.set("value", string: "9223372036854775808") },  // 2^63
            { input in input.set("value", string: "+5") },
            { input in input.set("value", integer: 5) },
            { input in input.remove("vout") },
            { input in input.set("vout", integer: -1) },
            { input in input.set("vout", integer: 4_294_967_296) },
        ]
        for (number, edit) in cases.enumerated() {
            let object = good.object()
            edit(object["inputs"]!.arrayElements[0])
            let record = JSON.object()
            record.set(Field.payoutTx, object)
            XCTAssertThrowsError(try PayoutTx.read(record), "case \(number)")
        }
        let oversized = good.object()
        let many = JSON.array()
        for index in 0...PayoutTx.maxInputs {
            many.append(
                PayoutTx(
                    chain: "", tx: "", rawHex: "", sender: "",
                    spendGuard: .coins(inputs: [Coin(tx: CoinPoolTests.txid(index), index: 0, value: 1)], change: nil)
                ).object()["inputs"]!.arrayElements[0])
        }
        oversized.set("inputs", many)
        let record = JSON.object()
        record.set(Field.payoutTx, oversized)
        XCTAssertThrowsError(try PayoutTx.read(record))
    }

    // payout_tx carries the coins and the change; tok-apply reads back exactly what tok-verify wrote.
    func testPayoutTxRoundTripsCoins() throws {
        let written = PayoutTx(
            chain: CoinPoolTests.chain, tx: CoinPoolTests.txid(10), rawHex: "0100",
            sender: CoinPoolTests.operatorAddress,
            spendGuard: .coins(inputs: coins([5, 6]), change: Coin(tx: CoinPoolTests.txid(10), index: 1, value: 7)))
        let record = JSON.object()
        record.set(Field.payoutTx, written.object())
        XCTAssertEqual(try PayoutTx.read(record), written)
        let bad = JSON.object()
        let object = written.object()
        object.set("inputs", JSON.array())
        bad.set(Field.payoutTx, object)
        XCTAssertThrowsError(try PayoutTx.read(bad))
    }
}

private extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

private extension Result where Failure == TokError {
    var failureCode: ErrorCode? { failure?.code }
}
