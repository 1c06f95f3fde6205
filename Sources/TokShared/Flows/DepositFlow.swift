/// `op: deposit`: "account sent this asset to the operator's receiver in
/// transaction tx; credit it". validate → verify (proven on the source chain,
/// attested) → apply (credited exactly once per chain transaction and asset).
public struct DepositFlow: Flow {
    public init() {}
    public var op: Op { .deposit }

    public func stages(at status: RecordStatus?) -> FlowStages {
        switch status {
        case nil: return .validate
        case .validated?, .pending?: return .verify
        case .verified?: return .apply
        case .credited?, .duplicate?, .answered?, .rejected?, .signed?, .prepared?, .submitted?, .confirmed?, .failed?,
            .inFlight?, .paid?, .rolledBack?, .observed?, .disconnected?, .connected?,
            .undone?:
            return .none
        }
    }

    public func validate(
        _ record: JSON, context: ValidateContext,
        requestLog: UnsafeMutablePointer<[UInt8]>?
    ) throws(TokError) -> Bool {
        let deposit = try context.resolver.resolveDeposit(record)
        // A derived id goes into the record: every later stage reads the id from there.
        if !record.has(Field.id) { record.set(Field.id, string: deposit.requestId) }
        let validated = ValidatedDeposit(deposit)
        record.set(Field.validated, validated.write())
        record.set(Field.status, string: RecordStatus.validated.rawValue)
        // The seed's "log valid API request", once per request, written as bytes:
        // this runs for every deposit of a bulk replay.
        if let requestLog {
            requestLog.pointee.append(contentsOf: "deposit id=".utf8)
            requestLog.pointee.append(contentsOf: deposit.requestId.utf8)
            requestLog.pointee.append(contentsOf: " account=".utf8)
            requestLog.pointee.append(contentsOf: validated.account.utf8)
            requestLog.pointee.append(contentsOf: " token=".utf8)
            requestLog.pointee.append(contentsOf: deposit.mapping.token.utf8)
            requestLog.pointee.append(contentsOf: " tx=".utf8)
            requestLog.pointee.append(contentsOf: deposit.tx.utf8)
        }
        return true
    }

    public func verify(_ record: JSON, index: Int, batch: VerifyBatch) throws(TokError) {
        batch.proveDeposit(try batch.resolver.resolveDeposit(record), index: index, flow: self)
    }

