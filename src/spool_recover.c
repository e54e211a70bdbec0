/* The spool read back from disk: the unfinished events given back after a
 * restart or a crash, and the counts of a spool no daemon runs on. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "spool.h"
#include "spool_int.h"
#include "util.h"

/* One record of a batch file read back. */
struct record {
	struct ld_event	*ev;
	json_t		*done;	/* borrowed from the progress object */
};

/*
 * Parses the records of one batch file into events. Returns -1 when the
 * file cannot be read (it is left alone for the next start), 1 when a
 * damaged record stops the parse (with the fsync before the rename that
 * takes a damaged disk; what follows cannot be framed), 0 otherwise.
 */
static int
read_batch(struct spool *s, const char *name, json_t *prog,
    struct record **recs, size_t *n, uint64_t *max_seq)
{
	char *p = spool_path(s, "new", name, ".batch"), *buf;
	size_t len = 0, off = 0;
	int rc = 0;

	*recs = NULL;
	*n = 0;
	if ((buf = util_read_file(p, &len)) == NULL) {
		log_err("spool: read %s: %s; left for the next start", p,
		    strerror(errno));
		free(p);
		return -1;
	}
	while (off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		json_t *h;
		json_int_t seq, rlen, usec;
		const char *id;
		struct ld_event_error perr;
		struct ld_event *ev;
		char key[32];

		if (nl == NULL ||
		    (h = json_loadb(buf + off, (size_t)(nl - buf - off), 0,
		    NULL)) == NULL)
			goto damaged;
		if (json_unpack(h, "{s:I, s:s, s:I, s:I}", "seq", &seq,
		    "delivery_id", &id, "received_usec", &usec, "len", &rlen)
		    == -1 || seq < 0 || rlen < 0 ||
		    (size_t)rlen > len - (size_t)(nl - buf) - 1 ||
		    nl[1 + rlen] != '\n') {
			json_decref(h);
			goto damaged;
		}
		ev = ld_event_parse(nl + 1, (size_t)rlen, 0, &perr);
		if (ev == NULL) {
			/* It parsed when it came in: only a damaged disk. */
			log_err("spool: %s: record %" PRId64 " no longer "
			    "parses (%s); skipped", p, (int64_t)seq, perr.text);
			rc = 1;
		} else {
			snprintf(ev->delivery_id, sizeof ev->delivery_id, "%s",
			    id);
			ev->received_usec = usec;
			ev->spool = xcalloc(1, sizeof *ev->spool);
			ev->spool->seq = (uint64_t)seq;
			snprintf(key, sizeof key, "%" PRId64, (int64_t)seq);
			*recs = xreallocarray(*recs, *n + 1, sizeof **recs);
			(*recs)[*n].ev = ev;
			(*recs)[*n].done = json_object_get(prog, key);
			(*n)++;
		}
		if ((uint64_t)seq > *max_seq)
			*max_seq = (uint64_t)seq;
		json_decref(h);
		off = (size_t)(nl - buf) + 1 + (size_t)rlen + 1;
	}
	goto out;
damaged:
	log_err("spool: %s is damaged at byte %zu; what follows is lost, the "
	    "file is kept", p, off);
	rc = 1;
out:
	free(buf);
	free(p);
	return rc;
}

/* Removes tmp/ leftovers: written by a commit that a crash interrupted,
 * so never acknowledged. */
static void
discard_tmp(struct spool *s)
{
	char **names, *err = NULL, *p;
	size_t n, i;

	if ((names = spool_list_dir(s->dir, "tmp", ".batch", &n, &err)) == NULL) {
		log_err("%s", err);
		free(err);
		return;
	}
	for (i = 0; i < n; i++) {
		p = spool_path(s, "tmp", names[i], "");
		log_warn("spool: discarding half-written %s (a crash during "
		    "its commit; it was never acknowledged)", p);
		if (unlink(p) == -1)
			log_err("spool: unlink %s: %s", p, strerror(errno));
		free(p);
	}
	util_strv_free(names, n);
}

