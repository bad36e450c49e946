/* gatehouse entry point: argv, configuration, then one subcommand (serve, migrate, keys, users,
 * sessions). Start-up failures print a message naming the problem and exit non-zero; secrets
 * are never printed. serve: validate config, open storage, load keys, bind, run until signal. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <signal.h>
#include <termios.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/app.h"
#include "auth/keys.h"
#include "data/audit.h"
#include "auth/users_import.h"
#include "core/config.h"
#include "api/doctor.h"
#include "api/web.h"
#include "data/backup.h"
#include "data/pii.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http.h"
#include "store/store.h"
#include "sys/sandbox.h"
#include "core/banned.h"

static volatile sig_atomic_t stop_requested, reload_requested;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gatehouse COMMAND [ARGS]\n\n"
            "Commands (each reads the same environment as serve):\n"
            "  serve                     serve the HTTP API (default)\n"
            "  migrate                   apply pending database migrations\n"
            "  keys list                 list signing keys and their states\n"
            "  keys rotate [SECONDS]     add a signing key, published in the JWKS at once, that\n"
            "                            signs after SECONDS (default\n"
            "                            GATEHOUSE_SIGNING_KEY_PUBLISH_AHEAD; 0: at once)\n"
            "  keys rotate-master        re-wrap every stored key under a new master key\n"
            "  keys revoke KID           withdraw a signing key at once: removed from the\n"
            "                            JWKS, every token it signed refused\n"
            "  users import FILE         import JSON lines {\"email\",\"password_hash\"}\n"
            "                            (bcrypt, argon2, Django formats); all or nothing\n"
            "  users unlock ID           lift a user's login lock at once\n"
            "  users create-admin EMAIL [--promote]\n"
            "                            create an admin account (password: one line on\n"
            "                            stdin, never an argument); --promote gives the role\n"
            "                            to an existing account instead\n"
            "  users demote ID           remove the admin role at once\n"
            "  users erase ID            erase a user (sessions, data key, rows)\n"
            "  users contacts [IDS_FILE] contact addresses for breach notification (audited)\n"
            "  sessions revoke-all       revoke every session of every user\n"
            "  audit verify [--pubkey F] check the audit chain and every signed checkpoint\n"
            "  audit export [--pubkey]   the audit trail as JSON lines (or its public key)\n"
            "  audit prune --before DATE delete the chain's prefix, leaving a signed anchor\n"
            "  backup create FILE        encrypted online backup of the database (SQLite,\n"
            "                            or PostgreSQL through pg_dump)\n"
            "  backup restore FILE       verify and restore into a stopped deployment;\n"
            "                            erased users stay erased\n"
            "  doctor                    check this deployment against the guidelines:\n"
            "                            one PASS/WARN/FAIL line each; exit 0/1/2 (worst)\n"
            "  config-docs               print the settings table as Markdown\n"
            "  help, --help              this text and the settings\n\n"
            "Operator commands work while serve runs.\n\n");
    gh_config_print_help(f);
}

static int fail(const char *msg)
{
    fprintf(stderr, "gatehouse: %s\n", msg);
    return 1;
}

static int fail_err(const char *what, gh_err rc)
{
    fprintf(stderr, "gatehouse: %s: %s\n", what, gh_err_name(rc));
    return 1;
}

static void set_log_level(const struct gh_config *cfg)
{
    if (strcmp(cfg->log_level, "debug") == 0)
        gh_log_set_level(GH_LOG_DEBUG);
    else if (strcmp(cfg->log_level, "warn") == 0)
        gh_log_set_level(GH_LOG_WARN);
    else if (strcmp(cfg->log_level, "error") == 0)
        gh_log_set_level(GH_LOG_ERROR);
    else
        gh_log_set_level(GH_LOG_INFO);
}

/* Open the store and key wrapping for operator commands. */
static int open_ops(const struct gh_config *cfg, struct gh_store **s, struct gh_keywrap **kw)
{
    char err[GH_CONFIG_ERR_MAX];
    unsigned char *master = NULL, *prev = NULL;
    gh_err rc = gh_config_master_key(cfg, &master, &prev, err);
    if (rc != GH_OK)
        return fail(err);
    rc = gh_keywrap_new(master, prev, kw);
    sodium_free(master);
    sodium_free(prev);
    if (rc != GH_OK)
        return fail_err("key setup failed", rc);
    if ((rc = gh_store_open(cfg->database_url, s)) != GH_OK)
        return fail_err("cannot open the database (GATEHOUSE_DATABASE_URL)", rc);
    if ((rc = gh_store_migrate(*s, NULL)) != GH_OK)
        return fail_err("database migration failed", rc);
    return 0;
}

/* Read a PEM file (certificate or private key) into secure memory. */
static int read_pem(const char *path, char **out)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char *buf = sodium_malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    int bad = !buf || ferror(f) || n == 0 || n == 65535;
    (void)fclose(f); /* opened read-only: a close error loses no data */
    if (bad) {
        if (buf)
            sodium_free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

static void pem_free(char *p)
{
    if (p) {
        sodium_memzero(p, 65536);
        sodium_free(p);
    }
}

/* Append an operator action to the audit chain (and sign a checkpoint at once: operator
 * commands are rare and each should be anchored). Failure is reported, not fatal: the action
 * itself already happened. */
static void cli_audit(const struct gh_config *cfg, const char *action, const char *target,
                      const char *outcome)
{
    struct gh_store *s = NULL;
    struct gh_keywrap *kw = NULL;
    struct gh_audit *a = NULL;
    gh_err rc = GH_ERR_INTERNAL;
    if (open_ops(cfg, &s, &kw) == 0 && (rc = gh_audit_new(s, kw, NULL, gh_now(), &a)) == GH_OK) {
        struct gh_audit_event ev = {
            .action = action, .actor = "operator", .target = target, .outcome = outcome};
        rc = gh_audit_append(a, &ev);
        gh_err crc = gh_audit_close(a);
        if (rc == GH_OK)
            rc = crc;
    }
    if (rc != GH_OK)
        fprintf(stderr, "gatehouse: warning: the audit event could not be recorded (%s)\n",
                gh_err_name(rc));
    gh_keywrap_free(kw);
    gh_store_free(s);
}

/* The personal-data keys for operator commands that read or write user profiles. */
static int open_pii(struct gh_store *s, struct gh_keywrap *kw, struct gh_pii **out)
{
    unsigned char *index_key = sodium_malloc(32);
    if (!index_key)
        return fail_err("key setup failed", GH_ERR_NOMEM);
    gh_err rc = gh_keys_working_key(s, kw, "email_index", gh_now(), index_key);
    if (rc == GH_OK)
        rc = gh_pii_new(kw, index_key, out);
    if (rc == GH_OK)
        rc = gh_pii_seal_legacy_users(s, *out);
    sodium_free(index_key);
    return rc == GH_OK ? 0 : fail_err("personal-data keys could not be loaded", rc);
}

/* Connections are file descriptors: raise the soft descriptor limit to the hard one, keep the
 * connection cap below what is really available (room for the database, logs and key files),
 * and cap what one TCP peer may hold, so that idle connections from one address (slowloris)
 * cannot exhaust them. */
static void connection_limits(const struct gh_config *cfg, struct gh_http_options *opt)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl); /* best effort: the cap below uses what is */
            (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        rlim_t avail = rl.rlim_cur > 256 ? rl.rlim_cur - 128 : rl.rlim_cur / 2;
        opt->max_connections = avail < 4096 ? (unsigned)avail : 4096u;
    }
    long per_ip = cfg->max_connections_per_ip;
    if (per_ip < 0)
        per_ip = cfg->trusted_proxies[0] ? 0 : 256;
    opt->per_ip_connections = (unsigned)per_ip;
    gh_log(GH_LOG_INFO, "connection limits", NULL, "connection_limits",
           json_pack("{s:i,s:i}", "max_connections", (int)opt->max_connections,
                     "per_ip_connections", (int)opt->per_ip_connections));
}

