/* Slots of guarded, locked memory for secrets that live for one request (a password on its way
 * to the hashing pool), carved once from one sodium_malloc region. Taking and returning a slot
 * makes no system call: sodium_malloc per request maps, protects and locks pages, and each of
 * those waits for the process's address-space lock, which an argon2id run holds while it maps
 * and fills its 19 MiB -- milliseconds during which an HTTP thread would stall every request it
 * serves. Thread-safe; a slot is wiped when it is given back. */
#ifndef GH_CORE_SECBUF_H
#define GH_CORE_SECBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/* slots of slot_size bytes each; once, before serving. GH_ERR_NOMEM if the region cannot be had
 * (callers then fall back to sodium_malloc per secret). */
GH_MUST_USE gh_err gh_secbuf_init(size_t slots, size_t slot_size);
/* Wipes and frees the region; every slot must have been given back. NULL-safe to call twice. */
void gh_secbuf_shutdown(void);

/* A free slot of at least n bytes, or NULL (none free, n too large, not initialised). */
void *gh_secbuf_take(size_t n);
/* Does p come from gh_secbuf_take? */
bool gh_secbuf_owns(const void *p);
/* Wipe the slot and make it free again; p must come from gh_secbuf_take. NULL is a no-op. */
void gh_secbuf_give(void *p);

/* A slot when one is free, else sodium_malloc(n) (NULL only if that fails too); give it back
 * with gh_secbuf_free, which wipes either kind. */
void *gh_secbuf_alloc(size_t n);
void gh_secbuf_free(void *p);

#endif
