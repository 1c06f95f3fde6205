import XCTest
@testable import TokShared

/// Expected values come from python-bitcoinlib 0.12.2 (PyPI), run in a throwaway venv:
/// `BitcoinMessage(text, magic=...)`, `.GetHash()`, `SignMessage(CKey(secret, compressed=...), msg)`
/// and `VerifyMessage(P2PKHBitcoinAddress(...), msg, sig)`, with secret = bytes 0x01...0x20.
/// Its signer is OpenSSL with a random nonce (not RFC 6979), so its signatures differ from ours;
/// the tests recover our key from its signatures, and pin our own signatures, each of which its
/// VerifyMessage accepted (and rejected for another address, magic or message).
final class MessageSigningTests: XCTestCase {
    private func unhex(_ text: String) -> [UInt8] {
        let digits = Array(text.utf8)
        func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
        return stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
    }

    private let bitcoinMagic = "Bitcoin Signed Message:\n"
    private let dogecoinMagic = "Dogecoin Signed Message:\n"
    private let longMessage = String(repeating: "x", count: 300)  // 300 bytes: a 3-byte CompactSize length
    private let key = try! PrivateKey(bytes: Array(1...32))
    // python-bitcoinlib CKey(bytes(range(1, 33))).pub for both forms.
    private let compressedPublicKey = "0284bf7562262bbd6940085748f3be6afa52ae317155181ece31b66351ccffa4b0"
    private let uncompressedPublicKey =
        "0484bf7562262bbd6940085748f3be6afa52ae317155181ece31b66351ccffa4b0"
        + "8cc43d63b2859d469fee15f31c9edb5324266e6fd0407e87382d60fc4511acd8"

    func testPublicKeysMatchPythonBitcoinlib() {
        XCTAssertEqual(key.publicKey(compressed: true), unhex(compressedPublicKey))
        XCTAssertEqual(key.publicKey(compressed: false), unhex(uncompressedPublicKey))
    }

    func testDigests() {
        XCTAssertEqual(
            Hex.encode(MessageSigning.digest(message: "hello tok", magic: bitcoinMagic)),
            "74b1cabe26fc18213f0a321d5866833638feea49189b142c883fd11d49f86bf7")
        XCTAssertEqual(
            Hex.encode(MessageSigning.digest(message: longMessage, magic: bitcoinMagic)),
            "cfaa374801123c07586b32d81c6a355bb6c2b2fe3c0564c8a91c0edbc6bafdc3")
        XCTAssertEqual(
            Hex.encode(MessageSigning.digest(message: "hello tok", magic: dogecoinMagic)),
            "3a0125e789bd63dd06f0cde61973aae36b8d56fa69cf36c1a68446b7bcb0ea16")
        XCTAssertEqual(
            Hex.encode(MessageSigning.digest(message: longMessage, magic: dogecoinMagic)),
            "bd6255968e5dd7b2bec7d2f2320d2d87717e63c0a81550b35151ef931417a074")
    }

    func testCompactSizeBoundaries() {
        XCTAssertEqual(MessageSigning.compactSize(0), [0x00])
        XCTAssertEqual(MessageSigning.compactSize(252), [0xfc])
        XCTAssertEqual(MessageSigning.compactSize(253), [0xfd, 0xfd, 0x00])
        XCTAssertEqual(MessageSigning.compactSize(300), [0xfd, 0x2c, 0x01])
        XCTAssertEqual(MessageSigning.compactSize(0xffff), [0xfd, 0xff, 0xff])
        XCTAssertEqual(MessageSigning.compactSize(0x1_0000), [0xfe, 0x00, 0x00, 0x01, 0x00])
        XCTAssertEqual(MessageSigning.compactSize(0x1_0000_0000), [0xff, 0, 0, 0, 0, 1, 0, 0, 0])
    }