/* SIGHUP: read the certificate and key files again and use them for new connections; on any
 * failure keep serving with the ones in use and say so. */
static void reload_tls(const struct gh_config *cfg, struct gh_http_server *srv)
{
    if (!cfg->tls_cert_path) {
        gh_log(GH_LOG_INFO, "SIGHUP: no TLS configured, nothing to reload", NULL, "tls_reload",
               json_pack("{s:s}", "outcome", "no_tls"));
        return;
    }
    char *cert = NULL, *key = NULL;
    gh_err rc = GH_ERR_IO;
    if (read_pem(cfg->tls_cert_path, &cert) == 0 && read_pem(cfg->tls_key_path, &key) == 0)
        rc = gh_http_reload_tls(srv, cert, key);
    pem_free(cert);
    pem_free(key);
    if (rc == GH_OK)
        gh_log(GH_LOG_INFO, "TLS certificate reloaded", NULL, "tls_reload",
               json_pack("{s:s}", "outcome", "reloaded"));
    else
        gh_log(GH_LOG_ERROR,
               "TLS reload failed (unreadable, unparsable or mismatched certificate and key); "
               "still serving the previous certificate",
               NULL, "tls_reload", json_pack("{s:s}", "outcome", "kept_previous"));
}

/* Leave root (GATEHOUSE_USER) and enter the seccomp sandbox; everything serve needs is open
 * by now. Returns 0, or 1 after saying why. */
