/*
 * One request, from libmicrohttpd's first callback to its last: routing,
 * what is refused before the body is read, the body, its signature and
 * delivery id, the parse, the hand-over to the runtime, and each answer.
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <microhttpd.h>

#include "auth.h"
#include "config.h"
#include "dispatch.h"
#include "http_int.h"
#include "livedesk/event.h"
#include "log.h"
#include "runtime.h"
#include "util.h"

/* The first body buffer: the announced length up to this, else a page. */
#define HTTP_BODY_FIRST		(64 * 1024)
#define HTTP_BODY_UNKNOWN	4096
/* Body buffers from this size on are mapped rather than malloc'd. */
#define HTTP_BODY_MMAP		(128 * 1024)

/* One request's state, from the first callback to the completed one. */
struct req {
	struct gen	*gen;
	char		*body;
	size_t		 len;
	size_t		 cap;
	uint64_t	 reserved;	/* of http.body_bytes, >= cap */
	uint64_t	 expect;	/* Content-Length, 0 if none */
	unsigned	 answered;	/* the status answered mid-body, or 0 */
	uint64_t	 drained;	/* bytes dropped since */
	int64_t		 now;		/* wall clock at the first callback */
	char		*path_token;
	char		*forwarded_for;	/* every X-Forwarded-For, joined */
	char		 client[2 * NETADDR_STRLEN + 8];	/* for logs */
	struct auth_claim *claimed;	/* what dedupe holds for it, or NULL */
	/* While the spool commits: the connection is suspended, and the
	 * status to answer is set before it is resumed. */
	struct MHD_Connection *conn;
	atomic_int	 answer;
	char		 delivery_id[40];
};

/* Queues an answer: status, body, one optional header, and with close
 * "Connection: close", after which libmicrohttpd reads nothing more from
 * the connection (a request it cannot trust the framing of, or one over
 * a connection limit, must not be followed by another). */
static enum MHD_Result
reply_full(struct http *h, struct MHD_Connection *c, unsigned status,
    const char *body, const char *hname, const char *hvalue, bool close)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json") == MHD_NO ||
	    (hname != NULL && MHD_add_response_header(r, hname, hvalue) ==
	    MHD_NO) ||
	    (close && MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION,
	    "close") == MHD_NO)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	metrics_request(runtime_metrics(h->rt), status);
	return ret;
}

enum MHD_Result
http_req_reply(struct http *h, struct MHD_Connection *c, unsigned status,
    const char *body, const char *hname, const char *hvalue)
{
	return reply_full(h, c, status, body, hname, hvalue, false);
}

/* {"ok":false,"error":MSG}, escaped by jansson; malloc'd. */
static char *
error_body(const char *msg)
{
	json_t *o = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return body ? body :
	    xstrdup("{\"ok\":false,\"error\":\"internal error\"}");
}

