/* Unit tests for the audit chain (data/audit.h) over a temporary SQLite store: checkpoints,
 * verification, and every kind of tampering done behind the service's back with raw SQL on the
 * database file (changed, deleted, inserted, swapped, rewritten rows; truncated tail; forged
 * checkpoints), pruning, the tick, the field rules and the canonical encoding's golden values. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "data/audit.h"
#include "data/keywrap.h"
#include "store/store.h"
#include "store/store_audit.h"

#define BASE_TS 1700000000
#define N_EVENTS 250

struct fx {
    char dir[128];
    char path[192];
    struct gh_store *s;
    struct gh_keywrap *kw;
    struct gh_audit *a;
    unsigned char pk[32];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    unsigned char master[32];
    char url[256];
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/gh-audit-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    snprintf(url, sizeof url, "sqlite:%s", f->path);
    randombytes_buf(master, sizeof master);
    if (gh_keywrap_new(master, NULL, &f->kw) != GH_OK || gh_store_open(url, &f->s) != GH_OK ||
        gh_store_migrate(f->s, NULL) != GH_OK)
        return -1;
    struct gh_audit_options opt = {100, 60};
    if (gh_audit_new(f->s, f->kw, &opt, BASE_TS, &f->a) != GH_OK)
        return -1;
    gh_audit_public_key(f->a, f->pk);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[256];
    gh_audit_free(f->a);
    gh_store_free(f->s);
    gh_keywrap_free(f->kw);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-epoch"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void append_one(struct gh_audit *a, int64_t i)
{
    char target[32];
    snprintf(target, sizeof target, "sess-%lld", (long long)i);
    struct gh_audit_event ev = {
        .ts = BASE_TS + i * 3600,
        .action = i % 3 ? "login_success" : "login_failure",
        .actor = "AAAAAAAAAAAAAAAAAAAAAA",
        .target = target,
        .outcome = i % 3 ? "success" : "failure",
        .request_id = "cmVxdWVzdC1pZC0wMDAwMA",
        .client = "192.0.2.0/24",
    };
    assert_int_equal(gh_audit_append(a, &ev), GH_OK);
}

static void append_n(struct fx *f, int64_t from, int64_t n)
{
    for (int64_t i = from; i < from + n; i++)
        append_one(f->a, i);
}

/* 250 events, then the shutdown checkpoint at 250. */
static void fill_and_close(struct fx *f)
{
    append_n(f, 1, N_EVENTS);
    assert_int_equal(gh_audit_close(f->a), GH_OK);
    f->a = NULL;
}

/* ---- raw SQL on the file, as an attacker with write access would ---- */

static int raw(const char *path, const char *sql_text)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    const char *tail = sql_text;
    while (rc == SQLITE_OK && tail && *tail) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
        if (rc != SQLITE_OK || !st)
            break;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        sqlite3_finalize(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_close(db);
    return rc;
}

static void raw_ok(const char *path, const char *sql_text)
{
    int rc = raw(path, sql_text);
    if (rc != SQLITE_OK)
        fail_msg("raw sql failed (%d): %s", rc, sql_text);
}

static void drop_trigger(struct fx *f)
{
    raw_ok(f->path, "DROP TRIGGER audit_events_append_only");
}

static void verify(struct fx *f, const unsigned char pk[32], struct gh_audit_report *r)
{
    assert_int_equal(gh_audit_verify(f->s, pk, r), GH_OK);
}

static void expect_bad(struct fx *f, enum gh_audit_problem kind, int64_t seq, const char *text)
{
    struct gh_audit_report r;
    verify(f, f->pk, &r);
    if (r.problem != kind || r.bad_seq != seq || !strstr(r.message, text))
        fail_msg("expected problem %d at %lld (\"%s\"), got %d at %lld: %s", kind, (long long)seq,
                 text, r.problem, (long long)r.bad_seq, r.message);
}

struct collect {
    struct gh_audit_row rows[N_EVENTS + GH_AUDIT_RETRY_MAX + 16];
    size_t n;
    int64_t cps[16];
    size_t ncps;
};

