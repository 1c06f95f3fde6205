/// The `block` object of a block record: one block tok-follow read from a
/// chain, with the events tok cares about in it and the facts needed to judge
/// them, attested by tok-follow. A disconnected block carries only its
/// identity (`network`, `height`, `hash`, `previous_hash`).
///
///     {"network":"bip122:…","height":812,"hash":"…","previous_hash":"…","time":1767225600,
///      "payments":[{"tx":"…","asset":"bip122:…/slip44:3","amount":"250000000",
///                   "outputs":[{"vout":0,"value":"250000000"}],"sender":"n…"}],
///      "spends":[{"outpoint":"txid:1","tx":"…","input":0}],
///      "anchors":[{"tx":"…","position":3,"output":0,"actor":"n…","sighash_all":true,
///                  "outputs":[{"script":"6a4cfe0001fe…","value":"0"},…]}]}
public struct FollowedBlock: Sendable, Equatable {
    public enum Key {
        public static let network = "network"
        public static let height = "height"
        public static let hash = "hash"
        public static let previousHash = "previous_hash"
        public static let time = "time"
        public static let payments = "payments"
        public static let spends = "spends"
        public static let anchors = "anchors"
    }

    /// Bounds what one record may ask tok-apply to do (and its line length):
    /// a block with more is refused by tok-follow, not cut short.
    public static let maxEventsPerKind = 2_000

    /// CAIP-2 of the chain.
    public var network: String
    public var height: Int64
    public var hash: String
    public var previousHash: String
    public var timeUnixSeconds: Int64
    public var payments: [DetectedPayment]
    public var spends: [CoinSpend]
    public var anchors: [AnchorEvent]

    public init(
        network: String, height: Int64, hash: String, previousHash: String, timeUnixSeconds: Int64,
        payments: [DetectedPayment] = [], spends: [CoinSpend] = [], anchors: [AnchorEvent] = []
    ) {
        self.network = network
        self.height = height
        self.hash = hash
        self.previousHash = previousHash
        self.timeUnixSeconds = timeUnixSeconds
        self.payments = payments
        self.spends = spends
        self.anchors = anchors
    }

    /// The record id of this block's record: stable, so a replay is a duplicate.
    public var recordId: String { "block:\(network):\(height):\(hash)" }

    public func object(identityOnly: Bool = false) -> JSON {
        let object = JSON.object()
        object.set(Key.network, string: network)
        object.set(Key.height, integer: height)
        object.set(Key.hash, string: hash)
        object.set(Key.previousHash, string: previousHash)
        if identityOnly { return object }
        object.set(Key.time, integer: timeUnixSeconds)
        object.set(Key.payments, JSON.array(payments.map { $0.object() }))
        object.set(Key.spends, JSON.array(spends.map { $0.object() }))
        object.set(Key.anchors, JSON.array(anchors.map { $0.object() }))
        return object
    }

    /// Reads a connected block (`identityOnly`: a disconnected one, which carries no events).
    public static func read(_ reader: FieldReader, identityOnly: Bool = false) throws(TokError) -> FollowedBlock {
        let height = try reader.count(Key.height)
        var block = FollowedBlock(
            network: try reader.string(Key.network), height: height, hash: try reader.string(Key.hash),
            previousHash: try reader.string(Key.previousHash), timeUnixSeconds: 0)
        if identityOnly { return block }
        block.timeUnixSeconds = try reader.count(Key.time)
        block.payments = try elements(reader, Key.payments).map { (item) throws(TokError) in
            try DetectedPayment.read(item)
        }
        block.spends = try elements(reader, Key.spends).map { (item) throws(TokError) in try CoinSpend.read(item) }
        block.anchors = try elements(reader, Key.anchors).map { (item) throws(TokError) in try AnchorEvent.read(item) }
        return block
    }

    static func elements(_ reader: FieldReader, _ key: String) throws(TokError) -> [FieldReader] {
        let elements = try reader.optionalArray(key, limit: maxEventsPerKind) ?? []
        return try elements.enumerated().map { (position, element) throws(TokError) -> FieldReader in
            guard element.isObject else {
                throw TokError(.badFieldType, "\(reader.pathOf(key))[\(position)] must be an object")
            }
            return FieldReader(element, path: "\(reader.pathOf(key))[\(position)]")
        }
    }
}

/// A payment to the operator's receiver seen in a block. `amount` is the
/// chain's base units (the sum of `outputs` on UTXO chains). `sender` is the
/// one address every input spends from (UTXO) or the transaction's / log's
/// sender (EVM); nil when the transaction does not prove one, and
/// `unproven` then says why (UTXO: `coinbase`, `mixed_inputs`, `non_standard_input`;
/// EVM: `mixed_senders`, `non_standard_sender`, `mint`). EVM payments have no `outputs`.
public struct DetectedPayment: Sendable, Equatable {
    public var tx: String
    /// CAIP-19 of the asset paid.
    public var asset: String
    public var amount: UInt256
    public var outputs: [Coin]
    public var sender: String?
    public var unproven: String?

    public init(tx: String, asset: String, amount: UInt256, outputs: [Coin], sender: String?, unproven: String?) {
        self.tx = tx
        self.asset = asset
        self.amount = amount
        self.outputs = outputs
        self.sender = sender
        self.unproven = unproven
    }

