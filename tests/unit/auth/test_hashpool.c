/* Unit tests for auth/hashpool through its public header. Jobs that must stay running block on
 * a gate (mutex + condvar) until the test opens it, so no test depends on timing or sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "auth/hashpool.h"
#include "core/banned.h"

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned started;
    bool open;
};

static void gate_init(struct gate *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void gate_destroy(struct gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* Job: announce that it runs, then wait until the gate opens. */
static void blocker_job(void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->started++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait_started(struct gate *g, unsigned n)
{
    pthread_mutex_lock(&g->mu);
    while (g->started < n)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static atomic_uint counter;

static void count_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
}

static void never_job(void *arg)
{
    *(bool *)arg = true;
}

struct order {
    unsigned seen[16];
    unsigned n; /* one worker only: no lock needed; join orders it before the asserts */
};

struct order_arg {
    struct order *o;
    unsigned index;
};

static void order_job(void *arg)
{
    struct order_arg *a = arg;
    a->o->seen[a->o->n++] = a->index;
}

static void test_new_rejects_bad_arguments(void **state)
{
    (void)state;
    struct gh_hashpool *pool = (struct gh_hashpool *)&pool; /* must be overwritten */
    assert_int_equal(gh_hashpool_new(0, 4, 0, &pool), GH_ERR_INVALID);
    assert_null(pool);
    assert_int_equal(gh_hashpool_new(1, 0, 0, &pool), GH_ERR_INVALID);
    assert_null(pool);
    assert_int_equal(gh_hashpool_new(100000, 4, 0, &pool), GH_ERR_INVALID);
    assert_int_equal(gh_hashpool_new(1, 4, 0, NULL), GH_ERR_INVALID);
}

static void test_free_null_and_idle(void **state)
{
    (void)state;
    gh_hashpool_free(NULL);
    assert_int_equal(gh_hashpool_depth(NULL), 0);

    struct gh_hashpool *pool = NULL;
    assert_int_equal(gh_hashpool_new(3, 4, 0, &pool), GH_OK);
    assert_non_null(pool);
    assert_int_equal(gh_hashpool_depth(pool), 0);
    assert_int_equal(gh_hashpool_submit(pool, NULL, NULL), GH_ERR_INVALID);
    assert_int_equal(gh_hashpool_submit(NULL, count_job, NULL), GH_ERR_INVALID);
    gh_hashpool_free(pool); /* idle workers wake and exit */
}

static void test_all_jobs_run(void **state)
{
    (void)state;
    struct gh_hashpool *pool = NULL;
    atomic_store(&counter, 0);
    assert_int_equal(gh_hashpool_new(4, 256, 0, &pool), GH_OK);
    for (unsigned i = 0; i < 200; i++)
        assert_int_equal(gh_hashpool_submit(pool, count_job, NULL), GH_OK);
    gh_hashpool_free(pool);
    assert_int_equal(atomic_load(&counter), 200);
}

static void test_busy_when_queue_full(void **state)
{
    (void)state;
    struct gh_hashpool *pool = NULL;
    struct gate g;
    bool never_ran = false;
    gate_init(&g);
    atomic_store(&counter, 0);

    assert_int_equal(gh_hashpool_new(1, 2, 0, &pool), GH_OK);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &g), GH_OK);
    gate_wait_started(&g, 1); /* the only worker is now busy: nothing more leaves the queue */
    assert_int_equal(gh_hashpool_depth(pool), 0);

    assert_int_equal(gh_hashpool_submit(pool, count_job, NULL), GH_OK);
    assert_int_equal(gh_hashpool_submit(pool, count_job, NULL), GH_OK);
    assert_int_equal(gh_hashpool_depth(pool), 2);
    assert_int_equal(gh_hashpool_submit(pool, never_job, &never_ran), GH_ERR_BUSY);
    assert_int_equal(gh_hashpool_submit(pool, never_job, &never_ran), GH_ERR_BUSY);
    assert_int_equal(gh_hashpool_depth(pool), 2); /* a refusal leaves nothing behind */

    gate_open(&g);
    gh_hashpool_free(pool);
    assert_int_equal(atomic_load(&counter), 2);
    assert_false(never_ran);
    gate_destroy(&g);
}

