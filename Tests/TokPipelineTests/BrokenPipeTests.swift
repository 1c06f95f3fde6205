import Foundation
import XCTest
@testable import TokShared

/// A stage whose downstream stage dies must exit 74 ("writing standard output failed"), never
/// abort: a kill -9 campaign once saw tok-apply and tok-submit end in SIGABRT (134) when a
/// read-ahead or write-behind task outlived the run and used a destroyed object.
final class BrokenPipeTests: XCTestCase {
    var workspace: Workspace!

    override func setUpWithError() throws {
        workspace = try Workspace()
        try workspace.write("tok.toml", offlineConfig())
        // Answered queries pass through every stage: each of them only reads, copies and writes.
        var lines = ""
        lines.reserveCapacity(25 << 20)
        for index in 0..<300_000 {
            lines +=
                #"{"op":"status","id":"q-\#(index)","status":"answered","request":{"id":"q-\#(index)","state":"unknown"}}"#
                + "\n"
        }
        try workspace.write("input.ndjson", lines)
    }

    // Each stage in turn writes into a real tok-apply that is frozen (SIGSTOP) at a random point
    // of the stream and then killed with SIGKILL; the writer must exit 74 every time, and say why.
    func testStagesExit74WhenTheDownstreamStageIsKilled() throws {
        let rounds = 20
        let script = """
            set -u
            RANDOM=\(UInt16.random(in: 1...UInt16.max))
            for tool in tok-validate tok-verify "tok-apply --db up.sqlite" tok-submit; do
              for round in $(seq 1 \(rounds)); do
                name="$(echo "$tool" | cut -d' ' -f1)-$round"
                rm -f "pipe-$name"; mkfifo "pipe-$name"
                ( $tool < input.ndjson > "pipe-$name" 2> "err-$name"; echo $? > "status-$name" ) &
                writer=$!
                tok-apply --db down.sqlite < "pipe-$name" > /dev/null 2>&1 &
                reader=$!
                # Until the reader runs tok-apply, it may not have opened the pipe: killing it then
                # would leave the writer waiting to open it. (Bounded: 3000 looks.)
                for look in $(seq 1 3000); do
                  grep -q tok-apply "/proc/$reader/cmdline" 2> /dev/null && break
                  sleep 0.01
                done
                sleep "0.0$((RANDOM % 10))"
                kill -STOP $reader
                sleep 0.05
                kill -9 $reader
                wait $reader 2> /dev/null
                wait $writer
                echo "$name $(cat "status-$name")"
              done
            done
            """
        try workspace.write("campaign.sh", script)
        let result = try workspace.run("timeout 900 bash campaign.sh")
        let outcomes = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(outcomes.count, 4 * rounds, result.stdout + result.stderr)
        for outcome in outcomes where outcome.count == 2 {
            let stderr = (try? String(contentsOfFile: workspace.path("err-\(outcome[0])"), encoding: .utf8)) ?? ""
            XCTAssertEqual(
                outcome[1], "74", "\(outcome[0]) after its downstream stage was killed: \(stderr.suffix(600))")
            XCTAssertTrue(
                stderr.contains("writing standard output failed: broken pipe: the next stage"),
                "says so in words: \(outcome[0]): \(stderr.suffix(600))")
            XCTAssertFalse(stderr.contains("Fatal error"), "\(outcome[0]): \(stderr.suffix(600))")
        }
    }
}
