import Foundation
import XCTest
@testable import TokShared

/// UTXOBlockSource and RawBlock against a real dogecoind on regtest with mainnet policy
/// (-acceptnonstdtxn=0): blocks holding ordinary payments and OP_RETURN transactions are
/// read raw, parsed, and compared field by field with the node's verbose answers; an AuxPoW
/// block; a reorganisation made with invalidateblock. Each test has its own node.
final class DogecoinBlockSourceTests: RegtestNodeTestCase {
    var node: DogecoinNode { regtestNode as! DogecoinNode }
    let chain = UTXOChains.dogecoinRegtest

    /// The tokenisation envelope, then the byte count's worth of payload.
    static func envelope(byteCount: Int) -> [UInt8] {
        [0xfe, 0x00, 0x01, 0xfe] + (0..<byteCount - 4).map { UInt8(truncatingIfNeeded: $0) }
    }

    override func startNode() throws -> RegtestNode { try DogecoinNode() }

    /// Mines `count` blocks to a new address whose first `count - 60` coinbases are then mature.
    private func matureMiner(blocks count: Int = 70) throws -> String {
        let miner = try node.newAddress()
        try node.mine(count, to: miner)
        return miner
    }

    private func mineOne(to address: String) throws -> String { try node.mine(1, to: address)[0]!.stringValue! }

    func testBlocksReadRawMatchTheNodesOwnView() async throws {
        let miner = try matureMiner()
        let receiver = try node.newAddress()
        let payment = try node.fund(receiver, coins: "1234.56780000")
        let eighty = DogecoinBlockSourceTests.envelope(byteCount: 80)
        let anchored = try node.sendData(eighty, from: miner, payments: [(receiver, "0.50000000")])
        let bare = try node.sendRawTransaction(
            try node.signedTransaction(from: [miner], payments: [], extraScripts: [[Opcode.return]]))
        // OP_RETURN followed by another opcode is not null data to the node: non-standard, refused.
        let notPushOnly = try node.signedTransaction(
            from: [miner], payments: [], extraScripts: [[Opcode.return, Opcode.dup]])
        XCTAssertThrowsError(try node.sendRawTransaction(notPushOnly)) {
            XCTAssertTrue("\($0)".contains("scriptpubkey"), "\($0)")
        }
        // 81 bytes is over the 80-byte standard limit: the node refuses it under -acceptnonstdtxn=0.
        let tooLong = try node.signedTransaction(
            from: [miner], payments: [], data: DogecoinBlockSourceTests.envelope(byteCount: 81))
        XCTAssertThrowsError(try node.sendRawTransaction(tooLong)) { error in
            XCTAssertTrue("\(error)".contains("scriptpubkey"), "\(error)")
        }
        let hash = try mineOne(to: miner)

        let tip = try await source.tipHeight()
        XCTAssertEqual(tip, Int64(try node.blockCount()))
        let hashAtTip = try await source.blockHash(height: tip)
        XCTAssertEqual(hashAtTip, hash)
        let headerAnswer = try await source.header(hash: hash)
        let header = try XCTUnwrap(headerAnswer)
        XCTAssertEqual(header.height, tip)
        XCTAssertEqual(header.confirmations, 1)
        XCTAssertNil(header.nextBlockHash)
        let blockAnswer = try await source.block(hash: hash)
        let block = try XCTUnwrap(blockAnswer)
        XCTAssertEqual(header.previousBlockHash, block.previousBlockHash)
        XCTAssertNil(block.auxPow, "generatetoaddress without auxpow mines plain headers")
        try BlockComparison.assertMatches(
            block, verboseBlock: try node.verboseBlock(hash), transaction: node.verboseTransaction, chain: chain)

        let txids = block.transactions.map(\.txid)
        XCTAssertEqual(Set(txids.dropFirst()), [payment, anchored, bare])
        XCTAssertFalse(
            txids.contains(Hex.encode(Hashing.sha256d(Hex.decode(tooLong)!).reversed())),
            "the 81-byte one was never mined")
        let byId = Dictionary(uniqueKeysWithValues: block.transactions.map { ($0.txid, $0) })
        XCTAssertEqual(
            byId[anchored]?.outputs.map(\.nullDataContent).filter { $0 != .notNullData },
            [.data(eighty, scriptByteCount: 83)])
        XCTAssertEqual(
            byId[bare]?.outputs.map(\.nullDataContent).filter { $0 != .notNullData }, [.data([], scriptByteCount: 1)],
            "a bare OP_RETURN is empty data")
        XCTAssertEqual(
            byId[payment]?.outputs.filter { $0.address(chain: chain) == receiver }.map(\.valueBaseUnits),
            [123_456_780_000])
        // The coinbase: the reward plus the fees, and the commitment a scanner of OP_RETURNs must skip.
        let coinbase = block.transactions[0]
        XCTAssertTrue(coinbase.isCoinbase)
        guard case .data(let commitment, _) = coinbase.outputs[1].nullDataContent else {
            return XCTFail("no commitment output")
        }
        XCTAssertEqual(Array(commitment.prefix(4)), [0xaa, 0x21, 0xa9, 0xed])

        // The outputs the inputs spend prove the sender and the fee, in koinu.
        let spendings = block.transactions.filter { !$0.isCoinbase }
        let spent = try await source.spentOutputs(of: spendings)
        for (transaction, outputs) in zip(spendings, spent) {
            XCTAssertEqual(outputs.count, transaction.inputs.count)
            for (input, output) in zip(transaction.inputs, outputs) {
                let previous = try node.verboseTransaction(input.previousOutput.txid)["vout"]![
                    Int(input.previousOutput.vout)]!
                XCTAssertEqual(
                    try CoinAmount.baseUnits(fromDecimalText: previous.string(at: "value")!, decimals: 8),
                    output.valueBaseUnits)
                XCTAssertEqual(previous["scriptPubKey"]?.string(at: "hex"), Hex.encode(output.scriptPubKey))
            }
        }
        let anchoredIndex = try XCTUnwrap(spendings.firstIndex { $0.txid == anchored })
        XCTAssertEqual(spent[anchoredIndex][0].address(chain: chain), miner, "input 0 spends from the chosen address")
        let paidIn = spent[anchoredIndex].reduce(0) { $0 + $1.valueBaseUnits }
        let paidOut = spendings[anchoredIndex].outputs.reduce(0) { $0 + $1.valueBaseUnits }
        XCTAssertEqual(paidIn - paidOut, 1_000_000, "the fee signedTransaction sets")
        let fees = zip(spendings, spent).reduce(UInt64(0)) { sum, pair in
            sum + pair.1.reduce(0) { $0 + $1.valueBaseUnits } - pair.0.outputs.reduce(0) { $0 + $1.valueBaseUnits }
        }
        XCTAssertEqual(coinbase.outputs.reduce(0) { $0 + $1.valueBaseUnits }, DogecoinNode.blockRewardKoinu + fees)
    }

