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
    /// `--anchor-payload`: instead of validating, add to each record (`op: record`)
    /// and each reference (`op: anchor`) the OP_RETURN data and named outputs of
    /// the transaction that anchors it.
    private let anchorPayloadMode: Bool

    public init(
        config: TokConfig, defaultOp: Op?, payoutMessageMode: Bool = false, anchorPayloadMode: Bool = false,
        logger: Logger
    ) {
        self.resolver = RequestResolver(config: config)
        self.defaultOp = defaultOp
        self.payoutMessageMode = payoutMessageMode
        self.anchorPayloadMode = anchorPayloadMode
        self.logger = logger
    }

    private func addAnchorPlan(_ record: JSON) -> Bool {
        do throws(TokError) {
            let plan: AnchorPlan
            if record.opText == Op.record.rawValue {
                guard let body = record["record"] else { throw TokError(.missingField, "record is required") }
                plan = try AnchorComposer.plan(for: try TokenRecord.parse(body))
            } else if record.opText == "anchor" {
                let kinds = ["payment", "approval", "delete_buy_offer", "delete_sell_offer"].filter { record.has($0) }
                guard kinds.count == 1, let kind = kinds.first, let reference = record[kind], reference.isObject else {
                    throw TokError(
                        .missingField, "an anchor names one of payment, approval, delete_buy_offer, delete_sell_offer")
                }
                plan = try AnchorComposer.plan(kind: kind, reference: FieldReader(reference, path: kind))
            } else {
                return false
            }
            record.set("anchor", plan.object())
        } catch {
            record.reject(stage: .validate, error)
        }
        return false
    }

    private func addAuthorisationMessage(_ record: JSON) -> Bool {
        do throws(TokError) {
            if !record.has(Field.op), let defaultOp { record.set(Field.op, string: defaultOp.rawValue) }
            let op = try RequestResolver.op(of: record)
            guard op == .payout || op == .transfer else { return false }
            let payout = try resolver.resolvePayout(
                record, nowUnixSeconds: Int64(Ledger.nowMilliseconds() / 1000), requireSignature: false)
            record.set("authorisation_message", string: payout.authorisation.message)
        } catch {
            record.reject(stage: .validate, error)
        }
        return false
    }

    /// Validates a fresh request (one without a status); others pass through.
    public func processRecord(_ record: JSON, requestLog: UnsafeMutablePointer<[UInt8]>?) -> Bool {
        if record.has(Field.status) { return false }
        if anchorPayloadMode { return addAnchorPlan(record) }
        return payoutMessageMode ? addAuthorisationMessage(record) : validate(record, requestLog: requestLog)
    }

    /// Validates one fresh request in place, through the flow of its op;
    /// appends its request-log entry when valid.
    func validate(_ record: JSON, requestLog: UnsafeMutablePointer<[UInt8]>?) -> Bool {
        do throws(TokError) {
            if !record.has(Field.op), let defaultOp {
                record.set(Field.op, string: defaultOp.rawValue)
            }
            let flow = FlowRegistry.flow(for: try RequestResolver.op(of: record))
            let context = ValidateContext(resolver: resolver)
            return try flow.validate(record, context: context, requestLog: requestLog)
        } catch {
            record.reject(stage: .validate, error)
            return false
        }
    }
}
