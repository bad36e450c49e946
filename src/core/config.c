/* Owns the settings table and its parsing. Input comes from the operator's environment and
 * files; values of secret settings never reach an error message, a log or --help.
 * Lifetime: strings in struct gh_config are heap copies released by gh_config_release. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/enc.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/banned.h"

enum setting_type { T_STRING, T_SECRET, T_INT, T_DOUBLE, T_BOOL, T_ENV, T_PATH };

struct setting {
    const char *name;
    enum setting_type type;
    const char *def; /* NULL: unset */
    long min, max;   /* for T_INT */
    size_t offset;
    const char *help;
};

#define OFF(f) offsetof(struct gh_config, f)

/* The one table. Order is the order of --help and docs/configuration.md. */
static const struct setting settings[] = {
    {"GATEHOUSE_ENV", T_ENV, "development", 0, 0, 0,
     "`development` or `production`. Production refuses weak keys, test settings and an "
     "unprotected public listener."},
    {"GATEHOUSE_LISTEN", T_STRING, "127.0.0.1:8080", 0, 0, OFF(listen),
     "Address to serve on, `host:port` (IPv6 as `[::1]:8080`). Port 0 picks a free port."},
    {"GATEHOUSE_DATABASE_URL", T_SECRET, NULL, 0, 0, OFF(database_url),
     "`sqlite:PATH` (default `sqlite:<data dir>/gatehouse.db`), or a libpq URI "
     "`postgresql://USER@HOST/DB?sslmode=verify-full` (`postgres://` too). Secret: the URL may "
     "carry a password; it is never logged."},
    {"GATEHOUSE_DATA_DIR", T_STRING, "var", 0, 0, OFF(data_dir),
     "Directory for the SQLite database and, in development, the generated master key."},
    {"GATEHOUSE_MASTER_KEY", T_SECRET, NULL, 0, 0, OFF(master_key_text),
     "32 random bytes, base64 (`head -c32 /dev/urandom | base64`). Wraps every stored key. "
     "Required in production."},
    {"GATEHOUSE_MASTER_KEY_PREVIOUS", T_SECRET, NULL, 0, 0, OFF(master_key_previous_text),
     "The previous master key, accepted during a master-key rotation."},
    {"GATEHOUSE_PUBLIC_URL", T_STRING, NULL, 0, 0, OFF(public_url),
     "Origin (and optional path prefix) users reach gatehouse at, e.g. "
     "`https://auth.example.com`. Default issuer."},
    {"GATEHOUSE_ISSUER", T_STRING, NULL, 0, 0, OFF(issuer),
     "JWT `iss`. Default: GATEHOUSE_PUBLIC_URL, else `http://<listen>`."},
    {"GATEHOUSE_AUDIENCE", T_STRING, "gatehouse", 0, 0, OFF(audience),
     "JWT `aud` of access tokens."},
    {"GATEHOUSE_ACCESS_TOKEN_TTL", T_INT, "1800", 60, 86400, OFF(access_token_ttl),
     "Access-token lifetime in seconds."},
    {"GATEHOUSE_SESSION_IDLE_TIMEOUT", T_INT, "1209600", 300, 31536000, OFF(session_idle_timeout),
     "Seconds a session may go unused (no refresh) before it ends. Default 14 days."},
    {"GATEHOUSE_SESSION_MAX_LIFETIME", T_INT, "2592000", 300, 31536000, OFF(session_max_lifetime),
     "Absolute session lifetime in seconds, however active. Default 30 days."},
    {"GATEHOUSE_TRUSTED_PROXIES", T_STRING, "", 0, 0, OFF(trusted_proxies),
     "Comma-separated CIDR list whose X-Forwarded-For/-Proto are believed."},
    {"GATEHOUSE_CORS_ORIGINS", T_STRING, "", 0, 0, OFF(cors_origins),
     "Comma-separated exact origins allowed by CORS; empty allows none."},
    {"GATEHOUSE_COOKIE_DOMAIN", T_STRING, NULL, 0, 0, OFF(cookie_domain),
     "Parent domain for the browser session cookie (e.g. `example.com`), so that forward-auth "
     "works for apps on sibling subdomains. Unset (default): a host-only `__Host-` cookie that "
     "no other host can see or set. Must be GATEHOUSE_PUBLIC_URL's host or a parent domain of it. "
     "See docs/integrations.md for the trade-off."},
    {"GATEHOUSE_WEB_PAGES", T_BOOL, "true", 0, 0, OFF(web_pages),
     "Serve the built-in pages (`/signin`, `/signup`, `/account`, `/admin`)."},
    {"GATEHOUSE_MAX_CONNECTIONS_PER_IP", T_INT, "-1", -1, 100000, OFF(max_connections_per_ip),
     "Open connections one TCP peer may hold (slowloris from one address). -1 (default): 256, "
     "or unlimited when GATEHOUSE_TRUSTED_PROXIES is set (proxied clients share the proxy's "
     "address; limit them at the proxy). 0: unlimited."},
    {"GATEHOUSE_SANDBOX", T_BOOL, "true", 0, 0, OFF(sandbox),
     "After start-up, confine `serve` with a seccomp allowlist and no_new_privs (no exec, no "
     "new sockets, no executable memory). `false` is refused in production."},
    {"GATEHOUSE_USER", T_STRING, NULL, 0, 0, OFF(run_as),
     "When started as root: the unprivileged user (`name` or `uid[:gid]`) `serve` switches to "
     "after binding its port and opening the database. The data directory must belong to it. "
     "Production refuses to serve as root without it."},
    {"GATEHOUSE_REDIS_URL", T_SECRET, NULL, 0, 0, OFF(redis_url),
     "`redis://[user:password@]host[:port][/db]` or `unix://[user:password@]/path.sock[?db=N]`: "
     "rate-limit budgets shared by every instance (docs/deployment.md). No TLS: loopback, a "
     "unix socket or stunnel. Secret."},
    {"GATEHOUSE_METRICS_LISTEN", T_STRING, "", 0, 0, OFF(metrics_listen),
     "`host:port` of a separate listener that answers only `GET /metrics` (Prometheus text). "
     "Empty (default): off. Never the public listener; bind it to loopback or a private "
     "interface."},
    {"GATEHOUSE_INTROSPECTION_CLIENTS", T_SECRET, NULL, 0, 0, OFF(introspection_clients),
     "Resource servers allowed to call POST /v1/introspect, as `id:secret,id2:secret2` "
     "(HTTP Basic). Unset: introspection refuses everyone. Secret."},
    {"GATEHOUSE_INTROSPECTION_CLIENTS_PREVIOUS", T_SECRET, NULL, 0, 0,
     OFF(introspection_clients_previous),
     "Client secrets still accepted while they are being rotated (same format)."},
    {"GATEHOUSE_BACKUP_KEY", T_SECRET, NULL, 0, 0, OFF(backup_key_text),
     "Optional separate key for `backup create`/`restore` (32 bytes, base64). Default: a random "
     "backup key wrapped under the master key and carried, wrapped, in each backup's header."},
    {"GATEHOUSE_BACKUP_RETENTION_DAYS", T_INT, "7", 0, 3650, OFF(backup_retention_days),
     "`backup create FILE` deletes gatehouse backups (*.ghbk) older than this many days in "
     "FILE's directory. Short by default: an erased user stays recoverable from older backups "
     "(by whoever also holds the master key) until they are deleted. 0 keeps everything."},
    {"GATEHOUSE_MAX_BODY_BYTES", T_INT, "16384", 1024, 1048576, OFF(max_body_bytes),
     "Largest request body accepted; larger gets 413 before it is read."},
    {"GATEHOUSE_HTTP_THREADS", T_INT, "0", 0, 256, OFF(http_threads),
     "HTTP worker threads (libmicrohttpd, epoll). 0: with SQLite, half the CPUs, at least 1 — "
     "one thread serves tens of thousands of token checks a second, and the rest is left to "
     "hashing; with PostgreSQL or Redis, one per CPU, at least 4 and at most 8, since threads "
     "wait on network round trips."},
    {"GATEHOUSE_HASH_THREADS", T_INT, "2", 1, 256, OFF(hash_threads),
     "Password-hashing threads (lower scheduling priority). Default suits a 2-core machine."},
    {"GATEHOUSE_HASH_YIELD_THREADS", T_INT, "-1", -1, 255, OFF(hash_yield_threads),
     "Hashing threads that stand aside while token checks are being served (any in the last "
     "second), so that those keep a CPU under a login flood; at least one thread always hashes. "
     "-1: 1 when the hashing and HTTP threads together outnumber the CPUs (2 hashing + 1 HTTP "
     "on 2 cores), else 0. 0: never (all threads hash; token checks then share every CPU)."},
    {"GATEHOUSE_HASH_QUEUE", T_INT, "64", 1, 100000, OFF(hash_queue),
     "Password-hashing jobs that may wait (a sign-in counts until answered); beyond it logins get 503 + Retry-After."},
    {"GATEHOUSE_ARGON2_OPSLIMIT", T_INT, "2", 2, 64, OFF(argon2_opslimit),
     "argon2id passes (t). Never below OWASP's 2."},
    {"GATEHOUSE_ARGON2_MEMLIMIT_KIB", T_INT, "19456", 19456, 4194304, OFF(argon2_memlimit_kib),
     "argon2id memory in KiB (m). Never below OWASP's 19 MiB."},
    {"GATEHOUSE_TEST_SANDBOX_PROBE", T_STRING, NULL, 0, 0, OFF(test_sandbox_probe),
     "Test only: once sandboxed, attempt a forbidden action (`execve`, `socket`, `ptrace`, "
     "`mprotect_exec`, `fork`); the sandbox must end the process. Refused in production."},
    {"GATEHOUSE_TEST_INSECURE_FAST_HASH", T_BOOL, "0", 0, 0, OFF(test_insecure_fast_hash),
     "Test only: hash with minimal argon2id cost so test suites run fast. Refused in "
     "production."},
    {"GATEHOUSE_TEST_ALLOC_FAIL", T_BOOL, "0", 0, 0, OFF(test_alloc_fail),
     "Test only: a request carrying `X-Gatehouse-Test-Alloc-Fail: N` has its Nth allocation "
     "(gatehouse's own, jansson's or SQLite's) fail, to prove it gets 503 and the process lives "
     "on. Refused in production."},
    {"GATEHOUSE_TOKEN_CACHE_SIZE", T_INT, "65536", 0, 16777216, OFF(token_cache_size),
     "Entries in the verified-token cache (0 disables). Bounded; entries never outlive exp."},
    {"GATEHOUSE_SIGNING_KEY_PUBLISH_AHEAD", T_INT, "600", 0, 86400, OFF(key_publish_ahead),
     "Seconds a new signing key is published in the JWKS before it signs (`keys rotate` and "
     "scheduled rotation), so that resource servers caching the JWKS know it first."},
    {"GATEHOUSE_SIGNING_KEY_ROTATE_INTERVAL", T_INT, "0", 0, 31536000, OFF(key_rotate_interval),
     "Rotate the signing key automatically this many seconds after the newest key was created "
     "(0: only by `gatehouse keys rotate`). E.g. 2592000 for monthly."},
    {"GATEHOUSE_RATELIMIT_API_PER_MIN", T_INT, "6000", 1, 60000000, OFF(rate_per_min[0]),
     "Requests per minute per client address (IPv6: per /64) to every limited endpoint."},
    {"GATEHOUSE_RATELIMIT_API_BURST", T_INT, "300", 1, 1000000, OFF(rate_burst[0]),
     "Burst allowed above the API rate."},
    {"GATEHOUSE_RATELIMIT_LOGIN_PER_MIN", T_INT, "20", 1, 60000000, OFF(rate_per_min[1]),
     "Sign-in attempts (POST /v1/token, POST /v1/session) per minute per client address."},
    {"GATEHOUSE_RATELIMIT_LOGIN_BURST", T_INT, "30", 1, 1000000, OFF(rate_burst[1]),
     "Burst of sign-in attempts."},
    {"GATEHOUSE_RATELIMIT_REGISTER_PER_MIN", T_INT, "5", 1, 60000000, OFF(rate_per_min[2]),
     "Registrations per minute per client address (409 reveals that an email exists)."},
    {"GATEHOUSE_RATELIMIT_REGISTER_BURST", T_INT, "10", 1, 1000000, OFF(rate_burst[2]),
     "Burst of registrations."},
    {"GATEHOUSE_RATELIMIT_REFRESH_PER_MIN", T_INT, "120", 1, 60000000, OFF(rate_per_min[3]),
     "Token refreshes per minute per client address."},
    {"GATEHOUSE_RATELIMIT_REFRESH_BURST", T_INT, "60", 1, 1000000, OFF(rate_burst[3]),
     "Burst of refreshes."},
    {"GATEHOUSE_RATELIMIT_PASSWORD_PER_MIN", T_INT, "5", 1, 60000000, OFF(rate_per_min[4]),
     "Password changes per minute per client address."},
    {"GATEHOUSE_RATELIMIT_PASSWORD_BURST", T_INT, "10", 1, 1000000, OFF(rate_burst[4]),
     "Burst of password changes."},
    {"GATEHOUSE_RATELIMIT_API_SHARED", T_BOOL, "true", 0, 0, OFF(ratelimit_api_shared),
     "With GATEHOUSE_REDIS_URL: whether the general per-address budget (every request, token "
     "checks included) is kept in Redis too. false: in each instance's memory (a client gets N "
     "times it across N instances) and a token check makes no Redis round trip; the sign-in, "
     "registration, refresh and password budgets stay shared either way."},
    {"GATEHOUSE_RATELIMIT_MAX_KEYS", T_INT, "65536", 1024, 16777216, OFF(ratelimit_max_keys),
     "Client-address budgets kept in memory (16 bytes each, allocated once). A flood of "
     "distinct addresses reuses the oldest idle budgets; memory never grows."},
    {"GATEHOUSE_PASSWORD_MIN_LENGTH", T_INT, "12", 8, 128, OFF(password_min_length),
     "Shortest new password, in characters (Unicode code points after NFKC). Never below 8."},
    {"GATEHOUSE_PASSWORD_MIN_ENTROPY_BITS", T_DOUBLE, "26.6", 0, 256, OFF(password_min_entropy),
     "Least zxcvbn-estimated entropy of a new password, with the user's email and name as "
     "context. 26.6 bits is zxcvbn's score 3 (about 10^8 guesses)."},
    {"GATEHOUSE_BREACHED_PASSWORDS_PATH", T_PATH, NULL, 0, 0, OFF(breached_passwords_path),
     "Offline \"Pwned Passwords\" file (sorted SHA1HEX:COUNT lines) searched in place; "
     "passwords found in it are refused. A built-in list of the 10 000 most common passwords "
     "always applies."},
    {"GATEHOUSE_AUDIT_CHECKPOINT_EVERY", T_INT, "100", 1, 1000000, OFF(audit_checkpoint_every),
     "Sign an audit checkpoint after this many events (also at shutdown)."},
    {"GATEHOUSE_AUDIT_CHECKPOINT_SECONDS", T_INT, "60", 1, 86400, OFF(audit_checkpoint_seconds),
     "Sign an audit checkpoint at least this often while events arrive; each checkpoint is "
     "also written to the log, so a copy lives outside the database."},
    {"GATEHOUSE_LOCKOUT_THRESHOLD", T_INT, "10", 3, 1000, OFF(lockout_threshold),
     "Failed logins that lock an account (or a known device's own budget) for a while."},
    {"GATEHOUSE_LOCKOUT_BASE_SECONDS", T_INT, "60", 1, 86400, OFF(lockout_base_seconds),
     "Length of the first lock; each further lock in a streak doubles it."},
    {"GATEHOUSE_LOCKOUT_MAX_SECONDS", T_INT, "3600", 1, 604800, OFF(lockout_max_seconds),
     "Cap of the exponential lock length. Locks always expire by themselves."},
    {"GATEHOUSE_TLS_CERT_PATH", T_PATH, NULL, 0, 0, OFF(tls_cert_path),
     "PEM certificate chain for native TLS (with GATEHOUSE_TLS_KEY_PATH); re-read on SIGHUP."},
    {"GATEHOUSE_TLS_KEY_PATH", T_PATH, NULL, 0, 0, OFF(tls_key_path),
     "PEM private key for native TLS."},
    {"GATEHOUSE_LOG_LEVEL", T_STRING, "info", 0, 0, OFF(log_level),
     "`debug`, `info`, `warn` or `error`."},
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

/* 32 bytes "ChangeMe" ×4, the example in docs/configuration.md: refused everywhere. */
static const char example_key_b64[] = "Q2hhbmdlTWVDaGFuZ2VNZUNoYW5nZU1lQ2hhbmdlTWU=";

static const char *env_get(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

/* Read a whole small secret file; strips one trailing newline. */
static gh_err read_secret_file(const char *path, char **out)
{
    gh_err rc = GH_ERR_IO;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return GH_ERR_IO;
    buf = gh_malloc(4097);
    if (!buf) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, 4096 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == 4096) {
            rc = GH_ERR_TOO_LARGE;
            goto out;
        }
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
    rc = GH_OK;
out:
    if (buf) {
        sodium_memzero(buf, 4097);
        gh_free(buf);
    }
    close(fd);
    return rc;
}

static gh_err parse_long(const char *s, long *out)
{
    if (!s || !*s)
        return GH_ERR_INVALID;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end != '\0' || end == s)
        return GH_ERR_INVALID;
    *out = v;
    return GH_OK;
}

