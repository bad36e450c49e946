/* Unit tests for auth/policy through its public header: NFKC normalisation, each rule with its
 * id, zxcvbn user context, and the Pwned Passwords file lookup on synthetic files the tests
 * write (SHA-1 vectors for the known passwords were made with python3 hashlib). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nettle/sha1.h>
#include <sodium.h>

#include "auth/policy.h"
#include "core/banned.h"

#define PASSPHRASE "correct horse battery staple orbit lantern"

/* python3 -c 'import hashlib; print(hashlib.sha1(pw.encode()).hexdigest().upper())' */
static const struct {
    const char *pw;
    const char *sha1;
} KNOWN[] = {
    {PASSPHRASE, "5AD05FEF74AE1D9106CCA4820464EFB662FBC234"},
    {"hunter2hunter2", "FC8C5EB194806E31A213F073131E73B0012A0FB5"},
    {"P@ssw0rd-breached-1", "750D4F68C5C2C02008EEF0F6DC2B85510852567F"},
};
#define N_KNOWN (sizeof KNOWN / sizeof KNOWN[0])
#define N_RANDOM 1000

static char tmpdir[64];

static int group_setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gh_test_policy_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct gh_policy *open_default(const char *breached_path)
{
    struct gh_policy_config cfg;
    struct gh_policy *p = NULL;
    gh_policy_config_default(&cfg);
    cfg.breached_path = breached_path;
    assert_int_equal(gh_policy_open(&cfg, &p), GH_OK);
    assert_non_null(p);
    return p;
}

/* Runs the check; returns the rule id ("ok" when accepted) and asserts the message contract. */
static const char *check_ctx(const struct gh_policy *p, const char *pw, size_t len,
                             const char *const *ctx)
{
    const char *rule = "unset", *msg = "unset";
    gh_err rc = gh_policy_check(p, pw, len, ctx, &rule, &msg);
    if (rc == GH_OK) {
        assert_null(rule);
        assert_null(msg);
        return "ok";
    }
    assert_int_equal(rc, GH_ERR_INVALID);
    assert_non_null(rule);
    assert_non_null(msg);
    assert_true(strlen(msg) > 20);
    if (len >= 4 && memchr(pw, '\0', len) == NULL) {
        char *copy = strndup(pw, len);
        assert_non_null(copy);
        assert_null(strstr(msg, copy)); /* never echoes the password */
        free(copy);
    }
    return rule;
}

static const char *check(const struct gh_policy *p, const char *pw)
{
    return check_ctx(p, pw, strlen(pw), NULL);
}

static void assert_normalizes_to(const char *in, const char *want)
{
    char *out = NULL;
    size_t n = 0;
    assert_int_equal(gh_policy_normalize(in, strlen(in), &out, &n), GH_OK);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_int_equal(out[n], '\0');
    sodium_memzero(out, n);
    sodium_free(out);
}

static void test_config_validation(void **state)
{
    (void)state;
    struct gh_policy_config cfg;
    struct gh_policy *p = (struct gh_policy *)1;

    gh_policy_config_default(&cfg);
    assert_int_equal(cfg.min_chars, 12);
    assert_int_equal(cfg.max_chars, 128);
    assert_true(cfg.min_entropy_bits > 26.5 && cfg.min_entropy_bits < 26.7);
    assert_null(cfg.breached_path);

    cfg.min_chars = 7;
    assert_int_equal(gh_policy_open(&cfg, &p), GH_ERR_CONFIG);
    assert_null(p);
    gh_policy_config_default(&cfg);
    cfg.max_chars = 127;
    assert_int_equal(gh_policy_open(&cfg, &p), GH_ERR_CONFIG);
    cfg.max_chars = GH_POLICY_MAX_BYTES + 1;
    assert_int_equal(gh_policy_open(&cfg, &p), GH_ERR_CONFIG);
    gh_policy_config_default(&cfg);
    cfg.min_chars = 200;
    assert_int_equal(gh_policy_open(&cfg, &p), GH_ERR_CONFIG);
    gh_policy_config_default(&cfg);
    cfg.min_entropy_bits = -1;
    assert_int_equal(gh_policy_open(&cfg, &p), GH_ERR_CONFIG);
    cfg.min_entropy_bits = 0.0 / 0.0;
    assert_int_equal(gh_policy_open(&cfg, &p), GH_ERR_CONFIG);
    assert_int_equal(gh_policy_open(NULL, &p), GH_ERR_CONFIG);
    gh_policy_config_default(&cfg);
    assert_int_equal(gh_policy_open(&cfg, NULL), GH_ERR_INVALID);

    cfg.min_chars = 8;
    cfg.max_chars = 1024;
    assert_int_equal(gh_policy_open(&cfg, &p), GH_OK);
    gh_policy_free(p);
    gh_policy_free(NULL);
}

