/// The seam between the ledger and a database engine. The ledger speaks SQL
/// with named parameters (`:request_id`) and reads result columns by name, so
/// one statement text serves every engine; what differs between engines (how a
/// write transaction begins, schema types, where the schema version lives) is
/// the dialect's. SQLite (SQLite.swift) and PostgreSQL (PostgreSQL/) fill
/// the same protocols.

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
        /// The database has no tok schema yet, or an older one: tok-apply has not
        /// migrated it (it may be doing so now). Readers wait; it is not a fault.
        case notReady
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
    /// PostgreSQL's SQLSTATE (five characters), when the server sent one.
    public let sqlState: String?

    public init(_ kind: Kind, _ message: String, engineCode: Int32 = 0, sqlState: String? = nil) {
        self.kind = kind
        self.message = message
        self.engineCode = engineCode
        self.sqlState = sqlState
    }

    /// Whether the same work can succeed later (a lock, a lost connection).
    public var isRetryable: Bool { kind == .busy || kind == .unavailable }

    public var description: String {
        let code = sqlState ?? (engineCode == 0 ? nil : "\(engineCode)")
        return "database error\(code.map { " \($0)" } ?? ""): \(message)"
    }
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
    /// A schema statement in tok's neutral form, in this engine's words (Schema.swift).
    func render(_ step: SchemaStep) -> String
    /// SQLite files before `schema_migrations` kept their version in `PRAGMA
    /// user_version`: the query that reads it, and the statement that keeps it
    /// in step. Nil where there is no such thing.
    var legacyVersionQuery: String? { get }
    func setLegacyVersion(_ version: Int) -> String?
    /// The engine's own mark of which application a database belongs to
    /// (SQLite's `PRAGMA application_id`, in the file's header): the query that
    /// reads it and the statement that sets it. Nil where there is none.
    var applicationIdQuery: String? { get }
    func setApplicationId(_ id: Int32) -> String?
    /// The user tables (column `name`), for `tok-apply copy`; the migrations table excluded.
    var listTables: String { get }
    /// Columns (`name`) of table `:table` whose values a sequence generates, or
    /// nil when generated keys need no care after rows are copied in with theirs.
    var identityColumnsQuery: String? { get }
    /// Moves a generated-key sequence past the rows copied in.
    func resetIdentity(table: String, column: String) -> String
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
    /// Makes sure the connection is usable before a batch: a server connection
    /// lost since the last batch is opened again (bounded retries with
    /// backoff), or this throws `.unavailable`. A file needs nothing.
    func ensureOpen() throws(StoreError)
}

extension DatabaseConnection {
    public func ensureOpen() throws(StoreError) {}
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
    /// The result columns' names, in order (for `tok-apply copy`).
    var columnNames: [String] { get }
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
