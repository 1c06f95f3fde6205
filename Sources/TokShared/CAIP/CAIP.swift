/// CAIP-2 chain ids, CAIP-10 account ids and CAIP-19 asset types (ChainAgnostic/CAIPs).
/// The parsers read UTF-8 bytes in place because they run on every record of a stream;
/// they check syntax only, except where a namespace's reference has one canonical spelling.

/// A CAIP-2 chain id, `namespace:reference`, e.g. `eip155:1`. Case-sensitive.
public struct ChainId: Hashable, Sendable, CustomStringConvertible {
    public let namespace: String
    public let reference: String

    init(namespace: String, reference: String) {
        self.namespace = namespace
        self.reference = reference
    }

    /// Namespace `[-a-z0-9]{3,8}`, reference `[-_a-zA-Z0-9]{1,32}`. For eip155 the reference
    /// must also be a positive decimal chain id without leading zeros, since "01" and "1"
    /// would otherwise be two keys for one chain.
    public init(parsing text: some StringProtocol) throws(TokError) {
        let parsed = UTF8Scan.withBytes(text) { utf8 -> Result<ChainId, TokError> in
            let scan = CAIPSyntax.scanChainId(utf8, 0, utf8.count)
            if let problem = scan.problem {
                return .failure(TokError(.badChainId, "chain id: \(problem)"))
            }
            return .success(CAIPSyntax.chainId(utf8, 0, scan.colon, utf8.count))
        }
        self = try parsed.get()
    }

    public var description: String { "\(namespace):\(reference)" }
}

/// A CAIP-10 account id, `chain_id:account_address`. Syntax only: the spec leaves the
/// canonical address form to each chain family (EIP-55 for eip155, base58check for bip122).
public struct AccountId: Hashable, Sendable, CustomStringConvertible {
    public let chain: ChainId
    public let address: String

    init(chain: ChainId, address: String) {
        self.chain = chain
        self.address = address
    }

    /// Address `[-.%a-zA-Z0-9]{1,128}`. Every failure, including in the chain id part,
    /// is .badAccount.
    public init(parsing text: some StringProtocol) throws(TokError) {
        let parsed = UTF8Scan.withBytes(text) { utf8 -> Result<AccountId, TokError> in
            let end = utf8.count
            // Neither the namespace nor the reference may hold ':', so the second one ends the chain id.
            guard let firstColon = CAIPSyntax.firstIndex(of: UInt8(ascii: ":"), utf8, 0, end),
                let secondColon = CAIPSyntax.firstIndex(of: UInt8(ascii: ":"), utf8, firstColon + 1, end)
            else {
                return .failure(TokError(.badAccount, "account id must be namespace:reference:address (CAIP-10)"))
            }
            let scan = CAIPSyntax.scanChainId(utf8, 0, secondColon)
            if let problem = scan.problem {
                return .failure(TokError(.badAccount, "account id's chain id: \(problem)"))
            }
            if let problem = CAIPSyntax.checkAddressLike(utf8, secondColon + 1, end, maxLength: 128) {
                return .failure(TokError(.badAccount, "account address \(problem)"))
            }
            return .success(
                AccountId(
                    chain: CAIPSyntax.chainId(utf8, 0, scan.colon, secondColon),
                    address: CAIPSyntax.string(utf8, secondColon + 1, end)
                ))
        }
        self = try parsed.get()
    }

    public var description: String { "\(chain):\(address)" }
}

/// A CAIP-19 asset type `chain_id/asset_namespace:asset_reference`, optionally with the
/// asset id's `/token_id`, e.g. `eip155:1/slip44:60` or `eip155:1/erc20:0x…`.
public struct AssetType: Hashable, Sendable, CustomStringConvertible {
    public let chain: ChainId
    public let assetNamespace: String
    public let assetReference: String
    public let tokenId: String?

    init(chain: ChainId, assetNamespace: String, assetReference: String, tokenId: String?) {
        self.chain = chain
        self.assetNamespace = assetNamespace
        self.assetReference = assetReference
        self.tokenId = tokenId
    }

