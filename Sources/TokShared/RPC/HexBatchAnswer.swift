/// A fast reader for the answer nodes give to calls whose results are hex strings (raw blocks,
/// raw transactions): `[{"result":"<hex>","error":null,"id":<n>},…]`, or the one object for a
/// single call, as Core writes them. A raw block is a megabyte of hex at most; read this way it
/// is decoded straight into bytes, without a JSON tree, a copy of the text per string, or the
/// rewrite of numbers into text. Any other shape (an error, an escape, a member out of this
/// order, an id not asked for or given twice) is left to the JSON reader: this one only ever
/// accepts answers that reader would read to the same results.
enum HexBatchAnswer {
    /// The decoded result of each call, in call order; nil unless the answer has exactly the shape above.
    static func read(_ answer: [UInt8], firstId: Int64, count: Int) -> [[UInt8]]? {
        answer.withUnsafeBufferPointer { bytes in
            var scanner = Scanner(bytes: bytes)
            var results = [[UInt8]?](repeating: nil, count: count)
            let batched = count > 1
            if batched { guard scanner.expect("[") else { return nil } }
            for position in 0..<count {
                if position > 0 { guard scanner.expect(",") else { return nil } }
                guard let (id, result) = scanner.reply(), id >= firstId, id - firstId < Int64(count),
                    results[Int(id - firstId)] == nil
                else { return nil }
                results[Int(id - firstId)] = result
            }
            if batched { guard scanner.expect("]") else { return nil } }
            guard scanner.atEndAfterWhitespace else { return nil }
            return results.map { $0! }
        }
    }

    /// Each byte's hex value, or 0xFF for a byte that is not a hex digit (UTF8Scan.hexValue, tabulated).
    private static let hexValues: [UInt8] = (0...255).map { UTF8Scan.hexValue(UInt8($0)) }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        var atEndAfterWhitespace: Bool {
            mutating get {
                skipWhitespace()
                return index == bytes.count
            }
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        /// The ASCII `text` next, after any whitespace.
        mutating func expect(_ text: StaticString) -> Bool {
            skipWhitespace()
            let count = text.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] { return false }
            index += count
            return true
        }

        /// `{"result":"<hex>","error":null,"id":<digits>}`.
        mutating func reply() -> (Int64, [UInt8])? {
            guard expect("{"), expect("\"result\""), expect(":"), let result = hexString(), expect(","),
                expect("\"error\""), expect(":"), expect("null"), expect(","), expect("\"id\""), expect(":"),
                let id = integer(), expect("}")
            else { return nil }
            return (id, result)
        }

        /// A string of an even number of hex digits, decoded.
        mutating func hexString() -> [UInt8]? {
            guard expect("\"") else { return nil }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") { index += 1 }
            guard index < bytes.count, (index - start) % 2 == 0 else { return nil }
            let end = index
            index += 1
            var invalid: UInt8 = 0
            let decoded = HexBatchAnswer.hexValues.withUnsafeBufferPointer { table in
                [UInt8](unsafeUninitializedCapacity: (end - start) / 2) { out, written in
                    // No branch per digit: a non-hex byte sets a high bit that is checked once at the end.
                    var at = start
                    while at < end {
                        let high = table[Int(bytes[at])]
                        let low = table[Int(bytes[at + 1])]
                        invalid |= high | low
                        out[written] = high << 4 | (low & 0x0F)
                        written += 1
                        at += 2
                    }
                }
            }
            let valid = invalid & UTF8Scan.notHex == 0
            return valid ? decoded : nil
        }

        /// A JSON integer without sign, leading zeros or fraction, within 18 digits.
        mutating func integer() -> Int64? {
            skipWhitespace()
            let start = index
            var value: Int64 = 0
            while index < bytes.count, UTF8Scan.isDigit(bytes[index]), index - start < 18 {
                value = value * 10 + Int64(bytes[index] &- UInt8(ascii: "0"))
                index += 1
            }
            guard index > start, bytes[start] != UInt8(ascii: "0") || index - start == 1 else { return nil }
            guard index == bytes.count || !UTF8Scan.isDigit(bytes[index]) else { return nil }
            return value
        }
    }
}
