/* gh_cidr_list_* and gh_client_addr*: X-Forwarded-For/-Proto are believed only from trusted
 * proxies and only for the hops they appended; CIDR parsing rejects every malformed item. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mem.h"
#include "http/clientaddr.h"

#define PROXIES "10.0.0.0/8, 192.168.1.1, fd00::/8, ::1"

static struct gh_cidr_list *list(const char *text)
{
    struct gh_cidr_list *l = NULL;
    assert_int_equal(gh_cidr_list_parse(text, &l), GH_OK);
    assert_non_null(l);
    return l;
}

/* Resolve with the standard proxy list; returns the address, sets *https. */
static const char *resolve(const char *peer, const char *xff, const char *xfp, bool tls,
                           bool *https)
{
    static char out[GH_ADDR_MAX];
    struct gh_cidr_list *l = list(PROXIES);
    bool h = !tls; /* poison: must be written */
    memset(out, 'x', sizeof out);
    gh_client_addr(l, peer, xff, xfp, tls, out, &h);
    gh_cidr_list_free(l);
    if (https)
        *https = h;
    return out;
}

static void test_untrusted_peer_ignores_headers(void **state)
{
    (void)state;
    bool https;
    assert_string_equal(resolve("203.0.113.7", "1.2.3.4", "https", false, &https), "203.0.113.7");
    assert_false(https);
    assert_string_equal(resolve("203.0.113.7", "10.0.0.1, 1.2.3.4", NULL, true, &https),
                        "203.0.113.7");
    assert_true(https); /* TLS is TLS whoever the peer is */
    assert_string_equal(resolve("2001:db8::1", "1.2.3.4", "https", false, &https), "2001:db8::1");
    assert_false(https);
    /* canonical form of the peer */
    assert_string_equal(resolve("2001:DB8:0:0::1", NULL, NULL, false, NULL), "2001:db8::1");
}

static void test_trusted_peer_rightmost_untrusted(void **state)
{
    (void)state;
    bool https;
    assert_string_equal(resolve("10.1.2.3", "198.51.100.9", "https", false, &https),
                        "198.51.100.9");
    assert_true(https);
    /* a client-supplied left part is not believed: the right-most untrusted hop wins */
    assert_string_equal(resolve("10.1.2.3", "6.6.6.6, 7.7.7.7, 198.51.100.9", NULL, false, NULL),
                        "198.51.100.9");
    /* no XFF at all: the trusted peer itself */
    assert_string_equal(resolve("10.1.2.3", NULL, NULL, false, &https), "10.1.2.3");
    assert_false(https);
    assert_string_equal(resolve("10.1.2.3", "", NULL, false, NULL), "10.1.2.3");
}

static void test_chain_of_trusted_proxies(void **state)
{
    (void)state;
    /* client → 192.168.1.1 → 10.9.9.9 → 10.0.0.2 (peer) */
    assert_string_equal(
        resolve("10.0.0.2", "1.1.1.1, 198.51.100.9, 192.168.1.1, 10.9.9.9", NULL, false, NULL),
        "198.51.100.9");
    /* every entry trusted: the left-most */
    assert_string_equal(resolve("10.0.0.2", "10.5.5.5, 192.168.1.1, 10.9.9.9", NULL, false, NULL),
                        "10.5.5.5");
    /* IPv6 proxies in the chain */
    assert_string_equal(resolve("::1", "2001:db8::42, fd00::7, 10.0.0.9", NULL, false, NULL),
                        "2001:db8::42");
}

static void test_spoofed_entries_ignored(void **state)
{
    (void)state;
    /* attacker put "10.0.0.1" (trusted-looking) and garbage at the left; the proxy appended the
     * real address: the walk stops at the real one. */
    assert_string_equal(resolve("10.0.0.2", "garbage, 10.0.0.1, 203.0.113.50", NULL, false, NULL),
                        "203.0.113.50");
    assert_string_equal(resolve("10.0.0.2", "10.0.0.1, 203.0.113.50", NULL, false, NULL),
                        "203.0.113.50");
}

