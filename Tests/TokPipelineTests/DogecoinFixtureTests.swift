import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import XCTest
@testable import TokShared

/// Dogecoin-only RPC shapes, covered by fixtures: the built tok-validate | tok-verify |
/// tok-apply run against testpeers/dogecoin_fixture_rpc.py, which answers like Dogecoin
/// Core 1.14 (boolean getblock verbose, auxpow headers, amounts as 8-decimal numbers) from
/// testpeers/fixtures/dogecoin-mainnet.json. The fixture is shaped after Core's RPC code,
/// not recorded from a node (none can run here); its transactions are real and signed,
/// which testFixtureTransactionsAreRealSignedDogecoinTransactions checks.
final class DogecoinFixtureTests: XCTestCase {
    nonisolated(unsafe) static var sharedServer: DogecoinFixtureServer?
    nonisolated(unsafe) static var startError: Error?

    override class func setUp() {
        super.setUp()
        do { sharedServer = try DogecoinFixtureServer() } catch { startError = error }
    }

    override class func tearDown() {
        sharedServer?.stop()
        sharedServer = nil
        super.tearDown()
    }

    var server: DogecoinFixtureServer!
    var workspace: Workspace!
    let chain = UTXOChains.dogecoinMainnet

    override func setUpWithError() throws {
        if let skip = DogecoinFixtureTests.startError as? XCTSkip { throw skip }
        if let error = DogecoinFixtureTests.startError { throw error }
        server = DogecoinFixtureTests.sharedServer
        workspace = try Workspace()
        try workspace.write("tok.toml", server.config())
    }

    func request(_ id: String, tx: String, account: String? = nil) -> String {
        depositRequest(
            id: id, account: account ?? server.address("depositor"), token: "DOGE", tx: tx, network: "doge-mainnet")
    }

    func balance(_ account: String) throws -> String? {
        let result = try workspace.run(
            "tok-apply --db state.sqlite",
            input:
                "{\"op\":\"balance\",\"id\":\"q\",\"source\":{\"account\":\"\(account)\",\"network\":\"doge-mainnet\",\"token\":\"DOGE\"}}"
        )
        return result.record(id: "q")?["balance"]?.string(at: "available")
    }

    func client() throws -> JSONRPCClient {
        try JSONRPCClient(
            url: server.url, user: server.user, password: server.password, timeoutMilliseconds: 10_000,
            retries: 0, numbersAsText: true, logger: Logger(label: "dogecoin-fixture-test"))
    }

    // MARK: The pipeline

    // 1234.56780000 DOGE is credited once, as 123456780000 koinu read from the 8-decimal text.
    func testDepositIsCreditedOnceInExactKoinu() throws {
        let tx = server.txid("deposit")
        let result = try workspace.run(depositPipeline, input: request("doge-1", tx: tx))
        let record = try XCTUnwrap(result.record(id: "doge-1"), result.stdout + result.stderr)
        XCTAssertEqual(record.string(at: "status"), "credited", result.stdout + result.stderr)
        XCTAssertEqual(record["verified"]?.string(at: "amount"), "123456780000")
        XCTAssertEqual(record["verified"]?["confirmations"]?.lenientInt64, 12)

        let replay = try workspace.run(depositPipeline, input: request("doge-1", tx: tx))
        XCTAssertEqual(replay.record(id: "doge-1")?.string(at: "status"), "duplicate", replay.stdout + replay.stderr)
        let again = try workspace.run(depositPipeline, input: request("doge-1-again", tx: tx))
        XCTAssertNotEqual(again.record(id: "doge-1-again")?.string(at: "status"), "credited", again.stdout)
        XCTAssertEqual(try balance(server.address("depositor")), "123456780000")
        XCTAssertEqual(try workspace.run("tok-apply --db state.sqlite --check").exitCode, 0)
    }

