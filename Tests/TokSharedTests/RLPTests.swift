import XCTest
@testable import TokShared

final class RLPTests: XCTestCase {
    private func unhex(_ text: String) -> [UInt8] {
        let digits = Array(text.utf8)
        func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
        return stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
    }

    private func assertRoundTrip(
        _ item: RLPItem, _ expectedHex: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        let encoded = RLP.encode(item)
        XCTAssertEqual(encoded, unhex(expectedHex), file: file, line: line)
        XCTAssertEqual(try RLP.decode(encoded), item, file: file, line: line)
    }

    /// The examples of the RLP page on ethereum.org (and the Yellow Paper, appendix B).
    func testSpecificationExamples() {
        assertRoundTrip(.string("dog"), "83646f67")
        assertRoundTrip(.list([.string("cat"), .string("dog")]), "c88363617483646f67")
        assertRoundTrip(.string(""), "80")
        assertRoundTrip(.list([]), "c0")
        assertRoundTrip(.uint(0 as UInt64), "80")
        assertRoundTrip(.bytes([0x00]), "00")
        assertRoundTrip(.bytes([0x0f]), "0f")
        assertRoundTrip(.uint(15 as UInt64), "0f")
        assertRoundTrip(.uint(1024 as UInt64), "820400")
        // The set-theoretic representation of three: [ [], [[]], [ [], [[]] ] ].
        assertRoundTrip(
            .list([.list([]), .list([.list([])]), .list([.list([]), .list([.list([])])])]), "c7c0c1c0c3c0c1c0")
        let lorem = "Lorem ipsum dolor sit amet, consectetur adipisicing elit"
        XCTAssertEqual(lorem.utf8.count, 56)
        assertRoundTrip(.string(lorem), "b838" + lorem.utf8.map { String(format: "%02x", $0) }.joined())
    }

    func testLongFormsAndBoundaries() throws {
        assertRoundTrip(.bytes([0x80]), "8180")
        assertRoundTrip(.bytes([UInt8](repeating: 0xaa, count: 55)), "b7" + String(repeating: "aa", count: 55))
        assertRoundTrip(.bytes([UInt8](repeating: 0xaa, count: 256)), "b90100" + String(repeating: "aa", count: 256))
        // A list whose payload is exactly 55 bytes keeps the short form; 56 needs f8 38.
        let item54 = RLPItem.bytes([UInt8](repeating: 1, count: 53))  // 54 bytes encoded
        assertRoundTrip(.list([item54, .bytes([1])]), "f7" + "b5" + String(repeating: "01", count: 53) + "01")
        assertRoundTrip(.list([item54, .bytes([0x80])]), "f838" + "b5" + String(repeating: "01", count: 53) + "8180")
        XCTAssertEqual(RLP.encode(.uint(UInt64.max)), unhex("88ffffffffffffffff"))
        XCTAssertEqual(try RLP.decode(unhex("88ffffffffffffffff")).uint64Value(field: "x"), UInt64.max)
        XCTAssertEqual(try RLP.decode(unhex("820400")).uint64Value(field: "x"), 1024)
        XCTAssertEqual(try RLP.decode(unhex("80")).uint64Value(field: "x"), 0)
    }

    func testUInt256Integers() throws {
        XCTAssertEqual(RLP.encode(.uint(UInt256(0))), [0x80])
        XCTAssertEqual(RLP.encode(.uint(UInt256(1_000_000_000_000_000_000))), unhex("880de0b6b3a7640000"))
        let max = [UInt8](repeating: 0xff, count: 32)
        let maxItem = RLPItem.bytes(max)
        XCTAssertEqual(try maxItem.uint256Value(field: "x").bigEndianBytes, max)
        XCTAssertEqual(RLP.encode(.uint(try maxItem.uint256Value(field: "x"))), [0xa0] + max)
        XCTAssertThrowsError(try RLPItem.bytes([1] + max).uint256Value(field: "x"))
    }

    func testIntegerReadersRejectNonCanonicalValues() {
        XCTAssertThrowsError(try RLPItem.bytes([0x00]).uint64Value(field: "nonce"))
        XCTAssertThrowsError(try RLPItem.bytes([0x00, 0x01]).uint64Value(field: "nonce"))
        XCTAssertThrowsError(try RLPItem.bytes([UInt8](repeating: 1, count: 9)).uint64Value(field: "nonce"))
        XCTAssertThrowsError(try RLPItem.list([]).uint64Value(field: "nonce"))
        XCTAssertThrowsError(try RLPItem.bytes([]).listValue(field: "fields"))
        do {
            _ = try RLPItem.bytes([0x00, 0x05]).uint64Value(field: "gas")
            XCTFail("accepted a leading zero")
        } catch {
            XCTAssertTrue(error.message.contains("gas"), error.message)
        }
    }

    func testDecoderRejectsMalformedInput() {
        let bad: [(String, String)] = [
            ("", "empty input"),
            ("8105", "single byte below 0x80 wrapped in a header"),
            ("b80548656c6c6f", "long form for a 5-byte string"),
            ("b9003848", "length with a leading zero"),
            ("83646f", "truncated string"),
            ("c883636174", "truncated list"),
            ("83646f6700", "trailing byte"),
            ("c3836361", "string running past its list"),
            ("bf", "length of length past the end"),
            ("bbffffffff", "length far beyond the input"),
            ("f90000", "list length with a leading zero"),
            ("f83401", "long form for a short list"),
        ]
        for (input, why) in bad {
            XCTAssertThrowsError(try RLP.decode(unhex(input)), why)
        }
        // A hostile blob of nested lists stops at the depth bound instead of exhausting the stack.
        let deep = [UInt8](repeating: 0xc1, count: 1000) + [0xc0]
        XCTAssertThrowsError(try RLP.decode(deep))
        XCTAssertThrowsError(try RLP.decode([UInt8](repeating: 0xc1, count: RLP.maxNestingDepth + 1) + [0xc0]))
        // Any depth up to the bound (transactions need 4) is fine.
        var nested = RLPItem.list([])
        for _ in 0..<(RLP.maxNestingDepth - 1) { nested = .list([nested]) }
        XCTAssertEqual(try RLP.decode(RLP.encode(nested)), nested)
    }
}
