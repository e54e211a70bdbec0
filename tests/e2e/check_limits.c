/*
 * Check suite for the limits and the catalogue of bad input, against the
 * real daemon: each bad request gets its status, a one-line JSON error, a
 * counter and a log line, and a valid request beside it still gets in.
 * Raw sockets on 127.0.0.1 (and 127.0.0.2/.3 as other clients) drive what
 * libcurl would not send: slow clients, chunked floods, header floods.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define SINK "\n[sink log]\ntype = log\n"
#define EVENT "{\"event\":\"message_created\",\"id\":1}"
#define JSON_CT "Content-Type: application/json"

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

/* POSTs body to the webhook; returns the status, the body in *out. */
static long
post(const char *const *headers, const char *body, size_t len, char **out)
{
	struct tu_response r;
	char url[256];
	long status;

	snprintf(url, sizeof url, "%s/webhook", d.url);
	tu_http(&r, "POST", url, headers, body, len);
	status = r.status;
	if (out != NULL)
		*out = strdup(r.body ? r.body : "");
	tu_response_free(&r);
	return status;
}

/* A valid event still gets in: the daemon is healthy. */
static void
assert_alive(const char *after)
{
	static const char *const h[] = { JSON_CT, NULL };

	ck_assert_msg(post(h, EVENT, strlen(EVENT), NULL) == 200,
	    "a valid POST failed after: %s", after);
}

static long long
metric(const char *name)
{
	return tu_metric(&d, name);
}

static long long
drops(const char *reason)
{
	char name[128];

	snprintf(name, sizeof name,
	    "livedesk_events_dropped_total{reason=\"%s\"}", reason);
	return metric(name);
}

static long long
requests(const char *code)
{
	char name[128];

	snprintf(name, sizeof name, "livedesk_http_requests_total{code=\"%s\"}",
	    code);
	return metric(name);
}

/* Waits up to 2 s for the daemon's log to hold needle n times. */
static bool
log_count_at_least(const char *needle, int n)
{
	int i, found;

	for (i = 0; i < 200; i++) {
		char *text = tu_read_file(d.log, NULL), *p = text;

		for (found = 0; (p = strstr(p, needle)) != NULL; p++)
			found++;
		free(text);
		if (found >= n)
			return true;
		usleep(10000);
	}
	return false;
}

/* ---- raw sockets ---- */

/* A TCP connection to the daemon from src (NULL: 127.0.0.1). */
static int
raw_connect(const char *src)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	if (src != NULL) {
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, src, &a.sin_addr), 1);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	}
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)d.port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

/* Sends all of buf; returns -1 when the daemon has closed. */
static int
raw_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Whether resp (NUL-terminated) holds a whole response: its headers and
 * as many body bytes as its Content-Length says. */
static bool
response_complete(const char *resp)
{
	const char *end = strstr(resp, "\r\n\r\n"), *cl;

	if (end == NULL || (cl = strcasestr(resp, "\r\nContent-Length:")) ==
	    NULL || cl > end)
		return false;
	return strlen(end + 4) >= strtoul(cl + 17, NULL, 10);
}

/* Reads until the daemon closes, cap bytes arrive, ms pass or (whole) a
 * whole response is in; the bytes read are NUL-terminated in buf. */
static size_t
read_until(int fd, char *buf, size_t cap, int ms, bool *closed, bool whole)
{
	long long end = tu_now_ms() + ms;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	*closed = false;
	buf[0] = '\0';
	while (got + 1 < cap && !(whole && response_complete(buf))) {
		long long left = end - tu_now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, buf + got, cap - 1 - got, 0);
		if (n <= 0) {
			*closed = true;
			break;
		}
		got += (size_t)n;
		buf[got] = '\0';
	}
	return got;
}

/*
 * Reads until the daemon closes, cap bytes arrive, or ms pass. Returns
 * the bytes read (NUL-terminated in buf); *closed tells whether the
 * connection ended (EOF or reset).
 */
static size_t
raw_read(int fd, char *buf, size_t cap, int ms, bool *closed)
{
	return read_until(fd, buf, cap, ms, closed, false);
}

/* Reads one response, without waiting for a kept-alive connection to
 * close: until it is whole, the daemon closes, or ms pass. */
