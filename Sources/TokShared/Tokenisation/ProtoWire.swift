/// A strict reader and writer of the proto3 wire format for the small, flat messages that fit
/// an OP_RETURN. Strict means canonical: a payload is read only if it is the one encoding a
/// proto3 encoder produces for its values (fields in ascending order, each at most once, minimal
/// varints, no default values, no unknown fields, nothing after the last field). So one message
/// has exactly one payload, and two nodes never disagree about what an anchor says.
///
/// Why not apple/swift-protobuf: it accepts non-canonical input by design (last duplicate wins,
/// unknown fields kept, any field order, overlong varints), so every check below would have to
/// be written anyway, and the package would add code generation and CI build time for eleven
/// messages of at most seven scalar fields.

/// What a field holds. Every kind maps to one wire type.
enum ProtoFieldKind: Sendable, Equatable {
    /// A varint of 1...max (proto uint32, uint64, or int32 / int64 that must not be negative).
    case unsigned(max: UInt64)
    /// A proto bool: only `true` is ever written (a written `false` is a default value).
    case flag
    /// A proto `bytes` of exactly this many bytes.
    case bytes(count: Int)
    /// A proto `string` holding exactly `2 × byteCount` lowercase hex digits; the value read is
    /// the decoded bytes (Fractal Engine writes its hashes this way).
    case hexString(byteCount: Int)

    var wireType: UInt64 {
        switch self {
        case .unsigned, .flag: return ProtoWire.varintWireType
        case .bytes, .hexString: return ProtoWire.lengthDelimitedWireType
        }
    }
}

struct ProtoField: Sendable {
    let number: UInt64
    let name: String
    let kind: ProtoFieldKind
    let required: Bool
}

/// A message's fields in ascending order of number (checked when the schema is built).
struct ProtoSchema: Sendable {
    let name: String
    let fields: [ProtoField]

    init(_ name: String, _ fields: [ProtoField]) {
        precondition(
            !fields.isEmpty && zip(fields, fields.dropFirst()).allSatisfy { $0.number < $1.number },
            "\(name): fields must be listed in ascending order of number")
        self.name = name
        self.fields = fields
    }

    var highestNumber: UInt64 { fields[fields.count - 1].number }

    func field(_ number: UInt64) -> ProtoField? {
        fields.first { $0.number == number }
    }

    func name(of number: UInt64) -> String {
        field(number)?.name ?? "field \(number)"
    }
}

/// Field values by number: unsigned ones (flags are 1) and byte strings. Absent means default.
struct ProtoFields: Equatable, Sendable {
    private(set) var unsignedValues: [UInt64: UInt64] = [:]
    private(set) var byteValues: [UInt64: [UInt8]] = [:]

    func unsigned(_ number: UInt64) -> UInt64 { unsignedValues[number] ?? 0 }
    func flag(_ number: UInt64) -> Bool { unsignedValues[number] == 1 }
    func bytes(_ number: UInt64) -> [UInt8]? { byteValues[number] }
    func has(_ number: UInt64) -> Bool { unsignedValues[number] != nil || byteValues[number] != nil }

    /// Setting a default value (0, false, empty) leaves the field absent, as proto3 does.
    mutating func set(_ number: UInt64, _ value: UInt64) {
        if value == 0 { unsignedValues[number] = nil } else { unsignedValues[number] = value }
    }

    mutating func set(_ number: UInt64, flag: Bool) { set(number, flag ? 1 : 0) }

    mutating func set(_ number: UInt64, bytes: [UInt8]) {
        byteValues[number] = bytes.isEmpty ? nil : bytes
    }
}

enum ProtoWire {
    static let varintWireType: UInt64 = 0
    static let lengthDelimitedWireType: UInt64 = 2
    /// A varint holds at most 64 bits: 9 bytes of 7 bits and one last byte of 0 or 1.
    static let maxVarintBytes = 10

    // MARK: Writing

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    static func varintByteCount(_ value: UInt64) -> Int {
        var count = 1
        var rest = value >> 7
        while rest > 0 {
            count += 1
            rest >>= 7
        }
        return count
    }

    /// The canonical encoding: schema order, default values left out.
    static func encode(_ fields: ProtoFields, schema: ProtoSchema) -> [UInt8] {
        var out: [UInt8] = []
        for field in schema.fields {
            switch field.kind {
            case .unsigned, .flag:
                let value = fields.unsigned(field.number)
                guard value != 0 else { continue }
                appendVarint(field.number << 3 | varintWireType, to: &out)
                appendVarint(value, to: &out)
            case .bytes:
                guard let value = fields.bytes(field.number) else { continue }
                appendVarint(field.number << 3 | lengthDelimitedWireType, to: &out)
                appendVarint(UInt64(value.count), to: &out)
                out.append(contentsOf: value)
            case .hexString:
                guard let value = fields.bytes(field.number) else { continue }
                let text = Array(Hex.encode(value).utf8)
                appendVarint(field.number << 3 | lengthDelimitedWireType, to: &out)
                appendVarint(UInt64(text.count), to: &out)
                out.append(contentsOf: text)
            }
        }
        return out
    }

    // MARK: Reading

