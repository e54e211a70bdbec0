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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define SINK "\n[sink log]\ntype = log\n"
#define EVENT "{\"event\":\"message_created\",\"id\":1}"
#define JSON_CT "Content-Type: application/json"
/* A valid POST of EVENT, as raw bytes. */
#define RAW_POST "POST /webhook HTTP/1.1\r\nHost: x\r\n" \
    "Content-Type: application/json\r\nContent-Length: 34\r\n\r\n" EVENT

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

/*
 * Reads until the daemon closes, cap bytes arrive, or ms pass. Returns
 * the bytes read (NUL-terminated in buf); *closed tells whether the
 * connection ended (EOF or reset).
 */
static size_t
raw_read(int fd, char *buf, size_t cap, int ms, bool *closed)
{
	long long end = tu_now_ms() + ms;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	*closed = false;
	while (got + 1 < cap) {
		long long left = end - tu_now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, buf + got, cap - 1 - got, 0);
		if (n <= 0) {
			*closed = true;
			break;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

/* Reads one response: until its headers and its Content-Length of body
 * have come (on a kept-alive connection nothing else ends it), the
 * daemon closes, or ms pass. */
static size_t
raw_response(int fd, char *buf, size_t cap, int ms, bool *closed)
{
	long long end = tu_now_ms() + ms, left;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	const char *eoh, *cl;
	size_t got = 0, want;
	ssize_t n;

	*closed = false;
	buf[0] = '\0';
	while (got + 1 < cap) {
		if ((eoh = strstr(buf, "\r\n\r\n")) != NULL) {
			cl = strcasestr(buf, "Content-Length:");
			want = (size_t)(eoh + 4 - buf) + (cl != NULL &&
			    cl < eoh ? strtoul(cl + 15, NULL, 10) : 0);
			if (got >= want)
				break;
		}
		left = end - tu_now_ms();
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
	bool closed;
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
	raw_read(fd, buf, sizeof buf, 3000, &closed);
	ck_assert_msg(status_of(buf) == 200, "%s", buf);
	close(fd);
	/* Slightly past max_body: drained, then a proper 413. */
	fd = raw_connect(NULL);
	ck_assert_int_eq(send_chunked(fd, 64 * 1024 + 100, 4096, &sent), 0);
	raw_read(fd, buf, sizeof buf, 3000, &closed);
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
	    "larger than max_body; answered before the end of the body", 1));
	assert_alive("a 100 MB chunked body");
	stop();
}
END_TEST

START_TEST(test_chunked_over_answered)
{
	static const char head[] = "POST /webhook HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	struct pollfd p;
	char chunk[16 * 1024 + 16], buf[4096];
	size_t sent = 0;
	int fd, hl;
	bool closed;

	/* A chunked body that goes on past max_body, as a flood would:
	 * the client, reading as it sends, gets its 413 as soon as the
	 * limit is passed, then an end of file, not a reset. */
	start("[server]\nmax_body = 64k\n" SINK);
	hl = sprintf(chunk, "%x\r\n", 16 * 1024);
	memset(chunk + hl, ' ', 16 * 1024);
	memcpy(chunk + hl + 16 * 1024, "\r\n", 2);
	fd = raw_connect(NULL);
	ck_assert_int_eq(raw_send(fd, head, sizeof head - 1), 0);
	p.fd = fd;
	p.events = POLLIN;
	while (sent < (100u << 20)) {
		if (raw_send(fd, chunk, (size_t)hl + 16 * 1024 + 2) == -1)
			break;
		sent += 16 * 1024;
		if (poll(&p, 1, 0) == 1)
			break;
	}
	raw_read(fd, buf, sizeof buf, 3000, &closed);
	fprintf(stderr, "chunked past max_body: answered after %zu bytes\n",
	    sent);
	ck_assert_msg(status_of(buf) == 413, "no 413 after %zu bytes: '%s'",
	    sent, buf);
	assert_json_error(body_of(buf));
	ck_assert(closed);
	close(fd);
	ck_assert_uint_lt(sent, 32u << 20);
	ck_assert_int_eq(drops("too_large"), 1);
	ck_assert_int_eq(requests("413"), 1);
	ck_assert(log_count_at_least("refused 413 from 127.0.0.1: body larger "
	    "than max_body; answered before the end of the body", 1));
	assert_alive("a chunked body past max_body");
	stop();
}
END_TEST

/* ---- framing and stray bytes ---- */

/* Adds up the counts in "refused N more requests" lines. */
static long long
unlogged_in(const char *text)
{
	const char *p = text;
	long long n = 0, k;

	while ((p = strstr(p, "refused ")) != NULL) {
		p += strlen("refused ");
		if (sscanf(p, "%lld more requests", &k) == 1 &&
		    strstr(p, " more requests") == p + strcspn(p, " "))
			n += k;
	}
	return n;
}

static int
count_in(const char *text, const char *needle)
{
	const char *p = text;
	int n = 0;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p++;
	}
	return n;
}