static size_t
raw_response(int fd, char *buf, size_t cap, int ms)
{
	bool closed;

	return read_until(fd, buf, cap, ms, &closed, true);
}

static int
status_of(const char *resp)
{
	int st = 0;

	if (sscanf(resp, "HTTP/1.%*d %d", &st) != 1)
		return 0;
	return st;
}

/* The body of a raw response: after the blank line. */
static const char *
body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	return p ? p + 4 : "";
}

static void
assert_json_error(const char *body)
{
	ck_assert_msg(strncmp(body, "{\"ok\":false,\"error\":\"", 21) == 0,
	    "not a JSON error: %s", body);
	ck_assert_msg(strchr(body, '\n') == NULL, "not one line: %s", body);
	ck_assert_msg(body[strlen(body) - 1] == '}', "not JSON: %s", body);
}

/* ---- the catalogue ---- */

struct bad {
	const char	*what;
	const char	*body;		/* NULL: built by the test */
	long		 status;
	const char	*reason;	/* the drop counter, or NULL */
	const char	*ct;		/* NULL: application/json */
};

static const struct bad catalogue[] = {
	{ "malformed JSON", "{\"event\":\"message_created\",}", 400,
	    "invalid_json", NULL },
	{ "truncated JSON", "{\"event\":\"message_created\",\"conversation\""
	    ":{\"id\":", 400, "invalid_json", NULL },
	{ "empty body", "", 400, "invalid_json", NULL },
	{ "a JSON array", "[{\"event\":\"message_created\"}]", 400,
	    "invalid_json", NULL },
	{ "a JSON string", "\"message_created\"", 400, "invalid_json", NULL },
	{ "a JSON number", "42", 400, "invalid_json", NULL },
	{ "invalid UTF-8", "{\"event\":\"message_created\",\"content\":"
	    "\"\xff\xfe\xc3\"}", 400, "invalid_json", NULL },
	/* \u0000, 1e400 and integers beyond 64 bits are valid JSON, and
	 * accepted (check_e2e): their invalid neighbours are refused. */
	{ "a raw control character in a string", "{\"event\":"
	    "\"message_created\",\"content\":\"a\x01" "b\"}", 400,
	    "invalid_json", NULL },
	{ "duplicate keys", "{\"event\":\"message_created\",\"event\":"
	    "\"message_updated\"}", 400, "invalid_json", NULL },
	{ "a number like NaN", "{\"event\":\"message_created\",\"id\":"
	    "NaN}", 400, "invalid_json", NULL },
	{ "an integer with a leading zero", "{\"event\":\"message_created\","
	    "\"id\":0123456789012345678901234567890}", 400, "invalid_json",
	    NULL },
	{ "nesting 100,000 deep", NULL, 400, "invalid_json", NULL },
	{ "nesting past max_depth", NULL, 400, "invalid_json", NULL },
	{ "event not a string", "{\"event\":42}", 422, "no_event", NULL },
	{ "event null", "{\"event\":null}", 422, "no_event", NULL },
	{ "no event", "{\"id\":1}", 422, "no_event", NULL },
	{ "wrong Content-Type", EVENT, 415, "media_type", "text/plain" },
	{ "form Content-Type", EVENT, 415, "media_type",
	    "application/x-www-form-urlencoded" },
};

/* {"event":"x","a":[[[...]]]}, depth levels of arrays. */
static char *
deep(int depth)
{
	size_t n = (size_t)depth;
	char *b = malloc(64 + 2 * n);
	size_t o;

	ck_assert_ptr_nonnull(b);
	o = (size_t)sprintf(b, "{\"event\":\"message_created\",\"a\":");
	memset(b + o, '[', n);
	o += n;
	memset(b + o, ']', n);
	o += n;
	strcpy(b + o, "}");
	return b;
}

