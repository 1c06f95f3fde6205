/// A payout as tok-apply prepares it: everything the atomic prepare records.
public struct PayoutToPrepare: Sendable, Equatable {
    public var requestId: String
    /// `.payout`, `.transfer` for a transfer's payout half, or `.nonceFill`.
    public var op: Op
    /// CAIP-10 of the balance holder.
    public var account: String
    public var token: String
    /// Ledger units.
    public var quantity: UInt256
    public var fee: UInt256
    public var failureFee: UInt256
    /// CAIP-10 of the recipient.
    public var destination: String
    public var destinationChain: String
    public var destinationAsset: String
    /// Destination base units.
    public var destinationAmount: UInt256
    public var sender: String
    public var spendGuard: SpendGuard
    public var tx: String
    public var rawTx: String

    public init(requestId: String, op: Op, account: String, token: String, quantity: UInt256, fee: UInt256,
                failureFee: UInt256, destination: String, destinationChain: String, destinationAsset: String,
                destinationAmount: UInt256, sender: String, spendGuard: SpendGuard, tx: String, rawTx: String) {
        self.requestId = requestId
        self.op = op
        self.account = account
        self.token = token
        self.quantity = quantity
        self.fee = fee
        self.failureFee = failureFee
        self.destination = destination
        self.destinationChain = destinationChain
        self.destinationAsset = destinationAsset
        self.destinationAmount = destinationAmount
        self.sender = sender
        self.spendGuard = spendGuard
        self.tx = tx
        self.rawTx = rawTx
    }

    /// Quantity plus fee, what prepare locks. Nil when it overflows (prepare refuses it).
    public var debit: UInt256? { quantity.adding(fee) }
}

/// A payout as stored.
public struct PayoutRow: Sendable, Equatable {
    public var requestId: String
    public var op: Op
    public var account: String
    public var token: String
    public var quantity: UInt256
    public var fee: UInt256
    public var failureFee: UInt256
    public var destination: String
    public var destinationChain: String
    public var destinationAsset: String
    public var destinationAmount: UInt256
    public var sender: String
    /// The nonce it uses, or the coins it holds (reserved, or spent once confirmed) and its change.
    public var spendGuard: SpendGuard
    public var tx: String
    public var rawTx: String
    public var state: PayoutState
    public var chargedFee: UInt256?
    public var blockHash: String?
    public var blockNumber: Int64?
    public var confirmations: Int64?
    public var failure: String?

    public var nonce: UInt64? { spendGuard.nonce }
    public var inputs: [Coin] { spendGuard.inputs }
    public var change: Coin? { spendGuard.change }
    /// Stored rows were checked at prepare: quantity + fee fits.
    public var debit: UInt256 { quantity.adding(fee) ?? .max }
    public var isOpen: Bool { state == .prepared || state == .submitted }
}

/// The payout state machine: prepared → submitted → confirmed | failed, and
/// prepared → confirmed | failed directly (a restart may skip "submitted").
public enum PayoutState: String, Sendable {
    case prepared, submitted, confirmed, failed
}

public enum PayoutOutcome: Sendable, Equatable {
    /// The step was applied now.
    case applied(PayoutRow)
    /// Nothing to do: the payout already is in (or past) that state.
    case alreadyDone(PayoutRow)
}

/// What the chain showed when a payout was confirmed.
public struct PayoutConfirmation: Sendable, Equatable {
    public var blockHash: String
    public var blockNumber: Int64
    public var confirmations: Int64
    public init(blockHash: String, blockNumber: Int64, confirmations: Int64) {
        self.blockHash = blockHash
        self.blockNumber = blockNumber
        self.confirmations = confirmations
    }
}

extension Ledger {
    // MARK: Prepare

