import Foundation
import XCTest
@testable import TokShared

/// Payouts on a Bitcoin-family chain, judged by a real litecoind on regtest:
/// coins come from deposits to the operator, tok-verify selects and signs,
/// tok-apply reserves, the node accepts and mines, tok-apply commits.
class UTXOPayoutPipelineTests: PipelineTestCase {
    override class func startNodes() throws -> [TestNode] {
        let node = try LitecoinNode()
        try node.mine(110)  // coinbase maturity is 100 on regtest
        return [node]
    }

    static let chain = try! ChainId(parsing: LitecoinNode.chain)
    static let parameters = UTXOChains.parameters(for: chain)!
    /// The operator pays from the coins deposits bring to it: receiver and operator are one address.
    static let operatorAddress = UTXOFamily().address(of: try! PrivateKey(hex: EVMNode.operatorKey), chain: chain)

    var node: LitecoinNode!
    var alice: String!
    var bob: String!

    override func setUpWithError() throws {
        try super.setUpWithError()
        node = try node()
        alice = try node.newAddress()
        bob = try node.newAddress()
        try node.fund(alice, coins: "20")
        try node.mine(1)
        try workspace.write("tok.toml", payoutConfig())
    }

    func payoutConfig(extraNetworkLines: String = "") -> String {
        node.config(receiver: UTXOPayoutPipelineTests.operatorAddress)
            .replacingOccurrences(
                of: "rpc_retries = 2\n",
                with: """
                    rpc_retries = 2
                    operator = "\(UTXOPayoutPipelineTests.operatorAddress)"
                    operator_key_env = "TOK_TEST_OPERATOR_KEY"
                    \(extraNetworkLines)

                    """
            )
            .replacingOccurrences(
                of: "slip44:2\"\n  decimals = 8\n",
                with: """
                    slip44:2"
                      decimals = 8
                      payout = true
                      fee_fixed = "10000"
                      failure_fee = "5000"

                    """)
    }

    // MARK: Helpers

    /// Alice deposits `coins` to the operator; credited at the confirmation level.
    @discardableResult
    func deposit(_ coins: String, id: String, from sender: String? = nil) throws -> String {
        let tx = try node.send(from: [sender ?? alice], to: UTXOPayoutPipelineTests.operatorAddress, coins: coins)
        try node.mine(3)
        let result = try workspace.run(
            depositPipeline,
            input: depositRequest(id: id, account: sender ?? alice, token: "LTC", tx: tx, network: "ltc-regtest"))
        XCTAssertEqual(result.record(id: id)?.string(at: "status"), "credited", result.stdout + result.stderr)
        return tx
    }

    /// Up to tok-submit: broadcast, not yet confirmed (litecoind mines only when told).
    let submitPipeline =
        "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite | tok-submit | tok-apply --db state.sqlite"
    let reconcile = "tok-apply --db state.sqlite --open-payouts | tok-submit | tok-apply --db state.sqlite"

    func ledger() throws -> Ledger {
        try workspace.readLedger()
    }

    func balance(_ address: String) throws -> (available: String, locked: String) {
        let result = try workspace.run(
            "tok-apply --db state.sqlite",
            input:
                "{\"op\":\"balance\",\"id\":\"q\",\"source\":{\"account\":\"\(address)\",\"network\":\"ltc-regtest\",\"token\":\"LTC\"}}"
        )
        let balance = result.record(id: "q")?["balance"]
        return (balance?.string(at: "available") ?? "?", balance?.string(at: "locked") ?? "?")
    }

    /// What the node shows `address` received in confirmed outputs of `tx`.
    func paid(to address: String, in tx: String) throws -> UInt64 {
        let transaction = try node.call("getrawtransaction", "[\"\(tx)\", true]")
        var total: UInt64 = 0
        for output in transaction["vout"]?.arrayElements ?? []
        where output["scriptPubKey"]?["addresses"]?.arrayElements.first?.stringValue == address
            || output["scriptPubKey"]?.string(at: "address") == address
        {
            total += try CoinAmount.baseUnits(fromDecimalText: output.string(at: "value")!, decimals: 8)
        }
        return total
    }

    func checkInvariants() throws {
        let result = try workspace.run("tok-apply --db state.sqlite --check")
        XCTAssertEqual(result.exitCode, 0, result.stdout + result.stderr)
    }

