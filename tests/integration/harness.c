/* Integration-test harness: owns the gatehouse child processes, their temp data dirs (and in pg
 * mode their PostgreSQL databases) and the libcurl client. Everything the server sends is
 * treated as untrusted and bounds-checked. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "harness.h"

extern char **environ;

void h_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        abort();
    return p;
}

char *h_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0)
            break;
        n += r;
    }
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = n;
    return buf;
}

int h_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int rc = fwrite(text, 1, n, f) == n ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* ---- backend: SQLite, or one PostgreSQL database per server --------------------------- */

static bool pg_mode;
static const char *pg_admin_url; /* GH_TEST_PG_URL: a superuser of a throw-away test cluster */

/* Databases created and not yet dropped: a failed test skips h_server_free, exit drops them. */
#define H_MAX_PG_DBS 64
static char pg_live[H_MAX_PG_DBS][40];

static bool env_is(const char *name, const char *want)
{
    const char *v = getenv(name);
    return v && strcmp(v, want) == 0;
}

/* Before main, so that a pg run without a cluster is one clean skip (77), or with
 * GH_TEST_PG_REQUIRED=1 (CI) one clean failure, before any test has started. */
__attribute__((constructor)) static void backend_select(void)
{
    const char *b = getenv("GH_TEST_BACKEND");
    if (!b || !*b || strcmp(b, "sqlite") == 0)
        return;
    if (strcmp(b, "pg") != 0) {
        fprintf(stderr, "GH_TEST_BACKEND must be sqlite or pg\n");
        exit(1);
    }
    pg_mode = true;
    pg_admin_url = getenv("GH_TEST_PG_URL");
    if (!pg_admin_url || !*pg_admin_url)
        pg_admin_url = getenv("GH_TEST_PG_URL_CONFIGURED");
    if (!pg_admin_url || !*pg_admin_url) {
        bool required = env_is("GH_TEST_PG_REQUIRED", "1");
        fprintf(stderr,
                "%s: GH_TEST_BACKEND=pg needs GH_TEST_PG_URL "
                "(eval \"$(sh scripts/pg-test-cluster.sh start)\")\n",
                required ? "GH_TEST_PG_REQUIRED=1 but it is not set" : "skipped");
        exit(required ? 1 : 77);
    }
}

bool h_backend_is_pg(void)
{
    return pg_mode;
}

static void pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "database ... does not exist, skipping" and the like */
}

/* A superuser connection to dbname on the cluster of GH_TEST_PG_URL (NULL on failure). */
static PGconn *pg_admin_connect(const char *dbname)
{
    const char *const keys[] = {"dbname", "dbname", "application_name", NULL};
    const char *const vals[] = {pg_admin_url, dbname, "gh_integration_harness", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to GH_TEST_PG_URL (database %s): %s", dbname,
                c ? PQerrorMessage(c) : "out of memory\n");
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, pg_quiet, NULL);
    return c;
}

static int pg_admin_exec(const char *sql)
{
    PGconn *c = pg_admin_connect("postgres");
    if (!c)
        return -1;
    PGresult *r = PQexec(c, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}

static void pg_drop(const char *db)
{
    char sql[128];
    /* FORCE: a server killed by a failed assertion may still hold connections. */
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    if (pg_admin_exec(sql) != 0)
        fprintf(stderr, "could not drop test database %s\n", db);
    for (size_t i = 0; i < H_MAX_PG_DBS; i++)
        if (strcmp(pg_live[i], db) == 0)
            pg_live[i][0] = '\0';
}

static void pg_drop_leftovers(void)
{
    for (size_t i = 0; i < H_MAX_PG_DBS; i++)
        if (pg_live[i][0] && !getenv("GH_KEEP_TMP"))
            pg_drop(pg_live[i]);
}

static void url_append(char *out, size_t size, const char *key, const char *v)
{
    size_t n = strlen(out);
    snprintf(out + n, size - n, "%s%s=", strchr(out, '?') ? "&" : "?", key);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        n = strlen(out);
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            snprintf(out + n, size - n, "%c", *p);
        else
            snprintf(out + n, size - n, "%%%02X", *p);
    }
}

/* Does the cluster let us in with password pw (trust, or peer, ignore it)? Asked once. A URL
 * that carries a password lets tests prove it is never logged; .pgpass users keep theirs. */
