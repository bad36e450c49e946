/* Integration: endpoints for other services. Forward-auth (GET /v1/auth/check) answers 200 with
 * the user and session ids for a valid token and 401 otherwise; introspection (RFC 7662)
 * requires configured client credentials and reports revoked or forged tokens as inactive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define PW "services passphrase granite orchid"

static struct h_server srv;

static int group_setup(void **state)
{
    (void)state;
    const char *env[] = {"GATEHOUSE_INTROSPECTION_CLIENTS=api-one:s3cret-one-value,"
                         "api-two:s3cret-two-value",
                         "GATEHOUSE_INTROSPECTION_CLIENTS_PREVIOUS=api-one:old-secret-value",
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

static void test_forward_auth(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens t;
    h_user_session(&srv, "fwd", PW, email, sizeof email, &t);
    struct h_response r;
    assert_int_equal(h_get(&srv, "/v1/auth/check", NULL, &r), 0);
    h_assert_problem(&srv, &r, 401);
    assert_null(h_header(&r, "X-Auth-User-Id"));
    h_response_free(&r);
    assert_int_equal(h_get(&srv, "/v1/auth/check", t.access, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *claims = h_jwt_part(t.access, 1);
    assert_string_equal(h_header(&r, "X-Auth-User-Id"),
                        json_string_value(json_object_get(claims, "sub")));
    assert_string_equal(h_header(&r, "X-Auth-Session-Id"),
                        json_string_value(json_object_get(claims, "sid")));
    json_decref(claims);
    h_assert_security_headers(&r);
    h_response_free(&r);
    /* A refresh token is not a credential here; a tampered token neither. */
    assert_int_equal(h_get(&srv, "/v1/auth/check", t.refresh, &r), 0);
    assert_int_equal(r.status, 401);
    h_response_free(&r);
    char forged[1100];
    snprintf(forged, sizeof forged, "%s", t.access);
    forged[strlen(forged) - 3] = forged[strlen(forged) - 3] == 'A' ? 'B' : 'A';
    assert_int_equal(h_get(&srv, "/v1/auth/check", forged, &r), 0);
    assert_int_equal(r.status, 401);
    h_response_free(&r);
    /* After logout: refused at once. */
    char auth[1100];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.access);
    const char *hdr[] = {auth, NULL};
    assert_int_equal(h_request(&srv, "POST", "/v1/logout", hdr, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    h_response_free(&r);
    assert_int_equal(h_get(&srv, "/v1/auth/check", t.access, &r), 0);
    assert_int_equal(r.status, 401);
    h_response_free(&r);
}

static long introspect(const char *basic, const char *body, const char *ctype,
                       struct h_response *r)
{
    char auth[256];
    const char *hdr[] = {NULL, NULL};
    if (basic) {
        snprintf(auth, sizeof auth, "Authorization: Basic %s", basic);
        hdr[0] = auth;
    }
    assert_int_equal(h_request(&srv, "POST", "/v1/introspect", hdr, body, strlen(body), ctype, r),
                     0);
    return r->status;
}

static void test_introspection(void **state)
{
    (void)state;
    char email[128], body[1200];
    struct h_tokens t;
    h_user_session(&srv, "intro", PW, email, sizeof email, &t);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", t.access);
    struct h_response r;
    /* base64("api-one:s3cret-one-value") etc., computed with coreutils base64. */
    const char *good = "YXBpLW9uZTpzM2NyZXQtb25lLXZhbHVl";
    const char *previous = "YXBpLW9uZTpvbGQtc2VjcmV0LXZhbHVl";
    const char *wrong = "YXBpLW9uZTp3cm9uZw==";           /* api-one:wrong */
    const char *swapped = "YXBpLXR3bzpzM2NyZXQtb25lLXZhbHVl"; /* api-two:s3cret-one-value */
    assert_int_equal(introspect(NULL, body, "application/json", &r), 401);
    assert_non_null(h_header(&r, "WWW-Authenticate"));
    assert_string_equal(json_string_value(json_object_get(r.json, "error")), "invalid_client");
    h_response_free(&r);
    assert_int_equal(introspect(wrong, body, "application/json", &r), 401);
    h_response_free(&r);
    assert_int_equal(introspect(swapped, body, "application/json", &r), 401);
    h_response_free(&r);

    assert_int_equal(introspect(good, body, "application/json", &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "active")));
    json_t *claims = h_jwt_part(t.access, 1);
    assert_string_equal(json_string_value(json_object_get(r.json, "sub")),
                        json_string_value(json_object_get(claims, "sub")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "exp")),
                     json_integer_value(json_object_get(claims, "exp")));
    json_decref(claims);
    assert_string_equal(json_string_value(json_object_get(r.json, "client_id")), "api-one");
    h_response_free(&r);
    /* The previous secret still works during its rotation; the form variant too. */
    char form[1200];
    snprintf(form, sizeof form, "token=%s&token_type_hint=access_token&extra=ignored", t.access);
    assert_int_equal(introspect(previous, form, "application/x-www-form-urlencoded", &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "active")));
    h_response_free(&r);
    /* Garbage and refresh tokens: inactive, and nothing else is said. */
    assert_int_equal(introspect(good, "{\"token\":\"garbage.token.here\"}", "application/json", &r),
                     200);
    assert_true(json_is_false(json_object_get(r.json, "active")));
    assert_int_equal(json_object_size(r.json), 1);
    h_response_free(&r);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", t.refresh);
    assert_int_equal(introspect(good, body, "application/json", &r), 200);
    assert_true(json_is_false(json_object_get(r.json, "active")));
    h_response_free(&r);
    /* Revoked: inactive at once. */
    const char *revoke_all[] = {"sessions", "revoke-all", NULL};
    struct h_cli_result c;
    assert_int_equal(h_cli(&srv, revoke_all, &c), 0);
    assert_int_equal(c.exit_code, 0);
    h_cli_free(&c);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", t.access);
    assert_int_equal(introspect(good, body, "application/json", &r), 200);
    assert_true(json_is_false(json_object_get(r.json, "active")));
    assert_int_equal(json_object_size(r.json), 1);
    h_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_auth),
        cmocka_unit_test(test_introspection),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
