/* The application context every handler receives: configuration, storage, keys, the hashing
 * pool and the auth parameters. Built once by gh_app_init after configuration is validated. */
#ifndef GH_API_APP_H
#define GH_API_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "auth/hashpool.h"
#include "auth/jwt.h"
#include "auth/password.h"
#include "auth/policy.h"
#include "auth/ratelimit.h"
#include "http/clientaddr.h"
#include "auth/session.h"
#include "core/config.h"
#include "data/audit.h"
#include "data/keywrap.h"
#include "data/pii.h"
#include "http/http.h"
#include "store/store.h"

/* Rate-limit rules (per client address; IPv6 per /64). Every limited route counts against
 * GH_RULE_API too; GH_RULE_NONE routes (health, JWKS) are not limited. */
enum gh_rule { GH_RULE_NONE = -1, GH_RULE_API = 0, GH_RULE_LOGIN, GH_RULE_REGISTER,
               GH_RULE_REFRESH, GH_RULE_PASSWORD, GH_RULE_COUNT };

/* The application's metrics (docs/metrics.md), registered at start so every series exists at 0
 * from the first scrape. Pointers are NULL-safe: with no registry they do nothing. */
struct gh_app_metrics {
    struct gh_counter *login_success, *login_failure, *lockouts, *refresh_reuse;
    struct gh_counter *registrations, *hash_rejected;
    struct gh_counter *revoked_logout, *revoked_user, *revoked_reuse;
    struct gh_counter *rate_limited[GH_RULE_COUNT];
    struct gh_gauge *hash_depth, *hash_limit, *hash_yielding, *build_info;
    struct gh_gauge *redis_up;          /* NULL without GATEHOUSE_REDIS_URL */
    struct gh_counter *redis_failures;  /* NULL without GATEHOUSE_REDIS_URL */
    _Atomic uint64_t redis_failures_seen;
    struct gh_counter *audit_failures, *audit_lost;
    struct gh_gauge *audit_pending;
    _Atomic uint64_t audit_failures_seen, audit_lost_seen;
    struct gh_histogram *hash_wait;
};

struct gh_app {
    struct gh_metrics *metrics;
    struct gh_app_metrics m;
    const struct gh_config *cfg;
    struct gh_store *store;
    struct gh_keywrap *keywrap;
    struct gh_keyring *keyring;
    struct gh_tokencache *cache;
    struct gh_sessioncache *sessions;
    struct gh_hashpool *pool;
    bool secbuf; /* this app set up core/secbuf.h (and shuts it down) */
    unsigned char *refresh_key; /* sodium_malloc, 32 bytes */
    unsigned char *device_key;  /* sodium_malloc, 32 bytes: MAC of known-device tokens */
    unsigned char *csrf_key;    /* sodium_malloc, 32 bytes: MAC of session-bound CSRF tokens */
    struct gh_lockout_policy lockout;
    struct gh_pii *pii;
    struct gh_audit *audit;
    struct gh_ratelimit *limiter;
    struct gh_ratelimit *limiter_api; /* the general budget when not shared, else NULL */
    struct gh_policy *policy;
    struct gh_rate_rule rules[GH_RULE_COUNT];
    struct gh_cidr_list *trusted_proxies;
    struct gh_auth auth;
    struct gh_password_params pw;
    char dummy_hash[GH_PASSWORD_HASH_MAX + 1];
    int64_t keys_counter;
    int64_t keys_loaded_at;
    pthread_t ticker;
    atomic_bool stopping;
    bool ticker_started;
};

/* Open storage (migrating), unwrap keys, build the keyring, start the hashing pool. master is
 * the 32-byte master key (previous may be NULL). */
GH_MUST_USE gh_err gh_app_init(struct gh_app *app, const struct gh_config *cfg,
                               const unsigned char *master, const unsigned char *previous);
void gh_app_release(struct gh_app *app);

/* Start/stop the background ticker that reloads keys when they change (and as time moves keys
 * between states). */
GH_MUST_USE gh_err gh_app_start_ticker(struct gh_app *app);

/* The route table. */
extern const struct gh_route gh_api_routes[];
extern const size_t gh_api_nroutes;

