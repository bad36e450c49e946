/* Tokens: POST /v1/token (JSON, and the RFC 6749 password/refresh_token form), POST
 * /v1/token/refresh, POST /v1/logout, GET /.well-known/jwks.json. Every credential failure is
 * the same answer in the same time: unknown emails are checked against a dummy hash. */
#include <sodium.h>
#include <string.h>

#include "api/common.h"
#include "auth/device.h"
#include "auth/identity.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/banned.h"

/* The one answer to any bad credential (JSON: 401 problem; form: RFC 6749 400). */
static void reply_invalid_grant(struct gh_http_req *req, bool form)
{
    gh_http_reply_problem(req, form ? 400 : 401, "invalid-grant", "Invalid credentials",
                          "The credentials are not valid.",
                          json_pack("{s:s}", "error", "invalid_grant"));
}

static void reply_oauth_error(struct gh_http_req *req, const char *error, const char *detail)
{
    gh_http_reply_problem(req, 400, "invalid-request", "Invalid token request", detail,
                          json_pack("{s:s}", "error", error));
}

struct login_job {
    struct gh_app *app;
    struct gh_http_req *req;
    enum gh_login_mode mode;
    bool email_ok;
    bool https;
    bool cookies_secure;
    char email_key[GH_EMAIL_KEY_MAX + 1];
    char device_token[GH_DEVICE_TOKEN_MAX + 1]; /* as presented, "" when none */
    struct gh_api_secret pw;

    /* What login_check (on a hashing thread) hands to login_finish (on the pool's finisher). */
    int64_t now;
    struct gh_user u;
    bool known;
    bool via_device;
    char subject[8 + GH_ID_LEN + 1];
    char device_id[GH_ID_LEN + 1];
    bool had_budget_row;
    bool locked;
    gh_err verified;
    bool stale; /* the account changed or went while this attempt waited */
    bool rehash;
    char newhash[GH_PASSWORD_HASH_MAX + 1];
};

static void login_job_free(void *p)
{
    struct login_job *j = p;
    gh_api_secret_wipe(&j->pw);
    sodium_memzero(j->email_key, sizeof j->email_key);
    sodium_memzero(j->device_token, sizeof j->device_token);
    sodium_memzero(&j->u, sizeof j->u);
    sodium_memzero(j->newhash, sizeof j->newhash);
    gh_free(j);
}

/* The known-device cookie: __Host- prefixed (Secure, Path=/, no Domain) over HTTPS; plain name
 * over development HTTP, where browsers would drop a Secure cookie. */
#define DEVICE_COOKIE_SECURE "__Host-gh_device"
#define DEVICE_COOKIE_PLAIN "gh_device"

static void set_device_cookie(struct gh_http_req *req, bool https, const char *token)
{
    char cookie[GH_DEVICE_TOKEN_MAX + 160];
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
             https ? DEVICE_COOKIE_SECURE : DEVICE_COOKIE_PLAIN, token, GH_DEVICE_TOKEN_LIFETIME,
             https ? "; Secure" : "");
    gh_http_add_header(req, "Set-Cookie", cookie);
    sodium_memzero(cookie, sizeof cookie); /* it holds the device token */
}

/* On the request thread, before queueing: the reads that pick the account and its failure
 * budget. The hashing thread then only hashes (it runs SCHED_IDLE and must take no lock that a
 * request thread may wait on); login_finish re-reads what it decides on. false: answered. */
static bool login_prepare(struct login_job *j)
{
    struct gh_app *app = j->app;
    struct gh_throttle t;
    j->now = gh_now();
    snprintf(j->subject, sizeof j->subject, "x:unknown");
    gh_err rc = j->email_ok ? gh_store_user_find_by_email_key(app->store, j->email_key, &j->u)
                            : GH_ERR_NOT_FOUND;
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND) {
        gh_http_reply_error(j->req, rc, NULL);
        return false;
    }
    j->known = rc == GH_OK;
    /* Whose failure budget is this? A valid device token for this very account has its own. */
    j->via_device = j->known && j->device_token[0] &&
                    gh_device_check(app->device_key, j->device_token, strlen(j->device_token),
                                    j->u.id, j->now, j->device_id);
    if (j->known)
        snprintf(j->subject, sizeof j->subject, "%s:%s", j->via_device ? "d" : "u",
                 j->via_device ? j->device_id : j->u.id);
    /* Only to spare a locked account the upgrade hash (which would make a right password slower
     * than a wrong one); login_finish decides on its own fresh read. */
    rc = gh_store_throttle_get(app->store, j->subject, &t);
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND) {
        gh_http_reply_error(j->req, rc, NULL);
        return false;
    }
    j->locked = rc == GH_OK && t.locked_until > j->now;
    return true;
}

