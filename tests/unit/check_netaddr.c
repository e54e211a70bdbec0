/* Check suite for netaddr.c: addresses as peers and proxies give them,
 * their printed form, and CIDR lists (IPv4, IPv6, IPv4-mapped) as
 * allow_from and trusted_proxies use them. */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "testutil.h"

static struct netaddr
addr(const char *s)
{
	struct netaddr a;

	ck_assert_msg(netaddr_parse(&a, s, strlen(s)) == 0, "%s", s);
	return a;
}

static const char *
fmt(const struct netaddr *a)
{
	static char buf[NETADDR_STRLEN];

	netaddr_format(a, buf, sizeof buf);
	return buf;
}

START_TEST(test_netaddr_parse)
{
	static const char *const bad[] = {
		"", " ", "unknown", "1.2.3", "1.2.3.4.5", "256.1.1.1",
		"1.2.3.4:", "1.2.3.4:x", "1.2.3.4:123456", "[::1", "[::1]x",
		"[1.2.3.4]", "::1]", "fe80::1%eth0", "_hidden", "1.2.3.4/8",
	};
	struct netaddr a;
	size_t i;

	a = addr("192.0.2.1");
	ck_assert_str_eq(fmt(&a), "192.0.2.1");
	a = addr(" 192.0.2.1:443 ");
	ck_assert_str_eq(fmt(&a), "192.0.2.1");
	a = addr("2001:db8::1");
	ck_assert_str_eq(fmt(&a), "2001:db8::1");
	a = addr("[2001:db8::1]:8080");
	ck_assert_str_eq(fmt(&a), "2001:db8::1");
	a = addr("[::1]");
	ck_assert_str_eq(fmt(&a), "::1");
	/* IPv4-mapped is IPv4, so one rule covers both forms. */
	a = addr("::ffff:10.1.2.3");
	ck_assert_int_eq(a.family, AF_INET);
	ck_assert_str_eq(fmt(&a), "10.1.2.3");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(netaddr_parse(&a, bad[i], strlen(bad[i])) == -1,
		    "'%s' parsed", bad[i]);
	/* Only the given length counts. */
	ck_assert_int_eq(netaddr_parse(&a, "10.0.0.1, 10.0.0.2", 8), 0);
	ck_assert_str_eq(fmt(&a), "10.0.0.1");
}
END_TEST

START_TEST(test_netaddr_lists)
{
	const char *list = "10.0.0.0/8, 192.0.2.7 2001:db8::/32,::1";
	struct netaddr a;
	char *err = NULL;

	ck_assert_int_eq(netaddr_list_check(list, &err), 0);
	a = addr("10.200.3.4");
	ck_assert(netaddr_list_match(list, &a));
	a = addr("11.0.0.1");
	ck_assert(!netaddr_list_match(list, &a));
	a = addr("192.0.2.7");
	ck_assert(netaddr_list_match(list, &a));
	a = addr("192.0.2.8");
	ck_assert(!netaddr_list_match(list, &a));
	a = addr("2001:db8:ffff::1");
	ck_assert(netaddr_list_match(list, &a));
	a = addr("2001:db9::1");
	ck_assert(!netaddr_list_match(list, &a));
	a = addr("::1");
	ck_assert(netaddr_list_match(list, &a));
	a = addr("::ffff:10.9.9.9");
	ck_assert(netaddr_list_match(list, &a));
	a = addr("1.2.3.4");
	ck_assert(netaddr_list_match("0.0.0.0/0", &a));
	ck_assert(!netaddr_list_match("::/0", &a));
	ck_assert(netaddr_list_match("1.2.3.0/25", &a));
	ck_assert(netaddr_list_match("::ffff:1.2.3.0/120", &a));
	a = addr("1.2.3.200");
	ck_assert(!netaddr_list_match("1.2.3.0/25", &a));

	ck_assert_int_eq(netaddr_list_check("10.0.0.0/8, 10.0.0.300", &err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "'10.0.0.300'"));
	free(err);
	ck_assert_int_eq(netaddr_list_check("10.0.0.0/33", &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "'10.0.0.0/33'"));
	ck_assert_ptr_nonnull(strstr(err, "prefix length"));
	free(err);
	ck_assert_int_eq(netaddr_list_check("10.0.0.1/8", &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "past its prefix"));
	free(err);
	ck_assert_int_eq(netaddr_list_check("2001:db8::/x", &err), -1);
	free(err);
	ck_assert_int_eq(netaddr_list_check("example.com", &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "'example.com'"));
	free(err);
	/* Control bytes in a bad entry are escaped in the message. */
	ck_assert_int_eq(netaddr_list_check("1.2.3.4\x1b[2J", &err), -1);
	ck_assert_ptr_null(strchr(err, '\x1b'));
	free(err);
}
END_TEST

