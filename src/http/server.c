/* Owns the libmicrohttpd daemon, the route table and each request's lifecycle (gh_http_req:
 * created at the first callback, freed in the completion callback). Trust boundary: method,
 * URL, headers and body are client bytes; the body is capped before it is stored. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "http/tls.h"
#include "core/mem.h"
#include "http/clientaddr.h"
#include "http/internal.h"
#include "core/banned.h"

/* Request metrics per route (index nroutes: unmatched), counters cached per status code so the
 * hot path is one atomic load and one atomic add. */
#define STATUS_SLOTS 600
struct route_metrics {
    char label[80];
    struct gh_histogram *duration;
    _Atomic(struct gh_counter *) by_status[STATUS_SLOTS];
};

struct gh_http_server {
    struct route_metrics *rm; /* nroutes + 1, or NULL */
    struct MHD_Daemon *daemon;
    const struct gh_route *routes;
    size_t nroutes;
    void *app;
    struct gh_http_options opt;
    uint16_t port;
    bool tls;
    atomic_long in_flight;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* X-Forwarded-For may come as several headers: join them (right-most last), keeping the tail
 * when they are longer than the buffer (only the right end matters). */
struct xff_join {
    char buf[GH_XFF_MAX_BYTES + 1];
    size_t len;
};

static enum MHD_Result xff_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct xff_join *j = cls;
    if (!value || strcasecmp(key, "X-Forwarded-For") != 0)
        return MHD_YES;
    size_t vlen = strlen(value);
    if (vlen > GH_XFF_MAX_BYTES) {
        value += vlen - GH_XFF_MAX_BYTES;
        vlen = GH_XFF_MAX_BYTES;
    }
    size_t need = (j->len ? 1 : 0) + vlen;
    if (j->len + need > GH_XFF_MAX_BYTES) {
        size_t drop = j->len + need - GH_XFF_MAX_BYTES;
        if (drop >= j->len) {
            j->len = 0;
        } else {
            memmove(j->buf, j->buf + drop, j->len - drop);
            j->len -= drop;
        }
    }
    if (j->len)
        j->buf[j->len++] = ',';
    memcpy(j->buf + j->len, value, vlen);
    j->len += vlen;
    j->buf[j->len] = '\0';
    return MHD_YES;
}

static bool peer_is_trusted_proxy(const struct gh_http_server *srv, const char *peer)
{
    return srv->opt.trusted_proxies && gh_cidr_list_count(srv->opt.trusted_proxies) > 0 &&
           gh_cidr_list_contains(srv->opt.trusted_proxies, peer);
}

static void resolve_client(struct gh_http_server *srv, struct gh_http_req *req)
{
    const char *xfp = NULL;
    struct xff_join *j = NULL;
    if (peer_is_trusted_proxy(srv, req->peer)) {
        j = gh_malloc(sizeof *j);
        if (j) {
            j->len = 0;
            j->buf[0] = '\0';
            MHD_get_connection_values(req->conn, MHD_HEADER_KIND, xff_collect, j);
        }
        xfp = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Forwarded-Proto");
    }
    gh_client_addr(srv->opt.trusted_proxies, req->peer, j && j->len ? j->buf : NULL, xfp,
                   srv->opt.tls_cert_pem != NULL, req->client, &req->is_https);
    gh_client_addr_limit_key(req->client, req->client_key);
    gh_free(j);
}

/* What a connection's peer resolves to, worked out at its first request and kept until it
 * closes: the peer's text and, when the peer is not a trusted proxy (no header can change the
 * answer then), the client address, its rate-limit key and the scheme. */
struct conn_ctx {
    bool known;
    bool direct;
    char peer[64];
    char client[64];
    char client_key[64];
    bool is_https;
};

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)conn;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = gh_calloc(1, sizeof(struct conn_ctx)); /* NULL: worked out per request */
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        gh_free(*socket_context);
        *socket_context = NULL;
    }
}

