import Foundation
import XCTest
@testable import TokShared

/// The market on a real dogecoind: two users trading a token end to end,
/// two instances sharing their records and agreeing, kill -9 while matching.
/// Built on TokenPipelineTests' helpers (records signed by the node's
/// signmessage, anchors sent by pipelines/anchor.sh).
class MarketPipelineTests: PipelineTestCase {
    var tokens: TokenPipelineTests!

    /// The token tests' class on this class's engine (its PostgreSQL twin on PostgreSQL).
    var tokenTests: TokenPipelineTests.Type {
        Self.engine == .postgresql ? TokenPipelineTestsPostgreSQL.self : TokenPipelineTests.self
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        tokenTests.setUp()
        tokens = tokenTests.init(name: "fixture", testClosure: { _ in })
        try tokens.setUpWithError()
    }

    override func tearDown() {
        tokenTests.tearDown()
        super.tearDown()
    }

    var node: DogecoinNode { tokens.node }

    func offer(_ type: String, by author: String, token: String, quantity: String, price: String) throws -> String {
        let priceKey = type == "buy_offer" ? "max_unit_price_koinu" : "unit_price_koinu"
        return try tokens.signedRecord(type, author: author, members: [
            "token": "\"\(token)\"", "quantity": "\"\(quantity)\"", priceKey: "\"\(price)\"",
        ])
    }

    /// Anchors `line` from `from` and follows; the offer's position.
    func bind(_ line: String, from: String) throws -> String {
        let tx = try tokens.publishAndAnchor(line, from: from)
        let records = try tokens.mineAndFollow()
        XCTAssertEqual(tokens.outcome(of: tx, in: records).0, "applied", records.map { $0.serialized() }.joined(separator: "\n"))
        let block = try XCTUnwrap(records.last?["block"])
        let position = try XCTUnwrap(block["anchors"]?.arrayElements.first { $0.string(at: "tx") == tx }?["position"]?.int64Value)
        return "\(block["height"]!.int64Value!):\(position)"
    }

