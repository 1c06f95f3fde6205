/// `op: nonce_fill`: a zero-value transaction from the operator to itself at
/// a nonce the ledger released, so later payouts are not stuck behind the gap.
/// Only tok-apply creates them (`open-payouts`, attested), tok-verify signs,
/// and from there they travel like payouts.
public struct NonceFillFlow: Flow {
    public init() {}
    public var op: Op { .nonceFill }

    public func stages(at status: RecordStatus?) -> FlowStages {
        switch status {
        case nil: return .validate  // which refuses it: clients never send fillers
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
        throw TokError(.unknownOp, "nonce_fill records are made by tok-apply --open-payouts, not by clients")
    }

    public func verify(_ record: JSON, index: Int, batch: VerifyBatch) throws(TokError) {
        let fill = try NonceFill.read(record, attestor: batch.attestor, config: batch.resolver.config)
        batch.signNonceFill(fill, index: index, flow: self)
    }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        guard record.status == .signed else { return try PayoutFlow.applySubmission(record, context: context) }
        try context.attestor.check(record, stage: .verify)
        let fill = try NonceFill.read(record, attestor: context.attestor, config: context.config)
        let payoutTx = try PayoutTx.read(record)
        guard payoutTx.nonce == fill.nonce, payoutTx.sender == fill.sender else {
            throw TokError(.conflictingRecord, "the filler transaction does not use the released nonce")
        }
        // A filler moves nothing and belongs to no user: prepare touches no balance.
        let filler = PayoutToPrepare(
            requestId: fill.requestId, op: .nonceFill, account: "operator", token: fill.mapping.token,
            quantity: .zero, fee: .zero, failureFee: .zero, destination: fill.network.chainText + ":" + fill.sender,
            destinationChain: fill.network.chainText, destinationAsset: fill.mapping.assetText,
            destinationAmount: .zero,
            sender: fill.sender, spendGuard: .nonce(fill.nonce, chainNonce: nil), tx: payoutTx.tx,
            rawTx: payoutTx.rawHex)
        return PayoutApplied(outcome: try PayoutFlow.prepare(filler, context: context), status: .prepared)
    }
}
