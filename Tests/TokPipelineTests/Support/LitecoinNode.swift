import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import TokShared

/// A real Bitcoin-family node: Debian's litecoind on regtest, on loopback, in a
/// scratch data directory. It judges the transactions our tests make with the
/// same legacy script and sighash rules as Dogecoin.
final class LitecoinNode: RegtestNode {
    static let binary = "/usr/lib/litecoin/litecoind"  // /usr/bin/litecoind is a wrapper that writes ~/.litecoin
    static let chain = "bip122:530827f38f93b43ed12af0b3ad25a288"

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: LitecoinNode.binary) else {
            throw RegtestNode.unavailable(
                "litecoind is not installed: run `bash scripts/test.sh` (or scripts/setup.sh) first")
        }
        try super.init(
            RegtestDaemon(
                name: "litecoind", executable: LitecoinNode.binary, extraArguments: ["-fallbackfee=0.0001"],
                newAddressParams: "[\"\", \"legacy\"]", signRawTransactionMethod: "signrawtransactionwithwallet",
                createsWallet: true, feeBaseUnits: 100_000, chain: UTXOChains.litecoinRegtest))
    }

    /// A payout request between two addresses of this chain (token LTC on `network`), authorised
    /// by the source with `signMessage`; amounts in litoshi.
    func payoutRequest(
        id: String, from source: String, to destination: String, quantity: String, maxFee: String = "100000",
        network: String = "ltc-regtest"
    ) throws -> String {
        let expiry = Int64(Date().timeIntervalSince1970) + 3600
        let authorisation = PayoutAuthorisation(
            deployment: testDeployment, requestId: id, source: "\(LitecoinNode.chain):\(source)",
            destination: "\(LitecoinNode.chain):\(destination)",
            token: "LTC", quantity: try UInt256(decimal: quantity), maxFee: try UInt256(decimal: maxFee),
            expiresUnixSeconds: expiry)
        let signature = try signMessage(authorisation.message, by: source)
        return
            "{\"op\":\"payout\",\"id\":\"\(id)\",\"source\":{\"account\":\"\(source)\",\"network\":\"\(network)\",\"token\":\"LTC\"},"
            + "\"destination\":{\"account\":\"\(destination)\",\"network\":\"\(network)\",\"token\":\"LTC\"},"
            + "\"quantity\":\"\(quantity)\",\"max_fee\":\"\(maxFee)\",\"expires\":\(expiry),\"signature\":\"\(signature)\"}"
    }

    /// A config with one Litecoin regtest network (LTC, 8 decimals) and the given receiver.
    func config(receiver: String, confirmations: Int = 3) -> String {
        """
        [engine]
        deployment = "\(testDeployment)"

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