/* Whether the list matches the address s. */
static bool
in_list(const char *list, const char *s)
{
	struct netaddr a = addr(s);

	return netaddr_list_match(list, &a);
}

/* The error netaddr_list_check gives for list (malloc'd), or NULL. */
static char *
list_error(const char *list)
{
	char *err = NULL;

	if (netaddr_list_check(list, &err) == 0) {
		ck_assert_ptr_null(err);
		return NULL;
	}
	ck_assert_ptr_nonnull(err);
	return err;
}

START_TEST(test_from_sockaddr)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	struct sockaddr sa;
	struct netaddr a;

	memset(&s4, 0, sizeof s4);
	s4.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, "198.51.100.7", &s4.sin_addr), 1);
	ck_assert_int_eq(netaddr_from_sockaddr(&a, (struct sockaddr *)&s4), 0);
	ck_assert_int_eq(a.family, AF_INET);
	ck_assert_str_eq(fmt(&a), "198.51.100.7");

	memset(&s6, 0, sizeof s6);
	s6.sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::42", &s6.sin6_addr),
	    1);
	ck_assert_int_eq(netaddr_from_sockaddr(&a, (struct sockaddr *)&s6), 0);
	ck_assert_int_eq(a.family, AF_INET6);
	ck_assert_str_eq(fmt(&a), "2001:db8::42");

	/* A dual-stack socket sees IPv4 peers as ::ffff:a.b.c.d. */
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:198.51.100.7",
	    &s6.sin6_addr), 1);
	ck_assert_int_eq(netaddr_from_sockaddr(&a, (struct sockaddr *)&s6), 0);
	ck_assert_int_eq(a.family, AF_INET);
	ck_assert_str_eq(fmt(&a), "198.51.100.7");
	ck_assert(in_list("198.51.100.0/24", "198.51.100.7"));
	ck_assert(netaddr_list_match("198.51.100.0/24", &a));

	/* Other families and no address at all are refused. */
	memset(&sa, 0, sizeof sa);
	sa.sa_family = AF_UNIX;
	ck_assert_int_eq(netaddr_from_sockaddr(&a, &sa), -1);
	ck_assert_int_eq(a.family, 0);
	ck_assert_int_eq(netaddr_from_sockaddr(&a, NULL), -1);
}
END_TEST

START_TEST(test_equal_and_format)
{
	struct netaddr a = addr("192.0.2.1"), b = addr("::ffff:192.0.2.1");
	struct netaddr c = addr("[2001:db8::1]:443"), none;
	char small[4];

	ck_assert(netaddr_equal(&a, &b));
	b = addr("192.0.2.2");
	ck_assert(!netaddr_equal(&a, &b));
	ck_assert(netaddr_equal(&c, &c));
	b = addr("2001:db8::1");
	ck_assert(netaddr_equal(&b, &c));
	/* ::192.0.2.1 (IPv4-compatible, not mapped) stays IPv6. */
	b = addr("::192.0.2.1");
	ck_assert_int_eq(b.family, AF_INET6);
	ck_assert(!netaddr_equal(&a, &b));
	/* No address equals nothing, not even itself, and prints as "?". */
	memset(&none, 0, sizeof none);
	ck_assert(!netaddr_equal(&none, &none));
	ck_assert_str_eq(fmt(&none), "?");
	/* A buffer too small still ends up a string. */
	netaddr_format(&c, small, sizeof small);
	ck_assert_uint_lt(strlen(small), sizeof small);
	ck_assert_str_eq(fmt(&c), "2001:db8::1");
}
END_TEST

