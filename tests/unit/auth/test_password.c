/* Unit tests for auth/password through its public header. Imported-format vectors were made
 * with the Debian argon2 CLI (argon2 20190702) and python3 hashlib/base64/crypt (libxcrypt),
 * independently of the code under test. Unmarked argon2id hashes (from before NFKC) are made
 * here with libsodium directly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/password.h"
#include "core/banned.h"

/* Low cost for tests that are not about the defaults. */
static const struct gh_password_params LOW = {.opslimit = 1, .memlimit = 8192};

#define PW_UTF8 "p\xc3\xa4ssw\xc3\xb6rd" /* "pässwörd" */

struct vector {
    const char *stored;
    const char *pw;
    const char *algorithm;
};

/* echo -n pw | argon2 somesalt1234 -id -t 2 -m 10 -p 4 -e */
#define A2ID_P4                                                                                    \
    "$argon2id$v=19$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0"
/* echo -n 'correct horse' | argon2 saltsaltsalt -id -t 3 -m 16 -p 4 -e */
#define A2ID_P4_64M                                                                                \
    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$uYQQtFzU847rVOhVuuSJYayEiaN9phiSarX38vUXOcY"
/* echo -n pw | argon2 somesalt1234 -id -t 2 -m 10 -p 1 -e */
#define A2ID_P1                                                                                    \
    "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQxMjM0$/RkG2wFPjLG6yJqkzEZU9n2hwNJjXehjas1/zuZvNwY"

/* Each vector stays on one line, as the tools printed it. */
/* clang-format off */
static const struct vector VECTORS[] = {
    {A2ID_P4, "pw", "argon2id"},
    {A2ID_P4_64M, "correct horse", "argon2id"},
    {A2ID_P1, "pw", "argon2id"},
    /* argon2 somesalt1234 -i -t 2 -m 10 -p 4 */
    {"$argon2i$v=19$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$d6pm3AD2tVhNIZKk2J07d9cq2ryWbULN9X14MVHZA04",
     "pw", "argon2i"},
    /* argon2 longersalt123456 -i -t 3 -m 12 -p 1 */
    {"$argon2i$v=19$m=4096,t=3,p=1$bG9uZ2Vyc2FsdDEyMzQ1Ng$lnuRQNvk0dJ17p2o/T1GLkWtgW+3yhcIZIqnDs1vhPk",
     PW_UTF8, "argon2i"},
    /* python3 crypt.crypt(pw, '$2b$04$…'), '$2a$05$…', '$2y$04$…' */
    {"$2b$04$qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6", "correct horse", "bcrypt"},
    {"$2a$05$S1IibA60KclKNn3AP8ifqeHQ1a5aVeujIVArPf3NuVYyquu57iLQm", "correct horse", "bcrypt"},
    {"$2y$04$.HCEjwez8.xT1BVrnTScIe9NLcAP23iOmUF.FPqjouXy7fBzTWCgO", "correct horse", "bcrypt"},
    {"$2b$04$ZXxp9o6EI4ljv.cD8smnU.lyrM.uGxBEpPV/FrmQOPHeULONMl9Pq", PW_UTF8, "bcrypt"},
    /* "pbkdf2_sha256$%d$%s$%s" % (it, salt, b64encode(hashlib.pbkdf2_hmac('sha256', …))) */
    {"pbkdf2_sha256$1000$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
     "correct horse", "django-pbkdf2-sha256"},
    {"pbkdf2_sha256$10000$x$FUtFR9rDWjJSFqrJPHrNdWSCfTp+zMCV86tNxQPGn0s=", PW_UTF8,
     "django-pbkdf2-sha256"},
    {"pbkdf2_sha256$1$emptypwsalt$TjtHB339lc1xLtJo0yopqPKnAuuhrQ0tgr2ezsTEq3s=", "",
     "django-pbkdf2-sha256"},
    /* "bcrypt_sha256$" + crypt.crypt(hashlib.sha256(pw).hexdigest(), mksalt(BLOWFISH)) */
    {"bcrypt_sha256$$2b$04$tt2WUcMKQOAsh2MMXKQhc.ED3bojRAAFVFFuq2O9kblDmvVc6bVH2", "correct horse",
     "django-bcrypt-sha256"},
    /* "argon2" + argon2 djsaltdjsalt12 -id -t 2 -m 10 -p 8 -e (Django Argon2PasswordHasher) */
    {"argon2$argon2id$v=19$m=1024,t=2,p=8$ZGpzYWx0ZGpzYWx0MTI$KR5kNRmCvA/Dsq4LdzutpElYKkANwPO46eCNCcn3o7k",
     "correct horse", "django-argon2"},
    /* older Django: argon2i, 16-byte hash (argon2 … -i -t 2 -m 9 -p 2 -l 16) */
    {"argon2$argon2i$v=19$m=512,t=2,p=2$ZGpzYWx0ZGpzYWx0MTI$oUZVTLaCQSDpZVETOXTHyA",
     "correct horse", "django-argon2"},
};
/* clang-format on */
#define N_VECTORS (sizeof VECTORS / sizeof VECTORS[0])

