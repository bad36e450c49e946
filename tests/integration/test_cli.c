/* Integration: operator CLI run beside a serving instance — users import (bcrypt and Django
 * hashes, all-or-nothing), help and usage errors. The import files live in the temp data dir;
 * stored hashes are read with the sqlite3 CLI (on PostgreSQL, GH_TEST_BACKEND=pg: over libpq). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static struct h_server srv;

/* Generated once with python3:
 *   crypt.crypt("import-bcrypt-pass-1", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=256))
 *   hashlib.pbkdf2_hmac("sha256", b"import-django-pass-2", b"Qm9yZGVyU2FsdDEy", 20000) */
#define BCRYPT_PW "import-bcrypt-pass-1"
#define BCRYPT_HASH "$2b$08$vhYeWYx1p/4Gy.jKrVKwMeQq.WTUybj8c1RSdyY5CbLj05LpRcKgW"
#define DJANGO_PW "import-django-pass-2"
#define DJANGO_HASH                                                                                \
    "pbkdf2_sha256$20000$Qm9yZGVyU2FsdDEy$eKctwR8s9MZ7MuWKTJg2F/aRooBKjkpoKpKeYN/SxLU="

static int setup(void **state)
{
    (void)state;
    return h_server_start(&srv, NULL);
}

static int teardown(void **state)
{
    (void)state;
    int code = h_server_stop(&srv);
    h_server_free(&srv);
    return code == 0 ? 0 : -1;
}

static void write_import(const char *name, const char *text, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", srv.dir, name);
    assert_int_equal(h_write_file(path, text), 0);
}

/* How many rows of users have this id and an argon2id hash of the NFKC form ("1\n" or "0\n"),
 * read with the sqlite3 CLI (PostgreSQL: over libpq). The caller frees it. */
static char *argon2_rows(const char *uid)
{
    char cmd[1024];
    if (h_backend_is_pg()) {
        char *out = NULL;
        snprintf(cmd, sizeof cmd,
                 "SELECT count(*) FROM users WHERE id = '%s' AND "
                 "password_hash LIKE 'nfkc$$argon2id$%%'",
                 uid);
        assert_int_equal(h_pg_query(&srv, cmd, &out), 0);
        return out;
    }
    snprintf(cmd, sizeof cmd,
             "sqlite3 %s/gatehouse.db \"SELECT count(*) FROM users WHERE id = '%s' AND "
             "password_hash LIKE 'nfkc\\$\\$argon2id\\$%%'\"",
             srv.dir, uid);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[32] = {0};
    assert_non_null(fgets(out, sizeof out, p));
    assert_int_equal(pclose(p), 0);
    char *copy = strdup(out);
    assert_non_null(copy);
    return copy;
}