static void peer_text(struct MHD_Connection *conn, char out[64])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, 64, "0.0.0.0");
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, 64);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                      64);
    }
}

static void resolve_peer(struct gh_http_server *srv, struct gh_http_req *req)
{
    const union MHD_ConnectionInfo *sc =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_ctx *cc = sc ? (struct conn_ctx *)sc->socket_context : NULL;
    if (cc && cc->known) {
        memcpy(req->peer, cc->peer, sizeof req->peer);
        if (cc->direct) {
            memcpy(req->client, cc->client, sizeof req->client);
            memcpy(req->client_key, cc->client_key, sizeof req->client_key);
            req->is_https = cc->is_https;
            return;
        }
        resolve_client(srv, req);
        return;
    }
    peer_text(req->conn, req->peer);
    resolve_client(srv, req);
    if (cc) {
        memcpy(cc->peer, req->peer, sizeof cc->peer);
        cc->direct = !peer_is_trusted_proxy(srv, req->peer);
        memcpy(cc->client, req->client, sizeof cc->client);
        memcpy(cc->client_key, req->client_key, sizeof cc->client_key);
        cc->is_https = req->is_https;
        cc->known = true;
    }
}

static void req_free(struct gh_http_req *req)
{
    if (!req)
        return;
    if (req->ctx_free)
        req->ctx_free(req->ctx);
    json_decref(req->reply_body);
    gh_free(req->raw_body);
    for (size_t i = 0; i < req->nheaders; i++) {
        gh_free(req->headers[i].name);
        gh_free(req->headers[i].value);
    }
    gh_free(req->body);
    gh_free(req->path);
    gh_free(req);
}

/* Match path against the route table: exact, or a pattern with one "{id}" segment captured. */
static const struct gh_route *route_find(struct gh_http_server *srv, const char *method,
                                         const char *path, char *param, size_t param_size,
                                         bool *path_known)
{
    *path_known = false;
    const struct gh_route *hit = NULL;
    for (size_t i = 0; i < srv->nroutes; i++) {
        const struct gh_route *r = &srv->routes[i];
        bool match = false;
        const char *brace = strstr(r->path, "{id}");
        if (!brace) {
            match = strcmp(r->path, path) == 0;
        } else {
            /* "/prefix/{id}" or "/prefix/{id}/suffix": one non-empty segment between them. */
            size_t plen = (size_t)(brace - r->path);
            const char *suffix = brace + 4;
            if (strncmp(r->path, path, plen) == 0) {
                const char *seg = path + plen;
                const char *end = strchr(seg, '/');
                size_t slen = end ? (size_t)(end - seg) : strlen(seg);
                const char *rest = seg + slen;
                if (slen > 0 && slen < param_size && strcmp(rest, suffix) == 0) {
                    memcpy(param, seg, slen);
                    param[slen] = '\0';
                    match = true;
                }
            }
        }
        if (!match)
            continue;
        *path_known = true;
        if (strcmp(r->method, method) == 0) {
            hit = r;
            break;
        }
    }
    return hit;
}

/* The answer when not even the problem body can be allocated (no request id: it may not
 * exist either). */
static const char unavailable_body[] =
    "{\"type\":\"urn:gatehouse:problem:unavailable\",\"title\":\"Service temporarily "
    "unavailable\",\"status\":503}";

/* *con_cls of a connection whose request structure could not be allocated: it was answered
 * with the fixed 503 at once; later callbacks only drop its body. */
static char nomem_request;

/* Replace an answer that an allocation failure may have made wrong by 503 ("retry"). */
static void unavailable_if_unsure(struct gh_http_req *req)
{
    if (req->headers_lost) {
        /* Without one of its headers (a session cookie, X-Auth-User-Id) it is not the answer:
         * none of them, then. */
        for (size_t i = 0; i < req->nheaders; i++) {
            gh_free(req->headers[i].name);
            gh_free(req->headers[i].value);
        }
        req->nheaders = 0;
        req->headers_lost = false;
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
    } else if (req->status >= 400 && req->status < 500 && gh_mem_scope_failures(&req->mem) > 0) {
        /* A client error decided while an allocation failed (a token that could not be
         * parsed, a record that could not be read) is no verdict on the client's request. */
        gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
    }
}

