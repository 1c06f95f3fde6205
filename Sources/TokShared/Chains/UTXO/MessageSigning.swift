/// Bitcoin-family `signmessage` / `verifymessage` (Bitcoin Core's scheme, kept by Dogecoin and
/// Litecoin with their own magic string, e.g. "Dogecoin Signed Message:\n").
public enum MessageSigning {
    /// SHA256d(varint(len(magic)) ‖ magic ‖ varint(len(message)) ‖ message), lengths in UTF-8 bytes.
    public static func digest(message: String, magic: String) -> [UInt8] {
        let magicBytes = Array(magic.utf8)
        let messageBytes = Array(message.utf8)
        return Hashing.sha256d(
            compactSize(magicBytes.count) + magicBytes + compactSize(messageBytes.count) + messageBytes)
    }

    /// Base64 of 65 bytes: header ‖ r ‖ s, header = 27 + recovery id, + 4 when the signing
    /// address uses the compressed public key (so a verifier derives the same address).
    public static func sign(message: String, magic: String, key: PrivateKey, compressed: Bool) -> String {
        let signature = key.signRecoverable(digest32: digest(message: message, magic: magic))
        let header = UInt8(27 + signature.recoveryId + (compressed ? 4 : 0))
        return Base64.encode([header] + signature.r + signature.s)
    }

    /// The public key (33 bytes when the header says compressed, else 65) that signed `message`.
    /// The caller compares its hash160 with the claimed address. Headers 27...34 only: 35...42
    /// (BIP 137 SegWit variants) name address types Dogecoin does not have. High S is accepted,
    /// as Bitcoin Core's verifymessage accepts it; the digest commits to the message anyway.
    public static func recoverPublicKey(
        message: String, magic: String, signatureBase64: String
    ) throws(TokError) -> (publicKey: [UInt8], compressed: Bool) {
        guard let signature = Base64.decode(signatureBase64) else {
            throw .signatureRejected("message signature is not valid base64")
        }
        guard signature.count == 65 else {
            throw .signatureRejected(
                "message signature must decode to 65 bytes (header ‖ r ‖ s), got \(signature.count)")
        }
        let header = Int(signature[0])
        guard (27...34).contains(header) else {
            throw .signatureRejected("message signature header must be 27...34, got \(header)")
        }
        let compressed = header >= 31
        let publicKey = try Secp256k1.recoverPublicKey(
            digest32: digest(message: message, magic: magic),
            r: Array(signature[1..<33]), s: Array(signature[33..<65]),
            recoveryId: (header - 27) & 3, compressed: compressed, rejectHighS: false)
        return (publicKey, compressed)
    }

    /// Bitcoin's CompactSize length prefix: one byte below 0xfd, else a marker byte and a
    /// 2-, 4- or 8-byte little-endian length.
    static func compactSize(_ count: Int) -> [UInt8] {
        let value = UInt64(count)
        func littleEndian(_ byteCount: Int) -> [UInt8] {
            (0..<byteCount).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) }
        }
        switch value {
        case 0..<0xfd: return [UInt8(value)]
        case 0xfd...0xffff: return [0xfd] + littleEndian(2)
        case 0x1_0000...0xffff_ffff: return [0xfe] + littleEndian(4)
        default: return [0xff] + littleEndian(8)
        }
    }
}
