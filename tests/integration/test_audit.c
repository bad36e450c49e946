/* Integration: the `gatehouse audit` commands on a real data directory. Events are appended by
 * this test process through the library (the same master key and database as the running
 * server, as a second instance would), then the CLI verifies, exports (checked here the way an
 * external verifier would: from the export and the public key alone), prunes, and catches a
 * row changed with the sqlite3 CLI (on PostgreSQL, GH_TEST_BACKEND=pg: as its superuser). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/enc.h"
#include "data/audit.h"
#include "data/keywrap.h"
#include "harness.h"
#include "store/store.h"

#define TS_2020 1577836800LL /* 2020-01-01 */
#define TS_2021 1622505600LL /* 2021-06-01 */

static struct h_server srv;
static char pub_path[400];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    return h_server_start(&srv, NULL);
}

static int teardown(void **state)
{
    (void)state;
    int code = h_server_stop(&srv);
    h_server_free(&srv);
    return code == 0 ? 0 : -1;
}

static struct h_cli_result run(const char *a1, const char *a2, const char *a3)
{
    const char *args[] = {"audit", a1, a2, a3, NULL};
    struct h_cli_result c;
    assert_int_equal(h_cli(&srv, args, &c), 0);
    return c;
}

/* 60 events in January 2020, 60 in June 2021, appended as the service would. */
static void append_events(void)
{
    char path[400], url[sizeof srv.pg_url];
    unsigned char master[64];
    size_t n = 0;
    snprintf(path, sizeof path, "%s/master.key", srv.dir);
    char *text = h_read_file(path, NULL);
    assert_non_null(text);
    text[strcspn(text, "\r\n")] = '\0';
    assert_int_equal(gh_b64_decode(text, strlen(text), master, sizeof master, &n), GH_OK);
    free(text);
    assert_int_equal(n, 32);
    struct gh_keywrap *kw = NULL;
    struct gh_store *s = NULL;
    struct gh_audit *a = NULL;
    if (h_backend_is_pg())
        snprintf(url, sizeof url, "%s", srv.pg_url);
    else
        snprintf(url, sizeof url, "sqlite:%s/gatehouse.db", srv.dir);
    assert_int_equal(gh_keywrap_new(master, NULL, &kw), GH_OK);
    assert_int_equal(gh_store_open(url, &s), GH_OK);
    assert_int_equal(gh_store_migrate(s, NULL), GH_OK);
    assert_int_equal(gh_audit_new(s, kw, NULL, TS_2021, &a), GH_OK);
    for (int64_t i = 1; i <= 120; i++) {
        struct gh_audit_event ev = {
            .ts = i <= 60 ? TS_2020 + i * 3600 : TS_2021 + i * 60,
            .action = i % 2 ? "register" : "login_success",
            .actor = i % 2 ? "" : "AAAAAAAAAAAAAAAAAAAAAA",
            .target = "AAAAAAAAAAAAAAAAAAAAAA",
            .outcome = "success",
            .request_id = "cmVxdWVzdC1pZC0wMDAwMA",
            .client = i % 3 ? "192.0.2.0/24" : "2001:db8:1::/48",
        };
        assert_int_equal(gh_audit_append(a, &ev), GH_OK);
    }
    assert_int_equal(gh_audit_close(a), GH_OK); /* checkpoints: 100 (count), 120 (close) */
    gh_store_free(s);
    gh_keywrap_free(kw);
}

static void expect_ok(struct h_cli_result *c, const char *what)
{
    if (c->exit_code != 0)
        fail_msg("%s: exit %d\n%s\n%s", what, c->exit_code, c->out, c->err);
}