static bool
json_media_type(const char *ct)
{
	size_t n = strlen("application/json");

	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, "application/json", n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/*
 * The webhook's routes: PATH, and, when a token is configured, PATH/TOKEN.
 * Returns false for any other URL; *token is the segment or NULL. The
 * URL is already percent-decoded by libmicrohttpd.
 */
static bool
route(const struct config *cfg, const char *url, const char **token)
{
	size_t n = strlen(cfg->path);
	const char *seg;

	*token = NULL;
	if (strcmp(url, cfg->path) == 0)
		return true;
	if (cfg->token == NULL)
		return false;
	while (n > 0 && cfg->path[n - 1] == '/')
		n--;
	if (strncmp(url, cfg->path, n) != 0 || url[n] != '/')
		return false;
	seg = url + n + 1;
	if (*seg == '\0' || strchr(seg, '/') != NULL)
		return false;
	*token = seg;
	return true;
}

/* Logs, counts and answers one refused request. The reason may hold
 * request bytes (a parser's complaint): it is escaped for the log. */
static enum MHD_Result
refuse_full(struct http *h, struct MHD_Connection *c, const char *client,
    unsigned status, int drop, const char *reason, const char *hname,
    const char *hvalue, bool close)
{
	char *shown = util_escape(reason, 200), *body = error_body(reason);
	enum MHD_Result ret;

	http_conn_log_refusal(h, "refused %u from %s: %s", status, client,
	    shown);
	free(shown);
	if (drop >= 0)
		metrics_drop(runtime_metrics(h->rt), (enum metrics_drop)drop);
	ret = reply_full(h, c, status, body, hname, hvalue, close);
	free(body);
	return ret;
}

static enum MHD_Result
refuse(struct http *h, struct MHD_Connection *c, const char *client,
    unsigned status, int drop, const char *reason, const char *hname,
    const char *hvalue)
{
	return refuse_full(h, c, client, status, drop, reason, hname, hvalue,
	    false);
}

static enum MHD_Result
join_forwarded(void *arg, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	char **all = arg, *tmp;

	(void)kind;
	if (key == NULL || value == NULL ||
	    strcasecmp(key, "X-Forwarded-For") != 0)
		return MHD_YES;
	tmp = *all ? xasprintf("%s,%s", *all, value) : xstrdup(value);
	free(*all);
	*all = tmp;
	return MHD_YES;
}

/* A header of the request, or NULL; libmicrohttpd holds the value for
 * the length of the request. */
static const char *
header_value(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* What auth.c looks at, from the headers libmicrohttpd holds for the
 * length of the request. */
static void
request_view(struct MHD_Connection *c, const struct req *r,
    struct auth_request *ar)
{
	const union MHD_ConnectionInfo *ci;

	memset(ar, 0, sizeof *ar);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL)
		(void)netaddr_from_sockaddr(&ar->peer, ci->client_addr);
	ar->forwarded_for = r->forwarded_for;
	ar->real_ip = header_value(c, "X-Real-IP");
	ar->path_token = r->path_token;
	ar->header_token = header_value(c, "X-Webhook-Token");
	ar->cw_signature = header_value(c, "X-Chatwoot-Signature");
	ar->cw_timestamp = header_value(c, "X-Chatwoot-Timestamp");
	ar->cw_delivery = header_value(c, "X-Chatwoot-Delivery");
	ar->wh_id = header_value(c, "webhook-id");
	ar->wh_timestamp = header_value(c, "webhook-timestamp");
	ar->wh_signature = header_value(c, "webhook-signature");
	ar->now = r->now;
}

/* "CLIENT" or "CLIENT via PEER" when a trusted proxy forwarded it. */
static void
client_name(char *buf, size_t len, const struct netaddr *client,
    const struct netaddr *peer)
{
	char a[NETADDR_STRLEN], p[NETADDR_STRLEN];

	netaddr_format(client, a, sizeof a);
	if (netaddr_equal(client, peer) || peer->family == 0) {
		snprintf(buf, len, "%s", a);
		return;
	}
	netaddr_format(peer, p, sizeof p);
	snprintf(buf, len, "%s via %s", a, p);
}

/*
 * Called with the request target as it came, before libmicrohttpd
 * decodes it in place: the path reaches us as a C string, so a %00 in it,
 * or a NUL sent as it is, would cut it short ("/webhook%00x" taken for
 * "/webhook"). Both are looked for here and refused on the first call.
 */
void *
http_req_on_target(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct http_conn *k = http_conn_of(c);

	(void)cls;
	if (k != NULL) {
		k->target = uri;
		k->target_len = strlen(uri);
		k->target_nul = strstr(uri, "%00") != NULL;
	}
	return NULL;
}

/* Whether the request target held a NUL, sent or percent-encoded. */
static bool
target_has_nul(struct http_conn *k, const char *version)
{
	bool nul;

	if (k == NULL || k->target == NULL)
		return false;
	/* Sent as it is, it ended the string before the space ahead of the
	 * version (which libmicrohttpd overwrote with the terminator). */
	nul = k->target_nul || (*version != '\0' &&
	    k->target + k->target_len + 1 != version);
	k->target = NULL;
	return nul;
}

/*
 * The walk over the request's headers: its framing headers, and whether
 * the header block holds a CR or NUL byte of the client's.
 *
 * libmicrohttpd 0.9.75 hands out each name and value as a C string cut
 * out of its read buffer in place: it overwrites the colon and the line
 * end with NULs, and a NUL the client sent inside a value silently ends
 * it there ("X-Webhook-Token: secret\0junk" reads as "secret"). It gives
 * no length that would tell. So the walk checks that the strings tile
 * the header block exactly, from the request line's end to the blank
 * line: each name where the last line ended, its overwritten colon,
 * blanks, its value, and a line end of the same width as the request
 * line's. A client NUL shifts what follows and shows; so does a folded
 * line (obsolete, and refused with 400 as RFC 9112 allows).
 */
struct scan {
	const char	*start;		/* the request line's end */
	const char	*next;		/* where the next header must begin */
	const char	*end;		/* the end of the header block */
	size_t		 eol;		/* 1 (LF) or 2 (CRLF); 0: not walked */
	int		 n_headers;
	int		 n_length;
	int		 n_encoding;
	int		 n_type;	/* Content-Type headers */
	const char	*length;
	const char	*encoding;
	bool		 bad;		/* a CR or NUL in a header */
};

static bool
all_nul(const char *p, size_t n)
{
	while (n-- > 0)
		if (*p++ != '\0')
			return false;
	return true;
}

static void
scan_start(struct scan *s, struct MHD_Connection *c, const char *method,
    const char *version)
{
#if MHD_VERSION == 0x00097500
	const union MHD_ConnectionInfo *ci;
	uintptr_t m = (uintptr_t)method, v = (uintptr_t)version, e;
	size_t vl;

	memset(s, 0, sizeof *s);
	ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (ci == NULL)
		return;
	e = m + ci->header_size;
	/* A request without a version has none in the buffer: not walked. */
	if (v <= m || v >= e)
		return;
	vl = strnlen(version, e - v);
	if (v + vl + 2 > e)
		return;
	s->start = version + vl;
	s->end = method + ci->header_size;
	s->eol = s->start[1] == '\0' ? 2 : 1;
	s->next = s->start + s->eol;
#else
	/* Other releases parse otherwise: only the CR check is made. */
	memset(s, 0, sizeof *s);
	(void)c;
	(void)method;
	(void)version;
#endif
}

/* Whether key is an RFC 9110 token: a name with a blank before its colon
 * ("Content-Length : 9") would be another header to us and the length to
 * a proxy in front, and the body a second request. */
static bool
token(const char *key, size_t klen)
{
	size_t i;

	if (klen == 0)
		return false;
	for (i = 0; i < klen; i++)
		if (!isalnum((unsigned char)key[i]) &&
		    strchr("!#$%&'*+-.^_`|~", key[i]) == NULL)
			return false;
	return true;
}

static enum MHD_Result
scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
    size_t klen, const char *value, size_t vlen)
{
	struct scan *s = cls;
	uintptr_t k = (uintptr_t)key, v = (uintptr_t)value,
	    e = (uintptr_t)s->end;
	const char *p;

	(void)kind;
	s->n_headers++;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0 &&
	    s->n_length++ == 0)
		s->length = value;
	if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0 &&
	    s->n_encoding++ == 0)
		s->encoding = value;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE) == 0)
		s->n_type++;
	if (value == NULL || !token(key, klen) ||
	    memchr(value, '\r', vlen) != NULL)
		goto bad;
	if (s->eol == 0)
		return MHD_YES;
	if (key != s->next || k + klen + 1 > e || key[klen] != '\0' ||
	    v < k + klen + 1 || v + vlen + s->eol > e)
		goto bad;
	for (p = key + klen + 1; p != value; p++)
		if (*p != ' ' && *p != '\t')
			goto bad;
	if (!all_nul(value + vlen, s->eol))
		goto bad;
	s->next = value + vlen + s->eol;
	return MHD_YES;
