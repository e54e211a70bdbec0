/* The dispatcher: a bounded queue of accepted events and the worker threads
 * that deliver each to every sink whose filter matches, in order per
 * conversation and sink, with retries and backoff. */
#ifndef DISPATCH_H
#define DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "livedesk/event.h"
#include "livedesk/sink.h"

struct config;
struct dispatch;

/* Called on worker threads, without the dispatcher's lock held. */
struct dispatch_hooks {
	/* One sink is finished with an event: delivered (ok), or failed for
	 * good after its retries (!ok: a dead letter). */
	void	(*sink_done)(void *arg, struct ld_event *, const char *sink,
		    const struct sink_result *, int attempts);
	/* Every sink is finished with the event. */
	void	(*event_done)(void *arg, struct ld_event *);
	void	 *arg;
};

struct dispatch_sink_stats {
	const char	*name;
	const char	*type;
	uint64_t	 delivered;
	uint64_t	 failed;	/* attempts that failed */
	uint64_t	 retried;
	uint64_t	 dead;		/* given up after the last retry */
	uint64_t	 busy_msec;	/* time spent in deliver */
	uint64_t	 restarts;	/* exec persistent: processes restarted */
	/* Delivery time histogram, for /metrics. */
	uint64_t	 duration_le[12];	/* see dispatch_duration_bounds */
	uint64_t	 duration_count;
	/* In whole microseconds, so that sums over generations never
	 * go back by a rounding. */
	uint64_t	 duration_usec;
};

struct dispatch_stats {
	size_t		 queued;	/* events accepted, not yet finished */
	size_t		 queued_bytes;
	size_t		 retrying;	/* deliveries waiting for a retry */
	/* Sleeping workers woken for new work: far fewer than events
	 * under load, when hand-overs are batched. */
	uint64_t	 wakeups;
	size_t		 n_sinks;
	struct dispatch_sink_stats *sinks;	/* n_sinks, caller frees */
};

extern const double dispatch_duration_bounds[12];

/* Adds from's counters to to's: the same sink in another dispatcher. */
void		 dispatch_sink_stats_add(struct dispatch_sink_stats *to,
		    const struct dispatch_sink_stats *from);

/*
 * The queue bound (queue_size events, queue_bytes) and what counts against
 * it. A dispatcher has one of its own, or shares one: after a reload the
 * retired dispatcher keeps its busy conversations and takes their next
 * events, and those count against the same bound as the new one's.
 */
struct dispatch_bound;

struct dispatch_bound *dispatch_bound_new(const struct config *cfg);
/* Takes cfg's queue_size and queue_bytes (a reload); what is queued stays. */
void		 dispatch_bound_set(struct dispatch_bound *,
		    const struct config *cfg);
/* How many more events fit now: 0 once queue_bytes is reached (for an
 * input that bounds itself before it reads, the Redis source). */
size_t		 dispatch_bound_room(struct dispatch_bound *);
/* NULL is a no-op; every dispatcher sharing it must be freed before. */
void		 dispatch_bound_free(struct dispatch_bound *);

/* Starts the sinks of cfg and the worker threads. cfg must outlive the
 * dispatcher. Returns NULL with *err on failure. */
struct dispatch	*dispatch_new(const struct config *cfg,
		    const struct dispatch_hooks *, char **err);
/* The same, counting against bound, which must outlive the dispatcher
 * (NULL: a bound of its own from cfg, as dispatch_new). */
struct dispatch	*dispatch_new_shared(const struct config *cfg,
		    const struct dispatch_hooks *, struct dispatch_bound *bound,
		    char **err);

/* Flags for dispatch_submit. */
#define DISPATCH_FORCE	0x1	/* ignore the queue bound (recovery) */
#define DISPATCH_RESERVED 0x2	/* counted by dispatch_reserve already */
/* Counted per sink (queue_size and queue_bytes for each sink name, over
 * every dispatcher sharing the bound), forced, and not against the bound
 * overall: the spool's window, where a sink that is behind must hold back
 * only its own deliveries. Each sink's count goes back as that sink is
 * finished with the event. */
#define DISPATCH_LANES	0x4

/*
 * Queues ev for every matching sink, except those named in skip (sinks the
 * spool says are done; may be NULL). Takes a reference. Returns 0, or -1
 * when the queue is full or closed (the caller answers 503).
 */
int		 dispatch_submit(struct dispatch *, struct ld_event *,
		    const char *const *skip, size_t n_skip, int flags);
/* Whether an event of len bytes would fit now. */
bool		 dispatch_has_room(struct dispatch *, size_t len);
/*
 * Counts an event of len bytes against the bound if it fits now, for the
 * spool, which must know before it writes and submits only once the event
 * is on disk (then with DISPATCH_RESERVED: the reservation becomes the
 * event's place, or is given back should the submit fail or match no
 * sink). Returns false when full or closed. dispatch_unreserve gives a
 * reservation back (the write failed).
 */
bool		 dispatch_reserve(struct dispatch *, size_t len);
void		 dispatch_unreserve(struct dispatch *, size_t len);
/* Queues ev for the sinks named in only (and matching), nothing else. */
int		 dispatch_submit_only(struct dispatch *, struct ld_event *,
		    const char *const *only, size_t n_only, int flags);
/* The same as dispatch_reserve for sink's own window (DISPATCH_LANES). */
bool		 dispatch_reserve_sink(struct dispatch *, const char *sink,
		    size_t len);
void		 dispatch_unreserve_sink(struct dispatch *, const char *sink,
		    size_t len);
/* The names (up to max) of the sinks ev goes to, or of every sink when ev
 * is NULL. Returns their count, which may be more than max. */
size_t		 dispatch_sink_names(struct dispatch *,
		    const struct ld_event *ev, char (*names)[65], size_t max);

/* While held, the workers start nothing: events queue up (recovery fills
 * the queue before the daemon is sure it can serve). */
void		 dispatch_hold(struct dispatch *, bool held);
/* Whether ev's conversation has an event here not yet finished (so that
 * after a reload the conversation stays with this dispatcher). */
bool		 dispatch_holds(struct dispatch *, const struct ld_event *);

void		 dispatch_reopen(struct dispatch *);
void		 dispatch_stats(struct dispatch *, struct dispatch_stats *);

/*
 * Refuses new events and waits until every queued event is finished or
 * grace_ms has passed; then cancels running deliveries and stops the
 * workers. Returns the number of events left unfinished.
 */
size_t		 dispatch_drain(struct dispatch *, int64_t grace_ms);
/* Stops (draining with no grace if needed) and frees. NULL is a no-op. */
void		 dispatch_free(struct dispatch *);

#endif
