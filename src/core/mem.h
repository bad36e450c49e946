/* gatehouse's own allocator entry points. Allocation failure while serving a request is an
 * error (GH_ERR_NOMEM → 503), never an abort. jansson and SQLite allocate through the same
 * wrappers (gh_mem_init), so the fault-injection hooks below (tests only) reach them too. */
#ifndef GH_CORE_MEM_H
#define GH_CORE_MEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

void *gh_malloc(size_t n);
void *gh_calloc(size_t count, size_t n);
void *gh_realloc(void *p, size_t n);
char *gh_strndup(const char *s, size_t n);
char *gh_strdup(const char *s);
void gh_free(void *p);

/* Route jansson's (json_set_alloc_funcs) and SQLite's (SQLITE_CONFIG_MALLOC) allocations
 * through gh_malloc/gh_realloc/gh_free. Call once, early in main(), before SQLite is first used.
 * test_alloc_fail (GATEHOUSE_TEST_ALLOC_FAIL) lets the HTTP layer arm per-request faults. */
GH_MUST_USE gh_err gh_mem_init(bool test_alloc_fail);
/* Was gh_mem_init called with test_alloc_fail? */
bool gh_mem_test_alloc_fail_enabled(void);

/* How many allocations have failed on this thread so far (real or injected). Compare before
 * and after a library call that fails for several reasons (e.g. json_loadb: bad JSON, or out
 * of memory) to tell which it was. */
unsigned long gh_mem_thread_failures(void);

/* Test hook: make the Nth allocation from now fail, on any thread (0 disables). */
void gh_mem_fail_after(long n);

/* The allocations of one unit of work (a request) on whichever threads work on it: a thread
 * bound to a scope counts its failed allocations there (so that the request can tell that its
 * answer may be wrong), and — tests only — the scope can be armed so that its Nth allocation
 * fails, once. Zero-initialised: counting, not armed. */
struct gh_mem_scope {
    long armed_n;          /* N as armed (0: not armed) */
    atomic_long countdown; /* > 0: allocations left until the failing one */
    atomic_bool fired;
    atomic_ulong failures; /* allocations that failed in this scope (real or injected) */
};
void gh_mem_scope_arm(struct gh_mem_scope *sc, long n);
/* Count this thread's allocations in sc from now on (NULL: in none). */
void gh_mem_scope_bind(struct gh_mem_scope *sc);
/* The scope bound to this thread, or NULL. */
struct gh_mem_scope *gh_mem_scope_bound(void);
bool gh_mem_scope_has_fired(const struct gh_mem_scope *sc);
/* Allocations made in an armed scope so far (while it has not fired). */
long gh_mem_scope_allocations(const struct gh_mem_scope *sc);
unsigned long gh_mem_scope_failures(const struct gh_mem_scope *sc);

#endif
