/*
 * The HTTP front, on libmicrohttpd: routing, method, who may enter
 * (auth.c), framing, media type and size limits checked on the first
 * callback before any body is read, the body collected up to max_body
 * (and every body at once up to max_body_total), its signature checked,
 * then parsed and handed to the runtime. Every answer is a small JSON
 * object; every refusal is counted and logged (past a few lines a second,
 * counted and logged as a number). Connections are tracked so that a
 * request that takes too long as a whole, however it trickles, is cut
 * off, and so that at max_connections the idlest one makes room.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "auth.h"
#include "config.h"
#include "dispatch.h"
#include "http.h"
#include "livedesk/event.h"
#include "log.h"
#include "runtime.h"
#include "spool.h"
#include "util.h"

#define HTTP_MAX_DAEMONS 8
/* Delivery ids kept for redelivery: 32 bytes each, 2 MiB at most; at
 * LiveDesk's rates that is hours of deliveries, beyond any window. */
#define HTTP_DEDUPE_MAX		65536
/* How often the watchdog looks for requests past request_timeout. */
#define HTTP_WATCH_MSEC		200
/* Refusal lines: this many a window, the rest counted and the count
 * logged once the window is over. A flood leaves a trace, not a disk's
 * worth of lines. */
#define HTTP_LOG_BURST		20
#define HTTP_LOG_WINDOW_MSEC	1000
/* After an answer sent while the body still arrives: how long, and how
 * much more, the rest is read and dropped before the connection closes. */
#define HTTP_DRAIN_MSEC		1000
/* How often, and after how long in a request, the watchdog looks for
 * connections whose client has gone (see client_left). */
#define HTTP_SWEEP_MSEC		1000
#define HTTP_GONE_MSEC		1000
/* The first body buffer: the announced length up to this, else a page. */
#define HTTP_BODY_FIRST		(64 * 1024)
#define HTTP_BODY_UNKNOWN	4096
/* Body buffers from this size on are mapped rather than malloc'd. */
#define HTTP_BODY_MMAP		(128 * 1024)

/* One TCP connection, from accept to close: its peer, and when its
 * current request (or the wait for the next one) began. */
struct conn {
	struct conn	*prev, *next;
	int		 fd;
	struct netaddr	 peer;
	int64_t		 since_ms;
	bool		 cut;		/* shut down by us */
	bool		 busy;		/* a request past its headers */
	bool		 complete;	/* ... and past its body */
	bool		 answered;	/* answered mid-body: being drained */
	/* The status its requests get at once (429: past the address's
	 * limit; 503: past max_connections with none idle), or 0. */
	unsigned	 excess;
	/* The request target as the URI log callback saw it, before
	 * libmicrohttpd decoded it in place: only until the first call. */
	const char	*target;
	size_t		 target_len;
	bool		 target_nul;	/* holds %00 */
};

struct http {
	struct runtime		*rt;
	struct MHD_Daemon	*mhd[HTTP_MAX_DAEMONS];
	int			 n_mhd;
	char			 address[80];
	/* Outlives every generation, so a reload keeps the ids it saw. */
	struct auth_dedupe	*dedupe;
	/* Server limits, fixed at start like the rest of libmicrohttpd's. */
	int64_t			 request_timeout_ms;
	long long		 max_per_ip;
	long long		 max_conns;
	/* Bytes of body buffers held by requests in progress, against
	 * max_body_total. */
	atomic_uint_fast64_t	 body_bytes;
	/* The connections, and the watchdog that cuts the slow ones. */
	pthread_mutex_t		 lock;
	pthread_cond_t		 wake;
	pthread_t		 watchdog;
	bool			 watching;
	bool			 stop;
	struct conn		*conns;
	size_t			 n_conns;
	/* Refusal lines in the current window, and those not logged. */
	pthread_mutex_t		 log_lock;
	int64_t			 log_window_ms;
	int			 log_lines;
	unsigned long long	 log_unlogged;
};

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
	bool		 accepted;
	/* While the spool commits: the connection is suspended, and the
	 * status to answer is set before it is resumed. */
	struct MHD_Connection *conn;
	atomic_int	 answer;
	char		 delivery_id[40];
};

