/* Check suite for auth.c and netaddr.c: addresses and CIDR lists, the two
 * signature schemes, the client address behind trusted proxies, the
 * redelivery set, the configuration checks, and all of it end to end
 * against the real daemon. */
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>

#include <check.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "config.h"
#include "netaddr.h"
#include "testutil.h"

#define SINK "\n[sink log]\ntype = log\n"
#define EVENT "{\"event\":\"message_created\",\"id\":1}"
#define CW_SECRET "cw-secret-for-tests"
/* 32 bytes of key: base64 of "0123456789abcdef0123456789abcdef". */
#define WH_KEY64 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define WH_SECRET "whsec_" WH_KEY64

/* sha256=<hex HMAC(secret, "ts.body")> */
static void
cw_sign(char out[80], const char *secret, const char *ts, const char *body,
    size_t len)
{
	unsigned char mac[32];
	unsigned int ml = 0;
	char *msg;
	size_t n = strlen(ts), i;

	msg = malloc(n + 1 + len);
	ck_assert_ptr_nonnull(msg);
	memcpy(msg, ts, n);
	msg[n] = '.';
	memcpy(msg + n + 1, body, len);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (unsigned char *)msg, n + 1 + len, mac, &ml));
	free(msg);
	strcpy(out, "sha256=");
	for (i = 0; i < 32; i++)
		sprintf(out + 7 + 2 * i, "%02x", mac[i]);
}

/* v1,<base64 HMAC(key, "id.ts.body")> */
static void
wh_sign(char out[64], const char *key64, const char *id, const char *ts,
    const char *body)
{
	unsigned char key[64], mac[32];
	unsigned int ml = 0;
	char msg[4096];
	int kl;

	kl = EVP_DecodeBlock(key, (const unsigned char *)key64,
	    (int)strlen(key64));
	ck_assert_int_gt(kl, 0);
	if (key64[strlen(key64) - 1] == '=')
		kl--;
	snprintf(msg, sizeof msg, "%s.%s.%s", id, ts, body);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, kl,
	    (unsigned char *)msg, strlen(msg), mac, &ml));
	strcpy(out, "v1,");
	EVP_EncodeBlock((unsigned char *)out + 3, mac, 32);
}

static void
now_str(char buf[32], long delta)
{
	snprintf(buf, 32, "%lld", (long long)time(NULL) + delta);
}

/* ---- netaddr ---- */

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

/* ---- signatures ---- */

START_TEST(test_chatwoot_signature)
{
	const char *body = EVENT, *why = NULL;
	size_t len = strlen(body);
	char sig[80], ts[32], old[32], future[32];
	int64_t now = time(NULL);
	bool internal = true;
	size_t i;

	now_str(ts, 0);
	now_str(old, -301);
	now_str(future, 301);
	cw_sign(sig, CW_SECRET, ts, body, len);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, ts, now, 300000,
	    body, len, &why, &internal), 0);
	ck_assert(!internal);
	/* Upper-case hex is the same signature. */
	for (i = 7; sig[i] != '\0'; i++)
		sig[i] = (char)(sig[i] >= 'a' ? sig[i] - 32 : sig[i]);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, ts, now, 300000,
	    body, len, &why, NULL), 0);

	/* One byte of the body, the secret, or the timestamp changed. */
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, ts, now, 300000,
	    body, len - 1, &why, NULL), -1);
	ck_assert_str_eq(why, "X-Chatwoot-Signature does not match");
	ck_assert_int_eq(auth_verify_chatwoot("other", sig, ts, now, 300000,
	    body, len, &why, NULL), -1);
	cw_sign(sig, CW_SECRET, ts, body, len);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, "1", now, 0,
	    body, len, &why, NULL), -1);

	/* Stale both ways, unless tolerance is 0 (unchecked). */
	cw_sign(sig, CW_SECRET, old, body, len);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, old, now, 300000,
	    body, len, &why, NULL), -1);
	ck_assert_str_eq(why, "X-Chatwoot-Timestamp outside signature_tolerance");
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, old, now, 0,
	    body, len, &why, NULL), 0);
	cw_sign(sig, CW_SECRET, future, body, len);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, future, now,
	    300000, body, len, &why, NULL), -1);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, future, now,
	    302000, body, len, &why, NULL), 0);

	/* Missing and malformed headers. */
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, NULL, ts, now, 300000,
	    body, len, &why, NULL), -1);
	ck_assert_str_eq(why, "missing X-Chatwoot-Signature");
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, NULL, now,
	    300000, body, len, &why, NULL), -1);
	ck_assert_str_eq(why, "missing X-Chatwoot-Timestamp");
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, "sha256=abc", ts, now,
	    300000, body, len, &why, NULL), -1);
	ck_assert_ptr_nonnull(strstr(why, "malformed"));
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig + 7, ts, now,
	    300000, body, len, &why, NULL), -1);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, "12a", now,
	    300000, body, len, &why, NULL), -1);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, "-5", now,
	    300000, body, len, &why, NULL), -1);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig,
	    "99999999999999999999999", now, 300000, body, len, &why, NULL), -1);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, "", now,
	    300000, body, len, &why, NULL), -1);
}
END_TEST