static gh_err verify_str(const char *stored, const char *pw)
{
    return gh_password_verify(stored, pw, strlen(pw));
}

static void test_params_default(void **state)
{
    (void)state;
    struct gh_password_params p;
    gh_password_params_default(&p);
    assert_int_equal(p.opslimit, 2);
    assert_int_equal(p.memlimit, 19u * 1024u * 1024u);
}

static void test_hash_default_params(void **state)
{
    (void)state;
    struct gh_password_params p;
    char out[GH_PASSWORD_HASH_MAX + 1];
    gh_password_params_default(&p);

    assert_int_equal(gh_password_hash(&p, "hunter2!", 8, out, sizeof out), GH_OK);
    assert_true(strncmp(out, "nfkc$$argon2id$v=19$m=19456,t=2,p=1$", 36) == 0);
    assert_int_equal(gh_password_verify(out, "hunter2!", 8), GH_OK);
    assert_int_equal(gh_password_verify(out, "hunter2?", 8), GH_ERR_AUTH);
    assert_int_equal(gh_password_verify(out, "hunter2", 7), GH_ERR_AUTH);
    assert_int_equal(gh_password_verify(out, "", 0), GH_ERR_AUTH);
    assert_false(gh_password_needs_rehash(&p, out));
    assert_false(gh_password_needs_rehash(NULL, out)); /* NULL means the defaults */
    assert_true(gh_password_format_is_supported(out));
    assert_string_equal(gh_password_algorithm(out), "argon2id-nfkc");
}

static void test_hash_is_salted(void **state)
{
    (void)state;
    char a[GH_PASSWORD_HASH_MAX + 1], b[GH_PASSWORD_HASH_MAX + 1];
    assert_int_equal(gh_password_hash(&LOW, "same", 4, a, sizeof a), GH_OK);
    assert_int_equal(gh_password_hash(&LOW, "same", 4, b, sizeof b), GH_OK);
    assert_string_not_equal(a, b);
    assert_int_equal(verify_str(a, "same"), GH_OK);
    assert_int_equal(verify_str(b, "same"), GH_OK);
}

/* The dummy hash for unknown emails: built from random bytes, it must look exactly like a real
 * hash of the same params (same parser path, same argon2id work) and match no password. */
static void test_dummy_hash_like_real(void **state)
{
    (void)state;
    struct gh_password_params def;
    gh_password_params_default(&def);
    const struct gh_password_params *params[] = {&def, &LOW};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        char real[GH_PASSWORD_HASH_MAX + 1], d1[GH_PASSWORD_HASH_MAX + 1],
            d2[GH_PASSWORD_HASH_MAX + 1];
        assert_int_equal(gh_password_hash(params[i], "hunter2!", 8, real, sizeof real), GH_OK);
        assert_int_equal(gh_password_dummy_hash(params[i], d1, sizeof d1), GH_OK);
        assert_int_equal(gh_password_dummy_hash(params[i], d2, sizeof d2), GH_OK);
        assert_string_not_equal(d1, d2);
        /* Same length, same text up to the salt ("nfkc$$argon2id$v=19$m=…,t=…,p=1$"). */
        assert_int_equal(strlen(d1), strlen(real));
        const char *salt_at = strrchr(real, '$');
        assert_non_null(salt_at);
        size_t head = (size_t)(strchr(real + strlen("nfkc$$argon2id$v=19$m="), '$') - real) + 1;
        assert_true(head < (size_t)(salt_at - real));
        assert_memory_equal(d1, real, head);
        assert_true(gh_password_format_is_supported(d1));
        assert_false(gh_password_needs_rehash(params[i], d1));
        assert_string_equal(gh_password_algorithm(d1), "argon2id-nfkc");
        assert_int_equal(gh_password_verify(d1, "hunter2!", 8), GH_ERR_AUTH);
        assert_int_equal(gh_password_verify(d1, "", 0), GH_ERR_AUTH);
    }
    char small[40] = "x";
    assert_int_equal(gh_password_dummy_hash(&LOW, small, sizeof small), GH_ERR_INTERNAL);
    assert_string_equal(small, "");
    struct gh_password_params weak = {.opslimit = 0, .memlimit = LOW.memlimit};
    char out[GH_PASSWORD_HASH_MAX + 1];
    assert_int_equal(gh_password_dummy_hash(&weak, out, sizeof out), GH_ERR_INVALID);
    assert_int_equal(gh_password_dummy_hash(NULL, out, sizeof out), GH_ERR_INVALID);
}

