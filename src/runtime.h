/*
 * The one runtime for every mode: the current generation (configuration +
 * dispatcher, swapped whole on reload), the retired ones until they are
 * reaped, the queue bound they share, the counters and the stopping flag.
 * The inputs hand it events: the HTTP front (runtime_ingest, holding a
 * generation for the length of a request) and the Redis source
 * (runtime_room, runtime_submit). Callers see neither struct: they use
 * the functions below.
 */
#ifndef RUNTIME_H
#define RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

struct config;
struct dispatch_hooks;
struct dispatch_stats;
struct gen;
struct ld_event;
struct runtime;
struct spool;

/*
 * Takes ownership of cfg. hooks are what every generation's dispatcher
 * calls as the sinks finish with an event: those of an input that
 * acknowledges its events itself (the Redis source), which then has no
 * spool; NULL for the spool of spool_dir, which is opened and recovered
 * into the first generation. The dispatcher starts nothing until
 * runtime_start. Returns NULL with *err.
 */
struct runtime	*runtime_new(struct config *cfg,
		    const struct dispatch_hooks *hooks, char **err);
void		 runtime_start(struct runtime *);
void		 runtime_free(struct runtime *);	/* NULL: no-op */

/*
 * The contract of a generation reference: runtime_acquire returns the
 * current generation with a reference taken, for as long as one request
 * (or one reload check, one scrape) needs it. Until the holder calls
 * runtime_release, exactly once and from any thread, the generation, its
 * configuration and its dispatcher stay as they are: a reload retires it
 * but frees nothing a reference holds, and runtime_reap frees it only once
 * the last reference is back and its queue is empty. Neither call blocks
 * beyond the runtime's lock, which is only ever held briefly.
 */
struct gen	*runtime_acquire(struct runtime *);
void		 runtime_release(struct gen *);
/* What a held generation runs with: its configuration. */
const struct config *runtime_config(const struct gen *);
/* Whether an event of len bytes would fit in the queue bound now: NULL
 * when it fits, else the refusal's text.
 * With a spool, only spool_max and spool_min_free refuse. */
const char	*runtime_no_room(struct gen *, size_t len);

/* The counters (for /metrics and the status line). */
struct metrics	*runtime_metrics(struct runtime *);
/* The spool, NULL without spool_dir. */
struct spool	*runtime_spool(struct runtime *);
/* The ring of recent deliveries (the operator's page). */
struct deliveries *runtime_deliveries(struct runtime *);
/* Whether the daemon stops (answer 503, /healthz not ready). */
bool		 runtime_stopping(const struct runtime *);

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
/* The status line's text: events accepted, queued, failed deliveries. */
void		 runtime_status(struct runtime *, char *buf, size_t len);
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

/*
 * For an input that keeps the queue bound itself, before it reads (the
 * Redis source): how many more events fit now, and the hand-over of one it
 * read, which then goes past the bound and is not refused while the daemon
 * stops, only once the generations are drained. runtime_submit hands ev
 * (taking a reference) to the generation that holds its conversation, as
 * runtime_ingest does, and counts it accepted; 0, or -1 when refused.
 */
size_t		 runtime_room(struct runtime *);
int		 runtime_submit(struct runtime *, struct ld_event *);

/* Answers 503 from now on (and /healthz not ready). */
void		 runtime_refuse(struct runtime *);
/* Drains every generation against one shutdown_grace deadline. */
void		 runtime_shutdown(struct runtime *);

#endif
