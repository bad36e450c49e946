/* Sessions: login starts one (a refresh-token family plus short-lived access tokens), refresh
 * rotates it (single-use refresh tokens, reuse revokes the family), and every authenticated
 * request is checked against the session's live state.
 * Trust boundary: tokens passed in are attacker-controlled bytes. */
#ifndef GH_AUTH_SESSION_H
#define GH_AUTH_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "auth/jwt.h"
#include "auth/sessioncache.h"
#include "core/metrics.h"
#include "data/pii.h"
#include "core/err.h"
#include "store/store.h"

#define GH_REFRESH_TOKEN_BYTES 32
#define GH_REFRESH_TOKEN_LEN 43 /* base64url of 32 bytes */

struct gh_auth {
    struct gh_store *store;
    struct gh_keyring *keyring;
    struct gh_tokencache *cache;      /* NULL: every token is fully verified */
    struct gh_sessioncache *sessions; /* NULL: every request reads the session from storage */
    const struct gh_pii *pii;         /* opens the user's sealed profile fields */
    struct gh_counter *cache_hits;    /* metrics; NULL-safe */
    struct gh_counter *cache_misses;
    const unsigned char *refresh_key; /* 32 bytes: keyed hash of refresh tokens */
    const char *iss;
    const char *aud;
    int64_t access_ttl;
    int64_t idle_timeout;
    int64_t max_lifetime;
};

struct gh_token_pair {
    char *access_token; /* gh_malloc'd */
    int64_t expires_in;
    char refresh_token[GH_REFRESH_TOKEN_LEN + 1];
    char session_id[GH_ID_LEN + 1];
};

/* Wipe and free what a pair holds. NULL-safe. */
void gh_token_pair_release(struct gh_token_pair *p);

/* Start a session after a successful login (new_password_hash: a rehash to store, or NULL). */
GH_MUST_USE gh_err gh_session_start(const struct gh_auth *a, const char *user_id, int64_t now,
                                    const char *new_password_hash, struct gh_token_pair *out);

/* Rotate. GH_OK + GH_ROTATE_OK fills out; GH_ROTATE_INVALID / GH_ROTATE_REUSED (the family is
 * now revoked) come with GH_ERR_AUTH. out_session (may be NULL) receives the session. */
GH_MUST_USE gh_err gh_session_refresh(const struct gh_auth *a, const char *token, size_t len,
                                      int64_t now, struct gh_token_pair *out,
                                      enum gh_rotate_result *out_result,
                                      struct gh_session *out_session);

/* Verify an access token and check its session is live and its key not withdrawn.
 * GH_ERR_AUTH for anything else. out_user (may be NULL) receives the user's profile (decrypted:
 * the caller wipes email and display_name after use); on failure they are wiped already. */
GH_MUST_USE gh_err gh_session_authenticate(const struct gh_auth *a, const char *token, size_t len,
                                           int64_t now, struct gh_jwt_claims *out,
                                           struct gh_session *out_session,
                                           struct gh_user *out_user);

/* Revoke the session a refresh token belongs to (logout by refresh token). */
GH_MUST_USE gh_err gh_session_revoke_by_refresh(const struct gh_auth *a, const char *token,
                                                size_t len, int64_t now,
                                                struct gh_session *out_session);

/* The stored form of a refresh token: hex keyed BLAKE2b-256. out: GH_TOKEN_HASH_HEX+1. */
void gh_session_refresh_hash(const struct gh_auth *a, const char *token, size_t len, char *out);

#endif
