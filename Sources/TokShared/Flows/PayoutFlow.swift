/// `op: payout`: "pay quantity of my balance to destination", signed by the
/// source account. validate → verify (authorisation checked, destination
/// transaction signed) → apply (prepare: quantity + fee locked, transaction
/// recorded) → submit (broadcast, followed) → apply (commit or rollback).
public struct PayoutFlow: Flow {
    public init() {}
    public var op: Op { .payout }

    public func stages(at status: RecordStatus?) -> FlowStages {
        switch status {
        case nil: return .validate
        case .validated?: return .verify
        case .signed?: return .apply
        case .prepared?: return .submit
        case .submitted?, .confirmed?, .failed?: return .apply
        case .pending?, .verified?, .credited?, .duplicate?, .answered?, .rejected?, .inFlight?, .paid?, .rolledBack?,
            .observed?, .disconnected?, .connected?,
            .undone?:
            return .none
        }
    }

    public func validate(
        _ record: JSON, context: ValidateContext,
        requestLog: UnsafeMutablePointer<[UInt8]>?
    ) throws(TokError) -> Bool {
        let payout = try context.resolver.resolvePayout(record, nowUnixSeconds: context.nowUnixSeconds)
        record.set(Field.validated, ValidatedPayout(payout).write())
        record.set(Field.status, string: RecordStatus.validated.rawValue)
        requestLog?.pointee.append(
            contentsOf:
                "payout id=\(payout.requestId) account=\(payout.account) token=\(payout.token) quantity=\(payout.quantity) fee=\(payout.fee) destination=\(payout.destinationAccount)"
                .utf8)
        return true
    }

    public func verify(_ record: JSON, index: Int, batch: VerifyBatch) throws(TokError) {
        let payout = try batch.resolver.resolvePayout(record, nowUnixSeconds: batch.nowUnixSeconds)
        try batch.checkAuthorisation(payout)
        batch.signPayout(payout, index: index, flow: self)
    }

