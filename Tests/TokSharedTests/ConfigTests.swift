import Foundation
import XCTest
@testable import TokShared

final class ConfigTests: XCTestCase {
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let secret = "0123456789abcdef0123456789abcdef-test"
    static let environment = ["TOK_ATTESTATION_SECRET": secret]
    static let receiver = "0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528"

    /// A small valid config; negative cases edit one spot of it.
    static let base = """
        [attestation]
        key_id = "k1"
        secret = "0123456789abcdef0123456789abcdef"

        [[tokens]]
        alias = "ETH"

        [[tokens]]
        alias = "TOK"
        symbol = "TK"

        [[networks]]
        alias = "local"
        chain = "eip155:1337"
        rpc_url = "http://127.0.0.1:8545"
        receiver = "0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528"
        confirmations = 2

          [[networks.assets]]
          token = "ETH"
          asset = "eip155:1337/slip44:60"
          decimals = 18

          [[networks.assets]]
          token = "TOK"
          asset = "eip155:1337/erc20:0x1000000000000000000000000000000000000001"
          decimals = 6

        """

    /// `base` with `target` replaced (the target must occur exactly once).
    static func edited(
        _ target: String, _ replacement: String, file: StaticString = #filePath, line: UInt = #line
    ) -> String {
        XCTAssertEqual(
            base.components(separatedBy: target).count, 2, "edit target \(target) is not unique", file: file, line: line
        )
        return base.replacingOccurrences(of: target, with: replacement)
    }

    /// Parses `text` and resolves its secrets (as tok-verify does) expecting a ConfigError at
    /// `key` whose message mentions every string in `mentions`.
    func assertConfigError(
        _ text: String, environment: [String: String] = ConfigTests.environment, key: String,
        mentions: [String], file: StaticString = #filePath, line: UInt = #line
    ) {
        do {
            let config = try TokConfig.parse(text: text, file: "test.toml", environment: environment)
            _ = try config.attestationSettings()
            try config.requireChainCredentials()
            XCTFail("expected a config error at \(key)", file: file, line: line)
        } catch let error as ConfigError {
            XCTAssertEqual(error.file, "test.toml", file: file, line: line)
            XCTAssertEqual(error.key, key, "problem: \(error.problem)", file: file, line: line)
            for word in mentions {
                XCTAssertTrue(
                    error.problem.contains(word), "\"\(error.problem)\" does not mention \"\(word)\"", file: file,
                    line: line)
            }
            XCTAssertTrue(
                error.description.hasPrefix("config error: test.toml: \(key): "), error.description, file: file,
                line: line)
        } catch {
            XCTFail("expected a ConfigError, got \(type(of: error)): \(error)", file: file, line: line)
        }
    }

    // MARK: Valid configs

    // The shipped example parses and gives the networks, tokens and assets it describes.
    func testExampleConfig() throws {
        let path = ConfigTests.repoRoot.appendingPathComponent("examples/tok.toml").path
        let config = try TokConfig.load(path: path, environment: ConfigTests.environment)
        XCTAssertEqual(config.file, path)
        XCTAssertEqual(config.engine.maxLineBytes, 1_048_576)
        XCTAssertEqual(config.engine.batchSize, 512)
        XCTAssertEqual(try config.attestationSettings()?.keyId, "operator-2026")
        XCTAssertEqual(try config.attestationSettings()?.secret, Array(ConfigTests.secret.utf8))
        XCTAssertEqual(config.database.lockTimeoutMilliseconds, 10_000)
        XCTAssertEqual(config.database.synchronous, "full")

        XCTAssertEqual(config.tokens.map(\.alias), ["ETH", "TOK"])
        XCTAssertEqual(config.tokens.map(\.symbol), ["ETH", "TOK"])
        XCTAssertEqual(config.tokens.map(\.name), ["Ether", "Tok test token"])
        XCTAssertEqual(config.tokens.map(\.decimals), [18, 18])

        XCTAssertEqual(config.networks.count, 1)
        let network = try XCTUnwrap(config.networks.first)
        XCTAssertEqual(network.alias, "evm-local")
        XCTAssertEqual(network.chainText, "eip155:131277322940537")
        XCTAssertEqual(network.chain, try ChainId(parsing: "eip155:131277322940537"))
        XCTAssertEqual(network.family.namespace, "eip155")
        XCTAssertEqual(network.rpcURL, "http://127.0.0.1:8545")
        XCTAssertNil(network.rpcUser)
        XCTAssertNil(network.rpcPassword)
        XCTAssertEqual(network.receiver, ConfigTests.receiver)
        XCTAssertEqual(network.operatorAddress, ConfigTests.receiver)
        XCTAssertEqual(network.confirmations, 3)
        XCTAssertEqual(network.rpcTimeoutMilliseconds, 10_000)
        XCTAssertEqual(network.rpcConcurrency, 4)
        XCTAssertEqual(network.rpcRetries, 5)
        XCTAssertEqual(network.rpcBatchSize, 50)

        XCTAssertEqual(network.assets.map(\.token), ["ETH", "TOK"])
        let eth = network.assets[0], tok = network.assets[1]
        XCTAssertEqual(eth.assetText, "eip155:131277322940537/slip44:60")
        XCTAssertTrue(eth.isNative)
        XCTAssertEqual(eth.decimals, 18)
        XCTAssertTrue(eth.depositEnabled)
        XCTAssertTrue(eth.payoutEnabled)
        XCTAssertNil(eth.treasury)
        XCTAssertEqual(tok.asset.assetNamespace, "erc20")
        XCTAssertEqual(tok.asset.chain, network.chain)
        XCTAssertFalse(tok.isNative)
        XCTAssertEqual(tok.decimals, 18)

        XCTAssertTrue(config.network(named: "evm-local") === network)
        XCTAssertTrue(config.network(named: "eip155:131277322940537") === network)
        XCTAssertNil(config.network(named: "eip155:1"))
    }

