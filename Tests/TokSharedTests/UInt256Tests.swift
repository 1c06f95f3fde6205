import XCTest
@testable import TokShared

/// Fails unless `body` throws a TokError with `code`.
func assertTokError<T>(
    _ code: ErrorCode, _ body: () throws(TokError) -> T,
    _ context: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    do {
        let value = try body()
        XCTFail("expected \(code.rawValue), got \(value) \(context())", file: file, line: line)
    } catch {
        XCTAssertEqual(error.code, code, "\(error.message) \(context())", file: file, line: line)
    }
}

/// Deterministic so a failing random case can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Schoolbook arithmetic on decimal digit strings: slow and obviously right, the reference
/// UInt256 is checked against. Inputs and outputs have no leading zeros ("0" for zero).
enum DecimalReference {
    static func digits(_ s: String) -> [Int] { s.utf8.map { Int($0) - 48 } }

    static func string(_ digits: [Int]) -> String {
        let trimmed = digits.drop { $0 == 0 }
        return trimmed.isEmpty ? "0" : String(trimmed.map { Character(String($0)) })
    }

    static func compare(_ a: String, _ b: String) -> Int {
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        return a == b ? 0 : (a < b ? -1 : 1)
    }

    static func add(_ a: String, _ b: String) -> String {
        var x = Array(digits(a).reversed()), y = Array(digits(b).reversed())
        let n = Swift.max(x.count, y.count) + 1
        x += Array(repeating: 0, count: n - x.count)
        y += Array(repeating: 0, count: n - y.count)
        var out = [Int](), carry = 0
        for i in 0..<n {
            let s = x[i] + y[i] + carry
            out.append(s % 10)
            carry = s / 10
        }
        return string(out.reversed())
    }

    static func subtract(_ a: String, _ b: String) -> String? {
        guard compare(a, b) >= 0 else { return nil }
        let x = Array(digits(a).reversed())
        var y = Array(digits(b).reversed())
        y += Array(repeating: 0, count: x.count - y.count)
        var out = [Int](), borrow = 0
        for i in 0..<x.count {
            var d = x[i] - y[i] - borrow
            borrow = d < 0 ? 1 : 0
            if d < 0 { d += 10 }
            out.append(d)
        }
        return string(out.reversed())
    }

    static func multiply(_ a: String, _ b: String) -> String {
        let x = Array(digits(a).reversed()), y = Array(digits(b).reversed())
        var out = [Int](repeating: 0, count: x.count + y.count + 1)
        for i in 0..<x.count {
            for j in 0..<y.count { out[i + j] += x[i] * y[j] }
        }
        for i in 0..<(out.count - 1) {
            out[i + 1] += out[i] / 10
            out[i] %= 10
        }
        return string(out.reversed())
    }

    /// Long division, one decimal digit of quotient at a time by repeated subtraction.
    static func divide(_ a: String, _ b: String) -> (quotient: String, remainder: String) {
        precondition(b != "0")
        var quotient = [Int](), remainder = "0"
        for digit in digits(a) {
            remainder = add(multiply(remainder, "10"), String(digit))
            var q = 0
            while let next = subtract(remainder, b) {
                remainder = next
                q += 1
            }
            quotient.append(q)
        }
        return (string(quotient), remainder)
    }

    static func power(_ base: String, _ exponent: Int) -> String {
        (0..<exponent).reduce("1") { acc, _ in multiply(acc, base) }
    }

    static let twoTo64 = power("2", 64)
    static let max = subtract(power("2", 256), "1")!

    static func of(_ value: UInt256) -> String {
        [value.limb3, value.limb2, value.limb1, value.limb0].reduce("0") { acc, limb in
            add(multiply(acc, twoTo64), String(limb))
        }
    }
}

final class UInt256Tests: XCTestCase {
    static let maxDecimal = "115792089237316195423570985008687907853269984665640564039457584007913129639935"
    static let twoTo256Decimal = "115792089237316195423570985008687907853269984665640564039457584007913129639936"

    private var rng = SplitMix64(state: 0x70C_5EED)