    public func payoutSigned(_ record: JSON, payout: ResolvedPayout, payoutTx: PayoutTx, batch: VerifyBatch) {
        record.set(Field.validated, ValidatedPayout(payout).write())
        PayoutFlow.markSigned(record, payoutTx, attestor: batch.attestor)
    }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        if record.status == .signed {
            try context.attestor.check(record, stage: .verify)
            let payout = try PayoutFlow.payoutToPrepare(record, op: .payout, context: context)
            return PayoutApplied(outcome: try PayoutFlow.prepare(payout, context: context), status: .prepared)
        }
        return try PayoutFlow.applySubmission(record, context: context)
    }

    // MARK: Shared with transfers and nonce fillers

    /// The signed destination transaction goes into the record, attested.
    static func markSigned(_ record: JSON, _ payoutTx: PayoutTx, attestor: Attestor) {
        record.remove(Field.error)
        record.remove(Field.attestation)
        record.set(Field.payoutTx, payoutTx.object())
        record.set(Field.status, string: RecordStatus.signed.rawValue)
        attestor.attest(record, stage: .verify)
    }

    static func prepare(_ payout: PayoutToPrepare, context: ApplyContext) throws(TokError) -> PayoutOutcome {
        try context.ledger.inRecordSavepoint { () throws(TokError) in
            try context.ledger.preparePayout(payout, nowMilliseconds: context.nowMilliseconds)
        }
    }

    /// Reads a signed payout (or transfer) record, whose attestation the caller checked.
    static func payoutToPrepare(_ record: JSON, op: Op, context: ApplyContext) throws(TokError) -> PayoutToPrepare {
        let validated = try ValidatedPayout.read(
            try FieldReader.section(record, Field.validated, missing: .notVerified))
        let payoutTx = try PayoutTx.read(record)
        guard (validated.expiresUnixSeconds ?? 0) > context.nowMilliseconds / 1000 else {
            throw TokError(
                .expired, "the authorisation expired at \(validated.expiresUnixSeconds ?? 0); nothing was locked")
        }
        guard payoutTx.chain == validated.destinationNetwork else {
            throw TokError(
                .conflictingRecord,
                "payout_tx is for \(payoutTx.chain), the destination is \(validated.destinationNetwork)")
        }
        guard let chain = try? ChainId(parsing: validated.destinationNetwork),
            let network = context.config.network(chain: chain),
            let mapping = network.assets.first(where: { $0.assetText == validated.destinationAsset })
        else {
            throw TokError(.assetNotConfigured, "destination asset \(validated.destinationAsset) is not configured")
        }
        return PayoutToPrepare(
            requestId: try RequestResolver.checkRequestId(record), op: op, account: validated.account,
            token: validated.token,
            quantity: validated.quantity, fee: validated.fee, failureFee: mapping.failureFee,
            destination: validated.destination,
            destinationChain: validated.destinationNetwork, destinationAsset: validated.destinationAsset,
            destinationAmount: validated.destinationAmount, sender: payoutTx.sender, spendGuard: payoutTx.spendGuard,
            tx: payoutTx.tx, rawTx: payoutTx.rawHex)
    }

    /// tok-submit's findings, attested by it: submitted, confirmed or failed.
    static func applySubmission(_ record: JSON, context: ApplyContext) throws(TokError) -> any AppliedOutcome {
        guard let status = record.status else { throw TokError(.internalError, "a submission record has a status") }
        try context.attestor.check(record, stage: .submit)
        let id = try RequestResolver.checkRequestId(record)
        let payoutTx = try PayoutTx.read(record)
        let submission = try Submission.read(record, status: status)
        let ledger = context.ledger, now = context.nowMilliseconds
        switch submission.outcome {
        case .submitted:
            let outcome = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.markSubmitted(requestId: id, tx: payoutTx.tx, nowMilliseconds: now)
            }
            return PayoutApplied(outcome: outcome, status: .inFlight)
        case .confirmed(let blockHash, let blockNumber, let confirmations, _):
            let confirmation = PayoutConfirmation(
                blockHash: blockHash, blockNumber: blockNumber, confirmations: confirmations)
            let outcome = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.commitPayout(
                    requestId: id, tx: payoutTx.tx, confirmation: confirmation, nowMilliseconds: now)
            }
            var logLine: CommittedLogLine?
            if case .applied(let row) = outcome {
                logLine = CommittedLogLine(
                    level: .info, message: "payout confirmed",
                    metadata: ["id": "\(id)", "tx": "\(row.tx)", "fee": "\(row.fee)"])
            }
            return PayoutApplied(outcome: outcome, status: .paid, logLine: logLine)
        case .failed(let reason, let nonceConsumed):
            let outcome = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.rollbackPayout(
                    requestId: id, tx: payoutTx.tx, reason: reason, nonceConsumed: nonceConsumed,
                    nowMilliseconds: now)
            }
            var logLine: CommittedLogLine?
            if case .applied = outcome {
                logLine = CommittedLogLine(
                    level: .warning, message: "payout rolled back",
                    metadata: ["id": "\(id)", "tx": "\(payoutTx.tx)", "reason": "\(reason)"])
            }
            return PayoutApplied(outcome: outcome, status: .rolledBack, logLine: logLine)
        }
    }

    /// A record for a payout between prepare and a final state, attested as
    /// tok-apply's own, for reconciliation: `tok-apply open-payouts | tok-submit | tok-apply`.
    static func reconciliationRecord(_ row: PayoutRow, attestor: Attestor) -> JSON {
        let record = JSON.object()
        record.set(Field.op, string: row.op.rawValue)
        record.set(Field.id, string: row.requestId)
        record.set(Field.validated, ValidatedPayout(row: row).write())
        record.set(Field.payoutTx, PayoutTx(row: row).object())
        let applied = JSON.object()
        applied.set(AppliedKey.state, string: row.state.rawValue)
        record.set(Field.applied, applied)
        record.set(Field.status, string: RecordStatus.prepared.rawValue)
        attestor.attest(record, stage: .apply)
        return record
    }
}

/// A payout record after tok-apply: the recorded transaction (a replay gets
/// the stored one, never a newly signed one), the payout's state, and
/// tok-apply's attestation so tok-submit can trust it.
struct PayoutApplied: AppliedOutcome {
    let outcome: PayoutOutcome
    /// What this step asked for (prepared, in flight, paid, rolled back).
    let status: RecordStatus
    var logLine: CommittedLogLine? = nil

    func annotate(_ record: JSON, context: RecordContext) {
        logLine?.write(to: context.logger)
        let row: PayoutRow
        let applied = record[Field.applied].flatMap { $0.isObject ? $0 : nil } ?? JSON.object()
        switch outcome {
        case .applied(let stored):
            row = stored
            applied.set(AppliedKey.outcome, string: "applied")
        case .alreadyDone(let stored):
            row = stored
            applied.set(AppliedKey.outcome, string: "already_done")
        }
        applied.set(AppliedKey.state, string: row.state.rawValue)
        record.set(Field.applied, applied)
        record.set(Field.payoutTx, PayoutTx(row: row).object())
        // The status says what the ledger holds now, whatever step this record asked for.
        let finalStatus: RecordStatus
        switch row.state {
        case .confirmed: finalStatus = .paid
        case .failed: finalStatus = .rolledBack
        case .submitted: finalStatus = status == .prepared ? .prepared : .inFlight
        case .prepared: finalStatus = status
        }
        record.set(Field.status, string: finalStatus.rawValue)
        if finalStatus == .prepared {
            context.attestor.attest(record, stage: .apply)
        } else {
            record.remove(Field.attestation)
        }
    }
}
