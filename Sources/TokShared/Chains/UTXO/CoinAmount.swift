/// Exact conversion between the decimal coin amounts Bitcoin-family RPC prints ("0.01000000")
/// and base units (koinu, litoshi, satoshi). Nothing here goes through a Double: a Double holds
/// integers exactly only to 2^53, and Dogecoin's MAX_MONEY is 10^18 koinu.
public enum CoinAmount {
    /// Longest amount text accepted. "10000000000.00000000" (Dogecoin's MAX_MONEY) is 20
    /// characters; the bound keeps every loop here short whatever a peer sends.
    public static let maxTextLength = 64

    /// The amount that `text` names in units of 10^-decimals, exactly. The text is a JSON
    /// number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. Exponent forms are
    /// handled exactly ("1e-8" with 8 decimals is 1). Fraction digits beyond `decimals` are
    /// accepted only when they are zeros, since the value is still exact.
    ///
    /// Errors: not a number → .amountNotNumeric; a minus sign on a nonzero value →
    /// .amountNegative; a nonzero digit below 10^-decimals → .amountNotExact; above
    /// `maxBaseUnits` (the chain's MAX_MONEY) or 2^64-1 → .amountOverflow.
    public static func baseUnits(
        fromDecimalText text: some StringProtocol, decimals: Int, maxBaseUnits: UInt64 = .max
    ) throws(TokError) -> UInt64 {
        precondition((0...18).contains(decimals), "decimals must be 0...18, got \(decimals)")
        let result = UTF8Scan.withBytes(text) { utf8 -> Result<UInt64, TokError> in
            guard utf8.count <= maxTextLength else {
                return .failure(TokError(.amountNotNumeric, "amount text is longer than \(maxTextLength) characters"))
            }
            guard let number = JSONNumberGrammar.scan(utf8, 0, utf8.count), number.end == utf8.count else {
                return .failure(
                    TokError(
                        .amountNotNumeric,
                        "amount is not a decimal number like 0.01000000 (JSON number syntax, no spaces)"))
            }
            return scaled(number, utf8, decimals: decimals, maxBaseUnits: maxBaseUnits)
        }
        return try result.get()
    }

    /// `baseUnits(fromDecimalText:decimals:maxBaseUnits:)` with the chain's decimals and MAX_MONEY.
    public static func baseUnits(
        fromDecimalText text: some StringProtocol, chain: UTXOChainParameters
    ) throws(TokError) -> UInt64 {
        try baseUnits(fromDecimalText: text, decimals: chain.coinDecimals, maxBaseUnits: chain.maxMoneyBaseUnits)
    }

    /// The reverse: always exactly `decimals` fraction digits, as Core prints amounts
    /// (100000000 with 8 decimals is "1.00000000"; with 0 decimals there is no point).
    public static func decimalText(baseUnits: UInt64, decimals: Int) -> String {
        precondition((0...18).contains(decimals), "decimals must be 0...18, got \(decimals)")
        guard decimals > 0 else { return String(baseUnits) }
        let unit = powerOfTen(decimals)
        let fraction = String(baseUnits % unit)
        return "\(baseUnits / unit)." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }

    /// 10^exponent for exponent 0...19 (10^19 is the largest power of ten below 2^64).
    private static func powerOfTen(_ exponent: Int) -> UInt64 {
        var value: UInt64 = 1
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// value = digits × 10^(exponent − fraction digits + decimals), computed without rounding.
    private static func scaled(
        _ number: JSONNumberGrammar.Number, _ utf8: UnsafeBufferPointer<UInt8>, decimals: Int, maxBaseUnits: UInt64
    ) -> Result<UInt64, TokError> {
        // The significant digits are the integer digits followed by the fraction digits.
        var digits: [UInt8] = []
        digits.reserveCapacity(number.integerDigits.count + number.fractionDigits.count)
        for index in number.integerDigits { digits.append(utf8[index] - UInt8(ascii: "0")) }
        for index in number.fractionDigits { digits.append(utf8[index] - UInt8(ascii: "0")) }
        // Both terms are bounded (text ≤ 64 characters, exponent saturated at ±10,000).
        let scale = decimals + number.exponent - number.fractionDigits.count
        var kept = digits.count
        if scale < 0 {
            // Digits below the smallest base unit must all be zero for the value to be exact.
            kept = max(0, digits.count + scale)
            if digits[kept...].contains(where: { $0 != 0 }) {
                return .failure(
                    TokError(
                        .amountNotExact,
                        "amount has a nonzero digit below 10^-\(decimals), the smallest unit of this coin"))
            }
        }
        let isZero = !digits[0..<kept].contains { $0 != 0 }
        if isZero { return .success(0) }
        if number.negative {
            return .failure(TokError(.amountNegative, "amount is negative"))
        }
        let overflow = TokError(
            .amountOverflow,
            "amount exceeds the largest allowed (\(decimalText(baseUnits: maxBaseUnits, decimals: decimals)))")
        var value: UInt64 = 0
        for digit in digits[0..<kept] {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            if overflow1 || overflow2 { return .failure(overflow) }
            value = sum
        }
        // Nonzero here, so more than 19 extra zeros cannot fit in 64 bits.
        if scale > 0 {
            guard scale <= 19 else { return .failure(overflow) }
            let (product, overflowed) = value.multipliedReportingOverflow(by: powerOfTen(scale))
            if overflowed { return .failure(overflow) }
            value = product
        }
        guard value <= maxBaseUnits else { return .failure(overflow) }
        return .success(value)
    }
}

/// Rewrites JSON text so that every number outside strings becomes a string with the same
/// characters: `{"value": 0.01000000, "n": 1}` → `{"value": "0.01000000", "n": "1"}`.
/// Core prints amounts as 8-decimal JSON numbers; after this rewrite jansson hands tok their
/// exact text, which CoinAmount converts without ever producing a Double.
///
/// The scan is one pass over bytes with two states (in a string or not); escapes inside strings
/// are skipped as a backslash plus the next byte, which is enough since no escape sequence
/// contains a quote after its first byte. Everything else is copied unchanged, so structural
/// errors are left for the JSON parser to report; a number token that breaks JSON's number
/// syntax (e.g. "01", "1.", "-") is refused here, since quoting it would hide it from that parser.
public enum JSONNumberText {
    /// RPC answers tok reads (a block with `getblock <hash> true`, a raw transaction) are far
    /// smaller; the bound is on memory, since the output is at most twice the input.
    public static let defaultMaxBytes = 32 << 20

