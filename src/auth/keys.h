/* Signing-key lifecycle (generate, rotate, retire, revoke) over the store, and the random
 * working keys (refresh-token hashing key, …) wrapped under the master key.
 * A key's state is derived from its row and the clock: revoked → gone; activates_at in the
 * future → NEXT; the newest active → ACTIVE; older ones → RETIRED, published until the last
 * token they signed has expired (superseded_at + token ttl + leeway). */
#ifndef GH_AUTH_KEYS_H
#define GH_AUTH_KEYS_H

#include <stdint.h>
#include <stdio.h>

#include "auth/jwt.h"
#include "core/err.h"
#include "data/keywrap.h"
#include "store/store.h"

/* Make sure one key can sign now: generates and stores an active key when none is. */
GH_MUST_USE gh_err gh_keys_ensure(struct gh_store *s, struct gh_keywrap *kw, int64_t now);

/* Load every live key into kr (unwrapping private keys). token_ttl decides how long retired
 * keys stay. */
GH_MUST_USE gh_err gh_keys_load(struct gh_store *s, struct gh_keywrap *kw, int64_t now,
                                int64_t token_ttl, struct gh_keyring *kr);

/* Add a new key that starts signing activate_in seconds from now (published at once). */
GH_MUST_USE gh_err gh_keys_rotate(struct gh_store *s, struct gh_keywrap *kw, int64_t now,
                                  int64_t activate_in, char out_kid[GH_KID_MAX + 1]);

/* Scheduled rotation: when the newest live key was created interval seconds ago or more, add a
 * key that signs publish_ahead seconds from now. *out_kid is "" when nothing was due. */
GH_MUST_USE gh_err gh_keys_rotate_if_due(struct gh_store *s, struct gh_keywrap *kw, int64_t now,
                                         int64_t interval, int64_t publish_ahead,
                                         char out_kid[GH_KID_MAX + 1]);

/* Withdraw kid at once; when no other key can sign, a new one is activated immediately.
 * GH_ERR_NOT_FOUND for an unknown or already revoked kid. */
GH_MUST_USE gh_err gh_keys_revoke(struct gh_store *s, struct gh_keywrap *kw, const char *kid,
                                  int64_t now);

/* Master-key rotation: re-wrap every wrapped secret (signing keys, working keys, every user's
 * data key) that is not yet under kw's current master key. Needs kw made with the previous key
 * too. No user data is re-encrypted. *out_rewrapped counts what changed, *out_left what still
 * is not under the current key afterwards (non-zero: something wrote with the old key
 * meanwhile — run it again once every instance uses the new key). */
GH_MUST_USE gh_err gh_keys_rotate_master(struct gh_store *s, struct gh_keywrap *kw,
                                         long *out_rewrapped, long *out_left);

/* Print the key table (kid, state, created, activates) for `gatehouse keys list`. */
GH_MUST_USE gh_err gh_keys_print(struct gh_store *s, int64_t now, int64_t token_ttl, FILE *f);

/* Load the named random 32-byte working key, creating it on first use. out: 32 bytes. */
GH_MUST_USE gh_err gh_keys_working_key(struct gh_store *s, struct gh_keywrap *kw,
                                       const char *name, int64_t now, unsigned char *out);

#endif
