import Foundation
import Logging
import XCTest
@testable import TokShared
import TokTestSupport

/// The matching rule alone: a pure function over candidates in book order.
final class MatchingRuleTests: XCTestCase {
    func offer(
        _ height: UInt32, _ index: UInt32, by author: String = "maker", remaining: UInt64, price: UInt64
    ) -> Matching.RestingOffer {
        Matching.RestingOffer(
            offer: ChainPosition(height: height, txIndex: index), author: author, remaining: remaining,
            unitPriceKoinu: price)
    }

    // Best price first, then earliest position; the resting price applies; partial fills; the rest rests.
    func testPriceThenTimeWithPartialFills() {
        let book = [
            offer(10, 1, remaining: 5, price: 100), offer(12, 1, remaining: 5, price: 90),
            offer(11, 3, remaining: 5, price: 90),
        ]
        let fills = Matching.fills(
            for: .init(side: .buy, author: "taker", quantity: 12, limitPriceKoinu: 100), against: book)
        XCTAssertEqual(fills.map(\.resting.description), ["11:3", "12:1", "10:1"])
        XCTAssertEqual(fills.map(\.quantity), [5, 5, 2])
        XCTAssertEqual(fills.map(\.unitPriceKoinu), [90, 90, 100], "each at the resting offer's price")
    }

    // Only crossing offers fill: a buy takes sells at or below its maximum, a sell takes buys at or above its price.
    func testOnlyCrossingOffersFill() {
        let sells = [offer(1, 1, remaining: 5, price: 101)]
        XCTAssertEqual(
            Matching.fills(for: .init(side: .buy, author: "t", quantity: 5, limitPriceKoinu: 100), against: sells), [])
        let buys = [offer(1, 1, remaining: 5, price: 100), offer(2, 1, remaining: 5, price: 120)]
        let fills = Matching.fills(
            for: .init(side: .sell, author: "t", quantity: 8, limitPriceKoinu: 110), against: buys)
        XCTAssertEqual(
            fills, [Matching.Fill(resting: ChainPosition(height: 2, txIndex: 1), quantity: 5, unitPriceKoinu: 120)])
    }

    // No trade with oneself: the author's own resting offers are skipped, the others still fill.
    func testNoSelfMatching() {
        let book = [offer(1, 1, by: "taker", remaining: 5, price: 90), offer(2, 1, remaining: 5, price: 95)]
        let fills = Matching.fills(
            for: .init(side: .buy, author: "taker", quantity: 10, limitPriceKoinu: 100), against: book)
        XCTAssertEqual(fills.map(\.resting.description), ["2:1"])
    }

    // Many random books: the fills never exceed the incoming quantity or any offer's remainder, come in book
    // order, and stop at the first offer that does not cross.
    func testRandomBooksKeepTheRules() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let book = (0..<Int.random(in: 0...20, using: &rng)).map { index in
                offer(
                    UInt32.random(in: 1...50, using: &rng), UInt32(index + 1),
                    by: Bool.random(using: &rng) ? "taker" : "maker",
                    remaining: UInt64.random(in: 0...10, using: &rng), price: UInt64.random(in: 1...20, using: &rng))
            }
            let incoming = Matching.IncomingOffer(
                side: Bool.random(using: &rng) ? .buy : .sell, author: "taker",
                quantity: UInt64.random(in: 1...30, using: &rng),
                limitPriceKoinu: UInt64.random(in: 1...20, using: &rng))
            let fills = Matching.fills(for: incoming, against: book)
            XCTAssertLessThanOrEqual(fills.reduce(0) { $0 + $1.quantity }, incoming.quantity)
            for fill in fills {
                let resting = book.first { $0.offer == fill.resting }!
                XCTAssertNotEqual(resting.author, "taker")
                XCTAssertLessThanOrEqual(fill.quantity, resting.remaining)
                XCTAssertTrue(Matching.crosses(incoming, resting))
                XCTAssertEqual(fill.unitPriceKoinu, resting.unitPriceKoinu)
            }
        }
    }
}

/// The market in the ledger, on synthetic blocks carrying real anchor scripts.
class MarketLedgerTests: XCTestCase {
    class var engine: TestEngine { .sqlite }
    var chainTests: LedgerChainTests!
    var ledger: Ledger { chainTests.ledger }
    let chain = UTXOChains.dogecoinRegtest
    var height: Int64 = 99
    var branch = "a"

