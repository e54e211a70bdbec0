/* The dispatcher with real worker threads and a recording test sink:
 * per-conversation order under concurrency, retries that block only their
 * own conversation, dead letters, the queue bound, drain and cancel. */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dispatch.h"
#include "testutil.h"
#include "util.h"

#define MAXREC 4096

/* What the test sink saw; shared by the worker threads. */
static struct {
	pthread_mutex_t	 lock;
	int64_t		 conv[MAXREC];
	int64_t		 seq[MAXREC];
	int64_t		 at[MAXREC];	/* monotonic ms */
	int		 n;
	int		 running;
	int		 max_running;
	int		 running_conv[64];	/* per conversation */
	bool		 overlap;		/* one conversation twice */
	int		 fail_first;	/* attempts of seq 0 that fail */
	int		 attempts_seq0;
	bool		 always_fail;
	int		 sleep_us;
	bool		 block_until_cancel;
	atomic_bool	 gate;		/* deliveries wait while set */
	int		 sink_done;
	int		 sink_done_attempts;
	bool		 sink_done_ok;
	int		 event_done;
} rec;

static const atomic_bool *cancel_flag;

static int
t_start(void **state, const void *conf, const struct sink_ctx *ctx,
    char **err)
{
	(void)conf;
	(void)err;
	cancel_flag = ctx->cancel;
	*state = NULL;
	return 0;
}

static void
t_deliver(void *state, struct ld_event *ev, struct sink_result *r)
{
	int64_t conv = ev->conversation.id.set ? ev->conversation.id.v : 63;
	int64_t seq = ev->message.id.v;
	bool fail;

	(void)state;
	pthread_mutex_lock(&rec.lock);
	if (rec.running_conv[conv % 64]++ > 0)
		rec.overlap = true;
	if (++rec.running > rec.max_running)
		rec.max_running = rec.running;
	fail = rec.always_fail || (seq == 0 &&
	    rec.attempts_seq0++ < rec.fail_first);
	pthread_mutex_unlock(&rec.lock);
	if (rec.sleep_us > 0)
		usleep((useconds_t)(rec.sleep_us / 2 + rand() % (rec.sleep_us
		    / 2 + 1)));
	while (rec.block_until_cancel && !atomic_load(cancel_flag))
		usleep(1000);
	while (atomic_load(&rec.gate))
		usleep(1000);
	pthread_mutex_lock(&rec.lock);
	rec.running--;
	rec.running_conv[conv % 64]--;
	if (!fail && rec.n < MAXREC) {
		rec.conv[rec.n] = conv;
		rec.seq[rec.n] = seq;
		rec.at[rec.n] = util_mono_msec();
		rec.n++;
	}
	pthread_mutex_unlock(&rec.lock);
	r->ok = !fail && !(rec.block_until_cancel && atomic_load(cancel_flag));
	if (!r->ok)
		snprintf(r->detail, sizeof r->detail, "test failure");
}

static void
t_stop(void *state)
{
	(void)state;
}

static const struct sink_ops test_ops = {
	.type = "test",
	.start = t_start,
	.deliver = t_deliver,
	.stop = t_stop,
};

static void
h_sink_done(void *arg, struct ld_event *ev, const char *sink,
    const struct sink_result *r, int attempts)
{
	(void)arg;
	(void)ev;
	(void)sink;
	pthread_mutex_lock(&rec.lock);
	rec.sink_done++;
	if (ev->message.id.v == 0) {
		rec.sink_done_attempts = attempts;
		rec.sink_done_ok = r->ok;
	}
	pthread_mutex_unlock(&rec.lock);
}

static void
h_event_done(void *arg, struct ld_event *ev)
{
	(void)arg;
	(void)ev;
	pthread_mutex_lock(&rec.lock);
	rec.event_done++;
	pthread_mutex_unlock(&rec.lock);
}

static const struct dispatch_hooks hooks = {
	.sink_done = h_sink_done,
	.event_done = h_event_done,
};

