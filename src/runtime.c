/* The one runtime for every mode: generations, reload, reap, the shared
 * bound, the hand-over of events, shutdown (see runtime.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "deliveries.h"
#include "dispatch.h"
#include "filter.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "spool.h"
#include "util.h"

struct gen {
	struct runtime	*rt;
	struct config	*cfg;
	struct dispatch	*disp;
	atomic_int	 refs;
	struct gen	*next;		/* retired list */
};

/* The counters of a sink in generations that are gone (reaped). */
struct runtime_sink_total {
	char			*name;
	struct dispatch_sink_stats st;	/* st.name is name */
};

struct runtime {
	struct metrics	 metrics;
	struct spool	*spool;		/* NULL without spool_dir */
	/* What every generation's dispatcher calls as events finish: an
	 * input's (input set: it acknowledges events itself, there is no
	 * spool) or the spool's; none without either. */
	struct dispatch_hooks hooks;
	bool		 input;
	/* What every dispatcher calls: the deliveries ring for the
	 * operator's page, then hooks. */
	struct dispatch_hooks outer;
	struct deliveries *deliveries;
	/* queue_size and queue_bytes over the events of every live
	 * generation; guarded by its own lock (see dispatch.c). */
	struct dispatch_bound *bound;
	atomic_bool	 stopping;	/* answer 503, /healthz not ready */
	/* Guards cur and the retired list; held to swap them, to take a
	 * reference, and to read every generation's counts at once. */
	pthread_mutex_t	 lock;
	struct gen	*cur;
	struct gen	*retired;
	/* Under lock too: by sink name and type, so that a reload restarts
	 * no counter (a generation's counts move here as it is reaped). */
	struct runtime_sink_total *gone;
	size_t		 n_gone;
	uint64_t	 gone_wakeups;
	/* Readers: requests handing an event over; the writer: shutdown,
	 * setting stopping. */
	pthread_rwlock_t ingest_lock;
};

static void
gen_free(struct gen *g)
{
	if (g == NULL)
		return;
	dispatch_free(g->disp);
	config_free(g->cfg);
	free(g);
}

static struct gen *
gen_new(struct runtime *rt, struct config *cfg, char **err)
{
	struct gen *g = xcalloc(1, sizeof *g);
	g->rt = rt;
	g->cfg = cfg;
	atomic_init(&g->refs, 1);
	/* One bound for every generation: a retired one keeps taking the
	 * events of its busy conversations after a reload. */
	if ((g->disp = dispatch_new_shared(cfg, &rt->outer,
	    rt->bound, err)) == NULL) {
		gen_free(g);
		return NULL;
	}
	return g;
}

/* The spool's window, one per sink: the sinks of the current
 * generation that ev goes to (all of them for NULL). */
static size_t
window_sinks(void *arg, const struct ld_event *ev,
    char (*names)[SPOOL_SINK_NAME], size_t max)
{
	struct runtime *rt = arg;
	struct gen *g = runtime_acquire(rt);
	size_t n = dispatch_sink_names(g->disp, ev, names, max);

	runtime_release(g);
	return n;
}

/* Room in sink's window (counted by name over every generation: the
 * bound is theirs together), taken under the spool's lock. */
static bool
window_reserve(void *arg, const struct ld_event *ev, const char *sink)
{
	struct runtime *rt = arg;
	struct gen *g = runtime_acquire(rt);
	bool ok = dispatch_reserve_sink(g->disp, sink, ev->raw_len);

	runtime_release(g);
	return ok;
}

static void
window_unreserve(void *arg, const struct ld_event *ev, const char *sink)
{
	struct runtime *rt = arg;
	struct gen *g = runtime_acquire(rt);

	dispatch_unreserve_sink(g->disp, sink, ev->raw_len);
	runtime_release(g);
}

static struct gen *route(struct runtime *, struct gen *,
    const struct ld_event *);