static int enter_sandbox(const struct gh_config *cfg)
{
    char err[GH_SANDBOX_ERR_MAX];
    if (geteuid() == 0) {
        if (cfg->run_as) {
            uid_t uid;
            gid_t gid;
            char files[7][4200];
            const char *list[8] = {NULL};
            static const char *const suffix[] = {"",       "-wal",      "-shm", "-journal",
                                                 "-epoch", "-erasures", "-lock"};
            size_t n = 0;
            if (strncmp(cfg->database_url, "sqlite:", 7) == 0)
                for (; n < 7; n++) {
                    snprintf(files[n], sizeof files[n], "%s%s", cfg->database_url + 7, suffix[n]);
                    list[n] = files[n];
                }
            if (gh_sandbox_resolve_user(cfg->run_as, &uid, &gid, err) != GH_OK ||
                gh_sandbox_drop_privileges(uid, gid, cfg->data_dir, list, err) != GH_OK)
                return fail(err);
            gh_log(GH_LOG_INFO, "privileges dropped", NULL, "privileges_dropped",
                   json_pack("{s:I,s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid));
        } else if (cfg->production) {
            return fail("GATEHOUSE_USER: production refuses to serve as root; name the "
                        "unprivileged user to switch to");
        } else {
            gh_log(GH_LOG_WARN, "serving as root (development); set GATEHOUSE_USER", NULL,
                   "running_as_root", NULL);
        }
    }
    if (!cfg->sandbox) {
        gh_log(GH_LOG_WARN, "sandbox off (GATEHOUSE_SANDBOX=false, development only)", NULL,
               "sandbox_off", NULL);
    } else if (!gh_sandbox_supported()) {
        if (cfg->production)
            return fail("GATEHOUSE_SANDBOX: this is a sanitizer build, which cannot be "
                        "sandboxed; use the release build in production");
        gh_log(GH_LOG_WARN, "sandbox unavailable in a sanitizer build", NULL,
               "sandbox_unavailable", NULL);
    } else {
        /* PostgreSQL (and later Redis) reconnect: client sockets only, never listening. */
        bool net_client = strncmp(cfg->database_url, "sqlite:", 7) != 0 || cfg->redis_url;
        if (gh_sandbox_enter(net_client, err) != GH_OK)
            return fail(err);
        gh_log(GH_LOG_INFO, "sandbox enabled", NULL, "sandbox_enabled",
               json_pack("{s:b}", "no_new_privs", 1));
    }
    if (cfg->test_sandbox_probe) {
        gh_log(GH_LOG_WARN, "sandbox probe (test)", NULL, "sandbox_probe",
               json_pack("{s:s}", "action", cfg->test_sandbox_probe));
        if (gh_sandbox_probe(cfg->test_sandbox_probe) != GH_OK)
            return fail("GATEHOUSE_TEST_SANDBOX_PROBE: unknown action");
        gh_log(GH_LOG_WARN, "sandbox probe survived", NULL, "sandbox_probe_survived",
               json_pack("{s:s}", "action", cfg->test_sandbox_probe));
    }
    return 0;
}

static int cmd_serve(const struct gh_config *cfg)
{
    char err[GH_CONFIG_ERR_MAX];
    unsigned char *master = NULL, *prev = NULL;
    struct gh_app app;
    struct gh_http_server *srv = NULL, *metrics_srv = NULL;
    int code = 1;
    char *cert_pem = NULL, *key_pem = NULL;
    int lock_fd = -1;
    memset(&app, 0, sizeof app);
    gh_err rc = gh_config_master_key(cfg, &master, &prev, err);
    if (rc != GH_OK)
        return fail(err);
    /* Hold a shared lock on "<db>-lock" while serving: `backup restore` refuses to replace the
     * database under a running server. */
    if (strncmp(cfg->database_url, "sqlite:", 7) == 0) {
        char lockp[4200];
        snprintf(lockp, sizeof lockp, "%s-lock", cfg->database_url + 7);
        lock_fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lock_fd < 0 || flock(lock_fd, LOCK_SH | LOCK_NB) != 0) {
            sodium_free(master);
            sodium_free(prev);
            return fail("cannot lock the database (a restore is running?)");
        }
    }
    rc = gh_app_init(&app, cfg, master, prev);
    sodium_free(master);
    sodium_free(prev);
    if (rc != GH_OK) {
        fail_err("start-up failed", rc);
        goto out;
    }
    if (cfg->tls_cert_path && (read_pem(cfg->tls_cert_path, &cert_pem) != 0 ||
                               read_pem(cfg->tls_key_path, &key_pem) != 0)) {
        fail("cannot read GATEHOUSE_TLS_CERT_PATH or GATEHOUSE_TLS_KEY_PATH");
        goto out;
    }
    struct gh_http_options opt = {.host = cfg->listen_host,
                                  .port = cfg->listen_port,
                                  .threads = (unsigned)cfg->http_threads,
                                  .max_body = (size_t)cfg->max_body_bytes,
                                  .tls_cert_pem = cert_pem,
                                  .tls_key_pem = key_pem,
                                  .metrics = app.metrics,
                                  .trusted_proxies = app.trusted_proxies,
                                  .guard = gh_api_guard,
                                  .cors_origins = cfg->cors_origins,
                                  .assets = cfg->web_pages ? gh_web_assets : NULL,
                                  .nassets = cfg->web_pages ? gh_web_asset_count() : 0};
    connection_limits(cfg, &opt);
    if ((rc = gh_http_start(&opt, gh_api_routes, gh_api_nroutes, &app, &srv)) != GH_OK) {
        fail_err(cert_pem ? "cannot listen on GATEHOUSE_LISTEN with the configured TLS "
                            "certificate and key"
                          : "cannot listen on GATEHOUSE_LISTEN",
                 rc);
        goto out;
    }
    if (cfg->metrics_listen[0]) {
        struct gh_http_options mopt = {
            .host = cfg->metrics_host, .port = cfg->metrics_port, .threads = 1, .max_body = 1024};
        if ((rc = gh_http_start(&mopt, gh_api_metrics_routes, gh_api_metrics_nroutes, &app,
                                &metrics_srv)) != GH_OK) {
            fail_err("cannot listen on GATEHOUSE_METRICS_LISTEN", rc);
            goto out;
        }
        gh_log(GH_LOG_INFO, "metrics listening", NULL, "metrics_listening",
               json_pack("{s:s,s:i}", "host", cfg->metrics_host, "port",
                         (int)gh_http_port(metrics_srv)));
    }
    if ((rc = gh_app_start_ticker(&app)) != GH_OK) {
        fail_err("start-up failed", rc);
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    (void)signal(SIGPIPE, SIG_IGN); /* cannot fail: a valid signal and disposition */
    if (enter_sandbox(cfg) != 0)
        goto out;
    char port[16];
    snprintf(port, sizeof port, "%u", (unsigned)gh_http_port(srv));
    gh_log(GH_LOG_INFO, "listening", NULL, "listening",
           json_pack("{s:s,s:i,s:b,s:s}", "host", cfg->listen_host, "port", (int)gh_http_port(srv),
                     "tls", cert_pem != NULL, "mode",
                     cfg->production ? "production" : "development"));
    while (!stop_requested) {
        pause();
        if (reload_requested && !stop_requested) {
            reload_requested = 0;
            reload_tls(cfg, srv);
        }
    }
    gh_log(GH_LOG_INFO, "shutting down", NULL, "shutdown", NULL);
    code = 0;
out:
    /* Stop the HTTP side first so no request reaches a released pool or store. */
    gh_http_drain(srv, 10000);
    gh_http_stop(metrics_srv);
    gh_http_stop(srv);
    gh_app_release(&app);
    pem_free(cert_pem);
    pem_free(key_pem);
    if (lock_fd >= 0)
        close(lock_fd);
    return code;
}

static int cmd_migrate(const struct gh_config *cfg)
{
    struct gh_store *s = NULL;
    int applied = 0, version = 0;
    gh_err rc = gh_store_open(cfg->database_url, &s);
    if (rc != GH_OK)
        return fail_err("cannot open the database (GATEHOUSE_DATABASE_URL)", rc);
    rc = gh_store_migrate(s, &applied);
    if (rc == GH_OK)
        rc = gh_store_schema_version(s, &version);
    gh_store_free(s);
    if (rc != GH_OK)
        return fail_err("migration failed", rc);
    printf("migrations applied: %d; schema version %d\n", applied, version);
    return 0;
}

static int cmd_keys(const struct gh_config *cfg, int argc, char **argv)
{
    struct gh_store *s = NULL;
    struct gh_keywrap *kw = NULL;
    int code = 1;
    if (argc < 1 || strcmp(argv[0], "--help") == 0) {
        printf("usage: gatehouse keys list | rotate [SECONDS] | revoke KID | rotate-master\n"
               "  rotate: the new key is published now and signs after SECONDS (default\n"
               "  GATEHOUSE_SIGNING_KEY_PUBLISH_AHEAD, 600); the old key stays published until\n"
               "  its last token expires.\n"
               "  revoke: emergency withdrawal; every token the key signed is refused at once.\n"
               "  rotate-master: with GATEHOUSE_MASTER_KEY=new and _PREVIOUS=old, re-wrap every\n"
               "  stored key under the new master key while the service runs (no data is\n"
               "  re-encrypted); then remove _PREVIOUS and restart.\n");
        return argc < 1 ? 2 : 0;
    }
    if (open_ops(cfg, &s, &kw) != 0)
        goto out;
    int64_t now = gh_now();
    gh_err rc;
    if (strcmp(argv[0], "list") == 0) {
        if ((rc = gh_keys_ensure(s, kw, now)) != GH_OK ||
            (rc = gh_keys_print(s, now, cfg->access_token_ttl, stdout)) != GH_OK) {
            fail_err("listing keys failed", rc);
            goto out;
        }
    } else if (strcmp(argv[0], "rotate") == 0) {
        long in = cfg->key_publish_ahead;
        if (argc > 1) {
            char *end = NULL;
            errno = 0;
            in = strtol(argv[1], &end, 10);
            if (errno || !end || *end || in < 0 || in > 31536000) {
                fail("keys rotate: SECONDS must be a whole number from 0 to 31536000");
                goto out;
            }
        }
        char kid[GH_KID_MAX + 1];
        if ((rc = gh_keys_rotate(s, kw, now, in, kid)) != GH_OK) {
            fail_err("key rotation failed", rc);
            goto out;
        }
        cli_audit(cfg, "key_rotated", kid, "success");
        printf("new signing key %s: published now, signs from %ld s from now\n", kid, in);
    } else if (strcmp(argv[0], "rotate-master") == 0 && argc == 1) {
        if (!cfg->master_key_previous_text) {
            fail("keys rotate-master: set GATEHOUSE_MASTER_KEY to the new key and "
                 "GATEHOUSE_MASTER_KEY_PREVIOUS to the old one");
            goto out;
        }
        long rewrapped = 0, left = 0;
        if ((rc = gh_keys_rotate_master(s, kw, &rewrapped, &left)) != GH_OK) {
            fail_err("master-key rotation failed (nothing is lost: run it again)", rc);
            goto out;
        }
        gh_log_security(
            GH_LOG_INFO, "master_key_rotated", NULL, NULL, NULL,
            json_pack("{s:I,s:I}", "rewrapped", (json_int_t)rewrapped, "left", (json_int_t)left));
        if (left > 0) {
            fprintf(stderr,
                    "gatehouse: keys rotate-master: %ld wrapped keys are still under the old "
                    "master key (an instance still runs with it?): restart every instance with "
                    "the new key and run this again\n",
                    left);
            goto out;
        }
        cli_audit(cfg, "master_key_rotated", "", "success");
        printf("master key rotated: %ld wrapped keys re-wrapped; every key is now under the new "
               "master key — remove GATEHOUSE_MASTER_KEY_PREVIOUS and restart\n",
               rewrapped);
    } else if (strcmp(argv[0], "revoke") == 0 && argc == 2) {
        rc = gh_keys_revoke(s, kw, argv[1], now);
        if (rc == GH_ERR_NOT_FOUND) {
            fail("keys revoke: no such key (or already revoked)");
            goto out;
        }
        if (rc != GH_OK) {
            fail_err("key revocation failed", rc);
            goto out;
        }
        cli_audit(cfg, "key_revoked", argv[1], "success");
        printf("key %s revoked: removed from the JWKS and its tokens refused\n", argv[1]);
    } else {
        fail("usage: gatehouse keys list | rotate [SECONDS] | revoke KID | rotate-master");
        goto out;
    }
    code = 0;
out:
    gh_keywrap_free(kw);
    gh_store_free(s);
    return code;
}

/* Lift every lock of a user (the account's and its known devices') and forget their failures. */
static int cmd_users_unlock(const struct gh_config *cfg, const char *id)
{
    if (!gh_id_is_valid(id))
        return fail("users unlock: ID must be a user id (22 characters, as in GET /v1/me)");
    struct gh_store *s = NULL;
    struct gh_user u;
    long n = 0;
    gh_err rc = gh_store_open(cfg->database_url, &s);
    if (rc == GH_OK)
        rc = gh_store_migrate(s, NULL);
    if (rc == GH_OK)
        rc = gh_store_user_get(s, id, &u);
    if (rc == GH_OK)
        rc = gh_store_throttle_clear_user(s, id, &n);
    gh_store_free(s);
    if (rc == GH_ERR_NOT_FOUND)
        return fail("users unlock: no such user");
    if (rc != GH_OK)
        return fail_err("users unlock failed", rc);
    gh_log_security(GH_LOG_INFO, "account_unlocked", NULL, id, NULL,
                    json_pack("{s:s,s:I}", "by", "operator", "budgets_cleared", (json_int_t)n));
    cli_audit(cfg, "admin_unlock", id, "success");
    printf("user %s unlocked\n", id);
    return 0;
}

/* Erase a user (operator request, e.g. a deletion request received by mail): sessions revoked,
 * data key destroyed with the row, ledger entry written so restored backups stay erased. */
static int cmd_users_erase(const struct gh_config *cfg, const char *id)
{
    if (!gh_id_is_valid(id))
        return fail("users erase: ID must be a user id (22 characters, as in GET /v1/me)");
    struct gh_store *s = NULL;
    gh_err rc = gh_store_open(cfg->database_url, &s);
    if (rc == GH_OK)
        rc = gh_store_migrate(s, NULL);
    if (rc == GH_OK)
        rc = gh_store_user_erase(s, id, gh_now());
    gh_store_free(s);
    if (rc == GH_ERR_NOT_FOUND)
        return fail("users erase: no such user");
    if (rc != GH_OK)
        return fail_err("users erase failed", rc);
    gh_log_security(GH_LOG_INFO, "user_erased", NULL, id, NULL,
                    json_pack("{s:s}", "by", "operator"));
    cli_audit(cfg, "erasure", id, "success");
    printf("user %s erased\n", id);
    return 0;
}

/* One line of stdin (the password of `users create-admin`) into sodium_malloc memory, without
 * its line ending. Read a byte at a time so that no copy stays behind in a stdio buffer; echo is
 * off when stdin is a terminal. *out is the caller's to wipe and sodium_free. */
static int read_password_line(char **out, size_t *out_len)
{
    const size_t max = 1024; /* as GH_PASSWORD_MAX_BYTES for the HTTP API */
    struct termios saved, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    char *buf = sodium_malloc(max + 1);
    size_t n = 0;
    bool too_long = false;
    if (!buf)
        return fail_err("reading the password failed", GH_ERR_NOMEM);
    if (tty) {
        fputs("password for the admin account (one line): ", stderr);
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    for (;;) {
        char ch;
        ssize_t r = read(STDIN_FILENO, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (ch == '\n')
            break;
        if (n < max)
            buf[n++] = ch;
        else
            too_long = true;
    }
    if (tty) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputs("\n", stderr);
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (too_long || n == 0) {
        sodium_memzero(buf, max + 1);
        sodium_free(buf);
        return fail(too_long ? "users create-admin: the password is longer than 1024 bytes"
                             : "users create-admin: give the password as one line on stdin");
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* `users create-admin EMAIL [--promote]`: a new admin account (password from stdin, checked
 * like a registration), or with --promote the role for the existing account of EMAIL. The
 * whole application context is opened so that the same policy, hashing parameters and
 * personal-data keys as the server's apply. Prints the user id. */
static int cmd_users_create_admin(const struct gh_config *cfg, const char *email, bool promote)
{
    char err[GH_CONFIG_ERR_MAX], id[GH_ID_LEN + 1] = "";
    unsigned char *master = NULL, *prev = NULL;
    struct gh_app app;
    struct gh_user u;
    char *pw = NULL;
    size_t pw_len = 0;
    const char *why = NULL, *action = "admin_created";
    int code = 1;
    memset(&app, 0, sizeof app);
    memset(&u, 0, sizeof u);
    if (gh_config_master_key(cfg, &master, &prev, err) != GH_OK)
        return fail(err);
    gh_err rc = gh_app_init(&app, cfg, master, prev);
    sodium_free(master);
    sodium_free(prev);
    if (rc != GH_OK) {
        fail_err("users create-admin: start-up failed", rc);
        goto out;
    }
    rc = gh_api_user_find_by_email(&app, email, &u, &why);
    if (rc == GH_OK) {
        memcpy(id, u.id, sizeof id);
        if (!promote) {
            fail("users create-admin: an account with this email exists (nothing changed); "
                 "add --promote to give it the admin role");
            goto out;
        }
        action = "admin_granted";
        rc = gh_store_user_set_admin(app.store, id, true);
    } else if (rc == GH_ERR_NOT_FOUND) {
        if (read_password_line(&pw, &pw_len) != 0)
            goto out;
        rc = gh_api_admin_create(&app, email, pw, pw_len, id, &why);
        if (rc == GH_ERR_CONFLICT) {
            fail("users create-admin: an account with this email was created meanwhile; run "
                 "again with --promote");
            goto out;
        }
    }
    if (rc == GH_ERR_INVALID) {
        fprintf(stderr, "gatehouse: users create-admin: %s %s\n", pw ? "the password" : "EMAIL",
                why ? why : "is not valid");
        goto out;
    }
    if (rc != GH_OK) {
        fail_err("users create-admin failed", rc);
        goto out;
    }
    code = 0;
out:
    if (pw) {
        sodium_memzero(pw, pw_len);
        sodium_free(pw);
    }
    sodium_memzero(&u, sizeof u);
    gh_app_release(&app);
    if (code != 0)
        return code;
    gh_log_security(GH_LOG_INFO, "admin_role_granted", NULL, id, NULL,
                    json_pack("{s:s,s:b}", "by", "operator", "new_account",
                              strcmp(action, "admin_created") == 0));
    cli_audit(cfg, action, id, "success");
    fprintf(stderr, "gatehouse: %s\n",
            strcmp(action, "admin_granted") == 0 ? "the existing account is now an admin"
                                                 : "admin account created");
    printf("%s\n", id);
    return 0;
}

/* `users demote ID`: remove the admin role; the next admin request of that user is refused. */
static int cmd_users_demote(const struct gh_config *cfg, const char *id)
{
    if (!gh_id_is_valid(id))
        return fail("users demote: ID must be a user id (22 characters, as in GET /v1/me)");
    struct gh_store *s = NULL;
    gh_err rc = gh_store_open(cfg->database_url, &s);
    if (rc == GH_OK)
        rc = gh_store_migrate(s, NULL);
    if (rc == GH_OK)
        rc = gh_store_user_set_admin(s, id, false);
    gh_store_free(s);
    if (rc == GH_ERR_NOT_FOUND)
        return fail("users demote: no such user");
    if (rc != GH_OK)
        return fail_err("users demote failed", rc);
    gh_log_security(GH_LOG_INFO, "admin_role_removed", NULL, id, NULL,
                    json_pack("{s:s}", "by", "operator"));
    cli_audit(cfg, "admin_demoted", id, "success");
    printf("user %s is no longer an admin\n", id);
    return 0;
}

struct contacts_ctx {
    const struct gh_pii *pii;
    char **only; /* NULL: everyone */
    size_t nonly;
    long printed;
};

static gh_err contact_cb(struct gh_user *u, void *vctx)
{
    struct contacts_ctx *c = vctx;
    bool wanted = !c->only;
    for (size_t i = 0; i < c->nonly && !wanted; i++)
        wanted = strcmp(c->only[i], u->id) == 0;
    if (!wanted)
        return GH_OK;
    if (gh_pii_open_user(c->pii, u) != GH_OK) {
        fprintf(stderr, "gatehouse: users contacts: the profile of %s does not open\n", u->id);
        return GH_OK;
    }
    printf("%s\t%s\n", u->id, u->email);
    sodium_memzero(u->email, sizeof u->email);
    c->printed++;
    return GH_OK;
}

/* Incident response: the contact addresses of all users, or of the ids listed one per line in
 * FILE, for breach notification. Prints personal data to stdout on purpose: audited. */
static int cmd_users_contacts(const struct gh_config *cfg, const char *ids_file)
{
    struct gh_store *s = NULL;
    struct gh_keywrap *kw = NULL;
    struct gh_pii *pii = NULL;
    struct contacts_ctx ctx = {0};
    char *ids[1024] = {0}; /* what the analyzer cannot prove the callback leaves alone */
    int code = 1;
    if (ids_file) {
        FILE *f = fopen(ids_file, "re");
        char line[128];
        if (!f)
            return fail("users contacts: cannot read the ids file");
        while (fgets(line, sizeof line, f) && ctx.nonly < 1024) {
            line[strcspn(line, "\r\n")] = '\0';
            if (gh_id_is_valid(line))
                ids[ctx.nonly++] = gh_strdup(line);
        }
        (void)fclose(f); /* opened read-only: a close error loses no data */
        ctx.only = ids;
    }
    if (open_ops(cfg, &s, &kw) == 0 && open_pii(s, kw, &pii) == 0) {
        ctx.pii = pii;
        gh_err rc = gh_store_users_each(s, contact_cb, &ctx);
        if (rc == GH_OK) {
            code = 0;
            fprintf(stderr,
                    "gatehouse: %ld contact addresses listed (recorded in the audit "
                    "trail)\n",
                    ctx.printed);
        } else {
            fail_err("users contacts failed", rc);
        }
    }
    gh_pii_free(pii);
    gh_keywrap_free(kw);
    gh_store_free(s);
    for (size_t i = 0; i < ctx.nonly; i++)
        gh_free(ids[i]);
    if (code == 0)
        cli_audit(cfg, "contact_list", "", "success");
    return code;
}

static int cmd_users(const struct gh_config *cfg, int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0) {
        printf(
            "usage: gatehouse users import FILE | unlock ID | erase ID | contacts [IDS_FILE]\n"
            "       gatehouse users create-admin EMAIL [--promote] | demote ID\n"
            "  create-admin: create an account with the admin role (the /v1/admin API and the\n"
            "  /admin page); the password is read from stdin, one line (never give it as an\n"
            "  argument), and must pass the password policy. Prints the new user id. If the\n"
            "  email already has an account it fails, unless --promote: then that account\n"
            "  gets the role (no password is read). Audited.\n"
            "  demote ID: remove the admin role; effective at the user's next request. Audited.\n"
            "  contacts: id and email of every user (or of the ids in IDS_FILE, one per line),\n"
            "  for breach notification; the listing is recorded in the audit trail.\n"
            "  erase ID: delete the user, their sessions and their data key (crypto-shredding);\n"
            "  recorded in the erasure ledger so that a restored backup stays erased.\n"
            "  unlock ID: lift the account's lock (and its known devices') at once.\n"
            "  FILE: JSON lines {\"email\": \"…\", \"password_hash\": \"…\"}; hashes in bcrypt\n"
            "  ($2a$/$2b$/$2y$), argon2id/argon2i PHC, or Django pbkdf2_sha256$, bcrypt_sha256$,\n"
            "  argon2$ format. Every line is checked first; any bad line is reported and\n"
            "  nothing is imported.\n");
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "unlock") == 0 && argc == 2)
        return cmd_users_unlock(cfg, argv[1]);
    if (strcmp(argv[0], "erase") == 0 && argc == 2)
        return cmd_users_erase(cfg, argv[1]);
    if (strcmp(argv[0], "demote") == 0 && argc == 2)
        return cmd_users_demote(cfg, argv[1]);
    if (strcmp(argv[0], "create-admin") == 0) {
        bool promote = argc == 3 && strcmp(argv[2], "--promote") == 0;
        if (argc == 2 || promote)
            return cmd_users_create_admin(cfg, argv[1], promote);
        fprintf(stderr, "gatehouse: usage: gatehouse users create-admin EMAIL [--promote]\n"
                        "  (the password is read from stdin, never from the command line)\n");
        return 2;
    }
    if (strcmp(argv[0], "contacts") == 0 && argc <= 2)
        return cmd_users_contacts(cfg, argc == 2 ? argv[1] : NULL);
    if (strcmp(argv[0], "import") != 0 || argc != 2)
        return fail("usage: gatehouse users import FILE | unlock ID | erase ID | contacts "
                    "[IDS_FILE] | create-admin EMAIL [--promote] | demote ID");
    struct gh_store *s = NULL;
    struct gh_keywrap *kw = NULL;
    struct gh_pii *pii = NULL;
    long imported = 0;
    if (open_ops(cfg, &s, &kw) != 0 || open_pii(s, kw, &pii) != 0) {
        gh_pii_free(pii);
        gh_keywrap_free(kw);
        gh_store_free(s);
        return 1;
    }
    gh_err rc = gh_users_import(s, pii, argv[1], stdout, stderr, &imported);
    gh_pii_free(pii);
    gh_keywrap_free(kw);
    gh_store_free(s);
    if (rc != GH_OK)
        return 1;
    printf("imported %ld users\n", imported);
    return 0;
}

/* The optional GATEHOUSE_BACKUP_KEY, decoded into secure memory (NULL when unset). */
static int backup_key(const struct gh_config *cfg, unsigned char **out)
{
    *out = NULL;
    if (!cfg->backup_key_text)
        return 0;
    unsigned char *k = sodium_malloc(64);
    size_t n = 0;
    if (!k)
        return fail_err("key setup failed", GH_ERR_NOMEM);
    if (gh_b64_decode(cfg->backup_key_text, strlen(cfg->backup_key_text), k, 64, &n) != GH_OK ||
        n != 32 || gh_config_key_is_weak(k)) {
        sodium_free(k);
        return fail("GATEHOUSE_BACKUP_KEY: must be 32 random bytes, base64-encoded");
    }
    *out = k;
    return 0;
}

static bool url_is_sqlite(const struct gh_config *cfg)
{
    return strncmp(cfg->database_url, "sqlite:", 7) == 0;
}

/* `backup create FILE`: SQLite (VACUUM INTO) or PostgreSQL (pg_dump, run from here: never from
 * serve, whose sandbox forbids exec), through the same encryption and keys. */
static int cmd_backup_create(const struct gh_config *cfg, const unsigned char *bkey,
                             const char *file)
{
    struct gh_store *s = NULL;
    struct gh_keywrap *kw = NULL;
    int64_t bytes = 0;
    char why[GH_STORE_WHY_MAX] = "";
    int code = 1;
    if (open_ops(cfg, &s, &kw) == 0) {
        struct gh_backup_keys k = {.kw = kw, .backup_key = bkey};
        gh_err rc = gh_backup_create(s, &k, file, gh_now(), &bytes, why);
        if (rc == GH_OK) {
            char dir[4200];
            snprintf(dir, sizeof dir, "%s", file);
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = '\0';
            else
                snprintf(dir, sizeof dir, ".");
            long removed = 0;
            gh_err prc = gh_backup_prune_dir(dir, cfg->backup_retention_days, gh_now(), &removed);
            gh_log_security(GH_LOG_INFO, "backup_created", NULL, NULL, NULL,
                            json_pack("{s:I,s:I,s:s}", "bytes", (json_int_t)bytes,
                                      "expired_backups_deleted", (json_int_t)removed, "backend",
                                      url_is_sqlite(cfg) ? "sqlite" : "postgresql"));
            cli_audit(cfg, "backup", "", "success");
            printf("backup written: %lld bytes, encrypted; %ld backups older than %ld days "
                   "deleted%s\n",
                   (long long)bytes, removed, cfg->backup_retention_days,
                   prc == GH_OK ? "" : " (the directory could not be read)");
            code = 0;
        } else if (why[0]) {
            fprintf(stderr, "gatehouse: backup create failed (nothing was written): %s\n", why);
        } else {
            fail_err("backup create failed (nothing was written)", rc);
        }
    }
    gh_keywrap_free(kw);
    gh_store_free(s);
    return code;
}

/* `backup restore FILE`: refuse a file of the other backend before anything else, then the
 * backend's own restore. */
static int cmd_backup_restore(const struct gh_config *cfg, const unsigned char *bkey,
                              const char *file)
{
    char err[GH_CONFIG_ERR_MAX], backend[16], why[GH_STORE_WHY_MAX] = "";
    unsigned char *master = NULL, *prev = NULL;
    struct gh_keywrap *kw = NULL;
    long reerased = 0;
    bool sqlite = url_is_sqlite(cfg);
    int code = 1;
    gh_err rc = gh_backup_backend(file, backend);
    if (rc == GH_ERR_IO)
        return fail("backup restore: cannot read FILE");
    if (rc != GH_OK)
        return fail("backup restore: FILE is not a gatehouse backup; nothing was written");
    if (strcmp(backend, sqlite ? "sqlite" : "postgresql") != 0)
        return fail(sqlite ? "backup restore: FILE is a backup of a PostgreSQL database; restore "
                             "it with GATEHOUSE_DATABASE_URL=postgresql://... (nothing was "
                             "written)"
                           : "backup restore: FILE is a backup of a SQLite database; restore it "
                             "with GATEHOUSE_DATABASE_URL=sqlite:... (nothing was changed)");
    if (gh_config_master_key(cfg, &master, &prev, err) != GH_OK) {
        fail(err);
    } else if ((rc = gh_keywrap_new(master, prev, &kw)) != GH_OK) {
        fail_err("key setup failed", rc);
    } else {
        struct gh_backup_keys k = {.kw = kw, .backup_key = bkey};
        rc = sqlite
                 ? gh_backup_restore(&k, file, cfg->database_url + 7, &reerased)
                 : gh_backup_restore_pg(&k, file, cfg->database_url, cfg->data_dir, &reerased, why);
        if (rc == GH_OK) {
            gh_log_security(GH_LOG_INFO, "backup_restored", NULL, NULL, NULL,
                            json_pack("{s:I,s:s}", "reerased", (json_int_t)reerased, "backend",
                                      sqlite ? "sqlite" : "postgresql"));
            cli_audit(cfg, "restore", "", "success");
            printf("backup restored; %ld erased users removed again\n", reerased);
            code = 0;
        } else if (rc == GH_ERR_CRYPTO) {
            fail("backup restore: the file does not verify (wrong key, truncated or "
                 "altered); nothing was written");
        } else if (why[0]) {
            fprintf(stderr, "gatehouse: backup restore failed: %s\n", why);
        } else if (rc == GH_ERR_BUSY) {
            fail("backup restore: the database is in use: stop gatehouse serve first");
        } else {
            fail_err("backup restore failed; nothing was written", rc);
        }
    }
    gh_keywrap_free(kw);
    sodium_free(master);
    sodium_free(prev);
    return code;
}

static int cmd_backup(const struct gh_config *cfg, int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[0], "create") != 0 && strcmp(argv[0], "restore") != 0)) {
        printf("usage: gatehouse backup create FILE | restore FILE\n"
               "  create: an encrypted online backup (secretstream, the backup key wrapped under\n"
               "          the master key, or GATEHOUSE_BACKUP_KEY); works while serve runs. The\n"
               "          file never holds the master key. SQLite: a snapshot (VACUUM INTO).\n"
               "          PostgreSQL: pg_dump's archive of gatehouse's schema (needs Debian's\n"
               "          postgresql-client of the server's major version; the runtime role\n"
               "          will do).\n"
               "  restore: verify FILE completely, then replace the database (SQLite) or\n"
               "          gatehouse's tables (PostgreSQL, in one transaction: pg_restore into\n"
               "          psql) of a STOPPED deployment: refused while serve runs. PostgreSQL:\n"
               "          run it as the owner role (the one of gatehouse migrate). Users erased\n"
               "          since the backup are erased again (the erasure ledger). A file of\n"
               "          the other backend is refused.\n");
        return (argc == 1 && strcmp(argv[0], "--help") == 0) ? 0 : 2;
    }
    unsigned char *bkey = NULL;
    if (backup_key(cfg, &bkey) != 0)
        return 1;
    int code = strcmp(argv[0], "create") == 0 ? cmd_backup_create(cfg, bkey, argv[1])
                                              : cmd_backup_restore(cfg, bkey, argv[1]);
    sodium_free(bkey);
    return code;
}

static int cmd_doctor(const struct gh_config *cfg)
{
    struct gh_store *s = NULL;
    struct gh_keywrap *kw = NULL;
    /* Never create a development key here: report its absence instead. */
    if (cfg->master_key_text || !cfg->production) {
        char err[GH_CONFIG_ERR_MAX];
        unsigned char *master = NULL, *prev = NULL;
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/master.key", cfg->data_dir);
        bool have_key = cfg->master_key_text || stat(path, &st) == 0;
        if (have_key && gh_config_master_key(cfg, &master, &prev, err) == GH_OK &&
            gh_keywrap_new(master, prev, &kw) == GH_OK &&
            gh_store_open(cfg->database_url, &s) == GH_OK && gh_store_migrate(s, NULL) != GH_OK) {
            gh_store_free(s);
            s = NULL;
        }
        sodium_free(master);
        sodium_free(prev);
    }
    int worst = gh_doctor_run(cfg, s, kw, stdout);
    gh_keywrap_free(kw);
    gh_store_free(s);
    return worst;
}

static int cmd_sessions(const struct gh_config *cfg, int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "revoke-all") != 0) {
        printf("usage: gatehouse sessions revoke-all\n");
        return (argc == 1 && strcmp(argv[0], "--help") == 0) ? 0 : 2;
    }
    struct gh_store *s = NULL;
    long n = 0;
    gh_err rc = gh_store_open(cfg->database_url, &s);
    if (rc == GH_OK)
        rc = gh_store_migrate(s, NULL);
    if (rc == GH_OK)
        rc = gh_store_sessions_revoke_all(s, "admin_revoke_all", gh_now(), &n);
    gh_store_free(s);
    if (rc != GH_OK)
        return fail_err("revoking sessions failed", rc);
    gh_log_security(GH_LOG_INFO, "all_sessions_revoked", NULL, NULL, NULL,
                    json_pack("{s:I}", "count", (json_int_t)n));
    cli_audit(cfg, "session_revoked", "", "success");
    printf("revoked %ld sessions\n", n);
    return 0;
}

