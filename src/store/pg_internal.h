/* Shared by the PostgreSQL backend's files only (src/store/store_pg*.c): the connection pool and
 * the helpers that run literal SQL as per-connection prepared statements with bound parameters.
 * Nothing outside src/store/ may include this. */
#ifndef GH_STORE_PG_INTERNAL_H
#define GH_STORE_PG_INTERNAL_H

#include "store/pq_dl.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "store/store_audit.h"
#include "store/store_backend.h"
#include "store/store_maintenance.h"
#include "store/store_map.h"

#define GH_PG_POOL_SIZE 8 /* connections per process, like the SQLite pool */
#define GH_PG_STMTS 96    /* distinct literal statements a connection may prepare */
#define GH_PG_PARAMS 12   /* most parameters of one statement */

struct pg_conn {
    PGconn *pg;
    const char *prepared[GH_PG_STMTS]; /* literal SQL, by address; statement name "g<index>" */
    int n_prepared;
    bool busy;
    bool broken; /* reconnect before the next use */
};

struct gh_pg_store {
    struct gh_store base; /* first: the store.c view (ops) */
    char *url;            /* sodium_malloc'd: may carry a password; never logged */
    struct pg_conn conns[GH_PG_POOL_SIZE];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int64_t retry_at_ms; /* under lock: no reconnect attempt before this (monotonic ms) */
    int64_t backoff_ms;  /* under lock: the next wait after a failed reconnect */
    /* The revocation epoch as this process sees it (see pg_epoch in store_pg.c). */
    _Atomic uint64_t epoch;
    _Atomic int64_t epoch_db;         /* last change_counters 'revocations' value read */
    _Atomic int64_t epoch_checked_ms; /* when it was read (monotonic ms) */
    atomic_flag epoch_refreshing;
};

/* The PostgreSQL store behind a gh_store whose ops are PostgreSQL's. */
#define PGS(s) ((struct gh_pg_store *)(s))

/* Bound parameters, all passed as text (the server infers the types from the statement). */
struct pg_params {
    int n;
    bool overflow;
    const char *v[GH_PG_PARAMS];
    char num[GH_PG_PARAMS][24];
};
void gh_pg_param_text(struct pg_params *p, const char *v); /* NULL binds SQL NULL */
void gh_pg_param_i64(struct pg_params *p, int64_t v);

/* Take a connection (waits while all are busy; reconnects a broken one unless the backoff says
 * not yet). NULL: no usable connection, the operation fails with GH_ERR_STORE at once. */
struct pg_conn *gh_pg_acquire(struct gh_pg_store *s);
/* Give it back; rolls back a transaction left open (a bug path) and keeps the pool healthy. */
void gh_pg_release(struct gh_pg_store *s, struct pg_conn *c);

/* Run a string LITERAL (prepared once per connection, cached by address) with p (may be NULL).
 * GH_OK: *out (may be NULL: cleared here) holds the result, PQclear it. Otherwise the error is
 * logged as the fixed text `what` plus SQLSTATE (never the server's message: it can quote
 * values, hosts and user names) and *out is NULL. Unique and foreign-key violations return
 * GH_ERR_CONFLICT unlogged. */
gh_err gh_pg_run(struct pg_conn *c, const char *literal_sql, const struct pg_params *p,
                 const char *what, PGresult **out);
/* Run and report the number of rows the command touched. */
gh_err gh_pg_run_count(struct pg_conn *c, const char *literal_sql, const struct pg_params *p,
                       const char *what, long *out_rows);
/* Send a literal prepared statement in single-row mode; rows then come from PQgetResult. */
gh_err gh_pg_send_rows(struct pg_conn *c, const char *literal_sql, const struct pg_params *p,
                       const char *what);
/* Drain what is left of a sent statement; the final status as gh_err. */
gh_err gh_pg_finish_rows(struct pg_conn *c, PGresult *last, const char *what);

gh_err gh_pg_begin(struct pg_conn *c);
/* A read-only transaction on one snapshot (REPEATABLE READ). */
gh_err gh_pg_begin_snapshot(struct pg_conn *c);
gh_err gh_pg_commit(struct pg_conn *c);
void gh_pg_rollback(struct pg_conn *c);

