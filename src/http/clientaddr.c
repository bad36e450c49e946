/* Owns client-address resolution: the trusted-proxy CIDR list (parsed once at start-up, immutable,
 * shared read-only by all threads) and the X-Forwarded-For/-Proto walk (no allocation, bounded).
 * Trust boundary: peer is the kernel's; xff/xfp are attacker text unless a trusted proxy wrote
 * them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "http/clientaddr.h"
#include "core/banned.h"

/* An address: IPv4 in b[0..3] (v4 true), or IPv6 in b[0..15]. IPv4-mapped IPv6 is stored as
 * IPv4 so that a dual-stack socket and an IPv4 socket see the same client. */
struct ip {
    uint8_t b[16];
    bool v4;
};

struct cidr {
    struct ip net;
    unsigned prefix;
};

struct gh_cidr_list {
    size_t n;
    struct cidr items[];
};

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Trim optional white space from [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_ows(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_ows((*s)[*n - 1]))
        (*n)--;
}

/* Parse exactly n bytes as a bare address (no brackets, port, zone or prefix). */
static bool ip_parse(const char *s, size_t n, struct ip *out)
{
    char buf[INET6_ADDRSTRLEN];

    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->b) == 1) {
        out->v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, buf, out->b) != 1)
        return false;
    if (memcmp(out->b, v4mapped_prefix, sizeof v4mapped_prefix) == 0) {
        memmove(out->b, out->b + 12, 4);
        memset(out->b + 4, 0, 12);
        out->v4 = true;
    }
    return true;
}

static bool ip_parse_str(const char *s, struct ip *out)
{
    return s && ip_parse(s, strnlen(s, INET6_ADDRSTRLEN), out);
}

static void ip_text(const struct ip *ip, char out[GH_ADDR_MAX])
{
    if (!inet_ntop(ip->v4 ? AF_INET : AF_INET6, ip->b, out, GH_ADDR_MAX))
        snprintf(out, GH_ADDR_MAX, "0.0.0.0"); /* cannot happen: the buffer is large enough */
}

static unsigned family_bits(const struct ip *ip)
{
    return ip->v4 ? 32u : 128u;
}

/* Whether the first `prefix` bits of a and b agree. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;

    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return ((a[full] ^ b[full]) & mask) == 0;
}

static bool host_bits_clear(const struct ip *ip, unsigned prefix)
{
    unsigned bits = family_bits(ip);

    for (unsigned i = prefix; i < bits; i++)
        if (ip->b[i / 8] & (0x80u >> (i % 8)))
            return false;
    return true;
}

static bool cidr_match(const struct cidr *c, const struct ip *ip)
{
    return c->net.v4 == ip->v4 && prefix_equal(c->net.b, ip->b, c->prefix);
}

static bool list_match(const struct gh_cidr_list *l, const struct ip *ip)
{
    if (!l)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (cidr_match(&l->items[i], ip))
            return true;
    return false;
}

/* A prefix length: 1-3 decimal digits, no sign, no leading zero (except "0"), at most max. */
static bool prefix_parse(const char *s, size_t n, unsigned max, unsigned *out)
{
    unsigned v = 0;

    if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static bool cidr_parse(const char *s, size_t n, struct cidr *out)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    bool v6_text = memchr(s, ':', alen) != NULL;
    unsigned prefix;

    if (!ip_parse(s, alen, &out->net))
        return false;
    if (!slash) {
        out->prefix = family_bits(&out->net);
        return true;
    }
    if (!prefix_parse(slash + 1, n - alen - 1, v6_text ? 128u : 32u, &prefix))
        return false;
    if (v6_text && out->net.v4) {
        /* ::ffff:a.b.c.d/N: below /96 the ffff bits would be host bits, so only N >= 96. */
        if (prefix < 96)
            return false;
        prefix -= 96;
    }
    if (!host_bits_clear(&out->net, prefix))
        return false;
    out->prefix = prefix;
    return true;
}

