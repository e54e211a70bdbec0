/* The HTTP front: libmicrohttpd, routing, limits, answers. It never runs a
 * sink: an accepted event is handed to the runtime and answered. */
#ifndef HTTP_H
#define HTTP_H

struct runtime;
struct config;
struct http;

/*
 * Starts serving. With n_fds > 0 serves the sockets first_fd .. (socket
 * activation); otherwise binds cfg->listen. Server limits come from cfg
 * (they need a restart to change). Returns NULL with *err.
 */
struct http	*http_new(struct runtime *, const struct config *cfg,
		    int first_fd, int n_fds, char **err);
/* The address actually bound, e.g. "127.0.0.1:8080". */
const char	*http_address(const struct http *);
void		 http_free(struct http *);	/* NULL is a no-op */

#endif