static gh_err parse_hostport(const char *var, const char *s, char *host, size_t host_size,
                             uint16_t *port_out, char err[GH_CONFIG_ERR_MAX])
{
    const char *colon;
    size_t hostlen;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            goto bad;
        hostlen = (size_t)(rb - s - 1);
        s++;
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            goto bad;
        hostlen = (size_t)(colon - s);
    }
    if (hostlen == 0 || hostlen >= host_size)
        goto bad;
    memcpy(host, s, hostlen);
    host[hostlen] = '\0';
    unsigned char tmp[16];
    if (inet_pton(AF_INET, host, tmp) != 1 && inet_pton(AF_INET6, host, tmp) != 1)
        goto bad;
    long port;
    if (parse_long(colon + 1, &port) != GH_OK || port < 0 || port > 65535)
        goto bad;
    *port_out = (uint16_t)port;
    return GH_OK;
bad:
    snprintf(err, GH_CONFIG_ERR_MAX,
             "%s: must be an IP address and port, like 127.0.0.1:8080 or [::1]:8080", var);
    return GH_ERR_CONFIG;
}

static gh_err parse_listen(struct gh_config *cfg, char err[GH_CONFIG_ERR_MAX])
{
    if (parse_hostport("GATEHOUSE_LISTEN", cfg->listen, cfg->listen_host, sizeof cfg->listen_host,
                       &cfg->listen_port, err) != GH_OK)
        return GH_ERR_CONFIG;
    if (cfg->metrics_listen[0] == '\0')
        return GH_OK;
    if (parse_hostport("GATEHOUSE_METRICS_LISTEN", cfg->metrics_listen, cfg->metrics_host,
                       sizeof cfg->metrics_host, &cfg->metrics_port, err) != GH_OK)
        return GH_ERR_CONFIG;
    if (cfg->metrics_port != 0 && cfg->metrics_port == cfg->listen_port) {
        snprintf(err, GH_CONFIG_ERR_MAX,
                 "GATEHOUSE_METRICS_LISTEN: must not be the public listener's port");
        return GH_ERR_CONFIG;
    }
    return GH_OK;
}

