/* The admin console API (under /v1/admin/): look up an account by email or id, unlock it, revoke
 * its sessions, read the audit trail; and the account creation behind `gatehouse users
 * create-admin`. Trust boundary: the caller authenticates like any other (Bearer or session
 * cookie), then the role is read from storage on every request, never from the token, so a
 * demotion takes effect at once. Every admin action is audited (actor = admin, target = user);
 * a non-admin's attempt is audited as "denied". Personal data leaves only in response bodies. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/common.h"
#include "auth/identity.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/store_audit.h"
#include "core/banned.h"

#define AUDIT_PAGE_DEFAULT 50
#define AUDIT_PAGE_MAX 200

/* Authenticate, then require the admin role as stored now. false after replying: 401 from the
 * authentication, 403 for anyone else (audited under action as "denied"). actor receives the
 * admin's id. */
static bool admin_or_reply(struct gh_app *app, struct gh_http_req *req, const char *action,
                           char actor[GH_ID_LEN + 1])
{
    struct gh_jwt_claims claims;
    struct gh_session ss;
    struct gh_user me;
    if (gh_api_authenticate_or_reply(app, req, &claims, &ss, NULL) != GH_OK)
        return false;
    gh_err rc = gh_store_user_get(app->store, claims.sub, &me);
    bool admin = rc == GH_OK && me.admin;
    sodium_memzero(&me, sizeof me);
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND) {
        gh_http_reply_error(req, rc, NULL);
        return false;
    }
    if (!admin) {
        const char *target = gh_http_path_param(req);
        gh_api_audit(app, req, action, claims.sub, gh_id_is_valid(target) ? target : NULL,
                     "denied");
        gh_log_security(GH_LOG_WARN, "admin_denied", gh_http_request_id(req), claims.sub,
                        gh_http_client_addr(req), json_pack("{s:s}", "action", action));
        gh_http_reply_problem(req, 403, "forbidden", "Forbidden", "This needs the admin role.",
                              NULL);
        return false;
    }
    memcpy(actor, claims.sub, GH_ID_LEN);
    actor[GH_ID_LEN] = '\0';
    return true;
}

static void reply_no_such_user(struct gh_http_req *req)
{
    gh_http_reply_problem(req, 404, "not-found", "Not found", "No such user.", NULL);
}

/* The {id} of the path when it is a user id, else NULL (answered like an unknown user). */
static const char *target_id(struct gh_http_req *req)
{
    const char *id = gh_http_path_param(req);
    return gh_id_is_valid(id) ? id : NULL;
}

/* The admin's view of an account: opens the sealed profile (wiped again before returning). */
static gh_err user_json(struct gh_app *app, struct gh_user *u, json_t **out)
{
    char subject[3 + GH_ID_LEN + 1];
    struct gh_throttle t;
    gh_err rc = gh_pii_open_user(app->pii, u);
    if (rc != GH_OK)
        return rc;
    snprintf(subject, sizeof subject, "u:%s", u->id);
    rc = gh_store_throttle_get(app->store, subject, &t);
    if (rc == GH_OK || rc == GH_ERR_NOT_FOUND) {
        bool locked = rc == GH_OK && t.locked_until > gh_now();
        *out = json_pack(
            "{s:s,s:s,s:o,s:o,s:o,s:b,s:b}", "id", u->id, "email", u->email, "display_name",
            u->has_display_name ? json_string(u->display_name) : json_null(), "created_at",
            gh_api_time(u->created_at), "last_login_at", gh_api_time(u->last_login_at), "admin",
            (int)u->admin, "locked", (int)locked);
        rc = *out ? GH_OK : GH_ERR_NOMEM;
    }
    sodium_memzero(u->email, sizeof u->email);
    sodium_memzero(u->display_name, sizeof u->display_name);
    return rc;
}

gh_err gh_api_user_find_by_email(struct gh_app *app, const char *email, struct gh_user *out,
                                 const char **out_why)
{
    char display[GH_EMAIL_MAX + 1], key[GH_EMAIL_KEY_MAX + 1], index[GH_PII_INDEX_HEX + 1];
    size_t len = strlen(email);
    if (len > GH_EMAIL_INPUT_MAX) {
        *out_why = "must be at most 254 characters";
        return GH_ERR_INVALID;
    }
    if (!gh_email_normalize(email, len, display, key, out_why))
        return GH_ERR_INVALID;
    /* Accounts are found by the blind index of the address, never by the address itself. */
    gh_pii_email_index(app->pii, key, index);
    sodium_memzero(display, sizeof display);
    sodium_memzero(key, sizeof key);
    return gh_store_user_find_by_email_key(app->store, index, out);
}

