#if canImport(Glibc)
import Glibc
#endif
import Logging

/// A deposit tok-verify proved and attested, ready to credit.
public struct VerifiedDeposit: Sendable, Equatable {
    public var requestId: String
    public var chain: String
    public var tx: String
    /// Canonical CAIP-10 account id.
    public var account: String
    public var token: String
    public var asset: String
    /// The chain's base units, as proven on chain.
    public var amount: UInt256
    /// The same amount in the token's ledger units (what balances count).
    public var credited: UInt256
    public var blockHash: String
    public var blockNumber: Int64
    public var confirmations: Int64
    /// UTXO chains: the deposit's outputs paying the operator's receiver, which
    /// join the operator's coin pool when the deposit is credited.
    public var coins: [Coin] = []
    public var receiver: String? = nil
}

public enum DepositOutcome: Sendable, Equatable {
    case credited(availableAfter: UInt256)
    /// The chain transaction was already credited, by `firstRequest`.
    case duplicate(firstRequest: String)
}

public struct Balance: Sendable, Equatable {
    public var available: UInt256
    public var locked: UInt256
}

/// Where a request stands in the `requests` table: a credited deposit, or
/// its payout's state (a transfer's row follows its payout half).
public enum RequestPhase: String, Sendable {
    case credited, prepared, submitted, confirmed, failed

    init(_ payout: PayoutState) {
        switch payout {
        case .prepared: self = .prepared
        case .submitted: self = .submitted
        case .confirmed: self = .confirmed
        case .failed: self = .failed
        }
    }
}

/// What `op: status` reports about a request.
public struct RequestState: Sendable {
    public var requestId: String
    public var op: Op
    public var state: RequestPhase
    public var chain: String?
    public var tx: String?
    public var amount: String?
    public var account: String?
    public var token: String?
    public var confirmations: Int64?
    /// For payouts and transfers.
    public var payout: PayoutRow?
}

/// The state machine. Every transition is one method here, run inside the
/// caller's batch transaction (`inBatch`) and its own savepoint
/// (`inRecordSavepoint`): it checks every precondition before its first write,
/// then writes, then asserts the postconditions it promised. Time is an
/// argument (the batch's clock reading), never read here, so a replay of the
/// same records is deterministic. No chain I/O happens here: the atomic
/// sections only touch the database.
public final class Ledger {
    public let database: any DatabaseConnection
    let logger: Logger
    /// Hash of the newest audit entry; re-read when a batch begins and restored
    /// when a savepoint rolls back.
    private var auditHead: String
    static let auditGenesis = String(repeating: "0", count: 64)

    /// Opens (creating and migrating) a ledger over an open connection, as its
    /// writer. The caller holds the writer lock while the schema is migrated.
    public convenience init(connection: any DatabaseConnection, logger: Logger) throws(StoreError) {
        try self.init(connection: connection, logger: logger, schemaVersion: Schema.currentVersion)
    }

    /// `schemaVersion` below this tok's: the ledger as an older tok left it (upgrade tests).
    init(connection: any DatabaseConnection, logger: Logger, schemaVersion: Int) throws(StoreError) {
        database = connection
        self.logger = logger
        try Schema.migrate(
            database, location: connection.location, nowMilliseconds: Ledger.nowMilliseconds(), upTo: schemaVersion)
        auditHead = try Ledger.readAuditHead(database)
    }

    /// A SQLite file, in WAL mode with the durability the config asks for.
    public convenience init(
        path: String, synchronous: String, busyTimeoutMilliseconds: Int, logger: Logger
    ) throws(StoreError) {
        let database = try SQLiteDatabase(path: path)
        try database.execute("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)")
        try Schema.requireOwnable(database, location: path)  // before WAL mode writes to the file
        try Ledger.configureWriter(database, synchronous: synchronous)
        try self.init(connection: database, logger: logger)
    }