/* A configuration with one test sink. */
static struct config *
test_config(long long concurrency, long long retries, int64_t base_ms)
{
	struct config *cfg = config_default();
	struct config_sink *s = &cfg->sinks[0];

	s->ops->conf_free(s->conf);
	s->conf = NULL;
	s->ops = &test_ops;
	s->concurrency = concurrency;
	s->retries = retries;
	s->retry_base_ms = base_ms;
	s->retry_cap_ms = base_ms * 4;
	return cfg;
}

static struct ld_event *
event(int64_t conv, int64_t seq)
{
	char body[160];
	struct ld_event_error err;
	struct ld_event *ev;

	if (conv >= 0)
		snprintf(body, sizeof body, "{\"event\":\"message_created\","
		    "\"id\":%lld,\"message_type\":\"incoming\","
		    "\"conversation\":{\"id\":%lld}}", (long long)seq,
		    (long long)conv);
	else
		snprintf(body, sizeof body, "{\"event\":\"message_created\","
		    "\"id\":%lld}", (long long)seq);
	ev = ld_event_parse(body, strlen(body), 0, &err);
	ck_assert_msg(ev != NULL, "%s", err.text);
	return ev;
}

static void
submit(struct dispatch *d, int64_t conv, int64_t seq, int want)
{
	struct ld_event *ev = event(conv, seq);

	ck_assert_int_eq(dispatch_submit(d, ev, NULL, 0, 0), want);
	ld_event_unref(ev);
}

static bool
wait_done(int n, int ms)
{
	long long end = tu_now_ms() + ms;
	int got;

	do {
		pthread_mutex_lock(&rec.lock);
		got = rec.event_done;
		pthread_mutex_unlock(&rec.lock);
		if (got >= n)
			return true;
		usleep(2000);
	} while (tu_now_ms() < end);
	return false;
}

static int
running_now(void)
{
	int n;

	pthread_mutex_lock(&rec.lock);
	n = rec.running;
	pthread_mutex_unlock(&rec.lock);
	return n;
}

static uint64_t
wakeups(struct dispatch *d)
{
	struct dispatch_stats st;

	dispatch_stats(d, &st);
	free(st.sinks);
	return st.wakeups;
}

/* Waits until d holds nothing: its events' places are free. */
static bool
wait_empty(struct dispatch *d, int ms)
{
	long long end = tu_now_ms() + ms;
	struct dispatch_stats st;

	do {
		dispatch_stats(d, &st);
		free(st.sinks);
		if (st.queued == 0)
			return true;
		usleep(2000);
	} while (tu_now_ms() < end);
	return false;
}

static void
setup(void)
{
	memset(&rec, 0, sizeof rec);
	pthread_mutex_init(&rec.lock, NULL);
}

START_TEST(order_per_conversation_under_concurrency)
{
	struct config *cfg = test_config(4, 0, 10);
	char *err = NULL;
	struct dispatch *d = dispatch_new(cfg, &hooks, &err);
	int64_t last[10];
	int i;

	ck_assert_msg(d != NULL, "%s", err);
	rec.sleep_us = 2000;
	for (i = 0; i < 200; i++)
		submit(d, i % 10, i, 0);
	ck_assert(wait_done(200, 10000));
	ck_assert_int_eq(rec.n, 200);
	for (i = 0; i < 10; i++)
		last[i] = -1;
	for (i = 0; i < rec.n; i++) {
		ck_assert_msg(rec.seq[i] > last[rec.conv[i]],
		    "conversation %lld: %lld after %lld", (long long)rec.conv[i],
		    (long long)rec.seq[i], (long long)last[rec.conv[i]]);
		last[rec.conv[i]] = rec.seq[i];
	}
	ck_assert(!rec.overlap);
	ck_assert_int_gt(rec.max_running, 1);
	ck_assert_int_le(rec.max_running, 4);
	dispatch_free(d);
	config_free(cfg);
}
END_TEST

START_TEST(events_without_conversation_run_side_by_side)
{
	struct config *cfg = test_config(3, 0, 10);
	char *err = NULL;
	struct dispatch *d = dispatch_new(cfg, &hooks, &err);
	int i;

	ck_assert_ptr_nonnull(d);
	/* Long enough that a loaded machine still shows the overlap. */
	rec.sleep_us = 80000;
	for (i = 0; i < 9; i++)
		submit(d, -1, i + 1, 0);
	ck_assert(wait_done(9, 5000));
	ck_assert_int_eq(rec.max_running, 3);
	dispatch_free(d);
	config_free(cfg);
}
END_TEST

