/* Endpoints for other services: GET /v1/auth/check (forward-auth for nginx auth_request, Caddy
 * forward_auth, Traefik ForwardAuth) and POST /v1/introspect (RFC 7662, for resource servers,
 * authenticated by configured client credentials compared in constant time; the same check
 * guards POST /v1/revoke in revoke.c). */
#include <sodium.h>
#include <string.h>

#include "api/common.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/banned.h"

void gh_api_auth_check(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    struct gh_jwt_claims claims;
    struct gh_session ss;
    /* 200 + the user id for the proxy to pass upstream; 401 otherwise (the proxy only reads
     * the status). The proxy must overwrite any X-Auth-* header a client sent itself. */
    if (gh_api_authenticate_or_reply(app, req, &claims, &ss, NULL) != GH_OK)
        return;
    gh_http_add_header(req, "X-Auth-User-Id", claims.sub);
    gh_http_add_header(req, "X-Auth-Session-Id", ss.id);
    gh_http_reply_json(req, 200, NULL);
}

/* Is (id, secret) listed in a "id:secret,..." configuration value? Every entry is compared,
 * through fixed-length hashes, so the time does not depend on where or whether it matches. */
static bool client_listed(const char *list, const char *id, const char *secret)
{
    if (!list)
        return false;
    unsigned char want[32], have[32];
    bool found = false;
    size_t idlen = strlen(id);
    crypto_generichash(want, sizeof want, (const unsigned char *)secret, strlen(secret), NULL, 0);
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (colon) {
            size_t ilen = (size_t)(colon - p);
            crypto_generichash(have, sizeof have, (const unsigned char *)colon + 1, len - ilen - 1,
                               NULL, 0);
            bool id_ok = ilen == idlen && memcmp(p, id, idlen) == 0;
            bool secret_ok = sodium_memcmp(want, have, sizeof want) == 0;
            found |= id_ok && secret_ok;
        }
        p += comma ? len + 1 : len;
    }
    sodium_memzero(want, sizeof want);
    sodium_memzero(have, sizeof have);
    return found;
}

bool gh_api_client_auth_or_reply(struct gh_app *app, struct gh_http_req *req,
                                 char client[GH_API_CLIENT_ID_MAX + 1])
{
    char *user = NULL, *pass = NULL;
    bool ok = false;
    if (gh_http_basic(req, &user, &pass) == GH_OK) {
        /* Both lists, always: the time does not say which one (if any) matched. */
        bool current = client_listed(app->cfg->introspection_clients, user, pass);
        bool previous = client_listed(app->cfg->introspection_clients_previous, user, pass);
        ok = current || previous;
    }
    client[0] = '\0';
    if (ok)
        snprintf(client, GH_API_CLIENT_ID_MAX + 1, "%s", user);
    gh_http_basic_free(user, pass);
    if (!ok) {
        gh_http_add_header(req, "WWW-Authenticate", "Basic realm=\"gatehouse introspection\"");
        gh_http_reply_problem(req, 401, "invalid-client", "Client authentication failed",
                              "Authenticate with the client id and secret configured in "
                              "GATEHOUSE_INTROSPECTION_CLIENTS (HTTP Basic).",
                              json_pack("{s:s}", "error", "invalid_client"));
    }
    return ok;
}

void gh_api_introspect(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    static const struct gh_field schema[] = {
        {"token", GH_FIELD_STRING, true, GH_JWT_MAX_LEN},
        {"token_type_hint", GH_FIELD_STRING, false, 64},
    };
    json_t *body = NULL;
    char client[GH_API_CLIENT_ID_MAX + 1];
    if (!gh_api_client_auth_or_reply(app, req, client))
        return;
    if (gh_http_body_or_reply(req, schema, 2, &body) != GH_OK)
        return;
    json_t *tok = json_object_get(body, "token");
    struct gh_jwt_claims c;
    struct gh_session ss;
    gh_hashpool_note_priority(app->pool); /* a token check (api/common.c) */
    gh_err rc = gh_session_authenticate(&app->auth, json_string_value(tok), json_string_length(tok),
                                        gh_now(), &c, &ss, NULL);
    gh_api_body_free(body);
    if (rc == GH_ERR_AUTH && gh_http_alloc_failed(req))
        rc = GH_ERR_NOMEM; /* "not active" may only mean "could not tell" */
    if (rc == GH_ERR_AUTH) {
        /* RFC 7662 §2.2: anything not active is just {"active": false}, nothing more. */
        gh_api_reply_object(req, 200, json_pack("{s:b}", "active", 0));
        return;
    }
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    gh_api_reply_object(req, 200,
                        json_pack("{s:b,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:s}", "active", 1, "sub",
                                  c.sub, "sid", c.sid, "jti", c.jti, "exp", (json_int_t)c.exp,
                                  "iat", (json_int_t)c.iat, "iss", app->cfg->issuer, "aud",
                                  app->cfg->audience, "token_type", "access_token", "client_id",
                                  client));
}
