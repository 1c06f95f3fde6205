import Foundation
import XCTest
@testable import TokShared

/// Tokenisation on a real dogecoind (regtest, `-acceptnonstdtxn=0`): signed
/// records through tok-validate | tok-apply, anchors composed by
/// `tok-validate --anchor-payload` and sent by pipelines/anchor.sh from the
/// node's wallet, blocks taken by tok-follow | tok-verify | tok-apply.
class TokenPipelineTests: PipelineTestCase {
    nonisolated(unsafe) static var sharedNode: DogecoinNode?
    nonisolated(unsafe) static var startError: Error?
    nonisolated(unsafe) static var miner = ""

    override class func setUp() {
        super.setUp()
        do {
            let node = try DogecoinNode()
            miner = try node.newAddress()
            try node.mine(80, to: miner)
            sharedNode = node
        } catch { startError = error }
    }

    override class func tearDown() {
        sharedNode?.stop()
        sharedNode = nil
        super.tearDown()
    }

    var node: DogecoinNode!
    var owner: String!
    var alice: String!
    var bob: String!
    var carol: String!

    let follow = "tok-follow --network doge --db state.sqlite | tok-verify --db state.sqlite | tok-apply --db state.sqlite"
    static let chain = UTXOChains.dogecoinRegtest

    override func setUpWithError() throws {
        if let skip = TokenPipelineTests.startError as? XCTSkip { throw skip }
        if let error = TokenPipelineTests.startError { throw error }
        try super.setUpWithError()                               // the workspace, on this class's engine
        node = TokenPipelineTests.sharedNode
        owner = try node.newAddress()
        alice = try node.newAddress()
        bob = try node.newAddress()
        carol = try node.newAddress()
        // Each party gets coins of its own, sent from the miner's (the wallet's own choice could spend a party's).
        for party in [owner!, alice!, bob!, carol!] {
            for _ in 0..<3 { _ = try node.send(from: [TokenPipelineTests.miner], to: party, coins: "100") }
            try node.mine(1, to: TokenPipelineTests.miner)
        }
        try workspace.write("tok.toml", node.followConfig(receiver: try node.newAddress(), confirmations: 2,
                                                          followStartHeight: try node.blockCount() + 1, maxReorgDepth: 10))
    }

    // MARK: Helpers

    var height: Int { (try? node.blockCount()) ?? 0 }

    /// A record of `type` by `author`, signed with the node's own signmessage (Dogecoin's format, not tok's code).
    func signedRecord(_ type: String, author: String, members: [String: String], expiry: Int? = nil) throws -> String {
        let authorKey = type == "buy_offer" ? "buyer" : (type == "mint" ? "owner" : "seller")
        var body = #"{"tok":1,"type":"\#(type)","chain":"\#(DogecoinNode.chain)","\#(authorKey)":"\#(author)","expiry_height":\#(expiry ?? height + 50)"#
        for (key, value) in members.sorted(by: { $0.key < $1.key }) { body += ",\"\(key)\":\(value)" }
        body += "}"
        guard case .success(let json) = JSON.parse(body) else { throw NodeFailure(message: "bad test record \(body)") }
        let record = try TokenRecord.parse(json)
        let signature = try node.signMessage(record.hash.hex, by: author)
        return #"{"op":"record","id":"r-\#(record.hash.hex.prefix(16))","record":\#(body),"signature":"\#(signature)"}"#
    }

    /// Stores the record (tok-validate | tok-apply), then anchors it from `from`; the anchoring txid.
    @discardableResult
    func publishAndAnchor(_ line: String, from: String, pay: [String] = []) throws -> String {
        let stored = try workspace.run("tok-validate | tok-apply --db state.sqlite", input: line + "\n")
        XCTAssertEqual(stored.records.first?.string(at: "status"), "answered", stored.stdout + stored.stderr)
        return try anchor(line, from: from, pay: pay)
    }

