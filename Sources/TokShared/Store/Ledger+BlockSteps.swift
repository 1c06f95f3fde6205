/// The steps of connecting one block, each writing its undo data, and of
/// disconnecting it, each checking that the ledger still holds what the step
/// recorded before putting back what was there. Used only by
/// `Ledger.connectBlock` / `disconnectBlock`, after their checks passed.

/// Connecting one block: records its events, matures payments, and writes the
/// block with its facts and state hash.
struct BlockWriter {
    let ledger: Ledger
    let block: FollowedBlock
    let network: NetworkConfig
    let config: TokConfig
    let now: Int64
    private var seq: Int64 = 0
    private var paymentFacts: [JSON] = []
    private var maturedFacts: [JSON] = []
    private var anchorFacts: [JSON] = []
    private(set) var creditedCount = 0
    private(set) var shortfallsResolved = 0
    private(set) var anchorOutcomes: [AnchorOutcomeRow] = []
    /// Journaled rows the block wrote, in order (RowJournal): the facts cover their final values.
    var changedRows: [(table: String, key: JournalRow, after: JournalRow?)] = []

    init(ledger: Ledger, block: FollowedBlock, network: NetworkConfig, config: TokConfig, now: Int64) {
        self.ledger = ledger
        self.block = block
        self.network = network
        self.config = config
        self.now = now
    }

    var database: any DatabaseConnection { ledger.database }

    mutating func undo(_ kind: String, _ body: JSON) throws(StoreError) {
        var bytes: [UInt8] = []
        body.serialize(into: &bytes, sortKeys: true)
        let insert = try database.statement("""
            INSERT INTO block_undo (chain, height, seq, kind, body) VALUES (:chain, :height, :seq, :kind, :body)
            """)
        try insert.bind("chain", block.network).bind("height", block.height).bind("seq", seq).bind("kind", kind)
            .bind("body", utf8: bytes)
        try insert.run()
        seq += 1
    }

    /// Payments to the receiver: pending until their level, or unattributed.
    mutating func recordPayments() throws {
        var seen: Set<String> = []
        for payment in block.payments {
            guard seen.insert(payment.tx + " " + payment.asset).inserted else {
                throw TokError(.badFieldType, "block \(block.hash) lists payment \(payment.tx) in \(payment.asset) twice")
            }
            let insert = try database.statement("""
                INSERT INTO detected_payments (chain, tx, asset, block_hash, height, amount, sender, unproven, outputs, state)
                VALUES (:chain, :tx, :asset, :block_hash, :height, :amount, :sender, :unproven, :outputs, :state)
                """)
            try insert.bind("chain", block.network).bind("tx", payment.tx).bind("asset", payment.asset)
                .bind("block_hash", block.hash).bind("height", block.height).bind("amount", payment.amount.description)
                .bind("sender", payment.sender).bind("unproven", payment.unproven)
                .bind("outputs", Coin.outputsArray(payment.outputs).serialized(sortKeys: true))
                .bind("state", payment.sender == nil ? "unattributed" : "pending")
            try insert.run()
            let body = JSON.object()
            body.set("tx", string: payment.tx)
            body.set("asset", string: payment.asset)
            try undo("payment_detected", body)
            let fact = JSON.object()
            fact.set("tx", string: payment.tx)
            fact.set("asset", string: payment.asset)
            fact.set("amount", string: payment.amount.description)
            if let sender = payment.sender { fact.set("sender", string: sender) } else { fact.set("sender", .null()) }
            paymentFacts.append(fact)
        }
    }

    /// A free coin of the pool spent in this block was spent outside tok:
    /// marked spent at once. A coin a payout holds is that payout's business
    /// (its commit or rollback settles it); the others need nothing.
    mutating func recordSpends() throws {
        for spend in block.spends {
            guard let colon = spend.outpoint.lastIndex(of: ":"), let vout = Int64(spend.outpoint[spend.outpoint.index(after: colon)...]) else {
                throw TokError(.badFieldType, "spend of \(spend.outpoint) does not name an outpoint")
            }
            let update = try database.statement("""
                UPDATE utxos SET state = 'spent' WHERE chain = :chain AND tx = :tx AND vout = :vout AND state = 'available'
                """)
            try update.bind("chain", block.network).bind("tx", String(spend.outpoint[..<colon])).bind("vout", vout)
            try update.run()
            guard database.changes == 1 else { continue }
            let body = JSON.object()
            body.set("outpoint", string: spend.outpoint)
            try undo("coin_spent", body)
            ledger.logger.notice("operator coin spent outside tok", metadata: ["outpoint": "\(spend.outpoint)", "tx": "\(spend.tx)"])
        }
    }

