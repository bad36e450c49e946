/* Integration: accounts end to end — register, login, /v1/me, refresh, logout, sessions list and
 * revoke, password change, health endpoints. One server for the file; every user is fresh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static struct h_server srv;

#define PW "correct horse battery staple"
#define PW2 "a different long passphrase"

static int setup(void **state)
{
    (void)state;
    return h_server_start(&srv, NULL);
}

static int teardown(void **state)
{
    (void)state;
    int code = h_server_stop(&srv);
    h_server_free(&srv);
    if (code != 0)
        fprintf(stderr, "gatehouse exited with %d after SIGTERM\n", code);
    return code == 0 ? 0 : -1;
}

static bool is_b64url_id(const char *s)
{
    if (!s || strlen(s) != 22)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

static bool all_digits(const char *s)
{
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool is_rfc3339_utc(const char *s)
{
    /* 2026-01-02T03:04:05Z */
    return s && strlen(s) == 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[19] == 'Z';
}

static void test_health_endpoints(void **state)
{
    (void)state;
    struct h_response r;
    assert_int_equal(h_get(&srv, "/healthz", NULL, &r), 0);
    h_assert_json_response(&r, 200);
    h_response_free(&r);

    assert_int_equal(h_get(&srv, "/readyz", NULL, &r), 0);
    h_assert_json_response(&r, 200);
    h_response_free(&r);

    assert_int_equal(h_get(&srv, "/no/such/path", NULL, &r), 0);
    h_assert_problem(&srv, &r, 404);
    h_response_free(&r);

    assert_int_equal(h_request(&srv, "DELETE", "/healthz", NULL, NULL, 0, NULL, &r), 0);
    h_assert_problem(&srv, &r, 405);
    h_response_free(&r);

    assert_int_equal(h_get(&srv, "/v1/users", NULL, &r), 0);
    h_assert_problem(&srv, &r, 405);
    h_response_free(&r);
}