bad:
	s->bad = true;
	return MHD_NO;
}

/* After the walk: false when a header held a CR or NUL. */
static bool
scan_clean(const struct scan *s)
{
	size_t n;

	if (s->bad)
		return false;
	if (s->eol == 0)
		return true;
	/* The blank line ends the block, right after the last header. */
	if (s->n_headers == 0) {
		n = (size_t)(s->end - s->start);
		return n >= 2 && n <= 4 && all_nul(s->start, n);
	}
	return s->next + s->eol == s->end && all_nul(s->next, s->eol);
}

/*
 * The framing of the body, which the proxy in front and libmicrohttpd
 * must read alike, or the rest of one body is taken for another request
 * (libmicrohttpd 0.9.75 uses the first of two Content-Lengths, and waits
 * for the end of the connection for a Transfer-Encoding other than
 * chunked). Returns NULL when sound, else the reason, with *status.
 */
static const char *
framing_refusal(const struct scan *s, unsigned *status)
{
	const char *te = s->encoding;
	size_t n;

	*status = MHD_HTTP_BAD_REQUEST;
	if (s->n_length > 1)
		return "more than one Content-Length";
	if (s->n_encoding > 1)
		return "more than one Transfer-Encoding";
	if (s->n_length > 0 && s->n_encoding > 0)
		return "both Content-Length and Transfer-Encoding";
	/* We would check the first, a proxy or a script might read the
	 * last. */
	if (s->n_type > 1)
		return "more than one Content-Type";
	if (s->length != NULL && (s->length[0] == '\0' ||
	    strspn(s->length, "0123456789") != strlen(s->length)))
		return "Content-Length is not a number";
	if (te == NULL)
		return NULL;
	while (*te == ' ' || *te == '\t')
		te++;
	n = strlen(te);
	while (n > 0 && (te[n - 1] == ' ' || te[n - 1] == '\t'))
		n--;
	if (n == strlen("chunked") && strncasecmp(te, "chunked", n) == 0)
		return NULL;
	*status = MHD_HTTP_NOT_IMPLEMENTED;
	return "Transfer-Encoding other than chunked";
}

