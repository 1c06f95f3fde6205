import XCTest
@testable import TokShared

final class ValidateStageTests: XCTestCase {
    static let configText = """
        [[tokens]]
        alias = "ETH"

        [[tokens]]
        alias = "TOK"
        symbol = "TK"

        [[tokens]]
        alias = "OFF"

        [[networks]]
        alias = "evm-local"
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
          decimals = 18

          [[networks.assets]]
          token = "OFF"
          asset = "eip155:1337/erc20:0x1000000000000000000000000000000000000002"
          decimals = 18
          deposit = false

        """

    static let config: TokConfig = {
        do { return try TokConfig.parse(text: configText, file: "validate-test.toml", environment: [:]) } catch {
            fatalError("test config does not parse: \(error)")
        }
    }()

    static let address = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    static let account = "eip155:1337:" + address
    static let txUpper = "0x" + String(repeating: "AB", count: 32)
    static let txLower = "0x" + String(repeating: "ab", count: 32)

    let stage = ValidateStage(config: ValidateStageTests.config, defaultOp: nil, logger: CapturedLog().logger)

    /// A deposit request with the given source object text (and optional other parts).
    static func depositText(source: String, id: String = "\"d-1\"", op: String = "\"deposit\"",
                            deposit: String = "{\"tx\":\"\(txUpper)\"}") -> String {
        "{\"op\":\(op),\"id\":\(id),\"source\":\(source),\"deposit\":\(deposit)}"
    }

    /// Runs the stage on `text` and returns the record and the request-log entry.
    func run(_ text: String, stage: ValidateStage? = nil, file: StaticString = #filePath, line: UInt = #line) -> (JSON, String, Bool) {
        let record = StageRunnerTests.record(text, file: file, line: line)
        var log: [UInt8] = []
        let valid = (stage ?? self.stage).processRecord(record, requestLog: &log)
        return (record, String(decoding: log, as: UTF8.self), valid)
    }

    func assertValidated(_ text: String, token: String, asset: String, file: StaticString = #filePath, line: UInt = #line) {
        let (record, log, valid) = run(text, file: file, line: line)
        XCTAssertTrue(valid, "rejected: \(record.serialized())", file: file, line: line)
        XCTAssertEqual(record.string(at: "status"), "validated", file: file, line: line)
        XCTAssertNil(record["error"], file: file, line: line)
        let validated = record["validated"]
        XCTAssertEqual(validated?.string(at: "network"), "eip155:1337", file: file, line: line)
        XCTAssertEqual(validated?.string(at: "account"), ValidateStageTests.account, file: file, line: line)
        XCTAssertEqual(validated?.string(at: "token"), token, file: file, line: line)
        XCTAssertEqual(validated?.string(at: "asset"), asset, file: file, line: line)
        XCTAssertEqual(validated?.string(at: "tx"), ValidateStageTests.txLower, file: file, line: line)
        XCTAssertEqual(log, "deposit id=d-1 account=\(ValidateStageTests.account) token=\(token) tx=\(ValidateStageTests.txLower)",
                       file: file, line: line)
    }

    func assertRejected(_ text: String, _ code: ErrorCode, stage: ValidateStage? = nil, file: StaticString = #filePath, line: UInt = #line) {
        let (record, log, valid) = run(text, stage: stage, file: file, line: line)
        XCTAssertFalse(valid, file: file, line: line)
        XCTAssertEqual(log, "", "a rejected request is not logged as valid", file: file, line: line)
        XCTAssertEqual(record.string(at: "status"), "rejected", file: file, line: line)
        XCTAssertNil(record["validated"], file: file, line: line)
        let error = record["error"]
        XCTAssertEqual(error?.string(at: "stage"), "validate", file: file, line: line)
        XCTAssertEqual(error?.string(at: "code"), code.rawValue, "message: \(error?.string(at: "message") ?? "-")", file: file, line: line)
        XCTAssertEqual(error?["retryable"]?.boolValue, false, file: file, line: line)
        XCTAssertFalse(error?.has("line") ?? true, file: file, line: line)
        // Every input field is kept so the request can be repaired and replayed.
        guard case .success(let input) = JSON.parse(text) else { return }
        for key in input.keys {
            XCTAssertEqual(record[key]?.serialized(sortKeys: true), input[key]?.serialized(sortKeys: true), "field \(key)", file: file, line: line)
        }
    }