static void test_ipv6_and_mapped(void **state)
{
    (void)state;
    bool https;
    /* IPv4-mapped peer on a dual-stack socket is the IPv4 address, trusted as such */
    assert_string_equal(resolve("::ffff:10.0.0.2", "203.0.113.5", NULL, false, NULL),
                        "203.0.113.5");
    assert_string_equal(resolve("::ffff:203.0.113.7", "1.2.3.4", "https", false, &https),
                        "203.0.113.7");
    assert_false(https);
    /* mapped entries in XFF are trusted/reported as IPv4 */
    assert_string_equal(
        resolve("10.0.0.2", "::ffff:198.51.100.1, ::ffff:10.3.3.3", NULL, false, NULL),
        "198.51.100.1");
    assert_string_equal(resolve("fd12::1", "2001:DB8:0::ABCD", NULL, false, NULL),
                        "2001:db8::abcd");

    struct gh_cidr_list *l = list(PROXIES);
    assert_true(gh_cidr_list_contains(l, "::ffff:10.200.0.1"));
    assert_true(gh_cidr_list_contains(l, "10.200.0.1"));
    assert_true(gh_cidr_list_contains(l, "fdff:ffff::1"));
    assert_false(gh_cidr_list_contains(l, "fe00::1"));
    assert_false(gh_cidr_list_contains(l, "::2"));
    assert_false(gh_cidr_list_contains(l, "::ffff:192.168.1.2"));
    assert_false(gh_cidr_list_contains(l, "11.0.0.0"));
    assert_false(gh_cidr_list_contains(l, ""));
    assert_false(gh_cidr_list_contains(l, NULL));
    assert_false(gh_cidr_list_contains(l, " 10.0.0.1"));
    assert_false(gh_cidr_list_contains(NULL, "10.0.0.1"));
    gh_cidr_list_free(l);

    /* an IPv6 list entry never matches IPv4 and vice versa */
    l = list("::/0");
    assert_false(gh_cidr_list_contains(l, "1.2.3.4"));
    assert_true(gh_cidr_list_contains(l, "2001:db8::1"));
    gh_cidr_list_free(l);
    l = list("0.0.0.0/0");
    assert_false(gh_cidr_list_contains(l, "2001:db8::1"));
    assert_true(gh_cidr_list_contains(l, "::ffff:1.2.3.4"));
    gh_cidr_list_free(l);
    /* the IPv4-mapped range written as IPv6 is the IPv4 range */
    l = list("::ffff:10.0.0.0/104, ::ffff:0:0/96");
    assert_true(gh_cidr_list_contains(l, "10.1.1.1"));
    assert_true(gh_cidr_list_contains(l, "8.8.8.8"));
    assert_false(gh_cidr_list_contains(l, "2001:db8::1"));
    gh_cidr_list_free(l);
}

static void test_garbage_entries(void **state)
{
    (void)state;
    /* an invalid entry before any untrusted hop: the peer */
    const char *bad[] = {
        "unknown",    "1.2.3.4:80", "[2001:db8::1]", "2001:db8::1%eth0",
        "1.2.3",      "01.2.3.4",   "1.2.3.256",     "",
        " ",          "1.2.3.4 5",  "fe80::1::1",    "1.2.3.4/32",
        "0x01020304", "_",          "1.2.3.4;x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char xff[128];
        snprintf(xff, sizeof xff, "%s, 10.0.0.9", bad[i]);
        assert_string_equal(resolve("10.0.0.2", xff, NULL, false, NULL), "10.0.0.2");
        assert_string_equal(resolve("10.0.0.2", bad[i], NULL, false, NULL), "10.0.0.2");
    }
    /* an untrusted hop to the right of garbage is still found */
    assert_string_equal(resolve("10.0.0.2", "unknown, 198.51.100.3", NULL, false, NULL),
                        "198.51.100.3");
    /* trailing and doubled commas are empty (invalid) entries */
    assert_string_equal(resolve("10.0.0.2", "198.51.100.3,", NULL, false, NULL), "10.0.0.2");
    assert_string_equal(resolve("10.0.0.2", "198.51.100.3,,10.0.0.9", NULL, false, NULL),
                        "10.0.0.2");
    /* an unparseable peer (a caller bug) never lets the headers through */
    bool https;
    assert_string_equal(resolve("not-an-ip", "198.51.100.3", "https", false, &https), "0.0.0.0");
    assert_false(https);
    assert_string_equal(resolve(NULL, "198.51.100.3", NULL, false, NULL), "0.0.0.0");
}

