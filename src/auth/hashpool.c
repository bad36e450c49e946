/* Owns the hashing worker threads and their bounded FIFO of jobs, from gh_hashpool_new to
 * gh_hashpool_free; a job's arg stays the submitter's and must outlive the job's run.
 * No client input is parsed here: the queue bound is what keeps latency bounded under load. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "auth/hashpool.h"
#include "core/mem.h"
#include "core/banned.h"

/* Sanity caps on the configuration, so a typo cannot ask for a million threads. */
#define HASHPOOL_THREADS_MAX 256u
#define HASHPOOL_QUEUE_MAX 65536u
#define NICE_MAX 19

struct job {
    gh_hashpool_fn fn;
    gh_hashpool_fn finish; /* NULL: fn is the whole job */
    void *arg;
};

struct gh_hashpool {
    pthread_mutex_t mu;
    pthread_cond_t has_work;
    pthread_cond_t settled; /* a worker has finished setting itself up */
    unsigned ready;         /* workers past their set-up, under mu */
    bool sync_ready;  /* mu, has_work and settled are initialised */
    bool stopping;    /* under mu */
    struct job *ring; /* cap slots; count waiting jobs starting at head, under mu */
    unsigned cap, head, count;
    /* Jobs whose hashing is done, waiting for (or in) their finish step on the finisher thread:
     * storage writes and the answer, so that no hashing thread waits on a disk. At most cap
     * counted jobs + the one being finished exist at once: fring has cap + threads slots. */
    pthread_cond_t has_finish;
    struct job *fring;
    unsigned fcap, fhead, fcount;
    unsigned finishing; /* taken by a worker or in fring, under mu: counts against cap */
    bool finisher_started;
    bool finisher_stop; /* under mu: set once every worker has been joined */
    pthread_t finisher;
    int nice_delta;
    pthread_t *threads;
    unsigned started;
    unsigned nthreads;
    unsigned next_index; /* under mu: each worker takes one at start */
    /* Yielding (gh_hashpool_set_yield): the last `yield` workers take no job while priority
     * work (token checks) was noted in the last window_ms, so that it keeps a CPU. */
    unsigned yield;
    int64_t yield_window_ms;
    _Atomic int64_t priority_until_ms; /* monotonic ms; noted by request threads */
    atomic_uint yielding;              /* workers in the yield wait right now (metrics) */
    pthread_cond_t yield_cv;           /* monotonic clock; woken at stop */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* setpriority on a thread id changes that thread only on Linux (NPTL threads are tasks). */
static void lower_own_priority(int delta, bool idle_policy)
{
    if (delta <= 0)
        return;
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno != 0)
        return;
    int want = delta > NICE_MAX - cur ? NICE_MAX : cur + delta;
    (void)setpriority(PRIO_PROCESS, tid, want); /* best effort: a busier host is not fatal */
    if (!idle_policy)
        return;
    /* Linux SCHED_IDLE: hashing runs only on CPU time nothing else wants, so an HTTP thread
     * that wakes with a token check never waits behind argon2id. Under a saturating HTTP load
     * logins slow down (and the bounded queue answers 503) rather than token checks. */
    struct sched_param sp = {.sched_priority = 0};
    (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
}

/* Under mu: must worker `index` leave the queue alone right now? Never while stopping (the
 * queue drains) and never the first threads - yield workers (some hashing always goes on). */
static bool must_yield(struct gh_hashpool *pool, unsigned index, int64_t *wait_ms)
{
    if (pool->stopping || pool->yield == 0 || index < pool->nthreads - pool->yield)
        return false;
    int64_t left = atomic_load_explicit(&pool->priority_until_ms, memory_order_relaxed) - mono_ms();
    if (left <= 0)
        return false;
    *wait_ms = left < 100 ? left : 100; /* look again at least every 100 ms */
    return true;
}

static void yield_wait(struct gh_hashpool *pool, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    atomic_fetch_add(&pool->yielding, 1);
    (void)pthread_cond_timedwait(&pool->yield_cv, &pool->mu, &until);
    atomic_fetch_sub(&pool->yielding, 1);
}

static void *worker_main(void *arg)
{
    struct gh_hashpool *pool = arg;
    lower_own_priority(pool->nice_delta, true);
    /* Say so: gh_hashpool_new returns only when every worker has made its scheduling calls,
     * so that none of them comes after the process has entered its sandbox. */
    pthread_mutex_lock(&pool->mu);
    unsigned index = pool->next_index++;
    pool->ready++;
    pthread_cond_broadcast(&pool->settled);
    pthread_mutex_unlock(&pool->mu);
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        int64_t wait_ms = 0;
        for (;;) {
            if (pool->count == 0 && !pool->stopping) {
                pthread_cond_wait(&pool->has_work, &pool->mu);
            } else if (pool->count > 0 && must_yield(pool, index, &wait_ms)) {
                /* Hand the wake-up on to a worker that may take the job, then wait aside. */
                pthread_cond_signal(&pool->has_work);
                yield_wait(pool, wait_ms);
            } else {
                break;
            }
        }
        if (pool->count == 0) { /* stopping and drained */
            pthread_mutex_unlock(&pool->mu);
            break;
        }
        struct job j = pool->ring[pool->head];
        pool->head = (pool->head + 1) % pool->cap;
        pool->count--;
        if (j.finish)
            pool->finishing++; /* from now on the job counts against the queue bound again */
        pthread_mutex_unlock(&pool->mu);
        j.fn(j.arg);
        if (!j.finish)
            continue;
        pthread_mutex_lock(&pool->mu);
        pool->fring[(pool->fhead + pool->fcount) % pool->fcap] = j;
        pool->fcount++;
        pthread_cond_signal(&pool->has_finish);
        pthread_mutex_unlock(&pool->mu);
    }
    return NULL;
}

