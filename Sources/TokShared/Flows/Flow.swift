import Logging

/// The stages that act on a record of a flow in a given status.
public struct FlowStages: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let validate = FlowStages(rawValue: 1 << 0)
    public static let verify = FlowStages(rawValue: 1 << 1)
    public static let apply = FlowStages(rawValue: 1 << 2)
    public static let submit = FlowStages(rawValue: 1 << 3)
    /// Nobody acts: the record is final (or belongs to another flow's states) and passes through.
    public static let none: FlowStages = []
}

/// One kind of request (deposit, payout, transfer, …) from end to end: which
/// stage acts on it in which status, and what each stage does with it. A new
/// kind of record is a new file with a new flow, registered in
/// `FlowRegistry.all`; the stages find it there and never switch over ops.
///
/// Every hook but `stages(at:)` has a default that refuses or does nothing,
/// so a flow implements only the stages it declares.
public protocol Flow: Sendable {
    var op: Op { get }

    /// The stages that act on this flow's records in `status` (nil: a fresh
    /// request). Written as one exhaustive switch over every status, so a new
    /// status cannot be added without saying who handles it.
    func stages(at status: RecordStatus?) -> FlowStages

    /// tok-validate: checks a fresh request against the config and writes its
    /// `validated` section and status. Record-local, on any thread. When
    /// `requestLog` is given, appends the request's log entry and returns true.
    func validate(
        _ record: JSON, context: ValidateContext, requestLog: UnsafeMutablePointer<[UInt8]>?
    ) throws(TokError) -> Bool

    /// tok-verify: resolves the record and hands its chain work to the batch
    /// (deposits to prove, payouts to sign). Sequential, no I/O.
    func verify(_ record: JSON, index: Int, batch: VerifyBatch) throws(TokError)
    /// tok-verify: the deposit this flow handed to `batch.proveDeposit` is final on chain.
    func depositProven(_ record: JSON, index: Int, deposit: ResolvedDeposit, credited: UInt256, batch: VerifyBatch)
    /// tok-verify: the payout this flow handed to `batch.signPayout` was signed.
    func payoutSigned(_ record: JSON, payout: ResolvedPayout, payoutTx: PayoutTx, batch: VerifyBatch)
    /// tok-verify: the payout could not be signed (refused before or by signing).
    func payoutRefused(_ record: JSON, _ error: TokError, batch: VerifyBatch)

    /// tok-apply: work that depends on the record alone (attestation checks,
    /// reading its facts), run while the batch before is in the ledger pass.
    func precheck(_ record: JSON, context: RecordContext) -> (any ApplyPrecheck)?
    /// tok-apply: the record's transition, inside the batch's transaction. The
    /// outcome annotates the record once the batch has committed.
    func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome
}

/// What a flow's precheck found, handed back to its own `apply`.
public protocol ApplyPrecheck: Sendable {}

/// What a record's transition did; written into the record (and logged) after the commit,
/// while the next batch is in the ledger pass.
public protocol AppliedOutcome {
    func annotate(_ record: JSON, context: RecordContext)
}

/// A log line about a transition. A transition runs inside its batch's transaction, so it returns
/// its line in its outcome instead of writing it, and the annotation writes it once the batch has
/// committed: a line saying something happened is then true.
public struct CommittedLogLine {
    let level: Logger.Level
    let message: Logger.Message
    let metadata: Logger.Metadata

    func write(to logger: Logger) { logger.log(level: level, message, metadata: metadata) }
}

extension Flow {
    public func validate(
        _ record: JSON, context: ValidateContext,
        requestLog: UnsafeMutablePointer<[UInt8]>?
    ) throws(TokError) -> Bool {
        throw TokError(.unknownOp, "\(op.rawValue) records are not requests clients send")
    }

    public func verify(_ record: JSON, index: Int, batch: VerifyBatch) throws(TokError) {
        throw TokError(.internalError, "tok-verify has nothing to do for \(op.rawValue)")
    }

    public func depositProven(
        _ record: JSON, index: Int, deposit: ResolvedDeposit, credited: UInt256, batch: VerifyBatch
    ) {
        record.set(Field.status, string: RecordStatus.verified.rawValue)
        batch.attestor.attest(record, stage: .verify)
        batch.noteCredit(deposit, credited)
    }

