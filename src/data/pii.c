/* Owns per-user data keys and field sealing. DEKs and plaintext fields exist only in
 * guarded, locked memory (core/secbuf.h slots, or sodium_malloc) or on the stack for one call,
 * and are wiped before return.
 * Trust boundary: sealed text comes from our database; it is authenticated before use. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/enc.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/secbuf.h"
#include "data/pii.h"
#include "core/banned.h"

#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define FIELD_MAX 255 /* longest plaintext field (an email: 254) */

struct gh_pii {
    struct gh_keywrap *kw;
    unsigned char *index_key; /* sodium_malloc, 32 bytes */
};

gh_err gh_pii_new(struct gh_keywrap *kw, const unsigned char *index_key, struct gh_pii **out)
{
    struct gh_pii *p = gh_calloc(1, sizeof *p);
    if (!p)
        return GH_ERR_NOMEM;
    p->index_key = sodium_malloc(32);
    if (!p->index_key) {
        gh_free(p);
        return GH_ERR_NOMEM;
    }
    memcpy(p->index_key, index_key, 32);
    p->kw = kw;
    *out = p;
    return GH_OK;
}

void gh_pii_free(struct gh_pii *p)
{
    if (!p)
        return;
    sodium_free(p->index_key);
    gh_free(p);
}

void gh_pii_email_index(const struct gh_pii *p, const char *email_key, char *out)
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)email_key, strlen(email_key),
                       p->index_key, 32);
    sodium_bin2hex(out, GH_PII_INDEX_HEX + 1, h, sizeof h);
}

static void dek_ad(const char *user_id, char *ad, size_t size)
{
    snprintf(ad, size, "user-dek:%s", user_id);
}

static void field_ad(const char *user_id, const char *field, char *ad, size_t size)
{
    snprintf(ad, size, "gatehouse:pii:v1:%s:%s", user_id, field);
}

static gh_err seal(const unsigned char *dek, const char *user_id, const char *field,
                   const char *plain, char *out, size_t out_size)
{
    unsigned char blob[NONCE + FIELD_MAX + TAG];
    char ad[96];
    size_t len = strlen(plain);
    if (len > FIELD_MAX)
        return GH_ERR_TOO_LARGE;
    field_ad(user_id, field, ad, sizeof ad);
    randombytes_buf(blob, NONCE);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(blob + NONCE, &clen, (const unsigned char *)plain,
                                               len, (const unsigned char *)ad, strlen(ad), NULL,
                                               blob, dek);
    size_t blen = NONCE + (size_t)clen;
    if (out_size < 4 + GH_B64URL_LEN(blen) + 1)
        return GH_ERR_TOO_LARGE;
    memcpy(out, "pe1.", sizeof "pe1."); /* terminated; the encoding then overwrites the NUL */
    gh_b64url_encode(blob, blen, out + 4, out_size - 4);
    return GH_OK;
}

static gh_err open_field(const unsigned char *dek, const char *user_id, const char *field,
                         const char *text, char *out, size_t out_size)
{
    unsigned char blob[NONCE + FIELD_MAX + TAG];
    char ad[96];
    size_t blen = 0;
    if (strncmp(text, "pe1.", 4) != 0 ||
        gh_b64url_decode(text + 4, strlen(text + 4), blob, sizeof blob, &blen) != GH_OK ||
        blen < NONCE + TAG || blen - NONCE - TAG >= out_size)
        return GH_ERR_CRYPTO;
    field_ad(user_id, field, ad, sizeof ad);
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)out, &plen, NULL, blob + NONCE,
                                                   blen - NONCE, (const unsigned char *)ad,
                                                   strlen(ad), blob, dek) != 0)
        return GH_ERR_CRYPTO;
    out[plen] = '\0';
    return GH_OK;
}

static gh_err unwrap_dek(const struct gh_pii *p, const char *user_id, const char *wrapped,
                         unsigned char *dek)
{
    char ad[64];
    size_t n = 0;
    dek_ad(user_id, ad, sizeof ad);
    gh_err rc = gh_keywrap_unwrap(p->kw, ad, wrapped, dek, GH_PII_DEK_BYTES, &n, NULL);
    if (rc == GH_OK && n != GH_PII_DEK_BYTES)
        rc = GH_ERR_CRYPTO;
    return rc;
}

