import Foundation
import XCTest
@testable import TokShared

/// Payouts and transfers end to end: signed by the user, checked and signed by
/// tok-verify, locked by tok-apply, broadcast by tok-submit to the real local
/// chain, committed or rolled back by tok-apply.
class PayoutPipelineTests: PipelineTestCase {
    override class func startNodes() throws -> [TestNode] {
        let node = try EVMNode()
        // A chain that keeps producing blocks, so confirmations grow while tok-submit --wait waits.
        try node.call("tokdev_setBlockInterval", "[150]")
        return [node]
    }

    var node: EVMNode!
    var token: String!

    override func setUpWithError() throws {
        try super.setUpWithError()
        node = try node()
        token = try node.deployToken()
        try workspace.write("tok.toml", node.config(token: token))
    }

    // MARK: Helpers

    /// Credits `wei` of ETH (or TOK) deposited by account `index`.
    func deposit(_ index: Int, token symbol: String = "ETH", amount: String, id: String) throws {
        let tx =
            symbol == "ETH"
            ? try node.sendEth(from: index, to: EVMNode.receiver, wei: amount)
            : try node.transferToken(token, from: index, to: EVMNode.receiver, amount: amount)
        try node.mine(3)
        let result = try workspace.run(
            depositPipeline, input: depositRequest(id: id, account: EVMNode.accounts[index], token: symbol, tx: tx))
        XCTAssertEqual(result.record(id: id)?.string(at: "status"), "credited", result.stdout + result.stderr)
    }

    func balance(_ index: Int, _ symbol: String) throws -> (available: String, locked: String) {
        let result = try workspace.run(
            "tok-apply --db state.sqlite", input: balanceQuery(id: "q", account: EVMNode.accounts[index], token: symbol)
        )
        let balance = result.record(id: "q")?["balance"]
        return (balance?.string(at: "available") ?? "?", balance?.string(at: "locked") ?? "?")
    }

    func chainBalance(_ address: String) throws -> UInt256 {
        UInt256(hex: try node.call("eth_getBalance", "[\"\(address)\",\"latest\"]").stringValue!)!
    }

    func tokenBalance(_ address: String) throws -> UInt256 {
        UInt256(
            hex: try node.call("tokdev_tokenBalance", "[{\"token\":\"\(token!)\",\"owner\":\"\(address)\"}]")
                .stringValue!)!
    }

    func operatorNonce() throws -> UInt64 {
        UInt64(
            try node.call("eth_getTransactionCount", "[\"\(EVMNode.receiver)\",\"latest\"]").stringValue!.dropFirst(2),
            radix: 16)!
    }

    func assertInvariants(file: StaticString = #filePath, line: UInt = #line) throws {
        let check = try workspace.run("tok-apply --db state.sqlite --check")
        XCTAssertEqual(check.exitCode, 0, check.stdout + check.stderr, file: file, line: line)
    }

    // MARK: Tests