    // The last koinu counts, and amounts past 2^53 koinu (beyond a Double) stay exact.
    func testSmallestUnitAndLargeAmountsAreExact() throws {
        let result = try workspace.run(
            depositPipeline,
            input: [
                request("tiny", tx: server.txid("tiny")),
                request("large", tx: server.txid("large")),
            ].joined(separator: "\n"))
        XCTAssertEqual(result.record(id: "tiny")?.string(at: "status"), "credited", result.stdout + result.stderr)
        XCTAssertEqual(result.record(id: "tiny")?["verified"]?.string(at: "amount"), "100001")
        XCTAssertEqual(result.record(id: "large")?.string(at: "status"), "credited", result.stdout + result.stderr)
        XCTAssertEqual(result.record(id: "large")?["verified"]?.string(at: "amount"), "12345678912345678")
        XCTAssertEqual(try balance(server.address("depositor")), "12345678912445679")
    }

    // A block that left the main chain (header confirmations -1) is refused, retryably.
    func testDepositInAnOrphanedBlockIsReorganised() throws {
        let result = try workspace.run(depositPipeline, input: request("orphan", tx: server.txid("orphaned")))
        let error = result.record(id: "orphan")?["error"]
        XCTAssertEqual(error?.string(at: "code"), "reorganised", result.stdout + result.stderr)
        XCTAssertEqual(error?["retryable"]?.boolValue, true)
    }

    // The sender is proven by every input: a mixed-sender transaction, or a coinbase, is refused.
    func testAmbiguousSenderIsRefused() throws {
        let mixed = server.txid("mixed")
        let result = try workspace.run(
            depositPipeline,
            input: [
                request("mixed-as-depositor", tx: mixed),
                request("mixed-as-other", tx: mixed, account: server.address("other-sender")),
                request("coinbase", tx: server.txid("B2-coinbase"), account: server.address("pool")),
                request("not-to-receiver", tx: server.txid("elsewhere")),
            ].joined(separator: "\n"))
        let expected = [
            "mixed-as-depositor": "sender_mismatch", "mixed-as-other": "sender_mismatch",
            "coinbase": "sender_mismatch", "not-to-receiver": "no_payment_to_receiver",
        ]
        for (id, code) in expected {
            XCTAssertEqual(
                result.record(id: id)?["error"]?.string(at: "code"), code, "\(id): \(result.stdout)\(result.stderr)")
        }
    }

    // A txid no node knows is Core's -5, which tok reports as tx_not_found (retryable).
    func testUnknownTransactionIsNotFound() throws {
        let unknown = try XCTUnwrap(server.scenario.string(at: "unknown_txid"))
        let result = try workspace.run(depositPipeline, input: request("ghost", tx: unknown))
        let error = result.record(id: "ghost")?["error"]
        XCTAssertEqual(error?.string(at: "code"), "tx_not_found", result.stdout + result.stderr)
        XCTAssertEqual(error?["retryable"]?.boolValue, true)
    }

    // A wrong rpc_password gets Core's 401 with WWW-Authenticate: tok-verify reports it and goes on
    // (on Linux, URLSession used to wait for that answer forever; see HTTPExchange).
    func testWrongRPCPasswordIsReportedNotHung() throws {
        try workspace.write(
            "tok.toml",
            server.config().replacingOccurrences(
                of: "rpc_password = \"\(server.password)\"",
                with: "rpc_password = \"not-the-password\""))
        let started = Date()
        let result = try workspace.run(
            "timeout 60 tok-validate | timeout 60 tok-verify",
            input: request("locked-out", tx: server.txid("deposit")))
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
        let error = result.record(id: "locked-out")?["error"]
        // The operator's fault, not the depositor's: retryable, and the run exits 69 (issue 13).
        XCTAssertEqual(error?.string(at: "code"), "rpc_unauthorized", result.stdout + result.stderr)
        XCTAssertEqual(error?["retryable"]?.boolValue, true)
        XCTAssertEqual(result.exitCode, 69, result.stderr)
        XCTAssertTrue(error?.string(at: "message")?.contains("401") == true, result.stdout)
    }

    // A mempool transaction (no blockhash in Core's answer) is pending.
    func testMempoolDepositIsPending() throws {
        let result = try workspace.run(depositPipeline, input: request("unmined", tx: server.txid("mempool")))
        XCTAssertEqual(result.record(id: "unmined")?.string(at: "status"), "pending", result.stdout + result.stderr)
    }

    // MARK: The fixture server speaks Dogecoin Core 1.14

