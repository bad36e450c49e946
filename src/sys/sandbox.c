/* The process sandbox (see sandbox.h). The allowlist was drawn from what `serve` does after
 * start-up — HTTP on already-bound sockets (accept/recv/send/epoll), SQLite on open and newly
 * opened files in the data directory (openat, fcntl locks, fsync, unlink of journals), memory
 * (mmap/mprotect never executable), threads already started (futex; clone only for threads),
 * time and randomness — and checked by tests/sandbox/ against a mixed workload.
 * Trust boundary: none; this is the last line of defence if code execution is gained. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sys/sandbox.h"
#include "core/banned.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GH_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define GH_UNDER_SANITIZER 1
#endif
#endif

bool gh_sandbox_supported(void)
{
#ifdef GH_UNDER_SANITIZER
    return false;
#else
    return true;
#endif
}

gh_err gh_sandbox_resolve_user(const char *spec, uid_t *uid, gid_t *gid,
                               char err[GH_SANDBOX_ERR_MAX])
{
    char *end = NULL;
    if (spec[0] >= '0' && spec[0] <= '9') {
        errno = 0;
        unsigned long u = strtoul(spec, &end, 10);
        unsigned long g = u;
        if (!errno && *end == ':')
            g = strtoul(end + 1, &end, 10);
        if (errno || *end != '\0' || u > 0x7fffffffUL || g > 0x7fffffffUL) {
            snprintf(err, GH_SANDBOX_ERR_MAX,
                     "GATEHOUSE_USER: must be a user name or uid[:gid] (numbers)");
            return GH_ERR_CONFIG;
        }
        *uid = (uid_t)u;
        *gid = (gid_t)g;
    } else {
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwnam_r(spec, &pw, buf, sizeof buf, &res) != 0 || !res) {
            snprintf(err, GH_SANDBOX_ERR_MAX, "GATEHOUSE_USER: no such user");
            return GH_ERR_CONFIG;
        }
        *uid = pw.pw_uid;
        *gid = pw.pw_gid;
    }
    if (*uid == 0 || *gid == 0) {
        snprintf(err, GH_SANDBOX_ERR_MAX,
                 "GATEHOUSE_USER: must be an unprivileged user, not root (uid/gid 0)");
        return GH_ERR_CONFIG;
    }
    return GH_OK;
}

gh_err gh_sandbox_drop_privileges(uid_t uid, gid_t gid, const char *data_dir,
                                  const char *const *data_files, char err[GH_SANDBOX_ERR_MAX])
{
    if (geteuid() != 0)
        return GH_OK;
    struct stat st;
    if (stat(data_dir, &st) != 0 || st.st_uid != uid) {
        snprintf(err, GH_SANDBOX_ERR_MAX,
                 "GATEHOUSE_USER: the data directory (GATEHOUSE_DATA_DIR) must belong to that "
                 "user: chown -R %lu:%lu it first",
                 (unsigned long)uid, (unsigned long)gid);
        return GH_ERR_CONFIG;
    }
    /* Files this start created as root (database, WAL, epoch, lock) become the user's. */
    for (size_t i = 0; data_files && data_files[i]; i++)
        if (lchown(data_files[i], uid, gid) != 0 && errno != ENOENT) {
            snprintf(err, GH_SANDBOX_ERR_MAX, "GATEHOUSE_USER: cannot hand a database file "
                                              "to that user");
            return GH_ERR_IO;
        }
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0) {
        snprintf(err, GH_SANDBOX_ERR_MAX, "GATEHOUSE_USER: cannot switch to that user");
        return GH_ERR_IO;
    }
    /* For good: there is no way back. */
    if (setuid(0) == 0 || seteuid(0) == 0 || getuid() != uid || geteuid() != uid ||
        getegid() != gid) {
        snprintf(err, GH_SANDBOX_ERR_MAX, "GATEHOUSE_USER: privileges were not dropped");
        return GH_ERR_INTERNAL;
    }
    return GH_OK;
}

/* SIGSYS from a forbidden call: one JSON line on stderr (async-signal-safe: write only), then
 * the default action (SA_RESETHAND) ends the process with SIGSYS. */
static size_t put_num(char *p, long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u && n < sizeof tmp);
    size_t k = 0;
    if (v < 0)
        p[k++] = '-';
    while (n)
        p[k++] = tmp[--n];
    return k;
}

static void on_sigsys(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    static const char a[] = "{\"level\":\"error\",\"msg\":\"sandbox: forbidden system call; "
                            "the process ends\",\"event\":\"sandbox_violation\",\"syscall\":";
    static const char b[] = ",\"ts_unix\":";
    char line[256];
    size_t n = 0;
    memcpy(line, a, sizeof a - 1);
    n += sizeof a - 1;
    n += put_num(line + n, info ? (long)info->si_syscall : -1);
    memcpy(line + n, b, sizeof b - 1);
    n += sizeof b - 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    n += put_num(line + n, (long)ts.tv_sec);
    line[n++] = '}';
    line[n++] = '\n';
    ssize_t w = write(2, line, n);
    (void)w;
    if (raise(sig) != 0) /* SA_RESETHAND restored the default action, which ends the process */
        _exit(128 + sig);
}

