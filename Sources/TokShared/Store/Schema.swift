/// The database schema, as numbered migrations applied in order, written
/// once in a neutral form that each engine's dialect renders (`SQLDialect.render`):
/// column types are tokens (`{int}` a 64-bit integer, `{text}` text compared
/// bytewise, `{key}` a generated integer primary key, `{without_rowid}` after a
/// table's closing parenthesis), and what the engines spell differently
/// (append-only triggers, constraints added to an existing table) are steps of
/// their own. Each migration runs in its own transaction and is recorded with
/// its checksum in `schema_migrations`; a database whose recorded migration
/// differs from this tok's, or that has migrations this tok does not know, is
/// refused. Never edit a released migration, append a new one.
///
/// Amounts are TEXT holding canonical base-unit decimals (up to 2^256-1, far
/// beyond 64-bit integers); arithmetic happens in Swift's UInt256.
enum Schema {
    static let migrations: [Migration] = [
        // 1: deposits, payouts, balances, nonces, requests, audit trail.
        Migration([
            .sql("""
            CREATE TABLE requests (
                request_id  {text} PRIMARY KEY,
                op          {text} NOT NULL,
                state       {text} NOT NULL,
                chain       {text},
                tx          {text},
                updated_at_ms {int} NOT NULL
            ) {without_rowid};

            CREATE TABLE deposits (
                chain          {text} NOT NULL,
                tx             {text} NOT NULL,
                request_id     {text} NOT NULL,
                account        {text} NOT NULL,
                token          {text} NOT NULL,
                asset          {text} NOT NULL,
                amount         {text} NOT NULL,          -- the chain's base units
                credited       {text} NOT NULL,          -- the token's ledger units
                block_hash     {text} NOT NULL,
                block_number   {int} NOT NULL,
                confirmations  {int} NOT NULL,
                credited_at_ms {int} NOT NULL,
                PRIMARY KEY (chain, tx)
            ) {without_rowid};

            CREATE TABLE balances (
                account   {text} NOT NULL,
                token     {text} NOT NULL,
                available {text} NOT NULL,
                locked    {text} NOT NULL,
                PRIMARY KEY (account, token)
            ) {without_rowid};

            -- One row per payout (and per transfer's payout half). Amounts in ledger
            -- units except dest_amount (destination base units).
            CREATE TABLE payouts (
                request_id     {text} PRIMARY KEY,
                op             {text} NOT NULL,
                account        {text} NOT NULL,
                token          {text} NOT NULL,
                quantity       {text} NOT NULL,
                fee            {text} NOT NULL,
                destination    {text} NOT NULL,
                dest_chain     {text} NOT NULL,
                dest_asset     {text} NOT NULL,
                dest_amount    {text} NOT NULL,
                sender         {text} NOT NULL,
                nonce          {int},
                tx             {text} NOT NULL,
                raw_tx         {text} NOT NULL,
                state          {text} NOT NULL CHECK (state IN ('prepared', 'submitted', 'confirmed', 'failed')),
                failure_fee    {text} NOT NULL,          -- agreed at prepare, charged only on failure
                charged_fee    {text},                   -- what was finally charged (fee or failure fee)
                block_hash     {text},
                block_number   {int},
                confirmations  {int},
                failure        {text},
                prepared_at_ms {int} NOT NULL,
                updated_at_ms  {int} NOT NULL
            ) {without_rowid};
            CREATE UNIQUE INDEX payouts_by_tx ON payouts (dest_chain, tx);
            CREATE INDEX payouts_open ON payouts (state) WHERE state IN ('prepared', 'submitted');

            -- Account-model senders: the next nonce tok will hand out, and nonces
            -- handed out but released (a payout that never reached the chain), which
            -- the next payouts reuse first so no gap blocks the sender.
            CREATE TABLE nonces (
                chain      {text} NOT NULL,
                sender     {text} NOT NULL,
                next_nonce {int} NOT NULL,
                PRIMARY KEY (chain, sender)
            ) {without_rowid};
            CREATE TABLE free_nonces (
                chain  {text} NOT NULL,
                sender {text} NOT NULL,
                nonce  {int} NOT NULL,
                PRIMARY KEY (chain, sender, nonce)
            ) {without_rowid};

            -- The ledger unit of each token, fixed at first use: a config change of
            -- a token's decimals would silently rescale every balance, so tok-apply refuses it.
            CREATE TABLE token_units (
                token    {text} PRIMARY KEY,
                decimals {int} NOT NULL
            ) {without_rowid};

            CREATE TABLE fee_balances (
                token  {text} PRIMARY KEY,
                amount {text} NOT NULL
            ) {without_rowid};

            -- Append-only, hash-chained: hash = SHA-256(prev_hash || "\\n" || body).
            CREATE TABLE audit (
                seq       {key},
                at_ms     {int} NOT NULL,
                kind      {text} NOT NULL,
                request_id {text} NOT NULL,
                body      {text} NOT NULL,
                prev_hash {text} NOT NULL,
                hash      {text} NOT NULL
            );
            """),
            .appendOnly(table: "audit", message: "the audit trail is append-only"),
        ]),
        // 2: the operator's coins on UTXO chains. A coin is `available` to pay
        // from, `reserved` by a prepared payout that spends it, `spent` once that
        // payout is confirmed (or the chain shows it spent), and change of an open
        // payout is `pending` until the payout confirms. Reservations live here,
        // in tok-apply's transaction, so two payouts never spend the same coin.
        Migration([
            .sql("""
            CREATE TABLE utxos (
                chain      {text} NOT NULL,
                tx         {text} NOT NULL,
                vout       {int} NOT NULL,
                address    {text} NOT NULL,
                value      {int} NOT NULL CHECK (value > 0),  -- base units; MAX_MONEY fits 63 bits
                state      {text} NOT NULL CHECK (state IN ('available', 'reserved', 'spent', 'pending')),
                origin     {text} NOT NULL CHECK (origin IN ('deposit', 'change')),
                request_id {text} NOT NULL,          -- the deposit that brought it, or the payout that created it
                spent_by   {text},                   -- the payout that reserved or spent it
                PRIMARY KEY (chain, tx, vout)
            ) {without_rowid};
            CREATE INDEX utxos_available ON utxos (chain, address, value) WHERE state = 'available';
            CREATE INDEX utxos_by_payout ON utxos (spent_by) WHERE spent_by IS NOT NULL;
            -- A payout's change output (UTXO chains): vout and value.
            ALTER TABLE payouts ADD COLUMN change_vout {int};
            ALTER TABLE payouts ADD COLUMN change_value {int};
            """),
        ]),
        // 3: the chains tok-apply follows. Every block it took (a chain per
        // network, linked by previous hash) with its state hash; the undo data
        // its disconnection replays; payments to the receiver seen in blocks,
        // waiting for their confirmation level; shortfalls a reorganisation
        // deeper than that level left; tokenisation anchors seen.
        Migration([
            .sql("""
            CREATE TABLE chain_blocks (
                chain          {text} NOT NULL,
                height         {int} NOT NULL CHECK (height >= 0),
                hash           {text} NOT NULL,
                previous_hash  {text} NOT NULL,
                block_time     {int} NOT NULL,
                facts          {text} NOT NULL,   -- canonical JSON of what the block changed
                state_hash     {text} NOT NULL,   -- SHA-256 of the previous block's state hash, a newline and the facts; hex
                applied_at_ms  {int} NOT NULL,
                PRIMARY KEY (chain, height)
            ) {without_rowid};
            CREATE UNIQUE INDEX chain_blocks_by_hash ON chain_blocks (chain, hash);

            -- What connecting a block changed, in order; disconnecting it replays these
            -- backwards and checks each against the ledger first.
            CREATE TABLE block_undo (
                chain  {text} NOT NULL,
                height {int} NOT NULL,
                seq    {int} NOT NULL,
                kind   {text} NOT NULL CHECK (kind IN ('payment_detected', 'payment_matured', 'coin_spent', 'shortfall_resolved',
                                                     'anchor_seen', 'row')),
                body   {text} NOT NULL,           -- canonical JSON naming what changed and how
                PRIMARY KEY (chain, height, seq)
            ) {without_rowid};

            CREATE TABLE detected_payments (
                chain      {text} NOT NULL,
                tx         {text} NOT NULL,
                asset      {text} NOT NULL,
                block_hash {text} NOT NULL,
                height     {int} NOT NULL,
                amount     {text} NOT NULL,       -- the chain's base units
                sender     {text},                -- proven by the transaction; NULL: nobody is
                unproven   {text},                -- why nobody is: coinbase, mixed_inputs, non_standard_input
                outputs    {text} NOT NULL,       -- JSON [{"vout","value"}] on UTXO chains, [] elsewhere
                state      {text} NOT NULL CHECK (state IN ('pending', 'credited', 'unattributed', 'not_creditable', 'resolved')),
                request_id {text},                -- the deposit that credited it (automatic or requested)
                note       {text},
                PRIMARY KEY (chain, tx, asset, block_hash)
            ) {without_rowid};
            CREATE INDEX detected_pending ON detected_payments (chain, height) WHERE state = 'pending';

            CREATE TABLE shortfalls (
                id             {key},
                chain          {text} NOT NULL,
                tx             {text} NOT NULL,
                account        {text} NOT NULL,
                token          {text} NOT NULL,
                amount         {text} NOT NULL,   -- ledger units credited for a payment the chain no longer has
                block_hash     {text} NOT NULL,   -- the abandoned block that held it
                height         {int} NOT NULL,
                coins          {text} NOT NULL,   -- JSON outpoints taken out of the pool with it
                state          {text} NOT NULL CHECK (state IN ('open', 'resolved')),
                resolution     {text},
                opened_at_ms   {int} NOT NULL,
                resolved_at_ms {int}
            );
            CREATE INDEX shortfalls_open ON shortfalls (account) WHERE state = 'open';
            CREATE INDEX shortfalls_by_tx ON shortfalls (chain, tx);

            CREATE TABLE anchors (
                chain      {text} NOT NULL,
                block_hash {text} NOT NULL,
                height     {int} NOT NULL,
                position   {int} NOT NULL,    -- the transaction's index in its block
                tx         {text} NOT NULL,
                output     {int} NOT NULL,
                actor      {text},                -- the address input 0 spends from
                script     {text} NOT NULL,       -- the envelope output's script, hex
                outcome    {text} NOT NULL,       -- recorded | invalid | unsupported
                reason     {text},
                PRIMARY KEY (chain, block_hash, position)
            ) {without_rowid};
            """),
        ]),
        // 4: tokenisation (tok-protocol(7)). Tokens, their balances and invoices
        // change only with blocks, each write journaled as undo data (RowJournal);
        // quantities fit 63 bits (tok caps them at 2^63-1), koinu too (10^18).
        // Off-chain records are kept by hash, apart: they only add information.
        Migration([
            .sql("""
            CREATE TABLE tokens (
                chain         {text} NOT NULL,
                token         {text} NOT NULL,          -- the mint anchor's position, "height:index"
                height        {int} NOT NULL,
                position      {int} NOT NULL,
                tx            {text} NOT NULL,
                owner         {text} NOT NULL,          -- the address input 0 of the mint spends
                supply        {int} NOT NULL CHECK (supply > 0),
                record_hash   {text} NOT NULL,
                managers      {text} NOT NULL,          -- JSON addresses, in named-output order
                min_approvals {int} NOT NULL CHECK (min_approvals >= 0),
                PRIMARY KEY (chain, token)
            ) {without_rowid};

            CREATE TABLE token_balances (
                chain     {text} NOT NULL,
                token     {text} NOT NULL,
                address   {text} NOT NULL,
                available {int} NOT NULL CHECK (available >= 0),
                reserved  {int} NOT NULL CHECK (reserved >= 0),   -- held by invoices (and escrowed offers)
                PRIMARY KEY (chain, token, address)
            ) {without_rowid};

            CREATE TABLE invoices (
                chain          {text} NOT NULL,
                invoice        {text} NOT NULL,         -- the invoice anchor's position
                token          {text} NOT NULL,
                height         {int} NOT NULL,
                tx             {text} NOT NULL,
                seller         {text} NOT NULL,
                buyer          {text} NOT NULL,
                payee_script   {text} NOT NULL,         -- hex: the exact script the buyer pays
                quantity       {int} NOT NULL CHECK (quantity > 0),
                unit_price     {int} NOT NULL CHECK (unit_price > 0),
                owed           {int} NOT NULL CHECK (owed > 0),      -- koinu: quantity x unit price
                expiry_height  {int} NOT NULL,
                record_hash    {text} NOT NULL,
                state          {text} NOT NULL CHECK (state IN ('open', 'paid', 'settled', 'expired')),
                payment_tx     {text},
                payment_height {int},
                paid           {int},               -- koinu the payment paid to the payee's script
                settled_height {int},
                PRIMARY KEY (chain, invoice)
            ) {without_rowid};
            CREATE INDEX invoices_expiring ON invoices (chain, expiry_height) WHERE state = 'open';
            CREATE INDEX invoices_settling ON invoices (chain, payment_height) WHERE state = 'paid';

            CREATE TABLE token_records (
                seq            {key},   -- arrival order here: the export cursor
                hash           {text} NOT NULL UNIQUE,
                kind           {text} NOT NULL,
                chain          {text} NOT NULL,
                author         {text} NOT NULL,
                expiry_height  {int} NOT NULL,
                canonical      {text} NOT NULL,         -- the record's canonical JSON text
                signature      {text} NOT NULL,
                received_at_ms {int} NOT NULL
            );
            CREATE INDEX token_records_by_expiry ON token_records (chain, expiry_height);
            """),
        ]),
        // 5: the market. Binding offers (the book), the matches they made, and
        // asset managers' approvals; block-owned and journaled like migration 4.
        Migration([
            .sql("""
            CREATE TABLE offers (
                chain         {text} NOT NULL,
                offer         {text} NOT NULL,          -- the offer anchor's position
                side          {text} NOT NULL CHECK (side IN ('buy', 'sell')),
                token         {text} NOT NULL,
                author        {text} NOT NULL,
                height        {int} NOT NULL,
                position      {int} NOT NULL,
                tx            {text} NOT NULL,
                quantity      {int} NOT NULL CHECK (quantity > 0),
                remaining     {int} NOT NULL CHECK (remaining >= 0),
                unit_price    {int} NOT NULL CHECK (unit_price > 0),   -- a sell's price, a buy's maximum
                expiry_height {int} NOT NULL,
                record_hash   {text} NOT NULL,
                payee_script  {text},                   -- a sell's: hex of the script buyers pay
                state         {text} NOT NULL CHECK (state IN ('open', 'filled', 'deleted', 'expired')),
                PRIMARY KEY (chain, offer)
            ) {without_rowid};
            -- The book, one index per side in its priority order: best price, then earliest position.
            CREATE INDEX offers_sells ON offers (chain, token, unit_price, height, position) WHERE side = 'sell' AND state = 'open';
            CREATE INDEX offers_buys ON offers (chain, token, unit_price DESC, height, position) WHERE side = 'buy' AND state = 'open';
            CREATE INDEX offers_expiring ON offers (chain, expiry_height) WHERE state = 'open';

            CREATE TABLE matches (
                chain          {text} NOT NULL,
                sell_offer     {text} NOT NULL,
                buy_offer      {text} NOT NULL,
                token          {text} NOT NULL,
                seller         {text} NOT NULL,
                buyer          {text} NOT NULL,
                quantity       {int} NOT NULL CHECK (quantity > 0),
                unit_price     {int} NOT NULL CHECK (unit_price > 0),   -- the resting offer's
                owed           {int} NOT NULL CHECK (owed > 0),         -- koinu
                payee_script   {text} NOT NULL,
                height         {int} NOT NULL,      -- where the match was made
                window_end     {int} NOT NULL,      -- payment window [height, window_end)
                state          {text} NOT NULL CHECK (state IN ('reserved', 'paid', 'settled', 'expired')),
                payment_tx     {text},
                payment_height {int},
                paid           {int},
                settled_height {int},
                PRIMARY KEY (chain, sell_offer, buy_offer)
            ) {without_rowid};
            CREATE INDEX matches_open ON matches (chain, window_end) WHERE state IN ('reserved', 'paid');

            CREATE TABLE approvals (
                chain       {text} NOT NULL,
                reservation {text} NOT NULL,            -- "invoice:H:I" or "match:H:I/H:I"
                manager     {text} NOT NULL,
                height      {int} NOT NULL,
                tx          {text} NOT NULL,
                PRIMARY KEY (chain, reservation, manager)
            ) {without_rowid};
            """),
        ]),
        // 6: integer quantities can never be negative (CHECK constraints on
        // both engines; SQLite cannot add one to an existing table, so there
        // it is a trigger pair that refuses the same rows).
        Migration([
            .check(table: "requests", column: "updated_at_ms", rule: ">= 0"),
            .check(table: "deposits", column: "block_number", rule: ">= 0"),
            .check(table: "deposits", column: "confirmations", rule: ">= 0"),
            .check(table: "deposits", column: "credited_at_ms", rule: ">= 0"),
            .check(table: "payouts", column: "nonce", rule: ">= 0"),
            .check(table: "payouts", column: "block_number", rule: ">= 0"),
            .check(table: "payouts", column: "confirmations", rule: ">= 0"),
            .check(table: "payouts", column: "prepared_at_ms", rule: ">= 0"),
            .check(table: "payouts", column: "updated_at_ms", rule: ">= 0"),
            .check(table: "payouts", column: "change_vout", rule: ">= 0"),
            .check(table: "payouts", column: "change_value", rule: "> 0"),
            .check(table: "nonces", column: "next_nonce", rule: ">= 0"),
            .check(table: "free_nonces", column: "nonce", rule: ">= 0"),
            .check(table: "token_units", column: "decimals", rule: "BETWEEN 0 AND 77"),
            .check(table: "audit", column: "at_ms", rule: ">= 0"),
            .check(table: "utxos", column: "vout", rule: ">= 0"),
            .check(table: "chain_blocks", column: "block_time", rule: ">= 0"),
            .check(table: "chain_blocks", column: "applied_at_ms", rule: ">= 0"),
            .check(table: "block_undo", column: "height", rule: ">= 0"),
            .check(table: "block_undo", column: "seq", rule: ">= 0"),
            .check(table: "detected_payments", column: "height", rule: ">= 0"),
            .check(table: "shortfalls", column: "height", rule: ">= 0"),
            .check(table: "shortfalls", column: "opened_at_ms", rule: ">= 0"),
            .check(table: "shortfalls", column: "resolved_at_ms", rule: ">= 0"),
            .check(table: "anchors", column: "height", rule: ">= 0"),
            .check(table: "anchors", column: "position", rule: ">= 0"),
            .check(table: "anchors", column: "output", rule: ">= 0"),
            .check(table: "tokens", column: "height", rule: ">= 0"),
            .check(table: "tokens", column: "position", rule: ">= 0"),
            .check(table: "invoices", column: "height", rule: ">= 0"),
            .check(table: "invoices", column: "expiry_height", rule: ">= 0"),
            .check(table: "invoices", column: "payment_height", rule: ">= 0"),
            .check(table: "invoices", column: "paid", rule: ">= 0"),
            .check(table: "invoices", column: "settled_height", rule: ">= 0"),
            .check(table: "token_records", column: "expiry_height", rule: ">= 0"),
            .check(table: "token_records", column: "received_at_ms", rule: ">= 0"),
            .check(table: "offers", column: "height", rule: ">= 0"),
            .check(table: "offers", column: "position", rule: ">= 0"),
            .check(table: "offers", column: "expiry_height", rule: ">= 0"),
            .check(table: "matches", column: "height", rule: ">= 0"),
            .check(table: "matches", column: "window_end", rule: ">= 0"),
            .check(table: "matches", column: "payment_height", rule: ">= 0"),
            .check(table: "matches", column: "paid", rule: ">= 0"),
            .check(table: "matches", column: "settled_height", rule: ">= 0"),
            .check(table: "approvals", column: "height", rule: ">= 0"),
        ]),
        // 7: a deposit is one asset of one transaction, keyed (chain, tx,
        // asset): a batching contract that pays the receiver two tokens in one
        // transaction is two deposits. Neither engine can change a primary key
        // in place on both, so the table is rebuilt under its name, every row
        // copied as it was (the audit trail is not touched); the rebuilt
        // table gets migration 6's checks again (SQLite's triggers and
        // PostgreSQL's constraints went with the old one). A shortfall names
        // the asset of the deposit it took, so one of two deposits of a
        // transaction is found again; older shortfalls get it from their
        // deposit, the only one of their transaction until now.
        Migration([
            .sql("""
            CREATE TABLE deposits_by_asset (
                chain          {text} NOT NULL,
                tx             {text} NOT NULL,
                request_id     {text} NOT NULL,
                account        {text} NOT NULL,
                token          {text} NOT NULL,
                asset          {text} NOT NULL,
                amount         {text} NOT NULL,          -- the chain's base units
                credited       {text} NOT NULL,          -- the token's ledger units
                block_hash     {text} NOT NULL,
                block_number   {int} NOT NULL,
                confirmations  {int} NOT NULL,
                credited_at_ms {int} NOT NULL,
                CONSTRAINT deposits_key PRIMARY KEY (chain, tx, asset)
            ) {without_rowid};
            INSERT INTO deposits_by_asset (chain, tx, request_id, account, token, asset, amount, credited, block_hash,
                                           block_number, confirmations, credited_at_ms)
            SELECT chain, tx, request_id, account, token, asset, amount, credited, block_hash,
                   block_number, confirmations, credited_at_ms FROM deposits;
            DROP TABLE deposits;
            ALTER TABLE deposits_by_asset RENAME TO deposits;

            ALTER TABLE shortfalls ADD COLUMN asset {text};
            UPDATE shortfalls SET asset = (SELECT d.asset FROM deposits d WHERE d.chain = shortfalls.chain AND d.tx = shortfalls.tx);
            """),
            .check(table: "deposits", column: "block_number", rule: ">= 0"),
            .check(table: "deposits", column: "confirmations", rule: ">= 0"),
            .check(table: "deposits", column: "credited_at_ms", rule: ">= 0"),
        ]),
    ]

