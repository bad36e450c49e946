/* Unit tests for known-device tokens: a token opens only for its own account, within its
 * lifetime, unaltered, and under the key that made it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/device.h"

static const char *alice = "AliceAliceAliceAlice0A";
static const char *bob = "BobBobBobBobBobBobBobA";

static void test_round_trip_and_refusals(void **state)
{
    (void)state;
    unsigned char key[32], other[32];
    randombytes_buf(key, sizeof key);
    randombytes_buf(other, sizeof other);
    char tok[GH_DEVICE_TOKEN_MAX + 1], dev[GH_ID_LEN + 1], dev2[GH_ID_LEN + 1];
    gh_device_issue(key, alice, NULL, 1000, tok);
    assert_true(gh_device_check(key, tok, strlen(tok), alice, 1001, dev));
    /* Re-issuing for the same device keeps its id. */
    char tok2[GH_DEVICE_TOKEN_MAX + 1];
    gh_device_issue(key, alice, dev, 2000, tok2);
    assert_true(gh_device_check(key, tok2, strlen(tok2), alice, 2001, dev2));
    assert_string_equal(dev, dev2);
    /* Another account, another key, expired, issued in the future: refused. */
    assert_false(gh_device_check(key, tok, strlen(tok), bob, 1001, dev));
    assert_false(gh_device_check(other, tok, strlen(tok), alice, 1001, dev));
    assert_false(gh_device_check(key, tok, strlen(tok), alice,
                                 1000 + GH_DEVICE_TOKEN_LIFETIME + 1, dev));
    assert_false(gh_device_check(key, tok, strlen(tok), alice, 1000 - 61, dev));
    /* Every single-character change is refused. */
    for (size_t i = 0; i < strlen(tok); i++) {
        char t[GH_DEVICE_TOKEN_MAX + 1];
        memcpy(t, tok, sizeof t);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_false(gh_device_check(key, t, strlen(t), alice, 1001, dev));
    }
    /* Malformed and oversize input. */
    assert_false(gh_device_check(key, "", 0, alice, 1001, dev));
    assert_false(gh_device_check(key, "gd1.", 4, alice, 1001, dev));
    assert_false(gh_device_check(key, "gd1.abc", 7, alice, 1001, dev));
    char big[GH_DEVICE_TOKEN_MAX + 10];
    memset(big, 'A', sizeof big);
    memcpy(big, "gd1.", 4);
    assert_false(gh_device_check(key, big, sizeof big, alice, 1001, dev));
    /* A truncated token (length shorter than the text) is refused, not read past. */
    assert_false(gh_device_check(key, tok, strlen(tok) - 1, alice, 1001, dev));
    assert_false(gh_device_check(key, tok, strlen(tok), NULL, 1001, dev));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
