import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest
@testable import TokShared

/// SplitMix64: a small seeded generator, so a chaos run is replayed exactly from its printed seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One live process of a pipeline: its pid and argv.
struct StageProcess {
    let pid: Int32
    let arguments: [String]
    var tool: String { arguments.first.map { ($0 as NSString).lastPathComponent } ?? "?" }
}

/// Reads /proc: the processes whose parent is `parent`, skipping zombies.
func childProcesses(of parent: Int32) -> [StageProcess] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    var children: [StageProcess] = []
    for entry in entries {
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        else { continue }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, fields[0] != "Z", Int32(fields[1]) == parent else { continue }
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        children.append(StageProcess(pid: pid, arguments: arguments))
    }
    return children.sorted { $0.pid < $1.pid }
}

/// A bash pipeline of tok tools started in the background (same environment
/// as `Workspace.run`), so a test can find its stage processes and kill -9 them.
final class BackgroundPipeline {
    let process = Process()
    let name: String
    private let stdoutPath: String
    private let stderrPath: String

    /// `arguments` are bash's: `["-c", command]` or a script and its arguments.
    init(workspace: Workspace, name: String, bashArguments arguments: [String]) throws {
        self.name = name
        stdoutPath = workspace.path("\(name).out")
        stderrPath = workspace.path("\(name).err")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = arguments.map { $0 == "state.sqlite" ? workspace.database : workspace.bound($0) }
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = Repo.binDirectory.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        env["TOK_ATTESTATION_SECRET"] = workspace.secret
        env["TOK_CONFIG"] = workspace.path("tok.toml")
        env["TOK_LOG_LEVEL"] = "info"
        env["TOK_TEST_OPERATOR_KEY"] = EVMNode.operatorKey
        process.environment = env
        process.currentDirectoryURL = workspace.directory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
        started = Date()
    }

    private(set) var started = Date()

    var pid: Int32 { process.processIdentifier }

    /// The pipeline's live tok-* processes (bash's children that have exec'd a tool).
    func stages() -> [StageProcess] {
        childProcesses(of: pid).filter { $0.tool.hasPrefix("tok-") }
    }

    /// Waits until `count` tok-* children run (all stages exec'd), or the timeout passes.
    @discardableResult
    func waitForStages(_ count: Int, timeoutMilliseconds: Int = 10_000) -> [StageProcess] {
        let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
        var found = stages()
        while found.count < count && process.isRunning && Date() < deadline {
            usleep(5_000)
            found = stages()
        }
        return found
    }

    /// kill -9 one stage; true when the process was alive (not a zombie) just before.
    func kill(_ stage: StageProcess) -> Bool {
        guard childProcesses(of: pid).contains(where: { $0.pid == stage.pid }) else { return false }
        return Glibc.kill(stage.pid, SIGKILL) == 0
    }

    /// Polls the pipeline's live stages every 5 ms until bash exits, calling `observe` with the
    /// milliseconds since the start and the stages; `observe` returns false once it needs no more
    /// calls. Past the timeout every process of the pipeline is killed.
    func watch(timeoutSeconds: Double, _ observe: (Int, [StageProcess]) -> Bool) -> (exitCode: Int32, timedOut: Bool) {
        var observing = true
        while observing && process.isRunning {
            let elapsed = Int(Date().timeIntervalSince(started) * 1000)
            if Double(elapsed) > timeoutSeconds * 1000 { break }
            observing = observe(elapsed, stages())
            usleep(5_000)
        }
        let remaining = max(0, timeoutSeconds - Date().timeIntervalSince(started))
        return wait(timeoutSeconds: remaining)
    }

