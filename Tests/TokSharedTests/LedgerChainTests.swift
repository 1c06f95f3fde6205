import Foundation
import Logging
import XCTest
@testable import TokShared
import TokTestSupport

/// The ledger's chain transitions on synthetic blocks: connect with undo data,
/// disconnect checked against it, maturity at the level, shortfalls, and the
/// per-block state hash. No node: the blocks are made here.
class LedgerChainTests: XCTestCase {
    class var engine: TestEngine { .sqlite }
    var directory: URL!
    var config: TokConfig!
    var network: NetworkConfig!
    var ledger: Ledger!

    static let chain = "bip122:3d2160a3b5dc4a9d62e7e66a295f7031"
    static let alice = "mzgwaHSChneLwimDh9bvADYKdjEyUYJkfp"
    static var aliceAccount: String { "\(chain):\(alice)" }
    static let asset = "\(chain)/slip44:3"

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tok-chain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        config = try TokConfig.parse(text: """
            [[tokens]]
            alias = "DOGE"
            decimals = 8

            [[networks]]
            alias = "doge"
            chain = "\(LedgerChainTests.chain)"
            rpc_url = "http://127.0.0.1:9"
            receiver = "n3GNqMveyvaPvUbH469vDRadqpJMPc84JA"
            confirmations = 3
            follow_start_height = 100

              [[networks.assets]]
              token = "DOGE"
              asset = "\(LedgerChainTests.asset)"
              decimals = 8
            """, file: "t", environment: [:])
        network = config.networks[0]
        ledger = try openLedger("ledger.db")
    }

    override func tearDownWithError() throws {
        ledger = nil
        try? FileManager.default.removeItem(at: directory)
    }

    func openLedger(_ name: String) throws -> Ledger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let ledger = try openTestLedger(engine: Self.engine,
                                        location: try TestDatabase.make(Self.engine, directory: directory.path, file: name), logger: logger)
        try ledger.bindTokenUnits(config.tokens)
        return ledger
    }

    static func hash(_ label: String) -> String { Hex.encode(Hashing.sha256(Array(label.utf8))) }

    /// Block `height` of branch `branch`, its parent on `parentBranch`, paying the receiver `payments`.
    func block(_ height: Int64, _ branch: String = "a", parent parentBranch: String? = nil,
               payments: [(tx: String, koinu: UInt64, sender: String?)] = []) -> FollowedBlock {
        FollowedBlock(
            network: LedgerChainTests.chain, height: height, hash: LedgerChainTests.hash("\(branch)\(height)"),
            previousHash: LedgerChainTests.hash("\(parentBranch ?? branch)\(height - 1)"), timeUnixSeconds: 1_700_000_000 + height,
            payments: payments.map { payment in
                DetectedPayment(tx: LedgerChainTests.hash(payment.tx), asset: LedgerChainTests.asset, amount: UInt256(payment.koinu),
                                outputs: [Coin(tx: LedgerChainTests.hash(payment.tx), index: 0, value: payment.koinu)],
                                sender: payment.sender, unproven: payment.sender == nil ? "mixed_inputs" : nil)
            })
    }

    @discardableResult
    func connect(_ block: FollowedBlock, into ledger: Ledger? = nil) throws -> BlockOutcome {
        let target = ledger ?? self.ledger!
        return try target.inBatch {
            try target.inRecordSavepoint { () throws(TokError) in
                try target.connectBlock(block, network: self.network, config: self.config, nowMilliseconds: testNowMilliseconds)
            }
        }
    }

    @discardableResult
    func disconnect(_ block: FollowedBlock, from ledger: Ledger? = nil) throws -> BlockOutcome {
        let target = ledger ?? self.ledger!
        return try target.inBatch {
            try target.inRecordSavepoint { () throws(TokError) in
                try target.disconnectBlock(chain: block.network, height: block.height, hash: block.hash,
                                           nowMilliseconds: testNowMilliseconds)
            }
        }
    }

    func available(_ ledger: Ledger? = nil) throws -> UInt256 {
        try (ledger ?? self.ledger!).balance(account: LedgerChainTests.aliceAccount, token: "DOGE").available
    }

    func expectCode(_ code: ErrorCode, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            var found = error as? TokError
            if case .abandoned(let cause)? = error as? Ledger.BatchFailure { found = cause as? TokError }
            XCTAssertEqual(found?.code, code, "\(error)", file: file, line: line)
        }
    }

    // The first block must be at follow_start_height; each next one must extend the tip; a block taken twice is a duplicate.
    func testBlocksExtendTheTip() throws {
        expectCode(.notNextBlock) { try self.connect(self.block(99)) }
        try connect(block(100))
        XCTAssertEqual(try connect(block(100)), .duplicate("block \(block(100).hash) at height 100 is already connected"))
        expectCode(.notNextBlock) { try self.connect(self.block(102)) }
        expectCode(.notNextBlock) { try self.connect(self.block(101, "b", parent: "b")) }
        try connect(block(101))
        XCTAssertEqual(try ledger.chainTip(chain: LedgerChainTests.chain)?.height, 101)
        expectCode(.notNextBlock) { try self.disconnect(self.block(100)) }
        XCTAssertEqual(try disconnect(block(7, "zz")), .duplicate("block \(block(7, "zz").hash) is not connected"))
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A payment is credited when its block is 3 deep, exactly once; a payment proving no sender never is.
    func testPaymentsMatureAtTheLevel() throws {
        try connect(block(100, payments: [("p", 5_000, LedgerChainTests.alice), ("u", 7_000, nil)]))
        try connect(block(101))
        XCTAssertEqual(try available(), .zero)
        try connect(block(102))
        XCTAssertEqual(try available(), UInt256(5_000))
        try connect(block(103))
        XCTAssertEqual(try available(), UInt256(5_000), "once")
        XCTAssertEqual(try ledger.unattributedPayments(limit: 10).map(\.amount), [UInt256(7_000)])
        XCTAssertEqual(try ledger.watchedCoins(chain: LedgerChainTests.chain), ["\(LedgerChainTests.hash("p")):0"])
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A reorganisation shallower than the level: the block that matured a payment is undone, the credit stays,
    // and the new branch's block matures it again (same facts); one deeper removes a pending payment for good.
    func testShallowReorgKeepsTheCredit() throws {
        try connect(block(100, payments: [("p", 5_000, LedgerChainTests.alice)]))
        try connect(block(101))
        try connect(block(102))
        XCTAssertEqual(try available(), UInt256(5_000))
        try disconnect(block(102))
        XCTAssertEqual(try available(), UInt256(5_000), "a credit stays while its own block does")
        try connect(block(102, "b", parent: "a"))
        XCTAssertEqual(try available(), UInt256(5_000))
        XCTAssertEqual(try ledger.checkInvariants(), [])

        try connect(block(103, "b", parent: "b", payments: [("q", 1_000, LedgerChainTests.alice)]))
        try disconnect(block(103, "b", parent: "b"))
        try connect(block(103, "c", parent: "b"))
        try connect(block(104, "c", parent: "c"))
        try connect(block(105, "c", parent: "c"))
        XCTAssertEqual(try available(), UInt256(5_000), "the payment whose block left was never credited")
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A reorganisation that removes a credited payment's own block: the credit stays, a shortfall opens, payouts
    // are refused and check reports it; the payment mined again resolves it, and the undo of that block reopens it.
    func testShortfallOpensAndResolves() throws {
        try connect(block(100, payments: [("p", 5_000, LedgerChainTests.alice)]))
        try connect(block(101))
        try connect(block(102))
        for height in [102, 101, 100] as [Int64] { try disconnect(block(height)) }
        XCTAssertEqual(try available(), UInt256(5_000))
        XCTAssertEqual(try ledger.checkInvariants().filter { $0.hasPrefix("shortfall") }.count, 1)
        XCTAssertEqual(try ledger.coinTotals(chain: LedgerChainTests.chain, address: network.receiver)["available"], nil,
                       "the coin left with its transaction")
        let payout = PayoutToPrepare(
            requestId: "out-1", op: .payout, account: LedgerChainTests.aliceAccount, token: "DOGE", quantity: UInt256(100),
            fee: .zero, failureFee: .zero, destination: LedgerChainTests.aliceAccount, destinationChain: LedgerChainTests.chain,
            destinationAsset: LedgerChainTests.asset, destinationAmount: UInt256(100), sender: network.receiver,
            spendGuard: .coins(inputs: [Coin(tx: LedgerChainTests.hash("p"), index: 0, value: 5_000)], change: nil),
            tx: LedgerChainTests.hash("out"), rawTx: "00")
        expectCode(.accountInShortfall) {
            _ = try self.ledger.inBatch { try self.ledger.preparePayout(payout, nowMilliseconds: testNowMilliseconds) }
        }

        try connect(block(100, "b", parent: "a", payments: [("p", 5_000, LedgerChainTests.alice)]))
        try connect(block(101, "b", parent: "b"))
        try connect(block(102, "b", parent: "b"))
        XCTAssertEqual(try available(), UInt256(5_000), "credited once")
        XCTAssertEqual(try ledger.checkInvariants(), [], "mined again: resolved")
        XCTAssertEqual(try ledger.coinTotals(chain: LedgerChainTests.chain, address: network.receiver)["available"], 5_000)

        try disconnect(block(102, "b", parent: "b"))
        XCTAssertEqual(try ledger.checkInvariants().filter { $0.hasPrefix("shortfall") }.count, 1, "undone: open again")
        try connect(block(102, "b", parent: "b"))
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // The operator closes a shortfall that will not resolve itself; payouts go through again.
    func testOperatorResolvesAShortfall() throws {
        try connect(block(100, payments: [("p", 5_000, LedgerChainTests.alice)]))
        try connect(block(101))
        try connect(block(102))
        for height in [102, 101, 100] as [Int64] { try disconnect(block(height)) }
        expectCode(.unknownRequest) { try self.ledger.inBatch { try self.ledger.resolveShortfall(id: 99, note: "x", nowMilliseconds: 0) } }
        try ledger.inBatch { try self.ledger.resolveShortfall(id: 1, note: "double spent; settled with the user", nowMilliseconds: 0) }
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // MARK: Two assets in one transaction (an EVM batching contract)

    static let evmChain = "eip155:1337"
    static let evmSender = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    static let eth = "\(evmChain)/slip44:60"
    static let tokenContract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    static let tok = "\(evmChain)/erc20:\(tokenContract)"

    /// Follows an EVM network with ETH and one ERC-20 instead of the UTXO one.
    func useEVMNetwork() throws {
        config = try TokConfig.parse(text: """
            [[tokens]]
            alias = "ETH"

            [[tokens]]
            alias = "TOK"

            [[networks]]
            alias = "evm"
            chain = "\(LedgerChainTests.evmChain)"
            rpc_url = "http://127.0.0.1:9"
            receiver = "0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528"
            confirmations = 3
            follow_start_height = 100

              [[networks.assets]]
              token = "ETH"
              asset = "\(LedgerChainTests.eth)"
              decimals = 18

              [[networks.assets]]
              token = "TOK"
              asset = "\(LedgerChainTests.tok)"
              decimals = 18
            """, file: "t", environment: [:])
        network = config.networks[0]
        try ledger.bindTokenUnits(config.tokens)
    }

    /// An EVM block of branch `branch` whose transaction `tx` pays the receiver in both assets (nil sender: unproven).
    func evmBlock(_ height: Int64, _ branch: String = "a", parent parentBranch: String? = nil, paying tx: String? = nil,
                  sender: String? = evmSender) -> FollowedBlock {
        let payments = tx.map { tx in
            [(LedgerChainTests.eth, UInt256(1_000)), (LedgerChainTests.tok, UInt256(2_000))].map { asset, amount in
                DetectedPayment(tx: "0x" + LedgerChainTests.hash(tx), asset: asset, amount: amount, outputs: [], sender: sender,
                                unproven: sender == nil ? "mixed_senders" : nil)
            }
        } ?? []
        return FollowedBlock(network: LedgerChainTests.evmChain, height: height, hash: "0x" + LedgerChainTests.hash("evm\(branch)\(height)"),
                             previousHash: "0x" + LedgerChainTests.hash("evm\(parentBranch ?? branch)\(height - 1)"),
                             timeUnixSeconds: 1_700_000_000 + height, payments: payments)
    }

    func evmAvailable(_ token: String) throws -> UInt256 {
        try ledger.balance(account: "\(LedgerChainTests.evmChain):\(LedgerChainTests.evmSender)", token: token).available
    }

    // Both assets a transaction pays are credited at the level, each once under its own automatic id; when the
    // block leaves the chain each opens its shortfall, and the transaction mined again resolves each one.
    func testTwoAssetsOfOneTransactionAreTwoDeposits() throws {
        try useEVMNetwork()
        let tx = "0x" + LedgerChainTests.hash("batch")
        try connect(evmBlock(100, paying: "batch"))
        try connect(evmBlock(101))
        try connect(evmBlock(102))
        XCTAssertEqual(try evmAvailable("ETH"), UInt256(1_000))
        XCTAssertEqual(try evmAvailable("TOK"), UInt256(2_000))
        XCTAssertEqual(try ledger.requestState(id: "auto:\(LedgerChainTests.evmChain):\(tx)")?.token, "ETH")
        XCTAssertEqual(try ledger.requestState(id: "auto:\(LedgerChainTests.evmChain):\(tx):\(LedgerChainTests.tokenContract)")?.amount, "2000")
        XCTAssertEqual(try ledger.checkInvariants(), [])

        for height in [102, 101, 100] as [Int64] { try disconnect(evmBlock(height)) }
        XCTAssertEqual(try ledger.checkInvariants().filter { $0.hasPrefix("shortfall") }.count, 2, "one per deposit")
        try connect(evmBlock(100, "b", parent: "a", paying: "batch"))
        try connect(evmBlock(101, "b", parent: "b"))
        try connect(evmBlock(102, "b", parent: "b"))
        XCTAssertEqual(try evmAvailable("ETH"), UInt256(1_000), "credited once")
        XCTAssertEqual(try evmAvailable("TOK"), UInt256(2_000), "credited once")
        XCTAssertEqual(try ledger.checkInvariants(), [], "mined again: both resolved")
        try disconnect(evmBlock(102, "b", parent: "b"))
        XCTAssertEqual(try ledger.checkInvariants().filter { $0.hasPrefix("shortfall") }.count, 2, "undone: both open again")
    }

    // Unattributed payments in two assets of one transaction: the operator names the asset, and each is
    // credited once under its own id.
    func testOperatorResolvesEachAssetOfAnUnattributedTransaction() throws {
        try useEVMNetwork()
        let tx = "0x" + LedgerChainTests.hash("mixed")
        try connect(evmBlock(100, paying: "mixed", sender: nil))
        try connect(evmBlock(101))
        try connect(evmBlock(102))
        let account = "\(LedgerChainTests.evmChain):\(LedgerChainTests.evmSender)"
        expectCode(.missingField) {
            _ = try self.ledger.inBatch {
                try self.ledger.resolveUnattributed(network: self.network, config: self.config, tx: tx, account: account,
                                                    nowMilliseconds: 0)
            }
        }
        for asset in [LedgerChainTests.tok, LedgerChainTests.eth] {
            let outcome = try ledger.inBatch {
                try self.ledger.resolveUnattributed(network: self.network, config: self.config, tx: tx, asset: asset,
                                                    account: account, nowMilliseconds: 0)
            }
            XCTAssertEqual(outcome, .credited(availableAfter: UInt256(asset == LedgerChainTests.eth ? 1_000 : 2_000)))
        }
        XCTAssertEqual(try ledger.requestState(id: "resolved:\(LedgerChainTests.evmChain):\(tx):\(LedgerChainTests.tokenContract)")?.token, "TOK")
        XCTAssertEqual(try ledger.requestState(id: "resolved:\(LedgerChainTests.evmChain):\(tx)")?.token, "ETH")
        XCTAssertEqual(try ledger.unattributedPayments(limit: 10), [])
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // The operator credits an unattributed payment once it is at the level, and only once.
    func testOperatorResolvesAnUnattributedPayment() throws {
        try connect(block(100, payments: [("u", 7_000, nil)]))
        expectCode(.notVerified) {
            _ = try self.ledger.inBatch {
                try self.ledger.resolveUnattributed(network: self.network, config: self.config, tx: LedgerChainTests.hash("u"),
                                                    account: LedgerChainTests.aliceAccount, nowMilliseconds: 0)
            }
        }
        try connect(block(101))
        try connect(block(102))
        let outcome = try ledger.inBatch {
            try self.ledger.resolveUnattributed(network: self.network, config: self.config, tx: LedgerChainTests.hash("u"),
                                                account: LedgerChainTests.aliceAccount, nowMilliseconds: 0)
        }
        XCTAssertEqual(outcome, .credited(availableAfter: UInt256(7_000)))
        expectCode(.unknownRequest) {
            _ = try self.ledger.inBatch {
                try self.ledger.resolveUnattributed(network: self.network, config: self.config, tx: LedgerChainTests.hash("u"),
                                                    account: LedgerChainTests.aliceAccount, nowMilliseconds: 0)
            }
        }
        XCTAssertEqual(try ledger.unattributedPayments(limit: 10), [])
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // Following the final chain directly, or with a detour through an abandoned branch, gives the same state hash.
    func testStateHashDoesNotDependOnTheDetour() throws {
        let direct = try openLedger("direct.db")
        let finalChain = [block(100, payments: [("p", 5_000, LedgerChainTests.alice)]), block(101), block(102, "b", parent: "a"),
                          block(103, "b", parent: "b"), block(104, "b", parent: "b")]
        for block in finalChain { try connect(block, into: direct) }

        for block in finalChain.prefix(2) { try connect(block) }
        let detour = [block(102, payments: [("q", 1_000, LedgerChainTests.alice)]), block(103)]
        for block in detour { try connect(block) }
        for block in detour.reversed() { try disconnect(block) }
        for block in finalChain.dropFirst(2) { try connect(block) }

        XCTAssertEqual(try ledger.chainTip(chain: LedgerChainTests.chain), try direct.chainTip(chain: LedgerChainTests.chain))
        XCTAssertEqual(try available(), try available(direct))
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }
}
