/* Encryption of personal data at rest. Each user has a random data key (DEK), stored wrapped
 * under the master key (data/keywrap.h, associated data "user-dek:<user id>"). Each personal
 * field is sealed with XChaCha20-Poly1305 under that DEK, with associated data naming the user
 * and the field ("gatehouse:pii:v1:<user id>:<field>"), so a ciphertext moved to another row
 * or column does not open. Emails are found through a blind index: keyed BLAKE2b-256 of the
 * normalised (lowercased) address, under a random index key wrapped like the others — never
 * the plaintext. Erasing the wrapped DEK makes every ciphertext of the user unreadable
 * (crypto-shredding). Text form of a sealed field: "pe1." base64url(nonce ‖ ciphertext ‖ tag). */
#ifndef GH_DATA_PII_H
#define GH_DATA_PII_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "data/keywrap.h"
#include "store/store.h"

#define GH_PII_DEK_BYTES 32
#define GH_PII_INDEX_HEX 64

struct gh_pii;

/* index_key: the 32-byte blind-index key (copied into secure memory). kw is borrowed. */
GH_MUST_USE gh_err gh_pii_new(struct gh_keywrap *kw, const unsigned char *index_key,
                              struct gh_pii **out);
void gh_pii_free(struct gh_pii *p);

/* The blind index of an already-normalised email key (gh_email_normalize's key).
 * out: GH_PII_INDEX_HEX + 1. */
void gh_pii_email_index(const struct gh_pii *p, const char *email_key, char *out);

/* A new user: make a DEK, wrap it (u->dek_wrapped), seal u->email and u->display_name into
 * u->email_enc / u->display_name_enc, and set u->email_key to the blind index of email_key.
 * u->id must be set. */
GH_MUST_USE gh_err gh_pii_seal_new_user(const struct gh_pii *p, const char *email_key,
                                        struct gh_user *u);

/* Fill u->email / u->display_name from the sealed fields. GH_ERR_CRYPTO when the DEK is gone
 * (erased) or a field does not open (tampered, moved). */
GH_MUST_USE gh_err gh_pii_open_user(const struct gh_pii *p, struct gh_user *u);

/* Encrypt every user row still in plaintext (written before migration 0004), then checkpoint
 * and truncate the WAL so no plaintext page image remains. Idempotent; logs what it did. */
GH_MUST_USE gh_err gh_pii_seal_legacy_users(struct gh_store *s, const struct gh_pii *p);

/* Re-wrap a user's DEK under the current master key (master-key rotation). */
GH_MUST_USE gh_err gh_pii_rewrap_dek(const struct gh_pii *p, const char *user_id,
                                     const char *wrapped, char out[GH_WRAP_TEXT_MAX + 1]);

#endif
