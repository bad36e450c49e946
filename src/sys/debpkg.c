/* Installed Debian package versions against security floors (see debpkg.h). The comparison is
 * dpkg's (lib/dpkg/version.c: verrevcmp); the query runs dpkg-query by absolute path with a
 * fixed argument vector, no shell and an environment of LC_ALL=C only. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/debpkg.h"
#include "core/banned.h"

/* dpkg's character order: '~' before the end of a part, the end before letters, letters
 * before everything else. Digits are compared as numbers, not here. */
static int order(int c)
{
    if (isdigit(c))
        return 0;
    if (isalpha(c))
        return c;
    if (c == '~')
        return -1;
    if (c)
        return c + 256;
    return 0;
}

static int verrevcmp(const char *a, const char *b)
{
    while (*a || *b) {
        int first_diff = 0;
        while ((*a && !isdigit((unsigned char)*a)) || (*b && !isdigit((unsigned char)*b))) {
            int ac = order((unsigned char)*a);
            int bc = order((unsigned char)*b);
            if (ac != bc)
                return ac - bc;
            a++;
            b++;
        }
        while (*a == '0')
            a++;
        while (*b == '0')
            b++;
        while (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            if (!first_diff)
                first_diff = *a - *b;
            a++;
            b++;
        }
        if (isdigit((unsigned char)*a))
            return 1;
        if (isdigit((unsigned char)*b))
            return -1;
        if (first_diff)
            return first_diff;
    }
    return 0;
}

struct debver {
    unsigned long epoch;
    char upstream[GH_DEBPKG_VERSION_MAX];
    char revision[GH_DEBPKG_VERSION_MAX];
};

static bool chars_ok(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
            return false;
    return true;
}

/* [epoch:]upstream[-revision]: the epoch digits, upstream starting with a digit, the
 * revision after the last hyphen (Debian policy 5.6.12). */
static bool parse_version(const char *v, struct debver *out)
{
    size_t len = strlen(v);
    if (len == 0 || len >= GH_DEBPKG_VERSION_MAX)
        return false;
    const char *up = v;
    const char *colon = strchr(v, ':');
    out->epoch = 0;
    if (colon) {
        if (colon == v || !chars_ok(v, (size_t)(colon - v), ""))
            return false;
        char *end = NULL;
        errno = 0;
        out->epoch = strtoul(v, &end, 10);
        if (errno || end != colon || out->epoch > INT_MAX)
            return false;
        up = colon + 1;
    }
    const char *hyphen = strrchr(up, '-');
    size_t ulen = hyphen ? (size_t)(hyphen - up) : strlen(up);
    if (ulen == 0 || !isdigit((unsigned char)up[0]) || !chars_ok(up, ulen, ".+~-"))
        return false;
    memcpy(out->upstream, up, ulen);
    out->upstream[ulen] = '\0';
    out->revision[0] = '\0';
    if (hyphen) {
        size_t rlen = strlen(hyphen + 1);
        if (rlen == 0 || !chars_ok(hyphen + 1, rlen, ".+~"))
            return false;
        memcpy(out->revision, hyphen + 1, rlen + 1);
    }
    return true;
}

int gh_debver_cmp(const char *a, const char *b, bool *ok)
{
    struct debver va, vb;
    *ok = a && b && parse_version(a, &va) && parse_version(b, &vb);
    if (!*ok)
        return 0;
    if (va.epoch != vb.epoch)
        return va.epoch < vb.epoch ? -1 : 1;
    int c = verrevcmp(va.upstream, vb.upstream);
    if (c)
        return c < 0 ? -1 : 1;
    c = verrevcmp(va.revision, vb.revision);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

/* Binary package names: lower-case letters, digits, '+', '-', '.'; at least two characters,
 * starting with a letter or digit (so never an option to dpkg-query). */
static bool package_name_ok(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n < 2 || n > 100 || !(islower((unsigned char)p[0]) || isdigit((unsigned char)p[0])))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)p[i]) && !isdigit((unsigned char)p[i]) && !strchr("+-.", p[i]))
            return false;
    return true;
}

#define OUT_MAX 65536