    static func address(_ byte: UInt8) -> UTXOAddress {
        UTXOAddress(kind: .p2pkh, hash160: Array(repeating: byte, count: 20))
    }
    let owner = address(1), alice = address(2), bob = address(3), manager1 = address(4), manager2 = address(5)
    func text(_ address: UTXOAddress) -> String { address.encode(chain: chain) }
    static let hash = RecordHash(bytes: Array(repeating: 9, count: 32))!

    override func setUpWithError() throws {
        chainTests =
            Self.engine == .sqlite
            ? LedgerChainTests(name: "fixture", testClosure: { _ in })
            : LedgerChainPostgreSQLTests(name: "fixture", testClosure: { _ in })
        try chainTests.setUpWithError()
    }

    override func tearDownWithError() throws { try chainTests.tearDownWithError() }

    /// One anchor: the message's script first, then named outputs, then payments.
    func anchor(
        _ message: TokenMessage, by actor: UTXOAddress, position: Int, named: [UTXOAddress] = [],
        payments: [(UTXOAddress, UInt64)] = []
    ) throws -> AnchorEvent {
        var outputs = [AnchorEvent.Output(script: try TokenProtocol.composeOutputScript(message), value: 0)]
        outputs += named.map { AnchorEvent.Output(script: $0.scriptPubKey, value: 1_000_000) }
        outputs += payments.map { AnchorEvent.Output(script: $0.0.scriptPubKey, value: $0.1) }
        return AnchorEvent(
            tx: LedgerChainTests.hash("tx\(height + 1):\(position):\(branch)"), position: position, output: 0,
            actor: text(actor), sighashAll: true, outputs: outputs)
    }

    /// Connects the next block with `anchors`; their outcomes.
    @discardableResult
    func block(_ anchors: [AnchorEvent] = []) throws -> [AnchorOutcomeRow] {
        height += 1
        var block = chainTests.block(height, branch, parent: branch)
        block.anchors = anchors
        guard case .connected(_, _, _, let outcomes) = try chainTests.connect(block) else {
            XCTFail("not connected"); return []
        }
        return outcomes
    }

    func undoTip() throws {
        try chainTests.disconnect(chainTests.block(height, branch, parent: branch))
        height -= 1
    }

    func balance(_ token: String, _ address: UTXOAddress) throws -> (Int64, Int64) {
        let value = try ledger.tokenBalance(chain: LedgerChainTests.chain, token: token, address: text(address))
        return (value.available, value.reserved)
    }

    func mint(_ supply: UInt64, managers: [UTXOAddress] = [], minApprovals: UInt8 = 0) throws -> TokenId {
        let message = TokenMessage.mint(
            TokenMint(
                recordHash: MarketLedgerTests.hash, supply: supply,
                managerCount: UInt8(managers.count), minApprovals: minApprovals))
        let outcomes = try block([anchor(message, by: owner, position: 1, named: managers)])
        XCTAssertEqual(outcomes.map(\.outcome), ["applied"])
        return ChainPosition(height: UInt32(height), txIndex: 1)
    }

    func sell(_ token: TokenId, _ quantity: UInt64, at price: UInt64, expiry: Int64 = 500) -> TokenMessage {
        .sellOffer(
            TokenSellOffer(
                token: token, quantity: quantity, unitPriceKoinu: price, expiryHeight: UInt32(expiry),
                recordHash: MarketLedgerTests.hash))
    }

    func buy(_ token: TokenId, _ quantity: UInt64, at price: UInt64, expiry: Int64 = 500) -> TokenMessage {
        .buyOffer(
            TokenBuyOffer(
                token: token, quantity: quantity, maxUnitPriceKoinu: price, expiryHeight: UInt32(expiry),
                recordHash: MarketLedgerTests.hash))
    }

    func match(_ sell: ChainPosition, _ buy: ChainPosition) throws -> JournalRow? {
        try ledger.journalRow(
            .matches,
            key: [
                "chain": .text(LedgerChainTests.chain), "sell_offer": .text(sell.description),
                "buy_offer": .text(buy.description),
            ])
    }

    func position(_ height: Int64, _ index: Int) -> ChainPosition {
        ChainPosition(height: UInt32(height), txIndex: UInt32(index))
    }

