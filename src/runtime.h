/*
 * The one runtime object: the current generation (configuration +
 * dispatcher, swapped whole on reload), the counters, and the stopping
 * flag. HTTP threads hold a reference to a generation for the length of a
 * request; a retired generation is freed once nobody holds it and its
 * queue is empty.
 */
#ifndef RUNTIME_H
#define RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "metrics.h"

struct config;
struct dispatch;
struct ld_event;

struct gen {
	struct config	*cfg;
	struct dispatch	*disp;
	atomic_int	 refs;
	struct gen	*next;		/* retired list */
};

struct runtime {
	struct metrics	 metrics;
	atomic_bool	 stopping;	/* answer 503, /healthz not ready */
	/* Guards cur and the retired list; held only to swap pointers. */
	pthread_mutex_t	 lock;
	struct gen	*cur;
	struct gen	*retired;
};

/* Takes ownership of cfg. Returns NULL with *err. */
struct runtime	*runtime_new(struct config *cfg, char **err);
void		 runtime_free(struct runtime *);	/* NULL: no-op */

struct gen	*runtime_acquire(struct runtime *);
void		 runtime_release(struct gen *);

/* Builds a generation from cfg (taking ownership) and swaps it in; on
 * failure keeps the current one and returns -1 with *err. */
int		 runtime_reload(struct runtime *, struct config *cfg,
		    char **err);
/* Frees retired generations that are finished. */
void		 runtime_reap(struct runtime *);
/* Reopens the files of the current generation's sinks. */
void		 runtime_reopen(struct runtime *);

/*
 * Hands a parsed event to the current generation. Returns the HTTP status
 * to answer: 200, or 503 when the queue is full or the daemon stops.
 */
int		 runtime_ingest(struct runtime *, struct gen *,
		    struct ld_event *);

/* Drains every generation (up to grace each) and stops the sinks. */
void		 runtime_shutdown(struct runtime *);

#endif
