/* The public store functions (store.h, store_audit.h, store_maintenance.h): choose a backend by
 * the URL's scheme, then dispatch every call through the backend's ops table. Owns no data of
 * its own; the URL is a secret and is never logged here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_audit.h"
#include "store/store_backend.h"
#include "store/store_maintenance.h"
#include "core/banned.h"

gh_err gh_store_open(const char *url, struct gh_store **out)
{
    *out = NULL;
    if (!url)
        return GH_ERR_CONFIG;
    if (strncmp(url, "sqlite:", 7) == 0)
        return gh_sqlite_open(url + 7, out);
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return gh_pg_open(url, out);
    return GH_ERR_CONFIG;
}

/* Set on a hashing thread while it runs SCHED_IDLE work (api/common.c). */
static _Thread_local bool thread_forbidden;

void gh_store_thread_forbid(bool on)
{
    thread_forbidden = on;
}

bool gh_store_thread_forbidden(void)
{
    return thread_forbidden;
}

void gh_store_thread_check(const char *what)
{
    if (!thread_forbidden)
        return;
#ifndef NDEBUG
    /* A programming error, caught by the tests (debug builds): abort where it happened. */
    fprintf(stderr, "gatehouse: storage used from a hashing thread (%s)\n", what);
    abort();
#else
    (void)what;
#endif
}

void gh_store_free(struct gh_store *s)
{
    if (s)
        s->ops->free(s);
}

bool gh_session_is_active(const struct gh_session *ss, int64_t now, int64_t idle_timeout)
{
    return ss->revoked_at == 0 && now < ss->expires_at && now < ss->last_used_at + idle_timeout;
}

gh_err gh_store_migrate(struct gh_store *s, int *out_applied)
{
    return s->ops->migrate(s, out_applied);
}

gh_err gh_store_schema_version(struct gh_store *s, int *out)
{
    return s->ops->schema_version(s, out);
}

gh_err gh_store_ping(struct gh_store *s)
{
    return s->ops->ping(s);
}

gh_err gh_store_user_insert(struct gh_store *s, const struct gh_user *u)
{
    return s->ops->user_insert(s, u);
}

gh_err gh_store_users_insert_all(struct gh_store *s, const struct gh_user *users, size_t n,
                                 size_t *out_failed)
{
    return s->ops->users_insert_all(s, users, n, out_failed);
}

gh_err gh_store_users_legacy(struct gh_store *s, size_t max, struct gh_user **out, size_t *out_n)
{
    return s->ops->users_legacy(s, max, out, out_n);
}

gh_err gh_store_user_seal_legacy(struct gh_store *s, const struct gh_user *u)
{
    return s->ops->user_seal_legacy(s, u);
}

gh_err gh_store_user_erase(struct gh_store *s, const char *user_id, int64_t now)
{
    return s->ops->user_erase(s, user_id, now);
}

gh_err gh_store_integrity_ok(struct gh_store *s)
{
    return s->ops->integrity_ok(s);
}

gh_err gh_store_user_purge(struct gh_store *s, const char *user_id)
{
    return s->ops->user_purge(s, user_id);
}

gh_err gh_store_snapshot(struct gh_store *s, const char *path)
{
    return s->ops->snapshot(s, path);
}

/* Backups of a PostgreSQL store run client programs (store_pg_backup.c); SQLite's go through
 * gh_store_snapshot. Not in the ops table: no other backend has them. */
static bool is_pg(const struct gh_store *s)
{
    return strcmp(s->ops->name, "postgresql") == 0;
}

gh_err gh_store_dump(struct gh_store *s,
                     gh_err (*sink)(const unsigned char *buf, size_t n, void *ctx), void *ctx,
                     struct gh_store_dump_info *out, char why[GH_STORE_WHY_MAX])
{
    if (!is_pg(s)) {
        snprintf(why, GH_STORE_WHY_MAX, "only PostgreSQL stores are dumped");
        return GH_ERR_CONFIG;
    }
    return gh_pg_backup_dump(s, sink, ctx, out, why);
}