/* An event on disk, room reserved in each of only's windows: to the
 * generation that holds its conversation, for those sinks alone. The
 * dispatcher counts each sink's delivery itself, so the reservations go
 * back once it has (or refused: the event waits in the spool). */
static void
window_submit(void *arg, struct ld_event *ev, const char *const *only,
    size_t n)
{
	struct runtime *rt = arg;
	struct gen *g = runtime_acquire(rt), *to = route(rt, g, ev);
	size_t i;

	(void)dispatch_submit_only(to->disp, ev, only, n, DISPATCH_LANES);
	for (i = 0; i < n; i++)
		dispatch_unreserve_sink(to->disp, only[i], ev->raw_len);
	if (to != g)
		runtime_release(to);
	runtime_release(g);
}

/* The dispatcher's hooks: the ring of recent deliveries, then the
 * input's or the spool's. */
static void
outer_sink_done(void *arg, struct ld_event *ev, const char *sink,
    const struct sink_result *r, int attempts)
{
	struct runtime *rt = arg;

	deliveries_add(rt->deliveries, ev, sink, r, attempts);
	if (rt->hooks.sink_done != NULL)
		rt->hooks.sink_done(rt->hooks.arg, ev, sink, r, attempts);
}

static void
outer_event_done(void *arg, struct ld_event *ev)
{
	struct runtime *rt = arg;

	if (rt->hooks.event_done != NULL)
		rt->hooks.event_done(rt->hooks.arg, ev);
}

struct runtime *
runtime_new(struct config *cfg, const struct dispatch_hooks *hooks,
    char **err)
{
	struct runtime *rt = xcalloc(1, sizeof *rt);

	metrics_init(&rt->metrics);
	atomic_init(&rt->stopping, false);
	pthread_mutex_init(&rt->lock, NULL);
	pthread_rwlock_init(&rt->ingest_lock, NULL);
	rt->bound = dispatch_bound_new(cfg);
	rt->deliveries = deliveries_new();
	rt->outer.sink_done = outer_sink_done;
	rt->outer.event_done = outer_event_done;
	rt->outer.arg = rt;
	if (hooks != NULL) {
		rt->hooks = *hooks;
		rt->input = true;
	} else if (cfg->spool_dir != NULL) {
		if ((rt->spool = spool_open(cfg->spool_dir, cfg->durable,
		    err)) == NULL) {
			config_free(cfg);
			goto fail;
		}
		if (!cfg->durable)
			log_warn("spool: durable = no: events are acknowledged "
			    "before they are on disk, and a crash loses what "
			    "was not yet written");
		spool_set_limits(rt->spool, cfg->spool_max,
		    cfg->spool_min_free);
		rt->hooks.sink_done = spool_sink_done;
		rt->hooks.event_done = spool_event_done;
		rt->hooks.arg = rt->spool;
	}
	if ((rt->cur = gen_new(rt, cfg, err)) == NULL)
		goto fail;
	/* Recovered events queue up but start only in runtime_start, once
	 * the daemon is sure it can serve: a port in use must not run (and
	 * then kill) scripts at every restart. The loader streams them from
	 * disk as the window frees: never all of them in memory at once. */
	dispatch_hold(rt->cur->disp, true);
	if (rt->spool != NULL) {
		struct spool_window w = { window_sinks, window_reserve,
		    window_unreserve, window_submit, rt };

		if (spool_recover(rt->spool, err) == -1 ||
		    spool_load_start(rt->spool, &w, err) == -1)
			goto fail;
	}
	return rt;
fail:
	runtime_free(rt);
	return NULL;
}

void
runtime_start(struct runtime *rt)
{
	dispatch_hold(rt->cur->disp, false);
}

struct gen *
runtime_acquire(struct runtime *rt)
{
	struct gen *g;

	pthread_mutex_lock(&rt->lock);
	g = rt->cur;
	atomic_fetch_add(&g->refs, 1);
	pthread_mutex_unlock(&rt->lock);
	return g;
}

