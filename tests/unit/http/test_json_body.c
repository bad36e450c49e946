/* Unit tests for request-body decoding against a schema: which bad body gets 400 (malformed)
 * and which 422 (invalid), per API.md — checked before any expensive work. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"

static const struct gh_field schema[] = {
    {"email", GH_FIELD_STRING, true, 32},
    {"password", GH_FIELD_STRING, true, 16},
    {"display_name", GH_FIELD_STRING, false, 8},
};

static gh_err run(const char *body, size_t len, json_t **out, json_t **errs)
{
    const char *detail = NULL;
    gh_err rc = gh_http_decode_body(body, len, false, 16384, schema, 3, out, errs, &detail);
    if (rc == GH_ERR_MALFORMED)
        assert_non_null(detail);
    return rc;
}

static gh_err run_s(const char *body, json_t **errs)
{
    json_t *out = NULL;
    gh_err rc = run(body, strlen(body), &out, errs);
    json_decref(out);
    return rc;
}

static void expect_invalid_field(const char *body, const char *field)
{
    json_t *errs = NULL;
    assert_int_equal(run_s(body, &errs), GH_ERR_INVALID);
    assert_non_null(errs);
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
            found = true;
        assert_non_null(json_string_value(json_object_get(e, "message")));
    }
    assert_true(found);
    json_decref(errs);
}

static void expect_malformed(const char *body, size_t len)
{
    json_t *out = NULL, *errs = NULL;
    assert_int_equal(run(body, len, &out, &errs), GH_ERR_MALFORMED);
    assert_null(out);
    assert_null(errs);
}

static void test_valid(void **state)
{
    (void)state;
    json_t *out = NULL, *errs = NULL;
    const char *b = "{\"email\":\"a@b.cd\",\"password\":\"pw\",\"display_name\":\"x\"}";
    assert_int_equal(run(b, strlen(b), &out, &errs), GH_OK);
    assert_string_equal(json_string_value(json_object_get(out, "email")), "a@b.cd");
    assert_int_equal(json_object_size(out), 3);
    json_decref(out);
}

static void test_malformed_is_400(void **state)
{
    (void)state;
    expect_malformed("", 0);
    expect_malformed("not json", 8);
    expect_malformed("{\"email\":\"a\",", 13);
    expect_malformed("{\"email\":\"a\",\"email\":\"b\",\"password\":\"p\"}", 40); /* dup key */
    expect_malformed("{\"email\":\"\xff\xfe\",\"password\":\"p\"}", 30);          /* bad UTF-8 */
    expect_malformed("{\"email\":\"\xc0\xaf\",\"password\":\"p\"}", 30);          /* overlong */
    expect_malformed("{\"email\":\"\xed\xa0\x80\",\"password\":\"p\"}", 31);      /* surrogate */
    /* deep nesting */
    char deep[200];
    size_t n = (size_t)snprintf(deep, sizeof deep, "{\"email\":");
    for (int i = 0; i < 20; i++)
        deep[n++] = '[';
    for (int i = 0; i < 20; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    expect_malformed(deep, n);
    /* an array of more than 64 items */
    char wide[400];
    n = (size_t)snprintf(wide, sizeof wide, "{\"email\":[");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(wide + n, sizeof wide - n, "1,");
    wide[n - 1] = ']';
    wide[n++] = '}';
    expect_malformed(wide, n);
    /* jansson refuses a key with an embedded NUL: it cannot alias a known key. */
    const char *nulkey = "{\"email\":\"a\",\"password\":\"p\",\"email\\u0000x\":\"b\"}";
    expect_malformed(nulkey, strlen(nulkey));
    /* really deep: beyond jansson's own limit, still just 400 */
    size_t big = 10000;
    char *b = malloc(big);
    memset(b, '[', big);
    expect_malformed(b, big);
    free(b);
}

static void test_invalid_is_422(void **state)
{
    (void)state;
    expect_invalid_field("[]", "(body)");
    expect_invalid_field("\"str\"", "(body)");
    expect_invalid_field("{\"email\":\"a@b.cd\"}", "password");
    expect_invalid_field("{\"email\":\"a@b.cd\",\"password\":\"p\",\"admin\":\"1\"}", "admin");
    expect_invalid_field("{\"email\":1,\"password\":\"p\"}", "email");
    expect_invalid_field("{\"email\":null,\"password\":\"p\"}", "email");
    expect_invalid_field("{\"email\":\"a\",\"password\":[\"p\"]}", "password");
    expect_invalid_field("{\"email\":\"a\",\"password\":\"p\\u0000q\"}", "password");
    expect_invalid_field("{\"email\":\"a\",\"password\":\"12345678901234567\"}", "password");
    expect_invalid_field("{\"email\":\"a\",\"password\":\"p\",\"display_name\":\"123456789\"}",
                         "display_name");
    /* Every problem is reported, not just the first. */
    json_t *errs = NULL;
    assert_int_equal(run_s("{\"email\":1,\"password\":2,\"zzz\":3}", &errs), GH_ERR_INVALID);
    assert_int_equal(json_array_size(errs), 3);
    json_decref(errs);
}

static void test_limit_counts_bytes_not_chars(void **state)
{
    (void)state;
    json_t *errs = NULL;
    /* 6 characters but 12 bytes: within 16; 9 two-byte characters = 18 bytes: over. */
    assert_int_equal(run_s("{\"email\":\"a\",\"password\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                           "\xc3\xa9\xc3\xa9\"}",
                           &errs),
                     GH_OK);
    expect_invalid_field("{\"email\":\"a\",\"password\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
                         "password");
}

static void test_form_ignores_unknown(void **state)
{
    (void)state;
    json_t *out = NULL, *errs = NULL;
    const char *detail = NULL;
    const char *b = "email=a%40b.cd&password=pw&scope=openid&client_id=x";
    assert_int_equal(gh_http_decode_body(b, strlen(b), true, 1024, schema, 3, &out, &errs, &detail),
                     GH_OK);
    assert_int_equal(json_object_size(out), 2);
    json_decref(out);
    const char *dup = "email=a&email=b&password=p";
    assert_int_equal(
        gh_http_decode_body(dup, strlen(dup), true, 1024, schema, 3, &out, &errs, &detail),
        GH_ERR_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_malformed_is_400),
        cmocka_unit_test(test_invalid_is_422),
        cmocka_unit_test(test_limit_counts_bytes_not_chars),
        cmocka_unit_test(test_form_ignores_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
