/* Browser sessions: the access token in an HttpOnly session cookie, the refresh token in a
 * second HttpOnly cookie scoped to the refresh path, and the CSRF defence every cookie-
 * authenticated state change (and every request that sets a session cookie) must pass.
 * Trust boundary: cookies, Origin, Sec-Fetch-Site and X-CSRF-Token all come from the client;
 * whether the channel is secure comes from TLS or a trusted proxy (gh_http_is_https), never
 * from a header the client controls.
 * Lifetime: nothing here outlives a request; the CSRF key is the app's (sodium_malloc). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/common.h"
#include "core/log.h"
#include "core/banned.h"

#define SESSION_HOST "__Host-gh_session"
#define SESSION_SECURE "__Secure-gh_session"
#define SESSION_PLAIN "gh_session"
#define REFRESH_SECURE "__Secure-gh_refresh"
#define REFRESH_PLAIN "gh_refresh"
#define REFRESH_PATH "/v1/session/refresh"
#define CSRF_HEADER "X-CSRF-Token"

/* Secure cookies unless this is development over plain HTTP (browsers drop Secure cookies
 * there). Production never relaxes, whatever the transport says. */
static bool cookies_secure(const struct gh_app *app, struct gh_http_req *req)
{
    return app->cfg->production || gh_http_is_https(req);
}

static const char *session_cookie_name(const struct gh_app *app, bool secure)
{
    if (!secure)
        return SESSION_PLAIN;
    return app->cfg->cookie_domain ? SESSION_SECURE : SESSION_HOST;
}

/* The path prefix of GATEHOUSE_PUBLIC_URL ("" at the root), without a trailing slash. */
static void path_prefix(const struct gh_app *app, char *out, size_t size)
{
    out[0] = '\0';
    const char *u = app->cfg->public_url;
    if (!u)
        return;
    const char *host = strstr(u, "://");
    if (!host)
        return;
    const char *slash = strchr(host + 3, '/');
    if (!slash)
        return;
    size_t len = strcspn(slash, "?#");
    while (len > 0 && slash[len - 1] == '/')
        len--;
    if (len < size) {
        memcpy(out, slash, len);
        out[len] = '\0';
    }
}

const char *gh_api_session_cookie(const struct gh_app *app, struct gh_http_req *req)
{
    /* A prefixed cookie can only have been set over a secure channel, so it is believed
     * whatever this hop's transport; the plain name only outside production. */
    const char *v = gh_http_cookie(req, app->cfg->cookie_domain ? SESSION_SECURE : SESSION_HOST);
    if (!v && !app->cfg->production)
        v = gh_http_cookie(req, SESSION_PLAIN);
    return v && v[0] ? v : NULL;
}

static const char *refresh_cookie(const struct gh_app *app, struct gh_http_req *req)
{
    const char *v = gh_http_cookie(req, REFRESH_SECURE);
    if (!v && !app->cfg->production)
        v = gh_http_cookie(req, REFRESH_PLAIN);
    return v && v[0] ? v : NULL;
}

/* Emit one Set-Cookie header; the value may be a token, so the buffer is wiped. */
static void emit_cookie(struct gh_http_req *req, const char *name, const char *value,
                        const char *domain, const char *path, long max_age, const char *samesite,
                        bool secure)
{
    char cookie[2048];
    int n = snprintf(cookie, sizeof cookie, "%s=%s%s%s; Path=%s; Max-Age=%ld; HttpOnly; SameSite=%s%s",
                     name, value, domain ? "; Domain=" : "", domain ? domain : "", path, max_age,
                     samesite, secure ? "; Secure" : "");
    if (n > 0 && (size_t)n < sizeof cookie)
        gh_http_add_header(req, "Set-Cookie", cookie);
    sodium_memzero(cookie, sizeof cookie);
}

/* The session cookie: host-only __Host- (Path=/) unless GATEHOUSE_COOKIE_DOMAIN asks for a
 * __Secure- cookie shared with that domain's subdomains (forward-auth). SameSite=Lax so that
 * following a link into a protected app still carries it. */
static void set_session_cookie(const struct gh_app *app, struct gh_http_req *req, bool secure,
                               const char *value, long max_age)
{
    emit_cookie(req, session_cookie_name(app, secure), value, app->cfg->cookie_domain, "/",
                max_age, "Lax", secure);
}

