/*
 * The processes of an exec sink in persistent mode: `concurrency` copies
 * of the command kept running, each fed one event at a time as a JSON line
 * on its stdin and answering one line on its stdout (codec_persist.h).
 * A process that exits, breaks the protocol or passes its timeout is
 * stopped and started again after a backoff (100 ms doubling to 30 s, back
 * to 100 ms after a minute of good service); the event it had counts as a
 * failed attempt, so that the dispatcher retries it: nothing is lost.
 */
#ifndef EXEC_PERSIST_H
#define EXEC_PERSIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "livedesk/event.h"
#include "livedesk/sink.h"

struct log_ctx;

/* What to run; every pointer outlives the pool. */
struct exec_persist_spec {
	const char		 *name;		/* the sink's */
	const char		 *prog;		/* found at start; NULL: not */
	char *const		 *argv;
	char *const		 *envp;		/* the sink's clean environment */
	const char		 *path;		/* PATH's value, to find argv[0] */
	const char		 *workdir;
	int64_t			  timeout_ms;	/* per event */
	int64_t			  kill_after_ms;	/* SIGTERM to SIGKILL */
	int64_t			  grace_ms;	/* at stop: stdin closed to TERM */
	uint64_t		  max_output;	/* stderr logged, per event */
	size_t			  n;		/* processes: the concurrency */
	const atomic_bool	 *cancel;
};

/* Starts spec->n processes (one that cannot start is tried again at its
 * first event). */
struct exec_persist *exec_persist_new(const struct exec_persist_spec *);
/*
 * Hands ev to an idle process, which concurrency guarantees there is, and
 * fills r from its answer. env is the run's environment (exec_env_event),
 * of which the LIVEDESK_* variables go in the line. r->restarts counts the
 * processes this call found lost or lost itself. Safe on several threads.
 */
void	 exec_persist_deliver(struct exec_persist *, const struct ld_event *ev,
	    char *const *env, const struct log_ctx *ctx,
	    struct sink_result *r);
/* Closes every stdin, waits up to grace_ms for the processes to exit, then
 * SIGTERM to their groups and SIGKILL kill_after_ms later. No delivery may
 * be running. NULL is a no-op. */
void	 exec_persist_free(struct exec_persist *);

#endif
