/* Fuzz target: configuration values. Input: NAME=VALUE lines (the environment). Invariants:
 * loading either succeeds or fails with a message that names a GATEHOUSE_ variable and never
 * contains the value of a secret setting; a success leaves a usable configuration (listen
 * port parsed, own origin set); loading is deterministic; nothing leaks (ASan). Settings that
 * name files (_FILE, _PATH) are not passed: the fuzzer must not read the host's files. */
#include <assert.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

#define MAX_VARS 32

struct env {
    char *name[MAX_VARS];
    char *value[MAX_VARS];
    size_t n;
};

static const char *get(const char *name, void *ctx)
{
    const struct env *e = ctx;
    size_t len = strlen(name);
    if ((len > 5 && strcmp(name + len - 5, "_FILE") == 0) ||
        (len > 5 && strcmp(name + len - 5, "_PATH") == 0))
        return NULL;
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->name[i], name) == 0)
            return e->value[i];
    return NULL;
}

static bool is_secret(const char *name)
{
    static const char *const secrets[] = {"GATEHOUSE_MASTER_KEY",
                                          "GATEHOUSE_MASTER_KEY_PREVIOUS",
                                          "GATEHOUSE_DATABASE_URL",
                                          "GATEHOUSE_REDIS_URL",
                                          "GATEHOUSE_BACKUP_KEY",
                                          "GATEHOUSE_INTROSPECTION_CLIENTS",
                                          "GATEHOUSE_INTROSPECTION_CLIENTS_PREVIOUS",
                                          NULL};
    for (int i = 0; secrets[i]; i++)
        if (strcmp(secrets[i], name) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sodium_init() < 0) /* as main() does: secrets are held in sodium_malloc memory */
        abort();
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct env e = {.n = 0};
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && e.n < MAX_VARS;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        e.name[e.n] = line;
        e.value[e.n] = eq + 1;
        e.n++;
    }
    struct gh_config a, b;
    char err_a[GH_CONFIG_ERR_MAX], err_b[GH_CONFIG_ERR_MAX];
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    err_a[0] = err_b[0] = '\0';
    gh_err ra = gh_config_load_with(&a, get, &e, err_a);
    gh_err rb = gh_config_load_with(&b, get, &e, err_b);
    assert(ra == rb);
    if (ra == GH_OK) {
        assert(a.listen && a.origin[0] != '\0');
        assert(a.production == b.production && a.listen_port == b.listen_port);
    } else {
        assert(strcmp(err_a, err_b) == 0);
        assert(strncmp(err_a, "GATEHOUSE_", 10) == 0);
        /* No secret value is ever echoed: if the message contains one (of 16 bytes or more:
         * shorter ones, like a bare "rediss://", are words the fixed text itself may use), the
         * same message must appear with the secret replaced — it was the fixed text. */
        for (size_t i = 0; i < e.n; i++) {
            if (!is_secret(e.name[i]) || strlen(e.value[i]) < 16 || !strstr(err_a, e.value[i]))
                continue;
            char *saved = e.value[i];
            e.value[i] = "\x01";
            struct gh_config c;
            char err_c[GH_CONFIG_ERR_MAX];
            memset(&c, 0, sizeof c);
            err_c[0] = '\0';
            if (gh_config_load_with(&c, get, &e, err_c) != GH_OK)
                assert(strstr(err_c, saved) != NULL);
            else
                assert(0 && "a secret value reached an error message");
            gh_config_release(&c);
            e.value[i] = saved;
        }
    }
    gh_config_release(&a);
    gh_config_release(&b);
    free(text);
    return 0;
}
