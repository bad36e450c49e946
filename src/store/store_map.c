/* Backend-neutral row mapping (store_map.h): the column order of every store struct, written
 * once for both backends, and the failed-login arithmetic they share. Owns no memory; reads
 * rows only through the backend's column readers, which bound every copy. */
#include <string.h>

#include "store/store_map.h"
#include "core/banned.h"

static void text(const struct gh_store_row *r, int col, char *dst, size_t size)
{
    r->ops->text(r, col, dst, size);
}

static int64_t i64(const struct gh_store_row *r, int col)
{
    return r->ops->i64(r, col);
}

static bool is_null(const struct gh_store_row *r, int col)
{
    return r->ops->is_null(r, col);
}

void gh_store_map_user(const struct gh_store_row *r, struct gh_user *u)
{
    memset(u, 0, sizeof *u);
    text(r, 0, u->id, sizeof u->id);
    text(r, 1, u->email_enc, sizeof u->email_enc);
    text(r, 2, u->email_key, sizeof u->email_key);
    u->has_display_name = !is_null(r, 3);
    text(r, 3, u->display_name_enc, sizeof u->display_name_enc);
    text(r, 4, u->password_hash, sizeof u->password_hash);
    u->created_at = i64(r, 5);
    u->updated_at = i64(r, 6);
    u->last_login_at = i64(r, 7);
    text(r, 8, u->dek_wrapped, sizeof u->dek_wrapped);
    u->admin = i64(r, 9) == 1; /* CHECK (is_admin IN (0, 1)) */
}

void gh_store_map_legacy_user(const struct gh_store_row *r, struct gh_user *u)
{
    text(r, 0, u->id, sizeof u->id);
    text(r, 1, u->email, sizeof u->email);
    text(r, 2, u->email_key, sizeof u->email_key);
    u->has_display_name = !is_null(r, 3);
    text(r, 3, u->display_name, sizeof u->display_name);
}

void gh_store_map_session(const struct gh_store_row *r, struct gh_session *ss)
{
    memset(ss, 0, sizeof *ss);
    text(r, 0, ss->id, sizeof ss->id);
    text(r, 1, ss->user_id, sizeof ss->user_id);
    ss->created_at = i64(r, 2);
    ss->last_used_at = i64(r, 3);
    ss->expires_at = i64(r, 4);
    ss->revoked_at = i64(r, 5);
}

void gh_store_map_access(const struct gh_store_row *r, struct gh_session *ss,
                         struct gh_user *out_user, bool *out_key_revoked)
{
    gh_store_map_session(r, ss);
    *out_key_revoked = !is_null(r, 6);
    if (!out_user)
        return;
    memset(out_user, 0, sizeof *out_user);
    memcpy(out_user->id, ss->user_id, sizeof out_user->id);
    text(r, 7, out_user->email_enc, sizeof out_user->email_enc);
    text(r, 8, out_user->email_key, sizeof out_user->email_key);
    out_user->has_display_name = !is_null(r, 9);
    text(r, 9, out_user->display_name_enc, sizeof out_user->display_name_enc);
    out_user->created_at = i64(r, 10);
    out_user->updated_at = i64(r, 11);
    out_user->last_login_at = i64(r, 12);
    text(r, 13, out_user->dek_wrapped, sizeof out_user->dek_wrapped);
}

void gh_store_map_key(const struct gh_store_row *r, struct gh_stored_key *k)
{
    memset(k, 0, sizeof *k);
    text(r, 0, k->kid, sizeof k->kid);
    text(r, 1, k->alg, sizeof k->alg);
    text(r, 2, k->public_key, sizeof k->public_key);
    text(r, 3, k->wrapped_private, sizeof k->wrapped_private);
    k->created_at = i64(r, 4);
    k->activates_at = i64(r, 5);
    k->retired_at = i64(r, 6);
    k->revoked_at = i64(r, 7);
}

void gh_store_map_throttle(const struct gh_store_row *r, struct gh_throttle *t)
{
    t->failures = i64(r, 0);
    t->lock_level = i64(r, 1);
    t->locked_until = i64(r, 2);
    t->updated_at = i64(r, 3);
}

void gh_store_map_audit_row(const struct gh_store_row *r, struct gh_audit_row *row)
{
    const struct gh_store_row_ops *o = r->ops;
    bool ok = o->int_exact(r, 0, &row->seq);
    ok &= o->int_exact(r, 1, &row->ts);
    ok &= o->text_exact(r, 2, row->action, sizeof row->action);
    ok &= o->text_exact(r, 3, row->actor, sizeof row->actor);
    ok &= o->text_exact(r, 4, row->target, sizeof row->target);
    ok &= o->text_exact(r, 5, row->outcome, sizeof row->outcome);
    ok &= o->text_exact(r, 6, row->request_id, sizeof row->request_id);
    ok &= o->text_exact(r, 7, row->client, sizeof row->client);
    ok &= o->text_exact(r, 8, row->prev_hash, sizeof row->prev_hash);
    ok &= o->text_exact(r, 9, row->hash, sizeof row->hash);
    row->malformed = !ok;
}

void gh_store_map_audit_mark(const struct gh_store_row *r, struct gh_audit_mark *m)
{
    const struct gh_store_row_ops *o = r->ops;
    bool ok = o->int_exact(r, 0, &m->seq);
    ok &= o->text_exact(r, 1, m->hash, sizeof m->hash);
    ok &= o->text_exact(r, 2, m->sig, sizeof m->sig);
    ok &= o->int_exact(r, 3, &m->created_at);
    m->malformed = !ok;
}

bool gh_store_throttle_count_failure(struct gh_throttle *t, int64_t now,
                                     const struct gh_lockout_policy *p)
{
    bool locked_now = false;
    if (t->updated_at && now - t->updated_at > p->forget_after)
        t->lock_level = 0;
    /* Attempts during a lock are refused upstream and not counted (nobody can stretch a lock by
     * hammering it), but the row is still written: every failed login costs the same. */
    if (t->locked_until <= now)
        t->failures++;
    if (t->locked_until <= now && t->failures >= p->threshold) {
        int64_t d = p->base_seconds;
        for (int64_t i = 0; i < t->lock_level && d < p->max_seconds; i++)
            d *= 2;
        if (d > p->max_seconds)
            d = p->max_seconds;
        t->locked_until = now + d;
        t->lock_level++;
        t->failures = 0;
        locked_now = true;
    }
    t->updated_at = now;
    return locked_now;
}
