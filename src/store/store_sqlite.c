/* The SQLite backend of store.h: a fixed pool of connections (WAL, synchronous=FULL, foreign
 * keys, secure_delete), each with its own cache of prepared statements built from literal SQL.
 * Lifetime: connections live as long as the gh_store; a statement is reset before release. */
#include <fcntl.h>
#include <time.h>
#include <stdlib.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/migrations.h"
#include "store/sqlite_internal.h"
#include "store/store.h"
#include "store/store_backend.h"
#include "core/banned.h"

#define BUSY_TIMEOUT_MS 5000

/* Every statement the backend runs, as literal SQL. Indexes into conn->stmts. */
enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_USER_INSERT,
    S_USER_GET,
    S_USER_BY_EMAIL,
    S_USER_SET_PW,
    S_USER_LOGIN_OK,
    S_USER_LOGIN_OK_REHASH,
    S_SESS_INSERT,
    S_SESS_GET,
    S_SESS_TOUCH,
    S_SESS_REVOKE,
    S_SESS_REVOKE_USER_EXCEPT,
    S_SESS_REVOKE_ALL,
    S_SESS_LIST,
    S_RT_INSERT,
    S_RT_GET,
    S_RT_USE,
    S_ACCESS_CHECK,
    S_KEYS_LIST,
    S_KEY_INSERT,
    S_KEY_RETIRE,
    S_KEY_REVOKE,
    S_KEY_REWRAP,
    S_WK_GET,
    S_WK_INSERT,
    S_COUNTER_GET,
    S_COUNTER_BUMP,
    S_THR_GET,
    S_THR_PUT,
    S_THR_DEL_USER,
    S_SCHEMA_VERSION,
    S_PING,
    S_COUNT
};
_Static_assert(S_COUNT <= GH_SQLITE_CORE_STMTS, "raise GH_SQLITE_CORE_STMTS");

static const char *const sql_text[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_USER_INSERT] =
        "INSERT INTO users(id, email, email_key, display_name, password_hash, created_at, "
        "updated_at, dek_wrapped, is_admin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
    [S_USER_GET] = "SELECT id, email, email_key, display_name, password_hash, created_at, "
                   "updated_at, last_login_at, dek_wrapped, is_admin FROM users WHERE id = ?1",
    [S_USER_BY_EMAIL] = "SELECT id, email, email_key, display_name, password_hash, created_at, "
                        "updated_at, last_login_at, dek_wrapped, is_admin FROM users "
                        "WHERE email_key = ?1",
    [S_USER_SET_PW] = "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
    [S_USER_LOGIN_OK] = "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
    [S_USER_LOGIN_OK_REHASH] =
        "UPDATE users SET last_login_at = ?2, password_hash = ?3, updated_at = ?2 WHERE id = ?1",
    [S_SESS_INSERT] = "INSERT INTO sessions(id, user_id, created_at, last_used_at, expires_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_SESS_GET] = "SELECT id, user_id, created_at, last_used_at, expires_at, revoked_at "
                   "FROM sessions WHERE id = ?1",
    [S_SESS_TOUCH] = "UPDATE sessions SET last_used_at = ?2 WHERE id = ?1",
    [S_SESS_REVOKE] = "UPDATE sessions SET revoked_at = ?2, revoke_reason = ?3 "
                      "WHERE id = ?1 AND revoked_at IS NULL",
    [S_SESS_REVOKE_USER_EXCEPT] =
        "UPDATE sessions SET revoked_at = ?3, revoke_reason = ?4 WHERE user_id = ?1 "
        "AND revoked_at IS NULL AND (?2 IS NULL OR id <> ?2)",
    [S_SESS_REVOKE_ALL] = "UPDATE sessions SET revoked_at = ?1, revoke_reason = ?2 "
                          "WHERE revoked_at IS NULL",
    [S_SESS_LIST] = "SELECT id, user_id, created_at, last_used_at, expires_at, revoked_at "
                    "FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 "
                    "AND last_used_at > ?3 ORDER BY created_at DESC, id LIMIT ?4",
    [S_RT_INSERT] = "INSERT INTO refresh_tokens(token_hash, session_id, created_at) "
                    "VALUES (?1, ?2, ?3)",
    [S_RT_GET] = "SELECT session_id, used_at FROM refresh_tokens WHERE token_hash = ?1",
    [S_RT_USE] = "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL",
    [S_ACCESS_CHECK] =
        "SELECT s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.revoked_at, "
        "(SELECT revoked_at FROM signing_keys WHERE kid = ?2), u.email, u.email_key, "
        "u.display_name, u.created_at, u.updated_at, u.last_login_at, u.dek_wrapped "
        "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?1",
    [S_KEYS_LIST] = "SELECT kid, alg, public_key, wrapped_private, created_at, activates_at, "
                    "retired_at, revoked_at FROM signing_keys ORDER BY activates_at, generation",
    [S_KEY_INSERT] = "INSERT INTO signing_keys(kid, alg, public_key, wrapped_private, created_at, "
                     "activates_at, generation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                     "(SELECT coalesce(max(generation), 0) + 1 FROM signing_keys))",
    [S_KEY_RETIRE] =
        "UPDATE signing_keys SET retired_at = ?2 WHERE kid = ?1 AND retired_at IS NULL",
    [S_KEY_REVOKE] =
        "UPDATE signing_keys SET revoked_at = ?2 WHERE kid = ?1 AND revoked_at IS NULL",
    [S_KEY_REWRAP] = "UPDATE signing_keys SET wrapped_private = ?2 WHERE kid = ?1",
    [S_WK_GET] = "SELECT wrapped FROM wrapped_keys WHERE name = ?1",
    [S_WK_INSERT] = "INSERT INTO wrapped_keys(name, wrapped, created_at) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT(name) DO NOTHING",
    [S_COUNTER_GET] = "SELECT value FROM change_counters WHERE name = ?1",
    [S_COUNTER_BUMP] = "UPDATE change_counters SET value = value + 1 WHERE name = ?1",
    [S_THR_GET] = "SELECT failures, lock_level, locked_until, updated_at FROM login_throttle "
                  "WHERE subject = ?1",
    [S_THR_PUT] =
        "INSERT INTO login_throttle(subject, user_id, failures, lock_level, locked_until, "
        "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(subject) DO UPDATE SET "
        "failures = excluded.failures, lock_level = excluded.lock_level, "
        "locked_until = excluded.locked_until, updated_at = excluded.updated_at",
    [S_THR_DEL_USER] = "DELETE FROM login_throttle WHERE user_id = ?1",
    [S_SCHEMA_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_migrations",
    [S_PING] = "SELECT 1",
};

static gh_err map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return GH_OK;
    case SQLITE_CONSTRAINT:
        return GH_ERR_CONFLICT;
    case SQLITE_NOMEM:
        return GH_ERR_NOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return GH_ERR_BUSY;
    default:
        return GH_ERR_STORE;
    }
}