static enum MHD_Result queue_reply(struct gh_http_req *req)
{
    /* Most bodies fit a stack buffer: encode there (no growing heap buffer) and let MHD copy. */
    char small[2048];
    char *text = NULL;
    size_t len = 0;
    enum MHD_ResponseMemoryMode mode = MHD_RESPMEM_PERSISTENT;
    unavailable_if_unsure(req);
    if (req->asset) {
        text = (char *)(uintptr_t)req->asset->data; /* PERSISTENT: never written or freed */
        len = req->asset->len;
    } else if (req->raw_body) {
        text = req->raw_body;
        len = req->raw_len;
        mode = MHD_RESPMEM_MUST_FREE; /* gh_malloc is malloc: libmicrohttpd free()s it */
        req->raw_body = NULL;
    } else if (req->reply_body) {
        len = json_dumpb(req->reply_body, small, sizeof small, JSON_COMPACT);
        if (len > 0 && len <= sizeof small) {
            text = small;
            mode = MHD_RESPMEM_MUST_COPY;
        } else {
            text = json_dumps(req->reply_body, JSON_COMPACT);
            len = text ? strlen(text) : 0;
            mode = MHD_RESPMEM_MUST_FREE;
        }
        if (!text) {
            json_decref(req->reply_body);
            req->reply_body = NULL;
            req->status = 503;
            req->problem = true;
            len = 0;
        }
    }
    bool fallback = !text && req->problem;
    if (fallback) {
        /* The problem body could not be built (allocation failed): the fixed 503 text. */
        text = (char *)(uintptr_t)unavailable_body;
        len = sizeof unavailable_body - 1;
        mode = MHD_RESPMEM_PERSISTENT;
        req->status = 503;
    }
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer(len, text, mode)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(text);
        return MHD_NO;
    }
    gh_http_apply_headers(req, resp);
    if (fallback) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
        if (!MHD_get_response_header(resp, "Retry-After"))
            MHD_add_response_header(resp, "Retry-After", "1");
    }
    if (req->mem.armed_n > 0) {
        /* "not-fired; allocations=K": the request made only K allocations so far. */
        char v[64] = "fired";
        if (!gh_mem_scope_has_fired(&req->mem))
            snprintf(v, sizeof v, "not-fired; allocations=%ld",
                     gh_mem_scope_allocations(&req->mem));
        MHD_add_response_header(resp, GH_HTTP_TEST_ALLOC_FAIL, v);
    }
    enum MHD_Result r = MHD_queue_response(req->conn, req->status, resp);
    MHD_destroy_response(resp);
    req->replied = true;
    return r;
}

static bool content_type_is(const char *ct, const char *want)
{
    if (!ct)
        return false;
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n) != 0)
        return false;
    /* Exactly the type, optionally followed by parameters (charset=utf-8). */
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Is origin exactly one of the comma-separated configured origins? */
static bool origin_allowed(const char *list, const char *origin)
{
    size_t olen = strlen(origin);
    const char *s = list ? list : "";
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *item = s;
        while (len && *item == ' ') {
            item++;
            len--;
        }
        while (len && item[len - 1] == ' ')
            len--;
        if (len == olen && memcmp(item, origin, olen) == 0)
            return true;
        s = comma ? comma + 1 : s + strlen(s);
    }
    return false;
}

bool gh_http_origin_is_allowed(struct gh_http_req *req, const char *origin)
{
    return origin && origin_allowed(req->srv->opt.cors_origins, origin);
}

