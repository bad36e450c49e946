/* gatehouse's own allocator entry points. Allocation failure while serving a request is an
 * error (GH_ERR_NOMEM → 503), never an abort. A fault-injection hook lives here (tests only). */
#ifndef GH_CORE_MEM_H
#define GH_CORE_MEM_H

#include <stddef.h>

void *gh_malloc(size_t n);
void *gh_calloc(size_t count, size_t n);
void *gh_realloc(void *p, size_t n);
char *gh_strndup(const char *s, size_t n);
char *gh_strdup(const char *s);
void gh_free(void *p);

/* Test hook: make the Nth allocation from now fail (0 disables). */
void gh_mem_fail_after(long n);

#endif
