/* The route table: every endpoint, its method and what body it takes. */
#include "api/app.h"
#include "core/banned.h"

const struct gh_route gh_api_routes[] = {
    {"POST", "/v1/users", GH_BODY_JSON, gh_api_users_create, GH_RULE_REGISTER},
    {"GET", "/v1/me", GH_BODY_NONE, gh_api_me_get, GH_RULE_API},
    {"DELETE", "/v1/me", GH_BODY_JSON, gh_api_me_delete, GH_RULE_PASSWORD},
    {"GET", "/v1/me/export", GH_BODY_NONE, gh_api_me_export, GH_RULE_API},
    {"PUT", "/v1/me/password", GH_BODY_JSON, gh_api_me_password, GH_RULE_PASSWORD},
    {"GET", "/v1/me/sessions", GH_BODY_NONE, gh_api_me_sessions, GH_RULE_API},
    {"DELETE", "/v1/me/sessions/{id}", GH_BODY_NONE, gh_api_me_session_delete, GH_RULE_API},
    {"POST", "/v1/token", GH_BODY_JSON_OR_FORM, gh_api_token, GH_RULE_LOGIN},
    {"POST", "/v1/token/refresh", GH_BODY_JSON, gh_api_token_refresh, GH_RULE_REFRESH},
    {"POST", "/v1/logout", GH_BODY_OPTIONAL_JSON, gh_api_logout, GH_RULE_API},
    {"POST", "/v1/session", GH_BODY_JSON, gh_api_session_create, GH_RULE_LOGIN},
    {"GET", "/v1/session", GH_BODY_NONE, gh_api_session_get, GH_RULE_API},
    {"DELETE", "/v1/session", GH_BODY_NONE, gh_api_session_delete, GH_RULE_API},
    {"POST", "/v1/session/refresh", GH_BODY_NONE, gh_api_session_refresh, GH_RULE_REFRESH},
    {"GET", "/v1/auth/check", GH_BODY_NONE, gh_api_auth_check, GH_RULE_API},
    {"POST", "/v1/introspect", GH_BODY_JSON_OR_FORM, gh_api_introspect, GH_RULE_API},
    {"POST", "/v1/revoke", GH_BODY_JSON_OR_FORM, gh_api_revoke, GH_RULE_API},
    {"GET", "/v1/admin/users", GH_BODY_NONE, gh_api_admin_users_find, GH_RULE_API},
    {"GET", "/v1/admin/users/{id}", GH_BODY_NONE, gh_api_admin_user_get, GH_RULE_API},
    {"POST", "/v1/admin/users/{id}/unlock", GH_BODY_NONE, gh_api_admin_user_unlock, GH_RULE_API},
    {"POST", "/v1/admin/users/{id}/revoke-sessions", GH_BODY_NONE,
     gh_api_admin_user_revoke_sessions, GH_RULE_API},
    {"GET", "/v1/admin/audit", GH_BODY_NONE, gh_api_admin_audit, GH_RULE_API},
    {"GET", "/.well-known/jwks.json", GH_BODY_NONE, gh_api_jwks, GH_RULE_NONE},
    {"GET", "/healthz", GH_BODY_NONE, gh_api_healthz, GH_RULE_NONE},
    {"GET", "/readyz", GH_BODY_NONE, gh_api_readyz, GH_RULE_NONE},
};
const size_t gh_api_nroutes = sizeof gh_api_routes / sizeof gh_api_routes[0];

const struct gh_route gh_api_metrics_routes[] = {
    {"GET", "/metrics", GH_BODY_NONE, gh_api_metrics, GH_RULE_NONE},
};
const size_t gh_api_metrics_nroutes =
    sizeof gh_api_metrics_routes / sizeof gh_api_metrics_routes[0];