    /// Tokenisation anchors, in block order: each decoded (tok-protocol(7)),
    /// applied (Ledger+Tokens), and recorded with its outcome.
    mutating func recordAnchors() throws {
        for anchor in block.anchors.sorted(by: { $0.position < $1.position }) {
            let result = try applyAnchor(anchor)
            let (outcome, reason) = (result.outcome, result.reason)
            let insert = try database.statement("""
                INSERT INTO anchors (chain, block_hash, height, position, tx, output, actor, script, outcome, reason)
                VALUES (:chain, :block_hash, :height, :position, :tx, :output, :actor, :script, :outcome, :reason)
                """)
            try insert.bind("chain", block.network).bind("block_hash", block.hash).bind("height", block.height)
                .bind("position", Int64(anchor.position)).bind("tx", anchor.tx).bind("output", Int64(anchor.output))
                .bind("actor", anchor.actor).bind("script", Hex.encode(anchor.outputs[anchor.output].script))
                .bind("outcome", outcome).bind("reason", reason)
            try insert.run()
            let body = JSON.object()
            body.set("position", integer: Int64(anchor.position))
            try undo("anchor_seen", body)
            anchorOutcomes.append(AnchorOutcomeRow(tx: anchor.tx, position: anchor.position, outcome: outcome, reason: reason))
            let fact = JSON.object()
            fact.set("tx", string: anchor.tx)
            fact.set("position", integer: Int64(anchor.position))
            fact.set("outcome", string: outcome)
            if let reason { fact.set("reason", string: reason) }
            anchorFacts.append(fact)
        }
    }

    /// Every pending payment whose block is at or below `height` reaches the level now.
    mutating func matureUpTo(height: Int64) throws {
        for row in try ledger.pendingPayments(chain: block.network, upTo: height) { try mature(row) }
    }

    private mutating func mature(_ row: DetectedRow) throws {
        guard let sender = row.sender else { preconditionFailure("a pending payment has a proven sender") }
        let body = JSON.object()
        body.set("tx", string: row.tx)
        body.set("asset", string: row.asset)
        body.set("block_hash", string: row.blockHash)
        let fact = JSON.object()
        fact.set("tx", string: row.tx)
        fact.set("asset", string: row.asset)
        let outcome = try credit(row, sender: sender)
        switch outcome {
        case .credited(let requestId, let account, let amount):
            try setState(row, "credited", requestId: requestId, note: nil)
            fact.set("outcome", string: "credited")
            fact.set("account", string: account)
            fact.set("amount", string: amount)
        case .notCreditable(let reason):
            try setState(row, "not_creditable", requestId: nil, note: reason)
            fact.set("outcome", string: "not_creditable")
            fact.set("reason", string: reason)
        }
        try undo("payment_matured", body)
        maturedFacts.append(fact)
    }

    private enum Maturity {
        case credited(requestId: String, account: String, amount: String)
        case notCreditable(String)
    }

