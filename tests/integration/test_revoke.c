/* Integration: POST /v1/revoke (RFC 7009). A service holding a user's tokens revokes a refresh
 * or an access token with its introspection credentials (the previous secret too, during a
 * rotation); the whole session ends: /v1/me refuses the access token, the refresh token is
 * dead and introspection says inactive. From the attacker's side: wrong or missing client
 * credentials are 401 and revoke nothing; unknown, forged or already revoked tokens get the
 * same empty 200, so the endpoint reveals nothing about tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define PW "revocation passphrase cobalt meadow"
/* base64("api-one:s3cret-one-value"), base64("api-one:old-secret-value"), … (coreutils). */
#define GOOD "YXBpLW9uZTpzM2NyZXQtb25lLXZhbHVl"
#define PREVIOUS "YXBpLW9uZTpvbGQtc2VjcmV0LXZhbHVl"
#define WRONG "YXBpLW9uZTp3cm9uZw=="               /* api-one:wrong */
#define SWAPPED "YXBpLXR3bzpzM2NyZXQtb25lLXZhbHVl" /* api-two:s3cret-one-value */

static struct h_server srv;

static int group_setup(void **state)
{
    (void)state;
    const char *env[] = {"GATEHOUSE_INTROSPECTION_CLIENTS=api-one:s3cret-one-value,"
                         "api-two:s3cret-two-value",
                         "GATEHOUSE_INTROSPECTION_CLIENTS_PREVIOUS=api-one:old-secret-value", NULL};
    return h_server_start(&srv, env);
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = h_server_stop(&srv);
    h_server_free(&srv);
    return rc == 0 ? 0 : -1;
}

static long post_basic(const char *path, const char *basic, const char *body, const char *ctype,
                       struct h_response *r)
{
    char auth[256];
    const char *hdr[] = {NULL, NULL};
    if (basic) {
        snprintf(auth, sizeof auth, "Authorization: Basic %s", basic);
        hdr[0] = auth;
    }
    assert_int_equal(h_request(&srv, "POST", path, hdr, body, strlen(body), ctype, r), 0);
    return r->status;
}

/* POST /v1/revoke; asserts the RFC 7009 success shape (200, no body) when status is 200. */
static long revoke(const char *basic, const char *body, const char *ctype)
{
    struct h_response r;
    long st = post_basic("/v1/revoke", basic, body, ctype, &r);
    if (st == 200) {
        assert_int_equal(r.body_len, 0);
        h_assert_security_headers(&r);
        assert_string_equal(h_header(&r, "Cache-Control"), "no-store");
    } else if (st == 401) {
        h_assert_problem(&srv, &r, 401);
        assert_string_equal(json_string_value(json_object_get(r.json, "error")), "invalid_client");
        assert_non_null(h_header(&r, "WWW-Authenticate"));
    }
    h_response_free(&r);
    return st;
}

static long revoke_json(const char *basic, const char *token, const char *hint)
{
    json_t *b = json_pack("{s:s}", "token", token);
    if (hint)
        json_object_set_new(b, "token_type_hint", json_string(hint));
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    long st = revoke(basic, text, "application/json");
    free(text);
    return st;
}

static bool introspect_active(const char *access)
{
    char body[1200];
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", access);
    struct h_response r;
    assert_int_equal(post_basic("/v1/introspect", GOOD, body, "application/json", &r), 200);
    bool active = json_is_true(json_object_get(r.json, "active"));
    if (!active)
        assert_int_equal(json_object_size(r.json), 1);
    h_response_free(&r);
    return active;
}

/* The session of t is over, everywhere. */
static void assert_session_dead(const struct h_tokens *t)
{
    assert_int_equal(h_me_status(&srv, t->access), 401);
    assert_false(introspect_active(t->access));
    assert_int_equal(h_refresh(&srv, t->refresh, NULL), 401);
}

static void assert_session_alive(const struct h_tokens *t)
{
    assert_int_equal(h_me_status(&srv, t->access), 200);
    assert_true(introspect_active(t->access));
}

static void test_revoke_refresh_token(void **state)
{
    (void)state;
    char email[128], form[256];
    struct h_tokens t, other;
    h_user_session(&srv, "rv-refresh", PW, email, sizeof email, &t);
    assert_int_equal(h_login(&srv, email, PW, &other), 200);
    assert_session_alive(&t);
    snprintf(form, sizeof form, "token=%s&token_type_hint=refresh_token", t.refresh);
    assert_int_equal(revoke(GOOD, form, "application/x-www-form-urlencoded"), 200);
    /* The refresh token and every access token of its session. */
    assert_session_dead(&t);
    /* The same user's other session is untouched. */
    assert_session_alive(&other);
    /* Again: already revoked is still a plain 200. */
    assert_int_equal(revoke(GOOD, form, "application/x-www-form-urlencoded"), 200);
}