    // The small base config parses, fills defaults, and resolves tokens by alias, symbol and CAIP-19.
    func testBaseConfigDefaultsAndLookups() throws {
        let config = try TokConfig.parse(text: ConfigTests.base, file: "test.toml", environment: [:])
        XCTAssertEqual(config.engine.maxLineBytes, LineReader.defaultMaxLineBytes)
        XCTAssertEqual(config.engine.batchSize, 512)
        XCTAssertEqual(try config.attestationSettings()?.keyId, "k1")
        XCTAssertEqual(config.database.synchronous, "full")
        XCTAssertEqual(config.tokens.map(\.symbol), ["ETH", "TK"])
        XCTAssertEqual(config.tokens.map(\.decimals), [18, 6])
        let network = try XCTUnwrap(config.network(named: "local"))
        XCTAssertEqual(network.confirmations, 2)
        XCTAssertEqual(network.rpcConcurrency, 4)
        XCTAssertNil(network.operatorAddress)
        XCTAssertTrue(network.assets[0].depositEnabled)
        XCTAssertFalse(network.assets[0].payoutEnabled, "payout defaults to off")
        XCTAssertEqual(try config.assetMapping(token: "TOK", on: network).token, "TOK")
        XCTAssertEqual(try config.assetMapping(token: "TK", on: network).token, "TOK")
        XCTAssertEqual(try config.assetMapping(token: "eip155:1337/slip44:60", on: network).token, "ETH")
        assertTokError(.unknownToken, { () throws(TokError) in try config.assetMapping(token: "DOGE", on: network) })
        assertTokError(
            .accountNetworkMismatch,
            { () throws(TokError) in try config.assetMapping(token: "eip155:1/slip44:60", on: network) })
    }

    // A lowercase receiver is accepted and stored in its EIP-55 spelling.
    func testLowercaseReceiverIsCanonicalised() throws {
        let text = ConfigTests.edited(
            "receiver = \"\(ConfigTests.receiver)\"", "receiver = \"\(ConfigTests.receiver.lowercased())\"")
        let config = try TokConfig.parse(text: text, file: "test.toml", environment: [:])
        XCTAssertEqual(config.networks.first?.receiver, ConfigTests.receiver)
    }

    // Without an [attestation] section the secret (and key id) may come from the environment alone.
    func testSecretFromEnvironmentAlone() throws {
        let text = ConfigTests.edited(
            "[attestation]\nkey_id = \"k1\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n", "")
        let config = try TokConfig.parse(
            text: text, file: "test.toml",
            environment: ["TOK_ATTESTATION_SECRET": ConfigTests.secret, "TOK_ATTESTATION_KEY_ID": "env-key"])
        XCTAssertEqual(try config.attestationSettings()?.keyId, "env-key")
        XCTAssertEqual(try config.attestationSettings()?.secret, Array(ConfigTests.secret.utf8))
        XCTAssertNil(try TokConfig.parse(text: text, file: "test.toml", environment: [:]).attestationSettings())
    }

