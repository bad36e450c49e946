/* The SQLite backend of store_audit.h and store_maintenance.h: the audit_events chain, its
 * checkpoints and its anchor. Rows are only inserted (the migration's trigger refuses UPDATE);
 * the one DELETE is the maintenance prune. Reads report any stored value that is not exactly a
 * well-formed field (wrong type, too long, NUL inside) instead of silently truncating it. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "store/sqlite_internal.h"
#include "store/store_audit.h"
#include "store/store_maintenance.h"
#include "core/banned.h"

/* Literal SQL, cached by address by gh_sqlite_prepare. */
static const char SQL_TAIL[] = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";
static const char SQL_ANCHOR[] = "SELECT seq, hash, sig, created_at FROM audit_anchor WHERE id = 1";
static const char SQL_INSERT[] =
    "INSERT INTO audit_events(seq, ts, action, actor, target, outcome, request_id, client, "
    "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char SQL_ROWS[] = "SELECT seq, ts, action, actor, target, outcome, request_id, "
                               "client, prev_hash, hash FROM audit_events ORDER BY seq";
/* A user's rows: each arm uses its own index (0007), the union is ordered by seq. */
static const char SQL_ROWS_USER[] =
    "SELECT seq, ts, action, actor, target, outcome, request_id, client, prev_hash, hash "
    "FROM audit_events WHERE actor = ?1 UNION "
    "SELECT seq, ts, action, actor, target, outcome, request_id, client, prev_hash, hash "
    "FROM audit_events WHERE target = ?1 ORDER BY seq";
static const char SQL_CPS[] =
    "SELECT seq, hash, sig, created_at FROM audit_checkpoints ORDER BY seq";
static const char SQL_CP_LAST[] = "SELECT coalesce(max(seq), 0) FROM audit_checkpoints";
static const char SQL_CP_INSERT[] = "INSERT INTO audit_checkpoints(seq, hash, sig, created_at) "
                                    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(seq) DO NOTHING";
static const char SQL_READ_BEGIN[] = "BEGIN DEFERRED";
static const char SQL_ROW_HASH[] = "SELECT hash FROM audit_events WHERE seq = ?1";
static const char SQL_FIRST_AT[] =
    "SELECT seq FROM audit_events WHERE ts >= ?1 ORDER BY seq LIMIT 1";
static const char SQL_PRUNE_ROWS[] = "DELETE FROM audit_events WHERE seq < ?1";
static const char SQL_PRUNE_CPS[] = "DELETE FROM audit_checkpoints WHERE seq < ?1";
static const char SQL_ANCHOR_PUT[] =
    "INSERT INTO audit_anchor(id, seq, hash, sig, created_at) VALUES (1, ?1, ?2, ?3, ?4) "
    "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
    "sig = excluded.sig, created_at = excluded.created_at";