static gh_err c_row(void *ctx, const struct gh_audit_row *r)
{
    struct collect *c = ctx;
    if (c->n < sizeof c->rows / sizeof c->rows[0])
        c->rows[c->n++] = *r;
    return GH_OK;
}

static gh_err c_cp(void *ctx, const struct gh_audit_mark *m)
{
    struct collect *c = ctx;
    if (c->ncps < 16)
        c->cps[c->ncps++] = m->seq;
    return GH_OK;
}

static struct collect *collect(struct fx *f)
{
    struct collect *c = calloc(1, sizeof *c);
    assert_non_null(c);
    struct gh_audit_reader r = {NULL, c_cp, c_row, c};
    assert_int_equal(gh_store_audit_read(f->s, &r), GH_OK);
    return c;
}

/* Write a row's every column back at its seq (trigger dropped). */
static void raw_put_row(struct fx *f, const struct gh_audit_row *r, bool insert)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    const char *sql_text =
        insert ? "INSERT INTO audit_events(seq, ts, action, actor, target, outcome, request_id, "
                 "client, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
               : "UPDATE audit_events SET ts = ?2, action = ?3, actor = ?4, target = ?5, "
                 "outcome = ?6, request_id = ?7, client = ?8, prev_hash = ?9, hash = ?10 "
                 "WHERE seq = ?1";
    assert_int_equal(sqlite3_prepare_v2(db, sql_text, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, r->seq);
    sqlite3_bind_int64(st, 2, r->ts);
    const char *v[] = {r->action,     r->actor,  r->target,    r->outcome,
                       r->request_id, r->client, r->prev_hash, r->hash};
    for (int i = 0; i < 8; i++)
        sqlite3_bind_text(st, 3 + i, v[i], -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Give r a correct hash chained on prev_hex (what an attacker can always compute: the chain
 * itself has no secret; only checkpoints do). */
static void rechain(struct gh_audit_row *r, const char *prev_hex)
{
    unsigned char prev[32], h[32];
    char canon[GH_AUDIT_CANONICAL_MAX];
    size_t len = 0;
    assert_int_equal(sodium_hex2bin(prev, 32, prev_hex, 64, NULL, NULL, NULL), 0);
    snprintf(r->prev_hash, sizeof r->prev_hash, "%s", prev_hex);
    assert_int_equal(gh_audit_canonical(r, canon, &len), GH_OK);
    gh_audit_chain_hash(prev, canon, len, h);
    sodium_bin2hex(r->hash, sizeof r->hash, h, 32);
}

/* ---- tests ---- */

static void test_append_checkpoints_verify(void **state)
{
    struct fx *f = *state;
    struct gh_audit_report r;
    append_n(f, 1, N_EVENTS);
    struct collect *c = collect(f);
    assert_int_equal(c->n, N_EVENTS);
    assert_int_equal(c->ncps, 2);
    assert_int_equal(c->cps[0], 100);
    assert_int_equal(c->cps[1], 200);
    for (size_t i = 0; i < c->n; i++)
        assert_int_equal(c->rows[i].seq, (int64_t)i + 1);
    assert_string_equal(c->rows[0].prev_hash,
                        "0000000000000000000000000000000000000000000000000000000000000000");
    assert_string_equal(c->rows[1].prev_hash, c->rows[0].hash);
    free(c);
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.events, N_EVENTS);
    assert_int_equal(r.last_seq, N_EVENTS);
    assert_int_equal(r.checkpoints, 2);
    assert_int_equal(r.last_checkpoint_seq, 200);

    /* Shutdown signs the rest. */
    assert_int_equal(gh_audit_close(f->a), GH_OK);
    f->a = NULL;
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.last_checkpoint_seq, 250);

    /* The trigger refuses any UPDATE, even a no-op. */
    assert_int_not_equal(raw(f->path, "UPDATE audit_events SET action = action WHERE seq = 1"),
                         SQLITE_OK);
    assert_int_not_equal(raw(f->path, "UPDATE audit_checkpoints SET seq = seq"), SQLITE_OK);
}

