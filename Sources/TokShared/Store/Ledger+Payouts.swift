/// A payout as tok-apply prepares it: everything the atomic prepare records.
public struct PayoutToPrepare: Sendable, Equatable {
    public var requestId: String
    /// "payout", or "transfer" for a transfer's payout half.
    public var op: String
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
    /// Account-model chains: the nonce the signed transaction uses, and the
    /// sender's pending nonce on chain when it was signed.
    public var nonce: UInt64?
    public var chainNonce: UInt64?
    public var tx: String
    public var rawTx: String
    /// UTXO chains: the coins the transaction spends and its change to the sender.
    public var inputs: [Coin] = []
    public var change: Coin? = nil

    public var debit: UInt256 { quantity.adding(fee)! }
}

/// A payout as stored.
public struct PayoutRow: Sendable, Equatable {
    public var requestId: String
    public var op: String
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
    public var nonce: UInt64?
    public var tx: String
    public var rawTx: String
    public var state: String
    public var chargedFee: UInt256?
    public var blockHash: String?
    public var blockNumber: Int64?
    public var confirmations: Int64?
    public var failure: String?
    /// UTXO chains: the coins it holds (reserved, or spent once confirmed) and its change.
    public var inputs: [Coin]
    public var change: Coin?

    public var debit: UInt256 { quantity.adding(fee)! }
    public var isOpen: Bool { state == PayoutState.prepared.rawValue || state == PayoutState.submitted.rawValue }
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
    /// moves quantity + fee from available to locked. Preconditions: the request
    /// id is not used by another request; the nonce is free for this sender;
    /// the available balance covers the debit at this moment.
    public func preparePayout(_ payout: PayoutToPrepare) throws(TokError) -> PayoutOutcome {
        try guarded {
            // A replayed request keeps the transaction it was prepared with; a
            // transaction signed again for it is dropped here and never broadcast.
            if let existing = try payoutRow(payout.requestId) { return .alreadyDone(existing) }
            if let other = try requestRow(payout.requestId), !(other.op == "transfer" && payout.op == "transfer") {
                throw TokError(.conflictingRecord, "request id \(payout.requestId) is already used by a \(other.op)")
            }
            if let nonce = payout.nonce {
                try claimNonce(chain: payout.destinationChain, sender: payout.sender, nonce: nonce, chainNonce: payout.chainNonce)
            }
            if !payout.inputs.isEmpty { try reserveCoins(payout) }
            // A nonce filler moves nothing and belongs to no user: no balance to touch.
            var balance = try readBalance(account: payout.account, token: payout.token)
            if payout.debit.isZero { return try recordPrepared(payout, balance: balance) }
            guard let available = balance.available.subtracting(payout.debit) else {
                throw TokError(.insufficientBalance,
                               "\(payout.account) has \(balance.available) \(payout.token) available; the payout needs \(payout.debit) (quantity \(payout.quantity) + fee \(payout.fee))")
            }
            guard let locked = balance.locked.adding(payout.debit) else {
                throw TokError(.balanceOverflow, "locking \(payout.debit) overflows")
            }
            balance = Balance(available: available, locked: locked)
            try writeBalance(account: payout.account, token: payout.token, balance)
            return try recordPrepared(payout, balance: balance)
        }
    }

