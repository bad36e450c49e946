/* gh_tokencache_*: a hit needs the exact token bytes, never outlives exp, is dropped with its key,
 * and memory stays bounded however many tokens pass through; 4 threads under ASan/UBSan. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/jwt.h"
#include "core/mem.h"

#define NOW 1700000000LL

static int group_setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static struct gh_jwt_claims claims_for(const char *kid, const char *sub, int64_t exp)
{
    struct gh_jwt_claims c;
    memset(&c, 0, sizeof c);
    snprintf(c.kid, sizeof c.kid, "%s", kid);
    snprintf(c.sub, sizeof c.sub, "%s", sub);
    snprintf(c.sid, sizeof c.sid, "sid-%s", sub);
    snprintf(c.jti, sizeof c.jti, "jti-%s", sub);
    c.iat = NOW;
    c.exp = exp;
    return c;
}

/* get on an exact-size heap copy with no NUL, so a read past len is an ASan report. */
static bool get_n(struct gh_tokencache *c, const char *tok, size_t n, int64_t now,
                  struct gh_jwt_claims *out)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, tok, n);
    bool hit = gh_tokencache_get(c, copy, n, now, out);
    free(copy);
    return hit;
}

static bool get(struct gh_tokencache *c, const char *tok, int64_t now, struct gh_jwt_claims *out)
{
    return get_n(c, tok, strlen(tok), now, out);
}

static void put(struct gh_tokencache *c, const char *tok, const struct gh_jwt_claims *cl)
{
    gh_tokencache_put(c, tok, strlen(tok), cl);
}

static const char TOK[] = "eyJhbGciOiJFZERTQSIsImtpZCI6ImEiLCJ0eXAiOiJhdCtqd3QifQ.eyJzdWIiOiJ1In0."
                          "c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl";

static void test_roundtrip(void **state)
{
    (void)state;
    struct gh_tokencache *c = NULL;
    assert_int_equal(gh_tokencache_new(256, &c), GH_OK);
    struct gh_jwt_claims in = claims_for("kid-a", "user-1", NOW + 900), out;

    assert_false(get(c, TOK, NOW, &out));
    put(c, TOK, &in);
    assert_true(get(c, TOK, NOW, &out));
    assert_memory_equal(&out, &in, sizeof in);

    /* Putting the same token again replaces, not duplicates. */
    struct gh_jwt_claims in2 = claims_for("kid-a", "user-1", NOW + 100);
    put(c, TOK, &in2);
    assert_true(get(c, TOK, NOW, &out));
    assert_int_equal(out.exp, NOW + 100);
    gh_tokencache_purge(c, "kid-a");
    assert_false(get(c, TOK, NOW, &out));
    gh_tokencache_free(c);
}

static void test_different_bytes_miss(void **state)
{
    (void)state;
    struct gh_tokencache *c = NULL;
    assert_int_equal(gh_tokencache_new(64, &c), GH_OK);
    struct gh_jwt_claims in = claims_for("kid-a", "user-1", NOW + 900), out;
    put(c, TOK, &in);

    char mod[sizeof TOK];
    size_t n = strlen(TOK);
    for (size_t i = 0; i < n; i++) {
        memcpy(mod, TOK, sizeof TOK);
        mod[i] = mod[i] == 'A' ? 'B' : 'A';
        assert_false(get(c, mod, NOW, &out));
    }
    /* Prefix, extension, and the token with its NUL counted. */
    assert_false(get_n(c, TOK, n - 1, NOW, &out));
    assert_false(get_n(c, TOK, n + 1, NOW, &out));
    assert_false(get(c, "", NOW, &out));
    assert_true(get(c, TOK, NOW, &out));
    gh_tokencache_free(c);
}

