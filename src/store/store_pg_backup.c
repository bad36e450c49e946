/* Owns the PostgreSQL side of `gatehouse backup`: pg_dump (create), pg_restore piped into psql
 * (restore), and the restore transaction that keeps the erasure ledger. Command-line only:
 * serve's seccomp sandbox forbids exec. Lifetime: one call; every child is waited for (killed
 * first on a failure) before it returns, and their scratch files are anonymous tmpfile()s.
 * Trust boundary: the URL is a secret. It reaches the children only as environment variables
 * (PGHOST, PGPASSWORD, ...; never argv, which /proc shows to every local user, never a file),
 * and gatehouse's own GATEHOUSE_* secrets are not passed on at all. The children's messages can
 * name hosts, users and values: they are read to choose a fixed sentence and never printed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"
#include "store/migrations.h"
#include "store/pg_internal.h"
#include "store/store.h"
#include "store/store_backend.h"
#include "core/banned.h"

extern char **environ;

#define IO_CHUNK ((size_t)64 * 1024)
#define ERR_TEXT_MAX 8192
#define TOC_MAX ((size_t)4 * 1024 * 1024)
#define ENV_MAX 512

#define WHY(...) snprintf(why, GH_STORE_WHY_MAX, __VA_ARGS__)

/* ---- the children's environment ---- */

/* libpq's connection keywords and the variables that carry them. */
static const struct {
    const char *keyword, *var;
} kw_env[] = {
    {"host", "PGHOST"},
    {"hostaddr", "PGHOSTADDR"},
    {"port", "PGPORT"},
    {"dbname", "PGDATABASE"},
    {"user", "PGUSER"},
    {"password", "PGPASSWORD"},
    {"passfile", "PGPASSFILE"},
    {"channel_binding", "PGCHANNELBINDING"},
    {"connect_timeout", "PGCONNECT_TIMEOUT"},
    {"client_encoding", "PGCLIENTENCODING"},
    {"options", "PGOPTIONS"},
    {"application_name", "PGAPPNAME"},
    {"sslmode", "PGSSLMODE"},
    {"requiressl", "PGREQUIRESSL"},
    {"sslcompression", "PGSSLCOMPRESSION"},
    {"sslcert", "PGSSLCERT"},
    {"sslkey", "PGSSLKEY"},
    {"sslrootcert", "PGSSLROOTCERT"},
    {"sslcrl", "PGSSLCRL"},
    {"sslcrldir", "PGSSLCRLDIR"},
    {"sslsni", "PGSSLSNI"},
    {"requirepeer", "PGREQUIREPEER"},
    {"ssl_min_protocol_version", "PGSSLMINPROTOCOLVERSION"},
    {"ssl_max_protocol_version", "PGSSLMAXPROTOCOLVERSION"},
    {"gssencmode", "PGGSSENCMODE"},
    {"krbsrvname", "PGKRBSRVNAME"},
    {"gsslib", "PGGSSLIB"},
    {"gssdelegation", "PGGSSDELEGATION"},
    {"service", "PGSERVICE"},
    {"target_session_attrs", "PGTARGETSESSIONATTRS"},
    {"load_balance_hosts", "PGLOADBALANCEHOSTS"},
    {"require_auth", "PGREQUIREAUTH"},
    {"sslcertmode", "PGSSLCERTMODE"},
    {"sslnegotiation", "PGSSLNEGOTIATION"},
};

/* Keywords without a variable that only tune the TCP connection: left out. */
static const char *const kw_dropped[] = {"fallback_application_name", "keepalives",
                                         "keepalives_idle",           "keepalives_interval",
                                         "keepalives_count",          "tcp_user_timeout"};

struct child_env {
    char *v[ENV_MAX + 1]; /* NULL-terminated; every entry gh_malloc'd, wiped when freed */
    size_t n;
};

static void env_free(struct child_env *e)
{
    for (size_t i = 0; i < e->n; i++) {
        sodium_memzero(e->v[i], strlen(e->v[i]));
        gh_free(e->v[i]);
    }
    e->n = 0;
    e->v[0] = NULL;
}

static gh_err env_put(struct child_env *e, const char *name, const char *value)
{
    if (e->n == ENV_MAX)
        return GH_ERR_TOO_LARGE;
    size_t len = strlen(name) + 1 + strlen(value) + 1;
    char *kv = gh_malloc(len);
    if (!kv)
        return GH_ERR_NOMEM;
    snprintf(kv, len, "%s=%s", name, value);
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
    return GH_OK;
}

