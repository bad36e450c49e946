/* The PostgreSQL backend of store.h (libpq): a fixed pool of connections, each preparing the
 * literal statements it runs (parameters always bound, never spliced), reconnecting with backoff
 * when the server went away. Lifetime: connections live as long as the gh_store. Trust boundary:
 * the URL is a secret and the server's error texts may quote values, hosts and user names, so
 * neither is ever logged nor returned; the log gets a fixed text and the SQLSTATE. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/migrations.h"
#include "store/pg_internal.h"
#include "store/store.h"
#include "store/store_backend.h"
#include "core/banned.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 1000
/* How stale this process's view of the revocation epoch may get (see pg_epoch). */
#define EPOCH_REFRESH_MS 200
/* Serialises `migrate` across processes (pg_advisory_lock key: "gh" "mg"). */
#define MIGRATE_LOCK_SQL_KEY "1734829927"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- parameters and columns ---- */

void gh_pg_param_text(struct pg_params *p, const char *v)
{
    if (p->n >= GH_PG_PARAMS) {
        p->overflow = true;
        return;
    }
    p->v[p->n++] = v;
}

void gh_pg_param_i64(struct pg_params *p, int64_t v)
{
    if (p->n >= GH_PG_PARAMS) {
        p->overflow = true;
        return;
    }
    snprintf(p->num[p->n], sizeof p->num[p->n], "%lld", (long long)v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

void gh_pg_copy(const PGresult *r, int row, int col, char *dst, size_t size)
{
    dst[0] = '\0';
    if (PQgetisnull(r, row, col))
        return;
    const char *t = PQgetvalue(r, row, col);
    size_t n = (size_t)PQgetlength(r, row, col);
    if (n > size - 1)
        n = size - 1;
    memcpy(dst, t, n);
    dst[n] = '\0';
}

int64_t gh_pg_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return (int64_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool gh_pg_is_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) != 0;
}

/* ---- rows as store_map.h reads them ---- */

static const struct gh_pg_row *pg_row(const struct gh_store_row *r)
{
    return (const struct gh_pg_row *)r;
}

static void row_text(const struct gh_store_row *r, int col, char *dst, size_t size)
{
    gh_pg_copy(pg_row(r)->res, pg_row(r)->row, col, dst, size);
}

static int64_t row_i64(const struct gh_store_row *r, int col)
{
    return gh_pg_i64(pg_row(r)->res, pg_row(r)->row, col);
}

static bool row_is_null(const struct gh_store_row *r, int col)
{
    return gh_pg_is_null(pg_row(r)->res, pg_row(r)->row, col);
}

/* Copy a text column; false (dst holds a truncated copy) when it is NULL or longer than size-1.
 * PostgreSQL text cannot hold a NUL byte. */
static bool row_text_exact(const struct gh_store_row *gr, int col, char *dst, size_t size)
{
    const PGresult *r = pg_row(gr)->res;
    int row = pg_row(gr)->row;
    dst[0] = '\0';
    if (PQgetisnull(r, row, col))
        return false;
    size_t len = (size_t)PQgetlength(r, row, col);
    bool ok = len < size;
    if (!ok)
        len = size - 1;
    memcpy(dst, PQgetvalue(r, row, col), len);
    dst[len] = '\0';
    return ok;
}

static bool row_int_exact(const struct gh_store_row *gr, int col, int64_t *out)
{
    const PGresult *r = pg_row(gr)->res;
    int row = pg_row(gr)->row;
    *out = 0;
    if (PQgetisnull(r, row, col))
        return false;
    const char *t = PQgetvalue(r, row, col);
    char *end = NULL;
    *out = (int64_t)strtoll(t, &end, 10);
    return end && end != t && *end == '\0';
}

static const struct gh_store_row_ops pg_row_ops = {
    .text = row_text,
    .i64 = row_i64,
    .is_null = row_is_null,
    .text_exact = row_text_exact,
    .int_exact = row_int_exact,
};

struct gh_pg_row gh_pg_row_at(const PGresult *r, int row)
{
    return (struct gh_pg_row){.base = {.ops = &pg_row_ops}, .res = r, .row = row};
}

size_t gh_pg_map_rows(const PGresult *r, size_t max, gh_pg_map_fn map, void *arr, size_t elem_size)
{
    size_t n = 0;
    for (int i = 0; i < PQntuples(r) && n < max; i++, n++) {
        struct gh_pg_row row = gh_pg_row_at(r, i);
        map(&row.base, (char *)arr + n * elem_size);
    }
    return n;
}

void gh_pg_map_i64(const struct gh_store_row *r, void *out)
{
    *(int64_t *)out = r->ops->i64(r, 0);
}

/* ---- errors ---- */

static void log_pg(const char *what, const char *sqlstate)
{
    gh_log(GH_LOG_ERROR, "storage operation failed", NULL, "store_error",
           json_pack("{s:s,s:s,s:s}", "op", what, "backend", "postgresql", "sqlstate",
                     sqlstate ? sqlstate : "none"));
}

static gh_err map_sqlstate(const char *st)
{
    if (!st)
        return GH_ERR_STORE;
    if (strcmp(st, "23505") == 0 || strcmp(st, "23503") == 0 || strcmp(st, "23P01") == 0)
        return GH_ERR_CONFLICT;
    /* The role may not do this (the runtime role pruning the audit trail, running DDL). */
    if (strcmp(st, "42501") == 0)
        return GH_ERR_FORBIDDEN;
    /* Serialization failure, deadlock, lock not available, too many connections, out of
     * resources: try again later. */
    if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0 ||
        strncmp(st, "53", 2) == 0)
        return GH_ERR_BUSY;
    return GH_ERR_STORE;
}

/* After a failed call: is the connection still usable? A prepared plan invalidated by a schema
 * change (0A000) is cured by a fresh connection too. */
static void note_failure(struct pg_conn *c, const char *sqlstate)
{
    if (PQstatus(c->pg) != CONNECTION_OK ||
        (sqlstate && (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57P", 3) == 0 ||
                      strcmp(sqlstate, "0A000") == 0)))
        c->broken = true;
}

/* Check a result; GH_OK for a command or rows. Clears r on failure. */
static gh_err check_result(struct pg_conn *c, PGresult *r, const char *what)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_SINGLE_TUPLE)
        return GH_OK;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    gh_err rc = map_sqlstate(state);
    if (rc != GH_ERR_CONFLICT)
        log_pg(what, state);
    note_failure(c, state);
    PQclear(r);
    return rc;
}

/* ---- prepared statements ---- */

/* The name of literal_sql's prepared statement on c, preparing it on first use. */
static gh_err prepared_name(struct pg_conn *c, const char *literal_sql, int nparams, char name[16])
{
    for (int i = 0; i < c->n_prepared; i++) {
        if (c->prepared[i] == literal_sql) {
            snprintf(name, 16, "g%d", i);
            return GH_OK;
        }
    }
    if (c->n_prepared == GH_PG_STMTS) {
        /* A design limit (raise GH_PG_STMTS), never reached through input: fail loudly. */
        gh_log(GH_LOG_ERROR, "statement cache full", NULL, "store_stmt_cache_full", NULL);
        return GH_ERR_INTERNAL;
    }
    snprintf(name, 16, "g%d", c->n_prepared);
    PGresult *r = PQprepare(c->pg, name, literal_sql, nparams, NULL);
    gh_err rc = check_result(c, r, "prepare");
    if (rc != GH_OK)
        return rc;
    PQclear(r);
    c->prepared[c->n_prepared++] = literal_sql;
    return GH_OK;
}

gh_err gh_pg_run(struct pg_conn *c, const char *literal_sql, const struct pg_params *p,
                 const char *what, PGresult **out)
{
    char name[16];
    if (out)
        *out = NULL;
    if (p && p->overflow)
        return GH_ERR_INTERNAL;
    int n = p ? p->n : 0;
    gh_err rc = prepared_name(c, literal_sql, n, name);
    if (rc != GH_OK)
        return rc;
    PGresult *r = PQexecPrepared(c->pg, name, n, p ? p->v : NULL, NULL, NULL, 0);
    if ((rc = check_result(c, r, what)) != GH_OK)
        return rc;
    if (out)
        *out = r;
    else
        PQclear(r);
    return GH_OK;
}

gh_err gh_pg_run_count(struct pg_conn *c, const char *literal_sql, const struct pg_params *p,
                       const char *what, long *out_rows)
{
    PGresult *r = NULL;
    gh_err rc = gh_pg_run(c, literal_sql, p, what, &r);
    if (rc != GH_OK)
        return rc;
    *out_rows = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return GH_OK;
}

