/*
 * The dispatcher: a bounded queue of accepted events and the worker threads
 * that deliver them to sinks.
 *
 * Each sink has a lane. A lane keeps one FIFO per conversation; a FIFO is
 * "ready" when it has items and nothing of it is running or waiting for a
 * retry, so that one conversation's events reach a sink in order while
 * different conversations run side by side, up to the sink's concurrency.
 * A failed delivery waits for its backoff at the head of its FIFO without
 * holding a worker, so retries block nothing but their own conversation.
 * One that could not start for want of resources (sink_result.retry_later)
 * waits the same way, without using up an attempt, however long it takes.
 *
 * One mutex guards all of it; deliveries run without it. The queue bound
 * may be shared with other dispatchers (see struct dispatch_bound).
 *
 * Wake-ups are batched: a worker that is awake and not delivering picks
 * up whatever is ready before it sleeps, so a new event wakes a sleeping
 * worker only when neither such a worker nor a wake-up already on its way
 * will take it. Under load the workers stay busy and the HTTP threads
 * hand events over without a futex call each; a worker that takes work
 * while more is ready wakes the next, so that concurrency is kept.
 */
#include <sys/queue.h>
#include <sys/random.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "dispatch.h"
#include "filter.h"
#include "hash.h"
#include "log.h"
#include "util.h"

/* How long a worker that has just delivered waits for more before it
 * sleeps (see linger()). */
#define DISPATCH_LINGER_USEC	200

