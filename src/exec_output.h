/* The child's output, logged: stdout and stderr line by line (long lines in
 * pieces), within max_output, with the last stderr lines kept for the
 * detail of a failure. */
#ifndef EXEC_OUTPUT_H
#define EXEC_OUTPUT_H

#include <sys/types.h>

#include <stdint.h>

struct log_ctx;
struct exec_output;

enum {
	EXEC_OUTPUT_STDOUT,
	EXEC_OUTPUT_STDERR,
};

/* One run's: its lines are logged with ctx, which outlives it. */
struct exec_output *exec_output_new(const struct log_ctx *ctx,
	    uint64_t max_output);
void	 exec_output_free(struct exec_output *);	/* NULL is a no-op */
/* Reads what fd has of stream (EXEC_OUTPUT_STDOUT or _STDERR) and logs
 * the complete lines; returns read(2)'s result. */
ssize_t	 exec_output_read(struct exec_output *, int stream, int fd);
/* Logs what is left of stream, a last line without its newline. */
void	 exec_output_flush(struct exec_output *, int stream);
/* The last stderr lines, escaped and joined: as many of the newest as fit
 * in 400 bytes, and the newest in any case (cut). NULL: none. */
char	*exec_output_tail(const struct exec_output *);
/* Bytes not logged for max_output. */
uint64_t exec_output_dropped(const struct exec_output *);

#endif