    // MARK: Tests

    // Deposit, payout signed by the node's signmessage, broadcast, mined, committed; change back to the operator.
    func testPayoutIsMinedAndCommitted() throws {
        try deposit("5", id: "d-1")
        let request = try node.payoutRequest(id: "p-1", from: alice, to: bob, quantity: "150000000")
        let first = try workspace.run(submitPipeline, input: request)
        let submitted = try XCTUnwrap(first.record(id: "p-1"), first.stdout + first.stderr)
        XCTAssertEqual(submitted.string(at: "status"), "in_flight", first.stdout + first.stderr)
        let payoutTx = try XCTUnwrap(submitted["payout_tx"])
        let txId = try XCTUnwrap(payoutTx.string(at: "tx"))
        XCTAssertEqual(payoutTx["inputs"]?.arrayElements.count, 1)
        XCTAssertEqual(try balance(alice).locked, "150010000")  // quantity + fixed fee

        // The node has it in its pool; nothing is committed before the confirmation level.
        XCTAssertTrue(try node.call("getrawmempool").arrayElements.contains { $0.stringValue == txId })
        try node.mine(1)
        let early = try workspace.run(reconcile)
        XCTAssertEqual(early.record(id: "p-1")?.string(at: "status"), "in_flight", early.stdout + early.stderr)
        try node.mine(2)
        let done = try workspace.run(reconcile)
        XCTAssertEqual(done.record(id: "p-1")?.string(at: "status"), "paid", done.stdout + done.stderr)

        XCTAssertEqual(try paid(to: bob, in: txId), 150_000_000)
        XCTAssertEqual(try balance(alice).available, String(500_000_000 - 150_010_000))
        XCTAssertEqual(try balance(alice).locked, "0")
        // The change is the operator's to spend now; the deposit's coin is spent.
        let totals = try ledger().coinTotals(
            chain: LitecoinNode.chain, address: UTXOPayoutPipelineTests.operatorAddress)
        let change = try paid(to: UTXOPayoutPipelineTests.operatorAddress, in: txId)
        XCTAssertEqual(totals["available"], change)
        XCTAssertEqual(totals["spent"], 500_000_000)
        XCTAssertNil(totals["reserved"])
        try checkInvariants()

        // A replay pays nothing twice.
        let replay = try workspace.run(submitPipeline, input: request)
        XCTAssertEqual(replay.record(id: "p-1")?.string(at: "status"), "paid", replay.stdout + replay.stderr)
        XCTAssertEqual(replay.record(id: "p-1")?["payout_tx"]?.string(at: "tx"), txId)
    }

    // A transaction whose signature was tampered with is refused by the node; the one tok signed is not.
    func testTamperedSignatureIsRejectedByTheNode() throws {
        try deposit("2", id: "d-t")
        let signed = try workspace.run(
            "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite",
            input: try node.payoutRequest(id: "p-t", from: alice, to: bob, quantity: "50000000"))
        let raw = try XCTUnwrap(
            signed.record(id: "p-t")?["payout_tx"]?.string(at: "raw"), signed.stdout + signed.stderr)
        // Byte 0x30 starts the DER signature in the first scriptSig; flip a byte of its r value.
        var bytes = Hex.decode(raw)!
        let derStart = 4 + 1 + 32 + 4 + 1 + 1
        XCTAssertEqual(bytes[derStart], 0x30)
        bytes[derStart + 10] ^= 0x01
        XCTAssertThrowsError(try node.call("sendrawtransaction", "[\"\(Hex.encode(bytes))\"]")) { error in
            XCTAssertTrue(
                "\(error)".contains("mandatory-script-verify-flag-failed") || "\(error)".contains("-26"), "\(error)")
        }
        let submitted = try workspace.run(
            "tok-apply --db state.sqlite --open-payouts | tok-submit | tok-apply --db state.sqlite")
        XCTAssertEqual(
            submitted.record(id: "p-t")?.string(at: "status"), "in_flight", submitted.stdout + submitted.stderr)
    }

