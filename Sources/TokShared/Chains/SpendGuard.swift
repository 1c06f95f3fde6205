/// What keeps one payout's funds from being spent twice on its destination
/// chain: the sender's nonce on account-model chains, the coins the
/// transaction spends (and the change it pays back) on UTXO chains. A payout
/// has exactly one of them, which this type makes true by construction.
public enum SpendGuard: Sendable, Equatable {
    /// `chainNonce`: the sender's pending nonce on chain when the transaction
    /// was signed (nil once recorded), so prepare can release the nonces the
    /// ledger skipped that the chain never used.
    case nonce(UInt64, chainNonce: UInt64?)
    /// Every coin the transaction spends (at least one), and its change output to the sender.
    case coins(inputs: [Coin], change: Coin?)

    public var nonce: UInt64? {
        if case .nonce(let nonce, _) = self { return nonce }
        return nil
    }

    public var chainNonce: UInt64? {
        if case .nonce(_, let chainNonce) = self { return chainNonce }
        return nil
    }

    public var inputs: [Coin] {
        if case .coins(let inputs, _) = self { return inputs }
        return []
    }

    public var change: Coin? {
        if case .coins(_, let change) = self { return change }
        return nil
    }

    /// The same guard as recorded: the chain's nonce at signing is not kept.
    public var recorded: SpendGuard {
        switch self {
        case .nonce(let nonce, _): return .nonce(nonce, chainNonce: nil)
        case .coins: return self
        }
    }
}
