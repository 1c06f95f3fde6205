import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import TokShared

/// A real Bitcoin-family node: Debian's litecoind on regtest, on loopback, in a
/// scratch data directory. It judges the transactions our tests make with the
/// same legacy script and sighash rules as Dogecoin.
final class LitecoinNode {
    static let binary = "/usr/lib/litecoin/litecoind"     // /usr/bin/litecoind is a wrapper that writes ~/.litecoin
    static let chain = "bip122:530827f38f93b43ed12af0b3ad25a288"
    let process: Process
    let port: Int
    let dataDirectory: URL
    let user = "tok"
    let password = "tok-test-password"
    var url: String { "http://127.0.0.1:\(port)/" }

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: LitecoinNode.binary) else {
            throw XCTSkip("litecoind is not installed: run `bash scripts/test.sh` (or scripts/setup.sh) first")
        }
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("ltc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        port = Int.random(in: 20_000...60_000)
        process = Process()
        process.executableURL = URL(fileURLWithPath: LitecoinNode.binary)
        process.arguments = ["-regtest", "-daemon=0", "-server=1", "-listen=0", "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1",
                             "-rpcport=\(port)", "-rpcuser=\(user)", "-rpcpassword=\(password)", "-txindex=1",
                             "-fallbackfee=0.0001", "-printtoconsole=0", "-datadir=\(dataDirectory.path)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Bounded wait for the RPC server (it answers -28 "warming up" first).
        var waitedMilliseconds = 0
        while true {
            if (try? call("getblockchaininfo")) != nil { break }
            guard process.isRunning, waitedMilliseconds < 60_000 else {
                process.terminate()
                throw NSError(domain: "LitecoinNode", code: 1, userInfo: [NSLocalizedDescriptionKey: "litecoind did not start"])
            }
            usleep(100_000)
            waitedMilliseconds += 100
        }
        try call("createwallet", "[\"tok-test\"]")
    }

    /// Stops the node and removes its data. Called from the test class's
    /// tearDown: XCTest keeps test case objects (and so this node) alive until
    /// the process exits, so deinit alone would leave the daemon running.
    func stop() {
        guard process.isRunning else { return }
        _ = try? call("stop")
        var waitedMilliseconds = 0
        while process.isRunning && waitedMilliseconds < 30_000 {
            usleep(50_000)
            waitedMilliseconds += 50
        }
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: dataDirectory)
    }

    deinit { stop() }

    /// A JSON-RPC call; numbers of the answer arrive as text (exact amounts).
    @discardableResult
    func call(_ method: String, _ params: String = "[]") throws -> JSON {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = "POST"
        request.setValue("Basic " + Base64.encode(Array("\(user):\(password)".utf8)), forHTTPHeaderField: "Authorization")
        request.httpBody = Data("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"\(method)\",\"params\":\(params)}".utf8)
        request.timeoutInterval = 60
        let done = DispatchSemaphore(value: 0)
        let box = NodeAnswer()
        URLSession.shared.dataTask(with: request) { data, _, error in
            box.data = data
            box.error = error
            done.signal()
        }.resume()
        done.wait()
        if let error = box.error { throw error }
        guard let data = box.data, let quoted = try? JSONNumberText.quotingNumbers([UInt8](data)),
              case .success(let answer) = quoted.withUnsafeBytes({ JSON.parse($0) }) else {
            throw NSError(domain: "LitecoinNode", code: 2, userInfo: [NSLocalizedDescriptionKey: "\(method): no JSON answer"])
        }
        if let error = answer["error"], !error.isNull {
            throw NSError(domain: "LitecoinNode", code: 3, userInfo: [NSLocalizedDescriptionKey: "\(method): \(error)"])
        }
        return answer["result"] ?? JSON.null()
    }

    func newAddress() throws -> String { try call("getnewaddress", "[\"\", \"legacy\"]").stringValue! }

    @discardableResult
    func mine(_ blocks: Int, to address: String? = nil) throws -> JSON {
        let target = try address ?? newAddress()
        return try call("generatetoaddress", "[\(blocks), \"\(target)\"]")
    }

    @discardableResult
    func fund(_ address: String, coins: String) throws -> String {
        try call("sendtoaddress", "[\"\(address)\", \(coins)]").stringValue!
    }

    /// Pays `coins` to `destination` spending only outputs of `sources`, change to the first source.
    func send(from sources: [String], to destination: String, coins: String) throws -> String {
        let quotedSources = sources.map { "\"\($0)\"" }.joined(separator: ",")
        let unspent = try call("listunspent", "[1, 9999999, [\(quotedSources)]]").arrayElements
        let amount = try CoinAmount.baseUnits(fromDecimalText: coins, decimals: 8)
        let feeBaseUnits: UInt64 = 100_000
        var inputs: [String] = []
        var gathered: UInt64 = 0
        var covered: Set<String> = []
        for coin in unspent {
            // Take coins until the amount is covered and every source has given one input.
            let address = coin.string(at: "address") ?? ""
            if gathered >= amount + feeBaseUnits && covered.contains(address) { continue }
            gathered += try CoinAmount.baseUnits(fromDecimalText: coin.string(at: "amount")!, decimals: 8)
            covered.insert(address)
            inputs.append("{\"txid\":\"\(coin.string(at: "txid")!)\",\"vout\":\(coin.string(at: "vout")!)}")
            if gathered >= amount + feeBaseUnits && covered.count == sources.count { break }
        }
        guard gathered >= amount + feeBaseUnits else {
            throw NSError(domain: "LitecoinNode", code: 4, userInfo: [NSLocalizedDescriptionKey: "not enough coins in \(sources)"])
        }
        let change = CoinAmount.decimalText(baseUnits: gathered - amount - feeBaseUnits, decimals: 8)
        let outputs = destination == sources[0]
            ? "{\"\(destination)\":\(CoinAmount.decimalText(baseUnits: gathered - feeBaseUnits, decimals: 8))}"
            : "{\"\(destination)\":\(coins),\"\(sources[0])\":\(change)}"
        let raw = try call("createrawtransaction", "[[\(inputs.joined(separator: ","))], \(outputs)]").stringValue!
        let signed = try call("signrawtransactionwithwallet", "[\"\(raw)\"]")
        guard signed["complete"]?.boolValue == true, let hex = signed.string(at: "hex") else {
            throw NSError(domain: "LitecoinNode", code: 5, userInfo: [NSLocalizedDescriptionKey: "signing failed: \(signed)"])
        }
        return try call("sendrawtransaction", "[\"\(hex)\"]").stringValue!
    }

    /// A config with one Litecoin regtest network (LTC, 8 decimals) and the given receiver.
    /// The node's own `signmessage` by one of its wallet addresses: the chain's format, not tok's code.
    func signMessage(_ message: String, by address: String) throws -> String {
        try call("signmessage", "[\"\(address)\", \(JSON.string(message).serialized())]").stringValue!
    }

    /// A payout request between two addresses of this chain (token LTC on `network`), authorised
    /// by the source with `signMessage`; amounts in litoshi.
    func payoutRequest(id: String, from source: String, to destination: String, quantity: String, maxFee: String = "100000",
                       network: String = "ltc-regtest") throws -> String {
        let expiry = Int64(Date().timeIntervalSince1970) + 3600
        let authorisation = PayoutAuthorisation(
            requestId: id, source: "\(LitecoinNode.chain):\(source)", destination: "\(LitecoinNode.chain):\(destination)",
            token: "LTC", quantity: try UInt256(decimal: quantity), maxFee: try UInt256(decimal: maxFee), expiresUnixSeconds: expiry)
        let signature = try signMessage(authorisation.message, by: source)
        return "{\"op\":\"payout\",\"id\":\"\(id)\",\"source\":{\"account\":\"\(source)\",\"network\":\"\(network)\",\"token\":\"LTC\"},"
            + "\"destination\":{\"account\":\"\(destination)\",\"network\":\"\(network)\",\"token\":\"LTC\"},"
            + "\"quantity\":\"\(quantity)\",\"max_fee\":\"\(maxFee)\",\"expires\":\(expiry),\"signature\":\"\(signature)\"}"
    }

    func config(receiver: String, confirmations: Int = 3) -> String {
        """
        [attestation]
        key_id = "test"

        [database]
        lock_timeout_milliseconds = 2000

        [[tokens]]
        alias = "LTC"
        symbol = "LTC"
        decimals = 8

        [[networks]]
        alias = "ltc-regtest"
        chain = "\(LitecoinNode.chain)"
        rpc_url = "\(url)"
        rpc_user = "\(user)"
        rpc_password = "\(password)"
        receiver = "\(receiver)"
        confirmations = \(confirmations)
        rpc_timeout_milliseconds = 10000
        rpc_retries = 2

          [[networks.assets]]
          token = "LTC"
          asset = "\(LitecoinNode.chain)/slip44:2"
          decimals = 8

        """
    }
}

private final class NodeAnswer: @unchecked Sendable {
    var data: Data?
    var error: Error?
}