    /// Waits for bash to exit; past the timeout every process of the pipeline is killed.
    func wait(timeoutSeconds: Double) -> (exitCode: Int32, timedOut: Bool) {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        var timedOut = false
        if process.isRunning {
            timedOut = true
            for child in childProcesses(of: pid) { _ = Glibc.kill(child.pid, SIGKILL) }
            _ = Glibc.kill(pid, SIGKILL)
        }
        process.waitUntilExit()
        return (process.terminationStatus, timedOut)
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Every complete stdout line that parses as a JSON object (a killed stage may leave half a line).
    var records: [JSON] {
        stdout.split(separator: "\n").compactMap { line in
            if case .success(let value) = JSON.parse(String(line)), value.isObject { return value }
            return nil
        }
    }
}

extension EVMNode {
    /// A fresh account with no balance, so what it receives can be read exactly.
    func newAccount() throws -> String {
        try call("tokdev_newAccount").string(at: "address")!
    }

    func nonce(_ address: String) throws -> UInt64 {
        UInt64(try call("eth_getTransactionCount", "[\"\(address)\",\"latest\"]").stringValue!.dropFirst(2), radix: 16)!
    }

    func ethBalance(_ address: String) throws -> UInt256 {
        UInt256(hex: try call("eth_getBalance", "[\"\(address)\",\"latest\"]").stringValue!)!
    }

    func tokenBalance(_ token: String, of address: String) throws -> UInt256 {
        UInt256(
            hex: try call("tokdev_tokenBalance", "[{\"token\":\"\(token)\",\"owner\":\"\(address)\"}]").stringValue!)!
    }

    func blockNumber() throws -> UInt64 {
        UInt64(try call("eth_blockNumber").stringValue!.dropFirst(2), radix: 16)!
    }
}

/// Reconciliation runs and ledger views shared by the crash tests (EVM and bip122).
struct CrashLedger {
    let workspace: Workspace
    /// Names the seed in every failure message, so a failing run can be replayed.
    let seedNote: String

    struct ReconcileResult { let exitCode: Int32; let records: Int }

    func reconcile(name: String, waitMilliseconds: Int) throws -> ReconcileResult {
        let run = try BackgroundPipeline(
            workspace: workspace, name: name,
            bashArguments: [
                Repo.root.appendingPathComponent("pipelines/reconcile.sh").path, "state.sqlite",
                "--wait-timeout-milliseconds", String(waitMilliseconds),
            ])
        let (code, timedOut) = run.wait(timeoutSeconds: 120)
        XCTAssertFalse(timedOut, "\(name) did not end; \(seedNote)")
        return ReconcileResult(exitCode: code, records: run.records.count)
    }

    /// Starts reconciliation and kill -9s one of its live stages mid-way.
    func killedReconcile(name: String, rng: inout SeededGenerator) throws -> (String, Int, Bool) {
        let run = try BackgroundPipeline(
            workspace: workspace, name: name,
            bashArguments: [
                Repo.root.appendingPathComponent("pipelines/reconcile.sh").path, "state.sqlite",
                "--wait-timeout-milliseconds", "20000",
            ])
        run.waitForStages(5, timeoutMilliseconds: 2000)
        let delay = 50 + Int(rng.next() % 1451)
        usleep(UInt32(delay) * 1000)
        let live = run.stages()
        var label = "nothing"
        var killed = false
        if !live.isEmpty {
            let target = live[Int(rng.next() % UInt64(live.count))]
            label = "\(target.tool) (\(live.count) stage(s) alive)"
            killed = run.kill(target)
        }
        let (_, timedOut) = run.wait(timeoutSeconds: 120)
        XCTAssertFalse(timedOut, "\(name) did not end after the kill; \(seedNote)")
        return (label, delay, killed)
    }

    /// Runs reconciliation until `tok-apply --open-payouts` has nothing left (bounded).
    func reconcileUntilNothingIsOpen(label: String) throws -> Int {
        for attempt in 1...6 {
            let open = try workspace.run("tok-apply --db state.sqlite --open-payouts")
            XCTAssertEqual(open.exitCode, 0, open.stderr)
            if open.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return attempt - 1 }
            _ = try reconcile(name: "\(label)-settle-\(attempt)", waitMilliseconds: 20_000)
        }
        let open = try workspace.run("tok-apply --db state.sqlite --open-payouts")
        XCTAssertEqual(open.stdout, "", "payouts still open after 6 reconciliations; \(seedNote)")
        return 6
    }

