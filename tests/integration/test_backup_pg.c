/* Integration: encrypted backups on PostgreSQL (issue 7, point 6). A fresh database owned by an
 * owner role, served by a runtime role, as docs/deployment.md sets it up. `backup create` runs
 * as the runtime role while serving (pg_dump gets the connection in its environment, never on
 * argv, and none of gatehouse's secrets); the file holds no plaintext and no pg_dump archive in
 * the clear. After the backup a user is erased and data changes; `backup restore` is refused
 * while serving, as the runtime role, for a tampered or truncated file, under a wrong master
 * key, for a SQLite backup — each time with the database unchanged — and without pg_dump a
 * create fails cleanly. The real restore (owner role) brings the backup's data back, keeps the
 * erasure ledger, and the erased user stays erased: not in the database, cannot log in.
 *
 * Needs GH_TEST_PG_URL (a superuser of a throw-away cluster: scripts/pg-test-cluster.sh start)
 * and Debian's postgresql-client (pg_dump, pg_restore, psql). Without them the test is skipped
 * (exit 77), unless GH_TEST_PG_REQUIRED=1 (CI), where it fails. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "harness.h"

#define PW "backup on postgres harbour willow"
/* Sent as the URL's password (the test cluster trusts loopback, so it is never checked): it
 * must reach pg_dump/psql only as PGPASSWORD and appear in no argv, output or log. */
#define URL_PASSWORD "pw-Marker-7c41e0"

static const char *pg_base; /* GH_TEST_PG_URL */
static char db[40], owner_role[40], runtime_role[40];
static char owner_url[1024], runtime_url[1024];
static char master_env[128], other_master_env[128], master_b64[64];
static char wrap_dir[128], wrap_log[192];

/* ---- PostgreSQL plumbing ---- */

static PGconn *admin_connect(const char *dbname)
{
    const char *const keys[] = {"dbname", "dbname", "application_name", NULL};
    const char *const vals[] = {pg_base, dbname, "gh_backup_pg_test", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to GH_TEST_PG_URL (%s): %s", dbname,
                 c ? PQerrorMessage(c) : "out of memory");
    return c;
}

static void admin_exec(const char *dbname, const char *sql)
{
    PGconn *c = admin_connect(dbname);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* One value (first row, first column) of a query on the test database; "" for no row. */
static void query1(const char *sql, char *out, size_t size)
{
    PGconn *c = admin_connect(db);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    snprintf(out, size, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
}

static long count_of(const char *sql)
{
    char v[32];
    query1(sql, v, sizeof v);
    return strtol(v, NULL, 10);
}

static void url_for(const char *user, char *out, size_t size)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(pg_base, &err);
    if (!opts)
        fail_msg("GH_TEST_PG_URL does not parse");
    const char *host = "127.0.0.1", *port = "5432";
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (o->val && strcmp(o->keyword, "host") == 0)
            host = o->val;
        if (o->val && strcmp(o->keyword, "port") == 0)
            port = o->val;
    }
    snprintf(out, size, "postgresql://%s:%s@%s:%s/%s?sslmode=disable", user, URL_PASSWORD, host,
             port, db);
    PQconninfoFree(opts);
}

/* ---- files and processes ---- */

/* Wrappers for pg_dump, pg_restore and psql, first in PATH: each records its argv and the names
 * of the PG and GATEHOUSE variables it was given (and whether PGPASSWORD holds the URL's
 * password — never the value), then runs the real program. */
static void make_wrappers(void)
{
    snprintf(wrap_dir, sizeof wrap_dir, "/tmp/gh-bkpg-XXXXXX");
    assert_non_null(mkdtemp(wrap_dir));
    snprintf(wrap_log, sizeof wrap_log, "%s/calls.log", wrap_dir);
    const char *tools[] = {"pg_dump", "pg_restore", "psql"};
    for (size_t i = 0; i < 3; i++) {
        char real[512], path[256], script[2048];
        if (!h_find_in_path(tools[i], NULL, real, sizeof real))
            fail_msg("%s not found", tools[i]);
        snprintf(path, sizeof path, "%s/%s", wrap_dir, tools[i]);
        snprintf(script, sizeof script,
                 "#!/bin/sh\n"
                 "{ echo \"CALL %s $*\"\n"
                 "  env | sed -n 's/^\\(PG[A-Z_]*\\|GATEHOUSE_[A-Z_]*\\)=.*/VAR \\1/p'\n"
                 "  [ \"$PGPASSWORD\" = '%s' ] && echo PGPASSWORD_FROM_URL\n"
                 "} >> %s\n"
                 "exec %s \"$@\"\n",
                 tools[i], URL_PASSWORD, wrap_log, real);
        assert_int_equal(h_write_file(path, script), 0);
        assert_int_equal(chmod(path, 0700), 0);
    }
}