/* Takes n more bytes of max_body_total for r; false when that would go
 * past the limit. */
static bool
body_reserve(struct http *h, struct req *r, uint64_t n, uint64_t limit)
{
	uint_fast64_t cur = atomic_load(&h->body_bytes);

	do {
		if (cur + n > limit)
			return false;
	} while (!atomic_compare_exchange_weak(&h->body_bytes, &cur,
	    cur + n));
	r->reserved += n;
	return true;
}

/*
 * Frees the body, and gives its share of max_body_total back. Buffers
 * of HTTP_BODY_MMAP and more are mappings, unmapped here: glibc keeps
 * what is freed on its heaps, and raises its own mmap threshold after
 * the first large free, so a burst of large bodies would otherwise leave
 * the process that much larger for good.
 */
static void
body_free(struct http *h, struct req *r)
{
	if (r->cap >= HTTP_BODY_MMAP)
		(void)munmap(r->body, r->cap);
	else
		free(r->body);
	atomic_fetch_sub(&h->body_bytes, r->reserved);
	r->body = NULL;
	r->len = r->cap = 0;
	r->reserved = 0;
}

/* Grows the body buffer to cap bytes. Returns -1 with errno. */
static int
body_grow(struct req *r, size_t cap)
{
	void *p;

	if (cap < HTTP_BODY_MMAP)
		p = xrealloc(r->body, cap);
	else if (r->cap >= HTTP_BODY_MMAP) {
		if ((p = mremap(r->body, r->cap, cap, MREMAP_MAYMOVE)) ==
		    MAP_FAILED)
			return -1;
	} else {
		if ((p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
			return -1;
		if (r->len > 0)
			memcpy(p, r->body, r->len);
		free(r->body);
	}
	r->body = p;
	r->cap = cap;
	return 0;
}

/* The first body buffer: the announced length, up to HTTP_BODY_FIRST;
 * then it doubles as the body arrives. 0: no body is coming. */
static uint64_t
body_first(const struct req *r, bool chunked)
{
	if (r->expect > 0)
		return r->expect + 1 < HTTP_BODY_FIRST ? r->expect + 1 :
		    HTTP_BODY_FIRST;
	return chunked ? HTTP_BODY_UNKNOWN : 0;
}

/*
 * What is refused before a route is even looked at: a connection past a
 * connection limit, a request whose bytes or framing cannot be trusted.
 * These answers close the connection. Returns MHD_YES/MHD_NO after
 * answering, or -1 to go on; *chunked tells the body's framing.
 */
static int
screen(struct http *h, struct MHD_Connection *c, const char *client,
    const char *method, const char *version, bool *chunked)
{
	struct http_conn *k = http_conn_of(c);
	const char *why;
	struct scan s;
	unsigned status;

	if (k != NULL && k->excess != 0)
		return refuse_full(h, c, client, k->excess,
		    k->excess == MHD_HTTP_TOO_MANY_REQUESTS ? DROP_TOO_MANY :
		    DROP_BUSY, k->excess == MHD_HTTP_TOO_MANY_REQUESTS ?
		    "too many "
		    "connections from this address" : "too many connections, "
		    "retry later", MHD_HTTP_HEADER_RETRY_AFTER, "5", true);
	if (target_has_nul(k, version))
		return refuse_full(h, c, client, MHD_HTTP_BAD_REQUEST,
		    DROP_BAD_REQUEST, "NUL byte in the request target", NULL, NULL, true);
	scan_start(&s, c, method, version);
	(void)MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_header,
	    &s);
	if (!scan_clean(&s))
		return refuse_full(h, c, client, MHD_HTTP_BAD_REQUEST,
		    DROP_BAD_REQUEST, "CR or NUL byte in a header, a folded "
		    "header, or a header name that is not a token", NULL,
		    NULL, true);
	if ((why = framing_refusal(&s, &status)) != NULL)
		return refuse_full(h, c, client, status, status ==
		    MHD_HTTP_NOT_IMPLEMENTED ? DROP_UNSUPPORTED :
		    DROP_BAD_REQUEST, why, NULL, NULL, true);
	*chunked = s.encoding != NULL;
	return -1;
}

/* The checks made before a single byte of the body is read. Returns
 * MHD_YES/MHD_NO after answering, or -1 to go on reading. */
static int
first_call(struct http *h, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, struct req **out)
{
	struct gen *g = runtime_acquire(h->rt);
	const struct config *cfg = runtime_config(g);
	struct auth_refusal no;
	struct auth_request ar;
	struct netaddr client;
	const char *ct, *cl, *token, *full = NULL;
	struct req *r = xcalloc(1, sizeof *r);
	bool client_ok, get, chunked = false;
	uint64_t first;
	int ret;

	r->gen = g;
	r->now = util_now_usec() / 1000000;
	if (cfg->trusted_proxies != NULL)
		MHD_get_connection_values(c, MHD_HEADER_KIND, join_forwarded,
		    &r->forwarded_for);
	request_view(c, r, &ar);
	client_ok = auth_client(cfg, &ar, &client) == 0;
	client_name(r->client, sizeof r->client, &client, &ar.peer);
	if ((ret = screen(h, c, r->client, method, version, &chunked)) != -1)
		goto answered;
	get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	if (get && strcmp(url, "/healthz") == 0) {
		ret = http_serve_health(h, c);
		goto answered;
	}
	if (get && strcmp(url, "/metrics") == 0) {
		ret = http_serve_metrics(h, c);
		goto answered;
	}
	if (!route(cfg, url, &token)) {
		ret = refuse(h, c, r->client, MHD_HTTP_NOT_FOUND, -1,
		    "not found", NULL, NULL);
		goto answered;
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
		ret = refuse(h, c, r->client, MHD_HTTP_METHOD_NOT_ALLOWED, -1,
		    "method not allowed: use POST", MHD_HTTP_HEADER_ALLOW,
		    "POST");
		goto answered;
	}
	if (token != NULL)
		r->path_token = xstrdup(token);
	ar.path_token = r->path_token;
	if (auth_check_headers(cfg, &ar, &client, client_ok, &no) == -1) {
		ret = refuse(h, c, r->client, (unsigned)no.status,
		    no.status == 403 ? DROP_FORBIDDEN : DROP_UNAUTHORIZED,
		    no.reason, no.status == 401 ? MHD_HTTP_HEADER_WWW_AUTHENTICATE
		    : NULL, "Token");
		goto answered;
	}
	ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct != NULL && !json_media_type(ct)) {
		ret = refuse(h, c, r->client, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    DROP_MEDIA_TYPE, "Content-Type must be application/json",
		    NULL, NULL);
		goto answered;
	}
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && (r->expect = strtoull(cl, NULL, 10)) >
	    cfg->max_body) {
		ret = refuse(h, c, r->client, MHD_HTTP_CONTENT_TOO_LARGE,
		    DROP_TOO_LARGE, "body larger than max_body", NULL, NULL);
		goto answered;
	}
	/* A full queue is answered before the body is read and parsed:
	 * under a flood the CPU goes to the sinks, not to refusals. */
	if (runtime_stopping(h->rt) ||
	    (full = runtime_no_room(g, (size_t)r->expect)) != NULL) {
		bool stopping = runtime_stopping(h->rt);

		ret = refuse(h, c, r->client, MHD_HTTP_SERVICE_UNAVAILABLE,
		    stopping ? DROP_STOPPING : runtime_spool(h->rt) ?
		    DROP_SPOOL_FULL : DROP_QUEUE_FULL, stopping ?
		    "shutting down" : full,
		    MHD_HTTP_HEADER_RETRY_AFTER, "5");
		goto answered;
	}
	/* So are bodies past max_body_total, before they take memory:
	 * half-sent bodies on many connections must not take it all. */
	first = body_first(r, chunked);
	if (first > 0 && !body_reserve(h, r, first, cfg->max_body_total)) {
		ret = refuse(h, c, r->client, MHD_HTTP_SERVICE_UNAVAILABLE,
		    DROP_BODY_MEMORY, "too many bodies being received "
		    "(max_body_total), retry "
		    "later", MHD_HTTP_HEADER_RETRY_AFTER, "5");
		goto answered;
	}
	http_conn_busy(h, c, true);
	*out = r;
	return -1;
