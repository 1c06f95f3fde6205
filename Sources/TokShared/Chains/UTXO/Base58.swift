/// Base58 (Bitcoin's alphabet: no 0, O, I, l) and Base58Check (payload ‖ first 4 bytes of
/// sha256d(payload)), the text forms of legacy addresses and WIF private keys.
public enum Base58 {
    /// Longest text `decode` accepts. Base58 conversion is quadratic, and nothing tok reads is
    /// near this: an address is at most 35 characters, a WIF key 52.
    public static let maxTextLength = 128
    /// Longest input `encode` accepts, for the same reason (a WIF payload is 38 bytes).
    public static let maxByteCount = 96

    private static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    /// Maps an ASCII byte to its digit value, 0xFF for bytes outside the alphabet.
    private static let digitValues: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = UInt8(value) }
        return table
    }()

    /// Each leading zero byte becomes a leading '1'; the rest is the big-endian number in base 58.
    public static func encode(_ bytes: [UInt8]) -> String {
        precondition(
            bytes.count <= maxByteCount, "Base58.encode takes at most \(maxByteCount) bytes, got \(bytes.count)")
        let zeroCount = bytes.prefix { $0 == 0 }.count
        // log(256)/log(58) < 1.37, so 138 digits per 100 bytes always suffice.
        var digits = [UInt8](repeating: 0, count: (bytes.count - zeroCount) * 138 / 100 + 1)
        var used = 0
        for byte in bytes[zeroCount...] {
            var carry = Int(byte)
            var index = 0
            while index < used || carry != 0 {
                carry += 256 * Int(digits[index])
                digits[index] = UInt8(carry % 58)
                carry /= 58
                index += 1
            }
            used = index
        }
        var text = [UInt8](repeating: alphabet[0], count: zeroCount)
        text.reserveCapacity(zeroCount + used)
        for index in stride(from: used - 1, through: 0, by: -1) { text.append(alphabet[Int(digits[index])]) }
        return String(decoding: text, as: UTF8.self)
    }

    /// nil for an empty text, a character outside the alphabet (whitespace included), or a
    /// text longer than `maxTextLength`.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        UTF8Scan.withBytes(text) { utf8 -> [UInt8]? in
            guard !utf8.isEmpty, utf8.count <= maxTextLength else { return nil }
            let oneCount = utf8.prefix { $0 == alphabet[0] }.count
            // log(58)/log(256) < 0.74, so 74 bytes per 100 digits always suffice.
            var bytes = [UInt8](repeating: 0, count: (utf8.count - oneCount) * 74 / 100 + 1)
            var used = 0
            for character in utf8[oneCount...] {
                let digit = digitValues[Int(character)]
                guard digit != 0xFF else { return nil }
                var carry = Int(digit)
                var index = 0
                while index < used || carry != 0 {
                    carry += 58 * Int(bytes[index])
                    bytes[index] = UInt8(carry & 0xFF)
                    carry >>= 8
                    index += 1
                }
                used = index
            }
            return [UInt8](repeating: 0, count: oneCount) + bytes[0..<used].reversed()
        }
    }

    /// payload ‖ sha256d(payload)[0..<4], in Base58.
    public static func encodeCheck(_ payload: [UInt8]) -> String {
        encode(payload + Hashing.sha256d(payload).prefix(4))
    }

    /// Why a Base58Check text was refused. Callers map these to the error code of what the
    /// text was meant to be (.badAccount for an address, .badKey for a WIF key).
    public enum CheckFailure: Error, Equatable, Sendable {
        /// Empty, too long, or a character outside the alphabet.
        case notBase58
        /// Fewer than the 4 checksum bytes plus one payload byte.
        case tooShort
        case checksumMismatch
    }

    /// The payload of a Base58Check text, its 4-byte checksum verified and removed.
    public static func decodeCheck(_ text: some StringProtocol) -> Result<[UInt8], CheckFailure> {
        guard let bytes = decode(text) else { return .failure(.notBase58) }
        guard bytes.count >= 5 else { return .failure(.tooShort) }
        let payload = Array(bytes.dropLast(4))
        guard Array(Hashing.sha256d(payload).prefix(4)) == Array(bytes.suffix(4)) else {
            return .failure(.checksumMismatch)
        }
        return .success(payload)
    }
}

