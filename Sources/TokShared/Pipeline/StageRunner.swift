#if canImport(Glibc)
import Glibc
#endif
import Logging

/// A pthread mutex, for the few places plain threads share a result list.
final class PosixMutex: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}

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

/// A stage whose work on a batch is a sequential middle with record-local work on either side
/// (tok-apply: reading attested facts before its ledger pass, writing each record's outcome into it
/// after the commit). The runner takes both sides off the middle's path, onto the threads that
/// read and write: `prepare` runs on the read-ahead while the batch before is processed, and the
/// completion `process` returns runs on the write-behind while the batch after is. Both sides
/// touch only their own batch's records and what the stage gives them (never its shared state:
/// for tok-apply, never the ledger); that is what lets them run beside the middle.
public protocol PipelinedStage: Stage {
    func prepare(_ batch: [JSON]) -> PreparedBatch
    /// The sequential part, on records `prepare` saw. The completion must run (once) before the
    /// records are written, and may run on another thread.
    func process(_ batch: [JSON], prepared: PreparedBatch) async throws -> BatchCompletion
}

extension PipelinedStage {
    /// All three parts in a row (for callers without a runner).
    public func process(_ batch: [JSON]) async throws -> [JSON] {
        let completion = try await process(batch, prepared: prepare(batch))
        completion.run()
        return batch
    }
}

/// What a pipelined stage's `prepare` found, handed back to its `process`. It crosses threads
/// once, with the batch's records: the read-ahead does not touch them after handing them over.
public struct PreparedBatch: @unchecked Sendable {
    public let value: Any
    public init(_ value: Any) { self.value = value }
}

/// The record-local work a pipelined stage left for after its sequential part. It crosses
/// threads once, with the batch's records, to the write-behind.
public struct BatchCompletion: @unchecked Sendable {
    private let work: () -> Void
    public init(_ work: @escaping () -> Void) { self.work = work }
    public func run() { work() }
}

/// A stage whose work on a record depends on that record alone (no I/O, no
/// shared state). The runner then reads, processes and writes each chunk of a
/// batch on one thread, so records never cross threads and both cores work.
public protocol RecordwiseStage: Stage {
    /// Processes one record in place. When `requestLog` is given, a valid
    /// request appends its log entry there (text after the prefix, no newline)
    /// and returns true.
    func processRecord(_ record: JSON, requestLog: UnsafeMutablePointer<[UInt8]>?) -> Bool
}

extension RecordwiseStage {
    public func process(_ batch: [JSON]) async throws -> [JSON] {
        var log: [UInt8] = []
        for record in batch {
            if processRecord(record, requestLog: &log) {
                TokLogging.write(
                    "\(StderrLogHandler.timestamp()) \(name.tool) info: \(String(decoding: log, as: UTF8.self))\n")
            }
            log.removeAll(keepingCapacity: true)
        }
        return batch
    }
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

/// Reads NDJSON from a file descriptor, runs a stage batch by batch, writes
/// NDJSON out and flushes after every batch.
public final class StageRunner {
    private let stage: Stage
    private let options: RunnerOptions
    private let reader: LineReader
    private let writer: OutputWriter
    private let logger: Logger
    /// `--metrics-file` and progress, when asked for; both see the summary after every batch.
    public var metrics: MetricsFile?
    public var progress: ProgressMeter?
    /// What the run has done so far (also after it failed).
    public private(set) var summary = RunSummary()

    public init(stage: Stage, options: RunnerOptions, input: Int32 = 0, output: Int32 = 1, logger: Logger) {
        self.stage = stage
        self.options = options
        self.reader = LineReader(fileDescriptor: input, maxLineBytes: options.maxLineBytes)
        self.writer = OutputWriter(fileDescriptor: output)
        self.logger = logger
    }

    public func run() async throws -> RunSummary {
        if let recordwise = stage as? RecordwiseStage {
            try runFused(recordwise)
        } else {
            try await runBatched()
        }
        try await stage.finish()
        return summary
    }

    /// After each batch: the progress line and, when the interval has passed, the metrics file.
    private func batchDone() {
        progress?.update(records: summary.outputs)
        metrics?.tick(summary, logger: logger)
    }

    private func readBatch() throws -> [InputLine] {
        try StageRunner.readBatch(reader, maxLines: options.batchSize)
    }

    private static func readBatch(_ reader: LineReader, maxLines: Int) throws -> [InputLine] {
        do {
            return try reader.nextBatch(maxLines: maxLines)
        } catch {
            throw StageFailure(.ioError, "reading standard input failed: \(error)")
        }
    }