const double dispatch_duration_bounds[12] = {
	0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

/* One accepted event, until every sink is finished with it. */
struct job {
	struct ld_event	*ev;
	int		 pending;	/* sinks not yet finished */
	bool		 cancelled;	/* a sink gave up at shutdown */
	bool		 lanes;		/* counted per sink (DISPATCH_LANES),
					 * not against queue_size overall */
};

/* One (event, sink) delivery. */
struct item {
	STAILQ_ENTRY(item) link;	/* in its conversation's FIFO */
	struct job	*job;
	int		 attempts;
	int		 shortages;	/* could not start: not attempts */
};

struct conv {
	struct hash_entry h;		/* in the lane's convs, by key */
	TAILQ_ENTRY(conv) link;		/* ready or waiting list */
	int64_t		 key;
	STAILQ_HEAD(, item) items;
	bool		 busy;		/* running, or waiting for a retry */
	int64_t		 not_before;	/* monotonic ms, while waiting */
};

struct lane {
	const struct config_sink *cs;
	void			*state;
	struct sink_ctx		 ctx;
	struct hash		*convs;		/* struct conv by key */
	TAILQ_HEAD(, conv)	 ready;
	TAILQ_HEAD(, conv)	 waiting;
	long long		 running;
	struct dispatch_sink_stats st;
};

/*
 * The queue bound and what counts against it: every event accepted (or
 * reserved) and not yet finished, in any dispatcher that shares it. Its
 * own mutex guards the limits and the counts; a dispatcher takes it inside
 * its lock, never the other way round, so that checking the bound and
 * counting an event are one step for all the dispatchers at once.
 */
struct dispatch_bound {
	pthread_mutex_t	 lock;
	size_t		 max_events;
	uint64_t	 max_bytes;
	size_t		 events;
	uint64_t	 bytes;
	/* The spool's window: the same limits, per sink name, so that a
	 * sink that is behind fills only its own (DISPATCH_LANES). Names
	 * stay once seen: a handful, whatever the reloads. */
	struct bound_sink {
		char	 name[65];
		size_t	 events;
		uint64_t bytes;
	}		*sinks;
	size_t		 n_sinks;
};

struct dispatch {
	const struct config	*cfg;
	struct dispatch_hooks	 hooks;
	struct dispatch_bound	*bound;		/* shared, or own_bound */
	struct dispatch_bound	*own_bound;
	pthread_mutex_t		 lock;
	pthread_cond_t		 work;		/* something to do */
	pthread_cond_t		 idle;		/* a job finished */
	struct lane		*lanes;
	size_t			 n_lanes;
	pthread_t		*threads;
	size_t			 n_threads;
	size_t			 queued;	/* this dispatcher's share */
	size_t			 queued_bytes;
	size_t			 queued_lanes;	/* of which DISPATCH_LANES */
	size_t			 queued_lanes_bytes;
	size_t			 abandoned;	/* cut short at shutdown */
	int64_t			 next_private_key;
	uint64_t		 rng;
	/* Workers by state (see wake()): awake and not delivering, so
	 * ready for work; waiting for work; and signals sent, not yet
	 * taken up. */
	size_t			 ready_workers;
	size_t			 sleepers;
	size_t			 wakes;
	uint64_t		 wakeups;	/* wakes, counted */
	bool			 held;		/* start nothing yet */
	bool			 closed;	/* no new events */
	bool			 quit;		/* workers stop when idle */
	atomic_bool		 cancel;	/* running deliveries give up */
};

static int64_t
lane_key(const struct ld_event *ev, struct dispatch *d)
{
	struct ld_id id = ld_event_conversation_id(ev);

	/* Events with no conversation have no order to keep: each gets a
	 * key of its own, negative so it never meets a real id. */
	if (id.set && id.v >= 0)
		return id.v;
	return --d->next_private_key;
}

static struct conv *
conv_find(const struct lane *l, int64_t key)
{
	struct hash_entry *e = hash_find(l->convs, &key);

	return e != NULL ? hash_item(e, struct conv, h) : NULL;
}

static void
ready_push(struct lane *l, struct conv *c)
{
	TAILQ_INSERT_TAIL(&l->ready, c, link);
}

/* Queues job in its conversation's FIFO; returns whether that FIFO has
 * just become ready (a worker has something new to pick). */
static bool
lane_append(struct lane *l, int64_t key, struct job *job)
{
	struct conv *c;
	struct item *it = xcalloc(1, sizeof *it);

	it->job = job;
	if ((c = conv_find(l, key)) == NULL) {
		c = xcalloc(1, sizeof *c);
		c->key = key;
		STAILQ_INIT(&c->items);
		hash_add(l->convs, &c->h, &c->key);
	}
	STAILQ_INSERT_TAIL(&c->items, it, link);
	/* A FIFO that was empty and idle becomes ready; a busy one is put
	 * back in line when its running item finishes. */
	if (STAILQ_FIRST(&c->items) == it && !c->busy) {
		ready_push(l, c);
		return true;
	}
	return false;
}

static void
conv_remove(struct lane *l, struct conv *c)
{
	hash_remove(l->convs, &c->h);
	free(c);
}

struct dispatch_bound *
dispatch_bound_new(const struct config *cfg)
{
	struct dispatch_bound *b = xcalloc(1, sizeof *b);

	pthread_mutex_init(&b->lock, NULL);
	dispatch_bound_set(b, cfg);
	return b;
}

void
dispatch_bound_set(struct dispatch_bound *b, const struct config *cfg)
{
	pthread_mutex_lock(&b->lock);
	b->max_events = (size_t)cfg->queue_size;
	b->max_bytes = cfg->queue_bytes;
	pthread_mutex_unlock(&b->lock);
}

size_t
dispatch_bound_room(struct dispatch_bound *b)
{
	size_t n = 0;

	pthread_mutex_lock(&b->lock);
	if (b->events < b->max_events && b->bytes < b->max_bytes)
		n = b->max_events - b->events;
	pthread_mutex_unlock(&b->lock);
	return n;
}

void
dispatch_bound_free(struct dispatch_bound *b)
{
	if (b == NULL)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b->sinks);
	free(b);
}

/* The counts of the sink called name, made on first sight. With b's lock
 * held. */
static struct bound_sink *
bound_sink(struct dispatch_bound *b, const char *name)
{
	struct bound_sink *bs;
	size_t i;

	for (i = 0; i < b->n_sinks; i++)
		if (strcmp(b->sinks[i].name, name) == 0)
			return &b->sinks[i];
	b->sinks = xreallocarray(b->sinks, b->n_sinks + 1, sizeof *b->sinks);
	bs = &b->sinks[b->n_sinks++];
	memset(bs, 0, sizeof *bs);
	snprintf(bs->name, sizeof bs->name, "%s", name);
	return bs;
}

/* Counts a delivery of len bytes to sink name if its window has room (or
 * regardless, when forced). */
static bool
bound_sink_take(struct dispatch_bound *b, const char *name, size_t len,
    bool force)
{
	struct bound_sink *bs;
	bool ok;

	pthread_mutex_lock(&b->lock);
	bs = bound_sink(b, name);
	if ((ok = force || (bs->events < b->max_events &&
	    bs->bytes + len <= b->max_bytes))) {
		bs->events++;
		bs->bytes += len;
	}
	pthread_mutex_unlock(&b->lock);
	return ok;
}

