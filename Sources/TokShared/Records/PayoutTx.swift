/// The `payout_tx` object of a payout record: the signed destination
/// transaction. tok-verify creates it, tok-apply records it at prepare, and
/// tok-submit broadcasts exactly these bytes.
///
/// Account-model chains carry the nonce it uses; UTXO chains carry the coins
/// it spends (`inputs`) and the change it pays back to the sender (`change`),
/// which tok-apply reserves and books at prepare.
public struct PayoutTx: Sendable, Equatable {
    /// Bounds what a record may ask tok-apply to reserve (a relayable
    /// transaction holds far fewer P2PKH inputs than this anyway).
    public static let maxInputs = 600

    public var chain: String
    public var tx: String
    public var rawHex: String
    public var sender: String
    public var spendGuard: SpendGuard

    public init(chain: String, tx: String, rawHex: String, sender: String, spendGuard: SpendGuard) {
        self.chain = chain
        self.tx = tx
        self.rawHex = rawHex
        self.sender = sender
        self.spendGuard = spendGuard
    }

    public init(row: PayoutRow) {
        self.init(
            chain: row.destinationChain, tx: row.tx, rawHex: row.rawTx, sender: row.sender, spendGuard: row.spendGuard)
    }

    public var nonce: UInt64? { spendGuard.nonce }
    public var chainNonce: UInt64? { spendGuard.chainNonce }
    public var inputs: [Coin] { spendGuard.inputs }
    public var change: Coin? { spendGuard.change }

    public func object() -> JSON {
        let object = JSON.object()
        object.set("chain", string: chain)
        object.set("tx", string: tx)
        object.set("raw", string: rawHex)
        object.set("sender", string: sender)
        switch spendGuard {
        case .nonce(let nonce, let chainNonce):
            object.set("nonce", integer: Int64(nonce))
            if let chainNonce { object.set("chain_nonce", integer: Int64(chainNonce)) }
        case .coins(let inputs, let change):
            writeCoins(inputs, change: change, into: object)
        }
        return object
    }

    private func writeCoins(_ inputs: [Coin], change: Coin?, into object: JSON) {
        if !inputs.isEmpty {
            let list = JSON.array()
            for coin in inputs {
                let item = JSON.object()
                item.set("tx", string: coin.tx)
                item.set("vout", integer: Int64(coin.index))
                item.set("value", string: String(coin.value))
                list.append(item)
            }
            object.set("inputs", list)
        }
        if let change {
            let item = JSON.object()
            item.set("vout", integer: Int64(change.index))
            item.set("value", string: String(change.value))
            object.set("change", item)
        }
    }

    public static func read(_ record: JSON) throws(TokError) -> PayoutTx {
        guard let object = record[Field.payoutTx], object.isObject else {
            throw TokError(.missingField, "payout_tx is required")
        }
        func text(_ object: JSON, _ key: String, _ path: String) throws(TokError) -> String {
            guard let value = object.string(at: key), !value.isEmpty else {
                throw TokError(.missingField, "\(path).\(key) is required")
            }
            return value
        }
        func count(_ object: JSON, _ key: String, _ path: String) throws(TokError) -> UInt64? {
            guard let kind = object.kind(at: key), kind != .null else { return nil }
            guard let value = object[key]?.int64Value, value >= 0 else {
                throw TokError(.badFieldType, "\(path).\(key) must be a non-negative integer")
            }
            return UInt64(value)
        }
        let tx = try text(object, "tx", "payout_tx")
        var inputs: [Coin] = []
        if let list = object["inputs"] {
            let elements = list.arrayElements
            guard list.kind == .array, !elements.isEmpty, elements.count <= maxInputs else {
                throw TokError(.badFieldType, "payout_tx.inputs must be a list of 1 to \(maxInputs) coins")
            }
            for (position, element) in elements.enumerated() {
                let path = "payout_tx.inputs[\(position)]"
                guard element.isObject else { throw TokError(.badFieldType, "\(path) must be an object") }
                inputs.append(try Coin.read(element, tx: try text(element, "tx", path), path: path))
            }
        }
        var change: Coin?
        if let item = object["change"], item.kind != .null {
            change = try Coin.read(item, tx: tx, path: "payout_tx.change")
        }
        // Exactly one guard against spending twice: a nonce (account chains) or coins (UTXO chains).
        let spendGuard: SpendGuard
        switch (try count(object, "nonce", "payout_tx"), inputs.isEmpty) {
        case (let nonce?, true):
            spendGuard = .nonce(nonce, chainNonce: try count(object, "chain_nonce", "payout_tx"))
        case (nil, false):
            spendGuard = .coins(inputs: inputs, change: change)
        case (_?, false), (nil, true):
            throw TokError(.conflictingRecord, "payout_tx must name either a nonce or the coins it spends")
        }
        return PayoutTx(
            chain: try text(object, "chain", "payout_tx"), tx: tx, rawHex: try text(object, "raw", "payout_tx"),
            sender: try text(object, "sender", "payout_tx"), spendGuard: spendGuard)
    }

    /// The signed bytes as a SignedPayout for a payout channel.
    public var signedPayout: SignedPayout {
        SignedPayout(txId: tx, rawHex: rawHex, sender: sender, spendGuard: spendGuard.recorded, maxNetworkFee: .zero)
    }
}
