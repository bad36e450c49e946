/* Unit tests for the Debian package floors behind `gatehouse doctor`: the version comparison
 * (checked against dpkg --compare-versions itself when dpkg is there), the dpkg-query output
 * parsing (through a stand-in dpkg-query script), and the real dpkg-query on this machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sys/debpkg.h"

struct pair {
    const char *a, *b;
    int want; /* sign of a - b */
};

static const struct pair pairs[] = {
    {"1.0", "1.0", 0},
    {"1.0", "1.0-0", 0},
    {"0.9.75-6", "0.9.75-6", 0},
    {"1.0~rc1", "1.0", -1},
    {"1.0~rc1", "1.0~rc2", -1},
    {"1.0~", "1.0", -1},
    {"1.0", "1.0a", -1},
    {"1.0", "1.0+deb12u1", -1},
    {"1.0+deb12u1", "1.0.1", -1},
    {"2.36-9+deb12u9", "2.36-9+deb12u10", -1}, /* numbers, not strings */
    {"2.36-9+deb12u13", "2.36-9+deb12u14", -1},
    {"3.7.9-2+deb12u6", "3.7.9-2+deb12u7", -1},
    {"3.40.1-2+deb12u2", "3.40.1-2+deb12u1", 1},
    {"1.0-1", "1.0-1.1", -1},
    {"1.0-1", "1.0-1+b1", -1},
    {"2.3.3-1+b1", "2.3.3-1", 1},
    {"1.0-1~bpo12+1", "1.0-1", -1},
    {"1:0.1", "9.9", 1}, /* the epoch wins */
    {"1:4.4.33-2", "4.4.33-2", 1},
    {"2:6.2.1+dfsg1-1.1", "2:6.2.1+dfsg-3", 1}, /* '1' after "dfsg" beats '-' */
    {"10", "9", 1},
    {"1.10", "1.9", 1},
    {"1.001", "1.1", 0},
    {"1.0.0", "1.0", 1},
    {"1.2-3-4", "1.2-3", 1}, /* the revision starts after the last hyphen */
    {"0:1.0", "1.0", 0},
};

static void test_compare(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        bool ok = false;
        int c = gh_debver_cmp(pairs[i].a, pairs[i].b, &ok);
        if (!ok || c != pairs[i].want)
            fail_msg("%s vs %s: got %d (ok %d), want %d", pairs[i].a, pairs[i].b, c, ok,
                     pairs[i].want);
        c = gh_debver_cmp(pairs[i].b, pairs[i].a, &ok);
        assert_true(ok);
        assert_int_equal(c, -pairs[i].want);
    }
}

/* The same pairs through dpkg itself: the comparison is dpkg's, not a look-alike. */
static void test_compare_matches_dpkg(void **state)
{
    (void)state;
    if (access("/usr/bin/dpkg", X_OK) != 0)
        skip();
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char cmd[512];
        const char *op = pairs[i].want < 0 ? "lt" : pairs[i].want > 0 ? "gt" : "eq";
        snprintf(cmd, sizeof cmd, "/usr/bin/dpkg --compare-versions '%s' %s '%s' 2>/dev/null",
                 pairs[i].a, op, pairs[i].b);
        if (system(cmd) != 0)
            fail_msg("dpkg disagrees: %s %s %s", pairs[i].a, op, pairs[i].b);
    }
}

static void test_invalid_versions(void **state)
{
    (void)state;
    const char *bad[] = {"",      "a1.0",    "1.0-", ":1.0", "1:",      "x:1.0",
                         "1.0 2", "1.0-a b", "-1",   "1:-1", "1.0-1:2", NULL};
    for (int i = 0; bad[i]; i++) {
        bool ok = true;
        assert_int_equal(gh_debver_cmp(bad[i], "1.0", &ok), 0);
        if (ok)
            fail_msg("'%s' accepted as a version", bad[i]);
        gh_debver_cmp("1.0", bad[i], &ok);
        assert_false(ok);
    }
    char longv[300];
    memset(longv, '1', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    bool ok = true;
    gh_debver_cmp(longv, "1.0", &ok);
    assert_false(ok);
}

static void test_refuses_bad_arguments(void **state)
{
    (void)state;
    struct gh_debpkg_floor f[] = {{"libc6", "1.0", "x"}};
    struct gh_debpkg_result r[1];
    assert_int_equal(gh_debpkg_check("dpkg-query", f, 1, r), GH_ERR_INVALID); /* not absolute */
    struct gh_debpkg_floor opt[] = {{"--admindir=/tmp", "1.0", "x"}};
    assert_int_equal(gh_debpkg_check("/usr/bin/dpkg-query", opt, 1, r), GH_ERR_INVALID);
    struct gh_debpkg_floor upper[] = {{"LibC6", "1.0", "x"}};
    assert_int_equal(gh_debpkg_check("/usr/bin/dpkg-query", upper, 1, r), GH_ERR_INVALID);
    /* no dpkg-query (distroless): "cannot check", not a crash or a pass */
    assert_int_equal(gh_debpkg_check("/nonexistent/dpkg-query", f, 1, r), GH_ERR_NOT_FOUND);
}

/* A stand-in dpkg-query that prints what the test wants: parsing, multi-arch, states. */
static void write_fake(const char *path, const char *body)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "#!/bin/sh\n%s", body);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, 0700), 0);
}

