/* The one storage interface. Every module reaches the database only through these functions;
 * no backend type or handle appears outside src/store/. Each write that a response depends on
 * is committed before the function returns. Thread-safe: any thread may call any function. */
#ifndef GH_STORE_STORE_H
#define GH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/enc.h"
#include "core/err.h"

struct gh_store;

#define GH_EMAIL_MAX 254
#define GH_DISPLAY_NAME_MAX 200 /* bytes of UTF-8 */
#define GH_EMAIL_KEY_MAX GH_EMAIL_MAX
#define GH_HASH_TEXT_MAX 255
#define GH_TOKEN_HASH_HEX 64 /* keyed BLAKE2b-256 as lowercase hex */

/* Open a database by URL: `sqlite:PATH`, or a libpq URI `postgresql://…` / `postgres://…` (a
 * secret: never logged). GH_ERR_CONFIG for any other scheme; GH_ERR_STORE when PostgreSQL cannot
 * be reached. Does not migrate. */
GH_MUST_USE gh_err gh_store_open(const char *url, struct gh_store **out);
void gh_store_free(struct gh_store *s);

/* Mark the calling thread as one that must not use storage (a hashing thread while it runs
 * SCHED_IDLE: a connection or lock it held while preempted would hold up the request threads).
 * Every backend checks on taking a connection: debug builds abort there, release builds go on. */
void gh_store_thread_forbid(bool on);
bool gh_store_thread_forbidden(void);
void gh_store_thread_check(const char *what);

/* Apply pending migrations; *out_applied (may be NULL) receives how many ran. */
GH_MUST_USE gh_err gh_store_migrate(struct gh_store *s, int *out_applied);
/* The schema version (highest applied migration). */
GH_MUST_USE gh_err gh_store_schema_version(struct gh_store *s, int *out);
/* Is storage reachable and answering (readyz)? */
GH_MUST_USE gh_err gh_store_ping(struct gh_store *s);

/* A user row. The store reads and writes only the sealed fields (email_enc, display_name_enc,
 * dek_wrapped) and the blind index (email_key); email and display_name are the plaintext view
 * that data/pii.c fills in and that is never stored. */
struct gh_user {
    char id[GH_ID_LEN + 1];
    char email[GH_EMAIL_MAX + 1];
    char email_key[GH_EMAIL_KEY_MAX + 1]; /* unique: blind index of the normalised email */
    char display_name[GH_DISPLAY_NAME_MAX + 1];
    bool has_display_name;
    char email_enc[512];
    char display_name_enc[512];
    char dek_wrapped[256];
    char password_hash[GH_HASH_TEXT_MAX + 1];
    int64_t created_at;
    int64_t updated_at;
    int64_t last_login_at; /* 0: never */
    bool admin;            /* the admin role (migration 0005); stored, never taken from a token */
};

/* GH_ERR_CONFLICT when email_key (or id) is taken. u->admin is stored as given (zeroed users
 * are not admins). */
GH_MUST_USE gh_err gh_store_user_insert(struct gh_store *s, const struct gh_user *u);
/* Insert n users in one transaction: all or none. GH_ERR_CONFLICT (nothing stored) when any
 * email_key is taken; *out_failed (may be NULL) receives the index of the offending user. */
GH_MUST_USE gh_err gh_store_users_insert_all(struct gh_store *s, const struct gh_user *users,
                                             size_t n, size_t *out_failed);
/* Rows still in plaintext (written before migration 0004): up to max of them, with the
 * plaintext in email / display_name and email_key as the lowercased address. */
GH_MUST_USE gh_err gh_store_users_legacy(struct gh_store *s, size_t max, struct gh_user **out,
                                         size_t *out_n);
/* Replace a legacy row's plaintext by its sealed fields, blind index and wrapped key. */
GH_MUST_USE gh_err gh_store_user_seal_legacy(struct gh_store *s, const struct gh_user *u);
/* Erase a user: delete the row (and with it, by foreign key, its sessions, refresh tokens and
 * login budgets; the wrapped data key goes with the row — crypto-shredding) in one transaction,
 * append the id to the erasure ledger beside the database ("<db>-erasures", fsynced: a restored
 * backup re-applies it), bump the revocation epoch, then checkpoint and truncate the WAL.
 * PostgreSQL: the delete, the ledger row (table erasure_ledger, migration 0006) and the epoch bump
 * in one transaction. GH_ERR_NOT_FOUND when there is no such user. */
GH_MUST_USE gh_err gh_store_user_erase(struct gh_store *s, const char *user_id, int64_t now);
/* Ids in the erasure ledger kept beside the SQLite database file db_path ("<db>-erasures"), for
 * re-applying after a restore: cb is called for each. */