    /// Atomic prepare: records the payout with its destination transaction and
    /// moves quantity + fee from available to locked. Checks, in order: a replay
    /// of a recorded payout (`already_done`), the request id, an open shortfall
    /// of the account, the nonce or coins, the available balance, the
    /// transaction id.
    public func preparePayout(_ payout: PayoutToPrepare, nowMilliseconds now: Int64) throws(TokError) -> PayoutOutcome {
        try guarded {
            // A replayed request keeps the transaction it was prepared with; a
            // transaction signed again for it is dropped here and never broadcast.
            if let existing = try payoutRow(payout.requestId) { return .alreadyDone(existing) }
            if let other = try requestRow(payout.requestId), !(other.op == .transfer && payout.op == .transfer) {
                throw TokError(.conflictingRecord, "request id \(payout.requestId) is already used by a \(other.op.rawValue)")
            }
            if payout.op != .nonceFill, try hasOpenShortfall(account: payout.account) {
                throw TokError(.accountInShortfall,
                               "\(payout.account) has a credited deposit that a reorganisation took off the chain; its payouts wait until that is resolved (tok-apply check lists it)")
            }
            let nonceClaim = try payout.spendGuard.nonce.map { nonce in
                try checkNonce(chain: payout.destinationChain, sender: payout.sender, nonce: nonce,
                               chainNonce: payout.spendGuard.chainNonce)
            }
            try checkCoins(payout)
            guard let debit = payout.debit else { throw TokError(.balanceOverflow, "quantity plus fee overflows") }
            let before = try readBalance(account: payout.account, token: payout.token)
            // A nonce filler moves nothing and belongs to no user: no balance to touch.
            var after = before
            if !debit.isZero {
                guard let available = before.available.subtracting(debit) else {
                    throw TokError(.insufficientBalance,
                                   "\(payout.account) has \(before.available) \(payout.token) available; the payout needs \(debit) (quantity \(payout.quantity) + fee \(payout.fee))")
                }
                guard let locked = before.locked.adding(debit) else { throw TokError(.balanceOverflow, "locking \(debit) overflows") }
                after = Balance(available: available, locked: locked)
            }
            // Last: two payouts signed over the same coins to the same output are
            // the same transaction, and the coin conflict above (retryable) is
            // what they should hear first.
            if try payoutRequest(chain: payout.destinationChain, tx: payout.tx) != nil {
                throw TokError(.conflictingRecord, "destination transaction \(payout.tx) is already recorded for another payout")
            }

            // Writes: every check passed.
            if let nonceClaim { try writeNonceClaim(nonceClaim) }
            try reserveCoins(payout)
            if after != before { try writeBalance(account: payout.account, token: payout.token, after) }
            try insertPrepared(payout, now: now)
            try recordPreparedRequest(payout, now: now)
            appendAudit(kind: "payout_prepared", requestId: payout.requestId, body: preparedAuditBody(payout, after), now: now)

            // Postconditions: funds moved from available to locked, none created or lost.
            precondition(before.available.adding(before.locked) == after.available.adding(after.locked),
                         "prepare leaves available + locked unchanged")
            precondition(after.locked.subtracting(before.locked) == debit, "prepare locks exactly quantity + fee")
            guard let row = try payoutRow(payout.requestId) else { preconditionFailure("the prepared payout is recorded") }
            precondition(row.state == .prepared && row.tx == payout.tx, "the payout is recorded as prepared with its transaction")
            return .applied(row)
        }
    }

    private func insertPrepared(_ payout: PayoutToPrepare, now: Int64) throws(StoreError) {
        let insert = try database.statement("""
            INSERT INTO payouts (request_id, op, account, token, quantity, fee, destination, dest_chain, dest_asset,
                                 dest_amount, sender, nonce, tx, raw_tx, state, failure_fee, prepared_at_ms, updated_at_ms,
                                 change_vout, change_value)
            VALUES (:request_id, :op, :account, :token, :quantity, :fee, :destination, :dest_chain, :dest_asset,
                    :dest_amount, :sender, :nonce, :tx, :raw_tx, 'prepared', :failure_fee, :now, :now,
                    :change_vout, :change_value)
            """)
        try insert.bind("request_id", payout.requestId).bind("op", payout.op.rawValue).bind("account", payout.account)
            .bind("token", payout.token).bind("quantity", payout.quantity.description).bind("fee", payout.fee.description)
            .bind("destination", payout.destination).bind("dest_chain", payout.destinationChain)
            .bind("dest_asset", payout.destinationAsset).bind("dest_amount", payout.destinationAmount.description)
            .bind("sender", payout.sender).bind("nonce", payout.spendGuard.nonce.map { Int64($0) })
            .bind("tx", payout.tx).bind("raw_tx", payout.rawTx).bind("failure_fee", payout.failureFee.description)
            .bind("now", now).bind("change_vout", payout.spendGuard.change.map { Int64($0.index) })
            .bind("change_value", payout.spendGuard.change.map { Int64($0.value) })
        try insert.run()
    }

