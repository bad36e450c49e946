/* Integration: hostile and malformed input — validation (422), malformed bodies (400), size
 * (413), content types (415) — and that every error is a clean problem+json with the headers. */
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
    return code == 0 ? 0 : -1;
}

/* POST raw bytes to path as JSON and expect a problem with status. */
static void post_raw_expect(const char *path, const char *body, size_t len, const char *ctype,
                            long status, struct h_response *keep)
{
    struct h_response r;
    assert_int_equal(h_request(&srv, "POST", path, NULL, body, len, ctype, &r), 0);
    h_assert_problem(&srv, &r, status);
    if (keep)
        *keep = r;
    else
        h_response_free(&r);
}

static void register_expect_422(json_t *body, const char *field)
{
    struct h_response r;
    assert_int_equal(h_post_json(&srv, "/v1/users", NULL, body, &r), 0);
    h_assert_problem(&srv, &r, 422);
    if (field)
        h_assert_errors_field(&r, field);
    h_response_free(&r);
}

static void test_invalid_email_422(void **state)
{
    (void)state;
    const char *bad[] = {"not-an-email",
                         "a@b",
                         "@example.com",
                         "two@@example.com",
                         "x@example..com",
                         "a b@example.com",
                         "",
                         NULL};
    for (size_t i = 0; bad[i]; i++)
        register_expect_422(json_pack("{s:s,s:s}", "email", bad[i], "password", PW), "email");
}

static void test_short_password_422(void **state)
{
    (void)state;
    char email[128];
    h_unique_email("short", email, sizeof email);
    register_expect_422(json_pack("{s:s,s:s}", "email", email, "password", "short1"), "password");
    /* 11 characters is one too few; the account must not exist afterwards */
    register_expect_422(json_pack("{s:s,s:s}", "email", email, "password", "elevenchars"),
                        "password");
    assert_int_equal(h_login(&srv, email, "elevenchars", NULL), 401);
}

static void test_unknown_field_wrong_type_missing_422(void **state)
{
    (void)state;
    char email[128];
    h_unique_email("fields", email, sizeof email);
    register_expect_422(json_pack("{s:s,s:s,s:b}", "email", email, "password", PW, "is_admin", 1),
                        "is_admin");
    register_expect_422(json_pack("{s:s,s:i}", "email", email, "password", 123456789012),
                        "password");
    register_expect_422(json_pack("{s:n,s:s}", "email", "password", PW), "email");
    register_expect_422(json_pack("{s:s}", "email", email), "password");
    register_expect_422(
        json_pack("{s:s,s:s,s:i}", "email", email, "password", PW, "display_name", 5),
        "display_name");
    /* a JSON value that is not an object */
    struct h_response r;
    assert_int_equal(
        h_request(&srv, "POST", "/v1/users", NULL, "[1,2]", SIZE_MAX, "application/json", &r), 0);
    assert_true(r.status == 422 || r.status == 400);
    h_assert_problem(&srv, &r, r.status);
    h_response_free(&r);
    /* none of these created the account */
    assert_int_equal(h_login(&srv, email, PW, NULL), 401);
}

static void test_overlong_strings_422(void **state)
{
    (void)state;
    char local[400];
    memset(local, 'a', 300);
    snprintf(local + 300, sizeof local - 300, "@example.com");
    register_expect_422(json_pack("{s:s,s:s}", "email", local, "password", PW), "email");

    char email[128];
    h_unique_email("long", email, sizeof email);
    char *pw = malloc(2001);
    assert_non_null(pw);
    memset(pw, 'p', 2000);
    pw[2000] = '\0';
    register_expect_422(json_pack("{s:s,s:s}", "email", email, "password", pw), "password");
    free(pw);

    char dn[301];
    memset(dn, 'd', 300);
    dn[300] = '\0';
    register_expect_422(
        json_pack("{s:s,s:s,s:s}", "email", email, "password", PW, "display_name", dn),
        "display_name");
    assert_int_equal(h_login(&srv, email, PW, NULL), 401);
}

static void test_nul_in_password_422_never_truncated(void **state)
{
    (void)state;
    char email[128], body[512];
    h_unique_email("nul", email, sizeof email);
    /* register with "pw\u0000..." is refused, not truncated to "pw" */
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"correct horse battery staple\\u0000tail\"}", email);
    struct h_response r;
    post_raw_expect("/v1/users", body, SIZE_MAX, "application/json", 422, &r);
    h_assert_errors_field(&r, "password");
    h_response_free(&r);
    assert_int_equal(h_login(&srv, email, PW, NULL), 401);

    /* an account with password P: logging in with P + U+0000 + junk must not succeed */
    assert_int_equal(h_register(&srv, email, PW, NULL, NULL), 201);
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"correct horse battery staple\\u0000junk\"}", email);
    post_raw_expect("/v1/token", body, SIZE_MAX, "application/json", 422, &r);
    h_assert_errors_field(&r, "password");
    h_response_free(&r);
    /* NUL in the email too */
    snprintf(body, sizeof body, "{\"email\":\"%s\\u0000x\",\"password\":\"%s\"}", email, PW);
    post_raw_expect("/v1/users", body, SIZE_MAX, "application/json", 422, &r);
    h_assert_errors_field(&r, "email");
    h_response_free(&r);
    /* and through the form (%00) */
    char form[512];
    snprintf(form, sizeof form,
             "grant_type=password&username=%s&password=correct+horse+battery+staple%%00junk",
             email);
    assert_int_equal(h_post_form(&srv, "/v1/token", form, &r), 0);
    h_assert_problem(&srv, &r, 400);
    h_response_free(&r);
    assert_int_equal(h_login(&srv, email, PW, NULL), 200);
}