static void log_sqlite(sqlite3 *db, int rc, const char *what)
{
    /* The library's message stays in our log (it names no user data: statements are literal and
     * values are bound); it never reaches a client. */
    gh_log(GH_LOG_ERROR, "storage operation failed", NULL, "store_error",
           json_pack("{s:s,s:i,s:s}", "op", what, "code", rc, "detail",
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

/* Run literal SQL (possibly several statements) without sqlite3_exec. */
static gh_err run_script(sqlite3 *db, const char *sql)
{
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
        if (rc != SQLITE_OK) {
            log_sqlite(db, rc, "prepare script");
            return map_rc(rc);
        }
        if (!st)
            continue; /* whitespace or comment */
        do {
            rc = sqlite3_step(st);
        } while (rc == SQLITE_ROW);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            log_sqlite(db, rc, "run script");
            return map_rc(rc);
        }
    }
    return GH_OK;
}

static gh_err conn_open(struct gh_sqlite_store *s, struct conn *c)
{
    int rc = sqlite3_open_v2(s->path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    if (rc != SQLITE_OK) {
        log_sqlite(c->db, rc, "open");
        return GH_ERR_STORE;
    }
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(c->db, 1);
    /* WAL for concurrent readers; synchronous=FULL makes every commit durable across power loss
     * (NORMAL would survive kill -9 but could lose the last commits on power failure). */
    return run_script(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                             "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON; "
                             "PRAGMA trusted_schema=OFF;");
}

/* Map "<db>-epoch" (created 0600 on first use) shared between every process of this database. */
static gh_err epoch_map(struct gh_sqlite_store *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s-epoch", s->path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return GH_ERR_STORE;
    /* Allocate the page now (and grow the file to 8 bytes): a store through a mapping of a
     * sparse page raises SIGBUS when the file system is full — the first revocation after
     * the disk filled would kill the process. */
    if (posix_fallocate(fd, 0, 8) != 0) {
        close(fd);
        return GH_ERR_STORE;
    }
    void *m = mmap(NULL, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return GH_ERR_STORE;
    s->epoch = m;
    return GH_OK;
}

/* Called after a commit that may refuse tokens accepted before it. */
static void epoch_bump(struct gh_store *s)
{
    atomic_fetch_add(SQ(s)->epoch, 1);
}

static uint64_t sq_epoch(struct gh_store *s)
{
    return atomic_load(SQ(s)->epoch);
}

static const struct gh_store_ops sqlite_ops;
static void sq_free(struct gh_store *gs);

gh_err gh_sqlite_open(const char *path, struct gh_store **out)
{
    struct gh_sqlite_store *s = gh_calloc(1, sizeof *s);
    if (!s)
        return GH_ERR_NOMEM;
    s->base.ops = &sqlite_ops;
    int n = snprintf(s->path, sizeof s->path, "%s", path);
    if (n <= 0 || (size_t)n >= sizeof s->path) {
        gh_free(s);
        return GH_ERR_CONFIG;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    /* The database holds wrapped keys and sealed personal data: owner-only. Create it 0600
     * (SQLite gives its -wal and -shm the same mode) and tighten one made more open before. */
    int dfd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (dfd >= 0) {
        struct stat dst;
        if (fstat(dfd, &dst) == 0 && (dst.st_mode & 077) != 0) {
            (void)fchmod(dfd, 0600);
            gh_log(GH_LOG_WARN, "database file was readable by others: made it 0600", NULL,
                   "store_permissions_fixed", NULL);
        }
        close(dfd);
    }
    gh_err erc = epoch_map(s);
    if (erc != GH_OK) {
        sq_free(&s->base);
        return erc;
    }
    for (int i = 0; i < POOL_SIZE; i++) {
        gh_err rc = conn_open(s, &s->conns[i]);
        if (rc != GH_OK) {
            sq_free(&s->base);
            return rc;
        }
    }
    *out = &s->base;
    return GH_OK;
}

static void sq_free(struct gh_store *gs)
{
    if (!gs)
        return;
    struct gh_sqlite_store *s = SQ(gs);
    for (int i = 0; i < POOL_SIZE; i++) {
        for (int j = 0; j < S_COUNT; j++)
            sqlite3_finalize(s->conns[i].stmts[j]);
        for (int j = 0; j < EXTRA_STMTS; j++)
            sqlite3_finalize(s->conns[i].extra[j].st);
        sqlite3_close_v2(s->conns[i].db);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    if (s->epoch)
        munmap((void *)s->epoch, 8);
    gh_free(s);
}

static struct conn *acquire(struct gh_store *gs)
{
    struct gh_sqlite_store *s = SQ(gs);
    gh_store_thread_check("sqlite");
    pthread_mutex_lock(&s->lock);
    for (;;) {
        for (int i = 0; i < POOL_SIZE; i++) {
            if (!s->conns[i].busy) {
                s->conns[i].busy = true;
                pthread_mutex_unlock(&s->lock);
                return &s->conns[i];
            }
        }
        pthread_cond_wait(&s->cond, &s->lock);
    }
}

static void release(struct gh_store *gs, struct conn *c)
{
    struct gh_sqlite_store *s = SQ(gs);
    pthread_mutex_lock(&s->lock);
    c->busy = false;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* The cached statement id on c, reset and with bindings cleared; NULL on failure. */
static sqlite3_stmt *stmt(struct conn *c, enum stmt_id id)
{
    if (!c->stmts[id]) {
        int rc = sqlite3_prepare_v3(c->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            log_sqlite(c->db, rc, "prepare");
            return NULL;
        }
    }
    sqlite3_reset(c->stmts[id]);
    sqlite3_clear_bindings(c->stmts[id]);
    return c->stmts[id];
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Step a statement that returns no rows (or whose rows we ignore). */
static gh_err exec_done(struct conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        if ((rc & 0xff) != SQLITE_CONSTRAINT)
            log_sqlite(c->db, rc, what);
        return map_rc(rc);
    }
    return GH_OK;
}

static gh_err tx(struct conn *c, enum stmt_id id)
{
    sqlite3_stmt *st = stmt(c, id);
    return st ? exec_done(c, st, sql_text[id]) : GH_ERR_STORE;
}

static void rollback(struct conn *c)
{
    if (!sqlite3_get_autocommit(c->db)) {
        gh_err rc = tx(c, S_ROLLBACK);
        (void)rc;
    }
}

static void copy_col(sqlite3_stmt *st, int col, char *dst, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (!t || n < 0) {
        dst[0] = '\0';
        return;
    }
    size_t len = (size_t)n < size - 1 ? (size_t)n : size - 1;
    memcpy(dst, t, len);
    dst[len] = '\0';
}

static int64_t col_i64(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, col);
}

/* ---- rows as store_map.h reads them ---- */

static sqlite3_stmt *row_st(const struct gh_store_row *r)
{
    return ((const struct gh_sqlite_row *)r)->st;
}

static void row_text(const struct gh_store_row *r, int col, char *dst, size_t size)
{
    copy_col(row_st(r), col, dst, size);
}

static int64_t row_i64(const struct gh_store_row *r, int col)
{
    return col_i64(row_st(r), col);
}

static bool row_is_null(const struct gh_store_row *r, int col)
{
    return sqlite3_column_type(row_st(r), col) == SQLITE_NULL;
}

/* Copy a TEXT column; false (dst holds a truncated copy) when it is not exactly a string that
 * fits in size-1 bytes without NUL. */
static bool row_text_exact(const struct gh_store_row *r, int col, char *dst, size_t size)
{
    sqlite3_stmt *st = row_st(r);
    dst[0] = '\0';
    const unsigned char *t = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    bool ok = sqlite3_column_type(st, col) == SQLITE_TEXT && t && n >= 0;
    if (!t || n < 0)
        return false;
    size_t len = (size_t)n;
    if (len >= size) {
        ok = false;
        len = size - 1;
    }
    memcpy(dst, t, len);
    dst[len] = '\0';
    if (memchr(t, 0, len))
        ok = false;
    return ok;
}

static bool row_int_exact(const struct gh_store_row *r, int col, int64_t *out)
{
    sqlite3_stmt *st = row_st(r);
    *out = sqlite3_column_int64(st, col);
    return sqlite3_column_type(st, col) == SQLITE_INTEGER;
}

static const struct gh_store_row_ops sqlite_row_ops = {
    .text = row_text,
    .i64 = row_i64,
    .is_null = row_is_null,
    .text_exact = row_text_exact,
    .int_exact = row_int_exact,
};

struct gh_sqlite_row gh_sqlite_row_of(sqlite3_stmt *st)
{
    return (struct gh_sqlite_row){.base = {.ops = &sqlite_row_ops}, .st = st};
}

/* Run one literal statement that takes one text parameter and returns no rows. */
static gh_err exec_text1(struct gh_store *s, const char *literal_sql, const char *arg,
                         const char *what)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = gh_sqlite_prepare(c, literal_sql);
    if (st) {
        bind_text(st, 1, arg);
        rc = exec_done(c, st, what);
    }
    release(s, c);
    return rc;
}

static gh_err sq_migrate(struct gh_store *s, int *out_applied)
{
    struct conn *c = acquire(s);
    gh_err rc = run_script(c->db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                  "version BIGINT PRIMARY KEY, name TEXT NOT NULL, "
                                  "applied_at BIGINT NOT NULL)");
    int applied = 0;
    if (rc != GH_OK)
        goto out;
    for (int i = 0; i < gh_migrations_count; i++) {
        const struct gh_migration *m = &gh_migrations[i];
        if ((rc = tx(c, S_BEGIN)) != GH_OK)
            goto out;
        sqlite3_stmt *q = NULL;
        int src = sqlite3_prepare_v2(c->db, "SELECT 1 FROM schema_migrations WHERE version = ?1",
                                     -1, &q, NULL);
        if (src != SQLITE_OK) {
            rc = GH_ERR_STORE;
            goto out;
        }
        sqlite3_bind_int(q, 1, m->version);
        bool done = sqlite3_step(q) == SQLITE_ROW;
        sqlite3_finalize(q);
        if (!done) {
            if ((rc = run_script(c->db, m->sql)) != GH_OK)
                goto out;
            sqlite3_stmt *ins = NULL;
            src = sqlite3_prepare_v2(c->db,
                                     "INSERT INTO schema_migrations(version, name, applied_at) "
                                     "VALUES (?1, ?2, strftime('%s','now'))",
                                     -1, &ins, NULL);
            if (src != SQLITE_OK) {
                rc = GH_ERR_STORE;
                goto out;
            }
            sqlite3_bind_int(ins, 1, m->version);
            sqlite3_bind_text(ins, 2, m->name, -1, SQLITE_STATIC);
            src = sqlite3_step(ins);
            sqlite3_finalize(ins);
            if (src != SQLITE_DONE) {
                rc = GH_ERR_STORE;
                goto out;
            }
            applied++;
            gh_log(GH_LOG_INFO, "applied migration", NULL, "migration_applied",
                   json_pack("{s:i,s:s}", "version", m->version, "name", m->name));
        }
        if ((rc = tx(c, S_COMMIT)) != GH_OK)
            goto out;
    }
    if (out_applied)
        *out_applied = applied;
out:
    if (rc != GH_OK)
        rollback(c);
    /* Schema changed: statements prepared before are re-prepared lazily by SQLite. */
    release(s, c);
    return rc;
}

static gh_err sq_schema_version(struct gh_store *s, int *out)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = stmt(c, S_SCHEMA_VERSION);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = GH_OK;
    }
    if (st)
        sqlite3_reset(st);
    release(s, c);
    return rc;
}

static gh_err sq_ping(struct gh_store *s)
{
    struct conn *c = acquire(s);
    sqlite3_stmt *st = stmt(c, S_PING);
    gh_err rc = (st && sqlite3_step(st) == SQLITE_ROW) ? GH_OK : GH_ERR_STORE;
    if (st)
        sqlite3_reset(st);
    release(s, c);
    return rc;
}

/* ---- users ---- */

static gh_err user_insert_on(struct conn *c, const struct gh_user *u)
{
    sqlite3_stmt *st = stmt(c, S_USER_INSERT);
    if (!st)
        return GH_ERR_STORE;
    bind_text(st, 1, u->id);
    bind_text(st, 2, u->email_enc);
    bind_text(st, 3, u->email_key);
    bind_text(st, 4, u->has_display_name ? u->display_name_enc : NULL);
    bind_text(st, 5, u->password_hash);
    sqlite3_bind_int64(st, 6, u->created_at);
    bind_text(st, 7, u->dek_wrapped);
    sqlite3_bind_int(st, 8, u->admin ? 1 : 0);
    return exec_done(c, st, "user insert");
}

static gh_err sq_user_insert(struct gh_store *s, const struct gh_user *u)
{
    struct conn *c = acquire(s);
    gh_err rc = user_insert_on(c, u);
    release(s, c);
    return rc;
}

static gh_err sq_users_insert_all(struct gh_store *s, const struct gh_user *users, size_t n,
                                  size_t *out_failed)
{
    struct conn *c = acquire(s);
    gh_err rc;
    if ((rc = tx(c, S_BEGIN)) != GH_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if ((rc = user_insert_on(c, &users[i])) != GH_OK) {
            if (out_failed)
                *out_failed = i;
            goto out;
        }
    }
    rc = tx(c, S_COMMIT);
out:
    if (rc != GH_OK)
        rollback(c);
    release(s, c);
    return rc;
}

static void read_user(sqlite3_stmt *st, struct gh_user *u)
{
    struct gh_sqlite_row r = gh_sqlite_row_of(st);
    gh_store_map_user(&r.base, u);
}

static gh_err user_query(struct gh_store *s, enum stmt_id id, const char *key, struct gh_user *out)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = stmt(c, id);
    if (st) {
        bind_text(st, 1, key);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            read_user(st, out);
            rc = GH_OK;
        } else if (r == SQLITE_DONE) {
            rc = GH_ERR_NOT_FOUND;
        } else {
            log_sqlite(c->db, r, "user get");
            rc = map_rc(r);
        }
        sqlite3_reset(st);
    }
    release(s, c);
    return rc;
}

