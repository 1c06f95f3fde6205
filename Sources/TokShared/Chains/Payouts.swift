import Logging

/// One outgoing payment to build and sign on a destination chain.
public struct PayoutOrder: Sendable, Equatable {
    public var requestId: String
    /// Canonical destination address (no CAIP-2 prefix).
    public var destination: String
    /// In the destination asset's base units.
    public var amount: UInt256
    public var mapping: AssetMapping
    /// The paying account: the mapping's treasury or the network's operator.
    public var sender: String
    /// Account-model chains: the sender's nonce this transaction must use.
    /// Chosen by tok-verify from tok-apply's ledger (see NonceLedger) so the
    /// ledger, not the chain, decides which transaction owns which nonce.
    public var nonce: UInt64

    public init(requestId: String, destination: String, amount: UInt256, mapping: AssetMapping, sender: String, nonce: UInt64) {
        self.requestId = requestId
        self.destination = destination
        self.amount = amount
        self.mapping = mapping
        self.sender = sender
        self.nonce = nonce
    }
}

/// A signed destination transaction: its id is known before broadcast.
public struct SignedPayout: Sendable, Equatable {
    /// The chain's transaction id (EVM: 0x + 64 lowercase hex).
    public var txId: String
    /// The signed transaction, hex without 0x prefix is NOT used: 0x-prefixed lowercase hex.
    public var rawHex: String
    public var sender: String
    public var nonce: UInt64
    /// The most the operator can pay in network fees for it, in the native coin's base units.
    public var maxNetworkFee: UInt256

    public init(txId: String, rawHex: String, sender: String, nonce: UInt64, maxNetworkFee: UInt256) {
        self.txId = txId
        self.rawHex = rawHex
        self.sender = sender
        self.nonce = nonce
        self.maxNetworkFee = maxNetworkFee
    }
}

/// What a node said when asked to relay a transaction.
public enum BroadcastOutcome: Sendable, Equatable {
    /// Accepted now, or already known (re-broadcasting the same bytes is safe).
    case accepted
    /// Refused for good. `nonceConsumed`: another transaction already used the
    /// nonce, so this one can never be mined.
    case refused(reason: String, nonceConsumed: Bool)
}

/// What the chain shows about a broadcast transaction.
public enum PayoutObservation: Sendable, Equatable {
    /// Not in the chain and not in the node's pool (dropped or never seen).
    /// `nonceConsumed` tells whether the sender's confirmed nonce has moved
    /// past it (then it can never be mined: a definitive failure).
    case unknown(nonceConsumed: Bool)
    /// In the node's pool, not mined.
    case pending
    /// Mined in the canonical chain.
    case mined(blockHash: String, blockNumber: UInt64, confirmations: UInt64, succeeded: Bool)
}

/// Builds, signs and follows payouts on one network. Kept separate from
/// deposit verification: only tok-verify (signing) and tok-submit
/// (broadcasting) use it, and only they may hold the operator's key.
public protocol PayoutChannel: Sendable {
    /// The sender's next nonce as the chain sees it, pending pool included.
    func chainNonce(sender: String) async throws(TokError) -> UInt64
    /// Builds and signs each order; one result per order, in order.
    func sign(_ orders: [PayoutOrder], key: PrivateKey) async -> [Result<SignedPayout, TokError>]
    func broadcast(_ payouts: [SignedPayout]) async -> [Result<BroadcastOutcome, TokError>]
    func observe(_ payouts: [SignedPayout]) async -> [Result<PayoutObservation, TokError>]
}
