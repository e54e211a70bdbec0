/* The runtime in-process, without HTTP: generations and where events go
 * after a reload, the reaping of retired generations, the queue bound they
 * share, the counters and the status line, reopen, drain. The sinks are a
 * recording test sink; each configuration tags its sink, so that a record
 * says which generation delivered it. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dispatch.h"
#include "metrics.h"
#include "runtime.h"
#include "testutil.h"
#include "util.h"

#define MAXREC 64

/* What the test sink saw, shared by the dispatchers' workers. */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 gate_cond;
	bool		 gate_closed;	/* deliveries wait */
	const char	*tag[MAXREC];	/* the generation that delivered */
	int64_t		 seq[MAXREC];
	int		 n;
	int64_t		 fail_seq;	/* this one fails, -1: none */
	int		 event_done;
	int		 stopped_one, stopped_two;
	int		 reopened_one, reopened_two;
} rec;

static int
t_start(void **state, const void *conf, const struct sink_ctx *ctx,
    char **err)
{
	(void)ctx;
	(void)err;
	*state = (void *)conf;	/* the tag */
	return 0;
}

static void
t_deliver(void *state, struct ld_event *ev, struct sink_result *r)
{
	bool fail;

	pthread_mutex_lock(&rec.lock);
	while (rec.gate_closed)
		pthread_cond_wait(&rec.gate_cond, &rec.lock);
	fail = ev->message.id.v == rec.fail_seq;
	if (!fail && rec.n < MAXREC) {
		rec.tag[rec.n] = state;
		rec.seq[rec.n] = ev->message.id.v;
		rec.n++;
	}
	pthread_mutex_unlock(&rec.lock);
	r->ok = !fail;
	if (fail)
		snprintf(r->detail, sizeof r->detail, "test failure");
}

static int
t_reopen(void *state)
{
	pthread_mutex_lock(&rec.lock);
	if (strcmp(state, "one") == 0)
		rec.reopened_one++;
	else
		rec.reopened_two++;
	pthread_mutex_unlock(&rec.lock);
	return 0;
}

static void
t_stop(void *state)
{
	pthread_mutex_lock(&rec.lock);
	if (strcmp(state, "one") == 0)
		rec.stopped_one++;
	else
		rec.stopped_two++;
	pthread_mutex_unlock(&rec.lock);
}

static const struct sink_ops test_ops = {
	.type = "test",
	.start = t_start,
	.deliver = t_deliver,
	.reopen = t_reopen,
	.stop = t_stop,
};

static void
h_event_done(void *arg, struct ld_event *ev)
{
	(void)arg;
	(void)ev;
	pthread_mutex_lock(&rec.lock);
	rec.event_done++;
	pthread_mutex_unlock(&rec.lock);
}

/* An input's hooks, as the Redis source has them. */
static const struct dispatch_hooks input_hooks = {
	.event_done = h_event_done,
};

static void
setup(void)
{
	memset(&rec, 0, sizeof rec);
	pthread_mutex_init(&rec.lock, NULL);
	pthread_cond_init(&rec.gate_cond, NULL);
	rec.fail_seq = -1;
}

static void
gate(bool closed)
{
	pthread_mutex_lock(&rec.lock);
	rec.gate_closed = closed;
	pthread_cond_broadcast(&rec.gate_cond);
	pthread_mutex_unlock(&rec.lock);
}

/* A configuration with one test sink called "s", tagged tag ("one" or
 * "two"), no retries. */
static struct config *
test_config(const char *tag, long long queue_size)
{
	struct config *cfg = config_default();
	struct config_sink *s = &cfg->sinks[0];

	s->ops->conf_free(s->conf);
	s->conf = (void *)tag;
	s->ops = &test_ops;
	free(s->name);
	s->name = xstrdup("s");
	s->retries = 0;
	cfg->queue_size = queue_size;
	return cfg;
}

static struct ld_event *
event(int64_t conv, int64_t seq)
{
	char body[160];
	struct ld_event_error err;
	struct ld_event *ev;

	snprintf(body, sizeof body, "{\"event\":\"message_created\","
	    "\"id\":%lld,\"message_type\":\"incoming\","
	    "\"conversation\":{\"id\":%lld}}", (long long)seq,
	    (long long)conv);
	ev = ld_event_parse(body, strlen(body), 0, &err);
	ck_assert_msg(ev != NULL, "%s", err.text);
	return ev;
}