    // An [attestation] section that names a key_id but no secret source keeps its key_id
    // when the secret comes from TOK_ATTESTATION_SECRET.
    func testSectionKeyIdKeptWithEnvironmentSecret() throws {
        let text = ConfigTests.edited("secret = \"0123456789abcdef0123456789abcdef\"\n", "")
        let config = try TokConfig.parse(text: text, file: "test.toml", environment: ConfigTests.environment)
        XCTAssertEqual(try config.attestationSettings()?.secret, Array(ConfigTests.secret.utf8))
        XCTAssertEqual(
            try config.attestationSettings()?.keyId, "k1",
            "the section's key_id was replaced by the environment fallback's")
    }

    // secret_env reads the named variable.
    func testSecretFromNamedVariable() throws {
        let text = ConfigTests.edited("secret = \"0123456789abcdef0123456789abcdef\"", "secret_env = \"MY_SECRET\"")
        let config = try TokConfig.parse(text: text, file: "test.toml", environment: ["MY_SECRET": ConfigTests.secret])
        XCTAssertEqual(try config.attestationSettings()?.secret, Array(ConfigTests.secret.utf8))
    }

    // MARK: Unknown keys

    // An unknown top-level key is named.
    func testUnknownTopLevelKey() {
        assertConfigError("colour = \"red\"\n" + ConfigTests.base, key: "colour", mentions: ["unknown key"])
    }

    // An unknown key in a section is named with its section.
    func testUnknownKeyInSection() {
        assertConfigError(
            "[engine]\nbatch_size = 10\nbatchsize = 10\n" + ConfigTests.base, key: "engine.batchsize",
            mentions: ["unknown key"])
        assertConfigError(
            ConfigTests.edited("key_id = \"k1\"", "key_id = \"k1\"\nkeyid = \"x\""), key: "attestation.keyid",
            mentions: ["unknown key"])
    }

    // An unknown key inside [[networks]] is named with the network's index.
    func testUnknownKeyInNetwork() {
        assertConfigError(
            ConfigTests.edited("confirmations = 2\n", "confirmations = 2\ncolour = \"red\"\n"),
            key: "networks[0].colour", mentions: ["unknown key"])
    }

    // An unknown key inside [[networks.assets]] is named with both indices.
    func testUnknownKeyInAsset() {
        assertConfigError(
            ConfigTests.edited("decimals = 6\n", "decimals = 6\ncolour = \"red\"\n"),
            key: "networks[0].assets[1].colour", mentions: ["unknown key"])
    }

    // An unknown key in [[tokens]] is named with the token's index.
    func testUnknownKeyInToken() {
        assertConfigError(
            ConfigTests.edited("symbol = \"TK\"", "symbol = \"TK\"\nsymbl = \"TK\""),
            key: "tokens[1].symbl", mentions: ["unknown key"])
    }

    // MARK: Wrong types and ranges

    // A value of the wrong TOML type is named with what was expected.
    func testWrongTypes() {
        assertConfigError(
            "[engine]\nbatch_size = \"512\"\n" + ConfigTests.base, key: "engine.batch_size",
            mentions: ["expected an integer"])
        assertConfigError(
            ConfigTests.edited("confirmations = 2", "confirmations = \"2\""),
            key: "networks[0].confirmations", mentions: ["expected an integer"])
        assertConfigError(
            ConfigTests.edited("confirmations = 2", "confirmations = 2.0"),
            key: "networks[0].confirmations", mentions: ["expected an integer"])
        assertConfigError(
            ConfigTests.edited("alias = \"local\"", "alias = 7"),
            key: "networks[0].alias", mentions: ["expected a string"])
        assertConfigError(
            ConfigTests.edited("decimals = 6\n", "decimals = 6\ndeposit = \"yes\"\n"),
            key: "networks[0].assets[1].deposit", mentions: ["expected true or false"])
        assertConfigError("engine = 5\n" + ConfigTests.base, key: "engine", mentions: ["expected a table"])
        assertConfigError(
            "networks = \"evm\"\n" + ConfigTests.base.replacingOccurrences(of: "[[networks", with: "[[other"),
            key: "networks", mentions: ["expected an array of tables"])
    }