gh_err gh_pg_run_one(struct pg_conn *c, const char *literal_sql, const struct pg_params *p,
                     const char *what, gh_pg_map_fn map, void *out)
{
    PGresult *r = NULL;
    gh_err rc = gh_pg_run(c, literal_sql, p, what, &r);
    if (rc != GH_OK)
        return rc;
    if (PQntuples(r) == 1) {
        struct gh_pg_row row = gh_pg_row_at(r, 0);
        if (map)
            map(&row.base, out);
    } else {
        rc = GH_ERR_NOT_FOUND;
    }
    PQclear(r);
    return rc;
}

gh_err gh_pg_send_rows(struct pg_conn *c, const char *literal_sql, const struct pg_params *p,
                       const char *what)
{
    char name[16];
    if (p && p->overflow)
        return GH_ERR_INTERNAL;
    int n = p ? p->n : 0;
    gh_err rc = prepared_name(c, literal_sql, n, name);
    if (rc != GH_OK)
        return rc;
    if (!PQsendQueryPrepared(c->pg, name, n, p ? p->v : NULL, NULL, NULL, 0) ||
        !PQsetSingleRowMode(c->pg)) {
        log_pg(what, NULL);
        note_failure(c, NULL);
        /* Whatever was sent must still be read before the connection is reused. */
        PGresult *r;
        while ((r = PQgetResult(c->pg)))
            PQclear(r);
        return GH_ERR_STORE;
    }
    return GH_OK;
}

gh_err gh_pg_finish_rows(struct pg_conn *c, PGresult *last, const char *what)
{
    gh_err rc = GH_OK;
    PGresult *r = last;
    for (;;) {
        if (!r && !(r = PQgetResult(c->pg)))
            break;
        ExecStatusType st = PQresultStatus(r);
        if (rc == GH_OK && st != PGRES_TUPLES_OK && st != PGRES_SINGLE_TUPLE &&
            st != PGRES_COMMAND_OK) {
            rc = check_result(c, r, what); /* clears r */
            if (rc == GH_OK)
                rc = GH_ERR_STORE;
        } else {
            PQclear(r);
        }
        r = NULL;
    }
    return rc;
}

