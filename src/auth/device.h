/* Known-device credentials (OWASP "device cookie" pattern against lockout DoS): after a
 * successful login the client gets a token that names a random device id and the user, MACed
 * with the device key (a random working key wrapped under the master key). While an account is
 * locked, a login that presents a valid device token for that same account uses the device's own
 * failure budget instead of the account's. A token for one account gives nothing on another.
 * Text form: "gd1." base64url(device id 16 ‖ user id 22 ‖ issued-at 8, big-endian) "."
 * base64url(HMAC-SHA-256). */
#ifndef GH_AUTH_DEVICE_H
#define GH_AUTH_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/enc.h"
#include "core/err.h"

#define GH_DEVICE_TOKEN_MAX 160
#define GH_DEVICE_TOKEN_LIFETIME (180 * 86400)

/* A token for user_id; device_id (22 chars) reuses an existing device id, or NULL for a new one.
 * out: GH_DEVICE_TOKEN_MAX + 1. key: 32 bytes. */
void gh_device_issue(const unsigned char *key, const char *user_id, const char *device_id,
                     int64_t now, char *out);

/* Is token a valid, unexpired device token for user_id? Fills out_device_id (GH_ID_LEN + 1). */
bool gh_device_check(const unsigned char *key, const char *token, size_t len, const char *user_id,
                     int64_t now, char out_device_id[GH_ID_LEN + 1]);

#endif
