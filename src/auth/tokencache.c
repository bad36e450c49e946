/* Owns the verified-token cache: a fixed array of 4-way buckets, allocated once, guarded by
 * striped mutexes. Entries hold a keyed BLAKE2b of the token (never the token) and its claims.
 * Trust boundary: lookups take attacker bytes; the random hash key keeps bucket choice secret. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "auth/jwt.h"
#include "core/mem.h"
#include "core/banned.h"

#define TC_WAYS 4
#define TC_STRIPES 64
#define TC_MAX_CAPACITY ((size_t)1 << 20) /* ~300 MiB of entries; beyond is a config error */
#define TC_HASH_LEN crypto_generichash_BYTES   /* 32 */

struct tc_entry {
    unsigned char hash[TC_HASH_LEN];
    bool used;
    struct gh_jwt_claims claims;
};

/* One lock per stripe, padded to its own 64 bytes so neighbours rarely share a cache line. */
struct tc_stripe {
    pthread_mutex_t mu;
    char pad[64 - sizeof(pthread_mutex_t) % 64];
};

struct gh_tokencache {
    size_t nbuckets; /* power of two; bucket b is guarded by stripe b & (nstripes - 1) */
    size_t nstripes; /* power of two, ≤ nbuckets */
    size_t stripes_inited;
    unsigned char *key; /* sodium_malloc'd, read-only after creation */
    struct tc_stripe *stripes;
    struct tc_entry *entries; /* nbuckets * TC_WAYS */
};

static void hash_token(const struct gh_tokencache *c, const char *token, size_t len,
                       unsigned char out[TC_HASH_LEN])
{
    crypto_generichash(out, TC_HASH_LEN, (const unsigned char *)token, len, c->key,
                       crypto_generichash_KEYBYTES);
}

static size_t bucket_of(const struct gh_tokencache *c, const unsigned char hash[TC_HASH_LEN])
{
    uint64_t v;
    memcpy(&v, hash, sizeof v);
    return (size_t)(v & (uint64_t)(c->nbuckets - 1));
}

static pthread_mutex_t *lock_of(struct gh_tokencache *c, size_t bucket)
{
    return &c->stripes[bucket & (c->nstripes - 1)].mu;
}

static void entry_clear(struct tc_entry *e)
{
    sodium_memzero(e, sizeof *e);
}

gh_err gh_tokencache_new(size_t capacity, struct gh_tokencache **out)
{
    gh_err rc = GH_OK;
    struct gh_tokencache *c = NULL;
    size_t cap = TC_WAYS;

    *out = NULL;
    if (capacity == 0 || capacity > TC_MAX_CAPACITY) {
        rc = GH_ERR_INVALID;
        goto out;
    }
    while (cap < capacity)
        cap <<= 1;

    c = gh_calloc(1, sizeof *c);
    if (!c) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    c->nbuckets = cap / TC_WAYS;
    c->nstripes = c->nbuckets < TC_STRIPES ? c->nbuckets : TC_STRIPES;
    c->entries = gh_calloc(cap, sizeof c->entries[0]);
    c->stripes = gh_calloc(c->nstripes, sizeof c->stripes[0]);
    c->key = sodium_malloc(crypto_generichash_KEYBYTES);
    if (!c->entries || !c->stripes || !c->key) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    crypto_generichash_keygen(c->key);
    sodium_mprotect_readonly(c->key);
    for (; c->stripes_inited < c->nstripes; c->stripes_inited++) {
        if (pthread_mutex_init(&c->stripes[c->stripes_inited].mu, NULL) != 0) {
            rc = GH_ERR_NOMEM;
            goto out;
        }
    }
    *out = c;
    c = NULL;
out:
    gh_tokencache_free(c);
    return rc;
}

void gh_tokencache_free(struct gh_tokencache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->stripes_inited; i++)
        pthread_mutex_destroy(&c->stripes[i].mu);
    sodium_free(c->key);
    gh_free(c->stripes);
    gh_free(c->entries);
    gh_free(c);
}

bool gh_tokencache_get(struct gh_tokencache *c, const char *token, size_t len, int64_t now,
                       struct gh_jwt_claims *out)
{
    unsigned char h[TC_HASH_LEN];
    size_t b;
    struct tc_entry *e;
    bool hit = false;

    if (!c || !token || !out || len == 0 || len > GH_JWT_MAX_LEN)
        return false;
    hash_token(c, token, len, h);
    b = bucket_of(c, h);
    e = &c->entries[b * TC_WAYS];
    pthread_mutex_lock(lock_of(c, b));
    for (size_t w = 0; w < TC_WAYS; w++) {
        if (!e[w].used || sodium_memcmp(e[w].hash, h, sizeof h) != 0)
            continue;
        /* Stricter than the verifier (no leeway): a cached token never outlives its exp. */
        if (e[w].claims.exp <= now) {
            entry_clear(&e[w]);
            break;
        }
        *out = e[w].claims;
        hit = true;
        break;
    }
    pthread_mutex_unlock(lock_of(c, b));
    return hit;
}

void gh_tokencache_put(struct gh_tokencache *c, const char *token, size_t len,
                       const struct gh_jwt_claims *claims)
{
    unsigned char h[TC_HASH_LEN];
    size_t b, victim = TC_WAYS;
    struct tc_entry *e;

    if (!c || !token || !claims || len == 0 || len > GH_JWT_MAX_LEN)
        return;
    hash_token(c, token, len, h);
    b = bucket_of(c, h);
    e = &c->entries[b * TC_WAYS];
    pthread_mutex_lock(lock_of(c, b));
    /* Same token again, else a free way, else the way that expires soonest. */
    for (size_t w = 0; w < TC_WAYS && victim == TC_WAYS; w++)
        if (e[w].used && sodium_memcmp(e[w].hash, h, sizeof h) == 0)
            victim = w;
    for (size_t w = 0; w < TC_WAYS && victim == TC_WAYS; w++)
        if (!e[w].used)
            victim = w;
    if (victim == TC_WAYS) {
        victim = 0;
        for (size_t w = 1; w < TC_WAYS; w++)
            if (e[w].claims.exp < e[victim].claims.exp)
                victim = w;
    }
    memcpy(e[victim].hash, h, sizeof h);
    e[victim].claims = *claims;
    /* The claims came from our verifier, but a cache must not trust NULs it did not write. */
    e[victim].claims.kid[GH_KID_MAX] = '\0';
    e[victim].claims.sub[GH_CLAIM_MAX] = '\0';
    e[victim].claims.sid[GH_CLAIM_MAX] = '\0';
    e[victim].claims.jti[GH_CLAIM_MAX] = '\0';
    e[victim].used = true;
    pthread_mutex_unlock(lock_of(c, b));
}

void gh_tokencache_purge(struct gh_tokencache *c, const char *kid)
{
    if (!c)
        return;
    for (size_t s = 0; s < c->nstripes; s++) {
        pthread_mutex_lock(&c->stripes[s].mu);
        for (size_t b = s; b < c->nbuckets; b += c->nstripes) {
            struct tc_entry *e = &c->entries[b * TC_WAYS];
            for (size_t w = 0; w < TC_WAYS; w++)
                if (e[w].used && (!kid || strcmp(e[w].claims.kid, kid) == 0))
                    entry_clear(&e[w]);
        }
        pthread_mutex_unlock(&c->stripes[s].mu);
    }
}
