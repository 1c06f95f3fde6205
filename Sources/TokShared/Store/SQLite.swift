import CSQLite

/// SQLite's primary result codes (the low byte of an extended code), so
/// callers match `.constraint` instead of comparing `code & 0xFF == 19`.
public enum SQLiteResultCode: Int32, Sendable {
    case ok = 0, error, `internal`, permission, abort, busy, locked, noMemory, readOnly, interrupt, ioError, corrupt,
        notFound, full, cannotOpen, `protocol`, empty, schema, tooBig, constraint, mismatch, misuse, noLargeFile,
        authorization, format, range, notADatabase, notice, warning
    case row = 100, done = 101

    /// The primary code of an extended one; unknown codes read as `.error`.
    public init(extended code: Int32) {
        self = SQLiteResultCode(rawValue: code & 0xFF) ?? .error
    }

    /// How the store reports it.
    var storeErrorKind: StoreError.Kind {
        switch self {
        case .busy, .locked: return .busy
        case .constraint: return .constraint
        case .corrupt, .notADatabase, .format, .schema, .empty: return .unusable
        case .readOnly, .permission, .authorization: return .readOnly
        case .ioError, .full, .cannotOpen, .noMemory, .interrupt, .protocol, .noLargeFile: return .unavailable
        case .misuse, .range, .mismatch: return .misuse
        case .ok, .row, .done, .error, .internal, .abort, .notFound, .tooBig, .notice, .warning: return .other
        }
    }
}

/// SQLite's dialect: `BEGIN IMMEDIATE` takes the write lock at the start.
public struct SQLiteDialect: SQLDialect {
    public init() {}
    public var name: String { "sqlite" }
    public var beginWriteTransaction: String { "BEGIN IMMEDIATE" }
    public var legacyVersionQuery: String? { "PRAGMA user_version" }
    public func setLegacyVersion(_ version: Int) -> String? { "PRAGMA user_version = \(version)" }
    public var applicationIdQuery: String? { "PRAGMA application_id" }
    public func setApplicationId(_ id: Int32) -> String? { "PRAGMA application_id = \(id)" }
    public var listTables: String {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name"
    }
    // An INTEGER PRIMARY KEY is the rowid: the next one follows the largest present.
    public var identityColumnsQuery: String? { nil }
    public func resetIdentity(table: String, column: String) -> String { "SELECT 1" }

    public func render(_ step: SchemaStep) -> String {
        switch step {
        case .sql(let text):
            return text.replacingTokens([
                "{int}": "INTEGER", "{text}": "TEXT", "{key}": "INTEGER PRIMARY KEY",
                "{without_rowid}": "WITHOUT ROWID",
            ])
        case .appendOnly(let table, let message):
            // The trigger names of the released schema 1.
            return """
                CREATE TRIGGER \(table)_no_update BEFORE UPDATE ON \(table)
                    BEGIN SELECT RAISE(ABORT, '\(message)'); END;
                CREATE TRIGGER \(table)_no_delete BEFORE DELETE ON \(table)
                    BEGIN SELECT RAISE(ABORT, '\(message)'); END;
                """
        case .check(let table, let column, let rule):
            // SQLite cannot add a CHECK to an existing table: a trigger pair refuses the same rows.
            let refuse = "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: \(table).\(column) \(rule)'); END;"
            return """
                CREATE TRIGGER \(table)_\(column)_range_insert BEFORE INSERT ON \(table)
                    WHEN NOT (NEW.\(column) \(rule)) \(refuse)
                CREATE TRIGGER \(table)_\(column)_range_update BEFORE UPDATE OF \(column) ON \(table)
                    WHEN NOT (NEW.\(column) \(rule)) \(refuse)
                """
        }
    }
}

extension String {
    /// Replaces each `{token}` by its word; used to render the neutral schema.
    func replacingTokens(_ words: [String: String]) -> String {
        var text = self
        for (token, word) in words { text = text.replacing(token, with: word) }
        return text
    }
}

