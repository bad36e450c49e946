/* Integration, scale-out (issue 7): two gatehouse instances A and B on one PostgreSQL database
 * and one Redis, proving that every guarantee of one instance holds across both — a login rate
 * limit (Redis), a lockout (database), refresh-token rotation races, logout propagation, a
 * PostgreSQL restart mid-run, and a Redis outage (sign-in fails closed, token checks go on,
 * recovery without a restart) — plus Redis AUTH/ACL and GATEHOUSE_REDIS_URL validation.
 *
 * Needs GH_TEST_PG_URL (scripts/pg-test-cluster.sh start): each test gets a fresh schema in that
 * database. The restart test starts its own throw-away cluster with the same script (on a free
 * port), so that restarting it cannot disturb other suites using the shared one. Redis is
 * started here (Debian's redis-server, on a free loopback port and a unix socket, ACL users with
 * passwords, no persistence). Without GH_TEST_PG_URL or redis-server the test is skipped
 * (exit 77) unless GH_TEST_PG_REQUIRED=1 (CI), where it fails. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "core/config.h"
#include "harness.h"

#define PW "scale-out passphrase lantern harbour"

static bool pg_required;
static const char *pg_base;  /* GH_TEST_PG_URL */
static PGconn *pg_admin;     /* creates and drops the per-test schemas */
static char redis_bin[512];  /* redis-server */
static char master_env[128]; /* GATEHOUSE_MASTER_KEY=..., shared by every instance */
static char gh_password[40]; /* the Redis ACL user gatehouse authenticates as */
static char admin_password[40];

/* ---- small utilities ------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char b[32];
    assert_true(bytes <= sizeof b);
    randombytes_buf(b, bytes);
    sodium_bin2hex(out, bytes * 2 + 1, b, bytes);
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Run argv with extra NAME=VALUE entries added to the environment; stdout and stderr go to
 * out_path. Returns the exit code (-1 when it did not exit normally). */
static int run_cmd(const char *const *argv, const char *const *extra_env, const char *out_path)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int devnull = open("/dev/null", O_RDONLY);
        if (fd < 0 || devnull < 0)
            _exit(126);
        dup2(devnull, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        for (size_t i = 0; extra_env && extra_env[i]; i++)
            putenv((char *)extra_env[i]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- Redis ---------------------------------------------------------------------------- */

struct redis_srv {
    pid_t pid;
    int port;
    char dir[64];
    char conf[128];
    char sock[128];
    char log[128];
};

static pid_t redis_spawn(struct redis_srv *r)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
        }
        char *argv[] = {redis_bin, r->conf, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* An admin connection to r (NULL when it does not answer). */
static redisContext *redis_admin(const struct redis_srv *r)
{
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisReply *rep = redisCommand(c, "AUTH admin %s", admin_password);
    bool ok = rep && rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static void redis_wait_ready(const struct redis_srv *r)
{
    for (int i = 0; i < 200; i++) {
        redisContext *c = redis_admin(r);
        if (c) {
            redisReply *rep = redisCommand(c, "PING");
            bool ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
            freeReplyObject(rep);
            redisFree(c);
            if (ok)
                return;
        }
        int st;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
            char *log = h_read_file(r->log, NULL);
            fail_msg("redis-server exited at start-up:\n%s", log ? log : "");
        }
        h_sleep_ms(25);
    }
    fail_msg("redis-server did not answer within 5 s");
}

/* Users: `nosel` with exactly the ACL docs/deployment.md gives gatehouse; `gh` the same plus
 * SELECT (for a database number); `weak` lacking the script commands; `admin` for the test
 * itself. The default user is off, so a connection without AUTH can do nothing. */
static void redis_start(struct redis_srv *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/gh-so-redis-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->conf, sizeof r->conf, "%s/redis.conf", r->dir);
    snprintf(r->sock, sizeof r->sock, "%s/redis.sock", r->dir);
    snprintf(r->log, sizeof r->log, "%s/redis.log", r->dir);
    r->port = free_port();
    char conf[2048];
    snprintf(conf, sizeof conf,
             "port %d\nbind 127.0.0.1\nunixsocket %s\nunixsocketperm 700\nsave \"\"\n"
             "appendonly no\ndir %s\nlogfile %s\ndaemonize no\n"
             "user default off\n"
             "user gh on >%s ~gatehouse:* resetchannels -@all +evalsha +eval +get +set +time "
             "+select\n"
             "user nosel on >%s ~gatehouse:* resetchannels -@all +evalsha +eval +get +set +time\n"
             "user weak on >%s ~gatehouse:* resetchannels -@all +get +set\n"
             "user admin on >%s ~* &* +@all\n",
             r->port, r->sock, r->dir, r->log, gh_password, gh_password, gh_password,
             admin_password);
    assert_int_equal(h_write_file(r->conf, conf), 0);
    chmod(r->conf, 0600);
    r->pid = redis_spawn(r);
    redis_wait_ready(r);
}

static void redis_stop(struct redis_srv *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
            r->pid = -1;
            return;
        }
        h_sleep_ms(25);
    }
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    r->pid = -1;
}

static void redis_restart(struct redis_srv *r)
{
    assert_true(r->pid <= 0);
    r->pid = redis_spawn(r);
    redis_wait_ready(r);
}

static void redis_free(struct redis_srv *r)
{
    redis_stop(r);
    h_rm_tree(r->dir);
}

/* ---- PostgreSQL ------------------------------------------------------------------------- */

static void pg_exec(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s: %s", sql, PQerrorMessage(c));
    PQclear(res);
}

static void url_param(char *out, size_t size, const char *key, const char *v)
{
    if (!v || !*v)
        return;
    size_t n = strlen(out);
    n += (size_t)snprintf(out + n, size - n, "%s%s=", strchr(out, '?') ? "&" : "?", key);
    for (; *v && n + 4 < size; v++) {
        unsigned char ch = (unsigned char)*v;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.')
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, size - n, "%%%02X", ch);
    }
    out[n] = '\0';
}

/* The URL of base's server and database with search_path = schema (NULL: unchanged). */
static void pg_url_for(const char *base, const char *schema, char *out, size_t size)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(base, &err);
    if (!opts)
        fail_msg("the PostgreSQL URL does not parse: %s", err ? err : "?");
    snprintf(out, size, "postgresql:///");
    static const char *const keep[] = {"host", "hostaddr", "port",    "dbname",
                                       "user", "password", "sslmode", NULL};
    for (size_t k = 0; keep[k]; k++)
        for (PQconninfoOption *o = opts; o->keyword; o++)
            if (o->val && strcmp(o->keyword, keep[k]) == 0)
                url_param(out, size, o->keyword, o->val);
    if (schema) {
        char opt[96];
        snprintf(opt, sizeof opt, "-csearch_path=%s", schema);
        url_param(out, size, "options", opt);
    }
    PQconninfoFree(opts);
}

/* A private cluster (scripts/pg-test-cluster.sh on its own directory and port). */
struct pg_private {
    char dir[64];
    char url[512];
    bool started;
};

