/* What admin.c gathers for one request and the renderers (admin_page.c,
 * admin_api.c) turn into HTML or JSON: a copy, so that nothing renders
 * under a lock. */
#ifndef ADMIN_INT_H
#define ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin_esc.h"
#include "deliveries.h"

#define ADMIN_CHART	60	/* backlog samples: one a minute, an hour */

struct admin_sink {
	char		*name, *type;
	uint64_t	 delivered, failed, retried, dead;
	double		 p50, p99;	/* seconds; -1: no deliveries yet */
	char		 last_error[512];
};

struct admin_dead {
	char		*id;
	char		*event;
	char		*received_at, *failed_at;
	char		*reason;	/* each failure: sink, status, detail */
};

struct admin_filter {
	char		 event[40];
	int64_t		 conversation;	/* -1: any */
	char		 outcome[12];	/* "", "ok", "failed", "filtered" */
};

struct admin_view {
	const char	*version;
	int64_t		 uptime_s;
	unsigned	 generation;
	int64_t		 reload_usec;	/* 0: none since start */
	char		 reload_err[512];
	size_t		 backlog_events;
	uint64_t	 backlog_bytes;
	int64_t		 backlog_oldest_s;
	size_t		 retrying;	/* deliveries waiting for a retry */
	size_t		 chart[ADMIN_CHART];	/* oldest first */
	size_t		 n_chart;
	struct admin_sink *sinks;
	size_t		 n_sinks;
	struct delivery	*dl;		/* filtered, newest first */
	size_t		 n_dl;
	struct admin_filter filter;
	struct admin_dead *dead;
	size_t		 n_dead;
	bool		 spool;		/* there is a spool_dir */
	char		 replay_msg[512];
	char		 csrf[65];
	char		 nonce[33];
};

/* The page; detail: the delivery opened (NULL: none), payload its
 * payload pretty-printed or NULL when no longer kept. */
void	 admin_page_render(struct abuf *, const struct admin_view *,
	    const struct delivery *detail, const char *payload);
void	 admin_page_login(struct abuf *, const char *nonce, bool failed);
/* The JSON of /api/status, /api/deliveries, /api/dead-letters; malloc'd. */
char	*admin_api_status(const struct admin_view *);
char	*admin_api_deliveries(const struct admin_view *);
char	*admin_api_delivery(const struct delivery *, const char *payload);
char	*admin_api_dead(const struct admin_view *);

#endif
