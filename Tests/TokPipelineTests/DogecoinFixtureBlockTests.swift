import Foundation
import XCTest
@testable import TokShared

/// UTXOBlockSource against the Dogecoin 1.14 fixture server (testpeers/dogecoin_fixture_rpc.py),
/// as more tests of DogecoinFixtureTests (which starts the server):
/// its merge-mined mainnet-shaped blocks are fetched raw (`getblock HASH false`), parsed with
/// their AuxPoW headers, and compared with the fixture's `getblock HASH true` and
/// `getrawtransaction TXID true` answers; the inputs' previous outputs prove the senders.
extension DogecoinFixtureTests {
    private var blockSource: UTXOBlockSource {
        get throws { UTXOBlockSource(client: try client(), chain: chain) }
    }

    /// The fixture's verbose answer to `method params`.
    private func fixtureAnswer(_ method: String, _ params: [JSON]) async throws -> JSON {
        try await client().call(method, params).get()
    }

    func testRawAuxPowBlocksMatchTheFixturesVerboseAnswers() async throws {
        let names = ["B0", "B1", "B2", "B2-orphaned", "B3"]
        let blocks = try await blockSource.blocks(hashes: names.map(server.blockHash))
        XCTAssertEqual(blocks.count, names.count, "more blocks than one batch holds")
        var verboseBlocks: [String: JSON] = [:]
        var verboseTransactions: [String: JSON] = [:]
        for name in names {
            let verbose = try await fixtureAnswer("getblock", [.string(server.blockHash(name)), .bool(true)])
            verboseBlocks[name] = verbose
            for txid in verbose["tx"]?.arrayElements ?? [] {
                verboseTransactions[txid.stringValue!] = try await fixtureAnswer(
                    "getrawtransaction", [txid, .bool(true)])
            }
        }
        for (name, answer) in zip(names, blocks) {
            let block = try XCTUnwrap(answer, name)
            XCTAssertEqual(block.hash, server.blockHash(name))
            let auxPow = try XCTUnwrap(block.auxPow, "\(name) is merge-mined")
            XCTAssertEqual(block.header.auxPowChainId, 0x62)
            let verbose = try XCTUnwrap(verboseBlocks[name])
            try BlockComparison.assertMatches(
                block, verboseBlock: verbose,
                transaction: { txid in
                    try XCTUnwrap(verboseTransactions[txid], "no verbose answer for \(txid)")
                }, chain: chain)
            try BlockComparison.assertMatches(auxPow, verbose: try XCTUnwrap(verbose["auxpow"]))
            XCTAssertEqual(auxPow.coinbaseMerkleBranch.count, 1)
        }
    }

    func testHeightsHeadersAndTheOrphanedBlock() async throws {
        let tip = try await blockSource.tipHeight()
        XCTAssertEqual(tip, server.scenario["tip_height"]?.lenientInt64)
        let hashes = try await blockSource.blockHashes(heights: [5_200_000, 5_200_001, 5_200_002, 5_200_003])
        XCTAssertEqual(hashes, ["B0", "B1", "B2", "B3"].map(server.blockHash))
        let headers = try await blockSource.headers(hashes: ["B1", "B2", "B2-orphaned"].map(server.blockHash))
        XCTAssertEqual(headers.map { $0?.confirmations }, [12, 11, -1])
        XCTAssertEqual(headers[1]?.previousBlockHash, server.blockHash("B1"))
        XCTAssertEqual(headers[2]?.previousBlockHash, server.blockHash("B1"), "the orphan forks off B1")
        XCTAssertEqual(headers[0]?.nextBlockHash, server.blockHash("B2"))
        XCTAssertFalse(headers[2]?.isOnMainChain ?? true)
    }

    func testPreviousOutputsProveTheSenders() async throws {
        let blockAnswer = try await blockSource.block(hash: server.blockHash("B2"))
        let block = try XCTUnwrap(blockAnswer)
        let mixed = try XCTUnwrap(block.transactions.first { $0.txid == server.txid("mixed") })
        let large = try XCTUnwrap(block.transactions.first { $0.txid == server.txid("large") })
        let spent = try await blockSource.spentOutputs(of: block.transactions)
        XCTAssertEqual(spent[0], [], "a coinbase spends nothing")
        let byTxid = Dictionary(uniqueKeysWithValues: zip(block.transactions.map(\.txid), spent))
        XCTAssertEqual(
            byTxid[mixed.txid]?.map { $0.address(chain: chain) },
            [server.address("depositor"), server.address("other-sender")])
        XCTAssertEqual(byTxid[mixed.txid]?.map(\.valueBaseUnits), [100_000_000, 2_500_000_000])
        XCTAssertEqual(byTxid[large.txid]?.map { $0.address(chain: chain) }, [server.address("depositor")])
        XCTAssertEqual(byTxid[large.txid]?.map(\.valueBaseUnits), [12_345_679_000_000_000], "beyond 2^53 koinu, exact")

        // The funding transaction spends a coin the fixture does not serve: an error, never a guess.
        let firstAnswer = try await blockSource.block(hash: server.blockHash("B0"))
        let first = try XCTUnwrap(firstAnswer)
        let source = try blockSource
        do {
            _ = try await source.spentOutputs(of: first.transactions)
            XCTFail("a previous transaction the node does not know cannot be proven")
        } catch {
            XCTAssertEqual(error.code, .txNotFound)
        }
    }
}
