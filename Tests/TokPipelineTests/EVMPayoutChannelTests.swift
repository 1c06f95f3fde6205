import Foundation
import XCTest
@testable import TokShared

/// EVMPayoutChannel against a real local chain (eth-tester + py-evm): signed
/// transactions are really executed, so balances, nonces, reverts and receipts
/// are the chain's own, not a mock's.
final class EVMPayoutChannelTests: XCTestCase {
    nonisolated(unsafe) static var sharedNode: EVMNode?
    nonisolated(unsafe) static var sharedToken: String?
    nonisolated(unsafe) static var startError: Error?

    override class func setUp() {
        super.setUp()
        do {
            let node = try EVMNode()
            sharedToken = try node.deployToken()
            // The operator (account #10) pays token payouts; give it tokens once.
            _ = try node.transferToken(sharedToken!, from: 0, to: EVMNode.receiver, amount: "1000000000000000000000")
            sharedNode = node
        } catch {
            startError = error
        }
    }

    override class func tearDown() {
        sharedNode?.stop()
        sharedNode = nil
        super.tearDown()
    }

    /// The configured operator, EVMNode.receiver: funded account #10, key 0x…0a.
    let sender = EVMNode.receiver
    let operatorKey = try! PrivateKey(hex: String(repeating: "0", count: 63) + "a")
    /// tokdev_* index of the operator account.
    let senderIndex = 9

    /// The live node, or the reason the node tests cannot run.
    func liveNode() throws -> (node: EVMNode, token: String) {
        if let skip = EVMPayoutChannelTests.startError as? XCTSkip { throw skip }
        if let error = EVMPayoutChannelTests.startError { throw error }
        return (EVMPayoutChannelTests.sharedNode!, EVMPayoutChannelTests.sharedToken!)
    }

    /// A channel built the way tok-verify builds it: config text → network → family.
    func channel(
        networkLines: String = "", rewrite: (String) -> String = { $0 }
    ) throws -> (PayoutChannel, NetworkConfig) {
        let (node, token) = try liveNode()
        let text = rewrite(
            node.config(token: token).replacingOccurrences(
                of: "rpc_retries = 2\n", with: "rpc_retries = 2\n" + networkLines))
        let config = try TokConfig.parse(text: text, file: "test", environment: [:])
        let network = config.networks[0]
        return (
            network.family.payoutChannel(for: network, logger: TokLogging.logger(tool: "test", level: "error")), network
        )
    }

    func order(
        _ network: NetworkConfig, token: String, to destination: String, amount: UInt256, nonce: UInt64,
        sender: String? = nil
    ) -> PayoutOrder {
        PayoutOrder(
            requestId: "p-\(nonce)-\(token)", destination: destination, amount: amount,
            mapping: network.assets.first { $0.token == token }!, sender: sender ?? self.sender, nonce: nonce)
    }

    func freshAddress() -> String {
        EVMAddress.fromPublicKey(uncompressed65: PrivateKey.generate().publicKey(compressed: false))
    }

    func weiBalance(_ address: String) throws -> UInt256 {
        try UInt256(hex: liveNode().node.call("eth_getBalance", "[\"\(address)\",\"latest\"]").stringValue!)!
    }

    func tokenBalance(_ owner: String) throws -> UInt256 {
        let (node, token) = try liveNode()
        return UInt256(
            hex: try node.call("tokdev_tokenBalance", "[{\"token\":\"\(token)\",\"owner\":\"\(owner)\"}]").stringValue!)!
    }

    func signed(
        _ channel: PayoutChannel, _ orders: [PayoutOrder], key: PrivateKey? = nil
    ) async throws -> [SignedPayout] {
        try await channel.sign(orders, key: key ?? operatorKey).map { try $0.get() }
    }

    // MARK: Against the chain

