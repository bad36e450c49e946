/* The store contract suite: every backend must pass it. Runs against a throw-away SQLite file
 * (and, once the PostgreSQL backend exists, against GH_TEST_PG_URL). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "store/store.h"

static char dir[64];
static char url[128];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/ghstoreXXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    struct gh_store *s = NULL;
    assert_int_equal(gh_store_open(url, &s), GH_OK);
    int applied = -1;
    assert_int_equal(gh_store_migrate(s, &applied), GH_OK);
    assert_true(applied >= 1);
    /* Migrating again is a no-op. */
    assert_int_equal(gh_store_migrate(s, &applied), GH_OK);
    assert_int_equal(applied, 0);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    gh_store_free(*state);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void make_user(struct gh_user *u, const char *email)
{
    memset(u, 0, sizeof *u);
    gh_random_id(u->id);
    /* The store keeps sealed text; any opaque string stands for it here. */
    snprintf(u->email_enc, sizeof u->email_enc, "pe1.sealed:%s", email);
    snprintf(u->email_key, sizeof u->email_key, "%s", email);
    snprintf(u->dek_wrapped, sizeof u->dek_wrapped, "gk1.wrapped");
    snprintf(u->password_hash, sizeof u->password_hash, "$argon2id$v=19$m=8,t=1,p=1$x$y");
    u->created_at = u->updated_at = 1000;
}

static void test_users(void **state)
{
    struct gh_store *s = *state;
    struct gh_user u, got, dup;
    make_user(&u, "a@example.com");
    assert_int_equal(gh_store_user_insert(s, &u), GH_OK);
    assert_int_equal(gh_store_user_get(s, u.id, &got), GH_OK);
    assert_string_equal(got.email_enc, "pe1.sealed:a@example.com");
    assert_string_equal(got.dek_wrapped, "gk1.wrapped");
    assert_string_equal(got.email, ""); /* the store never fills the plaintext view */
    assert_false(got.has_display_name);
    assert_int_equal(gh_store_user_find_by_email_key(s, "a@example.com", &got), GH_OK);
    assert_string_equal(got.id, u.id);
    assert_int_equal(gh_store_user_find_by_email_key(s, "b@example.com", &got), GH_ERR_NOT_FOUND);
    assert_int_equal(gh_store_user_get(s, "AAAAAAAAAAAAAAAAAAAAAA", &got), GH_ERR_NOT_FOUND);
    make_user(&dup, "a@example.com");
    assert_int_equal(gh_store_user_insert(s, &dup), GH_ERR_CONFLICT);
    /* Values are bound, never interpolated: a quote is just data. */
    struct gh_user q;
    make_user(&q, "o'brien@example.com'); DROP TABLE users; --");
    assert_int_equal(gh_store_user_insert(s, &q), GH_OK);
    assert_int_equal(gh_store_user_find_by_email_key(s, q.email_key, &got), GH_OK);
    assert_int_equal(gh_store_user_get(s, u.id, &got), GH_OK);
    /* A login records itself with its session; a rehash replaces the hash in the same commit. */
    struct gh_session ls = {.created_at = 2000, .last_used_at = 2000, .expires_at = 3000};
    gh_random_id(ls.id);
    snprintf(ls.user_id, sizeof ls.user_id, "%s", u.id);
    assert_int_equal(gh_store_session_create(s, &ls, "login-rt", "$argon2id$new"), GH_OK);
    assert_int_equal(gh_store_user_get(s, u.id, &got), GH_OK);
    assert_string_equal(got.password_hash, "$argon2id$new");
    assert_int_equal(got.last_login_at, 2000);
    /* A session for a user who does not exist is refused whole: no session row is left. */
    struct gh_session orphan = ls;
    gh_random_id(orphan.id);
    snprintf(orphan.user_id, sizeof orphan.user_id, "ZZZZZZZZZZZZZZZZZZZZZA");
    assert_int_equal(gh_store_session_create(s, &orphan, "orphan-rt", NULL), GH_ERR_NOT_FOUND);
    assert_int_equal(gh_store_session_get(s, orphan.id, &ls), GH_ERR_NOT_FOUND);
}

static void test_insert_all_is_atomic(void **state)
{
    struct gh_store *s = *state;
    struct gh_user users[3], got;
    make_user(&users[0], "x1@example.com");
    make_user(&users[1], "x2@example.com");
    make_user(&users[2], "x1@example.com"); /* duplicate inside the batch */
    size_t failed = 99;
    assert_int_equal(gh_store_users_insert_all(s, users, 3, &failed), GH_ERR_CONFLICT);
    assert_int_equal(failed, 2);
    assert_int_equal(gh_store_user_find_by_email_key(s, "x1@example.com", &got), GH_ERR_NOT_FOUND);
    assert_int_equal(gh_store_users_insert_all(s, users, 2, NULL), GH_OK);
    assert_int_equal(gh_store_user_find_by_email_key(s, "x2@example.com", &got), GH_OK);
}

