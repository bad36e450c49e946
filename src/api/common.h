/* Shared by the files of src/api/ only. */
#ifndef GH_API_COMMON_H
#define GH_API_COMMON_H

#include "api/app.h"

#define GH_PASSWORD_MAX_BYTES 1024
#define GH_EMAIL_INPUT_MAX 320

/* A secret copied out of a decoded body into guarded, locked memory (core/secbuf.h slot, or
 * sodium_malloc when none is free). */
struct gh_api_secret {
    char *buf;
    size_t len;
};

GH_MUST_USE gh_err gh_api_secret_copy(json_t *v, struct gh_api_secret *out);
void gh_api_secret_wipe(struct gh_api_secret *s);
void gh_api_body_free(json_t *body);

/* RFC 3339 UTC time as a JSON string (null for 0). */
json_t *gh_api_time(int64_t t);

/* Suspend req, run run(ctx) on a hashing thread, then finish(ctx) on the pool's finisher
 * thread, then resume; 503 when the queue is full. run is the CPU work only: it runs SCHED_IDLE,
 * so it must not touch storage (refused: gh_store_thread_forbid), reply, or take any lock a
 * request thread may wait on -- the reads it needs happen before, on the request thread, and
 * finish (storage writes, the reply) re-reads whatever may have changed while the job waited.
 * finish must set the reply. ctx must stay alive until completion (gh_http_set_ctx). */
void gh_api_run_in_pool_then(struct gh_app *app, struct gh_http_req *req, void (*run)(void *ctx),
                             void (*finish)(void *ctx), void *ctx);

/* The stored password hash of user_id, read on the request thread before queueing a check
 * (GH_ERR_AUTH: no such user). */
GH_MUST_USE gh_err gh_api_user_hash(struct gh_app *app, const char *user_id,
                                    char out[GH_PASSWORD_HASH_MAX + 1]);
/* In a finish step: GH_OK when user_id's stored hash is still hash; GH_ERR_AUTH when it changed
 * or the user is gone while the job waited (the password checked is no longer the account's). */
GH_MUST_USE gh_err gh_api_user_hash_unchanged(struct gh_app *app, const char *user_id,
                                              const char *hash);

/* true when the hashing queue has room now; otherwise the 503 answer is set. Lets a handler skip
 * its reads for an attempt the queue would refuse (the submit still decides). */
bool gh_api_pool_room_or_reply(struct gh_app *app, struct gh_http_req *req);

/* The RFC 6749 token response; device_token (may be NULL) is the known-device credential. */
/* Append an audit event (data/audit.h) for this request: action, actor and target ids
 * (may be NULL), outcome ("success", "failure", "denied"). Never fails the request. */
void gh_api_audit(struct gh_app *app, struct gh_http_req *req, const char *action,
                  const char *actor, const char *target, const char *outcome);
/* The audit events where user_id is actor or target, as a JSON array (for the export); NULL
 * when they cannot all be read (never a partial list). */
json_t *gh_api_audit_events_of(struct gh_app *app, const char *user_id);

/* Reply with o, a value just built for this answer (reference stolen). NULL — its allocation
 * failed — answers 503 instead of a success without a body. */
void gh_api_reply_object(struct gh_http_req *req, unsigned status, json_t *o);

void gh_api_reply_tokens(struct gh_http_req *req, const struct gh_token_pair *p,
                         const char *device_token);

/* ---- sign-in and sessions (tokens.c) ---- */
/* How a sign-in answers: JSON tokens, RFC 6749 form errors, or browser cookies. */
enum gh_login_mode { GH_LOGIN_JSON, GH_LOGIN_FORM, GH_LOGIN_COOKIE };
/* Check the password on the hashing pool and answer (tokens or cookies). device may be NULL. */
void gh_api_login_start(struct gh_app *app, struct gh_http_req *req, json_t *email, json_t *pw,
                        json_t *device, enum gh_login_mode mode);
/* Rotate a refresh token (reuse is logged, counted and audited here). GH_ERR_AUTH when the
 * token is not (or no longer) valid. *pair is the caller's to release on GH_OK. */
GH_MUST_USE gh_err gh_api_refresh(struct gh_app *app, struct gh_http_req *req, const char *tok,
                                  size_t len, struct gh_token_pair *pair, struct gh_session *ss);
/* Revoke ss (sign-out) with its log, metric and audit event. */
GH_MUST_USE gh_err gh_api_end_session(struct gh_app *app, struct gh_http_req *req,
                                      const struct gh_session *ss, const char *user_id);

/* ---- browser cookies and CSRF (browser.c) ---- */
#define GH_CSRF_TOKEN_MAX 43
/* The session cookie's value (the access token), or NULL. */
const char *gh_api_session_cookie(const struct gh_app *app, struct gh_http_req *req);
/* Should cookies set on this request be Secure (and prefixed)? */
bool gh_api_cookies_secure(const struct gh_app *app, struct gh_http_req *req);
/* The CSRF token bound to session sid (base64url keyed BLAKE2b). */
void gh_api_csrf_token(const struct gh_app *app, const char *sid,
                       char out[GH_CSRF_TOKEN_MAX + 1]);
/* The CSRF defence: an allowed Origin (or same-origin Sec-Fetch-Site) and an X-CSRF-Token
 * header equal to sid's token (sid NULL: any non-empty value, for requests that create a
 * session). false after replying 403. */
bool gh_api_csrf_check_or_reply(const struct gh_app *app, struct gh_http_req *req,
                                const char *sid);
bool gh_api_method_is_safe(struct gh_http_req *req);
/* Only part 1 of the defence (where the request comes from); the guard runs it early. */
bool gh_api_csrf_origin_or_reply(const struct gh_app *app, struct gh_http_req *req);
/* Set the session and refresh cookies for p and answer the session JSON (no token in it). */
void gh_api_reply_browser_session(const struct gh_app *app, struct gh_http_req *req, bool secure,
                                  const char *user_id, const struct gh_token_pair *p, bool admin);
/* Expire both cookies. */
void gh_api_clear_session_cookies(const struct gh_app *app, struct gh_http_req *req);
/* Does u hold the admin role? */
bool gh_api_user_is_admin(const struct gh_user *u);

#endif
