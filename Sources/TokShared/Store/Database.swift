/// The seam between the ledger and a database engine. The ledger speaks SQL
/// with named parameters (`:request_id`) and reads result columns by name, so
/// one statement text serves every engine; what differs between engines (how a
/// write transaction begins, schema types, where the schema version lives) is
/// the dialect's. SQLite implements it today (SQLite.swift); PostgreSQL fills
/// the same two protocols.

/// A failure inside the database engine, in the store's own terms. Stages map
/// it to a record's `database_error` or to an exit code at the tool's edge;
/// the store itself never decides how a process ends.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// Another connection holds a lock; trying again later can succeed.
        case busy
        /// A constraint refused the write (unique, check, not null, trigger).
        case constraint
        /// The file or server is not a database tok can use (not a database,
        /// corrupt, another application's, a newer schema).
        case unusable
        /// The database cannot be written (read-only file or connection).
        case readOnly
        /// The database holds something the config contradicts (a token's ledger decimals).
        case conflictsWithConfig
        /// The connection or the disk failed; nothing of the transaction stands.
        case unavailable
        /// tok used the engine wrongly: a bug.
        case misuse
        case other
    }

    public let kind: Kind
    public let message: String
    /// The engine's own code, for messages (SQLite's extended result code).
    public let engineCode: Int32

    public init(_ kind: Kind, _ message: String, engineCode: Int32 = 0) {
        self.kind = kind
        self.message = message
        self.engineCode = engineCode
    }

    public var description: String { "database error\(engineCode == 0 ? "" : " \(engineCode)"): \(message)" }
}

/// What differs in SQL between engines. Statements the ledger runs on the hot
/// path are written in the common subset both engines take (`ON CONFLICT …
/// DO UPDATE`/`DO NOTHING`, `excluded.`, named parameters); only the few
/// places below need the engine's own words.
public protocol SQLDialect: Sendable {
    /// "sqlite" or "postgresql", for messages and the migration record.
    var name: String { get }
    /// Starts the batch's write transaction, taking the write lock at once so a
    /// second writer waits at the start rather than failing at commit.
    var beginWriteTransaction: String { get }
}

/// One open connection. Not shared between threads: the ledger is used by one
/// stage's sequential pass.
public protocol DatabaseConnection: AnyObject {
    var dialect: any SQLDialect { get }
    /// Where the data lives, for messages (a path; a URI without its password).
    var location: String { get }
    /// Runs SQL that returns no rows (schema, settings, transaction control).
    func execute(_ sql: String) throws(StoreError)
    /// A prepared statement, cached by its text: the hot path prepares nothing.
    /// It comes back reset with no bindings, whatever its last user left.
    func statement(_ sql: String) throws(StoreError) -> any DatabaseStatement
    /// Rows the last INSERT, UPDATE or DELETE changed.
    var changes: Int { get }
    var inTransaction: Bool { get }
}

/// A prepared statement with its current row. Parameters are bound and
/// columns read by name; a name the statement does not have is a bug (a
/// precondition), never a silent NULL.
public protocol DatabaseStatement: AnyObject {
    @discardableResult func bind(_ name: String, _ text: String) throws(StoreError) -> Self
    @discardableResult func bind(_ name: String, _ text: String?) throws(StoreError) -> Self
    @discardableResult func bind(_ name: String, utf8 bytes: [UInt8]) throws(StoreError) -> Self
    @discardableResult func bind(_ name: String, _ value: Int64) throws(StoreError) -> Self
    @discardableResult func bind(_ name: String, _ value: Int64?) throws(StoreError) -> Self
    /// Steps once: true when a row is available, false when done.
    func step() throws(StoreError) -> Bool
    /// Ends the current execution so the statement holds no locks.
    func reset()

    func isNull(_ column: String) -> Bool
    func int64(_ column: String) -> Int64
    func text(_ column: String) -> String
    /// By position, for one-column queries (`count(*)`) and ad-hoc tools only:
    /// the ledger's own statements read by name.
    func isNull(at index: Int32) -> Bool
    func int64(at index: Int32) -> Int64
    func text(at index: Int32) -> String
}

extension DatabaseStatement {
    /// Runs a statement that returns no rows.
    public func run() throws(StoreError) {
        defer { reset() }
        while try step() {}
    }

    public func optionalText(_ column: String) -> String? { isNull(column) ? nil : text(column) }
    public func optionalInt64(_ column: String) -> Int64? { isNull(column) ? nil : int64(column) }
}

extension DatabaseConnection {
    /// A single integer from a one-row query (`SELECT count(*) AS n …`), or nil
    /// when there is no row or the value is NULL. Reads the first column.
    public func scalarInt(_ sql: String) throws(StoreError) -> Int64? {
        let query = try statement(sql)
        defer { query.reset() }
        guard try query.step() else { return nil }
        return query.isNull(at: 0) ? nil : query.int64(at: 0)
    }
}
