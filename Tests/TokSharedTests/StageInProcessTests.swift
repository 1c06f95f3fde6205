import Foundation
import Logging
import XCTest
@testable import TokShared
import TokTestSupport

/// Each stage run in process against a temporary ledger: every (op, status)
/// pair a stage does not own passes through byte for byte, and tok-apply's
/// refusals (forged or missing attestations, missing sections, bad states)
/// come out as rejections with their stable codes and change nothing.
class StageInProcessTests: XCTestCase {
    class var engine: TestEngine { .sqlite }
    var directory: URL!
    var config: TokConfig!
    var attestor: Attestor!
    var ledger: Ledger!
    let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    static let account = "eip155:1337:0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528"
    static let tx = "0x" + String(repeating: "ab", count: 32)

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tok-stage-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        config = try TokConfig.parse(text: ConfigTests.base, file: "test.toml", environment: ConfigTests.environment)
        attestor = Attestor(settings: try XCTUnwrap(config.attestationSettings()))
        ledger = try openTestLedger(
            engine: Self.engine,
            location: try TestDatabase.make(Self.engine, directory: directory.path, file: "ledger.db"), logger: logger)
    }

    override func tearDownWithError() throws {
        ledger = nil
        try? FileManager.default.removeItem(at: directory)
    }

    func applyStage() -> ApplyStage {
        ApplyStage(
            config: config, ledger: ledger, attestor: attestor, writerLock: nil, logger: logger,
            clock: { testNowMilliseconds })
    }

    func run(_ stage: Stage, _ records: [JSON]) async throws -> [JSON] {
        let output = try await stage.process(records)
        XCTAssertEqual(output.count, records.count, "one output per input")
        return output
    }

    /// A record of `op` in `status` with a little of everything a record carries.
    func record(op: String, status: String?) -> JSON {
        let record = JSON.object()
        record.set(Field.op, string: op)
        record.set(Field.id, string: "r-\(op)-\(status ?? "none")")
        if let status { record.set(Field.status, string: status) }
        let validated = JSON.object()
        validated.set("account", string: StageInProcessTests.account)
        record.set(Field.validated, validated)
        return record
    }

    // MARK: Pass-through

    /// Every (op, status) pair: the stages that the flow does not name leave the record exactly as it was.
    func testRecordsNoStageOwnsPassThroughUntouched() async throws {
        let statuses: [String?] = [nil] + RecordStatus.allCases.map(\.rawValue) + ["some_future_status"]
        let ops = Op.allCases.map(\.rawValue) + ["mint_of_the_future"]
        let stages: [(FlowStages, Stage)] = [
            (.validate, ValidateStage(config: config, defaultOp: nil, logger: logger)),
            (.verify, VerifyStage(config: config, attestor: attestor, wait: nil, logger: logger)),
            (.apply, applyStage()),
            (.submit, SubmitStage(config: config, attestor: attestor, wait: nil, logger: logger)),
        ]
        var checked = 0
        for op in ops {
            for status in statuses {
                for (role, stage) in stages {
                    let input = record(op: op, status: status)
                    let owned = FlowRegistry.claim(input, for: role) != nil
                    // tok-validate owns every fresh request, whatever its op (an unknown op is its to refuse).
                    if owned || (role == .validate && status == nil) { continue }
                    let before = input.serialized(sortKeys: true)
                    let output = try await run(stage, [input])
                    XCTAssertEqual(
                        output[0].serialized(sortKeys: true), before,
                        "\(stage.name.tool) changed \(op)/\(status ?? "nil")")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 200)
        XCTAssertEqual(try ledger.checkInvariants(), [], "nothing reached the ledger")
    }

    // MARK: tok-apply's refusals

    func verifiedDeposit(id: String, amount: String = "1000") -> JSON {
        let record = JSON.object()
        record.set(Field.op, string: "deposit")
        record.set(Field.id, string: id)
        record.set(Field.status, string: RecordStatus.verified.rawValue)
        record.set(
            Field.validated,
            ValidatedDeposit(
                network: "eip155:1337", account: StageInProcessTests.account, token: "ETH",
                asset: "eip155:1337/slip44:60", tx: StageInProcessTests.tx
            ).write())
        let verification = DepositVerification(
            payment: .init(
                amount: try! UInt256(decimal: amount), credited: nil,
                blockHash: "0x" + String(repeating: "b", count: 64),
                blockNumber: 7, outputs: []),
            confirmations: 3, requiredConfirmations: 2)
        record.set(Field.verified, verification.object())
        attestor.attest(record, stage: .verify)
        return record
    }

    func code(_ record: JSON) -> String? { record[Field.error]?.string(at: "code") }

    // Forged, missing and wrong-stage attestations, edited records and missing sections are refused with their codes;
    // the honest record then credits once.
    func testApplyRefusesForgedAndIncompleteRecords() async throws {
        let edited = verifiedDeposit(id: "d-edited")
        edited[Field.verified]?.set("amount", string: "1000000")
        let unattested = verifiedDeposit(id: "d-bare")
        unattested.remove(Field.attestation)
        let wrongStage = verifiedDeposit(id: "d-stage")
        attestor.attest(wrongStage, stage: .submit)
        let otherKey = verifiedDeposit(id: "d-key")
        Attestor(settings: .init(keyId: "other", secret: Array(repeating: 7, count: 32))).attest(
            otherKey, stage: .verify)
        let noVerified = verifiedDeposit(id: "d-nov")
        noVerified.remove(Field.verified)
        attestor.attest(noVerified, stage: .verify)
        let belowLevel = verifiedDeposit(id: "d-low")
        belowLevel[Field.verified]?.set("confirmations", integer: 1)
        attestor.attest(belowLevel, stage: .verify)
        let disagrees = verifiedDeposit(id: "d-credit")
        disagrees[Field.verified]?.set("credited", string: "999")
        attestor.attest(disagrees, stage: .verify)

        let output = try await run(
            applyStage(), [edited, unattested, wrongStage, otherKey, noVerified, belowLevel, disagrees])
        XCTAssertEqual(
            output.map(code),
            [
                "attestation_invalid", "attestation_missing", "attestation_invalid",
                "attestation_invalid", "not_verified", "not_verified", "conflicting_record",
            ])
        for record in output { XCTAssertEqual(record.status, .rejected) }
        XCTAssertEqual(
            try ledger.balance(account: StageInProcessTests.account, token: "ETH"),
            Balance(available: .zero, locked: .zero))

        let honest = try await run(applyStage(), [verifiedDeposit(id: "d-1")])
        XCTAssertEqual(honest[0].status, .credited, honest[0].serialized())
        XCTAssertEqual(try ledger.balance(account: StageInProcessTests.account, token: "ETH").available, UInt256(1000))
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // Submissions and payouts: an unknown payout, a submission attested by the wrong stage, a payout attested
    // by nobody; each refused with its code, and the signed transaction of a refused payout never travels on.
    func testApplyRefusesBadPayoutRecords() async throws {
        let payoutTx = PayoutTx(
            chain: "eip155:1337", tx: StageInProcessTests.tx, rawHex: "0x02",
            sender: "0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528", spendGuard: .nonce(0, chainNonce: 0))
        func payout(id: String, status: RecordStatus, stage: StageName?) -> JSON {
            let record = JSON.object()
            record.set(Field.op, string: "payout")
            record.set(Field.id, string: id)
            record.set(Field.status, string: status.rawValue)
            record.set(
                Field.validated,
                ValidatedPayout(
                    account: StageInProcessTests.account, network: "eip155:1337", token: "ETH", quantity: UInt256(10),
                    fee: .zero,
                    destination: StageInProcessTests.account, destinationNetwork: "eip155:1337",
                    destinationAsset: "eip155:1337/slip44:60", destinationAmount: UInt256(10),
                    expiresUnixSeconds: testNowMilliseconds / 1000 + 600
                ).write())
            record.set(Field.payoutTx, payoutTx.object())
            if status == .confirmed {
                record.set(
                    Field.submission,
                    Submission(
                        tx: payoutTx.tx,
                        outcome: .confirmed(
                            blockHash: "0x" + String(repeating: "c", count: 64), blockNumber: 9, confirmations: 3,
                            requiredConfirmations: 2)
                    ).object())
            }
            if let stage { attestor.attest(record, stage: stage) }
            return record
        }
        let unsigned = payout(id: "p-bare", status: .signed, stage: nil)
        let poor = payout(id: "p-poor", status: .signed, stage: .verify)
        let unknown = payout(id: "p-unknown", status: .confirmed, stage: .submit)
        let wrongStage = payout(id: "p-stage", status: .confirmed, stage: .verify)
        let output = try await run(applyStage(), [unsigned, poor, unknown, wrongStage])
        XCTAssertEqual(
            output.map(code), ["attestation_missing", "insufficient_balance", "unknown_request", "attestation_invalid"])
        XCTAssertNil(output[0][Field.payoutTx], "a signed transaction tok-apply did not record is dropped")
        XCTAssertNil(output[1][Field.payoutTx])
        XCTAssertEqual(
            output[1][Field.error]?["retryable"]?.boolValue, true, "insufficient balance may pass after a deposit")
        XCTAssertEqual(try ledger.openPayouts(limit: 10), [])
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // tok-apply reads the clock once per batch: a replay of the same records with the same clock writes the same audit trail.
    func testApplyIsDeterministicUnderAFixedClock() async throws {
        _ = try await run(applyStage(), [verifiedDeposit(id: "d-1"), verifiedDeposit(id: "d-2")])
        let trail = try auditTrail(ledger)
        ledger = try openTestLedger(
            engine: Self.engine,
            location: try TestDatabase.make(Self.engine, directory: directory.path, file: "other.db"), logger: logger)
        _ = try await run(applyStage(), [verifiedDeposit(id: "d-1"), verifiedDeposit(id: "d-2")])
        XCTAssertEqual(try auditTrail(ledger), trail)
    }

    // "deposit credited" is logged once the batch has committed: a batch whose commit fails logs no
    // credit, and its records come out rejected as retryable. (The line used to be written inside the
    // transaction, before a commit that could still fail.)
    func testNoCreditIsLoggedWhenTheCommitFails() async throws {
        let log = CapturedLog()
        var capturing = Logger(label: "tok-test") { _ in CapturingLogHandler(sink: log) }
        capturing.logLevel = .info
        // A constraint checked only at COMMIT, broken by every deposit row.
        switch Self.engine {
        case .sqlite:
            try ledger.database.execute(
                """
                PRAGMA foreign_keys = ON;
                CREATE TEMP TABLE commit_trap_parent (id INTEGER PRIMARY KEY);
                CREATE TEMP TABLE commit_trap (parent INTEGER REFERENCES commit_trap_parent (id) DEFERRABLE INITIALLY DEFERRED);
                CREATE TEMP TRIGGER commit_trap AFTER INSERT ON main.deposits BEGIN INSERT INTO commit_trap VALUES (1); END;
                """)
        case .postgresql:
            try ledger.database.execute(
                """
                CREATE FUNCTION commit_trap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'commit trap'; END $$;
                CREATE CONSTRAINT TRIGGER commit_trap AFTER INSERT ON deposits DEFERRABLE INITIALLY DEFERRED
                    FOR EACH ROW EXECUTE FUNCTION commit_trap();
                """)
        }
        let stage = ApplyStage(
            config: config, ledger: ledger, attestor: attestor, writerLock: nil, logger: capturing,
            clock: { testNowMilliseconds })
        let output = try await run(stage, [verifiedDeposit(id: "d-trapped")])
        XCTAssertEqual(code(output[0]), ErrorCode.databaseError.rawValue, output[0].serialized())
        XCTAssertEqual(output[0][Field.error]?["retryable"]?.boolValue, true, output[0].serialized())
        XCTAssertFalse(log.entries.contains { $0.message == "deposit credited" }, "\(log.entries.map(\.message))")
        XCTAssertTrue(log.entries.contains { $0.message.contains("commit failed") }, "\(log.entries.map(\.message))")
        XCTAssertEqual(try ledger.balance(account: StageInProcessTests.account, token: "ETH").available, .zero)
    }

    func auditTrail(_ ledger: Ledger) throws -> [String] {
        let query = try ledger.database.statement("SELECT at_ms, kind, request_id, body, hash FROM audit ORDER BY seq")
        var rows: [String] = []
        while try query.step() {
            rows.append(
                [
                    query.text("at_ms"), query.text("kind"), query.text("request_id"), query.text("body"),
                    query.text("hash"),
                ]
                .joined(separator: " "))
        }
        query.reset()
        return rows
    }
}
