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

/* Two-step jobs: fn on a worker, then finish on the finisher thread. */
struct two_step {
    struct gate *finish_gate; /* NULL: finish does not block */
    pthread_t fn_thread, finish_thread;
    atomic_bool fn_ran, finish_ran;
    bool fn_before_finish;
    struct order *o; /* finish order, when set (the finisher is one thread) */
    unsigned index;
};

static void two_step_fn(void *arg)
{
    struct two_step *t = arg;
    t->fn_thread = pthread_self();
    atomic_store(&t->fn_ran, true);
}

static void two_step_finish(void *arg)
{
    struct two_step *t = arg;
    t->finish_thread = pthread_self();
    t->fn_before_finish = atomic_load(&t->fn_ran);
    if (t->o)
        t->o->seen[t->o->n++] = t->index;
    atomic_store(&t->finish_ran, true);
    if (t->finish_gate)
        blocker_job(t->finish_gate);
}

/* finish runs after fn, on another thread, once per job, in the order the jobs were hashed. */
static void test_two_step_jobs_finish_in_order(void **state)
{
    (void)state;
    struct gh_hashpool *pool = NULL;
    struct order o = {0};
    struct two_step t[8];
    memset(t, 0, sizeof t);
    assert_int_equal(gh_hashpool_new(1, 8, 0, &pool), GH_OK);
    for (unsigned i = 0; i < 8; i++) {
        t[i].o = &o;
        t[i].index = i;
        assert_int_equal(gh_hashpool_submit2(pool, two_step_fn, two_step_finish, &t[i]), GH_OK);
    }
    gh_hashpool_free(pool); /* runs every job, and every finish, before it returns */
    assert_int_equal(o.n, 8);
    for (unsigned i = 0; i < 8; i++) {
        assert_true(atomic_load(&t[i].fn_ran));
        assert_true(atomic_load(&t[i].finish_ran));
        assert_true(t[i].fn_before_finish);
        assert_false(pthread_equal(t[i].fn_thread, t[i].finish_thread));
        assert_int_equal(o.seen[i], i);
    }
    assert_int_equal(gh_hashpool_submit2(NULL, two_step_fn, two_step_finish, &t[0]),
                     GH_ERR_INVALID);
}

/* The point of two steps: a finish that waits (a slow disk) does not hold the hashing thread. */
static void test_slow_finish_does_not_hold_hashing(void **state)
{
    (void)state;
    struct gh_hashpool *pool = NULL;
    struct gate slow;
    gate_init(&slow);
    struct two_step a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.finish_gate = &slow;
    assert_int_equal(gh_hashpool_new(1, 4, 0, &pool), GH_OK);
    assert_int_equal(gh_hashpool_submit2(pool, two_step_fn, two_step_finish, &a), GH_OK);
    gate_wait_started(&slow, 1); /* a's finish is running, and stuck */
    struct gate g;
    gate_init(&g);
    /* the one hashing thread is free: a one-step job runs while a's finish still waits */
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &g), GH_OK);
    gate_wait_started(&g, 1);
    gate_open(&g);
    assert_int_equal(gh_hashpool_submit2(pool, two_step_fn, two_step_finish, &b), GH_OK);
    while (!atomic_load(&b.fn_ran))
        sched_yield();
    assert_false(atomic_load(&b.finish_ran)); /* behind a's finish, in order */
    gate_open(&slow);
    gh_hashpool_free(pool);
    assert_true(atomic_load(&b.finish_ran));
    gate_destroy(&g);
    gate_destroy(&slow);
}

/* A job waiting for its finish still counts against the queue bound: a stuck disk cannot let
 * finished hashes pile up without limit. The one being finished no longer counts. */
static void test_unfinished_jobs_count_against_queue(void **state)
{
    (void)state;
    struct gh_hashpool *pool = NULL;
    struct gate slow;
    gate_init(&slow);
    struct two_step t[4];
    memset(t, 0, sizeof t);
    for (unsigned i = 0; i < 4; i++)
        t[i].finish_gate = &slow;
    assert_int_equal(gh_hashpool_new(1, 2, 0, &pool), GH_OK);
    assert_int_equal(gh_hashpool_submit2(pool, two_step_fn, two_step_finish, &t[0]), GH_OK);
    gate_wait_started(&slow, 1); /* t[0] is in its finish, stuck */
    assert_int_equal(gh_hashpool_depth(pool), 0);
    for (unsigned i = 1; i <= 2; i++) {
        assert_int_equal(gh_hashpool_submit2(pool, two_step_fn, two_step_finish, &t[i]), GH_OK);
        while (!atomic_load(&t[i].fn_ran))
            sched_yield();
    }
    /* t[1] and t[2] hashed and waiting for the finisher: the queue (2) is full */
    assert_int_equal(gh_hashpool_depth(pool), 2);
    assert_int_equal(gh_hashpool_submit2(pool, two_step_fn, two_step_finish, &t[3]),
                     GH_ERR_BUSY);
    bool ran = false;
    assert_int_equal(gh_hashpool_submit(pool, never_job, &ran), GH_ERR_BUSY);
    gate_open(&slow);
    gh_hashpool_free(pool);
    assert_false(ran);
    assert_false(atomic_load(&t[3].fn_ran));
    for (unsigned i = 0; i < 3; i++)
        assert_true(atomic_load(&t[i].finish_ran));
    gate_destroy(&slow);
}

static void prio_finish(void *arg)
{
    prio_job(arg);
}

