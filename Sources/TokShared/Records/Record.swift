/// Field names and values shared by every stage. The record format is
/// documented in man/tok.7; keep the two in step.
public enum Field {
    public static let op = "op"
    public static let id = "id"
    public static let status = "status"
    public static let error = "error"
    public static let source = "source"
    public static let destination = "destination"
    public static let deposit = "deposit"
    public static let quantity = "quantity"
    public static let validated = "validated"
    public static let verified = "verified"
    public static let applied = "applied"
    public static let attestation = "attestation"
    public static let input = "input"
    public static let payoutTx = "payout_tx"
    public static let submission = "submission"
}

/// What a request asks for. Unknown ops are rejected by tok-validate.
public enum Op: String, Sendable, CaseIterable {
    case deposit
    case payout
    case transfer
    /// A zero-value transaction from the operator to itself at a nonce the
    /// ledger released, so later payouts are not stuck behind the gap.
    /// Created by `tok-apply --open-payouts`, never by clients.
    case nonceFill = "nonce_fill"
    case balance
    case status
    /// A block tok-follow read from a chain (or saw leave it).
    case block
    /// Lists payments seen in blocks that prove no sender.
    case unattributed
    /// A signed off-chain tokenisation record (mint record, invoice, offer).
    case record
    /// Queries of token state.
    case token
    case tokenBalance = "token_balance"
    case invoice
    case orderBook = "order_book"
    case offer
    case match
}

/// Where a record stands in the flow; each stage handles records in the
/// states it owns and passes every other record through unchanged.
public enum RecordStatus: String, Sendable, CaseIterable {
    case validated  // tok-validate accepted the request
    case pending  // tok-verify found it below the confirmation level
    case verified  // tok-verify proved the deposit and attested it
    case credited  // tok-apply credited the deposit
    case duplicate  // tok-apply had already credited this chain transaction
    case answered  // tok-apply answered a balance or status query
    case rejected  // some stage refused it; see `error`

    // Payouts (and the payout half of transfers).
    case signed  // tok-verify checked the authorisation and signed the destination transaction
    case prepared  // tok-apply locked quantity + fee and recorded the transaction
    case submitted  // tok-submit handed the transaction to the destination chain
    case confirmed  // tok-submit saw it reach the confirmation level
    case failed  // tok-submit saw it fail for good (reverted, or can never be mined)
    case inFlight = "in_flight"  // tok-apply recorded the submission
    case paid  // tok-apply committed: the payout is final
    case rolledBack = "rolled_back"  // tok-apply rolled back: funds unlocked, failure fee charged

    // Blocks.
    case observed  // tok-follow read the block on the node's main chain (attested)
    case disconnected  // tok-follow saw the block leave the main chain (attested)
    case connected  // tok-apply took the block: its events are in the ledger
    case undone  // tok-apply undid the block from its undo data
}

/// The stage names used in `error.stage`.
public enum StageName: String, Sendable {
    case read
    case validate
    case verify
    case apply
    case submit
    case follow

    /// The executable's name, for log lines.
    public var tool: String { "tok-\(rawValue)" }
}

extension JSON {
    public var status: RecordStatus? {
        self[Field.status]?.stringValue.flatMap(RecordStatus.init(rawValue:))
    }

    /// True when the record carries a status this build does not know: it is
    /// passed through untouched, never guessed at.
    public var hasForeignStatus: Bool {
        guard let text = self[Field.status]?.stringValue else { return false }
        return RecordStatus(rawValue: text) == nil
    }

    public var opText: String? { self[Field.op]?.stringValue }

    /// Marks the record rejected, keeping every field it had so nothing is lost.
    public func reject(stage: StageName, _ error: TokError, line: Int? = nil) {
        set(Field.status, string: RecordStatus.rejected.rawValue)
        set(Field.error, RejectionError(stage: stage, error: error, line: line).object())
    }

    /// A rejection record for a line that could not be read as an object.
    /// The raw text is kept (as text when it is UTF-8, else base64) so the
    /// operator can repair and replay it.
    public static func rejectedLine(
        number: Int, error: TokError, raw: ArraySlice<UInt8>?, prefix: [UInt8]? = nil,
        totalBytes: Int? = nil
    ) -> JSON {
        let record = JSON.object()
        record.reject(stage: .read, error, line: number)
        let input = JSON.object()
        input.set("line", integer: Int64(number))
        if let raw {
            // NUL would come out as \u0000, which no stage may read back: base64 then.
            if !raw.contains(0), let text = String(validating: raw, as: UTF8.self) {
                input.set("raw", string: text)
            } else {
                input.set("raw_base64", string: Base64.encode(Array(raw)))
            }
        }
        if let prefix {
            // Cut back to a UTF-8 boundary so the prefix is always valid text.
            var cut = prefix
            while !cut.isEmpty && String(validating: cut, as: UTF8.self) == nil { cut.removeLast() }
            input.set("raw_prefix", string: String(decoding: cut, as: UTF8.self))
        }
        if let totalBytes { input.set("bytes", integer: Int64(totalBytes)) }
        record.set(Field.input, input)
        return record
    }
}