/* The refresh cookie: only ever sent to the refresh endpoint, never cross-site. */
static void set_refresh_cookie(const struct gh_app *app, struct gh_http_req *req, bool secure,
                               const char *value, long max_age)
{
    char prefix[256], path[300];
    path_prefix(app, prefix, sizeof prefix);
    snprintf(path, sizeof path, "%s%s", prefix, REFRESH_PATH);
    emit_cookie(req, secure ? REFRESH_SECURE : REFRESH_PLAIN, value, NULL, path, max_age,
                "Strict", secure);
}

void gh_api_clear_session_cookies(const struct gh_app *app, struct gh_http_req *req)
{
    bool secure = cookies_secure(app, req);
    set_session_cookie(app, req, secure, "", 0);
    set_refresh_cookie(app, req, secure, "", 0);
}

void gh_api_csrf_token(const struct gh_app *app, const char *sid, char out[GH_CSRF_TOKEN_MAX + 1])
{
    static const char label[] = "gatehouse csrf v1:";
    unsigned char mac[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, app->csrf_key, 32, sizeof mac);
    crypto_generichash_update(&st, (const unsigned char *)label, sizeof label - 1);
    crypto_generichash_update(&st, (const unsigned char *)sid, strlen(sid));
    crypto_generichash_final(&st, mac, sizeof mac);
    sodium_bin2base64(out, GH_CSRF_TOKEN_MAX + 1, mac, sizeof mac,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(mac, sizeof mac);
}

/* Is this origin gatehouse's own, or one listed in GATEHOUSE_CORS_ORIGINS (asked of the http
 * layer, so that CSRF and CORS can never disagree about the list)? */
static bool origin_trusted(const struct gh_app *app, struct gh_http_req *req, const char *origin)
{
    if (strcmp(origin, app->cfg->origin) == 0)
        return true;
    /* Development without a public URL: http://localhost:PORT is the same listener. */
    const char *lo = "http://127.0.0.1:";
    if (!app->cfg->production && !app->cfg->public_url &&
        strncmp(app->cfg->origin, lo, strlen(lo)) == 0 &&
        strncmp(origin, "http://localhost:", 17) == 0 &&
        strcmp(origin + 17, app->cfg->origin + strlen(lo)) == 0)
        return true;
    return gh_http_origin_is_allowed(req, origin);
}

static void reply_csrf(struct gh_http_req *req, const char *detail, const char *why)
{
    gh_log_security(GH_LOG_WARN, "csrf_refused", gh_http_request_id(req), NULL,
                    gh_http_client_addr(req), json_pack("{s:s}", "reason", why));
    gh_http_reply_problem(req, 403, "csrf", "Cross-site request refused", detail, NULL);
}

bool gh_api_csrf_origin_or_reply(const struct gh_app *app, struct gh_http_req *req)
{
    /* 1. Where does the request come from? Browsers send Origin on every cross-origin request
     * and on same-origin POSTs; Sec-Fetch-Site where Origin is missing. */
    const char *origin = gh_http_header(req, "Origin");
    if (origin) {
        if (!origin_trusted(app, req, origin)) {
            reply_csrf(req, "Requests from this origin may not use the session cookie.",
                       "origin");
            return false;
        }
    } else {
        const char *site = gh_http_header(req, "Sec-Fetch-Site");
        if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) {
            reply_csrf(req, "Cross-site requests may not use the session cookie.",
                       "sec_fetch_site");
            return false;
        }
    }
    return true;
}

bool gh_api_csrf_check_or_reply(const struct gh_app *app, struct gh_http_req *req,
                                const char *sid)
{
    if (!gh_api_csrf_origin_or_reply(app, req))
        return false;
    /* 2. A header a cross-site form or a simple request cannot send (CORS would need a
     * preflight, which only listed origins pass); bound to the session when there is one. */
    const char *tok = gh_http_header(req, CSRF_HEADER);
    if (!tok || !tok[0]) {
        reply_csrf(req, "Send the X-CSRF-Token header.", "missing_token");
        return false;
    }
    if (sid) {
        char want[GH_CSRF_TOKEN_MAX + 1];
        gh_api_csrf_token(app, sid, want);
        size_t wl = strlen(want);
        bool ok = strlen(tok) == wl && sodium_memcmp(tok, want, wl) == 0;
        sodium_memzero(want, sizeof want);
        if (!ok) {
            reply_csrf(req, "The X-CSRF-Token header does not match this session.",
                       "bad_token");
            return false;
        }
    }
    return true;
}

bool gh_api_method_is_safe(struct gh_http_req *req)
{
    const char *m = gh_http_method(req);
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0;
}

