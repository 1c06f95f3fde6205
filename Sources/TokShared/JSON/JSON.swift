import CJansson

/// A JSON value held by libjansson. Records flow through every stage as these:
/// a stage reads the fields it needs, adds its findings, and re-serialises the
/// same object, so fields it does not know pass through untouched and in order.
///
/// Thread confinement: a JSON value is used by one task at a time. Chain I/O
/// runs on plain Swift value types extracted from it.
public final class JSON {
    public let raw: UnsafeMutablePointer<json_t>

    /// Takes over one reference that the caller owns (a "new" reference in jansson terms).
    public init(owning raw: UnsafeMutablePointer<json_t>) {
        self.raw = raw
    }

    /// Shares a reference the caller does not own (a "borrowed" one).
    public init(borrowing raw: UnsafeMutablePointer<json_t>) {
        self.raw = json_incref(raw)!
    }

    deinit { json_decref(raw) }

    // MARK: Parsing

    public struct ParseFailure: Error, Sendable {
        public let message: String
        /// jansson refuses integers beyond json_int_t; we report those with their own code.
        public let integerTooLarge: Bool
        public let duplicateKey: Bool
    }

    /// Parses one complete JSON text. Duplicate keys are refused: in a money
    /// system `{"amount":"1","amount":"1000"}` must not mean whatever a parser picks.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<JSON, ParseFailure> {
        var error = json_error_t()
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        let empty: CChar = 0
        let parsed = withUnsafePointer(to: empty) { emptyPointer in
            json_loadb(base ?? emptyPointer, bytes.count, Int(JSON_REJECT_DUPLICATES), &error)
        }
        if let parsed { return .success(JSON(owning: parsed)) }
        let text = withUnsafeBytes(of: &error.text) { buffer in
            String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
        return .failure(ParseFailure(
            message: "\(text) at column \(error.column)",
            integerTooLarge: text.hasPrefix("too big"),
            duplicateKey: text.hasPrefix("duplicate object key")))
    }

    public static func parse(_ text: String) -> Result<JSON, ParseFailure> {
        var copy = text
        return copy.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    // MARK: Construction

    public static func object() -> JSON { JSON(owning: json_object()) }
    public static func array() -> JSON { JSON(owning: json_array()) }
    public static func null() -> JSON { JSON(owning: json_null()) }
    public static func bool(_ value: Bool) -> JSON { JSON(owning: value ? json_true() : json_false()) }
    public static func integer(_ value: Int64) -> JSON { JSON(owning: json_integer(json_int_t(value))) }

    /// Strings that are not valid UTF-8 cannot occur here: Swift Strings are UTF-8.
    public static func string(_ value: String) -> JSON {
        var copy = value
        let made = copy.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                json_stringn_nocheck(chars.baseAddress, chars.count)
            }
        }
        return JSON(owning: made!)
    }

    public func deepCopy() -> JSON { JSON(owning: json_deep_copy(raw)!) }

    // MARK: Reading

    public enum Kind: Sendable { case object, array, string, integer, real, bool, null }

    public var kind: Kind {
        switch raw.pointee.type {
        case JSON_OBJECT: return .object
        case JSON_ARRAY: return .array
        case JSON_STRING: return .string
        case JSON_INTEGER: return .integer
        case JSON_REAL: return .real
        case JSON_TRUE, JSON_FALSE: return .bool
        default: return .null
        }
    }

    public var isObject: Bool { raw.pointee.type == JSON_OBJECT }
    public var isNull: Bool { raw.pointee.type == JSON_NULL }

    public subscript(key: String) -> JSON? {
        guard isObject, let child = json_object_get(raw, key) else { return nil }
        return JSON(borrowing: child)
    }

    /// The string value, or nil when this is not a string.
    public var stringValue: String? {
        guard raw.pointee.type == JSON_STRING, let chars = json_string_value(raw) else { return nil }
        let length = json_string_length(raw)
        return chars.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
            String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
        }
    }

    /// Calls `body` with the string's UTF-8 bytes without copying them.
    public func withStringBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard raw.pointee.type == JSON_STRING, let chars = json_string_value(raw) else { return nil }
        let length = json_string_length(raw)
        return chars.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
            body(UnsafeBufferPointer(start: bytes, count: length))
        }
    }

    public var int64Value: Int64? {
        guard raw.pointee.type == JSON_INTEGER else { return nil }
        return Int64(json_integer_value(raw))
    }

    public var boolValue: Bool? {
        switch raw.pointee.type {
        case JSON_TRUE: return true
        case JSON_FALSE: return false
        default: return nil
        }
    }

    public var count: Int {
        switch raw.pointee.type {
        case JSON_OBJECT: return json_object_size(raw)
        case JSON_ARRAY: return json_array_size(raw)
        default: return 0
        }
    }

    public subscript(index: Int) -> JSON? {
        guard raw.pointee.type == JSON_ARRAY, let child = json_array_get(raw, index) else { return nil }
        return JSON(borrowing: child)
    }

    public var arrayElements: [JSON] {
        guard raw.pointee.type == JSON_ARRAY else { return [] }
        return (0..<json_array_size(raw)).map { JSON(borrowing: json_array_get(raw, $0)!) }
    }

    /// Keys in insertion order (jansson preserves it).
    public var keys: [String] {
        guard isObject else { return [] }
        var result: [String] = []
        var iterator = json_object_iter(raw)
        while let current = iterator {
            result.append(String(cString: json_object_iter_key(current)))
            iterator = json_object_iter_next(raw, current)
        }
        return result
    }

    // MARK: Writing

    public func set(_ key: String, _ value: JSON) {
        precondition(isObject, "set on a non-object")
        // json_object_set takes its own reference, so `value` stays valid for the caller.
        let status = json_object_set(raw, key, value.raw)
        precondition(status == 0, "jansson refused key \(key)")
    }

    public func set(_ key: String, string value: String) { set(key, .string(value)) }
    public func set(_ key: String, integer value: Int64) { set(key, .integer(value)) }
    public func set(_ key: String, bool value: Bool) { set(key, .bool(value)) }

    public func remove(_ key: String) {
        guard isObject else { return }
        _ = json_object_del(raw, key)
    }

    public func append(_ value: JSON) {
        precondition(raw.pointee.type == JSON_ARRAY, "append on a non-array")
        let status = json_array_append(raw, value.raw)
        precondition(status == 0, "jansson refused an array element")
    }

    // MARK: Serialising

    /// Compact single-line serialisation appended to `buffer`. jansson escapes
    /// control characters and "\n", so the output never spans lines.
    public func serialize(into buffer: inout [UInt8], sortKeys: Bool = false) {
        var flags = Int(JSON_COMPACT) | Int(JSON_ENCODE_ANY)
        if sortKeys { flags |= Int(JSON_SORT_KEYS) }
        withUnsafeMutablePointer(to: &buffer) { bufferPointer in
            let status = json_dump_callback(raw, { chunk, size, context in
                let target = context!.assumingMemoryBound(to: [UInt8].self)
                chunk!.withMemoryRebound(to: UInt8.self, capacity: size) { bytes in
                    target.pointee.append(contentsOf: UnsafeBufferPointer(start: bytes, count: size))
                }
                return 0
            }, bufferPointer, flags)
            precondition(status == 0, "jansson failed to serialise a value")
        }
    }

    public func serialized(sortKeys: Bool = false) -> String {
        var buffer: [UInt8] = []
        serialize(into: &buffer, sortKeys: sortKeys)
        return String(decoding: buffer, as: UTF8.self)
    }
}

extension JSON: CustomStringConvertible {
    public var description: String { serialized() }
}
