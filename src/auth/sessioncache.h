/* A bounded cache of "this session (checked with this signing key) was live, and this is its
 * user", so that an authenticated request needs no storage read. Entries are stamped with the
 * store's revocation epoch and are used only while the epoch is unchanged and for at most
 * max_age seconds (between max_age/2 and max_age, at random, so that entries filled together
 * are not all re-read together). max_age bounds how stale last_used_at may be, which can only
 * make a session look idle earlier than it is, never later. Revocations never wait for it.
 * Thread-safe; memory is allocated once. */
#ifndef GH_AUTH_SESSIONCACHE_H
#define GH_AUTH_SESSIONCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

struct gh_sessioncache;

GH_MUST_USE gh_err gh_sessioncache_new(size_t capacity, int64_t max_age,
                                       struct gh_sessioncache **out);
void gh_sessioncache_free(struct gh_sessioncache *c);

/* Hit only for the same sid and kid, the same epoch, and not yet stale.
 * out_user (may be NULL) receives id, email, display name and created_at. */
bool gh_sessioncache_get(struct gh_sessioncache *c, const char *sid, const char *kid,
                         uint64_t epoch, int64_t now, struct gh_session *out,
                         struct gh_user *out_user);

/* Remember a live session as read at epoch (read the epoch BEFORE reading storage). */
void gh_sessioncache_put(struct gh_sessioncache *c, const char *kid, uint64_t epoch, int64_t now,
                         const struct gh_session *ss, const struct gh_user *user);

/* A rendered view of an entry's profile (the GET /v1/me body), kept beside it so that a warm
 * request renders nothing. Bound to the entry: gone when the entry goes (epoch change, staleness,
 * eviction, a new put). put_view keeps view only if the entry for sid is still at epoch;
 * get_view copies it into out (size bytes) and returns true only if the entry is at epoch, not
 * stale, and a view of at most size bytes is set. */
#define GH_SESSIONCACHE_VIEW_MAX 512
void gh_sessioncache_put_view(struct gh_sessioncache *c, const char *sid, uint64_t epoch,
                              int64_t now, const char *view, size_t len);
bool gh_sessioncache_get_view(struct gh_sessioncache *c, const char *sid, uint64_t epoch,
                              int64_t now, char *out, size_t size, size_t *out_len);

#endif
