/* Unit tests for sessions over a real store and keyring: issue, rotate, reuse revokes the
 * family, and the verified-token cache never outlives exp, a revocation or a key withdrawal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/keys.h"
#include "auth/session.h"

struct fx {
    char dir[64];
    struct gh_store *store;
    struct gh_keywrap *kw;
    struct gh_keyring *kr;
    struct gh_tokencache *cache;
    struct gh_sessioncache *sessions;
    struct gh_pii *pii;
    char url[128];
    unsigned char refresh_key[32];
    struct gh_auth auth;
    struct gh_user user;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ghsessXXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof f->url, "sqlite:%s/t.db", f->dir);
    assert_int_equal(gh_store_open(f->url, &f->store), GH_OK);
    assert_int_equal(gh_store_migrate(f->store, NULL), GH_OK);
    unsigned char master[32];
    randombytes_buf(master, sizeof master);
    assert_int_equal(gh_keywrap_new(master, NULL, &f->kw), GH_OK);
    assert_int_equal(gh_keyring_new(&f->kr), GH_OK);
    assert_int_equal(gh_keys_ensure(f->store, f->kw, 1000), GH_OK);
    assert_int_equal(gh_keys_load(f->store, f->kw, 1000, 1800, f->kr), GH_OK);
    assert_int_equal(gh_tokencache_new(1024, &f->cache), GH_OK);
    assert_int_equal(gh_sessioncache_new(256, 5, &f->sessions), GH_OK);
    randombytes_buf(f->refresh_key, 32);
    f->auth = (struct gh_auth){.store = f->store,
                               .keyring = f->kr,
                               .cache = f->cache,
                               .sessions = f->sessions,
                               .refresh_key = f->refresh_key,
                               .iss = "https://issuer.test",
                               .aud = "gatehouse",
                               .access_ttl = 1800,
                               .idle_timeout = 3600,
                               .max_lifetime = 86400};
    unsigned char index_key[32];
    randombytes_buf(index_key, sizeof index_key);
    assert_int_equal(gh_pii_new(f->kw, index_key, &f->pii), GH_OK);
    f->auth.pii = f->pii;
    gh_random_id(f->user.id);
    snprintf(f->user.email, sizeof f->user.email, "s@example.com");
    snprintf(f->user.password_hash, sizeof f->user.password_hash, "x");
    assert_int_equal(gh_pii_seal_new_user(f->pii, "s@example.com", &f->user), GH_OK);
    assert_int_equal(gh_store_user_insert(f->store, &f->user), GH_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    gh_tokencache_free(f->cache);
    gh_sessioncache_free(f->sessions);
    gh_pii_free(f->pii);
    gh_keyring_free(f->kr);
    gh_keywrap_free(f->kw);
    gh_store_free(f->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void test_start_authenticate_refresh(void **state)
{
    struct fx *f = *state;
    struct gh_token_pair p1, p2;
    struct gh_jwt_claims c;
    struct gh_session ss;
    enum gh_rotate_result r;
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1000, NULL, &p1), GH_OK);
    assert_int_equal(strlen(p1.refresh_token), GH_REFRESH_TOKEN_LEN);
    assert_int_equal(p1.expires_in, 1800);
    const char *at = p1.access_token;
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1001, &c, &ss, NULL), GH_OK);
    assert_string_equal(c.sub, f->user.id);
    assert_string_equal(c.sid, p1.session_id);
    /* Again, now from the cache. */
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1002, &c, &ss, NULL), GH_OK);
    /* A refresh token is not an access token, and vice versa. */
    assert_int_equal(gh_session_authenticate(&f->auth, p1.refresh_token, strlen(p1.refresh_token),
                                             1002, &c, &ss, NULL),
                     GH_ERR_AUTH);
    assert_int_equal(gh_session_refresh(&f->auth, at, strlen(at), 1003, &p2, &r, NULL),
                     GH_ERR_AUTH);
    /* Rotate, then replay the old refresh token: the family dies, including the cached token. */
    assert_int_equal(
        gh_session_refresh(&f->auth, p1.refresh_token, GH_REFRESH_TOKEN_LEN, 1010, &p2, &r, &ss),
        GH_OK);
    assert_int_equal(r, GH_ROTATE_OK);
    assert_string_not_equal(p2.refresh_token, p1.refresh_token);
    const char *at2 = p2.access_token;
    assert_int_equal(gh_session_authenticate(&f->auth, at2, strlen(at2), 1011, &c, &ss, NULL),
                     GH_OK);
    struct gh_token_pair p3;
    assert_int_equal(
        gh_session_refresh(&f->auth, p1.refresh_token, GH_REFRESH_TOKEN_LEN, 1020, &p3, &r, &ss),
        GH_ERR_AUTH);
    assert_int_equal(r, GH_ROTATE_REUSED);
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1021, &c, &ss, NULL),
                     GH_ERR_AUTH);
    assert_int_equal(gh_session_authenticate(&f->auth, at2, strlen(at2), 1021, &c, &ss, NULL),
                     GH_ERR_AUTH);
    assert_int_equal(
        gh_session_refresh(&f->auth, p2.refresh_token, GH_REFRESH_TOKEN_LEN, 1022, &p3, &r, &ss),
        GH_ERR_AUTH);
    gh_token_pair_release(&p1);
    gh_token_pair_release(&p2);
}