    /// Credits a matured payment to its proven sender, once per (chain, tx,
    /// asset): a payment credited already (by its request, or before a reorg)
    /// is credited, whoever did it, and a shortfall it left is resolved. Each
    /// asset a transaction pays (a batching contract's) is a payment of its own.
    private mutating func credit(_ row: DetectedRow, sender: String) throws -> Maturity {
        if let existing = try ledger.depositRow(chain: row.chain, tx: row.tx, asset: row.asset) {
            if try resolveShortfall(row, deposit: existing) { shortfallsResolved += 1 }
            return .credited(requestId: existing.requestId, account: existing.account, amount: existing.credited)
        }
        guard let mapping = network.assets.first(where: { $0.assetText == row.asset }), mapping.depositEnabled,
              let token = config.token(alias: mapping.token) else {
            return .notCreditable("deposits of \(row.asset) are not configured on \(network.alias)")
        }
        let credited: UInt256
        do { credited = try UInt256.convert(row.amount, fromDecimals: mapping.decimals, toDecimals: token.decimals, what: "the payment") } catch {
            return .notCreditable(error.message)
        }
        let account = network.chainText + ":" + sender
        let deposit = VerifiedDeposit(
            requestId: Ledger.automaticDepositId(chain: row.chain, tx: row.tx, asset: mapping.asset), chain: row.chain,
            tx: row.tx, account: account, token: token.alias, asset: row.asset, amount: row.amount, credited: credited,
            blockHash: row.blockHash, blockNumber: row.height, confirmations: block.height - row.height + 1, coins: row.outputs,
            receiver: row.outputs.isEmpty ? nil : network.receiver)
        let outcome: DepositOutcome
        do throws(TokError) {
            outcome = try ledger.creditDeposit(deposit, op: .deposit, nowMilliseconds: now)
        } catch {
            // A store failure aborts the block; a refusal (the id taken, tok's own payout) is this payment's outcome.
            if error.code == .databaseError { throw error }
            return .notCreditable("\(error.code.rawValue): \(error.message)")
        }
        switch outcome {
        case .credited:
            creditedCount += 1
            return .credited(requestId: deposit.requestId, account: account, amount: credited.description)
        case .duplicate(let first):
            preconditionFailure("payment \(row.tx) was checked uncredited, yet \(first) credited it")
        }
    }

    /// A payment credited before a reorg took its block, mined again: its
    /// shortfall is resolved, the deposit points at its new block, and its
    /// coins are back in the pool.
    private mutating func resolveShortfall(_ row: DetectedRow, deposit: Ledger.DepositRow) throws -> Bool {
        guard let shortfall = try ledger.openShortfall(chain: row.chain, tx: row.tx, asset: row.asset) else { return false }
        let resolve = try database.statement("""
            UPDATE shortfalls SET state = 'resolved', resolution = :resolution, resolved_at_ms = :now WHERE id = :id
            """)
        try resolve.bind("id", shortfall.id).bind("resolution", "mined again in block \(row.blockHash) at height \(row.height)")
            .bind("now", now)
        try resolve.run()
        try ledger.moveDeposit(chain: row.chain, tx: row.tx, asset: row.asset, blockHash: row.blockHash, blockNumber: row.height)
        try ledger.setCoins(shortfall.coins, chain: row.chain, from: "spent", to: "available")
        let body = JSON.object()
        body.set("id", integer: shortfall.id)
        body.set("block_hash", string: deposit.blockHash)
        body.set("block_number", integer: deposit.blockNumber)
        try undo("shortfall_resolved", body)
        return true
    }

    private func setState(_ row: DetectedRow, _ state: String, requestId: String?, note: String?) throws(StoreError) {
        let update = try database.statement("""
            UPDATE detected_payments SET state = :state, request_id = :request_id, note = :note
            WHERE chain = :chain AND tx = :tx AND asset = :asset AND block_hash = :block_hash
            """)
        try update.bind("state", state).bind("request_id", requestId).bind("note", note).bind("chain", row.chain)
            .bind("tx", row.tx).bind("asset", row.asset).bind("block_hash", row.blockHash)
        try update.run()
        precondition(database.changes == 1, "a matured payment is updated once")
    }

    /// The final value of every journaled row the block changed, ordered by
    /// table and key: token state, as the chain alone decides it.
    private func rowFacts() -> JSON {
        var last: [String: (table: String, key: JournalRow, after: JournalRow?)] = [:]
        for change in changedRows { last[change.table + " " + Ledger.rowJSON(change.key).serialized(sortKeys: true)] = change }
        return JSON.array(last.keys.sorted().map { id in
            let change = last[id]!
            let fact = JSON.object()
            fact.set("table", string: change.table)
            fact.set("key", Ledger.rowJSON(change.key))
            fact.set("after", Ledger.rowJSON(change.after))
            return fact
        })
    }

