/* Owns the session cache: 4-way buckets keyed by SipHash (random key) of the session id, under
 * striped mutexes. Holds no secret: session ids, user ids and profile fields already returned
 * to the user. Trust boundary: sid/kid come from verified tokens only. */
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "auth/jwt.h"
#include "auth/sessioncache.h"
#include "core/mem.h"
#include "core/banned.h"

#define SC_WAYS 4
#define SC_STRIPES 64
#define SC_MAX_CAPACITY ((size_t)1 << 20)

struct sc_entry {
    bool used;
    uint64_t epoch;
    int64_t fetched_at;
    int64_t stale_at; /* fetched_at + max_age less a random part, so entries filled together
                         do not all expire in the same second */
    char kid[GH_KID_MAX + 1];
    struct gh_session session;
    char email[GH_EMAIL_MAX + 1];
    char display_name[GH_DISPLAY_NAME_MAX + 1];
    bool has_display_name;
    int64_t user_created_at;
    uint16_t view_len; /* 0: no view */
    char view[GH_SESSIONCACHE_VIEW_MAX];
};

struct gh_sessioncache {
    size_t nbuckets; /* power of two */
    int64_t max_age;
    unsigned char key[crypto_shorthash_KEYBYTES];
    pthread_mutex_t locks[SC_STRIPES];
    struct sc_entry *entries; /* nbuckets * SC_WAYS */
};

gh_err gh_sessioncache_new(size_t capacity, int64_t max_age, struct gh_sessioncache **out)
{
    if (capacity == 0 || capacity > SC_MAX_CAPACITY || max_age < 0)
        return GH_ERR_INVALID;
    size_t nb = 1;
    while (nb * SC_WAYS < capacity)
        nb <<= 1;
    struct gh_sessioncache *c = gh_calloc(1, sizeof *c);
    if (!c)
        return GH_ERR_NOMEM;
    c->entries = gh_calloc(nb * SC_WAYS, sizeof *c->entries);
    if (!c->entries) {
        gh_free(c);
        return GH_ERR_NOMEM;
    }
    c->nbuckets = nb;
    c->max_age = max_age;
    randombytes_buf(c->key, sizeof c->key);
    for (size_t i = 0; i < SC_STRIPES; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    *out = c;
    return GH_OK;
}

void gh_sessioncache_free(struct gh_sessioncache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < SC_STRIPES; i++)
        pthread_mutex_destroy(&c->locks[i]);
    /* The entries hold decrypted profiles (email, display name). */
    sodium_memzero(c->entries, c->nbuckets * SC_WAYS * sizeof *c->entries);
    gh_free(c->entries);
    sodium_memzero(c->key, sizeof c->key);
    gh_free(c);
}

static size_t bucket_of(const struct gh_sessioncache *c, const char *sid)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, (const unsigned char *)sid, strlen(sid), c->key);
    memcpy(&v, h, sizeof v);
    return (size_t)(v & (uint64_t)(c->nbuckets - 1));
}

bool gh_sessioncache_get(struct gh_sessioncache *c, const char *sid, const char *kid,
                         uint64_t epoch, int64_t now, struct gh_session *out,
                         struct gh_user *out_user)
{
    size_t b = bucket_of(c, sid);
    pthread_mutex_t *mu = &c->locks[b % SC_STRIPES];
    bool hit = false;
    pthread_mutex_lock(mu);
    for (size_t w = 0; w < SC_WAYS; w++) {
        struct sc_entry *e = &c->entries[b * SC_WAYS + w];
        if (!e->used || strcmp(e->session.id, sid) != 0)
            continue;
        if (e->epoch != epoch || now < e->fetched_at || now > e->stale_at ||
            strcmp(e->kid, kid) != 0) {
            e->used = false; /* stale: the next request reads storage */
            break;
        }
        *out = e->session;
        if (out_user) {
            /* Only the profile view: the sealed fields stay out of the cache (and empty). */
            out_user->email_enc[0] = out_user->display_name_enc[0] = '\0';
            out_user->dek_wrapped[0] = out_user->password_hash[0] = '\0';
            out_user->email_key[0] = '\0';
            out_user->updated_at = out_user->last_login_at = 0;
            memcpy(out_user->id, e->session.user_id, sizeof out_user->id);
            memcpy(out_user->email, e->email, sizeof out_user->email);
            memcpy(out_user->display_name, e->display_name, sizeof out_user->display_name);
            out_user->has_display_name = e->has_display_name;
            out_user->created_at = e->user_created_at;
        }
        hit = true;
        break;
    }
    pthread_mutex_unlock(mu);
    return hit;
}