START_TEST(test_catalogue)
{
	char ct[128], *body, *resp;
	const char *h[] = { ct, NULL };
	long long before[8];
	size_t i;

	start("[server]\nmax_depth = 32\n" SINK);
	before[0] = drops("invalid_json");
	for (i = 0; i < sizeof catalogue / sizeof catalogue[0]; i++) {
		const struct bad *b = &catalogue[i];
		char *built = NULL;
		long st;

		snprintf(ct, sizeof ct, "Content-Type: %s",
		    b->ct ? b->ct : "application/json");
		if (b->body == NULL)
			built = deep(strstr(b->what, "100,000") ? 100000 : 40);
		body = built ? built : (char *)b->body;
		st = post(h, body, strlen(body), &resp);
		ck_assert_msg(st == b->status, "%s: %ld, want %ld (%s)",
		    b->what, st, b->status, resp);
		assert_json_error(resp);
		free(resp);
		free(built);
		assert_alive(b->what);
	}
	ck_assert_int_eq(drops("invalid_json") - before[0], 13);
	ck_assert_int_eq(drops("no_event"), 3);
	ck_assert_int_eq(drops("media_type"), 2);
	ck_assert_int_eq(requests("400"), 13);
	ck_assert_int_eq(requests("422"), 3);
	ck_assert_int_eq(requests("415"), 2);
	/* One line per refusal, with the client and an escaped reason. */
	ck_assert(log_count_at_least("refused 400 from 127.0.0.1: ", 13));
	ck_assert(log_count_at_least("refused 422 from 127.0.0.1: ", 3));
	ck_assert(log_count_at_least("refused 415 from 127.0.0.1: ", 2));
	ck_assert(log_count_at_least("JSON nests deeper than 32 levels", 1));
	{
		char *text = tu_read_file(d.log, NULL);

		/* jansson quotes the bad bytes; the log shows them escaped. */
		ck_assert_ptr_null(strstr(text, "\xff\xfe"));
		free(text);
	}
	stop();
}
END_TEST

START_TEST(test_accepted_shapes)
{
	static const char *const json[] = { JSON_CT, NULL };
	static const char *const charset[] = {
		"Content-Type: application/json; charset=utf-8", NULL };
	size_t len;
	char *body = tu_fixture("wrong_types.json", &len);

	/* Wrong types in every field are absent fields, not an error. */
	start(NULL);
	ck_assert_int_eq(post(json, body, len, NULL), 200);
	free(body);
	/* No Content-Type at all is taken as JSON. */
	ck_assert_int_eq(post(NULL, EVENT, strlen(EVENT), NULL), 200);
	ck_assert_int_eq(post(charset, EVENT, strlen(EVENT), NULL), 200);
	body = tu_fixture("unknown_event.json", &len);
	ck_assert_int_eq(post(json, body, len, NULL), 200);
	free(body);
	stop();
}
END_TEST

START_TEST(test_routes_and_methods)
{
	struct tu_response r;
	char url[256];

	start(NULL);
	snprintf(url, sizeof url, "%s/webhook", d.url);
	tu_http(&r, "GET", url, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 405);
	assert_json_error(r.body);
	tu_response_free(&r);
	tu_http(&r, "PUT", url, NULL, EVENT, strlen(EVENT));
	ck_assert_int_eq(r.status, 405);
	tu_response_free(&r);
	snprintf(url, sizeof url, "%s/nope", d.url);
	tu_http(&r, "POST", url, NULL, EVENT, strlen(EVENT));
	ck_assert_int_eq(r.status, 404);
	assert_json_error(r.body);
	tu_response_free(&r);
	ck_assert(log_count_at_least("refused 405 from 127.0.0.1", 2));
	ck_assert(log_count_at_least("refused 404 from 127.0.0.1", 1));
	assert_alive("404 and 405");
	stop();
}
END_TEST

/* ---- bodies too large ---- */

START_TEST(test_huge_content_length)
{
	static const char req[] = "POST /webhook HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: 104857600\r\n\r\n";
	char buf[4096];
	long long t0;
	bool closed;
	int fd;

	/* A 100 MB body is refused from its length, before one byte of it
	 * is read: the answer comes without the body being sent. */
	start(NULL);
	fd = raw_connect(NULL);
	t0 = tu_now_ms();
	ck_assert_int_eq(raw_send(fd, req, sizeof req - 1), 0);
	raw_read(fd, buf, sizeof buf, 3000, &closed);
	ck_assert_int_eq(status_of(buf), 413);
	ck_assert_int_lt(tu_now_ms() - t0, 1000);
	assert_json_error(body_of(buf));
	close(fd);
	ck_assert_int_eq(drops("too_large"), 1);
	ck_assert(log_count_at_least("refused 413 from 127.0.0.1: body larger "
	    "than max_body", 1));
	assert_alive("a 100 MB Content-Length");
	stop();
}
END_TEST

