/* Names of gh_err values, for logs and operator messages (never sent to clients). */
#include "core/err.h"
#include "core/banned.h"

const char *gh_err_name(gh_err e)
{
    switch (e) {
    case GH_OK: return "ok";
    case GH_ERR_NOMEM: return "out of memory";
    case GH_ERR_INVALID: return "invalid";
    case GH_ERR_MALFORMED: return "malformed";
    case GH_ERR_TOO_LARGE: return "too large";
    case GH_ERR_MEDIA_TYPE: return "unsupported media type";
    case GH_ERR_NOT_FOUND: return "not found";
    case GH_ERR_CONFLICT: return "conflict";
    case GH_ERR_AUTH: return "not authenticated";
    case GH_ERR_FORBIDDEN: return "forbidden";
    case GH_ERR_BUSY: return "busy";
    case GH_ERR_RATE: return "rate limited";
    case GH_ERR_STORE: return "storage error";
    case GH_ERR_IO: return "i/o error";
    case GH_ERR_CRYPTO: return "cryptographic check failed";
    case GH_ERR_CONFIG: return "configuration error";
    case GH_ERR_INTERNAL: return "internal error";
    }
    return "unknown";
}
