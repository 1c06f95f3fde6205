import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import TokShared
import TokTestSupport

/// Where the repository and the built tok-* executables are.
enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The executables sit beside the test bundle that `swift test` runs.
    static let binDirectory: URL = {
        if let override = ProcessInfo.processInfo.environment["TOK_BIN_DIR"] {
            return URL(fileURLWithPath: override)
        }
        var candidate = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            if FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("tok-apply").path) { return candidate }
            candidate = candidate.deletingLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug")
    }()

    static let python = root.appendingPathComponent(".venv-peers/bin/python").path
}

/// The outcome of running a shell pipeline of tok tools.
struct PipelineResult {
    let exitCode: Int32
    let stdout: String
    let stderr: String

    /// Every stdout line parsed as a JSON object.
    var records: [JSON] {
        stdout.split(separator: "\n").map { line in
            guard case .success(let value) = JSON.parse(String(line)) else {
                XCTFail("tool output is not JSON: \(line)")
                return JSON.object()
            }
            return value
        }
    }

    func record(id: String) -> JSON? { records.first { $0.string(at: "id") == id } }
}

/// A scratch directory with a config for one test, and the test's ledger:
/// `state.sqlite` in the directory, or a fresh database on the test
/// PostgreSQL server. Commands name the ledger `state.sqlite` whatever the
/// engine; `run` puts the database's URI in its place.
final class Workspace {
    let directory: URL
    let secret = "test-attestation-secret-0123456789abcdef"
    let engine: TestEngine
    /// What `--db` names: the SQLite file's path, or the PostgreSQL URI.
    let database: String

    init(engine: TestEngine = .sqlite) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tok-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.engine = engine
        database = try TestDatabase.make(engine, directory: directory.path, file: "state.sqlite")
    }

    /// `command` with the ledger's name replaced by this workspace's database.
    func bound(_ command: String) -> String {
        engine == .sqlite ? command : command.replacingOccurrences(of: "state.sqlite", with: "'\(database)'")
    }

    /// The ledger, read-only (as tok-verify opens it).
    func readLedger() throws -> Ledger {
        switch engine {
        case .sqlite:
            return try Ledger(readOnlyPath: path("state.sqlite"), busyTimeoutMilliseconds: 2000, logger: .init(label: "test"))
        case .postgresql:
            var settings = PostgreSQLSettings(uri: database)
            settings.readOnly = true
            return try Ledger(readOnly: try PostgreSQLConnection(settings), logger: .init(label: "test"))
        }
    }

    /// A shell command that holds the writer lock for `seconds`, as another writer would.
    func holdWriterLock(seconds: Int) -> String {
        switch engine {
        case .sqlite: return "flock state.sqlite.lock sleep \(seconds)"
        case .postgresql:
            return "psql -X -q '\(database)' -c 'SELECT pg_advisory_lock(\(AdvisoryWriterLock.key))' -c 'SELECT pg_sleep(\(seconds))' > /dev/null"
        }
    }

    /// One SQL query on the ledger through the engine's own client (sqlite3 or
    /// psql), its rows as the client prints them ("|" between columns).
    func sql(_ query: String) throws -> PipelineResult {
        switch engine {
        case .sqlite: return try run("sqlite3 state.sqlite \"\(query)\"")
        case .postgresql: return try run("psql -X -q -A -t -v ON_ERROR_STOP=1 '\(database)' -c \"\(query)\"")
        }
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Owner-only, like an operator's files: configs here may hold an RPC password.
    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        chmod(path(name), 0o600)
    }

    /// Runs `command` with bash, the tok tools first on PATH, stdin from `input`.
    func run(_ command: String, input: String = "", environment: [String: String] = [:]) throws -> PipelineResult {
        let inputFile = path("stdin-\(UUID().uuidString)")
        let outputFile = path("stdout-\(UUID().uuidString)")
        let errorFile = path("stderr-\(UUID().uuidString)")
        try input.write(toFile: inputFile, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "set -o pipefail; ( \(bound(command)) ) < '\(inputFile)' > '\(outputFile)' 2> '\(errorFile)'"]
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = Repo.binDirectory.path + ":" + Workspace.postgresBin + (env["PATH"] ?? "/usr/bin:/bin")
        env["TOK_ATTESTATION_SECRET"] = secret
        env["TOK_CONFIG"] = path("tok.toml")
        env["TOK_LOG_LEVEL"] = "info"
        env["TOK_TEST_OPERATOR_KEY"] = EVMNode.operatorKey
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.currentDirectoryURL = directory
        try process.run()
        process.waitUntilExit()
        return PipelineResult(exitCode: process.terminationStatus,
                              stdout: (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? "",
                              stderr: (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? "")
    }
}

extension Workspace {
    /// psql's directory, for `sql` on PostgreSQL.
    static let postgresBin: String = {
        for version in [15, 16, 17] where FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\(version)/bin/psql") {
            return "/usr/lib/postgresql/\(version)/bin:"
        }
        return ""
    }()
}