/* Is every name in a comma-separated Access-Control-Request-Headers value one we accept? */
static bool request_headers_allowed(const char *h)
{
    static const char *const ok[] = {"content-type", "authorization", "x-requested-with",
                                     "x-csrf-token", NULL};
    while (h && *h) {
        while (*h == ' ' || *h == ',')
            h++;
        size_t len = strcspn(h, ", ");
        if (!len)
            break;
        bool found = false;
        for (int i = 0; ok[i] && !found; i++)
            found = strlen(ok[i]) == len && strncasecmp(ok[i], h, len) == 0;
        if (!found)
            return false;
        h += len;
    }
    return true;
}

/* CORS (exact-origin allowlist): headers for an actual request, and the preflight answer.
 * Returns true when the request was a preflight and has been answered. */
static bool cors(struct gh_http_server *srv, struct gh_http_req *req)
{
    const char *origin = gh_http_header(req, "Origin");
    if (!origin)
        return false;
    gh_http_add_header(req, "Vary", "Origin");
    bool allowed = gh_http_origin_is_allowed(req, origin);
    const char *want = gh_http_header(req, "Access-Control-Request-Method");
    if (strcmp(req->method, "OPTIONS") != 0 || !want) {
        if (allowed) {
            gh_http_add_header(req, "Access-Control-Allow-Origin", origin);
            gh_http_add_header(req, "Access-Control-Allow-Credentials", "true");
            gh_http_add_header(req, "Access-Control-Expose-Headers",
                               "X-Request-Id, Retry-After, RateLimit, RateLimit-Policy");
        }
        return false;
    }
    /* Preflight: the path must exist with the requested method. */
    char methods[128] = "", param[128];
    bool method_ok = false;
    for (size_t i = 0; i < srv->nroutes; i++) {
        bool known = false;
        struct gh_http_server one = *srv;
        one.routes = &srv->routes[i];
        one.nroutes = 1;
        const struct gh_route *r =
            route_find(&one, srv->routes[i].method, req->path, param, sizeof param, &known);
        if (!r)
            continue;
        if (strlen(methods) + strlen(r->method) + 3 < sizeof methods) {
            if (methods[0])
                memcpy(methods + strlen(methods), ", ", 3);
            memcpy(methods + strlen(methods), r->method, strlen(r->method) + 1);
        }
        method_ok |= strcmp(r->method, want) == 0;
    }
    if (!allowed || !method_ok ||
        !request_headers_allowed(gh_http_header(req, "Access-Control-Request-Headers"))) {
        gh_http_reply_problem(req, 403, "cors-refused", "Cross-origin request refused",
                              "This origin, method or header is not allowed.", NULL);
        return true;
    }
    gh_http_add_header(req, "Access-Control-Allow-Origin", origin);
    gh_http_add_header(req, "Access-Control-Allow-Credentials", "true");
    gh_http_add_header(req, "Access-Control-Allow-Methods", methods);
    gh_http_add_header(req, "Access-Control-Allow-Headers",
                       "Content-Type, Authorization, X-Requested-With, X-CSRF-Token");
    gh_http_add_header(req, "Access-Control-Max-Age", "600");
    gh_http_reply_json(req, 204, NULL);
    return true;
}