static void test_tamper_changed_field(void **state)
{
    struct fx *f = *state;
    fill_and_close(f);
    drop_trigger(f);
    raw_ok(f->path, "UPDATE audit_events SET action = 'logout' WHERE seq = 137");
    expect_bad(f, GH_AUDIT_HASH_MISMATCH, 137, "hash mismatch at seq 137");
}

static void test_tamper_changed_type_or_nul(void **state)
{
    struct fx *f = *state;
    fill_and_close(f);
    drop_trigger(f);
    /* Same visible text, but with a NUL and more after it: not what was hashed. */
    raw_ok(f->path, "UPDATE audit_events SET actor = CAST(actor || char(0) || 'x' AS TEXT) "
                    "WHERE seq = 12");
    expect_bad(f, GH_AUDIT_HASH_MISMATCH, 12, "malformed");
}

static void test_tamper_deleted_row(void **state)
{
    struct fx *f = *state;
    fill_and_close(f);
    raw_ok(f->path, "DELETE FROM audit_events WHERE seq = 42");
    expect_bad(f, GH_AUDIT_SEQ_GAP, 42, "seq gap before 43");
}

static void test_tamper_inserted_row(void **state)
{
    struct fx *f = *state;
    fill_and_close(f);
    struct collect *c = collect(f);
    drop_trigger(f);
    /* Make room at 60 (two steps: seq is a primary key), then insert a well-chained row. */
    raw_ok(f->path, "UPDATE audit_events SET seq = -(seq + 1) WHERE seq >= 60; "
                    "UPDATE audit_events SET seq = -seq WHERE seq < 0");
    struct gh_audit_row ins = c->rows[58]; /* a copy of seq 59 */
    ins.seq = 60;
    snprintf(ins.action, sizeof ins.action, "admin_unlock");
    rechain(&ins, c->rows[58].hash);
    raw_put_row(f, &ins, true);
    free(c);
    /* The inserted row itself chains; the one after it no longer does. */
    expect_bad(f, GH_AUDIT_HASH_MISMATCH, 61, "hash mismatch at seq 61");
}

static void test_tamper_swapped_rows(void **state)
{
    struct fx *f = *state;
    fill_and_close(f);
    struct collect *c = collect(f);
    drop_trigger(f);
    struct gh_audit_row a = c->rows[19], b = c->rows[9]; /* seq 20 and 10 */
    a.seq = 10;
    b.seq = 20;
    raw_put_row(f, &a, false);
    raw_put_row(f, &b, false);
    free(c);
    expect_bad(f, GH_AUDIT_HASH_MISMATCH, 10, "hash mismatch at seq 10");
}

static void test_tamper_truncated_tail(void **state)
{
    struct fx *f = *state;
    fill_and_close(f);
    raw_ok(f->path, "DELETE FROM audit_events WHERE seq > 230");
    expect_bad(f, GH_AUDIT_TRUNCATED, 231,
               "chain truncated: last checkpoint at seq 250 but the last row is 230");
}

static void test_tamper_rewritten_suffix(void **state)
{
    struct fx *f = *state;
    fill_and_close(f);
    struct collect *c = collect(f);
    drop_trigger(f);
    /* Change seq 150 and re-chain everything after it: every row checks, the signed
     * checkpoint at 200 does not. */
    snprintf(c->rows[149].outcome, sizeof c->rows[149].outcome, "success");
    snprintf(c->rows[149].action, sizeof c->rows[149].action, "logout");
    for (size_t i = 149; i < N_EVENTS; i++) {
        rechain(&c->rows[i], c->rows[i - 1].hash);
        raw_put_row(f, &c->rows[i], false);
    }
    free(c);
    expect_bad(f, GH_AUDIT_CHECKPOINT_BAD, 200, "checkpoint at seq 200 does not verify");
}

