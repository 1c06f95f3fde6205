import XCTest
@testable import TokShared

final class KeccakTests: XCTestCase {
    private func hash(_ bytes: some Collection<UInt8>) -> String {
        Hex.encode(Keccak.keccak256(bytes))
    }

    /// The byte pattern behind the length vectors below.
    private func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
    }

    func testPublishedVectors() {
        XCTAssertEqual(hash([UInt8]()), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        XCTAssertEqual(hash("abc".utf8), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
        XCTAssertEqual(
            hash("The quick brown fox jumps over the lazy dog".utf8),
            "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15")
    }

    func testERC20TransferTopicAndSelector() {
        XCTAssertEqual(
            hash("Transfer(address,address,uint256)".utf8),
            "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
        XCTAssertEqual(Array(Keccak.keccak256("transfer(address,uint256)".utf8).prefix(4)), [0xA9, 0x05, 0x9C, 0xBB])
    }

    /// Expected digests produced on this machine with pycryptodome 3.x, independent of this code:
    ///   from Crypto.Hash import keccak
    ///   h = keccak.new(digest_bits=256); h.update(bytes((i*7+3) & 0xff for i in range(n))); h.hexdigest()
    /// The lengths straddle the 136-byte rate: 135 puts both padding bits in one byte,
    /// 136 needs a block of padding alone, 137/200/272/1000 span several blocks.
    func testBlockBoundaries() {
        let expected: [(Int, String)] = [
            (1, "69c322e3248a5dfc29d73c5b0553b0185a35cd5bb6386747517ef7e53b15e287"),
            (135, "00ef96af9cf4b24c7f269d922294444a197d0a33638c2e56634c57e892103a8f"),
            (136, "742061bcad767ed4c4f5883b1dcb1aad11afdcc140dc469d953759b127b9f9ed"),
            (137, "e3371f61e770abf254c34239c3b0099ad90594507415bc81dd0a10b9692bbf2a"),
            (200, "66d2cdf3ab4c5bd3c75add9b60b14ac5b7789534fa2da3f348853b847359a3a0"),
            (272, "ac141fd7b0a0ffcd2e967254d508da3ec616596493c36fa304425647d90e6de5"),
            (1000, "80cdc8dd52cbb3dbaea8f383209893fa2bb52efbd5aedbb4b26dcfe307fcdc9b"),
        ]
        for (count, digest) in expected {
            XCTAssertEqual(hash(pattern(count)), digest, "length \(count)")
        }
    }

    func testAnyCollectionGivesTheSameDigest() {
        let bytes = pattern(200)
        let expected = "66d2cdf3ab4c5bd3c75add9b60b14ac5b7789534fa2da3f348853b847359a3a0"
        XCTAssertEqual(hash(bytes[...]), expected)
        XCTAssertEqual(hash(([0] + bytes + [0])[1...200]), expected)
        // Not contiguous: takes the copying path.
        XCTAssertEqual(hash((0..<200).lazy.map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }), expected)
        XCTAssertEqual(Keccak.keccak256(bytes).count, 32)
    }

    func testHexEncode() {
        XCTAssertEqual(Hex.encode([UInt8]()), "")
        XCTAssertEqual(Hex.encode([UInt8](), prefix: true), "0x")
        XCTAssertEqual(Hex.encode([0x00, 0xFF, 0x10, 0xAB]), "00ff10ab")
        XCTAssertEqual(Hex.encode([0x0A], prefix: true), "0x0a")
    }

    func testHexDecode() {
        XCTAssertEqual(Hex.decode(""), [])
        XCTAssertEqual(Hex.decode("0x"), [])
        XCTAssertEqual(Hex.decode("00ff10AB"), [0x00, 0xFF, 0x10, 0xAB])
        XCTAssertEqual(Hex.decode("0x00FF10ab"), [0x00, 0xFF, 0x10, 0xAB])
        XCTAssertEqual(Hex.decode("0X0a"), [0x0A])
        XCTAssertEqual(Hex.decode("xx0a".dropFirst(2)), [0x0A])
        XCTAssertNil(Hex.decode("0"))
        XCTAssertNil(Hex.decode("0x0"))
        XCTAssertNil(Hex.decode("0xzz"))
        XCTAssertNil(Hex.decode("0g"))
        XCTAssertNil(Hex.decode(" 00"))
        XCTAssertNil(Hex.decode("0x0x"))
        XCTAssertNil(Hex.decode("éé"))
    }

    func testHexRoundTrip() {
        var rng = SplitMix64(state: 42)
        for count in [0, 1, 31, 32, 33, 200] {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            XCTAssertEqual(Hex.decode(Hex.encode(bytes)), bytes)
            XCTAssertEqual(Hex.decode(Hex.encode(bytes, prefix: true)), bytes)
            XCTAssertEqual(Hex.decode(Hex.encode(bytes).uppercased()), bytes)
        }
    }
}
