/* `gatehouse doctor`: checks a deployment against every guideline it can see from its own
 * configuration, files and database, and prints one PASS/WARN/FAIL line per guideline with a
 * fix. Read-only: it changes nothing (it may generate nothing either: a missing development key
 * is reported, not created). The exit code is the worst result: 0 PASS, 1 WARN, 2 FAIL. */
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/doctor.h"
#include "auth/keys.h"
#include "auth/ratelimit.h"
#include "core/enc.h"
#include "core/mem.h"
#include "data/audit.h"
#include "store/store_audit.h"
#include "sys/debpkg.h"
#include "sys/sandbox.h"
#include "core/banned.h"

enum verdict { PASS, WARN, FAIL };

struct report {
    FILE *f;
    enum verdict worst;
};

static void line(struct report *r, enum verdict v, const char *guideline, const char *what,
                 const char *fix)
{
    static const char *const names[] = {"PASS", "WARN", "FAIL"};
    fprintf(r->f, "%s  %-28s %s%s%s\n", names[v], guideline, what,
            v != PASS && fix ? " — fix: " : "", v != PASS && fix ? fix : "");
    if (v > r->worst)
        r->worst = v;
}

static bool inside_git_tree(const char *dir)
{
    char path[PATH_MAX];
    if (!realpath(dir, path))
        return false;
    for (;;) {
        char probe[PATH_MAX + 8];
        struct stat st;
        snprintf(probe, sizeof probe, "%s/.git", path);
        if (stat(probe, &st) == 0)
            return true;
        char *slash = strrchr(path, '/');
        if (!slash || slash == path)
            return false;
        *slash = '\0';
    }
}

static void check_env_files(struct report *r, const struct gh_config *cfg)
{
    const char *dirs[] = {".", cfg->data_dir, NULL};
    for (int i = 0; dirs[i]; i++) {
        char p[PATH_MAX];
        struct stat st;
        snprintf(p, sizeof p, "%s/.env", dirs[i]);
        if (stat(p, &st) == 0 && inside_git_tree(dirs[i])) {
            line(r, WARN, "secrets: .env files", "a .env file lies inside a git work tree",
                 "keep secrets out of the repository (git rm --cached .env; add it to "
                 ".gitignore) and prefer *_FILE variables");
            return;
        }
    }
    line(r, PASS, "secrets: .env files", "no .env file inside a git work tree", NULL);
}

static void check_keys_config(struct report *r, const struct gh_config *cfg)
{
    line(r, cfg->production ? PASS : WARN, "environment",
         cfg->production ? "production mode" : "development mode",
         "GATEHOUSE_ENV=production (it refuses weak keys and test settings)");
    if (!cfg->master_key_text) {
        line(r, cfg->production ? FAIL : WARN, "master key",
             "no master key configured (development generates one into the data directory)",
             "GATEHOUSE_MASTER_KEY_FILE=<file with 32 random bytes, base64, mode 0600>");
    } else {
        unsigned char *k = NULL, *p = NULL;
        char err[GH_CONFIG_ERR_MAX];
        gh_err rc = gh_config_master_key(cfg, &k, &p, err);
        sodium_free(k);
        sodium_free(p);
        line(r, rc == GH_OK ? PASS : FAIL, "master key",
             rc == GH_OK ? "configured, 32 bytes, not a known or weak key" : err,
             "head -c32 /dev/urandom | base64 > master.key; chmod 600 master.key");
    }
    if (cfg->master_key_file) {
        struct stat st;
        bool private_ok = stat(cfg->master_key_file, &st) == 0 && (st.st_mode & 077) == 0;
        line(r, private_ok ? PASS : FAIL, "master key file",
             private_ok ? "mode is private" : "readable by group or others",
             "chmod 600 the key file");
    }
    if (cfg->master_key_previous_text)
        line(r, WARN, "master key rotation", "GATEHOUSE_MASTER_KEY_PREVIOUS is still set",
             "run gatehouse keys rotate-master, then remove the previous key");
}

