/* Integration: JWKS contents, signing-key rotation and emergency revocation through the CLI while
 * the server runs, and `sessions revoke-all`. Tests run in order and share one server. */
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

static void token_kid(const char *access, char *out, size_t size)
{
    json_t *h = h_jwt_part(access, 0);
    assert_non_null(h);
    const char *kid = json_string_value(json_object_get(h, "kid"));
    assert_non_null(kid);
    snprintf(out, size, "%s", kid);
    json_decref(h);
}

static void run_cli_ok(const char *const *args, struct h_cli_result *out)
{
    assert_int_equal(h_cli(&srv, args, out), 0);
    if (out->exit_code != 0)
        fail_msg("gatehouse %s %s: exit %d\nstdout: %s\nstderr: %s", args[0],
                 args[1] ? args[1] : "", out->exit_code, out->out, out->err);
}

static void test_jwks_shape(void **state)
{
    (void)state;
    char email[128], kid[64];
    struct h_tokens t;
    h_user_session(&srv, "jwks", PW, email, sizeof email, &t);
    token_kid(t.access, kid, sizeof kid);

    struct h_response r;
    assert_int_equal(h_get(&srv, "/.well-known/jwks.json", NULL, &r), 0);
    h_assert_json_response(&r, 200);
    json_t *keys = json_object_get(r.json, "keys");
    assert_true(json_is_array(keys));
    assert_true(json_array_size(keys) >= 1);
    size_t i;
    json_t *k;
    bool found = false;
    json_array_foreach(keys, i, k)
    {
        assert_string_equal(json_string_value(json_object_get(k, "kty")), "OKP");
        assert_string_equal(json_string_value(json_object_get(k, "crv")), "Ed25519");
        assert_string_equal(json_string_value(json_object_get(k, "alg")), "EdDSA");
        assert_true(json_is_string(json_object_get(k, "kid")));
        /* x is 32 bytes → 43 base64url characters; no private part */
        assert_int_equal(json_string_length(json_object_get(k, "x")), 43);
        assert_null(json_object_get(k, "d"));
        if (strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0)
            found = true;
    }
    assert_true(found);
    h_response_free(&r);
}

static bool poll_jwks(const char *kid, bool want_present, size_t want_n, long timeout_ms)
{
    for (long waited = 0; waited <= timeout_ms; waited += 100) {
        size_t n = 0;
        bool has = h_jwks_has_kid(&srv, kid, &n);
        if (has == want_present && (want_n == 0 || n == want_n))
            return true;
        h_sleep_ms(100);
    }
    return false;
}

