/// The queries tok-apply answers from the ledger: `op: balance` and
/// `op: status`. Validated by tok-validate when it sees them, answered by
/// tok-apply whether validated or not (a query changes nothing).

/// `{"op":"balance","id":…,"source":{account, network, token}}` →
/// `"balance":{"account","token","available","locked"}`.
public struct BalanceQueryFlow: Flow {
    public init() {}
    public var op: Op { .balance }

    public func stages(at status: RecordStatus?) -> FlowStages {
        switch status {
        case nil: return [.validate, .apply]
        case .validated?: return .apply
        case .pending?, .verified?, .credited?, .duplicate?, .answered?, .rejected?, .signed?, .prepared?, .submitted?,
            .confirmed?, .failed?, .inFlight?, .paid?, .rolledBack?, .observed?, .disconnected?, .connected?,
            .undone?:
            return .none
        }
    }

    public func validate(
        _ record: JSON, context: ValidateContext,
        requestLog: UnsafeMutablePointer<[UInt8]>?
    ) throws(TokError) -> Bool {
        let query = try context.resolver.resolveBalanceQuery(record)
        let validated = JSON.object()
        validated.set(Key.account, string: query.account)
        validated.set(Key.token, string: query.token)
        record.set(Field.validated, validated)
        record.set(Field.status, string: RecordStatus.validated.rawValue)
        requestLog?.pointee.append(
            contentsOf:
                "balance query id=\(record.string(at: Field.id) ?? "") account=\(query.account) token=\(query.token)"
                .utf8)
        return true
    }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        let query = try context.resolver.resolveBalanceQuery(record)
        return Answer(query: query, balance: try context.ledger.balance(account: query.account, token: query.token))
    }

    enum Key {
        static let balance = "balance"
        static let account = "account"
        static let token = "token"
        static let available = "available"
        static let locked = "locked"
    }

    struct Answer: AppliedOutcome {
        let query: ResolvedAccountToken
        let balance: Balance

        func annotate(_ record: JSON, context: RecordContext) {
            let answer = JSON.object()
            answer.set(Key.account, string: query.account)
            answer.set(Key.token, string: query.token)
            answer.set(Key.available, string: balance.available.description)
            answer.set(Key.locked, string: balance.locked.description)
            record.set(Key.balance, answer)
            record.set(Field.status, string: RecordStatus.answered.rawValue)
        }
    }
}

/// `{"op":"status","id":…}` → `"request":{"id","op","state",…}` (state
/// `unknown` for an id the ledger never saw).
public struct StatusQueryFlow: Flow {
    public init() {}
    public var op: Op { .status }

    public func stages(at status: RecordStatus?) -> FlowStages {
        switch status {
        case nil: return [.validate, .apply]
        case .validated?: return .apply
        case .pending?, .verified?, .credited?, .duplicate?, .answered?, .rejected?, .signed?, .prepared?, .submitted?,
            .confirmed?, .failed?, .inFlight?, .paid?, .rolledBack?, .observed?, .disconnected?, .connected?,
            .undone?:
            return .none
        }
    }

    public func validate(
        _ record: JSON, context: ValidateContext,
        requestLog: UnsafeMutablePointer<[UInt8]>?
    ) throws(TokError) -> Bool {
        let id = try RequestResolver.checkRequestId(record)
        record.set(Field.status, string: RecordStatus.validated.rawValue)
        requestLog?.pointee.append(contentsOf: "status query id=\(id)".utf8)
        return true
    }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        let id = try RequestResolver.checkRequestId(record)
        return Answer(id: id, state: try context.ledger.requestState(id: id))
    }

    struct Answer: AppliedOutcome {
        let id: String
        let state: RequestState?

        func annotate(_ record: JSON, context: RecordContext) {
            let answer = JSON.object()
            answer.set("id", string: id)
            if let state {
                answer.set("op", string: state.op.rawValue)
                answer.set("state", string: state.state.rawValue)
                if let chain = state.chain { answer.set("chain", string: chain) }
                if let tx = state.tx { answer.set("tx", string: tx) }
                if let amount = state.amount { answer.set("amount", string: amount) }
                if let account = state.account { answer.set("account", string: account) }
                if let token = state.token { answer.set("token", string: token) }
                if let confirmations = state.confirmations { answer.set("confirmations", integer: confirmations) }
                if let payout = state.payout { answer.set("payout", payoutObject(payout)) }
            } else {
                answer.set("state", string: "unknown")
            }
            record.set("request", answer)
            record.set(Field.status, string: RecordStatus.answered.rawValue)
        }

        private func payoutObject(_ payout: PayoutRow) -> JSON {
            let object = JSON.object()
            object.set("state", string: payout.state.rawValue)
            object.set("destination", string: payout.destination)
            object.set("quantity", string: payout.quantity.description)
            object.set("fee", string: payout.fee.description)
            object.set("destination_tx", string: payout.tx)
            if let charged = payout.chargedFee { object.set("charged_fee", string: charged.description) }
            if let confirmations = payout.confirmations { object.set("confirmations", integer: confirmations) }
            if let blockHash = payout.blockHash { object.set("block_hash", string: blockHash) }
            if let failure = payout.failure { object.set("failure", string: failure) }
            return object
        }
    }
}
