/* Integration, from the attacker's side: failed logins lock an account for a while; the locked
 * answer is byte-identical (but for the request id) to a wrong password; the owner's known device
 * keeps its own budget; a device token for one account gives nothing on another; unlock works. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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

/* The user id (sub) an access token was issued to. */
static void subject_of(const char *access, char *out, size_t size)
{
    json_t *payload = h_jwt_part(access, 1);
    assert_non_null(payload);
    snprintf(out, size, "%s", json_string_value(json_object_get(payload, "sub")));
    json_decref(payload);
    assert_true(out[0] != '\0');
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
    char uid[64];
    subject_of(t.access, uid, sizeof uid);
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

/* ---- attempts that wait in the hashing queue ------------------------------------------- */

struct bg_login {
    const struct h_server *srv;
    const char *email;
    const char *pw;
    atomic_long status; /* 0: no answer yet */
    pthread_t t;
};

static void *bg_login_main(void *p)
{
    struct bg_login *a = p;
    struct h_response r;
    if (h_post_json(a->srv, "/v1/token", NULL,
                    json_pack("{s:s,s:s}", "email", a->email, "password", a->pw), &r) == 0)
        atomic_store(&a->status, r.status);
    h_response_free(&r);
    return NULL;
}

static void bg_start(struct bg_login *a, const struct h_server *s, const char *email,
                     const char *pw)
{
    a->srv = s;
    a->email = email;
    a->pw = pw;
    atomic_store(&a->status, 0);
    assert_int_equal(pthread_create(&a->t, NULL, bg_login_main, a), 0);
}

/* One slow hashing thread (about 0.1 s per argon2id here): attempts queue up behind each other
 * in the order they arrived, and are decided in that order. */
static const char *const slow_env[] = {
    "GATEHOUSE_TEST_INSECURE_FAST_HASH=0", "GATEHOUSE_HASH_THREADS=1",
    "GATEHOUSE_ARGON2_OPSLIMIT=8",         "GATEHOUSE_LOCKOUT_THRESHOLD=5",
    "GATEHOUSE_LOCKOUT_BASE_SECONDS=60",   NULL};

/* An attacker pipelines guesses: more wrong ones than the threshold are already waiting when
 * the right one arrives. The lock that the earlier ones set while it waited must hold it back:
 * the decision reads the budget after hashing, not when the attempt was queued. */
static void test_pipelined_guesses_cannot_outrun_the_lock(void **state)
{
    (void)state;
    struct h_server s2;
    assert_int_equal(h_server_start(&s2, slow_env), 0);
    char email[128];
    h_unique_email("pipelined", email, sizeof email);
    assert_int_equal(h_register(&s2, email, PW, NULL, NULL), 201);
    enum { WRONG = THRESHOLD + 2 };
    struct bg_login wrong[WRONG], right;
    for (int i = 0; i < WRONG; i++)
        bg_start(&wrong[i], &s2, email, "a wrong guess in the pipe");
    h_sleep_ms(150); /* all queued: the queue holds about WRONG x 0.1 s of hashing */
    bg_start(&right, &s2, email, PW);
    for (int i = 0; i < WRONG; i++) {
        pthread_join(wrong[i].t, NULL);
        assert_int_equal(atomic_load(&wrong[i].status), 401);
    }
    pthread_join(right.t, NULL);
    assert_int_equal(atomic_load(&right.status), 401); /* locked by the guesses decided before it */
    char *log = h_read_file(s2.log_path, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "\"event\":\"account_locked\""));
    assert_non_null(strstr(log, "\"reason\":\"locked\""));
    free(log);
    assert_int_equal(h_server_stop(&s2), 0);
    h_server_free(&s2);
}

/* The account is erased while its owner's sign-in waits to be hashed: the password was right
 * when it was read, but there is no account any more -- no session, the plain 401. */
static void test_account_erased_while_sign_in_waits(void **state)
{
    (void)state;
    struct h_server s2;
    assert_int_equal(h_server_start(&s2, slow_env), 0);
    char email[128], filler[128];
    struct h_tokens t;
    h_unique_email("erasedwaiting", email, sizeof email);
    h_unique_email("filler", filler, sizeof filler);
    assert_int_equal(h_register(&s2, email, PW, NULL, NULL), 201);
    assert_int_equal(h_login(&s2, email, PW, &t), 200);
    char uid[64];
    subject_of(t.access, uid, sizeof uid);
    enum { FILL = 16 }; /* about 1.6 s of hashing ahead of the owner's attempt */
    struct bg_login fill[FILL], owner;
    for (int i = 0; i < FILL; i++)
        bg_start(&fill[i], &s2, filler, "nobody has this password");
    h_sleep_ms(150);
    bg_start(&owner, &s2, email, PW);
    h_sleep_ms(50);
    struct h_cli_result c;
    const char *args[] = {"users", "erase", uid, NULL};
    assert_int_equal(h_cli(&s2, args, &c), 0);
    assert_int_equal(c.exit_code, 0);
    h_cli_free(&c);
    /* The erasure must have been done before the owner's attempt was decided, or this test
     * proves nothing: a still-waiting filler says the queue had not drained yet. */
    int waiting = 0;
    for (int i = 0; i < FILL; i++)
        waiting += atomic_load(&fill[i].status) == 0;
    assert_true(waiting > 0);
    for (int i = 0; i < FILL; i++) {
        pthread_join(fill[i].t, NULL);
        assert_int_equal(atomic_load(&fill[i].status), 401);
    }
    pthread_join(owner.t, NULL);
    assert_int_equal(atomic_load(&owner.status), 401);
    assert_int_equal(h_login(&s2, email, PW, NULL), 401);
    assert_int_equal(h_server_stop(&s2), 0);
    h_server_free(&s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_is_indistinguishable_and_device_keeps_budget),
        cmocka_unit_test(test_device_budget_is_separate_and_bounded),
        cmocka_unit_test(test_unlock_cli),
        cmocka_unit_test(test_pipelined_guesses_cannot_outrun_the_lock),
        cmocka_unit_test(test_account_erased_while_sign_in_waits),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
