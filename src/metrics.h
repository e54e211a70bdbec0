/* Counters for /metrics and the systemd status line. Updated from any
 * thread with relaxed atomics; read as a snapshot. */
#ifndef METRICS_H
#define METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "livedesk/event.h"

struct dispatch_stats;
struct spool_status;

/* Why a request did not become a dispatched event. */
enum metrics_drop {
	DROP_BAD_JSON,		/* 400 */
	DROP_NO_EVENT,		/* 422 */
	DROP_TOO_LARGE,		/* 413 */
	DROP_MEDIA_TYPE,	/* 415 */
	DROP_UNAUTHORIZED,	/* 401 */
	DROP_FORBIDDEN,		/* 403 */
	DROP_QUEUE_FULL,	/* 503 */
	DROP_SPOOL_ERROR,	/* 503 */
	DROP_STOPPING,		/* 503 */
	DROP_DUPLICATE,		/* 200, not dispatched again */
	DROP_BAD_REQUEST,	/* 400: framing, stray bytes */
	DROP_UNSUPPORTED,	/* 501: a transfer coding not ours */
	DROP_TOO_MANY,		/* 429: past max_per_ip */
	DROP_BUSY,		/* 503: max_connections, every one busy */
	DROP_BODY_MEMORY,	/* 503: past max_body_total */
	DROP_SPOOL_FULL,	/* 503: spool_max or spool_min_free */
	DROP_MAX
};

#define METRICS_STATUSES 18

struct metrics {
	int64_t		 start_usec;
	atomic_uint_fast64_t requests[METRICS_STATUSES];
	atomic_uint_fast64_t events[LD_EVENT_MESSAGE_UPDATED + 1];
	atomic_uint_fast64_t dropped[DROP_MAX];
	atomic_uint_fast64_t accepted;
};

void	metrics_init(struct metrics *);
void	metrics_request(struct metrics *, unsigned status);
void	metrics_event(struct metrics *, enum ld_event_kind);
void	metrics_drop(struct metrics *, enum metrics_drop);
/* Prometheus text format; ds and ss may be NULL. Returns a malloc'd
 * string. */
char	*metrics_render(const struct metrics *, const struct dispatch_stats *,
	    const struct spool_status *);

#endif