START_TEST(test_standard_signature)
{
	const char *body = EVENT, *why = NULL;
	size_t len = strlen(body);
	char sig[64], list[256], ts[32], old[32];
	int64_t now = time(NULL);

	now_str(ts, 0);
	now_str(old, -400);
	wh_sign(sig, WH_KEY64, "msg_1", ts, body);
	ck_assert_int_eq(auth_verify_standard(WH_SECRET, "msg_1", ts, sig, now,
	    300000, body, len, &why, NULL), 0);
	/* The prefix is optional. */
	ck_assert_int_eq(auth_verify_standard(WH_KEY64, "msg_1", ts, sig, now,
	    300000, body, len, &why, NULL), 0);
	/* Key rotation: any entry of the list; other versions skipped. */
	snprintf(list, sizeof list, "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAA= v1a,xyz %s", sig);
	ck_assert_int_eq(auth_verify_standard(WH_SECRET, "msg_1", ts, list,
	    now, 300000, body, len, &why, NULL), 0);
	/* The id and the timestamp are signed. */
	ck_assert_int_eq(auth_verify_standard(WH_SECRET, "msg_2", ts, sig, now,
	    300000, body, len, &why, NULL), -1);
	ck_assert_str_eq(why, "webhook-signature does not match");
	ck_assert_int_eq(auth_verify_standard(WH_SECRET, "msg_1", ts, sig, now,
	    300000, body, len - 1, &why, NULL), -1);
	ck_assert_int_eq(auth_verify_standard(WH_SECRET, "msg_1", ts,
	    "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", now, 300000, body,
	    len, &why, NULL), -1);
	wh_sign(sig, WH_KEY64, "msg_1", old, body);
	ck_assert_int_eq(auth_verify_standard(WH_SECRET, "msg_1", old, sig,
	    now, 300000, body, len, &why, NULL), -1);
	ck_assert_str_eq(why, "webhook-timestamp outside signature_tolerance");
	ck_assert_int_eq(auth_verify_standard(WH_SECRET, NULL, ts, sig, now,
	    300000, body, len, &why, NULL), -1);
	ck_assert_str_eq(why, "missing webhook-id");
	ck_assert_int_eq(auth_verify_standard(WH_SECRET, "msg_1", NULL, sig,
	    now, 300000, body, len, &why, NULL), -1);
	ck_assert_int_eq(auth_verify_standard(WH_SECRET, "msg_1", ts, NULL,
	    now, 300000, body, len, &why, NULL), -1);
	ck_assert_int_eq(auth_verify_standard(WH_SECRET, "msg_1", ts, "v1,",
	    now, 300000, body, len, &why, NULL), -1);
	ck_assert_ptr_nonnull(strstr(why, "malformed"));
	ck_assert_int_eq(auth_verify_standard(WH_SECRET, "msg_1", ts, "v2,abc",
	    now, 300000, body, len, &why, NULL), -1);
}
END_TEST

/* ---- the client address ---- */

static struct config *
proxy_config(const char *trusted)
{
	struct config *cfg = config_default();

	cfg->trusted_proxies = trusted ? strdup(trusted) : NULL;
	return cfg;
}

static const char *
client_of(const struct config *cfg, const char *peer, const char *xff,
    const char *real_ip, int want_rc)
{
	struct auth_request r;
	struct netaddr c;

	memset(&r, 0, sizeof r);
	r.peer = addr(peer);
	r.forwarded_for = xff;
	r.real_ip = real_ip;
	ck_assert_int_eq(auth_client(cfg, &r, &c), want_rc);
	return fmt(&c);
}

START_TEST(test_client_address)
{
	struct config *none = proxy_config(NULL);
	struct config *cfg = proxy_config("10.0.0.0/8, ::1");

	/* Without trusted proxies the headers are never believed. */
	ck_assert_str_eq(client_of(none, "10.0.0.1", "203.0.113.9", NULL, 0),
	    "10.0.0.1");
	/* From an untrusted peer neither. */
	ck_assert_str_eq(client_of(cfg, "198.51.100.1", "203.0.113.9",
	    "203.0.113.9", 0), "198.51.100.1");
	/* Right to left: a spoofed left part is not believed. */
	ck_assert_str_eq(client_of(cfg, "10.0.0.1", "1.1.1.1, 203.0.113.9",
	    NULL, 0), "203.0.113.9");
	ck_assert_str_eq(client_of(cfg, "10.0.0.1",
	    "1.1.1.1, 203.0.113.9, 10.0.0.2,10.0.0.3", NULL, 0), "203.0.113.9");
	/* Every hop trusted: the leftmost is the client. */
	ck_assert_str_eq(client_of(cfg, "10.0.0.1", "10.0.0.7, 10.0.0.2",
	    NULL, 0), "10.0.0.7");
	ck_assert_str_eq(client_of(cfg, "::1", "[2001:db8::5]:1234", NULL, 0),
	    "2001:db8::5");
	ck_assert_str_eq(client_of(cfg, "10.0.0.1", "203.0.113.9:5555", NULL,
	    0), "203.0.113.9");
	/* X-Real-IP only when there is no X-Forwarded-For. */
	ck_assert_str_eq(client_of(cfg, "10.0.0.1", NULL, "203.0.113.8", 0),
	    "203.0.113.8");
	ck_assert_str_eq(client_of(cfg, "10.0.0.1", "203.0.113.9",
	    "203.0.113.8", 0), "203.0.113.9");
	ck_assert_str_eq(client_of(cfg, "10.0.0.1", " , ", "203.0.113.8", 0),
	    "203.0.113.8");
	/* Garbage: -1, and the nearest hop known. */
	ck_assert_str_eq(client_of(cfg, "10.0.0.1", "1.1.1.1, unknown", NULL,
	    -1), "10.0.0.1");
	ck_assert_str_eq(client_of(cfg, "10.0.0.1", "garbage, 10.0.0.2", NULL,
	    -1), "10.0.0.2");
	ck_assert_str_eq(client_of(cfg, "10.0.0.1", "1.1.1.1,,203.0.113.9",
	    NULL, 0), "203.0.113.9");
	ck_assert_str_eq(client_of(cfg, "10.0.0.1", NULL, "nope", -1),
	    "10.0.0.1");
	config_free(none);
	config_free(cfg);
}
END_TEST

