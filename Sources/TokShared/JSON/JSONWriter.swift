import CJansson
#if canImport(Glibc)
import Glibc
#endif

/// Serialises jansson values to compact JSON text.
///
/// jansson parses our input, but its dumper guards every object against
/// reference loops by formatting the object's address into a string and
/// inserting it into a hash table — about a microsecond per object, more than
/// everything else a stage does with a record. Our values are trees by
/// construction, so this writer walks them directly. With `sortKeys` it gives
/// the canonical form used for attestations: keys ordered bytewise (as
/// strcmp orders them), no whitespace, strings escaped minimally.
enum JSONWriter {
    static func write(_ value: UnsafeMutablePointer<json_t>, into buffer: inout [UInt8], sortKeys: Bool, depth: Int = 0)
    {
        // jansson's parser caps nesting at 2048, so input can never reach this.
        precondition(depth < 4096, "JSON nesting too deep to serialise")
        switch value.pointee.type {
        case JSON_OBJECT:
            buffer.append(UInt8(ascii: "{"))
            if sortKeys {
                var members: [(key: UnsafePointer<CChar>, length: Int, value: UnsafeMutablePointer<json_t>)] = []
                members.reserveCapacity(json_object_size(value))
                var iterator = json_object_iter(value)
                while let current = iterator {
                    members.append(
                        (
                            json_object_iter_key(current), json_object_iter_key_len(current),
                            json_object_iter_value(current)
                        ))
                    iterator = json_object_iter_next(value, current)
                }
                members.sort { left, right in
                    let common = min(left.length, right.length)
                    let order = memcmp(left.key, right.key, common)
                    return order != 0 ? order < 0 : left.length < right.length
                }
                for (index, member) in members.enumerated() {
                    if index > 0 { buffer.append(UInt8(ascii: ",")) }
                    writeString(UnsafeRawPointer(member.key), length: member.length, into: &buffer)
                    buffer.append(UInt8(ascii: ":"))
                    write(member.value, into: &buffer, sortKeys: true, depth: depth + 1)
                }
            } else {
                var first = true
                var iterator = json_object_iter(value)
                while let current = iterator {
                    if !first { buffer.append(UInt8(ascii: ",")) }
                    first = false
                    writeString(
                        UnsafeRawPointer(json_object_iter_key(current)), length: json_object_iter_key_len(current),
                        into: &buffer)
                    buffer.append(UInt8(ascii: ":"))
                    write(json_object_iter_value(current), into: &buffer, sortKeys: false, depth: depth + 1)
                    iterator = json_object_iter_next(value, current)
                }
            }
            buffer.append(UInt8(ascii: "}"))
        case JSON_ARRAY:
            buffer.append(UInt8(ascii: "["))
            for index in 0..<json_array_size(value) {
                if index > 0 { buffer.append(UInt8(ascii: ",")) }
                write(json_array_get(value, index), into: &buffer, sortKeys: sortKeys, depth: depth + 1)
            }
            buffer.append(UInt8(ascii: "]"))
        case JSON_STRING:
            writeString(UnsafeRawPointer(json_string_value(value)), length: json_string_length(value), into: &buffer)
        case JSON_INTEGER:
            writeInteger(Int64(json_integer_value(value)), into: &buffer)
        case JSON_TRUE:
            buffer.append(contentsOf: [0x74, 0x72, 0x75, 0x65])  // true
        case JSON_FALSE:
            buffer.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])  // false
        case JSON_NULL:
            buffer.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])  // null
        default:
            // Reals never carry money here; let jansson format them (%.17g).
            var scratch = [CChar](repeating: 0, count: 64)
            let count = json_dumpb(value, &scratch, scratch.count, Int(JSON_ENCODE_ANY))
            precondition(count > 0 && count <= scratch.count, "jansson failed to format a real")
            scratch[0..<count].withUnsafeBytes { buffer.append(contentsOf: $0) }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ start: UnsafeRawPointer, length: Int, into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        let bytes = UnsafeRawBufferPointer(start: start, count: length)
        // Almost every string needs no escape: one check, then one copy.
        if !bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            buffer.append(contentsOf: bytes)
            buffer.append(UInt8(ascii: "\""))
            return
        }
        var runStart = 0
        for index in 0..<length {
            let byte = bytes[index]
            guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
            buffer.append(contentsOf: bytes[runStart..<index])
            runStart = index + 1
            switch byte {
            case 0x22: buffer.append(contentsOf: [0x5C, 0x22])  // \"
            case 0x5C: buffer.append(contentsOf: [0x5C, 0x5C])  // \\
            case 0x0A: buffer.append(contentsOf: [0x5C, 0x6E])  // \n
            case 0x0D: buffer.append(contentsOf: [0x5C, 0x72])  // \r
            case 0x09: buffer.append(contentsOf: [0x5C, 0x74])  // \t
            case 0x08: buffer.append(contentsOf: [0x5C, 0x62])  // \b
            case 0x0C: buffer.append(contentsOf: [0x5C, 0x66])  // \f
            default:
                buffer.append(contentsOf: [
                    0x5C, 0x75, 0x30, 0x30, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)],
                ])
            }
        }
        buffer.append(contentsOf: bytes[runStart..<length])
        buffer.append(UInt8(ascii: "\""))
    }

    static func writeInteger(_ value: Int64, into buffer: inout [UInt8]) {
        if value == 0 {
            buffer.append(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, enough for 20 digits
        var count = 0
        withUnsafeMutableBytes(of: &digits) { scratch in
            while magnitude > 0 {
                scratch[23 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
            if value < 0 { buffer.append(UInt8(ascii: "-")) }
            buffer.append(contentsOf: scratch[(24 - count)...])
        }
    }
}
