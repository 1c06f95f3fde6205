import Foundation
import Logging
import XCTest
@testable import TokShared
import TokTestSupport

/// Keeps every log event in memory so a test can look for a warning.
final class CapturedLog: @unchecked Sendable {
    struct Entry { let level: Logger.Level; let message: String; let metadata: Logger.Metadata }
    private let lock = NSLock()
    private var stored: [Entry] = []

    func append(_ entry: Entry) { lock.lock(); stored.append(entry); lock.unlock() }
    var entries: [Entry] { lock.lock(); defer { lock.unlock() }; return stored }

    var logger: Logger {
        var logger = Logger(label: "tok-test") { _ in CapturingLogHandler(sink: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    let sink: CapturedLog
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.append(
            .init(
                level: event.level, message: "\(event.message)",
                metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }
}

/// The ledger's transitions, on SQLite; LedgerPostgreSQLTests runs every one on PostgreSQL.
class LedgerTests: XCTestCase {
    class var engine: TestEngine { .sqlite }
    var directory: URL!
    /// The SQLite file, or the test's PostgreSQL database URI.
    var path: String!
    let log = CapturedLog()

    static let accountA = "eip155:1337:0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    static let accountB = "eip155:1337:0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tok-ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = try TestDatabase.make(Self.engine, directory: directory.path, file: "ledger.db")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func openLedger() throws -> Ledger {
        try openTestLedger(engine: Self.engine, location: path, logger: log.logger)
    }

    /// The number of the newest schema migration applied.
    func schemaVersion(_ ledger: Ledger) throws -> Int64? {
        try ledger.database.scalarInt("SELECT max(version) FROM schema_migrations")
    }

    static func tx(_ n: Int) -> String {
        let digits = String(n, radix: 16)
        return "0x" + String(repeating: "0", count: 64 - digits.count) + digits
    }

    static let nativeAsset = "eip155:1337/slip44:60"
    static let tokenAsset = "eip155:1337/erc20:0x5FbDB2315678afecb367f032d93F642f64180aa3"

    static func deposit(
        _ id: String, tx n: Int, account: String = accountA, token: String = "ETH",
        asset: String = nativeAsset, amount: UInt256 = UInt256(1000)
    ) -> VerifiedDeposit {
        VerifiedDeposit(
            requestId: id, chain: "eip155:1337", tx: tx(n), account: account, token: token,
            asset: asset, amount: amount, credited: amount,
            blockHash: "0x" + String(repeating: "b", count: 64), blockNumber: 7, confirmations: 3)
    }

    /// Credits one deposit the way tok-apply does: a batch transaction with a record savepoint.
    @discardableResult
    func credit(
        _ ledger: Ledger, _ deposit: VerifiedDeposit, op: Op = .deposit
    ) throws -> Result<DepositOutcome, TokError> {
        try ledger.inBatch { () -> Result<DepositOutcome, TokError> in
            do throws(TokError) {
                return .success(
                    try ledger.inRecordSavepoint { () throws(TokError) in
                        try ledger.creditDeposit(deposit, op: op, nowMilliseconds: testNowMilliseconds)
                    })
            } catch {
                return .failure(error)
            }
        }
    }

    func count(_ ledger: Ledger, _ table: String) throws -> Int64 {
        try ledger.database.scalarInt("SELECT count(*) FROM \(table)") ?? -1
    }

    func available(_ ledger: Ledger, _ account: String = accountA, _ token: String = "ETH") throws -> UInt256 {
        try ledger.balance(account: account, token: token).available
    }

    // MARK: Crediting

    // A deposit is credited once; the identical claim again is a duplicate naming the first request.
    func testCreditOnceThenDuplicate() throws {
        let ledger = try openLedger()
        let deposit = LedgerTests.deposit("d-1", tx: 1)
        XCTAssertEqual(try credit(ledger, deposit).get(), .credited(availableAfter: UInt256(1000)))
        XCTAssertEqual(
            try ledger.balance(account: LedgerTests.accountA, token: "ETH"),
            Balance(available: UInt256(1000), locked: .zero))
        XCTAssertEqual(try credit(ledger, deposit).get(), .duplicate(firstRequest: "d-1"))
        XCTAssertEqual(try available(ledger), UInt256(1000))
        XCTAssertEqual(try count(ledger, "deposits"), 1)
        XCTAssertEqual(try count(ledger, "requests"), 1)
        XCTAssertEqual(try count(ledger, "audit"), 1)
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // The same chain transaction under another request id is a duplicate naming the first id.
    func testSameTxOtherRequestIsDuplicate() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1))
        XCTAssertEqual(
            try credit(ledger, LedgerTests.deposit("d-2", tx: 1, account: LedgerTests.accountB)).get(),
            .duplicate(firstRequest: "d-1"))
        XCTAssertEqual(try available(ledger, LedgerTests.accountB), .zero)
        XCTAssertNil(try ledger.requestState(id: "d-2"))
        XCTAssertEqual(try count(ledger, "requests"), 1)
    }

    // A request id reused for another transaction is conflicting_record, and nothing is written.
    func testSameRequestOtherTxConflicts() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1))
        let result = try credit(ledger, LedgerTests.deposit("d-1", tx: 2, amount: UInt256(5)))
        XCTAssertEqual(result.error?.code, .conflictingRecord)
        XCTAssertTrue(result.error?.message.contains(LedgerTests.tx(1)) ?? false, result.error?.message ?? "")
        XCTAssertEqual(try available(ledger), UInt256(1000))
        XCTAssertEqual(try count(ledger, "deposits"), 1)
        XCTAssertEqual(try count(ledger, "audit"), 1)
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A credit that would push the balance past 2^256-1 is balance_overflow, and nothing is written.
    func testBalanceOverflow() throws {
        let ledger = try openLedger()
        let nearMax = UInt256.max.subtracting(UInt256(5))!
        XCTAssertEqual(
            try credit(ledger, LedgerTests.deposit("d-1", tx: 1, amount: nearMax)).get(),
            .credited(availableAfter: nearMax))
        XCTAssertEqual(
            try credit(ledger, LedgerTests.deposit("d-2", tx: 2, amount: UInt256(5))).get(),
            .credited(availableAfter: .max), "reaching exactly 2^256-1 is allowed")
        let result = try credit(ledger, LedgerTests.deposit("d-3", tx: 3, amount: UInt256(1)))
        XCTAssertEqual(result.error?.code, .balanceOverflow)
        XCTAssertEqual(try available(ledger), .max)
        XCTAssertEqual(try count(ledger, "deposits"), 2)
        XCTAssertEqual(try count(ledger, "requests"), 2)
        XCTAssertEqual(try count(ledger, "audit"), 2)
        XCTAssertNil(try ledger.requestState(id: "d-3"))
        // Another account is unaffected by the full one.
        XCTAssertNoThrow(
            try credit(ledger, LedgerTests.deposit("d-4", tx: 4, account: LedgerTests.accountB, amount: UInt256(1)))
                .get())
    }