static void
bound_sink_give(struct dispatch_bound *b, const char *name, size_t len)
{
	struct bound_sink *bs;

	pthread_mutex_lock(&b->lock);
	bs = bound_sink(b, name);
	bs->events--;
	bs->bytes -= len;
	pthread_mutex_unlock(&b->lock);
}

/* Whether an event of len bytes fits; with b's lock held. */
static bool
bound_fits(const struct dispatch_bound *b, size_t len)
{
	return b->events < b->max_events && b->bytes + len <= b->max_bytes;
}

/* Counts an event of len bytes if it fits (or regardless, when forced). */
static bool
bound_take(struct dispatch_bound *b, size_t len, bool force)
{
	bool ok;

	pthread_mutex_lock(&b->lock);
	if ((ok = force || bound_fits(b, len))) {
		b->events++;
		b->bytes += len;
	}
	pthread_mutex_unlock(&b->lock);
	return ok;
}

static void
bound_give(struct dispatch_bound *b, size_t events, size_t bytes)
{
	pthread_mutex_lock(&b->lock);
	b->events -= events;
	b->bytes -= bytes;
	pthread_mutex_unlock(&b->lock);
}

bool
dispatch_has_room(struct dispatch *d, size_t len)
{
	bool room;

	pthread_mutex_lock(&d->lock);
	pthread_mutex_lock(&d->bound->lock);
	room = !d->closed && bound_fits(d->bound, len);
	pthread_mutex_unlock(&d->bound->lock);
	pthread_mutex_unlock(&d->lock);
	return room;
}

bool
dispatch_reserve(struct dispatch *d, size_t len)
{
	bool ok;

	pthread_mutex_lock(&d->lock);
	ok = !d->closed && bound_take(d->bound, len, false);
	pthread_mutex_unlock(&d->lock);
	return ok;
}

void
dispatch_unreserve(struct dispatch *d, size_t len)
{
	bound_give(d->bound, 1, len);
}

bool
dispatch_reserve_sink(struct dispatch *d, const char *sink, size_t len)
{
	bool ok;

	pthread_mutex_lock(&d->lock);
	ok = !d->closed && bound_sink_take(d->bound, sink, len, false);
	pthread_mutex_unlock(&d->lock);
	return ok;
}

void
dispatch_unreserve_sink(struct dispatch *d, const char *sink, size_t len)
{
	bound_sink_give(d->bound, sink, len);
}

/*
 * Wakes sleeping workers for n new pieces of work, with the lock held: as
 * many as the awake, idle workers and the wake-ups already sent will not
 * cover. Never loses work: an idle worker checks for work under the lock
 * before it sleeps, and a signal sent while a worker waits wakes one.
 */
static void
wake(struct dispatch *d, size_t n)
{
	size_t covered = d->ready_workers + d->wakes;

	while (n > covered && d->sleepers > d->wakes) {
		pthread_cond_signal(&d->work);
		d->wakes++;
		d->wakeups++;
		covered++;
	}
}

/* Whether a worker could start a delivery now. Under lock. */
static bool
pickable(const struct dispatch *d)
{
	size_t i;

	for (i = 0; i < d->n_lanes; i++)
		if (!TAILQ_EMPTY(&d->lanes[i].ready) &&
		    d->lanes[i].running < d->lanes[i].cs->concurrency)
			return true;
	return false;
}

static bool
skipped(const char *name, const char *const *skip, size_t n_skip)
{
	size_t i;

	for (i = 0; i < n_skip; i++)
		if (strcmp(skip[i], name) == 0)
			return true;
	return false;
}

size_t
dispatch_sink_names(struct dispatch *d, const struct ld_event *ev,
    char (*names)[65], size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < d->n_lanes; i++) {
		if (ev != NULL && !filter_match(&d->lanes[i].cs->filter, ev))
			continue;
		if (n < max)
			snprintf(names[n], sizeof names[0], "%s",
			    d->lanes[i].cs->name);
		n++;
	}
	return n;
}

/*
 * Queues ev for the matching sinks: those not in skip, or with only set,
 * those in only[0..n_only). See dispatch_submit and dispatch_submit_only.
 */