static void test_forged_checkpoint(void **state)
{
    struct fx *f = *state;
    fill_and_close(f);
    /* Replace checkpoint 200 by one over the right (seq, hash) signed with another key. */
    struct collect *c = collect(f);
    unsigned char opk[32], osk[64], hash[32], msg[GH_AUDIT_SIGNED_LEN], sig[64];
    char sig_text[GH_AUDIT_SIG_TEXT + 1], sql_text[512];
    crypto_sign_keypair(opk, osk);
    assert_int_equal(sodium_hex2bin(hash, 32, c->rows[199].hash, 64, NULL, NULL, NULL), 0);
    gh_audit_signed_message(200, hash, msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, osk);
    gh_b64url_encode(sig, 64, sig_text, sizeof sig_text);
    snprintf(sql_text, sizeof sql_text,
             "DELETE FROM audit_checkpoints WHERE seq = 200; INSERT INTO "
             "audit_checkpoints(seq, hash, sig, created_at) VALUES (200, '%s', '%s', 1)",
             c->rows[199].hash, sig_text);
    free(c);
    raw_ok(f->path, sql_text);
    expect_bad(f, GH_AUDIT_CHECKPOINT_BAD, 200, "checkpoint at seq 200 does not verify");
    /* Verified with the forger's key instead, the genuine ones fail first. */
    struct gh_audit_report r;
    verify(f, opk, &r);
    assert_int_equal(r.problem, GH_AUDIT_CHECKPOINT_BAD);
    assert_int_equal(r.bad_seq, 100);
}

static void test_prune(void **state)
{
    struct fx *f = *state;
    struct gh_audit_report r;
    int64_t deleted = -1;
    append_n(f, 1, N_EVENTS);
    /* Event i has ts BASE + i h: prune everything before event 120. */
    assert_int_equal(gh_audit_prune(f->a, BASE_TS + 120 * 3600, BASE_TS, &deleted, &r), GH_OK);
    assert_int_equal(deleted, 119);
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.anchor_seq, 119);
    assert_int_equal(r.events, N_EVENTS - 119);
    assert_int_equal(r.last_checkpoint_seq, 200);
    /* Again with the same date: nothing to do. */
    assert_int_equal(gh_audit_prune(f->a, BASE_TS + 120 * 3600, BASE_TS, &deleted, &r), GH_OK);
    assert_int_equal(deleted, 0);
    /* The chain goes on from where it was. */
    append_n(f, N_EVENTS + 1, 10);
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.last_seq, N_EVENTS + 10);
    /* A forged anchor is caught. */
    raw_ok(f->path, "UPDATE audit_anchor SET seq = 118");
    expect_bad(f, GH_AUDIT_ANCHOR_BAD, 118, "anchor at seq 118 does not verify");
    raw_ok(f->path, "UPDATE audit_anchor SET seq = 119");
    /* Everything older than a far date: the anchor is the tail, and appends continue. */
    assert_int_equal(gh_audit_prune(f->a, BASE_TS + 100000 * 3600LL, BASE_TS, &deleted, &r), GH_OK);
    assert_int_equal(deleted, N_EVENTS + 10 - 119);
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.events, 0);
    assert_int_equal(r.anchor_seq, N_EVENTS + 10);
    append_n(f, N_EVENTS + 11, 3);
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.last_seq, N_EVENTS + 13);
}

static void test_prune_refused_when_tampered(void **state)
{
    struct fx *f = *state;
    struct gh_audit_report r;
    int64_t deleted = -1;
    append_n(f, 1, 50);
    drop_trigger(f);
    raw_ok(f->path, "UPDATE audit_events SET actor = 'operator' WHERE seq = 5");
    assert_int_equal(gh_audit_prune(f->a, BASE_TS + 40 * 3600, BASE_TS, &deleted, &r),
                     GH_ERR_CRYPTO);
    assert_int_equal(deleted, 0);
    assert_int_equal(r.bad_seq, 5);
    struct collect *c = collect(f);
    assert_int_equal(c->n, 50);
    free(c);
}

