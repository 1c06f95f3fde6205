import Foundation
import Logging
import XCTest
@testable import TokShared
import TokTestSupport

/// The deposit flow end to end: the built executables in a shell pipeline
/// against a real local EVM chain that executes real signed transactions.
class DepositPipelineTests: PipelineTestCase {
    override class func startNodes() throws -> [TestNode] { [try EVMNode()] }

    var node: EVMNode!
    var token: String!

    override func setUpWithError() throws {
        try super.setUpWithError()
        node = try node()
        token = try node.deployToken()
        try workspace.write("tok.toml", node.config(token: token))
    }

    // Native and ERC-20 deposits are each credited exactly once, with the exact on-chain amounts.
    func testNativeAndTokenDepositsAreCreditedOnce() throws {
        let ethTx = try node.sendEth(from: 0, to: EVMNode.receiver, wei: "1234567890123456789012")
        let tokTx = try node.transferToken(token, from: 0, to: EVMNode.receiver, amount: "500000000000000000000")
        try node.mine(3)
        let requests = [
            depositRequest(id: "eth-1", account: EVMNode.accounts[0], token: "ETH", tx: ethTx),
            depositRequest(id: "tok-1", account: EVMNode.accounts[0].lowercased(), token: "TOK", tx: tokTx),
        ].joined(separator: "\n") + "\n"
        let result = try workspace.run(depositPipeline, input: requests)
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        XCTAssertEqual(result.record(id: "eth-1")?.string(at: "status"), "credited", result.stdout)
        XCTAssertEqual(result.record(id: "eth-1")?["verified"]?.string(at: "amount"), "1234567890123456789012")
        XCTAssertEqual(result.record(id: "tok-1")?.string(at: "status"), "credited", result.stdout)
        XCTAssertEqual(result.record(id: "tok-1")?["verified"]?.string(at: "amount"), "500000000000000000000")

        let balances = try workspace.run("tok-apply --db state.sqlite", input: [
            balanceQuery(id: "q-eth", account: EVMNode.accounts[0], token: "ETH"),
            balanceQuery(id: "q-tok", account: "eip155:\(EVMNode.chainId):\(EVMNode.accounts[0])", token: "TOK"),
        ].joined(separator: "\n"))
        XCTAssertEqual(balances.record(id: "q-eth")?["balance"]?.string(at: "available"), "1234567890123456789012", balances.stdout)
        XCTAssertEqual(balances.record(id: "q-tok")?["balance"]?.string(at: "available"), "500000000000000000000", balances.stdout)
        XCTAssertEqual(try workspace.run("tok-apply --db state.sqlite --check").exitCode, 0)
    }

    // Replaying the same request file changes nothing: every deposit comes back `duplicate`.
    func testReplayingTheSameFileChangesNothing() throws {
        let tx = try node.sendEth(from: 1, to: EVMNode.receiver, wei: "777")
        try node.mine(3)
        try workspace.write("requests.ndjson", depositRequest(id: "r-1", account: EVMNode.accounts[1], token: "ETH", tx: tx) + "\n")
        let first = try workspace.run("tok-validate < requests.ndjson | tok-verify | tok-apply --db state.sqlite")
        XCTAssertEqual(first.record(id: "r-1")?.string(at: "status"), "credited", first.stdout + first.stderr)
        let second = try workspace.run("tok-validate < requests.ndjson | tok-verify | tok-apply --db state.sqlite")
        XCTAssertEqual(second.record(id: "r-1")?.string(at: "status"), "duplicate", second.stdout)
        XCTAssertEqual(second.record(id: "r-1")?["applied"]?.string(at: "first_request"), "r-1")
        // The same transaction claimed under another request id is a duplicate naming the first.
        let third = try workspace.run(depositPipeline, input: depositRequest(id: "r-2", account: EVMNode.accounts[1], token: "ETH", tx: tx))
        XCTAssertEqual(third.record(id: "r-2")?.string(at: "status"), "duplicate")
        XCTAssertEqual(third.record(id: "r-2")?["applied"]?.string(at: "first_request"), "r-1")
        let balance = try workspace.run("tok-apply --db state.sqlite", input: balanceQuery(id: "q", account: EVMNode.accounts[1], token: "ETH"))
        XCTAssertEqual(balance.record(id: "q")?["balance"]?.string(at: "available"), "777")
        XCTAssertEqual(try workspace.run("tok-apply --db state.sqlite --check").exitCode, 0)
    }

