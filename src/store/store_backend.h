/* The backend interface behind store.h: one table of operations per backend (SQLite, PostgreSQL)
 * and the header every backend's store begins with. store.c dispatches every public function
 * through s->ops; nothing outside src/store/ may include this. */
#ifndef GH_STORE_STORE_BACKEND_H
#define GH_STORE_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "store/store_audit.h"
#include "store/store_maintenance.h"

/* One pointer per operation of store.h, store_audit.h and store_maintenance.h, with the same
 * contract as the public function of the same name. Every pointer is set. */
struct gh_store_ops {
    const char *name; /* "sqlite", "postgresql" */
    void (*free)(struct gh_store *s);
    gh_err (*migrate)(struct gh_store *s, int *out_applied);
    gh_err (*schema_version)(struct gh_store *s, int *out);
    gh_err (*ping)(struct gh_store *s);

    gh_err (*user_insert)(struct gh_store *s, const struct gh_user *u);
    gh_err (*users_insert_all)(struct gh_store *s, const struct gh_user *users, size_t n,
                               size_t *out_failed);
    gh_err (*users_legacy)(struct gh_store *s, size_t max, struct gh_user **out, size_t *out_n);
    gh_err (*user_seal_legacy)(struct gh_store *s, const struct gh_user *u);
    gh_err (*user_erase)(struct gh_store *s, const char *user_id, int64_t now);
    gh_err (*integrity_ok)(struct gh_store *s);
    gh_err (*user_purge)(struct gh_store *s, const char *user_id);
    gh_err (*snapshot)(struct gh_store *s, const char *path);
    const char *(*path)(struct gh_store *s);
    gh_err (*checkpoint)(struct gh_store *s);
    gh_err (*users_each)(struct gh_store *s, gh_err (*cb)(struct gh_user *u, void *ctx), void *ctx);
    gh_err (*user_get)(struct gh_store *s, const char *id, struct gh_user *out);
    gh_err (*user_find_by_email_key)(struct gh_store *s, const char *email_key,
                                     struct gh_user *out);
    gh_err (*user_set_password)(struct gh_store *s, const char *user_id, const char *hash,
                                int64_t now, bool revoke_other_sessions,
                                const char *keep_session_id);
    gh_err (*user_set_admin)(struct gh_store *s, const char *user_id, bool admin);
    gh_err (*user_sessions_revoke)(struct gh_store *s, const char *user_id, const char *reason,
                                   int64_t now, long *out_n);

    gh_err (*session_create)(struct gh_store *s, const struct gh_session *ss,
                             const char *refresh_hash, const char *new_password_hash);
    gh_err (*refresh_rotate)(struct gh_store *s, const char *old_hash, const char *new_hash,
                             int64_t now, int64_t idle_timeout, enum gh_rotate_result *out,
                             struct gh_session *out_session);
    gh_err (*session_get)(struct gh_store *s, const char *id, struct gh_session *out);
    gh_err (*session_revoke)(struct gh_store *s, const char *id, const char *user_id,
                             const char *reason, int64_t now);
    gh_err (*session_by_refresh)(struct gh_store *s, const char *refresh_hash,
                                 struct gh_session *out);
    gh_err (*sessions_list)(struct gh_store *s, const char *user_id, int64_t now,
                            int64_t idle_timeout, size_t max, struct gh_session **out,
                            size_t *out_n);
    gh_err (*sessions_all)(struct gh_store *s, const char *user_id, size_t max,
                           struct gh_session **out, size_t *out_n);
    gh_err (*sessions_revoke_all)(struct gh_store *s, const char *reason, int64_t now, long *out_n);
    gh_err (*access_check)(struct gh_store *s, const char *sid, const char *kid,
                           struct gh_session *out, struct gh_user *out_user, bool *out_key_revoked);

    gh_err (*keys_list)(struct gh_store *s, struct gh_stored_key **out, size_t *out_n);
    gh_err (*key_insert)(struct gh_store *s, const struct gh_stored_key *k);
    gh_err (*key_mark)(struct gh_store *s, const char *kid, int64_t retired_at, int64_t revoked_at);
    gh_err (*key_rewrap)(struct gh_store *s, const char *kid, const char *wrapped);
    gh_err (*wrapped_key_get)(struct gh_store *s, const char *name, char out[GH_HASH_TEXT_MAX + 1]);
    gh_err (*wrapped_key_put_if_absent)(struct gh_store *s, const char *name, const char *text,
                                        int64_t now, char out[GH_HASH_TEXT_MAX + 1]);

    gh_err (*throttle_get)(struct gh_store *s, const char *subject, struct gh_throttle *out);
    gh_err (*throttle_fail)(struct gh_store *s, const char *subject, const char *user_id,
                            int64_t now, const struct gh_lockout_policy *p, struct gh_throttle *out,
                            bool *out_locked_now);
    gh_err (*throttle_clear)(struct gh_store *s, const char *subject);
    gh_err (*throttle_clear_user)(struct gh_store *s, const char *user_id, long *out_n);

    uint64_t (*epoch)(struct gh_store *s);
    gh_err (*rewrap_all)(struct gh_store *s, gh_store_rewrap_fn cb, void *ctx, long *out_changed);
    gh_err (*counter_get)(struct gh_store *s, const char *name, int64_t *out);

    /* store_audit.h */
    gh_err (*audit_append)(struct gh_store *s, struct gh_audit_row *row, gh_audit_seal_fn seal,
                           void *ctx);
    gh_err (*audit_tail)(struct gh_store *s, int64_t *out_seq,
                         char out_hash[GH_AUDIT_HASH_HEX + 1]);
    gh_err (*audit_last_checkpoint)(struct gh_store *s, int64_t *out_seq);
    gh_err (*audit_checkpoint_insert)(struct gh_store *s, const struct gh_audit_mark *cp);
    gh_err (*audit_read)(struct gh_store *s, const struct gh_audit_reader *r);
    gh_err (*audit_read_user)(struct gh_store *s, const char *user_id,
                              gh_err (*row)(void *ctx, const struct gh_audit_row *r), void *ctx);

    /* store_maintenance.h */
    gh_err (*audit_first_seq_at_or_after)(struct gh_store *s, int64_t ts, int64_t *out_seq);
    gh_err (*audit_prune_before)(struct gh_store *s, int64_t seq, int64_t now,
                                 gh_audit_sign_fn sign, void *ctx, int64_t *out_deleted);
};

/* The first member of every backend's store: store.c sees only this. */
struct gh_store {
    const struct gh_store_ops *ops;
};

/* Backend constructors, called by gh_store_open after it has looked at the URL's scheme.
 * sqlite: path is what follows "sqlite:". pg: url is the whole libpq URI (a secret: never
 * logged). Both set (*out)->ops. */
GH_MUST_USE gh_err gh_sqlite_open(const char *path, struct gh_store **out);
GH_MUST_USE gh_err gh_pg_open(const char *url, struct gh_store **out);

/* store_pg_backup.c: gh_store_dump and gh_store_dump_restore for a PostgreSQL store (store.c
 * calls them only when s->ops is PostgreSQL's). */
GH_MUST_USE gh_err gh_pg_backup_dump(struct gh_store *s,
                                     gh_err (*sink)(const unsigned char *buf, size_t n, void *ctx),
                                     void *ctx, struct gh_store_dump_info *out,
                                     char why[GH_STORE_WHY_MAX]);
GH_MUST_USE gh_err gh_pg_backup_restore(struct gh_store *s, int dump_fd,
                                        const struct gh_store_dump_info *info, int schema_version,
                                        long *out_reerased, char why[GH_STORE_WHY_MAX]);

#endif
