/* The request structure shared by the files of src/http/ only. */
#ifndef GH_HTTP_INTERNAL_H
#define GH_HTTP_INTERNAL_H

#include <microhttpd.h>

#include "core/mem.h"
#include "http/http.h"

#define GH_HTTP_MAX_HEADERS 16
/* GATEHOUSE_TEST_ALLOC_FAIL: the request header that arms a fault ("N": the request's Nth
 * allocation fails) and the response header that tells whether it fired. */
#define GH_HTTP_TEST_ALLOC_FAIL "X-Gatehouse-Test-Alloc-Fail"
/* How much of an oversize chunked body is read (and dropped) before the connection is closed. */
#define GH_HTTP_DISCARD_MAX ((size_t)1024 * 1024)

struct gh_http_header_kv {
    char *name;
    char *value;
};

struct gh_http_req {
    struct gh_http_server *srv;
    struct MHD_Connection *conn;
    char request_id[GH_ID_LEN + 1];
    char method[16];
    char *path;
    char peer[64];   /* the TCP peer */
    char client[64]; /* the client address after trusted proxies */
    char client_key[64];
    bool is_https;
    char param[64];
    bool has_param;
    int64_t started_us;

    char *body;
    size_t body_len;
    size_t max_body;
    size_t discarded;
    bool is_form;
    enum gh_http_body body_kind;
    const struct gh_route *route; /* NULL until routed, or when no route matched */

    bool dispatched;
    bool suspended;
    bool reply_ready;
    bool replied;
    unsigned status;
    json_t *reply_body;
    char *raw_body; /* gh_http_reply_text: gh_malloc'd */
    const struct gh_http_asset *asset; /* a static file reply (body not owned) */
    size_t raw_len;
    const char *raw_type;
    bool problem;
    struct gh_http_header_kv headers[GH_HTTP_MAX_HEADERS];
    size_t nheaders;
    bool headers_lost; /* a header could not be added: the answer would be incomplete */

    void *ctx;
    void (*ctx_free)(void *);

    /* The request's allocations, on whichever thread works on it (the HTTP callbacks, its
     * password-hashing job): a failed one turns a client-error answer into 503. Armed by
     * X-Gatehouse-Test-Alloc-Fail under GATEHOUSE_TEST_ALLOC_FAIL (tests only). */
    struct gh_mem_scope mem;
};

void gh_http_apply_headers(struct gh_http_req *req, struct MHD_Response *resp);
/* Reply with a static file (the body is the asset's, never copied or freed). */
void gh_http_reply_asset(struct gh_http_req *req, const struct gh_http_asset *a);

#endif
