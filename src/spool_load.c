/*
 * The loader: for each sink with events waiting on disk (its lane is
 * "deferred"), one thread reads the batch files from that sink's cursor
 * on, record by record, and hands each event the sink has not finished
 * to that sink's window as it frees, in seq order. Each sink has its own
 * place (a lane's cursor and hand), so a sink that is down or slow holds
 * back only its own deliveries. A hand holds one batch file open and at
 * most one event, so that memory stays flat whatever the backlog. Once a
 * sink's cursor has passed the last committed batch with nothing of its
 * left in the writer's queue, the sink is caught up: its new events go
 * direct again (decided under the spool's lock, so none overtakes).
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

void
spool_load_wake(struct spool *s)
{
	size_t i;

	/* Only a deferred lane gives the loader anything to do: without
	 * one, a wake per finished event and per commit cost a futex call
	 * and a context switch each, for nothing. A lane is deferred under
	 * the lock before the commit that wakes the loader for it. */
	for (i = 0; i < s->n_lanes; i++)
		if (s->lanes[i]->deferred) {
			pthread_cond_broadcast(&s->load_cond);
			return;
		}
}

/* Waits for a wake, or ms at most. Under lock. */
static void
load_wait(struct spool *s, int64_t ms)
{
	struct timespec ts;

	util_deadline(&ts, ms);
	(void)pthread_cond_timedwait(&s->load_cond, &s->lock, &ts);
}

struct spool_lane *
spool_lane_get(struct spool *s, const char *name)
{
	struct spool_lane *l;
	size_t i;

	for (i = 0; i < s->n_lanes; i++)
		if (strcmp(s->lanes[i]->name, name) == 0)
			return s->lanes[i];
	/* By pointer: the loader keeps a lane across an unlocked read. */
	l = xcalloc(1, sizeof *l);
	snprintf(l->name, sizeof l->name, "%s", name);
	s->lanes = xreallocarray(s->lanes, s->n_lanes + 1, sizeof *s->lanes);
	s->lanes[s->n_lanes++] = l;
	return l;
}

size_t
spool_window_sinks(struct spool *s, const struct ld_event *ev,
    char (**names)[SPOOL_SINK_NAME])
{
	const struct spool_window *w = &s->window;
	size_t cap = 16, n;

	/* One call runs the filters (this is the request's path), with room
	 * for as many sinks as a configuration has; more: a second call,
	 * bounded by its room (a reload may change the count between). The
	 * loader calls this unlocked: no spool state sizes it. */
	*names = xcalloc(cap, sizeof **names);
	if ((n = w->sinks(w->arg, ev, *names, cap)) <= cap)
		return n;
	free(*names);
	cap = n;
	*names = xcalloc(cap, sizeof **names);
	n = w->sinks(w->arg, ev, *names, cap);
	return n < cap ? n : cap;
}

bool
spool_lanes_past(struct spool *s, const struct spool_batch *b)
{
	size_t i;

	for (i = 0; i < s->n_lanes; i++) {
		const struct spool_lane *l = s->lanes[i];

		/* A hand in b reads its file: past its last event is not
		 * past the file. */
		if (l->h.b == b || (l->deferred &&
		    l->cursor < b->first + b->n))
			return false;
	}
	return true;
}

void
spool_sweep(struct spool *s)
{
	struct spool_batch *b, *next;

	for (b = TAILQ_FIRST(&s->batches); b != NULL; b = next) {
		next = TAILQ_NEXT(b, link);
		/* Cursors only grow: a batch some sink is not past has none
		 * past it behind it either. */
		if (!b->passed && !spool_lanes_past(s, b))
			break;
		if (spool_batch_unlink_if_done(s, b)) {
			pthread_mutex_unlock(&s->lock);
			spool_batch_finished(s, b);
			pthread_mutex_lock(&s->lock);
			next = TAILQ_FIRST(&s->batches);
		}
	}
}

/* The batch to read next for l: the oldest live one with events from l's
 * cursor on. Under lock. */
static struct spool_batch *
next_batch(struct spool *s, const struct spool_lane *l)
{
	struct spool_batch *b;

	TAILQ_FOREACH(b, &s->batches, link)
		if (!b->passed && b->first + b->n > l->cursor)
			return b;
	return NULL;
}

/* Opens l's batch file and progress, without the lock (the batch stays:
 * l's hand is in it). Under lock on entry and exit; false when
 * unreadable. */
