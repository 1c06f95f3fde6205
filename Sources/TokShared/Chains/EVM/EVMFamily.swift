import Logging

/// Ethereum and EVM chains (CAIP-2 namespace eip155).
public struct EVMFamily: ChainFamily {
    public init() {}

    public var namespace: String { "eip155" }

    /// Shared by every thread of the process; at most 64 Ki addresses.
    private static let canonicalAddresses = AddressCache(capacity: 1 << 16)

    public func canonicalAddress(_ text: String, chain: ChainId) throws(TokError) -> String {
        try EVMFamily.canonicalAddresses.canonical(text) { (candidate) throws(TokError) in try EIP55.canonicalAddress(candidate) }
    }

    public func canonicalTxId(_ text: String) throws(TokError) -> String {
        try EVMTxId.canonical(text)
    }

    public func checkAssetSupported(_ asset: AssetType) throws(TokError) {
        switch asset.assetNamespace {
        case "slip44", "erc20":
            guard asset.tokenId == nil else {
                throw TokError(.badAssetType, "\(asset) names a single token id; only fungible assets are supported")
            }
        default:
            throw TokError(.badAssetType, "asset namespace \(asset.assetNamespace) is not supported on eip155 chains (use slip44 or erc20)")
        }
    }

    public func depositVerifier(for network: NetworkConfig, logger: Logger) -> DepositVerifier {
        EVMDepositVerifier(network: network, logger: logger)
    }

    public func verifyMessageSignature(message: String, signature: String, address: String, chain: ChainId) throws(TokError) {
        let recovered = try PersonalSign.recoverAddress(message: message, signatureHex: signature)
        guard recovered.lowercased() == address.lowercased() else {
            throw TokError(.badSignature, "the signature was made by \(recovered), not by \(address)")
        }
    }

    public func address(of key: PrivateKey, chain: ChainId) -> String {
        EVMAddress.fromPublicKey(uncompressed65: key.publicKey(compressed: false))
    }

    public func payoutChannel(for network: NetworkConfig, logger: Logger) -> PayoutChannel {
        EVMPayoutChannel(network: network, logger: logger)
    }
}

/// Quantities in EVM JSON-RPC answers ("0x1a").
enum EVMQuantity {
    static func uint64(_ value: JSON?) -> UInt64? {
        guard let text = value?.stringValue, text.hasPrefix("0x"), text.count > 2, text.count <= 18 else { return nil }
        return UInt64(text.dropFirst(2), radix: 16)
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