    private func recordPreparedRequest(_ payout: PayoutToPrepare, now: Int64) throws(StoreError) {
        if payout.op == .transfer, try requestRow(payout.requestId) != nil {
            // The transfer's deposit half registered the request a moment ago.
            try updateRequestState(id: payout.requestId, state: .prepared, now: now)
        } else {
            try insertRequest(id: payout.requestId, op: payout.op, state: .prepared, chain: payout.destinationChain,
                              tx: payout.tx, now: now)
        }
    }

    private func preparedAuditBody(_ payout: PayoutToPrepare, _ balance: Balance) -> JSON {
        let body = payoutAuditBody(account: payout.account, token: payout.token)
        body.set("quantity", string: payout.quantity.description)
        body.set("fee", string: payout.fee.description)
        body.set("destination", string: payout.destination)
        body.set("tx", string: payout.tx)
        switch payout.spendGuard {
        case .nonce(let nonce, _):
            body.set("nonce", integer: Int64(nonce))
        case .coins(let inputs, _):
            let spends = JSON.array()
            for coin in inputs { spends.append(JSON.string(coin.outpoint)) }
            body.set("spends", spends)
        }
        body.set("available_after", string: balance.available.description)
        body.set("locked_after", string: balance.locked.description)
        return body
    }

    /// How prepare takes a nonce: out of the released ones, or as the next
    /// one (releasing the gaps the chain never used).
    struct NonceClaim {
        var chain: String
        var sender: String
        var nonce: UInt64
        var fromReleased: Bool
        /// Nonces between the ledger's next and this one that the chain has not used.
        var gapsToRelease: Range<UInt64>
    }

    /// Account-model nonces: the ledger owns them so that each nonce belongs to
    /// exactly one recorded transaction and no gap can block the sender.
    /// A released nonce is reused first; otherwise the nonce must be at least
    /// the next one. Nonces skipped over are released unless the chain had
    /// already used them (`chainNonce`: the sender's pending nonce at signing).
    func checkNonce(chain: String, sender: String, nonce: UInt64, chainNonce: UInt64?) throws -> NonceClaim {
        let released = try database.statement("""
            SELECT nonce FROM free_nonces WHERE chain = :chain AND sender = :sender AND nonce = :nonce
            """)
        try released.bind("chain", chain).bind("sender", sender).bind("nonce", Int64(nonce))
        let isReleased = try released.step()
        released.reset()
        if isReleased {
            return NonceClaim(chain: chain, sender: sender, nonce: nonce, fromReleased: true, gapsToRelease: nonce..<nonce)
        }
        let next = try nextNonce(chain: chain, sender: sender)
        if let next, nonce < next {
            throw TokError(.nonceConflict, "nonce \(nonce) of \(sender) is already used by another payout (next is \(next))")
        }
        var firstSkipped = chainNonce ?? nonce
        if let next { firstSkipped = max(firstSkipped, next) }
        firstSkipped = min(firstSkipped, nonce)
        guard nonce - firstSkipped <= 10_000 else {
            throw TokError(.conflictingRecord, "nonce \(nonce) skips \(nonce - firstSkipped) nonces of \(sender); that is not plausible")
        }
        return NonceClaim(chain: chain, sender: sender, nonce: nonce, fromReleased: false, gapsToRelease: firstSkipped..<nonce)
    }

