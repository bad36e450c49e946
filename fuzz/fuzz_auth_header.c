/* Fuzz target: the Authorization header's Bearer token (the session cookie's value takes the
 * same path into the verifier, fuzzed by fuzz_jwt). Input: the header value. Invariants: a token
 * is found only after a case-insensitive "Bearer " scheme; it lies inside the header, is
 * non-empty, has no leading or trailing space, and nothing else changes it. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = malloc(size + 1);
    if (!h)
        return 0;
    memcpy(h, data, size);
    h[size] = '\0';
    size_t len = 0;
    const char *t = gh_http_parse_bearer(h, &len);
    if (t) {
        assert(strncasecmp(h, "Bearer ", 7) == 0);
        assert(t >= h + 7 && t + len <= h + strlen(h));
        assert(len > 0 && t[0] != ' ' && t[len - 1] != ' ');
        /* Everything between the scheme and the token is spaces; after it too. */
        for (const char *p = h + 7; p < t; p++)
            assert(*p == ' ');
        for (const char *p = t + len; *p; p++)
            assert(*p == ' ');
    } else {
        /* No token: not the Bearer scheme, or only spaces after it. */
        if (strncasecmp(h, "Bearer ", 7) == 0)
            for (const char *p = h + 7; *p; p++)
                assert(*p == ' ');
    }
    free(h);
    return 0;
}
