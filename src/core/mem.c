/* Owns gatehouse's allocator wrappers; memory is plain libc heap.
 * Fault injection (gh_mem_fail_after) exists for the allocation-failure tests. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/banned.h"

static atomic_long fail_countdown;

static int should_fail(void)
{
    long v = atomic_load(&fail_countdown);
    if (v <= 0)
        return 0;
    return atomic_fetch_sub(&fail_countdown, 1) == 1;
}

void gh_mem_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}

void *gh_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *gh_calloc(size_t count, size_t n)
{
    return should_fail() ? NULL : calloc(count ? count : 1, n ? n : 1);
}

void *gh_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
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