/* Sends len bytes of req on a new connection; reads until the daemon
 * closes or 3 s pass. */
static void
exchange(const char *req, size_t len, char *buf, size_t cap, bool *closed)
{
	int fd = raw_connect(NULL);

	ck_assert_int_eq(raw_send(fd, req, len), 0);
	raw_read(fd, buf, cap, 3000, closed);
	close(fd);
}

/* How many responses a raw read holds. */
static int
responses_in(const char *buf)
{
	const char *p = buf;
	int n = 0;

	while ((p = strstr(p, "HTTP/1.1 ")) != NULL) {
		n++;
		p++;
	}
	return n;
}

#define HEAD "POST /webhook HTTP/1.1\r\nHost: x\r\n" \
    "Content-Type: application/json\r\n"
/* The events dispatched so far. */
#define EVENTS_TAKEN "livedesk_events_total{event=\"message_created\"}"

START_TEST(test_framing)
{
	static const struct {
		const char	*what;
		const char	*req;
		int		 status;
	} cases[] = {
		{ "two Content-Lengths: the rest of the body would be a "
		    "second request", HEAD "Content-Length: 10\r\n"
		    "Content-Length: 200\r\n\r\n" "xxxxxxxxxx" RAW_POST, 400 },
		{ "the same Content-Length twice", HEAD "Content-Length: 34\r\n"
		    "Content-Length: 34\r\n\r\n" EVENT, 400 },
		{ "Content-Length and Transfer-Encoding", HEAD
		    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
		    "22\r\n" EVENT "\r\n0\r\n\r\n", 400 },
		{ "two Transfer-Encodings", HEAD
		    "Transfer-Encoding: chunked\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n22\r\n" EVENT
		    "\r\n0\r\n\r\n", 400 },
		{ "Transfer-Encoding: gzip, chunked", HEAD
		    "Transfer-Encoding: gzip, chunked\r\n\r\n22\r\n" EVENT
		    "\r\n0\r\n\r\n", 501 },
		{ "Transfer-Encoding: identity", HEAD
		    "Transfer-Encoding: identity\r\n\r\n" EVENT, 501 },
		{ "two Content-Types", HEAD "Content-Type: text/plain\r\n"
		    "Content-Length: 34\r\n\r\n" EVENT, 400 },
	};
	char buf[4096];
	size_t i;
	bool closed;

	/* Framing the proxy in front might read otherwise is refused at
	 * once, the connection closed, and nothing dispatched. */
	start(SINK);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		exchange(cases[i].req, strlen(cases[i].req), buf, sizeof buf,
		    &closed);
		ck_assert_msg(status_of(buf) == cases[i].status, "%s: '%s'",
		    cases[i].what, buf);
		ck_assert_msg(responses_in(buf) == 1 && closed, "%s: '%s'",
		    cases[i].what, buf);
		assert_json_error(body_of(buf));
	}
	ck_assert_int_eq(metric(EVENTS_TAKEN), 0);
	ck_assert_int_eq(requests("400"), 5);
	ck_assert_int_eq(requests("501"), 2);
	ck_assert_int_eq(drops("bad_request"), 5);
	ck_assert_int_eq(drops("unsupported"), 2);
	ck_assert(log_count_at_least("refused 400 from 127.0.0.1: more than "
	    "one Content-Length", 2));
	ck_assert(log_count_at_least("refused 501 from 127.0.0.1: "
	    "Transfer-Encoding other than chunked", 2));
	assert_alive("framing refused");
	stop();
}
END_TEST

