/// The `payout_tx` object of a payout record: the signed destination
/// transaction. tok-verify creates it, tok-apply records it at prepare, and
/// tok-submit broadcasts exactly these bytes.
public struct PayoutTx: Sendable, Equatable {
    public var chain: String
    public var tx: String
    public var rawHex: String
    public var sender: String
    public var nonce: UInt64?
    public var chainNonce: UInt64?

    public init(chain: String, tx: String, rawHex: String, sender: String, nonce: UInt64?, chainNonce: UInt64?) {
        self.chain = chain
        self.tx = tx
        self.rawHex = rawHex
        self.sender = sender
        self.nonce = nonce
        self.chainNonce = chainNonce
    }

    public init(row: PayoutRow) {
        self.init(chain: row.destinationChain, tx: row.tx, rawHex: row.rawTx, sender: row.sender, nonce: row.nonce, chainNonce: nil)
    }

    public func object() -> JSON {
        let object = JSON.object()
        object.set("chain", string: chain)
        object.set("tx", string: tx)
        object.set("raw", string: rawHex)
        object.set("sender", string: sender)
        if let nonce { object.set("nonce", integer: Int64(nonce)) }
        if let chainNonce { object.set("chain_nonce", integer: Int64(chainNonce)) }
        return object
    }

    public static func read(_ record: JSON) throws(TokError) -> PayoutTx {
        guard let object = record[Field.payoutTx], object.isObject else {
            throw TokError(.missingField, "payout_tx is required")
        }
        func text(_ key: String) throws(TokError) -> String {
            guard let value = object.string(at: key), !value.isEmpty else { throw TokError(.missingField, "payout_tx.\(key) is required") }
            return value
        }
        func count(_ key: String) throws(TokError) -> UInt64? {
            guard let kind = object.kind(at: key), kind != .null else { return nil }
            guard let value = object[key]?.int64Value, value >= 0 else {
                throw TokError(.badFieldType, "payout_tx.\(key) must be a non-negative integer")
            }
            return UInt64(value)
        }
        return PayoutTx(chain: try text("chain"), tx: try text("tx"), rawHex: try text("raw"), sender: try text("sender"),
                        nonce: try count("nonce"), chainNonce: try count("chain_nonce"))
    }

    /// The signed bytes as a SignedPayout for a payout channel.
    public var signedPayout: SignedPayout {
        SignedPayout(txId: tx, rawHex: rawHex, sender: sender, nonce: nonce ?? 0, maxNetworkFee: .zero)
    }
}