    // A native payout: deterministic signature, accepted, mined, confirmations counted, exact amount arrives.
    func testNativePayoutIsSignedSentMinedAndObserved() async throws {
        let (channel, network) = try channel()
        let destination = freshAddress()
        let amount = try UInt256(decimal: "1234567890123456789")
        let nonce = try await channel.chainNonce(sender: sender)
        let payout = try await signed(
            channel, [order(network, token: "ETH", to: destination, amount: amount, nonce: nonce)])[0]
        // RFC 6979: the same order and fees sign to the same bytes, so re-signing never forks the payout.
        let again = try await signed(
            channel, [order(network, token: "ETH", to: destination, amount: amount, nonce: nonce)])[0]
        XCTAssertEqual(again.txId, payout.txId)
        XCTAssertEqual(again.rawHex, payout.rawHex)
        XCTAssertEqual(payout.txId.count, 66)
        XCTAssertEqual(payout.nonce, nonce)

        let (transaction, from) = try EVMTransaction.decode(rawHex: payout.rawHex)
        XCTAssertEqual(from, sender)
        XCTAssertEqual(transaction.to.checksummed, destination)
        XCTAssertEqual(transaction.valueWei, amount)
        XCTAssertEqual(transaction.data, [])
        XCTAssertEqual(transaction.gasLimit, 25_200, "21000 estimate + 20 % margin")
        guard case .eip1559(let tipWei, let maxFeeWei) = transaction.kind else {
            return XCTFail("this chain has a base fee: expected type 2")
        }
        XCTAssertLessThanOrEqual(tipWei, network.priorityFeePerGasWei)
        XCTAssertEqual(payout.maxNetworkFee, UInt256(transaction.gasLimit).multiplied(by: maxFeeWei))

        let sent = await channel.broadcast([payout])
        XCTAssertEqual(sent.count, 1)
        XCTAssertEqual(try sent[0].get(), .accepted)
        guard
            case .mined(let blockHash, let blockNumber, let confirmations, let succeeded) = try await channel.observe([
                payout
            ])[0].get()
        else {
            return XCTFail("auto-mine should have mined the payout")
        }
        XCTAssertTrue(succeeded)
        XCTAssertEqual(confirmations, 1)
        try liveNode().node.mine(2)
        let later = try await channel.observe([payout])[0].get()
        XCTAssertEqual(later, .mined(blockHash: blockHash, blockNumber: blockNumber, confirmations: 3, succeeded: true))
        XCTAssertEqual(try weiBalance(destination), amount)
        let nonceAfter = try await channel.chainNonce(sender: sender)
        XCTAssertEqual(nonceAfter, nonce + 1)

        // Re-broadcasting the mined payout is harmless and reported as accepted; nothing moves twice.
        let rebroadcast = try await channel.broadcast([payout])[0].get()
        XCTAssertEqual(rebroadcast, .accepted)
        try liveNode().node.mine(1)
        XCTAssertEqual(try weiBalance(destination), amount)
    }

    // An ERC-20 payout calls transfer on the contract and moves exactly the amount.
    func testTokenPayoutTransfersExactlyTheAmount() async throws {
        let (channel, network) = try channel()
        let token = try liveNode().token
        let destination = freshAddress()
        let amount = try UInt256(decimal: "4200000000000000001")
        let nonce = try await channel.chainNonce(sender: sender)
        let payout = try await signed(
            channel, [order(network, token: "TOK", to: destination, amount: amount, nonce: nonce)])[0]
        let (transaction, _) = try EVMTransaction.decode(rawHex: payout.rawHex)
        XCTAssertEqual(transaction.to, try EVMAddress(hex: token))
        XCTAssertEqual(transaction.valueWei, .zero)
        XCTAssertEqual(transaction.data, ERC20Call.transfer(to: try EVMAddress(hex: destination), amount: amount))
        XCTAssertGreaterThan(transaction.gasLimit, 21_000)

        let sentOnce = try await channel.broadcast([payout])[0].get()
        XCTAssertEqual(sentOnce, .accepted)
        let sentTwice = try await channel.broadcast([payout])[0].get()
        XCTAssertEqual(sentTwice, .accepted, "re-broadcast is safe")
        guard case .mined(_, _, _, let succeeded) = try await channel.observe([payout])[0].get() else {
            return XCTFail("not mined")
        }
        XCTAssertTrue(succeeded)
        XCTAssertEqual(try tokenBalance(destination), amount)
    }