static bool listen_is_loopback(const struct gh_config *cfg)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, cfg->listen_host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, cfg->listen_host, a) == 1) {
        static const unsigned char lo[16] = {[15] = 1};
        return memcmp(a, lo, 16) == 0;
    }
    return false;
}

/* Accept only a list of IPv4/IPv6 CIDRs (or plain addresses) separated by commas. */
static bool cidr_list_is_valid(const char *s)
{
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        char item[64];
        while (len && *s == ' ') {
            s++;
            len--;
        }
        while (len && s[len - 1] == ' ')
            len--;
        if (len == 0 || len >= sizeof item)
            return false;
        memcpy(item, s, len);
        item[len] = '\0';
        char *slash = strchr(item, '/');
        long bits = -1;
        if (slash) {
            *slash = '\0';
            if (parse_long(slash + 1, &bits) != GH_OK)
                return false;
        }
        unsigned char a[16];
        if (inet_pton(AF_INET, item, a) == 1) {
            if (bits > 32)
                return false;
        } else if (inet_pton(AF_INET6, item, a) == 1) {
            if (bits > 128)
                return false;
        } else {
            return false;
        }
        if (slash && bits < 0)
            return false;
        s += comma ? (size_t)(comma - s) + 1 : strlen(s);
    }
    return true;
}

