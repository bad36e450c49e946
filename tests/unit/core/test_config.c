/* Unit tests for the settings table: parsing, validation messages that name the variable,
 * _FILE secrets, production refusals, and that no secret value ever appears in an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/config.h"

#define MAXV 32
struct env {
    const char *k[MAXV];
    const char *v[MAXV];
    int n;
};

static const char *lookup(const char *name, void *ctx)
{
    struct env *e = ctx;
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->k[i], name) == 0)
            return e->v[i];
    return NULL;
}

static void put(struct env *e, const char *k, const char *v)
{
    e->k[e->n] = k;
    e->v[e->n] = v;
    e->n++;
}

/* A random-looking valid key. */
static const char *good_key = "3q2+7wAAAAESIzRFVmd4iZqrvM3e7/8AESIzRFVmd4k=";

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ghcfgXXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    struct env e = {0};
    struct gh_config c;
    char err[GH_CONFIG_ERR_MAX];
    assert_int_equal(gh_config_load_with(&c, lookup, &e, err), GH_OK);
    assert_false(c.production);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_int_equal(c.access_token_ttl, 1800);
    assert_string_equal(c.database_url, "sqlite:var/gatehouse.db");
    assert_string_equal(c.issuer, "http://127.0.0.1:8080");
    assert_int_equal(c.max_body_bytes, 16384);
    assert_int_equal(c.argon2_opslimit, 2);
    assert_int_equal(c.argon2_memlimit_kib, 19456);
    gh_config_release(&c);
}

static void expect_error(struct env *e, const char *var)
{
    struct gh_config c;
    char err[GH_CONFIG_ERR_MAX];
    assert_int_not_equal(gh_config_load_with(&c, lookup, e, err), GH_OK);
    /* The message starts by naming the variable. */
    assert_true(strncmp(err, var, strlen(var)) == 0);
    gh_config_release(&c);
}

static void test_bad_values_name_the_variable(void **state)
{
    (void)state;
    struct env e1 = {0};
    put(&e1, "GATEHOUSE_ACCESS_TOKEN_TTL", "abc");
    expect_error(&e1, "GATEHOUSE_ACCESS_TOKEN_TTL");
    struct env e2 = {0};
    put(&e2, "GATEHOUSE_ACCESS_TOKEN_TTL", "5");
    expect_error(&e2, "GATEHOUSE_ACCESS_TOKEN_TTL");
    struct env e3 = {0};
    put(&e3, "GATEHOUSE_LISTEN", "localhost");
    expect_error(&e3, "GATEHOUSE_LISTEN");
    struct env e4 = {0};
    put(&e4, "GATEHOUSE_ENV", "prod");
    expect_error(&e4, "GATEHOUSE_ENV");
    struct env e5 = {0};
    put(&e5, "GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/33");
    expect_error(&e5, "GATEHOUSE_TRUSTED_PROXIES");
    struct env e6 = {0};
    put(&e6, "GATEHOUSE_ARGON2_MEMLIMIT_KIB", "1024");
    expect_error(&e6, "GATEHOUSE_ARGON2_MEMLIMIT_KIB");
    struct env e7 = {0};
    put(&e7, "GATEHOUSE_LISTEN", "127.0.0.1:99999");
    expect_error(&e7, "GATEHOUSE_LISTEN");
    struct env e8 = {0};
    put(&e8, "GATEHOUSE_MAX_BODY_BYTES", "12x");
    expect_error(&e8, "GATEHOUSE_MAX_BODY_BYTES");
}

static void test_secret_never_in_error(void **state)
{
    (void)state;
    struct env e = {0};
    put(&e, "GATEHOUSE_DATABASE_URL", "mysql://user:hunter2secret@db/x");
    struct gh_config c;
    char err[GH_CONFIG_ERR_MAX];
    assert_int_not_equal(gh_config_load_with(&c, lookup, &e, err), GH_OK);
    assert_null(strstr(err, "hunter2secret"));
    assert_non_null(strstr(err, "GATEHOUSE_DATABASE_URL"));
    gh_config_release(&c);

    /* A malformed master key is refused without echoing it. */
    struct env e2 = {0};
    put(&e2, "GATEHOUSE_MASTER_KEY", "not-base64-SECRETVALUE");
    put(&e2, "GATEHOUSE_DATA_DIR", tmpdir);
    assert_int_equal(gh_config_load_with(&c, lookup, &e2, err), GH_OK);
    unsigned char *k = NULL, *p = NULL;
    assert_int_not_equal(gh_config_master_key(&c, &k, &p, err), GH_OK);
    assert_null(strstr(err, "SECRETVALUE"));
    assert_non_null(strstr(err, "GATEHOUSE_MASTER_KEY"));
    gh_config_release(&c);
}

static void test_file_secret_and_both_refused(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/dburl", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("sqlite:/tmp/from-file.db\n", f);
    fclose(f);
    struct env e = {0};
    put(&e, "GATEHOUSE_DATABASE_URL_FILE", path);
    struct gh_config c;
    char err[GH_CONFIG_ERR_MAX];
    assert_int_equal(gh_config_load_with(&c, lookup, &e, err), GH_OK);
    assert_string_equal(c.database_url, "sqlite:/tmp/from-file.db");
    gh_config_release(&c);

    put(&e, "GATEHOUSE_DATABASE_URL", "sqlite:/tmp/other.db");
    expect_error(&e, "GATEHOUSE_DATABASE_URL");

    struct env e2 = {0};
    put(&e2, "GATEHOUSE_DATABASE_URL_FILE", "/nonexistent/file");
    expect_error(&e2, "GATEHOUSE_DATABASE_URL_FILE");
}

