/* Owns the log stream (stderr, line-buffered, one write per line).
 * Trust boundary: every value is JSON-encoded; nothing here sees request bodies or headers. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/banned.h"

static enum gh_log_level min_level = GH_LOG_INFO;

void gh_log_set_level(enum gh_log_level min)
{
    min_level = min;
}

bool gh_log_enabled(enum gh_log_level level)
{
    return level >= min_level;
}

static const char *level_name(enum gh_log_level l)
{
    switch (l) {
    case GH_LOG_DEBUG:
        return "debug";
    case GH_LOG_INFO:
        return "info";
    case GH_LOG_WARN:
        return "warn";
    case GH_LOG_ERROR:
        return "error";
    }
    return "info";
}

void gh_log(enum gh_log_level level, const char *msg, const char *request_id, const char *event,
            json_t *fields)
{
    if (level < min_level) {
        json_decref(fields);
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(tv.tv_usec / 1000));

    json_t *o = json_object();
    if (!o) {
        json_decref(fields);
        return;
    }
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(level_name(level)));
    json_object_set_new(o, "msg", json_string(msg));
    if (request_id)
        json_object_set_new(o, "request_id", json_string(request_id));
    if (event)
        json_object_set_new(o, "event", json_string(event));
    if (fields && json_is_object(fields)) {
        const char *k;
        json_t *v;
        json_object_foreach(fields, k, v)
        {
            if (!json_object_get(o, k))
                json_object_set(o, k, v);
        }
    }
    json_decref(fields);
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!line)
        return;
    size_t len = strlen(line);
    line[len] = '\n'; /* json_dumps result has room: replace NUL, write len+1 */
    ssize_t w = write(STDERR_FILENO, line, len + 1);
    (void)w;
    free(line);
}

void gh_log_security(enum gh_log_level level, const char *event, const char *request_id,
                     const char *user_id, const char *client_addr, json_t *fields)
{
    if (!fields)
        fields = json_object();
    if (fields) {
        if (user_id)
            json_object_set_new(fields, "user_id", json_string(user_id));
        if (client_addr) {
            char t[64];
            gh_log_truncate_addr(client_addr, t);
            json_object_set_new(fields, "client", json_string(t));
        }
        json_object_set_new(fields, "security", json_true());
    }
    gh_log(level, "security event", request_id, event, fields);
}

void gh_log_truncate_addr(const char *addr, char out[64])
{
    unsigned char buf[16];
    if (addr && inet_pton(AF_INET, addr, buf) == 1) {
        buf[3] = 0;
        inet_ntop(AF_INET, buf, out, 64);
        size_t l = strlen(out);
        snprintf(out + l, 64 - l, "/24");
        return;
    }
    if (addr && inet_pton(AF_INET6, addr, buf) == 1) {
        memset(buf + 6, 0, 10);
        inet_ntop(AF_INET6, buf, out, 64);
        size_t l = strlen(out);
        snprintf(out + l, 64 - l, "/48");
        return;
    }
    snprintf(out, 64, "unknown");
}
