import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import XCTest
@testable import TokShared

/// What sets one Bitcoin-family daemon apart from another, for RegtestNode.
struct RegtestDaemon {
    /// For messages: "litecoind", "dogecoind".
    let name: String
    let executable: String
    /// Start flags beyond the ones every node gets (regtest, loopback RPC, txindex, datadir).
    let extraArguments: [String]
    /// Parameters of `getnewaddress` that give a legacy P2PKH address.
    let newAddressParams: String
    /// `signrawtransaction` on Dogecoin 1.14, `signrawtransactionwithwallet` on later Cores.
    let signRawTransactionMethod: String
    /// Later Cores start without a wallet; Dogecoin 1.14 always has its default one.
    let createsWallet: Bool
    /// The fee of the transactions `signedTransaction` builds.
    let feeBaseUnits: UInt64
    let chain: UTXOChainParameters
}

/// A real Bitcoin-family daemon on regtest, on loopback, in a scratch data directory, spoken
/// to over JSON-RPC. Subclasses say which daemon (LitecoinNode, DogecoinNode). The test
/// class that starts one stops it in tearDown: XCTest keeps test case objects (and so the
/// node) alive until the process exits, so deinit alone would leave the daemon running.
class RegtestNode {
    let daemon: RegtestDaemon
    let process = Process()
    let port: Int
    let dataDirectory: URL
    let user = "tok"
    let password = "tok-test-password"
    var url: String { "http://127.0.0.1:\(port)/" }
    var chain: UTXOChainParameters { daemon.chain }
    private var stopped = false

    init(_ daemon: RegtestDaemon) throws {
        self.daemon = daemon
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tok-\(daemon.name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        port = try RegtestNode.freeLoopbackPort()
        process.executableURL = URL(fileURLWithPath: daemon.executable)
        process.arguments =
            [
                "-regtest", "-daemon=0", "-server=1", "-listen=0", "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1",
                "-rpcport=\(port)", "-rpcuser=\(user)", "-rpcpassword=\(password)", "-txindex=1",
                "-printtoconsole=0", "-datadir=\(dataDirectory.path)",
            ] + daemon.extraArguments
        let stderrPath = dataDirectory.appendingPathComponent("stderr.log")
        guard FileManager.default.createFile(atPath: stderrPath.path, contents: nil) else {
            throw NodeFailure(message: "cannot create \(stderrPath.path)")
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: stderrPath)
        try process.run()
        do {
            try waitUntilReady(stderrPath: stderrPath)
            if daemon.createsWallet { try call("createwallet", "[\"tok-test\"]") }
        } catch {
            stop()
            throw error
        }
    }

    /// A test that needs a node which is not there: skipped, except under CI=true, where a
    /// missing node is a failure (CI makes every node available).
    static func unavailable(_ message: String) -> Error {
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            return NodeFailure(message: message + " (CI=true: a missing node fails the test instead of skipping it)")
        }
        return XCTSkip(message)
    }

    /// Polls until the RPC server answers (bounded: 60 s; it answers -28 "warming up" first),
    /// failing early with the daemon's own words if it exits.
    private func waitUntilReady(stderrPath: URL) throws {
        var waitedMilliseconds = 0
        while (try? call("getblockcount")) == nil {
            guard process.isRunning else {
                process.waitUntilExit()
                let said = (try? String(contentsOf: stderrPath, encoding: .utf8))?.suffix(600) ?? ""
                throw NodeFailure(
                    message: "\(daemon.name) exited with status \(process.terminationStatus) before answering RPC"
                        + " (missing libraries? run scripts/setup.sh): \(said)")
            }
            guard waitedMilliseconds < 60_000 else {
                throw NodeFailure(message: "\(daemon.name) did not answer RPC within 60 s")
            }
            usleep(100_000)
            waitedMilliseconds += 100
        }
    }

    /// Asks the node to stop, waits up to 30 s, then kills it; removes the data directory.
    func stop() {
        guard !stopped else { return }
        stopped = true
        if process.isRunning {
            _ = try? call("stop")
            var waitedMilliseconds = 0
            while process.isRunning && waitedMilliseconds < 30_000 {
                usleep(50_000)
                waitedMilliseconds += 50
            }
            // A node busy in a long RPC (a mining loop) may not heed SIGTERM either.
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: dataDirectory)
    }

    deinit { stop() }

    // MARK: RPC