    func match(_ sell: String, _ buy: String) throws -> JSON? {
        try tokens.query(#"{"op":"match","id":"m","network":"doge","sell_offer":"\#(sell)","buy_offer":"\#(buy)"}"#, "match")
    }

    // Two users trade: a buy crossing a resting sell is matched at the sell's price; the buyer pays what the match
    // owes to the seller's script; it settles at the level; the book and the offer's fills say so.
    func testTwoUsersTradeAToken() throws {
        let token = try tokens.mint("100", by: tokens.owner)
        let sell = try bind(try offer("sell_offer", by: tokens.owner, token: token, quantity: "10", price: "100000000"), from: tokens.owner)
        let book = try tokens.query(#"{"op":"order_book","id":"o","network":"doge","token":"\#(token)"}"#, "order_book")
        XCTAssertEqual(book?["sells"]?.arrayElements.first?.string(at: "offer"), sell)
        let buy = try bind(try offer("buy_offer", by: tokens.alice, token: token, quantity: "10", price: "150000000"), from: tokens.alice)
        let made = try XCTUnwrap(try match(sell, buy))
        XCTAssertEqual(made.string(at: "state"), "reserved")
        XCTAssertEqual(made.string(at: "unit_price_koinu"), "100000000", "the resting offer's price")
        XCTAssertEqual(made.string(at: "payee"), tokens.owner)
        let payment = try tokens.anchor(#"{"op":"anchor","id":"p","payment":{"sell_offer":"\#(sell)","buy_offer":"\#(buy)"}}"#,
                                        from: tokens.alice, pay: ["\(tokens.owner!)=\(made.string(at: "owed_koinu")!)"])
        XCTAssertEqual(tokens.outcome(of: payment, in: try tokens.mineAndFollow()).0, "applied")
        try tokens.mineAndFollow()
        XCTAssertEqual(try tokens.tokenBalance(token, tokens.alice).0, "10")
        XCTAssertEqual(try tokens.tokenBalance(token, tokens.owner).0, "90")
        XCTAssertEqual(try match(sell, buy)?.string(at: "state"), "settled")
        let fills = try tokens.query(#"{"op":"offer","id":"f","network":"doge","offer":"\#(sell)"}"#, "offer")
        XCTAssertEqual(fills?["fills"]?.arrayElements.count, 1)
        XCTAssertEqual(try tokens.check().exitCode, 0)
    }

    // Two instances follow the same chain and hold different records; each imports the other's export (in
    // different orders, twice, duplicates harmless): the same state hash, the same announced offers.
    func testTwoInstancesAgreeAfterSharingRecords() throws {
        let token = try tokens.mint("100", by: tokens.owner)
        let other = try Workspace(engine: Self.engine)
        try other.write("tok.toml", try String(contentsOfFile: tokens.workspace.path("tok.toml"), encoding: .utf8))
        let announcedSell = try offer("sell_offer", by: tokens.owner, token: token, quantity: "5", price: "300000000")
        let announcedBuy = try offer("buy_offer", by: tokens.bob, token: token, quantity: "2", price: "100000000")
        XCTAssertEqual(try tokens.workspace.run("tok-validate | tok-apply --db state.sqlite", input: announcedSell + "\n").exitCode, 0)
        XCTAssertEqual(try other.run("tok-validate | tok-apply --db state.sqlite", input: announcedBuy + "\n").exitCode, 0)
        XCTAssertEqual(try other.run(tokens.follow).exitCode, 0)

        let exportA = try tokens.workspace.run("tok-apply export-records --db state.sqlite")
        let exportB = try other.run("tok-apply export-records --db state.sqlite --after 0")
        XCTAssertEqual(exportA.records.count, 2, "the mint record and the sell offer")
        for _ in 0..<2 {
            XCTAssertEqual(try other.run("tok-validate | tok-apply --db state.sqlite", input: exportA.stdout).exitCode, 0)
            XCTAssertEqual(try tokens.workspace.run("tok-validate | tok-apply --db state.sqlite", input: exportB.stdout).exitCode, 0)
        }
        let book = #"{"op":"order_book","id":"o","network":"doge","token":"\#(token)"}"#
        let here = try tokens.workspace.run("tok-apply --db state.sqlite", input: book + "\n").records.first?["order_book"]
        let there = try other.run("tok-apply --db state.sqlite", input: book + "\n").records.first?["order_book"]
        XCTAssertEqual(here?["announced"]?.arrayElements.count, 2)
        XCTAssertEqual(here?.serialized(sortKeys: true), there?.serialized(sortKeys: true))
        let statusHere = try tokens.workspace.run("tok-apply chain-status --db state.sqlite").records.first
        let statusThere = try other.run("tok-apply chain-status --db state.sqlite").records.first
        XCTAssertEqual(statusHere?.string(at: "state_hash"), statusThere?.string(at: "state_hash"))
        let info = #"{"op":"token","id":"t","network":"doge","token":"\#(token)"}"#
        XCTAssertEqual(try other.run("tok-apply --db state.sqlite", input: info + "\n").records.first?["token"]?["record"]?.string(at: "title"),
                       "A test token", "the mint record arrived by import and attaches")
    }

    // kill -9 of any stage while offers bind and match, then reruns: the same state hash as a clean run.
    func testKillNineWhileMatchingGivesTheCleanRunsState() throws {
        let token = try tokens.mint("1000", by: tokens.owner)
        var rng = SeededGenerator(seed: ProcessInfo.processInfo.environment["TOK_MARKET_CRASH_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max))
        let pipeline = tokens.follow.replacingOccurrences(of: "--db state.sqlite", with: "--db \(tokens.workspace.path("state.sqlite"))")
        for round in 0..<6 {
            let seller = tokens.owner!
            let sellLine = try offer("sell_offer", by: seller, token: token, quantity: "\(1 + rng.next() % 5)", price: "\(100 + rng.next() % 50)")
            let buyLine = try offer("buy_offer", by: rng.next() % 2 == 0 ? tokens.alice : tokens.bob, token: token,
                                    quantity: "\(1 + rng.next() % 5)", price: "\(100 + rng.next() % 50)")
            _ = try tokens.publishAndAnchor(sellLine, from: seller)
            _ = try tokens.anchor(buyLine, from: round % 2 == 0 ? tokens.alice : tokens.bob)
            try node.mine(1, to: TokenPipelineTests.miner)
            let run = try BackgroundPipeline(workspace: tokens.workspace, name: "market-\(round)", bashArguments: ["-c", pipeline])
            let stages = run.waitForStages(3, timeoutMilliseconds: 5_000)
            if !stages.isEmpty {
                usleep(UInt32(rng.next() % 200_000))
                _ = run.kill(stages[Int(rng.next() % UInt64(stages.count))])
            }
            XCTAssertFalse(run.wait(timeoutSeconds: 60).timedOut)
        }
        for _ in 0..<2 { _ = try tokens.workspace.run(tokens.follow) }
        let clean = try Workspace(engine: Self.engine)
        try clean.write("tok.toml", try String(contentsOfFile: tokens.workspace.path("tok.toml"), encoding: .utf8))
        XCTAssertEqual(try clean.run(tokens.follow).exitCode, 0)
        let chaotic = try tokens.workspace.run("tok-apply chain-status --db state.sqlite").records.first
        let single = try clean.run("tok-apply chain-status --db state.sqlite").records.first
        XCTAssertNotNil(chaotic)
        XCTAssertEqual(chaotic?.string(at: "state_hash"), single?.string(at: "state_hash"))
        XCTAssertEqual(try tokens.check().exitCode, 0)
    }
}