/* An exact origin: http(s)://host[:port], no path, query, userinfo or wildcard. */
static bool origin_is_valid(const char *s, size_t len)
{
    size_t skip = len >= 8 && strncmp(s, "https://", 8) == 0  ? 8
                  : len >= 7 && strncmp(s, "http://", 7) == 0 ? 7
                                                              : 0;
    if (!skip || len == skip || len > 255)
        return false;
    for (size_t i = skip; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == ':' || c == '[' || c == ']'))
            return false; /* also refuses upper case: origins are compared exactly */
    }
    return true;
}

static bool cors_list_is_valid(const char *s)
{
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        while (len && *s == ' ') {
            s++;
            len--;
        }
        while (len && s[len - 1] == ' ')
            len--;
        if (!origin_is_valid(s, len))
            return false;
        s = comma ? comma + 1 : s + strlen(s);
    }
    return true;
}

/* A cookie Domain: a lower-case DNS name with at least one dot, no leading/trailing dot. */
static bool cookie_domain_is_valid(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.' || !strchr(s, '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
        if (c == '.' && s[i + 1] == '.')
            return false;
    }
    return true;
}

/* Does the origin's host domain-match d (RFC 6265 5.1.3: equal, or a subdomain of it)? A
 * browser ignores a Set-Cookie whose Domain the responding host does not match. */
static bool origin_host_in_domain(const char *origin, const char *d)
{
    const char *h = strstr(origin, "://");
    if (!h)
        return false;
    h += 3;
    size_t hl = strcspn(h, ":/?#"), dl = strlen(d);
    if (h[0] == '[')
        return false; /* an IP literal has no parent domain */
    if (hl == dl)
        return strncmp(h, d, dl) == 0;
    return hl > dl && h[hl - dl - 1] == '.' && strncmp(h + hl - dl, d, dl) == 0;
}

static bool url_is_http(const char *s)
{
    return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

static gh_err set_string(char **slot, const char *v)
{
    char *d = gh_strdup(v);
    if (!d)
        return GH_ERR_NOMEM;
    *slot = d;
    return GH_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..len) into out (size bytes with the NUL); no control characters. */
static bool url_decode(const char *s, size_t len, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
            int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
            if (lo < 0)
                return false;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || n + 1 >= size)
            return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return true;
}

static bool parse_redis_db(const char *s, size_t len, unsigned *out)
{
    unsigned long v = 0;
    if (len == 0 || len > 5)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (unsigned)v;
    return true;
}

/* host[:port] or [v6][:port] of a redis:// URL. */
static const char *parse_redis_host(const char *s, size_t len, struct gh_redis_target *t)
{
    const char *port = NULL;
    size_t hlen = len, plen = 0;
    if (len > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        unsigned char a[16];
        if (!rb || (size_t)(rb - s - 1) > GH_REDIS_HOST_MAX || rb == s + 1)
            return "the IPv6 address must be in brackets, like [::1]:6379";
        hlen = (size_t)(rb - s - 1);
        memcpy(t->host, s + 1, hlen);
        t->host[hlen] = '\0';
        if (inet_pton(AF_INET6, t->host, a) != 1)
            return "the IPv6 address in brackets does not parse";
        if (rb + 1 < s + len) {
            if (rb[1] != ':')
                return "expected :port after the IPv6 address";
            port = rb + 2;
            plen = len - (size_t)(port - s);
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon) {
            hlen = (size_t)(colon - s);
            port = colon + 1;
            plen = len - hlen - 1;
        }
        if (hlen == 0)
            return "the host is missing";
        if (hlen > GH_REDIS_HOST_MAX)
            return "the host is too long";
        for (size_t i = 0; i < hlen; i++) {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_'))
                return "the host must be a name or an IP address";
        }
        memcpy(t->host, s, hlen);
        t->host[hlen] = '\0';
    }
    t->port = GH_REDIS_DEFAULT_PORT;
    if (port) {
        unsigned long p = 0;
        if (plen == 0 || plen > 5)
            return "the port must be a number from 1 to 65535";
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return "the port must be a number from 1 to 65535";
            p = p * 10 + (unsigned long)(port[i] - '0');
        }
        if (p < 1 || p > 65535)
            return "the port must be a number from 1 to 65535";
        t->port = (uint16_t)p;
    }
    return NULL;
}

