/* The spool's commands: --replay and --spool-status, which run once, on
 * the command line, and exit. */
#ifndef SPOOL_CLI_H
#define SPOOL_CLI_H

#include <stdbool.h>

struct config;

/*
 * --replay PATH: delivers what PATH holds (a dead letter, a directory of
 * them, a file-sink JSON Lines archive) to the sinks of cfg, or to the one
 * called sink when that is not NULL, and waits for every delivery, retries
 * included. Takes ownership of cfg. Returns the exit status: 0 when every
 * delivery went through.
 */
int	spool_cli_replay(struct config *cfg, const char *path,
	    const char *sink, bool verbose);
/* --spool-status: what the spool of cfg holds, read from disk, on stdout.
 * Takes ownership of cfg. Returns the exit status. */
int	spool_cli_status(struct config *cfg);

#endif
