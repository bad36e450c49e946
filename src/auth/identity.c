/* Owns the rules for what an email address and a display name may be. Pure functions. */
#include <ctype.h>
#include <string.h>

#include "auth/identity.h"
#include "core/banned.h"

static bool local_char_ok(unsigned char c)
{
    return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
}

bool gh_email_normalize(const char *in, size_t len, char *out, char *key, const char **why)
{
    while (len > 0 && (*in == ' ' || *in == '\t')) {
        in++;
        len--;
    }
    while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
        len--;
    if (len == 0) {
        *why = "must not be empty";
        return false;
    }
    if (len > GH_EMAIL_MAX) {
        *why = "must be at most 254 characters";
        return false;
    }
    const char *at = memchr(in, '@', len);
    if (!at || memchr(at + 1, '@', len - (size_t)(at - in) - 1)) {
        *why = "must contain exactly one @";
        return false;
    }
    size_t llen = (size_t)(at - in), dlen = len - llen - 1;
    if (llen == 0 || llen > 64) {
        *why = "the part before @ must be 1 to 64 characters";
        return false;
    }
    if (in[0] == '.' || in[llen - 1] == '.') {
        *why = "the part before @ must not start or end with a dot";
        return false;
    }
    for (size_t i = 0; i < llen; i++) {
        if (!local_char_ok((unsigned char)in[i]) || (in[i] == '.' && in[i + 1] == '.')) {
            *why = "the part before @ contains a character that is not allowed";
            return false;
        }
    }
    const char *d = at + 1;
    if (dlen < 3 || dlen > 253 || !memchr(d, '.', dlen)) {
        *why = "the domain must be a name with a dot, like example.com";
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i < dlen; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.') {
            if (label == 0 || d[i - 1] == '-') {
                *why = "the domain has an empty or malformed label";
                return false;
            }
            label = 0;
            continue;
        }
        if (!(isalnum(c) || c == '-') || (label == 0 && c == '-') || ++label > 63) {
            *why = "the domain contains a character that is not allowed";
            return false;
        }
    }
    if (label == 0 || d[dlen - 1] == '-') {
        *why = "the domain has an empty or malformed label";
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char lower = (char)tolower((unsigned char)in[i]);
        out[i] = in[i]; /* the part before @ keeps its case, the domain is lowercased */
        if (i > llen)
            out[i] = lower;
        key[i] = lower;
    }
    out[len] = '\0';
    key[len] = '\0';
    return true;
}

bool gh_display_name_is_valid(const char *s, size_t len, const char **why)
{
    if (len == 0) {
        *why = "must not be empty";
        return false;
    }
    if (len > GH_DISPLAY_NAME_MAX) {
        *why = "must be at most 200 bytes";
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            *why = "must not contain control characters";
            return false;
        }
    }
    return true;
}
