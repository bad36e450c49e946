/* Owns signing-key state transitions; private keys exist unwrapped only in sodium_malloc memory
 * of the keyring (and briefly on the stack while (un)wrapping, wiped after). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/keys.h"
#include "core/enc.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/banned.h"

static void wrap_ad(const char *kid, char *ad, size_t size)
{
    snprintf(ad, size, "signing-key:%s", kid);
}

static gh_err store_new_key(struct gh_store *s, struct gh_keywrap *kw, int64_t now,
                            int64_t activates_at, char out_kid[GH_KID_MAX + 1])
{
    struct gh_key_material km;
    struct gh_stored_key sk;
    char ad[80];
    gh_key_generate(&km);
    memset(&sk, 0, sizeof sk);
    snprintf(sk.kid, sizeof sk.kid, "%s", km.kid);
    snprintf(sk.alg, sizeof sk.alg, "EdDSA");
    gh_b64url_encode(km.pk, sizeof km.pk, sk.public_key, sizeof sk.public_key);
    wrap_ad(km.kid, ad, sizeof ad);
    gh_err rc = gh_keywrap_wrap(kw, ad, km.sk, sizeof km.sk, sk.wrapped_private);
    sodium_memzero(km.sk, sizeof km.sk);
    if (rc != GH_OK)
        return rc;
    sk.created_at = now;
    sk.activates_at = activates_at;
    if ((rc = gh_store_key_insert(s, &sk)) != GH_OK)
        return rc;
    if (out_kid)
        snprintf(out_kid, GH_KID_MAX + 1, "%s", sk.kid);
    gh_log(GH_LOG_INFO, "signing key created", NULL, "key_created",
           json_pack("{s:s,s:I}", "kid", sk.kid, "activates_at", (json_int_t)activates_at));
    return GH_OK;
}

/* Derive each stored key's state at now. Returns how many are live; fills states[i] (-1: gone)
 * and published_until[i]. */
static size_t derive_states(const struct gh_stored_key *keys, size_t n, int64_t now,
                            int64_t token_ttl, int *states, int64_t *until)
{
    /* Keys are ordered by activates_at. The signing key is the last one active now. */
    ptrdiff_t signer = -1;
    for (size_t i = 0; i < n; i++)
        if (!keys[i].revoked_at && !keys[i].retired_at && keys[i].activates_at <= now)
            signer = (ptrdiff_t)i;
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        states[i] = -1;
        until[i] = 0;
        if (keys[i].revoked_at)
            continue;
        if (keys[i].activates_at > now && !keys[i].retired_at) {
            states[i] = GH_KEY_NEXT;
        } else if ((ptrdiff_t)i == signer) {
            states[i] = GH_KEY_ACTIVE;
        } else {
            /* Superseded when retired, or when the next key that activated took over. */
            int64_t superseded = keys[i].retired_at;
            if (!superseded) {
                for (size_t j = i + 1; j < n; j++) {
                    if (!keys[j].revoked_at && keys[j].activates_at <= now) {
                        superseded = keys[j].activates_at;
                        break;
                    }
                }
                if (!superseded)
                    superseded = now;
            }
            int64_t last_exp = superseded + token_ttl + GH_JWT_LEEWAY;
            if (last_exp <= now)
                continue;
            states[i] = GH_KEY_RETIRED;
            until[i] = last_exp;
        }
        live++;
    }
    return live;
}

gh_err gh_keys_ensure(struct gh_store *s, struct gh_keywrap *kw, int64_t now)
{
    struct gh_stored_key *keys = NULL;
    size_t n = 0;
    gh_err rc = gh_store_keys_list(s, &keys, &n);
    if (rc != GH_OK)
        return rc;
    bool have_signer = false;
    for (size_t i = 0; i < n; i++)
        if (!keys[i].revoked_at && !keys[i].retired_at && keys[i].activates_at <= now)
            have_signer = true;
    gh_free(keys);
    if (have_signer)
        return GH_OK;
    return store_new_key(s, kw, now, now, NULL);
}

