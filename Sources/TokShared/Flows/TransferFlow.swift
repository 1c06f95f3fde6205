/// `op: transfer`: a deposit and a payout of the deposited token in one
/// request. The deposit half stands on its own: a payout half refused (bad
/// signature, expired while the deposit was pending, insufficient funds) never
/// undoes the credit; the record then carries `payout_error`.
public struct TransferFlow: Flow {
    public init() {}
    public var op: Op { .transfer }

    public func stages(at status: RecordStatus?) -> FlowStages {
        switch status {
        case nil: return .validate
        case .validated?, .pending?: return .verify
        // verified: the payout half was refused at tok-verify; the deposit is still credited.
        case .verified?, .signed?: return .apply
        case .prepared?: return .submit
        case .submitted?, .confirmed?, .failed?: return .apply
        case .credited?, .duplicate?, .answered?, .rejected?, .inFlight?, .paid?, .rolledBack?, .observed?,
            .disconnected?, .connected?,
            .undone?:
            return .none
        }
    }

    public func validate(
        _ record: JSON, context: ValidateContext,
        requestLog: UnsafeMutablePointer<[UInt8]>?
    ) throws(TokError) -> Bool {
        let transfer = try context.resolver.resolveTransfer(record, nowUnixSeconds: context.nowUnixSeconds)
        record.set(Field.validated, TransferFlow.validatedObject(transfer))
        record.set(Field.status, string: RecordStatus.validated.rawValue)
        requestLog?.pointee.append(
            contentsOf:
                "transfer id=\(transfer.payout.requestId) account=\(transfer.payout.account) token=\(transfer.payout.token) tx=\(transfer.deposit.tx) quantity=\(transfer.payout.quantity) destination=\(transfer.payout.destinationAccount)"
                .utf8)
        return true
    }

    /// The payout half is resolved and its authorisation checked once the
    /// deposit is proven (`depositProven`): a bad signature or an expiry
    /// reached while the deposit was pending refuses the payout half only.
    public func verify(_ record: JSON, index: Int, batch: VerifyBatch) throws(TokError) {
        batch.proveDeposit(try batch.resolver.resolveDeposit(record), index: index, flow: self)
    }

    public func depositProven(
        _ record: JSON, index: Int, deposit: ResolvedDeposit, credited: UInt256, batch: VerifyBatch
    ) {
        // The payout half is signed next, counting on the deposit it will be paid from.
        record.set(Field.status, string: RecordStatus.verified.rawValue)
        let transfer: ResolvedTransfer
        do throws(TokError) {
            transfer = try batch.resolver.resolveTransfer(record, nowUnixSeconds: batch.nowUnixSeconds)
            try batch.checkAuthorisation(transfer.payout)
        } catch {
            payoutRefused(record, error, batch: batch)
            return
        }
        record.set(Field.validated, TransferFlow.validatedObject(transfer))
        batch.noteCredit(deposit, credited)
        batch.signPayout(transfer.payout, index: index, flow: self)
    }

    public func payoutSigned(_ record: JSON, payout: ResolvedPayout, payoutTx: PayoutTx, batch: VerifyBatch) {
        PayoutFlow.markSigned(record, payoutTx, attestor: batch.attestor)
    }

    /// A proven deposit goes on as verified (attested) with `payout_error`, so it is still credited.
    public func payoutRefused(_ record: JSON, _ error: TokError, batch: VerifyBatch) {
        record.remove(Field.payoutTx)
        record.remove(Field.attestation)
        guard record[Field.verified]?.string(at: DepositVerification.Key.amount) != nil else {
            record.reject(stage: .verify, error)
            batch.logger.notice(
                "payout not signed",
                metadata: [
                    "id": "\(record.string(at: Field.id) ?? "?")",
                    "code": "\(error.code.rawValue)",
                ])
            return
        }
        let refusal = TokError(error.code, "the deposit will be credited; the payout was refused: \(error.message)")
        record.set(TransferFlow.payoutErrorKey, RejectionError(stage: .verify, error: refusal).object())
        record.set(Field.status, string: RecordStatus.verified.rawValue)
        batch.attestor.attest(record, stage: .verify)
        batch.logger.notice(
            "transfer payout refused; deposit verified",
            metadata: [
                "id": "\(record.string(at: Field.id) ?? "?")", "code": "\(error.code.rawValue)",
            ])
    }

