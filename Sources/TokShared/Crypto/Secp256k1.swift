import COpenSSL
import CSecp256k1

// Error codes for key and signature problems. ErrorCode has no dedicated codes yet
// (bad_signature / bad_key are proposed to the lead); mapping them here keeps the switch
// to the final codes a one-line change.
extension TokError {
    static func signatureRejected(_ message: String) -> TokError { TokError(.badSignature, message) }
    static func keyRejected(_ message: String) -> TokError { TokError(.badKey, message) }
}

/// The one libsecp256k1 context of the process.
///
/// libsecp256k1 documents every function that takes a `const secp256k1_context*` (signing,
/// verifying, recovering, parsing, serialising) as safe to call concurrently; only
/// `secp256k1_context_randomize` mutates the context, and it runs once, in `init`, before the
/// context is published through the `static let` (which Swift initialises exactly once).
/// That is why sharing the raw pointer between threads is sound: @unchecked Sendable.
private final class Secp256k1Context: @unchecked Sendable {
    static let shared = Secp256k1Context()
    let pointer: OpaquePointer

    private init() {
        // SECP256K1_CONTEXT_NONE: since libsecp256k1 0.2.0 one context does signing and
        // verification; the SIGN/VERIFY flags are kept by the library only for compatibility.
        guard let context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE)) else {
            preconditionFailure("secp256k1_context_create failed (out of memory?)")
        }
        // Randomising blinds the signing computations against timing and power side channels.
        // A failure to get randomness from the OS is not something to carry on quietly from.
        var seed = [UInt8](repeating: 0, count: 32)
        precondition(RAND_bytes(&seed, Int32(seed.count)) == 1, "RAND_bytes failed; no OS randomness")
        precondition(secp256k1_context_randomize(context, seed) == 1, "secp256k1_context_randomize failed")
        pointer = context
    }
    // Never destroyed: the context lives for the whole process.
}

