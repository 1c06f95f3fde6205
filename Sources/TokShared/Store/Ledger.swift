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

/// What `op: status` reports about a request.
public struct RequestState: Sendable {
    public var requestId: String
    public var op: String
    public var state: String
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
/// caller's database transaction and its own savepoint, with its
/// preconditions checked before anything is written. No chain I/O happens
/// here: the atomic sections only touch the database.
public final class Ledger {
    public let database: SQLiteDatabase
    private let logger: Logger
    /// Hash of the newest audit entry; reloaded whenever a transaction rolls back.
    private var auditHead: String
    static let auditGenesis = String(repeating: "0", count: 64)

    public init(path: String, synchronous: String, busyTimeoutMilliseconds: Int, logger: Logger) throws {
        database = try SQLiteDatabase(path: path)
        self.logger = logger
        try database.execute("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)")
        try database.execute("PRAGMA journal_mode = WAL")
        try database.execute("PRAGMA synchronous = \(synchronous == "normal" ? "NORMAL" : "FULL")")
        // The savepoint per record keeps a statement journal; in memory it costs
        // no file writes (it holds one batch's changes at most, a few MiB).
        try database.execute("PRAGMA temp_store = MEMORY")
        // 64 MiB of page cache: a batch's working set stays in memory as the database grows.
        try database.execute("PRAGMA cache_size = -65536")
        try Ledger.migrate(database)
        auditHead = Ledger.genesisOrLast(database)
    }

    /// Opens (creating and migrating) the database as its writer: the lock is
    /// held while the schema is brought up to date, then released; callers
    /// take it again around every write (`WriterLock.withLock`, or per batch).
    public static func openWriter(path: String, config: TokConfig, lockTimeoutMilliseconds: Int?,
                                  logger: Logger) throws -> (lock: WriterLock, ledger: Ledger) {
        let lock = try WriterLock(databasePath: path, timeoutMilliseconds: lockTimeoutMilliseconds ?? config.database.lockTimeoutMilliseconds)
        let ledger = try lock.withLock {
            let ledger = try Ledger(path: path, synchronous: config.database.synchronous,
                                    busyTimeoutMilliseconds: config.database.lockTimeoutMilliseconds, logger: logger)
            try ledger.bindTokenUnits(config.tokens)
            return ledger
        }
        return (lock, ledger)
    }

    /// A read-only view for tok-verify's advisory checks (balances, nonces,
    /// replays). It never writes; only tok-apply does.
    public init(readOnlyPath path: String, busyTimeoutMilliseconds: Int, logger: Logger) throws {
        database = try SQLiteDatabase(path: path, readOnly: true)
        self.logger = logger
        try database.execute("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)")
        let version = Int(try database.scalarInt("PRAGMA user_version") ?? 0)
        guard version == Schema.currentVersion else {
            throw SQLiteError(code: 0, message: "\(path) has schema version \(version), this tok expects \(Schema.currentVersion); run tok-apply on it first")
        }
        auditHead = Ledger.auditGenesis
    }

    /// The payout recorded under a request id, if any (tok-verify uses it to
    /// re-emit a replayed payout's transaction instead of signing a new one).
    public func payout(requestId: String) throws(TokError) -> PayoutRow? {
        try guarded { try payoutRow(requestId) }
    }

    static func migrate(_ database: SQLiteDatabase) throws {
        let version = Int(try database.scalarInt("PRAGMA user_version") ?? 0)
        guard version <= Schema.currentVersion else {
            throw SQLiteError(code: 0, message: "database schema version \(version) is newer than this tok (\(Schema.currentVersion))")
        }
        for next in version..<Schema.currentVersion {
            try database.execute("BEGIN IMMEDIATE")
            do {
                try database.execute(Schema.migrations[next])
                try database.execute("PRAGMA user_version = \(next + 1)")
                try database.execute("COMMIT")
            } catch {
                try? database.execute("ROLLBACK")
                throw error
            }
        }
    }

    private static func genesisOrLast(_ database: SQLiteDatabase) -> String {
        guard let query = try? database.statement("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1") else { return auditGenesis }
        defer { query.reset() }
        return ((try? query.step()) == true) ? query.text(0) : auditGenesis
    }

    // MARK: Transactions

    /// Group commit: one transaction per batch, a savepoint per record.
    /// The audit head is re-read inside the transaction: another tok-apply (the
    /// second one of a payout pipeline) may have appended since our last batch.
    public func beginBatch() throws {
        try database.statement("BEGIN IMMEDIATE").run()
        auditHead = Ledger.genesisOrLast(database)
    }

