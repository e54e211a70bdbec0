/* The authentication of auth.c end to end, against the real daemon: the
 * token, both signature schemes, allow_from behind trusted proxies, the
 * redelivery set across a reload, replayed signatures. */
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	return tu_metric(&d, name);
}

/* The line is written as the answer goes out: allow a moment. */
static bool
log_has(const char *needle)
{
	return tu_wait_log(&d, needle, 1000);
}

static bool
log_lacks(const char *needle)
{
	return tu_count_in_file(d.log, needle) == 0;
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
	tu_sign_chatwoot(sig, CW_SECRET, ts, EVENT, strlen(EVENT));
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
	tu_sign_chatwoot(sig, CW_SECRET, ts, EVENT, strlen(EVENT));
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
	tu_sign_standard(sig, WH_KEY64, "msg_e2e", ts, EVENT);
	/* The old key's signature first, as during a rotation. */
	tu_sign_standard(sig2, "b2xkLWtleS1vbGQta2V5LW9sZC1rZXktb2xkLWtleSE=",
	    "msg_e2e", ts, EVENT);
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
	tu_sign_chatwoot(sig, CW_SECRET, ts, EVENT, strlen(EVENT));
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
	tu_sign_chatwoot(sig, CW_SECRET, ts, other, strlen(other));
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
	tu_sign_standard(sig, WH_KEY64, "msg_r1", ts, EVENT);
	tu_sign_standard(sig2, "b2xkLWtleS1vbGQta2V5LW9sZC1rZXktb2xkLWtleSE=",
	    "msg_r1", ts, EVENT);
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
	tu_sign_standard(sig, WH_KEY64, "msg_r2", ts, other);
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
	tu_sign_chatwoot(sig, CW_SECRET, ts, EVENT, strlen(EVENT));
	tu_sign_standard(wsig, WH_KEY64, "all-1", ts, EVENT);
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
auth_http_suite(void)
{
	Suite *s = suite_create("auth_http");
	TCase *e2e = tcase_create("e2e");

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
	SRunner *sr = srunner_create(auth_http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