    // A native payout is paid on chain exactly once; quantity + fee leave the user's balance, the fee goes to the operator.
    func testNativePayoutIsPaidOnce() throws {
        try deposit(0, amount: "5000000000000000000", id: "dep")
        let destination = EVMNode.accounts[3]
        let before = try chainBalance(destination)
        let nonceBefore = try operatorNonce()
        let request = signedPayoutRequest(
            id: "pay-1", from: 0, to: destination, token: "ETH", quantity: "1000000000000000000")
        try workspace.write("payouts.ndjson", request + "\n")
        let result = try workspace.run(
            "tok-validate < payouts.ndjson | " + payoutPipeline.dropFirst("tok-validate | ".count))
        let record = try XCTUnwrap(result.record(id: "pay-1"), result.stdout + result.stderr)
        XCTAssertEqual(record.string(at: "status"), "paid", result.stdout + result.stderr)
        XCTAssertEqual(try chainBalance(destination).subtracting(before), UInt256(1_000_000_000_000_000_000))
        // fee = 1000 + 1e18 × 10 / 10000
        let fee = UInt256(1000).adding(UInt256(1_000_000_000_000_000))!
        XCTAssertEqual(
            try balance(0, "ETH").available, UInt256(4_000_000_000_000_000_000).subtracting(fee)!.description)
        XCTAssertEqual(try balance(0, "ETH").locked, "0")
        // Replaying the same file pays nothing more: the stored transaction is reported again.
        let replay = try workspace.run(
            "tok-validate < payouts.ndjson | " + payoutPipeline.dropFirst("tok-validate | ".count))
        XCTAssertEqual(replay.record(id: "pay-1")?.string(at: "status"), "paid", replay.stdout + replay.stderr)
        XCTAssertEqual(try chainBalance(destination).subtracting(before), UInt256(1_000_000_000_000_000_000))
        XCTAssertEqual(try operatorNonce(), nonceBefore + 1, "exactly one operator transaction")
        let status = try workspace.run("tok-apply --db state.sqlite", input: "{\"op\":\"status\",\"id\":\"pay-1\"}")
        XCTAssertEqual(status.record(id: "pay-1")?["request"]?.string(at: "state"), "confirmed", status.stdout)
        XCTAssertEqual(
            status.record(id: "pay-1")?["request"]?["payout"]?.string(at: "destination_tx"),
            record["payout_tx"]?.string(at: "tx"))
        try assertInvariants()
    }

    // An ERC-20 payout calls transfer(to, amount) on the token contract.
    func testTokenPayout() throws {
        try deposit(0, token: "TOK", amount: "300", id: "dep-tok")
        let destination = EVMNode.accounts[2]
        let before = try tokenBalance(destination)
        let result = try workspace.run(
            payoutPipeline,
            input: signedPayoutRequest(id: "pay-tok", from: 0, to: destination, token: "TOK", quantity: "250"))
        XCTAssertEqual(result.record(id: "pay-tok")?.string(at: "status"), "paid", result.stdout + result.stderr)
        XCTAssertEqual(try tokenBalance(destination).subtracting(before), UInt256(250))
        XCTAssertEqual(try balance(0, "TOK").available, "43")  // 300 - 250 - fee 7
        try assertInvariants()
    }

    // Only the source account's signature over exactly this request authorises it.
    func testAuthorisationIsChecked() throws {
        try deposit(0, amount: "3000000000000000000", id: "dep")
        let good = signedPayoutRequest(id: "p-good", from: 0, to: EVMNode.accounts[2], token: "ETH", quantity: "1000")
        let changedQuantity = good.replacingOccurrences(of: "\"quantity\":\"1000\"", with: "\"quantity\":\"2000\"")
            .replacingOccurrences(of: "p-good", with: "p-changed")
        let otherSigner = signedPayoutRequest(
            id: "p-other", from: 0, to: EVMNode.accounts[2], token: "ETH", quantity: "1000", signer: 1)
        let expired = signedPayoutRequest(
            id: "p-expired", from: 0, to: EVMNode.accounts[2], token: "ETH", quantity: "1000",
            expires: Int64(Date().timeIntervalSince1970) - 10)
        let lowMaxFee = signedPayoutRequest(
            id: "p-fee", from: 0, to: EVMNode.accounts[2], token: "ETH", quantity: "1000", maxFee: "5")
        let tooMuch = signedPayoutRequest(
            id: "p-much", from: 0, to: EVMNode.accounts[2], token: "ETH", quantity: "9000000000000000000")
        let result = try workspace.run(
            "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite",
            input: [changedQuantity, otherSigner, expired, lowMaxFee, tooMuch].joined(separator: "\n"))
        let expected = [
            "p-changed": "bad_signature", "p-other": "bad_signature", "p-expired": "expired",
            "p-fee": "fee_exceeds_max", "p-much": "insufficient_balance",
        ]
        for (id, code) in expected {
            XCTAssertEqual(result.record(id: id)?["error"]?.string(at: "code"), code, "\(id): \(result.stdout)")
            XCTAssertNil(result.record(id: id)?["payout_tx"], "a refused payout carries no signed transaction")
        }
        XCTAssertEqual(try balance(0, "ETH").locked, "0")
        try assertInvariants()
    }

