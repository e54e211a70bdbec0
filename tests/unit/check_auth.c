/* Check suite for auth.c, in-process: the two signature schemes, the
 * client address behind trusted proxies, the redelivery set, the
 * configuration checks (e2e/check_auth_http.c: the same end to end). */
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

static void
now_str(char buf[32], long delta)
{
	snprintf(buf, 32, "%lld", (long long)time(NULL) + delta);
}

/* ---- addresses ---- */

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
	tu_sign_chatwoot(sig, CW_SECRET, ts, body, len);
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
	tu_sign_chatwoot(sig, CW_SECRET, ts, body, len);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, "1", now, 0,
	    body, len, &why, NULL), -1);

	/* Stale both ways, unless tolerance is 0 (unchecked). */
	tu_sign_chatwoot(sig, CW_SECRET, old, body, len);
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, old, now, 300000,
	    body, len, &why, NULL), -1);
	ck_assert_str_eq(why, "X-Chatwoot-Timestamp outside signature_tolerance");
	ck_assert_int_eq(auth_verify_chatwoot(CW_SECRET, sig, old, now, 0,
	    body, len, &why, NULL), 0);
	tu_sign_chatwoot(sig, CW_SECRET, future, body, len);
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
	tu_sign_standard(sig, WH_KEY64, "msg_1", ts, body);
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
	tu_sign_standard(sig, WH_KEY64, "msg_1", old, body);
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

static Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *unit = tcase_create("unit");

	tcase_add_test(unit, test_chatwoot_signature);
	tcase_add_test(unit, test_standard_signature);
	tcase_add_test(unit, test_client_address);
	tcase_add_test(unit, test_check_headers);
	tcase_add_test(unit, test_dedupe);
	tcase_add_test(unit, test_dedupe_many);
	tcase_add_test(unit, test_dedupe_replay);
	tcase_add_test(unit, test_config_checks);
	suite_add_tcase(s, unit);
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
