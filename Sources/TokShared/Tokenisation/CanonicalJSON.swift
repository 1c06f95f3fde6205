import CJansson

/// RFC 8785 (JSON Canonicalization Scheme) over the project's JSON values: the one text of a
/// signed off-chain record whose SHA-256 is the record's hash, and so what its anchor binds.
///
/// The subset tok accepts, so that every value has exactly one canonical text and no number
/// is ever rounded: objects, arrays, strings, true, false, null, and integers of magnitude at
/// most 2^53−1 (exact in an IEEE double, so ECMAScript's Number-to-String, which RFC 8785
/// prescribes, prints them as plain decimal digits, as here). Refused: any JSON real (a number
/// written with a fraction or an exponent, `1.0` and `1e2` included: .amountNotExact), and an
/// integer beyond ±(2^53−1) (.numberOutOfRange). Quantities and amounts travel as decimal
/// strings. Strings are UTF-8 (jansson refuses anything else, lone surrogates included);
/// duplicate keys never get here (JSON.parse refuses them).
///
/// Output: no whitespace; object members sorted by their keys' UTF-16 code units (RFC 8785
/// §3.2.3: this differs from UTF-8 byte order for keys above U+FFFF); strings escape only `"`,
/// `\`, and U+0000–U+001F (as \b \t \n \f \r, else \u00xx in lowercase hex); everything else,
/// U+007F and U+2028 included, is written as itself.
public enum CanonicalJSON {
    public static let maxExactInteger: Int64 = 9_007_199_254_740_991
    /// Records are shallow; a bound keeps the recursion small whatever a caller builds.
    public static let maxDepth = 32

    public static func encode(_ value: JSON) throws(TokError) -> [UInt8] {
        var out: [UInt8] = []
        try write(value.raw, path: "$", depth: 0, into: &out)
        return out
    }

    /// SHA-256 of the canonical text: the record hash.
    public static func hash(_ value: JSON) throws(TokError) -> RecordHash {
        let digest = Hashing.sha256(try encode(value))
        return RecordHash(bytes: digest) ?? RecordHash.zero  // SHA-256 is always 32 bytes
    }

    private static func write(
        _ value: UnsafeMutablePointer<json_t>, path: String, depth: Int, into out: inout [UInt8]
    ) throws(TokError) {
        guard depth < maxDepth else {
            throw TokError(.badRecord, "\(path) is nested deeper than \(maxDepth) levels")
        }
        switch JSON.kind(of: value) {
        case .object:
            try writeObject(value, path: path, depth: depth, into: &out)
        case .array:
            out.append(UInt8(ascii: "["))
            for index in 0..<json_array_size(value) {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                guard let element = json_array_get(value, index) else { continue }
                try write(element, path: "\(path)[\(index)]", depth: depth + 1, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .string:
            JSONWriter.writeString(
                UnsafeRawPointer(json_string_value(value)), length: json_string_length(value), into: &out)
        case .integer:
            let number = Int64(json_integer_value(value))
            guard number.magnitude <= UInt64(maxExactInteger) else {
                throw TokError(.numberOutOfRange, "\(path) is \(number), beyond ±(2^53−1); send it as a decimal string")
            }
            JSONWriter.writeInteger(number, into: &out)
        case .real:
            throw TokError(
                .amountNotExact, "\(path) is a JSON real (fraction or exponent); only integers are exact here")
        case .bool:
            out.append(contentsOf: value.pointee.type == JSON_TRUE ? Array("true".utf8) : Array("false".utf8))
        case .null:
            out.append(contentsOf: Array("null".utf8))
        }
    }

    private static func writeObject(
        _ value: UnsafeMutablePointer<json_t>, path: String, depth: Int, into out: inout [UInt8]
    ) throws(TokError) {
        var members: [(key: UnsafePointer<CChar>, length: Int, utf16: [UInt16], value: UnsafeMutablePointer<json_t>)] =
            []
        var iterator = json_object_iter(value)
        while let current = iterator {
            let length = json_object_iter_key_len(current)
            if let key = json_object_iter_key(current), let member = json_object_iter_value(current) {
                let text = String(decoding: UnsafeRawBufferPointer(start: key, count: length), as: UTF8.self)
                members.append((key, length, Array(text.utf16), member))
            }
            iterator = json_object_iter_next(value, current)
        }
        members.sort { $0.utf16.lexicographicallyPrecedes($1.utf16) }
        out.append(UInt8(ascii: "{"))
        for (index, member) in members.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(UnsafeRawPointer(member.key), length: member.length, into: &out)
            out.append(UInt8(ascii: ":"))
            let name = String(decoding: member.utf16, as: UTF16.self)
            try write(member.value, path: "\(path).\(name)", depth: depth + 1, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}
