/*
 * The HTTP front, on libmicrohttpd: routing, method, who may enter
 * (auth.c), media type and size limits checked on the first callback
 * before any body is read, the body collected up to max_body, its
 * signature checked, then parsed and handed to the runtime. Every answer
 * is a small JSON object; every refusal is counted and logged once.
 * Connections are tracked so that a request that takes too long as a
 * whole, however it trickles, is cut off.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
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

/* One TCP connection, from accept to close: its peer, and when its
 * current request (or the wait for the next one) began. */
struct conn {
	struct conn	*prev, *next;
	int		 fd;
	struct netaddr	 peer;
	int64_t		 since_ms;
	bool		 cut;		/* shut down by us */
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
	/* The connections, and the watchdog that cuts the slow ones. */
	pthread_mutex_t		 lock;
	pthread_cond_t		 wake;
	pthread_t		 watchdog;
	bool			 watching;
	bool			 stop;
	struct conn		*conns;
};

/* One request's state, from the first callback to the completed one. */
struct req {
	struct gen	*gen;
	char		*body;
	size_t		 len;
	size_t		 cap;
	uint64_t	 expect;	/* Content-Length, 0 if none */
	uint64_t	 discarded;	/* past max_body */
	bool		 too_big;
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

static enum MHD_Result
reply(struct http *h, struct MHD_Connection *c, unsigned status,
    const char *body, const char *hname, const char *hvalue)
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
	    MHD_NO)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	metrics_request(&h->rt->metrics, status);
	return ret;
}