static const char *source_dir(void)
{
    const char *s = getenv("GH_SOURCE_DIR");
    return s && *s ? s : ".";
}

static bool pg_private_start(struct pg_private *p)
{
    char script[600], e_dir[128], e_port[64], out[128];
    memset(p, 0, sizeof *p);
    snprintf(p->dir, sizeof p->dir, "/tmp/gh-so-pg-XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    snprintf(script, sizeof script, "%s/scripts/pg-test-cluster.sh", source_dir());
    snprintf(e_dir, sizeof e_dir, "GH_PG_DIR=%s", p->dir);
    snprintf(e_port, sizeof e_port, "GH_PG_PORT=%d", free_port());
    snprintf(out, sizeof out, "%s.out", p->dir);
    const char *argv[] = {"sh", script, "start", NULL};
    const char *env[] = {e_dir, e_port, "GH_PG_DB=gh_scaleout", NULL};
    p->started = true; /* from here on teardown runs `stop` (a no-op when nothing runs) */
    int code = run_cmd(argv, env, out);
    char *text = h_read_file(out, NULL);
    unlink(out);
    const char *u = text ? strstr(text, "export GH_TEST_PG_URL=") : NULL;
    if (code != 0 || !u) {
        fprintf(stderr, "pg-test-cluster.sh start failed (%d):\n%s\n", code, text ? text : "");
        free(text);
        return false;
    }
    u += strlen("export GH_TEST_PG_URL=");
    snprintf(p->url, sizeof p->url, "%.*s", (int)strcspn(u, "\r\n"), u);
    free(text);
    return true;
}

/* pg_ctl restart of the private cluster; immediate mode: no shutdown checkpoint, so the
 * restart recovers from the WAL as after a crash. No assertion here (a thread is running):
 * false, with pg_ctl's output on stderr, when it failed. */
static bool pg_private_restart(const struct pg_private *p)
{
    glob_t g;
    char pg_ctl[512], data[128], log[128], out[128];
    long best = -1;
    if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) != 0)
        return false;
    for (size_t i = 0; i < g.gl_pathc; i++) { /* the newest major version, as the script */
        long v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
        if (v > best) {
            best = v;
            snprintf(pg_ctl, sizeof pg_ctl, "%s", g.gl_pathv[i]);
        }
    }
    globfree(&g);
    snprintf(data, sizeof data, "%s/data", p->dir);
    snprintf(log, sizeof log, "%s/server.log", p->dir);
    snprintf(out, sizeof out, "%s.restart", p->dir);
    const char *as_root[] = {"runuser", "-u", "postgres",  "--", pg_ctl, "-D", data,      "-l",
                             log,       "-m", "immediate", "-w", "-t",   "60", "restart", NULL};
    const char *const *argv = geteuid() == 0 ? as_root : as_root + 4;
    int code = run_cmd(argv, NULL, out);
    char *text = h_read_file(out, NULL);
    unlink(out);
    if (code != 0)
        fprintf(stderr, "pg_ctl restart failed (%d):\n%s\n", code, text ? text : "");
    free(text);
    return code == 0;
}

static void pg_private_stop(struct pg_private *p)
{
    char script[600], e_dir[128], out[128];
    if (!p->started)
        return;
    snprintf(script, sizeof script, "%s/scripts/pg-test-cluster.sh", source_dir());
    snprintf(e_dir, sizeof e_dir, "GH_PG_DIR=%s", p->dir);
    snprintf(out, sizeof out, "%s.stop", p->dir);
    const char *argv[] = {"sh", script, "stop", NULL};
    const char *env[] = {e_dir, NULL};
    if (run_cmd(argv, env, out) != 0) {
        char *text = h_read_file(out, NULL);
        fprintf(stderr, "pg-test-cluster.sh stop failed:\n%s\n", text ? text : "");
        free(text);
    }
    unlink(out);
    p->started = false;
}

/* ---- the fixture: a fresh schema and a fresh Redis per test ------------------------------ */

struct fx {
    struct redis_srv redis;
    char schema[40];
    char db_env[1200];  /* GATEHOUSE_DATABASE_URL=... */
    char tcp_env[256];  /* GATEHOUSE_REDIS_URL=redis://gh:...@127.0.0.1:P */
    char unix_env[256]; /* GATEHOUSE_REDIS_URL=unix://gh:...@/dir/redis.sock */
    struct h_server a, b, c;
    struct pg_private pg; /* the restart test's own cluster */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->a.pid = f->b.pid = f->c.pid = -1;
    char hex[17], sql[128], url[1100];
    random_hex(hex, 8);
    snprintf(f->schema, sizeof f->schema, "gh_so_%s", hex);
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", f->schema);
    pg_exec(pg_admin, sql);
    pg_url_for(pg_base, f->schema, url, sizeof url);
    snprintf(f->db_env, sizeof f->db_env, "GATEHOUSE_DATABASE_URL=%s", url);
    redis_start(&f->redis);
    snprintf(f->tcp_env, sizeof f->tcp_env, "GATEHOUSE_REDIS_URL=redis://gh:%s@127.0.0.1:%d",
             gh_password, f->redis.port);
    snprintf(f->unix_env, sizeof f->unix_env, "GATEHOUSE_REDIS_URL=unix://gh:%s@%s", gh_password,
             f->redis.sock);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char sql[128];
    h_server_free(&f->a);
    h_server_free(&f->b);
    h_server_free(&f->c);
    redis_free(&f->redis);
    pg_private_stop(&f->pg);
    h_rm_tree(f->pg.dir);
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", f->schema);
    pg_exec(pg_admin, sql);
    free(f);
    return 0;
}

/* Start s with the fixture's database, the shared master key, the given Redis URL entry (NULL:
 * no Redis) and extra entries (NULL-terminated, may be NULL). */
static int start_instance(struct fx *f, struct h_server *s, const char *redis_env,
                          const char *const *extra)
{
    const char *env[32];
    size_t n = 0;
    env[n++] = f->db_env;
    env[n++] = master_env;
    if (redis_env)
        env[n++] = redis_env;
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    return h_server_start(s, env);
}

/* Neither password nor any Redis URL ever reaches a log. */
static void assert_log_clean(const struct h_server *s)
{
    const char *suffix[] = {"", ".before-restart", ".before-kill", NULL};
    for (size_t i = 0; suffix[i]; i++) {
        char path[400];
        snprintf(path, sizeof path, "%s%s", s->log_path, suffix[i]);
        char *log = h_read_file(path, NULL);
        if (!log)
            continue;
        if (strstr(log, gh_password) || strstr(log, admin_password) || strstr(log, "redis://") ||
            strstr(log, "unix://") || strstr(log, master_env + strlen("GATEHOUSE_MASTER_KEY=")))
            fail_msg("a secret or a Redis URL is in the log %s", path);
        free(log);
    }
}

