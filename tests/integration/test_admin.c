/* Integration: the admin console API and `gatehouse users create-admin` / `demote`. An admin
 * (created through the CLI, password on stdin) looks accounts up by email and id, unlocks a
 * locked account, revokes a user's sessions and reads the verified audit trail. From the
 * attacker's side: every admin endpoint answers 401 without a token and 403 to a normal user
 * (audited as denied), a demotion is effective at the next request, the CLI refuses a password
 * given as an argument and never overwrites an existing account without --promote. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PW "admin console passphrase quartz lantern"
#define ADMIN_PW "operator chosen passphrase basalt heron"
#define THRESHOLD 3

static struct h_server srv;

static int group_setup(void **state)
{
    (void)state;
    /* A CLI that exits before reading stdin must not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    const char *env[] = {"GATEHOUSE_LOCKOUT_THRESHOLD=3", "GATEHOUSE_LOCKOUT_BASE_SECONDS=600",
                         "GATEHOUSE_LOCKOUT_MAX_SECONDS=1200", NULL};
    return h_server_start(&srv, env);
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = h_server_stop(&srv);
    h_server_free(&srv);
    return rc == 0 ? 0 : -1;
}

/* `gatehouse ARGS...` with the server's environment and input on stdin (NULL: none at all). */
static void cli_stdin(const char *const *args, const char *input, struct h_cli_result *out)
{
    static unsigned seq;
    char outp[400], errp[400];
    int in[2];
    memset(out, 0, sizeof *out);
    seq++;
    snprintf(outp, sizeof outp, "%s/admin-cli-%u.out", srv.dir, seq);
    snprintf(errp, sizeof errp, "%s/admin-cli-%u.err", srv.dir, seq);
    int ofd = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int efd = open(errp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(ofd >= 0 && efd >= 0);
    assert_int_equal(pipe(in), 0);
    const char *bin = getenv("GH_BINARY");
    char *argv[16];
    size_t n = 0;
    argv[n++] = (char *)((bin && *bin) ? bin : "./gatehouse");
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        close(in[0]);
        close(in[1]);
        dup2(ofd, STDOUT_FILENO);
        dup2(efd, STDERR_FILENO);
        if (chdir(srv.dir) != 0)
            _exit(126);
        execve(argv[0], argv, srv.env);
        _exit(127);
    }
    close(in[0]);
    close(ofd);
    close(efd);
    if (input) {
        ssize_t w = write(in[1], input, strlen(input));
        (void)w;
    }
    close(in[1]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    out->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    out->out = h_read_file(outp, NULL);
    out->err = h_read_file(errp, NULL);
    assert_non_null(out->out);
    assert_non_null(out->err);
    unlink(outp);
    unlink(errp);
}

/* create-admin EMAIL with pw on stdin; asserts success and returns the printed id. */
static void create_admin(const char *email, const char *pw, char id[32])
{
    char input[256];
    snprintf(input, sizeof input, "%s\n", pw);
    const char *args[] = {"users", "create-admin", email, NULL};
    struct h_cli_result c;
    cli_stdin(args, input, &c);
    if (c.exit_code != 0)
        fprintf(stderr, "create-admin failed: %s\n", c.err);
    assert_int_equal(c.exit_code, 0);
    size_t len = strcspn(c.out, "\n");
    assert_int_equal(len, 22);
    memcpy(id, c.out, len);
    id[len] = '\0';
    assert_null(strstr(c.out, pw));
    assert_null(strstr(c.err, pw));
    h_cli_free(&c);
}

/* An admin with a fresh session. */
static void admin_session(const char *tag, char id[32], struct h_tokens *t)
{
    char email[128];
    h_unique_email(tag, email, sizeof email);
    create_admin(email, ADMIN_PW, id);
    assert_int_equal(h_login(&srv, email, ADMIN_PW, t), 200);
}

/* A method + path with an optional Bearer token and no body. */
static long call(const char *method, const char *path, const char *bearer, struct h_response *r)
{
    char auth[1200];
    const char *hdr[] = {NULL, NULL};
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hdr[0] = auth;
    }
    assert_int_equal(h_request(&srv, method, path, hdr, NULL, 0, NULL, r), 0);
    return r->status;
}

static long call_status(const char *method, const char *path, const char *bearer)
{
    struct h_response r;
    long st = call(method, path, bearer, &r);
    h_response_free(&r);
    return st;
}

