/// The `verified` object tok-verify writes on a deposit (and a transfer's
/// deposit half) and attests: what the source chain showed.
///   below the level: `{"confirmations","required_confirmations"}` (status pending)
///   at the level:    `{"amount","credited","block_hash","block_number","outputs"?,"confirmations","required_confirmations"}`
/// `amount` is in the chain's base units; `credited` is the same amount in
/// the token's ledger units, what tok-apply will credit (it converts again and
/// refuses a record whose `credited` disagrees). `outputs` (UTXO chains) are
/// the transaction's outputs to the receiver, which join the coin pool.
public struct DepositVerification: Sendable, Equatable {
    public enum Key {
        public static let amount = "amount"
        public static let credited = "credited"
        public static let blockHash = "block_hash"
        public static let blockNumber = "block_number"
        public static let outputs = "outputs"
        public static let vout = "vout"
        public static let value = "value"
        public static let confirmations = "confirmations"
        public static let requiredConfirmations = "required_confirmations"
    }

    /// The proven payment, once the transaction is mined (nil while it is not).
    public struct Payment: Sendable, Equatable {
        public var amount: UInt256
        /// Ledger units; nil on records written before tok-verify wrote it.
        public var credited: UInt256?
        public var blockHash: String
        public var blockNumber: Int64
        public var outputs: [Coin]
    }

    public var payment: Payment?
    public var confirmations: Int64
    public var requiredConfirmations: Int64

    public var isFinal: Bool { payment != nil && confirmations >= requiredConfirmations }

    public init(payment: Payment?, confirmations: Int64, requiredConfirmations: Int64) {
        self.payment = payment
        self.confirmations = confirmations
        self.requiredConfirmations = requiredConfirmations
    }

    /// What tok-verify found; `credited` only once it is final.
    public init(_ finding: DepositFinding, tx: String, credited: UInt256?) {
        let payment =
            finding.confirmations > 0
            ? Payment(
                amount: finding.amount, credited: credited, blockHash: finding.blockHash,
                blockNumber: Int64(finding.blockNumber), outputs: finding.coins)
            : nil
        self.init(
            payment: payment, confirmations: Int64(finding.confirmations),
            requiredConfirmations: Int64(finding.requiredConfirmations))
    }

    public func object() -> JSON {
        let object = JSON.object()
        if let payment {
            object.set(Key.amount, string: payment.amount.description)
            if let credited = payment.credited { object.set(Key.credited, string: credited.description) }
            object.set(Key.blockHash, string: payment.blockHash)
            object.set(Key.blockNumber, integer: payment.blockNumber)
            if !payment.outputs.isEmpty {
                let outputs = JSON.array()
                for coin in payment.outputs {
                    let output = JSON.object()
                    output.set(Key.vout, integer: Int64(coin.index))
                    output.set(Key.value, string: String(coin.value))
                    outputs.append(output)
                }
                object.set(Key.outputs, outputs)
            }
        }
        object.set(Key.confirmations, integer: confirmations)
        object.set(Key.requiredConfirmations, integer: requiredConfirmations)
        return object
    }

    /// Reads a final verification (what tok-apply credits): a non-zero amount at
    /// or above the required confirmations, outputs (if any) adding up to it.
    public static func readFinal(_ reader: FieldReader, tx: String) throws(TokError) -> DepositVerification {
        let amount = try reader.amount(Key.amount)
        guard !amount.isZero else { throw TokError(.notVerified, "\(reader.pathOf(Key.amount)) is zero") }
        let confirmations = try reader.count(Key.confirmations)
        let required = try reader.count(Key.requiredConfirmations)
        guard confirmations >= required else {
            throw TokError(
                .notVerified, "\(reader.pathOf(Key.confirmations)) \(confirmations) is below the required \(required)")
        }
        var outputs: [Coin] = []
        if let elements = try reader.optionalArray(Key.outputs, limit: PayoutTx.maxInputs) {
            var total = UInt256.zero
            for (position, element) in elements.enumerated() {
                let coin = try Coin.read(element, tx: tx, path: "\(reader.pathOf(Key.outputs))[\(position)]")
                outputs.append(coin)
                total = total.adding(UInt256(coin.value)) ?? .max
            }
            guard total == amount else {
                throw TokError(
                    .notVerified, "\(reader.pathOf(Key.outputs)) add up to \(total), the verified amount is \(amount)")
            }
        }
        let payment = Payment(
            amount: amount, credited: try reader.optionalAmount(Key.credited),
            blockHash: try reader.string(Key.blockHash), blockNumber: try reader.count(Key.blockNumber),
            outputs: outputs)
        return DepositVerification(payment: payment, confirmations: confirmations, requiredConfirmations: required)
    }
}
