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

struct gh_store {
    _Atomic uint64_t *epoch; /* shared mapping of "<db>-epoch" */
    struct conn conns[POOL_SIZE];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char path[4096];
};

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
gh_err gh_sqlite_map_rc(int rc);
void gh_sqlite_log(sqlite3 *db, int rc, const char *what);

#endif