/* Stage 1, on a hashing thread: the one password verification (and the upgrade hash of an
 * imported one) -- the CPU work, and nothing else: no storage, no reply. */
static void login_check(void *ctx)
{
    struct login_job *j = ctx;
    struct gh_app *app = j->app;
    /* Always one full hash verification (the dummy hash when there is no user, the real one even
     * when locked) and one budget write on failure: every failure looks and lasts the same. */
    j->verified = gh_password_verify(j->known ? j->u.password_hash : app->dummy_hash, j->pw.buf,
                                     j->pw.len);
    /* Upgrade an imported or weaker hash now that we hold the right password. */
    if (j->known && j->verified == GH_OK && !j->locked)
        j->rehash = gh_password_needs_rehash(&app->pw, j->u.password_hash) &&
                    gh_password_hash(&app->pw, j->pw.buf, j->pw.len, j->newhash,
                                     sizeof j->newhash) == GH_OK;
    gh_api_secret_wipe(&j->pw);
}

/* On the finisher, before deciding: the account as it is now (erased meanwhile: an unknown
 * account; its password changed meanwhile: the verified one is no longer its password), and the
 * budget as it is now (a lock set by other attempts while this one waited in the queue counts).
 * Unknown emails read a user id that cannot exist: every attempt does the same storage work. */
static gh_err login_refresh(struct login_job *j)
{
    struct gh_app *app = j->app;
    struct gh_user now_u;
    char none[GH_ID_LEN + 1];
    j->now = gh_now(); /* the decision's time, not the queueing's */
    memset(none, '0', GH_ID_LEN);
    none[GH_ID_LEN] = '\0';
    gh_err rc = gh_store_user_get(app->store, j->known ? j->u.id : none, &now_u);
    if (rc == GH_ERR_NOT_FOUND && j->known) {
        j->known = false;
        j->via_device = false;
        snprintf(j->subject, sizeof j->subject, "x:unknown");
    } else if (rc == GH_OK && j->known && j->verified == GH_OK &&
               strcmp(now_u.password_hash, j->u.password_hash) != 0) {
        j->verified = GH_ERR_AUTH;
        j->stale = true;
    }
    sodium_memzero(&now_u, sizeof now_u);
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND)
        return rc;
    struct gh_throttle t;
    rc = gh_store_throttle_get(app->store, j->subject, &t);
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND)
        return rc;
    j->had_budget_row = rc == GH_OK;
    j->locked = j->had_budget_row && t.locked_until > j->now;
    return GH_OK;
}

