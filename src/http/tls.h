/* TLS credentials that can be replaced while serving (SIGHUP), used through libmicrohttpd's
 * certificate callback. One TLS listener per process. */
#ifndef GH_HTTP_TLS_H
#define GH_HTTP_TLS_H

#include "core/err.h"

/* Parse and check (the key must match the certificate) a PEM chain and key, then make them
 * current for new handshakes. GH_ERR_CONFIG when they do not parse or do not match: the
 * credentials in use stay. */
GH_MUST_USE gh_err gh_http_tls_load(const char *cert_pem, const char *key_pem);
/* The gnutls_certificate_retrieve_function2 to pass as MHD_OPTION_HTTPS_CERT_CALLBACK. */
void *gh_http_tls_callback(void);
/* Free every credential set (after the daemon has stopped). */
void gh_http_tls_free(void);

#endif