static void test_full_flow(void **state)
{
    (void)state;
    char email[128];
    h_unique_email("flow", email, sizeof email);

    /* register */
    struct h_response r;
    assert_int_equal(h_post_json(&srv, "/v1/users", NULL,
                                 json_pack("{s:s,s:s,s:s}", "email", email, "password", PW,
                                           "display_name", "Flow Person"),
                                 &r),
                     0);
    h_assert_json_response(&r, 201);
    const char *id = json_string_value(json_object_get(r.json, "id"));
    assert_true(is_b64url_id(id));
    assert_false(all_digits(id));
    char user_id[32];
    snprintf(user_id, sizeof user_id, "%s", id);
    assert_string_equal(json_string_value(json_object_get(r.json, "email")), email);
    assert_true(is_rfc3339_utc(json_string_value(json_object_get(r.json, "created_at"))));
    assert_null(json_object_get(r.json, "password"));
    assert_null(json_object_get(r.json, "password_hash"));
    h_response_free(&r);

    /* a second user's id is unrelated (not a counter) */
    char email2[128];
    json_t *j2 = NULL;
    h_unique_email("flow2", email2, sizeof email2);
    assert_int_equal(h_register(&srv, email2, PW, NULL, &j2), 201);
    const char *id2 = json_string_value(json_object_get(j2, "id"));
    assert_true(is_b64url_id(id2));
    assert_string_not_equal(id2, user_id);
    json_decref(j2);

    /* login */
    assert_int_equal(h_post_json(&srv, "/v1/token", NULL,
                                 json_pack("{s:s,s:s}", "email", email, "password", PW), &r),
                     0);
    h_assert_json_response(&r, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "token_type")), "Bearer");
    assert_int_equal(json_integer_value(json_object_get(r.json, "expires_in")), 1800);
    const char *at = json_string_value(json_object_get(r.json, "access_token"));
    const char *rt = json_string_value(json_object_get(r.json, "refresh_token"));
    assert_non_null(at);
    assert_non_null(rt);
    struct h_tokens t;
    snprintf(t.access, sizeof t.access, "%s", at);
    snprintf(t.refresh, sizeof t.refresh, "%s", rt);
    h_response_free(&r);

    /* the access token's claims */
    json_t *hdr = h_jwt_part(t.access, 0), *pl = h_jwt_part(t.access, 1);
    assert_non_null(hdr);
    assert_non_null(pl);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "EdDSA");
    assert_non_null(json_string_value(json_object_get(hdr, "kid")));
    assert_string_equal(json_string_value(json_object_get(pl, "sub")), user_id);
    assert_string_equal(json_string_value(json_object_get(pl, "aud")), "gatehouse");
    assert_non_null(json_string_value(json_object_get(pl, "iss")));
    assert_non_null(json_string_value(json_object_get(pl, "jti")));
    assert_non_null(json_string_value(json_object_get(pl, "sid")));
    json_int_t iat = json_integer_value(json_object_get(pl, "iat"));
    json_int_t exp = json_integer_value(json_object_get(pl, "exp"));
    assert_int_equal(exp - iat, 1800);
    json_decref(hdr);
    json_decref(pl);

    /* GET /v1/me */
    assert_int_equal(h_get(&srv, "/v1/me", t.access, &r), 0);
    h_assert_json_response(&r, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")), user_id);
    assert_string_equal(json_string_value(json_object_get(r.json, "email")), email);
    assert_string_equal(json_string_value(json_object_get(r.json, "display_name")), "Flow Person");
    assert_true(is_rfc3339_utc(json_string_value(json_object_get(r.json, "created_at"))));
    assert_null(json_object_get(r.json, "password_hash"));
    /* again, from the session cache's rendered view: the same bytes, the same headers */
    struct h_response again;
    assert_int_equal(h_get(&srv, "/v1/me", t.access, &again), 0);
    h_assert_json_response(&again, 200);
    assert_int_equal(again.body_len, r.body_len);
    assert_memory_equal(again.body, r.body, r.body_len);
    assert_string_equal(h_header(&again, "Content-Type"), h_header(&r, "Content-Type"));
    h_response_free(&again);
    h_response_free(&r);

    /* refresh: a new pair; the old refresh token is dead */
    struct h_tokens t2;
    assert_int_equal(h_post_json(&srv, "/v1/token/refresh", NULL,
                                 json_pack("{s:s}", "refresh_token", t.refresh), &r),
                     0);
    h_assert_json_response(&r, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "token_type")), "Bearer");
    snprintf(t2.access, sizeof t2.access, "%s",
             json_string_value(json_object_get(r.json, "access_token")));
    snprintf(t2.refresh, sizeof t2.refresh, "%s",
             json_string_value(json_object_get(r.json, "refresh_token")));
    h_response_free(&r);
    assert_string_not_equal(t2.refresh, t.refresh);
    assert_string_not_equal(t2.access, t.access);
    assert_int_equal(h_me_status(&srv, t2.access), 200);

    /* logout (Bearer) → 204, then refused */
    const char *auth[] = {NULL, NULL};
    char line[1200];
    snprintf(line, sizeof line, "Authorization: Bearer %s", t2.access);
    auth[0] = line;
    assert_int_equal(h_request(&srv, "POST", "/v1/logout", auth, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    h_assert_security_headers(&r);
    assert_int_equal(r.body_len, 0);
    h_response_free(&r);

    assert_int_equal(h_get(&srv, "/v1/me", t2.access, &r), 0);
    h_assert_problem(&srv, &r, 401);
    assert_non_null(h_header(&r, "WWW-Authenticate"));
    h_response_free(&r);
    /* every access token of the session, not only the one used to log out */
    assert_int_equal(h_me_status(&srv, t.access), 401);
    assert_int_equal(h_refresh(&srv, t2.refresh, NULL), 401);
}

static void test_me_requires_token(void **state)
{
    (void)state;
    struct h_response r;
    assert_int_equal(h_get(&srv, "/v1/me", NULL, &r), 0);
    h_assert_problem(&srv, &r, 401);
    const char *wa = h_header(&r, "WWW-Authenticate");
    assert_non_null(wa);
    assert_true(strncmp(wa, "Bearer", 6) == 0);
    h_response_free(&r);
}

static void test_duplicate_email_case_insensitive(void **state)
{
    (void)state;
    char email[128], upper[128];
    h_unique_email("dup", email, sizeof email);
    assert_int_equal(h_register(&srv, email, PW, NULL, NULL), 201);
    snprintf(upper, sizeof upper, "%s", email);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    struct h_response r;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            h_post_json(&srv, "/v1/users", NULL,
                        json_pack("{s:s,s:s}", "email", i ? upper : email, "password", PW2), &r),
            0);
        h_assert_problem(&srv, &r, 409);
        h_response_free(&r);
    }
    /* the original password still works; the duplicate did not overwrite it */
    assert_int_equal(h_login(&srv, email, PW, NULL), 200);
    assert_int_equal(h_login(&srv, upper, PW, NULL), 200);
    assert_int_equal(h_login(&srv, email, PW2, NULL), 401);
}