static int
submit(struct dispatch *d, struct ld_event *ev, const char *const *skip,
    size_t n_skip, const char *const *only, size_t n_only, bool use_only,
    int flags)
{
	bool stack[32], *match = stack;
	bool lanes = flags & DISPATCH_LANES;
	struct job *job;
	size_t i, n = 0, ready;
	int64_t key;

	if (d->n_lanes > nitems(stack))
		match = xcalloc(d->n_lanes, sizeof *match);

	/* Filters are pure and the lanes never change: match unlocked. */
	for (i = 0; i < d->n_lanes; i++) {
		match[i] = filter_match(&d->lanes[i].cs->filter, ev) &&
		    !skipped(d->lanes[i].cs->name, skip, n_skip) &&
		    (!use_only || skipped(d->lanes[i].cs->name, only, n_only));
		n += match[i];
	}
	pthread_mutex_lock(&d->lock);
	if (d->closed || (!lanes && !(flags & DISPATCH_RESERVED) &&
	    !bound_take(d->bound, ev->raw_len, flags & DISPATCH_FORCE))) {
		pthread_mutex_unlock(&d->lock);
		if (!lanes && (flags & DISPATCH_RESERVED))
			bound_give(d->bound, 1, ev->raw_len);
		if (match != stack)
			free(match);
		return -1;
	}
	if (n == 0) {
		pthread_mutex_unlock(&d->lock);
		/* Finished at once: its place is free again. */
		if (!lanes)
			bound_give(d->bound, 1, ev->raw_len);
		if (match != stack)
			free(match);
		if (d->hooks.event_done != NULL)
			d->hooks.event_done(d->hooks.arg, ev);
		return 0;
	}
	job = xcalloc(1, sizeof *job);
	job->ev = ld_event_ref(ev);
	job->pending = (int)n;
	job->lanes = lanes;
	key = lane_key(ev, d);
	ready = 0;
	for (i = 0; i < d->n_lanes; i++) {
		if (!match[i])
			continue;
		/* Each sink's window counts its own deliveries; the
		 * caller's reservations are given back after this. */
		if (lanes)
			(void)bound_sink_take(d->bound, d->lanes[i].cs->name,
			    ev->raw_len, true);
		if (lane_append(&d->lanes[i], key, job))
			ready++;
	}
	d->queued++;
	d->queued_bytes += ev->raw_len;
	if (lanes) {
		d->queued_lanes++;
		d->queued_lanes_bytes += ev->raw_len;
	}
	/* An event behind a busy conversation wakes nobody. */
	wake(d, ready);
	pthread_mutex_unlock(&d->lock);
	if (match != stack)
		free(match);
	/* Its own key: it may overtake, or be overtaken by, the events of
	 * what the sender meant as its conversation. Said once per event,
	 * whatever the number of sinks. */
	if (key < 0 && ld_event_conversation_id_invalid(ev)) {
		struct log_ctx ctx = { ev->name, ev->delivery_id, NULL, -1 };
		char *name = util_escape(ev->name, 64);

		log_ctx(LOG_WARNING, &ctx, "%s: the conversation id is "
		    "negative or not an integer: this event keeps no order "
		    "with the rest of its conversation", name);
		free(name);
	}
	return 0;
}

int
dispatch_submit(struct dispatch *d, struct ld_event *ev,
    const char *const *skip, size_t n_skip, int flags)
{
	return submit(d, ev, skip, n_skip, NULL, 0, false, flags);
}

int
dispatch_submit_only(struct dispatch *d, struct ld_event *ev,
    const char *const *only, size_t n_only, int flags)
{
	return submit(d, ev, NULL, 0, only, n_only, true, flags);
}

/* Moves waiting FIFOs whose backoff is over to the ready list; returns the
 * earliest time a still-waiting one is due (or INT64_MAX). */
static int64_t
lane_wake(struct lane *l, int64_t now)
{
	struct conv *c, *cn;
	int64_t next = INT64_MAX;

	for (c = TAILQ_FIRST(&l->waiting); c != NULL; c = cn) {
		cn = TAILQ_NEXT(c, link);
		if (c->not_before <= now) {
			TAILQ_REMOVE(&l->waiting, c, link);
			c->busy = false;
			ready_push(l, c);
		} else if (c->not_before < next)
			next = c->not_before;
	}
	return next;
}

/* Picks the next delivery, round-robin over lanes; NULL if none is ready.
 * *due is when a waiting retry becomes ready. */
