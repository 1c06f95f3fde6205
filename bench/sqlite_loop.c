/*
 * sqlite_loop: the benchmark's C peer for tok-apply. It does the SQLite work
 * tok-apply does to credit N deposits, and nothing else: no JSON, no
 * attestation, no output. Values are generated in C, so this is the
 * strictest fair peer: the database work plus the bare minimum around it.
 *
 * Same as tok-apply (Sources/TokShared/Store/Ledger.swift):
 *   - schema: copied at run time from a database tok-apply created (its
 *     migration 1, statement for statement), so the two can never drift;
 *     token_units rows as bindTokenUnits writes them;
 *   - pragmas: busy_timeout, journal_mode=WAL, synchronous FULL (or NORMAL),
 *     temp_store=FILE, cache_size=-65536 (as tok-apply sets them);
 *   - transactions: BEGIN IMMEDIATE per batch of 512, SAVEPOINT per record,
 *     a nested SAVEPOINT around the audit insert, RELEASE, COMMIT;
 *   - statements, prepared once and reused, in tok-apply's order: deposit by
 *     (chain, tx, asset); own payout by (chain, tx); request row; balance; balance upsert; deposit insert;
 *     request insert; audit insert;
 *   - amounts stored as decimal TEXT, read back and added as integers (128
 *     bits suffice for the generated values; tok uses 256);
 *   - the audit hash chain: SHA-256 over prev_hash "\n" body, in hex, with
 *     the body tok writes (its keys sorted, no whitespace).
 *
 * Build: cc -O2 -o sqlite_loop bench/sqlite_loop.c -lsqlite3 -lcrypto
 * Usage: sqlite_loop [--synchronous full|normal] [--batch N] [--busy-timeout MS]
 *                    TEMPLATE.sqlite DB.sqlite COUNT
 * TEMPLATE is an empty database tok-apply created (tok-apply --db T < /dev/null).
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAIN "eip155:131277322940537"
#define ACCOUNTS 1000

static sqlite3 *db;

static void die(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fputs("sqlite_loop: ", stderr);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
    exit(1);
}

static void check(int status, int expected, const char *what) {
    if (status != expected) die("%s: %s (%d)", what, sqlite3_errmsg(db), status);
}

static void exec(const char *sql) {
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK) die("%s: %s", sql, message ? message : "?");
}

static sqlite3_stmt *prepare(const char *sql) {
    sqlite3_stmt *statement = NULL;
    check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, NULL), SQLITE_OK, sql);
    return statement;
}

/* Runs a statement that returns no rows, then resets it for the next use. */
static void run(sqlite3_stmt *statement) {
    int status = sqlite3_step(statement);
    if (status != SQLITE_DONE) die("%s: %s (%d)", sqlite3_sql(statement), sqlite3_errmsg(db), status);
    sqlite3_reset(statement);
}

static void bind_text(sqlite3_stmt *statement, int index, const char *text, int length) {
    check(sqlite3_bind_text(statement, index, text, length, SQLITE_TRANSIENT), SQLITE_OK, "bind");
}

static void bind_int(sqlite3_stmt *statement, int index, int64_t value) {
    check(sqlite3_bind_int64(statement, index, value), SQLITE_OK, "bind");
}

#include "peer_values.h"

