#if canImport(Glibc)
import Glibc
#endif
import Logging

/// A stage of the pipeline. It receives a batch of records in input order and
/// returns exactly one record per input, in the same order: its own results for
/// the records it handles and the others unchanged. That one rule is what lets
/// stages compose in any pipeline and keeps replays line-for-line comparable.
public protocol Stage: AnyObject {
    var name: StageName { get }
    func process(_ batch: [JSON]) async throws -> [JSON]
    /// Called once after the last batch, e.g. to close the database.
    func finish() async throws
}

extension Stage {
    public func finish() async throws {}
}

/// A failure that stops the whole stage (as opposed to rejecting one record).
public struct StageFailure: Error, CustomStringConvertible {
    public let exitCode: SysExit
    public let message: String
    public init(_ exitCode: SysExit, _ message: String) {
        self.exitCode = exitCode
        self.message = message
    }
    public var description: String { message }
}

public struct RunnerOptions: Sendable {
    public var maxLineBytes: Int
    public var batchSize: Int
    /// Exit 65 when any record leaves this stage rejected.
    public var strict: Bool

    public init(maxLineBytes: Int = LineReader.defaultMaxLineBytes, batchSize: Int = 512, strict: Bool = false) {
        precondition(maxLineBytes > 0 && batchSize > 0)
        self.maxLineBytes = maxLineBytes
        self.batchSize = batchSize
        self.strict = strict
    }
}

public struct RunSummary: Sendable {
    public var lines = 0
    public var outputs = 0
    public var rejected = 0
    public var byStatus: [String: Int] = [:]
}

/// Reads NDJSON from a file descriptor, runs a stage batch by batch, writes
/// NDJSON out and flushes after every batch.
public final class StageRunner {
    private let stage: Stage
    private let options: RunnerOptions
    private let reader: LineReader
    private let writer: OutputWriter
    private let logger: Logger

    public init(stage: Stage, options: RunnerOptions, input: Int32 = 0, output: Int32 = 1, logger: Logger) {
        self.stage = stage
        self.options = options
        self.reader = LineReader(fileDescriptor: input, maxLineBytes: options.maxLineBytes)
        self.writer = OutputWriter(fileDescriptor: output)
        self.logger = logger
    }

    public func run() async throws -> RunSummary {
        var summary = RunSummary()
        while true {
            let lines: [InputLine]
            do {
                lines = try reader.nextBatch(maxLines: options.batchSize)
            } catch {
                throw StageFailure(.ioError, "reading standard input failed: \(error)")
            }
            if lines.isEmpty { break }
            summary.lines += lines.count
            var batch: [JSON] = []
            batch.reserveCapacity(lines.count)
            for line in lines {
                if let record = StageRunner.parse(line) { batch.append(record) }
            }
            if batch.isEmpty { continue }
            let outputs = try await stage.process(batch)
            precondition(outputs.count == batch.count, "stage \(stage.name) broke the one-output-per-input rule")
            do {
                for record in outputs {
                    if let status = record[Field.status]?.stringValue {
                        summary.byStatus[status, default: 0] += 1
                        if status == RecordStatus.rejected.rawValue { summary.rejected += 1 }
                    }
                    try writer.writeLine(record)
                }
                try writer.flush()
                TokLogging.flush()
            } catch {
                throw StageFailure(.ioError, "writing standard output failed: \(error)")
            }
            summary.outputs += outputs.count
        }
        try await stage.finish()
        return summary
    }

    /// Turns one input line into a record, or into a rejection record. Blank
    /// lines are skipped (they carry nothing), but still counted for line numbers.
    static func parse(_ line: InputLine) -> JSON? {
        switch line.content {
        case .tooLong(let prefix, let totalBytes):
            return JSON.rejectedLine(number: line.number,
                                     error: TokError(.lineTooLong, "line \(line.number) has \(totalBytes) bytes, over the limit"),
                                     raw: nil, prefix: prefix, totalBytes: totalBytes)
        case .bytes(let bytes):
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return nil }
            let parsed = bytes.withUnsafeBytes { JSON.parse($0) }
            switch parsed {
            case .success(let value):
                if value.isObject { return value }
                return JSON.rejectedLine(number: line.number,
                                         error: TokError(.notAnObject, "line \(line.number) is JSON but not an object"),
                                         raw: bytes)
            case .failure(let failure):
                let code: ErrorCode = failure.integerTooLarge ? .numberOutOfRange : .malformedJSON
                return JSON.rejectedLine(number: line.number,
                                         error: TokError(code, "line \(line.number): \(failure.message)"),
                                         raw: bytes)
            }
        }
    }
}
