import Foundation
import XCTest
@testable import TokShared

/// A config whose one network ("local", eip155:1337) no test reaches: tools run with it never
/// talk to a chain. `header` goes first (sections), `network` and `asset` into their tables.
func offlineConfig(
    header: String = "", alias: String = "local", chain: String = "eip155:1337", network: String = "",
    asset: String = ""
) -> String {
    """
    \(header)
    [[tokens]]
    alias = "ETH"

    [[networks]]
    alias = "\(alias)"
    chain = "\(chain)"
    rpc_url = "http://127.0.0.1:9"
    receiver = "0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528"
    confirmations = 2
    \(network)

      [[networks.assets]]
      token = "ETH"
      asset = "\(chain)/slip44:60"
      decimals = 18
      \(asset)
    """
}

/// The tools' command lines, run as an operator would (no chain needed).
final class CommandLineTests: XCTestCase {
    var workspace: Workspace!

    override func setUpWithError() throws {
        workspace = try Workspace()
        try workspace.write("tok.toml", offlineConfig())
    }

    // tok-apply's modes are subcommands; the old flags still work; asking for two modes at once is a usage error
    // (it used to run the open-payouts mode and silently skip the check).
    func testApplyModesAreSubcommands() throws {
        let both = try workspace.run("tok-apply --db state.sqlite --check --open-payouts")
        XCTAssertEqual(both.exitCode, 64, both.stderr)
        XCTAssertTrue(both.stderr.contains("two modes"), both.stderr)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: workspace.path("state.sqlite")), "a usage error touches nothing")

        XCTAssertEqual(
            try workspace.run("tok-apply check --db state.sqlite").exitCode, 66, "check on a missing database")
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
        for command in [
            "tok-apply --help", "tok-apply check --help", "tok-apply open-payouts --help", "tok-apply apply --help",
        ] {
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
        let quiet = try workspace.run(
            "tok-validate --log-level warning --default-op status", input: #"{"id":"s-1"}"# + "\n")
        XCTAssertEqual(quiet.exitCode, 0, quiet.stderr)
        XCTAssertEqual(quiet.record(id: "s-1")?.string(at: "status"), "validated", quiet.stdout)
        XCTAssertEqual(quiet.stderr, "", "warning level keeps the request log quiet")
    }

    // Each secret is read by the stage that uses it: tok-validate (and --payout-message) runs without
    // the attestation secret, tok-validate and tok-apply without the RPC password; tok-verify and
    // tok-submit still stop at once (78) naming what is missing.
    func testSecretsAreResolvedByTheStagesThatUseThem() throws {
        try workspace.write(
            "tok.toml",
            offlineConfig(
                header: "[attestation]\nkey_id = \"ops\"\nsecret_env = \"TOK_TEST_SECRET_NOT_SET\"\n",
                network:
                    "rpc_user = \"tok\"\nrpc_password_env = \"TOK_TEST_RPC_PASSWORD_NOT_SET\"\noperator = \"0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528\"",
                asset: "payout = true"))
        let deposit =
            #"{"op":"deposit","id":"d-1","source":{"account":"0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf","network":"local","token":"ETH"},"deposit":{"tx":"0x\#(String(repeating: "ab", count: 32))"}}"#
        let validate = try workspace.run("tok-validate", input: deposit + "\n")
        XCTAssertEqual(validate.exitCode, 0, validate.stderr)
        XCTAssertEqual(validate.record(id: "d-1")?.string(at: "status"), "validated", validate.stdout)

        let expires = Int(Date().timeIntervalSince1970) + 3600
        let unsigned =
            #"{"op":"payout","id":"p-1","source":{"account":"0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf","network":"local","token":"ETH"},"destination":{"account":"0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF","network":"local","token":"ETH"},"quantity":"1000","max_fee":"0","expires":\#(expires)}"#
        let message = try workspace.run("tok-validate --payout-message", input: unsigned + "\n")
        XCTAssertEqual(message.exitCode, 0, message.stderr)
        XCTAssertNotNil(message.record(id: "p-1")?.string(at: "authorisation_message"), message.stdout)

        let withSecret = ["TOK_TEST_SECRET_NOT_SET": workspace.secret]
        let query = try workspace.run(
            "tok-apply --db state.sqlite", input: #"{"op":"status","id":"q-1"}"# + "\n", environment: withSecret)
        XCTAssertEqual(query.exitCode, 0, "tok-apply talks to no chain: " + query.stderr)

        for tool in ["tok-verify", "tok-submit"] {
            let noPassword = try workspace.run(tool, input: "", environment: withSecret)
            XCTAssertEqual(noPassword.exitCode, 78, tool + ": " + noPassword.stderr)
            XCTAssertTrue(
                noPassword.stderr.contains("networks[0].rpc_password_env")
                    && noPassword.stderr.contains("TOK_TEST_RPC_PASSWORD_NOT_SET"),
                tool + ": " + noPassword.stderr)
            let noSecret = try workspace.run(tool, input: "", environment: ["TOK_TEST_RPC_PASSWORD_NOT_SET": "pw"])
            XCTAssertEqual(noSecret.exitCode, 78, tool + ": " + noSecret.stderr)
            XCTAssertTrue(noSecret.stderr.contains("attestation.secret_env"), tool + ": " + noSecret.stderr)
        }
        let applyNoSecret = try workspace.run("tok-apply --db state.sqlite", input: "")
        XCTAssertEqual(applyNoSecret.exitCode, 78, applyNoSecret.stderr)
    }

    /// A config like the EVM tests' (the signed-request helpers' chain and receiver), with no node behind it.
    func writeDeadEVMConfig() throws {
        try workspace.write(
            "tok.toml",
            offlineConfig(
                header: "[engine]\ndeployment = \"\(testDeployment)\"\n\n[attestation]\nkey_id = \"test\"\n",
                alias: "evm-local", chain: "eip155:\(EVMNode.chainId)",
                network:
                    "operator = \"\(EVMNode.receiver)\"\nrpc_retries = 0\noperator_key_env = \"TOK_TEST_OPERATOR_KEY\"",
                asset: "payout = true"))
    }

    // tok-verify --db on a file that is not a database exits 73, a permanent status (as tok-apply
    // does), instead of signing payouts against an empty ledger; a database that does not exist yet
    // is still an empty one.
    func testVerifyRefusesAnUnusableDatabase() throws {
        try writeDeadEVMConfig()
        let payout = signedPayoutRequest(id: "p-1", from: 0, to: EVMNode.accounts[1], token: "ETH", quantity: "1000000")
        try workspace.write("state.sqlite", String(repeating: "not a database\n", count: 100))
        let garbage = try workspace.run("tok-validate | tok-verify --db state.sqlite", input: payout + "\n")
        XCTAssertEqual(garbage.exitCode, 73, garbage.stderr)
        XCTAssertTrue(garbage.stderr.contains("state.sqlite: file is not a database"), garbage.stderr)
        XCTAssertEqual(garbage.stdout, "", "nothing is signed against a ledger tok-verify cannot read")

        let missing = try workspace.run("tok-validate | tok-verify --db absent.sqlite", input: payout + "\n")
        XCTAssertEqual(missing.exitCode, 0, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("does not exist yet"), missing.stderr)
        XCTAssertEqual(missing.record(id: "p-1")?["error"]?.string(at: "code"), "rpc_unavailable", missing.stdout)
    }

    // tok-apply (every mode) and tok-follow refuse another application's SQLite file with 73, naming
    // it, and leave it byte for byte as it was: no tok tables, no switch to WAL (it used to adopt it).
    // A file that is not a database gets the same; a missing one for `check` is 66 (EX_NOINPUT).
    func testForeignDatabaseIsRefusedUntouched() throws {
        let foreign = workspace.path("shop.sqlite")
        do {
            let other = try SQLiteDatabase(path: foreign)
            try other.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total TEXT)")
            try other.execute("INSERT INTO orders (id, total) VALUES (1, '9.99')")
        }
        try workspace.write("junk.sqlite", String(repeating: "not a database\n", count: 300))
        for file in ["shop.sqlite", "junk.sqlite"] {
            let before = FileManager.default.contents(atPath: workspace.path(file))
            for command in [
                "tok-apply --db \(file)", "tok-apply check --db \(file)", "tok-apply chain-status --db \(file)",
                "tok-follow --network local --once --db \(file)",
            ] {
                let run = try workspace.run(command, input: #"{"op":"status","id":"q-1"}"# + "\n")
                XCTAssertEqual(run.exitCode, 73, "\(command): \(run.stderr)")
                XCTAssertTrue(run.stderr.contains(file), "\(command): \(run.stderr)")
                XCTAssertEqual(run.stdout, "", command)
            }
            XCTAssertEqual(
                FileManager.default.contents(atPath: workspace.path(file)), before, "\(file) is left as it was")
            XCTAssertFalse(
                FileManager.default.fileExists(atPath: workspace.path(file + "-wal")), "\(file) was not switched to WAL"
            )
        }
        XCTAssertTrue(
            try workspace.run("tok-apply --db shop.sqlite").stderr.contains(
                "is not tok's database (it holds tables orders and no tok schema)"))
        XCTAssertEqual(try workspace.run("tok-apply check --db absent.sqlite").exitCode, 66)
    }

    // A bip122 payout with --db naming a database that does not exist yet says so (not "give --db").
    func testBip122PayoutWithoutItsDatabaseSaysSo() throws {
        let chain = UTXOChains.litecoinRegtest.chainId
        let family = try XCTUnwrap(ChainFamilies.family(for: "bip122"))
        let operatorKey = EVMNode.key(8), userKey = EVMNode.key(0)
        let operatorAddress = family.address(of: operatorKey, chain: chain),
            user = family.address(of: userKey, chain: chain)
        let destination = family.address(of: EVMNode.key(1), chain: chain)
        try workspace.write(
            "tok.toml",
            """
            [engine]
            deployment = "\(testDeployment)"

            [[tokens]]
            alias = "LTC"
            decimals = 8

            [[networks]]
            alias = "ltc"
            chain = "\(chain)"
            rpc_url = "http://127.0.0.1:9"
            receiver = "\(operatorAddress)"
            operator = "\(operatorAddress)"
            confirmations = 1
            rpc_retries = 0
            operator_key_env = "TOK_TEST_LTC_KEY"

              [[networks.assets]]
              token = "LTC"
              asset = "\(chain)/slip44:2"
              decimals = 8
              payout = true
            """)
        let expires = Int64(Date().timeIntervalSince1970) + 3600
        let authorisation = PayoutAuthorisation(
            deployment: testDeployment, requestId: "p-ltc", source: "\(chain):\(user)",
            destination: "\(chain):\(destination)", token: "LTC", quantity: UInt256(100_000_000),
            maxFee: UInt256(0), expiresUnixSeconds: expires)
        let signature = MessageSigning.sign(
            message: authorisation.message, magic: UTXOChains.litecoinRegtest.messageMagic,
            key: userKey, compressed: true)
        let request =
            #"{"op":"payout","id":"p-ltc","source":{"account":"\#(user)","network":"ltc","token":"LTC"},"destination":{"account":"\#(destination)","network":"ltc","token":"LTC"},"quantity":"100000000","max_fee":"0","expires":\#(expires),"signature":"\#(signature)"}"#
        let result = try workspace.run(
            "tok-validate | tok-verify --db absent.sqlite", input: request + "\n",
            environment: ["TOK_TEST_LTC_KEY": "0x" + String(repeating: "0", count: 63) + "9"])
        let error = result.record(id: "p-ltc")?["error"]
        XCTAssertEqual(error?.string(at: "code"), "payout_disabled", result.stdout + result.stderr)
        XCTAssertTrue(
            error?.string(at: "message")?.contains("absent.sqlite (--db) does not exist yet") == true, result.stdout)
    }
}
