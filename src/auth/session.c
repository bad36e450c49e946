/* Owns token issuing and checking. Raw refresh tokens exist only in the response being built
 * (wiped on release); the database holds their keyed hash. */
#include <sodium.h>
#include <string.h>

#include "auth/session.h"
#include "core/mem.h"
#include "core/banned.h"

void gh_token_pair_release(struct gh_token_pair *p)
{
    if (!p)
        return;
    if (p->access_token) {
        sodium_memzero(p->access_token, strlen(p->access_token));
        gh_free(p->access_token);
    }
    sodium_memzero(p, sizeof *p);
}

void gh_session_refresh_hash(const struct gh_auth *a, const char *token, size_t len, char *out)
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)token, len, a->refresh_key, 32);
    sodium_bin2hex(out, GH_TOKEN_HASH_HEX + 1, h, sizeof h);
}

static void new_refresh_token(char out[GH_REFRESH_TOKEN_LEN + 1])
{
    unsigned char raw[GH_REFRESH_TOKEN_BYTES];
    randombytes_buf(raw, sizeof raw);
    gh_b64url_encode(raw, sizeof raw, out, GH_REFRESH_TOKEN_LEN + 1);
    sodium_memzero(raw, sizeof raw);
}

static gh_err sign_access(const struct gh_auth *a, const char *user_id, const char *sid,
                          int64_t now, struct gh_token_pair *out)
{
    struct gh_jwt_issue in = {
        .iss = a->iss, .aud = a->aud, .sub = user_id, .sid = sid, .now = now, .ttl = a->access_ttl};
    char jti[GH_CLAIM_MAX + 1];
    int64_t exp = 0;
    gh_err rc = gh_jwt_sign(a->keyring, &in, &out->access_token, jti, &exp);
    if (rc == GH_OK)
        out->expires_in = exp - now;
    return rc;
}

gh_err gh_session_start(const struct gh_auth *a, const char *user_id, int64_t now,
                        const char *new_password_hash, struct gh_token_pair *out)
{
    struct gh_session ss;
    char hash[GH_TOKEN_HASH_HEX + 1];
    memset(out, 0, sizeof *out);
    memset(&ss, 0, sizeof ss);
    gh_random_id(ss.id);
    snprintf(ss.user_id, sizeof ss.user_id, "%s", user_id);
    ss.created_at = now;
    ss.last_used_at = now;
    ss.expires_at = now + a->max_lifetime;
    new_refresh_token(out->refresh_token);
    gh_session_refresh_hash(a, out->refresh_token, GH_REFRESH_TOKEN_LEN, hash);
    gh_err rc = gh_store_session_create(a->store, &ss, hash, new_password_hash);
    if (rc == GH_OK)
        rc = sign_access(a, user_id, ss.id, now, out);
    if (rc != GH_OK) {
        gh_token_pair_release(out);
        return rc;
    }
    snprintf(out->session_id, sizeof out->session_id, "%s", ss.id);
    return GH_OK;
}

