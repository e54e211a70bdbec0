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

/*
 * The event failed for good in a sink: failure f (taken) joins those its
 * reason file already has, and the payload is written with the first. The
 * file is the one record of them: another sink may have failed the same
 * event through another entry (taken directly, loaded from disk, or before
 * a restart), and a replay goes to every sink it names. Under dead_lock.
 */
static int
dead_letter(struct spool *s, struct ld_event *ev, json_t *f)
{
	char when[40], now[40], *name, *path, *reason = NULL;
	json_t *old = NULL, *failures, *o;
	bool first;
	int rc = -1;

	name = xasprintf("%s.reason.json", ev->delivery_id);
	path = xasprintf("%s/failed/%s", s->dir, name);
	first = access(path, F_OK) == -1;
	if (!first)
		old = json_load_file(path, 0, NULL);
	failures = json_incref(json_object_get(old, "failures"));
	if (!json_is_array(failures)) {
		json_decref(failures);
		failures = json_array();
	}
	if (failures == NULL || json_array_append_new(failures, f) == -1) {
		json_decref(failures);
		goto out;
	}
	ld_time_format(ev->received_usec, when, sizeof when);
	ld_time_format(util_now_usec(), now, sizeof now);
	o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "delivery_id",
	    ev->delivery_id, "event", ev->name, "received_at", when,
	    "failed_at", now, "failures", failures);
	reason = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	json_decref(o);
	if (reason == NULL)
		goto out;
	if (first) {
		char *payload = xasprintf("%s.json", ev->delivery_id);

		rc = write_failed(s, payload, ev->raw, ev->raw_len);
		free(payload);
		if (rc == -1)
			goto out;
	}
	if ((rc = write_failed(s, name, reason, strlen(reason))) == -1)
		goto out;
	log_err("spool: %s is a dead letter in %s/failed/", ev->delivery_id,
	    s->dir);
	if (first) {
		pthread_mutex_lock(&s->lock);
		s->n_dead++;
		pthread_mutex_unlock(&s->lock);
	}
out:
	json_decref(old);
	free(reason);
	free(path);
	free(name);
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
	json_t *f = failure_json(sink, r, attempts);
	int rc;

	if (f == NULL)
		return -1;
	pthread_mutex_lock(&s->dead_lock);
	rc = dead_letter(s, ev, f);
	pthread_mutex_unlock(&s->dead_lock);
	return rc;
}

int
spool_dead_remove(struct spool *s, const char *id)
{
	char *reason = xasprintf("%s/failed/%s.reason.json", s->dir, id);
	char *payload = xasprintf("%s/failed/%s.json", s->dir, id);
	int rc = -1;

	pthread_mutex_lock(&s->dead_lock);
	/* The reason file is what counts as a dead letter (spool_open). */
	if (unlink(reason) == 0) {
		pthread_mutex_lock(&s->lock);
		if (s->n_dead > 0)
			s->n_dead--;
		pthread_mutex_unlock(&s->lock);
		rc = unlink(payload);
	}
	pthread_mutex_unlock(&s->dead_lock);
	free(reason);
	free(payload);
	return rc;
}
