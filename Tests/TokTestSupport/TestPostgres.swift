import Foundation
import XCTest
import TokShared
import Logging

/// The engines a ledger test runs on.
public enum TestEngine: String, Sendable {
    case sqlite, postgresql
}

/// A PostgreSQL 15 server of the test process's own: `initdb` in a temporary
/// directory, listening on a Unix socket there only (no TCP port), as an
/// unprivileged system user (`tokpg`, created when the tests run as root:
/// PostgreSQL refuses to run as root). One server per test process, a fresh
/// database per test. A watchdog stops it and removes the directory when the
/// test process ends, however it ends.
///
/// Absent binaries skip the test with XCTSkip, except when CI=true, where
/// they are a failure (scripts/setup.sh installs them).
public final class TestPostgres: @unchecked Sendable {
    public let directory: String
    public let socketDirectory: String
    public let dataDirectory: String
    public let user: String
    let binDirectory: String
    private let runAsUser: String?
    private let lock = NSLock()
    private var databaseNumber = 0

    nonisolated(unsafe) private static var started: Result<TestPostgres, Error>?
    private static let startLock = NSLock()

    /// The process's server, started on first use.
    public static func shared() throws -> TestPostgres {
        startLock.lock()
        defer { startLock.unlock() }
        if started == nil {
            started = Result { try TestPostgres() }
        }
        switch started! {
        case .success(let server): return server
        case .failure(let error): throw error
        }
    }