answered:
	/* Freed here: http_req_on_completed sees no request state. */
	runtime_release(g);
	free(r->path_token);
	free(r->forwarded_for);
	free(r);
	return ret;
}

/* Collects the body up to max_body, within max_body_total for every
 * body at once. Returns 0, or the status to answer at once: 413 past
 * max_body, 503 past max_body_total (or out of memory). */
static unsigned
append_body(struct http *h, struct req *r, const char *data, size_t n)
{
	const struct config *cfg = runtime_config(r->gen);
	uint64_t cap;

	/* Counted as it arrives (chunked bodies have no length). */
	if (n > cfg->max_body - r->len)
		return MHD_HTTP_CONTENT_TOO_LARGE;
	if (r->len + n + 1 > r->cap) {
		cap = r->cap ? r->cap : body_first(r, true);
		while (cap < r->len + n + 1)
			cap *= 2;
		/* Never past what can arrive (libmicrohttpd holds the client
		 * to its Content-Length). */
		if (cap > cfg->max_body + 1)
			cap = cfg->max_body + 1;
		if (r->expect > 0 && cap > r->expect + 1)
			cap = r->expect + 1;
		if (cap > r->reserved && !body_reserve(h, r, cap - r->reserved,
		    cfg->max_body_total))
			return MHD_HTTP_SERVICE_UNAVAILABLE;
		if (body_grow(r, (size_t)cap) == -1) {
			log_err("cannot allocate %llu bytes for a body from "
			    "%s: %s", (unsigned long long)cap, r->client,
			    strerror(errno));
			return MHD_HTTP_SERVICE_UNAVAILABLE;
		}
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return 0;
}

/*
 * Answers while the body is still arriving, which libmicrohttpd 0.9.75
 * does not allow (MHD_queue_response works only before the body or after
 * it): past max_body a body without a length could otherwise go on for
 * ever unanswered. The answer is written on the socket itself, which
 * nothing else writes to at this point (the last response went out whole
 * before this request was read; there is no TLS), and the write side is
 * shut down, so that the client reads the answer, then an end of file.
 * What it still sends is read and dropped for a moment (on_request, the
 * watchdog) before the connection closes: closing on unread bytes would
 * send a reset, which can destroy the answer before it is read.
 */
static void
answer_midbody(struct http *h, struct MHD_Connection *c, struct req *r,
    unsigned status, int drop, const char *reason)
{
	const union MHD_ConnectionInfo *ci;
	char *body = error_body(reason), *msg, *shown;
	int fd = -1, n;

	/* Counted before the client can read the answer: a client that
	 * scrapes /metrics right after must see it. */
	if (drop >= 0)
		metrics_drop(runtime_metrics(h->rt), (enum metrics_drop)drop);
	metrics_request(runtime_metrics(h->rt), status);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL)
		fd = ci->connect_fd;
	n = asprintf(&msg, "HTTP/1.1 %u %s\r\nConnection: close\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n"
	    "%s", status, MHD_get_reason_phrase_for(status), strlen(body),
	    status == MHD_HTTP_SERVICE_UNAVAILABLE ? "Retry-After: 5\r\n" :
	    "", body);
	free(body);
	if (n < 0)
		msg = NULL;
	/* The send buffer is empty: a few hundred bytes go out at once. */
	if (fd >= 0 && msg != NULL && send(fd, msg, (size_t)n, MSG_NOSIGNAL |
	    MSG_DONTWAIT) != n)
		log_debug("cannot answer %u mid-body to %s: %s", status,
		    r->client, n < 0 ? "out of memory" : strerror(errno));
	free(msg);
	if (fd >= 0)
		(void)shutdown(fd, SHUT_WR);
	shown = util_escape(reason, 200);
	http_conn_log_refusal(h, "refused %u from %s: %s; answered before the "
	    "end of the body, connection closed", status, r->client, shown);
	free(shown);
	r->answered = status;
	body_free(h, r);
	http_conn_answered(h, c);
}

