/*
 * The Redis source's acker: the entries in hand, from the read until their
 * XACK, the dispatch hooks that say when their sinks are done, and the
 * thread that writes dead letters and acknowledgements in order (see
 * source_redis_int.h).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_stream.h"
#include "livedesk/event.h"
#include "livedesk/sink.h"
#include "log.h"
#include "redis.h"
#include "source_redis_int.h"
#include "util.h"

#define ACK_FLUSH_MS	3000		/* at shutdown, how long acks may wait */
#define ACK_LINGER_MS	1		/* for more entries to acknowledge at once */

/* One entry read from the stream, from XREADGROUP until its XACK. */
struct entry {
	struct entry	*next, *prev;	/* the entries in hand */
	struct entry	*hnext;		/* by event, while dispatching */
	struct ld_event	*ev;		/* a reference; NULL once done */
	bool		 no_ack;	/* its dead letter could not be written */
	char		 id[SOURCE_REDIS_ID_MAX];
};

/* Work for the acker, in order. */
struct op {
	struct op	*next;
	struct entry	*entry;
	bool		 ack;		/* XACK entry, else XADD argv */
	struct redis_argv argv;
};

static struct entry **
bucket(struct source_redis *s, const struct ld_event *ev)
{
	uint64_t h = (uint64_t)(uintptr_t)ev * 0x9e3779b97f4a7c15ULL;

	return &s->buckets[(h >> 16) & (s->n_buckets - 1)];
}

/* With the lock held. */
static struct entry *
unhash(struct source_redis *s, const struct ld_event *ev)
{
	struct entry **pp = bucket(s, ev), *e;

	while ((e = *pp) != NULL && e->ev != ev)
		pp = &e->hnext;
	if (e != NULL)
		*pp = e->hnext;
	return e;
}

/* With the lock held. */
static struct entry *
find_ev(struct source_redis *s, const struct ld_event *ev)
{
	struct entry *e = *bucket(s, ev);

	while (e != NULL && e->ev != ev)
		e = e->hnext;
	return e;
}

