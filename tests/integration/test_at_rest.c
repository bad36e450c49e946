/* Integration: nothing in the database file, its WAL or its shared memory holds a plaintext
 * email, display name, password or token — for data written now, and for data written by the
 * previous release in plaintext, which start-up encrypts (and then truncates the WAL). On
 * PostgreSQL (GH_TEST_BACKEND=pg) the same is asserted of every row of every table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"

#define PW "marker passphrase quantum lattice"

static void test_new_data_is_sealed(void **state)
{
    (void)state;
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, NULL), 0);
    const char *email = "zz-marker-email-4711@example.com";
    assert_int_equal(h_register(&srv, email, PW, "ZZMarkerName", NULL), 201);
    struct h_tokens t, t2;
    assert_int_equal(h_login(&srv, email, PW, &t), 200);
    assert_int_equal(h_refresh(&srv, t.refresh, &t2), 200);
    struct h_response r;
    assert_int_equal(h_get(&srv, "/v1/me", t2.access, &r), 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "email")), email);
    assert_string_equal(json_string_value(json_object_get(r.json, "display_name")),
                        "ZZMarkerName");
    h_response_free(&r);
    /* Checked while the server runs (WAL not yet checkpointed) and after it stopped. */
    for (int pass = 0; pass < 2; pass++) {
        assert_false(h_db_contains(&srv, "zz-marker-email"));
        assert_false(h_db_contains(&srv, "ZZ-MARKER-EMAIL"));
        assert_false(h_db_contains(&srv, "ZZMarkerName"));
        assert_false(h_db_contains(&srv, PW));
        assert_false(h_db_contains(&srv, t.refresh));
        assert_false(h_db_contains(&srv, t2.refresh));
        assert_false(h_db_contains(&srv, t2.access));
        if (pass == 0)
            assert_int_equal(h_server_stop(&srv), 0);
    }
    h_server_free(&srv);
}

/* The previous release's layout: migrations 0001-0003 and plaintext rows. */
static char legacy_hash[crypto_pwhash_STRBYTES];

static void run_sql(const struct h_server *srv, const char *sql)
{
    if (h_backend_is_pg()) {
        assert_int_equal(h_pg_query(srv, sql, NULL), 0);
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/prep.sql", srv->dir);
    assert_int_equal(h_write_file(path, sql), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "sqlite3 %s/gatehouse.db < %s", srv->dir, path);
    assert_int_equal(system(cmd), 0);
}

/* On PostgreSQL no release ever wrote plaintext rows (the backend came with 0004), but the
 * start-up sealing and the upgrade from schema 3 are the same code paths: proved the same way. */
static void prepare_legacy(const struct h_server *srv)
{
    const char *src = getenv("GH_SOURCE_DIR");
    assert_non_null(src);
    bool pg = h_backend_is_pg();
    char *sql = NULL;
    const char *files[] = {"0001_init.sql", "0002_login_throttle.sql", "0003_audit.sql", NULL};
    run_sql(srv, pg ? "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT "
                      "NULL, applied_at BIGINT NOT NULL);"
                    : "PRAGMA journal_mode=WAL; CREATE TABLE schema_migrations (version BIGINT "
                      "PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);");
    for (int i = 0; files[i]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/src/store/%s/%s", src, pg ? "migrations_pg" : "migrations",
                 files[i]);
        sql = h_read_file(path, NULL);
        if (!sql)
            continue; /* a migration that does not exist in this tree */
        run_sql(srv, sql);
        free(sql);
        char rec[200];
        snprintf(rec, sizeof rec,
                 "INSERT INTO schema_migrations VALUES (%d, '%.*s', 0);", i + 1, 4, files[i]);
        run_sql(srv, rec);
    }
    char ins[2048];
    snprintf(ins, sizeof ins,
             "INSERT INTO users(id, email, email_key, display_name, password_hash, created_at, "
             "updated_at) VALUES ('LegacyUserAAAAAAAAAAAA', 'Legacy-Marker@Example.com', "
             "'legacy-marker@example.com', 'LegacyMarkerName', '%s', 1, 1);"
             "INSERT INTO users(id, email, email_key, password_hash, created_at, updated_at) "
             "VALUES ('LegacyUserBBBBBBBBBBBA', 'other-legacy@example.com', "
             "'other-legacy@example.com', '%s', 1, 1);",
             legacy_hash, legacy_hash);
    run_sql(srv, ins);
    assert_true(h_db_contains(srv, "legacy-marker@example.com"));
}

static void test_legacy_plaintext_is_encrypted_at_start(void **state)
{
    (void)state;
    assert_int_equal(crypto_pwhash_str_alg(legacy_hash, PW, strlen(PW), 1, 8192,
                                           crypto_pwhash_ALG_ARGON2ID13),
                     0);
    struct h_server srv;
    assert_int_equal(h_server_start_prepared(&srv, NULL, prepare_legacy), 0);
    /* Found by the blind index of the same email, any case; profile decrypted. */
    struct h_tokens t;
    assert_int_equal(h_login(&srv, "LEGACY-MARKER@example.com", PW, &t), 200);
    struct h_response r;
    assert_int_equal(h_get(&srv, "/v1/me", t.access, &r), 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "email")),
                        "Legacy-Marker@Example.com");
    assert_string_equal(json_string_value(json_object_get(r.json, "display_name")),
                        "LegacyMarkerName");
    h_response_free(&r);
    assert_int_equal(h_login(&srv, "other-legacy@example.com", PW, NULL), 200);
    /* The email is still unique: registering it again is a conflict. */
    assert_int_equal(h_register(&srv, "legacy-marker@EXAMPLE.com", PW, NULL, NULL), 409);
    assert_false(h_db_contains(&srv, "egacy-Marker"));
    assert_false(h_db_contains(&srv, "egacy-marker"));
    assert_false(h_db_contains(&srv, "LegacyMarkerName"));
    assert_false(h_db_contains(&srv, "other-legacy"));
    char *log = h_read_file(srv.log_path, NULL);
    assert_non_null(strstr(log, "\"event\":\"pii_legacy_sealed\""));
    free(log);
    assert_int_equal(h_server_stop(&srv), 0);
    assert_false(h_db_contains(&srv, "egacy-marker"));
    h_server_free(&srv);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_data_is_sealed),
        cmocka_unit_test(test_legacy_plaintext_is_encrypted_at_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
