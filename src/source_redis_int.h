/*
 * What the three files of the Redis source share, and nobody else sees:
 * source_redis.c the [source] keys and the glue (start, stop, status),
 * source_redis_read.c the reader, source_redis_ack.c the entries in hand,
 * the acker and the dispatch hooks that feed it.
 *
 * Threads and connections (hiredis is not thread-safe per connection):
 *  - the reader owns one connection: XGROUP CREATE, XREADGROUP (its own
 *    pending entries first, then new ones, BLOCK 1s so that it notices a
 *    stop), XAUTOCLAIM of entries other workers left idle; it hands
 *    entries to the runtime in stream order, never more than the queue
 *    bound the runtime has room for;
 *  - the dispatchers' workers run the sinks and call the hooks, which
 *    only queue work for the acker;
 *  - the acker owns the other connection: dead letters (XADD to the
 *    dead-letter stream) and then XACKs, in the order they were queued,
 *    so that an entry is never acknowledged before its dead letter is
 *    written; and, every claim_after/3, an XCLAIM ... JUSTID of the
 *    entries in hand, which resets their idle time so that no other
 *    worker claims an entry whose script is merely slow.
 * One mutex guards the entries in hand and the acker's queue.
 */
#ifndef SOURCE_REDIS_INT_H
#define SOURCE_REDIS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"

struct codec_stream_dead;
struct entry;
struct op;
struct redis_url;
struct runtime;
struct source_conf;

/* The longest entry id taken ("1700000000000-0" is 15). */
#define SOURCE_REDIS_ID_MAX	48

struct source_redis {
	/* [source], fixed at start: source_redis.c's copy (it outlives
	 * reloads), and what the reader and the acker read of it. */
	struct source_conf	*conf;
	const struct redis_url	*url;
	const char		*stream;
	const char		*group;
	const char		*dead_letters;
	int64_t			 claim_after_ms;
	int64_t			 timeout_ms;
	size_t			 batch;
	char			*consumer;
	struct runtime		*rt;		/* where the events go */
	struct dispatch_hooks	 hooks;		/* source_redis_ack.c's */

	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;		/* the reader's: room, stop */
	pthread_cond_t		 ops_cond;	/* the acker's: work, stop */
	struct entry		*held;		/* the entries in hand */
	size_t			 n_held;
	struct entry		**buckets;	/* by event */
	size_t			 n_buckets;
	struct op		*ops, *ops_tail;
	bool			 acker_quit;
	int64_t			 acker_deadline;
	uint64_t		 done, dead, claimed;

	atomic_bool		 reader_stop;
	pthread_t		 reader, acker;
	bool			 reader_started, acker_started;
};

/* Waits on cond (CLOCK_MONOTONIC) with lock held, for at most ms. */
void	 source_redis_wait(pthread_cond_t *cond, pthread_mutex_t *lock,
	    int64_t ms);

/* --- source_redis_ack.c --- */

/* Puts the entry id in hand, with its event (a reference is taken) or
 * NULL when it is not one; it stays in hand until acknowledged. */
struct entry *source_redis_ack_hold(struct source_redis *, const char *id,
	    struct ld_event *ev);
/* Whether the entry id is in hand already (a re-read, a claim). */
bool	 source_redis_ack_holds(struct source_redis *, const char *id);
/* The entry leaves the hand unacknowledged: it stays pending. */
void	 source_redis_ack_drop(struct source_redis *, struct entry *);
/* Acknowledges the entry, after its dead letter d when d is not NULL
 * (d names the entry and this worker once queued). */
void	 source_redis_ack_entry(struct source_redis *, struct entry *,
	    struct codec_stream_dead *d);
/* The dispatch hooks (struct dispatch_hooks), arg = the source. */
void	 source_redis_ack_sink_done(void *arg, struct ld_event *,
	    const char *sink, const struct sink_result *, int attempts);
void	 source_redis_ack_event_done(void *arg, struct ld_event *);
/* The acker thread (arg = the source), stopped once the sinks are done
 * (what is queued gets up to 3 s); then the ops and entries left are
 * freed. */
void	*source_redis_ack_main(void *arg);
void	 source_redis_ack_stop(struct source_redis *);
void	 source_redis_ack_free(struct source_redis *);

/* --- source_redis_read.c --- */

/* The reader thread (arg = the source), started once the runtime is
 * there; stopped before the drain (an XREADGROUP under way finishes
 * first, up to its BLOCK of 1 s). */
void	*source_redis_read_main(void *arg);
void	 source_redis_read_stop(struct source_redis *);

#endif
