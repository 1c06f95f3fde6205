/// The chains tok-apply follows (migration 3): every block it took, in the
/// same transaction as the state that block changed; connect with undo data,
/// disconnect by replaying it backwards (Bitcoin Core's ConnectBlock /
/// DisconnectBlock are the model).
///
/// What a block changes:
///   - payments to the receiver in it are recorded (`detected_payments`),
///     pending, or unattributed when the transaction proves no sender;
///   - spends of the operator's free coins in it mark them spent at once;
///   - tokenisation anchors in it are recorded with their decoding's outcome;
///   - payments that reach the network's confirmation level with it mature:
///     credited to the proven sender under `auto:<chain>:<tx>` (native coin)
///     or `auto:<chain>:<tx>:<asset reference>` (a token), unless that
///     payment is credited already (by a request, or before a reorg); the
///     (chain, tx, asset) key keeps it exactly once either way, and each
///     asset one transaction pays (a batching contract's) is credited once.
/// Disconnecting a block undoes all of that but one thing: a credit stays
/// while the payment's own block stays on the chain (a reorganisation
/// shallower than the level never takes money back). When the payment's own
/// block goes, a credited payment becomes a recorded shortfall: the account's
/// payouts are refused until the transaction is mined again (which resolves
/// it) or the operator resolves it.
///
/// Each block's `facts` (canonical JSON of what it changed, as the chain alone
/// decides it) are hashed into a chained per-block state hash, so two
/// instances that followed the same chain can prove they agree.
public struct ChainBlockRow: Sendable, Equatable {
    public var chain: String
    public var height: Int64
    public var hash: String
    public var previousHash: String
    public var stateHash: String
}

/// What became of one tokenisation anchor in a block.
public struct AnchorOutcomeRow: Sendable, Equatable {
    public var tx: String
    public var position: Int
    /// recorded | invalid | unsupported
    public var outcome: String
    public var reason: String?
}

/// What applying a block record did.
public enum BlockOutcome: Sendable, Equatable {
    case connected(ChainBlockRow, credited: Int, shortfallsResolved: Int, anchors: [AnchorOutcomeRow])
    case disconnected(ChainBlockRow, shortfallsOpened: Int)
    /// Nothing to do: the block is already connected (or already gone).
    case duplicate(String)
}

/// A payment the ledger saw in a block and could not give to anyone.
public struct UnattributedPayment: Sendable, Equatable {
    public var chain: String
    public var tx: String
    public var asset: String
    public var amount: UInt256
    public var height: Int64
    public var blockHash: String
    public var reason: String
}

extension Ledger {
    static let chainGenesis = String(repeating: "0", count: 64)

    // MARK: Position (read by tok-follow)

    /// The newest block the ledger took on `chain`.
    public func chainTip(chain: String) throws(TokError) -> ChainBlockRow? {
        try recentBlocks(chain: chain, limit: 1).first
    }

    /// The newest `limit` blocks taken on `chain`, newest first.
    public func recentBlocks(chain: String, limit: Int) throws(TokError) -> [ChainBlockRow] {
        precondition(limit > 0)
        return try guarded {
            let query = try database.statement("""
                SELECT chain, height, hash, previous_hash, state_hash FROM chain_blocks WHERE chain = :chain
                ORDER BY height DESC LIMIT :limit
                """)
            defer { query.reset() }
            try query.bind("chain", chain).bind("limit", Int64(limit))
            var rows: [ChainBlockRow] = []
            while try query.step() { rows.append(Ledger.blockRow(query)) }
            return rows
        }
    }

    /// Every chain's tip and block count (`tok-apply chain-status`).
    public func chainStatus() throws(TokError) -> [(tip: ChainBlockRow, blocks: Int64)] {
        try guarded {
            let query = try database.statement("""
                SELECT b.chain AS chain, b.height AS height, b.hash AS hash, b.previous_hash AS previous_hash,
                       b.state_hash AS state_hash, c.blocks AS blocks
                FROM chain_blocks b
                JOIN (SELECT chain, max(height) AS top, count(*) AS blocks FROM chain_blocks GROUP BY chain) c
                  ON c.chain = b.chain AND c.top = b.height
                ORDER BY b.chain
                """)
            defer { query.reset() }
            var rows: [(tip: ChainBlockRow, blocks: Int64)] = []
            while try query.step() { rows.append((Ledger.blockRow(query), query.int64("blocks"))) }
            return rows
        }
    }