    /// Random values of random bit width, so small, mid-size and full-width values all occur.
    private func randomValue() -> UInt256 {
        let bits = Int.random(in: 0...256, using: &rng)
        var limbs = (0..<4).map { _ in UInt64.random(in: .min ... .max, using: &rng) }
        for index in 0..<4 {
            let low = index * 64
            if bits <= low {
                limbs[index] = 0
            } else if bits < low + 64 {
                limbs[index] &= (1 << UInt64(bits - low)) - 1
            }
        }
        return UInt256(limb0: limbs[0], limb1: limbs[1], limb2: limbs[2], limb3: limbs[3])
    }

    func testReferenceAgreesWithKnownConstants() {
        XCTAssertEqual(DecimalReference.max, Self.maxDecimal)
        XCTAssertEqual(DecimalReference.of(.max), Self.maxDecimal)
    }

    func testMaxParsesPrintsAndEncodes() throws {
        let max = try UInt256(decimal: Self.maxDecimal)
        XCTAssertEqual(max, .max)
        XCTAssertEqual(max.description, Self.maxDecimal)
        XCTAssertEqual(max.hexQuantity, "0x" + String(repeating: "f", count: 64))
        XCTAssertEqual(max.bigEndianBytes, [UInt8](repeating: 0xFF, count: 32))
        XCTAssertNil(max.adding(UInt256(1)))
        XCTAssertEqual(max.adding(.zero), max)
    }

    func testOverflowIsRejected() {
        assertTokError(.amountOverflow) { () throws(TokError) in try UInt256(decimal: Self.twoTo256Decimal) }
        assertTokError(.amountOverflow) { () throws(TokError) in
            try UInt256(decimal: "1" + String(repeating: "0", count: 78))
        }
        assertTokError(.amountOverflow) { () throws(TokError) in try UInt256(decimal: String(repeating: "9", count: 78))
        }
        assertTokError(.amountOverflow) { () throws(TokError) in try UInt256(decimal: "000" + Self.twoTo256Decimal) }
        assertTokError(.amountOverflow) { () throws(TokError) in
            try UInt256(decimal: String(repeating: "9", count: 200))
        }
    }

    func testPowerOfTwoBoundaries() throws {
        for exponent in [63, 64, 127, 128, 191, 192, 255] {
            let power = DecimalReference.power("2", exponent)
            for text in [DecimalReference.subtract(power, "1")!, power, DecimalReference.add(power, "1")] {
                let value = try UInt256(decimal: text)
                XCTAssertEqual(value.description, text)
                XCTAssertEqual(DecimalReference.of(value), text)
            }
        }
        let twoTo64 = try UInt256(decimal: "18446744073709551616")
        XCTAssertEqual(twoTo64, UInt256(limb0: 0, limb1: 1, limb2: 0, limb3: 0))
        XCTAssertEqual(try UInt256(decimal: "18446744073709551615"), UInt256(.max))
        XCTAssertEqual(
            try UInt256(decimal: "340282366920938463463374607431768211456"),
            UInt256(limb0: 0, limb1: 0, limb2: 1, limb3: 0))
        XCTAssertEqual(twoTo64.hexQuantity, "0x10000000000000000")
    }

    func testTenToThe77() throws {
        let text = "1" + String(repeating: "0", count: 77)
        let value = try UInt256(decimal: text)
        XCTAssertEqual(value.description, text)
        XCTAssertEqual(UInt256(1).multipliedByPowerOfTen(77), value)
        XCTAssertNil(UInt256(1).multipliedByPowerOfTen(78))
        XCTAssertNil(value.multiplied(by: UInt256(2)))
        XCTAssertEqual(value.multiplied(by: UInt256(1)), value)
        XCTAssertEqual(value.dividedByPowerOfTen(77).quotient, UInt256(1))
        XCTAssertEqual(value.dividedByPowerOfTen(77).remainder, .zero)
    }

    func testLeadingZerosAreCanonicalisedAway() throws {
        XCTAssertEqual(try UInt256(decimal: "0"), .zero)
        XCTAssertEqual(try UInt256(decimal: "00"), .zero)
        XCTAssertEqual(try UInt256(decimal: "000123").description, "123")
        XCTAssertEqual(try UInt256(decimal: String(repeating: "0", count: 100) + Self.maxDecimal), .max)
        XCTAssertEqual(UInt256.zero.description, "0")
        XCTAssertTrue(try UInt256(decimal: "0000").isZero)
        XCTAssertFalse(UInt256(1).isZero)
    }