    // Many payouts from few coins, from two pipelines at once: no coin is ever spent twice;
    // payouts that found no free coin are refused (retryable) before anything is locked.
    func testConcurrentPayoutsNeverDoubleSpend() throws {
        for index in 0..<4 { try deposit("1", id: "d-c\(index)") }
        var first = ""
        var second = ""
        for index in 0..<6 {
            first += try node.payoutRequest(id: "c-a\(index)", from: alice, to: bob, quantity: "10000000") + "\n"
            second += try node.payoutRequest(id: "c-b\(index)", from: alice, to: bob, quantity: "10000000") + "\n"
        }
        try workspace.write("first.ndjson", first)
        try workspace.write("second.ndjson", second)
        let both = try workspace.run(
            """
            ( tok-validate < first.ndjson | tok-verify --db state.sqlite | tok-apply --db state.sqlite | tok-submit | tok-apply --db state.sqlite > a.out ) &
            ( tok-validate < second.ndjson | tok-verify --db state.sqlite | tok-apply --db state.sqlite | tok-submit | tok-apply --db state.sqlite > b.out ) &
            wait; cat a.out b.out
            """)
        let records = both.records
        XCTAssertEqual(records.count, 12, both.stdout + both.stderr)
        var spent: [String: String] = [:]
        var inFlight: [String] = []
        for record in records {
            let id = record.string(at: "id")!
            switch record.string(at: "status") {
            case "in_flight":
                inFlight.append(record["payout_tx"]!.string(at: "tx")!)
                for input in record["payout_tx"]?["inputs"]?.arrayElements ?? [] {
                    let outpoint = input.string(at: "tx")! + ":" + String(input["vout"]!.int64Value!)
                    XCTAssertNil(spent[outpoint], "\(outpoint) spent by \(spent[outpoint] ?? "") and \(id)")
                    spent[outpoint] = id
                }
            case "rejected":
                let code = record["error"]?.string(at: "code")
                XCTAssertTrue(["coin_conflict", "insufficient_coins"].contains(code ?? ""), "\(id): \(record)")
                XCTAssertEqual(record["error"]?["retryable"]?.boolValue, true)
            default:
                XCTFail("\(id): unexpected \(record)")
            }
        }
        XCTAssertGreaterThanOrEqual(inFlight.count, 4, both.stdout + both.stderr)
        // Every payout tok recorded is in the node's pool: the node saw no double spend either.
        let pool = Set(try node.call("getrawmempool").arrayElements.compactMap(\.stringValue))
        for tx in inFlight { XCTAssertTrue(pool.contains(tx), "\(tx) is not in the node's pool") }
        try node.mine(3)
        let done = try workspace.run(reconcile)
        XCTAssertEqual(
            done.records.filter { $0.string(at: "status") == "paid" }.count, inFlight.count, done.stdout + done.stderr)
        try checkInvariants()

        // The refused ones go through later, from the change of the confirmed ones
        // (change is spendable once its payout confirms, so a round pays at most one per coin).
        var paid = 0
        for _ in 0..<4 where paid < 12 {
            _ = try workspace.run(submitPipeline, input: first + second)
            try node.mine(3)
            _ = try workspace.run(reconcile)
            let status = try workspace.run(
                "tok-apply --db state.sqlite",
                input: (0..<6).flatMap {
                    ["{\"op\":\"status\",\"id\":\"c-a\($0)\"}", "{\"op\":\"status\",\"id\":\"c-b\($0)\"}"]
                }.joined(separator: "\n"))
            paid = status.records.filter { $0["request"]?.string(at: "state") == "confirmed" }.count
            try checkInvariants()
        }
        XCTAssertEqual(paid, 12)
        XCTAssertEqual(try balance(alice).available, String(400_000_000 - 12 * 10_010_000))
    }

