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

/* A module counts on its own (total since start); carry what is new into the Prometheus
 * counter exactly once, however many scrapes run at the same time. */
static void carry(struct gh_counter *c, _Atomic uint64_t *seen, uint64_t total)
{
    uint64_t prev = atomic_load(seen);
    while (total > prev && !atomic_compare_exchange_weak(seen, &prev, total))
        ;
    if (total > prev)
        gh_counter_add(c, total - prev);
}

void gh_api_metrics(struct gh_http_req *req, void *appv)
{
    struct gh_app *app = appv;
    char *text = NULL;
    size_t len = 0;
    gh_gauge_set(app->m.hash_depth, (double)gh_hashpool_depth(app->pool));
    gh_gauge_set(app->m.hash_yielding, (double)gh_hashpool_yielding(app->pool));
    if (app->m.redis_up) {
        struct gh_ratelimit_health h;
        gh_ratelimit_health(app->limiter, &h);
        gh_gauge_set(app->m.redis_up, h.up ? 1 : 0);
        carry(app->m.redis_failures, &app->m.redis_failures_seen, h.failures);
    }
    struct gh_audit_stats as;
    gh_audit_stats(app->audit, &as);
    gh_gauge_set(app->m.audit_pending, (double)as.pending);
    carry(app->m.audit_failures, &app->m.audit_failures_seen, as.failures);
    carry(app->m.audit_lost, &app->m.audit_lost_seen, as.dropped);
    gh_err rc = gh_metrics_render(app->metrics, &text, &len);
    if (rc != GH_OK) {
        gh_http_reply_error(req, rc, NULL);
        return;
    }
    gh_http_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