static const char *user_id_of(const char *access, char out[32])
{
    json_t *claims = h_jwt_part(access, 1);
    assert_non_null(claims);
    snprintf(out, 32, "%s", json_string_value(json_object_get(claims, "sub")));
    json_decref(claims);
    return out;
}

/* Is there an audit event (action, actor, target, outcome) among the newest 200? */
static bool audit_has(const char *admin_access, const char *action, const char *actor,
                      const char *target, const char *outcome)
{
    struct h_response r;
    assert_int_equal(call("GET", "/v1/admin/audit?limit=200", admin_access, &r), 200);
    bool found = false;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(r.json, "events"), i, ev)
    {
        if (strcmp(json_string_value(json_object_get(ev, "action")), action) == 0 &&
            (!actor || strcmp(json_string_value(json_object_get(ev, "actor")), actor) == 0) &&
            (!target || strcmp(json_string_value(json_object_get(ev, "target")), target) == 0) &&
            strcmp(json_string_value(json_object_get(ev, "outcome")), outcome) == 0)
            found = true;
    }
    h_response_free(&r);
    return found;
}

static void test_create_admin_cli(void **state)
{
    (void)state;
    char email[128], id[32];
    struct h_cli_result c;
    h_unique_email("cli-admin", email, sizeof email);
    /* The password is never taken from the command line: refused, nothing created. */
    const char *in_argv[] = {"users", "create-admin", email, ADMIN_PW, NULL};
    cli_stdin(in_argv, ADMIN_PW "\n", &c);
    assert_int_not_equal(c.exit_code, 0);
    assert_non_null(strstr(c.err, "stdin"));
    h_cli_free(&c);
    assert_int_equal(h_login(&srv, email, ADMIN_PW, NULL), 401);
    /* The registration policy applies; the weak password is not echoed back. */
    const char *create[] = {"users", "create-admin", email, NULL};
    cli_stdin(create, "password123\n", &c);
    assert_int_not_equal(c.exit_code, 0);
    assert_null(strstr(c.err, "password123"));
    assert_null(strstr(c.out, "password123"));
    h_cli_free(&c);
    /* Nothing on stdin: refused. A malformed email: refused before any password is read. */
    cli_stdin(create, "", &c);
    assert_int_not_equal(c.exit_code, 0);
    h_cli_free(&c);
    const char *bad_email[] = {"users", "create-admin", "not-an-email", NULL};
    cli_stdin(bad_email, ADMIN_PW "\n", &c);
    assert_int_not_equal(c.exit_code, 0);
    h_cli_free(&c);
    assert_int_equal(h_login(&srv, email, ADMIN_PW, NULL), 401);

    create_admin(email, ADMIN_PW, id);
    struct h_tokens t;
    assert_int_equal(h_login(&srv, email, ADMIN_PW, &t), 200);
    char sub[32];
    assert_string_equal(user_id_of(t.access, sub), id);
    struct h_response r;
    char path[128];
    snprintf(path, sizeof path, "/v1/admin/users/%s", id);
    assert_int_equal(call("GET", path, t.access, &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "admin")));
    assert_string_equal(json_string_value(json_object_get(r.json, "email")), email);
    h_response_free(&r);
    /* The password never reached the log. */
    char *log = h_read_file(srv.log_path, NULL);
    assert_non_null(log);
    assert_null(strstr(log, ADMIN_PW));
    free(log);

    /* An existing email: refused without --promote, and the account is left as it was. */
    char other[128];
    struct h_tokens ot;
    h_user_session(&srv, "cli-existing", PW, other, sizeof other, &ot);
    const char *existing[] = {"users", "create-admin", other, NULL};
    cli_stdin(existing, ADMIN_PW "\n", &c);
    assert_int_not_equal(c.exit_code, 0);
    assert_non_null(strstr(c.err, "--promote"));
    h_cli_free(&c);
    assert_int_equal(h_login(&srv, other, PW, NULL), 200);
    assert_int_equal(h_login(&srv, other, ADMIN_PW, NULL), 401);
    assert_int_equal(call_status("GET", "/v1/admin/audit", ot.access), 403);
    /* With --promote it gets the role (no password needed, the old one still works). */
    const char *promote[] = {"users", "create-admin", other, "--promote", NULL};
    cli_stdin(promote, NULL, &c);
    assert_int_equal(c.exit_code, 0);
    user_id_of(ot.access, sub);
    assert_non_null(strstr(c.out, sub));
    h_cli_free(&c);
    assert_int_equal(call_status("GET", "/v1/admin/audit", ot.access), 200);
    assert_int_equal(h_login(&srv, other, PW, NULL), 200);
    /* The admin's own email again, without --promote: refused, the same account stays. */
    cli_stdin(create, "another passphrase entirely new\n", &c);
    assert_int_not_equal(c.exit_code, 0);
    assert_null(strstr(c.out, id));
    h_cli_free(&c);
    assert_int_equal(h_login(&srv, email, ADMIN_PW, NULL), 200);
    assert_int_equal(h_login(&srv, email, "another passphrase entirely new", NULL), 401);
}