    // Numbers outside their allowed range are refused with the range and the value.
    func testOutOfRange() {
        assertConfigError(
            ConfigTests.edited("confirmations = 2", "confirmations = 0"),
            key: "networks[0].confirmations", mentions: ["between 1 and 10000", "got 0"])
        assertConfigError(
            ConfigTests.edited("confirmations = 2", "confirmations = 10001"),
            key: "networks[0].confirmations", mentions: ["between 1 and 10000", "got 10001"])
        assertConfigError(
            ConfigTests.edited("confirmations = 2\n", "confirmations = 2\nrpc_concurrency = 65\n"),
            key: "networks[0].rpc_concurrency", mentions: ["between 1 and 64", "got 65"])
        assertConfigError(
            ConfigTests.edited("confirmations = 2\n", "confirmations = 2\nrpc_concurrency = 0\n"),
            key: "networks[0].rpc_concurrency", mentions: ["between 1 and 64", "got 0"])
        assertConfigError(
            "[engine]\nmax_line_bytes = 10\n" + ConfigTests.base, key: "engine.max_line_bytes", mentions: ["got 10"])
        assertConfigError(
            ConfigTests.edited("decimals = 6", "decimals = 78"),
            key: "networks[0].assets[1].decimals", mentions: ["between 0 and 77", "got 78"])
    }

    // A required key that is absent is named as required.
    func testMissingRequiredKeys() {
        assertConfigError(
            ConfigTests.edited("confirmations = 2\n", ""), key: "networks[0].confirmations", mentions: ["is required"])
        assertConfigError(
            ConfigTests.edited("rpc_url = \"http://127.0.0.1:8545\"\n", ""), key: "networks[0].rpc_url",
            mentions: ["is required"])
        assertConfigError(
            ConfigTests.edited("decimals = 18\n", ""), key: "networks[0].assets[0].decimals", mentions: ["is required"])
        assertConfigError(
            ConfigTests.edited("alias = \"local\"", "alias = \"\""), key: "networks[0].alias",
            mentions: ["must not be empty"])
    }

    // MARK: Chains, assets, tokens, addresses

    // A chain that is not CAIP-2 is refused, naming the text.
    func testBadChain() {
        assertConfigError(
            ConfigTests.edited("chain = \"eip155:1337\"", "chain = \"eip155:01337\""),
            key: "networks[0].chain", mentions: ["eip155:01337", "CAIP-2"])
        assertConfigError(
            ConfigTests.edited("chain = \"eip155:1337\"", "chain = \"ethereum\""),
            key: "networks[0].chain", mentions: ["ethereum", "CAIP-2"])
    }

    // A CAIP-2 namespace no chain family handles is refused.
    func testUnsupportedChainFamily() {
        let text = ConfigTests.base.replacingOccurrences(of: "eip155:1337", with: "cosmos:hub-4")
        assertConfigError(text, key: "networks[0].chain", mentions: ["cosmos"])
    }

    // An asset whose CAIP-19 chain differs from its network's is refused.
    func testAssetOnAnotherChain() {
        assertConfigError(
            ConfigTests.edited("asset = \"eip155:1337/slip44:60\"", "asset = \"eip155:1/slip44:60\""),
            key: "networks[0].assets[0].asset", mentions: ["eip155:1/slip44:60", "eip155:1337"])
    }

    // A malformed or unsupported asset type is refused.
    func testBadAssetType() {
        assertConfigError(
            ConfigTests.edited("asset = \"eip155:1337/slip44:60\"", "asset = \"eip155:1337/slip44:060\""),
            key: "networks[0].assets[0].asset", mentions: ["CAIP-19"])
        assertConfigError(
            ConfigTests.edited(
                "asset = \"eip155:1337/slip44:60\"",
                "asset = \"eip155:1337/erc721:0x1000000000000000000000000000000000000002\""),
            key: "networks[0].assets[0].asset", mentions: ["erc721"])
    }

    // The same token mapped twice on one network is refused at the second mapping.
    func testTokenMappedTwice() {
        assertConfigError(
            ConfigTests.edited("token = \"TOK\"", "token = \"ETH\""),
            key: "networks[0].assets[1].token", mentions: ["ETH", "mapped twice"])
        assertConfigError(
            ConfigTests.edited(
                "asset = \"eip155:1337/erc20:0x1000000000000000000000000000000000000001\"",
                "asset = \"eip155:1337/slip44:60\""),
            key: "networks[0].assets[1].token", mentions: ["mapped twice"])
    }