    static var binDirectoryCandidates: [String] {
        if let override = ProcessInfo.processInfo.environment["TOK_PG_BIN"] { return [override] }
        return ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]
    }

    private init() throws {
        guard
            let bin = TestPostgres.binDirectoryCandidates.first(where: {
                FileManager.default.isExecutableFile(atPath: $0 + "/initdb")
            })
        else {
            let message =
                "no PostgreSQL server binaries (initdb) in \(TestPostgres.binDirectoryCandidates): run scripts/setup.sh (Debian's postgresql)"
            if ProcessInfo.processInfo.environment["CI"] == "true" { throw TestPostgresError(message) }
            throw XCTSkip(message)
        }
        binDirectory = bin
        runAsUser = getuid() == 0 ? "tokpg" : nil
        user = runAsUser ?? (ProcessInfo.processInfo.environment["USER"] ?? "postgres")
        directory = try TestPostgres.makeDirectory()
        socketDirectory = directory
        dataDirectory = directory + "/data"
        if let runAsUser {
            try TestPostgres.ensureSystemUser(runAsUser)
            try TestPostgres.shell("chown \(runAsUser) '\(directory)'")
        }
        try runAsServerUser(
            [
                bin + "/initdb", "-D", dataDirectory, "-U", user, "--auth=trust", "--no-sync",
                "--locale=C", "--encoding=UTF8",
            ], what: "initdb")
        try start()
        startWatchdog()
    }

    private static func makeDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/tok-pg-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw TestPostgresError("mkdtemp failed") }
        let path = String(cString: made)
        chmod(path, 0o755)
        return path
    }

    private static func ensureSystemUser(_ name: String) throws {
        if getpwnam(name) != nil { return }
        try shell("useradd --system --no-create-home --shell /usr/sbin/nologin \(name) || getent passwd \(name)")
    }

    /// Runs a command through system(3), its output to a file. Not through
    /// Foundation's Process: the server that pg_ctl starts would inherit what
    /// Process watches to see its child end, and the wait would never return.
    @discardableResult
    static func shell(_ command: String) throws -> String {
        let outputPath = NSTemporaryDirectory() + "/tok-pg-shell-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        let status = system("( \(command) ) > '\(outputPath)' 2>&1 < /dev/null")
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw TestPostgresError("`\(command)` exited with status \(status): \(text)")
        }
        return text
    }

    private func runAsServerUser(_ arguments: [String], what: String) throws {
        let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
        let command = runAsUser.map { "runuser -u \($0) -- \(quoted)" } ?? quoted
        do { try TestPostgres.shell(command) } catch { throw TestPostgresError("\(what): \(error)") }
    }

    /// Starts the server and waits until it accepts connections. fsync is off:
    /// the tests crash tok, not the machine, and a stopped server's data is
    /// still in the page cache when it starts again.
    public func start() throws {
        try runAsServerUser(
            [
                binDirectory + "/pg_ctl", "-D", dataDirectory, "-l", directory + "/server.log", "-w", "-t", "60",
                "-o",
                "-k \(socketDirectory) -c listen_addresses= -c fsync=off -c full_page_writes=off -c max_connections=200",
                "start",
            ], what: "pg_ctl start")
    }

    /// Stops the server: "immediate" is a crash (no checkpoint, recovery at start), "fast" a clean shutdown.
    public func stop(mode: String = "fast") throws {
        try runAsServerUser(
            [binDirectory + "/pg_ctl", "-D", dataDirectory, "-w", "-m", mode, "stop"], what: "pg_ctl stop")
    }

    private func startWatchdog() {
        let stopCommand =
            (runAsUser.map { "runuser -u \($0) -- " } ?? "")
            + "'\(binDirectory)/pg_ctl' -D '\(dataDirectory)' -m immediate -w stop"
        let script =
            "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(stopCommand) >/dev/null 2>&1; rm -rf '\(directory)'"
        _ = system("setsid /bin/bash -c \"\(script)\" < /dev/null > /dev/null 2>&1 &")
    }

    /// The URI of a database on this server.
    public func uri(database: String) -> String {
        "postgresql:///\(database)?host=\(socketDirectory)&user=\(user)"
    }

    /// A fresh, empty database; its URI.
    public func createDatabase(prefix: String = "tok") throws -> String {
        lock.lock()
        databaseNumber += 1
        let name = "\(prefix)_\(getpid())_\(databaseNumber)"
        lock.unlock()
        let admin = try PostgreSQLConnection(PostgreSQLSettings(uri: uri(database: "postgres")))
        try admin.createDatabase(name)
        return uri(database: name)
    }

    /// Ends every server process serving `database` (pg_terminate_backend): to
    /// its clients, a lost connection. Returns how many were ended.
    @discardableResult
    public func terminateBackends(database uri: String) throws -> Int {
        let name = String(uri.dropFirst("postgresql:///".count).prefix { $0 != "?" })
        let admin = try PostgreSQLConnection(PostgreSQLSettings(uri: self.uri(database: "postgres")))
        let query = try admin.statement(
            """
            SELECT count(pg_terminate_backend(pid)) AS ended FROM pg_stat_activity
            WHERE datname = :name AND pid <> pg_backend_pid()
            """)
        try query.bind("name", name)
        _ = try query.step()
        defer { query.reset() }
        return Int(query.int64("ended"))
    }

    /// Runs `psql` on a database (the crash tests read the ledger as the SQLite tests do with sqlite3).
    public func psql(_ uri: String, _ query: String) throws -> String {
        try TestPostgres.shell("'\(binDirectory)/psql' -X -q -A -t -v ON_ERROR_STOP=1 '\(uri)' -c \"\(query)\"")
    }
}

public struct TestPostgresError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The ledger a test opens: a SQLite file in its directory, or a fresh database on the test server.
public enum TestDatabase {
    /// `--db`'s value for a test of `engine`: `file` in `directory`, or a new PostgreSQL database.
    public static func make(_ engine: TestEngine, directory: String, file: String) throws -> String {
        switch engine {
        case .sqlite: return directory + "/" + file
        case .postgresql: return try TestPostgres.shared().createDatabase()
        }
    }
}

/// Opens (creating and migrating) a test ledger as its writer.
public func openTestLedger(engine: TestEngine, location: String, logger: Logger) throws -> Ledger {
    switch engine {
    case .sqlite:
        return try Ledger(path: location, synchronous: "normal", busyTimeoutMilliseconds: 1000, logger: logger)
    case .postgresql:
        var settings = PostgreSQLSettings(uri: location)
        settings.applicationName = "tok-test[\(getpid())]"
        return try Ledger(connection: PostgreSQLConnection(settings), logger: logger)
    }
}