/* An input's hand-over (runtime_submit). */
static int
submit(struct runtime *rt, int64_t conv, int64_t seq)
{
	struct ld_event *ev = event(conv, seq);
	int rc = runtime_submit(rt, ev);

	ld_event_unref(ev);
	return rc;
}

/* A request's hand-over (runtime_ingest), with no spool: answered now. */
static int
ingest(struct runtime *rt, int64_t conv, int64_t seq)
{
	struct ld_event *ev = event(conv, seq);
	struct gen *g = runtime_acquire(rt);
	int status = runtime_ingest(rt, g, ev, NULL, NULL);

	runtime_release(g);
	ld_event_unref(ev);
	return status;
}

/* Waits until cond(arg) holds, or ms pass. */
static bool
wait_for(bool (*cond)(int), int arg, int ms)
{
	long long end = tu_now_ms() + ms;
	bool ok;

	do {
		pthread_mutex_lock(&rec.lock);
		ok = cond(arg);
		pthread_mutex_unlock(&rec.lock);
		if (ok)
			return true;
		usleep(2000);
	} while (tu_now_ms() < end);
	return false;
}

static bool
done_at_least(int n)
{
	return rec.event_done >= n;
}

static bool
delivered(int seq)
{
	int i;

	for (i = 0; i < rec.n; i++)
		if (rec.seq[i] == seq)
			return true;
	return false;
}

/* The tag of the generation that delivered seq, or NULL. */
static const char *
tag_of(int64_t seq)
{
	const char *tag = NULL;
	int i;

	pthread_mutex_lock(&rec.lock);
	for (i = 0; i < rec.n; i++)
		if (rec.seq[i] == seq)
			tag = rec.tag[i];
	pthread_mutex_unlock(&rec.lock);
	return tag;
}

static int
index_of(int64_t seq)
{
	int i, at = -1;

	pthread_mutex_lock(&rec.lock);
	for (i = 0; i < rec.n; i++)
		if (rec.seq[i] == seq)
			at = i;
	pthread_mutex_unlock(&rec.lock);
	return at;
}

/* The counts of sink "s" over every generation, and what is queued. */
static struct dispatch_sink_stats
sink_stats(struct runtime *rt, size_t *queued)
{
	struct gen *g = runtime_acquire(rt);
	struct dispatch_sink_stats s;
	struct dispatch_stats ds;

	runtime_stats(rt, g, &ds);
	runtime_release(g);
	ck_assert_uint_eq(ds.n_sinks, 1);
	ck_assert_str_eq(ds.sinks[0].name, "s");
	s = ds.sinks[0];
	if (queued != NULL)
		*queued = ds.queued;
	free(ds.sinks);
	return s;
}

static struct runtime *
start(const char *tag, long long queue_size,
    const struct dispatch_hooks *hooks)
{
	char *err = NULL;
	struct runtime *rt = runtime_new(test_config(tag, queue_size), hooks,
	    &err);

	ck_assert_msg(rt != NULL, "runtime_new: %s", err);
	runtime_start(rt);
	return rt;
}

static void
reload(struct runtime *rt, const char *tag, long long queue_size)
{
	char *err = NULL;

	ck_assert_msg(runtime_reload(rt, test_config(tag, queue_size), &err)
	    == 0, "runtime_reload: %s", err);
}

/* After a reload, a conversation the old generation still has events of
 * stays there, in order, while the others go to the new one at once. */
START_TEST(reload_keeps_busy_conversation_in_old_generation)
{
	struct runtime *rt = start("one", 100, &input_hooks);

	gate(true);
	ck_assert_int_eq(submit(rt, 1, 0), 0);
	reload(rt, "two", 100);
	ck_assert_int_eq(submit(rt, 1, 1), 0);	/* conversation 1: busy */
	ck_assert_int_eq(submit(rt, 2, 2), 0);	/* conversation 2: new */
	ck_assert_int_eq(index_of(0), -1);
	gate(false);
	ck_assert(wait_for(done_at_least, 3, 5000));
	ck_assert_str_eq(tag_of(0), "one");
	ck_assert_str_eq(tag_of(1), "one");
	ck_assert_int_lt(index_of(0), index_of(1));
	ck_assert_str_eq(tag_of(2), "two");
	runtime_shutdown(rt);
	runtime_free(rt);
}
END_TEST

