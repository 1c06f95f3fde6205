import XCTest
@testable import TokShared

final class CoinAmountTests: XCTestCase {
    private func units(_ text: String, decimals: Int = 8, max: UInt64 = .max) throws -> UInt64 {
        try CoinAmount.baseUnits(fromDecimalText: text, decimals: decimals, maxBaseUnits: max)
    }

    private func assertCode(
        _ text: String, _ code: ErrorCode, decimals: Int = 8, max: UInt64 = .max,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try units(text, decimals: decimals, max: max), text, file: file, line: line) { error in
            XCTAssertEqual((error as? TokError)?.code, code, "\(text): \(error)", file: file, line: line)
        }
    }

    func testCoreStyleAmounts() throws {
        XCTAssertEqual(try units("0.01000000"), 1_000_000)
        XCTAssertEqual(try units("0.00000001"), 1)
        XCTAssertEqual(try units("12.3456789"), 1_234_567_890)
        XCTAssertEqual(try units("87.65"), 8_765_000_000)
        XCTAssertEqual(try units("1"), 100_000_000)
        XCTAssertEqual(try units("0"), 0)
        XCTAssertEqual(try units("0.0"), 0)
        XCTAssertEqual(try units("-0"), 0)
        XCTAssertEqual(try units("-0.00000000"), 0)
        // Dogecoin's MAX_MONEY, 10 billion DOGE, is beyond a Double's exact range in koinu.
        XCTAssertEqual(
            try CoinAmount.baseUnits(fromDecimalText: "10000000000.00000000", chain: UTXOChains.dogecoinMainnet),
            1_000_000_000_000_000_000)
        XCTAssertEqual(try units("9999999999.99999999"), 999_999_999_999_999_999)
        // A value a Double would round: 2^53 + 1 base units.
        XCTAssertEqual(try units("90071992.54740993"), 9_007_199_254_740_993)
    }

    func testExponentFormsAreExact() throws {
        XCTAssertEqual(try units("1e-8"), 1)
        XCTAssertEqual(try units("1E-8"), 1)
        XCTAssertEqual(try units("1.5e2"), 15_000_000_000)
        XCTAssertEqual(try units("1e+2"), 10_000_000_000)
        XCTAssertEqual(try units("0.1e-7"), 1)
        XCTAssertEqual(try units("100e-10"), 1)
        XCTAssertEqual(try units("0e99999999"), 0)
        XCTAssertEqual(try units("0e-99999999"), 0)
        assertCode("1e-9", .amountNotExact)
        assertCode("1e99999999", .amountOverflow)
        assertCode("1e-99999999", .amountNotExact)
    }

    func testFractionDigitsBeyondTheCoin() throws {
        // Trailing zeros past the 8th digit keep the value exact.
        XCTAssertEqual(try units("0.010000000000"), 1_000_000)
        assertCode("0.000000001", .amountNotExact)
        assertCode("0.123456789", .amountNotExact)
        assertCode("1.5", .amountNotExact, decimals: 0)
        XCTAssertEqual(try units("15", decimals: 0), 15)
        XCTAssertEqual(try units("1.000000000000000001", decimals: 18), 1_000_000_000_000_000_001)
    }

    func testNegativeAmounts() {
        assertCode("-1", .amountNegative)
        assertCode("-0.00000001", .amountNegative)
        assertCode("-1e-8", .amountNegative)
    }

    func testOverflowAndMaxMoney() throws {
        XCTAssertEqual(try units("184467440737.09551615"), .max)
        assertCode("184467440737.09551616", .amountOverflow)
        assertCode("1000000000000000000000", .amountOverflow)
        let litecoin = UTXOChains.litecoinRegtest
        XCTAssertEqual(try CoinAmount.baseUnits(fromDecimalText: "84000000", chain: litecoin), 8_400_000_000_000_000)
        XCTAssertThrowsError(try CoinAmount.baseUnits(fromDecimalText: "84000000.00000001", chain: litecoin)) { error in
            XCTAssertEqual((error as? TokError)?.code, .amountOverflow)
            XCTAssertTrue((error as? TokError)?.message.contains("84000000.00000000") ?? false)
        }
    }

    func testNotNumbers() {
        for text in [
            "", " 1", "1 ", "+1", "01", "00.1", "1.", ".5", "-", "1e", "1e+", "0x10", "1,5", "1_000",
            "NaN", "Infinity", "١", "1.2.3", "--1", "\"1\"", String(repeating: "1", count: 65),
        ] {
            assertCode(text, .amountNotNumeric)
        }
    }

    func testDecimalText() {
        XCTAssertEqual(CoinAmount.decimalText(baseUnits: 1_000_000, decimals: 8), "0.01000000")
        XCTAssertEqual(CoinAmount.decimalText(baseUnits: 0, decimals: 8), "0.00000000")
        XCTAssertEqual(CoinAmount.decimalText(baseUnits: 1, decimals: 8), "0.00000001")
        XCTAssertEqual(CoinAmount.decimalText(baseUnits: 1_234_567_890, decimals: 8), "12.34567890")
        XCTAssertEqual(
            CoinAmount.decimalText(baseUnits: 1_000_000_000_000_000_000, decimals: 8), "10000000000.00000000")
        XCTAssertEqual(CoinAmount.decimalText(baseUnits: .max, decimals: 8), "184467440737.09551615")
        XCTAssertEqual(CoinAmount.decimalText(baseUnits: .max, decimals: 18), "18.446744073709551615")
        XCTAssertEqual(CoinAmount.decimalText(baseUnits: 42, decimals: 0), "42")
    }

    func testRoundTripsRandomValues() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let value =
                UInt64.random(in: 0...UInt64.max, using: &generator) >> UInt64.random(in: 0...63, using: &generator)
            let decimals = Int.random(in: 0...18, using: &generator)
            let text = CoinAmount.decimalText(baseUnits: value, decimals: decimals)
            XCTAssertEqual(try units(text, decimals: decimals), value, text)
        }
    }
}