START_TEST(test_stray_bytes)
{
#define BAD(what, bytes)	{ what, bytes, sizeof bytes - 1 }
	static const struct {
		const char	*what;
		const char	*req;
		size_t		 len;
	} bad[] = {
		BAD("%00 in the path", "POST /webhook%00x HTTP/1.1\r\nHost: x"
		    "\r\nContent-Length: 34\r\n\r\n" EVENT),
		BAD("%00 ending the path", "POST /webhook%00 HTTP/1.1\r\nHost: "
		    "x\r\nContent-Length: 34\r\n\r\n" EVENT),
		BAD("%00 in the query", "POST /webhook?a=%00 HTTP/1.1\r\nHost: "
		    "x\r\nContent-Length: 34\r\n\r\n" EVENT),
		BAD("a NUL in the path", "POST /webhook\0x HTTP/1.1\r\nHost: x"
		    "\r\nContent-Length: 34\r\n\r\n" EVENT),
		BAD("a NUL in a value", HEAD "X-A: a\0b\r\n"
		    "Content-Length: 34\r\n\r\n" EVENT),
		BAD("a NUL ending the last value", HEAD "Content-Length: 34\r\n"
		    "X-A: ab\0\r\n\r\n" EVENT),
		BAD("a NUL ending a value, bare LF", "POST /webhook HTTP/1.1\n"
		    "Host: x\nX-A: ab\0\nContent-Length: 34\n\n" EVENT),
		BAD("a line starting with NUL", HEAD "\0X: y\r\n"
		    "Content-Length: 34\r\n\r\n" EVENT),
		BAD("a bare CR in a value", HEAD "X-A: a\rb\r\n"
		    "Content-Length: 34\r\n\r\n" EVENT),
		BAD("a bare CR in a name", HEAD "X-\rA: b\r\n"
		    "Content-Length: 34\r\n\r\n" EVENT),
		BAD("a folded header", HEAD "X-A: a\r\n b\r\n"
		    "Content-Length: 34\r\n\r\n" EVENT),
		/* Another header to us, the length to a proxy: the body
		 * would be a second request. */
		BAD("a blank before the colon", HEAD "Content-Length : 34"
		    "\r\n\r\n" RAW_POST),
		BAD("a tab before the colon", HEAD "Content-Length\t: 34"
		    "\r\n\r\n" RAW_POST),
	};
	static const struct {
		const char	*what;
		const char	*req;
		int		 answers;
	} good[] = {
		{ "bare LF line ends", "POST /webhook HTTP/1.1\nHost: x\n"
		    "Content-Type: application/json\nContent-Length: 34\n\n"
		    EVENT, 1 },
		{ "a query with escapes", "POST /webhook?a=%41b&c HTTP/1.1\r\n"
		    "Host: x\r\nContent-Length: 34\r\n\r\n" EVENT, 1 },
		{ "empty and blank values", HEAD "X-E:\r\nX-F:   \r\n"
		    "X-G: \t v \r\nContent-Length: 34\r\n\r\n" EVENT, 1 },
		{ "no header but the length", "POST /webhook HTTP/1.1\r\n"
		    "Content-Length: 34\r\n\r\n" EVENT, 1 },
		{ "three pipelined", RAW_POST RAW_POST RAW_POST, 3 },
	};
	char buf[8192];
	size_t i;
	bool closed;

	/* NUL and CR bytes would cut a path or a value short, or be read
	 * otherwise by the proxy: refused, never dispatched. */
	start(SINK);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		exchange(bad[i].req, bad[i].len, buf, sizeof buf, &closed);
		ck_assert_msg(status_of(buf) == 400, "%s: '%s'", bad[i].what,
		    buf);
		ck_assert_msg(responses_in(buf) == 1, "%s: '%s'", bad[i].what,
		    buf);
	}
	ck_assert_int_eq(metric(EVENTS_TAKEN), 0);
	ck_assert(log_count_at_least("refused 400 from 127.0.0.1: NUL byte "
	    "in the request target", 4));
	ck_assert(log_count_at_least("refused 400 from 127.0.0.1: CR or NUL "
	    "byte in a header", 8));
	/* What is sound still gets in. */
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		int fd = raw_connect(NULL), n = 0;
		long long end = tu_now_ms() + 3000;
		size_t got = 0;

		ck_assert_int_eq(raw_send(fd, good[i].req, strlen(good[i].req)),
		    0);
		buf[0] = '\0';
		while (n < good[i].answers && tu_now_ms() < end) {
			got += raw_read(fd, buf + got, sizeof buf - got, 100,
			    &closed);
			n = count_in(buf, "\"ok\":true");
		}
		close(fd);
		ck_assert_msg(n == good[i].answers && status_of(buf) == 200,
		    "%s: '%s'", good[i].what, buf);
	}
	ck_assert_int_eq(metric(EVENTS_TAKEN), 7);
	stop();
