import Foundation
import XCTest
@testable import TokShared

/// Faults of the operator's setup are not the user's: the request is refused as retryable,
/// the stage that refused it exits 69 so cron tells the operator, and once the operator acts
/// the same request goes through.
extension PayoutPipelineTests {
    func assertOperatorFault(
        _ result: PipelineResult, id: String, code: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        let record = result.record(id: id)
        let error = record?["error"] ?? record?["payout_error"]
        XCTAssertEqual(error?.string(at: "code"), code, result.stdout + result.stderr, file: file, line: line)
        XCTAssertEqual(
            error?["retryable"]?.boolValue, true, "the operator's fault is retryable", file: file, line: line)
        XCTAssertEqual(
            result.exitCode, 69, "the run tells the operator to act: " + result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains("refused for the operator's setup"), result.stderr, file: file, line: line)
    }

    // A missing operator key refuses the payout as retryable (bad_key) and tok-verify exits 69.
    func testMissingOperatorKeyIsTheOperatorsFault() throws {
        try deposit(0, amount: "1000000000000000", id: "dep")
        let request = signedPayoutRequest(
            id: "pay-nokey", from: 0, to: EVMNode.accounts[1], token: "ETH", quantity: "5000")
        let noKey = try workspace.run("unset TOK_TEST_OPERATOR_KEY; \(payoutPipeline)", input: request)
        assertOperatorFault(noKey, id: "pay-nokey", code: "bad_key")
        let paid = try workspace.run(payoutPipeline, input: request)
        XCTAssertEqual(paid.exitCode, 0, paid.stderr)
        XCTAssertEqual(paid.record(id: "pay-nokey")?.string(at: "status"), "paid", paid.stdout + paid.stderr)
    }

    // The operator's ERC-20 inventory is empty: operator_underfunded (retryable), exit 69; refilled, the same request pays.
    func testEmptyTokenInventoryIsTheOperatorsFault() throws {
        try deposit(0, token: "TOK", amount: "300", id: "dep-tok")
        // The operator (funded account #10, index 9) moves every token out.
        let held = try tokenBalance(EVMNode.receiver)
        _ = try node.transferToken(token, from: 9, to: EVMNode.accounts[3], amount: held.description)
        try node.mine(1)
        let request = signedPayoutRequest(
            id: "pay-empty", from: 0, to: EVMNode.accounts[2], token: "TOK", quantity: "250")
        let refused = try workspace.run(payoutPipeline, input: request)
        assertOperatorFault(refused, id: "pay-empty", code: "operator_underfunded")
        XCTAssertEqual(try balance(0, "TOK").available, "300", "nothing was locked")

        _ = try node.transferToken(token, from: 3, to: EVMNode.receiver, amount: held.description)
        try node.mine(1)
        let paid = try workspace.run(payoutPipeline, input: request)
        XCTAssertEqual(paid.exitCode, 0, paid.stderr)
        XCTAssertEqual(paid.record(id: "pay-empty")?.string(at: "status"), "paid", paid.stdout + paid.stderr)
        try assertInvariants()
    }

    // An endpoint serving another chain refuses deposit claims as retryable (chain_mismatch) and tok-verify exits 69.
    func testEndpointOfAnotherChainIsTheOperatorsFault() throws {
        let tx = try node.sendEth(from: 1, to: EVMNode.receiver, wei: "1000")
        try node.mine(3)
        let otherChain = node.config(token: token).replacingOccurrences(
            of: "eip155:\(EVMNode.chainId)", with: "eip155:31337")
        try workspace.write("tok.toml", otherChain)
        let request = depositRequest(id: "dep-other", account: EVMNode.accounts[1], token: "ETH", tx: tx)
        let refused = try workspace.run(depositPipeline, input: request)
        assertOperatorFault(refused, id: "dep-other", code: "chain_mismatch")
        try workspace.write("tok.toml", node.config(token: token))
        let credited = try workspace.run(depositPipeline, input: request)
        XCTAssertEqual(
            credited.record(id: "dep-other")?.string(at: "status"), "credited", credited.stdout + credited.stderr)
    }
}
