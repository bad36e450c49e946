/* Integration: `gatehouse doctor`'s package-floor check on this machine's real dpkg database.
 * Either one PASS line (every linked library's Debian package at or above its floor) or one
 * WARN line per package below its floor — and each such WARN is checked against dpkg itself:
 * the version named is what dpkg-query reports as installed, and dpkg --compare-versions agrees
 * it is lower than the floor named. Without dpkg-query the line says it cannot check. (The
 * comparison and the parsing have their unit tests: tests/unit/sys/test_debpkg.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* "WARN  packages  PKG VER is older than FLOOR, which fixes …": verify with dpkg. */
static void verify_warning(const char *lineptr)
{
    char pkg[128], ver[128], floor[128];
    const char *p = strstr(lineptr, "packages");
    assert_non_null(p);
    p += strlen("packages");
    if (sscanf(p, " %127s %127s is older than %127[^,],", pkg, ver, floor) != 3)
        fail_msg("unexpected packages line: %s", lineptr);
    char cmd[512], got[256] = "";
    snprintf(cmd, sizeof cmd,
             "dpkg-query -W -f='${Version}\\n' '%s' 2>/dev/null | sort -V | head -1", pkg);
    FILE *fp = popen(cmd, "r");
    assert_non_null(fp);
    if (!fgets(got, sizeof got, fp))
        got[0] = '\0';
    pclose(fp);
    got[strcspn(got, "\n")] = '\0';
    if (strcmp(got, ver) != 0)
        fail_msg("doctor says %s %s, dpkg-query says '%s'", pkg, ver, got);
    snprintf(cmd, sizeof cmd, "dpkg --compare-versions '%s' lt '%s'", ver, floor);
    if (system(cmd) != 0)
        fail_msg("dpkg does not agree that %s < %s", ver, floor);
}

static void test_doctor_packages(void **state)
{
    (void)state;
    struct h_server srv;
    assert_int_equal(h_server_start(&srv, NULL), 0);
    struct h_cli_result c;
    const char *doctor[] = {"doctor", NULL};
    assert_int_equal(h_cli(&srv, doctor, &c), 0);
    int pass = count(c.out, "PASS  packages");
    int warn = count(c.out, "WARN  packages");
    assert_int_equal(count(c.out, "FAIL  packages"), 0); /* floors warn, never fail */
    if (access("/usr/bin/dpkg-query", X_OK) != 0) {
        assert_int_equal(warn, 1);
        assert_non_null(strstr(c.out, "cannot check"));
    } else if (pass) {
        assert_int_equal(pass, 1);
        assert_int_equal(warn, 0);
        assert_non_null(strstr(c.out, "at or above their security-fix floors"));
    } else {
        if (warn < 1)
            fail_msg("no packages line:\n%s", c.out);
        assert_null(strstr(c.out, "cannot check"));
        for (const char *p = strstr(c.out, "WARN  packages"); p;
             p = strstr(p + 1, "WARN  packages")) {
            char lineptr[1024];
            size_t n = strcspn(p, "\n");
            snprintf(lineptr, sizeof lineptr, "%.*s", (int)n, p);
            verify_warning(lineptr);
            /* the fix names the package to upgrade */
            assert_non_null(strstr(lineptr, "apt-get install --only-upgrade lib"));
        }
    }
    h_cli_free(&c);
    assert_int_equal(h_server_stop(&srv), 0);
    h_server_free(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doctor_packages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