static size_t log_count(const struct h_server *s, const char *needle)
{
    char *log = h_read_file(s->log_path, NULL);
    size_t n = 0;
    for (const char *p = log; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(log);
    return n;
}

static void stop_clean(struct h_server *s)
{
    assert_log_clean(s);
    assert_int_equal(h_server_stop(s), 0); /* clean exit: no leak, no crash */
}

static long login_status(const struct h_server *s, const char *email, const char *pw,
                         const char *xff, struct h_response *out)
{
    char hdr[96];
    const char *headers[2] = {NULL, NULL};
    if (xff) {
        snprintf(hdr, sizeof hdr, "X-Forwarded-For: %s", xff);
        headers[0] = hdr;
    }
    json_t *b = json_pack("{s:s,s:s}", "email", email, "password", pw);
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int rc =
        h_request(s, "POST", "/v1/token", headers, text, strlen(text), "application/json", out);
    free(text);
    assert_int_equal(rc, 0);
    return out->status;
}

static long logout(const struct h_server *s, const char *access)
{
    char line[1200];
    snprintf(line, sizeof line, "Authorization: Bearer %s", access);
    const char *hdrs[] = {line, NULL};
    struct h_response r;
    long st = h_request(s, "POST", "/v1/logout", hdrs, NULL, 0, NULL, &r) == 0 ? r.status : -1;
    h_response_free(&r);
    return st;
}

static void user_id_of(const char *access, char out[64])
{
    json_t *payload = h_jwt_part(access, 1);
    assert_non_null(payload);
    snprintf(out, 64, "%s", json_string_value(json_object_get(payload, "sub")));
    json_decref(payload);
}

/* Poll s's GET /v1/me with access until it says 401; milliseconds it took (-1: never, 3 s). */
static int64_t ms_until_refused(const struct h_server *s, const char *access, int64_t since)
{
    for (;;) {
        long st = h_me_status(s, access);
        if (st == 401)
            return now_ms() - since;
        assert_int_equal(st, 200);
        if (now_ms() - since > 3000)
            return -1;
        h_sleep_ms(20);
    }
}

/* Redis keys matching pattern (admin connection). */
static size_t redis_keys(const struct redis_srv *r, const char *pattern, char keys[][128],
                         size_t max)
{
    redisContext *c = redis_admin(r);
    assert_non_null(c);
    redisReply *rep = redisCommand(c, "KEYS %s", pattern);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    size_t n = 0;
    for (size_t i = 0; i < rep->elements && n < max; i++)
        snprintf(keys[n++], 128, "%s", rep->element[i]->str);
    freeReplyObject(rep);
    redisFree(c);
    return n;
}

static long long redis_pttl(const struct redis_srv *r, const char *key)
{
    redisContext *c = redis_admin(r);
    assert_non_null(c);
    redisReply *rep = redisCommand(c, "PTTL %s", key);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    long long v = rep->integer;
    freeReplyObject(rep);
    redisFree(c);
    return v;
}

/* ---- GATEHOUSE_REDIS_URL ------------------------------------------------------------------ */

static void expect_url(const char *url, const char *host, const char *path, const char *user,
                       const char *pw, unsigned port, unsigned db)
{
    struct gh_redis_target t;
    char err[GH_CONFIG_ERR_MAX] = "";
    if (gh_config_redis_url_parse(url, &t, err) != GH_OK)
        fail_msg("%s did not parse: %s", url, err);
    assert_string_equal(t.host, host);
    assert_string_equal(t.path, path);
    assert_string_equal(t.user, user);
    assert_string_equal(t.password, pw);
    assert_int_equal(t.port, port);
    assert_int_equal(t.db, db);
}

static void expect_url_refused(const char *url, const char *secret)
{
    struct gh_redis_target t;
    char err[GH_CONFIG_ERR_MAX] = "";
    if (gh_config_redis_url_parse(url, &t, err) == GH_OK)
        fail_msg("%s parsed but should not", url);
    assert_non_null(strstr(err, "GATEHOUSE_REDIS_URL: "));
    if (secret && strstr(err, secret))
        fail_msg("the error for %s quotes the secret: %s", url, err);
}

static void test_redis_url_parse(void **state)
{
    (void)state;
    expect_url("redis://127.0.0.1", "127.0.0.1", "", "", "", 6379, 0);
    expect_url("redis://localhost:6380/2", "localhost", "", "", "", 6380, 2);
    expect_url("redis://gh:p%40ss%3Aw%2Frd@[::1]:7000/", "::1", "", "gh", "p@ss:w/rd", 7000, 0);
    expect_url("redis://:only-pw@redis.internal", "redis.internal", "", "", "only-pw", 6379, 0);
    expect_url("redis://u:pa:ss@h:1/15", "h", "", "u", "pa:ss", 1, 15);
    expect_url("unix:///run/redis/redis.sock", "", "/run/redis/redis.sock", "", "", 0, 0);
    expect_url("unix://gh:pw@/run/redis.sock?db=3", "", "/run/redis.sock", "gh", "pw", 0, 3);
    expect_url("redis+unix://:pw@/tmp/r%20s.sock", "", "/tmp/r s.sock", "", "pw", 0, 0);

    expect_url_refused("rediss://gh:SeCrEt1@127.0.0.1:6379", "SeCrEt1");
    expect_url_refused("http://gh:SeCrEt1@127.0.0.1", "SeCrEt1");
    expect_url_refused("redis://gh@127.0.0.1", NULL);            /* user without password */
    expect_url_refused("redis://gh:@127.0.0.1", NULL);           /* empty password */
    expect_url_refused("redis://gh:SeCrEt1@", "SeCrEt1");        /* no host */
    expect_url_refused("redis://gh:SeCrEt1@h:0", "SeCrEt1");     /* port 0 */
    expect_url_refused("redis://gh:SeCrEt1@h:65536", "SeCrEt1"); /* port too large */
    expect_url_refused("redis://gh:SeCrEt1@h:6379/db1", "SeCrEt1");
    expect_url_refused("redis://gh:SeCrEt1@h:6379/70000", "SeCrEt1");
    expect_url_refused("redis://gh:SeCrEt1@h:6379?password=x", "SeCrEt1");
    expect_url_refused("redis://gh:Se%0aCrEt1@h", "CrEt1"); /* control character */
    expect_url_refused("redis://gh:Se%zzCrEt1@h", "CrEt1"); /* bad escape */
    expect_url_refused("redis://gh:SeCrEt1@[::1", "SeCrEt1");
    expect_url_refused("redis://gh:SeCrEt1@ho st", "SeCrEt1");
    expect_url_refused("unix://gh:SeCrEt1@host/run/r.sock", "SeCrEt1"); /* host in a unix URL */
    expect_url_refused("unix://relative.sock", NULL);
    expect_url_refused("unix:///run/r.sock?timeout=1", NULL);
    char longpath[200] = "unix:///";
    memset(longpath + 8, 'p', 150);
    longpath[158] = '\0';
    expect_url_refused(longpath, NULL);

    /* Through the whole configuration: the value never appears in the message. */
    struct gh_config cfg;
    char err[GH_CONFIG_ERR_MAX];
    setenv("GATEHOUSE_REDIS_URL", "rediss://gh:TopSecret9@127.0.0.1", 1);
    assert_int_equal(gh_config_load(&cfg, err), GH_ERR_CONFIG);
    assert_non_null(strstr(err, "GATEHOUSE_REDIS_URL"));
    assert_null(strstr(err, "TopSecret9"));
    gh_config_release(&cfg);
    setenv("GATEHOUSE_REDIS_URL", "redis://gh:TopSecret9@127.0.0.1:6379/1", 1);
    assert_int_equal(gh_config_load(&cfg, err), GH_OK);
    gh_config_release(&cfg);
    unsetenv("GATEHOUSE_REDIS_URL");
}

/* ---- a login rate limit reached through A holds on B (Redis) ----------------------------- */

static void test_login_rate_limit_shared(void **state)
{
    struct fx *f = *state;
    /* 3 at once, then 1 a minute: nothing refills while the test runs. 127.0.0.1 is a trusted
     * proxy so that X-Forwarded-For can play a second client. */
    const char *env[] = {"GATEHOUSE_RATELIMIT_LOGIN_PER_MIN=1", "GATEHOUSE_RATELIMIT_LOGIN_BURST=3",
                         "GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32", NULL};
    assert_int_equal(start_instance(f, &f->a, f->tcp_env, env), 0);
    assert_int_equal(start_instance(f, &f->b, f->unix_env, env), 0); /* the unix socket */
    /* C: same database and limits, but the in-memory limiter (the control). */
    assert_int_equal(start_instance(f, &f->c, NULL, env), 0);

    struct h_server *seq[] = {&f->a, &f->b, &f->a};
    const char *remaining[] = {"\"login\";r=2;", "\"login\";r=1;", "\"login\";r=0;"};
    for (int i = 0; i < 3; i++) {
        struct h_response r;
        assert_int_equal(
            login_status(seq[i], "nobody@example.com", "wrong password here", "198.51.100.7", &r),
            401);
        const char *rl = h_header(&r, "RateLimit");
        assert_non_null(rl);
        if (strncmp(rl, remaining[i], strlen(remaining[i])) != 0)
            fail_msg("request %d: RateLimit '%s', want '%s…'", i, rl, remaining[i]);
        assert_string_equal(h_header(&r, "RateLimit-Policy"), "\"login\";q=3;w=180");
        h_response_free(&r);
    }
    /* The budget is spent: B refuses (it saw only one of the three), and so does A. */
    struct h_server *both[] = {&f->b, &f->a};
    for (int i = 0; i < 2; i++) {
        struct h_response r;
        assert_int_equal(
            login_status(both[i], "nobody@example.com", "wrong password here", "198.51.100.7", &r),
            429);
        h_assert_problem(both[i], &r, 429);
        const char *ra = h_header(&r, "Retry-After");
        assert_non_null(ra);
        long secs = strtol(ra, NULL, 10);
        assert_true(secs >= 1 && secs <= 60);
        h_response_free(&r);
    }
    /* Negative controls: the in-memory limiter of C knows nothing of it; another client
     * address has its own budget on B; the registration budget is a different rule. */
    struct h_response r;
    assert_int_equal(
        login_status(&f->c, "nobody@example.com", "wrong password here", "198.51.100.7", &r), 401);
    h_response_free(&r);
    assert_int_equal(
        login_status(&f->b, "nobody@example.com", "wrong password here", "198.51.100.8", &r), 401);
    assert_non_null(h_header(&r, "RateLimit"));
    assert_int_equal(strncmp(h_header(&r, "RateLimit"), "\"login\";r=2;", 12), 0);
    h_response_free(&r);
    char email[128];
    h_unique_email("rl", email, sizeof email);
    assert_int_equal(h_register(&f->b, email, PW, NULL, NULL), 201);

    /* In Redis: one key per rule and client under the prefix, with a TTL, and no address. */
    char keys[16][128];
    size_t n = redis_keys(&f->redis, "gatehouse:rl:login:*", keys, 16);
    assert_int_equal(n, 2); /* the two client addresses */
    for (size_t i = 0; i < n; i++) {
        assert_null(strstr(keys[i], "198.51"));
        assert_int_equal(strlen(keys[i]), strlen("gatehouse:rl:login:") + 32);
        long long ttl = redis_pttl(&f->redis, keys[i]);
        assert_true(ttl > 0 && ttl <= 181000);
    }
    char all[64][128];
    size_t total = redis_keys(&f->redis, "*", all, 64);
    for (size_t i = 0; i < total; i++)
        if (strncmp(all[i], "gatehouse:rl:", 13) != 0)
            fail_msg("a key outside the prefix: %s", all[i]);
    stop_clean(&f->a);
    stop_clean(&f->b);
    stop_clean(&f->c);
}

/* ---- the general budget: shared by default, per instance when asked ---------------------- */

static long me_from(const struct h_server *s, const char *xff)
{
    char hdr[96];
    snprintf(hdr, sizeof hdr, "X-Forwarded-For: %s", xff);
    const char *headers[] = {hdr, NULL};
    struct h_response r;
    assert_int_equal(h_request(s, "GET", "/v1/me", headers, NULL, 0, NULL, &r), 0);
    long st = r.status;
    h_response_free(&r);
    return st;
}

static void test_api_budget_shared_or_local(void **state)
{
    struct fx *f = *state;
    for (int local = 0; local < 2; local++) {
        const char *env[] = {"GATEHOUSE_RATELIMIT_API_PER_MIN=1", "GATEHOUSE_RATELIMIT_API_BURST=4",
                             "GATEHOUSE_RATELIMIT_LOGIN_PER_MIN=1",
                             "GATEHOUSE_RATELIMIT_LOGIN_BURST=1",
                             "GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32",
                             local ? "GATEHOUSE_RATELIMIT_API_SHARED=false" : NULL, NULL};
        const char *xff = local ? "203.0.113.9" : "203.0.113.8";
        assert_int_equal(start_instance(f, &f->a, f->tcp_env, env), 0);
        assert_int_equal(start_instance(f, &f->b, f->unix_env, env), 0);
        char keys[16][128];
        size_t before = redis_keys(&f->redis, "gatehouse:rl:api:*", keys, 16);
        /* Four token checks (no token: 401) spend the burst through A. */
        for (int i = 0; i < 4; i++)
            assert_int_equal(me_from(&f->a, xff), 401);
        assert_int_equal(me_from(&f->a, xff), 429);
        /* Shared: B refuses too. Local: B has its own four. */
        if (!local) {
            assert_int_equal(me_from(&f->b, xff), 429);
        } else {
            for (int i = 0; i < 4; i++)
                assert_int_equal(me_from(&f->b, xff), 401);
            assert_int_equal(me_from(&f->b, xff), 429);
        }
        /* The shared budget is a Redis key for this address; the local one is not in Redis. */
        size_t after = redis_keys(&f->redis, "gatehouse:rl:api:*", keys, 16);
        assert_int_equal(after, local ? before : before + 1);
        /* The sign-in budget stays shared in both modes: one login through A spends it, B
         * refuses the next (from an address whose general budget is untouched). */
        const char *who = local ? "203.0.113.19" : "203.0.113.18";
        struct h_response r;
        assert_int_equal(login_status(&f->a, "nobody@example.com", "wrong password here", who, &r),
                         401);
        h_response_free(&r);
        assert_int_equal(login_status(&f->b, "nobody@example.com", "wrong password here", who, &r),
                         429);
        h_response_free(&r);
        stop_clean(&f->a);
        stop_clean(&f->b);
        h_server_free(&f->a);
        h_server_free(&f->b);
    }
}

/* ---- a lockout reached through A holds on B (the database) ------------------------------- */

static void test_lockout_shared(void **state)
{
    struct fx *f = *state;
    const char *env[] = {"GATEHOUSE_LOCKOUT_THRESHOLD=3", "GATEHOUSE_LOCKOUT_BASE_SECONDS=600",
                         NULL};
    assert_int_equal(start_instance(f, &f->a, f->tcp_env, env), 0);
    assert_int_equal(start_instance(f, &f->b, f->tcp_env, env), 0);
    char locked[128], below[128], uid[64];
    struct h_tokens t;
    h_unique_email("locked", locked, sizeof locked);
    h_unique_email("below", below, sizeof below);
    assert_int_equal(h_register(&f->a, locked, PW, NULL, NULL), 201);
    assert_int_equal(h_register(&f->b, below, PW, NULL, NULL), 201);
    assert_int_equal(h_login(&f->b, locked, PW, &t), 200); /* the right password works */
    user_id_of(t.access, uid);

    for (int i = 0; i < 3; i++)
        assert_int_equal(h_login(&f->a, locked, "not the password at all", NULL), 401);
    for (int i = 0; i < 2; i++)
        assert_int_equal(h_login(&f->a, below, "not the password at all", NULL), 401);
    /* B: the locked account is refused even with the right password (the same 401 as a wrong
     * one, by design); the account one failure short of the threshold is not. */
    assert_int_equal(h_login(&f->b, locked, PW, NULL), 401);
    assert_true(log_count(&f->b, "\"reason\":\"locked\"") >= 1);
    assert_int_equal(h_login(&f->b, below, PW, NULL), 200);
    assert_int_equal(h_login(&f->a, locked, PW, NULL), 401);

    /* The lock lives in the database: the CLI lifts it for both instances. */
    struct h_cli_result c;
    const char *args[] = {"users", "unlock", uid, NULL};
    assert_int_equal(h_cli(&f->a, args, &c), 0);
    assert_int_equal(c.exit_code, 0);
    h_cli_free(&c);
    assert_int_equal(h_login(&f->b, locked, PW, NULL), 200);
    assert_int_equal(h_login(&f->a, locked, PW, NULL), 200);
    stop_clean(&f->a);
    stop_clean(&f->b);
}

/* ---- the same refresh token at A and B at the same moment --------------------------------- */

struct racer {
    const struct h_server *s;
    const char *refresh;
    pthread_barrier_t *bar;
    long status;
    struct h_tokens out;
};

static void *race_main(void *p)
{
    struct racer *r = p;
    pthread_barrier_wait(r->bar);
    r->status = h_refresh(r->s, r->refresh, &r->out);
    return NULL;
}

static void test_refresh_race_across_instances(void **state)
{
    struct fx *f = *state;
    assert_int_equal(start_instance(f, &f->a, f->tcp_env, NULL), 0);
    assert_int_equal(start_instance(f, &f->b, f->unix_env, NULL), 0);
    char email[128];
    h_unique_email("race", email, sizeof email);
    assert_int_equal(h_register(&f->a, email, PW, NULL, NULL), 201);
    int wins_a = 0, wins_b = 0;
    for (int round = 0; round < 8; round++) {
        struct h_tokens t;
        assert_int_equal(h_login(round % 2 ? &f->b : &f->a, email, PW, &t), 200);
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 2);
        struct racer ra = {.s = &f->a, .refresh = t.refresh, .bar = &bar};
        struct racer rb = {.s = &f->b, .refresh = t.refresh, .bar = &bar};
        pthread_t ta, tb;
        assert_int_equal(pthread_create(&ta, NULL, race_main, &ra), 0);
        assert_int_equal(pthread_create(&tb, NULL, race_main, &rb), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&bar);
        /* Exactly one winner; the other is a replay. */
        if (!((ra.status == 200 && rb.status == 401) || (ra.status == 401 && rb.status == 200)))
            fail_msg("round %d: A %ld, B %ld; want one 200 and one 401", round, ra.status,
                     rb.status);
        struct racer *win = ra.status == 200 ? &ra : &rb;
        wins_a += win == &ra;
        wins_b += win == &rb;
        /* The replay revoked the family: the winner's new tokens are dead everywhere. */
        assert_int_equal(h_refresh(&f->a, win->out.refresh, NULL), 401);
        assert_int_equal(h_refresh(&f->b, win->out.refresh, NULL), 401);
        int64_t t0 = now_ms();
        int64_t ma = ms_until_refused(&f->a, win->out.access, t0);
        int64_t mb = ms_until_refused(&f->b, win->out.access, t0);
        assert_true(ma >= 0 && ma <= 1000);
        assert_true(mb >= 0 && mb <= 1000);
        assert_int_equal(h_me_status(&f->a, t.access), 401);
        assert_int_equal(h_me_status(&f->b, t.access), 401);
    }
    assert_int_equal(wins_a + wins_b, 8);
    /* The account itself is fine: a new login works. */
    assert_int_equal(h_login(&f->b, email, PW, NULL), 200);
    assert_true(log_count(&f->a, "refresh_reuse") + log_count(&f->b, "refresh_reuse") >= 8);
    stop_clean(&f->a);
    stop_clean(&f->b);
    /* Both instances appended to the audit trail (logins, reuse, final checkpoints): it is
     * still one chain that verifies. */
    struct h_cli_result c;
    const char *args[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(&f->a, args, &c), 0);
    if (c.exit_code != 0)
        fail_msg("audit verify after two writers: exit %d\n%s%s", c.exit_code, c.out, c.err);
    h_cli_free(&c);
}

