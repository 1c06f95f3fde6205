import Foundation
import XCTest
@testable import TokShared

/// A real Dogecoin Core (1.14.99, see ../shared/tools/dogecoin/README.md) on regtest, on
/// loopback, in a scratch data directory, with mainnet's standardness rules
/// (`-acceptnonstdtxn=0`: an 81-byte OP_RETURN, dust and fee-less transactions are refused).
/// The binaries are found in $TOK_DOGECOIN_DIR (which .ci/run sets), else on PATH.
final class DogecoinNode: RegtestNode {
    static let chain = "bip122:3d2160a3b5dc4a9d62e7e66a295f7031"
    /// Regtest accepts AuxPoW blocks from this height on; below it `generatetoaddress` with
    /// auxpow set retries for ever ("early-auxpow-block"), so `mineAuxPow` refuses to ask.
    static let firstAuxPowHeight = 20
    /// 500,000 DOGE per block on regtest.
    static let blockRewardKoinu: UInt64 = 50_000_000_000_000

    init() throws {
        try super.init(
            RegtestDaemon(
                name: "dogecoind", executable: try DogecoinNode.executable(), extraArguments: ["-acceptnonstdtxn=0"],
                newAddressParams: "[]", signRawTransactionMethod: "signrawtransaction",
                createsWallet: false, feeBaseUnits: 1_000_000, chain: UTXOChains.dogecoinRegtest))
    }

    /// $TOK_DOGECOIN_DIR/dogecoind, else `dogecoind` on PATH; skipped (failed under CI=true) when neither.
    static func executable() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let directory = environment["TOK_DOGECOIN_DIR"], !directory.isEmpty {
            let path = URL(fileURLWithPath: directory).appendingPathComponent("dogecoind").path
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw RegtestNode.unavailable("TOK_DOGECOIN_DIR=\(directory) holds no executable dogecoind")
            }
            return path
        }
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            let path = URL(fileURLWithPath: String(directory)).appendingPathComponent("dogecoind").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw RegtestNode.unavailable(
            "dogecoind not found: set TOK_DOGECOIN_DIR to a directory holding dogecoind and dogecoin-cli "
                + "(.ci/run uses ../shared/tools/dogecoin) or put dogecoind on PATH")
    }

    /// Mines one merge-mined block (an AuxPoW header) to `address`; its hash.
    func mineAuxPow(to address: String) throws -> String {
        guard try blockCount() + 1 >= DogecoinNode.firstAuxPowHeight else {
            throw NodeFailure(
                message:
                    "regtest takes AuxPoW blocks from height \(DogecoinNode.firstAuxPowHeight) on; mine plain blocks first"
            )
        }
        return try call("generatetoaddress", "[1, \"\(address)\", 1000000, 1]")[0]!.stringValue!
    }
}
