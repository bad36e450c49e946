/* Integration: CORS with an exact-origin allowlist. Listed origins get
 * Access-Control-Allow-Origin (their own, never "*") with credentials and Vary: Origin; other
 * origins get no CORS grant; preflights are answered only for listed origins, existing
 * methods and accepted headers; a wildcard cannot even be configured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static struct h_server srv;

static int group_setup(void **state)
{
    (void)state;
    const char *env[] = {"GATEHOUSE_CORS_ORIGINS=https://app.example.com, http://localhost:5173",
                         NULL};
    return h_server_start(&srv, env);
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = h_server_stop(&srv);
    h_server_free(&srv);
    return rc == 0 ? 0 : -1;
}

static void preflight(const char *origin, const char *path, const char *method,
                      const char *headers, struct h_response *r)
{
    char o[200], m[200], h[200];
    snprintf(o, sizeof o, "Origin: %s", origin);
    snprintf(m, sizeof m, "Access-Control-Request-Method: %s", method);
    snprintf(h, sizeof h, "Access-Control-Request-Headers: %s", headers);
    const char *hdrs[] = {o, m, headers ? h : NULL, NULL};
    assert_int_equal(h_request(&srv, "OPTIONS", path, hdrs, NULL, 0, NULL, r), 0);
}

static void test_actual_requests(void **state)
{
    (void)state;
    struct h_response r;
    const char *listed[] = {"Origin: https://app.example.com", NULL};
    assert_int_equal(h_request(&srv, "GET", "/healthz", listed, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(h_header(&r, "Access-Control-Allow-Origin"), "https://app.example.com");
    assert_string_equal(h_header(&r, "Access-Control-Allow-Credentials"), "true");
    assert_non_null(strstr(h_header(&r, "Vary"), "Origin"));
    h_response_free(&r);
    const char *other[] = {"Origin: https://evil.example", NULL};
    assert_int_equal(h_request(&srv, "GET", "/healthz", other, NULL, 0, NULL, &r), 0);
    assert_null(h_header(&r, "Access-Control-Allow-Origin"));
    assert_null(h_header(&r, "Access-Control-Allow-Credentials"));
    assert_non_null(strstr(h_header(&r, "Vary"), "Origin"));
    h_response_free(&r);
    /* Near misses are not listed: case, port, scheme, suffix. */
    const char *near[] = {"Origin: https://APP.example.com", "Origin: https://app.example.com:444",
                          "Origin: http://app.example.com", "Origin: https://app.example.com.evil",
                          "Origin: null"};
    for (int i = 0; i < 5; i++) {
        const char *h[] = {near[i], NULL};
        assert_int_equal(h_request(&srv, "GET", "/healthz", h, NULL, 0, NULL, &r), 0);
        assert_null(h_header(&r, "Access-Control-Allow-Origin"));
        h_response_free(&r);
    }
}

static void test_preflight(void **state)
{
    (void)state;
    struct h_response r;
    preflight("http://localhost:5173", "/v1/token", "POST", "content-type", &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(h_header(&r, "Access-Control-Allow-Origin"), "http://localhost:5173");
    assert_non_null(strstr(h_header(&r, "Access-Control-Allow-Methods"), "POST"));
    assert_non_null(h_header(&r, "Access-Control-Max-Age"));
    h_response_free(&r);
    preflight("https://app.example.com", "/v1/me", "GET", "authorization", &r);
    assert_int_equal(r.status, 204);
    assert_non_null(strstr(h_header(&r, "Access-Control-Allow-Methods"), "DELETE"));
    h_response_free(&r);
    /* Refused: unlisted origin, a method the path lacks, an unknown path, an odd header. */
    preflight("https://evil.example", "/v1/token", "POST", "content-type", &r);
    h_assert_problem(&srv, &r, 403);
    assert_null(h_header(&r, "Access-Control-Allow-Origin"));
    h_response_free(&r);
    preflight("https://app.example.com", "/v1/token", "DELETE", NULL, &r);
    assert_int_equal(r.status, 403);
    h_response_free(&r);
    preflight("https://app.example.com", "/nowhere", "GET", NULL, &r);
    assert_int_equal(r.status, 403);
    h_response_free(&r);
    preflight("https://app.example.com", "/v1/token", "POST", "content-type, x-evil", &r);
    assert_int_equal(r.status, 403);
    h_response_free(&r);
}

static void test_wildcard_cannot_be_configured(void **state)
{
    (void)state;
    struct h_cli_result c;
    const char *args[] = {"doctor", NULL};
    struct h_server bad;
    const char *env[] = {"GATEHOUSE_CORS_ORIGINS=*", NULL};
    assert_int_not_equal(h_server_start(&bad, env), 0); /* start-up refuses */
    assert_int_equal(h_cli(&bad, args, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    assert_non_null(strstr(c.err, "GATEHOUSE_CORS_ORIGINS"));
    h_cli_free(&c);
    h_server_free(&bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actual_requests),
        cmocka_unit_test(test_preflight),
        cmocka_unit_test(test_wildcard_cannot_be_configured),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