/// A secp256k1 private key: 32 bytes, a scalar in [1, n-1] (checked with seckey_verify).
/// Printing one never shows the secret: description, debugDescription and the mirror redact it.
public struct PrivateKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public static let byteCount = 32

    private let secret: [UInt8]

    /// Accepts exactly 32 bytes that are a valid secp256k1 scalar (not zero, below the group order).
    public init(bytes: some Collection<UInt8>) throws(TokError) {
        let candidate = Array(bytes)
        guard candidate.count == PrivateKey.byteCount else {
            throw .keyRejected("a secp256k1 private key is 32 bytes, got \(candidate.count)")
        }
        guard secp256k1_ec_seckey_verify(Secp256k1Context.shared.pointer, candidate) == 1 else {
            throw .keyRejected("the private key is zero or not below the secp256k1 group order")
        }
        secret = candidate
    }

    /// 64 hex digits, optionally prefixed with 0x.
    public init(hex: String) throws(TokError) {
        let digits = hex.hasPrefix("0x") || hex.hasPrefix("0X") ? String(hex.dropFirst(2)) : hex
        guard digits.utf8.count == 2 * PrivateKey.byteCount, let bytes = Hex.decode(digits) else {
            throw .keyRejected("a private key in hex is 64 hex digits (optionally 0x-prefixed)")
        }
        try self.init(bytes: bytes)
    }

    /// A fresh key from OpenSSL's CSPRNG (which draws on getrandom). Mainly for tests and
    /// for generating deposit keys; a 32-byte draw is invalid with probability ~2^-128, so retry.
    public static func generate() -> PrivateKey {
        while true {
            var candidate = [UInt8](repeating: 0, count: byteCount)
            precondition(RAND_bytes(&candidate, Int32(byteCount)) == 1, "RAND_bytes failed; no OS randomness")
            if let key = try? PrivateKey(bytes: candidate) { return key }
        }
    }

    /// The raw secret, for the few callers that must serialise it (WIF export, key files).
    /// Named loudly so a reviewer notices every use.
    public var secretBytes: [UInt8] { secret }

    public var description: String { "PrivateKey(<redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// SEC1 public key: 33 bytes (0x02/0x03 ‖ X) when compressed, 65 bytes (0x04 ‖ X ‖ Y) otherwise.
    public func publicKey(compressed: Bool) -> [UInt8] {
        let context = Secp256k1Context.shared.pointer
        var point = secp256k1_pubkey()
        // Cannot fail: the secret was validated with seckey_verify in init.
        precondition(secp256k1_ec_pubkey_create(context, &point, secret) == 1, "secp256k1_ec_pubkey_create failed")
        return Secp256k1.serialize(point, compressed: compressed)
    }

    /// ECDSA over a 32-byte digest with RFC 6979 deterministic nonces, returning r and s as
    /// 32 big-endian bytes each and the recovery id (0...3) that lets a verifier recover the key.
    /// libsecp256k1 always produces low-S signatures (EIP-2, Bitcoin policy); we check it anyway
    /// because a high-S signature would be rejected by the chains much later and far away.
    public func signRecoverable(digest32: [UInt8]) -> (r: [UInt8], s: [UInt8], recoveryId: Int) {
        precondition(digest32.count == 32, "signRecoverable needs a 32-byte digest, got \(digest32.count)")
        let context = Secp256k1Context.shared.pointer
        var signature = secp256k1_ecdsa_recoverable_signature()
        // nil nonce function = RFC 6979; it only fails for an invalid key, excluded by init.
        precondition(
            secp256k1_ecdsa_sign_recoverable(context, &signature, digest32, secret, nil, nil) == 1,
            "secp256k1_ecdsa_sign_recoverable failed")
        var compact = [UInt8](repeating: 0, count: 64)
        var recoveryId: Int32 = 0
        precondition(
            secp256k1_ecdsa_recoverable_signature_serialize_compact(context, &compact, &recoveryId, &signature) == 1,
            "serialize_compact failed")
        precondition(Secp256k1.isLowS(compact64: compact), "libsecp256k1 returned a high-S signature")
        return (Array(compact[0..<32]), Array(compact[32..<64]), Int(recoveryId))
    }

    /// ECDSA over a 32-byte digest as strict DER with low S, the form Bitcoin-family legacy
    /// inputs need (the sighash type byte is appended by the caller, not here).
    public func signDER(digest32: [UInt8]) -> [UInt8] {
        precondition(digest32.count == 32, "signDER needs a 32-byte digest, got \(digest32.count)")
        let context = Secp256k1Context.shared.pointer
        var produced = secp256k1_ecdsa_signature()
        precondition(
            secp256k1_ecdsa_sign(context, &produced, digest32, secret, nil, nil) == 1, "secp256k1_ecdsa_sign failed")
        // Normalising is a no-op for libsecp256k1's own output; it documents (and guarantees)
        // the low-S rule that Dogecoin/Bitcoin relay policy enforces.
        var signature = secp256k1_ecdsa_signature()
        _ = secp256k1_ecdsa_signature_normalize(context, &signature, &produced)
        // 72 bytes is the longest DER encoding of two 33-byte integers.
        var der = [UInt8](repeating: 0, count: 72)
        var derByteCount = der.count
        precondition(
            secp256k1_ecdsa_signature_serialize_der(context, &der, &derByteCount, &signature) == 1,
            "serialize_der failed")
        return Array(der.prefix(derByteCount))
    }
}

