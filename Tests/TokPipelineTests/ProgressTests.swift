import Foundation
import XCTest
@testable import TokShared

/// Progress on stderr: shown when stderr is a terminal, quiet otherwise unless asked.
final class ProgressTests: XCTestCase {
    var workspace: Workspace!

    override func setUpWithError() throws {
        workspace = try Workspace()
        try workspace.write("tok.toml", "[[tokens]]\nalias = \"ETH\"\n")
        try workspace.write(
            "in.ndjson", (0..<2000).map { #"{"op":"status","id":"q-\#($0)"}"# }.joined(separator: "\n") + "\n")
    }

    func testProgressOnATerminalOnlyUnlessAsked() throws {
        for tool in ["tok-validate", "tok-apply --db state.sqlite"] {
            let quiet = try workspace.run("\(tool) --log-level warning < in.ndjson > out.ndjson")
            XCTAssertEqual(quiet.exitCode, 0, quiet.stderr)
            XCTAssertEqual(quiet.stderr, "", "\(tool): no terminal, not asked: quiet")

            let asked = try workspace.run("\(tool) --log-level warning --progress < in.ndjson > out.ndjson")
            XCTAssertTrue(asked.stderr.contains(" records/s"), "\(tool) --progress: \(asked.stderr)")
            XCTAssertFalse(asked.stderr.contains("\u{1B}[K"), "no terminal: plain lines, no redrawing")

            // script(1) gives the tool a terminal for stderr; stdout still goes to the file.
            let terminal = try workspace.run(
                "script -qec '\(tool) --log-level warning < in.ndjson > out.ndjson' /dev/null")
            XCTAssertEqual(terminal.exitCode, 0, terminal.stderr)
            XCTAssertTrue(
                terminal.stdout.contains(" records/s") && terminal.stdout.contains("\r\u{1B}[K"),
                "\(tool) on a terminal: \(terminal.stdout)")
            let silenced = try workspace.run(
                "script -qec '\(tool) --log-level warning --no-progress < in.ndjson > out.ndjson' /dev/null")
            XCTAssertFalse(silenced.stdout.contains("records/s"), "\(tool) --no-progress: \(silenced.stdout)")
        }
    }
}
