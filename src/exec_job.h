/*
 * The child of one exec run: started on three fresh pipes, fed its stdin,
 * its output logged, stopped at its timeout or a cancel, and waited for.
 */
#ifndef EXEC_JOB_H
#define EXEC_JOB_H

#include <sys/types.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct exec_output;
struct log_ctx;

/* What to run, and how long it may take. */
struct exec_job_spec {
	const char		 *prog;		/* found (exec_path_resolve) */
	char *const		 *argv;
	char *const		 *envp;
	const char		 *workdir;
	const char		 *in;		/* its stdin: in_len bytes */
	size_t			  in_len;
	int64_t			  timeout_ms;
	int64_t			  kill_after_ms;	/* SIGTERM to SIGKILL */
	const atomic_bool	 *cancel;	/* NULL: never cancelled */
};

/* Whether the daemon stopped it, and why. */
enum exec_job_stopped {
	EXEC_JOB_NOT_STOPPED,
	EXEC_JOB_TIMED_OUT,
	EXEC_JOB_CANCELLED,
};

/* How a job ended. */
struct exec_job_end {
	enum exec_job_stopped	 stopped;
	bool			 known;		/* false: its wait status was
						   lost (SIGCHLD ignored) */
	int			 status;	/* its wait status, if known */
};

/*
 * Runs spec to its end, in its own process group, with out logging its
 * stdout and stderr (lines marked with ctx): at the timeout or a cancel,
 * SIGTERM to the group, SIGKILL kill_after later. Returns 0 with *end
 * filled once the child is reaped and its output closed (or left to a
 * background process for a moment), or an errno when it could not start.
 */
int	 exec_job_run(const struct exec_job_spec *, struct exec_output *out,
	    const struct log_ctx *ctx, struct exec_job_end *end);

/*
 * Starts prog in its own process group, with the signals the daemon
 * blocks or ignores back to their defaults, in workdir, on three fresh
 * pipes: fds[0] our end of its stdin, fds[1] and fds[2] of its stdout and
 * stderr, all non-blocking and close-on-exec. Returns 0, or an errno.
 */
int	 exec_job_spawn(const char *prog, char *const *argv,
	    char *const *envp, const char *workdir, pid_t *pid, int fds[3]);

#endif