gh_err gh_cidr_list_parse(const char *text, struct gh_cidr_list **out)
{
    gh_err rc = GH_OK;
    struct gh_cidr_list *l = NULL;
    size_t items = 1, len;
    const char *p;

    *out = NULL;
    if (!text)
        text = "";
    len = strlen(text);
    p = text;
    trim(&p, &len);
    for (size_t i = 0; i < len; i++)
        if (p[i] == ',')
            items++;
    if (len == 0)
        items = 0;
    if (items > GH_CIDR_LIST_MAX) {
        rc = GH_ERR_INVALID;
        goto out;
    }
    l = gh_calloc(1, sizeof *l + items * sizeof l->items[0]);
    if (!l) {
        rc = GH_ERR_NOMEM;
        goto out;
    }
    while (l->n < items) {
        const char *comma = memchr(p, ',', len);
        size_t n = comma ? (size_t)(comma - p) : len;
        const char *item = p;
        size_t ilen = n;

        trim(&item, &ilen);
        if (!cidr_parse(item, ilen, &l->items[l->n])) {
            rc = GH_ERR_INVALID;
            goto out;
        }
        l->n++;
        if (!comma)
            break;
        p = comma + 1;
        len -= n + 1;
    }
    *out = l;
    l = NULL;
out:
    gh_cidr_list_free(l);
    return rc;
}

void gh_cidr_list_free(struct gh_cidr_list *l)
{
    gh_free(l);
}

size_t gh_cidr_list_count(const struct gh_cidr_list *l)
{
    return l ? l->n : 0;
}

bool gh_cidr_list_contains(const struct gh_cidr_list *l, const char *addr_text)
{
    struct ip ip;

    return ip_parse_str(addr_text, &ip) && list_match(l, &ip);
}

/* X-Forwarded-Proto: true only if the right-most value, trimmed, is exactly "https". */
static bool xfp_is_https(const char *xfp)
{
    if (!xfp)
        return false;
    const char *comma = strrchr(xfp, ',');
    const char *v = comma ? comma + 1 : xfp;
    size_t n = strlen(v);

    trim(&v, &n);
    return n == 5 && memcmp(v, "https", 5) == 0;
}

/* The walk over X-Forwarded-For from the right. Returns the chosen hop in *out, or false when
 * the peer should be used (invalid entry or bound reached before an untrusted hop). Only items
 * whose start lies inside the last GH_XFF_MAX_BYTES are read: a cut item ("…1.2.3.4" of
 * "11.2.3.4") could otherwise parse as a different address. */
static bool xff_walk(const struct gh_cidr_list *trusted, const char *xff, struct ip *out)
{
    size_t len = strlen(xff);
    size_t lo = len > GH_XFF_MAX_BYTES ? len - GH_XFF_MAX_BYTES : 0;
    size_t end = len;
    struct ip hop;

    for (unsigned hops = 0; hops < GH_XFF_MAX_HOPS; hops++) {
        size_t start = end;
        while (start > lo && xff[start - 1] != ',')
            start--;
        bool at_beginning = start == 0;
        bool cut = !at_beginning && start == lo && xff[start - 1] != ',';
        if (cut)
            return false;

        const char *item = xff + start;
        size_t n = end - start;
        trim(&item, &n);
        if (!ip_parse(item, n, &hop))
            return false;
        *out = hop;
        if (!list_match(trusted, &hop))
            return true;
        if (at_beginning)
            return true; /* every entry trusted: the left-most */
        if (start == lo)
            return false; /* the next item starts outside the window */
        end = start - 1;  /* skip the comma */
    }
    return false;
}

void gh_client_addr(const struct gh_cidr_list *trusted, const char *peer, const char *xff,
                    const char *xfp, bool tls, char out[GH_ADDR_MAX], bool *out_is_https)
{
    struct ip peer_ip, chosen;
    bool https = tls;

    if (!ip_parse_str(peer, &peer_ip)) {
        snprintf(out, GH_ADDR_MAX, "0.0.0.0");
        goto done;
    }
    if (!list_match(trusted, &peer_ip)) {
        ip_text(&peer_ip, out);
        goto done;
    }
    https = tls || xfp_is_https(xfp);
    if (xff && xff_walk(trusted, xff, &chosen))
        ip_text(&chosen, out);
    else
        ip_text(&peer_ip, out);
done:
    if (out_is_https)
        *out_is_https = https;
}

void gh_client_addr_limit_key(const char *addr, char out[GH_ADDR_MAX])
{
    struct ip ip;
    char text[INET6_ADDRSTRLEN]; /* at most 45 characters: "/64" always fits in out */

    if (!ip_parse_str(addr, &ip)) {
        out[0] = '\0';
        return;
    }
    if (ip.v4) {
        ip_text(&ip, out);
        return;
    }
    memset(ip.b + 8, 0, 8);
    if (!inet_ntop(AF_INET6, ip.b, text, sizeof text)) {
        out[0] = '\0';
        return;
    }
    snprintf(out, GH_ADDR_MAX, "%s/64", text);
}
