/* Owns request-side decoding: header access, the Bearer credential, and body decoding (JSON via
 * jansson, forms via libmicrohttpd's unescaper) checked against a schema before any expensive
 * work. Trust boundary: all of it is client input; limits are enforced before use. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "http/internal.h"
#include "core/banned.h"

#define GH_JSON_MAX_DEPTH 8
#define GH_JSON_MAX_ITEMS 64

const char *gh_http_request_id(struct gh_http_req *req)
{
    return req->request_id;
}

const char *gh_http_path_param(struct gh_http_req *req)
{
    return req->has_param ? req->param : NULL;
}

const char *gh_http_header(struct gh_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *gh_http_query(struct gh_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *gh_http_cookie(struct gh_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

bool gh_http_is_https(struct gh_http_req *req)
{
    return req->is_https;
}

const char *gh_http_client_key(struct gh_http_req *req)
{
    return req->client_key;
}

const char *gh_http_client_addr(struct gh_http_req *req)
{
    return req->client;
}

bool gh_http_has_body(struct gh_http_req *req)
{
    return req->body_len > 0;
}

bool gh_http_body_is_form(struct gh_http_req *req)
{
    return req->is_form;
}

bool gh_http_alloc_failed(struct gh_http_req *req)
{
    return gh_mem_scope_failures(&req->mem) > 0;
}

void gh_http_set_ctx(struct gh_http_req *req, void *ctx, void (*free_fn)(void *))
{
    if (req->ctx_free)
        req->ctx_free(req->ctx);
    req->ctx = ctx;
    req->ctx_free = free_fn;
}

gh_err gh_http_basic(struct gh_http_req *req, char **user, char **pass)
{
    *user = NULL;
    *pass = NULL;
    char *p = NULL;
    char *u = MHD_basic_auth_get_username_password(req->conn, &p);
    if (!u || !p) {
        gh_http_basic_free(u, p);
        return GH_ERR_AUTH;
    }
    *user = u;
    *pass = p;
    return GH_OK;
}

void gh_http_basic_free(char *user, char *pass)
{
    /* libmicrohttpd allocated them with malloc. */
    if (user) {
        sodium_memzero(user, strlen(user));
        free(user);
    }
    if (pass) {
        sodium_memzero(pass, strlen(pass));
        free(pass);
    }
}

const char *gh_http_bearer(struct gh_http_req *req, size_t *len)
{
    return gh_http_parse_bearer(gh_http_header(req, MHD_HTTP_HEADER_AUTHORIZATION), len);
}

const char *gh_http_parse_bearer(const char *h, size_t *len)
{
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && t[n - 1] == ' ')
        n--;
    if (n == 0)
        return NULL;
    *len = n;
    return t;
}

/* Depth and size of a decoded JSON value, to refuse deep nesting and huge arrays (400). */
static bool json_within_limits(json_t *v, int depth)
{
    if (depth > GH_JSON_MAX_DEPTH)
        return false;
    if (json_is_array(v)) {
        if (json_array_size(v) > GH_JSON_MAX_ITEMS)
            return false;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!json_within_limits(e, depth + 1))
                return false;
        }
    } else if (json_is_object(v)) {
        if (json_object_size(v) > GH_JSON_MAX_ITEMS)
            return false;
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            if (!json_within_limits(e, depth + 1))
                return false;
        }
    }
    return true;
}

/* false: out of memory (the error would be lost, and with it the refusal). */
static bool add_error(json_t *errs, const char *field, const char *message)
{
    return json_array_append_new(errs,
                                 json_pack("{s:s,s:s}", "field", field, "message", message)) == 0;
}

static const struct gh_field *schema_find(const struct gh_field *schema, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(schema[i].name, k) == 0)
            return &schema[i];
    return NULL;
}

/* Check a decoded object against the schema; collects every problem. ignore_unknown is for
 * form bodies (RFC 6749: unknown parameters are ignored). NULL: out of memory — never a
 * partial result (a lost error or a lost field would let a body pass that should not). */
static json_t *validate(json_t *obj, const struct gh_field *schema, size_t n, bool ignore_unknown,
                        json_t **out)
{
    json_t *errs = json_array();
    json_t *clean = json_object();
    bool ok = errs && clean;
    const char *k;
    size_t klen;
    json_t *v;
    if (ok) {
        json_object_keylen_foreach(obj, k, klen, v)
        {
            const struct gh_field *f = strlen(k) == klen ? schema_find(schema, n, k) : NULL;
            char msg[96];
            const char *problem = NULL;
            size_t len = json_string_length(v);
            if (!f) {
                if (ignore_unknown)
                    continue;
                problem = "unknown field";
            } else if (!json_is_string(v)) {
                problem = "must be a string";
            } else if (memchr(json_string_value(v), '\0', len)) {
                problem = "must not contain the NUL character (U+0000)";
            } else if (len > f->max_len) {
                snprintf(msg, sizeof msg, "must be at most %zu bytes", f->max_len);
                problem = msg;
            }
            const char *name = f ? f->name : strlen(k) == klen ? k : "(invalid name)";
            if (problem)
                ok = add_error(errs, name, problem);
            else
                ok = json_object_set(clean, f->name, v) == 0;
            if (!ok)
                break;
        }
    }
    for (size_t i = 0; ok && i < n; i++) {
        if (schema[i].required && !json_object_get(obj, schema[i].name))
            ok = add_error(errs, schema[i].name, "is required");
    }
    if (!ok) {
        json_decref(errs);
        json_decref(clean);
        return NULL;
    }
    *out = clean;
    return errs;
}

