/// `op: record`: a signed off-chain record (a token's mint record, an
/// invoice, an offer; tok-protocol(7), OFF-CHAIN RECORDS), stored by its hash
/// for the anchor that binds it. It changes no balance: anchors do, whether
/// or not their record has arrived.
///
///     {"op":"record","id":"…","record":{"tok":1,"type":"mint",…},"signature":"<base64 signmessage of the hash>"}
///
/// tok-validate checks the schema and the author's signature and writes
/// `validated: {hash, kind, author, chain, expiry_height}`; tok-apply checks
/// both again (a record is taken from any file or peer: nothing upstream is
/// trusted) and stores it once: a second copy is a `duplicate`.
public struct TokenRecordFlow: Flow {
    public init() {}
    public var op: Op { .record }

    enum Key {
        static let record = "record"
        static let signature = "signature"
        static let hash = "hash"
        static let kind = "kind"
        static let author = "author"
        static let chain = "chain"
        static let expiryHeight = "expiry_height"
    }

    public func stages(at status: RecordStatus?) -> FlowStages {
        switch status {
        case nil: return [.validate, .apply]
        case .validated?: return .apply
        case .pending?, .verified?, .credited?, .duplicate?, .answered?, .rejected?, .signed?, .prepared?, .submitted?,
            .confirmed?, .failed?, .inFlight?, .paid?, .rolledBack?, .observed?, .disconnected?, .connected?, .undone?:
            return .none
        }
    }

    /// The record and its signature, both checked.
    static func signedRecord(_ record: JSON) throws(TokError) -> (TokenRecord, String) {
        _ = try RequestResolver.checkRequestId(record)
        guard let body = record[Key.record] else { throw TokError(.missingField, "record is required") }
        let parsed = try TokenRecord.parse(body)
        let signature = try FieldReader(record, path: "").string(Key.signature)
        try parsed.verifySignature(signature)
        return (parsed, signature)
    }

    public func validate(
        _ record: JSON, context: ValidateContext,
        requestLog: UnsafeMutablePointer<[UInt8]>?
    ) throws(TokError) -> Bool {
        let (parsed, _) = try TokenRecordFlow.signedRecord(record)
        let validated = JSON.object()
        validated.set(Key.hash, string: parsed.hash.hex)
        validated.set(Key.kind, string: parsed.kind.rawValue)
        validated.set(Key.author, string: parsed.author.encode(chain: parsed.chain))
        validated.set(Key.chain, string: parsed.chain.chainId.description)
        validated.set(Key.expiryHeight, integer: Int64(parsed.expiryHeight))
        record.set(Field.validated, validated)
        record.set(Field.status, string: RecordStatus.validated.rawValue)
        requestLog?.pointee.append(
            contentsOf:
                "record id=\(record.string(at: Field.id) ?? "") kind=\(parsed.kind.rawValue) hash=\(parsed.hash.hex)"
                .utf8)
        return true
    }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        let (parsed, signature) = try TokenRecordFlow.signedRecord(record)
        guard context.config.network(chain: parsed.chain.chainId) != nil else {
            throw TokError(.unknownNetwork, "network \(parsed.chain.chainId) is not configured")
        }
        let stored = try context.ledger.inRecordSavepoint { () throws(TokError) in
            try context.ledger.storeRecord(parsed, signature: signature, nowMilliseconds: context.nowMilliseconds)
        }
        return Stored(hash: parsed.hash.hex, stored: stored)
    }

    struct Stored: AppliedOutcome {
        let hash: String
        let stored: Bool

        func annotate(_ record: JSON, context: RecordContext) {
            let applied = JSON.object()
            applied.set(AppliedKey.outcome, string: stored ? "stored" : "duplicate")
            applied.set(Key.hash, string: hash)
            record.set(Field.applied, applied)
            record.set(Field.status, string: (stored ? RecordStatus.answered : RecordStatus.duplicate).rawValue)
        }
    }
}