    static func configureWriter(_ database: SQLiteDatabase, synchronous: String) throws(StoreError) {
        try database.execute("PRAGMA journal_mode = WAL")
        try database.execute("PRAGMA synchronous = \(synchronous == "normal" ? "NORMAL" : "FULL")")
        // The savepoint per record keeps a statement journal. Not MEMORY: SQLite's
        // in-memory journal is a list of 1 KiB chunks walked from its head each
        // time a statement ends, so a record touching many rows (a block of 1,000
        // anchors or payments) cost time quadratic in its size (bench/market.sh:
        // 9x slower for a block of 1,000 deposits). On FILE, the first 64 KiB stay
        // in one buffer and the rest spills to a temporary file.
        try database.execute("PRAGMA temp_store = FILE")
        // 64 MiB of page cache: a batch's working set stays in memory as the database grows.
        try database.execute("PRAGMA cache_size = -65536")
    }

    /// Opens (creating and migrating) the database as its writer, with the
    /// writer lock of its engine (a flock beside a SQLite file, an advisory
    /// lock on a PostgreSQL server): the lock is held while the schema is
    /// brought up to date, then released; callers take it again around every
    /// write (`WriterLock.withLock`, or per batch).
    /// `bindingTokenUnits: false` leaves token_units as it is (`tok-apply copy`).
    public static func openWriter(
        target: DatabaseTarget, config: TokConfig, lockTimeoutMilliseconds: Int?,
        tool: String = "tok-apply", bindingTokenUnits: Bool = true,
        logger: Logger
    ) throws -> (lock: any WriterLock, ledger: Ledger) {
        let timeout = lockTimeoutMilliseconds ?? config.database.lockTimeoutMilliseconds
        let connection = try target.connect(config: config, readOnly: false, tool: tool)
        let lock: any WriterLock
        switch connection {
        case let sqlite as SQLiteDatabase:
            try Schema.requireOwnable(sqlite, location: sqlite.path)  // before WAL mode writes to the file
            try configureWriter(sqlite, synchronous: config.database.synchronous)
            lock = try FileWriterLock(databasePath: sqlite.path, timeoutMilliseconds: timeout)
        case let server as PostgreSQLConnection:
            lock = AdvisoryWriterLock(connection: server, timeoutMilliseconds: timeout)
        default:
            preconditionFailure("an engine without a writer lock")
        }
        let ledger = try lock.withLock {
            let ledger = try Ledger(connection: connection, logger: logger)
            if bindingTokenUnits { try ledger.bindTokenUnits(config.tokens) }
            return ledger
        }
        return (lock, ledger)
    }

    /// The same for a SQLite file (tests and older callers).
    public static func openWriter(
        path: String, config: TokConfig, lockTimeoutMilliseconds: Int?,
        logger: Logger
    ) throws -> (lock: any WriterLock, ledger: Ledger) {
        try openWriter(
            target: .sqlite(path: path), config: config, lockTimeoutMilliseconds: lockTimeoutMilliseconds,
            logger: logger)
    }

    /// A read-only view for tok-verify's advisory checks (balances, nonces,
    /// replays). It never writes; only tok-apply does. On PostgreSQL it reads
    /// committed snapshots and takes no lock, so it never blocks the writer.
    public init(readOnly connection: any DatabaseConnection, logger: Logger) throws(StoreError) {
        database = connection
        self.logger = logger
        try Schema.requireCurrent(connection, location: connection.location)
        auditHead = Ledger.auditGenesis
    }

    public convenience init(readOnlyPath path: String, busyTimeoutMilliseconds: Int, logger: Logger) throws(StoreError)
    {
        let database = try SQLiteDatabase(path: path, readOnly: true)
        try database.execute("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)")
        try self.init(readOnly: database, logger: logger)
    }

    /// A read-only view for readers that run beside a tok-apply that may be
    /// creating the file (tok-follow): nil while the file is absent or not yet
    /// migrated to this tok's schema (it then holds nothing they need).
    public static func readOnlyIfReady(
        path: String, busyTimeoutMilliseconds: Int, logger: Logger
    ) throws(StoreError) -> Ledger? {
        guard access(path, F_OK) == 0 else { return nil }
        let probe = try SQLiteDatabase(path: path, readOnly: true)
        try probe.execute("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)")
        return try readOnlyIfReady(connection: probe, logger: logger)
    }