/* Runs dpkg-query -W for the packages; its standard output (at most OUT_MAX - 1 bytes, the
 * rest drained and dropped) into out. */
static gh_err run_dpkg_query(const char *dpkg_query, const struct gh_debpkg_floor *floors, size_t n,
                             char *out)
{
    /* posix_spawn takes char *const argv[]; nothing writes to these strings. */
    char *argv[GH_DEBPKG_MAX + 4];
    size_t argc = 0;
    argv[argc++] = (char *)"dpkg-query";
    argv[argc++] = (char *)"-W";
    argv[argc++] = (char *)"--showformat=${Package}\t${db:Status-Abbrev}\t${Version}\n";
    for (size_t i = 0; i < n; i++)
        argv[argc++] = (char *)floors[i].package;
    argv[argc] = NULL;
    char *envp[] = {(char *)"LC_ALL=C", NULL};

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return GH_ERR_IO;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) {
        rc = posix_spawnattr_init(&attr);
        if (rc != 0)
            posix_spawn_file_actions_destroy(&fa);
    }
    if (rc != 0) {
        close(fds[0]);
        close(fds[1]);
        return GH_ERR_IO;
    }
    rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    if (rc == 0)
        rc = posix_spawn(&pid, dpkg_query, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return rc == ENOENT || rc == EACCES ? GH_ERR_NOT_FOUND : GH_ERR_IO;
    }
    size_t len = 0;
    for (;;) {
        char drop[4096];
        bool full = len >= OUT_MAX - 1;
        ssize_t r =
            full ? read(fds[0], drop, sizeof drop) : read(fds[0], out + len, OUT_MAX - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (!full)
            len += (size_t)r;
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return GH_ERR_IO;
    /* 1: some package is not known at all (not installed), which is an answer too. */
    if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
        return GH_ERR_IO;
    return GH_OK;
}

gh_err gh_debpkg_check(const char *dpkg_query, const struct gh_debpkg_floor *floors, size_t n,
                       struct gh_debpkg_result *results)
{
    if (!dpkg_query || dpkg_query[0] != '/' || n > GH_DEBPKG_MAX || (n && (!floors || !results)))
        return GH_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        if (!package_name_ok(floors[i].package) || !floors[i].min_version)
            return GH_ERR_INVALID;
        results[i].state = GH_DEBPKG_ABSENT;
        results[i].installed[0] = '\0';
    }
    if (n == 0)
        return GH_OK;
    if (access(dpkg_query, X_OK) != 0)
        return GH_ERR_NOT_FOUND;
    char *out = malloc(OUT_MAX);
    if (!out)
        return GH_ERR_NOMEM;
    gh_err rc = run_dpkg_query(dpkg_query, floors, n, out);
    if (rc != GH_OK) {
        free(out);
        return rc;
    }
    /* Lines: package TAB status-abbreviation TAB version. Installed: the second status letter
     * is i (installed) or W/t (installed, triggers awaited or pending). */
    for (char *lineptr = out, *next; lineptr && *lineptr; lineptr = next) {
        next = strchr(lineptr, '\n');
        if (next)
            *next++ = '\0';
        char *tab1 = strchr(lineptr, '\t');
        char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        if (!tab2)
            continue;
        *tab1 = '\0';
        *tab2 = '\0';
        const char *st = tab1 + 1, *ver = tab2 + 1;
        if (strlen(st) < 2 || !strchr("iWt", st[1]) || strlen(ver) >= GH_DEBPKG_VERSION_MAX)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(floors[i].package, lineptr) != 0)
                continue;
            bool ok = true;
            if (!results[i].installed[0] || gh_debver_cmp(ver, results[i].installed, &ok) < 0 ||
                !ok)
                memcpy(results[i].installed, ver, strlen(ver) + 1);
        }
    }
    free(out);
    for (size_t i = 0; i < n; i++) {
        if (!results[i].installed[0])
            continue;
        bool ok = false;
        int c = gh_debver_cmp(results[i].installed, floors[i].min_version, &ok);
        results[i].state = !ok ? GH_DEBPKG_UNPARSABLE : c < 0 ? GH_DEBPKG_BELOW : GH_DEBPKG_OK;
    }
    return GH_OK;
}
