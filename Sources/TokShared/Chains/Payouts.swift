import Logging

/// One output of a UTXO chain that the ledger owns: deposits to the operator
/// and change of its own payouts. `value` in the chain's base units.
public struct Coin: Sendable, Hashable {
    /// The transaction that created it, in display order (as the node prints it).
    public var tx: String
    public var index: UInt32
    public var value: UInt64

    public init(tx: String, index: UInt32, value: UInt64) {
        self.tx = tx
        self.index = index
        self.value = value
    }

    /// "txid:vout", the usual spelling, and the key coins are told apart by.
    public var outpoint: String { "\(tx):\(index)" }

    /// Reads `{vout, value}` of a record (value a base-unit decimal string). A
    /// value must be positive and fit 63 bits, as the ledger stores it (every
    /// chain's MAX_MONEY does).
    static func read(_ object: JSON, tx: String, path: String) throws(TokError) -> Coin {
        guard object.isObject, let index = object["vout"]?.int64Value, index >= 0, index <= Int64(UInt32.max) else {
            throw TokError(.badFieldType, "\(path).vout must be an output index")
        }
        guard let text = object.string(at: "value") else { throw TokError(.missingField, "\(path).value is required") }
        let value = try UInt256(decimal: text)
        guard !value.isZero, value <= UInt256(UInt64(Int64.max)), let baseUnits = UInt64(text) else {
            throw TokError(.amountOverflow, "\(path).value \(text) is not a positive coin value")
        }
        return Coin(tx: tx, index: UInt32(index), value: baseUnits)
    }
}

/// How a chain keeps one payment from being spent twice: account-model chains
/// by the sender's nonce, UTXO chains by the coins each transaction spends.
public enum FundingModel: Sendable {
    case accountNonce
    case coins
}

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
    /// UTXO chains: the coins the ledger shows free for the sender (not yet
    /// taken by another payout), to select this transaction's inputs from.
    public var coins: [Coin]

    public init(
        requestId: String, destination: String, amount: UInt256, mapping: AssetMapping, sender: String, nonce: UInt64,
        coins: [Coin] = []
    ) {
        self.requestId = requestId
        self.destination = destination
        self.amount = amount
        self.mapping = mapping
        self.sender = sender
        self.nonce = nonce
        self.coins = coins
    }
}

/// A signed destination transaction: its id is known before broadcast.
public struct SignedPayout: Sendable, Equatable {
    /// The chain's transaction id (EVM: 0x + 64 lowercase hex).
    public var txId: String
    /// The signed transaction in lowercase hex, spelled as the chain's RPC takes it
    /// (EVM: 0x-prefixed; Bitcoin family: bare).
    public var rawHex: String
    public var sender: String
    /// The nonce it uses, or the coins it spends and the change it pays back to the sender.
    public var spendGuard: SpendGuard
    /// The most the operator can pay in network fees for it, in the native coin's base units.
    public var maxNetworkFee: UInt256

    public init(txId: String, rawHex: String, sender: String, spendGuard: SpendGuard, maxNetworkFee: UInt256) {
        self.txId = txId
        self.rawHex = rawHex
        self.sender = sender
        self.spendGuard = spendGuard
        self.maxNetworkFee = maxNetworkFee
    }

    /// An account-model transaction at `nonce`.
    public init(txId: String, rawHex: String, sender: String, nonce: UInt64, maxNetworkFee: UInt256) {
        self.init(
            txId: txId, rawHex: rawHex, sender: sender, spendGuard: .nonce(nonce, chainNonce: nil),
            maxNetworkFee: maxNetworkFee)
    }

    /// Account-model chains: the nonce it uses (0 on UTXO chains, which have none).
    public var nonce: UInt64 { spendGuard.nonce ?? 0 }
    public var inputs: [Coin] { spendGuard.inputs }
    public var change: Coin? { spendGuard.change }
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
    /// `nonceConsumed` tells whether it can never be mined: the sender's
    /// confirmed nonce moved past it, or (UTXO) one of its inputs is spent.
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
    var fundingModel: FundingModel { get }
    /// The sender's next nonce as the chain sees it, pending pool included.
    func chainNonce(sender: String) async throws(TokError) -> UInt64
    /// Builds and signs each order; one result per order, in order.
    func sign(_ orders: [PayoutOrder], key: PrivateKey) async -> [Result<SignedPayout, TokError>]
    func broadcast(_ payouts: [SignedPayout]) async -> [Result<BroadcastOutcome, TokError>]
    func observe(_ payouts: [SignedPayout]) async -> [Result<PayoutObservation, TokError>]
}