static json_t *sessions_list(const char *access)
{
    struct h_response r;
    assert_int_equal(h_get(&srv, "/v1/me/sessions", access, &r), 0);
    h_assert_json_response(&r, 200);
    assert_true(json_is_array(r.json));
    json_t *arr = json_incref(r.json);
    h_response_free(&r);
    return arr;
}

static const char *sid_of(const char *access, char *out, size_t size)
{
    json_t *pl = h_jwt_part(access, 1);
    assert_non_null(pl);
    snprintf(out, size, "%s", json_string_value(json_object_get(pl, "sid")));
    json_decref(pl);
    return out;
}

static void test_sessions_list_and_revoke(void **state)
{
    (void)state;
    char email[128], sid1[64], sid2[64], path[160];
    struct h_tokens s1, s2;
    h_user_session(&srv, "sess", PW, email, sizeof email, &s1);
    assert_int_equal(h_login(&srv, email, PW, &s2), 200);
    sid_of(s1.access, sid1, sizeof sid1);
    sid_of(s2.access, sid2, sizeof sid2);
    assert_string_not_equal(sid1, sid2);

    json_t *arr = sessions_list(s1.access);
    assert_int_equal(json_array_size(arr), 2);
    size_t i;
    json_t *e;
    int currents = 0;
    json_array_foreach(arr, i, e)
    {
        const char *id = json_string_value(json_object_get(e, "id"));
        assert_non_null(id);
        assert_true(is_rfc3339_utc(json_string_value(json_object_get(e, "created_at"))));
        assert_true(json_is_string(json_object_get(e, "last_used_at")));
        assert_true(json_is_boolean(json_object_get(e, "current")));
        if (json_is_true(json_object_get(e, "current"))) {
            currents++;
            assert_string_equal(id, sid1);
        }
        assert_null(json_object_get(e, "refresh_token"));
        assert_null(json_object_get(e, "refresh_hash"));
    }
    assert_int_equal(currents, 1);
    json_decref(arr);

    /* revoke the other session: 204, and its tokens are refused at once */
    snprintf(path, sizeof path, "/v1/me/sessions/%s", sid2);
    char line[1200];
    snprintf(line, sizeof line, "Authorization: Bearer %s", s1.access);
    const char *auth[] = {line, NULL};
    struct h_response r;
    assert_int_equal(h_request(&srv, "DELETE", path, auth, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    h_assert_security_headers(&r);
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, s2.access), 401);
    assert_int_equal(h_refresh(&srv, s2.refresh, NULL), 401);
    assert_int_equal(h_me_status(&srv, s1.access), 200);

    arr = sessions_list(s1.access);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "id")), sid1);
    json_decref(arr);

    /* another user's session id → 404, and that session survives */
    char other_email[128], other_sid[64];
    struct h_tokens o;
    h_user_session(&srv, "other", PW, other_email, sizeof other_email, &o);
    sid_of(o.access, other_sid, sizeof other_sid);
    snprintf(path, sizeof path, "/v1/me/sessions/%s", other_sid);
    assert_int_equal(h_request(&srv, "DELETE", path, auth, NULL, 0, NULL, &r), 0);
    h_assert_problem(&srv, &r, 404);
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, o.access), 200);

    /* garbage ids → 404 */
    const char *garbage[] = {"/v1/me/sessions/nope", "/v1/me/sessions/AAAAAAAAAAAAAAAAAAAAAA",
                             "/v1/me/sessions/%27%20OR%201=1--", NULL};
    for (size_t k = 0; garbage[k]; k++) {
        assert_int_equal(h_request(&srv, "DELETE", garbage[k], auth, NULL, 0, NULL, &r), 0);
        h_assert_problem(&srv, &r, 404);
        h_response_free(&r);
    }
    /* revoking the caller's own session works too, and ends it at once */
    struct h_tokens s3;
    char sid3[64];
    assert_int_equal(h_login(&srv, email, PW, &s3), 200);
    sid_of(s3.access, sid3, sizeof sid3);
    snprintf(path, sizeof path, "/v1/me/sessions/%s", sid3);
    char line3[1200];
    snprintf(line3, sizeof line3, "Authorization: Bearer %s", s3.access);
    const char *auth3[] = {line3, NULL};
    assert_int_equal(h_request(&srv, "DELETE", path, auth3, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, s3.access), 401);
    assert_int_equal(h_refresh(&srv, s3.refresh, NULL), 401);
    /* without a token → 401 */
    snprintf(path, sizeof path, "/v1/me/sessions/%s", sid1);
    assert_int_equal(h_request(&srv, "DELETE", path, NULL, NULL, 0, NULL, &r), 0);
    h_assert_problem(&srv, &r, 401);
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, s1.access), 200);
}

