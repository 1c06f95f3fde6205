import Logging

/// Ethereum and EVM chains (CAIP-2 namespace eip155).
public struct EVMFamily: ChainFamily {
    public init() {}

    public var namespace: String { "eip155" }

    /// Shared by every thread of the process; at most 64 Ki addresses.
    private static let canonicalAddresses = AddressCache(capacity: 1 << 16)

    public func canonicalAddress(_ text: String, chain: ChainId) throws(TokError) -> String {
        try EVMFamily.canonicalAddresses.canonical(text) { (candidate) throws(TokError) in
            try EIP55.canonicalAddress(candidate)
        }
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
            // A known chain has one native coin: slip44:0 on Ethereum is a typo, not an asset.
            if asset.assetNamespace == "slip44", let known = EVMChains.parameters(for: asset.chain),
                asset.assetReference != String(known.nativeSlip44)
            {
                throw TokError(
                    .badAssetType,
                    "the native coin of \(known.name) is slip44:\(known.nativeSlip44), not slip44:\(asset.assetReference)"
                )
            }
        default:
            throw TokError(
                .badAssetType,
                "asset namespace \(asset.assetNamespace) is not supported on eip155 chains (use slip44 or erc20)")
        }
    }

    public func depositVerifier(for network: NetworkConfig, logger: Logger) -> DepositVerifier {
        EVMDepositVerifier(network: network, logger: logger)
    }

    public func verifyMessageSignature(
        message: String, signature: String, address: String, chain: ChainId
    ) throws(TokError) {
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

    public var settingKeys: [String] { ["max_fee_per_gas_wei", "priority_fee_per_gas_wei", "gas_limit_cap"] }

    public func parseSettings(_ section: inout TOMLReader, network: NetworkIdentity) throws -> any NetworkFamilySettings
    {
        let defaults = EVMNetworkSettings()
        let maxFeePerGas = try section.amount("max_fee_per_gas_wei", default: defaults.maxFeePerGasWei)
        let priorityFeePerGas = try section.amount("priority_fee_per_gas_wei", default: defaults.priorityFeePerGasWei)
        guard priorityFeePerGas <= maxFeePerGas else {
            throw section.error("priority_fee_per_gas_wei", "must not exceed max_fee_per_gas_wei")
        }
        let gasLimitCap = try section.int(
            "gas_limit_cap", default: Int(defaults.gasLimitCap), range: 21_000...30_000_000)
        return EVMNetworkSettings(
            maxFeePerGasWei: maxFeePerGas, priorityFeePerGasWei: priorityFeePerGas,
            gasLimitCap: UInt64(gasLimitCap))
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

/// An EVM network's payout fee caps.
public struct EVMNetworkSettings: NetworkFamilySettings, Equatable {
    /// The most a payout may bid per gas unit, and the tip.
    public var maxFeePerGasWei: UInt256
    public var priorityFeePerGasWei: UInt256
    /// Gas estimates above this are refused rather than paid.
    public var gasLimitCap: UInt64

    public init(
        maxFeePerGasWei: UInt256 = UInt256(500_000_000_000), priorityFeePerGasWei: UInt256 = UInt256(1_000_000_000),
        gasLimitCap: UInt64 = 300_000
    ) {
        self.maxFeePerGasWei = maxFeePerGasWei
        self.priorityFeePerGasWei = priorityFeePerGasWei
        self.gasLimitCap = gasLimitCap
    }
}
