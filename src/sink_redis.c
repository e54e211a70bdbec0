/*
 * Redis sink: XADDs each event to a stream (the entry: codec_stream.h), for
 * workers (--worker) on other machines. A Redis that cannot be reached is
 * a failed delivery like any other: retried with backoff, held by the
 * spool, never lost.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_stream.h"
#include "livedesk/sink.h"
#include "log.h"
#include "redis.h"
#include "redis_conf.h"
#include "util.h"

struct redis_sink_conf {
	struct redis_url url;
	char		*password_file;
	char		*stream;
	long long	 partitions;	/* 1: one stream */
	long long	 maxlen;	/* 0: no trimming */
	int64_t		 timeout_ms;
};

#define OFF(f) offsetof(struct redis_sink_conf, f)
static const struct config_key redis_keys[] = {
	REDIS_CONF_URL(struct redis_sink_conf),
	REDIS_CONF_PASSWORD_FILE(struct redis_sink_conf),
	{ .name = "stream", .type = CONFIG_KEY_STR, .off = OFF(stream),
	  .def = REDIS_CONF_DEFAULT_STREAM },
	{ .name = "partitions", .type = CONFIG_KEY_INT, .off = OFF(partitions),
	  .min = 1, .max = 1024, .def = "1" },
	{ .name = "maxlen", .type = CONFIG_KEY_INT, .off = OFF(maxlen),
	  .min = 0, .max = 1LL << 40, .def = "0" },
	REDIS_CONF_TIMEOUT(struct redis_sink_conf),
	{ .name = NULL },
};
#undef OFF

static int
redis_check(void *conf, char **err)
{
	struct redis_sink_conf *c = conf;

	return redis_conf_check(&c->url, c->password_file, err);
}

static const struct config_key_section redis_section = {
	.keys = redis_keys,
	.size = sizeof(struct redis_sink_conf),
	.check = redis_check,
};

static int
redis_sink_set(void **conf, const char *key, const char *value, char **err)
{
	return config_key_section_set(&redis_section, conf, key, value, err);
}

static int
redis_sink_check(void **conf, char **err)
{
	return config_key_section_check(&redis_section, conf, err);
}

static void
redis_sink_print(const void *conf, FILE *out)
{
	config_key_section_print(&redis_section, conf, out);
}

static void
redis_sink_free(void *conf)
{
	config_key_section_free(&redis_section, conf);
}

/* Whether Redis answers now: a warning at start-up (the spool holds the
 * events meanwhile), an error for --check-config. */
static int
redis_probe(const void *conf, char **err)
{
	const struct redis_sink_conf *c = conf;
	struct redis_conn *rc = redis_conn_new(&c->url, c->timeout_ms < 2000 ?
	    c->timeout_ms : 2000);
	const char *argv[1] = { "PING" };
	redisReply *r;
	char why[512];
	int rv = 0;

	if ((r = redis_conn_command(rc, 1, argv, NULL, why, sizeof why)) ==
	    NULL || r->type == REDIS_REPLY_ERROR) {
		*err = xasprintf("cannot reach Redis: %s", r ? r->str : why);
		rv = -1;
	}
	if (r != NULL)
		freeReplyObject(r);
	redis_conn_free(rc);
	return rv;
}

/* hiredis is not thread-safe per connection: each delivery takes an idle
 * connection from the pool (or opens one), up to the sink's concurrency. */
struct redis_state {
	const struct redis_sink_conf	*conf;
	const char		*name;
	pthread_mutex_t		 lock;
	struct redis_conn	**idle;
	size_t			 n_idle, cap_idle;
	bool			 down;		/* the outage was logged */
	bool			 connected_once;
};

static int
redis_start(void **state, const void *conf, const struct sink_ctx *ctx,
    char **err)
{
	struct redis_state *s = xcalloc(1, sizeof *s);
	int rc;

	if ((rc = pthread_mutex_init(&s->lock, NULL)) != 0) {
		*err = xasprintf("mutex: %s", strerror(rc));
		free(s);
		return -1;
	}
	s->conf = conf;
	s->name = ctx->name;
	*state = s;
	return 0;
}

static struct redis_conn *
conn_take(struct redis_state *s)
{
	struct redis_conn *rc = NULL;

	pthread_mutex_lock(&s->lock);
	if (s->n_idle > 0)
		rc = s->idle[--s->n_idle];
	pthread_mutex_unlock(&s->lock);
	return rc ? rc : redis_conn_new(&s->conf->url, s->conf->timeout_ms);
}