    /// (magic, message, compressed, signature from python-bitcoinlib's SignMessage)
    private var pythonSignatures: [(String, String, Bool, String)] {
        [
            (
                bitcoinMagic, "hello tok", true,
                "IAyG/As4jVVZSNjPgnboj+vSk28Q9pJHYDGbiC1zH8DhHKrpJGxKzyq+Q5MYKQd7hKMYDl2t6hJZJ0b5hwvJ+S4="
            ),
            (
                bitcoinMagic, longMessage, true,
                "IBfza9gxL/8Dum7yLQQlSglF1yk/dPkzSsVjsSh+PJkBOchUoao13YVcTfOIu4T0hWos0Yj4X/AkNFWnpAAgYSA="
            ),
            (
                dogecoinMagic, "hello tok", true,
                "IPKbOF5Y8b+3Fc6tRYZMQdh4w+LNvBaa6np/0kNBzqSpGkyryk/mi1fq5j0HGuCVYcJwtd6+3McN70NEl/ZNzwI="
            ),
            (
                dogecoinMagic, longMessage, true,
                "IBq9QxOBDNr7utbTOMCCfeHtSiQD9hSD0dr4OdyViQGbNFLOnwo5xg9RfNSQDRqo00ZgvolQbXvwX4Ni19kgq9w="
            ),
            (
                bitcoinMagic, "hello tok", false,
                "HGAFAXKe/Iw6UuBioiWj9vLjPWXCIB2F3mluNWt1QwEvHbfx+PRsrRUtW85f3mI7kdEZGCjFBZg1WYDJpaq1CV8="
            ),
            (
                bitcoinMagic, longMessage, false,
                "G/dapbfFWGN3gwpkmaX7LmDEf3nLFte3c4/uID9N3EL4Bvr8XuaFaTj4keirjFaBphj0Ej23UY8ZMVGgdV8aWxw="
            ),
            (
                dogecoinMagic, "hello tok", false,
                "HKBvwqLOkASxVvAbszdbjXhGmjVoI021qNUqIRS3npzATwiIXEz67aEmoZWhJYU41ZNFjc5XXmP5Jqs982XQeI0="
            ),
            (
                dogecoinMagic, longMessage, false,
                "G76IgeSXA9HztiMcRV7hMZqIQJdiF+8sp60164K+JfHtUPXCYiGmIrOmNZEcWKKOLI8MjWTwFVu2tBxQxmATuJg="
            ),
        ]
    }

    func testRecoversKeysFromPythonSignatures() throws {
        for (magic, message, compressed, signature) in pythonSignatures {
            let recovered = try MessageSigning.recoverPublicKey(
                message: message, magic: magic, signatureBase64: signature)
            XCTAssertEqual(recovered.compressed, compressed)
            XCTAssertEqual(recovered.publicKey, unhex(compressed ? compressedPublicKey : uncompressedPublicKey))
            // The same signature under the other chain's magic is for another digest.
            let otherMagic = magic == bitcoinMagic ? dogecoinMagic : bitcoinMagic
            XCTAssertNotEqual(
                try? MessageSigning.recoverPublicKey(message: message, magic: otherMagic, signatureBase64: signature)
                    .publicKey,
                recovered.publicKey)
        }
    }

    /// Our RFC 6979 signatures, each accepted by python-bitcoinlib's VerifyMessage.
    func testOwnSignaturesArePinned() throws {
        let expected: [(String, String, Bool, String)] = [
            (
                bitcoinMagic, "hello tok", true,
                "IHFzFOBmCAN3rQDL+Fpql9C6nrkR1itaJFjNVRPbNqzjDu5qd8PGci0CPvY1ydUFQv4krW2VJQQT5vQMa+zd830="
            ),
            (
                bitcoinMagic, longMessage, true,
                "IK9tQDJa2QW7xg++klVsWa/qKeQoM0zzZudAfzsQ/le8EqtP8AsrIgzEaWAkA9++vkAv7Qj7HDDxqKH9MD3IcMY="
            ),
            (
                dogecoinMagic, "hello tok", true,
                "H2jFWfVU98Gr7HnXtH49laRCMElDBI1vejUrQ3hWHQyAfLEUwl+c8FSF0WiOlHEEdYD6TtM2JcdB74KK/coFB8o="
            ),
            (
                dogecoinMagic, longMessage, true,
                "H3ocWbadeSkpcPw3hIV/PstpYHhlNis4nIc7dokblRp1PGje9ji2bgaw+AezM85YVPeHH74U2pND9RTP/U3tPhc="
            ),
            (
                bitcoinMagic, "hello tok", false,
                "HHFzFOBmCAN3rQDL+Fpql9C6nrkR1itaJFjNVRPbNqzjDu5qd8PGci0CPvY1ydUFQv4krW2VJQQT5vQMa+zd830="
            ),
            (
                bitcoinMagic, longMessage, false,
                "HK9tQDJa2QW7xg++klVsWa/qKeQoM0zzZudAfzsQ/le8EqtP8AsrIgzEaWAkA9++vkAv7Qj7HDDxqKH9MD3IcMY="
            ),
            (
                dogecoinMagic, "hello tok", false,
                "G2jFWfVU98Gr7HnXtH49laRCMElDBI1vejUrQ3hWHQyAfLEUwl+c8FSF0WiOlHEEdYD6TtM2JcdB74KK/coFB8o="
            ),
            (
                dogecoinMagic, longMessage, false,
                "G3ocWbadeSkpcPw3hIV/PstpYHhlNis4nIc7dokblRp1PGje9ji2bgaw+AezM85YVPeHH74U2pND9RTP/U3tPhc="
            ),
        ]
        for (magic, message, compressed, signature) in expected {
            XCTAssertEqual(
                MessageSigning.sign(message: message, magic: magic, key: key, compressed: compressed), signature)
            let recovered = try MessageSigning.recoverPublicKey(
                message: message, magic: magic, signatureBase64: signature)
            XCTAssertEqual(recovered.publicKey, key.publicKey(compressed: compressed))
            XCTAssertEqual(recovered.compressed, compressed)
        }
    }

