/* gh_jwt_* and gh_keyring_* from the attacker's side: one honest token, then every forgery we
 * know of, each built so that exactly one rule is broken (forged headers are signed with the
 * real key, so only the header rule can be what refuses them). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "auth/jwt.h"
#include "core/enc.h"
#include "core/mem.h"

#define NOW 1700000000LL
#define ISS "https://id.example.test"
#define AUD "gatehouse-api"

/* Claim pieces, so that each case below differs from the honest payload in one place. */
#define C_ISS "\"iss\":\"https://id.example.test\""
#define C_SUB "\"sub\":\"user-1\""
#define C_AUD "\"aud\":\"gatehouse-api\""
#define C_IAT "\"iat\":1700000000"
#define C_EXP "\"exp\":1700000900"
#define C_JTI "\"jti\":\"jti-1\""
#define C_SID "\"sid\":\"sid-1\""
#define P_OK "{" C_ISS "," C_SUB "," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}"
/* Honest payload with one claim replaced / removed / added. */
#define P_WITHOUT_SUB "{" C_ISS "," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}"
#define P_NOSTD(extra) "{" C_ISS "," C_SUB "," C_AUD "," C_JTI "," C_SID "," extra "}"
#define P_PLUS(extra) "{" C_ISS "," C_SUB "," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "," extra "}"

#define H_OK "{\"alg\":\"EdDSA\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}"
#define H_KID(kid) "{\"alg\":\"EdDSA\",\"kid\":\"" kid "\",\"typ\":\"at+jwt\"}"
#define H_PLUS(extra) "{\"alg\":\"EdDSA\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"," extra "}"

enum signer { S_NONE, S_ACTIVE, S_RETIRED, S_NEXT, S_OUTSIDER };

static struct {
    struct gh_keyring *kr;
    struct gh_key_material active, next, retired, outsider;
} F;

/* ---- helpers ---- */

static void material(struct gh_key_material *k, const char *kid, enum gh_key_state st)
{
    gh_key_generate(k);
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    k->state = st;
}

static int group_setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static int setup(void **state)
{
    (void)state;
    material(&F.active, "active-1", GH_KEY_ACTIVE);
    F.active.activates_at = NOW - 1000;
    material(&F.next, "next-1", GH_KEY_NEXT);
    F.next.activates_at = NOW + 1000;
    material(&F.retired, "retired-1", GH_KEY_RETIRED);
    F.retired.activates_at = NOW - 90000;
    F.retired.published_until = NOW + 3600;
    material(&F.outsider, "outsider-1", GH_KEY_ACTIVE);

    struct gh_key_material ring[3] = {F.retired, F.active, F.next};
    if (gh_keyring_new(&F.kr) != GH_OK)
        return -1;
    gh_err rc = gh_keyring_replace(F.kr, ring, 3);
    sodium_memzero(ring, sizeof ring);
    return rc == GH_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    gh_keyring_free(F.kr);
    sodium_memzero(&F, sizeof F);
    return 0;
}

static const unsigned char *sk_of(enum signer s)
{
    switch (s) {
    case S_ACTIVE:
        return F.active.sk;
    case S_RETIRED:
        return F.retired.sk;
    case S_NEXT:
        return F.next.sk;
    case S_OUTSIDER:
        return F.outsider.sk;
    case S_NONE:
        break;
    }
    return NULL;
}

static char *b64(const void *p, size_t n)
{
    size_t sz = GH_B64URL_LEN(n) + 1;
    char *s = malloc(sz);
    assert_non_null(s);
    gh_b64url_encode(p, n, s, sz);
    return s;
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + 1 + strlen(b) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s.%s", a, b);
    return s;
}

/* signing_input "." b64(sig) — sig may be empty. */
static char *with_sig(const char *signing_input, const unsigned char *sig, size_t n)
{
    char *s64 = b64(sig, n);
    char *t = join(signing_input, s64);
    free(s64);
    return t;
}

/* Ed25519 signature by sk over the exact signing input (NULL sk: empty signature). */
static char *sign_input(const char *signing_input, const unsigned char *sk)
{
    unsigned char sig[crypto_sign_BYTES] = {0};
    if (!sk)
        return with_sig(signing_input, sig, 0);
    crypto_sign_detached(sig, NULL, (const unsigned char *)signing_input, strlen(signing_input),
                         sk);
    return with_sig(signing_input, sig, sizeof sig);
}

static char *forge(const char *hdr, const char *pl, enum signer s)
{
    char *h = b64(hdr, strlen(hdr)), *p = b64(pl, strlen(pl));
    char *si = join(h, p);
    char *t = sign_input(si, sk_of(s));
    free(h);
    free(p);
    free(si);
    return t;
}

/* Verify n bytes copied to an exact-size heap block with no NUL, so any over-read is an ASan
 * report; a refusal must leave no claims behind. */
static gh_err verify_n(const char *tok, size_t n, int64_t now, struct gh_jwt_claims *out)
{
    struct gh_jwt_claims tmp, zero;
    struct gh_jwt_claims *c = out ? out : &tmp;
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, tok, n);
    memset(c, 0x5a, sizeof *c);
    gh_err rc = gh_jwt_verify(F.kr, copy, n, ISS, AUD, now, c);
    free(copy);
    memset(&zero, 0, sizeof zero);
    if (rc != GH_OK)
        assert_memory_equal(c, &zero, sizeof zero);
    return rc;
}

static gh_err verify_at(const char *tok, int64_t now)
{
    return verify_n(tok, strlen(tok), now, NULL);
}

struct tcase {
    const char *name;
    const char *hdr;
    const char *pl;
    enum signer signer;
    gh_err want;
};

