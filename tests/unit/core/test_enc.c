/* Unit tests for the strict base64/base64url decoders and random ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/enc.h"

static void test_b64url_strict(void **state)
{
    (void)state;
    unsigned char out[64];
    size_t n = 0;
    assert_int_equal(gh_b64url_decode("AQID", 4, out, sizeof out, &n), GH_OK);
    assert_int_equal(n, 3);
    assert_int_equal(gh_b64url_decode("AQ-_", 4, out, sizeof out, &n), GH_OK);
    /* padding, standard alphabet, whitespace and high bytes are all refused */
    assert_int_not_equal(gh_b64url_decode("AQ==", 4, out, sizeof out, &n), GH_OK);
    assert_int_not_equal(gh_b64url_decode("AQ+/", 4, out, sizeof out, &n), GH_OK);
    assert_int_not_equal(gh_b64url_decode("AQ I", 4, out, sizeof out, &n), GH_OK);
    assert_int_not_equal(gh_b64url_decode("AQ\xffI", 4, out, sizeof out, &n), GH_OK);
    assert_int_not_equal(gh_b64url_decode("AQ\x80_", 4, out, sizeof out, &n), GH_OK);
    /* does not fit */
    assert_int_not_equal(gh_b64url_decode("AQIDBAUG", 8, out, 3, &n), GH_OK);
}

static void test_b64_roundtrip(void **state)
{
    (void)state;
    unsigned char in[32], out[64];
    char text[64];
    size_t n = 0;
    randombytes_buf(in, sizeof in);
    gh_b64_encode(in, sizeof in, text, sizeof text);
    assert_int_equal(gh_b64_decode(text, strlen(text), out, sizeof out, &n), GH_OK);
    assert_int_equal(n, 32);
    assert_memory_equal(in, out, 32);
    gh_b64url_encode(in, sizeof in, text, GH_B64URL_LEN(32) + 1);
    assert_int_equal(strlen(text), 43);
    assert_int_equal(gh_b64url_decode(text, strlen(text), out, sizeof out, &n), GH_OK);
    assert_memory_equal(in, out, 32);
}

static void test_ids(void **state)
{
    (void)state;
    char a[GH_ID_LEN + 1], b[GH_ID_LEN + 1];
    gh_random_id(a);
    gh_random_id(b);
    assert_int_equal(strlen(a), 22);
    assert_string_not_equal(a, b);
    assert_true(gh_id_is_valid(a));
    assert_false(gh_id_is_valid("short"));
    assert_false(gh_id_is_valid("AAAAAAAAAAAAAAAAAAAAA="));
    assert_false(gh_id_is_valid("AAAAAAAAAAAAAAAAAAAAAB")); /* non-canonical last digit */
    assert_false(gh_id_is_valid("../../../../etc/passwdA"));
    assert_false(gh_id_is_valid(NULL));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_strict),
        cmocka_unit_test(test_b64_roundtrip),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