/* Sends a chunked POST of total bytes (JSON-ish filler) in chunks. */
static int
send_chunked(int fd, size_t total, size_t chunk, size_t *sent)
{
	static const char head[] = "POST /webhook HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	char *buf = malloc(chunk + 32);
	size_t done = 0, n;
	int hl, rc = 0;

	ck_assert_ptr_nonnull(buf);
	*sent = 0;
	if (raw_send(fd, head, sizeof head - 1) == -1) {
		free(buf);
		return -1;
	}
	while (done < total) {
		n = total - done < chunk ? total - done : chunk;
		hl = sprintf(buf, "%zx\r\n", n);
		memset(buf + hl, ' ', n);
		memcpy(buf + hl + n, "\r\n", 2);
		if ((rc = raw_send(fd, buf, (size_t)hl + n + 2)) == -1)
			break;
		done += n;
		*sent = done;
	}
	if (rc == 0)
		rc = raw_send(fd, "0\r\n\r\n", 5);
	free(buf);
	return rc;
}

START_TEST(test_chunked)
{
	static const char head[] = "POST /webhook HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	char buf[4096];
	size_t sent;
	int fd;

	start("[server]\nmax_body = 64k\n" SINK);
	/* No Content-Length, a chunked body: it is read and accepted. */
	fd = raw_connect(NULL);
	ck_assert_int_eq(raw_send(fd, head, sizeof head - 1), 0);
	{
		static const char chunks[] = "10\r\n{\"event\":\"messag\r\n"
		    "12\r\ne_created\",\"id\":7}\r\n0\r\n\r\n";

		ck_assert_int_eq(raw_send(fd, chunks, sizeof chunks - 1), 0);
	}
	raw_response(fd, buf, sizeof buf, 3000);
	ck_assert_msg(status_of(buf) == 200, "%s", buf);
	close(fd);
	/* Slightly past max_body: drained, then a proper 413. */
	fd = raw_connect(NULL);
	ck_assert_int_eq(send_chunked(fd, 64 * 1024 + 100, 4096, &sent), 0);
	raw_response(fd, buf, sizeof buf, 3000);
	ck_assert_msg(status_of(buf) == 413, "%s", buf);
	assert_json_error(body_of(buf));
	close(fd);
	ck_assert_int_eq(drops("too_large"), 1);
	assert_alive("a chunked body past max_body");
	stop();
}
END_TEST

START_TEST(test_chunked_flood)
{
	size_t sent = 0;
	long long t0, took;
	char buf[256];
	bool closed;
	int fd, rc;

	/* 100 MB without a length: cut off after twice max_body, not read
	 * to the end. What got through is what the kernel buffered. */
	start("[server]\nmax_body = 64k\n" SINK);
	fd = raw_connect(NULL);
	t0 = tu_now_ms();
	rc = send_chunked(fd, 100u << 20, 64 * 1024, &sent);
	took = tu_now_ms() - t0;
	ck_assert_int_eq(rc, -1);
	fprintf(stderr, "chunked flood: closed after %zu bytes sent, %lld ms\n",
	    sent, took);
	ck_assert_uint_lt(sent, 32u << 20);
	ck_assert_int_lt(took, 5000);
	raw_read(fd, buf, sizeof buf, 1000, &closed);
	close(fd);
	ck_assert_int_eq(drops("too_large"), 1);
	ck_assert_int_eq(requests("413"), 1);
	ck_assert(log_count_at_least("refused 413 from 127.0.0.1: body "
	    "without a length went on past twice max_body", 1));
	assert_alive("a 100 MB chunked body");
	stop();
}
END_TEST

/* ---- headers ---- */