/* Route the complete request and run its handler. */
static void dispatch(struct gh_http_server *srv, struct gh_http_req *req)
{
    if (cors(srv, req))
        return;
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        for (size_t i = 0; i < srv->opt.nassets; i++) {
            if (strcmp(srv->opt.assets[i].path, req->path) == 0) {
                if (req->body_len > 0)
                    gh_http_reply_problem(req, 400, "unexpected-body",
                                          "This request takes no body", NULL, NULL);
                else
                    gh_http_reply_asset(req, &srv->opt.assets[i]);
                return;
            }
        }
    }
    char param[128];
    bool path_known = false;
    const struct gh_route *r =
        route_find(srv, req->method, req->path, param, sizeof param, &path_known);
    if (!r) {
        if (path_known) {
            gh_http_reply_problem(req, 405, "method-not-allowed", "Method not allowed", NULL, NULL);
        } else {
            gh_http_reply_problem(req, 404, "not-found", "Not found", NULL, NULL);
        }
        return;
    }
    req->route = r;
    if (strstr(r->path, "{id}")) {
        memcpy(req->param, param,
               sizeof req->param < sizeof param ? sizeof req->param : sizeof param);
        req->param[sizeof req->param - 1] = '\0';
        req->has_param = true;
    }
    /* The guard (rate limits, the cross-site check) comes before any judgement of the body, so
     * that a cross-site form post is a 403 whatever its content type. */
    if (srv->opt.guard && !srv->opt.guard(req, r, srv->app))
        return;
    const char *ct = gh_http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    switch (r->body) {
    case GH_BODY_NONE:
        if (req->body_len > 0) {
            gh_http_reply_problem(req, 400, "unexpected-body", "This request takes no body", NULL,
                                  NULL);
            return;
        }
        break;
    case GH_BODY_OPTIONAL_JSON:
        if (req->body_len == 0)
            break;
        /* fall through */
    case GH_BODY_JSON:
        if (!content_type_is(ct, "application/json")) {
            gh_http_reply_error(req, GH_ERR_MEDIA_TYPE, "Send Content-Type: application/json.");
            return;
        }
        break;
    case GH_BODY_JSON_OR_FORM:
        if (content_type_is(ct, "application/x-www-form-urlencoded")) {
            req->is_form = true;
        } else if (!content_type_is(ct, "application/json")) {
            gh_http_reply_error(req, GH_ERR_MEDIA_TYPE,
                                "Send Content-Type: application/json or "
                                "application/x-www-form-urlencoded.");
            return;
        }
        break;
    }
    req->body_kind = r->body;
    r->handler(req, srv->app);
}

static void count_request(struct gh_http_server *srv, struct gh_http_req *req)
{
    if (!srv->rm)
        return;
    size_t idx = req->route ? (size_t)(req->route - srv->routes) : srv->nroutes;
    struct route_metrics *m = &srv->rm[idx];
    unsigned st = req->status < STATUS_SLOTS ? req->status : 0;
    struct gh_counter *c = atomic_load_explicit(&m->by_status[st], memory_order_acquire);
    if (!c) {
        char code[8];
        snprintf(code, sizeof code, "%u", st);
        const char *values[] = {m->label, code};
        c = gh_metrics_counter(srv->opt.metrics, "gatehouse_http_requests_total",
                               "Responses sent on the public listener.", "route,status", values);
        atomic_store_explicit(&m->by_status[st], c, memory_order_release);
    }
    gh_counter_inc(c);
    gh_histogram_observe(m->duration, (double)(mono_us() - req->started_us) / 1e6);
}

static void log_request(struct gh_http_req *req)
{
    enum gh_log_level lvl = req->status >= 500   ? GH_LOG_WARN
                            : req->status >= 400 ? GH_LOG_INFO
                                                 : GH_LOG_DEBUG;
    if (!gh_log_enabled(lvl))
        return;
    char addr[64];
    gh_log_truncate_addr(req->client, addr);
    /* Only method, path, status, timing and a truncated address: never headers or bodies. A
     * path (or method) that is not UTF-8 cannot be a JSON string: it is named, not dropped. */
    json_t *path = json_string(req->path);
    json_t *method = json_string(req->method);
    gh_log(lvl, "request", req->request_id, "http_request",
           json_pack("{s:o,s:o,s:i,s:I,s:s}", "method",
                     method ? method : json_string("(not UTF-8)"), "path",
                     path ? path : json_string("(not UTF-8)"), "status", (int)req->status,
                     "duration_us", (json_int_t)(mono_us() - req->started_us), "client", addr));
}