    /// A JSON-RPC call; numbers of the answer arrive as text (exact amounts). `params` is a
    /// JSON array as text; amounts in it are written as decimal numbers, never through a Double.
    @discardableResult
    func call(_ method: String, _ params: String = "[]") throws -> JSON {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = "POST"
        request.setValue(
            "Basic " + Base64.encode(Array("\(user):\(password)".utf8)), forHTTPHeaderField: "Authorization")
        // An idle keep-alive connection holds up Litecoin Core's shutdown for -rpcservertimeout (30 s).
        request.setValue("close", forHTTPHeaderField: "Connection")
        request.httpBody = Data("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"\(method)\",\"params\":\(params)}".utf8)
        request.timeoutInterval = 120
        guard let data = try SynchronousHTTP.send(request),
            let quoted = try? JSONNumberText.quotingNumbers([UInt8](data)),
            case .success(let answer) = quoted.withUnsafeBytes({ JSON.parse($0) })
        else {
            throw NodeFailure(message: "\(method): no JSON answer")
        }
        if let error = answer["error"], !error.isNull {
            throw NodeFailure(message: "\(method): \(error)")
        }
        return answer["result"] ?? JSON.null()
    }

    /// tok's own client for this node, reading numbers as text, and a block source over it.
    /// Release them before `stop`: their idle connections delay a Litecoin node's shutdown.
    func client() throws -> JSONRPCClient {
        try JSONRPCClient(
            url: url, user: user, password: password, timeoutMilliseconds: 60_000, retries: 1,
            numbersAsText: true, logger: Logger(label: "tok-test-\(daemon.name)"))
    }

    func blockSource() throws -> UTXOBlockSource { UTXOBlockSource(client: try client(), chain: chain) }

    // MARK: Wallet and chain

    func newAddress() throws -> String { try call("getnewaddress", daemon.newAddressParams).stringValue! }

    /// Mines `blocks` blocks to `address` (a new one by default); the answer lists their hashes.
    @discardableResult
    func mine(_ blocks: Int, to address: String? = nil) throws -> JSON {
        let target = try address ?? newAddress()
        return try call("generatetoaddress", "[\(blocks), \"\(target)\"]")
    }

    /// The wallet pays `coins` (decimal text) to `address`; the txid.
    @discardableResult
    func fund(_ address: String, coins: String) throws -> String {
        try call("sendtoaddress", "[\"\(address)\", \(coins)]").stringValue!
    }

    func dumpPrivateKey(_ address: String) throws -> String { try call("dumpprivkey", "[\"\(address)\"]").stringValue! }

    /// The node's own `signmessage` by one of its wallet addresses: the chain's format, not tok's code.
    func signMessage(_ message: String, by address: String) throws -> String {
        try call("signmessage", "[\"\(address)\", \(JSON.string(message).serialized())]").stringValue!
    }

    func invalidateBlock(_ hash: String) throws { try call("invalidateblock", "[\"\(hash)\"]") }
    func reconsiderBlock(_ hash: String) throws { try call("reconsiderblock", "[\"\(hash)\"]") }
    func blockCount() throws -> Int { Int(try call("getblockcount").lenientInt64!) }
    func bestBlockHash() throws -> String { try call("getbestblockhash").stringValue! }
    /// `getblock HASH false`: the serialised block as hex.
    func rawBlock(_ hash: String) throws -> String { try call("getblock", "[\"\(hash)\", false]").stringValue! }
    /// `getblock HASH true`: the block with its txids.
    func verboseBlock(_ hash: String) throws -> JSON { try call("getblock", "[\"\(hash)\", true]") }
    func verboseHeader(_ hash: String) throws -> JSON { try call("getblockheader", "[\"\(hash)\", true]") }
    /// `getrawtransaction TXID true` (needs -txindex, which every node here runs with).
    func verboseTransaction(_ txid: String) throws -> JSON { try call("getrawtransaction", "[\"\(txid)\", true]") }

    // MARK: Transactions built from chosen coins

    /// Pays `coins` to `destination` spending only outputs of `sources`, change to the first source.
    func send(from sources: [String], to destination: String, coins: String) throws -> String {
        try sendRawTransaction(signedTransaction(from: sources, payments: [(destination, coins)]))
    }

