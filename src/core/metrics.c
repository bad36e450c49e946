/* Owns the metrics registry: families and children live from registration to gh_metrics_free and
 * are never moved, so callers keep pointers; updates are relaxed atomics, registration is
 * serialised by one mutex and published with release stores, so rendering never takes a lock.
 * Trust boundary: names and label values come from gatehouse's code, yet are validated, bounded
 * in number and escaped on output. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/metrics.h"
#include "core/banned.h"

const double gh_metrics_seconds_buckets[GH_METRICS_SECONDS_NBUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

struct gh_counter {
    _Atomic uint64_t value;
};

struct gh_gauge {
    _Atomic uint64_t bits; /* a double's bits, so that set and add are lock-free */
};

struct gh_histogram {
    const double *bounds; /* the family's, nbounds of them */
    size_t nbounds;
    _Atomic uint64_t sum_bits;
    _Atomic uint64_t *counts; /* nbounds + 1, not cumulative; the last is +Inf */
};

struct child {
    uint64_t hash; /* of the label values, to skip most comparisons */
    char **values; /* one per label; NULL when the family has no labels */
    struct gh_counter counter;
    struct gh_gauge gauge;
    struct gh_histogram hist;
};

struct family {
    char *name;
    char *help; /* NULL: no HELP line */
    enum kind kind;
    char *label_spec; /* "a,b" as registered, or NULL; compared on re-registration */
    size_t nlabels;
    char *labels[GH_METRICS_MAX_LABELS];
    double *bounds;
    size_t nbounds;
    /* Slots are written once, under the registry mutex, before nchildren is released. */
    struct child *children[GH_METRICS_MAX_CHILDREN + 1];
    atomic_size_t nchildren;
};

struct gh_metrics {
    pthread_mutex_t mu;
    struct family *fams[GH_METRICS_MAX_FAMILIES]; /* same publication rule as children */
    atomic_size_t nfams;
};

/* ---- validation ---------------------------------------------------------------------------- */

static bool name_char(char c, bool first, bool colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (c == ':')
        return colon;
    return !first && c >= '0' && c <= '9';
}

static bool name_ok(const char *s, size_t n, bool colon)
{
    if (n == 0 || n > GH_METRICS_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i], i == 0, colon))
            return false;
    return true;
}

static bool utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i];
        size_t len;
        uint32_t min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (s[i + k] & 0x3Fu);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* Count the labels of a spec ("a,b"), checking each name; 0 for NULL/"", -1 when invalid. */
static int spec_count(const char *spec, bool histogram)
{
    if (!spec || !*spec)
        return 0;
    const char *names[GH_METRICS_MAX_LABELS];
    size_t lens[GH_METRICS_MAX_LABELS];
    int n = 0;
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n == GH_METRICS_MAX_LABELS || !name_ok(p, len, false))
            return -1;
        if (len >= 2 && p[0] == '_' && p[1] == '_')
            return -1; /* reserved for Prometheus itself */
        if (histogram && len == 2 && memcmp(p, "le", 2) == 0)
            return -1;
        for (int i = 0; i < n; i++)
            if (lens[i] == len && memcmp(names[i], p, len) == 0)
                return -1;
        names[n] = p;
        lens[n] = len;
        n++;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

static bool values_ok(const char *const *values, size_t n)
{
    if (n == 0)
        return true;
    if (!values)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!values[i])
            return false;
        size_t len = strnlen(values[i], GH_METRICS_MAX_LABEL_VALUE + 1);
        if (len > GH_METRICS_MAX_LABEL_VALUE || !utf8_ok((const unsigned char *)values[i], len))
            return false;
    }
    return true;
}

static bool buckets_ok(const double *b, size_t n)
{
    if (!b || n == 0 || n > GH_METRICS_MAX_BUCKETS)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(b[i]))
            return false;
        if (i > 0 && !(b[i] > b[i - 1]))
            return false;
    }
    return true;
}

/* ---- registry ------------------------------------------------------------------------------ */