    static var currentVersion: Int { migrations.count }
}

/// One schema statement in tok's neutral form.
public enum SchemaStep: Sendable, Equatable {
    /// DDL with its column types as tokens (see `Schema`).
    case sql(String)
    /// Refuses every UPDATE and DELETE of the table's rows.
    case appendOnly(table: String, message: String)
    /// `column rule` must hold for every row (NULL passes, as in CHECK).
    case check(table: String, column: String, rule: String)

    /// The step's text for the checksum: the neutral form, not one engine's rendering.
    var canonicalText: String {
        switch self {
        case .sql(let text): return "sql\n" + text
        case .appendOnly(let table, let message): return "append-only\n\(table)\n\(message)"
        case .check(let table, let column, let rule): return "check\n\(table)\n\(column)\n\(rule)"
        }
    }
}

/// A numbered migration: its steps and their checksum.
struct Migration: Sendable {
    let steps: [SchemaStep]
    /// SHA-256 of the steps' neutral text, in hex: what `schema_migrations` records.
    let checksum: String

    init(_ steps: [SchemaStep]) {
        self.steps = steps
        checksum = Hex.encode(Hashing.sha256(Array(steps.map(\.canonicalText).joined(separator: "\n\u{1e}\n").utf8)))
    }
}

extension Schema {
    /// Where each database records the migrations applied to it.
    static let migrationsTable = SchemaStep.sql("""
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version       {int} PRIMARY KEY,
            checksum      {text} NOT NULL,
            applied_at_ms {int} NOT NULL
        )
        """)

