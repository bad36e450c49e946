/* Owns the Ed25519 keyring: immutable, refcounted key-set snapshots swapped under a rwlock, the
 * JWKS, and key generation. Secret keys live only in sodium_malloc memory and die (wiped) with
 * the last reference to their snapshot. Trust boundary: key material comes from the operator. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "auth/jwt.h"
#include "auth/keyring_internal.h"
#include "core/enc.h"
#include "core/mem.h"
#include "core/banned.h"


#define KEYRING_MAX 64 /* keys per set: a rotation keeps a handful */

struct ks_key {
    char kid[GH_KID_MAX + 1];
    size_t kid_len;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char *sk; /* sodium_malloc'd, read-only; only ACTIVE keys keep one */
    enum gh_key_state state;
    int64_t activates_at;
    int64_t published_until;
};

struct gh_keyset {
    atomic_size_t refs; /* one for the keyring while current, one per acquire */
    size_t n;
    size_t signer; /* index of the ACTIVE key with the greatest activates_at */
    struct ks_key keys[];
};

struct gh_keyring {
    pthread_rwlock_t lock; /* guards the set pointer only, never the crypto */
    struct gh_keyset *set;
};

static void keyset_free(struct gh_keyset *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++)
        sodium_free(ks->keys[i].sk); /* wipes; NULL-safe */
    sodium_memzero(ks, sizeof *ks + ks->n * sizeof ks->keys[0]);
    gh_free(ks);
}

struct gh_keyset *gh_keyring_acquire(struct gh_keyring *kr)
{
    struct gh_keyset *ks;
    pthread_rwlock_rdlock(&kr->lock);
    ks = kr->set;
    if (ks)
        atomic_fetch_add(&ks->refs, 1);
    pthread_rwlock_unlock(&kr->lock);
    return ks;
}

void gh_keyring_release(struct gh_keyset *ks)
{
    if (ks && atomic_fetch_sub(&ks->refs, 1) == 1)
        keyset_free(ks);
}

const char *gh_keyset_signer_kid(const struct gh_keyset *ks)
{
    return ks->keys[ks->signer].kid;
}

int gh_keyset_sign(const struct gh_keyset *ks, const unsigned char *msg, size_t len,
                   unsigned char sig[crypto_sign_BYTES])
{
    const struct ks_key *k = &ks->keys[ks->signer];
    if (!k->sk)
        return -1;
    return crypto_sign_detached(sig, NULL, msg, len, k->sk);
}

bool gh_keyset_verify(const struct gh_keyset *ks, const char *kid, size_t kid_len,
                      const unsigned char *msg, size_t len,
                      const unsigned char sig[crypto_sign_BYTES], int64_t *out_valid_until)
{
    for (size_t i = 0; i < ks->n; i++) {
        const struct ks_key *k = &ks->keys[i];
        if (k->kid_len != kid_len || memcmp(k->kid, kid, kid_len) != 0)
            continue;
        /* A NEXT key has signed nothing yet: a token naming it is forged by definition. */
        if (k->state != GH_KEY_ACTIVE && k->state != GH_KEY_RETIRED)
            return false;
        if (crypto_sign_verify_detached(sig, msg, len, k->pk) != 0)
            return false;
        *out_valid_until = k->state == GH_KEY_RETIRED ? k->published_until : 0;
        return true;
    }
    return false;
}

gh_err gh_keyring_new(struct gh_keyring **out)
{
    gh_err rc = GH_OK;
    struct gh_keyring *kr = NULL;

    *out = NULL;
    kr = gh_calloc(1, sizeof *kr);
    if (!kr) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    if (pthread_rwlock_init(&kr->lock, NULL) != 0) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    *out = kr;
    kr = NULL;
out:
    gh_free(kr);
    return rc;
}

void gh_keyring_free(struct gh_keyring *kr)
{
    if (!kr)
        return;
    gh_keyring_release(kr->set);
    pthread_rwlock_destroy(&kr->lock);
    gh_free(kr);
}

