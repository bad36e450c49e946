/* The TLS certificate and key, handed to GnuTLS (through libmicrohttpd's certificate callback)
 * at each handshake, so that a reload (SIGHUP) takes effect for the next connection without a
 * restart. A reload that fails — unreadable PEM, a key that does not match the certificate —
 * keeps the credentials in use.
 * Lifetime: one set is current; the set it replaced is retired and freed at the following
 * reload (a handshake holds the pointers only while it runs), the rest at gh_http_tls_free.
 * Trust boundary: the PEM comes from the operator's files; the private key stays in GnuTLS. */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "http/tls.h"
#include "core/mem.h"
#include "core/banned.h"

#define MAX_CHAIN 8

struct gh_tls_creds {
    gnutls_pcert_st pcert[MAX_CHAIN];
    unsigned n;
    gnutls_privkey_t key;
};

/* One TLS listener per process: GnuTLS's retrieve callback carries no user pointer. */
static _Atomic(struct gh_tls_creds *) current;
static struct gh_tls_creds *retired;
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

static void creds_free(struct gh_tls_creds *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->n; i++)
        gnutls_pcert_deinit(&c->pcert[i]);
    if (c->key)
        gnutls_privkey_deinit(c->key);
    gh_free(c);
}

/* Does the key sign what the certificate's public key verifies? */
static bool key_matches(struct gh_tls_creds *c)
{
    static const unsigned char probe[] = "gatehouse tls key check";
    gnutls_datum_t data = {(unsigned char *)(uintptr_t)probe, sizeof probe - 1};
    gnutls_datum_t sig = {NULL, 0};
    int pk = gnutls_privkey_get_pk_algorithm(c->key, NULL);
    gnutls_sign_algorithm_t algo = gnutls_pk_to_sign((gnutls_pk_algorithm_t)pk,
                                                     pk == GNUTLS_PK_EDDSA_ED25519
                                                         ? GNUTLS_DIG_SHA512
                                                         : GNUTLS_DIG_SHA256);
    if (gnutls_privkey_sign_data2(c->key, algo, 0, &data, &sig) < 0)
        return false;
    int rc = gnutls_pubkey_verify_data2(c->pcert[0].pubkey, algo, 0, &data, &sig);
    gnutls_free(sig.data);
    return rc >= 0;
}

static gh_err creds_load(const char *cert_pem, const char *key_pem, struct gh_tls_creds **out)
{
    struct gh_tls_creds *c = gh_calloc(1, sizeof *c);
    if (!c)
        return GH_ERR_NOMEM;
    gnutls_datum_t cd = {(unsigned char *)(uintptr_t)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t kd = {(unsigned char *)(uintptr_t)key_pem, (unsigned)strlen(key_pem)};
    unsigned n = MAX_CHAIN;
    if (gnutls_pcert_list_import_x509_raw(c->pcert, &n, &cd, GNUTLS_X509_FMT_PEM, 0) < 0 ||
        n == 0) {
        gh_free(c);
        return GH_ERR_CONFIG;
    }
    c->n = n;
    if (gnutls_privkey_init(&c->key) < 0 ||
        gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0) < 0 ||
        !key_matches(c)) {
        creds_free(c);
        return GH_ERR_CONFIG;
    }
    *out = c;
    return GH_OK;
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length,
                    gnutls_privkey_t *privkey)
{
    (void)session;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct gh_tls_creds *c = atomic_load_explicit(&current, memory_order_acquire);
    if (!c)
        return -1;
    *pcert = c->pcert;
    *pcert_length = c->n;
    *privkey = c->key;
    return 0;
}

void *gh_http_tls_callback(void)
{
    return (void *)(uintptr_t)retrieve;
}

gh_err gh_http_tls_load(const char *cert_pem, const char *key_pem)
{
    struct gh_tls_creds *c = NULL;
    gh_err rc = creds_load(cert_pem, key_pem, &c);
    if (rc != GH_OK)
        return rc;
    pthread_mutex_lock(&reload_lock);
    struct gh_tls_creds *old =
        atomic_exchange_explicit(&current, c, memory_order_acq_rel);
    creds_free(retired);
    retired = old;
    pthread_mutex_unlock(&reload_lock);
    return GH_OK;
}

void gh_http_tls_free(void)
{
    pthread_mutex_lock(&reload_lock);
    creds_free(atomic_exchange(&current, NULL));
    creds_free(retired);
    retired = NULL;
    pthread_mutex_unlock(&reload_lock);
}