START_TEST(test_check_headers)
{
	struct config *cfg = config_default();
	struct auth_request r;
	struct auth_refusal no;
	struct netaddr c;

	memset(&r, 0, sizeof r);
	r.peer = c = addr("192.0.2.1");
	r.now = time(NULL);
	ck_assert_int_eq(auth_check_headers(cfg, &r, &c, true, &no), 0);
	cfg->allow_from = strdup("198.51.100.0/24");
	ck_assert_int_eq(auth_check_headers(cfg, &r, &c, true, &no), -1);
	ck_assert_int_eq(no.status, 403);
	c = addr("198.51.100.9");
	ck_assert_int_eq(auth_check_headers(cfg, &r, &c, true, &no), 0);
	ck_assert_int_eq(auth_check_headers(cfg, &r, &c, false, &no), -1);
	ck_assert_int_eq(no.status, 403);
	cfg->token = strdup("t0ken");
	ck_assert_int_eq(auth_check_headers(cfg, &r, &c, true, &no), -1);
	ck_assert_int_eq(no.status, 401);
	ck_assert_str_eq(no.reason, "missing token");
	r.header_token = "t0ken";
	ck_assert_int_eq(auth_check_headers(cfg, &r, &c, true, &no), 0);
	r.path_token = "t0ke";
	ck_assert_int_eq(auth_check_headers(cfg, &r, &c, true, &no), -1);
	ck_assert_str_eq(no.reason, "wrong token");
	r.header_token = NULL;
	r.path_token = "t0ken";
	ck_assert_int_eq(auth_check_headers(cfg, &r, &c, true, &no), 0);
	r.path_token = "t0ken2";
	ck_assert_int_eq(auth_check_headers(cfg, &r, &c, true, &no), -1);
	r.path_token = "t0ken";
	/* The signature headers are checked before the body arrives. */
	cfg->signature_secret = strdup(CW_SECRET);
	ck_assert_int_eq(auth_check_headers(cfg, &r, &c, true, &no), -1);
	ck_assert_int_eq(no.status, 401);
	ck_assert_str_eq(no.reason, "missing X-Chatwoot-Signature");
	config_free(cfg);
}
END_TEST

/* ---- redelivery and replay ---- */

/* Ends a claim and frees it. */
static void
done(struct auth_dedupe *d, struct auth_claim **c, bool accepted,
    int64_t now)
{
	auth_dedupe_done(d, *c, accepted, now);
	free(*c);
	*c = NULL;
}

START_TEST(test_dedupe)
{
	struct auth_dedupe *d = auth_dedupe_new(4);
	struct auth_claim *a, *c, *x[4];
	char id[16];
	int i;

	ck_assert_int_eq(auth_dedupe_claim(d, "a", 1000, 100, &a), AUTH_NEW);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(auth_dedupe_claim(d, "a", 1001, 100, &c), AUTH_BUSY);
	ck_assert_ptr_null(c);
	done(d, &a, true, 1002);
	ck_assert_int_eq(auth_dedupe_claim(d, "a", 1050, 100, &c), AUTH_SEEN);
	ck_assert_ptr_null(c);
	/* The window counts from acceptance. */
	ck_assert_int_eq(auth_dedupe_claim(d, "a", 1101, 100, &c), AUTH_SEEN);
	ck_assert_int_eq(auth_dedupe_claim(d, "a", 1102, 100, &a), AUTH_NEW);
	done(d, &a, false, 1103);
	/* Not accepted: forgotten, so the retry gets in. */
	ck_assert_int_eq(auth_dedupe_claim(d, "a", 1104, 100, &a), AUTH_NEW);
	done(d, &a, true, 1105);
	ck_assert_uint_eq(auth_dedupe_size(d), 1);
	/* The cap: the oldest go first, memory stays put. */
	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "id%d", i);
		ck_assert_int_eq(auth_dedupe_claim(d, id, 1200, 1000, &a),
		    AUTH_NEW);
		done(d, &a, true, 1200);
		ck_assert_uint_le(auth_dedupe_size(d), 4);
	}
	ck_assert_int_eq(auth_dedupe_claim(d, "id9", 1201, 1000, &c),
	    AUTH_SEEN);
	ck_assert_int_eq(auth_dedupe_claim(d, "id6", 1201, 1000, &c),
	    AUTH_SEEN);
	ck_assert_int_eq(auth_dedupe_claim(d, "id0", 1201, 1000, &a),
	    AUTH_NEW);
	/* Accepted after being pushed out while in flight: kept anyway. */
	for (i = 0; i < 4; i++) {
		snprintf(id, sizeof id, "x%d", i);
		ck_assert_int_eq(auth_dedupe_claim(d, id, 1300, 1000, &x[i]),
		    AUTH_NEW);
	}
	done(d, &a, true, 1301);
	ck_assert_int_eq(auth_dedupe_claim(d, "id0", 1302, 1000, &c),
	    AUTH_SEEN);
	for (i = 0; i < 4; i++)
		done(d, &x[i], false, 1303);
	/* Everything expires. */
	ck_assert_int_eq(auth_dedupe_claim(d, "id0", 5000, 1000, &a),
	    AUTH_NEW);
	ck_assert_uint_eq(auth_dedupe_size(d), 1);
	/* A claim that expired in flight, was taken and accepted by another
	 * request, and then failed, leaves the other's entry alone. */
	ck_assert_int_eq(auth_dedupe_claim(d, "id0", 6000, 1000, &c),
	    AUTH_NEW);
	done(d, &c, true, 6001);
	done(d, &a, false, 6002);
	ck_assert_int_eq(auth_dedupe_claim(d, "id0", 6003, 1000, &c),
	    AUTH_SEEN);
	auth_dedupe_done(d, NULL, true, 6004);
	auth_dedupe_free(d);
	auth_dedupe_free(NULL);
}
END_TEST

