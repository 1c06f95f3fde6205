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
    /// Taken around each batch's transaction.
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
        case payout(PayoutOutcome, RecordStatus)
        /// A transfer: its deposit half, and its payout half or why that was refused.
        case transfer(DepositOutcome, Swift.Result<PayoutOutcome, TokError>)
        case balance(ResolvedAccountToken, Balance)
        case status(String, RequestState?)
    }

    public func process(_ batch: [JSON]) async throws -> [JSON] {
        // Record-local work runs on every core, outside the sequential ledger
        // pass: checking a deposit's attestation and reading its facts depend on
        // the record alone, and cost about as much CPU as its database work.
        let deposits = ParallelWork.map(count: batch.count) { self.depositFacts(batch[$0]) }
        var results = [Result](repeating: .passThrough, count: batch.count)
        // The clock is read once per batch: every transition of the batch gets the same time.
        let now = Ledger.nowMilliseconds()
        try writerLock?.acquire()
        defer { writerLock?.release() }
        do {
            try ledger.inBatch {
                for (index, record) in batch.enumerated() {
                    results[index] = apply(record, deposit: deposits[index], now: now)
                }
            }
        } catch .begin(let error) {
            throw StageFailure(.tempFailure, "cannot start a database transaction: \(error)")
        } catch .abandoned(let error) {
            preconditionFailure("the ledger pass never throws: \(error)")
        } catch .commit(let error) {
            // Nothing of this batch is stored; say so on every record it touched.
            logger.error("batch commit failed; the batch is rejected as retryable", metadata: ["error": "\(error)"])
            for index in results.indices {
                if case .passThrough = results[index] { continue }
                results[index] = .rejected(TokError(.databaseError, "the batch's commit failed: \(error)"))
            }
        }
        // Writing each record's outcome into it is record-local as well.
        ParallelWork.forEachChunk(count: batch.count) { range in
            for index in range { self.annotate(batch[index], results[index]) }
        }
        return batch
    }

    /// The deposit a record asks to credit (a deposit, or a transfer's deposit
    /// half), read and checked ahead of the ledger pass; nil for other records.
    /// It needs nothing but the record and the config, so it may run on any thread.
    private func depositFacts(_ record: JSON) -> Swift.Result<VerifiedDeposit, TokError>? {
        guard let opText = record.opText, let op = Op(rawValue: opText) else { return nil }
        switch (op, record.status) {
        case (.deposit, .verified?), (.transfer, .verified?), (.transfer, .signed?):
            do throws(TokError) {
                return .success(try verifiedDeposit(record))
            } catch {
                return .failure(error)
            }
        default:
            return nil
        }
    }

    /// Applies one record in the batch's transaction. `deposit` is what
    /// `depositFacts` found for it; a record it skipped is read here.
    private func apply(_ record: JSON, deposit facts: Swift.Result<VerifiedDeposit, TokError>?, now: Int64) -> Result {
        guard let opText = record.opText, let op = Op(rawValue: opText) else { return .passThrough }
        let status = record.status
        if status == .rejected || record.hasForeignStatus { return .passThrough }
        func verifiedDeposit() throws(TokError) -> VerifiedDeposit {
            if let facts { return try facts.get() }
            return try self.verifiedDeposit(record)
        }
        do throws(TokError) {
            switch (op, status) {
            case (.deposit, .verified?):
                let deposit = try verifiedDeposit()
                let outcome = try ledger.inRecordSavepoint { () throws(TokError) in try ledger.creditDeposit(deposit, nowMilliseconds: now) }
                logDeposit(deposit, outcome)
                return .deposit(deposit, outcome)
            case (.payout, .signed?):
                let payout = try payoutToPrepare(record, op: .payout, now: now)
                let outcome = try ledger.inRecordSavepoint { () throws(TokError) in try ledger.preparePayout(payout, nowMilliseconds: now) }
                return .payout(outcome, .prepared)
            case (.nonceFill, .signed?):
                try attestor.check(record, stage: .verify)
                let fill = try NonceFill.read(record, attestor: attestor, config: resolver.config)
                let payoutTx = try PayoutTx.read(record)
                guard payoutTx.nonce == fill.nonce, payoutTx.sender == fill.sender else {
                    throw TokError(.conflictingRecord, "the filler transaction does not use the released nonce")
                }
                let filler = PayoutToPrepare(
                    requestId: fill.requestId, op: .nonceFill, account: "operator", token: fill.mapping.token,
                    quantity: .zero, fee: .zero, failureFee: .zero, destination: fill.network.chainText + ":" + fill.sender,
                    destinationChain: fill.network.chainText, destinationAsset: fill.mapping.assetText, destinationAmount: .zero,
                    sender: fill.sender, spendGuard: .nonce(fill.nonce, chainNonce: nil), tx: payoutTx.tx, rawTx: payoutTx.rawHex)
                let outcome = try ledger.inRecordSavepoint { () throws(TokError) in try ledger.preparePayout(filler, nowMilliseconds: now) }
                return .payout(outcome, .prepared)
            case (.transfer, .verified?):
                // tok-verify refused the payout half (see payout_error): credit the deposit alone.
                let deposit = try verifiedDeposit()
                let credited = try ledger.inRecordSavepoint { () throws(TokError) in try ledger.creditDeposit(deposit, op: .transfer, nowMilliseconds: now) }
                logDeposit(deposit, credited)
                return .deposit(deposit, credited)
            case (.transfer, .signed?):
                // The deposit half stands on its own: a refused payout half never undoes the credit.
                let deposit = try verifiedDeposit()
                let credited = try ledger.inRecordSavepoint { () throws(TokError) in try ledger.creditDeposit(deposit, op: .transfer, nowMilliseconds: now) }
                logDeposit(deposit, credited)
                do {
                    let payout = try payoutToPrepare(record, op: .transfer, now: now)
                    let prepared = try ledger.inRecordSavepoint { () throws(TokError) in try ledger.preparePayout(payout, nowMilliseconds: now) }
                    return .transfer(credited, .success(prepared))
                } catch {
                    logger.notice("transfer payout refused; the deposit stays credited", metadata: ["id": "\(deposit.requestId)", "code": "\(error.code.rawValue)"])
                    return .transfer(credited, .failure(error))
                }
            case (.payout, .submitted?), (.transfer, .submitted?), (.nonceFill, .submitted?),
                 (.payout, .confirmed?), (.transfer, .confirmed?), (.nonceFill, .confirmed?),
                 (.payout, .failed?), (.transfer, .failed?), (.nonceFill, .failed?):
                return try applySubmission(record, status: status!, now: now)
            case (.balance, nil), (.balance, .validated?):
                let query = try resolver.resolveBalanceQuery(record)
                return .balance(query, try ledger.balance(account: query.account, token: query.token))
            case (.status, nil), (.status, .validated?):
                let id = try RequestResolver.checkRequestId(record)
                return .status(id, try ledger.requestState(id: id))
            default:
                return .passThrough
            }
        } catch {
            return .rejected(error)
        }
    }

    private func logDeposit(_ deposit: VerifiedDeposit, _ outcome: DepositOutcome) {
        switch outcome {
        case .credited:
            // Strings go in as they are: interpolating them would copy each one.
            logger.info("deposit credited", metadata: ["id": .string(deposit.requestId), "account": .string(deposit.account),
                                                       "token": .string(deposit.token), "credited": "\(deposit.credited)"])
        case .duplicate(let first):
            logger.notice("duplicate deposit claim", metadata: ["id": .string(deposit.requestId), "first": .string(first), "tx": .string(deposit.tx)])
        }
    }

    /// tok-submit's findings, attested by it: submitted, confirmed or failed.
    private func applySubmission(_ record: JSON, status: RecordStatus, now: Int64) throws(TokError) -> Result {
        try attestor.check(record, stage: .submit)
        let id = try RequestResolver.checkRequestId(record)
        let payoutTx = try PayoutTx.read(record)
        guard let submission = record[Field.submission], submission.isObject else {
            throw TokError(.missingField, "submission is required")
        }
        let outcome: PayoutOutcome
        switch status {
        case .submitted:
            outcome = try ledger.inRecordSavepoint { () throws(TokError) in try ledger.markSubmitted(requestId: id, tx: payoutTx.tx, nowMilliseconds: now) }
            return .payout(outcome, .inFlight)
        case .confirmed:
            guard let blockHash = submission.string(at: "block_hash"), let blockNumber = submission["block_number"]?.int64Value,
                  let confirmations = submission["confirmations"]?.int64Value else {
                throw TokError(.missingField, "a confirmed submission needs block_hash, block_number and confirmations")
            }
            let confirmation = PayoutConfirmation(blockHash: blockHash, blockNumber: blockNumber, confirmations: confirmations)
            outcome = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.commitPayout(requestId: id, tx: payoutTx.tx, confirmation: confirmation, nowMilliseconds: now)
            }
            if case .applied(let row) = outcome {
                logger.info("payout confirmed", metadata: ["id": "\(id)", "tx": "\(row.tx)", "fee": "\(row.fee)"])
            }
            return .payout(outcome, .paid)
        default:
            let reason = submission.string(at: "reason") ?? "failed on chain"
            let nonceConsumed = submission["nonce_consumed"]?.boolValue ?? true
            outcome = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.rollbackPayout(requestId: id, tx: payoutTx.tx, reason: reason, nonceConsumed: nonceConsumed,
                                          nowMilliseconds: now)
            }
            if case .applied = outcome {
                logger.warning("payout rolled back", metadata: ["id": "\(id)", "tx": "\(payoutTx.tx)", "reason": "\(reason)"])
            }
            return .payout(outcome, .rolledBack)
        }
    }

    /// Reads a signed payout (or transfer) record, attested by tok-verify.
    private func payoutToPrepare(_ record: JSON, op: Op, now: Int64) throws(TokError) -> PayoutToPrepare {
        if op == .payout { try attestor.check(record, stage: .verify) }
        guard let validated = record[Field.validated], validated.isObject else {
            throw TokError(.notVerified, "a signed payout must carry its validated object")
        }
        func text(_ key: String) throws(TokError) -> String {
            guard let value = validated.string(at: key), !value.isEmpty else { throw TokError(.missingField, "validated.\(key) is required") }
            return value
        }
        let payoutTx = try PayoutTx.read(record)
        let expires = validated["expires"]?.int64Value ?? 0
        guard expires > now / 1000 else {
            throw TokError(.expired, "the authorisation expired at \(expires); nothing was locked")
        }
        let destinationChain = try text("destination_network")
        guard payoutTx.chain == destinationChain else {
            throw TokError(.conflictingRecord, "payout_tx is for \(payoutTx.chain), the destination is \(destinationChain)")
        }
        let destinationAsset = try text("destination_asset")
        guard let chain = try? ChainId(parsing: destinationChain), let network = resolver.config.network(chain: chain),
              let mapping = network.assets.first(where: { $0.assetText == destinationAsset }) else {
            throw TokError(.assetNotConfigured, "destination asset \(destinationAsset) is not configured")
        }
        return PayoutToPrepare(
            requestId: try RequestResolver.checkRequestId(record), op: op, account: try text("account"), token: try text("token"),
            quantity: try UInt256(decimal: try text("quantity")), fee: try UInt256(decimal: try text("fee")),
            failureFee: mapping.failureFee, destination: try text("destination"), destinationChain: destinationChain,
            destinationAsset: destinationAsset, destinationAmount: try UInt256(decimal: try text("destination_amount")),
            sender: payoutTx.sender, spendGuard: payoutTx.spendGuard, tx: payoutTx.tx, rawTx: payoutTx.rawHex)
    }

    /// Converts a deposit's chain amount into the token's ledger units (exact by config rule).
    private func ledgerAmount(_ amount: UInt256, chain: String, asset: String, token: String) throws(TokError) -> UInt256 {
        guard let chainId = try? ChainId(parsing: chain), let network = resolver.config.network(chain: chainId),
              let mapping = network.assets.first(where: { $0.assetText == asset }),
              let tokenConfig = resolver.config.token(alias: token) else {
            throw TokError(.assetNotConfigured, "asset \(asset) on \(chain) is no longer configured")
        }
        return try UInt256.convert(amount, fromDecimals: mapping.decimals, toDecimals: tokenConfig.decimals, what: "the deposit")
    }

    /// Records for every payout between prepare and a final state, attested as
    /// tok-apply's own, for reconciliation: `tok-apply --open-payouts | tok-submit | tok-apply`.
    public func openPayoutRecords(limit: Int) throws(TokError) -> [JSON] {
        // Fillers first: the open payouts behind a released nonce cannot be mined without them.
        let fillers = try ledger.nonceGaps(limit: limit).map { gap in
            NonceFill.record(chain: gap.chain, sender: gap.sender, nonce: gap.nonce, attestor: attestor)
        }
        return fillers + (try ledger.openPayouts(limit: limit).map { row in
            let record = JSON.object()
            record.set(Field.op, string: row.op.rawValue)
            record.set(Field.id, string: row.requestId)
            let validated = JSON.object()
            validated.set("account", string: row.account)
            validated.set("token", string: row.token)
            validated.set("quantity", string: row.quantity.description)
            validated.set("fee", string: row.fee.description)
            validated.set("destination", string: row.destination)
            validated.set("destination_network", string: row.destinationChain)
            validated.set("destination_asset", string: row.destinationAsset)
            validated.set("destination_amount", string: row.destinationAmount.description)
            record.set(Field.validated, validated)
            record.set(Field.payoutTx, PayoutTx(row: row).object())
            let applied = JSON.object()
            applied.set("state", string: row.state.rawValue)
            record.set(Field.applied, applied)
            record.set(Field.status, string: RecordStatus.prepared.rawValue)
            attestor.attest(record, stage: .apply)
            return record
        })
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
            // string(at:) reads the member without wrapping it in a JSON object first.
            guard let value = object.string(at: key), !value.isEmpty else {
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
        let chain = try text(validated, "network", "validated")
        let asset = try text(validated, "asset", "validated")
        let token = try text(validated, "token", "validated")
        let tx = try text(validated, "tx", "validated")
        var coins: [Coin] = []
        var receiver: String?
        if let outputs = verified["outputs"] {
            let elements = outputs.arrayElements
            guard outputs.kind == .array, elements.count <= PayoutTx.maxInputs else {
                throw TokError(.badFieldType, "verified.outputs must be a list of at most \(PayoutTx.maxInputs) outputs")
            }
            var total = UInt256.zero
            for (position, element) in elements.enumerated() {
                let coin = try Coin.read(element, tx: tx, path: "verified.outputs[\(position)]")
                coins.append(coin)
                total = total.adding(UInt256(coin.value)) ?? .max
            }
            guard total == amount else {
                throw TokError(.notVerified, "verified.outputs add up to \(total), the verified amount is \(amount)")
            }
            guard let chainId = try? ChainId(parsing: chain), let network = resolver.config.network(chain: chainId) else {
                throw TokError(.unknownNetwork, "network \(chain) is not configured")
            }
            receiver = network.receiver
        }
        return VerifiedDeposit(
            requestId: try RequestResolver.checkRequestId(record),
            chain: chain,
            tx: tx,
            account: try text(validated, "account", "validated"),
            token: token,
            asset: asset,
            amount: amount,
            credited: try ledgerAmount(amount, chain: chain, asset: asset, token: token),
            blockHash: try text(verified, "block_hash", "verified"),
            blockNumber: try integer(verified, "block_number", "verified"),
            confirmations: confirmations,
            coins: coins,
            receiver: receiver)
    }

    /// A payout record after tok-apply: the recorded transaction (a replay gets
    /// the stored one, never a newly signed one), the payout's state, and
    /// tok-apply's attestation so tok-submit can trust it.
    private func annotatePayout(_ record: JSON, _ outcome: PayoutOutcome, _ status: RecordStatus) {
        let row: PayoutRow
        let applied = record[Field.applied].flatMap { $0.isObject ? $0 : nil } ?? JSON.object()
        switch outcome {
        case .applied(let stored):
            row = stored
            applied.set("outcome", string: "applied")
        case .alreadyDone(let stored):
            row = stored
            applied.set("outcome", string: "already_done")
        }
        applied.set("state", string: row.state.rawValue)
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
            attestor.attest(record, stage: .apply)
        } else {
            record.remove(Field.attestation)
        }
    }

    private func annotate(_ record: JSON, _ result: Result) {
        switch result {
        case .passThrough:
            return
        case .rejected(let error):
            // A signed transaction that was not recorded must not travel further: only
            // transactions tok-apply recorded are ever broadcast.
            if record.status == .signed { record.remove(Field.payoutTx) }
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
        case .payout(let outcome, let status):
            annotatePayout(record, outcome, status)
        case .transfer(let credited, let payout):
            let applied = JSON.object()
            switch credited {
            case .credited(let available):
                applied.set("deposit", string: "credited")
                applied.set("available", string: available.description)
            case .duplicate(let first):
                applied.set("deposit", string: "duplicate")
                applied.set("first_request", string: first)
            }
            switch payout {
            case .success(let outcome):
                record.set(Field.applied, applied)
                annotatePayout(record, outcome, .prepared)
            case .failure(let error):
                // Plainly: the deposit is credited, the payout was refused.
                applied.set("payout", string: "refused")
                record.set(Field.applied, applied)
                record.remove(Field.payoutTx)
                let errorObject = JSON.object()
                errorObject.set("stage", string: StageName.apply.rawValue)
                errorObject.set("code", string: error.code.rawValue)
                errorObject.set("message", string: "the deposit is credited; the payout was refused: \(error.message)")
                errorObject.set("retryable", bool: error.retryable)
                record.set("payout_error", errorObject)
                if case .duplicate = credited {
                    record.set(Field.status, string: RecordStatus.duplicate.rawValue)
                } else {
                    record.set(Field.status, string: RecordStatus.credited.rawValue)
                }
                record.remove(Field.attestation)
            }
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
                answer.set("op", string: state.op.rawValue)
                answer.set("state", string: state.state.rawValue)
                if let chain = state.chain { answer.set("chain", string: chain) }
                if let tx = state.tx { answer.set("tx", string: tx) }
                if let amount = state.amount { answer.set("amount", string: amount) }
                if let account = state.account { answer.set("account", string: account) }
                if let token = state.token { answer.set("token", string: token) }
                if let confirmations = state.confirmations { answer.set("confirmations", integer: confirmations) }
                if let payout = state.payout {
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
                    answer.set("payout", object)
                }
            } else {
                answer.set("state", string: "unknown")
            }
            record.set("request", answer)
            record.set(Field.status, string: RecordStatus.answered.rawValue)
        }
    }
}
