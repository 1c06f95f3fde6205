// Ethereum-family keys, addresses, personal_sign (EIP-191) and transactions (EIP-155, EIP-1559).

/// A 20-byte Ethereum account or contract address.
public struct EVMAddress: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 20

    public let bytes: [UInt8]

    /// Exactly 20 bytes, or nil.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == EVMAddress.byteCount else { return nil }
        self.bytes = Array(bytes)
    }

    /// "0x" + 40 hex digits, validated by EIP55.canonicalAddress: all-lowercase or
    /// all-uppercase carries no checksum; mixed case must match EIP-55 (.badChecksum), so a
    /// mistyped checksummed address cannot silently send funds elsewhere.
    public init(hex: String) throws(TokError) {
        let canonical = try EIP55.canonicalAddress(hex)
        guard let decoded = Hex.decode(canonical), decoded.count == EVMAddress.byteCount else {
            throw TokError(.internalError, "EIP55.canonicalAddress returned \(canonical), not 20 bytes of hex")
        }
        bytes = decoded
    }

    /// The EIP-55 mixed-case form.
    public var checksummed: String { EIP55.checksummed(Hex.encode(bytes)) }

    public var description: String { checksummed }

    /// The address of a public key: the last 20 bytes of keccak256(X ‖ Y), EIP-55 checksummed.
    /// Takes the 65-byte uncompressed SEC1 form (0x04 ‖ X ‖ Y); use
    /// Secp256k1.convertPublicKey to expand a compressed key first.
    public static func fromPublicKey(uncompressed65: [UInt8]) -> String {
        precondition(
            uncompressed65.count == 65 && uncompressed65[0] == 0x04,
            "fromPublicKey needs a 65-byte uncompressed public key starting 0x04")
        return EVMAddress(publicKeyUncompressed65: uncompressed65).checksummed
    }

    init(publicKeyUncompressed65: [UInt8]) {
        bytes = Array(Keccak.keccak256(publicKeyUncompressed65.dropFirst()).suffix(EVMAddress.byteCount))
    }
}

/// EIP-191 version 0x45 signatures, what MetaMask's personal_sign and eth_account's
/// `sign_message(encode_defunct(text=...))` produce over the plain message text.
public enum PersonalSign {
    /// keccak256("\u{19}Ethereum Signed Message:\n" + decimal UTF-8 byte length + message).
    public static func hash(message: String) -> [UInt8] {
        let body = Array(message.utf8)
        let prefix = "\u{19}Ethereum Signed Message:\n\(body.count)"
        return Keccak.keccak256(Array(prefix.utf8) + body)
    }

    /// "0x" + r ‖ s ‖ v (65 bytes, 130 hex digits) with v = 27 + recovery id.
    public static func sign(message: String, key: PrivateKey) -> String {
        let signature = key.signRecoverable(digest32: hash(message: message))
        return Hex.encode(signature.r + signature.s + [UInt8(27 + signature.recoveryId)], prefix: true)
    }

    /// The EIP-55 address that signed `message`. Accepts v as 27/28 (wallets) or 0/1 (some
    /// hardware wallets and libraries); rejects high-S signatures (EIP-2), wrong lengths and
    /// non-hex text.
    public static func recoverAddress(message: String, signatureHex: String) throws(TokError) -> String {
        guard let signature = Hex.decode(signatureHex) else {
            throw .signatureRejected("personal_sign signature is not hex (expected 0x + 130 hex digits)")
        }
        guard signature.count == 65 else {
            throw .signatureRejected("personal_sign signature must be 65 bytes (r ‖ s ‖ v), got \(signature.count)")
        }
        let v = Int(signature[64])
        let recoveryId: Int
        switch v {
        case 27, 28: recoveryId = v - 27
        case 0, 1: recoveryId = v
        default: throw .signatureRejected("personal_sign signature v must be 27/28 (or 0/1), got \(v)")
        }
        let publicKey = try Secp256k1.recoverPublicKey(
            digest32: hash(message: message), r: Array(signature[0..<32]), s: Array(signature[32..<64]),
            recoveryId: recoveryId, compressed: false)
        return EVMAddress.fromPublicKey(uncompressed65: publicKey)
    }
}

