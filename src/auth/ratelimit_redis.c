/* Owns the Redis rate-limit backend: a bounded pool of hiredis connections (lazy, 200 ms timeouts,
 * reconnection with backoff) and the GCRA Lua script. Trust boundary: attacker-chosen keys reach
 * Redis only as a keyed hash; replies are checked before use; the password is never logged. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <nettle/sha1.h>
#include <sodium.h>

#include "auth/ratelimit.h"
#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/banned.h"

#define RR_TIMEOUT_MS 200      /* connect and each command */
#define RR_BACKOFF_MIN_MS 100  /* first reconnection delay after a failed connect */
#define RR_BACKOFF_MAX_MS 2000 /* ... doubling up to this */
#define RR_POOL_MAX 256
#define RR_PREFIX "gatehouse:rl:"
#define RR_HASH_BYTES 16
#define RR_MAX_AHEAD_US ((long long)2000000000000000) /* twice the front's largest window */
/* prefix, rule name, ':', hex hash */
#define RR_KEY_MAX (sizeof RR_PREFIX + GH_RATELIMIT_NAME_MAX + 1 + 2 * (size_t)RR_HASH_BYTES)

/* GCRA on Redis's clock (the one clock every instance shares). KEYS[1] holds the theoretical
 * arrival time in microseconds; ARGV[1] is the emission interval T (µs), ARGV[2] the burst.
 * Returns {allowed, TAT - now}: the new TAT when allowed, the unchanged one when refused (a
 * refusal writes nothing). The key expires when TAT passes: an absent key is a full budget.
 * Integers are written with %.0f (exact below 2^53 µs, ~285 years). Redis < 5 needs
 * replicate_commands() before a write that follows TIME; later versions replicate effects. */
static const char gcra_script[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local T = tonumber(ARGV[1])\n"
    "local window = T * tonumber(ARGV[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
    "if tat < now then tat = now end\n"
    "local new_tat = tat + T\n"
    "if now < new_tat - window then return {0, tat - now} end\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',\n"
    "           string.format('%.0f', math.floor((new_tat - now) / 1000) + 1))\n"
    "return {1, new_tat - now}\n";

enum rr_fail {
    RR_OK,
    RR_NOMEM,
    RR_IO,      /* cannot connect, timed out, connection lost: the connection is dropped */
    RR_REFUSED, /* credentials, ACL permission or database number refused: a configuration error */
    RR_REPLY,   /* any other error reply or an unexpected reply; the connection stays */
};

struct rr_conn {
    redisContext *ctx; /* NULL: not connected */
    unsigned gen;      /* st->gen when it connected */
    bool busy;
};

struct rr_state {
    struct gh_redis_target *target; /* sodium_malloc, read-only after creation */
    unsigned char *hkey;            /* sodium_malloc, read-only after creation */
    char sha[2 * SHA1_DIGEST_SIZE + 1];
    pthread_mutex_t mu; /* guards the pool, gen, retry_at_ms and backoff_ms */
    pthread_cond_t cv;
    bool mu_ok, cv_ok;
    unsigned nconns;
    struct rr_conn *conns;
    /* Bumped when a connection breaks: Redis probably restarted, so every connection made
     * before is suspect and is replaced (not reused) at its next use. */
    unsigned gen;
    int64_t retry_at_ms; /* no connection attempt before this (monotonic) */
    int64_t backoff_ms;
    atomic_bool down; /* one log line per outage and one per recovery (no lock: hot path) */
    atomic_uint_fast64_t failures; /* requests Redis could not answer (metrics) */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a <= 0 ? 0 : a / b + (a % b != 0);
}

/* The emission interval in µs: the same rounding as ratelimit.c (the front has validated the
 * rule, so this is within range). */
static int64_t interval_us(const struct gh_rate_rule *rule)
{
    double x = 1e6 / rule->rate_per_sec, r = nearbyint(x);
    int64_t t = (int64_t)(fabs(x - r) < 1e-3 ? r : ceil(x));
    return t < 1 ? 1 : t;
}

static const char *fail_name(enum rr_fail f)
{
    switch (f) {
    case RR_OK:
        return "ok";
    case RR_NOMEM:
        return "out_of_memory";
    case RR_IO:
        return "unreachable";
    case RR_REFUSED:
        return "refused";
    case RR_REPLY:
        return "error_reply";
    }
    return "unknown";
}

/* Log the first failure of an outage and the first success after one. */
static void note_state(struct rr_state *st, enum rr_fail f)
{
    bool was_down = atomic_exchange(&st->down, f != RR_OK);
    if (f != RR_OK)
        atomic_fetch_add_explicit(&st->failures, 1, memory_order_relaxed);
    if (f != RR_OK && !was_down)
        gh_log(GH_LOG_WARN, "redis unavailable: sign-in rate limits fail closed", NULL,
               "ratelimit_redis_unavailable", json_pack("{s:s}", "reason", fail_name(f)));
    else if (f == RR_OK && was_down)
        gh_log(GH_LOG_INFO, "redis reachable again: rate limits restored", NULL,
               "ratelimit_redis_recovered", NULL);
}

/* An error reply: a refusal of who we are (a configuration problem) or anything else. */
static enum rr_fail classify_error(const redisReply *r)
{
    static const char *const refused[] = {
        "NOAUTH", "WRONGPASS", "NOPERM", "ERR AUTH", "ERR invalid password", "ERR DB index", NULL};
    for (size_t i = 0; refused[i]; i++)
        if (r->str && strncmp(r->str, refused[i], strlen(refused[i])) == 0)
            return RR_REFUSED;
    return RR_REPLY;
}

/* One command; *out is the reply (caller frees) when RR_OK. */
static enum rr_fail command(redisContext *c, int argc, const char **argv, const size_t *lens,
                            redisReply **out)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    *out = NULL;
    if (!r)
        return c->err == REDIS_ERR_OOM ? RR_NOMEM : RR_IO;
    if (r->type == REDIS_REPLY_ERROR) {
        enum rr_fail f = classify_error(r);
        freeReplyObject(r);
        return f;
    }
    *out = r;
    return RR_OK;
}

