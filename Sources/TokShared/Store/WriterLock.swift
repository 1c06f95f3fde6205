#if canImport(Glibc)
import Glibc
#endif

/// Why the writer lock was not taken. Mapped to an exit code at the tool's edge.
public enum WriterLockError: Error, CustomStringConvertible {
    /// Another writer held it for the whole timeout: try again later.
    case timedOut(String)
    /// The lock file cannot be opened or locked.
    case failed(String)
    /// The database server cannot be reached (after the bounded reconnects): try again later.
    case unavailable(String)

    public var description: String {
        switch self {
        case .timedOut(let message), .failed(let message), .unavailable(let message): return message
        }
    }
}

/// The single-writer lock, taken around every write transaction (one batch)
/// and released after its commit. Per batch rather than per process, so the
/// two tok-apply processes of `tok-validate | tok-verify | tok-apply |
/// tok-submit | tok-apply` interleave their batches instead of one starving
/// the other. A second writer waits up to the timeout, then fails with
/// `.timedOut` (exit 75). Whatever holds it, a crashed holder never strands it.
public protocol WriterLock: AnyObject {
    /// Waits up to the timeout for the lock.
    func acquire() throws(WriterLockError)
    func release()
}

extension WriterLock {
    /// Runs `body` holding the lock.
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        try acquire()
        defer { release() }
        return try body()
    }
}

/// SQLite's writer lock: an exclusive flock(2) on `<database>.lock`. The
/// kernel drops it when a process dies, even by kill -9. Cron jobs can take
/// the same lock with flock(1) to keep every writer out.
public final class FileWriterLock: WriterLock {
    private let fileDescriptor: Int32
    public let path: String
    private let databasePath: String
    private let timeoutMilliseconds: Int
    private(set) var held = false

    public init(databasePath: String, timeoutMilliseconds: Int) throws(WriterLockError) {
        precondition(timeoutMilliseconds >= 0)
        self.databasePath = databasePath
        self.timeoutMilliseconds = timeoutMilliseconds
        path = databasePath + ".lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw WriterLockError.failed("cannot open lock file \(path): \(String(cString: strerror(errno)))")
        }
        fileDescriptor = descriptor
    }

    /// Waits up to the timeout for the lock, then fails with EX_TEMPFAIL naming the holder.
    public func acquire() throws(WriterLockError) {
        precondition(!held, "the writer lock is not re-entrant")
        let deadline = monotonicMilliseconds() + timeoutMilliseconds
        var pollMilliseconds = 1
        while flock(fileDescriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw .failed("cannot lock \(path): \(String(cString: strerror(errno)))")
            }
            if monotonicMilliseconds() >= deadline {
                let holder = readHolder()
                throw .timedOut(
                    "database \(databasePath) is locked by another writer\(holder.map { " (pid \($0))" } ?? ""); waited \(timeoutMilliseconds) ms — try again later"
                )
            }
            usleep(UInt32(pollMilliseconds) * 1000)
            pollMilliseconds = min(pollMilliseconds * 2, 50)
        }
        held = true
        // Record our pid for the message a waiting writer prints.
        let text = "\(getpid())\n"
        _ = ftruncate(fileDescriptor, 0)
        _ = text.withCString { pwrite(fileDescriptor, $0, strlen($0), 0) }
    }

    public func release() {
        guard held else { return }
        flock(fileDescriptor, LOCK_UN)
        held = false
    }

    private func readHolder() -> String? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fileDescriptor, &buffer, 31, 0)
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[0..<count], as: UTF8.self).trimmingWhitespace()
        return text.isEmpty ? nil : text
    }

    deinit {
        release()
        close(fileDescriptor)
    }
}

/// PostgreSQL's writer lock: a session-level advisory lock on the ledger's
/// connection, one key for every tok-apply of that database. The server drops
/// it when the session ends (a killed tok-apply, a lost connection), as the
/// kernel drops a flock. Taken with `pg_try_advisory_lock` in a polling loop
/// like the file lock's, so a timeout of 0 means "do not wait" and no session
/// setting (lock_timeout) leaks into the batch's own statements. A connection
/// lost since the last batch is opened again first (bounded, with backoff).
public final class AdvisoryWriterLock: WriterLock {
    /// "tok-apply writer", as the advisory key every tok-apply of a database shares.
    public static let key: Int64 = 0x746F_6B2D_7772_6974
    private let connection: PostgreSQLConnection
    private let timeoutMilliseconds: Int
    private(set) var held = false

    public init(connection: PostgreSQLConnection, timeoutMilliseconds: Int) {
        precondition(timeoutMilliseconds >= 0)
        self.connection = connection
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    public func acquire() throws(WriterLockError) {
        precondition(!held, "the writer lock is not re-entrant")
        let deadline = monotonicMilliseconds() + timeoutMilliseconds
        var pollMilliseconds = 1
        while true {
            do throws(StoreError) {
                if try tryLock() { break }
            } catch {
                let message = "cannot take the writer lock on \(connection.location): \(error)"
                throw error.isRetryable ? .unavailable(message) : .failed(message)
            }
            if monotonicMilliseconds() >= deadline {
                throw .timedOut(
                    "database \(connection.location) is locked by another writer\(holder().map { " (\($0))" } ?? ""); waited \(timeoutMilliseconds) ms — try again later"
                )
            }
            usleep(UInt32(pollMilliseconds) * 1000)
            pollMilliseconds = min(pollMilliseconds * 2, 50)
        }
        held = true
    }

    /// One attempt; a connection found lost is reopened and the attempt made
    /// again once (no transaction is open between batches, so nothing is lost).
    private func tryLock() throws(StoreError) -> Bool {
        try connection.ensureOpen()
        do throws(StoreError) {
            return try attempt()
        } catch  where error.kind == .unavailable {
            try connection.ensureOpen()
            return try attempt()
        }
    }

    private func attempt() throws(StoreError) -> Bool {
        let query = try connection.statement("SELECT pg_try_advisory_lock(:key) AS locked")
        defer { query.reset() }
        try query.bind("key", AdvisoryWriterLock.key)
        return try query.step() && query.text("locked") == "t"
    }

    public func release() {
        guard held else { return }
        held = false
        // A lost connection released it already, server side.
        guard let query = try? connection.statement("SELECT pg_advisory_unlock(:key) AS unlocked") else { return }
        defer { query.reset() }
        _ = try? query.bind("key", AdvisoryWriterLock.key)
        _ = try? query.step()
    }

    /// Who holds the lock: the backend and its application name (tok-apply's pid is in it).
    private func holder() -> String? {
        guard
            let query = try? connection.statement(
                """
                SELECT a.pid AS pid, a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.classid = :high AND l.objid = :low AND l.objsubid = 1
                LIMIT 1
                """)
        else { return nil }
        defer { query.reset() }
        _ = try? query.bind("high", AdvisoryWriterLock.key >> 32).bind("low", AdvisoryWriterLock.key & 0xFFFF_FFFF)
        guard (try? query.step()) == true else { return nil }
        return "\(query.text("name")), server process \(query.text("pid"))"
    }

    deinit { release() }
}