static void prod_env(struct env *e)
{
    put(e, "GATEHOUSE_ENV", "production");
    put(e, "GATEHOUSE_PUBLIC_URL", "https://auth.example.com");
    put(e, "GATEHOUSE_DATA_DIR", tmpdir);
}

static gh_err prod_master(struct env *e, char err[GH_CONFIG_ERR_MAX])
{
    struct gh_config c;
    gh_err rc = gh_config_load_with(&c, lookup, e, err);
    if (rc == GH_OK) {
        unsigned char *k = NULL, *p = NULL;
        rc = gh_config_master_key(&c, &k, &p, err);
        sodium_free(k);
        sodium_free(p);
    }
    gh_config_release(&c);
    return rc;
}

static void test_production_refusals(void **state)
{
    (void)state;
    char err[GH_CONFIG_ERR_MAX];
    /* No key. */
    struct env e1 = {0};
    prod_env(&e1);
    assert_int_not_equal(prod_master(&e1, err), GH_OK);
    assert_non_null(strstr(err, "GATEHOUSE_MASTER_KEY"));
    /* Good key. */
    struct env e2 = {0};
    prod_env(&e2);
    put(&e2, "GATEHOUSE_MASTER_KEY", good_key);
    assert_int_equal(prod_master(&e2, err), GH_OK);
    /* All one byte. */
    struct env e3 = {0};
    prod_env(&e3);
    put(&e3, "GATEHOUSE_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assert_int_not_equal(prod_master(&e3, err), GH_OK);
    /* The documented example key. */
    struct env e4 = {0};
    prod_env(&e4);
    put(&e4, "GATEHOUSE_MASTER_KEY", "Q2hhbmdlTWVDaGFuZ2VNZUNoYW5nZU1lQ2hhbmdlTWU=");
    assert_int_not_equal(prod_master(&e4, err), GH_OK);
    /* 16 bytes, not 32. */
    struct env e5 = {0};
    prod_env(&e5);
    put(&e5, "GATEHOUSE_MASTER_KEY", "3q2+7wAAAAESIzRFVmd4iQ==");
    assert_int_not_equal(prod_master(&e5, err), GH_OK);
    /* Key file readable by others. */
    char path[128];
    snprintf(path, sizeof path, "%s/mk", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(good_key, f);
    fclose(f);
    assert_int_equal(chmod(path, 0644), 0);
    struct env e6 = {0};
    prod_env(&e6);
    put(&e6, "GATEHOUSE_MASTER_KEY_FILE", path);
    assert_int_not_equal(prod_master(&e6, err), GH_OK);
    assert_non_null(strstr(err, "GATEHOUSE_MASTER_KEY_FILE"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(prod_master(&e6, err), GH_OK);
    /* Test-only fast hashing. */
    struct env e7 = {0};
    prod_env(&e7);
    put(&e7, "GATEHOUSE_TEST_INSECURE_FAST_HASH", "1");
    expect_error(&e7, "GATEHOUSE_TEST_INSECURE_FAST_HASH");
    /* Public listener without TLS or proxy. */
    struct env e8 = {0};
    prod_env(&e8);
    put(&e8, "GATEHOUSE_LISTEN", "0.0.0.0:8080");
    expect_error(&e8, "GATEHOUSE_LISTEN");
    struct env e9 = {0};
    prod_env(&e9);
    put(&e9, "GATEHOUSE_LISTEN", "0.0.0.0:8080");
    put(&e9, "GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8");
    struct gh_config c;
    assert_int_equal(gh_config_load_with(&c, lookup, &e9, err), GH_OK);
    gh_config_release(&c);
}

static void test_dev_key_generated_0600_and_refused_in_production(void **state)
{
    (void)state;
    char err[GH_CONFIG_ERR_MAX];
    struct env e = {0};
    put(&e, "GATEHOUSE_DATA_DIR", tmpdir);
    struct gh_config c;
    assert_int_equal(gh_config_load_with(&c, lookup, &e, err), GH_OK);
    unsigned char *k1 = NULL, *k2 = NULL, *p = NULL;
    assert_int_equal(gh_config_master_key(&c, &k1, &p, err), GH_OK);
    assert_int_equal(gh_config_master_key(&c, &k2, &p, err), GH_OK);
    assert_memory_equal(k1, k2, 32); /* generated once, then reused */
    gh_config_release(&c);
    char path[128];
    snprintf(path, sizeof path, "%s/master.key", tmpdir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* Production with the development key's value is refused. */
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, k1, 32, sodium_base64_VARIANT_ORIGINAL);
    struct env e2 = {0};
    prod_env(&e2);
    put(&e2, "GATEHOUSE_MASTER_KEY", b64);
    assert_int_not_equal(prod_master(&e2, err), GH_OK);
    sodium_free(k1);
    sodium_free(k2);
}

static void test_help_has_no_secret_values(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    setenv("GATEHOUSE_MASTER_KEY", "SUPERSECRETKEYVALUE", 1);
    gh_config_print_help(f);
    gh_config_print_markdown(f);
    fclose(f);
    unsetenv("GATEHOUSE_MASTER_KEY");
    assert_null(strstr(buf, "SUPERSECRETKEYVALUE"));
    assert_non_null(strstr(buf, "GATEHOUSE_MASTER_KEY"));
    assert_non_null(strstr(buf, "GATEHOUSE_DATABASE_URL"));
    free(buf);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test_setup_teardown(test_bad_values_name_the_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_never_in_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_secret_and_both_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_production_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dev_key_generated_0600_and_refused_in_production,
                                        setup, teardown),
        cmocka_unit_test(test_help_has_no_secret_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
