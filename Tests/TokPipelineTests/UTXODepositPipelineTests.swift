import Foundation
import XCTest
@testable import TokShared

/// Deposits on a Bitcoin-family chain, judged by a real litecoind on regtest
/// (same legacy script rules as Dogecoin), through the built executables.
class UTXODepositPipelineTests: PipelineTestCase {
    nonisolated(unsafe) static var miner: String = ""

    override class func startNodes() throws -> [TestNode] {
        let node = try LitecoinNode()
        miner = try node.newAddress()
        try node.mine(110, to: miner)  // coinbase maturity is 100 on regtest
        return [node]
    }

    var node: LitecoinNode!
    var receiver: String!
    var alice: String!
    var bob: String!

    override func setUpWithError() throws {
        try super.setUpWithError()
        node = try node()
        receiver = try node.newAddress()
        alice = try node.newAddress()
        bob = try node.newAddress()
        try node.fund(alice, coins: "10")
        try node.fund(bob, coins: "10")
        try node.mine(1)
        try workspace.write("tok.toml", node.config(receiver: receiver))
    }

    func request(_ id: String, account: String, tx: String) -> String {
        depositRequest(id: id, account: account, token: "LTC", tx: tx, network: "ltc-regtest")
    }

    // A deposit is credited once, in exact base units (litoshi) parsed from the node's 8-decimal text.
    func testDepositIsCreditedOnce() throws {
        let tx = try node.send(from: [alice], to: receiver, coins: "1.23456789")
        try node.mine(3)
        let result = try workspace.run(depositPipeline, input: request("ltc-1", account: alice, tx: tx))
        let record = try XCTUnwrap(result.record(id: "ltc-1"), result.stdout + result.stderr)
        XCTAssertEqual(record.string(at: "status"), "credited", result.stdout + result.stderr)
        XCTAssertEqual(record["verified"]?.string(at: "amount"), "123456789")
        let replay = try workspace.run(depositPipeline, input: request("ltc-1", account: alice, tx: tx))
        XCTAssertEqual(replay.record(id: "ltc-1")?.string(at: "status"), "duplicate")
        let balance = try workspace.run(
            "tok-apply --db state.sqlite",
            input:
                "{\"op\":\"balance\",\"id\":\"q\",\"source\":{\"account\":\"\(alice!)\",\"network\":\"ltc-regtest\",\"token\":\"LTC\"}}"
        )
        XCTAssertEqual(balance.record(id: "q")?["balance"]?.string(at: "available"), "123456789")
        XCTAssertEqual(try workspace.run("tok-apply --db state.sqlite --check").exitCode, 0)
    }

    // The sender is proven by the inputs: a transaction with an input of another address is refused.
    func testAmbiguousSenderIsRefused() throws {
        let mixed = try node.send(from: [alice, bob], to: receiver, coins: "15")
        try node.mine(1)
        try node.fund(bob, coins: "5")
        try node.mine(1)
        let byBob = try node.send(from: [bob], to: receiver, coins: "1")
        try node.mine(1)
        let elsewhere = try node.send(from: [alice], to: bob, coins: "1")
        try node.mine(3)
        let coinbase = try node.call("getblock", "[\"\(try node.call("getbestblockhash").stringValue!)\"]")["tx"]![0]!
            .stringValue!
        let result = try workspace.run(
            depositPipeline,
            input: [
                request("mixed", account: alice, tx: mixed),
                request("by-bob", account: alice, tx: byBob),
                request("elsewhere", account: alice, tx: elsewhere),
                request("coinbase", account: alice, tx: coinbase),
            ].joined(separator: "\n"))
        let expected = [
            "mixed": "sender_mismatch", "by-bob": "sender_mismatch", "elsewhere": "no_payment_to_receiver",
            "coinbase": "sender_mismatch",
        ]
        for (id, code) in expected {
            XCTAssertEqual(result.record(id: id)?["error"]?.string(at: "code"), code, "\(id): \(result.stdout)")
        }
    }

    // Below the confirmation level a deposit is pending; mined further it is credited.
    func testPendingUntilConfirmed() throws {
        let tx = try node.send(from: [alice], to: receiver, coins: "0.5")
        let unmined = try workspace.run(depositPipeline, input: request("slow", account: alice, tx: tx))
        XCTAssertEqual(unmined.record(id: "slow")?.string(at: "status"), "pending", unmined.stdout + unmined.stderr)
        try node.mine(1)
        let once = try workspace.run(depositPipeline, input: request("slow", account: alice, tx: tx))
        XCTAssertEqual(once.record(id: "slow")?.string(at: "status"), "pending")
        XCTAssertEqual(once.record(id: "slow")?["verified"]?["confirmations"]?.int64Value, 1)
        try node.mine(2)
        let final = try workspace.run(depositPipeline, input: request("slow", account: alice, tx: tx))
        XCTAssertEqual(final.record(id: "slow")?.string(at: "status"), "credited", final.stdout + final.stderr)
    }

    // Addresses are checked with the chain's own version bytes and checksum.
    func testAddressesOfOtherChainsOrWithBadChecksumsAreRefused() throws {
        let dogecoinMainnet = "DDCyH9UkeJ6Kv8Jgz3eNhqZeud196bkGTL"
        var mistyped = Array(alice!)
        mistyped[5] = mistyped[5] == "a" ? "b" : "a"
        let result = try workspace.run(
            "tok-validate",
            input: [
                request("doge", account: dogecoinMainnet, tx: String(repeating: "a", count: 64)),
                request("typo", account: String(mistyped), tx: String(repeating: "a", count: 64)),
                request("evm-tx", account: alice, tx: "0x" + String(repeating: "a", count: 64)),
            ].joined(separator: "\n"))
        XCTAssertEqual(result.record(id: "doge")?["error"]?.string(at: "code"), "wrong_chain_address", result.stdout)
        XCTAssertEqual(result.record(id: "typo")?["error"]?.string(at: "code"), "bad_checksum", result.stdout)
        XCTAssertEqual(result.record(id: "evm-tx")?["error"]?.string(at: "code"), "bad_tx_id", result.stdout)
    }
}
