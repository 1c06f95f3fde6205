/// Reads the members of one object of a record, so that every refusal names
/// the JSON path of what was wrong (`verified.block_number is required`).
/// Record sections read themselves through it; a stage never spells a nested
/// key by hand.
public struct FieldReader {
    public let object: JSON
    /// Where `object` sits in the record: "" for the record itself,
    /// "validated", "payout_tx.inputs[2]".
    public let path: String

    public init(_ object: JSON, path: String) {
        self.object = object
        self.path = path
    }

    /// The object under `key` of a record, or `missing` when it is absent or not an object.
    public static func section(
        _ record: JSON, _ key: String, missing: ErrorCode = .missingField
    ) throws(TokError) -> FieldReader {
        guard let value = record[key], value.isObject else {
            throw TokError(missing, record.has(key) ? "\(key) must be an object" : "\(key) is required")
        }
        return FieldReader(value, path: key)
    }

    /// The JSON path of a member.
    public func pathOf(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    public func has(_ key: String) -> Bool {
        guard let kind = object.kind(at: key) else { return false }
        return kind != .null
    }

    /// A required non-empty string. (`string(at:)` reads the member without
    /// wrapping it in a JSON value first: this runs for every record.)
    public func string(_ key: String) throws(TokError) -> String {
        if let text = object.string(at: key), !text.isEmpty { return text }
        guard has(key) else { throw TokError(.missingField, "\(pathOf(key)) is required") }
        throw TokError(.badFieldType, "\(pathOf(key)) must be a non-empty string")
    }

    public func optionalString(_ key: String) throws(TokError) -> String? {
        has(key) ? try string(key) : nil
    }

    /// A required JSON integer ≥ 0.
    public func count(_ key: String) throws(TokError) -> Int64 {
        guard let value = try optionalCount(key) else { throw TokError(.missingField, "\(pathOf(key)) is required") }
        return value
    }

    public func optionalCount(_ key: String) throws(TokError) -> Int64? {
        guard has(key) else { return nil }
        guard let value = object[key]?.int64Value, value >= 0 else {
            throw TokError(.badFieldType, "\(pathOf(key)) must be a non-negative integer")
        }
        return value
    }

    /// A required base-unit amount written as a decimal string.
    public func amount(_ key: String) throws(TokError) -> UInt256 {
        let text = try string(key)
        do {
            return try UInt256(decimal: text)
        } catch {
            throw TokError(error.code, "\(pathOf(key)): \(error.message)")
        }
    }

    public func optionalAmount(_ key: String) throws(TokError) -> UInt256? {
        has(key) ? try amount(key) : nil
    }

    public func bool(_ key: String, default value: Bool) throws(TokError) -> Bool {
        guard has(key) else { return value }
        guard let flag = object[key]?.boolValue else {
            throw TokError(.badFieldType, "\(pathOf(key)) must be true or false")
        }
        return flag
    }

    /// A nested object.
    public func section(_ key: String) throws(TokError) -> FieldReader {
        guard let value = object[key], value.isObject else {
            throw TokError(
                has(key) ? .badFieldType : .missingField,
                has(key) ? "\(pathOf(key)) must be an object" : "\(pathOf(key)) is required")
        }
        return FieldReader(value, path: pathOf(key))
    }

    /// The elements of an array member, at most `limit` of them, or nil when absent.
    public func optionalArray(_ key: String, limit: Int) throws(TokError) -> [JSON]? {
        guard has(key) else { return nil }
        guard let value = object[key], value.kind == .array else {
            throw TokError(.badFieldType, "\(pathOf(key)) must be a list")
        }
        let elements = value.arrayElements
        guard elements.count <= limit else {
            throw TokError(.badFieldType, "\(pathOf(key)) holds \(elements.count) entries, more than \(limit)")
        }
        return elements
    }
}
