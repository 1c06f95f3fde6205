#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One input line, or the fact that it was too long to keep.
public struct InputLine {
    public enum Content {
        case bytes(ArraySlice<UInt8>)
        /// The line exceeded the limit; only its first bytes are kept for the rejection record.
        case tooLong(prefix: [UInt8], totalBytes: Int)
    }
    /// 1-based, counting every newline in the input, blank lines included.
    public let number: Int
    public let content: Content
}

/// Reads newline-delimited input from a file descriptor in large chunks.
///
/// Batching rule: `nextBatch` blocks until at least one line is available, then
/// takes only what is already readable without blocking. A slow producer thus
/// gets each record through at once, and a fast one gets full batches.
public final class LineReader {
    public static let defaultMaxLineBytes = 1 << 20
    /// Bytes of an oversized line kept in its rejection record, so the operator can find it.
    public static let oversizedPrefixBytes = 256
    private static let readChunkBytes = 1 << 16

    private let fileDescriptor: Int32
    private let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var scanStart = 0  // where the next line begins in `buffer`
    private var discardingOversized: (prefix: [UInt8], totalBytes: Int)?
    private var lineNumber = 0
    private(set) public var reachedEnd = false

    public init(fileDescriptor: Int32 = 0, maxLineBytes: Int = LineReader.defaultMaxLineBytes) {
        precondition(maxLineBytes > 0)
        self.fileDescriptor = fileDescriptor
        self.maxLineBytes = maxLineBytes
        buffer.reserveCapacity(LineReader.readChunkBytes * 2)
    }

    public enum ReadError: Error { case io(errno: Int32) }

    /// Returns up to `maxLines` lines; an empty result means end of input.
    public func nextBatch(maxLines: Int) throws -> [InputLine] {
        precondition(maxLines > 0)
        var lines: [InputLine] = []
        while lines.count < maxLines {
            if let line = takeBufferedLine() {
                lines.append(line)
                continue
            }
            if reachedEnd { break }
            // Block for the first line only; afterwards read only what is ready now.
            if !lines.isEmpty && !inputIsReady() { break }
            try fill()
        }
        if lines.isEmpty, reachedEnd, let last = takeFinalUnterminatedLine() {
            lines.append(last)
        }
        return lines
    }

    private func inputIsReady() -> Bool {
        var descriptor = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0
    }

    private func fill() throws {
        // Compact consumed bytes away before growing the buffer.
        if scanStart > 0 {
            buffer.removeSubrange(0..<scanStart)
            scanStart = 0
        }
        let oldCount = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: LineReader.readChunkBytes))
        var received = 0
        while true {
            received = buffer.withUnsafeMutableBytes { raw in
                read(fileDescriptor, raw.baseAddress! + oldCount, LineReader.readChunkBytes)
            }
            if received >= 0 { break }
            if errno == EINTR { continue }
            buffer.removeSubrange(oldCount...)
            throw ReadError.io(errno: errno)
        }
        buffer.removeSubrange((oldCount + received)...)
        if received == 0 { reachedEnd = true }
    }

    /// Finds the next complete line in the buffer, enforcing the length limit
    /// without ever holding more than the limit (plus one chunk) in memory.
    private func takeBufferedLine() -> InputLine? {
        while true {
            if let newline = findNewline(from: scanStart) {
                lineNumber += 1
                let start = scanStart
                scanStart = newline + 1
                if let oversized = discardingOversized {
                    discardingOversized = nil
                    return InputLine(
                        number: lineNumber,
                        content: .tooLong(
                            prefix: oversized.prefix, totalBytes: oversized.totalBytes + (newline - start)))
                }
                var end = newline
                if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                if end - start > maxLineBytes {
                    return InputLine(
                        number: lineNumber,
                        content: .tooLong(
                            prefix: Array(buffer[start..<min(end, start + LineReader.oversizedPrefixBytes)]),
                            totalBytes: newline - start))
                }
                return InputLine(number: lineNumber, content: .bytes(buffer[start..<end]))
            }
            // No newline yet: if the partial line is already over the limit, drop
            // what we hold. One byte of slack: a "\r" ending a line at the limit
            // is stripped once its "\n" arrives, so it must not count yet.
            let pending = buffer.count - scanStart
            if pending > maxLineBytes + 1 {
                if discardingOversized == nil {
                    let prefixEnd = scanStart + min(pending, LineReader.oversizedPrefixBytes)
                    discardingOversized = (Array(buffer[scanStart..<prefixEnd]), 0)
                }
                discardingOversized!.totalBytes += pending
                scanStart = buffer.count
            }
            return nil
        }
    }

    private func findNewline(from start: Int) -> Int? {
        guard start < buffer.count else { return nil }
        return buffer.withUnsafeBytes { raw -> Int? in
            guard let found = memchr(raw.baseAddress! + start, 0x0A, raw.count - start) else { return nil }
            return raw.baseAddress!.distance(to: UnsafeRawPointer(found))
        }
    }

    /// A last line without a trailing newline is still a line.
    private func takeFinalUnterminatedLine() -> InputLine? {
        if let oversized = discardingOversized {
            discardingOversized = nil
            lineNumber += 1
            let rest = buffer.count - scanStart
            scanStart = buffer.count
            return InputLine(
                number: lineNumber,
                content: .tooLong(
                    prefix: oversized.prefix, totalBytes: oversized.totalBytes + rest))
        }
        guard scanStart < buffer.count else { return nil }
        lineNumber += 1
        var end = buffer.count
        if buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = InputLine(number: lineNumber, content: .bytes(buffer[scanStart..<end]))
        scanStart = buffer.count
        return line
    }
}