#undef BAD
}
END_TEST

/*
 * What libmicrohttpd answers itself, before the daemon's handler sees the
 * request: a target or headers past max_header_size, an HTTP version it
 * does not speak, a Content-Length it cannot hold. Each is counted by its
 * status and reason and logged as a refusal, like the daemon's own.
 */
START_TEST(test_library_refusals_counted)
{
	static const struct {
		const char	*what;
		int		 status;
		const char	*logged;
	} cases[] = {
		{ "target", 414, "refused 414: answered by libmicrohttpd itself "
		    "(request target too long)" },
		{ "header", 431, "refused 431: answered by libmicrohttpd itself "
		    "(headers too large)" },
		{ "version", 505, "refused 505: answered by libmicrohttpd itself "
		    "(HTTP version not supported)" },
		{ "length", 413, "refused 413: answered by libmicrohttpd itself "
		    "(Content-Length too large)" },
	};
	char buf[8192], name[96], *req = NULL;
	size_t i;
	int n;
	bool closed;

	start(SINK);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *pad = malloc(40001);

		ck_assert_ptr_nonnull(pad);
		memset(pad, 'a', 40000);
		pad[40000] = '\0';
		switch (cases[i].status) {
		case 414:
			n = asprintf(&req, "POST /webhook?%s HTTP/1.1\r\n"
			    "Host: x\r\nContent-Length: 34\r\n\r\n" EVENT, pad);
			break;
		case 431:
			n = asprintf(&req, HEAD "X-Pad: %s\r\n"
			    "Content-Length: 34\r\n\r\n" EVENT, pad);
			break;
		case 505:
			n = asprintf(&req, "POST /webhook HTTP/3.7\r\n"
			    "Host: x\r\nContent-Length: 34\r\n\r\n" EVENT);
			break;
		default:
			n = asprintf(&req, HEAD "Content-Length: "
			    "99999999999999999999999\r\n\r\n" EVENT);
			break;
		}
		free(pad);
		ck_assert_int_gt(n, 0);
		exchange(req, (size_t)n, buf, sizeof buf, &closed);
		free(req);
		req = NULL;
		ck_assert_msg(status_of(buf) == cases[i].status, "%s: '%.80s'",
		    cases[i].what, buf);
		snprintf(name, sizeof name,
		    "livedesk_http_requests_total{code=\"%d\"}",
		    cases[i].status);
		ck_assert_msg(metric(name) == 1, "%s: %s is %lld",
		    cases[i].what, name, metric(name));
		ck_assert_msg(log_count_at_least(cases[i].logged, 1),
		    "%s: not logged", cases[i].what);
	}
	ck_assert_int_eq(drops("too_large"), 3);
	ck_assert_int_eq(drops("bad_request"), 1);
	ck_assert_int_eq(metric(EVENTS_TAKEN), 0);
	stop();
}
END_TEST

/* ---- body memory ---- */

/* A 60,000-byte event: a small object padded with blanks. */
static char *
padded_event(size_t n)
{
	char *b = malloc(n + 1);

	ck_assert_ptr_nonnull(b);
	memset(b, ' ', n);
	memcpy(b, EVENT, strlen(EVENT) - 1);
	b[n - 1] = '}';
	b[n] = '\0';
	return b;
}