static bool pg_accepts_marker(const char *pw)
{
    static int answer = -1;
    if (answer < 0) {
        const char *const keys[] = {"dbname", "dbname", "password", NULL};
        const char *const vals[] = {pg_admin_url, "postgres", pw, NULL};
        PGconn *c = PQconnectdbParams(keys, vals, 1);
        answer = c && PQstatus(c) == CONNECTION_OK;
        PQfinish(c);
    }
    return answer == 1;
}

/* A fresh database for s (named in s->pg_db) and the URL of it with GH_TEST_PG_URL's server,
 * user, password and TLS settings (in s->pg_url). */
static int pg_create(struct h_server *s)
{
    unsigned char rnd[6];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(s->pg_db, sizeof s->pg_db, "gh_it_%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5]);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", s->pg_db);
    if (pg_admin_exec(sql) != 0) {
        s->pg_db[0] = '\0';
        return -1;
    }
    static bool registered;
    if (!registered) {
        registered = atexit(pg_drop_leftovers) == 0;
    }
    for (size_t i = 0; i < H_MAX_PG_DBS; i++) {
        if (!pg_live[i][0]) {
            snprintf(pg_live[i], sizeof pg_live[i], "%s", s->pg_db);
            break;
        }
    }
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(pg_admin_url, &err);
    if (!opts) {
        fprintf(stderr, "GH_TEST_PG_URL does not parse: %s\n", err ? err : "?");
        PQfreemem(err);
        return -1;
    }
    snprintf(s->pg_url, sizeof s->pg_url, "postgresql:///");
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val || strcmp(o->keyword, "dbname") == 0)
            continue;
        url_append(s->pg_url, sizeof s->pg_url, o->keyword, o->val);
        if (strcmp(o->keyword, "password") == 0)
            snprintf(s->pg_password, sizeof s->pg_password, "%s", o->val);
    }
    PQconninfoFree(opts);
    if (!s->pg_password[0]) {
        char marker[sizeof s->pg_password];
        randombytes_buf(rnd, sizeof rnd);
        snprintf(marker, sizeof marker, "gh-it-pw-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
                 rnd[3], rnd[4], rnd[5]);
        if (pg_accepts_marker(marker)) {
            snprintf(s->pg_password, sizeof s->pg_password, "%s", marker);
            url_append(s->pg_url, sizeof s->pg_url, "password", marker);
        }
    }
    url_append(s->pg_url, sizeof s->pg_url, "dbname", s->pg_db);
    return 0;
}