/* Stage 2, on the pool's finisher thread: the budget, the session, the events, the answer. */
static void login_finish(void *ctx)
{
    struct login_job *j = ctx;
    struct gh_app *app = j->app;
    struct gh_user *u = &j->u;
    struct gh_token_pair pair;
    const char *reason = "unknown_user";
    int64_t now = j->now;
    gh_err rc;
    memset(&pair, 0, sizeof pair);
    if (j->verified == GH_ERR_NOMEM) { /* no memory for argon2id: nothing was decided */
        gh_http_reply_error(j->req, GH_ERR_BUSY, NULL);
        goto out;
    }
    if ((rc = login_refresh(j)) != GH_OK) {
        gh_http_reply_error(j->req, rc, NULL);
        goto out;
    }
    if (!j->known || j->verified != GH_OK || j->locked) {
        bool locked_now = false;
        struct gh_throttle after;
        rc = gh_store_throttle_fail(app->store, j->subject, j->known ? u->id : NULL, now,
                                    &app->lockout, &after, &locked_now);
        if (rc != GH_OK) {
            gh_http_reply_error(j->req, rc, NULL);
            goto out;
        }
        if (j->known)
            reason = j->locked                       ? "locked"
                     : j->stale                      ? "account_changed"
                     : j->verified == GH_ERR_INVALID ? "unverifiable_hash"
                                                     : "bad_password";
        gh_log_security(GH_LOG_WARN, "login_failed", gh_http_request_id(j->req),
                        j->known ? u->id : NULL, gh_http_client_addr(j->req),
                        json_pack("{s:s,s:b}", "reason", reason, "known_device", j->via_device));
        gh_counter_inc(app->m.login_failure);
        gh_api_audit(app, j->req, "login_failure", NULL, j->known ? u->id : NULL,
                     j->locked ? "denied" : "failure");
        if (locked_now) {
            gh_counter_inc(app->m.lockouts);
            gh_api_audit(app, j->req, "lockout", NULL, u->id, "denied");
        }
        if (locked_now)
            gh_log_security(GH_LOG_WARN, j->via_device ? "device_locked" : "account_locked",
                            gh_http_request_id(j->req), u->id, gh_http_client_addr(j->req),
                            json_pack("{s:I,s:I}", "locked_for_seconds",
                                      (json_int_t)(after.locked_until - now), "lock_level",
                                      (json_int_t)after.lock_level));
        reply_invalid_grant(j->req, j->mode == GH_LOGIN_FORM);
        goto out;
    }
    if (j->had_budget_row && (rc = gh_store_throttle_clear(app->store, j->subject)) != GH_OK) {
        gh_http_reply_error(j->req, rc, NULL);
        goto out;
    }
    rc = gh_session_start(&app->auth, u->id, now, j->rehash ? j->newhash : NULL, &pair);
    sodium_memzero(j->newhash, sizeof j->newhash);
    if (rc != GH_OK) {
        gh_http_reply_error(j->req, rc, NULL);
        goto out;
    }
    char device[GH_DEVICE_TOKEN_MAX + 1];
    gh_device_issue(app->device_key, u->id, j->via_device ? j->device_id : NULL, now, device);
    gh_log(GH_LOG_INFO, "login succeeded", gh_http_request_id(j->req), "login_succeeded",
           json_pack("{s:s,s:s,s:b,s:b}", "user_id", u->id, "session_id", pair.session_id,
                     "rehashed", j->rehash, "known_device", j->via_device));
    gh_counter_inc(app->m.login_success);
    gh_api_audit(app, j->req, "login_success", u->id, u->id, "success");
    set_device_cookie(j->req, j->https, device);
    if (j->mode == GH_LOGIN_COOKIE)
        gh_api_reply_browser_session(app, j->req, j->cookies_secure, u->id, &pair,
                                     gh_api_user_is_admin(u));
    else
        gh_api_reply_tokens(j->req, &pair, device);
    sodium_memzero(device, sizeof device);
out:
    gh_token_pair_release(&pair);
    sodium_memzero(u, sizeof *u);
}

gh_err gh_api_refresh(struct gh_app *app, struct gh_http_req *req, const char *tok, size_t len,
                      struct gh_token_pair *pair, struct gh_session *ss)
{
    enum gh_rotate_result res;
    gh_hashpool_note_priority(app->pool); /* a token check too (api/common.c) */
    gh_err rc = gh_session_refresh(&app->auth, tok, len, gh_now(), pair, &res, ss);
    if (rc != GH_OK && res == GH_ROTATE_REUSED) {
        gh_counter_inc(app->m.refresh_reuse);
        gh_api_audit(app, req, "refresh_reuse", NULL, ss->user_id, "denied");
        gh_counter_inc(app->m.revoked_reuse);
        gh_log_security(GH_LOG_WARN, "refresh_reuse", gh_http_request_id(req), ss->user_id,
                        gh_http_client_addr(req),
                        json_pack("{s:s,s:s}", "session_id", ss->id, "action", "session_revoked"));
    }
    return rc;
}