static bool env_has(const struct child_env *e, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], name, len) == 0 && e->v[i][len] == '=')
            return true;
    return false;
}

static const char *env_var_of(const char *keyword)
{
    for (size_t i = 0; i < sizeof kw_env / sizeof kw_env[0]; i++)
        if (strcmp(kw_env[i].keyword, keyword) == 0)
            return kw_env[i].var;
    return NULL;
}

/* The environment for pg_dump / pg_restore / psql: the connection of url as PG* variables, then
 * this process's environment without GATEHOUSE_* (the master key, the URL itself, ...) and
 * without the PG* variables the URL replaces (libpq would let the URL win too). Defaults the
 * URL can override, as gatehouse's own connections have them: a 5 s connect timeout. */
static gh_err env_build(const char *url, struct child_env *e, char *why)
{
    char *err = NULL;
    gh_err rc = GH_OK;
    e->n = 0;
    e->v[0] = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &err);
    if (!opts) {
        PQfreemem(err); /* may quote the URL */
        WHY("GATEHOUSE_DATABASE_URL does not parse as a libpq URI");
        return GH_ERR_CONFIG;
    }
    for (PQconninfoOption *o = opts; o->keyword && rc == GH_OK; o++) {
        if (!o->val)
            continue;
        const char *var = env_var_of(o->keyword);
        bool dropped = false;
        for (size_t i = 0; i < sizeof kw_dropped / sizeof kw_dropped[0]; i++)
            dropped = dropped || strcmp(kw_dropped[i], o->keyword) == 0;
        if (var) {
            rc = env_put(e, var, o->val);
        } else if (!dropped) {
            /* sslpassword (no variable; argv would show it), replication, ...: refuse rather
             * than connect differently from gatehouse. Keywords are not secret. */
            WHY("GATEHOUSE_DATABASE_URL sets %s, which cannot be handed to pg_dump/psql "
                "without putting it on a command line; remove it for backups",
                o->keyword);
            rc = GH_ERR_CONFIG;
        }
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val)
            sodium_memzero(o->val, strlen(o->val));
    PQconninfoFree(opts);
    if (rc == GH_OK && !env_has(e, "PGCONNECT_TIMEOUT") && !getenv("PGCONNECT_TIMEOUT"))
        rc = env_put(e, "PGCONNECT_TIMEOUT", "5");
    if (rc == GH_OK && !env_has(e, "PGAPPNAME") && !getenv("PGAPPNAME"))
        rc = env_put(e, "PGAPPNAME", "gatehouse-backup");
    for (char **p = environ; *p && rc == GH_OK; p++) {
        const char *eq = strchr(*p, '=');
        if (!eq || strncmp(*p, "GATEHOUSE_", 10) == 0)
            continue;
        char name[128];
        size_t nlen = (size_t)(eq - *p);
        if (nlen >= sizeof name)
            continue;
        memcpy(name, *p, nlen);
        name[nlen] = '\0';
        if (!env_has(e, name))
            rc = env_put(e, name, eq + 1);
    }
    if (rc != GH_OK) {
        if (rc != GH_ERR_CONFIG)
            WHY("the environment for the PostgreSQL client programs could not be built");
        env_free(e);
    }
    return rc;
}

/* ---- child processes ---- */

/* Start argv[0] (found through PATH) with fds 0, 1, 2 (and 3 when extra_fd >= 0) set to the
 * given descriptors; -1 for stdin means /dev/null. Every other descriptor of ours is
 * close-on-exec (libpq's sockets too). */
static gh_err spawn(const char *const *argv, char *const *envp, int in_fd, int out_fd, int err_fd,
                    int extra_fd, pid_t *out_pid)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return GH_ERR_NOMEM;
    int rc = 0;
    if (in_fd >= 0)
        rc = posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    else
        rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    if (rc == 0 && extra_fd >= 0)
        rc = posix_spawn_file_actions_adddup2(&fa, extra_fd, 3);
    if (rc == 0)
        rc = posix_spawnp(out_pid, argv[0], &fa, NULL, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? GH_OK : (rc == ENOENT || rc == EACCES) ? GH_ERR_CONFIG : GH_ERR_IO;
}

/* Wait for pid: its exit code, 128 + signal when killed. */
static int reap(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

static void kill_reap(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        (void)reap(pid);
    }
}

