/* Owns the password hash formats: argon2id creation (over the NFKC form, marked "nfkc$") and
 * verification of our own and imported hashes. Password copies and intermediate digests live
 * only for one call and are wiped before return.
 * Trust boundary: stored strings (database, operator import) are parsed with bounds and caps. */
#include <crypt.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <nettle/pbkdf2.h>
#include <nettle/sha2.h>
#include <sodium.h>

#include "auth/password.h"
#include "auth/policy.h"
#include "core/enc.h"
#include "core/banned.h"

/* Longest password we hash or verify; a longer one is a client error, not a CPU sink. */
#define PW_MAX 4096u

/* Caps on imported cost parameters: an import file must not turn one login into minutes of
 * CPU or gigabytes of memory. They are well above what Django, PHP or argon2-cffi produce. */
#define ARGON2_M_MAX (1u << 20)      /* KiB: 1 GiB */
#define ARGON2_WORK_MAX (1ull << 23) /* m * t, KiB-passes */
#define ARGON2_P_MAX 255u
#define BCRYPT_COST_MIN 4u
#define BCRYPT_COST_MAX 20u
#define PBKDF2_ITER_MAX 10000000u
#define PBKDF2_SALT_MAX 128u
#define PBKDF2_DK_LEN 32u
#define PBKDF2_B64_LEN 44u /* standard base64 of 32 bytes, one '=' of padding */

/* PHC salt and hash: at least 8 / 16 bytes, at most 64 bytes each (unpadded base64). */
#define PHC_SALT_CHARS_MIN 11u
#define PHC_HASH_CHARS_MIN 22u
#define PHC_FIELD_CHARS_MAX 86u

#define BCRYPT_LEN 60u

/* Our own hashes: argon2id over the NFKC-normalised password, "nfkc$" + the PHC string. */
#define PFX_NFKC "nfkc$"
#define PFX_ARGON2ID "$argon2id$"
#define PFX_ARGON2I "$argon2i$"
#define PFX_DJ_PBKDF2 "pbkdf2_sha256$"
#define PFX_DJ_BCRYPT "bcrypt_sha256$"
#define PFX_DJ_ARGON2 "argon2$" /* followed by the PHC string without its leading '$' */

enum fmt {
    FMT_UNKNOWN = 0,
    FMT_ARGON2ID,
    FMT_ARGON2I,
    FMT_BCRYPT,
    FMT_DJANGO_PBKDF2,
    FMT_DJANGO_BCRYPT_SHA256,
    FMT_DJANGO_ARGON2,
};

struct parsed {
    enum fmt fmt;
    bool nfkc; /* the hash is over the NFKC form of the password (FMT_ARGON2ID only) */
    /* argon2 formats: the PHC string within stored and its parameters */
    const char *phc;
    bool phc_is_id;
    uint32_t m, t, p;
    /* bcrypt formats: the 60-character crypt(3) string within stored */
    const char *bcrypt;
    /* Django pbkdf2_sha256 */
    uint32_t iterations;
    const char *salt;
    size_t salt_len;
    unsigned char dk[PBKDF2_DK_LEN];
};

#define HAS_PREFIX(s, len, lit)                                                                    \
    ((len) >= sizeof(lit) - 1 && memcmp((s), (lit), sizeof(lit) - 1) == 0)

static bool is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

static bool is_bcrypt_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
}

/* Strict decimal: digits only, no sign, no leading zero, within [min, max]. Advances *s. */
static bool parse_u32(const char **s, const char *end, uint32_t min, uint32_t max, uint32_t *out)
{
    const char *q = *s;
    uint64_t v = 0;
    if (q >= end || *q < '0' || *q > '9' ||
        (*q == '0' && q + 1 < end && q[1] >= '0' && q[1] <= '9'))
        return false;
    while (q < end && *q >= '0' && *q <= '9') {
        v = v * 10 + (uint64_t)(*q - '0');
        if (v > max)
            return false;
        q++;
    }
    if (v < min)
        return false;
    *s = q;
    *out = (uint32_t)v;
    return true;
}

static bool expect(const char **s, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *s) < n || memcmp(*s, lit, n) != 0)
        return false;
    *s += n;
    return true;
}

/* An unpadded PHC base64 field of [min, max] characters ending at '$' or end. */
static bool phc_field(const char **s, const char *end, size_t min, size_t max)
{
    const char *q = *s;
    while (q < end && *q != '$') {
        if (!is_b64_char(*q))
            return false;
        q++;
    }
    size_t n = (size_t)(q - *s);
    if (n < min || n > max || n % 4 == 1)
        return false;
    *s = q;
    return true;
}