static void check_transport(struct report *r, const struct gh_config *cfg)
{
    bool loopback =
        strncmp(cfg->listen_host, "127.", 4) == 0 || strcmp(cfg->listen_host, "::1") == 0;
    if (cfg->tls_cert_path)
        line(r, PASS, "HTTPS", "native TLS configured (TLS 1.2+, HSTS)", NULL);
    else if (cfg->trusted_proxies[0])
        line(r, PASS, "HTTPS", "behind trusted TLS-terminating proxies", NULL);
    else
        line(r, loopback ? WARN : FAIL, "HTTPS",
             loopback ? "plain HTTP on loopback (fine only behind a local TLS proxy)"
                      : "plain HTTP on a public listener",
             "GATEHOUSE_TLS_CERT_PATH/_KEY_PATH, or a TLS proxy in GATEHOUSE_TRUSTED_PROXIES");
    bool https_url = cfg->public_url && strncmp(cfg->public_url, "https://", 8) == 0;
    line(r, https_url ? PASS : WARN, "public URL",
         https_url ? "GATEHOUSE_PUBLIC_URL is https"
                   : "GATEHOUSE_PUBLIC_URL is not an https origin",
         "GATEHOUSE_PUBLIC_URL=https://auth.example.com");
    bool wildcard = strchr(cfg->cors_origins, '*') != NULL;
    line(r, wildcard ? FAIL : PASS, "CORS",
         wildcard ? "a wildcard in GATEHOUSE_CORS_ORIGINS" : "no wildcard origin",
         "list exact origins only");
    if (cfg->metrics_listen[0]) {
        bool mloop =
            strncmp(cfg->metrics_host, "127.", 4) == 0 || strcmp(cfg->metrics_host, "::1") == 0;
        line(r, mloop ? PASS : WARN, "metrics listener",
             mloop ? "metrics on loopback" : "metrics on a non-loopback address",
             "bind GATEHOUSE_METRICS_LISTEN to loopback or a private interface only");
    }
}

static void check_host(struct report *r, const struct gh_config *cfg)
{
    /* serve started as root drops to GATEHOUSE_USER once its port is bound. */
    bool root = geteuid() == 0;
    bool drops = root && cfg->run_as != NULL;
    line(r, !root || drops ? PASS : (cfg->production ? FAIL : WARN), "privileges",
         !root  ? "not running as root"
         : drops ? "started as root; serve switches to GATEHOUSE_USER after binding"
                 : "running as root",
         "run gatehouse as an unprivileged user, or set GATEHOUSE_USER (containers: a numeric "
         "non-root uid)");
    bool sandboxed = cfg->sandbox && gh_sandbox_supported();
    line(r, sandboxed ? PASS : (cfg->production ? FAIL : WARN), "sandbox",
         sandboxed       ? "serve runs under the seccomp allowlist with no_new_privs"
         : !cfg->sandbox ? "GATEHOUSE_SANDBOX=false"
                         : "a sanitizer build cannot be sandboxed",
         "use the release build and leave GATEHOUSE_SANDBOX on");
    struct stat st;
    if (stat(cfg->data_dir, &st) == 0)
        line(r, (st.st_mode & 077) ? WARN : PASS, "data directory",
             (st.st_mode & 077) ? "readable by group or others" : "private (0700)",
             "chmod 700 the data directory");
    if (strncmp(cfg->database_url, "sqlite:", 7) == 0 && stat(cfg->database_url + 7, &st) == 0)
        line(r, (st.st_mode & 077) ? FAIL : PASS, "database file",
             (st.st_mode & 077) ? "readable by group or others" : "private",
             "chmod 600 the database file and its -wal/-shm");
    line(r, cfg->breached_passwords_path ? PASS : WARN, "breached passwords",
         cfg->breached_passwords_path ? "an offline breached-password list is configured"
                                      : "only the built-in common-password list is used",
         "GATEHOUSE_BREACHED_PASSWORDS_PATH=<Pwned Passwords SHA-1 file>");
}

/* Security floors of the Debian 12 packages gatehouse's libraries come from (ldd closure):
 * the first Debian version that carries the fix, from each package's changelog.Debian
 * (bookworm and bookworm-security). Debian versions, revision included, because Debian
 * backports fixes without changing the upstream version a library reports. Packages that are
 * not installed (another release's names, a static build) are skipped. Add a row when a
 * Debian Security Advisory touches a linked library (docs/container.md, "Updates"). */
