/// The database schema, as numbered migrations applied in order. A database
/// records its version in `PRAGMA user_version`; never edit a released
/// migration, append a new one.
///
/// Amounts are TEXT holding canonical base-unit decimals (up to 2^256-1, far
/// beyond SQLite's 64-bit integers); arithmetic happens in Swift's UInt256.
enum Schema {
    static let migrations: [String] = [
        // 1: deposits, payouts, balances, nonces, requests, audit trail.
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
            amount         TEXT NOT NULL,          -- the chain's base units
            credited       TEXT NOT NULL,          -- the token's ledger units
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

        -- One row per payout (and per transfer's payout half). Amounts in ledger
        -- units except dest_amount (destination base units).
        CREATE TABLE payouts (
            request_id     TEXT PRIMARY KEY,
            op             TEXT NOT NULL,
            account        TEXT NOT NULL,
            token          TEXT NOT NULL,
            quantity       TEXT NOT NULL,
            fee            TEXT NOT NULL,
            destination    TEXT NOT NULL,
            dest_chain     TEXT NOT NULL,
            dest_asset     TEXT NOT NULL,
            dest_amount    TEXT NOT NULL,
            sender         TEXT NOT NULL,
            nonce          INTEGER,
            tx             TEXT NOT NULL,
            raw_tx         TEXT NOT NULL,
            state          TEXT NOT NULL CHECK (state IN ('prepared', 'submitted', 'confirmed', 'failed')),
            failure_fee    TEXT NOT NULL,          -- agreed at prepare, charged only on failure
            charged_fee    TEXT,                   -- what was finally charged (fee or failure fee)
            block_hash     TEXT,
            block_number   INTEGER,
            confirmations  INTEGER,
            failure        TEXT,
            prepared_at_ms INTEGER NOT NULL,
            updated_at_ms  INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX payouts_by_tx ON payouts (dest_chain, tx);
        CREATE INDEX payouts_open ON payouts (state) WHERE state IN ('prepared', 'submitted');

        -- Account-model senders: the next nonce tok will hand out, and nonces
        -- handed out but released (a payout that never reached the chain), which
        -- the next payouts reuse first so no gap blocks the sender.
        CREATE TABLE nonces (
            chain      TEXT NOT NULL,
            sender     TEXT NOT NULL,
            next_nonce INTEGER NOT NULL,
            PRIMARY KEY (chain, sender)
        ) WITHOUT ROWID;
        CREATE TABLE free_nonces (
            chain  TEXT NOT NULL,
            sender TEXT NOT NULL,
            nonce  INTEGER NOT NULL,
            PRIMARY KEY (chain, sender, nonce)
        ) WITHOUT ROWID;

        -- The ledger unit of each token, fixed at first use: a config change of
        -- a token's decimals would silently rescale every balance, so tok-apply refuses it.
        CREATE TABLE token_units (
            token    TEXT PRIMARY KEY,
            decimals INTEGER NOT NULL
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
        // 2: the operator's coins on UTXO chains. A coin is `available` to pay
        // from, `reserved` by a prepared payout that spends it, `spent` once that
        // payout is confirmed (or the chain shows it spent), and change of an open
        // payout is `pending` until the payout confirms. Reservations live here,
        // in tok-apply's transaction, so two payouts never spend the same coin.
        """
        CREATE TABLE utxos (
            chain      TEXT NOT NULL,
            tx         TEXT NOT NULL,
            vout       INTEGER NOT NULL,
            address    TEXT NOT NULL,
            value      INTEGER NOT NULL CHECK (value > 0),  -- base units; MAX_MONEY fits 63 bits
            state      TEXT NOT NULL CHECK (state IN ('available', 'reserved', 'spent', 'pending')),
            origin     TEXT NOT NULL CHECK (origin IN ('deposit', 'change')),
            request_id TEXT NOT NULL,          -- the deposit that brought it, or the payout that created it
            spent_by   TEXT,                   -- the payout that reserved or spent it
            PRIMARY KEY (chain, tx, vout)
        ) WITHOUT ROWID;
        CREATE INDEX utxos_available ON utxos (chain, address, value) WHERE state = 'available';
        CREATE INDEX utxos_by_payout ON utxos (spent_by) WHERE spent_by IS NOT NULL;
        -- A payout's change output (UTXO chains): vout and value.
        ALTER TABLE payouts ADD COLUMN change_vout INTEGER;
        ALTER TABLE payouts ADD COLUMN change_value INTEGER;
        """,
        // 3: the chains tok-apply follows. Every block it took (a chain per
        // network, linked by previous hash) with its state hash; the undo data
        // its disconnection replays; payments to the receiver seen in blocks,
        // waiting for their confirmation level; shortfalls a reorganisation
        // deeper than that level left; tokenisation anchors seen.
        """
        CREATE TABLE chain_blocks (
            chain          TEXT NOT NULL,
            height         INTEGER NOT NULL CHECK (height >= 0),
            hash           TEXT NOT NULL,
            previous_hash  TEXT NOT NULL,
            block_time     INTEGER NOT NULL,
            facts          TEXT NOT NULL,   -- canonical JSON of what the block changed
            state_hash     TEXT NOT NULL,   -- SHA-256 of the previous block's state hash, a newline and the facts; hex
            applied_at_ms  INTEGER NOT NULL,
            PRIMARY KEY (chain, height)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX chain_blocks_by_hash ON chain_blocks (chain, hash);

        -- What connecting a block changed, in order; disconnecting it replays these
        -- backwards and checks each against the ledger first.
        CREATE TABLE block_undo (
            chain  TEXT NOT NULL,
            height INTEGER NOT NULL,
            seq    INTEGER NOT NULL,
            kind   TEXT NOT NULL CHECK (kind IN ('payment_detected', 'payment_matured', 'coin_spent', 'shortfall_resolved',
                                                 'anchor_seen', 'row')),
            body   TEXT NOT NULL,           -- canonical JSON naming what changed and how
            PRIMARY KEY (chain, height, seq)
        ) WITHOUT ROWID;

        CREATE TABLE detected_payments (
            chain      TEXT NOT NULL,
            tx         TEXT NOT NULL,
            asset      TEXT NOT NULL,
            block_hash TEXT NOT NULL,
            height     INTEGER NOT NULL,
            amount     TEXT NOT NULL,       -- the chain's base units
            sender     TEXT,                -- proven by the transaction; NULL: nobody is
            unproven   TEXT,                -- why nobody is: coinbase, mixed_inputs, non_standard_input
            outputs    TEXT NOT NULL,       -- JSON [{"vout","value"}] on UTXO chains, [] elsewhere
            state      TEXT NOT NULL CHECK (state IN ('pending', 'credited', 'unattributed', 'not_creditable', 'resolved')),
            request_id TEXT,                -- the deposit that credited it (automatic or requested)
            note       TEXT,
            PRIMARY KEY (chain, tx, asset, block_hash)
        ) WITHOUT ROWID;
        CREATE INDEX detected_pending ON detected_payments (chain, height) WHERE state = 'pending';

        CREATE TABLE shortfalls (
            id             INTEGER PRIMARY KEY,
            chain          TEXT NOT NULL,
            tx             TEXT NOT NULL,
            account        TEXT NOT NULL,
            token          TEXT NOT NULL,
            amount         TEXT NOT NULL,   -- ledger units credited for a payment the chain no longer has
            block_hash     TEXT NOT NULL,   -- the abandoned block that held it
            height         INTEGER NOT NULL,
            coins          TEXT NOT NULL,   -- JSON outpoints taken out of the pool with it
            state          TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
            resolution     TEXT,
            opened_at_ms   INTEGER NOT NULL,
            resolved_at_ms INTEGER
        );
        CREATE INDEX shortfalls_open ON shortfalls (account) WHERE state = 'open';
        CREATE INDEX shortfalls_by_tx ON shortfalls (chain, tx);

        CREATE TABLE anchors (
            chain      TEXT NOT NULL,
            block_hash TEXT NOT NULL,
            height     INTEGER NOT NULL,
            position   INTEGER NOT NULL,    -- the transaction's index in its block
            tx         TEXT NOT NULL,
            output     INTEGER NOT NULL,
            actor      TEXT,                -- the address input 0 spends from
            script     TEXT NOT NULL,       -- the envelope output's script, hex
            outcome    TEXT NOT NULL,       -- recorded | invalid | unsupported
            reason     TEXT,
            PRIMARY KEY (chain, block_hash, position)
        ) WITHOUT ROWID;
        """,
        // 4: tokenisation (tok-protocol(7)). Tokens, their balances and invoices
        // change only with blocks, each write journaled as undo data (RowJournal);
        // quantities fit 63 bits (tok caps them at 2^63-1), koinu too (10^18).
        // Off-chain records are kept by hash, apart: they only add information.
        """
        CREATE TABLE tokens (
            chain         TEXT NOT NULL,
            token         TEXT NOT NULL,          -- the mint anchor's position, "height:index"
            height        INTEGER NOT NULL,
            position      INTEGER NOT NULL,
            tx            TEXT NOT NULL,
            owner         TEXT NOT NULL,          -- the address input 0 of the mint spends
            supply        INTEGER NOT NULL CHECK (supply > 0),
            record_hash   TEXT NOT NULL,
            managers      TEXT NOT NULL,          -- JSON addresses, in named-output order
            min_approvals INTEGER NOT NULL CHECK (min_approvals >= 0),
            PRIMARY KEY (chain, token)
        ) WITHOUT ROWID;

        CREATE TABLE token_balances (
            chain     TEXT NOT NULL,
            token     TEXT NOT NULL,
            address   TEXT NOT NULL,
            available INTEGER NOT NULL CHECK (available >= 0),
            reserved  INTEGER NOT NULL CHECK (reserved >= 0),   -- held by invoices (and escrowed offers)
            PRIMARY KEY (chain, token, address)
        ) WITHOUT ROWID;

        CREATE TABLE invoices (
            chain          TEXT NOT NULL,
            invoice        TEXT NOT NULL,         -- the invoice anchor's position
            token          TEXT NOT NULL,
            height         INTEGER NOT NULL,
            tx             TEXT NOT NULL,
            seller         TEXT NOT NULL,
            buyer          TEXT NOT NULL,
            payee_script   TEXT NOT NULL,         -- hex: the exact script the buyer pays
            quantity       INTEGER NOT NULL CHECK (quantity > 0),
            unit_price     INTEGER NOT NULL CHECK (unit_price > 0),
            owed           INTEGER NOT NULL CHECK (owed > 0),      -- koinu: quantity x unit price
            expiry_height  INTEGER NOT NULL,
            record_hash    TEXT NOT NULL,
            state          TEXT NOT NULL CHECK (state IN ('open', 'paid', 'settled', 'expired')),
            payment_tx     TEXT,
            payment_height INTEGER,
            paid           INTEGER,               -- koinu the payment paid to the payee's script
            settled_height INTEGER,
            PRIMARY KEY (chain, invoice)
        ) WITHOUT ROWID;
        CREATE INDEX invoices_expiring ON invoices (chain, expiry_height) WHERE state = 'open';
        CREATE INDEX invoices_settling ON invoices (chain, payment_height) WHERE state = 'paid';

        CREATE TABLE token_records (
            seq            INTEGER PRIMARY KEY,   -- arrival order here: the export cursor
            hash           TEXT NOT NULL UNIQUE,
            kind           TEXT NOT NULL,
            chain          TEXT NOT NULL,
            author         TEXT NOT NULL,
            expiry_height  INTEGER NOT NULL,
            canonical      TEXT NOT NULL,         -- the record's canonical JSON text
            signature      TEXT NOT NULL,
            received_at_ms INTEGER NOT NULL
        );
        CREATE INDEX token_records_by_expiry ON token_records (chain, expiry_height);
        """,
        // 5: the market. Binding offers (the book), the matches they made, and
        // asset managers' approvals; block-owned and journaled like migration 4.
        """
        CREATE TABLE offers (
            chain         TEXT NOT NULL,
            offer         TEXT NOT NULL,          -- the offer anchor's position
            side          TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
            token         TEXT NOT NULL,
            author        TEXT NOT NULL,
            height        INTEGER NOT NULL,
            position      INTEGER NOT NULL,
            tx            TEXT NOT NULL,
            quantity      INTEGER NOT NULL CHECK (quantity > 0),
            remaining     INTEGER NOT NULL CHECK (remaining >= 0),
            unit_price    INTEGER NOT NULL CHECK (unit_price > 0),   -- a sell's price, a buy's maximum
            expiry_height INTEGER NOT NULL,
            record_hash   TEXT NOT NULL,
            payee_script  TEXT,                   -- a sell's: hex of the script buyers pay
            state         TEXT NOT NULL CHECK (state IN ('open', 'filled', 'deleted', 'expired')),
            PRIMARY KEY (chain, offer)
        ) WITHOUT ROWID;
        -- The book, one index per side in its priority order: best price, then earliest position.
        CREATE INDEX offers_sells ON offers (chain, token, unit_price, height, position) WHERE side = 'sell' AND state = 'open';
        CREATE INDEX offers_buys ON offers (chain, token, unit_price DESC, height, position) WHERE side = 'buy' AND state = 'open';
        CREATE INDEX offers_expiring ON offers (chain, expiry_height) WHERE state = 'open';

        CREATE TABLE matches (
            chain          TEXT NOT NULL,
            sell_offer     TEXT NOT NULL,
            buy_offer      TEXT NOT NULL,
            token          TEXT NOT NULL,
            seller         TEXT NOT NULL,
            buyer          TEXT NOT NULL,
            quantity       INTEGER NOT NULL CHECK (quantity > 0),
            unit_price     INTEGER NOT NULL CHECK (unit_price > 0),   -- the resting offer's
            owed           INTEGER NOT NULL CHECK (owed > 0),         -- koinu
            payee_script   TEXT NOT NULL,
            height         INTEGER NOT NULL,      -- where the match was made
            window_end     INTEGER NOT NULL,      -- payment window [height, window_end)
            state          TEXT NOT NULL CHECK (state IN ('reserved', 'paid', 'settled', 'expired')),
            payment_tx     TEXT,
            payment_height INTEGER,
            paid           INTEGER,
            settled_height INTEGER,
            PRIMARY KEY (chain, sell_offer, buy_offer)
        ) WITHOUT ROWID;
        CREATE INDEX matches_open ON matches (chain, window_end) WHERE state IN ('reserved', 'paid');

        CREATE TABLE approvals (
            chain       TEXT NOT NULL,
            reservation TEXT NOT NULL,            -- "invoice:H:I" or "match:H:I/H:I"
            manager     TEXT NOT NULL,
            height      INTEGER NOT NULL,
            tx          TEXT NOT NULL,
            PRIMARY KEY (chain, reservation, manager)
        ) WITHOUT ROWID;
        """,
    ]

    static var currentVersion: Int { migrations.count }
}