    func writeNonceClaim(_ claim: NonceClaim) throws(StoreError) {
        if claim.fromReleased {
            let take = try database.statement("DELETE FROM free_nonces WHERE chain = :chain AND sender = :sender AND nonce = :nonce")
            try take.bind("chain", claim.chain).bind("sender", claim.sender).bind("nonce", Int64(claim.nonce))
            try take.run()
            precondition(database.changes == 1, "a released nonce is taken exactly once")
            return
        }
        for gap in claim.gapsToRelease { try releaseNonce(chain: claim.chain, sender: claim.sender, gap) }
        let upsert = try database.statement("""
            INSERT INTO nonces (chain, sender, next_nonce) VALUES (:chain, :sender, :next_nonce)
            ON CONFLICT (chain, sender) DO UPDATE SET next_nonce = excluded.next_nonce
            """)
        try upsert.bind("chain", claim.chain).bind("sender", claim.sender).bind("next_nonce", Int64(claim.nonce + 1))
        try upsert.run()
    }

    private func releaseNonce(chain: String, sender: String, _ nonce: UInt64) throws(StoreError) {
        let release = try database.statement("""
            INSERT INTO free_nonces (chain, sender, nonce) VALUES (:chain, :sender, :nonce) ON CONFLICT DO NOTHING
            """)
        try release.bind("chain", chain).bind("sender", sender).bind("nonce", Int64(nonce))
        try release.run()
    }

    private func nextNonce(chain: String, sender: String) throws(StoreError) -> UInt64? {
        let query = try database.statement("SELECT next_nonce FROM nonces WHERE chain = :chain AND sender = :sender")
        defer { query.reset() }
        try query.bind("chain", chain).bind("sender", sender)
        return try query.step() ? UInt64(query.int64("next_nonce")) : nil
    }

    /// The nonce a new payout from `sender` should use, as the ledger sees it:
    /// the lowest released nonce, else the next one (nil when the ledger has
    /// never paid from this sender: then the chain's pending nonce decides).
    public func nonceToUse(chain: String, sender: String, excluding taken: Set<UInt64>) throws(TokError) -> (free: UInt64?, next: UInt64?) {
        try guarded {
            let free = try database.statement("SELECT nonce FROM free_nonces WHERE chain = :chain AND sender = :sender ORDER BY nonce")
            try free.bind("chain", chain).bind("sender", sender)
            var lowestFree: UInt64?
            while try free.step() {
                let candidate = UInt64(free.int64("nonce"))
                if !taken.contains(candidate) { lowestFree = candidate; break }
            }
            free.reset()
            return (lowestFree, try nextNonce(chain: chain, sender: sender))
        }
    }

    // MARK: Submitted, commit, rollback

    /// prepared → submitted. Idempotent; a final payout stays as it is.
    public func markSubmitted(requestId: String, tx: String, nowMilliseconds now: Int64) throws(TokError) -> PayoutOutcome {
        try guarded {
            let payout = try openPayout(requestId, tx: tx)
            guard payout.state == .prepared else { return .alreadyDone(payout) }
            try setPayoutState(requestId, .submitted, now: now)
            guard let row = try payoutRow(requestId) else { preconditionFailure("a submitted payout stays recorded") }
            precondition(row.state == .submitted, "the payout is submitted")
            precondition(row.debit == payout.debit && row.spendGuard == payout.spendGuard, "submitting changes no amount and no guard")
            return .applied(row)
        }
    }

