/* Raw argon2id verification rate, the ceiling for POST /v1/token.
 *
 *   cc -O2 bench/argon2_rate.c -o argon2_rate -lsodium -lpthread
 *   ./argon2_rate THREADS SECONDS [OPSLIMIT] [MEMLIMIT_KIB]
 *
 * Hashes one password once with the given params (default t=2, m=19456 KiB, gatehouse's
 * defaults), then THREADS threads each run crypto_pwhash_str_verify() against that hash in a
 * loop for SECONDS. Prints one machine-readable line:
 *   threads=N seconds=S verifies=V rate=R per_thread_ms=M
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static char g_hash[crypto_pwhash_STRBYTES];
static const char g_pw[] = "correct horse battery staple";
static atomic_bool g_stop;
static atomic_long g_count;
static atomic_int g_failures;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop)) {
        if (crypto_pwhash_str_verify(g_hash, g_pw, sizeof g_pw - 1) != 0)
            atomic_fetch_add(&g_failures, 1);
        /* A verify that finishes after the deadline still counts; the elapsed time is taken
         * after the joins so the rate stays honest. */
        atomic_fetch_add(&g_count, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s THREADS SECONDS [OPSLIMIT] [MEMLIMIT_KIB]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    double seconds = atof(argv[2]);
    unsigned long long ops = argc > 3 ? strtoull(argv[3], NULL, 10) : 2ull;
    size_t mem_kib = argc > 4 ? (size_t)strtoull(argv[4], NULL, 10) : 19456u;
    if (threads < 1 || threads > 256 || seconds <= 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "sodium_init failed\n");
        return 1;
    }
    if (crypto_pwhash_str_alg(g_hash, g_pw, sizeof g_pw - 1, ops, mem_kib * 1024u,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        fprintf(stderr, "hashing failed (out of memory?)\n");
        return 1;
    }
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    if (!tids)
        return 1;
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tids[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    struct timespec ts = {.tv_sec = (time_t)seconds,
                          .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&g_stop, true);
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    double el = now_s() - t0;
    long n = atomic_load(&g_count);
    printf("threads=%d seconds=%.3f verifies=%ld rate=%.2f per_thread_ms=%.2f hash=%.40s...\n",
           threads, el, n, (double)n / el, el * 1000.0 * threads / (double)n, g_hash);
    free(tids);
    return atomic_load(&g_failures) ? 1 : 0;
}
