/* Durability and overload against the real binary: kill -9 right after an acknowledged write
 * loses nothing; a full hashing queue answers 503 + Retry-After; native TLS serves HSTS. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PW "durable passphrase one two"
#define PW2 "another durable passphrase"

static void test_kill9_loses_no_acknowledged_write(void **state)
{
    (void)state;
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, NULL), 0);
    for (int round = 0; round < 3; round++) {
        char email[128];
        struct h_tokens t1, t2, t3, tl;
        struct h_response r;
        /* registration, acknowledged → kill -9 → still there */
        h_unique_email("durable", email, sizeof email);
        assert_int_equal(h_register(&srv, email, PW, NULL, NULL), 201);
        assert_int_equal(h_server_kill9_restart(&srv), 0);
        assert_int_equal(h_login(&srv, email, PW, &t1), 200);

        /* rotation, acknowledged → kill -9 → the new token works, the old one is a replay */
        assert_int_equal(h_refresh(&srv, t1.refresh, &t2), 200);
        assert_int_equal(h_server_kill9_restart(&srv), 0);
        assert_int_equal(h_refresh(&srv, t2.refresh, &t3), 200);
        assert_int_equal(h_refresh(&srv, t1.refresh, &tl), 401);
        assert_int_equal(h_me_status(&srv, t3.access), 401); /* the replay killed the family */

        /* logout, acknowledged → kill -9 → still revoked */
        assert_int_equal(h_login(&srv, email, PW, &t1), 200);
        /* no credentials at all: 401, nothing revoked */
        assert_int_equal(h_request(&srv, "POST", "/v1/logout", NULL, NULL, 0, NULL, &r), 0);
        assert_int_equal(r.status, 401);
        h_response_free(&r);
        assert_int_equal(h_me_status(&srv, t1.access), 200);
        char auth[1100];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", t1.access);
        const char *hdrs[] = {auth, NULL};
        assert_int_equal(h_request(&srv, "POST", "/v1/logout", hdrs, NULL, 0, NULL, &r), 0);
        assert_int_equal(r.status, 204);
        h_response_free(&r);
        assert_int_equal(h_server_kill9_restart(&srv), 0);
        assert_int_equal(h_me_status(&srv, t1.access), 401);
        assert_int_equal(h_refresh(&srv, t1.refresh, &tl), 401);

        /* password change, acknowledged → kill -9 → the old password is gone */
        assert_int_equal(h_login(&srv, email, PW, &t1), 200);
        assert_int_equal(h_send_json(&srv, "PUT", "/v1/me/password", t1.access,
                                     json_pack("{s:s,s:s}", "current_password", PW,
                                               "new_password", PW2),
                                     &r),
                         0);
        assert_int_equal(r.status, 204);
        h_response_free(&r);
        assert_int_equal(h_server_kill9_restart(&srv), 0);
        assert_int_equal(h_login(&srv, email, PW, &tl), 401);
        assert_int_equal(h_login(&srv, email, PW2, &tl), 200);
    }
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
}

struct login_arg {
    struct h_server *srv;
    const char *email;
    long status;
    bool retry_after;
    bool problem;
};

static void *login_thread(void *p)
{
    struct login_arg *a = p;
    struct h_response r;
    if (h_post_json(a->srv, "/v1/token", NULL,
                    json_pack("{s:s,s:s}", "email", a->email, "password", "wrong password x"),
                    &r) == 0) {
        a->status = r.status;
        a->retry_after = h_header(&r, "Retry-After") != NULL;
        const char *ct = h_header(&r, "Content-Type");
        a->problem = ct && strcmp(ct, "application/problem+json") == 0;
    }
    h_response_free(&r);
    return NULL;
}

static void test_full_hash_queue_is_503_not_latency(void **state)
{
    (void)state;
    struct h_server srv;
    /* One slow hashing thread, one waiting slot: a burst of logins must overflow. */
    const char *env[] = {"GATEHOUSE_TEST_INSECURE_FAST_HASH=0", "GATEHOUSE_HASH_THREADS=1",
                         "GATEHOUSE_HASH_QUEUE=1", "GATEHOUSE_ARGON2_OPSLIMIT=6", NULL};
    assert_int_equal(h_server_start(&srv, env), 0);
    enum { N = 12 };
    struct login_arg args[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        args[i] = (struct login_arg){.srv = &srv, .email = "nobody@example.com"};
        assert_int_equal(pthread_create(&th[i], NULL, login_thread, &args[i]), 0);
    }
    int busy = 0, denied = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (args[i].status == 503) {
            busy++;
            assert_true(args[i].retry_after);
            assert_true(args[i].problem);
        } else {
            assert_int_equal(args[i].status, 401);
            denied++;
        }
    }
    assert_true(busy > 0);
    assert_true(denied >= 1);
    /* Token checks never wait for the hashing queue. */
    struct h_response r;
    assert_int_equal(h_get(&srv, "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
}

static void test_native_tls_with_hsts(void **state)
{
    (void)state;
    char dir[] = "/tmp/gh-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[512], cert[128], key[128], cert_env[160], key_env[160];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s "
             "-out %s -days 2 -subj /CN=localhost >/dev/null 2>&1",
             key, cert);
    assert_int_equal(system(cmd), 0);
    snprintf(cert_env, sizeof cert_env, "GATEHOUSE_TLS_CERT_PATH=%s", cert);
    snprintf(key_env, sizeof key_env, "GATEHOUSE_TLS_KEY_PATH=%s", key);
    const char *env[] = {cert_env, key_env, NULL};
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, env), 0);
    assert_true(srv.tls);
    struct h_response r;
    assert_int_equal(h_get(&srv, "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    const char *hsts = h_header(&r, "Strict-Transport-Security");
    assert_non_null(hsts);
    assert_non_null(strstr(hsts, "max-age="));
    h_response_free(&r);
    /* TLS 1.1 and plain HTTP are refused. */
    snprintf(cmd, sizeof cmd, "curl -sk --tls-max 1.1 -o /dev/null https://127.0.0.1:%d/healthz",
             srv.port);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "curl -s -o /dev/null http://127.0.0.1:%d/healthz", srv.port);
    assert_int_not_equal(system(cmd), 0);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_loses_no_acknowledged_write),
        cmocka_unit_test(test_full_hash_queue_is_503_not_latency),
        cmocka_unit_test(test_native_tls_with_hsts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