    public func precheck(_ record: JSON, context: RecordContext) -> (any ApplyPrecheck)? {
        switch record.status {
        case .verified?, .signed?: return DepositPrecheck(facts: DepositFlow.attestedDeposit(record, context: context))
        default: return nil
        }
    }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        switch record.status {
        case .verified?:
            // tok-verify refused the payout half (see payout_error): credit the deposit alone.
            let (deposit, credited) = try creditDepositHalf(record, precheck: precheck, context: context)
            return DepositApplied(outcome: credited, deposit: deposit)
        case .signed?:
            let (deposit, credited) = try creditDepositHalf(record, precheck: precheck, context: context)
            do throws(TokError) {
                let payout = try PayoutFlow.payoutToPrepare(record, op: .transfer, context: context)
                return TransferApplied(
                    credited: credited, deposit: deposit,
                    payout: .success(try PayoutFlow.prepare(payout, context: context)))
            } catch {
                return TransferApplied(credited: credited, deposit: deposit, payout: .failure(error))
            }
        default:
            return try PayoutFlow.applySubmission(record, context: context)
        }
    }

    private func creditDepositHalf(
        _ record: JSON, precheck: (any ApplyPrecheck)?,
        context: ApplyContext
    ) throws(TokError) -> (VerifiedDeposit, DepositOutcome) {
        let deposit = try DepositFlow.deposit(record, precheck: precheck, context: context)
        let credited = try context.ledger.inRecordSavepoint { () throws(TokError) in
            try context.ledger.creditDeposit(deposit, op: .transfer, nowMilliseconds: context.nowMilliseconds)
        }
        return (deposit, credited)
    }

    static let payoutErrorKey = "payout_error"

    /// A transfer's `validated` holds its deposit's members and its payout's.
    static func validatedObject(_ transfer: ResolvedTransfer) -> JSON {
        ValidatedPayout(transfer.payout).write(into: ValidatedDeposit(transfer.deposit).write())
    }
}

/// `applied` of a transfer: its deposit half, and its payout half or why that was refused.
struct TransferApplied: AppliedOutcome {
    let credited: DepositOutcome
    /// The deposit half, for its log lines.
    let deposit: VerifiedDeposit
    let payout: Swift.Result<PayoutOutcome, TokError>

    func annotate(_ record: JSON, context: RecordContext) {
        DepositFlow.log(deposit, credited, context: context)
        let applied = JSON.object()
        switch credited {
        case .credited(let available):
            applied.set(AppliedKey.deposit, string: "credited")
            applied.set(AppliedKey.available, string: available.description)
        case .duplicate(let first):
            applied.set(AppliedKey.deposit, string: "duplicate")
            applied.set(AppliedKey.firstRequest, string: first)
        }
        switch payout {
        case .success(let outcome):
            record.set(Field.applied, applied)
            PayoutApplied(outcome: outcome, status: .prepared).annotate(record, context: context)
        case .failure(let error):
            context.logger.notice(
                "transfer payout refused; the deposit stays credited",
                metadata: ["id": "\(deposit.requestId)", "code": "\(error.code.rawValue)"])
            // Plainly: the deposit is credited, the payout was refused.
            applied.set(AppliedKey.payout, string: "refused")
            record.set(Field.applied, applied)
            record.remove(Field.payoutTx)
            let refusal = TokError(error.code, "the deposit is credited; the payout was refused: \(error.message)")
            record.set(TransferFlow.payoutErrorKey, RejectionError(stage: .apply, error: refusal).object())
            if case .duplicate = credited {
                record.set(Field.status, string: RecordStatus.duplicate.rawValue)
            } else {
                record.set(Field.status, string: RecordStatus.credited.rawValue)
            }
            record.remove(Field.attestation)
        }
    }
}
