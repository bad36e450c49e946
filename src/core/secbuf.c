/* Owns the secret-slot region from gh_secbuf_init to gh_secbuf_shutdown: one sodium_malloc
 * block (guard pages around it, locked against swap, kept out of core dumps) cut into fixed
 * slots, with a stack of free slot numbers under one mutex. */
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "core/mem.h"
#include "core/secbuf.h"
#include "core/banned.h"

#define SECBUF_SLOTS_MAX 4096u
#define SECBUF_SLOT_MAX ((size_t)64 * 1024)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *region; /* nslots * slot_size bytes, sodium_malloc'd */
static size_t nslots, slot_size;
static size_t *free_stack; /* free slot numbers; nfree of them */
static size_t nfree;

gh_err gh_secbuf_init(size_t slots, size_t size)
{
    if (slots == 0 || slots > SECBUF_SLOTS_MAX || size == 0 || size > SECBUF_SLOT_MAX)
        return GH_ERR_INVALID;
    if (sodium_init() < 0)
        return GH_ERR_INTERNAL;
    size = (size + 15u) & ~(size_t)15u; /* keep every slot 16-byte aligned */
    unsigned char *r = sodium_allocarray(slots, size);
    size_t *st = gh_calloc(slots, sizeof *st);
    if (!r || !st) {
        sodium_free(r);
        gh_free(st);
        return GH_ERR_NOMEM;
    }
    sodium_memzero(r, slots * size);
    pthread_mutex_lock(&mu);
    if (region) {
        pthread_mutex_unlock(&mu);
        sodium_free(r);
        gh_free(st);
        return GH_ERR_INVALID; /* once */
    }
    region = r;
    nslots = slots;
    slot_size = size;
    free_stack = st;
    for (size_t i = 0; i < slots; i++)
        free_stack[i] = slots - 1 - i; /* slot 0 is handed out first */
    nfree = slots;
    pthread_mutex_unlock(&mu);
    return GH_OK;
}

void gh_secbuf_shutdown(void)
{
    pthread_mutex_lock(&mu);
    unsigned char *r = region;
    size_t *st = free_stack;
    region = NULL;
    free_stack = NULL;
    nslots = slot_size = nfree = 0;
    pthread_mutex_unlock(&mu);
    sodium_free(r); /* sodium_free wipes the whole region */
    gh_free(st);
}

void *gh_secbuf_take(size_t n)
{
    void *p = NULL;
    pthread_mutex_lock(&mu);
    if (region && n > 0 && n <= slot_size && nfree > 0)
        p = region + free_stack[--nfree] * slot_size;
    pthread_mutex_unlock(&mu);
    return p;
}

bool gh_secbuf_owns(const void *p)
{
    pthread_mutex_lock(&mu);
    bool owns = region && p && (uintptr_t)p >= (uintptr_t)region &&
                (uintptr_t)p < (uintptr_t)region + nslots * slot_size &&
                ((uintptr_t)p - (uintptr_t)region) % slot_size == 0;
    pthread_mutex_unlock(&mu);
    return owns;
}

void gh_secbuf_give(void *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&mu);
    if (region && nfree < nslots) {
        size_t i = (size_t)((unsigned char *)p - region) / slot_size;
        sodium_memzero(region + i * slot_size, slot_size);
        free_stack[nfree++] = i;
    }
    pthread_mutex_unlock(&mu);
}

void *gh_secbuf_alloc(size_t n)
{
    void *p = gh_secbuf_take(n);
    return p ? p : sodium_malloc(n);
}

void gh_secbuf_free(void *p)
{
    if (gh_secbuf_owns(p))
        gh_secbuf_give(p);
    else
        sodium_free(p); /* wipes; NULL-safe */
}
