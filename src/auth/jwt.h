/* JWT access tokens (RFC 7519, RFC 8725, RFC 9068 at+jwt) signed with Ed25519 (alg EdDSA),
 * the in-memory keyring they are signed and verified with, and the JWKS (RFC 7517).
 * Trust boundary: gh_jwt_verify takes attacker-controlled bytes; it checks the signature with
 * a key chosen by kid and pinned to its algorithm before reading any claim. */
#ifndef GH_AUTH_JWT_H
#define GH_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"

#define GH_KID_MAX 32
#define GH_CLAIM_MAX 64          /* sub, sid, jti: our own ids are 22 chars */
#define GH_JWT_MAX_LEN 4096      /* longer Authorization tokens are refused unparsed */
#define GH_JWT_LEEWAY 60         /* seconds of clock skew tolerated for exp/iat/nbf */

enum gh_key_state {
    GH_KEY_NEXT,    /* published in the JWKS, not yet signing */
    GH_KEY_ACTIVE,  /* signs new tokens (the newest active one) and verifies */
    GH_KEY_RETIRED, /* verifies and stays published until its last token expires */
};

/* What the keyring needs to hold a key. sk is copied into sodium_malloc memory. */
struct gh_key_material {
    char kid[GH_KID_MAX + 1];
    unsigned char pk[32];
    unsigned char sk[64]; /* libsodium Ed25519 secret key (seed ‖ pk) */
    enum gh_key_state state;
    int64_t activates_at;
    int64_t published_until; /* 0 = indefinitely (next/active); for retired: last exp */
};

struct gh_keyring;

GH_MUST_USE gh_err gh_keyring_new(struct gh_keyring **out);
void gh_keyring_free(struct gh_keyring *kr); /* wipes secret keys; NULL-safe */

/* Replace the whole key set atomically (readers see old or new, never a mix). Copies keys.
 * Fails with GH_ERR_INVALID if no key is ACTIVE. */
GH_MUST_USE gh_err gh_keyring_replace(struct gh_keyring *kr, const struct gh_key_material *keys,
                                      size_t n);

/* JWKS document {"keys":[...]} with every NEXT, ACTIVE and RETIRED key (OKP/Ed25519,
 * use=sig, alg=EdDSA, kid). New reference for the caller. */
GH_MUST_USE gh_err gh_keyring_jwks(struct gh_keyring *kr, json_t **out);

struct gh_jwt_issue {
    const char *iss;
    const char *aud;
    const char *sub;
    const char *sid;
    int64_t now;
    int64_t ttl; /* seconds */
};

/* Sign a new access token with the active key. *out is malloc'd (free with gh_free). *out_jti
 * (GH_CLAIM_MAX+1 bytes) receives the random jti; out_exp the expiry. */
GH_MUST_USE gh_err gh_jwt_sign(struct gh_keyring *kr, const struct gh_jwt_issue *in, char **out,
                               char out_jti[GH_CLAIM_MAX + 1], int64_t *out_exp);

struct gh_jwt_claims {
    char kid[GH_KID_MAX + 1];
    char sub[GH_CLAIM_MAX + 1];
    char sid[GH_CLAIM_MAX + 1];
    char jti[GH_CLAIM_MAX + 1];
    int64_t iat;
    int64_t exp;
};

/* Verify token (len bytes, not necessarily NUL-terminated). GH_OK fills out; any defect is
 * GH_ERR_AUTH: not three base64url parts, header not a JSON object, alg other than the key's
 * (none, HS256, RS256…), typ not at+jwt, unknown kid, jku/x5u/jwk/x5c/crit present, bad
 * signature, iss or aud mismatch (aud may be a string or an array containing aud), missing
 * sub/sid/jti/exp/iat, exp ≤ now - leeway, iat or nbf > now + leeway. */
GH_MUST_USE gh_err gh_jwt_verify(struct gh_keyring *kr, const char *token, size_t len,
                                 const char *iss, const char *aud, int64_t now,
                                 struct gh_jwt_claims *out);

/* A bounded cache of verified tokens keyed by a keyed BLAKE2b hash of the exact token bytes.
 * A hit skips the signature check only: callers still check exp (done here: an expired entry
 * is a miss), session revocation and key withdrawal on every request. */
struct gh_tokencache;

GH_MUST_USE gh_err gh_tokencache_new(size_t capacity, struct gh_tokencache **out);
void gh_tokencache_free(struct gh_tokencache *c);
bool gh_tokencache_get(struct gh_tokencache *c, const char *token, size_t len, int64_t now,
                       struct gh_jwt_claims *out);
void gh_tokencache_put(struct gh_tokencache *c, const char *token, size_t len,
                       const struct gh_jwt_claims *claims);
/* Drop every entry signed by kid (key withdrawal) — or all when kid is NULL. */
void gh_tokencache_purge(struct gh_tokencache *c, const char *kid);

/* Generate a fresh Ed25519 key with a random kid into out (state NEXT). */
void gh_key_generate(struct gh_key_material *out);

#endif