START_TEST(test_dedupe_many)
{
	struct auth_dedupe *d = auth_dedupe_new(1000);
	struct auth_claim *c;
	char id[32];
	int i;

	for (i = 0; i < 20000; i++) {
		snprintf(id, sizeof id, "delivery-%d", i);
		ck_assert_int_eq(auth_dedupe_claim(d, id, i, 600000, &c),
		    AUTH_NEW);
		done(d, &c, i % 3 != 0, i);
	}
	ck_assert_uint_le(auth_dedupe_size(d), 1000);
	ck_assert_int_eq(auth_dedupe_claim(d, "delivery-19999", 20000,
	    600000, &c), AUTH_SEEN);
	ck_assert_int_eq(auth_dedupe_claim(d, "delivery-19998", 20000,
	    600000, &c), AUTH_NEW);
	done(d, &c, false, 20000);
	auth_dedupe_free(d);
}
END_TEST

/* The request's keys: its delivery id for dedupe_window, each verified
 * MAC for as long as the same timestamp stays fresh. */
START_TEST(test_dedupe_replay)
{
	struct auth_dedupe *d = auth_dedupe_new(64);
	struct config *cfg = config_default();
	struct auth_request r;
	struct auth_macs m, m2, w;
	struct auth_claim *c, *first;

	/* Timestamps pass 5 s either way: a MAC is kept 2 x 5 + 2 s. */
	cfg->dedupe_window_ms = 1000;
	cfg->signature_tolerance_ms = 5000;
	memset(&r, 0, sizeof r);
	memset(&m, 0, sizeof m);
	m.cw = true;
	memset(m.cw_mac, 0xa5, sizeof m.cw_mac);
	m2 = m;
	m2.cw_mac[31] ^= 1;
	r.cw_delivery = "d-1";
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m, 0, &first),
	    AUTH_NEW);
	ck_assert_ptr_nonnull(first);
	/* In flight: the same signature under another id, or the same id
	 * under another signature, waits. */
	r.cw_delivery = "d-2";
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m, 5, &c),
	    AUTH_BUSY);
	ck_assert_ptr_null(c);
	r.cw_delivery = "d-1";
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m2, 6, &c),
	    AUTH_BUSY);
	done(d, &first, true, 10);
	/* The same signature under another delivery id, or none: a replay,
	 * which leaves its id behind. */
	r.cw_delivery = "d-2";
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m, 20, &c),
	    AUTH_REPLAY);
	ck_assert_ptr_null(c);
	r.cw_delivery = NULL;
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m, 20, &c),
	    AUTH_REPLAY);
	r.cw_delivery = "d-2";
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m2, 30, &c),
	    AUTH_NEW);
	done(d, &c, false, 30);
	/* The same delivery id with another signature: a redelivery. */
	r.cw_delivery = "d-1";
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m2, 40, &c),
	    AUTH_SEEN);
	/* The id goes after dedupe_window, the MAC only after the
	 * tolerance on both sides. */
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m2, 1010,
	    &c), AUTH_NEW);
	done(d, &c, false, 1010);
	r.cw_delivery = NULL;
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m,
	    10 + 12000 - 1, &c), AUTH_REPLAY);
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m, 10 + 12000,
	    &c), AUTH_NEW);
	done(d, &c, true, 20000);
	/* The same bytes from the other scheme are another key. */
	memset(&w, 0, sizeof w);
	w.wh = true;
	memcpy(w.wh_mac, m.cw_mac, sizeof w.wh_mac);
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &w, 20001,
	    &c), AUTH_NEW);
	done(d, &c, true, 20001);
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &w, 20002,
	    &c), AUTH_REPLAY);
	/* dedupe_window = 0 forgets ids, not signatures. */
	cfg->dedupe_window_ms = 0;
	r.cw_delivery = "d-9";
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m2, 30000,
	    &c), AUTH_NEW);
	done(d, &c, true, 30000);
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m2,
	    30000 + 11999, &c), AUTH_REPLAY);
	/* A longer dedupe_window keeps signatures as long. */
	cfg->dedupe_window_ms = 60000;
	m2.cw_mac[0] ^= 1;
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m2, 50000,
	    &c), AUTH_NEW);
	done(d, &c, true, 50000);
	r.cw_delivery = "d-10";
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m2,
	    50000 + 59999, &c), AUTH_REPLAY);
	/* Unchecked timestamps (tolerance 0): kept for dedupe_window; with
	 * that 0 too, nothing is kept and nothing claimed. */
	cfg->signature_tolerance_ms = 0;
	cfg->dedupe_window_ms = 0;
	ck_assert_int_eq(auth_dedupe_claim_request(d, cfg, &r, &m2, 200000,
	    &c), AUTH_NEW);
	ck_assert_ptr_null(c);
	config_free(cfg);
	auth_dedupe_free(d);
}
END_TEST

/* ---- configuration ---- */

static char *
load_error_for(const char *text)
{
	char *dir = tu_tmpdir(), path[256], *err = NULL;
	struct config *cfg;

	snprintf(path, sizeof path, "%s/c.conf", dir);
	tu_write_file(path, text, strlen(text));
	cfg = config_load(path, &err);
	config_free(cfg);
	tu_rmtree(dir);
	free(dir);
	return err;
}

