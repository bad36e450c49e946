/* Accounts: POST /v1/users, GET /v1/me, PUT /v1/me/password, GET /v1/me/sessions,
 * DELETE /v1/me/sessions/{id}. Decode → call auth/store → encode; password work runs on the
 * hashing pool. A user only ever sees and changes their own data. */
#include <sodium.h>
#include <string.h>

#include "api/common.h"
#include "auth/sessioncache.h"
#include "auth/identity.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/banned.h"

#define GH_SESSIONS_LIST_MAX 100

/* Check a new password against the policy (length, common and breached lists, zxcvbn with the
 * user's own email and name as context); on refusal reply 422 naming the rule. */
static bool password_acceptable_or_reply(struct gh_app *app, struct gh_http_req *req,
                                         const char *field, json_t *pw, const char *email,
                                         const char *display_name)
{
    const char *context[3] = {email, display_name, NULL};
    if (!display_name)
        context[1] = NULL;
    const char *rule = NULL, *message = NULL;
    gh_err rc = gh_policy_check(app->policy, json_string_value(pw), json_string_length(pw), context,
                                &rule, &message);
    if (rc == GH_OK)
        return true;
    if (rc != GH_ERR_INVALID) {
        gh_http_reply_error(req, rc, NULL);
        return false;
    }
    char text[320];
    if (strcmp(rule, "too_short") == 0)
        snprintf(text, sizeof text, "%s (at least %ld characters)", message,
                 app->cfg->password_min_length);
    else
        snprintf(text, sizeof text, "%s", message);
    gh_http_reply_problem(
        req, 422, "validation-failed", "Validation failed", text,
        json_pack("{s:[{s:s,s:s,s:s}]}", "errors", "field", field, "message", text, "rule", rule));
    return false;
}

struct register_job {
    struct gh_app *app;
    struct gh_http_req *req;
    struct gh_user user;
    struct gh_api_secret pw;
    gh_err hashed; /* register_hash's result, for register_finish */
};

static void register_job_free(void *p)
{
    struct register_job *j = p;
    gh_api_secret_wipe(&j->pw);
    sodium_memzero(&j->user, sizeof j->user);
    gh_free(j);
}

/* On a hashing thread: the hash only. */
static void register_hash(void *ctx)
{
    struct register_job *j = ctx;
    j->hashed = gh_password_hash(&j->app->pw, j->pw.buf, j->pw.len, j->user.password_hash,
                                 sizeof j->user.password_hash);
    gh_api_secret_wipe(&j->pw);
}

/* On the pool's finisher thread: the insert and the answer. */
static void register_finish(void *ctx)
{
    struct register_job *j = ctx;
    gh_err rc = j->hashed;
    if (rc == GH_OK)
        rc = gh_store_user_insert(j->app->store, &j->user);
    if (rc == GH_ERR_CONFLICT) {
        gh_http_reply_problem(j->req, 409, "email-taken", "Email already registered",
                              "An account with this email already exists; sign in instead.", NULL);
        return;
    }
    if (rc != GH_OK) {
        gh_http_reply_error(j->req, rc, NULL);
        return;
    }
    gh_counter_inc(j->app->m.registrations);
    gh_api_audit(j->app, j->req, "register", j->user.id, j->user.id, "success");
    gh_log_security(GH_LOG_INFO, "user_registered", gh_http_request_id(j->req), j->user.id,
                    gh_http_client_addr(j->req), NULL);
    gh_api_reply_object(j->req, 201,
                        json_pack("{s:s,s:s,s:o}", "id", j->user.id, "email", j->user.email,
                                  "created_at", gh_api_time(j->user.created_at)));
}