gh_err gh_keys_load(struct gh_store *s, struct gh_keywrap *kw, int64_t now, int64_t token_ttl,
                    struct gh_keyring *kr)
{
    struct gh_stored_key *keys = NULL;
    struct gh_key_material *mat = NULL;
    int *states = NULL;
    int64_t *until = NULL;
    size_t n = 0, m = 0;
    gh_err rc = gh_store_keys_list(s, &keys, &n);
    if (rc != GH_OK)
        return rc;
    states = gh_calloc(n, sizeof *states);
    until = gh_calloc(n, sizeof *until);
    mat = sodium_allocarray(n ? n : 1, sizeof *mat);
    if (!states || !until || !mat) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    derive_states(keys, n, now, token_ttl, states, until);
    for (size_t i = 0; i < n; i++) {
        if (states[i] < 0)
            continue;
        struct gh_key_material *km = &mat[m];
        char ad[80];
        size_t len = 0, pklen = 0;
        memset(km, 0, sizeof *km);
        snprintf(km->kid, sizeof km->kid, "%s", keys[i].kid);
        wrap_ad(keys[i].kid, ad, sizeof ad);
        if (strcmp(keys[i].alg, "EdDSA") != 0 ||
            gh_keywrap_unwrap(kw, ad, keys[i].wrapped_private, km->sk, sizeof km->sk, &len, NULL) !=
                GH_OK ||
            len != sizeof km->sk ||
            gh_b64url_decode(keys[i].public_key, strlen(keys[i].public_key), km->pk, sizeof km->pk,
                             &pklen) != GH_OK ||
            pklen != sizeof km->pk) {
            gh_log(GH_LOG_ERROR, "signing key cannot be unwrapped: wrong master key?", NULL,
                   "key_unwrap_failed", json_pack("{s:s}", "kid", keys[i].kid));
            rc = GH_ERR_CRYPTO;
            goto out;
        }
        km->state = (enum gh_key_state)states[i];
        km->activates_at = keys[i].activates_at;
        km->published_until = until[i];
        m++;
    }
    rc = gh_keyring_replace(kr, mat, m);
out:
    if (mat) {
        sodium_memzero(mat, (n ? n : 1) * sizeof *mat);
        sodium_free(mat);
    }
    gh_free(states);
    gh_free(until);
    gh_free(keys);
    return rc;
}

gh_err gh_keys_rotate(struct gh_store *s, struct gh_keywrap *kw, int64_t now, int64_t activate_in,
                      char out_kid[GH_KID_MAX + 1])
{
    return store_new_key(s, kw, now, now + (activate_in > 0 ? activate_in : 0), out_kid);
}

gh_err gh_keys_rotate_if_due(struct gh_store *s, struct gh_keywrap *kw, int64_t now,
                             int64_t interval, int64_t publish_ahead, char out_kid[GH_KID_MAX + 1])
{
    struct gh_stored_key *keys = NULL;
    size_t n = 0;
    out_kid[0] = '\0';
    gh_err rc = gh_store_keys_list(s, &keys, &n);
    if (rc != GH_OK)
        return rc;
    int64_t newest = 0;
    for (size_t i = 0; i < n; i++)
        if (!keys[i].revoked_at && keys[i].created_at > newest)
            newest = keys[i].created_at;
    gh_free(keys);
    if (interval <= 0 || now < newest + interval)
        return GH_OK;
    int64_t activates_at = now + publish_ahead;
    rc = store_new_key(s, kw, now, activates_at, out_kid);
    if (rc == GH_OK)
        gh_log(GH_LOG_INFO, "scheduled signing-key rotation", NULL, "key_rotated",
               json_pack("{s:s,s:I}", "kid", out_kid, "activates_at", (json_int_t)activates_at));
    return rc;
}

gh_err gh_keys_revoke(struct gh_store *s, struct gh_keywrap *kw, const char *kid, int64_t now)
{
    gh_err rc = gh_store_key_mark(s, kid, 0, now);
    if (rc != GH_OK)
        return rc;
    gh_log_security(GH_LOG_WARN, "signing_key_revoked", NULL, NULL, NULL,
                    json_pack("{s:s}", "kid", kid));
    return gh_keys_ensure(s, kw, now);
}

static const char *state_name(int st)
{
    switch (st) {
    case GH_KEY_NEXT:
        return "next";
    case GH_KEY_ACTIVE:
        return "active";
    case GH_KEY_RETIRED:
        return "retired";
    }
    return "gone";
}