static gh_err sq_user_get(struct gh_store *s, const char *id, struct gh_user *out)
{
    return user_query(s, S_USER_GET, id, out);
}

static gh_err sq_user_find_by_email_key(struct gh_store *s, const char *email_key,
                                        struct gh_user *out)
{
    return user_query(s, S_USER_BY_EMAIL, email_key, out);
}

static gh_err changes_or_not_found(struct conn *c)
{
    return sqlite3_changes(c->db) > 0 ? GH_OK : GH_ERR_NOT_FOUND;
}

static gh_err sq_user_set_password(struct gh_store *s, const char *user_id, const char *hash,
                                   int64_t now, bool revoke_other_sessions,
                                   const char *keep_session_id)
{
    struct conn *c = acquire(s);
    gh_err rc;
    sqlite3_stmt *st;
    if ((rc = tx(c, S_BEGIN)) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = stmt(c, S_USER_SET_PW)))
        goto out;
    bind_text(st, 1, user_id);
    bind_text(st, 2, hash);
    sqlite3_bind_int64(st, 3, now);
    if ((rc = exec_done(c, st, "set password")) != GH_OK)
        goto out;
    if ((rc = changes_or_not_found(c)) != GH_OK)
        goto out;
    if (revoke_other_sessions) {
        rc = GH_ERR_STORE;
        if (!(st = stmt(c, S_SESS_REVOKE_USER_EXCEPT)))
            goto out;
        bind_text(st, 1, user_id);
        bind_text(st, 2, keep_session_id);
        sqlite3_bind_int64(st, 3, now);
        bind_text(st, 4, "password_changed");
        if ((rc = exec_done(c, st, "revoke sessions")) != GH_OK)
            goto out;
    }
    rc = tx(c, S_COMMIT);