    public static func quotingNumbers(_ json: [UInt8], maxBytes: Int = defaultMaxBytes) throws(TokError) -> [UInt8] {
        let result = json.withUnsafeBufferPointer { quote($0, maxBytes: maxBytes) }
        return try result.get()
    }

    public static func quotingNumbers(_ json: String, maxBytes: Int = defaultMaxBytes) throws(TokError) -> String {
        let result = UTF8Scan.withBytes(json) { quote($0, maxBytes: maxBytes) }
        return String(decoding: try result.get(), as: UTF8.self)
    }

    private static func quote(_ utf8: UnsafeBufferPointer<UInt8>, maxBytes: Int) -> Result<[UInt8], TokError> {
        guard utf8.count <= maxBytes else {
            return .failure(TokError(.lineTooLong, "JSON text is \(utf8.count) bytes; at most \(maxBytes) are read"))
        }
        let quote = UInt8(ascii: "\"")
        let backslash = UInt8(ascii: "\\")
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count + utf8.count / 4)
        var index = 0
        var inString = false
        while index < utf8.count {
            let byte = utf8[index]
            if inString {
                out.append(byte)
                if byte == backslash {
                    guard index + 1 < utf8.count else { break }  // reported below as unterminated
                    out.append(utf8[index + 1])
                    index += 2
                    continue
                }
                if byte == quote { inString = false }
                index += 1
            } else if byte == quote {
                inString = true
                out.append(byte)
                index += 1
            } else if byte == UInt8(ascii: "-") || UTF8Scan.isDigit(byte) {
                // The token runs over every byte a JSON number may contain; it must then be
                // exactly one number.
                var end = index
                while end < utf8.count, JSONNumberGrammar.isNumberByte(utf8[end]) { end += 1 }
                guard let number = JSONNumberGrammar.scan(utf8, index, end), number.end == end else {
                    return .failure(TokError(.malformedJSON, "invalid JSON number at byte \(index)"))
                }
                out.append(quote)
                out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[index..<end]))
                out.append(quote)
                index = end
            } else {
                out.append(byte)
                index += 1
            }
        }
        if inString {
            return .failure(TokError(.malformedJSON, "JSON text ends inside a string"))
        }
        return .success(out)
    }
}

/// JSON's number syntax (RFC 8259 §6), shared by the amount parser and the quoting rewrite.
enum JSONNumberGrammar {
    struct Number {
        var negative: Bool
        /// Byte ranges of the digits before and after the decimal point (the latter may be empty).
        var integerDigits: Range<Int>
        var fractionDigits: Range<Int>
        /// The exponent's value, saturated at ±10,000 (enough to make any nonzero amount
        /// overflow or be inexact, and no text this short can need more).
        var exponent: Int
        /// Index just past the number.
        var end: Int
    }

    static let maxExponentMagnitude = 10_000

    @inline(__always)
    static func isNumberByte(_ byte: UInt8) -> Bool {
        UTF8Scan.isDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: ".") || byte | 0x20 == UInt8(ascii: "e")
    }

    /// The longest number starting at `start` that ends by `end`, or nil when none starts there.
    static func scan(_ utf8: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Number? {
        var index = start
        let negative = index < end && utf8[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        let integerStart = index
        guard index < end, UTF8Scan.isDigit(utf8[index]) else { return nil }
        if utf8[index] == UInt8(ascii: "0") {
            index += 1  // a leading zero stands alone: "01" is not a JSON number
            if index < end, UTF8Scan.isDigit(utf8[index]) { return nil }
        } else {
            while index < end, UTF8Scan.isDigit(utf8[index]) { index += 1 }
        }
        let integerDigits = integerStart..<index
        var fractionDigits = index..<index
        if index < end, utf8[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            while index < end, UTF8Scan.isDigit(utf8[index]) { index += 1 }
            guard index > fractionStart else { return nil }
            fractionDigits = fractionStart..<index
        }
        var exponent = 0
        if index < end, utf8[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            var exponentNegative = false
            if index < end, utf8[index] == UInt8(ascii: "-") || utf8[index] == UInt8(ascii: "+") {
                exponentNegative = utf8[index] == UInt8(ascii: "-")
                index += 1
            }
            let exponentStart = index
            while index < end, UTF8Scan.isDigit(utf8[index]) {
                exponent = min(exponent * 10 + Int(utf8[index] - UInt8(ascii: "0")), maxExponentMagnitude)
                index += 1
            }
            guard index > exponentStart else { return nil }
            if exponentNegative { exponent = -exponent }
        }
        return Number(
            negative: negative, integerDigits: integerDigits, fractionDigits: fractionDigits,
            exponent: exponent, end: index)
    }
}