/* "$argon2id$v=19$m=M,t=T,p=P$salt$hash" (or $argon2i$). Only v=19 (all libsodium knows). */
static bool parse_phc(const char *s, size_t len, struct parsed *out)
{
    const char *end = s + len;
    const char *q = s;
    if (expect(&q, end, PFX_ARGON2ID))
        out->phc_is_id = true;
    else if (expect(&q, end, PFX_ARGON2I))
        out->phc_is_id = false;
    else
        return false;
    if (!expect(&q, end, "v=19$m=") || !parse_u32(&q, end, 8, ARGON2_M_MAX, &out->m) ||
        !expect(&q, end, ",t=") || !parse_u32(&q, end, 1, UINT32_MAX, &out->t) ||
        !expect(&q, end, ",p=") || !parse_u32(&q, end, 1, ARGON2_P_MAX, &out->p) ||
        !expect(&q, end, "$") || !phc_field(&q, end, PHC_SALT_CHARS_MIN, PHC_FIELD_CHARS_MAX) ||
        !expect(&q, end, "$") || !phc_field(&q, end, PHC_HASH_CHARS_MIN, PHC_FIELD_CHARS_MAX) ||
        q != end)
        return false;
    if ((uint64_t)out->m < 8u * (uint64_t)out->p) /* argon2 needs 8 blocks per lane */
        return false;
    if ((uint64_t)out->m * out->t > ARGON2_WORK_MAX)
        return false;
    out->phc = s;
    return true;
}