    /// Composes the anchor of `line` and sends it from `from` with pipelines/anchor.sh; the txid.
    @discardableResult
    func anchor(_ line: String, from: String, pay: [String] = []) throws -> String {
        let cli = URL(fileURLWithPath: try DogecoinNode.executable()).deletingLastPathComponent().appendingPathComponent("dogecoin-cli").path
        let payArguments = pay.map { "--pay \($0)" }.joined(separator: " ")
        let result = try workspace.run(
            "tok-validate --anchor-payload | \(Repo.root.path)/pipelines/anchor.sh --from \(from) \(payArguments)", input: line + "\n",
            environment: ["DOGECOIN_CLI": cli,
                          "DOGECOIN_CLI_ARGS": "-regtest -rpcport=\(node.port) -rpcuser=\(node.user) -rpcpassword=\(node.password)"])
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Sends raw OP_RETURN data (for malformed anchors) from `from`.
    func anchorData(_ data: [UInt8], from: String) throws -> String {
        try anchor(#"{"op":"x","anchor":{"data":"\#(Hex.encode(data))","named_outputs":[]}}"#, from: from, raw: true)
    }

    func anchor(_ line: String, from: String, raw: Bool) throws -> String {
        let cli = URL(fileURLWithPath: try DogecoinNode.executable()).deletingLastPathComponent().appendingPathComponent("dogecoin-cli").path
        let result = try workspace.run("\(Repo.root.path)/pipelines/anchor.sh --from \(from)", input: line + "\n", environment: [
            "DOGECOIN_CLI": cli, "DOGECOIN_CLI_ARGS": "-regtest -rpcport=\(node.port) -rpcuser=\(node.user) -rpcpassword=\(node.password)",
        ])
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Mines `blocks` and follows them; the records tok-apply wrote.
    @discardableResult
    func mineAndFollow(_ blocks: Int = 1, to address: String = TokenPipelineTests.miner) throws -> [JSON] {
        try node.mine(blocks, to: address)
        let result = try workspace.run(follow)
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        for record in result.records where record.status == .rejected { XCTFail("rejected: \(record.serialized())") }
        return result.records
    }

    /// Outcome and reason of the anchor in `tx`, as tok-apply printed them.
    func outcome(of tx: String, in records: [JSON]) -> (String?, String?) {
        for record in records {
            for anchor in record["applied"]?["anchors"]?.arrayElements ?? [] where anchor.string(at: "tx") == tx {
                return (anchor.string(at: "outcome"), anchor.string(at: "reason"))
            }
        }
        return (nil, nil)
    }

    func query(_ line: String, _ member: String) throws -> JSON? {
        try workspace.run("tok-apply --db state.sqlite", input: line + "\n").records.first?[member]
    }

    func tokenBalance(_ token: String, _ address: String) throws -> (String?, String?) {
        let answer = try query(#"{"op":"token_balance","id":"b","network":"doge","token":"\#(token)","address":"\#(address)"}"#, "token_balance")
        return (answer?.string(at: "available"), answer?.string(at: "reserved"))
    }

    /// Mints `supply` for `owner`; the token id.
    func mint(_ supply: String, by owner: String, title: String = "A test token") throws -> String {
        let line = try signedRecord("mint", author: owner, members: ["supply": "\"\(supply)\"", "title": "\"\(title)\""])
        let tx = try publishAndAnchor(line, from: owner)
        let records = try mineAndFollow()
        XCTAssertEqual(outcome(of: tx, in: records).0, "applied", records.map { $0.serialized() }.joined(separator: "\n"))
        let block = try XCTUnwrap(records.last?["block"])
        let position = try XCTUnwrap(block["anchors"]?.arrayElements.first { $0.string(at: "tx") == tx }?["position"]?.int64Value)
        return "\(block["height"]!.int64Value!):\(position)"
    }

    /// An invoice of `quantity` × `price` koinu from `seller` to `buyer`, anchored and followed; its id.
    func invoice(_ token: String, quantity: String, price: String, seller: String, buyer: String, expiry: Int) throws -> String {
        let line = try signedRecord("invoice", author: seller, members: [
            "buyer": "\"\(buyer)\"", "token": "\"\(token)\"", "quantity": "\"\(quantity)\"", "unit_price_koinu": "\"\(price)\"",
        ], expiry: expiry)
        let tx = try publishAndAnchor(line, from: seller)
        let records = try mineAndFollow()
        XCTAssertEqual(outcome(of: tx, in: records).0, "applied", records.map { $0.serialized() }.joined(separator: "\n"))
        let block = try XCTUnwrap(records.last?["block"])
        let position = try XCTUnwrap(block["anchors"]?.arrayElements.first { $0.string(at: "tx") == tx }?["position"]?.int64Value)
        return "\(block["height"]!.int64Value!):\(position)"
    }

    func pay(_ invoice: String, from payer: String, to payee: String, koinu: UInt64) throws -> String {
        try anchor(#"{"op":"anchor","id":"p","payment":{"invoice":"\#(invoice)"}}"#, from: payer, pay: ["\(payee)=\(koinu)"])
    }

    func check() throws -> PipelineResult { try workspace.run("tok-apply check --db state.sqlite") }

    // MARK: Mints

    // A mint credits its supply to the address input 0 spends; the record, signed with the node's signmessage, attaches.
    func testMintCreditsTheSupplyToTheActor() throws {
        let token = try mint("1000000", by: owner)
        let info = try XCTUnwrap(try query(#"{"op":"token","id":"t","network":"doge","token":"\#(token)"}"#, "token"))
        XCTAssertEqual(info.string(at: "owner"), owner)
        XCTAssertEqual(info.string(at: "supply"), "1000000")
        XCTAssertEqual(info["record"]?.string(at: "title"), "A test token", info.serialized())
        XCTAssertEqual(try tokenBalance(token, owner).0, "1000000")
        let checked = try check()
        XCTAssertEqual(checked.exitCode, 0, checked.stdout)
    }

    // Anyone can anchor a copy of someone's mint: the copy is the copier's own token; the record does not attach to it.
    func testACopiedMintIsTheCopiersToken() throws {
        let line = try signedRecord("mint", author: owner, members: ["supply": "\"500\"", "title": "\"Original\""])
        let original = try publishAndAnchor(line, from: owner)
        let copy = try anchor(line, from: bob)
        let records = try mineAndFollow()
        XCTAssertEqual(outcome(of: original, in: records).0, "applied")
        XCTAssertEqual(outcome(of: copy, in: records).0, "applied")
        let anchors = records.last?["block"]?["anchors"]?.arrayElements ?? []
        let height = records.last!["block"]!["height"]!.int64Value!
        let copied = anchors.first { $0.string(at: "tx") == copy }!["position"]!.int64Value!
        let info = try XCTUnwrap(try query(#"{"op":"token","id":"t","network":"doge","token":"\#(height):\#(copied)"}"#, "token"))
        XCTAssertEqual(info.string(at: "owner"), bob, "the copier owns the copy")
        XCTAssertNil(info["record"], "the record's author is not the copier: it does not attach")
        XCTAssertEqual(try tokenBalance("\(height):\(copied)", owner).0, "0")
    }

    // MARK: Invoices and payments

    // An invoice reserves the tokens for one buyer; its payment in full, by the buyer, settles once at the level.
    func testInvoicePaidInFullSettlesOnce() throws {
        let token = try mint("1000", by: owner)
        let invoice = try invoice(token, quantity: "10", price: "200000000", seller: owner, buyer: alice, expiry: height + 20)
        XCTAssertEqual(try tokenBalance(token, owner).0, "990")
        XCTAssertEqual(try tokenBalance(token, owner).1, "10")
        let payment = try pay(invoice, from: alice, to: owner, koinu: 2_000_000_000)
        let paid = try mineAndFollow()
        XCTAssertEqual(outcome(of: payment, in: paid).0, "applied", paid.map { $0.serialized() }.joined())
        XCTAssertEqual(try tokenBalance(token, alice).0, "0", "below the level: not settled yet")
        try mineAndFollow()
        XCTAssertEqual(try tokenBalance(token, alice).0, "10")
        XCTAssertEqual(try tokenBalance(token, owner).0, "990")
        XCTAssertEqual(try tokenBalance(token, owner).1, "0")
        try mineAndFollow(2)
        XCTAssertEqual(try tokenBalance(token, alice).0, "10", "settled once")
        let state = try query(#"{"op":"invoice","id":"i","network":"doge","invoice":"\#(invoice)"}"#, "invoice")
        XCTAssertEqual(state?.string(at: "state"), "settled")
        XCTAssertEqual(state?.string(at: "paid_koinu"), "2000000000")
        let checked = try check()
        XCTAssertEqual(checked.exitCode, 0, checked.stdout)
    }

    // A payment 1 koinu short, to the wrong script, by a third party, or after the expiry has no effect, each with its
    // reason; the reservation returns to the seller at the start of its expiry block.
    func testBadPaymentsHaveNoEffect() throws {
        let token = try mint("1000", by: owner)
        let expiry = height + 6
        let invoice = try invoice(token, quantity: "5", price: "100000000", seller: owner, buyer: alice, expiry: expiry)
        let short = try pay(invoice, from: alice, to: owner, koinu: 499_999_999)
        let wrongScript = try pay(invoice, from: alice, to: carol, koinu: 500_000_000)
        let thirdParty = try pay(invoice, from: bob, to: owner, koinu: 500_000_000)
        let records = try mineAndFollow()
        XCTAssertEqual(outcome(of: short, in: records).1, "short_payment")
        XCTAssertEqual(outcome(of: wrongScript, in: records).1, "short_payment", "nothing paid to the seller's script")
        XCTAssertEqual(outcome(of: thirdParty, in: records).1, "wrong_payer")
        while height < expiry - 1 { try mineAndFollow() }
        XCTAssertEqual(try tokenBalance(token, owner).1, "5", "reserved until the expiry block")
        let expired = try mineAndFollow()                       // the block at the expiry height
        XCTAssertEqual(try tokenBalance(token, owner).0, "1000", "returned at the start of the block that ends it")
        let late = try pay(invoice, from: alice, to: owner, koinu: 500_000_000)
        let after = try mineAndFollow()
        XCTAssertEqual(outcome(of: late, in: after).1, "invoice_not_open")
        XCTAssertEqual(try tokenBalance(token, alice).0, "0")
        XCTAssertFalse(expired.isEmpty)
        let checked = try check()
        XCTAssertEqual(checked.exitCode, 0, checked.stdout)
    }

    // An invoice anchored by someone other than the record's seller reserves nothing of the seller's: the actor is
    // input 0 (Fractal Engine took the first output, so a dust output to the victim let anyone sell their tokens).
    func testOnlyTheActorsOwnTokensCanBeReserved() throws {
        let token = try mint("1000", by: owner)
        let line = try signedRecord("invoice", author: owner, members: [
            "buyer": "\"\(carol!)\"", "token": "\"\(token)\"", "quantity": "\"100\"", "unit_price_koinu": "\"1\"",
        ])
        let attack = try anchor(line, from: bob)               // bob anchors the owner's invoice; its first output is dust to carol
        let records = try mineAndFollow()
        XCTAssertEqual(outcome(of: attack, in: records).1, "insufficient_tokens")
        XCTAssertEqual(try tokenBalance(token, owner).0, "1000")
        XCTAssertEqual(try tokenBalance(token, owner).1, "0")
    }

    // Malformed anchors in blocks: an unknown field, a non-canonical varint, a quantity × price overflow; each an
    // outcome with its reason, never a crash. (An 81-byte envelope never reaches a block under mainnet policy.)
    func testMalformedAnchorsGetTheirReason() throws {
        let valid = try TokenProtocol.compose(.mint(TokenMint(recordHash: try XCTUnwrap(RecordHash(bytes: Array(repeating: 3, count: 32))),
                                                              supply: 7)))
        let unknownField = valid + [0x28, 0x01]                                  // field 5, varint 1
        var nonMinimal = valid
        nonMinimal.removeLast()                                                  // supply 7 as a 2-byte varint
        nonMinimal += [0x87, 0x00]
        let overflow: [UInt8] = [0xfe, 0x00, 0x01, 0xfe, 0x04, 0x74, 0x08, 0x01, 0x10, 0x01,
                                 0x18, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x20, 0xff, 0xff, 0xff, 0xff, 0x0f]
        var negative = valid
        negative.removeLast()                                                    // supply -1: a 10-byte varint
        negative += [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        let a = try anchorData(unknownField, from: alice)
        let b = try anchorData(nonMinimal, from: bob)
        let c = try anchorData(overflow, from: carol)
        let d = try anchorData(negative, from: owner)
        let records = try mineAndFollow()
        XCTAssertEqual(outcome(of: a, in: records).1, "unknown_field")
        XCTAssertEqual(outcome(of: b, in: records).1, "non_minimal_varint")
        XCTAssertEqual(outcome(of: c, in: records).0, "invalid")
        XCTAssertEqual(outcome(of: d, in: records).1, "negative_value")
        XCTAssertThrowsError(try node.sendData(Array(repeating: 0xfe, count: 81), from: alice), "the node refuses 81 bytes")
    }

    // MARK: Reorganisations

    // A reorganisation that removes a mint undoes the token; the mint mined again on the new branch makes it again.
    func testReorgUndoesAMintAndRedoesIt() throws {
        let line = try signedRecord("mint", author: owner, members: ["supply": "\"42\"", "title": "\"Reorged\""])
        try publishAndAnchor(line, from: owner)
        let records = try mineAndFollow()
        let block = records.last!["block"]!
        let minted = "\(block["height"]!.int64Value!):\(block["anchors"]!.arrayElements[0]["position"]!.int64Value!)"
        XCTAssertEqual(try tokenBalance(minted, owner).0, "42")
        try node.invalidateBlock(block.string(at: "hash")!)
        // The new branch, the mint back from the pool, mined to another address: mined to the same one within the
        // same second it would be the invalidated block again, which the node refuses ("block not accepted").
        let again = try mineAndFollow(to: try node.newAddress())
        XCTAssertEqual(again.first?.string(at: "status"), "undone", again.map { $0.serialized() }.joined())
        let remade = again.last!["block"]!
        let position = try XCTUnwrap(remade["anchors"]?.arrayElements.first?["position"]?.int64Value)
        XCTAssertEqual(try tokenBalance("\(remade["height"]!.int64Value!):\(position)", owner).0, "42")
        let checked = try check()
        XCTAssertEqual(checked.exitCode, 0, checked.stdout)
    }

    // A reorganisation deeper than the level removes a settled payment: the settlement is undone (the tokens back
    // with the seller, reserved); the payment mined again settles again, once.
    func testReorgUndoesASettlementAndRedoesIt() throws {
        let token = try mint("100", by: owner)
        let invoice = try invoice(token, quantity: "3", price: "100000000", seller: owner, buyer: alice, expiry: height + 30)
        _ = try pay(invoice, from: alice, to: owner, koinu: 300_000_000)
        let paymentBlock = try node.mine(1, to: TokenPipelineTests.miner)[0]!.stringValue!
        _ = try workspace.run(follow)
        try mineAndFollow(2)
        XCTAssertEqual(try tokenBalance(token, alice).0, "3")
        try node.invalidateBlock(paymentBlock)
        try node.mine(1, to: try node.newAddress())              // a new branch: the payment comes back from the pool
        _ = try workspace.run("tok-follow --network doge --db state.sqlite --max-blocks 1 | tok-verify --db state.sqlite | tok-apply --db state.sqlite")
        XCTAssertEqual(try tokenBalance(token, alice).0, "0", "the settlement went with its payment's block")
        XCTAssertEqual(try tokenBalance(token, owner).1, "3", "reserved again: paid on the new branch, not settled yet")
        try mineAndFollow(3)
        XCTAssertEqual(try tokenBalance(token, alice).0, "3", "settled once, on the new branch")
        let checked = try check()
        XCTAssertEqual(checked.exitCode, 0, checked.stdout)
    }
}