extension Ledger {
    /// Keeps a checked record by its hash; false when it is here already.
    func storeRecord(_ record: TokenRecord, signature: String, nowMilliseconds now: Int64) throws(TokError) -> Bool {
        try guarded {
            let insert = try database.statement(
                """
                INSERT INTO token_records (hash, kind, chain, author, expiry_height, canonical, signature, received_at_ms)
                VALUES (:hash, :kind, :chain, :author, :expiry_height, :canonical, :signature, :now)
                ON CONFLICT (hash) DO NOTHING
                """)
            try insert.bind("hash", record.hash.hex).bind("kind", record.kind.rawValue)
                .bind("chain", record.chain.chainId.description).bind(
                    "author", record.author.encode(chain: record.chain)
                )
                .bind("expiry_height", Int64(record.expiryHeight)).bind("canonical", utf8: record.canonicalJSON)
                .bind("signature", signature).bind("now", now)
            try insert.run()
            return database.changes == 1
        }
    }

    /// The stored record with this hash, parsed again (it was checked when stored).
    func record(hash: String) throws(StoreError) -> (TokenRecord, signature: String)? {
        let query = try database.statement("SELECT canonical, signature FROM token_records WHERE hash = :hash")
        defer { query.reset() }
        try query.bind("hash", hash)
        guard try query.step(), case .success(let json) = JSON.parse(query.text("canonical")),
            let record = try? TokenRecord.parse(json)
        else { return nil }
        return (record, query.text("signature"))
    }

    /// The trimmer: records nothing anchored that can no longer bind (their
    /// expiry height plus `retentionBlocks` is behind the chain) are dropped.
    /// Decided by the chain's height alone, so every instance drops the same ones.
    func trimRecords(chain: String, height: Int64, retentionBlocks: Int64) throws(StoreError) {
        // expiry + retention <= height, written as a range on the bare column so that the delete
        // seeks `token_records_by_expiry` instead of reading every record of the chain at every
        // block. Both are bounded (heights by the chain, retention by the config's range), so
        // the subtraction cannot overflow; a negative cutoff matches nothing, as before.
        let (cutoff, overflow) = height.subtractingReportingOverflow(retentionBlocks)
        precondition(!overflow, "heights and retention are bounded")
        let delete = try database.statement(Ledger.trimRecordsSQL)
        try delete.bind("chain", chain).bind("cutoff", cutoff)
        try delete.run()
    }

    /// The trimmer's delete (MarketLedgerTests checks its plan).
    static let trimRecordsSQL = """
        DELETE FROM token_records WHERE chain = :chain AND expiry_height <= :cutoff
          AND hash NOT IN (SELECT record_hash FROM tokens WHERE chain = :chain)
          AND hash NOT IN (SELECT record_hash FROM invoices WHERE chain = :chain)
        """

    /// Signed records stored after `cursor` (arrival order here), for another
    /// instance to import with `tok-validate | tok-apply`.
    public func exportRecords(after cursor: Int64, limit: Int) throws(TokError) -> [(seq: Int64, line: JSON)] {
        try guarded {
            let query = try database.statement(
                """
                SELECT seq, hash, canonical, signature FROM token_records WHERE seq > :cursor ORDER BY seq LIMIT :limit
                """)
            defer { query.reset() }
            try query.bind("cursor", cursor).bind("limit", Int64(limit))
            var lines: [(seq: Int64, line: JSON)] = []
            while try query.step() {
                guard case .success(let body) = JSON.parse(query.text("canonical")) else { continue }
                let line = JSON.object()
                line.set(Field.op, string: Op.record.rawValue)
                line.set(Field.id, string: "record:" + query.text("hash"))
                line.set(TokenRecordFlow.Key.record, body)
                line.set(TokenRecordFlow.Key.signature, string: query.text("signature"))
                lines.append((query.int64("seq"), line))
            }
            return lines
        }
    }
}
