/* Owns the application context's lifetime: opened once at start-up (where failure may abort
 * the start), released at shutdown. The ticker thread reloads the keyring when the store's
 * "keys" counter changes (rotate/revoke from the CLI) and every 30 s as key states age. */
#include <sodium.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/app.h"
#include "api/common.h"
#include "auth/keys.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/secbuf.h"
#include "core/banned.h"

static void *ticker_main(void *arg)
{
    struct gh_app *app = arg;
    while (!atomic_load(&app->stopping)) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 250L * 1000 * 1000};
        nanosleep(&ts, NULL);
        int64_t now = gh_now(), counter = 0;
        if (app->audit && gh_audit_tick(app->audit, now) != GH_OK)
            gh_log(GH_LOG_WARN, "audit checkpoint failed; retrying", NULL,
                   "audit_checkpoint_failed", NULL);
        if (gh_store_counter_get(app->store, "keys", &counter) != GH_OK)
            continue;
        if (counter == app->keys_counter && now - app->keys_loaded_at < 30)
            continue;
        char kid[GH_KID_MAX + 1];
        gh_err rc =
            gh_keys_rotate_if_due(app->store, app->keywrap, now, app->cfg->key_rotate_interval,
                                  app->cfg->key_publish_ahead, kid);
        if (rc == GH_OK)
            rc = gh_keys_ensure(app->store, app->keywrap, now);
        if (rc == GH_OK)
            rc = gh_keys_load(app->store, app->keywrap, now, app->cfg->access_token_ttl,
                              app->keyring);
        if (rc != GH_OK) {
            gh_log(GH_LOG_ERROR, "reloading signing keys failed", NULL, "keys_reload_failed",
                   json_pack("{s:s}", "error", gh_err_name(rc)));
            continue;
        }
        if (counter != app->keys_counter && app->cache)
            gh_tokencache_purge(app->cache, NULL);
        app->keys_counter = counter;
        app->keys_loaded_at = now;
    }
    return NULL;
}

gh_err gh_app_start_ticker(struct gh_app *app)
{
    if (pthread_create(&app->ticker, NULL, ticker_main, app) != 0)
        return GH_ERR_INTERNAL;
    app->ticker_started = true;
    return GH_OK;
}

