/* Integration, from the attacker's side: per-address rate limits (429 + Retry-After + RateLimit
 * headers), X-Forwarded-For believed only from trusted proxies, a spray across 40 addresses that
 * locks one account (and the owner's device still gets in), password rules, and /metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <nettle/sha1.h>
#include <sodium.h>

#include "harness.h"

#define PW "abuse test passphrase gamma delta"

static long login_from(struct h_server *srv, const char *xff, const char *email, const char *pw,
                       const char *device, struct h_response *out)
{
    char hdr[128];
    const char *headers[2] = {NULL, NULL};
    if (xff) {
        snprintf(hdr, sizeof hdr, "X-Forwarded-For: %s", xff);
        headers[0] = hdr;
    }
    json_t *b = json_pack("{s:s,s:s}", "email", email, "password", pw);
    if (device)
        json_object_set_new(b, "device_token", json_string(device));
    char *text = json_dumps(b, 0);
    json_decref(b);
    int rc = h_request(srv, "POST", "/v1/token", headers, text, strlen(text), "application/json",
                       out);
    free(text);
    assert_int_equal(rc, 0);
    return out->status;
}

static void test_login_flood_from_one_address_is_429(void **state)
{
    (void)state;
    struct h_server srv;
    /* 1 per minute after the burst: the run never lasts long enough to earn another. */
    const char *env[] = {"GATEHOUSE_RATELIMIT_LOGIN_PER_MIN=1",
                         "GATEHOUSE_RATELIMIT_LOGIN_BURST=30", NULL};
    assert_int_equal(h_server_start(&srv, env), 0);
    int ok = 0, limited = 0;
    for (int i = 0; i < 60; i++) {
        struct h_response r;
        /* A client-supplied X-Forwarded-For from an untrusted peer changes nothing. */
        char xff[32];
        snprintf(xff, sizeof xff, "10.9.%d.%d", i / 200, i % 200);
        long st = login_from(&srv, xff, "flood@example.com", "wrong password here", NULL, &r);
        if (st == 429) {
            limited++;
            h_assert_problem(&srv, &r, 429);
            const char *ra = h_header(&r, "Retry-After");
            assert_non_null(ra);
            assert_true(strtol(ra, NULL, 10) >= 1);
            assert_non_null(h_header(&r, "RateLimit"));
            const char *pol = h_header(&r, "RateLimit-Policy");
            assert_non_null(pol);
            assert_non_null(strstr(pol, "\"login\""));
        } else {
            assert_int_equal(st, 401);
            ok++;
        }
        h_response_free(&r);
    }
    assert_int_equal(ok, 30); /* the burst, then refused */
    assert_int_equal(limited, 30);
    /* Other route classes have their own budget: /healthz and JWKS are not limited at all. */
    struct h_response r;
    assert_int_equal(h_get(&srv, "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
}

/* One request on an open keep-alive connection: GET /v1/me without a token, with the given
 * X-Forwarded-For; returns the status (401 when let through, 429 when limited). */
static long keepalive_get(int fd, const char *xff)
{
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: %s\r\n\r\n", xff);
    assert_int_equal(write(fd, req, (size_t)n), n);
    char buf[8192];
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        assert_true(r > 0); /* the server kept the connection open */
        got += (size_t)r;
        buf[got] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    assert_non_null(cl);
    size_t want = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
    while (got < want) { /* the body, so the next answer starts clean */
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_int_equal(got, want);
    long status = 0;
    assert_int_equal(sscanf(buf, "HTTP/1.1 %ld", &status), 1);
    return status;
}

static int keepalive_connect(const struct h_server *srv)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* The client address is worked out once per connection only when no header can change it.
 * Through a trusted proxy, each request on one keep-alive connection is its own client (a
 * limited address does not limit the next one); from an untrusted peer, changing
 * X-Forwarded-For mid-connection escapes nothing. */
static void test_keepalive_client_address(void **state)
{
    (void)state;
    const char *limits[] = {"GATEHOUSE_RATELIMIT_API_PER_MIN=1", "GATEHOUSE_RATELIMIT_API_BURST=3",
                            NULL, NULL};
    for (int trusted = 0; trusted < 2; trusted++) {
        struct h_server srv;
        limits[2] = trusted ? "GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32" : NULL;
        assert_int_equal(h_server_start(&srv, limits), 0);
        int fd = keepalive_connect(&srv);
        long st = 0;
        int sent = 0;
        while (sent < 20 && (st = keepalive_get(fd, "10.7.0.1")) != 429)
            sent++;
        assert_int_equal(st, 429);
        assert_true(sent >= 3); /* the burst was let through first */
        /* the same connection, another forwarded address */
        assert_int_equal(keepalive_get(fd, "10.7.0.2"), trusted ? 401 : 429);
        assert_int_equal(keepalive_get(fd, "10.7.0.1"), 429);
        if (trusted)
            assert_int_equal(keepalive_get(fd, "10.7.0.3"), 401);
        close(fd);
        h_server_free(&srv);
    }
}

static void test_spray_across_40_addresses_locks_account_not_owner(void **state)
{
    (void)state;
    struct h_server srv;
    /* 127.0.0.1 is our "proxy": its X-Forwarded-For is believed. Per-address login limits are
     * low, yet a spray from 40 addresses never hits them — the account lock is what stops it. */
    const char *env[] = {"GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32",
                         "GATEHOUSE_RATELIMIT_LOGIN_PER_MIN=2", "GATEHOUSE_RATELIMIT_LOGIN_BURST=2",
                         NULL};
    assert_int_equal(h_server_start(&srv, env), 0);
    char email[128], device[512] = "";
    h_unique_email("sprayed", email, sizeof email);
    assert_int_equal(h_register(&srv, email, PW, NULL, NULL), 201);
    struct h_response r;
    /* The owner signs in once from home (their own address). */
    assert_int_equal(login_from(&srv, "198.51.100.7", email, PW, NULL, &r), 200);
    snprintf(device, sizeof device, "%s",
             json_string_value(json_object_get(r.json, "device_token")));
    h_response_free(&r);
    assert_true(strlen(device) > 10);

    char *wrong = NULL, *locked = NULL;
    for (int i = 0; i < 40; i++) {
        char xff[64];
        snprintf(xff, sizeof xff, "203.0.113.%d", i + 1);
        long st = login_from(&srv, xff, email, "spray password 2024", NULL, &r);
        assert_int_equal(st, 401); /* never 429: each address sent one */
        if (i == 0) {
            json_object_del(r.json, "request_id");
            wrong = json_dumps(r.json, JSON_SORT_KEYS);
        }
        h_response_free(&r);
    }
    /* Locked now: the right password from a new address gets the wrong-password answer. */
    assert_int_equal(login_from(&srv, "203.0.113.200", email, PW, NULL, &r), 401);
    json_object_del(r.json, "request_id");
    locked = json_dumps(r.json, JSON_SORT_KEYS);
    assert_string_equal(locked, wrong);
    h_response_free(&r);
    /* The owner's device, from home, still gets in. */
    assert_int_equal(login_from(&srv, "198.51.100.7", email, PW, device, &r), 200);
    h_response_free(&r);
    free(wrong);
    free(locked);

    /* The client address in the log is the forwarded one, truncated to /24. */
    char *log = h_read_file(srv.log_path, NULL);
    assert_non_null(strstr(log, "\"client\":\"203.0.113.0/24\""));
    assert_non_null(strstr(log, "\"event\":\"account_locked\""));
    free(log);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
}

static void sha1_hex(const char *pw, char out[41])
{
    struct sha1_ctx c;
    uint8_t d[SHA1_DIGEST_SIZE];
    sha1_init(&c);
    sha1_update(&c, strlen(pw), (const uint8_t *)pw);
    sha1_digest(&c, sizeof d, d);
    sodium_bin2hex(out, 41, d, sizeof d);
    for (int i = 0; i < 40; i++)
        if (out[i] >= 'a' && out[i] <= 'f')
            out[i] = (char)(out[i] - 'a' + 'A');
}

static void expect_rule(struct h_server *srv, const char *email, const char *pw,
                        const char *display, const char *rule)
{
    json_t *b = json_pack("{s:s,s:s}", "email", email, "password", pw);
    if (display)
        json_object_set_new(b, "display_name", json_string(display));
    struct h_response r;
    assert_int_equal(h_post_json(srv, "/v1/users", NULL, b, &r), 0);
    h_assert_problem(srv, &r, 422);
    json_t *e = json_array_get(json_object_get(r.json, "errors"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "field")), "password");
    assert_string_equal(json_string_value(json_object_get(e, "rule")), rule);
    const char *msg = json_string_value(json_object_get(e, "message"));
    assert_non_null(msg);
    assert_true(strlen(msg) > 20);
    assert_null(strstr(r.body, pw)); /* never echoed */
    h_response_free(&r);
}

static void test_password_rules(void **state)
{
    (void)state;
    /* A small breached-passwords file in the public format (sorted SHA1:COUNT, CRLF). */
    char dir[] = "/tmp/gh-breach-XXXXXX", path[128], line[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/pwned.txt", dir);
    const char *breached = "Tr0ub4dor&3 horses galloping";
    char hashes[3][41];
    sha1_hex(breached, hashes[0]);
    snprintf(hashes[1], 41, "0000000000000000000000000000000000000001");
    snprintf(hashes[2], 41, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF");
    qsort(hashes, 3, 41, (int (*)(const void *, const void *))strcmp);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 3; i++) {
        snprintf(line, sizeof line, "%s:%d\r\n", hashes[i], 17 + i);
        fputs(line, f);
    }
    fclose(f);
    char env_path[200];
    snprintf(env_path, sizeof env_path, "GATEHOUSE_BREACHED_PASSWORDS_PATH=%s", path);
    const char *env[] = {env_path, NULL};
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, env), 0);

    expect_rule(&srv, "rules1@example.com", "short pw", NULL, "too_short");
    expect_rule(&srv, "rules2@example.com", "qwerty123456", NULL, "common");
    expect_rule(&srv, "rules3@example.com", breached, NULL, "breached");
    expect_rule(&srv, "alice.smith@example.com", "alice.smith2024!", "Alice Smith",
                "too_guessable");
    /* A long random passphrase is fine, and Unicode is normalised (NFKC): a full-width form
     * signs in as its ASCII form. */
    assert_int_equal(h_register(&srv, "rules5@example.com",
                                "\xef\xbd\x8f\xef\xbd\x92\xef\xbd\x82\xef\xbd\x89\xef\xbd\x94 "
                                "lantern velvet quarry 42",
                                NULL, NULL),
                     201);
    assert_int_equal(h_login(&srv, "rules5@example.com", "orbit lantern velvet quarry 42", NULL),
                     200);
    assert_int_equal(h_login(&srv, "rules5@example.com", "orbit lantern velvet quarry 43", NULL),
                     401);
    /* The same rules apply to a password change. */
    struct h_tokens t;
    assert_int_equal(h_login(&srv, "rules5@example.com", "orbit lantern velvet quarry 42", &t),
                     200);
    struct h_response r;
    assert_int_equal(h_send_json(&srv, "PUT", "/v1/me/password", t.access,
                                 json_pack("{s:s,s:s}", "current_password",
                                           "orbit lantern velvet quarry 42", "new_password",
                                           "qwerty123456"),
                                 &r),
                     0);
    h_assert_problem(&srv, &r, 422);
    h_response_free(&r);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
    unlink(path);
    rmdir(dir);
}

