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
    var op: String
    var rejected: Bool
    var payoutError: Bool

    init(_ record: JSON) {
        op = MetricLabel.op(record.string(at: Field.op))
        rejected = record.string(at: Field.status) == RecordStatus.rejected.rawValue
        payoutError = record.has(TransferFlow.payoutErrorKey)
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