static const char SQL_BEGIN[] = "BEGIN";
static const char SQL_BEGIN_SNAPSHOT[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

gh_err gh_pg_begin(struct pg_conn *c)
{
    return gh_pg_run(c, SQL_BEGIN, NULL, "begin", NULL);
}

gh_err gh_pg_begin_snapshot(struct pg_conn *c)
{
    return gh_pg_run(c, SQL_BEGIN_SNAPSHOT, NULL, "begin snapshot", NULL);
}

gh_err gh_pg_commit(struct pg_conn *c)
{
    PGresult *r = NULL;
    gh_err rc = gh_pg_run(c, SQL_COMMIT, NULL, "commit", &r);
    if (rc != GH_OK)
        return rc;
    /* COMMIT of a failed transaction answers "ROLLBACK": nothing was written. */
    bool rolled_back = strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
    PQclear(r);
    return rolled_back ? GH_ERR_STORE : GH_OK;
}

void gh_pg_rollback(struct pg_conn *c)
{
    if (c->broken || PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        return;
    if (gh_pg_run(c, SQL_ROLLBACK, NULL, "rollback", NULL) != GH_OK)
        c->broken = true;
}

/* ---- connections and the pool ---- */

static void ignore_notice(void *arg, const char *message)
{
    /* Notices (e.g. "relation already exists, skipping") would go to stderr, and their text may
     * quote identifiers: dropped. */
    (void)arg;
    (void)message;
}

static gh_err conn_connect(struct gh_pg_store *s, struct pg_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->n_prepared = 0;
    /* Defaults first: anything the URL says (sslmode, connect_timeout, application_name, ...)
     * overrides them, because the expanded dbname comes later. */
    const char *const keys[] = {"connect_timeout",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "dbname",
                                "fallback_application_name",
                                NULL};
    const char *const vals[] = {"5", "30", "10", "3", s->url, "gatehouse", NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        bool needs_pw = c->pg && PQconnectionNeedsPassword(c->pg);
        gh_log(GH_LOG_ERROR,
               "cannot connect to PostgreSQL (check GATEHOUSE_DATABASE_URL, the server and its "
               "pg_hba.conf; libpq's message is withheld because it names hosts and users)",
               NULL, "store_connect_failed",
               json_pack("{s:s,s:b}", "backend", "postgresql", "password_required", needs_pw));
        if (c->pg)
            PQfinish(c->pg);
        c->pg = NULL;
        c->broken = true;
        return GH_ERR_STORE;
    }
    PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
    c->broken = false;
    return GH_OK;
}

/* An idle connection whose server went away (restart, pg_terminate_backend) has a readable
 * socket: the server's FATAL goodbye and then EOF. Nothing else arrives unasked on an idle
 * connection of ours (no LISTEN), so anything readable means: reconnect before use. This costs
 * one poll() per acquire and no round trip, and spares the next request a failure. */
static bool idle_conn_is_dead(struct pg_conn *c)
{
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK)
        return true;
    struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
    if (pfd.fd < 0)
        return true;
    return poll(&pfd, 1, 0) != 0;
}

static void pool_put(struct gh_pg_store *s, struct pg_conn *c)
{
    pthread_mutex_lock(&s->lock);
    c->busy = false;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* A broken connection is reconnected by whoever takes it, at most once per backoff period for
 * the whole pool: while the server is down, requests fail fast (503) instead of queueing behind
 * connection attempts. */
static gh_err reconnect(struct gh_pg_store *s, struct pg_conn *c)
{
    pthread_mutex_lock(&s->lock);
    int64_t now = mono_ms();
    bool due = now >= s->retry_at_ms;
    if (due)
        s->retry_at_ms = now + (s->backoff_ms ? s->backoff_ms : BACKOFF_FIRST_MS);
    pthread_mutex_unlock(&s->lock);
    if (!due)
        return GH_ERR_STORE;
    gh_err rc = conn_connect(s, c);
    pthread_mutex_lock(&s->lock);
    if (rc == GH_OK) {
        s->backoff_ms = 0;
        s->retry_at_ms = 0;
    } else {
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : (int64_t)BACKOFF_FIRST_MS * 2;
        if (s->backoff_ms > BACKOFF_MAX_MS)
            s->backoff_ms = BACKOFF_MAX_MS;
    }
    pthread_mutex_unlock(&s->lock);
    if (rc == GH_OK)
        gh_log(GH_LOG_INFO, "reconnected to PostgreSQL", NULL, "store_reconnected", NULL);
    return rc;
}

/* Take an idle connection, healthy ones first; wait only while every connection is busy. */
static struct pg_conn *pool_take(struct gh_pg_store *s, bool wait)
{
    struct pg_conn *pick = NULL;
    gh_store_thread_check("postgresql");
    pthread_mutex_lock(&s->lock);
    for (;;) {
        for (int i = 0; i < GH_PG_POOL_SIZE && !pick; i++)
            if (!s->conns[i].busy && !s->conns[i].broken)
                pick = &s->conns[i];
        for (int i = 0; i < GH_PG_POOL_SIZE && !pick; i++)
            if (!s->conns[i].busy)
                pick = &s->conns[i];
        if (pick || !wait)
            break;
        pthread_cond_wait(&s->cond, &s->lock);
    }
    if (pick)
        pick->busy = true;
    pthread_mutex_unlock(&s->lock);
    return pick;
}

struct pg_conn *gh_pg_acquire(struct gh_pg_store *s)
{
    struct pg_conn *c = pool_take(s, true);
    if (!c->broken && idle_conn_is_dead(c))
        c->broken = true;
    if (c->broken && reconnect(s, c) != GH_OK) {
        pool_put(s, c);
        return NULL;
    }
    return c;
}

void gh_pg_release(struct gh_pg_store *s, struct pg_conn *c)
{
    if (!c)
        return;
    if (!c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        /* Every path ends its transaction; if one did not, do not hand it to the next caller. */
        gh_log(GH_LOG_ERROR, "connection returned inside a transaction", NULL, "store_tx_leak",
               NULL);
        gh_pg_rollback(c);
        if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
            c->broken = true;
    }
    pool_put(s, c);
}

#define ACQUIRE(s, c)                                                                              \
    struct pg_conn *c = gh_pg_acquire(PGS(s));                                                     \
    if (!(c))                                                                                      \
        return GH_ERR_STORE;

gh_err gh_pg_tx_begin(struct gh_store *s, bool snapshot, struct pg_conn **out)
{
    ACQUIRE(s, c);
    gh_err rc = snapshot ? gh_pg_begin_snapshot(c) : gh_pg_begin(c);
    if (rc != GH_OK) {
        gh_pg_rollback(c);
        gh_pg_release(PGS(s), c);
        return rc;
    }
    *out = c;
    return GH_OK;
}

gh_err gh_pg_tx_end(struct gh_store *s, struct pg_conn *c, gh_err rc)
{
    if (rc == GH_OK)
        rc = gh_pg_commit(c);
    if (rc != GH_OK)
        gh_pg_rollback(c);
    gh_pg_release(PGS(s), c);
    return rc;
}

gh_err gh_pg_query_one(struct gh_store *s, const char *literal_sql, const struct pg_params *p,
                       const char *what, gh_pg_map_fn map, void *out)
{
    ACQUIRE(s, c);
    gh_err rc = gh_pg_run_one(c, literal_sql, p, what, map, out);
    gh_pg_release(PGS(s), c);
    return rc;
}

/* On a connection of s: run, map at most max rows into arr (gh_pg_map_rows), *out_n how many
 * (0 on failure). */
static gh_err query_rows(struct gh_store *s, const char *literal_sql, const struct pg_params *p,
                         const char *what, size_t max, gh_pg_map_fn map, void *arr,
                         size_t elem_size, size_t *out_n)
{
    *out_n = 0;
    ACQUIRE(s, c);
    PGresult *r = NULL;
    gh_err rc = gh_pg_run(c, literal_sql, p, what, &r);
    gh_pg_release(PGS(s), c);
    if (rc != GH_OK)
        return rc;
    *out_n = gh_pg_map_rows(r, max, map, arr, elem_size);
    PQclear(r);
    return GH_OK;
}

/* ---- revocation epoch ---- */

static const char SQL_EPOCH_GET[] = "SELECT value FROM change_counters WHERE name = 'revocations'";
static const char SQL_EPOCH_BUMP[] =
    "UPDATE change_counters SET value = value + 1 WHERE name = 'revocations'";

/* The epoch for PostgreSQL. SQLite shares it through a mapping beside the database file, which
 * only works on one host; here it is the change_counters row 'revocations', bumped inside the
 * same transaction as every revocation (so it can never move without the revocation or the
 * other way round). Reading it on every request would add a round trip to each token check,
 * so each process keeps a local epoch:
 *   - a local revocation bumps it at once after its commit (the instance that served a logout
 *     refuses the token on the very next request);
 *   - at most every EPOCH_REFRESH_MS, one caller (the others return the cached value without
 *     waiting) reads the row, and when it moved, bumps the local epoch: another instance's
 *     revocation is seen within ~200 ms, well inside the 1 s the API promises;
 *   - a failed read bumps it too (fail closed: caches are dropped and requests go to the
 *     database, which then answers or fails with 503).
 * The local epoch only ever grows, so caches comparing it for equality stay correct. */
static void epoch_refresh(struct gh_pg_store *s, int64_t now_ms)
{
    struct pg_conn *c = pool_take(s, false);
    if (!c)
        return; /* every connection busy: try again on the next call */
    gh_err rc = GH_ERR_STORE;
    PGresult *r = NULL;
    if (!c->broken && !idle_conn_is_dead(c))
        rc = gh_pg_run(c, SQL_EPOCH_GET, NULL, "epoch get", &r);
    else
        c->broken = true;
    if (rc == GH_OK && PQntuples(r) == 1) {
        int64_t v = gh_pg_i64(r, 0, 0);
        if (atomic_exchange(&s->epoch_db, v) != v)
            atomic_fetch_add(&s->epoch, 1);
    } else {
        atomic_fetch_add(&s->epoch, 1);
    }
    PQclear(r);
    gh_pg_release(s, c);
    atomic_store(&s->epoch_checked_ms, now_ms);
}

static uint64_t pg_epoch(struct gh_store *gs)
{
    struct gh_pg_store *s = PGS(gs);
    int64_t now = mono_ms();
    if (now - atomic_load(&s->epoch_checked_ms) >= EPOCH_REFRESH_MS &&
        !atomic_flag_test_and_set(&s->epoch_refreshing)) {
        if (now - atomic_load(&s->epoch_checked_ms) >= EPOCH_REFRESH_MS)
            epoch_refresh(s, now);
        atomic_flag_clear(&s->epoch_refreshing);
    }
    return atomic_load(&s->epoch);
}

/* Inside a transaction that revokes something. */
static gh_err epoch_bump_on(struct pg_conn *c)
{
    return gh_pg_run(c, SQL_EPOCH_BUMP, NULL, "epoch bump", NULL);
}

/* After that transaction committed. */
static void epoch_bump_local(struct gh_store *s)
{
    atomic_fetch_add(&PGS(s)->epoch, 1);
}

gh_err gh_pg_exec(struct gh_store *s, const char *literal_sql, const struct pg_params *p,
                  const char *what, unsigned flags, long *out_rows)
{
    struct pg_conn *c = NULL;
    long rows = 0;
    gh_err rc = (flags & GH_PG_TX) ? gh_pg_tx_begin(s, false, &c) : GH_OK;
    if (rc != GH_OK)
        return rc;
    if (!c && !(c = gh_pg_acquire(PGS(s))))
        return GH_ERR_STORE;
    rc = gh_pg_run_count(c, literal_sql, p, what, &rows);
    if (rc == GH_OK && (flags & GH_PG_MUST_TOUCH) && rows == 0)
        rc = GH_ERR_NOT_FOUND;
    if (rc == GH_OK && (flags & GH_PG_REVOKES))
        rc = epoch_bump_on(c);
    if (flags & GH_PG_TX) {
        rc = gh_pg_tx_end(s, c, rc);
    } else {
        gh_pg_release(PGS(s), c);
    }
    if (rc == GH_OK && (flags & GH_PG_REVOKES))
        epoch_bump_local(s);
    if (rc == GH_OK && out_rows)
        *out_rows = rows;
    return rc;
}

/* ---- open, free, migrate ---- */

static const struct gh_store_ops pg_ops;
static void pg_free(struct gh_store *gs);

gh_err gh_pg_open(const char *url, struct gh_store **out)
{
    gh_err lrc = gh_pq_load(); /* libpq is only mapped once a PostgreSQL URL is used */
    if (lrc != GH_OK)
        return lrc;
    struct gh_pg_store *s = gh_calloc(1, sizeof *s);
    if (!s)
        return GH_ERR_NOMEM;
    s->base.ops = &pg_ops;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    atomic_init(&s->epoch, 1);
    atomic_init(&s->epoch_db, -1);
    atomic_init(&s->epoch_checked_ms, 0);
    atomic_flag_clear(&s->epoch_refreshing);
    size_t len = strlen(url);
    s->url = sodium_malloc(len + 1);
    if (!s->url) {
        pg_free(&s->base);
        return GH_ERR_NOMEM;
    }
    memcpy(s->url, url, len + 1);
    /* Every connection now, before serve drops privileges and enters its sandbox. */
    for (int i = 0; i < GH_PG_POOL_SIZE; i++) {
        gh_err rc = conn_connect(s, &s->conns[i]);
        if (rc != GH_OK) {
            pg_free(&s->base);
            return rc;
        }
    }
    *out = &s->base;
    return GH_OK;
}

static void pg_free(struct gh_store *gs)
{
    if (!gs)
        return;
    struct gh_pg_store *s = PGS(gs);
    for (int i = 0; i < GH_PG_POOL_SIZE; i++)
        if (s->conns[i].pg)
            PQfinish(s->conns[i].pg);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    if (s->url)
        sodium_free(s->url); /* wipes */
    gh_free(s);
}

static const char SQL_MIG_TABLE_EXISTS[] = "SELECT to_regclass('schema_migrations') IS NOT NULL";
static const char SQL_SCHEMA_VERSION[] = "SELECT coalesce(max(version), 0) FROM schema_migrations";
static const char SQL_MIG_LOCK[] = "SELECT pg_advisory_lock(" MIGRATE_LOCK_SQL_KEY ")";
static const char SQL_MIG_UNLOCK[] = "SELECT pg_advisory_unlock(" MIGRATE_LOCK_SQL_KEY ")";
static const char SQL_MIG_DONE[] = "SELECT 1 FROM schema_migrations WHERE version = $1";
static const char SQL_MIG_INSERT[] = "INSERT INTO schema_migrations(version, name, applied_at) "
                                     "VALUES ($1, $2, extract(epoch FROM now())::bigint)";
static const char SQL_MIG_CREATE[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                     "version BIGINT PRIMARY KEY, name TEXT NOT NULL, "
                                     "applied_at BIGINT NOT NULL)";

/* The highest applied version; 0 when there is no schema yet. */
static gh_err version_on(struct pg_conn *c, int *out)
{
    PGresult *r = NULL;
    gh_err rc = gh_pg_run(c, SQL_MIG_TABLE_EXISTS, NULL, "schema check", &r);
    if (rc != GH_OK)
        return rc;
    bool exists = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    *out = 0;
    if (!exists)
        return GH_OK;
    if ((rc = gh_pg_run(c, SQL_SCHEMA_VERSION, NULL, "schema version", &r)) != GH_OK)
        return rc;
    *out = (int)gh_pg_i64(r, 0, 0);
    PQclear(r);
    return GH_OK;
}

/* A migration script: literal text compiled in from src/store/migrations_pg/, several
 * statements, no parameters; the simple-query protocol is the one way to run it. */
static gh_err run_script(struct pg_conn *c, const char *sql, const char *what)
{
    PGresult *r = PQexec(c->pg, sql);
    gh_err rc = check_result(c, r, what);
    if (rc == GH_OK)
        PQclear(r);
    return rc;
}

static gh_err pg_migrate(struct gh_store *s, int *out_applied)
{
    ACQUIRE(s, c);
    int applied = 0, have = 0, want = 0;
    bool locked = false;
    gh_err rc;
    for (int i = 0; i < gh_pg_migrations_count; i++)
        if (gh_pg_migrations[i].version > want)
            want = gh_pg_migrations[i].version;
    /* Up to date: nothing but reads, so the runtime role (no DDL rights) can call this. */
    if ((rc = version_on(c, &have)) != GH_OK || have >= want)
        goto out;
    /* Two instances starting at once: one migrates, the other waits and then finds it done. */
    if ((rc = gh_pg_run(c, SQL_MIG_LOCK, NULL, "migrate lock", NULL)) != GH_OK)
        goto out;
    locked = true;
    if ((rc = gh_pg_run(c, SQL_MIG_CREATE, NULL, "migrate table", NULL)) != GH_OK)
        goto out;
    for (int i = 0; i < gh_pg_migrations_count; i++) {
        const struct gh_migration *m = &gh_pg_migrations[i];
        struct pg_params p = {0};
        PGresult *r = NULL;
        if ((rc = gh_pg_begin(c)) != GH_OK)
            goto out;
        gh_pg_param_i64(&p, m->version);
        if ((rc = gh_pg_run(c, SQL_MIG_DONE, &p, "migration check", &r)) != GH_OK)
            goto out;
        bool done = PQntuples(r) > 0;
        PQclear(r);
        if (!done) {
            if ((rc = run_script(c, m->sql, "migration")) != GH_OK)
                goto out;
            gh_pg_param_text(&p, m->name);
            if ((rc = gh_pg_run(c, SQL_MIG_INSERT, &p, "migration record", NULL)) != GH_OK)
                goto out;
        }
        if ((rc = gh_pg_commit(c)) != GH_OK)
            goto out;
        if (!done) {
            applied++;
            gh_log(GH_LOG_INFO, "applied migration", NULL, "migration_applied",
                   json_pack("{s:i,s:s,s:s}", "version", m->version, "name", m->name, "backend",
                             "postgresql"));
        }
    }
out:
    if (rc != GH_OK)
        gh_pg_rollback(c);
    if (locked && !c->broken && gh_pg_run(c, SQL_MIG_UNLOCK, NULL, "migrate unlock", NULL) != GH_OK)
        c->broken = true; /* a new connection drops the session lock */
    /* Plans prepared before a schema change may no longer fit: start this connection afresh. */
    if (applied > 0)
        c->broken = true;
    gh_pg_release(PGS(s), c);
    if (rc == GH_OK && out_applied)
        *out_applied = applied;
    return rc;
}

static gh_err pg_schema_version(struct gh_store *s, int *out)
{
    ACQUIRE(s, c);
    gh_err rc = version_on(c, out);
    gh_pg_release(PGS(s), c);
    return rc;
}

static const char SQL_PING[] = "SELECT 1";

static gh_err pg_ping(struct gh_store *s)
{
    return gh_pg_exec(s, SQL_PING, NULL, "ping", 0, NULL);
}

/* ---- users ---- */

#define USER_COLS                                                                                  \
    "id, email, email_key, display_name, password_hash, created_at, updated_at, last_login_at, "   \
    "dek_wrapped, is_admin"

static const char SQL_USER_INSERT[] =
    "INSERT INTO users(id, email, email_key, display_name, password_hash, created_at, "
    "updated_at, dek_wrapped, is_admin) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)";
static const char SQL_USER_GET[] = "SELECT " USER_COLS " FROM users WHERE id = $1";
static const char SQL_USER_BY_EMAIL[] = "SELECT " USER_COLS " FROM users WHERE email_key = $1";
static const char SQL_USERS_PAGE[] =
    "SELECT " USER_COLS " FROM users WHERE id > $1 ORDER BY id LIMIT 64";

static void map_user(const struct gh_store_row *r, void *out)
{
    gh_store_map_user(r, out);
}

static gh_err user_insert_on(struct pg_conn *c, const struct gh_user *u)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, u->id);
    gh_pg_param_text(&p, u->email_enc);
    gh_pg_param_text(&p, u->email_key);
    gh_pg_param_text(&p, u->has_display_name ? u->display_name_enc : NULL);
    gh_pg_param_text(&p, u->password_hash);
    gh_pg_param_i64(&p, u->created_at);
    gh_pg_param_text(&p, u->dek_wrapped);
    gh_pg_param_i64(&p, u->admin ? 1 : 0);
    return gh_pg_run(c, SQL_USER_INSERT, &p, "user insert", NULL);
}

static gh_err pg_user_insert(struct gh_store *s, const struct gh_user *u)
{
    ACQUIRE(s, c);
    gh_err rc = user_insert_on(c, u);
    gh_pg_release(PGS(s), c);
    return rc;
}

static gh_err pg_users_insert_all(struct gh_store *s, const struct gh_user *users, size_t n,
                                  size_t *out_failed)
{
    struct pg_conn *c;
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = user_insert_on(c, &users[i])) != GH_OK) {
            if (out_failed)
                *out_failed = i;
            break;
        }
    }
    return gh_pg_tx_end(s, c, rc);
}