static void test_hash_empty_and_control_chars(void **state)
{
    (void)state;
    char out[GH_PASSWORD_HASH_MAX + 1];
    assert_int_equal(gh_password_hash(&LOW, NULL, 0, out, sizeof out), GH_OK);
    assert_int_equal(gh_password_verify(out, "", 0), GH_OK);
    assert_int_equal(gh_password_verify(out, "x", 1), GH_ERR_AUTH);

    const char ctl[] = "\x01\x7f tab\t\r\n";
    assert_int_equal(gh_password_hash(&LOW, ctl, sizeof ctl - 1, out, sizeof out), GH_OK);
    assert_int_equal(gh_password_verify(out, ctl, sizeof ctl - 1), GH_OK);
    assert_int_equal(gh_password_verify(out, ctl, sizeof ctl - 2), GH_ERR_AUTH);
}

/* An argon2id hash as gatehouse made them before NFKC (and as other systems make them). */
static void unmarked_hash(const char *pw, size_t len, char out[crypto_pwhash_STRBYTES])
{
    assert_int_equal(crypto_pwhash_str_alg(out, pw, len, LOW.opslimit, LOW.memlimit,
                                           crypto_pwhash_ALG_ARGON2ID13),
                     0);
}

/* New hashes are over the NFKC form: the same password typed in another Unicode form (another
 * keyboard, OS or input method) verifies, in both directions. */
static void test_nfkc_forms_verify(void **state)
{
    (void)state;
    static const char *const PAIRS[][2] = {
        {"\xef\xac\x81nancial plan", "financial plan"},                       /* U+FB01 ligature */
        {"pin \xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94", "pin 1234"}, /* full-width */
        {"caf\xc3\xa9 cr\xc3\xa8me", "cafe\xcc\x81 cre\xcc\x80me"},  /* precomposed / combining */
        {"\xe2\x84\xab ngstr\xc3\xb6m", "\xc3\x85 ngstro\xcc\x88m"}, /* U+212B vs U+00C5 */
    };
    for (size_t i = 0; i < sizeof PAIRS / sizeof PAIRS[0]; i++) {
        for (int dir = 0; dir < 2; dir++) {
            const char *a = PAIRS[i][dir], *b = PAIRS[i][!dir];
            char out[GH_PASSWORD_HASH_MAX + 1];
            print_message("pair %zu direction %d\n", i, dir);
            assert_int_equal(gh_password_hash(&LOW, a, strlen(a), out, sizeof out), GH_OK);
            assert_int_equal(verify_str(out, a), GH_OK);
            assert_int_equal(verify_str(out, b), GH_OK);
            assert_int_equal(verify_str(out, "financial plan!"), GH_ERR_AUTH);
            assert_false(gh_password_needs_rehash(&LOW, out));
        }
    }
}

/* An unmarked argon2id hash verifies the bytes as given, and always asks for a rehash; the
 * rehash then accepts every form. */