static void new_session(struct gh_store *s, const char *user_id, int64_t now, const char *rt,
                        struct gh_session *ss)
{
    memset(ss, 0, sizeof *ss);
    gh_random_id(ss->id);
    snprintf(ss->user_id, sizeof ss->user_id, "%s", user_id);
    ss->created_at = ss->last_used_at = now;
    ss->expires_at = now + 1000;
    assert_int_equal(gh_store_session_create(s, ss, rt, NULL), GH_OK);
}

static void test_rotation_and_reuse(void **state)
{
    struct gh_store *s = *state;
    struct gh_user u;
    struct gh_session ss, out;
    enum gh_rotate_result r;
    make_user(&u, "r@example.com");
    assert_int_equal(gh_store_user_insert(s, &u), GH_OK);
    new_session(s, u.id, 100, "h1", &ss);
    assert_int_equal(gh_store_refresh_rotate(s, "h1", "h2", 110, 500, &r, &out), GH_OK);
    assert_int_equal(r, GH_ROTATE_OK);
    assert_string_equal(out.id, ss.id);
    assert_int_equal(out.last_used_at, 110);
    assert_int_equal(gh_store_refresh_rotate(s, "h2", "h3", 120, 500, &r, &out), GH_OK);
    assert_int_equal(r, GH_ROTATE_OK);
    /* Replay of h1: the whole session is revoked, and h3 is dead too. */
    assert_int_equal(gh_store_refresh_rotate(s, "h1", "h4", 130, 500, &r, &out), GH_OK);
    assert_int_equal(r, GH_ROTATE_REUSED);
    assert_int_not_equal(out.revoked_at, 0);
    assert_int_equal(gh_store_refresh_rotate(s, "h3", "h5", 140, 500, &r, &out), GH_OK);
    assert_int_equal(r, GH_ROTATE_INVALID);
    /* The replacement h4 was never stored. */
    assert_int_equal(gh_store_refresh_rotate(s, "h4", "h6", 140, 500, &r, &out), GH_OK);
    assert_int_equal(r, GH_ROTATE_INVALID);
    /* Unknown token. */
    assert_int_equal(gh_store_refresh_rotate(s, "nope", "h7", 140, 500, &r, &out), GH_OK);
    assert_int_equal(r, GH_ROTATE_INVALID);
}

static void test_idle_and_absolute_expiry(void **state)
{
    struct gh_store *s = *state;
    struct gh_user u;
    struct gh_session ss, out;
    enum gh_rotate_result r;
    make_user(&u, "e@example.com");
    assert_int_equal(gh_store_user_insert(s, &u), GH_OK);
    new_session(s, u.id, 100, "e1", &ss);
    /* Idle timeout 50: at 151 the session is idle-expired. */
    assert_int_equal(gh_store_refresh_rotate(s, "e1", "e2", 151, 50, &r, &out), GH_OK);
    assert_int_equal(r, GH_ROTATE_INVALID);
    new_session(s, u.id, 100, "f1", &ss);
    /* Absolute expiry at 1100, even when always active. */
    assert_int_equal(gh_store_refresh_rotate(s, "f1", "f2", 1100, 5000, &r, &out), GH_OK);
    assert_int_equal(r, GH_ROTATE_INVALID);
    assert_false(gh_session_is_active(&ss, 1100, 5000));
    assert_true(gh_session_is_active(&ss, 1099, 5000));
}

struct race {
    struct gh_store *s;
    const char *old_hash;
    char new_hash[32];
    enum gh_rotate_result r;
    gh_err rc;
};

static void *race_main(void *arg)
{
    struct race *rc = arg;
    struct gh_session out;
    rc->rc = gh_store_refresh_rotate(rc->s, rc->old_hash, rc->new_hash, 200, 5000, &rc->r, &out);
    return NULL;
}

static void test_concurrent_rotation_one_winner(void **state)
{
    struct gh_store *s = *state;
    struct gh_user u;
    make_user(&u, "race@example.com");
    assert_int_equal(gh_store_user_insert(s, &u), GH_OK);
    for (int round = 0; round < 20; round++) {
        struct gh_session ss;
        char old[32];
        snprintf(old, sizeof old, "race-%d", round);
        new_session(s, u.id, 100, old, &ss);
        struct race rs[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            rs[i].s = s;
            rs[i].old_hash = old;
            snprintf(rs[i].new_hash, sizeof rs[i].new_hash, "race-%d-%d", round, i);
            assert_int_equal(pthread_create(&th[i], NULL, race_main, &rs[i]), 0);
        }
        int ok = 0, reused = 0;
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(rs[i].rc, GH_OK);
            ok += rs[i].r == GH_ROTATE_OK;
            reused += rs[i].r == GH_ROTATE_REUSED;
        }
        assert_int_equal(ok, 1);
        assert_int_equal(reused, 3); /* the losers replayed a used token: family revoked */
    }
}

