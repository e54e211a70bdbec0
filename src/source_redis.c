/*
 * Worker mode's input: the [source] keys, and the glue that starts the
 * reader (source_redis_read.c) and the acker (source_redis_ack.c) on the
 * runtime and stops them (see source_redis.h; the threads are described in
 * source_redis_int.h).
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

#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "redis.h"
#include "redis_conf.h"
#include "source_redis.h"
#include "source_redis_int.h"
#include "util.h"

#define DEFAULT_GROUP	"livedesk"

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

/* --- start, reload, stop --- */

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

void
source_redis_wait(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t ms)
{
	struct timespec ts;

	util_deadline(&ts, ms < 1 ? 1 : ms);
	(void)pthread_cond_timedwait(cond, lock, &ts);
}

/* What the reader and the acker read of the [source] copy. */
static void
conf_view(struct source_redis *s)
{
	const struct source_conf *c = s->conf;

	s->url = &c->url;
	s->stream = c->stream;
	s->group = c->group;
	s->dead_letters = c->dead_letters;
	s->claim_after_ms = c->claim_after_ms;
	s->timeout_ms = c->timeout_ms;
	s->batch = (size_t)c->batch;
}

struct source_redis *
source_redis_new(const struct config *cfg, const char *consumer, char **err)
{
	struct source_redis *s = xcalloc(1, sizeof *s);
	pthread_condattr_t ca;
	char host[256];

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
	s->conf = xcalloc(1, sizeof *s->conf);
	if (source_of(cfg, s->conf, err) == -1)
		goto fail;
	conf_view(s);
	if (consumer == NULL)
		consumer = s->conf->consumer;
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
	s->hooks.sink_done = source_redis_ack_sink_done;
	s->hooks.event_done = source_redis_ack_event_done;
	s->hooks.arg = s;
	return s;
fail:
	source_redis_free(s);
	return NULL;
}

const struct dispatch_hooks *
source_redis_hooks(struct source_redis *s)
{
	return &s->hooks;
}

static int
spawn(struct source_redis *s, pthread_t *t, void *(*fn)(void *),
    bool *started, char **err)
{
	int rc;

	if ((rc = pthread_create(t, NULL, fn, s)) != 0) {
		*err = xasprintf("worker: pthread_create: %s", strerror(rc));
		return -1;
	}
	*started = true;
	return 0;
}

int
source_redis_start(struct source_redis *s, struct runtime *rt, char **err)
{
	s->rt = rt;
	if (spawn(s, &s->acker, source_redis_ack_main, &s->acker_started,
	    err) == -1 || spawn(s, &s->reader, source_redis_read_main,
	    &s->reader_started, err) == -1)
		return -1;
	return 0;
}

int
source_redis_reload(struct source_redis *s, const struct config *cfg,
    char **err)
{
	struct source_conf nc;
	bool same;

	if (source_of(cfg, &nc, err) == -1)
		return -1;
	same = conf_equal(&nc, s->conf);
	conf_clear(&nc);
	if (!same) {
		*err = xstrdup("the [source] section takes a restart to "
		    "change");
		return -1;
	}
	return 0;
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

void
source_redis_stop(struct source_redis *s)
{
	source_redis_read_stop(s);
}

void
source_redis_free(struct source_redis *s)
{
	size_t left;

	if (s == NULL)
		return;
	/* The reader first: it hands entries over and puts them in hand. */
	source_redis_read_stop(s);
	source_redis_ack_stop(s);
	pthread_mutex_lock(&s->lock);
	left = s->n_held;
	pthread_mutex_unlock(&s->lock);
	if (left > 0)
		log_warn("worker: %zu entr%s left pending in group %s (for "
		    "this consumer's next start, or another worker's claim "
		    "after claim_after)", left, left == 1 ? "y" : "ies",
		    s->group);
	source_redis_ack_free(s);
	free(s->buckets);
	if (s->conf != NULL)
		conf_clear(s->conf);
	free(s->conf);
	free(s->consumer);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->ops_cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