/// A real EVM chain (eth-tester + py-evm) served on loopback by testpeers/evm_node.py.
final class EVMNode {
    let process: Process
    let url: String
    private let portFile: String

    /// Key #10 of the node's funded accounts; the tests' operator receiver.
    static let receiver = "0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528"
    static let operatorKey = "0x000000000000000000000000000000000000000000000000000000000000000a"
    /// Private keys of `accounts` (the node's funded accounts #1-#4 have keys 1-4).
    static func key(_ index: Int) -> PrivateKey {
        try! PrivateKey(hex: "0x" + String(repeating: "0", count: 63) + String(index + 1))
    }
    static let chainId = "131277322940537"
    static let configTemplate: String = {
        let path = Repo.root.appendingPathComponent("testpeers/evm-local.toml").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { preconditionFailure("cannot read \(path)") }
        return text
    }()
    static let accounts = [
        "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf",
        "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF",
        "0x6813Eb9362372EEF6200f3b1dbC3f819671cBA69",
        "0x1efF47bc3a10a45D4B230B5d10E37751FE6AA718",
    ]

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: Repo.python) else {
            throw XCTSkip("no .venv-peers: run `bash scripts/test.sh` (or scripts/setup.sh) first")
        }
        portFile = FileManager.default.temporaryDirectory.appendingPathComponent("evm-\(UUID().uuidString).port").path
        process = Process()
        process.executableURL = URL(fileURLWithPath: Repo.python)
        process.arguments = [Repo.root.appendingPathComponent("testpeers/evm_node.py").path, "--port", "0", "--port-file", portFile]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Bounded wait: the node needs about a second to import py-evm and compile the token.
        var waitedMilliseconds = 0
        while !FileManager.default.fileExists(atPath: portFile) {
            guard process.isRunning, waitedMilliseconds < 60_000 else {
                process.terminate()
                throw NSError(domain: "EVMNode", code: 1, userInfo: [NSLocalizedDescriptionKey: "evm_node.py did not start"])
            }
            usleep(50_000)
            waitedMilliseconds += 50
        }
        let port = try String(contentsOfFile: portFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        url = "http://127.0.0.1:\(port)"
    }

    /// Stops the node. Called from the test class's tearDown: XCTest keeps test
    /// case objects (and so this node) alive until the process exits.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }

    /// A synchronous JSON-RPC call; fails the test on an error answer.
    @discardableResult
    func call(_ method: String, _ params: String = "[]", file: StaticString = #filePath, line: UInt = #line) throws -> JSON {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\(method)\",\"params\":\(params)}".utf8)
        request.timeoutInterval = 30
        guard let body = try SynchronousHTTP.send(request), case .success(let answer) = body.withUnsafeBytes({ JSON.parse($0) }) else {
            throw NSError(domain: "EVMNode", code: 2, userInfo: [NSLocalizedDescriptionKey: "\(method): no JSON answer"])
        }
        if let error = answer["error"] {
            XCTFail("\(method) failed: \(error)", file: file, line: line)
            throw NSError(domain: "EVMNode", code: 3, userInfo: [NSLocalizedDescriptionKey: "\(method): \(error)"])
        }
        return answer["result"] ?? JSON.null()
    }

    func sendEth(from: Int, to: String, wei: String) throws -> String {
        try call("tokdev_sendEth", "[{\"from\":\(from),\"to\":\"\(to)\",\"value\":\"\(wei)\"}]").stringValue!
    }

    func deployToken(from: Int = 0, symbol: String = "TOK", supply: String = "1000000000000000000000000") throws -> String {
        try call("tokdev_deployToken", "[{\"from\":\(from),\"name\":\"Test \(symbol)\",\"symbol\":\"\(symbol)\",\"decimals\":18,\"supply\":\"\(supply)\"}]")
            .string(at: "address")!
    }

    func transferToken(_ token: String, from: Int, to: String, amount: String) throws -> String {
        try call("tokdev_transferToken", "[{\"token\":\"\(token)\",\"from\":\(from),\"to\":\"\(to)\",\"amount\":\"\(amount)\"}]").stringValue!
    }

    func mine(_ blocks: Int) throws { try call("evm_mine", "[\(blocks)]") }

    /// A config for this node: ETH and one ERC-20 (TOK), confirmations 3,
    /// from testpeers/evm-local.toml (the one source the Python drivers read too).
    /// `extraToken` is configured as OTHER, its deposits disabled unless `extraTokenDeposits`.
    func config(token: String, confirmations: Int = 3, extraToken: String? = nil, extraTokenDeposits: Bool = false) -> String {
        var text = EVMNode.configTemplate
            .replacingOccurrences(of: "@CHAIN_ID@", with: EVMNode.chainId)
            .replacingOccurrences(of: "@URL@", with: url)
            .replacingOccurrences(of: "@RECEIVER@", with: EVMNode.receiver)
            .replacingOccurrences(of: "@TOKEN@", with: token)
            .replacingOccurrences(of: "@CONFIRMATIONS@", with: String(confirmations)) + "\n"
        if let extraToken {
            text += """

              [[networks.assets]]
              token = "OTHER"
              asset = "eip155:\(EVMNode.chainId)/erc20:\(extraToken)"
              decimals = 18
              deposit = \(extraTokenDeposits)

            """
        }
        return text
    }
}

