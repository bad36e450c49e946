/* gh_ratelimit_*: GCRA allows the burst, then the rate; keys and rules are independent; memory
 * is fixed however many keys arrive; 4 threads on one key never exceed burst + elapsed * rate. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/ratelimit.h"
#include "core/mem.h"

#define T0 1000000 /* an arbitrary monotonic "now" */

static const struct gh_rate_rule login = {"login", 1.0, 5};          /* 5 at once, then 1/s */
static const struct gh_rate_rule slow = {"register", 1.0 / 60.0, 3}; /* 3, then 1/min */

static int group_setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static struct gh_ratelimit *new_rl(size_t max_keys)
{
    struct gh_ratelimit *rl = NULL;
    assert_int_equal(gh_ratelimit_new_memory(max_keys, &rl), GH_OK);
    assert_non_null(rl);
    return rl;
}

static struct gh_rate_decision check(struct gh_ratelimit *rl, const struct gh_rate_rule *r,
                                     const char *key, int64_t now)
{
    struct gh_rate_decision d;
    assert_int_equal(gh_ratelimit_check(rl, r, key, now, &d), GH_OK);
    return d;
}

static void test_burst_then_refused(void **state)
{
    (void)state;
    struct gh_ratelimit *rl = new_rl(1024);
    for (unsigned i = 0; i < 5; i++) {
        struct gh_rate_decision d = check(rl, &login, "203.0.113.1", T0);
        assert_true(d.allowed);
        assert_int_equal(d.remaining, 4 - i);
        assert_int_equal(d.reset_ms, 1000 * (i + 1)); /* until the whole burst is back */
        assert_int_equal(d.retry_after_ms, i == 4 ? 1000 : 0);
    }
    struct gh_rate_decision d = check(rl, &login, "203.0.113.1", T0);
    assert_false(d.allowed);
    assert_int_equal(d.remaining, 0);
    assert_int_equal(d.retry_after_ms, 1000);
    assert_int_equal(d.reset_ms, 5000);
    /* refusals do not move the schedule: hammering does not push retry_after further out */
    for (int i = 0; i < 100; i++)
        assert_false(check(rl, &login, "203.0.113.1", T0 + 10).allowed);
    d = check(rl, &login, "203.0.113.1", T0 + 400);
    assert_false(d.allowed);
    assert_int_equal(d.retry_after_ms, 600);
    assert_int_equal(d.reset_ms, 4600);
    d = check(rl, &login, "203.0.113.1", T0 + 999);
    assert_false(d.allowed);
    assert_int_equal(d.retry_after_ms, 1);
    d = check(rl, &login, "203.0.113.1", T0 + 1000); /* exactly at retry_after */
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 0);
    gh_ratelimit_free(rl);
}

static void test_refill_rate(void **state)
{
    (void)state;
    struct gh_ratelimit *rl = new_rl(1024);
    for (int i = 0; i < 3; i++)
        assert_true(check(rl, &slow, "k", T0).allowed);
    assert_false(check(rl, &slow, "k", T0).allowed);
    /* one request per 60 s, not more */
    for (int m = 1; m <= 5; m++) {
        int64_t t = T0 + m * 60000;
        assert_false(check(rl, &slow, "k", t - 1).allowed);
        struct gh_rate_decision d = check(rl, &slow, "k", t);
        assert_true(d.allowed);
        assert_int_equal(d.remaining, 0);
        assert_int_equal(d.reset_ms, 180000);
        assert_false(check(rl, &slow, "k", t).allowed);
    }
    /* idle long enough: the full burst again, never more */
    int64_t later = T0 + 5 * 60000 + 10 * 60000;
    for (int i = 0; i < 3; i++)
        assert_true(check(rl, &slow, "k", later).allowed);
    assert_false(check(rl, &slow, "k", later).allowed);

    /* sustained: over 100 s at 1/s with burst 5, exactly 5 + 100 allowed (+1 for t = 100 s) */
    int allowed = 0;
    for (int64_t t = 0; t <= 100000; t += 50)
        allowed += check(rl, &login, "steady", T0 + t).allowed;
    assert_int_equal(allowed, 5 + 100);

    /* fractional rate: 3/s means 3 per second, not 3.003 */
    const struct gh_rate_rule three = {"api", 3.0, 3};
    allowed = 0;
    for (int64_t t = 0; t < 60000; t++)
        allowed += check(rl, &three, "frac", T0 + t).allowed;
    assert_true(allowed <= 3 + 180);
    assert_true(allowed >= 3 + 179);
    gh_ratelimit_free(rl);
}