    /// Outpoints of the operator's coins on `chain` that are not spent, for
    /// tok-follow to report their spends.
    public func watchedCoins(chain: String) throws(TokError) -> [String] {
        try guarded {
            let query = try database.statement("SELECT tx, vout FROM utxos WHERE chain = :chain AND state <> 'spent'")
            defer { query.reset() }
            try query.bind("chain", chain)
            var outpoints: [String] = []
            while try query.step() { outpoints.append("\(query.text("tx")):\(query.int64("vout"))") }
            return outpoints
        }
    }

    public func unattributedPayments(limit: Int) throws(TokError) -> [UnattributedPayment] {
        try guarded {
            let query = try database.statement("""
                SELECT chain, tx, asset, amount, height, block_hash, unproven FROM detected_payments
                WHERE state = 'unattributed' ORDER BY chain, height, tx LIMIT :limit
                """)
            defer { query.reset() }
            try query.bind("limit", Int64(limit))
            var rows: [UnattributedPayment] = []
            while try query.step() {
                rows.append(UnattributedPayment(
                    chain: query.text("chain"), tx: query.text("tx"), asset: query.text("asset"),
                    amount: try Ledger.storedAmount(query.text("amount")), height: query.int64("height"),
                    blockHash: query.text("block_hash"), reason: query.optionalText("unproven") ?? "unknown"))
            }
            return rows
        }
    }

    static func blockRow(_ query: any DatabaseStatement) -> ChainBlockRow {
        ChainBlockRow(chain: query.text("chain"), height: query.int64("height"), hash: query.text("hash"),
                      previousHash: query.text("previous_hash"), stateHash: query.text("state_hash"))
    }

    // MARK: Connect

    /// Takes the next block of `network`'s chain. Checks: not taken already
    /// (else `duplicate`); it extends the stored tip (its previous hash is the
    /// tip's, its height the next), or, on a ledger that has taken none of this
    /// network's blocks, it is at `follow_start_height` (else `not_next_block`,
    /// retryable: tok-follow continues from the stored tip).
    public func connectBlock(_ block: FollowedBlock, network: NetworkConfig, config: TokConfig,
                             nowMilliseconds now: Int64) throws(TokError) -> BlockOutcome {
        try guarded {
            // Checks.
            precondition(block.network == network.chainText, "the block is the network's")
            if try blockRow(chain: block.network, hash: block.hash) != nil {
                return .duplicate("block \(block.hash) at height \(block.height) is already connected")
            }
            let tip = try chainTip(chain: block.network)
            try checkExtends(tip, block, network: network)

            // Writes: every check passed.
            var writer = BlockWriter(ledger: self, block: block, network: network, config: config, now: now)
            // Expiries run at the start of the block, before its transactions.
            try writer.expireInvoices()
            try writer.expireMarket()
            try writer.recordPayments()
            try writer.recordSpends()
            try writer.recordAnchors()
            let level = block.height - Int64(network.confirmations) + 1
            try writer.matureUpTo(height: level)
            try writer.settleInvoices(upTo: level)
            try writer.settleMatches(upTo: level)
            let row = try writer.finish(previousStateHash: tip?.stateHash ?? Ledger.chainGenesis)
            try trimRecords(chain: block.network, height: block.height, retentionBlocks: Int64(network.recordRetentionBlocks))

            // Postconditions: the block is the new tip, and nothing below the level is left pending.
            guard let newTip = try chainTip(chain: block.network) else { preconditionFailure("a connected block is stored") }
            precondition(newTip == row && newTip.previousHash == block.previousHash, "the block is the chain's tip")
            let stillPending = try pendingPayments(chain: block.network, upTo: block.height - Int64(network.confirmations) + 1)
            precondition(stillPending.isEmpty, "every payment at the confirmation level matured")
            return .connected(row, credited: writer.creditedCount, shortfallsResolved: writer.shortfallsResolved,
                              anchors: writer.anchorOutcomes)
        }
    }