    // Prepare re-checks the balance atomically: without tok-verify's advisory check, the lock still refuses.
    func testPrepareRefusesWhatTheBalanceCannotCover() throws {
        try deposit(2, amount: "1000000", id: "dep-small")
        let result = try workspace.run(
            "tok-validate | tok-verify | tok-apply --db state.sqlite",
            input: signedPayoutRequest(id: "p-over", from: 2, to: EVMNode.accounts[0], token: "ETH", quantity: "999999")
        )
        let record = try XCTUnwrap(result.record(id: "p-over"))
        XCTAssertEqual(record["error"]?.string(at: "code"), "insufficient_balance", result.stdout)
        XCTAssertEqual(record["error"]?.string(at: "stage"), "apply")
        XCTAssertNil(record["payout_tx"], "an unrecorded signed transaction must not travel on")
        XCTAssertEqual(try balance(2, "ETH").available, "1000000")
        // The next payout goes through: no nonce gap blocks it.
        let next = try workspace.run(
            payoutPipeline,
            input: signedPayoutRequest(id: "p-ok", from: 2, to: EVMNode.accounts[0], token: "ETH", quantity: "1000"))
        XCTAssertEqual(next.record(id: "p-ok")?.string(at: "status"), "paid", next.stdout + next.stderr)
        try assertInvariants()
    }

    // A payout refused at prepare after a later one took the next nonce leaves a gap; reconciliation
    // fills it with a zero-value transaction, so the later payout is not stuck behind it.
    func testNonceGapIsFilledByReconciliation() throws {
        try deposit(1, amount: "1000000000000000000", id: "dep")
        let nonceBefore = try operatorNonce()
        // tok-verify without --db skips the advisory balance check: both payouts get signed, with consecutive nonces.
        let result = try workspace.run(
            "tok-validate | tok-verify | tok-apply --db state.sqlite | tok-submit --wait --poll-milliseconds 100 --wait-timeout-milliseconds 1500 | tok-apply --db state.sqlite",
            input: [
                signedPayoutRequest(
                    id: "p-too-big", from: 1, to: EVMNode.accounts[0], token: "ETH", quantity: "5000000000000000000"),
                signedPayoutRequest(id: "p-behind", from: 1, to: EVMNode.accounts[0], token: "ETH", quantity: "1000"),
            ].joined(separator: "\n"))
        XCTAssertEqual(
            result.record(id: "p-too-big")?["error"]?.string(at: "code"), "insufficient_balance", result.stdout)
        XCTAssertNotEqual(result.record(id: "p-behind")?.string(at: "status"), "paid", "it waits behind the gap")
        let reconcile = try workspace.run(
            "bash \(Repo.root.path)/pipelines/reconcile.sh state.sqlite --wait-timeout-milliseconds 20000")
        XCTAssertEqual(
            reconcile.record(id: "p-behind")?.string(at: "status"), "paid", reconcile.stdout + reconcile.stderr)
        let filler = reconcile.records.first { $0.string(at: "op") == "nonce_fill" }
        XCTAssertEqual(filler?.string(at: "status"), "paid", reconcile.stdout)
        XCTAssertEqual(try operatorNonce(), nonceBefore + 2, "the filler and the payout, nothing else")
        try assertInvariants()
    }

    // Without --wait tok-submit reports "submitted"; the cron reconciliation finishes the payout later.
    func testSubmitWithoutWaitThenReconcile() throws {
        try deposit(3, amount: "2000000000000000000", id: "dep")
        let result = try workspace.run(
            "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite | tok-submit | tok-apply --db state.sqlite",
            input: signedPayoutRequest(id: "p-later", from: 3, to: EVMNode.accounts[1], token: "ETH", quantity: "12345")
        )
        XCTAssertEqual(result.record(id: "p-later")?.string(at: "status"), "in_flight", result.stdout + result.stderr)
        XCTAssertNotEqual(try balance(3, "ETH").locked, "0")
        try node.mine(3)
        let reconcile = try workspace.run("bash \(Repo.root.path)/pipelines/reconcile.sh state.sqlite")
        XCTAssertEqual(reconcile.exitCode, 0, reconcile.stderr)
        XCTAssertEqual(
            reconcile.record(id: "p-later")?.string(at: "status"), "paid", reconcile.stdout + reconcile.stderr)
        XCTAssertEqual(try balance(3, "ETH").locked, "0")
        // Running it again finds nothing to do.
        let again = try workspace.run("bash \(Repo.root.path)/pipelines/reconcile.sh state.sqlite")
        XCTAssertEqual(again.records.count, 0, again.stdout)
        try assertInvariants()
    }