    // An asset naming a token that [[tokens]] does not define is refused.
    func testUndefinedToken() {
        assertConfigError(
            ConfigTests.edited("token = \"TOK\"", "token = \"DOGE\""),
            key: "networks[0].assets[1].token", mentions: ["DOGE", "not defined"])
    }

    // A token alias defined twice is refused.
    func testTokenDefinedTwice() {
        assertConfigError(
            ConfigTests.edited("alias = \"TOK\"", "alias = \"ETH\""), key: "tokens[1].alias",
            mentions: ["ETH", "twice"])
    }

    // Two networks with the same alias (or chain) are refused.
    func testNetworkDefinedTwice() {
        let network = """
            [[networks]]
            alias = "local"
            chain = "eip155:5"
            rpc_url = "http://127.0.0.1:8546"
            receiver = "0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528"
            confirmations = 1

            """
        assertConfigError(ConfigTests.base + network, key: "networks[1].alias", mentions: ["local", "twice"])
    }

    // A receiver with a wrong EIP-55 checksum (or not an address at all) is refused.
    func testBadReceiver() {
        let wrongCase = "0x4cCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528"  // one letter's case flipped
        assertConfigError(
            ConfigTests.edited("receiver = \"\(ConfigTests.receiver)\"", "receiver = \"\(wrongCase)\""),
            key: "networks[0].receiver", mentions: [wrongCase, "checksum"])
        assertConfigError(
            ConfigTests.edited("receiver = \"\(ConfigTests.receiver)\"", "receiver = \"0x1234\""),
            key: "networks[0].receiver", mentions: ["0x1234", "not a valid"])
        assertConfigError(
            ConfigTests.edited("confirmations = 2\n", "confirmations = 2\noperator = \"\(wrongCase)\"\n"),
            key: "networks[0].operator", mentions: ["checksum"])
    }

    // An RPC URL that is not http(s) is refused.
    func testBadRPCURL() {
        assertConfigError(
            ConfigTests.edited("rpc_url = \"http://127.0.0.1:8545\"", "rpc_url = \"ftp://127.0.0.1\""),
            key: "networks[0].rpc_url", mentions: ["http"])
    }

    // MARK: Attestation secret

    // A secret under 32 bytes is refused (inline, from secret_env, and from the environment alone).
    func testSecretTooShort() {
        assertConfigError(
            ConfigTests.edited("secret = \"0123456789abcdef0123456789abcdef\"", "secret = \"short\""),
            key: "attestation.secret", mentions: ["at least 32 bytes"])
        assertConfigError(
            ConfigTests.edited(
                "secret = \"0123456789abcdef0123456789abcdef\"", "secret = \"0123456789abcdef0123456789abcde\""),
            key: "attestation.secret", mentions: ["at least 32 bytes"])
        assertConfigError(
            ConfigTests.edited("secret = \"0123456789abcdef0123456789abcdef\"", "secret_env = \"S\""),
            environment: ["S": "tiny"], key: "attestation.secret", mentions: ["at least 32 bytes"])
        let noSection = ConfigTests.edited(
            "[attestation]\nkey_id = \"k1\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n", "")
        assertConfigError(
            noSection, environment: ["TOK_ATTESTATION_SECRET": "tiny"],
            key: "TOK_ATTESTATION_SECRET", mentions: ["at least 32 bytes"])
    }

    // secret_env naming an unset variable is refused, naming the variable.
    func testSecretEnvUnset() {
        assertConfigError(
            ConfigTests.edited(
                "secret = \"0123456789abcdef0123456789abcdef\"", "secret_env = \"TOK_NOT_SET_ANYWHERE\""),
            environment: [:], key: "attestation.secret_env", mentions: ["TOK_NOT_SET_ANYWHERE", "not set"])
    }

    // Two secret sources at once are refused.
    func testTwoSecretSources() {
        assertConfigError(
            ConfigTests.edited(
                "secret = \"0123456789abcdef0123456789abcdef\"",
                "secret = \"0123456789abcdef0123456789abcdef\"\nsecret_env = \"TOK_ATTESTATION_SECRET\""),
            key: "attestation.secret", mentions: ["only one"])
        assertConfigError(
            ConfigTests.edited(
                "secret = \"0123456789abcdef0123456789abcdef\"",
                "secret_file = \"/nonexistent\"\nsecret_env = \"TOK_ATTESTATION_SECRET\""),
            key: "attestation.secret", mentions: ["only one"])
    }