    // Two orders with consecutive nonces, signed and sent as one group, both mine in nonce order.
    func testConsecutiveNoncesBothMine() async throws {
        let (channel, network) = try channel()
        let first = freshAddress(), second = freshAddress()
        let nonce = try await channel.chainNonce(sender: sender)
        let payouts = try await signed(
            channel,
            [
                order(network, token: "ETH", to: first, amount: UInt256(1_000), nonce: nonce),
                order(network, token: "TOK", to: second, amount: UInt256(2_000), nonce: nonce + 1),
            ])
        XCTAssertNotEqual(payouts[0].txId, payouts[1].txId)
        let sent = await channel.broadcast(payouts)
        XCTAssertEqual(try sent.map { try $0.get() }, [.accepted, .accepted])
        let seen = try await channel.observe(payouts).map { try $0.get() }
        guard case .mined(_, let firstBlock, _, true) = seen[0], case .mined(_, let secondBlock, _, true) = seen[1]
        else {
            return XCTFail("both should be mined and succeed: \(seen)")
        }
        XCTAssertLessThan(firstBlock, secondBlock)
        XCTAssertEqual(try weiBalance(first), UInt256(1_000))
        XCTAssertEqual(try tokenBalance(second), UInt256(2_000))
        let nonceAfter = try await channel.chainNonce(sender: sender)
        XCTAssertEqual(nonceAfter, nonce + 2)
    }

    // A signed payout whose nonce another transaction took: refused for good, and observed as dropped for good.
    func testNonceTakenByAnotherTransactionIsFinal() async throws {
        let (channel, network) = try channel()
        let node = try liveNode().node
        let nonce = try await channel.chainNonce(sender: sender)
        let payout = try await signed(
            channel, [order(network, token: "ETH", to: freshAddress(), amount: UInt256(5), nonce: nonce)])[0]
        // Never sent, nonce not reached: nothing final can be said yet.
        let beforeSend = try await channel.observe([payout])[0].get()
        XCTAssertEqual(beforeSend, .unknown(nonceConsumed: false))

        _ = try node.sendEth(from: senderIndex, to: freshAddress(), wei: "7")  // takes `nonce` first
        guard case .refused(let reason, let nonceConsumed) = try await channel.broadcast([payout])[0].get() else {
            return XCTFail("a consumed nonce must be refused")
        }
        XCTAssertTrue(nonceConsumed)
        XCTAssertTrue(reason.contains("nonce too low"), reason)
        let afterTaken = try await channel.observe([payout])[0].get()
        XCTAssertEqual(afterTaken, .unknown(nonceConsumed: true))
    }

    // With auto-mine off a sent payout is pending (and counted by chainNonce) until a block includes it.
    func testPendingUntilMined() async throws {
        let (channel, network) = try channel()
        let node = try liveNode().node
        let nonce = try await channel.chainNonce(sender: sender)
        let payout = try await signed(
            channel, [order(network, token: "ETH", to: freshAddress(), amount: UInt256(9), nonce: nonce)])[0]
        try node.call("tokdev_setAutoMine", "[false]")
        defer { _ = try? node.call("tokdev_setAutoMine", "[true]") }
        let sentOnce = try await channel.broadcast([payout])[0].get()
        XCTAssertEqual(sentOnce, .accepted)
        let sentTwice = try await channel.broadcast([payout])[0].get()
        XCTAssertEqual(sentTwice, .accepted, "re-broadcast while pooled")
        let observed = try await channel.observe([payout])[0].get()
        XCTAssertEqual(observed, .pending)
        let pendingNonce = try await channel.chainNonce(sender: sender)
        XCTAssertEqual(pendingNonce, nonce + 1, "pending transactions count")
        try node.mine(1)
        guard case .mined(_, _, 1, true) = try await channel.observe([payout])[0].get() else {
            return XCTFail("not mined")
        }
    }

    // A key that is not the configured sender's is refused before anything is signed or sent.
    func testKeyOfAnotherAccountIsRefused() async throws {
        let (channel, network) = try channel()
        let otherKey = try PrivateKey(hex: String(repeating: "0", count: 63) + "1")
        let results = await channel.sign(
            [order(network, token: "ETH", to: freshAddress(), amount: UInt256(1), nonce: 0)], key: otherKey)
        guard case .failure(let error) = results[0] else { return XCTFail("a foreign key must not sign") }
        XCTAssertEqual(error.code, .badKey)
        XCTAssertTrue(error.message.contains(sender) && error.message.contains(EVMNode.accounts[0]), error.message)
    }

