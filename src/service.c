/* Everything that talks to systemd (see service.h). */
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

/* Adds "NAME=value" to iov when value is set; the strings are owned by
 * the caller of service_journal. */
static void
field(struct iovec *iov, int *n, char *buf, size_t len, const char *name,
    const char *value)
{
	int w;

	if (value == NULL)
		return;
	w = snprintf(buf, len, "%s=%s", name, value);
	if (w < 0 || (size_t)w >= len)
		return;
	iov[*n].iov_base = buf;
	iov[*n].iov_len = (size_t)w;
	(*n)++;
}

void
service_journal(int prio, const char *msg, const struct log_ctx *c)
{
	char m[4200], f[7][512], conv[32];
	struct iovec iov[7];
	int n = 0;

	field(iov, &n, m, sizeof m, "MESSAGE", msg);
	snprintf(conv, sizeof conv, "%d", prio);
	field(iov, &n, f[1], sizeof f[1], "PRIORITY", conv);
	field(iov, &n, f[2], sizeof f[2], "SYSLOG_IDENTIFIER",
	    "livedesk-webhookd");
	if (c != NULL) {
		field(iov, &n, f[3], sizeof f[3], "LIVEDESK_EVENT", c->event);
		field(iov, &n, f[4], sizeof f[4], "LIVEDESK_DELIVERY_ID",
		    c->delivery_id);
		field(iov, &n, f[5], sizeof f[5], "LIVEDESK_SINK", c->sink);
		if (c->conversation_id >= 0) {
			snprintf(conv, sizeof conv, "%" PRId64,
			    c->conversation_id);
			field(iov, &n, f[6], sizeof f[6],
			    "LIVEDESK_CONVERSATION_ID", conv);
		}
	}
	(void)sd_journal_sendv(iov, n);
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

int64_t
service_watchdog_msec(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return (int64_t)(usec / 1000);
}

int
service_listen_fds(int *first)
{
	int n = sd_listen_fds(1);

	*first = SD_LISTEN_FDS_START;
	return n > 0 ? n : 0;
}