/* A refresh token is exactly 43 base64url characters; anything else is not one of ours. */
static bool refresh_shape_ok(const char *token, size_t len)
{
    if (len != GH_REFRESH_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = token[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

gh_err gh_session_refresh(const struct gh_auth *a, const char *token, size_t len, int64_t now,
                          struct gh_token_pair *out, enum gh_rotate_result *out_result,
                          struct gh_session *out_session)
{
    char old_hash[GH_TOKEN_HASH_HEX + 1], new_hash[GH_TOKEN_HASH_HEX + 1];
    struct gh_session ss;
    enum gh_rotate_result res = GH_ROTATE_INVALID;
    memset(out, 0, sizeof *out);
    memset(&ss, 0, sizeof ss);
    *out_result = GH_ROTATE_INVALID;
    if (!refresh_shape_ok(token, len))
        return GH_ERR_AUTH;
    gh_session_refresh_hash(a, token, len, old_hash);
    new_refresh_token(out->refresh_token);
    gh_session_refresh_hash(a, out->refresh_token, GH_REFRESH_TOKEN_LEN, new_hash);
    gh_err rc =
        gh_store_refresh_rotate(a->store, old_hash, new_hash, now, a->idle_timeout, &res, &ss);
    if (out_session)
        *out_session = ss;
    *out_result = res;
    if (rc == GH_OK && res != GH_ROTATE_OK)
        rc = GH_ERR_AUTH;
    if (rc == GH_OK)
        rc = sign_access(a, ss.user_id, ss.id, now, out);
    if (rc != GH_OK) {
        gh_token_pair_release(out);
        return rc;
    }
    snprintf(out->session_id, sizeof out->session_id, "%s", ss.id);
    return GH_OK;
}

static gh_err authenticate(const struct gh_auth *a, const char *token, size_t len, int64_t now,
                           struct gh_jwt_claims *out, struct gh_session *out_session,
                           struct gh_user *user)
{
    if (len == 0 || len > GH_JWT_MAX_LEN)
        return GH_ERR_AUTH;
    bool cached = a->cache && gh_tokencache_get(a->cache, token, len, now, out);
    gh_counter_inc(cached ? a->cache_hits : a->cache_misses);
    if (!cached) {
        gh_err rc = gh_jwt_verify(a->keyring, token, len, a->iss, a->aud, now, out);
        if (rc != GH_OK)
            return rc == GH_ERR_NOMEM ? rc : GH_ERR_AUTH;
    }
    /* Read the epoch before storage: a revocation committed after the read bumps it past us. */
    uint64_t epoch = gh_store_epoch(a->store);
    if (a->sessions &&
        gh_sessioncache_get(a->sessions, out->sid, out->kid, epoch, now, out_session, user)) {
        if (!gh_session_is_active(out_session, now, a->idle_timeout) ||
            strcmp(out_session->user_id, out->sub) != 0)
            return GH_ERR_AUTH;
        return GH_OK;
    }
    bool key_revoked = false;
    gh_err rc =
        gh_store_access_check(a->store, out->sid, out->kid, out_session, user, &key_revoked);
    if (rc == GH_ERR_NOT_FOUND)
        return GH_ERR_AUTH;
    if (rc != GH_OK)
        return rc;
    if (key_revoked) {
        if (a->cache)
            gh_tokencache_purge(a->cache, out->kid);
        return GH_ERR_AUTH;
    }
    if (!gh_session_is_active(out_session, now, a->idle_timeout) ||
        strcmp(out_session->user_id, out->sub) != 0)
        return GH_ERR_AUTH;
    /* The profile is sealed at rest; a user whose data key is gone (erased) cannot sign in. */
    if (a->pii && (rc = gh_pii_open_user(a->pii, user)) != GH_OK)
        return rc == GH_ERR_NOMEM ? rc : GH_ERR_AUTH;
    if (!cached && a->cache)
        gh_tokencache_put(a->cache, token, len, out);
    if (a->sessions)
        gh_sessioncache_put(a->sessions, out->kid, epoch, now, out_session, user);
    return GH_OK;
}

gh_err gh_session_authenticate(const struct gh_auth *a, const char *token, size_t len, int64_t now,
                               struct gh_jwt_claims *out, struct gh_session *out_session,
                               struct gh_user *out_user)
{
    /* The lookups always fill a user, its decrypted profile included: wipe the profile of a
     * user nobody asked for, and of one that is not the answer (a refused session). */
    struct gh_user local_user = {0};
    struct gh_user *user = out_user ? out_user : &local_user;
    gh_err rc = authenticate(a, token, len, now, out, out_session, user);
    if (!out_user || rc != GH_OK) {
        sodium_memzero(user->email, sizeof user->email);
        sodium_memzero(user->display_name, sizeof user->display_name);
    }
    return rc;
}

gh_err gh_session_revoke_by_refresh(const struct gh_auth *a, const char *token, size_t len,
                                    int64_t now, struct gh_session *out_session)
{
    char hash[GH_TOKEN_HASH_HEX + 1];
    if (!refresh_shape_ok(token, len))
        return GH_ERR_AUTH;
    gh_session_refresh_hash(a, token, len, hash);
    gh_err rc = gh_store_session_by_refresh(a->store, hash, out_session);
    if (rc == GH_ERR_NOT_FOUND)
        return GH_ERR_AUTH;
    if (rc != GH_OK)
        return rc;
    return gh_store_session_revoke(a->store, out_session->id, NULL, "logout", now);
}
