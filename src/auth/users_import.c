/* Owns the import file parsing. Trust boundary: the file is operator-supplied but may come from
 * another system; each line is size-capped and schema-checked; hashes are never printed. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/identity.h"
#include "auth/password.h"
#include "auth/users_import.h"
#include "data/pii.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/banned.h"

#define IMPORT_LINE_MAX 4096
#define IMPORT_USERS_MAX 1000000

static bool check_line(const char *line, size_t len, struct gh_user *u, const char **why)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    bool ok = false;
    if (!o || !json_is_object(o)) {
        *why = "not a JSON object";
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "email") != 0 && strcmp(k, "password_hash") != 0 &&
            strcmp(k, "display_name") != 0) {
            *why = "unknown field (allowed: email, password_hash, display_name)";
            goto out;
        }
        if (!json_is_string(v)) {
            *why = "every field must be a string";
            goto out;
        }
    }
    json_t *email = json_object_get(o, "email");
    json_t *hash = json_object_get(o, "password_hash");
    json_t *dn = json_object_get(o, "display_name");
    if (!email || !hash) {
        *why = "email and password_hash are required";
        goto out;
    }
    if (!gh_email_normalize(json_string_value(email), json_string_length(email), u->email,
                            u->email_key, why))
        goto out;
    if (json_string_length(hash) > GH_PASSWORD_HASH_MAX ||
        !gh_password_format_is_supported(json_string_value(hash))) {
        *why = "password_hash is not in a supported format (bcrypt, argon2id/argon2i, Django "
               "pbkdf2_sha256/bcrypt_sha256/argon2)";
        goto out;
    }
    memcpy(u->password_hash, json_string_value(hash), json_string_length(hash) + 1);
    if (dn) {
        if (!gh_display_name_is_valid(json_string_value(dn), json_string_length(dn), why))
            goto out;
        memcpy(u->display_name, json_string_value(dn), json_string_length(dn) + 1);
        u->has_display_name = true;
    }
    ok = true;
out:
    json_decref(o);
    return ok;
}

gh_err gh_users_import(struct gh_store *s, const struct gh_pii *pii, const char *path, FILE *out,
                       FILE *report, long *out_imported)
{
    FILE *f = fopen(path, "re");
    struct gh_user *users = NULL;
    size_t n = 0, cap = 0, lineno = 0, bad = 0;
    char *line = NULL;
    gh_err rc = GH_OK;
    int64_t now = gh_now();
    (void)out;
    if (!f) {
        fprintf(report, "gatehouse: users import: cannot open the file\n");
        return GH_ERR_IO;
    }
    line = gh_malloc(IMPORT_LINE_MAX + 2);
    if (!line) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    while (fgets(line, IMPORT_LINE_MAX + 2, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len > IMPORT_LINE_MAX) {
            fprintf(report, "line %zu: longer than %d bytes\n", lineno, IMPORT_LINE_MAX);
            bad++;
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
            continue;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (n == cap) {
            if (cap >= IMPORT_USERS_MAX) {
                fprintf(report, "line %zu: more than %d users in one file\n", lineno,
                        IMPORT_USERS_MAX);
                rc = GH_ERR_TOO_LARGE;
                goto out;
            }
            size_t ncap = cap ? cap * 2 : 64;
            struct gh_user *nu = gh_realloc(users, ncap * sizeof *nu);
            if (!nu) {
                rc = GH_ERR_NOMEM;
                goto out;
            }
            users = nu;
            cap = ncap;
        }
        struct gh_user *u = &users[n];
        const char *why = NULL;
        memset(u, 0, sizeof *u);
        if (!check_line(line, len, u, &why)) {
            fprintf(report, "line %zu: refused: %s\n", lineno, why);
            bad++;
            continue;
        }
        /* Seal at once: the email is only ever held as ciphertext and blind index. */
        gh_random_id(u->id);
        char key[GH_EMAIL_KEY_MAX + 1];
        memcpy(key, u->email_key, sizeof key);
        gh_err src = gh_pii_seal_new_user(pii, key, u);
        sodium_memzero(key, sizeof key);
        if (src != GH_OK) {
            rc = src;
            goto out;
        }
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++)
            dup = strcmp(users[i].email_key, u->email_key) == 0;
        struct gh_user existing;
        if (!dup && gh_store_user_find_by_email_key(s, u->email_key, &existing) == GH_OK)
            dup = true;
        if (dup) {
            fprintf(report, "line %zu: refused: the email is already registered or repeated\n",
                    lineno);
            bad++;
            continue;
        }
        u->created_at = u->updated_at = now;
        n++;
    }
    if (bad > 0) {
        fprintf(report, "gatehouse: users import: %zu line(s) refused; nothing was imported\n",
                bad);
        rc = GH_ERR_INVALID;
        goto out;
    }
    size_t failed = 0;
    rc = gh_store_users_insert_all(s, users, n, &failed);
    if (rc != GH_OK) {
        fprintf(report, "gatehouse: users import: storing failed (%s); nothing was imported\n",
                gh_err_name(rc));
        goto out;
    }
    gh_log(GH_LOG_INFO, "users imported", NULL, "users_imported",
           json_pack("{s:I}", "count", (json_int_t)n));
    *out_imported = (long)n;
out:
    if (users) {
        sodium_memzero(users, cap * sizeof *users);
        gh_free(users);
    }
    if (line) {
        sodium_memzero(line, IMPORT_LINE_MAX + 2);
        gh_free(line);
    }
    (void)fclose(f); /* opened read-only: a close error loses no data */
    return rc;
}