    // getblock takes a boolean on 1.14: verbosity 2 is an error; `true` answers, with the auxpow section.
    func testGetblockIsBooleanAndCarriesAuxpow() async throws {
        let client = try client()
        let hash = server.blockHash("B1")
        let two = try await client.call("getblock", [.string(hash), .integer(2)])
        guard case .failure(let refusal) = two else { return XCTFail("getblock <hash> 2 answered: \(two)") }
        XCTAssertEqual(refusal.code, -1)
        XCTAssertEqual(refusal.message, "JSON value is not a boolean as expected")

        let answer = try await client.call("getblock", [.string(hash), .bool(true)])
        guard case .success(let block) = answer else { return XCTFail("getblock <hash> true failed: \(answer)") }
        XCTAssertEqual(block.string(at: "hash"), hash)

        // The block's own header: merge-mined version, hash = sha256d of the 80 bytes.
        let version = try XCTUnwrap(block["version"]?.lenientInt64)
        XCTAssertEqual(block.string(at: "versionHex"), "00620104")
        XCTAssertEqual(version >> 16, 0x62, "Dogecoin's auxpow chain id")
        XCTAssertNotEqual(version & 0x100, 0, "the auxpow flag")
        let header = try headerBytes(block)
        XCTAssertEqual(Hex.encode(Hashing.sha256d(header).reversed()), hash)
        let txids = block["tx"]?.arrayElements.compactMap(\.stringValue) ?? []
        XCTAssertEqual(merkleRoot(txids), block.string(at: "merkleroot"))
        XCTAssertEqual(txids.last, server.txid("deposit"))

        // The auxpow: a parent coinbase committing to this block's hash, linked to the parent header.
        let auxpow = try XCTUnwrap(block["auxpow"], "no auxpow in \(block)")
        XCTAssertEqual(auxpow["index"]?.lenientInt64, 0)
        XCTAssertEqual(auxpow["chainindex"]?.lenientInt64, 0)
        XCTAssertEqual(auxpow["chainmerklebranch"]?.count, 0)
        let parentTx = try XCTUnwrap(auxpow["tx"])
        let coinbase = try UTXOTransaction(hex: try XCTUnwrap(parentTx.string(at: "hex")))
        XCTAssertEqual(coinbase.txid, parentTx.string(at: "txid"))
        XCTAssertTrue(coinbase.inputs.first?.previousOutput.isNull == true, "the auxpow tx is a coinbase")
        XCTAssertTrue(parentTx["vin"]?[0]?.has("coinbase") == true)
        let commitment = [0xFA, 0xBE, 0x6D, 0x6D] + (Hex.decode(hash) ?? [])
        XCTAssertNotNil(find(commitment, in: coinbase.inputs[0].scriptSig), "the parent coinbase commits to \(hash)")
        let parent = try XCTUnwrap(Hex.decode(try XCTUnwrap(auxpow.string(at: "parentblock"))))
        XCTAssertEqual(parent.count, 80)
        XCTAssertEqual(Hex.encode(Hashing.sha256d(parent).reversed()), parentTx.string(at: "blockhash"))
        var node: [UInt8] = Hex.decode(coinbase.txid)!.reversed()
        for step in auxpow["merklebranch"]?.arrayElements ?? [] {
            node = Hashing.sha256d(node + Hex.decode(step.stringValue!)!.reversed())
        }
        XCTAssertEqual(node, Array(parent[36..<68]), "coinbase + merkle branch give the parent's merkle root")
        for output in parentTx["vout"]?.arrayElements ?? [] {
            XCTAssertTrue(hasEightDecimals(output.string(at: "value")), "\(output)")
        }

        // getblock <hash> false: the serialised block starts with the same header.
        let raw = try await client.call("getblock", [.string(hash), .bool(false)])
        guard case .success(let rawHex) = raw, let rawBytes = rawHex.stringValue.flatMap({ Hex.decode($0) }) else {
            return XCTFail("getblock <hash> false: \(raw)")
        }
        XCTAssertEqual(Array(rawBytes.prefix(80)), header)
        XCTAssertEqual(rawBytes.count, Int(block["size"]?.lenientInt64 ?? -1))
    }

