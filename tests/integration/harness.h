/* Integration-test harness: runs the real gatehouse binary (server and CLI) against a throw-away
 * data directory on 127.0.0.1, and a small libcurl client with helpers for common flows.
 * Backend: SQLite in the data directory, or with GH_TEST_BACKEND=pg a fresh PostgreSQL database
 * per server on the cluster of GH_TEST_PG_URL (a superuser URL; scripts/pg-test-cluster.sh).
 * In pg mode without that URL the test exits 77 (skipped), or 1 when GH_TEST_PG_REQUIRED=1. */
#ifndef GH_TEST_HARNESS_H
#define GH_TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define H_MAX_HEADERS 64
#define H_MAX_ENV 256

struct h_server {
    pid_t pid;
    int port;
    char dir[256];      /* fresh mkdtemp data directory */
    char log_path[320]; /* the server's stderr */
    char *env[H_MAX_ENV];
    size_t nenv;
    int exit_status; /* raw waitpid status after h_server_stop */
    bool stopped;
    bool tls;          /* started with GATEHOUSE_TLS_CERT_PATH: the client speaks https */
    char pg_db[40];    /* pg mode: the server's own database (created at start, dropped by free) */
    char pg_url[1024]; /* pg mode: its GATEHOUSE_DATABASE_URL */
    /* pg mode: the URL's password, GH_TEST_PG_URL's or (when the test cluster ignores it) a
     * random marker; "" when there is none. Never to be logged. */
    char pg_password[64];
};

struct h_header {
    char *name;
    char *value;
};

struct h_response {
    long status;
    struct h_header headers[H_MAX_HEADERS];
    size_t nheaders;
    char *body; /* NUL-terminated */
    size_t body_len;
    json_t *json; /* parsed body when it is JSON, else NULL */
};

struct h_cli_result {
    int exit_code; /* -1 when killed by a signal */
    char *out;
    char *err;
};

struct h_tokens {
    char access[1024];
    char refresh[128];
    long expires_in;
};

/* Start the server with extra NAME=VALUE env entries (NULL-terminated list, may be NULL).
 * Returns 0 when /healthz answers 200. */
int h_server_start(struct h_server *s, const char *const *extra_env);
/* Like h_server_start, but prepare(s) runs on the fresh data directory (and in pg mode the fresh,
 * empty database) before the server starts (e.g. to lay down a database made by an earlier
 * release). */
int h_server_start_prepared(struct h_server *s, const char *const *extra_env,
                            void (*prepare)(const struct h_server *s));
/* Stop the server (SIGTERM) and start it again on the same data directory with a new set of
 * extra environment entries (the defaults of h_server_start plus these). */
int h_server_restart_with(struct h_server *s, const char *const *extra_env);
/* kill -9 the server, then start it again on the same data directory and environment (the log
 * before the kill is kept as server.log.before-kill). Returns 0 when it answers again. */
int h_server_kill9_restart(struct h_server *s);
/* SIGTERM, wait (SIGKILL after 10 s); returns the exit code (-1 if killed). Idempotent. */
int h_server_stop(struct h_server *s);
/* Remove the temp data dir and free everything. */
void h_server_free(struct h_server *s);

/* Generic request. headers: NULL-terminated "Name: value" list (may be NULL). body may be NULL;
 * body_len (SIZE_MAX: strlen). content_type NULL sends no Content-Type. Returns 0 on transport
 * success (any HTTP status). */
int h_request(const struct h_server *s, const char *method, const char *path,
              const char *const *headers, const char *body, size_t body_len,
              const char *content_type, struct h_response *out);
int h_get(const struct h_server *s, const char *path, const char *bearer, struct h_response *out);
int h_post_json(const struct h_server *s, const char *path, const char *bearer, json_t *body,
                struct h_response *out); /* steals body */
int h_send_json(const struct h_server *s, const char *method, const char *path, const char *bearer,
                json_t *body, struct h_response *out); /* steals body */
int h_post_form(const struct h_server *s, const char *path, const char *form,
                struct h_response *out);
void h_response_free(struct h_response *r);
/* Case-insensitive header lookup; NULL when absent. */
const char *h_header(const struct h_response *r, const char *name);

