/* Integration: browser sessions. Cookie attributes (HttpOnly, SameSite, Path, Secure and the
 * __Host-/__Secure- prefixes decided by TLS or a trusted proxy, never by a client's header),
 * no token in any body, the cookie accepted in place of Bearer, refresh rotation and reuse,
 * sign-out; and the CSRF defence: foreign Origin, cross-site Sec-Fetch-Site, a missing, wrong
 * or other session's X-CSRF-Token are all refused with 403 and change nothing. Also the
 * built-in pages: served with the strict page CSP; and a GATEHOUSE_COOKIE_DOMAIN that is not a
 * plain domain name stops start-up with a message naming the variable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"

#define PW "Vq7-larch-Mosaic-quill-4812"
#define PW2 "Oak-lantern-Drift-9137-quorum"
#define ORIGIN "https://auth.example.test"
#define APP_ORIGIN "https://app.example.test"

/* dev: plain HTTP, no trusted proxy. proxied: behind a trusted TLS proxy. shared: also with
 * GATEHOUSE_COOKIE_DOMAIN. */
static struct h_server dev, proxied, shared;

static int group_setup(void **state)
{
    (void)state;
    const char *dev_env[] = {"GATEHOUSE_PUBLIC_URL=" ORIGIN,
                             "GATEHOUSE_CORS_ORIGINS=" APP_ORIGIN, NULL};
    const char *proxied_env[] = {"GATEHOUSE_PUBLIC_URL=" ORIGIN,
                                 "GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32", NULL};
    const char *shared_env[] = {"GATEHOUSE_PUBLIC_URL=" ORIGIN "/auth",
                                "GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32",
                                "GATEHOUSE_COOKIE_DOMAIN=example.test", NULL};
    if (h_server_start(&dev, dev_env) != 0 || h_server_start(&proxied, proxied_env) != 0 ||
        h_server_start(&shared, shared_env) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = h_server_stop(&dev) | h_server_stop(&proxied) | h_server_stop(&shared);
    h_server_free(&dev);
    h_server_free(&proxied);
    h_server_free(&shared);
    return rc == 0 ? 0 : -1;
}

/* The Set-Cookie header whose cookie is called name (NULL if none). */
static const char *set_cookie(const struct h_response *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, "Set-Cookie") == 0 &&
            strncmp(r->headers[i].value, name, n) == 0 && r->headers[i].value[n] == '=')
            return r->headers[i].value;
    return NULL;
}

static size_t count_set_cookies(const struct h_response *r)
{
    size_t k = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        k += strcasecmp(r->headers[i].name, "Set-Cookie") == 0;
    return k;
}

/* The value of a Set-Cookie line (up to ';'), into out. */
static void cookie_value(const char *line, char *out, size_t size)
{
    const char *eq = strchr(line, '=');
    assert_non_null(eq);
    size_t len = strcspn(eq + 1, ";");
    assert_true(len < size);
    memcpy(out, eq + 1, len);
    out[len] = '\0';
}

static bool has_attr(const char *line, const char *attr)
{
    char pat[128];
    snprintf(pat, sizeof pat, "; %s", attr);
    const char *p = strstr(line, pat);
    return p && (p[strlen(pat)] == ';' || p[strlen(pat)] == '\0');
}

struct browser {
    char email[128];
    char session_cookie[40];
    char refresh_cookie[40];
    char session[1200]; /* the session cookie's value (an access token) */
    char refresh[128];
    char csrf[64];
    char user_id[64];
};

/* Sign in through POST /v1/session with the browser's headers; asserts success and that no
 * token is in the body. */