out:
    if (rc != GH_OK)
        rollback(c);
    if (rc == GH_OK && revoke_other_sessions)
        epoch_bump(s);
    release(s, c);
    return rc;
}

static gh_err sq_user_set_admin(struct gh_store *s, const char *user_id, bool admin)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = gh_sqlite_prepare(c, "UPDATE users SET is_admin = ?2 WHERE id = ?1");
    if (st) {
        bind_text(st, 1, user_id);
        sqlite3_bind_int(st, 2, admin ? 1 : 0);
        rc = exec_done(c, st, "user set admin");
        if (rc == GH_OK)
            rc = changes_or_not_found(c);
    }
    release(s, c);
    /* A demotion refuses what was allowed a moment ago: anything cached about this user goes. */
    if (rc == GH_OK)
        epoch_bump(s);
    return rc;
}

static gh_err sq_user_sessions_revoke(struct gh_store *s, const char *user_id, const char *reason,
                                      int64_t now, long *out_n)
{
    struct conn *c = acquire(s);
    gh_err rc;
    sqlite3_stmt *st;
    long n = 0;
    if ((rc = tx(c, S_BEGIN)) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = gh_sqlite_prepare(c, "SELECT 1 FROM users WHERE id = ?1")))
        goto out;
    bind_text(st, 1, user_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r == SQLITE_DONE) {
        rc = GH_ERR_NOT_FOUND;
        goto out;
    }
    if (r != SQLITE_ROW) {
        log_sqlite(c->db, r, "user exists");
        rc = map_rc(r);
        goto out;
    }
    if (!(st = stmt(c, S_SESS_REVOKE_USER_EXCEPT)))
        goto out;
    bind_text(st, 1, user_id);
    bind_text(st, 2, NULL); /* keep none */
    sqlite3_bind_int64(st, 3, now);
    bind_text(st, 4, reason);
    if ((rc = exec_done(c, st, "revoke user sessions")) != GH_OK)
        goto out;
    n = (long)sqlite3_changes(c->db);
    rc = tx(c, S_COMMIT);
out:
    if (rc != GH_OK)
        rollback(c);
    if (rc == GH_OK)
        epoch_bump(s);
    release(s, c);
    if (rc == GH_OK && out_n)
        *out_n = n;
    return rc;
}

/* ---- sessions and refresh tokens ---- */

static void read_session(sqlite3_stmt *st, struct gh_session *ss)
{
    struct gh_sqlite_row r = gh_sqlite_row_of(st);
    gh_store_map_session(&r.base, ss);
}

static gh_err insert_refresh(struct conn *c, const char *hash, const char *session_id, int64_t now)
{
    sqlite3_stmt *st = stmt(c, S_RT_INSERT);
    if (!st)
        return GH_ERR_STORE;
    bind_text(st, 1, hash);
    bind_text(st, 2, session_id);
    sqlite3_bind_int64(st, 3, now);
    return exec_done(c, st, "refresh insert");
}

static gh_err sq_session_create(struct gh_store *s, const struct gh_session *ss,
                                const char *refresh_hash, const char *new_password_hash)
{
    struct conn *c = acquire(s);
    gh_err rc;
    sqlite3_stmt *st;
    if ((rc = tx(c, S_BEGIN)) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = stmt(c, new_password_hash ? S_USER_LOGIN_OK_REHASH : S_USER_LOGIN_OK)))
        goto out;
    bind_text(st, 1, ss->user_id);
    sqlite3_bind_int64(st, 2, ss->created_at);
    if (new_password_hash)
        bind_text(st, 3, new_password_hash);
    if ((rc = exec_done(c, st, "login succeeded")) != GH_OK)
        goto out;
    if ((rc = changes_or_not_found(c)) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = stmt(c, S_SESS_INSERT)))
        goto out;
    bind_text(st, 1, ss->id);
    bind_text(st, 2, ss->user_id);
    sqlite3_bind_int64(st, 3, ss->created_at);
    sqlite3_bind_int64(st, 4, ss->last_used_at);
    sqlite3_bind_int64(st, 5, ss->expires_at);
    if ((rc = exec_done(c, st, "session insert")) != GH_OK)
        goto out;
    if ((rc = insert_refresh(c, refresh_hash, ss->id, ss->created_at)) != GH_OK)
        goto out;
    rc = tx(c, S_COMMIT);
out:
    if (rc != GH_OK)
        rollback(c);
    release(s, c);
    return rc;
}

static gh_err session_get_on(struct conn *c, const char *id, struct gh_session *out)
{
    sqlite3_stmt *st = stmt(c, S_SESS_GET);
    if (!st)
        return GH_ERR_STORE;
    bind_text(st, 1, id);
    int r = sqlite3_step(st);
    gh_err rc;
    if (r == SQLITE_ROW) {
        read_session(st, out);
        rc = GH_OK;
    } else if (r == SQLITE_DONE) {
        rc = GH_ERR_NOT_FOUND;
    } else {
        log_sqlite(c->db, r, "session get");
        rc = map_rc(r);
    }
    sqlite3_reset(st);
    return rc;
}

static gh_err revoke_on(struct conn *c, const char *id, const char *reason, int64_t now)
{
    sqlite3_stmt *st = stmt(c, S_SESS_REVOKE);
    if (!st)
        return GH_ERR_STORE;
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    bind_text(st, 3, reason);
    return exec_done(c, st, "session revoke");
}

/* Look up a refresh token: its session id and whether it was used. */
static gh_err refresh_get_on(struct conn *c, const char *hash, char sid[GH_ID_LEN + 1], bool *used)
{
    sqlite3_stmt *st = stmt(c, S_RT_GET);
    if (!st)
        return GH_ERR_STORE;
    bind_text(st, 1, hash);
    int r = sqlite3_step(st);
    gh_err rc;
    if (r == SQLITE_ROW) {
        copy_col(st, 0, sid, GH_ID_LEN + 1);
        *used = sqlite3_column_type(st, 1) != SQLITE_NULL;
        rc = GH_OK;
    } else if (r == SQLITE_DONE) {
        rc = GH_ERR_NOT_FOUND;
    } else {
        log_sqlite(c->db, r, "refresh get");
        rc = map_rc(r);
    }
    sqlite3_reset(st);
    return rc;
}

