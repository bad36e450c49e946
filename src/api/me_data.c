/* The user's own data: GET /v1/me/export (everything held about the caller, machine-readable)
 * and DELETE /v1/me (erasure after re-entering the password). Decode → call data/store →
 * encode; the password check runs on the hashing pool. */
#include <sodium.h>
#include <string.h>

#include "api/common.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/banned.h"

#define EXPORT_SESSIONS_MAX 1000

static json_t *session_json(const struct gh_session *s)
{
    return json_pack("{s:s,s:o,s:o,s:o,s:o}", "id", s->id, "created_at", gh_api_time(s->created_at),
                     "last_used_at", gh_api_time(s->last_used_at), "expires_at",
                     gh_api_time(s->expires_at), "revoked_at", gh_api_time(s->revoked_at));
}

void gh_api_me_export(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    struct gh_jwt_claims claims;
    struct gh_session ss, *list = NULL;
    struct gh_user u, row;
    struct gh_throttle t;
    size_t n = 0;
    json_t *out = NULL;
    if (gh_api_authenticate_or_reply(app, req, &claims, &ss, &u) != GH_OK)
        return;
    /* The full row for metadata (hash algorithm, last login), then its profile decrypted. */
    gh_err rc = gh_store_user_get(app->store, claims.sub, &row);
    if (rc == GH_OK)
        rc = gh_store_sessions_all(app->store, claims.sub, EXPORT_SESSIONS_MAX, &list, &n);
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc == GH_ERR_NOT_FOUND ? GH_ERR_AUTH : rc, NULL);
        goto out;
    }
    /* Everything or nothing: a partial export would misstate what is held. */
    json_t *sessions = json_array();
    for (size_t i = 0; sessions && i < n; i++) {
        if (json_array_append_new(sessions, session_json(&list[i])) != 0) {
            json_decref(sessions);
            sessions = NULL;
        }
    }
    char subject[8 + GH_ID_LEN + 1];
    snprintf(subject, sizeof subject, "u:%s", u.id);
    json_t *budget = NULL;
    rc = gh_store_throttle_get(app->store, subject, &t);
    if (rc == GH_ERR_NOT_FOUND)
        budget = json_null();
    else if (rc == GH_OK)
        budget = json_pack("{s:I,s:I,s:o}", "failed_logins", (json_int_t)t.failures, "lock_level",
                           (json_int_t)t.lock_level, "locked_until", gh_api_time(t.locked_until));
    out = json_pack(
        "{s:s,s:o,s:{s:s,s:s,s:o,s:o,s:o,s:o,s:s,s:b},s:o,s:o,s:o}", "format",
        "gatehouse-export-v1", "exported_at", gh_api_time(gh_now()), "user", "id", u.id, "email",
        u.email, "display_name", u.has_display_name ? json_string(u.display_name) : json_null(),
        "created_at", gh_api_time(row.created_at), "updated_at", gh_api_time(row.updated_at),
        "last_login_at", gh_api_time(row.last_login_at), "password_hash_algorithm",
        gh_password_algorithm(row.password_hash), "admin", row.admin, "sessions", sessions,
        "login_budget", budget, "audit_events", gh_api_audit_events_of(app, claims.sub));
    if (!out) {
        gh_http_reply_error(req, rc != GH_OK && rc != GH_ERR_NOT_FOUND ? rc : GH_ERR_NOMEM, NULL);
        goto out;
    }
    gh_api_audit(app, req, "export", claims.sub, claims.sub, "success");
    gh_http_reply_json(req, 200, out);
out:
    gh_free(list);
    sodium_memzero(&u, sizeof u);
    sodium_memzero(&row, sizeof row);
}

struct erase_job {
    struct gh_app *app;
    struct gh_http_req *req;
    char user_id[GH_ID_LEN + 1];
    struct gh_api_secret pw;
    char hash[GH_PASSWORD_HASH_MAX + 1]; /* the stored hash, read before queueing */
    gh_err verified;                     /* pw against hash (hashing thread) */
};

static void erase_job_free(void *p)
{
    struct erase_job *j = p;
    gh_api_secret_wipe(&j->pw);
    sodium_memzero(j->hash, sizeof j->hash);
    gh_free(j);
}

static void erase_denied(struct erase_job *j)
{
    gh_api_audit(j->app, j->req, "erasure", j->user_id, j->user_id, "denied");
    gh_http_reply_problem(j->req, 401, "invalid-credentials", "Invalid credentials",
                          "password is not correct.", NULL);
}

/* On a hashing thread: the CPU work only (api/common.h). */
static void erase_hash_step(void *ctx)
{
    struct erase_job *j = ctx;
    j->verified = gh_password_verify(j->hash, j->pw.buf, j->pw.len);
    if (j->verified == GH_ERR_INVALID)
        j->verified = GH_ERR_AUTH;
    gh_api_secret_wipe(&j->pw);
}

/* On the finisher: still the same password (not changed while this waited), then the erasure. */
static void erase_finish(void *ctx)
{
    struct erase_job *j = ctx;
    gh_err rc = j->verified;
    if (rc == GH_OK)
        rc = gh_api_user_hash_unchanged(j->app, j->user_id, j->hash);
    if (rc == GH_ERR_AUTH) {
        erase_denied(j);
        return;
    }
    if (rc == GH_OK)
        rc = gh_store_user_erase(j->app->store, j->user_id, gh_now());
    if (rc != GH_OK) {
        gh_http_reply_error(j->req, rc, NULL);
        return;
    }
    gh_api_audit(j->app, j->req, "erasure", j->user_id, j->user_id, "success");
    gh_log_security(GH_LOG_INFO, "user_erased", gh_http_request_id(j->req), j->user_id,
                    gh_http_client_addr(j->req), json_pack("{s:s}", "by", "self"));
    gh_http_reply_json(j->req, 204, NULL);
}

void gh_api_me_delete(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    static const struct gh_field schema[] = {
        {"password", GH_FIELD_STRING, true, GH_PASSWORD_MAX_BYTES},
    };
    struct gh_jwt_claims claims;
    struct gh_session ss;
    json_t *body = NULL;
    if (gh_api_authenticate_or_reply(app, req, &claims, &ss, NULL) != GH_OK)
        return;
    if (gh_http_body_or_reply(req, schema, 1, &body) != GH_OK)
        return;
    struct erase_job *j = gh_calloc(1, sizeof *j);
    if (!j) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        goto out;
    }
    gh_http_set_ctx(req, j, erase_job_free);
    j->app = app;
    j->req = req;
    memcpy(j->user_id, claims.sub, sizeof j->user_id);
    j->user_id[GH_ID_LEN] = '\0';
    if (gh_api_secret_copy(json_object_get(body, "password"), &j->pw) != GH_OK) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        goto out;
    }
    if (!gh_api_pool_room_or_reply(app, req))
        goto out;
    gh_err rc = gh_api_user_hash(app, j->user_id, j->hash);
    if (rc == GH_ERR_AUTH) {
        erase_denied(j);
        goto out;
    }
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        goto out;
    }
    gh_api_run_in_pool_then(app, req, erase_hash_step, erase_finish, j);
out:
    gh_api_body_free(body);
}
