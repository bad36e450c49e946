/* Owns the rate limiter: the backend-neutral front (rule validation, header values) and the
 * in-memory GCRA backend, a fixed table of 4-way buckets allocated once, with striped mutexes.
 * Trust boundary: keys are attacker-chosen (addresses, emails); a secret SipHash key picks slots.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth/ratelimit.h"
#include "core/mem.h"
#include "core/banned.h"

#define RL_WAYS 4 /* one bucket = 4 slots = 64 bytes, the probe window */
#define RL_STRIPES 256
#define RL_MAX_WINDOW_US ((int64_t)1000000000000000) /* burst * T at most ~31.7 years */
#define RL_MAX_NOW_MS ((int64_t)1 << 52)             /* ~142,000 years of monotonic clock */

struct gh_ratelimit {
    const struct gh_ratelimit_ops *ops;
    void *state;
};

/* ---- front ------------------------------------------------------------------------------ */

static bool rule_name_ok(const char *name)
{
    size_t n;

    if (!name)
        return false;
    n = strnlen(name, GH_RATELIMIT_NAME_MAX + 1);
    if (n == 0 || n > GH_RATELIMIT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Emission interval in microseconds, rounded up so that rounding never allows more than the
 * configured rate. 0 for an invalid rule. */
static int64_t rule_interval_us(const struct gh_rate_rule *rule)
{
    if (!rule || !rule_name_ok(rule->name) || !isfinite(rule->rate_per_sec) ||
        rule->rate_per_sec < 1e-6 || rule->rate_per_sec > 1e6 || rule->burst < 1 ||
        rule->burst > 1000000)
        return 0;
    /* ceil, but 1/(1/60) must stay 60 s: within a nanosecond of an integer counts as it. */
    double x = 1e6 / rule->rate_per_sec, r = nearbyint(x);
    int64_t t = (int64_t)(fabs(x - r) < 1e-3 ? r : ceil(x));
    if (t < 1)
        t = 1;
    if (t > RL_MAX_WINDOW_US / (int64_t)rule->burst)
        return 0;
    return t;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a <= 0 ? 0 : a / b + (a % b != 0);
}

gh_err gh_ratelimit_new_backend(const struct gh_ratelimit_ops *ops, void *state,
                                struct gh_ratelimit **out)
{
    struct gh_ratelimit *rl;

    *out = NULL;
    if (!ops || !ops->check || !ops->free)
        return GH_ERR_INVALID;
    rl = gh_calloc(1, sizeof *rl);
    if (!rl) {
        ops->free(state);
        return GH_ERR_NOMEM;
    }
    rl->ops = ops;
    rl->state = state;
    *out = rl;
    return GH_OK;
}

void gh_ratelimit_free(struct gh_ratelimit *rl)
{
    if (!rl)
        return;
    rl->ops->free(rl->state);
    gh_free(rl);
}

gh_err gh_ratelimit_check(struct gh_ratelimit *rl, const struct gh_rate_rule *rule, const char *key,
                          int64_t now_ms, struct gh_rate_decision *out)
{
    size_t key_len;

    if (!rl || !key || !out || rule_interval_us(rule) == 0 || now_ms < 0 || now_ms > RL_MAX_NOW_MS)
        return GH_ERR_INVALID;
    key_len = strnlen(key, GH_RATELIMIT_KEY_MAX + 1);
    if (key_len > GH_RATELIMIT_KEY_MAX)
        return GH_ERR_TOO_LARGE;
    return rl->ops->check(rl->state, rule, key, key_len, now_ms, out);
}

void gh_ratelimit_health(const struct gh_ratelimit *rl, struct gh_ratelimit_health *out)
{
    out->external = false;
    out->up = true;
    out->failures = 0;
    if (rl && rl->ops->health)
        rl->ops->health(rl->state, out);
}

size_t gh_ratelimit_memory_bytes(const struct gh_ratelimit *rl)
{
    if (!rl)
        return 0;
    return sizeof *rl + (rl->ops->memory_bytes ? rl->ops->memory_bytes(rl->state) : 0);
}

void gh_ratelimit_headers(const struct gh_rate_rule *rule, const struct gh_rate_decision *d,
                          char *limit_out, size_t limit_size, char *policy_out, size_t policy_size)
{
    int64_t t_us = rule_interval_us(rule);
    bool ok = t_us > 0 && d;
    int n;

    if (limit_out && limit_size > 0) {
        limit_out[0] = '\0';
        if (ok) {
            int64_t t =
                d->remaining == 0 ? ceil_div(d->retry_after_ms, 1000) : ceil_div(d->reset_ms, 1000);
            n = snprintf(limit_out, limit_size, "\"%s\";r=%u;t=%lld", rule->name, d->remaining,
                         (long long)t);
            if (n < 0 || (size_t)n >= limit_size)
                limit_out[0] = '\0';
        }
    }
    if (policy_out && policy_size > 0) {
        policy_out[0] = '\0';
        if (ok) {
            int64_t w = ceil_div(t_us * (int64_t)rule->burst, 1000000);
            n = snprintf(policy_out, policy_size, "\"%s\";q=%u;w=%lld", rule->name, rule->burst,
                         (long long)(w < 1 ? 1 : w));
            if (n < 0 || (size_t)n >= policy_size)
                policy_out[0] = '\0';
        }
    }
}

/* ---- memory backend ------------------------------------------------------------------------ */

/* h == 0 marks a free slot (a real hash of 0 is stored as 1). 16 bytes per slot. */
struct rl_slot {
    uint64_t h;
    int64_t tat_us;
};

struct rl_stripe {
    pthread_mutex_t mu;
    char pad[64 - sizeof(pthread_mutex_t) % 64];
};

struct rl_mem {
    size_t nbuckets; /* power of two; bucket b is guarded by stripe b & (nstripes - 1) */
    size_t nstripes; /* power of two, <= nbuckets */
    size_t stripes_inited;
    unsigned char *key; /* sodium_malloc'd SipHash key, read-only after creation */
    struct rl_stripe *stripes;
    struct rl_slot *slots; /* nbuckets * RL_WAYS */
};

static void mem_free(void *state)
{
    struct rl_mem *m = state;

    if (!m)
        return;
    for (size_t i = 0; i < m->stripes_inited; i++)
        pthread_mutex_destroy(&m->stripes[i].mu);
    sodium_free(m->key);
    gh_free(m->stripes);
    gh_free(m->slots);
    gh_free(m);
}

static size_t mem_bytes(const void *state)
{
    const struct rl_mem *m = state;

    return sizeof *m + crypto_shorthash_KEYBYTES + m->nstripes * sizeof m->stripes[0] +
           m->nbuckets * RL_WAYS * sizeof m->slots[0];
}

/* Keyed hash of rule name and key: "name\0key" cannot collide across rules because names
 * contain no NUL. */
static uint64_t mem_hash(const struct rl_mem *m, const char *name, const char *key, size_t key_len)
{
    unsigned char buf[GH_RATELIMIT_NAME_MAX + 1 + GH_RATELIMIT_KEY_MAX];
    unsigned char h[crypto_shorthash_BYTES];
    size_t nlen = strlen(name); /* validated: <= GH_RATELIMIT_NAME_MAX */
    uint64_t v;

    memcpy(buf, name, nlen);
    buf[nlen] = '\0';
    memcpy(buf + nlen + 1, key, key_len);
    crypto_shorthash(h, buf, nlen + 1 + key_len, m->key);
    memcpy(&v, h, sizeof v);
    return v ? v : 1;
}

/* The slot for h in its bucket: the same hash, else a free or expired slot (TAT in the past
 * holds no state), else the slot with the smallest TAT. A reused slot starts fresh at now. */
static struct rl_slot *mem_slot(struct rl_slot *b, uint64_t h, int64_t now_us)
{
    struct rl_slot *victim = NULL;

    for (size_t w = 0; w < RL_WAYS; w++)
        if (b[w].h == h)
            return &b[w];
    for (size_t w = 0; w < RL_WAYS && !victim; w++)
        if (b[w].h == 0 || b[w].tat_us <= now_us)
            victim = &b[w];
    if (!victim) {
        victim = &b[0];
        for (size_t w = 1; w < RL_WAYS; w++)
            if (b[w].tat_us < victim->tat_us)
                victim = &b[w];
    }
    victim->h = h;
    victim->tat_us = now_us;
    return victim;
}

static gh_err mem_check(void *state, const struct gh_rate_rule *rule, const char *key,
                        size_t key_len, int64_t now_ms, struct gh_rate_decision *out)
{
    struct rl_mem *m = state;
    const int64_t t_us = rule_interval_us(rule);
    const int64_t window_us = t_us * (int64_t)rule->burst; /* burst * T = tau + T */
    const int64_t now_us = now_ms * 1000;
    uint64_t h = mem_hash(m, rule->name, key, key_len);
    size_t b = (size_t)(h & (uint64_t)(m->nbuckets - 1));
    pthread_mutex_t *mu = &m->stripes[b & (m->nstripes - 1)].mu;
    int64_t tat, new_tat, allow_at;

    memset(out, 0, sizeof *out);
    if (t_us == 0) /* an invalid rule; gh_ratelimit_check refuses those before calling here */
        return GH_ERR_INVALID;
    pthread_mutex_lock(mu);
    struct rl_slot *s = mem_slot(&m->slots[b * RL_WAYS], h, now_us);
    tat = s->tat_us > now_us ? s->tat_us : now_us;
    new_tat = tat + t_us;
    allow_at = new_tat - window_us; /* allowed iff tat <= now + tau */
    if (now_us < allow_at) {
        out->allowed = false;
        out->retry_after_ms = ceil_div(allow_at - now_us, 1000);
        out->remaining = 0;
        out->reset_ms = ceil_div(tat - now_us, 1000);
    } else {
        s->tat_us = new_tat;
        out->allowed = true;
        out->remaining = (unsigned)((now_us + window_us - new_tat) / t_us);
        out->reset_ms = ceil_div(new_tat - now_us, 1000);
        out->retry_after_ms =
            out->remaining == 0 ? ceil_div(new_tat + t_us - window_us - now_us, 1000) : 0;
    }
    pthread_mutex_unlock(mu);
    return GH_OK;
}

static const struct gh_ratelimit_ops mem_ops = {
    .check = mem_check,
    .free = mem_free,
    .memory_bytes = mem_bytes,
};

gh_err gh_ratelimit_new_memory(size_t max_keys, struct gh_ratelimit **out)
{
    gh_err rc = GH_OK;
    struct rl_mem *m = NULL;
    size_t cap = RL_WAYS;

    *out = NULL;
    if (max_keys == 0 || max_keys > GH_RATELIMIT_MAX_KEYS) {
        rc = GH_ERR_INVALID;
        goto out;
    }
    while (cap < max_keys)
        cap <<= 1;
    m = gh_calloc(1, sizeof *m);
    if (!m) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    m->nbuckets = cap / RL_WAYS;
    m->nstripes = m->nbuckets < RL_STRIPES ? m->nbuckets : RL_STRIPES;
    m->slots = gh_calloc(cap, sizeof m->slots[0]);
    m->stripes = gh_calloc(m->nstripes, sizeof m->stripes[0]);
    m->key = sodium_malloc(crypto_shorthash_KEYBYTES);
    if (!m->slots || !m->stripes || !m->key) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    crypto_shorthash_keygen(m->key);
    sodium_mprotect_readonly(m->key);
    for (; m->stripes_inited < m->nstripes; m->stripes_inited++) {
        if (pthread_mutex_init(&m->stripes[m->stripes_inited].mu, NULL) != 0) {
            rc = GH_ERR_NOMEM;
            goto out;
        }
    }
    rc = gh_ratelimit_new_backend(&mem_ops, m, out);
    m = NULL; /* owned by the limiter, or freed by gh_ratelimit_new_backend */
out:
    mem_free(m);
    return rc;
}