gh_err gh_pii_seal_new_user(const struct gh_pii *p, const char *email_key, struct gh_user *u)
{
    unsigned char *dek = gh_secbuf_alloc(GH_PII_DEK_BYTES);
    char ad[64];
    gh_err rc;
    if (!dek)
        return GH_ERR_NOMEM;
    randombytes_buf(dek, GH_PII_DEK_BYTES);
    dek_ad(u->id, ad, sizeof ad);
    rc = gh_keywrap_wrap(p->kw, ad, dek, GH_PII_DEK_BYTES, u->dek_wrapped);
    if (rc == GH_OK)
        rc = seal(dek, u->id, "email", u->email, u->email_enc, sizeof u->email_enc);
    if (rc == GH_OK && u->has_display_name)
        rc = seal(dek, u->id, "display_name", u->display_name, u->display_name_enc,
                  sizeof u->display_name_enc);
    if (rc == GH_OK)
        gh_pii_email_index(p, email_key, u->email_key);
    gh_secbuf_free(dek);
    return rc;
}

gh_err gh_pii_open_user(const struct gh_pii *p, struct gh_user *u)
{
    unsigned char *dek = gh_secbuf_alloc(GH_PII_DEK_BYTES);
    if (!dek)
        return GH_ERR_NOMEM;
    gh_err rc = unwrap_dek(p, u->id, u->dek_wrapped, dek);
    if (rc == GH_OK)
        rc = open_field(dek, u->id, "email", u->email_enc, u->email, sizeof u->email);
    if (rc == GH_OK && u->has_display_name)
        rc = open_field(dek, u->id, "display_name", u->display_name_enc, u->display_name,
                        sizeof u->display_name);
    gh_secbuf_free(dek);
    if (rc != GH_OK) {
        sodium_memzero(u->email, sizeof u->email);
        sodium_memzero(u->display_name, sizeof u->display_name);
    }
    return rc;
}

gh_err gh_pii_rewrap_dek(const struct gh_pii *p, const char *user_id, const char *wrapped,
                         char out[GH_WRAP_TEXT_MAX + 1])
{
    unsigned char *dek = gh_secbuf_alloc(GH_PII_DEK_BYTES);
    char ad[64];
    if (!dek)
        return GH_ERR_NOMEM;
    gh_err rc = unwrap_dek(p, user_id, wrapped, dek);
    dek_ad(user_id, ad, sizeof ad);
    if (rc == GH_OK)
        rc = gh_keywrap_wrap(p->kw, ad, dek, GH_PII_DEK_BYTES, out);
    gh_secbuf_free(dek);
    return rc;
}

gh_err gh_pii_seal_legacy_users(struct gh_store *s, const struct gh_pii *p)
{
    long sealed = 0;
    for (;;) {
        struct gh_user *batch = NULL;
        size_t n = 0;
        gh_err rc = gh_store_users_legacy(s, 256, &batch, &n);
        if (rc != GH_OK)
            return rc;
        for (size_t i = 0; i < n && rc == GH_OK; i++) {
            char key[GH_EMAIL_KEY_MAX + 1];
            snprintf(key, sizeof key, "%s", batch[i].email_key);
            rc = gh_pii_seal_new_user(p, key, &batch[i]);
            if (rc == GH_OK)
                rc = gh_store_user_seal_legacy(s, &batch[i]);
            sodium_memzero(key, sizeof key);
            sealed++;
        }
        sodium_memzero(batch, n * sizeof *batch);
        gh_free(batch);
        if (rc != GH_OK)
            return rc;
        if (n < 256)
            break;
    }
    if (sealed == 0)
        return GH_OK;
    gh_err rc = gh_store_checkpoint(s);
    gh_log(GH_LOG_INFO, "encrypted personal data written before encryption at rest", NULL,
           "pii_legacy_sealed",
           json_pack("{s:I,s:s}", "users", (json_int_t)sealed, "wal",
                     rc == GH_OK ? "truncated" : "busy"));
    return GH_OK;
}