int h_pg_query(const struct h_server *s, const char *sql, char **out)
{
    if (out)
        *out = NULL;
    if (!pg_mode || !s->pg_db[0])
        return -1;
    PGconn *c = pg_admin_connect(s->pg_db);
    if (!c)
        return -1;
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "psql-like query failed: %s", PQerrorMessage(c));
    if (rc == 0 && out) {
        size_t cap = 1;
        for (int i = 0; i < PQntuples(r); i++)
            for (int j = 0; j < PQnfields(r); j++)
                cap += (size_t)PQgetlength(r, i, j) + 1;
        char *text = malloc(cap);
        if (!text)
            abort();
        size_t n = 0;
        for (int i = 0; i < PQntuples(r); i++) {
            for (int j = 0; j < PQnfields(r); j++) {
                size_t len = (size_t)PQgetlength(r, i, j);
                memcpy(text + n, PQgetvalue(r, i, j), len);
                n += len;
                text[n++] = j + 1 < PQnfields(r) ? '|' : '\n';
            }
        }
        text[n] = '\0';
        *out = text;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

bool h_db_contains(const struct h_server *s, const char *needle)
{
    if (!pg_mode)
        return h_db_files_contain(s->dir, needle);
    PGconn *c = pg_admin_connect(s->pg_db);
    if (!c)
        fail_msg("h_db_contains: no connection to %s", s->pg_db);
    PGresult *tables = PQexec(c, "SELECT quote_ident(c.relname) FROM pg_class c "
                                 "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')");
    if (PQresultStatus(tables) != PGRES_TUPLES_OK || PQntuples(tables) == 0)
        fail_msg("h_db_contains: cannot list the tables of %s", s->pg_db);
    bool found = false;
    size_t nlen = strlen(needle);
    for (int i = 0; i < PQntuples(tables) && !found; i++) {
        char sql[256];
        /* Each whole row as text: every column, whatever its type. */
        snprintf(sql, sizeof sql, "SELECT t::text FROM public.%s t", PQgetvalue(tables, i, 0));
        PGresult *rows = PQexec(c, sql);
        if (PQresultStatus(rows) != PGRES_TUPLES_OK)
            fail_msg("h_db_contains: %s: %s", sql, PQerrorMessage(c));
        for (int j = 0; j < PQntuples(rows) && !found; j++) {
            const char *row = PQgetvalue(rows, j, 0);
            found = memmem(row, (size_t)PQgetlength(rows, j, 0), needle, nlen) != NULL;
        }
        PQclear(rows);
    }
    PQclear(tables);
    PQfinish(c);
    return found;
}

/* A pg run must really be one: unless the test chose another database itself, the server has
 * migrated its PostgreSQL database and left no SQLite file in the data directory. */
static int pg_check_in_use(const struct h_server *s)
{
    const char *url = NULL;
    for (size_t i = 0; i < s->nenv; i++)
        if (strncmp(s->env[i], "GATEHOUSE_DATABASE_URL=", 23) == 0)
            url = s->env[i] + 23;
    if (!url || strcmp(url, s->pg_url) != 0)
        return 0;
    char *out = NULL, path[300];
    int rc = h_pg_query(s, "SELECT count(*) > 0 FROM schema_migrations", &out);
    bool migrated = rc == 0 && out && strcmp(out, "t\n") == 0;
    free(out);
    snprintf(path, sizeof path, "%s/gatehouse.db", s->dir);
    if (!migrated || access(path, F_OK) == 0) {
        fprintf(stderr, "pg mode, but the server did not use database %s\n", s->pg_db);
        return -1;
    }
    return 0;
}

/* ---- environment ---------------------------------------------------------------------- */

static void env_add(struct h_server *s, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t nlen = eq ? (size_t)(eq - kv) : strlen(kv);
    for (size_t i = 0; i < s->nenv; i++) {
        if (strncmp(s->env[i], kv, nlen) == 0 && s->env[i][nlen] == '=') {
            free(s->env[i]);
            s->env[i] = xstrdup(kv);
            return;
        }
    }
    if (s->nenv + 1 >= H_MAX_ENV)
        abort();
    s->env[s->nenv++] = xstrdup(kv);
    s->env[s->nenv] = NULL;
}

static void env_build(struct h_server *s, const char *const *extra)
{
    char kv[512];
    s->nenv = 0;
    s->env[0] = NULL;
    /* Inherit the environment minus any GATEHOUSE_* a developer may have exported. */
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "GATEHOUSE_", 10) == 0)
            continue;
        if (s->nenv + 16 >= H_MAX_ENV)
            break;
        env_add(s, *e);
    }
    env_add(s, "GATEHOUSE_LISTEN=127.0.0.1:0");
    snprintf(kv, sizeof kv, "GATEHOUSE_DATA_DIR=%s", s->dir);
    env_add(s, kv);
    if (s->pg_db[0]) {
        char url[sizeof s->pg_url + 32];
        snprintf(url, sizeof url, "GATEHOUSE_DATABASE_URL=%s", s->pg_url);
        env_add(s, url);
    }
    env_add(s, "GATEHOUSE_TEST_INSECURE_FAST_HASH=1");
    env_add(s, "GATEHOUSE_LOG_LEVEL=debug");
    /* Tests send many requests from 127.0.0.1: raise every rate limit (the documented way for
     * test and benchmark runs); the rate-limit tests lower them again through extra_env. */
    static const char *const rules[] = {"API", "LOGIN", "REGISTER", "REFRESH", "PASSWORD"};
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        snprintf(kv, sizeof kv, "GATEHOUSE_RATELIMIT_%s_PER_MIN=60000000", rules[i]);
        env_add(s, kv);
        snprintf(kv, sizeof kv, "GATEHOUSE_RATELIMIT_%s_BURST=1000000", rules[i]);
        env_add(s, kv);
    }
    /* Leaks in the child would change its exit code; that is a real finding, keep it on. */
    for (size_t i = 0; extra && extra[i]; i++)
        env_add(s, extra[i]);
}