static const char ZERO_HASH[GH_AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static void read_row(sqlite3_stmt *st, struct gh_audit_row *r)
{
    struct gh_sqlite_row row = gh_sqlite_row_of(st);
    gh_store_map_audit_row(&row.base, r);
}

/* seq, hash, sig, created_at */
static void read_mark(sqlite3_stmt *st, struct gh_audit_mark *m)
{
    struct gh_sqlite_row row = gh_sqlite_row_of(st);
    gh_store_map_audit_mark(&row.base, m);
}

/* The anchor; GH_ERR_NOT_FOUND when there is none. */
static gh_err anchor_on(struct conn *c, struct gh_audit_mark *out)
{
    memset(out, 0, sizeof *out); /* defined even on paths the callers never read it */
    sqlite3_stmt *st = gh_sqlite_prepare(c, SQL_ANCHOR);
    if (!st)
        return GH_ERR_STORE;
    int r = sqlite3_step(st);
    gh_err rc = GH_ERR_NOT_FOUND;
    if (r == SQLITE_ROW) {
        read_mark(st, out);
        rc = GH_OK;
    } else if (r != SQLITE_DONE) {
        gh_sqlite_log(c->db, r, "audit anchor get");
        rc = gh_sqlite_map_rc(r);
    }
    sqlite3_reset(st);
    return rc;
}

static gh_err tail_on(struct conn *c, int64_t *out_seq, char out_hash[GH_AUDIT_HASH_HEX + 1])
{
    sqlite3_stmt *st = gh_sqlite_prepare(c, SQL_TAIL);
    if (!st)
        return GH_ERR_STORE;
    int r = sqlite3_step(st);
    gh_err rc = GH_OK;
    if (r == SQLITE_ROW) {
        *out_seq = sqlite3_column_int64(st, 0);
        gh_sqlite_copy_col(st, 1, out_hash, GH_AUDIT_HASH_HEX + 1);
    } else if (r != SQLITE_DONE) {
        gh_sqlite_log(c->db, r, "audit tail");
        rc = gh_sqlite_map_rc(r);
    }
    sqlite3_reset(st);
    if (rc != GH_OK || r == SQLITE_ROW)
        return rc;
    struct gh_audit_mark a;
    rc = anchor_on(c, &a);
    if (rc == GH_OK) {
        *out_seq = a.seq;
        memcpy(out_hash, a.hash, sizeof a.hash);
    } else if (rc == GH_ERR_NOT_FOUND) {
        *out_seq = 0;
        memcpy(out_hash, ZERO_HASH, sizeof ZERO_HASH);
        rc = GH_OK;
    }
    return rc;
}

/* A deferred transaction: reads see one snapshot and take no write lock. */
static gh_err read_begin(struct conn *c)
{
    sqlite3_stmt *st = gh_sqlite_prepare(c, SQL_READ_BEGIN);
    return st ? gh_sqlite_exec(c, st, "audit read begin") : GH_ERR_STORE;
}

gh_err gh_sqlite_audit_append(struct gh_store *s, struct gh_audit_row *row, gh_audit_seal_fn seal,
                              void *ctx)
{
    struct conn *c = gh_sqlite_acquire(s);
    sqlite3_stmt *st;
    int64_t seq = 0;
    gh_err rc;
    /* BEGIN IMMEDIATE takes the write lock first, so concurrent appenders (threads or other
     * processes) are serialised and each sees the tail the previous one left. */
    if ((rc = gh_sqlite_begin(c)) != GH_OK)
        goto out;
    if ((rc = tail_on(c, &seq, row->prev_hash)) != GH_OK)
        goto out;
    row->seq = seq + 1;
    if ((rc = seal(ctx, row)) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = gh_sqlite_prepare(c, SQL_INSERT)))
        goto out;
    sqlite3_bind_int64(st, 1, row->seq);
    sqlite3_bind_int64(st, 2, row->ts);
    gh_sqlite_bind_text(st, 3, row->action);
    gh_sqlite_bind_text(st, 4, row->actor);
    gh_sqlite_bind_text(st, 5, row->target);
    gh_sqlite_bind_text(st, 6, row->outcome);
    gh_sqlite_bind_text(st, 7, row->request_id);
    gh_sqlite_bind_text(st, 8, row->client);
    gh_sqlite_bind_text(st, 9, row->prev_hash);
    gh_sqlite_bind_text(st, 10, row->hash);
    if ((rc = gh_sqlite_exec(c, st, "audit append")) != GH_OK)
        goto out;
    rc = gh_sqlite_commit(c);
out:
    if (rc != GH_OK)
        gh_sqlite_rollback(c);
    gh_sqlite_release(s, c);
    return rc;
}

gh_err gh_sqlite_audit_tail(struct gh_store *s, int64_t *out_seq,
                            char out_hash[GH_AUDIT_HASH_HEX + 1])
{
    struct conn *c = gh_sqlite_acquire(s);
    gh_err rc;
    /* Two statements (row, then anchor) must see the same state: a prune may run between. */
    if ((rc = read_begin(c)) != GH_OK)
        goto out;
    if ((rc = tail_on(c, out_seq, out_hash)) != GH_OK)
        goto out;
    rc = gh_sqlite_commit(c);
out:
    if (rc != GH_OK)
        gh_sqlite_rollback(c);
    gh_sqlite_release(s, c);
    return rc;
}

