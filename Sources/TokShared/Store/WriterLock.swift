#if canImport(Glibc)
import Glibc
#endif

/// The single-writer lock: an exclusive flock(2) on `<database>.lock`, held
/// for the life of a tok-apply process. The kernel drops it when the process
/// dies, even by kill -9, so a crash never strands it. Cron jobs can take the
/// same lock with flock(1) to serialise with tok-apply.
public final class WriterLock {
    private let fileDescriptor: Int32
    public let path: String

    /// Waits up to `timeoutMilliseconds` for the lock, then fails with EX_TEMPFAIL.
    public init(databasePath: String, timeoutMilliseconds: Int) throws {
        path = databasePath + ".lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StageFailure(.ioError, "cannot open lock file \(path): \(String(cString: strerror(errno)))")
        }
        fileDescriptor = descriptor
        let deadline = monotonicMilliseconds() + timeoutMilliseconds
        var pollMilliseconds = 5
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                close(descriptor)
                throw StageFailure(.ioError, "cannot lock \(path): \(String(cString: strerror(errno)))")
            }
            if monotonicMilliseconds() >= deadline {
                let holder = WriterLock.readHolder(descriptor)
                close(descriptor)
                throw StageFailure(.tempFailure,
                                   "database \(databasePath) is locked by another writer\(holder.map { " (pid \($0))" } ?? ""); waited \(timeoutMilliseconds) ms — try again later")
            }
            usleep(UInt32(pollMilliseconds) * 1000)
            pollMilliseconds = min(pollMilliseconds * 2, 200)
        }
        // Record our pid for the message a waiting writer prints.
        let text = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    private static func readHolder(_ descriptor: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, 31, 0)
        guard count > 0 else { return nil }
        let text = String(cString: buffer).trimmingWhitespace()
        return text.isEmpty ? nil : text
    }

    deinit {
        flock(fileDescriptor, LOCK_UN)
        close(fileDescriptor)
    }
}
