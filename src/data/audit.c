/* Owns the audit chain's format (canonical JSON, BLAKE2b-256 chain, Ed25519 checkpoints), the
 * audit signing key (sodium_malloc, lives as long as the gh_audit) and verify/export/prune.
 * Trust boundary: rows read back from the database are untrusted input to verification. */
#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "auth/keys.h"
#include "core/enc.h"
#include "core/log.h"
#include "core/mem.h"
#include "data/audit.h"
#include "store/store_audit.h"
#include "store/store_maintenance.h"
#include "core/banned.h"

/* Checkpoints held in memory while verifying or exporting (prune keeps the number bounded). */
#define CHECKPOINTS_MAX ((size_t)1 << 20)
#define PUBKEY_FILE_MAX 256

_Static_assert(GH_B64URL_LEN(crypto_sign_BYTES) == GH_AUDIT_SIG_TEXT, "signature text size");
_Static_assert(GH_B64URL_LEN(crypto_sign_PUBLICKEYBYTES) == GH_AUDIT_PUBKEY_TEXT, "pk size");

struct gh_audit {
    struct gh_store *s;
    unsigned char *sk; /* crypto_sign_SECRETKEYBYTES, sodium_malloc */
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    int64_t every;
    int64_t interval;
    pthread_mutex_t lock; /* guards the three below and serialises checkpoints */
    int64_t since_cp;     /* appends by this instance since its last checkpoint */
    int64_t last_cp_seq;
    int64_t last_cp_time;
    /* Events whose append failed (out of memory, a busy or full disk, the database away),
     * kept in order with their own time and retried by gh_audit_tick before anything else is
     * checkpointed. A fixed ring allocated here: queuing never allocates. */
    pthread_mutex_t qlock;
    pthread_mutex_t flock; /* one flusher at a time: two would store the same head twice */
    struct gh_audit_row *queue; /* GH_AUDIT_RETRY_MAX rows */
    size_t qhead, qlen;
    struct gh_audit_stats stats; /* guarded by qlock */
};

/* ---- field rules ---- */

static bool chars_ok(const char *v, size_t max, const char *extra)
{
    size_t n = strlen(v);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (!(isascii(ch) && isalnum(ch)) && !strchr(extra, ch))
            return false;
    }
    return true;
}

static const char *or_empty(const char *v)
{
    return v ? v : "";
}

static bool ends_with(const char *v, const char *suffix)
{
    size_t n = strlen(v), m = strlen(suffix);
    return n >= m && memcmp(v + n - m, suffix, m) == 0;
}

bool gh_audit_event_is_valid(const struct gh_audit_event *ev)
{
    const char *action = or_empty(ev->action), *outcome = or_empty(ev->outcome);
    const char *client = or_empty(ev->client);
    if (!*action || !chars_ok(action, GH_AUDIT_ACTION_MAX, "_"))
        return false;
    for (const char *p = action; *p; p++)
        if (isupper((unsigned char)*p))
            return false;
    if (strcmp(outcome, "success") != 0 && strcmp(outcome, "failure") != 0 &&
        strcmp(outcome, "denied") != 0)
        return false;
    /* '@' and spaces are outside every set: an email or a name cannot be recorded. */
    if (!chars_ok(or_empty(ev->actor), GH_AUDIT_FIELD_MAX, "._:-") ||
        !chars_ok(or_empty(ev->target), GH_AUDIT_FIELD_MAX, "._:-") ||
        !chars_ok(or_empty(ev->request_id), GH_AUDIT_FIELD_MAX, "._:-") ||
        !chars_ok(client, GH_AUDIT_FIELD_MAX, ".:/"))
        return false;
    /* Only a truncated address (gh_log_truncate_addr): a full one is personal data. */
    return !*client || strcmp(client, "unknown") == 0 || ends_with(client, "/24") ||
           ends_with(client, "/48");
}

/* ---- the format ---- */

