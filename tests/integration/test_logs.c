/* Integration: the server log after a full flow — JSON lines only, the security events present,
 * and no secret or personal data (passwords, tokens, emails, display names; on PostgreSQL the
 * database URL and its password) in any line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"

static struct h_server srv;

#define PW "log-test passphrase one"
#define PW_NEW "log-test passphrase two"
#define PW_WRONG "log-test wrong guess"
#define DISPLAY "Zebulon Quartermaine"
#define FORGED "\r\n{\"forged\":1}"

#define MAX_SECRETS 64
static char *secrets[MAX_SECRETS];
static size_t nsecrets;

static void remember(const char *s)
{
    if (nsecrets < MAX_SECRETS && s && *s) {
        secrets[nsecrets] = strdup(s);
        assert_non_null(secrets[nsecrets]);
        nsecrets++;
    }
}

static void remember_tokens(const struct h_tokens *t)
{
    remember(t->access);
    remember(t->refresh);
    /* the signature and payload segments on their own */
    const char *dot1 = strchr(t->access, '.');
    const char *dot2 = strrchr(t->access, '.');
    if (dot1 && dot2 && dot2 > dot1) {
        remember(dot2 + 1);
        char payload[1024];
        snprintf(payload, sizeof payload, "%.*s", (int)(dot2 - dot1 - 1), dot1 + 1);
        remember(payload);
    }
}

static int setup(void **state)
{
    (void)state;
    return h_server_start(&srv, NULL);
}

static int teardown(void **state)
{
    (void)state;
    int code = h_server_stop(&srv);
    h_server_free(&srv);
    for (size_t i = 0; i < nsecrets; i++)
        free(secrets[i]);
    nsecrets = 0;
    return code == 0 ? 0 : -1;
}

