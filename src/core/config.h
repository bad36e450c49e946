/* Configuration: one declarative table of GATEHOUSE_* settings drives environment parsing,
 * NAME_FILE secrets, validation, --help and docs/configuration.md. Secrets are never printed.
 * Lifetime: one gh_config per process, filled before anything binds, freed at exit. */
#ifndef GH_CORE_CONFIG_H
#define GH_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

#define GH_MASTER_KEY_BYTES 32
#define GH_CONFIG_ERR_MAX 512

struct gh_config {
    bool production;
    char *listen;      /* host:port as given */
    char listen_host[256];
    uint16_t listen_port;
    char *database_url; /* secret */
    char *data_dir;
    char *master_key_text;          /* secret: base64 text as configured, or NULL */
    char *master_key_previous_text; /* secret */
    char *master_key_file;          /* path the key came from, if any (for permission checks) */
    char *public_url;
    char *issuer;
    char *audience;
    long access_token_ttl;
    long session_idle_timeout;
    long session_max_lifetime;
    char *trusted_proxies;
    char *cors_origins;
    char *cookie_domain; /* NULL: host-only __Host- session cookie */
    char origin[300];    /* gatehouse's own origin (scheme://host[:port]), from PUBLIC_URL/LISTEN */
    bool web_pages;
    bool ratelimit_api_shared;
    bool sandbox;
    long max_connections_per_ip; /* -1: automatic */
    char *run_as;              /* GATEHOUSE_USER: NULL when unset */
    char *test_sandbox_probe;  /* test only */
    char *redis_url; /* secret */
    char *backup_key_text; /* secret: base64 32 bytes, optional */
    char *introspection_clients;          /* secret: "id:secret,..." */
    char *introspection_clients_previous; /* secret: accepted during a rotation */
    long backup_retention_days;
    long max_body_bytes;
    long http_threads;
    long hash_threads;
    long hash_yield_threads; /* resolved: never -1 after gh_config_load */
    long hash_queue;
    long argon2_opslimit;
    long argon2_memlimit_kib;
    bool test_insecure_fast_hash;
    bool test_alloc_fail; /* test only: honour X-Gatehouse-Test-Alloc-Fail */
    long token_cache_size;
    char *metrics_listen; /* "" or host:port */
    char metrics_host[256];
    uint16_t metrics_port;
    long key_publish_ahead;
    long rate_per_min[5]; /* api, login, register, refresh, password */
    long rate_burst[5];
    long ratelimit_max_keys;
    long password_min_length;
    double password_min_entropy;
    char *breached_passwords_path;
    long audit_checkpoint_every;
    long audit_checkpoint_seconds;
    long lockout_threshold;
    long lockout_base_seconds;
    long lockout_max_seconds;
    long key_rotate_interval;
    char *tls_cert_path;
    char *tls_key_path;
    char *log_level;
};

/* Fill cfg from the environment (getenv), NAME_FILE for secrets, then validate.
 * On failure err (GH_CONFIG_ERR_MAX bytes) names the variable and the problem — never a value
 * of a secret. */
/* Is GATEHOUSE_DATABASE_URL a PostgreSQL URL (else the store is SQLite)? */
bool gh_config_store_is_postgres(const struct gh_config *cfg);

GH_MUST_USE gh_err gh_config_load(struct gh_config *cfg, char err[GH_CONFIG_ERR_MAX]);

/* Same, reading variables through a lookup function (tests). */
typedef const char *(*gh_config_getenv_fn)(const char *name, void *ctx);
GH_MUST_USE gh_err gh_config_load_with(struct gh_config *cfg, gh_config_getenv_fn get, void *ctx,
                                       char err[GH_CONFIG_ERR_MAX]);

void gh_config_release(struct gh_config *cfg);

/* The master key as 32 bytes in sodium_malloc memory (caller sodium_free's it). In development
 * without a configured key, generates <data_dir>/master.key (mode 0600) and says so in the log.
 * Production refusals (no key, group/other-readable file, wrong length, weak/known key) are
 * reported through err naming GATEHOUSE_MASTER_KEY. previous_out may be NULL; *previous_out is
 * NULL when no previous key is configured. */
GH_MUST_USE gh_err gh_config_master_key(const struct gh_config *cfg, unsigned char **out,
                                        unsigned char **previous_out, char err[GH_CONFIG_ERR_MAX]);

/* GATEHOUSE_REDIS_URL, parsed (validated here at load; auth/ratelimit_redis.c connects with
 * it). Holds the password: callers keep it in sodium_malloc memory and wipe it. */
#define GH_REDIS_HOST_MAX 255
#define GH_REDIS_PATH_MAX 107 /* sun_path less its NUL */
#define GH_REDIS_USER_MAX 128
#define GH_REDIS_PASSWORD_MAX 512
#define GH_REDIS_DEFAULT_PORT 6379
struct gh_redis_target {
    char host[GH_REDIS_HOST_MAX + 1];         /* TCP: name or address ("" for a unix socket) */
    char path[GH_REDIS_PATH_MAX + 1];         /* unix socket: absolute path ("" for TCP) */
    char user[GH_REDIS_USER_MAX + 1];         /* ACL user; "" is Redis's default user */
    char password[GH_REDIS_PASSWORD_MAX + 1]; /* secret; "" sends no AUTH */
    uint16_t port;
    unsigned db;
};

/* Parse redis://[[user]:password@]host[:port][/db] (IPv6 as [::1]) or, for a unix socket,
 * unix://[[user]:password@]/path/redis.sock[?db=N] (also redis+unix://); user and password
 * percent-decoded. rediss:// is refused (Debian 12's hiredis has no TLS). On failure err
 * names GATEHOUSE_REDIS_URL and the problem, never the value. */
GH_MUST_USE gh_err gh_config_redis_url_parse(const char *url, struct gh_redis_target *out,
                                             char err[GH_CONFIG_ERR_MAX]);

/* Is this 32-byte key weak or publicly known (all one byte, the documented example key)? */
bool gh_config_key_is_weak(const unsigned char key[GH_MASTER_KEY_BYTES]);

/* Print the settings table (--help) or write it as Markdown (docs/configuration.md). */
void gh_config_print_help(FILE *f);
void gh_config_print_markdown(FILE *f);

#endif