/// A legacy Bitcoin-family address: a version byte (which also names the chain) and a 20-byte
/// hash, HASH160 of a public key (P2PKH) or of a redeem script (P2SH). The value itself is
/// chain-free; `parse` and `encode` take the chain whose version bytes apply.
public struct UTXOAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        case p2pkh
        case p2sh
    }

    public static let hashByteCount = 20
    /// 1 version byte + 20 hash bytes + 4 checksum bytes encode to at most 35 characters; a
    /// longer text is refused before any Base58 work.
    public static let maxTextLength = 35

    public let kind: Kind
    public let hash160: [UInt8]

    /// `hash160` must be 20 bytes: anything else is a programming error, not bad input.
    public init(kind: Kind, hash160: [UInt8]) {
        precondition(hash160.count == UTXOAddress.hashByteCount, "an address hash is 20 bytes, got \(hash160.count)")
        self.kind = kind
        self.hash160 = hash160
    }

    /// The P2PKH address of a SEC1 public key, hashed exactly as given: the compressed (33-byte)
    /// and uncompressed (65-byte) forms of one key are two different addresses.
    public static func p2pkh(publicKey: [UInt8]) -> UTXOAddress {
        UTXOAddress(kind: .p2pkh, hash160: Hashing.hash160(publicKey))
    }

    /// Reads a Base58Check address of `chain`. Errors: not Base58, or not 21 bytes of payload →
    /// .badAccount; checksum mismatch → .badChecksum; a well-formed address whose version byte
    /// is not this chain's → .wrongChainAddress, naming the byte, the expected ones, and the known
    /// chains that do use it (a Dogecoin address sent to a Litecoin deposit, say).
    public static func parse(_ text: some StringProtocol, chain: UTXOChainParameters) throws(TokError) -> UTXOAddress {
        guard text.utf8.count <= maxTextLength else {
            throw TokError(
                .badAccount, "\(chain.name) address must be at most \(maxTextLength) characters, got \(text.utf8.count)"
            )
        }
        let payload: [UInt8]
        switch Base58.decodeCheck(text) {
        case .success(let bytes):
            payload = bytes
        case .failure(.checksumMismatch):
            throw TokError(
                .badChecksum, "\(chain.name) address base58check checksum does not match (mistyped address?)")
        case .failure(.notBase58):
            throw TokError(.badAccount, "\(chain.name) address is not base58 (alphabet 1-9 A-H J-N P-Z a-k m-z)")
        case .failure(.tooShort):
            throw TokError(.badAccount, "\(chain.name) address is too short to hold a version byte and checksum")
        }
        guard payload.count == 1 + hashByteCount else {
            throw TokError(
                .badAccount,
                "\(chain.name) address must decode to 1 version byte + 20 hash bytes, got \(payload.count) bytes")
        }
        let version = payload[0]
        let hash = Array(payload[1...])
        if version == chain.p2pkhVersion { return UTXOAddress(kind: .p2pkh, hash160: hash) }
        if version == chain.p2shVersion { return UTXOAddress(kind: .p2sh, hash160: hash) }
        let users = UTXOChains.all.filter { $0.p2pkhVersion == version || $0.p2shVersion == version }.map(\.name)
        let hint = users.isEmpty ? "" : " (used by \(users.joined(separator: ", ")))"
        throw TokError(
            .wrongChainAddress,
            "address version byte \(version)\(hint) is not one of \(chain.name)'s: "
                + "\(chain.p2pkhVersion) for P2PKH, \(chain.p2shVersion) for P2SH")
    }

    /// Base58Check text of this address on `chain`.
    public func encode(chain: UTXOChainParameters) -> String {
        Base58.encodeCheck([kind == .p2pkh ? chain.p2pkhVersion : chain.p2shVersion] + hash160)
    }

    /// The output script paying this address:
    /// P2PKH `OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG`, P2SH `OP_HASH160 <20> OP_EQUAL`.
    public var scriptPubKey: [UInt8] {
        switch kind {
        case .p2pkh:
            return [Opcode.dup, Opcode.hash160, UInt8(UTXOAddress.hashByteCount)] + hash160 + [
                Opcode.equalVerify, Opcode.checkSig,
            ]
        case .p2sh:
            return [Opcode.hash160, UInt8(UTXOAddress.hashByteCount)] + hash160 + [Opcode.equal]
        }
    }

    /// The address an output script pays, for the two templates above only (exact bytes, so
    /// a script that merely executes the same way is not recognised, as in Core's Solver).
    /// nil for anything else: OP_RETURN, bare multisig, pay-to-pubkey, SegWit programs.
    /// The templates are the same on every chain in `UTXOChains`; `chain` keeps the call sites
    /// explicit about which chain's output they are reading.
    public static func fromScript(_ script: [UInt8], chain: UTXOChainParameters) -> UTXOAddress? {
        if script.count == 25, script[0] == Opcode.dup, script[1] == Opcode.hash160, script[2] == 20,
            script[23] == Opcode.equalVerify, script[24] == Opcode.checkSig
        {
            return UTXOAddress(kind: .p2pkh, hash160: Array(script[3..<23]))
        }
        if script.count == 23, script[0] == Opcode.hash160, script[1] == 20, script[22] == Opcode.equal {
            return UTXOAddress(kind: .p2sh, hash160: Array(script[2..<22]))
        }
        return nil
    }

    public var description: String { "\(kind.rawValue):\(Hex.encode(hash160))" }
}

