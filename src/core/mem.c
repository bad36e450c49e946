/* Owns gatehouse's allocator wrappers and the jansson/SQLite allocator hooks; memory is plain
 * libc heap (libmicrohttpd free()s buffers gh_malloc made). Failed allocations are counted per
 * thread and per bound scope (a request). Fault injection exists only for tests:
 * gh_mem_fail_after (unit tests) and armed scopes (GATEHOUSE_TEST_ALLOC_FAIL). */
#include <jansson.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/banned.h"

static atomic_long fail_countdown;
static atomic_bool test_alloc_fail;
static _Thread_local struct gh_mem_scope *bound_scope;
static _Thread_local unsigned long thread_failures;

static bool countdown_hits(atomic_long *c)
{
    if (atomic_load(c) <= 0)
        return false;
    return atomic_fetch_sub(c, 1) == 1;
}

static bool should_fail(void)
{
    struct gh_mem_scope *sc = bound_scope;
    if (sc && countdown_hits(&sc->countdown)) {
        atomic_store(&sc->fired, true);
        return true;
    }
    return countdown_hits(&fail_countdown);
}

void gh_mem_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}

void gh_mem_scope_arm(struct gh_mem_scope *sc, long n)
{
    sc->armed_n = n;
    atomic_store(&sc->countdown, n);
    atomic_store(&sc->fired, false);
}

void gh_mem_scope_bind(struct gh_mem_scope *sc)
{
    bound_scope = sc;
}

struct gh_mem_scope *gh_mem_scope_bound(void)
{
    return bound_scope;
}

bool gh_mem_scope_has_fired(const struct gh_mem_scope *sc)
{
    return sc && atomic_load(&sc->fired);
}

long gh_mem_scope_allocations(const struct gh_mem_scope *sc)
{
    return sc->armed_n - atomic_load(&sc->countdown);
}

unsigned long gh_mem_scope_failures(const struct gh_mem_scope *sc)
{
    return atomic_load(&sc->failures);
}

bool gh_mem_test_alloc_fail_enabled(void)
{
    return atomic_load(&test_alloc_fail);
}

unsigned long gh_mem_thread_failures(void)
{
    return thread_failures;
}

static void *counted(void *p)
{
    if (!p) {
        thread_failures++;
        if (bound_scope)
            atomic_fetch_add(&bound_scope->failures, 1);
    }
    return p;
}

void *gh_malloc(size_t n)
{
    return counted(should_fail() ? NULL : malloc(n ? n : 1));
}

void *gh_calloc(size_t count, size_t n)
{
    return counted(should_fail() ? NULL : calloc(count ? count : 1, n ? n : 1));
}

void *gh_realloc(void *p, size_t n)
{
    return counted(should_fail() ? NULL : realloc(p, n ? n : 1));
}

char *gh_strndup(const char *s, size_t n)
{
    char *d = gh_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *gh_strdup(const char *s)
{
    return gh_strndup(s, strlen(s));
}

void gh_free(void *p)
{
    free(p);
}

/* SQLite needs xSize: each block carries its requested size in a header, aligned like malloc's
 * own blocks so SQLite's 8-byte alignment holds. */
#define SQL_HDR (sizeof(max_align_t))

static void *sql_malloc(int n)
{
    if (n <= 0)
        return NULL;
    unsigned char *p = gh_malloc(SQL_HDR + (size_t)n);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    return p + SQL_HDR;
}

static void sql_free(void *p)
{
    if (p)
        gh_free((unsigned char *)p - SQL_HDR);
}

static int sql_size(void *p)
{
    int n = 0;
    if (p)
        memcpy(&n, (unsigned char *)p - SQL_HDR, sizeof n);
    return n;
}

static void *sql_realloc(void *p, int n)
{
    if (!p)
        return sql_malloc(n);
    if (n <= 0)
        return NULL;
    unsigned char *q = gh_realloc((unsigned char *)p - SQL_HDR, SQL_HDR + (size_t)n);
    if (!q)
        return NULL; /* the old block stays valid, as SQLite expects */
    memcpy(q, &n, sizeof n);
    return q + SQL_HDR;
}

static int sql_roundup(int n)
{
    return (n + 7) & ~7;
}

static int sql_init(void *ctx)
{
    (void)ctx;
    return SQLITE_OK;
}

static void sql_shutdown(void *ctx)
{
    (void)ctx;
}

gh_err gh_mem_init(bool test_alloc_fail_on)
{
    static const sqlite3_mem_methods methods = {
        .xMalloc = sql_malloc,
        .xFree = sql_free,
        .xRealloc = sql_realloc,
        .xSize = sql_size,
        .xRoundup = sql_roundup,
        .xInit = sql_init,
        .xShutdown = sql_shutdown,
        .pAppData = NULL,
    };
    atomic_store(&test_alloc_fail, test_alloc_fail_on);
    json_set_alloc_funcs(gh_malloc, gh_free);
    /* SQLITE_MISUSE: SQLite was already initialised (the hooks must come first). */
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) != SQLITE_OK)
        return GH_ERR_INTERNAL;
    /* No memory statistics: with them every SQLite allocation in every thread takes one global
     * mutex, and a hashing thread (SCHED_IDLE) preempted while holding it stalls the HTTP
     * thread's next query until that thread gets a CPU again (seen as 1-3 ms futex waits in
     * sqlite3Malloc under a login flood). Nothing here reads sqlite3_memory_used(). */
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK ? GH_OK : GH_ERR_INTERNAL;
}