    /// The migrations a database records, by version.
    static func applied(_ database: any DatabaseConnection) throws(StoreError) -> [Int: String] {
        let query = try database.statement("SELECT version, checksum FROM schema_migrations ORDER BY version")
        defer { query.reset() }
        var applied: [Int: String] = [:]
        while try query.step() { applied[Int(query.int64("version"))] = query.text("checksum") }
        return applied
    }

    /// Refuses a database this tok cannot use as it is: a migration it does
    /// not know (a newer tok's), one that differs from this tok's, or a gap.
    /// Returns how many migrations are applied.
    static func validate(_ applied: [Int: String], location: String) throws(StoreError) -> Int {
        for (version, checksum) in applied.sorted(by: { $0.key < $1.key }) {
            guard version >= 1, version <= currentVersion else {
                throw StoreError(.unusable, "\(location) has schema migration \(version), newer than this tok (\(currentVersion)): use a newer tok")
            }
            guard migrations[version - 1].checksum == checksum else {
                throw StoreError(.unusable, "\(location): schema migration \(version) applied to it differs from this tok's (checksum \(checksum.prefix(12))…, expected \(migrations[version - 1].checksum.prefix(12))…)")
            }
        }
        guard applied.keys.sorted() == Array(0..<applied.count).map({ $0 + 1 }) else {
            throw StoreError(.unusable, "\(location): schema migrations \(applied.keys.sorted()) have a gap")
        }
        return applied.count
    }