gh_err gh_audit_canonical(const struct gh_audit_row *r, char out[GH_AUDIT_CANONICAL_MAX],
                          size_t *out_len)
{
    json_t *o =
        json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s}", "seq", (json_int_t)r->seq, "ts",
                  (json_int_t)r->ts, "action", r->action, "actor", r->actor, "target", r->target,
                  "outcome", r->outcome, "request_id", r->request_id, "client", r->client);
    if (!o)
        return GH_ERR_NOMEM; /* or a field that is not UTF-8 (rows read back are untrusted) */
    size_t n = json_dumpb(o, out, GH_AUDIT_CANONICAL_MAX - 1, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    if (n == 0 || n > GH_AUDIT_CANONICAL_MAX - 1)
        return GH_ERR_TOO_LARGE;
    out[n] = '\0';
    *out_len = n;
    return GH_OK;
}

void gh_audit_chain_hash(const unsigned char prev[32], const char *canonical, size_t len,
                         unsigned char out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, prev, 32);
    crypto_generichash_update(&st, (const unsigned char *)canonical, len);
    crypto_generichash_final(&st, out, 32);
}

void gh_audit_signed_message(int64_t seq, const unsigned char hash[32],
                             unsigned char out[GH_AUDIT_SIGNED_LEN])
{
    size_t ctx_len = sizeof GH_AUDIT_CHECKPOINT_CONTEXT - 1;
    uint64_t v = (uint64_t)seq;
    memcpy(out, GH_AUDIT_CHECKPOINT_CONTEXT, ctx_len);
    for (int i = 0; i < 8; i++)
        out[ctx_len + (size_t)i] = (unsigned char)(v >> (56 - 8 * i));
    memcpy(out + ctx_len + 8, hash, 32);
}

/* Exactly 64 lowercase hex digits → 32 bytes. */
static bool hex_decode(const char *hex, unsigned char out[32])
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (strlen(hex) != GH_AUDIT_HASH_HEX)
        return false;
    for (const char *p = hex; *p; p++)
        if (isupper((unsigned char)*p))
            return false;
    return sodium_hex2bin(out, 32, hex, GH_AUDIT_HASH_HEX, NULL, &bin_len, &end) == 0 &&
           bin_len == 32 && end == hex + GH_AUDIT_HASH_HEX;
}

static void hex_encode(const unsigned char in[32], char out[GH_AUDIT_HASH_HEX + 1])
{
    sodium_bin2hex(out, GH_AUDIT_HASH_HEX + 1, in, 32);
}

bool gh_audit_mark_is_signed(const struct gh_audit_mark *m, const unsigned char pubkey[32])
{
    unsigned char hash[32], sig[crypto_sign_BYTES], msg[GH_AUDIT_SIGNED_LEN];
    size_t n = 0;
    if (m->malformed || m->seq <= 0 || !hex_decode(m->hash, hash))
        return false;
    if (gh_b64url_decode(m->sig, strlen(m->sig), sig, sizeof sig, &n) != GH_OK || n != sizeof sig)
        return false;
    gh_audit_signed_message(m->seq, hash, msg);
    return crypto_sign_verify_detached(sig, msg, sizeof msg, pubkey) == 0;
}

static gh_err sign_mark(const struct gh_audit *a, int64_t seq, const char *hash_hex,
                        char out_sig[GH_AUDIT_SIG_TEXT + 1])
{
    unsigned char hash[32], sig[crypto_sign_BYTES], msg[GH_AUDIT_SIGNED_LEN];
    if (seq <= 0 || !hex_decode(hash_hex, hash))
        return GH_ERR_CRYPTO;
    gh_audit_signed_message(seq, hash, msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, a->sk);
    gh_b64url_encode(sig, sizeof sig, out_sig, GH_AUDIT_SIG_TEXT + 1);
    return GH_OK;
}

void gh_audit_pubkey_encode(const unsigned char pk[32], char out[GH_AUDIT_PUBKEY_TEXT + 1])
{
    gh_b64url_encode(pk, 32, out, GH_AUDIT_PUBKEY_TEXT + 1);
}

/* ---- lifetime ---- */