    private func checkExtends(_ tip: ChainBlockRow?, _ block: FollowedBlock, network: NetworkConfig) throws {
        guard let tip else {
            guard let start = network.followStartHeight else {
                throw TokError(.notNextBlock, "network \(network.alias) has no follow_start_height: the ledger takes no block of it")
            }
            guard block.height == start else {
                throw TokError(.notNextBlock, "the ledger has no block of \(network.alias) yet and starts at height \(start), not \(block.height)")
            }
            return
        }
        guard block.height == tip.height + 1, block.previousHash == tip.hash else {
            throw TokError(.notNextBlock, "block \(block.hash) at height \(block.height) does not extend the ledger's tip \(tip.hash) at height \(tip.height); rerun tok-follow")
        }
    }

    func blockRow(chain: String, hash: String) throws(StoreError) -> ChainBlockRow? {
        let query = try database.statement("""
            SELECT chain, height, hash, previous_hash, state_hash FROM chain_blocks WHERE chain = :chain AND hash = :hash
            """)
        defer { query.reset() }
        try query.bind("chain", chain).bind("hash", hash)
        return try query.step() ? Ledger.blockRow(query) : nil
    }

    /// Detected payments still waiting at or below `height` (oldest first).
    func pendingPayments(chain: String, upTo height: Int64) throws(StoreError) -> [DetectedRow] {
        let query = try database.statement("""
            SELECT chain, tx, asset, block_hash, height, amount, sender, outputs, state, request_id FROM detected_payments
            WHERE chain = :chain AND state = 'pending' AND height <= :height ORDER BY height, tx, asset
            """)
        defer { query.reset() }
        try query.bind("chain", chain).bind("height", height)
        var rows: [DetectedRow] = []
        while try query.step() { rows.append(try DetectedRow(query)) }
        return rows
    }

    // MARK: Disconnect

    /// Takes the tip block off `chain`, undoing what it changed in reverse
    /// order from its undo data, each step checked against the ledger. Checks:
    /// the block is connected (else `duplicate`) and it is the tip (else
    /// `not_next_block`: blocks leave newest first).
    public func disconnectBlock(chain: String, height: Int64, hash: String,
                                nowMilliseconds now: Int64) throws(TokError) -> BlockOutcome {
        try guarded {
            // Checks.
            guard let row = try blockRow(chain: chain, hash: hash) else {
                return .duplicate("block \(hash) is not connected")
            }
            guard let tip = try chainTip(chain: chain), tip.hash == hash, row.height == height else {
                throw TokError(.notNextBlock, "block \(hash) at height \(height) is not the tip of \(chain); blocks are disconnected newest first")
            }
            let steps = try undoSteps(chain: chain, height: height)

            // Writes, each checked against what connecting recorded.
            var undoer = BlockUndoer(ledger: self, row: row, now: now)
            for step in steps.reversed() { try undoer.undo(step) }
            try deleteBlock(chain: chain, height: height)
            let body = JSON.object()
            body.set("chain", string: chain)
            body.set("height", integer: height)
            body.set("hash", string: hash)
            body.set("shortfalls_opened", integer: Int64(undoer.shortfallsOpened))
            appendAudit(kind: "block_disconnected", requestId: "block:\(chain):\(height):\(hash)", body: body, now: now)

            // Postconditions: the previous block is the tip again, and the undo data is gone.
            let newTip = try chainTip(chain: chain)
            precondition(newTip.map { $0.height == height - 1 && $0.hash == row.previousHash } ?? true,
                         "the block's parent (or nothing) is the tip")
            let leftover = try undoSteps(chain: chain, height: height)
            precondition(leftover.isEmpty, "the block's undo data is consumed")
            return .disconnected(row, shortfallsOpened: undoer.shortfallsOpened)
        }
    }

    struct UndoStep {
        var seq: Int64
        var kind: String
        var body: JSON
    }

