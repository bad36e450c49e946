/* Helpers shared by the resource handlers: the Bearer check, time formatting, and the pattern
 * of handing password work to the hashing pool (suspend the request, run, resume).
 * Lifetime: a pool job's context hangs off its request and is freed at request completion. */
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "api/common.h"
#include "store/store_audit.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/secbuf.h"
#include "core/banned.h"

gh_err gh_api_authenticate_or_reply(struct gh_app *app, struct gh_http_req *req,
                                    struct gh_jwt_claims *claims, struct gh_session *session,
                                    struct gh_user *user)
{
    /* A Bearer header wins (browsers never attach one by themselves, so it needs no CSRF
     * check); otherwise the browser session cookie. */
    size_t len = 0;
    const char *tok = gh_http_bearer(req, &len);
    bool via_cookie = false;
    if (!tok && (tok = gh_api_session_cookie(app, req)) != NULL) {
        via_cookie = true;
        len = strlen(tok);
    }
    if (tok) /* a token check: yielding hashing threads stand aside for a while */
        gh_hashpool_note_priority(app->pool);
    gh_err rc = tok ? gh_session_authenticate(&app->auth, tok, len, gh_now(), claims, session, user)
                    : GH_ERR_AUTH;
    if (rc == GH_OK) {
        if (via_cookie && !gh_api_method_is_safe(req) &&
            !gh_api_csrf_check_or_reply(app, req, claims->sid)) {
            if (user) { /* refused: the caller returns without using (or wiping) the profile */
                sodium_memzero(user->email, sizeof user->email);
                sodium_memzero(user->display_name, sizeof user->display_name);
            }
            return GH_ERR_FORBIDDEN;
        }
        return GH_OK;
    }
    if (rc == GH_ERR_AUTH) {
        gh_http_add_header(req, "WWW-Authenticate",
                           tok && !via_cookie ? "Bearer error=\"invalid_token\"" : "Bearer");
        gh_http_reply_problem(req, 401, "unauthenticated", "Not authenticated",
                              via_cookie ? "The session has expired or was ended; sign in again."
                              : tok      ? "The access token is invalid, expired or revoked."
                                         : "Send an access token (Authorization: Bearer <token>) "
                                           "or sign in.",
                              NULL);
    } else {
        gh_http_reply_error(req, rc, NULL);
    }
    return rc;
}

json_t *gh_api_time(int64_t t)
{
    if (t <= 0)
        return json_null();
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&tt, &tm) || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(buf);
}

gh_err gh_api_secret_copy(json_t *v, struct gh_api_secret *out)
{
    out->len = json_string_length(v);
    /* A preallocated slot when one is free (no system call on the request thread, see
     * core/secbuf.h); otherwise memory of its own. */
    out->buf = gh_secbuf_alloc(out->len + 1);
    if (!out->buf)
        return GH_ERR_NOMEM;
    memcpy(out->buf, json_string_value(v), out->len);
    out->buf[out->len] = '\0';
    return GH_OK;
}

void gh_api_secret_wipe(struct gh_api_secret *s)
{
    gh_secbuf_free(s->buf); /* wipes */
    s->buf = NULL;
    s->len = 0;
}

/* jansson copies strings into its own heap; wipe a decoded body's secret values before it is
 * freed so no password lingers in freed memory. */
void gh_api_body_free(json_t *body)
{
    if (!body)
        return;
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        if (json_is_string(v) && json_string_length(v) > 0)
            sodium_memzero((void *)json_string_value(v), json_string_length(v));
    }
    json_decref(body);
}

struct job_shell {
    struct gh_histogram *wait;
    int64_t queued_us;
    struct gh_http_req *req;
    void (*run)(void *ctx);
    void (*finish)(void *ctx); /* NULL: run does it all */
    void *ctx;
    struct gh_mem_scope *mem; /* the request's allocation scope (core/mem.h) */
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void job_done(struct job_shell *js)
{
    struct gh_http_req *req = js->req;
    gh_free(js);
    gh_http_resume(req);
}

static void job_trampoline(void *arg)
{
    struct job_shell *js = arg;
    gh_histogram_observe(js->wait, (double)(mono_us() - js->queued_us) / 1e6);
    gh_mem_scope_bind(js->mem); /* the job's allocations are the request's */
    /* SCHED_IDLE from here: a lock taken now could hold up a request thread until this thread
     * gets a CPU again. Storage refuses this thread (in debug builds: abort) until run returns. */
    gh_store_thread_forbid(true);
    js->run(js->ctx);
    gh_store_thread_forbid(false);
    gh_mem_scope_bind(NULL);
    if (!js->finish)
        job_done(js);
}

static void finish_trampoline(void *arg)
{
    struct job_shell *js = arg;
    gh_mem_scope_bind(js->mem);
    js->finish(js->ctx);
    gh_mem_scope_bind(NULL);
    job_done(js);
}

/* The hashing queue is full: the one answer, counted and logged. */
static void reply_overloaded(struct gh_app *app, struct gh_http_req *req)
{
    gh_counter_inc(app->m.hash_rejected);
    gh_log(GH_LOG_WARN, "password hashing queue full", gh_http_request_id(req), "hash_queue_full",
           NULL);
    gh_http_reply_problem(req, 503, "overloaded", "Service temporarily overloaded",
                          "Too many sign-ins at once; retry shortly.", NULL);
}

void gh_api_run_in_pool_then(struct gh_app *app, struct gh_http_req *req, void (*run)(void *ctx),
                             void (*finish)(void *ctx), void *ctx)
{
    struct job_shell *js = gh_malloc(sizeof *js);
    if (!js) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        return;
    }
    js->wait = app->m.hash_wait;
    js->queued_us = mono_us();
    js->req = req;
    js->run = run;
    js->finish = finish;
    js->ctx = ctx;
    js->mem = gh_mem_scope_bound();
    gh_http_suspend(req);
    gh_err rc = finish ? gh_hashpool_submit2(app->pool, job_trampoline, finish_trampoline, js)
                       : gh_hashpool_submit(app->pool, job_trampoline, js);
    if (rc != GH_OK) {
        gh_free(js);
        reply_overloaded(app, req);
        gh_http_resume(req);
    }
}