static void test_tick(void **state)
{
    struct fx *f = *state;
    struct gh_audit_report r;
    assert_int_equal(gh_audit_tick(f->a, BASE_TS + 100), GH_OK); /* nothing to sign */
    append_n(f, 1, 3);
    assert_int_equal(gh_audit_tick(f->a, BASE_TS + 130), GH_OK); /* < 60 s since */
    verify(f, f->pk, &r);
    assert_int_equal(r.checkpoints, 0);
    assert_int_equal(gh_audit_tick(f->a, BASE_TS + 200), GH_OK);
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.checkpoints, 1);
    assert_int_equal(r.last_checkpoint_seq, 3);
    assert_int_equal(gh_audit_tick(f->a, BASE_TS + 300), GH_OK); /* nothing new */
    verify(f, f->pk, &r);
    assert_int_equal(r.checkpoints, 1);
    /* A second instance on the same database continues the same chain with the same key. */
    struct gh_audit *b = NULL;
    unsigned char pk2[32];
    assert_int_equal(gh_audit_new(f->s, f->kw, NULL, BASE_TS, &b), GH_OK);
    gh_audit_public_key(b, pk2);
    assert_memory_equal(pk2, f->pk, 32);
    append_one(b, 4);
    append_one(f->a, 5);
    assert_int_equal(gh_audit_close(b), GH_OK);
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.last_checkpoint_seq, 5);
}

static gh_err append_at(struct gh_audit *a, int64_t i)
{
    char target[32];
    snprintf(target, sizeof target, "sess-%lld", (long long)i);
    struct gh_audit_event ev = {.ts = BASE_TS + i * 3600,
                                .action = "login_success",
                                .actor = "AAAAAAAAAAAAAAAAAAAAAA",
                                .target = target,
                                .outcome = "success",
                                .request_id = "cmVxdWVzdC1pZC0wMDAwMA",
                                .client = "192.0.2.0/24"};
    return gh_audit_append(a, &ev);
}

#define REFUSE_APPENDS                                                                            \
    "CREATE TRIGGER refuse_appends BEFORE INSERT ON audit_events "                               \
    "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"

/* The store refuses appends for a while (a full disk, the database away): the events wait in
 * order with their own times, nothing is checkpointed over the gap, and they are stored by the
 * tick once the store takes them again. A full queue loses events, counted. */
static void test_append_failure_queued_then_stored(void **state)
{
    struct fx *f = *state;
    struct gh_audit_stats st;
    struct gh_audit_report r;
    append_n(f, 1, 3);
    assert_int_equal(raw(f->path, REFUSE_APPENDS), SQLITE_OK);
    assert_int_equal(append_at(f->a, 4), GH_ERR_BUSY);
    assert_int_equal(append_at(f->a, 5), GH_ERR_BUSY);
    gh_audit_stats(f->a, &st);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.failures, 1); /* the second did not even try: it waits behind */
    assert_int_equal(st.dropped, 0);
    /* Still refused: the tick reports it and signs nothing. */
    assert_int_not_equal(gh_audit_tick(f->a, BASE_TS + 1000000), GH_OK);
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.events, 3);
    assert_int_equal(r.checkpoints, 0);
    /* The store is back: a new event queues behind the waiting ones, the tick stores all three
     * in order, then checkpoints. */
    assert_int_equal(raw(f->path, "DROP TRIGGER refuse_appends"), SQLITE_OK);
    assert_int_equal(append_at(f->a, 6), GH_ERR_BUSY);
    assert_int_equal(gh_audit_tick(f->a, BASE_TS + 1000000), GH_OK);
    gh_audit_stats(f->a, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.recovered, 3);
    struct collect *c = collect(f);
    assert_int_equal(c->n, 6);
    for (size_t i = 0; i < c->n; i++) {
        assert_int_equal(c->rows[i].seq, (int64_t)i + 1);
        assert_int_equal(c->rows[i].ts, BASE_TS + ((int64_t)i + 1) * 3600);
    }
    assert_int_equal(c->ncps, 1);
    assert_int_equal(c->cps[0], 6);
    free(c);
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.events, 6);
    /* Direct appends again. */
    assert_int_equal(append_at(f->a, 7), GH_OK);

    /* A queue that fills loses what does not fit, and says so. */
    assert_int_equal(raw(f->path, REFUSE_APPENDS), SQLITE_OK);
    for (int64_t i = 0; i < GH_AUDIT_RETRY_MAX; i++)
        assert_int_equal(append_at(f->a, 8 + i), GH_ERR_BUSY);
    assert_int_equal(append_at(f->a, 8 + GH_AUDIT_RETRY_MAX), GH_ERR_TOO_LARGE);
    gh_audit_stats(f->a, &st);
    assert_int_equal(st.pending, GH_AUDIT_RETRY_MAX);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(raw(f->path, "DROP TRIGGER refuse_appends"), SQLITE_OK);
    assert_int_equal(gh_audit_close(f->a), GH_OK); /* shutdown stores the queue first */
    f->a = NULL;
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.events, 7 + GH_AUDIT_RETRY_MAX);
    assert_int_equal(r.last_checkpoint_seq, 7 + GH_AUDIT_RETRY_MAX);
}