    public func precheck(_ record: JSON, context: RecordContext) -> (any ApplyPrecheck)? {
        DepositPrecheck(facts: DepositFlow.attestedDeposit(record, context: context))
    }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        let deposit = try DepositFlow.deposit(record, precheck: precheck, context: context)
        let outcome = try context.ledger.inRecordSavepoint { () throws(TokError) in
            try context.ledger.creditDeposit(deposit, op: .deposit, nowMilliseconds: context.nowMilliseconds)
        }
        return DepositApplied(outcome: outcome, deposit: deposit)
    }

    // MARK: Shared with transfers

    /// The deposit facts a precheck read, or read now.
    static func deposit(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> VerifiedDeposit {
        if let checked = precheck as? DepositPrecheck { return try checked.facts.get() }
        return try attestedDeposit(record, context: context.recordContext).get()
    }

    /// Reads the attested facts. The attestation is checked first: every field
    /// used below is covered by it. Needs only the record and the config, so
    /// it may run on any thread.
    static func attestedDeposit(_ record: JSON, context: RecordContext) -> Swift.Result<VerifiedDeposit, TokError> {
        do throws(TokError) {
            try context.attestor.check(record, stage: .verify)
            // A verified deposit carries both sections; without them it is not verified at all.
            let validated = try ValidatedDeposit.read(
                try FieldReader.section(record, Field.validated, missing: .notVerified))
            let verification = try DepositVerification.readFinal(
                try FieldReader.section(record, Field.verified, missing: .notVerified), tx: validated.tx)
            guard let payment = verification.payment else {
                throw TokError(.notVerified, "verified.amount is required")
            }
            guard let chain = try? ChainId(parsing: validated.network),
                let network = context.config.network(chain: chain),
                let mapping = network.assets.first(where: { $0.assetText == validated.asset }),
                let token = context.config.token(alias: validated.token)
            else {
                throw TokError(
                    .assetNotConfigured, "asset \(validated.asset) on \(validated.network) is no longer configured")
            }
            let credited = try UInt256.convert(
                payment.amount, fromDecimals: mapping.decimals, toDecimals: token.decimals,
                what: "the deposit")
            // tok-verify converted too; a disagreement means the two stages run different configs.
            if let attested = payment.credited, attested != credited {
                throw TokError(
                    .conflictingRecord,
                    "tok-verify attested a credit of \(attested) \(validated.token), this config converts it to \(credited)"
                )
            }
            return .success(
                VerifiedDeposit(
                    requestId: try RequestResolver.checkRequestId(record), chain: validated.network, tx: validated.tx,
                    account: validated.account, token: validated.token, asset: validated.asset, amount: payment.amount,
                    credited: credited, blockHash: payment.blockHash, blockNumber: payment.blockNumber,
                    confirmations: verification.confirmations, coins: payment.outputs,
                    receiver: payment.outputs.isEmpty ? nil : network.receiver))
        } catch {
            return .failure(error)
        }
    }

    /// Logged after the commit (from the annotation), as a `CommittedLogLine` is, but written here
    /// directly: once per deposit, it takes the log handler's byte path.
    static func log(_ deposit: VerifiedDeposit, _ outcome: DepositOutcome, context: RecordContext) {
        switch outcome {
        case .credited:
            // Once per deposit: tok's own handler writes the same line straight as bytes.
            let logger = context.logger
            if logger.logLevel <= .info, let handler = logger.handler as? StderrLogHandler,
                handler.writeLine(
                    .info, "deposit credited",
                    [
                        ("account", deposit.account), ("credited", deposit.credited.description),
                        ("id", deposit.requestId), ("token", deposit.token),
                    ])
            {
                return
            }
            // Strings go in as they are: interpolating them would copy each one.
            context.logger.info(
                "deposit credited",
                metadata: [
                    "id": .string(deposit.requestId), "account": .string(deposit.account),
                    "token": .string(deposit.token),
                    "credited": "\(deposit.credited)",
                ])
        case .duplicate(let first):
            context.logger.notice(
                "duplicate deposit claim",
                metadata: [
                    "id": .string(deposit.requestId), "first": .string(first), "tx": .string(deposit.tx),
                ])
        }
    }
}

/// A deposit's attested facts, read ahead of the ledger pass.
struct DepositPrecheck: ApplyPrecheck {
    let facts: Swift.Result<VerifiedDeposit, TokError>
}

/// `applied` of a deposit: `{"outcome":"credited","available":…}` or
/// `{"outcome":"duplicate","first_request":…}`.
struct DepositApplied: AppliedOutcome {
    let outcome: DepositOutcome
    /// What was credited, for the log line.
    let deposit: VerifiedDeposit

    func annotate(_ record: JSON, context: RecordContext) {
        DepositFlow.log(deposit, outcome, context: context)
        let applied = JSON.object()
        switch outcome {
        case .credited(let available):
            applied.set(AppliedKey.outcome, string: "credited")
            applied.set(AppliedKey.available, string: available.description)
            record.set(Field.status, string: RecordStatus.credited.rawValue)
        case .duplicate(let first):
            applied.set(AppliedKey.outcome, string: "duplicate")
            applied.set(AppliedKey.firstRequest, string: first)
            record.set(Field.status, string: RecordStatus.duplicate.rawValue)
        }
        record.set(Field.applied, applied)
    }
}

/// Members of the `applied` object tok-apply writes.
enum AppliedKey {
    static let outcome = "outcome"
    static let available = "available"
    static let firstRequest = "first_request"
    static let state = "state"
    static let deposit = "deposit"
    static let payout = "payout"
}
