import Foundation
import Logging
import XCTest
@testable import TokShared
import TokTestSupport

/// Faults only a server has: its backend killed in the middle of a batch, the
/// connection lost between batches, the server stopped and started. tok-apply's
/// own stage runs against the real server; the rule is the same as for a
/// crash: a batch is all or nothing, and a rerun credits nothing twice.
final class PostgreSQLFaultTests: XCTestCase {
    var server: TestPostgres!
    var uri: String!
    var config: TokConfig!
    var attestor: Attestor!
    let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    override func setUpWithError() throws {
        server = try TestPostgres.shared()
        uri = try server.createDatabase()
        config = try TokConfig.parse(text: ConfigTests.base, file: "test.toml", environment: ConfigTests.environment)
        attestor = Attestor(settings: try XCTUnwrap(config.attestationSettings()))
    }

    /// tok-apply's writer: its ledger and advisory lock on one connection, reconnecting quickly.
    func openWriter() throws -> (stage: ApplyStage, ledger: Ledger, connection: PostgreSQLConnection) {
        let (lock, ledger) = try Ledger.openWriter(target: .postgresql(uri: uri), config: config, lockTimeoutMilliseconds: 2000,
                                                   logger: logger)
        let stage = ApplyStage(config: config, ledger: ledger, attestor: attestor, writerLock: lock, logger: logger,
                               clock: { testNowMilliseconds })
        return (stage, ledger, try XCTUnwrap(ledger.database as? PostgreSQLConnection))
    }

    /// An attested, verified deposit of 1000 wei in its own transaction `n`.
    func deposit(_ n: Int) -> JSON {
        let tx = "0x" + String(repeating: "0", count: 60) + String(format: "%04x", n)
        let record = JSON.object()
        record.set(Field.op, string: "deposit")
        record.set(Field.id, string: "d-\(n)")
        record.set(Field.status, string: RecordStatus.verified.rawValue)
        record.set(Field.validated, ValidatedDeposit(network: "eip155:1337", account: StageInProcessTests.account, token: "ETH",
                                                     asset: "eip155:1337/slip44:60", tx: tx).write())
        let verification = DepositVerification(
            payment: .init(amount: UInt256(1000), credited: nil, blockHash: "0x" + String(repeating: "b", count: 64),
                           blockNumber: 7, outputs: []),
            confirmations: 3, requiredConfirmations: 2)
        record.set(Field.verified, verification.object())
        attestor.attest(record, stage: .verify)
        return record
    }

    func deposits(_ range: ClosedRange<Int>) -> [JSON] { range.map(deposit) }

    func statuses(_ records: [JSON]) -> [String] { records.map { $0.string(at: "status") ?? "?" } }

    func credited(_ ledger: Ledger) throws -> Int64 { try ledger.database.scalarInt("SELECT count(*) FROM deposits") ?? -1 }

    /// As an administrator: a trigger that ends its own server process when
    /// the deposit of `tx` is inserted, so the kill lands mid-batch, always at
    /// the same record.
    func killBackendOnInsert(ofDepositNumber n: Int) throws {
        let admin = try PostgreSQLConnection(PostgreSQLSettings(uri: uri))
        try admin.execute("""
            CREATE FUNCTION kill_me() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN IF NEW.request_id = 'd-\(n)' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$;
            CREATE TRIGGER kill_me BEFORE INSERT ON deposits FOR EACH ROW EXECUTE FUNCTION kill_me();
            """)
    }

    func dropKiller() throws {
        try PostgreSQLConnection(PostgreSQLSettings(uri: uri)).execute("DROP TRIGGER kill_me ON deposits")
    }