/* A refused session hands back no decrypted profile: the session cache held the user's email,
 * and a hit whose session has gone idle is GH_ERR_AUTH with out_user's email and display name
 * wiped (the callers return at once and never wipe it themselves). */
static void test_refused_session_leaves_no_profile(void **state)
{
    struct fx *f = *state;
    struct gh_token_pair p;
    struct gh_jwt_claims c;
    struct gh_session ss;
    struct gh_user u;
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1000, NULL, &p), GH_OK);
    const char *at = p.access_token;
    memset(&u, 0, sizeof u);
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1000, &c, &ss, &u), GH_OK);
    assert_string_equal(u.email, "s@example.com"); /* and now in the session cache */
    f->auth.idle_timeout = 1;
    memset(&u, 0, sizeof u);
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1002, &c, &ss, &u),
                     GH_ERR_AUTH);
    for (size_t i = 0; i < sizeof u.email; i++)
        assert_int_equal(u.email[i], 0);
    for (size_t i = 0; i < sizeof u.display_name; i++)
        assert_int_equal(u.display_name[i], 0);
    gh_token_pair_release(&p);
}

static void test_cache_never_outlives_exp(void **state)
{
    struct fx *f = *state;
    struct gh_token_pair p;
    struct gh_jwt_claims c;
    struct gh_session ss;
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1000, NULL, &p), GH_OK);
    const char *at = p.access_token;
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1000, &c, &ss, NULL), GH_OK);
    /* At exp the cached entry is gone; beyond the leeway the verifier refuses too. */
    assert_int_equal(
        gh_session_authenticate(&f->auth, at, strlen(at), 1000 + 1800 + 61, &c, &ss, NULL),
        GH_ERR_AUTH);
    gh_token_pair_release(&p);
}

static void test_cache_never_outlives_revocation(void **state)
{
    struct fx *f = *state;
    struct gh_token_pair p;
    struct gh_jwt_claims c;
    struct gh_session ss;
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1000, NULL, &p), GH_OK);
    const char *at = p.access_token;
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1000, &c, &ss, NULL), GH_OK);
    assert_int_equal(gh_store_session_revoke(f->store, p.session_id, NULL, "logout", 1001), GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1002, &c, &ss, NULL),
                     GH_ERR_AUTH);
    /* Logout by refresh token of another session. */
    struct gh_token_pair q;
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1000, NULL, &q), GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, q.access_token, strlen(q.access_token), 1003,
                                             &c, &ss, NULL),
                     GH_OK);
    assert_int_equal(
        gh_session_revoke_by_refresh(&f->auth, q.refresh_token, GH_REFRESH_TOKEN_LEN, 1004, &ss),
        GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, q.access_token, strlen(q.access_token), 1005,
                                             &c, &ss, NULL),
                     GH_ERR_AUTH);
    gh_token_pair_release(&p);
    gh_token_pair_release(&q);
}

