/// `op: block`: a block tok-follow read from a chain. `observed` (on the
/// node's main chain) → tok-apply connects it; `disconnected` (left the main
/// chain in a reorganisation) → tok-apply undoes it. Both are attested by
/// tok-follow; tok-apply takes no other. tok-verify passes them through.
///
///     {"op":"block","id":"block:<chain>:<height>:<hash>","status":"observed",
///      "block":{…FollowedBlock…},"attestation":{"stage":"follow",…}}
public struct BlockFlow: Flow {
    public init() {}
    public var op: Op { .block }

    static let blockKey = "block"

    public func stages(at status: RecordStatus?) -> FlowStages {
        switch status {
        case .observed?, .disconnected?: return .apply
        case nil, .validated?, .pending?, .verified?, .credited?, .duplicate?, .answered?, .rejected?, .signed?,
            .prepared?,
            .submitted?, .confirmed?, .failed?, .inFlight?, .paid?, .rolledBack?, .connected?, .undone?:
            return .none
        }
    }

    /// A block record as tok-follow writes it.
    public static func record(_ block: FollowedBlock, disconnected: Bool, attestor: Attestor) -> JSON {
        let record = JSON.object()
        record.set(Field.op, string: Op.block.rawValue)
        record.set(Field.id, string: block.recordId)
        record.set(Field.status, string: (disconnected ? RecordStatus.disconnected : .observed).rawValue)
        record.set(blockKey, block.object(identityOnly: disconnected))
        attestor.attest(record, stage: .follow)
        return record
    }

    public func precheck(_ record: JSON, context: RecordContext) -> (any ApplyPrecheck)? {
        BlockPrecheck(block: BlockFlow.attestedBlock(record, context: context))
    }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        let checked = (precheck as? BlockPrecheck)?.block
        let block = try (checked ?? BlockFlow.attestedBlock(record, context: context.recordContext)).get()
        guard let chain = try? ChainId(parsing: block.network), let network = context.config.network(chain: chain)
        else {
            throw TokError(.unknownNetwork, "network \(block.network) is not configured")
        }
        let ledger = context.ledger, now = context.nowMilliseconds
        let outcome: BlockOutcome
        if record.status == .disconnected {
            outcome = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.disconnectBlock(
                    chain: block.network, height: block.height, hash: block.hash, nowMilliseconds: now)
            }
        } else {
            outcome = try ledger.inRecordSavepoint { () throws(TokError) in
                try ledger.connectBlock(block, network: network, config: context.config, nowMilliseconds: now)
            }
        }
        return BlockApplied(outcome: outcome, logLine: BlockFlow.logLine(outcome, network: network))
    }

    /// The attestation is checked first: every field read below is covered by it.
    static func attestedBlock(_ record: JSON, context: RecordContext) -> Swift.Result<FollowedBlock, TokError> {
        do throws(TokError) {
            try context.attestor.check(record, stage: .follow)
            let reader = try FieldReader.section(record, blockKey)
            let block = try FollowedBlock.read(reader, identityOnly: record.status == .disconnected)
            guard record.string(at: Field.id) == block.recordId else {
                throw TokError(.conflictingRecord, "a block record's id is block:<network>:<height>:<hash>")
            }
            return .success(block)
        } catch {
            return .failure(error)
        }
    }

    static func logLine(_ outcome: BlockOutcome, network: NetworkConfig) -> CommittedLogLine? {
        switch outcome {
        case .connected(let row, let credited, let resolved, _):
            CommittedLogLine(
                level: .debug, message: "block connected",
                metadata: [
                    "network": "\(network.alias)", "height": "\(row.height)",
                    "credited": "\(credited)", "resolved": "\(resolved)",
                ])
        case .disconnected(let row, let shortfalls):
            CommittedLogLine(
                level: .notice, message: "block disconnected",
                metadata: [
                    "network": "\(network.alias)", "height": "\(row.height)",
                    "hash": "\(row.hash)", "shortfalls": "\(shortfalls)",
                ])
        case .duplicate:
            nil
        }
    }
}

struct BlockPrecheck: ApplyPrecheck {
    let block: Swift.Result<FollowedBlock, TokError>
}