/* ---- a burst right after start grows the Redis pool without a false outage ---------------- */

struct burster {
    const struct h_server *s;
    pthread_barrier_t *bar;
    int odd; /* answers other than 401 */
};

static void *burst_main(void *p)
{
    struct burster *b = p;
    pthread_barrier_wait(b->bar);
    for (int i = 0; i < 8; i++)
        if (h_me_status(b->s, NULL) != 401)
            b->odd++;
    return NULL;
}

/* Every HTTP thread has its own pool slot; slots connect on first use. Connecting one slot must
 * not make the requests beside it fail as if Redis were down (it used to: while one connect
 * ran, every other new slot failed at once). */
static void test_redis_pool_burst(void **state)
{
    struct fx *f = *state;
    for (int round = 0; round < 3; round++) {
        const char *threads[] = {"GATEHOUSE_HTTP_THREADS=8", NULL};
        assert_int_equal(start_instance(f, &f->a, round % 2 ? f->unix_env : f->tcp_env, threads),
                         0);
        enum { N = 16 };
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, N);
        struct burster b[N];
        pthread_t t[N];
        for (int i = 0; i < N; i++) {
            b[i] = (struct burster){.s = &f->a, .bar = &bar};
            assert_int_equal(pthread_create(&t[i], NULL, burst_main, &b[i]), 0);
        }
        int odd = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(t[i], NULL);
            odd += b[i].odd;
        }
        pthread_barrier_destroy(&bar);
        assert_int_equal(odd, 0);
        if (log_count(&f->a, "\"event\":\"ratelimit_redis_unavailable\"") != 0)
            fail_msg("round %d: a burst on a fresh pool was taken for a Redis outage", round);
        stop_clean(&f->a);
        h_server_free(&f->a);
    }
}

