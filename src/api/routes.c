/* The route table: every endpoint, its method and what body it takes. */
#include "api/app.h"
#include "core/banned.h"

const struct gh_route gh_api_routes[] = {
    {"POST", "/v1/users", GH_BODY_JSON, gh_api_users_create},
    {"GET", "/v1/me", GH_BODY_NONE, gh_api_me_get},
    {"PUT", "/v1/me/password", GH_BODY_JSON, gh_api_me_password},
    {"GET", "/v1/me/sessions", GH_BODY_NONE, gh_api_me_sessions},
    {"DELETE", "/v1/me/sessions/{id}", GH_BODY_NONE, gh_api_me_session_delete},
    {"POST", "/v1/token", GH_BODY_JSON_OR_FORM, gh_api_token},
    {"POST", "/v1/token/refresh", GH_BODY_JSON, gh_api_token_refresh},
    {"POST", "/v1/logout", GH_BODY_OPTIONAL_JSON, gh_api_logout},
    {"GET", "/.well-known/jwks.json", GH_BODY_NONE, gh_api_jwks},
    {"GET", "/healthz", GH_BODY_NONE, gh_api_healthz},
    {"GET", "/readyz", GH_BODY_NONE, gh_api_readyz},
};
const size_t gh_api_nroutes = sizeof gh_api_routes / sizeof gh_api_routes[0];