/* A pg_restore that fails half-way: for the restore itself it passes on the first 6 KiB of the
 * real script (its DROP statements among them) and exits 1. */
static void make_broken_pg_restore(char *dir, size_t size)
{
    char real[512], path[300], script[2048];
    snprintf(dir, size, "%s/broken", wrap_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_true(h_find_in_path("pg_restore", wrap_dir, real, sizeof real));
    snprintf(path, sizeof path, "%s/pg_restore", dir);
    snprintf(script, sizeof script,
             "#!/bin/sh\n"
             "case \"$*\" in *--clean*) %s \"$@\" | head -c 6144; exit 1;; esac\n"
             "exec %s \"$@\"\n",
             real, real);
    assert_int_equal(h_write_file(path, script), 0);
    assert_int_equal(chmod(path, 0700), 0);
}

/* Run `gatehouse ARGS` with the server's environment, GATEHOUSE_DATABASE_URL = url and the
 * extra NAME=VALUE entries (NULL-terminated, may be NULL); stdout and stderr into out. */
static int gh(const struct h_server *srv, const char *url, const char *const *extra,
              const char *const *args, struct h_cli_result *out)
{
    static unsigned seq;
    char outp[400], errp[400], urlkv[1100];
    const char *env[H_MAX_ENV + 16];
    size_t n = 0;
    snprintf(urlkv, sizeof urlkv, "GATEHOUSE_DATABASE_URL=%s", url);
    for (size_t i = 0; i < srv->nenv && n < H_MAX_ENV; i++) {
        bool replaced = strncmp(srv->env[i], "GATEHOUSE_DATABASE_URL=", 23) == 0;
        for (size_t j = 0; extra && extra[j] && !replaced; j++) {
            const char *eq = strchr(extra[j], '=');
            size_t len = (size_t)(eq - extra[j]) + 1;
            replaced = strncmp(srv->env[i], extra[j], len) == 0;
        }
        if (!replaced)
            env[n++] = srv->env[i];
    }
    env[n++] = urlkv;
    for (size_t j = 0; extra && extra[j]; j++)
        env[n++] = extra[j];
    env[n] = NULL;
    const char *argv[16] = {getenv("GH_BINARY") ? getenv("GH_BINARY") : "./gatehouse"};
    size_t a = 1;
    for (; args[a - 1] && a < 15; a++)
        argv[a] = args[a - 1];
    argv[a] = NULL;
    seq++;
    snprintf(outp, sizeof outp, "%s/gh-%u.out", srv->dir, seq);
    snprintf(errp, sizeof errp, "%s/gh-%u.err", srv->dir, seq);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int i = open("/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || i < 0)
            _exit(126);
        dup2(i, 0);
        dup2(o, 1);
        dup2(e, 2);
        execve(argv[0], (char *const *)argv, (char *const *)env);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    out->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    out->out = h_read_file(outp, NULL);
    out->err = h_read_file(errp, NULL);
    if (!out->out)
        out->out = strdup("");
    if (!out->err)
        out->err = strdup("");
    return out->exit_code;
}

static int gh2(const struct h_server *srv, const char *url, const char *a0, const char *a1,
               const char *a2, struct h_cli_result *out)
{
    const char *args[] = {a0, a1, a2, NULL};
    return gh(srv, url, NULL, args, out);
}

static void write_bytes(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* The database as the failed commands must have left it: the after-backup user there, the
 * erased one gone, one ledger row. */
static void assert_unchanged(const char *after_id, const char *erased_id)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM users WHERE id = '%s'", after_id);
    assert_int_equal(count_of(sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM users WHERE id = '%s'", erased_id);
    assert_int_equal(count_of(sql), 0);
    assert_int_equal(count_of("SELECT count(*) FROM erasure_ledger"), 1);
}

/* `gatehouse migrate` as the owner role, then the runtime role's grants. */
static void migrate_as_owner(void)
{
    /* A throw-away h_server only for its environment (the data dir is the test's own). */
    static char fast_hash[] = "GATEHOUSE_TEST_INSECURE_FAST_HASH=1";
    struct h_server tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.env[0] = master_env;
    tmp.env[1] = fast_hash;
    tmp.nenv = 2;
    snprintf(tmp.dir, sizeof tmp.dir, "%s", wrap_dir);
    struct h_cli_result c;
    const char *args[] = {"migrate", NULL};
    if (gh(&tmp, owner_url, NULL, args, &c) != 0)
        fail_msg("migrate as the owner role failed: %s", c.err);
    h_cli_free(&c);
    /* docs/deployment.md's grants, run again after every migrate. */
    char sql[1024];
    snprintf(sql, sizeof sql,
             "GRANT USAGE ON SCHEMA public TO %s; "
             "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %s; "
             "REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM %s; "
             "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_anchor FROM %s; "
             "REVOKE UPDATE, DELETE, TRUNCATE ON erasure_ledger FROM %s",
             runtime_role, runtime_role, runtime_role, runtime_role, runtime_role);
    admin_exec(db, sql);
}

static char *user_id_of(const struct h_server *srv, const char *email)
{
    struct h_tokens t;
    struct h_response r;
    assert_int_equal(h_login(srv, email, PW, &t), 200);
    assert_int_equal(h_get(srv, "/v1/me", t.access, &r), 0);
    assert_int_equal(r.status, 200);
    char *id = strdup(json_string_value(json_object_get(r.json, "id")));
    h_response_free(&r);
    return id;
}

static void test_backup_restore_keeps_erasures(void **state)
{
    (void)state;
    struct h_server srv;
    char envurl[1100];
    snprintf(envurl, sizeof envurl, "GATEHOUSE_DATABASE_URL=%s", runtime_url);
    const char *serve_env[] = {master_env, envurl, NULL};
    migrate_as_owner();
    assert_int_equal(h_server_start(&srv, serve_env), 0);

    assert_int_equal(h_register(&srv, "keep-me@example.com", PW, "Keep Marker", NULL), 201);
    assert_int_equal(h_register(&srv, "erase-later@example.com", PW, "Erase Marker", NULL), 201);
    assert_int_equal(h_register(&srv, "also-kept@example.com", PW, NULL, NULL), 201);
    char *keep_id = user_id_of(&srv, "keep-me@example.com");
    char *erase_id = user_id_of(&srv, "erase-later@example.com");
    char hash[300];
    query1("SELECT password_hash FROM users ORDER BY id LIMIT 1", hash, sizeof hash);
    assert_true(strlen(hash) > 20);

    /* Online, as the runtime role, through the wrappers (PATH). */
    char bk[512], pathkv[4200];
    snprintf(bk, sizeof bk, "%s/nightly.ghbk", srv.dir);
    snprintf(pathkv, sizeof pathkv, "PATH=%s:%s", wrap_dir, getenv("PATH"));
    const char *with_wrappers[] = {pathkv, NULL};
    const char *create[] = {"backup", "create", bk, NULL};
    struct h_cli_result c;
    if (gh(&srv, runtime_url, with_wrappers, create, &c) != 0)
        fail_msg("backup create failed: %s", c.err);
    assert_non_null(strstr(c.out, "backup written"));
    assert_null(strstr(c.err, URL_PASSWORD));
    h_cli_free(&c);
    struct stat st;
    assert_int_equal(stat(bk, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    size_t len = 0;
    char *data = h_read_file(bk, &len);
    assert_non_null(data);
    assert_true(len > 1000);
    assert_non_null(strstr(data, "\"backend\":\"postgresql\""));
    assert_null(memmem(data, len, "keep-me", 7));
    assert_null(memmem(data, len, "Keep Marker", 11));
    assert_null(memmem(data, len, "Erase Marker", 12));
    assert_null(memmem(data, len, "$argon2", 7));
    assert_null(memmem(data, len, hash, strlen(hash)));
    assert_null(memmem(data, len, "PGDMP", 5)); /* pg_dump's archive magic: never in the clear */
    assert_null(memmem(data, len, master_b64, strlen(master_b64)));
    assert_null(memmem(data, len, URL_PASSWORD, strlen(URL_PASSWORD)));
    /* pg_dump got the connection in its environment: the password as PGPASSWORD, nothing on
     * argv, none of gatehouse's own variables. */
    char *calls = h_read_file(wrap_log, NULL);
    assert_non_null(calls);
    assert_non_null(strstr(calls, "CALL pg_dump "));
    assert_non_null(strstr(calls, "PGPASSWORD_FROM_URL"));
    assert_non_null(strstr(calls, "VAR PGUSER"));
    assert_non_null(strstr(calls, "VAR PGHOST"));
    assert_null(strstr(calls, URL_PASSWORD));
    assert_null(strstr(calls, "postgresql://"));
    assert_null(strstr(calls, "VAR GATEHOUSE_"));
    free(calls);
    unlink(wrap_log);

    /* After the backup: one user erases their account, one registers. */
    struct h_tokens te;
    struct h_response r;
    assert_int_equal(h_login(&srv, "erase-later@example.com", PW, &te), 200);
    assert_int_equal(
        h_send_json(&srv, "DELETE", "/v1/me", te.access, json_pack("{s:s}", "password", PW), &r),
        0);
    assert_int_equal(r.status, 204);
    h_response_free(&r);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM erasure_ledger WHERE user_id = '%s'", erase_id);
    assert_int_equal(count_of(sql), 1);
    assert_int_equal(h_register(&srv, "after-backup@example.com", PW, NULL, NULL), 201);
    char *after_id = user_id_of(&srv, "after-backup@example.com");

    /* Not while serving (the server's pool is connected), even as the owner. */
    assert_int_not_equal(gh2(&srv, owner_url, "backup", "restore", bk, &c), 0);
    assert_non_null(strstr(c.err, "stop every gatehouse instance"));
    h_cli_free(&c);
    assert_unchanged(after_id, erase_id);
    assert_int_equal(h_server_stop(&srv), 0);

    /* Not as the runtime role: it owns nothing. */
    assert_int_not_equal(gh2(&srv, runtime_url, "backup", "restore", bk, &c), 0);
    assert_non_null(strstr(c.err, "owner role"));
    h_cli_free(&c);
    assert_unchanged(after_id, erase_id);

    /* Damaged files fail before anything reaches the database. */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/bad.ghbk", srv.dir);
    size_t flips[] = {len / 2, len - 5};
    for (size_t i = 0; i < 2; i++) {
        data[flips[i]] ^= 0x01;
        write_bytes(bad, data, len);
        data[flips[i]] ^= 0x01;
        assert_int_not_equal(gh2(&srv, owner_url, "backup", "restore", bad, &c), 0);
        assert_non_null(strstr(c.err, "does not verify"));
        h_cli_free(&c);
    }
    write_bytes(bad, data, len - 100);
    assert_int_not_equal(gh2(&srv, owner_url, "backup", "restore", bad, &c), 0);
    assert_non_null(strstr(c.err, "does not verify"));
    h_cli_free(&c);
    assert_unchanged(after_id, erase_id);

    /* A wrong master key opens neither the header's wrapped key nor the live backup key. */
    const char *other_key[] = {other_master_env, NULL};
    const char *restore[] = {"backup", "restore", bk, NULL};
    assert_int_not_equal(gh(&srv, owner_url, other_key, restore, &c), 0);
    assert_non_null(strstr(c.err, "does not verify"));
    h_cli_free(&c);
    assert_unchanged(after_id, erase_id);

    /* A SQLite backup is refused on PostgreSQL (and this one on SQLite). */
    char sq_url[400], sq_bk[400];
    snprintf(sq_url, sizeof sq_url, "sqlite:%s/other.db", srv.dir);
    snprintf(sq_bk, sizeof sq_bk, "%s/sqlite.ghbk", srv.dir);
    if (gh2(&srv, sq_url, "backup", "create", sq_bk, &c) != 0)
        fail_msg("SQLite backup create failed: %s", c.err);
    h_cli_free(&c);
    assert_int_not_equal(gh2(&srv, owner_url, "backup", "restore", sq_bk, &c), 0);
    assert_non_null(strstr(c.err, "backup of a SQLite database"));
    h_cli_free(&c);
    assert_int_not_equal(gh2(&srv, sq_url, "backup", "restore", bk, &c), 0);
    assert_non_null(strstr(c.err, "backup of a PostgreSQL database"));
    h_cli_free(&c);
    assert_unchanged(after_id, erase_id);

    /* Without pg_dump: a clear message and no file, not even a temporary one. */
    char nobk[512];
    snprintf(nobk, sizeof nobk, "%s/nopgdump.ghbk", srv.dir);
    const char *no_tools[] = {"PATH=/nonexistent", NULL};
    const char *create_no[] = {"backup", "create", nobk, NULL};
    assert_int_not_equal(gh(&srv, runtime_url, no_tools, create_no, &c), 0);
    assert_non_null(strstr(c.err, "postgresql-client"));
    h_cli_free(&c);
    assert_int_not_equal(stat(nobk, &st), 0);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q 'nopgdump.ghbk.tmp'", srv.dir);
    assert_int_not_equal(system(cmd), 0);

    /* A table the backup does not know would stay behind: refused, nothing changed. */
    snprintf(sql, sizeof sql,
             "CREATE TABLE public.not_gatehouse (x int); "
             "ALTER TABLE public.not_gatehouse OWNER TO %s",
             owner_role);
    admin_exec(db, sql);
    assert_int_not_equal(gh2(&srv, owner_url, "backup", "restore", bk, &c), 0);
    assert_non_null(strstr(c.err, "the schema holds TABLE not_gatehouse"));
    h_cli_free(&c);
    assert_unchanged(after_id, erase_id);
    admin_exec(db, "DROP TABLE public.not_gatehouse");

    /* pg_restore failing half-way through its script: psql's transaction never commits. */
    char broken[300], broken_path[4400];
    make_broken_pg_restore(broken, sizeof broken);
    snprintf(broken_path, sizeof broken_path, "PATH=%s:%s", broken, getenv("PATH"));
    const char *with_broken[] = {broken_path, NULL};
    assert_int_not_equal(gh(&srv, owner_url, with_broken, restore, &c), 0);
    assert_non_null(strstr(c.err, "pg_restore failed"));
    h_cli_free(&c);
    assert_unchanged(after_id, erase_id);
    assert_int_equal(count_of("SELECT count(*) FROM pg_tables WHERE tablename = 'users'"), 1);

    /* The real restore: as the owner, every instance stopped. */
    const char *restore_wrapped[] = {"backup", "restore", bk, NULL};
    if (gh(&srv, owner_url, with_wrappers, restore_wrapped, &c) != 0)
        fail_msg("backup restore failed: %s", c.err);
    assert_non_null(strstr(c.out, "backup restored; 1 erased users removed again"));
    assert_null(strstr(c.err, URL_PASSWORD));
    h_cli_free(&c);
    calls = h_read_file(wrap_log, NULL);
    assert_non_null(calls);
    assert_non_null(strstr(calls, "CALL pg_restore "));
    assert_non_null(strstr(calls, "CALL psql "));
    assert_null(strstr(calls, URL_PASSWORD));
    assert_null(strstr(calls, "VAR GATEHOUSE_"));
    free(calls);

    /* In the database: the backup's users, minus the erased one; the ledger kept. */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM users WHERE id = '%s'", erase_id);
    assert_int_equal(count_of(sql), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM users WHERE id = '%s'", after_id);
    assert_int_equal(count_of(sql), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM users WHERE id = '%s'", keep_id);
    assert_int_equal(count_of(sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM erasure_ledger WHERE user_id = '%s'", erase_id);
    assert_int_equal(count_of(sql), 1);
    assert_int_equal(count_of("SELECT count(*) FROM users"), 2);
    /* The schema is left as the operator set it up (owner, grants); the tables are back in the
     * owner's hands with the runtime role's grants. */
    char owner[64];
    query1("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'", owner,
           sizeof owner);
    assert_string_equal(owner, "pg_database_owner");
    query1("SELECT tableowner FROM pg_tables WHERE tablename = 'users'", owner, sizeof owner);
    assert_string_equal(owner, owner_role);

    /* Served again by the runtime role. */
    assert_int_equal(h_server_restart_with(&srv, serve_env), 0);
    struct h_tokens tk;
    assert_int_equal(h_login(&srv, "keep-me@example.com", PW, &tk), 200);
    assert_int_equal(h_get(&srv, "/v1/me", tk.access, &r), 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "display_name")), "Keep Marker");
    h_response_free(&r);
    assert_int_equal(h_login(&srv, "also-kept@example.com", PW, NULL), 200);
    assert_int_equal(h_login(&srv, "erase-later@example.com", PW, NULL), 401);  /* stays erased */
    assert_int_equal(h_login(&srv, "after-backup@example.com", PW, NULL), 401); /* newer */
    /* Erasing again after the restore works (the ledger table is writable by the runtime role)
     * and the audit chain (restored, then appended to) verifies. */
    assert_int_equal(h_server_stop(&srv), 0);
    assert_int_equal(gh2(&srv, runtime_url, "audit", "verify", NULL, &c), 0);
    h_cli_free(&c);
    char *log = h_read_file(srv.log_path, NULL);
    assert_non_null(log);
    assert_null(strstr(log, URL_PASSWORD));
    free(log);
    free(data);
    free(keep_id);
    free(erase_id);
    free(after_id);
    h_server_free(&srv);
}

static void random_suffix(char *out, size_t size, const char *prefix)
{
    unsigned char b[5];
    randombytes_buf(b, sizeof b);
    snprintf(out, size, "%s%02x%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3], b[4]);
}

static int group_setup(void **state)
{
    (void)state;
    char sql[512];
    random_suffix(db, sizeof db, "gh_bk_");
    random_suffix(owner_role, sizeof owner_role, "gh_bk_owner_");
    random_suffix(runtime_role, sizeof runtime_role, "gh_bk_rt_");
    snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN; CREATE ROLE %s LOGIN", owner_role,
             runtime_role);
    admin_exec("postgres", sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s OWNER %s", db, owner_role);
    admin_exec("postgres", sql);
    snprintf(sql, sizeof sql,
             "REVOKE ALL ON DATABASE %s FROM PUBLIC; GRANT CONNECT ON DATABASE %s TO %s", db, db,
             runtime_role);
    admin_exec(db, sql);
    url_for(owner_role, owner_url, sizeof owner_url);
    url_for(runtime_role, runtime_url, sizeof runtime_url);
    unsigned char k[32];
    randombytes_buf(k, sizeof k);
    sodium_bin2base64(master_b64, sizeof master_b64, k, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(master_env, sizeof master_env, "GATEHOUSE_MASTER_KEY=%s", master_b64);
    char other[64];
    randombytes_buf(k, sizeof k);
    sodium_bin2base64(other, sizeof other, k, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(other_master_env, sizeof other_master_env, "GATEHOUSE_MASTER_KEY=%s", other);
    make_wrappers();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char sql[512];
    if (getenv("GH_KEEP_TMP"))
        return 0;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    admin_exec("postgres", sql);
    snprintf(sql, sizeof sql, "DROP ROLE IF EXISTS %s; DROP ROLE IF EXISTS %s", owner_role,
             runtime_role);
    admin_exec("postgres", sql);
    if (wrap_dir[0])
        h_rm_tree(wrap_dir);
    return 0;
}

int main(void)
{
    bool required =
        getenv("GH_TEST_PG_REQUIRED") && strcmp(getenv("GH_TEST_PG_REQUIRED"), "1") == 0;
    pg_base = getenv("GH_TEST_PG_URL");
    if (!pg_base || !*pg_base)
        pg_base = getenv("GH_TEST_PG_URL_CONFIGURED");
    char tool[512];
    const char *missing = !pg_base || !*pg_base                                  ? "GH_TEST_PG_URL"
                          : !h_find_in_path("pg_dump", NULL, tool, sizeof tool)    ? "pg_dump"
                          : !h_find_in_path("pg_restore", NULL, tool, sizeof tool) ? "pg_restore"
                          : !h_find_in_path("psql", NULL, tool, sizeof tool)       ? "psql"
                                                                                 : NULL;
    if (missing) {
        fprintf(stderr,
                "%s: needs %s (eval \"$(sh scripts/pg-test-cluster.sh start)\"; "
                "Debian's postgresql-client)\n",
                required ? "GH_TEST_PG_REQUIRED=1 but it is missing" : "skipped", missing);
        return required ? 1 : 77;
    }
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_restore_keeps_erasures),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