static gh_err user_query(struct gh_store *s, const char *sql, const char *key, struct gh_user *out)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, key);
    return gh_pg_query_one(s, sql, &p, "user get", map_user, out);
}

static gh_err pg_user_get(struct gh_store *s, const char *id, struct gh_user *out)
{
    return user_query(s, SQL_USER_GET, id, out);
}

static gh_err pg_user_find_by_email_key(struct gh_store *s, const char *email_key,
                                        struct gh_user *out)
{
    return user_query(s, SQL_USER_BY_EMAIL, email_key, out);
}

static const char SQL_USERS_LEGACY[] = "SELECT id, email, email_key, display_name FROM users "
                                       "WHERE dek_wrapped IS NULL ORDER BY id LIMIT $1";
static const char SQL_USER_SEAL_LEGACY[] =
    "UPDATE users SET email = $2, email_key = $3, display_name = $4, dek_wrapped = $5 "
    "WHERE id = $1 AND dek_wrapped IS NULL";

static void map_legacy_user(const struct gh_store_row *r, void *out)
{
    gh_store_map_legacy_user(r, out);
}

static gh_err pg_users_legacy(struct gh_store *s, size_t max, struct gh_user **out, size_t *out_n)
{
    struct gh_user *arr = gh_calloc(max ? max : 1, sizeof *arr);
    if (!arr)
        return GH_ERR_NOMEM;
    struct pg_params p = {0};
    size_t n = 0;
    gh_pg_param_i64(&p, (int64_t)max);
    gh_err rc = query_rows(s, SQL_USERS_LEGACY, &p, "users legacy", max, map_legacy_user, arr,
                           sizeof *arr, &n);
    if (rc != GH_OK) {
        sodium_memzero(arr, (max ? max : 1) * sizeof *arr);
        gh_free(arr);
        return rc;
    }
    *out = arr;
    *out_n = n;
    return GH_OK;
}

static gh_err pg_user_seal_legacy(struct gh_store *s, const struct gh_user *u)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, u->id);
    gh_pg_param_text(&p, u->email_enc);
    gh_pg_param_text(&p, u->email_key);
    gh_pg_param_text(&p, u->has_display_name ? u->display_name_enc : NULL);
    gh_pg_param_text(&p, u->dek_wrapped);
    return gh_pg_exec(s, SQL_USER_SEAL_LEGACY, &p, "user seal legacy", 0, NULL);
}

static gh_err pg_users_each(struct gh_store *s, gh_err (*cb)(struct gh_user *u, void *ctx),
                            void *ctx)
{
    char last[GH_ID_LEN + 1] = "";
    for (;;) {
        /* Pages of 64 by id: no connection is held while cb runs. */
        struct gh_user *page = gh_calloc(64, sizeof *page);
        size_t n = 0;
        if (!page)
            return GH_ERR_NOMEM;
        struct pg_params p = {0};
        gh_pg_param_text(&p, last);
        gh_err rc =
            query_rows(s, SQL_USERS_PAGE, &p, "users each", 64, map_user, page, sizeof *page, &n);
        for (size_t i = 0; i < n && rc == GH_OK; i++)
            rc = cb(&page[i], ctx);
        if (n)
            memcpy(last, page[n - 1].id, sizeof last);
        sodium_memzero(page, 64 * sizeof *page);
        gh_free(page);
        if (rc != GH_OK || n < 64)
            return rc;
    }
}

