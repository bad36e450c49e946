/* Shared by the SQLite backend's files only (src/store/store_sqlite*.c): the connection pool
 * and the helpers that run literal SQL through cached prepared statements. Nothing outside
 * src/store/ may include this. */
#ifndef GH_STORE_SQLITE_INTERNAL_H
#define GH_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

#include "store/store.h"
#include "store/store_audit.h"
#include "store/store_backend.h"
#include "store/store_maintenance.h"
#include "store/store_map.h"

#define POOL_SIZE 8
#define EXTRA_STMTS 48
#define GH_SQLITE_CORE_STMTS 64

enum stmt_id;

struct extra_stmt {
    const char *sql; /* a string literal: cached by its address */
    sqlite3_stmt *st;
};

struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[GH_SQLITE_CORE_STMTS];
    struct extra_stmt extra[EXTRA_STMTS];
    bool busy;
};

struct gh_sqlite_store {
    struct gh_store base;    /* first: the store.c view (ops) */
    _Atomic uint64_t *epoch; /* shared mapping of "<db>-epoch" */
    struct conn conns[POOL_SIZE];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char path[4096];
};

/* The SQLite store behind a gh_store whose ops are SQLite's. */
#define SQ(s) ((struct gh_sqlite_store *)(s))

/* Take a connection from the pool (waits when all are busy) / give it back. */
struct conn *gh_sqlite_acquire(struct gh_store *s);
void gh_sqlite_release(struct gh_store *s, struct conn *c);
/* The cached prepared statement for a string LITERAL (cached by address), reset and with its
 * bindings cleared; NULL on failure (logged). SQL is never built at run time. */
sqlite3_stmt *gh_sqlite_prepare(struct conn *c, const char *literal_sql);
void gh_sqlite_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Step to completion, ignoring rows; maps the result to gh_err. */
gh_err gh_sqlite_exec(struct conn *c, sqlite3_stmt *st, const char *what);
gh_err gh_sqlite_begin(struct conn *c);
gh_err gh_sqlite_commit(struct conn *c);
void gh_sqlite_rollback(struct conn *c);
void gh_sqlite_copy_col(sqlite3_stmt *st, int col, char *dst, size_t size);
/* The current row of st as store_map.h reads it (exact readers: a TEXT value that fits without
 * NUL, an INTEGER value). */
struct gh_sqlite_row {
    struct gh_store_row base;
    sqlite3_stmt *st;
};
struct gh_sqlite_row gh_sqlite_row_of(sqlite3_stmt *st);
gh_err gh_sqlite_map_rc(int rc);
void gh_sqlite_log(sqlite3 *db, int rc, const char *what);

/* store_sqlite_audit.c: the audit operations of the SQLite ops table. */
gh_err gh_sqlite_audit_append(struct gh_store *s, struct gh_audit_row *row, gh_audit_seal_fn seal,
                              void *ctx);
gh_err gh_sqlite_audit_tail(struct gh_store *s, int64_t *out_seq,
                            char out_hash[GH_AUDIT_HASH_HEX + 1]);
gh_err gh_sqlite_audit_last_checkpoint(struct gh_store *s, int64_t *out_seq);
gh_err gh_sqlite_audit_checkpoint_insert(struct gh_store *s, const struct gh_audit_mark *cp);
gh_err gh_sqlite_audit_read(struct gh_store *s, const struct gh_audit_reader *r);
gh_err gh_sqlite_audit_read_user(struct gh_store *s, const char *user_id,
                                 gh_err (*fn)(void *ctx, const struct gh_audit_row *r), void *ctx);
gh_err gh_sqlite_audit_first_seq_at_or_after(struct gh_store *s, int64_t ts, int64_t *out_seq);
gh_err gh_sqlite_audit_prune_before(struct gh_store *s, int64_t seq, int64_t now,
                                    gh_audit_sign_fn sign, void *ctx, int64_t *out_deleted);

#endif
