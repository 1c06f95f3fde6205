/// Hex for bytes on the wire: JSON-RPC data, hashes, keys.
public enum Hex {
    /// Lowercase hex, the form Ethereum JSON-RPC and tok's own output use.
    public static func encode(_ bytes: some Collection<UInt8>, prefix: Bool = false) -> String {
        let prefixLength = prefix ? 2 : 0
        let length = prefixLength + 2 * bytes.count
        return String(unsafeUninitializedCapacity: length) { out in
            if prefix {
                out[0] = UInt8(ascii: "0")
                out[1] = UInt8(ascii: "x")
            }
            var index = prefixLength
            for byte in bytes {
                out[index] = UTF8Scan.lowercaseHexDigit(byte >> 4)
                out[index + 1] = UTF8Scan.lowercaseHexDigit(byte & 0x0F)
                index += 2
            }
            return length
        }
    }

    /// Accepts an optional "0x"/"0X" prefix and digits of either case; nil for an odd
    /// number of digits or any non-hex character. "" and "0x" decode to no bytes.
    public static func decode(_ s: some StringProtocol) -> [UInt8]? {
        UTF8Scan.withBytes(s) { utf8 -> [UInt8]? in
            var start = 0
            if utf8.count >= 2, utf8[0] == UInt8(ascii: "0"), utf8[1] | 0x20 == UInt8(ascii: "x") {
                start = 2
            }
            let digitCount = utf8.count - start
            guard digitCount % 2 == 0 else { return nil }
            var valid = true
            let bytes = [UInt8](unsafeUninitializedCapacity: digitCount / 2) { out, count in
                var index = start
                while index < utf8.count {
                    let high = UTF8Scan.hexValue(utf8[index])
                    let low = UTF8Scan.hexValue(utf8[index + 1])
                    guard (high | low) & UTF8Scan.notHex == 0 else { valid = false; break }
                    out[count] = high << 4 | low
                    count += 1
                    index += 2
                }
            }
            return valid ? bytes : nil
        }
    }
}

/// Byte-level helpers shared by the parsers of amounts and identifiers, which run on every
/// record of a stream and so read UTF-8 in place instead of going through Character.
enum UTF8Scan {
    /// Any value with this bit set is not a hex digit, so OR-ing two results tests both.
    static let notHex: UInt8 = 0xF0

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8 {
        let digit = byte &- UInt8(ascii: "0")
        if digit < 10 { return digit }
        let letter = (byte | 0x20) &- UInt8(ascii: "a")
        if letter < 6 { return letter + 10 }
        return 0xFF
    }

    @inline(__always)
    static func lowercaseHexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool {
        byte &- UInt8(ascii: "0") < 10
    }

    /// Whether the string holds `byte`, read in place: `String.UTF8View.contains`
    /// steps through string indices, a few per cent of tok-validate on account ids.
    @inline(__always)
    static func contains(_ byte: UInt8, in s: String) -> Bool {
        withBytes(s) { $0.contains(byte) }
    }

    /// Runs `body` over the string's UTF-8 without copying when the string is native
    /// (the usual case); bridged or foreign strings are copied once.
    @inline(__always)
    static func withBytes<S: StringProtocol, R>(_ s: S, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let result = s.utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(s.utf8).withUnsafeBufferPointer(body)
    }
}