static const char SQL_USER_SET_PW[] =
    "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1";
static const char SQL_SESS_REVOKE_USER_EXCEPT[] =
    "UPDATE sessions SET revoked_at = $3, revoke_reason = $4 WHERE user_id = $1 "
    "AND revoked_at IS NULL AND ($2::text IS NULL OR id <> $2::text)";

static gh_err pg_user_set_password(struct gh_store *s, const char *user_id, const char *hash,
                                   int64_t now, bool revoke_other_sessions,
                                   const char *keep_session_id)
{
    struct pg_conn *c;
    struct pg_params p = {0};
    long rows = 0, revoked = 0;
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    gh_pg_param_text(&p, user_id);
    gh_pg_param_text(&p, hash);
    gh_pg_param_i64(&p, now);
    if ((rc = gh_pg_run_count(c, SQL_USER_SET_PW, &p, "set password", &rows)) != GH_OK)
        goto out;
    if (rows == 0) {
        rc = GH_ERR_NOT_FOUND;
        goto out;
    }
    if (revoke_other_sessions) {
        memset(&p, 0, sizeof p);
        gh_pg_param_text(&p, user_id);
        gh_pg_param_text(&p, keep_session_id);
        gh_pg_param_i64(&p, now);
        gh_pg_param_text(&p, "password_changed");
        if ((rc = gh_pg_run_count(c, SQL_SESS_REVOKE_USER_EXCEPT, &p, "revoke sessions",
                                  &revoked)) != GH_OK)
            goto out;
        if (revoked > 0)
            rc = epoch_bump_on(c);
    }
out:
    rc = gh_pg_tx_end(s, c, rc);
    if (rc == GH_OK && revoked > 0)
        epoch_bump_local(s);
    return rc;
}

static const char SQL_USER_SET_ADMIN[] = "UPDATE users SET is_admin = $2 WHERE id = $1";

static gh_err pg_user_set_admin(struct gh_store *s, const char *user_id, bool admin)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, user_id);
    gh_pg_param_i64(&p, admin ? 1 : 0);
    /* A demotion refuses what was allowed a moment ago: anything cached about this user goes. */
    return gh_pg_exec(s, SQL_USER_SET_ADMIN, &p, "user set admin",
                      GH_PG_TX | GH_PG_MUST_TOUCH | GH_PG_REVOKES, NULL);
}

static const char SQL_USER_EXISTS_LOCK[] = "SELECT 1 FROM users WHERE id = $1 FOR UPDATE";

static gh_err pg_user_sessions_revoke(struct gh_store *s, const char *user_id, const char *reason,
                                      int64_t now, long *out_n)
{
    struct pg_conn *c;
    struct pg_params p = {0};
    long n = 0;
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    gh_pg_param_text(&p, user_id);
    if ((rc = gh_pg_run_one(c, SQL_USER_EXISTS_LOCK, &p, "user exists", NULL, NULL)) != GH_OK)
        goto out;
    memset(&p, 0, sizeof p);
    gh_pg_param_text(&p, user_id);
    gh_pg_param_text(&p, NULL); /* keep none */
    gh_pg_param_i64(&p, now);
    gh_pg_param_text(&p, reason);
    if ((rc = gh_pg_run_count(c, SQL_SESS_REVOKE_USER_EXCEPT, &p, "revoke user sessions", &n)) !=
        GH_OK)
        goto out;
    rc = epoch_bump_on(c);
out:
    rc = gh_pg_tx_end(s, c, rc);
    if (rc == GH_OK) {
        epoch_bump_local(s);
        if (out_n)
            *out_n = n;
    }
    return rc;
}

static const char SQL_USER_DELETE[] = "DELETE FROM users WHERE id = $1";
static const char SQL_LEDGER_INSERT[] = "INSERT INTO erasure_ledger(user_id, erased_at) "
                                        "VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING";

/* Erasure on PostgreSQL: the row (and by foreign key its sessions, refresh tokens and budgets;
 * the wrapped data key goes with it) is deleted, its id written to the erasure ledger (the
 * table of migration 0006, SQLite's "<db>-erasures" file) and the epoch bumped, in one
 * transaction: the ledger holds exactly the users that are gone, and `backup restore`
 * (store_pg_backup.c) deletes them again from restored data. Dead tuples are removed by
 * (auto)vacuum; the data key is gone at once. */
static gh_err pg_user_erase(struct gh_store *s, const char *user_id, int64_t now)
{
    struct pg_conn *c;
    struct pg_params p = {0};
    long rows = 0;
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    gh_pg_param_text(&p, user_id);
    if ((rc = gh_pg_run_count(c, SQL_USER_DELETE, &p, "user erase", &rows)) != GH_OK)
        goto out;
    if (rows == 0) {
        rc = GH_ERR_NOT_FOUND;
        goto out;
    }
    memset(&p, 0, sizeof p);
    gh_pg_param_text(&p, user_id);
    gh_pg_param_i64(&p, now);
    if ((rc = gh_pg_run(c, SQL_LEDGER_INSERT, &p, "erasure ledger", NULL)) != GH_OK)
        goto out;
    rc = epoch_bump_on(c);
out:
    rc = gh_pg_tx_end(s, c, rc);
    if (rc == GH_OK)
        epoch_bump_local(s);
    return rc;
}

static gh_err pg_user_purge(struct gh_store *s, const char *user_id)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, user_id);
    return gh_pg_exec(s, SQL_USER_DELETE, &p, "user purge", 0, NULL);
}

/* ---- what only a database file has ---- */

static gh_err pg_integrity_ok(struct gh_store *s)
{
    /* PostgreSQL checks its own pages (data checksums, WAL); a store that answers is "ok". */
    return pg_ping(s);
}

static gh_err pg_snapshot(struct gh_store *s, const char *path)
{
    (void)s;
    (void)path;
    /* PostgreSQL backups are pg_dump archives (gh_store_dump, store_pg_backup.c). */
    gh_log(GH_LOG_ERROR, "no file snapshot of a PostgreSQL store: backups go through pg_dump", NULL,
           "store_unsupported", json_pack("{s:s}", "op", "snapshot"));
    return GH_ERR_CONFIG;
}

static const char *pg_path(struct gh_store *s)
{
    (void)s;
    return ""; /* no file: the URL is a secret and is not a path */
}

static gh_err pg_checkpoint(struct gh_store *s)
{
    /* No WAL file of ours to truncate: the server's WAL and dead tuples are recycled by
     * checkpoints and (auto)vacuum (docs/deployment.md). */
    (void)s;
    return GH_OK;
}

/* ---- sessions and refresh tokens ---- */

#define SESSION_COLS "id, user_id, created_at, last_used_at, expires_at, revoked_at"

static const char SQL_USER_LOGIN_OK[] = "UPDATE users SET last_login_at = $2 WHERE id = $1";
static const char SQL_USER_LOGIN_OK_REHASH[] =
    "UPDATE users SET last_login_at = $2, password_hash = $3, updated_at = $2 WHERE id = $1";
static const char SQL_SESS_INSERT[] =
    "INSERT INTO sessions(id, user_id, created_at, last_used_at, expires_at) "
    "VALUES ($1, $2, $3, $4, $5)";
static const char SQL_SESS_GET[] = "SELECT " SESSION_COLS " FROM sessions WHERE id = $1";
static const char SQL_SESS_GET_LOCK[] =
    "SELECT " SESSION_COLS " FROM sessions WHERE id = $1 FOR UPDATE";
static const char SQL_SESS_TOUCH[] = "UPDATE sessions SET last_used_at = $2 WHERE id = $1";
static const char SQL_SESS_REVOKE[] = "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 "
                                      "WHERE id = $1 AND revoked_at IS NULL";
static const char SQL_SESS_REVOKE_ALL[] =
    "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE revoked_at IS NULL";
static const char SQL_SESS_LIST[] =
    "SELECT " SESSION_COLS " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL "
    "AND expires_at > $2 AND last_used_at > $3 ORDER BY created_at DESC, id LIMIT $4";
static const char SQL_SESS_ALL[] = "SELECT " SESSION_COLS " FROM sessions WHERE user_id = $1 "
                                   "ORDER BY created_at DESC, id LIMIT $2";
static const char SQL_RT_INSERT[] =
    "INSERT INTO refresh_tokens(token_hash, session_id, created_at) VALUES ($1, $2, $3)";
static const char SQL_RT_GET[] =
    "SELECT session_id, used_at FROM refresh_tokens WHERE token_hash = $1";
static const char SQL_RT_GET_LOCK[] =
    "SELECT session_id, used_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE";
static const char SQL_RT_USE[] =
    "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL";
static const char SQL_ACCESS_CHECK[] =
    "SELECT s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.revoked_at, "
    "(SELECT revoked_at FROM signing_keys WHERE kid = $2), u.email, u.email_key, "
    "u.display_name, u.created_at, u.updated_at, u.last_login_at, u.dek_wrapped "
    "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1";