void
runtime_release(struct gen *g)
{
	/* The runtime's own reference keeps g alive until it is reaped. */
	atomic_fetch_sub(&g->refs, 1);
}

const struct config *
runtime_config(const struct gen *g)
{
	return g->cfg;
}

const char *
runtime_no_room(struct gen *g, size_t len)
{
	/* With a spool the disk is the queue: only its limits refuse. */
	if (g->rt->spool != NULL) {
		switch (spool_room(g->rt->spool, len)) {
		case SPOOL_ROOM:
			return NULL;
		case SPOOL_FULL_MAX:
			return "spool full (spool_max), retry later";
		case SPOOL_FULL_DISK:
			return "disk nearly full (spool_min_free), retry later";
		}
	}
	return dispatch_has_room(g->disp, len) ? NULL :
	    "queue full, retry later";
}

struct metrics *
runtime_metrics(struct runtime *rt)
{
	return &rt->metrics;
}

struct spool *
runtime_spool(struct runtime *rt)
{
	return rt->spool;
}

bool
runtime_stopping(const struct runtime *rt)
{
	return atomic_load(&rt->stopping);
}

int
runtime_reload(struct runtime *rt, struct config *cfg, char **err)
{
	struct gen *g, *old;

	/* With an input's hooks there is no spool to keep. */
	if (!rt->input && ((cfg->spool_dir == NULL) != (rt->spool == NULL) ||
	    (cfg->spool_dir != NULL && strcmp(cfg->spool_dir,
	    rt->cur->cfg->spool_dir) != 0) ||
	    cfg->durable != rt->cur->cfg->durable)) {
		*err = xstrdup("spool_dir and durable take a restart to "
		    "change");
		config_free(cfg);
		return -1;
	}
	if ((g = gen_new(rt, cfg, err)) == NULL)
		return -1;
	pthread_mutex_lock(&rt->lock);
	old = rt->cur;
	rt->cur = g;
	old->next = rt->retired;
	rt->retired = old;
	pthread_mutex_unlock(&rt->lock);
	/* The new queue_size and queue_bytes, for what every generation
	 * holds together. */
	dispatch_bound_set(rt->bound, cfg);
	if (rt->spool != NULL)
		spool_set_limits(rt->spool, cfg->spool_max,
		    cfg->spool_min_free);
	/* The old dispatcher takes nothing new and finishes what it has. */
	runtime_reap(rt);
	return 0;
}

/* The totals of the sink named like s in reaped generations; NULL if
 * none was. With rt->lock held. */
static struct runtime_sink_total *
gone_find(struct runtime *rt, const struct dispatch_sink_stats *s)
{
	size_t i;

	for (i = 0; i < rt->n_gone; i++)
		if (strcmp(rt->gone[i].name, s->name) == 0 &&
		    strcmp(rt->gone[i].st.type, s->type) == 0)
			return &rt->gone[i];
	return NULL;
}

/*
 * Keeps the final counts of a generation being reaped, with rt->lock held
 * (so that a scrape sees them either there or here). A sink no longer
 * configured keeps its totals too: should it come back under the same
 * name, its counters go on from where they were.
 */
static void
gone_add(struct runtime *rt, const struct dispatch_stats *st)
{
	struct runtime_sink_total *t;
	size_t i;

	rt->gone_wakeups += st->wakeups;
	for (i = 0; i < st->n_sinks; i++) {
		if ((t = gone_find(rt, &st->sinks[i])) == NULL) {
			rt->gone = xreallocarray(rt->gone, rt->n_gone + 1,
			    sizeof *rt->gone);
			t = &rt->gone[rt->n_gone++];
			memset(t, 0, sizeof *t);
			t->name = xstrdup(st->sinks[i].name);
			t->st.name = t->name;
			t->st.type = st->sinks[i].type;
		}
		dispatch_sink_stats_add(&t->st, &st->sinks[i]);
	}
}

