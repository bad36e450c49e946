/* Integration: native TLS certificate reload. SIGHUP makes new connections get the certificate
 * now in the files, without a restart and without dropping service; a reload whose files are
 * broken (garbage, a key that does not belong to the certificate, a missing file) keeps the
 * certificate in use and says so in the log. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char dir[] = "/tmp/gh-tlsr-XXXXXX";

static void make_cert(const char *name, const char *cn)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
             "%s/%s.key -out %s/%s.crt -days 2 -subj /CN=%s >/dev/null 2>&1",
             dir, name, dir, name, cn);
    assert_int_equal(system(cmd), 0);
}

static void install(const char *cert_from, const char *key_from)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cp %s/%s %s/live.crt && cp %s/%s %s/live.key", dir, cert_from, dir,
             dir, key_from, dir);
    assert_int_equal(system(cmd), 0);
}

/* The subject CN of the certificate a new connection gets ("" on failure). */
static void served_cn(int port, char *out, size_t size)
{
    char cmd[600], path[128];
    snprintf(path, sizeof path, "%s/subject.txt", dir);
    snprintf(cmd, sizeof cmd,
             "openssl s_client -connect 127.0.0.1:%d </dev/null 2>/dev/null | openssl x509 "
             "-noout -subject > %s 2>/dev/null",
             port, path);
    out[0] = '\0';
    if (system(cmd) != 0)
        return;
    char *s = h_read_file(path, NULL);
    const char *cn = s ? strstr(s, "CN") : NULL;
    if (cn) {
        cn += strspn(cn + 2, " =") + 2;
        snprintf(out, size, "%.*s", (int)strcspn(cn, "\n"), cn);
    }
    free(s);
}

static int count_in_log(const struct h_server *s, const char *needle)
{
    char *log = h_read_file(s->log_path, NULL);
    int n = 0;
    for (const char *p = log; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(log);
    return n;
}

/* Send SIGHUP and wait until the log shows one more tls_reload outcome. */
static void hup_and_wait(struct h_server *s, const char *outcome)
{
    char needle[96];
    snprintf(needle, sizeof needle, "\"outcome\":\"%s\"", outcome);
    int before = count_in_log(s, needle);
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    for (int i = 0; i < 100 && count_in_log(s, needle) == before; i++)
        h_sleep_ms(50);
    assert_int_equal(count_in_log(s, needle), before + 1);
}

static void test_sighup_reloads_certificate(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    make_cert("a", "first.test");
    make_cert("b", "second.test");
    install("a.crt", "a.key");
    char cert_env[128], key_env[128];
    snprintf(cert_env, sizeof cert_env, "GATEHOUSE_TLS_CERT_PATH=%s/live.crt", dir);
    snprintf(key_env, sizeof key_env, "GATEHOUSE_TLS_KEY_PATH=%s/live.key", dir);
    const char *env[] = {cert_env, key_env, NULL};
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, env), 0);
    char cn[128];
    served_cn(srv.port, cn, sizeof cn);
    assert_string_equal(cn, "first.test");

    /* A keep-alive client is served throughout; new connections get the new certificate. */
    install("b.crt", "b.key");
    hup_and_wait(&srv, "reloaded");
    served_cn(srv.port, cn, sizeof cn);
    assert_string_equal(cn, "second.test");
    struct h_response r;
    assert_int_equal(h_get(&srv, "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);

    /* Broken reloads keep the certificate in use. A key from another certificate: */
    install("a.crt", "b.key");
    hup_and_wait(&srv, "kept_previous");
    served_cn(srv.port, cn, sizeof cn);
    assert_string_equal(cn, "second.test");
    /* garbage */
    char p[128];
    snprintf(p, sizeof p, "%s/live.crt", dir);
    assert_int_equal(h_write_file(p, "-----BEGIN CERTIFICATE-----\nnot base64 !!\n"
                                     "-----END CERTIFICATE-----\n"),
                     0);
    hup_and_wait(&srv, "kept_previous");
    /* a missing file */
    assert_int_equal(unlink(p), 0);
    hup_and_wait(&srv, "kept_previous");
    served_cn(srv.port, cn, sizeof cn);
    assert_string_equal(cn, "second.test");
    assert_int_equal(h_get(&srv, "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);
    /* And back to a good pair. */
    install("a.crt", "a.key");
    hup_and_wait(&srv, "reloaded");
    served_cn(srv.port, cn, sizeof cn);
    assert_string_equal(cn, "first.test");
    /* The key never reaches the log. */
    char kp[128];
    snprintf(kp, sizeof kp, "%s/a.key", dir);
    char *keypem = h_read_file(kp, NULL);
    assert_non_null(keypem);
    char *log = h_read_file(srv.log_path, NULL);
    const char *body = strchr(keypem, '\n');
    assert_non_null(body);
    char line[40];
    snprintf(line, sizeof line, "%.32s", body + 1);
    assert_null(strstr(log, line));
    free(log);
    free(keypem);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_sighup_without_tls_is_harmless(void **state)
{
    (void)state;
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, NULL), 0);
    hup_and_wait(&srv, "no_tls");
    struct h_response r;
    assert_int_equal(h_get(&srv, "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sighup_reloads_certificate),
        cmocka_unit_test(test_sighup_without_tls_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
