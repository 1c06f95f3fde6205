import XCTest
@testable import TokShared

/// RFC 8785 canonical JSON against the rfc8785 package's output (protocol-vectors.json), and
/// tok's off-chain record schemas, hashes and signatures.
final class TokenRecordTests: XCTestCase {
    private var vectors: JSON!
    // The secrets the generator derives the record authors' addresses from.
    private let alice = try! PrivateKey(bytes: Array(1...32))
    private let bob = try! PrivateKey(bytes: Array(2...33))
    private let chain = UTXOChains.dogecoinRegtest

    override func setUpWithError() throws {
        vectors = try ProtocolVectors.load()
    }

    private func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSON {
        switch JSON.parse(text) {
        case .success(let json): return json
        case .failure(let failure):
            XCTFail("bad JSON: \(failure.message)", file: file, line: line)
            return .null()
        }
    }

    func testCanonicalJSONMatchesRFC8785Package() throws {
        let rows = vectors["canonical_json"]?.arrayElements ?? []
        XCTAssertGreaterThanOrEqual(rows.count, 10)
        for row in rows {
            let name = row.string(at: "name") ?? "?"
            let input = parse(row.string(at: "input") ?? "")
            if row["refused"]?.boolValue == true {
                XCTAssertThrowsError(try CanonicalJSON.encode(input), name) { error in
                    XCTAssertTrue([.amountNotExact, .numberOutOfRange].contains((error as? TokError)?.code), name)
                }
                continue
            }
            let canonical = try CanonicalJSON.encode(input)
            XCTAssertEqual(String(decoding: canonical, as: UTF8.self), row.string(at: "canonical"), name)
            XCTAssertEqual(try CanonicalJSON.hash(input).hex, row.string(at: "sha256"), name)
        }
    }

    func testRecordVectorsHashLikeThePythonGenerator() throws {
        let rows = vectors["records"]?.arrayElements ?? []
        XCTAssertEqual(rows.count, 4)
        for row in rows {
            let name = row.string(at: "name") ?? "?"
            let record = try TokenRecord.parse(parse(row.string(at: "input") ?? ""))
            XCTAssertEqual(String(decoding: record.canonicalJSON, as: UTF8.self), row.string(at: "canonical"), name)
            XCTAssertEqual(record.hash.hex, row.string(at: "sha256"), name)
            XCTAssertEqual(record.signedText, row.string(at: "sha256"), name)
            let key = record.kind == .buyOffer ? bob : alice
            XCTAssertEqual(record.author, UTXOAddress.p2pkh(publicKey: key.publicKey(compressed: true)), name)
            let signature = record.sign(key: key)
            XCTAssertNoThrow(try record.verifySignature(signature), name)
            let other = record.kind == .buyOffer ? alice : bob
            XCTAssertThrowsError(try record.verifySignature(record.sign(key: other)), name) {
                XCTAssertEqual(($0 as? TokError)?.code, .badSignature)
            }
            // Signed for another chain's magic: refused on this one.
            let litecoin = MessageSigning.sign(
                message: record.signedText, magic: UTXOChains.litecoinRegtest.messageMagic, key: key, compressed: true)
            XCTAssertThrowsError(try record.verifySignature(litecoin), name)
        }
    }

    private var mintRecord: String {
        let owner = UTXOAddress.p2pkh(publicKey: alice.publicKey(compressed: true)).encode(chain: chain)
        return """
            {"tok":1,"type":"mint","chain":"\(chain.chainId)","owner":"\(owner)","supply":"1000","title":"T","expiry_height":500}
            """
    }

    private func edited(_ text: String, _ target: String, _ replacement: String) -> String {
        precondition(text.contains(target), "\(target) not in the record")
        return text.replacingOccurrences(of: target, with: replacement)
    }

    func testRecordSchemaRefusals() {
        XCTAssertNoThrow(try TokenRecord.parse(parse(mintRecord)))
        let cases: [(String, String, ErrorCode)] = [
            ("\"tok\":1", "\"tok\":2", .badRecord),
            ("\"tok\":1", "\"tok\":1.0", .amountNotExact),
            ("\"type\":\"mint\"", "\"type\":\"loan\"", .badRecord),
            ("\"title\":\"T\"", "\"title\":\"T\",\"colour\":\"red\"", .badRecord),
            ("\"title\":\"T\"", "\"title\":\"\(String(repeating: "x", count: 129))\"", .badRecord),
            ("\"title\":\"T\",", "", .missingField),
            ("\"supply\":\"1000\"", "\"supply\":1000", .badFieldType),
            ("\"supply\":\"1000\"", "\"supply\":\"01000\"", .amountNotNumeric),
            ("\"supply\":\"1000\"", "\"supply\":\"-1\"", .amountNotNumeric),
            ("\"supply\":\"1000\"", "\"supply\":\"0\"", .badRecord),
            ("\"supply\":\"1000\"", "\"supply\":\"9223372036854775808\"", .badRecord),
            ("\"expiry_height\":500", "\"expiry_height\":0", .badRecord),
            ("\"expiry_height\":500", "\"expiry_height\":4294967296", .badRecord),
            ("\"expiry_height\":500", "\"expiry_height\":5e2", .amountNotExact),
            ("\"chain\":\"\(chain.chainId)\"", "\"chain\":\"eip155:1\"", .unsupportedChainFamily),
            (
                "\"chain\":\"\(chain.chainId)\"", "\"chain\":\"bip122:000000000000000000000000000000ff\"",
                .unknownNetwork
            ),
            ("\"expiry_height\":500", "\"expiry_height\":500,\"min_approvals\":1", .badRecord),
            ("\"expiry_height\":500", "\"expiry_height\":500,\"managers\":[]", .badRecord),
            ("\"expiry_height\":500", "\"expiry_height\":500,\"metadata\":{\"a\":1}", .badFieldType),
        ]
        for (target, replacement, code) in cases {
            let text = edited(mintRecord, target, replacement)
            XCTAssertThrowsError(try TokenRecord.parse(parse(text)), text) { error in
                XCTAssertEqual((error as? TokError)?.code, code, "\(text): \(error)")
            }
        }
    }

