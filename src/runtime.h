/*
 * The one runtime object: the current generation (configuration +
 * dispatcher, swapped whole on reload), the counters, and the stopping
 * flag. HTTP threads hold a reference to a generation for the length of a
 * request; a retired generation is freed once nobody holds it and its
 * queue is empty. The queue bound is one for every generation.
 */
#ifndef RUNTIME_H
#define RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "dispatch.h"
#include "metrics.h"

struct config;
struct ld_event;
struct spool;

struct gen {
	struct config	*cfg;
	struct dispatch	*disp;
	atomic_int	 refs;
	struct gen	*next;		/* retired list */
};

/* The counters of a sink in generations that are gone (reaped). */
struct runtime_sink_total {
	char			*name;
	struct dispatch_sink_stats st;	/* st.name is name */
};

struct runtime {
	struct metrics	 metrics;
	struct spool	*spool;		/* NULL without spool_dir */
	/* queue_size and queue_bytes over the events of every live
	 * generation; guarded by its own lock (see dispatch.c). */
	struct dispatch_bound *bound;
	atomic_bool	 stopping;	/* answer 503, /healthz not ready */
	/* Guards cur and the retired list; held to swap them, to take a
	 * reference, and to read every generation's counts at once. */
	pthread_mutex_t	 lock;
	struct gen	*cur;
	struct gen	*retired;
	/* Under lock too: by sink name and type, so that a reload restarts
	 * no counter (a generation's counts move here as it is reaped). */
	struct runtime_sink_total *gone;
	size_t		 n_gone;
	/* Readers: requests handing an event over; the writer: shutdown,
	 * setting stopping. */
	pthread_rwlock_t ingest_lock;
};

/* Takes ownership of cfg, and recovers the spool into the dispatcher,
 * which starts nothing until runtime_start. Returns NULL with *err. */
struct runtime	*runtime_new(struct config *cfg, char **err);
void		 runtime_start(struct runtime *);
void		 runtime_free(struct runtime *);	/* NULL: no-op */

struct gen	*runtime_acquire(struct runtime *);
void		 runtime_release(struct gen *);

/* Builds a generation from cfg (taking ownership) and swaps it in; on
 * failure keeps the current one and returns -1 with *err. */
int		 runtime_reload(struct runtime *, struct config *cfg,
		    char **err);
/* Frees retired generations that are finished. */
void		 runtime_reap(struct runtime *);
/*
 * For /metrics and the status line: the queue of every live generation,
 * and the sinks of g, which the caller holds (their names point into its
 * configuration), each with the counts of the sink of the same name and
 * type in every generation before, live or reaped: monotonic across
 * reloads. The caller frees st->sinks.
 */
void		 runtime_stats(struct runtime *, struct gen *g,
		    struct dispatch_stats *st);
/* Reopens the files of the current generation's sinks. */
void		 runtime_reopen(struct runtime *);

/* Called once an event is durable (200) or refused (503, 507). */
typedef void (*runtime_ingest_fn)(void *arg, int status);

/* Whether runtime_ingest answers later, through its callback (a durable
 * spool), so that the caller must be ready to wait. */
bool		 runtime_ingest_waits(const struct runtime *);
/*
 * Hands a parsed event to generation g (taking a reference). Returns the
 * HTTP status to answer now: 200, 503 when the queue is full or the daemon
 * stops; or 0 when the answer will come through fn, from another thread,
 * once the spool has the event on disk (then fn gets 200, or 507 when the
 * spool cannot be written).
 */
int		 runtime_ingest(struct runtime *, struct gen *,
		    struct ld_event *, runtime_ingest_fn fn, void *arg);

/* Answers 503 from now on (and /healthz not ready). */
void		 runtime_refuse(struct runtime *);
/* Drains every generation against one shutdown_grace deadline. */
void		 runtime_shutdown(struct runtime *);

#endif
