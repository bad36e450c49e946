/* Structured logging: one JSON object per line on stderr (ts, level, msg, request_id, event, …).
 * Values are encoded by jansson, so CR/LF/control characters cannot forge a line.
 * Callers pass only non-secret fields; request logging goes through gh_log_request only. */
#ifndef GH_CORE_LOG_H
#define GH_CORE_LOG_H

#include <jansson.h>
#include <stdbool.h>

enum gh_log_level { GH_LOG_DEBUG, GH_LOG_INFO, GH_LOG_WARN, GH_LOG_ERROR };

void gh_log_set_level(enum gh_log_level min);
/* Would a line at this level be written? (Skip building fields when not.) */
bool gh_log_enabled(enum gh_log_level level);

/* fields (may be NULL) is consumed (reference stolen). request_id and event may be NULL. */
void gh_log(enum gh_log_level level, const char *msg, const char *request_id, const char *event,
            json_t *fields);

/* A security event ("security": true), user named by id only, client address truncated. */
void gh_log_security(enum gh_log_level level, const char *event, const char *request_id,
                     const char *user_id, const char *client_addr, json_t *fields);

/* Truncate an IP address for logging/storage: IPv4 to /24, IPv6 to /48. out must hold 64 bytes. */
void gh_log_truncate_addr(const char *addr, char out[64]);

#endif
