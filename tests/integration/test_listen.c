/* Integration: the listening socket. A second gatehouse on an address that is already served
 * must not start (no SO_REUSEPORT, which would let it take part of the first one's
 * connections): it exits non-zero at start-up with a message naming the address, never a
 * secret, and the first keeps answering every request. A restart on the same port still binds
 * while the old connections sit in TIME_WAIT (SO_REUSEADDR), after SIGTERM and after kill -9. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"

/* A well-formed master key for the second server: it must never appear in what it prints. */
#define SECOND_MASTER_KEY "Mh2RQi+gs3MTY1DvmJGTjQ0/+Mch3KSyKj4AWlK2HIw="

static struct h_server first;

static int group_setup(void **state)
{
    (void)state;
    return h_server_start(&first, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = h_server_stop(&first);
    h_server_free(&first);
    return rc == 0 ? 0 : -1;
}

/* GET /healthz on a connection of its own that the server closes (Connection: close): returns
 * the status and copies X-Request-Id into id. */
static long healthz_once(const struct h_server *s, char *id, size_t id_size)
{
    const char *hdrs[] = {"Connection: close", NULL};
    struct h_response r;
    assert_int_equal(h_request(s, "GET", "/healthz", hdrs, NULL, 0, NULL, &r), 0);
    long st = r.status;
    const char *rid = h_header(&r, "X-Request-Id");
    snprintf(id, id_size, "%s", rid ? rid : "");
    h_response_free(&r);
    return st;
}

/* Does the server's log mention this request id (its request log line)? The line is written
 * when the request completes, which may be just after the client has its answer. */
static bool logged_by(const struct h_server *s, const char *request_id)
{
    char needle[128];
    snprintf(needle, sizeof needle, "\"request_id\":\"%s\"", request_id);
    for (int i = 0; i < 100; i++) {
        char *log = h_read_file(s->log_path, NULL);
        bool found = log && strstr(log, needle);
        free(log);
        if (found)
            return true;
        h_sleep_ms(20);
    }
    return false;
}

/* Connections in TIME_WAIT whose local end is 127.0.0.1:port (/proc/net/tcp). */
static int time_wait_on(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return -1;
    char line[512];
    int n = 0;
    char want[32];
    snprintf(want, sizeof want, "0100007F:%04X", (unsigned)port);
    while (fgets(line, sizeof line, f)) {
        char local[64], remote[64], st[8];
        if (sscanf(line, " %*s %63s %63s %7s", local, remote, st) == 3 &&
            strcmp(local, want) == 0 && strcmp(st, "06") == 0)
            n++;
    }
    fclose(f);
    return n;
}

static void test_second_server_on_same_address_refused(void **state)
{
    (void)state;
    char listen_env[64];
    snprintf(listen_env, sizeof listen_env, "GATEHOUSE_LISTEN=127.0.0.1:%d", first.port);
    const char *env[] = {listen_env, "GATEHOUSE_MASTER_KEY=" SECOND_MASTER_KEY, NULL};
    struct h_server second;
    if (h_server_start(&second, env) == 0) {
        h_server_stop(&second);
        h_server_free(&second);
        fail_msg("a second gatehouse started on 127.0.0.1:%d, already served by the first",
                 first.port);
    }
    /* It exited by itself at start-up, non-zero. */
    assert_true(second.stopped);
    assert_true(WIFEXITED(second.exit_status));
    assert_int_not_equal(WEXITSTATUS(second.exit_status), 0);
    char *log = h_read_file(second.log_path, NULL);
    assert_non_null(log);
    char addr[64];
    snprintf(addr, sizeof addr, "\"address\":\"127.0.0.1:%d\"", first.port);
    assert_non_null(strstr(log, addr));
    assert_non_null(strstr(log, "address already in use"));
    assert_non_null(strstr(log, "\"event\":\"listen_failed\""));
    assert_non_null(strstr(log, "cannot listen on GATEHOUSE_LISTEN"));
    assert_null(strstr(log, SECOND_MASTER_KEY));
    free(log);
    h_server_free(&second);

    /* The first one still answers every new connection itself (with SO_REUSEPORT the kernel
     * would have spread them over both). */
    assert_int_equal(kill(first.pid, 0), 0);
    for (int i = 0; i < 20; i++) {
        char id[128];
        assert_int_equal(healthz_once(&first, id, sizeof id), 200);
        assert_true(id[0] != '\0');
        if (!logged_by(&first, id))
            fail_msg("request %s was not answered by the first server", id);
    }
}

static void test_restart_on_same_port_binds_over_time_wait(void **state)
{
    (void)state;
    struct h_server s;
    char id[128];
    assert_int_equal(h_server_start(&s, NULL), 0);
    int port = s.port;
    char listen_env[64];
    snprintf(listen_env, sizeof listen_env, "GATEHOUSE_LISTEN=127.0.0.1:%d", port);
    const char *env[] = {listen_env, NULL};
    /* Connections the server closed itself leave TIME_WAIT on its side of the port: exactly
     * what a bind without SO_REUSEADDR trips over. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(healthz_once(&s, id, sizeof id), 200);
    assert_true(time_wait_on(port) > 0);
    assert_int_equal(h_server_restart_with(&s, env), 0);
    assert_int_equal(s.port, port);
    for (int i = 0; i < 5; i++)
        assert_int_equal(healthz_once(&s, id, sizeof id), 200);
    assert_true(time_wait_on(port) > 0);
    assert_int_equal(h_server_kill9_restart(&s), 0);
    assert_int_equal(s.port, port);
    assert_int_equal(healthz_once(&s, id, sizeof id), 200);
    assert_int_equal(h_server_stop(&s), 0);
    h_server_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_server_on_same_address_refused),
        cmocka_unit_test(test_restart_on_same_port_binds_over_time_wait),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
