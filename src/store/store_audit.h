/* The store interface for audit rows, as used by the running service (data/audit.c): append
 * (the tail is read and the row inserted in one write transaction), read everything in seq order
 * in one snapshot, read the tail and the last checkpoint, insert a checkpoint. There is
 * deliberately no update and no delete here; pruning is in store_maintenance.h. */
#ifndef GH_STORE_STORE_AUDIT_H
#define GH_STORE_STORE_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

#define GH_AUDIT_ACTION_MAX 32 /* bytes; [a-z0-9_] */
#define GH_AUDIT_FIELD_MAX 64  /* actor, target, request_id, client */
#define GH_AUDIT_OUTCOME_MAX 8 /* "success", "failure", "denied" */
#define GH_AUDIT_HASH_HEX 64   /* BLAKE2b-256 as lowercase hex */
#define GH_AUDIT_SIG_TEXT 86   /* Ed25519 signature (64 bytes) as base64url */

/* One stored event. Strings are NUL-terminated; "" for an empty field. */
struct gh_audit_row {
    int64_t seq;
    int64_t ts;
    char action[GH_AUDIT_ACTION_MAX + 1];
    char actor[GH_AUDIT_FIELD_MAX + 1];
    char target[GH_AUDIT_FIELD_MAX + 1];
    char outcome[GH_AUDIT_OUTCOME_MAX + 1];
    char request_id[GH_AUDIT_FIELD_MAX + 1];
    char client[GH_AUDIT_FIELD_MAX + 1];
    char prev_hash[GH_AUDIT_HASH_HEX + 1];
    char hash[GH_AUDIT_HASH_HEX + 1];
    /* Set by reads: a stored value had the wrong type, was longer than its field or held a NUL
     * byte, so the strings above are not exactly what is stored (verification must fail). */
    bool malformed;
};

/* A signed (seq, hash): a checkpoint, or the anchor left by a prune. */
struct gh_audit_mark {
    int64_t seq;
    char hash[GH_AUDIT_HASH_HEX + 1];
    char sig[GH_AUDIT_SIG_TEXT + 1];
    int64_t created_at;
    bool malformed; /* as in gh_audit_row */
};

/* Called inside the append transaction once row->seq and row->prev_hash are set (the tail's
 * seq + 1 and hash; the anchor's or 32 zero bytes when there are no rows): fill row->hash. */
typedef gh_err (*gh_audit_seal_fn)(void *ctx, struct gh_audit_row *row);

/* Append one event: BEGIN IMMEDIATE, read the tail, seal, insert, commit. The caller fills
 * every field but seq, prev_hash and hash; on GH_OK the row holds what was stored. */
GH_MUST_USE gh_err gh_store_audit_append(struct gh_store *s, struct gh_audit_row *row,
                                         gh_audit_seal_fn seal, void *ctx);

/* The last (seq, hash) of the chain: the last row, else the anchor, else (0, 64 zeros). */
GH_MUST_USE gh_err gh_store_audit_tail(struct gh_store *s, int64_t *out_seq,
                                       char out_hash[GH_AUDIT_HASH_HEX + 1]);

/* Highest checkpointed seq (0: none). */
GH_MUST_USE gh_err gh_store_audit_last_checkpoint(struct gh_store *s, int64_t *out_seq);

/* Store a checkpoint; one already stored for the same seq is kept (GH_OK). */
GH_MUST_USE gh_err gh_store_audit_checkpoint_insert(struct gh_store *s,
                                                    const struct gh_audit_mark *cp);

/* Everything, from one consistent snapshot, in this order: anchor (once; NULL when there is
 * none), every checkpoint by seq, every row by seq. A callback's error stops the read and is
 * returned. Any callback may be NULL. */
struct gh_audit_reader {
    gh_err (*anchor)(void *ctx, const struct gh_audit_mark *anchor);
    gh_err (*checkpoint)(void *ctx, const struct gh_audit_mark *cp);
    gh_err (*row)(void *ctx, const struct gh_audit_row *row);
    void *ctx;
};
GH_MUST_USE gh_err gh_store_audit_read(struct gh_store *s, const struct gh_audit_reader *r);

/* Only the rows whose actor or target is user_id, by seq (indexed: a user's export does not read
 * the whole chain). Rows only: no anchor, no checkpoint. A callback's error stops the read. */
GH_MUST_USE gh_err gh_store_audit_read_user(struct gh_store *s, const char *user_id,
                                            gh_err (*row)(void *ctx, const struct gh_audit_row *r),
                                            void *ctx);

#endif