gh_err gh_api_user_hash(struct gh_app *app, const char *user_id,
                        char out[GH_PASSWORD_HASH_MAX + 1])
{
    struct gh_user u;
    gh_err rc = gh_store_user_get(app->store, user_id, &u);
    if (rc == GH_OK) {
        size_t n = strlen(u.password_hash);
        if (n > GH_PASSWORD_HASH_MAX)
            rc = GH_ERR_INTERNAL;
        else
            memcpy(out, u.password_hash, n + 1);
    }
    sodium_memzero(&u, sizeof u);
    return rc == GH_ERR_NOT_FOUND ? GH_ERR_AUTH : rc;
}

gh_err gh_api_user_hash_unchanged(struct gh_app *app, const char *user_id, const char *hash)
{
    char now_hash[GH_PASSWORD_HASH_MAX + 1];
    gh_err rc = gh_api_user_hash(app, user_id, now_hash);
    if (rc == GH_OK && strcmp(now_hash, hash) != 0)
        rc = GH_ERR_AUTH;
    sodium_memzero(now_hash, sizeof now_hash);
    return rc;
}

bool gh_api_pool_room_or_reply(struct gh_app *app, struct gh_http_req *req)
{
    if (gh_hashpool_has_room(app->pool))
        return true;
    reply_overloaded(app, req);
    return false;
}


void gh_api_reply_tokens(struct gh_http_req *req, const struct gh_token_pair *p,
                         const char *device_token)
{
    json_t *o =
        json_pack("{s:s,s:s,s:I,s:s}", "access_token", p->access_token, "token_type", "Bearer",
                  "expires_in", (json_int_t)p->expires_in, "refresh_token", p->refresh_token);
    if (o && device_token)
        json_object_set_new(o, "device_token", json_string(device_token));
    if (!o) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        return;
    }
    gh_http_reply_json(req, 200, o);
}

void gh_api_audit(struct gh_app *app, struct gh_http_req *req, const char *action,
                  const char *actor, const char *target, const char *outcome)
{
    char client[64] = "";
    if (req)
        gh_log_truncate_addr(gh_http_client_addr(req), client);
    struct gh_audit_event ev = {.action = action,
                                .actor = actor,
                                .target = target,
                                .outcome = outcome,
                                .request_id = req ? gh_http_request_id(req) : NULL,
                                .client = client};
    /* The action already happened and was committed: an event the store cannot take now is
     * queued with its time and stored by the ticker (gh_audit_tick) when the store answers
     * again, rather than failing the user's request after the fact. Only a full queue loses
     * one: logged at error level and counted (gatehouse_audit_events_lost_total). */
    gh_err rc = app->audit ? gh_audit_append(app->audit, &ev) : GH_ERR_INTERNAL;
    if (rc == GH_ERR_BUSY)
        gh_log(GH_LOG_WARN, "audit append delayed: queued for retry",
               req ? gh_http_request_id(req) : NULL, "audit_append_queued",
               json_pack("{s:s}", "action", action));
    else if (rc != GH_OK)
        gh_log(GH_LOG_ERROR, "audit append failed: event lost", req ? gh_http_request_id(req) : NULL,
               "audit_append_failed",
               json_pack("{s:s,s:s}", "action", action, "error", gh_err_name(rc)));
}

struct user_events {
    const char *user_id;
    json_t *arr;
};

static gh_err collect_row(void *ctx, const struct gh_audit_row *row)
{
    struct user_events *ue = ctx;
    if (strcmp(row->actor, ue->user_id) != 0 && strcmp(row->target, ue->user_id) != 0)
        return GH_OK;
    int r = json_array_append_new(
        ue->arr, json_pack("{s:I,s:o,s:s,s:s,s:s,s:s,s:s,s:s}", "seq", (json_int_t)row->seq, "ts",
                           gh_api_time(row->ts), "action", row->action, "actor", row->actor,
                           "target", row->target, "outcome", row->outcome, "request_id",
                           row->request_id, "client", row->client));
    return r == 0 ? GH_OK : GH_ERR_NOMEM;
}

json_t *gh_api_audit_events_of(struct gh_app *app, const char *user_id)
{
    struct user_events ue = {.user_id = user_id, .arr = json_array()};
    if (ue.arr && gh_store_audit_read_user(app->store, user_id, collect_row, &ue) != GH_OK) {
        json_decref(ue.arr);
        return NULL;
    }
    return ue.arr;
}

void gh_api_reply_object(struct gh_http_req *req, unsigned status, json_t *o)
{
    if (!o) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        return;
    }
    gh_http_reply_json(req, status, o);
}