// SQLite's "copy this buffer now" destructor sentinel, which Swift cannot import as a macro.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A thin, strict wrapper over libsqlite3: prepared statements, binds by
/// parameter name, columns by name, every result code checked.
public final class SQLiteDatabase: DatabaseConnection {
    let handle: OpaquePointer
    public let path: String
    public var location: String { path }
    public let dialect: any SQLDialect = SQLiteDialect()
    private var statementCache: [StatementText: SQLiteStatement] = [:]

    public init(path: String, readOnly: Bool = false) throws(StoreError) {
        var opened: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &opened, flags, nil)
        guard status == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let opened { sqlite3_close_v2(opened) }
            throw StoreError(
                SQLiteResultCode(extended: status).storeErrorKind, "\(path): \(message)", engineCode: status)
        }
        handle = opened
        self.path = path
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        statementCache.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ status: Int32) -> StoreError {
        StoreError(
            SQLiteResultCode(extended: status).storeErrorKind, String(cString: sqlite3_errmsg(handle)),
            engineCode: status)
    }

    public func execute(_ sql: String) throws(StoreError) {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        if status != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "unknown"
            sqlite3_free(message)
            throw StoreError(SQLiteResultCode(extended: status).storeErrorKind, text, engineCode: status)
        }
    }

    public func statement(_ sql: String) throws(StoreError) -> any DatabaseStatement {
        try sqliteStatement(sql)
    }

    /// The same, typed: for code that knows it talks to SQLite.
    public func sqliteStatement(_ sql: String) throws(StoreError) -> SQLiteStatement {
        if let cached = statementCache[StatementText(sql)] {
            cached.prepareForReuse()
            return cached
        }
        var prepared: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        guard status == SQLITE_OK, let prepared else { throw error(status) }
        let statement = SQLiteStatement(database: self, handle: prepared)
        statementCache[StatementText(sql)] = statement
        return statement
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
    public var lastInsertRowId: Int64 { sqlite3_last_insert_rowid(handle) }
    public var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }
}

/// A statement cache key hashed on its length and first and last bytes only: the ledger
/// looks up a dozen statements per record, some of 300 bytes, and hashing all
/// of each text cost more than the lookups' other work. Equality still
/// compares the whole text (at once when both are the same literal).
private struct StatementText: Hashable {
    let text: String
    init(_ text: String) { self.text = text }

    func hash(into hasher: inout Hasher) {
        let count = text.utf8.count
        hasher.combine(count)
        // Three words instead of 24 bytes one by one: a combine per byte was
        // about 2 % of tok-apply's CPU. Statements' texts are contiguous (literals
        // and texts built once), so the byte-wise path is only a fallback.
        // A text shorter than three words ("SAVEPOINT record", "COMMIT") is hashed whole, zero-padded.
        let hashedWords: Void? = text.utf8.withContiguousStorageIfAvailable { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
            if count >= 24 {
                words = (
                    raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                    raw.loadUnaligned(fromByteOffset: count - 16, as: UInt64.self),
                    raw.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
                )
            } else {
                withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: raw) }
            }
            hasher.combine(words.0)
            hasher.combine(words.1)
            hasher.combine(words.2)
        }
        if hashedWords == nil {
            for byte in text.utf8.suffix(24) { hasher.combine(byte) }
        }
    }

    static func == (left: StatementText, right: StatementText) -> Bool { left.text == right.text }
}

public final class SQLiteStatement: DatabaseStatement {
    unowned let database: SQLiteDatabase
    let handle: OpaquePointer
    /// Parameter names in position order (position = index + 1), read once at prepare. A
    /// statement has a dozen at most and they are short (Swift's small strings, compared in two
    /// words), so a scan costs no more than hashing the name for a dictionary would.
    private let parameterNames: [String]
    private let columns: [String: Int32]

    init(database: SQLiteDatabase, handle: OpaquePointer) {
        self.database = database
        self.handle = handle
        var parameterNames: [String] = []
        let parameterCount = sqlite3_bind_parameter_count(handle)
        if parameterCount > 0 {
            for index in 1...parameterCount {
                // ":name" in the SQL; bound as "name". A nameless "?" can never be bound by name.
                parameterNames.append(
                    sqlite3_bind_parameter_name(handle, index).map { String(String(cString: $0).dropFirst()) } ?? "")
            }
        }
        var columns: [String: Int32] = [:]
        for index in 0..<sqlite3_column_count(handle) {
            guard let name = sqlite3_column_name(handle, index) else { continue }
            columns[String(cString: name)] = index
        }
        self.parameterNames = parameterNames
        self.columns = columns
    }