/* Settles the delivery id this request claimed: kept when the event was
 * accepted, forgotten when it was refused. Done as the answer is queued,
 * not when the connection completes: a sender that retries at once must
 * find the id settled. */
static void
settle_claim(struct http *h, struct req *r, bool keep)
{
	if (r->claimed != NULL) {
		auth_dedupe_done(h->dedupe, r->claimed, keep,
		    util_mono_msec());
		free(r->claimed);
		r->claimed = NULL;
	}
}

/* The signature over the bytes received, then redelivery and replay.
 * Returns -1 to go on with the event, else the answer already queued. */
static int
admit_body(struct http *h, struct MHD_Connection *c, struct req *r)
{
	const struct config *cfg = runtime_config(r->gen);
	struct auth_refusal no;
	struct auth_request ar;
	struct auth_macs macs;
	enum auth_seen seen;

	request_view(c, r, &ar);
	/* Freshness judged now, not when the headers came: the replay
	 * check's window counts from here, however slowly the body came. */
	ar.now = util_now_usec() / 1000000;
	if (auth_check_body(cfg, &ar, r->body ? r->body : "", r->len, &macs,
	    &no) == -1)
		return refuse(h, c, r->client, (unsigned)no.status,
		    no.status == 401 ? DROP_UNAUTHORIZED : -1, no.reason,
		    NULL, NULL);
	switch (seen = auth_dedupe_claim_request(h->dedupe, cfg, &ar, &macs,
	    util_mono_msec(), &r->claimed)) {
	case AUTH_NEW:
		return -1;
	case AUTH_SEEN:
	case AUTH_REPLAY:
		metrics_drop(runtime_metrics(h->rt), DROP_DUPLICATE);
		log_info("%s from %s: answered 200, not dispatched again",
		    seen == AUTH_SEEN ? "duplicate delivery" :
		    "replayed signature", r->client);
		return http_req_reply(h, c, MHD_HTTP_OK,
		    "{\"ok\":true,\"duplicate\":true}", NULL, NULL);
	case AUTH_BUSY:
		break;
	}
	return refuse(h, c, r->client, MHD_HTTP_SERVICE_UNAVAILABLE,
	    DROP_DUPLICATE, "the same delivery is being handled, retry later",
	    MHD_HTTP_HEADER_RETRY_AFTER, "1");
}