gh_err gh_audit_new(struct gh_store *s, struct gh_keywrap *kw, const struct gh_audit_options *opt,
                    int64_t now, struct gh_audit **out)
{
    gh_err rc = GH_ERR_NOMEM;
    unsigned char *seed = sodium_malloc(crypto_sign_SEEDBYTES);
    struct gh_audit *a = gh_calloc(1, sizeof *a);
    if (!seed || !a)
        goto out;
    if (!(a->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)))
        goto out;
    a->s = s;
    a->every = opt && opt->checkpoint_every > 0 ? opt->checkpoint_every : GH_AUDIT_CHECKPOINT_EVERY;
    a->interval = opt && opt->checkpoint_interval > 0 ? opt->checkpoint_interval
                                                      : GH_AUDIT_CHECKPOINT_INTERVAL;
    a->last_cp_time = now;
    if (!(a->queue = gh_calloc(GH_AUDIT_RETRY_MAX, sizeof *a->queue)))
        goto out;
    if (pthread_mutex_init(&a->qlock, NULL) != 0) {
        rc = GH_ERR_INTERNAL;
        goto out;
    }
    if (pthread_mutex_init(&a->flock, NULL) != 0) {
        pthread_mutex_destroy(&a->qlock);
        rc = GH_ERR_INTERNAL;
        goto out;
    }
    if (pthread_mutex_init(&a->lock, NULL) != 0) {
        pthread_mutex_destroy(&a->qlock);
        pthread_mutex_destroy(&a->flock);
        rc = GH_ERR_INTERNAL;
        goto out;
    }
    if ((rc = gh_keys_working_key(s, kw, GH_AUDIT_KEY_NAME, now, seed)) != GH_OK) {
        pthread_mutex_destroy(&a->lock);
        pthread_mutex_destroy(&a->qlock);
        pthread_mutex_destroy(&a->flock);
        goto out;
    }
    crypto_sign_seed_keypair(a->pk, a->sk, seed);
    if ((rc = gh_store_audit_last_checkpoint(s, &a->last_cp_seq)) != GH_OK) {
        pthread_mutex_destroy(&a->lock);
        pthread_mutex_destroy(&a->qlock);
        pthread_mutex_destroy(&a->flock);
        goto out;
    }
    *out = a;
    a = NULL;
out:
    if (seed) {
        sodium_memzero(seed, crypto_sign_SEEDBYTES);
        sodium_free(seed);
    }
    if (a) {
        if (a->sk)
            sodium_free(a->sk); /* sodium_free wipes */
        gh_free(a->queue);
        gh_free(a);
    }
    return rc;
}

void gh_audit_free(struct gh_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->qlock);
    size_t lost = a->qlen;
    pthread_mutex_unlock(&a->qlock);
    if (lost > 0)
        gh_log(GH_LOG_ERROR, "audit events lost at shutdown: they could not be stored", NULL,
               "audit_events_lost", json_pack("{s:I}", "count", (json_int_t)lost));
    sodium_free(a->sk);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->qlock);
    pthread_mutex_destroy(&a->flock);
    gh_free(a->queue);
    gh_free(a);
}

static gh_err flush_queue(struct gh_audit *a);

gh_err gh_audit_close(struct gh_audit *a)
{
    if (!a)
        return GH_OK;
    gh_err rc = flush_queue(a);
    gh_err cp = gh_audit_checkpoint(a, gh_now());
    gh_audit_free(a);
    return rc != GH_OK ? rc : cp;
}

void gh_audit_stats(struct gh_audit *a, struct gh_audit_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!a)
        return;
    pthread_mutex_lock(&a->qlock);
    *out = a->stats;
    out->pending = a->qlen;
    pthread_mutex_unlock(&a->qlock);
}

void gh_audit_public_key(const struct gh_audit *a, unsigned char out[32])
{
    memcpy(out, a->pk, 32);
}

/* ---- appending and checkpoints ---- */