/* Handlers (one file per resource). */
void gh_api_users_create(struct gh_http_req *req, void *app);
void gh_api_me_get(struct gh_http_req *req, void *app);
void gh_api_me_password(struct gh_http_req *req, void *app);
void gh_api_me_sessions(struct gh_http_req *req, void *app);
void gh_api_me_session_delete(struct gh_http_req *req, void *app);
void gh_api_me_export(struct gh_http_req *req, void *app);
void gh_api_me_delete(struct gh_http_req *req, void *app);
void gh_api_token(struct gh_http_req *req, void *app);
void gh_api_token_refresh(struct gh_http_req *req, void *app);
void gh_api_logout(struct gh_http_req *req, void *app);
void gh_api_jwks(struct gh_http_req *req, void *app);
void gh_api_healthz(struct gh_http_req *req, void *app);
void gh_api_readyz(struct gh_http_req *req, void *app);
void gh_api_metrics(struct gh_http_req *req, void *app);
void gh_api_auth_check(struct gh_http_req *req, void *app);
void gh_api_introspect(struct gh_http_req *req, void *app);
void gh_api_session_create(struct gh_http_req *req, void *app);
void gh_api_session_get(struct gh_http_req *req, void *app);
void gh_api_session_refresh(struct gh_http_req *req, void *app);
void gh_api_session_delete(struct gh_http_req *req, void *app);
/* The admin console (admin.c; every one requires the stored admin role) and RFC 7009
 * revocation (revoke.c). */
void gh_api_admin_users_find(struct gh_http_req *req, void *app);
void gh_api_admin_user_get(struct gh_http_req *req, void *app);
void gh_api_admin_user_unlock(struct gh_http_req *req, void *app);
void gh_api_admin_user_revoke_sessions(struct gh_http_req *req, void *app);
void gh_api_admin_audit(struct gh_http_req *req, void *app);
void gh_api_revoke(struct gh_http_req *req, void *app);

/* The metrics listener's own route table (GET /metrics only). */
extern const struct gh_route gh_api_metrics_routes[];
extern const size_t gh_api_metrics_nroutes;

/* The guard run before every routed handler: rate limits (429 with Retry-After and the
 * RateLimit headers). */
bool gh_api_guard(struct gh_http_req *req, const struct gh_route *route, void *app);

/* Shared helper: authenticate the Bearer token or reply 401. user (may be NULL) receives the
 * caller's profile from the same storage read. */
GH_MUST_USE gh_err gh_api_authenticate_or_reply(struct gh_app *app, struct gh_http_req *req,
                                                struct gh_jwt_claims *claims,
                                                struct gh_session *session, struct gh_user *user);

/* Shared helper (services.c): authenticate a service client with HTTP Basic against
 * GATEHOUSE_INTROSPECTION_CLIENTS or its _PREVIOUS list (constant time, both lists always), or
 * reply 401 invalid_client. client receives the client id. Used by introspect and revoke. */
#define GH_API_CLIENT_ID_MAX 63
bool gh_api_client_auth_or_reply(struct gh_app *app, struct gh_http_req *req,
                                 char client[GH_API_CLIENT_ID_MAX + 1]);

/* Find an account by email through the blind index (admin.c). GH_ERR_INVALID with *out_why
 * (a fixed sentence) when email is not a valid address; GH_ERR_NOT_FOUND; GH_OK fills out
 * (sealed profile, role included). */
GH_MUST_USE gh_err gh_api_user_find_by_email(struct gh_app *app, const char *email,
                                             struct gh_user *out, const char **out_why);
/* `gatehouse users create-admin`: a new account with the admin role, the email validated and
 * the password checked against the registration policy, then hashed and the profile sealed.
 * GH_ERR_INVALID with *out_why (fixed text, never the password); GH_ERR_CONFLICT when the
 * email is taken. */
GH_MUST_USE gh_err gh_api_admin_create(struct gh_app *app, const char *email, const char *pw,
                                       size_t pw_len, char out_id[GH_ID_LEN + 1],
                                       const char **out_why);

#endif
