/* The PostgreSQL backend of store_audit.h and store_maintenance.h: the audit_events chain, its
 * checkpoints and its anchor. Several instances append to one chain: every append (and the
 * prune) first locks the change_counters row 'audit', so appends are serialised by the database
 * and each reads the tail the previous one committed. Reads report any stored value that is not
 * exactly a well-formed field instead of silently truncating it. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "store/pg_internal.h"
#include "store/store_audit.h"
#include "store/store_maintenance.h"
#include "core/banned.h"

static const char SQL_LOCK[] = "UPDATE change_counters SET value = value + 1 WHERE name = 'audit'";
static const char SQL_TAIL[] = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";
static const char SQL_ANCHOR[] = "SELECT seq, hash, sig, created_at FROM audit_anchor WHERE id = 1";
static const char SQL_INSERT[] =
    "INSERT INTO audit_events(seq, ts, action, actor, target, outcome, request_id, client, "
    "prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
static const char SQL_ROWS[] = "SELECT seq, ts, action, actor, target, outcome, request_id, "
                               "client, prev_hash, hash FROM audit_events ORDER BY seq";
/* A user's rows: each arm uses its own index (0007), the union is ordered by seq. */
static const char SQL_ROWS_USER[] =
    "SELECT seq, ts, action, actor, target, outcome, request_id, client, prev_hash, hash "
    "FROM audit_events WHERE actor = $1 UNION "
    "SELECT seq, ts, action, actor, target, outcome, request_id, client, prev_hash, hash "
    "FROM audit_events WHERE target = $1 ORDER BY seq";
static const char SQL_CPS[] =
    "SELECT seq, hash, sig, created_at FROM audit_checkpoints ORDER BY seq";
static const char SQL_CP_LAST[] = "SELECT coalesce(max(seq), 0) FROM audit_checkpoints";
static const char SQL_CP_INSERT[] = "INSERT INTO audit_checkpoints(seq, hash, sig, created_at) "
                                    "VALUES ($1, $2, $3, $4) ON CONFLICT (seq) DO NOTHING";
static const char SQL_ROW_HASH[] = "SELECT hash FROM audit_events WHERE seq = $1";
static const char SQL_FIRST_AT[] =
    "SELECT seq FROM audit_events WHERE ts >= $1 ORDER BY seq LIMIT 1";
static const char SQL_PRUNE_ROWS[] = "DELETE FROM audit_events WHERE seq < $1";
static const char SQL_PRUNE_CPS[] = "DELETE FROM audit_checkpoints WHERE seq < $1";
static const char SQL_ANCHOR_PUT[] =
    "INSERT INTO audit_anchor(id, seq, hash, sig, created_at) VALUES (1, $1, $2, $3, $4) "
    "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
    "sig = excluded.sig, created_at = excluded.created_at";

