/* Fuzz target: request-body decoding (JSON and form) against a schema. Invariants: a success
 * holds only schema fields, each a string within its limit without NUL; a failure holds
 * nothing; malformed failures carry a fixed detail and invalid ones a non-empty error list. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "http/http.h"

static const struct gh_field schema[] = {
    {"email", GH_FIELD_STRING, true, 320},
    {"password", GH_FIELD_STRING, true, 1024},
    {"display_name", GH_FIELD_STRING, false, 200},
};

static void check(const uint8_t *data, size_t size, bool form)
{
    json_t *out = NULL, *errs = NULL;
    const char *detail = NULL;
    gh_err rc = gh_http_decode_body((const char *)data, size, form, 16384, schema, 3, &out, &errs,
                                    &detail);
    if (rc == GH_OK) {
        assert(out && !errs);
        const char *k;
        json_t *v;
        json_object_foreach(out, k, v)
        {
            size_t i = 0;
            while (i < 3 && strcmp(schema[i].name, k) != 0)
                i++;
            assert(i < 3);
            assert(json_is_string(v));
            assert(json_string_length(v) <= schema[i].max_len);
            assert(!memchr(json_string_value(v), 0, json_string_length(v)));
        }
        assert(json_object_get(out, "password") || form);
    } else if (rc == GH_ERR_MALFORMED) {
        assert(!out && !errs && detail);
    } else if (rc == GH_ERR_INVALID) {
        assert(!out && errs && json_array_size(errs) > 0);
    }
    json_decref(out);
    json_decref(errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    check(data, size, false);
    check(data, size, true);
    return 0;
}