/* Running jobs do not count toward queue_max: with 2 workers busy, 3 more may still wait. */
static void test_running_jobs_do_not_count(void **state)
{
    (void)state;
    struct gh_hashpool *pool = NULL;
    struct gate g;
    gate_init(&g);
    atomic_store(&counter, 0);

    assert_int_equal(gh_hashpool_new(2, 3, 0, &pool), GH_OK);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &g), GH_OK);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &g), GH_OK);
    gate_wait_started(&g, 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(gh_hashpool_submit(pool, count_job, NULL), GH_OK);
    assert_int_equal(gh_hashpool_submit(pool, count_job, NULL), GH_ERR_BUSY);
    assert_int_equal(gh_hashpool_depth(pool), 3);
    gate_open(&g);
    gh_hashpool_free(pool);
    assert_int_equal(atomic_load(&counter), 3);
    gate_destroy(&g);
}

/* free runs what is still queued, in submission order, before it returns. */
static void test_free_drains_queue_in_order(void **state)
{
    (void)state;
    struct gh_hashpool *pool = NULL;
    struct gate g;
    struct order o = {0};
    struct order_arg args[6];
    gate_init(&g);

    assert_int_equal(gh_hashpool_new(1, 8, 0, &pool), GH_OK);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &g), GH_OK);
    gate_wait_started(&g, 1);
    for (unsigned i = 0; i < 6; i++) {
        args[i] = (struct order_arg){.o = &o, .index = i};
        assert_int_equal(gh_hashpool_submit(pool, order_job, &args[i]), GH_OK);
    }
    assert_int_equal(gh_hashpool_depth(pool), 6);
    gate_open(&g);
    gh_hashpool_free(pool);
    assert_int_equal(o.n, 6);
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(o.seen[i], i);
    gate_destroy(&g);
}

/* The ring wraps around many times without losing or repeating jobs. */
static void test_queue_wraps(void **state)
{
    (void)state;
    struct gh_hashpool *pool = NULL;
    atomic_store(&counter, 0);
    assert_int_equal(gh_hashpool_new(2, 3, 0, &pool), GH_OK);
    unsigned accepted = 0;
    for (unsigned i = 0; i < 2000; i++) {
        gh_err rc = gh_hashpool_submit(pool, count_job, NULL);
        assert_true(rc == GH_OK || rc == GH_ERR_BUSY);
        if (rc == GH_OK)
            accepted++;
        assert_true(gh_hashpool_depth(pool) <= 3);
    }
    gh_hashpool_free(pool);
    assert_true(accepted >= 3);
    assert_int_equal(atomic_load(&counter), accepted);
}

struct prio_probe {
    int nice;
    int err;
    int policy;
};

static void prio_job(void *arg)
{
    struct prio_probe *p = arg;
    errno = 0;
    p->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    p->err = errno;
    struct sched_param sp;
    if (pthread_getschedparam(pthread_self(), &p->policy, &sp) != 0)
        p->policy = -1;
}

static int own_nice(void)
{
    errno = 0;
    int n = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    assert_int_equal(errno, 0);
    return n;
}

/* Workers lower their own priority; the thread that made the pool keeps its own. */
static void test_workers_lower_own_priority(void **state)
{
    (void)state;
    struct gh_hashpool *pool = NULL;
    struct prio_probe probe = {.nice = -100, .err = -1};
    int before = own_nice();
    int want = before + 5 > 19 ? 19 : before + 5;

    assert_int_equal(gh_hashpool_new(1, 2, 5, &pool), GH_OK);
    assert_int_equal(gh_hashpool_submit(pool, prio_job, &probe), GH_OK);
    gh_hashpool_free(pool);
    assert_int_equal(probe.err, 0);
    assert_int_equal(probe.nice, want);
    assert_int_equal(probe.policy, SCHED_IDLE); /* only CPU time nothing else wants */
    assert_int_equal(own_nice(), before);
    int self_policy = -1;
    struct sched_param self_sp;
    assert_int_equal(pthread_getschedparam(pthread_self(), &self_policy, &self_sp), 0);
    assert_int_not_equal(self_policy, SCHED_IDLE);

    /* nice_delta 0 leaves workers at the creator's priority */
    probe = (struct prio_probe){.nice = -100, .err = -1};
    assert_int_equal(gh_hashpool_new(1, 2, 0, &pool), GH_OK);
    assert_int_equal(gh_hashpool_submit(pool, prio_job, &probe), GH_OK);
    gh_hashpool_free(pool);
    assert_int_equal(probe.nice, before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_rejects_bad_arguments),
        cmocka_unit_test(test_free_null_and_idle),
        cmocka_unit_test(test_all_jobs_run),
        cmocka_unit_test(test_busy_when_queue_full),
        cmocka_unit_test(test_running_jobs_do_not_count),
        cmocka_unit_test(test_free_drains_queue_in_order),
        cmocka_unit_test(test_queue_wraps),
        cmocka_unit_test(test_workers_lower_own_priority),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