/* Creates the schema from tok-apply's own: every CREATE statement of the template, in order. */
static void copy_schema(const char *template_path) {
    sqlite3 *source = NULL;
    if (sqlite3_open_v2(template_path, &source, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        die("%s: %s", template_path, sqlite3_errmsg(source));
    sqlite3_stmt *version = NULL, *schema = NULL;
    if (sqlite3_prepare_v2(source, "PRAGMA user_version", -1, &version, NULL) != SQLITE_OK
        || sqlite3_step(version) != SQLITE_ROW || sqlite3_column_int(version, 0) < 1)
        die("%s is not an empty tok database", template_path);
    /* The template's schema as tok-apply migrated it (sqlite_master holds each table's final form). */
    int schema_version = sqlite3_column_int(version, 0);
    sqlite3_finalize(version);
    if (sqlite3_prepare_v2(source, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid", -1, &schema, NULL) != SQLITE_OK)
        die("%s: %s", template_path, sqlite3_errmsg(source));
    exec("BEGIN IMMEDIATE");
    int created = 0;
    while (sqlite3_step(schema) == SQLITE_ROW) {
        exec((const char *)sqlite3_column_text(schema, 0));
        created++;
    }
    if (created == 0) die("%s holds no schema", template_path);
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", schema_version);
    exec(pragma);
    exec("COMMIT");
    sqlite3_finalize(schema);
    sqlite3_close(source);
}

int main(int argc, char **argv) {
    const char *synchronous = "FULL";
    int batch = 512;
    long busy_timeout = 10000;
    int arg = 1;
    for (; arg < argc && strncmp(argv[arg], "--", 2) == 0; arg += 2) {
        if (arg + 1 >= argc) die("%s needs a value", argv[arg]);
        if (strcmp(argv[arg], "--synchronous") == 0) {
            if (strcmp(argv[arg + 1], "full") == 0) synchronous = "FULL";
            else if (strcmp(argv[arg + 1], "normal") == 0) synchronous = "NORMAL";
            else die("--synchronous is full or normal");
        } else if (strcmp(argv[arg], "--batch") == 0) {
            batch = atoi(argv[arg + 1]);
        } else if (strcmp(argv[arg], "--busy-timeout") == 0) {
            busy_timeout = atol(argv[arg + 1]);
        } else {
            die("unknown option %s", argv[arg]);
        }
    }
    if (argc - arg != 3 || batch < 1) {
        fprintf(stderr, "usage: sqlite_loop [--synchronous full|normal] [--batch N] [--busy-timeout MS] TEMPLATE.sqlite DB.sqlite COUNT\n");
        return 64;
    }
    const char *template_path = argv[arg], *path = argv[arg + 1];
    long count = atol(argv[arg + 2]);

    check(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL), SQLITE_OK, path);
    sqlite3_extended_result_codes(db, 1);
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA busy_timeout = %ld", busy_timeout);
    exec(pragma);
    exec("PRAGMA journal_mode = WAL");
    /* The same non-durability settings as tok-apply (Ledger.swift): statement
       statement journals in temporary files (temp_store = FILE), a 64 MiB page cache. */
    exec("PRAGMA temp_store = FILE");
    exec("PRAGMA cache_size = -65536");
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous = %s", synchronous);
    exec(pragma);
    copy_schema(template_path);
    exec("INSERT INTO token_units (token, decimals) VALUES ('ETH', 18), ('TOK', 18)");

    sqlite3_stmt *begin = prepare("BEGIN IMMEDIATE");
    sqlite3_stmt *commit = prepare("COMMIT");
    sqlite3_stmt *savepoint_record = prepare("SAVEPOINT record");
    sqlite3_stmt *release_record = prepare("RELEASE record");
    sqlite3_stmt *savepoint_audit = prepare("SAVEPOINT audit");
    sqlite3_stmt *release_audit = prepare("RELEASE audit");
    sqlite3_stmt *existing = prepare("SELECT request_id FROM deposits WHERE chain = ?1 AND tx = ?2 AND asset = ?3");
    sqlite3_stmt *own_payout = prepare("SELECT request_id FROM payouts WHERE dest_chain = ?1 AND tx = ?2");
    sqlite3_stmt *request_row = prepare("SELECT op, state, chain, tx FROM requests WHERE request_id = ?1");
    sqlite3_stmt *read_balance = prepare("SELECT available, locked FROM balances WHERE account = ?1 AND token = ?2");
    sqlite3_stmt *write_balance = prepare(
        "INSERT INTO balances (account, token, available, locked) VALUES (?1, ?2, ?3, ?4)\n"
        "ON CONFLICT (account, token) DO UPDATE SET available = excluded.available, locked = excluded.locked");
    sqlite3_stmt *insert_deposit = prepare(
        "INSERT INTO deposits (chain, tx, request_id, account, token, asset, amount, credited, block_hash, block_number, confirmations, credited_at_ms)\n"
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    sqlite3_stmt *insert_request = prepare(
        "INSERT INTO requests (request_id, op, state, chain, tx, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    sqlite3_stmt *insert_audit = prepare(
        "INSERT INTO audit (at_ms, kind, request_id, body, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");

    /* The account pool: CAIP-10 ids of the same length as tok's. */
    static char accounts[ACCOUNTS][sizeof CHAIN ":0x" + 40];
    for (int index = 0; index < ACCOUNTS; index++) {
        int prefix = snprintf(accounts[index], sizeof accounts[index], "%s:0x", CHAIN);
        random_hex(accounts[index] + prefix, 40);
    }
    static const char *tokens[2] = {"ETH", "TOK"};
    static const char *assets[2] = {CHAIN "/slip44:60", CHAIN "/erc20:0x1000000000000000000000000000000000000001"};

    char audit_head[65];
    memset(audit_head, '0', 64);
    audit_head[64] = 0;

    char tx[67] = "0x", block_hash[67] = "0x", request_id[32], amount[48], available_text[48], locked_text[48];
    char body[512], hashed[640], hash_hex[65];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    static const char hex[] = "0123456789abcdef";

    for (long first = 0; first < count; first += batch) {
        run(begin);
        long last = first + batch < count ? first + batch : count;
        for (long index = first; index < last; index++) {
            const char *account = accounts[next_random() % ACCOUNTS];
            int token_index = (int)(next_random() & 1);
            const char *token = tokens[token_index], *asset = assets[token_index];
            random_hex(tx + 2, 64);
            random_hex(block_hash + 2, 64);
            int request_length = snprintf(request_id, sizeof request_id, "dep-%ld", index);
            u128 deposit_amount = (u128)(next_random() % 1000000000ull + 1) * 1000000000000ull;
            int amount_length = format_amount(deposit_amount, amount);

            run(savepoint_record);

            /* The transaction must not be credited yet. */
            bind_text(existing, 1, CHAIN, -1);
            bind_text(existing, 2, tx, 66);
            bind_text(existing, 3, asset, -1);
            if (sqlite3_step(existing) != SQLITE_DONE) die("duplicate transaction %s", tx);
            sqlite3_reset(existing);

            bind_text(own_payout, 1, CHAIN, -1);
            bind_text(own_payout, 2, tx, 66);
            if (sqlite3_step(own_payout) != SQLITE_DONE) die("transaction %s is a payout", tx);
            sqlite3_reset(own_payout);

            /* The request id must be unused. */
            bind_text(request_row, 1, request_id, request_length);
            if (sqlite3_step(request_row) != SQLITE_DONE) die("request id %s is taken", request_id);
            sqlite3_reset(request_row);

            /* Read, add, write the balance. */
            bind_text(read_balance, 1, account, -1);
            bind_text(read_balance, 2, token, -1);
            u128 available = 0, locked = 0;
            int status = sqlite3_step(read_balance);
            if (status == SQLITE_ROW) {
                available = parse_amount((const char *)sqlite3_column_text(read_balance, 0), (size_t)sqlite3_column_bytes(read_balance, 0));
                locked = parse_amount((const char *)sqlite3_column_text(read_balance, 1), (size_t)sqlite3_column_bytes(read_balance, 1));
            } else if (status != SQLITE_DONE) {
                die("balance: %s", sqlite3_errmsg(db));
            }
            sqlite3_reset(read_balance);
            if (available + deposit_amount < available) die("balance overflow");
            available += deposit_amount;
            int available_length = format_amount(available, available_text);
            int locked_length = format_amount(locked, locked_text);
            bind_text(write_balance, 1, account, -1);
            bind_text(write_balance, 2, token, -1);
            bind_text(write_balance, 3, available_text, available_length);
            bind_text(write_balance, 4, locked_text, locked_length);
            run(write_balance);

            int64_t now = now_milliseconds();
            bind_text(insert_deposit, 1, CHAIN, -1);
            bind_text(insert_deposit, 2, tx, 66);
            bind_text(insert_deposit, 3, request_id, request_length);
            bind_text(insert_deposit, 4, account, -1);
            bind_text(insert_deposit, 5, token, -1);
            bind_text(insert_deposit, 6, asset, -1);
            bind_text(insert_deposit, 7, amount, amount_length);
            bind_text(insert_deposit, 8, amount, amount_length);   /* credited: same decimals */
            bind_text(insert_deposit, 9, block_hash, 66);
            bind_int(insert_deposit, 10, 1000 + index / 64);
            bind_int(insert_deposit, 11, 3);
            bind_int(insert_deposit, 12, now);
            run(insert_deposit);

            bind_text(insert_request, 1, request_id, request_length);
            bind_text(insert_request, 2, "deposit", -1);
            bind_text(insert_request, 3, "credited", -1);
            bind_text(insert_request, 4, CHAIN, -1);
            bind_text(insert_request, 5, tx, 66);
            bind_int(insert_request, 6, now);
            run(insert_request);

            /* The audit entry: the body tok writes, hash-chained to the previous entry. */
            int body_length = snprintf(body, sizeof body,
                "{\"account\":\"%s\",\"amount\":\"%s\",\"available_after\":\"%s\",\"chain\":\"%s\",\"credited\":\"%s\",\"token\":\"%s\",\"tx\":\"%s\"}",
                account, amount, available_text, CHAIN, amount, token, tx);
            int hashed_length = snprintf(hashed, sizeof hashed, "%s\n%s", audit_head, body);
            SHA256((const unsigned char *)hashed, (size_t)hashed_length, digest);
            for (int byte = 0; byte < SHA256_DIGEST_LENGTH; byte++) {
                hash_hex[2 * byte] = hex[digest[byte] >> 4];
                hash_hex[2 * byte + 1] = hex[digest[byte] & 15];
            }
            hash_hex[64] = 0;
            run(savepoint_audit);
            bind_int(insert_audit, 1, now);
            bind_text(insert_audit, 2, "deposit_credited", -1);
            bind_text(insert_audit, 3, request_id, request_length);
            bind_text(insert_audit, 4, body, body_length);
            bind_text(insert_audit, 5, audit_head, 64);
            bind_text(insert_audit, 6, hash_hex, 64);
            run(insert_audit);
            run(release_audit);
            memcpy(audit_head, hash_hex, 65);

            run(release_record);
        }
        run(commit);
    }

    sqlite3_stmt *statements[] = {begin, commit, savepoint_record, release_record, savepoint_audit, release_audit,
                                  existing, own_payout, request_row, read_balance, write_balance, insert_deposit, insert_request, insert_audit};
    for (size_t index = 0; index < sizeof statements / sizeof statements[0]; index++) sqlite3_finalize(statements[index]);
    check(sqlite3_close(db), SQLITE_OK, "close");
    fprintf(stderr, "sqlite_loop: credited %ld deposits\n", count);
    return 0;
}