static uint64_t values_hash(const char *const *values, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a; a separator keeps ("ab","c") from ("a","bc") */
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 0x100000001b3u;
        h = (h ^ 0xffu) * 0x100000001b3u;
    }
    return h;
}

static struct family *family_find(struct gh_metrics *m, const char *name)
{
    size_t n = atomic_load_explicit(&m->nfams, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (strcmp(m->fams[i]->name, name) == 0)
            return m->fams[i];
    return NULL;
}

static struct child *child_find(struct family *f, const char *const *values, uint64_t hash)
{
    size_t n = atomic_load_explicit(&f->nchildren, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        struct child *c = f->children[i];
        if (c->hash != hash)
            continue;
        size_t k = 0;
        while (k < f->nlabels && strcmp(c->values[k], values[k]) == 0)
            k++;
        if (k == f->nlabels)
            return c;
    }
    return NULL;
}

static void child_free(struct child *c, size_t nlabels)
{
    if (!c)
        return;
    if (c->values)
        for (size_t i = 0; i < nlabels; i++)
            gh_free(c->values[i]);
    gh_free(c->values);
    gh_free(c->hist.counts);
    gh_free(c);
}

static void family_free(struct family *f)
{
    if (!f)
        return;
    size_t n = atomic_load_explicit(&f->nchildren, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        child_free(f->children[i], f->nlabels);
    for (size_t i = 0; i < f->nlabels; i++)
        gh_free(f->labels[i]);
    gh_free(f->name);
    gh_free(f->help);
    gh_free(f->label_spec);
    gh_free(f->bounds);
    gh_free(f);
}

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Called with the mutex held; the child is published before returning. */
static struct child *child_create(struct family *f, const char *const *values, uint64_t hash)
{
    size_t n = atomic_load_explicit(&f->nchildren, memory_order_relaxed);
    if (n > GH_METRICS_MAX_CHILDREN)
        return NULL;
    struct child *c = gh_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->hash = hash;
    if (f->nlabels) {
        c->values = gh_calloc(f->nlabels, sizeof *c->values);
        if (!c->values)
            goto fail;
        for (size_t i = 0; i < f->nlabels; i++)
            if (!(c->values[i] = gh_strdup(values[i])))
                goto fail;
    }
    atomic_init(&c->counter.value, 0);
    atomic_init(&c->gauge.bits, dbits(0.0));
    if (f->kind == K_HISTOGRAM) {
        c->hist.bounds = f->bounds;
        c->hist.nbounds = f->nbounds;
        atomic_init(&c->hist.sum_bits, dbits(0.0));
        c->hist.counts = gh_calloc(f->nbounds + 1, sizeof *c->hist.counts);
        if (!c->hist.counts)
            goto fail;
        for (size_t i = 0; i <= f->nbounds; i++)
            atomic_init(&c->hist.counts[i], 0);
    }
    f->children[n] = c;
    atomic_store_explicit(&f->nchildren, n + 1, memory_order_release);
    return c;
fail:
    child_free(c, f->nlabels);
    return NULL;
}

/* Called with the mutex held; the family is not published here. */
static struct family *family_create(const char *name, const char *help, enum kind kind,
                                    const char *spec, size_t nlabels, const double *buckets,
                                    size_t nbuckets)
{
    struct family *f = gh_calloc(1, sizeof *f);
    if (!f)
        return NULL;
    atomic_init(&f->nchildren, 0);
    f->kind = kind;
    if (!(f->name = gh_strdup(name)))
        goto fail;
    if (help && *help && !(f->help = gh_strdup(help)))
        goto fail;
    if (nlabels) {
        if (!(f->label_spec = gh_strdup(spec)))
            goto fail;
        const char *p = spec;
        for (size_t i = 0; i < nlabels; i++) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (!(f->labels[i] = gh_strndup(p, len)))
                goto fail;
            f->nlabels = i + 1;
            p = comma ? comma + 1 : p + len;
        }
    }
    if (kind == K_HISTOGRAM) {
        f->bounds = gh_calloc(nbuckets, sizeof *f->bounds);
        if (!f->bounds)
            goto fail;
        memcpy(f->bounds, buckets, nbuckets * sizeof *f->bounds);
        f->nbounds = nbuckets;
    }
    return f;
fail:
    family_free(f);
    return NULL;
}

static bool family_matches(const struct family *f, enum kind kind, const char *spec, size_t nlabels,
                           const double *buckets, size_t nbuckets)
{
    if (f->kind != kind || f->nlabels != nlabels)
        return false;
    if (nlabels && strcmp(f->label_spec, spec) != 0)
        return false;
    if (kind == K_HISTOGRAM) {
        if (f->nbounds != nbuckets)
            return false;
        for (size_t i = 0; i < nbuckets; i++)
            if (dbits(f->bounds[i]) != dbits(buckets[i]))
                return false;
    }
    return true;
}

/* Get or create a child; past the bound, the family's overflow child. Mutex held. */
static struct child *child_get_locked(struct family *f, const char *const *values, uint64_t hash)
{
    struct child *c = child_find(f, values, hash);
    if (c)
        return c;
    if (atomic_load_explicit(&f->nchildren, memory_order_relaxed) < GH_METRICS_MAX_CHILDREN)
        return child_create(f, values, hash);
    const char *other[GH_METRICS_MAX_LABELS];
    for (size_t i = 0; i < GH_METRICS_MAX_LABELS; i++) /* all of it: f->nlabels <= the bound */
        other[i] = GH_METRICS_OVERFLOW_VALUE;
    uint64_t ohash = values_hash(other, f->nlabels);
    c = child_find(f, other, ohash);
    return c ? c : child_create(f, other, ohash);
}

static struct child *lookup(struct gh_metrics *m, enum kind kind, const char *name,
                            const char *help, const char *spec, const char *const *values,
                            const double *buckets, size_t nbuckets)
{
    if (!m || !name || !name_ok(name, strnlen(name, GH_METRICS_MAX_NAME + 1), true))
        return NULL;
    int nl = spec_count(spec, kind == K_HISTOGRAM);
    if (nl < 0)
        return NULL;
    size_t nlabels = (size_t)nl;
    if (!values_ok(values, nlabels))
        return NULL;
    if (kind == K_HISTOGRAM && !buckets_ok(buckets, nbuckets))
        return NULL;
    if (help) {
        size_t hl = strnlen(help, GH_METRICS_MAX_HELP + 1);
        if (hl > GH_METRICS_MAX_HELP || !utf8_ok((const unsigned char *)help, hl))
            return NULL;
    }
    uint64_t hash = values_hash(values, nlabels);

    /* Fast path, no lock: everything reachable from a published count is immutable. */
    struct family *f = family_find(m, name);
    if (f) {
        if (!family_matches(f, kind, spec, nlabels, buckets, nbuckets))
            return NULL;
        struct child *c = child_find(f, values, hash);
        if (c)
            return c;
    }

    struct child *c = NULL;
    pthread_mutex_lock(&m->mu);
    f = family_find(m, name);
    if (f) {
        if (family_matches(f, kind, spec, nlabels, buckets, nbuckets))
            c = child_get_locked(f, values, hash);
        goto out;
    }
    size_t nf = atomic_load_explicit(&m->nfams, memory_order_relaxed);
    if (nf == GH_METRICS_MAX_FAMILIES)
        goto out;
    f = family_create(name, help, kind, spec, nlabels, buckets, nbuckets);
    if (!f)
        goto out;
    c = child_get_locked(f, values, hash);
    if (!c) {
        family_free(f);
        goto out;
    }
    m->fams[nf] = f;
    atomic_store_explicit(&m->nfams, nf + 1, memory_order_release);
out:
    pthread_mutex_unlock(&m->mu);
    return c;
}

gh_err gh_metrics_new(struct gh_metrics **out)
{
    *out = NULL;
    struct gh_metrics *m = gh_calloc(1, sizeof *m);
    if (!m)
        return GH_ERR_NOMEM;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        gh_free(m);
        return GH_ERR_NOMEM;
    }
    atomic_init(&m->nfams, 0);
    *out = m;
    return GH_OK;
}