/* Check an export from its text and the public key alone (docs/audit.md). */
static void external_verify(const char *export_text, const unsigned char pk[32],
                            int64_t *out_events, int64_t *out_checkpoints)
{
    unsigned char prev[32] = {0}, h[32], sig[64], msg[GH_AUDIT_SIGNED_LEN];
    int64_t next = 1, events = 0, cps = 0;
    json_t *seen = json_object(); /* seq → hash hex */
    const char *line = export_text;
    for (int ln = 0; *line; ln++) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        json_error_t err;
        json_t *o = json_loadb(line, (size_t)(end - line), 0, &err);
        assert_non_null(o);
        if (ln == 0) {
            assert_string_equal(json_string_value(json_object_get(o, "format")),
                                "gatehouse-audit-v1");
            json_t *an = json_object_get(o, "anchor");
            if (json_is_object(an)) {
                next = json_integer_value(json_object_get(an, "seq")) + 1;
                assert_int_equal(sodium_hex2bin(prev, 32,
                                                json_string_value(json_object_get(an, "hash")), 64,
                                                NULL, NULL, NULL),
                                 0);
            }
        } else if (json_object_get(o, "checkpoint")) {
            json_t *cp = json_object_get(o, "checkpoint");
            int64_t seq = json_integer_value(json_object_get(cp, "seq"));
            const char *hx = json_string_value(json_object_get(cp, "hash"));
            const char *sg = json_string_value(json_object_get(cp, "sig"));
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)seq);
            json_t *at = json_object_get(seen, key);
            assert_non_null(at);
            assert_string_equal(json_string_value(at), hx);
            size_t n = 0;
            assert_int_equal(gh_b64url_decode(sg, strlen(sg), sig, 64, &n), GH_OK);
            assert_int_equal(sodium_hex2bin(h, 32, hx, 64, NULL, NULL, NULL), 0);
            gh_audit_signed_message(seq, h, msg);
            assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);
            cps++;
        } else {
            /* The canonical form: the 8 event members, sorted keys, compact. */
            json_t *ev = json_deep_copy(o);
            json_object_del(ev, "prev_hash");
            json_object_del(ev, "hash");
            assert_int_equal(json_object_size(ev), 8);
            char *canon = json_dumps(ev, JSON_SORT_KEYS | JSON_COMPACT);
            assert_int_equal(json_integer_value(json_object_get(o, "seq")), next);
            char hex[65];
            sodium_bin2hex(hex, sizeof hex, prev, 32);
            assert_string_equal(json_string_value(json_object_get(o, "prev_hash")), hex);
            crypto_generichash_state st;
            crypto_generichash_init(&st, NULL, 0, 32);
            crypto_generichash_update(&st, prev, 32);
            crypto_generichash_update(&st, (const unsigned char *)canon, strlen(canon));
            crypto_generichash_final(&st, h, 32);
            sodium_bin2hex(hex, sizeof hex, h, 32);
            assert_string_equal(json_string_value(json_object_get(o, "hash")), hex);
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)next);
            json_object_set_new(seen, key, json_string(hex));
            memcpy(prev, h, 32);
            next++;
            events++;
            free(canon);
            json_decref(ev);
            /* Nothing personal: no email-like value anywhere. */
            assert_null(memchr(line, '@', (size_t)(end - line)));
        }
        json_decref(o);
        line = end + 1;
    }
    json_decref(seen);
    *out_events = events;
    *out_checkpoints = cps;
}