static struct conv *
pick(struct dispatch *d, size_t *start, struct lane **lp, int64_t *due)
{
	int64_t now = util_mono_msec(), next;
	size_t i;

	*due = INT64_MAX;
	for (i = 0; i < d->n_lanes; i++) {
		struct lane *l = &d->lanes[(*start + i) % d->n_lanes];
		struct conv *c;

		next = lane_wake(l, now);
		if (next < *due)
			*due = next;
		if (TAILQ_EMPTY(&l->ready) ||
		    l->running >= l->cs->concurrency)
			continue;
		c = TAILQ_FIRST(&l->ready);
		TAILQ_REMOVE(&l->ready, c, link);
		c->busy = true;
		l->running++;
		*lp = l;
		*start = (*start + i + 1) % d->n_lanes;
		return c;
	}
	return NULL;
}

/* Backoff before attempt n+1: base * 2^(n-1), capped, with jitter in
 * [half, full] so that failing conversations do not retry in lockstep. */
static int64_t
backoff(struct dispatch *d, const struct config_sink *cs, int attempts)
{
	int64_t ms = cs->retry_base_ms;
	int i;

	for (i = 1; i < attempts && ms < cs->retry_cap_ms; i++)
		ms *= 2;
	if (ms > cs->retry_cap_ms)
		ms = cs->retry_cap_ms;
	d->rng ^= d->rng << 13;
	d->rng ^= d->rng >> 7;
	d->rng ^= d->rng << 17;
	return ms / 2 + (int64_t)(d->rng % (uint64_t)(ms / 2 + 1));
}

static void
record_duration(struct dispatch_sink_stats *st, int64_t usec)
{
	double s = (double)usec / 1e6;
	size_t i;

	st->busy_msec += (uint64_t)(usec / 1000);
	st->duration_count++;
	st->duration_usec += (uint64_t)usec;
	for (i = 0; i < nitems(dispatch_duration_bounds); i++)
		if (s <= dispatch_duration_bounds[i])
			st->duration_le[i]++;
}

void
dispatch_sink_stats_add(struct dispatch_sink_stats *to,
    const struct dispatch_sink_stats *from)
{
	size_t i;

	to->delivered += from->delivered;
	to->failed += from->failed;
	to->retried += from->retried;
	to->dead += from->dead;
	to->busy_msec += from->busy_msec;
	to->restarts += from->restarts;
	for (i = 0; i < nitems(to->duration_le); i++)
		to->duration_le[i] += from->duration_le[i];
	to->duration_count += from->duration_count;
	to->duration_usec += from->duration_usec;
}

/*
 * Settles a delivery with the lock held: final when the sink is done with
 * the item, cut when it was cut short at shutdown. Returns the job if this
 * was its last sink (the caller finishes it unlocked).
 */
static struct job *
settle(struct dispatch *d, struct lane *l, struct conv *c,
    const struct sink_result *r, int64_t usec, bool final, bool cut)
{
	struct item *it = STAILQ_FIRST(&c->items);
	struct job *job = it->job, *last = NULL;

	l->running--;
	record_duration(&l->st, usec);
	l->st.restarts += r->restarts;
	if (r->retry_later)
		it->shortages++;
	else
		it->attempts++;
	if (r->ok)
		l->st.delivered++;
	else
		l->st.failed++;
	if (!final) {
		l->st.retried++;
		c->not_before = util_mono_msec() + backoff(d, l->cs,
		    r->retry_later ? it->shortages : it->attempts);
		TAILQ_INSERT_HEAD(&l->waiting, c, link);
		return NULL;
	}
	if (!r->ok && !cut)
		l->st.dead++;
	STAILQ_REMOVE_HEAD(&c->items, link);
	c->busy = false;
	if (!STAILQ_EMPTY(&c->items))
		ready_push(l, c);
	else
		conv_remove(l, c);
	if (cut)
		job->cancelled = true;
	if (--job->pending == 0)
		last = job;
	return last;
}

/* The last sink is done with a job: tell the owner (unless a delivery was
 * cut short at shutdown: then the event stays in the spool) and free it. */
static void
finish_job(struct dispatch *d, struct job *job)
{
	size_t bytes = job->ev->raw_len;
	bool cancelled = job->cancelled, lanes = job->lanes;

	/* Its room goes back before the owner hears: the spool's loader,
	 * woken by event_done, must find it free. */
	if (!lanes)
		bound_give(d->bound, 1, bytes);
	if (d->hooks.event_done != NULL && !cancelled)
		d->hooks.event_done(d->hooks.arg, job->ev);
	ld_event_unref(job->ev);
	free(job);
	pthread_mutex_lock(&d->lock);
	d->queued--;
	d->queued_bytes -= bytes;
	if (lanes) {
		d->queued_lanes--;
		d->queued_lanes_bytes -= bytes;
	}
	d->abandoned += cancelled;
	pthread_cond_broadcast(&d->idle);
	pthread_mutex_unlock(&d->lock);
}