/* GET /v1/admin/users?email=E → {"users": [0 or 1 account]} */
void gh_api_admin_users_find(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    char actor[GH_ID_LEN + 1];
    struct gh_user u;
    json_t *one = NULL;
    const char *why = NULL;
    if (!admin_or_reply(app, req, "admin_lookup", actor))
        return;
    const char *email = gh_http_query(req, "email");
    if (!email || !*email) {
        gh_http_reply_invalid(req, "email", "is required (?email=...)");
        return;
    }
    gh_err rc = gh_api_user_find_by_email(app, email, &u, &why);
    if (rc == GH_ERR_INVALID) {
        gh_http_reply_invalid(req, "email", why);
        return;
    }
    if (rc == GH_OK)
        rc = user_json(app, &u, &one);
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND) {
        sodium_memzero(&u, sizeof u);
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    json_t *users = json_array();
    if (one)
        json_array_append_new(users, one);
    gh_api_audit(app, req, "admin_lookup", actor, one ? u.id : NULL, one ? "success" : "failure");
    sodium_memzero(&u, sizeof u);
    json_t *body = json_pack("{s:o}", "users", users);
    if (!body) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        return;
    }
    gh_http_reply_json(req, 200, body);
}

/* GET /v1/admin/users/{id} */
void gh_api_admin_user_get(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    char actor[GH_ID_LEN + 1];
    struct gh_user u;
    json_t *o = NULL;
    if (!admin_or_reply(app, req, "admin_lookup", actor))
        return;
    const char *id = target_id(req);
    gh_err rc = id ? gh_store_user_get(app->store, id, &u) : GH_ERR_NOT_FOUND;
    if (rc == GH_OK)
        rc = user_json(app, &u, &o);
    sodium_memzero(&u, sizeof u);
    gh_api_audit(app, req, "admin_lookup", actor, id, rc == GH_OK ? "success" : "failure");
    if (rc == GH_ERR_NOT_FOUND) {
        reply_no_such_user(req);
        return;
    }
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    gh_http_reply_json(req, 200, o);
}

/* POST /v1/admin/users/{id}/unlock: forget every failed-login budget of the account (its own
 * and its known devices'), the same as `gatehouse users unlock ID`. */
void gh_api_admin_user_unlock(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    char actor[GH_ID_LEN + 1];
    struct gh_user u;
    long n = 0;
    if (!admin_or_reply(app, req, "admin_unlock", actor))
        return;
    const char *id = target_id(req);
    gh_err rc = id ? gh_store_user_get(app->store, id, &u) : GH_ERR_NOT_FOUND;
    sodium_memzero(&u, sizeof u);
    if (rc == GH_OK)
        rc = gh_store_throttle_clear_user(app->store, id, &n);
    if (rc == GH_ERR_NOT_FOUND) {
        reply_no_such_user(req);
        return;
    }
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    gh_api_audit(app, req, "admin_unlock", actor, id, "success");
    gh_log_security(GH_LOG_INFO, "account_unlocked", gh_http_request_id(req), id,
                    gh_http_client_addr(req),
                    json_pack("{s:s,s:I}", "by", actor, "budgets_cleared", (json_int_t)n));
    gh_http_reply_json(req, 204, NULL);
}

/* POST /v1/admin/users/{id}/revoke-sessions: every session of the account ends at once. */
void gh_api_admin_user_revoke_sessions(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    char actor[GH_ID_LEN + 1];
    long n = 0;
    if (!admin_or_reply(app, req, "admin_revoke_sessions", actor))
        return;
    const char *id = target_id(req);
    gh_err rc = id ? gh_store_user_sessions_revoke(app->store, id, "admin_revoked", gh_now(), &n)
                   : GH_ERR_NOT_FOUND;
    if (rc == GH_ERR_NOT_FOUND) {
        reply_no_such_user(req);
        return;
    }
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    gh_api_audit(app, req, "admin_revoke_sessions", actor, id, "success");
    gh_log_security(
        GH_LOG_INFO, "sessions_revoked", gh_http_request_id(req), id, gh_http_client_addr(req),
        json_pack("{s:s,s:I,s:s}", "by", actor, "count", (json_int_t)n, "reason", "admin_revoked"));
    gh_http_reply_json(req, 204, NULL);
}

/* A query argument that must be a whole number in [min, max]: digits only. */
static bool query_int(const char *text, int64_t min, int64_t max, int64_t *out)
{
    if (!text || !*text || strlen(text) > 19)
        return false;
    for (const char *p = text; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno || !end || *end || v < min || v > max)
        return false;
    *out = (int64_t)v;
    return true;
}

/* The newest `limit + 1` rows before `before`, kept in a ring while the chain streams past in
 * seq order (one consistent snapshot; the extra row says whether an older page exists). */
struct audit_page {
    struct gh_audit_row *ring;
    size_t cap, n, head; /* head: where the next row goes */
    int64_t before;      /* 0: no bound */
};

static gh_err page_row(void *ctx, const struct gh_audit_row *row)
{
    struct audit_page *p = ctx;
    if (p->before && row->seq >= p->before)
        return GH_OK;
    p->ring[p->head] = *row;
    p->head = (p->head + 1) % p->cap;
    if (p->n < p->cap)
        p->n++;
    return GH_OK;
}