static const struct gh_debpkg_floor package_floors[] = {
    {"libc6", "2.36-9+deb12u14", "CVE-2026-0861, CVE-2026-4437, CVE-2026-4438"},
    {"libssl3", "3.0.22-1~deb12u2", "CVE-2026-84782, CVE-2026-35189, CVE-2026-63072 and more"},
    {"libpq5", "15.20-0+deb12u1", "CVE-2026-6460, CVE-2026-6467 and 40 more"},
    {"libkrb5-3", "1.20.1-2+deb12u5", "CVE-2026-40355, CVE-2026-40356"},
    {"libgssapi-krb5-2", "1.20.1-2+deb12u5", "CVE-2026-40355, CVE-2026-40356"},
    {"libsasl2-2", "2.1.28+dfsg-10+deb12u1", "CVE-2026-107161"},
    {"libgnutls30", "3.7.9-2+deb12u7", "CVE-2026-3833, CVE-2026-5260, CVE-2026-33845 and 9 more"},
    {"libsodium23", "1.0.18-1+deb12u1", "CVE-2025-69277"},
    {"libsqlite3-0", "3.40.1-2+deb12u2", "CVE-2025-6965"},
    {"libtasn1-6", "4.19.0-2+deb12u1", "CVE-2024-12133"},
    {"libmicrohttpd12", "0.9.75-6", "CVE-2023-27371"},
    {"libnettle8", "3.7.3-1", "CVE-2021-3580"},
    {"libhogweed6", "3.7.3-1", "CVE-2021-3580"},
    {"libgmp10", "2:6.2.1+dfsg-3", "CVE-2021-43618"},
    {"libp11-kit0", "0.23.22-1", "CVE-2020-29361, CVE-2020-29362, CVE-2020-29363"},
    {"libidn2-0", "2.0.2-4", "CVE-2017-14061, CVE-2017-14062"},
    {"libjansson4", "2.7-5", "CVE-2016-4425"},
    {"libhiredis0.14", "0.14.1-2", "CVE-2021-32765"},
};
_Static_assert(sizeof package_floors / sizeof package_floors[0] <= GH_DEBPKG_MAX,
               "gh_debpkg_check takes at most GH_DEBPKG_MAX floors");

#define DPKG_QUERY "/usr/bin/dpkg-query"

static void check_packages(struct report *r)
{
    enum { N = sizeof package_floors / sizeof package_floors[0] };
    struct gh_debpkg_result res[N];
    gh_err rc = gh_debpkg_check(DPKG_QUERY, package_floors, N, res);
    if (rc != GH_OK) {
        const char *why = "cannot check library versions: " DPKG_QUERY " failed";
        if (rc == GH_ERR_NOT_FOUND)
            why = "cannot check library versions: no " DPKG_QUERY " (distroless or not Debian)";
        line(r, WARN, "packages", why,
             "scan the image or host with trivy or grype (docs/container.md)");
        return;
    }
    size_t checked = 0, below = 0;
    for (size_t i = 0; i < N; i++) {
        char msg[320];
        if (res[i].state == GH_DEBPKG_ABSENT)
            continue;
        checked++;
        if (res[i].state == GH_DEBPKG_OK)
            continue;
        below++;
        if (res[i].state == GH_DEBPKG_UNPARSABLE)
            snprintf(msg, sizeof msg, "%s %s: not a Debian version, cannot compare with %s",
                     package_floors[i].package, res[i].installed, package_floors[i].min_version);
        else
            snprintf(msg, sizeof msg, "%s %s is older than %s, which fixes %s",
                     package_floors[i].package, res[i].installed, package_floors[i].min_version,
                     package_floors[i].fixes);
        char fix[200];
        snprintf(fix, sizeof fix,
                 "apt-get update && apt-get install --only-upgrade %s, then restart gatehouse "
                 "(a container: rebuild the image with --pull)",
                 package_floors[i].package);
        line(r, WARN, "packages", msg, fix);
    }
    if (checked == 0)
        line(r, WARN, "packages",
             "cannot check library versions: none of the libraries' Debian packages is installed",
             "scan the deployment with trivy or grype (docs/container.md)");
    else if (below == 0) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "%zu installed library packages at or above their security-fix floors (dpkg)",
                 checked);
        line(r, PASS, "packages", msg, NULL);
    }
}

struct last_backup {
    int64_t ts;
};

static gh_err backup_row(void *ctx, const struct gh_audit_row *row)
{
    struct last_backup *b = ctx;
    if (strcmp(row->action, "backup") == 0 && row->ts > b->ts)
        b->ts = row->ts;
    return GH_OK;
}