    public func commitBatch() throws { try database.statement("COMMIT").run() }

    public func rollbackBatch() {
        if database.inTransaction { try? database.execute("ROLLBACK") }
        auditHead = Ledger.genesisOrLast(database)
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

    /// Credits a verified deposit exactly once per (chain, tx).
    /// Preconditions: the transaction is not registered yet (else `duplicate`),
    /// the request id is unused or names this very deposit, the new balance fits.
    /// `op` is "deposit", or "transfer" for a transfer's deposit half.
    public func creditDeposit(_ deposit: VerifiedDeposit, op: String = "deposit") throws(TokError) -> DepositOutcome {
        precondition(!deposit.amount.isZero, "tok-verify never attests a zero deposit")
        return try guarded {
            let existing = try database.statement("SELECT request_id FROM deposits WHERE chain = ?1 AND tx = ?2")
            try existing.bind(1, deposit.chain).bind(2, deposit.tx)
            if try existing.step() {
                let first = existing.text(0)
                existing.reset()
                return .duplicate(firstRequest: first)
            }
            existing.reset()

            let ownPayout = try database.statement("SELECT request_id FROM payouts WHERE dest_chain = ?1 AND tx = ?2")
            try ownPayout.bind(1, deposit.chain).bind(2, deposit.tx)
            if try ownPayout.step() {
                let payout = ownPayout.text(0)
                ownPayout.reset()
                // Its outputs to the operator are the payout's change, booked already.
                throw TokError(.conflictingRecord, "transaction \(deposit.tx) is tok's own payout \(payout), not a deposit")
            }
            ownPayout.reset()

            if let other = try requestRow(deposit.requestId) {
                // Same id, different transaction (the same one was caught above).
                throw TokError(.conflictingRecord,
                               "request id \(deposit.requestId) is already used by a \(other.op) of \(other.tx ?? "another transaction")")
            }

            let balance = try readBalance(account: deposit.account, token: deposit.token)
            guard let available = balance.available.adding(deposit.credited) else {
                throw TokError(.balanceOverflow, "crediting \(deposit.credited) would overflow the balance of \(deposit.account)")
            }
            try writeBalance(account: deposit.account, token: deposit.token, Balance(available: available, locked: balance.locked))

            let now = Ledger.nowMilliseconds()
            // Each amount is rendered once: it goes to the deposit row and to the audit body.
            let amountText = deposit.amount.description
            let creditedText = deposit.credited.description
            let insert = try database.statement("""
                INSERT INTO deposits (chain, tx, request_id, account, token, asset, amount, credited, block_hash, block_number, confirmations, credited_at_ms)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                """)
            try insert.bind(1, deposit.chain).bind(2, deposit.tx).bind(3, deposit.requestId).bind(4, deposit.account)
                .bind(5, deposit.token).bind(6, deposit.asset).bind(7, amountText)
                .bind(8, creditedText)
                .bind(9, deposit.blockHash).bind(10, deposit.blockNumber).bind(11, deposit.confirmations).bind(12, now)
            try insert.run()
            try insertRequest(id: deposit.requestId, op: op, state: "credited", chain: deposit.chain, tx: deposit.tx, now: now)
            if !deposit.coins.isEmpty, let receiver = deposit.receiver {
                try addDepositCoins(deposit.coins, chain: deposit.chain, address: receiver, requestId: deposit.requestId)
            }

            // Every deposit writes this body: written straight to canonical bytes
            // rather than built as a jansson object and serialised.
            let body = Ledger.canonicalBody([
                ("account", deposit.account),
                ("amount", amountText),
                ("available_after", available.description),
                ("chain", deposit.chain),
                ("credited", creditedText),
                ("token", deposit.token),
                ("tx", deposit.tx),
            ])
            appendAudit(kind: "deposit_credited", requestId: deposit.requestId, canonicalBody: body, now: now)
            return .credited(availableAfter: available)
        }
    }

    // MARK: Queries

    public func balance(account: String, token: String) throws(TokError) -> Balance {
        try guarded { try readBalance(account: account, token: token) }
    }

    public func requestState(id: String) throws(TokError) -> RequestState? {
        try guarded {
            guard let row = try requestRow(id) else { return nil }
            var state = RequestState(requestId: id, op: row.op, state: row.state, chain: row.chain, tx: row.tx)
            if row.op == "deposit" || row.op == "transfer", let chain = row.chain, let tx = row.tx {
                let query = try database.statement("SELECT credited, account, token, confirmations FROM deposits WHERE chain = ?1 AND tx = ?2")
                defer { query.reset() }
                try query.bind(1, chain).bind(2, tx)
                if try query.step() {
                    state.amount = query.text(0)
                    state.account = query.text(1)
                    state.token = query.text(2)
                    state.confirmations = query.int64(3)
                }
            }
            if row.op == "payout" || row.op == "transfer" {
                state.payout = try payoutRow(id)
                if let payout = state.payout { state.state = payout.state }
            }
            return state
        }
    }

    /// Fixes each token's ledger unit on first use and refuses a config that
    /// changed it since: that would silently rescale every stored balance.
    public func bindTokenUnits(_ tokens: [TokenConfig]) throws {
        for token in tokens {
            let query = try database.statement("SELECT decimals FROM token_units WHERE token = ?1")
            try query.bind(1, token.alias)
            if try query.step() {
                let stored = Int(query.int64(0))
                query.reset()
                guard stored == token.decimals else {
                    throw StageFailure(.config, "token \(token.alias) has ledger decimals \(stored) in the database but \(token.decimals) in the config; a token's ledger decimals can never change")
                }
                continue
            }
            query.reset()
            let insert = try database.statement("INSERT INTO token_units (token, decimals) VALUES (?1, ?2)")
            try insert.bind(1, token.alias).bind(2, Int64(token.decimals))
            try insert.run()
        }
    }

    // MARK: Pieces shared by transitions

    struct RequestRow { var op: String; var state: String; var chain: String?; var tx: String? }

    func requestRow(_ id: String) throws -> RequestRow? {
        let query = try database.statement("SELECT op, state, chain, tx FROM requests WHERE request_id = ?1")
        defer { query.reset() }
        try query.bind(1, id)
        guard try query.step() else { return nil }
        return RequestRow(op: query.text(0), state: query.text(1), chain: query.optionalText(2), tx: query.optionalText(3))
    }

    func insertRequest(id: String, op: String, state: String, chain: String?, tx: String?, now: Int64) throws {
        let insert = try database.statement("INSERT INTO requests (request_id, op, state, chain, tx, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        try insert.bind(1, id).bind(2, op).bind(3, state).bind(4, chain).bind(5, tx).bind(6, now)
        try insert.run()
    }

    func readBalance(account: String, token: String) throws -> Balance {
        let query = try database.statement("SELECT available, locked FROM balances WHERE account = ?1 AND token = ?2")
        defer { query.reset() }
        try query.bind(1, account).bind(2, token)
        guard try query.step() else { return Balance(available: .zero, locked: .zero) }
        return Balance(available: try Ledger.storedAmount(query.text(0)), locked: try Ledger.storedAmount(query.text(1)))
    }

    func writeBalance(account: String, token: String, _ balance: Balance) throws {
        let upsert = try database.statement("""
            INSERT INTO balances (account, token, available, locked) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (account, token) DO UPDATE SET available = excluded.available, locked = excluded.locked
            """)
        try upsert.bind(1, account).bind(2, token).bind(3, balance.available.description).bind(4, balance.locked.description)
        try upsert.run()
    }

    /// Amounts stored by us are canonical; anything else means the file was edited by hand.
    static func storedAmount(_ text: String) throws -> UInt256 {
        guard let value = try? UInt256(decimal: text), value.description == text else {
            throw SQLiteError(code: 0, message: "stored amount \"\(text)\" is not a canonical base-unit integer")
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
        do {
            try database.statement("SAVEPOINT audit").run()
            do {
                let insert = try database.statement("INSERT INTO audit (at_ms, kind, request_id, body, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                try insert.bind(1, now).bind(2, kind).bind(3, requestId).bind(4, utf8: body).bind(5, auditHead).bind(6, hash)
                try insert.run()
                try database.statement("RELEASE audit").run()
                auditHead = hash
            } catch {
                try? database.statement("ROLLBACK TO audit").run()
                try? database.statement("RELEASE audit").run()
                throw error
            }
        } catch {
            logger.warning("audit trail write failed; the state update stands", metadata: [
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
            assert(index == 0 || Ledger.precedes(members[index - 1].key, member.key), "canonicalBody: keys out of order")
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(UnsafeRawPointer(member.key.utf8Start), length: member.key.utf8CodeUnitCount, into: &bytes)
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

    /// Maps SQLite failures to the retryable `database_error`; TokErrors pass through.
    func guarded<T>(_ body: () throws -> T) throws(TokError) -> T {
        do {
            return try body()
        } catch let error as TokError {
            throw error
        } catch {
            throw TokError(.databaseError, "\(error)")
        }
    }

    static func nowMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