/* ---- a logout through one instance is refused by the other within a second --------------- */

static void test_logout_propagates(void **state)
{
    struct fx *f = *state;
    assert_int_equal(start_instance(f, &f->a, f->tcp_env, NULL), 0);
    assert_int_equal(start_instance(f, &f->b, f->tcp_env, NULL), 0);
    char email[128];
    h_unique_email("logout", email, sizeof email);
    assert_int_equal(h_register(&f->a, email, PW, NULL, NULL), 201);
    struct h_tokens other;
    assert_int_equal(h_login(&f->a, email, PW, &other), 200); /* a second session, untouched */
    for (int round = 0; round < 4; round++) {
        struct h_server *x = round % 2 ? &f->b : &f->a, *y = round % 2 ? &f->a : &f->b;
        struct h_tokens t;
        assert_int_equal(h_login(x, email, PW, &t), 200);
        /* y has verified (and cached) the token before the logout. */
        assert_int_equal(h_me_status(y, t.access), 200);
        assert_int_equal(h_me_status(y, t.access), 200);
        assert_int_equal(logout(x, t.access), 204);
        int64_t t0 = now_ms();
        assert_int_equal(h_me_status(x, t.access), 401); /* at once where it happened */
        int64_t ms = ms_until_refused(y, t.access, t0);
        if (ms < 0 || ms > 1000)
            fail_msg("round %d: the other instance refused the token after %lld ms", round,
                     (long long)ms);
        assert_int_equal(h_refresh(y, t.refresh, NULL), 401);
        assert_int_equal(h_me_status(y, other.access), 200);
        assert_int_equal(h_me_status(x, other.access), 200);
    }
    stop_clean(&f->a);
    stop_clean(&f->b);
}

