/* Unit tests for email validation/normalisation and display-name rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "auth/identity.h"

static void ok(const char *in, const char *want_out, const char *want_key)
{
    char out[GH_EMAIL_MAX + 1], key[GH_EMAIL_KEY_MAX + 1];
    const char *why = NULL;
    assert_true(gh_email_normalize(in, strlen(in), out, key, &why));
    assert_string_equal(out, want_out);
    assert_string_equal(key, want_key);
}

static void bad(const char *in)
{
    char out[GH_EMAIL_MAX + 1], key[GH_EMAIL_KEY_MAX + 1];
    const char *why = NULL;
    assert_false(gh_email_normalize(in, strlen(in), out, key, &why));
    assert_non_null(why);
}

static void test_valid(void **state)
{
    (void)state;
    ok("alice@example.com", "alice@example.com", "alice@example.com");
    ok("  Alice.Smith+tag@Example.COM ", "Alice.Smith+tag@example.com",
       "alice.smith+tag@example.com");
    ok("o'brien@sub-domain.example.org", "o'brien@sub-domain.example.org",
       "o'brien@sub-domain.example.org");
}

static void test_invalid(void **state)
{
    (void)state;
    bad("");
    bad("plainaddress");
    bad("@example.com");
    bad("a@b@example.com");
    bad("a@localhost");
    bad(".a@example.com");
    bad("a.@example.com");
    bad("a..b@example.com");
    bad("a b@example.com");
    bad("a@-example.com");
    bad("a@example-.com");
    bad("a@example..com");
    bad("a@example.com.");
    bad("a\r\n@example.com");
    bad("\xc3\xa9@example.com");
    bad("a@exa_mple.com");
    char longlocal[80];
    memset(longlocal, 'a', 65);
    memcpy(longlocal + 65, "@example.com", 13);
    bad(longlocal);
    char longall[300];
    memset(longall, 'a', 60);
    longall[60] = '@';
    size_t n = 61;
    while (n < 250) {
        memcpy(longall + n, "abcdefghi.", 10);
        n += 10;
    }
    memcpy(longall + n, "com", 4);
    ok(longall, longall, longall); /* exactly 254 bytes is allowed */
    memcpy(longall + n, "comm", 5);
    bad(longall); /* 255 is not */
}

static void test_display_name(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_true(gh_display_name_is_valid("Zoë <img src=x>", strlen("Zoë <img src=x>"), &why));
    assert_false(gh_display_name_is_valid("", 0, &why));
    assert_false(gh_display_name_is_valid("a\nb", 3, &why));
    assert_false(gh_display_name_is_valid("a\x7f", 2, &why));
    char big[GH_DISPLAY_NAME_MAX + 2];
    memset(big, 'x', sizeof big);
    assert_false(gh_display_name_is_valid(big, sizeof big, &why));
    assert_true(gh_display_name_is_valid(big, GH_DISPLAY_NAME_MAX, &why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_display_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