static void test_normalize(void **state)
{
    (void)state;
    assert_normalizes_to("plain ascii 123", "plain ascii 123");
    assert_normalizes_to("\xef\xac\x81sh", "fish");                      /* U+FB01 ﬁ ligature */
    assert_normalizes_to("\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93", "123"); /* full-width digits */
    assert_normalizes_to("caf"
                         "e\xcc\x81",
                         "caf\xc3\xa9");                /* e + U+0301 → é */
    assert_normalizes_to("caf\xc3\xa9", "caf\xc3\xa9"); /* already NFC */
    assert_normalizes_to("\xe2\x84\xab", "\xc3\x85");   /* U+212B Ångström → Å */
    assert_normalizes_to("x\xc2\xb2", "x2");            /* superscript two */
    assert_normalizes_to("", "");

    char *out = (char *)1;
    size_t n = 99;
    static const char *const BAD[] = {
        "\xff", "abc\x80", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        assert_int_equal(gh_policy_normalize(BAD[i], strlen(BAD[i]), &out, &n), GH_ERR_INVALID);
        assert_null(out);
        assert_int_equal(n, 0);
    }
    assert_int_equal(gh_policy_normalize("ab\0cd", 5, &out, &n), GH_ERR_INVALID);
    assert_int_equal(gh_policy_normalize(NULL, 1, &out, &n), GH_ERR_INVALID);

    static char big[GH_POLICY_INPUT_MAX + 1];
    memset(big, 'a', sizeof big);
    assert_int_equal(gh_policy_normalize(big, sizeof big, &out, &n), GH_ERR_TOO_LARGE);
    assert_int_equal(gh_policy_normalize(big, GH_POLICY_INPUT_MAX, &out, &n), GH_OK);
    assert_int_equal(n, GH_POLICY_INPUT_MAX);
    sodium_free(out);

    /* worst-case growth: U+FDFA (3 bytes) becomes 18 Arabic letters (33 bytes) */
    static char arabic[3 * 1365];
    for (size_t i = 0; i < sizeof arabic; i += 3)
        memcpy(arabic + i, "\xef\xb7\xba", 3);
    assert_int_equal(gh_policy_normalize(arabic, sizeof arabic, &out, &n), GH_OK);
    assert_int_equal(n, 1365u * 33u);
    sodium_free(out);
}

static void test_accepts_passphrase(void **state)
{
    (void)state;
    struct gh_policy *p = open_default(NULL);
    assert_string_equal(check(p, PASSPHRASE), "ok");
    assert_string_equal(check(p, "Tr0ub4dor&3-elephant"), "ok");
    /* 12 code points of non-ASCII text is long enough */
    assert_string_equal(check(p, "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
                                 "\xd0\xbc\xd0\xb8\xd1\x80 \xd0\xba\xd0\xbe\xd1\x82\xd1\x8b"),
                        "ok"); /* "привет мир коты" */
    gh_policy_free(p);
}

