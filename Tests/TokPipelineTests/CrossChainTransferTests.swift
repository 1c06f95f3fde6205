import Foundation
import XCTest
@testable import TokShared

/// Transfers between the local EVM chain and a Bitcoin-family chain (litecoind
/// on regtest), both real: one token, LTC, is an 18-decimal ERC-20 on the EVM
/// chain and the 8-decimal native coin on regtest; the ledger counts litoshi.
class CrossChainTransferTests: PipelineTestCase {
    override class func startNodes() throws -> [TestNode] {
        let litecoin = try LitecoinNode()
        try litecoin.mine(110)
        let evm = try EVMNode()
        // Blocks keep coming on the EVM chain, so tok-submit --wait sees confirmations.
        try evm.call("tokdev_setBlockInterval", "[150]")
        return [litecoin, evm]
    }

    static let ltcChain = try! ChainId(parsing: LitecoinNode.chain)
    static let ltcOperator = UTXOFamily().address(of: try! PrivateKey(hex: EVMNode.operatorKey), chain: ltcChain)

    var evm: EVMNode!
    var litecoin: LitecoinNode!
    var wrapped: String!

    override func setUpWithError() throws {
        try super.setUpWithError()
        evm = try node()
        litecoin = try node()
        wrapped = try evm.deployToken(from: 0, symbol: "WLTC", supply: "1000000000000000000000")
        try workspace.write("tok.toml", config())
    }

    func config() -> String {
        """
        [engine]
        deployment = "\(testDeployment)"

        [attestation]
        key_id = "test"

        [database]
        lock_timeout_milliseconds = 2000

        [[tokens]]
        alias = "LTC"
        symbol = "LTC"
        decimals = 8

        [[networks]]
        alias = "evm-local"
        chain = "eip155:\(EVMNode.chainId)"
        rpc_url = "\(evm.url)"
        receiver = "\(EVMNode.receiver)"
        operator = "\(EVMNode.receiver)"
        confirmations = 3
        rpc_timeout_milliseconds = 5000
        rpc_retries = 2
        operator_key_env = "TOK_TEST_OPERATOR_KEY"

          [[networks.assets]]
          token = "LTC"
          asset = "eip155:\(EVMNode.chainId)/erc20:\(wrapped!)"
          decimals = 18
          payout = true
          fee_fixed = "10000"

        [[networks]]
        alias = "ltc-regtest"
        chain = "\(LitecoinNode.chain)"
        rpc_url = "\(litecoin.url)"
        rpc_user = "\(litecoin.user)"
        rpc_password = "\(litecoin.password)"
        receiver = "\(CrossChainTransferTests.ltcOperator)"
        operator = "\(CrossChainTransferTests.ltcOperator)"
        confirmations = 3
        rpc_timeout_milliseconds = 10000
        rpc_retries = 2
        operator_key_env = "TOK_TEST_OPERATOR_KEY"

          [[networks.assets]]
          token = "LTC"
          asset = "\(LitecoinNode.chain)/slip44:2"
          decimals = 8
          payout = true
          fee_fixed = "10000"

        """
    }

    // MARK: Helpers

    enum Side { case evm, litecoin }

    func caip10(_ side: Side, _ address: String) -> String {
        side == .evm ? "eip155:\(EVMNode.chainId):\(address)" : "\(LitecoinNode.chain):\(address)"
    }

    func network(_ side: Side) -> String { side == .evm ? "evm-local" : "ltc-regtest" }

    /// A transfer request: deposit `depositTx` on the source side, pay `quantity`
    /// (source base units) to `destination` on the other side, authorised by the
    /// source account in its own chain's message format.
    func transferRequest(
        id: String, from source: (Side, String), to destination: (Side, String), quantity: String,
        maxFee: String, depositTx: String, evmSigner: Int? = nil
    ) throws -> String {
        let expiry = Int64(Date().timeIntervalSince1970) + 3600
        let authorisation = PayoutAuthorisation(
            deployment: testDeployment, requestId: id, source: caip10(source.0, source.1),
            destination: caip10(destination.0, destination.1), token: "LTC",
            quantity: try UInt256(decimal: quantity), maxFee: try UInt256(decimal: maxFee), expiresUnixSeconds: expiry)
        let signature: String
        if source.0 == .evm {
            signature = PersonalSign.sign(message: authorisation.message, key: EVMNode.key(evmSigner!))
        } else {
            signature = try litecoin.signMessage(authorisation.message, by: source.1)
        }
        return
            "{\"op\":\"transfer\",\"id\":\"\(id)\",\"source\":{\"account\":\"\(source.1)\",\"network\":\"\(network(source.0))\",\"token\":\"LTC\"},"
            + "\"destination\":{\"account\":\"\(destination.1)\",\"network\":\"\(network(destination.0))\",\"token\":\"LTC\"},"
            + "\"quantity\":\"\(quantity)\",\"max_fee\":\"\(maxFee)\",\"expires\":\(expiry),\"signature\":\"\(signature)\","
            + "\"deposit\":{\"tx\":\"\(depositTx)\"}}"
    }