    /// Atomic commit: only from prepared or submitted. Marks the payout
    /// confirmed, takes quantity + fee out of locked, credits the fee to the
    /// operator. Idempotent: a confirmed payout is left as it is.
    public func commitPayout(requestId: String, tx: String, confirmation: PayoutConfirmation,
                             nowMilliseconds now: Int64) throws(TokError) -> PayoutOutcome {
        try guarded {
            let payout = try openPayout(requestId, tx: tx)
            if payout.state == .confirmed { return .alreadyDone(payout) }
            guard payout.isOpen else {
                throw TokError(.invalidTransition, "payout \(requestId) is already failed; a confirmation of \(tx) needs an operator's attention")
            }
            let before = try readBalance(account: payout.account, token: payout.token)
            guard let locked = before.locked.subtracting(payout.debit) else {
                throw TokError(.internalError, "locked balance of \(payout.account) is below the payout's debit")
            }
            let feesBefore = try feeBalance(token: payout.token)
            guard let feesAfter = feesBefore.adding(payout.fee) else {
                throw TokError(.balanceOverflow, "the fee balance of \(payout.token) overflows")
            }

            // Writes: every check passed.
            let after = Balance(available: before.available, locked: locked)
            if !payout.debit.isZero {
                try writeBalance(account: payout.account, token: payout.token, after)
                try writeFeeBalance(token: payout.token, feesAfter)
            }
            try settleCoinsConfirmed(requestId: requestId)
            let update = try database.statement("""
                UPDATE payouts SET state = 'confirmed', charged_fee = :charged_fee, block_hash = :block_hash,
                                   block_number = :block_number, confirmations = :confirmations, updated_at_ms = :now
                WHERE request_id = :request_id
                """)
            try update.bind("request_id", requestId).bind("charged_fee", payout.fee.description)
                .bind("block_hash", confirmation.blockHash).bind("block_number", confirmation.blockNumber)
                .bind("confirmations", confirmation.confirmations).bind("now", now)
            try update.run()
            try updateRequestState(id: requestId, state: .confirmed, now: now)
            let body = payoutAuditBody(account: payout.account, token: payout.token)
            body.set("tx", string: tx)
            body.set("quantity", string: payout.quantity.description)
            body.set("fee", string: payout.fee.description)
            body.set("block_hash", string: confirmation.blockHash)
            body.set("locked_after", string: after.locked.description)
            appendAudit(kind: "payout_confirmed", requestId: requestId, body: body, now: now)

            // Postconditions: exactly quantity + fee left locked, the fee went to the operator.
            precondition(before.locked.subtracting(after.locked) == payout.debit, "commit takes exactly quantity + fee out of locked")
            precondition(after.available == before.available, "commit never touches available funds")
            assert(payout.debit.isZero || (try? feeBalance(token: payout.token)) == feesAfter, "the fee is credited")
            guard let row = try payoutRow(requestId) else { preconditionFailure("a committed payout stays recorded") }
            precondition(row.state == .confirmed && row.chargedFee == payout.fee, "the payout is confirmed, charged its fee")
            return .applied(row)
        }
    }

    /// Atomic rollback: only from prepared or submitted. Marks the payout
    /// failed, charges the agreed failure fee (never more than the fee),
    /// unlocks the rest. When the destination transaction never used its
    /// nonce, the nonce is released for the next payout so no gap remains.
    public func rollbackPayout(requestId: String, tx: String, reason: String, nonceConsumed: Bool,
                               nowMilliseconds now: Int64) throws(TokError) -> PayoutOutcome {
        try guarded {
            let payout = try openPayout(requestId, tx: tx)
            if payout.state == .failed { return .alreadyDone(payout) }
            guard payout.isOpen else {
                throw TokError(.invalidTransition, "payout \(requestId) is already confirmed on chain; it cannot be rolled back")
            }
            let charged = min(payout.failureFee, payout.fee)
            let unlocked = payout.debit.subtracting(charged) ?? .zero
            let before = try readBalance(account: payout.account, token: payout.token)
            guard let locked = before.locked.subtracting(payout.debit), let available = before.available.adding(unlocked) else {
                throw TokError(.internalError, "locked balance of \(payout.account) is below the payout's debit")
            }
            let feesBefore = try feeBalance(token: payout.token)
            guard let feesAfter = feesBefore.adding(charged) else {
                throw TokError(.balanceOverflow, "the fee balance of \(payout.token) overflows")
            }

            // Writes: every check passed.
            let after = Balance(available: available, locked: locked)
            if !payout.debit.isZero { try writeBalance(account: payout.account, token: payout.token, after) }
            if !charged.isZero { try writeFeeBalance(token: payout.token, feesAfter) }
            try settleCoinsFailed(requestId: requestId, inputsConsumed: nonceConsumed)
            if !nonceConsumed, let nonce = payout.nonce {
                try releaseNonce(chain: payout.destinationChain, sender: payout.sender, nonce)
            }
            let failure = String(reason.prefix(500))
            let update = try database.statement("""
                UPDATE payouts SET state = 'failed', charged_fee = :charged_fee, failure = :failure, updated_at_ms = :now
                WHERE request_id = :request_id
                """)
            try update.bind("request_id", requestId).bind("charged_fee", charged.description).bind("failure", failure)
                .bind("now", now)
            try update.run()
            try updateRequestState(id: requestId, state: .failed, now: now)
            let body = payoutAuditBody(account: payout.account, token: payout.token)
            body.set("tx", string: tx)
            body.set("failure_fee", string: charged.description)
            body.set("unlocked", string: unlocked.description)
            body.set("reason", string: failure)
            appendAudit(kind: "payout_failed", requestId: requestId, body: body, now: now)

            // Postconditions: the debit left locked; all of it came back but the failure fee.
            precondition(before.locked.subtracting(after.locked) == payout.debit, "rollback takes the whole debit out of locked")
            precondition(after.available.subtracting(before.available) == unlocked, "rollback returns the debit less the failure fee")
            precondition(charged <= payout.fee, "a failure never costs more than the fee")
            guard let row = try payoutRow(requestId) else { preconditionFailure("a rolled-back payout stays recorded") }
            precondition(row.state == .failed && row.chargedFee == charged, "the payout is failed, charged its failure fee")
            return .applied(row)
        }
    }