static void test_cache_never_outlives_key_withdrawal(void **state)
{
    struct fx *f = *state;
    struct gh_token_pair p, q;
    struct gh_jwt_claims c;
    struct gh_session ss;
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1000, NULL, &p), GH_OK);
    const char *at = p.access_token;
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1000, &c, &ss, NULL), GH_OK);
    char kid[GH_KID_MAX + 1];
    snprintf(kid, sizeof kid, "%s", c.kid);
    /* Withdraw the key in the store only (as the CLI does from another process): the running
     * keyring still holds it, the cache still holds the token — and it is refused at once. */
    assert_int_equal(gh_keys_revoke(f->store, f->kw, kid, 1001), GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1002, &c, &ss, NULL),
                     GH_ERR_AUTH);
    /* After reload, a new key signs and its tokens work; the old kid is gone from the JWKS. */
    assert_int_equal(gh_keys_load(f->store, f->kw, 1002, 1800, f->kr), GH_OK);
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1003, NULL, &q), GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, q.access_token, strlen(q.access_token), 1004,
                                             &c, &ss, NULL),
                     GH_OK);
    assert_string_not_equal(c.kid, kid);
    json_t *jwks = NULL;
    assert_int_equal(gh_keyring_jwks(f->kr, &jwks), GH_OK);
    char *text = json_dumps(jwks, 0);
    assert_null(strstr(text, kid));
    free(text);
    json_decref(jwks);
    gh_token_pair_release(&p);
    gh_token_pair_release(&q);
}

static void test_rotation_publishes_before_signing(void **state)
{
    struct fx *f = *state;
    struct gh_token_pair p;
    struct gh_jwt_claims c1, c2;
    struct gh_session ss;
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1000, NULL, &p), GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, p.access_token, strlen(p.access_token), 1000,
                                             &c1, &ss, NULL),
                     GH_OK);
    gh_token_pair_release(&p);
    char next[GH_KID_MAX + 1];
    assert_int_equal(gh_keys_rotate(f->store, f->kw, 1000, 600, next), GH_OK);
    assert_int_equal(gh_keys_load(f->store, f->kw, 1001, 1800, f->kr), GH_OK);
    json_t *jwks = NULL;
    assert_int_equal(gh_keyring_jwks(f->kr, &jwks), GH_OK);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 2);
    json_decref(jwks);
    /* Published but not yet signing. */
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1001, NULL, &p), GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, p.access_token, strlen(p.access_token), 1001,
                                             &c2, &ss, NULL),
                     GH_OK);
    assert_string_equal(c2.kid, c1.kid);
    gh_token_pair_release(&p);
    /* After activation the new key signs; the old one still verifies its tokens. */
    assert_int_equal(gh_keys_load(f->store, f->kw, 1601, 1800, f->kr), GH_OK);
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1601, NULL, &p), GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, p.access_token, strlen(p.access_token), 1601,
                                             &c2, &ss, NULL),
                     GH_OK);
    assert_string_equal(c2.kid, next);
    gh_token_pair_release(&p);
    /* Once every token of the old key has expired, it leaves the JWKS. */
    assert_int_equal(gh_keys_load(f->store, f->kw, 1601 + 1800 + 61, 1800, f->kr), GH_OK);
    assert_int_equal(gh_keyring_jwks(f->kr, &jwks), GH_OK);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
    json_decref(jwks);
}

static void test_scheduled_rotation(void **state)
{
    struct fx *f = *state;
    char kid[GH_KID_MAX + 1];
    /* The first key was created at 1000: not due before 1000 + interval. */
    assert_int_equal(gh_keys_rotate_if_due(f->store, f->kw, 1999, 1000, 300, kid), GH_OK);
    assert_string_equal(kid, "");
    assert_int_equal(gh_keys_rotate_if_due(f->store, f->kw, 2000, 1000, 300, kid), GH_OK);
    assert_int_not_equal(strlen(kid), 0);
    /* Published at once, signing only after the publish-ahead delay. */
    assert_int_equal(gh_keys_load(f->store, f->kw, 2001, 1800, f->kr), GH_OK);
    json_t *jwks = NULL;
    assert_int_equal(gh_keyring_jwks(f->kr, &jwks), GH_OK);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 2);
    json_decref(jwks);
    struct gh_token_pair p;
    struct gh_jwt_claims c;
    struct gh_session ss;
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 2001, NULL, &p), GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, p.access_token, strlen(p.access_token), 2001,
                                             &c, &ss, NULL),
                     GH_OK);
    assert_string_not_equal(c.kid, kid);
    gh_token_pair_release(&p);
    /* Not due again until the new key is interval old; interval 0 never rotates. */
    char again[GH_KID_MAX + 1];
    assert_int_equal(gh_keys_rotate_if_due(f->store, f->kw, 2500, 1000, 300, again), GH_OK);
    assert_string_equal(again, "");
    assert_int_equal(gh_keys_rotate_if_due(f->store, f->kw, 99999, 0, 300, again), GH_OK);
    assert_string_equal(again, "");
}

