/* The daemon: one loop for every mode (signals, reload, watchdog, the
 * status line, the drain) around the runtime and one input. */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdbool.h>

struct config;

/* What the daemon takes from the command line. */
struct daemon_args {
	/* Reads the configuration again for a reload: the file, with the
	 * command line over it. Returns NULL with *err. */
	struct config	*(*load)(void *arg, char **err);
	void		*load_arg;
	const char	*config_file;	/* NULL: nothing to reload */
	bool		 verbose;	/* debug whatever log_level says */
	const char	*consumer;	/* the Redis source's, or NULL */
};

/* Where events come from: the HTTP front (a receiver) or a Redis stream
 * (a worker). */
struct daemon_input;
extern const struct daemon_input daemon_input_http;
extern const struct daemon_input daemon_input_redis;

/* Runs the daemon on cfg (taking ownership) with one input until SIGTERM
 * or SIGINT, then drains and stops. Returns the exit status. */
int	daemon_run(const struct daemon_input *, struct config *cfg,
	    const struct daemon_args *);

#endif
