/* Integration: findings of the attack suite (tests/attack), fixed. One TCP peer cannot hold more
 * than GATEHOUSE_MAX_CONNECTIONS_PER_IP connections (idle slowloris connections from one
 * address cannot starve everyone); a request path that is not UTF-8 still gets a complete,
 * valid request log line. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static int open_idle(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    /* One whole request answered (so the server has surely accepted the connection), then
     * the connection is kept open and idle: what a slowloris client holds. */
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    assert_true(n > 12);
    buf[n] = '\0';
    assert_non_null(strstr(buf, " 200 "));
    return fd;
}

static void test_per_ip_connection_cap(void **state)
{
    (void)state;
    const char *env[] = {"GATEHOUSE_MAX_CONNECTIONS_PER_IP=3", NULL};
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, env), 0);
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = open_idle(srv.port);
    /* The fourth connection from the same address is refused... */
    struct h_response r;
    memset(&r, 0, sizeof r);
    int rc = h_get(&srv, "/healthz", NULL, &r);
    assert_true(rc != 0 || r.status != 200);
    h_response_free(&r);
    /* ...until one of the idle ones goes (the server notices within moments). */
    close(fds[0]);
    long st = 0;
    for (int i = 0; i < 50 && st != 200; i++) {
        h_sleep_ms(100);
        memset(&r, 0, sizeof r);
        st = h_get(&srv, "/healthz", NULL, &r) == 0 ? r.status : 0;
        h_response_free(&r);
    }
    assert_int_equal(st, 200);
    close(fds[1]);
    close(fds[2]);
    char *log = h_read_file(srv.log_path, NULL);
    assert_non_null(strstr(log, "\"per_ip_connections\":3"));
    free(log);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
}

static void test_default_cap_and_proxy(void **state)
{
    (void)state;
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, NULL), 0);
    char *log = h_read_file(srv.log_path, NULL);
    assert_non_null(strstr(log, "\"per_ip_connections\":256"));
    free(log);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
    /* Behind a trusted proxy every client is the proxy's address: no per-peer cap. */
    const char *env[] = {"GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32", NULL};
    assert_int_equal(h_server_start(&srv, env), 0);
    log = h_read_file(srv.log_path, NULL);
    assert_non_null(strstr(log, "\"per_ip_connections\":0"));
    free(log);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
}

static void test_non_utf8_path_is_logged(void **state)
{
    (void)state;
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, NULL), 0);
    struct h_response r;
    assert_int_equal(h_get(&srv, "/v1/%ff%fe", NULL, &r), 0);
    h_assert_problem(&srv, &r, 404);
    char rid[64];
    snprintf(rid, sizeof rid, "%s", h_header(&r, "X-Request-Id"));
    h_response_free(&r);
    assert_int_equal(h_server_stop(&srv), 0);
    /* The request's log line is whole: method, a marker for the path, status, client. */
    char *log = h_read_file(srv.log_path, NULL);
    char *line = NULL;
    for (char *p = strtok_r(log, "\n", &line); p; p = strtok_r(NULL, "\n", &line)) {
        if (!strstr(p, rid) || !strstr(p, "\"http_request\""))
            continue;
        json_error_t e;
        json_t *o = json_loads(p, 0, &e);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "method")), "GET");
        assert_string_equal(json_string_value(json_object_get(o, "path")), "(not UTF-8)");
        assert_int_equal(json_integer_value(json_object_get(o, "status")), 404);
        assert_non_null(json_object_get(o, "client"));
        json_decref(o);
        free(log);
        h_server_free(&srv);
        return;
    }
    free(log);
    h_server_free(&srv);
    fail_msg("no http_request log line for the request");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_ip_connection_cap),
        cmocka_unit_test(test_default_cap_and_proxy),
        cmocka_unit_test(test_non_utf8_path_is_logged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
