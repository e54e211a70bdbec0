/* Log lines to stderr or the journal (see log.h). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "livedesk/event.h"
#include "log.h"
#include "util.h"

/* The journal writer (NULL: stderr) is set once by log_init before any
 * thread starts; the level may change on reload, hence atomic. */
static log_journal_fn	journal;
static atomic_int	max_level = LOG_INFO;

static const char *const level_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

void
log_init(enum log_target t, int max_prio)
{
	(void)t;	/* LOG_TARGET_STDERR, the only one */
	journal = NULL;
	atomic_store(&max_level, max_prio);
}

void
log_init_journal(log_journal_fn fn, int max_prio)
{
	journal = fn;
	atomic_store(&max_level, max_prio);
}

void
log_set_level(int max_prio)
{
	atomic_store(&max_level, max_prio);
}

/* Appends " sink=... delivery=..." for the members that are set. */
static void
ctx_suffix(const struct log_ctx *c, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	if (c == NULL)
		return;
	if (c->sink != NULL && *c->sink != '\0' && o < len)
		o += (size_t)snprintf(buf + o, len - o, " sink=%s", c->sink);
	if (c->delivery_id != NULL && *c->delivery_id != '\0' && o < len)
		o += (size_t)snprintf(buf + o, len - o, " delivery=%s",
		    c->delivery_id);
	/* The event and conversation are in the message where they matter;
	 * they are repeated as journal fields only. */
}

enum log_dest
log_dest(int prio)
{
	if (prio > atomic_load(&max_level))
		return LOG_DEST_NONE;
	return journal != NULL ? LOG_DEST_JOURNAL : LOG_DEST_STDERR;
}

int
log_format(char *buf, size_t len, int prio, const struct log_ctx *c,
    const char *msg)
{
	char suffix[256], stamp[40];

	ctx_suffix(c, suffix, sizeof suffix);
	ld_time_format(util_now_usec(), stamp, sizeof stamp);
	return snprintf(buf, len, "%s %s: %.4095s%s\n", stamp,
	    level_names[prio & 7], msg, suffix);
}

void
log_write_lines(const char *buf, size_t len)
{
	(void)util_write_all(STDERR_FILENO, buf, len);
}

void
log_vctx(int prio, const struct log_ctx *c, const char *fmt, va_list ap)
{
	char msg[4096], line[LOG_LINE_MAX];
	int n;

	if (prio > atomic_load(&max_level))
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (journal != NULL) {
		journal(prio, msg, c);
		return;
	}
	if ((n = log_format(line, sizeof line, prio, c, msg)) < 0)
		return;
	/* One write per line, so that threads never interleave inside one. */
	(void)util_write_all(STDERR_FILENO, line, (size_t)n);
}

void
log_ctx(int prio, const struct log_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vctx(prio, c, fmt, ap);
	va_end(ap);
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vctx(prio, NULL, fmt, ap);
	va_end(ap);
}

void
log_raw(int prio, const char *line)
{
	char *l;
	int n;

	if (prio > atomic_load(&max_level))
		return;
	if (journal != NULL) {
		journal(prio, line, NULL);
		return;
	}
	if ((n = asprintf(&l, "%s\n", line)) < 0)
		return;
	(void)util_write_all(STDERR_FILENO, l, (size_t)n);
	free(l);
}

void
log_rate_init(struct log_rate *r)
{
	pthread_mutex_init(&r->lock, NULL);
	r->window_ms = util_mono_msec();
	r->n = 0;
	r->held = 0;
}

void
log_rate_destroy(struct log_rate *r)
{
	pthread_mutex_destroy(&r->lock);
}

/* Under r->lock: ends the second if it is over (or force). */
static uint64_t
rate_roll(struct log_rate *r, int64_t now, bool force, int64_t *span_ms)
{
	uint64_t held;

	if (!force && now - r->window_ms < 1000)
		return 0;
	held = r->held;
	*span_ms = now - r->window_ms;
	r->window_ms = now;
	r->n = 0;
	r->held = 0;
	return held;
}

bool
log_rate_allow(struct log_rate *r, int burst, uint64_t *held,
    int64_t *span_ms)
{
	bool ok;

	pthread_mutex_lock(&r->lock);
	*held = rate_roll(r, util_mono_msec(), false, span_ms);
	if ((ok = r->n < burst))
		r->n++;
	else
		r->held++;
	pthread_mutex_unlock(&r->lock);
	return ok;
}

uint64_t
log_rate_close(struct log_rate *r, bool force, int64_t *span_ms)
{
	uint64_t held;

	pthread_mutex_lock(&r->lock);
	held = rate_roll(r, util_mono_msec(), force, span_ms);
	pthread_mutex_unlock(&r->lock);
	return held;
}