static void *tick_main(void *p)
{
    struct gh_audit *a = p;
    gh_err rc = GH_OK;
    for (int i = 0; i < 20; i++)
        if (gh_audit_tick(a, BASE_TS + 1000000) != GH_OK)
            rc = GH_ERR_STORE;
    return rc == GH_OK ? a : NULL; /* NULL: a tick failed */
}

/* Ticks from several threads at once store each waiting event exactly once, in order. */
static void test_concurrent_ticks_store_once(void **state)
{
    struct fx *f = *state;
    struct gh_audit_report r;
    assert_int_equal(raw(f->path, REFUSE_APPENDS), SQLITE_OK);
    for (int64_t i = 1; i <= 100; i++)
        assert_int_equal(append_at(f->a, i), GH_ERR_BUSY);
    assert_int_equal(raw(f->path, "DROP TRIGGER refuse_appends"), SQLITE_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, tick_main, f->a), 0);
    for (int i = 0; i < 4; i++) {
        void *ok = NULL;
        pthread_join(t[i], &ok);
        assert_non_null(ok);
    }
    struct gh_audit_stats st;
    gh_audit_stats(f->a, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.recovered, 100);
    struct collect *c = collect(f);
    assert_int_equal(c->n, 100);
    for (size_t i = 0; i < c->n; i++)
        assert_int_equal(c->rows[i].ts, BASE_TS + ((int64_t)i + 1) * 3600);
    free(c);
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.events, 100);
}

static void test_field_rules(void **state)
{
    struct fx *f = *state;
    struct gh_audit_event ok = {0, "logout", "AAAAAAAAAAAAAAAAAAAAAA", "", "success", NULL, NULL};
    assert_true(gh_audit_event_is_valid(&ok));
    assert_int_equal(gh_audit_append(f->a, &ok), GH_OK);
    struct gh_audit_event e = ok;
    e.actor = "someone@example.com"; /* no emails, ever */
    assert_false(gh_audit_event_is_valid(&e));
    assert_int_equal(gh_audit_append(f->a, &e), GH_ERR_INVALID);
    e = ok;
    e.target = "Jane Doe";
    assert_false(gh_audit_event_is_valid(&e));
    e = ok;
    e.client = "192.0.2.77"; /* not truncated */
    assert_false(gh_audit_event_is_valid(&e));
    e.client = "2001:db8:1::/48";
    assert_true(gh_audit_event_is_valid(&e));
    e.client = "unknown";
    assert_true(gh_audit_event_is_valid(&e));
    e = ok;
    e.outcome = "ok";
    assert_false(gh_audit_event_is_valid(&e));
    e = ok;
    e.action = "Login";
    assert_false(gh_audit_event_is_valid(&e));
    e.action = NULL;
    assert_false(gh_audit_event_is_valid(&e));
    e = ok;
    e.request_id = "a\"b";
    assert_false(gh_audit_event_is_valid(&e));
    e.request_id = "0123456789012345678901234567890123456789012345678901234567890123456789";
    assert_false(gh_audit_event_is_valid(&e));
    struct gh_audit_report r;
    verify(f, f->pk, &r);
    assert_int_equal(r.problem, GH_AUDIT_OK);
    assert_int_equal(r.events, 1);
}