    /// Reads `payload` against `schema`. The first rule broken, in reading order, is the
    /// reason (man/tok-protocol.7, "Reading a payload"); message-level rules are the caller's.
    static func decode(_ payload: [UInt8], schema: ProtoSchema) throws(AnchorRejection) -> ProtoFields {
        var reader = ProtoReader(bytes: payload)
        var fields = ProtoFields()
        var previous: UInt64 = 0
        while !reader.atEnd {
            let fieldOffset = reader.offset
            if previous == schema.highestNumber {
                throw AnchorRejection(
                    .trailingBytes,
                    "\(payload.count - fieldOffset) byte(s) after \(schema.name).\(schema.name(of: previous)), the last field, at payload byte \(fieldOffset)"
                )
            }
            let tag = try reader.readVarint(what: "field tag")
            let number = tag >> 3
            let wireType = tag & 7
            guard let field = schema.field(number) else {
                throw AnchorRejection(
                    .unknownField, "\(schema.name) has no field \(number) (tag at payload byte \(fieldOffset))")
            }
            guard wireType == field.kind.wireType else {
                throw AnchorRejection(
                    .wrongWireType,
                    "\(schema.name).\(field.name) must have wire type \(field.kind.wireType), got \(wireType) at payload byte \(fieldOffset)"
                )
            }
            if number == previous {
                throw AnchorRejection(
                    .duplicateField, "\(schema.name).\(field.name) appears twice (again at payload byte \(fieldOffset))"
                )
            }
            if number < previous {
                throw AnchorRejection(
                    .fieldOutOfOrder,
                    "\(schema.name).\(field.name) (field \(number)) follows field \(previous) at payload byte \(fieldOffset)"
                )
            }
            try readValue(of: field, in: schema, from: &reader, into: &fields)
            previous = number
        }
        if let missing = schema.fields.first(where: { $0.required && !fields.has($0.number) }) {
            throw AnchorRejection(.missingField, "\(schema.name).\(missing.name) (field \(missing.number)) is required")
        }
        return fields
    }

    private static func readValue(
        of field: ProtoField, in schema: ProtoSchema, from reader: inout ProtoReader, into fields: inout ProtoFields
    ) throws(AnchorRejection) {
        let name = "\(schema.name).\(field.name)"
        let valueOffset = reader.offset
        switch field.kind {
        case .unsigned(let max):
            let value = try reader.readVarint(what: name)
            try checkUnsigned(value, max: max, name: name, offset: valueOffset)
            fields.set(field.number, value)
        case .flag:
            let value = try reader.readVarint(what: name)
            try checkUnsigned(value, max: 1, name: name, offset: valueOffset)
            fields.set(field.number, value)
        case .bytes(let count):
            let value = try reader.readLengthDelimited(what: name)
            try checkLength(value.count, count, name: name, offset: valueOffset)
            fields.set(field.number, bytes: value)
        case .hexString(let byteCount):
            let text = try reader.readLengthDelimited(what: name)
            try checkLength(text.count, 2 * byteCount, name: name, offset: valueOffset)
            guard let value = lowercaseHexDecode(text) else {
                throw AnchorRejection(
                    .badHex, "\(name) must be \(2 * byteCount) lowercase hex digits (at payload byte \(valueOffset))")
            }
            fields.set(field.number, bytes: value)
        }
    }

    private static func checkUnsigned(_ value: UInt64, max: UInt64, name: String, offset: Int) throws(AnchorRejection) {
        if value == 0 {
            throw AnchorRejection(
                .defaultValueWritten, "\(name) is written as 0, which proto3 omits (payload byte \(offset))")
        }
        if value >> 63 == 1 {
            throw AnchorRejection(.negativeValue, "\(name) is negative in its signed reading (payload byte \(offset))")
        }
        if value > max {
            throw AnchorRejection(
                .valueOutOfRange, "\(name) is \(value), above its bound \(max) (payload byte \(offset))")
        }
    }

    private static func checkLength(_ length: Int, _ expected: Int, name: String, offset: Int) throws(AnchorRejection) {
        if length == 0 {
            throw AnchorRejection(
                .defaultValueWritten, "\(name) is written empty, which proto3 omits (payload byte \(offset))")
        }
        if length != expected {
            throw AnchorRejection(
                .badLength, "\(name) must be \(expected) bytes, got \(length) (payload byte \(offset))")
        }
    }

    /// Lowercase only: uppercase would be a second text for the same hash.
    static func lowercaseHexDecode(_ text: [UInt8]) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var index = 0
        while index < text.count {
            guard let high = lowercaseNibble(text[index]), let low = lowercaseNibble(text[index + 1]) else {
                return nil
            }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func lowercaseNibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}

/// A cursor over one payload. Every read is bounds-checked; nothing here can trap on input.
struct ProtoReader {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    var atEnd: Bool { offset >= bytes.count }

    /// A minimal varint of at most 64 bits. The checks run byte by byte, so the reason does not
    /// depend on how far an implementation looks ahead.
    mutating func readVarint(what: String) throws(AnchorRejection) -> UInt64 {
        let start = offset
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count else {
                throw AnchorRejection(
                    .truncated, "the payload ends inside the varint of \(what) (from payload byte \(start))")
            }
            let byte = bytes[offset]
            offset += 1
            let count = offset - start
            if count == ProtoWire.maxVarintBytes && byte > 1 {
                throw AnchorRejection(
                    .varintOverflow, "the varint of \(what) exceeds 64 bits (from payload byte \(start))")
            }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                if count > 1 && byte == 0 {
                    throw AnchorRejection(
                        .nonMinimalVarint,
                        "the varint of \(what) has \(count) bytes, more than its value needs (from payload byte \(start))"
                    )
                }
                return value
            }
            shift += 7
        }
    }

    /// A length varint, then that many bytes, all inside the payload.
    mutating func readLengthDelimited(what: String) throws(AnchorRejection) -> [UInt8] {
        let lengthOffset = offset
        let length = try readVarint(what: "the length of \(what)")
        let remaining = bytes.count - offset
        guard length <= UInt64(remaining) else {
            throw AnchorRejection(
                .truncated, "\(what) declares \(length) bytes at payload byte \(lengthOffset), only \(remaining) follow"
            )
        }
        let value = Array(bytes[offset..<(offset + Int(length))])
        offset += Int(length)
        return value
    }
}