static void register_metrics(struct gh_app *app)
{
    struct gh_metrics *mx = app->metrics;
    struct gh_app_metrics *m = &app->m;
    const char *success[] = {"success"}, *failure[] = {"failure"};
    m->login_success = gh_metrics_counter(mx, "gatehouse_logins_total",
                                          "Password logins by result.", "result", success);
    m->login_failure = gh_metrics_counter(mx, "gatehouse_logins_total",
                                          "Password logins by result.", "result", failure);
    m->lockouts = gh_metrics_counter(mx, "gatehouse_lockouts_total",
                                     "Lockouts started (account or known device).", NULL, NULL);
    m->refresh_reuse =
        gh_metrics_counter(mx, "gatehouse_refresh_reuse_total",
                           "Refresh tokens presented again (family revoked).", NULL, NULL);
    m->registrations =
        gh_metrics_counter(mx, "gatehouse_registrations_total", "Accounts created.", NULL, NULL);
    m->hash_rejected = gh_metrics_counter(mx, "gatehouse_hash_rejected_total",
                                          "Hashing jobs refused: queue full (503).", NULL, NULL);
    const char *r_logout[] = {"logout"}, *r_user[] = {"user_revoked"},
               *r_reuse[] = {"refresh_reuse"};
    const char *rhelp = "Sessions revoked, by reason.";
    m->revoked_logout =
        gh_metrics_counter(mx, "gatehouse_sessions_revoked_total", rhelp, "reason", r_logout);
    m->revoked_user =
        gh_metrics_counter(mx, "gatehouse_sessions_revoked_total", rhelp, "reason", r_user);
    m->revoked_reuse =
        gh_metrics_counter(mx, "gatehouse_sessions_revoked_total", rhelp, "reason", r_reuse);
    m->hash_depth = gh_metrics_gauge(
        mx, "gatehouse_hash_queue_depth",
        "Password-hashing jobs waiting now (for a hashing thread, or hashed and waiting for their "
        "storage writes); the queue refuses at gatehouse_hash_queue_limit.",
        NULL, NULL);
    m->hash_limit =
        gh_metrics_gauge(mx, "gatehouse_hash_queue_limit",
                         "GATEHOUSE_HASH_QUEUE: beyond it hashing refuses.", NULL, NULL);
    gh_gauge_set(m->hash_limit, (double)app->cfg->hash_queue);
    m->hash_yielding = gh_metrics_gauge(
        mx, "gatehouse_hash_threads_yielding",
        "Hashing threads standing aside right now so that token checks keep a CPU "
        "(GATEHOUSE_HASH_YIELD_THREADS).",
        NULL, NULL);
    m->hash_wait = gh_metrics_histogram(
        mx, "gatehouse_hash_wait_seconds", "Time a hashing job waited for a thread.",
        gh_metrics_seconds_buckets, GH_METRICS_SECONDS_NBUCKETS, NULL, NULL);
    static const char *const rule_names[GH_RULE_COUNT] = {"api", "login", "register", "refresh",
                                                          "password"};
    for (int i = 0; i < GH_RULE_COUNT; i++) {
        const char *v[] = {rule_names[i]};
        m->rate_limited[i] = gh_metrics_counter(mx, "gatehouse_rate_limited_total",
                                                "Requests refused with 429, by rule.", "rule", v);
    }
    const char *version[] = {GH_VERSION};
    m->build_info = gh_metrics_gauge(mx, "gatehouse_build_info", "Always 1; the running version.",
                                     "version", version);
    gh_gauge_set(m->build_info, 1);
    m->audit_failures = gh_metrics_counter(
        mx, "gatehouse_audit_append_failures_total",
        "Audit appends the store could not take (the event waits in the retry queue).", NULL,
        NULL);
    m->audit_lost = gh_metrics_counter(mx, "gatehouse_audit_events_lost_total",
                                       "Audit events lost because the retry queue was full.",
                                       NULL, NULL);
    m->audit_pending = gh_metrics_gauge(mx, "gatehouse_audit_pending",
                                        "Audit events waiting in the retry queue.", NULL, NULL);
    if (app->cfg->redis_url) {
        m->redis_up = gh_metrics_gauge(
            mx, "gatehouse_redis_up",
            "1 while Redis answers the shared rate limits; 0 while sign-ins fail closed (503).",
            NULL, NULL);
        gh_gauge_set(m->redis_up, 1);
        m->redis_failures = gh_metrics_counter(
            mx, "gatehouse_redis_failures_total",
            "Rate-limit requests Redis could not answer (unreachable, refused, bad reply).", NULL,
            NULL);
    }
    app->auth.cache_hits = gh_metrics_counter(
        mx, "gatehouse_token_cache_hits_total",
        "Access-token checks answered from the verified-token cache.", NULL, NULL);
    app->auth.cache_misses =
        gh_metrics_counter(mx, "gatehouse_token_cache_misses_total",
                           "Access-token checks that verified the signature.", NULL, NULL);
}