static void run_cases(const struct tcase *cases, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char *t = forge(cases[i].hdr, cases[i].pl, cases[i].signer);
        gh_err rc = verify_at(t, NOW);
        if (rc != cases[i].want) {
            print_error("case \"%s\": got %s, want %s\n", cases[i].name, gh_err_name(rc),
                        gh_err_name(cases[i].want));
            bad++;
        }
        free(t);
    }
    assert_int_equal(bad, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static char *issue(struct gh_jwt_claims *expect)
{
    struct gh_jwt_issue in = {.iss = ISS, .aud = AUD, .sub = "user-42", .sid = "sess-7",
                              .now = NOW, .ttl = 900};
    char *tok = NULL;
    char jti[GH_CLAIM_MAX + 1];
    int64_t exp = 0;
    assert_int_equal(gh_jwt_sign(F.kr, &in, &tok, jti, &exp), GH_OK);
    if (expect) {
        memset(expect, 0, sizeof *expect);
        snprintf(expect->kid, sizeof expect->kid, "%s", "active-1");
        snprintf(expect->sub, sizeof expect->sub, "%s", "user-42");
        snprintf(expect->sid, sizeof expect->sid, "%s", "sess-7");
        snprintf(expect->jti, sizeof expect->jti, "%s", jti);
        expect->iat = NOW;
        expect->exp = exp;
    }
    return tok;
}

/* ---- the honest path ---- */

static void test_sign_then_verify(void **state)
{
    (void)state;
    struct gh_jwt_claims want, got;
    char *tok = issue(&want);

    assert_int_equal(verify_n(tok, strlen(tok), NOW, &got), GH_OK);
    assert_string_equal(got.kid, "active-1");
    assert_string_equal(got.sub, "user-42");
    assert_string_equal(got.sid, "sess-7");
    assert_int_equal(got.iat, NOW);
    assert_int_equal(got.exp, NOW + 900);
    assert_true(gh_id_is_valid(got.jti));
    assert_memory_equal(&got, &want, sizeof got);

    /* The header is exactly what we promise, byte for byte. */
    const char *dot = strchr(tok, '.');
    assert_non_null(dot);
    unsigned char hdr[256];
    size_t n = 0;
    assert_int_equal(gh_b64url_decode(tok, (size_t)(dot - tok), hdr, sizeof hdr, &n), GH_OK);
    assert_int_equal(n, strlen(H_OK));
    assert_memory_equal(hdr, H_OK, n);

    /* Three parts; the claims carry exactly the promised members. */
    const char *dot2 = strchr(dot + 1, '.');
    assert_non_null(dot2);
    assert_null(strchr(dot2 + 1, '.'));
    unsigned char pl[1024];
    assert_int_equal(gh_b64url_decode(dot + 1, (size_t)(dot2 - dot - 1), pl, sizeof pl, &n), GH_OK);
    json_error_t err;
    json_t *j = json_loadb((const char *)pl, n, JSON_REJECT_DUPLICATES, &err);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 7);
    assert_string_equal(json_string_value(json_object_get(j, "iss")), ISS);
    assert_string_equal(json_string_value(json_object_get(j, "aud")), AUD);
    assert_string_equal(json_string_value(json_object_get(j, "jti")), want.jti);
    json_decref(j);

    /* A fresh jti every time. */
    struct gh_jwt_claims other;
    char *tok2 = issue(&other);
    assert_string_not_equal(other.jti, want.jti);
    free(tok2);

    /* Accepted within leeway of expiry, refused at exp + leeway. */
    assert_int_equal(verify_at(tok, NOW + 900 + GH_JWT_LEEWAY - 1), GH_OK);
    assert_int_equal(verify_at(tok, NOW + 900 + GH_JWT_LEEWAY), GH_ERR_AUTH);
    /* The same bytes with a trailing NUL or newline counted in len are not the token. */
    char *nl = join(tok, "");
    nl[strlen(nl) - 1] = '\n';
    assert_int_equal(verify_at(nl, NOW), GH_ERR_AUTH);
    assert_int_equal(verify_n(tok, strlen(tok) + 1, NOW, NULL), GH_ERR_AUTH);
    free(nl);
    gh_free(tok);
}

static void test_sign_rejects_bad_input(void **state)
{
    (void)state;
    char *tok = NULL;
    char jti[GH_CLAIM_MAX + 1];
    int64_t exp;
    char long_sub[GH_CLAIM_MAX + 2];
    memset(long_sub, 'a', sizeof long_sub - 1);
    long_sub[sizeof long_sub - 1] = '\0';

    struct gh_jwt_issue ok = {.iss = ISS, .aud = AUD, .sub = "u", .sid = "s", .now = NOW,
                              .ttl = 60};
    struct gh_jwt_issue bad[] = {
        {.iss = ISS, .aud = AUD, .sub = NULL, .sid = "s", .now = NOW, .ttl = 60},
        {.iss = ISS, .aud = AUD, .sub = "u", .sid = "", .now = NOW, .ttl = 60},
        {.iss = ISS, .aud = AUD, .sub = long_sub, .sid = "s", .now = NOW, .ttl = 60},
        {.iss = NULL, .aud = AUD, .sub = "u", .sid = "s", .now = NOW, .ttl = 60},
        {.iss = ISS, .aud = "", .sub = "u", .sid = "s", .now = NOW, .ttl = 60},
        {.iss = ISS, .aud = AUD, .sub = "u", .sid = "s", .now = NOW, .ttl = 0},
        {.iss = ISS, .aud = AUD, .sub = "u", .sid = "s", .now = NOW, .ttl = -5},
        {.iss = ISS, .aud = AUD, .sub = "u", .sid = "s", .now = INT64_MAX - 10, .ttl = 60},
        {.iss = ISS, .aud = AUD, .sub = "u\xff", .sid = "s", .now = NOW, .ttl = 60},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(gh_jwt_sign(F.kr, &bad[i], &tok, jti, &exp), GH_ERR_INVALID);
        assert_null(tok);
    }

    /* No keys loaded: a bug at start-up, never a token. */
    struct gh_keyring *empty = NULL;
    assert_int_equal(gh_keyring_new(&empty), GH_OK);
    assert_int_not_equal(gh_jwt_sign(empty, &ok, &tok, jti, &exp), GH_OK);
    assert_null(tok);
    gh_keyring_free(empty);

    /* 64-char ids are the limit, and still verify. */
    struct gh_jwt_issue edge = ok;
    long_sub[GH_CLAIM_MAX] = '\0';
    edge.sub = long_sub;
    assert_int_equal(gh_jwt_sign(F.kr, &edge, &tok, jti, &exp), GH_OK);
    struct gh_jwt_claims c;
    assert_int_equal(verify_n(tok, strlen(tok), NOW, &c), GH_OK);
    assert_string_equal(c.sub, long_sub);
    gh_free(tok);
}

/* ---- header forgeries ---- */

static void test_header_alg(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"honest (control)", H_OK, P_OK, S_ACTIVE, GH_OK},
        {"alg none, empty signature", "{\"alg\":\"none\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}",
         P_OK, S_NONE, GH_ERR_AUTH},
        {"alg none, no kid, typ JWT, empty signature", "{\"alg\":\"none\",\"typ\":\"JWT\"}", P_OK,
         S_NONE, GH_ERR_AUTH},
        {"alg None", "{\"alg\":\"None\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}", P_OK, S_NONE,
         GH_ERR_AUTH},
        {"honest header, empty signature", H_OK, P_OK, S_NONE, GH_ERR_AUTH},
        {"alg none but validly signed", "{\"alg\":\"none\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}",
         P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"alg RS256 but validly signed", "{\"alg\":\"RS256\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}",
         P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"alg HS256 but validly signed", "{\"alg\":\"HS256\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}",
         P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"alg eddsa (case)", "{\"alg\":\"eddsa\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}", P_OK,
         S_ACTIVE, GH_ERR_AUTH},
        {"alg Ed25519", "{\"alg\":\"Ed25519\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}", P_OK,
         S_ACTIVE, GH_ERR_AUTH},
        {"alg with NUL", "{\"alg\":\"EdDSA\\u0000\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}", P_OK,
         S_ACTIVE, GH_ERR_AUTH},
        {"alg missing", "{\"kid\":\"active-1\",\"typ\":\"at+jwt\"}", P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"alg array", "{\"alg\":[\"EdDSA\"],\"kid\":\"active-1\",\"typ\":\"at+jwt\"}", P_OK,
         S_ACTIVE, GH_ERR_AUTH},
        {"alg null", "{\"alg\":null,\"kid\":\"active-1\",\"typ\":\"at+jwt\"}", P_OK, S_ACTIVE,
         GH_ERR_AUTH},
    };
    RUN(cases);
}

