import Foundation
import XCTest
@testable import TokShared

/// The tools' command lines, run as an operator would (no chain needed).
final class CommandLineTests: XCTestCase {
    var workspace: Workspace!

    override func setUpWithError() throws {
        workspace = try Workspace()
        // A network that no test here talks to: these commands never reach a chain.
        try workspace.write("tok.toml", """
            [[tokens]]
            alias = "ETH"

            [[networks]]
            alias = "local"
            chain = "eip155:1337"
            rpc_url = "http://127.0.0.1:9"
            receiver = "0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528"
            confirmations = 2

              [[networks.assets]]
              token = "ETH"
              asset = "eip155:1337/slip44:60"
              decimals = 18
            """)
    }

    // tok-apply's modes are subcommands; the old flags still work; asking for two modes at once is a usage error
    // (it used to run the open-payouts mode and silently skip the check).
    func testApplyModesAreSubcommands() throws {
        let both = try workspace.run("tok-apply --db state.sqlite --check --open-payouts")
        XCTAssertEqual(both.exitCode, 64, both.stderr)
        XCTAssertTrue(both.stderr.contains("two modes"), both.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: workspace.path("state.sqlite")), "a usage error touches nothing")

        XCTAssertEqual(try workspace.run("tok-apply check --db state.sqlite").exitCode, 66, "check on a missing database")
        let query = #"{"op":"status","id":"q-1"}"#
        let applied = try workspace.run("tok-apply --db state.sqlite", input: query + "\n")
        XCTAssertEqual(applied.exitCode, 0, applied.stderr)
        XCTAssertEqual(applied.record(id: "q-1")?["request"]?.string(at: "state"), "unknown", applied.stdout)
        let explicit = try workspace.run("tok-apply apply --db state.sqlite", input: query + "\n")
        XCTAssertEqual(explicit.stdout, applied.stdout)

        for command in ["tok-apply check --db state.sqlite", "tok-apply --db state.sqlite --check"] {
            let check = try workspace.run(command)
            XCTAssertEqual(check.exitCode, 0, command + ": " + check.stderr)
            XCTAssertTrue(check.stdout.hasPrefix("ok:"), check.stdout)
        }
        for command in ["tok-apply open-payouts --db state.sqlite", "tok-apply --db state.sqlite --open-payouts"] {
            let open = try workspace.run(command)
            XCTAssertEqual(open.exitCode, 0, command + ": " + open.stderr)
            XCTAssertEqual(open.stdout, "", "nothing is open")
        }
        for command in ["tok-apply --help", "tok-apply check --help", "tok-apply open-payouts --help", "tok-apply apply --help"] {
            let help = try workspace.run(command)
            XCTAssertEqual(help.exitCode, 0, command)
            XCTAssertTrue(help.stdout.contains("USAGE"), command)
        }
    }

    // --log-level and --default-op are typed: a value outside the list is a usage error naming the choices.
    func testTypedArguments() throws {
        let level = try workspace.run("tok-validate --log-level loud")
        XCTAssertEqual(level.exitCode, 64)
        XCTAssertTrue(level.stderr.contains("critical"), level.stderr)
        let op = try workspace.run("tok-validate --default-op mint")
        XCTAssertEqual(op.exitCode, 64)
        XCTAssertTrue(op.stderr.contains("nonce_fill"), op.stderr)
        let quiet = try workspace.run("tok-validate --log-level warning --default-op status", input: #"{"id":"s-1"}"# + "\n")
        XCTAssertEqual(quiet.exitCode, 0, quiet.stderr)
        XCTAssertEqual(quiet.record(id: "s-1")?.string(at: "status"), "validated", quiet.stdout)
        XCTAssertEqual(quiet.stderr, "", "warning level keeps the request log quiet")
    }
}