void gh_api_users_create(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    static const struct gh_field schema[] = {
        {"email", GH_FIELD_STRING, true, GH_EMAIL_INPUT_MAX},
        {"password", GH_FIELD_STRING, true, GH_PASSWORD_MAX_BYTES},
        {"display_name", GH_FIELD_STRING, false, GH_DISPLAY_NAME_MAX},
    };
    json_t *body = NULL;
    if (gh_http_body_or_reply(req, schema, 3, &body) != GH_OK)
        return;
    struct register_job *j = gh_calloc(1, sizeof *j);
    if (!j) {
        gh_api_body_free(body);
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        return;
    }
    gh_http_set_ctx(req, j, register_job_free);
    j->app = app;
    j->req = req;
    const char *why = NULL;
    json_t *email = json_object_get(body, "email");
    json_t *pw = json_object_get(body, "password");
    json_t *dn = json_object_get(body, "display_name");
    if (!gh_email_normalize(json_string_value(email), json_string_length(email), j->user.email,
                            j->user.email_key, &why)) {
        gh_http_reply_invalid(req, "email", why);
        goto out;
    }
    if (dn) {
        if (!gh_display_name_is_valid(json_string_value(dn), json_string_length(dn), &why)) {
            gh_http_reply_invalid(req, "display_name", why);
            goto out;
        }
        memcpy(j->user.display_name, json_string_value(dn), json_string_length(dn));
        j->user.has_display_name = true;
    }
    if (!password_acceptable_or_reply(app, req, "password", pw, j->user.email,
                                      dn ? j->user.display_name : NULL))
        goto out;
    /* Seal the profile now (cheap): from here on the email is stored and looked up only as
     * ciphertext and blind index. */
    gh_random_id(j->user.id);
    char key[GH_EMAIL_KEY_MAX + 1];
    memcpy(key, j->user.email_key, sizeof key);
    gh_err rc = gh_pii_seal_new_user(app->pii, key, &j->user);
    sodium_memzero(key, sizeof key);
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        goto out;
    }
    /* Refuse a taken email before spending a hash on it (the insert still decides races). */
    struct gh_user existing;
    rc = gh_store_user_find_by_email_key(app->store, j->user.email_key, &existing);
    sodium_memzero(&existing, sizeof existing);
    if (rc == GH_OK) {
        gh_http_reply_problem(req, 409, "email-taken", "Email already registered",
                              "An account with this email already exists; sign in instead.", NULL);
        goto out;
    }
    if (rc != GH_ERR_NOT_FOUND) {
        gh_http_reply_error(req, rc, NULL);
        goto out;
    }
    if (gh_api_secret_copy(pw, &j->pw) != GH_OK) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        goto out;
    }
    j->user.created_at = j->user.updated_at = gh_now();
    gh_api_run_in_pool_then(app, req, register_hash, register_finish, j);
out:
    gh_api_body_free(body);
}

/* The body is rendered once per session-cache entry and kept beside it (auth/sessioncache.h):
 * a warm GET /v1/me copies bytes instead of building and encoding JSON. */
void gh_api_me_get(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    struct gh_jwt_claims claims;
    struct gh_session ss;
    struct gh_user u;
    if (gh_api_authenticate_or_reply(app, req, &claims, &ss, &u) != GH_OK)
        return;
    uint64_t epoch = app->sessions ? gh_store_epoch(app->store) : 0;
    int64_t now = gh_now();
    char view[GH_SESSIONCACHE_VIEW_MAX];
    size_t len = 0;
    if (app->sessions &&
        gh_sessioncache_get_view(app->sessions, ss.id, epoch, now, view, sizeof view, &len)) {
        char *text = gh_malloc(len);
        if (text) {
            memcpy(text, view, len);
            gh_http_reply_text(req, 200, "application/json", text, len);
        } else {
            gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        }
    } else {
        json_t *o = json_pack("{s:s,s:s,s:o,s:o}", "id", u.id, "email", u.email, "display_name",
                              u.has_display_name ? json_string(u.display_name) : json_null(),
                              "created_at", gh_api_time(u.created_at));
        if (o && app->sessions) {
            len = json_dumpb(o, view, sizeof view, JSON_COMPACT);
            if (len > 0 && len <= sizeof view)
                gh_sessioncache_put_view(app->sessions, ss.id, epoch, now, view, len);
        }
        gh_api_reply_object(req, 200, o);
    }
    sodium_memzero(view, sizeof view);
    sodium_memzero(u.email, sizeof u.email);
    sodium_memzero(u.display_name, sizeof u.display_name);
}