static void hmac(const unsigned char *key, size_t keylen, const char *msg,
                 unsigned char out[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
    crypto_auth_hmacsha256_final(&st, out);
}

/* The classic key confusion: HS256 "signed" with what the attacker knows of the public key. */
static void test_hs256_key_confusion(void **state)
{
    (void)state;
    static const char *const hdrs[] = {
        "{\"alg\":\"HS256\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS256\",\"kid\":\"active-1\",\"typ\":\"JWT\"}",
    };
    json_t *jwks = NULL;
    assert_int_equal(gh_keyring_jwks(F.kr, &jwks), GH_OK);
    char *jwks_text = json_dumps(jwks, JSON_COMPACT);
    char x[GH_B64URL_LEN(32) + 1];
    gh_b64url_encode(F.active.pk, sizeof F.active.pk, x, sizeof x);

    struct {
        const unsigned char *k;
        size_t n;
    } secrets[] = {
        {F.active.pk, sizeof F.active.pk},
        {(const unsigned char *)x, strlen(x)},
        {(const unsigned char *)jwks_text, strlen(jwks_text)},
    };
    for (size_t h = 0; h < sizeof hdrs / sizeof hdrs[0]; h++) {
        char *h64 = b64(hdrs[h], strlen(hdrs[h])), *p64 = b64(P_OK, strlen(P_OK));
        char *si = join(h64, p64);
        for (size_t s = 0; s < sizeof secrets / sizeof secrets[0]; s++) {
            unsigned char mac[crypto_auth_hmacsha256_BYTES];
            hmac(secrets[s].k, secrets[s].n, si, mac);
            char *t = with_sig(si, mac, sizeof mac);
            assert_int_equal(verify_at(t, NOW), GH_ERR_AUTH);
            free(t);
        }
        free(h64);
        free(p64);
        free(si);
    }
    free(jwks_text);
    json_decref(jwks);
}

static void test_rs256(void **state)
{
    (void)state;
    const char *hdr = "{\"alg\":\"RS256\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}";
    char *h64 = b64(hdr, strlen(hdr)), *p64 = b64(P_OK, strlen(P_OK));
    char *si = join(h64, p64);
    unsigned char sig[256];
    randombytes_buf(sig, sizeof sig);
    char *t = with_sig(si, sig, sizeof sig);
    assert_int_equal(verify_at(t, NOW), GH_ERR_AUTH);
    free(t);
    /* Same length as ours, in case length is what we key on. */
    t = with_sig(si, sig, crypto_sign_BYTES);
    assert_int_equal(verify_at(t, NOW), GH_ERR_AUTH);
    free(t);
    free(h64);
    free(p64);
    free(si);
}

static void test_header_kid(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"retired key still verifies", H_KID("retired-1"), P_OK, S_RETIRED, GH_OK},
        {"unknown kid", H_KID("nobody"), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"missing kid", "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}", P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"empty kid", H_KID(""), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"kid null", "{\"alg\":\"EdDSA\",\"kid\":null,\"typ\":\"at+jwt\"}", P_OK, S_ACTIVE,
         GH_ERR_AUTH},
        {"kid number", "{\"alg\":\"EdDSA\",\"kid\":1,\"typ\":\"at+jwt\"}", P_OK, S_ACTIVE,
         GH_ERR_AUTH},
        {"kid array", "{\"alg\":\"EdDSA\",\"kid\":[\"active-1\"],\"typ\":\"at+jwt\"}", P_OK,
         S_ACTIVE, GH_ERR_AUTH},
        {"kid case", H_KID("ACTIVE-1"), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"kid prefix", H_KID("active-"), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"kid with NUL", H_KID("active-1\\u0000x"), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"kid too long", H_KID("active-1active-1active-1active-1x"), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"NEXT key signs for itself", H_KID("next-1"), P_OK, S_NEXT, GH_ERR_AUTH},
        {"NEXT kid, active signature", H_KID("next-1"), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"key outside the ring, our kid", H_OK, P_OK, S_OUTSIDER, GH_ERR_AUTH},
        {"key outside the ring, its kid", H_KID("outsider-1"), P_OK, S_OUTSIDER, GH_ERR_AUTH},
        {"retired kid, active signature", H_KID("retired-1"), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"active kid, retired signature", H_OK, P_OK, S_RETIRED, GH_ERR_AUTH},
        {"retired key, exp past its published_until", H_KID("retired-1"),
         P_NOSTD(C_IAT ",\"exp\":1700003601"), S_RETIRED, GH_ERR_AUTH},
        {"retired key, exp at its published_until", H_KID("retired-1"),
         P_NOSTD(C_IAT ",\"exp\":1700003600"), S_RETIRED, GH_OK},
    };
    RUN(cases);
}

static void test_header_typ(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"typ JWT", "{\"alg\":\"EdDSA\",\"kid\":\"active-1\",\"typ\":\"JWT\"}", P_OK, S_ACTIVE,
         GH_ERR_AUTH},
        {"typ missing", "{\"alg\":\"EdDSA\",\"kid\":\"active-1\"}", P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"typ missing, extra member", "{\"alg\":\"EdDSA\",\"kid\":\"active-1\",\"cty\":\"JWT\"}",
         P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"typ AT+JWT", "{\"alg\":\"EdDSA\",\"kid\":\"active-1\",\"typ\":\"AT+JWT\"}", P_OK,
         S_ACTIVE, GH_ERR_AUTH},
        {"typ null", "{\"alg\":\"EdDSA\",\"kid\":\"active-1\",\"typ\":null}", P_OK, S_ACTIVE,
         GH_ERR_AUTH},
        {"typ dpop+jwt", "{\"alg\":\"EdDSA\",\"kid\":\"active-1\",\"typ\":\"dpop+jwt\"}", P_OK,
         S_ACTIVE, GH_ERR_AUTH},
    };
    RUN(cases);
}

/* Members that would let the token choose its own key or change how it is processed. */
static void test_header_key_pointers(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"jku", H_PLUS("\"jku\":\"https://evil.example/jwks.json\""), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"x5u", H_PLUS("\"x5u\":\"https://evil.example/cert.pem\""), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"jwk", H_PLUS("\"jwk\":{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"),
         P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"x5c", H_PLUS("\"x5c\":[\"MIIBszCCAVmgAwIBAgIU\"]"), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"crit", H_PLUS("\"crit\":[\"exp\"]"), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"crit empty", H_PLUS("\"crit\":[]"), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"jku null", H_PLUS("\"jku\":null"), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"unknown member (allow-list)", H_PLUS("\"cty\":\"JWT\""), P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"b64 false (RFC 7797)", H_PLUS("\"b64\":false"), P_OK, S_ACTIVE, GH_ERR_AUTH},
    };
    RUN(cases);
}