static int metrics_port(const struct h_server *srv)
{
    for (int i = 0; i < 100; i++) {
        char *log = h_read_file(srv->log_path, NULL);
        const char *p = log ? strstr(log, "\"event\":\"metrics_listening\"") : NULL;
        int port = -1;
        if (p) {
            const char *q = strstr(p, "\"port\":");
            if (q)
                port = (int)strtol(q + 7, NULL, 10);
        }
        free(log);
        if (port > 0)
            return port;
        h_sleep_ms(50);
    }
    return -1;
}

static void test_metrics_listener(void **state)
{
    (void)state;
    struct h_server srv;
    const char *env[] = {"GATEHOUSE_METRICS_LISTEN=127.0.0.1:0", NULL};
    assert_int_equal(h_server_start(&srv, env), 0);
    int mport = metrics_port(&srv);
    assert_true(mport > 0);
    char email[128];
    struct h_tokens t;
    h_user_session(&srv, "metrics", PW, email, sizeof email, &t);
    assert_int_equal(h_login(&srv, email, "not the password at all", NULL), 401);
    assert_int_equal(h_me_status(&srv, t.access), 200);
    /* The public listener has no /metrics. */
    struct h_response r;
    assert_int_equal(h_get(&srv, "/metrics", NULL, &r), 0);
    assert_int_equal(r.status, 404);
    h_response_free(&r);
    /* The metrics listener answers Prometheus text. */
    struct h_server m = srv;
    m.port = mport;
    m.tls = false;
    assert_int_equal(h_get(&m, "/metrics", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(h_header(&r, "Content-Type"), "text/plain; version=0.0.4"));
    const char *want[] = {
        "gatehouse_http_requests_total{route=\"POST /v1/token\",status=\"401\"} 1",
        "gatehouse_http_requests_total{route=\"POST /v1/users\",status=\"201\"} 1",
        "gatehouse_logins_total{result=\"success\"} 1",
        "gatehouse_logins_total{result=\"failure\"} 1",
        "gatehouse_registrations_total 1",
        "gatehouse_refresh_reuse_total 0",
        "gatehouse_hash_queue_depth 0",
        "gatehouse_http_request_duration_seconds_bucket{route=\"GET /v1/me\",le=\"+Inf\"} 1",
        "# TYPE gatehouse_hash_wait_seconds histogram",
        "gatehouse_rate_limited_total{rule=\"login\"} 0",
        "gatehouse_audit_pending 0",
        "gatehouse_audit_append_failures_total 0",
        "gatehouse_audit_events_lost_total 0",
        NULL};
    /* Redis metrics only exist with Redis. */
    assert_null(strstr(r.body, "gatehouse_redis_up"));
    for (int i = 0; want[i]; i++)
        if (!strstr(r.body, want[i]))
            fail_msg("metrics lack '%s':\n%s", want[i], r.body);
    /* No user data in metrics. */
    assert_null(strstr(r.body, email));
    h_response_free(&r);
    assert_int_equal(h_get(&m, "/v1/me", NULL, &r), 0);
    assert_int_equal(r.status, 404);
    h_response_free(&r);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_flood_from_one_address_is_429),
        cmocka_unit_test(test_keepalive_client_address),
        cmocka_unit_test(test_spray_across_40_addresses_locks_account_not_owner),
        cmocka_unit_test(test_password_rules),
        cmocka_unit_test(test_metrics_listener),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