static gh_err sq_refresh_rotate(struct gh_store *s, const char *old_hash, const char *new_hash,
                                int64_t now, int64_t idle_timeout, enum gh_rotate_result *out,
                                struct gh_session *out_session)
{
    struct conn *c = acquire(s);
    char sid[GH_ID_LEN + 1];
    bool used = false;
    sqlite3_stmt *st;
    gh_err rc;
    *out = GH_ROTATE_INVALID;
    memset(out_session, 0, sizeof *out_session);
    /* BEGIN IMMEDIATE takes the write lock first: two rotations of one token serialise here. */
    if ((rc = tx(c, S_BEGIN)) != GH_OK)
        goto out;
    rc = refresh_get_on(c, old_hash, sid, &used);
    if (rc == GH_ERR_NOT_FOUND) {
        rc = tx(c, S_COMMIT);
        goto out;
    }
    if (rc != GH_OK)
        goto out;
    if ((rc = session_get_on(c, sid, out_session)) != GH_OK)
        goto out;
    if (used) {
        if (out_session->revoked_at == 0) {
            if ((rc = revoke_on(c, sid, "refresh_reuse", now)) != GH_OK)
                goto out;
            out_session->revoked_at = now;
        }
        *out = GH_ROTATE_REUSED;
        rc = tx(c, S_COMMIT);
        goto out;
    }
    if (!gh_session_is_active(out_session, now, idle_timeout)) {
        rc = tx(c, S_COMMIT);
        goto out;
    }
    rc = GH_ERR_STORE;
    if (!(st = stmt(c, S_RT_USE)))
        goto out;
    bind_text(st, 1, old_hash);
    sqlite3_bind_int64(st, 2, now);
    if ((rc = exec_done(c, st, "refresh use")) != GH_OK)
        goto out;
    if (sqlite3_changes(c->db) != 1) {
        rc = GH_ERR_STORE; /* cannot happen under the write lock */
        goto out;
    }
    if ((rc = insert_refresh(c, new_hash, sid, now)) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = stmt(c, S_SESS_TOUCH)))
        goto out;
    bind_text(st, 1, sid);
    sqlite3_bind_int64(st, 2, now);
    if ((rc = exec_done(c, st, "session touch")) != GH_OK)
        goto out;
    out_session->last_used_at = now;
    if ((rc = tx(c, S_COMMIT)) != GH_OK)
        goto out;
    *out = GH_ROTATE_OK;
out:
    if (rc != GH_OK) {
        rollback(c);
        *out = GH_ROTATE_INVALID;
    }
    if (rc == GH_OK && *out == GH_ROTATE_REUSED)
        epoch_bump(s);
    release(s, c);
    return rc;
}

static gh_err sq_session_get(struct gh_store *s, const char *id, struct gh_session *out)
{
    struct conn *c = acquire(s);
    gh_err rc = session_get_on(c, id, out);
    release(s, c);
    return rc;
}

static gh_err sq_session_revoke(struct gh_store *s, const char *id, const char *user_id,
                                const char *reason, int64_t now)
{
    struct conn *c = acquire(s);
    struct gh_session ss;
    gh_err rc;
    if ((rc = tx(c, S_BEGIN)) != GH_OK)
        goto out;
    if ((rc = session_get_on(c, id, &ss)) != GH_OK)
        goto out;
    if (user_id && strcmp(ss.user_id, user_id) != 0) {
        rc = GH_ERR_NOT_FOUND;
        goto out;
    }
    if ((rc = revoke_on(c, id, reason, now)) != GH_OK)
        goto out;
    rc = tx(c, S_COMMIT);
out:
    if (rc != GH_OK)
        rollback(c);
    if (rc == GH_OK)
        epoch_bump(s);
    release(s, c);
    return rc;
}

static gh_err sq_session_by_refresh(struct gh_store *s, const char *refresh_hash,
                                    struct gh_session *out)
{
    struct conn *c = acquire(s);
    char sid[GH_ID_LEN + 1];
    bool used;
    gh_err rc = refresh_get_on(c, refresh_hash, sid, &used);
    if (rc == GH_OK)
        rc = session_get_on(c, sid, out);
    release(s, c);
    return rc;
}

/* Step a bound statement whose rows are sessions into a new array of at most max. */
static gh_err read_sessions(struct conn *c, sqlite3_stmt *st, size_t max, const char *what,
                            struct gh_session **out, size_t *out_n)
{
    struct gh_session *arr = gh_calloc(max ? max : 1, sizeof *arr);
    size_t n = 0;
    int r = SQLITE_DONE;
    if (!arr) {
        sqlite3_reset(st);
        return GH_ERR_NOMEM;
    }
    while (n < max && (r = sqlite3_step(st)) == SQLITE_ROW)
        read_session(st, &arr[n++]);
    sqlite3_reset(st);
    if (r != SQLITE_DONE && r != SQLITE_ROW) {
        log_sqlite(c->db, r, what);
        gh_free(arr);
        return map_rc(r);
    }
    *out = arr;
    *out_n = n;
    return GH_OK;
}

static gh_err sq_sessions_list(struct gh_store *s, const char *user_id, int64_t now,
                               int64_t idle_timeout, size_t max, struct gh_session **out,
                               size_t *out_n)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = stmt(c, S_SESS_LIST);
    if (st) {
        bind_text(st, 1, user_id);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int64(st, 3, now - idle_timeout);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
        rc = read_sessions(c, st, max, "sessions list", out, out_n);
    }
    release(s, c);
    return rc;
}

static gh_err sq_sessions_revoke_all(struct gh_store *s, const char *reason, int64_t now,
                                     long *out_n)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = stmt(c, S_SESS_REVOKE_ALL);
    if (st) {
        sqlite3_bind_int64(st, 1, now);
        bind_text(st, 2, reason);
        rc = exec_done(c, st, "revoke all");
        if (rc == GH_OK && out_n)
            *out_n = (long)sqlite3_changes(c->db);
    }
    if (rc == GH_OK)
        epoch_bump(s);
    release(s, c);
    return rc;
}

static gh_err sq_access_check(struct gh_store *s, const char *sid, const char *kid,
                              struct gh_session *out, struct gh_user *out_user,
                              bool *out_key_revoked)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = stmt(c, S_ACCESS_CHECK);
    if (st) {
        bind_text(st, 1, sid);
        bind_text(st, 2, kid);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            struct gh_sqlite_row row = gh_sqlite_row_of(st);
            gh_store_map_access(&row.base, out, out_user, out_key_revoked);
            rc = GH_OK;
        } else if (r == SQLITE_DONE) {
            rc = GH_ERR_NOT_FOUND;
        } else {
            log_sqlite(c->db, r, "access check");
            rc = map_rc(r);
        }
        sqlite3_reset(st);
    }
    release(s, c);
    return rc;
}

/* ---- failed-login budgets ---- */

static gh_err throttle_get_on(struct conn *c, const char *subject, struct gh_throttle *out)
{
    sqlite3_stmt *st = stmt(c, S_THR_GET);
    if (!st)
        return GH_ERR_STORE;
    bind_text(st, 1, subject);
    int r = sqlite3_step(st);
    gh_err rc = GH_ERR_NOT_FOUND;
    memset(out, 0, sizeof *out);
    if (r == SQLITE_ROW) {
        struct gh_sqlite_row row = gh_sqlite_row_of(st);
        gh_store_map_throttle(&row.base, out);
        rc = GH_OK;
    } else if (r != SQLITE_DONE) {
        log_sqlite(c->db, r, "throttle get");
        rc = map_rc(r);
    }
    sqlite3_reset(st);
    return rc;
}

static gh_err sq_throttle_get(struct gh_store *s, const char *subject, struct gh_throttle *out)
{
    struct conn *c = acquire(s);
    gh_err rc = throttle_get_on(c, subject, out);
    release(s, c);
    return rc;
}

static gh_err sq_throttle_fail(struct gh_store *s, const char *subject, const char *user_id,
                               int64_t now, const struct gh_lockout_policy *p,
                               struct gh_throttle *out, bool *out_locked_now)
{
    struct conn *c = acquire(s);
    struct gh_throttle t;
    sqlite3_stmt *st;
    gh_err rc;
    *out_locked_now = false;
    if ((rc = tx(c, S_BEGIN)) != GH_OK)
        goto out;
    rc = throttle_get_on(c, subject, &t);
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND)
        goto out;
    *out_locked_now = gh_store_throttle_count_failure(&t, now, p);
    rc = GH_ERR_STORE;
    if (!(st = stmt(c, S_THR_PUT)))
        goto out;
    bind_text(st, 1, subject);
    bind_text(st, 2, user_id);
    sqlite3_bind_int64(st, 3, t.failures);
    sqlite3_bind_int64(st, 4, t.lock_level);
    sqlite3_bind_int64(st, 5, t.locked_until);
    sqlite3_bind_int64(st, 6, t.updated_at);
    if ((rc = exec_done(c, st, "throttle put")) != GH_OK)
        goto out;
    rc = tx(c, S_COMMIT);
    *out = t;