    func pay(
        _ sell: ChainPosition, _ buy: ChainPosition, by payer: UTXOAddress, to payee: UTXOAddress, _ koinu: UInt64,
        position: Int = 1
    ) throws -> AnchorEvent {
        try anchor(
            .payment(TokenPayment(reservation: .match(sellOffer: sell, buyOffer: buy))), by: payer, position: position,
            payments: [(payee, koinu)])
    }

    // The scans every block runs stay on their partial indexes. With ORDER BY on the key (as they had), SQLite
    // walked the primary key instead: every block read the whole book and every match and invoice ever made.
    func testBlockScansUseTheirPartialIndexes() throws {
        guard Self.engine == .sqlite else { throw XCTSkip("EXPLAIN QUERY PLAN is SQLite's") }
        for sql in BlockWriter.blockScans {
            let plan = try ledger.database.statement("EXPLAIN QUERY PLAN " + sql)
            defer { plan.reset() }
            var steps: [String] = []
            while try plan.step() { steps.append(plan.text("detail")) }
            XCTAssertEqual(steps.count, 1, "\(sql): \(steps)")
            let expected = ["matches_open", "offers_expiring", "invoices_expiring", "invoices_settling"]
            XCTAssertTrue(
                steps.allSatisfy { step in expected.contains { step.contains("USING INDEX \($0) (chain=? AND ") } },
                "\(sql): \(steps)")
        }
    }

    // The trimmer runs at every block: its delete seeks the expiry index by range. As
    // `expiry_height + :retention <= :height` it could seek only by chain, reading every
    // off-chain record the ledger held at every block.
    func testTrimmerSeeksTheExpiryIndexByRange() throws {
        guard Self.engine == .sqlite else { throw XCTSkip("EXPLAIN QUERY PLAN is SQLite's") }
        let plan = try ledger.database.statement("EXPLAIN QUERY PLAN " + Ledger.trimRecordsSQL)
        defer { plan.reset() }
        var steps: [String] = []
        while try plan.step() { steps.append(plan.text("detail")) }
        XCTAssertTrue(
            steps.contains { $0.contains("USING INDEX token_records_by_expiry (chain=? AND expiry_height<?)") },
            "\(steps)")
    }

    // An unanchored record goes when its expiry height plus the retention is reached, not a block before
    // (the boundary the range form of the trimmer's delete must keep).
    func testTrimmerDropsAnUnanchoredRecordWhenItsRetentionEnds() throws {
        let key = try PrivateKey(bytes: Array(1...32))
        let author = UTXOAddress.p2pkh(publicKey: key.publicKey(compressed: true)).encode(chain: chain)
        let text = """
            {"tok":1,"type":"mint","chain":"\(chain.chainId)","owner":"\(author)","supply":"1000","title":"T","expiry_height":200}
            """
        let record = try TokenRecord.parse(try JSON.parse(text).get())
        XCTAssertTrue(
            try ledger.storeRecord(record, signature: record.sign(key: key), nowMilliseconds: testNowMilliseconds))
        let chainId = record.chain.chainId.description
        try ledger.trimRecords(chain: chainId, height: 209, retentionBlocks: 10)
        XCTAssertNotNil(try ledger.record(hash: record.hash.hex), "kept while 200 + 10 > 209")
        try ledger.trimRecords(chain: chainId, height: 210, retentionBlocks: 10)
        XCTAssertNil(try ledger.record(hash: record.hash.hex), "dropped at 200 + 10 = 210")
    }