/* {"ok":false,"error":MSG}, escaped by jansson. */
static enum MHD_Result
reply_error(struct http *h, struct MHD_Connection *c, unsigned status,
    const char *msg, const char *hname, const char *hvalue)
{
	json_t *o = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	enum MHD_Result ret;

	json_decref(o);
	ret = reply(h, c, status, body ? body :
	    "{\"ok\":false,\"error\":\"internal error\"}", hname, hvalue);
	free(body);
	return ret;
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
refuse(struct http *h, struct MHD_Connection *c, const char *client,
    unsigned status, int drop, const char *reason, const char *hname,
    const char *hvalue)
{
	char *shown = util_escape(reason, 200);

	log_info("refused %u from %s: %s", status, client, shown);
	free(shown);
	if (drop >= 0)
		metrics_drop(&h->rt->metrics, (enum metrics_drop)drop);
	return reply_error(h, c, status, reason, hname, hvalue);
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

/* The checks made before a single byte of the body is read. Returns
 * MHD_YES/MHD_NO after answering, or -1 to go on reading. */
static int
first_call(struct http *h, struct MHD_Connection *c, const char *url,
    const char *method, struct req **out)
{
	struct gen *g = runtime_acquire(h->rt);
	const struct config *cfg = g->cfg;
	struct auth_refusal no;
	struct auth_request ar;
	struct netaddr client;
	const char *ct, *cl, *token;
	struct req *r = xcalloc(1, sizeof *r);
	bool client_ok;
	int ret;

	r->gen = g;
	r->now = util_now_usec() / 1000000;
	if (cfg->trusted_proxies != NULL)
		MHD_get_connection_values(c, MHD_HEADER_KIND, join_forwarded,
		    &r->forwarded_for);
	request_view(c, r, &ar);
	client_ok = auth_client(cfg, &ar, &client) == 0;
	client_name(r->client, sizeof r->client, &client, &ar.peer);
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
	if (atomic_load(&h->rt->stopping) ||
	    !dispatch_has_room(g->disp, (size_t)r->expect)) {
		bool stopping = atomic_load(&h->rt->stopping);

		metrics_drop(&h->rt->metrics, stopping ? DROP_STOPPING :
		    DROP_QUEUE_FULL);
		ret = reply_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, stopping ?
		    "shutting down" : "queue full, retry later",
		    MHD_HTTP_HEADER_RETRY_AFTER, "5");
		goto answered;
	}
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

/* Collects the body up to max; past it, counts and forgets. Returns -1
 * when the client has sent max more beyond the limit: libmicrohttpd
 * 0.9.75 cannot answer before the body ends, and a body without a length
 * could go on for ever, so the connection is closed instead. */
static int
append_body(struct req *r, const char *data, size_t n, uint64_t max)
{
	if (r->too_big) {
		r->discarded += n;
		return r->discarded > max ? -1 : 0;
	}
	if (r->len + n > max) {
		/* Counted as it arrives (chunked bodies have no length). */
		r->too_big = true;
		r->discarded = r->len + n - max;
		free(r->body);
		r->body = NULL;
		r->len = r->cap = 0;
		return r->discarded > max ? -1 : 0;
	}
	if (r->len + n + 1 > r->cap) {
		/* The announced length at once, else doubling. */
		r->cap = r->cap ? r->cap : r->expect > 0 ? r->expect + 1 : 4096;
		while (r->cap < r->len + n + 1)
			r->cap *= 2;
		r->body = xrealloc(r->body, r->cap);
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return 0;
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
	const struct config *cfg = r->gen->cfg;
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
		metrics_drop(&h->rt->metrics, DROP_DUPLICATE);
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
		settle_claim(h, r, false);
		return reply_error(h, c, status == 507 ? 503 : (unsigned)status,
		    atomic_load(&h->rt->stopping) ? "shutting down" :
		    status == 507 ? "cannot write the spool, retry later" :
		    "queue full, retry later", MHD_HTTP_HEADER_RETRY_AFTER, "5");
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
	    (int)r->gen->cfg->max_depth, &err);
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
	if (atomic_load(&h->rt->stopping))
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
	bool spooled = h->rt->spool != NULL &&
	    spool_status(h->rt->spool, NULL, &ss, &err) == 0;

	free(err);
	runtime_stats(h->rt, g, &ds);
	text = metrics_render(&h->rt->metrics, &ds, spooled ? &ss : NULL);
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
	metrics_request(&h->rt->metrics, MHD_HTTP_OK);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http *h = cls;
	struct req *r = *con_cls;
	int first;

	(void)version;
	if (r == NULL) {
		bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

		if (get && strcmp(url, "/healthz") == 0)
			return serve_health(h, c);
		if (get && strcmp(url, "/metrics") == 0)
			return serve_metrics(h, c);
		if ((first = first_call(h, c, url, method, &r)) != -1)
			return (enum MHD_Result)first;
		*con_cls = r;
		return MHD_YES;
	}
	if (atomic_load(&r->answer) != 0)
		return answer_ingest(h, c, r, atomic_load(&r->answer));
	if (*upload_data_size > 0) {
		if (append_body(r, upload_data, *upload_data_size,
		    r->gen->cfg->max_body) == -1) {
			/* Counted as the 413 it would have been. */
			log_info("refused 413 from %s: body without a length "
			    "went on past twice max_body; connection closed",
			    r->client);
			metrics_drop(&h->rt->metrics, DROP_TOO_LARGE);
			metrics_request(&h->rt->metrics,
			    MHD_HTTP_CONTENT_TOO_LARGE);
			return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->too_big)
		return refuse(h, c, r->client, MHD_HTTP_CONTENT_TOO_LARGE,
		    DROP_TOO_LARGE, "body larger than max_body", NULL, NULL);
	return accept_event(h, c, r);
}

/* The connection a request came on, as on_connection recorded it. */
static struct conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct req *r = *con_cls;
	struct conn *k = conn_of(c);

	(void)toe;
	/* The next request on this connection gets a clock of its own. */
	if (k != NULL) {
		pthread_mutex_lock(&h->lock);
		k->since_ms = util_mono_msec();
		pthread_mutex_unlock(&h->lock);
	}
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
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* Counts the live connections from a (the caller holds the lock). */
static long long
conns_from(const struct http *h, const struct netaddr *a)
{
	const struct conn *k;
	long long n = 0;

	for (k = h->conns; k != NULL; k = k->next)
		if (!k->cut && netaddr_equal(&k->peer, a))
			n++;
	return n;
}

/*
 * Tracks every connection, for the watchdog, and enforces
 * max_connections_per_ip here rather than in libmicrohttpd: a trusted
 * proxy carries many clients on its connections and is not limited.
 * A connection over the limit is shut down at once.
 */
static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct http *h = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn *k;
	struct gen *g;
	char a[NETADDR_STRLEN];
	bool proxy, over = false;

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
	proxy = netaddr_list_has(g->cfg->proxy_nets, &k->peer);
	runtime_release(g);
	pthread_mutex_lock(&h->lock);
	if (h->max_per_ip > 0 && !proxy &&
	    conns_from(h, &k->peer) >= h->max_per_ip) {
		k->cut = over = true;
		if (k->fd >= 0)
			shutdown(k->fd, SHUT_RDWR);
	}
	k->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = k;
	h->conns = k;
	pthread_mutex_unlock(&h->lock);
	*socket_context = k;
	if (over) {
		netaddr_format(&k->peer, a, sizeof a);
		log_info("refused 429 from %s: more than %lld connections from "
		    "this address; connection closed", a, h->max_per_ip);
		metrics_request(&h->rt->metrics, 429);
	}
}

/*
 * libmicrohttpd's timeout is an idle timeout: a client that sends a byte
 * every few seconds keeps a connection for ever. The watchdog gives each
 * request request_timeout in all, headers included, and shuts the socket
 * down when it is spent; libmicrohttpd then sees the connection end and
 * closes it on its own thread.
 */
static void *
watchdog(void *arg)
{
	struct http *h = arg;
	struct timespec until;
	struct conn *k;
	char a[NETADDR_STRLEN];
	int64_t now;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		now = util_mono_msec();
		for (k = h->conns; k != NULL; k = k->next) {
			if (k->cut || now - k->since_ms < h->request_timeout_ms)
				continue;
			k->cut = true;
			if (k->fd >= 0)
				shutdown(k->fd, SHUT_RDWR);
			netaddr_format(&k->peer, a, sizeof a);
			log_info("refused 408 from %s: no complete request "
			    "within request_timeout; connection closed", a);
			metrics_request(&h->rt->metrics, 408);
		}
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
	 * 431 by libmicrohttpd itself. The per-address limit is ours (see
	 * on_connection). */
	return MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
	    MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
	    on_request, h,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
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
	pthread_mutex_init(&h->lock, NULL);
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
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	auth_dedupe_free(h->dedupe);
	free(h);
}
