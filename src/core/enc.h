/* Encoding helpers over libsodium (base64url, hex) and random identifiers. No secrets kept here. */
#ifndef GH_CORE_ENC_H
#define GH_CORE_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Length of base64url (no padding) text for n bytes, excluding NUL. */
#define GH_B64URL_LEN(n) (((n) * 4 + 2) / 3)

/* base64url without padding; out must hold GH_B64URL_LEN(n)+1 bytes. */
void gh_b64url_encode(const unsigned char *in, size_t n, char *out, size_t out_size);

/* Strict base64url (no padding, no whitespace) decode. Fails on any invalid character. */
GH_MUST_USE gh_err gh_b64url_decode(const char *in, size_t in_len, unsigned char *out,
                                    size_t out_max, size_t *out_len);

/* Standard base64 (with padding) decode, for configured keys. Ignores nothing. */
GH_MUST_USE gh_err gh_b64_decode(const char *in, size_t in_len, unsigned char *out,
                                 size_t out_max, size_t *out_len);
void gh_b64_encode(const unsigned char *in, size_t n, char *out, size_t out_size);

/* A fresh 128-bit random identifier as 22 base64url characters (+NUL). */
#define GH_ID_LEN 22
void gh_random_id(char out[GH_ID_LEN + 1]);
/* The same format for request ids, from a per-thread buffer of CSPRNG output refilled 1 KiB at
 * a time (one libsodium call per 64 requests instead of one each). Not for anything secret or
 * stored: a forked child would repeat its parent's ids. */
void gh_random_request_id(char out[GH_ID_LEN + 1]);

/* Is s exactly a well-formed id (22 base64url characters)? */
bool gh_id_is_valid(const char *s);

/* Current time, seconds since the epoch (wall clock). */
int64_t gh_now(void);

#endif
