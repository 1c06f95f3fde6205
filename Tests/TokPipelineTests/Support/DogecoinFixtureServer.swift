import Foundation
import XCTest
@testable import TokShared

/// testpeers/dogecoin_fixture_rpc.py serving testpeers/fixtures/dogecoin-mainnet.json on
/// loopback: Dogecoin Core 1.14-shaped answers (no Dogecoin node can run here). It needs
/// only the Python standard library, so the system python3 is enough.
final class DogecoinFixtureServer {
    static let chain = "bip122:1a91e3dace36e2be3bf030a65679fe82"
    static let fixturePath = Repo.root.appendingPathComponent("testpeers/fixtures/dogecoin-mainnet.json").path
    static let script = Repo.root.appendingPathComponent("testpeers/dogecoin_fixture_rpc.py").path

    let process: Process
    /// The server stops when this pipe's write end closes (or when the test process dies).
    private let stdin = Pipe()
    let port: Int
    let user = "tok"
    let password = "doge-fixture-password"
    var url: String { "http://127.0.0.1:\(port)/" }
    /// The fixture file, every number as text (amounts keep their 8 decimals).
    let fixture: JSON

    init() throws {
        guard
            let python = ["/usr/bin/python3", Repo.python].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else {
            throw XCTSkip("no python3 for testpeers/dogecoin_fixture_rpc.py")
        }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: DogecoinFixtureServer.fixturePath)))
        let quoted = try JSONNumberText.quotingNumbers(bytes)
        guard case .success(let parsed) = quoted.withUnsafeBytes({ JSON.parse($0) }) else {
            throw NSError(
                domain: "DogecoinFixtureServer", code: 1,
                userInfo: [NSLocalizedDescriptionKey: "the fixture is not JSON"])
        }
        fixture = parsed

        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            DogecoinFixtureServer.script, "--fixture", DogecoinFixtureServer.fixturePath, "--port", "0",
            "--rpc-user", user, "--rpc-password", password,
        ]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        process.standardInput = stdin
        try process.run()

        // The first stdout line is the port; bounded wait.
        let firstLine = LineBox()
        let done = DispatchSemaphore(value: 0)
        let reader = stdout.fileHandleForReading
        DispatchQueue.global().async {
            var collected: [UInt8] = []
            while !collected.contains(UInt8(ascii: "\n")) {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                collected += chunk
            }
            firstLine.text = String(decoding: collected, as: UTF8.self)
            done.signal()
        }
        guard done.wait(timeout: .now() + 30) == .success,
            let port = Int(firstLine.text.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            process.terminate()
            throw NSError(
                domain: "DogecoinFixtureServer", code: 2,
                userInfo: [NSLocalizedDescriptionKey: "dogecoin_fixture_rpc.py did not start: \(firstLine.text)"])
        }
        self.port = port
    }

    func stop() {
        guard process.isRunning else { return }
        try? stdin.fileHandleForWriting.close()
        var waitedMilliseconds = 0
        while process.isRunning && waitedMilliseconds < 5_000 {
            usleep(20_000)
            waitedMilliseconds += 20
        }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }

    var scenario: JSON { fixture["scenario"]! }

    func txid(_ name: String) -> String { scenario["transactions"]![name]!.string(at: "txid")! }
    func address(_ name: String) -> String { scenario["keys"]![name]!.string(at: "address")! }
    func key(_ name: String) throws -> PrivateKey {
        try PrivateKey(hex: scenario["keys"]![name]!.string(at: "private_key")!)
    }
    func blockHash(_ name: String) -> String { scenario["blocks"]![name]!.string(at: "hash")! }

    /// A config with one Dogecoin mainnet network (DOGE, 8 decimals) served by this fixture.
    func config(confirmations: Int = 6) -> String {
        """
        [engine]
        deployment = "\(testDeployment)"

        [attestation]
        key_id = "test"

        [database]
        lock_timeout_milliseconds = 2000

        [[tokens]]
        alias = "DOGE"
        symbol = "DOGE"
        decimals = 8

        [[networks]]
        alias = "doge-mainnet"
        chain = "\(DogecoinFixtureServer.chain)"
        rpc_url = "\(url)"
        rpc_user = "\(user)"
        rpc_password = "\(password)"
        receiver = "\(address("receiver"))"
        confirmations = \(confirmations)
        rpc_timeout_milliseconds = 10000
        rpc_retries = 1

          [[networks.assets]]
          token = "DOGE"
          asset = "\(DogecoinFixtureServer.chain)/slip44:3"
          decimals = 8

        """
    }
}

private final class LineBox: @unchecked Sendable {
    var text = ""
}