static void fmt_time(int64_t t, char *buf, size_t size)
{
    if (!t) {
        snprintf(buf, size, "-");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    /* An unrepresentable time or a too-small buffer prints as an empty string, never as
     * whatever the buffer held (strftime leaves it indeterminate when it returns 0). */
    if (!gmtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        buf[0] = '\0';
}

gh_err gh_keys_print(struct gh_store *s, int64_t now, int64_t token_ttl, FILE *f)
{
    struct gh_stored_key *keys = NULL;
    size_t n = 0;
    gh_err rc = gh_store_keys_list(s, &keys, &n);
    if (rc != GH_OK)
        return rc;
    int *states = gh_calloc(n, sizeof *states);
    int64_t *until = gh_calloc(n, sizeof *until);
    if (!states || !until) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    derive_states(keys, n, now, token_ttl, states, until);
    fprintf(f, "%-24s %-8s %-21s %-21s %s\n", "KID", "STATE", "CREATED", "ACTIVATES", "NOTE");
    for (size_t i = 0; i < n; i++) {
        char c[32], a[32], u[32];
        fmt_time(keys[i].created_at, c, sizeof c);
        fmt_time(keys[i].activates_at, a, sizeof a);
        fmt_time(until[i], u, sizeof u);
        const char *st = keys[i].revoked_at ? "revoked" : state_name(states[i]);
        fprintf(f, "%-24s %-8s %-21s %-21s %s%s\n", keys[i].kid, st, c, a,
                states[i] == GH_KEY_RETIRED ? "published until " : "",
                states[i] == GH_KEY_RETIRED ? u : "");
    }
out:
    gh_free(states);
    gh_free(until);
    gh_free(keys);
    return rc;
}

gh_err gh_keys_working_key(struct gh_store *s, struct gh_keywrap *kw, const char *name, int64_t now,
                           unsigned char *out)
{
    char text[GH_HASH_TEXT_MAX + 1];
    char ad[96];
    size_t len = 0;
    snprintf(ad, sizeof ad, "working-key:%s", name);
    gh_err rc = gh_store_wrapped_key_get(s, name, text);
    if (rc == GH_ERR_NOT_FOUND) {
        unsigned char fresh[32];
        char wrapped[GH_WRAP_TEXT_MAX + 1];
        randombytes_buf(fresh, sizeof fresh);
        rc = gh_keywrap_wrap(kw, ad, fresh, sizeof fresh, wrapped);
        sodium_memzero(fresh, sizeof fresh);
        if (rc != GH_OK)
            return rc;
        /* Another process may have raced us: whatever is stored wins. */
        rc = gh_store_wrapped_key_put_if_absent(s, name, wrapped, now, text);
    }
    if (rc != GH_OK)
        return rc;
    rc = gh_keywrap_unwrap(kw, ad, text, out, 32, &len, NULL);
    if (rc == GH_OK && len != 32)
        rc = GH_ERR_CRYPTO;
    return rc;
}

struct rewrap_ctx {
    struct gh_keywrap *kw;
    bool count_only;
    long left;
    gh_err err;
};

static int rewrap_cb(const char *kind, const char *id, const char *wrapped, char *replacement,
                     size_t size, void *vctx)
{
    struct rewrap_ctx *c = vctx;
    char ad[160];
    if (gh_keywrap_is_current(c->kw, wrapped))
        return 0;
    if (c->count_only) {
        c->left++;
        return 0;
    }
    snprintf(ad, sizeof ad, "%s:%s", kind, id);
    char out[GH_WRAP_TEXT_MAX + 1];
    gh_err rc = gh_keywrap_rewrap(c->kw, ad, wrapped, out);
    if (rc != GH_OK || strlen(out) >= size) {
        c->err = rc != GH_OK ? rc : GH_ERR_TOO_LARGE;
        c->left++;
        return 0;
    }
    memcpy(replacement, out, strlen(out) + 1);
    return 1;
}

gh_err gh_keys_rotate_master(struct gh_store *s, struct gh_keywrap *kw, long *out_rewrapped,
                             long *out_left)
{
    struct gh_stored_key *keys = NULL;
    size_t n = 0;
    long done = 0, left = 0;
    *out_rewrapped = *out_left = 0;
    gh_err rc = gh_store_keys_list(s, &keys, &n);
    if (rc != GH_OK)
        return rc;
    for (size_t i = 0; i < n && rc == GH_OK; i++) {
        if (gh_keywrap_is_current(kw, keys[i].wrapped_private))
            continue;
        char ad[80], out[GH_WRAP_TEXT_MAX + 1];
        wrap_ad(keys[i].kid, ad, sizeof ad);
        rc = gh_keywrap_rewrap(kw, ad, keys[i].wrapped_private, out);
        if (rc == GH_OK)
            rc = gh_store_key_rewrap(s, keys[i].kid, out);
        if (rc == GH_OK)
            done++;
    }
    gh_free(keys);
    if (rc != GH_OK)
        return rc;
    struct rewrap_ctx ctx = {.kw = kw};
    long changed = 0;
    rc = gh_store_rewrap_all(s, rewrap_cb, &ctx, &changed);
    done += changed;
    if (rc == GH_OK && ctx.err != GH_OK)
        rc = ctx.err;
    if (rc != GH_OK)
        return rc;
    /* Count what is still not under the current key (written meanwhile with the old one). */
    struct rewrap_ctx count = {.kw = kw, .count_only = true};
    long unused = 0;
    rc = gh_store_rewrap_all(s, rewrap_cb, &count, &unused);
    left = count.left;
    if (rc == GH_OK && (rc = gh_store_keys_list(s, &keys, &n)) == GH_OK) {
        for (size_t i = 0; i < n; i++)
            if (!gh_keywrap_is_current(kw, keys[i].wrapped_private))
                left++;
        gh_free(keys);
    }
    *out_rewrapped = done;
    *out_left = left;
    return rc;
}