static const char ZERO_HASH[GH_AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static void map_mark(const struct gh_store_row *r, void *out)
{
    gh_store_map_audit_mark(r, out);
}

/* The anchor; GH_ERR_NOT_FOUND when there is none. */
static gh_err anchor_on(struct pg_conn *c, struct gh_audit_mark *out)
{
    return gh_pg_run_one(c, SQL_ANCHOR, NULL, "audit anchor get", map_mark, out);
}

struct tail {
    int64_t *seq;
    char *hash; /* GH_AUDIT_HASH_HEX + 1 bytes */
};

static void map_tail(const struct gh_store_row *r, void *out)
{
    const struct tail *t = out;
    *t->seq = r->ops->i64(r, 0);
    r->ops->text(r, 1, t->hash, GH_AUDIT_HASH_HEX + 1);
}

static gh_err tail_on(struct pg_conn *c, int64_t *out_seq, char out_hash[GH_AUDIT_HASH_HEX + 1])
{
    struct tail t = {.seq = out_seq, .hash = out_hash};
    gh_err rc = gh_pg_run_one(c, SQL_TAIL, NULL, "audit tail", map_tail, &t);
    if (rc != GH_ERR_NOT_FOUND)
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

gh_err gh_pg_audit_append(struct gh_store *s, struct gh_audit_row *row, gh_audit_seal_fn seal,
                          void *ctx)
{
    struct pg_conn *c;
    struct pg_params p = {0};
    int64_t seq = 0;
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    /* The lock row first: the tail read below (a new snapshot under READ COMMITTED) then sees
     * every append committed before ours, from any instance. */
    if ((rc = gh_pg_run(c, SQL_LOCK, NULL, "audit lock", NULL)) != GH_OK)
        goto out;
    if ((rc = tail_on(c, &seq, row->prev_hash)) != GH_OK)
        goto out;
    row->seq = seq + 1;
    if ((rc = seal(ctx, row)) != GH_OK)
        goto out;
    gh_pg_param_i64(&p, row->seq);
    gh_pg_param_i64(&p, row->ts);
    gh_pg_param_text(&p, row->action);
    gh_pg_param_text(&p, row->actor);
    gh_pg_param_text(&p, row->target);
    gh_pg_param_text(&p, row->outcome);
    gh_pg_param_text(&p, row->request_id);
    gh_pg_param_text(&p, row->client);
    gh_pg_param_text(&p, row->prev_hash);
    gh_pg_param_text(&p, row->hash);
    rc = gh_pg_run(c, SQL_INSERT, &p, "audit append", NULL);
out:
    return gh_pg_tx_end(s, c, rc);
}

gh_err gh_pg_audit_tail(struct gh_store *s, int64_t *out_seq, char out_hash[GH_AUDIT_HASH_HEX + 1])
{
    struct pg_conn *c;
    /* Two statements (row, then anchor) must see the same state: a prune may run between. */
    gh_err rc = gh_pg_tx_begin(s, true, &c);
    if (rc != GH_OK)
        return rc;
    return gh_pg_tx_end(s, c, tail_on(c, out_seq, out_hash));
}

gh_err gh_pg_audit_last_checkpoint(struct gh_store *s, int64_t *out_seq)
{
    /* An aggregate: always exactly one row. */
    return gh_pg_query_one(s, SQL_CP_LAST, NULL, "audit last checkpoint", gh_pg_map_i64, out_seq);
}

gh_err gh_pg_audit_checkpoint_insert(struct gh_store *s, const struct gh_audit_mark *cp)
{
    struct pg_params p = {0};
    gh_pg_param_i64(&p, cp->seq);
    gh_pg_param_text(&p, cp->hash);
    gh_pg_param_text(&p, cp->sig);
    gh_pg_param_i64(&p, cp->created_at);
    return gh_pg_exec(s, SQL_CP_INSERT, &p, "audit checkpoint insert", 0, NULL);
}

/* Stream a query's rows one at a time (single-row mode: an export of a long chain never sits
 * whole in memory) to the reader. */
static gh_err stream(struct pg_conn *c, const char *sql, const struct pg_params *p, bool rows,
                     const struct gh_audit_reader *rd, const char *what)
{
    gh_err rc = gh_pg_send_rows(c, sql, p, what);
    if (rc != GH_OK)
        return rc;
    PGresult *r;
    while ((r = PQgetResult(c->pg)) && PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
        if (rc == GH_OK) {
            struct gh_pg_row pr = gh_pg_row_at(r, 0);
            if (rows) {
                struct gh_audit_row row;
                gh_store_map_audit_row(&pr.base, &row);
                if (rd->row)
                    rc = rd->row(rd->ctx, &row);
            } else {
                struct gh_audit_mark m;
                gh_store_map_audit_mark(&pr.base, &m);
                if (rd->checkpoint)
                    rc = rd->checkpoint(rd->ctx, &m);
            }
        }
        PQclear(r);
    }
    /* r: the final status (or NULL); a callback's error wins over it, but the rest of the
     * stream is read either way so that the connection can be reused. */
    gh_err frc = gh_pg_finish_rows(c, r, what);
    return rc != GH_OK ? rc : frc;
}

gh_err gh_pg_audit_read(struct gh_store *s, const struct gh_audit_reader *rd)
{
    struct pg_conn *c;
    struct gh_audit_mark a;
    /* One REPEATABLE READ snapshot for all three reads; appends go on meanwhile. */
    gh_err rc = gh_pg_tx_begin(s, true, &c);
    if (rc != GH_OK)
        return rc;
    rc = anchor_on(c, &a);
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND)
        goto out;
    if (rd->anchor && (rc = rd->anchor(rd->ctx, rc == GH_OK ? &a : NULL)) != GH_OK)
        goto out;
    if ((rc = stream(c, SQL_CPS, NULL, false, rd, "audit checkpoints read")) != GH_OK)
        goto out;
    rc = stream(c, SQL_ROWS, NULL, true, rd, "audit rows read");
out:
    return gh_pg_tx_end(s, c, rc);
}

gh_err gh_pg_audit_read_user(struct gh_store *s, const char *user_id,
                             gh_err (*fn)(void *ctx, const struct gh_audit_row *r), void *ctx)
{
    struct pg_conn *c = gh_pg_acquire(PGS(s));
    if (!c)
        return GH_ERR_STORE;
    struct pg_params p = {0};
    struct gh_audit_reader rd = {.row = fn, .ctx = ctx};
    gh_pg_param_text(&p, user_id);
    gh_err rc = stream(c, SQL_ROWS_USER, &p, true, &rd, "audit user rows read");
    gh_pg_release(PGS(s), c);
    return rc;
}

/* ---- store_maintenance.h ---- */

gh_err gh_pg_audit_first_seq_at_or_after(struct gh_store *s, int64_t ts, int64_t *out_seq)
{
    struct pg_params p = {0};
    gh_pg_param_i64(&p, ts);
    gh_err rc = gh_pg_query_one(s, SQL_FIRST_AT, &p, "audit first seq", gh_pg_map_i64, out_seq);
    if (rc == GH_ERR_NOT_FOUND) {
        *out_seq = 0;
        rc = GH_OK;
    }
    return rc;
}

/* The anchor-to-be's hash: exactly a well-formed field, else the prune refuses. */
static void map_hash(const struct gh_store_row *r, void *out)
{
    struct gh_audit_mark *a = out;
    a->malformed = !r->ops->text_exact(r, 0, a->hash, sizeof a->hash);
}

gh_err gh_pg_audit_prune_before(struct gh_store *s, int64_t seq, int64_t now, gh_audit_sign_fn sign,
                                void *ctx, int64_t *out_deleted)
{
    if (out_deleted)
        *out_deleted = 0;
    struct pg_conn *c;
    struct gh_audit_mark a, old;
    struct pg_params p = {0};
    long deleted = 0;
    memset(&a, 0, sizeof a);
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    if ((rc = gh_pg_run(c, SQL_LOCK, NULL, "audit lock", NULL)) != GH_OK)
        goto out;
    rc = anchor_on(c, &old);
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND)
        goto out;
    if (seq < 2 || (rc == GH_OK && seq - 1 <= old.seq)) {
        rc = GH_OK; /* commit: nothing before seq 1, or already pruned that far */
        goto out;
    }
    a.seq = seq - 1;
    a.created_at = now;
    gh_pg_param_i64(&p, a.seq);
    rc = gh_pg_run_one(c, SQL_ROW_HASH, &p, "audit prune anchor row", map_hash, &a);
    if (rc == GH_ERR_NOT_FOUND || (rc == GH_OK && a.malformed))
        rc = GH_ERR_INVALID;
    if (rc != GH_OK)
        goto out;
    if ((rc = sign(ctx, a.seq, a.hash, a.sig)) != GH_OK)
        goto out;
    memset(&p, 0, sizeof p);
    gh_pg_param_i64(&p, seq);
    if ((rc = gh_pg_run_count(c, SQL_PRUNE_ROWS, &p, "audit prune rows", &deleted)) != GH_OK)
        goto out;
    memset(&p, 0, sizeof p);
    gh_pg_param_i64(&p, a.seq);
    if ((rc = gh_pg_run(c, SQL_PRUNE_CPS, &p, "audit prune checkpoints", NULL)) != GH_OK)
        goto out;
    memset(&p, 0, sizeof p);
    gh_pg_param_i64(&p, a.seq);
    gh_pg_param_text(&p, a.hash);
    gh_pg_param_text(&p, a.sig);
    gh_pg_param_i64(&p, a.created_at);
    rc = gh_pg_run(c, SQL_ANCHOR_PUT, &p, "audit anchor put", NULL);
out:
    if ((rc = gh_pg_tx_end(s, c, rc)) != GH_OK)
        deleted = 0;
    if (out_deleted)
        *out_deleted = deleted;
    return rc;
}