static void map_session(const struct gh_store_row *r, void *out)
{
    gh_store_map_session(r, out);
}

static gh_err insert_refresh(struct pg_conn *c, const char *hash, const char *session_id,
                             int64_t now)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, hash);
    gh_pg_param_text(&p, session_id);
    gh_pg_param_i64(&p, now);
    return gh_pg_run(c, SQL_RT_INSERT, &p, "refresh insert", NULL);
}

static gh_err pg_session_create(struct gh_store *s, const struct gh_session *ss,
                                const char *refresh_hash, const char *new_password_hash)
{
    struct pg_conn *c;
    struct pg_params p = {0};
    long rows = 0;
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    gh_pg_param_text(&p, ss->user_id);
    gh_pg_param_i64(&p, ss->created_at);
    if (new_password_hash)
        gh_pg_param_text(&p, new_password_hash);
    if ((rc = gh_pg_run_count(c, new_password_hash ? SQL_USER_LOGIN_OK_REHASH : SQL_USER_LOGIN_OK,
                              &p, "login succeeded", &rows)) != GH_OK)
        goto out;
    if (rows == 0) {
        rc = GH_ERR_NOT_FOUND;
        goto out;
    }
    memset(&p, 0, sizeof p);
    gh_pg_param_text(&p, ss->id);
    gh_pg_param_text(&p, ss->user_id);
    gh_pg_param_i64(&p, ss->created_at);
    gh_pg_param_i64(&p, ss->last_used_at);
    gh_pg_param_i64(&p, ss->expires_at);
    if ((rc = gh_pg_run(c, SQL_SESS_INSERT, &p, "session insert", NULL)) != GH_OK)
        goto out;
    rc = insert_refresh(c, refresh_hash, ss->id, ss->created_at);
out:
    return gh_pg_tx_end(s, c, rc);
}

static gh_err session_get_on(struct pg_conn *c, const char *sql, const char *id,
                             struct gh_session *out)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, id);
    return gh_pg_run_one(c, sql, &p, "session get", map_session, out);
}

static gh_err revoke_on(struct pg_conn *c, const char *id, const char *reason, int64_t now,
                        long *out_rows)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, id);
    gh_pg_param_i64(&p, now);
    gh_pg_param_text(&p, reason);
    return gh_pg_run_count(c, SQL_SESS_REVOKE, &p, "session revoke", out_rows);
}

/* A refresh token's session id and whether it was used; lock: take its row lock. */
struct refresh_row {
    char *sid; /* GH_ID_LEN + 1 bytes */
    bool *used;
};

static void map_refresh(const struct gh_store_row *r, void *out)
{
    const struct refresh_row *rr = out;
    r->ops->text(r, 0, rr->sid, GH_ID_LEN + 1);
    *rr->used = !r->ops->is_null(r, 1);
}

static gh_err refresh_get_on(struct pg_conn *c, const char *hash, bool lock,
                             char sid[GH_ID_LEN + 1], bool *used)
{
    struct pg_params p = {0};
    struct refresh_row rr = {.sid = sid, .used = used};
    gh_pg_param_text(&p, hash);
    return gh_pg_run_one(c, lock ? SQL_RT_GET_LOCK : SQL_RT_GET, &p, "refresh get", map_refresh,
                         &rr);
}

/* Exactly one winner across connections and processes: the token's row is locked first
 * (SELECT ... FOR UPDATE). A concurrent rotation of the same token waits on that lock, then
 * reads the row as committed by the winner (READ COMMITTED re-reads a locked row's latest
 * version), finds it used, and revokes the session as a replay. The consuming UPDATE is also
 * conditional (used_at IS NULL) and must touch exactly one row. */
static gh_err pg_refresh_rotate(struct gh_store *s, const char *old_hash, const char *new_hash,
                                int64_t now, int64_t idle_timeout, enum gh_rotate_result *out,
                                struct gh_session *out_session)
{
    *out = GH_ROTATE_INVALID;
    memset(out_session, 0, sizeof *out_session);
    struct pg_conn *c;
    char sid[GH_ID_LEN + 1];
    struct pg_params p = {0};
    bool used = false, bumped = false;
    long rows = 0;
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    rc = refresh_get_on(c, old_hash, true, sid, &used);
    if (rc == GH_ERR_NOT_FOUND) {
        rc = GH_OK; /* commit: nothing to do */
        goto out;
    }
    if (rc != GH_OK)
        goto out;
    if ((rc = session_get_on(c, SQL_SESS_GET_LOCK, sid, out_session)) != GH_OK)
        goto out;
    if (used) {
        if (out_session->revoked_at == 0) {
            if ((rc = revoke_on(c, sid, "refresh_reuse", now, &rows)) != GH_OK)
                goto out;
            if ((rc = epoch_bump_on(c)) != GH_OK)
                goto out;
            bumped = true;
            out_session->revoked_at = now;
        }
        *out = GH_ROTATE_REUSED;
        goto out;
    }
    if (!gh_session_is_active(out_session, now, idle_timeout))
        goto out;
    gh_pg_param_text(&p, old_hash);
    gh_pg_param_i64(&p, now);
    if ((rc = gh_pg_run_count(c, SQL_RT_USE, &p, "refresh use", &rows)) != GH_OK)
        goto out;
    if (rows != 1) {
        rc = GH_ERR_STORE; /* cannot happen under the row lock */
        goto out;
    }
    if ((rc = insert_refresh(c, new_hash, sid, now)) != GH_OK)
        goto out;
    memset(&p, 0, sizeof p);
    gh_pg_param_text(&p, sid);
    gh_pg_param_i64(&p, now);
    if ((rc = gh_pg_run(c, SQL_SESS_TOUCH, &p, "session touch", NULL)) != GH_OK)
        goto out;
    out_session->last_used_at = now;
    *out = GH_ROTATE_OK;
out:
    if ((rc = gh_pg_tx_end(s, c, rc)) != GH_OK)
        *out = GH_ROTATE_INVALID;
    if (rc == GH_OK && bumped)
        epoch_bump_local(s);
    return rc;
}

static gh_err pg_session_get(struct gh_store *s, const char *id, struct gh_session *out)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, id);
    return gh_pg_query_one(s, SQL_SESS_GET, &p, "session get", map_session, out);
}

static gh_err pg_session_revoke(struct gh_store *s, const char *id, const char *user_id,
                                const char *reason, int64_t now)
{
    struct pg_conn *c;
    struct gh_session ss;
    long rows = 0;
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    if ((rc = session_get_on(c, SQL_SESS_GET_LOCK, id, &ss)) != GH_OK)
        goto out;
    if (user_id && strcmp(ss.user_id, user_id) != 0) {
        rc = GH_ERR_NOT_FOUND;
        goto out;
    }
    if ((rc = revoke_on(c, id, reason, now, &rows)) != GH_OK)
        goto out;
    if (rows > 0)
        rc = epoch_bump_on(c);
out:
    rc = gh_pg_tx_end(s, c, rc);
    if (rc == GH_OK && rows > 0)
        epoch_bump_local(s);
    return rc;
}

static gh_err pg_session_by_refresh(struct gh_store *s, const char *refresh_hash,
                                    struct gh_session *out)
{
    ACQUIRE(s, c);
    char sid[GH_ID_LEN + 1];
    bool used;
    gh_err rc = refresh_get_on(c, refresh_hash, false, sid, &used);
    if (rc == GH_OK)
        rc = session_get_on(c, SQL_SESS_GET, sid, out);
    gh_pg_release(PGS(s), c);
    return rc;
}

static gh_err read_sessions(struct pg_conn *c, const char *sql, const struct pg_params *p,
                            size_t max, const char *what, struct gh_session **out, size_t *out_n)
{
    PGresult *r = NULL;
    gh_err rc = gh_pg_run(c, sql, p, what, &r);
    if (rc != GH_OK)
        return rc;
    struct gh_session *arr = gh_calloc(max ? max : 1, sizeof *arr);
    if (!arr) {
        PQclear(r);
        return GH_ERR_NOMEM;
    }
    *out_n = gh_pg_map_rows(r, max, map_session, arr, sizeof *arr);
    PQclear(r);
    *out = arr;
    return GH_OK;
}

static gh_err pg_sessions_list(struct gh_store *s, const char *user_id, int64_t now,
                               int64_t idle_timeout, size_t max, struct gh_session **out,
                               size_t *out_n)
{
    ACQUIRE(s, c);
    struct pg_params p = {0};
    gh_pg_param_text(&p, user_id);
    gh_pg_param_i64(&p, now);
    gh_pg_param_i64(&p, now - idle_timeout);
    gh_pg_param_i64(&p, (int64_t)max);
    gh_err rc = read_sessions(c, SQL_SESS_LIST, &p, max, "sessions list", out, out_n);
    gh_pg_release(PGS(s), c);
    return rc;
}