/// An Ethereum transaction tok signs for payouts: a plain value transfer or a contract call
/// (ERC-20 transfer) to an existing address. Contract creation and access lists are out of scope.
public struct EVMTransaction: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// Pre-London pricing, signed per EIP-155 (chain id folded into v).
        case legacy(gasPriceWei: UInt256)
        /// EIP-1559 type-2 pricing.
        case eip1559(maxPriorityFeePerGasWei: UInt256, maxFeePerGasWei: UInt256)
    }

    public var kind: Kind
    public var chainId: UInt64
    public var nonce: UInt64
    public var gasLimit: UInt64
    public var to: EVMAddress
    public var valueWei: UInt256
    public var data: [UInt8]

    public init(
        kind: Kind, chainId: UInt64, nonce: UInt64, gasLimit: UInt64, to: EVMAddress, valueWei: UInt256, data: [UInt8]
    ) {
        self.kind = kind
        self.chainId = chainId
        self.nonce = nonce
        self.gasLimit = gasLimit
        self.to = to
        self.valueWei = valueWei
        self.data = data
    }

    static let eip1559TypeByte: UInt8 = 0x02

    /// Fields shared by both the signing payload and the signed encoding, in wire order.
    private var type2Fields: [RLPItem] {
        guard case .eip1559(let priorityFeeWei, let maxFeeWei) = kind else { return [] }
        return [
            .uint(chainId), .uint(nonce), .uint(priorityFeeWei), .uint(maxFeeWei), .uint(gasLimit),
            .bytes(to.bytes), .uint(valueWei), .bytes(data), .list([]),
        ]
    }

    private func legacyFields(gasPriceWei: UInt256) -> [RLPItem] {
        [.uint(nonce), .uint(gasPriceWei), .uint(gasLimit), .bytes(to.bytes), .uint(valueWei), .bytes(data)]
    }

    /// The keccak256 digest the sender signs.
    /// Legacy: keccak(rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0])) (EIP-155).
    /// Type 2: keccak(0x02 ‖ rlp([chainId, nonce, maxPriorityFee, maxFee, gas, to, value, data, []])).
    public func signingHash() -> [UInt8] {
        switch kind {
        case .legacy(let gasPriceWei):
            let fields = legacyFields(gasPriceWei: gasPriceWei) + [.uint(chainId), .uint(0), .uint(0)]
            return Keccak.keccak256(RLP.encode(.list(fields)))
        case .eip1559:
            return Keccak.keccak256([EVMTransaction.eip1559TypeByte] + RLP.encode(.list(type2Fields)))
        }
    }

    /// The bytes for eth_sendRawTransaction given a signature over signingHash().
    /// r and s travel as minimal integers (leading zero bytes dropped).
    func rawEncoding(r: [UInt8], s: [UInt8], recoveryId: Int) -> [UInt8] {
        let rItem = RLPItem.bytes(Array(r.drop(while: { $0 == 0 })))
        let sItem = RLPItem.bytes(Array(s.drop(while: { $0 == 0 })))
        switch kind {
        case .legacy(let gasPriceWei):
            let v = RLPItem.bytes(EVMTransaction.eip155V(chainId: chainId, recoveryId: recoveryId))
            return RLP.encode(.list(legacyFields(gasPriceWei: gasPriceWei) + [v, rItem, sItem]))
        case .eip1559:
            let yParity = RLPItem.uint(UInt64(recoveryId))
            return [EVMTransaction.eip1559TypeByte] + RLP.encode(.list(type2Fields + [yParity, rItem, sItem]))
        }
    }

    /// EIP-155 v = chainId * 2 + 35 + recoveryId as minimal big-endian bytes. Computed in 128
    /// bits because for chain ids above 2^63 the value no longer fits a UInt64.
    static func eip155V(chainId: UInt64, recoveryId: Int) -> [UInt8] {
        let doubled = chainId.multipliedFullWidth(by: 2)
        let (low, carry) = doubled.low.addingReportingOverflow(35 + UInt64(recoveryId))
        let high = doubled.high + (carry ? 1 : 0)
        return high == 0 ? RLP.minimalBigEndian(low) : RLP.minimalBigEndian(high) + bigEndian8(low)
    }

    private static func bigEndian8(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64(56 - 8 * $0)) }
    }

    /// Signs with `key` (RFC 6979, low S) and encodes for eth_sendRawTransaction.
    public func signed(with key: PrivateKey) -> SignedEVMTransaction {
        let signature = key.signRecoverable(digest32: signingHash())
        let raw = rawEncoding(r: signature.r, s: signature.s, recoveryId: signature.recoveryId)
        let from = EVMAddress.fromPublicKey(uncompressed65: key.publicKey(compressed: false))
        return SignedEVMTransaction(rawBytes: raw, from: from)
    }

    /// Parses a signed raw transaction (legacy EIP-155 or type 2) and recovers its sender, so a
    /// stored raw transaction can be re-checked before it is applied or broadcast. Rejects
    /// pre-EIP-155 legacy transactions (replayable on every chain), other types, contract
    /// creation, non-empty access lists, high S, and any non-canonical encoding.
    public static func decode(raw: [UInt8]) throws(TokError) -> (EVMTransaction, sender: String) {
        guard let first = raw.first else { throw .malformedEncoding("raw transaction is empty") }
        let transaction: EVMTransaction
        let r: [UInt8], s: [UInt8], recoveryId: Int
        if first >= 0xc0 {
            let fields = try RLP.decode(raw).listValue(field: "legacy transaction")
            guard fields.count == 9 else {
                throw .malformedEncoding("a legacy transaction has 9 fields, this one has \(fields.count)")
            }
            let chainId: UInt64
            (chainId, recoveryId) = try legacyChainIdAndRecoveryId(fields[6])
            transaction = EVMTransaction(
                kind: .legacy(gasPriceWei: try fields[1].uint256Value(field: "gasPrice")),
                chainId: chainId,
                nonce: try fields[0].uint64Value(field: "nonce"),
                gasLimit: try fields[2].uint64Value(field: "gas"),
                to: try decodeTo(fields[3]),
                valueWei: try fields[4].uint256Value(field: "value"),
                data: try fields[5].bytesValue(field: "data"))
            r = try signatureScalar(fields[7], field: "r")
            s = try signatureScalar(fields[8], field: "s")
        } else if first == eip1559TypeByte {
            let fields = try RLP.decode(raw.dropFirst()).listValue(field: "type-2 transaction")
            guard fields.count == 12 else {
                throw .malformedEncoding("a type-2 transaction has 12 fields, this one has \(fields.count)")
            }
            guard try fields[8].listValue(field: "accessList").isEmpty else {
                throw .malformedEncoding("type-2 transactions with a non-empty access list are not supported")
            }
            transaction = EVMTransaction(
                kind: .eip1559(
                    maxPriorityFeePerGasWei: try fields[2].uint256Value(field: "maxPriorityFeePerGas"),
                    maxFeePerGasWei: try fields[3].uint256Value(field: "maxFeePerGas")),
                chainId: try fields[0].uint64Value(field: "chainId"),
                nonce: try fields[1].uint64Value(field: "nonce"),
                gasLimit: try fields[4].uint64Value(field: "gas"),
                to: try decodeTo(fields[5]),
                valueWei: try fields[6].uint256Value(field: "value"),
                data: try fields[7].bytesValue(field: "data"))
            let yParity = try fields[9].uint64Value(field: "yParity")
            guard yParity <= 1 else { throw .signatureRejected("type-2 yParity must be 0 or 1, got \(yParity)") }
            recoveryId = Int(yParity)
            r = try signatureScalar(fields[10], field: "r")
            s = try signatureScalar(fields[11], field: "s")
        } else if first < 0x80 {
            throw .malformedEncoding(
                "transaction type 0x\(Hex.encode([first])) is not supported (only legacy and type 2)")
        } else {
            throw .malformedEncoding("not a raw transaction: starts with 0x\(Hex.encode([first]))")
        }

        let publicKey = try Secp256k1.recoverPublicKey(
            digest32: transaction.signingHash(), r: r, s: s, recoveryId: recoveryId, compressed: false)
        // The decoder is strict, so re-encoding must give back the input; checking it keeps the
        // tx hash tok reports tied to exactly the bytes it was given.
        guard transaction.rawEncoding(r: r, s: s, recoveryId: recoveryId) == raw else {
            throw .malformedEncoding("raw transaction does not re-encode to the same bytes")
        }
        return (transaction, EVMAddress.fromPublicKey(uncompressed65: publicKey))
    }

    /// decode(raw:) for "0x"-prefixed (or bare) hex, as eth_getRawTransaction and stored records carry it.
    public static func decode(rawHex: String) throws(TokError) -> (EVMTransaction, sender: String) {
        guard let raw = Hex.decode(rawHex) else { throw .malformedEncoding("raw transaction is not hex") }
        return try decode(raw: raw)
    }

    /// Splits an EIP-155 v = chainId * 2 + 35 + recoveryId into its chain id and recovery id.
    private static func legacyChainIdAndRecoveryId(_ item: RLPItem) throws(TokError) -> (UInt64, Int) {
        // Up to 9 bytes: chain ids use all 64 bits, so v can exceed 2^64.
        let vBytes = try item.canonicalIntegerBytes(field: "v", maxByteCount: 9)
        let high = vBytes.count == 9 ? UInt64(vBytes[0]) : 0
        let low = vBytes.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if high == 0 && (low == 27 || low == 28) {
            throw .signatureRejected(
                "legacy transaction without EIP-155 replay protection (v = \(low)) is not accepted")
        }
        guard high > 0 || low >= 35 else {
            throw .signatureRejected("legacy transaction v = \(low) is not a valid EIP-155 v")
        }
        let (lowMinus35, borrow) = low.subtractingReportingOverflow(35)
        let highMinus35 = high - (borrow ? 1 : 0)
        guard highMinus35 <= 1 else { throw .signatureRejected("legacy transaction v encodes a chain id above 2^64") }
        return (highMinus35 << 63 | lowMinus35 >> 1, Int(lowMinus35 & 1))
    }

    private static func decodeTo(_ item: RLPItem) throws(TokError) -> EVMAddress {
        let bytes = try item.bytesValue(field: "to")
        guard !bytes.isEmpty else {
            throw .malformedEncoding("contract-creation transactions (empty to) are not supported")
        }
        guard let address = EVMAddress(bytes: bytes) else {
            throw .malformedEncoding("to must be a 20-byte address, got \(bytes.count) bytes")
        }
        return address
    }

    /// r or s: a canonical nonzero integer of at most 32 bytes, returned left-padded to 32.
    private static func signatureScalar(_ item: RLPItem, field: String) throws(TokError) -> [UInt8] {
        let bytes = try item.canonicalIntegerBytes(field: field, maxByteCount: 32)
        guard !bytes.isEmpty else { throw .signatureRejected("signature \(field) is zero") }
        return [UInt8](repeating: 0, count: 32 - bytes.count) + bytes
    }
}