/* Connect, authenticate and select the database. */
static enum rr_fail dial(const struct rr_state *st, redisContext **out)
{
    const struct gh_redis_target *t = st->target;
    struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)RR_TIMEOUT_MS * 1000};
    redisContext *c;
    redisReply *r = NULL;
    enum rr_fail f = RR_OK;

    *out = NULL;
    c = t->path[0] ? redisConnectUnixWithTimeout(t->path, tv)
                   : redisConnectWithTimeout(t->host, t->port, tv);
    if (!c)
        return RR_NOMEM;
    if (c->err || redisSetTimeout(c, tv) != REDIS_OK ||
        (!t->path[0] && redisEnableKeepAlive(c) != REDIS_OK)) {
        f = RR_IO;
        goto out;
    }
    if (t->password[0]) {
        const char *argv[3] = {"AUTH", t->user, t->password};
        size_t lens[3] = {4, strlen(t->user), strlen(t->password)};
        /* Without a user name: the one-argument AUTH of the default user. */
        if (!t->user[0]) {
            argv[1] = t->password;
            lens[1] = lens[2];
        }
        f = command(c, t->user[0] ? 3 : 2, argv, lens, &r);
        freeReplyObject(r);
        if (f != RR_OK)
            goto out;
    }
    if (t->db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%u", t->db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        f = command(c, 2, argv, lens, &r);
        freeReplyObject(r);
        if (f == RR_REPLY)
            f = RR_REFUSED; /* a database number the server does not have */
    }
out:
    if (f != RR_OK)
        redisFree(c);
    else
        *out = c;
    return f;
}