void
runtime_reap(struct runtime *rt)
{
	struct gen **pp, *g;
	struct dispatch_stats st;
	bool done;

	pthread_mutex_lock(&rt->lock);
	for (pp = &rt->retired; (g = *pp) != NULL;) {
		/* Nobody holds it and it has nothing left: its counts are
		 * final (only route, under this lock, could give it more). */
		dispatch_stats(g->disp, &st);
		if ((done = atomic_load(&g->refs) == 1 && st.queued == 0))
			gone_add(rt, &st);
		free(st.sinks);
		if (done) {
			*pp = g->next;
			pthread_mutex_unlock(&rt->lock);
			(void)dispatch_drain(g->disp, 0);
			gen_free(g);
			pthread_mutex_lock(&rt->lock);
			pp = &rt->retired;
		} else
			pp = &g->next;
	}
	pthread_mutex_unlock(&rt->lock);
}

/* Adds what o, a live generation other than the one out is of, holds
 * and has counted for the sinks out has. */
static void
stats_add(struct dispatch_stats *out, struct gen *o)
{
	struct dispatch_stats st;
	size_t i, j;

	dispatch_stats(o->disp, &st);
	out->queued += st.queued;
	out->queued_bytes += st.queued_bytes;
	out->retrying += st.retrying;
	out->wakeups += st.wakeups;
	for (i = 0; i < out->n_sinks; i++)
		for (j = 0; j < st.n_sinks; j++)
			if (strcmp(out->sinks[i].name, st.sinks[j].name) == 0 &&
			    strcmp(out->sinks[i].type, st.sinks[j].type) == 0)
				dispatch_sink_stats_add(&out->sinks[i],
				    &st.sinks[j]);
	free(st.sinks);
}

void
runtime_stats(struct runtime *rt, struct gen *g, struct dispatch_stats *out)
{
	struct runtime_sink_total *t;
	struct gen *o;
	size_t i;

	/* Held throughout, so that no generation is reaped half-counted. */
	pthread_mutex_lock(&rt->lock);
	dispatch_stats(g->disp, out);
	out->wakeups += rt->gone_wakeups;
	for (i = 0; i < out->n_sinks; i++)
		if ((t = gone_find(rt, &out->sinks[i])) != NULL)
			dispatch_sink_stats_add(&out->sinks[i], &t->st);
	if (rt->cur != g)
		stats_add(out, rt->cur);
	for (o = rt->retired; o != NULL; o = o->next)
		if (o != g)
			stats_add(out, o);
	pthread_mutex_unlock(&rt->lock);
}

void
runtime_status(struct runtime *rt, char *buf, size_t len)
{
	struct gen *g = runtime_acquire(rt);
	struct dispatch_stats ds;
	uint64_t failed = 0;
	size_t i;

	runtime_stats(rt, g, &ds);
	runtime_release(g);
	struct spool_status ss;
	char *err = NULL;
	int n;

	for (i = 0; i < ds.n_sinks; i++)
		failed += ds.sinks[i].dead;
	n = snprintf(buf, len, "%llu events accepted, %zu queued, %llu failed "
	    "deliveries", (unsigned long long)atomic_load(
	    &rt->metrics.accepted), ds.queued, (unsigned long long)failed);
	free(ds.sinks);
	/* The backlog, when there is one: what a person watches. */
	if (rt->spool != NULL && n > 0 && (size_t)n < len &&
	    spool_status(rt->spool, NULL, &ss, &err) == 0 && ss.pending > 0) {
		int64_t now = util_now_usec();

		snprintf(buf + n, len - (size_t)n, "; backlog %zu events, "
		    "%llu bytes, oldest %llds", ss.pending,
		    (unsigned long long)ss.backlog_bytes, (long long)(
		    ss.oldest_usec > 0 && now > ss.oldest_usec ?
		    (now - ss.oldest_usec) / 1000000 : 0));
	}
	free(err);
}