static void
conn_give(struct redis_state *s, struct redis_conn *rc)
{
	pthread_mutex_lock(&s->lock);
	if (s->n_idle == s->cap_idle) {
		s->cap_idle = s->cap_idle ? s->cap_idle * 2 : 4;
		s->idle = xreallocarray(s->idle, s->cap_idle, sizeof *s->idle);
	}
	s->idle[s->n_idle++] = rc;
	pthread_mutex_unlock(&s->lock);
}

/* One line when Redis goes away and one when it is back, not one per
 * delivery (the dispatcher logs each failed attempt). */
static void
note_state(struct redis_state *s, bool up, const char *why)
{
	struct log_ctx ctx = { NULL, NULL, s->name, -1 };
	bool was_down, first;

	pthread_mutex_lock(&s->lock);
	was_down = s->down;
	first = !s->connected_once && up;
	s->down = !up;
	if (up)
		s->connected_once = true;
	pthread_mutex_unlock(&s->lock);
	if (up && was_down)
		log_ctx(LOG_NOTICE, &ctx, "connected to %s again",
		    s->conf->url.display);
	else if (first)
		log_ctx(LOG_INFO, &ctx, "connected to %s, stream %s",
		    s->conf->url.display, s->conf->stream);
	else if (!up && !was_down)
		log_ctx(LOG_ERR, &ctx, "Redis unreachable: %s; events wait "
		    "for it (retries, spool)", why);
}

/* The stream of ev: the one stream, or its conversation's partition. */
static void
stream_name(const struct redis_sink_conf *c, const struct ld_event *ev,
    char *buf, size_t len)
{
	struct ld_id id = ld_event_conversation_id(ev);
	uint64_t p, h = 1469598103934665603ULL;
	const char *q;

	if (c->partitions <= 1) {
		snprintf(buf, len, "%s", c->stream);
		return;
	}
	if (id.set && id.v >= 0)
		p = (uint64_t)id.v % (uint64_t)c->partitions;
	else {
		/* No conversation, no order to keep: spread them. */
		for (q = ev->delivery_id; *q != '\0'; q++)
			h = (h ^ (unsigned char)*q) * 1099511628211ULL;
		p = h % (uint64_t)c->partitions;
	}
	snprintf(buf, len, "%s:%" PRIu64, c->stream, p);
}

static void
redis_deliver(void *state, struct ld_event *ev, struct sink_result *r)
{
	struct redis_state *s = state;
	const struct redis_sink_conf *c = s->conf;
	struct redis_argv a = { 0 };
	struct redis_conn *rc = conn_take(s);
	redisReply *rep;
	char stream[512], why[512];
	int was;

	stream_name(c, ev, stream, sizeof stream);
	redis_argv_str(&a, "XADD");
	redis_argv_str(&a, stream);
	if (c->maxlen > 0) {
		redis_argv_str(&a, "MAXLEN");
		redis_argv_str(&a, "~");
		redis_argv_fmt(&a, "%lld", c->maxlen);
	}
	redis_argv_str(&a, "*");
	codec_stream_encode(&a, ev);

	was = redis_conn_ready(rc, why, sizeof why);
	rep = was == -1 ? NULL : redis_conn_command(rc, a.argc, a.argv,
	    a.lens, why, sizeof why);
	if (rep == NULL) {
		snprintf(r->detail, sizeof r->detail, "%s", why);
		note_state(s, false, why);
	} else if (rep->type != REDIS_REPLY_STRING) {
		snprintf(r->detail, sizeof r->detail, "%.150s: XADD %.150s: %.200s",
		    c->url.display, stream, redis_reply_text(rep));
		note_state(s, true, NULL);
	} else {
		r->ok = true;
		note_state(s, true, NULL);
	}
	if (rep != NULL)
		freeReplyObject(rep);
	redis_argv_free(&a);
	conn_give(s, rc);
}

static void
redis_stop(void *state)
{
	struct redis_state *s = state;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_idle; i++)
		redis_conn_free(s->idle[i]);
	free(s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct sink_ops sink_redis_ops = {
	.type = "redis",
	.incoming_only = false,
	.keys = &redis_section,
	.conf_set = redis_sink_set,
	.conf_check = redis_sink_check,
	.conf_print = redis_sink_print,
	.conf_free = redis_sink_free,
	.probe = redis_probe,
	.start = redis_start,
	.deliver = redis_deliver,
	.reopen = NULL,
	.stop = redis_stop,
};