out:
    if (rc != GH_OK)
        rollback(c);
    release(s, c);
    return rc;
}

static gh_err sq_throttle_clear(struct gh_store *s, const char *subject)
{
    return exec_text1(s, "DELETE FROM login_throttle WHERE subject = ?1", subject,
                      "throttle clear");
}

static gh_err sq_throttle_clear_user(struct gh_store *s, const char *user_id, long *out_n)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = stmt(c, S_THR_DEL_USER);
    if (st) {
        bind_text(st, 1, user_id);
        rc = exec_done(c, st, "throttle clear user");
        if (rc == GH_OK && out_n)
            *out_n = (long)sqlite3_changes(c->db);
    }
    release(s, c);
    return rc;
}

/* ---- keys ---- */

static gh_err sq_keys_list(struct gh_store *s, struct gh_stored_key **out, size_t *out_n)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    size_t cap = 8, n = 0;
    struct gh_stored_key *arr = gh_calloc(cap, sizeof *arr);
    sqlite3_stmt *st = NULL;
    if (!arr) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    if (!(st = stmt(c, S_KEYS_LIST)))
        goto out;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            if (cap >= 4096) {
                rc = GH_ERR_TOO_LARGE;
                sqlite3_reset(st);
                goto out;
            }
            struct gh_stored_key *na = gh_realloc(arr, cap * 2 * sizeof *arr);
            if (!na) {
                rc = GH_ERR_NOMEM;
                sqlite3_reset(st);
                goto out;
            }
            arr = na;
            cap *= 2;
        }
        struct gh_sqlite_row row = gh_sqlite_row_of(st);
        gh_store_map_key(&row.base, &arr[n++]);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        log_sqlite(c->db, r, "keys list");
        rc = map_rc(r);
        goto out;
    }
    *out = arr;
    *out_n = n;
    arr = NULL;
    rc = GH_OK;
out:
    gh_free(arr);
    release(s, c);
    return rc;
}

static gh_err bump_on(struct conn *c, const char *name)
{
    sqlite3_stmt *st = stmt(c, S_COUNTER_BUMP);
    if (!st)
        return GH_ERR_STORE;
    bind_text(st, 1, name);
    return exec_done(c, st, "counter bump");
}

static gh_err sq_key_insert(struct gh_store *s, const struct gh_stored_key *k)
{
    struct conn *c = acquire(s);
    gh_err rc;
    sqlite3_stmt *st;
    if ((rc = tx(c, S_BEGIN)) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = stmt(c, S_KEY_INSERT)))
        goto out;
    bind_text(st, 1, k->kid);
    bind_text(st, 2, k->alg);
    bind_text(st, 3, k->public_key);
    bind_text(st, 4, k->wrapped_private);
    sqlite3_bind_int64(st, 5, k->created_at);
    sqlite3_bind_int64(st, 6, k->activates_at);
    if ((rc = exec_done(c, st, "key insert")) != GH_OK)
        goto out;
    if ((rc = bump_on(c, "keys")) != GH_OK)
        goto out;
    rc = tx(c, S_COMMIT);
out:
    if (rc != GH_OK)
        rollback(c);
    release(s, c);
    return rc;
}

static gh_err sq_key_mark(struct gh_store *s, const char *kid, int64_t retired_at,
                          int64_t revoked_at)
{
    struct conn *c = acquire(s);
    gh_err rc;
    sqlite3_stmt *st;
    int changed = 0;
    if ((rc = tx(c, S_BEGIN)) != GH_OK)
        goto out;
    if (retired_at) {
        rc = GH_ERR_STORE;
        if (!(st = stmt(c, S_KEY_RETIRE)))
            goto out;
        bind_text(st, 1, kid);
        sqlite3_bind_int64(st, 2, retired_at);
        if ((rc = exec_done(c, st, "key retire")) != GH_OK)
            goto out;
        changed += sqlite3_changes(c->db);
    }
    if (revoked_at) {
        rc = GH_ERR_STORE;
        if (!(st = stmt(c, S_KEY_REVOKE)))
            goto out;
        bind_text(st, 1, kid);
        sqlite3_bind_int64(st, 2, revoked_at);
        if ((rc = exec_done(c, st, "key revoke")) != GH_OK)
            goto out;
        changed += sqlite3_changes(c->db);
    }
    if ((rc = bump_on(c, "keys")) != GH_OK)
        goto out;
    rc = tx(c, S_COMMIT);
    if (rc == GH_OK && changed == 0)
        rc = GH_ERR_NOT_FOUND;
out:
    if (rc != GH_OK && rc != GH_ERR_NOT_FOUND)
        rollback(c);
    if (rc == GH_OK)
        epoch_bump(s);
    release(s, c);
    return rc;
}

static gh_err sq_key_rewrap(struct gh_store *s, const char *kid, const char *wrapped)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = stmt(c, S_KEY_REWRAP);
    if (st) {
        bind_text(st, 1, kid);
        bind_text(st, 2, wrapped);
        rc = exec_done(c, st, "key rewrap");
        if (rc == GH_OK)
            rc = changes_or_not_found(c);
    }
    release(s, c);
    return rc;
}

static gh_err wk_get_on(struct conn *c, const char *name, char out[GH_HASH_TEXT_MAX + 1])
{
    sqlite3_stmt *st = stmt(c, S_WK_GET);
    if (!st)
        return GH_ERR_STORE;
    bind_text(st, 1, name);
    int r = sqlite3_step(st);
    gh_err rc = GH_ERR_NOT_FOUND;
    if (r == SQLITE_ROW) {
        copy_col(st, 0, out, GH_HASH_TEXT_MAX + 1);
        rc = GH_OK;
    } else if (r != SQLITE_DONE) {
        log_sqlite(c->db, r, "wrapped key get");
        rc = map_rc(r);
    }
    sqlite3_reset(st);
    return rc;
}

static gh_err sq_wrapped_key_get(struct gh_store *s, const char *name,
                                 char out[GH_HASH_TEXT_MAX + 1])
{
    struct conn *c = acquire(s);
    gh_err rc = wk_get_on(c, name, out);
    release(s, c);
    return rc;
}

static gh_err sq_wrapped_key_put_if_absent(struct gh_store *s, const char *name, const char *text,
                                           int64_t now, char out[GH_HASH_TEXT_MAX + 1])
{
    struct conn *c = acquire(s);
    gh_err rc;
    sqlite3_stmt *st;
    if ((rc = tx(c, S_BEGIN)) != GH_OK)
        goto out;
    rc = GH_ERR_STORE;
    if (!(st = stmt(c, S_WK_INSERT)))
        goto out;
    bind_text(st, 1, name);
    bind_text(st, 2, text);
    sqlite3_bind_int64(st, 3, now);
    if ((rc = exec_done(c, st, "wrapped key insert")) != GH_OK)
        goto out;
    if ((rc = wk_get_on(c, name, out)) != GH_OK)
        goto out;
    rc = tx(c, S_COMMIT);
out:
    if (rc != GH_OK)
        rollback(c);
    release(s, c);
    return rc;
}

