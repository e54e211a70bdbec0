/*
 * Worker mode (--worker, or a [source] section): events come from a Redis
 * stream through a consumer group instead of HTTP, and go to the runtime,
 * exactly as received events do: an input, like the HTTP front, with no
 * lifecycle of its own (the daemon's reload, drain and status serve it).
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
struct dispatch_hooks;
struct runtime;
struct source_redis;

/*
 * The source, before the runtime: its [source] (cfg's, or the defaults
 * under --worker without one) and its consumer name (consumer, when not
 * NULL, overrides the [source] one). Returns NULL with *err.
 */
struct source_redis *source_redis_new(const struct config *cfg,
		    const char *consumer, char **err);
/* The hooks the runtime's dispatchers call as the sinks finish with an
 * event: the entry is acknowledged, or dead-lettered first. */
const struct dispatch_hooks *source_redis_hooks(struct source_redis *);
/* Starts reading into rt, and acknowledging. A Redis that cannot be
 * reached yet is not an error: the reader keeps trying. -1 with *err. */
int		 source_redis_start(struct source_redis *, struct runtime *rt,
		    char **err);
/* A reload's new configuration: the [source] itself takes a restart to
 * change; -1 with *err when cfg would change it. */
int		 source_redis_reload(struct source_redis *,
		    const struct config *cfg, char **err);
/* One line for STATUS=. */
void		 source_redis_status(struct source_redis *, char *buf,
		    size_t len);
/* Stops reading (before the drain): what is in hand goes on. */
void		 source_redis_stop(struct source_redis *);
/*
 * Once the runtime is drained: acknowledges what finished (for up to 3 s),
 * says how many entries stay pending in the group (for this consumer's
 * next start or another worker's claim), and frees. NULL is a no-op.
 */
void		 source_redis_free(struct source_redis *);

#endif