static void test_rotate_then_revoke(void **state)
{
    (void)state;
    char email[128], old_kid[64], kid[64];
    struct h_tokens t;
    h_user_session(&srv, "rotate", PW, email, sizeof email, &t);
    token_kid(t.access, old_kid, sizeof old_kid);
    size_t n0 = 0;
    assert_true(h_jwks_has_kid(&srv, old_kid, &n0));
    assert_int_equal(n0, 1);

    /* keys list names the signing key */
    struct h_cli_result c;
    const char *list[] = {"keys", "list", NULL};
    run_cli_ok(list, &c);
    assert_non_null(strstr(c.out, old_kid));
    h_cli_free(&c);

    /* rotate with a delay: the next key is published at once, the old one keeps signing */
    const char *rotate[] = {"keys", "rotate", "3600", NULL};
    run_cli_ok(rotate, &c);
    h_cli_free(&c);
    if (!poll_jwks(old_kid, true, 2, 3000))
        fail_msg("the JWKS does not show 2 keys within 3 s of keys rotate 3600");
    struct h_tokens t2;
    assert_int_equal(h_login(&srv, email, PW, &t2), 200);
    token_kid(t2.access, kid, sizeof kid);
    assert_string_equal(kid, old_kid);
    assert_int_equal(h_me_status(&srv, t.access), 200);

    /* emergency revoke of the signing key: its tokens are refused at once */
    const char *revoke[] = {"keys", "revoke", old_kid, NULL};
    run_cli_ok(revoke, &c);
    h_cli_free(&c);
    h_expect_refused_after_cli(&srv, t.access);
    assert_int_equal(h_me_status(&srv, t.access), 401); /* and stays refused */
    h_expect_refused_after_cli(&srv, t2.access);
    struct h_response r;
    assert_int_equal(h_get(&srv, "/v1/me", t.access, &r), 0);
    h_assert_problem(&srv, &r, 401);
    h_response_free(&r);

    /* and it leaves the JWKS within ~2 s */
    if (!poll_jwks(old_kid, false, 0, 3000))
        fail_msg("revoked kid %s still in the JWKS 3 s after keys revoke", old_kid);

    /* a new login signs with another key, and that token works */
    struct h_tokens t3;
    assert_int_equal(h_login(&srv, email, PW, &t3), 200);
    token_kid(t3.access, kid, sizeof kid);
    assert_string_not_equal(kid, old_kid);
    assert_true(h_jwks_has_kid(&srv, kid, NULL));
    assert_int_equal(h_me_status(&srv, t3.access), 200);
    /* the old tokens stay refused */
    assert_int_equal(h_me_status(&srv, t.access), 401);

    /* revoking it again, or an unknown kid, fails with a message */
    run_cli_ok(list, &c);
    assert_non_null(strstr(c.out, kid));
    h_cli_free(&c);
    assert_int_equal(h_cli(&srv, revoke, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    assert_true(strlen(c.err) > 0);
    h_cli_free(&c);
    const char *revoke_unknown[] = {"keys", "revoke", "no-such-kid", NULL};
    assert_int_equal(h_cli(&srv, revoke_unknown, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    assert_true(strlen(c.err) > 0);
    h_cli_free(&c);
    assert_int_equal(h_me_status(&srv, t3.access), 200);
}

static void test_rotate_now_keeps_old_tokens(void **state)
{
    (void)state;
    char email[128], kid_before[64], kid_after[64];
    struct h_tokens t;
    h_user_session(&srv, "rotnow", PW, email, sizeof email, &t);
    token_kid(t.access, kid_before, sizeof kid_before);
    /* keys carry whole-second activation times: keep clear of the current key's second (the
     * same-second case is test_rotate_in_same_second_new_key_signs) */
    h_sleep_ms(1100);
    struct h_cli_result c;
    const char *rotate[] = {"keys", "rotate", "0", NULL};
    run_cli_ok(rotate, &c);
    h_cli_free(&c);
    /* the ordinary rotation: new tokens get the new key (after reload), old ones stay valid */
    bool switched = false;
    for (int i = 0; i < 40 && !switched; i++) {
        struct h_tokens t2;
        assert_int_equal(h_login(&srv, email, PW, &t2), 200);
        token_kid(t2.access, kid_after, sizeof kid_after);
        switched = strcmp(kid_after, kid_before) != 0;
        if (!switched)
            h_sleep_ms(100);
    }
    assert_true(switched);
    assert_true(h_jwks_has_kid(&srv, kid_before, NULL));
    assert_true(h_jwks_has_kid(&srv, kid_after, NULL));
    assert_int_equal(h_me_status(&srv, t.access), 200);
}

/* `keys rotate` (activate now) must make the new key the signer even when the current key
 * activated in the same second (keys are ordered by a whole-second activates_at). */
static void test_rotate_in_same_second_new_key_signs(void **state)
{
    (void)state;
    char email[128], kid[64], newkid[64];
    struct h_tokens t;
    h_user_session(&srv, "rotsame", PW, email, sizeof email, &t);
    const char *rotate[] = {"keys", "rotate", "0", NULL};
    for (int round = 0; round < 8; round++) {
        struct h_cli_result c;
        run_cli_ok(rotate, &c);
        /* "new signing key KID: ..." */
        const char *p = strstr(c.out, "new signing key ");
        assert_non_null(p);
        p += strlen("new signing key ");
        size_t n = strcspn(p, ": \n");
        assert_true(n > 0 && n < sizeof newkid);
        memcpy(newkid, p, n);
        newkid[n] = '\0';
        h_cli_free(&c);
        bool signs = false;
        for (int i = 0; i < 20 && !signs; i++) {
            struct h_tokens t2;
            assert_int_equal(h_login(&srv, email, PW, &t2), 200);
            token_kid(t2.access, kid, sizeof kid);
            signs = strcmp(kid, newkid) == 0;
            if (!signs)
                h_sleep_ms(100);
        }
        if (!signs)
            fail_msg("round %d: after `keys rotate` created %s, tokens are still signed by %s "
                     "2 s later (same-second activation tie broken by kid order)",
                     round, newkid, kid);
    }
}

static void test_sessions_revoke_all(void **state)
{
    (void)state;
    char e1[128], e2[128];
    struct h_tokens a, b;
    h_user_session(&srv, "all1", PW, e1, sizeof e1, &a);
    h_user_session(&srv, "all2", PW, e2, sizeof e2, &b);
    assert_int_equal(h_me_status(&srv, a.access), 200);
    assert_int_equal(h_me_status(&srv, b.access), 200);
    struct h_cli_result c;
    const char *args[] = {"sessions", "revoke-all", NULL};
    run_cli_ok(args, &c);
    assert_non_null(strstr(c.out, "revoked"));
    h_cli_free(&c);
    h_expect_refused_after_cli(&srv, a.access);
    h_expect_refused_after_cli(&srv, b.access);
    assert_int_equal(h_refresh(&srv, a.refresh, NULL), 401);
    assert_int_equal(h_refresh(&srv, b.refresh, NULL), 401);
    /* users can sign in again */
    struct h_tokens a2;
    assert_int_equal(h_login(&srv, e1, PW, &a2), 200);
    assert_int_equal(h_me_status(&srv, a2.access), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwks_shape),
        cmocka_unit_test(test_rotate_then_revoke),
        cmocka_unit_test(test_rotate_now_keeps_old_tokens),
        cmocka_unit_test(test_sessions_revoke_all),
        cmocka_unit_test(test_rotate_in_same_second_new_key_signs),
    };
    return cmocka_run_group_tests_name("integration/revocation", tests, setup, teardown);
}