    /// Whether tok-apply has credited this transaction's payment in `asset`
    /// (tok-verify's advisory view of deposits still travelling through the pipeline).
    public func hasDeposit(chain: String, tx: String, asset: String) throws(TokError) -> Bool {
        try guarded { try creditedRequest(chain: chain, tx: tx, asset: asset) != nil }
    }

    /// Released nonces that open payouts are waiting behind: each needs a nonce
    /// filler, or the sender's later transactions can never be mined.
    public func nonceGaps(limit: Int) throws(TokError) -> [(chain: String, sender: String, nonce: UInt64)] {
        try guarded {
            let query = try database.statement("""
                SELECT f.chain AS chain, f.sender AS sender, f.nonce AS nonce FROM free_nonces f
                WHERE EXISTS (SELECT 1 FROM payouts p WHERE p.dest_chain = f.chain AND p.sender = f.sender
                              AND p.nonce > f.nonce AND p.state IN ('prepared', 'submitted'))
                ORDER BY f.chain, f.sender, f.nonce LIMIT :limit
                """)
            defer { query.reset() }
            try query.bind("limit", Int64(limit))
            var gaps: [(chain: String, sender: String, nonce: UInt64)] = []
            while try query.step() {
                gaps.append((query.text("chain"), query.text("sender"), UInt64(query.int64("nonce"))))
            }
            return gaps
        }
    }

    /// Payouts between prepare and a final state, oldest first (for reconciliation).
    public func openPayouts(limit: Int) throws(TokError) -> [PayoutRow] {
        precondition(limit > 0)
        return try guarded {
            let query = try database.statement("""
                SELECT request_id FROM payouts WHERE state IN ('prepared', 'submitted')
                ORDER BY prepared_at_ms, request_id LIMIT :limit
                """)
            try query.bind("limit", Int64(limit))
            var ids: [String] = []
            while try query.step() { ids.append(query.text("request_id")) }
            query.reset()
            return try ids.map { id in
                guard let row = try payoutRow(id) else { throw StoreError(.other, "payout \(id) vanished while being read") }
                return row
            }
        }
    }

    // MARK: Pieces

    private func openPayout(_ requestId: String, tx: String) throws -> PayoutRow {
        guard let payout = try payoutRow(requestId) else {
            throw TokError(.unknownRequest, "no payout \(requestId) is recorded")
        }
        guard payout.tx == tx else {
            throw TokError(.conflictingRecord, "payout \(requestId) is recorded with transaction \(payout.tx), not \(tx)")
        }
        return payout
    }

