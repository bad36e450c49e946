/* Owns signing and verification of at+jwt access tokens (JWS compact, EdDSA/Ed25519 only).
 * Nothing here outlives a call: the key set is pinned for the duration and released.
 * Trust boundary: gh_jwt_verify reads attacker bytes; no claim is parsed before the signature. */
#include <stdint.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "auth/jwt.h"
#include "auth/keyring_internal.h"
#include "core/enc.h"
#include "core/mem.h"
#include "core/banned.h"


#define JWT_ALG "EdDSA"
#define JWT_TYP "at+jwt"
#define JWT_SIG_B64_LEN 86   /* 64 bytes, base64url without padding */
#define JWT_STR_MAX 255      /* iss and aud when signing */

/* Exact length of unpadded base64url text for n bytes. */
static size_t b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

static bool str_ok(const char *s, size_t max)
{
    size_t n;
    if (!s)
        return false;
    n = strnlen(s, max + 1);
    return n >= 1 && n <= max;
}

/* Serialize compactly into buf; GH_ERR_INVALID if it does not fit. */
static gh_err dump(const json_t *j, char *buf, size_t size, size_t *out_len)
{
    size_t n = json_dumpb(j, buf, size, JSON_COMPACT | JSON_SORT_KEYS);
    if (n == 0)
        return GH_ERR_NOMEM;
    if (n > size)
        return GH_ERR_INVALID;
    *out_len = n;
    return GH_OK;
}

static gh_err pack_error(const json_error_t *err)
{
    return json_error_code(err) == json_error_out_of_memory ? GH_ERR_NOMEM : GH_ERR_INVALID;
}

gh_err gh_jwt_sign(struct gh_keyring *kr, const struct gh_jwt_issue *in, char **out,
                   char out_jti[GH_CLAIM_MAX + 1], int64_t *out_exp)
{
    gh_err rc = GH_OK;
    struct gh_keyset *ks = NULL;
    json_t *hdr = NULL, *claims = NULL;
    json_error_t jerr;
    char jti[GH_ID_LEN + 1];
    char hjson[256];
    char pjson[GH_JWT_MAX_LEN];
    size_t hlen = 0, plen = 0, h64, p64, total, signed_len;
    unsigned char sig[crypto_sign_BYTES];
    char *tok = NULL;
    int64_t exp;

    if (out)
        *out = NULL;
    if (!kr || !in || !out || !str_ok(in->iss, JWT_STR_MAX) || !str_ok(in->aud, JWT_STR_MAX) ||
        !str_ok(in->sub, GH_CLAIM_MAX) || !str_ok(in->sid, GH_CLAIM_MAX) || in->ttl <= 0 ||
        __builtin_add_overflow(in->now, in->ttl, &exp)) {
        rc = GH_ERR_INVALID;
        goto out;
    }
    ks = gh_keyring_acquire(kr);
    if (!ks) {
        rc = GH_ERR_INTERNAL; /* no key loaded: start-up should have refused */
        goto out;
    }
    gh_random_id(jti);

    hdr = json_pack_ex(&jerr, 0, "{s:s, s:s, s:s}", "alg", JWT_ALG, "kid",
                       gh_keyset_signer_kid(ks), "typ", JWT_TYP);
    if (!hdr) {
        rc = pack_error(&jerr);
        goto out;
    }
    claims = json_pack_ex(&jerr, 0, "{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "iss", in->iss, "sub",
                          in->sub, "aud", in->aud, "iat", (json_int_t)in->now, "exp",
                          (json_int_t)exp, "jti", jti, "sid", in->sid);
    if (!claims) {
        rc = pack_error(&jerr); /* e.g. iss that is not UTF-8 */
        goto out;
    }
    rc = dump(hdr, hjson, sizeof hjson, &hlen);
    if (rc != GH_OK)
        goto out;
    rc = dump(claims, pjson, sizeof pjson, &plen);
    if (rc != GH_OK)
        goto out;

    h64 = b64url_len(hlen);
    p64 = b64url_len(plen);
    signed_len = h64 + 1 + p64;
    total = signed_len + 1 + JWT_SIG_B64_LEN;
    if (total > GH_JWT_MAX_LEN) {
        rc = GH_ERR_INVALID; /* our own verifier would refuse it */
        goto out;
    }
    tok = gh_malloc(total + 1);
    if (!tok) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    /* Each encode writes a NUL that the next separator overwrites. */
    gh_b64url_encode((const unsigned char *)hjson, hlen, tok, total + 1);
    tok[h64] = '.';
    gh_b64url_encode((const unsigned char *)pjson, plen, tok + h64 + 1, total + 1 - (h64 + 1));
    if (gh_keyset_sign(ks, (const unsigned char *)tok, signed_len, sig) != 0) {
        rc = GH_ERR_CRYPTO;
        goto out;
    }
    tok[signed_len] = '.';
    gh_b64url_encode(sig, sizeof sig, tok + signed_len + 1, total + 1 - (signed_len + 1));

    *out = tok;
    tok = NULL;
    if (out_jti)
        memcpy(out_jti, jti, sizeof jti);
    if (out_exp)
        *out_exp = exp;
out:
    gh_free(tok);
    json_decref(claims);
    json_decref(hdr);
    gh_keyring_release(ks);
    return rc;
}