    private func recordPrepared(_ payout: PayoutToPrepare, balance: Balance) throws -> PayoutOutcome {
        let now = Ledger.nowMilliseconds()
        let insert = try database.statement("""
            INSERT INTO payouts (request_id, op, account, token, quantity, fee, destination, dest_chain, dest_asset,
                                 dest_amount, sender, nonce, tx, raw_tx, state, failure_fee, prepared_at_ms, updated_at_ms,
                                 change_vout, change_value)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'prepared', ?15, ?16, ?16, ?17, ?18)
            """)
        try insert.bind(1, payout.requestId).bind(2, payout.op).bind(3, payout.account).bind(4, payout.token)
            .bind(5, payout.quantity.description).bind(6, payout.fee.description).bind(7, payout.destination)
            .bind(8, payout.destinationChain).bind(9, payout.destinationAsset).bind(10, payout.destinationAmount.description)
            .bind(11, payout.sender)
        if let nonce = payout.nonce { try insert.bind(12, Int64(nonce)) } else { try insert.bind(12, nil as String?) }
        try insert.bind(13, payout.tx).bind(14, payout.rawTx).bind(15, payout.failureFee.description).bind(16, now)
        if let change = payout.change {
            try insert.bind(17, Int64(change.index)).bind(18, Int64(change.value))
        } else {
            try insert.bind(17, nil as String?).bind(18, nil as String?)
        }
        do {
            try insert.run()
        } catch let error as SQLiteError where error.code & 0xFF == 19 {
            // SQLITE_CONSTRAINT: the unique (dest_chain, tx) index.
            throw TokError(.conflictingRecord, "destination transaction \(payout.tx) is already recorded for another payout")
        }
        if payout.op == "transfer", try requestRow(payout.requestId) != nil {
            // The transfer's deposit half registered the request a moment ago.
            try updateRequestState(id: payout.requestId, state: PayoutState.prepared.rawValue, now: now)
        } else {
            try insertRequest(id: payout.requestId, op: payout.op, state: PayoutState.prepared.rawValue,
                              chain: payout.destinationChain, tx: payout.tx, now: now)
        }
        let body = payoutAuditBody(account: payout.account, token: payout.token)
        body.set("quantity", string: payout.quantity.description)
        body.set("fee", string: payout.fee.description)
        body.set("destination", string: payout.destination)
        body.set("tx", string: payout.tx)
        if let nonce = payout.nonce { body.set("nonce", integer: Int64(nonce)) }
        if !payout.inputs.isEmpty {
            let spends = JSON.array()
            for coin in payout.inputs { spends.append(JSON.string(coin.outpoint)) }
            body.set("spends", spends)
        }
        body.set("available_after", string: balance.available.description)
        body.set("locked_after", string: balance.locked.description)
        appendAudit(kind: "payout_prepared", requestId: payout.requestId, body: body, now: now)
        return .applied(try payoutRow(payout.requestId)!)
    }

    /// Account-model nonces: the ledger owns them so that each nonce belongs to
    /// exactly one recorded transaction and no gap can block the sender.
    /// A released nonce is reused first; otherwise the nonce must be at least
    /// the next one. Nonces skipped over are released unless the chain had
    /// already used them (`chainNonce`: the sender's pending nonce at signing).
    func claimNonce(chain: String, sender: String, nonce: UInt64, chainNonce: UInt64?) throws {
        let free = try database.statement("DELETE FROM free_nonces WHERE chain = ?1 AND sender = ?2 AND nonce = ?3")
        try free.bind(1, chain).bind(2, sender).bind(3, Int64(nonce))
        try free.run()
        if database.changes > 0 { return }

        let query = try database.statement("SELECT next_nonce FROM nonces WHERE chain = ?1 AND sender = ?2")
        try query.bind(1, chain).bind(2, sender)
        let next: UInt64? = try query.step() ? UInt64(query.int64(0)) : nil
        query.reset()
        if let next, nonce < next {
            throw TokError(.nonceConflict, "nonce \(nonce) of \(sender) is already used by another payout (next is \(next))")
        }
        // Nonces between the ledger's next and this one that the chain has not used are gaps: release them.
        var firstSkipped = chainNonce ?? nonce
        if let next { firstSkipped = max(firstSkipped, next) }
        if firstSkipped < nonce {
            precondition(nonce - firstSkipped <= 10_000, "nonce jump of \(nonce - firstSkipped) is not plausible")
            let release = try database.statement("INSERT OR IGNORE INTO free_nonces (chain, sender, nonce) VALUES (?1, ?2, ?3)")
            for gap in firstSkipped..<nonce {
                try release.bind(1, chain).bind(2, sender).bind(3, Int64(gap))
                try release.run()
            }
        }
        let upsert = try database.statement("""
            INSERT INTO nonces (chain, sender, next_nonce) VALUES (?1, ?2, ?3)
            ON CONFLICT (chain, sender) DO UPDATE SET next_nonce = excluded.next_nonce
            """)
        try upsert.bind(1, chain).bind(2, sender).bind(3, Int64(nonce + 1))
        try upsert.run()
    }