gh_err gh_audit_checkpoint(struct gh_audit *a, int64_t now)
{
    struct gh_audit_mark cp;
    char pk_text[GH_AUDIT_PUBKEY_TEXT + 1];
    gh_err rc;
    memset(&cp, 0, sizeof cp);
    pthread_mutex_lock(&a->lock);
    if ((rc = gh_store_audit_tail(a->s, &cp.seq, cp.hash)) != GH_OK)
        goto out;
    if (cp.seq <= a->last_cp_seq) {
        /* Nothing new since the last checkpoint: do not look again before the next interval. */
        a->since_cp = 0;
        a->last_cp_time = now;
        goto out;
    }
    cp.created_at = now;
    if ((rc = sign_mark(a, cp.seq, cp.hash, cp.sig)) != GH_OK)
        goto out;
    if ((rc = gh_store_audit_checkpoint_insert(a->s, &cp)) != GH_OK)
        goto out;
    a->last_cp_seq = cp.seq;
    a->last_cp_time = now;
    a->since_cp = 0;
    /* The copy outside the database: a log shipper keeps it where the database cannot reach. */
    gh_audit_pubkey_encode(a->pk, pk_text);
    gh_log(GH_LOG_INFO, "audit checkpoint", NULL, "audit_checkpoint",
           json_pack("{s:I,s:s,s:s,s:s}", "seq", (json_int_t)cp.seq, "hash", cp.hash, "sig", cp.sig,
                     "public_key", pk_text));
out:
    pthread_mutex_unlock(&a->lock);
    if (rc != GH_OK)
        gh_log(GH_LOG_ERROR, "audit checkpoint failed", NULL, "audit_checkpoint_failed",
               json_pack("{s:s}", "error", gh_err_name(rc)));
    return rc;
}

gh_err gh_audit_tick(struct gh_audit *a, int64_t now)
{
    gh_err q = flush_queue(a);
    if (q != GH_OK)
        return q; /* the chain is not checkpointed past a gap that is still being filled */
    pthread_mutex_lock(&a->lock);
    bool due = now - a->last_cp_time >= a->interval;
    pthread_mutex_unlock(&a->lock);
    return due ? gh_audit_checkpoint(a, now) : GH_OK;
}

static void copy_field(char *dst, size_t size, const char *v)
{
    snprintf(dst, size, "%s", or_empty(v));
}

static gh_err seal(void *ctx, struct gh_audit_row *row)
{
    (void)ctx;
    unsigned char prev[32], h[32];
    char canon[GH_AUDIT_CANONICAL_MAX];
    size_t len = 0;
    gh_err rc;
    if (!hex_decode(row->prev_hash, prev)) {
        gh_log(GH_LOG_ERROR, "audit chain tail is corrupt: run gatehouse audit verify", NULL,
               "audit_tail_corrupt", json_pack("{s:I}", "seq", (json_int_t)(row->seq - 1)));
        return GH_ERR_CRYPTO;
    }
    if ((rc = gh_audit_canonical(row, canon, &len)) != GH_OK)
        return rc;
    gh_audit_chain_hash(prev, canon, len, h);
    hex_encode(h, row->hash);
    return GH_OK;
}

/* Store row, unless earlier events still wait (they go first: the chain keeps the order in
 * which events happened). On failure the row joins the retry queue; GH_ERR_BUSY says it was
 * queued, GH_ERR_TOO_LARGE that the queue was full and the event is lost (both counted). */
static gh_err append_row(struct gh_audit *a, const struct gh_audit_row *row)
{
    pthread_mutex_lock(&a->qlock);
    bool behind = a->qlen > 0;
    pthread_mutex_unlock(&a->qlock);
    gh_err rc = behind ? GH_ERR_BUSY : GH_OK;
    if (!behind) {
        struct gh_audit_row r = *row;
        rc = gh_store_audit_append(a->s, &r, seal, NULL);
        if (rc == GH_OK)
            return GH_OK;
    }
    pthread_mutex_lock(&a->qlock);
    if (!behind)
        a->stats.failures++;
    if (a->qlen == GH_AUDIT_RETRY_MAX) {
        a->stats.dropped++;
        pthread_mutex_unlock(&a->qlock);
        return GH_ERR_TOO_LARGE;
    }
    a->queue[(a->qhead + a->qlen) % GH_AUDIT_RETRY_MAX] = *row;
    a->qlen++;
    a->stats.queued++;
    pthread_mutex_unlock(&a->qlock);
    (void)rc;
    return GH_ERR_BUSY;
}

/* Store the queued rows in order; stop at the first that still fails. Appends happen under the
 * store's own serialisation; qlock is not held across a store call. */
static gh_err flush_queue_locked(struct gh_audit *a);

static gh_err flush_queue(struct gh_audit *a)
{
    pthread_mutex_lock(&a->flock);
    gh_err rc = flush_queue_locked(a);
    pthread_mutex_unlock(&a->flock);
    return rc;
}

