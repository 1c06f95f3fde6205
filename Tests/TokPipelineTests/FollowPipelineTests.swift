import Foundation
import XCTest
@testable import TokShared

/// tok-follow | tok-verify | tok-apply against a real dogecoind on regtest
/// (`-acceptnonstdtxn=0`): automatic deposits credited once at the level,
/// reorganisations before and after it, a reorganisation too deep to follow.
class FollowPipelineTests: PipelineTestCase {
    nonisolated(unsafe) static var sharedNode: DogecoinNode?
    nonisolated(unsafe) static var startError: Error?
    nonisolated(unsafe) static var miner = ""

    override class func setUp() {
        super.setUp()
        do {
            let node = try DogecoinNode()
            miner = try node.newAddress()
            try node.mine(70, to: miner)        // coinbase maturity is 60 on regtest
            sharedNode = node
        } catch { startError = error }
    }

    override class func tearDown() {
        sharedNode?.stop()
        sharedNode = nil
        super.tearDown()
    }

    var node: DogecoinNode!
    var receiver: String!
    var alice: String!
    var bob: String!

    let follow = "tok-follow --network doge --db state.sqlite | tok-verify --db state.sqlite | tok-apply --db state.sqlite"

    override func setUpWithError() throws {
        if let skip = FollowPipelineTests.startError as? XCTSkip { throw skip }
        if let error = FollowPipelineTests.startError { throw error }
        try super.setUpWithError()                   // the workspace, on this class's engine
        node = FollowPipelineTests.sharedNode
        receiver = try node.newAddress()
        alice = try node.newAddress()
        bob = try node.newAddress()
        try node.fund(alice, coins: "1000")
        try node.fund(bob, coins: "1000")
        try node.mine(1, to: FollowPipelineTests.miner)
        try writeConfig()
    }

    /// The ledger starts at the next block: what each test does happens in blocks it follows.
    func writeConfig(confirmations: Int = 3, maxReorgDepth: Int = 10) throws {
        try workspace.write("tok.toml", node.followConfig(receiver: receiver, confirmations: confirmations,
                                                          followStartHeight: try node.blockCount() + 1, maxReorgDepth: maxReorgDepth))
    }

    func available(_ account: String) throws -> String? {
        let query = #"{"op":"balance","id":"q","source":{"account":"\#(account)","network":"doge","token":"DOGE"}}"#
        return try workspace.run("tok-apply --db state.sqlite", input: query + "\n").record(id: "q")?["balance"]?.string(at: "available")
    }

    func chainStatus() throws -> JSON? {
        try workspace.run("tok-apply chain-status --db state.sqlite").records.first
    }

    func runFollow(_ extra: String = "", file: StaticString = #filePath, line: UInt = #line) throws -> PipelineResult {
        let result = try workspace.run(follow.replacingOccurrences(of: "--network doge", with: "--network doge \(extra)"))
        XCTAssertEqual(result.exitCode, 0, result.stderr, file: file, line: line)
        for record in result.records where record.status == .rejected {
            XCTFail("rejected: \(record.serialized())", file: file, line: line)
        }
        return result
    }

    // A payment to the receiver without any request is credited once its block is 3 deep, to the address every
    // input spends from, in exact koinu; following again writes nothing; a request for it afterwards is a duplicate.
    func testAutomaticDepositIsCreditedOnceAtTheLevel() throws {
        let tx = try node.send(from: [alice], to: receiver, coins: "12.5")
        try node.mine(1, to: FollowPipelineTests.miner)
        let first = try runFollow()
        XCTAssertEqual(first.records.map(\.status), [.connected], first.stdout)
        XCTAssertEqual(try available(alice), "0", "below the level: not credited yet")

        try node.mine(2, to: FollowPipelineTests.miner)
        let second = try runFollow()
        XCTAssertEqual(second.records.count, 2, second.stdout)
        XCTAssertEqual(try available(alice), "1250000000", "credited at 3 confirmations, in koinu")
        XCTAssertEqual(try runFollow().stdout, "", "at the tip: nothing more to write")

        let request = depositRequest(id: "late", account: alice, token: "DOGE", tx: tx, network: "doge")
        let replay = try workspace.run(depositPipeline, input: request)
        XCTAssertEqual(replay.record(id: "late")?.string(at: "status"), "duplicate", replay.stdout + replay.stderr)
        XCTAssertEqual(replay.record(id: "late")?["applied"]?.string(at: "first_request"), "auto:\(DogecoinNode.chain):\(tx)")
        XCTAssertEqual(try available(alice), "1250000000")
        let status = try XCTUnwrap(try chainStatus())
        XCTAssertEqual(status["height"]?.int64Value, Int64(try node.blockCount()))
        XCTAssertEqual(status.string(at: "hash"), try node.bestBlockHash())
        XCTAssertEqual(try workspace.run("tok-apply check --db state.sqlite").exitCode, 0)
    }

