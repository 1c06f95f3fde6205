/// The database schema, as numbered migrations applied in order. A database
/// records its version in `PRAGMA user_version`; never edit a released
/// migration, append a new one.
///
/// Amounts are TEXT holding canonical base-unit decimals (up to 2^256-1, far
/// beyond SQLite's 64-bit integers); arithmetic happens in Swift's UInt256.
enum Schema {
    static let migrations: [String] = [
        // 1: deposits, balances, requests, audit trail.
        """
        CREATE TABLE requests (
            request_id  TEXT PRIMARY KEY,
            op          TEXT NOT NULL,
            state       TEXT NOT NULL,
            chain       TEXT,
            tx          TEXT,
            updated_at_ms INTEGER NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE deposits (
            chain          TEXT NOT NULL,
            tx             TEXT NOT NULL,
            request_id     TEXT NOT NULL,
            account        TEXT NOT NULL,
            token          TEXT NOT NULL,
            asset          TEXT NOT NULL,
            amount         TEXT NOT NULL,
            block_hash     TEXT NOT NULL,
            block_number   INTEGER NOT NULL,
            confirmations  INTEGER NOT NULL,
            credited_at_ms INTEGER NOT NULL,
            PRIMARY KEY (chain, tx)
        ) WITHOUT ROWID;

        CREATE TABLE balances (
            account   TEXT NOT NULL,
            token     TEXT NOT NULL,
            available TEXT NOT NULL,
            locked    TEXT NOT NULL,
            PRIMARY KEY (account, token)
        ) WITHOUT ROWID;

        CREATE TABLE fee_balances (
            token  TEXT PRIMARY KEY,
            amount TEXT NOT NULL
        ) WITHOUT ROWID;

        -- Append-only, hash-chained: hash = SHA-256(prev_hash || "\\n" || body).
        CREATE TABLE audit (
            seq       INTEGER PRIMARY KEY,
            at_ms     INTEGER NOT NULL,
            kind      TEXT NOT NULL,
            request_id TEXT NOT NULL,
            body      TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash      TEXT NOT NULL
        );
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
        """,
    ]

    static var currentVersion: Int { migrations.count }
}
