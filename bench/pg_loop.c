/*
 * pg_loop: the benchmark's C peer for tok-apply on PostgreSQL. It does the
 * libpq work tok-apply does to credit N deposits, and nothing else: no JSON,
 * no attestation, no output. The PostgreSQL twin of bench/sqlite_loop.c.
 *
 * Same as tok-apply (Sources/TokShared/Store/PostgreSQL/, Ledger.swift):
 *   - schema: tok-apply's own; DB is a database tok-apply created and migrated
 *     (tok-apply --db URI < /dev/null), token_units rows included;
 *   - session: synchronous_commit = on (every COMMIT waits for the WAL flush);
 *   - writer lock: pg_try_advisory_lock before each batch, unlock after it;
 *   - transactions: BEGIN ISOLATION LEVEL READ COMMITTED per batch of 512,
 *     SAVEPOINT per record, a nested SAVEPOINT around the audit insert,
 *     RELEASE, COMMIT;
 *   - statements prepared once (PQprepare) and run with PQexecPrepared,
 *     text parameters and results, one round trip each, in tok-apply's order:
 *     deposit by (chain, tx, asset); own payout by (chain, tx); request row; balance;
 *     balance upsert; deposit insert; request insert; audit insert;
 *   - amounts as decimal TEXT, read back and added as integers (128 bits
 *     suffice for the generated values; tok uses 256);
 *   - the audit hash chain: SHA-256 over prev_hash "\n" body, in hex.
 *
 * Build: cc -O2 -o pg_loop bench/pg_loop.c -I$(pg_config --includedir) -lpq -lcrypto
 * Usage: pg_loop [--batch N] URI COUNT
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAIN "eip155:131277322940537"
#define ACCOUNTS 1000
#define WRITER_KEY "8390042473836210548" /* AdvisoryWriterLock.key: "tok-writ" */

static PGconn *conn;

static void die(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fputs("pg_loop: ", stderr);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
    exit(1);
}

static void exec(const char *sql) {
    PGresult *result = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) die("%s: %s", sql, PQerrorMessage(conn));
    PQclear(result);
}

static void prepare(const char *name, const char *sql, int parameters) {
    PGresult *result = PQprepare(conn, name, sql, parameters, NULL);
    if (PQresultStatus(result) != PGRES_COMMAND_OK) die("%s: %s", sql, PQerrorMessage(conn));
    PQclear(result);
}

/* Runs a prepared statement; returns its result (the caller clears it). */
static PGresult *run(const char *name, int count, const char *const *values) {
    PGresult *result = PQexecPrepared(conn, name, count, values, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) die("%s: %s", name, PQerrorMessage(conn));
    return result;
}

static void run_done(const char *name, int count, const char *const *values) { PQclear(run(name, count, values)); }

#include "peer_values.h"

