/* The client's address and scheme as seen through trusted reverse proxies.
 *
 * Trust model: X-Forwarded-For / X-Forwarded-Proto are believed only when the TCP peer is in
 * GATEHOUSE_TRUSTED_PROXIES, and then only the hops that trusted proxies appended (walking from
 * the right). Everything here is pure, allocation-free per request and bounded in work. */
#ifndef GH_HTTP_CLIENTADDR_H
#define GH_HTTP_CLIENTADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/* Canonical address text (inet_ntop, IPv4-mapped IPv6 shown as IPv4) plus a "/64" suffix fits. */
#define GH_ADDR_MAX 64
/* At most this many items in a trusted-proxy list. */
#define GH_CIDR_LIST_MAX 256
/* The X-Forwarded-For walk looks at no more than the last GH_XFF_MAX_HOPS entries and the last
 * GH_XFF_MAX_BYTES bytes; a walk that reaches either bound ends as an invalid entry does. */
#define GH_XFF_MAX_HOPS 32
#define GH_XFF_MAX_BYTES 4096

/* A parsed GATEHOUSE_TRUSTED_PROXIES: immutable once parsed, so safe to share between threads. */
struct gh_cidr_list;

/* text: comma-separated IPv4/IPv6 addresses or CIDRs ("10.0.0.0/8, ::1, fd00::/8"), spaces or
 * tabs around items allowed. NULL, empty or all-blank text is the empty list (no proxy trusted).
 * GH_ERR_INVALID on any bad item: not an address, empty item, a prefix out of range or with a
 * leading zero or sign, host bits set below the prefix ("10.0.0.1/8"), a zone id, or more than
 * GH_CIDR_LIST_MAX items. "::ffff:a.b.c.d/N" (N >= 96) is read as the IPv4 CIDR a.b.c.d/(N-96).
 * GH_ERR_NOMEM if allocation fails. On error *out is NULL. */
GH_MUST_USE gh_err gh_cidr_list_parse(const char *text, struct gh_cidr_list **out);
void gh_cidr_list_free(struct gh_cidr_list *l);
/* Number of items (for logging the configuration). */
size_t gh_cidr_list_count(const struct gh_cidr_list *l);

/* Whether addr_text (an exact address, no spaces, no prefix) is in the list. An IPv4-mapped IPv6
 * address (::ffff:1.2.3.4) is matched as the IPv4 address. False for NULL, an empty list or text
 * that is not an address. */
bool gh_cidr_list_contains(const struct gh_cidr_list *l, const char *addr_text);

/* The client address:
 *  - peer untrusted (or trusted NULL/empty): the peer; X-Forwarded-For and -Proto are ignored.
 *  - peer trusted: walk X-Forwarded-For from the right, skipping trusted addresses; the answer is
 *    the right-most untrusted entry, or the left-most entry if every entry is trusted. An invalid
 *    entry (not a bare IP: empty, "host:port", "[v6]", "unknown", ...) or reaching the walk's
 *    bounds stops the walk before an untrusted entry was found, and the answer is the peer.
 * xff may be NULL; several X-Forwarded-For headers are the caller's to join with ",".
 * peer is normally MHD's text form of the socket address; if it is not an address at all (a
 * caller bug) out is "0.0.0.0" and the headers are ignored.
 * out: canonical text (inet_ntop; IPv4-mapped IPv6 as plain IPv4), always NUL-terminated.
 * out_is_https: tls, or (peer trusted and X-Forwarded-Proto's right-most value, trimmed, is
 * exactly "https"). out_is_https may be NULL. */
void gh_client_addr(const struct gh_cidr_list *trusted, const char *peer, const char *xff,
                    const char *xfp, bool tls, char out[GH_ADDR_MAX], bool *out_is_https);

/* The rate-limit key of an address (as gh_client_addr writes it): IPv4 unchanged; IPv6 truncated
 * to its /64 and written with a "/64" suffix ("2001:db8:1:2::/64"), so that one host's 2^64
 * addresses share one budget. Text that is not an address gives "" (callers pass our output). */
void gh_client_addr_limit_key(const char *addr, char out[GH_ADDR_MAX]);

#endif