    func testAuthorMustBeP2PKHOfTheChain() {
        let vault = UTXOAddress(kind: .p2sh, hash160: Array(repeating: 9, count: 20))
        let owner = UTXOAddress.p2pkh(publicKey: alice.publicKey(compressed: true))
        let p2sh = edited(mintRecord, owner.encode(chain: chain), vault.encode(chain: chain))
        XCTAssertThrowsError(try TokenRecord.parse(parse(p2sh))) { XCTAssertEqual(($0 as? TokError)?.code, .badRecord) }
        let mainnet = edited(mintRecord, owner.encode(chain: chain), owner.encode(chain: UTXOChains.dogecoinMainnet))
        XCTAssertThrowsError(try TokenRecord.parse(parse(mainnet))) {
            XCTAssertEqual(($0 as? TokError)?.code, .wrongChainAddress)
        }
    }

    func testAnOfferMustNotOwePastMaxMoney() {
        let seller = UTXOAddress.p2pkh(publicKey: alice.publicKey(compressed: true)).encode(chain: chain)
        let offer = """
            {"tok":1,"type":"sell_offer","chain":"\(chain.chainId)","seller":"\(seller)","token":"5:1","quantity":"2",\
            "unit_price_koinu":"1000000000000000000","expiry_height":9}
            """
        XCTAssertThrowsError(try TokenRecord.parse(parse(offer))) {
            XCTAssertEqual(($0 as? TokError)?.code, .badRecord)
        }
        let fits = edited(offer, "\"quantity\":\"2\"", "\"quantity\":\"1\"")
        XCTAssertNoThrow(try TokenRecord.parse(parse(fits)))
        let badToken = edited(fits, "\"5:1\"", "\"5:0\"")
        XCTAssertThrowsError(try TokenRecord.parse(parse(badToken))) {
            XCTAssertEqual(($0 as? TokError)?.code, .badRecord)
        }
    }

    /// A record attaches to the anchor that repeats its terms, from its author, before expiry.
    func testContradictionWithTheAnchor() throws {
        let rows = vectors["records"]?.arrayElements ?? []
        let invoiceRow = try XCTUnwrap(rows.first { $0.string(at: "name") == "invoice_record" })
        let record = try TokenRecord.parse(parse(invoiceRow.string(at: "input") ?? ""))
        guard case let .invoice(buyer, token, quantity, price, _) = record.terms else { return XCTFail("terms") }
        let anchor = TokenInvoice(
            token: token, quantity: quantity, unitPriceKoinu: price, expiryHeight: record.expiryHeight,
            recordHash: record.hash)
        let parties: [(role: NamedOutputRole, address: UTXOAddress)] = [(.buyer, buyer)]
        XCTAssertNil(
            record.contradiction(
                with: .invoice(anchor), anchorAuthor: record.author, parties: parties, anchorHeight: 260))
        XCTAssertNotNil(
            record.contradiction(
                with: .invoice(anchor), anchorAuthor: record.author, parties: parties,
                anchorHeight: record.expiryHeight))
        XCTAssertNotNil(
            record.contradiction(with: .invoice(anchor), anchorAuthor: buyer, parties: parties, anchorHeight: 260))
        XCTAssertNotNil(
            record.contradiction(
                with: .invoice(anchor), anchorAuthor: record.author,
                parties: [(.buyer, record.author)], anchorHeight: 260))
        var cheaper = anchor
        cheaper.unitPriceKoinu -= 1
        XCTAssertNotNil(
            record.contradiction(
                with: .invoice(cheaper), anchorAuthor: record.author, parties: parties, anchorHeight: 260))
        var elsewhere = anchor
        elsewhere.payee = .namedOutput
        XCTAssertNotNil(
            record.contradiction(
                with: .invoice(elsewhere), anchorAuthor: record.author, parties: parties, anchorHeight: 260))
        let mint = TokenMessage.fractalMint(FractalMintV1(recordHash: record.hash))
        XCTAssertNotNil(record.contradiction(with: mint, anchorAuthor: record.author, parties: [], anchorHeight: 260))
    }

    func testMintRecordWithManagersMirrorsTheNamedOutputs() throws {
        let rows = vectors["records"]?.arrayElements ?? []
        let row = try XCTUnwrap(rows.first { $0.string(at: "name") == "mint_record" })
        let record = try TokenRecord.parse(parse(row.string(at: "input") ?? ""))
        guard case let .mint(supply, managers, approvals) = record.terms else { return XCTFail("terms") }
        XCTAssertEqual(managers.map(\.kind), [.p2pkh, .p2sh])
        let mint = TokenMint(
            recordHash: record.hash, supply: supply, managerCount: UInt8(managers.count), minApprovals: approvals)
        let parties = managers.enumerated().map { (role: NamedOutputRole.manager($0.offset), address: $0.element) }
        XCTAssertNil(
            record.contradiction(with: .mint(mint), anchorAuthor: record.author, parties: parties, anchorHeight: 10))
        XCTAssertNotNil(
            record.contradiction(
                with: .mint(mint), anchorAuthor: record.author, parties: parties.reversed(), anchorHeight: 10))
    }
}