static void test_revoke_scoping_and_listing(void **state)
{
    struct gh_store *s = *state;
    struct gh_user a, b;
    struct gh_session sa1, sa2, sb, got;
    make_user(&a, "la@example.com");
    make_user(&b, "lb@example.com");
    assert_int_equal(gh_store_user_insert(s, &a), GH_OK);
    assert_int_equal(gh_store_user_insert(s, &b), GH_OK);
    new_session(s, a.id, 100, "la1", &sa1);
    new_session(s, a.id, 101, "la2", &sa2);
    new_session(s, b.id, 100, "lb1", &sb);
    struct gh_session *list = NULL;
    size_t n = 0;
    assert_int_equal(gh_store_sessions_list(s, a.id, 150, 5000, 10, &list, &n), GH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, sa2.id); /* newest first */
    free(list);
    /* b cannot revoke a's session: not found, and it stays active. */
    assert_int_equal(gh_store_session_revoke(s, sa1.id, b.id, "x", 150), GH_ERR_NOT_FOUND);
    assert_int_equal(gh_store_session_get(s, sa1.id, &got), GH_OK);
    assert_int_equal(got.revoked_at, 0);
    assert_int_equal(gh_store_session_revoke(s, sa1.id, a.id, "x", 150), GH_OK);
    assert_int_equal(gh_store_session_get(s, sa1.id, &got), GH_OK);
    assert_int_equal(got.revoked_at, 150);
    assert_int_equal(gh_store_sessions_list(s, a.id, 150, 5000, 10, &list, &n), GH_OK);
    assert_int_equal(n, 1);
    free(list);
    /* Password change revokes every other session of the user, not the kept one or b's. */
    new_session(s, a.id, 102, "la3", &sa1);
    assert_int_equal(gh_store_user_set_password(s, a.id, "$argon2id$pw2", 160, true, sa2.id),
                     GH_OK);
    assert_int_equal(gh_store_session_get(s, sa1.id, &got), GH_OK);
    assert_int_not_equal(got.revoked_at, 0);
    assert_int_equal(gh_store_session_get(s, sa2.id, &got), GH_OK);
    assert_int_equal(got.revoked_at, 0);
    assert_int_equal(gh_store_session_get(s, sb.id, &got), GH_OK);
    assert_int_equal(got.revoked_at, 0);
    long count = 0;
    assert_int_equal(gh_store_sessions_revoke_all(s, "all", 170, &count), GH_OK);
    assert_int_equal(count, 2);
}

/* The admin role: stored, read back by every user read, changed only by set_admin (unknown id:
 * not found), and every change moves the revocation epoch. */
static void test_admin_role(void **state)
{
    struct gh_store *s = *state;
    struct gh_user u, adm, got;
    make_user(&u, "plain@example.com");
    make_user(&adm, "boss@example.com");
    adm.admin = true;
    assert_int_equal(gh_store_user_insert(s, &u), GH_OK);
    assert_int_equal(gh_store_user_insert(s, &adm), GH_OK);
    assert_int_equal(gh_store_user_get(s, u.id, &got), GH_OK);
    assert_false(got.admin);
    assert_int_equal(gh_store_user_find_by_email_key(s, "boss@example.com", &got), GH_OK);
    assert_true(got.admin);

    uint64_t e0 = gh_store_epoch(s);
    assert_int_equal(gh_store_user_set_admin(s, u.id, true), GH_OK);
    assert_true(gh_store_epoch(s) > e0);
    assert_int_equal(gh_store_user_get(s, u.id, &got), GH_OK);
    assert_true(got.admin);
    uint64_t e1 = gh_store_epoch(s);
    assert_int_equal(gh_store_user_set_admin(s, adm.id, false), GH_OK);
    assert_true(gh_store_epoch(s) > e1);
    assert_int_equal(gh_store_user_get(s, adm.id, &got), GH_OK);
    assert_false(got.admin);
    /* Setting the role it already has is fine; an unknown id is not found and changes nothing. */
    assert_int_equal(gh_store_user_set_admin(s, adm.id, false), GH_OK);
    uint64_t e2 = gh_store_epoch(s);
    assert_int_equal(gh_store_user_set_admin(s, "AAAAAAAAAAAAAAAAAAAAAA", true), GH_ERR_NOT_FOUND);
    assert_int_equal(gh_store_epoch(s), e2);
    assert_int_equal(gh_store_user_get(s, u.id, &got), GH_OK);
    assert_true(got.admin);
}