static void refresh_and_reply(struct gh_app *app, struct gh_http_req *req, json_t *tok, bool form)
{
    struct gh_token_pair pair;
    struct gh_session ss;
    gh_err rc =
        gh_api_refresh(app, req, json_string_value(tok), json_string_length(tok), &pair, &ss);
    if (rc == GH_OK) {
        gh_api_reply_tokens(req, &pair, NULL);
        gh_token_pair_release(&pair);
        return;
    }
    if (rc == GH_ERR_AUTH)
        reply_invalid_grant(req, form);
    else
        gh_http_reply_error(req, rc, NULL);
}

void gh_api_login_start(struct gh_app *app, struct gh_http_req *req, json_t *email, json_t *pw,
                        json_t *device, enum gh_login_mode mode)
{
    struct login_job *j = gh_calloc(1, sizeof *j);
    if (!j) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        return;
    }
    gh_http_set_ctx(req, j, login_job_free);
    j->app = app;
    j->req = req;
    j->mode = mode;
    j->https = gh_http_is_https(req);
    j->cookies_secure = gh_api_cookies_secure(app, req);
    /* The device token: from the body (API clients) or the cookie (browsers). Copied now: the
     * request's headers are not to be read from the hashing thread. */
    const char *dev = device ? json_string_value(device) : NULL;
    if (!dev)
        dev = gh_http_cookie(req, j->https ? DEVICE_COOKIE_SECURE : DEVICE_COOKIE_PLAIN);
    if (dev && strlen(dev) <= GH_DEVICE_TOKEN_MAX)
        memcpy(j->device_token, dev, strlen(dev) + 1);
    char display[GH_EMAIL_MAX + 1];
    const char *why = NULL;
    /* A malformed email cannot belong to an account: same answer, same time as a wrong one. */
    char key[GH_EMAIL_KEY_MAX + 1];
    j->email_ok =
        gh_email_normalize(json_string_value(email), json_string_length(email), display, key, &why);
    /* Accounts are found by the email's blind index, never by the address itself. */
    if (j->email_ok)
        gh_pii_email_index(app->pii, key, j->email_key);
    sodium_memzero(key, sizeof key);
    sodium_memzero(display, sizeof display);
    if (gh_api_secret_copy(pw, &j->pw) != GH_OK) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        return;
    }
    /* No reads for an attempt the full queue would refuse anyway. */
    if (!gh_api_pool_room_or_reply(app, req) || !login_prepare(j))
        return;
    gh_api_run_in_pool_then(app, req, login_check, login_finish, j);
}

void gh_api_token(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    static const struct gh_field json_schema[] = {
        {"email", GH_FIELD_STRING, true, GH_EMAIL_INPUT_MAX},
        {"password", GH_FIELD_STRING, true, GH_PASSWORD_MAX_BYTES},
        {"device_token", GH_FIELD_STRING, false, GH_DEVICE_TOKEN_MAX},
    };
    static const struct gh_field form_schema[] = {
        {"grant_type", GH_FIELD_STRING, true, 64},
        {"username", GH_FIELD_STRING, false, GH_EMAIL_INPUT_MAX},
        {"password", GH_FIELD_STRING, false, GH_PASSWORD_MAX_BYTES},
        {"refresh_token", GH_FIELD_STRING, false, 512},
        {"device_token", GH_FIELD_STRING, false, GH_DEVICE_TOKEN_MAX},
    };
    bool form = gh_http_body_is_form(req);
    json_t *body = NULL;
    if (gh_http_body_or_reply(req, form ? form_schema : json_schema, form ? 5 : 3, &body) != GH_OK)
        return;
    if (!form) {
        gh_api_login_start(app, req, json_object_get(body, "email"),
                           json_object_get(body, "password"), json_object_get(body, "device_token"),
                           GH_LOGIN_JSON);
        goto out;
    }
    const char *grant = json_string_value(json_object_get(body, "grant_type"));
    if (strcmp(grant, "password") == 0) {
        json_t *user = json_object_get(body, "username");
        json_t *pw = json_object_get(body, "password");
        if (!user || !pw) {
            reply_oauth_error(req, "invalid_request", "username and password are required.");
            goto out;
        }
        gh_api_login_start(app, req, user, pw, json_object_get(body, "device_token"),
                           GH_LOGIN_FORM);
    } else if (strcmp(grant, "refresh_token") == 0) {
        json_t *tok = json_object_get(body, "refresh_token");
        if (!tok) {
            reply_oauth_error(req, "invalid_request", "refresh_token is required.");
            goto out;
        }
        refresh_and_reply(app, req, tok, true);
    } else {
        reply_oauth_error(req, "unsupported_grant_type",
                          "grant_type must be password or refresh_token.");
    }
out:
    gh_api_body_free(body);
}