    /// The same for any database `--db` names (a PostgreSQL reader takes no
    /// lock and never blocks the writer).
    public static func readOnlyIfReady(
        target: DatabaseTarget, config: TokConfig, tool: String,
        logger: Logger
    ) throws(StoreError) -> Ledger? {
        switch target {
        case .sqlite(let path):
            return try readOnlyIfReady(
                path: path, busyTimeoutMilliseconds: config.database.lockTimeoutMilliseconds, logger: logger)
        case .postgresql:
            return try readOnlyIfReady(
                connection: try target.connect(config: config, readOnly: true, tool: tool), logger: logger)
        }
    }

    /// The same over an open connection.
    public static func readOnlyIfReady(connection: any DatabaseConnection, logger: Logger) throws(StoreError) -> Ledger?
    {
        try Schema.requireOwnable(connection, location: connection.location)
        guard let applied = try? Schema.applied(connection), applied.count >= Schema.currentVersion else { return nil }
        return try Ledger(readOnly: connection, logger: logger)
    }

    /// The payout recorded under a request id, if any (tok-verify uses it to
    /// re-emit a replayed payout's transaction instead of signing a new one).
    public func payout(requestId: String) throws(TokError) -> PayoutRow? {
        try guarded { try payoutRow(requestId) }
    }

    /// The newest audit entry's hash, or the genesis hash of an empty trail. A
    /// failure to read it is an error: starting the chain afresh would break it.
    private static func readAuditHead(_ database: any DatabaseConnection) throws(StoreError) -> String {
        let query = try database.statement("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1")
        defer { query.reset() }
        return try query.step() ? query.text("hash") : auditGenesis
    }

    // MARK: Transactions

    /// Why a batch's transaction did not happen. Nothing of the batch is stored in either case.
    public enum BatchFailure: Error, CustomStringConvertible {
        /// The transaction could not start (or the audit head could not be read).
        case begin(StoreError)
        /// The records were applied, but the commit failed and was rolled back.
        case commit(StoreError)
        /// The body gave up (threw): the batch was rolled back.
        case abandoned(any Error)

        public var description: String {
            switch self {
            case .begin(let error): return "cannot start a database transaction: \(error)"
            case .commit(let error): return "the batch's commit failed: \(error)"
            case .abandoned(let error): return "the batch was abandoned and rolled back: \(error)"
            }
        }
    }

    /// Group commit: one transaction per batch, a savepoint per record inside
    /// `body`. Begin and commit cannot come unpaired: a body that throws, or a
    /// failed commit, is rolled back before this throws. The audit head is
    /// re-read inside the transaction: another tok-apply (the second one of a
    /// payout pipeline) may have appended since our last batch.
    public func inBatch<T>(_ body: () throws -> T) throws(BatchFailure) -> T {
        do throws(StoreError) {
            try database.ensureOpen()
            try database.statement(database.dialect.beginWriteTransaction).run()
            auditHead = try Ledger.readAuditHead(database)
        } catch {
            rollbackBatch()
            throw .begin(error)
        }
        let result: T
        do {
            result = try body()
        } catch {
            rollbackBatch()
            throw .abandoned(error)
        }
        do throws(StoreError) {
            try database.statement("COMMIT").run()
        } catch {
            rollbackBatch()
            throw .commit(error)
        }
        return result
    }

    private func rollbackBatch() {
        if database.inTransaction { try? database.execute("ROLLBACK") }
        // Unreadable now means unreadable at the next begin, which then fails.
        auditHead = (try? Ledger.readAuditHead(database)) ?? auditHead
    }