    /// Record-wise stages: each chunk is read, processed and serialised on one thread.
    private func runFused(_ recordwise: RecordwiseStage) throws {
        while true {
            let lines = try readBatch()
            if lines.isEmpty { break }
            summary.lines += lines.count
            var chunks = processFused(lines, recordwise)
            for chunk in chunks { summary.merge(chunk.tally.summary) }
            do {
                for index in chunks.indices {
                    if !chunks[index].log.isEmpty { TokLogging.write(bytes: chunks[index].log) }
                    try writer.write(bytes: chunks[index].bytes)
                    recycle(&chunks[index].bytes)
                    recycle(&chunks[index].log)
                }
                try writer.flush()
                TokLogging.flush()
            } catch {
                throw StageFailure(.ioError, "writing standard output failed: \(error)")
            }
            batchDone()
        }
    }

    /// A batch read and parsed ahead, while the stage works on the one before.
    private struct ParsedBatch: @unchecked Sendable {
        var lineCount: Int
        var records: [JSON]
        /// What each record was on the way in (for the tally of what the stage did).
        var states: [InputState] = []
        /// A pipelined stage's preparation of `records`.
        var prepared: PreparedBatch? = nil
        /// Its completion, once processed.
        var completion: BatchCompletion? = nil
    }

    /// Other stages: the next batch is read and parsed on another thread while
    /// the stage processes the current one (tok-apply's ledger pass is
    /// sequential, so parsing would otherwise add to its time). Records never
    /// cross threads while in use: a parsed batch is handed over once.
    private func runBatched() async throws {
        // The read-ahead and write-behind tasks hold the reader and the writer
        // themselves, never the runner: when a run ends early (the next stage
        // died and a write failed), a task still in flight must not outlive what
        // it uses. One task at a time reads, and one writes, so sharing is safe.
        let input = UncheckedSendable(reader)
        let output = UncheckedSendable(writer)
        let batchSize = options.batchSize
        // A pipelined stage's own sides run on the read-ahead and write-behind; they only read
        // what the stage set up before the run (its rule), so the stage is shared with them.
        let pipelined = (stage as? PipelinedStage).map(UncheckedSendable.init)
        // Then the sequential middle keeps a core to itself: the two sides and the parsing
        // share the others (on one core's machine, all of them).
        let sideWorkers = pipelined == nil ? ParallelWork.workers : max(1, ParallelWork.workers - 1)
        let readAhead: @Sendable () throws -> ParsedBatch = {
            let lines = try StageRunner.readBatch(input.value, maxLines: batchSize)
            let parsed = ParallelWork.map(count: lines.count, workers: sideWorkers) {
                StageRunner.parseWithState(lines[$0])
            }.compactMap { $0 }
            let records = parsed.map(\.0)
            return ParsedBatch(
                lineCount: lines.count, records: records, states: parsed.map(\.1),
                prepared: pipelined?.value.prepare(records))
        }
        // Write-behind, one batch deep: batch N is serialised and written while
        // batch N+1 is processed. Outputs still leave in order, and only after the
        // stage returned them (for tok-apply: after their transaction committed).
        var writing: Task<RunSummary, Error>?
        func settle() async throws {
            guard let pending = writing else { return }
            writing = nil
            summary.merge(try await pending.value)
            batchDone()
        }
        var next = Task.detached(operation: readAhead)
        while true {
            let current = try await next.value
            if current.lineCount == 0 { break }
            next = Task.detached(operation: readAhead)
            summary.lines += current.lineCount
            for state in current.states { summary.inputsByOp[state.op, default: 0] += 1 }
            let batch = current.records
            if batch.isEmpty { continue }
            let processed: [JSON]
            var completion: BatchCompletion?
            do {
                if let pipelined, let prepared = current.prepared {
                    completion = try await pipelined.value.process(batch, prepared: prepared)
                    processed = batch
                } else {
                    processed = try await stage.process(batch)
                }
            } catch {
                // Whatever was already committed still goes out before we stop.
                try? await settle()
                throw error
            }
            let outputs = ParsedBatch(
                lineCount: 0, records: processed, states: current.states, completion: completion)
            precondition(
                outputs.records.count == batch.count, "stage \(stage.name) broke the one-output-per-input rule")
            try await settle()
            writing = Task.detached {
                outputs.completion?.run()
                return try StageRunner.write(
                    outputs.records, states: outputs.states, to: output.value, workers: sideWorkers)
            }
            // Instrumented runs settle each batch at once: otherwise its counts would wait for
            // the next batch to arrive, which in a long quiet run may be hours away.
            if metrics != nil || progress != nil { try await settle() }
        }
        try await settle()
    }

    /// Serialises (in parallel) and writes one batch of outputs, then flushes.
    private static func write(
        _ outputs: [JSON], states: [InputState], to writer: OutputWriter, workers: Int
    ) throws -> RunSummary {
        var written = RunSummary()
        let serialized = StageRunner.serialize(outputs, states: states, workers: workers)
        for chunk in serialized { written.merge(chunk.tally) }
        do {
            for chunk in serialized { try writer.write(bytes: chunk.bytes) }
            try writer.flush()
            TokLogging.flush()
        } catch {
            throw StageFailure(.ioError, "writing standard output failed: \(error)")
        }
        return written
    }

    struct ChunkOutput {
        var bytes: [UInt8] = []
        var tally = ChunkTally()
        var log: [UInt8] = []
    }

