#if canImport(Glibc)
import Glibc
#endif

/// Where a ledger lives, as `--db` or `[database] url` names it: a SQLite
/// file, or a PostgreSQL server by connection URI (`postgresql://…` or
/// `postgres://…`). Its description never shows a password.
public enum DatabaseTarget: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgresql(uri: String)

    public init(_ text: String) {
        if text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") {
            self = .postgresql(uri: text)
        } else {
            self = .sqlite(path: text)
        }
    }

    /// `--db` when given, else the config's `[database] url`.
    public static func resolve(argument: String?, config: TokConfig) throws -> DatabaseTarget {
        guard let text = argument ?? config.database.url else {
            throw StageFailure(
                .usage,
                "no database: pass --db (a SQLite file or a postgresql:// URI) or set [database] url in the config")
        }
        return DatabaseTarget(text)
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return path
        case .postgresql(let uri): return DatabaseTarget.redact(uri)
        }
    }

    var hasPasswordInURI: Bool {
        guard case .postgresql(let uri) = self else { return false }
        return DatabaseTarget.redact(uri) != uri
    }

    /// The URI with any password (`user:secret@`, `password=secret`) replaced by `***`.
    public static func redact(_ uri: String) -> String {
        var text = uri
        if let schemeEnd = text.firstRange(of: "://") {
            let authorityEnd = text[schemeEnd.upperBound...].firstIndex { $0 == "/" || $0 == "?" } ?? text.endIndex
            let authority = text[schemeEnd.upperBound..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                text.replaceSubrange(text.index(after: colon)..<at, with: "***")
            }
        }
        guard let query = text.firstIndex(of: "?") else { return text }
        let parameters = text[text.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false).map {
            part in
            part.hasPrefix("password=") ? "password=***" : String(part)
        }
        return String(text[...query]) + parameters.joined(separator: "&")
    }

    /// Opens a connection as the config says (a writer's or a reader's).
    public func connect(config: TokConfig, readOnly: Bool, tool: String) throws(StoreError) -> any DatabaseConnection {
        switch self {
        case .sqlite(let path):
            let database = try SQLiteDatabase(path: path, readOnly: readOnly)
            try database.execute("PRAGMA busy_timeout = \(config.database.lockTimeoutMilliseconds)")
            return database
        case .postgresql(let uri):
            if let problem = config.database.passwordProblem {
                throw StoreError(.conflictsWithConfig, problem.description)
            }
            var settings = PostgreSQLSettings(uri: uri, password: config.database.password)
            settings.synchronous = config.database.synchronous
            settings.readOnly = readOnly
            settings.applicationName = "\(tool)[\(getpid())]"
            return try PostgreSQLConnection(settings)
        }
    }
}