static void
deliver_one(struct dispatch *d, struct lane *l, struct conv *c)
{
	struct item *it = STAILQ_FIRST(&c->items);
	struct ld_event *ev = it->job->ev;
	struct log_ctx ctx = { ev->name, ev->delivery_id, l->cs->name, -1 };
	struct sink_result r;
	int64_t t0;
	struct job *done;
	bool final, cut, later;
	int attempts;

	memset(&r, 0, sizeof r);
	/* Our own reference: another lane may finish the job meanwhile. */
	ld_event_ref(ev);
	pthread_mutex_unlock(&d->lock);
	t0 = util_mono_usec();
	l->cs->ops->deliver(l->state, ev, &r);
	/* it->attempts is ours while the conversation is busy. */
	attempts = it->attempts + 1;
	cut = !r.ok && atomic_load(&d->cancel);
	/* Short of descriptors or processes, the event is not to blame:
	 * it waits for them however many retries the sink has. */
	later = !r.ok && !cut && r.retry_later;
	final = r.ok || cut || (!later && attempts > l->cs->retries);
	if (final && !r.ok && !cut)
		log_ctx(LOG_ERR, &ctx, "gave up after %d attempt%s: %s",
		    attempts, attempts == 1 ? "" : "s", r.detail);
	else if (later)
		log_ctx(LOG_WARNING, &ctx, "%s; retrying, not counted as an "
		    "attempt", r.detail);
	else if (!final)
		log_ctx(LOG_WARNING, &ctx, "attempt %d of %lld failed: %s; "
		    "retrying", attempts, l->cs->retries + 1, r.detail);
	/* This sink's window has room again before the spool hears (its
	 * loader, woken by the hook, must find it free). */
	if (final && it->job->lanes)
		bound_sink_give(d->bound, l->cs->name, ev->raw_len);
	/* Recorded before the conversation's next event may start, so that
	 * after a crash nothing runs again behind a later event. */
	r.duration_usec = util_mono_usec() - t0;
	if (final && !cut && d->hooks.sink_done != NULL)
		d->hooks.sink_done(d->hooks.arg, ev, l->cs->name, &r,
		    attempts);
	pthread_mutex_lock(&d->lock);
	done = settle(d, l, c, &r, r.duration_usec, final, cut);
	/* A retry now waits: a sleeping worker must learn when it is due
	 * (this one may be delivering something else by then). Anything
	 * ready, this worker picks itself when it comes back. */
	if (!final)
		wake(d, d->ready_workers + d->wakes + 1);
	pthread_mutex_unlock(&d->lock);
	if (final)
		free(it);
	if (done != NULL)
		finish_job(d, done);
	ld_event_unref(ev);
	pthread_mutex_lock(&d->lock);
	d->ready_workers++;
}

static void
timed_wait(struct dispatch *d, int64_t due)
{
	struct timespec ts;
	int64_t wait = due - util_mono_msec();

	d->ready_workers--;
	d->sleepers++;
	if (due == INT64_MAX)
		pthread_cond_wait(&d->work, &d->lock);
	else {
		util_deadline(&ts, wait < 1 ? 1 : wait);
		(void)pthread_cond_timedwait(&d->work, &d->lock, &ts);
	}
	/* Whatever woke us (a signal, a broadcast, the timeout), we look
	 * for work before sleeping again: a signal on its way is ours. */
	d->sleepers--;
	d->ready_workers++;
	if (d->wakes > 0)
		d->wakes--;
}

/*
 * Waits DISPATCH_LINGER_USEC for more work, still counted as ready: the
 * HTTP threads do not wake it, so what they hand over meanwhile is taken
 * in one go. Under load that is one wake-up for a batch of events rather
 * than one for each; idle, it costs the first event after a lull nothing.
 */
static void
linger(struct dispatch *d, int64_t due)
{
	struct timespec ts;
	int64_t usec = DISPATCH_LINGER_USEC, left;

	if (due != INT64_MAX && (left = (due - util_mono_msec()) * 1000) <
	    usec)
		usec = left < 1 ? 1 : left;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)(usec * 1000);
	while (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	(void)pthread_cond_timedwait(&d->work, &d->lock, &ts);
	if (d->wakes > 0)
		d->wakes--;
}