/* Allowed unconditionally. Names unknown on this architecture are skipped. */
static const char *const allowed[] = {
    /* files already open and new files in the data directory (SQLite) */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "close",
    "fstat", "newfstatat", "fstatat64", "stat", "lstat", "statx", "lseek", "_llseek", "openat",
    "open", "unlink", "unlinkat", "fcntl", "fcntl64", "flock", "fsync", "fdatasync", "ftruncate",
    "fallocate", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getcwd",
    "fchmod", "fchown", "msync",
    /* memory (mmap and mprotect are added below: never executable) */
    "brk", "munmap", "mremap", "madvise", "mlock", "munlock", "mlock2",
    /* threads that already exist */
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "sched_yield",
    "sched_getaffinity", "membarrier", "exit", "exit_group", "restart_syscall",
    /* time, ids, randomness */
    "getrandom", "clock_gettime", "clock_gettime64", "clock_getres", "clock_nanosleep",
    "nanosleep", "gettimeofday", "time", "getpid", "gettid", "getppid", "getuid", "geteuid",
    "getgid", "getegid", "getresuid", "getresgid",
    /* HTTP on the sockets bound before the sandbox */
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "poll", "ppoll", "select",
    "pselect6", "accept", "accept4", "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg",
    "sendmmsg", "shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername", "eventfd2",
    "pipe2",
    /* signals: the main thread waits in pause() for SIGTERM */
    "rt_sigprocmask", "rt_sigreturn", "sigreturn", "sigaltstack", "pause", "rt_sigsuspend",
};

static gh_err fail(scmp_filter_ctx ctx, char *err, const char *what)
{
    if (ctx)
        seccomp_release(ctx);
    snprintf(err, GH_SANDBOX_ERR_MAX, "sandbox: %s", what);
    return GH_ERR_INTERNAL;
}

gh_err gh_sandbox_enter(bool net_client, char err[GH_SANDBOX_ERR_MAX])
{
    if (!gh_sandbox_supported())
        return fail(NULL, err, "not available in a sanitizer build");
    /* No core files: they would hold keys and passwords. Not dumpable: no ptrace by our uid. */
    struct rlimit nocore = {0, 0};
    if (setrlimit(RLIMIT_CORE, &nocore) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return fail(NULL, err, "cannot disable core dumps");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fail(NULL, err, "cannot set no_new_privs");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
    if (sigaction(SIGSYS, &sa, NULL) != 0)
        return fail(NULL, err, "cannot install the SIGSYS handler");

    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx)
        return fail(NULL, err, "seccomp_init failed");
    /* Apply to every thread (HTTP, hashing, ticker), not only this one. */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0)
        return fail(ctx, err, "seccomp TSYNC unavailable");
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        int nr = seccomp_syscall_resolve_name(allowed[i]);
        if (nr == __NR_SCMP_ERROR)
            continue;
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0)
            return fail(ctx, err, "cannot add a rule");
    }
    /* Memory is never made executable (no injected code runs, no JIT). */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) != 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) != 0)
        return fail(ctx, err, "cannot add the memory rules");
    /* Threads only: clone with CLONE_THREAD; clone3 (whose flags a filter cannot read) says
     * ENOSYS so that libc falls back to clone. No fork, no vfork. */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)) != 0)
        return fail(ctx, err, "cannot add the clone rule");
    int clone3 = seccomp_syscall_resolve_name("clone3");
    if (clone3 != __NR_SCMP_ERROR &&
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), clone3, 0) != 0)
        return fail(ctx, err, "cannot add the clone3 rule");
    /* A networked database: client sockets (reconnects, DNS), never a listening one. */
    if (net_client) {
        static const int domains[] = {AF_INET, AF_INET6, AF_UNIX};
        for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++)
            if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
                                 SCMP_CMP(0, SCMP_CMP_EQ, (scmp_datum_t)domains[i], 0),
                                 SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM)) != 0 ||
                seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
                                 SCMP_CMP(0, SCMP_CMP_EQ, (scmp_datum_t)domains[i], 0),
                                 SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_DGRAM)) != 0)
                return fail(ctx, err, "cannot add the socket rules");
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(connect), 0) != 0)
            return fail(ctx, err, "cannot add the connect rule");
    }
    /* Thread names only (libmicrohttpd names its threads as they start). */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                         SCMP_CMP(0, SCMP_CMP_EQ, PR_SET_NAME, 0)) != 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                         SCMP_CMP(0, SCMP_CMP_EQ, PR_GET_NAME, 0)) != 0)
        return fail(ctx, err, "cannot add the prctl rules");
    /* Signals to this process only (abort, raise). */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                         SCMP_CMP(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0)) != 0)
        return fail(ctx, err, "cannot add the tgkill rule");
    if (seccomp_load(ctx) != 0)
        return fail(ctx, err, "cannot load the seccomp filter");
    seccomp_release(ctx);
    return GH_OK;
}

gh_err gh_sandbox_probe(const char *what)
{
    if (strcmp(what, "execve") == 0) {
        char *const argv[] = {(char *)(uintptr_t) "gatehouse-probe", NULL};
        execve("/nonexistent/gatehouse-sandbox-probe", argv, argv + 1);
        return GH_OK;
    }
    if (strcmp(what, "socket") == 0) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0)
            close(fd);
        return GH_OK;
    }
    if (strcmp(what, "ptrace") == 0) {
        long r = ptrace(PTRACE_PEEKDATA, getppid(), NULL, NULL);
        (void)r;
        return GH_OK;
    }
    if (strcmp(what, "mprotect_exec") == 0) {
        long pg = sysconf(_SC_PAGESIZE);
        void *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            int r = mprotect(p, (size_t)pg, PROT_READ | PROT_EXEC);
            (void)r;
            munmap(p, (size_t)pg);
        }
        return GH_OK;
    }
    if (strcmp(what, "fork") == 0) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        return GH_OK;
    }
    return GH_ERR_INVALID;
}