    func testRoundTripWithRandomKeys() throws {
        for index in 0..<10 {
            let key = PrivateKey.generate()
            let message = "payout \(index) ✓"
            for compressed in [true, false] {
                let signature = MessageSigning.sign(
                    message: message, magic: dogecoinMagic, key: key, compressed: compressed)
                let recovered = try MessageSigning.recoverPublicKey(
                    message: message, magic: dogecoinMagic, signatureBase64: signature)
                XCTAssertEqual(recovered.publicKey, key.publicKey(compressed: compressed))
                XCTAssertEqual(recovered.compressed, compressed)
            }
        }
    }

    func testAcceptsHighSLikeBitcoinCore() throws {
        // Bitcoin Core's verifymessage does not enforce low S, so neither do we: the high-S twin
        // (r, n - s) with the other recovery id recovers the same key.
        let signature = Base64.decode(
            MessageSigning.sign(message: "hello tok", magic: dogecoinMagic, key: key, compressed: true))!
        let n = unhex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
        var highS = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for i in stride(from: 31, through: 0, by: -1) {
            var difference = Int(n[i]) - Int(signature[33 + i]) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 256 }
            highS[i] = UInt8(difference)
        }
        let header = 27 + ((Int(signature[0]) - 27) ^ 1)
        let twin = [UInt8(header)] + Array(signature[1..<33]) + highS
        let recovered = try MessageSigning.recoverPublicKey(
            message: "hello tok", magic: dogecoinMagic, signatureBase64: Base64.encode(twin))
        XCTAssertEqual(recovered.publicKey, key.publicKey(compressed: true))
    }

    func testRejectsTamperedAndMalformedSignatures() throws {
        let message = "hello tok"
        let good = Base64.decode(
            MessageSigning.sign(message: message, magic: dogecoinMagic, key: key, compressed: true))!
        for index in [1, 20, 32, 33, 50, 64] {
            var tampered = good
            tampered[index] ^= 0x01
            XCTAssertNotEqual(
                try? MessageSigning.recoverPublicKey(
                    message: message, magic: dogecoinMagic,
                    signatureBase64: Base64.encode(tampered)
                ).publicKey,
                key.publicKey(compressed: true), "byte \(index)")
        }
        XCTAssertNotEqual(
            try? MessageSigning.recoverPublicKey(
                message: "hello tok!", magic: dogecoinMagic,
                signatureBase64: Base64.encode(good)
            ).publicKey,
            key.publicKey(compressed: true))
        var badHeaders: [[UInt8]] = []
        for header: UInt8 in [0, 26, 35, 42, 255] {
            badHeaders.append([header] + good.dropFirst())
        }
        let malformed =
            badHeaders.map { Base64.encode($0) } + [
                Base64.encode(Array(good.dropLast())),
                Base64.encode(good + [0]),
                "not base64!",
                "",
            ]
        for text in malformed {
            XCTAssertThrowsError(
                try MessageSigning.recoverPublicKey(message: message, magic: dogecoinMagic, signatureBase64: text), text
            )
        }
    }
}