GH_MUST_USE gh_err gh_store_erasure_ledger_at(
    const char *db_path, void (*cb)(const char *user_id, int64_t at, void *ctx), void *ctx);
/* PRAGMA integrity_check says "ok"? GH_ERR_STORE otherwise. PostgreSQL: the server answers. */
GH_MUST_USE gh_err gh_store_integrity_ok(struct gh_store *s);
/* Delete a user row without touching the ledger (re-applying the ledger to a restored copy). */
GH_MUST_USE gh_err gh_store_user_purge(struct gh_store *s, const char *user_id);
/* A consistent online snapshot without free pages (VACUUM INTO) at path (must not exist).
 * SQLite only: PostgreSQL answers GH_ERR_CONFIG (its backups go through gh_store_dump). */
GH_MUST_USE gh_err gh_store_snapshot(struct gh_store *s, const char *path);

/* PostgreSQL backups (`gatehouse backup`). Command-line only: they run pg_dump, pg_restore and
 * psql (Debian's postgresql-client), which serve's sandbox forbids. The connection reaches them
 * only through environment variables derived from the URL (PGHOST, PGPASSWORD, PGSSLMODE, ...):
 * never argv, never a file, never a log. Their own messages can name hosts, users and values,
 * so a failure is reported as a fixed sentence in why (GH_STORE_WHY_MAX bytes), never verbatim.
 * SQLite stores answer GH_ERR_CONFIG. */
#define GH_STORE_WHY_MAX 400
struct gh_store_dump_info {
    char schema[64];       /* the schema dumped: the first of gatehouse's search_path */
    char tool_version[32]; /* pg_dump's version, e.g. "15.18" */
    int server_version;    /* the server's, as PQserverVersion: 150018 */
};
/* Stream a pg_dump custom-format archive of gatehouse's schema (every table, the ledger too) to
 * sink, in pieces of any size; *out describes it. Works while serve runs (one MVCC snapshot) and
 * as the runtime role (it needs SELECT on every table). GH_ERR_CONFIG: no pg_dump, or one older
 * than the server; GH_ERR_FORBIDDEN: a privilege is missing; GH_ERR_STORE otherwise. A sink
 * error stops pg_dump and is returned. */
GH_MUST_USE gh_err gh_store_dump(struct gh_store *s,
                                 gh_err (*sink)(const unsigned char *buf, size_t n, void *ctx),
                                 void *ctx, struct gh_store_dump_info *out,
                                 char why[GH_STORE_WHY_MAX]);
/* Replace gatehouse's tables, functions and rows in its schema by those of the archive in
 * dump_fd (a verified plaintext file; read from offset 0), in ONE transaction which also keeps
 * the live erasure ledger (the union of it and the archive's) and deletes every restored user
 * whose id is in it: either all of that commits or nothing changes. The schema itself (its owner
 * and grants) is left as it is. Must run as the owner role (GH_ERR_FORBIDDEN otherwise) while no
 * other process of this URL is connected (GH_ERR_BUSY). GH_ERR_CONFIG refuses an archive of
 * another schema, one whose schema_version (from the backup's header) is newer than this
 * release knows, and a live schema holding a table, view, sequence, function or type that the
 * archive lacks (it would stay behind: a later release's, or not gatehouse's). An archive of
 * an older schema version is fine otherwise: migrate after. The store's connections are stale
 * afterwards: free it and open a new one. *out_reerased: users deleted again. */
GH_MUST_USE gh_err gh_store_dump_restore(struct gh_store *s, int dump_fd,
                                         const struct gh_store_dump_info *info, int schema_version,
                                         long *out_reerased, char why[GH_STORE_WHY_MAX]);
/* The database file's path (for files kept beside it), e.g. "var/gatehouse.db"; "" for
 * PostgreSQL, which has no file. */
const char *gh_store_path(struct gh_store *s);
/* Copy the WAL into the database and truncate it (after rewriting or deleting personal data, so
 * that no old page image keeps a plaintext or erased copy). PostgreSQL: GH_OK, nothing to do
 * (its WAL and dead rows are recycled by the server's checkpoints and vacuum). */
GH_MUST_USE gh_err gh_store_checkpoint(struct gh_store *s);
/* Every user row (sealed), in id order, to cb; stops at the first error cb returns. */
GH_MUST_USE gh_err gh_store_users_each(struct gh_store *s,
                                       gh_err (*cb)(struct gh_user *u, void *ctx), void *ctx);
/* GH_ERR_NOT_FOUND when absent. */
GH_MUST_USE gh_err gh_store_user_get(struct gh_store *s, const char *id, struct gh_user *out);
GH_MUST_USE gh_err gh_store_user_find_by_email_key(struct gh_store *s, const char *email_key,
                                                   struct gh_user *out);
