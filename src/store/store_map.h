/* Backend-neutral row mapping, shared by src/store/store_sqlite*.c and store_pg*.c: one place
 * says which column of a result row goes into which field of a store struct. A backend hands
 * over its row through the column readers below; nothing here knows SQLite or libpq. Nothing
 * outside src/store/ may include this. */
#ifndef GH_STORE_STORE_MAP_H
#define GH_STORE_STORE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "store/store_audit.h"

struct gh_store_row;

/* How a backend reads column col of its current row. Lenient readers (text, i64) read NULL as
 * "" / 0 and truncate to size-1 bytes; exact readers (text_exact, int_exact) report with false
 * any value that is not exactly a well-formed field (NULL, too long, wrong type, ...). */
struct gh_store_row_ops {
    void (*text)(const struct gh_store_row *r, int col, char *dst, size_t size);
    int64_t (*i64)(const struct gh_store_row *r, int col);
    bool (*is_null)(const struct gh_store_row *r, int col);
    bool (*text_exact)(const struct gh_store_row *r, int col, char *dst, size_t size);
    bool (*int_exact)(const struct gh_store_row *r, int col, int64_t *out);
};

/* The first member of a backend's row (which adds its result handle and row index). */
struct gh_store_row {
    const struct gh_store_row_ops *ops;
};

/* id, email, email_key, display_name, password_hash, created_at, updated_at, last_login_at,
 * dek_wrapped, is_admin (sealed fields; the struct is cleared first). */
void gh_store_map_user(const struct gh_store_row *r, struct gh_user *u);
/* id, email, email_key, display_name of a row written before migration 0004 (plaintext). */
void gh_store_map_legacy_user(const struct gh_store_row *r, struct gh_user *u);
/* id, user_id, created_at, last_used_at, expires_at, revoked_at (cleared first). */
void gh_store_map_session(const struct gh_store_row *r, struct gh_session *ss);
/* The access check's row: the session (columns 0-5), the signing key's revoked_at (6), then
 * the user's email, email_key, display_name, created_at, updated_at, last_login_at and
 * dek_wrapped (7-13). out_user may be NULL; it is cleared first and never gets the hash. */
void gh_store_map_access(const struct gh_store_row *r, struct gh_session *ss,
                         struct gh_user *out_user, bool *out_key_revoked);
/* kid, alg, public_key, wrapped_private, created_at, activates_at, retired_at, revoked_at
 * (cleared first). */
void gh_store_map_key(const struct gh_store_row *r, struct gh_stored_key *k);
/* failures, lock_level, locked_until, updated_at. */
void gh_store_map_throttle(const struct gh_store_row *r, struct gh_throttle *t);
/* seq, ts, action, actor, target, outcome, request_id, client, prev_hash, hash; row->malformed
 * says whether any of them is not exactly a well-formed field. */
void gh_store_map_audit_row(const struct gh_store_row *r, struct gh_audit_row *row);
/* seq, hash, sig, created_at (a checkpoint or the anchor), with m->malformed as above. */
void gh_store_map_audit_mark(const struct gh_store_row *r, struct gh_audit_mark *m);

/* Count one failed login into t at now under policy p (the arithmetic of
 * gh_store_throttle_fail, the same for every backend). True when this failure starts a lock. */
bool gh_store_throttle_count_failure(struct gh_throttle *t, int64_t now,
                                     const struct gh_lockout_policy *p);

#endif