/* "$2a$" / "$2b$" / "$2y$", two-digit cost, '$', 22 salt + 31 hash characters. */
static bool parse_bcrypt(const char *s, size_t len, struct parsed *out)
{
    if (len != BCRYPT_LEN || s[0] != '$' || s[1] != '2' ||
        (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') || s[3] != '$' || s[6] != '$')
        return false;
    if (s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9')
        return false;
    unsigned cost = (unsigned)(s[4] - '0') * 10u + (unsigned)(s[5] - '0');
    if (cost < BCRYPT_COST_MIN || cost > BCRYPT_COST_MAX)
        return false;
    for (size_t i = 7; i < len; i++)
        if (!is_bcrypt_char(s[i]))
            return false;
    out->bcrypt = s;
    return true;
}

/* "pbkdf2_sha256$<iterations>$<salt>$<base64 of 32 bytes>" */
static bool parse_django_pbkdf2(const char *s, size_t len, struct parsed *out)
{
    const char *end = s + len;
    const char *q = s;
    if (!expect(&q, end, PFX_DJ_PBKDF2) ||
        !parse_u32(&q, end, 1, PBKDF2_ITER_MAX, &out->iterations) || !expect(&q, end, "$"))
        return false;
    const char *salt = q;
    while (q < end && *q != '$') {
        if (*q < 0x21 || *q > 0x7e) /* Django salts are printable ASCII */
            return false;
        q++;
    }
    size_t salt_len = (size_t)(q - salt);
    if (salt_len == 0 || salt_len > PBKDF2_SALT_MAX || !expect(&q, end, "$"))
        return false;
    size_t b64_len = (size_t)(end - q);
    size_t dk_len = 0;
    if (b64_len != PBKDF2_B64_LEN ||
        gh_b64_decode(q, b64_len, out->dk, sizeof out->dk, &dk_len) != GH_OK ||
        dk_len != PBKDF2_DK_LEN)
        return false;
    out->salt = salt;
    out->salt_len = salt_len;
    return true;
}

/* Structural parse of stored: no hashing. On FMT_UNKNOWN nothing in out is meaningful. */
static enum fmt parse_stored(const char *stored, struct parsed *out)
{
    memset(out, 0, sizeof *out);
    if (!stored)
        return FMT_UNKNOWN;
    size_t len = strnlen(stored, GH_PASSWORD_HASH_MAX + 1);
    if (len > GH_PASSWORD_HASH_MAX)
        return FMT_UNKNOWN;

    enum fmt f = FMT_UNKNOWN;
    if (HAS_PREFIX(stored, len, PFX_NFKC PFX_ARGON2ID)) {
        size_t n = sizeof(PFX_NFKC) - 1;
        if (parse_phc(stored + n, len - n, out) && out->phc_is_id) {
            f = FMT_ARGON2ID;
            out->nfkc = true;
        }
    } else if (HAS_PREFIX(stored, len, "$argon2")) {
        if (parse_phc(stored, len, out))
            f = out->phc_is_id ? FMT_ARGON2ID : FMT_ARGON2I;
    } else if (HAS_PREFIX(stored, len, "$2")) {
        if (parse_bcrypt(stored, len, out))
            f = FMT_BCRYPT;
    } else if (HAS_PREFIX(stored, len, PFX_DJ_PBKDF2)) {
        if (parse_django_pbkdf2(stored, len, out))
            f = FMT_DJANGO_PBKDF2;
    } else if (HAS_PREFIX(stored, len, PFX_DJ_BCRYPT)) {
        size_t n = sizeof(PFX_DJ_BCRYPT) - 1;
        if (parse_bcrypt(stored + n, len - n, out))
            f = FMT_DJANGO_BCRYPT_SHA256;
    } else if (HAS_PREFIX(stored, len, PFX_DJ_ARGON2 "argon2")) {
        /* Django keeps the PHC string's leading '$' as its own separator. */
        size_t n = sizeof(PFX_DJ_ARGON2) - 2;
        if (parse_phc(stored + n, len - n, out))
            f = FMT_DJANGO_ARGON2;
    }
    if (f == FMT_UNKNOWN)
        sodium_memzero(out, sizeof *out);
    out->fmt = f;
    return f;
}

static gh_err check_password(const char *pw, size_t pw_len)
{
    if (!pw && pw_len != 0)
        return GH_ERR_INVALID;
    if (pw_len > PW_MAX)
        return GH_ERR_TOO_LARGE;
    /* A NUL would silently cut the password short in crypt(3) and in other systems. */
    if (pw_len != 0 && memchr(pw, '\0', pw_len) != NULL)
        return GH_ERR_INVALID;
    return GH_OK;
}

static bool sodium_ready(void)
{
    return sodium_init() >= 0;
}

void gh_password_params_default(struct gh_password_params *out)
{
    out->opslimit = GH_PASSWORD_MIN_OPSLIMIT;
    out->memlimit = GH_PASSWORD_MIN_MEMLIMIT;
}

/* The params within libsodium's argon2id limits, and libsodium ready. */
static gh_err params_usable(const struct gh_password_params *p)
{
    if (p->opslimit < crypto_pwhash_argon2id_opslimit_min() ||
        p->opslimit > crypto_pwhash_argon2id_opslimit_max() ||
        p->memlimit < crypto_pwhash_argon2id_memlimit_min() ||
        p->memlimit > crypto_pwhash_argon2id_memlimit_max())
        return GH_ERR_INVALID;
    return sodium_ready() ? GH_OK : GH_ERR_INTERNAL;
}

gh_err gh_password_dummy_hash(const struct gh_password_params *p, char *out, size_t out_size)
{
    /* libsodium's own lengths: a 16-byte salt and a 32-byte hash, unpadded standard base64. */
    unsigned char salt[crypto_pwhash_argon2id_SALTBYTES], hash[32];
    char salt64[sodium_base64_ENCODED_LEN(sizeof salt, sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
    char hash64[sodium_base64_ENCODED_LEN(sizeof hash, sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];

    if (!p || !out || out_size == 0)
        return GH_ERR_INVALID;
    out[0] = '\0';
    gh_err rc = params_usable(p);
    if (rc != GH_OK)
        return rc;
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(hash, sizeof hash);
    sodium_bin2base64(salt64, sizeof salt64, salt, sizeof salt,
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    sodium_bin2base64(hash64, sizeof hash64, hash, sizeof hash,
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    int n = snprintf(out, out_size, PFX_NFKC PFX_ARGON2ID "v=19$m=%zu,t=%llu,p=1$%s$%s",
                     p->memlimit / 1024u, p->opslimit, salt64, hash64);
    if (n < 0 || (size_t)n >= out_size) {
        out[0] = '\0';
        return GH_ERR_INTERNAL; /* the caller's buffer is too small: a bug */
    }
    return GH_OK;
}

gh_err gh_password_hash(const struct gh_password_params *p, const char *pw, size_t pw_len,
                        char *out, size_t out_size)
{
    char tmp[crypto_pwhash_STRBYTES];
    char *npw = NULL;
    size_t npw_len = 0;
    gh_err rc = GH_OK;

    if (!p || !out || out_size == 0)
        return GH_ERR_INVALID;
    out[0] = '\0';
    rc = check_password(pw, pw_len);
    if (rc != GH_OK)
        return rc;
    rc = params_usable(p);
    if (rc != GH_OK)
        return rc;
    /* The same password typed on another keyboard or OS (composed é, full-width digits, the ﬁ
     * ligature) must give the same bytes; invalid UTF-8 is refused (GH_ERR_INVALID). */
    rc = gh_policy_normalize(pw, pw_len, &npw, &npw_len);
    if (rc != GH_OK)
        return rc;

    errno = 0;
    if (crypto_pwhash_str_alg(tmp, npw, npw_len, p->opslimit, p->memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        rc = errno == ENOMEM ? GH_ERR_NOMEM : GH_ERR_INTERNAL;
        goto out;
    }
    size_t len = strnlen(tmp, sizeof tmp);
    size_t pfx = sizeof(PFX_NFKC) - 1;
    if (pfx + len >= out_size) {
        rc = GH_ERR_INTERNAL; /* the caller's buffer is too small: a bug, not a client error */
        goto out;
    }
    memcpy(out, PFX_NFKC, pfx);
    memcpy(out + pfx, tmp, len + 1);
out:
    sodium_memzero(tmp, sizeof tmp);
    if (npw) {
        sodium_memzero(npw, npw_len);
        sodium_free(npw);
    }
    return rc;
}

static gh_err verify_argon2(const struct parsed *ps, const char *pw, size_t pw_len)
{
    int r;
    errno = 0;
    if (ps->phc_is_id)
        r = crypto_pwhash_argon2id_str_verify(ps->phc, pw, pw_len);
    else
        r = crypto_pwhash_argon2i_str_verify(ps->phc, pw, pw_len);
    if (r == 0)
        return GH_OK;
    /* libsodium sets EINVAL only for a mismatch; a decoding failure leaves errno alone. */
    if (errno == EINVAL)
        return GH_ERR_AUTH;
    if (errno == ENOMEM)
        return GH_ERR_NOMEM;
    return GH_ERR_INVALID;
}

/* crypt_data is 32 KiB and holds key schedule state: one guarded, wiped allocation. */
struct bcrypt_scratch {
    struct crypt_data cd;
    char pw[];
};

/* pw is a NUL-free byte string; bcrypt itself reads at most its first 72 bytes. */
static gh_err verify_bcrypt(const char *crypt_str, const char *pw, size_t pw_len)
{
    gh_err rc = GH_ERR_AUTH;
    size_t size = sizeof(struct bcrypt_scratch) + pw_len + 1;
    struct bcrypt_scratch *sc = sodium_malloc(size);
    if (!sc)
        return GH_ERR_NOMEM;
    memset(sc, 0, size);
    if (pw_len)
        memcpy(sc->pw, pw, pw_len);
    sc->pw[pw_len] = '\0';

    const char *res = crypt_r(sc->pw, crypt_str, &sc->cd);
    if (!res || res[0] == '*') { /* libxcrypt's failure token: it rejected the setting */
        rc = GH_ERR_INVALID;
        goto out;
    }
    if (strnlen(res, sizeof sc->cd.output) == BCRYPT_LEN &&
        sodium_memcmp(res, crypt_str, BCRYPT_LEN) == 0)
        rc = GH_OK;
out:
    sodium_memzero(sc, size);
    sodium_free(sc);
    return rc;
}

/* Django BCryptSHA256PasswordHasher: bcrypt over the lowercase hex SHA-256 of the password. */
static gh_err verify_django_bcrypt_sha256(const char *crypt_str, const char *pw, size_t pw_len)
{
    struct sha256_ctx ctx;
    unsigned char digest[SHA256_DIGEST_SIZE];
    char hex[2 * SHA256_DIGEST_SIZE + 1];

    sha256_init(&ctx);
    sha256_update(&ctx, pw_len, (const uint8_t *)pw);
    sha256_digest(&ctx, sizeof digest, digest);
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    gh_err rc = verify_bcrypt(crypt_str, hex, sizeof hex - 1);

    sodium_memzero(&ctx, sizeof ctx);
    sodium_memzero(digest, sizeof digest);
    sodium_memzero(hex, sizeof hex);
    return rc;
}

static gh_err verify_django_pbkdf2(const struct parsed *ps, const char *pw, size_t pw_len)
{
    unsigned char dk[PBKDF2_DK_LEN];
    pbkdf2_hmac_sha256(pw_len, (const uint8_t *)pw, ps->iterations, ps->salt_len,
                       (const uint8_t *)ps->salt, sizeof dk, dk);
    gh_err rc = sodium_memcmp(dk, ps->dk, sizeof dk) == 0 ? GH_OK : GH_ERR_AUTH;
    sodium_memzero(dk, sizeof dk);
    return rc;
}

/* A marked hash is over the NFKC form. A candidate that is not UTF-8 cannot be that form: it
 * still costs one full verification (same time as a wrong password) and fails as one. */
static gh_err verify_nfkc_argon2(const struct parsed *ps, const char *pw, size_t pw_len)
{
    char *npw = NULL;
    size_t npw_len = 0;
    gh_err rc = gh_policy_normalize(pw, pw_len, &npw, &npw_len);
    if (rc == GH_ERR_INVALID) {
        (void)verify_argon2(ps, pw, pw_len);
        return GH_ERR_AUTH;
    }
    if (rc != GH_OK)
        return rc;
    rc = verify_argon2(ps, npw, npw_len);
    sodium_memzero(npw, npw_len);
    sodium_free(npw);
    return rc;
}

gh_err gh_password_verify(const char *stored, const char *pw, size_t pw_len)
{
    struct parsed ps;
    gh_err rc = GH_ERR_INVALID;

    if (parse_stored(stored, &ps) == FMT_UNKNOWN)
        goto out;
    rc = check_password(pw, pw_len);
    if (rc != GH_OK)
        goto out;
    if (!pw)
        pw = "";
    if (!sodium_ready()) {
        rc = GH_ERR_INTERNAL;
        goto out;
    }

    switch (ps.fmt) {
    case FMT_ARGON2ID:
        rc = ps.nfkc ? verify_nfkc_argon2(&ps, pw, pw_len) : verify_argon2(&ps, pw, pw_len);
        break;
    case FMT_ARGON2I:
    case FMT_DJANGO_ARGON2:
        rc = verify_argon2(&ps, pw, pw_len);
        break;
    case FMT_BCRYPT:
        rc = verify_bcrypt(ps.bcrypt, pw, pw_len);
        break;
    case FMT_DJANGO_BCRYPT_SHA256:
        rc = verify_django_bcrypt_sha256(ps.bcrypt, pw, pw_len);
        break;
    case FMT_DJANGO_PBKDF2:
        rc = verify_django_pbkdf2(&ps, pw, pw_len);
        break;
    case FMT_UNKNOWN:
    default:
        rc = GH_ERR_INVALID;
        break;
    }
out:
    sodium_memzero(&ps, sizeof ps);
    return rc;
}

bool gh_password_needs_rehash(const struct gh_password_params *p, const char *stored)
{
    struct gh_password_params def;
    struct parsed ps;
    bool rehash = true;

    if (!p) {
        gh_password_params_default(&def);
        p = &def;
    }
    /* Only our own shape counts as current: NFKC-marked argon2id, v=19, one lane (what
     * gh_password_hash makes). An unmarked hash is over raw bytes: redo it at the next login. */
    if (parse_stored(stored, &ps) != FMT_ARGON2ID || !ps.nfkc || ps.p != 1 || !sodium_ready())
        goto out;
    int r = crypto_pwhash_str_needs_rehash(ps.phc, p->opslimit, p->memlimit);
    if (r == 0)
        rehash = false;
    else if (r > 0)
        /* libsodium wants an exact match; a hash stronger than p is kept as it is. */
        rehash = (unsigned long long)ps.t < p->opslimit || (size_t)ps.m < p->memlimit / 1024u;
out:
    sodium_memzero(&ps, sizeof ps);
    return rehash;
}

bool gh_password_format_is_supported(const char *stored)
{
    struct parsed ps;
    bool ok = parse_stored(stored, &ps) != FMT_UNKNOWN;
    sodium_memzero(&ps, sizeof ps);
    return ok;
}

const char *gh_password_algorithm(const char *stored)
{
    struct parsed ps;
    enum fmt f = parse_stored(stored, &ps);
    bool nfkc = ps.nfkc;
    sodium_memzero(&ps, sizeof ps);
    switch (f) {
    case FMT_ARGON2ID:
        return nfkc ? "argon2id-nfkc" : "argon2id";
    case FMT_ARGON2I:
        return "argon2i";
    case FMT_BCRYPT:
        return "bcrypt";
    case FMT_DJANGO_PBKDF2:
        return "django-pbkdf2-sha256";
    case FMT_DJANGO_BCRYPT_SHA256:
        return "django-bcrypt-sha256";
    case FMT_DJANGO_ARGON2:
        return "django-argon2";
    case FMT_UNKNOWN:
    default:
        return "unknown";
    }
}
