/* Fuzz target: form-body decoding. Invariants: a success is an object of UTF-8 strings without
 * NUL, each value within the limit; re-decoding is deterministic. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *a = NULL, *b = NULL;
    gh_err r1 = gh_http_form_decode((const char *)data, size, 256, &a);
    gh_err r2 = gh_http_form_decode((const char *)data, size, 256, &b);
    assert(r1 == r2);
    if (r1 == GH_OK) {
        assert(json_equal(a, b));
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v)
        {
            assert(json_is_string(v));
            assert(json_string_length(v) <= 256);
            assert(!memchr(json_string_value(v), 0, json_string_length(v)));
            assert(strlen(k) > 0);
        }
    } else {
        assert(!a);
    }
    json_decref(a);
    json_decref(b);
    return 0;
}
