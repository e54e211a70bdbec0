/* The environment a run gets: the daemon's PATH, LANG and credentials
 * directory, the sink's env lines, then the event's fields as LIVEDESK_*. */
#ifndef EXEC_ENV_H
#define EXEC_ENV_H

#include <stddef.h>

#include "livedesk/event.h"

/* A growing, NULL-terminated environment, one string per key; { NULL, 0 }
 * is an empty one. Its values are wiped when it is freed. */
struct exec_env {
	char	**v;
	size_t	  n;
};

/* The PATH the program gets, given the sink's env lines: theirs, the
 * daemon's own, or a default. */
const char *exec_env_path(char *const *lines, size_t n);
/* Adds what every run of a sink starts from: the daemon's PATH, LANG and
 * CREDENTIALS_DIRECTORY, then the sink's env lines ("KEY=VALUE"). */
void	 exec_env_sink(struct exec_env *, char *const *lines, size_t n);
/* Adds one run's: the sink's (from exec_env_sink), LIVEDESK_SINK, then
 * the event's fields, each cut to 32 KiB. Returns e's array. */
char	**exec_env_event(struct exec_env *e, const struct exec_env *sink_env,
	    const char *sink, const struct ld_event *);
void	 exec_env_free(struct exec_env *);

#endif
