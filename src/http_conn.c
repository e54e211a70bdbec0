/* The connection table: every connection from accept to close, the limits
 * on them, the watchdog that cuts slow requests, and the refusal log. */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "config.h"
#include "http_int.h"
#include "log.h"
#include "netaddr.h"
#include "runtime.h"
#include "util.h"

/* How often the watchdog looks for requests past request_timeout. */
#define HTTP_WATCH_MSEC		200
/* Refusal lines: this many a second, the rest counted and the count
 * logged once the second is over (log_rate). A flood leaves a trace,
 * not a disk's worth of lines. */
#define HTTP_LOG_BURST		20
/* After an answer sent while the body still arrives: how long, and how
 * much more, the rest is read and dropped before the connection closes. */
#define HTTP_DRAIN_MSEC		1000
/* How often, and after how long in a request, the watchdog looks for
 * connections whose client has gone (see client_left). */
#define HTTP_SWEEP_MSEC		1000
#define HTTP_GONE_MSEC		1000

/* Says how many refusals the last second did not log one by one. */
static void
refusals_held(uint64_t held, int64_t span_ms)
{
	if (held > 0)
		log_info("refused %llu more requests in the last %lld ms, not "
		    "logged one by one (at most %d lines a second; "
		    "/metrics counts them all)", (unsigned long long)held,
		    (long long)span_ms, HTTP_LOG_BURST);
}

/* Logs one refused request or connection: the sender never retries, so
 * each is a customer message lost, and the log is where it shows. Under
 * a flood only HTTP_LOG_BURST lines a second are written; the others are
 * counted and their number logged when the second is over. */
void
http_conn_log_refusal(struct http *h, const char *fmt, ...)
{
	uint64_t held;
	int64_t span;
	va_list ap;
	bool show;

	show = log_rate_allow(&h->refusals, HTTP_LOG_BURST, &held, &span);
	refusals_held(held, span);
	if (!show)
		return;
	va_start(ap, fmt);
	log_vctx(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

/* The connection a request came on, as http_conn_on_connection recorded
 * it. */
struct http_conn *
http_conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* Marks a connection busy (a request past its headers: not to be closed
 * to make room) or idle again. */
void
http_conn_busy(struct http *h, struct MHD_Connection *c, bool busy)
{
	struct http_conn *k = http_conn_of(c);

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
void
http_conn_complete(struct http *h, struct MHD_Connection *c)
{
	struct http_conn *k = http_conn_of(c);

	if (k == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	k->complete = true;
	pthread_mutex_unlock(&h->lock);
}

/* Marks the request on c as answered before its body ended: what the
 * client still sends is drained for HTTP_DRAIN_MSEC from now. */
void
http_conn_answered(struct http *h, struct MHD_Connection *c)
{
	struct http_conn *k = http_conn_of(c);

	if (k == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	k->answered = true;
	k->since_ms = util_mono_msec();
	pthread_mutex_unlock(&h->lock);
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
	const struct http_conn *k;
	long long n = 0;

	LIST_FOREACH(k, &h->conns, link)
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
static struct http_conn *
make_room(struct http *h, struct http_conn *newest)
{
	struct http_conn *k, *idlest = NULL;
	size_t live = 0;

	LIST_FOREACH(k, &h->conns, link) {
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
void
http_conn_on_connection(void *cls, struct MHD_Connection *c,
    void **socket_context, enum MHD_ConnectionNotificationCode code)
{
	struct http *h = cls;
	const union MHD_ConnectionInfo *ci;
	struct http_conn *k, *room = NULL;
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
		LIST_REMOVE(k, link);
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
	LIST_INSERT_HEAD(&h->conns, k, link);
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
		http_conn_log_refusal(h, "closed an idle connection from %s "
		    "(idle %lld ms) to make room: max_connections (%lld) "
		    "reached", a, (long long)idle, h->max_conns);
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
	struct http_conn *k;
	char a[NETADDR_STRLEN];
	int64_t now, swept = util_mono_msec(), span;
	uint64_t held;
	bool sweep;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		now = util_mono_msec();
		if ((sweep = now - swept >= HTTP_SWEEP_MSEC))
			swept = now;
		LIST_FOREACH(k, &h->conns, link) {
			/* A client gone in the middle of its request: shutting
			 * our end down wakes libmicrohttpd up to close. */
			if (sweep && !k->cut && !k->complete &&
			    now - k->since_ms >= HTTP_GONE_MSEC &&
			    client_left(k->fd)) {
				k->cut = true;
				(void)shutdown(k->fd, SHUT_RDWR);
				continue;
			}
			/* A request received whole and not yet answered
			 * waits on us (a durable spool's commit), not on the
			 * client: its event may be accepted already. */
			if (k->cut || (k->complete && !k->answered) ||
			    now - k->since_ms < (k->answered ?
			    HTTP_DRAIN_MSEC : h->request_timeout_ms))
				continue;
			k->cut = true;
			if (k->fd >= 0)
				shutdown(k->fd, SHUT_RDWR);
			if (k->answered)
				continue;
			netaddr_format(&k->peer, a, sizeof a);
			http_conn_log_refusal(h, "refused 408 from %s: no "
			    "complete request within request_timeout; "
			    "connection closed", a);
			metrics_request(runtime_metrics(h->rt), 408);
		}
		/* A flood's count of unlogged refusals goes out when its
		 * second is over, even if nothing follows it. */
		held = log_rate_close(&h->refusals, false, &span);
		refusals_held(held, span);
		util_deadline(&until, HTTP_WATCH_MSEC);
		(void)pthread_cond_timedwait(&h->wake, &h->lock, &until);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int
http_conn_start(struct http *h, const struct config *cfg, char **err)
{
	pthread_condattr_t ca;
	int rc;

	h->request_timeout_ms = cfg->request_timeout_ms;
	h->max_per_ip = cfg->max_connections_per_ip;
	h->max_conns = cfg->max_connections;
	log_rate_init(&h->refusals);
	LIST_INIT(&h->conns);
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = pthread_create(&h->watchdog, NULL, watchdog, h)) != 0) {
		*err = xasprintf("cannot start the request watchdog: %s",
		    strerror(rc));
		return -1;
	}
	h->watching = true;
	return 0;
}

void
http_conn_stop(struct http *h)
{
	int64_t span;
	uint64_t held;

	if (h->watching) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_signal(&h->wake);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->watchdog, NULL);
	}
	/* The last count of unlogged refusals is not lost. */
	held = log_rate_close(&h->refusals, true, &span);
	refusals_held(held, span);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	log_rate_destroy(&h->refusals);
}
