import Foundation
import XCTest
@testable import TokShared
import TokTestSupport

/// tok-follow | tok-verify | tok-apply against the local EVM chain
/// (testpeers/evm_node.py, auto-mine: one block per transaction): native and
/// ERC-20 payments to the receiver credited once at the level without a
/// request, agreeing with a requested deposit of the same transaction;
/// reorganisations made with evm_snapshot / evm_revert.
///
/// What the node does on evm_revert (checked below): the blocks after the
/// snapshot leave the chain at once (eth_getBlockByNumber answers null
/// beyond the snapshot's block, mining builds blocks with other hashes at the
/// same heights) and their transactions are forgotten (receipt and
/// transaction null), not returned to a pool: a test re-sends the same
/// signed bytes to have a payment mined again.
class EVMFollowPipelineTests: PipelineTestCase {
    override class func startNodes() throws -> [TestNode] { [try EVMNode()] }

    /// The contracts every test uses, deployed once per node (each engine's class runs its own).
    struct Contracts {
        let token: String
        let otherToken: String
        let twoLogToken: String
    }
    nonisolated(unsafe) static var deployed: [ObjectIdentifier: Contracts] = [:]

    var node: EVMNode!
    var contracts: Contracts!
    var token: String { contracts.token }
    var twoLogToken: String { contracts.twoLogToken }

    let follow = "tok-follow --network evm-local --db state.sqlite | tok-verify --db state.sqlite | tok-apply --db state.sqlite"

    override func setUpWithError() throws {
        try super.setUpWithError()
        node = try node()
        let key = ObjectIdentifier(node)
        if EVMFollowPipelineTests.deployed[key] == nil {
            EVMFollowPipelineTests.deployed[key] = Contracts(
                token: try node.deployToken(), otherToken: try node.deployToken(symbol: "OTHER"),
                twoLogToken: try node.deployCode(from: 0, runtime: TestContracts.twoTransferLogs).address)
        }
        contracts = EVMFollowPipelineTests.deployed[key]
        try writeConfig()
    }

    /// The ledger starts at the next block: what each test does happens in blocks it follows.
    func writeConfig(confirmations: Int = 3, maxReorgDepth: Int = 10, receiver: String = EVMNode.receiver,
                     extraTokens: [(alias: String, contract: String)] = []) throws {
        try workspace.write("tok.toml", node.followConfig(
            receiver: receiver, confirmations: confirmations, followStartHeight: try node.blockNumber() + 1,
            maxReorgDepth: maxReorgDepth, tokens: [("TOK", token), ("MULTI", twoLogToken)] + extraTokens,
            disabledToken: contracts.otherToken))
    }

    func available(_ account: String, _ token: String) throws -> String? {
        try workspace.run("tok-apply --db state.sqlite", input: balanceQuery(id: "q", account: account, token: token) + "\n")
            .record(id: "q")?["balance"]?.string(at: "available")
    }

    func chainStatus(_ space: Workspace? = nil) throws -> JSON? {
        try (space ?? workspace).run("tok-apply chain-status --db state.sqlite").records.first
    }

    func check() throws -> PipelineResult { try workspace.run("tok-apply check --db state.sqlite") }

    func runFollow(_ extra: String = "", in space: Workspace? = nil, file: StaticString = #filePath,
                   line: UInt = #line) throws -> PipelineResult {
        let result = try (space ?? workspace).run(follow.replacingOccurrences(of: "--network evm-local",
                                                                             with: "--network evm-local \(extra)"))
        XCTAssertEqual(result.exitCode, 0, result.stderr, file: file, line: line)
        for record in result.records where record.status == .rejected {
            XCTFail("rejected: \(record.serialized())", file: file, line: line)
        }
        return result
    }

    func payments(_ result: PipelineResult) -> [JSON] {
        result.records.flatMap { $0["block"]?["payments"]?.arrayElements ?? [] }
    }

