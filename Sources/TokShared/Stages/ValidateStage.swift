import Logging

/// tok-validate: format checks against the config, no I/O beyond the stream.
/// Handles records without a status (fresh requests); passes all others through.
public final class ValidateStage: Stage {
    public let name = StageName.validate
    private let resolver: RequestResolver
    private let defaultOp: Op?
    private let logger: Logger

    public init(config: TokConfig, defaultOp: Op?, logger: Logger) {
        self.resolver = RequestResolver(config: config)
        self.defaultOp = defaultOp
        self.logger = logger
    }

    public func process(_ batch: [JSON]) async throws -> [JSON] {
        for record in batch where record[Field.status] == nil {
            validate(record)
        }
        return batch
    }

    func validate(_ record: JSON) {
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
                logger.info("valid deposit", metadata: [
                    "id": "\(deposit.requestId)", "account": "\(deposit.account)",
                    "token": "\(deposit.mapping.token)", "tx": "\(deposit.tx)",
                ])
            case .balance:
                let query = try resolver.resolveBalanceQuery(record)
                let validated = JSON.object()
                validated.set("account", string: query.account)
                validated.set("token", string: query.token)
                record.set(Field.validated, validated)
                record.set(Field.status, string: RecordStatus.validated.rawValue)
            case .status:
                _ = try RequestResolver.checkRequestId(record)
                record.set(Field.status, string: RecordStatus.validated.rawValue)
            case .payout, .transfer:
                throw TokError(.unknownOp, "op \(op.rawValue) is not available in this build yet")
            }
        } catch {
            record.reject(stage: .validate, error)
        }
    }
}