static void test_expired_misses(void **state)
{
    (void)state;
    struct gh_tokencache *c = NULL;
    assert_int_equal(gh_tokencache_new(64, &c), GH_OK);
    struct gh_jwt_claims in = claims_for("kid-a", "user-1", NOW + 10), out;
    put(c, TOK, &in);
    assert_true(get(c, TOK, NOW + 9, &out));
    /* Stricter than the verifier: at exp it is gone, leeway or not... */
    assert_false(get(c, TOK, NOW + 10, &out));
    /* ...and the slot was cleared, so it does not come back for an earlier clock either. */
    assert_false(get(c, TOK, NOW, &out));
    memset(&out, 0, sizeof out);
    gh_tokencache_free(c);
}

static void test_purge_by_kid(void **state)
{
    (void)state;
    struct gh_tokencache *c = NULL;
    assert_int_equal(gh_tokencache_new(1024, &c), GH_OK);
    char tok[64];
    struct gh_jwt_claims out;
    for (int i = 0; i < 200; i++) {
        snprintf(tok, sizeof tok, "token-%d", i);
        struct gh_jwt_claims cl = claims_for(i % 2 ? "kid-odd" : "kid-even", tok, NOW + 900);
        put(c, tok, &cl);
    }
    gh_tokencache_purge(c, "kid-odd");
    int even_hits = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(tok, sizeof tok, "token-%d", i);
        bool hit = get(c, tok, NOW, &out);
        if (i % 2)
            assert_false(hit);
        else if (hit) {
            assert_string_equal(out.kid, "kid-even");
            assert_string_equal(out.sub, tok);
            even_hits++;
        }
    }
    /* 100 entries in 1024 slots: a few may have collided out, most must survive. */
    assert_true(even_hits >= 90);

    /* A kid that is a prefix of another, or unknown, removes nothing else. */
    gh_tokencache_purge(c, "kid-eve");
    gh_tokencache_purge(c, "nobody");
    int again = 0;
    for (int i = 0; i < 200; i += 2) {
        snprintf(tok, sizeof tok, "token-%d", i);
        again += get(c, tok, NOW, &out);
    }
    assert_int_equal(again, even_hits);

    gh_tokencache_purge(c, NULL);
    for (int i = 0; i < 200; i++) {
        snprintf(tok, sizeof tok, "token-%d", i);
        assert_false(get(c, tok, NOW, &out));
    }
    gh_tokencache_free(c);
}

static void check_bound(size_t asked, size_t rounded)
{
    struct gh_tokencache *c = NULL;
    assert_int_equal(gh_tokencache_new(asked, &c), GH_OK);
    char tok[64];
    struct gh_jwt_claims out;
    size_t total = rounded * 10;
    for (size_t i = 0; i < total; i++) {
        snprintf(tok, sizeof tok, "distinct-token-%zu", i);
        struct gh_jwt_claims cl = claims_for("kid-a", tok, NOW + 900 + (int64_t)i);
        put(c, tok, &cl);
        assert_true(get(c, tok, NOW, &out)); /* the newest entry is always there */
    }
    size_t hits = 0;
    for (size_t i = 0; i < total; i++) {
        snprintf(tok, sizeof tok, "distinct-token-%zu", i);
        if (get(c, tok, NOW, &out)) {
            assert_string_equal(out.sub, tok);
            hits++;
        }
    }
    assert_true(hits <= rounded);
    assert_true(hits >= rounded / 2); /* and it is actually used */
    gh_tokencache_free(c);
}

