/* The store contract suite: every backend must pass it. Runs against a throw-away SQLite file,
 * and against PostgreSQL when GH_TEST_STORE_BACKEND=postgresql (CTest's store/test_store_pg):
 * then GH_TEST_PG_URL names a database in which each test gets a fresh schema (search_path set
 * through the URL), and a missing URL skips (exit 77) unless GH_TEST_PG_REQUIRED=1 (CI), where
 * it fails. scripts/pg-test-cluster.sh starts a suitable server. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "store/migrations.h"
#include "store/store.h"
#include "store/store_audit.h"
#include "store/store_maintenance.h"

static char dir[64];
static char url[2048];
static bool pg_mode;
static const char *pg_base; /* GH_TEST_PG_URL */
static PGconn *pg_admin;    /* the test's own connection (creates and drops schemas) */
static char schema[40];

/* ---- PostgreSQL test plumbing ---- */

static void pg_admin_exec(const char *sql)
{
    PGresult *r = PQexec(pg_admin, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("admin SQL failed: %s: %s", sql, PQerrorMessage(pg_admin));
    PQclear(r);
}

static void url_append_encoded(char *out, size_t size, const char *v)
{
    size_t n = strlen(out);
    for (; *v && n + 4 < size; v++) {
        unsigned char ch = (unsigned char)*v;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.')
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, size - n, "%%%02X", ch);
    }
    out[n] = '\0';
}

static void url_param(char *out, size_t size, const char *key, const char *v)
{
    if (!v || !*v)
        return;
    size_t n = strlen(out);
    snprintf(out + n, size - n, "%s%s=", strchr(out, '?') ? "&" : "?", key);
    url_append_encoded(out, size, v);
}

/* A libpq URI for the server of GH_TEST_PG_URL as user/password (NULL: the URL's own) with
 * search_path set to search_schema and an application_name the test can find its connections
 * by. */
static void pg_url_for(const char *user, const char *password, const char *search_schema, char *out,
                       size_t size)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(pg_base, &err);
    if (!opts)
        fail_msg("GH_TEST_PG_URL does not parse: %s", err ? err : "?");
    const char *host = NULL, *port = NULL, *db = NULL, *u = NULL, *pw = NULL, *ssl = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0 && !host)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            u = o->val;
        else if (strcmp(o->keyword, "password") == 0)
            pw = o->val;
        else if (strcmp(o->keyword, "sslmode") == 0)
            ssl = o->val;
    }
    snprintf(out, size, "postgresql:///");
    url_param(out, size, "host", host);
    url_param(out, size, "port", port);
    url_param(out, size, "dbname", db);
    url_param(out, size, "user", user ? user : u);
    url_param(out, size, "password", password ? password : pw);
    url_param(out, size, "sslmode", ssl);
    char o[128];
    snprintf(o, sizeof o, "-csearch_path=%s", search_schema);
    url_param(out, size, "options", o);
    snprintf(o, sizeof o, "ghtest_%s", search_schema);
    url_param(out, size, "application_name", o);
    PQconninfoFree(opts);
}