    /// tok's mark in a SQLite file's header (`PRAGMA application_id`): "tokl".
    static let applicationId: Int32 = 0x746F_6B6C

    /// Refuses, before anything is written, a database that is not tok's: one
    /// another application marked as its own, or one holding tables without
    /// tok's migrations table. An empty database, or one tok created (marked,
    /// or with tok's `schema_migrations`, or an older tok's file that kept its
    /// version in `user_version`), passes; whether its schema is one this tok
    /// can use is `validate`'s question. Only reads: a refused database is left
    /// exactly as it was. A file that is not a database at all fails here too.
    static func requireOwnable(_ database: any DatabaseConnection, location: String) throws(StoreError) {
        let dialect = database.dialect
        do throws(StoreError) {
            if let query = dialect.applicationIdQuery {
                let id = Int32(truncatingIfNeeded: try database.scalarInt(query) ?? 0)
                if id == applicationId { return }
                guard id == 0 else {
                    throw StoreError(.unusable, "\(location) belongs to another application (application id 0x\(String(UInt32(bitPattern: id), radix: 16))), not tok: tok-apply will not write into it; name a new file or tok's own database")
                }
            }
            if hasTokMigrationsTable(database) { return }
            let tables = try userTables(database)
            let migrationsTable = hasAnyMigrationsTable(database)
            if tables.isEmpty && !migrationsTable { return }
            // A tok-apply starting on the same database may create its table
            // after the first probe: looked at again, it is tok's after all.
            if migrationsTable && hasTokMigrationsTable(database) { return }
            if let legacy = dialect.legacyVersionQuery, try database.scalarInt(legacy) ?? 0 > 0,
               tables.contains("requests"), tables.contains("audit") {
                return  // a tok before schema_migrations and application ids
            }
            let shown = tables.prefix(5).joined(separator: ", ") + (tables.count > 5 ? ", …" : "")
            throw StoreError(.unusable, "\(location) is not tok's database (it holds \(tables.isEmpty ? "another application's schema_migrations" : "tables \(shown)") and no tok schema): tok-apply will not write into it; name a new file or tok's own database")
        } catch where error.kind == .unusable && !error.message.contains(location) {
            // SQLite's "file is not a database" does not say which file.
            throw StoreError(.unusable, "\(location): \(error.message)", engineCode: error.engineCode, sqlState: error.sqlState)
        }
    }

    /// tok's migrations table, with tok's columns (another framework's
    /// `schema_migrations` has others).
    private static func hasTokMigrationsTable(_ database: any DatabaseConnection) -> Bool {
        probeSucceeds(database, "SELECT version, checksum, applied_at_ms FROM schema_migrations WHERE 1 = 0")
    }

    private static func hasAnyMigrationsTable(_ database: any DatabaseConnection) -> Bool {
        probeSucceeds(database, "SELECT * FROM schema_migrations WHERE 1 = 0")
    }

    /// Runs a query that returns nothing; whether the engine accepted it (a
    /// PostgreSQL statement is only checked by the server when it runs).
    private static func probeSucceeds(_ database: any DatabaseConnection, _ sql: String) -> Bool {
        guard let probe = try? database.statement(sql) else { return false }
        defer { probe.reset() }
        return (try? probe.step()) != nil
    }

    private static func userTables(_ database: any DatabaseConnection) throws(StoreError) -> [String] {
        let query = try database.statement(database.dialect.listTables)
        defer { query.reset() }
        var tables: [String] = []
        while try query.step() { tables.append(query.text("name")) }
        return tables
    }

    /// Brings the database up to this tok's schema (or only to `target`: a
    /// database as an older tok left it, for upgrade tests), one transaction
    /// per migration. The caller holds the writer lock.
    static func migrate(_ database: any DatabaseConnection, location: String, nowMilliseconds now: Int64,
                        upTo target: Int = currentVersion) throws(StoreError) {
        precondition(target >= 1 && target <= currentVersion, "a schema version this tok has")
        let dialect = database.dialect
        try requireOwnable(database, location: location)
        try database.execute(dialect.render(migrationsTable))
        var applied = try Schema.applied(database)
        if applied.isEmpty, let legacy = dialect.legacyVersionQuery {
            // A SQLite file of a tok before schema_migrations: PRAGMA user_version
            // says how far it is; adopt those migrations as applied.
            let version = Int(try database.scalarInt(legacy) ?? 0)
            guard version <= currentVersion else {
                throw StoreError(.unusable, "\(location) has schema version \(version), newer than this tok (\(currentVersion)): use a newer tok")
            }
            if version > 0 {
                try inTransaction(database) { () throws(StoreError) in
                    for adopted in 1...version { try record(adopted, in: database, now: now) }
                }
                applied = try Schema.applied(database)
            }
        }
        let done = try validate(applied, location: location)
        for next in done..<max(done, target) {
            try inTransaction(database) { () throws(StoreError) in
                for step in migrations[next].steps { try database.execute(dialect.render(step)) }
                try record(next + 1, in: database, now: now)
            }
        }
        // A file of a tok before application ids gets tok's mark once.
        if let query = dialect.applicationIdQuery, let mark = dialect.setApplicationId(applicationId),
           Int32(truncatingIfNeeded: try database.scalarInt(query) ?? 0) != applicationId {
            try inTransaction(database) { () throws(StoreError) in try database.execute(mark) }
        }
    }

    private static func record(_ version: Int, in database: any DatabaseConnection, now: Int64) throws(StoreError) {
        let insert = try database.statement("""
            INSERT INTO schema_migrations (version, checksum, applied_at_ms) VALUES (:version, :checksum, :now)
            """)
        try insert.bind("version", Int64(version)).bind("checksum", migrations[version - 1].checksum).bind("now", now)
        try insert.run()
        // Keeps SQLite's own version number in step, for older tools that read it,
        // and marks the file tok's in the same transaction as its first tables.
        if let setVersion = database.dialect.setLegacyVersion(version) { try database.execute(setVersion) }
        if let mark = database.dialect.setApplicationId(applicationId) { try database.execute(mark) }
    }

    private static func inTransaction(_ database: any DatabaseConnection, _ body: () throws(StoreError) -> Void) throws(StoreError) {
        try database.execute(database.dialect.beginWriteTransaction)
        do throws(StoreError) {
            try body()
            try database.execute("COMMIT")
        } catch {
            if database.inTransaction { try? database.execute("ROLLBACK") }
            throw error
        }
    }

    /// For readers: the database is at exactly this tok's schema.
    static func requireCurrent(_ database: any DatabaseConnection, location: String) throws(StoreError) {
        try requireOwnable(database, location: location)
        let applied: [Int: String]
        do { applied = try Schema.applied(database) } catch {
            throw StoreError(.notReady, "\(location) has no tok schema yet; run tok-apply on it first")
        }
        let version = try validate(applied, location: location)
        guard version == currentVersion else {
            throw StoreError(.notReady, "\(location) has schema version \(version), this tok expects \(currentVersion); run tok-apply on it first")
        }
    }
}