static void test_capacity_bound(void **state)
{
    (void)state;
    check_bound(64, 64);
    check_bound(100, 128); /* rounded up to a power of two */
    check_bound(1, 4);     /* one bucket */
    check_bound(4096, 4096);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct gh_tokencache *c = NULL;
    assert_int_equal(gh_tokencache_new(0, &c), GH_ERR_INVALID);
    assert_null(c);
    assert_int_equal(gh_tokencache_new(SIZE_MAX, &c), GH_ERR_INVALID);
    assert_null(c);
    gh_tokencache_free(NULL);
    gh_tokencache_purge(NULL, NULL);
    gh_tokencache_put(NULL, TOK, strlen(TOK), NULL);

    assert_int_equal(gh_tokencache_new(16, &c), GH_OK);
    struct gh_jwt_claims cl = claims_for("kid-a", "u", NOW + 900), out;
    assert_false(gh_tokencache_get(c, NULL, 5, NOW, &out));
    assert_false(gh_tokencache_get(c, TOK, strlen(TOK), NOW, NULL));
    gh_tokencache_put(c, NULL, 5, &cl);
    gh_tokencache_put(c, TOK, strlen(TOK), NULL);

    /* Longer than any token we would have verified: neither stored nor found. */
    size_t big = GH_JWT_MAX_LEN + 1;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, 'A', big);
    gh_tokencache_put(c, huge, big, &cl);
    assert_false(gh_tokencache_get(c, huge, big, NOW, &out));
    free(huge);

    /* Claims without terminators are stored terminated. */
    struct gh_jwt_claims raw;
    memset(&raw, 'x', sizeof raw);
    raw.exp = NOW + 900;
    raw.iat = NOW;
    put(c, TOK, &raw);
    assert_true(get(c, TOK, NOW, &out));
    assert_int_equal(strlen(out.kid), GH_KID_MAX);
    assert_int_equal(strlen(out.sub), GH_CLAIM_MAX);
    gh_tokencache_purge(c, out.kid);
    assert_false(get(c, TOK, NOW, &out));
    gh_tokencache_free(c);
}

static void test_allocation_failure(void **state)
{
    (void)state;
    gh_err rc = GH_ERR_NOMEM;
    struct gh_tokencache *c = NULL;
    long n;
    for (n = 1; n < 20 && rc != GH_OK; n++) {
        gh_mem_fail_after(n);
        rc = gh_tokencache_new(256, &c);
        gh_mem_fail_after(0);
        if (rc != GH_OK) {
            assert_int_equal(rc, GH_ERR_NOMEM);
            assert_null(c);
        }
    }
    assert_int_equal(rc, GH_OK);
    assert_true(n > 2);
    gh_tokencache_free(c);
}

/* ---- four threads sharing one small cache ---- */

#define POOL 512
#define OPS 20000

struct shared {
    struct gh_tokencache *c;
    char toks[POOL][32];
    atomic_int wrong;
    atomic_int hits;
};

static void *worker(void *arg)
{
    struct shared *s = arg;
    uint32_t seed = randombytes_random();
    for (int i = 0; i < OPS; i++) {
        seed = seed * 1103515245u + 12345u;
        const char *tok = s->toks[(seed >> 8) % POOL];
        unsigned op = (seed >> 20) % 16;
        if (op < 7) {
            struct gh_jwt_claims cl = claims_for(op % 2 ? "kid-a" : "kid-b", tok, NOW + 900);
            gh_tokencache_put(s->c, tok, strlen(tok), &cl);
        } else if (op < 15) {
            struct gh_jwt_claims out;
            if (gh_tokencache_get(s->c, tok, strlen(tok), NOW, &out)) {
                atomic_fetch_add(&s->hits, 1);
                /* A hit is for this token, whole: never another token's or a torn entry. */
                char sid[GH_CLAIM_MAX + 1];
                snprintf(sid, sizeof sid, "sid-%s", tok);
                if (strcmp(out.sub, tok) != 0 || strcmp(out.sid, sid) != 0 ||
                    out.exp != NOW + 900)
                    atomic_fetch_add(&s->wrong, 1);
            }
        } else {
            gh_tokencache_purge(s->c, (seed >> 4) % 2 ? "kid-a" : NULL);
        }
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    static struct shared s;
    memset(&s, 0, sizeof s);
    atomic_init(&s.wrong, 0);
    atomic_init(&s.hits, 0);
    assert_int_equal(gh_tokencache_new(128, &s.c), GH_OK);
    for (int i = 0; i < POOL; i++)
        snprintf(s.toks[i], sizeof s.toks[i], "tok-%04d", i);

    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, &s), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(atomic_load(&s.wrong), 0);
    assert_true(atomic_load(&s.hits) > 0);
    gh_tokencache_free(s.c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_different_bytes_miss),
        cmocka_unit_test(test_expired_misses),
        cmocka_unit_test(test_purge_by_kid),
        cmocka_unit_test(test_capacity_bound),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_allocation_failure),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
