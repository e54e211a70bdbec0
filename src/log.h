/* Log lines: one line per call, to stderr or the journal, never forgeable
 * by request bytes (callers escape payload text with util_escape). */
#ifndef LOG_H
#define LOG_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* What a line is about; every member may be NULL/unset. Becomes structured
 * journal fields (LIVEDESK_EVENT=, ...) or a suffix on plain lines. */
struct log_ctx {
	const char	*event;
	const char	*delivery_id;
	const char	*sink;
	int64_t		 conversation_id;	/* -1: none */
};

/* Where lines go by default; the journal is entered with log_init_journal. */
enum log_target {
	LOG_TARGET_STDERR,
};

/* Writes one journal entry: the message, its priority, and c's fields. */
typedef void (*log_journal_fn)(int prio, const char *msg,
		    const struct log_ctx *c);

/* Called once, before threads start. max_prio: LOG_DEBUG..LOG_ERR. */
void	log_init(enum log_target, int max_prio);
/* The same, with every line going through journal instead: the journal
 * belongs to whoever hands its writer over (service.c), so that this file
 * knows nothing of systemd. */
void	log_init_journal(log_journal_fn journal, int max_prio);
/* A reload's new log_level. */
void	log_set_level(int max_prio);
void	log_msg(int prio, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_ctx(int prio, const struct log_ctx *, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	log_vctx(int prio, const struct log_ctx *, const char *fmt, va_list)
	    __attribute__((format(printf, 3, 0)));

/* A line written as it is, with no prefix (JSON lines); the caller has made
 * sure it is one line. */
void	log_raw(int prio, const char *line);

/* For a writer that gathers lines (the log sink): where a line at prio
 * goes, its stderr form, and one write of whole lines. */
enum log_dest { LOG_DEST_NONE, LOG_DEST_JOURNAL, LOG_DEST_STDERR };
enum log_dest log_dest(int prio);
/* The line log_ctx writes to stderr for msg (its stamp, level, context and
 * newline; msg cut at 4095 bytes) into buf, as snprintf: returns the
 * length it needs, always less than LOG_LINE_MAX. */
#define LOG_LINE_MAX	(4096 + 256 + 64)
int	log_format(char *buf, size_t len, int prio, const struct log_ctx *,
	    const char *msg);
/* buf holds whole lines: one write to stderr, as every line gets. */
void	log_write_lines(const char *buf, size_t len);

/*
 * A bound on one kind of line (refusals under a flood, write errors on a
 * full disk): at most burst a second go out, the rest are counted, and
 * the count is said once the second is over. Guarded by its own mutex.
 */
struct log_rate {
	pthread_mutex_t	 lock;
	int64_t		 window_ms;	/* when the current second began */
	int		 n;		/* lines let through in it */
	uint64_t	 held;		/* lines counted, not written */
};
void	log_rate_init(struct log_rate *);
void	log_rate_destroy(struct log_rate *);
/* Whether a line may go out now. When the last second is over, *held is
 * how many it did not write and *span_ms how long it was (to say so
 * first); else *held is 0. */
bool	log_rate_allow(struct log_rate *, int burst, uint64_t *held,
	    int64_t *span_ms);
/* The same count, for a caller that looks now and then (or at the end:
 * force), so that a flood's last second is not left unsaid. */
uint64_t log_rate_close(struct log_rate *, bool force, int64_t *span_ms);

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