static void test_keys_and_rules_independent(void **state)
{
    (void)state;
    struct gh_ratelimit *rl = new_rl(1024);
    const struct gh_rate_rule login1 = {"login", 1.0, 1};
    const struct gh_rate_rule refresh1 = {"refresh", 1.0, 1};
    assert_true(check(rl, &login1, "a", T0).allowed);
    assert_false(check(rl, &login1, "a", T0).allowed);
    assert_true(check(rl, &login1, "b", T0).allowed);   /* another key */
    assert_true(check(rl, &refresh1, "a", T0).allowed); /* another rule, same key */
    assert_false(check(rl, &refresh1, "a", T0).allowed);
    assert_true(check(rl, &login1, "a\x01", T0).allowed);
    assert_true(check(rl, &login1, "", T0).allowed); /* the empty key is a key */
    assert_false(check(rl, &login1, "", T0).allowed);
    gh_ratelimit_free(rl);
}

static void test_headers(void **state)
{
    (void)state;
    struct gh_ratelimit *rl = new_rl(64);
    char lim[GH_RATELIMIT_HEADER_MAX], pol[GH_RATELIMIT_HEADER_MAX];

    struct gh_rate_decision d = check(rl, &login, "h", T0);
    gh_ratelimit_headers(&login, &d, lim, sizeof lim, pol, sizeof pol);
    assert_string_equal(lim, "\"login\";r=4;t=1");
    assert_string_equal(pol, "\"login\";q=5;w=5");
    for (int i = 0; i < 4; i++)
        d = check(rl, &login, "h", T0);
    d = check(rl, &login, "h", T0 + 1);
    assert_false(d.allowed);
    gh_ratelimit_headers(&login, &d, lim, sizeof lim, pol, sizeof pol);
    assert_string_equal(lim, "\"login\";r=0;t=1"); /* r = 0: t is the wait, ≤ Retry-After */

    d = check(rl, &slow, "h", T0);
    gh_ratelimit_headers(&slow, &d, lim, sizeof lim, pol, sizeof pol);
    assert_string_equal(lim, "\"register\";r=2;t=60");
    assert_string_equal(pol, "\"register\";q=3;w=180");

    /* a rule at the limits still fits GH_RATELIMIT_HEADER_MAX */
    const struct gh_rate_rule big = {"abcdefghijklmnopqrstuvwxyz012345", 0.001, 1000000};
    d.remaining = 4294967295u;
    d.reset_ms = INT64_MAX;
    gh_ratelimit_headers(&big, &d, lim, sizeof lim, pol, sizeof pol);
    assert_true(strlen(lim) > 0);
    assert_true(strlen(pol) > 0);

    /* too small a buffer or a bad rule: no header rather than a truncated one */
    gh_ratelimit_headers(&login, &d, lim, 8, pol, 8);
    assert_string_equal(lim, "");
    assert_string_equal(pol, "");
    const struct gh_rate_rule bad = {"lo\"gin", 1.0, 5};
    gh_ratelimit_headers(&bad, &d, lim, sizeof lim, pol, sizeof pol);
    assert_string_equal(lim, "");
    assert_string_equal(pol, "");
    gh_ratelimit_headers(&login, NULL, lim, sizeof lim, NULL, 0);
    assert_string_equal(lim, "");
    gh_ratelimit_free(rl);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct gh_ratelimit *rl = NULL;
    struct gh_rate_decision d;
    assert_int_equal(gh_ratelimit_new_memory(0, &rl), GH_ERR_INVALID);
    assert_null(rl);
    assert_int_equal(gh_ratelimit_new_memory(GH_RATELIMIT_MAX_KEYS + 1, &rl), GH_ERR_INVALID);
    rl = new_rl(1);
    const struct gh_rate_rule bad[] = {
        {NULL, 1.0, 1},    {"", 1.0, 1},       {"a b", 1.0, 1},
        {"login", 0, 1},   {"login", -1.0, 1}, {"login", 1.0, 0},
        {"login", 1e7, 1}, {"login", 1e-7, 1}, {"abcdefghijklmnopqrstuvwxyz0123456", 1.0, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gh_ratelimit_check(rl, &bad[i], "k", T0, &d), GH_ERR_INVALID);
    const struct gh_rate_rule nan_rule = {"login", NAN, 1};
    assert_int_equal(gh_ratelimit_check(rl, &nan_rule, "k", T0, &d), GH_ERR_INVALID);
    assert_int_equal(gh_ratelimit_check(rl, NULL, "k", T0, &d), GH_ERR_INVALID);
    assert_int_equal(gh_ratelimit_check(rl, &login, NULL, T0, &d), GH_ERR_INVALID);
    assert_int_equal(gh_ratelimit_check(rl, &login, "k", T0, NULL), GH_ERR_INVALID);
    assert_int_equal(gh_ratelimit_check(rl, &login, "k", -1, &d), GH_ERR_INVALID);
    assert_int_equal(gh_ratelimit_check(NULL, &login, "k", T0, &d), GH_ERR_INVALID);
    char longkey[GH_RATELIMIT_KEY_MAX + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(gh_ratelimit_check(rl, &login, longkey, T0, &d), GH_ERR_TOO_LARGE);
    longkey[GH_RATELIMIT_KEY_MAX] = '\0';
    assert_int_equal(gh_ratelimit_check(rl, &login, longkey, T0, &d), GH_OK);
    gh_ratelimit_free(rl);
    gh_ratelimit_free(NULL);
    assert_int_equal(gh_ratelimit_memory_bytes(NULL), 0);
}

static void test_allocation_failure(void **state)
{
    (void)state;
    for (long n = 1; n <= 4; n++) {
        struct gh_ratelimit *rl = (struct gh_ratelimit *)1;
        gh_mem_fail_after(n);
        assert_int_equal(gh_ratelimit_new_memory(1024, &rl), GH_ERR_NOMEM);
        gh_mem_fail_after(0);
        assert_null(rl);
    }
}

/* One bucket (max_keys 4): eviction takes an expired slot first, else the smallest TAT, so a
 * key that is being limited keeps its state while fresh keys churn. */
static void test_eviction_order(void **state)
{
    (void)state;
    struct gh_ratelimit *rl = new_rl(4);
    const struct gh_rate_rule r = {"login", 0.1, 2}; /* T = 10 s */
    size_t mem = gh_ratelimit_memory_bytes(rl);

    assert_true(check(rl, &r, "A", 0).allowed);
    assert_true(check(rl, &r, "A", 0).allowed); /* A: TAT 20 s */
    assert_false(check(rl, &r, "A", 0).allowed);
    assert_true(check(rl, &r, "B", 0).allowed); /* B, C, D: TAT 10 s */
    assert_true(check(rl, &r, "C", 0).allowed);
    assert_true(check(rl, &r, "D", 0).allowed);
    /* nothing expired: E evicts a smallest-TAT slot (B, C or D), never A */
    assert_true(check(rl, &r, "E", 0).allowed);
    assert_false(check(rl, &r, "A", 0).allowed);
    /* at 15 s three of B..E are expired: new keys take those slots, not A's */
    for (int i = 0; i < 3; i++) {
        char k[16];
        snprintf(k, sizeof k, "new%d", i);
        assert_true(check(rl, &r, k, 15000).allowed); /* TAT 25 s */
    }
    struct gh_rate_decision d = check(rl, &r, "A", 15000);
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 0); /* a forgotten A would have had 1 left; A: TAT 30 s */
    /* churn: fresh keys (TAT 25 s) evict each other, never the more limited A */
    for (int i = 3; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof k, "new%d", i);
        assert_true(check(rl, &r, k, 15000).allowed);
    }
    assert_false(check(rl, &r, "A", 15000).allowed);
    assert_int_equal(gh_ratelimit_memory_bytes(rl), mem);
    gh_ratelimit_free(rl);
}