static void *
worker(void *arg)
{
	struct dispatch *d = arg;
	size_t start = 0;
	struct lane *l;
	struct conv *c;
	int64_t due = INT64_MAX;
	bool warm = false;

	pthread_mutex_lock(&d->lock);
	d->ready_workers++;
	for (;;) {
		if (atomic_load(&d->cancel))
			break;
		if (!d->held && (c = pick(d, &start, &l, &due)) != NULL) {
			/* Off to deliver: if more is ready and no one else
			 * is awake for it, the next worker takes it. */
			d->ready_workers--;
			if (pickable(d))
				wake(d, 1);
			deliver_one(d, l, c);
			warm = true;
			continue;
		}
		if (d->quit && d->queued == 0)
			break;
		if (warm && !d->held && !d->quit) {
			warm = false;
			linger(d, due);
			continue;
		}
		timed_wait(d, d->held ? INT64_MAX : due);
	}
	d->ready_workers--;
	pthread_cond_broadcast(&d->work);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static int
start_lanes(struct dispatch *d, char **err)
{
	const struct config *cfg = d->cfg;
	size_t i;

	d->lanes = xcalloc(cfg->n_sinks, sizeof *d->lanes);
	for (i = 0; i < cfg->n_sinks; i++) {
		struct lane *l = &d->lanes[i];
		char *why = NULL;

		l->cs = &cfg->sinks[i];
		l->ctx.name = l->cs->name;
		l->ctx.cancel = &d->cancel;
		l->ctx.concurrency = l->cs->concurrency;
		l->ctx.grace_ms = cfg->shutdown_grace_ms;
		l->convs = hash_new(sizeof(int64_t), 64);
		TAILQ_INIT(&l->ready);
		TAILQ_INIT(&l->waiting);
		l->st.name = l->cs->name;
		l->st.type = l->cs->ops->type;
		d->n_lanes = i + 1;
		if (l->cs->ops->start(&l->state, l->cs->conf, &l->ctx, &why)
		    == -1) {
			*err = xasprintf("sink %s: %s", l->cs->name, why);
			free(why);
			l->state = NULL;
			return -1;
		}
	}
	return 0;
}

static size_t
thread_count(const struct config *cfg)
{
	long long n = 0;
	size_t i;

	if (cfg->workers > 0)
		return (size_t)cfg->workers;
	/* One thread per unit of concurrency, so that a slow sink can never
	 * starve a fast one. */
	for (i = 0; i < cfg->n_sinks; i++)
		n += cfg->sinks[i].concurrency;
	return n < 1 ? 1 : n > 256 ? 256 : (size_t)n;
}

struct dispatch *
dispatch_new(const struct config *cfg, const struct dispatch_hooks *hooks,
    char **err)
{
	return dispatch_new_shared(cfg, hooks, NULL, err);
}

struct dispatch *
dispatch_new_shared(const struct config *cfg,
    const struct dispatch_hooks *hooks, struct dispatch_bound *bound,
    char **err)
{
	struct dispatch *d = xcalloc(1, sizeof *d);
	pthread_condattr_t ca;
	size_t i;
	int rc;

	d->cfg = cfg;
	if (bound == NULL)
		bound = d->own_bound = dispatch_bound_new(cfg);
	d->bound = bound;
	if (hooks != NULL)
		d->hooks = *hooks;
	atomic_init(&d->cancel, false);
	if (getrandom(&d->rng, sizeof d->rng, 0) != sizeof d->rng ||
	    d->rng == 0)
		d->rng = (uint64_t)util_now_usec() | 1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->work, &ca);
	pthread_cond_init(&d->idle, &ca);
	pthread_condattr_destroy(&ca);
	if (start_lanes(d, err) == -1)
		goto fail;
	d->threads = xcalloc(thread_count(cfg), sizeof *d->threads);
	for (i = 0; i < thread_count(cfg); i++) {
		if ((rc = pthread_create(&d->threads[i], NULL, worker, d))
		    != 0) {
			*err = xasprintf("dispatch: pthread_create: %s",
			    strerror(rc));
			goto fail;
		}
		d->n_threads++;
	}
	return d;
fail:
	dispatch_free(d);
	return NULL;
}