/* Replace the password hash; when revoke_other_sessions, every session of the user except
 * keep_session_id (may be NULL) is revoked in the same transaction. */
GH_MUST_USE gh_err gh_store_user_set_password(struct gh_store *s, const char *user_id,
                                              const char *hash, int64_t now,
                                              bool revoke_other_sessions,
                                              const char *keep_session_id);
/* Grant or remove the admin role. GH_ERR_NOT_FOUND when there is no such user. Bumps the
 * revocation epoch (a demotion refuses at once what the role allowed). */
GH_MUST_USE gh_err gh_store_user_set_admin(struct gh_store *s, const char *user_id, bool admin);
/* Revoke every session of a user (admin "revoke sessions") in one transaction and bump the
 * revocation epoch; *out_n (may be NULL) how many were live. GH_ERR_NOT_FOUND when there is no
 * such user. */
GH_MUST_USE gh_err gh_store_user_sessions_revoke(struct gh_store *s, const char *user_id,
                                                 const char *reason, int64_t now, long *out_n);
struct gh_session {
    char id[GH_ID_LEN + 1];
    char user_id[GH_ID_LEN + 1];
    int64_t created_at;
    int64_t last_used_at;
    int64_t expires_at; /* absolute end */
    int64_t revoked_at; /* 0: not revoked */
};

/* Is the session usable at now (not revoked, within absolute and idle limits)? */
bool gh_session_is_active(const struct gh_session *ss, int64_t now, int64_t idle_timeout);

/* A successful login, in one transaction (one durable commit): record the user's last login,
 * replace the password hash when new_password_hash is non-NULL (rehash upgrade), and insert the
 * session and its first refresh token (hash). */
GH_MUST_USE gh_err gh_store_session_create(struct gh_store *s, const struct gh_session *ss,
                                           const char *refresh_hash, const char *new_password_hash);

enum gh_rotate_result {
    GH_ROTATE_OK,      /* old token consumed, new token stored */
    GH_ROTATE_INVALID, /* unknown token, or session revoked/expired/idle */
    GH_ROTATE_REUSED,  /* token had been used: the whole session is now revoked */
};

/* Atomically consume old_hash and store new_hash for the same session. out_session receives
 * the session (also for REUSED, so the caller can report it). Exactly one of two concurrent
 * callers with the same old token gets OK. */
GH_MUST_USE gh_err gh_store_refresh_rotate(struct gh_store *s, const char *old_hash,
                                           const char *new_hash, int64_t now, int64_t idle_timeout,
                                           enum gh_rotate_result *out,
                                           struct gh_session *out_session);

GH_MUST_USE gh_err gh_store_session_get(struct gh_store *s, const char *id, struct gh_session *out);

/* Revoke one session. When user_id is non-NULL the session must belong to that user, else
 * GH_ERR_NOT_FOUND (so nobody can probe other users' session ids). Revoking an already revoked
 * session is GH_OK. */
GH_MUST_USE gh_err gh_store_session_revoke(struct gh_store *s, const char *id, const char *user_id,
                                           const char *reason, int64_t now);

/* Find the session a refresh token (hash) belongs to, whether used or not. */
GH_MUST_USE gh_err gh_store_session_by_refresh(struct gh_store *s, const char *refresh_hash,
                                               struct gh_session *out);

/* Active sessions of a user, newest first; *out is gh_malloc'd (gh_free), *out_n its length,
 * at most max entries. */
GH_MUST_USE gh_err gh_store_sessions_list(struct gh_store *s, const char *user_id, int64_t now,
                                          int64_t idle_timeout, size_t max, struct gh_session **out,
                                          size_t *out_n);

/* Every session row of a user, revoked and expired ones included (data export), newest first,
 * at most max. */
GH_MUST_USE gh_err gh_store_sessions_all(struct gh_store *s, const char *user_id, size_t max,
                                         struct gh_session **out, size_t *out_n);

/* Revoke every session (incident response); *out_n how many. */
GH_MUST_USE gh_err gh_store_sessions_revoke_all(struct gh_store *s, const char *reason, int64_t now,
                                                long *out_n);

/* The per-request check of an access token, in one statement: the session row, its user
 * (profile fields only, never the password hash; out_user may be NULL) and whether the signing
 * key kid has been withdrawn (keys revoke). GH_ERR_NOT_FOUND when the session does not exist. */
GH_MUST_USE gh_err gh_store_access_check(struct gh_store *s, const char *sid, const char *kid,
                                         struct gh_session *out, struct gh_user *out_user,
                                         bool *out_key_revoked);

/* Signing keys as stored: public key and private key wrapped under the master key. */
struct gh_stored_key {
    char kid[33];
    char alg[16];
    char public_key[64];       /* base64url */
    char wrapped_private[256]; /* see data/keywrap.h */
    int64_t created_at;
    int64_t activates_at;
    int64_t retired_at; /* 0: not retired */
    int64_t revoked_at; /* 0: not revoked */
};

