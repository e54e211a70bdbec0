/* The script author's commands: --dry-run and --run-once, which take one
 * payload (a file, or - for standard input), run on the command line, and
 * exit. */
#ifndef TOOL_CLI_H
#define TOOL_CLI_H

#include <stdbool.h>

struct config;

/*
 * --dry-run PAYLOAD: runs nothing. Prints whether the daemon would accept
 * the payload, which sinks of cfg the event would reach and, for each that
 * would not, the filter that refuses it (naming the loop guard); for each
 * exec sink it reaches, what its program would get (sink_ops.describe).
 * Takes ownership of cfg. Returns the exit status: 0 when the daemon would
 * accept the payload, 1 when it would refuse it or it cannot be read.
 */
int	tool_cli_dry_run(struct config *cfg, const char *payload);

/*
 * --run-once PAYLOAD: delivers the payload once (no retries) to each sink
 * of cfg that takes it, or to the one called sink when that is not NULL,
 * one after the other, in the foreground, logging to standard error (the
 * programs' output included). SIGINT and SIGTERM stop a running program
 * as shutdown does. Takes ownership of cfg. Returns the exit status: 0
 * when every sink that took it succeeded, 1 with each failing sink's
 * reason on standard error otherwise (and when the named sink does not
 * take the event).
 */
int	tool_cli_run_once(struct config *cfg, const char *payload,
	    const char *sink, bool verbose);

#endif
