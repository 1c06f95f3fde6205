/// An unsigned 256-bit integer: Ethereum's uint256, the range every tok amount lives in.
/// Amounts are always base units (wei, koinu), never floating point: a Double is exact only
/// to 2^53 and 1 ETH is already 10^18 wei.
public struct UInt256: Hashable, Comparable, Sendable, CustomStringConvertible {
    // Least significant limb first, so limb i carries weight 2^(64·i).
    var limb0: UInt64
    var limb1: UInt64
    var limb2: UInt64
    var limb3: UInt64

    init(limb0: UInt64, limb1: UInt64, limb2: UInt64, limb3: UInt64) {
        self.limb0 = limb0
        self.limb1 = limb1
        self.limb2 = limb2
        self.limb3 = limb3
    }

    public static let zero = UInt256(0)
    public static let max = UInt256(limb0: .max, limb1: .max, limb2: .max, limb3: .max)

    public init(_ value: UInt64) {
        self.init(limb0: value, limb1: 0, limb2: 0, limb3: 0)
    }

    public var isZero: Bool {
        (limb0 | limb1 | limb2 | limb3) == 0
    }

    public static func < (lhs: UInt256, rhs: UInt256) -> Bool {
        if lhs.limb3 != rhs.limb3 { return lhs.limb3 < rhs.limb3 }
        if lhs.limb2 != rhs.limb2 { return lhs.limb2 < rhs.limb2 }
        if lhs.limb1 != rhs.limb1 { return lhs.limb1 < rhs.limb1 }
        return lhs.limb0 < rhs.limb0
    }

    /// 2^256 - 1 has 78 decimal digits, so no value needs more.
    static let maxDecimalDigits = 78
    /// 10^19 is the largest power of ten below 2^64: decimal text is handled 19 digits at a time.
    static let digitsPerChunk = 19
    private static let powersOfTen64: [UInt64] = [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
        10_000_000_000, 100_000_000_000, 1_000_000_000_000, 10_000_000_000_000,
        100_000_000_000_000, 1_000_000_000_000_000, 10_000_000_000_000_000,
        100_000_000_000_000_000, 1_000_000_000_000_000_000, 10_000_000_000_000_000_000,
    ]

    // MARK: Decimal text

    /// The canonical amount parser: base units as ASCII digits. Leading zeros are accepted and
    /// dropped (the bound is on the value, not the text length, which the line limit caps).
    /// Everything else is rejected with the code a sender can act on.
    public init(decimal text: some StringProtocol) throws(TokError) {
        let parsed = UTF8Scan.withBytes(text) { utf8 -> Result<UInt256, TokError> in
            if let value = UInt256(decimalUTF8: utf8) { return .success(value) }
            return .failure(UInt256.decimalError(utf8))
        }
        self = try parsed.get()
    }