    // Amounts are JSON numbers with exactly 8 decimals, kept as text end to end.
    func testAmountsKeepEightDecimals() async throws {
        let client = try client()
        let answers = try await client.batch([
            .init("getrawtransaction", [.string(server.txid("deposit")), .integer(1)]),
            .init("getrawtransaction", [.string(server.txid("tiny")), .bool(true)]),
            .init("getrawtransaction", [.string(server.txid("large")), .integer(1)]),
            .init("getblockheader", [.string(server.blockHash("B2-orphaned")), .bool(true)]),
            .init("getblockheader", [.string(server.blockHash("B2-orphaned")), .integer(1)]),
        ])
        guard case .success(let deposit) = answers[0], case .success(let tiny) = answers[1],
            case .success(let large) = answers[2], case .success(let orphan) = answers[3]
        else {
            return XCTFail("\(answers)")
        }
        XCTAssertEqual(deposit["vout"]?[0]?.string(at: "value"), "1234.56780000")
        XCTAssertEqual(deposit["vout"]?[1]?.string(at: "value"), "765.42220000")
        XCTAssertEqual(tiny["vout"]?[0]?.string(at: "value"), "0.00100001")
        XCTAssertEqual(large["vout"]?[0]?.string(at: "value"), "123456789.12345678")
        XCTAssertEqual(orphan["confirmations"]?.lenientInt64, -1)
        XCTAssertNil(orphan["nextblockhash"])
        guard case .failure(let notBoolean) = answers[4] else { return XCTFail("getblockheader <hash> 1 answered") }
        XCTAssertEqual(notBoolean.code, -1)

        // The bytes on the wire, not only what our parser made of them.
        var request = URLRequest(url: URL(string: server.url)!)
        request.httpMethod = "POST"
        request.setValue(
            "Basic " + Base64.encode(Array("\(server.user):\(server.password)".utf8)),
            forHTTPHeaderField: "Authorization")
        request.httpBody = Data(
            "{\"id\":1,\"method\":\"getrawtransaction\",\"params\":[\"\(server.txid("deposit"))\",true]}".utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200)
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("\"value\":1234.56780000,"), text)
        XCTAssertTrue(text.hasPrefix("{\"result\":{\"hex\":"), text)
        XCTAssertTrue(text.hasSuffix(",\"error\":null,\"id\":1}\n"), text)