/* seq 0 fails twice then succeeds; seq 1 of the same conversation must
 * wait for it, while conversation 2 goes ahead during the backoff. */
START_TEST(retry_keeps_order_and_blocks_only_its_conversation)
{
	struct config *cfg = test_config(2, 3, 200);
	char *err = NULL;
	struct dispatch *d = dispatch_new(cfg, &hooks, &err);
	struct dispatch_stats st;
	int i, i0 = -1, i1 = -1, i2 = -1;

	ck_assert_ptr_nonnull(d);
	rec.fail_first = 2;
	submit(d, 1, 0, 0);
	submit(d, 1, 1, 0);
	submit(d, 2, 2, 0);
	ck_assert(wait_done(3, 5000));
	for (i = 0; i < rec.n; i++) {
		if (rec.seq[i] == 0) i0 = i;
		if (rec.seq[i] == 1) i1 = i;
		if (rec.seq[i] == 2) i2 = i;
	}
	ck_assert_int_ge(i0, 0);
	ck_assert_int_gt(i1, i0);
	ck_assert_int_lt(i2, i0);
	ck_assert_int_eq(rec.attempts_seq0, 3);
	ck_assert_int_eq(rec.sink_done_attempts, 3);
	ck_assert(rec.sink_done_ok);
	dispatch_stats(d, &st);
	ck_assert_uint_eq(st.sinks[0].retried, 2);
	ck_assert_uint_eq(st.sinks[0].failed, 2);
	ck_assert_uint_eq(st.sinks[0].delivered, 3);
	ck_assert_uint_eq(st.sinks[0].dead, 0);
	/* Backoff: base 200 ms then 400 ms, jittered to at least half. */
	ck_assert_int_ge(rec.at[i0] - rec.at[i2], 250);
	free(st.sinks);
	dispatch_free(d);
	config_free(cfg);
}
END_TEST

START_TEST(dead_after_last_retry)
{
	struct config *cfg = test_config(1, 1, 10);
	char *err = NULL;
	struct dispatch *d = dispatch_new(cfg, &hooks, &err);
	struct dispatch_stats st;

	ck_assert_ptr_nonnull(d);
	rec.always_fail = true;
	submit(d, 5, 0, 0);
	ck_assert(wait_done(1, 5000));
	ck_assert_int_eq(rec.sink_done, 1);
	ck_assert(!rec.sink_done_ok);
	ck_assert_int_eq(rec.sink_done_attempts, 2);
	dispatch_stats(d, &st);
	ck_assert_uint_eq(st.sinks[0].dead, 1);
	ck_assert_uint_eq(st.queued, 0);
	free(st.sinks);
	dispatch_free(d);
	config_free(cfg);
}
END_TEST

START_TEST(queue_bound)
{
	struct config *cfg = test_config(1, 0, 10);
	char *err = NULL;
	struct dispatch *d;

	cfg->queue_size = 2;
	d = dispatch_new(cfg, &hooks, &err);
	ck_assert_ptr_nonnull(d);
	rec.block_until_cancel = true;
	submit(d, 1, 1, 0);
	submit(d, 1, 2, 0);
	ck_assert(!dispatch_has_room(d, 10));
	submit(d, 1, 3, -1);
	/* Recovery may exceed the bound: it must not drop what was spooled. */
	{
		struct ld_event *ev = event(1, 4);

		ck_assert_int_eq(dispatch_submit(d, ev, NULL, 0,
		    DISPATCH_FORCE), 0);
		ld_event_unref(ev);
	}
	ck_assert_uint_eq(dispatch_drain(d, 50), 3);
	/* Cut short at shutdown: not reported done (it stays spooled). */
	ck_assert_int_eq(rec.event_done, 0);
	dispatch_free(d);
	config_free(cfg);
}
END_TEST

/* Two dispatchers on one bound, as a reload's retired and new generations:
 * what either holds or has reserved counts for both. */