static long change_password(const char *access, const char *cur, const char *next,
                            struct h_response *r)
{
    assert_int_equal(
        h_send_json(&srv, "PUT", "/v1/me/password", access,
                    json_pack("{s:s,s:s}", "current_password", cur, "new_password", next), r),
        0);
    return r->status;
}

static void test_password_change(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens s1, s2;
    h_user_session(&srv, "pwchange", PW, email, sizeof email, &s1);
    assert_int_equal(h_login(&srv, email, PW, &s2), 200);

    struct h_response r;
    /* wrong current password → 401, nothing changes */
    change_password(s1.access, "not the password at all", PW2, &r);
    h_assert_problem(&srv, &r, 401);
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, s2.access), 200);

    /* too-short new password → 422 naming new_password */
    change_password(s1.access, PW, "short", &r);
    h_assert_problem(&srv, &r, 422);
    h_assert_errors_field(&r, "new_password");
    h_response_free(&r);

    /* success */
    assert_int_equal(change_password(s1.access, PW, PW2, &r), 204);
    h_assert_security_headers(&r);
    assert_int_equal(r.body_len, 0);
    h_response_free(&r);

    /* other sessions are gone; this one continues */
    assert_int_equal(h_me_status(&srv, s2.access), 401);
    assert_int_equal(h_refresh(&srv, s2.refresh, NULL), 401);
    assert_int_equal(h_me_status(&srv, s1.access), 200);
    struct h_tokens s1b;
    assert_int_equal(h_refresh(&srv, s1.refresh, &s1b), 200);
    assert_int_equal(h_me_status(&srv, s1b.access), 200);

    assert_int_equal(h_login(&srv, email, PW, NULL), 401);
    assert_int_equal(h_login(&srv, email, PW2, NULL), 200);
}

static void test_logout_by_refresh_token(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens t;
    h_user_session(&srv, "logoutrt", PW, email, sizeof email, &t);
    struct h_response r;
    assert_int_equal(
        h_post_json(&srv, "/v1/logout", NULL, json_pack("{s:s}", "refresh_token", t.refresh), &r),
        0);
    assert_int_equal(r.status, 204);
    h_assert_security_headers(&r);
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, t.access), 401);
    assert_int_equal(h_refresh(&srv, t.refresh, NULL), 401);

    /* a second logout with the dead token: idempotent (204) or refused (401), never a revival */
    assert_int_equal(
        h_post_json(&srv, "/v1/logout", NULL, json_pack("{s:s}", "refresh_token", t.refresh), &r),
        0);
    if (r.status == 204)
        h_assert_security_headers(&r);
    else
        h_assert_problem(&srv, &r, 401);
    h_response_free(&r);
    assert_int_equal(h_refresh(&srv, t.refresh, NULL), 401);

    /* no credential at all */
    assert_int_equal(h_request(&srv, "POST", "/v1/logout", NULL, NULL, 0, NULL, &r), 0);
    assert_true(r.status == 401 || r.status == 400 || r.status == 422);
    h_assert_problem(&srv, &r, r.status);
    h_response_free(&r);
}

/* Logout with an already-rotated refresh token of the session still ends the session (never a
 * 204 that leaves the session alive). */
static void test_logout_with_rotated_refresh_token(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens t0, t1;
    h_user_session(&srv, "logoutold", PW, email, sizeof email, &t0);
    assert_int_equal(h_refresh(&srv, t0.refresh, &t1), 200);
    struct h_response r;
    assert_int_equal(
        h_post_json(&srv, "/v1/logout", NULL, json_pack("{s:s}", "refresh_token", t0.refresh), &r),
        0);
    if (r.status == 204)
        h_assert_security_headers(&r);
    else
        h_assert_problem(&srv, &r, 401);
    h_response_free(&r);
    /* either way the rotated token was reuse: the session must be over */
    assert_int_equal(h_me_status(&srv, t1.access), 401);
    assert_int_equal(h_refresh(&srv, t1.refresh, NULL), 401);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_endpoints),
        cmocka_unit_test(test_full_flow),
        cmocka_unit_test(test_me_requires_token),
        cmocka_unit_test(test_duplicate_email_case_insensitive),
        cmocka_unit_test(test_sessions_list_and_revoke),
        cmocka_unit_test(test_password_change),
        cmocka_unit_test(test_logout_by_refresh_token),
        cmocka_unit_test(test_logout_with_rotated_refresh_token),
    };
    return cmocka_run_group_tests_name("integration/accounts", tests, setup, teardown);
}
