/* Owns the backup file format and the restore procedure. The plaintext snapshot exists only as
 * a mode-0600 temporary file in the data directory for the length of one command, and is
 * unlinked before it returns. Trust boundary: a backup file may have been tampered with; nothing
 * of it is used before every chunk has authenticated. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/keys.h"
#include "core/enc.h"
#include "core/log.h"
#include "core/mem.h"
#include "data/backup.h"
#include "core/banned.h"

#define MAGIC "GHBK1\n"
#define CHUNK ((size_t)64 * 1024)
#define HEADER_MAX 2048
#define SS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SS_HEADER crypto_secretstream_xchacha20poly1305_HEADERBYTES

static gh_err write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return GH_ERR_IO;
        }
        p += w;
        len -= (size_t)w;
    }
    return GH_OK;
}

/* Read exactly len bytes; *got < len only at end of file. */
static gh_err read_full(int fd, void *buf, size_t len, size_t *got)
{
    unsigned char *p = buf;
    size_t n = 0;
    while (n < len) {
        ssize_t r = read(fd, p + n, len - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return GH_ERR_IO;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *got = n;
    return GH_OK;
}

/* The backup key: the configured one, or the random working key "backup" (wrapped in the
 * store). key: 32 bytes of secure memory. */
static gh_err backup_key_from_store(struct gh_store *s, const struct gh_backup_keys *k, int64_t now,
                                    unsigned char *key)
{
    if (k->backup_key) {
        memcpy(key, k->backup_key, 32);
        return GH_OK;
    }
    return gh_keys_working_key(s, k->kw, "backup", now, key);
}

gh_err gh_backup_create(struct gh_store *s, const struct gh_backup_keys *k, const char *path,
                        int64_t now, int64_t *out_bytes)
{
    char snap[4200], tmp[4200];
    unsigned char *key = sodium_malloc(32);
    unsigned char *in = gh_malloc(CHUNK), *out = gh_malloc(CHUNK + SS_ABYTES);
    char *header = NULL;
    int sfd = -1, ofd = -1;
    gh_err rc = GH_ERR_NOMEM;
    if (!key || !in || !out)
        goto out;
    snprintf(snap, sizeof snap, "%s.snapshot-%d", gh_store_path(s), (int)getpid());
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
    unlink(snap);
    if ((rc = backup_key_from_store(s, k, now, key)) != GH_OK)
        goto out;
    if ((rc = gh_store_snapshot(s, snap)) != GH_OK)
        goto out;
    chmod(snap, 0600);
    int schema = 0;
    if ((rc = gh_store_schema_version(s, &schema)) != GH_OK)
        goto out;
    /* Header: says how to get the key back; authenticated as the first chunk's AD. */
    char wrapped[GH_WRAP_TEXT_MAX + 1] = "";
    if (!k->backup_key && (rc = gh_keywrap_wrap(k->kw, "backup-key", key, 32, wrapped)) != GH_OK)
        goto out;
    json_t *h =
        json_pack("{s:s,s:I,s:i,s:s,s:s}", "format", "gatehouse-backup-v1", "created_at",
                  (json_int_t)now, "schema_version", schema, "key_source",
                  k->backup_key ? "GATEHOUSE_BACKUP_KEY" : "master", "wrapped_key", wrapped);
    header = h ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(h);
    if (!header) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    sfd = open(snap, O_RDONLY | O_CLOEXEC);
    ofd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (sfd < 0 || ofd < 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    crypto_secretstream_xchacha20poly1305_state st;
    unsigned char ssh[SS_HEADER];
    crypto_secretstream_xchacha20poly1305_init_push(&st, ssh, key);
    if ((rc = write_all(ofd, MAGIC, strlen(MAGIC))) != GH_OK ||
        (rc = write_all(ofd, header, strlen(header))) != GH_OK ||
        (rc = write_all(ofd, "\n", 1)) != GH_OK || (rc = write_all(ofd, ssh, sizeof ssh)) != GH_OK)
        goto out;
    bool first = true;
    int64_t total = (int64_t)(strlen(MAGIC) + strlen(header) + 1 + sizeof ssh);
    for (;;) {
        size_t n = 0;
        if ((rc = read_full(sfd, in, CHUNK, &n)) != GH_OK)
            goto out;
        /* A chunk shorter than CHUNK is the last (an empty one too). */
        unsigned char tag = n < CHUNK ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0;
        unsigned long long clen = 0;
        crypto_secretstream_xchacha20poly1305_push(&st, out, &clen, in, n,
                                                   first ? (const unsigned char *)header : NULL,
                                                   first ? strlen(header) : 0, tag);
        first = false;
        if ((rc = write_all(ofd, out, (size_t)clen)) != GH_OK)
            goto out;
        total += (int64_t)clen;
        if (tag)
            break;
    }
    sodium_memzero(&st, sizeof st);
    if (fsync(ofd) != 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    close(ofd);
    ofd = -1;
    if (rename(tmp, path) != 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    *out_bytes = total;
    rc = GH_OK;
out:
    if (sfd >= 0)
        close(sfd);
    if (ofd >= 0)
        close(ofd);
    if (rc != GH_OK)
        unlink(tmp);
    unlink(snap);
    if (key)
        sodium_free(key);
    if (in) {
        sodium_memzero(in, CHUNK);
        gh_free(in);
    }
    gh_free(out);
    free(header);
    return rc;
}

/* Find the backup key for a file's header: GATEHOUSE_BACKUP_KEY; the wrapped key in the header
 * (current or previous master key); or the live database's own backup key (a backup taken
 * before a master-key rotation whose previous key is gone). */
static gh_err restore_key(const struct gh_backup_keys *k, json_t *header, const char *db_path,
                          unsigned char *key)
{
    const char *source = json_string_value(json_object_get(header, "key_source"));
    if (source && strcmp(source, "GATEHOUSE_BACKUP_KEY") == 0) {
        if (!k->backup_key)
            return GH_ERR_CRYPTO;
        memcpy(key, k->backup_key, 32);
        return GH_OK;
    }
    const char *wrapped = json_string_value(json_object_get(header, "wrapped_key"));
    size_t n = 0;
    if (wrapped && gh_keywrap_unwrap(k->kw, "backup-key", wrapped, key, 32, &n, NULL) == GH_OK &&
        n == 32)
        return GH_OK;
    struct stat sb;
    if (stat(db_path, &sb) != 0)
        return GH_ERR_CRYPTO;
    char url[4200];
    snprintf(url, sizeof url, "sqlite:%s", db_path);
    struct gh_store *live = NULL;
    gh_err rc = gh_store_open(url, &live);
    char text[GH_HASH_TEXT_MAX + 1];
    if (rc == GH_OK)
        rc = gh_store_wrapped_key_get(live, "backup", text);
    if (rc == GH_OK &&
        (gh_keywrap_unwrap(k->kw, "working-key:backup", text, key, 32, &n, NULL) != GH_OK ||
         n != 32))
        rc = GH_ERR_CRYPTO;
    gh_store_free(live);
    return rc == GH_OK ? GH_OK : GH_ERR_CRYPTO;
}

struct reerase {
    struct gh_store *s;
    long n;
    gh_err rc;
};

static void reerase_cb(const char *user_id, int64_t at, void *ctx)
{
    (void)at;
    struct reerase *r = ctx;
    if (r->rc == GH_OK)
        r->rc = gh_store_user_purge(r->s, user_id);
    r->n++;
}

gh_err gh_backup_restore(const struct gh_backup_keys *k, const char *path, const char *db_path,
                         long *out_reerased)
{
    char tmp[4200], lockp[4200], url[4300], magic[sizeof MAGIC - 1];
    char *header = gh_malloc(HEADER_MAX + 1);
    unsigned char *key = sodium_malloc(32);
    unsigned char *in = gh_malloc(CHUNK + SS_ABYTES), *out = gh_malloc(CHUNK);
    json_t *h = NULL;
    int ifd = -1, tfd = -1, lfd = -1;
    gh_err rc = GH_ERR_NOMEM;
    bool wrote_tmp = false;
    *out_reerased = 0;
    if (!header || !key || !in || !out)
        goto out;
    /* Only into a stopped instance: serve holds a shared lock on "<db>-lock". */
    snprintf(lockp, sizeof lockp, "%s-lock", db_path);
    lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        rc = lfd < 0 ? GH_ERR_IO : GH_ERR_BUSY;
        goto out;
    }
    ifd = open(path, O_RDONLY | O_CLOEXEC);
    if (ifd < 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    size_t n = 0;
    rc = GH_ERR_CRYPTO;
    if (read_full(ifd, magic, sizeof magic, &n) != GH_OK || n != sizeof magic ||
        memcmp(magic, MAGIC, sizeof magic) != 0)
        goto out;
    size_t hl = 0;
    for (;;) {
        char c;
        if (read_full(ifd, &c, 1, &n) != GH_OK || n != 1 || hl == HEADER_MAX)
            goto out;
        if (c == '\n')
            break;
        header[hl++] = c;
    }
    header[hl] = '\0';
    h = json_loadb(header, hl, JSON_REJECT_DUPLICATES, NULL);
    if (!h || !json_is_object(h) || !json_is_string(json_object_get(h, "format")) ||
        strcmp(json_string_value(json_object_get(h, "format")), "gatehouse-backup-v1") != 0)
        goto out;
    if (restore_key(k, h, db_path, key) != GH_OK)
        goto out;
    unsigned char ssh[SS_HEADER];
    crypto_secretstream_xchacha20poly1305_state st;
    if (read_full(ifd, ssh, sizeof ssh, &n) != GH_OK || n != sizeof ssh ||
        crypto_secretstream_xchacha20poly1305_init_pull(&st, ssh, key) != 0)
        goto out;
    snprintf(tmp, sizeof tmp, "%s.restore-%d", db_path, (int)getpid());
    unlink(tmp);
    tfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (tfd < 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    wrote_tmp = true;
    bool first = true, final = false;
    while (!final) {
        if (read_full(ifd, in, CHUNK + SS_ABYTES, &n) != GH_OK || n < SS_ABYTES)
            goto out; /* truncated: no FINAL chunk */
        unsigned long long plen = 0;
        unsigned char tag = 0;
        if (crypto_secretstream_xchacha20poly1305_pull(&st, out, &plen, &tag, in, n,
                                                       first ? (const unsigned char *)header : NULL,
                                                       first ? hl : 0) != 0)
            goto out; /* wrong key, flipped byte, reordered chunk */
        first = false;
        final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
        if (!final && n != CHUNK + SS_ABYTES)
            goto out;
        if (write_all(tfd, out, (size_t)plen) != GH_OK) {
            rc = GH_ERR_IO;
            goto out;
        }
    }
    /* Nothing may follow the final chunk. */
    char extra;
    if (read_full(ifd, &extra, 1, &n) != GH_OK || n != 0)
        goto out;
    if (fsync(tfd) != 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    close(tfd);
    tfd = -1;
    /* A real gatehouse database? Open it, migrate it to this release, re-apply erasures. */
    snprintf(url, sizeof url, "sqlite:%s", tmp);
    struct gh_store *rs = NULL;
    rc = gh_store_open(url, &rs);
    if (rc == GH_OK)
        rc = gh_store_integrity_ok(rs);
    if (rc == GH_OK)
        rc = gh_store_migrate(rs, NULL);
    struct reerase re = {.s = rs};
    if (rc == GH_OK) {
        /* The ledger lives beside the live database, outside every backup. */
        rc = gh_store_erasure_ledger_at(db_path, reerase_cb, &re);
        if (rc == GH_OK)
            rc = re.rc;
    }
    if (rc == GH_OK)
        rc = gh_store_checkpoint(rs);
    gh_store_free(rs);
    if (rc != GH_OK) {
        rc = rc == GH_ERR_STORE ? GH_ERR_CRYPTO : rc;
        goto out;
    }
    /* Swap in: the old WAL and shared memory belong to the old file. */
    char side[4300];
    const char *suffix[] = {"-wal", "-shm", "-epoch", NULL};
    for (int i = 0; suffix[i]; i++) {
        snprintf(side, sizeof side, "%s%s", db_path, suffix[i]);
        unlink(side);
        snprintf(side, sizeof side, "%s%s", tmp, suffix[i]);
        unlink(side);
    }
    if (rename(tmp, db_path) != 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    wrote_tmp = false;
    *out_reerased = re.n;
    rc = GH_OK;
out:
    if (wrote_tmp) {
        char leftover[4300];
        unlink(tmp);
        const char *sfx[] = {"-wal", "-shm", "-epoch", "-erasures", NULL};
        for (int i = 0; sfx[i]; i++) {
            snprintf(leftover, sizeof leftover, "%s%s", tmp, sfx[i]);
            unlink(leftover);
        }
    }
    if (ifd >= 0)
        close(ifd);
    if (tfd >= 0)
        close(tfd);
    if (lfd >= 0)
        close(lfd); /* releases the lock */
    json_decref(h);
    gh_free(header);
    if (key)
        sodium_free(key);
    gh_free(in);
    if (out) {
        sodium_memzero(out, CHUNK);
        gh_free(out);
    }
    return rc;
}

gh_err gh_backup_prune_dir(const char *dir, long days, int64_t now, long *out_removed)
{
    *out_removed = 0;
    if (days <= 0)
        return GH_OK;
    DIR *d = opendir(dir);
    if (!d)
        return GH_ERR_IO;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".ghbk") != 0)
            continue;
        char path[4200], magic[sizeof MAGIC - 1];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            now - (int64_t)st.st_mtime <= (int64_t)days * 86400)
            continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        size_t got = 0;
        bool ours = fd >= 0 && read_full(fd, magic, sizeof magic, &got) == GH_OK &&
                    got == sizeof magic && memcmp(magic, MAGIC, sizeof magic) == 0;
        if (fd >= 0)
            close(fd);
        if (ours && unlink(path) == 0)
            (*out_removed)++;
    }
    closedir(d);
    return GH_OK;
}