START_TEST(shared_bound)
{
	struct config *cfg = test_config(1, 0, 10);
	struct dispatch_bound *b;
	struct dispatch *old, *cur;
	struct ld_event *ev;
	const char *skip[1];
	char *err = NULL;
	int i;

	cfg->queue_size = 3;
	skip[0] = cfg->sinks[0].name;
	b = dispatch_bound_new(cfg);
	old = dispatch_new_shared(cfg, &hooks, b, &err);
	ck_assert_msg(old != NULL, "%s", err);
	cur = dispatch_new_shared(cfg, &hooks, b, &err);
	ck_assert_msg(cur != NULL, "%s", err);
	dispatch_hold(old, true);
	dispatch_hold(cur, true);
	submit(old, 1, 1, 0);
	submit(old, 1, 2, 0);
	ck_assert(dispatch_reserve(cur, 10));
	ck_assert(!dispatch_has_room(cur, 10));
	ck_assert(!dispatch_reserve(old, 10));
	submit(cur, 2, 3, -1);
	submit(old, 1, 3, -1);
	/* A reservation is given back, or becomes an event in either. */
	dispatch_unreserve(cur, 10);
	ev = event(1, 3);
	ck_assert(dispatch_reserve(cur, ev->raw_len));
	ck_assert_int_eq(dispatch_submit(old, ev, NULL, 0, DISPATCH_RESERVED),
	    0);
	ld_event_unref(ev);
	submit(cur, 2, 4, -1);
	/* An event no sink takes gives its reservation back at once. */
	cfg->queue_size = 4;
	dispatch_bound_set(b, cfg);
	ev = event(2, 4);
	ck_assert(dispatch_reserve(cur, ev->raw_len));
	ck_assert_int_eq(dispatch_submit(cur, ev, skip, 1, DISPATCH_RESERVED),
	    0);
	ld_event_unref(ev);
	/* A reload's larger bound counts what is there already. */
	submit(cur, 2, 4, 0);
	submit(cur, 2, 5, -1);
	/* So does the byte bound. */
	ck_assert(!dispatch_has_room(old, (size_t)cfg->queue_bytes));
	/* Finished events free their places, whichever dispatcher ran them;
	 * so do those a freed dispatcher never ran. */
	dispatch_hold(old, false);
	ck_assert(wait_empty(old, 5000));
	submit(cur, 2, 5, 0);
	submit(cur, 2, 6, 0);
	submit(cur, 2, 7, 0);
	submit(cur, 2, 8, -1);
	dispatch_free(cur);
	for (i = 0; i < 4; i++)
		ck_assert(dispatch_reserve(old, 10));
	ck_assert(!dispatch_reserve(old, 10));
	for (i = 0; i < 4; i++)
		dispatch_unreserve(old, 10);
	dispatch_free(old);
	dispatch_bound_free(b);
	config_free(cfg);
}
END_TEST

/*
 * The spool's windows, one per sink name (DISPATCH_LANES): a sink's full
 * window refuses only that sink, the bound overall is left alone, and
 * each delivery's place goes back as the sink finishes it.
 */
START_TEST(per_sink_windows)
{
	struct config *cfg = test_config(1, 0, 10);
	const char *only[1];
	struct dispatch *d;
	struct ld_event *ev;
	char *err = NULL;
	int i;

	cfg->queue_size = 2;
	only[0] = cfg->sinks[0].name;
	d = dispatch_new(cfg, &hooks, &err);
	ck_assert_msg(d != NULL, "%s", err);
	dispatch_hold(d, true);
	ck_assert(dispatch_reserve_sink(d, only[0], 10));
	ck_assert(dispatch_reserve_sink(d, only[0], 10));
	ck_assert(!dispatch_reserve_sink(d, only[0], 10));
	/* Another sink's window, and the bound overall, are not full. */
	ck_assert(dispatch_reserve_sink(d, "other", 10));
	dispatch_unreserve_sink(d, "other", 10);
	ck_assert(dispatch_has_room(d, 10));
	/* Handed over: the dispatcher counts it, the reservation goes. */
	ev = event(1, 1);
	ck_assert_int_eq(dispatch_submit_only(d, ev, only, 1,
	    DISPATCH_LANES), 0);
	ld_event_unref(ev);
	dispatch_unreserve_sink(d, only[0], 10);
	dispatch_unreserve_sink(d, only[0], 10);
	ck_assert(dispatch_reserve_sink(d, only[0], 10));
	ck_assert(!dispatch_reserve_sink(d, only[0], 10));
	dispatch_unreserve_sink(d, only[0], 10);
	/* To a sink it does not have: finished at once, nothing counted. */
	ev = event(1, 2);
	only[0] = "other";
	ck_assert_int_eq(dispatch_submit_only(d, ev, only, 1,
	    DISPATCH_LANES), 0);
	ld_event_unref(ev);
	ck_assert(wait_done(1, 1000));
	only[0] = cfg->sinks[0].name;
	dispatch_hold(d, false);
	ck_assert(wait_empty(d, 5000));
	for (i = 0; i < 2; i++)
		ck_assert(dispatch_reserve_sink(d, only[0], 10));
	ck_assert(!dispatch_reserve_sink(d, only[0], 10));
	for (i = 0; i < 2; i++)
		dispatch_unreserve_sink(d, only[0], 10);
	dispatch_free(d);
	config_free(cfg);
}
END_TEST

