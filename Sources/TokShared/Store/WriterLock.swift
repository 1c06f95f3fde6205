#if canImport(Glibc)
import Glibc
#endif

/// The single-writer lock: an exclusive flock(2) on `<database>.lock`, taken
/// around every write transaction (one batch) and released after its commit.
/// Per batch rather than per process, so the two tok-apply processes of
/// `tok-validate | tok-verify | tok-apply | tok-submit | tok-apply` interleave
/// their batches instead of one starving the other. The kernel drops the lock
/// when a process dies, even by kill -9, so a crash never strands it. Cron
/// jobs can take the same lock with flock(1) to keep every writer out.
/// Why the writer lock was not taken. Mapped to an exit code at the tool's edge.
public enum WriterLockError: Error, CustomStringConvertible {
    /// Another writer held it for the whole timeout: try again later.
    case timedOut(String)
    /// The lock file cannot be opened or locked.
    case failed(String)

    public var description: String {
        switch self {
        case .timedOut(let message), .failed(let message): return message
        }
    }
}

public final class WriterLock {
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
                                   "database \(databasePath) is locked by another writer\(holder.map { " (pid \($0))" } ?? ""); waited \(timeoutMilliseconds) ms — try again later")
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

    /// Runs `body` holding the lock.
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        try acquire()
        defer { release() }
        return try body()
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