static void *finisher_main(void *arg)
{
    struct gh_hashpool *pool = arg;
    /* Niced, but not SCHED_IDLE: a finish is short (storage writes, the answer) and must not
     * wait behind the hashing threads, or hashed sign-ins would pile up unanswered. */
    lower_own_priority(pool->nice_delta, false);
    pthread_mutex_lock(&pool->mu);
    pool->ready++;
    pthread_cond_broadcast(&pool->settled);
    for (;;) {
        /* Stops only once the workers are gone (gh_hashpool_free joins them first). */
        while (pool->fcount == 0 && !pool->finisher_stop)
            pthread_cond_wait(&pool->has_finish, &pool->mu);
        if (pool->fcount == 0)
            break;
        struct job j = pool->fring[pool->fhead];
        pool->fhead = (pool->fhead + 1) % pool->fcap;
        pool->fcount--;
        /* No longer counted once its finish starts: the finish sends the answer, and a client
         * that then reads the queue depth must not see its own job in it. */
        pool->finishing--;
        pthread_mutex_unlock(&pool->mu);
        j.finish(j.arg);
        pthread_mutex_lock(&pool->mu);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

gh_err gh_hashpool_new(unsigned threads, unsigned queue_max, int nice_delta,
                       struct gh_hashpool **out)
{
    struct gh_hashpool *pool = NULL;
    gh_err rc = GH_OK;

    if (!out)
        return GH_ERR_INVALID;
    *out = NULL;
    if (threads == 0 || threads > HASHPOOL_THREADS_MAX || queue_max == 0 ||
        queue_max > HASHPOOL_QUEUE_MAX)
        return GH_ERR_INVALID;

    pool = gh_calloc(1, sizeof *pool);
    if (!pool)
        return GH_ERR_NOMEM;
    pool->cap = queue_max;
    pool->nthreads = threads;
    pool->nice_delta = nice_delta;
    pool->ring = gh_calloc(queue_max, sizeof *pool->ring);
    pool->fcap = queue_max + threads;
    pool->fring = gh_calloc(pool->fcap, sizeof *pool->fring);
    pool->threads = gh_calloc(threads, sizeof *pool->threads);
    if (!pool->ring || !pool->fring || !pool->threads) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    if (pthread_mutex_init(&pool->mu, NULL) != 0) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    if (pthread_cond_init(&pool->has_work, NULL) != 0) {
        pthread_mutex_destroy(&pool->mu);
        rc = GH_ERR_NOMEM;
        goto out;
    }
    if (pthread_cond_init(&pool->settled, NULL) != 0) {
        pthread_cond_destroy(&pool->has_work);
        pthread_mutex_destroy(&pool->mu);
        rc = GH_ERR_NOMEM;
        goto out;
    }
    if (pthread_cond_init(&pool->has_finish, NULL) != 0) {
        pthread_cond_destroy(&pool->settled);
        pthread_cond_destroy(&pool->has_work);
        pthread_mutex_destroy(&pool->mu);
        rc = GH_ERR_NOMEM;
        goto out;
    }
    pthread_condattr_t ca;
    bool ca_ok = pthread_condattr_init(&ca) == 0;
    if (!ca_ok || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&pool->yield_cv, &ca) != 0) {
        if (ca_ok)
            pthread_condattr_destroy(&ca);
        pthread_cond_destroy(&pool->has_finish);
        pthread_cond_destroy(&pool->settled);
        pthread_cond_destroy(&pool->has_work);
        pthread_mutex_destroy(&pool->mu);
        rc = GH_ERR_NOMEM;
        goto out;
    }
    pthread_condattr_destroy(&ca);
    pool->sync_ready = true;
    if (pthread_create(&pool->finisher, NULL, finisher_main, pool) != 0) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    pool->finisher_started = true;
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0) {
            rc = GH_ERR_NOMEM;
            goto out;
        }
        pool->started++;
    }
    pthread_mutex_lock(&pool->mu);
    while (pool->ready < pool->started + 1) /* + the finisher */
        pthread_cond_wait(&pool->settled, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
    *out = pool;
    pool = NULL;
out:
    gh_hashpool_free(pool); /* stops and joins whatever was started */
    return rc;
}