/* A retired generation lives while someone holds it, and is reaped (its
 * sinks stopped) once released and idle; its counts carry over. */
START_TEST(reap_after_release_and_counts_carry_over)
{
	struct runtime *rt = start("one", 100, &input_hooks);
	struct dispatch_sink_stats s;
	struct gen *held;
	size_t queued;

	ck_assert_int_eq(submit(rt, 1, 0), 0);
	ck_assert_int_eq(submit(rt, 2, 1), 0);
	ck_assert(wait_for(done_at_least, 2, 5000));
	held = runtime_acquire(rt);
	reload(rt, "two", 100);
	runtime_reap(rt);
	/* Still the old configuration, still running. */
	ck_assert_str_eq(runtime_config(held)->sinks[0].conf, "one");
	ck_assert_int_eq(rec.stopped_one, 0);
	runtime_release(held);
	runtime_reap(rt);
	ck_assert_int_eq(rec.stopped_one, 1);
	held = runtime_acquire(rt);
	ck_assert_str_eq(runtime_config(held)->sinks[0].conf, "two");
	runtime_release(held);
	ck_assert_int_eq(submit(rt, 1, 2), 0);
	ck_assert(wait_for(done_at_least, 3, 5000));
	ck_assert_str_eq(tag_of(2), "two");
	/* Monotonic across the reload: 2 by the reaped one, 1 by now. */
	s = sink_stats(rt, &queued);
	ck_assert_uint_eq(s.delivered, 3);
	ck_assert_uint_eq(queued, 0);
	runtime_shutdown(rt);
	runtime_free(rt);
	ck_assert_int_eq(rec.stopped_two, 1);
}
END_TEST

/* One bound for every generation: requests are refused at it, an input's
 * hand-over goes past it (it kept the bound before reading), room says
 * what is left, and a reload's new size counts what the old holds. */
START_TEST(bound_shared_by_generations)
{
	struct runtime *rt = start("one", 4, NULL);

	ck_assert_uint_eq(runtime_room(rt), 4);
	gate(true);
	ck_assert_int_eq(submit(rt, 1, 0), 0);
	ck_assert_int_eq(submit(rt, 1, 1), 0);
	ck_assert_int_eq(submit(rt, 1, 2), 0);
	ck_assert_uint_eq(runtime_room(rt), 1);
	ck_assert_int_eq(ingest(rt, 2, 3), 200);
	ck_assert_uint_eq(runtime_room(rt), 0);
	ck_assert_int_eq(ingest(rt, 3, 4), 503);
	ck_assert_uint_eq(atomic_load(
	    &runtime_metrics(rt)->dropped[DROP_QUEUE_FULL]), 1);
	ck_assert_int_eq(submit(rt, 3, 5), 0);
	ck_assert_uint_eq(runtime_room(rt), 0);
	/* 5 held by the old generation count against the new size. */
	reload(rt, "two", 8);
	ck_assert_uint_eq(runtime_room(rt), 3);
	gate(false);
	runtime_shutdown(rt);
	ck_assert_int_eq(rec.n, 5);
	ck_assert_uint_eq(atomic_load(&runtime_metrics(rt)->accepted), 5);
	runtime_free(rt);
}
END_TEST

/* The status line: what was accepted (by requests and by an input),
 * what is queued, what failed for good. */
START_TEST(status_line)
{
	struct runtime *rt = start("one", 100, &input_hooks);
	char line[160];

	runtime_status(rt, line, sizeof line);
	ck_assert_str_eq(line, "0 events accepted, 0 queued, 0 failed "
	    "deliveries");
	rec.fail_seq = 1;
	ck_assert_int_eq(submit(rt, 1, 0), 0);
	ck_assert_int_eq(ingest(rt, 2, 1), 200);
	ck_assert(wait_for(done_at_least, 2, 5000));
	ck_assert(wait_for(delivered, 0, 5000));
	/* Its last failure is counted as the worker finishes with it. */
	{
		long long end = tu_now_ms() + 5000;

		while (sink_stats(rt, NULL).dead < 1 && tu_now_ms() < end)
			usleep(2000);
	}
	runtime_status(rt, line, sizeof line);
	ck_assert_str_eq(line, "2 events accepted, 0 queued, 1 failed "
	    "deliveries");
	runtime_shutdown(rt);
	runtime_free(rt);
}
END_TEST