    // A token transfer the treasury cannot cover: refused at signing by eth_estimateGas (py-evm
    // reverts the simulated call); and when the balance drops after signing, mined as reverted.
    func testTokenTransferBeyondBalance() async throws {
        let (channel, network) = try channel()
        let (node, token) = try liveNode()
        let held = try tokenBalance(sender)
        let nonce = try await channel.chainNonce(sender: sender)
        let tooMuch = order(network, token: "TOK", to: freshAddress(), amount: held.adding(UInt256(1))!, nonce: nonce)
        guard case .failure(let error) = await channel.sign([tooMuch], key: operatorKey)[0] else {
            return XCTFail("estimateGas should refuse a transfer beyond the balance")
        }
        // The treasury holds less than the payout: the operator must fund it (issue 13).
        XCTAssertEqual(error.code, .operatorUnderfunded)
        XCTAssertTrue(
            error.message.contains("holds \(held)") && error.message.contains("execution reverted"), error.message)

        // Signed while covered (nonce + 1), then the balance shrinks through nonce itself.
        let destination = freshAddress()
        let payout = try await signed(
            channel, [order(network, token: "TOK", to: destination, amount: held, nonce: nonce + 1)])[0]
        _ = try node.transferToken(token, from: senderIndex, to: freshAddress(), amount: "1")
        let outcome = try await channel.broadcast([payout])[0].get()
        XCTAssertEqual(outcome, .accepted)
        guard case .mined(_, _, _, let succeeded) = try await channel.observe([payout])[0].get() else {
            return XCTFail("not mined")
        }
        XCTAssertFalse(succeeded, "the transfer reverts on chain: receipt status 0")
        XCTAssertEqual(try tokenBalance(destination), .zero)
        let nonceAfter = try await channel.chainNonce(sender: sender)
        XCTAssertEqual(nonceAfter, nonce + 2, "a reverted transaction still uses its nonce")
    }

    // gas_limit_cap: an estimate above it is refused; a plain transfer at exactly 21000 still fits.
    func testGasLimitCap() async throws {
        let (channel, network) = try channel(networkLines: "gas_limit_cap = 21000\n")
        let nonce = try await channel.chainNonce(sender: sender)
        let results = await channel.sign(
            [
                order(network, token: "TOK", to: freshAddress(), amount: UInt256(1), nonce: nonce),
                order(network, token: "ETH", to: freshAddress(), amount: UInt256(1), nonce: nonce),
            ], key: operatorKey)
        guard case .failure(let error) = results[0] else {
            return XCTFail("the token transfer needs more than 21000 gas")
        }
        XCTAssertEqual(error.code, .gasCapExceeded)
        XCTAssertTrue(error.message.contains("gas_limit_cap = 21000"), error.message)
        let (transaction, _) = try EVMTransaction.decode(rawHex: try results[1].get().rawHex)
        XCTAssertEqual(transaction.gasLimit, 21_000, "the margin is clipped to the cap, never below the estimate")
    }

    // max_fee_per_gas_wei below base fee + tip: a transaction that could not be mined now is not signed.
    func testFeeCapBelowBaseFeeIsRefused() async throws {
        let (channel, network) = try channel(networkLines: "max_fee_per_gas_wei = 1\npriority_fee_per_gas_wei = 1\n")
        let results = await channel.sign(
            [order(network, token: "ETH", to: freshAddress(), amount: UInt256(1), nonce: 0)], key: operatorKey)
        guard case .failure(let error) = results[0] else { return XCTFail("a fee cap of 1 wei is below the base fee") }
        XCTAssertEqual(error.code, .gasCapExceeded)
        XCTAssertTrue(error.message.contains("max_fee_per_gas_wei = 1"), error.message)
    }

    // A node serving another chain than configured is refused for signing, sending and observing.
    func testChainMismatchIsRefused() async throws {
        let (channel, network) = try channel {
            $0.replacingOccurrences(of: "eip155:\(EVMNode.chainId)", with: "eip155:1")
        }
        let results = await channel.sign(
            [order(network, token: "ETH", to: freshAddress(), amount: UInt256(1), nonce: 0)], key: operatorKey)
        guard case .failure(let error) = results[0] else { return XCTFail("signed for the wrong chain") }
        XCTAssertEqual(error.code, .chainMismatch)
        let fake = SignedPayout(
            txId: "0x" + String(repeating: "ab", count: 32), rawHex: "0x02", sender: sender, nonce: 0,
            maxNetworkFee: .zero)
        guard case .failure(let sendError) = await channel.broadcast([fake])[0] else {
            return XCTFail("broadcast to the wrong chain")
        }
        XCTAssertEqual(sendError.code, .chainMismatch)
    }

    // MARK: Policy (no chain needed)