static void test_users_import_ok(void **state)
{
    (void)state;
    char e1[128], e2[128], text[1024], path[512];
    h_unique_email("bcrypt", e1, sizeof e1);
    h_unique_email("django", e2, sizeof e2);
    snprintf(text, sizeof text,
             "{\"email\":\"%s\",\"password_hash\":\"%s\",\"display_name\":\"Imported One\"}\n"
             "\n"
             "{\"email\":\"%s\",\"password_hash\":\"%s\"}\n",
             e1, BCRYPT_HASH, e2, DJANGO_HASH);
    write_import("ok.jsonl", text, path, sizeof path);
    struct h_cli_result c;
    const char *args[] = {"users", "import", path, NULL};
    assert_int_equal(h_cli(&srv, args, &c), 0);
    if (c.exit_code != 0)
        fail_msg("import exit %d: %s %s", c.exit_code, c.out, c.err);
    assert_non_null(strstr(c.out, "2"));
    /* the CLI never echoes a hash */
    assert_null(strstr(c.out, "vhYeWYx1p"));
    assert_null(strstr(c.err, "vhYeWYx1p"));
    assert_null(strstr(c.out, "eKctwR8s9MZ7"));
    h_cli_free(&c);

    struct h_tokens t;
    assert_int_equal(h_login(&srv, e1, BCRYPT_PW, &t), 200);
    struct h_response r;
    assert_int_equal(h_get(&srv, "/v1/me", t.access, &r), 0);
    h_assert_json_response(&r, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "email")), e1);
    assert_string_equal(json_string_value(json_object_get(r.json, "display_name")), "Imported One");
    h_response_free(&r);
    assert_int_equal(h_login(&srv, e2, DJANGO_PW, NULL), 200);
    assert_int_equal(h_login(&srv, e1, DJANGO_PW, NULL), 401);
    assert_int_equal(h_login(&srv, e2, "import-django-pass-3", NULL), 401);
    /* the first successful login upgraded both imported hashes to argon2id (of the NFKC form) */
    for (int i = 0; i < 2; i++) {
        struct h_tokens tt;
        assert_int_equal(h_login(&srv, i == 0 ? e1 : e2, i == 0 ? BCRYPT_PW : DJANGO_PW, &tt), 200);
        json_t *claims = h_jwt_part(tt.access, 1);
        char *out = argon2_rows(json_string_value(json_object_get(claims, "sub")));
        json_decref(claims);
        assert_string_equal(out, "1\n");
        free(out);
    }
    /* after the rehash on first login, the password still works (and still only it) */
    assert_int_equal(h_login(&srv, e1, BCRYPT_PW, NULL), 200);
    assert_int_equal(h_login(&srv, e2, DJANGO_PW, NULL), 200);
    assert_int_equal(h_login(&srv, e2, BCRYPT_PW, NULL), 401);

    /* importing the same file again: the emails exist → refused, nothing changes */
    assert_int_equal(h_cli(&srv, args, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    h_cli_free(&c);
    assert_int_equal(h_login(&srv, e1, BCRYPT_PW, NULL), 200);
}

static void test_users_import_all_or_nothing(void **state)
{
    (void)state;
    char e1[128], e2[128], e3[128], text[1024], path[512];
    h_unique_email("aon1", e1, sizeof e1);
    h_unique_email("aon2", e2, sizeof e2);
    h_unique_email("aon3", e3, sizeof e3);
    snprintf(text, sizeof text,
             "{\"email\":\"%s\",\"password_hash\":\"%s\"}\n"
             "{\"email\":\"%s\",\"password_hash\":\"md5$abc$0123456789abcdef0123456789abcdef\"}\n"
             "{\"email\":\"%s\",\"password_hash\":\"%s\"}\n",
             e1, BCRYPT_HASH, e2, e3, DJANGO_HASH);
    write_import("bad.jsonl", text, path, sizeof path);
    struct h_cli_result c;
    const char *args[] = {"users", "import", path, NULL};
    assert_int_equal(h_cli(&srv, args, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    /* the report names the line */
    if (!strstr(c.err, "line 2") && !strstr(c.out, "line 2"))
        fail_msg("report does not name line 2:\nstdout: %s\nstderr: %s", c.out, c.err);
    assert_null(strstr(c.err, "line 1:"));
    assert_null(strstr(c.err, "line 3:"));
    h_cli_free(&c);
    /* nobody from that file exists */
    assert_int_equal(h_login(&srv, e1, BCRYPT_PW, NULL), 401);
    assert_int_equal(h_login(&srv, e3, DJANGO_PW, NULL), 401);
    /* and the emails are still free to register */
    assert_int_equal(h_register(&srv, e1, "a fresh long passphrase", NULL, NULL), 201);
}

static void test_users_import_bad_files(void **state)
{
    (void)state;
    char path[512], e[128], text[512];
    struct h_cli_result c;
    h_unique_email("badf", e, sizeof e);
    const char *cases[] = {"not json\n", "{\"email\":\"x@example.com\"}\n",
                           "{\"email\":\"not-an-email\",\"password_hash\":\"" BCRYPT_HASH "\"}\n",
                           "{\"email\":\"y@example.com\",\"password_hash\":\"" BCRYPT_HASH
                           "\",\"role\":\"admin\"}\n",
                           NULL};
    for (size_t i = 0; cases[i]; i++) {
        write_import("badf.jsonl", cases[i], path, sizeof path);
        const char *args[] = {"users", "import", path, NULL};
        assert_int_equal(h_cli(&srv, args, &c), 0);
        if (c.exit_code == 0)
            fail_msg("case %zu accepted: %s", i, cases[i]);
        assert_non_null(strstr(c.err, "line 1"));
        h_cli_free(&c);
    }
    /* a duplicate email inside one file */
    snprintf(text, sizeof text,
             "{\"email\":\"%s\",\"password_hash\":\"%s\"}\n"
             "{\"email\":\"%s\",\"password_hash\":\"%s\"}\n",
             e, BCRYPT_HASH, e, DJANGO_HASH);
    write_import("dupe.jsonl", text, path, sizeof path);
    const char *args[] = {"users", "import", path, NULL};
    assert_int_equal(h_cli(&srv, args, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    assert_non_null(strstr(c.err, "line 2"));
    h_cli_free(&c);
    assert_int_equal(h_login(&srv, e, BCRYPT_PW, NULL), 401);
    /* an email already registered, differing only in case */
    char reg[128], upper[128];
    h_unique_email("casedup", reg, sizeof reg);
    assert_int_equal(h_register(&srv, reg, "a fresh long passphrase", NULL, NULL), 201);
    snprintf(upper, sizeof upper, "%s", reg);
    for (char *q = upper; *q && *q != '@'; q++)
        if (*q >= 'a' && *q <= 'z')
            *q = (char)(*q - 'a' + 'A');
    snprintf(text, sizeof text, "{\"email\":\"%s\",\"password_hash\":\"%s\"}\n", upper,
             BCRYPT_HASH);
    write_import("casedup.jsonl", text, path, sizeof path);
    assert_int_equal(h_cli(&srv, args, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    assert_non_null(strstr(c.err, "line 1"));
    h_cli_free(&c);
    assert_int_equal(h_login(&srv, reg, BCRYPT_PW, NULL), 401);
    assert_int_equal(h_login(&srv, reg, "a fresh long passphrase", NULL), 200);
    /* a missing file */
    const char *missing[] = {"users", "import", "/nonexistent/file.jsonl", NULL};
    assert_int_equal(h_cli(&srv, missing, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    assert_true(strlen(c.err) > 0);
    h_cli_free(&c);
}

static void test_cli_usage(void **state)
{
    (void)state;
    struct h_cli_result c;
    const char *help[] = {"--help", NULL};
    assert_int_equal(h_cli(&srv, help, &c), 0);
    assert_int_equal(c.exit_code, 0);
    assert_non_null(strstr(c.out, "keys"));
    assert_non_null(strstr(c.out, "GATEHOUSE_LISTEN"));
    h_cli_free(&c);

    const char *sub_help[][3] = {
        {"keys", "--help", NULL}, {"users", "--help", NULL}, {"sessions", "--help", NULL}};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(h_cli(&srv, sub_help[i], &c), 0);
        if (c.exit_code != 0)
            fail_msg("gatehouse %s --help: exit %d", sub_help[i][0], c.exit_code);
        assert_non_null(strstr(c.out, "usage"));
        h_cli_free(&c);
    }

    const char *bogus[] = {"frobnicate", NULL};
    assert_int_equal(h_cli(&srv, bogus, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    assert_non_null(strstr(c.err, "frobnicate"));
    h_cli_free(&c);

    const char *bad_rotate[] = {"keys", "rotate", "soon", NULL};
    assert_int_equal(h_cli(&srv, bad_rotate, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    assert_non_null(strstr(c.err, "SECONDS"));
    h_cli_free(&c);

    const char *no_kid[] = {"keys", "revoke", NULL};
    assert_int_equal(h_cli(&srv, no_kid, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    h_cli_free(&c);
}

static void test_cli_bad_config_names_variable(void **state)
{
    (void)state;
    /* a separate environment: the same data dir with a bad setting */
    struct h_server bad = srv;
    size_t i;
    for (i = 0; i < srv.nenv; i++)
        if (strncmp(srv.env[i], "GATEHOUSE_LOG_LEVEL=", 20) == 0)
            break;
    assert_true(i < srv.nenv);
    bad.env[i] = (char *)"GATEHOUSE_LOG_LEVEL=chatty";
    struct h_cli_result c;
    const char *args[] = {"keys", "list", NULL};
    assert_int_equal(h_cli(&bad, args, &c), 0);
    assert_int_not_equal(c.exit_code, 0);
    assert_non_null(strstr(c.err, "GATEHOUSE_LOG_LEVEL"));
    h_cli_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users_import_ok),
        cmocka_unit_test(test_users_import_all_or_nothing),
        cmocka_unit_test(test_users_import_bad_files),
        cmocka_unit_test(test_cli_usage),
        cmocka_unit_test(test_cli_bad_config_names_variable),
    };
    return cmocka_run_group_tests_name("integration/cli", tests, setup, teardown);
}
