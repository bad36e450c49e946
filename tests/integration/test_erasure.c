/* Integration: export returns everything held about the user (and never the password hash);
 * erasure (self-service with the password, or by the operator) revokes every session, destroys
 * the data key with the row, and really removes the bytes from the database and its WAL; the
 * email can register again as a new user. On PostgreSQL (GH_TEST_BACKEND=pg) the bytes must be
 * gone from every row (old row versions wait for vacuum: docs/PRIVACY.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define PW "erasure passphrase copper kettle"

/* One column of the user's row, read with the sqlite3 CLI (PostgreSQL: over libpq). */
static void user_column(const struct h_server *srv, const char *uid, const char *col, char *out,
                        size_t size)
{
    char cmd[768];
    out[0] = '\0';
    if (h_backend_is_pg()) {
        char *text = NULL;
        snprintf(cmd, sizeof cmd, "SELECT %s FROM users WHERE id = '%s'", col, uid);
        assert_int_equal(h_pg_query(srv, cmd, &text), 0);
        snprintf(out, size, "%s", text);
        free(text);
    } else {
        snprintf(cmd, sizeof cmd,
                 "sqlite3 %s/gatehouse.db \"SELECT %s FROM users WHERE id = '%s'\"", srv->dir, col,
                 uid);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        if (!fgets(out, (int)size, p))
            out[0] = '\0';
        pclose(p);
    }
    out[strcspn(out, "\n")] = '\0';
}

/* The erasure ledger: the file beside the SQLite database, the table erasure_ledger on
 * PostgreSQL (one id per line either way). The caller frees it. */
static char *ledger_text(const struct h_server *srv)
{
    if (h_backend_is_pg()) {
        char *text = NULL;
        assert_int_equal(h_pg_query(srv, "SELECT user_id FROM erasure_ledger", &text), 0);
        return text;
    }
    char lpath[512];
    snprintf(lpath, sizeof lpath, "%s/gatehouse.db-erasures", srv->dir);
    return h_read_file(lpath, NULL);
}

static void uid_of(const char *access, char out[64])
{
    json_t *c = h_jwt_part(access, 1);
    snprintf(out, 64, "%s", json_string_value(json_object_get(c, "sub")));
    json_decref(c);
}

static void test_export_then_self_erasure(void **state)
{
    (void)state;
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, NULL), 0);
    const char *email = "erase-me-7731@example.com";
    assert_int_equal(h_register(&srv, email, PW, "Erase Me Name", NULL), 201);
    struct h_tokens t1, t2;
    assert_int_equal(h_login(&srv, email, PW, &t1), 200);
    assert_int_equal(h_login(&srv, email, PW, &t2), 200);
    char uid[64];
    uid_of(t1.access, uid);

    /* Export: profile decrypted, both sessions, metadata, never the hash. */
    struct h_response r;
    assert_int_equal(h_get(&srv, "/v1/me/export", t1.access, &r), 0);
    h_assert_json_response(&r, 200);
    json_t *u = json_object_get(r.json, "user");
    assert_string_equal(json_string_value(json_object_get(u, "email")), email);
    assert_string_equal(json_string_value(json_object_get(u, "display_name")), "Erase Me Name");
    assert_string_equal(json_string_value(json_object_get(u, "id")), uid);
    assert_string_equal(json_string_value(json_object_get(u, "password_hash_algorithm")),
                        "argon2id-nfkc");
    assert_true(json_is_string(json_object_get(u, "last_login_at")));
    assert_true(json_is_false(json_object_get(u, "admin")));
    assert_int_equal(json_array_size(json_object_get(r.json, "sessions")), 2);
    /* The user's audit events: registration and both logins, naming only ids. */
    json_t *evs = json_object_get(r.json, "audit_events");
    assert_true(json_is_array(evs));
    int reg = 0, logins = 0;
    size_t ei;
    json_t *ev;
    json_array_foreach(evs, ei, ev)
    {
        const char *a = json_string_value(json_object_get(ev, "action"));
        reg += strcmp(a, "register") == 0;
        logins += strcmp(a, "login_success") == 0;
        assert_string_equal(json_string_value(json_object_get(ev, "target")), uid);
    }
    assert_int_equal(reg, 1);
    assert_int_equal(logins, 2);
    assert_null(strstr(r.body, "argon2id$v="));
    assert_null(strstr(r.body, "pe1."));
    assert_null(strstr(r.body, "gk1."));
    h_response_free(&r);

    /* What the database holds for this user now: sealed fields and the wrapped data key. */
    char wrapped[512], email_enc[600], name_enc[600];
    user_column(&srv, uid, "dek_wrapped", wrapped, sizeof wrapped);
    user_column(&srv, uid, "email", email_enc, sizeof email_enc);
    user_column(&srv, uid, "display_name", name_enc, sizeof name_enc);
    assert_true(strncmp(wrapped, "gk1.", 4) == 0);
    assert_true(strncmp(email_enc, "pe1.", 4) == 0);
    assert_true(h_db_contains(&srv, wrapped + 30));

    /* Wrong password: refused, nothing erased. */
    assert_int_equal(h_send_json(&srv, "DELETE", "/v1/me", t1.access,
                                 json_pack("{s:s}", "password", "not my password at all"), &r),
                     0);
    h_assert_problem(&srv, &r, 401);
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, t1.access), 200);

    assert_int_equal(h_send_json(&srv, "DELETE", "/v1/me", t1.access,
                                 json_pack("{s:s}", "password", PW), &r),
                     0);
    assert_int_equal(r.status, 204);
    h_response_free(&r);

    /* Every session is gone, the login fails, the refresh fails. */
    assert_int_equal(h_me_status(&srv, t1.access), 401);
    assert_int_equal(h_me_status(&srv, t2.access), 401);
    assert_int_equal(h_refresh(&srv, t2.refresh, NULL), 401);
    assert_int_equal(h_login(&srv, email, PW, NULL), 401);
    /* The bytes are gone from the database, its WAL and shm (secure_delete + truncated WAL). */
    assert_false(h_db_contains(&srv, wrapped + 30));
    assert_false(h_db_contains(&srv, email_enc + 30));
    assert_false(h_db_contains(&srv, name_enc + 30));
    /* The erasure ledger names the id (and nothing else about the user). */
    char *ledger = ledger_text(&srv);
    assert_non_null(ledger);
    assert_non_null(strstr(ledger, uid));
    assert_null(strstr(ledger, "erase-me"));
    free(ledger);
    /* The audit chain still verifies after the erasure (events keep only the random id), and
     * it recorded the export and the erasure. */
    struct h_cli_result c;
    const char *verify[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(&srv, verify, &c), 0);
    if (c.exit_code != 0)
        fail_msg("audit verify: %s %s", c.out, c.err);
    h_cli_free(&c);
    const char *export[] = {"audit", "export", NULL};
    assert_int_equal(h_cli(&srv, export, &c), 0);
    assert_non_null(strstr(c.out, "\"action\":\"erasure\""));
    assert_non_null(strstr(c.out, "\"action\":\"export\""));
    assert_null(strstr(c.out, "erase-me"));
    h_cli_free(&c);
    /* The email can register again, as a new user. */
    json_t *j = NULL;
    assert_int_equal(h_register(&srv, email, PW, NULL, &j), 201);
    assert_string_not_equal(json_string_value(json_object_get(j, "id")), uid);
    json_decref(j);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
}