static void test_whitespace(void **state)
{
    (void)state;
    bool https;
    assert_string_equal(
        resolve("10.0.0.2", " \t198.51.100.3 \t,\t10.0.0.7  ", " http , https ", false, &https),
        "198.51.100.3");
    assert_true(https);
    assert_string_equal(resolve("10.0.0.2", "198.51.100.3,10.0.0.7", "https,http", false, &https),
                        "198.51.100.3");
    assert_false(https); /* right-most value only */
    resolve("10.0.0.2", NULL, "HTTPS", false, &https);
    assert_false(https); /* exactly "https" */
    resolve("10.0.0.2", NULL, "httpsx", false, &https);
    assert_false(https);
    resolve("10.0.0.2", NULL, "", false, &https);
    assert_false(https);
    resolve("10.0.0.2", NULL, "http", true, &https);
    assert_true(https);
}

static void test_bounds(void **state)
{
    (void)state;
    /* 40 trusted hops right of the client: the walk gives up after 32 → the peer */
    char xff[8192];
    size_t n = (size_t)snprintf(xff, sizeof xff, "198.51.100.3");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(xff + n, sizeof xff - n, ", 10.0.0.%d", i);
    assert_string_equal(resolve("10.0.0.2", xff, NULL, false, NULL), "10.0.0.2");

    /* 31 trusted hops: within the bound */
    n = (size_t)snprintf(xff, sizeof xff, "198.51.100.3");
    for (int i = 0; i < 31; i++)
        n += (size_t)snprintf(xff + n, sizeof xff - n, ",10.0.0.%d", i);
    assert_string_equal(resolve("10.0.0.2", xff, NULL, false, NULL), "198.51.100.3");

    /* a huge header: only the right end is read */
    memset(xff, '9', sizeof xff);
    memcpy(xff + sizeof xff - 20, ",198.51.100.77", 15);
    assert_string_equal(resolve("10.0.0.2", xff, NULL, false, NULL), "198.51.100.77");

    /* an item cut by the 4096-byte window is never parsed: "…1.2.3.4" must not be read out of
     * "11.2.3.4" (the item starts before the window). */
    char big[GH_XFF_MAX_BYTES + 64];
    memset(big, ' ', sizeof big);
    memcpy(big, "11.2.3.4", 8);
    size_t tail = (size_t)snprintf(big + sizeof big - 20, 20, ",10.0.0.5");
    big[sizeof big - 20 + tail] = '\0';
    size_t len = strlen(big);
    assert_true(len > GH_XFF_MAX_BYTES);
    /* place "11.2.3.4" so that the window starts at its second character */
    size_t lo = len - GH_XFF_MAX_BYTES;
    memset(big, ' ', len - tail);
    memcpy(big + lo - 1, "11.2.3.4", 8);
    assert_string_equal(resolve("10.0.0.2", big, NULL, false, NULL), "10.0.0.2");
    /* the same item wholly inside the window, preceded by a comma, is read */
    big[lo - 1] = ',';
    assert_string_equal(resolve("10.0.0.2", big, NULL, false, NULL), "1.2.3.4");
}

static void test_limit_key(void **state)
{
    (void)state;
    char out[GH_ADDR_MAX];
    gh_client_addr_limit_key("203.0.113.7", out);
    assert_string_equal(out, "203.0.113.7");
    gh_client_addr_limit_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", out);
    assert_string_equal(out, "2001:db8:1:2::/64");
    char other[GH_ADDR_MAX];
    gh_client_addr_limit_key("2001:db8:1:2::1", other);
    assert_string_equal(out, other);
    gh_client_addr_limit_key("2001:db8:1:3::1", other);
    assert_string_not_equal(out, other);
    gh_client_addr_limit_key("::ffff:1.2.3.4", out);
    assert_string_equal(out, "1.2.3.4");
    gh_client_addr_limit_key("::1", out);
    assert_string_equal(out, "::/64");
    gh_client_addr_limit_key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", out);
    assert_string_equal(out, "ffff:ffff:ffff:ffff::/64");
    assert_true(strlen(out) < GH_ADDR_MAX);
    gh_client_addr_limit_key("nope", out);
    assert_string_equal(out, "");
    gh_client_addr_limit_key(NULL, out);
    assert_string_equal(out, "");
}

static void expect_invalid(const char *text)
{
    struct gh_cidr_list *l = (struct gh_cidr_list *)1;
    gh_err rc = gh_cidr_list_parse(text, &l);
    if (rc != GH_ERR_INVALID)
        fail_msg("\"%s\" parsed (rc %d)", text, rc);
    assert_null(l);
}

