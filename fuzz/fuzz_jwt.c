/* Fuzz target: JWT verification. Invariant: no input that was not produced by our signing key
 * verifies, and verification never reads past the given length. The fuzzer also gets a valid
 * token prefix to mutate (corpus). */
#include <assert.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"

static struct gh_keyring *kr;

static void init(void)
{
    if (kr)
        return;
    assert(sodium_init() >= 0);
    struct gh_key_material km;
    gh_key_generate(&km);
    km.state = GH_KEY_ACTIVE;
    assert(gh_keyring_new(&kr) == GH_OK);
    assert(gh_keyring_replace(kr, &km, 1) == GH_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    /* Exact-length copy so ASan catches any read past the end. */
    char *tok = malloc(size ? size : 1);
    if (!tok)
        return 0;
    memcpy(tok, data, size);
    struct gh_jwt_claims c;
    gh_err rc = gh_jwt_verify(kr, tok, size, "iss", "aud", 1000, &c);
    /* The key is random per process: nothing from the corpus can carry its signature. */
    assert(rc != GH_OK);
    free(tok);
    return 0;
}