/* Revoking every session of one user: all of theirs (none kept), nobody else's; unknown user
 * is not found; the epoch moves. */
static void test_user_sessions_revoke(void **state)
{
    struct gh_store *s = *state;
    struct gh_user a, b;
    struct gh_session sa1, sa2, sb, got;
    make_user(&a, "ra@example.com");
    make_user(&b, "rb@example.com");
    assert_int_equal(gh_store_user_insert(s, &a), GH_OK);
    assert_int_equal(gh_store_user_insert(s, &b), GH_OK);
    new_session(s, a.id, 100, "ra1", &sa1);
    new_session(s, a.id, 101, "ra2", &sa2);
    new_session(s, b.id, 100, "rb1", &sb);
    assert_int_equal(gh_store_session_revoke(s, sa1.id, a.id, "logout", 120), GH_OK);
    uint64_t e0 = gh_store_epoch(s);
    long n = -1;
    assert_int_equal(gh_store_user_sessions_revoke(s, a.id, "admin_revoked", 150, &n), GH_OK);
    assert_int_equal(n, 1); /* sa1 was already revoked */
    assert_true(gh_store_epoch(s) > e0);
    assert_int_equal(gh_store_session_get(s, sa1.id, &got), GH_OK);
    assert_int_equal(got.revoked_at, 120); /* an earlier revocation is kept as it was */
    assert_int_equal(gh_store_session_get(s, sa2.id, &got), GH_OK);
    assert_int_equal(got.revoked_at, 150);
    assert_int_equal(gh_store_session_get(s, sb.id, &got), GH_OK);
    assert_int_equal(got.revoked_at, 0);
    /* Again: nothing left to revoke, still fine. */
    assert_int_equal(gh_store_user_sessions_revoke(s, a.id, "admin_revoked", 160, &n), GH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(gh_store_user_sessions_revoke(s, "AAAAAAAAAAAAAAAAAAAAAA", "x", 160, NULL),
                     GH_ERR_NOT_FOUND);
    assert_int_equal(gh_store_session_get(s, sb.id, &got), GH_OK);
    assert_int_equal(got.revoked_at, 0);
}

static void test_keys_and_access_check(void **state)
{
    struct gh_store *s = *state;
    struct gh_stored_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.kid, sizeof k.kid, "kid1");
    snprintf(k.alg, sizeof k.alg, "EdDSA");
    snprintf(k.public_key, sizeof k.public_key, "pk");
    snprintf(k.wrapped_private, sizeof k.wrapped_private, "gk1.x.y");
    k.created_at = k.activates_at = 10;
    int64_t c0 = 0, c1 = 0;
    assert_int_equal(gh_store_counter_get(s, "keys", &c0), GH_OK);
    assert_int_equal(gh_store_key_insert(s, &k), GH_OK);
    assert_int_equal(gh_store_counter_get(s, "keys", &c1), GH_OK);
    assert_true(c1 > c0);
    struct gh_stored_key *keys = NULL;
    size_t n = 0;
    assert_int_equal(gh_store_keys_list(s, &keys, &n), GH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0].wrapped_private, "gk1.x.y");
    free(keys);

    struct gh_user u;
    struct gh_session ss, got;
    bool revoked = true;
    make_user(&u, "k@example.com");
    assert_int_equal(gh_store_user_insert(s, &u), GH_OK);
    new_session(s, u.id, 100, "k1", &ss);
    assert_int_equal(gh_store_access_check(s, ss.id, "kid1", &got, NULL, &revoked), GH_OK);
    assert_false(revoked);
    assert_int_equal(gh_store_key_mark(s, "kid1", 0, 50), GH_OK);
    assert_int_equal(gh_store_access_check(s, ss.id, "kid1", &got, NULL, &revoked), GH_OK);
    assert_true(revoked);
    assert_int_equal(gh_store_key_mark(s, "kid1", 0, 60), GH_ERR_NOT_FOUND);
    assert_int_equal(
        gh_store_access_check(s, "AAAAAAAAAAAAAAAAAAAAAA", "kid1", &got, NULL, &revoked),
        GH_ERR_NOT_FOUND);

    char out[GH_HASH_TEXT_MAX + 1];
    assert_int_equal(gh_store_wrapped_key_get(s, "w", out), GH_ERR_NOT_FOUND);
    assert_int_equal(gh_store_wrapped_key_put_if_absent(s, "w", "first", 1, out), GH_OK);
    assert_string_equal(out, "first");
    assert_int_equal(gh_store_wrapped_key_put_if_absent(s, "w", "second", 2, out), GH_OK);
    assert_string_equal(out, "first");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_all_is_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_and_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_and_absolute_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_rotation_one_winner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_scoping_and_listing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_and_access_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_sessions_revoke, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