START_TEST(filter_and_skip)
{
	struct config *cfg = test_config(1, 0, 10);
	char *err = NULL;
	struct dispatch *d;
	struct ld_event *ev;
	const char *skip[] = { "log" };

	ck_assert_int_eq(filter_set(&cfg->sinks[0].filter, "events",
	    "conversation_created", &err), 0);
	d = dispatch_new(cfg, &hooks, &err);
	ck_assert_ptr_nonnull(d);
	submit(d, 1, 1, 0);	/* message_created: matches no sink */
	ck_assert(wait_done(1, 1000));
	ck_assert_int_eq(rec.n, 0);
	ev = event(1, 2);
	ck_assert_uint_eq(dispatch_sink_names(d, ev, NULL, 0), 0);
	ld_event_unref(ev);
	dispatch_free(d);
	config_free(cfg);

	/* A sink the spool says is done is skipped. */
	cfg = test_config(1, 0, 10);
	d = dispatch_new(cfg, &hooks, &err);
	ev = event(1, 3);
	ck_assert_int_eq(dispatch_submit(d, ev, skip, 1, 0), 0);
	ld_event_unref(ev);
	ck_assert(wait_done(2, 1000));
	ck_assert_int_eq(rec.n, 0);
	dispatch_free(d);
	config_free(cfg);
}
END_TEST

/* Every worker busy: new events are handed over without waking anyone,
 * and once the workers are free they take them all, two at a time. */
START_TEST(busy_workers_not_woken)
{
	struct config *cfg = test_config(2, 0, 10);
	char *err = NULL;
	struct dispatch *d = dispatch_new(cfg, &hooks, &err);
	long long end = tu_now_ms() + 5000;
	uint64_t w0;
	int i;

	ck_assert_ptr_nonnull(d);
	atomic_store(&rec.gate, true);
	submit(d, 0, 0, 0);
	submit(d, 1, 1, 0);
	while (running_now() < 2 && tu_now_ms() < end)
		usleep(1000);
	ck_assert_int_eq(running_now(), 2);
	w0 = wakeups(d);
	ck_assert_uint_le(w0, 2);
	for (i = 2; i < 202; i++)
		submit(d, i, i, 0);
	ck_assert_uint_eq(wakeups(d), w0);
	atomic_store(&rec.gate, false);
	ck_assert(wait_done(202, 10000));
	ck_assert_int_eq(rec.n, 202);
	ck_assert_int_le(rec.max_running, 2);
	/* Both were awake throughout: nobody slept to be woken. */
	ck_assert_uint_eq(wakeups(d), w0);
	dispatch_free(d);
	config_free(cfg);
}
END_TEST

/* Producers that pause at random, so that workers go to sleep, linger and
 * are woken in every order: no event is left waiting with a worker asleep
 * (a lost wake-up would leave the last events undelivered). */
struct producer {
	struct dispatch	*d;
	int		 first;
	unsigned	 seed;
};