/* Closes the log window once it is over: the refusals it did not show
 * are logged as a count. The caller holds log_lock. */
static void
refusal_window(struct http *h, int64_t now, bool force)
{
	if (!force && now - h->log_window_ms < HTTP_LOG_WINDOW_MSEC)
		return;
	if (h->log_unlogged > 0)
		log_info("refused %llu more requests in the last %lld ms, not "
		    "logged one by one (at most %d lines a second; "
		    "/metrics counts them all)", h->log_unlogged,
		    (long long)(now - h->log_window_ms), HTTP_LOG_BURST);
	h->log_window_ms = now;
	h->log_lines = 0;
	h->log_unlogged = 0;
}

static void
refusal_log(struct http *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Logs one refused request or connection: the sender never retries, so
 * each is a customer message lost, and the log is where it shows. Under
 * a flood only HTTP_LOG_BURST lines a second are written; the others are
 * counted and their number logged when the second is over. */
static void
refusal_log(struct http *h, const char *fmt, ...)
{
	va_list ap;
	bool show;

	pthread_mutex_lock(&h->log_lock);
	refusal_window(h, util_mono_msec(), false);
	if ((show = h->log_lines < HTTP_LOG_BURST))
		h->log_lines++;
	else
		h->log_unlogged++;
	pthread_mutex_unlock(&h->log_lock);
	if (!show)
		return;
	va_start(ap, fmt);
	log_vctx(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

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

static enum MHD_Result
reply(struct http *h, struct MHD_Connection *c, unsigned status,
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

	refusal_log(h, "refused %u from %s: %s", status, client, shown);
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
	ar->real_ip = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Real-IP");
	ar->path_token = r->path_token;
	ar->header_token = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Webhook-Token");
	ar->cw_signature = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Chatwoot-Signature");
	ar->cw_timestamp = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Chatwoot-Timestamp");
	ar->cw_delivery = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Chatwoot-Delivery");
	ar->wh_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "webhook-id");
	ar->wh_timestamp = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "webhook-timestamp");
	ar->wh_signature = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "webhook-signature");
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

static enum MHD_Result serve_health(struct http *, struct MHD_Connection *);
static enum MHD_Result serve_metrics(struct http *, struct MHD_Connection *);

/* The connection a request came on, as on_connection recorded it. */
static struct conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* Marks a connection busy (a request past its headers: not to be closed
 * to make room) or idle again. */
static void
conn_busy(struct http *h, struct MHD_Connection *c, bool busy)
{
	struct conn *k = conn_of(c);

	if (k == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	k->busy = busy;
	k->complete = false;
	if (!busy) {
		/* The next request gets a clock of its own. */
		k->since_ms = util_mono_msec();
		k->answered = false;
	}
	pthread_mutex_unlock(&h->lock);
}

/* Marks the request on c as received whole: its client may close its
 * end now and still be answered. */
static void
conn_complete(struct http *h, struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);

	if (k == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	k->complete = true;
	pthread_mutex_unlock(&h->lock);
}

/*
 * Called with the request target as it came, before libmicrohttpd
 * decodes it in place: the path reaches us as a C string, so a %00 in it,
 * or a NUL sent as it is, would cut it short ("/webhook%00x" taken for
 * "/webhook"). Both are looked for here and refused on the first call.
 */
static void *
on_target(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);

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
target_has_nul(struct conn *k, const char *version)
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
	if (value == NULL || memchr(key, '\r', klen) != NULL ||
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
	struct conn *k = conn_of(c);
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
		    DROP_BAD_REQUEST, "CR or NUL byte in a header, or a folded header", NULL,
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
		ret = serve_health(h, c);
		goto answered;
	}
	if (get && strcmp(url, "/metrics") == 0) {
		ret = serve_metrics(h, c);
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
	conn_busy(h, c, true);
	*out = r;
	return -1;
answered:
	/* Freed here: on_completed sees no request state. */
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
	struct conn *k = conn_of(c);
	char *body = error_body(reason), *msg, *shown;
	int fd = -1, n;

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
	refusal_log(h, "refused %u from %s: %s; answered before the end of "
	    "the body, connection closed", status, r->client, shown);
	free(shown);
	if (drop >= 0)
		metrics_drop(runtime_metrics(h->rt), (enum metrics_drop)drop);
	metrics_request(runtime_metrics(h->rt), status);
	r->answered = status;
	body_free(h, r);
	if (k != NULL) {
		pthread_mutex_lock(&h->lock);
		k->answered = true;
		k->since_ms = util_mono_msec();
		pthread_mutex_unlock(&h->lock);
	}
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

/* Marks the event accepted, so that its delivery id is kept. */
static void
accepted(struct http *h, struct req *r)
{
	settle_claim(h, r, true);
	r->accepted = true;
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
		return reply(h, c, MHD_HTTP_OK,
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
	accepted(h, r);
	snprintf(ok, sizeof ok, "{\"ok\":true,\"delivery_id\":\"%s\"}",
	    r->delivery_id);
	return reply(h, c, MHD_HTTP_OK, ok, NULL, NULL);
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

static enum MHD_Result
serve_health(struct http *h, struct MHD_Connection *c)
{
	if (runtime_stopping(h->rt))
		return reply(h, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "{\"ok\":false,\"status\":\"stopping\"}", NULL, NULL);
	return reply(h, c, MHD_HTTP_OK, "{\"ok\":true,\"status\":\"ready\"}",
	    NULL, NULL);
}

static enum MHD_Result
serve_metrics(struct http *h, struct MHD_Connection *c)
{
	struct gen *g = runtime_acquire(h->rt);
	struct dispatch_stats ds;
	struct spool_status ss;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text, *err = NULL;
	bool spooled = runtime_spool(h->rt) != NULL &&
	    spool_status(runtime_spool(h->rt), NULL, &ss, &err) == 0;

	free(err);
	runtime_stats(h->rt, g, &ds);
	text = metrics_render(runtime_metrics(h->rt), &ds,
	    spooled ? &ss : NULL);
	runtime_release(g);
	free(ds.sinks);
	if (text == NULL)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(text), text,
	    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; version=0.0.4") == MHD_NO) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	metrics_request(runtime_metrics(h->rt), MHD_HTTP_OK);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
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
	conn_complete(h, c);
	return accept_event(h, c, r);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct req *r = *con_cls;

	(void)toe;
	conn_busy(h, c, false);
	if (r == NULL)
		return;
	/* Not accepted (refused, cut off, failed): the sender's retry of
	 * this delivery must get in. */
	if (r->claimed != NULL)
		auth_dedupe_done(h->dedupe, r->claimed, false,
		    util_mono_msec());
	runtime_release(r->gen);
	free(r->claimed);
	free(r->path_token);
	free(r->forwarded_for);
	body_free(h, r);
	free(r);
	*con_cls = NULL;
}

/* Whether the client has closed or reset its end: libmicrohttpd notices
 * only when it gets round to the socket, and until then the connection
 * would count against its address. */
static bool
peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return fd >= 0 && poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/*
 * Whether the client has closed its end and everything it sent has been
 * read. libmicrohttpd 0.9.75 can miss that end of file on a connection
 * that was receiving a body (it is left in CLOSE-WAIT), and then keeps
 * the connection, and the body's memory, until connection_timeout.
 */
static bool
client_left(int fd)
{
	int unread = 0;

	return peer_gone(fd) && ioctl(fd, FIONREAD, &unread) == 0 &&
	    unread == 0;
}

/* Counts the connections from a that are live, not yet refused, and
 * (with check) not closed by the client (the caller holds the lock). */
static long long
conns_from(const struct http *h, const struct netaddr *a, bool check)
{
	const struct conn *k;
	long long n = 0;

	for (k = h->conns; k != NULL; k = k->next)
		if (!k->cut && k->excess == 0 && netaddr_equal(&k->peer, a) &&
		    !(check && peer_gone(k->fd)))
			n++;
	return n;
}

/*
 * Past max_connections: closes the idlest connection, the one without a
 * request in progress whose wait began first (a client gone quiet, an
 * idle keep-alive, a flood's oldest), so that a new client is served at
 * once instead of waiting in the backlog until some connection times
 * out. Returns that connection, cut, or NULL when every other one is
 * busy (the caller holds the lock).
 */
static struct conn *
make_room(struct http *h, struct conn *newest)
{
	struct conn *k, *idlest = NULL;
	size_t live = 0;

	for (k = h->conns; k != NULL; k = k->next) {
		if (k->cut)
			continue;
		live++;
		/* The list is newest first: on a tie, the older wins. */
		if (k != newest && !k->busy && (idlest == NULL ||
		    k->since_ms <= idlest->since_ms))
			idlest = k;
	}
	if (live <= (size_t)h->max_conns)
		return newest;
	if (idlest == NULL)
		return NULL;
	idlest->cut = true;
	if (idlest->fd >= 0)
		(void)shutdown(idlest->fd, SHUT_RDWR);
	return idlest;
}

/*
 * Tracks every connection, for the watchdog, and enforces the connection
 * limits here rather than in libmicrohttpd, which would only stop
 * accepting. Past max_connections_per_ip a connection is kept just long
 * enough to answer its request 429 (a trusted proxy carries many clients
 * on its connections and is not limited). Past max_connections the
 * idlest connection is closed to make room, or, when every one is busy
 * with a request, the new one is answered 503.
 */
static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct http *h = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn *k, *room = NULL;
	struct gen *g;
	char a[NETADDR_STRLEN];
	bool proxy, full = false;
	int64_t idle = 0;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if ((k = *socket_context) == NULL)
			return;
		/* Called before libmicrohttpd closes the descriptor, so the
		 * watchdog never shuts down a number reused by another. */
		pthread_mutex_lock(&h->lock);
		if (k->prev != NULL)
			k->prev->next = k->next;
		else
			h->conns = k->next;
		if (k->next != NULL)
			k->next->prev = k->prev;
		h->n_conns--;
		pthread_mutex_unlock(&h->lock);
		free(k);
		*socket_context = NULL;
		return;
	}
	k = xcalloc(1, sizeof *k);
	k->fd = -1;
	if ((ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CONNECTION_FD)) != NULL)
		k->fd = ci->connect_fd;
	if ((ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS)) != NULL)
		(void)netaddr_from_sockaddr(&k->peer, ci->client_addr);
	k->since_ms = util_mono_msec();
	g = runtime_acquire(h->rt);
	proxy = netaddr_list_has(runtime_config(g)->proxy_nets, &k->peer);
	runtime_release(g);
	pthread_mutex_lock(&h->lock);
	/* Counted again, without the connections their clients have
	 * closed, only when the quick count says it is over. */
	if (h->max_per_ip > 0 && !proxy &&
	    conns_from(h, &k->peer, false) >= h->max_per_ip &&
	    conns_from(h, &k->peer, true) >= h->max_per_ip)
		k->excess = MHD_HTTP_TOO_MANY_REQUESTS;
	k->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = k;
	h->conns = k;
	if (++h->n_conns > (size_t)h->max_conns) {
		if ((room = make_room(h, k)) == NULL) {
			full = true;
			if (k->excess == 0)
				k->excess = MHD_HTTP_SERVICE_UNAVAILABLE;
		} else if (room != k) {
			idle = k->since_ms - room->since_ms;
			netaddr_format(&room->peer, a, sizeof a);
		}
	}
	pthread_mutex_unlock(&h->lock);
	*socket_context = k;
	if (room != NULL && room != k)
		refusal_log(h, "closed an idle connection from %s (idle %lld "
		    "ms) to make room: max_connections (%lld) reached", a,
		    (long long)idle, h->max_conns);
	if (full)
		log_debug("max_connections (%lld) reached with every "
		    "connection busy: the next request is answered 503",
		    h->max_conns);
}

/*
 * libmicrohttpd's timeout is an idle timeout: a client that sends a byte
 * every few seconds keeps a connection for ever. The watchdog gives each
 * request request_timeout in all, headers included, and shuts the socket
 * down when it is spent; libmicrohttpd then sees the connection end and
 * closes it on its own thread. A connection answered mid-body gets
 * HTTP_DRAIN_MSEC. Once a second it also closes the connections whose
 * client has gone before its request was whole (client_left).
 */
static void *
watchdog(void *arg)
{
	struct http *h = arg;
	struct timespec until;
	struct conn *k;
	char a[NETADDR_STRLEN];
	int64_t now, swept = util_mono_msec();
	bool sweep;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		now = util_mono_msec();
		if ((sweep = now - swept >= HTTP_SWEEP_MSEC))
			swept = now;
		for (k = h->conns; k != NULL; k = k->next) {
			/* A client gone in the middle of its request: shutting
			 * our end down wakes libmicrohttpd up to close. */
			if (sweep && !k->cut && !k->complete &&
			    now - k->since_ms >= HTTP_GONE_MSEC &&
			    client_left(k->fd)) {
				k->cut = true;
				(void)shutdown(k->fd, SHUT_RDWR);
				continue;
			}
			if (k->cut || now - k->since_ms < (k->answered ?
			    HTTP_DRAIN_MSEC : h->request_timeout_ms))
				continue;
			k->cut = true;
			if (k->fd >= 0)
				shutdown(k->fd, SHUT_RDWR);
			if (k->answered)
				continue;
			netaddr_format(&k->peer, a, sizeof a);
			refusal_log(h, "refused 408 from %s: no complete "
			    "request within request_timeout; connection "
			    "closed", a);
			metrics_request(runtime_metrics(h->rt), 408);
		}
		/* A flood's count of unlogged refusals goes out when its
		 * second is over, even if nothing follows it. */
		pthread_mutex_lock(&h->log_lock);
		refusal_window(h, now, false);
		pthread_mutex_unlock(&h->log_lock);
		util_deadline(&until, HTTP_WATCH_MSEC);
		(void)pthread_cond_timedwait(&h->wake, &h->lock, &until);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int
http_parse_listen(const char *s, struct sockaddr_storage *ss, unsigned *len,
    char **err)
{
	struct addrinfo hints, *ai = NULL;
	const char *colon = strrchr(s, ':');
	char host[64];
	size_t hl;
	int rc;

	if (colon == NULL || colon == s || colon[1] == '\0')
		goto bad;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			goto bad;
		s++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		goto bad;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
		*err = xasprintf("listen '%s': %s", s, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
bad:
	*err = xasprintf("listen '%s': expected ADDR:PORT or [ADDR6]:PORT", s);
	return -1;
}

static int
bind_listen(const char *listen_on, char *address, size_t alen, char **err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned len;
	int fd, one = 1;
	char host[INET6_ADDRSTRLEN];

	if (http_parse_listen(listen_on, &ss, &len, err) == -1)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1) {
		*err = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof one) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 1024) == -1) {
		*err = xasprintf("listen on %s: %s", listen_on,
		    strerror(errno));
		close(fd);
		return -1;
	}
	sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
			snprintf(address, alen, "[%s]:%u", host,
			    ntohs(a6->sin6_port));
		} else {
			struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
			snprintf(address, alen, "%s:%u", host,
			    ntohs(a4->sin_port));
		}
	}
	return fd;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* libmicrohttpd's own messages, as debug lines through our log: they
 * tell of sockets closed and the like, which the one line per refused
 * request already says; escaped, as they may quote request bytes. */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap), *shown;

	(void)cls;
	msg[strcspn(msg, "\n")] = '\0';
	shown = util_escape(msg, 300);
	log_debug("libmicrohttpd: %s", shown);
	free(shown);
	free(msg);
}

