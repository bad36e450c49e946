/* The rate-limit guard run before every routed handler: one budget per client address for the
 * whole API and one for the route's own class (sign-in, registration, refresh, password change).
 * Trust boundary: the client address comes from the http layer (trusted proxies applied). */
#include <stdio.h>
#include <time.h>

#include "api/common.h"
#include "core/log.h"
#include "core/banned.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add_headers(struct gh_http_req *req, const struct gh_rate_rule *rule,
                        const struct gh_rate_decision *d)
{
    char limit[GH_RATELIMIT_HEADER_MAX], policy[GH_RATELIMIT_HEADER_MAX];
    gh_ratelimit_headers(rule, d, limit, sizeof limit, policy, sizeof policy);
    if (limit[0])
        gh_http_add_header(req, "RateLimit", limit);
    if (policy[0])
        gh_http_add_header(req, "RateLimit-Policy", policy);
}

/* Count one request under rule; on refusal reply 429 and return false. */
static bool check_rule(struct gh_app *app, struct gh_http_req *req, enum gh_rule r, int64_t now,
                       bool headers)
{
    struct gh_rate_decision d;
    const struct gh_rate_rule *rule = &app->rules[r];
    struct gh_ratelimit *rl = r == GH_RULE_API && app->limiter_api ? app->limiter_api : app->limiter;
    gh_err rc = gh_ratelimit_check(rl, rule, gh_http_client_key(req), now, &d);
    if (rc != GH_OK) {
        /* A limiter that cannot answer fails closed for sign-in classes (guessable secrets:
         * passwords, registrations), open for the general budget and for refresh (a refresh
         * token cannot be guessed; an outage should not end sessions). */
        if (r == GH_RULE_API || r == GH_RULE_REFRESH)
            return true;
        gh_http_reply_error(req, GH_ERR_BUSY, NULL);
        return false;
    }
    if (d.allowed) {
        if (headers)
            add_headers(req, rule, &d);
        return true;
    }
    gh_counter_inc(app->m.rate_limited[r]);
    gh_log(GH_LOG_INFO, "rate limited", gh_http_request_id(req), "rate_limited",
           json_pack("{s:s}", "rule", rule->name));
    gh_http_reply_problem(req, 429, "rate-limited", "Too many requests",
                          "Too many requests from this address; wait and retry.",
                          json_pack("{s:s}", "rule", rule->name));
    char secs[24];
    snprintf(secs, sizeof secs, "%lld", (long long)((d.retry_after_ms + 999) / 1000));
    gh_http_add_header(req, "Retry-After", secs);
    add_headers(req, rule, &d);
    return false;
}

bool gh_api_guard(struct gh_http_req *req, const struct gh_route *route, void *appv)
{
    struct gh_app *app = appv;
    /* Cross-site requests that would use (or set) the browser session are refused before
     * anything else looks at them; the session-bound token is checked after authentication. */
    size_t blen = 0;
    bool sets_session =
        route->handler == gh_api_session_create || route->handler == gh_api_session_refresh;
    if (!gh_api_method_is_safe(req) && !gh_http_bearer(req, &blen) &&
        (sets_session || gh_api_session_cookie(app, req)) &&
        !gh_api_csrf_origin_or_reply(app, req))
        return false;
    if (route->policy == GH_RULE_NONE || !app->limiter)
        return true;
    int64_t now = mono_ms();
    bool specific = route->policy != GH_RULE_API;
    /* The general budget's headers only come with its 429: on the hot path (token checks)
     * they would cost two header copies per response for a budget no client is near. */
    if (!check_rule(app, req, GH_RULE_API, now, false))
        return false;
    return !specific || check_rule(app, req, (enum gh_rule)route->policy, now, true);
}