    /// The nonce a new payout from `sender` should use, as the ledger sees it:
    /// the lowest released nonce, else the next one (nil when the ledger has
    /// never paid from this sender: then the chain's pending nonce decides).
    public func nonceToUse(chain: String, sender: String, excluding taken: Set<UInt64>) throws(TokError) -> (free: UInt64?, next: UInt64?) {
        try guarded {
            let free = try database.statement("SELECT nonce FROM free_nonces WHERE chain = ?1 AND sender = ?2 ORDER BY nonce")
            try free.bind(1, chain).bind(2, sender)
            var lowestFree: UInt64?
            while try free.step() {
                let candidate = UInt64(free.int64(0))
                if !taken.contains(candidate) { lowestFree = candidate; break }
            }
            free.reset()
            let query = try database.statement("SELECT next_nonce FROM nonces WHERE chain = ?1 AND sender = ?2")
            defer { query.reset() }
            try query.bind(1, chain).bind(2, sender)
            let next: UInt64? = try query.step() ? UInt64(query.int64(0)) : nil
            return (lowestFree, next)
        }
    }

    // MARK: Submitted, commit, rollback

    /// prepared → submitted. Idempotent; a final payout stays as it is.
    public func markSubmitted(requestId: String, tx: String) throws(TokError) -> PayoutOutcome {
        try guarded {
            let payout = try openPayout(requestId, tx: tx)
            guard payout.state == PayoutState.prepared.rawValue else { return .alreadyDone(payout) }
            let now = Ledger.nowMilliseconds()
            try setPayoutState(requestId, .submitted, now: now)
            return .applied(try payoutRow(requestId)!)
        }
    }

    /// Atomic commit: only from prepared or submitted. Marks the payout
    /// confirmed, takes quantity + fee out of locked, credits the fee to the
    /// operator. Idempotent: a confirmed payout is left as it is.
    public func commitPayout(requestId: String, tx: String, confirmation: PayoutConfirmation) throws(TokError) -> PayoutOutcome {
        try guarded {
            let payout = try openPayout(requestId, tx: tx)
            if payout.state == PayoutState.confirmed.rawValue { return .alreadyDone(payout) }
            guard payout.isOpen else {
                throw TokError(.invalidTransition, "payout \(requestId) is already failed; a confirmation of \(tx) needs an operator's attention")
            }
            var balance = try readBalance(account: payout.account, token: payout.token)
            guard let locked = balance.locked.subtracting(payout.debit) else {
                throw TokError(.internalError, "locked balance of \(payout.account) is below the payout's debit")
            }
            balance.locked = locked
            if !payout.debit.isZero {
                try writeBalance(account: payout.account, token: payout.token, balance)
                try addFee(token: payout.token, payout.fee)
            }
            try settleCoinsConfirmed(requestId: requestId)
            let now = Ledger.nowMilliseconds()
            let update = try database.statement("""
                UPDATE payouts SET state = 'confirmed', charged_fee = ?2, block_hash = ?3, block_number = ?4,
                                   confirmations = ?5, updated_at_ms = ?6 WHERE request_id = ?1
                """)
            try update.bind(1, requestId).bind(2, payout.fee.description).bind(3, confirmation.blockHash)
                .bind(4, confirmation.blockNumber).bind(5, confirmation.confirmations).bind(6, now)
            try update.run()
            try updateRequestState(id: requestId, state: PayoutState.confirmed.rawValue, now: now)
            let body = payoutAuditBody(account: payout.account, token: payout.token)
            body.set("tx", string: tx)
            body.set("quantity", string: payout.quantity.description)
            body.set("fee", string: payout.fee.description)
            body.set("block_hash", string: confirmation.blockHash)
            body.set("locked_after", string: balance.locked.description)
            appendAudit(kind: "payout_confirmed", requestId: requestId, body: body, now: now)
            return .applied(try payoutRow(requestId)!)
        }
    }