void gh_sessioncache_put(struct gh_sessioncache *c, const char *kid, uint64_t epoch, int64_t now,
                         const struct gh_session *ss, const struct gh_user *user)
{
    if (strlen(kid) > GH_KID_MAX)
        return;
    size_t b = bucket_of(c, ss->id);
    pthread_mutex_t *mu = &c->locks[b % SC_STRIPES];
    pthread_mutex_lock(mu);
    struct sc_entry *slot = NULL, *oldest = NULL;
    for (size_t w = 0; w < SC_WAYS; w++) {
        struct sc_entry *e = &c->entries[b * SC_WAYS + w];
        if (e->used && strcmp(e->session.id, ss->id) == 0) {
            slot = e;
            break;
        }
        if (!e->used && !slot)
            slot = e;
        if (e->used && (!oldest || e->fetched_at < oldest->fetched_at))
            oldest = e;
    }
    if (!slot)
        slot = oldest;
    memset(slot, 0, sizeof *slot);
    slot->used = true;
    slot->epoch = epoch;
    slot->fetched_at = now;
    slot->stale_at =
        now + c->max_age - (int64_t)randombytes_uniform((uint32_t)(c->max_age / 2 + 1));
    memcpy(slot->kid, kid, strlen(kid) + 1);
    slot->session = *ss;
    if (user) {
        memcpy(slot->email, user->email, sizeof slot->email);
        memcpy(slot->display_name, user->display_name, sizeof slot->display_name);
        slot->has_display_name = user->has_display_name;
        slot->user_created_at = user->created_at;
    }
    pthread_mutex_unlock(mu);
}

/* The entry for sid if it is in use, at epoch and not stale; called with its stripe locked. */
static struct sc_entry *live_entry(struct gh_sessioncache *c, size_t b, const char *sid,
                                   uint64_t epoch, int64_t now)
{
    for (size_t w = 0; w < SC_WAYS; w++) {
        struct sc_entry *e = &c->entries[b * SC_WAYS + w];
        if (!e->used || strcmp(e->session.id, sid) != 0)
            continue;
        if (e->epoch != epoch || now < e->fetched_at || now > e->stale_at)
            return NULL;
        return e;
    }
    return NULL;
}

void gh_sessioncache_put_view(struct gh_sessioncache *c, const char *sid, uint64_t epoch,
                              int64_t now, const char *view, size_t len)
{
    if (!c || !sid || !view || len == 0 || len > GH_SESSIONCACHE_VIEW_MAX)
        return;
    size_t b = bucket_of(c, sid);
    pthread_mutex_t *mu = &c->locks[b % SC_STRIPES];
    pthread_mutex_lock(mu);
    struct sc_entry *e = live_entry(c, b, sid, epoch, now);
    if (e) {
        memcpy(e->view, view, len);
        e->view_len = (uint16_t)len;
    }
    pthread_mutex_unlock(mu);
}

bool gh_sessioncache_get_view(struct gh_sessioncache *c, const char *sid, uint64_t epoch,
                              int64_t now, char *out, size_t size, size_t *out_len)
{
    if (!c || !sid || !out || !out_len)
        return false;
    size_t b = bucket_of(c, sid);
    pthread_mutex_t *mu = &c->locks[b % SC_STRIPES];
    bool hit = false;
    pthread_mutex_lock(mu);
    struct sc_entry *e = live_entry(c, b, sid, epoch, now);
    if (e && e->view_len > 0 && e->view_len <= size) {
        memcpy(out, e->view, e->view_len);
        *out_len = e->view_len;
        hit = true;
    }
    pthread_mutex_unlock(mu);
    return hit;
}
