/* Operations endpoints: GET /healthz (the process answers) and GET /readyz (storage answers).
 * No body ever names a path, a library or a secret. */
#include "api/common.h"
#include "core/banned.h"

void gh_api_healthz(struct gh_http_req *req, void *appv)
{
    (void)appv;
    gh_api_reply_object(req, 200, json_pack("{s:s}", "status", "ok"));
}

void gh_api_readyz(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    if (gh_store_ping(app->store) != GH_OK) {
        gh_http_reply_problem(req, 503, "not-ready", "Not ready", "Storage is not reachable.",
                              NULL);
        return;
    }
    gh_api_reply_object(req, 200, json_pack("{s:s}", "status", "ready"));
}

void gh_api_metrics(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    char *text = NULL;
    size_t len = 0;
    gh_gauge_set(app->m.hash_depth, (double)gh_hashpool_depth(app->pool));
    if (app->m.redis_up) {
        struct gh_ratelimit_health h;
        gh_ratelimit_health(app->limiter, &h);
        gh_gauge_set(app->m.redis_up, h.up ? 1 : 0);
        /* The backend counts on its own; carry what is new into the counter exactly once,
         * however many scrapes run at the same time. */
        uint64_t seen = atomic_load(&app->m.redis_failures_seen);
        while (h.failures > seen &&
               !atomic_compare_exchange_weak(&app->m.redis_failures_seen, &seen, h.failures))
            ;
        if (h.failures > seen)
            gh_counter_add(app->m.redis_failures, h.failures - seen);
    }
    gh_err rc = gh_metrics_render(app->metrics, &text, &len);
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    gh_http_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