    /// Runs one record's transition in a savepoint: if it throws, only that
    /// record's writes are undone and the rest of the batch stands.
    public func inRecordSavepoint<T>(_ body: () throws(TokError) -> T) throws(TokError) -> T {
        let headBefore = auditHead
        do { try database.statement("SAVEPOINT record").run() } catch {
            throw TokError(.databaseError, "\(error)")
        }
        do throws(TokError) {
            let result = try body()
            do { try database.statement("RELEASE record").run() } catch { throw TokError(.databaseError, "\(error)") }
            return result
        } catch {
            try? database.statement("ROLLBACK TO record").run()
            try? database.statement("RELEASE record").run()
            auditHead = headBefore
            throw error
        }
    }

    // MARK: Deposit

    /// Credits a verified deposit exactly once per (chain, tx, asset): a
    /// transaction that pays the receiver two assets is two deposits.
    /// Checks, in order: the transaction's payment in this asset is not
    /// credited yet (else `duplicate`), the transaction is not tok's own
    /// payout, the request id is unused, the new balance fits.
    /// `op` is `.deposit`, or `.transfer` for a transfer's deposit half.
    public func creditDeposit(
        _ deposit: VerifiedDeposit, op: Op = .deposit,
        nowMilliseconds now: Int64
    ) throws(TokError) -> DepositOutcome {
        precondition(!deposit.amount.isZero, "tok-verify never attests a zero deposit")
        precondition(op == .deposit || op == .transfer, "only deposits and transfers credit")
        return try guarded {
            // Checks.
            if let first = try creditedRequest(chain: deposit.chain, tx: deposit.tx, asset: deposit.asset) {
                return .duplicate(firstRequest: first)
            }
            if let payout = try payoutRequest(chain: deposit.chain, tx: deposit.tx) {
                // Its outputs to the operator are the payout's change, booked already.
                throw TokError(
                    .conflictingRecord, "transaction \(deposit.tx) is tok's own payout \(payout), not a deposit")
            }
            if let other = try requestRow(deposit.requestId) {
                // Same id, another transaction or another asset of it (the same payment was caught above).
                let what = other.tx == deposit.tx ? "another asset of \(deposit.tx)" : other.tx ?? "another transaction"
                throw TokError(
                    .conflictingRecord,
                    "request id \(deposit.requestId) is already used by a \(other.op.rawValue) of \(what)")
            }
            let before = try readBalance(account: deposit.account, token: deposit.token)
            guard let available = before.available.adding(deposit.credited) else {
                throw TokError(
                    .balanceOverflow, "crediting \(deposit.credited) would overflow the balance of \(deposit.account)")
            }

            // Writes: every check passed.
            let after = Balance(available: available, locked: before.locked)
            // Each amount is rendered once: it goes to the rows and to the audit body.
            let availableText = available.description
            try writeBalance(account: deposit.account, token: deposit.token, after, availableText: availableText)
            let amountText = deposit.amount.description
            let creditedText = deposit.credited.description
            try insertDeposit(deposit, amountText: amountText, creditedText: creditedText, now: now)
            try insertRequest(
                id: deposit.requestId, op: op, state: .credited, chain: deposit.chain, tx: deposit.tx, now: now)
            if !deposit.coins.isEmpty, let receiver = deposit.receiver {
                try addDepositCoins(
                    deposit.coins, chain: deposit.chain, address: receiver, requestId: deposit.requestId)
            }
            // Every deposit writes this body: written straight to canonical bytes
            // rather than built as a jansson object and serialised.
            let body = Ledger.canonicalBody([
                ("account", deposit.account),
                ("amount", amountText),
                ("available_after", availableText),
                ("chain", deposit.chain),
                ("credited", creditedText),
                ("token", deposit.token),
                ("tx", deposit.tx),
            ])
            appendAudit(kind: "deposit_credited", requestId: deposit.requestId, canonicalBody: body, now: now)

            // Postconditions: exactly the credited amount arrived, nothing was locked or unlocked.
            precondition(
                after.available.subtracting(deposit.credited) == before.available,
                "credit adds exactly the credited amount")
            precondition(after.locked == before.locked, "a credit never touches locked funds")
            assert(
                (try? creditedRequest(chain: deposit.chain, tx: deposit.tx, asset: deposit.asset)) == deposit.requestId,
                "the deposit is registered")
            assert((try? readBalance(account: deposit.account, token: deposit.token)) == after, "the balance is stored")
            return .credited(availableAfter: available)
        }
    }