    // A prepared payout whose nonce is used by another transaction can never be mined: it is rolled back,
    // the failure fee is charged and the rest unlocked.
    func testRollbackWhenTheNonceIsTakenElsewhere() throws {
        try deposit(0, amount: "4000000000000000000", id: "dep")
        let prepared = try workspace.run(
            "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite",
            input: signedPayoutRequest(
                id: "p-doomed", from: 0, to: EVMNode.accounts[2], token: "ETH", quantity: "1000000"))
        XCTAssertEqual(
            prepared.record(id: "p-doomed")?.string(at: "status"), "prepared", prepared.stdout + prepared.stderr)
        // The operator's key is used outside tok (a mistake tok must survive): it takes the nonce.
        _ = try node.sendEth(from: 9, to: EVMNode.accounts[3], wei: "1")
        try node.mine(3)
        let reconcile = try workspace.run("bash \(Repo.root.path)/pipelines/reconcile.sh state.sqlite")
        let record = try XCTUnwrap(reconcile.record(id: "p-doomed"), reconcile.stdout + reconcile.stderr)
        XCTAssertEqual(record.string(at: "status"), "rolled_back", reconcile.stdout)
        // fee 1000 + 1e6 × 10 / 10000 = 2000; failure fee 500 is charged, the rest comes back.
        XCTAssertEqual(try balance(0, "ETH").available, "3999999999999999500")
        XCTAssertEqual(try balance(0, "ETH").locked, "0")
        try assertInvariants()
        // Rolling back again (a replayed record) changes nothing.
        let replay = try workspace.run("tok-apply --db state.sqlite", input: reconcile.stdout)
        XCTAssertEqual(replay.record(id: "p-doomed")?.string(at: "status"), "rolled_back")
        XCTAssertEqual(try balance(0, "ETH").available, "3999999999999999500")
    }

    // A transfer is a deposit plus a payout in one request.
    func testTransfer() throws {
        let tx = try node.sendEth(from: 1, to: EVMNode.receiver, wei: "3000000000000000000")
        try node.mine(3)
        let destination = EVMNode.accounts[3]
        let before = try chainBalance(destination)
        let result = try workspace.run(
            payoutPipeline,
            input: signedPayoutRequest(
                id: "t-1", from: 1, to: destination, token: "ETH", quantity: "2000000000000000000", depositTx: tx))
        XCTAssertEqual(result.record(id: "t-1")?.string(at: "status"), "paid", result.stdout + result.stderr)
        XCTAssertEqual(try chainBalance(destination).subtracting(before), UInt256(2_000_000_000_000_000_000))
        // 3e18 - 2e18 - (1000 + 2e15)
        XCTAssertEqual(try balance(1, "ETH").available, "997999999999999000")
        try assertInvariants()
    }

    // A transfer whose payout half is refused keeps its deposit credited, and says so.
    func testTransferWithRefusedPayoutKeepsTheDeposit() throws {
        let tx = try node.sendEth(from: 2, to: EVMNode.receiver, wei: "1000000")
        try node.mine(3)
        let result = try workspace.run(
            payoutPipeline,
            input: signedPayoutRequest(
                id: "t-2", from: 2, to: EVMNode.accounts[0], token: "ETH", quantity: "999999", depositTx: tx))
        let record = try XCTUnwrap(result.record(id: "t-2"), result.stdout + result.stderr)
        XCTAssertEqual(record.string(at: "status"), "credited", result.stdout)
        XCTAssertEqual(record["payout_error"]?.string(at: "code"), "insufficient_balance")
        XCTAssertTrue(record["payout_error"]?.string(at: "message")?.contains("deposit") ?? false)
        XCTAssertEqual(try balance(2, "ETH").available, "1000000")
        try assertInvariants()
    }

