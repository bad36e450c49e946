/* Owns every response gatehouse sends: JSON and problem+json bodies, the security headers on
 * all of them, and the one map from gh_err to HTTP status. Nothing internal (library messages,
 * paths, SQL) is ever put in a body: details are fixed strings chosen by the caller. */
#include <string.h>

#include "core/mem.h"
#include "http/internal.h"
#include "core/banned.h"

unsigned gh_http_status_for(gh_err err)
{
    switch (err) {
    case GH_OK: return 200;
    case GH_ERR_MALFORMED: return 400;
    case GH_ERR_AUTH: return 401;
    case GH_ERR_FORBIDDEN: return 403;
    case GH_ERR_NOT_FOUND: return 404;
    case GH_ERR_CONFLICT: return 409;
    case GH_ERR_TOO_LARGE: return 413;
    case GH_ERR_MEDIA_TYPE: return 415;
    case GH_ERR_INVALID: return 422;
    case GH_ERR_RATE: return 429;
    case GH_ERR_NOMEM:
    case GH_ERR_BUSY:
    case GH_ERR_STORE:
    case GH_ERR_IO: return 503;
    case GH_ERR_CRYPTO:
    case GH_ERR_CONFIG:
    case GH_ERR_INTERNAL: return 500;
    }
    return 500;
}

static const char *slug_for(gh_err err, const char **title)
{
    switch (err) {
    case GH_ERR_MALFORMED: *title = "Malformed request"; return "malformed-request";
    case GH_ERR_AUTH: *title = "Not authenticated"; return "unauthenticated";
    case GH_ERR_FORBIDDEN: *title = "Forbidden"; return "forbidden";
    case GH_ERR_NOT_FOUND: *title = "Not found"; return "not-found";
    case GH_ERR_CONFLICT: *title = "Conflict"; return "conflict";
    case GH_ERR_TOO_LARGE: *title = "Request body too large"; return "body-too-large";
    case GH_ERR_MEDIA_TYPE: *title = "Unsupported media type"; return "unsupported-media-type";
    case GH_ERR_INVALID: *title = "Validation failed"; return "validation-failed";
    case GH_ERR_RATE: *title = "Too many requests"; return "rate-limited";
    case GH_ERR_NOMEM:
    case GH_ERR_BUSY:
    case GH_ERR_STORE:
    case GH_ERR_IO: *title = "Service temporarily unavailable"; return "unavailable";
    default: *title = "Internal error"; return "internal-error";
    }
}

static void set_reply(struct gh_http_req *req, unsigned status, json_t *body, bool problem)
{
    gh_free(req->raw_body);
    req->raw_body = NULL;
    req->raw_type = NULL;
    req->asset = NULL;
    json_decref(req->reply_body);
    req->reply_body = body;
    req->status = status;
    req->problem = problem;
    req->reply_ready = true;
}

void gh_http_reply_text(struct gh_http_req *req, unsigned status, const char *content_type,
                        char *text, size_t len)
{
    set_reply(req, status, NULL, false);
    gh_free(req->raw_body);
    req->raw_body = text;
    req->raw_len = len;
    req->raw_type = content_type;
}

void gh_http_reply_asset(struct gh_http_req *req, const struct gh_http_asset *a)
{
    set_reply(req, 200, NULL, false);
    req->asset = a;
    req->raw_type = a->content_type;
}

void gh_http_reply_json(struct gh_http_req *req, unsigned status, json_t *body)
{
    set_reply(req, status, body, false);
}

void gh_http_reply_problem(struct gh_http_req *req, unsigned status, const char *slug,
                           const char *title, const char *detail, json_t *extra)
{
    char type[128];
    snprintf(type, sizeof type, "urn:gatehouse:problem:%s", slug);
    json_t *o = json_pack("{s:s,s:s,s:i,s:s}", "type", type, "title", title, "status",
                          (int)status, "request_id", req->request_id);
    if (o && detail)
        json_object_set_new(o, "detail", json_string(detail));
    if (o && extra)
        json_object_update_missing(o, extra);
    json_decref(extra);
    if (!o)
        status = 503; /* no body for the intended answer: the fixed 503 one (server.c) */
    if (status == 503 || status == 429)
        gh_http_add_header(req, "Retry-After", "1");
    set_reply(req, status, o, true);
}

void gh_http_reply_error(struct gh_http_req *req, gh_err err, const char *detail)
{
    const char *title = NULL;
    const char *slug = slug_for(err, &title);
    gh_http_reply_problem(req, gh_http_status_for(err), slug, title, detail, NULL);
}

void gh_http_reply_invalid(struct gh_http_req *req, const char *field, const char *message)
{
    json_t *errs = json_pack("{s:[{s:s,s:s}]}", "errors", "field", field, "message", message);
    gh_http_reply_problem(req, 422, "validation-failed", "Validation failed", message, errs);
}

void gh_http_add_header(struct gh_http_req *req, const char *name, const char *value)
{
    /* Set-Cookie may repeat; any other header set twice keeps the last value. */
    bool repeatable = strcasecmp(name, "Set-Cookie") == 0;
    for (size_t i = 0; i < req->nheaders && !repeatable; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0) {
            char *v = gh_strdup(value);
            if (v) {
                gh_free(req->headers[i].value);
                req->headers[i].value = v;
            } else {
                req->headers_lost = true;
            }
            return;
        }
    }
    if (req->nheaders >= GH_HTTP_MAX_HEADERS)
        return;
    char *n = gh_strdup(name);
    char *v = gh_strdup(value);
    if (!n || !v) {
        gh_free(n);
        gh_free(v);
        req->headers_lost = true; /* e.g. X-Auth-User-Id of a 200: server.c answers 503 */
        return;
    }
    req->headers[req->nheaders].name = n;
    req->headers[req->nheaders].value = v;
    req->nheaders++;
}

void gh_http_apply_headers(struct gh_http_req *req, struct MHD_Response *resp)
{
    if (req->reply_body)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                req->problem ? "application/problem+json"
                                             : "application/json");
    else if (req->raw_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->raw_type);
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    if (req->asset && req->asset->page)
        /* The built-in pages: their own scripts and styles only, nothing inline. */
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; script-src 'self'; style-src 'self'; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                                "form-action 'self'");
    else
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'none'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
    if (req->asset) {
        /* Static files hold nothing personal; revalidate so an upgrade shows at once. */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    } else {
        /* Every API answer may carry a token or personal data: never cache any of them. */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(resp, "Pragma", "no-cache");
    }
    if (req->is_https)
        MHD_add_response_header(resp, "Strict-Transport-Security",
                                "max-age=63072000; includeSubDomains");
    for (size_t i = 0; i < req->nheaders; i++)
        MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value);
}