static void test_million_keys_memory_bounded(void **state)
{
    (void)state;
    struct gh_ratelimit *rl = new_rl(65536);
    size_t before = gh_ratelimit_memory_bytes(rl);
    /* 16 bytes a slot plus locks and bookkeeping */
    assert_true(before <= 65536 * 16 + 256 * 64 + 4096);

    char key[48];
    unsigned refused = 0;
    for (uint32_t i = 0; i < 1000000; i++) {
        snprintf(key, sizeof key, "2001:db8:%x:%x::/64", i >> 16, i & 0xffff);
        struct gh_rate_decision d = check(rl, &login, key, T0 + i / 1000);
        refused += !d.allowed;
    }
    assert_int_equal(refused, 0); /* distinct keys: nobody is locked out by the flood */
    assert_int_equal(gh_ratelimit_memory_bytes(rl), before);

    /* a limited key that keeps coming back during the flood is not forgotten (its TAT is the
     * largest in its bucket) */
    const struct gh_rate_rule one = {"login", 1.0 / 3600.0, 1};
    assert_true(check(rl, &one, "attacker", T0).allowed);
    for (uint32_t i = 0; i < 200000; i++) {
        snprintf(key, sizeof key, "10.%u.%u.%u", i >> 16, (i >> 8) & 0xff, i & 0xff);
        (void)check(rl, &login, key, T0 + 1000 + i / 1000);
        if (i % 1000 == 0)
            assert_false(check(rl, &one, "attacker", T0 + 1000 + i / 1000).allowed);
    }
    assert_int_equal(gh_ratelimit_memory_bytes(rl), before);
    gh_ratelimit_free(rl);
}