START_TEST(test_body_total)
{
	char head[256], buf[2048], *body = padded_event(60000);
	int fds[4], i, refused = -1, hl;
	long long end;
	bool closed;

	/* Bodies being received take 200 kB at most in all: three of
	 * 60,000 bytes, half sent, fit; a fourth is answered 503 at once,
	 * before it takes memory; a small event still gets in. */
	start("[server]\nmax_body = 64k\nmax_body_total = 200k\n" SINK);
	hl = snprintf(head, sizeof head, HEAD "Content-Length: 60000\r\n\r\n");
	for (i = 0; i < 4; i++) {
		fds[i] = raw_connect(NULL);
		ck_assert_int_eq(raw_send(fds[i], head, (size_t)hl), 0);
		ck_assert_int_eq(raw_send(fds[i], body, 30000), 0);
	}
	end = tu_now_ms() + 5000;
	while (refused == -1 && tu_now_ms() < end) {
		for (i = 0; i < 4 && refused == -1; i++) {
			raw_response(fds[i], buf, sizeof buf, 20, &closed);
			if (buf[0] == '\0')
				continue;
			ck_assert_msg(status_of(buf) == 503, "%d: %s", i, buf);
			ck_assert_ptr_nonnull(strstr(buf, "max_body_total"));
			ck_assert_ptr_nonnull(strstr(buf, "Retry-After: 5"));
			refused = i;
		}
	}
	ck_assert_int_ge(refused, 0);
	/* Only that one. */
	for (i = 0; i < 4; i++) {
		if (i == refused)
			continue;
		raw_response(fds[i], buf, sizeof buf, 100, &closed);
		ck_assert_msg(buf[0] == '\0', "%d: %s", i, buf);
	}
	ck_assert(log_count_at_least("refused 503 from 127.0.0.1: too many "
	    "bodies being received (max_body_total)", 1));
	ck_assert_int_eq(drops("body_memory"), 1);
	assert_alive("200 kB of bodies in progress");
	/* The three finish; their memory is given back. */
	for (i = 0; i < 4; i++) {
		if (i == refused)
			continue;
		ck_assert_int_eq(raw_send(fds[i], body + 30000, 30000), 0);
		raw_response(fds[i], buf, sizeof buf, 3000, &closed);
		ck_assert_msg(status_of(buf) == 200, "%d: %s", i, buf);
	}
	for (i = 0; i < 4; i++)
		close(fds[i]);
	/* Bodies of that size get in again, one after another. */
	for (i = 0; i < 4; i++) {
		fds[i] = raw_connect(NULL);
		ck_assert_int_eq(raw_send(fds[i], head, (size_t)hl), 0);
		ck_assert_int_eq(raw_send(fds[i], body, 60000), 0);
		raw_response(fds[i], buf, sizeof buf, 3000, &closed);
		ck_assert_msg(status_of(buf) == 200, "again %d: %s", i, buf);
		close(fds[i]);
	}
	free(body);
	stop();
}
END_TEST

START_TEST(test_max_body_total_check)
{
	char *conf, *cmd, *out, *text;

	/* A total below max_body could never take one large body. */
	start(SINK);
	conf = NULL;
	ck_assert_int_ge(asprintf(&conf, "%s/small.conf", d.dir), 0);
	tu_write_file(conf, "[server]\nmax_body = 1M\nmax_body_total = 512k\n"
	    SINK, strlen("[server]\nmax_body = 1M\nmax_body_total = 512k\n"
	    SINK));
	ck_assert_int_ge(asprintf(&out, "%s/check.out", d.dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s "
	    "--check-config >%s 2>&1", tu_build_dir(), conf, out), 0);
	ck_assert_int_ne(system(cmd), 0);
	text = tu_read_file(out, NULL);
	ck_assert_msg(strstr(text, "max_body_total: 524288 is less than "
	    "max_body") != NULL, "%s", text);
	free(text);
	free(cmd);
	free(out);
	free(conf);
	stop();
}
END_TEST

