/* libpq, loaded when a PostgreSQL URL is used (dlopen), not at start: a SQLite deployment never
 * maps libpq and its closure (libssl, libcrypto, Kerberos, LDAP, SASL: ~2.7 MiB of resident
 * memory and ~20 ms of start-up). Code in src/store/ calls PQ* as usual: each name below is a
 * macro for the pointer loaded by gh_pq_load(), which every entry point into the PostgreSQL
 * backend calls first. Only src/store/ includes this (through pg_internal.h). */
#ifndef GH_STORE_PQ_DL_H
#define GH_STORE_PQ_DL_H

#include <libpq-fe.h>

#include "core/err.h"

/* The soname dlopen()ed; scripts/linked-packages.sh finds it in the binary's strings, so the
 * container's package list and the SBOM cover it and its closure. */
#define GH_PQ_SONAME "libpq.so.5"

/* One pointer per libpq function gatehouse calls (add a function here, in pq_dl.c's table and
 * as a macro below). */
struct gh_pq_api {
    __typeof__(&PQclear) PQclear_fn;
    __typeof__(&PQntuples) PQntuples_fn;
    __typeof__(&PQgetvalue) PQgetvalue_fn;
    __typeof__(&PQgetisnull) PQgetisnull_fn;
    __typeof__(&PQstatus) PQstatus_fn;
    __typeof__(&PQgetResult) PQgetResult_fn;
    __typeof__(&PQtransactionStatus) PQtransactionStatus_fn;
    __typeof__(&PQresultStatus) PQresultStatus_fn;
    __typeof__(&PQfinish) PQfinish_fn;
    __typeof__(&PQgetlength) PQgetlength_fn;
    __typeof__(&PQsocket) PQsocket_fn;
    __typeof__(&PQsetSingleRowMode) PQsetSingleRowMode_fn;
    __typeof__(&PQsetNoticeProcessor) PQsetNoticeProcessor_fn;
    __typeof__(&PQserverVersion) PQserverVersion_fn;
    __typeof__(&PQsendQueryPrepared) PQsendQueryPrepared_fn;
    __typeof__(&PQresultErrorField) PQresultErrorField_fn;
    __typeof__(&PQprepare) PQprepare_fn;
    __typeof__(&PQfreemem) PQfreemem_fn;
    __typeof__(&PQexecPrepared) PQexecPrepared_fn;
    __typeof__(&PQexec) PQexec_fn;
    __typeof__(&PQconninfoParse) PQconninfoParse_fn;
    __typeof__(&PQconninfoFree) PQconninfoFree_fn;
    __typeof__(&PQconnectionNeedsPassword) PQconnectionNeedsPassword_fn;
    __typeof__(&PQconnectdbParams) PQconnectdbParams_fn;
    __typeof__(&PQcmdTuples) PQcmdTuples_fn;
    __typeof__(&PQcmdStatus) PQcmdStatus_fn;
    __typeof__(&PQbackendPID) PQbackendPID_fn;
};
extern struct gh_pq_api gh_pq;

/* Load libpq once (thread-safe; later calls return the first result). GH_ERR_CONFIG, with one
 * log line naming the Debian package, when it is not installed or lacks a function. */
GH_MUST_USE gh_err gh_pq_load(void);

#define PQclear (gh_pq.PQclear_fn)
#define PQntuples (gh_pq.PQntuples_fn)
#define PQgetvalue (gh_pq.PQgetvalue_fn)
#define PQgetisnull (gh_pq.PQgetisnull_fn)
#define PQstatus (gh_pq.PQstatus_fn)
#define PQgetResult (gh_pq.PQgetResult_fn)
#define PQtransactionStatus (gh_pq.PQtransactionStatus_fn)
#define PQresultStatus (gh_pq.PQresultStatus_fn)
#define PQfinish (gh_pq.PQfinish_fn)
#define PQgetlength (gh_pq.PQgetlength_fn)
#define PQsocket (gh_pq.PQsocket_fn)
#define PQsetSingleRowMode (gh_pq.PQsetSingleRowMode_fn)
#define PQsetNoticeProcessor (gh_pq.PQsetNoticeProcessor_fn)
#define PQserverVersion (gh_pq.PQserverVersion_fn)
#define PQsendQueryPrepared (gh_pq.PQsendQueryPrepared_fn)
#define PQresultErrorField (gh_pq.PQresultErrorField_fn)
#define PQprepare (gh_pq.PQprepare_fn)
#define PQfreemem (gh_pq.PQfreemem_fn)
#define PQexecPrepared (gh_pq.PQexecPrepared_fn)
#define PQexec (gh_pq.PQexec_fn)
#define PQconninfoParse (gh_pq.PQconninfoParse_fn)
#define PQconninfoFree (gh_pq.PQconninfoFree_fn)
#define PQconnectionNeedsPassword (gh_pq.PQconnectionNeedsPassword_fn)
#define PQconnectdbParams (gh_pq.PQconnectdbParams_fn)
#define PQcmdTuples (gh_pq.PQcmdTuples_fn)
#define PQcmdStatus (gh_pq.PQcmdStatus_fn)
#define PQbackendPID (gh_pq.PQbackendPID_fn)

#endif