    public func payoutSigned(_ record: JSON, payout: ResolvedPayout, payoutTx: PayoutTx, batch: VerifyBatch) {
        record.remove(Field.error)
        record.remove(Field.attestation)
        record.set(Field.payoutTx, payoutTx.object())
        record.set(Field.status, string: RecordStatus.signed.rawValue)
        batch.attestor.attest(record, stage: .verify)
    }

    public func payoutRefused(_ record: JSON, _ error: TokError, batch: VerifyBatch) {
        record.remove(Field.payoutTx)
        record.remove(Field.attestation)
        record.reject(stage: .verify, error)
        batch.logger.notice(
            "payout not signed",
            metadata: [
                "id": "\(record.string(at: Field.id) ?? "?")",
                "code": "\(error.code.rawValue)",
            ])
    }

    public func precheck(_ record: JSON, context: RecordContext) -> (any ApplyPrecheck)? { nil }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        throw TokError(.internalError, "tok-apply has nothing to do for \(op.rawValue)")
    }
}

/// Every flow tok knows, found by op. The one place that decides what happens
/// to a record no flow claims: it passes through every stage untouched.
public enum FlowRegistry {
    public static let all: [any Flow] = [
        DepositFlow(), PayoutFlow(), TransferFlow(), NonceFillFlow(), BalanceQueryFlow(), StatusQueryFlow(),
        BlockFlow(), UnattributedQueryFlow(), TokenRecordFlow(), TokenInfoQueryFlow(), TokenBalanceQueryFlow(),
        InvoiceQueryFlow(),
        OrderBookQueryFlow(), OfferQueryFlow(), MatchQueryFlow(),
    ]

    private static let byOp: [Op: any Flow] = {
        var flows: [Op: any Flow] = [:]
        for flow in all {
            precondition(flows[flow.op] == nil, "two flows claim op \(flow.op.rawValue)")
            flows[flow.op] = flow
        }
        precondition(Set(flows.keys) == Set(Op.allCases), "every op has exactly one flow")
        return flows
    }()

    public static func flow(for op: Op) -> any Flow {
        guard let flow = byOp[op] else { preconditionFailure("op \(op.rawValue) has no flow") }
        return flow
    }

    /// The flow that `stage` should run on `record`, or nil when the record
    /// passes through: an op this build does not know, a status it does not
    /// know (never guessed at), a rejected record, or a status the flow says
    /// this stage does not handle.
    public static func claim(_ record: JSON, for stage: FlowStages) -> (any Flow)? {
        guard let op = record.opText.flatMap(Op.init(rawValue:)), !record.hasForeignStatus else { return nil }
        let status = record.status
        if status == .rejected { return nil }
        let flow = flow(for: op)
        return flow.stages(at: status).contains(stage) ? flow : nil
    }
}

/// What tok-validate's flows may use. Plain values: validation runs on every core.
public struct ValidateContext: Sendable {
    public let resolver: RequestResolver
    /// Read when a flow asks (payouts and transfers), not for every record: a
    /// clock read per deposit was about 1 % of tok-validate.
    public var nowUnixSeconds: Int64 { Int64(Ledger.nowMilliseconds() / 1000) }
}

/// What tok-apply's record-local work may use: the config, the attestor and the logger, never
/// the ledger. Prechecks (before a batch's ledger pass) and annotations (after its commit) run
/// beside the passes of other batches, so the ledger is not theirs to touch.
public struct RecordContext {
    public let resolver: RequestResolver
    public let attestor: Attestor
    public let logger: Logger

    public var config: TokConfig { resolver.config }
}

/// What tok-apply's flows may use while the batch's transaction is open.
public struct ApplyContext {
    public let ledger: Ledger
    public let recordContext: RecordContext
    /// The batch's clock reading: every transition of a batch gets the same time.
    public let nowMilliseconds: Int64

    public var resolver: RequestResolver { recordContext.resolver }
    public var attestor: Attestor { recordContext.attestor }
    public var logger: Logger { recordContext.logger }
    public var config: TokConfig { recordContext.config }
}
