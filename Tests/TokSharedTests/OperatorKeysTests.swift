import Foundation
import XCTest
@testable import TokShared

/// The operator's key: hex anywhere, or the WIF text of a Bitcoin-family node's
/// `dumpprivkey`; it must belong to the configured operator address.
final class OperatorKeysTests: XCTestCase {
    static let key = try! PrivateKey(hex: "0x000000000000000000000000000000000000000000000000000000000000002a")
    static let dogecoin = UTXOChains.all.first { $0.name == "dogecoin-mainnet" }!

    func network(operatorAddress: String) throws -> NetworkConfig {
        let text = ConfigTests.dogecoin
            .replacingOccurrences(
                of: "receiver = \"DBus3bamQjgJULBJtYXpEzDWQRwF5iwxgC\"", with: "receiver = \"\(operatorAddress)\""
            )
            .replacingOccurrences(
                of: "operator = \"DBus3bamQjgJULBJtYXpEzDWQRwF5iwxgC\"",
                with: "operator = \"\(operatorAddress)\"\noperator_key_env = \"DOGE_KEY\"")
        return try XCTUnwrap(
            try TokConfig.parse(text: text, file: "test.toml", environment: ConfigTests.environment).networks.first)
    }

    func testHexAndCompressedWIFLoad() throws {
        let address = UTXOFamily().address(of: OperatorKeysTests.key, chain: OperatorKeysTests.dogecoin.chainId)
        let network = try network(operatorAddress: address)
        let wif = WIF.encode(OperatorKeysTests.key, compressed: true, chain: OperatorKeysTests.dogecoin)
        for text in [
            wif, "\(wif)\n", Hex.encode(OperatorKeysTests.key.secretBytes),
            "0x" + Hex.encode(OperatorKeysTests.key.secretBytes),
        ] {
            let loaded = try OperatorKeys.load(for: network, environment: ["DOGE_KEY": text])
            XCTAssertEqual(loaded.secretBytes, OperatorKeysTests.key.secretBytes)
        }
    }

    func testUncompressedOrForeignWIFIsRefused() throws {
        let address = UTXOFamily().address(of: OperatorKeysTests.key, chain: OperatorKeysTests.dogecoin.chainId)
        let network = try network(operatorAddress: address)
        let uncompressed = WIF.encode(OperatorKeysTests.key, compressed: false, chain: OperatorKeysTests.dogecoin)
        let litecoin = UTXOChains.parameters(for: try ChainId(parsing: "bip122:530827f38f93b43ed12af0b3ad25a288"))!
        for text in [uncompressed, WIF.encode(OperatorKeysTests.key, compressed: true, chain: litecoin)] {
            XCTAssertThrowsError(try OperatorKeys.load(for: network, environment: ["DOGE_KEY": text])) { error in
                XCTAssertEqual((error as? TokError)?.code, .badKey)
                XCTAssertFalse("\(error)".contains(text), "the key text must never appear in a message")
            }
        }
    }

    func testKeyOfAnotherAddressIsRefused() throws {
        let network = try network(operatorAddress: "D597kHXGdkwkryF9oGhz9Bp1ypTpD1u99Z")
        let wif = WIF.encode(OperatorKeysTests.key, compressed: true, chain: OperatorKeysTests.dogecoin)
        XCTAssertThrowsError(try OperatorKeys.load(for: network, environment: ["DOGE_KEY": wif])) { error in
            XCTAssertEqual((error as? TokError)?.code, .badKey)
        }
    }
}