gh_err gh_sqlite_audit_last_checkpoint(struct gh_store *s, int64_t *out_seq)
{
    struct conn *c = gh_sqlite_acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = gh_sqlite_prepare(c, SQL_CP_LAST);
    if (st) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            *out_seq = sqlite3_column_int64(st, 0);
            rc = GH_OK;
        } else {
            gh_sqlite_log(c->db, r, "audit last checkpoint");
            rc = gh_sqlite_map_rc(r);
            if (rc == GH_OK)
                rc = GH_ERR_STORE;
        }
        sqlite3_reset(st);
    }
    gh_sqlite_release(s, c);
    return rc;
}

gh_err gh_sqlite_audit_checkpoint_insert(struct gh_store *s, const struct gh_audit_mark *cp)
{
    struct conn *c = gh_sqlite_acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = gh_sqlite_prepare(c, SQL_CP_INSERT);
    if (st) {
        sqlite3_bind_int64(st, 1, cp->seq);
        gh_sqlite_bind_text(st, 2, cp->hash);
        gh_sqlite_bind_text(st, 3, cp->sig);
        sqlite3_bind_int64(st, 4, cp->created_at);
        rc = gh_sqlite_exec(c, st, "audit checkpoint insert");
    }
    gh_sqlite_release(s, c);
    return rc;
}

/* Step every row of a prepared query, handing each to fn. */
static gh_err each_mark(struct conn *c, sqlite3_stmt *st, const struct gh_audit_reader *r)
{
    gh_err rc = GH_OK;
    int sr;
    while ((sr = sqlite3_step(st)) == SQLITE_ROW) {
        struct gh_audit_mark m;
        read_mark(st, &m);
        if (r->checkpoint && (rc = r->checkpoint(r->ctx, &m)) != GH_OK)
            break;
    }
    if (rc == GH_OK && sr != SQLITE_DONE) {
        gh_sqlite_log(c->db, sr, "audit checkpoints read");
        rc = gh_sqlite_map_rc(sr);
        if (rc == GH_OK)
            rc = GH_ERR_STORE;
    }
    sqlite3_reset(st);
    return rc;
}

static gh_err each_row(struct conn *c, sqlite3_stmt *st, const struct gh_audit_reader *r)
{
    gh_err rc = GH_OK;
    int sr;
    while ((sr = sqlite3_step(st)) == SQLITE_ROW) {
        struct gh_audit_row row;
        read_row(st, &row);
        if (r->row && (rc = r->row(r->ctx, &row)) != GH_OK)
            break;
    }
    if (rc == GH_OK && sr != SQLITE_DONE) {
        gh_sqlite_log(c->db, sr, "audit rows read");
        rc = gh_sqlite_map_rc(sr);
        if (rc == GH_OK)
            rc = GH_ERR_STORE;
    }
    sqlite3_reset(st);
    return rc;
}

gh_err gh_sqlite_audit_read(struct gh_store *s, const struct gh_audit_reader *r)
{
    struct conn *c = gh_sqlite_acquire(s);
    struct gh_audit_mark a;
    sqlite3_stmt *st;
    gh_err rc;
    /* A deferred (read) transaction: one WAL snapshot for all three reads, without holding the
     * write lock, so appends continue while an export streams. */
    if ((rc = read_begin(c)) != GH_OK)
        goto out;
    rc = anchor_on(c, &a);
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND)
        goto out;
    if (r->anchor && (rc = r->anchor(r->ctx, rc == GH_OK ? &a : NULL)) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = gh_sqlite_prepare(c, SQL_CPS)))
        goto out;
    if ((rc = each_mark(c, st, r)) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = gh_sqlite_prepare(c, SQL_ROWS)))
        goto out;
    if ((rc = each_row(c, st, r)) != GH_OK)
        goto out;
    rc = gh_sqlite_commit(c);
out:
    if (rc != GH_OK)
        gh_sqlite_rollback(c);
    gh_sqlite_release(s, c);
    return rc;
}