    /// Atomic rollback: only from prepared or submitted. Marks the payout
    /// failed, charges the agreed failure fee (never more than the fee),
    /// unlocks the rest. When the destination transaction never used its
    /// nonce, the nonce is released for the next payout so no gap remains.
    public func rollbackPayout(requestId: String, tx: String, reason: String, nonceConsumed: Bool) throws(TokError) -> PayoutOutcome {
        try guarded {
            let payout = try openPayout(requestId, tx: tx)
            if payout.state == PayoutState.failed.rawValue { return .alreadyDone(payout) }
            guard payout.isOpen else {
                throw TokError(.invalidTransition, "payout \(requestId) is already confirmed on chain; it cannot be rolled back")
            }
            let charged = min(payout.failureFee, payout.fee)
            var balance = try readBalance(account: payout.account, token: payout.token)
            guard let locked = balance.locked.subtracting(payout.debit),
                  let available = balance.available.adding(payout.debit.subtracting(charged)!) else {
                throw TokError(.internalError, "locked balance of \(payout.account) is below the payout's debit")
            }
            balance = Balance(available: available, locked: locked)
            if !payout.debit.isZero { try writeBalance(account: payout.account, token: payout.token, balance) }
            if !charged.isZero { try addFee(token: payout.token, charged) }
            try settleCoinsFailed(requestId: requestId, inputsConsumed: nonceConsumed)
            if !nonceConsumed, let nonce = payout.nonce {
                let release = try database.statement("INSERT OR IGNORE INTO free_nonces (chain, sender, nonce) VALUES (?1, ?2, ?3)")
                try release.bind(1, payout.destinationChain).bind(2, payout.sender).bind(3, Int64(nonce))
                try release.run()
            }
            let now = Ledger.nowMilliseconds()
            let update = try database.statement("""
                UPDATE payouts SET state = 'failed', charged_fee = ?2, failure = ?3, updated_at_ms = ?4 WHERE request_id = ?1
                """)
            try update.bind(1, requestId).bind(2, charged.description).bind(3, String(reason.prefix(500))).bind(4, now)
            try update.run()
            try updateRequestState(id: requestId, state: PayoutState.failed.rawValue, now: now)
            let body = payoutAuditBody(account: payout.account, token: payout.token)
            body.set("tx", string: tx)
            body.set("failure_fee", string: charged.description)
            body.set("unlocked", string: payout.debit.subtracting(charged)!.description)
            body.set("reason", string: String(reason.prefix(500)))
            appendAudit(kind: "payout_failed", requestId: requestId, body: body, now: now)
            return .applied(try payoutRow(requestId)!)
        }
    }

    /// Whether tok-apply has credited this chain transaction (tok-verify's
    /// advisory view of deposits still travelling through the pipeline).
    public func hasDeposit(chain: String, tx: String) throws(TokError) -> Bool {
        try guarded {
            let query = try database.statement("SELECT 1 FROM deposits WHERE chain = ?1 AND tx = ?2")
            defer { query.reset() }
            try query.bind(1, chain).bind(2, tx)
            return try query.step()
        }
    }

    /// Released nonces that open payouts are waiting behind: each needs a nonce
    /// filler, or the sender's later transactions can never be mined.
    public func nonceGaps(limit: Int) throws(TokError) -> [(chain: String, sender: String, nonce: UInt64)] {
        try guarded {
            let query = try database.statement("""
                SELECT f.chain, f.sender, f.nonce FROM free_nonces f
                WHERE EXISTS (SELECT 1 FROM payouts p WHERE p.dest_chain = f.chain AND p.sender = f.sender
                              AND p.nonce > f.nonce AND p.state IN ('prepared', 'submitted'))
                ORDER BY f.chain, f.sender, f.nonce LIMIT ?1
                """)
            defer { query.reset() }
            try query.bind(1, Int64(limit))
            var gaps: [(chain: String, sender: String, nonce: UInt64)] = []
            while try query.step() { gaps.append((query.text(0), query.text(1), UInt64(query.int64(2)))) }
            return gaps
        }
    }

