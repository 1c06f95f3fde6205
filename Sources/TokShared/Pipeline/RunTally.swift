/// What a run did, counted record by record: the summary of the last log
/// line, the exit status (rejections this stage made for the operator's
/// faults) and the metrics file. Counted where records are already touched
/// (parse and serialise, in parallel chunks) and merged per batch.
public struct RunSummary: Sendable {
    public var lines = 0
    public var outputs = 0
    public var rejected = 0
    public var byStatus: [String: Int] = [:]
    /// Records read, by op (a bounded label: see `MetricLabel`).
    public var inputsByOp: [String: Int] = [:]
    /// Records written, by op and status.
    public var outputsByOpAndStatus: [OpAndStatus: Int] = [:]
    /// Rejections this stage made (of records that came in not rejected), by
    /// code; a transfer's payout_error added here counts too.
    public var rejectionsByCode: [String: Int] = [:]

    public struct OpAndStatus: Hashable, Sendable {
        public var op: String
        public var status: String
    }

    public init() {}

    /// Rejections whose cause is the operator's setup (see ErrorCode.operatorFault).
    public var operatorFaults: Int {
        rejectionsByCode.reduce(0) { total, entry in
            ErrorCode(rawValue: entry.key)?.operatorFault == true ? total + entry.value : total
        }
    }

    mutating func merge(_ other: RunSummary) {
        lines += other.lines
        outputs += other.outputs
        rejected += other.rejected
        for (key, count) in other.byStatus { byStatus[key, default: 0] += count }
        for (key, count) in other.inputsByOp { inputsByOp[key, default: 0] += count }
        for (key, count) in other.outputsByOpAndStatus { outputsByOpAndStatus[key, default: 0] += count }
        for (key, count) in other.rejectionsByCode { rejectionsByCode[key, default: 0] += count }
    }

    /// Counts one record as it came in; what it was decides what counts as a new rejection.
    mutating func countInput(_ record: JSON) -> InputState {
        let state = InputState(record)
        inputsByOp[state.op, default: 0] += 1
        return state
    }

    /// Counts one record as it goes out.
    mutating func countOutput(_ record: JSON, before: InputState) {
        outputs += 1
        let statusText = record.string(at: Field.status)
        let status = MetricLabel.status(statusText)
        if let statusText { byStatus[statusText, default: 0] += 1 }
        outputsByOpAndStatus[
            OpAndStatus(op: MetricLabel.op(record.string(at: Field.op)), status: status), default: 0] += 1
        if status == RecordStatus.rejected.rawValue {
            rejected += 1
            if !before.rejected {
                rejectionsByCode[MetricLabel.code(record[Field.error]?.string(at: "code")), default: 0] += 1
            }
        } else if !before.payoutError, let payoutError = record[TransferFlow.payoutErrorKey], payoutError.isObject {
            rejectionsByCode[MetricLabel.code(payoutError.string(at: "code")), default: 0] += 1
        }
    }
}

/// What a record was when it entered the stage.
struct InputState: Sendable {
    /// The op as written (its label is looked up only when counted by `RunSummary`).
    var opText: String?
    var rejected: Bool
    var payoutError: Bool

    var op: String { MetricLabel.op(opText) }

    init(_ record: JSON) {
        opText = record.string(at: Field.op)
        rejected = record.string(at: Field.status) == RecordStatus.rejected.rawValue
        payoutError = record.has(TransferFlow.payoutErrorKey)
    }
}

/// One chunk's counts, cheap per record: consecutive records mostly share
/// their op and status, so a record repeating the previous one's texts costs
/// two string comparisons, with no hashing and no label lookup (those showed
/// up as several per cent of tok-validate). Labels are looked up once per
/// distinct text, when the chunk's counts are read as a `RunSummary`.
struct ChunkTally {
    private struct Texts: Hashable {
        var op: String?
        var status: String?
    }

    private var inputs = RunCounter<String?>()
    private var outputs = RunCounter<Texts>()
    /// Rejections by code: rare, counted as they come.
    private var rejections = RunSummary()

    mutating func countInput(_ state: InputState) { inputs.add(state.opText) }

    /// Counts one record as it goes out (as `RunSummary.countOutput` does).
    mutating func countOutput(_ record: JSON, before: InputState) {
        let statusText = record.string(at: Field.status)
        outputs.add(Texts(op: record.string(at: Field.op), status: statusText))
        if statusText == RecordStatus.rejected.rawValue {
            if !before.rejected {
                rejections.rejectionsByCode[MetricLabel.code(record[Field.error]?.string(at: "code")), default: 0] += 1
            }
        } else if !before.payoutError, let payoutError = record[TransferFlow.payoutErrorKey], payoutError.isObject {
            rejections.rejectionsByCode[MetricLabel.code(payoutError.string(at: "code")), default: 0] += 1
        }
    }

    var summary: RunSummary {
        var summary = rejections
        for (opText, count) in inputs.totals { summary.inputsByOp[MetricLabel.op(opText), default: 0] += count }
        for (texts, count) in outputs.totals {
            summary.outputs += count
            if let status = texts.status { summary.byStatus[status, default: 0] += count }
            if texts.status == RecordStatus.rejected.rawValue { summary.rejected += count }
            let key = RunSummary.OpAndStatus(op: MetricLabel.op(texts.op), status: MetricLabel.status(texts.status))
            summary.outputsByOpAndStatus[key, default: 0] += count
        }
        return summary
    }
}

/// Counts of keys that mostly repeat: a run of equal keys is one count, hashed once.
struct RunCounter<Key: Hashable> {
    private var last: Key?
    private var runLength = 0
    private var counts: [Key: Int] = [:]

    mutating func add(_ key: Key) {
        if runLength > 0, key == last {
            runLength += 1
            return
        }
        if let last, runLength > 0 { counts[last, default: 0] += runLength }
        last = key
        runLength = 1
    }

    var totals: [Key: Int] {
        var totals = counts
        if let last, runLength > 0 { totals[last, default: 0] += runLength }
        return totals
    }
}

/// Label values from records are bounded to the values tok knows, so input
/// cannot make the metrics grow without end: anything else is "other".
enum MetricLabel {
    static func op(_ text: String?) -> String {
        guard let text else { return "none" }
        return Op(rawValue: text) == nil ? "other" : text
    }

    static func status(_ text: String?) -> String {
        guard let text else { return "none" }
        return RecordStatus(rawValue: text) == nil ? "other" : text
    }

    static func code(_ text: String?) -> String {
        guard let text else { return "none" }
        return ErrorCode(rawValue: text) == nil ? "other" : text
    }
}
