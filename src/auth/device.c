/* Owns device-token encoding and its MAC check (libsodium HMAC-SHA-256, constant-time verify).
 * Trust boundary: tokens come from clients (cookie or body); nothing is trusted before the MAC. */
#include <sodium.h>
#include <string.h>

#include "auth/device.h"
#include "core/banned.h"

#define BODY_LEN (16 + GH_ID_LEN + 8)

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

void gh_device_issue(const unsigned char *key, const char *user_id, const char *device_id,
                     int64_t now, char *out)
{
    unsigned char body[BODY_LEN];
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    size_t n = 0;
    if (!device_id || gh_b64url_decode(device_id, strlen(device_id), body, 16, &n) != GH_OK ||
        n != 16)
        randombytes_buf(body, 16);
    memcpy(body + 16, user_id, GH_ID_LEN);
    put_be64(body + 16 + GH_ID_LEN, (uint64_t)now);
    crypto_auth_hmacsha256(mac, body, sizeof body, key);
    char b1[GH_B64URL_LEN(BODY_LEN) + 1], b2[GH_B64URL_LEN(sizeof mac) + 1];
    gh_b64url_encode(body, sizeof body, b1, sizeof b1);
    gh_b64url_encode(mac, sizeof mac, b2, sizeof b2);
    snprintf(out, GH_DEVICE_TOKEN_MAX + 1, "gd1.%s.%s", b1, b2);
}

bool gh_device_check(const unsigned char *key, const char *token, size_t len, const char *user_id,
                     int64_t now, char out_device_id[GH_ID_LEN + 1])
{
    unsigned char body[BODY_LEN], mac[crypto_auth_hmacsha256_BYTES];
    size_t blen = 0, mlen = 0;
    if (len < 5 || len > GH_DEVICE_TOKEN_MAX || memcmp(token, "gd1.", 4) != 0)
        return false;
    const char *p = token + 4, *end = token + len;
    const char *dot = memchr(p, '.', (size_t)(end - p));
    if (!dot)
        return false;
    if (gh_b64url_decode(p, (size_t)(dot - p), body, sizeof body, &blen) != GH_OK ||
        blen != sizeof body ||
        gh_b64url_decode(dot + 1, (size_t)(end - dot - 1), mac, sizeof mac, &mlen) != GH_OK ||
        mlen != sizeof mac)
        return false;
    if (crypto_auth_hmacsha256_verify(mac, body, sizeof body, key) != 0)
        return false;
    /* Authentic: now check it is for this account and still fresh. */
    if (!user_id || strlen(user_id) != GH_ID_LEN ||
        sodium_memcmp(body + 16, user_id, GH_ID_LEN) != 0)
        return false;
    int64_t issued = (int64_t)get_be64(body + 16 + GH_ID_LEN);
    if (issued > now + 60 || now - issued > (int64_t)GH_DEVICE_TOKEN_LIFETIME)
        return false;
    gh_b64url_encode(body, 16, out_device_id, GH_ID_LEN + 1);
    return true;
}
