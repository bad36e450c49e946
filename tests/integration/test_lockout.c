/* Integration, from the attacker's side: failed logins lock an account for a while; the locked
 * answer is byte-identical (but for the request id) to a wrong password; the owner's known device
 * keeps its own budget; a device token for one account gives nothing on another; unlock works. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define PW "lockout passphrase alpha beta"
#define THRESHOLD 5

static struct h_server srv;

static int group_setup(void **state)
{
    (void)state;
    const char *env[] = {"GATEHOUSE_LOCKOUT_THRESHOLD=5", "GATEHOUSE_LOCKOUT_BASE_SECONDS=2",
                         "GATEHOUSE_LOCKOUT_MAX_SECONDS=4", NULL};
    return h_server_start(&srv, env);
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = h_server_stop(&srv);
    h_server_free(&srv);
    return rc == 0 ? 0 : -1;
}

/* POST /v1/token with an optional device token; returns the status, body without request_id. */
static long login_raw(const char *email, const char *pw, const char *device, char **body_out,
                      char *device_out, size_t device_size)
{
    json_t *b = json_pack("{s:s,s:s}", "email", email, "password", pw);
    if (device)
        json_object_set_new(b, "device_token", json_string(device));
    struct h_response r;
    assert_int_equal(h_post_json(&srv, "/v1/token", NULL, b, &r), 0);
    long st = r.status;
    if (r.json && json_is_object(r.json)) {
        json_t *dt = json_object_get(r.json, "device_token");
        if (device_out && json_is_string(dt))
            snprintf(device_out, device_size, "%s", json_string_value(dt));
        json_object_del(r.json, "request_id");
        if (body_out)
            *body_out = json_dumps(r.json, JSON_SORT_KEYS);
    }
    if (st == 200) {
        const char *sc = h_header(&r, "Set-Cookie");
        assert_non_null(sc);
        assert_non_null(strstr(sc, "HttpOnly"));
        assert_non_null(strstr(sc, "SameSite=Strict"));
    }
    h_response_free(&r);
    return st;
}

static void test_lock_is_indistinguishable_and_device_keeps_budget(void **state)
{
    (void)state;
    char email[128], other[128], device[512] = "", other_device[512] = "";
    h_unique_email("victim", email, sizeof email);
    h_unique_email("other", other, sizeof other);
    assert_int_equal(h_register(&srv, email, PW, NULL, NULL), 201);
    assert_int_equal(h_register(&srv, other, PW, NULL, NULL), 201);
    /* The owner signed in once from their device; the other user from theirs. */
    assert_int_equal(login_raw(email, PW, NULL, NULL, device, sizeof device), 200);
    assert_true(strncmp(device, "gd1.", 4) == 0);
    assert_int_equal(login_raw(other, PW, NULL, NULL, other_device, sizeof other_device), 200);

    /* An attacker sprays wrong passwords: each answer is the plain invalid_grant. */
    char *wrong_body = NULL;
    for (int i = 0; i < THRESHOLD; i++) {
        free(wrong_body);
        wrong_body = NULL;
        assert_int_equal(login_raw(email, "wrong guess number x", NULL, &wrong_body, NULL, 0),
                         401);
    }
    /* Locked: the right password without a device is refused with the very same body. */
    char *locked_body = NULL;
    assert_int_equal(login_raw(email, PW, NULL, &locked_body, NULL, 0), 401);
    assert_string_equal(locked_body, wrong_body);
    /* ...and so is an unknown email. */
    char *unknown_body = NULL;
    assert_int_equal(login_raw("nobody-here@example.com", PW, NULL, &unknown_body, NULL, 0), 401);
    assert_string_equal(unknown_body, wrong_body);
    free(locked_body);
    free(unknown_body);
    free(wrong_body);

    /* The owner's known device still gets in during the lock. */
    assert_int_equal(login_raw(email, PW, device, NULL, NULL, 0), 200);
    /* Another account's device token gives nothing here; a forged one neither. */
    assert_int_equal(login_raw(email, PW, other_device, NULL, NULL, 0), 401);
    char forged[512];
    snprintf(forged, sizeof forged, "%s", device);
    forged[strlen(forged) - 2] = forged[strlen(forged) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(login_raw(email, PW, forged, NULL, NULL, 0), 401);

    /* The lock expires by itself (2 s here). */
    h_sleep_ms(2300);
    assert_int_equal(login_raw(email, PW, NULL, NULL, NULL, 0), 200);

    /* Security events were logged, naming the user by id only. */
    char *log = h_read_file(srv.log_path, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "\"event\":\"account_locked\""));
    assert_non_null(strstr(log, "\"reason\":\"locked\""));
    assert_null(strstr(log, email));
    free(log);
}

static void test_device_budget_is_separate_and_bounded(void **state)
{
    (void)state;
    char email[128], device[512] = "";
    h_unique_email("devbudget", email, sizeof email);
    assert_int_equal(h_register(&srv, email, PW, NULL, NULL), 201);
    assert_int_equal(login_raw(email, PW, NULL, NULL, device, sizeof device), 200);
    /* Wrong passwords through the device count against the device, not the account. */
    for (int i = 0; i < THRESHOLD; i++)
        assert_int_equal(login_raw(email, "bad device guess", device, NULL, NULL, 0), 401);
    assert_int_equal(login_raw(email, PW, device, NULL, NULL, 0), 401); /* device locked */
    assert_int_equal(login_raw(email, PW, NULL, NULL, NULL, 0), 200);   /* account is not */
}

static void test_unlock_cli(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens t;
    h_unique_email("unlockme", email, sizeof email);
    assert_int_equal(h_register(&srv, email, PW, NULL, NULL), 201);
    assert_int_equal(h_login(&srv, email, PW, &t), 200);
    json_t *payload = h_jwt_part(t.access, 1);
    char uid[64];
    snprintf(uid, sizeof uid, "%s", json_string_value(json_object_get(payload, "sub")));
    json_decref(payload);
    for (int i = 0; i < THRESHOLD; i++)
        assert_int_equal(login_raw(email, "wrong again and again", NULL, NULL, NULL, 0), 401);
    assert_int_equal(login_raw(email, PW, NULL, NULL, NULL, 0), 401);
    struct h_cli_result c;
    const char *args[] = {"users", "unlock", uid, NULL};
    assert_int_equal(h_cli(&srv, args, &c), 0);
    assert_int_equal(c.exit_code, 0);
    h_cli_free(&c);
    assert_int_equal(login_raw(email, PW, NULL, NULL, NULL, 0), 200);
    const char *bad[] = {"users", "unlock", "not-an-id", NULL};
    assert_int_equal(h_cli(&srv, bad, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    h_cli_free(&c);
    const char *unknown[] = {"users", "unlock", "AAAAAAAAAAAAAAAAAAAAAA", NULL};
    assert_int_equal(h_cli(&srv, unknown, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    h_cli_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_is_indistinguishable_and_device_keeps_budget),
        cmocka_unit_test(test_device_budget_is_separate_and_bounded),
        cmocka_unit_test(test_unlock_cli),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