static json_t *row_json(const struct gh_audit_row *r)
{
    return json_pack("{s:I,s:o,s:s,s:s,s:s,s:s,s:s,s:s}", "seq", (json_int_t)r->seq, "ts",
                     gh_api_time(r->ts), "action", r->action, "actor", r->actor, "target",
                     r->target, "outcome", r->outcome, "request_id", r->request_id, "client",
                     r->client);
}

/* GET /v1/admin/audit?before=SEQ&limit=N → the chain's verdict and one page, newest first. */
void gh_api_admin_audit(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    char actor[GH_ID_LEN + 1];
    int64_t limit = AUDIT_PAGE_DEFAULT, before = 0;
    struct audit_page page = {0};
    struct gh_audit_report rep;
    unsigned char pk[32];
    if (!admin_or_reply(app, req, "admin_audit_read", actor))
        return;
    const char *lt = gh_http_query(req, "limit"), *bt = gh_http_query(req, "before");
    if (lt && !query_int(lt, 1, AUDIT_PAGE_MAX, &limit)) {
        gh_http_reply_invalid(req, "limit", "must be a whole number from 1 to 200");
        return;
    }
    if (bt && !query_int(bt, 1, INT64_MAX, &before)) {
        gh_http_reply_invalid(req, "before", "must be a sequence number (1 or more)");
        return;
    }
    if (!app->audit) {
        gh_http_reply_error(req, GH_ERR_INTERNAL, NULL);
        return;
    }
    page.cap = (size_t)limit + 1;
    page.before = before;
    page.ring = gh_calloc(page.cap, sizeof *page.ring);
    if (!page.ring) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        return;
    }
    /* The verdict covers the whole chain (verified against the service's own audit key). */
    gh_audit_public_key(app->audit, pk);
    gh_err rc = gh_audit_verify(app->store, pk, &rep);
    struct gh_audit_reader reader = {.row = page_row, .ctx = &page};
    if (rc == GH_OK)
        rc = gh_store_audit_read(app->store, &reader);
    if (rc != GH_OK) {
        gh_free(page.ring);
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    bool more = page.n > (size_t)limit;
    size_t shown = more ? (size_t)limit : page.n;
    json_t *events = json_array();
    int64_t oldest = 0;
    for (size_t i = 0; events && i < shown; i++) {
        /* newest first: walk back from the last row written */
        const struct gh_audit_row *r = &page.ring[(page.head + page.cap - 1 - i) % page.cap];
        json_array_append_new(events, row_json(r));
        oldest = r->seq;
    }
    gh_free(page.ring);
    bool verified = rep.problem == GH_AUDIT_OK;
    json_t *body = json_pack("{s:b,s:o,s:o,s:o}", "verified", (int)verified, "detail",
                             verified ? json_null() : json_string(rep.message), "events", events,
                             "next_before", more ? json_integer(oldest) : json_null());
    if (!body) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        return;
    }
    if (!verified)
        gh_log_security(GH_LOG_ERROR, "audit_chain_invalid", gh_http_request_id(req), NULL, NULL,
                        json_pack("{s:I}", "bad_seq", (json_int_t)rep.bad_seq));
    gh_api_audit(app, req, "admin_audit_read", actor, NULL, "success");
    gh_http_reply_json(req, 200, body);
}

/* ---- `gatehouse users create-admin` ---- */

gh_err gh_api_admin_create(struct gh_app *app, const char *email, const char *pw, size_t pw_len,
                           char out_id[GH_ID_LEN + 1], const char **out_why)
{
    struct gh_user *u = gh_calloc(1, sizeof *u);
    char key[GH_EMAIL_KEY_MAX + 1];
    gh_err rc = GH_ERR_INVALID;
    if (!u)
        return GH_ERR_NOMEM;
    size_t len = strlen(email);
    if (len > GH_EMAIL_INPUT_MAX) {
        *out_why = "the email must be at most 254 characters";
        goto out;
    }
    if (!gh_email_normalize(email, len, u->email, key, out_why))
        goto out;
    /* The same policy as registration (POST /v1/users), with the address as context. */
    const char *context[] = {u->email, NULL};
    const char *rule = NULL;
    if ((rc = gh_policy_check(app->policy, pw, pw_len, context, &rule, out_why)) != GH_OK)
        goto out;
    gh_random_id(u->id);
    if ((rc = gh_pii_seal_new_user(app->pii, key, u)) != GH_OK)
        goto out;
    if ((rc = gh_password_hash(&app->pw, pw, pw_len, u->password_hash, sizeof u->password_hash)) !=
        GH_OK)
        goto out;
    u->created_at = u->updated_at = gh_now();
    u->admin = true;
    if ((rc = gh_store_user_insert(app->store, u)) != GH_OK)
        goto out;
    memcpy(out_id, u->id, GH_ID_LEN + 1);
out:
    sodium_memzero(key, sizeof key);
    sodium_memzero(u, sizeof *u);
    gh_free(u);
    return rc;
}
