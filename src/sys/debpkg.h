/* Installed Debian packages against security floors, for `gatehouse doctor`: Debian package
 * versions (epoch:upstream-revision, the revision carrying the backported fixes) compared with
 * dpkg's own rules, never the upstream version a library reports about itself. */
#ifndef GH_SYS_DEBPKG_H
#define GH_SYS_DEBPKG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define GH_DEBPKG_VERSION_MAX 128
#define GH_DEBPKG_MAX 64

/* Compares two Debian versions as `dpkg --compare-versions` does (epoch, then upstream, then
 * revision; '~' sorts before everything, even the end). Returns <0, 0 or >0. *ok is false
 * (and the result 0) when either is not a well-formed version. */
int gh_debver_cmp(const char *a, const char *b, bool *ok);

/* One row of a floor table: the package (binary package name), the first Debian version that
 * carries the fix, and what it fixes (CVE ids). */
struct gh_debpkg_floor {
    const char *package;
    const char *min_version;
    const char *fixes;
};

enum gh_debpkg_state {
    GH_DEBPKG_ABSENT,     /* not installed (dpkg knows no such installed package) */
    GH_DEBPKG_OK,         /* installed version >= floor */
    GH_DEBPKG_BELOW,      /* installed version < floor */
    GH_DEBPKG_UNPARSABLE, /* the installed or the floor version is not a Debian version */
};

struct gh_debpkg_result {
    enum gh_debpkg_state state;
    char installed[GH_DEBPKG_VERSION_MAX]; /* the lowest installed version (multi-arch) */
};

/* Asks dpkg_query (an absolute path; fixed argv, no shell, an environment of LC_ALL=C only)
 * for the installed versions of the n (<= GH_DEBPKG_MAX) floors' packages and fills
 * results[i] for floors[i]. GH_ERR_NOT_FOUND when there is no executable dpkg_query (a
 * distroless image, a non-Debian system); GH_ERR_IO when it could not be run or failed. */
GH_MUST_USE gh_err gh_debpkg_check(const char *dpkg_query, const struct gh_debpkg_floor *floors,
                                   size_t n, struct gh_debpkg_result *results);

#endif