    // A buy crossing a resting sell fills at the sell's price; the buyer's payment settles it at the level (3).
    func testCrossingOffersFillAtTheRestingPriceAndSettle() throws {
        let token = try mint(1_000)
        try block([anchor(sell(token, 10, at: 100), by: owner, position: 1)])
        let sellOffer = position(height, 1)
        XCTAssertEqual(try balance(token.description, owner).0, 990, "escrowed when it binds")
        try block([anchor(buy(token, 10, at: 150), by: alice, position: 1)])
        let buyOffer = position(height, 1)
        let made = try XCTUnwrap(try match(sellOffer, buyOffer))
        XCTAssertEqual(made["unit_price"], .integer(100))
        XCTAssertEqual(made["owed"], .integer(1_000))
        XCTAssertEqual(try block([pay(sellOffer, buyOffer, by: alice, to: owner, 1_000)]).map(\.outcome), ["applied"])
        try block()
        XCTAssertEqual(try balance(token.description, alice).0, 0)
        try block()
        XCTAssertEqual(try balance(token.description, alice).0, 10)
        XCTAssertEqual(try balance(token.description, owner).1, 0)
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A sell crossing several resting buys fills best price first, then earliest, partially; the rest rests.
    func testPartialFillsAcrossSeveralOffers() throws {
        let token = try mint(1_000)
        let outcomes = try block([
            anchor(buy(token, 5, at: 100), by: alice, position: 1),
            anchor(buy(token, 5, at: 120), by: bob, position: 2),
            anchor(buy(token, 5, at: 120), by: alice, position: 3),
        ])
        XCTAssertEqual(outcomes.map(\.outcome), ["applied", "applied", "applied"])
        let buys = height
        try block([anchor(sell(token, 12, at: 90), by: owner, position: 1)])
        let sellOffer = position(height, 1)
        XCTAssertEqual(try match(sellOffer, position(buys, 2))?["quantity"], .integer(5))
        XCTAssertEqual(try match(sellOffer, position(buys, 3))?["quantity"], .integer(5))
        XCTAssertEqual(try match(sellOffer, position(buys, 1))?["quantity"], .integer(2))
        XCTAssertEqual(try match(sellOffer, position(buys, 1))?["unit_price"], .integer(100))
        XCTAssertEqual(
            try ledger.journalRow(
                .offers, key: ["chain": .text(LedgerChainTests.chain), "offer": .text(position(buys, 1).description)])?[
                    "remaining"], .integer(3))
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // Nobody trades with themselves; a delete by the author releases what is not matched, before or after a fill.
    func testSelfMatchingAndDeletion() throws {
        let token = try mint(1_000)
        try block([anchor(sell(token, 10, at: 100), by: owner, position: 1)])
        let sellOffer = position(height, 1)
        try block([anchor(buy(token, 10, at: 200), by: owner, position: 1)])
        XCTAssertNil(try match(sellOffer, position(height, 1)), "the owner's buy did not take its own sell")
        try block([anchor(buy(token, 4, at: 100), by: alice, position: 1)])
        XCTAssertNotNil(try match(sellOffer, position(height, 1)))
        let foreign = try block([anchor(.deleteSellOffer(OfferDeletion(offer: sellOffer)), by: bob, position: 1)])
        XCTAssertEqual(foreign.first?.reason, "not_offer_author")
        try block([anchor(.deleteSellOffer(OfferDeletion(offer: sellOffer)), by: owner, position: 1)])
        XCTAssertEqual(try balance(token.description, owner).0, 996, "the 6 not matched are back")
        XCTAssertEqual(try balance(token.description, owner).1, 4, "the 4 matched stay reserved for alice")
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A window that passes unpaid returns the tokens to the sell offer; paid by someone else, or short, it is no payment.
    func testWindowExpiresAndWrongPayers() throws {
        let token = try mint(1_000)
        try block([anchor(sell(token, 10, at: 100), by: owner, position: 1)])
        let sellOffer = position(height, 1)
        try block([anchor(buy(token, 10, at: 100), by: alice, position: 1)])
        let buyOffer = position(height, 1)
        let wrong = try block([
            pay(sellOffer, buyOffer, by: bob, to: owner, 1_000, position: 1),
            pay(sellOffer, buyOffer, by: alice, to: owner, 999, position: 2),
        ])
        XCTAssertEqual(wrong.map(\.reason), ["wrong_payer", "short_payment"])
        while height < Int64(try XCTUnwrap(match(sellOffer, buyOffer)?["window_end"]?.integer)) { try block() }
        XCTAssertEqual(try match(sellOffer, buyOffer)?["state"], .text("expired"))
        XCTAssertEqual(
            try ledger.journalRow(
                .offers, key: ["chain": .text(LedgerChainTests.chain), "offer": .text(sellOffer.description)])?[
                    "remaining"],
            .integer(10), "back in the sell offer")
        XCTAssertEqual(
            try block([pay(sellOffer, buyOffer, by: alice, to: owner, 1_000)]).first?.reason, "match_not_reserved")
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A managed token's sale settles only with min_approvals of its managers' approvals, counted before the window ends.
    func testApprovals() throws {
        let token = try mint(1_000, managers: [manager1, manager2], minApprovals: 2)
        try block([anchor(sell(token, 10, at: 100), by: owner, position: 1)])
        let sellOffer = position(height, 1)
        try block([anchor(buy(token, 10, at: 100), by: alice, position: 1)])
        let buyOffer = position(height, 1)
        let approval = TokenMessage.approval(
            TokenApproval(reservation: .match(sellOffer: sellOffer, buyOffer: buyOffer)))
        XCTAssertEqual(try block([anchor(approval, by: bob, position: 1)]).first?.reason, "not_a_manager")
        try block([
            anchor(approval, by: manager1, position: 1),
            pay(sellOffer, buyOffer, by: alice, to: owner, 1_000, position: 2),
        ])
        try block()
        try block()
        XCTAssertEqual(try balance(token.description, alice).0, 0, "paid, at the level, one approval short")
        XCTAssertEqual(try block([anchor(approval, by: manager1, position: 1)]).first?.reason, "already_approved")
        try block([anchor(approval, by: manager2, position: 1)])
        XCTAssertEqual(try balance(token.description, alice).0, 10, "settled with the second approval")
        XCTAssertEqual(try ledger.checkInvariants(), [])

        // An approval after the window's end is not counted: the match waits, then its tokens go back.
        try block([anchor(sell(token, 5, at: 100), by: owner, position: 1)])
        let secondSell = position(height, 1)
        try block([anchor(buy(token, 5, at: 100), by: bob, position: 1)])
        let secondBuy = position(height, 1)
        let late = TokenMessage.approval(TokenApproval(reservation: .match(sellOffer: secondSell, buyOffer: secondBuy)))
        try block([
            anchor(late, by: manager1, position: 1), pay(secondSell, secondBuy, by: bob, to: owner, 500, position: 2),
        ])
        while height < Int64(try XCTUnwrap(match(secondSell, secondBuy)?["window_end"]?.integer)) { try block() }
        XCTAssertEqual(try block([anchor(late, by: manager2, position: 1)]).first?.reason, "approval_late")
        XCTAssertEqual(
            try match(secondSell, secondBuy)?["state"], .text("expired"), "one approval in time of two: no sale")
        XCTAssertEqual(try balance(token.description, bob).0, 0)
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // An offer deleted before anything filled it leaves the book whole: a later crossing order does not see it.
    func testDeletedBeforeAnyFill() throws {
        let token = try mint(100)
        try block([anchor(sell(token, 10, at: 100), by: owner, position: 1)])
        let sellOffer = position(height, 1)
        try block([anchor(.deleteSellOffer(OfferDeletion(offer: sellOffer)), by: owner, position: 1)])
        XCTAssertEqual(try balance(token.description, owner).0, 100)
        try block([anchor(buy(token, 10, at: 200), by: alice, position: 1)])
        XCTAssertNil(try match(sellOffer, position(height, 1)))
        XCTAssertEqual(
            try block([anchor(.deleteSellOffer(OfferDeletion(offer: sellOffer)), by: owner, position: 1)]).first?
                .reason,
            "offer_not_open")
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }

    // A reorganisation that removes a match undoes it (the escrow and the book as before), and one that removes
    // its payment puts it back to reserved; every table as before, checked by the journal.
    func testReorgsUndoMatchesAndPayments() throws {
        let token = try mint(1_000)
        try block([anchor(sell(token, 10, at: 100), by: owner, position: 1)])
        let sellOffer = position(height, 1)
        try block([anchor(buy(token, 10, at: 100), by: alice, position: 1)])
        let buyOffer = position(height, 1)
        try block([pay(sellOffer, buyOffer, by: alice, to: owner, 1_000)])
        XCTAssertEqual(try match(sellOffer, buyOffer)?["state"], .text("paid"))
        try undoTip()
        XCTAssertEqual(try match(sellOffer, buyOffer)?["state"], .text("reserved"), "the payment's block left")
        try undoTip()
        XCTAssertNil(try match(sellOffer, buyOffer), "the match's block left")
        XCTAssertEqual(
            try ledger.journalRow(
                .offers, key: ["chain": .text(LedgerChainTests.chain), "offer": .text(sellOffer.description)])?[
                    "remaining"],
            .integer(10))
        XCTAssertEqual(try balance(token.description, owner).1, 10, "still escrowed by the resting offer")
        XCTAssertEqual(try ledger.checkInvariants(), [])
    }
}
