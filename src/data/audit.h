/* The tamper-evident audit trail (docs/audit.md): a BLAKE2b-256 hash chain over canonical JSON
 * events, with Ed25519-signed checkpoints every N appends, on a timer and at shutdown. The
 * signing key is derived from the random 32-byte working key "audit_signing" (wrapped under the
 * master key). Events carry ids and truncated addresses only — never emails or names: the
 * string fields are restricted to a small character set that has no '@' and needs no escaping.
 * gh_audit_append / gh_audit_tick may be called from any thread. */
#ifndef GH_DATA_AUDIT_H
#define GH_DATA_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "data/keywrap.h"
#include "store/store.h"
#include "store/store_audit.h"

#define GH_AUDIT_CHECKPOINT_EVERY 100   /* appends */
#define GH_AUDIT_CHECKPOINT_INTERVAL 60 /* seconds */
#define GH_AUDIT_CANONICAL_MAX 1024     /* bytes; the largest canonical event is ~560 */
#define GH_AUDIT_PUBKEY_TEXT 43         /* base64url of the 32-byte Ed25519 public key */
#define GH_AUDIT_KEY_NAME "audit_signing"
#define GH_AUDIT_CHECKPOINT_CONTEXT "gatehouse-audit-checkpoint-v1\n"

/* What happened. NULL string fields are stored as "". action: [a-z0-9_]{1,32}; outcome:
 * "success" | "failure" | "denied"; actor, target, request_id: [A-Za-z0-9._:-]{0,64} (user id,
 * "operator", session id, kid, request id); client: "" | "unknown" | an address the caller has
 * ALREADY truncated with gh_log_truncate_addr (ending "/24" or "/48"). */
struct gh_audit_event {
    int64_t ts; /* unix seconds; <= 0: now */
    const char *action;
    const char *actor;
    const char *target;
    const char *outcome;
    const char *request_id;
    const char *client;
};

struct gh_audit_options {
    int64_t checkpoint_every;    /* 0: GH_AUDIT_CHECKPOINT_EVERY */
    int64_t checkpoint_interval; /* 0: GH_AUDIT_CHECKPOINT_INTERVAL */
};

struct gh_audit;

/* Rows a gh_audit holds for retry when the store cannot take them. */
#define GH_AUDIT_RETRY_MAX 256

struct gh_audit_stats {
    uint64_t failures;  /* store appends that failed (first tries and retries) */
    uint64_t queued;    /* events put in the retry queue */
    uint64_t recovered; /* queued events stored later */
    uint64_t dropped;   /* events lost: the queue was full */
    size_t pending;     /* events in the queue now */
};
/* Counters since start (for metrics). NULL-safe (all zero). */
void gh_audit_stats(struct gh_audit *a, struct gh_audit_stats *out);

/* Load (creating on first use) the audit signing seed and derive the key pair. opt may be
 * NULL. s and kw must outlive the gh_audit; kw is used only here. */
GH_MUST_USE gh_err gh_audit_new(struct gh_store *s, struct gh_keywrap *kw,
                                const struct gh_audit_options *opt, int64_t now,
                                struct gh_audit **out);
/* Checkpoint what is not yet signed (shutdown), then free. Frees even when the checkpoint
 * fails (the error is returned). NULL-safe. */
GH_MUST_USE gh_err gh_audit_close(struct gh_audit *a);
/* Free without a checkpoint (error paths, read-only commands). NULL-safe. */
void gh_audit_free(struct gh_audit *a);

/* Append one event (GH_ERR_INVALID when a field breaks the rules above; nothing is stored).
 * Every checkpoint_every successful appends a checkpoint follows; its failure is logged, not
 * returned (the event is stored; the next tick retries).
 * When the store cannot take the event (out of memory, disk full, database unreachable), or
 * earlier events are still waiting, the event keeps its time and joins a retry queue of
 * GH_AUDIT_RETRY_MAX rows (allocated by gh_audit_new; queuing allocates nothing): GH_ERR_BUSY.
 * When that queue is full the event is lost: GH_ERR_TOO_LARGE. Both are counted. */
GH_MUST_USE gh_err gh_audit_append(struct gh_audit *a, const struct gh_audit_event *ev);
/* Call periodically: first stores queued events in order (returning the store's error while
 * one still fails: no checkpoint is signed over a gap being filled), then checkpoints when
 * checkpoint_interval seconds have passed since the last one and there are events after it. */