static void test_parsing_with_fake_dpkg_query(void **state)
{
    (void)state;
    char dir[] = "/tmp/gh-debpkg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char fake[128];
    snprintf(fake, sizeof fake, "%s/dpkg-query", dir);
    /* A tab-separated line per installed package; exit 1 as dpkg-query does when some
     * package is unknown. The arguments must be exactly -W, the format and the packages. */
    write_fake(
        fake,
        "[ \"$1\" = -W ] || exit 3\n"
        "[ \"$2\" = '--showformat=${Package}\t${db:Status-Abbrev}\t${Version}\n' ] || exit 4\n"
        "[ \"$3 $4 $5 $6 $7 $8\" = 'liba libb libc libd libe libf' ] || exit 5\n"
        "[ -z \"$HOME\" ] && [ \"$LC_ALL\" = C ] || exit 6\n"
        "printf 'liba\\tii \\t1.2-3+deb12u1\\n'\n"
        "printf 'libb\\tii \\t2.0-1\\n'\n"
        "printf 'libb\\tii \\t1.9-1\\n'\n" /* another architecture, older */
        "printf 'libc\\trc \\t1.0-1\\n'\n" /* removed, config files left */
        "printf 'libd\\tii \\tnot-a-version\\n'\n"
        "printf 'libe\\tiW \\t5.0\\n'\n"
        "printf 'garbage line\\n'\n"
        "exit 1\n");
    struct gh_debpkg_floor f[] = {
        {"liba", "1.2-3+deb12u1", "CVE-A"}, {"libb", "2.0-1", "CVE-B"},   {"libc", "0.1", "CVE-C"},
        {"libd", "1.0", "CVE-D"},           {"libe", "5.0~rc1", "CVE-E"}, {"libf", "1.0", "CVE-F"},
    };
    struct gh_debpkg_result r[6];
    assert_int_equal(gh_debpkg_check(fake, f, 6, r), GH_OK);
    assert_int_equal(r[0].state, GH_DEBPKG_OK); /* equal to the floor */
    assert_string_equal(r[0].installed, "1.2-3+deb12u1");
    assert_int_equal(r[1].state, GH_DEBPKG_BELOW); /* the older architecture counts */
    assert_string_equal(r[1].installed, "1.9-1");
    assert_int_equal(r[2].state, GH_DEBPKG_ABSENT);
    assert_int_equal(r[3].state, GH_DEBPKG_UNPARSABLE);
    assert_int_equal(r[4].state, GH_DEBPKG_OK);
    assert_int_equal(r[5].state, GH_DEBPKG_ABSENT);

    /* dpkg-query failing (exit 2: its database unreadable) is an error, not "all absent" */
    write_fake(fake, "exit 2\n");
    assert_int_equal(gh_debpkg_check(fake, f, 6, r), GH_ERR_IO);
    unlink(fake);
    rmdir(dir);
}

/* The machine's own dpkg database: a floor above every real version warns, floor 0 passes. */
static void test_real_dpkg_query(void **state)
{
    (void)state;
    if (access("/usr/bin/dpkg-query", X_OK) != 0)
        skip();
    struct gh_debpkg_floor f[] = {
        {"libc6", "99:0", "CVE-TEST-HIGH"},
        {"dpkg", "0", "CVE-TEST-LOW"},
        {"gatehouse-no-such-package", "1.0", "CVE-TEST-ABSENT"},
    };
    struct gh_debpkg_result r[3];
    assert_int_equal(gh_debpkg_check("/usr/bin/dpkg-query", f, 3, r), GH_OK);
    assert_int_equal(r[0].state, GH_DEBPKG_BELOW);
    assert_true(r[0].installed[0] >= '0' && r[0].installed[0] <= '9');
    assert_int_equal(r[1].state, GH_DEBPKG_OK);
    assert_int_equal(r[2].state, GH_DEBPKG_ABSENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_compare_matches_dpkg),
        cmocka_unit_test(test_invalid_versions),
        cmocka_unit_test(test_refuses_bad_arguments),
        cmocka_unit_test(test_parsing_with_fake_dpkg_query),
        cmocka_unit_test(test_real_dpkg_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