    /// The hot-path parser: nil for anything but 1 or more ASCII digits whose value fits.
    /// Callers that need to say why use `init(decimal:)`.
    public init?(decimalUTF8 utf8: UnsafeBufferPointer<UInt8>) {
        let count = utf8.count
        guard count > 0 else { return nil }
        var index = 0
        while index < count, utf8[index] == UInt8(ascii: "0") { index += 1 }
        guard count - index <= UInt256.maxDecimalDigits else { return nil }
        var value = UInt256.zero
        // A short first chunk makes every later chunk exactly 19 digits.
        var chunkEnd = index + (count - index) % UInt256.digitsPerChunk
        if chunkEnd == index { chunkEnd += UInt256.digitsPerChunk }
        while index < count {
            var chunk: UInt64 = 0
            let chunkLength = chunkEnd - index
            while index < chunkEnd {
                let digit = utf8[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                chunk = chunk &* 10 &+ UInt64(digit)
                index += 1
            }
            guard value.multiplyAdd(UInt256.powersOfTen64[chunkLength], chunk) else { return nil }
            chunkEnd += UInt256.digitsPerChunk
        }
        self = value
    }

    /// Why `init?(decimalUTF8:)` refused the text. Only called on failure, so clarity over speed.
    private static func decimalError(_ utf8: UnsafeBufferPointer<UInt8>) -> TokError {
        guard !utf8.isEmpty else {
            return TokError(.amountNotNumeric, "amount is empty; send base units as a decimal string")
        }
        let negative = utf8[0] == UInt8(ascii: "-")
        var digitCount = 0
        var dotCount = 0
        var otherCount = 0
        for byte in utf8.dropFirst(negative ? 1 : 0) {
            if UTF8Scan.isDigit(byte) {
                digitCount += 1
            } else if byte == UInt8(ascii: ".") {
                dotCount += 1
            } else {
                otherCount += 1
            }
        }
        // Sign and fraction are reported only for otherwise well-formed numbers, so "-abc"
        // and "1.2.3" are plainly not numbers.
        guard digitCount > 0, dotCount <= 1, otherCount == 0 else {
            return TokError(
                .amountNotNumeric,
                "amount must be base units as ASCII decimal digits only (no sign, spaces, exponent or hex)")
        }
        if negative {
            return TokError(.amountNegative, "amount must not be negative")
        }
        if dotCount == 1 {
            return TokError(.amountFractional, "amount must be a whole number of base units (no decimal point)")
        }
        return TokError(.amountOverflow, "amount exceeds 2^256-1")
    }

    /// Canonical decimal: no leading zeros, "0" for zero.
    public var description: String {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 5) { chunks in
            var rest = self
            var chunkCount = 0
            repeat {
                let (quotient, remainder) = rest.divided(by: UInt256.powersOfTen64[UInt256.digitsPerChunk])
                chunks[chunkCount] = remainder
                chunkCount += 1
                rest = quotient
            } while !rest.isZero
            var topDigits = 1
            var top = chunks[chunkCount - 1]
            while top >= 10 {
                top /= 10
                topDigits += 1
            }
            let length = topDigits + UInt256.digitsPerChunk * (chunkCount - 1)
            return String(unsafeUninitializedCapacity: length) { out in
                var position = length
                for chunkIndex in 0..<chunkCount {
                    var chunk = chunks[chunkIndex]
                    let digits = chunkIndex == chunkCount - 1 ? topDigits : UInt256.digitsPerChunk
                    for _ in 0..<digits {
                        position -= 1
                        out[position] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: chunk % 10)
                        chunk /= 10
                    }
                }
                return length
            }
        }
    }

    // MARK: Hex and bytes

    /// A JSON-RPC quantity: "0x" then 1 to 64 significant hex digits of either case
    /// (leading zeros tolerated). nil for "", "0x", a missing prefix or a value beyond 2^256-1.
    public init?(hex text: some StringProtocol) {
        guard let value = UTF8Scan.withBytes(text, { UInt256(hexUTF8: $0) }) else { return nil }
        self = value
    }

    private init?(hexUTF8 utf8: UnsafeBufferPointer<UInt8>) {
        let count = utf8.count
        guard count > 2, utf8[0] == UInt8(ascii: "0"), utf8[1] == UInt8(ascii: "x") else { return nil }
        var index = 2
        while index < count, utf8[index] == UInt8(ascii: "0") { index += 1 }
        guard count - index <= 64 else { return nil }
        var value = UInt256.zero
        while index < count {
            let nibble = UTF8Scan.hexValue(utf8[index])
            guard nibble < 16 else { return nil }
            value.limb3 = value.limb3 << 4 | value.limb2 >> 60
            value.limb2 = value.limb2 << 4 | value.limb1 >> 60
            value.limb1 = value.limb1 << 4 | value.limb0 >> 60
            value.limb0 = value.limb0 << 4 | UInt64(nibble)
            index += 1
        }
        self = value
    }

    /// Minimal "0x…" as JSON-RPC requires for quantities; "0x0" for zero.
    public var hexQuantity: String {
        let significantBits = 256 - leadingZeroBitCount
        let nibbleCount = Swift.max(1, (significantBits + 3) / 4)
        return String(unsafeUninitializedCapacity: 2 + nibbleCount) { out in
            out[0] = UInt8(ascii: "0")
            out[1] = UInt8(ascii: "x")
            for index in 0..<nibbleCount {
                let nibblePosition = nibbleCount - 1 - index
                let limb = self[limb: nibblePosition / 16]
                let nibble = UInt8(truncatingIfNeeded: limb >> UInt64(4 * (nibblePosition % 16))) & 0x0F
                out[2 + index] = UTF8Scan.lowercaseHexDigit(nibble)
            }
            return 2 + nibbleCount
        }
    }

    /// A 32-byte big-endian word, as in ERC-20 Transfer log data; nil unless exactly 32 bytes.
    public init?(bigEndian32 bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var value = UInt256.zero
        var byteIndex = 0
        var word: UInt64 = 0
        for byte in bytes {
            word = word << 8 | UInt64(byte)
            byteIndex += 1
            switch byteIndex {
            case 8: value.limb3 = word; word = 0
            case 16: value.limb2 = word; word = 0
            case 24: value.limb1 = word; word = 0
            case 32: value.limb0 = word
            default: break
            }
        }
        self = value
    }

    /// The 32-byte big-endian word (ABI encoding of a uint256).
    public var bigEndianBytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { out, count in
            let raw = UnsafeMutableRawBufferPointer(out)
            raw.storeBytes(of: limb3.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: limb2.bigEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: limb1.bigEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: limb0.bigEndian, toByteOffset: 24, as: UInt64.self)
            count = 32
        }
    }

    // MARK: Arithmetic (checked: every overflow is a value the caller must reject)

    /// nil when the sum exceeds 2^256-1.
    public func adding(_ other: UInt256) -> UInt256? {
        var carry: UInt64 = 0
        let sum = UInt256(
            limb0: UInt256.add(limb0, other.limb0, carry: &carry),
            limb1: UInt256.add(limb1, other.limb1, carry: &carry),
            limb2: UInt256.add(limb2, other.limb2, carry: &carry),
            limb3: UInt256.add(limb3, other.limb3, carry: &carry)
        )
        return carry == 0 ? sum : nil
    }

    /// nil when `other` is larger than `self`.
    public func subtracting(_ other: UInt256) -> UInt256? {
        var borrow: UInt64 = 0
        let difference = UInt256(
            limb0: UInt256.subtract(limb0, other.limb0, borrow: &borrow),
            limb1: UInt256.subtract(limb1, other.limb1, borrow: &borrow),
            limb2: UInt256.subtract(limb2, other.limb2, borrow: &borrow),
            limb3: UInt256.subtract(limb3, other.limb3, borrow: &borrow)
        )
        return borrow == 0 ? difference : nil
    }

    /// nil when the product exceeds 2^256-1.
    public func multiplied(by other: UInt256) -> UInt256? {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 4) { product -> UInt256? in
            product.initialize(repeating: 0)
            for i in 0..<4 {
                let factor = self[limb: i]
                if factor == 0 { continue }
                // Partial products landing at limb 4 or above are overflow unless zero.
                for j in (4 - i)..<4 where other[limb: j] != 0 {
                    return nil
                }
                var carry: UInt64 = 0
                for j in 0..<(4 - i) {
                    product[i + j] = UInt256.multiplyAdd(factor, other[limb: j], product[i + j], carry: &carry)
                }
                if carry != 0 { return nil }
            }
            return UInt256(limb0: product[0], limb1: product[1], limb2: product[2], limb3: product[3])
        }
    }

    /// self × 10^exponent, nil on overflow: scaling an amount to more decimals.
    public func multipliedByPowerOfTen(_ exponent: Int) -> UInt256? {
        precondition(exponent >= 0, "negative power of ten")
        if isZero { return .zero }
        if exponent >= UInt256.maxDecimalDigits { return nil }
        var value = self
        var remaining = exponent
        while remaining > 0 {
            let step = Swift.min(remaining, UInt256.digitsPerChunk)
            guard value.multiplyAdd(UInt256.powersOfTen64[step], 0) else { return nil }
            remaining -= step
        }
        return value
    }

    /// Floor division by 10^exponent with the part cut off: scaling an amount to fewer decimals.
    public func dividedByPowerOfTen(_ exponent: Int) -> (quotient: UInt256, remainder: UInt256) {
        precondition(exponent >= 0, "negative power of ten")
        // 10^78 exceeds 2^256, so every value is below it.
        if exponent >= UInt256.maxDecimalDigits { return (.zero, self) }
        var quotient = self
        var remaining = exponent
        while remaining > 0 {
            let step = Swift.min(remaining, UInt256.digitsPerChunk)
            quotient = quotient.divided(by: UInt256.powersOfTen64[step]).quotient
            remaining -= step
        }
        // quotient × 10^exponent ≤ self, so neither step below can fail.
        let divisor = UInt256(1).multipliedByPowerOfTen(exponent)!
        let remainder = subtracting(quotient.multiplied(by: divisor)!)!
        return (quotient, remainder)
    }

    /// Floor division by a 64-bit divisor (which must not be zero).
    public func divided(by divisor: UInt64) -> (quotient: UInt256, remainder: UInt64) {
        precondition(divisor != 0, "division by zero")
        // Each step's high word is the previous remainder, below the divisor, so
        // dividingFullWidth's precondition holds.
        let (quotient3, remainder3) = divisor.dividingFullWidth((0, limb3))
        let (quotient2, remainder2) = divisor.dividingFullWidth((remainder3, limb2))
        let (quotient1, remainder1) = divisor.dividingFullWidth((remainder2, limb1))
        let (quotient0, remainder0) = divisor.dividingFullWidth((remainder1, limb0))
        return (UInt256(limb0: quotient0, limb1: quotient1, limb2: quotient2, limb3: quotient3), remainder0)
    }

    /// The same amount expressed with another number of decimals (e.g. an 18-decimal token
    /// bridged as 8 decimals), or nil when that would lose base units or overflow:
    /// 18 → 8 requires the amount to be a multiple of 10^10.
    public static func convertExactly(_ amount: UInt256, fromDecimals: Int, toDecimals: Int) -> UInt256? {
        guard fromDecimals >= 0, toDecimals >= 0 else { return nil }
        if toDecimals >= fromDecimals {
            return amount.multipliedByPowerOfTen(toDecimals - fromDecimals)
        }
        let (quotient, remainder) = amount.dividedByPowerOfTen(fromDecimals - toDecimals)
        return remainder.isZero ? quotient : nil
    }

    /// `convertExactly`, telling an amount that would lose base units
    /// (amount_not_exact) from one that does not fit (amount_overflow).
    public static func convert(
        _ amount: UInt256, fromDecimals: Int, toDecimals: Int, what: String
    ) throws(TokError) -> UInt256 {
        if let converted = convertExactly(amount, fromDecimals: fromDecimals, toDecimals: toDecimals) {
            return converted
        }
        if toDecimals < fromDecimals {
            throw TokError(
                .amountNotExact,
                "\(what) \(amount) (\(fromDecimals) decimals) has no exact equivalent in \(toDecimals) decimals")
        }
        throw TokError(.amountOverflow, "\(what) \(amount) does not fit 256 bits in \(toDecimals) decimals")
    }

    /// floor(self × bps / 10 000), e.g. a fee in basis points (at most 10 000 = 100 %).
    /// The product is formed at 320 bits, so amounts near 2^256 lose nothing before dividing.
    public func basisPoints(_ bps: UInt64) -> UInt256 {
        precondition(bps <= UInt256.basisPointsPerWhole, "more than 10 000 basis points")
        var carry: UInt64 = 0
        let product0 = UInt256.multiplyAdd(limb0, bps, 0, carry: &carry)
        let product1 = UInt256.multiplyAdd(limb1, bps, 0, carry: &carry)
        let product2 = UInt256.multiplyAdd(limb2, bps, 0, carry: &carry)
        let product3 = UInt256.multiplyAdd(limb3, bps, 0, carry: &carry)
        // The fifth limb is below bps ≤ 10 000, so it is itself the first remainder and the
        // quotient fits in four limbs.
        let divisor = UInt256.basisPointsPerWhole
        let (quotient3, remainder3) = divisor.dividingFullWidth((carry, product3))
        let (quotient2, remainder2) = divisor.dividingFullWidth((remainder3, product2))
        let (quotient1, remainder1) = divisor.dividingFullWidth((remainder2, product1))
        let (quotient0, _) = divisor.dividingFullWidth((remainder1, product0))
        return UInt256(limb0: quotient0, limb1: quotient1, limb2: quotient2, limb3: quotient3)
    }

    static let basisPointsPerWhole: UInt64 = 10_000

    // MARK: Limb helpers

    subscript(limb index: Int) -> UInt64 {
        switch index {
        case 0: return limb0
        case 1: return limb1
        case 2: return limb2
        default: return limb3
        }
    }

    var leadingZeroBitCount: Int {
        if limb3 != 0 { return limb3.leadingZeroBitCount }
        if limb2 != 0 { return 64 + limb2.leadingZeroBitCount }
        if limb1 != 0 { return 128 + limb1.leadingZeroBitCount }
        return 192 + limb0.leadingZeroBitCount
    }

    /// self = self × factor + addend; false (leaving self undefined) on overflow.
    @inline(__always)
    mutating func multiplyAdd(_ factor: UInt64, _ addend: UInt64) -> Bool {
        var carry = addend
        limb0 = UInt256.multiplyAdd(limb0, factor, 0, carry: &carry)
        limb1 = UInt256.multiplyAdd(limb1, factor, 0, carry: &carry)
        limb2 = UInt256.multiplyAdd(limb2, factor, 0, carry: &carry)
        limb3 = UInt256.multiplyAdd(limb3, factor, 0, carry: &carry)
        return carry == 0
    }

    /// The low word of a × b + c + carry, leaving the high word in carry. Cannot overflow:
    /// (2^64-1)^2 + 2·(2^64-1) = 2^128 - 1.
    @inline(__always)
    static func multiplyAdd(_ a: UInt64, _ b: UInt64, _ c: UInt64, carry: inout UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        let (withC, overflowC) = product.low.addingReportingOverflow(c)
        let (withCarry, overflowCarry) = withC.addingReportingOverflow(carry)
        carry = product.high &+ (overflowC ? 1 : 0) &+ (overflowCarry ? 1 : 0)
        return withCarry
    }

    @inline(__always)
    private static func add(_ a: UInt64, _ b: UInt64, carry: inout UInt64) -> UInt64 {
        let (sum, overflow1) = a.addingReportingOverflow(b)
        let (total, overflow2) = sum.addingReportingOverflow(carry)
        carry = (overflow1 || overflow2) ? 1 : 0
        return total
    }

    @inline(__always)
    private static func subtract(_ a: UInt64, _ b: UInt64, borrow: inout UInt64) -> UInt64 {
        let (difference, underflow1) = a.subtractingReportingOverflow(b)
        let (total, underflow2) = difference.subtractingReportingOverflow(borrow)
        borrow = (underflow1 || underflow2) ? 1 : 0
        return total
    }
}
