/// The `submission` object tok-submit writes and attests: what the
/// destination chain did with a prepared payout's transaction.
///   submitted: `{"state","tx"}`
///   confirmed: `{"block_hash","block_number","confirmations","required_confirmations","tx"}`
///   failed:    `{"reason","nonce_consumed","tx"}`
public struct Submission: Sendable, Equatable {
    public enum Key {
        public static let tx = "tx"
        public static let state = "state"
        public static let blockHash = "block_hash"
        public static let blockNumber = "block_number"
        public static let confirmations = "confirmations"
        public static let requiredConfirmations = "required_confirmations"
        public static let reason = "reason"
        public static let nonceConsumed = "nonce_consumed"
    }

    public enum Outcome: Sendable, Equatable {
        /// Handed to the node (or in flight): `note` says where it stands.
        case submitted(note: String)
        case confirmed(blockHash: String, blockNumber: Int64, confirmations: Int64, requiredConfirmations: Int64)
        /// It can never pay. `nonceConsumed`: another transaction used its nonce or inputs.
        case failed(reason: String, nonceConsumed: Bool)

        /// The record status that carries it.
        public var status: RecordStatus {
            switch self {
            case .submitted: return .submitted
            case .confirmed: return .confirmed
            case .failed: return .failed
            }
        }
    }

    public var tx: String
    public var outcome: Outcome

    public init(tx: String, outcome: Outcome) {
        self.tx = tx
        self.outcome = outcome
    }

    public func object() -> JSON {
        let object = JSON.object()
        switch outcome {
        case .submitted(let note):
            object.set(Key.state, string: note)
        case .confirmed(let blockHash, let blockNumber, let confirmations, let required):
            object.set(Key.blockHash, string: blockHash)
            object.set(Key.blockNumber, integer: blockNumber)
            object.set(Key.confirmations, integer: confirmations)
            object.set(Key.requiredConfirmations, integer: required)
        case .failed(let reason, let nonceConsumed):
            object.set(Key.reason, string: reason)
            object.set(Key.nonceConsumed, bool: nonceConsumed)
        }
        object.set(Key.tx, string: tx)
        return object
    }

    /// Reads the submission of a record in `status` (submitted, confirmed or failed).
    public static func read(_ record: JSON, status: RecordStatus) throws(TokError) -> Submission {
        let reader = try FieldReader.section(record, Field.submission)
        let tx = try reader.optionalString(Key.tx) ?? ""
        switch status {
        case .confirmed:
            guard reader.has(Key.blockHash), reader.has(Key.blockNumber), reader.has(Key.confirmations) else {
                throw TokError(.missingField, "a confirmed submission needs block_hash, block_number and confirmations")
            }
            return Submission(
                tx: tx,
                outcome: .confirmed(
                    blockHash: try reader.string(Key.blockHash), blockNumber: try reader.count(Key.blockNumber),
                    confirmations: try reader.count(Key.confirmations),
                    requiredConfirmations: try reader.optionalCount(Key.requiredConfirmations) ?? 0))
        case .failed:
            return Submission(
                tx: tx,
                outcome: .failed(
                    reason: try reader.optionalString(Key.reason) ?? "failed on chain",
                    nonceConsumed: try reader.bool(Key.nonceConsumed, default: true)))
        case .submitted:
            return Submission(tx: tx, outcome: .submitted(note: try reader.optionalString(Key.state) ?? "submitted"))
        case .validated, .pending, .verified, .credited, .duplicate, .answered, .rejected, .signed, .prepared,
            .inFlight,
            .paid, .rolledBack, .observed, .disconnected, .connected, .undone:
            throw TokError(.internalError, "a record in status \(status.rawValue) carries no submission to read")
        }
    }
}