static void test_too_short(void **state)
{
    (void)state;
    struct gh_policy *p = open_default(NULL);
    assert_string_equal(check(p, ""), "too_short");
    assert_string_equal(check(p, "k7#Qm!2zX9"), "too_short");  /* 10 */
    assert_string_equal(check(p, "k7#Qm!2zX9a"), "too_short"); /* 11 */
    /* 11 × é: 22 bytes but 11 code points */
    assert_string_equal(check(p, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
                                 "\xa9\xc3\xa9\xc3\xa9\xc3\xa9"),
                        "too_short");
    /* 6 × (e + combining acute) is 12 code points typed, 6 after NFKC */
    assert_string_equal(check(p, "e\xcc\x81q\xcc\x81z\xcc\x81x\xcc\x81k\xcc\x81w\xcc\x81"),
                        "too_short");
    gh_policy_free(p);

    /* the floor is configurable, never below 8 */
    struct gh_policy_config cfg;
    gh_policy_config_default(&cfg);
    cfg.min_chars = 8;
    assert_int_equal(gh_policy_open(&cfg, &p), GH_OK);
    assert_string_equal(check(p, "k7#Qm!2z"), "ok");
    assert_string_equal(check(p, "k7#Qm!2"), "too_short");
    gh_policy_free(p);
}

static void test_too_long(void **state)
{
    (void)state;
    struct gh_policy *p = open_default(NULL);
    char pw[2048];
    unsigned char rnd[1536];
    randombytes_buf(rnd, sizeof rnd);
    for (size_t i = 0; i < sizeof rnd; i++)
        pw[i] = (char)('!' + rnd[i] % 94);

    assert_string_equal(check_ctx(p, pw, 128, NULL), "ok");
    assert_string_equal(check_ctx(p, pw, 129, NULL), "too_long");
    gh_policy_free(p);

    struct gh_policy_config cfg;
    gh_policy_config_default(&cfg);
    cfg.max_chars = GH_POLICY_MAX_BYTES;
    assert_int_equal(gh_policy_open(&cfg, &p), GH_OK);
    assert_string_equal(check_ctx(p, pw, 1024, NULL), "ok");
    assert_string_equal(check_ctx(p, pw, 1025, NULL), "too_long");
    /* 600 code points but 1200 bytes: over the byte cap */
    for (size_t i = 0; i < 1200; i += 2)
        memcpy(pw + i, "\xc3\xa9", 2);
    assert_string_equal(check_ctx(p, pw, 1200, NULL), "too_long");
    /* over the input cap before normalisation */
    static char big[GH_POLICY_INPUT_MAX + 1];
    memset(big, 'a', sizeof big);
    assert_string_equal(check_ctx(p, big, sizeof big, NULL), "too_long");
    gh_policy_free(p);
}

static void test_not_utf8(void **state)
{
    (void)state;
    struct gh_policy *p = open_default(NULL);
    assert_string_equal(check(p, "correct horse \xff battery staple"), "not_utf8");
    assert_string_equal(check_ctx(p, "correct horse\0battery staple", 28, NULL), "not_utf8");
    gh_policy_free(p);
}

static void test_common(void **state)
{
    (void)state;
    struct gh_policy *p = open_default(NULL);
    /* qwerty123456 is entry 1851 of zxcvbn's list; the longest entries of the list are 18 */
    assert_true(gh_policy_is_common(p, "password", 8));
    assert_true(gh_policy_is_common(p, "PassWord", 8));
    assert_true(gh_policy_is_common(p, "123456", 6));
    assert_true(gh_policy_is_common(p, "qqqqqq1", 7)); /* the 10 000th entry */
    assert_false(gh_policy_is_common(p, "password ", 9));
    assert_true(gh_policy_is_common(p, "passwor", 7)); /* zxcvbn's list has such entries */
    assert_false(gh_policy_is_common(p, "passwordz", 9));
    assert_false(gh_policy_is_common(p, "", 0));
    assert_false(gh_policy_is_common(p, "#", 1)); /* the header is not an entry */

    assert_string_equal(check(p, "qwerty123456"), "common");
    assert_string_equal(check(p, "QWERTY123456"), "common");
    assert_string_equal(check(p, "1qaz2wsx3edc"), "common");
    /* full-width forms are the same password after NFKC */
    assert_string_equal(check(p, "\xef\xbd\x91\xef\xbd\x97\xef\xbd\x85\xef\xbd\x92\xef\xbd\x94"
                                 "\xef\xbd\x99\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94"
                                 "\xef\xbc\x95\xef\xbc\x96"),
                        "common");
    gh_policy_free(p);

    struct gh_policy_config cfg;
    gh_policy_config_default(&cfg);
    cfg.min_chars = 8;
    assert_int_equal(gh_policy_open(&cfg, &p), GH_OK);
    assert_string_equal(check(p, "password123"), "common");
    /* "ｐａｓｓｗｏｒｄ１２３" */
    assert_string_equal(check(p, "\xef\xbd\x90\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93\xef\xbd\x97"
                                 "\xef\xbd\x8f\xef\xbd\x92\xef\xbd\x84\xef\xbc\x91\xef\xbc\x92"
                                 "\xef\xbc\x93"),
                        "common");
    assert_string_equal(check(p, "iloveyou"), "common");
    gh_policy_free(p);
}