/* The problem with url, or NULL when it parsed into t. Never quotes the value. */
static const char *parse_redis_url(const char *url, struct gh_redis_target *t)
{
    bool unix_socket;
    const char *rest;
    memset(t, 0, sizeof *t);
    if (strncmp(url, "redis://", 8) == 0) {
        unix_socket = false;
        rest = url + 8;
    } else if (strncmp(url, "unix://", 7) == 0) {
        unix_socket = true;
        rest = url + 7;
    } else if (strncmp(url, "redis+unix://", 13) == 0) {
        unix_socket = true;
        rest = url + 13;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        return "rediss:// (TLS) is not available: Debian 12's hiredis has no TLS; reach Redis "
               "on loopback, a unix socket or a local stunnel (docs/deployment.md)";
    } else {
        return "must be redis://[user:password@]host[:port][/db] or "
               "unix://[user:password@]/path/to/redis.sock[?db=N]";
    }
    /* The authority runs to the first '/' (a password with '/', '?', '#' or '@' is
     * percent-encoded); the userinfo is everything before its last '@'. */
    size_t alen = strcspn(rest, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (rest[i] == '@')
            at = rest + i;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (!colon || colon + 1 == at)
            return "credentials must be user:password@ or :password@ (the password is "
                   "required; percent-encode special characters)";
        if (!url_decode(rest, (size_t)(colon - rest), t->user, sizeof t->user))
            return "the user is too long or badly percent-encoded";
        if (!url_decode(colon + 1, (size_t)(at - colon - 1), t->password, sizeof t->password))
            return "the password is too long or badly percent-encoded";
        alen -= (size_t)(at + 1 - rest);
        rest = at + 1;
    }
    const char *tail = rest + alen;
    if (!unix_socket) {
        const char *why = parse_redis_host(rest, alen, t);
        if (why)
            return why;
        if (*tail == '\0' || strcmp(tail, "/") == 0)
            return NULL;
        if (tail[0] != '/' || !parse_redis_db(tail + 1, strlen(tail + 1), &t->db))
            return "after the host only /DB (a database number up to 65535) may follow";
        return NULL;
    }
    if (alen != 0 || tail[0] != '/')
        return "a unix socket URL is unix:///absolute/path/redis.sock (no host)";
    size_t plen = strcspn(tail, "?#");
    if (!url_decode(tail, plen, t->path, sizeof t->path))
        return "the socket path is too long (107 bytes at most) or badly percent-encoded";
    tail += plen;
    if (*tail == '\0')
        return NULL;
    if (strncmp(tail, "?db=", 4) != 0 || !parse_redis_db(tail + 4, strlen(tail + 4), &t->db))
        return "after the socket path only ?db=N (a database number up to 65535) may follow";
    return NULL;
}

gh_err gh_config_redis_url_parse(const char *url, struct gh_redis_target *out,
                                 char err[GH_CONFIG_ERR_MAX])
{
    const char *why = url ? parse_redis_url(url, out) : "is not set";
    if (!why)
        return GH_OK;
    sodium_memzero(out, sizeof *out);
    snprintf(err, GH_CONFIG_ERR_MAX, "GATEHOUSE_REDIS_URL: %s", why);
    return GH_ERR_CONFIG;
}

