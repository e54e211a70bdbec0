/*
 * Redis sink: XADDs each event to a stream (the entry: codec_stream.h), for
 * workers (--worker) on other machines. A Redis that cannot be reached is
 * a failed delivery like any other: retried with backoff, held by the
 * spool, never lost.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_stream.h"
#include "livedesk/sink.h"
#include "log.h"
#include "redis.h"
#include "util.h"

#define DEFAULT_URL	"redis://127.0.0.1:6379/0"
#define DEFAULT_STREAM	"livedesk:events"

struct redis_conf {
	struct redis_url url;
	bool		 url_set;
	char		*password_file;
	char		*stream;
	long long	 partitions;	/* 1: one stream */
	long long	 maxlen;	/* 0: no trimming */
	int64_t		 timeout_ms;
};

static struct redis_conf *
conf_get(void **conf)
{
	struct redis_conf *c = *conf;

	if (c == NULL) {
		c = *conf = xcalloc(1, sizeof *c);
		c->partitions = 1;
		c->timeout_ms = 5000;
	}
	return c;
}

static int
redis_conf_set(void **conf, const char *key, const char *value, char **err)
{
	struct redis_conf *c = conf_get(conf);
	char *why = NULL;

	if (strcmp(key, "url") == 0) {
		redis_url_free(&c->url);
		c->url_set = false;
		if (redis_url_parse(value, &c->url, &why) == -1) {
			*err = xasprintf("%s", why);
			free(why);
			return -1;
		}
		c->url_set = true;
		return 0;
	}
	if (strcmp(key, "password_file") == 0) {
		free(c->password_file);
		c->password_file = xstrdup(value);
		return 0;
	}
	if (strcmp(key, "stream") == 0) {
		if (*value == '\0') {
			*err = xstrdup("empty stream name");
			return -1;
		}
		free(c->stream);
		c->stream = xstrdup(value);
		return 0;
	}
	if (strcmp(key, "maxlen") == 0) {
		if (util_parse_int(value, 0, 1LL << 40, &c->maxlen) == -1) {
			*err = xasprintf("'%s' is not a number of entries (0: "
			    "no trimming)", value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "partitions") == 0) {
		if (util_parse_int(value, 1, 1024, &c->partitions) == -1) {
			*err = xasprintf("'%s' is not a number from 1 to 1024",
			    value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "timeout") == 0) {
		if (util_parse_duration(value, &c->timeout_ms) == -1 ||
		    c->timeout_ms < 10 || c->timeout_ms > 600000) {
			*err = xasprintf("'%s' is not a duration between 10ms "
			    "and 10m", value);
			return -1;
		}
		return 0;
	}
	return 1;
}

static int
redis_conf_check(void **conf, char **err)
{
	struct redis_conf *c = conf_get(conf);

	if (!c->url_set) {
		if (redis_url_parse(DEFAULT_URL, &c->url, err) == -1)
			return -1;
		c->url_set = true;
	}
	if (c->stream == NULL)
		c->stream = xstrdup(DEFAULT_STREAM);
	if (c->password_file != NULL &&
	    redis_url_password_file(&c->url, c->password_file, err) == -1)
		return -1;
	return 0;
}

static void
redis_conf_print(const void *conf, FILE *out)
{
	const struct redis_conf *c = conf;
	char t[64];

	util_format_duration(c->timeout_ms, t, sizeof t);
	fprintf(out, "url = %s\n", c->url.display);
	if (c->password_file != NULL)
		fprintf(out, "password_file = %s\n", c->password_file);
	fprintf(out, "stream = %s\npartitions = %lld\nmaxlen = %lld\n"
	    "timeout = %s\n", c->stream, c->partitions, c->maxlen, t);
}

static void
redis_conf_free(void *conf)
{
	struct redis_conf *c = conf;

	if (c == NULL)
		return;
	redis_url_free(&c->url);
	free(c->password_file);
	free(c->stream);
	free(c);
}

/* Whether Redis answers now: a warning at start-up (the spool holds the
 * events meanwhile), an error for --check-config. */
static int
redis_probe(const void *conf, char **err)
{
	const struct redis_conf *c = conf;
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
	const struct redis_conf	*conf;
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
stream_name(const struct redis_conf *c, const struct ld_event *ev,
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
	const struct redis_conf *c = s->conf;
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
	.conf_set = redis_conf_set,
	.conf_check = redis_conf_check,
	.conf_print = redis_conf_print,
	.conf_free = redis_conf_free,
	.probe = redis_probe,
	.start = redis_start,
	.deliver = redis_deliver,
	.reopen = NULL,
	.stop = redis_stop,
};