gh_err gh_app_init(struct gh_app *app, const struct gh_config *cfg, const unsigned char *master,
                   const unsigned char *previous)
{
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    int64_t now = gh_now();
    gh_err rc;
    if ((rc = gh_store_open(cfg->database_url, &app->store)) != GH_OK)
        return rc;
    if ((rc = gh_store_migrate(app->store, NULL)) != GH_OK)
        return rc;
    if ((rc = gh_keywrap_new(master, previous, &app->keywrap)) != GH_OK)
        return rc;
    if ((rc = gh_keyring_new(&app->keyring)) != GH_OK)
        return rc;
    if ((rc = gh_store_counter_get(app->store, "keys", &app->keys_counter)) != GH_OK)
        return rc;
    if ((rc = gh_keys_ensure(app->store, app->keywrap, now)) != GH_OK)
        return rc;
    if ((rc = gh_keys_load(app->store, app->keywrap, now, cfg->access_token_ttl, app->keyring)) !=
        GH_OK)
        return rc;
    app->keys_loaded_at = now;
    if (cfg->token_cache_size > 0 &&
        (rc = gh_tokencache_new((size_t)cfg->token_cache_size, &app->cache)) != GH_OK)
        return rc;
    if (cfg->token_cache_size > 0 &&
        (rc = gh_sessioncache_new((size_t)cfg->token_cache_size / 2 + 1, 60, &app->sessions)) !=
            GH_OK)
        return rc;
    app->refresh_key = sodium_malloc(32);
    if (!app->refresh_key)
        return GH_ERR_NOMEM;
    if ((rc = gh_keys_working_key(app->store, app->keywrap, "refresh_token_hash", now,
                                  app->refresh_key)) != GH_OK)
        return rc;

    unsigned char *index_key = sodium_malloc(32);
    if (!index_key)
        return GH_ERR_NOMEM;
    rc = gh_keys_working_key(app->store, app->keywrap, "email_index", now, index_key);
    if (rc == GH_OK)
        rc = gh_pii_new(app->keywrap, index_key, &app->pii);
    sodium_free(index_key);
    if (rc != GH_OK)
        return rc;
    if ((rc = gh_pii_seal_legacy_users(app->store, app->pii)) != GH_OK)
        return rc;
    struct gh_audit_options aopt = {.checkpoint_every = cfg->audit_checkpoint_every,
                                    .checkpoint_interval = cfg->audit_checkpoint_seconds};
    if ((rc = gh_audit_new(app->store, app->keywrap, &aopt, now, &app->audit)) != GH_OK)
        return rc;
    app->device_key = sodium_malloc(32);
    if (!app->device_key)
        return GH_ERR_NOMEM;
    if ((rc = gh_keys_working_key(app->store, app->keywrap, "device_token", now,
                                  app->device_key)) != GH_OK)
        return rc;
    app->csrf_key = sodium_malloc(32);
    if (!app->csrf_key)
        return GH_ERR_NOMEM;
    if ((rc = gh_keys_working_key(app->store, app->keywrap, "csrf_token", now, app->csrf_key)) !=
        GH_OK)
        return rc;
    app->lockout.threshold = cfg->lockout_threshold;
    app->lockout.base_seconds = cfg->lockout_base_seconds;
    app->lockout.max_seconds = cfg->lockout_max_seconds;
    app->lockout.forget_after = 86400;

    gh_password_params_default(&app->pw);
    app->pw.opslimit = (unsigned long long)cfg->argon2_opslimit;
    app->pw.memlimit = (size_t)cfg->argon2_memlimit_kib * 1024u;
    if (cfg->test_insecure_fast_hash) {
        app->pw.opslimit = 1;
        app->pw.memlimit = 8192;
    }
    /* Unknown emails are verified against this hash so that they take a wrong password's time.
     * Built, not computed: start-up spends no argon2id run on it. */
    rc = gh_password_dummy_hash(&app->pw, app->dummy_hash, sizeof app->dummy_hash);
    if (rc != GH_OK)
        return rc;
    if ((rc = gh_hashpool_new((unsigned)cfg->hash_threads, (unsigned)cfg->hash_queue, 10,
                              &app->pool)) != GH_OK)
        return rc;
    /* Token checks note themselves (api/common.c); within a second of one, the yielding hashing
     * threads leave the queue to the others. */
    gh_hashpool_set_yield(app->pool, (unsigned)cfg->hash_yield_threads, 1000);
    /* Passwords in flight: two per job (a password change holds the current and the next) for
     * every job the pool can hold, plus some for requests still being parsed. Beyond that, or
     * if the region cannot be had, a secret gets sodium_malloc memory of its own. */
    size_t slots = 2u * ((size_t)cfg->hash_queue + (size_t)cfg->hash_threads) + 16u;
    if (slots > 4096u)
        slots = 4096u;
    if (gh_secbuf_init(slots, GH_PASSWORD_MAX_BYTES + 1) == GH_OK)
        app->secbuf = true;

    app->auth.store = app->store;
    app->auth.keyring = app->keyring;
    app->auth.cache = app->cache;
    app->auth.sessions = app->sessions;
    app->auth.pii = app->pii;
    app->auth.refresh_key = app->refresh_key;
    app->auth.iss = cfg->issuer;
    app->auth.aud = cfg->audience;
    app->auth.access_ttl = cfg->access_token_ttl;
    app->auth.idle_timeout = cfg->session_idle_timeout;
    app->auth.max_lifetime = cfg->session_max_lifetime;
    static const char *const rule_names[GH_RULE_COUNT] = {"api", "login", "register", "refresh",
                                                          "password"};
    for (int i = 0; i < GH_RULE_COUNT; i++) {
        app->rules[i].name = rule_names[i];
        app->rules[i].rate_per_sec = (double)cfg->rate_per_min[i] / 60.0;
        app->rules[i].burst = (unsigned)cfg->rate_burst[i];
    }
    struct gh_policy_config pc;
    gh_policy_config_default(&pc);
    pc.min_chars = (size_t)cfg->password_min_length;
    pc.min_entropy_bits = cfg->password_min_entropy;
    pc.breached_path = cfg->breached_passwords_path;
    if ((rc = gh_policy_open(&pc, &app->policy)) != GH_OK) {
        gh_log(GH_LOG_ERROR, "cannot use the password policy settings", NULL, "policy_failed",
               json_pack("{s:s,s:s}", "error", gh_err_name(rc), "setting",
                         "GATEHOUSE_BREACHED_PASSWORDS_PATH"));
        return rc;
    }
    if (cfg->redis_url) {
        /* Shared budgets: every instance names a client's Redis key with the same working key. */
        unsigned char *rl_key = sodium_malloc(GH_RATELIMIT_REDIS_KEYBYTES);
        if (!rl_key)
            return GH_ERR_NOMEM;
        rc = gh_keys_working_key(app->store, app->keywrap, "ratelimit_redis", now, rl_key);
        if (rc == GH_OK)
            rc = gh_ratelimit_new_redis(cfg->redis_url, rl_key, (unsigned)cfg->http_threads,
                                        &app->limiter);
        sodium_free(rl_key);
        if (rc == GH_OK && !cfg->ratelimit_api_shared)
            rc = gh_ratelimit_new_memory((size_t)cfg->ratelimit_max_keys, &app->limiter_api);
    } else {
        rc = gh_ratelimit_new_memory((size_t)cfg->ratelimit_max_keys, &app->limiter);
    }
    if (rc != GH_OK)
        return rc;
    if ((rc = gh_cidr_list_parse(cfg->trusted_proxies, &app->trusted_proxies)) != GH_OK)
        return rc;
    if (cfg->metrics_listen[0]) {
        if ((rc = gh_metrics_new(&app->metrics)) != GH_OK)
            return rc;
        register_metrics(app);
    }
    return GH_OK;
}

void gh_app_release(struct gh_app *app)
{
    atomic_store(&app->stopping, true);
    if (app->ticker_started)
        pthread_join(app->ticker, NULL);
    gh_hashpool_free(app->pool);
    if (app->secbuf)
        gh_secbuf_shutdown();
    /* A last signed checkpoint over everything appended, also emitted to the log. */
    if (app->audit && gh_audit_close(app->audit) != GH_OK)
        gh_log(GH_LOG_ERROR, "final audit checkpoint failed", NULL, "audit_checkpoint_failed",
               NULL);
    app->audit = NULL;
    gh_tokencache_free(app->cache);
    gh_sessioncache_free(app->sessions);
    gh_keyring_free(app->keyring);
    gh_keywrap_free(app->keywrap);
    sodium_free(app->refresh_key);
    sodium_free(app->device_key);
    sodium_free(app->csrf_key);
    gh_store_free(app->store);
    gh_metrics_free(app->metrics);
    gh_ratelimit_free(app->limiter);
    gh_ratelimit_free(app->limiter_api);
    gh_policy_free(app->policy);
    gh_pii_free(app->pii);
    gh_cidr_list_free(app->trusted_proxies);
    memset(app, 0, sizeof *app);
}