gh_err gh_config_load_with(struct gh_config *cfg, gh_config_getenv_fn get, void *ctx,
                           char err[GH_CONFIG_ERR_MAX])
{
    memset(cfg, 0, sizeof *cfg);
    err[0] = '\0';
    char file_name[128];
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        const char *v = get(s->name, ctx);
        char *from_file = NULL;
        if (v && *v == '\0')
            v = NULL;
        if (s->type == T_SECRET) {
            snprintf(file_name, sizeof file_name, "%s_FILE", s->name);
            const char *path = get(file_name, ctx);
            if (path && *path) {
                if (v) {
                    snprintf(err, GH_CONFIG_ERR_MAX, "%s: set either %s or %s_FILE, not both",
                             s->name, s->name, s->name);
                    return GH_ERR_CONFIG;
                }
                gh_err rc = read_secret_file(path, &from_file);
                if (rc != GH_OK) {
                    snprintf(err, GH_CONFIG_ERR_MAX, "%s_FILE: cannot read the file (%s)", s->name,
                             gh_err_name(rc));
                    return GH_ERR_CONFIG;
                }
                v = from_file;
                if (s->offset == OFF(master_key_text) && !cfg->master_key_file) {
                    if (set_string(&cfg->master_key_file, path) != GH_OK) {
                        gh_free(from_file);
                        return GH_ERR_NOMEM;
                    }
                }
            }
        }
        if (!v)
            v = s->def;
        gh_err rc = GH_OK;
        switch (s->type) {
        case T_ENV:
            if (strcmp(v, "production") == 0)
                cfg->production = true;
            else if (strcmp(v, "development") != 0) {
                snprintf(err, GH_CONFIG_ERR_MAX, "%s: must be \"development\" or \"production\"",
                         s->name);
                return GH_ERR_CONFIG;
            }
            break;
        case T_STRING:
        case T_PATH:
        case T_SECRET:
            if (v) {
                if (strlen(v) > 4000) {
                    snprintf(err, GH_CONFIG_ERR_MAX, "%s: value is too long", s->name);
                    rc = GH_ERR_CONFIG;
                } else {
                    rc = set_string((char **)((char *)cfg + s->offset), v);
                }
            }
            break;
        case T_INT: {
            long n;
            if (parse_long(v, &n) != GH_OK) {
                snprintf(err, GH_CONFIG_ERR_MAX, "%s: must be a whole number", s->name);
                rc = GH_ERR_CONFIG;
            } else if (n < s->min || n > s->max) {
                snprintf(err, GH_CONFIG_ERR_MAX, "%s: must be between %ld and %ld", s->name, s->min,
                         s->max);
                rc = GH_ERR_CONFIG;
            } else {
                *(long *)((char *)cfg + s->offset) = n;
            }
            break;
        }
        case T_DOUBLE: {
            char *end = NULL;
            errno = 0;
            double d = strtod(v, &end);
            if (errno || !end || *end || end == v || d != d || d < (double)s->min ||
                d > (double)s->max) {
                snprintf(err, GH_CONFIG_ERR_MAX, "%s: must be a number between %ld and %ld",
                         s->name, s->min, s->max);
                rc = GH_ERR_CONFIG;
            } else {
                memcpy((char *)cfg + s->offset, &d, sizeof d);
            }
            break;
        }
        case T_BOOL:
            if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
                *(bool *)((char *)cfg + s->offset) = true;
            else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
                *(bool *)((char *)cfg + s->offset) = false;
            else {
                snprintf(err, GH_CONFIG_ERR_MAX, "%s: must be 0 or 1", s->name);
                rc = GH_ERR_CONFIG;
            }
            break;
        }
        if (from_file) {
            sodium_memzero(from_file, strlen(from_file));
            gh_free(from_file);
        }
        if (rc != GH_OK)
            return rc == GH_ERR_NOMEM ? rc : GH_ERR_CONFIG;
    }

    if (parse_listen(cfg, err) != GH_OK)
        return GH_ERR_CONFIG;
    if (cfg->http_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        bool networked = cfg->redis_url || gh_config_store_is_postgres(cfg);
        /* A thread waiting on a PostgreSQL or Redis round trip computes nothing: with a
         * networked store, more threads than CPUs keep the CPUs busy (4 on 2 cores gave 2-3x
         * the throughput of 1 in bench/SCALEOUT.md), up to the PostgreSQL pool's 8. */
        if (networked)
            cfg->http_threads = n < 4 ? 4 : n > 8 ? 8 : (int)n;
        else
            cfg->http_threads = n >= 4 ? n / 2 : 1;
    }
    if (cfg->hash_yield_threads < 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->hash_yield_threads =
            cfg->hash_threads >= 2 && cfg->hash_threads + cfg->http_threads > n ? 1 : 0;
    }
    if (cfg->hash_yield_threads >= cfg->hash_threads)
        cfg->hash_yield_threads = cfg->hash_threads - 1; /* one thread always hashes */
    if (!cfg->database_url) {
        char buf[4200];
        snprintf(buf, sizeof buf, "sqlite:%s/gatehouse.db", cfg->data_dir);
        if (set_string(&cfg->database_url, buf) != GH_OK)
            return GH_ERR_NOMEM;
    } else if (!(strncmp(cfg->database_url, "sqlite:", 7) == 0 && cfg->database_url[7] != '\0') &&
               !(strncmp(cfg->database_url, "postgresql://", 13) == 0 &&
                 cfg->database_url[13] != '\0') &&
               !(strncmp(cfg->database_url, "postgres://", 11) == 0 &&
                 cfg->database_url[11] != '\0')) {
        /* The value itself is a secret: the message names the variable, never the URL. */
        snprintf(err, GH_CONFIG_ERR_MAX,
                 "GATEHOUSE_DATABASE_URL: must be sqlite:PATH or postgresql://...");
        return GH_ERR_CONFIG;
    }
    if (cfg->redis_url) {
        /* Parsed into secure memory: the result holds the password. */
        struct gh_redis_target *rt = sodium_malloc(sizeof *rt);
        if (!rt)
            return GH_ERR_NOMEM;
        gh_err rrc = gh_config_redis_url_parse(cfg->redis_url, rt, err);
        sodium_free(rt);
        if (rrc != GH_OK)
            return rrc;
    }
    if (cfg->public_url && !url_is_http(cfg->public_url)) {
        snprintf(err, GH_CONFIG_ERR_MAX,
                 "GATEHOUSE_PUBLIC_URL: must start with https:// or http://");
        return GH_ERR_CONFIG;
    }
    if (!cfg->issuer) {
        char buf[4200];
        if (cfg->public_url)
            snprintf(buf, sizeof buf, "%s", cfg->public_url);
        else
            snprintf(buf, sizeof buf, "http://%s", cfg->listen);
        if (set_string(&cfg->issuer, buf) != GH_OK)
            return GH_ERR_NOMEM;
    }
    /* The own origin: scheme://host[:port] of PUBLIC_URL (any path dropped), else the listener. */
    if (cfg->public_url) {
        const char *host = strstr(cfg->public_url, "://") + 3;
        size_t olen = (size_t)(host - cfg->public_url) + strcspn(host, "/?#");
        if (!origin_is_valid(cfg->public_url, olen) || olen >= sizeof cfg->origin) {
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_PUBLIC_URL: must be an origin like https://auth.example.com "
                     "(lower case; optional port and path)");
            return GH_ERR_CONFIG;
        }
        memcpy(cfg->origin, cfg->public_url, olen);
        cfg->origin[olen] = '\0';
    } else {
        snprintf(cfg->origin, sizeof cfg->origin, "%s://%s", cfg->tls_cert_path ? "https" : "http",
                 cfg->listen);
    }
    if (cfg->cookie_domain && !cookie_domain_is_valid(cfg->cookie_domain)) {
        snprintf(err, GH_CONFIG_ERR_MAX,
                 "GATEHOUSE_COOKIE_DOMAIN: must be a domain name like example.com (letters, "
                 "digits, dots and hyphens; no scheme, port or leading dot)");
        return GH_ERR_CONFIG;
    }
    if (cfg->cookie_domain && !origin_host_in_domain(cfg->origin, cfg->cookie_domain)) {
        snprintf(err, GH_CONFIG_ERR_MAX,
                 "GATEHOUSE_COOKIE_DOMAIN: must be the host of GATEHOUSE_PUBLIC_URL or a parent "
                 "domain of it (browsers drop cookies for any other domain)");
        return GH_ERR_CONFIG;
    }
    if (!cors_list_is_valid(cfg->cors_origins)) {
        snprintf(err, GH_CONFIG_ERR_MAX,
                 "GATEHOUSE_CORS_ORIGINS: must be a comma-separated list of exact origins like "
                 "https://app.example.com (scheme, host, optional port; no path, no wildcard)");
        return GH_ERR_CONFIG;
    }
    if (!cidr_list_is_valid(cfg->trusted_proxies)) {
        snprintf(err, GH_CONFIG_ERR_MAX,
                 "GATEHOUSE_TRUSTED_PROXIES: must be a comma-separated list of IP addresses or "
                 "CIDR ranges like 10.0.0.0/8");
        return GH_ERR_CONFIG;
    }
    if ((cfg->tls_cert_path == NULL) != (cfg->tls_key_path == NULL)) {
        snprintf(err, GH_CONFIG_ERR_MAX,
                 "GATEHOUSE_TLS_CERT_PATH: set both GATEHOUSE_TLS_CERT_PATH and "
                 "GATEHOUSE_TLS_KEY_PATH, or neither");
        return GH_ERR_CONFIG;
    }
    if (strcmp(cfg->log_level, "debug") != 0 && strcmp(cfg->log_level, "info") != 0 &&
        strcmp(cfg->log_level, "warn") != 0 && strcmp(cfg->log_level, "error") != 0) {
        snprintf(err, GH_CONFIG_ERR_MAX, "GATEHOUSE_LOG_LEVEL: must be debug, info, warn or error");
        return GH_ERR_CONFIG;
    }
    if (cfg->production) {
        if (!cfg->sandbox) {
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_SANDBOX: the sandbox can only be turned off in development");
            return GH_ERR_CONFIG;
        }
        if (cfg->test_sandbox_probe) {
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_TEST_SANDBOX_PROBE: is a test-only setting and is refused in "
                     "production");
            return GH_ERR_CONFIG;
        }
        if (cfg->test_insecure_fast_hash) {
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_TEST_INSECURE_FAST_HASH: is a test-only setting and is refused "
                     "in production");
            return GH_ERR_CONFIG;
        }
        if (cfg->test_alloc_fail) {
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_TEST_ALLOC_FAIL: is a test-only setting and is refused in "
                     "production");
            return GH_ERR_CONFIG;
        }
        if (!listen_is_loopback(cfg) && !cfg->tls_cert_path && cfg->trusted_proxies[0] == '\0') {
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_LISTEN: a non-loopback listener in production needs TLS "
                     "(GATEHOUSE_TLS_CERT_PATH) or a TLS-terminating proxy "
                     "(GATEHOUSE_TRUSTED_PROXIES)");
            return GH_ERR_CONFIG;
        }
        if (!cfg->public_url || strncmp(cfg->public_url, "https://", 8) != 0) {
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_PUBLIC_URL: production needs the https:// origin users reach "
                     "gatehouse at");
            return GH_ERR_CONFIG;
        }
    }
    return GH_OK;
}