/* gatehouse audit verify [--pubkey FILE] | export [--pubkey] | prune --before DATE (docs/audit.md).
 * With --pubkey FILE, verify trusts only that file, never anything in the database. */
static int cmd_audit(const struct gh_config *cfg, int argc, char **argv)
{
    static const char use[] = "usage: gatehouse audit verify [--pubkey FILE] | export [--pubkey] |"
                              " prune --before YYYY-MM-DD\n";
    struct gh_store *s = NULL;
    struct gh_keywrap *kw = NULL;
    struct gh_audit *a = NULL;
    struct gh_audit_report rep;
    unsigned char pk[32];
    const char *sub = argc > 0 ? argv[0] : "", *pk_file = NULL, *before = NULL;
    bool pk_only = false, plain = argc == 1 && (!strcmp(sub, "verify") || !strcmp(sub, "export"));
    int64_t cutoff = 0, deleted = 0;
    int code = 1;
    gh_err rc;
    if (argc < 1 || strcmp(sub, "--help") == 0) {
        fputs(use, stdout);
        return argc < 1 ? 2 : 0;
    }
    if (argc == 3 && !strcmp(sub, "verify") && !strcmp(argv[1], "--pubkey"))
        pk_file = argv[2];
    else if (argc == 2 && !strcmp(sub, "export") && !strcmp(argv[1], "--pubkey"))
        pk_only = true;
    else if (argc == 3 && !strcmp(sub, "prune") && !strcmp(argv[1], "--before"))
        before = argv[2];
    else if (!plain) {
        fputs(use, stderr);
        return 2;
    }
    if (before && gh_audit_parse_date(before, &cutoff) != GH_OK)
        return fail("audit prune: --before must be a date YYYY-MM-DD");
    if (pk_file && (rc = gh_audit_pubkey_read(pk_file, pk)) != GH_OK)
        return fail(rc == GH_ERR_IO ? "audit verify: cannot read the --pubkey file"
                                    : "audit verify: the --pubkey file holds no public key");
    if (open_ops(cfg, &s, &kw) != 0)
        goto out;
    if (!pk_file) {
        if ((rc = gh_audit_new(s, kw, NULL, gh_now(), &a)) != GH_OK) {
            fail_err("audit key setup failed", rc);
            goto out;
        }
        gh_audit_public_key(a, pk);
    }
    if (pk_only) {
        char text[GH_AUDIT_PUBKEY_TEXT + 1];
        gh_audit_pubkey_encode(pk, text);
        printf("%s\n", text);
    } else if (!strcmp(sub, "export")) {
        if ((rc = gh_audit_export(s, pk, stdout)) != GH_OK) {
            fail_err("audit export failed", rc);
            goto out;
        }
    } else if (before) {
        rc = gh_audit_prune(a, cutoff, gh_now(), &deleted, &rep);
        if (rc == GH_ERR_CRYPTO)
            fprintf(stderr, "gatehouse: audit prune refused, the chain does not verify: %s\n",
                    rep.message);
        if (rc != GH_OK) {
            if (rc != GH_ERR_CRYPTO)
                fail_err("audit prune failed", rc);
            goto out;
        }
        printf("pruned %lld audit events before %s\n", (long long)deleted, before);
    } else {
        if ((rc = gh_audit_verify(s, pk, &rep)) != GH_OK) {
            fail_err("audit verify failed", rc);
            goto out;
        }
        if (rep.problem != GH_AUDIT_OK) {
            fprintf(stderr, "gatehouse: audit chain does not verify: %s\n", rep.message);
            goto out;
        }
        printf("audit chain verified: %lld events up to seq %lld (anchor at seq %lld), "
               "%lld checkpoints, last at seq %lld; %lld events after it not yet signed\n",
               (long long)rep.events, (long long)rep.last_seq, (long long)rep.anchor_seq,
               (long long)rep.checkpoints, (long long)rep.last_checkpoint_seq,
               (long long)(rep.last_seq - rep.last_checkpoint_seq));
    }
    code = 0;
out:
    gh_audit_free(a);
    gh_keywrap_free(kw);
    gh_store_free(s);
    return code;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "config-docs") == 0) {
        gh_config_print_markdown(stdout);
        return 0;
    }
    if (argc > 2 && strcmp(cmd, "serve") == 0 && strcmp(argv[2], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (argc > 2 && strcmp(cmd, "migrate") == 0 && strcmp(argv[2], "--help") == 0) {
        printf(
            "usage: gatehouse migrate\n  Apply pending migrations (serve also does at start).\n");
        return 0;
    }
    /* libsodium's internal generator (ChaCha20 keyed from the kernel, per thread, re-keyed after
     * fork) instead of one getrandom() system call per identifier: ids and request ids are
     * made on every request. */
    if (randombytes_set_implementation(&randombytes_internal_implementation) != 0 ||
        sodium_init() < 0) {
        fprintf(stderr, "gatehouse: libsodium failed to initialise\n");
        return 1;
    }
    struct gh_config cfg;
    char err[GH_CONFIG_ERR_MAX];
    if (gh_config_load(&cfg, err) != GH_OK) {
        fprintf(stderr, "gatehouse: configuration error: %s\n", err);
        gh_config_release(&cfg);
        return 2;
    }
    set_log_level(&cfg);
    if (gh_mem_init(cfg.test_alloc_fail) != GH_OK) {
        fprintf(stderr, "gatehouse: the jansson/SQLite allocator hooks could not be installed\n");
        gh_config_release(&cfg);
        return 1;
    }
    int code;
    if (strcmp(cmd, "serve") == 0)
        code = cmd_serve(&cfg);
    else if (strcmp(cmd, "migrate") == 0)
        code = cmd_migrate(&cfg);
    else if (strcmp(cmd, "keys") == 0)
        code = cmd_keys(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "users") == 0)
        code = cmd_users(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "doctor") == 0)
        code = cmd_doctor(&cfg);
    else if (strcmp(cmd, "backup") == 0)
        code = cmd_backup(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "sessions") == 0)
        code = cmd_sessions(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "audit") == 0)
        code = cmd_audit(&cfg, argc - 2, argv + 2);
    else {
        fprintf(stderr, "gatehouse: unknown command '%s' (see gatehouse --help)\n", cmd);
        code = 2;
    }
    gh_config_release(&cfg);
    return code;
}