static bool
hand_open(struct spool *s, struct spool_lane *l)
{
	struct spool_hand *h = &l->h;
	char *p = spool_path(s, "new", h->b->name, ".batch");

	h->from = l->cursor > h->b->first ? l->cursor : h->b->first;
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

/* The batch file and progress a hand holds, let go. */
static void
hand_release(struct spool_hand *h)
{
	if (h->f != NULL)
		fclose(h->f);
	json_decref(h->prog);
	h->f = NULL;
	h->prog = NULL;
	h->b = NULL;
}

/* Leaves l's batch: l is past it. Under lock. */
static void
hand_close(struct spool *s, struct spool_lane *l, bool damaged)
{
	struct spool_hand *h = &l->h;
	struct spool_batch *b = h->b;

	hand_release(h);
	b->damaged |= damaged;
	if (l->cursor < b->first + b->n)
		l->cursor = b->first + b->n;
	spool_sweep(s);
}

/* Whether ev goes to sink (its filter, and it is still configured). */
static bool
wanted(struct spool *s, const struct ld_event *ev, const char *sink)
{
	char (*names)[SPOOL_SINK_NAME];
	size_t i, n = spool_window_sinks(s, ev, &names);
	bool found = false;

	for (i = 0; i < n && !found; i++)
		found = strcmp(names[i], sink) == 0;
	free(names);
	return found;
}

/*
 * Reads the next event of l's batch that l has still to finish into
 * l->h.ev. Returns 1, 0 at the batch's end, -1 when the rest is damaged.
 * Without the lock (l's name and hand are the loader's).
 */
static int
hand_read(struct spool *s, struct spool_lane *l)
{
	struct spool_hand *h = &l->h;
	struct spool_record r;
	struct ld_event_error perr;
	struct ld_event *ev;
	char key[32];
	json_t *a;
	int rc;

	while ((rc = spool_record_next(h->f, &r, true)) == 1) {
		snprintf(key, sizeof key, "%" PRIu64, r.seq);
		a = json_object_get(h->prog, key);
		if (r.seq < h->from || (a != NULL &&
		    (spool_progress_has(a, "*") ||
		    spool_progress_has(a, l->name)))) {
			free(r.raw);
			continue;
		}
		ev = ld_event_parse(r.raw, r.len, 0, &perr);
		if (ev == NULL) {
			/* It parsed when it came in: only a damaged disk. */
			log_err("spool: %s/new/%s.batch: record %" PRIu64
			    " no longer parses (%s); skipped", s->dir,
			    h->b->name, r.seq, perr.text);
			free(r.raw);
			h->b->damaged = true;
			continue;
		}
		free(r.raw);
		if (!wanted(s, ev, l->name)) {
			ld_event_unref(ev);
			continue;
		}
		snprintf(ev->delivery_id, sizeof ev->delivery_id, "%s", r.id);
		ev->received_usec = r.usec;
		ev->spool = xcalloc(1, sizeof *ev->spool);
		ev->spool->seq = r.seq;
		h->ev = ev;
		return 1;
	}
	if (rc == -1)
		log_err("spool: %s/new/%s.batch is damaged; what follows is "
		    "lost, the file is kept", s->dir, h->b->name);
	return rc;
}

/* One step of l's backlog; whether it got anywhere. Under lock. */
static bool
lane_step(struct spool *s, struct spool_lane *l)
{
	struct spool_hand *h = &l->h;
	struct ld_event *ev;
	const char *only[1];
	int rc;

	if (!l->deferred)
		return false;
	if (h->b == NULL) {
		struct spool_batch *b = next_batch(s, l);

		if (b == NULL) {
			/* Past every committed batch: caught up once no
			 * event of l's waits for its commit. */
			if (l->uncommitted > 0)
				return false;
			l->deferred = false;
			spool_sweep(s);
			return true;
		}
		if (!b->ready)
			return false;
		h->b = b;
		if (!hand_open(s, l)) {
			b->keep = true;
			hand_close(s, l, false);
			return true;
		}
	}
	if (h->ev == NULL) {
		pthread_mutex_unlock(&s->lock);
		rc = hand_read(s, l);
		pthread_mutex_lock(&s->lock);
		if (rc != 1) {
			hand_close(s, l, rc == -1);
			return true;
		}
	}
	/* Under the lock, as appends reserve, in seq order. */
	if (!s->window.reserve(s->window.arg, h->ev, l->name))
		return false;
	ev = h->ev;
	h->ev = NULL;
	ev->spool->batch = h->b;
	spool_entry_add(s, ev->spool);
	h->b->in_lane++;
	l->cursor = ev->spool->seq + 1;
	only[0] = l->name;
	pthread_mutex_unlock(&s->lock);
	s->window.submit(s->window.arg, ev, only, 1);
	ld_event_unref(ev);
	pthread_mutex_lock(&s->lock);
	return true;
}

/* Lets go of l's hand (the loader stops): what it held stays on disk. */
static void
hand_drop(struct spool_lane *l)
{
	struct spool_hand *h = &l->h;

	if (h->ev != NULL) {
		free(h->ev->spool);
		h->ev->spool = NULL;
		ld_event_unref(h->ev);
		h->ev = NULL;
	}
	hand_release(h);
}

void *
spool_loader(void *arg)
{
	struct spool *s = arg;
	size_t i;
	bool moved;

	pthread_mutex_lock(&s->lock);
	while (!s->load_quit) {
		/* A step for each sink in turn: none waits for another. */
		moved = false;
		for (i = 0; i < s->n_lanes && !s->load_quit; i++)
			moved |= lane_step(s, s->lanes[i]);
		if (!moved && !s->load_quit)
			load_wait(s, 1000);
	}
	for (i = 0; i < s->n_lanes; i++)
		hand_drop(s->lanes[i]);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int
spool_load_start(struct spool *s, const struct spool_window *w, char **err)
{
	int rc;

	char (*names)[SPOOL_SINK_NAME];
	struct spool_lane *l;
	size_t i, n;

	pthread_mutex_lock(&s->lock);
	s->window = *w;
	s->window_set = true;
	s->load_quit = false;
	/* After a restart every sink starts at the oldest unfinished
	 * batch. */
	n = spool_window_sinks(s, NULL, &names);
	for (i = 0; i < n; i++) {
		l = spool_lane_get(s, names[i]);
		if (s->recovering && !l->deferred) {
			l->deferred = true;
			l->cursor = s->recover_from;
		}
	}
	free(names);
	s->recovering = false;
	s->lanes_known = true;
	/* What recovery could not yet tell may go now. */
	spool_sweep(s);
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