final class JSONNumberTextTests: XCTestCase {
    private func rewrite(_ text: String) throws -> String { try JSONNumberText.quotingNumbers(text) }

    func testNumbersBecomeStringsWithTheSameCharacters() throws {
        XCTAssertEqual(try rewrite(#"{"value": 0.01000000, "n": 1}"#), #"{"value": "0.01000000", "n": "1"}"#)
        XCTAssertEqual(try rewrite("[1,-2.5e-3,0,1E+10]"), #"["1","-2.5e-3","0","1E+10"]"#)
        XCTAssertEqual(try rewrite("42"), #""42""#)
        XCTAssertEqual(try rewrite(" \n\t-0 "), " \n\t\"-0\" ")
        XCTAssertEqual(try rewrite(#"{"a":true,"b":false,"c":null,"d":[]}"#), #"{"a":true,"b":false,"c":null,"d":[]}"#)
    }

    func testStringsAreLeftAlone() throws {
        let unchanged = [
            #"{"hex": "0100000001", "txid": "12ab", "x": "1.5"}"#,
            #"{"quote": "say \"1\" twice", "slash": "a\\", "n": "\\\"2\""}"#,
            #"{"unicode": "\u0031\u0032", "emoji": "🐕 42"}"#,
            #"["\\\\", "-1", "e5"]"#,
        ]
        for text in unchanged {
            XCTAssertEqual(try rewrite(text), text)
        }
        XCTAssertEqual(try rewrite(#"{"s": "a\\", "v": 7}"#), #"{"s": "a\\", "v": "7"}"#)
        XCTAssertEqual(try rewrite(#"{"s\"": 3}"#), #"{"s\"": "3"}"#)
    }

    func testACoreAnswerParsesWithoutDoubles() throws {
        // The shape of `listunspent` / `getrawtransaction <txid> true` output.
        let answer =
            #"{"result":{"vout":[{"value":12.34567890,"n":0},{"value":87.65000000,"n":1}],"confirmations":3},"error":null,"id":"1"}"#
        let rewritten = try rewrite(answer)
        let parsed = try JSONSerialization.jsonObject(with: Data(rewritten.utf8)) as! [String: Any]
        let result = parsed["result"] as! [String: Any]
        let outputs = result["vout"] as! [[String: Any]]
        XCTAssertEqual(outputs[0]["value"] as? String, "12.34567890")
        XCTAssertEqual(
            try CoinAmount.baseUnits(fromDecimalText: outputs[1]["value"] as! String, decimals: 8), 8_765_000_000)
        XCTAssertEqual(result["confirmations"] as? String, "3")
    }

    func testMalformedInput() {
        for text in [
            #"{"a": "unterminated}"#, #"{"a": "\"#, "[01]", "[1.]", "[-]", "[1e]", "[1.2.3]", "[--1]", "[1-2]",
        ] {
            XCTAssertThrowsError(try rewrite(text), text) { error in
                XCTAssertEqual((error as? TokError)?.code, .malformedJSON, text)
            }
        }
        // '.' cannot start a JSON number, so it is copied as structure for the JSON parser to
        // refuse; the "5" after it is a number of its own.
        XCTAssertEqual(try? rewrite("[.5]"), #"[."5"]"#)
        XCTAssertThrowsError(try JSONSerialization.jsonObject(with: Data(#"[."5"]"#.utf8)))
    }

    func testBoundedInput() {
        XCTAssertThrowsError(try JSONNumberText.quotingNumbers("[1,2,3]", maxBytes: 6)) { error in
            XCTAssertEqual((error as? TokError)?.code, .lineTooLong)
        }
        XCTAssertEqual(try JSONNumberText.quotingNumbers(Array("[1]".utf8), maxBytes: 3), Array(#"["1"]"#.utf8))
    }
}
