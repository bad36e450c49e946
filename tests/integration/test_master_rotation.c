/* Integration: master-key rotation with environment-only configuration. Start with K1; restart
 * with K2 + previous K1 (everything still opens); `keys rotate-master` while serving, under
 * load (requests keep succeeding); restart with K2 alone: logins, refreshes, lookups by email
 * and the profile all work; K1 alone is refused at start-up. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"

#define PW "rotation passphrase meadow falcon"

struct load {
    struct h_server *srv;
    const char *access;
    const char *email;
    atomic_bool stop;
    atomic_int ok, bad;
};

static void *load_main(void *p)
{
    struct load *l = p;
    while (!atomic_load(&l->stop)) {
        long a = h_me_status(l->srv, l->access);
        long b = h_login(l->srv, l->email, PW, NULL);
        if (a == 200 && b == 200)
            atomic_fetch_add(&l->ok, 1);
        else
            atomic_fetch_add(&l->bad, 1);
    }
    return NULL;
}

static void test_rotate_master_key(void **state)
{
    (void)state;
    unsigned char k1[32], k2[32];
    char b1[64], b2[64], e1[128], e2[128], p1[128];
    randombytes_buf(k1, sizeof k1);
    randombytes_buf(k2, sizeof k2);
    sodium_bin2base64(b1, sizeof b1, k1, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(b2, sizeof b2, k2, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(e1, sizeof e1, "GATEHOUSE_MASTER_KEY=%s", b1);
    snprintf(e2, sizeof e2, "GATEHOUSE_MASTER_KEY=%s", b2);
    snprintf(p1, sizeof p1, "GATEHOUSE_MASTER_KEY_PREVIOUS=%s", b1);
    const char *env_k1[] = {e1, NULL};
    const char *env_k2_prev[] = {e2, p1, NULL};
    const char *env_k2[] = {e2, NULL};

    struct h_server srv;
    assert_int_equal(h_server_start(&srv, env_k1), 0);
    const char *email = "rotating-user@example.com";
    assert_int_equal(h_register(&srv, email, PW, "Rotating Name", NULL), 201);
    struct h_tokens t;
    assert_int_equal(h_login(&srv, email, PW, &t), 200);

    /* A backup taken before the rotation. */
    char bk[512];
    struct h_cli_result c;
    snprintf(bk, sizeof bk, "%s/before-rotation.ghbk", srv.dir);
    const char *backup[] = {"backup", "create", bk, NULL};
    assert_int_equal(h_cli(&srv, backup, &c), 0);
    assert_int_equal(c.exit_code, 0);
    h_cli_free(&c);

    /* Rolling restart onto the new key, the old one still accepted. */
    assert_int_equal(h_server_restart_with(&srv, env_k2_prev), 0);
    assert_int_equal(h_me_status(&srv, t.access), 200);
    struct h_tokens t2;
    assert_int_equal(h_login(&srv, email, PW, &t2), 200);

    /* Re-wrap everything while serving, under load. */
    struct load l = {.srv = &srv, .access = t2.access, .email = email};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, load_main, &l), 0);
    h_sleep_ms(200);
    const char *rot[] = {"keys", "rotate-master", NULL};
    assert_int_equal(h_cli(&srv, rot, &c), 0);
    if (c.exit_code != 0)
        fail_msg("rotate-master failed: %s %s", c.out, c.err);
    assert_non_null(strstr(c.out, "re-wrapped"));
    assert_null(strstr(c.out, b1));
    assert_null(strstr(c.err, b1));
    assert_null(strstr(c.out, b2));
    h_cli_free(&c);
    h_sleep_ms(200);
    atomic_store(&l.stop, true);
    pthread_join(th, NULL);
    assert_true(atomic_load(&l.ok) > 0);
    assert_int_equal(atomic_load(&l.bad), 0);
    /* Running it again finds nothing left to do. */
    assert_int_equal(h_cli(&srv, rot, &c), 0);
    assert_int_equal(c.exit_code, 0);
    assert_non_null(strstr(c.out, " 0 wrapped keys re-wrapped"));
    h_cli_free(&c);

    /* The previous key removed: everything works with the new key alone. */
    assert_int_equal(h_server_restart_with(&srv, env_k2), 0);
    assert_int_equal(h_me_status(&srv, t.access), 200); /* tokens from before the rotation */
    struct h_tokens t3;
    assert_int_equal(h_refresh(&srv, t.refresh, &t3), 200); /* refresh-hash key re-wrapped */
    assert_int_equal(h_login(&srv, email, PW, NULL), 200);   /* blind index key re-wrapped */
    struct h_response r;
    assert_int_equal(h_get(&srv, "/v1/me", t3.access, &r), 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "display_name")),
                        "Rotating Name"); /* user data key re-wrapped; data untouched */
    h_response_free(&r);

    /* The audit chain (signed with a key that was itself re-wrapped) still verifies. */
    const char *verify[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(&srv, verify, &c), 0);
    if (c.exit_code != 0)
        fail_msg("audit verify after rotation: %s %s", c.out, c.err);
    h_cli_free(&c);
    /* The backup from before the rotation restores with the new key alone. */
    assert_int_equal(h_server_stop(&srv), 0);
    const char *restore[] = {"backup", "restore", bk, NULL};
    assert_int_equal(h_cli(&srv, restore, &c), 0);
    if (c.exit_code != 0)
        fail_msg("restore after rotation: %s %s", c.out, c.err);
    h_cli_free(&c);
    /* The restored database holds its keys as they were: under the old master key. It serves
     * with the new key + previous, and one more rotate-master brings it under the new key. */
    assert_int_equal(h_server_restart_with(&srv, env_k2_prev), 0);
    assert_int_equal(h_login(&srv, email, PW, NULL), 200);
    assert_int_equal(h_cli(&srv, rot, &c), 0);
    assert_int_equal(c.exit_code, 0);
    h_cli_free(&c);
    assert_int_equal(h_server_restart_with(&srv, env_k2), 0);
    assert_int_equal(h_login(&srv, email, PW, NULL), 200);
    assert_int_equal(h_server_stop(&srv), 0);

    /* The old key alone no longer opens anything: start-up refuses. */
    assert_int_not_equal(h_server_restart_with(&srv, env_k1), 0);
    h_server_free(&srv);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotate_master_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