START_TEST(test_config_checks)
{
	char *err;

	err = load_error_for("[server]\nallow_from = 10.0.0.0/8, 300.1.1.1\n"
	    "trusted_proxies = ::1/129\nstandard_webhooks_secret = whsec_%%%\n"
	    SINK);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_nonnull(strstr(err, "[server] allow_from: '300.1.1.1' "
	    "is not an IPv4 or IPv6 address"));
	ck_assert_ptr_nonnull(strstr(err, "[server] trusted_proxies: "
	    "'::1/129'"));
	ck_assert_ptr_nonnull(strstr(err, "[server] standard_webhooks_secret"));
	/* The secret itself is never in a message. */
	ck_assert_ptr_null(strstr(err, "%%%"));
	free(err);
	err = load_error_for("[server]\nallow_from = 127.0.0.1, ::1\n"
	    "trusted_proxies = 10.0.0.0/8\nstandard_webhooks_secret = "
	    WH_SECRET "\nrequest_timeout = 5s\nmax_header_size = 8k\n" SINK);
	ck_assert_msg(err == NULL, "%s", err);
	err = load_error_for("[server]\nrequest_timeout = 10ms\n" SINK);
	ck_assert_ptr_nonnull(err);
	free(err);
	err = load_error_for("[server]\nmax_header_size = 100\n" SINK);
	ck_assert_ptr_nonnull(err);
	free(err);
}
END_TEST

/* ---- end to end ---- */

static struct tu_daemon d;

static void
start(const char *conf)
{
	ck_assert_msg(tu_daemon_start(&d, conf, NULL), "daemon did not start");
}

/* Stops the daemon with SIGTERM: it must exit 0, and under the
 * sanitizers with no leak and no error reported (tu_daemon_free). */
static void
stop(void)
{
	tu_daemon_free(&d);
}

static long
post(const char *path, const char *const *headers, const char *body)
{
	struct tu_response r;
	char url[256];
	long status;

	snprintf(url, sizeof url, "%s%s", d.url, path);
	tu_http(&r, "POST", url, headers, body, strlen(body));
	status = r.status;
	tu_response_free(&r);
	return status;
}

/* POSTs and returns the body (malloc'd); the status in *status. */
static char *
post_body(const char *path, const char *const *headers, const char *body,
    long *status)
{
	struct tu_response r;
	char url[256], *b;

	snprintf(url, sizeof url, "%s%s", d.url, path);
	tu_http(&r, "POST", url, headers, body, strlen(body));
	*status = r.status;
	b = r.body ? strdup(r.body) : strdup("");
	tu_response_free(&r);
	return b;
}

/* The value of one /metrics line, e.g. name{label="x"}. */
static long long
metric(const char *name)
{
	struct tu_response r;
	char url[256];
	const char *p;
	long long v = -1;
	size_t n = strlen(name);

	snprintf(url, sizeof url, "%s/metrics", d.url);
	tu_http(&r, "GET", url, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 200);
	for (p = r.body; p != NULL && *p != '\0'; p = strchr(p, '\n'),
	    p = p ? p + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ') {
			v = atoll(p + n + 1);
			break;
		}
	tu_response_free(&r);
	ck_assert_msg(v >= 0, "no metric %s", name);
	return v;
}

static bool
log_has(const char *needle)
{
	char *text;
	bool found;
	int i;

	/* The line is written as the answer goes out: allow a moment. */
	for (i = 0; i < 100; i++) {
		text = tu_read_file(d.log, NULL);
		found = strstr(text, needle) != NULL;
		free(text);
		if (found)
			return true;
		usleep(10000);
	}
	return false;
}

static bool
log_lacks(const char *needle)
{
	char *text = tu_read_file(d.log, NULL);
	bool found = strstr(text, needle) != NULL;

	free(text);
	return !found;
}

START_TEST(test_e2e_token)
{
	static const char *const good[] = { "X-Webhook-Token: Tok-3n", NULL };
	static const char *const bad[] = { "X-Webhook-Token: Tok-3N", NULL };

	start("[server]\ntoken = Tok-3n\n" SINK);
	ck_assert_int_eq(post("/webhook/Tok-3n", NULL, EVENT), 200);
	ck_assert_int_eq(post("/webhook", good, EVENT), 200);
	ck_assert_int_eq(post("/webhook", NULL, EVENT), 401);
	ck_assert_int_eq(post("/webhook/Tok-3", NULL, EVENT), 401);
	ck_assert_int_eq(post("/webhook/Tok-3n%20", NULL, EVENT), 401);
	ck_assert_int_eq(post("/webhook", bad, EVENT), 401);
	/* Both given: both must be right. */
	ck_assert_int_eq(post("/webhook/Tok-3n", bad, EVENT), 401);
	ck_assert_int_eq(post("/webhook/Tok-3n/x", NULL, EVENT), 404);
	ck_assert_int_eq(post("/webhookTok-3n", NULL, EVENT), 404);
	/* Percent-encoded is the same token. */
	ck_assert_int_eq(post("/webhook/Tok%2D3n", NULL, EVENT), 200);
	ck_assert_int_eq(metric("livedesk_events_dropped_total"
	    "{reason=\"unauthorized\"}"), 5);
	ck_assert_int_eq(metric("livedesk_http_requests_total{code=\"401\"}"),
	    5);
	ck_assert(log_has("refused 401 from 127.0.0.1: wrong token"));
	ck_assert(log_has("refused 401 from 127.0.0.1: missing token"));
	/* Never logged, right or wrong. */
	ck_assert(log_lacks("Tok-3"));
	ck_assert(log_lacks("Tok%2D"));
	stop();
}
END_TEST

START_TEST(test_e2e_no_token_no_segment)
{
	/* Without a token, PATH/anything is just not a route. */
	start(NULL);
	ck_assert_int_eq(post("/webhook/abc", NULL, EVENT), 404);
	ck_assert_int_eq(post("/webhook", NULL, EVENT), 200);
	stop();
}
END_TEST