static void test_header_malformed(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"duplicate alg", "{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}",
         P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"duplicate alg none then EdDSA",
         "{\"alg\":\"none\",\"alg\":\"EdDSA\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}", P_OK,
         S_ACTIVE, GH_ERR_AUTH},
        {"duplicate kid", "{\"alg\":\"EdDSA\",\"kid\":\"nobody\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"}",
         P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"header array", "[\"EdDSA\"]", P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"header string", "\"EdDSA\"", P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"header null", "null", P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"header empty", "", P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"header truncated", "{\"alg\":\"EdDSA\",\"kid\":\"active-1\",\"typ\":\"at+jwt\"", P_OK,
         S_ACTIVE, GH_ERR_AUTH},
        {"header trailing garbage", H_OK "x", P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"header two objects", H_OK H_OK, P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"header not UTF-8", "{\"alg\":\"EdDSA\",\"kid\":\"active-1\",\"typ\":\"at+jwt\xff\"}", P_OK,
         S_ACTIVE, GH_ERR_AUTH},
    };
    RUN(cases);
}

/* ---- claim forgeries (all validly signed by the active key) ---- */

static void test_claims_iss_aud(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"wrong aud", H_OK, "{" C_ISS "," C_SUB ",\"aud\":\"other-api\"," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"aud prefix", H_OK, "{" C_ISS "," C_SUB ",\"aud\":\"gatehouse\"," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"aud extended", H_OK, "{" C_ISS "," C_SUB ",\"aud\":\"gatehouse-api-x\"," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"aud missing", H_OK, "{" C_ISS "," C_SUB "," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"aud number", H_OK, "{" C_ISS "," C_SUB ",\"aud\":1," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"aud array without ours", H_OK,
         "{" C_ISS "," C_SUB ",\"aud\":[\"other-api\",\"billing\"]," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"aud array with ours", H_OK,
         "{" C_ISS "," C_SUB ",\"aud\":[\"other-api\",\"gatehouse-api\"]," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_OK},
        {"aud array only ours", H_OK,
         "{" C_ISS "," C_SUB ",\"aud\":[\"gatehouse-api\"]," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_OK},
        {"aud empty array", H_OK, "{" C_ISS "," C_SUB ",\"aud\":[]," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"aud array with non-string", H_OK,
         "{" C_ISS "," C_SUB ",\"aud\":[1,\"gatehouse-api\"]," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"aud nested array", H_OK,
         "{" C_ISS "," C_SUB ",\"aud\":[[\"gatehouse-api\"]]," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"wrong iss", H_OK, "{\"iss\":\"https://evil.example\"," C_SUB "," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"iss trailing slash", H_OK, "{\"iss\":\"https://id.example.test/\"," C_SUB "," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"iss array", H_OK, "{\"iss\":[\"https://id.example.test\"]," C_SUB "," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"iss missing", H_OK, "{" C_SUB "," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
    };
    RUN(cases);
}

static void test_claims_time(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"expired long ago", H_OK, P_NOSTD(C_IAT ",\"exp\":1699990000"), S_ACTIVE, GH_ERR_AUTH},
        {"expired, exp + leeway == now", H_OK, P_NOSTD(C_IAT ",\"exp\":1699999940"), S_ACTIVE,
         GH_ERR_AUTH},
        {"expired within leeway", H_OK, P_NOSTD("\"iat\":1699999000,\"exp\":1699999941"), S_ACTIVE,
         GH_OK},
        {"iat beyond leeway", H_OK, P_NOSTD("\"iat\":1700000061," C_EXP), S_ACTIVE, GH_ERR_AUTH},
        {"iat far future", H_OK, P_NOSTD("\"iat\":1800000000,\"exp\":1800000900"), S_ACTIVE,
         GH_ERR_AUTH},
        {"iat within leeway", H_OK, P_NOSTD("\"iat\":1700000060," C_EXP), S_ACTIVE, GH_OK},
        {"nbf beyond leeway", H_OK, P_PLUS("\"nbf\":1700000061"), S_ACTIVE, GH_ERR_AUTH},
        {"nbf within leeway", H_OK, P_PLUS("\"nbf\":1700000060"), S_ACTIVE, GH_OK},
        {"nbf string", H_OK, P_PLUS("\"nbf\":\"1700000000\""), S_ACTIVE, GH_ERR_AUTH},
        {"nbf real", H_OK, P_PLUS("\"nbf\":1700000000.0"), S_ACTIVE, GH_ERR_AUTH},
        {"nbf null", H_OK, P_PLUS("\"nbf\":null"), S_ACTIVE, GH_ERR_AUTH},
        {"exp string", H_OK, P_NOSTD(C_IAT ",\"exp\":\"1700000900\""), S_ACTIVE, GH_ERR_AUTH},
        {"exp real", H_OK, P_NOSTD(C_IAT ",\"exp\":1700000900.0"), S_ACTIVE, GH_ERR_AUTH},
        {"exp exponent", H_OK, P_NOSTD(C_IAT ",\"exp\":1.7000009e9"), S_ACTIVE, GH_ERR_AUTH},
        {"exp true", H_OK, P_NOSTD(C_IAT ",\"exp\":true"), S_ACTIVE, GH_ERR_AUTH},
        {"exp null", H_OK, P_NOSTD(C_IAT ",\"exp\":null"), S_ACTIVE, GH_ERR_AUTH},
        {"exp beyond int64", H_OK, P_NOSTD(C_IAT ",\"exp\":99999999999999999999"), S_ACTIVE,
         GH_ERR_AUTH},
        {"exp INT64_MIN", H_OK, P_NOSTD(C_IAT ",\"exp\":-9223372036854775808"), S_ACTIVE,
         GH_ERR_AUTH},
        /* Extreme but well-formed values must not overflow (UBSan would abort the test). */
        {"exp INT64_MAX", H_OK, P_NOSTD(C_IAT ",\"exp\":9223372036854775807"), S_ACTIVE, GH_OK},
        {"iat INT64_MAX", H_OK, P_NOSTD("\"iat\":9223372036854775807," C_EXP), S_ACTIVE,
         GH_ERR_AUTH},
        {"iat string", H_OK, P_NOSTD("\"iat\":\"1700000000\"," C_EXP), S_ACTIVE, GH_ERR_AUTH},
    };
    RUN(cases);
}