static void test_too_guessable(void **state)
{
    (void)state;
    struct gh_policy *p = open_default(NULL);
    assert_string_equal(check(p, "aaaaaaaaaaaaaaaa"), "too_guessable");
    assert_string_equal(check(p, "abcdefghijklmnop"), "too_guessable");
    assert_string_equal(check(p, "monkey dishwasher"), "too_guessable");
    assert_string_equal(check(p, "password1234"), "too_guessable"); /* not in the list itself */
    gh_policy_free(p);
}

static void test_user_context(void **state)
{
    (void)state;
    struct gh_policy *p = open_default(NULL);
    const char *const alice[] = {"alice.smith@example.com", "alice.smith", "Alice Smith", NULL};
    const char *const bob[] = {"bob.jones@example.org", "bob.jones", "Bob Jones", NULL};
    const char *const alice_email_only[] = {"alice.smith@example.com", NULL};
    const char *const empty[] = {NULL};
    const char *pw = "alice.smith2024!";
    size_t n = strlen(pw);

    assert_string_equal(check_ctx(p, pw, n, alice), "too_guessable");
    assert_string_equal(check_ctx(p, pw, n, alice_email_only), "too_guessable");
    assert_string_equal(check_ctx(p, pw, n, bob), "ok");
    assert_string_equal(check_ctx(p, pw, n, empty), "ok");
    assert_string_equal(check_ctx(p, pw, n, NULL), "ok");
    assert_string_equal(check_ctx(p, "bob.jones1984!!x", 16, bob), "too_guessable");
    assert_string_equal(check_ctx(p, PASSPHRASE, strlen(PASSPHRASE), alice), "ok");
    gh_policy_free(p);
}

/* ---- breached file ---------------------------------------------------------------------- */

struct entry {
    char hex[41];
    char pw[64];
};

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->hex, ((const struct entry *)b)->hex);
}

static void sha1_hex_upper(const char *pw, char hex[41])
{
    struct sha1_ctx ctx;
    uint8_t d[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, strlen(pw), (const uint8_t *)pw);
    sha1_digest(&ctx, sizeof d, d);
    sodium_bin2hex(hex, 41, d, sizeof d);
    for (size_t i = 0; i < 40; i++)
        hex[i] = (char)toupper((unsigned char)hex[i]);
}

static struct entry *make_entries(size_t *count)
{
    size_t n = N_RANDOM + N_KNOWN;
    struct entry *e = calloc(n, sizeof *e);
    assert_non_null(e);
    for (size_t i = 0; i < N_RANDOM; i++) {
        snprintf(e[i].pw, sizeof e[i].pw, "member-%zu-%08x", i, randombytes_random());
        sha1_hex_upper(e[i].pw, e[i].hex);
    }
    for (size_t i = 0; i < N_KNOWN; i++) {
        struct entry *k = &e[N_RANDOM + i];
        snprintf(k->pw, sizeof k->pw, "%s", KNOWN[i].pw);
        snprintf(k->hex, sizeof k->hex, "%s", KNOWN[i].sha1);
    }
    qsort(e, n, sizeof *e, entry_cmp);
    *count = n;
    return e;
}