static gh_err flush_queue_locked(struct gh_audit *a)
{
    for (;;) {
        struct gh_audit_row r;
        pthread_mutex_lock(&a->qlock);
        if (a->qlen == 0) {
            pthread_mutex_unlock(&a->qlock);
            return GH_OK;
        }
        r = a->queue[a->qhead];
        pthread_mutex_unlock(&a->qlock);
        gh_err rc = gh_store_audit_append(a->s, &r, seal, NULL);
        pthread_mutex_lock(&a->qlock);
        if (rc != GH_OK) {
            a->stats.failures++;
            pthread_mutex_unlock(&a->qlock);
            return rc;
        }
        memset(&a->queue[a->qhead], 0, sizeof a->queue[a->qhead]);
        a->qhead = (a->qhead + 1) % GH_AUDIT_RETRY_MAX;
        a->qlen--;
        a->stats.recovered++;
        size_t left = a->qlen;
        pthread_mutex_unlock(&a->qlock);
        if (left == 0)
            gh_log(GH_LOG_WARN, "audit events stored after a delay", NULL, "audit_recovered",
                   NULL);
        pthread_mutex_lock(&a->lock);
        a->since_cp++;
        pthread_mutex_unlock(&a->lock);
    }
}

gh_err gh_audit_append(struct gh_audit *a, const struct gh_audit_event *ev)
{
    struct gh_audit_row row;
    if (!gh_audit_event_is_valid(ev))
        return GH_ERR_INVALID;
    memset(&row, 0, sizeof row);
    row.ts = ev->ts > 0 ? ev->ts : gh_now();
    copy_field(row.action, sizeof row.action, ev->action);
    copy_field(row.actor, sizeof row.actor, ev->actor);
    copy_field(row.target, sizeof row.target, ev->target);
    copy_field(row.outcome, sizeof row.outcome, ev->outcome);
    copy_field(row.request_id, sizeof row.request_id, ev->request_id);
    copy_field(row.client, sizeof row.client, ev->client);
    gh_err rc = append_row(a, &row);
    if (rc != GH_OK)
        return rc;
    pthread_mutex_lock(&a->lock);
    bool due = ++a->since_cp >= a->every;
    pthread_mutex_unlock(&a->lock);
    if (due) {
        gh_err cp = gh_audit_checkpoint(a, gh_now()); /* logged there; the tick retries */
        (void)cp;
    }
    return GH_OK;
}

/* ---- verification ---- */

struct cp_entry {
    int64_t seq;
    unsigned char hash[32];
    bool signed_ok; /* signature valid (implies hash decoded) */
};

struct verify_ctx {
    const unsigned char *pk;
    struct gh_audit_report *rep;
    unsigned char prev[32]; /* the recomputed hash of the last row seen (or the base) */
    int64_t next_seq;
    bool have_anchor;
    bool base_done;
    int64_t base_seq;
    struct cp_entry *cps;
    size_t ncps, cap, next_cp;
};

__attribute__((format(printf, 4, 5))) static void
problem(struct verify_ctx *v, enum gh_audit_problem kind, int64_t seq, const char *fmt, ...)
{
    if (v->rep->problem != GH_AUDIT_OK)
        return; /* only the first */
    va_list ap;
    va_start(ap, fmt);
    v->rep->problem = kind;
    v->rep->bad_seq = seq;
    vsnprintf(v->rep->message, sizeof v->rep->message, fmt, ap);
    va_end(ap);
}

static bool failed(const struct verify_ctx *v)
{
    return v->rep->problem != GH_AUDIT_OK;
}

static gh_err v_anchor(void *ctx, const struct gh_audit_mark *an)
{
    struct verify_ctx *v = ctx;
    if (!an) {
        memset(v->prev, 0, 32);
        v->next_seq = 1;
        return GH_OK;
    }
    v->have_anchor = true;
    v->base_seq = an->seq;
    v->rep->anchor_seq = an->seq;
    v->rep->last_seq = an->seq;
    v->next_seq = an->seq + 1;
    if (!gh_audit_mark_is_signed(an, v->pk) || !hex_decode(an->hash, v->prev))
        problem(v, GH_AUDIT_ANCHOR_BAD, an->seq,
                "anchor at seq %lld does not verify: its signature is not valid for this "
                "public key",
                (long long)an->seq);
    return GH_OK;
}

