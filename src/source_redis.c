/*
 * Worker mode: reads a Redis stream through a consumer group and hands
 * each entry to the dispatcher as the typed event it was when a receiver
 * took it over HTTP (see source_redis.h).
 *
 * Threads and connections (hiredis is not thread-safe per connection):
 *  - the reader owns one connection: XGROUP CREATE, XREADGROUP (its own
 *    pending entries first, then new ones, BLOCK 1s so that it notices a
 *    stop), XAUTOCLAIM of entries other workers left idle; it submits
 *    entries in stream order, at most queue_size (and queue_bytes) ahead
 *    of their acknowledgements;
 *  - the dispatcher's workers run the sinks and call the hooks below,
 *    which only queue work;
 *  - the acker owns the other connection: dead letters (XADD to the
 *    dead-letter stream) and then XACKs, in the order they were queued,
 *    so that an entry is never acknowledged before its dead letter is
 *    written; and, every claim_after/3, an XCLAIM ... JUSTID of the
 *    entries in hand, which resets their idle time so that no other
 *    worker claims an entry whose script is merely slow.
 * One mutex guards the entries in hand and the acker's queue.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec_stream.h"
#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "redis.h"
#include "redis_conf.h"
#include "source_redis.h"
#include "util.h"

#define DEFAULT_GROUP	"livedesk"
#define BLOCK_MS	1000		/* XREADGROUP BLOCK: how soon a stop is seen */
#define ACK_FLUSH_MS	3000		/* at shutdown, how long acks may wait */
#define ACK_LINGER_MS	1		/* for more entries to acknowledge at once */
/* After a (re)connection, how much longer than claim_after to wait before
 * claiming: other live workers reconnect (backoff up to 2s, redis.c) and
 * renew their entries first. */
#define CLAIM_SETTLE_MS	2500

/* --- configuration: the [source] keys --- */

struct source_conf {
	struct redis_url url;
	char		*password_file;
	char		*stream;
	char		*group;
	char		*consumer;	/* NULL: the host name */
	char		*dead_letters;	/* NULL: STREAM:failed */
	int64_t		 claim_after_ms;
	long long	 batch;
	int64_t		 timeout_ms;
};

/* Stream, group and consumer names: no spaces or control characters, so
 * that they read plainly in logs and redis-cli. */
static int
set_name(char **field, const char *value, char **err)
{
	const unsigned char *p;

	if (*value == '\0' || strlen(value) > 200) {
		*err = xstrdup("a name of 1 to 200 characters is needed");
		return -1;
	}
	for (p = (const unsigned char *)value; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f) {
			*err = xasprintf("'%s' has spaces or control "
			    "characters", value);
			return -1;
		}
	free(*field);
	*field = xstrdup(value);
	return 0;
}

static int
name_set(void *conf, const struct config_key *k, const char *value,
    char **err)
{
	return set_name(config_key_field(k, conf), value, err);
}

static const struct config_key_own name_key = { .set = name_set };

#define OFF(f) offsetof(struct source_conf, f)
static const struct config_key source_keys[] = {
	REDIS_CONF_URL(struct source_conf),
	REDIS_CONF_PASSWORD_FILE(struct source_conf),
	{ .name = "stream", .type = CONFIG_KEY_OWN, .off = OFF(stream),
	  .own = &name_key, .def = REDIS_CONF_DEFAULT_STREAM },
	{ .name = "group", .type = CONFIG_KEY_OWN, .off = OFF(group),
	  .own = &name_key, .def = DEFAULT_GROUP },
	{ .name = "consumer", .type = CONFIG_KEY_OWN, .off = OFF(consumer),
	  .own = &name_key, .unset = "the host name" },
	{ .name = "dead_letters", .type = CONFIG_KEY_OWN,
	  .off = OFF(dead_letters), .own = &name_key },
	{ .name = "claim_after", .type = CONFIG_KEY_DURATION,
	  .off = OFF(claim_after_ms), .min = 100, .max = 86400000,
	  .def = "1m" },
	{ .name = "batch", .type = CONFIG_KEY_INT, .off = OFF(batch),
	  .min = 1, .max = 10000, .def = "100" },
	REDIS_CONF_TIMEOUT(struct source_conf),
	{ .name = NULL },
};
#undef OFF