static void test_wrong_master_key_cannot_load(void **state)
{
    struct fx *f = *state;
    unsigned char other[32];
    struct gh_keywrap *kw = NULL;
    randombytes_buf(other, sizeof other);
    assert_int_equal(gh_keywrap_new(other, NULL, &kw), GH_OK);
    assert_int_equal(gh_keys_load(f->store, kw, 1000, 1800, f->kr), GH_ERR_CRYPTO);
    gh_keywrap_free(kw);
}

/* Another process (a second store handle on the same file, as the CLI or another server on the
 * host would have) revokes: the caches of this one must refuse at once, not after a poll. */
static void test_revocation_by_another_process_is_seen_at_once(void **state)
{
    struct fx *f = *state;
    struct gh_token_pair p;
    struct gh_jwt_claims c;
    struct gh_session ss;
    struct gh_user u;
    struct gh_store *other = NULL;
    assert_int_equal(gh_store_open(f->url, &other), GH_OK);
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1000, NULL, &p), GH_OK);
    const char *at = p.access_token;
    /* Twice: the second answer comes from both caches, with the user's profile. */
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1000, &c, &ss, &u), GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1001, &c, &ss, &u), GH_OK);
    assert_string_equal(u.email, "s@example.com");
    assert_string_equal(u.id, f->user.id);
    uint64_t e0 = gh_store_epoch(f->store);
    assert_int_equal(gh_store_session_revoke(other, p.session_id, NULL, "logout", 1002), GH_OK);
    assert_true(gh_store_epoch(f->store) > e0);
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1002, &c, &ss, &u),
                     GH_ERR_AUTH);
    gh_token_pair_release(&p);

    /* The same for revoke-all and for a key withdrawal made elsewhere. */
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1003, NULL, &p), GH_OK);
    at = p.access_token;
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1003, &c, &ss, NULL), GH_OK);
    long n = 0;
    assert_int_equal(gh_store_sessions_revoke_all(other, "all", 1004, &n), GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1004, &c, &ss, NULL),
                     GH_ERR_AUTH);
    gh_token_pair_release(&p);
    assert_int_equal(gh_session_start(&f->auth, f->user.id, 1005, NULL, &p), GH_OK);
    at = p.access_token;
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1005, &c, &ss, NULL), GH_OK);
    assert_int_equal(gh_store_key_mark(other, c.kid, 0, 1006), GH_OK);
    assert_int_equal(gh_session_authenticate(&f->auth, at, strlen(at), 1006, &c, &ss, NULL),
                     GH_ERR_AUTH);
    gh_token_pair_release(&p);
    gh_store_free(other);
}

static void test_session_cache_bounds(void **state)
{
    (void)state;
    struct gh_sessioncache *sc = NULL;
    assert_int_equal(gh_sessioncache_new(8, 5, &sc), GH_OK);
    struct gh_session ss = {.created_at = 1, .last_used_at = 1, .expires_at = 100};
    struct gh_session out;
    struct gh_user u = {0}, got;
    snprintf(ss.id, sizeof ss.id, "AAAAAAAAAAAAAAAAAAAAAA");
    snprintf(ss.user_id, sizeof ss.user_id, "BBBBBBBBBBBBBBBBBBBBBA");
    snprintf(u.email, sizeof u.email, "x@example.com");
    gh_sessioncache_put(sc, "kid1", 7, 10, &ss, &u);
    assert_true(gh_sessioncache_get(sc, ss.id, "kid1", 7, 12, &out, &got)); /* ≥ max_age/2 */
    assert_string_equal(got.email, "x@example.com");
    assert_false(gh_sessioncache_get(sc, ss.id, "kid2", 7, 12, &out, &got)); /* other key */
    gh_sessioncache_put(sc, "kid1", 7, 10, &ss, &u);
    assert_false(gh_sessioncache_get(sc, ss.id, "kid1", 8, 11, &out, &got)); /* epoch moved */
    gh_sessioncache_put(sc, "kid1", 7, 10, &ss, &u);
    assert_false(gh_sessioncache_get(sc, ss.id, "kid1", 7, 16, &out, &got)); /* too old */
    gh_sessioncache_put(sc, "kid1", 7, 10, &ss, &u);
    assert_false(gh_sessioncache_get(sc, ss.id, "kid1", 7, 9, &out, &got)); /* clock went back */
    /* Many distinct sessions: bounded, no crash, the newest are found. */
    for (int i = 0; i < 1000; i++) {
        snprintf(ss.id, sizeof ss.id, "S%021d", i);
        gh_sessioncache_put(sc, "kid1", 7, 20 + i, &ss, &u);
    }
    assert_true(gh_sessioncache_get(sc, ss.id, "kid1", 7, 1020, &out, &got));
    assert_int_equal(gh_sessioncache_new(0, 5, &sc), GH_ERR_INVALID);
    gh_sessioncache_free(sc);
}