gh_err gh_config_load(struct gh_config *cfg, char err[GH_CONFIG_ERR_MAX])
{
    return gh_config_load_with(cfg, env_get, NULL, err);
}

static void free_secret(char **p)
{
    if (*p) {
        sodium_memzero(*p, strlen(*p));
        gh_free(*p);
        *p = NULL;
    }
}

void gh_config_release(struct gh_config *cfg)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        if (s->type == T_STRING || s->type == T_PATH || s->type == T_SECRET)
            free_secret((char **)((char *)cfg + s->offset));
    }
    free_secret(&cfg->master_key_file);
}

bool gh_config_key_is_weak(const unsigned char key[GH_MASTER_KEY_BYTES])
{
    bool all_same = true;
    for (size_t i = 1; i < GH_MASTER_KEY_BYTES; i++)
        if (key[i] != key[0])
            all_same = false;
    if (all_same)
        return true;
    unsigned char ex[GH_MASTER_KEY_BYTES];
    size_t n = 0;
    if (gh_b64_decode(example_key_b64, strlen(example_key_b64), ex, sizeof ex, &n) == GH_OK &&
        n == GH_MASTER_KEY_BYTES && sodium_memcmp(ex, key, GH_MASTER_KEY_BYTES) == 0)
        return true;
    /* A key with very few distinct byte values is not random (e.g. "abab…", ASCII digits). */
    unsigned char seen[256] = {0};
    int distinct = 0;
    for (size_t i = 0; i < GH_MASTER_KEY_BYTES; i++)
        if (!seen[key[i]]++)
            distinct++;
    return distinct < 12;
}

static gh_err decode_key(const char *text, unsigned char **out)
{
    unsigned char *k = sodium_malloc(64);
    if (!k)
        return GH_ERR_NOMEM;
    size_t n = 0;
    if (gh_b64_decode(text, strlen(text), k, 64, &n) != GH_OK || n != GH_MASTER_KEY_BYTES) {
        sodium_free(k);
        return GH_ERR_INVALID;
    }
    *out = k;
    return GH_OK;
}

/* The development key lives in <data_dir>/master.key; created with O_EXCL and mode 0600. */
static gh_err dev_key_path(const struct gh_config *cfg, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/master.key", cfg->data_dir);
    return (n < 0 || (size_t)n >= size) ? GH_ERR_CONFIG : GH_OK;
}