static void test_operator_erasure(void **state)
{
    (void)state;
    struct h_server srv;
    const char *env[] = {"GATEHOUSE_AUDIT_CHECKPOINT_SECONDS=1", NULL};
    assert_int_equal(h_server_start(&srv, env), 0);
    char email[128];
    struct h_tokens t;
    h_user_session(&srv, "operase", PW, email, sizeof email, &t);
    /* A timed checkpoint is signed while serving (and logged), not only at shutdown. */
    bool seen = false;
    for (int i = 0; i < 40 && !seen; i++) {
        h_sleep_ms(100);
        char *lg = h_read_file(srv.log_path, NULL);
        seen = lg && strstr(lg, "\"event\":\"audit_checkpoint\"");
        free(lg);
    }
    assert_true(seen);
    char uid[64];
    uid_of(t.access, uid);
    assert_int_equal(h_me_status(&srv, t.access), 200);
    struct h_cli_result c;
    /* Breach notification: the contact list (decrypted), all users or chosen ids; audited. */
    char other[128];
    h_unique_email("bystander", other, sizeof other);
    assert_int_equal(h_register(&srv, other, PW, NULL, NULL), 201);
    const char *contacts[] = {"users", "contacts", NULL};
    assert_int_equal(h_cli(&srv, contacts, &c), 0);
    assert_int_equal(c.exit_code, 0);
    assert_non_null(strstr(c.out, email));
    assert_non_null(strstr(c.out, other));
    assert_non_null(strstr(c.out, uid));
    h_cli_free(&c);
    char ids[512];
    snprintf(ids, sizeof ids, "%s/affected.txt", srv.dir);
    char idline[80];
    snprintf(idline, sizeof idline, "%s\n", uid);
    assert_int_equal(h_write_file(ids, idline), 0);
    const char *some[] = {"users", "contacts", ids, NULL};
    assert_int_equal(h_cli(&srv, some, &c), 0);
    assert_non_null(strstr(c.out, email));
    assert_null(strstr(c.out, other));
    h_cli_free(&c);
    const char *aexport[] = {"audit", "export", NULL};
    assert_int_equal(h_cli(&srv, aexport, &c), 0);
    assert_non_null(strstr(c.out, "\"action\":\"contact_list\""));
    h_cli_free(&c);
    const char *args[] = {"users", "erase", uid, NULL};
    assert_int_equal(h_cli(&srv, args, &c), 0);
    assert_int_equal(c.exit_code, 0);
    h_cli_free(&c);
    /* The running server refuses the token at once (the revocation epoch moved; on PostgreSQL
     * within the 200 ms re-read). */
    h_expect_refused_after_cli(&srv, t.access);
    assert_int_equal(h_login(&srv, email, PW, NULL), 401);
    assert_int_equal(h_cli(&srv, args, &c), 0);
    assert_int_not_equal(c.exit_code, 0); /* already gone */
    h_cli_free(&c);
    /* An id that never existed is refused and never reaches the erasure ledger. */
    const char *typo[] = {"users", "erase", "AAAAAAAAAAAAAAAAAAAAAA", NULL};
    assert_int_equal(h_cli(&srv, typo, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    h_cli_free(&c);
    char *ledger = ledger_text(&srv);
    assert_non_null(ledger);
    assert_non_null(strstr(ledger, uid));
    assert_null(strstr(ledger, "AAAAAAAAAAAAAAAAAAAAAA"));
    free(ledger);
    assert_int_equal(h_server_stop(&srv), 0);
    /* Shutdown signed a final checkpoint and emitted it to the log; the chain verifies. */
    char *log = h_read_file(srv.log_path, NULL);
    assert_non_null(strstr(log, "\"event\":\"audit_checkpoint\""));
    free(log);
    const char *verify[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(&srv, verify, &c), 0);
    assert_int_equal(c.exit_code, 0);
    h_cli_free(&c);
    h_server_free(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_then_self_erasure),
        cmocka_unit_test(test_operator_erasure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