static void reply_session(const struct gh_app *app, struct gh_http_req *req, const char *user_id,
                          const char *sid, int64_t expires_in, bool admin)
{
    char csrf[GH_CSRF_TOKEN_MAX + 1];
    gh_api_csrf_token(app, sid, csrf);
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:b}", "user_id", user_id, "session_id", sid,
                          "expires_in", (json_int_t)expires_in, "csrf_token", csrf, "admin",
                          admin);
    sodium_memzero(csrf, sizeof csrf);
    if (!o) {
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
        return;
    }
    gh_http_reply_json(req, 200, o);
}

void gh_api_reply_browser_session(const struct gh_app *app, struct gh_http_req *req,
                                  bool secure, const char *user_id,
                                  const struct gh_token_pair *p, bool admin)
{
    set_session_cookie(app, req, secure, p->access_token, (long)p->expires_in);
    set_refresh_cookie(app, req, secure, p->refresh_token, app->cfg->session_max_lifetime);
    reply_session(app, req, user_id, p->session_id, p->expires_in, admin);
}

bool gh_api_cookies_secure(const struct gh_app *app, struct gh_http_req *req)
{
    return cookies_secure(app, req);
}

/* POST /v1/session: sign in, cookie mode (the password check runs on the hashing pool). */
void gh_api_session_create(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    static const struct gh_field schema[] = {
        {"email", GH_FIELD_STRING, true, GH_EMAIL_INPUT_MAX},
        {"password", GH_FIELD_STRING, true, GH_PASSWORD_MAX_BYTES},
    };
    /* Login CSRF: an attacker's page must not sign the victim in to the attacker's account. */
    if (!gh_api_csrf_check_or_reply(app, req, NULL))
        return;
    json_t *body = NULL;
    if (gh_http_body_or_reply(req, schema, 2, &body) != GH_OK)
        return;
    gh_api_login_start(app, req, json_object_get(body, "email"), json_object_get(body, "password"),
                       NULL, GH_LOGIN_COOKIE);
    gh_api_body_free(body);
}

/* GET /v1/session: who is signed in, and the CSRF token for this session. */
void gh_api_session_get(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    struct gh_jwt_claims claims;
    struct gh_session ss;
    struct gh_user u;
    if (gh_api_authenticate_or_reply(app, req, &claims, &ss, NULL) != GH_OK)
        return;
    /* The role comes from storage, never from a token or a cache. */
    memset(&u, 0, sizeof u);
    bool admin = gh_store_user_get(app->store, claims.sub, &u) == GH_OK && gh_api_user_is_admin(&u);
    sodium_memzero(&u, sizeof u);
    int64_t left = claims.exp - gh_now();
    reply_session(app, req, claims.sub, ss.id, left > 0 ? left : 0, admin);
}

/* POST /v1/session/refresh: rotate the refresh cookie, issue a new session cookie. */
void gh_api_session_refresh(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    if (!gh_api_csrf_check_or_reply(app, req, NULL))
        return;
    const char *tok = refresh_cookie(app, req);
    if (!tok) {
        gh_http_reply_problem(req, 401, "unauthenticated", "Not authenticated",
                              "There is no session to refresh; sign in again.", NULL);
        return;
    }
    struct gh_token_pair pair;
    struct gh_session ss;
    gh_err rc = gh_api_refresh(app, req, tok, strlen(tok), &pair, &ss);
    if (rc != GH_OK) {
        if (rc == GH_ERR_AUTH) {
            gh_api_clear_session_cookies(app, req);
            gh_http_reply_problem(req, 401, "unauthenticated", "Not authenticated",
                                  "The session has ended; sign in again.", NULL);
        } else {
            gh_http_reply_error(req, rc, NULL);
        }
        return;
    }
    struct gh_user u;
    memset(&u, 0, sizeof u);
    bool admin = gh_store_user_get(app->store, ss.user_id, &u) == GH_OK && gh_api_user_is_admin(&u);
    sodium_memzero(&u, sizeof u);
    gh_api_reply_browser_session(app, req, cookies_secure(app, req), ss.user_id, &pair, admin);
    gh_token_pair_release(&pair);
}

/* DELETE /v1/session: sign out (cookie; the CSRF check runs in the authentication). */
void gh_api_session_delete(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    struct gh_jwt_claims claims;
    struct gh_session ss;
    if (gh_api_authenticate_or_reply(app, req, &claims, &ss, NULL) != GH_OK) {
        return;
    }
    gh_err rc = gh_api_end_session(app, req, &ss, claims.sub);
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    gh_api_clear_session_cookies(app, req);
    gh_http_reply_json(req, 204, NULL);
}

bool gh_api_user_is_admin(const struct gh_user *u)
{
    return u && u->admin;
}
