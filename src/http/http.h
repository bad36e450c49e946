/* The HTTP layer: libmicrohttpd glue, routing, request bodies (size-capped, JSON and form
 * decoding with schema checks), and responses (JSON, problem+json, security headers).
 * It knows nothing of authentication: handlers get a request and answer it.
 * Lifetime: a gh_http_req lives from the first byte of a request to MHD's completion callback;
 * everything hanging off it is freed there. */
#ifndef GH_HTTP_HTTP_H
#define GH_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/enc.h"
#include "core/err.h"
#include "core/metrics.h"

struct gh_http_req;
struct gh_http_server;

typedef void (*gh_http_handler)(struct gh_http_req *req, void *app);

enum gh_http_body { GH_BODY_NONE, GH_BODY_JSON, GH_BODY_JSON_OR_FORM, GH_BODY_OPTIONAL_JSON };

struct gh_route {
    const char *method;
    const char *path; /* exact, or with one "{id}" segment (e.g. "/v1/a/{id}/b") captured */
    enum gh_http_body body;
    gh_http_handler handler;
    int policy; /* opaque to http: passed to the guard (the api layer's rate-limit rule) */
};

/* Runs before every routed handler (before the body is decoded); returns false after it has
 * set the reply itself (e.g. 429). */
typedef bool (*gh_http_guard)(struct gh_http_req *req, const struct gh_route *route, void *app);

struct gh_cidr_list;

/* A static file served for GET/HEAD at exactly path (the built-in pages and their assets).
 * page: an HTML page, served with the pages' Content-Security-Policy. */
struct gh_http_asset {
    const char *path;
    const char *content_type;
    const unsigned char *data;
    size_t len;
    bool page;
};

struct gh_http_options {
    const char *host;
    uint16_t port; /* 0: pick a free port */
    unsigned threads;
    size_t max_body;
    const char *tls_cert_pem;   /* non-NULL: serve HTTPS (TLS 1.2+), responses carry HSTS */
    const char *tls_key_pem;    /* secret; parsed at start (may be freed afterwards) */
    struct gh_metrics *metrics; /* NULL: no request metrics (e.g. the metrics listener itself) */
    const struct gh_cidr_list *trusted_proxies; /* whose X-Forwarded-For/-Proto are believed */
    gh_http_guard guard;                        /* may be NULL */
    const char *cors_origins; /* comma-separated exact origins allowed by CORS; "" none */
    unsigned max_connections;   /* 0: 4096 */
    unsigned per_ip_connections; /* connections one TCP peer may hold; 0: unlimited */
    const struct gh_http_asset *assets; /* may be NULL */
    size_t nassets;
};

GH_MUST_USE gh_err gh_http_start(const struct gh_http_options *opt, const struct gh_route *routes,
                                 size_t nroutes, void *app, struct gh_http_server **out);
/* The port actually bound (useful with port 0). */
uint16_t gh_http_port(struct gh_http_server *srv);
/* Stop accepting new connections and wait (up to timeout_ms) until no request is in flight,
 * so that no parked request is left for gh_http_stop. NULL-safe. */
void gh_http_drain(struct gh_http_server *srv, unsigned timeout_ms);
/* Replace the TLS certificate and key for new connections (SIGHUP). GH_ERR_CONFIG when the
 * server has no TLS or the PEM does not parse or the key does not match: nothing changes. The
 * PEM strings may be freed afterwards. */
GH_MUST_USE gh_err gh_http_reload_tls(struct gh_http_server *srv, const char *cert_pem,
                                      const char *key_pem);
/* Stop the daemon and free. NULL-safe. */
void gh_http_stop(struct gh_http_server *srv);

/* ---- request accessors ---- */
const char *gh_http_request_id(struct gh_http_req *req);
/* The captured {id} segment (NULL if the route has none). */
const char *gh_http_path_param(struct gh_http_req *req);
/* A request header (NULL if absent). */
const char *gh_http_header(struct gh_http_req *req, const char *name);
/* The client address: the TCP peer, or, behind a trusted proxy, the right-most untrusted
 * X-Forwarded-For hop (canonical text). */
const char *gh_http_client_addr(struct gh_http_req *req);
/* The client's rate-limit key: its address, IPv6 reduced to the /64. */
const char *gh_http_client_key(struct gh_http_req *req);
/* Did the request carry a body? */
bool gh_http_has_body(struct gh_http_req *req);
/* Was the request body a form (application/x-www-form-urlencoded)? */
bool gh_http_body_is_form(struct gh_http_req *req);
/* A query-string argument (decoded by libmicrohttpd), or NULL. */
const char *gh_http_query(struct gh_http_req *req, const char *name);
/* The request method ("GET", ...). */
const char *gh_http_method(struct gh_http_req *req);
/* A cookie's value (parsed by libmicrohttpd), or NULL. */
const char *gh_http_cookie(struct gh_http_req *req, const char *name);
/* Is origin exactly one of this server's CORS origins (gh_http_options.cors_origins)? The one
 * parse of that list: the CORS headers and the api layer's CSRF origin check both ask here. */
