/* The HTTP front (http.h): one libmicrohttpd daemon per listening socket,
 * and the daemon's own pages, /healthz and /metrics. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "auth.h"
#include "config.h"
#include "dispatch.h"
#include "http.h"
#include "http_int.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "spool.h"
#include "util.h"

/* Delivery ids kept for redelivery: 32 bytes each, 2 MiB at most; at
 * LiveDesk's rates that is hours of deliveries, beyond any window. */
#define HTTP_DEDUPE_MAX		65536

enum MHD_Result
http_serve_health(struct http *h, struct MHD_Connection *c)
{
	if (runtime_stopping(h->rt))
		return http_req_reply(h, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "{\"ok\":false,\"status\":\"stopping\"}", NULL, NULL);
	return http_req_reply(h, c, MHD_HTTP_OK,
	    "{\"ok\":true,\"status\":\"ready\"}", NULL, NULL);
}

enum MHD_Result
http_serve_metrics(struct http *h, struct MHD_Connection *c)
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

static void
mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * A request libmicrohttpd answered itself, before any of ours saw it (a
 * target or headers too long, an HTTP version it does not speak, a
 * Content-Length it cannot read): it says so only in its log, with the
 * status. Counted and logged as our refusals are, since the sender never
 * retries and each is an event lost. Returns whether msg was one.
 */
static bool
mhd_refusal(struct http *h, const char *msg)
{
	static const char prefix[] = "Error processing request (HTTP "
	    "response code is ";
	unsigned status;

	if (strncmp(msg, prefix, sizeof prefix - 1) != 0 ||
	    sscanf(msg + sizeof prefix - 1, "%u", &status) != 1 ||
	    status < 400 || status > 599)
		return false;
	metrics_request(runtime_metrics(h->rt), status);
	metrics_drop(runtime_metrics(h->rt), status == 413 || status == 414 ||
	    status == 431 ? DROP_TOO_LARGE : DROP_BAD_REQUEST);
	http_conn_log_refusal(h, "refused %u: answered by libmicrohttpd "
	    "itself (%s)", status, status == 414 ? "request target too long" :
	    status == 431 ? "headers too large" : status == 413 ?
	    "Content-Length too large" : status == 505 ?
	    "HTTP version not supported" : "malformed request");
	return true;
}

/* libmicrohttpd's own messages, as debug lines through our log: they
 * tell of sockets closed and the like, which the one line per refused
 * request already says; escaped, as they may quote request bytes. */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap), *shown;

	msg[strcspn(msg, "\n")] = '\0';
	if (!mhd_refusal(cls, msg)) {
		shown = util_escape(msg, 300);
		log_debug("libmicrohttpd: %s", shown);
		free(shown);
	}
	free(msg);
}

static struct MHD_Daemon *
start_mhd(struct http *h, const struct config *cfg, int fd)
{
	unsigned timeout = (unsigned)(cfg->connection_timeout_ms / 1000);

	/* Headers that do not fit in the connection's memory are answered
	 * 431 by libmicrohttpd itself. The connection limits are ours (see
	 * http_conn_on_connection): libmicrohttpd's own, set above them,
	 * leaves room for the connections being closed to make room, and
	 * only past it does it stop accepting. */
	return MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
	    MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
	    http_req_on_request, h,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->max_connections +
	    cfg->max_connections / 4 + 16),
	    MHD_OPTION_URI_LOG_CALLBACK, http_req_on_target, h,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->max_header_size,
	    MHD_OPTION_CONNECTION_TIMEOUT, timeout,
	    MHD_OPTION_NOTIFY_COMPLETED, http_req_on_completed, h,
	    MHD_OPTION_NOTIFY_CONNECTION, http_conn_on_connection, h,
	    MHD_OPTION_END);
}

struct http *
http_new(struct runtime *rt, const struct config *cfg, int first_fd,
    int n_fds, char **err)
{
	struct http *h = xcalloc(1, sizeof *h);
	int i, fd;

	h->rt = rt;
	h->dedupe = auth_dedupe_new(HTTP_DEDUPE_MAX);
	atomic_init(&h->body_bytes, 0);
	/* First: http_free stops the table whatever failed after. */
	if (http_conn_start(h, cfg, err) == -1)
		goto fail;
	if (n_fds > HTTP_MAX_DAEMONS) {
		*err = xasprintf("%d sockets passed, at most %d served", n_fds,
		    HTTP_MAX_DAEMONS);
		goto fail;
	}
	for (i = 0; i < (n_fds > 0 ? n_fds : 1); i++) {
		if ((fd = http_listen_socket(cfg->listen, first_fd, n_fds, i,
		    h->address, sizeof h->address, err)) == -1)
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
	/* No MHD_quiesce_daemon first: in libmicrohttpd 0.9.75 it races a
	 * worker thread that takes the listening socket out of its epoll
	 * set at the connection limit, and aborts the process when it loses
	 * ("Failed to remove listen FD from epoll set"). MHD_stop_daemon
	 * stops the threads before it lets the socket go, and closes it. */
	for (i = 0; i < h->n_mhd; i++)
		MHD_stop_daemon(h->mhd[i]);
	/* Every connection is closed now: the watchdog has nothing left. */
	http_conn_stop(h);
	auth_dedupe_free(h->dedupe);
	free(h);
}
