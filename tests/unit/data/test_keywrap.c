/* Unit tests for key wrapping under the master key: round trip, binding to its purpose (AD),
 * tampering, the wrong key, and the previous key during a master-key rotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "data/keywrap.h"

static void test_wrap_unwrap_and_binding(void **state)
{
    (void)state;
    unsigned char master[32], other[32], secret[32], out[96];
    randombytes_buf(master, 32);
    randombytes_buf(other, 32);
    randombytes_buf(secret, 32);
    struct gh_keywrap *kw = NULL, *kw_other = NULL, *kw_rot = NULL;
    assert_int_equal(gh_keywrap_new(master, NULL, &kw), GH_OK);
    char text[GH_WRAP_TEXT_MAX + 1];
    assert_int_equal(gh_keywrap_wrap(kw, "purpose-a", secret, 32, text), GH_OK);
    assert_null(memmem(text, strlen(text), secret, 32));
    size_t n = 0;
    bool prev = true;
    assert_int_equal(gh_keywrap_unwrap(kw, "purpose-a", text, out, sizeof out, &n, &prev), GH_OK);
    assert_int_equal(n, 32);
    assert_false(prev);
    assert_memory_equal(out, secret, 32);
    /* Moved to another purpose: refused. */
    assert_int_equal(gh_keywrap_unwrap(kw, "purpose-b", text, out, sizeof out, &n, NULL),
                     GH_ERR_CRYPTO);
    /* One flipped character anywhere in the ciphertext: refused. */
    for (size_t i = 22; i < strlen(text); i++) {
        char t2[GH_WRAP_TEXT_MAX + 1];
        memcpy(t2, text, sizeof t2);
        t2[i] = t2[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(gh_keywrap_unwrap(kw, "purpose-a", t2, out, sizeof out, &n, NULL),
                             GH_OK);
    }
    /* Wrong master key: refused. */
    assert_int_equal(gh_keywrap_new(other, NULL, &kw_other), GH_OK);
    assert_int_equal(gh_keywrap_unwrap(kw_other, "purpose-a", text, out, sizeof out, &n, NULL),
                     GH_ERR_CRYPTO);
    /* Rotation: new master with the old as previous still opens it, and says so. */
    assert_int_equal(gh_keywrap_new(other, master, &kw_rot), GH_OK);
    assert_int_equal(gh_keywrap_unwrap(kw_rot, "purpose-a", text, out, sizeof out, &n, &prev),
                     GH_OK);
    assert_true(prev);
    assert_memory_equal(out, secret, 32);
    /* Garbage. */
    assert_int_equal(gh_keywrap_unwrap(kw, "purpose-a", "gk1.zz", out, sizeof out, &n, NULL),
                     GH_ERR_CRYPTO);
    assert_int_equal(gh_keywrap_unwrap(kw, "purpose-a", "", out, sizeof out, &n, NULL),
                     GH_ERR_CRYPTO);
    /* Too big to wrap. */
    unsigned char big[GH_WRAP_PLAIN_MAX + 1] = {0};
    assert_int_equal(gh_keywrap_wrap(kw, "p", big, sizeof big, text), GH_ERR_TOO_LARGE);
    gh_keywrap_free(kw);
    gh_keywrap_free(kw_other);
    gh_keywrap_free(kw_rot);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_unwrap_and_binding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