static void test_unmarked_argon2id(void **state)
{
    (void)state;
    const char *decomposed = "cafe\xcc\x81 cre\xcc\x80me";
    const char *composed = "caf\xc3\xa9 cr\xc3\xa8me";
    char old[crypto_pwhash_STRBYTES];
    char out[GH_PASSWORD_HASH_MAX + 1];
    unmarked_hash(decomposed, strlen(decomposed), old);

    assert_true(gh_password_format_is_supported(old));
    assert_string_equal(gh_password_algorithm(old), "argon2id");
    assert_int_equal(verify_str(old, decomposed), GH_OK);
    assert_int_equal(verify_str(old, composed), GH_ERR_AUTH); /* raw bytes, not normalised */
    assert_true(gh_password_needs_rehash(&LOW, old));
    assert_true(gh_password_needs_rehash(NULL, old));

    /* what the login path does after a successful verify */
    assert_int_equal(gh_password_hash(&LOW, decomposed, strlen(decomposed), out, sizeof out),
                     GH_OK);
    assert_int_equal(verify_str(out, composed), GH_OK);
    assert_int_equal(verify_str(out, decomposed), GH_OK);
    assert_false(gh_password_needs_rehash(&LOW, out));

    /* the marker is a prefix on the unchanged PHC string of the NFKC (here: composed) form */
    char marked[GH_PASSWORD_HASH_MAX + 1];
    unmarked_hash(composed, strlen(composed), old);
    snprintf(marked, sizeof marked, "nfkc$%s", old);
    assert_true(gh_password_format_is_supported(marked));
    assert_string_equal(gh_password_algorithm(marked), "argon2id-nfkc");
    assert_int_equal(verify_str(marked, composed), GH_OK);
    assert_int_equal(verify_str(marked, decomposed), GH_OK);
    assert_int_equal(verify_str(old, decomposed), GH_ERR_AUTH);
    /* ASCII is its own NFKC form: an argon2 CLI vector with the marker still verifies */
    snprintf(marked, sizeof marked, "nfkc$%s", A2ID_P1);
    assert_int_equal(verify_str(marked, "pw"), GH_OK);
    assert_int_equal(verify_str(marked, "pW"), GH_ERR_AUTH);
    assert_false(gh_password_needs_rehash(&LOW, marked));
    snprintf(marked, sizeof marked, "nfkc$%s", A2ID_P4);
    assert_int_equal(verify_str(marked, "pw"), GH_OK);
    assert_true(gh_password_needs_rehash(&LOW, marked)); /* four lanes: not our shape */
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *const BAD[] = {"\xff\x01\x80 tab", "caf\xe9", "\xc0\xaf",
                                      "\xed\xa0\x80"
                                      "ab"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char out[GH_PASSWORD_HASH_MAX + 1];
        char old[crypto_pwhash_STRBYTES];
        size_t n = strlen(BAD[i]);
        memset(out, 'x', sizeof out);
        assert_int_equal(gh_password_hash(&LOW, BAD[i], n, out, sizeof out), GH_ERR_INVALID);
        assert_string_equal(out, "");
        /* against our own hash it is a wrong password, like any other */
        assert_int_equal(gh_password_hash(&LOW, "correct horse", 13, out, sizeof out), GH_OK);
        assert_int_equal(gh_password_verify(out, BAD[i], n), GH_ERR_AUTH);
        /* an older or imported hash may have been made from any bytes */
        unmarked_hash(BAD[i], n, old);
        assert_int_equal(gh_password_verify(old, BAD[i], n), GH_OK);
    }
    assert_int_equal(verify_str(VECTORS[5].stored, "correct horse\xff"), GH_ERR_AUTH);
}

static void test_hash_refuses_nul(void **state)
{
    (void)state;
    char out[GH_PASSWORD_HASH_MAX + 1];
    memset(out, 'x', sizeof out);
    assert_int_equal(gh_password_hash(&LOW, "ab\0cd", 5, out, sizeof out), GH_ERR_INVALID);
    assert_string_equal(out, "");
    assert_int_equal(gh_password_hash(&LOW, "\0", 1, out, sizeof out), GH_ERR_INVALID);
    assert_int_equal(gh_password_hash(&LOW, "abcd\0", 5, out, sizeof out), GH_ERR_INVALID);
}

static void test_verify_refuses_nul(void **state)
{
    (void)state;
    char out[GH_PASSWORD_HASH_MAX + 1];
    assert_int_equal(gh_password_hash(&LOW, "ab", 2, out, sizeof out), GH_OK);
    assert_int_equal(gh_password_verify(out, "ab\0cd", 5), GH_ERR_INVALID);
    /* crypt(3) would see only "correct horse" here and say yes. */
    assert_int_equal(gh_password_verify(VECTORS[5].stored, "correct horse\0junk", 18),
                     GH_ERR_INVALID);
    for (size_t i = 0; i < N_VECTORS; i++) {
        char pw[64];
        size_t n = strlen(VECTORS[i].pw);
        memcpy(pw, VECTORS[i].pw, n);
        pw[n] = '\0';
        pw[n + 1] = 'x';
        assert_int_equal(gh_password_verify(VECTORS[i].stored, pw, n + 2), GH_ERR_INVALID);
    }
}