    /// Writes the block with its facts and state hash, and its audit entry.
    mutating func finish(previousStateHash: String) throws -> ChainBlockRow {
        let facts = JSON.object()
        let header = JSON.object()
        header.set("height", integer: block.height)
        header.set("hash", string: block.hash)
        header.set("previous_hash", string: block.previousHash)
        facts.set("block", header)
        facts.set("payments", JSON.array(paymentFacts))
        facts.set("matured", JSON.array(maturedFacts))
        facts.set("anchors", JSON.array(anchorFacts))
        facts.set("rows", rowFacts())
        var factBytes: [UInt8] = []
        facts.serialize(into: &factBytes, sortKeys: true)
        let stateHash = Ledger.auditHash(previous: previousStateHash, body: factBytes)
        let insert = try database.statement("""
            INSERT INTO chain_blocks (chain, height, hash, previous_hash, block_time, facts, state_hash, applied_at_ms)
            VALUES (:chain, :height, :hash, :previous_hash, :block_time, :facts, :state_hash, :now)
            """)
        try insert.bind("chain", block.network).bind("height", block.height).bind("hash", block.hash)
            .bind("previous_hash", block.previousHash).bind("block_time", block.timeUnixSeconds).bind("facts", utf8: factBytes)
            .bind("state_hash", stateHash).bind("now", now)
        try insert.run()
        let body = JSON.object()
        body.set("chain", string: block.network)
        body.set("height", integer: block.height)
        body.set("hash", string: block.hash)
        body.set("state_hash", string: stateHash)
        body.set("credited", integer: Int64(creditedCount))
        ledger.appendAudit(kind: "block_connected", requestId: block.recordId, body: body, now: now)
        return ChainBlockRow(chain: block.network, height: block.height, hash: block.hash, previousHash: block.previousHash,
                             stateHash: stateHash)
    }
}

/// Disconnecting one block: each undo step, newest first, checked.
struct BlockUndoer {
    let ledger: Ledger
    let row: ChainBlockRow
    let now: Int64
    private(set) var shortfallsOpened = 0

    init(ledger: Ledger, row: ChainBlockRow, now: Int64) {
        self.ledger = ledger
        self.row = row
        self.now = now
    }

    private var database: any DatabaseConnection { ledger.database }

    /// What the ledger holds does not match what connecting recorded: refuse,
    /// rather than guess (the transaction rolls back; nothing is half undone).
    private func unclean(_ what: String) -> TokError {
        TokError(.internalError, "undoing block \(row.hash) at height \(row.height) of \(row.chain): \(what)")
    }

    mutating func undo(_ step: Ledger.UndoStep) throws {
        switch step.kind {
        case "anchor_seen":
            let delete = try database.statement("""
                DELETE FROM anchors WHERE chain = :chain AND block_hash = :block_hash AND position = :position
                """)
            try delete.bind("chain", row.chain).bind("block_hash", row.hash).bind("position", step.body["position"]?.int64Value ?? -1)
            try delete.run()
            guard database.changes == 1 else { throw unclean("its anchor at position \(step.body["position"]?.int64Value ?? -1) is missing") }
        case "coin_spent":
            let outpoint = step.body.string(at: "outpoint") ?? ""
            guard let colon = outpoint.lastIndex(of: ":"), let vout = Int64(outpoint[outpoint.index(after: colon)...]) else {
                throw unclean("a coin_spent step names no outpoint")
            }
            let update = try database.statement("""
                UPDATE utxos SET state = 'available' WHERE chain = :chain AND tx = :tx AND vout = :vout
                  AND state = 'spent' AND spent_by IS NULL
                """)
            try update.bind("chain", row.chain).bind("tx", String(outpoint[..<colon])).bind("vout", vout)
            try update.run()
            guard database.changes == 1 else { throw unclean("coin \(outpoint) is no longer the spent coin it marked") }
        case "payment_matured":
            try unmature(step.body)
        case "shortfall_resolved":
            try reopenShortfall(step.body)
        case "payment_detected":
            try forgetPayment(step.body)
        case "row":
            try undoRow(step.body)
        default:
            throw unclean("unknown undo step \(step.kind)")
        }
    }