static void test_audit_cli(void **state)
{
    (void)state;
    struct h_cli_result c;
    append_events();

    c = run("verify", NULL, NULL);
    expect_ok(&c, "audit verify");
    assert_non_null(strstr(c.out, "120 events"));
    h_cli_free(&c);

    /* The public key, kept off-box by the operator. */
    c = run("export", "--pubkey", NULL);
    expect_ok(&c, "audit export --pubkey");
    unsigned char pk[32];
    size_t n = 0;
    char pk_text[64];
    snprintf(pk_text, sizeof pk_text, "%s", c.out);
    pk_text[strcspn(pk_text, "\n")] = '\0';
    assert_int_equal(strlen(pk_text), GH_AUDIT_PUBKEY_TEXT);
    assert_int_equal(gh_b64url_decode(pk_text, strlen(pk_text), pk, 32, &n), GH_OK);
    h_cli_free(&c);
    snprintf(pub_path, sizeof pub_path, "%s/audit.pub", srv.dir);
    char line[80];
    snprintf(line, sizeof line, "%s\n", pk_text);
    assert_int_equal(h_write_file(pub_path, line), 0);

    c = run("export", NULL, NULL);
    expect_ok(&c, "audit export");
    json_t *hdr = json_loadb(c.out, strcspn(c.out, "\n"), 0, NULL);
    assert_non_null(hdr);
    assert_string_equal(json_string_value(json_object_get(hdr, "public_key")), pk_text);
    assert_true(json_is_null(json_object_get(hdr, "anchor")));
    json_decref(hdr);
    int64_t events = 0, cps = 0;
    external_verify(c.out, pk, &events, &cps);
    assert_int_equal(events, 120);
    assert_int_equal(cps, 2);
    h_cli_free(&c);

    c = run("verify", "--pubkey", pub_path);
    expect_ok(&c, "audit verify --pubkey");
    h_cli_free(&c);

    /* Someone else's key: the genuine checkpoints do not verify under it. */
    unsigned char opk[32], osk[64];
    char other[400], otext[64];
    crypto_sign_keypair(opk, osk);
    gh_b64url_encode(opk, 32, otext, sizeof otext);
    snprintf(other, sizeof other, "%s/other.pub", srv.dir);
    assert_int_equal(h_write_file(other, otext), 0);
    c = run("verify", "--pubkey", other);
    assert_int_equal(c.exit_code, 1);
    assert_non_null(strstr(c.err, "checkpoint at seq 100 does not verify"));
    h_cli_free(&c);
    assert_int_equal(h_write_file(other, "not a key"), 0);
    c = run("verify", "--pubkey", other);
    assert_int_not_equal(c.exit_code, 0);
    h_cli_free(&c);

    /* Prune 2020: the 60 older events go, the rest still verifies from the signed anchor. */
    c = run("prune", "--before", "2021-13-01");
    assert_int_not_equal(c.exit_code, 0);
    h_cli_free(&c);
    c = run("prune", "--before", "2021-01-01");
    expect_ok(&c, "audit prune");
    assert_non_null(strstr(c.out, "pruned 60 "));
    h_cli_free(&c);
    c = run("verify", "--pubkey", pub_path);
    expect_ok(&c, "audit verify after prune");
    assert_non_null(strstr(c.out, "anchor at seq 60"));
    h_cli_free(&c);
    c = run("export", NULL, NULL);
    expect_ok(&c, "audit export after prune");
    external_verify(c.out, pk, &events, &cps);
    assert_int_equal(events, 60);
    assert_int_equal(cps, 2);
    h_cli_free(&c);

    /* Tamper behind the service's back with the sqlite3 CLI (PostgreSQL: as its superuser). */
    if (h_backend_is_pg()) {
        /* the trigger refuses even the superuser */
        assert_int_not_equal(
            h_pg_query(&srv, "UPDATE audit_events SET actor = 'operator' WHERE seq = 77", NULL), 0);
        assert_int_equal(h_pg_query(&srv,
                                    "DROP TRIGGER audit_events_append_only ON audit_events; "
                                    "UPDATE audit_events SET actor = 'operator' WHERE seq = 77",
                                    NULL),
                         0);
    } else {
        char cmd[1200];
        snprintf(cmd, sizeof cmd,
                 "sqlite3 '%s/gatehouse.db' \"UPDATE audit_events SET actor = 'operator' "
                 "WHERE seq = 77\" 2>/dev/null",
                 srv.dir);
        assert_int_not_equal(system(cmd), 0); /* the trigger refuses */
        snprintf(cmd, sizeof cmd,
                 "sqlite3 '%s/gatehouse.db' \"DROP TRIGGER audit_events_append_only; "
                 "UPDATE audit_events SET actor = 'operator' WHERE seq = 77\"",
                 srv.dir);
        assert_int_equal(system(cmd), 0);
    }
    c = run("verify", "--pubkey", pub_path);
    assert_int_equal(c.exit_code, 1);
    assert_non_null(strstr(c.err, "hash mismatch at seq 77"));
    h_cli_free(&c);
    c = run("verify", NULL, NULL);
    assert_int_equal(c.exit_code, 1);
    h_cli_free(&c);
    /* Pruning now would destroy the evidence: refused. */
    c = run("prune", "--before", "2030-01-01");
    assert_int_equal(c.exit_code, 1);
    assert_non_null(strstr(c.err, "seq 77"));
    h_cli_free(&c);

    c = run("bogus", NULL, NULL);
    assert_int_equal(c.exit_code, 2);
    h_cli_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