/* The first max-1 bytes of an anonymous scratch file (a child's stderr or stdout). */
static void scratch_text(FILE *f, char *out, size_t max)
{
    out[0] = '\0';
    if (!f || fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
        return;
    size_t n = fread(out, 1, max - 1, f);
    out[n] = '\0';
}

/* An anonymous scratch file (already unlinked, mode 0600), close-on-exec so that only the
 * child it is meant for gets it. */
static FILE *scratch_new(void)
{
    FILE *f = tmpfile();
    if (f && fcntl(fileno(f), F_SETFD, FD_CLOEXEC) != 0) {
        (void)fclose(f);
        f = NULL;
    }
    return f;
}

static void scratch_close(FILE **f)
{
    if (*f)
        (void)fclose(*f); /* an unlinked scratch file: nothing to lose */
    *f = NULL;
}

/* "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → "15.18"; "" when it does not run. */
static void tool_version(const char *tool, char *const *envp, char out[32])
{
    out[0] = '\0';
    FILE *o = scratch_new(), *e = scratch_new();
    pid_t pid;
    const char *const argv[] = {tool, "--version", NULL};
    if (o && e && spawn(argv, envp, -1, fileno(o), fileno(e), -1, &pid) == GH_OK &&
        reap(pid) == 0) {
        char text[256];
        scratch_text(o, text, sizeof text);
        const char *p = strstr(text, "PostgreSQL) ");
        if (p) {
            p += 12;
            size_t n = strspn(p, "0123456789.");
            if (n > 0 && n < 32) {
                memcpy(out, p, n);
                out[n] = '\0';
            }
        }
    }
    scratch_close(&o);
    scratch_close(&e);
}

static int major_of(const char *version)
{
    return (int)strtol(version, NULL, 10);
}

/* One fixed sentence for a child's failure, chosen from its messages (never quoted), and the
 * error it maps to. */
static gh_err explain(const char *tool, int status, const char *err, char *why)
{
    if (status == 127) {
        WHY("%s could not be run: install Debian's postgresql-client", tool);
        return GH_ERR_CONFIG;
    } else if (strstr(err, "server version mismatch") || strstr(err, "unsupported version")) {
        WHY("%s is older than the server or the archive needs: install the PostgreSQL client "
            "of the server's major version (or newer) and put it first in PATH",
            tool);
        return GH_ERR_CONFIG;
    } else if (strstr(err, "permission denied") || strstr(err, "must be owner") ||
               strstr(err, "must be member")) {
        WHY("%s: the database role lacks a privilege it needs (backup create needs SELECT on "
            "every gatehouse table; backup restore must run as the owner role that runs "
            "gatehouse migrate)",
            tool);
        return GH_ERR_FORBIDDEN;
    } else if (strstr(err, "role \"") && strstr(err, "does not exist")) {
        WHY("%s: a role named in the backup's grants does not exist on this server: create "
            "the roles first (docs/deployment.md)",
            tool);
        return GH_ERR_CONFIG;
    } else if (strstr(err, "lock timeout") || strstr(err, "could not obtain lock")) {
        WHY("%s timed out waiting for a table lock: stop every gatehouse instance using this "
            "database and try again",
            tool);
        return GH_ERR_BUSY;
    } else if (strstr(err, "connection to server") || strstr(err, "could not connect") ||
               strstr(err, "authentication failed") || strstr(err, "pg_hba.conf")) {
        WHY("%s could not connect with GATEHOUSE_DATABASE_URL (check the server, the "
            "credentials and pg_hba.conf; its message is withheld: it names hosts and users)",
            tool);
        return GH_ERR_STORE;
    } else {
        WHY("%s failed (exit status %d); its message is withheld because it can quote hosts, "
            "users and values: run it by hand with the same connection to see it",
            tool, status);
        return GH_ERR_STORE;
    }
}

/* ---- facts about the live database ---- */

struct live_facts {
    char schema[64];
    char app_name[64];
    int server_version;
    bool has_ledger;     /* erasure_ledger exists in gatehouse's schema */
    bool may_replace;    /* owns the tables (or there are none) and may create in the schema */
    long other_sessions; /* connected with our application_name, not from this process */
};

static const char SQL_DUMP_FACTS[] =
    "SELECT current_schema(), current_setting('server_version_num')::int";
static const char SQL_RESTORE_FACTS[] =
    "SELECT current_schema(), current_setting('server_version_num')::int, "
    "current_setting('application_name'), to_regclass('erasure_ledger') IS NOT NULL, "
    "(to_regclass('users') IS NULL OR pg_has_role(current_user, "
    "(SELECT relowner FROM pg_class WHERE oid = to_regclass('users')), 'MEMBER')) "
    "AND has_schema_privilege(current_schema(), 'CREATE'), "
    "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name = current_setting('application_name') AND pid <> ALL($1::int[]))";

static gh_err live_facts(struct gh_store *s, bool restore, struct live_facts *f, char *why)
{
    memset(f, 0, sizeof *f);
    struct gh_pg_store *ps = PGS(s);
    char pids[GH_PG_POOL_SIZE * 12 + 3] = "{";
    for (int i = 0; i < GH_PG_POOL_SIZE; i++) {
        if (!ps->conns[i].pg || PQstatus(ps->conns[i].pg) != CONNECTION_OK)
            continue;
        size_t n = strlen(pids);
        snprintf(pids + n, sizeof pids - n, "%s%d", n > 1 ? "," : "",
                 PQbackendPID(ps->conns[i].pg));
    }
    size_t n = strlen(pids);
    snprintf(pids + n, sizeof pids - n, "}");
    struct pg_conn *c = gh_pg_acquire(ps);
    if (!c) {
        WHY("cannot reach PostgreSQL (GATEHOUSE_DATABASE_URL)");
        return GH_ERR_STORE;
    }
    struct pg_params p = {0};
    PGresult *r = NULL;
    gh_pg_param_text(&p, pids);
    gh_err rc = restore ? gh_pg_run(c, SQL_RESTORE_FACTS, &p, "restore facts", &r)
                        : gh_pg_run(c, SQL_DUMP_FACTS, NULL, "dump facts", &r);
    if (rc == GH_OK && PQntuples(r) == 1) {
        gh_pg_copy(r, 0, 0, f->schema, sizeof f->schema);
        f->server_version = (int)gh_pg_i64(r, 0, 1);
        if (restore) {
            gh_pg_copy(r, 0, 2, f->app_name, sizeof f->app_name);
            f->has_ledger = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
            f->may_replace = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
            f->other_sessions = (long)gh_pg_i64(r, 0, 5);
        }
    } else if (rc == GH_OK) {
        rc = GH_ERR_STORE;
    }
    PQclear(r);
    gh_pg_release(ps, c);
    if (rc != GH_OK)
        WHY("cannot read the database's schema and version");
    else if (!f->schema[0]) {
        WHY("the search_path of GATEHOUSE_DATABASE_URL names no existing schema");
        rc = GH_ERR_CONFIG;
    }
    return rc;
}

/* pg_dump's -n pattern for exactly this schema: double-quoted, quotes doubled, so that no
 * pattern character (* ? .) in a name widens it. */
static void schema_pattern(const char *schema, char *out, size_t size)
{
    size_t n = 0;
    out[n++] = '"';
    for (const char *p = schema; *p && n + 3 < size; p++) {
        if (*p == '"')
            out[n++] = '"';
        out[n++] = *p;
    }
    out[n++] = '"';
    out[n] = '\0';
}

/* ---- backup create ---- */

gh_err gh_pg_backup_dump(struct gh_store *s,
                         gh_err (*sink)(const unsigned char *buf, size_t n, void *ctx), void *ctx,
                         struct gh_store_dump_info *out, char why[GH_STORE_WHY_MAX])
{
    struct live_facts f;
    struct child_env env = {.n = 0};
    unsigned char *buf = NULL;
    FILE *errf = NULL;
    int pfd[2] = {-1, -1};
    pid_t pid = -1;
    char pattern[160];
    gh_err rc;
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    if ((rc = live_facts(s, false, &f, why)) != GH_OK)
        return rc;
    if ((rc = env_build(PGS(s)->url, &env, why)) != GH_OK)
        return rc;
    tool_version("pg_dump", env.v, out->tool_version);
    if (!out->tool_version[0]) {
        WHY("pg_dump could not be run: install Debian's postgresql-client");
        rc = GH_ERR_CONFIG;
        goto out;
    }
    /* pg_dump refuses a newer server: say which client is needed before starting. */
    if (major_of(out->tool_version) < f.server_version / 10000) {
        WHY("pg_dump %s cannot dump a PostgreSQL %d server: install postgresql-client-%d and "
            "put it first in PATH",
            out->tool_version, f.server_version / 10000, f.server_version / 10000);
        rc = GH_ERR_CONFIG;
        goto out;
    }
    snprintf(out->schema, sizeof out->schema, "%s", f.schema);
    out->server_version = f.server_version;
    schema_pattern(f.schema, pattern, sizeof pattern);
    const char *const argv[] = {"pg_dump",       "--format=custom",           "--schema", pattern,
                                "--no-password", "--lock-wait-timeout=30000", NULL};
    buf = gh_malloc(IO_CHUNK);
    errf = scratch_new();
    if (!buf || !errf || pipe2(pfd, O_CLOEXEC) != 0) {
        WHY("out of memory or descriptors");
        rc = GH_ERR_NOMEM;
        goto out;
    }
    if (spawn(argv, env.v, -1, pfd[1], fileno(errf), -1, &pid) != GH_OK) {
        rc = explain("pg_dump", 127, "", why);
        goto out;
    }
    close(pfd[1]);
    pfd[1] = -1;
    for (;;) {
        ssize_t r = read(pfd[0], buf, IO_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            WHY("reading pg_dump's output failed");
            rc = GH_ERR_IO;
            break;
        }
        if (r == 0)
            break;
        if ((rc = sink(buf, (size_t)r, ctx)) != GH_OK) {
            WHY("writing the backup file failed");
            break;
        }
    }
    if (rc != GH_OK) {
        kill_reap(pid);
        pid = -1;
        goto out;
    }
    int status = reap(pid);
    pid = -1;
    if (status != 0) {
        char err[ERR_TEXT_MAX];
        scratch_text(errf, err, sizeof err);
        rc = explain("pg_dump", status, err, why);
    }
out:
    if (pid > 0)
        kill_reap(pid);
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    scratch_close(&errf);
    if (buf) {
        sodium_memzero(buf, IO_CHUNK);
        gh_free(buf);
    }
    env_free(&env);
    return rc;
}

/* ---- backup restore ---- */

/* The archive's table of contents without the schema's own entries (the schema, its comment
 * and its grants): the restore replaces gatehouse's objects inside the schema and leaves the
 * schema, whose owner and USAGE grants the operator set up, exactly as it is. */
static gh_err toc_without_schema(int dump_fd, char *const *envp, FILE *list, char **out_toc,
                                 char *why)
{
    FILE *o = scratch_new(), *e = scratch_new();
    char *text = gh_malloc(TOC_MAX + 1);
    pid_t pid;
    gh_err rc = GH_ERR_NOMEM;
    const char *const argv[] = {"pg_restore", "--list", NULL};
    if (!o || !e || !text)
        goto out;
    if (lseek(dump_fd, 0, SEEK_SET) != 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    if (spawn(argv, envp, dump_fd, fileno(o), fileno(e), -1, &pid) != GH_OK) {
        rc = explain("pg_restore", 127, "", why);
        goto out;
    }
    int status = reap(pid);
    if (status != 0) {
        char err[ERR_TEXT_MAX];
        scratch_text(e, err, sizeof err);
        rc = explain("pg_restore", status, err, why);
        goto out;
    }
    scratch_text(o, text, TOC_MAX + 1);
    if (strlen(text) == TOC_MAX) {
        WHY("the archive's table of contents is larger than expected");
        rc = GH_ERR_TOO_LARGE;
        goto out;
    }
    /* "5; 2615 2200 SCHEMA - public owner", "3350; 0 0 COMMENT - SCHEMA public owner",
     * "3351; 0 0 ACL - SCHEMA public owner": desc, then "-" for the namespace. */
    rc = GH_OK;
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        const char *d = strchr(line, ';');
        bool skip = false;
        if (line[0] != ';' && d) {
            d++;
            for (int field = 0; field < 2 && d; field++) {
                d += strspn(d, " ");
                d += strspn(d, "0123456789");
            }
            d += strspn(d, " ");
            skip = strncmp(d, "SCHEMA - ", 9) == 0 || strncmp(d, "COMMENT - SCHEMA ", 17) == 0 ||
                   strncmp(d, "ACL - SCHEMA ", 13) == 0;
        }
        if (!skip && fprintf(list, "%s\n", line) < 0)
            rc = GH_ERR_IO;
        if (nl)
            *nl = '\n'; /* the whole text goes back to the caller */
    }
    if (rc == GH_OK && fflush(list) != 0)
        rc = GH_ERR_IO;
out:
    if (rc == GH_ERR_NOMEM || rc == GH_ERR_IO)
        WHY("reading the archive's table of contents failed");
    scratch_close(&o);
    scratch_close(&e);
    if (rc == GH_OK)
        *out_toc = text;
    else
        gh_free(text);
    return rc;
}

/* Gatehouse's standalone objects in the live schema (what DROP TABLE does not take with it:
 * tables, views, sequences of their own, functions, types), as "KIND name", extension members
 * left out (an extension is not gatehouse's and a restore does not touch it). */
static const char SQL_LIVE_OBJECTS[] =
    "SELECT kind || ' ' || name FROM ("
    " SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'"
    "  WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind,"
    "  c.relname::text AS name, c.oid AS oid, 'pg_class'::regclass AS cls"
    " FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
    "  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
    "  AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid ="
    "   'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))"
    " UNION ALL"
    " SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'"
    "  ELSE 'FUNCTION' END, p.proname::text, p.oid, 'pg_proc'::regclass"
    " FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace"
    " UNION ALL"
    " SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.typname::text, t.oid,"
    "  'pg_type'::regclass"
    " FROM pg_type t WHERE t.typnamespace = current_schema()::regnamespace"
    "  AND t.typtype IN ('e', 'd', 'r', 'c') AND (t.typrelid = 0 OR"
    "  (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')"
    ") o WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.cls"
    " AND d.objid = o.oid AND d.deptype = 'e') ORDER BY 1";

/* Is "KIND name" of schema an entry of the archive's table of contents? Lines read
 * "ID; oid oid KIND SCHEMA NAME[(args)] OWNER". */
static bool toc_has(const char *toc, const char *schema, const char *kind_name)
{
    const char *sp = strrchr(kind_name, ' ');
    if (!sp)
        return false;
    char needle[300];
    snprintf(needle, sizeof needle, " %.*s %s %s", (int)(sp - kind_name), kind_name, schema,
             sp + 1);
    size_t n = strlen(needle);
    for (const char *p = strstr(toc, needle); p; p = strstr(p + 1, needle))
        if (p[n] == ' ' || p[n] == '(' || p[n] == '\n' || p[n] == '\0')
            return true;
    return false;
}

/* Refuse when the live schema holds a standalone object the archive lacks: the restore would
 * leave it behind (a later release's table that the archive's migration record then says is
 * not there yet, or something that is not gatehouse's). Indexes, columns and triggers of
 * gatehouse's tables go with them and need no check. */
static gh_err check_leftovers(struct gh_store *s, const char *schema, const char *toc, char *why)
{
    struct pg_conn *c = gh_pg_acquire(PGS(s));
    PGresult *r = NULL;
    if (!c) {
        WHY("cannot reach PostgreSQL (GATEHOUSE_DATABASE_URL)");
        return GH_ERR_STORE;
    }
    gh_err rc = gh_pg_run(c, SQL_LIVE_OBJECTS, NULL, "restore leftovers", &r);
    gh_pg_release(PGS(s), c);
    if (rc != GH_OK) {
        WHY("cannot list the objects of gatehouse's schema");
        return rc;
    }
    for (int i = 0; i < PQntuples(r) && rc == GH_OK; i++) {
        const char *obj = PQgetvalue(r, i, 0);
        if (!toc_has(toc, schema, obj)) {
            /* Object names are not secret: the operator must see which one. */
            WHY("the schema holds %s, which the backup does not (a later release's, or not "
                "gatehouse's); it would stay behind: restore into an empty database, then run "
                "gatehouse migrate",
                obj);
            rc = GH_ERR_CONFIG;
        }
    }
    PQclear(r);
    return rc;
}

/* What psql runs around pg_restore's script, in the same explicit transaction: a premature end
 * of input (pg_restore failed, we were killed) never reaches COMMIT, so nothing changes.
 * Before: wait at most 30 s for in-flight work on the two tables, lock them, and copy the live
 * ledger aside (the restore drops and recreates erasure_ledger with the archive's rows). */
static const char PREFIX_WITH_LEDGER[] =
    "BEGIN;\n"
    "SET LOCAL lock_timeout = '30s';\n"
    "LOCK TABLE users, erasure_ledger IN ACCESS EXCLUSIVE MODE;\n"
    "CREATE TEMP TABLE gh_restore_ledger ON COMMIT DROP AS\n"
    "    SELECT user_id, erased_at FROM erasure_ledger;\n";
/* A database without the ledger yet (empty, or an older release's): nothing to keep. */
static const char PREFIX_NO_LEDGER[] =
    "BEGIN;\n"
    "CREATE TEMP TABLE gh_restore_ledger (user_id text, erased_at bigint) ON COMMIT DROP;\n";
/* After: pg_restore's script emptied search_path; RESET brings back the connection's own (the
 * URL's options, the role's default), the one gatehouse resolves its tables with. The ledger is
 * the union of the live one and the archive's; every restored user in it is deleted again (with
 * its sessions and tokens, by foreign key). The markers tell the caller what committed. */
static const char SUFFIX[] =
    "\nRESET search_path;\n"
    "INSERT INTO erasure_ledger(user_id, erased_at)\n"
    "    SELECT user_id, erased_at FROM pg_temp.gh_restore_ledger\n"
    "    ON CONFLICT (user_id) DO NOTHING;\n"
    "WITH gone AS (DELETE FROM users WHERE id IN (SELECT user_id FROM erasure_ledger)\n"
    "              RETURNING 1)\n"
    "SELECT 'gh-reerased=' || count(*) FROM gone;\n"
    "UPDATE change_counters SET value = value + 1 WHERE name IN ('revocations', 'keys');\n"
    "COMMIT;\n"
    "SELECT 'gh-committed';\n";

static gh_err write_all_fd(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return GH_ERR_IO;
        p += w;
        len -= (size_t)w;
    }
    return GH_OK;
}

