/* `gatehouse users import FILE`: the migration path from a FastAPI/passlib or Django app.
 * Reads JSON lines {"email", "password_hash", "display_name"?}; every line is checked first
 * (email, known hash format, duplicates in the file and the database); any bad line is reported
 * with its number and nothing is imported. Then all users are stored in one transaction. */
#ifndef GH_AUTH_USERS_IMPORT_H
#define GH_AUTH_USERS_IMPORT_H

#include <stdio.h>

#include "core/err.h"
#include "store/store.h"

struct gh_pii;
GH_MUST_USE gh_err gh_users_import(struct gh_store *s, const struct gh_pii *pii, const char *path,
                                   FILE *out, FILE *report, long *out_imported);

#endif