    // A requested deposit credited first keeps the payment exactly once when the follower reaches its level.
    func testRequestedThenDetectedIsCreditedOnce() throws {
        let tx = try node.send(from: [bob], to: receiver, coins: "3")
        try node.mine(3, to: FollowPipelineTests.miner)
        let requested = try workspace.run(depositPipeline, input: depositRequest(id: "req", account: bob, token: "DOGE", tx: tx, network: "doge"))
        XCTAssertEqual(requested.record(id: "req")?.string(at: "status"), "credited", requested.stdout + requested.stderr)
        _ = try runFollow()
        XCTAssertEqual(try available(bob), "300000000")
        XCTAssertEqual(try workspace.run("tok-apply check --db state.sqlite").exitCode, 0)
    }

    // A payment whose inputs come from two addresses proves no sender: recorded as unattributed, never credited,
    // listed for the operator.
    func testMixedInputsAreUnattributed() throws {
        let tx = try node.send(from: [alice, bob], to: receiver, coins: "1500")
        try node.mine(3, to: FollowPipelineTests.miner)
        _ = try runFollow()
        XCTAssertEqual(try available(alice), "0")
        XCTAssertEqual(try available(bob), "0")
        let listed = try workspace.run("tok-apply --db state.sqlite", input: #"{"op":"unattributed","id":"u"}"# + "\n")
        let entries = listed.record(id: "u")?["unattributed"]?.arrayElements ?? []
        XCTAssertEqual(entries.count, 1, listed.stdout)
        XCTAssertEqual(entries.first?.string(at: "tx"), tx)
        XCTAssertEqual(entries.first?.string(at: "reason"), "mixed_inputs")
        XCTAssertEqual(entries.first?.string(at: "amount"), "150000000000")

        // The operator gives it to an account, once.
        let account = "\(DogecoinNode.chain):\(bob!)"
        let resolve = "tok-apply resolve-unattributed --db state.sqlite --network doge --tx \(tx) --account \(account)"
        let resolved = try workspace.run(resolve)
        XCTAssertEqual(resolved.exitCode, 0, resolved.stderr)
        XCTAssertEqual(try available(bob), "150000000000")
        let again = try workspace.run(resolve)
        XCTAssertEqual(again.exitCode, 65, "not unattributed any more: " + again.stderr)
        XCTAssertTrue(again.stderr.contains("unknown_request"), again.stderr)
        XCTAssertEqual(try available(bob), "150000000000")
        XCTAssertEqual(try workspace.run("tok-apply check --db state.sqlite").exitCode, 0)
    }

    // Anchors: an envelope carrying a valid tok message, one whose payload is not canonical (an outcome with a
    // reason), a bare OP_RETURN and a foreign OP_RETURN (not tok's: not reported); coinbase commitments are skipped.
    func testAnchorsGetAnOutcome() throws {
        let mint = TokenMessage.mint(TokenMint(recordHash: try XCTUnwrap(RecordHash(bytes: Array(repeating: 7, count: 32))), supply: 1_000))
        let valid = try TokenProtocol.compose(mint)
        var garbled = valid
        garbled.append(0x00)                                        // a trailing byte after the message
        let carol = try node.newAddress(), dave = try node.newAddress()
        // Paid from the miner's coins: the wallet's own choice could spend alice's.
        _ = try node.send(from: [FollowPipelineTests.miner], to: carol, coins: "10")
        try node.mine(1, to: FollowPipelineTests.miner)
        _ = try node.send(from: [FollowPipelineTests.miner], to: dave, coins: "10")
        try node.mine(1, to: FollowPipelineTests.miner)
        try writeConfig()
        let good = try node.sendData(valid, from: alice)
        let bad = try node.sendData(garbled, from: bob)
        _ = try node.sendData(Array("not tok's".utf8), from: carol)
        _ = try node.sendRawTransaction(node.signedTransaction(from: [dave], payments: [], extraScripts: [[0x6a]]))
        try node.mine(1, to: FollowPipelineTests.miner)
        let result = try runFollow()
        let block = try XCTUnwrap(result.records.first)
        let anchors = block["block"]?["anchors"]?.arrayElements ?? []
        XCTAssertEqual(Set(anchors.compactMap { $0.string(at: "tx") }), [good, bad], block.serialized())
        let actors = Dictionary(uniqueKeysWithValues: anchors.map { ($0.string(at: "tx") ?? "", $0.string(at: "actor") ?? "") })
        XCTAssertEqual(actors, [good: alice, bad: bob], "the actor is the address input 0 spends")
        XCTAssertTrue(anchors.allSatisfy { $0["sighash_all"]?.boolValue == true }, block.serialized())
        let outcomes = Dictionary(uniqueKeysWithValues: (block["applied"]?["anchors"]?.arrayElements ?? []).map {
            ($0.string(at: "tx") ?? "", ($0.string(at: "outcome") ?? "", $0.string(at: "reason")))
        })
        XCTAssertEqual(outcomes[good]?.0, "applied")
        XCTAssertEqual(outcomes[bad]?.0, "invalid")
        XCTAssertNotNil(outcomes[bad]?.1)
        // The node refuses an 81-byte envelope under mainnet policy: it never reaches a block here.
        XCTAssertThrowsError(try node.sendData(Array(repeating: 0xfe, count: 81), from: alice))
    }

    // --follow keeps writing as blocks come and ends cleanly at a block boundary on SIGTERM.
    func testFollowModeEndsCleanlyOnSIGTERM() throws {
        let run = try BackgroundPipeline(workspace: workspace, name: "follow", bashArguments: [
            "-c", "exec tok-follow --follow --poll-milliseconds 50 --network doge --db state.sqlite",
        ])
        try node.mine(2, to: FollowPipelineTests.miner)
        let deadline = Date().addingTimeInterval(30)
        while run.records.count < 2 && Date() < deadline { usleep(50_000) }
        XCTAssertEqual(run.records.count, 2, run.stderr)
        try node.mine(1, to: FollowPipelineTests.miner)
        while run.records.count < 3 && Date() < deadline { usleep(50_000) }
        XCTAssertEqual(run.records.count, 3, "a block mined while it waits is written: " + run.stderr)
        kill(run.pid, SIGTERM)
        let (code, timedOut) = run.wait(timeoutSeconds: 20)
        XCTAssertFalse(timedOut)
        XCTAssertEqual(code, 0, run.stderr)
        XCTAssertTrue(run.stdout.hasSuffix("\n"), "the last record is whole")
    }

    // kill -9 of any stage at random points while blocks, payments and reorganisations happen, then reruns: the
    // same tip, state hash and balances as one clean run over the final chain.
    func testKillNineWhileFollowingGivesTheCleanRunsState() throws {
        let seed = ProcessInfo.processInfo.environment["TOK_FOLLOW_CRASH_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        let note = "TOK_FOLLOW_CRASH_SEED=\(seed)"
        let pipeline = follow.replacingOccurrences(of: "--db state.sqlite", with: "--db \(workspace.path("state.sqlite"))")
        var kills = 0
        for round in 0..<12 {
            let payer = rng.next() % 2 == 0 ? alice! : bob!
            _ = try node.send(from: [payer], to: receiver, coins: String(1 + rng.next() % 5))
            if round > 2 && rng.next() % 4 == 0 {
                // A reorganisation of 1 to 3 blocks, the new branch mined elsewhere (its payments come back from the pool).
                let depth = 1 + Int(rng.next() % 3)
                let target = try node.call("getblockhash", "[\(try node.blockCount() - depth + 1)]").stringValue!
                try node.invalidateBlock(target)
                try node.mine(depth + 1, to: try node.newAddress())
            } else {
                try node.mine(1 + Int(rng.next() % 2), to: FollowPipelineTests.miner)
            }
            let run = try BackgroundPipeline(workspace: workspace, name: "chaos-\(round)", bashArguments: ["-c", pipeline])
            let stages = run.waitForStages(3, timeoutMilliseconds: 5_000)
            if rng.next() % 3 != 0, !stages.isEmpty {
                usleep(UInt32(rng.next() % 300_000))
                if run.kill(stages[Int(rng.next() % UInt64(stages.count))]) { kills += 1 }
            }
            let (_, timedOut) = run.wait(timeoutSeconds: 60)
            XCTAssertFalse(timedOut, "round \(round) did not end; \(note)")
        }
        try node.mine(3, to: FollowPipelineTests.miner)             // every payment at the level
        for _ in 0..<2 { _ = try workspace.run(follow) }
        let chaotic = try XCTUnwrap(try chainStatus(), note)

        let clean = try Workspace(engine: Self.engine)
        try clean.write("tok.toml", try String(contentsOfFile: workspace.path("tok.toml"), encoding: .utf8))
        XCTAssertEqual(try clean.run(follow).exitCode, 0)
        let single = try XCTUnwrap(try clean.run("tok-apply chain-status --db state.sqlite").records.first)
        XCTAssertEqual(chaotic.string(at: "hash"), single.string(at: "hash"), note)
        XCTAssertEqual(chaotic.string(at: "state_hash"), single.string(at: "state_hash"), note)
        for account in [alice!, bob!] {
            let query = #"{"op":"balance","id":"q","source":{"account":"\#(account)","network":"doge","token":"DOGE"}}"#
            let there = try clean.run("tok-apply --db state.sqlite", input: query + "\n").record(id: "q")?["balance"]?.string(at: "available")
            XCTAssertEqual(try available(account), there, "\(account); \(note)")
        }
        XCTAssertEqual(try workspace.run("tok-apply check --db state.sqlite").exitCode, 0, note)
        print("follow chaos: \(kills) kills over 12 rounds; \(note)")
    }

    // A reorganisation that removes the payment's block before the level: never credited there; the payment is
    // mined again on the new branch (to another address, so the block differs) and credited once at its level.
    func testShallowReorgBeforeTheLevel() throws {
        let tx = try node.send(from: [alice], to: receiver, coins: "7")
        let paymentBlock = try node.mine(1, to: FollowPipelineTests.miner)[0]!.stringValue!
        _ = try runFollow()
        try node.invalidateBlock(paymentBlock)
        try node.mine(1, to: bob)                   // the new branch, with the payment back from the pool
        let afterReorg = try runFollow()
        XCTAssertEqual(afterReorg.records.map { $0.string(at: "status") }, ["undone", "connected"], afterReorg.stdout)
        XCTAssertEqual(try available(alice), "0", "below the level on the new branch")
        XCTAssertEqual(try node.verboseTransaction(tx)["confirmations"]?.lenientInt64, 1, "mined again")
        try node.mine(2, to: FollowPipelineTests.miner)
        _ = try runFollow()
        XCTAssertEqual(try available(alice), "700000000", "credited once, on the new branch")
        XCTAssertEqual(try workspace.run("tok-apply check --db state.sqlite").exitCode, 0)
    }

    // A reorganisation deeper than the level after the credit: the credit stays, a shortfall is recorded, the
    // account's payouts are refused and check reports it; the payment mined again on the new branch resolves it.
    func testReorgAfterTheCreditRecordsAShortfall() throws {
        try writeConfig(confirmations: 2)
        _ = try node.send(from: [alice], to: receiver, coins: "9")
        let paymentBlock = try node.mine(2, to: FollowPipelineTests.miner)[0]!.stringValue!
        _ = try runFollow()
        XCTAssertEqual(try available(alice), "900000000")

        try node.invalidateBlock(paymentBlock)
        try node.mine(3, to: bob)
        _ = try runFollow("--max-blocks 1")         // the abandoned blocks undone, one block of the new branch taken
        XCTAssertEqual(try available(alice), "900000000", "a credit is never silently rewritten")
        let check = try workspace.run("tok-apply check --db state.sqlite")
        XCTAssertEqual(check.exitCode, 65, check.stdout)
        XCTAssertTrue(check.stdout.contains("shortfall"), check.stdout)

        _ = try runFollow()                          // the payment reaches its level again on the new branch
        XCTAssertEqual(try available(alice), "900000000", "credited once")
        XCTAssertEqual(try workspace.run("tok-apply check --db state.sqlite").exitCode, 0, "resolved by the payment mined again")
    }

    // A fork deeper than max_reorg_depth stops tok-follow with exit 76 and a clear message; nothing is written.
    func testReorgDeeperThanTheLimitStops() throws {
        try writeConfig(maxReorgDepth: 2)
        let blocks = try node.mine(4, to: FollowPipelineTests.miner)
        _ = try runFollow()
        try node.invalidateBlock(blocks[0]!.stringValue!)
        try node.mine(5, to: bob)
        let stopped = try workspace.run("tok-follow --network doge --db state.sqlite")
        XCTAssertEqual(stopped.exitCode, 76, stopped.stderr)
        XCTAssertTrue(stopped.stderr.contains("max_reorg_depth"), stopped.stderr)
        XCTAssertEqual(stopped.stdout, "")
    }

    // The same chain followed in one run and in runs of one block, with a reorganisation in between, ends with the
    // same tip and state hash.
    func testStateHashIsTheSameInOneRunAndInSmallRuns() throws {
        _ = try node.send(from: [alice], to: receiver, coins: "2")
        let forked = try node.mine(2, to: FollowPipelineTests.miner)[1]!.stringValue!
        for _ in 0..<3 { _ = try runFollow("--max-blocks 1") }
        try node.invalidateBlock(forked)
        _ = try node.send(from: [bob], to: receiver, coins: "4")
        try node.mine(4, to: bob)
        for _ in 0..<8 { _ = try runFollow("--max-blocks 1") }
        let small = try XCTUnwrap(try chainStatus())

        let clean = try Workspace(engine: Self.engine)
        try clean.write("tok.toml", try String(contentsOfFile: workspace.path("tok.toml"), encoding: .utf8))
        let once = try clean.run(follow)
        XCTAssertEqual(once.exitCode, 0, once.stderr)
        let single = try XCTUnwrap(try clean.run("tok-apply chain-status --db state.sqlite").records.first)
        XCTAssertEqual(single.string(at: "hash"), small.string(at: "hash"))
        XCTAssertEqual(single.string(at: "state_hash"), small.string(at: "state_hash"))
        XCTAssertEqual(single["blocks"]?.int64Value, small["blocks"]?.int64Value)
    }
}

extension DogecoinNode {
    /// A config with one Dogecoin regtest network (DOGE, 8 decimals) followed from `followStartHeight`.
    func followConfig(receiver: String, confirmations: Int, followStartHeight: Int, maxReorgDepth: Int) -> String {
        """
        [attestation]
        key_id = "test"

        [database]
        lock_timeout_milliseconds = 5000

        [[tokens]]
        alias = "DOGE"
        decimals = 8

        [[networks]]
        alias = "doge"
        chain = "\(DogecoinNode.chain)"
        rpc_url = "\(url)"
        rpc_user = "\(user)"
        rpc_password = "\(password)"
        receiver = "\(receiver)"
        confirmations = \(confirmations)
        follow_start_height = \(followStartHeight)
        max_reorg_depth = \(maxReorgDepth)
        rpc_timeout_milliseconds = 10000
        rpc_retries = 2

          [[networks.assets]]
          token = "DOGE"
          asset = "\(DogecoinNode.chain)/slip44:3"
          decimals = 8

        """
    }
}