/* Run the script (EVALSHA, EVAL when Redis does not have it cached yet). */
static enum rr_fail run_gcra(const struct rr_state *st, redisContext *c, const char *key,
                             int64_t t_us, unsigned burst, long long *allowed, long long *rel_us)
{
    char targ[24], barg[16];
    redisReply *r = NULL;
    enum rr_fail f;

    snprintf(targ, sizeof targ, "%lld", (long long)t_us);
    snprintf(barg, sizeof barg, "%u", burst);
    const char *argv[6] = {"EVALSHA", st->sha, "1", key, targ, barg};
    size_t lens[6] = {7, strlen(st->sha), 1, strlen(key), strlen(targ), strlen(barg)};
    r = redisCommandArgv(c, 6, argv, lens);
    if (r && r->type == REDIS_REPLY_ERROR && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = gcra_script;
        lens[1] = sizeof gcra_script - 1;
        r = redisCommandArgv(c, 6, argv, lens);
    }
    if (!r)
        return c->err == REDIS_ERR_OOM ? RR_NOMEM : RR_IO;
    if (r->type == REDIS_REPLY_ERROR) {
        f = classify_error(r);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
               r->element[0]->type != REDIS_REPLY_INTEGER ||
               r->element[1]->type != REDIS_REPLY_INTEGER) {
        f = RR_REPLY;
    } else {
        *allowed = r->element[0]->integer;
        *rel_us = r->element[1]->integer;
        f = RR_OK;
    }
    freeReplyObject(r);
    return f;
}

/* A pool slot, preferring a connected one; waits up to RR_TIMEOUT_MS for one to be free. A
 * connection from before the last breakage is closed here and comes back unconnected. */