    /// The request that credited this transaction's payment in `asset` (CAIP-19), if any.
    func creditedRequest(chain: String, tx: String, asset: String) throws(StoreError) -> String? {
        let query = try database.statement(
            "SELECT request_id FROM deposits WHERE chain = :chain AND tx = :tx AND asset = :asset")
        defer { query.reset() }
        try query.bind("chain", chain).bind("tx", tx).bind("asset", asset)
        return try query.step() ? query.text("request_id") : nil
    }

    /// The payout whose destination transaction this is, if any.
    func payoutRequest(chain: String, tx: String) throws(StoreError) -> String? {
        let query = try database.statement("SELECT request_id FROM payouts WHERE dest_chain = :chain AND tx = :tx")
        defer { query.reset() }
        try query.bind("chain", chain).bind("tx", tx)
        return try query.step() ? query.text("request_id") : nil
    }

    private func insertDeposit(
        _ deposit: VerifiedDeposit, amountText: String, creditedText: String,
        now: Int64
    ) throws(StoreError) {
        let insert = try database.statement(
            """
            INSERT INTO deposits (chain, tx, request_id, account, token, asset, amount, credited, block_hash, block_number,
                                  confirmations, credited_at_ms)
            VALUES (:chain, :tx, :request_id, :account, :token, :asset, :amount, :credited, :block_hash, :block_number,
                    :confirmations, :credited_at_ms)
            """)
        try insert.bind("chain", deposit.chain).bind("tx", deposit.tx).bind("request_id", deposit.requestId)
            .bind("account", deposit.account).bind("token", deposit.token).bind("asset", deposit.asset)
            .bind("amount", amountText).bind("credited", creditedText).bind("block_hash", deposit.blockHash)
            .bind("block_number", deposit.blockNumber).bind("confirmations", deposit.confirmations)
            .bind("credited_at_ms", now)
        try insert.run()
    }

    // MARK: Queries

    public func balance(account: String, token: String) throws(TokError) -> Balance {
        try guarded { try readBalance(account: account, token: token) }
    }

    public func requestState(id: String) throws(TokError) -> RequestState? {
        try guarded { () throws -> RequestState? in
            guard let row = try requestRow(id) else { return nil }
            var state = RequestState(requestId: id, op: row.op, state: row.state, chain: row.chain, tx: row.tx)
            if row.op == .deposit || row.op == .transfer, let chain = row.chain, let tx = row.tx {
                // The request's own deposit: its transaction may pay other assets under other requests.
                let query = try database.statement(
                    """
                    SELECT credited, account, token, confirmations FROM deposits
                    WHERE chain = :chain AND tx = :tx AND request_id = :request_id
                    """)
                defer { query.reset() }
                try query.bind("chain", chain).bind("tx", tx).bind("request_id", id)
                if try query.step() {
                    state.amount = query.text("credited")
                    state.account = query.text("account")
                    state.token = query.text("token")
                    state.confirmations = query.int64("confirmations")
                }
            }
            if row.op == .payout || row.op == .transfer {
                state.payout = try payoutRow(id)
                if let payout = state.payout { state.state = RequestPhase(payout.state) }
            }
            return state
        }
    }

