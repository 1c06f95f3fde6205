#if canImport(Glibc)
import Glibc
#endif
import Logging

/// swift-log handler writing one line per event to stderr:
/// `2026-11-21T04:25:28Z tok-apply info: message key=value`.
/// stderr is made block-buffered and flushed after every batch (and at once
/// for warnings and errors): a log line per record must not cost a system call.
public struct StderrLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let explicit = event.metadata
        let merged = explicit.map { metadata.merging($0) { $1 } } ?? metadata
        var line = linePrefix(event.level)
        line.append(contentsOf: "\(event.message)".utf8)
        for key in merged.keys.sorted() { StderrLogHandler.appendMember(key.utf8, "\(merged[key]!)", to: &line) }
        StderrLogHandler.finish(&line, event.level)
    }

    /// Writes the line `log(event:)` writes for `message` with string members
    /// (`metadata` in sorted key order), built as bytes with no Metadata
    /// dictionary to fill and sort: for the line logged per credited deposit,
    /// inside tok-apply's sequential ledger pass. False, with nothing written,
    /// when the handler carries metadata of its own (log the usual way then).
    public func writeLine(
        _ level: Logger.Level, _ message: StaticString, _ metadata: [(key: StaticString, value: String)]
    ) -> Bool {
        guard self.metadata.isEmpty else { return false }
        var line = linePrefix(level)
        line.append(contentsOf: UnsafeBufferPointer(start: message.utf8Start, count: message.utf8CodeUnitCount))
        for (index, member) in metadata.enumerated() {
            assert(index == 0 || "\(metadata[index - 1].key)" < "\(member.key)", "writeLine: keys out of order")
            let key = UnsafeBufferPointer(start: member.key.utf8Start, count: member.key.utf8CodeUnitCount)
            StderrLogHandler.appendMember(key, member.value, to: &line)
        }
        StderrLogHandler.finish(&line, level)
        return true
    }

    /// `2026-11-21T04:25:28Z tok-apply info: `: what every line starts with.
    private func linePrefix(_ level: Logger.Level) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(contentsOf: "\(StderrLogHandler.timestamp()) \(label) \(level): ".utf8)
        return line
    }

    private static func appendMember(_ key: some Collection<UInt8>, _ value: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: key)
        line.append(UInt8(ascii: "="))
        line.append(contentsOf: value.utf8)
    }

    /// Ends the line and writes it (at once for warnings and errors).
    private static func finish(_ line: inout [UInt8], _ level: Logger.Level) {
        line.append(UInt8(ascii: "\n"))
        TokLogging.write(bytes: line)
        if level >= .warning { fflush(TokLogging.standardError) }
    }

    public static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

public enum TokLogging {
    nonisolated(unsafe) private static var bootstrapped = false

    /// Where log lines go: a stdio stream of our own on file descriptor 2 (C's
    /// `stderr` is a mutable global that Swift 6 will not share across threads;
    /// this one is set up once, before any thread logs, and only written after).
    nonisolated(unsafe) static let standardError: UnsafeMutablePointer<FILE> = {
        guard let stream = fdopen(2, "w") else { fatalError("cannot open a stream on file descriptor 2") }
        return stream
    }()

    /// Bootstraps swift-log once per process and returns the tool's logger.
    /// Level from `--log-level`, else TOK_LOG_LEVEL, else info.
    public static func logger(tool: String, level: String? = nil) -> Logger {
        if !bootstrapped {
            bootstrapped = true
            // Block-buffer stderr; StageRunner flushes it after each batch.
            setvbuf(standardError, nil, _IOFBF, 1 << 16)
            LoggingSystem.bootstrap { label in StderrLogHandler(label: label, level: .info) }
        }
        let chosen = level ?? getenv("TOK_LOG_LEVEL").map { String(cString: $0) } ?? "info"
        var logger = Logger(label: tool)
        if let parsed = Logger.Level(rawValue: chosen.lowercased()) {
            logger.logLevel = parsed
        } else {
            logger.logLevel = .info
            logger.warning("unknown log level \(chosen) (from TOK_LOG_LEVEL); using info")
        }
        return logger
    }

    public static func flush() { fflush(standardError) }

    /// Writes pre-formatted log lines (hot paths that log once per record).
    public static func write(_ lines: String) {
        clearProgressLine()
        fputs(lines, standardError)
    }

    public static func write(bytes: [UInt8]) {
        clearProgressLine()
        bytes.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, standardError) }
    }

    /// A progress line drawn on a terminal, which the next log line replaces.
    nonisolated(unsafe) private static var progressLineShown = false
    private static let progressLock = PosixMutex()

    /// Draws (`redraw`: over the last one, on a terminal) or writes a progress line; nil clears it.
    static func progress(_ text: String?, redraw: Bool) {
        progressLock.withLock {
            if redraw {
                fputs("\r\u{1B}[K" + (text ?? ""), standardError)
                progressLineShown = text != nil
            } else if let text {
                fputs(text + "\n", standardError)
            }
            fflush(standardError)
        }
    }

    /// Log lines start on a clean line when a progress line is on the terminal.
    static func clearProgressLine() {
        progressLock.withLock {
            guard progressLineShown else { return }
            fputs("\r\u{1B}[K", standardError)
            progressLineShown = false
        }
    }
}