static int
source_check(void *conf, char **err)
{
	struct source_conf *c = conf;

	if (c->dead_letters == NULL)
		c->dead_letters = xasprintf("%s:failed", c->stream);
	if (strcmp(c->dead_letters, c->stream) == 0) {
		*err = xstrdup("dead_letters: the same stream as 'stream'");
		return -1;
	}
	return redis_conf_check(&c->url, c->password_file, err);
}

/* The [source] keys, which config.c reads as a sink type's. */
const struct config_key_section source_redis_keys = {
	.keys = source_keys,
	.size = sizeof(struct source_conf),
	.check = source_check,
};

static bool
str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
conf_equal(const struct source_conf *a, const struct source_conf *b)
{
	return str_eq(a->url.display, b->url.display) &&
	    str_eq(a->url.password, b->url.password) &&
	    str_eq(a->stream, b->stream) && str_eq(a->group, b->group) &&
	    str_eq(a->consumer, b->consumer) &&
	    str_eq(a->dead_letters, b->dead_letters) &&
	    a->claim_after_ms == b->claim_after_ms && a->batch == b->batch &&
	    a->timeout_ms == b->timeout_ms;
}

static void
conf_copy(struct source_conf *dst, const struct source_conf *src)
{
	memset(dst, 0, sizeof *dst);
	redis_url_copy(&dst->url, &src->url);
	dst->stream = xstrdup(src->stream);
	dst->group = xstrdup(src->group);
	dst->consumer = src->consumer ? xstrdup(src->consumer) : NULL;
	dst->dead_letters = xstrdup(src->dead_letters);
	dst->claim_after_ms = src->claim_after_ms;
	dst->batch = src->batch;
	dst->timeout_ms = src->timeout_ms;
}

/* --- the worker --- */

/* One entry read from the stream, from XREADGROUP until its XACK. */
struct entry {
	struct entry	*next, *prev;	/* the entries in hand */
	struct entry	*hnext;		/* by event, while dispatching */
	struct ld_event	*ev;		/* a reference; NULL once done */
	size_t		 bytes;
	bool		 no_ack;	/* its dead letter could not be written */
	char		 id[48];
};

/* Work for the acker, in order. */
struct op {
	struct op	*next;
	struct entry	*entry;
	bool		 ack;		/* XACK entry, else XADD argv */
	struct redis_argv argv;
};

struct source_redis {
	struct source_conf	 conf;		/* a copy: outlives reloads */
	char			*consumer;
	struct config		*cfg;		/* the reader swaps it */
	struct dispatch		*disp;
	struct config		*next_cfg;	/* a reload, for the reader */
	struct dispatch		*next_disp;

	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;		/* the reader's: room, stop */
	pthread_cond_t		 ops_cond;	/* the acker's: work, stop */
	struct entry		*held;		/* the entries in hand */
	size_t			 n_held, held_bytes;
	size_t			 n_dispatching;
	struct entry		**buckets;	/* by event */
	size_t			 n_buckets;
	struct op		*ops, *ops_tail;
	bool			 acker_quit;
	int64_t			 acker_deadline;
	uint64_t		 done, dead, claimed;

	atomic_bool		 reader_stop;
	pthread_t		 reader, acker;
	bool			 reader_started, acker_started, drained;
};

static void
cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t ms)
{
	struct timespec ts;

	if (ms < 1)
		ms = 1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	(void)pthread_cond_timedwait(cond, lock, &ts);
}

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

static bool
held_id(struct source_redis *s, const char *id)
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
	d->source_stream = s->conf.stream;
	d->consumer = s->consumer;
	redis_argv_str(&o->argv, "XADD");
	redis_argv_str(&o->argv, s->conf.dead_letters);
	redis_argv_str(&o->argv, "*");
	codec_stream_encode_dead(&o->argv, d);
	return o;
}