struct password_job {
    struct gh_app *app;
    struct gh_http_req *req;
    char user_id[GH_ID_LEN + 1];
    char session_id[GH_ID_LEN + 1];
    struct gh_api_secret current;
    struct gh_api_secret next;
    char hash[GH_PASSWORD_HASH_MAX + 1]; /* the stored hash, read before queueing */
    gh_err verified;                     /* current against hash (hashing thread) */
    gh_err hashed;                       /* next, hashed into newhash (hashing thread) */
    char newhash[GH_PASSWORD_HASH_MAX + 1];
};

static void password_job_free(void *p)
{
    struct password_job *j = p;
    gh_api_secret_wipe(&j->current);
    gh_api_secret_wipe(&j->next);
    sodium_memzero(j->hash, sizeof j->hash);
    sodium_memzero(j->newhash, sizeof j->newhash);
    gh_free(j);
}

static void password_denied(struct password_job *j)
{
    gh_api_audit(j->app, j->req, "password_change", j->user_id, j->user_id, "denied");
    gh_log_security(GH_LOG_WARN, "password_change_failed", gh_http_request_id(j->req), j->user_id,
                    gh_http_client_addr(j->req), NULL);
    gh_http_reply_problem(j->req, 401, "invalid-credentials", "Invalid credentials",
                          "current_password is not correct.", NULL);
}

/* On a hashing thread: the CPU work only (api/common.h). */
static void password_hash_step(void *ctx)
{
    struct password_job *j = ctx;
    j->verified = gh_password_verify(j->hash, j->current.buf, j->current.len);
    if (j->verified == GH_ERR_INVALID)
        j->verified = GH_ERR_AUTH;
    j->hashed = j->verified == GH_OK ? gh_password_hash(&j->app->pw, j->next.buf, j->next.len,
                                                        j->newhash, sizeof j->newhash)
                                     : j->verified;
    gh_api_secret_wipe(&j->current);
    gh_api_secret_wipe(&j->next);
}

/* On the finisher: still the same password (not changed while this waited), then the write. */
static void password_finish(void *ctx)
{
    struct password_job *j = ctx;
    gh_err rc = j->verified;
    if (rc == GH_OK)
        rc = gh_api_user_hash_unchanged(j->app, j->user_id, j->hash);
    if (rc == GH_ERR_AUTH) {
        password_denied(j);
        return;
    }
    if (rc == GH_OK)
        rc = j->hashed;
    if (rc == GH_OK)
        rc = gh_store_user_set_password(j->app->store, j->user_id, j->newhash, gh_now(), true,
                                        j->session_id);
    sodium_memzero(j->newhash, sizeof j->newhash);
    if (rc != GH_OK) {
        gh_http_reply_error(j->req, rc, NULL);
        return;
    }
    gh_api_audit(j->app, j->req, "password_change", j->user_id, j->user_id, "success");
    gh_log_security(GH_LOG_INFO, "password_changed", gh_http_request_id(j->req), j->user_id,
                    gh_http_client_addr(j->req), NULL);
    gh_http_reply_json(j->req, 204, NULL);
}