    func testRejectsWithTheActionableCode() {
        let cases: [(String, ErrorCode)] = [
            ("", .amountNotNumeric), ("-", .amountNotNumeric), ("+5", .amountNotNumeric),
            (" 5", .amountNotNumeric), ("5 ", .amountNotNumeric), ("1 000", .amountNotNumeric),
            ("1e3", .amountNotNumeric), ("0x10", .amountNotNumeric), ("1.2.3", .amountNotNumeric),
            ("12a", .amountNotNumeric), ("١٢", .amountNotNumeric), ("1_000", .amountNotNumeric),
            (".", .amountNotNumeric), ("-abc", .amountNotNumeric), ("--5", .amountNotNumeric),
            ("-5", .amountNegative), ("-0", .amountNegative), ("-1.5", .amountNegative),
            ("-" + Self.twoTo256Decimal, .amountNegative),
            ("1.5", .amountFractional), ("1.0", .amountFractional), ("1.000", .amountFractional),
            (".5", .amountFractional), ("5.", .amountFractional), ("0.0", .amountFractional),
        ]
        for (text, code) in cases {
            assertTokError(code, { () throws(TokError) in try UInt256(decimal: text) }, "for \"\(text)\"")
        }
    }

    func testFastPathParser() {
        func parse(_ text: String) -> UInt256? {
            Array(text.utf8).withUnsafeBufferPointer { UInt256(decimalUTF8: $0) }
        }
        XCTAssertEqual(parse("42"), UInt256(42))
        XCTAssertEqual(parse(Self.maxDecimal), .max)
        XCTAssertNil(parse(""))
        XCTAssertNil(parse("-1"))
        XCTAssertNil(parse("1.0"))
        XCTAssertNil(parse(Self.twoTo256Decimal))
        XCTAssertNil(parse("12x"))
    }

    func testParsesSubstrings() throws {
        let line = "amount=12345678901234567890123;"
        let digits = line.dropFirst(7).dropLast()
        XCTAssertEqual(try UInt256(decimal: digits).description, "12345678901234567890123")
    }

    func testRandomRoundTripsAgainstReference() throws {
        for _ in 0..<300 {
            let value = randomValue()
            let reference = DecimalReference.of(value)
            XCTAssertEqual(value.description, reference)
            XCTAssertEqual(try UInt256(decimal: reference), value)
            XCTAssertEqual(try UInt256(decimal: "0000" + reference), value)
            XCTAssertEqual(UInt256(hex: value.hexQuantity), value)
            XCTAssertEqual(UInt256(bigEndian32: value.bigEndianBytes), value)
        }
    }

    func testAddSubtractMultiplyAgainstReference() {
        for _ in 0..<150 {
            let a = randomValue(), b = randomValue()
            let ra = DecimalReference.of(a), rb = DecimalReference.of(b)

            let sum = DecimalReference.add(ra, rb)
            if DecimalReference.compare(sum, DecimalReference.max) > 0 {
                XCTAssertNil(a.adding(b))
            } else {
                XCTAssertEqual(a.adding(b)?.description, sum)
            }

            XCTAssertEqual(a.subtracting(b)?.description, DecimalReference.subtract(ra, rb))

            let product = DecimalReference.multiply(ra, rb)
            if DecimalReference.compare(product, DecimalReference.max) > 0 {
                XCTAssertNil(a.multiplied(by: b), "\(ra) × \(rb)")
            } else {
                XCTAssertEqual(a.multiplied(by: b)?.description, product)
            }

            XCTAssertEqual(a < b, DecimalReference.compare(ra, rb) < 0)
            XCTAssertEqual(a == b, ra == rb)
        }
    }