START_TEST(test_body_memory_returned)
{
	enum { CONNS = 40, ROUNDS = 3 };
	size_t part = 900 * 1024;
	char head[256], *body;
	long before, peak, now;
	long long end;
	int fds[CONNS], i, round, hl;
	bool asan = strstr(tu_build_dir(), "asan") != NULL;
	/* What small buffers may keep (and, under the sanitizers, their
	 * 8 MB quarantine): far below the 36 MB the bodies take. */
	long slack = (asan ? 16 : 8) * 1024;

	/* Under valgrind the RSS is valgrind's. */
	if (getenv("LD_VALGRIND_DAEMON") != NULL)
		return;
	if (asan) {
		const char *old = getenv("ASAN_OPTIONS");
		char opts[512];

		snprintf(opts, sizeof opts, "%s%squarantine_size_mb=8",
		    old ? old : "", old && *old ? ":" : "");
		setenv("ASAN_OPTIONS", opts, 1);
	}
	/* Forty half-sent bodies of 1 MiB, three times over: the memory
	 * they took goes back to the system each time they close. */
	start("[server]\nmax_body = 1M\n" SINK);
	body = malloc(part);
	ck_assert_ptr_nonnull(body);
	memset(body, ' ', part);
	hl = snprintf(head, sizeof head, HEAD
	    "Content-Length: 1048576\r\n\r\n");
	before = vm_rss_kb(d.pid);
	for (round = 0; round < ROUNDS; round++) {
		for (i = 0; i < CONNS; i++) {
			fds[i] = raw_connect(NULL);
			ck_assert_int_eq(raw_send(fds[i], head, (size_t)hl), 0);
			ck_assert_int_eq(raw_send(fds[i], body, part), 0);
		}
		/* Held: the daemon has read them. */
		end = tu_now_ms() + 10000;
		while ((peak = vm_rss_kb(d.pid)) < before + 30 * 1024 &&
		    tu_now_ms() < end)
			usleep(10000);
		ck_assert_msg(peak >= before + 30 * 1024, "bodies not held: "
		    "%ld kB, %ld kB before", peak, before);
		for (i = 0; i < CONNS; i++)
			close(fds[i]);
		end = tu_now_ms() + 5000;
		while ((now = vm_rss_kb(d.pid)) > before + slack &&
		    tu_now_ms() < end)
			usleep(10000);
		fprintf(stderr, "round %d: VmRSS %ld kB before, %ld kB held, "
		    "%ld kB after\n", round, before, peak, now);
		ck_assert_msg(now <= before + slack, "round %d: %ld kB "
		    "still held (%ld kB before)", round, now - before, before);
	}
	free(body);
	assert_alive("bodies of 1 MiB");
	stop();
}
END_TEST

/* ---- refusals in the log ---- */

START_TEST(test_refusals_logged)
{
	static const char *const h[] = { JSON_CT, NULL };
	bool valgrind = getenv("LD_VALGRIND_DAEMON") != NULL;
	long long end, unlogged = 0;
	int i, full = 0, logged = 0;
	char *text;

	/* A queue of one, held by a script that sleeps: every other event
	 * is answered 503, and each of them is in the log, one line each
	 * up to a few a second, the rest as a count. */
	start("[server]\nqueue_size = 1\nshutdown_grace = 1s\n"
	    "[sink slow]\ntype = exec\ncommand = /bin/sleep 5\n"
	    "events = *\nmessage_type = any\n");
	ck_assert_int_eq(post(h, EVENT, strlen(EVENT), NULL), 200);
	for (i = 0; i < 200; i++)
		if (post(h, EVENT, strlen(EVENT), NULL) == 503)
			full++;
	ck_assert_int_gt(full, 100);
	end = tu_now_ms() + 5000;
	do {
		text = tu_read_file(d.log, NULL);
		logged = count_in(text, "refused 503 from 127.0.0.1: queue "
		    "full");
		unlogged = unlogged_in(text);
		free(text);
		if (logged + unlogged >= full)
			break;
		usleep(20000);
	} while (tu_now_ms() < end);
	fprintf(stderr, "%d answered 503: %d logged, %lld counted\n", full,
	    logged, unlogged);
	ck_assert_int_eq(logged + unlogged, full);
	ck_assert_int_gt(logged, 0);
	/* Not 200 lines in a second. */
	if (!valgrind)
		ck_assert_int_gt(unlogged, 0);
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
	char buf[2048];
	int fds[12], i, ok = 0, over = 0;
	bool closed;

	/* Past the limit a connection is answered 429, not cut off: its
	 * client learns why (and the log, the metrics and the man page say
	 * what it got). */
	start("[server]\nmax_connections_per_ip = 8\n" SINK);
	for (i = 0; i < 12; i++)
		fds[i] = raw_connect("127.0.0.2");
	for (i = 0; i < 12; i++) {
		ck_assert_int_eq(raw_send(fds[i], RAW_POST,
		    sizeof RAW_POST - 1), 0);
		raw_response(fds[i], buf, sizeof buf, 3000, &closed);
		if (status_of(buf) == 200) {
			ok++;
			continue;
		}
		ck_assert_msg(status_of(buf) == 429, "connection %d: %s", i,
		    buf);
		assert_json_error(body_of(buf));
		ck_assert_ptr_nonnull(strstr(buf, "Connection: close"));
		raw_read(fds[i], buf, sizeof buf, 3000, &closed);
		ck_assert(closed);
		over++;
	}
	ck_assert_int_eq(ok, 8);
	ck_assert_int_eq(over, 4);
	ck_assert(log_count_at_least("refused 429 from 127.0.0.2: too many "
	    "connections from this address", 4));
	ck_assert_int_eq(requests("429"), 4);
	ck_assert_int_eq(drops("too_many_connections"), 4);
	/* Another client is not affected. */
	assert_alive("12 connections from 127.0.0.2");
	for (i = 0; i < 12; i++)
		close(fds[i]);
	stop();
}
END_TEST