    /// Output buffers are reused from batch to batch: fresh large buffers
    /// would cost a page fault per 4 KiB on every batch.
    private var bufferPool: [[UInt8]] = []

    /// Parse, process and serialise each chunk of lines on one thread.
    private func processFused(_ lines: [InputLine], _ stage: RecordwiseStage) -> [ChunkOutput] {
        let logPrefix: [UInt8]? =
            logger.logLevel <= .info
            ? Array("\(StderrLogHandler.timestamp()) \(stage.name.tool) info: ".utf8) : nil
        var outputs: [(Int, ChunkOutput)] = []
        let lock = PosixMutex()
        ParallelWork.forEachChunk(count: lines.count) { range in
            var output = ChunkOutput()
            lock.withLock {
                output.bytes = bufferPool.popLast() ?? []
                output.log = bufferPool.popLast() ?? []
            }
            for index in range {
                guard let (record, before) = StageRunner.parseWithState(lines[index]) else { continue }
                output.tally.countInput(before)
                if let logPrefix {
                    let mark = output.log.count
                    output.log.append(contentsOf: logPrefix)
                    if stage.processRecord(record, requestLog: &output.log) {
                        output.log.append(UInt8(ascii: "\n"))
                    } else {
                        output.log.removeSubrange(mark...)
                    }
                } else {
                    _ = stage.processRecord(record, requestLog: nil)
                }
                output.tally.countOutput(record, before: before)
                record.writeRecord(into: &output.bytes)
                output.bytes.append(UInt8(ascii: "\n"))
            }
            lock.withLock { outputs.append((range.lowerBound, output)) }
        }
        return outputs.sorted { $0.0 < $1.0 }.map(\.1)
    }

    private func recycle(_ buffer: inout [UInt8]) {
        buffer.removeAll(keepingCapacity: true)
        // A few buffers per worker thread; anything beyond is freed.
        if bufferPool.count < 4 * ParallelWork.workers + 4 { bufferPool.append(buffer) }
        buffer = []
    }

    /// Serialises records as NDJSON in parallel chunks, counting them on the
    /// way against what they were on the way in (`states`, one per record).
    static func serialize(
        _ records: [JSON], states: [InputState], workers: Int = ParallelWork.workers
    ) -> [(bytes: [UInt8], tally: RunSummary)] {
        precondition(states.count == records.count, "one input state per record")
        var chunks: [(range: Range<Int>, bytes: [UInt8], tally: RunSummary)] = []
        let lock = PosixMutex()
        ParallelWork.forEachChunk(count: records.count, workers: workers) { range in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(range.count * 256)
            var tally = ChunkTally()
            for index in range {
                let record = records[index]
                tally.countOutput(record, before: states[index])
                record.writeRecord(into: &bytes)
                bytes.append(UInt8(ascii: "\n"))
            }
            let counted = tally.summary
            lock.withLock { chunks.append((range, bytes, counted)) }
        }
        return chunks.sorted { $0.range.lowerBound < $1.range.lowerBound }.map { ($0.bytes, $0.tally) }
    }

    /// `parse`, with what the record was on the way in. A line this stage
    /// could not read is a rejection made here, so it counts as a new one.
    static func parseWithState(_ line: InputLine) -> (JSON, InputState)? {
        guard let (record, unreadable) = parseLine(line) else { return nil }
        var state = InputState(record)
        if unreadable { state.rejected = false }
        return (record, state)
    }

    /// Turns one input line into a record, or into a rejection record. Blank
    /// lines are skipped (they carry nothing), but still counted for line numbers.
    static func parse(_ line: InputLine) -> JSON? { parseLine(line)?.record }

    /// The same, saying whether the line was unreadable (the record is then its rejection).
    static func parseLine(_ line: InputLine) -> (record: JSON, unreadable: Bool)? {
        switch line.content {
        case .tooLong(let prefix, let totalBytes):
            return (
                JSON.rejectedLine(
                    number: line.number,
                    error: TokError(.lineTooLong, "line \(line.number) has \(totalBytes) bytes, over the limit"),
                    raw: nil, prefix: prefix, totalBytes: totalBytes), true
            )
        case .bytes(let bytes):
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return nil }
            let parsed = bytes.withUnsafeBytes { JSON.parse($0) }.map { value in
                if value.isObject { value.rememberOriginal(bytes) }
                return value
            }
            switch parsed {
            case .success(let value):
                if value.isObject { return (value, false) }
                return (
                    JSON.rejectedLine(
                        number: line.number,
                        error: TokError(.notAnObject, "line \(line.number) is JSON but not an object"),
                        raw: bytes), true
                )
            case .failure(let failure):
                let code: ErrorCode = failure.integerTooLarge ? .numberOutOfRange : .malformedJSON
                return (
                    JSON.rejectedLine(
                        number: line.number,
                        error: TokError(code, "line \(line.number): \(failure.message)"),
                        raw: bytes), true
                )
            }
        }
    }
}