static void noop_job(void *arg)
{
    (void)arg;
}

/* The finisher runs niced like the workers, but under the normal policy: it must not wait
 * behind the hashing threads. */
static void test_finisher_lowers_own_priority(void **state)
{
    (void)state;
    struct gh_hashpool *pool = NULL;
    struct prio_probe probe = {.nice = -100, .err = -1};
    int before = own_nice();
    int want = before + 5 > 19 ? 19 : before + 5;
    assert_int_equal(gh_hashpool_new(1, 2, 5, &pool), GH_OK);
    assert_int_equal(gh_hashpool_submit2(pool, noop_job, prio_finish, &probe), GH_OK);
    gh_hashpool_free(pool);
    assert_int_equal(probe.err, 0);
    assert_int_equal(probe.nice, want);
    assert_int_equal(probe.policy, SCHED_OTHER);
}

static void *free_in_thread(void *pool)
{
    gh_hashpool_free(pool);
    return NULL;
}

static void wait_yielding(struct gh_hashpool *pool, unsigned n)
{
    for (int i = 0; i < 5000 && gh_hashpool_yielding(pool) != n; i++)
        usleep(1000);
    assert_int_equal(gh_hashpool_yielding(pool), n);
}

/* While token checks are noted, the yielding worker leaves a waiting job alone (it stays queued
 * until the other worker is free); without notes both workers hash at once; once the window has
 * passed the yielding worker takes work again; a pool of one never yields its only thread. */
static void test_yield_leaves_a_cpu_to_priority_work(void **state)
{
    (void)state;
    struct gh_hashpool *pool = NULL;
    struct gate a, b;

    /* Noted: one job at a time, the second waits queued with a worker standing aside. */
    gate_init(&a);
    gate_init(&b);
    assert_int_equal(gh_hashpool_new(2, 4, 0, &pool), GH_OK);
    gh_hashpool_set_yield(pool, 1, 60000);
    gh_hashpool_note_priority(pool);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &a), GH_OK);
    gate_wait_started(&a, 1);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &b), GH_OK);
    wait_yielding(pool, 1);
    assert_int_equal(gh_hashpool_depth(pool), 1); /* b: still queued */
    pthread_mutex_lock(&b.mu);
    assert_int_equal(b.started, 0);
    pthread_mutex_unlock(&b.mu);
    gate_open(&a); /* the other worker is free again: it takes b */
    gate_wait_started(&b, 1);
    gate_open(&b);
    gh_hashpool_free(pool);
    gate_destroy(&a);
    gate_destroy(&b);

    /* Yielding set but nothing noted: both jobs run at once. */
    gate_init(&a);
    assert_int_equal(gh_hashpool_new(2, 4, 0, &pool), GH_OK);
    gh_hashpool_set_yield(pool, 1, 60000);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &a), GH_OK);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &a), GH_OK);
    gate_wait_started(&a, 2);
    gate_open(&a);
    gh_hashpool_free(pool);
    gate_destroy(&a);

    /* A short window: noted, the second job waits, then runs beside the first once it passed. */
    gate_init(&a);
    assert_int_equal(gh_hashpool_new(2, 4, 0, &pool), GH_OK);
    gh_hashpool_set_yield(pool, 1, 200);
    gh_hashpool_note_priority(pool);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &a), GH_OK);
    gate_wait_started(&a, 1);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &a), GH_OK);
    gate_wait_started(&a, 2); /* both running: the first still holds its worker */
    assert_int_equal(gh_hashpool_yielding(pool), 0);
    gate_open(&a);
    gh_hashpool_free(pool);
    gate_destroy(&a);

    /* One thread: asking it to yield is clamped to 0 -- some hashing always goes on. */
    gate_init(&a);
    assert_int_equal(gh_hashpool_new(1, 4, 0, &pool), GH_OK);
    gh_hashpool_set_yield(pool, 1, 60000);
    gh_hashpool_note_priority(pool);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &a), GH_OK);
    gate_wait_started(&a, 1);
    gate_open(&a);
    gh_hashpool_free(pool);
    gate_destroy(&a);

    /* Stopping while a worker stands aside: it stops standing aside and drains the queue,
     * even while the other worker is still busy. */
    gate_init(&a);
    atomic_store(&counter, 0);
    assert_int_equal(gh_hashpool_new(2, 4, 0, &pool), GH_OK);
    gh_hashpool_set_yield(pool, 1, 60000);
    gh_hashpool_note_priority(pool);
    assert_int_equal(gh_hashpool_submit(pool, blocker_job, &a), GH_OK);
    gate_wait_started(&a, 1);
    assert_int_equal(gh_hashpool_submit(pool, count_job, NULL), GH_OK);
    wait_yielding(pool, 1);
    pthread_t stopper;
    assert_int_equal(pthread_create(&stopper, NULL, free_in_thread, pool), 0);
    for (int i = 0; i < 5000 && atomic_load(&counter) == 0; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&counter), 1); /* ran while the blocker still held its worker */
    gate_open(&a);
    pthread_join(stopper, NULL);
    gate_destroy(&a);
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
        cmocka_unit_test(test_two_step_jobs_finish_in_order),
        cmocka_unit_test(test_slow_finish_does_not_hold_hashing),
        cmocka_unit_test(test_unfinished_jobs_count_against_queue),
        cmocka_unit_test(test_finisher_lowers_own_priority),
        cmocka_unit_test(test_yield_leaves_a_cpu_to_priority_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