/* One client thread of test_closed_not_counted: n requests, each on a
 * new connection closed after its answer. No Check asserts off the main
 * thread: it counts. */
struct client_run {
	int	 port;
	int	 n;
	int	 ok;
	int	 failed;
};

static void *
client_run(void *arg)
{
	struct client_run *cr = arg;
	struct sockaddr_in a;
	char buf[1024];
	int i, fd, st;
	size_t got;
	ssize_t n;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)cr->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < cr->n; i++) {
		st = 0;
		got = 0;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a,
		    sizeof a) == 0 && send(fd, RAW_POST, sizeof RAW_POST - 1,
		    MSG_NOSIGNAL) == (ssize_t)(sizeof RAW_POST - 1)) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			while (got + 1 < sizeof buf &&
			    poll(&p, 1, 10000) == 1 && (n = recv(fd,
			    buf + got, sizeof buf - 1 - got, 0)) > 0) {
				got += (size_t)n;
				buf[got] = '\0';
				if (strstr(buf, "\r\n\r\n") != NULL)
					break;
			}
			buf[got] = '\0';
			st = status_of(buf);
		}
		if (fd >= 0)
			close(fd);
		if (st == 200)
			cr->ok++;
		else
			cr->failed++;
	}
	return NULL;
}

START_TEST(test_closed_not_counted)
{
	enum { CLIENTS = 50, EACH = 20 };
	struct client_run runs[CLIENTS];
	pthread_t t[CLIENTS];
	int i, ok = 0, failed = 0;

	/* 50 clients on one address, under its limit of 64, each making
	 * requests one after the other: connections their clients have
	 * closed, which the daemon has not got round to yet, do not count
	 * against the address, and every request is answered 200. */
	start("[server]\nmax_connections_per_ip = 64\n" SINK);
	for (i = 0; i < CLIENTS; i++) {
		runs[i] = (struct client_run){ .port = d.port, .n = EACH };
		ck_assert_int_eq(pthread_create(&t[i], NULL, client_run,
		    &runs[i]), 0);
	}
	for (i = 0; i < CLIENTS; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ok += runs[i].ok;
		failed += runs[i].failed;
	}
	fprintf(stderr, "50 clients: %d answered 200, %d not\n", ok, failed);
	ck_assert_int_eq(failed, 0);
	ck_assert_int_eq(ok, CLIENTS * EACH);
	ck_assert_int_eq(requests("429"), 0);
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
	char buf[2048];
	int fds[10], i, fd, gone;
	long long end;
	bool closed;

	/* At max_connections the idlest connection makes room: a new
	 * client is served at once, not after connection_timeout. Ten
	 * kept-alive connections from two addresses, idle after a request
	 * each (so that the daemon has them all). */
	start("[server]\nmax_connections = 10\nmax_connections_per_ip = 0\n"
	    SINK);
	for (i = 0; i < 10; i++) {
		fds[i] = raw_connect(i < 5 ? "127.0.0.3" : "127.0.0.4");
		ck_assert_int_eq(raw_send(fds[i], RAW_POST,
		    sizeof RAW_POST - 1), 0);
		raw_response(fds[i], buf, sizeof buf, 2000, &closed);
		ck_assert_msg(status_of(buf) == 200 && !closed, "%d: %s", i,
		    buf);
	}
	fd = raw_connect(NULL);
	ck_assert_int_eq(raw_send(fd, RAW_POST, sizeof RAW_POST - 1), 0);
	raw_response(fd, buf, sizeof buf, 3000, &closed);
	ck_assert_msg(status_of(buf) == 200, "not served at the limit: %s",
	    buf);
	close(fd);
	/* One of the ten was closed for it, the oldest (from .3). */
	end = tu_now_ms() + 3000;
	do {
		for (i = 0, gone = 0; i < 10; i++) {
			if (fds[i] >= 0) {
				raw_read(fds[i], buf, sizeof buf, 10, &closed);
				if (closed) {
					close(fds[i]);
					fds[i] = -1;
				}
			}
			gone += fds[i] < 0;
		}
	} while (gone == 0 && tu_now_ms() < end);
	ck_assert_int_eq(gone, 1);
	ck_assert(log_count_at_least("closed an idle connection from "
	    "127.0.0.3", 1));
	for (i = 0; i < 10; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	assert_alive("10 connections with max_connections 10");
	stop();
}
END_TEST

START_TEST(test_total_limit_busy)
{
	static const char head[] = "POST /webhook HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nContent-Length: 34\r\n"
	    "Expect: 100-continue\r\n\r\n";
	char buf[2048];
	int fds[2], i, fd;
	bool closed;

	/* When every connection is busy with a request, none is closed:
	 * the new one is answered 503 at once. The 100 Continue says that
	 * the daemon has taken a request's headers. */
	start("[server]\nmax_connections = 2\nmax_connections_per_ip = 0\n"
	    SINK);
	for (i = 0; i < 2; i++) {
		fds[i] = raw_connect("127.0.0.3");
		ck_assert_int_eq(raw_send(fds[i], head, sizeof head - 1), 0);
		raw_response(fds[i], buf, sizeof buf, 2000, &closed);
		ck_assert_msg(strstr(buf, " 100 ") != NULL, "%s", buf);
	}
	fd = raw_connect(NULL);
	ck_assert_int_eq(raw_send(fd, RAW_POST, sizeof RAW_POST - 1), 0);
	raw_read(fd, buf, sizeof buf, 3000, &closed);
	ck_assert_msg(status_of(buf) == 503, "%s", buf);
	assert_json_error(body_of(buf));
	ck_assert(closed);
	close(fd);
	ck_assert(log_count_at_least("refused 503 from 127.0.0.1: too many "
	    "connections", 1));
	/* The busy ones finish their requests. */
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(raw_send(fds[i], EVENT, 34), 0);
		raw_response(fds[i], buf, sizeof buf, 3000, &closed);
		ck_assert_msg(status_of(buf) == 200, "%s", buf);
		close(fds[i]);
	}
	stop();
}
END_TEST