static gh_err sq_counter_get(struct gh_store *s, const char *name, int64_t *out)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = stmt(c, S_COUNTER_GET);
    if (st) {
        bind_text(st, 1, name);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = GH_OK;
        } else if (r == SQLITE_DONE) {
            rc = GH_ERR_NOT_FOUND;
        }
        sqlite3_reset(st);
    }
    release(s, c);
    return rc;
}

/* ---- helpers for the backend's other files (sqlite_internal.h) ---- */

struct conn *gh_sqlite_acquire(struct gh_store *s)
{
    return acquire(s);
}

void gh_sqlite_release(struct gh_store *s, struct conn *c)
{
    release(s, c);
}

sqlite3_stmt *gh_sqlite_prepare(struct conn *c, const char *literal_sql)
{
    struct extra_stmt *free_slot = NULL;
    for (int i = 0; i < EXTRA_STMTS; i++) {
        struct extra_stmt *e = &c->extra[i];
        if (e->sql == literal_sql) {
            sqlite3_reset(e->st);
            sqlite3_clear_bindings(e->st);
            return e->st;
        }
        if (!e->sql && !free_slot)
            free_slot = e;
    }
    if (!free_slot) {
        /* A design limit (raise EXTRA_STMTS), never reached through input: fail loudly. */
        gh_log(GH_LOG_ERROR, "statement cache full", NULL, "store_stmt_cache_full", NULL);
        return NULL;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(c->db, literal_sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        log_sqlite(c->db, rc, "prepare");
        return NULL;
    }
    free_slot->sql = literal_sql;
    free_slot->st = st;
    return st;
}

void gh_sqlite_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    bind_text(st, i, v);
}

gh_err gh_sqlite_exec(struct conn *c, sqlite3_stmt *st, const char *what)
{
    return exec_done(c, st, what);
}

gh_err gh_sqlite_begin(struct conn *c)
{
    return tx(c, S_BEGIN);
}

gh_err gh_sqlite_commit(struct conn *c)
{
    return tx(c, S_COMMIT);
}

void gh_sqlite_rollback(struct conn *c)
{
    rollback(c);
}

void gh_sqlite_copy_col(sqlite3_stmt *st, int col, char *dst, size_t size)
{
    copy_col(st, col, dst, size);
}

gh_err gh_sqlite_map_rc(int rc)
{
    return map_rc(rc);
}

void gh_sqlite_log(sqlite3 *db, int rc, const char *what)
{
    log_sqlite(db, rc, what);
}

/* ---- personal data written before encryption (migration 0004) ---- */

static gh_err sq_users_legacy(struct gh_store *s, size_t max, struct gh_user **out, size_t *out_n)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    struct gh_user *arr = gh_calloc(max ? max : 1, sizeof *arr);
    size_t n = 0;
    sqlite3_stmt *st;
    if (!arr) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    if (!(st = gh_sqlite_prepare(c, "SELECT id, email, email_key, display_name FROM users "
                                    "WHERE dek_wrapped IS NULL ORDER BY id LIMIT ?1")))
        goto out;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW && n < max) {
        struct gh_sqlite_row row = gh_sqlite_row_of(st);
        gh_store_map_legacy_user(&row.base, &arr[n++]);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE && r != SQLITE_ROW) {
        log_sqlite(c->db, r, "users legacy");
        rc = map_rc(r);
        goto out;
    }
    *out = arr;
    *out_n = n;
    arr = NULL;
    rc = GH_OK;
out:
    if (arr) {
        sodium_memzero(arr, (max ? max : 1) * sizeof *arr);
        gh_free(arr);
    }
    release(s, c);
    return rc;
}

static gh_err sq_user_seal_legacy(struct gh_store *s, const struct gh_user *u)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = gh_sqlite_prepare(
        c, "UPDATE users SET email = ?2, email_key = ?3, display_name = ?4, dek_wrapped = ?5 "
           "WHERE id = ?1 AND dek_wrapped IS NULL");
    if (st) {
        bind_text(st, 1, u->id);
        bind_text(st, 2, u->email_enc);
        bind_text(st, 3, u->email_key);
        bind_text(st, 4, u->has_display_name ? u->display_name_enc : NULL);
        bind_text(st, 5, u->dek_wrapped);
        rc = exec_done(c, st, "user seal legacy");
    }
    release(s, c);
    return rc;
}

static gh_err sq_checkpoint(struct gh_store *s)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = gh_sqlite_prepare(c, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (st) {
        int r = sqlite3_step(st);
        /* One row: (busy, log pages, checkpointed pages); busy=1 means readers held it back. */
        if (r == SQLITE_ROW && sqlite3_column_int(st, 0) == 0)
            rc = GH_OK;
        else if (r == SQLITE_ROW)
            rc = GH_ERR_BUSY;
        sqlite3_reset(st);
    }
    release(s, c);
    return rc;
}

/* ---- erasure ---- */

static gh_err ledger_append(struct gh_store *s, const char *user_id, int64_t now)
{
    char path[4200], line[64];
    snprintf(path, sizeof path, "%s-erasures", SQ(s)->path);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return GH_ERR_IO;
    int n = snprintf(line, sizeof line, "%s\t%lld\n", user_id, (long long)now);
    ssize_t w = write(fd, line, (size_t)n);
    int sync_rc = fsync(fd);
    close(fd);
    return (w == n && sync_rc == 0) ? GH_OK : GH_ERR_IO;
}

static gh_err sq_user_erase(struct gh_store *s, const char *user_id, int64_t now)
{
    /* Only ids that exist reach the ledger (an operator's typo must not be recorded). Then the
     * ledger first: if we crash between the two, a restore re-erases a user that the database
     * may still hold — never the other way round. */
    struct gh_user u;
    gh_err rc = sq_user_get(s, user_id, &u);
    sodium_memzero(&u, sizeof u);
    if (rc == GH_OK)
        rc = ledger_append(s, user_id, now);
    if (rc != GH_OK)
        return rc;
    struct conn *c = acquire(s);
    rc = GH_ERR_STORE;
    sqlite3_stmt *st = gh_sqlite_prepare(c, "DELETE FROM users WHERE id = ?1");
    if (st) {
        bind_text(st, 1, user_id);
        rc = exec_done(c, st, "user erase");
        if (rc == GH_OK && sqlite3_changes(c->db) == 0)
            rc = GH_ERR_NOT_FOUND;
    }
    release(s, c);
    if (rc != GH_OK)
        return rc;
    epoch_bump(s);
    /* secure_delete zeroed the freed cells; push those pages out of the WAL too. A reader
     * holding an old snapshot can delay it: retry briefly, then leave it to the next one. */
    for (int i = 0; i < 20; i++) {
        if (sq_checkpoint(s) == GH_OK)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return GH_OK;
}

gh_err gh_store_erasure_ledger_at(const char *db_path,
                                  void (*cb)(const char *user_id, int64_t at, void *ctx), void *ctx)
{
    char path[4200], line[128];
    snprintf(path, sizeof path, "%s-erasures", db_path);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? GH_OK : GH_ERR_IO;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        if (!gh_id_is_valid(line))
            continue;
        cb(line, (int64_t)strtoll(tab + 1, NULL, 10), ctx);
    }
    (void)fclose(f); /* opened read-only: a close error loses no data */
    return GH_OK;
}

static gh_err sq_sessions_all(struct gh_store *s, const char *user_id, size_t max,
                              struct gh_session **out, size_t *out_n)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = gh_sqlite_prepare(c, "SELECT id, user_id, created_at, last_used_at, "
                                            "expires_at, revoked_at FROM sessions WHERE user_id = "
                                            "?1 ORDER BY created_at DESC, id LIMIT ?2");
    if (st) {
        bind_text(st, 1, user_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
        rc = read_sessions(c, st, max, "sessions all", out, out_n);
    }
    release(s, c);
    return rc;
}