START_TEST(test_cidr_v4)
{
	ck_assert(in_list("10.0.0.0/8", "10.0.0.0"));
	ck_assert(in_list("10.0.0.0/8", "10.255.255.255"));
	ck_assert(!in_list("10.0.0.0/8", "11.0.0.0"));
	ck_assert(!in_list("10.0.0.0/8", "9.255.255.255"));
	/* A prefix that does not end on a byte. */
	ck_assert(in_list("192.0.2.128/25", "192.0.2.128"));
	ck_assert(in_list("192.0.2.128/25", "192.0.2.255"));
	ck_assert(!in_list("192.0.2.128/25", "192.0.2.127"));
	ck_assert(in_list("172.16.0.0/12", "172.31.255.1"));
	ck_assert(!in_list("172.16.0.0/12", "172.32.0.1"));
	ck_assert(in_list("192.0.2.6/31", "192.0.2.7"));
	ck_assert(!in_list("192.0.2.6/31", "192.0.2.8"));
	/* /32 and a bare address: that address only. */
	ck_assert(in_list("192.0.2.7/32", "192.0.2.7"));
	ck_assert(!in_list("192.0.2.7/32", "192.0.2.6"));
	ck_assert(in_list("192.0.2.7", "192.0.2.7"));
	ck_assert(!in_list("192.0.2.7", "192.0.2.70"));
	/* /0: every IPv4 address, and no IPv6 one. */
	ck_assert(in_list("0.0.0.0/0", "255.255.255.255"));
	ck_assert(!in_list("0.0.0.0/0", "2001:db8::1"));
}
END_TEST

START_TEST(test_cidr_v6)
{
	ck_assert(in_list("2001:db8::/32", "2001:db8::"));
	ck_assert(in_list("2001:db8::/32", "2001:db8:ffff:ffff::1"));
	ck_assert(!in_list("2001:db8::/32", "2001:db9::"));
	/* fe80::/10 ends inside the second byte. */
	ck_assert(in_list("fe80::/10", "fe80::1"));
	ck_assert(in_list("fe80::/10", "febf:ffff::1"));
	ck_assert(!in_list("fe80::/10", "fec0::1"));
	ck_assert(in_list("2001:db8::/127", "2001:db8::1"));
	ck_assert(!in_list("2001:db8::/127", "2001:db8::2"));
	ck_assert(in_list("::1/128", "::1"));
	ck_assert(!in_list("::1/128", "::2"));
	ck_assert(in_list("::1", "[::1]:8080"));
	/* ::/0: every IPv6 address, and no IPv4 one, mapped or not. */
	ck_assert(in_list("::/0", "2001:db8::1"));
	ck_assert(!in_list("::/0", "192.0.2.1"));
	ck_assert(!in_list("::/0", "::ffff:192.0.2.1"));
	/* An IPv6 rule never matches an IPv4 peer, nor the reverse: not
	 * even the IPv4-compatible ::a.b.c.d. */
	ck_assert(!in_list("::/96", "0.0.0.1"));
	ck_assert(in_list("::/96", "::0.0.0.1"));
	ck_assert(!in_list("0.0.0.0/0", "::1"));
}
END_TEST