static void test_malformed_json_400(void **state)
{
    (void)state;
    const char *bodies[] = {
        "not json at all", "{\"email\": \"a@example.com\", \"password\": ",
        "{\"email\":\"a@example.com\",\"email\":\"b@example.com\",\"password\":\"" PW "\"}",
        "{'email': 'a@example.com'}", NULL};
    for (size_t i = 0; bodies[i]; i++)
        post_raw_expect("/v1/users", bodies[i], SIZE_MAX, "application/json", 400, NULL);
    /* invalid UTF-8: a lone continuation byte and an overlong encoding */
    const char bad1[] = "{\"email\":\"a\x80@example.com\",\"password\":\"" PW "\"}";
    post_raw_expect("/v1/users", bad1, sizeof bad1 - 1, "application/json", 400, NULL);
    const char bad2[] = "{\"email\":\"a@example.com\",\"password\":\"\xc0\xaf" PW "\"}";
    post_raw_expect("/v1/users", bad2, sizeof bad2 - 1, "application/json", 400, NULL);
    /* duplicate keys on the token endpoint too */
    post_raw_expect("/v1/token",
                    "{\"email\":\"a@example.com\",\"password\":\"x\",\"password\":\"y\"}", SIZE_MAX,
                    "application/json", 400, NULL);
    /* empty body */
    post_raw_expect("/v1/users", "", 0, "application/json", 400, NULL);
}

static void test_deep_nesting_and_huge_arrays_400(void **state)
{
    (void)state;
    char body[512];
    size_t n = 0;
    n += (size_t)snprintf(body + n, sizeof body - n, "{\"email\":");
    for (int i = 0; i < 50; i++)
        body[n++] = '[';
    for (int i = 0; i < 50; i++)
        body[n++] = ']';
    snprintf(body + n, sizeof body - n, ",\"password\":\"%s\"}", PW);
    post_raw_expect("/v1/users", body, SIZE_MAX, "application/json", 400, NULL);

    /* a very deep one (jansson's own limit is far above ours) */
    char *deep = malloc(8192);
    assert_non_null(deep);
    n = 0;
    for (int i = 0; i < 4000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 4000; i++)
        deep[n++] = ']';
    post_raw_expect("/v1/users", deep, n, "application/json", 400, NULL);
    free(deep);

    /* an array of 1000 items inside a field */
    char *arr = malloc(4096);
    assert_non_null(arr);
    n = (size_t)snprintf(arr, 4096, "{\"password\":\"%s\",\"email\":[", PW);
    for (int i = 0; i < 1000; i++) {
        arr[n++] = '1';
        arr[n++] = i < 999 ? ',' : ']';
    }
    arr[n++] = '}';
    post_raw_expect("/v1/users", arr, n, "application/json", 400, NULL);
    free(arr);
}

static void test_body_too_large_413(void **state)
{
    (void)state;
    size_t len = 17 * 1024;
    char *big = malloc(len + 1);
    assert_non_null(big);
    size_t n = (size_t)snprintf(big, len + 1, "{\"email\":\"a@example.com\",\"password\":\"");
    memset(big + n, 'x', len - n - 2);
    big[len - 2] = '"';
    big[len - 1] = '}';
    big[len] = '\0';
    post_raw_expect("/v1/users", big, len, "application/json", 413, NULL);
    post_raw_expect("/v1/token", big, len, "application/json", 413, NULL);
    free(big);
    /* exactly at the limit is not 413 (it is a 422: password too long) */
    len = 16 * 1024;
    big = malloc(len + 1);
    assert_non_null(big);
    n = (size_t)snprintf(big, len + 1, "{\"email\":\"a@example.com\",\"password\":\"");
    memset(big + n, 'x', len - n - 2);
    big[len - 2] = '"';
    big[len - 1] = '}';
    big[len] = '\0';
    post_raw_expect("/v1/users", big, len, "application/json", 422, NULL);
    free(big);
}

