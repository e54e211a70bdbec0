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
/* One journal entry: MESSAGE, PRIORITY and the LIVEDESK_* fields of c;
 * the writer log.c takes (log_init_journal). */
void	service_journal(int prio, const char *msg, const struct log_ctx *c);

/* Sends a notification ("READY=1", "STATUS=...") to $NOTIFY_SOCKET. */
void	service_notify(const char *state);
void	service_notifyf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
/* RELOADING=1 with the time of the reload, as Type=notify-reload wants. */
void	service_reloading(void);
/* STOPPING=1, and more time to stop: drain_usec from now, whatever
 * TimeoutStopSec= says, so that a drain is not cut short by SIGKILL. */
void	service_stopping(int64_t drain_usec);
/* The watchdog interval in microseconds, or 0 when none was asked for (or
 * WATCHDOG_PID names another process). */
int64_t	service_watchdog_usec(void);

/* Sockets passed by socket activation: their count (0: none), first fd in
 * *first; -1 with *err when one of them cannot be served (not a listening
 * stream socket). Unsets LISTEN_FDS so that children do not inherit them. */
int	service_listen_fds(int *first, char **err);

#endif
