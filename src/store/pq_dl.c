/* Owns the dlopen of libpq (see pq_dl.h). The handle is never closed: libpq keeps state (its
 * OpenSSL initialisation) for the life of the process. */
#include <dlfcn.h>
#include <stddef.h>
#include <pthread.h>
#include <string.h>

#include "core/log.h"
#include "store/pq_dl.h"
#include "core/banned.h"

struct gh_pq_api gh_pq;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static gh_err result = GH_ERR_CONFIG;

static void load(void)
{
    /* RTLD_LOCAL: libpq's symbols (and OpenSSL's) stay out of the global namespace. */
    void *h = dlopen(GH_PQ_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        gh_log(GH_LOG_ERROR,
               "PostgreSQL client library not found: install the Debian package libpq5", NULL,
               "store_libpq_missing", json_pack("{s:s}", "library", GH_PQ_SONAME));
        return;
    }
    static const struct {
        const char *name;
        size_t off;
    } syms[] = {
        {"PQclear", offsetof(struct gh_pq_api, PQclear_fn)},
        {"PQntuples", offsetof(struct gh_pq_api, PQntuples_fn)},
        {"PQgetvalue", offsetof(struct gh_pq_api, PQgetvalue_fn)},
        {"PQgetisnull", offsetof(struct gh_pq_api, PQgetisnull_fn)},
        {"PQstatus", offsetof(struct gh_pq_api, PQstatus_fn)},
        {"PQgetResult", offsetof(struct gh_pq_api, PQgetResult_fn)},
        {"PQtransactionStatus", offsetof(struct gh_pq_api, PQtransactionStatus_fn)},
        {"PQresultStatus", offsetof(struct gh_pq_api, PQresultStatus_fn)},
        {"PQfinish", offsetof(struct gh_pq_api, PQfinish_fn)},
        {"PQgetlength", offsetof(struct gh_pq_api, PQgetlength_fn)},
        {"PQsocket", offsetof(struct gh_pq_api, PQsocket_fn)},
        {"PQsetSingleRowMode", offsetof(struct gh_pq_api, PQsetSingleRowMode_fn)},
        {"PQsetNoticeProcessor", offsetof(struct gh_pq_api, PQsetNoticeProcessor_fn)},
        {"PQserverVersion", offsetof(struct gh_pq_api, PQserverVersion_fn)},
        {"PQsendQueryPrepared", offsetof(struct gh_pq_api, PQsendQueryPrepared_fn)},
        {"PQresultErrorField", offsetof(struct gh_pq_api, PQresultErrorField_fn)},
        {"PQprepare", offsetof(struct gh_pq_api, PQprepare_fn)},
        {"PQfreemem", offsetof(struct gh_pq_api, PQfreemem_fn)},
        {"PQexecPrepared", offsetof(struct gh_pq_api, PQexecPrepared_fn)},
        {"PQexec", offsetof(struct gh_pq_api, PQexec_fn)},
        {"PQconninfoParse", offsetof(struct gh_pq_api, PQconninfoParse_fn)},
        {"PQconninfoFree", offsetof(struct gh_pq_api, PQconninfoFree_fn)},
        {"PQconnectionNeedsPassword", offsetof(struct gh_pq_api, PQconnectionNeedsPassword_fn)},
        {"PQconnectdbParams", offsetof(struct gh_pq_api, PQconnectdbParams_fn)},
        {"PQcmdTuples", offsetof(struct gh_pq_api, PQcmdTuples_fn)},
        {"PQcmdStatus", offsetof(struct gh_pq_api, PQcmdStatus_fn)},
        {"PQbackendPID", offsetof(struct gh_pq_api, PQbackendPID_fn)},
    };
    /* Every pointer of gh_pq_api has its row here (a row missing would leave a NULL to call). */
    _Static_assert(sizeof syms / sizeof syms[0] == sizeof(struct gh_pq_api) / sizeof(void (*)(void)),
                   "pq_dl.c: one table row per gh_pq_api member");
    const char *missing = NULL;
    for (size_t i = 0; i < sizeof syms / sizeof syms[0] && !missing; i++) {
        void *fp = dlsym(h, syms[i].name);
        if (!fp)
            missing = syms[i].name;
        else /* a data pointer from dlsym into a function pointer: POSIX guarantees the sizes */
            memcpy((unsigned char *)&gh_pq + syms[i].off, &fp, sizeof fp);
    }
    if (missing) {
        gh_log(GH_LOG_ERROR, "PostgreSQL client library too old: a function is missing", NULL,
               "store_libpq_missing", json_pack("{s:s,s:s}", "library", GH_PQ_SONAME, "function",
                                                missing));
        return;
    }
    result = GH_OK;
}

gh_err gh_pq_load(void)
{
    pthread_once(&once, load);
    return result;
}
