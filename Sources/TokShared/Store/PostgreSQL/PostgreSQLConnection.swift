#if canImport(Glibc)
import Glibc
#endif
import CLibPQ

/// How a connection to a PostgreSQL server is made: the URI, the password
/// (from the environment variable the config names; else libpq's own
/// PGPASSWORD / PGPASSFILE / ~/.pgpass handling), and how it behaves.
public struct PostgreSQLSettings: Sendable {
    public var uri: String
    /// Never logged or printed: every message redacts it.
    public var password: String?
    /// "full": commits wait for the WAL flush (`synchronous_commit = on`); "normal": `off`.
    public var synchronous: String = "full"
    public var readOnly = false
    /// Reconnection after a lost connection: attempts, the first wait, doubling.
    public var reconnectAttempts = 6
    public var reconnectFirstDelayMilliseconds = 100
    public var applicationName = "tok"

    public init(uri: String, password: String? = nil) {
        self.uri = uri
        self.password = password
    }
}

/// A connection to a PostgreSQL server through libpq: prepared statements
/// cached by their SQL text, `:name` parameters rewritten to `$n` once at
/// prepare, text-format parameters and results, SQLSTATE classes mapped to
/// the store's error kinds. A lost connection is reopened by `ensureOpen`
/// before the next batch (bounded retries with backoff); the batch it broke
/// was rolled back by the server, all of it.
public final class PostgreSQLConnection: DatabaseConnection {
    private var handle: OpaquePointer?
    private let settings: PostgreSQLSettings
    public let location: String
    public let dialect: any SQLDialect = PostgreSQLDialect()
    private var statementCache: [String: PostgreSQLStatement] = [:]
    private var statementNumber = 0
    /// Bumped at every (re)connection: statements prepared on an older session prepare again.
    private(set) var session = 0
    public internal(set) var changes = 0
    /// How many times the connection was opened again after it was lost (tests and logs).
    public private(set) var reconnections = 0

    public init(_ settings: PostgreSQLSettings) throws(StoreError) {
        self.settings = settings
        location = DatabaseTarget.redact(settings.uri)
        try connect()
    }

    deinit {
        statementCache.removeAll()
        if let handle { PQfinish(handle) }
    }

    /// The server process serving this connection (for messages and fault tests).
    public var backendProcessId: Int32 { handle.map { PQbackendPID($0) } ?? 0 }

    private func connect() throws(StoreError) {
        if let handle { PQfinish(handle) }
        handle = nil
        var keywords = ["dbname", "application_name", "connect_timeout"]
        var values = [settings.uri, settings.applicationName, "10"]
        if let password = settings.password {
            keywords.append("password")
            values.append(password)
        }
        let opened = withCStrings(keywords) { keywordPointers in
            withCStrings(values) { valuePointers in PQconnectdbParams(keywordPointers, valuePointers, 1) }
        }
        guard let opened else { throw StoreError(.unavailable, "\(location): out of memory connecting") }
        guard PQstatus(opened) == CONNECTION_OK else {
            let message = redacted(String(cString: PQerrorMessage(opened)))
            PQfinish(opened)
            let kind: StoreError.Kind =
                message.contains("authentication") || message.contains("password")
                    || message.contains("does not exist") ? .unusable : .unavailable
            throw StoreError(kind, "\(location): \(message.trimmingWhitespace())")
        }
        handle = opened
        session += 1
        // Notices (a table that already exists, …) are not tok's to print.
        PQsetNoticeProcessor(opened, { _, _ in }, nil)
        try execute("SET synchronous_commit = \(settings.synchronous == "normal" ? "off" : "on")")
        // Readers never write and never block the writer: plain MVCC snapshots, no locks.
        if settings.readOnly { try execute("SET default_transaction_read_only = on") }
    }

    /// Reopens a lost connection, waiting 100, 200, 400, … ms between attempts.
    public func ensureOpen() throws(StoreError) {
        if let handle, PQstatus(handle) == CONNECTION_OK { return }
        var delayMilliseconds = settings.reconnectFirstDelayMilliseconds
        var lastError = StoreError(.unavailable, "\(location): the connection was lost")
        for attempt in 1...max(1, settings.reconnectAttempts) {
            do throws(StoreError) {
                try connect()
                reconnections += 1
                return
            } catch {
                lastError = error
                guard error.kind == .unavailable, attempt < settings.reconnectAttempts else { break }
                usleep(UInt32(delayMilliseconds) * 1000)
                delayMilliseconds = min(delayMilliseconds * 2, 5_000)
            }
        }
        throw StoreError(
            lastError.kind == .unavailable ? .unavailable : lastError.kind,
            "cannot reconnect after \(settings.reconnectAttempts) attempts: \(lastError.message)",
            sqlState: lastError.sqlState)
    }

    var connection: OpaquePointer {
        get throws(StoreError) {
            guard let handle else { throw StoreError(.unavailable, "\(location): not connected") }
            return handle
        }
    }

    /// A failed result (or none: the connection broke) as a StoreError.
    func error(_ result: OpaquePointer?) -> StoreError {
        let sqlState = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) }
        let text = result.flatMap { PQresultErrorMessage($0) }.map { String(cString: $0) } ?? ""
        let message = redacted(
            text.isEmpty ? handle.map { String(cString: PQerrorMessage($0)) } ?? "no connection" : text)
        // A connection that broke is unavailable whatever the last result said.
        if let handle, PQstatus(handle) != CONNECTION_OK {
            return StoreError(
                .unavailable, "\(location): connection lost: \(message.trimmingWhitespace())", sqlState: sqlState)
        }
        return StoreError(
            sqlState.map(PostgreSQLDialect.kind) ?? .unavailable, message.trimmingWhitespace(), sqlState: sqlState)
    }

    /// Messages never carry the password, wherever libpq or the server put it.
    func redacted(_ message: String) -> String {
        guard let password = settings.password, !password.isEmpty else { return message }
        return message.replacing(password, with: "***")
    }

    public func execute(_ sql: String) throws(StoreError) {
        let result = PQexec(try connection, sql)
        defer { PQclear(result) }
        let status = result.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw error(result) }
        changes = Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    public func statement(_ sql: String) throws(StoreError) -> any DatabaseStatement {
        if let cached = statementCache[sql] {
            cached.prepareForReuse()
            return cached
        }
        statementNumber += 1
        let statement = try PostgreSQLStatement(connection: self, name: "tok_\(statementNumber)", sql: sql)
        statementCache[sql] = statement
        return statement
    }

    public var inTransaction: Bool {
        guard let handle else { return false }
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// Creates a database on this server (tests and benchmarks: a fresh one each).
    public func createDatabase(_ name: String) throws(StoreError) {
        try execute("CREATE DATABASE \"\(name)\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
    }
}

/// Hands `body` the strings as a NULL-terminated array of C strings.
private func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