static void random_name(const char *prefix, char *out, size_t size)
{
    unsigned char b[6];
    randombytes_buf(b, sizeof b);
    snprintf(out, size, "%s%02x%02x%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3], b[4], b[5]);
}

static int setup(void **state)
{
    if (pg_mode) {
        char sql[256];
        random_name("gh_t_", schema, sizeof schema);
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
        pg_admin_exec(sql);
        pg_url_for(NULL, NULL, schema, url, sizeof url);
    } else {
        snprintf(dir, sizeof dir, "/tmp/ghstoreXXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    }
    struct gh_store *s = NULL;
    assert_int_equal(gh_store_open(url, &s), GH_OK);
    int applied = -1;
    assert_int_equal(gh_store_migrate(s, &applied), GH_OK);
    assert_true(applied >= 1);
    /* Migrating again is a no-op. */
    assert_int_equal(gh_store_migrate(s, &applied), GH_OK);
    assert_int_equal(applied, 0);
    int version = 0;
    assert_int_equal(gh_store_schema_version(s, &version), GH_OK);
    assert_int_equal(version, gh_migrations[gh_migrations_count - 1].version);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    gh_store_free(*state);
    if (pg_mode) {
        char sql[256];
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
        pg_admin_exec(sql);
        return 0;
    }
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

/* Both backends number their migrations alike, so schema_version means the same on each. */
static void test_migrations_agree(void **state)
{
    (void)state;
    assert_int_equal(gh_pg_migrations_count, gh_migrations_count);
    for (int i = 0; i < gh_migrations_count; i++) {
        assert_int_equal(gh_pg_migrations[i].version, gh_migrations[i].version);
        assert_string_equal(gh_pg_migrations[i].name, gh_migrations[i].name);
    }
}

/* Several processes (separate connections, as several instances would have) rotate the same
 * refresh token at once: exactly one wins, every other one is a replay that revokes the family,
 * and no token of the family works afterwards. */
#define XP_PROCS 4
static void test_cross_process_rotation_one_winner(void **state)
{
    struct gh_store *s = *state;
    struct gh_user u;
    make_user(&u, "xproc@example.com");
    assert_int_equal(gh_store_user_insert(s, &u), GH_OK);
    for (int round = 0; round < 5; round++) {
        struct gh_session ss, got;
        char old[32];
        snprintf(old, sizeof old, "xp-%d", round);
        new_session(s, u.id, 100, old, &ss);
        int go[2], res[2], ready[2];
        assert_int_equal(pipe(go), 0);
        assert_int_equal(pipe(res), 0);
        assert_int_equal(pipe(ready), 0);
        pid_t pids[XP_PROCS];
        for (int i = 0; i < XP_PROCS; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                /* The child never touches the parent's store (its connections are the
                 * parent's): it opens its own, like another instance. */
                close(go[1]);
                close(res[0]);
                close(ready[0]);
                struct gh_store *cs = NULL;
                char out = 'E', nh[32], b = 'r';
                snprintf(nh, sizeof nh, "xp-%d-%d", round, i);
                bool opened = gh_store_open(url, &cs) == GH_OK && gh_store_ping(cs) == GH_OK;
                /* Ready (or failed): then wait for the start signal (EOF). */
                if (write(ready[1], &b, 1) != 1)
                    _exit(1);
                close(ready[1]);
                while (read(go[0], &b, 1) > 0)
                    ;
                if (opened) {
                    enum gh_rotate_result r;
                    struct gh_session os;
                    if (gh_store_refresh_rotate(cs, old, nh, 200, 5000, &r, &os) == GH_OK)
                        out = r == GH_ROTATE_OK ? 'O' : r == GH_ROTATE_REUSED ? 'R' : 'I';
                    gh_store_free(cs);
                }
                ssize_t w = write(res[1], &out, 1);
                _exit(w == 1 ? 0 : 1);
            }
        }
        close(go[0]);
        close(res[1]);
        close(ready[1]);
        for (int i = 0; i < XP_PROCS; i++) {
            char b = 0;
            assert_int_equal(read(ready[0], &b, 1), 1); /* every child has its own store */
        }
        close(ready[0]);
        close(go[1]); /* go */
        int ok = 0, reused = 0;
        for (int i = 0; i < XP_PROCS; i++) {
            char b = 0;
            assert_int_equal(read(res[0], &b, 1), 1);
            ok += b == 'O';
            reused += b == 'R';
            assert_true(b == 'O' || b == 'R');
        }
        close(res[0]);
        for (int i = 0; i < XP_PROCS; i++) {
            int st = 0;
            assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        assert_int_equal(ok, 1);
        assert_int_equal(reused, XP_PROCS - 1);
        assert_int_equal(gh_store_session_get(s, ss.id, &got), GH_OK);
        assert_int_not_equal(got.revoked_at, 0);
        for (int i = 0; i < XP_PROCS; i++) {
            char nh[32], nn[32];
            enum gh_rotate_result r;
            snprintf(nh, sizeof nh, "xp-%d-%d", round, i);
            snprintf(nn, sizeof nn, "xp-%d-%d-next", round, i);
            assert_int_equal(gh_store_refresh_rotate(s, nh, nn, 210, 5000, &r, &got), GH_OK);
            assert_int_not_equal(r, GH_ROTATE_OK); /* the winner's new token died with it */
        }
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *ping_thread(void *arg)
{
    return (void *)(intptr_t)gh_store_ping(arg);
}

/* A hashing thread (SCHED_IDLE) must not take a connection: gh_store_thread_forbid marks it,
 * and the backend refuses at the connection (debug builds abort, so the tests find any job that
 * does storage work on a hashing thread). The mark is the calling thread's only. */
static void test_hashing_thread_refused(void **state)
{
    struct gh_store *s = *state;
    assert_int_equal(gh_store_ping(s), GH_OK);
    gh_store_thread_forbid(true);
    assert_true(gh_store_thread_forbidden());
    pthread_t t;
    void *res = (void *)(intptr_t)-1;
    assert_int_equal(pthread_create(&t, NULL, ping_thread, s), 0);
    assert_int_equal(pthread_join(t, &res), 0);
    assert_int_equal((gh_err)(intptr_t)res, GH_OK); /* another thread: unaffected */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDERR_FILENO); /* the abort's message, expected here */
        gh_err rc = gh_store_ping(s);
        _exit(rc == GH_OK ? 0 : 3); /* not reached in a debug build */
    }
    gh_store_thread_forbid(false);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_false(gh_store_thread_forbidden());
    assert_int_equal(gh_store_ping(s), GH_OK);
}

/* A revocation moves the epoch of the store that made it at once, and that of another store on
 * the same database (another process or instance) within a second; a write that revokes nothing
 * leaves it alone. */
static void test_epoch_seen_by_other_instance(void **state)
{
    struct gh_store *s = *state, *other = NULL;
    struct gh_user u, v;
    struct gh_session ss;
    assert_int_equal(gh_store_open(url, &other), GH_OK);
    make_user(&u, "epoch@example.com");
    assert_int_equal(gh_store_user_insert(s, &u), GH_OK);
    new_session(s, u.id, 100, "ep1", &ss);
    (void)gh_store_epoch(other);
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 250 * 1000 * 1000};
    nanosleep(&pause, NULL);
    uint64_t mine = gh_store_epoch(s), theirs = gh_store_epoch(other);

    make_user(&v, "epoch2@example.com");
    assert_int_equal(gh_store_user_insert(s, &v), GH_OK);
    assert_int_equal(gh_store_epoch(s), mine);

    assert_int_equal(gh_store_session_revoke(s, ss.id, u.id, "logout", 150), GH_OK);
    assert_true(gh_store_epoch(s) != mine); /* the instance that served the logout: at once */
    int64_t start = now_ms();
    while (gh_store_epoch(other) == theirs && now_ms() - start < 1000) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    assert_true(gh_store_epoch(other) != theirs);
    assert_true(now_ms() - start < 1000);
    gh_store_free(other);
}

/* The audit chain through the store: appends get consecutive seqs chained by prev_hash, the tail
 * and checkpoints read back, a prune leaves an anchor and keeps the tail, and a prune past the
 * tail is refused. */
static gh_err seal_by_seq(void *ctx, struct gh_audit_row *row)
{
    (void)ctx;
    snprintf(row->hash, sizeof row->hash, "%064llx", (unsigned long long)row->seq * 7919u);
    return GH_OK;
}

static gh_err sign_fixed(void *ctx, int64_t seq, const char *hash_hex,
                         char out_sig[GH_AUDIT_SIG_TEXT + 1])
{
    (void)ctx;
    (void)hash_hex;
    snprintf(out_sig, GH_AUDIT_SIG_TEXT + 1, "sig-%lld", (long long)seq);
    return GH_OK;
}

struct audit_count {
    int anchors, checkpoints, rows;
    int64_t first_seq, anchor_seq;
    bool chained, malformed;
    char last_hash[GH_AUDIT_HASH_HEX + 1];
};

static gh_err count_anchor(void *ctx, const struct gh_audit_mark *a)
{
    struct audit_count *c = ctx;
    if (a) {
        c->anchors++;
        c->anchor_seq = a->seq;
        memcpy(c->last_hash, a->hash, sizeof c->last_hash);
    }
    return GH_OK;
}

static gh_err count_cp(void *ctx, const struct gh_audit_mark *m)
{
    struct audit_count *c = ctx;
    c->checkpoints++;
    c->malformed |= m->malformed;
    return GH_OK;
}

static gh_err count_row(void *ctx, const struct gh_audit_row *r)
{
    struct audit_count *c = ctx;
    if (c->rows++ == 0)
        c->first_seq = r->seq;
    if (c->last_hash[0] && strcmp(r->prev_hash, c->last_hash) != 0)
        c->chained = false;
    memcpy(c->last_hash, r->hash, sizeof c->last_hash);
    c->malformed |= r->malformed;
    return GH_OK;
}

static void audit_count(struct gh_store *s, struct audit_count *c)
{
    memset(c, 0, sizeof *c);
    c->chained = true;
    struct gh_audit_reader rd = {count_anchor, count_cp, count_row, c};
    assert_int_equal(gh_store_audit_read(s, &rd), GH_OK);
}

static void audit_append_n(struct gh_store *s, int n)
{
    for (int i = 0; i < n; i++) {
        struct gh_audit_row row;
        memset(&row, 0, sizeof row);
        row.ts = 1000 + i;
        snprintf(row.action, sizeof row.action, "login");
        snprintf(row.actor, sizeof row.actor, "user:%d", i);
        snprintf(row.outcome, sizeof row.outcome, "success");
        assert_int_equal(gh_store_audit_append(s, &row, seal_by_seq, NULL), GH_OK);
        assert_true(row.seq >= 1);
    }
}

struct user_rows {
    int64_t seqs[16];
    size_t n;
};

static gh_err user_row(void *ctx, const struct gh_audit_row *r)
{
    struct user_rows *u = ctx;
    if (u->n == 16)
        return GH_ERR_TOO_LARGE;
    u->seqs[u->n++] = r->seq;
    return GH_OK;
}

static gh_err stop_row(void *ctx, const struct gh_audit_row *r)
{
    (void)ctx;
    (void)r;
    return GH_ERR_CONFLICT;
}

/* One user's rows (actor or target), once each, by seq; nobody else's. */
static void test_audit_read_user(void **state)
{
    struct gh_store *s = *state;
    const char *who[][2] = {{"alice", "bob"}, {"bob", "alice"}, {"carol", "dave"},
                            {"alice", "alice"}, {"", "alice"}, {"alice2", "xalice"}};
    for (size_t i = 0; i < sizeof who / sizeof who[0]; i++) {
        struct gh_audit_row row;
        memset(&row, 0, sizeof row);
        row.ts = 1000 + (int64_t)i;
        snprintf(row.action, sizeof row.action, "login");
        snprintf(row.actor, sizeof row.actor, "%s", who[i][0]);
        snprintf(row.target, sizeof row.target, "%s", who[i][1]);
        snprintf(row.outcome, sizeof row.outcome, "success");
        assert_int_equal(gh_store_audit_append(s, &row, seal_by_seq, NULL), GH_OK);
    }
    struct user_rows u = {0};
    assert_int_equal(gh_store_audit_read_user(s, "alice", user_row, &u), GH_OK);
    assert_int_equal(u.n, 4);
    const int64_t want[] = {1, 2, 4, 5};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(u.seqs[i], want[i]);
    memset(&u, 0, sizeof u);
    assert_int_equal(gh_store_audit_read_user(s, "nobody", user_row, &u), GH_OK);
    assert_int_equal(u.n, 0);
    /* Pattern characters are data, not wildcards. */
    assert_int_equal(gh_store_audit_read_user(s, "%alice%", user_row, &u), GH_OK);
    assert_int_equal(u.n, 0);
    /* A callback's error stops the read and is returned; the store stays usable. */
    assert_int_equal(gh_store_audit_read_user(s, "alice", stop_row, NULL), GH_ERR_CONFLICT);
    assert_int_equal(gh_store_audit_read_user(s, NULL, user_row, &u), GH_ERR_INVALID);
    assert_int_equal(gh_store_audit_read_user(s, "bob", user_row, &u), GH_OK);
    assert_int_equal(u.n, 2);
}

static void test_audit_chain(void **state)
{
    struct gh_store *s = *state;
    int64_t seq = -1;
    char hash[GH_AUDIT_HASH_HEX + 1];
    assert_int_equal(gh_store_audit_tail(s, &seq, hash), GH_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(strspn(hash, "0"), 64);
    audit_append_n(s, 5);
    assert_int_equal(gh_store_audit_tail(s, &seq, hash), GH_OK);
    assert_int_equal(seq, 5);
    struct gh_audit_mark cp = {.seq = 3, .created_at = 5};
    snprintf(cp.hash, sizeof cp.hash, "%064llx", 3ull * 7919u);
    snprintf(cp.sig, sizeof cp.sig, "cp-sig");
    assert_int_equal(gh_store_audit_checkpoint_insert(s, &cp), GH_OK);
    assert_int_equal(gh_store_audit_checkpoint_insert(s, &cp), GH_OK); /* kept, not doubled */
    int64_t last = 0;
    assert_int_equal(gh_store_audit_last_checkpoint(s, &last), GH_OK);
    assert_int_equal(last, 3);
    struct audit_count c;
    audit_count(s, &c);
    assert_int_equal(c.anchors, 0);
    assert_int_equal(c.checkpoints, 1);
    assert_int_equal(c.rows, 5);
    assert_true(c.chained);
    assert_false(c.malformed);

    int64_t first = 0, deleted = -1;
    assert_int_equal(gh_store_audit_first_seq_at_or_after(s, 1002, &first), GH_OK);
    assert_int_equal(first, 3);
    assert_int_equal(gh_store_audit_first_seq_at_or_after(s, 99999, &first), GH_OK);
    assert_int_equal(first, 0);
    /* Past the tail + 1: refused, nothing deleted. */
    assert_int_equal(gh_store_audit_prune_before(s, 50, 2000, sign_fixed, NULL, &deleted),
                     GH_ERR_INVALID);
    assert_int_equal(deleted, 0);
    assert_int_equal(gh_store_audit_prune_before(s, 3, 2000, sign_fixed, NULL, &deleted), GH_OK);
    assert_int_equal(deleted, 2);
    audit_count(s, &c);
    assert_int_equal(c.anchors, 1);
    assert_int_equal(c.anchor_seq, 2);
    assert_int_equal(c.rows, 3);
    assert_int_equal(c.first_seq, 3);
    assert_true(c.chained); /* row 3's prev_hash is the anchor's hash */
    assert_int_equal(gh_store_audit_prune_before(s, 3, 2001, sign_fixed, NULL, &deleted), GH_OK);
    assert_int_equal(deleted, 0);
    /* Appends continue from the tail. */
    audit_append_n(s, 1);
    assert_int_equal(gh_store_audit_tail(s, &seq, hash), GH_OK);
    assert_int_equal(seq, 6);
}

/* ---- PostgreSQL only ---- */

/* Terminate this test's server connections (as a server restart would): a call that finds its
 * connection dead fails cleanly with a store error, the pool reconnects by itself and nothing
 * committed is lost. */
static void test_pg_reconnect(void **state)
{
    struct gh_store *s = *state;
    struct gh_user u, got;
    make_user(&u, "reconnect@example.com");
    assert_int_equal(gh_store_user_insert(s, &u), GH_OK);
    for (int round = 0; round < 3; round++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                 "WHERE application_name = 'ghtest_%s'",
                 schema);
        pg_admin_exec(sql);
        int ok = 0, failed = 0;
        for (int i = 0; i < 20 && ok < 3; i++) {
            gh_err rc = gh_store_user_get(s, u.id, &got);
            assert_true(rc == GH_OK || rc == GH_ERR_STORE);
            ok += rc == GH_OK;
            failed += rc != GH_OK;
            if (rc != GH_OK) {
                struct timespec pause = {.tv_sec = 0, .tv_nsec = 300 * 1000 * 1000};
                nanosleep(&pause, NULL); /* past the reconnect backoff */
            }
        }
        assert_int_equal(ok, 3);
        assert_true(failed <= 1);
        assert_string_equal(got.id, u.id);
    }
    /* A write in flight when the connection dies leaves nothing half-written: the session and
     * its first refresh token are one transaction. */
    struct gh_session ss, out;
    enum gh_rotate_result r;
    new_session(s, u.id, 100, "rc1", &ss);
    assert_int_equal(gh_store_refresh_rotate(s, "rc1", "rc2", 110, 5000, &r, &out), GH_OK);
    assert_int_equal(r, GH_ROTATE_OK);
    assert_int_equal(gh_store_ping(s), GH_OK);
}

/* The URL is a secret: a failed connection logs a fixed text, never the password, user, host or
 * database name. */
static void test_pg_connect_failure_is_secret_free(void **state)
{
    (void)state;
    char path[] = "/tmp/ghstorelogXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    struct gh_store *s = NULL;
    gh_err rc = gh_store_open("postgresql://ghuser-x7:pw-s3cr3t-x7@127.0.0.1:1/db-x7"
                              "?connect_timeout=2",
                              &s);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    assert_int_equal(rc, GH_ERR_STORE);
    assert_null(s);
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "store_connect_failed"));
    assert_null(strstr(buf, "s3cr3t"));
    assert_null(strstr(buf, "ghuser-x7"));
    assert_null(strstr(buf, "db-x7"));
    assert_null(strstr(buf, "127.0.0.1"));
    /* Not a URL this build knows: refused before any connection. */
    assert_int_equal(gh_store_open("mysql://x@y/z", &s), GH_ERR_CONFIG);
}

/* Least privilege (docs/deployment.md, "PostgreSQL"): the owner role migrates; the runtime role
 * serves, and can neither change the schema nor change or delete audit rows, not even after a
 * mistaken GRANT (the trigger refuses it); the owner can prune. */
static void pg_expect_refused(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        fail_msg("runtime role was allowed: %s", sql);
    if (!state || strcmp(state, "42501") != 0)
        fail_msg("expected permission denied (42501) for %s, got %s", sql,
                 state ? state : "no SQLSTATE");
    PQclear(r);
}

static void test_pg_least_privilege(void **state)
{
    (void)state;
    char owner[40], runtime[40], sch[40], pw[40], sql[1024], owner_url[2048], rt_url[2048];
    random_name("gh_own_", owner, sizeof owner);
    random_name("gh_rt_", runtime, sizeof runtime);
    random_name("gh_lp_", sch, sizeof sch);
    random_name("pw", pw, sizeof pw);
    snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN PASSWORD '%s'", owner, pw);
    pg_admin_exec(sql);
    snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN PASSWORD '%s'", runtime, pw);
    pg_admin_exec(sql);
    snprintf(sql, sizeof sql, "GRANT CONNECT ON DATABASE %s TO %s, %s", PQdb(pg_admin), owner,
             runtime);
    pg_admin_exec(sql);
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s AUTHORIZATION %s", sch, owner);
    pg_admin_exec(sql);
    pg_url_for(owner, pw, sch, owner_url, sizeof owner_url);
    pg_url_for(runtime, pw, sch, rt_url, sizeof rt_url);

    /* The owner migrates. */
    struct gh_store *os = NULL, *rs = NULL;
    int applied = 0;
    assert_int_equal(gh_store_open(owner_url, &os), GH_OK);
    assert_int_equal(gh_store_migrate(os, &applied), GH_OK);
    assert_true(applied >= 1);

    /* The runtime role's grants, as docs/deployment.md gives them (run by the owner). */
    PGconn *oc = PQconnectdb(owner_url);
    assert_int_equal(PQstatus(oc), CONNECTION_OK);
    snprintf(sql, sizeof sql,
             "GRANT USAGE ON SCHEMA %s TO %s; "
             "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %s TO %s; "
             "REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM %s; "
             "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_anchor FROM %s; "
             "REVOKE UPDATE, DELETE, TRUNCATE ON erasure_ledger FROM %s;",
             sch, runtime, sch, runtime, runtime, runtime, runtime);
    PGresult *res = PQexec(oc, sql);
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);

    /* The runtime role serves: migrate is a no-op (no DDL), the service writes work. */
    assert_int_equal(gh_store_open(rt_url, &rs), GH_OK);
    assert_int_equal(gh_store_migrate(rs, &applied), GH_OK);
    assert_int_equal(applied, 0);
    struct gh_user u;
    make_user(&u, "lp@example.com");
    assert_int_equal(gh_store_user_insert(rs, &u), GH_OK);
    struct gh_session ss;
    new_session(rs, u.id, 100, "lp1", &ss);
    assert_int_equal(gh_store_session_revoke(rs, ss.id, u.id, "logout", 120), GH_OK);
    audit_append_n(rs, 4);
    /* ... but cannot prune: the audit trail stays whole. */
    int64_t deleted = -1;
    assert_int_equal(gh_store_audit_prune_before(rs, 3, 2000, sign_fixed, NULL, &deleted),
                     GH_ERR_FORBIDDEN);
    assert_int_equal(deleted, 0);
    struct audit_count c;
    audit_count(rs, &c);
    assert_int_equal(c.rows, 4);

    PGconn *rc = PQconnectdb(rt_url);
    assert_int_equal(PQstatus(rc), CONNECTION_OK);
    pg_expect_refused(rc, "UPDATE audit_events SET outcome = 'failure'");
    pg_expect_refused(rc, "DELETE FROM audit_events");
    pg_expect_refused(rc, "TRUNCATE audit_events");
    pg_expect_refused(rc, "DELETE FROM audit_checkpoints");
    pg_expect_refused(rc, "INSERT INTO audit_anchor(id, seq, hash, sig, created_at) "
                          "VALUES (1, 1, 'x', 'y', 1)");
    pg_expect_refused(rc, "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only");
    pg_expect_refused(rc, "DROP TRIGGER audit_events_append_only ON audit_events");
    pg_expect_refused(rc, "CREATE TABLE intruder (x int)");
    pg_expect_refused(rc, "DROP TABLE audit_events");

    /* A mistaken GRANT does not open the chain: the trigger refuses every role but the owner. */
    snprintf(sql, sizeof sql, "GRANT UPDATE, DELETE ON audit_events TO %s", runtime);
    res = PQexec(oc, sql);
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    pg_expect_refused(rc, "UPDATE audit_events SET outcome = 'failure'");
    pg_expect_refused(rc, "DELETE FROM audit_events WHERE seq = 1");
    /* Not even the owner may rewrite a row. */
    pg_expect_refused(oc, "UPDATE audit_events SET outcome = 'failure'");
    PQfinish(rc);
    audit_count(rs, &c);
    assert_int_equal(c.rows, 4);
    assert_true(c.chained);

    /* The owner (gatehouse audit prune) can. */
    assert_int_equal(gh_store_audit_prune_before(os, 3, 2000, sign_fixed, NULL, &deleted), GH_OK);
    assert_int_equal(deleted, 2);

    gh_store_free(rs);
    gh_store_free(os);
    PQfinish(oc);
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", sch);
    pg_admin_exec(sql);
    snprintf(sql, sizeof sql, "DROP OWNED BY %s, %s; DROP ROLE %s; DROP ROLE %s", owner, runtime,
             owner, runtime);
    pg_admin_exec(sql);
}

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "drop cascades to ..." */
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const char *backend = getenv("GH_TEST_STORE_BACKEND");
    pg_mode = backend && strcmp(backend, "postgresql") == 0;
    if (pg_mode) {
        pg_base = getenv("GH_TEST_PG_URL");
        if (!pg_base || !*pg_base)
            pg_base = getenv("GH_TEST_PG_URL_CONFIGURED");
        const char *req = getenv("GH_TEST_PG_REQUIRED");
        if (!pg_base || !*pg_base) {
            if (req && strcmp(req, "1") == 0) {
                fprintf(stderr, "GH_TEST_PG_REQUIRED=1 but GH_TEST_PG_URL is not set\n");
                return 1;
            }
            fprintf(stderr, "skipped: set GH_TEST_PG_URL (scripts/pg-test-cluster.sh start)\n");
            return 77;
        }
        pg_admin = PQconnectdb(pg_base);
        if (PQstatus(pg_admin) != CONNECTION_OK) {
            fprintf(stderr, "cannot connect to GH_TEST_PG_URL: %s\n", PQerrorMessage(pg_admin));
            return 1;
        }
        PQsetNoticeProcessor(pg_admin, quiet_notice, NULL);
    }
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
        cmocka_unit_test(test_migrations_agree),
        cmocka_unit_test_setup_teardown(test_cross_process_rotation_one_winner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epoch_seen_by_other_instance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hashing_thread_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_read_user, setup, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup, teardown),
        cmocka_unit_test(test_pg_connect_failure_is_secret_free),
        cmocka_unit_test(test_pg_least_privilege),
    };
    int failed = cmocka_run_group_tests_name(
        pg_mode ? "store contract (postgresql)" : "store contract (sqlite)", tests, NULL, NULL);
    if (pg_mode) {
        failed += cmocka_run_group_tests_name("postgresql backend", pg_tests, NULL, NULL);
        PQfinish(pg_admin);
    }
    return failed ? 1 : 0;
}