/// Wallet Import Format: Base58Check of version ‖ 32-byte secret, plus a 0x01 byte when the
/// key's address uses the compressed public key (what `dumpprivkey` prints).
public enum WIF {
    /// Reads a WIF key of `chain`. Every failure is .badKey, and the message never contains
    /// the text (it is a secret).
    public static func decode(
        _ text: some StringProtocol, chain: UTXOChainParameters
    ) throws(TokError) -> (key: PrivateKey, compressed: Bool) {
        let payload: [UInt8]
        switch Base58.decodeCheck(text) {
        case .success(let bytes): payload = bytes
        case .failure(.checksumMismatch): throw TokError(.badKey, "WIF private key checksum does not match")
        case .failure: throw TokError(.badKey, "WIF private key is not base58check")
        }
        let compressed: Bool
        switch payload.count {
        case 33: compressed = false
        case 34 where payload[33] == 0x01: compressed = true
        default: throw TokError(.badKey, "WIF private key must be a version byte, 32 secret bytes and an optional 0x01")
        }
        guard payload[0] == chain.wifVersion else {
            throw TokError(.badKey, "WIF version byte \(payload[0]) is not \(chain.name)'s (\(chain.wifVersion))")
        }
        return (try PrivateKey(bytes: payload[1..<33]), compressed)
    }

    public static func encode(_ key: PrivateKey, compressed: Bool, chain: UTXOChainParameters) -> String {
        Base58.encodeCheck([chain.wifVersion] + key.secretBytes + (compressed ? [0x01] : []))
    }
}

/// The script opcodes tok builds or recognises (Bitcoin's script numbering).
enum Opcode {
    static let pushData1: UInt8 = 0x4c
    static let `return`: UInt8 = 0x6a
    static let dup: UInt8 = 0x76
    static let equal: UInt8 = 0x87
    static let equalVerify: UInt8 = 0x88
    static let hash160: UInt8 = 0xa9
    static let checkSig: UInt8 = 0xac
}