GH_MUST_USE gh_err gh_store_keys_list(struct gh_store *s, struct gh_stored_key **out,
                                      size_t *out_n);
GH_MUST_USE gh_err gh_store_key_insert(struct gh_store *s, const struct gh_stored_key *k);
/* Set retired_at / revoked_at (0 leaves the column as it is). Bumps the "keys" counter. */
GH_MUST_USE gh_err gh_store_key_mark(struct gh_store *s, const char *kid, int64_t retired_at,
                                     int64_t revoked_at);
/* Rewrite a key's wrapped private key (master-key rotation). */
GH_MUST_USE gh_err gh_store_key_rewrap(struct gh_store *s, const char *kid, const char *wrapped);

/* Named wrapped working keys. get: GH_ERR_NOT_FOUND when absent. put_if_absent stores text
 * unless a value exists; either way *out (GH_HASH_TEXT_MAX+1 bytes) receives the stored value. */
GH_MUST_USE gh_err gh_store_wrapped_key_get(struct gh_store *s, const char *name,
                                            char out[GH_HASH_TEXT_MAX + 1]);
GH_MUST_USE gh_err gh_store_wrapped_key_put_if_absent(struct gh_store *s, const char *name,
                                                      const char *text, int64_t now,
                                                      char out[GH_HASH_TEXT_MAX + 1]);

/* A failed-login budget (see migration 0002): subject is "u:<user id>" or "d:<device id>". */
struct gh_throttle {
    int64_t failures;     /* consecutive failures since the last lock or success */
    int64_t lock_level;   /* how many locks in this streak: the next lasts base * 2^level */
    int64_t locked_until; /* unix seconds; 0 or past: not locked */
    int64_t updated_at;
};

struct gh_lockout_policy {
    int64_t threshold;    /* failures that lock */
    int64_t base_seconds; /* first lock */
    int64_t max_seconds;  /* cap of the exponential growth */
    int64_t forget_after; /* a streak older than this starts again at level 0 */
};

/* GH_ERR_NOT_FOUND when the subject has no budget row (never failed). */
GH_MUST_USE gh_err gh_store_throttle_get(struct gh_store *s, const char *subject,
                                         struct gh_throttle *out);
/* Count one failure atomically; locks when the threshold is reached. *out_locked_now says this
 * failure started a lock; *out receives the new state. user_id may be NULL (the decoy subject
 * for unknown emails). The row is written in every case, so every failure costs the same. */
GH_MUST_USE gh_err gh_store_throttle_fail(struct gh_store *s, const char *subject,
                                          const char *user_id, int64_t now,
                                          const struct gh_lockout_policy *p,
                                          struct gh_throttle *out, bool *out_locked_now);
/* Forget a subject's budget (after a successful login). */
GH_MUST_USE gh_err gh_store_throttle_clear(struct gh_store *s, const char *subject);
/* Forget every budget of a user (`gatehouse users unlock`); *out_n rows removed. */
GH_MUST_USE gh_err gh_store_throttle_clear_user(struct gh_store *s, const char *user_id,
                                                long *out_n);

/* The revocation epoch: a number every process using this database sees change as soon as any
 * of them commits something that can turn an accepted access token into a refused one (a
 * session revoked, a password change, a refresh-token replay, a key withdrawn or retired).
 * Caches of authentication decisions stamp entries with it and drop them when it moves. For
 * SQLite it lives in a small shared mapping beside the database file ("<db>-epoch"), so it costs
 * one memory load to read. For PostgreSQL it is a counter row bumped with each revocation: the
 * process that committed it sees the change at once, every other one within ~200 ms (the value
 * is cached and re-read at most that often; see store_pg.c). */
uint64_t gh_store_epoch(struct gh_store *s);

/* Master-key rotation: visit every wrapped secret (working keys, user data keys; signing keys
 * go through gh_store_keys_list / gh_store_key_rewrap) and let cb return a replacement
 * (non-zero) or leave it (0). kind is "working-key" (id = name) or "user-dek" (id = user id).
 * Each replacement is written with a compare-and-set on the old text. *out_changed counts
 * them. */
typedef int (*gh_store_rewrap_fn)(const char *kind, const char *id, const char *wrapped,
                                  char *replacement, size_t size, void *ctx);
GH_MUST_USE gh_err gh_store_rewrap_all(struct gh_store *s, gh_store_rewrap_fn cb, void *ctx,
                                       long *out_changed);

/* Change counters that running instances poll ("keys"). */
GH_MUST_USE gh_err gh_store_counter_get(struct gh_store *s, const char *name, int64_t *out);

#endif