    // A crash after prepare (nothing broadcast) and one after broadcast (nothing recorded
    // of it): reconciliation finishes both, exactly once, and a replay changes nothing.
    func testCrashWindowsHealOnReconciliation() throws {
        try deposit("3", id: "d-x")
        try deposit("2", id: "d-y")
        let requests =
            try node.payoutRequest(id: "x-1", from: alice, to: bob, quantity: "20000000") + "\n"
            + (try node.payoutRequest(id: "x-2", from: alice, to: bob, quantity: "30000000"))
        // Crash 1: the pipeline dies right after tok-apply prepared (tok-submit never ran).
        let prepared = try workspace.run(
            "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite > /dev/null", input: requests)
        XCTAssertEqual(prepared.exitCode, 0, prepared.stderr)
        XCTAssertEqual(try ledger().openPayouts(limit: 10).count, 2)
        // Crash 2 for x-2 only: broadcast, but tok-submit's report is lost.
        let lost = try workspace.run("tok-apply --db state.sqlite --open-payouts | grep x-2 | tok-submit > /dev/null")
        XCTAssertEqual(lost.exitCode, 0, lost.stderr)
        try node.mine(3)
        let healed = try workspace.run(reconcile)
        XCTAssertEqual(healed.record(id: "x-2")?.string(at: "status"), "paid", healed.stdout + healed.stderr)
        // x-1 was never broadcast: reconciliation broadcasts it now.
        XCTAssertEqual(healed.record(id: "x-1")?.string(at: "status"), "in_flight", healed.stdout + healed.stderr)
        try node.mine(3)
        let finished = try workspace.run(reconcile)
        XCTAssertEqual(finished.record(id: "x-1")?.string(at: "status"), "paid", finished.stdout + finished.stderr)
        // Replaying the original requests: nothing is signed, spent or paid again.
        let replay = try workspace.run(submitPipeline, input: requests)
        XCTAssertEqual(replay.records.map { $0.string(at: "status") }, ["paid", "paid"], replay.stdout + replay.stderr)
        let tx1 = try XCTUnwrap(replay.record(id: "x-1")?["payout_tx"]?.string(at: "tx"))
        let tx2 = try XCTUnwrap(replay.record(id: "x-2")?["payout_tx"]?.string(at: "tx"))
        XCTAssertEqual(try paid(to: bob, in: tx1) + (try paid(to: bob, in: tx2)), 50_000_000)
        XCTAssertEqual(try balance(alice).available, String(500_000_000 - 20_010_000 - 30_010_000))
        try checkInvariants()
    }

    // Someone else spends a reserved coin (here: the operator key, outside tok): the payout can never
    // be mined, so it is rolled back, its coins are marked spent and the user is charged only the failure fee.
    func testPayoutWhoseCoinIsSpentElsewhereIsRolledBack() throws {
        try deposit("1", id: "d-s")
        let signed = try workspace.run(
            "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite",
            input: try node.payoutRequest(id: "s-1", from: alice, to: bob, quantity: "10000000"))
        let input = try XCTUnwrap(
            signed.record(id: "s-1")?["payout_tx"]?["inputs"]?.arrayElements.first, signed.stdout + signed.stderr)
        // Spend the same coin to another address, signed by the operator's key, outside tok.
        let key = try PrivateKey(hex: EVMNode.operatorKey)
        let value = UInt64(input.string(at: "value")!)!
        var theft = UTXOTransaction(
            inputs: [
                UTXOInput(
                    previousOutput: try UTXOOutPoint(
                        txid: input.string(at: "tx")!, vout: UInt32(input["vout"]!.int64Value!)))
            ],
            outputs: [
                UTXOOutput(
                    valueBaseUnits: value - 100_000,
                    address: try UTXOAddress.parse(try node.newAddress(), chain: UTXOPayoutPipelineTests.parameters))
            ])
        try theft.signP2PKHInputs(keys: [key])
        try node.call("sendrawtransaction", "[\"\(Hex.encode(theft.serialized()))\"]")
        try node.mine(1)
        let result = try workspace.run(reconcile)
        XCTAssertEqual(result.record(id: "s-1")?.string(at: "status"), "rolled_back", result.stdout + result.stderr)
        XCTAssertEqual(try balance(alice).available, String(100_000_000 - 5_000))
        let totals = try ledger().coinTotals(
            chain: LitecoinNode.chain, address: UTXOPayoutPipelineTests.operatorAddress)
        XCTAssertEqual(totals["spent"], value)
        XCTAssertNil(totals["available"])
        try checkInvariants()
    }

    // Below the chain's dust limit: refused before anything is locked.
    func testUnpayableAmountsAreRefusedBeforeLocking() throws {
        try deposit("1", id: "d-u")
        let result = try workspace.run(
            submitPipeline, input: try node.payoutRequest(id: "u-1", from: alice, to: bob, quantity: "1000"))
        XCTAssertEqual(result.record(id: "u-1")?["error"]?.string(at: "code"), "below_minimum", result.stdout)
        XCTAssertEqual(try balance(alice).locked, "0")
        try checkInvariants()
    }