START_TEST(test_cidr_v4_mapped)
{
	char *err;

	/* A mapped peer matches an IPv4 rule. */
	ck_assert(in_list("192.0.2.0/24", "::ffff:192.0.2.9"));
	ck_assert(!in_list("192.0.2.0/24", "::ffff:192.0.3.9"));
	/* A mapped rule is the IPv4 rule: its prefix counts the 96 bits of
	 * the mapping. */
	ck_assert(in_list("::ffff:192.0.2.0/120", "192.0.2.9"));
	ck_assert(!in_list("::ffff:192.0.2.0/120", "192.0.3.9"));
	ck_assert(in_list("::ffff:192.0.2.0/120", "::ffff:192.0.2.200"));
	ck_assert(in_list("::ffff:192.0.2.9", "192.0.2.9"));
	ck_assert(in_list("::ffff:0.0.0.0/96", "203.0.113.1"));
	ck_assert(in_list("::ffff:0:0/96", "203.0.113.1"));
	ck_assert(!in_list("::ffff:0:0/96", "2001:db8::1"));
	/* Shorter than the mapping itself: no IPv4 prefix to speak of. */
	ck_assert_ptr_nonnull(err = list_error("::ffff:0:0/95"));
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	free(err);
	ck_assert_ptr_nonnull(err = list_error("::ffff:192.0.2.1/120"));
	ck_assert_ptr_nonnull(strstr(err, "past its prefix"));
	free(err);
}
END_TEST

START_TEST(test_list_syntax)
{
	struct netaddr none;
	char *err;

	/* Commas, blanks and tabs, alone or together, separate entries. */
	ck_assert(in_list(" ,10.0.0.1,,\t192.0.2.1 , ", "192.0.2.1"));
	ck_assert(in_list("10.0.0.1\t192.0.2.1", "10.0.0.1"));
	ck_assert_ptr_null(list_error(" , 10.0.0.0/8,,\t::1 "));
	/* An empty list is valid and lets nobody in. */
	ck_assert_ptr_null(list_error(""));
	ck_assert(!in_list("", "127.0.0.1"));
	ck_assert(!in_list(" , ", "127.0.0.1"));
	/* No list, or no address, matches nothing. */
	ck_assert(!in_list(NULL, "127.0.0.1"));
	memset(&none, 0, sizeof none);
	ck_assert(!netaddr_list_match("0.0.0.0/0, ::/0", &none));
	/* A bad entry is skipped when matching: the others still count. */
	ck_assert(in_list("nonsense 192.0.2.1", "192.0.2.1"));
	ck_assert(!in_list("192.0.2.1/33", "192.0.2.1"));
	/* Each kind of bad prefix says so. */
	ck_assert_ptr_nonnull(err = list_error("10.0.0.0/"));
	ck_assert_ptr_nonnull(strstr(err, "bad prefix length"));
	free(err);
	ck_assert_ptr_nonnull(err = list_error("10.0.0.0/1234"));
	ck_assert_ptr_nonnull(strstr(err, "bad prefix length"));
	free(err);
	ck_assert_ptr_nonnull(err = list_error("10.0.0.0/-8"));
	ck_assert_ptr_nonnull(strstr(err, "bad prefix length"));
	free(err);
	ck_assert_ptr_nonnull(err = list_error("2001:db8::/129"));
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	free(err);
	ck_assert_ptr_nonnull(err = list_error("2001:db8::1/64"));
	ck_assert_ptr_nonnull(strstr(err, "past its prefix"));
	free(err);
	/* Ports and brackets belong to peers, not to rules. */
	ck_assert_ptr_nonnull(err = list_error("192.0.2.1:80"));
	ck_assert_ptr_nonnull(strstr(err, "not an IPv4 or IPv6 address"));
	free(err);
	ck_assert_ptr_nonnull(err = list_error("[::1]"));
	free(err);
}
END_TEST

static Suite *
netaddr_suite(void)
{
	Suite *s = suite_create("netaddr");
	TCase *tc = tcase_create("netaddr");

	tcase_add_test(tc, test_netaddr_parse);
	tcase_add_test(tc, test_netaddr_lists);
	tcase_add_test(tc, test_from_sockaddr);
	tcase_add_test(tc, test_equal_and_format);
	tcase_add_test(tc, test_cidr_v4);
	tcase_add_test(tc, test_cidr_v6);
	tcase_add_test(tc, test_cidr_v4_mapped);
	tcase_add_test(tc, test_list_syntax);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(netaddr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