START_TEST(test_e2e_chatwoot)
{
	char sig[80], ts[32], hs[128], ht[64];
	const char *hdr[] = { hs, ht, NULL };
	const char *tampered = "{\"event\":\"message_created\",\"id\":2}";
	char *body;
	long status;

	start("[server]\nsignature_secret = " CW_SECRET "\n" SINK);
	now_str(ts, 0);
	cw_sign(sig, CW_SECRET, ts, EVENT, strlen(EVENT));
	snprintf(hs, sizeof hs, "X-Chatwoot-Signature: %s", sig);
	snprintf(ht, sizeof ht, "X-Chatwoot-Timestamp: %s", ts);
	ck_assert_int_eq(post("/webhook", hdr, EVENT), 200);
	body = post_body("/webhook", hdr, tampered, &status);
	ck_assert_int_eq(status, 401);
	ck_assert_str_eq(body, "{\"ok\":false,\"error\":\"X-Chatwoot-Signature "
	    "does not match\"}");
	free(body);
	ck_assert(log_has("refused 401 from 127.0.0.1: X-Chatwoot-Signature "
	    "does not match"));
	/* Whitespace added by a re-encoding proxy breaks it: the bytes
	 * received are what is signed. */
	ck_assert_int_eq(post("/webhook", hdr,
	    "{\"event\": \"message_created\",\"id\":1}"), 401);
	/* Stale. */
	now_str(ts, -301);
	cw_sign(sig, CW_SECRET, ts, EVENT, strlen(EVENT));
	snprintf(hs, sizeof hs, "X-Chatwoot-Signature: %s", sig);
	snprintf(ht, sizeof ht, "X-Chatwoot-Timestamp: %s", ts);
	ck_assert_int_eq(post("/webhook", hdr, EVENT), 401);
	ck_assert(log_has("X-Chatwoot-Timestamp outside signature_tolerance"));
	/* Missing. */
	ck_assert_int_eq(post("/webhook", NULL, EVENT), 401);
	ck_assert(log_has("missing X-Chatwoot-Signature"));
	ck_assert_int_eq(metric("livedesk_events_total"
	    "{event=\"message_created\"}"), 1);
	ck_assert_int_eq(metric("livedesk_events_dropped_total"
	    "{reason=\"unauthorized\"}"), 4);
	ck_assert(log_lacks(CW_SECRET));
	stop();
}
END_TEST

START_TEST(test_e2e_standard)
{
	char sig[64], sig2[64], ts[32], hs[256], ht[64];
	const char *hdr[] = { "webhook-id: msg_e2e", hs, ht, NULL };

	start("[server]\nstandard_webhooks_secret = " WH_SECRET "\n" SINK);
	now_str(ts, 0);
	wh_sign(sig, WH_KEY64, "msg_e2e", ts, EVENT);
	/* The old key's signature first, as during a rotation. */
	wh_sign(sig2, "b2xkLWtleS1vbGQta2V5LW9sZC1rZXktb2xkLWtleSE=", "msg_e2e",
	    ts, EVENT);
	snprintf(hs, sizeof hs, "webhook-signature: %s %s", sig2, sig);
	snprintf(ht, sizeof ht, "webhook-timestamp: %s", ts);
	ck_assert_int_eq(post("/webhook", hdr, EVENT), 200);
	snprintf(hs, sizeof hs, "webhook-signature: %s", sig2);
	ck_assert_int_eq(post("/webhook", hdr, EVENT), 401);
	ck_assert(log_has("webhook-signature does not match"));
	hdr[0] = "webhook-id: msg_other";
	snprintf(hs, sizeof hs, "webhook-signature: %s", sig);
	ck_assert_int_eq(post("/webhook", hdr, EVENT), 401);
	ck_assert_int_eq(post("/webhook", NULL, EVENT), 401);
	ck_assert(log_has("missing webhook-id"));
	stop();
}
END_TEST

START_TEST(test_e2e_allow_from)
{
	start("[server]\nallow_from = 192.0.2.0/24, 2001:db8::/32\n" SINK);
	ck_assert_int_eq(post("/webhook", NULL, EVENT), 403);
	ck_assert(log_has("refused 403 from 127.0.0.1: client address not in "
	    "allow_from"));
	ck_assert_int_eq(metric("livedesk_events_dropped_total"
	    "{reason=\"forbidden\"}"), 1);
	/* Without trusted_proxies the header is not believed. */
	{
		const char *h[] = { "X-Forwarded-For: 192.0.2.5", NULL };

		ck_assert_int_eq(post("/webhook", h, EVENT), 403);
	}
	stop();
	start("[server]\nallow_from = 127.0.0.0/8\n" SINK);
	ck_assert_int_eq(post("/webhook", NULL, EVENT), 200);
	stop();
}
END_TEST

START_TEST(test_e2e_trusted_proxy)
{
	const char *good[] = { "X-Forwarded-For: 192.0.2.66, 203.0.113.7",
	    NULL };
	const char *spoof[] = { "X-Forwarded-For: 203.0.113.7, 192.0.2.66",
	    NULL };
	const char *chain[] = { "X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: "
	    "203.0.113.9, 127.0.0.5", NULL };
	const char *junk[] = { "X-Forwarded-For: 203.0.113.7, \x01junk", NULL };
	const char *real[] = { "X-Real-IP: 203.0.113.8", NULL };

	start("[server]\ntrusted_proxies = 127.0.0.0/8\n"
	    "allow_from = 203.0.113.0/24\n" SINK);
	ck_assert_int_eq(post("/webhook", good, EVENT), 200);
	ck_assert_int_eq(post("/webhook", spoof, EVENT), 403);
	ck_assert(log_has("refused 403 from 192.0.2.66 via 127.0.0.1: client "
	    "address not in allow_from"));
	/* Several header lines are one list, in order. */
	ck_assert_int_eq(post("/webhook", chain, EVENT), 200);
	ck_assert_int_eq(post("/webhook", junk, EVENT), 403);
	ck_assert(log_has("forwarded client address is not an address"));
	ck_assert_int_eq(post("/webhook", real, EVENT), 200);
	/* The proxy itself, with nothing forwarded, is not LiveDesk. */
	ck_assert_int_eq(post("/webhook", NULL, EVENT), 403);
	stop();
}
END_TEST