    // Payments without any request: ETH to the receiver, an ERC-20 transfer, a call of a token contract emitting two
    // Transfer logs to the receiver (one payment, their sum), and a token whose deposits are disabled (not read).
    // Below the level nothing is credited; at 3 confirmations each is credited once, in exact base units, to the
    // sender; following again writes nothing; a request for one of them afterwards is a duplicate.
    func testNativeAndTokenPaymentsAreCreditedOnceAtTheLevel() throws {
        let ethTx = try node.sendEth(from: 1, to: EVMNode.receiver, wei: "1234567890123456789012")
        let tokTx = try node.transferToken(token, from: 0, to: EVMNode.receiver, amount: "500000000000000000001")
        let twoLogTx = try node.sendRaw(node.signed(from: 2, to: twoLogToken, data: TestContracts.twoTransfers(
            to: EVMNode.receiver, (EVMNode.accounts[2], "5"), (EVMNode.accounts[2], "7"))))
        let first = try runFollow()
        XCTAssertEqual(first.records.map(\.status), [.connected, .connected, .connected], first.stdout)
        let seen = payments(first)
        XCTAssertEqual(seen.map { $0.string(at: "tx") }, [ethTx, tokTx, twoLogTx], first.stdout)
        XCTAssertEqual(seen.map { $0.string(at: "amount") }, ["1234567890123456789012", "500000000000000000001", "12"])
        XCTAssertEqual(seen.map { $0.string(at: "sender") }, [EVMNode.accounts[1], EVMNode.accounts[0], EVMNode.accounts[2]])
        XCTAssertEqual(seen.map { $0.string(at: "asset") }, [
            "eip155:\(EVMNode.chainId)/slip44:60", "eip155:\(EVMNode.chainId)/erc20:\(token)",
            "eip155:\(EVMNode.chainId)/erc20:\(twoLogToken)",
        ])
        XCTAssertTrue(seen.allSatisfy { !$0.has("outputs") }, "EVM payments have no outputs")
        XCTAssertEqual(try available(EVMNode.accounts[1], "ETH"), "1234567890123456789012", "3 blocks deep: credited")
        XCTAssertEqual(try available(EVMNode.accounts[0], "TOK"), "0", "2 blocks deep")
        XCTAssertEqual(try available(EVMNode.accounts[2], "MULTI"), "0", "1 block deep")

        _ = try node.transferToken(contracts.otherToken, from: 0, to: EVMNode.receiver, amount: "9")
        _ = try node.sendEth(from: 3, to: EVMNode.accounts[0], wei: "1000")   // not to the receiver
        let second = try runFollow()
        XCTAssertEqual(second.records.count, 2, second.stdout)
        XCTAssertEqual(payments(second).count, 0, second.stdout)
        XCTAssertEqual(try available(EVMNode.accounts[1], "ETH"), "1234567890123456789012")
        XCTAssertEqual(try available(EVMNode.accounts[0], "TOK"), "500000000000000000001")
        XCTAssertEqual(try available(EVMNode.accounts[2], "MULTI"), "12")
        XCTAssertEqual(try available(EVMNode.accounts[0], "OTHER"), "0")
        XCTAssertEqual(try runFollow().stdout, "", "at the tip: nothing more to write")

        let replay = try workspace.run(depositPipeline, input: depositRequest(id: "late", account: EVMNode.accounts[0],
                                                                               token: "TOK", tx: tokTx))
        XCTAssertEqual(replay.record(id: "late")?.string(at: "status"), "duplicate", replay.stdout + replay.stderr)
        XCTAssertEqual(replay.record(id: "late")?["applied"]?.string(at: "first_request"),
                       "auto:eip155:\(EVMNode.chainId):\(tokTx):\(token)", "a token's automatic id names its contract")
        XCTAssertEqual(try available(EVMNode.accounts[0], "TOK"), "500000000000000000001")
        let status = try XCTUnwrap(try chainStatus())
        XCTAssertEqual(status["height"]?.int64Value, Int64(try node.blockNumber()))
        XCTAssertEqual(status.string(at: "hash"), try node.blockHash(try node.blockNumber()))
        XCTAssertEqual(try check().exitCode, 0)
    }