static void test_claims_required(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"missing sub", H_OK, P_WITHOUT_SUB, S_ACTIVE, GH_ERR_AUTH},
        {"missing sid", H_OK, "{" C_ISS "," C_SUB "," C_AUD "," C_IAT "," C_EXP "," C_JTI "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"missing jti", H_OK, "{" C_ISS "," C_SUB "," C_AUD "," C_IAT "," C_EXP "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"missing exp", H_OK, P_NOSTD(C_IAT), S_ACTIVE, GH_ERR_AUTH},
        {"missing iat", H_OK, P_NOSTD(C_EXP), S_ACTIVE, GH_ERR_AUTH},
        {"empty payload object", H_OK, "{}", S_ACTIVE, GH_ERR_AUTH},
        {"empty sub", H_OK, "{" C_ISS ",\"sub\":\"\"," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"sub number", H_OK, "{" C_ISS ",\"sub\":42," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"sub 65 chars", H_OK,
         "{" C_ISS ",\"sub\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"sub 64 chars", H_OK,
         "{" C_ISS ",\"sub\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_OK},
        {"sid null", H_OK, "{" C_ISS "," C_SUB "," C_AUD "," C_IAT "," C_EXP "," C_JTI ",\"sid\":null}",
         S_ACTIVE, GH_ERR_AUTH},
        {"jti object", H_OK, "{" C_ISS "," C_SUB "," C_AUD "," C_IAT "," C_EXP ",\"jti\":{}," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"sub with NUL", H_OK, "{" C_ISS ",\"sub\":\"user-1\\u0000admin\"," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
    };
    RUN(cases);
}

static void test_claims_malformed(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"duplicate sub", H_OK, P_PLUS("\"sub\":\"admin\""), S_ACTIVE, GH_ERR_AUTH},
        {"duplicate exp", H_OK, P_PLUS("\"exp\":1800000000"), S_ACTIVE, GH_ERR_AUTH},
        {"duplicate aud", H_OK, P_PLUS("\"aud\":\"other-api\""), S_ACTIVE, GH_ERR_AUTH},
        {"payload array", H_OK, "[" P_OK "]", S_ACTIVE, GH_ERR_AUTH},
        {"payload string", H_OK, "\"user-1\"", S_ACTIVE, GH_ERR_AUTH},
        {"payload empty", H_OK, "", S_ACTIVE, GH_ERR_AUTH},
        {"payload trailing garbage", H_OK, P_OK "x", S_ACTIVE, GH_ERR_AUTH},
        {"payload two objects", H_OK, P_OK P_OK, S_ACTIVE, GH_ERR_AUTH},
        {"payload not UTF-8", H_OK, "{" C_ISS ",\"sub\":\"user-\xc0\xaf\"," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID "}",
         S_ACTIVE, GH_ERR_AUTH},
        {"extra claims are fine", H_OK, P_PLUS("\"scope\":\"openid\""), S_ACTIVE, GH_OK},
    };
    RUN(cases);
}

/* ---- tampering with an honest token ---- */

static void flip_decoded(const char *seg, size_t seg_len, const char *before, const char *after,
                         bool is_sig)
{
    unsigned char raw[2048];
    size_t n = 0;
    assert_int_equal(gh_b64url_decode(seg, seg_len, raw, sizeof raw, &n), GH_OK);
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            raw[i] ^= (unsigned char)(1u << bit);
            char *e = b64(raw, n);
            size_t len = strlen(before) + strlen(e) + strlen(after) + 3;
            char *t = malloc(len);
            assert_non_null(t);
            if (is_sig)
                snprintf(t, len, "%s.%s", before, e);
            else if (*before)
                snprintf(t, len, "%s.%s.%s", before, e, after);
            else
                snprintf(t, len, "%s.%s", e, after);
            if (verify_at(t, NOW) != GH_ERR_AUTH)
                fail_msg("flipped bit %d of byte %zu accepted: %s", bit, i, t);
            free(t);
            free(e);
            raw[i] ^= (unsigned char)(1u << bit);
        }
    }
}

static void test_bit_flips(void **state)
{
    (void)state;
    char *tok = issue(NULL);
    char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    assert_int_equal(verify_at(tok, NOW), GH_OK);

    /* One bit of the decoded header / payload / signature (re-encoded validly). */
    char *hdr = strndup(tok, (size_t)(d1 - tok));
    char *pl = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
    char *sig = strdup(d2 + 1);
    char *pl_sig = join(pl, sig), *hdr_pl = join(hdr, pl);
    flip_decoded(hdr, strlen(hdr), "", pl_sig, false);
    flip_decoded(pl, strlen(pl), hdr, sig, false);
    flip_decoded(sig, strlen(sig), hdr_pl, "", true);

    /* One bit of the token text itself, anywhere. */
    size_t n = strlen(tok);
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            tok[i] ^= (char)(1 << bit);
            if (verify_at(tok, NOW) != GH_ERR_AUTH)
                fail_msg("text bit %d of char %zu accepted", bit, i);
            tok[i] ^= (char)(1 << bit);
        }
    }
    assert_int_equal(verify_at(tok, NOW), GH_OK);
    free(hdr);
    free(pl);
    free(sig);
    free(pl_sig);
    free(hdr_pl);
    gh_free(tok);
}

/* ---- shape and encoding ---- */

