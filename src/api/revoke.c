/* POST /v1/revoke (RFC 7009 token revocation) for the services that hold users' tokens,
 * authenticated by the same client credentials as /v1/introspect. Revoking a refresh token or an
 * access token ends the session both belong to, so every token of that login is refused at
 * once. Trust boundary: the token is attacker-controlled bytes; whatever it is (unknown,
 * malformed, expired, already revoked) the answer is the same empty 200 (RFC 7009 §2.2), so
 * the endpoint tells nothing about tokens. */
#include <stdio.h>
#include <string.h>

#include "api/common.h"
#include "core/log.h"
#include "core/banned.h"

/* Can s be recorded as an audit actor ([A-Za-z0-9._:-]{1,64})? Client ids are operator text. */
static bool audit_safe(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > GH_AUDIT_FIELD_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* The session of an access token (signature, issuer and audience verified; an expired token
 * needs no revoking). GH_ERR_AUTH when it is not one of ours. */
static gh_err revoke_access(struct gh_app *app, const char *tok, size_t len, int64_t now,
                            struct gh_session *ss)
{
    struct gh_jwt_claims c;
    if (len == 0 || len > GH_JWT_MAX_LEN)
        return GH_ERR_AUTH;
    gh_err rc =
        gh_jwt_verify(app->keyring, tok, len, app->cfg->issuer, app->cfg->audience, now, &c);
    if (rc != GH_OK)
        return rc == GH_ERR_NOMEM ? rc : GH_ERR_AUTH;
    /* Scoped to sub: a session id inside a token of another user is not found. */
    rc = gh_store_session_revoke(app->store, c.sid, c.sub, "token_revoked", now);
    /* On success both are ids of our own (GH_ID_LEN characters). */
    snprintf(ss->id, sizeof ss->id, "%.*s", GH_ID_LEN, c.sid);
    snprintf(ss->user_id, sizeof ss->user_id, "%.*s", GH_ID_LEN, c.sub);
    return rc == GH_ERR_NOT_FOUND ? GH_ERR_AUTH : rc;
}

static gh_err revoke_refresh(struct gh_app *app, const char *tok, size_t len, int64_t now,
                             struct gh_session *ss)
{
    char hash[GH_TOKEN_HASH_HEX + 1];
    if (len != GH_REFRESH_TOKEN_LEN)
        return GH_ERR_AUTH;
    gh_session_refresh_hash(&app->auth, tok, len, hash);
    gh_err rc = gh_store_session_by_refresh(app->store, hash, ss);
    if (rc == GH_OK)
        rc = gh_store_session_revoke(app->store, ss->id, NULL, "token_revoked", now);
    return rc == GH_ERR_NOT_FOUND ? GH_ERR_AUTH : rc;
}

void gh_api_revoke(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    static const struct gh_field schema[] = {
        {"token", GH_FIELD_STRING, true, GH_JWT_MAX_LEN},
        {"token_type_hint", GH_FIELD_STRING, false, 64},
    };
    char client[GH_API_CLIENT_ID_MAX + 1];
    json_t *body = NULL;
    struct gh_session ss;
    int64_t now = gh_now();
    if (!gh_api_client_auth_or_reply(app, req, client))
        return;
    if (gh_http_body_or_reply(req, schema, 2, &body) != GH_OK)
        return;
    json_t *tok = json_object_get(body, "token");
    json_t *hint = json_object_get(body, "token_type_hint");
    const char *t = json_string_value(tok);
    size_t len = json_string_length(tok);
    /* The hint only decides which kind is tried first (RFC 7009 §2.1); an unknown hint is
     * ignored and both kinds are always searched. */
    bool refresh_first = hint && strcmp(json_string_value(hint), "refresh_token") == 0;
    memset(&ss, 0, sizeof ss);
    gh_err rc = refresh_first ? revoke_refresh(app, t, len, now, &ss)
                              : revoke_access(app, t, len, now, &ss);
    if (rc == GH_ERR_AUTH)
        rc = refresh_first ? revoke_access(app, t, len, now, &ss)
                           : revoke_refresh(app, t, len, now, &ss);
    gh_api_body_free(body);
    if (rc == GH_ERR_AUTH && gh_http_alloc_failed(req))
        rc = GH_ERR_NOMEM; /* "unknown token" may only mean "could not tell": not revoked */
    if (rc == GH_ERR_AUTH) {
        /* Unknown, invalid, expired or already gone: nothing to do, and nothing to say. */
        gh_http_reply_json(req, 200, NULL);
        return;
    }
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    gh_api_audit(app, req, "token_revoked", audit_safe(client) ? client : "client", ss.user_id,
                 "success");
    gh_log_security(GH_LOG_INFO, "session_revoked", gh_http_request_id(req), ss.user_id,
                    gh_http_client_addr(req),
                    json_pack("{s:s,s:s,s:s}", "session_id", ss.id, "reason", "token_revoked",
                              "client_id", client));
    gh_http_reply_json(req, 200, NULL);
}