    // Balances are per account and per token.
    func testBalancesArePerAccountAndToken() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1, amount: UInt256(10)))
        try credit(ledger, LedgerTests.deposit("d-2", tx: 2, amount: UInt256(20)))
        try credit(ledger, LedgerTests.deposit("d-3", tx: 3, account: LedgerTests.accountB, amount: UInt256(40)))
        try credit(ledger, LedgerTests.deposit("d-4", tx: 4, token: "TOK", amount: UInt256(80)))
        XCTAssertEqual(try available(ledger), UInt256(30))
        XCTAssertEqual(try available(ledger, LedgerTests.accountB), UInt256(40))
        XCTAssertEqual(try available(ledger, LedgerTests.accountA, "TOK"), UInt256(80))
        XCTAssertEqual(try available(ledger, LedgerTests.accountB, "TOK"), .zero)
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A failing record's savepoint undoes only that record; the batch's other records commit.
    // The statement journal of a writer stays off SQLite's in-memory journal, whose cost per statement grows with
    // everything the open savepoint holds (quadratic in a block record's events).
    func testWriterKeepsItsStatementJournalOffMemory() throws {
        guard Self.engine == .sqlite else { throw XCTSkip("a SQLite setting") }
        let ledger = try openLedger()
        XCTAssertEqual(try ledger.database.scalarInt("PRAGMA temp_store"), 1, "FILE")
    }

    func testRecordSavepointUndoesOnlyTheFailingRecord() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("x-1", tx: 100))
        try ledger.inBatch {
            let a = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.creditDeposit(LedgerTests.deposit("a", tx: 1), nowMilliseconds: testNowMilliseconds)
            }
            XCTAssertEqual(a, .credited(availableAfter: UInt256(2000)))
            // B writes its balance first, then fails: a body that throws after writing.
            assertTokError(
                .internalError,
                { () throws(TokError) in
                    try ledger.inRecordSavepoint { () throws(TokError) -> DepositOutcome in
                        _ = try ledger.creditDeposit(
                            LedgerTests.deposit("b", tx: 2, account: LedgerTests.accountB),
                            nowMilliseconds: testNowMilliseconds)
                        throw TokError(.internalError, "fails after writing")
                    }
                })
            // And a precondition failure inside the ledger.
            assertTokError(
                .conflictingRecord,
                { () throws(TokError) in
                    try ledger.inRecordSavepoint { () throws(TokError) in
                        try ledger.creditDeposit(LedgerTests.deposit("a", tx: 3), nowMilliseconds: testNowMilliseconds)
                    }
                })
            let c = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.creditDeposit(LedgerTests.deposit("c", tx: 4), nowMilliseconds: testNowMilliseconds)
            }
            XCTAssertEqual(c, .credited(availableAfter: UInt256(3000)))
        }

        XCTAssertEqual(try available(ledger), UInt256(3000))
        XCTAssertEqual(try available(ledger, LedgerTests.accountB), .zero)
        XCTAssertNotNil(try ledger.requestState(id: "a"))
        XCTAssertNil(try ledger.requestState(id: "b"))
        XCTAssertNotNil(try ledger.requestState(id: "c"))
        XCTAssertEqual(try count(ledger, "deposits"), 3)
        XCTAssertEqual(try count(ledger, "audit"), 3)
        XCTAssertEqual(try ledger.checkInvariants(), [], "the audit chain must skip the undone record cleanly")
    }

    // A rolled-back batch leaves nothing behind and the audit chain continues correctly after it.
    func testRollbackBatchThenContinue() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1))
        XCTAssertThrowsError(
            try ledger.inBatch {
                _ = try ledger.inRecordSavepoint { () throws(TokError) in
                    try ledger.creditDeposit(LedgerTests.deposit("d-2", tx: 2), nowMilliseconds: testNowMilliseconds)
                }
                throw AbandonBatch()
            })
        XCTAssertEqual(try available(ledger), UInt256(1000))
        XCTAssertNil(try ledger.requestState(id: "d-2"))
        try credit(ledger, LedgerTests.deposit("d-3", tx: 3))
        XCTAssertEqual(try count(ledger, "audit"), 2)
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // requestState reports a credited deposit's fields.
    func testRequestState() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1, amount: UInt256(12345)))
        let state = try XCTUnwrap(try ledger.requestState(id: "d-1"))
        XCTAssertEqual(state.requestId, "d-1")
        XCTAssertEqual(state.op, .deposit)
        XCTAssertEqual(state.state, .credited)
        XCTAssertEqual(state.chain, "eip155:1337")
        XCTAssertEqual(state.tx, LedgerTests.tx(1))
        XCTAssertEqual(state.amount, "12345")
        XCTAssertEqual(state.account, LedgerTests.accountA)
        XCTAssertEqual(state.token, "ETH")
        XCTAssertEqual(state.confirmations, 3)
        XCTAssertNil(state.payout)
        XCTAssertNil(try ledger.requestState(id: "unknown"))
    }

    // The audit trail records the credit, hash-chained from the genesis hash.
    func testAuditEntry() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1))
        let query = try ledger.database.statement("SELECT kind, request_id, body, prev_hash, hash FROM audit")
        XCTAssertTrue(try query.step())
        XCTAssertEqual(query.text(at: 0), "deposit_credited")
        XCTAssertEqual(query.text(at: 1), "d-1")
        XCTAssertTrue(query.text(at: 2).contains("\"available_after\":\"1000\""), query.text(at: 2))
        XCTAssertEqual(query.text(at: 3), String(repeating: "0", count: 64))
        XCTAssertEqual(query.text(at: 4), Hex.encode(Hashing.sha256(query.text(at: 3) + "\n" + query.text(at: 2))))
        query.reset()
    }

    // MARK: Invariants

    // A healthy database has no violations, including when empty.
    func testInvariantsHealthy() throws {
        let ledger = try openLedger()
        XCTAssertEqual(try ledger.checkInvariants(), [])
        for n in 1...5 {
            try credit(
                ledger,
                LedgerTests.deposit("d-\(n)", tx: n, account: n % 2 == 0 ? LedgerTests.accountA : LedgerTests.accountB))
        }
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A deposit credited as a transfer's deposit half is a healthy state too.
    func testInvariantsHealthyWithTransferDeposit() throws {
        let ledger = try openLedger()
        XCTAssertEqual(
            try credit(ledger, LedgerTests.deposit("t-1", tx: 1), op: .transfer).get(),
            .credited(availableAfter: UInt256(1000)))
        XCTAssertEqual(try ledger.requestState(id: "t-1")?.amount, "1000")
        XCTAssertEqual(try ledger.checkInvariants(), [], "a transfer's credited deposit must not count as an orphan")
    }

    // A hand-edited balance breaks conservation and is reported.
    func testInvariantsCatchEditedBalance() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1))
        try ledger.database.execute("UPDATE balances SET available = '1001'")
        let violations = try ledger.checkInvariants()
        XCTAssertEqual(violations.count, 1, "\(violations)")
        XCTAssertTrue(violations.first?.contains("token ETH") ?? false, "\(violations)")
        XCTAssertTrue(violations.first?.contains("1001") ?? false, "\(violations)")
    }

    // A non-canonical stored amount is reported as such (and reading it is a database_error).
    func testInvariantsCatchNonCanonicalAmount() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1))
        try ledger.database.execute("UPDATE balances SET available = '01000'")
        let violations = try ledger.checkInvariants()
        XCTAssertTrue(violations.contains { $0.contains("not canonical") }, "\(violations)")
        assertTokError(
            .databaseError, { () throws(TokError) in try ledger.balance(account: LedgerTests.accountA, token: "ETH") })
    }

    // A deposit without its request row, or a request without its deposit, is reported.
    func testInvariantsCatchOrphans() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1))
        try credit(ledger, LedgerTests.deposit("d-2", tx: 2))
        try ledger.database.execute("DELETE FROM requests WHERE request_id = 'd-1'")
        try ledger.database.execute("DELETE FROM deposits WHERE request_id = 'd-2'")
        let violations = try ledger.checkInvariants()
        XCTAssertTrue(
            violations.contains { $0.contains("1 deposit(s) without a matching request row") }, "\(violations)")
        XCTAssertTrue(
            violations.contains { $0.contains("1 deposit request(s) without a credited deposit") }, "\(violations)")
    }

    // The audit table refuses UPDATE and DELETE.
    func testAuditIsAppendOnly() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1))
        XCTAssertThrowsError(try ledger.database.execute("UPDATE audit SET body = '{}'"))
        XCTAssertThrowsError(try ledger.database.execute("DELETE FROM audit"))
        XCTAssertEqual(try count(ledger, "audit"), 1)
    }

    // An edited audit body (trigger dropped) breaks its hash and is reported.
    func testInvariantsCatchEditedAuditEntry() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1))
        try credit(ledger, LedgerTests.deposit("d-2", tx: 2))
        try ledger.database.execute(
            Self.engine == .sqlite ? "DROP TRIGGER audit_no_update" : "DROP TRIGGER audit_no_update ON audit")
        try ledger.database.execute("UPDATE audit SET body = replace(body, '1000', '9000') WHERE seq = 1")
        let violations = try ledger.checkInvariants()
        XCTAssertEqual(violations, ["audit entry 1: hash does not match its content"])
    }

    // A forged audit row that does not chain onto the previous one is reported.
    func testInvariantsCatchForgedAuditRow() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1))
        let forgedBody = "{\"forged\":true}"
        let wrongPrevious = String(repeating: "f", count: 64)
        let selfConsistentHash = Hex.encode(Hashing.sha256(wrongPrevious + "\n" + forgedBody))
        try ledger.database.execute(
            """
            INSERT INTO audit (at_ms, kind, request_id, body, prev_hash, hash)
            VALUES (0, 'forged', 'x', '\(forgedBody)', '\(wrongPrevious)', '\(selfConsistentHash)')
            """)
        let violations = try ledger.checkInvariants()
        XCTAssertEqual(violations, ["audit entry 2: prev_hash does not match the entry before it"])
    }

    // MARK: Audit failure

    // A failing audit write keeps the credit and logs a warning.
    func testAuditWriteFailureKeepsCreditAndWarns() throws {
        let ledger = try openLedger()
        try failAuditInserts(ledger)
        XCTAssertEqual(
            try credit(ledger, LedgerTests.deposit("d-1", tx: 1)).get(), .credited(availableAfter: UInt256(1000)))
        XCTAssertEqual(try available(ledger), UInt256(1000))
        XCTAssertEqual(try count(ledger, "deposits"), 1)
        XCTAssertEqual(try count(ledger, "audit"), 0)
        let warnings = log.entries.filter { $0.level == .warning }
        XCTAssertEqual(warnings.count, 1, "\(log.entries.map(\.message))")
        XCTAssertTrue(warnings.first?.message.contains("audit") ?? false)
        XCTAssertEqual(warnings.first?.metadata["request"].map { "\($0)" }, "d-1")
        // Once audit writes work again the chain carries on from the last good entry.
        try restoreAuditInserts(ledger)
        try credit(ledger, LedgerTests.deposit("d-2", tx: 2))
        XCTAssertEqual(try count(ledger, "audit"), 1)
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // MARK: Persistence and locking

    // Balances, requests and the audit chain survive closing and reopening the database.
    func testReopenKeepsState() throws {
        var ledger: Ledger? = try openLedger()
        try credit(ledger!, LedgerTests.deposit("d-1", tx: 1, amount: UInt256(7)))
        try credit(ledger!, LedgerTests.deposit("d-2", tx: 2, account: LedgerTests.accountB, amount: UInt256(9)))
        ledger = nil
        let reopened = try openLedger()
        XCTAssertEqual(try available(reopened), UInt256(7))
        XCTAssertEqual(try available(reopened, LedgerTests.accountB), UInt256(9))
        XCTAssertEqual(try reopened.requestState(id: "d-2")?.state, .credited)
        XCTAssertEqual(
            try credit(reopened, LedgerTests.deposit("d-1", tx: 1, amount: UInt256(7))).get(),
            .duplicate(firstRequest: "d-1"))
        try credit(reopened, LedgerTests.deposit("d-3", tx: 3, amount: UInt256(1)))
        XCTAssertEqual(try available(reopened), UInt256(8))
        XCTAssertEqual(
            try reopened.checkInvariants(), [], "the audit chain continues from the stored head after a restart")
        XCTAssertEqual(try schemaVersion(reopened), Int64(Schema.currentVersion))
        if Self.engine == .sqlite {
            XCTAssertEqual(try reopened.database.scalarInt("PRAGMA user_version"), Int64(Schema.currentVersion))
        }
    }

    // MARK: Schema

    func assertRefused(containing text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try openLedger(), file: file, line: line) { error in
            guard let store = error as? StoreError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(store.kind, .unusable, file: file, line: line)
            XCTAssertTrue(store.message.contains(text), store.message, file: file, line: line)
        }
    }

    /// A connection to the test's database as another program would open it.
    func rawConnection() throws -> any DatabaseConnection {
        switch Self.engine {
        case .sqlite: return try SQLiteDatabase(path: path)
        case .postgresql: return try PostgreSQLConnection(PostgreSQLSettings(uri: path))
        }
    }

    /// The tables the test's database holds, schema_migrations included.
    func tableNames() throws -> [String] {
        let connection = try rawConnection()
        let query = try connection.statement(
            Self.engine == .sqlite
                ? "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                : "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
        )
        defer { query.reset() }
        var names: [String] = []
        while try query.step() { names.append(query.text("name")) }
        return names
    }

    /// The SQLite file's bytes with its -wal and -shm companions (nil when absent).
    func fileState() -> [Data?] {
        [path, path + "-wal", path + "-shm"].map { FileManager.default.contents(atPath: $0) }
    }

    // Another application's database (tables, no tok schema) is refused without a byte changed:
    // no tok table, no WAL switch, the error naming the database.
    func testForeignDatabaseIsRefusedUntouched() throws {
        do {
            let other = try rawConnection()
            try other.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
            try other.execute("INSERT INTO customers (id, name) VALUES (1, 'Ada')")
        }
        let before = fileState(), tablesBefore = try tableNames()
        assertRefused(containing: "is not tok's database (it holds tables customers")
        if Self.engine == .sqlite { assertRefused(containing: path) }
        XCTAssertEqual(try tableNames(), tablesBefore)
        if Self.engine == .sqlite { XCTAssertEqual(fileState(), before, "the file is left exactly as it was") }
        XCTAssertThrowsError(try Ledger(readOnly: rawConnection(), logger: log.logger)) { error in
            XCTAssertEqual((error as? StoreError)?.kind, .unusable, "readers refuse it too, as permanent: \(error)")
        }
    }

    // Another framework's schema_migrations table (its own columns) does not make a database tok's.
    func testForeignMigrationsTableIsRefused() throws {
        try rawConnection().execute("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY)")
        assertRefused(containing: "another application's schema_migrations")
        XCTAssertEqual(try tableNames(), ["schema_migrations"])
    }

    // A reader that opens the database while tok-apply creates it: the migrations table appears between the
    // reader's probe for tok's table and its probe for any such table. It is tok's, not another application's.
    func testMigrationsTableCreatedWhileProbingIsTok() throws {
        let writer = try rawConnection()
        let racing = ProbeRacingConnection(try rawConnection()) {
            try writer.execute(writer.dialect.render(Schema.migrationsTable))
        }
        XCTAssertNoThrow(try Schema.requireOwnable(racing, location: path))
        XCTAssertTrue(racing.raced, "the table was created between the probes")
    }

    // SQLite: tok marks its files (application id "tokl") in the first migration's transaction;
    // a file another application marked is refused though it holds no table; a tok file from
    // before the mark is adopted and marked.
    func testApplicationIdMarksTokFiles() throws {
        try XCTSkipIf(Self.engine != .sqlite, "application ids are SQLite's")
        XCTAssertEqual(try openLedger().database.scalarInt("PRAGMA application_id"), Int64(Schema.applicationId))
        try rawConnection().execute("PRAGMA application_id = 0")
        XCTAssertEqual(try openLedger().database.scalarInt("PRAGMA application_id"), Int64(Schema.applicationId))

        try FileManager.default.removeItem(atPath: path)
        try rawConnection().execute("PRAGMA application_id = 1598903374")  // 0x5F4D544E, some other program's
        let before = fileState()
        assertRefused(containing: "belongs to another application (application id 0x5f4d544e)")
        XCTAssertEqual(fileState(), before)
    }

    // SQLite: a file that is not a database at all is refused untouched, naming the file.
    func testNotADatabaseIsRefusedUntouched() throws {
        try XCTSkipIf(Self.engine != .sqlite, "a file")
        try Data(String(repeating: "not a database\n", count: 300).utf8).write(to: URL(fileURLWithPath: path))
        let before = fileState()
        assertRefused(containing: "\(path!): file is not a database")
        XCTAssertEqual(fileState(), before)
    }

    // A database whose applied migration is not this tok's is refused, not migrated further.
    func testChangedMigrationIsRefused() throws {
        let ledger = try openLedger()
        XCTAssertEqual(try schemaVersion(ledger), Int64(Schema.currentVersion))
        try ledger.database.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        assertRefused(containing: "schema migration 1 applied to it differs")
    }

    // A database a newer tok migrated is refused.
    func testNewerSchemaIsRefused() throws {
        let ledger = try openLedger()
        try ledger.database.execute(
            "INSERT INTO schema_migrations (version, checksum, applied_at_ms) VALUES (\(Schema.currentVersion + 1), 'x', 0)"
        )
        assertRefused(containing: "newer than this tok")
    }

    /// Every row of the tables migration 7 rebuilt or extended, and the audit trail, one line each.
    func keptRows(_ ledger: Ledger) throws -> [String] {
        var rows: [String] = []
        for (table, columns, order) in [
            (
                "deposits",
                "chain, tx, request_id, account, token, asset, amount, credited, block_hash, block_number, confirmations, credited_at_ms",
                "chain, tx"
            ),
            ("requests", "request_id, op, state, chain, tx, updated_at_ms", "request_id"),
            ("balances", "account, token, available, locked", "account, token"),
            ("shortfalls", "id, chain, tx, account, token, amount, state", "id"),
            ("audit", "seq, at_ms, kind, request_id, body, prev_hash, hash", "seq"),
        ] {
            let line = columns.split(separator: ",")
                .map { "coalesce(CAST(\($0.trimmingCharacters(in: .whitespaces)) AS TEXT), 'NULL')" }
                .joined(separator: " || '|' || ")
            let query = try ledger.database.statement("SELECT \(line) AS line FROM \(table) ORDER BY \(order)")
            while try query.step() { rows.append(table + ": " + query.text("line")) }
            query.reset()
        }
        return rows
    }

    // Migration 7 re-keys deposits from (chain, tx) to (chain, tx, asset). A ledger at migration 6 (whose key holds
    // one deposit per transaction) opens with every row and the audit chain kept, a shortfall given its deposit's
    // asset and the checks of migration 6 in force; then a second asset of a credited transaction is credited once.
    func testDepositsAreKeyedPerAssetAfterTheUpgrade() throws {
        let before: [String]
        do {
            let old = try Ledger(connection: rawConnection(), logger: log.logger, schemaVersion: 6)
            XCTAssertEqual(try schemaVersion(old), 6)
            try credit(old, LedgerTests.deposit("d-eth", tx: 1))
            try credit(old, LedgerTests.deposit("d-tok", tx: 2, token: "TOK", asset: LedgerTests.tokenAsset))
            try credit(old, LedgerTests.deposit("d-b", tx: 3, account: LedgerTests.accountB, amount: UInt256(5)))
            XCTAssertEqual(
                try credit(old, LedgerTests.deposit("d-tok-1", tx: 1, token: "TOK", asset: LedgerTests.tokenAsset))
                    .error?.code,
                .databaseError, "schema 6's key holds one deposit per transaction")
            try old.database.execute(
                """
                INSERT INTO shortfalls (chain, tx, account, token, amount, block_hash, height, coins, state, resolution,
                                        opened_at_ms, resolved_at_ms)
                VALUES ('eip155:1337', '\(LedgerTests.tx(3))', '\(LedgerTests.accountB)', 'ETH', '5', '0x01', 7, '[]', 'resolved',
                        'mined again', 1, 2)
                """)
            before = try keptRows(old)
        }
        let ledger = try openLedger()
        XCTAssertEqual(try schemaVersion(ledger), Int64(Schema.currentVersion))
        XCTAssertEqual(try keptRows(ledger), before, "every row kept as it was")
        XCTAssertEqual(
            try ledger.database.scalarInt("SELECT count(*) FROM shortfalls WHERE asset = '\(LedgerTests.nativeAsset)'"),
            1)
        XCTAssertEqual(try ledger.checkInvariants(), [])

        XCTAssertEqual(
            try credit(ledger, LedgerTests.deposit("d-tok-1", tx: 1, token: "TOK", asset: LedgerTests.tokenAsset))
                .get(),
            .credited(availableAfter: UInt256(2000)))
        XCTAssertEqual(
            try credit(ledger, LedgerTests.deposit("d-tok-2", tx: 1, token: "TOK", asset: LedgerTests.tokenAsset))
                .get(),
            .duplicate(firstRequest: "d-tok-1"))
        XCTAssertEqual(
            try credit(ledger, LedgerTests.deposit("d-eth-2", tx: 1)).get(), .duplicate(firstRequest: "d-eth"))
        XCTAssertEqual(try ledger.requestState(id: "d-tok-1")?.token, "TOK")
        XCTAssertEqual(try ledger.requestState(id: "d-eth")?.token, "ETH")
        XCTAssertEqual(try available(ledger, LedgerTests.accountA, "ETH"), UInt256(1000))
        XCTAssertEqual(try available(ledger, LedgerTests.accountA, "TOK"), UInt256(2000))
        XCTAssertThrowsError(
            try ledger.database.execute("UPDATE deposits SET block_number = -1"), "migration 6's check holds"
        ) { error in
            XCTAssertEqual((error as? StoreError)?.kind, .constraint, "\(error)")
        }
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // Two assets of one transaction are two deposits; one request id cannot credit both.
    func testOneRequestCannotCreditTwoAssets() throws {
        let ledger = try openLedger()
        try credit(ledger, LedgerTests.deposit("d-1", tx: 1))
        let result = try credit(ledger, LedgerTests.deposit("d-1", tx: 1, token: "TOK", asset: LedgerTests.tokenAsset))
        XCTAssertEqual(result.error?.code, .conflictingRecord)
        XCTAssertTrue(
            result.error?.message.contains("another asset of \(LedgerTests.tx(1))") ?? false,
            result.error?.message ?? "")
        XCTAssertEqual(try count(ledger, "deposits"), 1)
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // Integer quantities carry CHECK constraints (triggers on SQLite files): a negative one is a constraint failure.
    func testNegativeQuantitiesAreRefused() throws {
        let ledger = try openLedger()
        for statement in [
            "INSERT INTO nonces (chain, sender, next_nonce) VALUES ('c', 's', -1)",
            "INSERT INTO token_units (token, decimals) VALUES ('X', 78)",
            "INSERT INTO free_nonces (chain, sender, nonce) VALUES ('c', 's', -5)",
        ] {
            XCTAssertThrowsError(try ledger.database.execute(statement), statement) { error in
                XCTAssertEqual((error as? StoreError)?.kind, .constraint, "\(error)")
            }
        }
        try ledger.database.execute("INSERT INTO nonces (chain, sender, next_nonce) VALUES ('c', 's', 0)")
        XCTAssertThrowsError(try ledger.database.execute("UPDATE nonces SET next_nonce = -1"))
    }

    func failAuditInserts(_ ledger: Ledger) throws {
        switch Self.engine {
        case .sqlite:
            try ledger.database.execute(
                "CREATE TEMP TRIGGER audit_fail BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'x'); END")
        case .postgresql:
            try ledger.database.execute(
                """
                CREATE FUNCTION audit_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'x'; END $$;
                CREATE TRIGGER audit_fail BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION audit_fail();
                """)
        }
    }

    func restoreAuditInserts(_ ledger: Ledger) throws {
        try ledger.database.execute(
            Self.engine == .sqlite ? "DROP TRIGGER temp.audit_fail" : "DROP TRIGGER audit_fail ON audit")
    }

    /// Asserts that taking `lock` times out with EX_TEMPFAIL, naming the database and the holder's pid.
    func assertLockBusy(
        _ lock: any WriterLock, holder: String? = nil, file: StaticString = #filePath, line: UInt = #line
    ) {
        let started = Date()
        XCTAssertThrowsError(try lock.acquire(), file: file, line: line) { error in
            let failure = ToolMain.classify(error)
            XCTAssertEqual(failure.code, .tempFailure, file: file, line: line)
            XCTAssertTrue(failure.message.contains("database \(self.path!)"), failure.message, file: file, line: line)
            XCTAssertTrue(
                failure.message.contains(holder ?? "pid \(getpid())"), failure.message, file: file, line: line)
        }
        let waited = Date().timeIntervalSince(started)
        XCTAssertGreaterThanOrEqual(waited, 0.09, "gave up before its 100 ms timeout", file: file, line: line)
        XCTAssertLessThan(waited, 2, file: file, line: line)
    }

    // A second writer on the same database times out after 100 ms with EX_TEMPFAIL naming the
    // database, and gets the lock once the first releases it (explicitly, or by deinit).
    func testWriterLock() throws {
        var first: FileWriterLock? = try FileWriterLock(databasePath: path, timeoutMilliseconds: 100)
        XCTAssertEqual(first?.path, path + ".lock")
        try first!.acquire()
        let second = try FileWriterLock(databasePath: path, timeoutMilliseconds: 100)
        assertLockBusy(second)
        first!.release()
        XCTAssertNoThrow(try second.acquire())
        let third = try FileWriterLock(databasePath: path, timeoutMilliseconds: 100)
        assertLockBusy(third)
        second.release()
        // Released by deinit: the first lock is taken again, then dropped with its object.
        try first!.acquire()
        assertLockBusy(third)
        first = nil
        XCTAssertNoThrow(try third.acquire())
        third.release()
    }

    // withLock holds the lock only for its body, and releases it when the body throws.
    func testWriterLockWithLock() throws {
        let lock = try FileWriterLock(databasePath: path, timeoutMilliseconds: 100)
        let other = try FileWriterLock(databasePath: path, timeoutMilliseconds: 100)
        try lock.withLock { assertLockBusy(other) }
        XCTAssertThrowsError(try lock.withLock { () throws -> Void in throw TokError(.internalError, "body failed") })
        XCTAssertNoThrow(try other.acquire())
        other.release()
    }

    // Locks on different databases do not conflict.
    func testWriterLocksOnDifferentDatabasesAreIndependent() throws {
        let one = try FileWriterLock(databasePath: path, timeoutMilliseconds: 0)
        let two = try FileWriterLock(databasePath: path + "-other", timeoutMilliseconds: 0)
        XCTAssertNoThrow(try one.acquire())
        XCTAssertNoThrow(try two.acquire())
        XCTAssertNotEqual(one.path, two.path)
    }
}

extension Result {
    var error: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}

/// A connection whose owner creates tables while it looks at the schema: `race` runs once, just before the
/// probe for any `schema_migrations` table is prepared (after the probe for tok's own has found none).
final class ProbeRacingConnection: DatabaseConnection {
    private let inner: any DatabaseConnection
    private let race: () throws -> Void
    private(set) var raced = false

    init(_ inner: any DatabaseConnection, race: @escaping () throws -> Void) {
        self.inner = inner
        self.race = race
    }

    var dialect: any SQLDialect { inner.dialect }
    var location: String { inner.location }
    var changes: Int { inner.changes }
    var inTransaction: Bool { inner.inTransaction }
    func execute(_ sql: String) throws(StoreError) { try inner.execute(sql) }

    func statement(_ sql: String) throws(StoreError) -> any DatabaseStatement {
        if !raced && sql.hasPrefix("SELECT * FROM schema_migrations") {
            raced = true
            do { try race() } catch { preconditionFailure("the racing writer failed: \(error)") }
        }
        return try inner.statement(sql)
    }
}