/* Must not be called from inside a job (a worker cannot join itself). */
void gh_hashpool_free(struct gh_hashpool *pool)
{
    if (!pool)
        return;
    if (pool->sync_ready) {
        pthread_mutex_lock(&pool->mu);
        pool->stopping = true;
        pthread_cond_broadcast(&pool->has_work);
        pthread_cond_broadcast(&pool->yield_cv);
        pthread_mutex_unlock(&pool->mu);
        for (unsigned i = 0; i < pool->started; i++)
            pthread_join(pool->threads[i], NULL);
        if (pool->finisher_started) {
            /* The workers are gone: every job that will ever need finishing is in fring. */
            pthread_mutex_lock(&pool->mu);
            pool->finisher_stop = true;
            pthread_cond_signal(&pool->has_finish);
            pthread_mutex_unlock(&pool->mu);
            pthread_join(pool->finisher, NULL);
        }
        pthread_cond_destroy(&pool->yield_cv);
        pthread_cond_destroy(&pool->has_finish);
        pthread_cond_destroy(&pool->settled);
        pthread_cond_destroy(&pool->has_work);
        pthread_mutex_destroy(&pool->mu);
    }
    gh_free(pool->threads);
    gh_free(pool->fring);
    gh_free(pool->ring);
    gh_free(pool);
}

gh_err gh_hashpool_submit(struct gh_hashpool *pool, gh_hashpool_fn fn, void *arg)
{
    return gh_hashpool_submit2(pool, fn, NULL, arg);
}

gh_err gh_hashpool_submit2(struct gh_hashpool *pool, gh_hashpool_fn fn, gh_hashpool_fn finish,
                           void *arg)
{
    gh_err rc = GH_OK;
    if (!pool || !fn)
        return GH_ERR_INVALID;
    pthread_mutex_lock(&pool->mu);
    if (pool->stopping || pool->count + pool->finishing >= pool->cap) {
        rc = GH_ERR_BUSY;
        goto out;
    }
    pool->ring[(pool->head + pool->count) % pool->cap] =
        (struct job){.fn = fn, .finish = finish, .arg = arg};
    pool->count++;
    pthread_cond_signal(&pool->has_work);
out:
    pthread_mutex_unlock(&pool->mu);
    return rc;
}

void gh_hashpool_set_yield(struct gh_hashpool *pool, unsigned yield, unsigned window_ms)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->yield = yield < pool->nthreads ? yield : pool->nthreads - 1;
    pool->yield_window_ms = window_ms;
    pthread_mutex_unlock(&pool->mu);
}

void gh_hashpool_note_priority(struct gh_hashpool *pool)
{
    if (!pool || pool->yield == 0)
        return;
    int64_t now = mono_ms();
    int64_t until = atomic_load_explicit(&pool->priority_until_ms, memory_order_relaxed);
    /* One store per tenth of the window at most: token checks come by the ten thousand. */
    if (until - now < pool->yield_window_ms - pool->yield_window_ms / 10)
        atomic_store_explicit(&pool->priority_until_ms, now + pool->yield_window_ms,
                              memory_order_relaxed);
}

unsigned gh_hashpool_yielding(struct gh_hashpool *pool)
{
    return pool ? atomic_load(&pool->yielding) : 0;
}

bool gh_hashpool_has_room(struct gh_hashpool *pool)
{
    if (!pool)
        return false;
    pthread_mutex_lock(&pool->mu);
    bool room = !pool->stopping && pool->count + pool->finishing < pool->cap;
    pthread_mutex_unlock(&pool->mu);
    return room;
}

unsigned gh_hashpool_depth(struct gh_hashpool *pool)
{
    if (!pool)
        return 0;
    pthread_mutex_lock(&pool->mu);
    unsigned n = pool->count + pool->finishing;
    pthread_mutex_unlock(&pool->mu);
    return n;
}
