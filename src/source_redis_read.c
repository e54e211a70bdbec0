/*
 * The Redis source's reader: one thread that reads the stream through the
 * consumer group (XGROUP CREATE, XREADGROUP, XAUTOCLAIM) and hands each
 * entry to the runtime as the typed event it was when a receiver took it
 * over HTTP (see source_redis_int.h).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_stream.h"
#include "config.h"
#include "livedesk/event.h"
#include "log.h"
#include "redis.h"
#include "runtime.h"
#include "source_redis_int.h"
#include "util.h"

#define BLOCK_MS	1000		/* XREADGROUP BLOCK: how soon a stop is seen */
/* After a (re)connection, how much longer than claim_after to wait before
 * claiming: other live workers reconnect (backoff up to 2s, redis.c) and
 * renew their entries first. */
#define CLAIM_SETTLE_MS	2500

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
	return s->claim_after_ms / 2 < 5000 ?
	    s->claim_after_ms / 2 : 5000;
}

static void
reader_down(struct reader *rd, const char *why)
{
	if (!rd->down)
		log_err("reading %s: %s; reconnecting", rd->s->stream, why);
	rd->down = true;
	rd->setup = false;
}

/* Sleeps up to ms, waking for a stop. */
static void
reader_pause(struct source_redis *s, int64_t ms)
{
	pthread_mutex_lock(&s->lock);
	if (!atomic_load(&s->reader_stop))
		source_redis_wait(&s->cond, &s->lock, ms);
	pthread_mutex_unlock(&s->lock);
}

/* Creates the group at the start of the stream (MKSTREAM: the stream may
 * not exist yet). Entries added before the group existed are read too:
 * nothing a receiver wrote is skipped. */
static int
make_group(struct reader *rd)
{
	struct source_redis *s = rd->s;
	const char *argv[] = { "XGROUP", "CREATE", s->stream,
	    s->group, "0", "MKSTREAM" };
	redisReply *r;
	char err[512];

	if ((r = redis_conn_command(rd->rc, 6, argv, NULL, err, sizeof err))
	    == NULL) {
		reader_down(rd, err);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "BUSYGROUP", 9) != 0) {
		log_err("XGROUP CREATE %s %s: %s", s->stream,
		    s->group, r->str);
		freeReplyObject(r);
		return -1;
	}
	if (r->type != REDIS_REPLY_ERROR)
		log_notice("created consumer group %s on stream %s",
		    s->group, s->stream);
	freeReplyObject(r);
	rd->setup = true;
	rd->history = true;
	snprintf(rd->history_id, sizeof rd->history_id, "0");
	snprintf(rd->claim_cursor, sizeof rd->claim_cursor, "0-0");
	/* After a start or an outage every pending entry looks idle: live
	 * workers get time to reconnect and renew theirs before any is
	 * claimed. */
	rd->next_claim = util_mono_msec() + rd->s->claim_after_ms +
	    CLAIM_SETTLE_MS;
	return 0;
}

/* A bad entry: a dead letter with the reason and its fields as they
 * were, then its acknowledgement. */
static void
reject(struct source_redis *s, struct entry *e, const char *id,
    const redisReply *fields, const char *why)
{
	struct codec_stream_dead d = { .reason = why, .fields = fields };
	char *safe = util_escape(why, 0);

	/* why may quote the payload (a JSON error): escaped. */
	log_err("stream %s, entry %s: %s; sent to %s", s->stream, id,
	    safe, s->dead_letters);
	free(safe);
	source_redis_ack_entry(s, e, &d);
}

/* An entry that was deleted (trimmed) before we read it: nothing to run,
 * nothing to keep; it leaves the pending list. */
static void
vanished(struct source_redis *s, struct entry *e, const char *id)
{
	log_err("stream %s, entry %s was deleted before it was processed "
	    "(is the sink's maxlen too small for the backlog?)",
	    s->stream, id);
	source_redis_ack_entry(s, e, NULL);
}

/* One entry [id, fields] of a reply: in hand, then to the runtime.
 * Only a re-read (our own pending, a claim) can be one we hold already. */