    // MARK: Valid deposits

    // A native deposit by CAIP-10 account (lowercase) is validated with the EIP-55 account and lowercase tx.
    func testNativeDepositByCAIP10Account() {
        assertValidated(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.account.lowercased())\",\"token\":\"ETH\"}"),
                        token: "ETH", asset: "eip155:1337/slip44:60")
    }

    // An ERC-20 deposit by bare address and network alias is validated.
    func testERC20DepositByBareAddressAndAlias() {
        assertValidated(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.address)\",\"network\":\"evm-local\",\"token\":\"TOK\"}"),
                        token: "TOK", asset: "eip155:1337/erc20:0x1000000000000000000000000000000000000001")
    }

    // The network may also be named by its CAIP-2 id, with a CAIP-10 account on the same chain.
    func testNetworkByCAIP2Id() {
        assertValidated(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.address.lowercased())\",\"network\":\"eip155:1337\",\"token\":\"ETH\"}"),
                        token: "ETH", asset: "eip155:1337/slip44:60")
        assertValidated(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.account)\",\"network\":\"evm-local\",\"token\":\"ETH\"}"),
                        token: "ETH", asset: "eip155:1337/slip44:60")
    }

    // A token may be named by its CAIP-19 asset type or by its symbol.
    func testTokenByCAIP19AndSymbol() {
        for name in ["eip155:1337/erc20:0x1000000000000000000000000000000000000001", "TK"] {
            assertValidated(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.account)\",\"token\":\"\(name)\"}"),
                            token: "TOK", asset: "eip155:1337/erc20:0x1000000000000000000000000000000000000001")
        }
        assertValidated(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.account)\",\"token\":\"eip155:1337/slip44:60\"}"),
                        token: "ETH", asset: "eip155:1337/slip44:60")
    }

    // The validated output is the input line with validated and status appended.
    func testValidatedOutputBytes() {
        let text = "{\"op\": \"deposit\", \"id\": \"d-1\", \"source\": {\"account\": \"\(ValidateStageTests.account)\", \"token\": \"ETH\"}, \"deposit\": {\"tx\": \"\(ValidateStageTests.txUpper)\"}, \"memo\": [1]}"
        let (record, _, _) = run(text)
        XCTAssertEqual(StageRunnerTests.written(record), String(text.dropLast()) + ",\"validated\":{\"network\":\"eip155:1337\",\"account\":\"\(ValidateStageTests.account)\",\"token\":\"ETH\",\"asset\":\"eip155:1337/slip44:60\",\"tx\":\"\(ValidateStageTests.txLower)\"},\"status\":\"validated\"}")
    }

    // With a default op, a request without op is taken as that op.
    func testDefaultOp() {
        let stage = ValidateStage(config: ValidateStageTests.config, defaultOp: .deposit, logger: CapturedLog().logger)
        let text = "{\"id\":\"d-1\",\"source\":{\"account\":\"\(ValidateStageTests.account)\",\"token\":\"ETH\"},\"deposit\":{\"tx\":\"\(ValidateStageTests.txUpper)\"}}"
        let (record, _, valid) = run(text, stage: stage)
        XCTAssertTrue(valid)
        XCTAssertEqual(record.string(at: "op"), "deposit")
        XCTAssertEqual(record.string(at: "status"), "validated")
        assertRejected(text, .missingField)
    }

    // A saved TokEngine body (no op, no id, the token named by the asset part of its CAIP-19 id)
    // replays with --default-op deposit: it gets a stable id derived from its chain and transaction.
    func testSavedTokEngineBodiesReplay() {
        let stage = ValidateStage(config: ValidateStageTests.config, defaultOp: .deposit, logger: CapturedLog().logger)
        let derived = "deposit:eip155:1337:" + ValidateStageTests.txLower
        for (token, alias) in [("erc20:0x1000000000000000000000000000000000000001", "TOK"), ("slip44:60", "ETH")] {
            for network in ["\"network\":\"evm-local\",", "\"network\":\"eip155:1337\",", ""] {
                let body = "{\"source\":{\"account\":\"\(ValidateStageTests.account)\",\(network)\"token\":\"\(token)\"},\"deposit\":{\"tx\":\"\(ValidateStageTests.txUpper)\"}}"
                let (record, log, valid) = run(body, stage: stage)
                XCTAssertTrue(valid, record.serialized())
                XCTAssertEqual(record.string(at: "id"), derived, "the same deposit gets the same id however it is spelt")
                XCTAssertEqual(record["validated"]?.string(at: "token"), alias)
                XCTAssertTrue(log.hasPrefix("deposit id=\(derived) "), log)
            }
        }
        let named = "{\"id\":\"mine\",\"source\":{\"account\":\"\(ValidateStageTests.account)\",\"token\":\"slip44:60\"},\"deposit\":{\"tx\":\"\(ValidateStageTests.txUpper)\"}}"
        XCTAssertEqual(run(named, stage: stage).0.string(at: "id"), "mine", "a given id is kept")
        let foreign = "{\"source\":{\"account\":\"\(ValidateStageTests.account)\",\"token\":\"erc20:0x1000000000000000000000000000000000000009\"},\"deposit\":{\"tx\":\"\(ValidateStageTests.txUpper)\"}}"
        XCTAssertEqual(run(foreign, stage: stage).0["error"]?.string(at: "code"), "unknown_token")
        let badId = "{\"id\":null,\"source\":{\"account\":\"\(ValidateStageTests.account)\",\"token\":\"slip44:60\"},\"deposit\":{\"tx\":\"\(ValidateStageTests.txUpper)\"}}"
        XCTAssertEqual(run(badId, stage: stage).0["error"]?.string(at: "code"), "bad_field_type", "only an absent id is derived")
        let payout = "{\"op\":\"payout\",\"source\":{\"account\":\"\(ValidateStageTests.account)\",\"token\":\"slip44:60\"}}"
        XCTAssertEqual(run(payout, stage: stage).0["error"]?.string(at: "code"), "missing_field", "a payout signs its id: none is derived")
    }

    // Balance and status queries are validated too.
    func testQueries() {
        let (balance, balanceLog, balanceValid) = run("{\"op\":\"balance\",\"id\":\"b-1\",\"source\":{\"account\":\"\(ValidateStageTests.account.lowercased())\",\"token\":\"TK\"}}")
        XCTAssertTrue(balanceValid)
        XCTAssertEqual(balance["validated"]?.string(at: "account"), ValidateStageTests.account)
        XCTAssertEqual(balance["validated"]?.string(at: "token"), "TOK")
        XCTAssertTrue(balanceLog.contains("balance query id=b-1"))
        let (topLevel, _, topLevelValid) = run("{\"op\":\"balance\",\"id\":\"b-2\",\"account\":\"\(ValidateStageTests.address)\",\"network\":\"evm-local\",\"token\":\"ETH\"}")
        XCTAssertTrue(topLevelValid)
        XCTAssertEqual(topLevel["validated"]?.string(at: "account"), ValidateStageTests.account)
        let (status, statusLog, statusValid) = run("{\"op\":\"status\",\"id\":\"d-1\"}")
        XCTAssertTrue(statusValid)
        XCTAssertEqual(status.string(at: "status"), "validated")
        XCTAssertEqual(statusLog, "status query id=d-1")
    }

    // MARK: Rejections

    static let goodSource = "{\"account\":\"\(account)\",\"token\":\"ETH\"}"

    // A missing id is refused (but for a deposit, whose id can be derived: testSavedTokEngineBodiesReplay),
    // a non-string one always.
    func testMissingOrBadTypeId() {
        assertRejected("{\"op\":\"balance\",\"source\":\(ValidateStageTests.goodSource)}", .missingField)
        assertRejected(ValidateStageTests.depositText(source: ValidateStageTests.goodSource, id: "5"), .badFieldType)
    }

    // An id with characters outside [A-Za-z0-9._:-], empty, or over 192 bytes is refused; 192 is fine.
    func testBadIdCharacters() {
        for id in ["d 1", "d/1", "", "dé", "d\\n1", String(repeating: "x", count: 193)] {
            assertRejected(ValidateStageTests.depositText(source: ValidateStageTests.goodSource, id: "\"\(id)\""), .badRequestId)
        }
        let (_, _, valid) = run(ValidateStageTests.depositText(source: ValidateStageTests.goodSource, id: "\"\(String(repeating: "a.b_c:D-9", count: 22).prefix(192))\""))
        XCTAssertTrue(valid)
    }

    // The ids tok makes itself fit the limit: a token's automatic deposit on a chain with a long CAIP-2
    // reference (137 characters on the test chain) was refused when the limit was 128, so its status could
    // not be asked.
    func testTheLongestIdsTokMakesAreAccepted() throws {
        let chain = "eip155:" + String(repeating: "9", count: 32)
        let tx = "0x" + String(repeating: "ab", count: 32)
        let contract = "0x" + String(repeating: "cd", count: 20)
        for id in ["auto:\(chain):\(tx):\(contract)", "resolved:\(chain):\(tx):\(contract)"] {
            let record = JSON.object()
            record.set("id", string: id)
            XCTAssertEqual(try RequestResolver.checkRequestId(record), id)
        }
    }

    // An unknown op, or none at all without a default, is refused.
    func testUnknownOrMissingOp() {
        assertRejected(ValidateStageTests.depositText(source: ValidateStageTests.goodSource, op: "\"mint\""), .unknownOp)
        assertRejected(ValidateStageTests.depositText(source: ValidateStageTests.goodSource, op: "\"Deposit\""), .unknownOp)
        assertRejected(ValidateStageTests.depositText(source: ValidateStageTests.goodSource, op: "1"), .badFieldType)
    }

    // A missing, null or non-object source is refused.
    func testSourceShape() {
        assertRejected("{\"op\":\"deposit\",\"id\":\"d-1\",\"deposit\":{\"tx\":\"\(ValidateStageTests.txUpper)\"}}", .missingField)
        assertRejected(ValidateStageTests.depositText(source: "null"), .missingField)
        assertRejected(ValidateStageTests.depositText(source: "\"\(ValidateStageTests.account)\""), .badFieldType)
        assertRejected(ValidateStageTests.depositText(source: "[]"), .badFieldType)
        assertRejected(ValidateStageTests.depositText(source: "{\"token\":\"ETH\"}"), .missingField)
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.account)\"}"), .missingField)
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":7,\"token\":\"ETH\"}"), .badFieldType)
    }

    // A network that is not configured is refused; a malformed CAIP-2 network is bad_chain_id.
    func testUnknownNetwork() {
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.address)\",\"network\":\"mainnet\",\"token\":\"ETH\"}"), .unknownNetwork)
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.address)\",\"network\":\"eip155:1\",\"token\":\"ETH\"}"), .unknownNetwork)
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"eip155:1:\(ValidateStageTests.address)\",\"token\":\"ETH\"}"), .unknownNetwork)
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.address)\",\"network\":\"eip155:01\",\"token\":\"ETH\"}"), .badChainId)
    }

    // A bare address needs a network.
    func testBareAddressWithoutNetwork() {
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.address)\",\"token\":\"ETH\"}"), .missingField)
    }

    // A CAIP-10 account on another chain than the named network is refused.
    func testAccountNetworkMismatch() {
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"eip155:1:\(ValidateStageTests.address)\",\"network\":\"evm-local\",\"token\":\"ETH\"}"),
                       .accountNetworkMismatch)
    }

    // A mixed-case address with a wrong EIP-55 checksum is refused as bad_checksum.
    func testBadChecksum() {
        let wrong = "0x7e5F4552091A69125d5DfCb7b8C2659029395Bdf"
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"eip155:1337:\(wrong)\",\"token\":\"ETH\"}"), .badChecksum)
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"\(wrong)\",\"network\":\"evm-local\",\"token\":\"ETH\"}"), .badChecksum)
    }

    // Something that is not an EVM address is refused as bad_account.
    func testBadAccount() {
        for account in ["0x1234", "7E5F4552091A69125d5DfCb7b8C2659029395Bdf", "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdg",
                        "eip155:1337:0x12", "eip155:1337:"] {
            let text = account.hasPrefix("eip155")
                ? ValidateStageTests.depositText(source: "{\"account\":\"\(account)\",\"token\":\"ETH\"}")
                : ValidateStageTests.depositText(source: "{\"account\":\"\(account)\",\"network\":\"evm-local\",\"token\":\"ETH\"}")
            assertRejected(text, .badAccount)
        }
    }

    // A token that is not configured (by alias, symbol or CAIP-19) is refused.
    func testUnknownToken() {
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.account)\",\"token\":\"DOGE\"}"), .unknownToken)
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.account)\",\"token\":\"eip155:1337/erc20:0x1000000000000000000000000000000000000009\"}"), .unknownToken)
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.account)\",\"token\":\"eth\"}"), .unknownToken)
    }

    // A token whose deposits are disabled on the network is refused.
    func testDepositDisabled() {
        assertRejected(ValidateStageTests.depositText(source: "{\"account\":\"\(ValidateStageTests.account)\",\"token\":\"OFF\"}"), .depositDisabled)
    }

    // A transaction id that is not 0x + 64 hex digits is refused; a missing one is missing_field.
    func testBadTxId() {
        for tx in ["0x12", "ab" + String(repeating: "ab", count: 31), "0x" + String(repeating: "g", count: 64),
                   "0x" + String(repeating: "a", count: 65), " 0x" + String(repeating: "a", count: 64)] {
            assertRejected(ValidateStageTests.depositText(source: ValidateStageTests.goodSource, deposit: "{\"tx\":\"\(tx)\"}"), .badTxId)
        }
        assertRejected(ValidateStageTests.depositText(source: ValidateStageTests.goodSource, deposit: "{}"), .missingField)
        assertRejected(ValidateStageTests.depositText(source: ValidateStageTests.goodSource, deposit: "\"0x12\""), .badFieldType)
        assertRejected("{\"op\":\"deposit\",\"id\":\"d-1\",\"source\":\(ValidateStageTests.goodSource)}", .missingField)
    }

    // MARK: Pass-through

    // Records that already carry a status (any status, known or not) pass through byte for byte.
    func testRecordsWithStatusPassThrough() {
        let texts = [
            "{\"status\":\"verified\", \"op\":\"deposit\",\"id\":\"bad id\"}",
            "{\"op\":\"mint\",\"status\":\"rejected\",\"error\":{\"code\":\"x\"}}",
            "{\"status\":\"something_new\",\"op\":\"deposit\"}",
            "{\"status\":null}",
        ]
        for text in texts {
            let (record, log, valid) = run(text)
            XCTAssertFalse(valid)
            XCTAssertEqual(log, "")
            XCTAssertEqual(StageRunnerTests.written(record), text)
        }
    }
}
