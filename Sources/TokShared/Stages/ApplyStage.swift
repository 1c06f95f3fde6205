import Logging

/// tok-apply: the only writer. Applies attested records to the ledger, one
/// database transaction per batch with a savepoint per record, and answers
/// balance and status queries. Outputs of a batch are released only after its
/// transaction commits, so nothing downstream ever sees an uncommitted state.
public final class ApplyStage: Stage {
    public let name = StageName.apply
    private let resolver: RequestResolver
    private let ledger: Ledger
    private let attestor: Attestor
    private let logger: Logger
    /// Held, not used: the lock lives exactly as long as the stage.
    private let writerLock: WriterLock?

    public init(config: TokConfig, ledger: Ledger, attestor: Attestor, writerLock: WriterLock?, logger: Logger) {
        self.writerLock = writerLock
        self.resolver = RequestResolver(config: config)
        self.ledger = ledger
        self.attestor = attestor
        self.logger = logger
    }

    /// What happened to one record, kept until the batch commits.
    enum Result {
        case passThrough
        case rejected(TokError)
        case deposit(VerifiedDeposit, DepositOutcome)
        case balance(ResolvedAccountToken, Balance)
        case status(String, RequestState?)
    }

    public func process(_ batch: [JSON]) async throws -> [JSON] {
        var results = [Result](repeating: .passThrough, count: batch.count)
        do {
            try ledger.beginBatch()
        } catch {
            throw StageFailure(.tempFailure, "cannot start a database transaction: \(error)")
        }
        for (index, record) in batch.enumerated() {
            results[index] = apply(record)
        }
        do {
            try ledger.commitBatch()
        } catch {
            // Nothing of this batch is stored; say so on every record it touched.
            ledger.rollbackBatch()
            logger.error("batch commit failed; the batch is rejected as retryable", metadata: ["error": "\(error)"])
            for index in results.indices {
                if case .passThrough = results[index] { continue }
                results[index] = .rejected(TokError(.databaseError, "the batch's commit failed: \(error)"))
            }
        }
        for (record, result) in zip(batch, results) { annotate(record, result) }
        return batch
    }

    private func apply(_ record: JSON) -> Result {
        guard let opText = record.opText, let op = Op(rawValue: opText) else { return .passThrough }
        let status = record.status
        if status == .rejected || record.hasForeignStatus { return .passThrough }
        do throws(TokError) {
            switch op {
            case .deposit:
                guard status == .verified else { return .passThrough }
                let deposit = try verifiedDeposit(record)
                let outcome = try ledger.inRecordSavepoint { () throws(TokError) in try ledger.creditDeposit(deposit) }
                switch outcome {
                case .credited:
                    logger.info("deposit credited", metadata: ["id": "\(deposit.requestId)", "account": "\(deposit.account)",
                                                               "token": "\(deposit.token)", "amount": "\(deposit.amount)"])
                case .duplicate(let first):
                    logger.notice("duplicate deposit claim", metadata: ["id": "\(deposit.requestId)", "first": "\(first)", "tx": "\(deposit.tx)"])
                }
                return .deposit(deposit, outcome)
            case .balance:
                guard status == nil || status == .validated else { return .passThrough }
                let query = try resolver.resolveBalanceQuery(record)
                return .balance(query, try ledger.balance(account: query.account, token: query.token))
            case .status:
                guard status == nil || status == .validated else { return .passThrough }
                let id = try RequestResolver.checkRequestId(record)
                return .status(id, try ledger.requestState(id: id))
            case .payout, .transfer:
                return .passThrough
            }
        } catch {
            return .rejected(error)
        }
    }

    /// Reads the attested facts. The attestation is checked first: every field
    /// used below is covered by it.
    private func verifiedDeposit(_ record: JSON) throws(TokError) -> VerifiedDeposit {
        try attestor.check(record, stage: .verify)
        guard let validated = record[Field.validated], validated.isObject,
              let verified = record[Field.verified], verified.isObject else {
            throw TokError(.notVerified, "a verified deposit must carry validated and verified objects")
        }
        func text(_ object: JSON, _ key: String, _ path: String) throws(TokError) -> String {
            guard let value = object[key]?.stringValue, !value.isEmpty else {
                throw TokError(.missingField, "\(path).\(key) is required")
            }
            return value
        }
        func integer(_ object: JSON, _ key: String, _ path: String) throws(TokError) -> Int64 {
            guard let value = object[key]?.int64Value, value >= 0 else {
                throw TokError(.missingField, "\(path).\(key) must be a non-negative integer")
            }
            return value
        }
        let amountText = try text(verified, "amount", "verified")
        let amount = try UInt256(decimal: amountText)
        guard !amount.isZero else { throw TokError(.notVerified, "verified.amount is zero") }
        let confirmations = try integer(verified, "confirmations", "verified")
        let required = try integer(verified, "required_confirmations", "verified")
        guard confirmations >= required else {
            throw TokError(.notVerified, "verified.confirmations \(confirmations) is below the required \(required)")
        }
        return VerifiedDeposit(
            requestId: try RequestResolver.checkRequestId(record),
            chain: try text(validated, "network", "validated"),
            tx: try text(validated, "tx", "validated"),
            account: try text(validated, "account", "validated"),
            token: try text(validated, "token", "validated"),
            asset: try text(validated, "asset", "validated"),
            amount: amount,
            blockHash: try text(verified, "block_hash", "verified"),
            blockNumber: try integer(verified, "block_number", "verified"),
            confirmations: confirmations)
    }

    private func annotate(_ record: JSON, _ result: Result) {
        switch result {
        case .passThrough:
            return
        case .rejected(let error):
            record.reject(stage: .apply, error)
        case .deposit(_, let outcome):
            let applied = JSON.object()
            switch outcome {
            case .credited(let available):
                applied.set("outcome", string: "credited")
                applied.set("available", string: available.description)
                record.set(Field.status, string: RecordStatus.credited.rawValue)
            case .duplicate(let first):
                applied.set("outcome", string: "duplicate")
                applied.set("first_request", string: first)
                record.set(Field.status, string: RecordStatus.duplicate.rawValue)
            }
            record.set(Field.applied, applied)
        case .balance(let query, let balance):
            let answer = JSON.object()
            answer.set("account", string: query.account)
            answer.set("token", string: query.token)
            answer.set("available", string: balance.available.description)
            answer.set("locked", string: balance.locked.description)
            record.set("balance", answer)
            record.set(Field.status, string: RecordStatus.answered.rawValue)
        case .status(let id, let state):
            let answer = JSON.object()
            answer.set("id", string: id)
            if let state {
                answer.set("op", string: state.op)
                answer.set("state", string: state.state)
                if let chain = state.chain { answer.set("chain", string: chain) }
                if let tx = state.tx { answer.set("tx", string: tx) }
                if let amount = state.amount { answer.set("amount", string: amount) }
                if let account = state.account { answer.set("account", string: account) }
                if let token = state.token { answer.set("token", string: token) }
                if let confirmations = state.confirmations { answer.set("confirmations", integer: confirmations) }
            } else {
                answer.set("state", string: "unknown")
            }
            record.set("request", answer)
            record.set(Field.status, string: RecordStatus.answered.rawValue)
        }
    }
}