    /// Back to pending. A credit it made stays: the payment's own block is
    /// still on the chain (it is older than this one), and a reorganisation
    /// shallower than the level never takes money back.
    private func unmature(_ body: JSON) throws {
        let update = try database.statement("""
            UPDATE detected_payments SET state = 'pending', request_id = NULL, note = NULL
            WHERE chain = :chain AND tx = :tx AND asset = :asset AND block_hash = :block_hash
              AND state IN ('credited', 'not_creditable')
            """)
        try update.bind("chain", row.chain).bind("tx", body.string(at: "tx") ?? "").bind("asset", body.string(at: "asset") ?? "")
            .bind("block_hash", body.string(at: "block_hash") ?? "")
        try update.run()
        guard database.changes == 1 else { throw unclean("matured payment \(body.string(at: "tx") ?? "?") is not as it left it") }
    }

    private func reopenShortfall(_ body: JSON) throws {
        guard let id = body["id"]?.int64Value, let shortfall = try ledger.shortfall(id: id), shortfall.state == "resolved" else {
            throw unclean("shortfall \(body["id"]?.int64Value ?? -1) is not the resolved one it recorded")
        }
        let reopen = try database.statement("""
            UPDATE shortfalls SET state = 'open', resolution = NULL, resolved_at_ms = NULL WHERE id = :id
            """)
        try reopen.bind("id", id)
        try reopen.run()
        try ledger.moveDeposit(chain: shortfall.chain, tx: shortfall.tx, asset: shortfall.asset,
                               blockHash: body.string(at: "block_hash") ?? "", blockNumber: body["block_number"]?.int64Value ?? 0)
        try ledger.setCoins(shortfall.coins, chain: shortfall.chain, from: "available", to: "spent")
    }

    /// The payment leaves with its block. Credited (the payment's own block is
    /// this one), it becomes a shortfall: the credit stays, the account's
    /// payouts are refused until it is resolved, its coins leave the pool.
    private mutating func forgetPayment(_ body: JSON) throws {
        let tx = body.string(at: "tx") ?? "", asset = body.string(at: "asset") ?? ""
        if let deposit = try ledger.depositRow(chain: row.chain, tx: tx, asset: asset), deposit.blockHash == row.hash {
            let coins = try ledger.freeDepositCoins(chain: row.chain, requestId: deposit.requestId)
            try ledger.setCoins(coins, chain: row.chain, from: "available", to: "spent")
            try ledger.openShortfall(deposit, chain: row.chain, blockHash: row.hash, height: row.height, coins: coins, now: now)
            shortfallsOpened += 1
            ledger.logger.error("a credited deposit left the chain: shortfall recorded", metadata: [
                "tx": "\(tx)", "account": "\(deposit.account)", "amount": "\(deposit.credited)", "block": "\(row.hash)",
            ])
        }
        let delete = try database.statement("""
            DELETE FROM detected_payments WHERE chain = :chain AND tx = :tx AND asset = :asset AND block_hash = :block_hash
            """)
        try delete.bind("chain", row.chain).bind("tx", tx).bind("asset", asset).bind("block_hash", row.hash)
        try delete.run()
        guard database.changes == 1 else { throw unclean("payment \(tx) it detected is missing") }
    }
}

/// Rows the block steps read and write outside the chain tables.
extension Ledger {
    struct DepositRow {
        var tx: String
        var asset: String
        var requestId: String
        var account: String
        var token: String
        var credited: String
        var blockHash: String
        var blockNumber: Int64
    }

    struct ShortfallRow {
        var id: Int64
        var chain: String
        var tx: String
        /// The asset of the deposit it took.
        var asset: String
        var state: String
        var coins: [String]
    }

    func depositRow(chain: String, tx: String, asset: String) throws(StoreError) -> DepositRow? {
        let query = try database.statement("""
            SELECT request_id, account, token, credited, block_hash, block_number FROM deposits
            WHERE chain = :chain AND tx = :tx AND asset = :asset
            """)
        defer { query.reset() }
        try query.bind("chain", chain).bind("tx", tx).bind("asset", asset)
        guard try query.step() else { return nil }
        return DepositRow(tx: tx, asset: asset, requestId: query.text("request_id"), account: query.text("account"),
                          token: query.text("token"), credited: query.text("credited"), blockHash: query.text("block_hash"),
                          blockNumber: query.int64("block_number"))
    }

