/* Everything that talks to systemd (see service.h). */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "log.h"
#include "service.h"
#include "util.h"

/* The most fields one entry carries: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER
 * and the four LIVEDESK_* ones. */
#define JOURNAL_FIELDS	7

bool
service_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(2, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* Adds "NAME=value" to iov when value is set. Returns the string, which
 * the caller frees once the entry is sent. */
static char *
field(struct iovec *iov, int *n, const char *name, const char *value)
{
	char *s;

	if (value == NULL || *n >= JOURNAL_FIELDS)
		return NULL;
	s = xasprintf("%s=%s", name, value);
	iov[*n].iov_base = s;
	iov[*n].iov_len = strlen(s);
	(*n)++;
	return s;
}

void
service_journal(int prio, const char *msg, const struct log_ctx *c)
{
	struct iovec iov[JOURNAL_FIELDS];
	char *own[JOURNAL_FIELDS], num[32];
	int n = 0, i;

	/* Allocated, not cut to a buffer: a JSON line from the log sink may
	 * be long, and an entry without its MESSAGE would be lost. */
	own[0] = field(iov, &n, "MESSAGE", msg);
	snprintf(num, sizeof num, "%d", prio & 7);
	own[1] = field(iov, &n, "PRIORITY", num);
	own[2] = field(iov, &n, "SYSLOG_IDENTIFIER", "livedesk-webhookd");
	own[3] = own[4] = own[5] = own[6] = NULL;
	if (c != NULL) {
		own[3] = field(iov, &n, "LIVEDESK_EVENT", c->event);
		own[4] = field(iov, &n, "LIVEDESK_DELIVERY_ID",
		    c->delivery_id);
		own[5] = field(iov, &n, "LIVEDESK_SINK", c->sink);
		if (c->conversation_id >= 0) {
			snprintf(num, sizeof num, "%" PRId64,
			    c->conversation_id);
			own[6] = field(iov, &n, "LIVEDESK_CONVERSATION_ID",
			    num);
		}
	}
	/* Nowhere to report a failure: the journal is where it would go. */
	(void)sd_journal_sendv(iov, n);
	for (i = 0; i < JOURNAL_FIELDS; i++)
		free(own[i]);
}

void
service_notify(const char *state)
{
	(void)sd_notify(0, state);
}

void
service_notifyf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	service_notify(s);
	free(s);
}

void
service_reloading(void)
{
	/* CLOCK_MONOTONIC, as systemd reads it. */
	service_notifyf("RELOADING=1\nMONOTONIC_USEC=%" PRId64,
	    util_mono_usec());
}

void
service_stopping(int64_t drain_usec)
{
	service_notifyf("STOPPING=1\nSTATUS=draining and stopping\n"
	    "EXTEND_TIMEOUT_USEC=%" PRId64, drain_usec > 0 ? drain_usec : 0);
}

int64_t
service_watchdog_usec(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec > INT64_MAX)
		return 0;
	return (int64_t)usec;
}

int
service_listen_fds(int *first, char **err)
{
	int n = sd_listen_fds(1), i;

	*first = SD_LISTEN_FDS_START;
	if (n <= 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (sd_is_socket(SD_LISTEN_FDS_START + i, AF_UNSPEC,
		    SOCK_STREAM, 1) <= 0) {
			*err = xasprintf("socket activation: fd %d is not a "
			    "listening stream socket (use ListenStream=)",
			    SD_LISTEN_FDS_START + i);
			return -1;
		}
	}
	return n;
}