/* The rendered view (GET /v1/me body) lives and dies with its entry. */
static void test_session_cache_view(void **state)
{
    (void)state;
    struct gh_sessioncache *sc = NULL;
    assert_int_equal(gh_sessioncache_new(8, 10, &sc), GH_OK);
    struct gh_session ss = {.created_at = 1, .last_used_at = 1, .expires_at = 100};
    struct gh_user u = {0};
    char out[GH_SESSIONCACHE_VIEW_MAX];
    size_t len = 0;
    static const char v1[] = "{\"id\":\"x\",\"email\":\"a@example.com\"}";
    snprintf(ss.id, sizeof ss.id, "AAAAAAAAAAAAAAAAAAAAAA");
    snprintf(ss.user_id, sizeof ss.user_id, "BBBBBBBBBBBBBBBBBBBBBA");

    /* no entry: a view has nowhere to go */
    gh_sessioncache_put_view(sc, ss.id, 7, 10, v1, strlen(v1));
    assert_false(gh_sessioncache_get_view(sc, ss.id, 7, 10, out, sizeof out, &len));

    gh_sessioncache_put(sc, "kid1", 7, 10, &ss, &u);
    assert_false(gh_sessioncache_get_view(sc, ss.id, 7, 10, out, sizeof out, &len)); /* none yet */
    gh_sessioncache_put_view(sc, ss.id, 8, 10, v1, strlen(v1)); /* entry is at epoch 7: refused */
    assert_false(gh_sessioncache_get_view(sc, ss.id, 7, 10, out, sizeof out, &len));
    gh_sessioncache_put_view(sc, ss.id, 7, 10, v1, strlen(v1));
    assert_true(gh_sessioncache_get_view(sc, ss.id, 7, 11, out, sizeof out, &len));
    assert_int_equal(len, strlen(v1));
    assert_memory_equal(out, v1, len);
    /* a buffer too small gets nothing, not a truncated body */
    assert_false(gh_sessioncache_get_view(sc, ss.id, 7, 11, out, 5, &len));
    /* a revocation anywhere (epoch moved), staleness, a clock gone back: no view */
    assert_false(gh_sessioncache_get_view(sc, ss.id, 8, 11, out, sizeof out, &len));
    assert_false(gh_sessioncache_get_view(sc, ss.id, 7, 21, out, sizeof out, &len));
    assert_false(gh_sessioncache_get_view(sc, ss.id, 7, 9, out, sizeof out, &len));
    /* another session's id finds nothing */
    assert_false(gh_sessioncache_get_view(sc, "CCCCCCCCCCCCCCCCCCCCCA", 7, 11, out, sizeof out,
                                          &len));
    /* the entry filled again (a storage read) starts without a view */
    gh_sessioncache_put(sc, "kid1", 7, 12, &ss, &u);
    assert_false(gh_sessioncache_get_view(sc, ss.id, 7, 12, out, sizeof out, &len));
    /* oversize and empty views are not kept */
    char big[GH_SESSIONCACHE_VIEW_MAX + 1];
    memset(big, 'x', sizeof big);
    gh_sessioncache_put_view(sc, ss.id, 7, 12, big, sizeof big);
    assert_false(gh_sessioncache_get_view(sc, ss.id, 7, 12, out, sizeof out, &len));
    gh_sessioncache_put_view(sc, ss.id, 7, 12, v1, 0);
    assert_false(gh_sessioncache_get_view(sc, ss.id, 7, 12, out, sizeof out, &len));
    gh_sessioncache_free(sc);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_authenticate_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_session_leaves_no_profile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_never_outlives_exp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_never_outlives_revocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_never_outlives_key_withdrawal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_publishes_before_signing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_master_key_cannot_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduled_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revocation_by_another_process_is_seen_at_once, setup,
                                        teardown),
        cmocka_unit_test(test_session_cache_bounds),
        cmocka_unit_test(test_session_cache_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
