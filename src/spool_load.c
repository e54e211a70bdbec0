/*
 * The loader: while events wait on disk (the spool is "deferred"), one
 * thread reads the batch files from the oldest live one on, record by
 * record, and hands each event that some sink has not finished to the
 * dispatcher's window as room frees. It holds one batch file open and at
 * most one event in hand, so that memory stays flat whatever the
 * backlog. Once it has passed the last committed batch with nothing
 * deferred left in the writer's queue, the spool is caught up: new events
 * go direct again (decided under the spool's lock, so none overtakes).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "livedesk/event.h"
#include "log.h"
#include "spool.h"
#include "spool_int.h"
#include "util.h"

/* The loader's hand: the batch it reads and the event it could not yet
 * place. */
struct hand {
	struct spool_batch *b;
	FILE		*f;
	json_t		*prog;		/* b's progress, by seq */
	struct ld_event	*ev;
	const char	*done[64];	/* sinks done with ev, in prog */
	size_t		 n_done;
	/* The cursor when the batch was entered: records before it went
	 * direct, into the window, and are not the loader's. */
	uint64_t	 from;
};

void
spool_load_wake(struct spool *s)
{
	if (s->deferred || s->load_quit)
		pthread_cond_broadcast(&s->load_cond);
}

/* Waits for a wake, or ms at most. Under lock. */
static void
load_wait(struct spool *s, int64_t ms)
{
	struct timespec ts;

	util_deadline(&ts, ms);
	(void)pthread_cond_timedwait(&s->load_cond, &s->lock, &ts);
}

/* The batch to read next: the oldest live one not passed. Under lock. */
static struct spool_batch *
next_batch(struct spool *s)
{
	struct spool_batch *b;

	TAILQ_FOREACH(b, &s->batches, link)
		if (!b->passed)
			return b;
	return NULL;
}

/* Opens h->b's file and progress, without the lock (the batch stays: it
 * is not passed). Under lock on entry and exit; false when unreadable. */
static bool
hand_open(struct spool *s, struct hand *h)
{
	char *p = spool_path(s, "new", h->b->name, ".batch");

	h->from = s->cursor;
	pthread_mutex_unlock(&s->lock);
	h->f = fopen(p, "re");
	if (h->f == NULL)
		log_err("spool: open %s: %s; its events stay for the next "
		    "start", p, strerror(errno));
	else
		h->prog = spool_progress_read(s, h->b->name);
	free(p);
	pthread_mutex_lock(&s->lock);
	return h->f != NULL;
}

/* Leaves h->b: the loader is past it. Under lock. */
static void
hand_close(struct spool *s, struct hand *h, bool damaged)
{
	struct spool_batch *b = h->b;

	if (h->f != NULL)
		fclose(h->f);
	json_decref(h->prog);
	h->f = NULL;
	h->prog = NULL;
	h->b = NULL;
	b->passed = true;
	b->damaged |= damaged;
	s->cursor = b->first + b->n;
	if (spool_batch_unlink_if_done(s, b)) {
		pthread_mutex_unlock(&s->lock);
		spool_batch_finished(s, b);
		pthread_mutex_lock(&s->lock);
	}
}

/*
 * Reads the next event of h->b that some sink has still to finish into
 * h->ev. Returns 1, 0 at the batch's end, -1 when the rest is damaged.
 * Without the lock.
 */
static int
hand_read(struct spool *s, struct hand *h)
{
	struct spool_record r;
	struct ld_event_error perr;
	char key[32];
	json_t *a, *v;
	size_t i;
	int rc;

	while ((rc = spool_record_next(h->f, &r, true)) == 1) {
		snprintf(key, sizeof key, "%" PRIu64, r.seq);
		a = json_object_get(h->prog, key);
		if (r.seq < h->from ||
		    (a != NULL && spool_progress_has(a, "*"))) {
			free(r.raw);
			continue;
		}
		h->ev = ld_event_parse(r.raw, r.len, 0, &perr);
		if (h->ev == NULL) {
			/* It parsed when it came in: only a damaged disk. */
			log_err("spool: %s/new/%s.batch: record %" PRIu64
			    " no longer parses (%s); skipped", s->dir,
			    h->b->name, r.seq, perr.text);
			free(r.raw);
			h->b->damaged = true;
			continue;
		}
		free(r.raw);
		snprintf(h->ev->delivery_id, sizeof h->ev->delivery_id, "%s",
		    r.id);
		h->ev->received_usec = r.usec;
		h->ev->spool = xcalloc(1, sizeof *h->ev->spool);
		h->ev->spool->seq = r.seq;
		h->n_done = 0;
		json_array_foreach(a, i, v)
			if (h->n_done < nitems(h->done))
				h->done[h->n_done++] = json_string_value(v);
		return 1;
	}
	if (rc == -1)
		log_err("spool: %s/new/%s.batch is damaged; what follows is "
		    "lost, the file is kept", s->dir, h->b->name);
	return rc;
}

void *
spool_loader(void *arg)
{
	struct spool *s = arg;
	struct hand h;
	int rc;

	memset(&h, 0, sizeof h);
	pthread_mutex_lock(&s->lock);
	while (!s->load_quit) {
		if (h.b == NULL) {
			if ((h.b = next_batch(s)) == NULL) {
				/* Past every committed batch: caught up once
				 * no deferred event waits for its commit. */
				if (s->deferred && s->uncommitted == 0)
					s->deferred = false;
				load_wait(s, 1000);
				continue;
			}
			if (!h.b->ready) {
				h.b = NULL;
				load_wait(s, 100);
				continue;
			}
			if (!hand_open(s, &h)) {
				h.b->keep = true;
				hand_close(s, &h, false);
				continue;
			}
		}
		if (h.ev == NULL) {
			pthread_mutex_unlock(&s->lock);
			rc = hand_read(s, &h);
			pthread_mutex_lock(&s->lock);
			if (rc != 1) {
				hand_close(s, &h, rc == -1);
				continue;
			}
		}
		/* Under the lock, as appends reserve, in seq order. */
		if (!s->window.reserve(s->window.arg, h.ev)) {
			load_wait(s, 100);
			continue;
		}
		h.ev->spool->batch = h.b;
		spool_entry_add(s, h.ev->spool);
		h.b->in_lane++;
		s->cursor = h.ev->spool->seq + 1;
		pthread_mutex_unlock(&s->lock);
		s->window.submit(s->window.arg, h.ev, h.done, h.n_done);
		ld_event_unref(h.ev);
		h.ev = NULL;
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	if (h.ev != NULL) {
		free(h.ev->spool);
		h.ev->spool = NULL;
		ld_event_unref(h.ev);
	}
	if (h.f != NULL)
		fclose(h.f);
	json_decref(h.prog);
	return NULL;
}

int
spool_load_start(struct spool *s, const struct spool_window *w, char **err)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	s->window = *w;
	s->window_set = true;
	s->load_quit = false;
	pthread_mutex_unlock(&s->lock);
	if ((rc = pthread_create(&s->loader, NULL, spool_loader, s)) != 0) {
		*err = xasprintf("spool: pthread_create: %s", strerror(rc));
		return -1;
	}
	s->loader_started = true;
	return 0;
}

void
spool_load_stop(struct spool *s)
{
	pthread_mutex_lock(&s->lock);
	s->window_set = false;
	s->load_quit = true;
	pthread_cond_broadcast(&s->load_cond);
	pthread_mutex_unlock(&s->lock);
	if (s->loader_started) {
		pthread_join(s->loader, NULL);
		s->loader_started = false;
	}
}