static void test_lookup_by_email_and_id(void **state)
{
    (void)state;
    char admin_id[32], email[128], upper[128], uid[32], path[256];
    struct h_tokens at, ut;
    admin_session("lookup-admin", admin_id, &at);
    h_unique_email("lookup-user", email, sizeof email);
    json_t *reg = NULL;
    assert_int_equal(h_register(&srv, email, PW, "Grace Hopper", &reg), 201);
    snprintf(uid, sizeof uid, "%s", json_string_value(json_object_get(reg, "id")));
    json_decref(reg);
    assert_int_equal(h_login(&srv, email, PW, &ut), 200);

    /* Exact match through the blind index, whatever the case of the address. */
    for (size_t i = 0; i <= strlen(email); i++)
        upper[i] = (char)((email[i] >= 'a' && email[i] <= 'z') ? email[i] - 32 : email[i]);
    struct h_response r;
    char *q = NULL;
    assert_non_null(q = malloc(512));
    snprintf(q, 512, "/v1/admin/users?email=%s", upper);
    assert_int_equal(call("GET", q, at.access, &r), 200);
    h_assert_json_response(&r, 200);
    json_t *users = json_object_get(r.json, "users");
    assert_int_equal(json_array_size(users), 1);
    json_t *u = json_array_get(users, 0);
    assert_string_equal(json_string_value(json_object_get(u, "id")), uid);
    assert_string_equal(json_string_value(json_object_get(u, "email")), email);
    assert_string_equal(json_string_value(json_object_get(u, "display_name")), "Grace Hopper");
    assert_true(json_is_string(json_object_get(u, "created_at")));
    assert_true(json_is_string(json_object_get(u, "last_login_at")));
    assert_true(json_is_false(json_object_get(u, "admin")));
    assert_true(json_is_false(json_object_get(u, "locked")));
    assert_string_equal(h_header(&r, "Cache-Control"), "no-store");
    h_assert_security_headers(&r);
    h_response_free(&r);
    /* No such address: an empty list, not an error. */
    assert_int_equal(call("GET", "/v1/admin/users?email=nobody%40example.com", at.access, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "users")), 0);
    h_response_free(&r);
    /* Missing or invalid email: 422 naming the field. */
    assert_int_equal(call("GET", "/v1/admin/users", at.access, &r), 422);
    h_assert_problem(&srv, &r, 422);
    h_assert_errors_field(&r, "email");
    h_response_free(&r);
    assert_int_equal(call("GET", "/v1/admin/users?email=not-an-email", at.access, &r), 422);
    h_assert_errors_field(&r, "email");
    h_response_free(&r);
    /* Wildcards mean nothing: it is an exact lookup. */
    assert_int_equal(call("GET", "/v1/admin/users?email=%25%40example.com", at.access, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "users")), 0);
    h_response_free(&r);

    snprintf(path, sizeof path, "/v1/admin/users/%s", uid);
    assert_int_equal(call("GET", path, at.access, &r), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "email")), email);
    assert_int_equal(json_object_size(r.json), 7);
    assert_null(json_object_get(r.json, "password_hash"));
    h_response_free(&r);
    /* Unknown and malformed ids: 404. */
    assert_int_equal(call("GET", "/v1/admin/users/AAAAAAAAAAAAAAAAAAAAAA", at.access, &r), 404);
    h_assert_problem(&srv, &r, 404);
    h_response_free(&r);
    assert_int_equal(call_status("GET", "/v1/admin/users/..%2f..%2fetc", at.access), 404);
    assert_int_equal(call_status("GET", "/v1/admin/users/x'%20OR%201=1", at.access), 404);
    free(q);

    /* Each lookup is audited with the admin as actor and the user as target. */
    assert_true(audit_has(at.access, "admin_lookup", admin_id, uid, "success"));
}