START_TEST(test_e2e_dedupe)
{
	const char *h1[] = { "X-Chatwoot-Delivery: d-123", NULL };
	const char *h2[] = { "X-Chatwoot-Delivery: d-456", NULL };
	char *body;
	long status;
	int i;

	start("[server]\n" SINK);
	ck_assert_int_eq(post("/webhook", h1, EVENT), 200);
	body = post_body("/webhook", h1, EVENT, &status);
	ck_assert_int_eq(status, 200);
	ck_assert_str_eq(body, "{\"ok\":true,\"duplicate\":true}");
	free(body);
	ck_assert(log_has("duplicate delivery from 127.0.0.1"));
	/* A refused delivery is not recorded: its retry gets in. */
	ck_assert_int_eq(post("/webhook", h2, "{\"event\":"), 400);
	ck_assert_int_eq(post("/webhook", h2, EVENT), 200);
	ck_assert_int_eq(post("/webhook", h2, EVENT), 200);
	ck_assert_int_eq(metric("livedesk_events_total"
	    "{event=\"message_created\"}"), 2);
	ck_assert_int_eq(metric("livedesk_events_dropped_total"
	    "{reason=\"duplicate\"}"), 2);
	/* A reload keeps what was seen. */
	kill(d.pid, SIGHUP);
	ck_assert(log_has("configuration reloaded"));
	ck_assert_int_eq(post("/webhook", h1, EVENT), 200);
	ck_assert_int_eq(metric("livedesk_events_total"
	    "{event=\"message_created\"}"), 2);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(post("/webhook", h1, EVENT), 200);
	ck_assert_int_eq(metric("livedesk_events_dropped_total"
	    "{reason=\"duplicate\"}"), 6);
	stop();
}
END_TEST

START_TEST(test_e2e_dedupe_window)
{
	const char *h1[] = { "webhook-id: w-1", NULL };

	/* A short window: redelivery after it is a new event. */
	start("[server]\ndedupe_window = 1s\n" SINK);
	ck_assert_int_eq(post("/webhook", h1, EVENT), 200);
	ck_assert_int_eq(post("/webhook", h1, EVENT), 200);
	usleep(1100 * 1000);
	ck_assert_int_eq(post("/webhook", h1, EVENT), 200);
	ck_assert_int_eq(metric("livedesk_events_total"
	    "{event=\"message_created\"}"), 2);
	stop();
	/* 0 turns it off. */
	start("[server]\ndedupe_window = 0\n" SINK);
	ck_assert_int_eq(post("/webhook", h1, EVENT), 200);
	ck_assert_int_eq(post("/webhook", h1, EVENT), 200);
	ck_assert_int_eq(metric("livedesk_events_total"
	    "{event=\"message_created\"}"), 2);
	stop();
}
END_TEST

/*
 * Replay: a captured signed request re-sent within signature_tolerance
 * under another delivery id, or none, must not run again. The file sink
 * writes one line per event delivered; the daemon is stopped (which
 * drains the queue) before the lines are counted.
 */
static char *
start_counting(const char *server, char **dir)
{
	char *conf, *path;

	*dir = tu_tmpdir();
	ck_assert_int_ge(asprintf(&path, "%s/runs.jsonl", *dir), 0);
	ck_assert_int_ge(asprintf(&conf, "[server]\n%s\n[sink f]\ntype = file\n"
	    "path = %s\n", server, path), 0);
	start(conf);
	free(conf);
	return path;
}

/* Stops the daemon, so that every event accepted has been delivered,
 * and returns how many were. */
static int
stop_and_count(const char *path)
{
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	stop();
	return tu_count_lines(path);
}

/* A POST that must be answered 200 as a duplicate, not dispatched. */
static void
post_duplicate(const char *const *headers, const char *body)
{
	char *answer;
	long status;

	answer = post_body("/webhook", headers, body, &status);
	ck_assert_int_eq(status, 200);
	ck_assert_str_eq(answer, "{\"ok\":true,\"duplicate\":true}");
	free(answer);
}

