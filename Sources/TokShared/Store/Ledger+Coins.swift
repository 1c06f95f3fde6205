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
/// A coin's place in the pool (`utxos.state`).
public enum CoinState: String, Sendable {
    case available, reserved, spent, pending
}

extension Ledger {
    /// Coins a new payout from `address` may spend, largest first, skipping
    /// `excluding` (coins this tok-verify process already put into transactions
    /// tok-apply may not have recorded yet). Read-only; the reservation at
    /// prepare is what decides.
    public func spendableCoins(
        chain: String, address: String, excluding taken: Set<String>, limit: Int
    ) throws(TokError) -> [Coin] {
        precondition(limit > 0)
        return try guarded {
            let query = try database.statement(
                """
                SELECT tx, vout, value FROM utxos WHERE chain = :chain AND address = :address AND state = 'available'
                ORDER BY value DESC, tx, vout
                """)
            defer { query.reset() }
            try query.bind("chain", chain).bind("address", address)
            var coins: [Coin] = []
            while coins.count < limit, try query.step() {
                let coin = Coin(
                    tx: query.text("tx"), index: UInt32(query.int64("vout")), value: UInt64(query.int64("value")))
                if !taken.contains(coin.outpoint) { coins.append(coin) }
            }
            return coins
        }
    }

    /// What the pool holds for one address, in base units, by state (for
    /// operators and tests).
    public func coinTotals(chain: String, address: String) throws(TokError) -> [String: UInt64] {
        try guarded {
            let query = try database.statement(
                """
                SELECT state, SUM(value) AS total FROM utxos WHERE chain = :chain AND address = :address GROUP BY state
                """)
            defer { query.reset() }
            try query.bind("chain", chain).bind("address", address)
            var totals: [String: UInt64] = [:]
            while try query.step() { totals[query.text("state")] = UInt64(query.int64("total")) }
            return totals
        }
    }

    /// A credited deposit's outputs to the operator join the pool.
    func addDepositCoins(_ coins: [Coin], chain: String, address: String, requestId: String) throws(StoreError) {
        let insert = try database.statement(
            """
            INSERT INTO utxos (chain, tx, vout, address, value, state, origin, request_id)
            VALUES (:chain, :tx, :vout, :address, :value, 'available', 'deposit', :request_id)
            """)
        for coin in coins {
            precondition(
                coin.value > 0 && coin.value <= UInt64(Int64.max), "a coin's value is positive and fits 63 bits")
            try insert.bind("chain", chain).bind("tx", coin.tx).bind("vout", Int64(coin.index)).bind("address", address)
                .bind("value", Int64(coin.value)).bind("request_id", requestId)
            try insert.run()
        }
    }

    /// Prepare's check, UTXO half: every input must be an available coin of the
    /// sender with the value the transaction was signed over, each spent once,
    /// and the change must be an output of the payout's own transaction.
    /// Another payout holding one of them is a `coin_conflict` (retryable: sign
    /// again with other coins). Reads only.
    func checkCoins(_ payout: PayoutToPrepare) throws {
        guard case .coins(let inputs, let change) = payout.spendGuard else { return }
        guard !inputs.isEmpty, inputs.count <= PayoutTx.maxInputs else {
            throw TokError(
                .conflictingRecord, "a UTXO payout spends 1 to \(PayoutTx.maxInputs) coins, not \(inputs.count)")
        }
        if let change, change.tx != payout.tx {
            throw TokError(
                .conflictingRecord,
                "the change \(change.outpoint) is not an output of the payout's transaction \(payout.tx)")
        }
        let query = try database.statement(
            """
            SELECT address, value, state, spent_by FROM utxos WHERE chain = :chain AND tx = :tx AND vout = :vout
            """)
        var seen: Set<String> = []
        for coin in inputs {
            guard seen.insert(coin.outpoint).inserted else {
                throw TokError(.conflictingRecord, "the payout transaction spends \(coin.outpoint) twice")
            }
            try query.bind("chain", payout.destinationChain).bind("tx", coin.tx).bind("vout", Int64(coin.index))
            guard try query.step() else {
                query.reset()
                throw TokError(.coinConflict, "coin \(coin.outpoint) is not in the operator's pool")
            }
            let (address, value, state, holder) = (
                query.text("address"), UInt64(query.int64("value")), query.text("state"),
                query.optionalText("spent_by")
            )
            query.reset()
            guard address == payout.sender, value == coin.value else {
                throw TokError(
                    .conflictingRecord,
                    "coin \(coin.outpoint) belongs to \(address) with \(value) base units, not as signed")
            }
            guard state == CoinState.available.rawValue else {
                throw TokError(
                    .coinConflict,
                    "coin \(coin.outpoint) is \(state) by payout \(holder ?? "?"); sign again with other coins")
            }
        }
    }