static void test_unlock_locked_account(void **state)
{
    (void)state;
    char admin_id[32], email[128], uid[32], path[256];
    struct h_tokens at, ut;
    admin_session("unlock-admin", admin_id, &at);
    h_unique_email("locked", email, sizeof email);
    json_t *reg = NULL;
    assert_int_equal(h_register(&srv, email, PW, NULL, &reg), 201);
    snprintf(uid, sizeof uid, "%s", json_string_value(json_object_get(reg, "id")));
    json_decref(reg);
    for (int i = 0; i < THRESHOLD; i++)
        assert_int_equal(h_login(&srv, email, "wrong password for sure", NULL), 401);
    /* Locked: even the right password is refused. */
    assert_int_equal(h_login(&srv, email, PW, NULL), 401);
    struct h_response r;
    snprintf(path, sizeof path, "/v1/admin/users/%s", uid);
    assert_int_equal(call("GET", path, at.access, &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "locked")));
    h_response_free(&r);

    snprintf(path, sizeof path, "/v1/admin/users/%s/unlock", uid);
    assert_int_equal(call("POST", path, at.access, &r), 204);
    assert_int_equal(r.body_len, 0);
    h_response_free(&r);
    assert_int_equal(h_login(&srv, email, PW, &ut), 200);
    snprintf(path, sizeof path, "/v1/admin/users/%s", uid);
    assert_int_equal(call("GET", path, at.access, &r), 200);
    assert_true(json_is_false(json_object_get(r.json, "locked")));
    h_response_free(&r);
    assert_true(audit_has(at.access, "admin_unlock", admin_id, uid, "success"));
    /* Unknown id: 404; a body where none is taken: 400. */
    assert_int_equal(
        call_status("POST", "/v1/admin/users/AAAAAAAAAAAAAAAAAAAAAA/unlock", at.access), 404);
    char auth[1200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", at.access);
    const char *hdr[] = {auth, NULL};
    snprintf(path, sizeof path, "/v1/admin/users/%s/unlock", uid);
    assert_int_equal(h_request(&srv, "POST", path, hdr, "{}", 2, "application/json", &r), 0);
    assert_int_equal(r.status, 400);
    h_response_free(&r);
}

static void test_revoke_sessions(void **state)
{
    (void)state;
    char admin_id[32], email[128], uid[32], path[256];
    struct h_tokens at, t1, t2, other;
    admin_session("revoke-admin", admin_id, &at);
    h_user_session(&srv, "revoked-user", PW, email, sizeof email, &t1);
    assert_int_equal(h_login(&srv, email, PW, &t2), 200);
    h_user_session(&srv, "bystander", PW, path, sizeof path, &other);
    user_id_of(t1.access, uid);
    assert_int_equal(h_me_status(&srv, t1.access), 200);
    assert_int_equal(h_me_status(&srv, t2.access), 200);

    snprintf(path, sizeof path, "/v1/admin/users/%s/revoke-sessions", uid);
    assert_int_equal(call_status("POST", path, at.access), 204);
    /* Every session of the user ends at once: access and refresh tokens. */
    assert_int_equal(h_me_status(&srv, t1.access), 401);
    assert_int_equal(h_me_status(&srv, t2.access), 401);
    assert_int_equal(h_refresh(&srv, t1.refresh, NULL), 401);
    assert_int_equal(h_refresh(&srv, t2.refresh, NULL), 401);
    /* Nobody else's, and not the admin's own. */
    assert_int_equal(h_me_status(&srv, other.access), 200);
    assert_int_equal(h_me_status(&srv, at.access), 200);
    /* The user can sign in again. */
    assert_int_equal(h_login(&srv, email, PW, &t1), 200);
    assert_int_equal(h_me_status(&srv, t1.access), 200);
    assert_true(audit_has(at.access, "admin_revoke_sessions", admin_id, uid, "success"));
    assert_int_equal(
        call_status("POST", "/v1/admin/users/AAAAAAAAAAAAAAAAAAAAAA/revoke-sessions", at.access),
        404);
    assert_int_equal(call_status("GET", path, at.access), 405);
}

