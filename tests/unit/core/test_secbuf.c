/* Unit tests for core/secbuf through its public header: slots are distinct, bounded, wiped on
 * return, refused when too small or exhausted, and never shared between concurrent holders. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "core/secbuf.h"
#include "core/banned.h"

static void test_slots_bounded_distinct_wiped(void **state)
{
    (void)state;
    assert_null(gh_secbuf_take(10)); /* not initialised */
    assert_false(gh_secbuf_owns("x"));
    assert_int_equal(gh_secbuf_init(0, 100), GH_ERR_INVALID);
    assert_int_equal(gh_secbuf_init(4, 0), GH_ERR_INVALID);
    assert_int_equal(gh_secbuf_init(4, 100), GH_OK);
    assert_int_equal(gh_secbuf_init(4, 100), GH_ERR_INVALID); /* once */

    assert_null(gh_secbuf_take(0));
    assert_null(gh_secbuf_take(200)); /* larger than a slot */
    unsigned char *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = gh_secbuf_take(100);
        assert_non_null(p[i]);
        assert_true(gh_secbuf_owns(p[i]));
        assert_false(gh_secbuf_owns(p[i] + 1)); /* not a slot start */
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(p[i], p[j]);
        memset(p[i], 0xA5, 100);
    }
    assert_null(gh_secbuf_take(1)); /* exhausted: the caller falls back */
    char local[8];
    assert_false(gh_secbuf_owns(local));

    gh_secbuf_give(p[2]);
    gh_secbuf_give(NULL);
    unsigned char *again = gh_secbuf_take(100);
    assert_ptr_equal(again, p[2]); /* the freed slot, and nothing of its secret left */
    unsigned char zero[100] = {0};
    assert_memory_equal(again, zero, sizeof zero);
    for (int i = 0; i < 4; i++)
        gh_secbuf_give(p[i]);

    gh_secbuf_shutdown();
    assert_null(gh_secbuf_take(10));
    assert_false(gh_secbuf_owns(p[0]));
    gh_secbuf_shutdown(); /* twice is harmless */
    assert_int_equal(gh_secbuf_init(2, 32), GH_OK); /* and it can be set up again */
    assert_non_null(gh_secbuf_take(32));
    gh_secbuf_shutdown();
}

#define THREADS 4
#define ROUNDS 20000

static void *churn(void *arg)
{
    unsigned char mark = (unsigned char)(uintptr_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        unsigned char *s = gh_secbuf_take(64);
        if (!s)
            continue; /* all taken by the others right now */
        memset(s, mark, 64);
        for (int i = 0; i < 64; i++)
            if (s[i] != mark)
                return (void *)1; /* someone else wrote into our slot */
        gh_secbuf_give(s);
    }
    return NULL;
}

/* Concurrent holders never share a slot. */
static void test_concurrent_holders_never_share(void **state)
{
    (void)state;
    assert_int_equal(gh_secbuf_init(3, 64), GH_OK);
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(i + 1)), 0);
    for (int i = 0; i < THREADS; i++) {
        void *ret = (void *)2;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
    /* every slot came back */
    void *a = gh_secbuf_take(64), *b = gh_secbuf_take(64), *c = gh_secbuf_take(64);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_null(gh_secbuf_take(64));
    gh_secbuf_shutdown();
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_bounded_distinct_wiped),
        cmocka_unit_test(test_concurrent_holders_never_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
