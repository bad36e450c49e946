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
 * File: "GHBK1\n", one JSON header line, "\n", the secretstream header (24 bytes), then chunks.
 * The header line is the associated data of the first chunk, so it cannot be altered. */
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

/* Write an encrypted snapshot of s to path. *out_bytes: file size. */
GH_MUST_USE gh_err gh_backup_create(struct gh_store *s, const struct gh_backup_keys *k,
                                    const char *path, int64_t now, int64_t *out_bytes);

/* Delete backups older than days (by modification time) in dir: only files named *.ghbk that
 * start with the backup magic. *out_removed counts them. days 0: keep everything. */
GH_MUST_USE gh_err gh_backup_prune_dir(const char *dir, long days, int64_t now,
                                       long *out_removed);

/* Restore path into db_path (the stopped instance's database), applying the erasure ledger
 * kept beside db_path. *out_reerased: users erased again from the restored copy.
 * GH_ERR_CRYPTO for a wrong key or a damaged file (nothing written), GH_ERR_BUSY when a server
 * still holds the database. */
GH_MUST_USE gh_err gh_backup_restore(const struct gh_backup_keys *k, const char *path,
                                     const char *db_path, long *out_reerased);

#endif
