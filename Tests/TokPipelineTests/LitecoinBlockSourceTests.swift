import Foundation
import XCTest
@testable import TokShared

/// UTXOBlockSource and RawBlock against a real litecoind on regtest, whose blocks carry the
/// SegWit serialisation (a coinbase witness, and witnesses of P2WPKH spends): parsed from
/// raw bytes and compared with the node's verbose answers, txids and witness hashes included.
final class LitecoinBlockSourceTests: RegtestNodeTestCase {
    var node: LitecoinNode { regtestNode as! LitecoinNode }
    let chain = UTXOChains.litecoinRegtest

    override func startNode() throws -> RegtestNode { try LitecoinNode() }

    func testSegWitBlocksReadRawMatchTheNodesOwnView() async throws {
        let miner = try node.newAddress()
        try node.mine(110, to: miner)  // coinbase maturity 100
        let segWitAddress = try node.call("getnewaddress", "[\"\", \"bech32\"]").stringValue!
        let legacy = try node.newAddress()
        let funding = try node.send(from: [miner], to: segWitAddress, coins: "12.34567891")
        try node.mine(1, to: miner)
        let segWitSpend = try node.send(from: [segWitAddress], to: legacy, coins: "2.00000001")
        let eighty = [UInt8](repeating: 0x80, count: 80)
        let anchored = try node.sendData(eighty, from: miner)
        let tooLong = try node.signedTransaction(from: [miner], payments: [], data: [UInt8](repeating: 0x81, count: 81))
        XCTAssertThrowsError(try node.sendRawTransaction(tooLong)) {
            XCTAssertTrue("\($0)".contains("scriptpubkey"), "\($0)")
        }
        let hash = try node.mine(1, to: miner)[0]!.stringValue!

        let blockAnswer = try await source.block(hash: hash)
        let block = try XCTUnwrap(blockAnswer)
        try BlockComparison.assertMatches(
            block, verboseBlock: try node.verboseBlock(hash), transaction: node.verboseTransaction, chain: chain)
        XCTAssertTrue(block.transactions[0].hasWitness, "the coinbase carries the witness reserved value")
        let byId = Dictionary(uniqueKeysWithValues: block.transactions.map { ($0.txid, $0) })
        let spend = try XCTUnwrap(byId[segWitSpend])
        XCTAssertTrue(spend.hasWitness)
        XCTAssertNotEqual(spend.witnessHash, spend.txid)
        XCTAssertEqual(spend.outputs.first { $0.address(chain: chain) == legacy }?.valueBaseUnits, 200_000_001)
        XCTAssertEqual(
            byId[anchored]?.outputs.map(\.nullDataContent).filter { $0 != .notNullData },
            [.data(eighty, scriptByteCount: 83)])

        // The spent P2WPKH output, fetched raw: its value exact, and no legacy address for it.
        let spentAnswer = try await source.spentOutputs(of: [spend])
        let spent = try XCTUnwrap(spentAnswer.first)
        XCTAssertEqual(spent.first?.valueBaseUnits, 1_234_567_891)
        XCTAssertNil(spent.first?.address(chain: chain))
        let fundingAnswer = try await source.transactions(txids: [funding])
        XCTAssertEqual(fundingAnswer.map(\.txid), [funding])
        XCTAssertFalse(fundingAnswer[0].hasWitness, "spent from a legacy address")
        let spendAnswer = try await source.transactions(txids: [segWitSpend])
        try BlockComparison.assertMatches(
            spendAnswer[0], verbose: try node.verboseTransaction(segWitSpend), chain: chain)
    }

    func testReorganisationOnLitecoin() async throws {
        try node.mine(5)
        let abandoned = try node.mine(1)[0]!.stringValue!
        try node.invalidateBlock(abandoned)
        try node.mine(2)
        let headerAnswer = try await source.header(hash: abandoned)
        XCTAssertEqual(headerAnswer?.confirmations, -1)
        let tip = try await source.tipHeight()
        XCTAssertEqual(tip, 7)
    }
}
