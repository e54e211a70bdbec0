/* What the HTTP front's files (http*.c) share and no other module needs. */
#ifndef HTTP_INT_H
#define HTTP_INT_H

#include <sys/queue.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "log.h"
#include "netaddr.h"

struct auth_dedupe;
struct config;
struct runtime;

#define HTTP_MAX_DAEMONS 8

/* One TCP connection, from accept to close: its peer, and when its
 * current request (or the wait for the next one) began. */
struct http_conn {
	LIST_ENTRY(http_conn) link;	/* newest first */
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
	LIST_HEAD(, http_conn)	 conns;
	size_t			 n_conns;
	/* Refusal lines: a few a second, the rest counted. */
	struct log_rate		 refusals;
};

/* http.c */
/* The daemon's own pages, answered before any webhook check. */
enum MHD_Result http_serve_health(struct http *, struct MHD_Connection *);
enum MHD_Result http_serve_metrics(struct http *, struct MHD_Connection *);

/* http_req.c: libmicrohttpd's request callbacks (MHD_AccessHandlerCallback,
 * MHD_OPTION_NOTIFY_COMPLETED, MHD_OPTION_URI_LOG_CALLBACK). */
enum MHD_Result http_req_on_request(void *cls, struct MHD_Connection *,
	    const char *url, const char *method, const char *version,
	    const char *upload_data, size_t *upload_data_size, void **con_cls);
void	 http_req_on_completed(void *cls, struct MHD_Connection *,
	    void **con_cls, enum MHD_RequestTerminationCode);
void	*http_req_on_target(void *cls, const char *uri,
	    struct MHD_Connection *);
/* Queues a JSON answer, counted in /metrics; one header if hname is set. */
enum MHD_Result http_req_reply(struct http *, struct MHD_Connection *,
	    unsigned status, const char *body, const char *hname,
	    const char *hvalue);

/* http_conn.c */
/* Starts the connection table's watchdog, with the server limits of cfg.
 * Called first: http_conn_stop must follow even when it fails. Returns
 * -1 with *err. */
int	 http_conn_start(struct http *, const struct config *cfg, char **err);
/* Stops the watchdog once every connection is closed. */
void	 http_conn_stop(struct http *);
/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION: the table and its
 * limits. */
void	 http_conn_on_connection(void *cls, struct MHD_Connection *,
	    void **socket_context, enum MHD_ConnectionNotificationCode);
/* The table's entry for c, or NULL. */
struct http_conn *http_conn_of(struct MHD_Connection *c);
void	 http_conn_busy(struct http *, struct MHD_Connection *, bool busy);
void	 http_conn_complete(struct http *, struct MHD_Connection *);
void	 http_conn_answered(struct http *, struct MHD_Connection *);
/* One line per refused request, at most HTTP_LOG_BURST a second. */
void	 http_conn_log_refusal(struct http *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* http_listen.c */
/*
 * The socket the i-th daemon serves: with n_fds > 0 the one systemd
 * passed (first_fd + i), else listen_on, bound here. Writes what is
 * served into address. Returns -1 with *err.
 */
int	 http_listen_socket(const char *listen_on, int first_fd, int n_fds,
	    int i, char *address, size_t alen, char **err);

#endif