    // Node error texts from several clients, read the way the comments in classify explain.
    func testSendErrorClassification() {
        func verdict(_ message: String, code: Int64 = -32000) -> EVMPayoutChannel.SendVerdict {
            EVMPayoutChannel.classify(RPCCallError(code: code, message: message))
        }
        XCTAssertEqual(verdict("already known"), .accepted)
        XCTAssertEqual(verdict("AlreadyKnown"), .accepted)
        XCTAssertEqual(verdict("Known transaction"), .accepted)
        XCTAssertEqual(verdict("TRANSACTION_ALREADY_KNOWN"), .accepted)
        for message in ["nonce too low: address 0x1, tx: 1 state: 2", "Nonce is too low", "NONCE_TOO_LOW", "OldNonce"] {
            guard case .nonceUsed = verdict(message) else { return XCTFail(message) }
        }
        for message in [
            "insufficient funds for gas * price + value", "replacement transaction underpriced",
            "max fee per gas less than block base fee", "fee cap less than block base fee",
            "nonce too high", "txpool is full",
        ] {
            guard case .retry = verdict(message) else { return XCTFail(message) }
        }
        guard case .retry = verdict("whatever", code: -32603) else { return XCTFail("internal errors are not final") }
        for message in [
            "invalid sender", "intrinsic gas too low", "exceeds block gas limit",
            "invalid chain id for signer: have 1 want 2",
        ] {
            guard case .refused = verdict(message) else { return XCTFail(message) }
        }
        guard case .refused(let reason) = verdict(String(repeating: "x", count: 10_000)) else { return XCTFail() }
        XCTAssertLessThan(reason.count, 300, "node messages are quoted with a bound")
    }

    // The fee policy for both markets and its caps.
    func testFeePolicy() throws {
        let gwei = UInt256(1_000_000_000)
        func kind(
            base: UInt256?, price: UInt256? = nil, hint: UInt256? = nil, cap: UInt256 = UInt256(100_000_000_000),
            tipCap: UInt256 = UInt256(2_000_000_000)
        ) throws -> EVMTransaction.Kind {
            try EVMPayoutChannel.feeKind(
                baseFeeWei: base, nodeGasPriceWei: price, suggestedPriorityWei: hint,
                maxFeeCapWei: cap, priorityCapWei: tipCap, networkAlias: "n")
        }
        // EIP-1559: 2 × base + tip; a tip hint above the configured tip is cut to it; no hint → configured tip.
        XCTAssertEqual(
            try kind(base: UInt256(10_000_000_000), hint: gwei),
            .eip1559(maxPriorityFeePerGasWei: gwei, maxFeePerGasWei: UInt256(21_000_000_000)))
        XCTAssertEqual(
            try kind(base: UInt256(10_000_000_000), hint: UInt256(50_000_000_000)),
            .eip1559(maxPriorityFeePerGasWei: UInt256(2_000_000_000), maxFeePerGasWei: UInt256(22_000_000_000)))
        XCTAssertEqual(
            try kind(base: UInt256(10_000_000_000)),
            .eip1559(maxPriorityFeePerGasWei: UInt256(2_000_000_000), maxFeePerGasWei: UInt256(22_000_000_000)))
        // The cap clips 2 × base + tip, but not below base + tip.
        XCTAssertEqual(
            try kind(base: UInt256(10_000_000_000), hint: gwei, cap: UInt256(15_000_000_000)),
            .eip1559(maxPriorityFeePerGasWei: gwei, maxFeePerGasWei: UInt256(15_000_000_000)))
        XCTAssertThrowsError(try kind(base: UInt256(10_000_000_000), hint: gwei, cap: UInt256(10_500_000_000))) {
            error in
            XCTAssertEqual((error as? TokError)?.code, .gasCapExceeded)
        }
        XCTAssertThrowsError(try kind(base: .max, hint: gwei)) { error in
            XCTAssertEqual((error as? TokError)?.code, .gasCapExceeded)
        }
        // Legacy (no base fee): the node's price, capped.
        XCTAssertEqual(try kind(base: nil, price: UInt256(3_000_000_000)), .legacy(gasPriceWei: UInt256(3_000_000_000)))
        XCTAssertEqual(
            try kind(base: nil, price: UInt256(300_000_000_000)), .legacy(gasPriceWei: UInt256(100_000_000_000)))
        XCTAssertThrowsError(try kind(base: nil, price: nil)) { error in
            XCTAssertEqual((error as? TokError)?.code, .rpcError)
        }
    }
}