static gh_err v_checkpoint(void *ctx, const struct gh_audit_mark *cp)
{
    struct verify_ctx *v = ctx;
    if (v->ncps == v->cap) {
        if (v->cap >= CHECKPOINTS_MAX)
            return GH_ERR_TOO_LARGE;
        size_t cap = v->cap ? v->cap * 2 : 64;
        struct cp_entry *n = gh_realloc(v->cps, cap * sizeof *n);
        if (!n)
            return GH_ERR_NOMEM;
        v->cps = n;
        v->cap = cap;
    }
    struct cp_entry *e = &v->cps[v->ncps++];
    memset(e, 0, sizeof *e);
    e->seq = cp->seq;
    e->signed_ok = gh_audit_mark_is_signed(cp, v->pk) && hex_decode(cp->hash, e->hash);
    v->rep->checkpoints++;
    return GH_OK;
}

/* Check the checkpoints up to seq, where the recomputed chain hash is `at` (NULL: the chain
 * has no hash there — history before the anchor, only the signature can be checked). */
static void check_cps_upto(struct verify_ctx *v, int64_t seq, const unsigned char *at)
{
    while (v->next_cp < v->ncps && v->cps[v->next_cp].seq <= seq && !failed(v)) {
        const struct cp_entry *e = &v->cps[v->next_cp++];
        if (!e->signed_ok)
            problem(v, GH_AUDIT_CHECKPOINT_BAD, e->seq,
                    "checkpoint at seq %lld does not verify: its signature is not valid for "
                    "this public key",
                    (long long)e->seq);
        else if (e->seq == seq && at && sodium_memcmp(e->hash, at, 32) != 0)
            problem(v, GH_AUDIT_CHECKPOINT_BAD, e->seq,
                    "checkpoint at seq %lld does not verify: its hash differs from the "
                    "recomputed chain (events up to it were rewritten)",
                    (long long)e->seq);
        else if (e->signed_ok && e->seq == seq)
            v->rep->last_checkpoint_seq = e->seq;
    }
}

static void check_base(struct verify_ctx *v)
{
    if (v->base_done)
        return;
    v->base_done = true;
    check_cps_upto(v, v->base_seq, v->have_anchor ? v->prev : NULL);
}

static gh_err v_row(void *ctx, const struct gh_audit_row *r)
{
    struct verify_ctx *v = ctx;
    char canon[GH_AUDIT_CANONICAL_MAX];
    char hex[GH_AUDIT_HASH_HEX + 1];
    unsigned char h[32];
    size_t len = 0;
    v->rep->events++;
    check_base(v);
    if (failed(v))
        return GH_OK;
    if (r->seq > v->next_seq) {
        problem(v, GH_AUDIT_SEQ_GAP, v->next_seq, "seq gap before %lld: seq %lld%s is missing",
                (long long)r->seq, (long long)v->next_seq,
                r->seq - v->next_seq > 1 ? " and later" : "");
        return GH_OK;
    }
    if (r->seq < v->next_seq) {
        problem(v, GH_AUDIT_SEQ_GAP, r->seq,
                "seq gap before %lld: an event with seq %lld is at or before the anchor",
                (long long)v->next_seq, (long long)r->seq);
        return GH_OK;
    }
    hex_encode(v->prev, hex);
    gh_err rc = r->malformed ? GH_ERR_MALFORMED : gh_audit_canonical(r, canon, &len);
    if (rc == GH_ERR_NOMEM)
        return rc;
    if (rc != GH_OK) {
        problem(v, GH_AUDIT_HASH_MISMATCH, r->seq,
                "hash mismatch at seq %lld: a stored field is malformed (type, length or "
                "encoding)",
                (long long)r->seq);
        return GH_OK;
    }
    gh_audit_chain_hash(v->prev, canon, len, h);
    if (strcmp(r->prev_hash, hex) != 0) {
        problem(v, GH_AUDIT_HASH_MISMATCH, r->seq,
                "hash mismatch at seq %lld: prev_hash is not the hash of the event before it",
                (long long)r->seq);
        return GH_OK;
    }
    hex_encode(h, hex);
    if (strcmp(r->hash, hex) != 0) {
        problem(v, GH_AUDIT_HASH_MISMATCH, r->seq,
                "hash mismatch at seq %lld: the event's contents do not match its hash",
                (long long)r->seq);
        return GH_OK;
    }
    memcpy(v->prev, h, 32);
    v->rep->last_seq = r->seq;
    v->next_seq = r->seq + 1;
    check_cps_upto(v, r->seq, h);
    return GH_OK;
}