bool gh_http_origin_is_allowed(struct gh_http_req *req, const char *origin);
/* Did the client reach us over HTTPS (TLS here, or a trusted proxy's X-Forwarded-Proto)? */
bool gh_http_is_https(struct gh_http_req *req);
/* HTTP Basic credentials (decoded by libmicrohttpd). GH_OK fills *user and *pass with
 * heap copies the caller wipes and frees with gh_http_basic_free; GH_ERR_AUTH when absent. */
GH_MUST_USE gh_err gh_http_basic(struct gh_http_req *req, char **user, char **pass);
void gh_http_basic_free(char *user, char *pass);
/* The token of an Authorization header value of the Bearer scheme (spaces around it trimmed),
 * or NULL; *len its length. Pure (fuzzed). */
const char *gh_http_parse_bearer(const char *header, size_t *len);
/* The Bearer token of the Authorization header, or NULL; *len its length. */
const char *gh_http_bearer(struct gh_http_req *req, size_t *len);

/* Did an allocation fail while this request was being served (on any thread working on it)?
 * A verdict reached meanwhile ("unknown token", "not active") may then be wrong: answer 503
 * instead. (Client-error statuses become 503 by themselves; this is for the 200s that carry a
 * negative verdict.) */
bool gh_http_alloc_failed(struct gh_http_req *req);

/* A per-request slot for the handler's own state, freed with free_fn at completion. */
void gh_http_set_ctx(struct gh_http_req *req, void *ctx, void (*free_fn)(void *));

/* ---- body decoding ---- */
enum gh_field_type { GH_FIELD_STRING };

struct gh_field {
    const char *name;
    enum gh_field_type type;
    bool required;
    size_t max_len; /* bytes */
};

/* Decode the JSON (or form) body against schema. GH_OK → *out is a new object holding only
 * schema fields, every value a string without NUL within its limit. On failure the error
 * response is already set (400 malformed / 422 with errors[]) and the caller just returns. */
GH_MUST_USE gh_err gh_http_body_or_reply(struct gh_http_req *req, const struct gh_field *schema,
                                         size_t nfields, json_t **out);

/* The pure part of gh_http_body_or_reply (unit tests, fuzzing): GH_OK with *out;
 * GH_ERR_MALFORMED with *out_detail (fixed text); GH_ERR_INVALID with *out_errors, an array of
 * {field, message}; GH_ERR_NOMEM. */
GH_MUST_USE gh_err gh_http_decode_body(const char *body, size_t len, bool form, size_t max_value,
                                       const struct gh_field *schema, size_t nfields, json_t **out,
                                       json_t **out_errors, const char **out_detail);

/* Form bodies are decoded to a flat object of strings (unknown keys ignored by the caller).
 * GH_ERR_MALFORMED for duplicated keys, NUL bytes or bad encoding. Exposed for fuzzing. */
GH_MUST_USE gh_err gh_http_form_decode(const char *body, size_t len, size_t max_value,
                                       json_t **out);

/* ---- responses ---- */
/* JSON body (reference stolen; NULL for no body, e.g. 204). */
void gh_http_reply_json(struct gh_http_req *req, unsigned status, json_t *body);
/* A non-JSON body (e.g. Prometheus text): text is gh_malloc'd and taken over. */
void gh_http_reply_text(struct gh_http_req *req, unsigned status, const char *content_type,
                        char *text, size_t len);
/* problem+json for err (status from the one gh_err map). detail (may be NULL) is sent to the
 * client: never pass library messages or secrets. */
void gh_http_reply_error(struct gh_http_req *req, gh_err err, const char *detail);
/* problem+json with explicit status/slug/title (e.g. 401 invalid_grant). extra (stolen, may be
 * NULL) is merged into the body. */
void gh_http_reply_problem(struct gh_http_req *req, unsigned status, const char *slug,
                           const char *title, const char *detail, json_t *extra);
/* 422 with one field error. */
void gh_http_reply_invalid(struct gh_http_req *req, const char *field, const char *message);
/* Add a response header (copied); only before the reply is sent. */
void gh_http_add_header(struct gh_http_req *req, const char *name, const char *value);

/* ---- asynchronous completion ---- */
/* Park the request (the HTTP thread moves on) until gh_http_resume from any thread. The reply
 * must be set (gh_http_reply_*) before gh_http_resume is called. */
void gh_http_suspend(struct gh_http_req *req);
void gh_http_resume(struct gh_http_req *req);

/* Map gh_err to HTTP status (the one map). */
unsigned gh_http_status_for(gh_err err);

#endif