void gh_metrics_free(struct gh_metrics *m)
{
    if (!m)
        return;
    size_t n = atomic_load_explicit(&m->nfams, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        family_free(m->fams[i]);
    pthread_mutex_destroy(&m->mu);
    gh_free(m);
}

struct gh_counter *gh_metrics_counter(struct gh_metrics *m, const char *name, const char *help,
                                      const char *label_names, const char *const *label_values)
{
    struct child *c = lookup(m, K_COUNTER, name, help, label_names, label_values, NULL, 0);
    return c ? &c->counter : NULL;
}

struct gh_gauge *gh_metrics_gauge(struct gh_metrics *m, const char *name, const char *help,
                                  const char *label_names, const char *const *label_values)
{
    struct child *c = lookup(m, K_GAUGE, name, help, label_names, label_values, NULL, 0);
    return c ? &c->gauge : NULL;
}

struct gh_histogram *gh_metrics_histogram(struct gh_metrics *m, const char *name, const char *help,
                                          const double *buckets, size_t nbuckets,
                                          const char *label_names, const char *const *label_values)
{
    struct child *c =
        lookup(m, K_HISTOGRAM, name, help, label_names, label_values, buckets, nbuckets);
    return c ? &c->hist : NULL;
}

/* ---- updates (hot path) -------------------------------------------------------------------- */

void gh_counter_add(struct gh_counter *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

void gh_counter_inc(struct gh_counter *c)
{
    gh_counter_add(c, 1);
}

uint64_t gh_counter_value(const struct gh_counter *c)
{
    return c ? atomic_load_explicit(&c->value, memory_order_relaxed) : 0;
}

void gh_gauge_set(struct gh_gauge *g, double v)
{
    if (g)
        atomic_store_explicit(&g->bits, dbits(v), memory_order_relaxed);
}

static void add_double(_Atomic uint64_t *bits, double v)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, dbits(bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void gh_gauge_add(struct gh_gauge *g, double v)
{
    if (g)
        add_double(&g->bits, v);
}

double gh_gauge_value(const struct gh_gauge *g)
{
    return g ? bitsd(atomic_load_explicit(&g->bits, memory_order_relaxed)) : 0.0;
}

void gh_histogram_observe(struct gh_histogram *h, double v)
{
    if (!h || isnan(v))
        return;
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    add_double(&h->sum_bits, v);
}

uint64_t gh_histogram_count(const struct gh_histogram *h)
{
    if (!h)
        return 0;
    uint64_t n = 0;
    for (size_t i = 0; i <= h->nbounds; i++)
        n += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    return n;
}

double gh_histogram_sum(const struct gh_histogram *h)
{
    return h ? bitsd(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)) : 0.0;
}

/* ---- rendering ----------------------------------------------------------------------------- */

struct obuf {
    char *p;
    size_t len, cap;
    gh_err err;
};

static void ob_put(struct obuf *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (n > GH_METRICS_MAX_RENDER - b->len) {
        b->err = GH_ERR_TOO_LARGE;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = gh_realloc(b->p, cap);
        if (!p) {
            b->err = GH_ERR_NOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void ob_str(struct obuf *b, const char *s)
{
    ob_put(b, s, strlen(s));
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void ob_escaped(struct obuf *b, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (*s == '"' && quote)
            esc = "\\\"";
        if (!esc)
            continue;
        ob_put(b, run, (size_t)(s - run));
        ob_put(b, esc, 2);
        run = s + 1;
    }
    ob_put(b, run, (size_t)(s - run));
}

/* Shortest of %.15g/%.17g that reads back exactly; Prometheus's spellings for the rest.
 * (%g follows LC_NUMERIC: gatehouse never calls setlocale, so the point stays a '.'.) */
static void fmt_double(double v, char out[32])
{
    if (isnan(v)) {
        snprintf(out, 32, "NaN");
    } else if (isinf(v)) {
        snprintf(out, 32, "%s", v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(out, 32, "%.15g", v);
        if (dbits(strtod(out, NULL)) != dbits(v))
            snprintf(out, 32, "%.17g", v);
    }
}

static void ob_labels(struct obuf *b, const struct family *f, const struct child *c, const char *le)
{
    if (f->nlabels == 0 && !le)
        return;
    ob_put(b, "{", 1);
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i)
            ob_put(b, ",", 1);
        ob_str(b, f->labels[i]);
        ob_put(b, "=\"", 2);
        ob_escaped(b, c->values[i], true);
        ob_put(b, "\"", 1);
    }
    if (le) {
        if (f->nlabels)
            ob_put(b, ",", 1);
        ob_put(b, "le=\"", 4);
        ob_str(b, le);
        ob_put(b, "\"", 1);
    }
    ob_put(b, "}", 1);
}

static void ob_sample(struct obuf *b, const struct family *f, const char *suffix,
                      const struct child *c, const char *le, const char *value)
{
    ob_str(b, f->name);
    ob_str(b, suffix);
    ob_labels(b, f, c, le);
    ob_put(b, " ", 1);
    ob_str(b, value);
    ob_put(b, "\n", 1);
}

static void render_histogram(struct obuf *b, const struct family *f, const struct child *c)
{
    char num[32], le[32];
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->nbounds; i++) {
        cum += atomic_load_explicit(&c->hist.counts[i], memory_order_relaxed);
        if (i < f->nbounds)
            fmt_double(f->bounds[i], le);
        else
            snprintf(le, sizeof le, "+Inf");
        snprintf(num, sizeof num, "%" PRIu64, cum);
        ob_sample(b, f, "_bucket", c, le, num);
    }
    fmt_double(gh_histogram_sum(&c->hist), num);
    ob_sample(b, f, "_sum", c, NULL, num);
    snprintf(num, sizeof num, "%" PRIu64, cum);
    ob_sample(b, f, "_count", c, NULL, num);
}

static void render_family(struct obuf *b, const struct family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    if (f->help) {
        ob_str(b, "# HELP ");
        ob_str(b, f->name);
        ob_put(b, " ", 1);
        ob_escaped(b, f->help, false);
        ob_put(b, "\n", 1);
    }
    ob_str(b, "# TYPE ");
    ob_str(b, f->name);
    ob_put(b, " ", 1);
    ob_str(b, types[f->kind]);
    ob_put(b, "\n", 1);

    size_t n = atomic_load_explicit(&f->nchildren, memory_order_acquire);
    char num[32];
    for (size_t i = 0; i < n && !b->err; i++) {
        const struct child *c = f->children[i];
        switch (f->kind) {
        case K_COUNTER:
            snprintf(num, sizeof num, "%" PRIu64, gh_counter_value(&c->counter));
            ob_sample(b, f, "", c, NULL, num);
            break;
        case K_GAUGE:
            fmt_double(gh_gauge_value(&c->gauge), num);
            ob_sample(b, f, "", c, NULL, num);
            break;
        case K_HISTOGRAM:
            render_histogram(b, f, c);
            break;
        }
    }
}

static int family_cmp(const void *a, const void *b)
{
    const struct family *fa = *(const struct family *const *)a;
    const struct family *fb = *(const struct family *const *)b;
    return strcmp(fa->name, fb->name);
}

gh_err gh_metrics_render(struct gh_metrics *m, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!m)
        return GH_ERR_INVALID;
    struct family *sorted[GH_METRICS_MAX_FAMILIES];
    size_t n = atomic_load_explicit(&m->nfams, memory_order_acquire);
    /* The elements are pointers, so the pointer's size is meant in both: */
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of struct pointers, copied as such
    memcpy(sorted, m->fams, n * sizeof sorted[0]);
    // NOLINTNEXTLINE(bugprone-sizeof-expression): qsort of pointers; family_cmp takes pointers
    qsort(sorted, n, sizeof sorted[0], family_cmp);

    struct obuf b = {0};
    ob_put(&b, "", 0); /* an empty registry still renders "" */
    for (size_t i = 0; i < n && !b.err; i++)
        render_family(&b, sorted[i]);
    if (b.err) {
        gh_free(b.p);
        return b.err;
    }
    *out = b.p;
    *out_len = b.len;
    return GH_OK;
}
