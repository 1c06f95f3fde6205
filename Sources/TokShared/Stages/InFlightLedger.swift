/// tok-verify's memory of deposits it attested that tok-apply has not credited
/// yet, per account and token. Only the advisory balance check reads it, so a
/// payout queued right behind the deposit that funds it is not refused.
struct InFlightLedger {
    private struct Credit {
        var chain: String
        var tx: String
        var asset: String
        var amount: UInt256
    }

    /// More entries than this means tok-apply is not keeping up (or not
    /// running); the oldest holder's entries are dropped rather than growing
    /// without bound. Forgetting only makes the advisory check stricter.
    static let maxEntries = 100_000
    private var creditsByHolder: [String: [Credit]] = [:]
    private var count = 0

    mutating func addCredit(chain: String, tx: String, asset: String, account: String, token: String, amount: UInt256) {
        if count >= InFlightLedger.maxEntries, let oldest = creditsByHolder.keys.first {
            count -= creditsByHolder[oldest]!.count
            creditsByHolder[oldest] = nil
        }
        creditsByHolder[account + "\u{0}" + token, default: []].append(Credit(chain: chain, tx: tx, asset: asset, amount: amount))
        count += 1
    }

    /// Credits still unknown to the ledger; those it now shows are forgotten.
    mutating func pendingCredits(account: String, token: String, ledger: Ledger) throws(TokError) -> UInt256 {
        let holder = account + "\u{0}" + token
        guard let credits = creditsByHolder[holder] else { return .zero }
        var kept: [Credit] = []
        var total = UInt256.zero
        for credit in credits {
            if try ledger.hasDeposit(chain: credit.chain, tx: credit.tx, asset: credit.asset) { continue }
            total = total.adding(credit.amount) ?? .max
            kept.append(credit)
        }
        count -= credits.count - kept.count
        creditsByHolder[holder] = kept.isEmpty ? nil : kept
        return total
    }
}