/// The deployment every test config names (`[engine] deployment`): payout authorisations are bound to it.
let testDeployment = "tok-test"

/// A deposit request line as a client would send it.
func depositRequest(id: String, account: String, token: String, tx: String, network: String = "evm-local") -> String {
    "{\"op\":\"deposit\",\"id\":\"\(id)\",\"source\":{\"account\":\"\(account)\",\"network\":\"\(network)\",\"token\":\"\(token)\"},\"deposit\":{\"tx\":\"\(tx)\"}}"
}

func balanceQuery(id: String, account: String, token: String) -> String {
    "{\"op\":\"balance\",\"id\":\"\(id)\",\"source\":{\"account\":\"\(account)\",\"network\":\"evm-local\",\"token\":\"\(token)\"}}"
}

let depositPipeline = "tok-validate | tok-verify | tok-apply --db state.sqlite"
let payoutPipeline = "tok-validate | tok-verify --db state.sqlite | tok-apply --db state.sqlite | tok-submit --wait --poll-milliseconds 100 --wait-timeout-milliseconds 30000 | tok-apply --db state.sqlite"

/// A payout (or, with `depositTx`, a transfer) request signed by the source account's key.
func signedPayoutRequest(id: String, from index: Int, to destination: String, token: String, quantity: String,
                         maxFee: String = "100000000000000000", expires: Int64? = nil, depositTx: String? = nil,
                         signer: Int? = nil) -> String {
    let expiry = expires ?? Int64(Date().timeIntervalSince1970) + 3600
    let source = EVMNode.accounts[index]
    let authorisation = PayoutAuthorisation(
        deployment: testDeployment, requestId: id, source: "eip155:\(EVMNode.chainId):\(source)", destination: "eip155:\(EVMNode.chainId):\(destination)",
        token: token, quantity: try! UInt256(decimal: quantity), maxFee: try! UInt256(decimal: maxFee), expiresUnixSeconds: expiry)
    let signature = PersonalSign.sign(message: authorisation.message, key: EVMNode.key(signer ?? index))
    let deposit = depositTx.map { ",\"deposit\":{\"tx\":\"\($0)\"}" } ?? ""
    return "{\"op\":\"\(depositTx == nil ? "payout" : "transfer")\",\"id\":\"\(id)\",\"source\":{\"account\":\"\(source)\",\"network\":\"evm-local\",\"token\":\"\(token)\"},"
        + "\"destination\":{\"account\":\"\(destination)\",\"network\":\"evm-local\",\"token\":\"\(token)\"},"
        + "\"quantity\":\"\(quantity)\",\"max_fee\":\"\(maxFee)\",\"expires\":\(expiry),\"signature\":\"\(signature)\"\(deposit)}"
}