static const char *binary_path(void)
{
    const char *b = getenv("GH_BINARY");
    return (b && *b) ? b : "./gatehouse";
}

/* ---- server lifecycle ----------------------------------------------------------------- */

static int find_port_in_log(const char *path)
{
    char *log = h_read_file(path, NULL);
    if (!log)
        return -1;
    int port = -1;
    char *line = log;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break; /* incomplete line: wait for the rest */
        *nl = '\0';
        if (strstr(line, "\"event\":\"listening\"")) {
            json_t *o = json_loads(line, 0, NULL);
            json_t *p = o ? json_object_get(o, "port") : NULL;
            if (json_is_integer(p))
                port = (int)json_integer_value(p);
            json_decref(o);
            break;
        }
        line = nl + 1;
    }
    free(log);
    return port;
}

/* Start the binary on s->dir with s->env (already built) and wait until it answers. */
static int server_spawn(struct h_server *s)
{
    s->port = 0;
    s->stopped = false;
    int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        return -1;
    }
    if (pid == 0) {
        /* Never outlive a crashed test process. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
        }
        dup2(logfd, STDERR_FILENO);
        if (chdir(s->dir) != 0)
            _exit(126);
        char *argv[] = {(char *)binary_path(), (char *)"serve", NULL};
        execve(argv[0], argv, s->env);
        _exit(127);
    }
    close(logfd);
    s->pid = pid;

    /* Wait for the "listening" log line (port 0 → the kernel's choice), then /healthz. */
    for (int i = 0; i < 600 && s->port <= 0; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = -1;
            s->stopped = true;
            s->exit_status = st;
            char *log = h_read_file(s->log_path, NULL);
            fprintf(stderr, "gatehouse exited at start-up; log:\n%s\n", log ? log : "");
            free(log);
            return -1;
        }
        s->port = find_port_in_log(s->log_path);
        if (s->port <= 0)
            h_sleep_ms(50);
    }
    if (s->port <= 0)
        return -1;
    for (int i = 0; i < 200; i++) {
        struct h_response r;
        if (h_get(s, "/healthz", NULL, &r) == 0 && r.status == 200) {
            h_response_free(&r);
            return 0;
        }
        h_response_free(&r);
        h_sleep_ms(50);
    }
    return -1;
}

int h_server_start(struct h_server *s, const char *const *extra_env)
{
    return h_server_start_prepared(s, extra_env, NULL);
}

int h_server_start_prepared(struct h_server *s, const char *const *extra_env,
                            void (*prepare)(const struct h_server *s))
{
    memset(s, 0, sizeof *s);
    s->pid = -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/gh-int-XXXXXX", (tmp && *tmp) ? tmp : "/tmp");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->dir);
    if (pg_mode && pg_create(s) != 0)
        return -1;
    env_build(s, extra_env);
    for (size_t i = 0; extra_env && extra_env[i]; i++)
        if (strncmp(extra_env[i], "GATEHOUSE_TLS_CERT_PATH=", 24) == 0)
            s->tls = true;
    if (prepare)
        prepare(s);
    if (server_spawn(s) != 0)
        return -1;
    return pg_mode ? pg_check_in_use(s) : 0;
}

int h_server_restart_with(struct h_server *s, const char *const *extra_env)
{
    if (!s->stopped)
        h_server_stop(s);
    for (size_t i = 0; i < s->nenv; i++)
        free(s->env[i]);
    env_build(s, extra_env);
    char prev[360];
    snprintf(prev, sizeof prev, "%s.before-restart", s->log_path);
    rename(s->log_path, prev);
    return server_spawn(s);
}

int h_server_kill9_restart(struct h_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = -1;
    }
    char prev[360];
    snprintf(prev, sizeof prev, "%s.before-kill", s->log_path);
    rename(s->log_path, prev);
    return server_spawn(s);
}