/* The request structure itself could not be allocated: the fixed 503, without a request. */
static enum MHD_Result reply_nomem_early(struct MHD_Connection *conn,
                                         const struct gh_mem_scope *early, void **con_cls)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof unavailable_body - 1, (void *)(uintptr_t)unavailable_body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Retry-After", "1");
    if (early->armed_n > 0)
        MHD_add_response_header(resp, GH_HTTP_TEST_ALLOC_FAIL,
                                gh_mem_scope_has_fired(early) ? "fired" : "not-fired");
    enum MHD_Result r = MHD_queue_response(conn, 503, resp);
    MHD_destroy_response(resp);
    *con_cls = &nomem_request;
    return r;
}

/* GATEHOUSE_TEST_ALLOC_FAIL: does this request ask for its Nth allocation to fail? */
static long test_fault_requested(struct MHD_Connection *conn)
{
    if (!gh_mem_test_alloc_fail_enabled())
        return 0;
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, GH_HTTP_TEST_ALLOC_FAIL);
    if (!v)
        return 0;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    return end && end != v && *end == '\0' && n > 0 && n <= 100000000 ? n : 0;
}

static enum MHD_Result handle_request(struct gh_http_server *srv, struct MHD_Connection *conn,
                                      const char *url, const char *method, const char *upload_data,
                                      size_t *upload_data_size, void **con_cls,
                                      struct gh_mem_scope *early)
{
    struct gh_http_req *req = *con_cls;

    if (!req) {
        req = gh_calloc(1, sizeof *req);
        if (!req)
            return reply_nomem_early(conn, early, con_cls);
        /* From here on the request's own scope counts (and carries an armed test fault on). */
        req->mem.armed_n = early->armed_n;
        atomic_store(&req->mem.countdown, atomic_load(&early->countdown));
        atomic_store(&req->mem.fired, atomic_load(&early->fired));
        gh_mem_scope_bind(&req->mem);
        atomic_fetch_add(&srv->in_flight, 1);
        req->srv = srv;
        req->conn = conn;
        req->started_us = mono_us();
        req->max_body = srv->opt.max_body;
        gh_random_request_id(req->request_id);
        size_t mlen = strnlen(method, sizeof req->method - 1);
        memcpy(req->method, method, mlen);
        req->method[mlen] = '\0';
        req->path = gh_strndup(url, strnlen(url, 8192));
        resolve_peer(srv, req);
        *con_cls = req;
        if (!req->path) {
            gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
            return queue_reply(req);
        }
        /* Refuse an announced oversize body before reading any of it. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end = NULL;
            unsigned long long n = strtoull(cl, &end, 10);
            if (end && *end == '\0' && n > req->max_body) {
                gh_http_reply_error(req, GH_ERR_TOO_LARGE, NULL);
                return queue_reply(req);
            }
        }
        return MHD_YES;
    }

    if (req->replied) {
        *upload_data_size = 0; /* discard the rest of a refused body */
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->reply_ready) {
            /* Over the limit without a Content-Length (chunked): libmicrohttpd can only answer
             * once the upload ends, so discard what follows — up to a bound, then hang up. */
            req->discarded += n;
            return req->discarded > GH_HTTP_DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (req->body_len + n > req->max_body) {
            gh_http_reply_error(req, GH_ERR_TOO_LARGE, NULL);
            req->discarded = req->body_len + n;
            return MHD_YES;
        }
        if (!req->body) {
            req->body = gh_malloc(req->max_body + 1);
            if (!req->body) {
                /* libmicrohttpd takes no response in the middle of an upload: drop the rest
                 * and answer once it has arrived (as for an oversize chunked body). */
                gh_http_reply_error(req, GH_ERR_NOMEM, NULL);
                req->discarded = req->body_len + n;
                return MHD_YES;
            }
        }
        memcpy(req->body + req->body_len, upload_data, n);
        req->body_len += n;
        req->body[req->body_len] = '\0';
        return MHD_YES;
    }