    func testAuxPowBlockFromTheNodeParses() async throws {
        let miner = try matureMiner()
        let receiver = try node.newAddress()
        let payment = try node.fund(receiver, coins: "7.00000001")
        let hash = try node.mineAuxPow(to: miner)
        let blockAnswer = try await source.block(hash: hash)
        let block = try XCTUnwrap(blockAnswer)
        XCTAssertTrue(block.header.hasAuxPowFlag)
        XCTAssertEqual(block.header.auxPowChainId, 0x62)
        let auxPow = try XCTUnwrap(block.auxPow)
        let verbose = try node.verboseBlock(hash)
        try BlockComparison.assertMatches(
            block, verboseBlock: verbose, transaction: node.verboseTransaction, chain: chain)
        XCTAssertEqual(block.transactions.map(\.txid).last, payment)

        try BlockComparison.assertMatches(auxPow, verbose: try XCTUnwrap(verbose["auxpow"]))
        // The parent coinbase commits to this block's hash, as merged mining requires.
        XCTAssertTrue(Hex.encode(auxPow.coinbase.inputs[0].scriptSig).contains(block.hash))
    }

    func testReorganisationLeavesTheAbandonedBlockOffTheMainChain() async throws {
        let miner = try matureMiner()
        let receiver = try node.newAddress()
        let payment = try node.fund(receiver, coins: "42.00000000")
        let abandoned = try mineOne(to: miner)
        let abandonedHeaderAnswer = try await source.header(hash: abandoned)
        let abandonedHeader = try XCTUnwrap(abandonedHeaderAnswer)
        XCTAssertEqual(abandonedHeader.confirmations, 1)

        try node.invalidateBlock(abandoned)
        // Mined to another address, so the new branch is not the abandoned block rebuilt.
        let otherMiner = try node.newAddress()
        let replacement = try node.mine(2, to: otherMiner).arrayElements.compactMap(\.stringValue)
        let offChainAnswer = try await source.header(hash: abandoned)
        let offChain = try XCTUnwrap(offChainAnswer)
        XCTAssertEqual(offChain.confirmations, -1)
        XCTAssertFalse(offChain.isOnMainChain)
        XCTAssertEqual(try node.verboseHeader(abandoned)["confirmations"]?.lenientInt64, -1)
        let atHeight = try await source.blockHash(height: abandonedHeader.height)
        XCTAssertEqual(atHeight, replacement[0])
        XCTAssertNotEqual(replacement[0], abandoned)
        let newBlockAnswer = try await source.block(hash: replacement[0])
        let newBlock = try XCTUnwrap(newBlockAnswer)
        XCTAssertEqual(newBlock.previousBlockHash, abandonedHeader.previousBlockHash)
        XCTAssertTrue(
            newBlock.transactions.map(\.txid).contains(payment),
            "the payment went back to the mempool and was mined again")
        XCTAssertEqual(newBlock.transactions[0].outputs[0].address(chain: chain), otherMiner)

        // Reconsidered, the abandoned block is a valid fork of a shorter branch: still off the main chain.
        try node.reconsiderBlock(abandoned)
        let reconsidered = try await source.header(hash: abandoned)
        XCTAssertEqual(reconsidered?.confirmations, -1)
        let oldBlock = try await source.block(hash: abandoned)
        XCTAssertEqual(oldBlock?.hash, abandoned, "the node still serves the abandoned block")
        let both = try await source.headers(hashes: [abandoned, replacement[1]])
        XCTAssertEqual(both.map { $0?.confirmations }, [-1, 1])
    }

