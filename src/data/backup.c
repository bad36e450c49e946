/* Owns the backup file format and the restore procedure, for both backends. The plaintext
 * snapshot exists only as a mode-0600 temporary file in the data directory for the length of
 * one command, and is unlinked before it returns (PostgreSQL: the pg_dump archive is encrypted
 * as it streams out of pg_dump, and restored from an anonymous scratch file). Trust boundary: a
 * backup file may have been tampered with; nothing of it is used before every chunk has
 * authenticated. */
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

/* The encrypting writer behind both backends: the file preamble (magic, header line,
 * secretstream header) is written with the first chunk, so that a PostgreSQL header can name
 * what gh_store_dump found before it produced its first byte. Plaintext is cut into CHUNK-sized
 * chunks; the first is authenticated together with the header line, the last (shorter, maybe
 * empty) is tagged FINAL. */
struct bk_writer {
    int fd;
    bool started, first;
    crypto_secretstream_xchacha20poly1305_state st; /* holds the key: wiped by the caller */
    const unsigned char *key;
    /* header fields */
    int64_t now;
    int schema_version;
    const char *key_source, *wrapped;
    const struct gh_store_dump_info *pg; /* NULL: SQLite */
    char *header;                        /* the header line, once started */
    unsigned char *in, *out;             /* CHUNK plaintext (wiped), CHUNK + ABYTES */
    size_t fill;
    int64_t total;
};

static gh_err writer_start(struct bk_writer *w)
{
    json_t *h = json_pack("{s:s,s:I,s:i,s:s,s:s,s:s}", "format", "gatehouse-backup-v1",
                          "created_at", (json_int_t)w->now, "schema_version", w->schema_version,
                          "key_source", w->key_source, "wrapped_key", w->wrapped, "backend",
                          w->pg ? "postgresql" : "sqlite");
    if (h && w->pg &&
        (json_object_set_new(h, "pg_schema", json_string(w->pg->schema)) != 0 ||
         json_object_set_new(h, "pg_dump_version", json_string(w->pg->tool_version)) != 0 ||
         json_object_set_new(h, "pg_server_version", json_integer(w->pg->server_version)) != 0)) {
        json_decref(h);
        h = NULL;
    }
    w->header = h ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(h);
    if (!w->header)
        return GH_ERR_NOMEM;
    if (strlen(w->header) > HEADER_MAX)
        return GH_ERR_TOO_LARGE;
    unsigned char ssh[SS_HEADER];
    crypto_secretstream_xchacha20poly1305_init_push(&w->st, ssh, w->key);
    gh_err rc;
    if ((rc = write_all(w->fd, MAGIC, strlen(MAGIC))) != GH_OK ||
        (rc = write_all(w->fd, w->header, strlen(w->header))) != GH_OK ||
        (rc = write_all(w->fd, "\n", 1)) != GH_OK ||
        (rc = write_all(w->fd, ssh, sizeof ssh)) != GH_OK)
        return rc;
    w->started = true;
    w->first = true;
    w->total = (int64_t)(strlen(MAGIC) + strlen(w->header) + 1 + sizeof ssh);
    return GH_OK;
}

static gh_err writer_push(struct bk_writer *w, unsigned char tag)
{
    gh_err rc;
    if (!w->started && (rc = writer_start(w)) != GH_OK)
        return rc;
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(&w->st, w->out, &clen, w->in, w->fill,
                                               w->first ? (const unsigned char *)w->header : NULL,
                                               w->first ? strlen(w->header) : 0, tag);
    w->first = false;
    w->fill = 0;
    if ((rc = write_all(w->fd, w->out, (size_t)clen)) != GH_OK)
        return rc;
    w->total += (int64_t)clen;
    return GH_OK;
}

/* Append plaintext (also gh_store_dump's sink). */
static gh_err writer_write(const unsigned char *buf, size_t n, void *ctx)
{
    struct bk_writer *w = ctx;
    while (n > 0) {
        size_t take = CHUNK - w->fill < n ? CHUNK - w->fill : n;
        memcpy(w->in + w->fill, buf, take);
        w->fill += take;
        buf += take;
        n -= take;
        gh_err rc;
        if (w->fill == CHUNK && (rc = writer_push(w, 0)) != GH_OK)
            return rc;
    }
    return GH_OK;
}