static void test_hash_bad_arguments(void **state)
{
    (void)state;
    char out[GH_PASSWORD_HASH_MAX + 1];
    char small[16];
    struct gh_password_params weak_ops = {.opslimit = 0, .memlimit = 8192};
    struct gh_password_params weak_mem = {.opslimit = 1, .memlimit = 1024};

    assert_int_equal(gh_password_hash(NULL, "pw", 2, out, sizeof out), GH_ERR_INVALID);
    assert_int_equal(gh_password_hash(&weak_ops, "pw", 2, out, sizeof out), GH_ERR_INVALID);
    assert_int_equal(gh_password_hash(&weak_mem, "pw", 2, out, sizeof out), GH_ERR_INVALID);
    assert_int_equal(gh_password_hash(&LOW, NULL, 3, out, sizeof out), GH_ERR_INVALID);
    assert_int_equal(gh_password_hash(&LOW, "pw", 2, NULL, 0), GH_ERR_INVALID);
    assert_int_equal(gh_password_hash(&LOW, "pw", 2, small, sizeof small), GH_ERR_INTERNAL);
    assert_string_equal(small, "");
    assert_int_equal(gh_password_verify(A2ID_P1, NULL, 2), GH_ERR_INVALID);
}

static void test_password_length_cap(void **state)
{
    (void)state;
    static char big[4097];
    char out[GH_PASSWORD_HASH_MAX + 1];
    memset(big, 'a', sizeof big);
    assert_int_equal(gh_password_hash(&LOW, big, 4096, out, sizeof out), GH_OK);
    assert_int_equal(gh_password_verify(out, big, 4096), GH_OK);
    assert_int_equal(gh_password_verify(out, big, 4097), GH_ERR_TOO_LARGE);
    assert_int_equal(gh_password_hash(&LOW, big, 4097, out, sizeof out), GH_ERR_TOO_LARGE);
}

/* Argon2 memory that cannot be had is GH_ERR_NOMEM, not an auth failure or a crash. */
static void test_hash_nomem(void **state)
{
    (void)state;
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = -1;
    if (f) {
        if (fscanf(f, "%d", &mode) != 1)
            mode = -1;
        fclose(f);
    }
    if (mode != 0 && mode != 2) /* with "always overcommit" a 4 TiB mapping would succeed */
        skip();
    struct gh_password_params huge = {.opslimit = 1, .memlimit = crypto_pwhash_MEMLIMIT_MAX};
    char out[GH_PASSWORD_HASH_MAX + 1];
    assert_int_equal(gh_password_hash(&huge, "pw", 2, out, sizeof out), GH_ERR_NOMEM);
}

static void test_needs_rehash_argon2id_params(void **state)
{
    (void)state;
    char low[GH_PASSWORD_HASH_MAX + 1], mid[GH_PASSWORD_HASH_MAX + 1];
    struct gh_password_params def, p2 = {.opslimit = 2, .memlimit = 16384};
    struct gh_password_params more_ops = {.opslimit = 3, .memlimit = 16384};
    struct gh_password_params more_mem = {.opslimit = 2, .memlimit = 32768};
    gh_password_params_default(&def);

    assert_int_equal(gh_password_hash(&LOW, "pw", 2, low, sizeof low), GH_OK);
    assert_int_equal(gh_password_hash(&p2, "pw", 2, mid, sizeof mid), GH_OK);

    assert_true(gh_password_needs_rehash(&def, low));
    assert_true(gh_password_needs_rehash(NULL, low));
    assert_false(gh_password_needs_rehash(&LOW, low));
    assert_false(gh_password_needs_rehash(&p2, mid));
    assert_true(gh_password_needs_rehash(&p2, low));
    assert_true(gh_password_needs_rehash(&more_ops, mid)); /* weaker in time only */
    assert_true(gh_password_needs_rehash(&more_mem, mid)); /* weaker in memory only */
    /* stronger than asked for: kept (libsodium alone would ask for an exact match) */
    assert_false(gh_password_needs_rehash(&LOW, mid));
}

