/* Owns the key-encryption keys derived from the master key(s), in sodium_malloc memory.
 * Trust boundary: wrapped text comes from our own database; it is authenticated before use. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/enc.h"
#include "core/mem.h"
#include "data/keywrap.h"
#include "core/banned.h"

#define KEK_ID_LEN 16

struct kek {
    unsigned char *key; /* sodium_malloc, 32 bytes */
    char id[KEK_ID_LEN + 1];
};

struct gh_keywrap {
    struct kek cur;
    struct kek prev;
};

static gh_err kek_init(struct kek *k, const unsigned char *master)
{
    k->key = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    if (!k->key)
        return GH_ERR_NOMEM;
    crypto_kdf_derive_from_key(k->key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, 1, "ghwrapk1",
                               master);
    unsigned char idraw[8];
    unsigned char idkey[32];
    crypto_kdf_derive_from_key(idkey, sizeof idkey, 2, "ghwrapk1", master);
    crypto_generichash(idraw, sizeof idraw, (const unsigned char *)"kek-id", 6, idkey,
                       sizeof idkey);
    sodium_memzero(idkey, sizeof idkey);
    sodium_bin2hex(k->id, sizeof k->id, idraw, sizeof idraw);
    return GH_OK;
}

gh_err gh_keywrap_new(const unsigned char *master, const unsigned char *previous,
                      struct gh_keywrap **out)
{
    struct gh_keywrap *kw = gh_calloc(1, sizeof *kw);
    if (!kw)
        return GH_ERR_NOMEM;
    gh_err rc = kek_init(&kw->cur, master);
    if (rc == GH_OK && previous)
        rc = kek_init(&kw->prev, previous);
    if (rc != GH_OK) {
        gh_keywrap_free(kw);
        return rc;
    }
    *out = kw;
    return GH_OK;
}

void gh_keywrap_free(struct gh_keywrap *kw)
{
    if (!kw)
        return;
    sodium_free(kw->cur.key);
    sodium_free(kw->prev.key);
    gh_free(kw);
}

#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

gh_err gh_keywrap_wrap(struct gh_keywrap *kw, const char *ad, const unsigned char *in, size_t len,
                       char out[GH_WRAP_TEXT_MAX + 1])
{
    unsigned char blob[NONCE + GH_WRAP_PLAIN_MAX + TAG];
    if (len > GH_WRAP_PLAIN_MAX)
        return GH_ERR_TOO_LARGE;
    randombytes_buf(blob, NONCE);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(blob + NONCE, &clen, in, len,
                                               (const unsigned char *)ad, strlen(ad), NULL, blob,
                                               kw->cur.key);
    char b64[GH_B64URL_LEN(sizeof blob) + 1];
    gh_b64url_encode(blob, NONCE + (size_t)clen, b64, sizeof b64);
    int n = snprintf(out, GH_WRAP_TEXT_MAX + 1, "gk1.%s.%s", kw->cur.id, b64);
    return (n > 0 && n <= GH_WRAP_TEXT_MAX) ? GH_OK : GH_ERR_TOO_LARGE;
}

gh_err gh_keywrap_unwrap(struct gh_keywrap *kw, const char *ad, const char *text,
                         unsigned char *out, size_t out_max, size_t *out_len, bool *out_by_previous)
{
    unsigned char blob[NONCE + GH_WRAP_PLAIN_MAX + TAG];
    size_t blen = 0;
    if (strncmp(text, "gk1.", 4) != 0 || strlen(text) < 4 + KEK_ID_LEN + 1 ||
        text[4 + KEK_ID_LEN] != '.')
        return GH_ERR_CRYPTO;
    const char *id = text + 4;
    const char *b64 = id + KEK_ID_LEN + 1;
    const struct kek *k = NULL;
    if (memcmp(id, kw->cur.id, KEK_ID_LEN) == 0)
        k = &kw->cur;
    else if (kw->prev.key && memcmp(id, kw->prev.id, KEK_ID_LEN) == 0)
        k = &kw->prev;
    if (!k)
        return GH_ERR_CRYPTO;
    if (gh_b64url_decode(b64, strlen(b64), blob, sizeof blob, &blen) != GH_OK ||
        blen < NONCE + TAG || blen - NONCE - TAG > out_max)
        return GH_ERR_CRYPTO;
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, blob + NONCE, blen - NONCE,
                                                   (const unsigned char *)ad, strlen(ad), blob,
                                                   k->key) != 0)
        return GH_ERR_CRYPTO;
    *out_len = (size_t)plen;
    if (out_by_previous)
        *out_by_previous = (k == &kw->prev);
    return GH_OK;
}

bool gh_keywrap_is_current(const struct gh_keywrap *kw, const char *text)
{
    return strncmp(text, "gk1.", 4) == 0 && strlen(text) > 4 + KEK_ID_LEN &&
           memcmp(text + 4, kw->cur.id, KEK_ID_LEN) == 0 && text[4 + KEK_ID_LEN] == '.';
}

gh_err gh_keywrap_rewrap(struct gh_keywrap *kw, const char *ad, const char *text,
                         char out[GH_WRAP_TEXT_MAX + 1])
{
    unsigned char *plain = sodium_malloc(GH_WRAP_PLAIN_MAX);
    size_t n = 0;
    if (!plain)
        return GH_ERR_NOMEM;
    gh_err rc = gh_keywrap_unwrap(kw, ad, text, plain, GH_WRAP_PLAIN_MAX, &n, NULL);
    if (rc == GH_OK)
        rc = gh_keywrap_wrap(kw, ad, plain, n, out);
    sodium_free(plain);
    return rc;
}