    func testMultiplyOverflowEdges() {
        let twoTo128 = UInt256(limb0: 0, limb1: 0, limb2: 1, limb3: 0)
        XCTAssertNil(twoTo128.multiplied(by: twoTo128))
        let twoTo127 = UInt256(limb0: 0, limb1: 1 << 63, limb2: 0, limb3: 0)
        XCTAssertEqual(twoTo127.multiplied(by: twoTo128), UInt256(limb0: 0, limb1: 0, limb2: 0, limb3: 1 << 63))
        XCTAssertNil(UInt256.max.multiplied(by: UInt256(2)))
        XCTAssertEqual(UInt256.max.multiplied(by: UInt256(1)), .max)
        XCTAssertEqual(UInt256.max.multiplied(by: .zero), .zero)
        XCTAssertEqual(UInt256.zero.multiplied(by: .max), .zero)
        // Carry out of the top limb with no partial product above it.
        let topHalf = UInt256(limb0: 0, limb1: 0, limb2: 0, limb3: 1 << 63)
        XCTAssertNil(topHalf.multiplied(by: UInt256(2)))
        XCTAssertNil(UInt256.zero.subtracting(UInt256(1)))
    }

    func testDivisionAgainstReference() {
        let divisors: [UInt64] = [1, 3, 10, 10_000, 1_000_000_007, 10_000_000_000_000_000_000, .max]
        for _ in 0..<40 {
            let value = randomValue()
            let reference = DecimalReference.of(value)
            for divisor in divisors + [UInt64.random(in: 1 ... .max, using: &rng)] {
                let (quotient, remainder) = value.divided(by: divisor)
                let expected = DecimalReference.divide(reference, String(divisor))
                XCTAssertEqual(quotient.description, expected.quotient)
                XCTAssertEqual(String(remainder), expected.remainder)
            }
        }
    }

    func testPowersOfTenAgainstReference() {
        for _ in 0..<60 {
            let value = randomValue()
            let reference = DecimalReference.of(value)
            let exponent = Int.random(in: 0...80, using: &rng)

            let (quotient, remainder) = value.dividedByPowerOfTen(exponent)
            let expected = DecimalReference.divide(reference, DecimalReference.power("10", exponent))
            XCTAssertEqual(quotient.description, expected.quotient)
            XCTAssertEqual(remainder.description, expected.remainder)

            let scaled = DecimalReference.multiply(reference, DecimalReference.power("10", exponent))
            if DecimalReference.compare(scaled, DecimalReference.max) > 0 {
                XCTAssertNil(value.multipliedByPowerOfTen(exponent))
            } else {
                XCTAssertEqual(value.multipliedByPowerOfTen(exponent)?.description, scaled)
            }
        }
        XCTAssertEqual(UInt256.max.dividedByPowerOfTen(78).quotient, .zero)
        XCTAssertEqual(UInt256.max.dividedByPowerOfTen(1000).remainder, .max)
        XCTAssertEqual(UInt256.max.multipliedByPowerOfTen(0), .max)
        XCTAssertEqual(UInt256.zero.multipliedByPowerOfTen(500), .zero)
    }

    func testConvertExactly() throws {
        let oneEther = try UInt256(decimal: "1000000000000000000")
        XCTAssertEqual(UInt256.convertExactly(oneEther, fromDecimals: 18, toDecimals: 8), UInt256(100_000_000))
        XCTAssertEqual(UInt256.convertExactly(UInt256(100_000_000), fromDecimals: 8, toDecimals: 18), oneEther)
        XCTAssertNil(UInt256.convertExactly(oneEther.adding(UInt256(1))!, fromDecimals: 18, toDecimals: 8))
        XCTAssertNil(UInt256.convertExactly(UInt256(9_999_999_999), fromDecimals: 18, toDecimals: 8))
        XCTAssertEqual(UInt256.convertExactly(UInt256(10_000_000_000), fromDecimals: 18, toDecimals: 8), UInt256(1))
        XCTAssertEqual(UInt256.convertExactly(.max, fromDecimals: 6, toDecimals: 6), .max)
        XCTAssertNil(UInt256.convertExactly(.max, fromDecimals: 0, toDecimals: 1))
        XCTAssertEqual(UInt256.convertExactly(.zero, fromDecimals: 0, toDecimals: 200), .zero)
        XCTAssertNil(UInt256.convertExactly(UInt256(1), fromDecimals: -1, toDecimals: 8))
        XCTAssertNil(UInt256.convertExactly(UInt256(1), fromDecimals: 8, toDecimals: -1))
    }