/* ---- master-key rotation ---- */

static gh_err rewrap_table(struct gh_store *s, const char *kind, const char *select_sql,
                           const char *update_sql, gh_store_rewrap_fn cb, void *ctx, long *changed)
{
    char last[128] = "";
    for (;;) {
        /* Page through by id so that no statement stays open while we write. */
        struct conn *c = acquire(s);
        sqlite3_stmt *st = gh_sqlite_prepare(c, select_sql);
        if (!st) {
            release(s, c);
            return GH_ERR_STORE;
        }
        bind_text(st, 1, last);
        char ids[64][128];
        char texts[64][256];
        int n = 0;
        while (n < 64 && sqlite3_step(st) == SQLITE_ROW) {
            copy_col(st, 0, ids[n], sizeof ids[n]);
            copy_col(st, 1, texts[n], sizeof texts[n]);
            n++;
        }
        sqlite3_reset(st);
        release(s, c);
        for (int i = 0; i < n; i++) {
            char repl[256];
            if (!cb(kind, ids[i], texts[i], repl, sizeof repl, ctx))
                continue;
            c = acquire(s);
            gh_err rc = GH_ERR_STORE;
            sqlite3_stmt *up = gh_sqlite_prepare(c, update_sql);
            if (up) {
                bind_text(up, 1, ids[i]);
                bind_text(up, 2, texts[i]);
                bind_text(up, 3, repl);
                rc = exec_done(c, up, "rewrap");
                if (rc == GH_OK && sqlite3_changes(c->db) == 1)
                    (*changed)++;
            }
            release(s, c);
            sodium_memzero(repl, sizeof repl);
            if (rc != GH_OK)
                return rc;
        }
        if (n < 64)
            return GH_OK;
        snprintf(last, sizeof last, "%s", ids[n - 1]);
    }
}

static gh_err sq_rewrap_all(struct gh_store *s, gh_store_rewrap_fn cb, void *ctx, long *out_changed)
{
    long changed = 0;
    gh_err rc = rewrap_table(s, "working-key",
                             "SELECT name, wrapped FROM wrapped_keys WHERE name > ?1 "
                             "ORDER BY name LIMIT 64",
                             "UPDATE wrapped_keys SET wrapped = ?3 WHERE name = ?1 AND "
                             "wrapped = ?2",
                             cb, ctx, &changed);
    if (rc == GH_OK)
        rc = rewrap_table(s, "user-dek",
                          "SELECT id, dek_wrapped FROM users WHERE id > ?1 AND dek_wrapped IS "
                          "NOT NULL ORDER BY id LIMIT 64",
                          "UPDATE users SET dek_wrapped = ?3 WHERE id = ?1 AND dek_wrapped = ?2",
                          cb, ctx, &changed);
    *out_changed = changed;
    return rc;
}

static gh_err sq_user_purge(struct gh_store *s, const char *user_id)
{
    return exec_text1(s, "DELETE FROM users WHERE id = ?1", user_id, "user purge");
}

static gh_err sq_snapshot(struct gh_store *s, const char *path)
{
    return exec_text1(s, "VACUUM INTO ?1", path, "snapshot");
}

static const char *sq_path(struct gh_store *s)
{
    return SQ(s)->path;
}

static gh_err sq_integrity_ok(struct gh_store *s)
{
    struct conn *c = acquire(s);
    gh_err rc = GH_ERR_STORE;
    sqlite3_stmt *st = gh_sqlite_prepare(c, "PRAGMA integrity_check");
    if (st) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            if (t && strcmp((const char *)t, "ok") == 0)
                rc = GH_OK;
        }
        sqlite3_reset(st);
    }
    release(s, c);
    return rc;
}

static gh_err sq_users_each(struct gh_store *s, gh_err (*cb)(struct gh_user *u, void *ctx),
                            void *ctx)
{
    char last[GH_ID_LEN + 1] = "";
    for (;;) {
        /* Pages of 64 by id: no statement stays open while cb runs. */
        struct gh_user *page = gh_calloc(64, sizeof *page);
        size_t n = 0;
        if (!page)
            return GH_ERR_NOMEM;
        struct conn *c = acquire(s);
        sqlite3_stmt *st = gh_sqlite_prepare(
            c, "SELECT id, email, email_key, display_name, password_hash, created_at, updated_at, "
               "last_login_at, dek_wrapped, is_admin FROM users WHERE id > ?1 ORDER BY id "
               "LIMIT 64");
        gh_err rc = st ? GH_OK : GH_ERR_STORE;
        if (st) {
            bind_text(st, 1, last);
            while (n < 64 && sqlite3_step(st) == SQLITE_ROW)
                read_user(st, &page[n++]);
            sqlite3_reset(st);
        }
        release(s, c);
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

/* ---- the backend table (store_backend.h) ---- */

static const struct gh_store_ops sqlite_ops = {
    .name = "sqlite",
    .epoch = sq_epoch,
    .free = sq_free,
    .migrate = sq_migrate,
    .schema_version = sq_schema_version,
    .ping = sq_ping,
    .user_insert = sq_user_insert,
    .users_insert_all = sq_users_insert_all,
    .user_get = sq_user_get,
    .user_find_by_email_key = sq_user_find_by_email_key,
    .user_set_password = sq_user_set_password,
    .user_set_admin = sq_user_set_admin,
    .user_sessions_revoke = sq_user_sessions_revoke,
    .session_create = sq_session_create,
    .refresh_rotate = sq_refresh_rotate,
    .session_get = sq_session_get,
    .session_revoke = sq_session_revoke,
    .session_by_refresh = sq_session_by_refresh,
    .sessions_list = sq_sessions_list,
    .sessions_revoke_all = sq_sessions_revoke_all,
    .access_check = sq_access_check,
    .throttle_get = sq_throttle_get,
    .throttle_fail = sq_throttle_fail,
    .throttle_clear = sq_throttle_clear,
    .throttle_clear_user = sq_throttle_clear_user,
    .keys_list = sq_keys_list,
    .key_insert = sq_key_insert,
    .key_mark = sq_key_mark,
    .key_rewrap = sq_key_rewrap,
    .wrapped_key_get = sq_wrapped_key_get,
    .wrapped_key_put_if_absent = sq_wrapped_key_put_if_absent,
    .counter_get = sq_counter_get,
    .users_legacy = sq_users_legacy,
    .user_seal_legacy = sq_user_seal_legacy,
    .checkpoint = sq_checkpoint,
    .user_erase = sq_user_erase,
    .sessions_all = sq_sessions_all,
    .rewrap_all = sq_rewrap_all,
    .user_purge = sq_user_purge,
    .snapshot = sq_snapshot,
    .path = sq_path,
    .integrity_ok = sq_integrity_ok,
    .users_each = sq_users_each,
    .audit_append = gh_sqlite_audit_append,
    .audit_tail = gh_sqlite_audit_tail,
    .audit_last_checkpoint = gh_sqlite_audit_last_checkpoint,
    .audit_checkpoint_insert = gh_sqlite_audit_checkpoint_insert,
    .audit_read = gh_sqlite_audit_read,
    .audit_read_user = gh_sqlite_audit_read_user,
    .audit_first_seq_at_or_after = gh_sqlite_audit_first_seq_at_or_after,
    .audit_prune_before = gh_sqlite_audit_prune_before,
};
