/* Email validation and normalisation (a pragmatic RFC 5321 subset) and display-name checks.
 * Trust boundary: input is client text already known to be UTF-8 without NUL. */
#ifndef GH_AUTH_IDENTITY_H
#define GH_AUTH_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

/* Validate email; on success out (GH_EMAIL_MAX+1) holds it trimmed with the domain lowercased,
 * and key (GH_EMAIL_KEY_MAX+1) the whole address lowercased (case-insensitive uniqueness).
 * On failure *why says what is wrong (a fixed string). */
bool gh_email_normalize(const char *in, size_t len, char *out, char *key, const char **why);

/* A display name: 1..GH_DISPLAY_NAME_MAX bytes, no control characters. */
bool gh_display_name_is_valid(const char *s, size_t len, const char **why);

#endif