    // The backend killed in the middle of a batch: every record of the batch is
    // rejected as retryable, nothing of it is stored; the next batch reconnects;
    // the rerun credits each deposit once, and a second rerun finds duplicates.
    func testBackendKilledMidBatchRejectsTheWholeBatchAndARerunCompletes() async throws {
        let writer = try openWriter()
        let first = try await writer.stage.process(deposits(1...3))
        XCTAssertEqual(statuses(first), ["credited", "credited", "credited"])
        try killBackendOnInsert(ofDepositNumber: 6)
        let broken = try await writer.stage.process(deposits(4...9))
        XCTAssertEqual(statuses(broken), Array(repeating: "rejected", count: 6))
        for record in broken {
            XCTAssertEqual(record["error"]?.string(at: "code"), ErrorCode.databaseError.rawValue, "\(record.serialized())")
            XCTAssertEqual(record["error"]?["retryable"]?.boolValue, true, "\(record.serialized())")
        }
        try dropKiller()
        let rerun = try await writer.stage.process(deposits(1...9))
        XCTAssertEqual(statuses(rerun), Array(repeating: "duplicate", count: 3) + Array(repeating: "credited", count: 6),
                       rerun.map { $0.serialized() }.joined(separator: "\n"))
        XCTAssertEqual(writer.connection.reconnections, 1)
        XCTAssertEqual(try credited(writer.ledger), 9)
        XCTAssertEqual(try writer.ledger.balance(account: StageInProcessTests.account, token: "ETH").available, UInt256(9000))
        XCTAssertEqual(try writer.ledger.checkInvariants(), [])
    }

    // A connection lost between batches (pg_terminate_backend from outside) is
    // reopened before the next batch; the batch applies as if nothing happened.
    func testConnectionLostBetweenBatchesIsReopened() async throws {
        let writer = try openWriter()
        let out1_2 = try await writer.stage.process(deposits(1...2))
        XCTAssertEqual(statuses(out1_2), ["credited", "credited"])
        XCTAssertEqual(try server.terminateBackends(database: uri), 1)
        let out3_4 = try await writer.stage.process(deposits(3...4))
        XCTAssertEqual(statuses(out3_4), ["credited", "credited"])
        XCTAssertEqual(writer.connection.reconnections, 1)
        XCTAssertEqual(try credited(writer.ledger), 4)
        XCTAssertEqual(try writer.ledger.checkInvariants(), [])
    }

    // The server stopped and started again (a crash: immediate shutdown, recovery at start):
    // committed batches survive, the next batch reconnects. While it stays
    // down, the batch fails as a temporary failure (exit 75) after the bounded retries.
    func testServerRestartIsSurvivedAndADownServerIsATemporaryFailure() async throws {
        let writer = try openWriter()
        let out1_2 = try await writer.stage.process(deposits(1...2))
        XCTAssertEqual(statuses(out1_2), ["credited", "credited"])
        try server.stop(mode: "immediate")
        do {
            _ = try await writer.stage.process(deposits(3...4))
            XCTFail("a batch applied with the server down")
        } catch {
            XCTAssertEqual(ToolMain.classify(error).code, .tempFailure, "\(error)")
        }
        try server.start()
        let out3_4 = try await writer.stage.process(deposits(3...4))
        XCTAssertEqual(statuses(out3_4), ["credited", "credited"])
        XCTAssertEqual(try credited(writer.ledger), 4)
        XCTAssertEqual(try writer.ledger.checkInvariants(), [])
    }

    // A reader (tok-verify's view) reads committed state while the writer holds
    // its lock and an open transaction: it neither waits nor sees the uncommitted rows.
    func testReadersNeverWaitForTheWriter() async throws {
        let writer = try openWriter()
        _ = try await writer.stage.process(deposits(1...1))
        var settings = PostgreSQLSettings(uri: uri)
        settings.readOnly = true
        let reader = try Ledger(readOnly: try PostgreSQLConnection(settings), logger: logger)
        let lock = AdvisoryWriterLock(connection: writer.connection, timeoutMilliseconds: 0)
        try lock.acquire()
        try writer.ledger.database.execute("BEGIN")
        try writer.ledger.database.execute("UPDATE balances SET available = '5'")
        XCTAssertEqual(try reader.balance(account: StageInProcessTests.account, token: "ETH").available, UInt256(1000))
        XCTAssertTrue(try reader.hasDeposit(chain: "eip155:1337", tx: "0x" + String(repeating: "0", count: 60) + "0001",
                                           asset: "eip155:1337/slip44:60"))
        XCTAssertThrowsError(try reader.database.execute("DELETE FROM balances"), "a reader cannot write") { error in
            XCTAssertEqual((error as? StoreError)?.kind, .readOnly, "\(error)")
        }
        try writer.ledger.database.execute("ROLLBACK")
        lock.release()
    }
}