/* Assertions (cmocka fail on mismatch, with a message). */
void h_assert_security_headers_at(const char *file, int line, const struct h_response *r);
#define h_assert_security_headers(r) h_assert_security_headers_at(__FILE__, __LINE__, r)
/* status, application/problem+json, type/title/status/request_id, request_id == X-Request-Id,
 * and no internal details (sqlite, SQL, stack traces, the data dir, file paths). */
void h_assert_problem_at(const char *file, int line, const struct h_server *s,
                         const struct h_response *r, long status);
#define h_assert_problem(s, r, st) h_assert_problem_at(__FILE__, __LINE__, s, r, st)
void h_assert_json_response_at(const char *file, int line, const struct h_response *r, long status);
#define h_assert_json_response(r, st) h_assert_json_response_at(__FILE__, __LINE__, r, st)
void h_assert_errors_field_at(const char *file, int line, const struct h_response *r,
                              const char *field);
#define h_assert_errors_field(r, f) h_assert_errors_field_at(__FILE__, __LINE__, r, f)

/* Files and programs. h_find_in_path: the first executable NAME in $PATH (then /usr/bin,
 * /usr/sbin, /usr/local/bin), skipping directory skip_dir (may be NULL), into out.
 * h_rm_tree: remove dir and everything under it (kept when GH_KEEP_TMP is set). */
bool h_find_in_path(const char *name, const char *skip_dir, char *out, size_t size);
void h_rm_tree(const char *dir);

/* Flows. Emails are made unique per process with h_unique_email. */
void h_unique_email(const char *tag, char *out, size_t size);
long h_register(const struct h_server *s, const char *email, const char *pw,
                const char *display_name, json_t **out_json);
long h_login(const struct h_server *s, const char *email, const char *pw, struct h_tokens *out);
long h_refresh(const struct h_server *s, const char *refresh, struct h_tokens *out);
long h_me_status(const struct h_server *s, const char *access);
/* After another process (the CLI) revoked what access depends on: on SQLite GET /v1/me must be
 * 401 on the very next request (the epoch is shared through a mapped file); on PostgreSQL every
 * instance re-reads the shared epoch at most every 200 ms, so within 1 s at the latest. Fails
 * the test otherwise. */
void h_expect_refused_after_cli(const struct h_server *s, const char *access);
/* Register + login; asserts both succeed. */
void h_user_session(const struct h_server *s, const char *tag, const char *pw, char *email_out,
                    size_t email_size, struct h_tokens *out);

/* Run `gatehouse ARGS...` (NULL-terminated) with the server's environment. */
int h_cli(const struct h_server *s, const char *const *args, struct h_cli_result *out);
void h_cli_free(struct h_cli_result *r);

/* Is this run against PostgreSQL (GH_TEST_BACKEND=pg)? */
bool h_backend_is_pg(void);
/* pg mode: run sql (literal test text, no parameters) on the server's database as the cluster's
 * superuser. Rows are returned like the sqlite3 CLI prints them: columns joined by '|', one line
 * per row (NULL prints as nothing). Returns 0 on success, -1 on an error (its message on stderr);
 * out (may be NULL) gets a heap string the caller frees. */
int h_pg_query(const struct h_server *s, const char *sql, char **out);
/* Is needle stored anywhere in the server's database? SQLite: the database files, as
 * h_db_files_contain. PostgreSQL: the text of every row of every table in its public schema. */
bool h_db_contains(const struct h_server *s, const char *needle);
/* Does any of the data directory's SQLite database files (the file, its WAL and shared memory, a
 * rollback journal) contain needle? SQLite only: in pg mode it fails the test (h_db_contains). */
bool h_db_files_contain(const char *dir, const char *needle);
/* Whole file into a NUL-terminated heap buffer (NULL on error). */
char *h_read_file(const char *path, size_t *len);
int h_write_file(const char *path, const char *text);
/* JWT header / payload as JSON (NULL if malformed). */
json_t *h_jwt_part(const char *jwt, int part);
/* Sleep for ms milliseconds. */
void h_sleep_ms(long ms);
/* Does the JWKS currently list kid? */
bool h_jwks_has_kid(const struct h_server *s, const char *kid, size_t *out_nkeys);

#endif