    // A transfer whose authorisation expires while its deposit waits for confirmations still gets its deposit credited.
    func testTransferExpiringWhilePendingKeepsTheDeposit() throws {
        try workspace.write("tok.toml", node.config(token: token, confirmations: 10_000))
        let tx = try node.sendEth(from: 3, to: EVMNode.receiver, wei: "5000000")
        let expiry = Int64(Date().timeIntervalSince1970) + 2
        let first = try workspace.run(
            "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite",
            input: signedPayoutRequest(
                id: "t-late", from: 3, to: EVMNode.accounts[0], token: "ETH", quantity: "1000", expires: expiry,
                depositTx: tx))
        XCTAssertEqual(first.record(id: "t-late")?.string(at: "status"), "pending", first.stdout + first.stderr)
        try workspace.write("spool.ndjson", first.stdout)
        usleep(2_500_000)
        try workspace.write("tok.toml", node.config(token: token))
        let second = try workspace.run("tok-verify --db state.sqlite < spool.ndjson | tok-apply --db state.sqlite")
        let record = try XCTUnwrap(second.record(id: "t-late"), second.stdout + second.stderr)
        XCTAssertEqual(record.string(at: "status"), "credited", second.stdout)
        XCTAssertEqual(record["payout_error"]?.string(at: "code"), "expired")
        XCTAssertEqual(try balance(3, "ETH").available, "5000000")
        try assertInvariants()
    }

    // tok-validate --payout-message prints the exact text to sign; signing it makes a valid request.
    func testPayoutMessageHelper() throws {
        let expiry = Int64(Date().timeIntervalSince1970) + 600
        let unsigned =
            "{\"op\":\"payout\",\"id\":\"p-msg\",\"source\":{\"account\":\"\(EVMNode.accounts[0])\",\"network\":\"evm-local\",\"token\":\"ETH\"},\"destination\":{\"account\":\"\(EVMNode.accounts[1])\",\"network\":\"evm-local\",\"token\":\"ETH\"},\"quantity\":\"5000\",\"max_fee\":\"100000\",\"expires\":\(expiry)}"
        let result = try workspace.run("tok-validate --payout-message", input: unsigned)
        let message = try XCTUnwrap(
            result.records.first?.string(at: "authorisation_message"), result.stdout + result.stderr)
        XCTAssertTrue(message.hasPrefix("tok payout v2\ndeployment: tok-test\nid: p-msg\n"), message)
        let expected = signedPayoutRequest(
            id: "p-msg", from: 0, to: EVMNode.accounts[1], token: "ETH", quantity: "5000", maxFee: "100000",
            expires: expiry)
        let signature = PersonalSign.sign(message: message, key: EVMNode.key(0))
        XCTAssertTrue(expected.contains(signature), "the helper's message is the one the engine checks")
    }

    // A prepared record edited on its way to tok-submit is refused (only what tok-apply recorded is broadcast).
    func testEditedPreparedRecordIsNotBroadcast() throws {
        try deposit(0, amount: "1000000000000000000", id: "dep")
        let prepared = try workspace.run(
            "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite",
            input: signedPayoutRequest(id: "p-edit", from: 0, to: EVMNode.accounts[1], token: "ETH", quantity: "777"))
        let line = prepared.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(line.contains("\"status\":\"prepared\""), line)
        let edited = line.replacingOccurrences(
            of: "\"destination_amount\":\"777\"", with: "\"destination_amount\":\"778\"")
        let result = try workspace.run("tok-submit", input: edited)
        XCTAssertEqual(result.records.first?["error"]?.string(at: "code"), "attestation_invalid", result.stdout)
    }
}