/* SQLite: a VACUUM INTO snapshot beside the database, read back into the writer. */
static gh_err sqlite_snapshot_into(struct gh_store *s, struct bk_writer *w)
{
    char snap[4200];
    snprintf(snap, sizeof snap, "%s.snapshot-%d", gh_store_path(s), (int)getpid());
    unlink(snap);
    gh_err rc = gh_store_snapshot(s, snap);
    int sfd = -1;
    if (rc != GH_OK)
        goto out;
    chmod(snap, 0600);
    if ((sfd = open(snap, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    for (;;) {
        size_t n = 0;
        if ((rc = read_full(sfd, w->in + w->fill, CHUNK - w->fill, &n)) != GH_OK)
            goto out;
        w->fill += n;
        if (w->fill < CHUNK)
            break; /* end of file */
        if ((rc = writer_push(w, 0)) != GH_OK)
            goto out;
    }
out:
    if (sfd >= 0)
        close(sfd);
    unlink(snap);
    return rc;
}

gh_err gh_backup_create(struct gh_store *s, const struct gh_backup_keys *k, const char *path,
                        int64_t now, int64_t *out_bytes, char why[GH_STORE_WHY_MAX])
{
    char tmp[4200];
    char wrapped[GH_WRAP_TEXT_MAX + 1] = "";
    struct gh_store_dump_info pg_info;
    struct bk_writer w;
    memset(&w, 0, sizeof w);
    memset(&pg_info, 0, sizeof pg_info);
    bool pg = gh_store_path(s)[0] == '\0'; /* PostgreSQL has no database file */
    unsigned char *key = sodium_malloc(32);
    w.fd = -1;
    w.in = gh_malloc(CHUNK);
    w.out = gh_malloc(CHUNK + SS_ABYTES);
    gh_err rc = GH_ERR_NOMEM;
    why[0] = '\0';
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
    if (!key || !w.in || !w.out)
        goto out;
    if ((rc = backup_key_from_store(s, k, now, key)) != GH_OK)
        goto out;
    if ((rc = gh_store_schema_version(s, &w.schema_version)) != GH_OK)
        goto out;
    /* Header: says how to get the key back; authenticated as the first chunk's AD. */
    if (!k->backup_key && (rc = gh_keywrap_wrap(k->kw, "backup-key", key, 32, wrapped)) != GH_OK)
        goto out;
    w.key = key;
    w.now = now;
    w.key_source = k->backup_key ? "GATEHOUSE_BACKUP_KEY" : "master";
    w.wrapped = wrapped;
    w.pg = pg ? &pg_info : NULL;
    if ((w.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    if (pg)
        rc = gh_store_dump(s, writer_write, &w, &pg_info, why);
    else
        rc = sqlite_snapshot_into(s, &w);
    if (rc != GH_OK)
        goto out;
    if ((rc = writer_push(&w, crypto_secretstream_xchacha20poly1305_TAG_FINAL)) != GH_OK)
        goto out;
    if (fsync(w.fd) != 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    close(w.fd);
    w.fd = -1;
    if (rename(tmp, path) != 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    *out_bytes = w.total;
    rc = GH_OK;
out:
    if (w.fd >= 0)
        close(w.fd);
    if (rc != GH_OK)
        unlink(tmp);
    sodium_memzero(&w.st, sizeof w.st);
    if (key)
        sodium_free(key);
    if (w.in) {
        sodium_memzero(w.in, CHUNK);
        gh_free(w.in);
    }
    gh_free(w.out);
    free(w.header);
    return rc;
}

/* The magic and the header line of an open backup file: header (HEADER_MAX + 1 bytes) gets the
 * line, *out_h its JSON. GH_ERR_CRYPTO when the file is no gatehouse backup. Nothing here is
 * authenticated yet: the header is checked as the first chunk's associated data later. */
static gh_err read_header(int ifd, char *header, size_t *out_len, json_t **out_h)
{
    char magic[sizeof MAGIC - 1];
    size_t n = 0, hl = 0;
    *out_h = NULL;
    if (read_full(ifd, magic, sizeof magic, &n) != GH_OK || n != sizeof magic ||
        memcmp(magic, MAGIC, sizeof magic) != 0)
        return GH_ERR_CRYPTO;
    for (;;) {
        char c;
        if (read_full(ifd, &c, 1, &n) != GH_OK || n != 1 || hl == HEADER_MAX)
            return GH_ERR_CRYPTO;
        if (c == '\n')
            break;
        header[hl++] = c;
    }
    header[hl] = '\0';
    json_t *h = json_loadb(header, hl, JSON_REJECT_DUPLICATES, NULL);
    if (!h || !json_is_object(h) || !json_is_string(json_object_get(h, "format")) ||
        strcmp(json_string_value(json_object_get(h, "format")), "gatehouse-backup-v1") != 0) {
        json_decref(h);
        return GH_ERR_CRYPTO;
    }
    *out_len = hl;
    *out_h = h;
    return GH_OK;
}

/* Backups made before PostgreSQL support name no backend: they are SQLite's. */
static const char *header_backend(json_t *h)
{
    const char *b = json_string_value(json_object_get(h, "backend"));
    return b ? b : "sqlite";
}

gh_err gh_backup_backend(const char *path, char out[16])
{
    char *header = gh_malloc(HEADER_MAX + 1);
    json_t *h = NULL;
    size_t hl = 0;
    out[0] = '\0';
    if (!header)
        return GH_ERR_NOMEM;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    gh_err rc = fd < 0 ? GH_ERR_IO : read_header(fd, header, &hl, &h);
    if (rc == GH_OK)
        snprintf(out, 16, "%s", header_backend(h));
    if (fd >= 0)
        close(fd);
    json_decref(h);
    gh_free(header);
    return rc;
}

/* Find the backup key for a file's header: GATEHOUSE_BACKUP_KEY; the wrapped key in the header
 * (current or previous master key); or the live database's own backup key (a backup taken
 * before a master-key rotation whose previous key is gone): live, or opened from live_url when
 * that is non-NULL. */
static gh_err restore_key(const struct gh_backup_keys *k, json_t *header, struct gh_store *live,
                          const char *live_url, unsigned char *key)
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
    struct gh_store *opened = NULL;
    gh_err rc = GH_OK;
    if (!live) {
        if (!live_url)
            return GH_ERR_CRYPTO;
        rc = gh_store_open(live_url, &opened);
        live = opened;
    }
    char text[GH_HASH_TEXT_MAX + 1];
    if (rc == GH_OK)
        rc = gh_store_wrapped_key_get(live, "backup", text);
    if (rc == GH_OK &&
        (gh_keywrap_unwrap(k->kw, "working-key:backup", text, key, 32, &n, NULL) != GH_OK ||
         n != 32))
        rc = GH_ERR_CRYPTO;
    gh_store_free(opened);
    return rc == GH_OK ? GH_OK : GH_ERR_CRYPTO;
}

/* Decrypt and authenticate the rest of ifd (after the header line) into tfd. GH_ERR_CRYPTO for
 * a wrong key, a flipped byte, reordered or missing chunks, a missing FINAL chunk or anything
 * after it; GH_ERR_IO when tfd cannot be written. tfd then holds unverified plaintext: the
 * caller must discard it on any error. */
static gh_err decrypt_into(int ifd, const unsigned char *key, const char *header, size_t hl,
                           int tfd)
{
    unsigned char *in = gh_malloc(CHUNK + SS_ABYTES), *out = gh_malloc(CHUNK);
    crypto_secretstream_xchacha20poly1305_state st;
    unsigned char ssh[SS_HEADER];
    size_t n = 0;
    gh_err rc = GH_ERR_NOMEM;
    memset(&st, 0, sizeof st);
    if (!in || !out)
        goto out;
    rc = GH_ERR_CRYPTO;
    if (read_full(ifd, ssh, sizeof ssh, &n) != GH_OK || n != sizeof ssh ||
        crypto_secretstream_xchacha20poly1305_init_pull(&st, ssh, key) != 0)
        goto out;
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
    rc = GH_OK;
out:
    sodium_memzero(&st, sizeof st);
    gh_free(in);
    if (out) {
        sodium_memzero(out, CHUNK);
        gh_free(out);
    }
    return rc;
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
    char tmp[4200], lockp[4200], url[4300];
    char *header = gh_malloc(HEADER_MAX + 1);
    unsigned char *key = sodium_malloc(32);
    json_t *h = NULL;
    int ifd = -1, tfd = -1, lfd = -1;
    gh_err rc = GH_ERR_NOMEM;
    bool wrote_tmp = false;
    size_t hl = 0;
    struct stat sb;
    *out_reerased = 0;
    if (!header || !key)
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
    if ((rc = read_header(ifd, header, &hl, &h)) != GH_OK)
        goto out;
    if (strcmp(header_backend(h), "sqlite") != 0) {
        rc = GH_ERR_CONFIG; /* a PostgreSQL backup: main.c says so */
        goto out;
    }
    snprintf(url, sizeof url, "sqlite:%s", db_path);
    rc = GH_ERR_CRYPTO;
    if (restore_key(k, h, NULL, stat(db_path, &sb) == 0 ? url : NULL, key) != GH_OK)
        goto out;
    snprintf(tmp, sizeof tmp, "%s.restore-%d", db_path, (int)getpid());
    unlink(tmp);
    tfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (tfd < 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    wrote_tmp = true;
    if ((rc = decrypt_into(ifd, key, header, hl, tfd)) != GH_OK)
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
    return rc;
}

/* A scratch file for the verified plaintext archive in dir: anonymous from the start (O_TMPFILE)
 * where the filesystem allows it, else unlinked right after it is created; mode 0600 either
 * way, gone when closed — a crash leaves no plaintext file behind. */
static int scratch_fd(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char p[4200];
    snprintf(p, sizeof p, "%s/.gatehouse-restore-%d", dir, (int)getpid());
    fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0)
        unlink(p);
    return fd;
}

static int header_int(json_t *h, const char *name)
{
    json_t *v = json_object_get(h, name);
    return json_is_integer(v) ? (int)json_integer_value(v) : -1;
}

gh_err gh_backup_restore_pg(const struct gh_backup_keys *k, const char *path, const char *url,
                            const char *scratch_dir, long *out_reerased, char why[GH_STORE_WHY_MAX])
{
    char *header = gh_malloc(HEADER_MAX + 1);
    unsigned char *key = sodium_malloc(32);
    struct gh_store_dump_info info;
    struct gh_store *s = NULL;
    json_t *h = NULL;
    int ifd = -1, tfd = -1;
    size_t hl = 0;
    gh_err rc = GH_ERR_NOMEM;
    *out_reerased = 0;
    why[0] = '\0';
    memset(&info, 0, sizeof info);
    if (!header || !key)
        goto out;
    if ((ifd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = GH_ERR_IO;
        goto out;
    }
    if ((rc = read_header(ifd, header, &hl, &h)) != GH_OK)
        goto out;
    const char *schema = json_string_value(json_object_get(h, "pg_schema"));
    const char *tool = json_string_value(json_object_get(h, "pg_dump_version"));
    int schema_version = header_int(h, "schema_version");
    info.server_version = header_int(h, "pg_server_version");
    if (strcmp(header_backend(h), "postgresql") != 0) {
        rc = GH_ERR_CONFIG; /* a SQLite backup: main.c says so */
        goto out;
    }
    if (!schema || !tool || schema_version < 1 || info.server_version < 0 ||
        strlen(schema) >= sizeof info.schema || strlen(tool) >= sizeof info.tool_version) {
        rc = GH_ERR_CRYPTO; /* not a header this code wrote */
        goto out;
    }
    snprintf(info.schema, sizeof info.schema, "%s", schema);
    snprintf(info.tool_version, sizeof info.tool_version, "%s", tool);
    if ((rc = gh_store_open(url, &s)) != GH_OK) {
        snprintf(why, GH_STORE_WHY_MAX, "cannot connect to PostgreSQL (GATEHOUSE_DATABASE_URL)");
        goto out;
    }
    if (restore_key(k, h, s, NULL, key) != GH_OK) {
        rc = GH_ERR_CRYPTO;
        goto out;
    }
    if ((tfd = scratch_fd(scratch_dir)) < 0) {
        snprintf(why, GH_STORE_WHY_MAX, "cannot create a scratch file in GATEHOUSE_DATA_DIR");
        rc = GH_ERR_IO;
        goto out;
    }
    /* Everything authenticated before any of it reaches PostgreSQL. */
    if ((rc = decrypt_into(ifd, key, header, hl, tfd)) != GH_OK) {
        if (rc == GH_ERR_IO)
            snprintf(why, GH_STORE_WHY_MAX, "cannot write the scratch file (disk full?)");
        goto out;
    }
    rc = gh_store_dump_restore(s, tfd, &info, schema_version, out_reerased, why);
    gh_store_free(s); /* its connections prepared statements against the old tables */
    s = NULL;
    if (rc != GH_OK)
        goto out;
    /* An archive of an older schema version: bring it up to this release now. */
    if ((rc = gh_store_open(url, &s)) == GH_OK)
        rc = gh_store_migrate(s, NULL);
    if (rc != GH_OK)
        snprintf(why, GH_STORE_WHY_MAX,
                 "the backup was restored, but migrating it failed: run gatehouse migrate");
out:
    gh_store_free(s);
    if (tfd >= 0)
        close(tfd); /* the anonymous scratch file goes with it */
    if (ifd >= 0)
        close(ifd);
    json_decref(h);
    gh_free(header);
    if (key)
        sodium_free(key);
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
