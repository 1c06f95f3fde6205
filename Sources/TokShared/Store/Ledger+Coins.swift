/// The operator's coins on UTXO chains (table `utxos`, migration 2).
///
/// Where coins come from: outputs of credited deposits that pay the operator's
/// receiver, and the change of the operator's own payouts once they confirm.
/// Where they go: a prepared payout reserves the coins its transaction spends
/// (in the same database transaction that locks the user's balance), its
/// commit marks them spent, and its rollback frees them again, unless the
/// chain showed them spent by something else.
///
/// Change of an open payout is `pending`, never spent: a payout that fails
/// would otherwise take every payout built on its change down with it.
extension Ledger {
    /// Coins a new payout from `address` may spend, largest first, skipping
    /// `excluding` (coins this tok-verify process already put into transactions
    /// tok-apply may not have recorded yet). Read-only; the reservation at
    /// prepare is what decides.
    public func spendableCoins(chain: String, address: String, excluding taken: Set<String>, limit: Int) throws(TokError) -> [Coin] {
        precondition(limit > 0)
        return try guarded {
            let query = try database.statement("""
                SELECT tx, vout, value FROM utxos WHERE chain = ?1 AND address = ?2 AND state = 'available'
                ORDER BY value DESC, tx, vout
                """)
            defer { query.reset() }
            try query.bind(1, chain).bind(2, address)
            var coins: [Coin] = []
            while coins.count < limit, try query.step() {
                let coin = Coin(tx: query.text(0), index: UInt32(query.int64(1)), value: UInt64(query.int64(2)))
                if !taken.contains(coin.outpoint) { coins.append(coin) }
            }
            return coins
        }
    }

    /// What the pool holds for one address, in base units, by state (for
    /// operators and tests).
    public func coinTotals(chain: String, address: String) throws(TokError) -> [String: UInt64] {
        try guarded {
            let query = try database.statement("SELECT state, SUM(value), COUNT(*) FROM utxos WHERE chain = ?1 AND address = ?2 GROUP BY state")
            defer { query.reset() }
            try query.bind(1, chain).bind(2, address)
            var totals: [String: UInt64] = [:]
            while try query.step() { totals[query.text(0)] = UInt64(query.int64(1)) }
            return totals
        }
    }

    /// A credited deposit's outputs to the operator join the pool.
    func addDepositCoins(_ coins: [Coin], chain: String, address: String, requestId: String) throws {
        let insert = try database.statement("""
            INSERT INTO utxos (chain, tx, vout, address, value, state, origin, request_id)
            VALUES (?1, ?2, ?3, ?4, ?5, 'available', 'deposit', ?6)
            """)
        for coin in coins {
            precondition(coin.value > 0 && coin.value <= UInt64(Int64.max), "a coin's value is positive and fits 63 bits")
            try insert.bind(1, chain).bind(2, coin.tx).bind(3, Int64(coin.index)).bind(4, address)
                .bind(5, Int64(coin.value)).bind(6, requestId)
            try insert.run()
        }
    }

    /// Prepare, UTXO half: every input must be an available coin of the sender
    /// with the value the transaction was signed over; they become reserved by
    /// this payout, and its change is booked as pending. Another payout holding
    /// one of them is a `coin_conflict` (retryable: sign again with other coins).
    func reserveCoins(_ payout: PayoutToPrepare) throws {
        precondition(payout.inputs.count <= PayoutTx.maxInputs)
        let query = try database.statement("SELECT address, value, state, spent_by FROM utxos WHERE chain = ?1 AND tx = ?2 AND vout = ?3")
        let reserve = try database.statement("""
            UPDATE utxos SET state = 'reserved', spent_by = ?4 WHERE chain = ?1 AND tx = ?2 AND vout = ?3 AND state = 'available'
            """)
        var seen: Set<String> = []
        for coin in payout.inputs {
            guard seen.insert(coin.outpoint).inserted else {
                throw TokError(.conflictingRecord, "the payout transaction spends \(coin.outpoint) twice")
            }
            try query.bind(1, payout.destinationChain).bind(2, coin.tx).bind(3, Int64(coin.index))
            guard try query.step() else {
                query.reset()
                throw TokError(.coinConflict, "coin \(coin.outpoint) is not in the operator's pool")
            }
            let (address, value, state, holder) = (query.text(0), UInt64(query.int64(1)), query.text(2), query.optionalText(3))
            query.reset()
            guard address == payout.sender, value == coin.value else {
                throw TokError(.conflictingRecord, "coin \(coin.outpoint) belongs to \(address) with \(value) base units, not as signed")
            }
            guard state == "available" else {
                throw TokError(.coinConflict, "coin \(coin.outpoint) is \(state) by payout \(holder ?? "?"); sign again with other coins")
            }
            try reserve.bind(1, payout.destinationChain).bind(2, coin.tx).bind(3, Int64(coin.index)).bind(4, payout.requestId)
            try reserve.run()
            precondition(database.changes == 1, "an available coin is reserved exactly once")
        }
        if let change = payout.change {
            precondition(change.tx == payout.tx, "change is an output of the payout's own transaction")
            let insert = try database.statement("""
                INSERT INTO utxos (chain, tx, vout, address, value, state, origin, request_id)
                VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 'change', ?6)
                """)
            try insert.bind(1, payout.destinationChain).bind(2, payout.tx).bind(3, Int64(change.index))
                .bind(4, payout.sender).bind(5, Int64(change.value)).bind(6, payout.requestId)
            try insert.run()
        }
    }

    /// Commit, UTXO half: the inputs are spent and the change is the operator's to spend.
    func settleCoinsConfirmed(requestId: String) throws {
        let spend = try database.statement("UPDATE utxos SET state = 'spent' WHERE spent_by = ?1 AND state = 'reserved'")
        try spend.bind(1, requestId)
        try spend.run()
        let release = try database.statement("""
            UPDATE utxos SET state = 'available' WHERE request_id = ?1 AND origin = 'change' AND state = 'pending'
            """)
        try release.bind(1, requestId)
        try release.run()
    }

    /// Rollback, UTXO half: the change never existed. The inputs are free
    /// again, or spent when the chain showed them used by another transaction.
    func settleCoinsFailed(requestId: String, inputsConsumed: Bool) throws {
        let drop = try database.statement("DELETE FROM utxos WHERE request_id = ?1 AND origin = 'change' AND state = 'pending'")
        try drop.bind(1, requestId)
        try drop.run()
        let inputs = try database.statement(inputsConsumed
            ? "UPDATE utxos SET state = 'spent' WHERE spent_by = ?1 AND state = 'reserved'"
            : "UPDATE utxos SET state = 'available', spent_by = NULL WHERE spent_by = ?1 AND state = 'reserved'")
        try inputs.bind(1, requestId)
        try inputs.run()
    }

    /// The coins a payout spends (while it holds them), for re-emitting its record.
    func payoutInputs(requestId: String) throws -> [Coin] {
        let query = try database.statement("SELECT tx, vout, value FROM utxos WHERE spent_by = ?1 ORDER BY tx, vout")
        defer { query.reset() }
        try query.bind(1, requestId)
        var coins: [Coin] = []
        while try query.step() { coins.append(Coin(tx: query.text(0), index: UInt32(query.int64(1)), value: UInt64(query.int64(2)))) }
        return coins
    }
}