static void test_audit_listing(void **state)
{
    (void)state;
    char admin_id[32];
    struct h_tokens at;
    admin_session("audit-admin", admin_id, &at);
    struct h_response r;
    assert_int_equal(call("GET", "/v1/admin/audit", at.access, &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "verified")));
    assert_true(json_is_null(json_object_get(r.json, "detail")));
    json_t *events = json_object_get(r.json, "events");
    size_t n = json_array_size(events);
    assert_true(n >= 5 && n <= 50);
    /* Newest first; every member present. */
    int64_t prev = INT64_MAX;
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        int64_t seq = (int64_t)json_integer_value(json_object_get(ev, "seq"));
        assert_true(seq < prev);
        prev = seq;
        assert_int_equal(json_object_size(ev), 8);
        assert_true(json_is_string(json_object_get(ev, "ts")));
        assert_true(json_is_string(json_object_get(ev, "request_id")));
        assert_true(json_is_string(json_object_get(ev, "client")));
    }
    int64_t newest = (int64_t)json_integer_value(json_object_get(json_array_get(events, 0), "seq"));
    h_response_free(&r);
    /* The operator's create-admin is in the trail (actor "operator", target the new admin). */
    assert_true(audit_has(at.access, "admin_created", "operator", admin_id, "success"));
    assert_true(audit_has(at.access, "admin_audit_read", admin_id, NULL, "success"));

    /* Pages: two at a time, following next_before, never overlapping, strictly older. */
    char path[128];
    snprintf(path, sizeof path, "/v1/admin/audit?limit=2&before=%lld", (long long)newest + 1);
    assert_int_equal(call("GET", path, at.access, &r), 200);
    events = json_object_get(r.json, "events");
    assert_int_equal(json_array_size(events), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(events, 0), "seq")), newest);
    json_int_t next = json_integer_value(json_object_get(r.json, "next_before"));
    assert_int_equal(next, json_integer_value(json_object_get(json_array_get(events, 1), "seq")));
    h_response_free(&r);
    snprintf(path, sizeof path, "/v1/admin/audit?limit=2&before=%lld", (long long)next);
    assert_int_equal(call("GET", path, at.access, &r), 200);
    events = json_object_get(r.json, "events");
    assert_int_equal(json_array_size(events), 2);
    assert_true(json_integer_value(json_object_get(json_array_get(events, 0), "seq")) < next);
    h_response_free(&r);
    /* The first page's end: next_before is null. */
    assert_int_equal(call("GET", "/v1/admin/audit?limit=200&before=3", at.access, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "events")), 2);
    assert_true(json_is_null(json_object_get(r.json, "next_before")));
    h_response_free(&r);
    /* Bad limits and cursors: 422. */
    const char *bad[] = {"/v1/admin/audit?limit=0",
                         "/v1/admin/audit?limit=201",
                         "/v1/admin/audit?limit=-1",
                         "/v1/admin/audit?limit=1e3",
                         "/v1/admin/audit?before=abc",
                         "/v1/admin/audit?before=0",
                         "/v1/admin/audit?limit=%2B5",
                         "/v1/admin/audit?before=99999999999999999999",
                         NULL};
    for (size_t k = 0; bad[k]; k++) {
        assert_int_equal(call("GET", bad[k], at.access, &r), 422);
        h_assert_problem(&srv, &r, 422);
        h_response_free(&r);
    }
}