    /* The whole request is here (or we were resumed). */
    if (req->suspended) {
        req->suspended = false;
        return queue_reply(req);
    }
    if (!req->reply_ready && !req->dispatched) {
        req->dispatched = true;
        dispatch(srv, req);
        if (req->suspended)
            return MHD_YES;
    }
    if (!req->reply_ready)
        gh_http_reply_error(req, GH_ERR_INTERNAL, NULL);
    return queue_reply(req);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    if (*con_cls == &nomem_request) {
        *upload_data_size = 0; /* answered already: drop the body */
        return MHD_YES;
    }
    struct gh_http_req *req = *con_cls;
    struct gh_mem_scope early;
    memset(&early, 0, sizeof early);
    if (req) {
        gh_mem_scope_bind(&req->mem);
    } else {
        long n = test_fault_requested(conn);
        if (n > 0)
            gh_mem_scope_arm(&early, n);
        gh_mem_scope_bind(&early); /* the request structure itself is allocated in it */
    }
    enum MHD_Result r =
        handle_request(cls, conn, url, method, upload_data, upload_data_size, con_cls, &early);
    gh_mem_scope_bind(NULL);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    if (*con_cls == &nomem_request) {
        *con_cls = NULL;
        return;
    }
    struct gh_http_req *req = *con_cls;
    if (!req)
        return;
    gh_mem_scope_bind(&req->mem);
    if (req->replied) {
        count_request(req->srv, req);
        log_request(req);
    }
    gh_mem_scope_bind(NULL);
    struct gh_http_server *srv = req->srv;
    req_free(req);
    atomic_fetch_sub(&srv->in_flight, 1);
    *con_cls = NULL;
}

/* libmicrohttpd's own format strings: the logger callback can only pass them through. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
                                                             va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    gh_log(GH_LOG_DEBUG, "http library message", NULL, "mhd", json_pack("{s:s}", "detail", buf));
}

/* Why the daemon could not start, said with the address (the operator's GATEHOUSE_LISTEN or
 * GATEHOUSE_METRICS_LISTEN, never a secret). libmicrohttpd only logs the reason at debug level,
 * so a throw-away socket tries the same bind with the same option (SO_REUSEADDR: a restart may
 * bind over connections in TIME_WAIT, but never next to a live listener, as SO_REUSEPORT would
 * allow). */
static void log_listen_failure(const struct gh_http_options *opt, const struct sockaddr *sa)
{
    bool v6 = sa->sa_family == AF_INET6;
    socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int err = 0;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
    } else {
        int on = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (v6)
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
        if (bind(fd, sa, len) != 0)
            err = errno;
        close(fd);
    }
    char addr[80];
    snprintf(addr, sizeof addr, v6 ? "[%s]:%u" : "%s:%u", opt->host, (unsigned)opt->port);
    const char *msg = "cannot listen: the HTTP server did not start on this address";
    const char *reason = "start_failed";
    if (err == EADDRINUSE) {
        msg = "cannot listen: address already in use (is another server running on it?)";
        reason = "address_in_use";
    } else if (err == EACCES) {
        msg = "cannot listen: permission denied for this address (a port below 1024 needs "
              "privileges)";
        reason = "permission_denied";
    } else if (err == EADDRNOTAVAIL) {
        msg = "cannot listen: address not available on this machine";
        reason = "address_not_available";
    }
    gh_log(GH_LOG_ERROR, msg, NULL, "listen_failed",
           json_pack("{s:s,s:s}", "address", addr, "reason", reason));
}

