/* Unit tests for the form-body decoder (RFC 6749 token requests): percent-decoding, '+',
 * repeated parameters, NUL bytes, invalid UTF-8 and size limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"

static json_t *decode_ok(const char *body)
{
    json_t *o = NULL;
    assert_int_equal(gh_http_form_decode(body, strlen(body), 1024, &o), GH_OK);
    return o;
}

static void refused(const char *body, size_t len)
{
    json_t *o = NULL;
    assert_int_not_equal(gh_http_form_decode(body, len, 1024, &o), GH_OK);
    assert_null(o);
}

static void test_basic(void **state)
{
    (void)state;
    json_t *o = decode_ok("grant_type=password&username=a%40b.example&password=p+w%2Bx%26y%3D");
    assert_string_equal(json_string_value(json_object_get(o, "grant_type")), "password");
    assert_string_equal(json_string_value(json_object_get(o, "username")), "a@b.example");
    assert_string_equal(json_string_value(json_object_get(o, "password")), "p w+x&y=");
    json_decref(o);
    o = decode_ok("");
    assert_int_equal(json_object_size(o), 0);
    json_decref(o);
    o = decode_ok("a=&b&&c=%C3%A9");
    assert_string_equal(json_string_value(json_object_get(o, "a")), "");
    assert_string_equal(json_string_value(json_object_get(o, "b")), "");
    assert_string_equal(json_string_value(json_object_get(o, "c")), "\xc3\xa9");
    json_decref(o);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("a=1&a=2", 7);                 /* repeated parameter */
    refused("a=1&%61=2", 9);               /* repeated after decoding */
    refused("password=ab%00cd", 16);       /* decoded NUL */
    refused("pass\0word=x", 11);           /* raw NUL */
    refused("a=%FF%FE", 8);                /* invalid UTF-8 */
    refused("=value", 6);                  /* empty name */
    char big[2100];
    memset(big, 'x', sizeof big);
    memcpy(big, "a=", 2);
    refused(big, sizeof big); /* value over the limit */
}

static void test_many_params_bounded(void **state)
{
    (void)state;
    char body[2048];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "k%d=v&", i);
    json_t *o = NULL;
    assert_int_not_equal(gh_http_form_decode(body, n, 1024, &o), GH_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_many_params_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