static void sign_in(const struct h_server *s, const char *xfp, struct browser *b,
                    const char *session_cookie, const char *refresh_cookie)
{
    char body[512], xfph[64];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", b->email, PW);
    snprintf(xfph, sizeof xfph, "X-Forwarded-Proto: %s", xfp ? xfp : "http");
    const char *hdrs[] = {"Origin: " ORIGIN, "X-CSRF-Token: 1", "Sec-Fetch-Site: same-origin",
                          xfph, NULL};
    struct h_response r;
    assert_int_equal(
        h_request(s, "POST", "/v1/session", hdrs, body, SIZE_MAX, "application/json", &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(json_object_get(r.json, "access_token"));
    assert_null(json_object_get(r.json, "refresh_token"));
    assert_null(json_object_get(r.json, "token_type"));
    const char *sc = set_cookie(&r, session_cookie);
    const char *rc = set_cookie(&r, refresh_cookie);
    assert_non_null(sc);
    assert_non_null(rc);
    snprintf(b->session_cookie, sizeof b->session_cookie, "%s", session_cookie);
    snprintf(b->refresh_cookie, sizeof b->refresh_cookie, "%s", refresh_cookie);
    cookie_value(sc, b->session, sizeof b->session);
    cookie_value(rc, b->refresh, sizeof b->refresh);
    /* Neither token appears anywhere in the body. */
    assert_null(strstr(r.body, b->session));
    assert_null(strstr(r.body, b->refresh));
    snprintf(b->csrf, sizeof b->csrf, "%s",
             json_string_value(json_object_get(r.json, "csrf_token")));
    snprintf(b->user_id, sizeof b->user_id, "%s",
             json_string_value(json_object_get(r.json, "user_id")));
    assert_int_equal(strlen(b->csrf), 43);
    assert_false(json_boolean_value(json_object_get(r.json, "admin")));
    h_response_free(&r);
}

static void new_browser(const struct h_server *s, const char *tag, struct browser *b)
{
    memset(b, 0, sizeof *b);
    h_unique_email(tag, b->email, sizeof b->email);
    assert_int_equal(h_register(s, b->email, PW, NULL, NULL), 201);
}

/* A request carrying the browser's session cookie plus extra headers (NULL-terminated). */
static long with_cookie(const struct h_server *s, const struct browser *b, const char *method,
                        const char *path, const char *const *extra, const char *json,
                        struct h_response *out)
{
    char cookie[1400];
    snprintf(cookie, sizeof cookie, "Cookie: %s=%s", b->session_cookie, b->session);
    const char *hdrs[12] = {cookie};
    size_t n = 1;
    for (size_t i = 0; extra && extra[i] && n < 11; i++)
        hdrs[n++] = extra[i];
    hdrs[n] = NULL;
    struct h_response r;
    struct h_response *rp = out ? out : &r;
    assert_int_equal(h_request(s, method, path, hdrs, json, json ? SIZE_MAX : 0,
                               json ? "application/json" : NULL, rp),
                     0);
    long st = rp->status;
    if (!out)
        h_response_free(&r);
    return st;
}

static void test_dev_http_cookies(void **state)
{
    (void)state;
    struct browser b;
    new_browser(&dev, "dev", &b);
    /* A client's own X-Forwarded-Proto is not believed: still plain HTTP cookies. */
    sign_in(&dev, "https", &b, "gh_session", "gh_refresh");
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", b.email, PW);
    const char *hdrs[] = {"Origin: " ORIGIN, "X-CSRF-Token: 1", NULL};
    struct h_response r;
    assert_int_equal(
        h_request(&dev, "POST", "/v1/session", hdrs, body, SIZE_MAX, "application/json", &r), 0);
    assert_int_equal(r.status, 200);
    const char *sc = set_cookie(&r, "gh_session");
    const char *rc = set_cookie(&r, "gh_refresh");
    assert_true(has_attr(sc, "HttpOnly"));
    assert_true(has_attr(sc, "SameSite=Lax"));
    assert_true(has_attr(sc, "Path=/"));
    assert_false(has_attr(sc, "Secure"));
    assert_null(strstr(sc, "Domain="));
    assert_true(has_attr(rc, "HttpOnly"));
    assert_true(has_attr(rc, "SameSite=Strict"));
    assert_true(has_attr(rc, "Path=/v1/session/refresh"));
    assert_null(set_cookie(&r, "__Host-gh_session"));
    h_assert_security_headers(&r);
    assert_string_equal(h_header(&r, "Cache-Control"), "no-store");
    h_response_free(&r);
}

static void test_secure_cookies_behind_trusted_proxy(void **state)
{
    (void)state;
    struct browser b;
    new_browser(&proxied, "proxied", &b);
    sign_in(&proxied, "https", &b, "__Host-gh_session", "__Secure-gh_refresh");
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", b.email, PW);
    const char *hdrs[] = {"Origin: " ORIGIN, "X-CSRF-Token: 1", "X-Forwarded-Proto: https", NULL};
    struct h_response r;
    assert_int_equal(h_request(&proxied, "POST", "/v1/session", hdrs, body, SIZE_MAX,
                               "application/json", &r),
                     0);
    assert_int_equal(r.status, 200);
    const char *sc = set_cookie(&r, "__Host-gh_session");
    const char *rc = set_cookie(&r, "__Secure-gh_refresh");
    assert_non_null(sc);
    assert_non_null(rc);
    /* __Host-: Secure, Path=/, no Domain. */
    assert_true(has_attr(sc, "Secure"));
    assert_true(has_attr(sc, "HttpOnly"));
    assert_true(has_attr(sc, "Path=/"));
    assert_true(has_attr(sc, "SameSite=Lax"));
    assert_null(strstr(sc, "Domain="));
    assert_true(has_attr(rc, "Secure"));
    assert_true(has_attr(rc, "HttpOnly"));
    assert_true(has_attr(rc, "Path=/v1/session/refresh"));
    /* No plain-named cookie alongside. */
    assert_null(set_cookie(&r, "gh_session"));
    assert_non_null(h_header(&r, "Strict-Transport-Security"));
    h_response_free(&r);
    /* The prefixed cookie works for the API and forward-auth. */
    assert_int_equal(with_cookie(&proxied, &b, "GET", "/v1/me", NULL, NULL, NULL), 200);
    assert_int_equal(with_cookie(&proxied, &b, "GET", "/v1/auth/check", NULL, NULL, &r), 200);
    assert_string_equal(h_header(&r, "X-Auth-User-Id"), b.user_id);
    h_response_free(&r);
}

static void test_cookie_domain_and_prefix(void **state)
{
    (void)state;
    struct browser b;
    new_browser(&shared, "shared", &b);
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", b.email, PW);
    const char *hdrs[] = {"Origin: " ORIGIN, "X-CSRF-Token: 1", "X-Forwarded-Proto: https", NULL};
    struct h_response r;
    assert_int_equal(h_request(&shared, "POST", "/v1/session", hdrs, body, SIZE_MAX,
                               "application/json", &r),
                     0);
    assert_int_equal(r.status, 200);
    /* With a cookie domain the session cookie cannot be __Host-: it is __Secure- with Domain. */
    assert_null(set_cookie(&r, "__Host-gh_session"));
    const char *sc = set_cookie(&r, "__Secure-gh_session");
    assert_non_null(sc);
    assert_non_null(strstr(sc, "; Domain=example.test"));
    assert_true(has_attr(sc, "Secure"));
    assert_true(has_attr(sc, "Path=/"));
    /* The refresh cookie stays host-only, under the public URL's path prefix. */
    const char *rc = set_cookie(&r, "__Secure-gh_refresh");
    assert_non_null(rc);
    assert_null(strstr(rc, "Domain="));
    assert_true(has_attr(rc, "Path=/auth/v1/session/refresh"));
    char v[1200];
    cookie_value(sc, v, sizeof v);
    h_response_free(&r);
    char cookie[1300];
    snprintf(cookie, sizeof cookie, "Cookie: __Secure-gh_session=%s", v);
    const char *h2[] = {cookie, NULL};
    assert_int_equal(h_request(&shared, "GET", "/v1/auth/check", h2, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);
    /* Only the name this deployment issues is read. */
    snprintf(cookie, sizeof cookie, "Cookie: __Host-gh_session=%s", v);
    assert_int_equal(h_request(&shared, "GET", "/v1/auth/check", h2, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    h_response_free(&r);
}

static void test_cookie_session_lifecycle(void **state)
{
    (void)state;
    struct browser b;
    new_browser(&dev, "life", &b);
    sign_in(&dev, NULL, &b, "gh_session", "gh_refresh");
    struct h_response r;
    /* GET /v1/session: who, and the same CSRF token. */
    assert_int_equal(with_cookie(&dev, &b, "GET", "/v1/session", NULL, NULL, &r), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "csrf_token")), b.csrf);
    assert_string_equal(json_string_value(json_object_get(r.json, "user_id")), b.user_id);
    h_response_free(&r);
    assert_int_equal(with_cookie(&dev, &b, "GET", "/v1/me", NULL, NULL, &r), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "email")), b.email);
    h_response_free(&r);
    /* Refresh: the refresh cookie rotates, a new session cookie comes with it. */
    char rcookie[200];
    snprintf(rcookie, sizeof rcookie, "Cookie: gh_refresh=%s", b.refresh);
    const char *rh[] = {rcookie, "X-CSRF-Token: 1", "Origin: " ORIGIN, NULL};
    assert_int_equal(h_request(&dev, "POST", "/v1/session/refresh", rh, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    const char *nr = set_cookie(&r, "gh_refresh");
    const char *ns = set_cookie(&r, "gh_session");
    assert_non_null(nr);
    assert_non_null(ns);
    char newref[128];
    cookie_value(nr, newref, sizeof newref);
    assert_string_not_equal(newref, b.refresh);
    assert_null(strstr(r.body, newref));
    cookie_value(ns, b.session, sizeof b.session);
    /* Same session, same CSRF token. */
    assert_string_equal(json_string_value(json_object_get(r.json, "csrf_token")), b.csrf);
    h_response_free(&r);
    assert_int_equal(with_cookie(&dev, &b, "GET", "/v1/me", NULL, NULL, NULL), 200);
    /* Refresh without the CSRF header: refused, nothing rotated. */
    snprintf(rcookie, sizeof rcookie, "Cookie: gh_refresh=%s", newref);
    const char *rh_nocsrf[] = {rcookie, "Origin: " ORIGIN, NULL};
    assert_int_equal(
        h_request(&dev, "POST", "/v1/session/refresh", rh_nocsrf, NULL, 0, NULL, &r), 0);
    h_assert_problem(&dev, &r, 403);
    h_response_free(&r);
    /* The old refresh cookie again: reuse. 401, cookies cleared, and the whole session ends. */
    snprintf(rcookie, sizeof rcookie, "Cookie: gh_refresh=%s", b.refresh);
    assert_int_equal(h_request(&dev, "POST", "/v1/session/refresh", rh, NULL, 0, NULL, &r), 0);
    h_assert_problem(&dev, &r, 401);
    const char *cleared = set_cookie(&r, "gh_session");
    assert_non_null(cleared);
    assert_non_null(strstr(cleared, "Max-Age=0"));
    assert_non_null(set_cookie(&r, "gh_refresh"));
    h_response_free(&r);
    assert_int_equal(with_cookie(&dev, &b, "GET", "/v1/me", NULL, NULL, NULL), 401);
    snprintf(rcookie, sizeof rcookie, "Cookie: gh_refresh=%s", newref);
    assert_int_equal(h_request(&dev, "POST", "/v1/session/refresh", rh, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    h_response_free(&r);
    /* No refresh cookie at all. */
    const char *none[] = {"X-CSRF-Token: 1", NULL};
    assert_int_equal(h_request(&dev, "POST", "/v1/session/refresh", none, NULL, 0, NULL, &r), 0);
    h_assert_problem(&dev, &r, 401);
    h_response_free(&r);
}

static void test_sign_out(void **state)
{
    (void)state;
    struct browser b;
    new_browser(&dev, "out", &b);
    sign_in(&dev, NULL, &b, "gh_session", "gh_refresh");
    char tok[80];
    snprintf(tok, sizeof tok, "X-CSRF-Token: %s", b.csrf);
    const char *ok[] = {tok, "Origin: " ORIGIN, NULL};
    struct h_response r;
    assert_int_equal(with_cookie(&dev, &b, "DELETE", "/v1/session", ok, NULL, &r), 204);
    assert_non_null(strstr(set_cookie(&r, "gh_session"), "Max-Age=0"));
    assert_non_null(strstr(set_cookie(&r, "gh_refresh"), "Max-Age=0"));
    h_response_free(&r);
    assert_int_equal(with_cookie(&dev, &b, "GET", "/v1/me", NULL, NULL, NULL), 401);
    assert_int_equal(with_cookie(&dev, &b, "GET", "/v1/session", NULL, NULL, NULL), 401);
    assert_int_equal(with_cookie(&dev, &b, "GET", "/v1/auth/check", NULL, NULL, NULL), 401);
    /* POST /v1/logout with the cookie works too (and is CSRF-checked). */
    struct browser c;
    new_browser(&dev, "out2", &c);
    sign_in(&dev, NULL, &c, "gh_session", "gh_refresh");
    assert_int_equal(with_cookie(&dev, &c, "POST", "/v1/logout", NULL, NULL, NULL), 403);
    assert_int_equal(with_cookie(&dev, &c, "GET", "/v1/me", NULL, NULL, NULL), 200);
    snprintf(tok, sizeof tok, "X-CSRF-Token: %s", c.csrf);
    assert_int_equal(with_cookie(&dev, &c, "POST", "/v1/logout", ok, NULL, &r), 204);
    assert_non_null(set_cookie(&r, "gh_session"));
    h_response_free(&r);
    assert_int_equal(with_cookie(&dev, &c, "GET", "/v1/me", NULL, NULL, NULL), 401);
}

static void test_login_csrf(void **state)
{
    (void)state;
    struct browser b;
    new_browser(&dev, "lcsrf", &b);
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", b.email, PW);
    struct h_response r;
    const char *cases[][4] = {
        /* no custom header: a cross-site form or fetch without preflight */
        {"Origin: " ORIGIN, NULL, NULL, NULL},
        /* a foreign origin, even with the header */
        {"Origin: https://evil.example", "X-CSRF-Token: 1", NULL, NULL},
        {"Origin: null", "X-CSRF-Token: 1", NULL, NULL},
        /* a sibling origin that is not listed */
        {"Origin: https://evil.example.test", "X-CSRF-Token: 1", NULL, NULL},
        /* no Origin, but the browser says cross-site */
        {"Sec-Fetch-Site: cross-site", "X-CSRF-Token: 1", NULL, NULL},
        {"Sec-Fetch-Site: same-site", "X-CSRF-Token: 1", NULL, NULL},
        {"X-CSRF-Token: ", NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(h_request(&dev, "POST", "/v1/session", cases[i], body, SIZE_MAX,
                                   "application/json", &r),
                         0);
        h_assert_problem(&dev, &r, 403);
        assert_non_null(strstr(json_string_value(json_object_get(r.json, "type")), "csrf"));
        assert_int_equal(count_set_cookies(&r), 0);
        h_response_free(&r);
    }
    /* A cross-site HTML form post (urlencoded, no custom header): refused before anything. */
    char form[512];
    snprintf(form, sizeof form, "email=%s&password=%s", b.email, PW);
    const char *fh[] = {"Origin: https://evil.example", "Sec-Fetch-Site: cross-site", NULL};
    assert_int_equal(h_request(&dev, "POST", "/v1/session", fh, form, SIZE_MAX,
                               "application/x-www-form-urlencoded", &r),
                     0);
    assert_int_equal(r.status, 403);
    assert_int_equal(count_set_cookies(&r), 0);
    h_response_free(&r);
    /* A listed CORS origin may sign in (the page of an app on another origin). */
    const char *app[] = {"Origin: " APP_ORIGIN, "X-CSRF-Token: 1", NULL};
    assert_int_equal(
        h_request(&dev, "POST", "/v1/session", app, body, SIZE_MAX, "application/json", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(h_header(&r, "Access-Control-Allow-Origin"), APP_ORIGIN);
    h_response_free(&r);
    /* A non-browser client (no Origin, no Sec-Fetch-Site) with the header. */
    const char *cli[] = {"X-CSRF-Token: 1", NULL};
    assert_int_equal(
        h_request(&dev, "POST", "/v1/session", cli, body, SIZE_MAX, "application/json", &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);
}

static void test_state_change_csrf(void **state)
{
    (void)state;
    struct browser b, other;
    new_browser(&dev, "scsrf", &b);
    sign_in(&dev, NULL, &b, "gh_session", "gh_refresh");
    new_browser(&dev, "scsrf-other", &other);
    sign_in(&dev, NULL, &other, "gh_session", "gh_refresh");
    char pwbody[256];
    snprintf(pwbody, sizeof pwbody, "{\"current_password\":\"%s\",\"new_password\":\"%s\"}", PW,
             PW2);
    char good[80], others[80];
    snprintf(good, sizeof good, "X-CSRF-Token: %s", b.csrf);
    snprintf(others, sizeof others, "X-CSRF-Token: %s", other.csrf);
    char wrong[80];
    snprintf(wrong, sizeof wrong, "X-CSRF-Token: %s", b.csrf);
    wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'A' ? 'B' : 'A';
    const char *refused[][3] = {
        {NULL, NULL, NULL},                           /* no token */
        {"X-CSRF-Token: 1", NULL, NULL},              /* not this session's token */
        {wrong, NULL, NULL},                          /* one character off */
        {others, NULL, NULL},                         /* another session's token */
        {good, "Origin: https://evil.example", NULL}, /* right token, foreign origin */
        {good, "Sec-Fetch-Site: cross-site", NULL},
    };
    struct h_response r;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(
            with_cookie(&dev, &b, "PUT", "/v1/me/password", refused[i], pwbody, &r), 403);
        h_assert_problem(&dev, &r, 403);
        h_response_free(&r);
    }
    /* Nothing changed: the old password still signs in, the session still works. */
    struct h_tokens t;
    assert_int_equal(h_login(&dev, b.email, PW, &t), 200);
    assert_int_equal(with_cookie(&dev, &b, "GET", "/v1/me", NULL, NULL, NULL), 200);
    /* Session revocation by cookie needs the token too. */
    char path[128];
    json_t *claims = h_jwt_part(t.access, 1);
    snprintf(path, sizeof path, "/v1/me/sessions/%s",
             json_string_value(json_object_get(claims, "sid")));
    json_decref(claims);
    assert_int_equal(with_cookie(&dev, &b, "DELETE", path, NULL, NULL, NULL), 403);
    assert_int_equal(h_me_status(&dev, t.access), 200);
    /* A Bearer request needs no CSRF token (browsers never add Authorization themselves). */
    const char *evil[] = {"Origin: https://evil.example", NULL};
    char auth[1100];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.access);
    const char *bearer[] = {auth, evil[0], NULL};
    assert_int_equal(h_request(&dev, "GET", "/v1/me", bearer, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);
    /* With the right token and origin it works. */
    const char *ok[] = {good, "Origin: " ORIGIN, NULL};
    assert_int_equal(with_cookie(&dev, &b, "DELETE", path, ok, NULL, NULL), 204);
    assert_int_equal(h_me_status(&dev, t.access), 401);
    assert_int_equal(with_cookie(&dev, &b, "PUT", "/v1/me/password", ok, pwbody, NULL), 204);
    assert_int_equal(h_login(&dev, b.email, PW2, &t), 200);
}

static void test_forged_cookies(void **state)
{
    (void)state;
    struct browser b;
    new_browser(&dev, "forged", &b);
    sign_in(&dev, NULL, &b, "gh_session", "gh_refresh");
    struct browser f = b;
    /* Flip one character of the signature; then garbage; then a refresh token as session. */
    size_t n = strlen(f.session);
    f.session[n - 2] = f.session[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(with_cookie(&dev, &f, "GET", "/v1/me", NULL, NULL, NULL), 401);
    snprintf(f.session, sizeof f.session, "%s", "not.a.jwt");
    assert_int_equal(with_cookie(&dev, &f, "GET", "/v1/me", NULL, NULL, NULL), 401);
    snprintf(f.session, sizeof f.session, "%s", b.refresh);
    assert_int_equal(with_cookie(&dev, &f, "GET", "/v1/auth/check", NULL, NULL, NULL), 401);
    /* A session token sent as the refresh cookie is not a refresh token. */
    char rc[1300];
    snprintf(rc, sizeof rc, "Cookie: gh_refresh=%s", b.session);
    const char *h[] = {rc, "X-CSRF-Token: 1", NULL};
    struct h_response r;
    assert_int_equal(h_request(&dev, "POST", "/v1/session/refresh", h, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    h_response_free(&r);
    assert_int_equal(with_cookie(&dev, &b, "GET", "/v1/me", NULL, NULL, NULL), 200);
}

static void test_pages_csp(void **state)
{
    (void)state;
    struct h_response r;
    const char *pages[] = {"/", "/signin", "/signup", "/account", "/admin"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        assert_int_equal(h_get(&dev, pages[i], NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(h_header(&r, "Content-Type"), "text/html"));
        assert_string_equal(h_header(&r, "Content-Security-Policy"),
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                            "form-action 'self'");
        assert_string_equal(h_header(&r, "X-Frame-Options"), "DENY");
        assert_string_equal(h_header(&r, "X-Content-Type-Options"), "nosniff");
        /* No inline script or style in the pages themselves. */
        assert_null(strstr(r.body, "<script>"));
        assert_null(strstr(r.body, "style="));
        assert_null(strstr(r.body, "<style"));
        assert_null(strstr(r.body, "onclick"));
        h_response_free(&r);
    }
    assert_int_equal(h_get(&dev, "/static/app.css", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(h_header(&r, "Content-Type"), "text/css"));
    h_response_free(&r);
    /* Nothing outside the embedded set: no traversal, no directory listing. */
    const char *missing[] = {"/static/", "/static/../signin", "/static/%2e%2e/app.css",
                             "/static/nope.js", "/signin.html", "/web/signin.html"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        assert_int_equal(h_get(&dev, missing[i], NULL, &r), 0);
        h_assert_problem(&dev, &r, 404);
        h_response_free(&r);
    }
    /* Pages are GET/HEAD only. */
    assert_int_equal(h_request(&dev, "POST", "/signin", NULL, "x", 1, "text/plain", &r), 0);
    assert_true(r.status == 404 || r.status == 405);
    h_response_free(&r);
}

/* A cookie Domain that could smuggle attributes (';'), is no domain ('.', spaces, a scheme or
 * port) or that browsers would ignore (upper case, a leading dot, a single label) is refused
 * before the server binds: exit non-zero, the variable named, the server never answering. */
static void test_cookie_domain_invalid_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"evil.com;",        "example.test; Secure",
                                      ".",                "a b",
                                      "Example.test",     ".example.test",
                                      "example.test:443", "https://example.test",
                                      "localhost",        "other.test",
                                      "ample.test"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char domain[128];
        snprintf(domain, sizeof domain, "GATEHOUSE_COOKIE_DOMAIN=%s", bad[i]);
        const char *env[] = {"GATEHOUSE_PUBLIC_URL=" ORIGIN,
                             "GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32", domain, NULL};
        struct h_server s;
        if (h_server_start(&s, env) == 0) {
            h_server_stop(&s);
            h_server_free(&s);
            fail_msg("GATEHOUSE_COOKIE_DOMAIN=\"%s\" was accepted", bad[i]);
        }
        assert_true(s.stopped);
        assert_true(WIFEXITED(s.exit_status));
        assert_int_not_equal(WEXITSTATUS(s.exit_status), 0);
        char *log = h_read_file(s.log_path, NULL);
        assert_non_null(log);
        if (!strstr(log, "GATEHOUSE_COOKIE_DOMAIN:"))
            fail_msg("no message naming GATEHOUSE_COOKIE_DOMAIN for \"%s\": %s", bad[i], log);
        /* Refused before binding: the server never said it was listening. */
        assert_null(strstr(log, "\"event\":\"listening\""));
        free(log);
        h_server_free(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dev_http_cookies),
        cmocka_unit_test(test_secure_cookies_behind_trusted_proxy),
        cmocka_unit_test(test_cookie_domain_and_prefix),
        cmocka_unit_test(test_cookie_session_lifecycle),
        cmocka_unit_test(test_sign_out),
        cmocka_unit_test(test_login_csrf),
        cmocka_unit_test(test_state_change_csrf),
        cmocka_unit_test(test_forged_cookies),
        cmocka_unit_test(test_pages_csp),
        cmocka_unit_test(test_cookie_domain_invalid_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
