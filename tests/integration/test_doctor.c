/* Integration: `gatehouse doctor` reports one line per guideline and exits with the worst:
 * warnings for a development setup, a failure for a tampered audit chain; it sees the last
 * backup through the audit trail. (A wildcard CORS origin cannot even be configured:
 * test_cors.) Tampering goes through the sqlite3 CLI, or as the superuser on PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define PW "doctor passphrase cobalt meadow"

static void test_doctor(void **state)
{
    (void)state;
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, NULL), 0);
    assert_int_equal(h_register(&srv, "doc@example.com", PW, NULL, NULL), 201);
    struct h_cli_result c;
    const char *doctor[] = {"doctor", NULL};
    assert_int_equal(h_cli(&srv, doctor, &c), 0);
    assert_int_equal(c.exit_code, 1); /* development: warnings, no failure */
    const char *want[] = {"WARN  environment", "PASS  CORS", "PASS  audit trail",
                          "WARN  backups", "PASS  signing key rotation", "PASS  data directory",
                          NULL};
    for (int i = 0; want[i]; i++)
        if (!strstr(c.out, want[i]))
            fail_msg("doctor lacks '%s':\n%s", want[i], c.out);
    assert_null(strstr(c.out, "FAIL"));
    h_cli_free(&c);

    /* A backup shows up (through the audit trail). */
    char bk[512];
    snprintf(bk, sizeof bk, "%s/doc.ghbk", srv.dir);
    const char *backup[] = {"backup", "create", bk, NULL};
    assert_int_equal(h_cli(&srv, backup, &c), 0);
    h_cli_free(&c);
    assert_int_equal(h_cli(&srv, doctor, &c), 0);
    assert_non_null(strstr(c.out, "PASS  backups"));
    h_cli_free(&c);

    /* A tampered audit row is a failure. */
    if (h_backend_is_pg()) {
        assert_int_equal(h_pg_query(&srv,
                                    "DROP TRIGGER audit_events_append_only ON audit_events; "
                                    "UPDATE audit_events SET outcome = 'failure' WHERE seq = 1",
                                    NULL),
                         0);
    } else {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "sqlite3 %s/gatehouse.db \"DROP TRIGGER IF EXISTS audit_events_no_update; "
                 "DROP TRIGGER IF EXISTS audit_events_append_only; "
                 "UPDATE audit_events SET outcome = 'failure' WHERE seq = 1;\" 2>/dev/null",
                 srv.dir);
        assert_int_equal(system(cmd), 0);
    }
    assert_int_equal(h_cli(&srv, doctor, &c), 0);
    if (c.exit_code != 2)
        fail_msg("doctor after tampering (exit %d):\n%s", c.exit_code, c.out);
    assert_non_null(strstr(c.out, "FAIL  audit trail"));
    h_cli_free(&c);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doctor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
