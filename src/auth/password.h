/* Password hashing and verification. New hashes are argon2id (libsodium crypto_pwhash_str) over
 * the NFKC form of the password, stored as "nfkc$" + the PHC string ("nfkc$$argon2id$v=19$…").
 * Unmarked argon2id hashes (made before normalisation) and imported formats (bcrypt,
 * argon2i/argon2id PHC with any parallelism, Django pbkdf2_sha256$, bcrypt_sha256$, argon2$)
 * verify the password bytes as given and report that they need a rehash.
 * Trust boundary: stored strings come from our database or an operator's import file. */
#ifndef GH_AUTH_PASSWORD_H
#define GH_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/* Longest stored hash string we accept (including imported formats), excluding NUL. */
#define GH_PASSWORD_HASH_MAX 255

/* OWASP floor for argon2id: m = 19 MiB, t = 2 (libsodium fixes p = 1). */
#define GH_PASSWORD_MIN_OPSLIMIT 2ULL
#define GH_PASSWORD_MIN_MEMLIMIT ((size_t)19 * 1024 * 1024)

struct gh_password_params {
    unsigned long long opslimit;
    size_t memlimit; /* bytes */
};

/* Default (OWASP) parameters. */
void gh_password_params_default(struct gh_password_params *out);

/* NFKC-normalise pw (pw_len bytes of UTF-8, no NUL) and hash it with argon2id into out
 * (NUL-terminated, "nfkc$$argon2id$…"). GH_ERR_INVALID for invalid UTF-8 or a NUL. */
GH_MUST_USE gh_err gh_password_hash(const struct gh_password_params *p, const char *pw,
                                    size_t pw_len, char *out, size_t out_size);

/* A hash in exactly the form gh_password_hash gives for params p ("nfkc$$argon2id$v=19$m=…,t=…,
 * p=1$salt$hash") whose salt and hash are random bytes: no password matches it, and verifying
 * one against it costs a real verification's time. For unknown emails, without spending a
 * hash at start-up. */
GH_MUST_USE gh_err gh_password_dummy_hash(const struct gh_password_params *p, char *out,
                                          size_t out_size);

/* GH_OK when pw matches stored; GH_ERR_AUTH when it does not; GH_ERR_INVALID when the stored
 * format is unknown or malformed; GH_ERR_NOMEM when argon2 memory could not be had. Against an
 * "nfkc$" hash pw is normalised first (pw that is not UTF-8 is GH_ERR_AUTH, after the same
 * work); against any other format the bytes are verified as given. */
GH_MUST_USE gh_err gh_password_verify(const char *stored, const char *pw, size_t pw_len);

/* Is stored anything other than "nfkc$" argon2id at (at least) params p? */
bool gh_password_needs_rehash(const struct gh_password_params *p, const char *stored);

/* Is stored a format gh_password_verify understands (checked structurally, no hashing)? */
bool gh_password_format_is_supported(const char *stored);

/* A short, non-secret algorithm name for stored ("argon2id-nfkc" for our own hashes,
 * "argon2id", "bcrypt", "django-pbkdf2-sha256", …), or "unknown". For exports and logs; never
 * the hash itself. */
const char *gh_password_algorithm(const char *stored);

#endif