        // Core's credentials check: a wrong password is HTTP 401, which the client reports.
        let wrong = try JSONRPCClient(
            url: server.url, user: server.user, password: "wrong", timeoutMilliseconds: 10_000,
            retries: 0, numbersAsText: true, logger: Logger(label: "dogecoin-fixture-test"))
        do {
            _ = try await wrong.call("getblockcount", [])
            XCTFail("a wrong password was accepted")
        } catch {
            XCTAssertTrue(error.message.contains("401"), error.message)
        }
    }

    // Every fixture transaction is real: txid = sha256d of its bytes, the JSON matches the bytes,
    // addresses use Dogecoin mainnet's version byte, and tok's own libsecp256k1 signing of the
    // same inputs with the same keys (RFC 6979, low S) reproduces the fixture's bytes exactly.
    func testFixtureTransactionsAreRealSignedDogecoinTransactions() async throws {
        let client = try client()
        let names = server.scenario["transactions"]?.keys ?? []
        XCTAssertGreaterThanOrEqual(names.count, 8)
        let answers = try await client.batch(
            names.map { JSONRPCClient.Call("getrawtransaction", [.string(server.txid($0)), .bool(true)]) })
        var scripts: [String: [UInt8]] = [:]  // "txid:n" -> scriptPubKey
        var transactions: [(String, JSON, UTXOTransaction)] = []
        for (name, answer) in zip(names, answers) {
            guard case .success(let json) = answer else { XCTFail("\(name): \(answer)"); continue }
            let tx = try UTXOTransaction(hex: try XCTUnwrap(json.string(at: "hex")))
            XCTAssertEqual(tx.txid, server.txid(name), name)
            XCTAssertEqual(json.string(at: "txid"), tx.txid, name)
            XCTAssertEqual(json["size"]?.lenientInt64, Int64(tx.serialized().count), name)
            XCTAssertEqual(json["locktime"]?.lenientInt64, Int64(tx.lockTime), name)
            for (n, output) in (json["vout"]?.arrayElements ?? []).enumerated() {
                let valueText = try XCTUnwrap(output.string(at: "value"))
                XCTAssertTrue(hasEightDecimals(valueText), "\(name) vout \(n): \(valueText)")
                XCTAssertEqual(
                    try CoinAmount.baseUnits(fromDecimalText: valueText, chain: chain), tx.outputs[n].valueBaseUnits,
                    name)
                XCTAssertEqual(output["scriptPubKey"]?.string(at: "hex"), Hex.encode(tx.outputs[n].scriptPubKey), name)
                let address = UTXOAddress.fromScript(tx.outputs[n].scriptPubKey, chain: chain)?.encode(chain: chain)
                XCTAssertEqual(output["scriptPubKey"]?["addresses"]?[0]?.stringValue, address, name)
                XCTAssertEqual(address?.first, "D", name)
                scripts["\(tx.txid):\(n)"] = tx.outputs[n].scriptPubKey
            }
            transactions.append((name, json, tx))
        }
        var resigned = 0
        for (name, _, tx) in transactions {
            let signers =
                server.scenario["transactions"]?[name]?["signers"]?.arrayElements.compactMap(\.stringValue) ?? []
            guard !signers.isEmpty else { continue }
            var copy = tx
            for index in copy.inputs.indices { copy.inputs[index].scriptSig = [] }
            let keys = try signers.map { try server.key($0) }
            // Where the spent output is in the fixture, signing also checks it pays the signer's key.
            let previous = tx.inputs.map { scripts["\($0.previousOutput.txid):\($0.previousOutput.vout)"] }
            try copy.signP2PKHInputs(
                keys: keys, previousScriptPubKeys: previous.contains(nil) ? nil : previous.map { $0! })
            XCTAssertEqual(
                copy.serializedHex, tx.serializedHex, "\(name): the fixture's signatures are not libsecp256k1's")
            resigned += 1
        }
        XCTAssertGreaterThanOrEqual(resigned, 8)
        for name in ["depositor", "other-sender", "receiver"] {
            let key = try server.key(name)
            XCTAssertEqual(
                UTXOAddress.p2pkh(publicKey: key.publicKey(compressed: true)).encode(chain: chain), server.address(name)
            )
        }
    }

    // The committed fixture is what the committed generator makes.
    func testFixtureIsWhatTheGeneratorMakes() throws {
        let generator = Repo.root.appendingPathComponent("testpeers/gen_dogecoin_fixtures.py").path
        let result = try workspace.run("\(server.process.executableURL!.path) '\(generator)' --check")
        XCTAssertEqual(result.exitCode, 0, result.stdout + result.stderr)
    }

    // MARK: Helpers

    func hasEightDecimals(_ text: String?) -> Bool {
        guard let text, let dot = text.firstIndex(of: ".") else { return false }
        let fraction = text[text.index(after: dot)...]
        return fraction.count == 8 && fraction.allSatisfy(\.isNumber) && !text.contains("e") && !text.contains("E")
    }

    /// The 80-byte header from getblock's or getblockheader's fields.
    func headerBytes(_ block: JSON) throws -> [UInt8] {
        func little(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        let version = UInt32(truncatingIfNeeded: try XCTUnwrap(block["version"]?.lenientInt64))
        let previous: [UInt8] = try XCTUnwrap(Hex.decode(try XCTUnwrap(block.string(at: "previousblockhash"))))
            .reversed()
        let merkle: [UInt8] = try XCTUnwrap(Hex.decode(try XCTUnwrap(block.string(at: "merkleroot")))).reversed()
        let time = UInt32(try XCTUnwrap(block["time"]?.lenientInt64))
        let bits = try XCTUnwrap(UInt32(try XCTUnwrap(block.string(at: "bits")), radix: 16))
        let nonce = UInt32(try XCTUnwrap(block["nonce"]?.lenientInt64))
        return little(version) + previous + merkle + little(time) + little(bits) + little(nonce)
    }

    func merkleRoot(_ txids: [String]) -> String? {
        var level: [[UInt8]] = txids.compactMap { Hex.decode($0).map { Array($0.reversed()) } }
        guard !level.isEmpty else { return nil }
        while level.count > 1 {
            if level.count % 2 == 1 { level.append(level.last!) }
            level = stride(from: 0, to: level.count, by: 2).map { Hashing.sha256d(level[$0] + level[$0 + 1]) }
        }
        return Hex.encode(level[0].reversed())
    }

    func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<$0 + needle.count]) == needle }
    }
}