static void check_database(struct report *r, const struct gh_config *cfg, struct gh_store *s,
                           struct gh_keywrap *kw, int64_t now)
{
    /* Signing key age. */
    struct gh_stored_key *keys = NULL;
    size_t n = 0;
    int64_t newest = 0;
    if (gh_store_keys_list(s, &keys, &n) == GH_OK) {
        for (size_t i = 0; i < n; i++)
            if (!keys[i].revoked_at && keys[i].created_at > newest)
                newest = keys[i].created_at;
        gh_free(keys);
    }
    int64_t limit = cfg->key_rotate_interval > 0 ? cfg->key_rotate_interval : (int64_t)90 * 86400;
    char msg[160];
    snprintf(msg, sizeof msg, "newest signing key is %lld days old (limit %lld)",
             (long long)((now - newest) / 86400), (long long)(limit / 86400));
    line(r, newest && now - newest <= limit ? PASS : WARN, "signing key rotation", msg,
         "gatehouse keys rotate, or GATEHOUSE_SIGNING_KEY_ROTATE_INTERVAL");
    /* Audit chain. */
    struct gh_audit *a = NULL;
    struct gh_audit_report rep;
    unsigned char pk[32];
    if (gh_audit_new(s, kw, NULL, now, &a) == GH_OK) {
        gh_audit_public_key(a, pk);
        gh_audit_free(a);
        gh_err rc = gh_audit_verify(s, pk, &rep);
        bool ok = rc == GH_OK && rep.problem == GH_AUDIT_OK;
        line(r, ok ? PASS : FAIL, "audit trail",
             ok ? "the chain and every checkpoint verify" : rep.message,
             "investigate (docs/SECURITY.md); verify with --pubkey from off-box");
    } else {
        line(r, FAIL, "audit trail", "the audit key cannot be loaded", "check the master key");
    }
    /* Last backup (recorded in the audit trail by `backup create`). */
    struct last_backup b = {0};
    struct gh_audit_reader rd = {.row = backup_row, .ctx = &b};
    if (gh_store_audit_read(s, &rd) == GH_OK) {
        if (!b.ts)
            line(r, WARN, "backups", "no backup recorded",
                 "schedule gatehouse backup create (docs/deployment.md)");
        else {
            snprintf(msg, sizeof msg, "last backup %lld hours ago",
                     (long long)((now - b.ts) / 3600));
            line(r, now - b.ts <= 86400 ? PASS : WARN, "backups", msg,
                 "run gatehouse backup create at least daily");
        }
    }
}

/* Shared counters: with Redis configured, it must accept our credentials and answer (while it
 * cannot, every sign-in is 503); on PostgreSQL without Redis each instance limits on its own. */
static void check_redis(struct report *r, const struct gh_config *cfg)
{
    bool pg = gh_config_store_is_postgres(cfg);
    if (!cfg->redis_url) {
        line(r, PASS, "shared rate limits",
             pg ? "in memory, per instance (set GATEHOUSE_REDIS_URL when several instances "
                  "share this database)"
                : "in memory (one instance on SQLite)",
             NULL);
        return;
    }
    /* The probe key is fixed, so any hash key will do: doctor creates no working key. */
    unsigned char *hk = sodium_malloc(GH_RATELIMIT_REDIS_KEYBYTES);
    struct gh_ratelimit *rl = NULL;
    if (!hk) {
        line(r, FAIL, "shared rate limits", "out of memory", NULL);
        return;
    }
    randombytes_buf(hk, GH_RATELIMIT_REDIS_KEYBYTES);
    gh_err rc = gh_ratelimit_new_redis(cfg->redis_url, hk, 1, &rl);
    sodium_free(hk);
    if (rc == GH_ERR_CONFIG) {
        line(r, FAIL, "shared rate limits", "Redis refuses gatehouse's credentials",
             "check the user and password in GATEHOUSE_REDIS_URL and the ACL (docs/deployment.md)");
        return;
    }
    if (rc != GH_OK) {
        line(r, FAIL, "shared rate limits", "the Redis client could not be set up",
             "check GATEHOUSE_REDIS_URL");
        return;
    }
    struct gh_ratelimit_health h;
    gh_ratelimit_health(rl, &h);
    gh_ratelimit_free(rl);
    line(r, h.up ? PASS : FAIL, "shared rate limits",
         h.up ? "Redis answers (limits and lockouts shared by every instance)"
              : "Redis does not answer: sign-ins are refused with 503 until it does",
         "start Redis or fix GATEHOUSE_REDIS_URL (docs/SECURITY.md)");
}

int gh_doctor_run(const struct gh_config *cfg, struct gh_store *s, struct gh_keywrap *kw, FILE *f)
{
    struct report r = {.f = f, .worst = PASS};
    int64_t now = gh_now();
    check_keys_config(&r, cfg);
    check_transport(&r, cfg);
    check_host(&r, cfg);
    check_env_files(&r, cfg);
    check_packages(&r);
    check_redis(&r, cfg);
    if (s && kw)
        check_database(&r, cfg, s, kw, now);
    else
        line(&r, FAIL, "database", "the database or its keys could not be opened",
             "check GATEHOUSE_DATABASE_URL and the master key");
    return (int)r.worst;
}