/* kids travel in JOSE headers, JWKS and logs: keep them to a dull, unambiguous alphabet. */
static bool kid_is_valid(const char *kid, size_t *out_len)
{
    size_t n = strnlen(kid, GH_KID_MAX + 1);
    if (n == 0 || n > GH_KID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = kid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    *out_len = n;
    return true;
}

/* Copy one key in. An ACTIVE key's secret is re-derived from its seed so that what we sign with
 * is provably the public key we publish. */
static gh_err key_copy(struct ks_key *dst, const struct gh_key_material *src)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];

    if (!kid_is_valid(src->kid, &dst->kid_len))
        return GH_ERR_INVALID;
    if (src->state != GH_KEY_NEXT && src->state != GH_KEY_ACTIVE && src->state != GH_KEY_RETIRED)
        return GH_ERR_INVALID;
    memcpy(dst->kid, src->kid, dst->kid_len);
    dst->kid[dst->kid_len] = '\0';
    memcpy(dst->pk, src->pk, sizeof dst->pk);
    dst->state = src->state;
    dst->activates_at = src->activates_at;
    dst->published_until = src->published_until;
    if (src->state != GH_KEY_ACTIVE)
        return GH_OK;

    dst->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!dst->sk)
        return GH_ERR_NOMEM;
    /* sk = seed ‖ pk; derive the key pair from the seed. */
    if (crypto_sign_seed_keypair(pk, dst->sk, src->sk) != 0 ||
        sodium_memcmp(pk, src->pk, sizeof pk) != 0)
        return GH_ERR_INVALID; /* caller frees dst->sk with the set */
    sodium_mprotect_readonly(dst->sk);
    return GH_OK;
}

gh_err gh_keyring_replace(struct gh_keyring *kr, const struct gh_key_material *keys, size_t n)
{
    gh_err rc = GH_OK;
    struct gh_keyset *ks = NULL, *old = NULL;
    bool have_signer = false;

    if (!kr || !keys || n == 0 || n > KEYRING_MAX) {
        rc = GH_ERR_INVALID;
        goto out;
    }
    ks = gh_calloc(1, sizeof *ks + n * sizeof ks->keys[0]);
    if (!ks) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    atomic_init(&ks->refs, 1);
    for (size_t i = 0; i < n; i++) {
        ks->n = i + 1; /* so that keyset_free sees every sk allocated so far */
        rc = key_copy(&ks->keys[i], &keys[i]);
        if (rc != GH_OK)
            goto out;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ks->keys[j].kid, ks->keys[i].kid) == 0) {
                rc = GH_ERR_INVALID;
                goto out;
            }
        }
        if (ks->keys[i].state == GH_KEY_ACTIVE &&
            (!have_signer || ks->keys[i].activates_at > ks->keys[ks->signer].activates_at)) {
            ks->signer = i;
            have_signer = true;
        }
    }
    if (!have_signer) {
        rc = GH_ERR_INVALID;
        goto out;
    }

    pthread_rwlock_wrlock(&kr->lock);
    old = kr->set;
    kr->set = ks;
    pthread_rwlock_unlock(&kr->lock);
    ks = NULL;
out:
    gh_keyring_release(old); /* freed now, or by the last reader still holding it */
    keyset_free(ks);
    return rc;
}

gh_err gh_keyring_jwks(struct gh_keyring *kr, json_t **out)
{
    gh_err rc = GH_OK;
    struct gh_keyset *ks = NULL;
    json_t *doc = NULL, *arr = NULL;

    *out = NULL;
    arr = json_array();
    if (!arr) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    ks = kr ? gh_keyring_acquire(kr) : NULL;
    for (size_t i = 0; ks && i < ks->n; i++) {
        char x[GH_B64URL_LEN(crypto_sign_PUBLICKEYBYTES) + 1];
        json_t *jwk;
        gh_b64url_encode(ks->keys[i].pk, sizeof ks->keys[i].pk, x, sizeof x);
        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x,
                        "kid", ks->keys[i].kid, "use", "sig", "alg", "EdDSA");
        if (!jwk || json_array_append_new(arr, jwk) != 0) {
            rc = GH_ERR_NOMEM;
            goto out;
        }
    }
    doc = json_object();
    if (!doc) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    /* json_object_set_new consumes arr even when it fails. */
    int set_rc = json_object_set_new(doc, "keys", arr);
    arr = NULL;
    if (set_rc != 0) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    *out = doc;
    doc = NULL;
out:
    gh_keyring_release(ks);
    json_decref(doc);
    json_decref(arr);
    return rc;
}

void gh_key_generate(struct gh_key_material *out)
{
    char kid[GH_ID_LEN + 1];

    sodium_memzero(out, sizeof *out);
    crypto_sign_keypair(out->pk, out->sk);
    gh_random_id(kid);
    memcpy(out->kid, kid, sizeof kid);
    out->state = GH_KEY_NEXT;
}
