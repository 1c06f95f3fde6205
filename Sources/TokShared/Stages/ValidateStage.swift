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

    /// Validates one fresh request in place; appends its request-log entry when valid.
    func validate(_ record: JSON, requestLog: UnsafeMutablePointer<[UInt8]>?) -> Bool {
        do throws(TokError) {
            if record[Field.op] == nil, let defaultOp {
                record.set(Field.op, string: defaultOp.rawValue)
            }
            let op = try RequestResolver.op(of: record)
            switch op {
            case .deposit:
                let deposit = try resolver.resolveDeposit(record)
                record.set(Field.validated, deposit.validatedObject())
                record.set(Field.status, string: RecordStatus.validated.rawValue)
                // The seed's "log valid API request", once per request.
                if let requestLog {
                    requestLog.pointee.append(contentsOf: "deposit id=".utf8)
                    requestLog.pointee.append(contentsOf: deposit.requestId.utf8)
                    requestLog.pointee.append(contentsOf: " account=".utf8)
                    requestLog.pointee.append(contentsOf: deposit.account.utf8)
                    requestLog.pointee.append(contentsOf: " token=".utf8)
                    requestLog.pointee.append(contentsOf: deposit.mapping.token.utf8)
                    requestLog.pointee.append(contentsOf: " tx=".utf8)
                    requestLog.pointee.append(contentsOf: deposit.tx.utf8)
                }
                return true
            case .balance:
                let query = try resolver.resolveBalanceQuery(record)
                let validated = JSON.object()
                validated.set("account", string: query.account)
                validated.set("token", string: query.token)
                record.set(Field.validated, validated)
                record.set(Field.status, string: RecordStatus.validated.rawValue)
                requestLog?.pointee.append(contentsOf: "balance query id=\(record.string(at: Field.id) ?? "") account=\(query.account) token=\(query.token)".utf8)
                return true
            case .status:
                let id = try RequestResolver.checkRequestId(record)
                record.set(Field.status, string: RecordStatus.validated.rawValue)
                requestLog?.pointee.append(contentsOf: "status query id=\(id)".utf8)
                return true
            case .payout:
                let payout = try resolver.resolvePayout(record, nowUnixSeconds: Int64(Ledger.nowMilliseconds() / 1000))
                record.set(Field.validated, payout.validatedObject())
                record.set(Field.status, string: RecordStatus.validated.rawValue)
                requestLog?.pointee.append(contentsOf: "payout id=\(payout.requestId) account=\(payout.account) token=\(payout.token) quantity=\(payout.quantity) fee=\(payout.fee) destination=\(payout.destinationAccount)".utf8)
                return true
            case .nonceFill:
                throw TokError(.unknownOp, "nonce_fill records are made by tok-apply --open-payouts, not by clients")
            case .transfer:
                let transfer = try resolver.resolveTransfer(record, nowUnixSeconds: Int64(Ledger.nowMilliseconds() / 1000))
                record.set(Field.validated, transfer.validatedObject())
                record.set(Field.status, string: RecordStatus.validated.rawValue)
                requestLog?.pointee.append(contentsOf: "transfer id=\(transfer.payout.requestId) account=\(transfer.payout.account) token=\(transfer.payout.token) tx=\(transfer.deposit.tx) quantity=\(transfer.payout.quantity) destination=\(transfer.payout.destinationAccount)".utf8)
                return true
            }
        } catch {
            record.reject(stage: .validate, error)
            return false
        }
    }
}