    // A fee cap the chain's policy cannot meet refuses the payout; nothing is locked.
    func testNetworkFeeCapIsEnforced() throws {
        try workspace.write("tok.toml", payoutConfig(extraNetworkLines: "max_network_fee = \"100\""))
        try deposit("1", id: "d-f")
        let result = try workspace.run(
            submitPipeline, input: try node.payoutRequest(id: "f-1", from: alice, to: bob, quantity: "10000000"))
        XCTAssertEqual(
            result.record(id: "f-1")?["error"]?.string(at: "code"), "network_fee_too_high",
            result.stdout + result.stderr)
        XCTAssertEqual(try balance(alice).locked, "0")
    }

    // A signature by another key is refused: the chain's signmessage format binds the address.
    func testPayoutSignedByAnotherAddressIsRefused() throws {
        try deposit("1", id: "d-w")
        let forged = try node.payoutRequest(id: "w-1", from: bob, to: bob, quantity: "10000000")
            .replacingOccurrences(
                of: "\"source\":{\"account\":\"\(bob!)\"", with: "\"source\":{\"account\":\"\(alice!)\"")
        let result = try workspace.run(submitPipeline, input: forged)
        XCTAssertEqual(
            result.record(id: "w-1")?["error"]?.string(at: "code"), "bad_signature", result.stdout + result.stderr)
    }

    // Without tok-apply's database tok-verify has no coins to pay from: refused, nothing locked, nothing sent.
    func testPayoutWithoutTheLedgerIsRefused() throws {
        try deposit("1", id: "d-n")
        let result = try workspace.run(
            "tok-validate | tok-verify | tok-apply --db state.sqlite",
            input: try node.payoutRequest(id: "n-1", from: alice, to: bob, quantity: "10000000"))
        XCTAssertEqual(
            result.record(id: "n-1")?["error"]?.string(at: "code"), "payout_disabled", result.stdout + result.stderr)
        XCTAssertTrue(result.record(id: "n-1")?["error"]?.string(at: "message")?.contains("--db") ?? false)
        XCTAssertEqual(try balance(alice).locked, "0")
        XCTAssertEqual(
            try ledger().coinTotals(chain: LitecoinNode.chain, address: UTXOPayoutPipelineTests.operatorAddress),
            ["available": 100_000_000])
    }

    // Attested outputs that do not add up to the attested amount (a forged or buggy verify) credit nothing and add no coin.
    func testDepositWhoseOutputsDoNotAddUpIsRefused() throws {
        let tx = try node.send(from: [alice], to: UTXOPayoutPipelineTests.operatorAddress, coins: "1")
        try node.mine(3)
        let verified = try workspace.run(
            "tok-validate | tok-verify",
            input: depositRequest(id: "d-o", account: alice, token: "LTC", tx: tx, network: "ltc-regtest"))
        let record = try XCTUnwrap(verified.record(id: "d-o"), verified.stdout + verified.stderr)
        let output = try XCTUnwrap(record["verified"]?["outputs"]?.arrayElements.first)
        output.set("value", string: "200000000")
        let attestor = Attestor(settings: .init(keyId: "test", secret: Array(workspace.secret.utf8)))
        attestor.attest(record, stage: .verify)
        let applied = try workspace.run("tok-apply --db state.sqlite", input: record.serialized())
        XCTAssertEqual(
            applied.record(id: "d-o")?["error"]?.string(at: "code"), "not_verified", applied.stdout + applied.stderr)
        XCTAssertEqual(try balance(alice).available, "0")
        XCTAssertEqual(
            try ledger().coinTotals(chain: LitecoinNode.chain, address: UTXOPayoutPipelineTests.operatorAddress), [:])
        // The honest record still credits afterwards: nothing was half-written.
        let honest = try workspace.run("tok-apply --db state.sqlite", input: verified.stdout)
        XCTAssertEqual(honest.record(id: "d-o")?.string(at: "status"), "credited", honest.stdout + honest.stderr)
    }
}