void
dispatch_hold(struct dispatch *d, bool held)
{
	pthread_mutex_lock(&d->lock);
	d->held = held;
	pthread_cond_broadcast(&d->work);
	pthread_mutex_unlock(&d->lock);
}

bool
dispatch_holds(struct dispatch *d, const struct ld_event *ev)
{
	struct ld_id id = ld_event_conversation_id(ev);
	bool found = false;
	size_t i;

	if (!id.set || id.v < 0)
		return false;
	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->n_lanes && !found; i++)
		found = conv_find(&d->lanes[i], id.v) != NULL;
	pthread_mutex_unlock(&d->lock);
	return found;
}

void
dispatch_reopen(struct dispatch *d)
{
	size_t i;

	for (i = 0; i < d->n_lanes; i++)
		if (d->lanes[i].cs->ops->reopen != NULL)
			(void)d->lanes[i].cs->ops->reopen(d->lanes[i].state);
}

void
dispatch_stats(struct dispatch *d, struct dispatch_stats *s)
{
	size_t i;

	pthread_mutex_lock(&d->lock);
	s->queued = d->queued;
	s->queued_bytes = d->queued_bytes;
	s->n_sinks = d->n_lanes;
	s->sinks = xcalloc(d->n_lanes, sizeof *s->sinks);
	s->retrying = 0;
	s->wakeups = d->wakeups;
	for (i = 0; i < d->n_lanes; i++) {
		const struct conv *c;

		s->sinks[i] = d->lanes[i].st;
		TAILQ_FOREACH(c, &d->lanes[i].waiting, link)
			s->retrying++;
	}
	pthread_mutex_unlock(&d->lock);
}

static void
join_workers(struct dispatch *d)
{
	size_t i;

	pthread_mutex_lock(&d->lock);
	d->closed = true;
	d->quit = true;
	pthread_cond_broadcast(&d->work);
	pthread_mutex_unlock(&d->lock);
	for (i = 0; i < d->n_threads; i++)
		pthread_join(d->threads[i], NULL);
	d->n_threads = 0;
}

size_t
dispatch_drain(struct dispatch *d, int64_t grace_ms)
{
	int64_t end = util_mono_msec() + grace_ms;
	size_t left;

	pthread_mutex_lock(&d->lock);
	d->closed = true;
	d->quit = true;
	d->held = false;
	pthread_cond_broadcast(&d->work);
	while (d->queued > 0 && util_mono_msec() < end) {
		struct timespec ts;

		util_deadline(&ts, 50);
		(void)pthread_cond_timedwait(&d->idle, &d->lock, &ts);
	}
	if (d->queued > 0)
		atomic_store(&d->cancel, true);
	pthread_cond_broadcast(&d->work);
	pthread_mutex_unlock(&d->lock);
	join_workers(d);
	left = d->queued + d->abandoned;
	return left;
}

/* Frees what is left in a lane after the workers stopped. */
static void
lane_destroy(struct dispatch *d, struct lane *l)
{
	struct hash_entry *e;
	struct conv *c;
	struct item *it;

	while ((e = hash_pop(l->convs)) != NULL) {
		c = hash_item(e, struct conv, h);
		while ((it = STAILQ_FIRST(&c->items)) != NULL) {
			STAILQ_REMOVE_HEAD(&c->items, link);
			if (it->job->lanes)
				bound_sink_give(d->bound, l->cs->name,
				    it->job->ev->raw_len);
			if (--it->job->pending == 0) {
				ld_event_unref(it->job->ev);
				free(it->job);
			}
			free(it);
		}
		free(c);
	}
	hash_free(l->convs);
	if (l->state != NULL)
		l->cs->ops->stop(l->state);
}

void
dispatch_free(struct dispatch *d)
{
	size_t i;

	if (d == NULL)
		return;
	atomic_store(&d->cancel, true);
	join_workers(d);
	for (i = 0; i < d->n_lanes; i++)
		lane_destroy(d, &d->lanes[i]);
	/* What was left unfinished no longer takes room in a shared bound
	 * (the per-sink counts went back with the lanes' items). */
	bound_give(d->bound, d->queued - d->queued_lanes,
	    d->queued_bytes - d->queued_lanes_bytes);
	dispatch_bound_free(d->own_bound);
	free(d->lanes);
	free(d->threads);
	pthread_cond_destroy(&d->work);
	pthread_cond_destroy(&d->idle);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