gh_err gh_http_decode_body(const char *body, size_t len, bool form, size_t max_value,
                           const struct gh_field *schema, size_t nfields, json_t **out,
                           json_t **out_errors, const char **out_detail)
{
    json_t *root = NULL;
    json_t *clean = NULL;
    json_t *errs = NULL;
    *out = NULL;
    *out_errors = NULL;
    *out_detail = NULL;
    if (form) {
        gh_err rc = gh_http_form_decode(body ? body : "", len, max_value, &root);
        if (rc != GH_OK) {
            *out_detail = "The form body could not be decoded (duplicated or badly encoded "
                          "parameter).";
            return rc;
        }
    } else {
        json_error_t jerr;
        if (len == 0) {
            *out_detail = "The request body is empty.";
            return GH_ERR_MALFORMED;
        }
        /* JSON_ALLOW_NUL lets \u0000 through to the schema check, which refuses it with 422. */
        unsigned long failures = gh_mem_thread_failures();
        root =
            json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
        if (gh_mem_thread_failures() != failures) {
            /* Not the client's fault (503, not 400) — and even a value that parsed cannot be
             * trusted: jansson's lexer drops a character whose buffer could not grow, so
             * "a@example.com" would silently become "a@example.co". */
            json_decref(root);
            return GH_ERR_NOMEM;
        }
        if (!root) {
            *out_detail = "The body is not valid JSON (or not UTF-8, or has a duplicated key).";
            return GH_ERR_MALFORMED;
        }
        if (!json_within_limits(root, 1)) {
            json_decref(root);
            *out_detail = "The JSON is nested too deeply or has too many items.";
            return GH_ERR_MALFORMED;
        }
        if (!json_is_object(root)) {
            json_decref(root);
            *out_errors =
                json_pack("[{s:s,s:s}]", "field", "(body)", "message", "must be a JSON object");
            return *out_errors ? GH_ERR_INVALID : GH_ERR_NOMEM;
        }
    }
    errs = validate(root, schema, nfields, form, &clean);
    json_decref(root);
    if (!errs)
        return GH_ERR_NOMEM;
    if (json_array_size(errs) > 0) {
        json_decref(clean);
        *out_errors = errs;
        return GH_ERR_INVALID;
    }
    json_decref(errs);
    *out = clean;
    return GH_OK;
}

gh_err gh_http_body_or_reply(struct gh_http_req *req, const struct gh_field *schema, size_t nfields,
                             json_t **out)
{
    json_t *errs = NULL;
    const char *detail = NULL;
    gh_err rc = gh_http_decode_body(req->body, req->body_len, req->is_form, req->max_body, schema,
                                    nfields, out, &errs, &detail);
    if (rc == GH_OK)
        return GH_OK;
    if (rc == GH_ERR_NOMEM) {
        gh_http_reply_error(req, rc, NULL);
        return rc;
    }
    if (req->is_form) {
        /* RFC 6749 5.2: every malformed token request is 400 invalid_request. */
        json_t *extra = json_pack("{s:s}", "error", "invalid_request");
        if (errs)
            json_object_set_new(extra, "errors", errs);
        gh_http_reply_problem(req, 400, "malformed-request", "Malformed request",
                              detail ? detail : "One or more parameters are invalid.", extra);
        return rc;
    }
    if (rc == GH_ERR_INVALID) {
        gh_http_reply_problem(req, 422, "validation-failed", "Validation failed",
                              "One or more fields are invalid.",
                              json_pack("{s:o}", "errors", errs));
        return rc;
    }
    gh_http_reply_error(req, rc, detail);
    return rc;
}

/* Percent-decode one form component in place ('+' is a space), via libmicrohttpd. */
static size_t form_unescape(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '+')
            *p = ' ';
    return MHD_http_unescape(s);
}

gh_err gh_http_form_decode(const char *body, size_t len, size_t max_value, json_t **out)
{
    json_t *obj = json_object();
    char *copy = gh_strndup(body, len);
    gh_err rc = GH_ERR_MALFORMED;
    if (!obj || !copy) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    if (memchr(body, '\0', len))
        goto out;
    char *p = copy;
    while (*p) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        if (*p) {
            char *eq = strchr(p, '=');
            char *val = eq ? eq + 1 : p + strlen(p);
            if (eq)
                *eq = '\0';
            size_t klen = form_unescape(p);
            size_t vlen = form_unescape(val);
            /* A decoded NUL (%00) ends the C string early: refuse it. */
            if (klen != strlen(p) || vlen != strlen(val) || klen == 0 || vlen > max_value)
                goto out;
            if (json_object_get(obj, p))
                goto out; /* RFC 6749 §3.2: parameters must not be repeated */
            unsigned long failures = gh_mem_thread_failures();
            json_t *s = json_stringn(val, vlen);
            if (!s) { /* not UTF-8, or out of memory */
                if (gh_mem_thread_failures() != failures)
                    rc = GH_ERR_NOMEM;
                goto out;
            }
            if (json_object_set_new(obj, p, s) != 0) {
                rc = GH_ERR_NOMEM;
                goto out;
            }
            if (json_object_size(obj) > GH_JSON_MAX_ITEMS)
                goto out;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    *out = obj;
    obj = NULL;
    rc = GH_OK;
out:
    json_decref(obj);
    gh_free(copy);
    return rc;
}

const char *gh_http_method(struct gh_http_req *req)
{
    return req->method;
}
