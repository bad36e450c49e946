/* A bounded pool of low-priority threads that run password hashing jobs, so that argon2id
 * never occupies the HTTP threads that serve token checks. A full queue refuses (GH_ERR_BUSY →
 * 503 + Retry-After) instead of growing latency without bound. */
#ifndef GH_AUTH_HASHPOOL_H
#define GH_AUTH_HASHPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct gh_hashpool;

typedef void (*gh_hashpool_fn)(void *arg);

/* threads ≥ 1; queue_max ≥ 1 is the number of jobs that may wait (not counting running ones).
 * nice_delta (e.g. 10) lowers the workers' scheduling priority. */
GH_MUST_USE gh_err gh_hashpool_new(unsigned threads, unsigned queue_max, int nice_delta,
                                   struct gh_hashpool **out);

/* Stops accepting, runs every queued job, joins the threads. NULL-safe. */
void gh_hashpool_free(struct gh_hashpool *pool);

/* Queue fn(arg). GH_ERR_BUSY when the queue is full; fn is then NOT called. */
GH_MUST_USE gh_err gh_hashpool_submit(struct gh_hashpool *pool, gh_hashpool_fn fn, void *arg);

/* Queue fn(arg) on a hashing thread, then finish(arg) on the pool's one finisher thread (niced
 * like the workers, but not SCHED_IDLE), in the order hashing ended: the hashing threads never wait on storage. Such a job
 * counts against queue_max from submission until its finish step starts. */
GH_MUST_USE gh_err gh_hashpool_submit2(struct gh_hashpool *pool, gh_hashpool_fn fn,
                                       gh_hashpool_fn finish, void *arg);

/* Jobs counted against queue_max right now: waiting ones, and two-step jobs not yet finished
 * (metrics; submit refuses at queue_max). */
unsigned gh_hashpool_depth(struct gh_hashpool *pool);

/* Let priority work keep a CPU: while gh_hashpool_note_priority was called in the last
 * window_ms, the last `yield` workers (at most threads - 1) take no new job; a job already
 * running finishes. Set once, before work is submitted. Default: 0 (no yielding). */
void gh_hashpool_set_yield(struct gh_hashpool *pool, unsigned yield, unsigned window_ms);
/* A request thread serves priority work (a token check) now. Cheap: a clock read, and a store
 * at most once per tenth of the window. Thread-safe; a no-op without yielding. */
void gh_hashpool_note_priority(struct gh_hashpool *pool);
/* Workers standing aside right now (metrics). */
unsigned gh_hashpool_yielding(struct gh_hashpool *pool);

/* Would a submit be taken right now? (A hint: another thread may take the room first.) */
bool gh_hashpool_has_room(struct gh_hashpool *pool);

#endif