/* Only the base64url alphabet and the two separators. The shared decoder (libsodium 1.0.18)
 * reads every byte >= 0x80 as '_', so without this one token would have many spellings. */
static bool token_chars_ok(const char *t, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* Decode one base64url segment and parse it as a JSON object (duplicates refused). */
static gh_err segment_json(const char *b64, size_t len, json_t **out)
{
    unsigned char buf[GH_JWT_MAX_LEN];
    size_t n = 0;
    json_error_t jerr;

    *out = NULL;
    if (len == 0 || gh_b64url_decode(b64, len, buf, sizeof buf, &n) != GH_OK)
        return GH_ERR_AUTH;
    *out = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!*out)
        return json_error_code(&jerr) == json_error_out_of_memory ? GH_ERR_NOMEM : GH_ERR_AUTH;
    if (!json_is_object(*out))
        return GH_ERR_AUTH; /* caller decrefs */
    return GH_OK;
}

static bool str_eq(const json_t *j, const char *want)
{
    size_t n = strlen(want);
    return json_is_string(j) && json_string_length(j) == n &&
           memcmp(json_string_value(j), want, n) == 0;
}

/* RFC 7519 §4.1.3: aud is a string or an array of strings, one of which must be ours. */
static bool aud_ok(const json_t *j, const char *aud)
{
    size_t i;
    const json_t *v;
    bool found = false;

    if (json_is_string(j))
        return str_eq(j, aud);
    if (!json_is_array(j))
        return false;
    json_array_foreach(j, i, v)
    {
        if (!json_is_string(v))
            return false;
        found = found || str_eq(v, aud);
    }
    return found;
}

static bool id_claim(const json_t *pl, const char *name, char out[GH_CLAIM_MAX + 1])
{
    const json_t *j = json_object_get(pl, name);
    size_t n;
    if (!json_is_string(j))
        return false;
    n = json_string_length(j);
    if (n < 1 || n > GH_CLAIM_MAX)
        return false;
    memcpy(out, json_string_value(j), n);
    out[n] = '\0';
    return true;
}

static bool int_claim(const json_t *pl, const char *name, int64_t *out)
{
    const json_t *j = json_object_get(pl, name);
    if (!json_is_integer(j))
        return false;
    *out = (int64_t)json_integer_value(j);
    return true;
}

/* Header rules (RFC 8725): the algorithm is pinned by the key, and nothing in the header may
 * point us at other keys. Only the three members we ever write are allowed, which also refuses
 * jku, x5u, jwk, x5c and crit (checked by name as well, so that widening the allow-list later
 * cannot quietly let them in). */
