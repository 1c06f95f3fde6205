import CJansson

/// A JSON value held by libjansson. Records flow through every stage as these:
/// a stage reads the fields it needs, adds its findings, and re-serialises the
/// same object, so fields it does not know pass through untouched and in order.
///
/// Thread confinement: a JSON value is used by one task at a time. Chain I/O
/// runs on plain Swift value types extracted from it.
public final class JSON {
    public let raw: UnsafeMutablePointer<json_t>

    /// For a record read from a line: the line's bytes, so an output that only
    /// added top-level keys is written as those bytes plus the new keys, not
    /// re-serialised (halves the cost of a pass-through stage). Stages set
    /// top-level keys only and never edit nested values of an input record in
    /// place; replacing or removing an original key makes the record "edited"
    /// and it is serialised in full.
    var originalLine: ArraySlice<UInt8>?
    var originalKeyCount = 0
    private(set) var appendedKeys: [String] = []
    private(set) var edited = false

    /// Remembers the source line of a freshly parsed top-level object. The
    /// slice shares the reader's buffer: no copy per record.
    func rememberOriginal(_ bytes: ArraySlice<UInt8>) {
        originalLine = bytes
        originalKeyCount = json_object_size(raw)
    }

    private func noteChange(of key: String) {
        guard originalLine != nil, !edited else { return }
        if appendedKeys.contains(key) { return }
        if child(key) != nil {
            edited = true
        } else {
            appendedKeys.append(key)
        }
    }

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

