/* Planted defects for the static-analysis gate's self-test (scripts/static-analysis.sh
 * --self-test). Known-bad on purpose and never built: it is not under src/ and no target lists
 * it. The self-test runs clang-tidy, cppcheck and scan-build on this file alone, each with the
 * gate's own configuration, and fails unless every one of them reports the null dereference
 * below (each tool's own name for it). The other defects are there for the reader; the tools
 * may or may not report them too.
 *
 * Do not fix anything here: a clean file would make the self-test fail. */
#include <stdlib.h>
#include <string.h>

struct planted_rec {
    char name[8];
    int uses;
};

int planted_null_dereference(int verbose);
int planted_uninitialised_read(int flag);
char *planted_unchecked_malloc(const char *s);

/* The defect all three gates must flag: r is NULL on the path where verbose is 0, and is
 * dereferenced anyway. */
int planted_null_dereference(int verbose)
{
    struct planted_rec *r = NULL;
    if (verbose)
        r = calloc(1, sizeof *r);
    r->uses++;
    int uses = r->uses;
    free(r);
    return uses;
}

/* A read of an uninitialised value when flag is 0. */
int planted_uninitialised_read(int flag)
{
    int v;
    if (flag)
        v = 1;
    return v + 1;
}

/* An unchecked allocation, then a copy that overruns it for strings longer than 7 bytes. */
char *planted_unchecked_malloc(const char *s)
{
    char *p = malloc(8);
    memcpy(p, s, strlen(s) + 1);
    return p;
}