/* The answer to an event the runtime has taken (200) or refused. */
static enum MHD_Result
answer_ingest(struct http *h, struct MHD_Connection *c, struct req *r,
    int status)
{
	char ok[128];

	/* 507 is ours for "the spool cannot be written": the sender sees 503
	 * and retries, like for a full queue. */
	if (status != 200) {
		/* The runtime has counted the drop. */
		settle_claim(h, r, false);
		return refuse(h, c, r->client, status == 507 ? 503 :
		    (unsigned)status, -1, runtime_stopping(h->rt) ?
		    "shutting down" : status == 507 ? "cannot write the spool, "
		    "retry later" : "queue full, retry later",
		    MHD_HTTP_HEADER_RETRY_AFTER, "5");
	}
	/* Accepted: its delivery id is kept. */
	settle_claim(h, r, true);
	snprintf(ok, sizeof ok, "{\"ok\":true,\"delivery_id\":\"%s\"}",
	    r->delivery_id);
	return http_req_reply(h, c, MHD_HTTP_OK, ok, NULL, NULL);
}

/* Runs on the spool's thread once the event is on disk (or not). */
static void
on_ingested(void *arg, int status)
{
	struct req *r = arg;

	atomic_store(&r->answer, status);
	MHD_resume_connection(r->conn);
}