bool
source_redis_ack_holds(struct source_redis *s, const char *id)
{
	struct entry *e;
	bool found = false;

	pthread_mutex_lock(&s->lock);
	for (e = s->held; e != NULL && !found; e = e->next)
		found = strcmp(e->id, id) == 0;
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* With the lock held. Only the first op wakes the acker: it lingers a
 * moment for more, so that one XACK acknowledges many entries. */
static void
push_op(struct source_redis *s, struct op *o)
{
	o->next = NULL;
	if (s->ops_tail != NULL)
		s->ops_tail->next = o;
	else {
		s->ops = o;
		pthread_cond_signal(&s->ops_cond);
	}
	s->ops_tail = o;
}

static void
op_free(struct op *o)
{
	redis_argv_free(&o->argv);
	free(o);
}

static void
entry_free(struct entry *e)
{
	ld_event_unref(e->ev);
	free(e);
}

/* The dead letter of entry e: d says why, this worker where it came
 * from (the fields: codec_stream.h). */
static struct op *
dead_op(struct source_redis *s, struct entry *e, struct codec_stream_dead *d)
{
	struct op *o = xcalloc(1, sizeof *o);

	o->entry = e;
	d->source_id = e->id;
	d->source_stream = s->stream;
	d->consumer = s->consumer;
	redis_argv_str(&o->argv, "XADD");
	redis_argv_str(&o->argv, s->dead_letters);
	redis_argv_str(&o->argv, "*");
	codec_stream_encode_dead(&o->argv, d);
	return o;
}

/* Hook: a sink is finished with an event; a sink that gave up makes a
 * dead letter, written before the entry is acknowledged. */
void
source_redis_ack_sink_done(void *arg, struct ld_event *ev, const char *sink,
    const struct sink_result *r, int attempts)
{
	struct source_redis *s = arg;
	struct codec_stream_dead d = {
		.reason = "sink failed", .sink = sink, .attempts = attempts,
		.exited = r->exited, .exit_status = r->exit_status,
		.signal = r->signal, .detail = r->detail, .ev = ev,
	};
	struct entry *e;

	if (r->ok)
		return;
	pthread_mutex_lock(&s->lock);
	if ((e = find_ev(s, ev)) != NULL)
		push_op(s, dead_op(s, e, &d));
	pthread_mutex_unlock(&s->lock);
}

/* Hook: every sink is finished with the event: acknowledge its entry. */
void
source_redis_ack_event_done(void *arg, struct ld_event *ev)
{
	struct source_redis *s = arg;
	struct op *o = xcalloc(1, sizeof *o);
	struct ld_event *ref = NULL;
	struct entry *e;

	pthread_mutex_lock(&s->lock);
	if ((e = unhash(s, ev)) != NULL) {
		ref = e->ev;
		e->ev = NULL;
		o->entry = e;
		o->ack = true;
		push_op(s, o);
		o = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	/* Dropped outside the lock: the last reference frees the event. */
	ld_event_unref(ref);
	free(o);
}

/* --- the acker --- */

/* With the lock held: the entry is acknowledged (or never will be by us):
 * it leaves the entries in hand, and the reader may read one more. */
static void
release(struct source_redis *s, struct entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		s->held = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	s->n_held--;
	pthread_cond_broadcast(&s->cond);
	entry_free(e);
}

/*
 * Runs a batch: the dead letters, then one XACK for the entries whose
 * dead letters (if any) were written. Returns 0, or -1 when the connection
 * failed (the batch is to be run again; a dead letter may then be written
 * twice, never lost).
 */
static int
run_ops(struct source_redis *s, struct redis_conn *rc, struct op *ops,
    char *err, size_t len)
{
	struct redis_argv ack = { 0 };
	struct op *o;
	redisReply *r;
	size_t n_dead = 0;

	if (redis_conn_ready(rc, err, len) == -1)
		return -1;
	for (o = ops; o != NULL; o = o->next)
		if (!o->ack) {
			if (redis_conn_append(rc, o->argv.argc, o->argv.argv,
			    o->argv.lens, err, len) == -1)
				return -1;
			n_dead++;
		}
	for (o = ops; o != NULL && n_dead > 0; o = o->next) {
		if (o->ack)
			continue;
		n_dead--;
		if ((r = redis_conn_reply(rc, err, len)) == NULL)
			return -1;
		if (r->type == REDIS_REPLY_ERROR) {
			log_err("dead letter for entry %s not written to %s: "
			    "%s; it stays pending, to be claimed again after "
			    "claim_after", o->entry->id, s->dead_letters,
			    r->str);
			o->entry->no_ack = true;
		} else {
			pthread_mutex_lock(&s->lock);
			s->dead++;
			pthread_mutex_unlock(&s->lock);
			log_warn("entry %s: dead letter written to %s",
			    o->entry->id, s->dead_letters);
		}
		freeReplyObject(r);
	}
	redis_argv_str(&ack, "XACK");
	redis_argv_str(&ack, s->stream);
	redis_argv_str(&ack, s->group);
	for (o = ops; o != NULL; o = o->next)
		if (o->ack && !o->entry->no_ack)
			redis_argv_str(&ack, o->entry->id);
	r = NULL;
	if (ack.argc > 3 && (r = redis_conn_command(rc, ack.argc, ack.argv,
	    ack.lens, err, len)) == NULL) {
		redis_argv_free(&ack);
		return -1;
	}
	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		log_warn("XACK on %s, group %s: %s (the entries are no longer "
		    "pending)", s->stream, s->group, r->str);
	if (r != NULL)
		freeReplyObject(r);
	redis_argv_free(&ack);
	pthread_mutex_lock(&s->lock);
	for (o = ops; o != NULL; o = o->next)
		if (o->ack) {
			if (!o->entry->no_ack)
				s->done++;
			release(s, o->entry);
		}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* XCLAIM ... JUSTID of every entry in hand: resets their idle time, so
 * that claim_after counts from the last sign of life. */
static void
heartbeat(struct source_redis *s, struct redis_conn *rc)
{
	struct redis_argv a = { 0 };
	struct entry *e;
	redisReply *r;
	char err[512];

	redis_argv_str(&a, "XCLAIM");
	redis_argv_str(&a, s->stream);
	redis_argv_str(&a, s->group);
	redis_argv_str(&a, s->consumer);
	redis_argv_str(&a, "0");
	pthread_mutex_lock(&s->lock);
	for (e = s->held; e != NULL; e = e->next)
		redis_argv_fmt(&a, "%s", e->id);
	pthread_mutex_unlock(&s->lock);
	redis_argv_str(&a, "JUSTID");
	if (a.argc > 6 && redis_conn_ready(rc, err, sizeof err) != -1) {
		r = redis_conn_command(rc, a.argc, a.argv, a.lens, err,
		    sizeof err);
		if (r != NULL && r->type == REDIS_REPLY_ERROR)
			log_warn("XCLAIM (keeping the entries in hand): %s",
			    r->str);
		if (r != NULL)
			freeReplyObject(r);
	}
	redis_argv_free(&a);
}

void *
source_redis_ack_main(void *arg)
{
	struct source_redis *s = arg;
	struct redis_conn *rc = redis_conn_new(s->url,
	    s->timeout_ms);
	int64_t beat_ms = s->claim_after_ms / 3, next_beat, now;
	struct op *batch, *o, *last;
	bool down = false, lingered = false;
	unsigned gen = 0;
	char err[512];

	if (beat_ms < 30)
		beat_ms = 30;
	next_beat = util_mono_msec() + beat_ms;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		now = util_mono_msec();
		if (s->acker_quit && (s->ops == NULL ||
		    now >= s->acker_deadline))
			break;
		if (s->ops == NULL && now < next_beat) {
			source_redis_wait(&s->ops_cond, &s->lock, next_beat - now);
			continue;
		}
		if (s->ops != NULL && !s->acker_quit && !lingered) {
			lingered = true;
			source_redis_wait(&s->ops_cond, &s->lock, ACK_LINGER_MS);
			continue;
		}
		lingered = false;
		batch = s->ops;
		s->ops = s->ops_tail = NULL;
		pthread_mutex_unlock(&s->lock);
		if (batch != NULL && run_ops(s, rc, batch, err, sizeof err)
		    == -1) {
			if (!down)
				log_err("acknowledging entries: %s; retrying",
				    err);
			down = true;
			pthread_mutex_lock(&s->lock);
			/* Back at the head, in order, before what came
			 * meanwhile. */
			for (last = batch; last->next != NULL; last = last->next)
				;
			last->next = s->ops;
			if (s->ops == NULL)
				s->ops_tail = last;
			s->ops = batch;
			if (!s->acker_quit || util_mono_msec() <
			    s->acker_deadline)
				source_redis_wait(&s->ops_cond, &s->lock,
				    redis_conn_wait_ms(rc) > 50 ?
				    redis_conn_wait_ms(rc) : 50);
			continue;
		}
		if (batch != NULL && down) {
			log_notice("acknowledging entries again");
			down = false;
		}
		while ((o = batch) != NULL) {
			batch = o->next;
			op_free(o);
		}
		/* On a new connection at once: after an outage our entries
		 * look idle, and other workers are about to claim. */
		if (util_mono_msec() >= next_beat ||
		    redis_conn_generation(rc) != gen) {
			heartbeat(s, rc);
			gen = redis_conn_generation(rc);
			next_beat = util_mono_msec() + beat_ms;
		}
		pthread_mutex_lock(&s->lock);
	}
	/* What could not be acknowledged stays pending in the group. */
	while ((o = s->ops) != NULL) {
		s->ops = o->next;
		if (o->ack)
			release(s, o->entry);
		op_free(o);
	}
	s->ops_tail = NULL;
	pthread_mutex_unlock(&s->lock);
	redis_conn_free(rc);
	return NULL;
}


/* --- the entries in hand --- */

struct entry *
source_redis_ack_hold(struct source_redis *s, const char *id,
    struct ld_event *ev)
{
	struct entry *e = xcalloc(1, sizeof *e), **b;

	snprintf(e->id, sizeof e->id, "%s", id);
	pthread_mutex_lock(&s->lock);
	e->next = s->held;
	if (s->held != NULL)
		s->held->prev = e;
	s->held = e;
	s->n_held++;
	if (ev != NULL) {
		e->ev = ld_event_ref(ev);
		b = bucket(s, ev);
		e->hnext = *b;
		*b = e;
	}
	pthread_mutex_unlock(&s->lock);
	return e;
}

void
source_redis_ack_drop(struct source_redis *s, struct entry *e)
{
	pthread_mutex_lock(&s->lock);
	if (e->ev != NULL)
		(void)unhash(s, e->ev);
	release(s, e);
	pthread_mutex_unlock(&s->lock);
}

void
source_redis_ack_entry(struct source_redis *s, struct entry *e,
    struct codec_stream_dead *d)
{
	struct op *o = d != NULL ? dead_op(s, e, d) : NULL;
	struct op *ack = xcalloc(1, sizeof *ack);

	ack->entry = e;
	ack->ack = true;
	pthread_mutex_lock(&s->lock);
	if (o != NULL)
		push_op(s, o);
	push_op(s, ack);
	pthread_mutex_unlock(&s->lock);
}

void
source_redis_ack_stop(struct source_redis *s)
{
	pthread_mutex_lock(&s->lock);
	s->acker_quit = true;
	s->acker_deadline = util_mono_msec() + ACK_FLUSH_MS;
	pthread_cond_broadcast(&s->ops_cond);
	pthread_mutex_unlock(&s->lock);
	if (s->acker_started)
		pthread_join(s->acker, NULL);
	s->acker_started = false;
}

void
source_redis_ack_free(struct source_redis *s)
{
	struct entry *e;
	struct op *o;

	while ((o = s->ops) != NULL) {
		s->ops = o->next;
		op_free(o);
	}
	while ((e = s->held) != NULL) {
		s->held = e->next;
		entry_free(e);
	}
}