/* The attacker's view: every admin endpoint, without a token and with a normal user's. */
static void test_non_admins_are_refused(void **state)
{
    (void)state;
    char admin_id[32], email[128], uid[32], paths[5][160];
    struct h_tokens at, ut;
    admin_session("gate-admin", admin_id, &at);
    h_user_session(&srv, "mallory", PW, email, sizeof email, &ut);
    user_id_of(ut.access, uid);
    snprintf(paths[0], sizeof paths[0], "/v1/admin/users?email=%s", email);
    snprintf(paths[1], sizeof paths[1], "/v1/admin/users/%s", admin_id);
    snprintf(paths[2], sizeof paths[2], "/v1/admin/users/%s/unlock", uid);
    snprintf(paths[3], sizeof paths[3], "/v1/admin/users/%s/revoke-sessions", admin_id);
    snprintf(paths[4], sizeof paths[4], "/v1/admin/audit");
    const char *methods[] = {"GET", "GET", "POST", "POST", "GET"};
    char forged[1200];
    snprintf(forged, sizeof forged, "%s", ut.access);
    forged[strlen(forged) - 3] = forged[strlen(forged) - 3] == 'A' ? 'B' : 'A';
    for (int i = 0; i < 5; i++) {
        struct h_response r;
        assert_int_equal(call(methods[i], paths[i], NULL, &r), 401);
        h_assert_problem(&srv, &r, 401);
        assert_non_null(h_header(&r, "WWW-Authenticate"));
        h_response_free(&r);
        assert_int_equal(call(methods[i], paths[i], forged, &r), 401);
        h_response_free(&r);
        assert_int_equal(call(methods[i], paths[i], ut.access, &r), 403);
        h_assert_problem(&srv, &r, 403);
        assert_string_equal(json_string_value(json_object_get(r.json, "type")),
                            "urn:gatehouse:problem:forbidden");
        /* Nothing about the target leaks into the refusal. */
        assert_null(strstr(r.body, email));
        assert_null(strstr(r.body, admin_id));
        h_response_free(&r);
    }
    /* The refused calls changed nothing: the admin is still signed in. */
    assert_int_equal(h_me_status(&srv, at.access), 200);
    /* A refresh token is not an access token here either. */
    assert_int_equal(call_status("GET", "/v1/admin/audit", at.refresh), 401);
    /* The attempts are in the audit trail as denied, with the user as actor. */
    assert_true(audit_has(at.access, "admin_revoke_sessions", uid, admin_id, "denied"));
    assert_true(audit_has(at.access, "admin_audit_read", uid, NULL, "denied"));
    assert_true(audit_has(at.access, "admin_lookup", uid, NULL, "denied"));
}

static void test_demote_is_immediate(void **state)
{
    (void)state;
    char admin_id[32], boss_id[32], path[128];
    struct h_tokens at, bt;
    admin_session("demoted-admin", admin_id, &at);
    admin_session("other-admin", boss_id, &bt);
    assert_int_equal(call_status("GET", "/v1/admin/audit?limit=1", at.access), 200);
    /* The session endpoint reports the stored role (what the pages use to show the console). */
    struct h_response sr;
    assert_int_equal(call("GET", "/v1/session", at.access, &sr), 200);
    assert_true(json_is_true(json_object_get(sr.json, "admin")));
    h_response_free(&sr);
    const char *demote[] = {"users", "demote", admin_id, NULL};
    struct h_cli_result c;
    assert_int_equal(h_cli(&srv, demote, &c), 0);
    assert_int_equal(c.exit_code, 0);
    h_cli_free(&c);
    /* The very next request with the same token is refused; the session itself lives on. */
    assert_int_equal(call_status("GET", "/v1/admin/audit?limit=1", at.access), 403);
    assert_int_equal(h_me_status(&srv, at.access), 200);
    assert_int_equal(call("GET", "/v1/session", at.access, &sr), 200);
    assert_true(json_is_false(json_object_get(sr.json, "admin")));
    h_response_free(&sr);
    snprintf(path, sizeof path, "/v1/admin/users/%s", admin_id);
    struct h_response r;
    assert_int_equal(call("GET", path, bt.access, &r), 200);
    assert_true(json_is_false(json_object_get(r.json, "admin")));
    h_response_free(&r);
    assert_true(audit_has(bt.access, "admin_demoted", "operator", admin_id, "success"));
    /* Unknown and malformed ids: non-zero. */
    const char *unknown[] = {"users", "demote", "AAAAAAAAAAAAAAAAAAAAAA", NULL};
    assert_int_equal(h_cli(&srv, unknown, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    h_cli_free(&c);
    const char *malformed[] = {"users", "demote", "'; DROP TABLE users; --", NULL};
    assert_int_equal(h_cli(&srv, malformed, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    h_cli_free(&c);
    /* --help names both commands. */
    const char *help[] = {"users", "--help", NULL};
    assert_int_equal(h_cli(&srv, help, &c), 0);
    assert_int_equal(c.exit_code, 0);
    assert_non_null(strstr(c.out, "create-admin EMAIL [--promote]"));
    assert_non_null(strstr(c.out, "demote ID"));
    h_cli_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_admin_cli),      cmocka_unit_test(test_lookup_by_email_and_id),
        cmocka_unit_test(test_unlock_locked_account), cmocka_unit_test(test_revoke_sessions),
        cmocka_unit_test(test_audit_listing),         cmocka_unit_test(test_non_admins_are_refused),
        cmocka_unit_test(test_demote_is_immediate),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