/// `applied` of a block: `{"outcome":"connected","height","hash","state_hash","credited"}`,
/// `{"outcome":"undone",…,"shortfalls"}` or `{"outcome":"duplicate","reason"}`.
struct BlockApplied: AppliedOutcome {
    let outcome: BlockOutcome
    let logLine: CommittedLogLine?

    func annotate(_ record: JSON, context: RecordContext) {
        logLine?.write(to: context.logger)
        let applied = JSON.object()
        // Taken: nothing downstream may take it again.
        record.remove(Field.attestation)
        switch outcome {
        case .connected(let row, let credited, let resolved, let anchors):
            applied.set(AppliedKey.outcome, string: "connected")
            if !anchors.isEmpty {
                applied.set(
                    "anchors",
                    JSON.array(
                        anchors.map { anchor in
                            let item = JSON.object()
                            item.set("tx", string: anchor.tx)
                            item.set("position", integer: Int64(anchor.position))
                            item.set("outcome", string: anchor.outcome)
                            if let reason = anchor.reason { item.set("reason", string: reason) }
                            return item
                        }))
            }
            applied.set("height", integer: row.height)
            applied.set("hash", string: row.hash)
            applied.set("state_hash", string: row.stateHash)
            applied.set("credited", integer: Int64(credited))
            if resolved > 0 { applied.set("shortfalls_resolved", integer: Int64(resolved)) }
            record.set(Field.status, string: RecordStatus.connected.rawValue)
        case .disconnected(let row, let shortfalls):
            applied.set(AppliedKey.outcome, string: "undone")
            applied.set("height", integer: row.height)
            applied.set("hash", string: row.hash)
            if shortfalls > 0 { applied.set("shortfalls_opened", integer: Int64(shortfalls)) }
            record.set(Field.status, string: RecordStatus.undone.rawValue)
        case .duplicate(let reason):
            applied.set(AppliedKey.outcome, string: "duplicate")
            applied.set("reason", string: reason)
            record.set(Field.status, string: RecordStatus.duplicate.rawValue)
        }
        record.set(Field.applied, applied)
    }
}

/// `{"op":"unattributed","id":…}` → `"unattributed":[{chain, tx, asset, amount, height, block_hash, reason}]`:
/// payments to the receiver that prove no sender, for the operator to resolve
/// (`tok-apply resolve-unattributed`).
public struct UnattributedQueryFlow: Flow {
    public init() {}
    public var op: Op { .unattributed }
    static let limit = 10_000

    public func stages(at status: RecordStatus?) -> FlowStages {
        switch status {
        case nil, .validated?: return .apply
        case .pending?, .verified?, .credited?, .duplicate?, .answered?, .rejected?, .signed?, .prepared?, .submitted?,
            .confirmed?, .failed?, .inFlight?, .paid?, .rolledBack?, .observed?, .disconnected?, .connected?, .undone?:
            return .none
        }
    }

    public func validate(
        _ record: JSON, context: ValidateContext,
        requestLog: UnsafeMutablePointer<[UInt8]>?
    ) throws(TokError) -> Bool {
        let id = try RequestResolver.checkRequestId(record)
        record.set(Field.status, string: RecordStatus.validated.rawValue)
        requestLog?.pointee.append(contentsOf: "unattributed query id=\(id)".utf8)
        return true
    }

    public func apply(
        _ record: JSON, precheck: (any ApplyPrecheck)?, context: ApplyContext
    ) throws(TokError) -> any AppliedOutcome {
        _ = try RequestResolver.checkRequestId(record)
        return Answer(payments: try context.ledger.unattributedPayments(limit: UnattributedQueryFlow.limit))
    }

    struct Answer: AppliedOutcome {
        let payments: [UnattributedPayment]

        func annotate(_ record: JSON, context: RecordContext) {
            record.set(
                "unattributed",
                JSON.array(
                    payments.map { payment in
                        let item = JSON.object()
                        item.set("chain", string: payment.chain)
                        item.set("tx", string: payment.tx)
                        item.set("asset", string: payment.asset)
                        item.set("amount", string: payment.amount.description)
                        item.set("height", integer: payment.height)
                        item.set("block_hash", string: payment.blockHash)
                        item.set("reason", string: payment.reason)
                        return item
                    }))
            record.set(Field.status, string: RecordStatus.answered.rawValue)
        }
    }
}
