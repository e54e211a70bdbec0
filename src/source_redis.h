/*
 * Worker mode (--worker, or a [source] section): events come from a Redis
 * stream through a consumer group instead of HTTP, and go to the
 * configured sinks through the dispatcher, exactly as received events do.
 * An entry is acknowledged (XACK) once every matching sink has finished
 * with it; entries a dead worker left pending are claimed (XAUTOCLAIM)
 * after claim_after; entries that cannot be read, or whose sinks gave up,
 * go to the dead-letter stream first.
 */
#ifndef SOURCE_REDIS_H
#define SOURCE_REDIS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct source_redis;

/*
 * Starts the sinks of cfg (taking ownership of cfg) and the thread that
 * reads the stream. consumer, when not NULL, overrides the [source] one.
 * A Redis that cannot be reached yet is not an error: the reader keeps
 * trying. Returns NULL with *err.
 */
struct source_redis *source_redis_new(struct config *cfg,
		    const char *consumer, char **err);
/* A new configuration (taking ownership of cfg): the reader pauses,
 * lets the entries in hand finish, and goes on with the new sinks. The
 * [source] itself takes a restart to change. -1 with *err keeps the old. */
int		 source_redis_reload(struct source_redis *, struct config *cfg,
		    char **err);
/* Reopens the sinks' files (SIGHUP). */
void		 source_redis_reopen(struct source_redis *);
/* One line for STATUS=. */
void		 source_redis_status(struct source_redis *, char *buf,
		    size_t len);
/* The shutdown_grace of the configuration in use. */
int64_t		 source_redis_grace_ms(struct source_redis *);

/*
 * Stops reading, waits up to shutdown_grace for the entries in hand to
 * finish and be acknowledged, then cancels the rest (they stay pending in
 * the group, for this consumer's next start or another worker's claim).
 * Returns the number of entries left unacknowledged.
 */
size_t		 source_redis_drain(struct source_redis *);
void		 source_redis_free(struct source_redis *);	/* NULL: no-op */

#endif
