/* Owns the new-password policy: NFKC normalisation, length, common list, breached file, zxcvbn.
 * A gh_policy lives from start-up to shutdown and is read-only after open (thread-safe); password
 * copies live in sodium_malloc memory for one call. Trust boundary: passwords and context come
 * from clients, the breached file from the operator; both are read with bounds. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha1.h>
#include <sodium.h>
#include <uninorm.h>
#include <unistr.h>
#include <zxcvbn.h>

#include "auth/policy.h"
#include "core/mem.h"
#include "core/banned.h"

/* data/common-passwords.txt, compiled in by cmake/embed_common_passwords.cmake. */
extern const unsigned char gh_common_passwords[];
extern const size_t gh_common_passwords_len;

#define HEX_LEN 40u /* SHA-1 in hex */
/* "SHA1HEX:COUNT\r\n": a count has at most 20 digits; a line longer than this is malformed. */
#define LINE_MAX_LEN 128u
#define COUNT_DIGITS_MAX 20u
/* NFKC grows UTF-8 text at most 11-fold (UAX #15, "Stream-Safe Text" / expansion table). */
#define NFKC_GROWTH 11u
/* Context strings for zxcvbn: caps on what a client-supplied name or email can cost us. */
#define CONTEXT_STRINGS_MAX 8u
#define CONTEXT_STRING_MAX 320u
#define CONTEXT_TOKEN_MIN 3u
#define USER_DICT_MAX 64u

struct common_entry {
    const unsigned char *s;
    size_t n;
};

struct gh_policy {
    size_t min_chars;
    size_t max_chars;
    double min_entropy_bits;
    /* built-in list: entries point into gh_common_passwords, sorted ASCII-case-insensitively */
    struct common_entry *common;
    size_t common_count;
    size_t common_longest;
    /* breached file: map_len bytes mapped, the first len of them hold the lines */
    const unsigned char *map;
    size_t map_len;
    size_t len;
};

/* The rule ids are stable (clients may key translations on them); messages are fixed text that
 * says what to change and never includes the password. */
enum rule {
    RULE_NONE,
    RULE_TOO_SHORT,
    RULE_TOO_LONG,
    RULE_NOT_UTF8,
    RULE_COMMON,
    RULE_BREACHED,
    RULE_TOO_GUESSABLE
};