static gh_err dev_key_load_or_create(const struct gh_config *cfg, unsigned char **out,
                                     char err[GH_CONFIG_ERR_MAX])
{
    char path[4200];
    char *text = NULL;
    if (dev_key_path(cfg, path, sizeof path) != GH_OK)
        return GH_ERR_CONFIG;
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, GH_CONFIG_ERR_MAX, "GATEHOUSE_DATA_DIR: cannot create the data directory");
        return GH_ERR_CONFIG;
    }
    gh_err rc = read_secret_file(path, &text);
    if (rc == GH_OK) {
        rc = decode_key(text, out);
        sodium_memzero(text, strlen(text));
        gh_free(text);
        if (rc != GH_OK)
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_MASTER_KEY: the development key file in the data directory is "
                     "not 32 bytes of base64");
        return rc == GH_ERR_NOMEM ? rc : (rc == GH_OK ? GH_OK : GH_ERR_CONFIG);
    }
    unsigned char raw[GH_MASTER_KEY_BYTES];
    char b64[64];
    randombytes_buf(raw, sizeof raw);
    gh_b64_encode(raw, sizeof raw, b64, sizeof b64);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        sodium_memzero(raw, sizeof raw);
        snprintf(err, GH_CONFIG_ERR_MAX,
                 "GATEHOUSE_MASTER_KEY: not set, and the development key could not be created "
                 "in GATEHOUSE_DATA_DIR");
        return GH_ERR_CONFIG;
    }
    size_t len = strlen(b64);
    b64[len] = '\n';
    ssize_t w = write(fd, b64, len + 1);
    int sync_rc = fsync(fd);
    close(fd);
    sodium_memzero(b64, sizeof b64);
    if (w != (ssize_t)(len + 1) || sync_rc != 0) {
        sodium_memzero(raw, sizeof raw);
        unlink(path);
        snprintf(err, GH_CONFIG_ERR_MAX,
                 "GATEHOUSE_MASTER_KEY: writing the development key failed");
        return GH_ERR_CONFIG;
    }
    unsigned char *k = sodium_malloc(64);
    if (!k) {
        sodium_memzero(raw, sizeof raw);
        return GH_ERR_NOMEM;
    }
    memcpy(k, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    gh_log(GH_LOG_WARN, "no master key configured: generated a development key", NULL,
           "dev_master_key_created", json_pack("{s:s}", "path", path));
    *out = k;
    return GH_OK;
}

/* Is key equal to the development key file in the data directory (never valid in production)? */
static bool is_dev_key(const struct gh_config *cfg, const unsigned char *key)
{
    char path[4200];
    char *text = NULL;
    unsigned char *dev = NULL;
    bool same = false;
    if (dev_key_path(cfg, path, sizeof path) != GH_OK || read_secret_file(path, &text) != GH_OK)
        return false;
    if (decode_key(text, &dev) == GH_OK) {
        same = sodium_memcmp(dev, key, GH_MASTER_KEY_BYTES) == 0;
        sodium_free(dev);
    }
    sodium_memzero(text, strlen(text));
    gh_free(text);
    return same;
}

gh_err gh_config_master_key(const struct gh_config *cfg, unsigned char **out,
                            unsigned char **previous_out, char err[GH_CONFIG_ERR_MAX])
{
    unsigned char *key = NULL;
    unsigned char *prev = NULL;
    gh_err rc;
    *out = NULL;
    if (previous_out)
        *previous_out = NULL;
    if (!cfg->master_key_text) {
        if (cfg->production) {
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_MASTER_KEY: production needs an explicit master key "
                     "(GATEHOUSE_MASTER_KEY or GATEHOUSE_MASTER_KEY_FILE)");
            return GH_ERR_CONFIG;
        }
        rc = dev_key_load_or_create(cfg, &key, err);
        if (rc != GH_OK)
            return rc;
    } else {
        if (cfg->master_key_file && cfg->production) {
            struct stat st;
            if (stat(cfg->master_key_file, &st) != 0 || (st.st_mode & 077) != 0) {
                snprintf(err, GH_CONFIG_ERR_MAX,
                         "GATEHOUSE_MASTER_KEY_FILE: the key file must not be readable by group "
                         "or others (chmod 600)");
                return GH_ERR_CONFIG;
            }
        }
        if (decode_key(cfg->master_key_text, &key) != GH_OK) {
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_MASTER_KEY: must be exactly 32 bytes, base64-encoded");
            return GH_ERR_CONFIG;
        }
        if (gh_config_key_is_weak(key) || (cfg->production && is_dev_key(cfg, key))) {
            sodium_free(key);
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_MASTER_KEY: the key is weak or publicly known; generate one with "
                     "head -c32 /dev/urandom | base64");
            return GH_ERR_CONFIG;
        }
    }
    if (cfg->master_key_previous_text) {
        if (decode_key(cfg->master_key_previous_text, &prev) != GH_OK) {
            sodium_free(key);
            snprintf(err, GH_CONFIG_ERR_MAX,
                     "GATEHOUSE_MASTER_KEY_PREVIOUS: must be exactly 32 bytes, base64-encoded");
            return GH_ERR_CONFIG;
        }
    }
    *out = key;
    if (previous_out)
        *previous_out = prev;
    else
        sodium_free(prev);
    return GH_OK;
}

static const char *type_name(enum setting_type t)
{
    switch (t) {
    case T_STRING:
        return "string";
    case T_SECRET:
        return "secret";
    case T_INT:
        return "integer";
    case T_DOUBLE:
        return "number";
    case T_BOOL:
        return "0/1";
    case T_ENV:
        return "enum";
    case T_PATH:
        return "path";
    }
    return "";
}

void gh_config_print_help(FILE *f)
{
    fprintf(f, "Environment (secrets also as NAME_FILE):\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        fprintf(f, "  %-34s %-8s default: %s\n      %s\n", s->name, type_name(s->type),
                s->def ? (s->def[0] ? s->def : "(empty)") : "(unset)", s->help);
    }
}

void gh_config_print_markdown(FILE *f)
{
    fprintf(f, "| Variable | Type | Default | Range | Description |\n");
    fprintf(f, "|---|---|---|---|---|\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        char range[64] = "";
        if (s->type == T_INT || s->type == T_DOUBLE)
            snprintf(range, sizeof range, "%ld–%ld", s->min, s->max);
        fprintf(f, "| `%s`%s | %s | %s | %s | %s |\n", s->name,
                s->type == T_SECRET ? " (also `_FILE`)" : "", type_name(s->type),
                s->def ? (s->def[0] ? s->def : "(empty)") : "(unset)", range, s->help);
    }
}

bool gh_config_store_is_postgres(const struct gh_config *cfg)
{
    return cfg->database_url && strncmp(cfg->database_url, "postgres", 8) == 0;
}