    /// Fixes each token's ledger unit on first use and refuses a config that
    /// changed it since: that would silently rescale every stored balance.
    public func bindTokenUnits(_ tokens: [TokenConfig]) throws(StoreError) {
        for token in tokens {
            let query = try database.statement("SELECT decimals FROM token_units WHERE token = :token")
            try query.bind("token", token.alias)
            if try query.step() {
                let stored = Int(query.int64("decimals"))
                query.reset()
                guard stored == token.decimals else {
                    throw StoreError(
                        .conflictsWithConfig,
                        "token \(token.alias) has ledger decimals \(stored) in the database but \(token.decimals) in the config; a token's ledger decimals can never change"
                    )
                }
                continue
            }
            query.reset()
            let insert = try database.statement("INSERT INTO token_units (token, decimals) VALUES (:token, :decimals)")
            try insert.bind("token", token.alias).bind("decimals", Int64(token.decimals))
            try insert.run()
        }
    }

    // MARK: Pieces shared by transitions

    struct RequestRow { var op: Op; var state: RequestPhase; var chain: String?; var tx: String? }

    func requestRow(_ id: String) throws(StoreError) -> RequestRow? {
        let query = try database.statement("SELECT op, state, chain, tx FROM requests WHERE request_id = :request_id")
        defer { query.reset() }
        try query.bind("request_id", id)
        guard try query.step() else { return nil }
        let opText = query.text("op"), stateText = query.text("state")
        guard let op = Op(rawValue: opText), let state = RequestPhase(rawValue: stateText) else {
            throw StoreError(
                .unusable,
                "request \(id) is stored with op \"\(opText)\" and state \"\(stateText)\", which tok never writes")
        }
        return RequestRow(op: op, state: state, chain: query.optionalText("chain"), tx: query.optionalText("tx"))
    }

    func insertRequest(
        id: String, op: Op, state: RequestPhase, chain: String?, tx: String?, now: Int64
    ) throws(StoreError) {
        let insert = try database.statement(
            """
            INSERT INTO requests (request_id, op, state, chain, tx, updated_at_ms)
            VALUES (:request_id, :op, :state, :chain, :tx, :updated_at_ms)
            """)
        try insert.bind("request_id", id).bind("op", op.rawValue).bind("state", state.rawValue).bind("chain", chain)
            .bind("tx", tx).bind("updated_at_ms", now)
        try insert.run()
    }

    func readBalance(account: String, token: String) throws(StoreError) -> Balance {
        let query = try database.statement(
            "SELECT available, locked FROM balances WHERE account = :account AND token = :token")
        defer { query.reset() }
        try query.bind("account", account).bind("token", token)
        guard try query.step() else { return Balance(available: .zero, locked: .zero) }
        return Balance(
            available: try Ledger.storedAmount(query.text("available")),
            locked: try Ledger.storedAmount(query.text("locked")))
    }

    /// `availableText`: the available amount already rendered, when the caller needs it too.
    func writeBalance(
        account: String, token: String, _ balance: Balance, availableText: String? = nil
    ) throws(StoreError) {
        let upsert = try database.statement(
            """
            INSERT INTO balances (account, token, available, locked) VALUES (:account, :token, :available, :locked)
            ON CONFLICT (account, token) DO UPDATE SET available = excluded.available, locked = excluded.locked
            """)
        try upsert.bind("account", account).bind("token", token).bind(
            "available", availableText ?? balance.available.description
        )
        .bind("locked", balance.locked.description)
        try upsert.run()
    }

    /// Amounts stored by us are canonical; anything else means the file was edited by hand.
    static func storedAmount(_ text: String) throws(StoreError) -> UInt256 {
        // The parser takes digits only, so canonical means no leading zero (or exactly "0"):
        // checked on the text rather than by rendering the value again (twice per balance read).
        guard let value = try? UInt256(decimal: text), text.utf8.count == 1 || text.utf8.first != UInt8(ascii: "0")
        else {
            throw StoreError(.unusable, "stored amount \"\(text)\" is not a canonical base-unit integer")
        }
        return value
    }

    /// Appends to the hash-chained audit trail in its own savepoint. The seed
    /// says a failed audit write must not undo the state change: it is logged
    /// as a warning and the update stands.
    func appendAudit(kind: String, requestId: String, body: JSON, now: Int64) {
        var bodyBytes: [UInt8] = []
        body.serialize(into: &bodyBytes, sortKeys: true)
        appendAudit(kind: kind, requestId: requestId, canonicalBody: bodyBytes, now: now)
    }