/* pg_restore (the filtered list, the archive on stdin) → us → psql (prefix, script, suffix). */
static gh_err run_restore(int dump_fd, char *const *envp, FILE *list, bool has_ledger,
                          long *out_reerased, char *why)
{
    FILE *rerr = scratch_new(), *pout = scratch_new(), *perr = scratch_new();
    unsigned char *buf = gh_malloc(IO_CHUNK);
    int rpipe[2] = {-1, -1}, ppipe[2] = {-1, -1};
    pid_t rpid = -1, ppid = -1;
    gh_err rc = GH_ERR_NOMEM;
    struct sigaction ign = {.sa_handler = SIG_IGN}, saved;
    /* psql may stop reading (an error): a write then fails with EPIPE instead of killing us. */
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &saved);
    if (!rerr || !pout || !perr || !buf || pipe2(rpipe, O_CLOEXEC) != 0 ||
        pipe2(ppipe, O_CLOEXEC) != 0) {
        WHY("out of memory or descriptors");
        goto out;
    }
    if (lseek(dump_fd, 0, SEEK_SET) != 0 || fseek(list, 0, SEEK_SET) != 0) {
        rc = GH_ERR_IO;
        WHY("cannot read the verified archive");
        goto out;
    }
    const char *const rargv[] = {"pg_restore",           "--clean",  "--if-exists", "--no-owner",
                                 "--use-list=/dev/fd/3", "--file=-", NULL};
    const char *const pargv[] = {"psql",       "--no-psqlrc",   "--no-password",         "--quiet",
                                 "--no-align", "--tuples-only", "--set=ON_ERROR_STOP=1", "--file=-",
                                 NULL};
    if (spawn(rargv, envp, dump_fd, rpipe[1], fileno(rerr), fileno(list), &rpid) != GH_OK) {
        rc = explain("pg_restore", 127, "", why);
        goto out;
    }
    if (spawn(pargv, envp, ppipe[0], fileno(pout), fileno(perr), -1, &ppid) != GH_OK) {
        rc = explain("psql", 127, "", why);
        goto out;
    }
    close(rpipe[1]);
    rpipe[1] = -1;
    close(ppipe[0]);
    ppipe[0] = -1;
    const char *prefix = has_ledger ? PREFIX_WITH_LEDGER : PREFIX_NO_LEDGER;
    bool psql_gone = write_all_fd(ppipe[1], prefix, strlen(prefix)) != GH_OK;
    for (;;) {
        ssize_t r = read(rpipe[0], buf, IO_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (!psql_gone && write_all_fd(ppipe[1], buf, (size_t)r) != GH_OK)
            psql_gone = true; /* keep draining pg_restore so that it ends */
    }
    close(rpipe[0]); /* a pg_restore still writing (after a read error) ends with EPIPE */
    rpipe[0] = -1;
    int rstatus = reap(rpid);
    rpid = -1;
    if (rstatus != 0) {
        /* The transaction is open and without its COMMIT: end psql before it sees end of
         * input. Killed, its connection closes and the server rolls everything back. */
        kill_reap(ppid);
        ppid = -1;
        char err[ERR_TEXT_MAX];
        scratch_text(rerr, err, sizeof err);
        rc = explain("pg_restore", rstatus, err, why);
        goto out;
    }
    if (!psql_gone)
        psql_gone = write_all_fd(ppipe[1], SUFFIX, strlen(SUFFIX)) != GH_OK;
    close(ppipe[1]);
    ppipe[1] = -1;
    int pstatus = reap(ppid);
    ppid = -1;
    char text[ERR_TEXT_MAX];
    scratch_text(pout, text, sizeof text);
    const char *m = strstr(text, "gh-reerased=");
    if (pstatus != 0 || psql_gone || !m || !strstr(text, "gh-committed")) {
        char err[ERR_TEXT_MAX];
        scratch_text(perr, err, sizeof err);
        rc = explain("psql", pstatus, err, why);
        goto out;
    }
    *out_reerased = strtol(m + 12, NULL, 10);
    rc = GH_OK;
out:
    kill_reap(rpid);
    kill_reap(ppid);
    for (int i = 0; i < 2; i++) {
        if (rpipe[i] >= 0)
            close(rpipe[i]);
        if (ppipe[i] >= 0)
            close(ppipe[i]);
    }
    sigaction(SIGPIPE, &saved, NULL);
    scratch_close(&rerr);
    scratch_close(&pout);
    scratch_close(&perr);
    if (buf) {
        sodium_memzero(buf, IO_CHUNK);
        gh_free(buf);
    }
    return rc;
}