    private func setPayoutState(_ requestId: String, _ state: PayoutState, now: Int64) throws(StoreError) {
        let update = try database.statement("UPDATE payouts SET state = :state, updated_at_ms = :now WHERE request_id = :request_id")
        try update.bind("request_id", requestId).bind("state", state.rawValue).bind("now", now)
        try update.run()
        try updateRequestState(id: requestId, state: RequestPhase(state), now: now)
    }

    func updateRequestState(id: String, state: RequestPhase, now: Int64) throws(StoreError) {
        let update = try database.statement("UPDATE requests SET state = :state, updated_at_ms = :now WHERE request_id = :request_id")
        try update.bind("request_id", id).bind("state", state.rawValue).bind("now", now)
        try update.run()
    }

    private func feeBalance(token: String) throws(StoreError) -> UInt256 {
        let query = try database.statement("SELECT amount FROM fee_balances WHERE token = :token")
        defer { query.reset() }
        try query.bind("token", token)
        return try query.step() ? try Ledger.storedAmount(query.text("amount")) : .zero
    }

    private func writeFeeBalance(token: String, _ amount: UInt256) throws(StoreError) {
        let upsert = try database.statement("""
            INSERT INTO fee_balances (token, amount) VALUES (:token, :amount)
            ON CONFLICT (token) DO UPDATE SET amount = excluded.amount
            """)
        try upsert.bind("token", token).bind("amount", amount.description)
        try upsert.run()
    }

    private func payoutAuditBody(account: String, token: String) -> JSON {
        let body = JSON.object()
        body.set("account", string: account)
        body.set("token", string: token)
        return body
    }

    func payoutRow(_ requestId: String) throws(StoreError) -> PayoutRow? {
        let query = try database.statement("""
            SELECT request_id, op, account, token, quantity, fee, failure_fee, destination, dest_chain, dest_asset, dest_amount,
                   sender, nonce, tx, raw_tx, state, charged_fee, block_hash, block_number, confirmations, failure,
                   change_vout, change_value
            FROM payouts WHERE request_id = :request_id
            """)
        defer { query.reset() }
        try query.bind("request_id", requestId)
        guard try query.step() else { return nil }
        let tx = query.text("tx")
        let opText = query.text("op"), stateText = query.text("state")
        guard let op = Op(rawValue: opText), let state = PayoutState(rawValue: stateText) else {
            throw StoreError(.unusable, "payout \(requestId) is stored with op \"\(opText)\" and state \"\(stateText)\"")
        }
        let nonce = query.optionalInt64("nonce").map { UInt64($0) }
        let change = query.optionalInt64("change_vout").map { vout in
            Coin(tx: tx, index: UInt32(vout), value: UInt64(query.int64("change_value")))
        }
        var row = PayoutRow(
            requestId: query.text("request_id"), op: op, account: query.text("account"), token: query.text("token"),
            quantity: try Ledger.storedAmount(query.text("quantity")), fee: try Ledger.storedAmount(query.text("fee")),
            failureFee: try Ledger.storedAmount(query.text("failure_fee")), destination: query.text("destination"),
            destinationChain: query.text("dest_chain"), destinationAsset: query.text("dest_asset"),
            destinationAmount: try Ledger.storedAmount(query.text("dest_amount")), sender: query.text("sender"),
            spendGuard: nonce.map { .nonce($0, chainNonce: nil) } ?? .coins(inputs: [], change: change),
            tx: tx, rawTx: query.text("raw_tx"), state: state,
            chargedFee: try query.optionalText("charged_fee").map { text throws(StoreError) in try Ledger.storedAmount(text) },
            blockHash: query.optionalText("block_hash"), blockNumber: query.optionalInt64("block_number"),
            confirmations: query.optionalInt64("confirmations"), failure: query.optionalText("failure"))
        query.reset()
        // Only UTXO payouts (the ones without a nonce) hold coins.
        if nonce == nil { row.spendGuard = .coins(inputs: try payoutInputs(requestId: requestId), change: change) }
        return row
    }
}
