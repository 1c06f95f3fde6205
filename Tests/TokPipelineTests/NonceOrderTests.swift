import Foundation
import XCTest
@testable import TokShared

/// A request line sent twice costs no nonce, and reconciliation sends open payouts in nonce
/// order: the local chain has no queue of future nonces (it answers "nonce too high"), as some
/// nodes do not, so one run must finish what can be finished.
extension PayoutPipelineTests {
    // The same payout twice in one input is signed once: the payout behind it is paid in the same
    // run, with no filler (gas for nothing).
    func testDuplicateLineCostsNoNonce() throws {
        try deposit(2, amount: "1000000000000000000", id: "dep")
        let nonceBefore = try operatorNonce()
        // Within one batch, and across batches (--batch-size 1 for tok-verify).
        for (suffix, verify) in [
            ("", "tok-verify --db state.sqlite"), ("-b", "tok-verify --db state.sqlite --batch-size 1"),
        ] {
            let twice = signedPayoutRequest(
                id: "p\(suffix)-twice", from: 2, to: EVMNode.accounts[0], token: "ETH", quantity: "1000")
            let behind = signedPayoutRequest(
                id: "p\(suffix)-behind", from: 2, to: EVMNode.accounts[0], token: "ETH", quantity: "2000")
            let result = try workspace.run(
                payoutPipeline.replacingOccurrences(of: "tok-verify --db state.sqlite", with: verify),
                input: [twice, twice, behind].joined(separator: "\n"))
            XCTAssertEqual(result.exitCode, 0, verify + ": " + result.stderr)
            let statuses = result.records.map { "\($0.string(at: "id") ?? "?")=\($0.string(at: "status") ?? "?")" }
            XCTAssertEqual(
                statuses, ["p\(suffix)-twice=paid", "p\(suffix)-twice=paid", "p\(suffix)-behind=paid"],
                verify + ": " + result.stdout)
        }
        XCTAssertEqual(try operatorNonce(), nonceBefore + 4, "two payouts per pass, no filler, no wasted nonce")
        let open = try workspace.run("tok-apply open-payouts --db state.sqlite")
        XCTAssertEqual(open.stdout, "", "nothing waits behind a gap")
        try assertInvariants()
    }

    // Payouts prepared in one batch get consecutive nonces in input order; their ids sort the other
    // way. One reconciliation run pays them all.
    func testReconciliationSendsInNonceOrder() throws {
        try deposit(3, amount: "1000000000000000000", id: "dep")
        let ids = ["p-c", "p-b", "p-a"]
        let prepared = try workspace.run(
            "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite",
            input: ids.map {
                signedPayoutRequest(id: $0, from: 3, to: EVMNode.accounts[1], token: "ETH", quantity: "1000")
            }
            .joined(separator: "\n"))
        let nonces = ids.map { prepared.record(id: $0)?["payout_tx"]?["nonce"]?.int64Value ?? -1 }
        XCTAssertEqual(nonces, nonces.sorted(), "input order is nonce order: " + prepared.stdout + prepared.stderr)
        XCTAssertEqual(Set(nonces).count, 3)
        let reconcile = try workspace.run(
            "bash \(Repo.root.path)/pipelines/reconcile.sh state.sqlite --wait-timeout-milliseconds 20000")
        for id in ids {
            XCTAssertEqual(
                reconcile.record(id: id)?.string(at: "status"), "paid", id + ": " + reconcile.stdout + reconcile.stderr)
        }
        try assertInvariants()
    }
}