static void run_flow(void)
{
    char email[128], local[128];
    h_unique_email("logflow", email, sizeof email);
    snprintf(local, sizeof local, "%.*s", (int)(strchr(email, '@') - email), email);
    remember(email);
    remember(local);
    remember(PW);
    remember(PW_NEW);
    remember(PW_WRONG);
    remember(DISPLAY);
    remember(srv.pg_password); /* pg mode; "" is not remembered */
    remember(srv.pg_url);

    assert_int_equal(h_register(&srv, email, PW, DISPLAY, NULL), 201);
    struct h_tokens a, b, c, d;
    assert_int_equal(h_login(&srv, email, PW, &a), 200);
    remember_tokens(&a);
    assert_int_equal(h_login(&srv, email, PW_WRONG, NULL), 401);
    assert_int_equal(h_login(&srv, "nobody-here@example.com", PW_WRONG, NULL), 401);
    remember("nobody-here");
    assert_int_equal(h_me_status(&srv, a.access), 200);

    /* refresh, then reuse the old refresh token */
    assert_int_equal(h_refresh(&srv, a.refresh, &b), 200);
    remember_tokens(&b);
    assert_int_equal(h_refresh(&srv, a.refresh, NULL), 401);
    assert_int_equal(h_me_status(&srv, b.access), 401);

    /* two sessions; password change from one revokes the other; then logout */
    assert_int_equal(h_login(&srv, email, PW, &c), 200);
    remember_tokens(&c);
    assert_int_equal(h_login(&srv, email, PW, &d), 200);
    remember_tokens(&d);
    struct h_response r;
    assert_int_equal(
        h_send_json(&srv, "PUT", "/v1/me/password", c.access,
                    json_pack("{s:s,s:s}", "current_password", PW, "new_password", PW_NEW), &r),
        0);
    assert_int_equal(r.status, 204);
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, d.access), 401);
    /* a failed password change with a wrong current password */
    assert_int_equal(
        h_send_json(&srv, "PUT", "/v1/me/password", c.access,
                    json_pack("{s:s,s:s}", "current_password", PW_WRONG, "new_password", PW_NEW),
                    &r),
        0);
    assert_int_equal(r.status, 401);
    h_response_free(&r);
    /* revoke one session through the API (session_revoked) */
    struct h_tokens e;
    assert_int_equal(h_login(&srv, email, PW_NEW, &e), 200);
    remember_tokens(&e);
    json_t *pl = h_jwt_part(e.access, 1);
    char path[128];
    snprintf(path, sizeof path, "/v1/me/sessions/%s",
             json_string_value(json_object_get(pl, "sid")));
    json_decref(pl);
    char line[1200];
    snprintf(line, sizeof line, "Authorization: Bearer %s", c.access);
    const char *auth[] = {line, NULL};
    assert_int_equal(h_request(&srv, "DELETE", path, auth, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    h_response_free(&r);
    /* logout */
    assert_int_equal(h_request(&srv, "POST", "/v1/logout", auth, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, c.access), 401);
    /* a form login too (its body is a different decoder) */
    char form[512];
    snprintf(form, sizeof form, "grant_type=password&username=%.*s%%40example.com&password=%s",
             (int)strlen(local), local, "log-test+wrong+guess");
    assert_int_equal(h_post_form(&srv, "/v1/token", form, &r), 0);
    assert_int_equal(r.status, 400);
    h_response_free(&r);
}

static void try_injection(void)
{
    char email[128];
    h_unique_email("inject", email, sizeof email);
    /* a display name with CR LF and a fake JSON object: refused, and cannot forge a line */
    json_t *out = NULL;
    long st = h_register(&srv, email, PW, "Eve" FORGED, &out);
    assert_true(st == 422 || st == 201);
    json_decref(out);
    /* an email with the same payload */
    st = h_register(&srv, "eve" FORGED "@example.com", PW, NULL, NULL);
    assert_int_equal(st, 422);
    assert_int_equal(h_login(&srv, "eve" FORGED "@example.com", PW, NULL), 401);
    /* the same in the URL path (which is logged) */
    struct h_response r;
    assert_int_equal(h_get(&srv, "/v1/%0d%0a%7b%22forged%22:1%7d", NULL, &r), 0);
    assert_true(r.status == 404 || r.status == 400);
    h_response_free(&r);
    assert_int_equal(h_get(&srv, "/v1/%0a{\"forged\":1}", NULL, &r), 0);
    h_response_free(&r);
}

static bool line_is_valid(const char *line, json_t **out)
{
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    if (!json_is_object(o)) {
        json_decref(o);
        return false;
    }
    const char *level = json_string_value(json_object_get(o, "level"));
    bool ok = json_is_string(json_object_get(o, "ts")) && level &&
              json_is_string(json_object_get(o, "msg")) &&
              (strcmp(level, "debug") == 0 || strcmp(level, "info") == 0 ||
               strcmp(level, "warn") == 0 || strcmp(level, "error") == 0);
    if (!ok) {
        json_decref(o);
        return false;
    }
    *out = o;
    return true;
}

static void test_log_hygiene(void **state)
{
    (void)state;
    run_flow();
    try_injection();
    assert_int_equal(h_server_stop(&srv), 0);

    char *log = h_read_file(srv.log_path, NULL);
    assert_non_null(log);
    const char *events[] = {"login_failed",
                            "refresh_reuse",
                            "password_changed",
                            "session_revoked",
                            "login_succeeded",
                            "user_registered",
                            NULL};
    bool seen[8] = {false};
    size_t nlines = 0;
    char *p = log;
    while (*p) {
        char *nl = strchr(p, '\n');
        if (!nl)
            fail_msg("the log does not end with a newline: %s", p);
        *nl = '\0';
        nlines++;
        if (strncmp(p, "{\"forged\"", 9) == 0)
            fail_msg("forged log line: %s", p);
        json_t *o = NULL;
        if (!line_is_valid(p, &o))
            fail_msg("log line %zu is not a JSON object with ts, level, msg: %s", nlines, p);
        if (json_object_get(o, "forged"))
            fail_msg("log line %zu has a forged member: %s", nlines, p);
        const char *ev = json_string_value(json_object_get(o, "event"));
        for (size_t i = 0; ev && events[i]; i++)
            if (strcmp(ev, events[i]) == 0)
                seen[i] = true;
        if (ev && strcmp(ev, "refresh_reuse") == 0)
            assert_true(json_is_true(json_object_get(o, "security")));
        json_decref(o);
        for (size_t i = 0; i < nsecrets; i++)
            if (strstr(p, secrets[i]))
                fail_msg("log line %zu contains '%s': %s", nlines, secrets[i], p);
        if (strstr(p, "$argon2") || strstr(p, "$2b$") || strstr(p, "pbkdf2_sha256$"))
            fail_msg("log line %zu contains a password hash: %s", nlines, p);
        p = nl + 1;
    }
    assert_true(nlines > 20);
    for (size_t i = 0; events[i]; i++)
        if (!seen[i])
            fail_msg("security event %s not in the log", events[i]);
    free(log);
}

/* PostgreSQL refusing the connection at start-up: a clear failure, and libpq's message (which
 * names the host, the user and the database) withheld, the URL's password too. */
static void test_pg_connect_failure_is_quiet(void **state)
{
    (void)state;
    if (!h_backend_is_pg())
        skip();
    struct h_server bad;
    assert_int_equal(h_server_start(&bad, NULL), 0);
    assert_int_equal(h_server_stop(&bad), 0);
    /* The same server, user and password; a database that does not exist. */
    char missing[64], url[1200], kv[1300];
    snprintf(missing, sizeof missing, "%s_missing", bad.pg_db);
    const char *at = strstr(bad.pg_url, bad.pg_db);
    assert_non_null(at);
    snprintf(url, sizeof url, "%.*s%s%s", (int)(at - bad.pg_url), bad.pg_url, missing,
             at + strlen(bad.pg_db));
    snprintf(kv, sizeof kv, "GATEHOUSE_DATABASE_URL=%s", url);
    const char *env[] = {kv, NULL};
    assert_int_not_equal(h_server_restart_with(&bad, env), 0);
    assert_true(bad.stopped);
    assert_true(WIFEXITED(bad.exit_status) && WEXITSTATUS(bad.exit_status) != 0);
    char *log = h_read_file(bad.log_path, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "\"event\":\"store_connect_failed\""));
    assert_null(strstr(log, missing));
    assert_null(strstr(log, "does not exist"));
    assert_null(strstr(log, "connection to server"));
    if (bad.pg_password[0])
        assert_null(strstr(log, bad.pg_password));
    free(log);
    h_server_free(&bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_hygiene),
        cmocka_unit_test(test_pg_connect_failure_is_quiet),
    };
    return cmocka_run_group_tests_name("integration/logs", tests, setup, teardown);
}