static void
take_entry(struct source_redis *s, const redisReply *item, bool reread,
    int max_depth)
{
	const redisReply *idr, *fields;
	struct ld_event *ev = NULL;
	struct entry *e;
	char *why = NULL, id[SOURCE_REDIS_ID_MAX];

	if (item->type != REDIS_REPLY_ARRAY || item->elements < 2 ||
	    item->element[0]->type != REDIS_REPLY_STRING ||
	    item->element[0]->len >= sizeof id)
		return;
	idr = item->element[0];
	fields = item->element[1];
	if (reread && source_redis_ack_holds(s, idr->str))
		return;		/* ours already */
	memcpy(id, idr->str, idr->len);
	id[idr->len] = '\0';
	if (fields->type != REDIS_REPLY_NIL)
		ev = codec_stream_decode(id, fields, max_depth, &why);
	e = source_redis_ack_hold(s, id, ev);
	if (fields->type == REDIS_REPLY_NIL)
		vanished(s, e, id);
	else if (ev == NULL) {
		reject(s, e, id, fields, why);
		free(why);
	} else {
		/* The bound is kept here, before reading (room); an entry
		 * read is an entry taken. The runtime refuses only once it
		 * is drained, at shutdown: the entry stays pending. */
		if (runtime_submit(s->rt, ev) == -1)
			source_redis_ack_drop(s, e);
		ld_event_unref(ev);
	}
}

/* The entries of one stream in an XREADGROUP reply; returns how many,
 * and the last id in last (for the history pass). */
static size_t
take_entries(struct source_redis *s, const redisReply *entries, bool reread,
    char *last, size_t len)
{
	struct gen *g;
	size_t i;
	int max_depth;

	if (entries->type != REDIS_REPLY_ARRAY)
		return 0;
	g = runtime_acquire(s->rt);
	max_depth = (int)runtime_config(g)->max_depth;
	runtime_release(g);
	for (i = 0; i < entries->elements; i++) {
		const redisReply *it = entries->element[i];

		if (it->type == REDIS_REPLY_ARRAY && it->elements >= 1 &&
		    it->element[0]->type == REDIS_REPLY_STRING)
			snprintf(last, len, "%s", it->element[0]->str);
		take_entry(s, it, reread, max_depth);
	}
	return entries->elements;
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
	log_err("%s on %s: %s", cmd, rd->s->stream, r->str);
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
	redis_argv_str(&a, s->group);
	redis_argv_str(&a, s->consumer);
	redis_argv_str(&a, "COUNT");
	redis_argv_fmt(&a, "%zu", n);
	if (!rd->history) {
		redis_argv_str(&a, "BLOCK");
		redis_argv_fmt(&a, "%d", BLOCK_MS);
	}
	redis_argv_str(&a, "STREAMS");
	redis_argv_str(&a, s->stream);
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
	redis_argv_str(&a, s->stream);
	redis_argv_str(&a, s->group);
	redis_argv_str(&a, s->consumer);
	redis_argv_fmt(&a, "%" PRId64, s->claim_after_ms);
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
		    list->elements == 1 ? "y" : "ies", s->claim_after_ms,
		    s->group);
	}
	/* Redis 7: the ids that were pending but deleted from the stream;
	 * XAUTOCLAIM has already taken them off the pending list. */
	if (r->elements >= 3 && r->element[2]->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->element[2]->elements; i++)
			log_err("stream %s, entry %s was deleted before it was "
			    "processed (is the sink's maxlen too small for the "
			    "backlog?)", s->stream,
			    r->element[2]->element[i]->str);
	freeReplyObject(r);
}

void *
source_redis_read_main(void *arg)
{
	struct source_redis *s = arg;
	struct reader rd;
	char err[512];
	size_t n;
	int rc;

	memset(&rd, 0, sizeof rd);
	rd.s = s;
	/* A reply may take BLOCK_MS before the command timeout starts. */
	rd.rc = redis_conn_new(s->url, s->timeout_ms + BLOCK_MS);
	while (!atomic_load(&s->reader_stop)) {
		if ((rc = redis_conn_ready(rd.rc, err, sizeof err)) == -1) {
			reader_down(&rd, err);
			reader_pause(s, redis_conn_wait_ms(rd.rc) < 200 ?
			    redis_conn_wait_ms(rd.rc) + 1 : 200);
			continue;
		}
		if (rc == 1) {
			log_notice("%s %s as consumer %s of group %s on %s",
			    rd.down ? "connected again: reading" : "reading",
			    s->stream, s->consumer, s->group,
			    s->url->display);
			rd.down = false;
			rd.setup = false;
		}
		if (!rd.setup && make_group(&rd) == -1) {
			reader_pause(s, 1000);
			continue;
		}
		/* The queue bound every generation shares: entries are read
		 * only as far as it has room. */
		if ((n = runtime_room(s->rt)) == 0) {
			reader_pause(s, 200);
			continue;
		}
		if (n > s->batch)
			n = s->batch;
		if (!rd.history && util_mono_msec() >= rd.next_claim)
			autoclaim(&rd, n);
		else
			read_group(&rd, n);
	}
	redis_conn_free(rd.rc);
	return NULL;
}

void
source_redis_read_stop(struct source_redis *s)
{
	atomic_store(&s->reader_stop, true);
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->reader_started)
		pthread_join(s->reader, NULL);
	s->reader_started = false;
}