    let throughApply = "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite"
    let reconcile =
        "tok-apply --db state.sqlite --open-payouts | tok-submit --wait --poll-milliseconds 100 --wait-timeout-milliseconds 20000 | tok-apply --db state.sqlite"

    /// Liquidity: the operator's coins on regtest come from a deposit (credited to a provider's account).
    func fundLitecoinPool(coins: String) throws {
        let provider = try litecoin.newAddress()
        try litecoin.fund(provider, coins: "10")
        try litecoin.mine(1)
        let tx = try litecoin.send(from: [provider], to: CrossChainTransferTests.ltcOperator, coins: coins)
        try litecoin.mine(3)
        let result = try workspace.run(
            "tok-validate | tok-verify | tok-apply --db state.sqlite",
            input: depositRequest(
                id: "pool-\(tx.prefix(8))", account: provider, token: "LTC", tx: tx, network: "ltc-regtest"))
        XCTAssertEqual(result.records.first?.string(at: "status"), "credited", result.stdout + result.stderr)
    }

    func received(onLitecoin address: String) throws -> UInt64 {
        let text = try litecoin.call("getreceivedbyaddress", "[\"\(address)\", 1]").stringValue!
        return try CoinAmount.baseUnits(fromDecimalText: text, decimals: 8)
    }

    func checkInvariants() throws {
        let check = try workspace.run("tok-apply --db state.sqlite --check")
        XCTAssertEqual(check.exitCode, 0, check.stdout + check.stderr)
    }

    // MARK: Tests

    // EVM → regtest: 1.5 wLTC (18 decimals) plus the fee deposited on the EVM chain; 1.5 LTC
    // (150 000 000 litoshi) paid on regtest from the operator's coins, mined and committed.
    func testDepositOnEVMPayOutOnLitecoin() throws {
        try fundLitecoinPool(coins: "5")
        let user = EVMNode.accounts[1]
        _ = try evm.transferToken(wrapped, from: 0, to: user, amount: "10000000000000000000")
        // quantity 1.5 LTC + fee 10 000 litoshi, in the ERC-20's 18 decimals.
        let deposit = try evm.transferToken(wrapped, from: 1, to: EVMNode.receiver, amount: "1500100000000000000")
        try evm.mine(3)
        let destination = try litecoin.newAddress()
        let request = try transferRequest(
            id: "x-evm-ltc", from: (.evm, user), to: (.litecoin, destination),
            quantity: "1500000000000000000", maxFee: "100000000000000", depositTx: deposit, evmSigner: 1)
        let first = try workspace.run(throughApply + " | tok-submit | tok-apply --db state.sqlite", input: request)
        let record = try XCTUnwrap(first.record(id: "x-evm-ltc"), first.stdout + first.stderr)
        XCTAssertEqual(record.string(at: "status"), "in_flight", first.stdout + first.stderr)
        XCTAssertEqual(record["verified"]?.string(at: "amount"), "1500100000000000000")
        XCTAssertEqual(record["validated"]?.string(at: "destination_amount"), "150000000")
        try litecoin.mine(3)
        let done = try workspace.run(reconcile)
        XCTAssertEqual(done.record(id: "x-evm-ltc")?.string(at: "status"), "paid", done.stdout + done.stderr)
        XCTAssertEqual(try received(onLitecoin: destination), 150_000_000)
        try checkInvariants()
    }

