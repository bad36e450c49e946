/* Rate limiting by GCRA (the generic cell rate algorithm, a token bucket that stores one time
 * per key) behind a small backend interface: in memory now, Redis later.
 *
 * A rule allows `burst` requests at once and then `rate_per_sec` on average: emission interval
 * T = 1/rate, tolerance tau = T * (burst - 1). Per key only the theoretical arrival time (TAT) is
 * kept; a request at `now` is allowed iff max(TAT, now) <= now + tau, and then TAT becomes
 * max(TAT, now) + T. A refused request does not move TAT (a client hammering while limited is
 * not punished further, and gets a correct Retry-After).
 *
 * The memory backend is a fixed table allocated once (16 bytes per key slot) and never grows:
 * under a flood of distinct keys the slots whose TAT is in the past are reused first (they
 * carry no state), then the slot with the smallest TAT in the key's 4-way bucket. Forgetting a
 * key can only make the limiter more lenient for that key, never lock anyone out. */
#ifndef GH_AUTH_RATELIMIT_H
#define GH_AUTH_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* name: [A-Za-z0-9_.-]{1,32} ("login", "register", "refresh", "password", "api"); it is part
 * of the key (the same key under two rules has two budgets) and the policy name in headers.
 * rate_per_sec in [1e-6, 1e6], burst in [1, 1e6], and burst/rate at most ~31 years. */
struct gh_rate_rule {
    const char *name;
    double rate_per_sec;
    unsigned burst;
};

#define GH_RATELIMIT_NAME_MAX 32
#define GH_RATELIMIT_KEY_MAX 512
/* Largest max_keys gh_ratelimit_new_memory accepts (256 MiB of slots); beyond is a config error. */
#define GH_RATELIMIT_MAX_KEYS ((size_t)1 << 24)
/* Big enough for both header values with any valid rule. */
#define GH_RATELIMIT_HEADER_MAX 96

struct gh_rate_decision {
    bool allowed;
    /* Milliseconds until a request of this key would be allowed: > 0 when refused (use it for
     * Retry-After, rounded up to seconds); when allowed, 0 unless this took the last token. */
    int64_t retry_after_ms;
    unsigned remaining; /* requests that could be made right now, after this one */
    int64_t reset_ms;   /* milliseconds until the full burst is available again */
};

/* Whether the limiter's shared store answers (for metrics and `gatehouse doctor`). */
struct gh_ratelimit_health {
    bool external;     /* the counters live outside the process (Redis) */
    bool up;           /* the last request to that store succeeded (always true in memory) */
    uint64_t failures; /* requests the store could not answer since start (monotonic) */
};

/* Backend interface. check receives a validated rule and key (key_len bytes, NUL-terminated).
 * memory_bytes may be NULL (an external store reports 0). */
struct gh_ratelimit_ops {
    gh_err (*check)(void *state, const struct gh_rate_rule *rule, const char *key, size_t key_len,
                    int64_t now_ms, struct gh_rate_decision *out);
    void (*free)(void *state);
    size_t (*memory_bytes)(const void *state);
    /* NULL for a backend inside the process (always up). */
    void (*health)(const void *state, struct gh_ratelimit_health *out);
};

struct gh_ratelimit;

/* max_keys in [1, GH_RATELIMIT_MAX_KEYS], rounded up to a power of two (at least 4). All memory
 * is allocated here; the secret hash key is random per process. Needs sodium_init() first. */
GH_MUST_USE gh_err gh_ratelimit_new_memory(size_t max_keys, struct gh_ratelimit **out);
/* For other backends: takes ownership of state (ops->free(state) is called by
 * gh_ratelimit_free, and on failure here). ops must outlive the limiter. */
GH_MUST_USE gh_err gh_ratelimit_new_backend(const struct gh_ratelimit_ops *ops, void *state,
                                            struct gh_ratelimit **out);
void gh_ratelimit_free(struct gh_ratelimit *rl);

/* The Redis backend (ratelimit_redis.c): the same GCRA done atomically in Redis by one Lua
 * script on Redis's clock (now_ms is ignored: each instance's monotonic clock is its own), one
 * key per rule and client with a TTL, so every instance draws on the same budget. url is a
 * validated GATEHOUSE_REDIS_URL; hash_key (GH_RATELIMIT_REDIS_KEYBYTES, the same on every
 * instance) keys the hash that names the Redis keys, so no client address is stored in clear.
 * At most pool_size connections (one per HTTP thread is enough), 200 ms connect and command
 * timeouts, reconnection with backoff. Tries one connection now: GH_ERR_CONFIG when Redis
 * refuses the credentials; an unreachable Redis is only logged. While Redis cannot answer,
 * gh_ratelimit_check returns GH_ERR_BUSY (the guard fails closed for sign-in classes). */
#define GH_RATELIMIT_REDIS_KEYBYTES 32
GH_MUST_USE gh_err gh_ratelimit_new_redis(const char *url,
                                          const unsigned char hash_key[GH_RATELIMIT_REDIS_KEYBYTES],
                                          unsigned pool_size, struct gh_ratelimit **out);

/* Count one request of key under rule at now_ms (a monotonic clock, >= 0). Thread-safe.
 * GH_ERR_INVALID for a bad rule or NULL key/out, GH_ERR_TOO_LARGE for a key longer than
 * GH_RATELIMIT_KEY_MAX. A refusal is GH_OK with out->allowed false (the caller maps it to 429). */
GH_MUST_USE gh_err gh_ratelimit_check(struct gh_ratelimit *rl, const struct gh_rate_rule *rule,
                                      const char *key, int64_t now_ms,
                                      struct gh_rate_decision *out);

/* Header values in the form of draft-ietf-httpapi-ratelimit-headers-11 (May 2026; the same
 * form as -08..-10): structured-field Lists of one Item named after the rule.
 *   RateLimit-Policy: "login";q=5;w=60    q = burst, w = seconds to refill the whole burst
 *                                         (ceil(burst / rate), at least 1)
 *   RateLimit:        "login";r=2;t=36    r = remaining; t = seconds until full again
 *                                         (ceil(reset_ms / 1000)), or, when r = 0, seconds until
 *                                         the next request is allowed (ceil(retry_after_ms/1000))
 * t never exceeds what Retry-After would say, as the draft asks. limit_out receives the
 * RateLimit value, policy_out the RateLimit-Policy value; GH_RATELIMIT_HEADER_MAX bytes each are
 * enough. On a bad rule or a too-small buffer the value is "" (send no header). */
void gh_ratelimit_headers(const struct gh_rate_rule *rule, const struct gh_rate_decision *d,
                          char *limit_out, size_t limit_size, char *policy_out, size_t policy_size);

/* The backend's health; a memory limiter is {external false, up true, failures 0}. */
void gh_ratelimit_health(const struct gh_ratelimit *rl, struct gh_ratelimit_health *out);

/* Bytes held by the limiter (constant for the memory backend; for the bench and metrics). */
size_t gh_ratelimit_memory_bytes(const struct gh_ratelimit *rl);

#endif
