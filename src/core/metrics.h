/* A small thread-safe metrics registry (counters, gauges, fixed-bucket histograms) rendered in
 * the Prometheus text exposition format 0.0.4. Updating a metric is lock-free (one atomic add
 * for a counter); registration (get-or-create by name and label values) is for start-up or
 * first use and may run concurrently with updates and rendering. Knows nothing of HTTP. */
#ifndef GH_CORE_METRICS_H
#define GH_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Bounds. A family past GH_METRICS_MAX_CHILDREN distinct label sets counts the rest into one
 * extra child whose every label value is GH_METRICS_OVERFLOW_VALUE. */
#define GH_METRICS_MAX_FAMILIES 128
#define GH_METRICS_MAX_CHILDREN 256
#define GH_METRICS_MAX_LABELS 8
#define GH_METRICS_MAX_BUCKETS 32
#define GH_METRICS_MAX_NAME 128        /* metric and label names, bytes */
#define GH_METRICS_MAX_LABEL_VALUE 128 /* bytes, valid UTF-8 */
#define GH_METRICS_MAX_HELP 512        /* bytes */
#define GH_METRICS_MAX_RENDER (8u << 20)
#define GH_METRICS_OVERFLOW_VALUE "other"

/* Upper bounds in seconds for latency histograms: 1 ms … 10 s (+Inf is implicit). */
#define GH_METRICS_SECONDS_NBUCKETS 13
extern const double gh_metrics_seconds_buckets[GH_METRICS_SECONDS_NBUCKETS];

struct gh_metrics;
struct gh_counter;
struct gh_gauge;
struct gh_histogram;

GH_MUST_USE gh_err gh_metrics_new(struct gh_metrics **out);
/* Frees the registry and every metric in it; no other thread may still use them. NULL-safe. */
void gh_metrics_free(struct gh_metrics *m);

/* Get-or-create the child of family `name` with these label values, and return a pointer that
 * stays valid until gh_metrics_free (keep it; do not look it up per event).
 *
 * name:         [a-zA-Z_:][a-zA-Z0-9_:]*, at most GH_METRICS_MAX_NAME bytes.
 * help:         free text (NULL or "" for none); the first registration's help is kept.
 * label_names:  "route,status" (comma-separated, no spaces; each [a-zA-Z_][a-zA-Z0-9_]*, not
 *               starting "__", no duplicates, "le" not allowed on histograms) or NULL for none.
 * label_values: one value per label name, in the same order (NULL when label_names is NULL).
 *
 * Returns NULL (and nothing is registered) when m is NULL, an argument is invalid, the name is
 * already registered with another type, other label names or other buckets, out of memory, or
 * GH_METRICS_MAX_FAMILIES is reached. Every update function accepts NULL and does nothing, so a
 * disabled registry (m == NULL) costs one branch per update. */
struct gh_counter *gh_metrics_counter(struct gh_metrics *m, const char *name, const char *help,
                                      const char *label_names, const char *const *label_values);
struct gh_gauge *gh_metrics_gauge(struct gh_metrics *m, const char *name, const char *help,
                                  const char *label_names, const char *const *label_values);
/* buckets: 1..GH_METRICS_MAX_BUCKETS finite upper bounds, strictly increasing; "+Inf" is added.
 * Every child of a family has the same buckets. */
struct gh_histogram *gh_metrics_histogram(struct gh_metrics *m, const char *name, const char *help,
                                          const double *buckets, size_t nbuckets,
                                          const char *label_names, const char *const *label_values);

/* Counters only go up (and wrap at 2^64, which Prometheus reads as a reset). */
void gh_counter_add(struct gh_counter *c, uint64_t n);
void gh_counter_inc(struct gh_counter *c);
uint64_t gh_counter_value(const struct gh_counter *c);

void gh_gauge_set(struct gh_gauge *g, double v);
void gh_gauge_add(struct gh_gauge *g, double v); /* negative to decrease */
double gh_gauge_value(const struct gh_gauge *g);

/* v is counted in the first bucket whose bound is >= v. NaN is ignored. */
void gh_histogram_observe(struct gh_histogram *h, double v);
uint64_t gh_histogram_count(const struct gh_histogram *h);
double gh_histogram_sum(const struct gh_histogram *h);

/* Render every metric as Prometheus text 0.0.4 (Content-Type
 * "text/plain; version=0.0.4; charset=utf-8") into a NUL-terminated buffer the caller releases
 * with gh_free; *out_len excludes the NUL. Families sorted by name, each with # HELP (when
 * given) and # TYPE lines; children in creation order; histograms as _bucket{le=…} (cumulative,
 * ending "+Inf"), _sum and _count. Safe while other threads update and register. A histogram's
 * _sum may lag its buckets by observations in flight. GH_ERR_TOO_LARGE past
 * GH_METRICS_MAX_RENDER bytes, GH_ERR_NOMEM. */
GH_MUST_USE gh_err gh_metrics_render(struct gh_metrics *m, char **out, size_t *out_len);

#endif
