/*
 * The values the C peers (sqlite_loop.c, pg_loop.c) generate and store, in
 * one place so that both make the same deposits: a splitmix64 generator for
 * the random parts, amounts as 128-bit integers written and read as canonical
 * decimals, and the wall clock in milliseconds. Included after the peer's own
 * die(), which it uses for amounts that are not canonical.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

/* splitmix64: a small deterministic generator for the values. */
static uint64_t rng_state = 20261121;
static uint64_t next_random(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void random_hex(char *out, int digits) {
    static const char hex[] = "0123456789abcdef";
    uint64_t bits = 0;
    for (int index = 0; index < digits; index++) {
        if (index % 16 == 0) bits = next_random();
        out[index] = hex[bits & 15];
        bits >>= 4;
    }
    out[digits] = 0;
}

typedef unsigned __int128 u128;

/* Stored amounts are canonical decimals; anything else means a hand-edited database. */
static u128 parse_amount(const char *text, size_t length) {
    if (length < 1 || length > 38 || (length > 1 && text[0] == '0')) die("stored amount is not canonical");
    u128 value = 0;
    for (size_t index = 0; index < length; index++) {
        if (text[index] < '0' || text[index] > '9') die("stored amount is not canonical");
        value = value * 10 + (u128)(text[index] - '0');
    }
    return value;
}

/* Writes value as a decimal and returns its length. */
static int format_amount(u128 value, char *out) {
    char scratch[40];
    int count = 0;
    do {
        scratch[count++] = (char)('0' + (int)(value % 10));
        value /= 10;
    } while (value);
    for (int index = 0; index < count; index++) out[index] = scratch[count - 1 - index];
    out[count] = 0;
    return count;
}

static int64_t now_milliseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
