/* Encrypted backups. `backup create FILE` takes a consistent online snapshot without free pages
 * (VACUUM INTO), encrypts it with libsodium's secretstream (XChaCha20-Poly1305, 64 KiB chunks,
 * the last one tagged FINAL) under the backup key, and writes FILE atomically (mode 0600).
 * The backup key is a random working key; the file's header carries it wrapped under the master
 * key (so a data directory that was lost can be restored with the master key alone), unless
 * GATEHOUSE_BACKUP_KEY supplies a separate key. A backup never contains the master key.
 * `backup restore FILE` decrypts and verifies everything into a temporary file first (a wrong
 * key, a truncated file or one flipped byte fails and writes nothing), checks SQLite's
 * integrity, re-applies the erasure ledger (users erased after the backup stay erased), and
 * only then replaces the stopped instance's database.
 *
 * PostgreSQL (GATEHOUSE_DATABASE_URL=postgresql://...): the same file format and keys around a
 * pg_dump custom-format archive of gatehouse's schema, encrypted as it streams out of pg_dump
 * (no plaintext file). Restore verifies everything into an anonymous scratch file, then replaces
 * gatehouse's objects with pg_restore piped into psql in ONE transaction that also keeps the live
 * erasure ledger and deletes the users in it (see gh_store_dump_restore).
 *
 * File: "GHBK1\n", one JSON header line, "\n", the secretstream header (24 bytes), then chunks.
 * The header line is the associated data of the first chunk, so it cannot be altered. It names
 * the backend ("backend": "sqlite" | "postgresql"; absent in older files: SQLite), so that a
 * restore refuses a file of the other backend before touching anything. */
#ifndef GH_DATA_BACKUP_H
#define GH_DATA_BACKUP_H

#include <stdint.h>

#include "core/err.h"
#include "data/keywrap.h"
#include "store/store.h"

struct gh_backup_keys {
    struct gh_keywrap *kw;           /* master key (and previous) */
    const unsigned char *backup_key; /* 32 bytes: GATEHOUSE_BACKUP_KEY, or NULL */
};

/* Write an encrypted snapshot of s (SQLite or PostgreSQL) to path. *out_bytes: file size. On a
 * PostgreSQL failure why says what went wrong in a fixed sentence ("" when there is nothing to
 * add to the gh_err). Nothing is left at path, nor beside it, after a failure. */
GH_MUST_USE gh_err gh_backup_create(struct gh_store *s, const struct gh_backup_keys *k,
                                    const char *path, int64_t now, int64_t *out_bytes,
                                    char why[GH_STORE_WHY_MAX]);

/* The backend a backup file says it holds ("sqlite" or "postgresql"), from its header line,
 * which is only authenticated by the restore itself. GH_ERR_CRYPTO: no gatehouse backup;
 * GH_ERR_IO: unreadable. */
GH_MUST_USE gh_err gh_backup_backend(const char *path, char out[16]);

/* Delete backups older than days (by modification time) in dir: only files named *.ghbk that
 * start with the backup magic. *out_removed counts them. days 0: keep everything. */
GH_MUST_USE gh_err gh_backup_prune_dir(const char *dir, long days, int64_t now, long *out_removed);

/* Restore path into db_path (the stopped instance's database), applying the erasure ledger
 * kept beside db_path. *out_reerased: users erased again from the restored copy.
 * GH_ERR_CRYPTO for a wrong key or a damaged file (nothing written), GH_ERR_BUSY when a server
 * still holds the database, GH_ERR_CONFIG for a PostgreSQL backup. */
GH_MUST_USE gh_err gh_backup_restore(const struct gh_backup_keys *k, const char *path,
                                     const char *db_path, long *out_reerased);

/* Restore a PostgreSQL backup into the database of url (as its owner role, every instance
 * stopped): the whole file is decrypted and authenticated into an anonymous scratch file in
 * scratch_dir (GATEHOUSE_DATA_DIR) first, then gh_store_dump_restore replaces gatehouse's
 * objects and re-applies the erasure ledger in one transaction, and the result is migrated to
 * this release. *out_reerased: restored users deleted again because the ledger names them.
 * GH_ERR_CRYPTO for a wrong key or a damaged file, GH_ERR_CONFIG for a SQLite backup (why "")
 * or an archive that does not fit (why says), GH_ERR_BUSY / GH_ERR_FORBIDDEN (why says); in
 * each of these the database is unchanged. Only when migrating the restored data fails
 * afterwards (why says) is the restore in place: run `gatehouse migrate`. */
GH_MUST_USE gh_err gh_backup_restore_pg(const struct gh_backup_keys *k, const char *path,
                                        const char *url, const char *scratch_dir,
                                        long *out_reerased, char why[GH_STORE_WHY_MAX]);

#endif
