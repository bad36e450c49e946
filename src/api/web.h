/* The built-in pages (web/), compiled into the binary by cmake/embed_web.cmake. */
#ifndef GH_API_WEB_H
#define GH_API_WEB_H

#include <stdbool.h>

#include "http/http.h"

/* Terminated by an entry whose path is NULL. */
extern const struct gh_http_asset gh_web_assets[];
/* How many entries precede the terminator. */
size_t gh_web_asset_count(void);

#endif