void
runtime_reopen(struct runtime *rt)
{
	struct gen *g = runtime_acquire(rt);

	dispatch_reopen(g->disp);
	runtime_release(g);
}

/*
 * The generation an event goes to: after a reload, a conversation that an
 * older generation still has events of stays there until they finish, so
 * that its order holds across the reload. Returns g, or an older one with
 * a reference taken for the caller (who releases g's).
 */
static struct gen *
route(struct runtime *rt, struct gen *g, const struct ld_event *ev)
{
	struct gen *old;

	pthread_mutex_lock(&rt->lock);
	for (old = rt->retired; old != NULL; old = old->next) {
		if (old != g && dispatch_holds(old->disp, ev)) {
			atomic_fetch_add(&old->refs, 1);
			break;
		}
	}
	pthread_mutex_unlock(&rt->lock);
	return old != NULL ? old : g;
}

/* For the operator's page: the sinks of cfg whose filter keeps a new
 * event out, and why. */
static void
record_filtered(struct runtime *rt, const struct config *cfg,
    const struct ld_event *ev)
{
	const struct config_sink *cs;
	char *why;
	size_t i;

	for (i = 0; i < cfg->n_sinks; i++) {
		cs = &cfg->sinks[i];
		if ((why = filter_why_not(&cs->filter, ev)) != NULL) {
			deliveries_filtered(rt->deliveries, ev, cs->name, why);
			free(why);
		}
	}
}

/* Submits ev to its generation (see route). */
static int
submit(struct runtime *rt, struct gen *g, struct ld_event *ev,
    const char *const *skip, size_t n_skip, int flags)
{
	struct gen *to = route(rt, g, ev);
	int rc = dispatch_submit(to->disp, ev, skip, n_skip, flags);

	/* Not for a recovered event some of whose sinks are done: it was
	 * seen before the restart. */
	if (rc == 0 && skip == NULL)
		record_filtered(rt, to->cfg, ev);
	if (to != g)
		runtime_release(to);
	return rc;
}

size_t
runtime_room(struct runtime *rt)
{
	return dispatch_bound_room(rt->bound);
}

int
runtime_submit(struct runtime *rt, struct ld_event *ev)
{
	struct gen *g = runtime_acquire(rt);
	int rc;

	/* FORCE: the input kept the bound before it read (runtime_room);
	 * an event read is an event taken. */
	if ((rc = submit(rt, g, ev, NULL, 0, DISPATCH_FORCE)) == 0)
		metrics_event(&rt->metrics, ev->kind);
	runtime_release(g);
	return rc;
}

bool
runtime_ingest_waits(const struct runtime *rt)
{
	return rt->spool != NULL && spool_durable(rt->spool);
}

/* An event on its way through the spool's group commit. */
struct ingest {
	struct runtime		*rt;
	struct gen		*gen;
	runtime_ingest_fn	 fn;
	void			*arg;
};

/* On the spool's thread: the commit holding ev is on disk, or failed. */
static void
committed(void *arg, struct ld_event *ev, bool ok, bool direct)
{
	struct ingest *in = arg;
	struct runtime *rt = in->rt;

	/* The spool has handed it to the sinks with room (direct); the
	 * others load it from disk: nothing to do here but count. */
	(void)direct;
	if (ok) {
		metrics_event(&rt->metrics, ev->kind);
		record_filtered(rt, in->gen->cfg, ev);
	} else
		metrics_drop(&rt->metrics, DROP_SPOOL_ERROR);
	if (in->fn != NULL)
		in->fn(in->arg, ok ? 200 : 507);
	runtime_release(in->gen);
	free(in);
}