gh_err gh_sqlite_audit_read_user(struct gh_store *s, const char *user_id,
                                 gh_err (*fn)(void *ctx, const struct gh_audit_row *r), void *ctx)
{
    struct conn *c = gh_sqlite_acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = gh_sqlite_prepare(c, SQL_ROWS_USER);
    if (st) {
        struct gh_audit_reader r = {.row = fn, .ctx = ctx};
        gh_sqlite_bind_text(st, 1, user_id);
        rc = each_row(c, st, &r);
    }
    gh_sqlite_release(s, c);
    return rc;
}

/* ---- store_maintenance.h ---- */

gh_err gh_sqlite_audit_first_seq_at_or_after(struct gh_store *s, int64_t ts, int64_t *out_seq)
{
    struct conn *c = gh_sqlite_acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = gh_sqlite_prepare(c, SQL_FIRST_AT);
    if (st) {
        sqlite3_bind_int64(st, 1, ts);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW || r == SQLITE_DONE) {
            *out_seq = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
            rc = GH_OK;
        } else {
            gh_sqlite_log(c->db, r, "audit first seq");
            rc = gh_sqlite_map_rc(r);
            if (rc == GH_OK)
                rc = GH_ERR_STORE;
        }
        sqlite3_reset(st);
    }
    gh_sqlite_release(s, c);
    return rc;
}

gh_err gh_sqlite_audit_prune_before(struct gh_store *s, int64_t seq, int64_t now,
                                    gh_audit_sign_fn sign, void *ctx, int64_t *out_deleted)
{
    struct conn *c = gh_sqlite_acquire(s);
    struct gh_audit_mark a, old;
    sqlite3_stmt *st;
    int64_t deleted = 0;
    gh_err rc;
    int r;
    memset(&a, 0, sizeof a);
    if ((rc = gh_sqlite_begin(c)) != GH_OK)
        goto out;
    rc = anchor_on(c, &old);
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND)
        goto out;
    if (seq < 2 || (rc == GH_OK && seq - 1 <= old.seq)) {
        rc = gh_sqlite_commit(c); /* nothing before seq 1, or already pruned that far */
        goto out;
    }
    rc = GH_ERR_STORE;
    if (!(st = gh_sqlite_prepare(c, SQL_ROW_HASH)))
        goto out;
    a.seq = seq - 1;
    a.created_at = now;
    sqlite3_bind_int64(st, 1, a.seq);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        struct gh_sqlite_row row = gh_sqlite_row_of(st);
        bool ok = row.base.ops->text_exact(&row.base, 0, a.hash, sizeof a.hash);
        rc = ok ? GH_OK : GH_ERR_INVALID;
    } else {
        rc = r == SQLITE_DONE ? GH_ERR_INVALID : gh_sqlite_map_rc(r);
        if (r != SQLITE_DONE)
            gh_sqlite_log(c->db, r, "audit prune anchor row");
    }
    sqlite3_reset(st);
    if (rc != GH_OK)
        goto out;
    if ((rc = sign(ctx, a.seq, a.hash, a.sig)) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = gh_sqlite_prepare(c, SQL_PRUNE_ROWS)))
        goto out;
    sqlite3_bind_int64(st, 1, seq);
    if ((rc = gh_sqlite_exec(c, st, "audit prune rows")) != GH_OK)
        goto out;
    deleted = sqlite3_changes64(c->db);
    rc = GH_ERR_STORE;
    if (!(st = gh_sqlite_prepare(c, SQL_PRUNE_CPS)))
        goto out;
    sqlite3_bind_int64(st, 1, a.seq);
    if ((rc = gh_sqlite_exec(c, st, "audit prune checkpoints")) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = gh_sqlite_prepare(c, SQL_ANCHOR_PUT)))
        goto out;
    sqlite3_bind_int64(st, 1, a.seq);
    gh_sqlite_bind_text(st, 2, a.hash);
    gh_sqlite_bind_text(st, 3, a.sig);
    sqlite3_bind_int64(st, 4, a.created_at);
    if ((rc = gh_sqlite_exec(c, st, "audit anchor put")) != GH_OK)
        goto out;
    rc = gh_sqlite_commit(c);
out:
    if (rc != GH_OK) {
        gh_sqlite_rollback(c);
        deleted = 0;
    }
    if (out_deleted)
        *out_deleted = deleted;
    gh_sqlite_release(s, c);
    return rc;
}
