extension Ledger {
    /// How many payouts are open (prepared or submitted) and when the oldest
    /// was prepared: gauges for --metrics-file.
    public func openPayoutStatistics() throws(TokError) -> (count: Int, oldestPreparedAtMilliseconds: Int64?) {
        try guarded {
            let query = try database.statement(
                """
                SELECT count(*) AS open, min(prepared_at_ms) AS oldest FROM payouts WHERE state IN ('prepared', 'submitted')
                """)
            defer { query.reset() }
            guard try query.step() else { return (0, nil) }
            return (Int(query.int64("open")), query.optionalInt64("oldest"))
        }
    }
}