struct hammer {
    struct gh_ratelimit *rl;
    const struct gh_rate_rule *rule;
    int64_t stop_ms;
    atomic_uint allowed;
    atomic_uint total;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    for (;;) {
        int64_t now = mono_ms();
        if (now >= h->stop_ms)
            break;
        struct gh_rate_decision d;
        if (gh_ratelimit_check(h->rl, h->rule, "same-key", now, &d) != GH_OK)
            abort();
        if (d.allowed)
            atomic_fetch_add(&h->allowed, 1);
        atomic_fetch_add(&h->total, 1);
    }
    return NULL;
}

static void test_threads_same_key(void **state)
{
    (void)state;
    const struct gh_rate_rule r = {"api", 200.0, 10};
    struct hammer h = {.rl = new_rl(1024), .rule = &r};
    pthread_t th[4];
    int64_t start = mono_ms();
    h.stop_ms = start + 300;
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    int64_t elapsed = mono_ms() - start;
    unsigned allowed = atomic_load(&h.allowed);
    unsigned bound = 10 + (unsigned)(elapsed * 200 / 1000);
    if (allowed > bound)
        fail_msg("allowed %u > burst + elapsed * rate = %u (elapsed %lld ms)", allowed, bound,
                 (long long)elapsed);
    assert_true(allowed >= 10);
    assert_true(atomic_load(&h.total) > allowed);
    gh_ratelimit_free(h.rl);
}

/* A backend is just ops + state: the front validates before calling it and frees it once. */
static int fake_frees;
static gh_err fake_check(void *st, const struct gh_rate_rule *rule, const char *key, size_t key_len,
                         int64_t now_ms, struct gh_rate_decision *out)
{
    (void)st;
    (void)rule;
    (void)now_ms;
    memset(out, 0, sizeof *out);
    out->allowed = key_len == strlen(key);
    return GH_OK;
}
static void fake_free(void *st)
{
    (void)st;
    fake_frees++;
}

static void fake_health(const void *st, struct gh_ratelimit_health *out)
{
    (void)st;
    out->external = true;
    out->up = false;
    out->failures = 7;
}

static void test_backend_interface(void **state)
{
    (void)state;
    static const struct gh_ratelimit_ops ops = {fake_check, fake_free, NULL, fake_health};
    struct gh_ratelimit_health h;
    struct gh_ratelimit *rl = NULL;
    struct gh_rate_decision d;
    assert_int_equal(gh_ratelimit_new_backend(&ops, NULL, &rl), GH_OK);
    assert_int_equal(gh_ratelimit_check(rl, &login, "k", T0, &d), GH_OK);
    assert_true(d.allowed);
    assert_int_equal(gh_ratelimit_check(rl, &login, NULL, T0, &d), GH_ERR_INVALID);
    assert_true(gh_ratelimit_memory_bytes(rl) > 0);
    /* Health comes from the backend ... */
    gh_ratelimit_health(rl, &h);
    assert_true(h.external);
    assert_false(h.up);
    assert_int_equal(h.failures, 7);
    gh_ratelimit_free(rl);
    assert_int_equal(fake_frees, 1);
    /* ... and a memory limiter is always up, inside the process. */
    assert_int_equal(gh_ratelimit_new_memory(16, &rl), GH_OK);
    h.external = true;
    h.up = false;
    h.failures = 9;
    gh_ratelimit_health(rl, &h);
    assert_false(h.external);
    assert_true(h.up);
    assert_int_equal(h.failures, 0);
    gh_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refused),
        cmocka_unit_test(test_refill_rate),
        cmocka_unit_test(test_keys_and_rules_independent),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_allocation_failure),
        cmocka_unit_test(test_eviction_order),
        cmocka_unit_test(test_million_keys_memory_bounded),
        cmocka_unit_test(test_threads_same_key),
        cmocka_unit_test(test_backend_interface),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