/* Column helpers: NULL reads as "" / 0. */
void gh_pg_copy(const PGresult *r, int row, int col, char *dst, size_t size);
int64_t gh_pg_i64(const PGresult *r, int row, int col);
bool gh_pg_is_null(const PGresult *r, int row, int col);

/* Row `row` of a result as store_map.h reads it (exact readers: PostgreSQL text cannot hold a
 * NUL byte, so "exact" means not NULL, not too long, and for integers all digits). */
struct gh_pg_row {
    struct gh_store_row base;
    const PGresult *res;
    int row;
};
struct gh_pg_row gh_pg_row_at(const PGresult *r, int row);
/* Maps one row into out (the caller's struct); NULL: the row's existence is all that counts. */
typedef void (*gh_pg_map_fn)(const struct gh_store_row *row, void *out);
/* Map rows 0.. of r, at most max, into arr (elements of elem_size bytes); how many. */
size_t gh_pg_map_rows(const PGresult *r, size_t max, gh_pg_map_fn map, void *arr, size_t elem_size);
/* A mapper for a row whose column 0 is an integer (out: int64_t). */
void gh_pg_map_i64(const struct gh_store_row *r, void *out);

/* Run a statement that must yield exactly one row and map it into out: GH_ERR_NOT_FOUND when it
 * yields none (or several); errors as gh_pg_run. */
gh_err gh_pg_run_one(struct pg_conn *c, const char *literal_sql, const struct pg_params *p,
                     const char *what, gh_pg_map_fn map, void *out);
/* The same on a connection of s, taken and given back here. */
gh_err gh_pg_query_one(struct gh_store *s, const char *literal_sql, const struct pg_params *p,
                       const char *what, gh_pg_map_fn map, void *out);

/* gh_pg_exec: what runs around its one statement. */
enum {
    GH_PG_TX = 1,         /* inside BEGIN ... COMMIT (rolled back when anything fails) */
    GH_PG_MUST_TOUCH = 2, /* no row touched: GH_ERR_NOT_FOUND (and nothing committed) */
    GH_PG_REVOKES = 4,    /* bump the revocation epoch in the transaction, locally after it */
};
/* Take a connection of s, run one statement that returns no rows we read (with flags, above),
 * give the connection back. *out_rows (may be NULL): rows touched, set only on GH_OK. */
gh_err gh_pg_exec(struct gh_store *s, const char *literal_sql, const struct pg_params *p,
                  const char *what, unsigned flags, long *out_rows);

/* A transaction on a connection of s: GH_OK and *out when BEGIN (or, snapshot, the read-only
 * REPEATABLE READ one) succeeded; otherwise the connection is back in the pool. */
gh_err gh_pg_tx_begin(struct gh_store *s, bool snapshot, struct pg_conn **out);
/* Close it: COMMIT when rc is GH_OK, else ROLLBACK; give the connection back. The final rc. */
gh_err gh_pg_tx_end(struct gh_store *s, struct pg_conn *c, gh_err rc);

/* store_pg_audit.c: the audit operations of the PostgreSQL ops table. */
gh_err gh_pg_audit_append(struct gh_store *s, struct gh_audit_row *row, gh_audit_seal_fn seal,
                          void *ctx);
gh_err gh_pg_audit_tail(struct gh_store *s, int64_t *out_seq, char out_hash[GH_AUDIT_HASH_HEX + 1]);
gh_err gh_pg_audit_last_checkpoint(struct gh_store *s, int64_t *out_seq);
gh_err gh_pg_audit_checkpoint_insert(struct gh_store *s, const struct gh_audit_mark *cp);
gh_err gh_pg_audit_read(struct gh_store *s, const struct gh_audit_reader *r);
gh_err gh_pg_audit_read_user(struct gh_store *s, const char *user_id,
                             gh_err (*fn)(void *ctx, const struct gh_audit_row *r), void *ctx);
gh_err gh_pg_audit_first_seq_at_or_after(struct gh_store *s, int64_t ts, int64_t *out_seq);
gh_err gh_pg_audit_prune_before(struct gh_store *s, int64_t seq, int64_t now, gh_audit_sign_fn sign,
                                void *ctx, int64_t *out_deleted);

#endif