    /// Each request's state as tok-apply answers a status query, by id.
    func requestStates(_ ids: [String]) throws -> [String: JSON] {
        let query = ids.map { "{\"op\":\"status\",\"id\":\"\($0)\"}" }.joined(separator: "\n")
        let result = try workspace.run("tok-apply --db state.sqlite", input: query)
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        var states: [String: JSON] = [:]
        for id in ids { states[id] = result.record(id: id)?["request"] }
        return states
    }

    func sql(_ query: String) throws -> String {
        let result = try workspace.sql(query)
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The kill -9 campaign both crash tests run (EVM in CrashTests, bip122 in
/// UTXOCrashTests), on either engine: chaos rounds that kill one stage each,
/// then recovery by reconciliation and replay. What differs per chain (the
/// stream, what is final, which refusals may leave a request for another
/// pass) comes in as closures.
struct CrashCampaign {
    let workspace: Workspace
    /// The test's name, first on every progress line.
    let label: String
    let seedNote: String
    var ledger: CrashLedger { CrashLedger(workspace: workspace, seedNote: seedNote) }

    /// Chaos: every stage is the victim at least once. The stream is cut into `rounds` chunks;
    /// round r replays from the first request not yet final (at the latest from chunk r-1, so
    /// finished requests are replayed too) through chunk r, so each round has fresh work.
    /// Reconciliation runs between rounds, and is killed too, after the rounds that kill
    /// tok-submit or the committing tok-apply (those leave payouts open for it). Returns the
    /// kills that landed, by victim.
    func chaos(
        lines: [String], rounds: Int, rng: inout SeededGenerator, firstUnfinished: () throws -> Int,
        describe: ([JSON]) -> String = { _ in "" }, afterRound: (Int) throws -> Void = { _ in }
    ) throws -> [String: Int] {
        var victims = CrashTests.stageNames.shuffled(using: &rng)
        while victims.count < rounds { victims.append(CrashTests.stageNames.randomElement(using: &rng)!) }
        enum Between { case nothing, reconcile, killedReconcile }
        let between: [Between] = victims.map { victim in
            if victim == "submit" || victim == "apply-commit" { return .killedReconcile }
            return [.nothing, .reconcile][Int(rng.next() % 2)]
        }
        var kills: [String: Int] = [:]
        var lifetimes: [String: Int] = [:]  // how long each stage lived in rounds where no kill landed
        for round in 0..<rounds {
            let victim = victims[round]
            let end = ((round + 1) * lines.count + rounds - 1) / rounds
            let previousChunk = round == 0 ? 0 : (round - 1) * lines.count / rounds
            let start = min(previousChunk, try firstUnfinished())
            try workspace.write("stream-\(round).ndjson", lines[start..<end].joined(separator: "\n") + "\n")
            let pipeline = try BackgroundPipeline(
                workspace: workspace, name: "round-\(round)",
                bashArguments: [
                    "-c", CrashTests.chaosPipeline(input: "stream-\(round).ndjson", waitTimeoutMilliseconds: 5000),
                ])
            // A random moment in 50-2000 ms, within how long the victim lived in undisturbed rounds so far
            // (upstream stages end well before the pipeline does), so most kills land mid-stream.
            let delay = 50 + Int(rng.next() % UInt64(max(1, min(2000, lifetimes[victim, default: 2000]) - 49)))
            var lastSeen: [String: Int] = [:]
            var landed = false, attempted = false
            let (code, timedOut) = pipeline.watch(timeoutSeconds: 120) { elapsedMilliseconds, stages in
                for stage in stages {
                    if let name = CrashTests.stageName(stage) { lastSeen[name] = elapsedMilliseconds }
                }
                if elapsedMilliseconds >= delay && !attempted {
                    attempted = true
                    if let target = stages.first(where: { CrashTests.stageName($0) == victim }) {
                        landed = pipeline.kill(target)
                    }
                }
                return !landed  // after a miss, keep watching: the stages' lifetimes steer the next delays
            }
            if landed { kills[victim, default: 0] += 1 }
            XCTAssertFalse(
                timedOut, "round \(round): the pipeline did not end after the kill; \(seedNote)\n\(pipeline.stderr)")
            if !landed { for (name, milliseconds) in lastSeen { lifetimes[name] = max(60, milliseconds) } }
            print(
                "\(label): round \(round) (requests \(start)..<\(end)): kill -9 \(victim) after \(delay) ms: "
                    + "\(landed ? "killed" : "had already exited"); pipeline exit \(code), \(pipeline.records.count) records out"
                    + describe(pipeline.records))
            switch between[round] {
            case .nothing: break
            case .reconcile:
                let result = try ledger.reconcile(name: "reconcile-\(round)", waitMilliseconds: 20_000)
                print("\(label): round \(round): reconciliation exit \(result.exitCode), \(result.records) records")
            case .killedReconcile:
                let open = try workspace.run("tok-apply --db state.sqlite --open-payouts").stdout.split(separator: "\n")
                    .count
                let (victimTool, delayMs, killed) = try ledger.killedReconcile(name: "reconcile-\(round)", rng: &rng)
                if killed { kills["reconcile", default: 0] += 1 }
                print(
                    "\(label): round \(round): reconciliation of \(open) open payout(s), kill -9 \(victimTool) after \(delayMs) ms: "
                        + (killed ? "killed" : "it had already ended"))
            }
            try afterRound(round)
        }
        return kills
    }

    /// Recovery: reconcile, replay the whole stream without kills, reconcile until nothing is
    /// open; another pass (up to `maxPasses`) only while every request left unfinished was
    /// refused in a way `mayRetry` accepts (retryable by design, locking nothing); any other
    /// unfinished request is a finding. Returns each request's state and the passes it took.
    func recover(
        ids: [String], maxPasses: Int, isFinal: (Int, JSON?) -> Bool, mayRetry: (JSON?) -> Bool,
        describe: ([JSON]) -> String = { _ in "" }
    ) throws -> (states: [String: JSON], passes: Int) {
        _ = try ledger.reconcile(name: "recover", waitMilliseconds: 20_000)
        var states: [String: JSON] = [:]
        var passes = 0
        for pass in 1...maxPasses {
            passes = pass
            let replay = try BackgroundPipeline(
                workspace: workspace, name: "replay-\(pass)",
                bashArguments: [
                    "-c",
                    "set -o pipefail; "
                        + CrashTests.chaosPipeline(input: "stream.ndjson", waitTimeoutMilliseconds: 30_000),
                ])
            let (code, timedOut) = replay.wait(timeoutSeconds: 300)
            XCTAssertFalse(timedOut, "replay \(pass) did not end; \(seedNote)")
            XCTAssertEqual(code, 0, "replay \(pass) failed; \(seedNote)\n\(replay.stderr.suffix(4000))")
            let settled = try ledger.reconcileUntilNothingIsOpen(label: "replay-\(pass)")
            states = try ledger.requestStates(ids)
            let unfinished = ids.indices.filter { !isFinal($0, states[ids[$0]]) }
            print(
                "\(label): replay \(pass): exit \(code), reconciled in \(settled) run(s), \(unfinished.count) request(s) unfinished"
                    + describe(replay.records))
            for index in unfinished {
                let id = ids[index]
                let record = replay.records.first { $0.string(at: "id") == id }
                print(
                    "\(label):   \(id): \(states[id]?.string(at: "state") ?? "unknown"); the replay said "
                        + "\(record?.string(at: "status") ?? "nothing") \(record?["error"].map { "\($0)" } ?? "")")
                XCTAssertTrue(
                    mayRetry(record?["error"]),
                    "\(id) is not final after replay \(pass): \(record.map { "\($0)" } ?? "no record"); \(seedNote)")
            }
            if unfinished.isEmpty { break }
        }
        return (states, passes)
    }
}