static struct rr_conn *conn_acquire(struct rr_state *st)
{
    struct timespec deadline;
    struct rr_conn *pick = NULL;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += RR_TIMEOUT_MS * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&st->mu);
    for (;;) {
        for (unsigned i = 0; i < st->nconns && !pick; i++)
            if (!st->conns[i].busy && st->conns[i].ctx)
                pick = &st->conns[i];
        for (unsigned i = 0; i < st->nconns && !pick; i++)
            if (!st->conns[i].busy)
                pick = &st->conns[i];
        if (pick)
            break;
        if (pthread_cond_timedwait(&st->cv, &st->mu, &deadline) == ETIMEDOUT)
            break;
    }
    if (pick) {
        pick->busy = true;
        if (pick->ctx && pick->gen != st->gen) {
            redisFree(pick->ctx);
            pick->ctx = NULL;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return pick;
}

/* Give the slot back; broken: close its connection and mark every older one suspect. */
static void conn_release(struct rr_state *st, struct rr_conn *c, bool broken)
{
    pthread_mutex_lock(&st->mu);
    if (broken && c->ctx) {
        redisFree(c->ctx);
        c->ctx = NULL;
        st->gen++;
    }
    c->busy = false;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

/* Connect the slot, unless a recent attempt failed (then fail at once: while Redis is down a
 * request costs no connection attempt, only the one that finds the backoff over does). */
static enum rr_fail conn_open(struct rr_state *st, struct rr_conn *c)
{
    redisContext *ctx = NULL;
    enum rr_fail f;
    int64_t now = mono_ms();

    pthread_mutex_lock(&st->mu);
    if (now < st->retry_at_ms) {
        pthread_mutex_unlock(&st->mu);
        return RR_IO;
    }
    /* After a failure, one probe at a time: the others fail fast while it runs. With no failure
     * known (start-up, a pool growing under a burst) every slot dials its own connection: a
     * slow first connect must not look like an outage to the requests beside it. */
    if (st->retry_at_ms > 0)
        st->retry_at_ms = now + st->backoff_ms;
    pthread_mutex_unlock(&st->mu);
    f = dial(st, &ctx);
    pthread_mutex_lock(&st->mu);
    if (f == RR_OK) {
        c->ctx = ctx;
        c->gen = st->gen;
        st->retry_at_ms = 0;
        st->backoff_ms = RR_BACKOFF_MIN_MS;
    } else {
        st->retry_at_ms = mono_ms() + st->backoff_ms;
        st->backoff_ms =
            st->backoff_ms * 2 > RR_BACKOFF_MAX_MS ? RR_BACKOFF_MAX_MS : st->backoff_ms * 2;
    }
    pthread_mutex_unlock(&st->mu);
    return f;
}

/* "gatehouse:rl:<rule>:<hex of keyed BLAKE2b(rule NUL key)>" */
static void redis_key(const struct rr_state *st, const char *name, const char *key, size_t key_len,
                      char out[RR_KEY_MAX])
{
    unsigned char h[RR_HASH_BYTES];
    char hex[2 * RR_HASH_BYTES + 1];
    crypto_generichash_state gs;

    crypto_generichash_init(&gs, st->hkey, GH_RATELIMIT_REDIS_KEYBYTES, sizeof h);
    crypto_generichash_update(&gs, (const unsigned char *)name, strlen(name) + 1);
    crypto_generichash_update(&gs, (const unsigned char *)key, key_len);
    crypto_generichash_final(&gs, h, sizeof h);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(out, RR_KEY_MAX, "%s%s:%s", RR_PREFIX, name, hex);
}

/* One request through the pool. A connection that breaks after earlier use (Redis restarted,
 * or closed it while idle) is replaced and the request tried once more on a fresh one. */
static enum rr_fail pool_gcra(struct rr_state *st, const char *rkey, int64_t t_us, unsigned burst,
                              long long *allowed, long long *rel_us)
{
    enum rr_fail f = RR_IO;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct rr_conn *c = conn_acquire(st);
        bool fresh = false;
        if (!c)
            return RR_IO; /* every connection busy for RR_TIMEOUT_MS */
        if (!c->ctx) {
            f = conn_open(st, c);
            if (f != RR_OK) {
                conn_release(st, c, false);
                return f;
            }
            fresh = true;
        }
        f = run_gcra(st, c->ctx, rkey, t_us, burst, allowed, rel_us);
        conn_release(st, c, f == RR_IO || f == RR_NOMEM);
        if (f != RR_IO || fresh)
            return f;
    }
    return f;
}

static gh_err redis_check(void *state, const struct gh_rate_rule *rule, const char *key,
                          size_t key_len, int64_t now_ms, struct gh_rate_decision *out)
{
    struct rr_state *st = state;
    const int64_t t_us = interval_us(rule);
    const int64_t window_us = t_us * (int64_t)rule->burst;
    char rkey[RR_KEY_MAX];
    long long allowed = 0, rel = 0;
    enum rr_fail f;

    (void)now_ms; /* Redis's clock decides: it is the same for every instance */
    memset(out, 0, sizeof *out);
    redis_key(st, rule->name, key, key_len, rkey);
    f = pool_gcra(st, rkey, t_us, rule->burst, &allowed, &rel);
    /* A reply outside what the script can return is not believed. A refusal may lie further
     * ahead than this rule's window: an instance with a larger burst wrote it (a rolling
     * configuration change); that is a longer wait, not an error. */
    if (f == RR_OK && (allowed != 0 && allowed != 1))
        f = RR_REPLY;
    if (f == RR_OK && (rel < 0 || rel > RR_MAX_AHEAD_US || (allowed == 1 && rel > window_us)))
        f = RR_REPLY;
    note_state(st, f);
    if (f != RR_OK)
        return f == RR_NOMEM ? GH_ERR_NOMEM : GH_ERR_BUSY;
    out->allowed = allowed == 1;
    out->reset_ms = ceil_div(rel, 1000);
    if (!out->allowed) {
        out->remaining = 0;
        out->retry_after_ms = ceil_div(rel + t_us - window_us, 1000);
        if (out->retry_after_ms < 1)
            out->retry_after_ms = 1;
    } else {
        out->remaining = (unsigned)((window_us - rel) / t_us);
        out->retry_after_ms = out->remaining == 0 ? ceil_div(rel + t_us - window_us, 1000) : 0;
    }
    return GH_OK;
}

static void redis_free(void *state)
{
    struct rr_state *st = state;

    if (!st)
        return;
    for (unsigned i = 0; st->conns && i < st->nconns; i++)
        if (st->conns[i].ctx)
            redisFree(st->conns[i].ctx);
    if (st->cv_ok)
        pthread_cond_destroy(&st->cv);
    if (st->mu_ok)
        pthread_mutex_destroy(&st->mu);
    sodium_free(st->target);
    sodium_free(st->hkey);
    gh_free(st->conns);
    gh_free(st);
}

static void redis_health(const void *state, struct gh_ratelimit_health *out)
{
    const struct rr_state *st = state;
    out->external = true;
    out->up = !atomic_load(&st->down);
    out->failures = (uint64_t)atomic_load_explicit(&st->failures, memory_order_relaxed);
}

static const struct gh_ratelimit_ops redis_ops = {
    .check = redis_check,
    .free = redis_free,
    .memory_bytes = NULL,
    .health = redis_health,
};

/* The first connection and one run of the script (on a probe key that expires at once), so a
 * wrong password or a missing ACL permission stops start-up instead of every sign-in. Runs
 * before serve ignores SIGPIPE: a peer that hangs up mid-write must not end the process. */
static enum rr_fail warm_up(struct rr_state *st)
{
    sigset_t pipe_set, old;
    struct timespec zero = {0, 0};
    long long allowed, rel;
    enum rr_fail f;
    char probe[RR_KEY_MAX];

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    snprintf(probe, sizeof probe, "%sprobe", RR_PREFIX);
    f = pool_gcra(st, probe, 1, 1, &allowed, &rel);
    while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
        ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return f;
}

gh_err gh_ratelimit_new_redis(const char *url,
                              const unsigned char hash_key[GH_RATELIMIT_REDIS_KEYBYTES],
                              unsigned pool_size, struct gh_ratelimit **out)
{
    gh_err rc = GH_OK;
    struct rr_state *st = NULL;
    char err[GH_CONFIG_ERR_MAX];
    unsigned char digest[SHA1_DIGEST_SIZE];
    struct sha1_ctx sha;
    pthread_condattr_t ca;
    enum rr_fail f;

    *out = NULL;
    if (!url || !hash_key || pool_size == 0 || pool_size > RR_POOL_MAX)
        return GH_ERR_INVALID;
    st = gh_calloc(1, sizeof *st);
    if (!st)
        return GH_ERR_NOMEM;
    st->target = sodium_malloc(sizeof *st->target);
    st->hkey = sodium_malloc(GH_RATELIMIT_REDIS_KEYBYTES);
    st->conns = gh_calloc(pool_size, sizeof st->conns[0]);
    if (!st->target || !st->hkey || !st->conns) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    st->nconns = pool_size;
    st->backoff_ms = RR_BACKOFF_MIN_MS;
    if (gh_config_redis_url_parse(url, st->target, err) != GH_OK) {
        gh_log(GH_LOG_ERROR, err, NULL, "config_invalid", NULL); /* names no value */
        rc = GH_ERR_CONFIG;
        goto out;
    }
    sodium_mprotect_readonly(st->target);
    memcpy(st->hkey, hash_key, GH_RATELIMIT_REDIS_KEYBYTES);
    sodium_mprotect_readonly(st->hkey);
    sha1_init(&sha);
    sha1_update(&sha, sizeof gcra_script - 1, (const uint8_t *)gcra_script);
    sha1_digest(&sha, sizeof digest, digest);
    sodium_bin2hex(st->sha, sizeof st->sha, digest, sizeof digest);
    if (pthread_mutex_init(&st->mu, NULL) != 0) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    st->mu_ok = true;
    if (pthread_condattr_init(&ca) != 0) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    int cerr = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (cerr == 0)
        cerr = pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (cerr != 0) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    st->cv_ok = true;

    f = warm_up(st);
    if (f == RR_REFUSED) {
        gh_log(GH_LOG_ERROR,
               "redis refused gatehouse: check the user, password and database number in "
               "GATEHOUSE_REDIS_URL and the user's ACL (docs/deployment.md)",
               NULL, "ratelimit_redis_refused", NULL);
        rc = GH_ERR_CONFIG;
        goto out;
    }
    if (f == RR_NOMEM) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    note_state(st, f);
    if (f == RR_OK)
        gh_log(GH_LOG_INFO, "rate limits shared through redis", NULL, "ratelimit_redis_connected",
               json_pack("{s:s,s:b,s:i}", "transport", st->target->path[0] ? "unix" : "tcp", "auth",
                         st->target->password[0] != '\0', "pool", (int)pool_size));
    rc = gh_ratelimit_new_backend(&redis_ops, st, out);
    st = NULL; /* owned by the limiter, or freed by gh_ratelimit_new_backend */
out:
    redis_free(st);
    return rc;
}