static void *
produce(void *arg)
{
	struct producer *p = arg;
	int i;

	for (i = 0; i < 300; i++) {
		submit(p->d, (p->first + i) % 40, p->first + i, 0);
		switch (rand_r(&p->seed) % 4) {
		case 0:
			usleep((useconds_t)(rand_r(&p->seed) % 400));
			break;
		case 1:
			sched_yield();
			break;
		default:
			break;
		}
	}
	return NULL;
}

START_TEST(no_lost_wakeups)
{
	struct config *cfg = test_config(3, 0, 10);
	char *err = NULL;
	struct dispatch *d;
	struct producer p[4];
	pthread_t t[4];
	int i, round;

	/* Room for every event, however slow the workers (valgrind): a
	 * full queue is not what this is about. */
	cfg->queue_size = 10000;
	d = dispatch_new(cfg, &hooks, &err);
	ck_assert_ptr_nonnull(d);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 4; i++) {
			p[i].d = d;
			p[i].first = round * 1200 + i * 300;
			p[i].seed = (unsigned)(round * 4 + i + 1);
			ck_assert_int_eq(pthread_create(&t[i], NULL, produce,
			    &p[i]), 0);
		}
		for (i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		/* Quiet now: whatever is left must be taken by workers
		 * that were awake, lingering, or woken. */
		ck_assert_msg(wait_done((round + 1) * 1200, 10000),
		    "round %d: %d of %d events done", round, rec.event_done,
		    (round + 1) * 1200);
		usleep(1000 * (useconds_t)round);
	}
	ck_assert(!rec.overlap);
	dispatch_free(d);
	config_free(cfg);
}
END_TEST

/* Events a few tens of microseconds apart, each delivered at once: the
 * worker that delivered one waits a moment for the next instead of going
 * to sleep and being woken for it, so wake-ups are far fewer than events. */
START_TEST(steady_trickle_batched)
{
	struct config *cfg = test_config(1, 0, 10);
	char *err = NULL;
	struct dispatch *d = dispatch_new(cfg, &hooks, &err);
	struct ld_event *evs[200];
	uint64_t w;
	int i;

	ck_assert_ptr_nonnull(d);
	for (i = 0; i < 200; i++)
		evs[i] = event(i, i);
	for (i = 0; i < 200; i++) {
		ck_assert_int_eq(dispatch_submit(d, evs[i], NULL, 0, 0), 0);
		ld_event_unref(evs[i]);
		usleep(20);
	}
	ck_assert(wait_done(200, 10000));
	ck_assert_int_eq(rec.n, 200);
	w = wakeups(d);
	ck_assert_msg(w < 100, "%llu wake-ups for 200 events",
	    (unsigned long long)w);
	dispatch_free(d);
	config_free(cfg);
}
END_TEST

START_TEST(drain_finishes_queue)
{
	struct config *cfg = test_config(2, 0, 10);
	char *err = NULL;
	struct dispatch *d = dispatch_new(cfg, &hooks, &err);
	int i;

	ck_assert_ptr_nonnull(d);
	rec.sleep_us = 1000;
	for (i = 0; i < 50; i++)
		submit(d, i % 3, i, 0);
	ck_assert_uint_eq(dispatch_drain(d, 10000), 0);
	ck_assert_int_eq(rec.event_done, 50);
	ck_assert_int_eq(rec.n, 50);
	submit(d, 1, 99, -1);	/* closed */
	dispatch_free(d);
	config_free(cfg);
}
END_TEST

static Suite *
dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc = tcase_create("dispatch");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, order_per_conversation_under_concurrency);
	tcase_add_test(tc, events_without_conversation_run_side_by_side);
	tcase_add_test(tc, retry_keeps_order_and_blocks_only_its_conversation);
	tcase_add_test(tc, dead_after_last_retry);
	tcase_add_test(tc, queue_bound);
	tcase_add_test(tc, shared_bound);
	tcase_add_test(tc, per_sink_windows);
	tcase_add_test(tc, filter_and_skip);
	tcase_add_test(tc, drain_finishes_queue);
	tcase_add_test(tc, busy_workers_not_woken);
	tcase_add_test(tc, steady_trickle_batched);
	tcase_add_test(tc, no_lost_wakeups);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dispatch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
