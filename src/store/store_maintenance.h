/* Maintenance-only store operations, used by `gatehouse audit prune` and nothing else: they
 * delete audit history. The running service never includes this header. */
#ifndef GH_STORE_STORE_MAINTENANCE_H
#define GH_STORE_STORE_MAINTENANCE_H

#include <stdint.h>

#include "core/err.h"
#include "store/store.h"
#include "store/store_audit.h"

/* Sign (seq, hash_hex) as a checkpoint: fill out_sig (base64url). */
typedef gh_err (*gh_audit_sign_fn)(void *ctx, int64_t seq, const char *hash_hex,
                                   char out_sig[GH_AUDIT_SIG_TEXT + 1]);

/* The first seq, in seq order, whose ts >= ts; *out_seq = 0 when no row is that late. */
GH_MUST_USE gh_err gh_store_audit_first_seq_at_or_after(struct gh_store *s, int64_t ts,
                                                        int64_t *out_seq);

/* In one transaction: read hash_{seq-1}, have sign() sign it, delete the rows with seq < `seq`
 * and the checkpoints before seq-1, and record (seq-1, hash_{seq-1}, sig) as the anchor.
 * Nothing to do (*out_deleted = 0) when seq-1 is at or before the current anchor.
 * GH_ERR_INVALID when row seq-1 does not exist (seq past the tail + 1, or a gap). */
GH_MUST_USE gh_err gh_store_audit_prune_before(struct gh_store *s, int64_t seq, int64_t now,
                                               gh_audit_sign_fn sign, void *ctx,
                                               int64_t *out_deleted);

#endif