gh_err gh_pg_backup_restore(struct gh_store *s, int dump_fd, const struct gh_store_dump_info *info,
                            int schema_version, long *out_reerased, char why[GH_STORE_WHY_MAX])
{
    struct live_facts f;
    struct child_env env = {.n = 0};
    FILE *list = NULL;
    char *toc = NULL;
    char restore_version[32];
    int known = 0;
    gh_err rc;
    *out_reerased = 0;
    why[0] = '\0';
    for (int i = 0; i < gh_pg_migrations_count; i++)
        if (gh_pg_migrations[i].version > known)
            known = gh_pg_migrations[i].version;
    if (schema_version > known) {
        WHY("the backup's schema version %d is newer than this release knows (%d): restore it "
            "with the release that made it",
            schema_version, known);
        return GH_ERR_CONFIG;
    }
    if ((rc = live_facts(s, true, &f, why)) != GH_OK)
        return rc;
    /* A server stopped a moment ago: its sessions leave pg_stat_activity within milliseconds. */
    for (int i = 0; i < 10 && f.other_sessions > 0; i++) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 200L * 1000 * 1000};
        nanosleep(&ts, NULL);
        if ((rc = live_facts(s, true, &f, why)) != GH_OK)
            return rc;
    }
    if (strcmp(f.schema, info->schema) != 0) {
        /* Schema names are not secret; the operator needs to see which is which. */
        WHY("the backup is of schema \"%s\" but GATEHOUSE_DATABASE_URL uses \"%s\": restore "
            "with a search_path (options=-csearch_path=...) naming the backup's schema",
            info->schema, f.schema);
        return GH_ERR_CONFIG;
    }
    if (!f.may_replace) {
        WHY("backup restore must run as the owner role (the one that runs gatehouse migrate): "
            "this role does not own gatehouse's tables or may not create in the schema");
        return GH_ERR_FORBIDDEN;
    }
    if (f.other_sessions > 0) {
        WHY("%ld other connections with this URL's application_name are open to the database: "
            "stop every gatehouse instance (serve) and operator command first",
            f.other_sessions);
        return GH_ERR_BUSY;
    }
    if ((rc = env_build(PGS(s)->url, &env, why)) != GH_OK)
        return rc;
    tool_version("pg_restore", env.v, restore_version);
    if (!restore_version[0]) {
        WHY("pg_restore could not be run: install Debian's postgresql-client");
        rc = GH_ERR_CONFIG;
        goto out;
    }
    if (major_of(restore_version) < major_of(info->tool_version)) {
        WHY("the backup was made by pg_dump %s; pg_restore %s cannot read it: install "
            "postgresql-client-%d (or newer) and put it first in PATH",
            info->tool_version, restore_version, major_of(info->tool_version));
        rc = GH_ERR_CONFIG;
        goto out;
    }
    if (!(list = scratch_new())) {
        WHY("cannot create a scratch file");
        rc = GH_ERR_IO;
        goto out;
    }
    if ((rc = toc_without_schema(dump_fd, env.v, list, &toc, why)) != GH_OK)
        goto out;
    if ((rc = check_leftovers(s, f.schema, toc, why)) != GH_OK)
        goto out;
    rc = run_restore(dump_fd, env.v, list, f.has_ledger, out_reerased, why);
    if (rc != GH_OK && f.server_version / 10000 < info->server_version / 10000) {
        size_t n = strlen(why);
        snprintf(why + n, GH_STORE_WHY_MAX - n,
                 " (note: the backup comes from PostgreSQL %d, this server is %d)",
                 info->server_version / 10000, f.server_version / 10000);
    }
out:
    gh_free(toc);
    scratch_close(&list);
    env_free(&env);
    return rc;
}
