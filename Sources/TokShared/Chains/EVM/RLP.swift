// Recursive Length Prefix, Ethereum's serialisation (Yellow Paper appendix B).

extension TokError {
    // No dedicated code yet for "this raw transaction / RLP blob is malformed" (bad_raw_tx is
    // proposed to the lead); kept in one place so the switch is a one-line change.
    static func malformedEncoding(_ message: String) -> TokError { TokError(.badRawTx, message) }
}

/// An RLP value: a byte string or a list of values. Integers are byte strings holding the
/// minimal big-endian form (no leading zero bytes; zero is the empty string, encoded 0x80).
public indirect enum RLPItem: Equatable, Sendable {
    case bytes([UInt8])
    case list([RLPItem])

    /// An unsigned integer as its minimal big-endian byte string.
    public static func uint(_ value: UInt64) -> RLPItem { .bytes(RLP.minimalBigEndian(value)) }

    /// A 256-bit unsigned integer (wei amounts, gas prices) as its minimal big-endian byte string.
    public static func uint(_ value: UInt256) -> RLPItem {
        .bytes(Array(value.bigEndianBytes.drop(while: { $0 == 0 })))
    }

    /// The UTF-8 bytes of a string.
    public static func string(_ text: String) -> RLPItem { .bytes(Array(text.utf8)) }

    /// The byte string, or an error naming `field` when this is a list.
    public func bytesValue(field: String) throws(TokError) -> [UInt8] {
        guard case .bytes(let bytes) = self else {
            throw .malformedEncoding("\(field): expected an RLP byte string, found a list")
        }
        return bytes
    }

    /// The list items, or an error naming `field` when this is a byte string.
    public func listValue(field: String) throws(TokError) -> [RLPItem] {
        guard case .list(let items) = self else {
            throw .malformedEncoding("\(field): expected an RLP list, found a byte string")
        }
        return items
    }

    /// The canonical integer this byte string holds (at most 8 bytes, no leading zero).
    public func uint64Value(field: String) throws(TokError) -> UInt64 {
        let bytes = try canonicalIntegerBytes(field: field, maxByteCount: 8)
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The canonical integer this byte string holds (at most 32 bytes, no leading zero).
    public func uint256Value(field: String) throws(TokError) -> UInt256 {
        let bytes = try canonicalIntegerBytes(field: field, maxByteCount: 32)
        return uint256(fromBigEndian: bytes)
    }

    /// Geth and the other clients refuse integers with leading zero bytes, since they would
    /// give one value two encodings (and so two transaction hashes); so do we.
    func canonicalIntegerBytes(field: String, maxByteCount: Int) throws(TokError) -> [UInt8] {
        let bytes = try bytesValue(field: field)
        guard bytes.count <= maxByteCount else {
            throw .malformedEncoding("\(field): integer of \(bytes.count) bytes exceeds \(maxByteCount * 8) bits")
        }
        guard bytes.first != 0 else { throw .malformedEncoding("\(field): non-canonical integer (leading zero byte)") }
        return bytes
    }
}

/// Builds a UInt256 from at most 32 big-endian bytes (RLP drops leading zeros; UInt256 wants
/// the full 32-byte word).
func uint256(fromBigEndian bytes: [UInt8]) -> UInt256 {
    precondition(bytes.count <= 32, "uint256(fromBigEndian:) called with \(bytes.count) > 32 bytes")
    guard let value = UInt256(bigEndian32: [UInt8](repeating: 0, count: 32 - bytes.count) + bytes) else {
        preconditionFailure("UInt256(bigEndian32:) refused 32 bytes")
    }
    return value
}

public enum RLP {
    /// Deepest list nesting the decoder follows. Transactions need 4 (access lists); the bound
    /// stops a hostile blob of nested lists from exhausting the stack.
    public static let maxNestingDepth = 32

    public static func encode(_ item: RLPItem) -> [UInt8] {
        var out: [UInt8] = []
        append(item, to: &out)
        return out
    }

    private static func append(_ item: RLPItem, to out: inout [UInt8]) {
        switch item {
        case .bytes(let bytes):
            // A single byte below 0x80 is its own encoding.
            if bytes.count == 1 && bytes[0] < 0x80 {
                out.append(bytes[0])
            } else {
                appendHeader(payloadByteCount: bytes.count, shortOffset: 0x80, to: &out)
                out.append(contentsOf: bytes)
            }
        case .list(let items):
            var payload: [UInt8] = []
            for child in items { append(child, to: &payload) }
            appendHeader(payloadByteCount: payload.count, shortOffset: 0xc0, to: &out)
            out.append(contentsOf: payload)
        }
    }

    /// Payloads under 56 bytes: one byte offset+length. Longer: offset+55+(length of the
    /// length), then the length in minimal big-endian.
    private static func appendHeader(payloadByteCount: Int, shortOffset: UInt8, to out: inout [UInt8]) {
        if payloadByteCount < 56 {
            out.append(shortOffset + UInt8(payloadByteCount))
        } else {
            let lengthBytes = minimalBigEndian(UInt64(payloadByteCount))
            out.append(shortOffset + 55 + UInt8(lengthBytes.count))
            out.append(contentsOf: lengthBytes)
        }
    }

    /// The big-endian bytes of `value` without leading zeros; zero gives no bytes.
    static func minimalBigEndian(_ value: UInt64) -> [UInt8] {
        let byteCount = (64 - value.leadingZeroBitCount + 7) / 8
        return (0..<byteCount).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * (byteCount - 1 - $0))) }
    }

    /// Decodes exactly one item that spans the whole input. Rejects every non-canonical form
    /// (a single byte below 0x80 wrapped in a header, long form for short payloads, lengths
    /// with leading zeros), truncation, trailing bytes and nesting deeper than maxNestingDepth.
    public static func decode(_ bytes: some Collection<UInt8>) throws(TokError) -> RLPItem {
        let input = Array(bytes)
        var position = 0
        let item = try decodeItem(input, &position, end: input.count, depth: 0)
        guard position == input.count else {
            throw .malformedEncoding("RLP: \(input.count - position) trailing bytes after the item")
        }
        return item
    }

    private static func decodeItem(
        _ input: [UInt8], _ position: inout Int, end: Int, depth: Int
    ) throws(TokError) -> RLPItem {
        guard position < end else {
            throw .malformedEncoding("RLP: input ends where an item should start (offset \(position))")
        }
        let prefix = input[position]
        position += 1
        switch prefix {
        case 0x00...0x7f:
            return .bytes([prefix])
        case 0x80...0xb7:
            let payload = try take(input, &position, byteCount: Int(prefix - 0x80), end: end)
            if payload.count == 1 && payload[0] < 0x80 {
                throw .malformedEncoding("RLP: single byte below 0x80 must encode as itself (offset \(position - 2))")
            }
            return .bytes(payload)
        case 0xb8...0xbf:
            let payloadByteCount = try longLength(input, &position, lengthOfLength: Int(prefix - 0xb7), end: end)
            return .bytes(try take(input, &position, byteCount: payloadByteCount, end: end))
        case 0xc0...0xf7:
            return .list(try decodeList(input, &position, payloadByteCount: Int(prefix - 0xc0), end: end, depth: depth))
        default:  // 0xf8...0xff
            let payloadByteCount = try longLength(input, &position, lengthOfLength: Int(prefix - 0xf7), end: end)
            return .list(try decodeList(input, &position, payloadByteCount: payloadByteCount, end: end, depth: depth))
        }
    }

    private static func decodeList(
        _ input: [UInt8], _ position: inout Int, payloadByteCount: Int, end: Int, depth: Int
    ) throws(TokError) -> [RLPItem] {
        guard depth < maxNestingDepth else {
            throw .malformedEncoding("RLP: lists nested deeper than \(maxNestingDepth)")
        }
        guard payloadByteCount <= end - position else {
            throw .malformedEncoding("RLP: list of \(payloadByteCount) bytes runs past the end of its container")
        }
        let listEnd = position + payloadByteCount
        var items: [RLPItem] = []
        while position < listEnd {
            items.append(try decodeItem(input, &position, end: listEnd, depth: depth + 1))
        }
        return items
    }

    /// Reads the big-endian length of a long-form string or list; it must be canonical
    /// (no leading zero) and at least 56, or the short form should have been used.
    private static func longLength(
        _ input: [UInt8], _ position: inout Int, lengthOfLength: Int, end: Int
    ) throws(TokError) -> Int {
        let lengthBytes = try take(input, &position, byteCount: lengthOfLength, end: end)
        guard lengthBytes[0] != 0 else { throw .malformedEncoding("RLP: length with a leading zero byte") }
        var length: UInt64 = 0
        for byte in lengthBytes { length = length << 8 | UInt64(byte) }
        guard length >= 56 else { throw .malformedEncoding("RLP: long form used for a \(length)-byte payload") }
        // Anything larger cannot fit in the input anyway; this also keeps the Int conversion safe.
        guard length <= UInt64(end - position) else {
            throw .malformedEncoding("RLP: item of \(length) bytes runs past the end of its container")
        }
        return Int(length)
    }

    private static func take(
        _ input: [UInt8], _ position: inout Int, byteCount: Int, end: Int
    ) throws(TokError) -> [UInt8] {
        guard byteCount <= end - position else {
            throw .malformedEncoding("RLP: item of \(byteCount) bytes runs past the end of its container")
        }
        defer { position += byteCount }
        return Array(input[position..<(position + byteCount)])
    }
}
