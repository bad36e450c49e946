/* Wrapping of working keys under the master key (XChaCha20-Poly1305, libsodium).
 * Text form: "gk1.<kek id>.<base64url(nonce ‖ ciphertext ‖ tag)>"; the associated data binds a
 * wrapped key to its purpose/name, so a blob moved to another row does not unwrap.
 * The KEK is derived from the master key (crypto_kdf); the working keys themselves are random,
 * so a master-key rotation only re-wraps. A previous master key may be held during rotation. */
#ifndef GH_DATA_KEYWRAP_H
#define GH_DATA_KEYWRAP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define GH_WRAP_TEXT_MAX 255
#define GH_WRAP_PLAIN_MAX 96

struct gh_keywrap;

/* master (32 bytes) required; previous may be NULL. Copies both into secure memory. */
GH_MUST_USE gh_err gh_keywrap_new(const unsigned char *master, const unsigned char *previous,
                                  struct gh_keywrap **out);
void gh_keywrap_free(struct gh_keywrap *kw);

GH_MUST_USE gh_err gh_keywrap_wrap(struct gh_keywrap *kw, const char *ad, const unsigned char *in,
                                   size_t len, char out[GH_WRAP_TEXT_MAX + 1]);

/* Was text wrapped under the current master key (judged by its key id, without decrypting)? */
bool gh_keywrap_is_current(const struct gh_keywrap *kw, const char *text);

/* Unwrap with whichever key opens it and wrap again under the current master key. */
GH_MUST_USE gh_err gh_keywrap_rewrap(struct gh_keywrap *kw, const char *ad, const char *text,
                                     char out[GH_WRAP_TEXT_MAX + 1]);

/* GH_ERR_CRYPTO when neither key opens it (wrong key, tampered, wrong ad). out_by_previous
 * (may be NULL) says the previous master key was needed (the caller should re-wrap). */
GH_MUST_USE gh_err gh_keywrap_unwrap(struct gh_keywrap *kw, const char *ad, const char *text,
                                     unsigned char *out, size_t out_max, size_t *out_len,
                                     bool *out_by_previous);

#endif