    /// A wallet-signed transaction, not sent: input 0 spends a coin of `sources[0]`, further
    /// inputs take coins until the payments and the fee are covered and every source has given
    /// one. Outputs in order: `payments`, an OP_RETURN carrying `data` when given (the
    /// `"data"` output of createrawtransaction), the change to `sources[0]`, then a zero-value
    /// output per script of `extraScripts` (for what createrawtransaction cannot write, such
    /// as a bare OP_RETURN: Dogecoin's refuses empty data).
    func signedTransaction(
        from sources: [String], payments: [(address: String, coins: String)], data: [UInt8]? = nil,
        extraScripts: [[UInt8]] = []
    ) throws -> String {
        let quotedSources = sources.map { "\"\($0)\"" }.joined(separator: ",")
        let unspent = try call("listunspent", "[1, 9999999, [\(quotedSources)]]").arrayElements
            .sorted {
                (sources.firstIndex(of: $0.string(at: "address") ?? "") ?? 0)
                    < (sources.firstIndex(of: $1.string(at: "address") ?? "") ?? 0)
            }
        var outputs: [(key: String, baseUnits: UInt64)] = []
        for payment in payments {
            outputs.append((payment.address, try CoinAmount.baseUnits(fromDecimalText: payment.coins, decimals: 8)))
        }
        let needed = outputs.reduce(daemon.feeBaseUnits) { $0 + $1.baseUnits }
        var inputs: [String] = []
        var gathered: UInt64 = 0
        var covered: Set<String> = []
        for coin in unspent {
            let address = coin.string(at: "address") ?? ""
            if gathered >= needed && covered.contains(address) { continue }
            gathered += try CoinAmount.baseUnits(fromDecimalText: coin.string(at: "amount")!, decimals: 8)
            covered.insert(address)
            inputs.append("{\"txid\":\"\(coin.string(at: "txid")!)\",\"vout\":\(coin.string(at: "vout")!)}")
            if gathered >= needed && covered.count == sources.count { break }
        }
        guard gathered >= needed, let first = unspent.first, first.string(at: "address") == sources[0] else {
            throw NodeFailure(message: "not enough mature coins in \(sources) for \(needed) base units")
        }
        var members = outputs.filter { $0.key != sources[0] }.map {
            "\"\($0.key)\":\(CoinAmount.decimalText(baseUnits: $0.baseUnits, decimals: 8))"
        }
        if let data { members.append("\"data\":\"\(Hex.encode(data))\"") }
        // What is paid to the first source and the change are one output (an object has one member per key).
        let toFirstSource = outputs.filter { $0.key == sources[0] }.reduce(gathered - needed) { $0 + $1.baseUnits }
        members.append("\"\(sources[0])\":\(CoinAmount.decimalText(baseUnits: toFirstSource, decimals: 8))")
        var raw = try call(
            "createrawtransaction", "[[\(inputs.joined(separator: ","))], {\(members.joined(separator: ","))}]"
        ).stringValue!
        if !extraScripts.isEmpty {
            var unsigned = try UTXOTransaction(hex: raw)
            unsigned.outputs += extraScripts.map { UTXOOutput(valueBaseUnits: 0, scriptPubKey: $0) }
            raw = unsigned.serializedHex
        }
        let signed = try call(daemon.signRawTransactionMethod, "[\"\(raw)\"]")
        guard signed["complete"]?.boolValue == true, let hex = signed.string(at: "hex") else {
            throw NodeFailure(message: "signing failed: \(signed)")
        }
        return hex
    }

    /// `sendrawtransaction`: the txid, or a NodeFailure naming the node's reason (e.g. "64: scriptpubkey").
    @discardableResult
    func sendRawTransaction(_ hex: String) throws -> String {
        try call("sendrawtransaction", "[\"\(hex)\"]").stringValue!
    }

    /// Sends a transaction from `source` carrying `data` in an OP_RETURN output; the txid.
    @discardableResult
    func sendData(
        _ data: [UInt8], from source: String, payments: [(address: String, coins: String)] = []
    ) throws -> String {
        try sendRawTransaction(signedTransaction(from: [source], payments: payments, data: data))
    }

    // MARK: Ports

    /// Binds port 0 on 127.0.0.1 so the kernel picks a free port, then releases it for the
    /// daemon (a small race with other processes, acceptable for a test).
    static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw NodeFailure(message: "socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard ok else { throw NodeFailure(message: "no free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A test case with a node of its own, started in setUp and always stopped in tearDown, and
/// tok's block source over it. Subclasses say which node `startNode` starts.
class RegtestNodeTestCase: XCTestCase {
    var regtestNode: RegtestNode!
    var source: UTXOBlockSource!

    func startNode() throws -> RegtestNode { preconditionFailure("\(type(of: self)) must say which node it starts") }

    override func setUpWithError() throws {
        try super.setUpWithError()
        regtestNode = try startNode()
        source = try regtestNode.blockSource()
    }

    override func tearDown() {
        source = nil
        regtestNode?.stop()
        regtestNode = nil
        super.tearDown()
    }
}

struct NodeFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Blocking HTTP for the test helpers that speak JSON-RPC synchronously (nodes, the EVM chain).
enum SynchronousHTTP {
    /// The body of the answer (nil when there was none), or the transport's error.
    static func send(_ request: URLRequest) throws -> Data? {
        let done = DispatchSemaphore(value: 0)
        let answer = Answer()
        URLSession.shared.dataTask(with: request) { data, _, error in
            answer.data = data
            answer.error = error
            done.signal()
        }.resume()
        done.wait()
        if let error = answer.error { throw error }
        return answer.data
    }

    /// Carries the answer back to the waiting thread (the semaphore orders the accesses).
    private final class Answer: @unchecked Sendable {
        var data: Data?
        var error: Error?
    }
}