static gh_err pg_sessions_all(struct gh_store *s, const char *user_id, size_t max,
                              struct gh_session **out, size_t *out_n)
{
    ACQUIRE(s, c);
    struct pg_params p = {0};
    gh_pg_param_text(&p, user_id);
    gh_pg_param_i64(&p, (int64_t)max);
    gh_err rc = read_sessions(c, SQL_SESS_ALL, &p, max, "sessions all", out, out_n);
    gh_pg_release(PGS(s), c);
    return rc;
}

static gh_err pg_sessions_revoke_all(struct gh_store *s, const char *reason, int64_t now,
                                     long *out_n)
{
    struct pg_params p = {0};
    gh_pg_param_i64(&p, now);
    gh_pg_param_text(&p, reason);
    return gh_pg_exec(s, SQL_SESS_REVOKE_ALL, &p, "revoke all", GH_PG_TX | GH_PG_REVOKES, out_n);
}

struct access_row {
    struct gh_session *session;
    struct gh_user *user; /* may be NULL */
    bool *key_revoked;
};

static void map_access(const struct gh_store_row *r, void *out)
{
    const struct access_row *a = out;
    gh_store_map_access(r, a->session, a->user, a->key_revoked);
}

static gh_err pg_access_check(struct gh_store *s, const char *sid, const char *kid,
                              struct gh_session *out, struct gh_user *out_user,
                              bool *out_key_revoked)
{
    struct pg_params p = {0};
    struct access_row a = {.session = out, .user = out_user, .key_revoked = out_key_revoked};
    gh_pg_param_text(&p, sid);
    gh_pg_param_text(&p, kid);
    return gh_pg_query_one(s, SQL_ACCESS_CHECK, &p, "access check", map_access, &a);
}

/* ---- failed-login budgets ---- */

static const char SQL_THR_GET[] = "SELECT failures, lock_level, locked_until, updated_at "
                                  "FROM login_throttle WHERE subject = $1";
static const char SQL_THR_GET_LOCK[] = "SELECT failures, lock_level, locked_until, updated_at "
                                       "FROM login_throttle WHERE subject = $1 FOR UPDATE";
static const char SQL_THR_ENSURE[] =
    "INSERT INTO login_throttle(subject, user_id, failures, lock_level, locked_until, "
    "updated_at) VALUES ($1, $2, 0, 0, 0, 0) ON CONFLICT (subject) DO NOTHING";
static const char SQL_THR_SET[] =
    "UPDATE login_throttle SET failures = $2, lock_level = $3, locked_until = $4, "
    "updated_at = $5 WHERE subject = $1";
static const char SQL_THR_DEL[] = "DELETE FROM login_throttle WHERE subject = $1";
static const char SQL_THR_DEL_USER[] = "DELETE FROM login_throttle WHERE user_id = $1";

static void map_throttle(const struct gh_store_row *r, void *out)
{
    gh_store_map_throttle(r, out);
}

static gh_err throttle_get_on(struct pg_conn *c, const char *sql, const char *subject,
                              struct gh_throttle *out)
{
    struct pg_params p = {0};
    memset(out, 0, sizeof *out);
    gh_pg_param_text(&p, subject);
    return gh_pg_run_one(c, sql, &p, "throttle get", map_throttle, out);
}

static gh_err pg_throttle_get(struct gh_store *s, const char *subject, struct gh_throttle *out)
{
    ACQUIRE(s, c);
    gh_err rc = throttle_get_on(c, SQL_THR_GET, subject, out);
    gh_pg_release(PGS(s), c);
    return rc;
}

/* Counted exactly once per failure across instances: the row is created if absent (a fresh row
 * is all zeros, as a missing one reads) and then locked, so concurrent failures queue on it
 * instead of both reading the same count. */
static gh_err pg_throttle_fail(struct gh_store *s, const char *subject, const char *user_id,
                               int64_t now, const struct gh_lockout_policy *pol,
                               struct gh_throttle *out, bool *out_locked_now)
{
    *out_locked_now = false;
    struct pg_conn *c;
    struct gh_throttle t = {0};
    struct pg_params p = {0};
    bool locked_now = false;
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    gh_pg_param_text(&p, subject);
    gh_pg_param_text(&p, user_id);
    if ((rc = gh_pg_run(c, SQL_THR_ENSURE, &p, "throttle ensure", NULL)) != GH_OK)
        goto out;
    if ((rc = throttle_get_on(c, SQL_THR_GET_LOCK, subject, &t)) != GH_OK)
        goto out;
    locked_now = gh_store_throttle_count_failure(&t, now, pol);
    memset(&p, 0, sizeof p);
    gh_pg_param_text(&p, subject);
    gh_pg_param_i64(&p, t.failures);
    gh_pg_param_i64(&p, t.lock_level);
    gh_pg_param_i64(&p, t.locked_until);
    gh_pg_param_i64(&p, t.updated_at);
    rc = gh_pg_run(c, SQL_THR_SET, &p, "throttle put", NULL);
out:
    if ((rc = gh_pg_tx_end(s, c, rc)) == GH_OK) {
        *out = t;
        *out_locked_now = locked_now;
    }
    return rc;
}

static gh_err pg_throttle_clear(struct gh_store *s, const char *subject)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, subject);
    return gh_pg_exec(s, SQL_THR_DEL, &p, "throttle clear", 0, NULL);
}

static gh_err pg_throttle_clear_user(struct gh_store *s, const char *user_id, long *out_n)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, user_id);
    return gh_pg_exec(s, SQL_THR_DEL_USER, &p, "throttle clear user", 0, out_n);
}

/* ---- keys ---- */

static const char SQL_KEYS_LIST[] =
    "SELECT kid, alg, public_key, wrapped_private, created_at, activates_at, retired_at, "
    "revoked_at FROM signing_keys ORDER BY activates_at, generation";
static const char SQL_KEY_INSERT[] =
    "INSERT INTO signing_keys(kid, alg, public_key, wrapped_private, created_at, activates_at, "
    "generation) VALUES ($1, $2, $3, $4, $5, $6, "
    "(SELECT coalesce(max(generation), 0) + 1 FROM signing_keys))";
static const char SQL_KEY_RETIRE[] =
    "UPDATE signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL";
static const char SQL_KEY_REVOKE[] =
    "UPDATE signing_keys SET revoked_at = $2 WHERE kid = $1 AND revoked_at IS NULL";
static const char SQL_KEY_REWRAP[] = "UPDATE signing_keys SET wrapped_private = $2 WHERE kid = $1";
static const char SQL_COUNTER_GET[] = "SELECT value FROM change_counters WHERE name = $1";
static const char SQL_COUNTER_BUMP[] =
    "UPDATE change_counters SET value = value + 1 WHERE name = $1";

static void map_key(const struct gh_store_row *r, void *out)
{
    gh_store_map_key(r, out);
}

static gh_err pg_keys_list(struct gh_store *s, struct gh_stored_key **out, size_t *out_n)
{
    ACQUIRE(s, c);
    PGresult *r = NULL;
    struct gh_stored_key *arr = NULL;
    gh_err rc = gh_pg_run(c, SQL_KEYS_LIST, NULL, "keys list", &r);
    if (rc != GH_OK)
        goto out;
    int n = PQntuples(r);
    if (n > 4096) {
        rc = GH_ERR_TOO_LARGE;
        goto out;
    }
    if (!(arr = gh_calloc(n ? (size_t)n : 1, sizeof *arr))) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    *out_n = gh_pg_map_rows(r, (size_t)n, map_key, arr, sizeof *arr);
    *out = arr;
    arr = NULL;
out:
    PQclear(r);
    gh_free(arr);
    gh_pg_release(PGS(s), c);
    return rc;
}

static gh_err bump_on(struct pg_conn *c, const char *name)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, name);
    return gh_pg_run(c, SQL_COUNTER_BUMP, &p, "counter bump", NULL);
}

static gh_err pg_key_insert(struct gh_store *s, const struct gh_stored_key *k)
{
    struct pg_conn *c;
    struct pg_params p = {0};
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    /* The counter row first: its lock serialises key inserts, so max(generation) + 1 is unique
     * even when two instances rotate at once. */
    if ((rc = bump_on(c, "keys")) != GH_OK)
        goto out;
    gh_pg_param_text(&p, k->kid);
    gh_pg_param_text(&p, k->alg);
    gh_pg_param_text(&p, k->public_key);
    gh_pg_param_text(&p, k->wrapped_private);
    gh_pg_param_i64(&p, k->created_at);
    gh_pg_param_i64(&p, k->activates_at);
    rc = gh_pg_run(c, SQL_KEY_INSERT, &p, "key insert", NULL);
out:
    return gh_pg_tx_end(s, c, rc);
}