    /// Payouts between prepare and a final state, oldest first (for reconciliation).
    public func openPayouts(limit: Int) throws(TokError) -> [PayoutRow] {
        precondition(limit > 0)
        return try guarded {
            let query = try database.statement("""
                SELECT request_id FROM payouts WHERE state IN ('prepared', 'submitted') ORDER BY prepared_at_ms, request_id LIMIT ?1
                """)
            try query.bind(1, Int64(limit))
            var ids: [String] = []
            while try query.step() { ids.append(query.text(0)) }
            query.reset()
            return try ids.map { try payoutRow($0)! }
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

    private func setPayoutState(_ requestId: String, _ state: PayoutState, now: Int64) throws {
        let update = try database.statement("UPDATE payouts SET state = ?2, updated_at_ms = ?3 WHERE request_id = ?1")
        try update.bind(1, requestId).bind(2, state.rawValue).bind(3, now)
        try update.run()
        try updateRequestState(id: requestId, state: state.rawValue, now: now)
    }

    func updateRequestState(id: String, state: String, now: Int64) throws {
        let update = try database.statement("UPDATE requests SET state = ?2, updated_at_ms = ?3 WHERE request_id = ?1")
        try update.bind(1, id).bind(2, state).bind(3, now)
        try update.run()
    }

    private func addFee(token: String, _ amount: UInt256) throws {
        let query = try database.statement("SELECT amount FROM fee_balances WHERE token = ?1")
        try query.bind(1, token)
        let current = try query.step() ? try Ledger.storedAmount(query.text(0)) : .zero
        query.reset()
        guard let total = current.adding(amount) else { throw TokError(.balanceOverflow, "the fee balance of \(token) overflows") }
        let upsert = try database.statement("""
            INSERT INTO fee_balances (token, amount) VALUES (?1, ?2)
            ON CONFLICT (token) DO UPDATE SET amount = excluded.amount
            """)
        try upsert.bind(1, token).bind(2, total.description)
        try upsert.run()
    }

    private func payoutAuditBody(account: String, token: String) -> JSON {
        let body = JSON.object()
        body.set("account", string: account)
        body.set("token", string: token)
        return body
    }

    func payoutRow(_ requestId: String) throws -> PayoutRow? {
        let query = try database.statement("""
            SELECT request_id, op, account, token, quantity, fee, failure_fee, destination, dest_chain, dest_asset, dest_amount,
                   sender, nonce, tx, raw_tx, state, charged_fee, block_hash, block_number, confirmations, failure,
                   change_vout, change_value
            FROM payouts WHERE request_id = ?1
            """)
        defer { query.reset() }
        try query.bind(1, requestId)
        guard try query.step() else { return nil }
        let tx = query.text(13)
        let change = query.isNull(21) ? nil : Coin(tx: tx, index: UInt32(query.int64(21)), value: UInt64(query.int64(22)))
        var row = PayoutRow(
            requestId: query.text(0), op: query.text(1), account: query.text(2), token: query.text(3),
            quantity: try Ledger.storedAmount(query.text(4)), fee: try Ledger.storedAmount(query.text(5)),
            failureFee: try Ledger.storedAmount(query.text(6)), destination: query.text(7), destinationChain: query.text(8),
            destinationAsset: query.text(9), destinationAmount: try Ledger.storedAmount(query.text(10)), sender: query.text(11),
            nonce: query.isNull(12) ? nil : UInt64(query.int64(12)), tx: query.text(13), rawTx: query.text(14),
            state: query.text(15), chargedFee: try query.optionalText(16).map(Ledger.storedAmount),
            blockHash: query.optionalText(17), blockNumber: query.isNull(18) ? nil : query.int64(18),
            confirmations: query.isNull(19) ? nil : query.int64(19), failure: query.optionalText(20),
            inputs: [], change: change)
        query.reset()
        // Only UTXO payouts (the ones without a nonce) hold coins.
        if row.nonce == nil { row.inputs = try payoutInputs(requestId: requestId) }
        return row
    }
}
