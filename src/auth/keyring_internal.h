/* The keyring's interface to jwt.c only. A key set is pinned by acquire and unpinned by
 * release, so a reader never holds a pointer into memory that gh_keyring_replace frees. */
#ifndef GH_AUTH_KEYRING_INTERNAL_H
#define GH_AUTH_KEYRING_INTERNAL_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/jwt.h"

struct gh_keyset;
struct gh_keyset *gh_keyring_acquire(struct gh_keyring *kr);
void gh_keyring_release(struct gh_keyset *ks);
const char *gh_keyset_signer_kid(const struct gh_keyset *ks);
int gh_keyset_sign(const struct gh_keyset *ks, const unsigned char *msg, size_t len,
                   unsigned char sig[crypto_sign_BYTES]);
bool gh_keyset_verify(const struct gh_keyset *ks, const char *kid, size_t kid_len,
                      const unsigned char *msg, size_t len,
                      const unsigned char sig[crypto_sign_BYTES], int64_t *out_valid_until);

#endif