gh_err gh_store_dump_restore(struct gh_store *s, int dump_fd, const struct gh_store_dump_info *info,
                             int schema_version, long *out_reerased, char why[GH_STORE_WHY_MAX])
{
    if (!is_pg(s)) {
        snprintf(why, GH_STORE_WHY_MAX, "only PostgreSQL stores restore a dump");
        return GH_ERR_CONFIG;
    }
    return gh_pg_backup_restore(s, dump_fd, info, schema_version, out_reerased, why);
}

const char *gh_store_path(struct gh_store *s)
{
    return s->ops->path(s);
}

gh_err gh_store_checkpoint(struct gh_store *s)
{
    return s->ops->checkpoint(s);
}

gh_err gh_store_users_each(struct gh_store *s, gh_err (*cb)(struct gh_user *u, void *ctx),
                           void *ctx)
{
    return s->ops->users_each(s, cb, ctx);
}

gh_err gh_store_user_get(struct gh_store *s, const char *id, struct gh_user *out)
{
    return s->ops->user_get(s, id, out);
}

gh_err gh_store_user_find_by_email_key(struct gh_store *s, const char *email_key,
                                       struct gh_user *out)
{
    return s->ops->user_find_by_email_key(s, email_key, out);
}

gh_err gh_store_user_set_password(struct gh_store *s, const char *user_id, const char *hash,
                                  int64_t now, bool revoke_other_sessions,
                                  const char *keep_session_id)
{
    return s->ops->user_set_password(s, user_id, hash, now, revoke_other_sessions, keep_session_id);
}

gh_err gh_store_user_set_admin(struct gh_store *s, const char *user_id, bool admin)
{
    return s->ops->user_set_admin(s, user_id, admin);
}

gh_err gh_store_user_sessions_revoke(struct gh_store *s, const char *user_id, const char *reason,
                                     int64_t now, long *out_n)
{
    return s->ops->user_sessions_revoke(s, user_id, reason, now, out_n);
}

gh_err gh_store_session_create(struct gh_store *s, const struct gh_session *ss,
                               const char *refresh_hash, const char *new_password_hash)
{
    return s->ops->session_create(s, ss, refresh_hash, new_password_hash);
}

gh_err gh_store_refresh_rotate(struct gh_store *s, const char *old_hash, const char *new_hash,
                               int64_t now, int64_t idle_timeout, enum gh_rotate_result *out,
                               struct gh_session *out_session)
{
    return s->ops->refresh_rotate(s, old_hash, new_hash, now, idle_timeout, out, out_session);
}

gh_err gh_store_session_get(struct gh_store *s, const char *id, struct gh_session *out)
{
    return s->ops->session_get(s, id, out);
}

gh_err gh_store_session_revoke(struct gh_store *s, const char *id, const char *user_id,
                               const char *reason, int64_t now)
{
    return s->ops->session_revoke(s, id, user_id, reason, now);
}

gh_err gh_store_session_by_refresh(struct gh_store *s, const char *refresh_hash,
                                   struct gh_session *out)
{
    return s->ops->session_by_refresh(s, refresh_hash, out);
}

gh_err gh_store_sessions_list(struct gh_store *s, const char *user_id, int64_t now,
                              int64_t idle_timeout, size_t max, struct gh_session **out,
                              size_t *out_n)
{
    return s->ops->sessions_list(s, user_id, now, idle_timeout, max, out, out_n);
}

gh_err gh_store_sessions_all(struct gh_store *s, const char *user_id, size_t max,
                             struct gh_session **out, size_t *out_n)
{
    return s->ops->sessions_all(s, user_id, max, out, out_n);
}

gh_err gh_store_sessions_revoke_all(struct gh_store *s, const char *reason, int64_t now,
                                    long *out_n)
{
    return s->ops->sessions_revoke_all(s, reason, now, out_n);
}

gh_err gh_store_access_check(struct gh_store *s, const char *sid, const char *kid,
                             struct gh_session *out, struct gh_user *out_user,
                             bool *out_key_revoked)
{
    return s->ops->access_check(s, sid, kid, out, out_user, out_key_revoked);
}

gh_err gh_store_keys_list(struct gh_store *s, struct gh_stored_key **out, size_t *out_n)
{
    return s->ops->keys_list(s, out, out_n);
}