/* After the last row: checkpoints beyond it mean the tail was cut off. */
static void check_tail(struct verify_ctx *v)
{
    check_base(v);
    if (failed(v))
        return;
    int64_t last = v->rep->last_seq;
    const struct cp_entry *first_bad = NULL, *last_good = NULL;
    for (size_t i = v->next_cp; i < v->ncps; i++) {
        if (v->cps[i].signed_ok)
            last_good = &v->cps[i];
        else if (!first_bad)
            first_bad = &v->cps[i];
    }
    if (last_good)
        problem(v, GH_AUDIT_TRUNCATED, last + 1,
                "chain truncated: last checkpoint at seq %lld but the last row is %lld",
                (long long)last_good->seq, (long long)last);
    else if (first_bad)
        problem(v, GH_AUDIT_CHECKPOINT_BAD, first_bad->seq,
                "checkpoint at seq %lld does not verify: its signature is not valid for this "
                "public key",
                (long long)first_bad->seq);
}

gh_err gh_audit_verify(struct gh_store *s, const unsigned char pubkey[32],
                       struct gh_audit_report *out)
{
    struct verify_ctx v;
    memset(&v, 0, sizeof v);
    memset(out, 0, sizeof *out);
    v.pk = pubkey;
    v.rep = out;
    v.next_seq = 1;
    struct gh_audit_reader r = {v_anchor, v_checkpoint, v_row, &v};
    gh_err rc = gh_store_audit_read(s, &r);
    if (rc == GH_OK)
        check_tail(&v);
    gh_free(v.cps);
    if (rc == GH_OK && out->problem == GH_AUDIT_OK)
        snprintf(out->message, sizeof out->message, "ok");
    return rc;
}

/* ---- export ---- */

struct export_ctx {
    FILE *f;
    const unsigned char *pk;
    struct gh_audit_mark *cps;
    size_t ncps, cap;
};

static gh_err put_line(FILE *f, json_t *o)
{
    if (!o)
        return GH_ERR_NOMEM;
    int r = json_dumpf(o, f, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    if (r != 0 || fputc('\n', f) == EOF)
        return GH_ERR_IO;
    return GH_OK;
}

static json_t *mark_json(const struct gh_audit_mark *m)
{
    return json_pack("{s:I,s:s,s:s}", "seq", (json_int_t)m->seq, "hash", m->hash, "sig", m->sig);
}

static gh_err x_anchor(void *ctx, const struct gh_audit_mark *an)
{
    struct export_ctx *x = ctx;
    char pk_text[GH_AUDIT_PUBKEY_TEXT + 1];
    gh_audit_pubkey_encode(x->pk, pk_text);
    json_t *a = an ? mark_json(an) : json_null();
    if (!a)
        return GH_ERR_NOMEM;
    return put_line(x->f, json_pack("{s:s,s:o,s:s}", "format", "gatehouse-audit-v1", "anchor", a,
                                    "public_key", pk_text));
}

static gh_err x_checkpoint(void *ctx, const struct gh_audit_mark *cp)
{
    struct export_ctx *x = ctx;
    if (x->ncps == x->cap) {
        if (x->cap >= CHECKPOINTS_MAX)
            return GH_ERR_TOO_LARGE;
        size_t cap = x->cap ? x->cap * 2 : 64;
        struct gh_audit_mark *n = gh_realloc(x->cps, cap * sizeof *n);
        if (!n)
            return GH_ERR_NOMEM;
        x->cps = n;
        x->cap = cap;
    }
    x->cps[x->ncps++] = *cp;
    return GH_OK;
}

static gh_err x_row(void *ctx, const struct gh_audit_row *r)
{
    struct export_ctx *x = ctx;
    return put_line(x->f, json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "seq",
                                    (json_int_t)r->seq, "ts", (json_int_t)r->ts, "action",
                                    r->action, "actor", r->actor, "target", r->target, "outcome",
                                    r->outcome, "request_id", r->request_id, "client", r->client,
                                    "prev_hash", r->prev_hash, "hash", r->hash));
}