    func object() -> JSON {
        let object = JSON.object()
        object.set("tx", string: tx)
        object.set("asset", string: asset)
        object.set("amount", string: amount.description)
        if !outputs.isEmpty { object.set("outputs", Coin.outputsArray(outputs)) }
        if let sender { object.set("sender", string: sender) } else { object.set("sender", .null()) }
        if let unproven { object.set("unproven", string: unproven) }
        return object
    }

    static func read(_ reader: FieldReader) throws(TokError) -> DetectedPayment {
        let tx = try reader.string("tx")
        var outputs: [Coin] = []
        for (position, element) in (try reader.optionalArray("outputs", limit: PayoutTx.maxInputs) ?? []).enumerated() {
            outputs.append(try Coin.read(element, tx: tx, path: "\(reader.pathOf("outputs"))[\(position)]"))
        }
        let payment = DetectedPayment(
            tx: tx, asset: try reader.string("asset"), amount: try reader.amount("amount"),
            outputs: outputs, sender: try reader.optionalString("sender"),
            unproven: try reader.optionalString("unproven"))
        guard !payment.amount.isZero else { throw TokError(.badFieldType, "\(reader.pathOf("amount")) is zero") }
        guard (payment.sender == nil) == (payment.unproven != nil) else {
            throw TokError(.badFieldType, "\(reader.path) names a sender or why it has none, exactly one of them")
        }
        return payment
    }
}

/// An input in a block spending an output that pays the operator (a coin of
/// its pool, or one it saw paid to it): `outpoint` "txid:vout", spent by `tx`.
public struct CoinSpend: Sendable, Equatable {
    public var outpoint: String
    public var tx: String
    public var input: Int

    public init(outpoint: String, tx: String, input: Int) {
        self.outpoint = outpoint
        self.tx = tx
        self.input = input
    }

    func object() -> JSON {
        let object = JSON.object()
        object.set("outpoint", string: outpoint)
        object.set("tx", string: tx)
        object.set("input", integer: Int64(input))
        return object
    }

    static func read(_ reader: FieldReader) throws(TokError) -> CoinSpend {
        CoinSpend(
            outpoint: try reader.string("outpoint"), tx: try reader.string("tx"), input: Int(try reader.count("input")))
    }
}

/// A transaction with an OP_RETURN output carrying the tokenisation envelope
/// (0xFE0001FE), found in the scripts' bytes (never in `asm`). `output` is the
/// envelope's output; `position` the transaction's index in its block (a
/// token's id is a chain position); `actor` the address input 0 spends from
/// (nil when that is not a P2PKH/P2SH output) and `sighashAll` whether input
/// 0's signature commits to every input and output; `outputs` are all the
/// transaction's outputs (the envelope's script among them), for the message,
/// its payments and its named parties.
public struct AnchorEvent: Sendable, Equatable {
    public struct Output: Sendable, Equatable {
        public var script: [UInt8]
        public var value: UInt64
    }

    public var tx: String
    public var position: Int
    public var output: Int
    public var actor: String?
    public var sighashAll: Bool
    public var outputs: [Output]

    public init(tx: String, position: Int, output: Int, actor: String?, sighashAll: Bool, outputs: [Output]) {
        self.tx = tx
        self.position = position
        self.output = output
        self.actor = actor
        self.sighashAll = sighashAll
        self.outputs = outputs
    }

    func object() -> JSON {
        let object = JSON.object()
        object.set("tx", string: tx)
        object.set("position", integer: Int64(position))
        object.set("output", integer: Int64(output))
        if let actor { object.set("actor", string: actor) } else { object.set("actor", .null()) }
        object.set("sighash_all", bool: sighashAll)
        object.set(
            "outputs",
            JSON.array(
                outputs.map { output in
                    let item = JSON.object()
                    item.set("script", string: Hex.encode(output.script))
                    item.set("value", string: String(output.value))
                    return item
                }))
        return object
    }

    /// At most this many outputs per anchoring transaction are carried.
    public static let maxOutputs = 256

    static func read(_ reader: FieldReader) throws(TokError) -> AnchorEvent {
        var outputs: [Output] = []
        for (position, element) in (try reader.optionalArray("outputs", limit: maxOutputs) ?? []).enumerated() {
            let item = FieldReader(element, path: "\(reader.pathOf("outputs"))[\(position)]")
            guard let script = Hex.decode(try item.optionalString("script") ?? ""), script.count <= 10_000,
                let value = UInt64(try item.string("value"))
            else {
                throw TokError(.badFieldType, "\(item.path) must carry a hex script and a base-unit value")
            }
            outputs.append(Output(script: script, value: value))
        }
        let output = Int(try reader.count("output"))
        guard output < outputs.count else {
            throw TokError(.badFieldType, "\(reader.pathOf("output")) is not one of its outputs")
        }
        return AnchorEvent(
            tx: try reader.string("tx"), position: Int(try reader.count("position")), output: output,
            actor: try reader.optionalString("actor"), sighashAll: try reader.bool("sighash_all", default: false),
            outputs: outputs)
    }
}

extension Coin {
    /// `[{"vout":…,"value":"…"}]`, as records carry a transaction's outputs.
    static func outputsArray(_ coins: [Coin]) -> JSON {
        JSON.array(
            coins.map { coin in
                let output = JSON.object()
                output.set("vout", integer: Int64(coin.index))
                output.set("value", string: String(coin.value))
                return output
            })
    }
}

extension JSON {
    /// An array of the given values.
    static func array(_ values: [JSON]) -> JSON {
        let array = JSON.array()
        for value in values { array.append(value) }
        return array
    }
}
