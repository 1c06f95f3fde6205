import Foundation
import XCTest
@testable import TokShared

/// pipelines/deposit.sh reads each spool line once, keeps each pending deposit once, and two
/// runs at the same time take turns.
extension DepositPipelineTests {
    func runSpool(_ environment: [String: String] = [:]) throws -> PipelineResult {
        try workspace.run(
            "bash \(Repo.root.path)/pipelines/deposit.sh requests.ndjson state.sqlite outcomes.ndjson",
            environment: environment)
    }

    func lines(_ name: String) -> [String] {
        ((try? String(contentsOfFile: workspace.path(name), encoding: .utf8)) ?? "").split(separator: "\n").map(
            String.init)
    }

    func append(_ name: String, _ text: String) throws {
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: workspace.path(name)))
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
        handle.closeFile()
    }

    /// The statuses of the outcomes written since `count` lines, by request id.
    func outcomes(after count: Int) -> [String] {
        lines("outcomes.ndjson").dropFirst(count).map { line in
            guard case .success(let record) = JSON.parse(line) else { return "?" }
            return "\(record.string(at: "id") ?? "?")=\(record.string(at: "status") ?? "?")"
        }
    }

    func testSpoolIsReadOnceAndPendingKeptOnce() throws {
        let confirmed = try node.sendEth(from: 1, to: EVMNode.receiver, wei: "1000")
        try node.mine(3)
        let slow = try node.sendEth(from: 2, to: EVMNode.receiver, wei: "2000")  // 1 of 3 confirmations
        try workspace.write(
            "requests.ndjson",
            [
                depositRequest(id: "d-1", account: EVMNode.accounts[1], token: "ETH", tx: confirmed),
                depositRequest(id: "d-2", account: EVMNode.accounts[2], token: "ETH", tx: slow),
            ].joined(separator: "\n") + "\n")
        try workspace.write("outcomes.ndjson", "")

        XCTAssertEqual(try runSpool().exitCode, 0)
        XCTAssertEqual(outcomes(after: 0), ["d-1=credited", "d-2=pending"])
        XCTAssertEqual(lines("requests.ndjson.pending").count, 1)

        // Nothing new in the spool: only the pending deposit is looked at again, and kept once.
        var seen = lines("outcomes.ndjson").count
        XCTAssertEqual(try runSpool().exitCode, 0)
        XCTAssertEqual(outcomes(after: seen), ["d-2=pending"], "the credited request is not verified again")
        XCTAssertEqual(lines("requests.ndjson.pending").count, 1, "the pending deposit is not copied again")

        // A line still being written waits for its newline.
        let late = depositRequest(id: "d-3", account: EVMNode.accounts[1], token: "ETH", tx: confirmed)
        try append("requests.ndjson", String(late.prefix(40)))
        seen = lines("outcomes.ndjson").count
        XCTAssertEqual(try runSpool().exitCode, 0)
        XCTAssertEqual(outcomes(after: seen), ["d-2=pending"])
        try append("requests.ndjson", String(late.dropFirst(40)) + "\n")
        seen = lines("outcomes.ndjson").count
        XCTAssertEqual(try runSpool().exitCode, 0)
        XCTAssertEqual(outcomes(after: seen), ["d-3=duplicate", "d-2=pending"])

        try node.mine(2)
        seen = lines("outcomes.ndjson").count
        XCTAssertEqual(try runSpool().exitCode, 0)
        XCTAssertEqual(outcomes(after: seen), ["d-2=credited"])
        XCTAssertEqual(lines("requests.ndjson.pending"), [])

        // Two runs at once, a line per run at most: they take turns, and each request is handled once.
        let third = try node.sendEth(from: 3, to: EVMNode.receiver, wei: "3000")
        let fourth = try node.sendEth(from: 0, to: EVMNode.receiver, wei: "4000")
        try node.mine(3)
        try append(
            "requests.ndjson",
            depositRequest(id: "d-4", account: EVMNode.accounts[3], token: "ETH", tx: third) + "\n"
                + depositRequest(id: "d-5", account: EVMNode.accounts[0], token: "ETH", tx: fourth) + "\n")
        seen = lines("outcomes.ndjson").count
        let both = try workspace.run(
            """
            export TOK_DEPOSIT_MAX_LINES=1
            bash \(Repo.root.path)/pipelines/deposit.sh requests.ndjson state.sqlite outcomes.ndjson & first=$!
            bash \(Repo.root.path)/pipelines/deposit.sh requests.ndjson state.sqlite outcomes.ndjson; second=$?
            wait $first && exit $second
            """)
        XCTAssertEqual(both.exitCode, 0, both.stderr)
        XCTAssertEqual(outcomes(after: seen).sorted(), ["d-4=credited", "d-5=credited"])
        XCTAssertEqual(
            try String(contentsOfFile: workspace.path("requests.ndjson.offset"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines),
            "\(try FileManager.default.attributesOfItem(atPath: workspace.path("requests.ndjson"))[.size] as! Int)")
    }
}
