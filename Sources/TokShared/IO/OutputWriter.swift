#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered output to a file descriptor. Stages call `flush()` once per batch,
/// so downstream stages see records as soon as a batch is done, and the
/// system-call count stays low on big streams.
public final class OutputWriter {
    public var buffer: [UInt8] = []
    private let fileDescriptor: Int32
    /// Flush early when the buffer grows past this, to bound memory.
    private let softLimitBytes: Int

    public enum WriteError: Error, CustomStringConvertible {
        case io(errno: Int32)

        public var description: String {
            switch self {
            case .io(let code) where code == EPIPE:
                return "broken pipe: the next stage of the pipeline exited (or closed its input)"
            case .io(let code):
                return String(cString: strerror(code))
            }
        }
    }

    public init(fileDescriptor: Int32 = 1, softLimitBytes: Int = 1 << 20) {
        self.fileDescriptor = fileDescriptor
        self.softLimitBytes = softLimitBytes
        buffer.reserveCapacity(softLimitBytes + 4096)
    }

    public func writeLine(_ value: JSON) throws {
        value.writeRecord(into: &buffer)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= softLimitBytes { try flush() }
    }

    public func write(bytes: [UInt8]) throws {
        if buffer.isEmpty && bytes.count >= softLimitBytes {
            // Large pre-serialised chunks go straight out without a copy.
            try writeAll(bytes)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= softLimitBytes { try flush() }
    }

    public func write(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= softLimitBytes { try flush() }
    }

    public func flush() throws {
        defer { buffer.removeAll(keepingCapacity: true) }
        try writeAll(buffer)
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                Glibc.write(fileDescriptor, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw WriteError.io(errno: errno)
            }
            offset += written
        }
    }
}