    deinit { sqlite3_finalize(handle) }

    /// Ends the current execution: releases the statement's read or write
    /// cursor so it holds no locks. Bindings stay until the statement is handed
    /// out again (`SQLiteDatabase.statement` clears them); clearing them here
    /// too would do that work twice for every use.
    public func reset() {
        sqlite3_reset(handle)
    }

    /// Called when the cache hands the statement out. Its last user normally
    /// reset it already (then this reset costs next to nothing); one that
    /// stopped early did not, and binding a statement that is not reset fails.
    func prepareForReuse() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    private func parameter(_ name: String) -> Int32 {
        guard !name.isEmpty, let index = parameterNames.firstIndex(of: name) else {
            preconditionFailure("the statement has no parameter :\(name)")
        }
        return Int32(index + 1)
    }

    private func column(_ name: String) -> Int32 {
        guard let index = columns[name] else { preconditionFailure("the statement has no result column \(name)") }
        return index
    }

    private func check(_ status: Int32) throws(StoreError) {
        guard status == SQLITE_OK else { throw database.error(status) }
    }

    @discardableResult
    public func bind(_ name: String, _ text: String) throws(StoreError) -> SQLiteStatement {
        let index = parameter(name)
        var copy = text
        let status = copy.withUTF8 { bytes in
            // An empty string may have no address, and a nil pointer would bind NULL, not "".
            bytes.isEmpty
                ? sqlite3_bind_text(handle, index, "", 0, sqliteTransient)
                : sqlite3_bind_text(
                    handle, index, UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self),
                    Int32(bytes.count), sqliteTransient)
        }
        try check(status)
        return self
    }

    /// Binds UTF-8 text held in a byte buffer (text built as bytes need not become a String first).
    @discardableResult
    public func bind(_ name: String, utf8 bytes: [UInt8]) throws(StoreError) -> SQLiteStatement {
        if bytes.isEmpty { return try bind(name, "") }
        let index = parameter(name)
        let status = bytes.withUnsafeBufferPointer { buffer in
            sqlite3_bind_text(
                handle, index, UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                Int32(buffer.count), sqliteTransient)
        }
        try check(status)
        return self
    }

    @discardableResult
    public func bind(_ name: String, _ value: Int64) throws(StoreError) -> SQLiteStatement {
        try check(sqlite3_bind_int64(handle, parameter(name), value))
        return self
    }

    @discardableResult
    public func bind(_ name: String, _ text: String?) throws(StoreError) -> SQLiteStatement {
        guard let text else {
            try check(sqlite3_bind_null(handle, parameter(name)))
            return self
        }
        return try bind(name, text)
    }

    @discardableResult
    public func bind(_ name: String, _ value: Int64?) throws(StoreError) -> SQLiteStatement {
        guard let value else {
            try check(sqlite3_bind_null(handle, parameter(name)))
            return self
        }
        return try bind(name, value)
    }

    public func step() throws(StoreError) -> Bool {
        let status = sqlite3_step(handle)
        switch status {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw database.error(status)
        }
    }

    public func isNull(_ column: String) -> Bool { isNull(at: self.column(column)) }
    public func int64(_ column: String) -> Int64 { int64(at: self.column(column)) }
    public func text(_ column: String) -> String { text(at: self.column(column)) }

    public var columnNames: [String] {
        (0..<sqlite3_column_count(handle)).map { String(cString: sqlite3_column_name(handle, $0)) }
    }

    public func isNull(at index: Int32) -> Bool { sqlite3_column_type(handle, index) == SQLITE_NULL }
    public func int64(at index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

    public func text(at index: Int32) -> String {
        guard let bytes = sqlite3_column_text(handle, index) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, index))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }
}