    // Regtest → EVM: 0.8 LTC plus the fee deposited on regtest, authorised with litecoind's
    // signmessage; 0.8 wLTC (8 × 10^17 base units) paid on the EVM chain by the operator.
    func testDepositOnLitecoinPayOutOnEVM() throws {
        // The operator's wLTC on the EVM chain: a liquidity deposit.
        let provider = EVMNode.accounts[2]
        _ = try evm.transferToken(wrapped, from: 0, to: provider, amount: "5000000000000000000")
        let liquidity = try evm.transferToken(wrapped, from: 2, to: EVMNode.receiver, amount: "5000000000000000000")
        try evm.mine(3)
        let funded = try workspace.run(
            "tok-validate | tok-verify | tok-apply --db state.sqlite",
            input: depositRequest(id: "liq-1", account: provider, token: "LTC", tx: liquidity))
        XCTAssertEqual(funded.record(id: "liq-1")?.string(at: "status"), "credited", funded.stdout + funded.stderr)

        let user = try litecoin.newAddress()
        try litecoin.fund(user, coins: "2")
        try litecoin.mine(1)
        let deposit = try litecoin.send(from: [user], to: CrossChainTransferTests.ltcOperator, coins: "0.8001")
        try litecoin.mine(3)
        let destination = try evm.newAccount()
        let request = try transferRequest(
            id: "x-ltc-evm", from: (.litecoin, user), to: (.evm, destination),
            quantity: "80000000", maxFee: "10000", depositTx: deposit)
        let result = try workspace.run(
            throughApply
                + " | tok-submit --wait --poll-milliseconds 100 --wait-timeout-milliseconds 30000 | tok-apply --db state.sqlite",
            input: request)
        let record = try XCTUnwrap(result.record(id: "x-ltc-evm"), result.stdout + result.stderr)
        XCTAssertEqual(record.string(at: "status"), "paid", result.stdout + result.stderr)
        XCTAssertEqual(record["validated"]?.string(at: "destination_amount"), "800000000000000000")
        XCTAssertEqual(try evm.tokenBalance(wrapped, of: destination), UInt256(800_000_000_000_000_000))
        // The deposit's output joined the operator's coins on regtest.
        let ledger = try workspace.readLedger()
        XCTAssertEqual(
            try ledger.coinTotals(chain: LitecoinNode.chain, address: CrossChainTransferTests.ltcOperator)["available"],
            80_010_000)
        try checkInvariants()
    }

    // 18 → 8 decimals must be exact: a deposit or a quantity with wei below 10^-8 LTC is refused
    // before anything is credited or locked.
    func testAmountsWithoutAnExactEquivalentAreRefused() throws {
        try fundLitecoinPool(coins: "2")
        let user = EVMNode.accounts[3]
        _ = try evm.transferToken(wrapped, from: 0, to: user, amount: "10000000000000000000")
        let inexact = try evm.transferToken(wrapped, from: 3, to: EVMNode.receiver, amount: "1000000000000000001")
        try evm.mine(3)
        let refused = try workspace.run(
            "tok-validate | tok-verify | tok-apply --db state.sqlite",
            input: depositRequest(id: "inexact", account: user, token: "LTC", tx: inexact))
        XCTAssertEqual(
            refused.record(id: "inexact")?["error"]?.string(at: "code"), "amount_not_exact",
            refused.stdout + refused.stderr)
        XCTAssertEqual(refused.record(id: "inexact")?["error"]?.string(at: "stage"), "verify")

        let exact = try evm.transferToken(wrapped, from: 3, to: EVMNode.receiver, amount: "1000000000000000000")
        try evm.mine(3)
        let destination = try litecoin.newAddress()
        let request = try transferRequest(
            id: "x-inexact", from: (.evm, user), to: (.litecoin, destination),
            quantity: "500000000000000005", maxFee: "100000000000000", depositTx: exact, evmSigner: 3)
        let result = try workspace.run(throughApply, input: request)
        XCTAssertEqual(
            result.record(id: "x-inexact")?["error"]?.string(at: "code"), "amount_not_exact",
            result.stdout + result.stderr)
        let balance = try workspace.run(
            "tok-apply --db state.sqlite",
            input:
                "{\"op\":\"balance\",\"id\":\"b\",\"source\":{\"account\":\"\(user)\",\"network\":\"evm-local\",\"token\":\"LTC\"}}"
        )
        XCTAssertEqual(balance.record(id: "b")?["balance"]?.string(at: "available"), "0", balance.stdout)
        XCTAssertEqual(balance.record(id: "b")?["balance"]?.string(at: "locked"), "0", balance.stdout)
        try checkInvariants()
    }
}