/* Hook: a sink is finished with an event; a sink that gave up makes a
 * dead letter, written before the entry is acknowledged. */
static void
hook_sink_done(void *arg, struct ld_event *ev, const char *sink,
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
static void
hook_event_done(void *arg, struct ld_event *ev)
{
	struct source_redis *s = arg;
	struct op *o = xcalloc(1, sizeof *o);
	struct ld_event *ref = NULL;
	struct entry *e;

	pthread_mutex_lock(&s->lock);
	if ((e = unhash(s, ev)) != NULL) {
		s->n_dispatching--;
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
	s->held_bytes -= e->bytes;
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
			    "claim_after", o->entry->id, s->conf.dead_letters,
			    r->str);
			o->entry->no_ack = true;
		} else {
			pthread_mutex_lock(&s->lock);
			s->dead++;
			pthread_mutex_unlock(&s->lock);
			log_warn("entry %s: dead letter written to %s",
			    o->entry->id, s->conf.dead_letters);
		}
		freeReplyObject(r);
	}
	redis_argv_str(&ack, "XACK");
	redis_argv_str(&ack, s->conf.stream);
	redis_argv_str(&ack, s->conf.group);
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
		    "pending)", s->conf.stream, s->conf.group, r->str);
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
	redis_argv_str(&a, s->conf.stream);
	redis_argv_str(&a, s->conf.group);
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