int h_server_stop(struct h_server *s)
{
    if (s->stopped || s->pid <= 0) {
        s->stopped = true;
        return WIFEXITED(s->exit_status) ? WEXITSTATUS(s->exit_status) : -1;
    }
    kill(s->pid, SIGTERM);
    int st = 0;
    bool done = false;
    for (int i = 0; i < 200; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            done = true;
            break;
        }
        h_sleep_ms(50);
    }
    if (!done) {
        fprintf(stderr, "gatehouse did not stop within 10 s of SIGTERM: SIGKILL\n");
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
    }
    s->pid = -1;
    s->stopped = true;
    s->exit_status = st;
    return (done && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void h_rm_tree(const char *dir)
{
    if (dir[0] && !getenv("GH_KEEP_TMP"))
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

bool h_find_in_path(const char *name, const char *skip_dir, char *out, size_t size)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/bin:/usr/sbin:/usr/local/bin", path ? path : "");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (skip_dir && strcmp(d, skip_dir) == 0)
            continue;
        snprintf(out, size, "%s/%s", d, name);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

void h_server_free(struct h_server *s)
{
    h_server_stop(s);
    h_rm_tree(s->dir);
    if (s->pg_db[0] && !getenv("GH_KEEP_TMP"))
        pg_drop(s->pg_db);
    s->pg_db[0] = '\0';
    for (size_t i = 0; i < s->nenv; i++)
        free(s->env[i]);
    s->nenv = 0;
    s->dir[0] = '\0';
}

/* ---- HTTP client ---------------------------------------------------------------------- */

struct buf {
    char *p;
    size_t n, cap;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct buf *b = userp;
    size_t n = size * nmemb;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        if (cap > (64u << 20))
            return 0;
        char *np = realloc(b->p, cap);
        if (!np)
            return 0;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static void headers_clear(struct h_response *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->nheaders = 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct h_response *r = userp;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        headers_clear(r); /* a new response (after 100 Continue): start over */
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon || r->nheaders >= H_MAX_HEADERS)
        return n;
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = n - nlen - 1;
    while (vlen && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    r->headers[r->nheaders].name = xstrndup(data, nlen);
    r->headers[r->nheaders].value = xstrndup(v, vlen);
    r->nheaders++;
    return n;
}

const char *h_header(const struct h_response *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

void h_response_free(struct h_response *r)
{
    headers_clear(r);
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

int h_request(const struct h_server *s, const char *method, const char *path,
              const char *const *headers, const char *body, size_t body_len,
              const char *content_type, struct h_response *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    char url[1200];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", s->tls ? "https" : "http", s->port, path);
    struct curl_slist *hl = NULL;
    char line[1200];
    if (content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", content_type);
        hl = curl_slist_append(hl, line);
    } else {
        hl = curl_slist_append(hl, "Content-Type:"); /* curl must not add its default */
    }
    hl = curl_slist_append(hl, "Expect:");
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    struct buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (s->tls) {
        /* The test's own self-signed certificate. */
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (body) {
        if (body_len == SIZE_MAX)
            body_len = strlen(body);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    if (strcmp(method, body ? "POST" : "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    out->status = status;
    out->body = b.p ? b.p : xstrdup("");
    out->body_len = b.n;
    const char *ct = h_header(out, "Content-Type");
    if (ct && (strncmp(ct, "application/json", 16) == 0 ||
               strncmp(ct, "application/problem+json", 24) == 0))
        out->json = json_loadb(out->body, out->body_len, JSON_DECODE_ANY, NULL);
    if (cc != CURLE_OK) {
        fprintf(stderr, "curl %s %s: %s\n", method, path, curl_easy_strerror(cc));
        return -1;
    }
    return 0;
}

static const char *const *auth_headers(const char *bearer, char *line, size_t size,
                                       const char **arr)
{
    if (!bearer)
        return NULL;
    snprintf(line, size, "Authorization: Bearer %s", bearer);
    arr[0] = line;
    arr[1] = NULL;
    return arr;
}

int h_get(const struct h_server *s, const char *path, const char *bearer, struct h_response *out)
{
    char line[1200];
    const char *arr[2];
    return h_request(s, "GET", path, auth_headers(bearer, line, sizeof line, arr), NULL, 0, NULL,
                     out);
}

int h_send_json(const struct h_server *s, const char *method, const char *path, const char *bearer,
                json_t *body, struct h_response *out)
{
    char line[1200];
    const char *arr[2];
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    int rc = h_request(s, method, path, auth_headers(bearer, line, sizeof line, arr),
                       text ? text : NULL, SIZE_MAX, text ? "application/json" : NULL, out);
    free(text);
    return rc;
}

int h_post_json(const struct h_server *s, const char *path, const char *bearer, json_t *body,
                struct h_response *out)
{
    return h_send_json(s, "POST", path, bearer, body, out);
}

int h_post_form(const struct h_server *s, const char *path, const char *form,
                struct h_response *out)
{
    return h_request(s, "POST", path, NULL, form, SIZE_MAX, "application/x-www-form-urlencoded",
                     out);
}

/* ---- assertions ----------------------------------------------------------------------- */

static void expect_header(const char *file, int line, const struct h_response *r, const char *name,
                          const char *want)
{
    const char *v = h_header(r, name);
    if (!v)
        fail_msg("%s:%d: status %ld: header %s missing", file, line, r->status, name);
    if (want && strcmp(v, want) != 0)
        fail_msg("%s:%d: status %ld: header %s is '%s', want '%s'", file, line, r->status, name, v,
                 want);
}

void h_assert_security_headers_at(const char *file, int line, const struct h_response *r)
{
    expect_header(file, line, r, "X-Request-Id", NULL);
    assert_true(strlen(h_header(r, "X-Request-Id")) >= 16);
    expect_header(file, line, r, "Content-Security-Policy", NULL);
    expect_header(file, line, r, "X-Content-Type-Options", "nosniff");
    expect_header(file, line, r, "Referrer-Policy", "no-referrer");
    expect_header(file, line, r, "X-Frame-Options", "DENY");
    expect_header(file, line, r, "Cache-Control", "no-store");
}

void h_assert_json_response_at(const char *file, int line, const struct h_response *r, long status)
{
    if (r->status != status)
        fail_msg("%s:%d: status %ld, want %ld; body: %s", file, line, r->status, status, r->body);
    h_assert_security_headers_at(file, line, r);
    const char *ct = h_header(r, "Content-Type");
    if (!ct || strncmp(ct, "application/json", 16) != 0)
        fail_msg("%s:%d: Content-Type '%s', want application/json", file, line, ct ? ct : "(none)");
    if (!r->json)
        fail_msg("%s:%d: body is not JSON: %s", file, line, r->body);
}

static const char *const forbidden_in_errors[] = {
    "sqlite", "SQL",     "SELECT ",       "INSERT ", "constraint",       "stack", "backtrace",
    ".c:",    "jansson", "libmicrohttpd", "errno",   "AddressSanitizer", NULL};

void h_assert_problem_at(const char *file, int line, const struct h_server *s,
                         const struct h_response *r, long status)
{
    if (r->status != status)
        fail_msg("%s:%d: status %ld, want %ld; body: %s", file, line, r->status, status, r->body);
    h_assert_security_headers_at(file, line, r);
    const char *ct = h_header(r, "Content-Type");
    if (!ct || strncmp(ct, "application/problem+json", 24) != 0)
        fail_msg("%s:%d: Content-Type '%s', want application/problem+json (body %s)", file, line,
                 ct ? ct : "(none)", r->body);
    if (!json_is_object(r->json))
        fail_msg("%s:%d: problem body is not a JSON object: %s", file, line, r->body);
    assert_true(json_is_string(json_object_get(r->json, "type")));
    assert_true(json_string_length(json_object_get(r->json, "type")) > 0);
    assert_true(json_is_string(json_object_get(r->json, "title")));
    assert_true(json_string_length(json_object_get(r->json, "title")) > 0);
    json_t *st = json_object_get(r->json, "status");
    if (!json_is_integer(st) || json_integer_value(st) != status)
        fail_msg("%s:%d: problem status member wrong: %s", file, line, r->body);
    json_t *rid = json_object_get(r->json, "request_id");
    assert_true(json_is_string(rid));
    assert_string_equal(json_string_value(rid), h_header(r, "X-Request-Id"));
    /* Search the body minus the random request id (which may spell "sqL" by chance). */
    json_t *copy = json_deep_copy(r->json);
    json_object_del(copy, "request_id");
    char *text = json_dumps(copy, 0);
    json_decref(copy);
    for (size_t i = 0; text && forbidden_in_errors[i]; i++)
        if (strcasestr(text, forbidden_in_errors[i]))
            fail_msg("%s:%d: error body contains '%s': %s", file, line, forbidden_in_errors[i],
                     r->body);
    free(text);
    if (s && s->dir[0] && strstr(r->body, s->dir))
        fail_msg("%s:%d: error body contains the data dir: %s", file, line, r->body);
    if (s && s->pg_db[0] && strstr(r->body, s->pg_db))
        fail_msg("%s:%d: error body names the database: %s", file, line, r->body);
    /* A file path would need a "/" outside the "type" URI: check the other members. */
    const char *k;
    json_t *v;
    json_object_foreach(r->json, k, v)
    {
        if (strcmp(k, "type") == 0 || !json_is_string(v))
            continue;
        if (strstr(json_string_value(v), "/tmp") || strstr(json_string_value(v), "/var/") ||
            strstr(json_string_value(v), "/home") || strstr(json_string_value(v), "/usr/"))
            fail_msg("%s:%d: error member %s looks like a file path: %s", file, line, k,
                     json_string_value(v));
    }
}

void h_assert_errors_field_at(const char *file, int line, const struct h_response *r,
                              const char *field)
{
    json_t *errs = json_object_get(r->json, "errors");
    if (!json_is_array(errs) || json_array_size(errs) == 0)
        fail_msg("%s:%d: no errors[] in %s", file, line, r->body);
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        if (f && strcmp(f, field) == 0) {
            assert_true(json_is_string(json_object_get(e, "message")));
            return;
        }
    }
    fail_msg("%s:%d: errors[] does not name field '%s': %s", file, line, field, r->body);
}

/* ---- flows ---------------------------------------------------------------------------- */

void h_unique_email(const char *tag, char *out, size_t size)
{
    static unsigned counter;
    unsigned char rnd[4];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(out, size, "%s.%u.%02x%02x%02x%02x@example.com", tag, ++counter, rnd[0], rnd[1],
             rnd[2], rnd[3]);
}

long h_register(const struct h_server *s, const char *email, const char *pw,
                const char *display_name, json_t **out_json)
{
    json_t *b = json_pack("{s:s,s:s}", "email", email, "password", pw);
    if (display_name)
        json_object_set_new(b, "display_name", json_string(display_name));
    struct h_response r;
    if (h_post_json(s, "/v1/users", NULL, b, &r) != 0) {
        h_response_free(&r);
        return -1;
    }
    long st = r.status;
    if (out_json)
        *out_json = json_incref(r.json);
    h_response_free(&r);
    return st;
}

static long tokens_from(struct h_response *r, struct h_tokens *out)
{
    long st = r->status;
    if (out)
        memset(out, 0, sizeof *out);
    if (st == 200 && out && r->json) {
        const char *a = json_string_value(json_object_get(r->json, "access_token"));
        const char *f = json_string_value(json_object_get(r->json, "refresh_token"));
        snprintf(out->access, sizeof out->access, "%s", a ? a : "");
        snprintf(out->refresh, sizeof out->refresh, "%s", f ? f : "");
        out->expires_in = (long)json_integer_value(json_object_get(r->json, "expires_in"));
    }
    h_response_free(r);
    return st;
}

long h_login(const struct h_server *s, const char *email, const char *pw, struct h_tokens *out)
{
    struct h_response r;
    if (h_post_json(s, "/v1/token", NULL, json_pack("{s:s,s:s}", "email", email, "password", pw),
                    &r) != 0) {
        h_response_free(&r);
        return -1;
    }
    return tokens_from(&r, out);
}

long h_refresh(const struct h_server *s, const char *refresh, struct h_tokens *out)
{
    struct h_response r;
    if (h_post_json(s, "/v1/token/refresh", NULL, json_pack("{s:s}", "refresh_token", refresh),
                    &r) != 0) {
        h_response_free(&r);
        return -1;
    }
    return tokens_from(&r, out);
}

long h_me_status(const struct h_server *s, const char *access)
{
    struct h_response r;
    if (h_get(s, "/v1/me", access, &r) != 0) {
        h_response_free(&r);
        return -1;
    }
    long st = r.status;
    h_response_free(&r);
    return st;
}

void h_expect_refused_after_cli(const struct h_server *s, const char *access)
{
    if (!h_backend_is_pg()) {
        long st = h_me_status(s, access);
        if (st != 401)
            fail_msg("a token revoked by the CLI got %ld on the next request, not 401", st);
        return;
    }
    for (int i = 0; i < 100; i++) {
        if (h_me_status(s, access) == 401)
            return;
        h_sleep_ms(10);
    }
    fail_msg("a token revoked by the CLI was still accepted 1 s later");
}

void h_user_session(const struct h_server *s, const char *tag, const char *pw, char *email_out,
                    size_t email_size, struct h_tokens *out)
{
    h_unique_email(tag, email_out, email_size);
    assert_int_equal(h_register(s, email_out, pw, NULL, NULL), 201);
    assert_int_equal(h_login(s, email_out, pw, out), 200);
    assert_true(strlen(out->access) > 20);
    assert_true(strlen(out->refresh) > 20);
}

/* ---- CLI ------------------------------------------------------------------------------ */

int h_cli(const struct h_server *s, const char *const *args, struct h_cli_result *out)
{
    static unsigned seq;
    char outp[400], errp[400];
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    seq++;
    snprintf(outp, sizeof outp, "%s/cli-%u.out", s->dir, seq);
    snprintf(errp, sizeof errp, "%s/cli-%u.err", s->dir, seq);
    int ofd = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int efd = open(errp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (ofd < 0 || efd < 0) {
        if (ofd >= 0)
            close(ofd);
        if (efd >= 0)
            close(efd);
        return -1;
    }
    char *argv[32];
    size_t n = 0;
    argv[n++] = (char *)binary_path();
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(ofd);
        close(efd);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(ofd, STDOUT_FILENO);
        dup2(efd, STDERR_FILENO);
        if (chdir(s->dir) != 0)
            _exit(126);
        execve(argv[0], argv, s->env);
        _exit(127);
    }
    close(ofd);
    close(efd);
    int st = 0;
    bool done = false;
    for (int i = 0; i < 1200; i++) { /* 60 s */
        if (waitpid(pid, &st, WNOHANG) == pid) {
            done = true;
            break;
        }
        h_sleep_ms(50);
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    out->exit_code = (done && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
    out->out = h_read_file(outp, NULL);
    out->err = h_read_file(errp, NULL);
    if (!out->out)
        out->out = xstrdup("");
    if (!out->err)
        out->err = xstrdup("");
    unlink(outp);
    unlink(errp);
    return 0;
}

void h_cli_free(struct h_cli_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* ---- JWT / JWKS ----------------------------------------------------------------------- */

json_t *h_jwt_part(const char *jwt, int part)
{
    const char *p = jwt;
    for (int i = 0; i < part; i++) {
        p = strchr(p, '.');
        if (!p)
            return NULL;
        p++;
    }
    const char *end = strchr(p, '.');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    unsigned char *bin = malloc(len + 1);
    if (!bin)
        return NULL;
    size_t blen = 0;
    if (sodium_base642bin(bin, len + 1, p, len, NULL, &blen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        free(bin);
        return NULL;
    }
    json_t *o = json_loadb((const char *)bin, blen, 0, NULL);
    free(bin);
    return o;
}

bool h_jwks_has_kid(const struct h_server *s, const char *kid, size_t *out_nkeys)
{
    struct h_response r;
    bool found = false;
    if (h_get(s, "/.well-known/jwks.json", NULL, &r) == 0 && r.status == 200) {
        json_t *keys = json_object_get(r.json, "keys");
        if (out_nkeys)
            *out_nkeys = json_array_size(keys);
        size_t i;
        json_t *k;
        json_array_foreach(keys, i, k)
        {
            const char *kk = json_string_value(json_object_get(k, "kid"));
            if (kk && strcmp(kk, kid) == 0)
                found = true;
        }
    }
    h_response_free(&r);
    return found;
}

bool h_db_files_contain(const char *dir, const char *needle)
{
    if (pg_mode)
        fail_msg("h_db_files_contain reads SQLite files: in pg mode use h_db_contains");
    const char *suffix[] = {"", "-wal", "-shm", "-journal", NULL};
    for (int i = 0; suffix[i]; i++) {
        char path[512];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/gatehouse.db%s", dir, suffix[i]);
        char *data = h_read_file(path, &len);
        if (!data)
            continue;
        bool found = memmem(data, len, needle, strlen(needle)) != NULL;
        free(data);
        if (found)
            return true;
    }
    return false;
}
