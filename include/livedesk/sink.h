/* The sink interface: what a destination for events implements. One sink
 * type per file (sink_log.c, sink_file.c, sink_exec.c), one line in the
 * table in sink.c. */
#ifndef LIVEDESK_SINK_H
#define LIVEDESK_SINK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "livedesk/event.h"

struct config_key_section;

/* What one delivery came to. A failed delivery may be retried. */
struct sink_result {
	bool	 ok;
	/* The delivery could not start for want of the machine's resources
	 * (descriptors, processes, memory): not the event's fault, so it is
	 * retried however many retries the sink has, never a dead letter. */
	bool	 retry_later;
	/* exec: how the program ended, decoded from its wait status. */
	bool	 exited;	/* it exited: exit_status is its code */
	int	 exit_status;	/* its exit code (0-255) when exited, else 0 */
	int	 signal;	/* the signal that ended it, else 0 */
	char	 detail[512];	/* why it failed, for the log and dead letters */
	/* exec, mode = persistent: handler processes found or left lost
	 * (exited, timed out, broke the protocol) during this delivery, each
	 * to be started again; counted in /metrics. */
	unsigned restarts;
	/* Set by the dispatcher: how long this (the last) attempt took. */
	int64_t	 duration_usec;
};

/* What a running sink instance knows about itself. */
struct sink_ctx {
	const char		*name;		/* the [sink NAME] */
	/* Set when the daemon stops and shutdown_grace is over: a long
	 * delivery should give up (its event stays in the spool). */
	const atomic_bool	*cancel;
	long long		 concurrency;	/* the sink's: deliveries at once */
	int64_t			 grace_ms;	/* the daemon's shutdown_grace */
};

struct sink_ops {
	const char	*type;		/* the `type =` value */
	/* Filter defaults differ per type (the exec sink's loop guard). */
	bool		 incoming_only;

	/*
	 * Configuration, at load time: the type's keys, a table
	 * (config_key.h: name, type, range, default), and the functions that
	 * read them, which are that table's (config_key_section_*). conf_set
	 * gets every key of the section that is not a common one (filters,
	 * retries, ...): returns 0 when taken, -1 with *err (malloc'd) for a
	 * bad value, 1 for a key this type does not know. *conf starts NULL.
	 * conf_check runs once the section is complete: missing required
	 * keys, a command that cannot run.
	 */
	const struct config_key_section *keys;
	int	(*conf_set)(void **conf, const char *key, const char *value,
		    char **err);
	int	(*conf_check)(void **conf, char **err);
	void	(*conf_print)(const void *conf, FILE *);
	/* Whether the sink can work now (a script exists and may run):
	 * a warning at start-up, an error for --check-config. May be NULL. */
	int	(*probe)(const void *conf, char **err);
	void	(*conf_free)(void *conf);
	/* --dry-run: prints, from the configuration alone and starting
	 * nothing, what deliver would do with ev (the exec sink: its command,
	 * the exact environment and the stdin its program gets), as lines
	 * indented by two spaces. May be NULL: nothing more to say. */
	void	(*describe)(const void *conf, const char *name,
		    const struct ld_event *, FILE *out);

	/* Runtime. start builds *state from conf (which outlives it).
	 * deliver may run on several threads at once for one state, up to
	 * the sink's concurrency, never twice at once for one conversation.
	 * reopen reopens files (SIGHUP). */
	int	(*start)(void **state, const void *conf,
		    const struct sink_ctx *, char **err);
	void	(*deliver)(void *state, struct ld_event *,
		    struct sink_result *);
	int	(*reopen)(void *state);
	void	(*stop)(void *state);
};

/* The table of sink types, NULL-terminated; and lookup by type name. */
extern const struct sink_ops *const sink_types[];
const struct sink_ops	*sink_find(const char *type);

#endif