/* Hands one batch's unfinished events to fn, in order. */
static void
recover_batch(struct spool *s, const char *file, spool_recover_fn fn,
    void *arg, uint64_t *max_seq, size_t *given)
{
	char name[32];
	json_t *prog, *v;
	struct record *recs;
	struct spool_batch *b;
	size_t n, i, j, nd;
	const char *done[64];
	int rc;

	snprintf(name, sizeof name, "%.*s", (int)(strlen(file) - 6), file);
	prog = spool_progress_read(s, name);
	if ((rc = read_batch(s, name, prog, &recs, &n, max_seq)) == -1) {
		json_decref(prog);
		return;
	}
	b = xcalloc(1, sizeof *b);
	snprintf(b->name, sizeof b->name, "%s", name);
	b->done_fd = -1;
	b->n = n;
	b->damaged = rc == 1;
	pthread_mutex_lock(&s->lock);
	spool_batch_add(s, b);
	for (i = 0; i < n; i++) {
		recs[i].ev->spool->batch = b;
		spool_entry_add(s, recs[i].ev->spool);
		if (recs[i].done && spool_progress_has(recs[i].done, "*"))
			b->finished++;
	}
	pthread_mutex_unlock(&s->lock);
	if (b->finished == b->n)
		spool_batch_finished(s, b);
	for (i = 0; i < n; i++) {
		struct ld_event *ev = recs[i].ev;

		if (recs[i].done && spool_progress_has(recs[i].done, "*")) {
			pthread_mutex_lock(&s->lock);
			spool_entry_remove(s, ev->spool);
			pthread_mutex_unlock(&s->lock);
			free(ev->spool);
			ev->spool = NULL;
		} else {
			nd = 0;
			json_array_foreach(recs[i].done, j, v)
				if (nd < nitems(done))
					done[nd++] = json_string_value(v);
			fn(arg, ev, done, nd);
			(*given)++;
		}
		ld_event_unref(ev);
	}
	free(recs);
	json_decref(prog);
}

int
spool_recover(struct spool *s, spool_recover_fn fn, void *arg, char **err)
{
	char **names, **dones, *p;
	uint64_t max_seq = 0;
	size_t n, nd, i, given = 0;

	discard_tmp(s);
	if ((names = spool_list_dir(s->dir, "new", ".batch", &n, err)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		recover_batch(s, names[i], fn, arg, &max_seq, &given);
	if (n > 0) {
		pthread_mutex_lock(&s->lock);
		if (max_seq + 1 > s->next_seq)
			s->next_seq = max_seq + 1;
		pthread_mutex_unlock(&s->lock);
	}
	util_strv_free(names, n);
	/* A progress file whose batch is gone: the batch finished and a
	 * crash came before the progress file was removed. */
	if ((dones = spool_list_dir(s->dir, "new", ".done", &nd, err)) == NULL)
		return -1;
	for (i = 0; i < nd; i++) {
		char *batch;

		p = spool_path(s, "new", dones[i], "");
		batch = xasprintf("%.*s.batch", (int)(strlen(p) - 5), p);
		if (access(batch, F_OK) == -1)
			(void)unlink(p);
		free(batch);
		free(p);
	}
	util_strv_free(dones, nd);
	if (given > 0)
		log_notice("spool: recovered %zu unfinished event%s from %s",
		    given, given == 1 ? "" : "s", s->dir);
	return 0;
}

/* Counts the records of a batch file that are not marked done. */
static size_t
count_pending(struct spool *s, const char *file)
{
	char name[32];
	json_t *prog;
	struct record *recs;
	uint64_t max = 0;
	size_t n, i, pending = 0;

	snprintf(name, sizeof name, "%.*s", (int)(strlen(file) - 6), file);
	prog = spool_progress_read(s, name);
	(void)read_batch(s, name, prog, &recs, &n, &max);
	for (i = 0; i < n; i++) {
		if (!(recs[i].done && spool_progress_has(recs[i].done, "*")))
			pending++;
		free(recs[i].ev->spool);
		recs[i].ev->spool = NULL;
		ld_event_unref(recs[i].ev);
	}
	free(recs);
	json_decref(prog);
	return pending;
}

int
spool_recover_count(const char *dir, struct spool_status *st, char **err)
{
	struct spool tmp;
	struct spool *s;
	char **names;
	size_t n, i;

	memset(&tmp, 0, sizeof tmp);
	tmp.dir = (char *)dir;
	s = &tmp;
	if ((names = spool_list_dir(s->dir, "new", ".batch", &n, err)) == NULL)
		return -1;
	st->batches = n;
	for (i = 0; i < n; i++)
		st->pending += count_pending(s, names[i]);
	util_strv_free(names, n);
	if ((names = spool_list_dir(s->dir, "failed", ".reason.json", &n,
	    err)) == NULL)
		return -1;
	st->dead = n;
	util_strv_free(names, n);
	return 0;
}