    func undoSteps(chain: String, height: Int64) throws(StoreError) -> [UndoStep] {
        let query = try database.statement("""
            SELECT seq, kind, body FROM block_undo WHERE chain = :chain AND height = :height ORDER BY seq
            """)
        defer { query.reset() }
        try query.bind("chain", chain).bind("height", height)
        var steps: [UndoStep] = []
        while try query.step() {
            guard case .success(let body) = JSON.parse(query.text("body")), body.isObject else {
                throw StoreError(.unusable, "undo data of block \(height) on \(chain) is not JSON")
            }
            steps.append(UndoStep(seq: query.int64("seq"), kind: query.text("kind"), body: body))
        }
        return steps
    }

    private func deleteBlock(chain: String, height: Int64) throws(StoreError) {
        let undo = try database.statement("DELETE FROM block_undo WHERE chain = :chain AND height = :height")
        try undo.bind("chain", chain).bind("height", height)
        try undo.run()
        let block = try database.statement("DELETE FROM chain_blocks WHERE chain = :chain AND height = :height")
        try block.bind("chain", chain).bind("height", height)
        try block.run()
        precondition(database.changes == 1, "the disconnected block is deleted")
    }

    /// Whether `account` has a shortfall nobody resolved yet: its payouts are refused until then.
    func hasOpenShortfall(account: String) throws(StoreError) -> Bool {
        let query = try database.statement("SELECT 1 AS open FROM shortfalls WHERE account = :account AND state = 'open' LIMIT 1")
        defer { query.reset() }
        try query.bind("account", account)
        return try query.step()
    }
}

/// A row of `detected_payments`.
struct DetectedRow {
    var chain: String
    var tx: String
    var asset: String
    var blockHash: String
    var height: Int64
    var amount: UInt256
    var sender: String?
    var outputs: [Coin]
    var state: String
    var requestId: String?

    init(_ query: any DatabaseStatement) throws(StoreError) {
        chain = query.text("chain")
        tx = query.text("tx")
        asset = query.text("asset")
        blockHash = query.text("block_hash")
        height = query.int64("height")
        amount = try Ledger.storedAmount(query.text("amount"))
        sender = query.optionalText("sender")
        state = query.text("state")
        requestId = query.optionalText("request_id")
        outputs = []
        guard case .success(let list) = JSON.parse(query.text("outputs")), list.kind == .array else {
            throw StoreError(.unusable, "detected payment \(tx) has outputs that are not JSON")
        }
        for element in list.arrayElements {
            guard let vout = element["vout"]?.int64Value, let text = element.string(at: "value"), let value = UInt64(text) else {
                throw StoreError(.unusable, "detected payment \(tx) has a malformed output")
            }
            outputs.append(Coin(tx: tx, index: UInt32(vout), value: value))
        }
    }
}

// MARK: Operator resolutions

extension Ledger {
    /// The request id of a deposit tok-follow found without a request.
    static func automaticDepositId(chain: String, tx: String, asset: AssetType) -> String {
        perAssetDepositId("auto", chain: chain, tx: tx, asset: asset)
    }

    /// `<prefix>:<chain>:<tx>` in the network's native coin: the id such a
    /// deposit had when a transaction was one deposit, so stored ids stay
    /// valid; `<prefix>:<chain>:<tx>:<asset reference>` in a token, so each
    /// asset one transaction pays is a request of its own.
    static func perAssetDepositId(_ prefix: String, chain: String, tx: String, asset: AssetType) -> String {
        let id = prefix + ":" + chain + ":" + tx
        return asset.assetNamespace == "slip44" ? id : id + ":" + asset.assetReference
    }

