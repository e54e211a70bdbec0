/* Everything that talks to systemd: readiness and status notification, the
 * watchdog, sockets handed over by socket activation, the journal. Each call
 * is a no-op when the daemon does not run under systemd. */
#ifndef SERVICE_H
#define SERVICE_H

#include <stdbool.h>
#include <stdint.h>

struct log_ctx;

/* True when stderr is the journal's stream (JOURNAL_STREAM matches). */
bool	service_stderr_is_journal(void);
void	service_journal(int prio, const char *msg, const struct log_ctx *);

/* Sends a notification ("READY=1", "STATUS=...") to $NOTIFY_SOCKET. */
void	service_notify(const char *state);
void	service_notifyf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
/* The watchdog interval in milliseconds, or 0 when none was asked for. */
int64_t	service_watchdog_msec(void);

/* Sockets passed by socket activation: their count (0: none), first fd in
 * *first. Unsets LISTEN_FDS so that children do not inherit them. */
int	service_listen_fds(int *first);

#endif