void gh_api_token_refresh(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    static const struct gh_field schema[] = {
        {"refresh_token", GH_FIELD_STRING, true, 512},
    };
    json_t *body = NULL;
    if (gh_http_body_or_reply(req, schema, 1, &body) != GH_OK)
        return;
    refresh_and_reply(app, req, json_object_get(body, "refresh_token"), false);
    gh_api_body_free(body);
}

/* The record of a sign-out: metric, audit event, security log. */
static void note_logout(struct gh_app *app, struct gh_http_req *req,
                               const struct gh_session *ss)
{
    gh_counter_inc(app->m.revoked_logout);
    gh_api_audit(app, req, "logout", ss->user_id, ss->user_id, "success");
    gh_log_security(GH_LOG_INFO, "session_revoked", gh_http_request_id(req), ss->user_id,
                    gh_http_client_addr(req),
                    json_pack("{s:s,s:s}", "session_id", ss->id, "reason", "logout"));
}

gh_err gh_api_end_session(struct gh_app *app, struct gh_http_req *req,
                          const struct gh_session *ss, const char *user_id)
{
    gh_err rc = gh_store_session_revoke(app->store, ss->id, user_id, "logout", gh_now());
    if (rc != GH_OK)
        return rc;
    note_logout(app, req, ss);
    return GH_OK;
}

void gh_api_logout(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    static const struct gh_field schema[] = {
        {"refresh_token", GH_FIELD_STRING, true, 512},
    };
    struct gh_session ss;
    int64_t now = gh_now();
    size_t blen = 0;
    gh_err rc;
    bool cookie = false;
    if (gh_http_bearer(req, &blen) ||
        (!gh_http_has_body(req) && gh_api_session_cookie(app, req))) {
        /* Bearer, or the browser's session cookie (then CSRF-checked: this is a POST). */
        struct gh_jwt_claims claims;
        if (gh_api_authenticate_or_reply(app, req, &claims, &ss, NULL) != GH_OK)
            return;
        cookie = !gh_http_bearer(req, &blen);
        rc = gh_store_session_revoke(app->store, ss.id, claims.sub, "logout", now);
    } else if (!gh_http_has_body(req)) {
        gh_http_add_header(req, "WWW-Authenticate", "Bearer");
        gh_http_reply_problem(req, 401, "unauthenticated", "Not authenticated",
                              "Send the access token (Authorization: Bearer) or "
                              "{\"refresh_token\"} of the session to end.",
                              NULL);
        return;
    } else {
        json_t *body = NULL;
        if (gh_http_body_or_reply(req, schema, 1, &body) != GH_OK)
            return;
        json_t *tok = json_object_get(body, "refresh_token");
        rc = gh_session_revoke_by_refresh(&app->auth, json_string_value(tok),
                                          json_string_length(tok), now, &ss);
        gh_api_body_free(body);
    }
    if (rc == GH_ERR_AUTH || rc == GH_ERR_NOT_FOUND) {
        reply_invalid_grant(req, false);
        return;
    }
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    note_logout(app, req, &ss);
    if (cookie)
        gh_api_clear_session_cookies(app, req);
    gh_http_reply_json(req, 204, NULL);
}

void gh_api_jwks(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    json_t *jwks = NULL;
    gh_err rc = gh_keyring_jwks(app->keyring, &jwks);
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    gh_http_reply_json(req, 200, jwks);
}