    // Requested deposits credited first (tok-verify proves them from the receipt) keep each payment exactly once when
    // the follower reaches its level; the ledger's state hash equals the one of a ledger that only followed the
    // chain: the request and the follower agree on the account and the amount.
    func testRequestedThenDetectedIsCreditedOnceAndAgrees() throws {
        let ethTx = try node.sendEth(from: 3, to: EVMNode.receiver, wei: "3000000000000000000")
        let twoLogTx = try node.sendRaw(node.signed(from: 1, to: twoLogToken, data: TestContracts.twoTransfers(
            to: EVMNode.receiver, (EVMNode.accounts[1], "1000000000000000000"), (EVMNode.accounts[1], "1"))))
        try node.mine(3)
        let requests = [
            depositRequest(id: "req-eth", account: EVMNode.accounts[3], token: "ETH", tx: ethTx),
            depositRequest(id: "req-multi", account: EVMNode.accounts[1].lowercased(), token: "MULTI", tx: twoLogTx),
        ].joined(separator: "\n")
        let requested = try workspace.run(depositPipeline, input: requests + "\n")
        XCTAssertEqual(requested.record(id: "req-eth")?.string(at: "status"), "credited", requested.stdout + requested.stderr)
        XCTAssertEqual(requested.record(id: "req-multi")?.string(at: "status"), "credited", requested.stdout + requested.stderr)
        let followed = try runFollow()
        XCTAssertEqual(followed.records.compactMap { $0["applied"]?["credited"]?.int64Value }.reduce(0, +), 0,
                       "nothing credited twice: " + followed.stdout)
        XCTAssertEqual(try available(EVMNode.accounts[3], "ETH"), "3000000000000000000")
        XCTAssertEqual(try available(EVMNode.accounts[1], "MULTI"), "1000000000000000001")
        XCTAssertEqual(try check().exitCode, 0)

        let clean = try Workspace(engine: Self.engine)
        try clean.write("tok.toml", try String(contentsOfFile: workspace.path("tok.toml"), encoding: .utf8))
        _ = try runFollow(in: clean)
        let detectedOnly = try XCTUnwrap(try chainStatus(clean)), both = try XCTUnwrap(try chainStatus())
        XCTAssertEqual(detectedOnly.string(at: "hash"), both.string(at: "hash"))
        XCTAssertEqual(detectedOnly.string(at: "state_hash"), both.string(at: "state_hash"), "same accounts, same amounts")
    }