static enum MHD_Result
accept_event(struct http *h, struct MHD_Connection *c, struct req *r)
{
	struct ld_event_error err;
	struct ld_event *ev;
	int status;

	if ((status = admit_body(h, c, r)) != -1)
		return (enum MHD_Result)status;
	ev = ld_event_parse(r->body ? r->body : "", r->len,
	    (int)runtime_config(r->gen)->max_depth, &err);
	/* The event holds its own copy: the body's share of max_body_total
	 * goes back now, not when the connection gets round to closing. */
	body_free(h, r);
	if (ev == NULL) {
		settle_claim(h, r, false);
		return refuse(h, c, r->client, (unsigned)err.status,
		    err.status == 422 ? DROP_NO_EVENT : DROP_BAD_JSON,
		    err.text, NULL, NULL);
	}
	util_delivery_id(ev->delivery_id);
	ev->received_usec = util_now_usec();
	memcpy(r->delivery_id, ev->delivery_id, sizeof r->delivery_id);
	if (!runtime_ingest_waits(h->rt)) {
		status = runtime_ingest(h->rt, r->gen, ev, NULL, NULL);
		ld_event_unref(ev);
		return answer_ingest(h, c, r, status);
	}
	/*
	 * A durable spool answers once the group commit holding the event is
	 * on disk: the connection is suspended first, so that the spool
	 * thread can never resume it before it is suspended, and MHD serves
	 * other connections meanwhile. No fsync ever runs on this thread.
	 */
	r->conn = c;
	MHD_suspend_connection(c);
	status = runtime_ingest(h->rt, r->gen, ev, on_ingested, r);
	ld_event_unref(ev);
	if (status != 0)
		on_ingested(r, status);
	return MHD_YES;
}

/* Called with the headers, with each piece of the body, at its end, and
 * once more after the spool resumes the connection. */
enum MHD_Result
http_req_on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http *h = cls;
	struct req *r = *con_cls;
	unsigned status;
	int first;

	if (r == NULL) {
		if ((first = first_call(h, c, url, method, version, &r)) != -1)
			return (enum MHD_Result)first;
		*con_cls = r;
		return MHD_YES;
	}
	if (r->answered != 0) {
		/* Answered mid-body: the rest is dropped for a moment, then
		 * the connection closed (the watchdog closes it if the
		 * client goes quiet instead). */
		r->drained += *upload_data_size;
		if (*upload_data_size == 0 ||
		    r->drained > runtime_config(r->gen)->max_body)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (atomic_load(&r->answer) != 0)
		return answer_ingest(h, c, r, atomic_load(&r->answer));
	if (*upload_data_size > 0) {
		if ((status = append_body(h, r, upload_data,
		    *upload_data_size)) != 0)
			answer_midbody(h, c, r, status, status ==
			    MHD_HTTP_CONTENT_TOO_LARGE ? DROP_TOO_LARGE :
			    status == MHD_HTTP_SERVICE_UNAVAILABLE ?
			    DROP_BODY_MEMORY : -1,
			    status == MHD_HTTP_CONTENT_TOO_LARGE ?
			    "body larger than max_body" : "too many bodies "
			    "being received (max_body_total), retry later");
		*upload_data_size = 0;
		return MHD_YES;
	}
	http_conn_complete(h, c);
	return accept_event(h, c, r);
}

/* Called once the request is over, answered or not: its state goes. */
void
http_req_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct req *r = *con_cls;

	(void)toe;
	http_conn_busy(h, c, false);
	if (r == NULL)
		return;
	/* Not accepted (refused, cut off, failed): the sender's retry of
	 * this delivery must get in. */
	settle_claim(h, r, false);
	runtime_release(r->gen);
	free(r->path_token);
	free(r->forwarded_for);
	body_free(h, r);
	free(r);
	*con_cls = NULL;
}