static bool header_ok(const json_t *hdr, const char **out_kid, size_t *out_kid_len)
{
    static const char *const forbidden[] = {"jku", "x5u", "jwk", "x5c", "crit"};
    const json_t *kid = json_object_get(hdr, "kid");

    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++)
        if (json_object_get(hdr, forbidden[i]))
            return false;
    if (json_object_size(hdr) != 3)
        return false;
    if (!str_eq(json_object_get(hdr, "alg"), JWT_ALG) ||
        !str_eq(json_object_get(hdr, "typ"), JWT_TYP))
        return false;
    if (!json_is_string(kid) || json_string_length(kid) < 1 ||
        json_string_length(kid) > GH_KID_MAX)
        return false;
    *out_kid = json_string_value(kid);
    *out_kid_len = json_string_length(kid);
    return true;
}

gh_err gh_jwt_verify(struct gh_keyring *kr, const char *token, size_t len, const char *iss,
                     const char *aud, int64_t now, struct gh_jwt_claims *out)
{
    gh_err rc = GH_ERR_AUTH;
    struct gh_keyset *ks = NULL;
    json_t *hdr = NULL, *pl = NULL;
    const char *dot1, *dot2, *kid = NULL;
    size_t kid_len = 0, sig_len = 0;
    unsigned char sig[crypto_sign_BYTES];
    int64_t valid_until = 0, exp = 0, iat = 0, nbf = 0;
    struct gh_jwt_claims c;

    memset(&c, 0, sizeof c);
    if (out)
        memset(out, 0, sizeof *out);
    if (!kr || !token || !iss || !aud || !out)
        goto out;
    /* Keep now ± leeway arithmetic defined whatever the claims say. */
    if (now < INT64_MIN + GH_JWT_LEEWAY || now > INT64_MAX - GH_JWT_LEEWAY)
        goto out;
    if (len == 0 || len > GH_JWT_MAX_LEN || !token_chars_ok(token, len))
        goto out;

    /* Exactly three segments. */
    dot1 = memchr(token, '.', len);
    if (!dot1)
        goto out;
    dot2 = memchr(dot1 + 1, '.', (size_t)(token + len - (dot1 + 1)));
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(token + len - (dot2 + 1))))
        goto out;

    rc = segment_json(token, (size_t)(dot1 - token), &hdr);
    if (rc != GH_OK)
        goto out;
    rc = GH_ERR_AUTH;
    if (!header_ok(hdr, &kid, &kid_len))
        goto out;

    if ((size_t)(token + len - (dot2 + 1)) != JWT_SIG_B64_LEN ||
        gh_b64url_decode(dot2 + 1, JWT_SIG_B64_LEN, sig, sizeof sig, &sig_len) != GH_OK ||
        sig_len != sizeof sig)
        goto out;
    ks = gh_keyring_acquire(kr);
    if (!ks || !gh_keyset_verify(ks, kid, kid_len, (const unsigned char *)token,
                                 (size_t)(dot2 - token), sig, &valid_until))
        goto out;
    memcpy(c.kid, kid, kid_len);
    c.kid[kid_len] = '\0';

    /* Signed: only now is the payload worth reading. */
    rc = segment_json(dot1 + 1, (size_t)(dot2 - (dot1 + 1)), &pl);
    if (rc != GH_OK)
        goto out;
    rc = GH_ERR_AUTH;
    if (!str_eq(json_object_get(pl, "iss"), iss) || !aud_ok(json_object_get(pl, "aud"), aud))
        goto out;
    if (!id_claim(pl, "sub", c.sub) || !id_claim(pl, "sid", c.sid) || !id_claim(pl, "jti", c.jti))
        goto out;
    if (!int_claim(pl, "exp", &exp) || !int_claim(pl, "iat", &iat))
        goto out;
    if (exp <= now - GH_JWT_LEEWAY || iat > now + GH_JWT_LEEWAY)
        goto out;
    if (json_object_get(pl, "nbf") &&
        (!int_claim(pl, "nbf", &nbf) || nbf > now + GH_JWT_LEEWAY))
        goto out;
    /* A retired key stopped signing; nothing it signed honestly outlives published_until. */
    if (valid_until > 0 && exp > valid_until)
        goto out;
    c.exp = exp;
    c.iat = iat;
    *out = c;
    rc = GH_OK;
out:
    sodium_memzero(&c, sizeof c);
    json_decref(pl);
    json_decref(hdr);
    gh_keyring_release(ks);
    return rc;
}