    func testUnknownThingsAreOutcomesAndTheChainIsChecked() async throws {
        let tip = try await source.tipHeight()
        let beyond = try await source.blockHashes(heights: [0, tip, tip + 1])
        XCTAssertEqual(beyond, [chain.genesisHash, try node.bestBlockHash(), nil])
        let nobody = String(repeating: "ab", count: 32)
        let unknownHeader = try await source.header(hash: nobody)
        XCTAssertNil(unknownHeader)
        let unknownBlock = try await source.block(hash: nobody)
        XCTAssertNil(unknownBlock)
        do {
            _ = try await source.transactions(txids: [nobody])
            XCTFail("an unknown transaction is not an answer")
        } catch {
            XCTAssertEqual(error.code, .txNotFound)
        }
        try await source.checkChain()
        let mainnet = UTXOBlockSource(client: try node.client(), chain: UTXOChains.dogecoinMainnet)
        do {
            try await mainnet.checkChain()
            XCTFail("a regtest node is not mainnet")
        } catch {
            XCTAssertEqual(error.code, .chainMismatch)
        }
        let genesis = try await source.block(hash: chain.genesisHash)
        XCTAssertEqual(genesis?.transactions.count, 1)
        let genesisHeader = try await source.header(hash: chain.genesisHash)
        XCTAssertNil(genesisHeader?.previousBlockHash)
    }

    /// The node's keys and message signatures are the ones tok's code reads.
    func testWalletKeysAndMessageSignatures() throws {
        let address = try node.newAddress()
        let wif = try node.dumpPrivateKey(address)
        XCTAssertTrue(wif.hasPrefix("c"), "a compressed regtest WIF")
        let (key, compressed) = try WIF.decode(wif, chain: chain)
        XCTAssertTrue(compressed)
        XCTAssertEqual(UTXOAddress.p2pkh(publicKey: key.publicKey(compressed: true)).encode(chain: chain), address)
        let message = "tok: much message, very signed"
        let signature = try node.signMessage(message, by: address)
        let recovered = try MessageSigning.recoverPublicKey(
            message: message, magic: chain.messageMagic, signatureBase64: signature)
        XCTAssertEqual(recovered.publicKey, key.publicKey(compressed: true))
        XCTAssertEqual(
            MessageSigning.sign(message: message, magic: chain.messageMagic, key: key, compressed: true), signature,
            "RFC 6979 nonces: tok signs byte for byte as the node does")
    }
}