gh_err gh_store_key_insert(struct gh_store *s, const struct gh_stored_key *k)
{
    return s->ops->key_insert(s, k);
}

gh_err gh_store_key_mark(struct gh_store *s, const char *kid, int64_t retired_at,
                         int64_t revoked_at)
{
    return s->ops->key_mark(s, kid, retired_at, revoked_at);
}

gh_err gh_store_key_rewrap(struct gh_store *s, const char *kid, const char *wrapped)
{
    return s->ops->key_rewrap(s, kid, wrapped);
}

gh_err gh_store_wrapped_key_get(struct gh_store *s, const char *name,
                                char out[GH_HASH_TEXT_MAX + 1])
{
    return s->ops->wrapped_key_get(s, name, out);
}

gh_err gh_store_wrapped_key_put_if_absent(struct gh_store *s, const char *name, const char *text,
                                          int64_t now, char out[GH_HASH_TEXT_MAX + 1])
{
    return s->ops->wrapped_key_put_if_absent(s, name, text, now, out);
}

gh_err gh_store_throttle_get(struct gh_store *s, const char *subject, struct gh_throttle *out)
{
    return s->ops->throttle_get(s, subject, out);
}

gh_err gh_store_throttle_fail(struct gh_store *s, const char *subject, const char *user_id,
                              int64_t now, const struct gh_lockout_policy *p,
                              struct gh_throttle *out, bool *out_locked_now)
{
    return s->ops->throttle_fail(s, subject, user_id, now, p, out, out_locked_now);
}

gh_err gh_store_throttle_clear(struct gh_store *s, const char *subject)
{
    return s->ops->throttle_clear(s, subject);
}

gh_err gh_store_throttle_clear_user(struct gh_store *s, const char *user_id, long *out_n)
{
    return s->ops->throttle_clear_user(s, user_id, out_n);
}

uint64_t gh_store_epoch(struct gh_store *s)
{
    return s->ops->epoch(s);
}

gh_err gh_store_rewrap_all(struct gh_store *s, gh_store_rewrap_fn cb, void *ctx, long *out_changed)
{
    return s->ops->rewrap_all(s, cb, ctx, out_changed);
}

gh_err gh_store_counter_get(struct gh_store *s, const char *name, int64_t *out)
{
    return s->ops->counter_get(s, name, out);
}

gh_err gh_store_audit_append(struct gh_store *s, struct gh_audit_row *row, gh_audit_seal_fn seal,
                             void *ctx)
{
    return s->ops->audit_append(s, row, seal, ctx);
}

gh_err gh_store_audit_tail(struct gh_store *s, int64_t *out_seq,
                           char out_hash[GH_AUDIT_HASH_HEX + 1])
{
    return s->ops->audit_tail(s, out_seq, out_hash);
}

gh_err gh_store_audit_last_checkpoint(struct gh_store *s, int64_t *out_seq)
{
    return s->ops->audit_last_checkpoint(s, out_seq);
}

gh_err gh_store_audit_checkpoint_insert(struct gh_store *s, const struct gh_audit_mark *cp)
{
    return s->ops->audit_checkpoint_insert(s, cp);
}

gh_err gh_store_audit_read(struct gh_store *s, const struct gh_audit_reader *r)
{
    return s->ops->audit_read(s, r);
}

gh_err gh_store_audit_read_user(struct gh_store *s, const char *user_id,
                                gh_err (*row)(void *ctx, const struct gh_audit_row *r), void *ctx)
{
    if (!user_id || !row)
        return GH_ERR_INVALID;
    return s->ops->audit_read_user(s, user_id, row, ctx);
}

gh_err gh_store_audit_first_seq_at_or_after(struct gh_store *s, int64_t ts, int64_t *out_seq)
{
    return s->ops->audit_first_seq_at_or_after(s, ts, out_seq);
}

gh_err gh_store_audit_prune_before(struct gh_store *s, int64_t seq, int64_t now,
                                   gh_audit_sign_fn sign, void *ctx, int64_t *out_deleted)
{
    return s->ops->audit_prune_before(s, seq, now, sign, ctx, out_deleted);
}