static void test_canonical_golden(void **state)
{
    (void)state;
    struct gh_audit_row row;
    memset(&row, 0, sizeof row);
    row.seq = 7;
    row.ts = 1700000000;
    snprintf(row.action, sizeof row.action, "login_success");
    snprintf(row.actor, sizeof row.actor, "AAAAAAAAAAAAAAAAAAAAAA");
    snprintf(row.target, sizeof row.target, "c2Vzc2lvbi1pZC0wMDAwMA");
    snprintf(row.outcome, sizeof row.outcome, "success");
    snprintf(row.request_id, sizeof row.request_id, "cmVxdWVzdC1pZC0wMDAwMA");
    snprintf(row.client, sizeof row.client, "192.0.2.0/24");
    char canon[GH_AUDIT_CANONICAL_MAX], hex[65];
    size_t len = 0;
    assert_int_equal(gh_audit_canonical(&row, canon, &len), GH_OK);
    /* = python3 json.dumps(event, sort_keys=True, separators=(",", ":")) */
    assert_string_equal(canon, "{\"action\":\"login_success\",\"actor\":\"AAAAAAAAAAAAAAAAAAAAAA\","
                               "\"client\":\"192.0.2.0/24\",\"outcome\":\"success\","
                               "\"request_id\":\"cmVxdWVzdC1pZC0wMDAwMA\",\"seq\":7,"
                               "\"target\":\"c2Vzc2lvbi1pZC0wMDAwMA\",\"ts\":1700000000}");
    assert_int_equal(len, strlen(canon));
    unsigned char zero[32] = {0}, h[32];
    gh_audit_chain_hash(zero, canon, len, h);
    sodium_bin2hex(hex, sizeof hex, h, 32);
    /* = hashlib.blake2b(bytes(32) + canonical, digest_size=32).hexdigest() */
    assert_string_equal(hex, "a4bdc04244d39a3ca1562e19fcd95b2b919ca293c0748656cd7a3d56dead0774");

    unsigned char msg[GH_AUDIT_SIGNED_LEN];
    assert_int_equal(sizeof msg, 30 + 8 + 32);
    gh_audit_signed_message(0x0102030405060708LL, h, msg);
    assert_memory_equal(msg, "gatehouse-audit-checkpoint-v1\n", 30);
    const unsigned char be[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(msg + 30, be, 8);
    assert_memory_equal(msg + 38, h, 32);
}

static void test_parse_date_and_pubkey_file(void **state)
{
    struct fx *f = *state;
    int64_t t = 0;
    assert_int_equal(gh_audit_parse_date("2024-03-01", &t), GH_OK);
    assert_int_equal(t, 1709251200);
    assert_int_equal(gh_audit_parse_date("2024-02-30", &t), GH_ERR_INVALID);
    assert_int_equal(gh_audit_parse_date("2024-3-01", &t), GH_ERR_INVALID);
    assert_int_equal(gh_audit_parse_date("2024-03-01x", &t), GH_ERR_INVALID);
    assert_int_equal(gh_audit_parse_date("", &t), GH_ERR_INVALID);

    char path[256], text[GH_AUDIT_PUBKEY_TEXT + 1];
    unsigned char back[32];
    snprintf(path, sizeof path, "%s/audit.pub", f->dir);
    gh_audit_pubkey_encode(f->pk, text);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "%s\n", text);
    fclose(fp);
    assert_int_equal(gh_audit_pubkey_read(path, back), GH_OK);
    assert_memory_equal(back, f->pk, 32);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "not a key\n");
    fclose(fp);
    assert_int_equal(gh_audit_pubkey_read(path, back), GH_ERR_INVALID);
    unlink(path);
    assert_int_equal(gh_audit_pubkey_read(path, back), GH_ERR_IO);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_checkpoints_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_changed_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_changed_type_or_nul, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_deleted_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_inserted_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_swapped_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_truncated_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_rewritten_suffix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forged_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_refused_when_tampered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_failure_queued_then_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_ticks_store_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_field_rules, setup, teardown),
        cmocka_unit_test(test_canonical_golden),
        cmocka_unit_test_setup_teardown(test_parse_date_and_pubkey_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
