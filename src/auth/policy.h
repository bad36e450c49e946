/* Password policy for new passwords (NIST SP 800-63B §5.1.1.2): length in code points after
 * NFKC, no composition rules, a zxcvbn guessability floor, a built-in list of common passwords
 * and an optional breached-password file in the public "Pwned Passwords" SHA-1 format.
 * Trust boundary: passwords and context strings come from clients; the breached file from the
 * operator (it is parsed with bounds, never trusted to be well formed). */
#ifndef GH_AUTH_POLICY_H
#define GH_AUTH_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define GH_POLICY_MIN_CHARS_FLOOR 8u /* NIST: never fewer than 8 */
#define GH_POLICY_MIN_CHARS_DEFAULT 12u
#define GH_POLICY_MAX_CHARS_FLOOR 128u /* accept at least this many code points */
#define GH_POLICY_MAX_CHARS_DEFAULT 128u
#define GH_POLICY_MAX_BYTES 1024u          /* hard cap on the normalised UTF-8 form, in bytes */
#define GH_POLICY_MIN_ENTROPY_DEFAULT 26.6 /* bits ≈ zxcvbn score 3, 10^8 guesses */
/* Longest input gh_policy_normalize accepts (bytes, before normalisation). */
#define GH_POLICY_INPUT_MAX 4096u

struct gh_policy_config {
    size_t min_chars;        /* code points, >= GH_POLICY_MIN_CHARS_FLOOR */
    size_t max_chars;        /* code points, >= GH_POLICY_MAX_CHARS_FLOOR, <= GH_POLICY_MAX_BYTES */
    double min_entropy_bits; /* zxcvbn estimate, 0 .. 256 */
    const char *breached_path; /* Pwned Passwords SHA-1 file; NULL: no breached check */
};

struct gh_policy;

/* The defaults above, no breached file. */
void gh_policy_config_default(struct gh_policy_config *out);

/* Validate cfg, map the breached file read-only (checking that its first and last lines parse
 * and are in order) and index the built-in list. GH_ERR_CONFIG for a bad setting, GH_ERR_IO
 * when the file cannot be opened or mapped, GH_ERR_INVALID when it is not in the format. */
GH_MUST_USE gh_err gh_policy_open(const struct gh_policy_config *cfg, struct gh_policy **out);

/* NULL-safe. Unmaps the breached file. */
void gh_policy_free(struct gh_policy *p);

/* NFKC-normalise pw (len bytes of UTF-8). *out is sodium_malloc memory, NUL-terminated,
 * *out_len bytes without the NUL; the caller wipes it (sodium_memzero) and sodium_free()s it.
 * GH_ERR_INVALID for invalid UTF-8 or a NUL byte, GH_ERR_TOO_LARGE over GH_POLICY_INPUT_MAX,
 * GH_ERR_NOMEM. On error *out is NULL. */
GH_MUST_USE gh_err gh_policy_normalize(const char *pw, size_t len, char **out, size_t *out_len);

/* Check a new password against every rule. pw may be given raw or already normalised (NFKC is
 * idempotent; the check normalises it again itself). context: NULL-terminated list of strings
 * about the user (email, email local part, display name; may be NULL) that zxcvbn treats as
 * easy to guess. GH_OK, or GH_ERR_INVALID with *out_rule one of "too_short", "too_long",
 * "not_utf8", "common", "breached", "too_guessable" and *out_message a fixed English sentence
 * saying what to change (never containing the password). Other errors: GH_ERR_NOMEM. The
 * out strings are static; on GH_OK they are NULL. Safe to call from several threads. */
GH_MUST_USE gh_err gh_policy_check(const struct gh_policy *p, const char *pw, size_t len,
                                   const char *const *context, const char **out_rule,
                                   const char **out_message);

/* Is SHA-1(pw) (of exactly these bytes) in the breached file? false without a file. */
bool gh_policy_is_breached(const struct gh_policy *p, const char *pw, size_t len);

/* Is pw (exactly these bytes, compared ASCII-case-insensitively) in the built-in list? */
bool gh_policy_is_common(const struct gh_policy *p, const char *pw, size_t len);

#endif
