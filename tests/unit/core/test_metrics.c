/* Unit tests for the metrics registry: exact exposition text, escaping, the per-family child
 * bound, validation, and exact sums under concurrent updates (run under ASan/UBSan). */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mem.h"
#include "core/metrics.h"

static char *render(struct gh_metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(gh_metrics_render(m, &text, &len), GH_OK);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static size_t count_lines_with(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_render_exact(void **state)
{
    (void)state;
    struct gh_metrics *m = NULL;
    assert_int_equal(gh_metrics_new(&m), GH_OK);

    /* Registered out of order: rendering sorts families by name, children stay in order. */
    const double b[] = {0.25, 0.5, 1};
    const char *const r1[] = {"POST /v1/token"};
    struct gh_histogram *h =
        gh_metrics_histogram(m, "t_duration_seconds", "How long.", b, 3, "route", r1);
    const char *const v1[] = {"POST /v1/token", "200"};
    const char *const v2[] = {"GET /healthz", "503"};
    struct gh_counter *c1 =
        gh_metrics_counter(m, "t_requests_total", "Requests.", "route,status", v1);
    struct gh_counter *c2 =
        gh_metrics_counter(m, "t_requests_total", "ignored", "route,status", v2);
    struct gh_gauge *g = gh_metrics_gauge(m, "t_depth", "Queue depth.", NULL, NULL);
    struct gh_counter *plain = gh_metrics_counter(m, "t_aaa_total", NULL, NULL, NULL);
    assert_non_null(h);
    assert_non_null(c1);
    assert_non_null(c2);
    assert_non_null(g);
    assert_non_null(plain);
    assert_ptr_not_equal(c1, c2);
    /* get-or-create returns the same child */
    assert_ptr_equal(gh_metrics_counter(m, "t_requests_total", NULL, "route,status", v1), c1);
    assert_ptr_equal(gh_metrics_gauge(m, "t_depth", NULL, NULL, NULL), g);

    gh_counter_add(c1, 3);
    gh_counter_inc(c2);
    gh_gauge_set(g, 5);
    gh_gauge_add(g, -1.5);
    gh_histogram_observe(h, 0.125);
    gh_histogram_observe(h, 0.25); /* le is inclusive */
    gh_histogram_observe(h, 0.75);
    gh_histogram_observe(h, 2);
    gh_histogram_observe(h, NAN); /* ignored */

    assert_int_equal(gh_counter_value(c1), 3);
    assert_true(gh_gauge_value(g) == 3.5);
    assert_int_equal(gh_histogram_count(h), 4);
    assert_true(gh_histogram_sum(h) == 3.125);

    char *text = render(m);
    const char *want = "# TYPE t_aaa_total counter\n"
                       "t_aaa_total 0\n"
                       "# HELP t_depth Queue depth.\n"
                       "# TYPE t_depth gauge\n"
                       "t_depth 3.5\n"
                       "# HELP t_duration_seconds How long.\n"
                       "# TYPE t_duration_seconds histogram\n"
                       "t_duration_seconds_bucket{route=\"POST /v1/token\",le=\"0.25\"} 2\n"
                       "t_duration_seconds_bucket{route=\"POST /v1/token\",le=\"0.5\"} 2\n"
                       "t_duration_seconds_bucket{route=\"POST /v1/token\",le=\"1\"} 3\n"
                       "t_duration_seconds_bucket{route=\"POST /v1/token\",le=\"+Inf\"} 4\n"
                       "t_duration_seconds_sum{route=\"POST /v1/token\"} 3.125\n"
                       "t_duration_seconds_count{route=\"POST /v1/token\"} 4\n"
                       "# HELP t_requests_total Requests.\n"
                       "# TYPE t_requests_total counter\n"
                       "t_requests_total{route=\"POST /v1/token\",status=\"200\"} 3\n"
                       "t_requests_total{route=\"GET /healthz\",status=\"503\"} 1\n";
    assert_string_equal(text, want);
    gh_free(text);
    gh_metrics_free(m);
}

static void test_special_values_and_empty(void **state)
{
    (void)state;
    struct gh_metrics *m = NULL;
    assert_int_equal(gh_metrics_new(&m), GH_OK);
    char *text = render(m);
    assert_string_equal(text, "");
    gh_free(text);

    const char *const a[] = {"a"}, *const b[] = {"b"}, *const c[] = {"c"}, *const d[] = {"d"};
    gh_gauge_set(gh_metrics_gauge(m, "g", NULL, "k", a), INFINITY);
    gh_gauge_set(gh_metrics_gauge(m, "g", NULL, "k", b), -INFINITY);
    gh_gauge_set(gh_metrics_gauge(m, "g", NULL, "k", c), NAN);
    gh_gauge_set(gh_metrics_gauge(m, "g", NULL, "k", d), 0.1 + 0.2); /* needs 17 digits */
    const double bk[] = {1e-05, 1e21};
    struct gh_histogram *h = gh_metrics_histogram(m, "h", "", bk, 2, NULL, NULL);
    gh_histogram_observe(h, -3);
    text = render(m);
    assert_string_equal(text, "# TYPE g gauge\n"
                              "g{k=\"a\"} +Inf\n"
                              "g{k=\"b\"} -Inf\n"
                              "g{k=\"c\"} NaN\n"
                              "g{k=\"d\"} 0.30000000000000004\n"
                              "# TYPE h histogram\n"
                              "h_bucket{le=\"1e-05\"} 1\n"
                              "h_bucket{le=\"1e+21\"} 1\n"
                              "h_bucket{le=\"+Inf\"} 1\n"
                              "h_sum -3\n"
                              "h_count 1\n");
    gh_free(text);
    gh_metrics_free(m);
}

static void test_escaping(void **state)
{
    (void)state;
    struct gh_metrics *m = NULL;
    assert_int_equal(gh_metrics_new(&m), GH_OK);
    const char *const v[] = {"a\\b\"c\nd", "caf\xc3\xa9"};
    struct gh_counter *c =
        gh_metrics_counter(m, "esc_total", "Help with \\ and\nnewline and \"quotes\".", "x,y", v);
    assert_non_null(c);
    gh_counter_add(c, 7);
    char *text = render(m);
    assert_string_equal(text, "# HELP esc_total Help with \\\\ and\\nnewline and \"quotes\".\n"
                              "# TYPE esc_total counter\n"
                              "esc_total{x=\"a\\\\b\\\"c\\nd\",y=\"caf\xc3\xa9\"} 7\n");
    gh_free(text);
    gh_metrics_free(m);
}

static void test_child_bound(void **state)
{
    (void)state;
    struct gh_metrics *m = NULL;
    assert_int_equal(gh_metrics_new(&m), GH_OK);
    struct gh_counter *first = NULL;
    char route[32], status[32];
    for (int i = 0; i < GH_METRICS_MAX_CHILDREN; i++) {
        snprintf(route, sizeof route, "r%d", i);
        snprintf(status, sizeof status, "%d", 200 + i);
        const char *const v[] = {route, status};
        struct gh_counter *c = gh_metrics_counter(m, "b_total", "Bound.", "route,status", v);
        assert_non_null(c);
        if (i == 0)
            first = c;
        gh_counter_inc(c);
    }
    /* Past the bound: every new label set shares the "other" child. */
    const char *const n1[] = {"new1", "599"};
    const char *const n2[] = {"new2", "598"};
    struct gh_counter *o1 = gh_metrics_counter(m, "b_total", NULL, "route,status", n1);
    struct gh_counter *o2 = gh_metrics_counter(m, "b_total", NULL, "route,status", n2);
    assert_non_null(o1);
    assert_ptr_equal(o1, o2);
    gh_counter_add(o1, 2);
    gh_counter_add(o2, 3);
    /* Existing children are still found, by the same pointer. */
    const char *const v0[] = {"r0", "200"};
    assert_ptr_equal(gh_metrics_counter(m, "b_total", NULL, "route,status", v0), first);
    const char *const other[] = {"other", "other"};
    assert_ptr_equal(gh_metrics_counter(m, "b_total", NULL, "route,status", other), o1);

    char *text = render(m);
    assert_int_equal(count_lines_with(text, "\nb_total{"), GH_METRICS_MAX_CHILDREN + 1);
    assert_non_null(strstr(text, "\nb_total{route=\"other\",status=\"other\"} 5\n"));
    assert_non_null(strstr(text, "\nb_total{route=\"r255\",status=\"455\"} 1\n"));
    assert_null(strstr(text, "new1"));
    gh_free(text);
    gh_metrics_free(m);
}

static void test_explicit_other_is_reused_at_bound(void **state)
{
    (void)state;
    struct gh_metrics *m = NULL;
    assert_int_equal(gh_metrics_new(&m), GH_OK);
    const char *const other[] = {"other"};
    struct gh_counter *o = gh_metrics_counter(m, "e_total", NULL, "k", other);
    char k[16];
    for (int i = 1; i < GH_METRICS_MAX_CHILDREN; i++) {
        snprintf(k, sizeof k, "k%d", i);
        const char *const v[] = {k};
        assert_non_null(gh_metrics_counter(m, "e_total", NULL, "k", v));
    }
    const char *const extra[] = {"extra"};
    assert_ptr_equal(gh_metrics_counter(m, "e_total", NULL, "k", extra), o);
    char *text = render(m);
    assert_int_equal(count_lines_with(text, "\ne_total{"), GH_METRICS_MAX_CHILDREN);
    gh_free(text);
    gh_metrics_free(m);
}

static void test_validation(void **state)
{
    (void)state;
    struct gh_metrics *m = NULL;
    assert_int_equal(gh_metrics_new(&m), GH_OK);
    const double b[] = {1, 2};
    const char *const one[] = {"x"};
    const char *const two[] = {"x", "y"};

    /* metric names: [a-zA-Z_:][a-zA-Z0-9_:]* */
    assert_non_null(gh_metrics_counter(m, "ok_name:sub_total", NULL, NULL, NULL));
    assert_non_null(gh_metrics_counter(m, "_x9", NULL, NULL, NULL));
    assert_non_null(gh_metrics_counter(m, ":colon", NULL, NULL, NULL));
    assert_null(gh_metrics_counter(m, NULL, NULL, NULL, NULL));
    assert_null(gh_metrics_counter(m, "", NULL, NULL, NULL));
    assert_null(gh_metrics_counter(m, "9lives", NULL, NULL, NULL));
    assert_null(gh_metrics_counter(m, "has-dash", NULL, NULL, NULL));
    assert_null(gh_metrics_counter(m, "has space", NULL, NULL, NULL));
    assert_null(gh_metrics_counter(m, "x{y=\"1\"}", NULL, NULL, NULL));
    assert_null(gh_metrics_counter(m, "caf\xc3\xa9", NULL, NULL, NULL));
    char longname[GH_METRICS_MAX_NAME + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_null(gh_metrics_counter(m, longname, NULL, NULL, NULL));
    longname[GH_METRICS_MAX_NAME] = '\0';
    assert_non_null(gh_metrics_counter(m, longname, NULL, NULL, NULL));

    /* label names: no colon, no "__" prefix, no duplicates, no empty, no spaces */
    assert_null(gh_metrics_counter(m, "l_total", NULL, "a:b", one));
    assert_null(gh_metrics_counter(m, "l_total", NULL, "__name", one));
    assert_null(gh_metrics_counter(m, "l_total", NULL, "a,a", two));
    assert_null(gh_metrics_counter(m, "l_total", NULL, "a,", two));
    assert_null(gh_metrics_counter(m, "l_total", NULL, ",a", two));
    assert_null(gh_metrics_counter(m, "l_total", NULL, "a, b", two));
    assert_null(gh_metrics_counter(m, "l_total", NULL, "1a", one));
    assert_null(gh_metrics_counter(m, "l_total", NULL, "a,b,c,d,e,f,g,h,i", two));
    assert_null(gh_metrics_histogram(m, "l_hist", NULL, b, 2, "le", one));

    /* label values: present, bounded, UTF-8 */
    assert_null(gh_metrics_counter(m, "l_total", NULL, "a", NULL));
    const char *const nullv[] = {"x", NULL};
    assert_null(gh_metrics_counter(m, "l_total", NULL, "a,b", nullv));
    const char *const bad_utf8[] = {"\xc3("};
    assert_null(gh_metrics_counter(m, "l_total", NULL, "a", bad_utf8));
    const char *const overlong[] = {"\xc0\xaf"};
    assert_null(gh_metrics_counter(m, "l_total", NULL, "a", overlong));
    char longval[GH_METRICS_MAX_LABEL_VALUE + 2];
    memset(longval, 'v', sizeof longval - 1);
    longval[sizeof longval - 1] = '\0';
    const char *const lv[] = {longval};
    assert_null(gh_metrics_counter(m, "l_total", NULL, "a", lv));
    longval[GH_METRICS_MAX_LABEL_VALUE] = '\0';
    assert_non_null(gh_metrics_counter(m, "l_total", NULL, "a", lv));
    const char *const empty[] = {""};
    assert_non_null(gh_metrics_counter(m, "l_total", NULL, "a", empty));

    /* help: bounded, UTF-8 */
    char longhelp[GH_METRICS_MAX_HELP + 2];
    memset(longhelp, 'h', sizeof longhelp - 1);
    longhelp[sizeof longhelp - 1] = '\0';
    assert_null(gh_metrics_counter(m, "h_total", longhelp, NULL, NULL));
    assert_null(gh_metrics_counter(m, "h_total", "\xff", NULL, NULL));

    /* one name, one shape: type, label names and buckets must match */
    assert_non_null(gh_metrics_counter(m, "shape", NULL, "a", one));
    assert_null(gh_metrics_gauge(m, "shape", NULL, "a", one));
    assert_null(gh_metrics_histogram(m, "shape", NULL, b, 2, "a", one));
    assert_null(gh_metrics_counter(m, "shape", NULL, "b", one));
    assert_null(gh_metrics_counter(m, "shape", NULL, NULL, NULL));
    assert_null(gh_metrics_counter(m, "shape", NULL, "a,b", two));
    assert_non_null(gh_metrics_histogram(m, "hshape", NULL, b, 2, NULL, NULL));
    const double b2[] = {1, 3};
    assert_null(gh_metrics_histogram(m, "hshape", NULL, b2, 2, NULL, NULL));
    assert_null(gh_metrics_histogram(m, "hshape", NULL, b, 1, NULL, NULL));

    /* buckets: 1..max, finite, strictly increasing */
    const double unsorted[] = {2, 1}, dup[] = {1, 1}, inf[] = {1, INFINITY}, nan[] = {NAN};
    assert_null(gh_metrics_histogram(m, "hb", NULL, unsorted, 2, NULL, NULL));
    assert_null(gh_metrics_histogram(m, "hb", NULL, dup, 2, NULL, NULL));
    assert_null(gh_metrics_histogram(m, "hb", NULL, inf, 2, NULL, NULL));
    assert_null(gh_metrics_histogram(m, "hb", NULL, nan, 1, NULL, NULL));
    assert_null(gh_metrics_histogram(m, "hb", NULL, NULL, 0, NULL, NULL));
    assert_null(gh_metrics_histogram(m, "hb", NULL, b, 0, NULL, NULL));
    double many[GH_METRICS_MAX_BUCKETS + 1];
    for (size_t i = 0; i < GH_METRICS_MAX_BUCKETS + 1; i++)
        many[i] = (double)i;
    assert_null(gh_metrics_histogram(m, "hb", NULL, many, GH_METRICS_MAX_BUCKETS + 1, NULL, NULL));
    assert_non_null(gh_metrics_histogram(m, "hb", NULL, many, GH_METRICS_MAX_BUCKETS, NULL, NULL));
    assert_non_null(gh_metrics_histogram(m, "hsec", NULL, gh_metrics_seconds_buckets,
                                         GH_METRICS_SECONDS_NBUCKETS, NULL, NULL));

    /* nothing invalid was registered */
    char *text = render(m);
    assert_null(strstr(text, "9lives"));
    assert_null(strstr(text, "# TYPE h_total"));
    assert_null(strstr(text, "# TYPE l_hist"));
    gh_free(text);
    gh_metrics_free(m);
}

static void test_family_bound(void **state)
{
    (void)state;
    struct gh_metrics *m = NULL;
    assert_int_equal(gh_metrics_new(&m), GH_OK);
    char name[32];
    for (int i = 0; i < GH_METRICS_MAX_FAMILIES; i++) {
        snprintf(name, sizeof name, "f%03d", i);
        assert_non_null(gh_metrics_gauge(m, name, NULL, NULL, NULL));
    }
    assert_null(gh_metrics_gauge(m, "one_too_many", NULL, NULL, NULL));
    assert_non_null(gh_metrics_gauge(m, "f000", NULL, NULL, NULL));
    gh_metrics_free(m);
}

static void test_null_safe_and_alloc_failure(void **state)
{
    (void)state;
    /* A disabled registry: registration gives NULL and updates do nothing. */
    assert_null(gh_metrics_counter(NULL, "x_total", NULL, NULL, NULL));
    gh_counter_add(NULL, 1);
    gh_counter_inc(NULL);
    gh_gauge_set(NULL, 1);
    gh_gauge_add(NULL, 1);
    gh_histogram_observe(NULL, 1);
    assert_int_equal(gh_counter_value(NULL), 0);
    gh_metrics_free(NULL);
    char *text = (char *)1;
    size_t len = 1;
    assert_int_equal(gh_metrics_render(NULL, &text, &len), GH_ERR_INVALID);
    assert_null(text);

    struct gh_metrics *m = NULL;
    gh_mem_fail_after(1);
    assert_int_equal(gh_metrics_new(&m), GH_ERR_NOMEM);
    assert_null(m);
    assert_int_equal(gh_metrics_new(&m), GH_OK);
    const double b[] = {1};
    const char *const v[] = {"a", "b"};
    /* Fail each allocation of a registration in turn: NULL, no leak, nothing half-registered. */
    for (long n = 1; n < 12; n++) {
        gh_mem_fail_after(n);
        struct gh_histogram *h = gh_metrics_histogram(m, "af", "help", b, 1, "x,y", v);
        gh_mem_fail_after(0);
        if (h)
            break;
    }
    assert_non_null(gh_metrics_histogram(m, "af", "help", b, 1, "x,y", v));
    gh_mem_fail_after(1);
    assert_int_equal(gh_metrics_render(m, &text, &len), GH_ERR_NOMEM);
    gh_mem_fail_after(0);
    text = render(m);
    assert_int_equal(count_lines_with(text, "# TYPE af histogram"), 1);
    assert_int_equal(count_lines_with(text, "af_count{"), 1);
    gh_free(text);
    gh_metrics_free(m);
}

/* ---- concurrency ------------------------------------------------------------------------------
 */

#define NTHREADS 4
#define NITER 200000

struct shared {
    struct gh_metrics *m;
    struct gh_counter *c;
    struct gh_gauge *g;
    struct gh_histogram *h;
    int id;
    atomic_int failures; /* cmocka's asserts are not for other threads */
};

static void *hammer(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < NITER; i++) {
        gh_counter_inc(s->c);
        gh_gauge_add(s->g, 1);
        gh_histogram_observe(s->h, (i & 1) ? 0.5 : 2);
    }
    return NULL;
}

static void test_concurrent_sums_exact(void **state)
{
    (void)state;
    struct gh_metrics *m = NULL;
    assert_int_equal(gh_metrics_new(&m), GH_OK);
    const double b[] = {1};
    struct shared s[NTHREADS];
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        s[i] = (struct shared){
            .m = m,
            .c = gh_metrics_counter(m, "cc_total", NULL, NULL, NULL),
            .g = gh_metrics_gauge(m, "cg", NULL, NULL, NULL),
            .h = gh_metrics_histogram(m, "ch", NULL, b, 1, NULL, NULL),
        };
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &s[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(gh_counter_value(s[0].c), (uint64_t)NTHREADS * NITER);
    assert_true(gh_gauge_value(s[0].g) == (double)NTHREADS * NITER);
    assert_int_equal(gh_histogram_count(s[0].h), (uint64_t)NTHREADS * NITER);
    assert_true(gh_histogram_sum(s[0].h) == (double)NTHREADS * NITER / 2 * 2.5);
    char *text = render(m);
    char want[128];
    snprintf(want, sizeof want, "\ncc_total %d\n", NTHREADS * NITER);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "\nch_bucket{le=\"1\"} %d\n", NTHREADS * NITER / 2);
    assert_non_null(strstr(text, want));
    gh_free(text);
    gh_metrics_free(m);
}

/* Each thread registers new children and families (get-or-create, from 4 threads at once) and
 * updates them, while the main thread renders: ASan/UBSan check the publication protocol. */
static void *register_and_update(void *arg)
{
    struct shared *s = arg;
    const double b[] = {0.01, 0.1, 1};
    char route[32], fam[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(route, sizeof route, "r%d", i % 300);
        const char *const v[] = {route, (i & 1) ? "200" : "500"};
        struct gh_counter *c = gh_metrics_counter(s->m, "rr_total", "Races.", "route,status", v);
        if (!c)
            atomic_fetch_add(&s->failures, 1);
        gh_counter_inc(c);
        snprintf(route, sizeof route, "r%d", i % 100);
        const char *const hv[] = {route};
        gh_histogram_observe(gh_metrics_histogram(s->m, "rr_seconds", NULL, b, 3, "route", hv),
                             (double)(i % 7) / 10);
        snprintf(fam, sizeof fam, "fam_%d_%d", s->id, i % 20);
        gh_gauge_add(gh_metrics_gauge(s->m, fam, "Per thread.", NULL, NULL), 1);
        gh_counter_inc(s->c);
    }
    return NULL;
}

static void test_render_while_updating(void **state)
{
    (void)state;
    struct gh_metrics *m = NULL;
    assert_int_equal(gh_metrics_new(&m), GH_OK);
    struct gh_counter *shared = gh_metrics_counter(m, "shared_total", NULL, NULL, NULL);
    struct shared s[NTHREADS];
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        s[i] = (struct shared){.m = m, .c = shared, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, register_and_update, &s[i]), 0);
    }
    for (int i = 0; i < 50; i++) {
        char *text = render(m);
        gh_free(text);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(atomic_load(&s[i].failures), 0);
    }

    assert_int_equal(gh_counter_value(shared), NTHREADS * 2000);
    char *text = render(m);
    /* 300 routes × 2 statuses exceed the bound: 256 real children plus "other". */
    assert_int_equal(count_lines_with(text, "\nrr_total{"), GH_METRICS_MAX_CHILDREN + 1);
    assert_int_equal(count_lines_with(text, "# TYPE rr_total counter\n"), 1);
    assert_int_equal(count_lines_with(text, "# TYPE fam_"), NTHREADS * 20);
    assert_int_equal(count_lines_with(text, "rr_seconds_count{route="), 100);
    /* every increment landed in exactly one child */
    uint64_t total = 0;
    for (const char *p = text; (p = strstr(p, "\nrr_total{")) != NULL; p++) {
        const char *sp = strchr(p, '}');
        total += strtoull(sp + 2, NULL, 10);
    }
    assert_int_equal(total, NTHREADS * 2000);
    gh_free(text);
    gh_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_special_values_and_empty),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_child_bound),
        cmocka_unit_test(test_explicit_other_is_reused_at_bound),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_family_bound),
        cmocka_unit_test(test_null_safe_and_alloc_failure),
        cmocka_unit_test(test_concurrent_sums_exact),
        cmocka_unit_test(test_render_while_updating),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
