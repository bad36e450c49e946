/* Shared by the files of src/api/ only. */
#ifndef GH_API_COMMON_H
#define GH_API_COMMON_H

#include "api/app.h"

#define GH_PASSWORD_MAX_BYTES 1024
#define GH_EMAIL_INPUT_MAX 320

/* A secret copied out of a decoded body into sodium_malloc memory. */
struct gh_api_secret {
    char *buf;
    size_t len;
};

GH_MUST_USE gh_err gh_api_secret_copy(json_t *v, struct gh_api_secret *out);
void gh_api_secret_wipe(struct gh_api_secret *s);
void gh_api_body_free(json_t *body);

/* RFC 3339 UTC time as a JSON string (null for 0). */
json_t *gh_api_time(int64_t t);

/* Suspend req and run run(ctx) on the hashing pool, then resume; 503 when the queue is full.
 * run must set the reply. ctx must stay alive until completion (attach it with
 * gh_http_set_ctx). */
void gh_api_run_in_pool(struct gh_app *app, struct gh_http_req *req, void (*run)(void *ctx),
                        void *ctx);

/* The RFC 6749 token response; device_token (may be NULL) is the known-device credential. */
/* Append an audit event (data/audit.h) for this request: action, actor and target ids
 * (may be NULL), outcome ("success", "failure", "denied"). Never fails the request. */
void gh_api_audit(struct gh_app *app, struct gh_http_req *req, const char *action,
                  const char *actor, const char *target, const char *outcome);
/* The audit events where user_id is actor or target, as a JSON array (for the export). */
json_t *gh_api_audit_events_of(struct gh_app *app, const char *user_id);

void gh_api_reply_tokens(struct gh_http_req *req, const struct gh_token_pair *p,
                         const char *device_token);

#endif