    // A batching contract pays the receiver two configured ERC-20s in one transaction: two deposits, each
    // credited once with its own amount (not the second refused as a duplicate of the first); both replayed
    // are duplicates naming their own first request, and a claim of a token the transaction does not pay is refused.
    func testTwoTokensInOneTransactionAreTwoDeposits() throws {
        let other = try node.deployToken(symbol: "OTH")
        try workspace.write("tok.toml", node.config(token: token, extraToken: other, extraTokenDeposits: true))
        let batch = try node.batchTransfer(from: 0, to: EVMNode.receiver, (token, "300"), (other, "400"))
        try node.mine(3)
        let requests = [
            depositRequest(id: "batch-tok", account: EVMNode.accounts[0], token: "TOK", tx: batch),
            depositRequest(id: "batch-other", account: EVMNode.accounts[0], token: "OTHER", tx: batch),
            depositRequest(id: "batch-eth", account: EVMNode.accounts[0], token: "ETH", tx: batch),
        ].joined(separator: "\n") + "\n"
        let first = try workspace.run(depositPipeline, input: requests)
        XCTAssertEqual(first.exitCode, 0, first.stderr)
        XCTAssertEqual(first.record(id: "batch-tok")?.string(at: "status"), "credited", first.stdout)
        XCTAssertEqual(first.record(id: "batch-tok")?["verified"]?.string(at: "amount"), "300")
        XCTAssertEqual(first.record(id: "batch-other")?.string(at: "status"), "credited", first.stdout)
        XCTAssertEqual(first.record(id: "batch-other")?["verified"]?.string(at: "amount"), "400")
        XCTAssertEqual(first.record(id: "batch-eth")?["error"]?.string(at: "code"), "no_payment_to_receiver", first.stdout)

        let replay = try workspace.run(depositPipeline, input: requests.replacingOccurrences(of: "\"batch-", with: "\"again-"))
        XCTAssertEqual(replay.record(id: "again-tok")?.string(at: "status"), "duplicate", replay.stdout)
        XCTAssertEqual(replay.record(id: "again-tok")?["applied"]?.string(at: "first_request"), "batch-tok")
        XCTAssertEqual(replay.record(id: "again-other")?.string(at: "status"), "duplicate", replay.stdout)
        XCTAssertEqual(replay.record(id: "again-other")?["applied"]?.string(at: "first_request"), "batch-other")
        let balances = try workspace.run("tok-apply --db state.sqlite", input: [
            balanceQuery(id: "q-tok", account: EVMNode.accounts[0], token: "TOK"),
            balanceQuery(id: "q-other", account: EVMNode.accounts[0], token: "OTHER"),
        ].joined(separator: "\n"))
        XCTAssertEqual(balances.record(id: "q-tok")?["balance"]?.string(at: "available"), "300", balances.stdout)
        XCTAssertEqual(balances.record(id: "q-other")?["balance"]?.string(at: "available"), "400", balances.stdout)
        let status = try workspace.run("tok-validate | tok-apply --db state.sqlite", input: #"{"op":"status","id":"batch-other"}"# + "\n")
        XCTAssertEqual(status.record(id: "batch-other")?["request"]?.string(at: "amount"), "400", status.stdout)
        XCTAssertEqual(try workspace.run("tok-apply --db state.sqlite --check").exitCode, 0)
    }

    // A ledger an older tok (schema 6) wrote, where the batch's first token is credited: the real tok-apply
    // upgrades it in place (check passes), and then credits the batch's second token once; the first one stays
    // the duplicate it was. On both engines.
    func testAnOlderLedgerIsUpgradedAndTakesTheSecondAsset() throws {
        let other = try node.deployToken(symbol: "OTH")
        try workspace.write("tok.toml", node.config(token: token, extraToken: other, extraTokenDeposits: true))
        let batch = try node.batchTransfer(from: 0, to: EVMNode.receiver, (token, "300"), (other, "400"))
        try node.mine(3)
        let receipt = try node.call("eth_getTransactionReceipt", "[\"\(batch)\"]")
        do {
            let connection: any DatabaseConnection = Self.engine == .sqlite
                ? try SQLiteDatabase(path: workspace.database) : try PostgreSQLConnection(PostgreSQLSettings(uri: workspace.database))
            let old = try Ledger(connection: connection, logger: Logger(label: "test"), schemaVersion: 6)
            let chain = "eip155:\(EVMNode.chainId)"
            let first = VerifiedDeposit(
                requestId: "old-tok", chain: chain, tx: batch, account: "\(chain):\(EVMNode.accounts[0])", token: "TOK",
                asset: "\(chain)/erc20:\(token!)", amount: UInt256(300), credited: UInt256(300),
                blockHash: try XCTUnwrap(receipt.string(at: "blockHash")).lowercased(),
                blockNumber: Int64(try XCTUnwrap(EVMQuantity.uint64(receipt["blockNumber"]))), confirmations: 3)
            _ = try old.inBatch {
                try old.inRecordSavepoint { () throws(TokError) in try old.creditDeposit(first, nowMilliseconds: 1_700_000_000_000) }
            }
        }
        let check = try workspace.run("tok-apply check --db state.sqlite")
        XCTAssertEqual(check.exitCode, 0, check.stdout + check.stderr)
        XCTAssertTrue(check.stdout.hasPrefix("ok:"), check.stdout)

        let result = try workspace.run(depositPipeline, input: [
            depositRequest(id: "new-tok", account: EVMNode.accounts[0], token: "TOK", tx: batch),
            depositRequest(id: "new-other", account: EVMNode.accounts[0], token: "OTHER", tx: batch),
        ].joined(separator: "\n") + "\n")
        XCTAssertEqual(result.record(id: "new-tok")?.string(at: "status"), "duplicate", result.stdout + result.stderr)
        XCTAssertEqual(result.record(id: "new-tok")?["applied"]?.string(at: "first_request"), "old-tok")
        XCTAssertEqual(result.record(id: "new-other")?.string(at: "status"), "credited", result.stdout)
        XCTAssertEqual(result.record(id: "new-other")?["applied"]?.string(at: "available"), "400")
        XCTAssertEqual(try workspace.run("tok-apply check --db state.sqlite").exitCode, 0)
    }

    // Deposits that do not prove a payment by the claimed account to our receiver are not credited.
    func testWrongReceiverSenderOrTokenIsNotCredited() throws {
        let elsewhere = try node.sendEth(from: 0, to: EVMNode.accounts[3], wei: "1000")
        let byOther = try node.sendEth(from: 2, to: EVMNode.receiver, wei: "1000")
        let tokenToElsewhere = try node.transferToken(token, from: 0, to: EVMNode.accounts[3], amount: "10")
        let otherToken = try node.deployToken(symbol: "OTH")
        try workspace.write("tok.toml", node.config(token: token, extraToken: otherToken))
        let otherTokenTx = try node.transferToken(otherToken, from: 0, to: EVMNode.receiver, amount: "10")
        try node.mine(3)
        let result = try workspace.run(depositPipeline, input: [
            depositRequest(id: "elsewhere", account: EVMNode.accounts[0], token: "ETH", tx: elsewhere),
            depositRequest(id: "by-other", account: EVMNode.accounts[0], token: "ETH", tx: byOther),
            depositRequest(id: "tok-elsewhere", account: EVMNode.accounts[0], token: "TOK", tx: tokenToElsewhere),
            depositRequest(id: "wrong-token", account: EVMNode.accounts[0], token: "TOK", tx: otherTokenTx),
            depositRequest(id: "unconfigured", account: EVMNode.accounts[0], token: "DOGE", tx: otherTokenTx),
            depositRequest(id: "disabled", account: EVMNode.accounts[0], token: "OTHER", tx: otherTokenTx),
        ].joined(separator: "\n"))
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        let expected = [
            "elsewhere": "no_payment_to_receiver", "by-other": "sender_mismatch", "tok-elsewhere": "no_payment_to_receiver",
            "wrong-token": "no_payment_to_receiver", "unconfigured": "unknown_token", "disabled": "deposit_disabled",
        ]
        for (id, code) in expected {
            XCTAssertEqual(result.record(id: id)?.string(at: "status"), "rejected", "\(id): \(result.stdout)")
            XCTAssertEqual(result.record(id: id)?["error"]?.string(at: "code"), code, id)
        }
        let balances = try workspace.sql("SELECT count(*) FROM balances")
        XCTAssertEqual(balances.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0")
    }

    // Below the confirmation level a deposit is `pending`, not credited; re-fed later it is credited.
    func testPendingUntilConfirmedThenCredited() throws {
        let tx = try node.sendEth(from: 3, to: EVMNode.receiver, wei: "4242")
        // Auto-mining puts the tx in a block of its own: 1 confirmation of the 3 required.
        let first = try workspace.run(depositPipeline, input: depositRequest(id: "slow", account: EVMNode.accounts[3], token: "ETH", tx: tx))
        let pending = try XCTUnwrap(first.record(id: "slow"))
        XCTAssertEqual(pending.string(at: "status"), "pending", first.stdout)
        XCTAssertNil(pending["attestation"], "a pending record must not be attested")
        XCTAssertEqual(pending["verified"]?["required_confirmations"]?.int64Value, 3)
        try workspace.write("spool.ndjson", first.stdout)
        try node.mine(2)
        // The spooled pending record goes through tok-verify again (tok-validate passes it through).
        let second = try workspace.run("tok-validate < spool.ndjson | tok-verify | tok-apply --db state.sqlite")
        XCTAssertEqual(second.record(id: "slow")?.string(at: "status"), "credited", second.stdout + second.stderr)
    }

    // tok-verify --wait holds a pending deposit until the level is reached.
    func testWaitHoldsUntilConfirmed() throws {
        let tx = try node.sendEth(from: 2, to: EVMNode.receiver, wei: "99")
        let miner = Thread { [node] in
            usleep(700_000)
            try? node?.mine(3)
        }
        miner.start()
        let result = try workspace.run("tok-validate | tok-verify --wait --poll-milliseconds 100 --wait-timeout-milliseconds 30000 | tok-apply --db state.sqlite",
                                       input: depositRequest(id: "waited", account: EVMNode.accounts[2], token: "ETH", tx: tx))
        XCTAssertEqual(result.record(id: "waited")?.string(at: "status"), "credited", result.stdout + result.stderr)
    }

    // An unknown transaction is rejected as retryable, so a later replay can still succeed.
    func testUnknownTransactionIsRetryable() throws {
        let result = try workspace.run(depositPipeline, input: depositRequest(
            id: "ghost", account: EVMNode.accounts[0], token: "ETH", tx: "0x" + String(repeating: "ab", count: 32)))
        let record = try XCTUnwrap(result.record(id: "ghost"))
        XCTAssertEqual(record["error"]?.string(at: "code"), "tx_not_found")
        XCTAssertEqual(record["error"]?["retryable"]?.boolValue, true)
    }

    // A verified record edited in a spool file, or stripped of its attestation, cannot mint credit.
    func testForgedVerifiedRecordsAreRefused() throws {
        let tx = try node.sendEth(from: 0, to: EVMNode.receiver, wei: "1000")
        try node.mine(3)
        let verified = try workspace.run("tok-validate | tok-verify", input: depositRequest(id: "real", account: EVMNode.accounts[0], token: "ETH", tx: tx))
        let line = verified.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(line.contains("\"status\":\"verified\""), line)
        let inflated = line.replacingOccurrences(of: "\"amount\":\"1000\"", with: "\"amount\":\"1000000\"")
        let redirected = line.replacingOccurrences(of: EVMNode.accounts[0], with: EVMNode.accounts[1])
        let forgedId = line.replacingOccurrences(of: "\"id\":\"real\"", with: "\"id\":\"forged\"")
        guard case .success(let stripped) = JSON.parse(line) else { return XCTFail("unparsable") }
        stripped.remove("attestation")
        stripped.set("id", string: "stripped")
        let input = [inflated, redirected.replacingOccurrences(of: "\"id\":\"real\"", with: "\"id\":\"redirected\""), forgedId,
                     stripped.serialized()].joined(separator: "\n")
        let result = try workspace.run("tok-apply --db state.sqlite", input: input)
        let outcomes = result.records
        XCTAssertEqual(outcomes.count, 4, result.stdout)
        XCTAssertEqual(outcomes[0]["error"]?.string(at: "code"), "attestation_invalid")
        XCTAssertEqual(outcomes[1]["error"]?.string(at: "code"), "attestation_invalid")
        XCTAssertEqual(outcomes[2]["error"]?.string(at: "code"), "attestation_invalid")
        XCTAssertEqual(outcomes[3]["error"]?.string(at: "code"), "attestation_missing")
        // The genuine line still credits exactly the real amount.
        let genuine = try workspace.run("tok-apply --db state.sqlite", input: line)
        XCTAssertEqual(genuine.records.first?["applied"]?.string(at: "available"), "1000")
    }

    // Malformed lines become rejections naming their line; the other records go through the whole pipeline.
    func testMalformedLinesAreRejectedAndTheStreamGoesOn() throws {
        let tx = try node.sendEth(from: 1, to: EVMNode.receiver, wei: "5")
        try node.mine(3)
        let input = [
            "{not json",
            depositRequest(id: "good", account: EVMNode.accounts[1], token: "ETH", tx: tx),
            "",
            "[1,2,3]",
            "{\"op\":\"deposit\",\"id\":\"big\",\"quantity\":123456789012345678901234567890}",
            String(repeating: "x", count: 5000),
        ].joined(separator: "\n") + "\n"
        let result = try workspace.run("tok-validate --max-line-bytes 4096 | tok-verify | tok-apply --db state.sqlite", input: input)
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        let records = result.records
        XCTAssertEqual(records.count, 5, result.stdout)
        XCTAssertEqual(records[0]["error"]?.string(at: "code"), "malformed_json")
        XCTAssertEqual(records[0]["error"]?["line"]?.int64Value, 1)
        XCTAssertEqual(records[0]["input"]?.string(at: "raw"), "{not json")
        XCTAssertEqual(records[1].string(at: "status"), "credited")
        XCTAssertEqual(records[2]["error"]?.string(at: "code"), "not_an_object")
        XCTAssertEqual(records[2]["error"]?["line"]?.int64Value, 4)
        XCTAssertEqual(records[3]["error"]?.string(at: "code"), "number_out_of_range")
        XCTAssertEqual(records[4]["error"]?.string(at: "code"), "line_too_long")
        XCTAssertEqual(records[4]["error"]?["line"]?.int64Value, 6)
        XCTAssertEqual(records[4]["input"]?["bytes"]?.int64Value, 5000)
        // --strict turns rejections into exit 65 after processing everything.
        let strict = try workspace.run("tok-validate --strict", input: input)
        XCTAssertEqual(strict.exitCode, 65)
        XCTAssertEqual(strict.records.count, 5)
    }

    // Status polling answers from the database.
    func testStatusQueries() throws {
        let tx = try node.sendEth(from: 0, to: EVMNode.receiver, wei: "31")
        try node.mine(3)
        _ = try workspace.run(depositPipeline, input: depositRequest(id: "polled", account: EVMNode.accounts[0], token: "ETH", tx: tx))
        let result = try workspace.run("tok-validate | tok-apply --db state.sqlite",
                                       input: "{\"op\":\"status\",\"id\":\"polled\"}\n{\"op\":\"status\",\"id\":\"never-seen\"}\n")
        XCTAssertEqual(result.record(id: "polled")?["request"]?.string(at: "state"), "credited", result.stdout)
        XCTAssertEqual(result.record(id: "polled")?["request"]?.string(at: "amount"), "31")
        XCTAssertEqual(result.record(id: "never-seen")?["request"]?.string(at: "state"), "unknown")
    }

    // A second writer waits for the lock, then fails clearly with EX_TEMPFAIL; readers of its output see nothing.
    func testSecondWriterWaitsThenFails() throws {
        _ = try workspace.run("tok-apply --db state.sqlite", input: "")
        let start = Date()
        // flock(1) takes the same lock tok-apply uses (cron jobs do this too); on PostgreSQL, psql takes the advisory lock.
        let result = try workspace.run("\(workspace.holdWriterLock(seconds: 3)) & sleep 0.3; tok-apply --db state.sqlite --lock-timeout-milliseconds 500; echo \"exit=$?\"; wait",
                                       input: "")
        XCTAssertTrue(result.stdout.contains("exit=75"), result.stdout + result.stderr)
        XCTAssertTrue(result.stderr.contains("locked by another writer"), result.stderr)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.5)
        // Once the lock is free the next writer proceeds.
        XCTAssertEqual(try workspace.run("tok-apply --db state.sqlite", input: "").exitCode, 0)
    }

    // A bad config stops every tool with exit 78 and a message naming file and key.
    func testConfigErrorsExit78() throws {
        try workspace.write("bad.toml", node.config(token: token).replacingOccurrences(of: "confirmations = 3", with: "confirmation = 3"))
        for tool in ["tok-validate", "tok-verify", "tok-apply --db state.sqlite"] {
            let result = try workspace.run("\(tool) --config bad.toml", input: "")
            XCTAssertEqual(result.exitCode, 78, "\(tool): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("bad.toml"), result.stderr)
            XCTAssertTrue(result.stderr.contains("confirmation"), result.stderr)
        }
    }

    // tok-apply copy moves the ledger to the other engine and back, proving each copy equal;
    // the copy answers queries and passes check like the original.
    func testCopyToTheOtherEngineAndBack() throws {
        let tx = try node.sendEth(from: 0, to: EVMNode.receiver, wei: "4242")
        try node.mine(3)
        let credited = try workspace.run(depositPipeline, input: depositRequest(id: "moved", account: EVMNode.accounts[0], token: "ETH", tx: tx))
        XCTAssertEqual(credited.record(id: "moved")?.string(at: "status"), "credited", credited.stdout + credited.stderr)
        let other = workspace.engine == .sqlite ? try TestPostgres.shared().createDatabase() : workspace.path("copy.sqlite")
        let there = try workspace.run("tok-apply copy --from state.sqlite --to '\(other)'")
        XCTAssertEqual(there.exitCode, 0, there.stderr)
        XCTAssertTrue(there.stdout.contains("ok: "), there.stdout)
        XCTAssertTrue(there.stdout.contains("table audit: 1 row(s)"), there.stdout)
        let again = try workspace.run("tok-apply copy --from state.sqlite --to '\(other)'")
        XCTAssertEqual(again.exitCode, 65, "a second copy into the same database is refused: \(again.stderr)")
        XCTAssertTrue(again.stderr.contains("not empty"), again.stderr)
        let check = try workspace.run("tok-apply check --db '\(other)'")
        XCTAssertEqual(check.exitCode, 0, check.stdout + check.stderr)
        let balance = try workspace.run("tok-apply --db '\(other)'", input: balanceQuery(id: "b", account: EVMNode.accounts[0], token: "ETH"))
        XCTAssertEqual(balance.record(id: "b")?["balance"]?.string(at: "available"), "4242", balance.stdout + balance.stderr)
        let back = try workspace.run("tok-apply copy --from '\(other)' --to back.sqlite")
        XCTAssertEqual(back.exitCode, 0, back.stderr)
        XCTAssertEqual(back.stdout.split(separator: "\n").filter { $0.hasPrefix("table ") }, there.stdout.split(separator: "\n").filter { $0.hasPrefix("table ") },
                       "the same tables, rows and digests both ways")
    }

    // A failed audit write is logged and the credit stands (seed: "warning is logged but update is still safe").
    func testAuditFailureKeepsTheCredit() throws {
        _ = try workspace.run("tok-apply --db state.sqlite", input: "")
        switch workspace.engine {
        case .sqlite:
            _ = try workspace.sql("CREATE TRIGGER audit_broken BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk trouble'); END;")
        case .postgresql:
            _ = try workspace.sql("""
                CREATE FUNCTION audit_broken() RETURNS trigger LANGUAGE plpgsql AS \\$\\$ BEGIN RAISE EXCEPTION 'disk trouble'; END \\$\\$;
                CREATE TRIGGER audit_broken BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION audit_broken();
                """)
        }
        let tx = try node.sendEth(from: 0, to: EVMNode.receiver, wei: "8")
        try node.mine(3)
        let result = try workspace.run(depositPipeline, input: depositRequest(id: "audited", account: EVMNode.accounts[0], token: "ETH", tx: tx))
        XCTAssertEqual(result.record(id: "audited")?.string(at: "status"), "credited", result.stdout)
        XCTAssertTrue(result.stderr.contains("audit trail write failed"), result.stderr)
    }

    // Every tool answers --help on stdout with exit 0.
    func testHelpOnEveryTool() throws {
        for tool in ["tok-validate", "tok-verify", "tok-apply", "tok-submit", "tok-follow"] {
            let result = try workspace.run("\(tool) --help")
            XCTAssertEqual(result.exitCode, 0, tool)
            XCTAssertTrue(result.stdout.contains("USAGE"), tool)
        }
    }
}