static void test_needs_rehash_imported(void **state)
{
    (void)state;
    struct gh_password_params weakest = {.opslimit = 1, .memlimit = 8192};
    for (size_t i = 0; i < N_VECTORS; i++) {
        assert_true(gh_password_needs_rehash(NULL, VECTORS[i].stored));
        /* Every other format (argon2i, p > 1, bcrypt, Django, and argon2id without the "nfkc$"
         * marker) moves to our NFKC argon2id even when its cost is higher. */
        assert_true(gh_password_needs_rehash(&weakest, VECTORS[i].stored));
    }
    assert_true(gh_password_needs_rehash(NULL, NULL));
    assert_true(gh_password_needs_rehash(NULL, ""));
    assert_true(gh_password_needs_rehash(NULL, "garbage"));
}

static void test_imported_vectors_verify(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_VECTORS; i++) {
        const struct vector *v = &VECTORS[i];
        size_t n = strlen(v->pw);
        char wrong[64];
        print_message("vector %zu: %s\n", i, v->algorithm);
        assert_true(gh_password_format_is_supported(v->stored));
        assert_string_equal(gh_password_algorithm(v->stored), v->algorithm);
        assert_int_equal(verify_str(v->stored, v->pw), GH_OK);

        /* wrong password: one more byte, one byte fewer, one byte changed */
        memcpy(wrong, v->pw, n);
        wrong[n] = 'x';
        assert_int_equal(gh_password_verify(v->stored, wrong, n + 1), GH_ERR_AUTH);
        if (n > 0) {
            assert_int_equal(gh_password_verify(v->stored, v->pw, n - 1), GH_ERR_AUTH);
            wrong[0] = (char)(wrong[0] ^ 0x20);
            assert_int_equal(gh_password_verify(v->stored, wrong, n), GH_ERR_AUTH);
        }
    }
}

/* Django's reason for bcrypt_sha256: bytes past bcrypt's 72 still count. */
static void test_django_bcrypt_sha256_long_password(void **state)
{
    (void)state;
    /* "bcrypt_sha256$" + crypt(sha256('A'*72 + 'tail-one').hexdigest(), …) */
    const char *stored =
        "bcrypt_sha256$$2b$04$3NsnYH2CeBXGcxCeRKJDuu8YJhbDxXRhE/cNpJok1AQ6GoAl0210m";
    char pw[80];
    memset(pw, 'A', 72);
    memcpy(pw + 72, "tail-one", 8);
    assert_int_equal(gh_password_verify(stored, pw, 80), GH_OK);
    memcpy(pw + 72, "tail-two", 8);
    assert_int_equal(gh_password_verify(stored, pw, 80), GH_ERR_AUTH);
    assert_int_equal(gh_password_verify(stored, pw, 72), GH_ERR_AUTH);
}

/* A tampered hash body is still well-formed: the answer is "wrong password". */
static void test_tampered_hash_is_auth_failure(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_VECTORS; i++) {
        char buf[GH_PASSWORD_HASH_MAX + 1];
        size_t n = strlen(VECTORS[i].stored);
        memcpy(buf, VECTORS[i].stored, n + 1);
        /* a character in the middle of the final field; 'A' <-> 'B' keeps it base64/bcrypt */
        char *c = buf + n - 10;
        *c = *c == 'A' ? 'B' : 'A';
        print_message("tampered %zu: %s\n", i, buf);
        assert_true(gh_password_format_is_supported(buf));
        assert_int_equal(verify_str(buf, VECTORS[i].pw), GH_ERR_AUTH);
    }
}

/* Every proper prefix of every vector fails; when it is not even well-formed, it is
 * GH_ERR_INVALID, and the structural check agrees with verify. */