    /// Prepare's write, UTXO half (after `checkCoins`): the inputs become
    /// reserved by this payout, and its change is booked as pending.
    func reserveCoins(_ payout: PayoutToPrepare) throws(StoreError) {
        guard case .coins(let inputs, let change) = payout.spendGuard else { return }
        let reserve = try database.statement(
            """
            UPDATE utxos SET state = 'reserved', spent_by = :request_id
            WHERE chain = :chain AND tx = :tx AND vout = :vout AND state = 'available'
            """)
        for coin in inputs {
            try reserve.bind("chain", payout.destinationChain).bind("tx", coin.tx).bind("vout", Int64(coin.index))
                .bind("request_id", payout.requestId)
            try reserve.run()
            precondition(database.changes == 1, "an available coin is reserved exactly once")
        }
        if let change {
            let insert = try database.statement(
                """
                INSERT INTO utxos (chain, tx, vout, address, value, state, origin, request_id)
                VALUES (:chain, :tx, :vout, :address, :value, 'pending', 'change', :request_id)
                """)
            try insert.bind("chain", payout.destinationChain).bind("tx", payout.tx).bind("vout", Int64(change.index))
                .bind("address", payout.sender).bind("value", Int64(change.value)).bind("request_id", payout.requestId)
            try insert.run()
        }
    }

    /// Commit, UTXO half: the inputs are spent and the change is the operator's to spend.
    func settleCoinsConfirmed(requestId: String) throws(StoreError) {
        let spend = try database.statement(
            "UPDATE utxos SET state = 'spent' WHERE spent_by = :request_id AND state = 'reserved'")
        try spend.bind("request_id", requestId)
        try spend.run()
        let release = try database.statement(
            """
            UPDATE utxos SET state = 'available' WHERE request_id = :request_id AND origin = 'change' AND state = 'pending'
            """)
        try release.bind("request_id", requestId)
        try release.run()
    }

    /// Rollback, UTXO half: the change never existed. The inputs are free
    /// again, or spent when the chain showed them used by another transaction.
    func settleCoinsFailed(requestId: String, inputsConsumed: Bool) throws(StoreError) {
        let drop = try database.statement(
            """
            DELETE FROM utxos WHERE request_id = :request_id AND origin = 'change' AND state = 'pending'
            """)
        try drop.bind("request_id", requestId)
        try drop.run()
        let inputs = try database.statement(
            inputsConsumed
                ? "UPDATE utxos SET state = 'spent' WHERE spent_by = :request_id AND state = 'reserved'"
                : "UPDATE utxos SET state = 'available', spent_by = NULL WHERE spent_by = :request_id AND state = 'reserved'"
        )
        try inputs.bind("request_id", requestId)
        try inputs.run()
    }

    /// The coins a payout spends (while it holds them), for re-emitting its record.
    func payoutInputs(requestId: String) throws(StoreError) -> [Coin] {
        let query = try database.statement(
            "SELECT tx, vout, value FROM utxos WHERE spent_by = :request_id ORDER BY tx, vout")
        defer { query.reset() }
        try query.bind("request_id", requestId)
        var coins: [Coin] = []
        while try query.step() {
            coins.append(
                Coin(tx: query.text("tx"), index: UInt32(query.int64("vout")), value: UInt64(query.int64("value"))))
        }
        return coins
    }
}