START_TEST(test_e2e_replay_chatwoot)
{
	static const char *const ids[] = { "X-Chatwoot-Delivery: r-2",
	    "X-Nothing: 1", "webhook-id: forged-1",
	    "X-Chatwoot-Delivery: r-3" };
	const char *other = "{\"event\":\"message_created\",\"id\":2}";
	char sig[80], ts[32], hs[128], ht[64], *dir, *path, *p;
	const char *hdr[] = { hs, ht, "X-Chatwoot-Delivery: r-1", NULL };
	size_t i;

	path = start_counting("signature_secret = " CW_SECRET, &dir);
	now_str(ts, 0);
	cw_sign(sig, CW_SECRET, ts, EVENT, strlen(EVENT));
	snprintf(hs, sizeof hs, "X-Chatwoot-Signature: %s", sig);
	snprintf(ht, sizeof ht, "X-Chatwoot-Timestamp: %s", ts);
	ck_assert_int_eq(post("/webhook", hdr, EVENT), 200);
	/* The same bytes under another delivery id, none, an unsigned
	 * webhook-id (which would be taken as the id), and the signature
	 * in capitals (the same digits to the parser): four replays. */
	for (i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		hdr[2] = ids[i];
		if (i == 3)
			for (p = strchr(hs, ' ') + 1; *p != '\0'; p++)
				*p = (char)toupper((unsigned char)*p);
		post_duplicate(hdr, EVENT);
	}
	ck_assert(log_has("replayed signature from 127.0.0.1: answered 200, "
	    "not dispatched again"));
	/* Another body under the same timestamp is another event. */
	cw_sign(sig, CW_SECRET, ts, other, strlen(other));
	snprintf(hs, sizeof hs, "X-Chatwoot-Signature: %s", sig);
	hdr[2] = "X-Chatwoot-Delivery: r-4";
	ck_assert_int_eq(post("/webhook", hdr, other), 200);
	ck_assert_int_eq(metric("livedesk_events_dropped_total"
	    "{reason=\"duplicate\"}"), 4);
	ck_assert_int_eq(stop_and_count(path), 2);
	tu_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_e2e_replay_standard)
{
	const char *other = "{\"event\":\"message_created\",\"id\":2}";
	char sig[64], sig2[64], ts[32], hs[256], ht[64], *dir, *path;
	const char *hdr[] = { "webhook-id: msg_r1", hs, ht,
	    "X-Chatwoot-Delivery: r-1", NULL };
	int i;

	/* webhook-id is signed, but delivery ids are not remembered here:
	 * the signature must still be, for as long as it is fresh. */
	path = start_counting("standard_webhooks_secret = " WH_SECRET "\n"
	    "dedupe_window = 0", &dir);
	now_str(ts, 0);
	wh_sign(sig, WH_KEY64, "msg_r1", ts, EVENT);
	wh_sign(sig2, "b2xkLWtleS1vbGQta2V5LW9sZC1rZXktb2xkLWtleSE=", "msg_r1",
	    ts, EVENT);
	snprintf(hs, sizeof hs, "webhook-signature: %s", sig);
	snprintf(ht, sizeof ht, "webhook-timestamp: %s", ts);
	ck_assert_int_eq(post("/webhook", hdr, EVENT), 200);
	/* Four replays: other or no X-Chatwoot-Delivery, and the list of
	 * signatures padded or reordered around the one that matches. */
	for (i = 0; i < 4; i++) {
		hdr[3] = i % 2 == 0 ? "X-Chatwoot-Delivery: r-2" : "X-No: 1";
		if (i == 2)
			snprintf(hs, sizeof hs, "webhook-signature: %s v2,x %s",
			    sig2, sig);
		if (i == 3)
			snprintf(hs, sizeof hs, "webhook-signature: %s %s",
			    sig, sig2);
		post_duplicate(hdr, EVENT);
	}
	ck_assert(log_has("replayed signature from 127.0.0.1"));
	/* A new webhook-id under the same signature does not verify. */
	hdr[0] = "webhook-id: msg_r2";
	ck_assert_int_eq(post("/webhook", hdr, EVENT), 401);
	/* Another body is another event. */
	wh_sign(sig, WH_KEY64, "msg_r2", ts, other);
	snprintf(hs, sizeof hs, "webhook-signature: %s", sig);
	ck_assert_int_eq(post("/webhook", hdr, other), 200);
	ck_assert_int_eq(stop_and_count(path), 2);
	tu_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_e2e_everything)
{
	char sig[80], wsig[64], ts[32], hs[128], ht[64], ws[128], wt[64];
	const char *hdr[] = { hs, ht, ws, wt, "webhook-id: all-1",
	    "X-Forwarded-For: 203.0.113.50", NULL };

	/* Every lock at once: a signed request from the sender gets in. */
	start("[server]\ntoken = tt\nsignature_secret = " CW_SECRET "\n"
	    "standard_webhooks_secret = " WH_SECRET "\n"
	    "allow_from = 203.0.113.0/24\ntrusted_proxies = 127.0.0.1\n" SINK);
	now_str(ts, 0);
	cw_sign(sig, CW_SECRET, ts, EVENT, strlen(EVENT));
	wh_sign(wsig, WH_KEY64, "all-1", ts, EVENT);
	snprintf(hs, sizeof hs, "X-Chatwoot-Signature: %s", sig);
	snprintf(ht, sizeof ht, "X-Chatwoot-Timestamp: %s", ts);
	snprintf(ws, sizeof ws, "webhook-signature: %s", wsig);
	snprintf(wt, sizeof wt, "webhook-timestamp: %s", ts);
	ck_assert_int_eq(post("/webhook/tt", hdr, EVENT), 200);
	ck_assert_int_eq(post("/webhook/tt", hdr, EVENT), 200);	/* dup */
	ck_assert_int_eq(post("/webhook/t", hdr, EVENT), 401);
	hdr[2] = "X-Nothing: 1";	/* no webhook-signature */
	ck_assert_int_eq(post("/webhook/tt", hdr, EVENT), 401);
	ck_assert_int_eq(metric("livedesk_events_total"
	    "{event=\"message_created\"}"), 1);
	stop();
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *unit = tcase_create("unit");
	TCase *e2e = tcase_create("e2e");

	tcase_add_test(unit, test_netaddr_parse);
	tcase_add_test(unit, test_netaddr_lists);
	tcase_add_test(unit, test_chatwoot_signature);
	tcase_add_test(unit, test_standard_signature);
	tcase_add_test(unit, test_client_address);
	tcase_add_test(unit, test_check_headers);
	tcase_add_test(unit, test_dedupe);
	tcase_add_test(unit, test_dedupe_many);
	tcase_add_test(unit, test_dedupe_replay);
	tcase_add_test(unit, test_config_checks);
	suite_add_tcase(s, unit);

	tcase_add_test(e2e, test_e2e_token);
	tcase_add_test(e2e, test_e2e_no_token_no_segment);
	tcase_add_test(e2e, test_e2e_chatwoot);
	tcase_add_test(e2e, test_e2e_standard);
	tcase_add_test(e2e, test_e2e_allow_from);
	tcase_add_test(e2e, test_e2e_trusted_proxy);
	tcase_add_test(e2e, test_e2e_dedupe);
	tcase_add_test(e2e, test_e2e_dedupe_window);
	tcase_add_test(e2e, test_e2e_replay_chatwoot);
	tcase_add_test(e2e, test_e2e_replay_standard);
	tcase_add_test(e2e, test_e2e_everything);
	tcase_set_timeout(e2e, 30);
	suite_add_tcase(s, e2e);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(auth_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