static const struct {
    const char *id;
    const char *message;
} RULES[] = {
    [RULE_NONE] = {NULL, NULL},
    [RULE_TOO_SHORT] = {"too_short",
                        "is too short: use more characters (a few unrelated words make a long "
                        "password that is easy to remember)"},
    [RULE_TOO_LONG] = {"too_long", "is too long: use fewer characters"},
    [RULE_NOT_UTF8] = {"not_utf8", "is not valid UTF-8 text or contains a NUL character: type it "
                                   "again as plain text"},
    [RULE_COMMON] = {"common", "is one of the most commonly used passwords, so it is guessed "
                               "first: choose another"},
    [RULE_BREACHED] = {"breached", "appears in a list of passwords exposed in data breaches: "
                                   "choose another (and change it anywhere else you use it)"},
    [RULE_TOO_GUESSABLE] = {"too_guessable",
                            "is too easy to guess: add more words or characters that are "
                            "unrelated to your name and email, and avoid keyboard patterns, "
                            "repeats, sequences and dates"},
};

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Byte-wise comparison with ASCII letters folded to lowercase; shorter sorts first on a tie. */
static int fold_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = fold(a[i]), y = fold(b[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static int common_cmp(const void *a, const void *b)
{
    const struct common_entry *x = a, *y = b;
    return fold_cmp(x->s, x->n, y->s, y->n);
}

/* One password a line, LF or CRLF; lines starting with '#' and empty lines are skipped. */
static gh_err common_index(struct gh_policy *p)
{
    const unsigned char *d = gh_common_passwords;
    size_t total = gh_common_passwords_len, count = 0;
    for (size_t i = 0; i < total; i++)
        count += d[i] == '\n';
    p->common = gh_calloc(count + 1, sizeof *p->common);
    if (!p->common)
        return GH_ERR_NOMEM;
    size_t at = 0;
    while (at < total) {
        const unsigned char *nl = memchr(d + at, '\n', total - at);
        size_t end = nl ? (size_t)(nl - d) : total;
        size_t n = end - at;
        if (n > 0 && d[at + n - 1] == '\r')
            n--;
        if (n > 0 && d[at] != '#' && p->common_count <= count) {
            p->common[p->common_count++] = (struct common_entry){d + at, n};
            if (n > p->common_longest)
                p->common_longest = n;
        }
        at = end + 1;
    }
    qsort(p->common, p->common_count, sizeof *p->common, common_cmp);
    return GH_OK;
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* "40 hex digits:decimal count", with an optional trailing '\r' (the line excludes the '\n'). */
static bool line_is_valid(const unsigned char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (n < HEX_LEN + 2 || n > HEX_LEN + 1 + COUNT_DIGITS_MAX || s[HEX_LEN] != ':')
        return false;
    for (size_t i = 0; i < HEX_LEN; i++)
        if (!is_hex(s[i]))
            return false;
    for (size_t i = HEX_LEN + 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* The line [*start, *end) around offset at (lo <= at < hi, lo at a line start). false when the
 * line is longer than any well-formed line can be. */
static bool line_around(const unsigned char *d, size_t lo, size_t hi, size_t at, size_t *start,
                        size_t *end)
{
    size_t s = at;
    while (s > lo && d[s - 1] != '\n') {
        if (at - s >= LINE_MAX_LEN)
            return false;
        s--;
    }
    size_t limit = hi - s < LINE_MAX_LEN ? hi - s : LINE_MAX_LEN;
    const unsigned char *nl = memchr(d + s, '\n', limit);
    if (!nl && limit == LINE_MAX_LEN)
        return false;
    *start = s;
    *end = nl ? (size_t)(nl - d) : hi;
    return true;
}

static gh_err breached_open(struct gh_policy *p, const char *path)
{
    gh_err rc = GH_OK;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return GH_ERR_IO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    if (st.st_size == 0)
        goto out; /* an empty list: nothing is breached */
    if ((uint64_t)st.st_size > SIZE_MAX) {
        rc = GH_ERR_IO;
        goto out;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        rc = GH_ERR_IO;
        goto out;
    }
    p->map = m;
    p->map_len = (size_t)st.st_size;
    (void)madvise(m, p->map_len, MADV_RANDOM);

    /* Trailing line ends are not a line; the last line then has no '\n'. */
    size_t len = p->map_len;
    while (len > 0 && (p->map[len - 1] == '\n' || p->map[len - 1] == '\r'))
        len--;
    p->len = len;
    if (len == 0)
        goto out;
    size_t fs, fe, ls, le;
    if (!line_around(p->map, 0, len, 0, &fs, &fe) || !line_is_valid(p->map + fs, fe - fs) ||
        !line_around(p->map, 0, len, len - 1, &ls, &le) || !line_is_valid(p->map + ls, le - ls) ||
        fold_cmp(p->map + fs, HEX_LEN, p->map + ls, HEX_LEN) > 0) {
        rc = GH_ERR_INVALID;
        goto out;
    }
out:
    close(fd);
    return rc;
}

void gh_policy_config_default(struct gh_policy_config *out)
{
    out->min_chars = GH_POLICY_MIN_CHARS_DEFAULT;
    out->max_chars = GH_POLICY_MAX_CHARS_DEFAULT;
    out->min_entropy_bits = GH_POLICY_MIN_ENTROPY_DEFAULT;
    out->breached_path = NULL;
}

gh_err gh_policy_open(const struct gh_policy_config *cfg, struct gh_policy **out)
{
    gh_err rc = GH_OK;
    struct gh_policy *p = NULL;

    if (!out)
        return GH_ERR_INVALID;
    *out = NULL;
    if (!cfg || cfg->min_chars < GH_POLICY_MIN_CHARS_FLOOR || cfg->min_chars > cfg->max_chars ||
        cfg->max_chars < GH_POLICY_MAX_CHARS_FLOOR || cfg->max_chars > GH_POLICY_MAX_BYTES ||
        !(cfg->min_entropy_bits >= 0.0 && cfg->min_entropy_bits <= 256.0))
        return GH_ERR_CONFIG;
    p = gh_calloc(1, sizeof *p);
    if (!p)
        return GH_ERR_NOMEM;
    p->min_chars = cfg->min_chars;
    p->max_chars = cfg->max_chars;
    p->min_entropy_bits = cfg->min_entropy_bits;
    if ((rc = common_index(p)) != GH_OK)
        goto out;
    if (cfg->breached_path && (rc = breached_open(p, cfg->breached_path)) != GH_OK)
        goto out;
    *out = p;
    p = NULL;
out:
    gh_policy_free(p);
    return rc;
}

void gh_policy_free(struct gh_policy *p)
{
    if (!p)
        return;
    if (p->map)
        munmap((void *)p->map, p->map_len);
    gh_free(p->common);
    gh_free(p);
}

gh_err gh_policy_normalize(const char *pw, size_t len, char **out, size_t *out_len)
{
    gh_err rc = GH_OK;
    uint8_t *buf = NULL;
    uint8_t *res = NULL;
    size_t size = 0;

    if (!out || !out_len)
        return GH_ERR_INVALID;
    *out = NULL;
    *out_len = 0;
    if (!pw && len != 0)
        return GH_ERR_INVALID;
    if (len > GH_POLICY_INPUT_MAX)
        return GH_ERR_TOO_LARGE;
    if (!pw)
        pw = "";
    /* u8_normalize would quietly turn invalid sequences into U+FFFD: refuse them first. */
    if ((len != 0 && memchr(pw, '\0', len) != NULL) || u8_check((const uint8_t *)pw, len) != NULL)
        return GH_ERR_INVALID;
    if (sodium_init() < 0)
        return GH_ERR_INTERNAL;

    /* Big enough that libunistring never falls back to its own (unwiped) malloc. */
    size = len * NFKC_GROWTH + 1;
    buf = sodium_malloc(size);
    if (!buf)
        return GH_ERR_NOMEM;
    size_t n = size - 1;
    res = u8_normalize(UNINORM_NFKC, (const uint8_t *)pw, len, buf, &n);
    if (!res) {
        rc = errno == ENOMEM ? GH_ERR_NOMEM : GH_ERR_INVALID;
        goto out;
    }
    if (res != buf) {
        /* It did allocate after all: move the result into guarded memory, wipe the copy. */
        if (n + 1 > size) {
            sodium_memzero(buf, size);
            sodium_free(buf);
            size = n + 1;
            buf = sodium_malloc(size);
            if (!buf) {
                rc = GH_ERR_NOMEM;
                goto out;
            }
        }
        memcpy(buf, res, n);
    }
    buf[n] = '\0';
    *out = (char *)buf;
    *out_len = n;
    buf = NULL;
out:
    if (res && res != (uint8_t *)*out && res != buf) {
        sodium_memzero(res, n);
        free(res); /* libunistring's allocation */
    }
    if (buf) {
        sodium_memzero(buf, size);
        sodium_free(buf);
    }
    return rc;
}

bool gh_policy_is_common(const struct gh_policy *p, const char *pw, size_t len)
{
    if (!p || !pw || len == 0 || len > p->common_longest)
        return false;
    struct common_entry key = {(const unsigned char *)pw, len};
    return bsearch(&key, p->common, p->common_count, sizeof *p->common, common_cmp) != NULL;
}

bool gh_policy_is_breached(const struct gh_policy *p, const char *pw, size_t len)
{
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];
    char hex[2 * SHA1_DIGEST_SIZE + 1];
    bool found = false;

    if (!p || p->len == 0 || (!pw && len != 0))
        return false;
    sha1_init(&ctx);
    sha1_update(&ctx, len, (const uint8_t *)(pw ? pw : ""));
    sha1_digest(&ctx, sizeof digest, digest);
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);

    /* Binary search over byte offsets: lo and hi are always line starts (or the end). */
    const unsigned char *d = p->map;
    size_t lo = 0, hi = p->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, s, e;
        if (!line_around(d, lo, hi, mid, &s, &e) || e - s < HEX_LEN + 1 || d[s + HEX_LEN] != ':')
            break; /* malformed: say "not found" rather than guess */
        int c = fold_cmp(d + s, HEX_LEN, (const unsigned char *)hex, HEX_LEN);
        if (c == 0) {
            found = true;
            break;
        }
        if (c < 0)
            lo = e + 1;
        else
            hi = s;
    }
    sodium_memzero(&ctx, sizeof ctx);
    sodium_memzero(digest, sizeof digest);
    sodium_memzero(hex, sizeof hex);
    return found;
}

static bool is_separator(unsigned char c)
{
    return c < 0x80 &&
           !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

/* zxcvbn's user dictionary: each context string, an email's local part, and every run of
 * letters/digits (non-ASCII counts as a letter) of at least CONTEXT_TOKEN_MIN bytes. All copies
 * live in one gh_malloc arena; dict gets at most USER_DICT_MAX entries plus the NULL. */
static gh_err user_dict_build(const char *const *context, char **arena_out, const char **dict)
{
    size_t total = 0, nd = 0, nctx = 0;
    dict[0] = NULL;
    *arena_out = NULL;
    if (!context)
        return GH_OK;
    for (; nctx < CONTEXT_STRINGS_MAX && context[nctx]; nctx++)
        total += 3 * (strnlen(context[nctx], CONTEXT_STRING_MAX) + 1);
    if (total == 0)
        return GH_OK;
    char *arena = gh_malloc(total);
    if (!arena)
        return GH_ERR_NOMEM;
    char *w = arena;
    for (size_t i = 0; i < nctx; i++) {
        const char *s = context[i];
        size_t n = strnlen(s, CONTEXT_STRING_MAX);
        if (n == 0)
            continue;
        if (nd < USER_DICT_MAX) {
            memcpy(w, s, n);
            w[n] = '\0';
            dict[nd++] = w;
            w += n + 1;
        }
        const char *at = memchr(s, '@', n);
        if (at && at > s && nd < USER_DICT_MAX) {
            size_t ln = (size_t)(at - s);
            memcpy(w, s, ln);
            w[ln] = '\0';
            dict[nd++] = w;
            w += ln + 1;
        }
        size_t k = 0;
        while (k < n) {
            while (k < n && is_separator((unsigned char)s[k]))
                k++;
            size_t b = k;
            while (k < n && !is_separator((unsigned char)s[k]))
                k++;
            if (k - b >= CONTEXT_TOKEN_MIN && k - b < n && nd < USER_DICT_MAX) {
                memcpy(w, s + b, k - b);
                w[k - b] = '\0';
                dict[nd++] = w;
                w += k - b + 1;
            }
        }
    }
    dict[nd] = NULL;
    *arena_out = arena;
    return GH_OK;
}

gh_err gh_policy_check(const struct gh_policy *p, const char *pw, size_t len,
                       const char *const *context, const char **out_rule, const char **out_message)
{
    gh_err rc = GH_OK;
    enum rule broken = RULE_NONE;
    char *npw = NULL;
    size_t nlen = 0;
    char *arena = NULL;
    const char *dict[USER_DICT_MAX + 1];

    if (out_rule)
        *out_rule = NULL;
    if (out_message)
        *out_message = NULL;
    if (!p || !out_rule || !out_message)
        return GH_ERR_INVALID;

    rc = gh_policy_normalize(pw, len, &npw, &nlen);
    if (rc == GH_ERR_TOO_LARGE || rc == GH_ERR_INVALID) {
        broken = rc == GH_ERR_TOO_LARGE ? RULE_TOO_LONG : RULE_NOT_UTF8;
        goto out;
    }
    if (rc != GH_OK)
        goto out;

    /* Cheapest first; zxcvbn last. */
    size_t chars = u8_mbsnlen((const uint8_t *)npw, nlen);
    if (chars < p->min_chars)
        broken = RULE_TOO_SHORT;
    else if (chars > p->max_chars || nlen > GH_POLICY_MAX_BYTES)
        broken = RULE_TOO_LONG;
    else if (gh_policy_is_common(p, npw, nlen))
        broken = RULE_COMMON;
    else if (gh_policy_is_breached(p, npw, nlen))
        broken = RULE_BREACHED;
    if (broken != RULE_NONE)
        goto out;

    if ((rc = user_dict_build(context, &arena, dict)) != GH_OK)
        goto out;
    /* zxcvbn-c allocates its match lists with malloc; they hold offsets and scores, not text. */
    double bits = ZxcvbnMatch(npw, dict, NULL);
    if (!(bits >= p->min_entropy_bits))
        broken = RULE_TOO_GUESSABLE;
out:
    if (broken != RULE_NONE) {
        rc = GH_ERR_INVALID;
        *out_rule = RULES[broken].id;
        *out_message = RULES[broken].message;
    }
    if (npw) {
        sodium_memzero(npw, nlen);
        sodium_free(npw);
    }
    gh_free(arena);
    return rc;
}