static void test_revoke_access_token(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens t, other;
    h_user_session(&srv, "rv-access", PW, email, sizeof email, &t);
    assert_int_equal(h_login(&srv, email, PW, &other), 200);
    assert_int_equal(revoke_json(GOOD, t.access, "access_token"), 200);
    /* The access token's session (sid) ends: its refresh token too. */
    assert_session_dead(&t);
    assert_session_alive(&other);
    assert_int_equal(revoke_json(GOOD, t.access, NULL), 200);
}

static void test_hint_is_only_a_hint(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens a, b;
    /* A wrong hint: the other kind is searched too (RFC 7009 §2.1). */
    h_user_session(&srv, "rv-hint", PW, email, sizeof email, &a);
    assert_int_equal(revoke_json(GOOD, a.access, "refresh_token"), 200);
    assert_session_dead(&a);
    /* An unknown hint is ignored, not an error. */
    h_user_session(&srv, "rv-hint2", PW, email, sizeof email, &b);
    assert_int_equal(revoke_json(GOOD, b.refresh, "id_token"), 200);
    assert_session_dead(&b);
}

static void test_previous_secret_accepted(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens t;
    h_user_session(&srv, "rv-prev", PW, email, sizeof email, &t);
    assert_int_equal(revoke_json(PREVIOUS, t.refresh, NULL), 200);
    assert_session_dead(&t);
}

static void test_bad_client_revokes_nothing(void **state)
{
    (void)state;
    char email[128], form[256];
    struct h_tokens t;
    h_user_session(&srv, "rv-attacker", PW, email, sizeof email, &t);
    snprintf(form, sizeof form, "token=%s", t.refresh);
    assert_int_equal(revoke(NULL, form, "application/x-www-form-urlencoded"), 401);
    assert_int_equal(revoke_json(WRONG, t.refresh, NULL), 401);
    assert_int_equal(revoke_json(SWAPPED, t.access, NULL), 401);
    assert_int_equal(revoke_json("bm90LWJhc2lj", t.access, NULL), 401); /* "not-basic" */
    /* A user's own Bearer token is not a client credential. */
    char auth[1200], body[1200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.access);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", t.access);
    const char *hdr[] = {auth, NULL};
    struct h_response r;
    assert_int_equal(
        h_request(&srv, "POST", "/v1/revoke", hdr, body, strlen(body), "application/json", &r), 0);
    assert_int_equal(r.status, 401);
    h_response_free(&r);
    /* Nothing was revoked by any of that. */
    assert_session_alive(&t);
    struct h_tokens next;
    assert_int_equal(h_refresh(&srv, t.refresh, &next), 200);
}

static void test_unknown_tokens_get_plain_200(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens t;
    h_user_session(&srv, "rv-unknown", PW, email, sizeof email, &t);
    /* Garbage, a refresh-shaped stranger, a forged access token, a refresh token with one
     * character changed: all the same empty 200, and the real session lives on. */
    assert_int_equal(revoke_json(GOOD, "garbage", NULL), 200);
    assert_int_equal(revoke_json(GOOD, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL), 200);
    char forged[1200], near[128];
    snprintf(forged, sizeof forged, "%s", t.access);
    forged[strlen(forged) - 3] = forged[strlen(forged) - 3] == 'A' ? 'B' : 'A';
    assert_int_equal(revoke_json(GOOD, forged, "access_token"), 200);
    snprintf(near, sizeof near, "%s", t.refresh);
    near[0] = near[0] == 'A' ? 'B' : 'A';
    assert_int_equal(revoke_json(GOOD, near, "refresh_token"), 200);
    assert_session_alive(&t);
    /* A missing token is a validation error; a body that is not JSON, 400. */
    struct h_response r;
    assert_int_equal(post_basic("/v1/revoke", GOOD, "{}", "application/json", &r), 422);
    h_assert_problem(&srv, &r, 422);
    h_response_free(&r);
    assert_int_equal(post_basic("/v1/revoke", GOOD, "{\"token\":", "application/json", &r), 400);
    h_assert_problem(&srv, &r, 400);
    h_response_free(&r);
    /* GET is not revocation. */
    assert_int_equal(h_get(&srv, "/v1/revoke", NULL, &r), 0);
    assert_int_equal(r.status, 405);
    h_response_free(&r);
    /* The request log does not carry the token. */
    char *log = h_read_file(srv.log_path, NULL);
    assert_non_null(log);
    assert_null(strstr(log, t.refresh));
    assert_null(strstr(log, t.access));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revoke_refresh_token),
        cmocka_unit_test(test_revoke_access_token),
        cmocka_unit_test(test_hint_is_only_a_hint),
        cmocka_unit_test(test_previous_secret_accepted),
        cmocka_unit_test(test_bad_client_revokes_nothing),
        cmocka_unit_test(test_unknown_tokens_get_plain_200),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