static gh_err pg_key_mark(struct gh_store *s, const char *kid, int64_t retired_at,
                          int64_t revoked_at)
{
    struct pg_conn *c;
    long changed = 0, n = 0;
    gh_err rc = gh_pg_tx_begin(s, false, &c);
    if (rc != GH_OK)
        return rc;
    if ((rc = bump_on(c, "keys")) != GH_OK)
        goto out;
    for (int pass = 0; pass < 2; pass++) {
        int64_t at = pass == 0 ? retired_at : revoked_at;
        if (!at)
            continue;
        struct pg_params p = {0};
        gh_pg_param_text(&p, kid);
        gh_pg_param_i64(&p, at);
        if ((rc = gh_pg_run_count(c, pass == 0 ? SQL_KEY_RETIRE : SQL_KEY_REVOKE, &p,
                                  pass == 0 ? "key retire" : "key revoke", &n)) != GH_OK)
            goto out;
        changed += n;
    }
    rc = changed == 0 ? GH_ERR_NOT_FOUND : epoch_bump_on(c);
out:
    rc = gh_pg_tx_end(s, c, rc);
    if (rc == GH_OK)
        epoch_bump_local(s);
    return rc;
}

static gh_err pg_key_rewrap(struct gh_store *s, const char *kid, const char *wrapped)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, kid);
    gh_pg_param_text(&p, wrapped);
    return gh_pg_exec(s, SQL_KEY_REWRAP, &p, "key rewrap", GH_PG_MUST_TOUCH, NULL);
}

static const char SQL_WK_GET[] = "SELECT wrapped FROM wrapped_keys WHERE name = $1";
static const char SQL_WK_INSERT[] = "INSERT INTO wrapped_keys(name, wrapped, created_at) "
                                    "VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";

static void map_wrapped(const struct gh_store_row *r, void *out)
{
    r->ops->text(r, 0, out, GH_HASH_TEXT_MAX + 1);
}

static gh_err wk_get_on(struct pg_conn *c, const char *name, char out[GH_HASH_TEXT_MAX + 1])
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, name);
    return gh_pg_run_one(c, SQL_WK_GET, &p, "wrapped key get", map_wrapped, out);
}

static gh_err pg_wrapped_key_get(struct gh_store *s, const char *name,
                                 char out[GH_HASH_TEXT_MAX + 1])
{
    ACQUIRE(s, c);
    gh_err rc = wk_get_on(c, name, out);
    gh_pg_release(PGS(s), c);
    return rc;
}

static gh_err pg_wrapped_key_put_if_absent(struct gh_store *s, const char *name, const char *text,
                                           int64_t now, char out[GH_HASH_TEXT_MAX + 1])
{
    ACQUIRE(s, c);
    struct pg_params p = {0};
    gh_err rc;
    /* One statement each, no transaction needed: under READ COMMITTED the read after an insert
     * that lost to another instance's sees the winner's committed value. */
    gh_pg_param_text(&p, name);
    gh_pg_param_text(&p, text);
    gh_pg_param_i64(&p, now);
    if ((rc = gh_pg_run(c, SQL_WK_INSERT, &p, "wrapped key insert", NULL)) == GH_OK)
        rc = wk_get_on(c, name, out);
    gh_pg_release(PGS(s), c);
    return rc;
}

static gh_err pg_counter_get(struct gh_store *s, const char *name, int64_t *out)
{
    struct pg_params p = {0};
    gh_pg_param_text(&p, name);
    return gh_pg_query_one(s, SQL_COUNTER_GET, &p, "counter get", gh_pg_map_i64, out);
}

/* ---- master-key rotation ---- */

static const char SQL_WK_PAGE[] =
    "SELECT name, wrapped FROM wrapped_keys WHERE name > $1 ORDER BY name LIMIT 64";
static const char SQL_WK_CAS[] =
    "UPDATE wrapped_keys SET wrapped = $3 WHERE name = $1 AND wrapped = $2";
static const char SQL_DEK_PAGE[] = "SELECT id, dek_wrapped FROM users WHERE id > $1 AND "
                                   "dek_wrapped IS NOT NULL ORDER BY id LIMIT 64";
static const char SQL_DEK_CAS[] =
    "UPDATE users SET dek_wrapped = $3 WHERE id = $1 AND dek_wrapped = $2";

/* A page row: (name or user id, wrapped text). */
struct wrapped_row {
    char id[128];
    char text[256];
};

static void map_wrapped_row(const struct gh_store_row *r, void *out)
{
    struct wrapped_row *w = out;
    r->ops->text(r, 0, w->id, sizeof w->id);
    r->ops->text(r, 1, w->text, sizeof w->text);
}

static gh_err rewrap_table(struct gh_store *s, const char *kind, const char *select_sql,
                           const char *update_sql, gh_store_rewrap_fn cb, void *ctx, long *changed)
{
    char last[128] = "";
    for (;;) {
        /* Page through by id so that no connection is held while cb runs. */
        struct wrapped_row page[64];
        struct pg_params p = {0};
        size_t n = 0;
        gh_pg_param_text(&p, last);
        gh_err rc = query_rows(s, select_sql, &p, "rewrap page", 64, map_wrapped_row, page,
                               sizeof page[0], &n);
        if (rc != GH_OK)
            return rc;
        for (size_t i = 0; i < n; i++) {
            char repl[256];
            if (!cb(kind, page[i].id, page[i].text, repl, sizeof repl, ctx))
                continue;
            long rows = 0;
            memset(&p, 0, sizeof p);
            gh_pg_param_text(&p, page[i].id);
            gh_pg_param_text(&p, page[i].text);
            gh_pg_param_text(&p, repl);
            rc = gh_pg_exec(s, update_sql, &p, "rewrap", 0, &rows);
            if (rc == GH_OK && rows == 1)
                (*changed)++;
            sodium_memzero(repl, sizeof repl);
            if (rc != GH_OK)
                return rc;
        }
        if (n < 64)
            return GH_OK;
        snprintf(last, sizeof last, "%s", page[n - 1].id);
    }
}

static gh_err pg_rewrap_all(struct gh_store *s, gh_store_rewrap_fn cb, void *ctx, long *out_changed)
{
    long changed = 0;
    gh_err rc = rewrap_table(s, "working-key", SQL_WK_PAGE, SQL_WK_CAS, cb, ctx, &changed);
    if (rc == GH_OK)
        rc = rewrap_table(s, "user-dek", SQL_DEK_PAGE, SQL_DEK_CAS, cb, ctx, &changed);
    *out_changed = changed;
    return rc;
}

/* ---- the backend table (store_backend.h) ---- */

static const struct gh_store_ops pg_ops = {
    .name = "postgresql",
    .free = pg_free,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
    .ping = pg_ping,
    .user_insert = pg_user_insert,
    .users_insert_all = pg_users_insert_all,
    .users_legacy = pg_users_legacy,
    .user_seal_legacy = pg_user_seal_legacy,
    .user_erase = pg_user_erase,
    .integrity_ok = pg_integrity_ok,
    .user_purge = pg_user_purge,
    .snapshot = pg_snapshot,
    .path = pg_path,
    .checkpoint = pg_checkpoint,
    .users_each = pg_users_each,
    .user_get = pg_user_get,
    .user_find_by_email_key = pg_user_find_by_email_key,
    .user_set_password = pg_user_set_password,
    .user_set_admin = pg_user_set_admin,
    .user_sessions_revoke = pg_user_sessions_revoke,
    .session_create = pg_session_create,
    .refresh_rotate = pg_refresh_rotate,
    .session_get = pg_session_get,
    .session_revoke = pg_session_revoke,
    .session_by_refresh = pg_session_by_refresh,
    .sessions_list = pg_sessions_list,
    .sessions_all = pg_sessions_all,
    .sessions_revoke_all = pg_sessions_revoke_all,
    .access_check = pg_access_check,
    .keys_list = pg_keys_list,
    .key_insert = pg_key_insert,
    .key_mark = pg_key_mark,
    .key_rewrap = pg_key_rewrap,
    .wrapped_key_get = pg_wrapped_key_get,
    .wrapped_key_put_if_absent = pg_wrapped_key_put_if_absent,
    .throttle_get = pg_throttle_get,
    .throttle_fail = pg_throttle_fail,
    .throttle_clear = pg_throttle_clear,
    .throttle_clear_user = pg_throttle_clear_user,
    .epoch = pg_epoch,
    .rewrap_all = pg_rewrap_all,
    .counter_get = pg_counter_get,
    .audit_append = gh_pg_audit_append,
    .audit_tail = gh_pg_audit_tail,
    .audit_last_checkpoint = gh_pg_audit_last_checkpoint,
    .audit_checkpoint_insert = gh_pg_audit_checkpoint_insert,
    .audit_read = gh_pg_audit_read,
    .audit_read_user = gh_pg_audit_read_user,
    .audit_first_seq_at_or_after = gh_pg_audit_first_seq_at_or_after,
    .audit_prune_before = gh_pg_audit_prune_before,
};