START_TEST(test_header_flood)
{
	char *req, buf[4096];
	size_t o, i;
	bool closed;
	int fd;

	start("[server]\nmax_header_size = 16k\n" SINK);
	/* One huge header. */
	req = malloc(64 * 1024);
	ck_assert_ptr_nonnull(req);
	o = (size_t)sprintf(req, "POST /webhook HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + o, 'a', 40000);
	o += 40000;
	o += (size_t)sprintf(req + o, "\r\nContent-Length: 2\r\n\r\n{}");
	fd = raw_connect(NULL);
	(void)raw_send(fd, req, o);
	raw_read(fd, buf, sizeof buf, 3000, &closed);
	ck_assert_msg(status_of(buf) == 431, "%s", buf);
	close(fd);
	assert_alive("one 40 kB header");
	/* Thousands of small ones. */
	o = (size_t)sprintf(req, "POST /webhook HTTP/1.1\r\nHost: x\r\n");
	for (i = 0; i < 3000 && o < 60000; i++)
		o += (size_t)sprintf(req + o, "X-H%zu: v\r\n", i);
	o += (size_t)sprintf(req + o, "Content-Length: 2\r\n\r\n{}");
	fd = raw_connect(NULL);
	(void)raw_send(fd, req, o);
	raw_read(fd, buf, sizeof buf, 3000, &closed);
	ck_assert_msg(status_of(buf) == 431, "%s", buf);
	close(fd);
	free(req);
	assert_alive("3000 headers");
	stop();
}
END_TEST

/* ---- slow clients ---- */

/* Drips req one byte every ms_per_byte from byte `from` on; returns when
 * the daemon closes (the ms it took) or -1 if it never did within 8 s. */
static long long
drip(int fd, const char *req, size_t len, size_t from, int ms_per_byte)
{
	long long t0 = tu_now_ms();
	size_t i;

	ck_assert_int_eq(raw_send(fd, req, from), 0);
	for (i = from; i < len && tu_now_ms() - t0 < 8000; i++) {
		if (raw_send(fd, req + i, 1) == -1)
			return tu_now_ms() - t0;
		usleep((useconds_t)ms_per_byte * 1000);
	}
	/* Keep writing filler: the close shows as a failed send. */
	while (tu_now_ms() - t0 < 8000) {
		if (raw_send(fd, " ", 1) == -1)
			return tu_now_ms() - t0;
		usleep((useconds_t)ms_per_byte * 1000);
	}
	return -1;
}

START_TEST(test_slow_headers)
{
	static const char req[] = "POST /webhook HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nX-Padding: aaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
	    "Content-Length: 2\r\n\r\n{}";
	long long took;
	int fd;

	/* One byte every 300 ms never trips the 1 s idle timeout; the
	 * whole-request deadline of 2 s cuts it. */
	start("[server]\nrequest_timeout = 2s\nconnection_timeout = 1s\n"
	    SINK);
	fd = raw_connect(NULL);
	took = drip(fd, req, sizeof req - 1, 0, 300);
	close(fd);
	fprintf(stderr, "slow headers: cut after %lld ms\n", took);
	ck_assert_int_ge(took, 1500);
	ck_assert_int_le(took, 4500);
	ck_assert(log_count_at_least("refused 408 from 127.0.0.1: no complete "
	    "request within request_timeout", 1));
	ck_assert_int_ge(requests("408"), 1);
	assert_alive("a slow client in its headers");
	stop();
}
END_TEST

START_TEST(test_slow_body)
{
	char req[512];
	long long took;
	size_t hl;
	int fd;

	start("[server]\nrequest_timeout = 2s\nconnection_timeout = 1s\n"
	    SINK);
	hl = (size_t)snprintf(req, sizeof req, "POST /webhook HTTP/1.1\r\n"
	    "Host: x\r\nContent-Type: application/json\r\nContent-Length: "
	    "200\r\n\r\n");
	memset(req + hl, ' ', 200);
	fd = raw_connect(NULL);
	took = drip(fd, req, hl + 200, hl, 300);
	close(fd);
	fprintf(stderr, "slow body: cut after %lld ms\n", took);
	ck_assert_int_ge(took, 1500);
	ck_assert_int_le(took, 4500);
	ck_assert(log_count_at_least("refused 408 from 127.0.0.1", 1));
	assert_alive("a slow client in its body");
	stop();
}
END_TEST

START_TEST(test_keepalive_clock)
{
	static const char req[] = "POST /webhook HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nContent-Length: 34\r\n\r\n"
	    EVENT;
	char buf[2048];
	bool closed;
	int fd, i;

	/* Each request on a kept-alive connection gets its own deadline:
	 * five quick requests over 4 s outlive a 2 s request_timeout. (The
	 * idle timeout counts in whole seconds: 3 s leaves room for the
	 * 0.8 s pauses.) */
	start("[server]\nrequest_timeout = 2s\nconnection_timeout = 3s\n"
	    SINK);
	fd = raw_connect(NULL);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(raw_send(fd, req, sizeof req - 1), 0);
		raw_read(fd, buf, sizeof buf, 300, &closed);
		ck_assert_msg(status_of(buf) == 200, "request %d: %s", i, buf);
		ck_assert(!closed);
		usleep(500 * 1000);
	}
	close(fd);
	stop();
}
END_TEST