gh_err gh_audit_export(struct gh_store *s, const unsigned char pubkey[32], FILE *f)
{
    struct export_ctx x = {f, pubkey, NULL, 0, 0};
    struct gh_audit_reader r = {x_anchor, x_checkpoint, x_row, &x};
    gh_err rc = gh_store_audit_read(s, &r);
    for (size_t i = 0; rc == GH_OK && i < x.ncps; i++) {
        json_t *m = mark_json(&x.cps[i]);
        rc = m ? put_line(f, json_pack("{s:o}", "checkpoint", m)) : GH_ERR_NOMEM;
    }
    gh_free(x.cps);
    if (rc == GH_OK && fflush(f) != 0)
        rc = GH_ERR_IO;
    return rc;
}

/* ---- prune ---- */

static gh_err prune_sign(void *ctx, int64_t seq, const char *hash_hex,
                         char out_sig[GH_AUDIT_SIG_TEXT + 1])
{
    return sign_mark(ctx, seq, hash_hex, out_sig);
}

gh_err gh_audit_prune(struct gh_audit *a, int64_t before_ts, int64_t now, int64_t *out_deleted,
                      struct gh_audit_report *out_report)
{
    int64_t first = 0, tail = 0;
    char tail_hash[GH_AUDIT_HASH_HEX + 1];
    *out_deleted = 0;
    gh_err rc = gh_audit_verify(a->s, a->pk, out_report);
    if (rc != GH_OK)
        return rc;
    if (out_report->problem != GH_AUDIT_OK)
        return GH_ERR_CRYPTO;
    if ((rc = gh_store_audit_first_seq_at_or_after(a->s, before_ts, &first)) != GH_OK)
        return rc;
    if (first == 0) { /* every event is older: the whole chain goes, the anchor is its tail */
        if ((rc = gh_store_audit_tail(a->s, &tail, tail_hash)) != GH_OK)
            return rc;
        first = tail + 1;
    }
    rc = gh_store_audit_prune_before(a->s, first, now, prune_sign, a, out_deleted);
    if (rc == GH_OK && *out_deleted > 0)
        gh_log(GH_LOG_INFO, "audit events pruned", NULL, "audit_pruned",
               json_pack("{s:I,s:I}", "anchor_seq", (json_int_t)(first - 1), "deleted",
                         (json_int_t)*out_deleted));
    return rc;
}

/* ---- operator input ---- */

gh_err gh_audit_pubkey_read(const char *path, unsigned char out[32])
{
    char buf[PUBKEY_FILE_MAX + 1];
    FILE *f = fopen(path, "re");
    if (!f)
        return GH_ERR_IO;
    size_t n = fread(buf, 1, PUBKEY_FILE_MAX + 1, f);
    bool bad = ferror(f) != 0;
    (void)fclose(f); /* opened read-only: a close error loses no data */
    if (bad)
        return GH_ERR_IO;
    if (n > PUBKEY_FILE_MAX)
        return GH_ERR_INVALID;
    buf[n] = '\0';
    char *start = buf;
    while (*start && isspace((unsigned char)*start))
        start++;
    size_t len = strlen(start);
    while (len > 0 && isspace((unsigned char)start[len - 1]))
        len--;
    size_t got = 0;
    if (gh_b64url_decode(start, len, out, 32, &got) != GH_OK || got != 32)
        return GH_ERR_INVALID;
    return GH_OK;
}

gh_err gh_audit_parse_date(const char *text, int64_t *out)
{
    int v[3] = {0, 0, 0};
    static const int widths[3] = {4, 2, 2};
    const char *p = text;
    for (int part = 0; part < 3; part++) {
        for (int i = 0; i < widths[part]; i++, p++) {
            if (!isdigit((unsigned char)*p))
                return GH_ERR_INVALID;
            v[part] = v[part] * 10 + (*p - '0');
        }
        if (part < 2 && *p++ != '-')
            return GH_ERR_INVALID;
    }
    if (*p != '\0' || v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31)
        return GH_ERR_INVALID;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    time_t t = timegm(&tm);
    struct tm back;
    /* timegm normalises 2024-02-31 to March: refuse dates that do not exist. */
    if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != v[2] || back.tm_mon != v[1] - 1)
        return GH_ERR_INVALID;
    *out = (int64_t)t;
    return GH_OK;
}