    // A secret_file that cannot be read is refused, naming the file.
    func testSecretFileUnreadable() {
        assertConfigError(
            ConfigTests.edited(
                "secret = \"0123456789abcdef0123456789abcdef\"", "secret_file = \"/nonexistent/tok-secret\""),
            key: "attestation.secret_file", mentions: ["/nonexistent/tok-secret"])
    }

    // A secret file or a config holding a secret inline that group or others can read is
    // refused like a 0644 operator key: whoever reads the secret can forge attestations.
    func testSecretsMustBeOwnerOnly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tok-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func file(_ name: String, _ text: String, mode: mode_t) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertEqual(chmod(path, mode), 0)
            return path
        }
        let secretFile = try file("secret", ConfigTests.secret + "\n", mode: 0o644)
        let viaFile = ConfigTests.edited(
            "secret = \"0123456789abcdef0123456789abcdef\"", "secret_file = \"\(secretFile)\"")
        let configWithFile = try file("with-file.toml", viaFile, mode: 0o644)
        XCTAssertThrowsError(try TokConfig.load(path: configWithFile, environment: [:]).attestationSettings()) {
            error in
            XCTAssertEqual((error as? ConfigError)?.key, "attestation.secret_file", "\(error)")
            XCTAssertTrue("\(error)".contains("644") && "\(error)".contains("chmod 600"), "\(error)")
        }
        XCTAssertEqual(chmod(secretFile, 0o600), 0)
        XCTAssertEqual(
            try TokConfig.load(path: configWithFile, environment: [:]).attestationSettings()?.secret,
            Array(ConfigTests.secret.utf8),
            "a 0600 secret file in a 0644 config is fine: the config holds no secret")

        let inline = try file("inline.toml", ConfigTests.base, mode: 0o640)
        XCTAssertThrowsError(try TokConfig.load(path: inline, environment: [:])) { error in
            XCTAssertEqual((error as? ConfigError)?.key, "attestation.secret", "\(error)")
        }
        let password = ConfigTests.edited("confirmations = 2\n", "confirmations = 2\nrpc_password = \"hunter2\"\n")
            .replacingOccurrences(of: "secret = \"0123456789abcdef0123456789abcdef\"\n", with: "")
        let withPassword = try file("password.toml", password, mode: 0o604)
        XCTAssertThrowsError(try TokConfig.load(path: withPassword, environment: ConfigTests.environment)) { error in
            XCTAssertEqual((error as? ConfigError)?.key, "networks[0].rpc_password", "\(error)")
        }
        for path in [inline, withPassword] {
            XCTAssertEqual(chmod(path, 0o600), 0)
            XCTAssertNoThrow(try TokConfig.load(path: path, environment: ConfigTests.environment))
        }
    }

    // A misspelt required key is named as the unknown key it is, not as a missing one.
    func testMisspeltRequiredKeyIsNamedAsUnknown() {
        assertConfigError(
            ConfigTests.edited("receiver = \"\(ConfigTests.receiver)\"", "recevier = \"\(ConfigTests.receiver)\""),
            key: "networks[0].recevier", mentions: ["unknown key", "receiver"])
        assertConfigError(
            ConfigTests.edited("confirmations = 2", "confirmation = 2"),
            key: "networks[0].confirmation", mentions: ["unknown key", "confirmations"])
        assertConfigError(
            ConfigTests.edited("receiver = \"\(ConfigTests.receiver)\"\n", ""),
            key: "networks[0].receiver", mentions: ["is required"])
        XCTAssertEqual(TOMLReader.editDistance("recevier", "receiver", limit: 2), 2)
        XCTAssertEqual(TOMLReader.editDistance("", "abc", limit: 2), 3)
        XCTAssertEqual(TOMLReader.editDistance("alias", "alias", limit: 2), 0)
    }

    // Two tokens may not share a name: an alias or symbol that is another token's alias or symbol is refused.
    func testClashingTokenNamesAreRefused() {
        assertConfigError(
            ConfigTests.edited("alias = \"TOK\"\nsymbol = \"TK\"", "alias = \"TOK\"\nsymbol = \"ETH\""),
            key: "tokens[1].symbol", mentions: ["ETH", "already names token ETH"])
        assertConfigError(
            ConfigTests.edited(
                "alias = \"TOK\"\nsymbol = \"TK\"", "alias = \"TK2\"\nsymbol = \"TK\"\n\n[[tokens]]\nalias = \"TK\""),
            key: "tokens[2].alias", mentions: ["already the symbol of token TK2"])
    }

    // MARK: Syntax and database

    // Text that is not TOML is refused as such, with no key.
    func testInvalidTOML() {
        assertConfigError("[engine\nbatch_size = 1\n", key: "-", mentions: ["not valid TOML"])
        assertConfigError(ConfigTests.base + "confirmations = = 3\n", key: "-", mentions: ["not valid TOML"])
        assertConfigError("a = 1\na = 2\n", key: "-", mentions: ["not valid TOML"])
    }

    // database.synchronous accepts only "full" and "normal".
    func testSynchronousValues() throws {
        let normal = try TokConfig.parse(
            text: "[database]\nsynchronous = \"normal\"\n" + ConfigTests.base, file: "t", environment: [:])
        XCTAssertEqual(normal.database.synchronous, "normal")
        assertConfigError(
            "[database]\nsynchronous = \"off\"\n" + ConfigTests.base, key: "database.synchronous",
            mentions: ["full", "normal"])
    }

    // An unset [database] password_env is an error only where a PostgreSQL connection is opened
    // (it made every tool, tok-validate included, exit 78); the variable's value becomes the password.
    func testDatabasePasswordIsResolvedWhereItIsUsed() throws {
        let text =
            "[database]\nurl = \"postgresql:///tok?host=/nonexistent\"\npassword_env = \"TOK_TEST_PG_PASSWORD\"\n"
            + ConfigTests.base
        let unset = try TokConfig.parse(text: text, file: "t", environment: [:])
        XCTAssertNil(unset.database.password)
        XCTAssertThrowsError(
            try DatabaseTarget("postgresql:///tok?host=/nonexistent").connect(config: unset, readOnly: true, tool: "t")
        ) { error in
            XCTAssertEqual((error as? StoreError)?.kind, .conflictsWithConfig, "\(error)")
            XCTAssertTrue("\(error)".contains("TOK_TEST_PG_PASSWORD is not set"), "\(error)")
        }
        let set = try TokConfig.parse(text: text, file: "t", environment: ["TOK_TEST_PG_PASSWORD": "hunter2"])
        XCTAssertEqual(set.database.password, "hunter2")
    }

    // A missing config file is a ConfigError, not a crash.
    func testMissingFile() {
        XCTAssertThrowsError(try TokConfig.load(path: "/nonexistent/tok.toml", environment: [:])) { error in
            XCTAssertEqual((error as? ConfigError)?.key, "-")
            XCTAssertEqual((error as? ConfigError)?.file, "/nonexistent/tok.toml")
        }
    }

    // MARK: bip122 networks

    static let dogecoin = """
        [attestation]
        key_id = "k1"
        secret = "0123456789abcdef0123456789abcdef"

        [[tokens]]
        alias = "DOGE"
        decimals = 8

        [[networks]]
        alias = "doge"
        chain = "bip122:1a91e3dace36e2be3bf030a65679fe82"
        rpc_url = "http://127.0.0.1:22555"
        receiver = "DBus3bamQjgJULBJtYXpEzDWQRwF5iwxgC"
        operator = "DBus3bamQjgJULBJtYXpEzDWQRwF5iwxgC"
        confirmations = 40
        fee_per_kilobyte = "100000"
        min_tx_fee = 1000000
        soft_dust_limit = "0"
        max_network_fee = "5000000"

          [[networks.assets]]
          token = "DOGE"
          asset = "bip122:1a91e3dace36e2be3bf030a65679fe82/slip44:3"
          decimals = 8
          payout = true

        """

    // Relay-policy keys override the chain table's row; 0 turns Dogecoin's soft dust rule off.
    func testUTXOPolicyOverridesTheChainTable() throws {
        let config = try TokConfig.parse(
            text: ConfigTests.dogecoin, file: "test.toml", environment: ConfigTests.environment)
        let network = try XCTUnwrap(config.networks.first)
        XCTAssertEqual(
            network.utxoPolicy,
            UTXOPolicy(feePerKilobyte: 100_000, minTxFee: 1_000_000, softDustLimit: 0, maxNetworkFee: 5_000_000))
        let row = try XCTUnwrap(UTXOChains.parameters(for: network.chain))
        let applied = network.utxoPolicy.applied(to: row)
        XCTAssertEqual(applied.minRelayFeePerKilobyteBaseUnits, 100_000)
        XCTAssertEqual(applied.minTxFeeBaseUnits, 1_000_000)
        XCTAssertNil(applied.softDustLimitBaseUnits)
        XCTAssertEqual(applied.dustLimitBaseUnits, row.dustLimitBaseUnits)
    }

    // The operator pays from the coins deposits bring to the receiver: they must be one address.
    func testBip122OperatorMustBeTheReceiver() {
        let text = ConfigTests.dogecoin.replacingOccurrences(
            of: "operator = \"DBus3bamQjgJULBJtYXpEzDWQRwF5iwxgC\"",
            with: "operator = \"D597kHXGdkwkryF9oGhz9Bp1ypTpD1u99Z\"")
        assertConfigError(text, key: "networks[0].operator", mentions: ["receiver"])
    }

    // Policy keys mean nothing on an account-model chain.
    func testUTXOPolicyKeysAreRefusedOnEVM() {
        assertConfigError(
            ConfigTests.edited("confirmations = 2\n", "confirmations = 2\nfee_per_kilobyte = \"1000\"\n"),
            key: "networks[0].fee_per_kilobyte", mentions: ["bip122"])
    }
}