static void test_cidr_parse(void **state)
{
    (void)state;
    struct gh_cidr_list *l;

    /* empty means none */
    const char *empty[] = {NULL, "", "   ", "\t"};
    for (size_t i = 0; i < 4; i++) {
        l = list(empty[i]);
        assert_int_equal(gh_cidr_list_count(l), 0);
        assert_false(gh_cidr_list_contains(l, "127.0.0.1"));
        gh_cidr_list_free(l);
    }

    l = list("0.0.0.0/0");
    assert_true(gh_cidr_list_contains(l, "255.255.255.255"));
    assert_true(gh_cidr_list_contains(l, "0.0.0.0"));
    gh_cidr_list_free(l);

    l = list(" 192.0.2.1/32 ,2001:db8::/128,  2001:db8:ffff::/48 ,172.16.0.0/12 ");
    assert_int_equal(gh_cidr_list_count(l), 4);
    assert_true(gh_cidr_list_contains(l, "192.0.2.1"));
    assert_false(gh_cidr_list_contains(l, "192.0.2.2"));
    assert_true(gh_cidr_list_contains(l, "2001:db8::"));
    assert_false(gh_cidr_list_contains(l, "2001:db8::1"));
    assert_true(gh_cidr_list_contains(l, "2001:db8:ffff:1234::1"));
    assert_false(gh_cidr_list_contains(l, "2001:db8:fffe::1"));
    assert_true(gh_cidr_list_contains(l, "172.31.255.255"));
    assert_false(gh_cidr_list_contains(l, "172.32.0.0"));
    gh_cidr_list_free(l);

    /* non-byte-aligned prefixes */
    l = list("192.168.0.0/23, 2001:db8::/31");
    assert_true(gh_cidr_list_contains(l, "192.168.1.200"));
    assert_false(gh_cidr_list_contains(l, "192.168.2.0"));
    assert_true(gh_cidr_list_contains(l, "2001:db9::1"));
    assert_false(gh_cidr_list_contains(l, "2001:dba::1"));
    gh_cidr_list_free(l);

    l = list("::/0");
    gh_cidr_list_free(l);

    const char *bad[] = {
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/+8",
        "10.0.0.0/08",
        "10.0.0.0/8/8",
        "10.0.0.0/ 8",
        "10.0.0.0 /8",
        "10.0.0.0/1000",
        "10.0.0.1/8",
        "2001:db8::1/64",
        "::ffff:0:0/80",
        "::ffff:10.0.0.0/8",
        "1.2.3.4,",
        ",1.2.3.4",
        "1.2.3.4,,5.6.7.8",
        "1.2.3.4 5.6.7.8",
        "example.com",
        "1.2.3",
        "fe80::1%eth0",
        "[::1]",
        "1.2.3.4:80",
        "10.0.0.0/8a",
        "/8",
        "*",
        "1.2.3.4;5.6.7.8",
        "0x0a000000",
        "10.0.0.0/0x8",
        "01.2.3.4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_invalid(bad[i]);

    /* the item limit */
    char many[GH_CIDR_LIST_MAX * 12 + 16];
    size_t n = 0;
    for (int i = 0; i < GH_CIDR_LIST_MAX; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%s10.0.%d.%d", i ? "," : "", i / 256,
                              i % 256);
    l = list(many);
    assert_int_equal(gh_cidr_list_count(l), GH_CIDR_LIST_MAX);
    gh_cidr_list_free(l);
    snprintf(many + n, sizeof many - n, ",10.9.9.9");
    expect_invalid(many);
}

static void test_parse_nomem(void **state)
{
    (void)state;
    struct gh_cidr_list *l = (struct gh_cidr_list *)1;
    gh_mem_fail_after(1);
    assert_int_equal(gh_cidr_list_parse("10.0.0.0/8", &l), GH_ERR_NOMEM);
    gh_mem_fail_after(0);
    assert_null(l);
    gh_cidr_list_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untrusted_peer_ignores_headers),
        cmocka_unit_test(test_trusted_peer_rightmost_untrusted),
        cmocka_unit_test(test_chain_of_trusted_proxies),
        cmocka_unit_test(test_spoofed_entries_ignored),
        cmocka_unit_test(test_ipv6_and_mapped),
        cmocka_unit_test(test_garbage_entries),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_limit_key),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_parse_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