int
runtime_ingest(struct runtime *rt, struct gen *g, struct ld_event *ev,
    runtime_ingest_fn fn, void *arg)
{
	struct ingest *in;
	int status;

	/* Held across the check and the hand-over, so that shutdown, which
	 * takes it to set stopping, never sees an event arrive behind its
	 * spool flush. */
	pthread_rwlock_rdlock(&rt->ingest_lock);
	if (atomic_load(&rt->stopping)) {
		metrics_drop(&rt->metrics, DROP_STOPPING);
		status = 503;
	} else if (rt->spool == NULL) {
		if (submit(rt, g, ev, NULL, 0, 0) == -1) {
			metrics_drop(&rt->metrics, DROP_QUEUE_FULL);
			status = 503;
		} else {
			metrics_event(&rt->metrics, ev->kind);
			status = 200;
		}
	} else if (spool_room(rt->spool, ev->raw_len) != SPOOL_ROOM) {
		/* The disk is the queue: only its limits refuse. The
		 * window is the spool's to fill (spool_append). */
		metrics_drop(&rt->metrics, DROP_SPOOL_FULL);
		status = 503;
	} else {
		in = xcalloc(1, sizeof *in);
		in->rt = rt;
		in->gen = g;
		atomic_fetch_add(&g->refs, 1);
		in->fn = spool_durable(rt->spool) ? fn : NULL;
		in->arg = arg;
		spool_append(rt->spool, ev, committed, in);
		status = spool_durable(rt->spool) ? 0 : 200;
	}
	pthread_rwlock_unlock(&rt->ingest_lock);
	return status;
}

void
runtime_refuse(struct runtime *rt)
{
	/* From here on requests are answered 503: taken as a writer, the
	 * ingest lock waits for every hand-over under way. */
	pthread_rwlock_wrlock(&rt->ingest_lock);
	atomic_store(&rt->stopping, true);
	pthread_rwlock_unlock(&rt->ingest_lock);
}

void
runtime_shutdown(struct runtime *rt)
{
	int64_t end = util_mono_msec() + rt->cur->cfg->shutdown_grace_ms;
	struct gen *g;
	size_t left;

	runtime_refuse(rt);
	/* Requests waiting for a commit get their answer first; the loader
	 * stops: what it has not loaded stays on disk. */
	if (rt->spool != NULL) {
		spool_flush(rt->spool);
		spool_load_stop(rt->spool);
	}
	/* One deadline for every generation: systemd's stop timeout is
	 * shutdown_grace plus a margin, not a multiple of it. */
	left = dispatch_drain(rt->cur->disp, end - util_mono_msec());
	for (g = rt->retired; g != NULL; g = g->next)
		left += dispatch_drain(g->disp, end - util_mono_msec());
	/* An input with hooks of its own says what it keeps. */
	if (left > 0 && !rt->input)
		log_warn("shutdown: %zu event%s not finished within "
		    "shutdown_grace%s", left, left == 1 ? "" : "s",
		    rt->spool ? "; they stay in the spool" : " and are lost "
		    "(no spool_dir)");
}

void
runtime_free(struct runtime *rt)
{
	struct gen *g, *next;
	size_t i;

	if (rt == NULL)
		return;
	/* The loader first: it hands events to the dispatchers; then the
	 * dispatchers: their workers call into the spool. */
	if (rt->spool != NULL)
		spool_load_stop(rt->spool);
	gen_free(rt->cur);
	for (g = rt->retired; g != NULL; g = next) {
		next = g->next;
		gen_free(g);
	}
	spool_free(rt->spool);
	dispatch_bound_free(rt->bound);
	deliveries_free(rt->deliveries);
	for (i = 0; i < rt->n_gone; i++)
		free(rt->gone[i].name);
	free(rt->gone);
	pthread_rwlock_destroy(&rt->ingest_lock);
	pthread_mutex_destroy(&rt->lock);
	free(rt);
}

struct deliveries *
runtime_deliveries(struct runtime *rt)
{
	return rt->deliveries;
}