    /// The operator gives an unattributed payment (one whose transaction proves
    /// no sender) to `account`, once it is at the network's level: credited
    /// under `resolved:<chain>:<tx>` (`resolved:<chain>:<tx>:<asset reference>`
    /// in a token), exactly once like any deposit. Checks: the payment is
    /// recorded as unattributed (in `asset`, CAIP-19, which must be named when
    /// the transaction has several), its block is deep enough, the account is
    /// on the payment's chain.
    public func resolveUnattributed(network: NetworkConfig, config: TokConfig, tx: String, asset: String? = nil,
                                    account: String, nowMilliseconds now: Int64) throws(TokError) -> DepositOutcome {
        try guarded {
            let query = try database.statement("""
                SELECT chain, tx, asset, block_hash, height, amount, sender, outputs, state, request_id FROM detected_payments
                WHERE chain = :chain AND tx = :tx AND state = 'unattributed' ORDER BY asset
                """)
            try query.bind("chain", network.chainText).bind("tx", tx)
            var candidates: [DetectedRow] = []
            while try query.step() {
                let row = try DetectedRow(query)
                if asset == nil || row.asset == asset { candidates.append(row) }
            }
            query.reset()
            guard let row = candidates.first else {
                throw TokError(.unknownRequest, "no unattributed payment \(tx)\(asset.map { " in \($0)" } ?? "") is recorded on \(network.alias)")
            }
            guard candidates.count == 1 else {
                throw TokError(.missingField, "transaction \(tx) has unattributed payments in \(candidates.map(\.asset).joined(separator: ", ")): name the asset")
            }
            guard let tip = try chainTip(chain: network.chainText), row.height <= tip.height - Int64(network.confirmations) + 1 else {
                throw TokError(.notVerified, "payment \(tx) is below \(network.alias)'s confirmation level; resolve it once it is \(network.confirmations) deep")
            }
            let prefix = network.chainText + ":"
            guard account.hasPrefix(prefix) else { throw TokError(.accountNetworkMismatch, "\(account) is not an account on \(network.chainText)") }
            let address = try network.family.canonicalAddress(String(account.dropFirst(prefix.count)), chain: network.chain)
            guard let mapping = network.assets.first(where: { $0.assetText == row.asset }), let token = config.token(alias: mapping.token) else {
                throw TokError(.assetNotConfigured, "deposits of \(row.asset) are not configured on \(network.alias)")
            }
            let credited = try UInt256.convert(row.amount, fromDecimals: mapping.decimals, toDecimals: token.decimals, what: "the payment")
            let deposit = VerifiedDeposit(
                requestId: Ledger.perAssetDepositId("resolved", chain: row.chain, tx: row.tx, asset: mapping.asset),
                chain: row.chain, tx: row.tx, account: prefix + address, token: token.alias, asset: row.asset, amount: row.amount,
                credited: credited, blockHash: row.blockHash, blockNumber: row.height, confirmations: tip.height - row.height + 1,
                coins: row.outputs, receiver: row.outputs.isEmpty ? nil : network.receiver)
            let outcome = try creditDeposit(deposit, op: .deposit, nowMilliseconds: now)
            let update = try database.statement("""
                UPDATE detected_payments SET state = 'resolved', request_id = :request_id, note = 'resolved by the operator'
                WHERE chain = :chain AND tx = :tx AND asset = :asset AND block_hash = :block_hash
                """)
            try update.bind("request_id", deposit.requestId).bind("chain", row.chain).bind("tx", row.tx).bind("asset", row.asset)
                .bind("block_hash", row.blockHash)
            try update.run()
            precondition(database.changes == 1, "the unattributed payment is resolved once")
            return outcome
        }
    }

    /// The operator closes an open shortfall (the payment will not come back;
    /// the loss is settled outside tok): the account's payouts go through again.
    public func resolveShortfall(id: Int64, note: String, nowMilliseconds now: Int64) throws(TokError) {
        try guarded {
            guard let shortfall = try shortfall(id: id), shortfall.state == "open" else {
                throw TokError(.unknownRequest, "no open shortfall \(id)")
            }
            let update = try database.statement("""
                UPDATE shortfalls SET state = 'resolved', resolution = :resolution, resolved_at_ms = :now WHERE id = :id
                """)
            let resolution = "by the operator: " + String(note.prefix(500))
            try update.bind("id", id).bind("resolution", resolution).bind("now", now)
            try update.run()
            let body = JSON.object()
            body.set("id", integer: id)
            body.set("tx", string: shortfall.tx)
            body.set("resolution", string: resolution)
            appendAudit(kind: "shortfall_resolved", requestId: "shortfall:\(id)", body: body, now: now)
        }
    }
}
