import XCTest
@testable import TokShared

/// Payout authorisations are bound to one deployment (message v2); v1 signatures are refused with a reason.
final class PayoutAuthorisationTests: XCTestCase {
    static let receiver = "0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528"
    static let source = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    static let destination = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"
    static let key = try! PrivateKey(hex: "0x" + String(repeating: "0", count: 63) + "1")

    static func config(deployment: String?, receiver: String = receiver) throws -> TokConfig {
        let engine = deployment.map { "[engine]\ndeployment = \"\($0)\"\n\n" } ?? ""
        return try TokConfig.parse(
            text: engine + """
                [[tokens]]
                alias = "ETH"

                [[networks]]
                alias = "evm-local"
                chain = "eip155:1337"
                rpc_url = "http://127.0.0.1:8545"
                receiver = "\(receiver)"
                operator = "\(receiver)"
                confirmations = 2

                  [[networks.assets]]
                  token = "ETH"
                  asset = "eip155:1337/slip44:60"
                  decimals = 18
                  payout = true
                """, file: "t.toml", environment: [:])
    }

    let now: Int64 = 1_800_000_000

    func authorisation(deployment: String) -> PayoutAuthorisation {
        PayoutAuthorisation(
            deployment: deployment, requestId: "p-1", source: "eip155:1337:" + PayoutAuthorisationTests.source,
            destination: "eip155:1337:" + PayoutAuthorisationTests.destination, token: "ETH",
            quantity: UInt256(1000), maxFee: UInt256(0), expiresUnixSeconds: now + 600)
    }

    func request(signature: String) -> JSON {
        let text =
            "{\"op\":\"payout\",\"id\":\"p-1\",\"source\":{\"account\":\"\(PayoutAuthorisationTests.source)\",\"network\":\"evm-local\",\"token\":\"ETH\"},"
            + "\"destination\":{\"account\":\"\(PayoutAuthorisationTests.destination)\",\"network\":\"evm-local\",\"token\":\"ETH\"},"
            + "\"quantity\":\"1000\",\"max_fee\":\"0\",\"expires\":\(now + 600),\"signature\":\"\(signature)\"}"
        return StageRunnerTests.record(text)
    }

    /// What tok-verify checks: resolve the request under `config`, then its signature.
    func check(_ signature: String, under config: TokConfig) throws(TokError) {
        let payout = try RequestResolver(config: config).resolvePayout(
            request(signature: signature), nowUnixSeconds: now)
        try payout.authorisation.verifySignature(
            payout.signature, signer: payout.sourceAddress,
            family: payout.sourceNetwork.family, chain: payout.sourceNetwork.chain)
    }

    func testSignaturesAreBoundToTheDeployment() throws {
        let acme = try PayoutAuthorisationTests.config(deployment: "acme-prod")
        let signed = PersonalSign.sign(
            message: authorisation(deployment: "acme-prod").message, key: PayoutAuthorisationTests.key)
        XCTAssertNoThrow(try check(signed, under: acme))
        XCTAssertTrue(
            authorisation(deployment: "acme-prod").message.hasPrefix("tok payout v2\ndeployment: acme-prod\nid: p-1\n"))
        // Another deployment on the same chain, the same accounts and token, refuses it.
        assertTokError(
            .badSignature,
            { () throws(TokError) in
                try self.check(signed, under: try! PayoutAuthorisationTests.config(deployment: "acme-staging"))
            })

        // Unnamed, a deployment is its source network's receiver: another operator's receiver refuses it.
        let byReceiver = PersonalSign.sign(
            message: authorisation(deployment: "eip155:1337:" + PayoutAuthorisationTests.receiver).message,
            key: PayoutAuthorisationTests.key)
        XCTAssertNoThrow(try check(byReceiver, under: try PayoutAuthorisationTests.config(deployment: nil)))
        let otherOperator = try PayoutAuthorisationTests.config(
            deployment: nil, receiver: "0x1efF47bc3a10a45D4B230B5d10E37751FE6AA718")
        assertTokError(.badSignature, { () throws(TokError) in try self.check(byReceiver, under: otherOperator) })
    }

    // A v1 signature (valid in every deployment) is refused, and the refusal says so.
    func testVersion1SignaturesAreRefusedWithTheirReason() throws {
        let acme = try PayoutAuthorisationTests.config(deployment: "acme-prod")
        let version1 = PersonalSign.sign(
            message: authorisation(deployment: "acme-prod").version1Message, key: PayoutAuthorisationTests.key)
        do {
            try check(version1, under: acme)
            XCTFail("a v1 signature was accepted")
        } catch {
            XCTAssertEqual(error.code, .badSignature)
            XCTAssertTrue(
                error.message.contains("tok payout v1") && error.message.contains("tok payout v2"), error.message)
        }
    }
}
