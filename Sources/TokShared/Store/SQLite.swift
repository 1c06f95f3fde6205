import CSQLite

/// A failure inside SQLite. Callers turn it into `.databaseError` (retryable):
/// the transaction it happened in is rolled back, so nothing was changed.
public struct SQLiteError: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }
}

// SQLite's "copy this buffer now" destructor sentinel, which Swift cannot import as a macro.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A thin, strict wrapper over libsqlite3: prepared statements, typed binds,
/// every result code checked.
public final class SQLiteDatabase {
    let handle: OpaquePointer
    public let path: String
    private var statementCache: [String: SQLiteStatement] = [:]

    public init(path: String, readOnly: Bool = false) throws {
        var opened: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &opened, flags, nil)
        guard status == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let opened { sqlite3_close_v2(opened) }
            throw SQLiteError(code: status, message: "\(path): \(message)")
        }
        handle = opened
        self.path = path
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        statementCache.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ status: Int32) -> SQLiteError {
        SQLiteError(code: status, message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Runs SQL that returns no rows (schema, pragmas, transaction control).
    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        if status != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "unknown"
            sqlite3_free(message)
            throw SQLiteError(code: status, message: text)
        }
    }

    /// A prepared statement, cached by its SQL text: the hot path prepares nothing.
    /// It comes back reset and with no bindings, whatever its last user left.
    public func statement(_ sql: String) throws -> SQLiteStatement {
        if let cached = statementCache[sql] {
            cached.prepareForReuse()
            return cached
        }
        var prepared: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        guard status == SQLITE_OK, let prepared else { throw error(status) }
        let statement = SQLiteStatement(database: self, handle: prepared)
        statementCache[sql] = statement
        return statement
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
    public var lastInsertRowId: Int64 { sqlite3_last_insert_rowid(handle) }
    public var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// A single integer from a query such as `PRAGMA user_version`.
    public func scalarInt(_ sql: String) throws -> Int64? {
        let query = try statement(sql)
        defer { query.reset() }
        guard try query.step() else { return nil }
        return query.isNull(0) ? nil : query.int64(0)
    }
}

public final class SQLiteStatement {
    unowned let database: SQLiteDatabase
    let handle: OpaquePointer

    init(database: SQLiteDatabase, handle: OpaquePointer) {
        self.database = database
        self.handle = handle
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

    @discardableResult
    public func bind(_ index: Int32, _ text: String) throws -> SQLiteStatement {
        var copy = text
        let status = copy.withUTF8 { bytes in
            sqlite3_bind_text(handle, index, UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self),
                              Int32(bytes.count), sqliteTransient)
        }
        guard status == SQLITE_OK else { throw database.error(status) }
        return self
    }

    /// Binds UTF-8 text held in a byte buffer (text built as bytes need not become a String first).
    @discardableResult
    public func bind(_ index: Int32, utf8 bytes: [UInt8]) throws -> SQLiteStatement {
        // An empty buffer may have no address, and a nil pointer would bind NULL, not "".
        if bytes.isEmpty { return try bind(index, "") }
        let status = bytes.withUnsafeBufferPointer { buffer in
            sqlite3_bind_text(handle, index, UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                              Int32(buffer.count), sqliteTransient)
        }
        guard status == SQLITE_OK else { throw database.error(status) }
        return self
    }

    @discardableResult
    public func bind(_ index: Int32, _ value: Int64) throws -> SQLiteStatement {
        let status = sqlite3_bind_int64(handle, index, value)
        guard status == SQLITE_OK else { throw database.error(status) }
        return self
    }

    @discardableResult
    public func bind(_ index: Int32, _ text: String?) throws -> SQLiteStatement {
        guard let text else {
            let status = sqlite3_bind_null(handle, index)
            guard status == SQLITE_OK else { throw database.error(status) }
            return self
        }
        return try bind(index, text)
    }

    /// Steps once: true when a row is available, false when done.
    public func step() throws -> Bool {
        let status = sqlite3_step(handle)
        switch status {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw database.error(status)
        }
    }

    /// Runs a statement that returns no rows.
    public func run() throws {
        defer { reset() }
        while try step() {}
    }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    public func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    public func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }
}