    /// Asset namespace `[-a-z0-9]{3,8}`, reference `[-.%a-zA-Z0-9]{1,128}`, token id
    /// `[-.%a-zA-Z0-9]{1,78}`. Any asset namespace is accepted; see `canonical()`.
    /// Every failure, including in the chain id part, is .badAssetType.
    public init(parsing text: some StringProtocol) throws(TokError) {
        let parsed = UTF8Scan.withBytes(text) { utf8 -> Result<AssetType, TokError> in
            let end = utf8.count
            func failure(_ problem: String) -> Result<AssetType, TokError> {
                .failure(TokError(.badAssetType, problem))
            }
            guard let chainEnd = CAIPSyntax.firstIndex(of: UInt8(ascii: "/"), utf8, 0, end) else {
                return failure("asset type must be chain_id/asset_namespace:asset_reference (CAIP-19)")
            }
            let scan = CAIPSyntax.scanChainId(utf8, 0, chainEnd)
            if let problem = scan.problem {
                return failure("asset type's chain id: \(problem)")
            }
            let namespaceStart = chainEnd + 1
            var index = namespaceStart
            while index < end, CAIPSyntax.isNamespaceByte(utf8[index]) { index += 1 }
            guard index < end, utf8[index] == UInt8(ascii: ":") else {
                return failure("asset namespace must be [-a-z0-9]{3,8} followed by ':'")
            }
            guard CAIPSyntax.namespaceLengths.contains(index - namespaceStart) else {
                return failure("asset namespace must be 3 to 8 characters")
            }
            let namespaceEnd = index
            let referenceStart = namespaceEnd + 1
            let referenceEnd = CAIPSyntax.firstIndex(of: UInt8(ascii: "/"), utf8, referenceStart, end) ?? end
            if let problem = CAIPSyntax.checkAddressLike(utf8, referenceStart, referenceEnd, maxLength: 128) {
                return failure("asset reference \(problem)")
            }
            var tokenId: String?
            if referenceEnd < end {
                if let problem = CAIPSyntax.checkAddressLike(utf8, referenceEnd + 1, end, maxLength: 78) {
                    return failure("token id \(problem)")
                }
                tokenId = CAIPSyntax.string(utf8, referenceEnd + 1, end)
            }
            return .success(
                AssetType(
                    chain: CAIPSyntax.chainId(utf8, 0, scan.colon, chainEnd),
                    assetNamespace: CAIPSyntax.string(utf8, namespaceStart, namespaceEnd),
                    assetReference: CAIPSyntax.string(utf8, referenceStart, referenceEnd),
                    tokenId: tokenId
                ))
        }
        self = try parsed.get()
    }

    /// The one spelling to use as a key for namespaces whose references have several:
    /// slip44 needs a decimal coin index without leading zeros (below 2^31, SLIP-44's
    /// hardened range); erc20 needs an eip155 chain and an EVM address, returned in EIP-55
    /// form. Neither takes a token id. Other namespaces are returned unchanged.
    public func canonical() throws(TokError) -> AssetType {
        switch assetNamespace {
        case "slip44":
            guard tokenId == nil else {
                throw TokError(.badAssetType, "slip44 assets have no token id")
            }
            guard CAIPSyntax.isCanonicalDecimal(assetReference, allowZero: true),
                let index = UInt32(assetReference), index < 1 << 31
            else {
                throw TokError(.badAssetType, "slip44 reference must be a coin index in decimal without leading zeros")
            }
            return self
        case "erc20":
            guard chain.namespace == "eip155" else {
                throw TokError(.badAssetType, "erc20 assets live on eip155 chains")
            }
            guard tokenId == nil else {
                throw TokError(.badAssetType, "erc20 assets have no token id")
            }
            let address: String
            do {
                address = try EIP55.canonicalAddress(assetReference)
            } catch  where error.code == .badChecksum {
                throw error
            } catch {
                throw TokError(.badAssetType, "erc20 reference: \(error.message)")
            }
            return AssetType(chain: chain, assetNamespace: assetNamespace, assetReference: address, tokenId: nil)
        default:
            return self
        }
    }

    public var description: String {
        let base = "\(chain)/\(assetNamespace):\(assetReference)"
        guard let tokenId else { return base }
        return "\(base)/\(tokenId)"
    }
}