static void test_structure(void **state)
{
    (void)state;
    char *tok = issue(NULL);
    char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    char *hp = strndup(tok, (size_t)(d2 - tok));
    char buf[8192];

    const char *fixed[] = {"", ".", "..", "...", "a.b", "a.b.c.d", "eyJ", "Bearer"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        assert_int_equal(verify_at(fixed[i], NOW), GH_ERR_AUTH);

    /* 2 parts: header.payload, and header.payload with no signature part. */
    assert_int_equal(verify_at(hp, NOW), GH_ERR_AUTH);
    /* 4 parts: a valid token with one more segment, signed or not. */
    snprintf(buf, sizeof buf, "%s.%s", tok, d2 + 1);
    assert_int_equal(verify_at(buf, NOW), GH_ERR_AUTH);
    snprintf(buf, sizeof buf, "%s.", tok);
    assert_int_equal(verify_at(buf, NOW), GH_ERR_AUTH);
    snprintf(buf, sizeof buf, ".%s", tok);
    assert_int_equal(verify_at(buf, NOW), GH_ERR_AUTH);
    /* Missing segments. */
    snprintf(buf, sizeof buf, ".%s", d1 + 1);
    assert_int_equal(verify_at(buf, NOW), GH_ERR_AUTH);
    snprintf(buf, sizeof buf, "%.*s.%s", (int)(d1 - tok), tok, d2);
    assert_int_equal(verify_at(buf, NOW), GH_ERR_AUTH);
    /* Whitespace and scheme prefixes are the HTTP layer's business, not ours. */
    snprintf(buf, sizeof buf, " %s", tok);
    assert_int_equal(verify_at(buf, NOW), GH_ERR_AUTH);
    snprintf(buf, sizeof buf, "Bearer %s", tok);
    assert_int_equal(verify_at(buf, NOW), GH_ERR_AUTH);

    free(hp);
    gh_free(tok);
}

/* Encoding defects in a segment, signed with the real key so only the decoder can object. */
static void test_base64url_strict(void **state)
{
    (void)state;
    char *h64 = b64(H_OK, strlen(H_OK)), *p64 = b64(P_OK, strlen(P_OK));
    char si[4096], *t;

    /* Control: honest encoding passes through this very path. */
    snprintf(si, sizeof si, "%s.%s", h64, p64);
    t = sign_input(si, F.active.sk);
    assert_int_equal(verify_at(t, NOW), GH_OK);
    free(t);

    /* '=' padding on header and on payload (1 or 2 as base64 would have it, and spurious). */
    const char *pads[] = {"=", "==", "==="};
    for (size_t i = 0; i < 3; i++) {
        snprintf(si, sizeof si, "%s%s.%s", h64, pads[i], p64);
        t = sign_input(si, F.active.sk);
        assert_int_equal(verify_at(t, NOW), GH_ERR_AUTH);
        free(t);
        snprintf(si, sizeof si, "%s.%s%s", h64, p64, pads[i]);
        t = sign_input(si, F.active.sk);
        assert_int_equal(verify_at(t, NOW), GH_ERR_AUTH);
        free(t);
    }

    /* Characters outside the base64url alphabet, anywhere in the header segment. */
    const char bad[] = {'+', '/', ' ', '\n', '\t', '\0', '*', '\x80', '%'};
    size_t hl = strlen(h64);
    for (size_t c = 0; c < sizeof bad; c++) {
        for (size_t pos = 0; pos < hl; pos += 7) {
            char mod[4096];
            memcpy(mod, h64, hl);
            mod[pos] = bad[c];
            memcpy(mod + hl, ".", 1);
            memcpy(mod + hl + 1, p64, strlen(p64) + 1);
            /* Signed over the exact (odd) bytes. */
            unsigned char sig[crypto_sign_BYTES];
            size_t silen = hl + 1 + strlen(p64);
            crypto_sign_detached(sig, NULL, (unsigned char *)mod, silen, F.active.sk);
            char *s64 = b64(sig, sizeof sig);
            char full[4096];
            memcpy(full, mod, silen);
            full[silen] = '.';
            memcpy(full + silen + 1, s64, strlen(s64));
            assert_int_equal(verify_n(full, silen + 1 + strlen(s64), NOW, NULL), GH_ERR_AUTH);
            free(s64);
        }
    }

    /* The signature: padded, or with the 4 unused trailing bits set (malleable encoding). */
    snprintf(si, sizeof si, "%s.%s", h64, p64);
    t = sign_input(si, F.active.sk);
    char buf[4096];
    snprintf(buf, sizeof buf, "%s==", t);
    assert_int_equal(verify_at(buf, NOW), GH_ERR_AUTH);
    size_t tl = strlen(t);
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int idx = (int)(strchr(alpha, t[tl - 1]) - alpha);
    assert_int_equal(idx & 0xf, 0); /* 64 bytes = 85 chars + 1 char holding 2 bits */
    for (int low = 1; low < 16; low++) {
        snprintf(buf, sizeof buf, "%s", t);
        buf[tl - 1] = alpha[idx | low];
        assert_int_equal(verify_at(buf, NOW), GH_ERR_AUTH);
    }
    /* Signature of the wrong length: truncated, extended. */
    snprintf(buf, sizeof buf, "%.*s", (int)(tl - 1), t);
    assert_int_equal(verify_at(buf, NOW), GH_ERR_AUTH);
    snprintf(buf, sizeof buf, "%sAAAA", t);
    assert_int_equal(verify_at(buf, NOW), GH_ERR_AUTH);
    free(t);
    free(h64);
    free(p64);
}

/* libsodium 1.0.18 decodes every byte >= 0x80 as '_': a signature containing '_' must not gain
 * 128 other spellings that still verify. */
static void test_non_ascii_aliases(void **state)
{
    (void)state;
    char *tok = NULL;
    char *sig = NULL;
    for (int tries = 0; tries < 200; tries++) {
        gh_free(tok);
        tok = issue(NULL);
        sig = strrchr(tok, '.') + 1;
        if (strchr(sig, '_'))
            break;
    }
    char *u = strchr(sig, '_');
    assert_non_null(u);
    assert_int_equal(verify_at(tok, NOW), GH_OK);
    for (int c = 0x80; c < 0x100; c++) {
        *u = (char)c;
        assert_int_equal(verify_at(tok, NOW), GH_ERR_AUTH);
    }
    *u = '_';
    assert_int_equal(verify_at(tok, NOW), GH_OK);
    gh_free(tok);
}

static void test_oversize(void **state)
{
    (void)state;
    /* Grow a padding claim until the signed token crosses GH_JWT_MAX_LEN. */
    char pl[2 * GH_JWT_MAX_LEN];
    char pad[GH_JWT_MAX_LEN];
    size_t best_ok = 0;
    bool saw_over = false;
    for (size_t n = 2700; n < 3000 && !saw_over; n++) {
        memset(pad, 'x', n);
        pad[n] = '\0';
        snprintf(pl, sizeof pl, "{" C_ISS "," C_SUB "," C_AUD "," C_IAT "," C_EXP "," C_JTI "," C_SID ",\"pad\":\"%s\"}", pad);
        char *t = forge(H_OK, pl, S_ACTIVE);
        size_t len = strlen(t);
        gh_err rc = verify_at(t, NOW);
        if (len <= GH_JWT_MAX_LEN) {
            assert_int_equal(rc, GH_OK);
            best_ok = len;
        } else {
            assert_int_equal(rc, GH_ERR_AUTH);
            saw_over = true;
        }
        free(t);
    }
    assert_true(saw_over);
    assert_true(best_ok > GH_JWT_MAX_LEN - 4);

    /* A megabyte of junk is refused without being read. */
    size_t big = 1u << 20;
    char *junk = malloc(big);
    assert_non_null(junk);
    memset(junk, 'A', big);
    junk[100] = '.';
    junk[200] = '.';
    assert_int_equal(verify_n(junk, big, NOW, NULL), GH_ERR_AUTH);
    free(junk);
}

/* A refresh token (opaque random base64url) presented as an access token. */
static void test_opaque_refresh_token(void **state)
{
    (void)state;
    for (int i = 0; i < 32; i++) {
        unsigned char r[32];
        randombytes_buf(r, sizeof r);
        char *t = b64(r, sizeof r);
        assert_int_equal(strlen(t), 43);
        assert_int_equal(verify_at(t, NOW), GH_ERR_AUTH);
        free(t);
    }
}

static void test_verify_null_args(void **state)
{
    (void)state;
    char *tok = issue(NULL);
    struct gh_jwt_claims c;
    size_t n = strlen(tok);
    assert_int_equal(gh_jwt_verify(NULL, tok, n, ISS, AUD, NOW, &c), GH_ERR_AUTH);
    assert_int_equal(gh_jwt_verify(F.kr, NULL, n, ISS, AUD, NOW, &c), GH_ERR_AUTH);
    assert_int_equal(gh_jwt_verify(F.kr, tok, n, NULL, AUD, NOW, &c), GH_ERR_AUTH);
    assert_int_equal(gh_jwt_verify(F.kr, tok, n, ISS, NULL, NOW, &c), GH_ERR_AUTH);
    assert_int_equal(gh_jwt_verify(F.kr, tok, n, ISS, AUD, NOW, NULL), GH_ERR_AUTH);
    assert_int_equal(gh_jwt_verify(F.kr, tok, n, ISS, AUD, INT64_MAX, &c), GH_ERR_AUTH);
    assert_int_equal(gh_jwt_verify(F.kr, tok, n, ISS, AUD, INT64_MIN, &c), GH_ERR_AUTH);
    /* Verifying against an empty keyring. */
    struct gh_keyring *empty = NULL;
    assert_int_equal(gh_keyring_new(&empty), GH_OK);
    assert_int_equal(gh_jwt_verify(empty, tok, n, ISS, AUD, NOW, &c), GH_ERR_AUTH);
    gh_keyring_free(empty);
    gh_free(tok);
}

/* ---- keyring ---- */

static void test_keyring_replace_validation(void **state)
{
    (void)state;
    char *tok = issue(NULL);
    struct gh_key_material k[3] = {F.next, F.retired, F.active};

    /* No ACTIVE key. */
    assert_int_equal(gh_keyring_replace(F.kr, k, 2), GH_ERR_INVALID);
    assert_int_equal(gh_keyring_replace(F.kr, k, 0), GH_ERR_INVALID);
    assert_int_equal(gh_keyring_replace(F.kr, NULL, 1), GH_ERR_INVALID);
    assert_int_equal(gh_keyring_replace(NULL, k, 3), GH_ERR_INVALID);

    /* Duplicate kid. */
    struct gh_key_material dup[2] = {F.active, F.outsider};
    snprintf(dup[1].kid, sizeof dup[1].kid, "%s", "active-1");
    dup[1].state = GH_KEY_NEXT;
    assert_int_equal(gh_keyring_replace(F.kr, dup, 2), GH_ERR_INVALID);

    /* An ACTIVE key whose secret does not belong to its published public key. */
    struct gh_key_material mism = F.active;
    memcpy(mism.pk, F.outsider.pk, sizeof mism.pk);
    assert_int_equal(gh_keyring_replace(F.kr, &mism, 1), GH_ERR_INVALID);

    /* Bad kids and a bad state. */
    const char *bad_kids[] = {"", "a b", "a\"b", "a/b", "k\xc3\xa9", "0123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad_kids / sizeof bad_kids[0]; i++) {
        struct gh_key_material b = F.active;
        memset(b.kid, 0, sizeof b.kid);
        memcpy(b.kid, bad_kids[i], strnlen(bad_kids[i], GH_KID_MAX + 1) > GH_KID_MAX ? GH_KID_MAX + 1 : strlen(bad_kids[i]));
        assert_int_equal(gh_keyring_replace(F.kr, &b, 1), GH_ERR_INVALID);
    }
    struct gh_key_material st = F.active;
    st.state = (enum gh_key_state)7;
    assert_int_equal(gh_keyring_replace(F.kr, &st, 1), GH_ERR_INVALID);

    /* Every refusal left the previous set in place. */
    assert_int_equal(verify_at(tok, NOW), GH_OK);
    sodium_memzero(k, sizeof k);
    sodium_memzero(dup, sizeof dup);
    sodium_memzero(&mism, sizeof mism);
    gh_free(tok);
}

static void test_keyring_rotation(void **state)
{
    (void)state;
    char *t_old = issue(NULL);
    struct gh_key_material b;
    material(&b, "active-2", GH_KEY_ACTIVE);
    b.activates_at = NOW;

    /* A retires, B signs: A's tokens still verify, new ones carry B's kid. */
    struct gh_key_material a_ret = F.active;
    a_ret.state = GH_KEY_RETIRED;
    a_ret.published_until = NOW + 900;
    struct gh_key_material set1[2] = {a_ret, b};
    assert_int_equal(gh_keyring_replace(F.kr, set1, 2), GH_OK);
    assert_int_equal(verify_at(t_old, NOW), GH_OK);

    struct gh_jwt_issue in = {.iss = ISS, .aud = AUD, .sub = "u", .sid = "s", .now = NOW,
                              .ttl = 300};
    char *t_new = NULL;
    assert_int_equal(gh_jwt_sign(F.kr, &in, &t_new, NULL, NULL), GH_OK);
    struct gh_jwt_claims c;
    assert_int_equal(verify_n(t_new, strlen(t_new), NOW, &c), GH_OK);
    assert_string_equal(c.kid, "active-2");

    /* A is withdrawn: its tokens stop verifying at once; B's keep working. */
    assert_int_equal(gh_keyring_replace(F.kr, &b, 1), GH_OK);
    assert_int_equal(verify_at(t_old, NOW), GH_ERR_AUTH);
    assert_int_equal(verify_at(t_new, NOW), GH_OK);

    /* A key demoted back to NEXT no longer verifies either. */
    struct gh_key_material b_next = b;
    b_next.state = GH_KEY_NEXT;
    struct gh_key_material set2[2] = {b_next, F.active};
    assert_int_equal(gh_keyring_replace(F.kr, set2, 2), GH_OK);
    assert_int_equal(verify_at(t_new, NOW), GH_ERR_AUTH);
    assert_int_equal(verify_at(t_old, NOW), GH_OK);

    sodium_memzero(&b, sizeof b);
    sodium_memzero(&b_next, sizeof b_next);
    sodium_memzero(set1, sizeof set1);
    sodium_memzero(set2, sizeof set2);
    sodium_memzero(&a_ret, sizeof a_ret);
    gh_free(t_old);
    gh_free(t_new);
}

static void test_keyring_signs_with_newest_active(void **state)
{
    (void)state;
    struct gh_key_material k1, k2, k3;
    material(&k1, "k-old", GH_KEY_ACTIVE);
    k1.activates_at = NOW - 100;
    material(&k2, "k-new", GH_KEY_ACTIVE);
    k2.activates_at = NOW - 10;
    material(&k3, "k-next", GH_KEY_NEXT);
    k3.activates_at = NOW + 1000000;
    struct gh_key_material set[3] = {k1, k2, k3};
    assert_int_equal(gh_keyring_replace(F.kr, set, 3), GH_OK);

    struct gh_jwt_issue in = {.iss = ISS, .aud = AUD, .sub = "u", .sid = "s", .now = NOW,
                              .ttl = 300};
    char *t = NULL;
    struct gh_jwt_claims c;
    assert_int_equal(gh_jwt_sign(F.kr, &in, &t, NULL, NULL), GH_OK);
    assert_int_equal(verify_n(t, strlen(t), NOW, &c), GH_OK);
    assert_string_equal(c.kid, "k-new");
    gh_free(t);
    sodium_memzero(&k1, sizeof k1);
    sodium_memzero(&k2, sizeof k2);
    sodium_memzero(&k3, sizeof k3);
    sodium_memzero(set, sizeof set);
}

static void test_jwks(void **state)
{
    (void)state;
    json_t *doc = NULL;
    assert_int_equal(gh_keyring_jwks(F.kr, &doc), GH_OK);
    assert_true(json_is_object(doc));
    assert_int_equal(json_object_size(doc), 1);
    json_t *keys = json_object_get(doc, "keys");
    assert_true(json_is_array(keys));
    assert_int_equal(json_array_size(keys), 3);

    const struct gh_key_material *want[] = {&F.retired, &F.active, &F.next};
    bool seen[3] = {false, false, false};
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        assert_int_equal(json_object_size(k), 6); /* no "d", nothing private */
        assert_null(json_object_get(k, "d"));
        assert_string_equal(json_string_value(json_object_get(k, "kty")), "OKP");
        assert_string_equal(json_string_value(json_object_get(k, "crv")), "Ed25519");
        assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
        assert_string_equal(json_string_value(json_object_get(k, "alg")), "EdDSA");
        const char *kid = json_string_value(json_object_get(k, "kid"));
        const char *x = json_string_value(json_object_get(k, "x"));
        assert_non_null(kid);
        assert_non_null(x);
        size_t w;
        for (w = 0; w < 3; w++)
            if (strcmp(kid, want[w]->kid) == 0)
                break;
        assert_true(w < 3);
        seen[w] = true;
        unsigned char pk[64];
        size_t n = 0;
        assert_int_equal(gh_b64url_decode(x, strlen(x), pk, sizeof pk, &n), GH_OK);
        assert_int_equal(n, 32);
        assert_memory_equal(pk, want[w]->pk, 32);
    }
    assert_true(seen[0] && seen[1] && seen[2]);
    json_decref(doc);

    /* An empty keyring publishes an empty set. */
    struct gh_keyring *empty = NULL;
    assert_int_equal(gh_keyring_new(&empty), GH_OK);
    assert_int_equal(gh_keyring_jwks(empty, &doc), GH_OK);
    assert_int_equal(json_array_size(json_object_get(doc, "keys")), 0);
    json_decref(doc);
    gh_keyring_free(empty);
}