void gh_api_me_password(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    static const struct gh_field schema[] = {
        {"current_password", GH_FIELD_STRING, true, GH_PASSWORD_MAX_BYTES},
        {"new_password", GH_FIELD_STRING, true, GH_PASSWORD_MAX_BYTES},
    };
    struct gh_jwt_claims claims;
    struct gh_session ss;
    json_t *body = NULL;
    struct gh_user me;
    if (gh_api_authenticate_or_reply(app, req, &claims, &ss, &me) != GH_OK)
        return;
    if (gh_http_body_or_reply(req, schema, 2, &body) != GH_OK) {
        sodium_memzero(&me, sizeof me);
        return;
    }
    json_t *cur = json_object_get(body, "current_password");
    json_t *next = json_object_get(body, "new_password");
    /* The decrypted profile is only the policy's context: wiped as soon as it has been used. */
    bool acceptable = password_acceptable_or_reply(app, req, "new_password", next, me.email,
                                                   me.has_display_name ? me.display_name : NULL);
    sodium_memzero(&me, sizeof me);
    if (!acceptable)
        goto out;
    struct password_job *j = gh_calloc(1, sizeof *j);
    if (!j) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        goto out;
    }
    gh_http_set_ctx(req, j, password_job_free);
    j->app = app;
    j->req = req;
    memcpy(j->user_id, claims.sub, sizeof j->user_id);
    j->user_id[GH_ID_LEN] = '\0';
    memcpy(j->session_id, ss.id, sizeof j->session_id);
    if (gh_api_secret_copy(cur, &j->current) != GH_OK ||
        gh_api_secret_copy(next, &j->next) != GH_OK) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        goto out;
    }
    if (!gh_api_pool_room_or_reply(app, req))
        goto out;
    gh_err rc = gh_api_user_hash(app, j->user_id, j->hash);
    if (rc == GH_ERR_AUTH) {
        password_denied(j);
        goto out;
    }
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        goto out;
    }
    gh_api_run_in_pool_then(app, req, password_hash_step, password_finish, j);
out:
    gh_api_body_free(body);
}

void gh_api_me_sessions(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    struct gh_jwt_claims claims;
    struct gh_session ss, *list = NULL;
    size_t n = 0;
    if (gh_api_authenticate_or_reply(app, req, &claims, &ss, NULL) != GH_OK)
        return;
    gh_err rc =
        gh_store_sessions_list(app->store, claims.sub, gh_now(), app->cfg->session_idle_timeout,
                               GH_SESSIONS_LIST_MAX, &list, &n);
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        if (json_array_append_new(arr, json_pack("{s:s,s:o,s:o,s:o,s:b}", "id", list[i].id,
                                                 "created_at", gh_api_time(list[i].created_at),
                                                 "last_used_at", gh_api_time(list[i].last_used_at),
                                                 "expires_at", gh_api_time(list[i].expires_at),
                                                 "current", strcmp(list[i].id, ss.id) == 0)) != 0) {
            json_decref(arr); /* never a partial list */
            arr = NULL;
        }
    }
    gh_free(list);
    if (!arr) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        return;
    }
    gh_http_reply_json(req, 200, arr);
}

void gh_api_me_session_delete(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    struct gh_jwt_claims claims;
    struct gh_session ss;
    if (gh_api_authenticate_or_reply(app, req, &claims, &ss, NULL) != GH_OK)
        return;
    const char *id = gh_http_path_param(req);
    gh_err rc = (id && gh_id_is_valid(id))
                    ? gh_store_session_revoke(app->store, id, claims.sub, "user_revoked", gh_now())
                    : GH_ERR_NOT_FOUND;
    if (rc == GH_ERR_NOT_FOUND) {
        gh_http_reply_problem(req, 404, "not-found", "Not found", "No such session.", NULL);
        return;
    }
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    gh_counter_inc(app->m.revoked_user);
    gh_api_audit(app, req, "session_revoked", claims.sub, claims.sub, "success");
    gh_log_security(GH_LOG_INFO, "session_revoked", gh_http_request_id(req), claims.sub,
                    gh_http_client_addr(req),
                    json_pack("{s:s,s:s}", "session_id", id, "reason", "user_revoked"));
    gh_http_reply_json(req, 204, NULL);
}