static struct MHD_Daemon *
start_mhd(struct http *h, const struct config *cfg, int fd)
{
	unsigned timeout = (unsigned)(cfg->connection_timeout_ms / 1000);

	/* Headers that do not fit in the connection's memory are answered
	 * 431 by libmicrohttpd itself. The connection limits are ours (see
	 * on_connection): libmicrohttpd's own, set above them, leaves room
	 * for the connections being closed to make room, and only past it
	 * does it stop accepting. */
	return MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
	    MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
	    on_request, h,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->max_connections +
	    cfg->max_connections / 4 + 16),
	    MHD_OPTION_URI_LOG_CALLBACK, on_target, h,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->max_header_size,
	    MHD_OPTION_CONNECTION_TIMEOUT, timeout,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
	    MHD_OPTION_END);
}

struct http *
http_new(struct runtime *rt, const struct config *cfg, int first_fd,
    int n_fds, char **err)
{
	struct http *h = xcalloc(1, sizeof *h);
	pthread_condattr_t ca;
	int i, fd, rc;

	h->rt = rt;
	h->dedupe = auth_dedupe_new(HTTP_DEDUPE_MAX);
	h->request_timeout_ms = cfg->request_timeout_ms;
	h->max_per_ip = cfg->max_connections_per_ip;
	h->max_conns = cfg->max_connections;
	h->log_window_ms = util_mono_msec();
	atomic_init(&h->body_bytes, 0);
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->log_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = pthread_create(&h->watchdog, NULL, watchdog, h)) != 0) {
		*err = xasprintf("cannot start the request watchdog: %s",
		    strerror(rc));
		goto fail;
	}
	h->watching = true;
	if (n_fds > HTTP_MAX_DAEMONS) {
		*err = xasprintf("%d sockets passed, at most %d served", n_fds,
		    HTTP_MAX_DAEMONS);
		goto fail;
	}
	for (i = 0; i < (n_fds > 0 ? n_fds : 1); i++) {
		if (n_fds > 0) {
			fd = first_fd + i;
			snprintf(h->address, sizeof h->address,
			    "socket activation (%d socket%s)", n_fds,
			    n_fds == 1 ? "" : "s");
		} else if ((fd = bind_listen(cfg->listen, h->address,
		    sizeof h->address, err)) == -1)
			goto fail;
		if ((h->mhd[h->n_mhd] = start_mhd(h, cfg, fd)) == NULL) {
			*err = xasprintf("libmicrohttpd failed to start on %s",
			    h->address);
			if (n_fds == 0)
				close(fd);
			goto fail;
		}
		h->n_mhd++;
	}
	return h;
fail:
	http_free(h);
	return NULL;
}

const char *
http_address(const struct http *h)
{
	return h->address;
}

void
http_free(struct http *h)
{
	int i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n_mhd; i++) {
		MHD_socket fd = MHD_quiesce_daemon(h->mhd[i]);

		MHD_stop_daemon(h->mhd[i]);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	/* Every connection is closed now: the watchdog has nothing left. */
	if (h->watching) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_signal(&h->wake);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->watchdog, NULL);
	}
	/* The last count of unlogged refusals is not lost. */
	pthread_mutex_lock(&h->log_lock);
	refusal_window(h, util_mono_msec(), true);
	pthread_mutex_unlock(&h->log_lock);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->log_lock);
	auth_dedupe_free(h->dedupe);
	free(h);
}