/// Byte-level grammar shared by the three CAIP parsers. Ranges are half-open [start, end).
enum CAIPSyntax {
    static let namespaceLengths = 3...8
    static let chainReferenceLengths = 1...32

    @inline(__always)
    static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        UTF8Scan.isDigit(byte) || byte &- UInt8(ascii: "a") < 26
    }

    @inline(__always)
    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        UTF8Scan.isDigit(byte) || (byte | 0x20) &- UInt8(ascii: "a") < 26
    }

    /// `[-a-z0-9]`
    @inline(__always)
    static func isNamespaceByte(_ byte: UInt8) -> Bool {
        isLowerAlphanumeric(byte) || byte == UInt8(ascii: "-")
    }

    /// `[-_a-zA-Z0-9]`
    @inline(__always)
    static func isChainReferenceByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    /// `[-.%a-zA-Z0-9]`, shared by account addresses, asset references and token ids.
    @inline(__always)
    static func isAddressByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "%")
    }

    static func firstIndex(of target: UInt8, _ utf8: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int? {
        var index = start
        while index < end {
            if utf8[index] == target { return index }
            index += 1
        }
        return nil
    }

    /// Where the ':' of the chain id in [start, end) is, or what is wrong with it. Problems
    /// are string literals, so the success path allocates nothing here.
    static func scanChainId(
        _ utf8: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int
    ) -> (colon: Int, problem: String?) {
        var index = start
        while index < end, isNamespaceByte(utf8[index]) { index += 1 }
        guard index < end, utf8[index] == UInt8(ascii: ":") else {
            return (
                index,
                index == end
                    ? "must be namespace:reference (CAIP-2)"
                    : "namespace must be [-a-z0-9]{3,8}"
            )
        }
        guard namespaceLengths.contains(index - start) else {
            return (index, "namespace must be 3 to 8 characters")
        }
        let colon = index
        index += 1
        while index < end, isChainReferenceByte(utf8[index]) { index += 1 }
        guard index == end else {
            return (colon, "reference must be [-_a-zA-Z0-9]{1,32}")
        }
        guard chainReferenceLengths.contains(end - colon - 1) else {
            return (colon, "reference must be 1 to 32 characters")
        }
        if equals(utf8, start, colon, "eip155") {
            guard isCanonicalDecimal(utf8, colon + 1, end, allowZero: false) else {
                return (colon, "eip155 reference must be a positive decimal chain id without leading zeros")
            }
        }
        return (colon, nil)
    }

    static func checkAddressLike(
        _ utf8: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, maxLength: Int
    ) -> String? {
        guard end > start, end - start <= maxLength else {
            return maxLength == 128
                ? "must be 1 to 128 characters"
                : "must be 1 to 78 characters"
        }
        for index in start..<end where !isAddressByte(utf8[index]) {
            return "must be [-.%a-zA-Z0-9] only"
        }
        return nil
    }

    /// Digits only, no leading zero; "0" itself only when `allowZero`.
    static func isCanonicalDecimal(
        _ utf8: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, allowZero: Bool
    ) -> Bool {
        guard end > start else { return false }
        for index in start..<end where !UTF8Scan.isDigit(utf8[index]) {
            return false
        }
        if utf8[start] == UInt8(ascii: "0") {
            return allowZero && end - start == 1
        }
        return true
    }

    static func isCanonicalDecimal(_ text: String, allowZero: Bool) -> Bool {
        UTF8Scan.withBytes(text) { isCanonicalDecimal($0, 0, $0.count, allowZero: allowZero) }
    }

    static func equals(_ utf8: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { expected in
            guard expected.count == end - start else { return false }
            for offset in 0..<expected.count where utf8[start + offset] != expected[offset] {
                return false
            }
            return true
        }
    }

    static func string(_ utf8: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: utf8[start..<end]), as: UTF8.self)
    }

    static func chainId(_ utf8: UnsafeBufferPointer<UInt8>, _ start: Int, _ colon: Int, _ end: Int) -> ChainId {
        ChainId(namespace: string(utf8, start, colon), reference: string(utf8, colon + 1, end))
    }
}