static void *
acker_main(void *arg)
{
	struct source_redis *s = arg;
	struct redis_conn *rc = redis_conn_new(&s->conf.url,
	    s->conf.timeout_ms);
	int64_t beat_ms = s->conf.claim_after_ms / 3, next_beat, now;
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
			cond_wait_ms(&s->ops_cond, &s->lock, next_beat - now);
			continue;
		}
		if (s->ops != NULL && !s->acker_quit && !lingered) {
			lingered = true;
			cond_wait_ms(&s->ops_cond, &s->lock, ACK_LINGER_MS);
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
				cond_wait_ms(&s->ops_cond, &s->lock,
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

/* --- the reader --- */

/* The reader's view of Redis, for one line per outage. */
struct reader {
	struct source_redis	*s;
	struct redis_conn	*rc;
	bool			 down;
	bool			 setup;		/* group made, history read */
	bool			 history;	/* reading our own pending */
	char			 history_id[48];
	char			 claim_cursor[48];
	int64_t			 next_claim;
};

/* How often to look for entries to claim: claim_after/2, at most 5s. */
static int64_t
claim_every(const struct source_redis *s)
{
	return s->conf.claim_after_ms / 2 < 5000 ?
	    s->conf.claim_after_ms / 2 : 5000;
}

static void
reader_down(struct reader *rd, const char *why)
{
	if (!rd->down)
		log_err("reading %s: %s; reconnecting", rd->s->conf.stream, why);
	rd->down = true;
	rd->setup = false;
}

/* Sleeps up to ms, waking for a stop. */
static void
reader_pause(struct source_redis *s, int64_t ms)
{
	pthread_mutex_lock(&s->lock);
	if (!atomic_load(&s->reader_stop))
		cond_wait_ms(&s->cond, &s->lock, ms);
	pthread_mutex_unlock(&s->lock);
}

/* Creates the group at the start of the stream (MKSTREAM: the stream may
 * not exist yet). Entries added before the group existed are read too:
 * nothing a receiver wrote is skipped. */
static int
make_group(struct reader *rd)
{
	struct source_redis *s = rd->s;
	const char *argv[] = { "XGROUP", "CREATE", s->conf.stream,
	    s->conf.group, "0", "MKSTREAM" };
	redisReply *r;
	char err[512];

	if ((r = redis_conn_command(rd->rc, 6, argv, NULL, err, sizeof err))
	    == NULL) {
		reader_down(rd, err);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "BUSYGROUP", 9) != 0) {
		log_err("XGROUP CREATE %s %s: %s", s->conf.stream,
		    s->conf.group, r->str);
		freeReplyObject(r);
		return -1;
	}
	if (r->type != REDIS_REPLY_ERROR)
		log_notice("created consumer group %s on stream %s",
		    s->conf.group, s->conf.stream);
	freeReplyObject(r);
	rd->setup = true;
	rd->history = true;
	snprintf(rd->history_id, sizeof rd->history_id, "0");
	snprintf(rd->claim_cursor, sizeof rd->claim_cursor, "0-0");
	/* After a start or an outage every pending entry looks idle: live
	 * workers get time to reconnect and renew theirs before any is
	 * claimed. */
	rd->next_claim = util_mono_msec() + rd->s->conf.claim_after_ms +
	    CLAIM_SETTLE_MS;
	return 0;
}

/* A bad entry: a dead letter with the reason and its fields as they
 * were, then its acknowledgement. */
static void
reject(struct source_redis *s, struct entry *e, const redisReply *fields,
    const char *why)
{
	struct codec_stream_dead d = { .reason = why, .fields = fields };
	struct op *o = dead_op(s, e, &d), *ack = xcalloc(1, sizeof *ack);
	char *safe = util_escape(why, 0);

	/* why may quote the payload (a JSON error): escaped. */
	log_err("stream %s, entry %s: %s; sent to %s", s->conf.stream, e->id,
	    safe, s->conf.dead_letters);
	free(safe);
	ack->entry = e;
	ack->ack = true;
	pthread_mutex_lock(&s->lock);
	push_op(s, o);
	push_op(s, ack);
	pthread_mutex_unlock(&s->lock);
}

/* An entry that was deleted (trimmed) before we read it: nothing to run,
 * nothing to keep; it leaves the pending list. */
static void
vanished(struct source_redis *s, struct entry *e)
{
	struct op *ack = xcalloc(1, sizeof *ack);

	log_err("stream %s, entry %s was deleted before it was processed "
	    "(is the sink's maxlen too small for the backlog?)",
	    s->conf.stream, e->id);
	ack->entry = e;
	ack->ack = true;
	pthread_mutex_lock(&s->lock);
	push_op(s, ack);
	pthread_mutex_unlock(&s->lock);
}

/* One entry [id, fields] of a reply: in hand, then to the dispatcher.
 * Only a re-read (our own pending, a claim) can be one we hold already. */
static void
take_entry(struct source_redis *s, const redisReply *item, bool reread)
{
	const redisReply *idr, *fields;
	struct ld_event *ev = NULL;
	struct entry *e, **b;
	char *why = NULL;

	if (item->type != REDIS_REPLY_ARRAY || item->elements < 2 ||
	    item->element[0]->type != REDIS_REPLY_STRING ||
	    item->element[0]->len >= sizeof e->id)
		return;
	idr = item->element[0];
	fields = item->element[1];
	if (reread && held_id(s, idr->str))
		return;		/* ours already */
	e = xcalloc(1, sizeof *e);
	memcpy(e->id, idr->str, idr->len);
	if (fields->type != REDIS_REPLY_NIL)
		ev = codec_stream_decode(e->id, fields, (int)s->cfg->max_depth,
		    &why);
	e->bytes = ev != NULL ? ev->raw_len : 0;
	pthread_mutex_lock(&s->lock);
	e->next = s->held;
	if (s->held != NULL)
		s->held->prev = e;
	s->held = e;
	s->n_held++;
	s->held_bytes += e->bytes;
	if (ev != NULL) {
		e->ev = ld_event_ref(ev);
		b = bucket(s, ev);
		e->hnext = *b;
		*b = e;
		s->n_dispatching++;
	}
	pthread_mutex_unlock(&s->lock);
	if (fields->type == REDIS_REPLY_NIL)
		vanished(s, e);
	else if (ev == NULL) {
		reject(s, e, fields, why);
		free(why);
	} else {
		/* FORCE: the bound is kept here, before reading; an entry
		 * read is an entry taken. The dispatcher refuses only once
		 * it is closed, at shutdown: the entry stays pending. */
		if (dispatch_submit(s->disp, ev, NULL, 0, DISPATCH_FORCE) ==
		    -1) {
			pthread_mutex_lock(&s->lock);
			if (unhash(s, ev) != NULL)
				s->n_dispatching--;
			release(s, e);
			pthread_mutex_unlock(&s->lock);
		}
		ld_event_unref(ev);
	}
}

/* The entries of one stream in an XREADGROUP reply; returns how many,
 * and the last id in last (for the history pass). */
static size_t
take_entries(struct source_redis *s, const redisReply *entries, bool reread,
    char *last, size_t len)
{
	size_t i;

	if (entries->type != REDIS_REPLY_ARRAY)
		return 0;
	for (i = 0; i < entries->elements; i++) {
		const redisReply *it = entries->element[i];

		if (it->type == REDIS_REPLY_ARRAY && it->elements >= 1 &&
		    it->element[0]->type == REDIS_REPLY_STRING)
			snprintf(last, len, "%s", it->element[0]->str);
		take_entry(s, it, reread);
	}
	return entries->elements;
}

/* How many more entries may be read now: 0 while queue_size entries (or
 * queue_bytes) are in hand. */
static size_t
room(struct source_redis *s)
{
	size_t n, max = (size_t)s->cfg->queue_size;

	pthread_mutex_lock(&s->lock);
	n = s->n_held < max ? max - s->n_held : 0;
	if (s->held_bytes >= s->cfg->queue_bytes)
		n = 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Handles an error reply to a read: a lost group is made again. */
static void
read_error(struct reader *rd, const char *cmd, const redisReply *r)
{
	if (strncmp(r->str, "NOGROUP", 7) == 0) {
		log_warn("%s: %s; making the group again (did Redis lose its "
		    "data?)", cmd, r->str);
		rd->setup = false;
		return;
	}
	log_err("%s on %s: %s", cmd, rd->s->conf.stream, r->str);
	reader_pause(rd->s, 1000);
}

/* XREADGROUP: our own pending entries (history) or new ones (">"). */
static void
read_group(struct reader *rd, size_t n)
{
	struct source_redis *s = rd->s;
	struct redis_argv a = { 0 };
	redisReply *r;
	size_t got = 0;
	char err[512], last[48] = "";

	redis_argv_str(&a, "XREADGROUP");
	redis_argv_str(&a, "GROUP");
	redis_argv_str(&a, s->conf.group);
	redis_argv_str(&a, s->consumer);
	redis_argv_str(&a, "COUNT");
	redis_argv_fmt(&a, "%zu", n);
	if (!rd->history) {
		redis_argv_str(&a, "BLOCK");
		redis_argv_fmt(&a, "%d", BLOCK_MS);
	}
	redis_argv_str(&a, "STREAMS");
	redis_argv_str(&a, s->conf.stream);
	redis_argv_str(&a, rd->history ? rd->history_id : ">");
	r = redis_conn_command(rd->rc, a.argc, a.argv, a.lens, err,
	    sizeof err);
	redis_argv_free(&a);
	if (r == NULL) {
		reader_down(rd, err);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR)
		read_error(rd, "XREADGROUP", r);
	else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements == 2)
		got = take_entries(s, r->element[0]->element[1], rd->history,
		    last, sizeof last);
	freeReplyObject(r);
	if (rd->history) {
		if (got == 0 || last[0] == '\0') {
			rd->history = false;
		} else
			snprintf(rd->history_id, sizeof rd->history_id, "%s",
			    last);
	}
}

/* XAUTOCLAIM: entries another consumer left idle for claim_after. One
 * call per turn; the cursor goes on at the next turn until it is back at
 * the start, then waits for the next interval. */
static void
autoclaim(struct reader *rd, size_t n)
{
	struct source_redis *s = rd->s;
	struct redis_argv a = { 0 };
	const redisReply *list;
	redisReply *r;
	size_t i, before;
	char err[512], last[48];

	redis_argv_str(&a, "XAUTOCLAIM");
	redis_argv_str(&a, s->conf.stream);
	redis_argv_str(&a, s->conf.group);
	redis_argv_str(&a, s->consumer);
	redis_argv_fmt(&a, "%" PRId64, s->conf.claim_after_ms);
	redis_argv_str(&a, rd->claim_cursor);
	redis_argv_str(&a, "COUNT");
	redis_argv_fmt(&a, "%zu", n);
	r = redis_conn_command(rd->rc, a.argc, a.argv, a.lens, err,
	    sizeof err);
	redis_argv_free(&a);
	rd->next_claim = util_mono_msec() + claim_every(s);
	if (r == NULL) {
		reader_down(rd, err);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		read_error(rd, "XAUTOCLAIM", r);
		freeReplyObject(r);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return;
	}
	snprintf(rd->claim_cursor, sizeof rd->claim_cursor, "%s",
	    r->element[0]->str);
	if (strcmp(rd->claim_cursor, "0-0") != 0)
		rd->next_claim = 0;	/* more to look at: go on soon */
	list = r->element[1];
	if (list->type == REDIS_REPLY_ARRAY && list->elements > 0) {
		pthread_mutex_lock(&s->lock);
		before = s->n_held;
		pthread_mutex_unlock(&s->lock);
		(void)take_entries(s, list, true, last, sizeof last);
		pthread_mutex_lock(&s->lock);
		if (s->n_held > before)
			s->claimed += s->n_held - before;
		pthread_mutex_unlock(&s->lock);
		log_notice("claimed %zu entr%s left idle for %" PRId64 "ms by "
		    "another consumer of group %s", list->elements,
		    list->elements == 1 ? "y" : "ies", s->conf.claim_after_ms,
		    s->conf.group);
	}
	/* Redis 7: the ids that were pending but deleted from the stream;
	 * XAUTOCLAIM has already taken them off the pending list. */
	if (r->elements >= 3 && r->element[2]->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->element[2]->elements; i++)
			log_err("stream %s, entry %s was deleted before it was "
			    "processed (is the sink's maxlen too small for the "
			    "backlog?)", s->conf.stream,
			    r->element[2]->element[i]->str);
	freeReplyObject(r);
}

/* A reload waits until the old sinks are finished with every entry in
 * hand, so that a conversation's entries never run in two generations at
 * once. Returns whether the reader may read. */
static bool
reader_swap(struct source_redis *s)
{
	struct dispatch *old_disp;
	struct config *old_cfg;

	pthread_mutex_lock(&s->lock);
	if (s->next_disp == NULL) {
		pthread_mutex_unlock(&s->lock);
		return true;
	}
	if (s->n_dispatching > 0) {
		cond_wait_ms(&s->cond, &s->lock, 50);
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	old_disp = s->disp;
	old_cfg = s->cfg;
	s->disp = s->next_disp;
	s->cfg = s->next_cfg;
	s->next_disp = NULL;
	s->next_cfg = NULL;
	pthread_mutex_unlock(&s->lock);
	dispatch_free(old_disp);
	config_free(old_cfg);
	log_notice("worker: new configuration in use, %zu sink%s",
	    s->cfg->n_sinks, s->cfg->n_sinks == 1 ? "" : "s");
	return true;
}

static void *
reader_main(void *arg)
{
	struct source_redis *s = arg;
	struct reader rd;
	char err[512];
	size_t n;
	int rc;

	memset(&rd, 0, sizeof rd);
	rd.s = s;
	/* A reply may take BLOCK_MS before the command timeout starts. */
	rd.rc = redis_conn_new(&s->conf.url, s->conf.timeout_ms + BLOCK_MS);
	while (!atomic_load(&s->reader_stop)) {
		if (!reader_swap(s))
			continue;
		if ((rc = redis_conn_ready(rd.rc, err, sizeof err)) == -1) {
			reader_down(&rd, err);
			reader_pause(s, redis_conn_wait_ms(rd.rc) < 200 ?
			    redis_conn_wait_ms(rd.rc) + 1 : 200);
			continue;
		}
		if (rc == 1) {
			log_notice("%s %s as consumer %s of group %s on %s",
			    rd.down ? "connected again: reading" : "reading",
			    s->conf.stream, s->consumer, s->conf.group,
			    s->conf.url.display);
			rd.down = false;
			rd.setup = false;
		}
		if (!rd.setup && make_group(&rd) == -1) {
			reader_pause(s, 1000);
			continue;
		}
		if ((n = room(s)) == 0) {
			reader_pause(s, 200);
			continue;
		}
		if (n > (size_t)s->conf.batch)
			n = (size_t)s->conf.batch;
		if (!rd.history && util_mono_msec() >= rd.next_claim)
			autoclaim(&rd, n);
		else
			read_group(&rd, n);
	}
	redis_conn_free(rd.rc);
	return NULL;
}

/* --- start, reload, stop --- */

static struct dispatch *
start_dispatch(struct source_redis *s, const struct config *cfg, char **err)
{
	struct dispatch_hooks hooks = { hook_sink_done, hook_event_done, s };

	return dispatch_new(cfg, &hooks, err);
}

/* The [source] of cfg, or the defaults when it has none (--worker). */
static int
source_of(const struct config *cfg, struct source_conf *out, char **err)
{
	void *def = NULL;
	int rc = 0;

	if (cfg->source.present) {
		conf_copy(out, cfg->source.conf);
		return 0;
	}
	if (config_key_section_check(&source_redis_keys, &def, err) == -1)
		rc = -1;
	else
		conf_copy(out, def);
	config_key_section_free(&source_redis_keys, def);
	return rc;
}

static void
conf_clear(struct source_conf *c)
{
	redis_url_free(&c->url);
	free(c->password_file);
	free(c->stream);
	free(c->group);
	free(c->consumer);
	free(c->dead_letters);
	memset(c, 0, sizeof *c);
}

struct source_redis *
source_redis_new(struct config *cfg, const char *consumer, char **err)
{
	struct source_redis *s = xcalloc(1, sizeof *s);
	pthread_condattr_t ca;
	char host[256];
	int rc;

	s->cfg = cfg;
	atomic_init(&s->reader_stop, false);
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_cond_init(&s->ops_cond, &ca);
	pthread_condattr_destroy(&ca);
	for (s->n_buckets = 64; s->n_buckets < (size_t)cfg->queue_size;)
		s->n_buckets *= 2;
	s->buckets = xcalloc(s->n_buckets, sizeof *s->buckets);
	if (source_of(cfg, &s->conf, err) == -1)
		goto fail;
	if (consumer == NULL)
		consumer = s->conf.consumer;
	if (consumer == NULL) {
		if (gethostname(host, sizeof host) == -1) {
			*err = xasprintf("gethostname: %s (set [source] "
			    "consumer)", strerror(errno));
			goto fail;
		}
		host[sizeof host - 1] = '\0';
		consumer = host;
	}
	if (set_name(&s->consumer, consumer, err) == -1)
		goto fail;
	if (cfg->spool_dir != NULL)
		log_notice("worker: spool_dir is not used: the stream's "
		    "pending entries are the spool");
	if ((s->disp = start_dispatch(s, cfg, err)) == NULL)
		goto fail;
	if ((rc = pthread_create(&s->acker, NULL, acker_main, s)) != 0) {
		*err = xasprintf("worker: pthread_create: %s", strerror(rc));
		goto fail;
	}
	s->acker_started = true;
	if ((rc = pthread_create(&s->reader, NULL, reader_main, s)) != 0) {
		*err = xasprintf("worker: pthread_create: %s", strerror(rc));
		goto fail;
	}
	s->reader_started = true;
	return s;
fail:
	source_redis_free(s);
	return NULL;
}

int
source_redis_reload(struct source_redis *s, struct config *cfg, char **err)
{
	struct source_conf nc;
	struct dispatch *d, *stale;
	struct config *stale_cfg;

	if (source_of(cfg, &nc, err) == -1) {
		config_free(cfg);
		return -1;
	}
	if (!conf_equal(&nc, &s->conf)) {
		conf_clear(&nc);
		config_free(cfg);
		*err = xstrdup("the [source] section takes a restart to "
		    "change");
		return -1;
	}
	conf_clear(&nc);
	if ((d = start_dispatch(s, cfg, err)) == NULL) {
		config_free(cfg);
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	stale = s->next_disp;
	stale_cfg = s->next_cfg;
	s->next_disp = d;
	s->next_cfg = cfg;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	/* A reload the reader had not taken yet: never used. */
	dispatch_free(stale);
	config_free(stale_cfg);
	return 0;
}

void
source_redis_reopen(struct source_redis *s)
{
	/* The reader swaps generations; it is the one that may touch the
	 * dispatcher, so reopen under the lock it swaps with. */
	pthread_mutex_lock(&s->lock);
	dispatch_reopen(s->disp);
	pthread_mutex_unlock(&s->lock);
}

void
source_redis_status(struct source_redis *s, char *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	snprintf(buf, len, "%" PRIu64 " entries done, %zu in hand, %" PRIu64
	    " claimed, %" PRIu64 " dead letters", s->done, s->n_held,
	    s->claimed, s->dead);
	pthread_mutex_unlock(&s->lock);
}

int64_t
source_redis_grace_ms(struct source_redis *s)
{
	int64_t ms;

	pthread_mutex_lock(&s->lock);
	ms = s->cfg->shutdown_grace_ms;
	pthread_mutex_unlock(&s->lock);
	return ms;
}

size_t
source_redis_drain(struct source_redis *s)
{
	size_t left;

	if (s->drained) {
		pthread_mutex_lock(&s->lock);
		left = s->n_held;
		pthread_mutex_unlock(&s->lock);
		return left;
	}
	s->drained = true;
	atomic_store(&s->reader_stop, true);
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->reader_started)
		pthread_join(s->reader, NULL);
	s->reader_started = false;
	/* A reload the reader never took. */
	dispatch_free(s->next_disp);
	config_free(s->next_cfg);
	s->next_disp = NULL;
	s->next_cfg = NULL;
	if (s->disp != NULL)
		(void)dispatch_drain(s->disp, s->cfg->shutdown_grace_ms);
	pthread_mutex_lock(&s->lock);
	s->acker_quit = true;
	s->acker_deadline = util_mono_msec() + ACK_FLUSH_MS;
	pthread_cond_broadcast(&s->ops_cond);
	pthread_mutex_unlock(&s->lock);
	if (s->acker_started)
		pthread_join(s->acker, NULL);
	s->acker_started = false;
	pthread_mutex_lock(&s->lock);
	left = s->n_held;
	pthread_mutex_unlock(&s->lock);
	if (left > 0)
		log_warn("worker: %zu entr%s left pending in group %s (for "
		    "this consumer's next start, or another worker's claim "
		    "after claim_after)", left, left == 1 ? "y" : "ies",
		    s->conf.group);
	return left;
}

void
source_redis_free(struct source_redis *s)
{
	struct entry *e;
	struct op *o;

	if (s == NULL)
		return;
	(void)source_redis_drain(s);
	/* The dispatcher first: its workers call the hooks. */
	dispatch_free(s->disp);
	while ((o = s->ops) != NULL) {
		s->ops = o->next;
		op_free(o);
	}
	while ((e = s->held) != NULL) {
		s->held = e->next;
		entry_free(e);
	}
	free(s->buckets);
	conf_clear(&s->conf);
	free(s->consumer);
	config_free(s->cfg);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->ops_cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