static void test_key_generate(void **state)
{
    (void)state;
    struct gh_key_material a, b;
    gh_key_generate(&a);
    gh_key_generate(&b);
    assert_int_equal(a.state, GH_KEY_NEXT);
    assert_true(gh_id_is_valid(a.kid));
    assert_string_not_equal(a.kid, b.kid);
    assert_memory_not_equal(a.pk, b.pk, sizeof a.pk);
    unsigned char pk[32];
    crypto_sign_ed25519_sk_to_pk(pk, a.sk);
    assert_memory_equal(pk, a.pk, sizeof pk);
    /* It signs and verifies as a pair. */
    unsigned char sig[64];
    crypto_sign_detached(sig, NULL, (const unsigned char *)"m", 1, a.sk);
    assert_int_equal(crypto_sign_verify_detached(sig, (const unsigned char *)"m", 1, a.pk), 0);
    sodium_memzero(&a, sizeof a);
    sodium_memzero(&b, sizeof b);
}

/* Readers keep verifying and signing while the set is swapped under them (ASan: no UAF). */
struct race {
    const char *tok;
    atomic_bool stop;
    atomic_int failures;
};

static void *race_reader(void *arg)
{
    struct race *r = arg;
    struct gh_jwt_issue in = {.iss = ISS, .aud = AUD, .sub = "u", .sid = "s", .now = NOW,
                              .ttl = 60};
    while (!atomic_load(&r->stop)) {
        struct gh_jwt_claims c;
        if (gh_jwt_verify(F.kr, r->tok, strlen(r->tok), ISS, AUD, NOW, &c) != GH_OK)
            atomic_fetch_add(&r->failures, 1);
        char *t = NULL;
        if (gh_jwt_sign(F.kr, &in, &t, NULL, NULL) != GH_OK) {
            atomic_fetch_add(&r->failures, 1);
        } else {
            /* May legitimately fail: the churned key can be withdrawn in between. */
            gh_err rc = gh_jwt_verify(F.kr, t, strlen(t), ISS, AUD, NOW, &c);
            (void)rc;
        }
        gh_free(t);
        json_t *j = NULL;
        if (gh_keyring_jwks(F.kr, &j) != GH_OK)
            atomic_fetch_add(&r->failures, 1);
        json_decref(j);
    }
    return NULL;
}