    func moveDeposit(chain: String, tx: String, asset: String, blockHash: String, blockNumber: Int64) throws(StoreError) {
        let update = try database.statement("""
            UPDATE deposits SET block_hash = :block_hash, block_number = :block_number
            WHERE chain = :chain AND tx = :tx AND asset = :asset
            """)
        try update.bind("block_hash", blockHash).bind("block_number", blockNumber).bind("chain", chain).bind("tx", tx)
            .bind("asset", asset)
        try update.run()
        precondition(database.changes == 1, "the deposit moved is recorded")
    }

    /// Coins a credited deposit brought that are still free (a payout holding one keeps it: its fate is the payout's).
    func freeDepositCoins(chain: String, requestId: String) throws(StoreError) -> [String] {
        let query = try database.statement("""
            SELECT tx, vout FROM utxos WHERE chain = :chain AND request_id = :request_id AND origin = 'deposit' AND state = 'available'
            ORDER BY tx, vout
            """)
        defer { query.reset() }
        try query.bind("chain", chain).bind("request_id", requestId)
        var coins: [String] = []
        while try query.step() { coins.append("\(query.text("tx")):\(query.int64("vout"))") }
        return coins
    }

    func setCoins(_ outpoints: [String], chain: String, from: String, to: String) throws(StoreError) {
        let update = try database.statement("""
            UPDATE utxos SET state = :to WHERE chain = :chain AND tx = :tx AND vout = :vout AND state = :from
            """)
        for outpoint in outpoints {
            guard let colon = outpoint.lastIndex(of: ":"), let vout = Int64(outpoint[outpoint.index(after: colon)...]) else { continue }
            try update.bind("to", to).bind("from", from).bind("chain", chain).bind("tx", String(outpoint[..<colon])).bind("vout", vout)
            try update.run()
        }
    }

    func openShortfall(_ deposit: DepositRow, chain: String, blockHash: String, height: Int64, coins: [String],
                       now: Int64) throws(StoreError) {
        let coinsJSON = JSON.array(coins.map { JSON.string($0) }).serialized()
        let insert = try database.statement("""
            INSERT INTO shortfalls (chain, tx, asset, account, token, amount, block_hash, height, coins, state, opened_at_ms)
            SELECT :chain, tx, asset, account, token, credited, :block_hash, :height, :coins, 'open', :now
            FROM deposits WHERE chain = :chain AND tx = :tx AND asset = :asset
            """)
        try insert.bind("chain", chain).bind("block_hash", blockHash).bind("height", height).bind("coins", coinsJSON)
            .bind("now", now).bind("tx", deposit.tx).bind("asset", deposit.asset)
        try insert.run()
        precondition(database.changes == 1, "one shortfall per credited deposit that left the chain")
        let body = JSON.object()
        body.set("chain", string: chain)
        body.set("account", string: deposit.account)
        body.set("token", string: deposit.token)
        body.set("amount", string: deposit.credited)
        body.set("block_hash", string: blockHash)
        appendAudit(kind: "shortfall_opened", requestId: deposit.requestId, body: body, now: now)
    }

    /// The newest open shortfall of the deposit of `asset` in `tx`.
    func openShortfall(chain: String, tx: String, asset: String) throws(StoreError) -> ShortfallRow? {
        let query = try database.statement("""
            SELECT id FROM shortfalls WHERE chain = :chain AND tx = :tx AND asset = :asset AND state = 'open'
            ORDER BY id DESC LIMIT 1
            """)
        try query.bind("chain", chain).bind("tx", tx).bind("asset", asset)
        let id: Int64? = try query.step() ? query.int64("id") : nil
        query.reset()
        return try id.flatMap { id throws(StoreError) in try shortfall(id: id) }
    }

    func shortfall(id: Int64) throws(StoreError) -> ShortfallRow? {
        let query = try database.statement("SELECT id, chain, tx, asset, state, coins FROM shortfalls WHERE id = :id")
        defer { query.reset() }
        try query.bind("id", id)
        guard try query.step() else { return nil }
        var coins: [String] = []
        if case .success(let list) = JSON.parse(query.text("coins")) { coins = list.arrayElements.compactMap(\.stringValue) }
        return ShortfallRow(id: query.int64("id"), chain: query.text("chain"), tx: query.text("tx"), asset: query.text("asset"),
                            state: query.text("state"), coins: coins)
    }
}