/* ---- flood ---- */

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
	tcase_add_test(input, test_framing);
	tcase_add_test(input, test_stray_bytes);
	tcase_add_test(input, test_library_refusals_counted);
	tcase_add_test(input, test_refusals_logged);
	tcase_set_timeout(input, 30);
	suite_add_tcase(s, input);

	tcase_add_test(size, test_huge_content_length);
	tcase_add_test(size, test_chunked);
	tcase_add_test(size, test_chunked_flood);
	tcase_add_test(size, test_chunked_over_answered);
	tcase_add_test(size, test_body_total);
	tcase_add_test(size, test_max_body_total_check);
	tcase_add_test(size, test_body_memory_returned);
	tcase_add_test(size, test_header_flood);
	tcase_set_timeout(size, 30);
	suite_add_tcase(s, size);

	tcase_add_test(slow, test_slow_headers);
	tcase_add_test(slow, test_slow_body);
	tcase_add_test(slow, test_keepalive_clock);
	tcase_set_timeout(slow, 30);
	suite_add_tcase(s, slow);

	tcase_add_test(conns, test_per_address_limit);
	tcase_add_test(conns, test_closed_not_counted);
	tcase_add_test(conns, test_proxy_not_limited);
	tcase_add_test(conns, test_total_limit);
	tcase_add_test(conns, test_total_limit_busy);
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