/* ---- Redis stops: sign-in fails closed, token checks go on; Redis returns: recovery ------ */

static long post_status(const struct h_server *s, const char *path, json_t *body, bool want_problem)
{
    struct h_response r;
    assert_int_equal(h_post_json(s, path, NULL, body, &r), 0);
    long st = r.status;
    if (want_problem && st == 503) {
        h_assert_problem(s, &r, 503);
        assert_non_null(h_header(&r, "Retry-After"));
    }
    h_response_free(&r);
    return st;
}

/* The metrics listener's port (GATEHOUSE_METRICS_LISTEN=127.0.0.1:0), from the start-up log. */
static int metrics_port(const struct h_server *srv)
{
    for (int i = 0; i < 100; i++) {
        char *log = h_read_file(srv->log_path, NULL);
        const char *p = log ? strstr(log, "\"event\":\"metrics_listening\"") : NULL;
        const char *q = p ? strstr(p, "\"port\":") : NULL;
        int port = q ? (int)strtol(q + 7, NULL, 10) : -1;
        free(log);
        if (port > 0)
            return port;
        h_sleep_ms(50);
    }
    return -1;
}

/* The value of an unlabelled metric on the metrics listener (-1 when absent). */
static double metric(const struct h_server *s, int mport, const char *name)
{
    struct h_server m = *s;
    struct h_response r;
    m.port = mport;
    assert_int_equal(h_get(&m, "/metrics", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    double v = -1;
    size_t n = strlen(name);
    for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            v = strtod(p + n + 1, NULL);
    h_response_free(&r);
    return v;
}

/* `gatehouse doctor`'s line about shared rate limits, as run with s's environment. */
static void expect_doctor_redis(const struct h_server *s, const char *verdict)
{
    const char *args[] = {"doctor", NULL};
    struct h_cli_result c;
    assert_int_equal(h_cli(s, args, &c), 0);
    char want[64];
    snprintf(want, sizeof want, "%s  shared rate limits", verdict);
    if (!c.out || !strstr(c.out, want))
        fail_msg("doctor lacks '%s':\n%s", want, c.out ? c.out : "");
    h_cli_free(&c);
}

static void test_redis_outage(void **state)
{
    struct fx *f = *state;
    const char *mx[] = {"GATEHOUSE_METRICS_LISTEN=127.0.0.1:0", NULL};
    assert_int_equal(start_instance(f, &f->a, f->tcp_env, mx), 0);
    int mport = metrics_port(&f->a);
    assert_true(mport > 0);
    assert_true(metric(&f->a, mport, "gatehouse_redis_up") == 1);
    assert_true(metric(&f->a, mport, "gatehouse_redis_failures_total") == 0);
    expect_doctor_redis(&f->a, "PASS");
    assert_int_equal(start_instance(f, &f->b, f->unix_env, NULL), 0);
    char email[128], email2[128];
    struct h_tokens ta, tb;
    h_unique_email("outage", email, sizeof email);
    assert_int_equal(h_register(&f->a, email, PW, NULL, NULL), 201);
    assert_int_equal(h_login(&f->a, email, PW, &ta), 200);
    assert_int_equal(h_login(&f->b, email, PW, &tb), 200);

    redis_stop(&f->redis);
    /* Refresh fails open: a refresh token cannot be guessed, so its limit guards nothing an
     * outage should take away (clients keep their sessions). */
    struct h_tokens nt;
    assert_int_equal(h_refresh(&f->b, ta.refresh, &nt), 200);
    ta = nt;
    h_unique_email("outage2", email2, sizeof email2);
    for (int i = 0; i < 3; i++) {
        struct h_server *s = i % 2 ? &f->b : &f->a;
        /* Sign-in classes fail closed: 503 with Retry-After, never a silent pass. */
        assert_int_equal(post_status(s, "/v1/token",
                                     json_pack("{s:s,s:s}", "email", email, "password", PW), true),
                         503);
        assert_int_equal(post_status(s, "/v1/users",
                                     json_pack("{s:s,s:s}", "email", email2, "password", PW), true),
                         503);
        /* The general budget fails open: token checks are answered from the database. */
        assert_int_equal(h_me_status(&f->a, ta.access), 200);
        assert_int_equal(h_me_status(&f->b, ta.access), 200);
        assert_int_equal(h_me_status(&f->a, tb.access), 200);
        assert_int_equal(h_me_status(&f->b, tb.access), 200);
    }
    /* Operators see it: the gauge, the failures counter, and doctor. */
    assert_true(metric(&f->a, mport, "gatehouse_redis_up") == 0);
    assert_true(metric(&f->a, mport, "gatehouse_redis_failures_total") >= 3);
    expect_doctor_redis(&f->a, "FAIL");
    /* One line per outage, not one per request. */
    assert_int_equal(log_count(&f->a, "\"event\":\"ratelimit_redis_unavailable\""), 1);
    assert_int_equal(log_count(&f->b, "\"event\":\"ratelimit_redis_unavailable\""), 1);
    /* A logout still works and still reaches the other instance (database, not Redis). */
    assert_int_equal(logout(&f->b, tb.access), 204);
    int64_t ms = ms_until_refused(&f->a, tb.access, now_ms());
    assert_true(ms >= 0 && ms <= 1000);

    redis_restart(&f->redis);
    /* Both recover by themselves (reconnection backoff is at most 2 s). */
    struct h_server *both[] = {&f->a, &f->b};
    for (int i = 0; i < 2; i++) {
        int64_t t0 = now_ms();
        long st = 0;
        while ((st = h_login(both[i], email, PW, NULL)) == 503 && now_ms() - t0 < 10000)
            h_sleep_ms(100);
        if (st != 200)
            fail_msg("instance %c: login %ld after Redis came back", "AB"[i], st);
        assert_int_equal(log_count(both[i], "\"event\":\"ratelimit_redis_recovered\""), 1);
    }
    assert_int_equal(h_register(&f->b, email2, PW, NULL, NULL), 201);
    assert_int_equal(h_refresh(&f->a, ta.refresh, NULL), 200);
    assert_true(metric(&f->a, mport, "gatehouse_redis_up") == 1);
    expect_doctor_redis(&f->a, "PASS");
    stop_clean(&f->a);
    stop_clean(&f->b);
}

/* ---- AUTH and ACL: wrong credentials stop start-up; Redis down at start does not ---------- */

static void expect_start_refused(struct fx *f, struct h_server *s, const char *redis_env,
                                 const char *secret, const char *want)
{
    const char *env[] = {f->db_env, master_env, redis_env, NULL};
    assert_int_not_equal(h_server_start(s, env), 0);
    char *log = h_read_file(s->log_path, NULL);
    assert_non_null(log);
    if (!strstr(log, want))
        fail_msg("start-up log lacks '%s':\n%s", want, log);
    if (strstr(log, secret) || strstr(log, "redis://") || strstr(log, "unix://"))
        fail_msg("start-up log shows the Redis URL or password:\n%s", log);
    free(log);
    h_server_free(s);
    s->pid = -1;
}

static void test_redis_auth(void **state)
{
    struct fx *f = *state;
    char env[256];
    snprintf(env, sizeof env, "GATEHOUSE_REDIS_URL=redis://gh:Wrong-%s@127.0.0.1:%d", gh_password,
             f->redis.port);
    expect_start_refused(f, &f->a, env, "Wrong-", "ratelimit_redis_refused");
    snprintf(env, sizeof env, "GATEHOUSE_REDIS_URL=redis://127.0.0.1:%d", f->redis.port);
    expect_start_refused(f, &f->a, env, gh_password, "ratelimit_redis_refused"); /* no AUTH */
    snprintf(env, sizeof env, "GATEHOUSE_REDIS_URL=redis://weak:%s@127.0.0.1:%d", gh_password,
             f->redis.port);
    expect_start_refused(f, &f->a, env, gh_password, "ratelimit_redis_refused"); /* ACL */
    snprintf(env, sizeof env, "GATEHOUSE_REDIS_URL=unix://nosel:%s@%s?db=1", gh_password,
             f->redis.sock);
    expect_start_refused(f, &f->a, env, gh_password, "ratelimit_redis_refused"); /* SELECT */
    snprintf(env, sizeof env, "GATEHOUSE_REDIS_URL=rediss://gh:%s@127.0.0.1:%d", gh_password,
             f->redis.port);
    expect_start_refused(f, &f->a, env, gh_password, "GATEHOUSE_REDIS_URL: rediss://");
    /* The documented ACL (no SELECT) is enough for database 0. */
    snprintf(env, sizeof env, "GATEHOUSE_REDIS_URL=redis://nosel:%s@127.0.0.1:%d", gh_password,
             f->redis.port);
    assert_int_equal(start_instance(f, &f->c, env, NULL), 0);
    assert_int_equal(h_login(&f->c, "nobody@example.com", "wrong password here", NULL), 401);
    stop_clean(&f->c);
    /* The right user and a database number work, over the socket too. */
    snprintf(env, sizeof env, "GATEHOUSE_REDIS_URL=unix://gh:%s@%s?db=1", gh_password,
             f->redis.sock);
    assert_int_equal(start_instance(f, &f->a, env, NULL), 0);
    assert_int_equal(log_count(&f->a, "\"event\":\"ratelimit_redis_connected\""), 1);
    char email[128];
    struct h_tokens t;
    h_user_session(&f->a, "auth", PW, email, sizeof email, &t);
    stop_clean(&f->a);

    /* Redis unreachable at start-up: gatehouse starts, fails closed, and recovers. */
    redis_stop(&f->redis);
    assert_int_equal(start_instance(f, &f->b, f->tcp_env, NULL), 0);
    assert_int_equal(log_count(&f->b, "\"event\":\"ratelimit_redis_unavailable\""), 1);
    assert_int_equal(h_login(&f->b, email, PW, NULL), 503);
    assert_int_equal(h_me_status(&f->b, t.access), 200);
    redis_restart(&f->redis);
    int64_t t0 = now_ms();
    long st;
    while ((st = h_login(&f->b, email, PW, NULL)) == 503 && now_ms() - t0 < 10000)
        h_sleep_ms(100);
    assert_int_equal(st, 200);
    stop_clean(&f->b);
}

/* ---- PostgreSQL restarts mid-run ---------------------------------------------------------- */

#define MAX_OPS 4096

struct wr_op {
    char email[128];
    int kind; /* 0: registration, 1: logout of a prepared session */
    int session;
    long status;
    int64_t done_ms; /* when the answer came */
};

struct writer {
    struct h_server *inst[2];
    struct h_tokens *sessions;
    int nsessions;
    struct wr_op *ops;
    atomic_int nops;
    atomic_int ok_after; /* acknowledged registrations started after the restart */
    atomic_bool restarted;
    atomic_bool stop;
};

static void *writer_main(void *p)
{
    struct writer *w = p;
    int next_session = 0;
    for (int i = 0; !atomic_load(&w->stop) && i < MAX_OPS; i++) {
        struct wr_op *op = &w->ops[i];
        const struct h_server *s = w->inst[i % 2];
        bool after = atomic_load(&w->restarted);
        if (i % 4 == 3 && next_session < w->nsessions) {
            op->kind = 1;
            op->session = next_session++;
            op->status = logout(s, w->sessions[op->session].access);
        } else {
            op->kind = 0;
            h_unique_email("pgrestart", op->email, sizeof op->email);
            op->status = h_register(s, op->email, PW, NULL, NULL);
            if (after && op->status == 201)
                atomic_fetch_add(&w->ok_after, 1);
        }
        op->done_ms = now_ms();
        atomic_store(&w->nops, i + 1);
        h_sleep_ms(15);
    }
    return NULL;
}

static void test_pg_restart_mid_run(void **state)
{
    struct fx *f = *state;
    struct pg_private *pg = &f->pg;
    if (!pg_private_start(pg)) {
        if (pg_required)
            fail_msg("cannot start a private PostgreSQL cluster for the restart test");
        skip();
    }
    /* This test's database is the private cluster's, not the fixture's schema. */
    char url[1100];
    pg_url_for(pg->url, NULL, url, sizeof url);
    snprintf(f->db_env, sizeof f->db_env, "GATEHOUSE_DATABASE_URL=%s", url);
    assert_int_equal(start_instance(f, &f->a, f->tcp_env, NULL), 0);
    assert_int_equal(start_instance(f, &f->b, f->unix_env, NULL), 0);

    struct writer w;
    memset(&w, 0, sizeof w);
    w.inst[0] = &f->a;
    w.inst[1] = &f->b;
    w.nsessions = 24;
    w.sessions = calloc((size_t)w.nsessions, sizeof *w.sessions);
    w.ops = calloc(MAX_OPS, sizeof *w.ops);
    assert_non_null(w.sessions);
    assert_non_null(w.ops);
    char email[128];
    h_unique_email("pgsessions", email, sizeof email);
    assert_int_equal(h_register(&f->a, email, PW, NULL, NULL), 201);
    for (int i = 0; i < w.nsessions; i++)
        assert_int_equal(h_login(i % 2 ? &f->b : &f->a, email, PW, &w.sessions[i]), 200);

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
    /* Some writes before the restart (waited for: on a loaded machine they come slower). */
    for (int k = 0; k < 200 && atomic_load(&w.nops) < 5; k++)
        h_sleep_ms(50);
    h_sleep_ms(100);
    int before = atomic_load(&w.nops);
    int64_t restart_at = now_ms();
    bool restarted = pg_private_restart(pg);
    atomic_store(&w.restarted, true);
    int64_t t0 = now_ms();
    while (restarted && atomic_load(&w.ok_after) < 8 && now_ms() - t0 < 30000)
        h_sleep_ms(50);
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    assert_true(restarted);
    int nops = atomic_load(&w.nops);
    if (atomic_load(&w.ok_after) < 8)
        fail_msg("writes did not recover within 30 s of the restart (%d after it)",
                 atomic_load(&w.ok_after));
    assert_true(before >= 5); /* the restart came mid-run */

    /* Requests recover by themselves on both instances. */
    struct h_server *both[] = {&f->a, &f->b};
    for (int i = 0; i < 2; i++) {
        struct h_response r;
        long st = 0;
        for (int k = 0; k < 100 && st != 200; k++) {
            assert_int_equal(h_get(both[i], "/readyz", NULL, &r), 0);
            st = r.status;
            h_response_free(&r);
            if (st != 200)
                h_sleep_ms(100);
        }
        assert_int_equal(st, 200);
    }
    /* Each answer was an acknowledgement or a clean 503; every acknowledged write survived. */
    int acked = 0, unavailable = 0;
    int64_t first_503 = -1, last_503 = -1;
    for (int i = 0; i < nops; i++) {
        struct wr_op *op = &w.ops[i];
        long ok = op->kind == 0 ? 201 : 204;
        if (op->status != ok && op->status != 503)
            fail_msg("op %d (%s): status %ld", i, op->kind ? "logout" : "register", op->status);
        if (op->status == 503) {
            unavailable++;
            if (first_503 < 0)
                first_503 = op->done_ms - restart_at;
            last_503 = op->done_ms - restart_at;
            continue;
        }
        acked++;
        struct h_server *other = both[(i + 1) % 2];
        if (op->kind == 0) {
            assert_int_equal(h_login(other, op->email, PW, NULL), 200);
        } else {
            assert_int_equal(h_me_status(&f->a, w.sessions[op->session].access), 401);
            assert_int_equal(h_me_status(&f->b, w.sessions[op->session].access), 401);
            assert_int_equal(h_refresh(other, w.sessions[op->session].refresh, NULL), 401);
        }
    }
    fprintf(stderr,
            "pg restart: %d requests, %d acknowledged, %d answered 503 (from %lld to %lld ms "
            "after pg_ctl restart began; it returned after %lld ms)\n",
            nops, acked, unavailable, (long long)first_503, (long long)last_503,
            (long long)(t0 - restart_at));
    free(w.ops);
    free(w.sessions);
    stop_clean(&f->a);
    stop_clean(&f->b);
}

static bool want_required(void)
{
    const char *req = getenv("GH_TEST_PG_REQUIRED");
    return req && strcmp(req, "1") == 0;
}

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "drop cascades to ..." */
}

int main(void)
{
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return 1;
    pg_required = want_required();
    pg_base = getenv("GH_TEST_PG_URL");
    if (!pg_base || !*pg_base)
        pg_base = getenv("GH_TEST_PG_URL_CONFIGURED");
    const char *missing = NULL;
    if (!pg_base || !*pg_base)
        missing = "GH_TEST_PG_URL is not set (scripts/pg-test-cluster.sh start)";
    else if (!h_find_in_path("redis-server", NULL, redis_bin, sizeof redis_bin))
        missing = "redis-server is not installed (apt-get install redis-server)";
    if (missing) {
        fprintf(stderr, "%s: %s\n", pg_required ? "GH_TEST_PG_REQUIRED=1 but" : "skipped", missing);
        return pg_required ? 1 : 77;
    }
    pg_admin = PQconnectdb(pg_base);
    if (PQstatus(pg_admin) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to GH_TEST_PG_URL: %s\n", PQerrorMessage(pg_admin));
        return 1;
    }
    PQsetNoticeProcessor(pg_admin, quiet_notice, NULL);
    unsigned char key[32];
    char b64[64];
    randombytes_buf(key, sizeof key);
    sodium_bin2base64(b64, sizeof b64, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
    snprintf(master_env, sizeof master_env, "GATEHOUSE_MASTER_KEY=%s", b64);
    random_hex(gh_password, 16);
    random_hex(admin_password, 16);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_url_parse),
        cmocka_unit_test_setup_teardown(test_login_rate_limit_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_budget_shared_or_local, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lockout_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_race_across_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logout_propagates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_outage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_pool_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_restart_mid_run, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("scale-out: two instances, PostgreSQL and Redis",
                                             tests, NULL, NULL);
    PQfinish(pg_admin);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