/* ---- connections ---- */

/* Opens n connections from src; returns how many the daemon closed at
 * once (the rest stay open in fds). */
static int
open_many(const char *src, int *fds, int n)
{
	char buf[64];
	bool closed;
	int i, refused = 0;

	for (i = 0; i < n; i++)
		fds[i] = raw_connect(src);
	for (i = 0; i < n; i++) {
		raw_read(fds[i], buf, sizeof buf, i == 0 ? 500 : 20, &closed);
		if (closed) {
			close(fds[i]);
			fds[i] = -1;
			refused++;
		}
	}
	return refused;
}

START_TEST(test_per_address_limit)
{
	int fds[12], i, refused;

	start("[server]\nmax_connections_per_ip = 8\n" SINK);
	refused = open_many("127.0.0.2", fds, 12);
	ck_assert_int_eq(refused, 4);
	ck_assert(log_count_at_least("refused 429 from 127.0.0.2: more than 8 "
	    "connections from this address", 4));
	ck_assert_int_eq(requests("429"), 4);
	/* Another client is not affected. */
	assert_alive("12 connections from 127.0.0.2");
	for (i = 0; i < 12; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	stop();
}
END_TEST

START_TEST(test_proxy_not_limited)
{
	int fds[12], i;

	/* A trusted proxy carries many clients: no per-address limit. */
	start("[server]\nmax_connections_per_ip = 4\n"
	    "trusted_proxies = 127.0.0.2\n" SINK);
	ck_assert_int_eq(open_many("127.0.0.2", fds, 12), 0);
	for (i = 0; i < 12; i++)
		close(fds[i]);
	stop();
}
END_TEST

START_TEST(test_total_limit)
{
	static const char req[] = "POST /webhook HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nContent-Length: 34\r\n\r\n"
	    EVENT;
	char buf[2048];
	int fds[10], i, fd;
	bool closed;

	/* At the limit libmicrohttpd stops accepting: a new connection
	 * waits in the kernel's backlog until a slot frees up. */
	start("[server]\nmax_connections = 10\nmax_connections_per_ip = 0\n"
	    SINK);
	ck_assert_int_eq(open_many("127.0.0.3", fds, 10), 0);
	fd = raw_connect(NULL);
	ck_assert_int_eq(raw_send(fd, req, sizeof req - 1), 0);
	raw_read(fd, buf, sizeof buf, 1000, &closed);
	ck_assert_msg(buf[0] == '\0' && !closed, "answered past the limit: %s",
	    buf);
	for (i = 0; i < 10; i++)
		close(fds[i]);
	raw_response(fd, buf, sizeof buf, 3000);
	ck_assert_msg(status_of(buf) == 200, "not served once room: %s", buf);
	close(fd);
	assert_alive("10 connections with max_connections 10");
	stop();
}
END_TEST

/* ---- flood ---- */

static long
vm_rss_kb(pid_t pid)
{
	char path[64], *text, *p;
	long kb = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	text = tu_read_file(path, NULL);
	if ((p = strstr(text, "VmRSS:")) != NULL)
		kb = strtol(p + 6, NULL, 10);
	free(text);
	return kb;
}

START_TEST(test_flood_memory)
{
	static const char *const json[] = { JSON_CT, NULL };
	static const char *const big[] = { JSON_CT,
	    "Content-Length: 99999999", NULL };
	const char *bodies[] = { EVENT, "{\"event\":", "[1,2,3]",
	    "{\"event\":\"message_created\",\"id\":1e400}", "{\"id\":1}" };
	long before, after, ok = 0, bad = 0, st;
	bool asan = strstr(tu_build_dir(), "asan") != NULL;
	long long t0;
	int i;

	/* Requests are answered at once: the flood is bounded by count and
	 * by time. AddressSanitizer keeps freed memory in a quarantine of
	 * 256 MB by default, which would be all this measures: it gets a
	 * small one for the daemon. */
	if (asan) {
		const char *old = getenv("ASAN_OPTIONS");
		char opts[512];

		snprintf(opts, sizeof opts, "%s%squarantine_size_mb=8",
		    old ? old : "", old && *old ? ":" : "");
		setenv("ASAN_OPTIONS", opts, 1);
	}
	start("[server]\ndedupe_window = 10m\n" SINK);
	for (i = 0; i < 200; i++)
		assert_alive("warm-up");
	before = vm_rss_kb(d.pid);
	t0 = tu_now_ms();
	for (i = 0; i < 2000 && tu_now_ms() - t0 < 20000; i++) {
		const char *b = bodies[i % 5];
		char hdr[64];
		const char *h[] = { JSON_CT, hdr, NULL };

		/* Every delivery id new: the redelivery set grows too. */
		snprintf(hdr, sizeof hdr, "X-Chatwoot-Delivery: flood-%d", i);
		if (i % 50 == 49)
			st = post(big, EVENT, strlen(EVENT), NULL);
		else
			st = post(i % 5 == 0 ? h : json, b, strlen(b), NULL);
		if (st == 200)
			ok++;
		else if (st >= 400 && st < 500)
			bad++;
	}
	after = vm_rss_kb(d.pid);
	fprintf(stderr, "flood: %d requests in %lld ms, %ld accepted, %ld "
	    "refused; VmRSS %ld kB before, %ld kB after\n", i,
	    tu_now_ms() - t0, ok, bad, before, after);
	ck_assert_int_eq(i, 2000);
	ck_assert_int_eq(ok + bad, 2000);
	ck_assert_int_ge(before, 0);
	/* Bounded: what a few thousand small events cost, not what was
	 * sent (plus the quarantine under the sanitizers). Under valgrind
	 * the RSS is mostly valgrind's own: its leak check speaks instead. */
	if (getenv("LD_VALGRIND_DAEMON") == NULL)
		ck_assert_int_lt(after - before, asan ? 32 * 1024 :
		    16 * 1024);
	assert_alive("the flood");
	stop();
}
END_TEST

static Suite *
limits_suite(void)
{
	Suite *s = suite_create("limits");
	TCase *input = tcase_create("input");
	TCase *size = tcase_create("size");
	TCase *slow = tcase_create("slow");
	TCase *conns = tcase_create("connections");

	tcase_add_test(input, test_catalogue);
	tcase_add_test(input, test_accepted_shapes);
	tcase_add_test(input, test_routes_and_methods);
	tcase_set_timeout(input, 30);
	suite_add_tcase(s, input);

	tcase_add_test(size, test_huge_content_length);
	tcase_add_test(size, test_chunked);
	tcase_add_test(size, test_chunked_flood);
	tcase_add_test(size, test_header_flood);
	tcase_set_timeout(size, 30);
	suite_add_tcase(s, size);

	tcase_add_test(slow, test_slow_headers);
	tcase_add_test(slow, test_slow_body);
	tcase_add_test(slow, test_keepalive_clock);
	tcase_set_timeout(slow, 30);
	suite_add_tcase(s, slow);

	tcase_add_test(conns, test_per_address_limit);
	tcase_add_test(conns, test_proxy_not_limited);
	tcase_add_test(conns, test_total_limit);
	tcase_add_test(conns, test_flood_memory);
	tcase_set_timeout(conns, 60);
	suite_add_tcase(s, conns);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(limits_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