    /// The same, for a body already in canonical form (keys sorted, no whitespace).
    func appendAudit(kind: String, requestId: String, canonicalBody body: [UInt8], now: Int64) {
        let hash = Ledger.auditHash(previous: auditHead, body: body)
        do throws(StoreError) {
            try database.statement("SAVEPOINT audit").run()
            do throws(StoreError) {
                let insert = try database.statement(
                    """
                    INSERT INTO audit (at_ms, kind, request_id, body, prev_hash, hash)
                    VALUES (:at_ms, :kind, :request_id, :body, :prev_hash, :hash)
                    """)
                try insert.bind("at_ms", now).bind("kind", kind).bind("request_id", requestId).bind("body", utf8: body)
                    .bind("prev_hash", auditHead).bind("hash", hash)
                try insert.run()
                try database.statement("RELEASE audit").run()
                auditHead = hash
            } catch {
                try? database.statement("ROLLBACK TO audit").run()
                try? database.statement("RELEASE audit").run()
                throw error
            }
        } catch {
            logger.warning(
                "audit trail write failed; the state update stands",
                metadata: [
                    "request": "\(requestId)", "kind": "\(kind)", "error": "\(error)",
                ])
        }
    }

    static func auditHash(previous: String, body: String) -> String {
        auditHash(previous: previous, body: Array(body.utf8))
    }

    /// SHA-256 over `previous` "\n" `body`, in lowercase hex.
    static func auditHash(previous: String, body: [UInt8]) -> String {
        var input: [UInt8] = []
        input.reserveCapacity(previous.utf8.count + 1 + body.count)
        input.append(contentsOf: previous.utf8)
        input.append(UInt8(ascii: "\n"))
        input.append(contentsOf: body)
        return Hex.encode(Hashing.sha256(input))
    }

    /// A flat object of string members in canonical form: exactly the bytes
    /// `serialize(sortKeys: true)` gives for the same object, without building
    /// it in jansson. `members` must come in bytewise key order.
    static func canonicalBody(_ members: [(key: StaticString, value: String)]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(64 + members.reduce(0) { $0 + $1.key.utf8CodeUnitCount + $1.value.utf8.count + 6 })
        for (index, member) in members.enumerated() {
            assert(
                index == 0 || Ledger.precedes(members[index - 1].key, member.key), "canonicalBody: keys out of order")
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(
                UnsafeRawPointer(member.key.utf8Start), length: member.key.utf8CodeUnitCount, into: &bytes)
            bytes.append(UInt8(ascii: ":"))
            if member.value.isEmpty {
                // An empty String may have no storage address to hand the writer.
                bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: "\"")])
            } else {
                var value = member.value
                value.withUTF8 { text in
                    JSONWriter.writeString(UnsafeRawPointer(text.baseAddress!), length: text.count, into: &bytes)
                }
            }
        }
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// Bytewise order of two keys, as the canonical writer sorts them.
    private static func precedes(_ left: StaticString, _ right: StaticString) -> Bool {
        let leftBytes = UnsafeBufferPointer(start: left.utf8Start, count: left.utf8CodeUnitCount)
        let rightBytes = UnsafeBufferPointer(start: right.utf8Start, count: right.utf8CodeUnitCount)
        return leftBytes.lexicographicallyPrecedes(rightBytes)
    }

    /// Runs a transition's body: its refusals (TokError) pass through, store
    /// failures become the retryable `database_error` (the savepoint rolls
    /// back, so nothing was changed).
    func guarded<T>(_ body: () throws -> T) throws(TokError) -> T {
        do {
            return try body()
        } catch let error as TokError {
            throw error
        } catch {
            throw TokError(.databaseError, "\(error)")
        }
    }

    /// The clock, read by tok-apply once per batch and handed to transitions.
    public static func nowMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