/* No Content-Length announced (chunked): the cap must still answer 413, not drop the line. */
static void test_body_too_large_chunked_413(void **state)
{
    (void)state;
    size_t len = 17 * 1024;
    char *big = malloc(len + 1);
    assert_non_null(big);
    size_t n = (size_t)snprintf(big, len + 1, "{\"email\":\"a@example.com\",\"password\":\"");
    memset(big + n, 'x', len - n - 2);
    big[len - 2] = '"';
    big[len - 1] = '}';
    big[len] = '\0';
    struct h_response r;
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    int rc = h_request(&srv, "POST", "/v1/users", chunked, big, len, "application/json", &r);
    free(big);
    if (rc != 0) {
        h_response_free(&r);
        fail_msg("chunked 17 KiB body: no HTTP response at all (connection closed), want 413");
    }
    h_assert_problem(&srv, &r, 413);
    h_response_free(&r);
    /* the server is still fine */
    assert_int_equal(h_get(&srv, "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);
}

static void test_wrong_content_type_415(void **state)
{
    (void)state;
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"ct@example.com\",\"password\":\"%s\"}", PW);
    post_raw_expect("/v1/users", body, SIZE_MAX, "text/plain", 415, NULL);
    post_raw_expect("/v1/users", body, SIZE_MAX, NULL, 415, NULL);
    post_raw_expect("/v1/users", body, SIZE_MAX, "application/jsonx", 415, NULL);
    post_raw_expect("/v1/users", body, SIZE_MAX, "application/x-www-form-urlencoded", 415, NULL);
    post_raw_expect("/v1/token", body, SIZE_MAX, "text/plain", 415, NULL);
    post_raw_expect("/v1/token", body, SIZE_MAX, NULL, 415, NULL);
    post_raw_expect("/v1/token/refresh", "{\"refresh_token\":\"x\"}", SIZE_MAX, "text/plain", 415,
                    NULL);
    /* a charset parameter is fine */
    struct h_response r;
    char email[128];
    h_unique_email("charset", email, sizeof email);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, PW);
    assert_int_equal(h_request(&srv, "POST", "/v1/users", NULL, body, SIZE_MAX,
                               "application/json; charset=utf-8", &r),
                     0);
    h_assert_json_response(&r, 201);
    h_response_free(&r);
}

static void test_errors_leak_nothing(void **state)
{
    (void)state;
    /* A grab-bag of failing requests; h_assert_problem checks type/title/status/request_id,
     * the headers, and that no SQL, library message, path or data dir leaks. */
    struct h_response r;
    const char *sqlish =
        "{\"email\":\"x'); DROP TABLE users;--@example.com\",\"password\":\"" PW "\"}";
    assert_int_equal(
        h_request(&srv, "POST", "/v1/users", NULL, sqlish, SIZE_MAX, "application/json", &r), 0);
    assert_true(r.status == 422 || r.status == 400);
    h_assert_problem(&srv, &r, r.status);
    h_response_free(&r);

    assert_int_equal(
        h_post_json(&srv, "/v1/token", NULL,
                    json_pack("{s:s,s:s}", "email", "' OR 1=1 --@example.com", "password", PW), &r),
        0);
    h_assert_problem(&srv, &r, 401);
    h_response_free(&r);

    assert_int_equal(h_get(&srv, "/../../etc/passwd", NULL, &r), 0);
    assert_true(r.status == 404 || r.status == 400);
    h_assert_problem(&srv, &r, r.status);
    h_response_free(&r);

    assert_int_equal(h_request(&srv, "GET", "/v1/me", NULL, "{}", SIZE_MAX, "application/json", &r),
                     0);
    assert_true(r.status == 400 || r.status == 401);
    h_assert_problem(&srv, &r, r.status);
    h_response_free(&r);

    /* each error has its own request id */
    char first[64];
    assert_int_equal(h_get(&srv, "/nope", NULL, &r), 0);
    snprintf(first, sizeof first, "%s", h_header(&r, "X-Request-Id"));
    h_response_free(&r);
    assert_int_equal(h_get(&srv, "/nope", NULL, &r), 0);
    assert_string_not_equal(first, h_header(&r, "X-Request-Id"));
    h_response_free(&r);
}

static void test_success_headers(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens t;
    h_user_session(&srv, "hdrs", PW, email, sizeof email, &t);
    const char *paths[] = {"/v1/me",   "/v1/me/sessions", "/.well-known/jwks.json",
                           "/healthz", "/readyz",         NULL};
    for (size_t i = 0; paths[i]; i++) {
        struct h_response r;
        assert_int_equal(h_get(&srv, paths[i], t.access, &r), 0);
        h_assert_json_response(&r, 200);
        h_response_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_email_422),
        cmocka_unit_test(test_short_password_422),
        cmocka_unit_test(test_unknown_field_wrong_type_missing_422),
        cmocka_unit_test(test_overlong_strings_422),
        cmocka_unit_test(test_nul_in_password_422_never_truncated),
        cmocka_unit_test(test_malformed_json_400),
        cmocka_unit_test(test_deep_nesting_and_huge_arrays_400),
        cmocka_unit_test(test_body_too_large_413),
        cmocka_unit_test(test_body_too_large_chunked_413),
        cmocka_unit_test(test_wrong_content_type_415),
        cmocka_unit_test(test_errors_leak_nothing),
        cmocka_unit_test(test_success_headers),
    };
    return cmocka_run_group_tests_name("integration/input", tests, setup, teardown);
}
