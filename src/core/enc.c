/* Thin wrappers over libsodium's base64 and randomness; strict decoding for untrusted text. */
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/enc.h"
#include "core/banned.h"

void gh_b64url_encode(const unsigned char *in, size_t n, char *out, size_t out_size)
{
    sodium_bin2base64(out, out_size, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void gh_b64_encode(const unsigned char *in, size_t n, char *out, size_t out_size)
{
    sodium_bin2base64(out, out_size, in, n, sodium_base64_VARIANT_ORIGINAL);
}

/* libsodium 1.0.18 maps bytes >= 0x80 to a valid digit, so one value would have many
 * spellings: check the alphabet ourselves before decoding. */
static bool alphabet_ok(const char *in, size_t len, bool url)
{
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (url ? (c == '-' || c == '_') : (c == '+' || c == '/' || c == '='));
        if (!ok)
            return false;
    }
    return true;
}

static gh_err decode(const char *in, size_t in_len, unsigned char *out, size_t out_max,
                     size_t *out_len, int variant)
{
    const char *end = NULL;
    if (!alphabet_ok(in, in_len, variant == sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return GH_ERR_MALFORMED;
    size_t len = 0;
    if (sodium_base642bin(out, out_max, in, in_len, NULL, &len, &end, variant) != 0)
        return GH_ERR_MALFORMED;
    if (end != in + in_len)
        return GH_ERR_MALFORMED;
    *out_len = len;
    return GH_OK;
}

gh_err gh_b64url_decode(const char *in, size_t in_len, unsigned char *out, size_t out_max,
                        size_t *out_len)
{
    return decode(in, in_len, out, out_max, out_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

gh_err gh_b64_decode(const char *in, size_t in_len, unsigned char *out, size_t out_max,
                     size_t *out_len)
{
    return decode(in, in_len, out, out_max, out_len, sodium_base64_VARIANT_ORIGINAL);
}

void gh_random_id(char out[GH_ID_LEN + 1])
{
    unsigned char r[16];
    randombytes_buf(r, sizeof r);
    gh_b64url_encode(r, sizeof r, out, GH_ID_LEN + 1);
}

void gh_random_request_id(char out[GH_ID_LEN + 1])
{
    enum { ID_BYTES = 16, POOL_IDS = 64 };
    static _Thread_local unsigned char pool[ID_BYTES * POOL_IDS];
    static _Thread_local size_t next = sizeof pool;
    if (next >= sizeof pool) {
        randombytes_buf(pool, sizeof pool);
        next = 0;
    }
    gh_b64url_encode(pool + next, ID_BYTES, out, GH_ID_LEN + 1);
    sodium_memzero(pool + next, ID_BYTES); /* each id's bytes are used once */
    next += ID_BYTES;
}

bool gh_id_is_valid(const char *s)
{
    if (!s || strlen(s) != GH_ID_LEN)
        return false;
    for (size_t i = 0; i < GH_ID_LEN; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    /* 16 bytes → 22 chars; the last char carries only 2 bits: must be one of A,Q,g,w. */
    char last = s[GH_ID_LEN - 1];
    return last == 'A' || last == 'Q' || last == 'g' || last == 'w';
}

/* Wall-clock seconds that never run backwards. A clock stepped back (NTP, an operator) would
 * revive tokens that had expired: instead the time carries on from where it was, at the rate
 * of the monotonic clock, until the wall clock catches up. A step forward is taken as it comes
 * (tokens expire, locks end). Per process. */
int64_t gh_now(void)
{
    /* now = monotonic + off, where off = max over all calls of (wall - monotonic): the same as
     * max(wall, last + monotonic elapsed), kept as one atomic maximum so that no thread ever
     * waits for another here (a hashing thread at idle priority holding a lock would stall the
     * request threads behind it). */
    static _Atomic int64_t off; /* 0 before the first call: wall - monotonic is far above it */
    struct timespec w, m;
    clock_gettime(CLOCK_REALTIME, &w);
    clock_gettime(CLOCK_MONOTONIC, &m);
    int64_t wall = (int64_t)w.tv_sec * 1000000000 + w.tv_nsec;
    int64_t mono = (int64_t)m.tv_sec * 1000000000 + m.tv_nsec;
    int64_t cand = wall - mono;
    int64_t cur = atomic_load(&off);
    while (cand > cur && !atomic_compare_exchange_weak(&off, &cur, cand))
        ;
    if (cand > cur)
        cur = cand;
    return (mono + cur) / 1000000000;
}