enum style { CRLF, LF, LOWER_CRLF };

static void write_file(const char *path, const struct entry *e, size_t n, enum style st,
                       const char *trailer)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        char hex[41];
        memcpy(hex, e[i].hex, sizeof hex);
        if (st == LOWER_CRLF)
            for (size_t k = 0; k < 40; k++)
                hex[k] = (char)tolower((unsigned char)hex[k]);
        /* counts of 1 to 9 digits, so line lengths vary */
        unsigned count = 1u + randombytes_uniform(1u << (1 + randombytes_uniform(29)));
        fprintf(f, "%s:%u%s", hex, count, st == LF ? "\n" : "\r\n");
    }
    if (trailer)
        fputs(trailer, f);
    assert_int_equal(fclose(f), 0);
}

static void path_for(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static void assert_lookups(const struct gh_policy *p, const struct entry *e, size_t n)
{
    /* first, middle, last line, then every line */
    assert_true(gh_policy_is_breached(p, e[0].pw, strlen(e[0].pw)));
    assert_true(gh_policy_is_breached(p, e[n / 2].pw, strlen(e[n / 2].pw)));
    assert_true(gh_policy_is_breached(p, e[n - 1].pw, strlen(e[n - 1].pw)));
    for (size_t i = 0; i < n; i++)
        assert_true(gh_policy_is_breached(p, e[i].pw, strlen(e[i].pw)));
    /* non-members land before, between and after the lines */
    for (int i = 0; i < 3000; i++) {
        char pw[48];
        snprintf(pw, sizeof pw, "not-a-member-%d", i);
        assert_false(gh_policy_is_breached(p, pw, strlen(pw)));
    }
    assert_false(gh_policy_is_breached(p, "", 0));
}

static void test_breached_crlf(void **state)
{
    (void)state;
    size_t n;
    struct entry *e = make_entries(&n);
    char path[128];
    path_for(path, sizeof path, "crlf.txt");
    write_file(path, e, n, CRLF, NULL);

    struct gh_policy *p = open_default(path);
    assert_lookups(p, e, n);
    for (size_t i = 0; i < N_KNOWN; i++)
        assert_true(gh_policy_is_breached(p, KNOWN[i].pw, strlen(KNOWN[i].pw)));
    /* the rule, on a password that passes everything else */
    assert_string_equal(check(p, PASSPHRASE), "breached");
    assert_string_equal(check(p, "P@ssw0rd-breached-1"), "breached");
    assert_string_equal(check(p, "correct horse battery staple orbit lanterns"), "ok");
    gh_policy_free(p);
    free(e);
}

static void test_breached_lf_and_lowercase(void **state)
{
    (void)state;
    size_t n;
    struct entry *e = make_entries(&n);
    char path[128];

    path_for(path, sizeof path, "lf.txt");
    write_file(path, e, n, LF, NULL);
    struct gh_policy *p = open_default(path);
    assert_lookups(p, e, n);
    gh_policy_free(p);

    path_for(path, sizeof path, "lower.txt");
    write_file(path, e, n, LOWER_CRLF, NULL);
    p = open_default(path);
    assert_lookups(p, e, n);
    gh_policy_free(p);

    /* no line end after the last line; extra blank lines at the end */
    path_for(path, sizeof path, "noeol.txt");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s:%zu", i ? "\r\n" : "", e[i].hex, i + 1);
    fclose(f);
    p = open_default(path);
    assert_lookups(p, e, n);
    gh_policy_free(p);

    path_for(path, sizeof path, "blank.txt");
    write_file(path, e, n, CRLF, "\r\n\n\r\n");
    p = open_default(path);
    assert_lookups(p, e, n);
    gh_policy_free(p);
    free(e);
}

static void test_breached_small_files(void **state)
{
    (void)state;
    char path[128];
    struct entry one = {.hex = "", .pw = "hunter2hunter2"};
    snprintf(one.hex, sizeof one.hex, "%s", KNOWN[1].sha1);

    path_for(path, sizeof path, "empty.txt");
    write_file(path, NULL, 0, CRLF, NULL);
    struct gh_policy *p = open_default(path);
    assert_false(gh_policy_is_breached(p, "hunter2hunter2", 14));
    assert_false(gh_policy_is_breached(p, "", 0));
    assert_string_equal(check(p, PASSPHRASE), "ok");
    gh_policy_free(p);

    path_for(path, sizeof path, "newlines.txt");
    write_file(path, NULL, 0, CRLF, "\r\n\r\n");
    p = open_default(path);
    assert_false(gh_policy_is_breached(p, "hunter2hunter2", 14));
    gh_policy_free(p);

    path_for(path, sizeof path, "one.txt");
    write_file(path, &one, 1, CRLF, NULL);
    p = open_default(path);
    assert_true(gh_policy_is_breached(p, "hunter2hunter2", 14));
    assert_false(gh_policy_is_breached(p, "hunter2hunter3", 14));
    gh_policy_free(p);

    /* no file configured: nothing is breached */
    p = open_default(NULL);
    assert_false(gh_policy_is_breached(p, "hunter2hunter2", 14));
    gh_policy_free(p);
}

static void test_breached_bad_files(void **state)
{
    (void)state;
    char path[128];
    struct gh_policy_config cfg;
    struct gh_policy *p = NULL;
    gh_policy_config_default(&cfg);
    cfg.breached_path = path;

    path_for(path, sizeof path, "missing.txt");
    assert_int_equal(gh_policy_open(&cfg, &p), GH_ERR_IO);
    assert_null(p);
    snprintf(path, sizeof path, "%s", tmpdir); /* a directory */
    assert_int_equal(gh_policy_open(&cfg, &p), GH_ERR_IO);

    static const char *const BAD[] = {
        "hello world\r\n",
        "5AD05FEF74AE1D9106CCA4820464EFB662FBC234\r\n",               /* no count */
        "5AD05FEF74AE1D9106CCA4820464EFB662FBC23:12\r\n",             /* 39 hex */
        "5AD05FEF74AE1D9106CCA4820464EFB662FBC2345:12\r\n",           /* 41 hex */
        "5AD05FEF74AE1D9106CCA4820464EFB662FBC23G:12\r\n",            /* not hex */
        "5AD05FEF74AE1D9106CCA4820464EFB662FBC234:-1\r\n",            /* not a count */
        "5AD05FEF74AE1D9106CCA4820464EFB662FBC234:1\r\nnonsense\r\n", /* bad last line */
        /* first after last: not sorted */
        "FC8C5EB194806E31A213F073131E73B0012A0FB5:1\r\n5AD05FEF74AE1D9106CCA4820464EFB662FBC234:"
        "2\r\n",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        print_message("bad file %zu\n", i);
        path_for(path, sizeof path, "bad.txt");
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fputs(BAD[i], f);
        fclose(f);
        assert_int_equal(gh_policy_open(&cfg, &p), GH_ERR_INVALID);
        assert_null(p);
    }

    /* a malformed line in the middle is not found (and nothing crashes or reads out of bounds) */
    path_for(path, sizeof path, "middle.txt");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("0000000000000000000000000000000000000000:1\r\n", f);
    for (int i = 0; i < 300; i++)
        fputs("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", f);
    fputs("\r\nFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:1\r\n", f);
    fclose(f);
    assert_int_equal(gh_policy_open(&cfg, &p), GH_OK);
    assert_false(gh_policy_is_breached(p, "hunter2hunter2", 14));
    gh_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_validation),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_accepts_passphrase),
        cmocka_unit_test(test_too_short),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_not_utf8),
        cmocka_unit_test(test_common),
        cmocka_unit_test(test_too_guessable),
        cmocka_unit_test(test_user_context),
        cmocka_unit_test(test_breached_crlf),
        cmocka_unit_test(test_breached_lf_and_lowercase),
        cmocka_unit_test(test_breached_small_files),
        cmocka_unit_test(test_breached_bad_files),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