/* SIGHUP's reopen reaches the sinks of the current generation. */
START_TEST(reopen_reaches_current_generation)
{
	struct runtime *rt = start("one", 100, &input_hooks);

	runtime_reopen(rt);
	ck_assert_int_eq(rec.reopened_one, 1);
	reload(rt, "two", 100);
	runtime_reopen(rt);
	ck_assert_int_eq(rec.reopened_one, 1);
	ck_assert_int_eq(rec.reopened_two, 1);
	runtime_shutdown(rt);
	runtime_free(rt);
}
END_TEST

/* The spool takes a restart to change; with an input's hooks there is no
 * spool, and spool_dir is not even opened. */
START_TEST(spool_dir_takes_restart_unless_input)
{
	char *dir = tu_tmpdir(), *spool, *other, *err = NULL;
	struct config *cfg = test_config("one", 100);
	struct runtime *rt;
	struct stat st;

	ck_assert_int_ge(asprintf(&spool, "%s/spool", dir), 0);
	ck_assert_int_ge(asprintf(&other, "%s/other", dir), 0);
	cfg->spool_dir = xstrdup(spool);
	rt = runtime_new(cfg, NULL, &err);
	ck_assert_msg(rt != NULL, "runtime_new: %s", err);
	ck_assert_ptr_nonnull(runtime_spool(rt));
	runtime_start(rt);
	cfg = test_config("two", 100);
	cfg->spool_dir = xstrdup(other);
	ck_assert_int_eq(runtime_reload(rt, cfg, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "take a restart"));
	free(err);
	err = NULL;
	runtime_shutdown(rt);
	runtime_free(rt);

	cfg = test_config("one", 100);
	cfg->spool_dir = xstrdup(other);
	rt = runtime_new(cfg, &input_hooks, &err);
	ck_assert_msg(rt != NULL, "runtime_new: %s", err);
	ck_assert_ptr_null(runtime_spool(rt));
	ck_assert_int_eq(stat(other, &st), -1);
	runtime_start(rt);
	cfg = test_config("two", 100);
	cfg->spool_dir = xstrdup(spool);
	ck_assert_msg(runtime_reload(rt, cfg, &err) == 0, "reload: %s", err);
	runtime_shutdown(rt);
	runtime_free(rt);
	free(spool);
	free(other);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Shutdown: requests are refused from runtime_refuse on, an input's
 * hand-over until the drain, which finishes every generation. */
START_TEST(shutdown_drains_every_generation)
{
	struct runtime *rt = start("one", 100, &input_hooks);

	gate(true);
	ck_assert_int_eq(submit(rt, 1, 0), 0);
	reload(rt, "two", 100);
	ck_assert_int_eq(submit(rt, 2, 1), 0);
	runtime_refuse(rt);
	ck_assert(runtime_stopping(rt));
	ck_assert_int_eq(ingest(rt, 3, 2), 503);
	ck_assert_uint_eq(atomic_load(
	    &runtime_metrics(rt)->dropped[DROP_STOPPING]), 1);
	ck_assert_int_eq(submit(rt, 3, 3), 0);
	gate(false);
	runtime_shutdown(rt);
	pthread_mutex_lock(&rec.lock);
	ck_assert_int_eq(rec.event_done, 3);
	pthread_mutex_unlock(&rec.lock);
	ck_assert_str_eq(tag_of(0), "one");
	ck_assert_str_eq(tag_of(1), "two");
	ck_assert_int_eq(submit(rt, 4, 4), -1);	/* drained: closed */
	runtime_free(rt);
}
END_TEST

static Suite *
runtime_suite(void)
{
	Suite *s = suite_create("runtime");
	TCase *tc = tcase_create("runtime");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, reload_keeps_busy_conversation_in_old_generation);
	tcase_add_test(tc, reap_after_release_and_counts_carry_over);
	tcase_add_test(tc, bound_shared_by_generations);
	tcase_add_test(tc, status_line);
	tcase_add_test(tc, reopen_reaches_current_generation);
	tcase_add_test(tc, spool_dir_takes_restart_unless_input);
	tcase_add_test(tc, shutdown_drains_every_generation);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(runtime_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