/// `tok-apply copy`'s engine: SQLite into PostgreSQL and back, proven equal.
final class LedgerCopyTests: XCTestCase {
    var directory: URL!
    let log = CapturedLog()

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tok-copy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// A SQLite ledger with deposits, coins, an open and a settled payout, and their audit trail.
    func populatedSQLite() throws -> Ledger {
        let ledger = try openTestLedger(engine: .sqlite, location: directory.appendingPathComponent("source.db").path, logger: log.logger)
        let now = testNowMilliseconds
        try ledger.inBatch {
            _ = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.creditDeposit(CoinPoolTests.deposit("d-1", tx: 1, values: [50_000, 70_000]), nowMilliseconds: now)
            }
            _ = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.creditDeposit(LedgerTests.deposit("d-2", tx: 2), nowMilliseconds: now)
            }
            let coin = Coin(tx: CoinPoolTests.txid(1), index: 0, value: 50_000)
            _ = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.preparePayout(CoinPoolTests.payout("p-1", tx: 9, inputs: [coin], change: 40_000), nowMilliseconds: now)
            }
            _ = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.rollbackPayout(requestId: "p-1", tx: CoinPoolTests.txid(9), reason: "test", nonceConsumed: false,
                                          nowMilliseconds: now)
            }
        }
        XCTAssertEqual(try ledger.checkInvariants(), [])
        XCTAssertGreaterThan(try ledger.database.scalarInt("SELECT count(*) FROM audit") ?? 0, 2)
        return ledger
    }

    func testSQLiteToPostgreSQLAndBackIsEqual() throws {
        let source = try populatedSQLite()
        let server = try openTestLedger(engine: .postgresql, location: try TestPostgres.shared().createDatabase(), logger: log.logger)
        let there = try LedgerCopy.copy(from: source, to: server)
        XCTAssertTrue(there.tables.contains { $0.table == "audit" && $0.rows >= 3 }, "\(there.tables)")
        let back = try openTestLedger(engine: .sqlite, location: directory.appendingPathComponent("back.db").path, logger: log.logger)
        let again = try LedgerCopy.copy(from: server, to: back)
        XCTAssertEqual(again.tables, there.tables)
        XCTAssertEqual(again.auditHead, there.auditHead)
        // The copy carries on: its audit sequence continues after the copied rows.
        try server.inBatch {
            _ = try server.inRecordSavepoint { () throws(TokError) in
                try server.creditDeposit(LedgerTests.deposit("d-3", tx: 3), nowMilliseconds: testNowMilliseconds)
            }
        }
        XCTAssertEqual(try server.checkInvariants(), [])
    }

    // Only into an empty database: a copy never merges two ledgers.
    func testCopyIntoANonEmptyDatabaseIsRefused() throws {
        let source = try populatedSQLite()
        let other = try openTestLedger(engine: .postgresql, location: try TestPostgres.shared().createDatabase(), logger: log.logger)
        try other.database.execute("INSERT INTO token_units (token, decimals) VALUES ('X', 8)")
        XCTAssertThrowsError(try LedgerCopy.copy(from: source, to: other)) { error in
            XCTAssertTrue("\(error)".contains("not empty"), "\(error)")
        }
    }

    // A copy that differs (here: a row edited after the copy) is caught by the proof.
    func testADifferentCopyIsCaught() throws {
        let source = try populatedSQLite()
        let server = try openTestLedger(engine: .postgresql, location: try TestPostgres.shared().createDatabase(), logger: log.logger)
        _ = try LedgerCopy.copy(from: source, to: server)
        try server.database.execute("UPDATE balances SET available = '1' WHERE token = 'ETH'")
        XCTAssertThrowsError(try LedgerCopy.prove(source, equalTo: server)) { error in
            XCTAssertTrue("\(error)".contains("balances differs"), "\(error)")
        }
    }
}
