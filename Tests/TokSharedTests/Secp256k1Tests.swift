import Dispatch
import XCTest
@testable import TokShared

final class Secp256k1Tests: XCTestCase {
    private func unhex(_ text: String) -> [UInt8] {
        let digits = Array((text.hasPrefix("0x") ? String(text.dropFirst(2)) : text).utf8)
        func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
        return stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
    }

    // secp256k1 group order n (SEC 2, section 2.4.1).
    private let groupOrderHex = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"

    /// n - s, big-endian: turns a low-S signature into its high-S twin.
    private func negated(_ s: [UInt8]) -> [UInt8] {
        let n = unhex(groupOrderHex)
        var out = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for i in stride(from: 31, through: 0, by: -1) {
            var difference = Int(n[i]) - Int(s[i]) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 256 }
            out[i] = UInt8(difference)
        }
        return out
    }

    func testPrivateKeyValidation() throws {
        XCTAssertThrowsError(try PrivateKey(bytes: [UInt8](repeating: 0, count: 32)))
        XCTAssertThrowsError(try PrivateKey(bytes: unhex(groupOrderHex)))
        XCTAssertThrowsError(try PrivateKey(bytes: [UInt8](repeating: 1, count: 31)))
        XCTAssertThrowsError(try PrivateKey(hex: "0x46"))
        XCTAssertThrowsError(try PrivateKey(hex: String(repeating: "zz", count: 32)))
        var nMinusOne = unhex(groupOrderHex)
        nMinusOne[31] -= 1
        XCTAssertNoThrow(try PrivateKey(bytes: nMinusOne))
        let key = try PrivateKey(hex: "0x" + String(repeating: "46", count: 32))
        XCTAssertEqual(key.secretBytes, [UInt8](repeating: 0x46, count: 32))
        XCTAssertEqual(try PrivateKey(hex: String(repeating: "46", count: 32)).secretBytes, key.secretBytes)
    }

    func testPrivateKeyIsNeverPrinted() throws {
        let key = try PrivateKey(hex: String(repeating: "46", count: 32))
        var dumped = ""
        dump(key, to: &dumped)
        for text in ["\(key)", String(reflecting: key), dumped, "\([key])"] {
            XCTAssertFalse(text.contains("46464646"), "secret leaked in \(text)")
            XCTAssertFalse(text.contains("70, 70"), "secret leaked in \(text)")
        }
        XCTAssertEqual("\(key)", "PrivateKey(<redacted>)")
    }

    func testGeneratorPublicKey() throws {
        // Private key 1 gives the generator G, whose coordinates SEC 2 publishes.
        let one = try PrivateKey(bytes: [UInt8](repeating: 0, count: 31) + [1])
        XCTAssertEqual(
            one.publicKey(compressed: true),
            unhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"))
        let uncompressed = one.publicKey(compressed: false)
        XCTAssertEqual(
            uncompressed,
            unhex(
                "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
                    + "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"))
        XCTAssertEqual(try Secp256k1.convertPublicKey(uncompressed, compressed: true), one.publicKey(compressed: true))
        XCTAssertEqual(try Secp256k1.convertPublicKey(one.publicKey(compressed: true), compressed: false), uncompressed)
        XCTAssertThrowsError(
            try Secp256k1.convertPublicKey([0x02] + [UInt8](repeating: 0xff, count: 32), compressed: false))
    }

    func testRecoverableSignatureRoundTrip() throws {
        for _ in 0..<20 {
            let key = PrivateKey.generate()
            let digest = Hashing.sha256(key.publicKey(compressed: true))
            let signature = key.signRecoverable(digest32: digest)
            XCTAssertTrue(Secp256k1.isLowS(compact64: signature.r + signature.s))
            XCTAssertTrue((0...1).contains(signature.recoveryId))
            for compressed in [true, false] {
                let recovered = try Secp256k1.recoverPublicKey(
                    digest32: digest, r: signature.r, s: signature.s, recoveryId: signature.recoveryId,
                    compressed: compressed)
                XCTAssertEqual(recovered, key.publicKey(compressed: compressed))
            }
            // RFC 6979: the same key and digest always give the same signature.
            let again = key.signRecoverable(digest32: digest)
            XCTAssertEqual(again.r + again.s, signature.r + signature.s)
        }
    }

    func testRecoverRejectsHighSUnlessAllowed() throws {
        let key = PrivateKey.generate()
        let digest = Hashing.sha256(Array("high s".utf8))
        let signature = key.signRecoverable(digest32: digest)
        let highS = negated(signature.s)
        XCTAssertFalse(Secp256k1.isLowS(compact64: signature.r + highS))
        XCTAssertThrowsError(
            try Secp256k1.recoverPublicKey(
                digest32: digest, r: signature.r, s: highS, recoveryId: 1 - signature.recoveryId, compressed: true))
        // (r, n - s) with the other recovery id is the same signature, so it recovers the same key.
        XCTAssertEqual(
            try Secp256k1.recoverPublicKey(
                digest32: digest, r: signature.r, s: highS, recoveryId: 1 - signature.recoveryId, compressed: true,
                rejectHighS: false), key.publicKey(compressed: true))
    }

    func testRecoverRejectsMalformedInput() {
        let digest = [UInt8](repeating: 7, count: 32)
        let r = [UInt8](repeating: 1, count: 32), s = [UInt8](repeating: 1, count: 32)
        XCTAssertThrowsError(
            try Secp256k1.recoverPublicKey(digest32: digest, r: r, s: s, recoveryId: 4, compressed: true))
        XCTAssertThrowsError(
            try Secp256k1.recoverPublicKey(
                digest32: digest, r: Array(r.dropFirst()), s: s, recoveryId: 0, compressed: true))
        XCTAssertThrowsError(
            try Secp256k1.recoverPublicKey(
                digest32: Array(digest.dropFirst()), r: r, s: s, recoveryId: 0, compressed: true))
        XCTAssertThrowsError(
            try Secp256k1.recoverPublicKey(
                digest32: digest, r: [UInt8](repeating: 0, count: 32), s: s, recoveryId: 0, compressed: true))
        XCTAssertThrowsError(
            try Secp256k1.recoverPublicKey(
                digest32: digest, r: unhex(groupOrderHex), s: s, recoveryId: 0, compressed: true))
    }

    func testDERSignatures() throws {
        let key = PrivateKey.generate()
        let digest = Hashing.sha256d(Array("legacy sighash".utf8))
        let der = key.signDER(digest32: digest)
        XCTAssertEqual(der.first, 0x30)
        XCTAssertLessThanOrEqual(der.count, 72)
        XCTAssertEqual(Int(der[1]), der.count - 2)
        for compressed in [true, false] {
            XCTAssertTrue(
                Secp256k1.verifyDER(
                    signatureDER: der, digest32: digest, publicKey: key.publicKey(compressed: compressed)))
        }
        var otherDigest = digest
        otherDigest[0] ^= 1
        XCTAssertFalse(
            Secp256k1.verifyDER(signatureDER: der, digest32: otherDigest, publicKey: key.publicKey(compressed: true)))
        XCTAssertFalse(
            Secp256k1.verifyDER(
                signatureDER: der, digest32: digest, publicKey: PrivateKey.generate().publicKey(compressed: true)))
        XCTAssertFalse(
            Secp256k1.verifyDER(
                signatureDER: Array(der.dropLast()), digest32: digest, publicKey: key.publicKey(compressed: true)))
        XCTAssertFalse(Secp256k1.verifyDER(signatureDER: der, digest32: digest, publicKey: [0x02, 0x01]))

        // The recoverable and DER signers agree (both RFC 6979), and a high-S DER is refused.
        let compact = key.signRecoverable(digest32: digest)
        let highS = negated(compact.s)
        func derInteger(_ bytes: [UInt8]) -> [UInt8] {
            var value = Array(bytes.drop(while: { $0 == 0 }))
            if let first = value.first, first >= 0x80 { value.insert(0, at: 0) }
            return [0x02, UInt8(value.count)] + value
        }
        let lowBody = derInteger(compact.r) + derInteger(compact.s)
        XCTAssertEqual(der, [0x30, UInt8(lowBody.count)] + lowBody)
        let highBody = derInteger(compact.r) + derInteger(highS)
        XCTAssertFalse(
            Secp256k1.verifyDER(
                signatureDER: [0x30, UInt8(highBody.count)] + highBody, digest32: digest,
                publicKey: key.publicKey(compressed: true)))
    }

    func testConcurrentUseOfTheSharedContext() throws {
        let keys = (0..<8).map { _ in PrivateKey.generate() }
        let digests = (0..<64).map { Hashing.sha256([UInt8(truncatingIfNeeded: $0)]) }
        let expected = digests.enumerated().map { index, digest in keys[index % keys.count].signDER(digest32: digest) }
        let lock = NSLock()
        var results = [[UInt8]](repeating: [], count: digests.count)
        DispatchQueue.concurrentPerform(iterations: digests.count) { index in
            let key = keys[index % keys.count]
            let der = key.signDER(digest32: digests[index])
            let ok = Secp256k1.verifyDER(
                signatureDER: der, digest32: digests[index], publicKey: key.publicKey(compressed: true))
            lock.lock()
            results[index] = ok ? der : []
            lock.unlock()
        }
        XCTAssertEqual(results, expected)
    }
}
