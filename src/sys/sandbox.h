/* The process sandbox `serve` enters once it has bound its sockets, opened the database and
 * loaded its keys: drop root to an unprivileged user, set no_new_privs, and install a seccomp
 * allowlist (libseccomp) of the system calls a running server needs. Anything else — execve,
 * ptrace, a new socket, bind/listen/connect, mapping memory executable, fork — ends the process
 * with SIGSYS after one log line naming the call. */
#ifndef GH_SYS_SANDBOX_H
#define GH_SYS_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/err.h"

#define GH_SANDBOX_ERR_MAX 256

/* Resolve GATEHOUSE_USER ("name" or "uid[:gid]") to ids. GH_ERR_CONFIG with err filled when
 * it names no user or names root. */
GH_MUST_USE gh_err gh_sandbox_resolve_user(const char *spec, uid_t *uid, gid_t *gid,
                                           char err[GH_SANDBOX_ERR_MAX]);

/* If running as root: the data directory must belong to uid (so files created later stay
 * writable); the database's own files are handed to uid; then supplementary groups, gid and
 * uid are dropped for good (verified: setuid(0) must fail). data_files: NULL-terminated paths
 * to chown when they exist. Not root: nothing to do. */
GH_MUST_USE gh_err gh_sandbox_drop_privileges(uid_t uid, gid_t gid, const char *data_dir,
                                              const char *const *data_files,
                                              char err[GH_SANDBOX_ERR_MAX]);

/* no_new_privs + the seccomp filter, on every thread of the process (TSYNC). net_client: the
 * server talks to a database (or Redis) over the network, so it may open client sockets —
 * stream sockets (TCP or unix) and datagram sockets for DNS, and connect them; never bind or
 * listen. */
GH_MUST_USE gh_err gh_sandbox_enter(bool net_client, char err[GH_SANDBOX_ERR_MAX]);

/* Is the sandbox usable in this build? (Not under the sanitizers, whose runtimes need ptrace
 * and exec.) */
bool gh_sandbox_supported(void);

/* Test hook: attempt the named forbidden action ("execve", "socket", "ptrace", "mprotect_exec",
 * "fork"). Under the sandbox this never returns. GH_ERR_INVALID for an unknown name; otherwise
 * returns GH_OK when the action was possible (no sandbox). */
GH_MUST_USE gh_err gh_sandbox_probe(const char *what);

#endif
