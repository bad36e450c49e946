/* Fuzz target: client-address resolution from peer, X-Forwarded-For and X-Forwarded-Proto.
 * Input: "peer\nxff\nxfp" (missing parts are NULL). Invariants: the answer is always a valid IP;
 * an untrusted peer is the answer whatever the headers say, and never gets https without TLS;
 * the rate-limit key of the answer is non-empty; the result is deterministic. */
#include <arpa/inet.h>
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/clientaddr.h"

#define TRUSTED "10.0.0.0/8, 192.168.0.0/16, 127.0.0.1, fd00::/8, ::1, ::ffff:172.16.0.0/108"

static bool valid_ip(const char *s, unsigned char bin[16], bool *v4)
{
    memset(bin, 0, 16);
    if (inet_pton(AF_INET, s, bin) == 1) {
        *v4 = true;
        return true;
    }
    *v4 = false;
    return inet_pton(AF_INET6, s, bin) == 1;
}

/* The same address, reading IPv4-mapped IPv6 as IPv4. */
static bool same_addr(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    bool xv4, yv4;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!valid_ip(a, x, &xv4) || !valid_ip(b, y, &yv4))
        return false;
    if (!xv4 && memcmp(x, mapped, 12) == 0) {
        memmove(x, x + 12, 4);
        memset(x + 4, 0, 12);
        xv4 = true;
    }
    if (!yv4 && memcmp(y, mapped, 12) == 0) {
        memmove(y, y + 12, 4);
        memset(y + 4, 0, 12);
        yv4 = true;
    }
    return xv4 == yv4 && memcmp(x, y, 16) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gh_cidr_list *trusted;
    if (!trusted && gh_cidr_list_parse(TRUSTED, &trusted) != GH_OK)
        abort();

    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *peer = buf, *xff = NULL, *xfp = NULL;
    char *nl = strchr(buf, '\n');
    if (nl) {
        *nl = '\0';
        xff = nl + 1;
        nl = strchr(nl + 1, '\n');
        if (nl) {
            *nl = '\0';
            xfp = nl + 1;
        }
    }
    bool tls = size > 0 && (data[size - 1] & 1);

    char out[GH_ADDR_MAX], again[GH_ADDR_MAX], key[GH_ADDR_MAX];
    bool https = false, https2 = false, v4;
    unsigned char bin[16];
    gh_client_addr(trusted, peer, xff, xfp, tls, out, &https);
    assert(memchr(out, '\0', GH_ADDR_MAX));
    assert(valid_ip(out, bin, &v4));
    if (tls)
        assert(https);

    unsigned char pbin[16];
    bool pv4;
    if (!valid_ip(peer, pbin, &pv4)) {
        assert(strcmp(out, "0.0.0.0") == 0);
        assert(https == tls);
    } else if (!gh_cidr_list_contains(trusted, peer)) {
        assert(same_addr(out, peer));
        assert(https == tls);
    }

    gh_client_addr(trusted, peer, xff, xfp, tls, again, &https2);
    assert(strcmp(out, again) == 0 && https == https2);

    gh_client_addr_limit_key(out, key);
    assert(key[0] != '\0');
    if (v4) {
        assert(strcmp(key, out) == 0);
    } else {
        size_t n = strlen(key);
        assert(n > 3 && strcmp(key + n - 3, "/64") == 0);
        key[n - 3] = '\0';
        assert(valid_ip(key, bin, &v4) && !v4);
    }

    /* The list parser on the same bytes: no crash, and a parsed list answers consistently. */
    struct gh_cidr_list *l = NULL;
    if (gh_cidr_list_parse(peer, &l) == GH_OK) {
        (void)gh_cidr_list_contains(l, out);
        gh_cidr_list_free(l);
    } else {
        assert(!l);
    }
    free(buf);
    return 0;
}