gh_err gh_http_start(const struct gh_http_options *opt, const struct gh_route *routes,
                     size_t nroutes, void *app, struct gh_http_server **out)
{
    struct gh_http_server *srv = gh_calloc(1, sizeof *srv);
    if (!srv)
        return GH_ERR_NOMEM;
    srv->routes = routes;
    srv->nroutes = nroutes;
    srv->app = app;
    srv->opt = *opt;
    if (opt->metrics) {
        srv->rm = gh_calloc(nroutes + 1, sizeof *srv->rm);
        if (!srv->rm) {
            gh_free(srv);
            return GH_ERR_NOMEM;
        }
        for (size_t i = 0; i <= nroutes; i++) {
            struct route_metrics *m = &srv->rm[i];
            if (i < nroutes)
                snprintf(m->label, sizeof m->label, "%s %s", routes[i].method, routes[i].path);
            else
                snprintf(m->label, sizeof m->label, "unmatched");
            const char *values[] = {m->label};
            m->duration = gh_metrics_histogram(
                opt->metrics, "gatehouse_http_request_duration_seconds",
                "Time from a request's arrival to its response being queued.",
                gh_metrics_seconds_buckets, GH_METRICS_SECONDS_NBUCKETS, "route", values);
        }
    }

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, opt->host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(opt->port);
    } else if (inet_pton(AF_INET6, opt->host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(opt->port);
        flags |= MHD_USE_IPv6;
    } else {
        gh_free(srv->rm);
        gh_free(srv);
        return GH_ERR_CONFIG;
    }
    unsigned threads = opt->threads ? opt->threads : 1;
    /* TLS through GnuTLS: 1.2 and 1.3 only, AEAD ciphers with forward secrecy only. */
    static const char tls_priorities[] =
        "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:"
        "+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"
        "-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:%SERVER_PRECEDENCE";
    /* The certificate comes from a callback so that SIGHUP can replace it (http/tls.c). */
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, gh_http_tls_callback()},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)(uintptr_t)tls_priorities},
        {MHD_OPTION_END, 0, NULL},
    };
    if (opt->tls_cert_pem) {
        if (gh_http_tls_load(opt->tls_cert_pem, opt->tls_key_pem) != GH_OK) {
            gh_free(srv->rm);
            gh_free(srv);
            return GH_ERR_CONFIG;
        }
        flags |= MHD_USE_TLS;
        srv->tls = true;
    } else {
        tls_opts[0].option = MHD_OPTION_END;
    }
    /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: its SO_REUSEPORT lets a second process bind the
     * same address and silently take part of the connections. Without it libmicrohttpd sets
     * only SO_REUSEADDR (Linux), so a restart still binds while old connections sit in
     * TIME_WAIT, and a second listener fails at start-up. */
    srv->daemon = MHD_start_daemon(
        flags, opt->port, NULL, NULL, on_request, srv,
        /* the logger must come first, or early messages go to stderr as plain text */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, opt->max_connections ? opt->max_connections : 4096u,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, opt->per_ip_connections,
        /* Strict HTTP parsing: no NUL in header values, Host required on HTTP/1.1, no
         * whitespace tricks around header names (request smuggling and header confusion). */
        MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(8 * 1024),
        MHD_OPTION_END);
    if (!srv->daemon) {
        log_listen_failure(opt, (const struct sockaddr *)&ss);
        if (opt->tls_cert_pem)
            gh_http_tls_free();
        gh_free(srv->rm);
        gh_free(srv);
        return GH_ERR_IO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : opt->port;
    *out = srv;
    return GH_OK;
}

uint16_t gh_http_port(struct gh_http_server *srv)
{
    return srv->port;
}

void gh_http_drain(struct gh_http_server *srv, unsigned timeout_ms)
{
    if (!srv)
        return;
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    for (unsigned waited = 0; atomic_load(&srv->in_flight) > 0 && waited < timeout_ms;
         waited += 10) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void gh_http_stop(struct gh_http_server *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->daemon);
    if (srv->tls)
        gh_http_tls_free();
    gh_free(srv->rm);
    gh_free(srv);
}

gh_err gh_http_reload_tls(struct gh_http_server *srv, const char *cert_pem, const char *key_pem)
{
    if (!srv || !srv->tls)
        return GH_ERR_CONFIG;
    return gh_http_tls_load(cert_pem, key_pem);
}

void gh_http_suspend(struct gh_http_req *req)
{
    req->suspended = true;
    MHD_suspend_connection(req->conn);
}

void gh_http_resume(struct gh_http_req *req)
{
    MHD_resume_connection(req->conn);
}