GH_MUST_USE gh_err gh_audit_tick(struct gh_audit *a, int64_t now);
/* Checkpoint the current tail now, unless it is already checkpointed. */
GH_MUST_USE gh_err gh_audit_checkpoint(struct gh_audit *a, int64_t now);

void gh_audit_public_key(const struct gh_audit *a, unsigned char out[32]);

/* ---- pure pieces: the format, exactly as an external verifier computes it ---- */

/* Does ev follow the field rules? */
bool gh_audit_event_is_valid(const struct gh_audit_event *ev);
/* The canonical JSON of a row's 8 event members (sorted keys, compact). */
GH_MUST_USE gh_err gh_audit_canonical(const struct gh_audit_row *r,
                                      char out[GH_AUDIT_CANONICAL_MAX], size_t *out_len);
/* hash_n = BLAKE2b-256(hash_{n-1} ‖ canonical_n). */
void gh_audit_chain_hash(const unsigned char prev[32], const char *canonical, size_t len,
                         unsigned char out[32]);
/* The signed message: GH_AUDIT_CHECKPOINT_CONTEXT ‖ seq (8 bytes big-endian) ‖ hash (32). */
#define GH_AUDIT_SIGNED_LEN (sizeof GH_AUDIT_CHECKPOINT_CONTEXT - 1 + 8 + 32)
void gh_audit_signed_message(int64_t seq, const unsigned char hash[32],
                             unsigned char out[GH_AUDIT_SIGNED_LEN]);
/* Does mark carry a valid signature by pubkey over its (seq, hash)? */
bool gh_audit_mark_is_signed(const struct gh_audit_mark *m, const unsigned char pubkey[32]);

/* ---- verification, export, prune (operator commands) ---- */

enum gh_audit_problem {
    GH_AUDIT_OK,
    GH_AUDIT_HASH_MISMATCH,  /* a row's prev_hash or hash differs from the recomputed chain */
    GH_AUDIT_SEQ_GAP,        /* a seq is missing (or an unexpected one is present) */
    GH_AUDIT_CHECKPOINT_BAD, /* bad signature, or its hash differs from the chain at its seq */
    GH_AUDIT_ANCHOR_BAD,     /* the prune anchor's signature does not verify */
    GH_AUDIT_TRUNCATED,      /* the last row is before the last (valid) checkpoint */
};

struct gh_audit_report {
    enum gh_audit_problem problem;
    int64_t bad_seq;    /* the first bad seq (the first missing one for a gap or truncation) */
    char message[256];  /* e.g. "hash mismatch at seq 42: ..." */
    int64_t anchor_seq; /* 0: no anchor (the chain starts at seq 1) */
    int64_t events;
    int64_t last_seq; /* last row's seq (anchor_seq when there are no rows) */
    int64_t checkpoints;
    int64_t last_checkpoint_seq; /* 0: none */
};

/* Recompute the chain from the anchor (or genesis) and check every checkpoint (and the anchor)
 * against pubkey. GH_OK means the check ran: the verdict is in out->problem. */
GH_MUST_USE gh_err gh_audit_verify(struct gh_store *s, const unsigned char pubkey[32],
                                   struct gh_audit_report *out);
/* JSON lines: a header, one line per event, one per checkpoint (docs/audit.md). */
GH_MUST_USE gh_err gh_audit_export(struct gh_store *s, const unsigned char pubkey[32], FILE *f);
/* Delete the events before before_ts (the prefix that ends at the first event at or after it),
 * leaving a signed anchor. Refuses (GH_ERR_CRYPTO, report filled) when the chain does not verify
 * first, so that pruning cannot launder tampering. *out_deleted: rows removed. */
GH_MUST_USE gh_err gh_audit_prune(struct gh_audit *a, int64_t before_ts, int64_t now,
                                  int64_t *out_deleted, struct gh_audit_report *out_report);

/* Base64url text of a public key (GH_AUDIT_PUBKEY_TEXT + 1 bytes). */
void gh_audit_pubkey_encode(const unsigned char pk[32], char out[GH_AUDIT_PUBKEY_TEXT + 1]);
/* Read a public key file (base64url, surrounding whitespace allowed). GH_ERR_IO when it cannot
 * be read, GH_ERR_INVALID when it is not a key. */
GH_MUST_USE gh_err gh_audit_pubkey_read(const char *path, unsigned char out[32]);
/* "YYYY-MM-DD" → unix seconds at 00:00 UTC; GH_ERR_INVALID otherwise. */
GH_MUST_USE gh_err gh_audit_parse_date(const char *text, int64_t *out);

#endif