/// A signed transaction ready for eth_sendRawTransaction.
public struct SignedEVMTransaction: Equatable, Sendable {
    public let rawBytes: [UInt8]
    /// "0x" + lowercase hex of rawBytes.
    public let rawHex: String
    /// "0x" + lowercase hex of keccak256(rawBytes), the hash nodes report for it.
    public let txHash: String
    /// The signer, EIP-55 checksummed.
    public let from: String

    init(rawBytes: [UInt8], from: String) {
        self.rawBytes = rawBytes
        rawHex = Hex.encode(rawBytes, prefix: true)
        txHash = Hex.encode(Keccak.keccak256(rawBytes), prefix: true)
        self.from = from
    }
}

/// ABI-encoded ERC-20 calls.
public enum ERC20Call {
    /// First 4 bytes of keccak256("transfer(address,uint256)").
    public static let transferSelector: [UInt8] = [0xa9, 0x05, 0x9c, 0xbb]

    /// First 4 bytes of keccak256("balanceOf(address)").
    public static let balanceOfSelector: [UInt8] = [0x70, 0xa0, 0x82, 0x31]

    /// balanceOf(owner): selector ‖ address left-padded to 32 bytes.
    public static func balanceOf(_ owner: EVMAddress) -> [UInt8] {
        balanceOfSelector + [UInt8](repeating: 0, count: 12) + owner.bytes
    }

    /// transfer(to, amount): selector ‖ address left-padded to 32 bytes ‖ amount as 32 big-endian bytes.
    public static func transfer(to: EVMAddress, amount: UInt256) -> [UInt8] {
        transferSelector + [UInt8](repeating: 0, count: 12) + to.bytes + amount.bigEndianBytes
    }
}