    // Token payments that prove nobody are recorded as unattributed, never credited: Transfer logs of one transaction
    // from two senders, a from topic that is no address, and a mint to the receiver (from the zero address).
    func testUnprovenTokenSendersAreUnattributed() throws {
        let start = try node.blockNumber() + 1
        let mixed = try node.sendRaw(node.signed(from: 1, to: twoLogToken, data: TestContracts.twoTransfers(
            to: EVMNode.receiver, (EVMNode.accounts[1], "4"), (EVMNode.accounts[2], "6"))))
        let oddTopic = try node.sendRaw(node.signed(from: 1, to: twoLogToken, data: TestContracts.twoTransfers(
            to: EVMNode.receiver, ("0x010000000000000000000000" + EVMNode.accounts[1].dropFirst(2), "2"), (EVMNode.accounts[1], "3"))))
        // Deployed by the receiver's own account: the whole supply is minted to it.
        let minted = try node.call("tokdev_deployToken", #"[{"from":9,"name":"Minted","symbol":"MNT","decimals":18,"supply":"77"}]"#)
        try node.mine(3)
        try workspace.write("tok.toml", node.followConfig(
            receiver: EVMNode.receiver, confirmations: 3, followStartHeight: start, maxReorgDepth: 10,
            tokens: [("TOK", token), ("MULTI", twoLogToken), ("MNT", minted.string(at: "address")!)], disabledToken: nil))
        _ = try runFollow()
        XCTAssertEqual(try available(EVMNode.accounts[1], "MULTI"), "0")
        XCTAssertEqual(try available(EVMNode.accounts[2], "MULTI"), "0")
        let listed = try workspace.run("tok-apply --db state.sqlite", input: #"{"op":"unattributed","id":"u"}"# + "\n")
        let entries = listed.record(id: "u")?["unattributed"]?.arrayElements ?? []
        XCTAssertEqual(entries.map { $0.string(at: "tx") }, [mixed, oddTopic, minted.string(at: "txHash")!.lowercased()], listed.stdout)
        XCTAssertEqual(entries.map { $0.string(at: "reason") }, ["mixed_senders", "non_standard_sender", "mint"])
        XCTAssertEqual(entries.map { $0.string(at: "amount") }, ["10", "5", "77"])
        XCTAssertEqual(try check().exitCode, 0)
    }

    // A transaction to the receiver that reverts moves no value: not a payment (its receipt decides, not the
    // transaction's value). Here the receiver is a contract that reverts every call.
    func testRevertedPaymentIsNoPayment() throws {
        let rejecting = try node.deployCode(from: 0, runtime: TestContracts.alwaysReverts).address
        try writeConfig(receiver: rejecting)
        let reverted = try node.sendRaw(node.signed(from: 1, to: rejecting, wei: "5000", gas: 60_000))
        XCTAssertEqual(try node.call("eth_getTransactionReceipt", "[\"\(reverted)\"]").string(at: "status"), "0x0")
        try node.mine(3)
        let followed = try runFollow()
        XCTAssertEqual(followed.records.count, 4, followed.stdout)
        XCTAssertEqual(payments(followed).count, 0, followed.stdout)
        XCTAssertEqual(try available(EVMNode.accounts[1], "ETH"), "0")
    }

    // One transaction paying the receiver in two assets (here the receiver is itself the token contract, called
    // with value): two payments, one per asset, native first, and two deposits: each credited once, the native one
    // under auto:<chain>:<tx> (as before deposits were keyed per asset), the token under auto:<chain>:<tx>:<contract>.
    func testOneTransactionPayingTwoAssetsIsCreditedOncePerAsset() throws {
        try writeConfig(receiver: twoLogToken)
        let tx = try node.sendRaw(node.signed(from: 3, to: twoLogToken, wei: "1000", data: TestContracts.twoTransfers(
            to: twoLogToken, (EVMNode.accounts[3], "5"), (EVMNode.accounts[3], "7"))))
        try node.mine(2)
        let followed = try runFollow()
        let seen = payments(followed)
        XCTAssertEqual(seen.map { $0.string(at: "tx") }, [tx, tx], followed.stdout)
        XCTAssertEqual(seen.map { $0.string(at: "asset") }, ["eip155:\(EVMNode.chainId)/slip44:60",
                                                             "eip155:\(EVMNode.chainId)/erc20:\(twoLogToken)"])
        XCTAssertEqual(seen.map { $0.string(at: "amount") }, ["1000", "12"])
        XCTAssertEqual(try available(EVMNode.accounts[3], "MULTI"), "12")
        XCTAssertEqual(try available(EVMNode.accounts[3], "ETH"), "1000")
        let states = try workspace.sql("SELECT state, request_id FROM detected_payments ORDER BY asset DESC")
        XCTAssertEqual(states.stdout, "credited|auto:eip155:\(EVMNode.chainId):\(tx)\n"
                       + "credited|auto:eip155:\(EVMNode.chainId):\(tx):\(twoLogToken)\n", states.stderr)
        XCTAssertEqual(try check().exitCode, 0)
    }

    // A batching contract pays the receiver two configured ERC-20s in one transaction, found without a request:
    // both credited once each at the level, under ids of their own; requests for both afterwards are duplicates
    // naming those ids; following again writes nothing.
    func testBatchedTokenPaymentsAreBothCredited() throws {
        let second = try node.deployToken(symbol: "TWO")
        try writeConfig(extraTokens: [("TWO", second)])
        // Account 0 deployed both tokens: it holds their supply.
        let batch = try node.batchTransfer(from: 0, to: EVMNode.receiver, (token, "700"), (second, "800"))
        try node.mine(2)
        let followed = try runFollow()
        let seen = payments(followed).filter { $0.string(at: "tx") == batch }
        XCTAssertEqual(seen.map { $0.string(at: "amount") }, ["700", "800"], followed.stdout)
        XCTAssertEqual(try available(EVMNode.accounts[0], "TOK"), "700")
        XCTAssertEqual(try available(EVMNode.accounts[0], "TWO"), "800")

        let replay = try workspace.run(depositPipeline, input: [
            depositRequest(id: "late-tok", account: EVMNode.accounts[0], token: "TOK", tx: batch),
            depositRequest(id: "late-two", account: EVMNode.accounts[0], token: "TWO", tx: batch),
        ].joined(separator: "\n") + "\n")
        XCTAssertEqual(replay.record(id: "late-tok")?.string(at: "status"), "duplicate", replay.stdout + replay.stderr)
        XCTAssertEqual(replay.record(id: "late-tok")?["applied"]?.string(at: "first_request"),
                       "auto:eip155:\(EVMNode.chainId):\(batch):\(token)")
        XCTAssertEqual(replay.record(id: "late-two")?.string(at: "status"), "duplicate", replay.stdout + replay.stderr)
        XCTAssertEqual(replay.record(id: "late-two")?["applied"]?.string(at: "first_request"),
                       "auto:eip155:\(EVMNode.chainId):\(batch):\(second)")
        XCTAssertEqual(try available(EVMNode.accounts[0], "TOK"), "700")
        XCTAssertEqual(try available(EVMNode.accounts[0], "TWO"), "800")
        XCTAssertEqual(try runFollow().stdout, "", "at the tip: nothing more to write")
        XCTAssertEqual(try check().exitCode, 0)
    }

    // A reorganisation removes a payment's block before its level: never credited there. The node forgets the
    // reverted transaction; sent again, it is mined on the new branch and credited once at its level. A ledger that
    // follows the final chain in one run gets the same state hash.
    func testReorgBeforeTheLevel() throws {
        let snapshot = try node.snapshot()
        let payment = try node.signed(from: 1, to: EVMNode.receiver, wei: "7000000000000000000", gas: 21_000)
        let tx = try node.sendRaw(payment)
        let paymentHeight = try node.blockNumber()
        let abandoned = try node.blockHash(paymentHeight)
        _ = try runFollow("--max-blocks 1")
        XCTAssertEqual(try available(EVMNode.accounts[1], "ETH"), "0", "one block deep")

        try node.revert(to: snapshot)
        XCTAssertTrue(try node.call("eth_getTransactionReceipt", "[\"\(tx)\"]").isNull, "the node forgets reverted transactions")
        XCTAssertTrue(try node.call("eth_getBlockByNumber", "[\"\(EVMQuantity.hex(paymentHeight))\",false]").isNull)
        try node.mine(1)
        XCTAssertNotEqual(try node.blockHash(paymentHeight), abandoned, "another block at the same height")
        let afterReorg = try runFollow()
        XCTAssertEqual(afterReorg.records.map { $0.string(at: "status") }, ["undone", "connected"], afterReorg.stdout)
        XCTAssertEqual(payments(afterReorg).count, 0)

        XCTAssertEqual(try node.sendRaw(payment), tx, "the same signed bytes, mined again")
        try node.mine(1)
        _ = try runFollow()
        XCTAssertEqual(try available(EVMNode.accounts[1], "ETH"), "0", "two blocks deep on the new branch")
        try node.mine(1)
        _ = try runFollow()
        XCTAssertEqual(try available(EVMNode.accounts[1], "ETH"), "7000000000000000000", "credited once, on the new branch")
        XCTAssertEqual(try check().exitCode, 0)

        let clean = try Workspace(engine: Self.engine)
        try clean.write("tok.toml", try String(contentsOfFile: workspace.path("tok.toml"), encoding: .utf8))
        _ = try runFollow(in: clean)
        XCTAssertEqual(try chainStatus(clean)?.string(at: "state_hash"), try chainStatus()?.string(at: "state_hash"))
    }

    // A reorganisation deeper than the level after the credit: the credit stays, a shortfall is recorded and check
    // exits 65; the transfer sent again and mined on the new branch resolves it, credited once.
    func testReorgAfterTheCreditRecordsAShortfall() throws {
        try writeConfig(confirmations: 2)
        let snapshot = try node.snapshot()
        let transfer = try node.signed(from: 0, to: token, data: ERC20Call.transfer(
            to: try EVMAddress(hex: EVMNode.receiver), amount: UInt256(9_000)))
        _ = try node.sendRaw(transfer)
        try node.mine(1)
        _ = try runFollow()
        XCTAssertEqual(try available(EVMNode.accounts[0], "TOK"), "9000")

        try node.revert(to: snapshot)
        try node.mine(3)
        let undone = try runFollow("--max-blocks 1")    // the abandoned blocks undone, one block of the new branch taken
        XCTAssertEqual(undone.records.map { $0.string(at: "status") }, ["undone", "undone", "connected"], undone.stdout)
        XCTAssertEqual(undone.records.first { $0["applied"]?.has("shortfalls_opened") == true }?["applied"]?["shortfalls_opened"]?.int64Value, 1)
        XCTAssertEqual(try available(EVMNode.accounts[0], "TOK"), "9000", "a credit is never silently rewritten")
        let shortfall = try check()
        XCTAssertEqual(shortfall.exitCode, 65, shortfall.stdout)
        XCTAssertTrue(shortfall.stdout.contains("shortfall"), shortfall.stdout)

        _ = try node.sendRaw(transfer)
        try node.mine(1)
        _ = try runFollow()                              // the transfer reaches its level again on the new branch
        XCTAssertEqual(try available(EVMNode.accounts[0], "TOK"), "9000", "credited once")
        XCTAssertEqual(try check().exitCode, 0, "resolved by the transfer mined again")
    }

    // A fork deeper than max_reorg_depth stops tok-follow with exit 76 and a clear message; nothing is written.
    func testReorgDeeperThanTheLimitStops() throws {
        try writeConfig(maxReorgDepth: 2)
        let snapshot = try node.snapshot()
        try node.mine(4)
        _ = try runFollow()
        try node.revert(to: snapshot)
        try node.mine(5)
        let stopped = try workspace.run("tok-follow --network evm-local --db state.sqlite")
        XCTAssertEqual(stopped.exitCode, 76, stopped.stderr)
        XCTAssertTrue(stopped.stderr.contains("max_reorg_depth"), stopped.stderr)
        XCTAssertEqual(stopped.stdout, "")
    }

    // A node serving another chain is refused before anything is read.
    func testAnotherChainIsRefused() throws {
        let text = try String(contentsOfFile: workspace.path("tok.toml"), encoding: .utf8)
        try workspace.write("tok.toml", text.replacingOccurrences(of: EVMNode.chainId, with: "1337"))
        let refused = try workspace.run("tok-follow --network evm-local --db state.sqlite")
        XCTAssertEqual(refused.exitCode, 78, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("serves chain \(EVMNode.chainId)"), refused.stderr)
        XCTAssertEqual(refused.stdout, "")
    }
}

/// Hand-assembled contracts for the tests (EVM bytecode: no compiler needed).
enum TestContracts {
    /// Called with 5 words (to, from1, amount1, from2, amount2), emits
    /// Transfer(from1, to, amount1) and Transfer(from2, to, amount2): a token
    /// whose one call pays the receiver twice, from whoever the words say.
    static let twoTransferLogs: [UInt8] = {
        let topic = Hex.decode(String(EVMDepositVerifier.transferTopic.dropFirst(2)))!
        func log(fromWord: UInt8, amountWord: UInt8) -> [UInt8] {
            [0x60, 0x00, 0x35,                 // CALLDATALOAD(0): to → topic 2
             0x60, fromWord, 0x35] +           // from → topic 1
            [0x7f] + topic +                   // PUSH32 Transfer → topic 0
            [0x60, amountWord, 0x35, 0x60, 0x00, 0x52,   // MSTORE(0, amount)
             0x60, 0x20, 0x60, 0x00, 0xa3]     // LOG3(0, 32, …)
        }
        return log(fromWord: 0x20, amountWord: 0x40) + log(fromWord: 0x60, amountWord: 0x80) + [0x00]
    }()

    /// REVERT(0, 0) on every call.
    static let alwaysReverts: [UInt8] = [0x60, 0x00, 0x60, 0x00, 0xfd]

    /// A batching contract: called with 5 words (token1, token2, to, amount1,
    /// amount2), it calls token1.transferFrom(caller, to, amount1) and
    /// token2.transferFrom(caller, to, amount2), and reverts unless both
    /// succeed. The caller approves it first; each token then logs a Transfer
    /// from the caller to `to`, both in the caller's one transaction.
    static let batchTransferFrom: [UInt8] = {
        func transferFrom(tokenWord: UInt8, amountWord: UInt8) -> [UInt8] {
            [0x63, 0x23, 0xb8, 0x72, 0xdd, 0x60, 0xe0, 0x1b, 0x60, 0x00, 0x52,   // MSTORE(0, selector << 224)
             0x33, 0x60, 0x04, 0x52,                                            // MSTORE(4, CALLER)
             0x60, 0x40, 0x35, 0x60, 0x24, 0x52,                                // MSTORE(36, to)
             0x60, amountWord, 0x35, 0x60, 0x44, 0x52,                          // MSTORE(68, amount)
             0x60, 0x00, 0x60, 0x00, 0x60, 0x64, 0x60, 0x00, 0x60, 0x00,        // CALL(gas, token, 0, 0, 100, 0, 0)
             0x60, tokenWord, 0x35, 0x5a, 0xf1]
        }
        let calls = transferFrom(tokenWord: 0x00, amountWord: 0x60) + transferFrom(tokenWord: 0x20, amountWord: 0x80)
        let done = UInt8(calls.count + 9)   // AND PUSH1 JUMPI, then REVERT(0, 0): the JUMPDEST follows
        return calls + [0x16, 0x60, done, 0x57, 0x60, 0x00, 0x60, 0x00, 0xfd, 0x5b, 0x00]
    }()

    /// Init code that deploys `runtime` (at most 255 bytes).
    static func deployment(_ runtime: [UInt8]) -> [UInt8] {
        precondition(runtime.count < 256)
        let size = UInt8(runtime.count)
        return [0x60, size, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, size, 0x60, 0x00, 0xf3] + runtime
    }

    /// An address (or a full 32-byte word) as one 32-byte word of call data.
    static func word(_ hex: String) -> [UInt8] {
        let bytes = Hex.decode(String(hex.dropFirst(2)))!
        return [UInt8](repeating: 0, count: 32 - bytes.count) + bytes
    }

    /// Call data for `twoTransferLogs`; a `from` is an address or a full 32-byte word (24 hex digits more).
    static func twoTransfers(to: String, _ first: (from: String, amount: String), _ second: (from: String, amount: String)) -> [UInt8] {
        return word(to) + word(first.from) + (try! UInt256(decimal: first.amount)).bigEndianBytes
            + word(second.from) + (try! UInt256(decimal: second.amount)).bigEndianBytes
    }
}

extension EVMNode {
    func blockHash(_ height: UInt64) throws -> String? {
        try call("eth_getBlockByNumber", "[\"\(EVMQuantity.hex(height))\",false]").string(at: "hash")
    }

    func snapshot() throws -> String { try call("evm_snapshot").stringValue! }

    func revert(to snapshot: String) throws {
        XCTAssertEqual(try call("evm_revert", "[\"\(snapshot)\"]").boolValue, true)
    }

    func deployCode(from index: Int, runtime: [UInt8]) throws -> (address: String, tx: String) {
        let answer = try call("tokdev_deployCode", "[{\"from\":\(index),\"code\":\"\(Hex.encode(TestContracts.deployment(runtime), prefix: true))\"}]")
        return (answer.string(at: "address")!, answer.string(at: "txHash")!)
    }

    /// An EIP-1559 transaction of account `index` (0-3), signed here: the same bytes can be sent again after a revert.
    func signed(from index: Int, to: String, wei: String = "0", data: [UInt8] = [], gas: UInt64 = 100_000) throws -> SignedEVMTransaction {
        let nonce = EVMQuantity.uint64(try call("eth_getTransactionCount", "[\"\(EVMNode.accounts[index])\",\"pending\"]"))!
        let transaction = EVMTransaction(
            kind: .eip1559(maxPriorityFeePerGasWei: UInt256(1_000_000_000), maxFeePerGasWei: UInt256(100_000_000_000)),
            chainId: UInt64(EVMNode.chainId)!, nonce: nonce, gasLimit: gas, to: try EVMAddress(hex: to),
            valueWei: try UInt256(decimal: wei), data: data)
        return transaction.signed(with: EVMNode.key(index))
    }

    func sendRaw(_ transaction: SignedEVMTransaction) throws -> String {
        try call("eth_sendRawTransaction", "[\"\(transaction.rawHex)\"]").stringValue!
    }

    /// Account `index` pays `to` two ERC-20s in one transaction through a
    /// batching contract (TestContracts.batchTransferFrom) it approved first.
    /// Returns the batch transaction's id.
    func batchTransfer(from index: Int, to: String, _ first: (token: String, amount: String),
                       _ second: (token: String, amount: String)) throws -> String {
        let batcher = try deployCode(from: index, runtime: TestContracts.batchTransferFrom).address
        for token in [first.token, second.token] {
            let approve = [UInt8]([0x09, 0x5e, 0xa7, 0xb3]) + TestContracts.word(batcher) + UInt256.max.bigEndianBytes
            _ = try sendRaw(signed(from: index, to: token, data: approve))
        }
        let words = TestContracts.word(first.token) + TestContracts.word(second.token) + TestContracts.word(to)
            + (try UInt256(decimal: first.amount)).bigEndianBytes + (try UInt256(decimal: second.amount)).bigEndianBytes
        let tx = try sendRaw(signed(from: index, to: batcher, data: words, gas: 300_000))
        XCTAssertEqual(try call("eth_getTransactionReceipt", "[\"\(tx)\"]").string(at: "status"), "0x1", "the batch succeeded")
        return tx
    }

    /// A config with the EVM network followed from `followStartHeight`: ETH and the given ERC-20s with deposits
    /// enabled (18 decimals each), `disabledToken` configured with deposits disabled.
    func followConfig(receiver: String, confirmations: Int, followStartHeight: UInt64, maxReorgDepth: Int,
                      tokens: [(alias: String, contract: String)], disabledToken: String?) -> String {
        let aliases = ["ETH", "OTHER"] + tokens.map(\.alias)
        var text = """
        [attestation]
        key_id = "test"

        [database]
        lock_timeout_milliseconds = 5000

        """
        for alias in aliases { text += "[[tokens]]\nalias = \"\(alias)\"\ndecimals = 18\n\n" }
        text += """
        [[networks]]
        alias = "evm-local"
        chain = "eip155:\(EVMNode.chainId)"
        rpc_url = "\(url)"
        receiver = "\(receiver)"
        confirmations = \(confirmations)
        follow_start_height = \(followStartHeight)
        max_reorg_depth = \(maxReorgDepth)
        rpc_timeout_milliseconds = 10000
        rpc_retries = 2

          [[networks.assets]]
          token = "ETH"
          asset = "eip155:\(EVMNode.chainId)/slip44:60"
          decimals = 18

        """
        for (alias, contract) in tokens {
            text += "  [[networks.assets]]\n  token = \"\(alias)\"\n  asset = \"eip155:\(EVMNode.chainId)/erc20:\(contract)\"\n  decimals = 18\n\n"
        }
        if let disabledToken {
            text += "  [[networks.assets]]\n  token = \"OTHER\"\n  asset = \"eip155:\(EVMNode.chainId)/erc20:\(disabledToken)\"\n  decimals = 18\n  deposit = false\n"
        }
        return text
    }
}
