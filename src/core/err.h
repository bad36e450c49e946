/* gh_err: the one error type every fallible gatehouse function returns.
 * The map from gh_err to HTTP status lives only in http/response.c. */
#ifndef GH_CORE_ERR_H
#define GH_CORE_ERR_H

#define GH_MUST_USE __attribute__((warn_unused_result))

typedef enum {
    GH_OK = 0,
    GH_ERR_NOMEM,      /* allocation failed: 503 for a request, abort only at start-up */
    GH_ERR_INVALID,    /* input failed validation: 422 */
    GH_ERR_MALFORMED,  /* input is not parseable (not JSON, bad UTF-8, dup keys): 400 */
    GH_ERR_TOO_LARGE,  /* over a size limit: 413 */
    GH_ERR_MEDIA_TYPE, /* wrong Content-Type: 415 */
    GH_ERR_NOT_FOUND,  /* 404 */
    GH_ERR_CONFLICT,   /* 409 */
    GH_ERR_AUTH,       /* not authenticated / bad credentials: 401 */
    GH_ERR_FORBIDDEN,  /* 403 */
    GH_ERR_BUSY,       /* overloaded (hash queue full, database busy): 503 + Retry-After */
    GH_ERR_RATE,       /* rate limited: 429 */
    GH_ERR_STORE,      /* storage failed: 503 */
    GH_ERR_IO,         /* file or socket I/O failed */
    GH_ERR_CRYPTO,     /* a decrypt/verify failed (wrong key, tampered data) */
    GH_ERR_CONFIG,     /* bad configuration */
    GH_ERR_INTERNAL,   /* a bug: 500 */
} gh_err;

const char *gh_err_name(gh_err e);

#endif