int main(int argc, char **argv) {
    int batch = 512;
    int arg = 1;
    for (; arg < argc && strncmp(argv[arg], "--", 2) == 0; arg += 2) {
        if (arg + 1 >= argc) die("%s needs a value", argv[arg]);
        if (strcmp(argv[arg], "--batch") == 0) batch = atoi(argv[arg + 1]);
        else die("unknown option %s", argv[arg]);
    }
    if (argc - arg != 2 || batch < 1) {
        fprintf(stderr, "usage: pg_loop [--batch N] URI COUNT\n");
        return 64;
    }
    long count = atol(argv[arg + 1]);
    conn = PQconnectdb(argv[arg]);
    if (PQstatus(conn) != CONNECTION_OK) die("%s", PQerrorMessage(conn));
    exec("SET synchronous_commit = on");

    prepare("lock", "SELECT pg_try_advisory_lock($1) AS locked", 1);
    prepare("unlock", "SELECT pg_advisory_unlock($1) AS unlocked", 1);
    prepare("begin", "BEGIN ISOLATION LEVEL READ COMMITTED", 0);
    prepare("commit", "COMMIT", 0);
    prepare("savepoint_record", "SAVEPOINT record", 0);
    prepare("release_record", "RELEASE record", 0);
    prepare("savepoint_audit", "SAVEPOINT audit", 0);
    prepare("release_audit", "RELEASE audit", 0);
    prepare("head", "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1", 0);
    prepare("existing", "SELECT request_id FROM deposits WHERE chain = $1 AND tx = $2 AND asset = $3", 3);
    prepare("own_payout", "SELECT request_id FROM payouts WHERE dest_chain = $1 AND tx = $2", 2);
    prepare("request_row", "SELECT op, state, chain, tx FROM requests WHERE request_id = $1", 1);
    prepare("read_balance", "SELECT available, locked FROM balances WHERE account = $1 AND token = $2", 2);
    prepare("write_balance",
            "INSERT INTO balances (account, token, available, locked) VALUES ($1, $2, $3, $4)\n"
            "ON CONFLICT (account, token) DO UPDATE SET available = excluded.available, locked = excluded.locked", 4);
    prepare("insert_deposit",
            "INSERT INTO deposits (chain, tx, request_id, account, token, asset, amount, credited, block_hash, block_number, confirmations, credited_at_ms)\n"
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)", 12);
    prepare("insert_request",
            "INSERT INTO requests (request_id, op, state, chain, tx, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6)", 6);
    prepare("insert_audit",
            "INSERT INTO audit (at_ms, kind, request_id, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)", 6);

    static char accounts[ACCOUNTS][sizeof CHAIN ":0x" + 40];
    for (int index = 0; index < ACCOUNTS; index++) {
        int prefix = snprintf(accounts[index], sizeof accounts[index], "%s:0x", CHAIN);
        random_hex(accounts[index] + prefix, 40);
    }
    static const char *tokens[2] = {"ETH", "TOK"};
    static const char *assets[2] = {CHAIN "/slip44:60", CHAIN "/erc20:0x1000000000000000000000000000000000000001"};
    const char *key[1] = {WRITER_KEY};

    char audit_head[65];
    char tx[67] = "0x", block_hash[67] = "0x", request_id[32], amount[48], available_text[48], locked_text[48];
    char body[512], hashed[640], hash_hex[65], block_number[24], now_text[24];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    static const char hex[] = "0123456789abcdef";

    for (long first = 0; first < count; first += batch) {
        PGresult *locked = run("lock", 1, key);
        if (strcmp(PQgetvalue(locked, 0, 0), "t") != 0) die("another writer holds the lock");
        PQclear(locked);
        run_done("begin", 0, NULL);
        /* The audit head, re-read in the transaction as tok-apply does. */
        PGresult *head = run("head", 0, NULL);
        if (PQntuples(head) == 1) snprintf(audit_head, sizeof audit_head, "%s", PQgetvalue(head, 0, 0));
        else { memset(audit_head, '0', 64); audit_head[64] = 0; }
        PQclear(head);
        long last = first + batch < count ? first + batch : count;
        for (long index = first; index < last; index++) {
            const char *account = accounts[next_random() % ACCOUNTS];
            int token_index = (int)(next_random() & 1);
            const char *token = tokens[token_index], *asset = assets[token_index];
            random_hex(tx + 2, 64);
            random_hex(block_hash + 2, 64);
            snprintf(request_id, sizeof request_id, "dep-%ld", index);
            u128 deposit_amount = (u128)(next_random() % 1000000000ull + 1) * 1000000000000ull;
            format_amount(deposit_amount, amount);

            run_done("savepoint_record", 0, NULL);
            const char *by_tx[2] = {CHAIN, tx};
            const char *by_tx_and_asset[3] = {CHAIN, tx, asset};
            PGresult *found = run("existing", 3, by_tx_and_asset);
            if (PQntuples(found) != 0) die("duplicate transaction %s", tx);
            PQclear(found);
            found = run("own_payout", 2, by_tx);
            if (PQntuples(found) != 0) die("transaction %s is a payout", tx);
            PQclear(found);
            const char *by_request[1] = {request_id};
            found = run("request_row", 1, by_request);
            if (PQntuples(found) != 0) die("request id %s is taken", request_id);
            PQclear(found);

            const char *by_account[2] = {account, token};
            PGresult *balance = run("read_balance", 2, by_account);
            u128 available = 0, locked_amount = 0;
            if (PQntuples(balance) == 1) {
                available = parse_amount(PQgetvalue(balance, 0, 0), strlen(PQgetvalue(balance, 0, 0)));
                locked_amount = parse_amount(PQgetvalue(balance, 0, 1), strlen(PQgetvalue(balance, 0, 1)));
            }
            PQclear(balance);
            if (available + deposit_amount < available) die("balance overflow");
            available += deposit_amount;
            format_amount(available, available_text);
            format_amount(locked_amount, locked_text);
            const char *upsert[4] = {account, token, available_text, locked_text};
            run_done("write_balance", 4, upsert);

            snprintf(now_text, sizeof now_text, "%" PRId64, now_milliseconds());
            snprintf(block_number, sizeof block_number, "%ld", 1000 + index / 64);
            const char *deposit[12] = {CHAIN, tx, request_id, account, token, asset, amount, amount, block_hash,
                                       block_number, "3", now_text};
            run_done("insert_deposit", 12, deposit);
            const char *request[6] = {request_id, "deposit", "credited", CHAIN, tx, now_text};
            run_done("insert_request", 6, request);

            int body_length = snprintf(body, sizeof body,
                "{\"account\":\"%s\",\"amount\":\"%s\",\"available_after\":\"%s\",\"chain\":\"%s\",\"credited\":\"%s\",\"token\":\"%s\",\"tx\":\"%s\"}",
                account, amount, available_text, CHAIN, amount, token, tx);
            int hashed_length = snprintf(hashed, sizeof hashed, "%s\n%s", audit_head, body);
            (void)body_length;
            SHA256((const unsigned char *)hashed, (size_t)hashed_length, digest);
            for (int byte = 0; byte < SHA256_DIGEST_LENGTH; byte++) {
                hash_hex[2 * byte] = hex[digest[byte] >> 4];
                hash_hex[2 * byte + 1] = hex[digest[byte] & 15];
            }
            hash_hex[64] = 0;
            run_done("savepoint_audit", 0, NULL);
            const char *audit[6] = {now_text, "deposit_credited", request_id, body, audit_head, hash_hex};
            run_done("insert_audit", 6, audit);
            run_done("release_audit", 0, NULL);
            memcpy(audit_head, hash_hex, 65);
            run_done("release_record", 0, NULL);
        }
        run_done("commit", 0, NULL);
        run_done("unlock", 1, key);
    }
    PQfinish(conn);
    fprintf(stderr, "pg_loop: credited %ld deposits\n", count);
    return 0;
}
