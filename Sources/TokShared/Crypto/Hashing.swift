import COpenSSL

/// SHA-256, RIPEMD-160 and HMAC-SHA256 from OpenSSL's libcrypto, which every
/// Debian machine already has; it avoids building a crypto package on each CI run.
public enum Hashing {
    /// SHA-256 fetched from the default provider once: OpenSSL's SHA256() looks it up again on
    /// every call (a locked search of the provider tables, about as costly as hashing a
    /// transaction), and tok-follow hashes every transaction of every block twice. A fetched
    /// EVP_MD is immutable and safe to share between threads.
    private nonisolated(unsafe) static let sha256Digest: OpaquePointer = {
        guard let md = EVP_MD_fetch(nil, "SHA256", nil) else {
            preconditionFailure("OpenSSL has no SHA256 in its default provider")
        }
        return md
    }()

    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var digestLength: UInt32 = 0
        let ok = digest.withUnsafeMutableBufferPointer { out in
            EVP_Digest(bytes.baseAddress, bytes.count, out.baseAddress, &digestLength, sha256Digest, nil)
        }
        precondition(ok == 1 && digestLength == 32, "SHA-256 failed inside OpenSSL")
        return digest
    }

    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { sha256($0) }
    }

    public static func sha256(_ text: String) -> [UInt8] {
        var copy = text
        return copy.withUTF8 { sha256(UnsafeRawBufferPointer($0)) }
    }

    /// Bitcoin's double SHA-256, used for txids, block hashes and base58check.
    public static func sha256d(_ bytes: [UInt8]) -> [UInt8] {
        sha256(sha256(bytes))
    }

    public static func hmacSHA256(key: [UInt8], message: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var digestLength: UInt32 = 32
        let ok = key.withUnsafeBytes { keyBytes in
            digest.withUnsafeMutableBufferPointer { out in
                HMAC(
                    EVP_sha256(), keyBytes.baseAddress, Int32(keyBytes.count),
                    message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count,
                    out.baseAddress, &digestLength)
            }
        }
        precondition(ok != nil && digestLength == 32, "HMAC-SHA256 failed inside OpenSSL")
        return digest
    }

    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        message.withUnsafeBytes { hmacSHA256(key: key, message: $0) }
    }

    /// RIPEMD-160 comes from OpenSSL 3's default provider (Debian enables it).
    public static func ripemd160(_ bytes: [UInt8]) -> [UInt8] {
        guard let md = EVP_MD_fetch(nil, "RIPEMD160", nil) else {
            preconditionFailure("OpenSSL has no RIPEMD160 in its default provider")
        }
        defer { EVP_MD_free(md) }
        var digest = [UInt8](repeating: 0, count: 20)
        var digestLength: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            digest.withUnsafeMutableBufferPointer { out in
                EVP_Digest(input.baseAddress, input.count, out.baseAddress, &digestLength, md, nil)
            }
        }
        precondition(ok == 1 && digestLength == 20, "RIPEMD-160 failed inside OpenSSL")
        return digest
    }

    /// Bitcoin's HASH160 = RIPEMD-160(SHA-256(x)), the P2PKH key hash.
    public static func hash160(_ bytes: [UInt8]) -> [UInt8] {
        ripemd160(sha256(bytes))
    }

    /// Compares two MACs without leaking how many leading bytes matched.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<a.count { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
