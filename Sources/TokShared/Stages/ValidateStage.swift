import Logging

/// tok-validate: format checks against the config, no I/O beyond the stream.
/// Handles records without a status (fresh requests); passes all others through.
public final class ValidateStage: RecordwiseStage {
    public let name = StageName.validate
    private let resolver: RequestResolver
    private let defaultOp: Op?
    private let logger: Logger
    /// `--payout-message`: instead of validating, add to each unsigned payout or
    /// transfer the exact text its source account must sign.
    private let payoutMessageMode: Bool

    public init(config: TokConfig, defaultOp: Op?, payoutMessageMode: Bool = false, logger: Logger) {
        self.resolver = RequestResolver(config: config)
        self.defaultOp = defaultOp
        self.payoutMessageMode = payoutMessageMode
        self.logger = logger
    }

    private func addAuthorisationMessage(_ record: JSON) -> Bool {
        do throws(TokError) {
            if record[Field.op] == nil, let defaultOp { record.set(Field.op, string: defaultOp.rawValue) }
            let op = try RequestResolver.op(of: record)
            guard op == .payout || op == .transfer else { return false }
            let payout = try resolver.resolvePayout(record, nowUnixSeconds: Int64(Ledger.nowMilliseconds() / 1000), requireSignature: false)
            record.set("authorisation_message", string: payout.authorisation.message)
        } catch {
            record.reject(stage: .validate, error)
        }
        return false
    }

    /// Validates a fresh request (one without a status); others pass through.
    public func processRecord(_ record: JSON, requestLog: UnsafeMutablePointer<[UInt8]>?) -> Bool {
        if record.has(Field.status) { return false }
        return payoutMessageMode ? addAuthorisationMessage(record) : validate(record, requestLog: requestLog)
    }

    /// Validates one fresh request in place, through the flow of its op;
    /// appends its request-log entry when valid.
    func validate(_ record: JSON, requestLog: UnsafeMutablePointer<[UInt8]>?) -> Bool {
        do throws(TokError) {
            if record[Field.op] == nil, let defaultOp {
                record.set(Field.op, string: defaultOp.rawValue)
            }
            let flow = FlowRegistry.flow(for: try RequestResolver.op(of: record))
            let context = ValidateContext(resolver: resolver, nowUnixSeconds: Int64(Ledger.nowMilliseconds() / 1000))
            return try flow.validate(record, context: context, requestLog: requestLog)
        } catch {
            record.reject(stage: .validate, error)
            return false
        }
    }
}