static void test_truncated_hashes(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_VECTORS; i++) {
        const struct vector *v = &VECTORS[i];
        if (strcmp(v->stored, A2ID_P4_64M) == 0)
            continue; /* 64 MiB per attempt: covered by the others */
        size_t n = strlen(v->stored);
        for (size_t k = 0; k < n; k++) {
            char buf[GH_PASSWORD_HASH_MAX + 1];
            memcpy(buf, v->stored, k);
            buf[k] = '\0';
            gh_err rc = verify_str(buf, v->pw);
            assert_int_not_equal(rc, GH_OK);
            if (!gh_password_format_is_supported(buf)) {
                assert_int_equal(rc, GH_ERR_INVALID);
                assert_string_equal(gh_password_algorithm(buf), "unknown");
            }
            /* bcrypt strings have one length; the pbkdf2 digest has one length */
            if (strstr(v->algorithm, "bcrypt") || strstr(v->algorithm, "pbkdf2")) {
                assert_false(gh_password_format_is_supported(buf));
                assert_int_equal(rc, GH_ERR_INVALID);
            }
            /* argon2: cut anywhere before the hash field is malformed */
            if (strstr(v->algorithm, "argon2") &&
                k <= (size_t)(strrchr(v->stored, '$') - v->stored)) {
                assert_int_equal(rc, GH_ERR_INVALID);
            }
        }
    }
}

/* clang-format off */
static const char *const GARBLED[] = {
    "",
    "hunter2",
    "!",                                   /* Django's unusable password */
    "!pbkdf2_sha256$1000$salt$AAAA",
    "$argon2id$",
    "$argon2d$v=19$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=16$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=1024,t=2,p=0$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=1024,t=0,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=0,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=16,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=01024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=+1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m= 1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=1024,p=4,t=2$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=99999999999,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=4194304,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=1048576,t=100,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=1024,t=2,p=4,keyid=x$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=1024,t=2,p=4$c29tZQ$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$argon2id$v=19$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZH",
    "$argon2id$v=19$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0=",
    "$argon2id$v=19$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0$",
    "$argon2id$v=19$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIc!YrEmHW9WSl0",
    "$argon2id$v=19$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIc_YrEmHW9WSl0",
    "$argon2id$v=19$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0 ",
    " $argon2id$v=19$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$g4FdSkp6EEZHiIiSO68OU6vre8q3aIcpYrEmHW9WSl0",
    "$2c$04$qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6",
    "$2x$04$qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6",
    "$2$04$qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6",
    "$2b$03$qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6",
    "$2b$32$qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6",
    "$2b$4$qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6",
    "$2b$04$qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN",
    "$2b$04$qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6A",
    "$2b$04$qmD9+B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6",
    "$2b$04qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6$",
    "bcrypt_sha256$2b$04$tt2WUcMKQOAsh2MMXKQhc.ED3bojRAAFVFFuq2O9kblDmvVc6bVH2",
    "bcrypt_sha256$$2x$04$tt2WUcMKQOAsh2MMXKQhc.ED3bojRAAFVFFuq2O9kblDmvVc6bVH2",
    "bcrypt_sha256$",
    "bcrypt$$2b$04$qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6",
    "pbkdf2_sha256$",
    "pbkdf2_sha256$0$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha256$10000001$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha256$99999999999999999999$salt$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha256$-1000$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha256$+1000$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha256$01000$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha256$1e3$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha256$$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha256$1000$$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha256$1000$a salt$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha256$1000$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ",
    "pbkdf2_sha256$1000$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LA==",
    "pbkdf2_sha256$1000$aSaltOfTwentyTwoChars1$5Af_8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha256$1000$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAR=",
    "pbkdf2_sha256$1000$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=$",
    "pbkdf2_sha256$1000$aSaltOfTwentyTwoChars1$extra$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "pbkdf2_sha1$1000$salt$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "argon2$",
    "argon2$argon2d$v=19$m=1024,t=2,p=8$ZGpzYWx0ZGpzYWx0MTI$KR5kNRmCvA/Dsq4LdzutpElYKkANwPO46eCNCcn3o7k",
    "argon2$$argon2id$v=19$m=1024,t=2,p=8$ZGpzYWx0ZGpzYWx0MTI$KR5kNRmCvA/Dsq4LdzutpElYKkANwPO46eCNCcn3o7k",
    "argon2$argon2id$v=19$m=1024,t=2,p=8$ZGpzYWx0ZGpzYWx0MTI",
    "argon2$argon2i$m=512,t=2,p=2$ZGpzYWx0ZGpzYWx0MTI$oUZVTLaCQSDpZVETOXTHyA",
    "md5$salt$0123456789abcdef0123456789abcdef",
    "sha1$salt$0123456789abcdef0123456789abcdef01234567",
    "nfkc$",
    "nfkc$$",
    "nfkc$$argon2id$",
    "nfkc$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQxMjM0$/RkG2wFPjLG6yJqkzEZU9n2hwNJjXehjas1/zuZvNwY",
    "NFKC$$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQxMjM0$/RkG2wFPjLG6yJqkzEZU9n2hwNJjXehjas1/zuZvNwY",
    "nfkc$nfkc$$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQxMjM0$/RkG2wFPjLG6yJqkzEZU9n2hwNJjXehjas1/zuZvNwY",
    " nfkc$$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQxMjM0$/RkG2wFPjLG6yJqkzEZU9n2hwNJjXehjas1/zuZvNwY",
    "nfkc$$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQxMjM0$/RkG2wFPjLG6yJqkzEZU9n2hwNJjXehjas1/zuZvNwY$",
    "nfkc$$argon2i$v=19$m=1024,t=2,p=4$c29tZXNhbHQxMjM0$d6pm3AD2tVhNIZKk2J07d9cq2ryWbULN9X14MVHZA04",
    "nfkc$$2b$04$qmD9.B62SzJ9wc/kSTEoxOtgZt23xzWsu4xVEY/xc6ZtxQu8iuFN6",
    "nfkc$pbkdf2_sha256$1000$aSaltOfTwentyTwoChars1$5Af/8uyNGerNU6iX0ArPUPQ1hbODpwpNQXH7LQU4LAQ=",
    "nfkc$argon2$argon2id$v=19$m=1024,t=2,p=8$ZGpzYWx0ZGpzYWx0MTI$KR5kNRmCvA/Dsq4LdzutpElYKkANwPO46eCNCcn3o7k",
};