    /// Parses one complete JSON text (any value: a scalar line is then reported
    /// as "not an object" rather than as bad JSON). Duplicate keys are refused: in a money
    /// system `{"amount":"1","amount":"1000"}` must not mean whatever a parser picks.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<JSON, ParseFailure> {
        if let parsed = FastJSONParser.parse(bytes) { return .success(JSON(owning: parsed)) }
        return parseWithJansson(bytes)
    }

    /// jansson's own parser: every text FastJSONParser leaves, and every error message.
    static func parseWithJansson(_ bytes: UnsafeRawBufferPointer) -> Result<JSON, ParseFailure> {
        var error = json_error_t()
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        let empty: CChar = 0
        let parsed = withUnsafePointer(to: empty) { emptyPointer in
            json_loadb(base ?? emptyPointer, bytes.count, Int(JSON_REJECT_DUPLICATES) | Int(JSON_DECODE_ANY), &error)
        }
        if let parsed { return .success(JSON(owning: parsed)) }
        let text = withUnsafeBytes(of: &error.text) { buffer in
            String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
        return .failure(
            ParseFailure(
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

    public var kind: Kind { JSON.kind(of: raw) }

    static func kind(of raw: UnsafeMutablePointer<json_t>) -> Kind {
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
        guard let child = child(key) else { return nil }
        return JSON(borrowing: child)
    }

    /// The raw child pointer, without allocating a wrapper (hot paths).
    @inline(__always)
    func child(_ key: String) -> UnsafeMutablePointer<json_t>? {
        guard isObject else { return nil }
        return JSON.withKey(key) { json_object_getn(raw, $0, $1) }
    }

    /// Calls `body` with a key's bytes and the length jansson's C-string calls
    /// would see (up to a NUL), sparing those calls their strlen and UTF-8 check
    /// (a Swift String is valid UTF-8): lookups and sets run many times per record.
    @inline(__always)
    static func withKey<R>(_ key: String, _ body: (UnsafePointer<CChar>, Int) -> R) -> R {
        var key = key
        return key.withUTF8 { bytes in
            var length = 0
            while length < bytes.count, bytes[length] != 0 { length += 1 }
            return bytes.withMemoryRebound(to: CChar.self) { chars in
                guard let base = chars.baseAddress else { return "".withCString { body($0, 0) } }
                return body(base, length)
            }
        }
    }

    /// A member's string value, or nil when absent or not a string.
    public func string(at key: String) -> String? {
        guard let child = child(key), child.pointee.type == JSON_STRING,
            let chars = json_string_value(child)
        else { return nil }
        let length = json_string_length(child)
        return chars.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
            String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
        }
    }

    /// True when the member exists (JSON null counts as present).
    public func has(_ key: String) -> Bool { child(key) != nil }

    /// The member's kind without allocating a wrapper; nil when absent.
    public func kind(at key: String) -> Kind? {
        guard let child = child(key) else { return nil }
        return JSON.kind(of: child)
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

    /// An integer given as a JSON integer or as decimal text (answers read with
    /// numbers as text, see JSONRPCClient's `numbersAsText`).
    public var lenientInt64: Int64? {
        if let value = int64Value { return value }
        return stringValue.flatMap { Int64($0) }
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
        noteChange(of: key)
        // json_object_setn_nocheck takes its own reference, so `value` stays valid for the caller.
        let status = JSON.withKey(key) { json_object_setn_nocheck(raw, $0, $1, value.raw) }
        precondition(status == 0, "jansson refused key \(key)")
    }

    /// A string member, made straight into the object: no wrapper object per
    /// member (tok-validate sets six strings on every deposit).
    public func set(_ key: String, string value: String) {
        precondition(isObject, "set on a non-object")
        noteChange(of: key)
        var copy = value
        let made = copy.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in json_stringn_nocheck(chars.baseAddress, chars.count) }
        }
        // json_object_setn_new_nocheck takes over the new string's reference.
        let status = JSON.withKey(key) { json_object_setn_new_nocheck(raw, $0, $1, made) }
        precondition(status == 0, "jansson refused key \(key)")
    }
    public func set(_ key: String, integer value: Int64) { set(key, .integer(value)) }
    public func set(_ key: String, bool value: Bool) { set(key, .bool(value)) }

    public func remove(_ key: String) {
        guard child(key) != nil else { return }
        if originalLine != nil {
            if let index = appendedKeys.firstIndex(of: key) { appendedKeys.remove(at: index) } else { edited = true }
        }
        _ = JSON.withKey(key) { json_object_deln(raw, $0, $1) }
    }

    public func append(_ value: JSON) {
        precondition(raw.pointee.type == JSON_ARRAY, "append on a non-array")
        let status = json_array_append(raw, value.raw)
        precondition(status == 0, "jansson refused an array element")
    }

    // MARK: Serialising

    /// Compact single-line serialisation appended to `buffer` (control
    /// characters and "\n" are escaped, so the output never spans lines).
    public func serialize(into buffer: inout [UInt8], sortKeys: Bool = false) {
        JSONWriter.write(raw, into: &buffer, sortKeys: sortKeys)
    }

    /// `"key":` — our keys are plain ASCII names; anything else goes through jansson's escaping.
    static func appendKey(_ key: String, to buffer: inout [UInt8]) {
        if key.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) {
            buffer.append(UInt8(ascii: "\""))
            buffer.append(contentsOf: key.utf8)
            buffer.append(UInt8(ascii: "\""))
        } else {
            JSON.string(key).serialize(into: &buffer)
        }
        buffer.append(UInt8(ascii: ":"))
    }

    /// Writes the record as one line: its original bytes when untouched, the
    /// original bytes with the added keys spliced in before the closing brace
    /// when keys were only added, and a full serialisation otherwise.
    public func writeRecord(into buffer: inout [UInt8]) {
        guard let original = originalLine, !edited,
            let closing = original.lastIndex(of: UInt8(ascii: "}"))
        else {
            serialize(into: &buffer)
            return
        }
        if appendedKeys.isEmpty {
            buffer.append(contentsOf: original)
            return
        }
        buffer.append(contentsOf: original[..<closing])
        var needsComma = originalKeyCount > 0
        for key in appendedKeys {
            guard let value = child(key) else { continue }
            if needsComma { buffer.append(UInt8(ascii: ",")) }
            needsComma = true
            JSON.appendKey(key, to: &buffer)
            JSONWriter.write(value, into: &buffer, sortKeys: false)
        }
        buffer.append(UInt8(ascii: "}"))
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