/// Operations that need no private key.
public enum Secp256k1 {
    /// Recovers the signer's public key from a digest, r, s (32 bytes each) and recovery id 0...3.
    /// With `rejectHighS` (the default, as EIP-2 requires for Ethereum) a signature whose s is
    /// above n/2 is refused; Bitcoin-family signmessage accepts either half, like Bitcoin Core.
    public static func recoverPublicKey(
        digest32: [UInt8], r: [UInt8], s: [UInt8], recoveryId: Int, compressed: Bool, rejectHighS: Bool = true
    ) throws(TokError) -> [UInt8] {
        guard digest32.count == 32 else {
            throw .signatureRejected("the signed digest must be 32 bytes, got \(digest32.count)")
        }
        guard r.count == 32, s.count == 32 else {
            throw .signatureRejected("signature r and s must be 32 bytes each, got \(r.count) and \(s.count)")
        }
        guard (0...3).contains(recoveryId) else {
            throw .signatureRejected("recovery id must be 0...3, got \(recoveryId)")
        }
        let compact = r + s
        if rejectHighS && !isLowS(compact64: compact) {
            throw .signatureRejected(
                "signature s is in the upper half of the curve order (malleable; EIP-2 forbids it)")
        }
        let context = Secp256k1Context.shared.pointer
        var signature = secp256k1_ecdsa_recoverable_signature()
        // Fails when r or s is zero or not below the group order.
        guard secp256k1_ecdsa_recoverable_signature_parse_compact(context, &signature, compact, Int32(recoveryId)) == 1
        else {
            throw .signatureRejected("signature r or s is zero or not below the secp256k1 group order")
        }
        var point = secp256k1_pubkey()
        guard secp256k1_ecdsa_recover(context, &point, &signature, digest32) == 1 else {
            throw .signatureRejected("no public key recovers from this signature and digest")
        }
        return serialize(point, compressed: compressed)
    }

    /// Checks a DER signature (no sighash byte) over a 32-byte digest against a SEC1 public key
    /// (33 or 65 bytes). False for anything malformed, and for high-S signatures: libsecp256k1's
    /// verify enforces low S, as Dogecoin/Bitcoin relay policy does.
    public static func verifyDER(signatureDER: [UInt8], digest32: [UInt8], publicKey: [UInt8]) -> Bool {
        guard digest32.count == 32 else { return false }
        let context = Secp256k1Context.shared.pointer
        var signature = secp256k1_ecdsa_signature()
        guard secp256k1_ecdsa_signature_parse_der(context, &signature, signatureDER, signatureDER.count) == 1 else {
            return false
        }
        var point = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_parse(context, &point, publicKey, publicKey.count) == 1 else { return false }
        return secp256k1_ecdsa_verify(context, &signature, digest32, &point) == 1
    }

    /// Re-encodes a SEC1 public key (33 or 65 bytes) in the requested form, checking it is on the curve.
    public static func convertPublicKey(_ publicKey: [UInt8], compressed: Bool) throws(TokError) -> [UInt8] {
        let context = Secp256k1Context.shared.pointer
        var point = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_parse(context, &point, publicKey, publicKey.count) == 1 else {
            throw .signatureRejected("not a valid secp256k1 public key (\(publicKey.count) bytes)")
        }
        return serialize(point, compressed: compressed)
    }

    /// True when the s half of a 64-byte r ‖ s is at most n/2. libsecp256k1's normalize
    /// reports whether it had to flip s, which is exactly the high-S test; r or s out of range
    /// fail the parse and count as not low-S (they are invalid anyway).
    static func isLowS(compact64: [UInt8]) -> Bool {
        let context = Secp256k1Context.shared.pointer
        var signature = secp256k1_ecdsa_signature()
        guard compact64.count == 64, secp256k1_ecdsa_signature_parse_compact(context, &signature, compact64) == 1 else {
            return false
        }
        return secp256k1_ecdsa_signature_normalize(context, nil, &signature) == 0
    }

    static func serialize(_ point: secp256k1_pubkey, compressed: Bool) -> [UInt8] {
        var point = point
        var out = [UInt8](repeating: 0, count: compressed ? 33 : 65)
        var outByteCount = out.count
        let flags = UInt32(compressed ? SECP256K1_EC_COMPRESSED : SECP256K1_EC_UNCOMPRESSED)
        precondition(
            secp256k1_ec_pubkey_serialize(Secp256k1Context.shared.pointer, &out, &outByteCount, &point, flags) == 1,
            "secp256k1_ec_pubkey_serialize failed")
        return out
    }
}