static void test_keyring_concurrent_replace(void **state)
{
    (void)state;
    char *tok = issue(NULL);
    struct race r = {.tok = tok};
    atomic_init(&r.stop, false);
    atomic_init(&r.failures, 0);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_reader, &r), 0);

    for (int i = 0; i < 200; i++) {
        /* A stays verifiable throughout (ACTIVE or RETIRED); the other keys churn. */
        struct gh_key_material fresh;
        material(&fresh, i % 2 ? "churn-odd" : "churn-even", GH_KEY_ACTIVE);
        fresh.activates_at = NOW + i;
        struct gh_key_material a = F.active;
        if (i % 3 == 0)
            a.state = GH_KEY_RETIRED;
        struct gh_key_material set[2] = {a, fresh};
        assert_int_equal(gh_keyring_replace(F.kr, set, 2), GH_OK);
        sodium_memzero(set, sizeof set);
        sodium_memzero(&fresh, sizeof fresh);
        sodium_memzero(&a, sizeof a);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&r.failures), 0);
    gh_free(tok);
}

/* Allocation failure is GH_ERR_NOMEM, never a crash, a leak or a half-made object. */
static void test_allocation_failure(void **state)
{
    (void)state;
    struct gh_jwt_issue in = {.iss = ISS, .aud = AUD, .sub = "u", .sid = "s", .now = NOW,
                              .ttl = 60};
    gh_err rc = GH_ERR_NOMEM;
    long n;
    for (n = 1; n < 50 && rc != GH_OK; n++) {
        char *t = NULL;
        gh_mem_fail_after(n);
        rc = gh_jwt_sign(F.kr, &in, &t, NULL, NULL);
        gh_mem_fail_after(0);
        if (rc == GH_OK)
            gh_free(t);
        else {
            assert_int_equal(rc, GH_ERR_NOMEM);
            assert_null(t);
        }
    }
    assert_int_equal(rc, GH_OK);
    assert_true(n > 2); /* at least one failure was injected and reported */

    struct gh_keyring *kr = NULL;
    gh_mem_fail_after(1);
    assert_int_equal(gh_keyring_new(&kr), GH_ERR_NOMEM);
    gh_mem_fail_after(0);
    assert_null(kr);

    struct gh_key_material set[2] = {F.active, F.retired};
    gh_mem_fail_after(1);
    assert_int_equal(gh_keyring_replace(F.kr, set, 2), GH_ERR_NOMEM);
    gh_mem_fail_after(0);
    sodium_memzero(set, sizeof set);
    char *tok = issue(NULL);
    assert_int_equal(verify_at(tok, NOW), GH_OK);
    gh_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sign_then_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_rejects_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_alg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hs256_key_confusion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rs256, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_kid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_typ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_key_pointers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claims_iss_aud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claims_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claims_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claims_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bit_flips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_structure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base64url_strict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_ascii_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opaque_refresh_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_null_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring_replace_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring_signs_with_newest_active, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jwks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_generate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring_concurrent_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocation_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
