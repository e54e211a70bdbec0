/*
 * The operator's page: a listener of its own (admin_listen: a Unix socket
 * or ADDR:PORT, never the webhook listener) serving a server-rendered page
 * and the JSON API behind it (admin_api.c): status, sinks, the recent
 * deliveries (deliveries.h), the dead letters and their replay.
 */
#ifndef ADMIN_H
#define ADMIN_H

#include <stdbool.h>

struct admin;
struct config;
struct runtime;

/* Starts serving cfg's admin_listen (NULL when it has none: returns NULL
 * with *err NULL). The token is cfg's admin_token at start. Returns NULL
 * with *err on failure. */
struct admin	*admin_new(struct runtime *, const struct config *cfg,
		    char **err);
/* The address served, for the log line. */
const char	*admin_address(const struct admin *);
/* The daemon loop's tick: samples the backlog for the chart. */
void		 admin_tick(struct admin *);
/* A reload was done (err NULL) or refused (err says why). */
void		 admin_reloaded(struct admin *, const char *err);
/* Stops serving and frees; NULL is a no-op. */
void		 admin_free(struct admin *);

#endif