    func testBasisPoints() throws {
        XCTAssertEqual(UInt256.max.basisPoints(10_000), .max)
        XCTAssertEqual(
            UInt256.max.basisPoints(5_000).description,
            DecimalReference.divide(Self.maxDecimal, "2").quotient)
        XCTAssertEqual(UInt256.max.basisPoints(0), .zero)
        XCTAssertEqual(UInt256(1).basisPoints(9_999), .zero)
        XCTAssertEqual(UInt256(10_000).basisPoints(30), UInt256(30))
        XCTAssertEqual(UInt256(3_333).basisPoints(3), UInt256(0))
        XCTAssertEqual(UInt256(3_334).basisPoints(3), UInt256(1))
        for _ in 0..<60 {
            let value = randomValue()
            let bps = UInt64.random(in: 0...10_000, using: &rng)
            let expected = DecimalReference.divide(
                DecimalReference.multiply(DecimalReference.of(value), String(bps)), "10000"
            ).quotient
            XCTAssertEqual(value.basisPoints(bps).description, expected)
        }
    }

    func testHexQuantities() {
        XCTAssertNil(UInt256(hex: ""))
        XCTAssertNil(UInt256(hex: "0x"))
        XCTAssertNil(UInt256(hex: "ff"))
        XCTAssertNil(UInt256(hex: "0X10"))
        XCTAssertNil(UInt256(hex: "0xg"))
        XCTAssertNil(UInt256(hex: "0x-1"))
        XCTAssertNil(UInt256(hex: "0x1" + String(repeating: "0", count: 64)))
        XCTAssertEqual(UInt256(hex: "0x0"), .zero)
        XCTAssertEqual(UInt256(hex: "0x00ff"), UInt256(255))
        XCTAssertEqual(UInt256(hex: "0xFF"), UInt256(255))
        XCTAssertEqual(UInt256(hex: "0x" + String(repeating: "F", count: 64)), .max)
        XCTAssertEqual(UInt256(hex: "0x0000" + String(repeating: "f", count: 64)), .max)
        XCTAssertEqual(UInt256(hex: "0xde0b6b3a7640000")?.description, "1000000000000000000")
        XCTAssertEqual(UInt256.zero.hexQuantity, "0x0")
        XCTAssertEqual(UInt256(255).hexQuantity, "0xff")
        XCTAssertEqual(UInt256(1).hexQuantity, "0x1")
    }

    func testBigEndianWords() {
        XCTAssertNil(UInt256(bigEndian32: [UInt8](repeating: 0, count: 31)))
        XCTAssertNil(UInt256(bigEndian32: [UInt8](repeating: 0, count: 33)))
        XCTAssertEqual(UInt256(bigEndian32: [UInt8](repeating: 0, count: 31) + [1]), UInt256(1))
        let counting = (0..<32).map { UInt8($0) }
        let value = UInt256(bigEndian32: counting)!
        XCTAssertEqual(value.limb3, 0x0001_0203_0405_0607)
        XCTAssertEqual(value.limb0, 0x1819_1A1B_1C1D_1E1F)
        XCTAssertEqual(value.bigEndianBytes, counting)
        XCTAssertEqual(UInt256(bigEndian32: counting[...]), value)
        XCTAssertEqual(UInt256.zero.bigEndianBytes, [UInt8](repeating: 0, count: 32))
    }

    func testOrderingAcrossLimbs() {
        let ascending = [
            UInt256.zero, UInt256(1), UInt256(.max),
            UInt256(limb0: 0, limb1: 1, limb2: 0, limb3: 0),
            UInt256(limb0: .max, limb1: .max, limb2: 0, limb3: 0),
            UInt256(limb0: 0, limb1: 0, limb2: 1, limb3: 0),
            UInt256(limb0: 0, limb1: 0, limb2: 0, limb3: 1),
            UInt256.max,
        ]
        XCTAssertEqual(ascending.shuffled(using: &rng).sorted(), ascending)
        XCTAssertEqual(Set(ascending + ascending).count, ascending.count)
    }
}
