import Foundation
import XCTest
@testable import TokShared

/// Checks a block tok parsed from raw bytes against the node's own verbose view of it
/// (`getblock HASH true`, `getrawtransaction TXID true`): every header field, the txids,
/// and per transaction every input, output value (to the base unit), script and address.
enum BlockComparison {
    static func assertMatches(
        _ block: RawBlock, verboseBlock: JSON, transaction verboseTransaction: (String) throws -> JSON,
        chain: UTXOChainParameters, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        XCTAssertEqual(verboseBlock.string(at: "hash"), block.hash, file: file, line: line)
        XCTAssertEqual(verboseBlock.string(at: "previousblockhash"), block.previousBlockHash, file: file, line: line)
        XCTAssertEqual(verboseBlock.string(at: "merkleroot"), block.header.merkleRoot, file: file, line: line)
        XCTAssertEqual(verboseBlock["version"]?.lenientInt64, Int64(block.header.version), file: file, line: line)
        XCTAssertEqual(verboseBlock["time"]?.lenientInt64, Int64(block.header.time), file: file, line: line)
        XCTAssertEqual(verboseBlock["nonce"]?.lenientInt64, Int64(block.header.nonce), file: file, line: line)
        XCTAssertEqual(
            verboseBlock.string(at: "bits"), String(format: "%08x", block.header.bits), file: file, line: line)
        XCTAssertEqual(verboseBlock["size"]?.lenientInt64, Int64(block.byteCount), file: file, line: line)
        XCTAssertEqual(
            verboseBlock["tx"]?.arrayElements.compactMap(\.stringValue), block.transactions.map(\.txid), file: file,
            line: line)
        for transaction in block.transactions {
            try assertMatches(
                transaction, verbose: try verboseTransaction(transaction.txid), chain: chain, file: file, line: line)
        }
    }

    static func assertMatches(
        _ parsed: UTXOParsedTransaction, verbose: JSON, chain: UTXOChainParameters,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        XCTAssertEqual(verbose.string(at: "txid"), parsed.txid, file: file, line: line)
        XCTAssertEqual(verbose.string(at: "hash"), parsed.witnessHash, file: file, line: line)
        XCTAssertEqual(verbose["size"]?.lenientInt64, Int64(parsed.byteCount), file: file, line: line)
        XCTAssertEqual(verbose["version"]?.lenientInt64, Int64(parsed.transaction.version), file: file, line: line)
        XCTAssertEqual(verbose["locktime"]?.lenientInt64, Int64(parsed.transaction.lockTime), file: file, line: line)
        let inputs = verbose["vin"]?.arrayElements ?? []
        XCTAssertEqual(inputs.count, parsed.inputs.count, file: file, line: line)
        for (index, (input, node)) in zip(parsed.inputs, inputs).enumerated() {
            XCTAssertEqual(node["sequence"]?.lenientInt64, Int64(input.sequence), file: file, line: line)
            if let coinbase = node.string(at: "coinbase") {
                XCTAssertTrue(parsed.isCoinbase && index == 0, file: file, line: line)
                XCTAssertEqual(coinbase, Hex.encode(input.scriptSig), file: file, line: line)
            } else {
                XCTAssertEqual(node.string(at: "txid"), input.previousOutput.txid, file: file, line: line)
                XCTAssertEqual(node["vout"]?.lenientInt64, Int64(input.previousOutput.vout), file: file, line: line)
                XCTAssertEqual(
                    node["scriptSig"]?.string(at: "hex"), Hex.encode(input.scriptSig), file: file, line: line)
            }
            let nodeWitness = node["txinwitness"]?.arrayElements.compactMap(\.stringValue) ?? []
            let ourWitness = parsed.hasWitness ? parsed.witnesses[index].map { Hex.encode($0) } : []
            XCTAssertEqual(
                nodeWitness, ourWitness, "witness of input \(index) of \(parsed.txid)", file: file, line: line)
        }
        let outputs = verbose["vout"]?.arrayElements ?? []
        XCTAssertEqual(outputs.count, parsed.outputs.count, file: file, line: line)
        for (index, (output, node)) in zip(parsed.outputs, outputs).enumerated() {
            XCTAssertEqual(node["n"]?.lenientInt64, Int64(index), file: file, line: line)
            let valueText = try XCTUnwrap(node.string(at: "value"), file: file, line: line)
            XCTAssertEqual(
                try CoinAmount.baseUnits(fromDecimalText: valueText, decimals: 8), output.valueBaseUnits,
                "value of \(parsed.txid):\(index)", file: file, line: line)
            let script = try XCTUnwrap(node["scriptPubKey"], file: file, line: line)
            XCTAssertEqual(script.string(at: "hex"), Hex.encode(output.scriptPubKey), file: file, line: line)
            switch script.string(at: "type") {
            case "pubkeyhash", "scripthash":
                let nodeAddress = script.string(at: "address") ?? script["addresses"]?[0]?.stringValue
                XCTAssertEqual(output.address(chain: chain), nodeAddress, file: file, line: line)
            case "nulldata":
                XCTAssertNil(output.address(chain: chain), file: file, line: line)
                guard case .data = output.nullDataContent else {
                    return XCTFail(
                        "\(parsed.txid):\(index) is null data to the node: \(output.nullDataContent)", file: file,
                        line: line)
                }
            default:
                XCTAssertNil(output.address(chain: chain), "no legacy address for \(script)", file: file, line: line)
            }
        }
    }

    /// The AuxPoW tok parsed against the `auxpow` member of `getblock HASH true`.
    static func assertMatches(
        _ auxPow: UTXOAuxPow, verbose: JSON, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        XCTAssertEqual(verbose["tx"]?.string(at: "txid"), auxPow.coinbase.txid, file: file, line: line)
        XCTAssertEqual(
            verbose["tx"]?.string(at: "hex").flatMap(Hex.decode), auxPow.coinbase.transaction.serialized(), file: file,
            line: line)
        XCTAssertEqual(verbose["tx"]?.string(at: "blockhash"), auxPow.parentHeader.hash, file: file, line: line)
        XCTAssertEqual(verbose["index"]?.lenientInt64, Int64(auxPow.coinbaseIndex), file: file, line: line)
        XCTAssertEqual(verbose["chainindex"]?.lenientInt64, Int64(auxPow.chainIndex), file: file, line: line)
        XCTAssertEqual(
            verbose["merklebranch"]?.arrayElements.compactMap(\.stringValue),
            auxPow.coinbaseMerkleBranch.map { Hex.encode($0.reversed()) }, file: file, line: line)
        XCTAssertEqual(
            verbose["chainmerklebranch"]?.arrayElements.compactMap(\.stringValue),
            auxPow.chainMerkleBranch.map { Hex.encode($0.reversed()) }, file: file, line: line)
        let parent = try XCTUnwrap(verbose.string(at: "parentblock").flatMap(Hex.decode), file: file, line: line)
        XCTAssertEqual(try UTXOBlockHeader(parsing: parent), auxPow.parentHeader, file: file, line: line)
    }
}
