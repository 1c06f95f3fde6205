import Logging

/// Bitcoin-family UTXO chains (CAIP-2 namespace bip122): Dogecoin, Litecoin,
/// Bitcoin. Everything that differs between them is a row of `UTXOChains`.
public struct UTXOFamily: ChainFamily {
    public init() {}

    public var namespace: String { "bip122" }

    static func parameters(_ chain: ChainId) throws(TokError) -> UTXOChainParameters {
        guard let parameters = UTXOChains.parameters(for: chain) else {
            throw TokError(.unsupportedChainFamily, "\(chain) is not in tok's table of Bitcoin-family chains")
        }
        return parameters
    }

    /// Base58Check with the chain's version bytes; the canonical form is the
    /// address re-encoded (base58 is case-sensitive, so this is the text itself).
    public func canonicalAddress(_ text: String, chain: ChainId) throws(TokError) -> String {
        let parameters = try UTXOFamily.parameters(chain)
        return try UTXOAddress.parse(text, chain: parameters).encode(chain: parameters)
    }

    /// 64 hex digits (the byte-reversed display form Core prints), returned lowercase.
    public func canonicalTxId(_ text: String) throws(TokError) -> String {
        guard text.utf8.count == 64,
            text.utf8.allSatisfy({ byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
            })
        else {
            throw TokError(.badTxId, "a Bitcoin-family transaction id is 64 hex digits (no 0x)")
        }
        return text.lowercased()
    }

    public func checkAssetSupported(_ asset: AssetType) throws(TokError) {
        guard asset.assetNamespace == "slip44", asset.tokenId == nil else {
            throw TokError(
                .badAssetType, "bip122 chains carry only their native coin (slip44), not \(asset.assetNamespace)")
        }
        _ = try UTXOFamily.parameters(asset.chain)
    }

    /// The chain's signmessage format (e.g. "Dogecoin Signed Message:\n"); the
    /// recovered key's P2PKH address must be the claimed one.
    public func verifyMessageSignature(
        message: String, signature: String, address: String, chain: ChainId
    ) throws(TokError) {
        let parameters = try UTXOFamily.parameters(chain)
        let (publicKey, _) = try MessageSigning.recoverPublicKey(
            message: message, magic: parameters.messageMagic,
            signatureBase64: signature)
        let recovered = UTXOAddress.p2pkh(publicKey: publicKey).encode(chain: parameters)
        guard recovered == address else {
            throw TokError(.badSignature, "the signature was made by \(recovered), not by \(address)")
        }
    }

    public func address(of key: PrivateKey, chain: ChainId) -> String {
        guard let parameters = UTXOChains.parameters(for: chain) else { return "" }
        return UTXOAddress.p2pkh(publicKey: key.publicKey(compressed: true)).encode(chain: parameters)
    }

    public func depositVerifier(for network: NetworkConfig, logger: Logger) -> DepositVerifier {
        UTXODepositVerifier(network: network, logger: logger)
    }

    public func payoutChannel(for network: NetworkConfig, logger: Logger) -> PayoutChannel {
        UTXOPayoutChannel(network: network, logger: logger)
    }

    public var settingKeys: [String] {
        ["fee_per_kilobyte", "min_tx_fee", "dust_limit", "soft_dust_limit", "max_network_fee"]
    }

    public func parseSettings(_ section: inout TOMLReader, network: NetworkIdentity) throws -> any NetworkFamilySettings
    {
        if let operatorAddress = network.operatorAddress, operatorAddress != network.receiver {
            // The operator pays from the coins deposits bring: they must be its own.
            throw section.error(
                "operator",
                "on a bip122 network the operator pays from the receiver's coins: operator must equal receiver")
        }
        return UTXOPolicy(
            feePerKilobyte: try section.optionalSmallAmount("fee_per_kilobyte"),
            minTxFee: try section.optionalSmallAmount("min_tx_fee"),
            dustLimit: try section.optionalSmallAmount("dust_limit"),
            softDustLimit: try section.optionalSmallAmount("soft_dust_limit"),
            maxNetworkFee: try section.optionalSmallAmount("max_network_fee"))
    }
}
