import TOMLKit

/// A configuration mistake, named by file and key path. Tools exit 78 on it.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let key: String
    public let problem: String
    public var description: String { "config error: \(file): \(key): \(problem)" }
}

/// Reads one TOML table strictly: every key must be read by the caller, and
/// `finish()` reports the first one nobody asked for — a misspelt key must
/// not silently fall back to a default in a system that moves money.
public struct TOMLReader {
    let file: String
    let path: String
    let table: TOMLTable
    private var consumed: Set<String> = []

    init(file: String, path: String, table: TOMLTable) {
        self.file = file
        self.path = path
        self.table = table
    }

    public func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func error(_ key: String, _ problem: String) -> ConfigError {
        ConfigError(file: file, key: keyPath(key), problem: problem)
    }

    public mutating func string(_ key: String) throws -> String? {
        consumed.insert(key)
        guard let value = table[key] else { return nil }
        guard let text = value.string else { throw error(key, "expected a string") }
        return text
    }

    public mutating func requiredString(_ key: String) throws -> String {
        guard let text = try string(key) else { throw missing(key) }
        guard !text.isEmpty else { throw error(key, "must not be empty") }
        return text
    }

    public mutating func int(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        consumed.insert(key)
        guard let value = table[key] else { return fallback }
        guard let number = value.int else { throw error(key, "expected an integer") }
        guard range.contains(number) else {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
        }
        return number
    }

    public mutating func requiredInt(_ key: String, range: ClosedRange<Int>) throws -> Int {
        guard table[key] != nil else {
            consumed.insert(key)
            throw missing(key)
        }
        return try int(key, default: range.lowerBound, range: range)
    }

    /// A base-unit amount: a decimal string (any size) or a non-negative TOML integer.
    public mutating func amount(_ key: String, default fallback: UInt256) throws -> UInt256 {
        consumed.insert(key)
        guard let value = table[key] else { return fallback }
        if let number = value.int {
            guard number >= 0 else { throw error(key, "must not be negative") }
            return UInt256(UInt64(number))
        }
        guard let text = value.string else { throw error(key, "expected a base-unit amount as a decimal string") }
        do { return try UInt256(decimal: text) } catch {
            throw self.error(key, "\(text) is not a base-unit amount: \(error.message)")
        }
    }

    /// A base-unit amount that fits 64 bits, or nil when the key is absent.
    public mutating func optionalSmallAmount(_ key: String) throws -> UInt64? {
        guard table[key] != nil else {
            consumed.insert(key)
            return nil
        }
        let value = try amount(key, default: .zero)
        guard value <= UInt256(UInt64.max), let small = UInt64(value.description) else {
            throw error(key, "must be at most \(UInt64.max) base units")
        }
        return small
    }

    public mutating func bool(_ key: String, default fallback: Bool) throws -> Bool {
        consumed.insert(key)
        guard let value = table[key] else { return fallback }
        guard let flag = value.bool else { throw error(key, "expected true or false") }
        return flag
    }

    public mutating func table(_ key: String) throws -> TOMLReader? {
        consumed.insert(key)
        guard let value = table[key] else { return nil }
        guard let child = value.table else { throw error(key, "expected a table") }
        return TOMLReader(file: file, path: keyPath(key), table: child)
    }

    /// An array of tables, `[[key]]` in TOML.
    public mutating func tables(_ key: String) throws -> [TOMLReader] {
        consumed.insert(key)
        guard let value = table[key] else { return [] }
        guard let array = value.array else { throw error(key, "expected an array of tables ([[\(keyPath(key))]])") }
        var readers: [TOMLReader] = []
        for (index, element) in array.enumerated() {
            guard let child = element.table else { throw error("\(key)[\(index)]", "expected a table") }
            readers.append(TOMLReader(file: file, path: "\(keyPath(key))[\(index)]", table: child))
        }
        return readers
    }

    /// A required key is absent. A key nobody reads that is one or two typos
    /// away is named instead, as unknown: "recevier" is the mistake to fix,
    /// not a missing "receiver".
    func missing(_ key: String) -> ConfigError {
        let nearMiss = table.keys.sorted().first { candidate in
            !consumed.contains(candidate) && candidate.count >= 4
                && TOMLReader.editDistance(candidate, key, limit: 2) <= 2
        }
        if let nearMiss { return error(nearMiss, "unknown key (is it a misspelt \(key), which is required?)") }
        return error(key, "is required")
    }

    /// Levenshtein distance, giving up (returning limit + 1) once it must exceed `limit`.
    static func editDistance(_ left: String, _ right: String, limit: Int) -> Int {
        let a = Array(left.utf8), b = Array(right.utf8)
        guard abs(a.count - b.count) <= limit, a.count <= 64, b.count <= 64 else { return limit + 1 }
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            if let best = current.min(), best > limit { return limit + 1 }
            previous = current
        }
        return previous[b.count]
    }

    public func finish() throws {
        for key in table.keys.sorted() where !consumed.contains(key) {
            throw error(key, "unknown key")
        }
    }
}