/* clang-format on */

static void test_garbled_hashes_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof GARBLED / sizeof GARBLED[0]; i++) {
        print_message("garbled %zu: %s\n", i, GARBLED[i]);
        assert_int_equal(verify_str(GARBLED[i], "correct horse"), GH_ERR_INVALID);
        assert_int_equal(verify_str(GARBLED[i], "pw"), GH_ERR_INVALID);
        assert_false(gh_password_format_is_supported(GARBLED[i]));
        assert_string_equal(gh_password_algorithm(GARBLED[i]), "unknown");
        assert_true(gh_password_needs_rehash(NULL, GARBLED[i]));
    }
    assert_int_equal(gh_password_verify(NULL, "pw", 2), GH_ERR_INVALID);
    assert_false(gh_password_format_is_supported(NULL));
    assert_string_equal(gh_password_algorithm(NULL), "unknown");
}

/* Stored strings are read at most GH_PASSWORD_HASH_MAX + 1 bytes deep (ASan checks the bound):
 * an over-long string is refused before any parsing. */
static void test_stored_length_cap(void **state)
{
    (void)state;
    char *buf = malloc(GH_PASSWORD_HASH_MAX + 1); /* deliberately no NUL anywhere */
    assert_non_null(buf);
    memset(buf, 'a', GH_PASSWORD_HASH_MAX + 1);
    memcpy(buf, "pbkdf2_sha256$1000$", 19);
    assert_int_equal(gh_password_verify(buf, "x", 1), GH_ERR_INVALID);
    assert_false(gh_password_format_is_supported(buf));
    assert_string_equal(gh_password_algorithm(buf), "unknown");
    assert_true(gh_password_needs_rehash(NULL, buf));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_default),
        cmocka_unit_test(test_hash_default_params),
        cmocka_unit_test(test_hash_is_salted),
        cmocka_unit_test(test_dummy_hash_like_real),
        cmocka_unit_test(test_hash_empty_and_control_chars),
        cmocka_unit_test(test_nfkc_forms_verify),
        cmocka_unit_test(test_unmarked_argon2id),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_hash_refuses_nul),
        cmocka_unit_test(test_verify_refuses_nul),
        cmocka_unit_test(test_hash_bad_arguments),
        cmocka_unit_test(test_password_length_cap),
        cmocka_unit_test(test_hash_nomem),
        cmocka_unit_test(test_needs_rehash_argon2id_params),
        cmocka_unit_test(test_needs_rehash_imported),
        cmocka_unit_test(test_imported_vectors_verify),
        cmocka_unit_test(test_django_bcrypt_sha256_long_password),
        cmocka_unit_test(test_tampered_hash_is_auth_failure),
        cmocka_unit_test(test_truncated_hashes),
        cmocka_unit_test(test_garbled_hashes_invalid),
        cmocka_unit_test(test_stored_length_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