/// Each chain family reads its own network keys; the EVM chains are a table like the UTXO ones.
final class FamilySettingsTests: XCTestCase {
    // EVM fee caps are read by the EVM family and reach its networks; a bip122 network has its relay policy instead.
    func testFamiliesReadTheirOwnKeys() throws {
        let evm = try TokConfig.parse(
            text: ConfigTests.edited("confirmations = 2\n", "confirmations = 2\ngas_limit_cap = 50000\n"),
            file: "t", environment: ConfigTests.environment)
        XCTAssertEqual(evm.networks[0].evmSettings, EVMNetworkSettings(gasLimitCap: 50_000))
        XCTAssertEqual(evm.networks[0].utxoPolicy, UTXOPolicy(), "an EVM network has no relay policy")
        let doge = try TokConfig.parse(text: ConfigTests.dogecoin, file: "t", environment: ConfigTests.environment)
        XCTAssertEqual(doge.networks[0].evmSettings, EVMNetworkSettings(), "a bip122 network has no fee caps")
        XCTAssertEqual(doge.networks[0].utxoPolicy.maxNetworkFee, 5_000_000)
    }

    // An EVM key on a bip122 network is named as the other family's, like the reverse.
    func testEVMKeysAreRefusedOnBip122() {
        let text = ConfigTests.dogecoin.replacingOccurrences(
            of: "confirmations = 40\n", with: "confirmations = 40\ngas_limit_cap = 50000\n")
        XCTAssertThrowsError(try TokConfig.parse(text: text, file: "t", environment: ConfigTests.environment)) {
            error in
            let config = error as? ConfigError
            XCTAssertEqual(config?.key, "networks[0].gas_limit_cap")
            XCTAssertTrue(config?.problem.contains("eip155") == true, "\(error)")
        }
    }

    // A known EVM chain has one native coin: another slip44 number on it is refused; unknown chains are not judged.
    func testEVMChainTable() throws {
        XCTAssertTrue(EVMChains.checked)
        XCTAssertEqual(EVMChains.parameters(for: try ChainId(parsing: "eip155:1"))?.nativeSlip44, 60)
        XCTAssertEqual(EVMChains.parameters(for: try ChainId(parsing: "eip155:137"))?.nativeSlip44, 966)
        XCTAssertNil(EVMChains.parameters(for: try ChainId(parsing: "eip155:999999")))
        let family = EVMFamily()
        XCTAssertNoThrow(try family.checkAssetSupported(try AssetType(parsing: "eip155:1/slip44:60")))
        XCTAssertThrowsError(try family.checkAssetSupported(try AssetType(parsing: "eip155:1/slip44:0")))
        XCTAssertNoThrow(try family.checkAssetSupported(try AssetType(parsing: "eip155:999999/slip44:0")))
    }
}
