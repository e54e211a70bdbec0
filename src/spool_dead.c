/* Dead letters: an event a sink gave up on, its payload byte for byte in
 * failed/ID.json and why in failed/ID.reason.json. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "livedesk/event.h"
#include "livedesk/sink.h"
#include "log.h"
#include "spool_int.h"
#include "util.h"

/* Writes name under failed/ through a temporary file, fsync'd. */
static int
write_failed(struct spool *s, const char *name, const char *data, size_t len)
{
	char *tmp = xasprintf("%s/failed/.%s.tmp", s->dir, name);
	char *dst = xasprintf("%s/failed/%s", s->dir, name);
	int fd, rc = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		goto out;
	if (util_write_all(fd, data, len) == -1 || fdatasync(fd) == -1) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) == -1 || rename(tmp, dst) == -1) {
		unlink(tmp);
		goto out;
	}
	rc = spool_sync_dir(s->failed_fd);
out:
	if (rc == -1)
		log_err("spool: write %s: %s", dst, strerror(errno));
	free(tmp);
	free(dst);
	return rc;
}

/* The event failed for good in a sink: its payload (once) and the reason,
 * rewritten with every failure so far. Called under dead_lock. */
static int
dead_letter(struct spool *s, struct ld_event *ev, struct spool_entry *e)
{
	char when[40], now[40], *name = NULL, *reason;
	json_t *o;
	int rc = -1;

	ld_time_format(ev->received_usec, when, sizeof when);
	ld_time_format(util_now_usec(), now, sizeof now);
	o = json_pack("{s:s, s:s, s:s, s:s, s:O}", "delivery_id",
	    ev->delivery_id, "event", ev->name, "received_at", when,
	    "failed_at", now, "failures", e->failures);
	reason = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	json_decref(o);
	if (reason == NULL)
		return -1;
	if (!e->dead_written) {
		name = xasprintf("%s.json", ev->delivery_id);
		if (write_failed(s, name, ev->raw, ev->raw_len) == -1)
			goto out;
		free(name);
	}
	name = xasprintf("%s.reason.json", ev->delivery_id);
	if ((rc = write_failed(s, name, reason, strlen(reason))) == -1)
		goto out;
	log_err("spool: %s is a dead letter in %s/failed/", ev->delivery_id,
	    s->dir);
	if (!e->dead_written) {
		e->dead_written = true;
		pthread_mutex_lock(&s->lock);
		s->n_dead++;
		pthread_mutex_unlock(&s->lock);
	}
out:
	free(name);
	free(reason);
	return rc;
}

/*
 * One failure for the reason file. exit_status is the program's exit code
 * and signal (with its name) what killed it, each null when it does not
 * apply, so that neither is ever read as the other.
 */
static json_t *
failure_json(const char *sink, const struct sink_result *r, int attempts)
{
	char name[32];
	json_t *f = json_pack("{s:s, s:i, s:n, s:n, s:n, s:s}", "sink", sink,
	    "attempts", attempts, "exit_status", "signal", "signal_name",
	    "detail", r->detail);

	if (f == NULL)
		return NULL;
	if ((r->exited && json_object_set_new(f, "exit_status",
	    json_integer(r->exit_status)) == -1) ||
	    (r->signal != 0 && (json_object_set_new(f, "signal",
	    json_integer(r->signal)) == -1 || json_object_set_new(f,
	    "signal_name", json_string(util_signal_name(r->signal, name,
	    sizeof name))) == -1))) {
		json_decref(f);
		return NULL;
	}
	return f;
}

int
spool_dead_add(struct spool *s, struct ld_event *ev, const char *sink,
    const struct sink_result *r, int attempts)
{
	struct spool_entry *e = ev->spool;
	json_t *f = failure_json(sink, r, attempts);
	int rc = 0;

	pthread_mutex_lock(&s->dead_lock);
	if (e->failures == NULL)
		e->failures = json_array();
	if (f == NULL || e->failures == NULL ||
	    json_array_append_new(e->failures, f) == -1 ||
	    dead_letter(s, ev, e) == -1)
		rc = -1;
	pthread_mutex_unlock(&s->dead_lock);
	return rc;
}
