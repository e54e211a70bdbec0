/*
 * The HTTP front, on libmicrohttpd: routing, method, media type and size
 * limits checked on the first callback before any body is read, the body
 * collected up to max_body, then parsed and handed to the runtime. Every
 * answer is a small JSON object.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "config.h"
#include "dispatch.h"
#include "http.h"
#include "livedesk/event.h"
#include "log.h"
#include "runtime.h"
#include "util.h"

#define HTTP_MAX_DAEMONS 8

struct http {
	struct runtime		*rt;
	struct MHD_Daemon	*mhd[HTTP_MAX_DAEMONS];
	int			 n_mhd;
	char			 address[80];
};

/* One request's state, from the first callback to the completed one. */
struct req {
	struct gen	*gen;
	char		*body;
	size_t		 len;
	size_t		 cap;
	bool		 too_big;
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

static bool
is_webhook_path(const struct config *cfg, const char *url)
{
	return strcmp(url, cfg->path) == 0;
}

/* The checks made before a single byte of the body is read. Returns
 * MHD_YES/MHD_NO after answering, or -1 to go on reading. */
static int
first_call(struct http *h, struct MHD_Connection *c, const char *url,
    const char *method, struct req **out)
{
	struct gen *g = runtime_acquire(h->rt);
	const struct config *cfg = g->cfg;
	const char *ct, *cl;
	struct req *r;
	int ret;

	if (!is_webhook_path(cfg, url)) {
		ret = reply_error(h, c, MHD_HTTP_NOT_FOUND, "not found", NULL,
		    NULL);
		goto answered;
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
		ret = reply_error(h, c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method not allowed: use POST", MHD_HTTP_HEADER_ALLOW,
		    "POST");
		goto answered;
	}
	ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct != NULL && !json_media_type(ct)) {
		metrics_drop(&h->rt->metrics, DROP_MEDIA_TYPE);
		ret = reply_error(h, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    "Content-Type must be application/json", NULL, NULL);
		goto answered;
	}
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && strtoull(cl, NULL, 10) > cfg->max_body) {
		metrics_drop(&h->rt->metrics, DROP_TOO_LARGE);
		ret = reply_error(h, c, MHD_HTTP_CONTENT_TOO_LARGE,
		    "body larger than max_body", NULL, NULL);
		goto answered;
	}
	r = xcalloc(1, sizeof *r);
	r->gen = g;
	*out = r;
	return -1;
answered:
	runtime_release(g);
	return ret;
}

static void
append_body(struct req *r, const char *data, size_t n, uint64_t max)
{
	if (r->too_big)
		return;
	if (r->len + n > max) {
		/* Counted as it arrives (chunked bodies have no length). */
		r->too_big = true;
		free(r->body);
		r->body = NULL;
		r->len = r->cap = 0;
		return;
	}
	if (r->len + n + 1 > r->cap) {
		r->cap = r->cap ? r->cap : 4096;
		while (r->cap < r->len + n + 1)
			r->cap *= 2;
		r->body = xrealloc(r->body, r->cap);
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
}

/* The answer to an event the runtime has taken (200) or refused. */
static enum MHD_Result
answer_ingest(struct http *h, struct MHD_Connection *c, struct req *r,
    int status)
{
	char ok[128];

	/* 507 is ours for "the spool cannot be written": the sender sees 503
	 * and retries, like for a full queue. */
	if (status != 200)
		return reply_error(h, c, status == 507 ? 503 : (unsigned)status,
		    atomic_load(&h->rt->stopping) ? "shutting down" :
		    status == 507 ? "cannot write the spool, retry later" :
		    "queue full, retry later", MHD_HTTP_HEADER_RETRY_AFTER, "5");
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

	ev = ld_event_parse(r->body ? r->body : "", r->len,
	    (int)r->gen->cfg->max_depth, &err);
	if (ev == NULL) {
		metrics_drop(&h->rt->metrics, err.status == 422 ?
		    DROP_NO_EVENT : DROP_BAD_JSON);
		return reply_error(h, c, (unsigned)err.status, err.text, NULL,
		    NULL);
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
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;

	dispatch_stats(g->disp, &ds);
	runtime_release(g);
	text = metrics_render(&h->rt->metrics, &ds);
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
		append_body(r, upload_data, *upload_data_size,
		    r->gen->cfg->max_body);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->too_big) {
		metrics_drop(&h->rt->metrics, DROP_TOO_LARGE);
		return reply_error(h, c, MHD_HTTP_CONTENT_TOO_LARGE,
		    "body larger than max_body", NULL, NULL);
	}
	return accept_event(h, c, r);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	runtime_release(r->gen);
	free(r->body);
	free(r);
	*con_cls = NULL;
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

static struct MHD_Daemon *
start_mhd(struct http *h, const struct config *cfg, int fd)
{
	unsigned timeout = (unsigned)(cfg->connection_timeout_ms / 1000);

	return MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
	    MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
	    on_request, h,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)cfg->max_connections_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, timeout,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	    MHD_OPTION_END);
}

struct http *
http_new(struct runtime *rt, const struct config *cfg, int first_fd,
    int n_fds, char **err)
{
	struct http *h = xcalloc(1, sizeof *h);
	int i, fd;

	h->rt = rt;
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
	free(h);
}
