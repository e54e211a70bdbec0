/*
 * The spool as the backlog, without a daemon: a window of a few events
 * (a fake dispatcher), the deferral past it, the loader filling it from
 * disk in seq order, batches deleted while draining, recovery through the
 * loader (progress honoured, gaps in seqs skipped), spool_max.
 */
#include <sys/stat.h>

#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "livedesk/event.h"
#include "spool.h"
#include "spool_int.h"
#include "testutil.h"
#include "util.h"

#define MAXEV	4096
#define NSINK	2

static const char *const sink_name[NSINK] = { "a", "b" };

/* The fake windows, one per sink: room for `room[k]` events at sink k;
 * what is submitted is kept, in submission order, with the sinks it is
 * for, until the test finishes it there. */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 n_sinks;	/* "a", then "b" */
	int		 room[NSINK];
	struct held {
		struct ld_event	*ev;
		unsigned	 mask;	/* sinks not yet finished */
	}		 held[MAXEV];
	int		 n_held;
	long long	 msg[MAXEV];	/* message ids, submission order */
	int		 n;
	long long	 smsg[NSINK][MAXEV];	/* the same, per sink */
	int		 sn[NSINK];
	int		 fin[NSINK];	/* finished per sink */
	int		 direct;
	int		 committed;
} w;

static struct spool *S;

static int
sink_index(const char *name)
{
	int k;

	for (k = 0; k < NSINK; k++)
		if (strcmp(sink_name[k], name) == 0)
			return k;
	ck_abort_msg("unknown sink %s", name);
	return -1;
}

static size_t
w_sinks(void *arg, const struct ld_event *ev, char (*names)[SPOOL_SINK_NAME],
    size_t max)
{
	size_t k, n;

	(void)arg;
	(void)ev;
	pthread_mutex_lock(&w.lock);
	n = (size_t)w.n_sinks;
	pthread_mutex_unlock(&w.lock);
	for (k = 0; k < n && k < max; k++)
		snprintf(names[k], SPOOL_SINK_NAME, "%s", sink_name[k]);
	return n;
}

static bool
w_reserve(void *arg, const struct ld_event *ev, const char *sink)
{
	int k = sink_index(sink);
	bool ok;

	(void)arg;
	(void)ev;
	pthread_mutex_lock(&w.lock);
	if ((ok = w.room[k] > 0))
		w.room[k]--;
	pthread_mutex_unlock(&w.lock);
	return ok;
}

static void
w_unreserve(void *arg, const struct ld_event *ev, const char *sink)
{
	int k = sink_index(sink);

	(void)arg;
	(void)ev;
	pthread_mutex_lock(&w.lock);
	w.room[k]++;
	pthread_mutex_unlock(&w.lock);
}

static void
w_submit(void *arg, struct ld_event *ev, const char *const *only, size_t n)
{
	struct ld_id id = ev->message.id;
	unsigned mask = 0;
	size_t i;
	int k;

	(void)arg;
	ck_assert_uint_gt(n, 0);
	pthread_mutex_lock(&w.lock);
	ck_assert_int_lt(w.n, MAXEV);
	w.msg[w.n++] = id.set ? id.v : -1;
	for (i = 0; i < n; i++) {
		k = sink_index(only[i]);
		mask |= 1u << k;
		w.smsg[k][w.sn[k]++] = id.set ? id.v : -1;
	}
	w.held[w.n_held].ev = ld_event_ref(ev);
	w.held[w.n_held++].mask = mask;
	pthread_cond_broadcast(&w.cond);
	pthread_mutex_unlock(&w.lock);
}

static void
w_committed(void *arg, struct ld_event *ev, bool ok, bool direct)
{
	(void)arg;
	(void)ev;
	ck_assert(ok);
	pthread_mutex_lock(&w.lock);
	w.direct += direct;
	w.committed++;
	pthread_cond_broadcast(&w.cond);
	pthread_mutex_unlock(&w.lock);
}

/* Finishes, at sink k, the oldest submitted event it has, as a
 * dispatcher would: the sink's room goes back, the sink is done, then,
 * if it was the last, every sink is done. */
static bool
finish_sink(int k)
{
	struct ld_event *ev = NULL;
	struct sink_result r = { .ok = true };
	bool last = false;
	int i;

	pthread_mutex_lock(&w.lock);
	for (i = 0; i < w.n_held; i++) {
		if (!(w.held[i].mask & (1u << k)))
			continue;
		ev = w.held[i].ev;
		w.held[i].mask &= ~(1u << k);
		if ((last = w.held[i].mask == 0)) {
			memmove(&w.held[i], &w.held[i + 1],
			    (size_t)(w.n_held - i - 1) * sizeof *w.held);
			w.n_held--;
		}
		w.room[k]++;
		w.fin[k]++;
		break;
	}
	pthread_mutex_unlock(&w.lock);
	if (ev == NULL)
		return false;
	spool_sink_done(S, ev, sink_name[k], &r, 1);
	if (last) {
		spool_event_done(S, ev);
		ld_event_unref(ev);
	}
	return true;
}

static bool
finish_one(void)
{
	return finish_sink(0);
}

/* Waits (on the window's condition, 5 s at most) until sink k was
 * handed n events in all. */
static void
wait_sink(int k, int n)
{
	struct timespec ts;
	long long end = tu_now_ms() + 5000;

	pthread_mutex_lock(&w.lock);
	while (w.sn[k] < n && tu_now_ms() < end) {
		util_deadline(&ts, 50);
		(void)pthread_cond_timedwait(&w.cond, &w.lock, &ts);
	}
	ck_assert_msg(w.sn[k] >= n, "sink %s: %d of %d submitted",
	    sink_name[k], w.sn[k], n);
	pthread_mutex_unlock(&w.lock);
}

/* Sink k takes and finishes events one by one until it has finished n
 * in all. */
static void
drain_sink(int k, int n)
{
	int i;

	for (i = w.fin[k]; i < n; i++) {
		wait_sink(k, i + 1);
		ck_assert(finish_sink(k));
	}
}

/* Waits (on the window's condition, 5 s at most) until n were submitted
 * in all. */
static void
wait_submitted(int n)
{
	struct timespec ts;
	long long end = tu_now_ms() + 5000;

	pthread_mutex_lock(&w.lock);
	while (w.n < n && tu_now_ms() < end) {
		util_deadline(&ts, 50);
		(void)pthread_cond_timedwait(&w.cond, &w.lock, &ts);
	}
	ck_assert_msg(w.n >= n, "%d of %d submitted", w.n, n);
	pthread_mutex_unlock(&w.lock);
}

static void
wait_committed(int n)
{
	struct timespec ts;
	long long end = tu_now_ms() + 5000;

	pthread_mutex_lock(&w.lock);
	while (w.committed < n && tu_now_ms() < end) {
		util_deadline(&ts, 50);
		(void)pthread_cond_timedwait(&w.cond, &w.lock, &ts);
	}
	ck_assert_int_ge(w.committed, n);
	pthread_mutex_unlock(&w.lock);
}

static struct ld_event *
event(long long msg, long long conv)
{
	char body[256];
	struct ld_event_error err;
	struct ld_event *ev;

	snprintf(body, sizeof body, "{\"event\":\"message_created\",\"id\":%lld,"
	    "\"message_type\":\"incoming\",\"conversation\":{\"id\":%lld},"
	    "\"content\":\"m%lld\"}", msg, conv, msg);
	ev = ld_event_parse(body, strlen(body), 0, &err);
	ck_assert_ptr_nonnull(ev);
	snprintf(ev->delivery_id, sizeof ev->delivery_id, "d-%lld", msg);
	ev->received_usec = util_now_usec();
	return ev;
}

static void
append(long long msg, long long conv)
{
	struct ld_event *ev = event(msg, conv);

	spool_append(S, ev, w_committed, NULL);
	ld_event_unref(ev);
}

static int
count_files(const char *dir, const char *ext)
{
	char *p = NULL;
	DIR *d;
	struct dirent *de;
	int n = 0;
	size_t el = strlen(ext);

	ck_assert_int_ge(asprintf(&p, "%s/new", dir), 0);
	d = opendir(p);
	free(p);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l > el && strcmp(de->d_name + l - el, ext) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static char *dir;

static void
open_spool_sinks(int room, int n_sinks)
{
	struct spool_window sw = { w_sinks, w_reserve, w_unreserve, w_submit,
	    NULL };
	char *err = NULL, *sd = NULL;
	int k;

	pthread_mutex_lock(&w.lock);
	w.n_sinks = n_sinks;
	for (k = 0; k < NSINK; k++)
		w.room[k] = room;
	pthread_mutex_unlock(&w.lock);
	ck_assert_int_ge(asprintf(&sd, "%s/spool", dir), 0);
	S = spool_open(sd, false, &err);
	ck_assert_msg(S != NULL, "%s", err);
	ck_assert_int_eq(spool_recover(S, &err), 0);
	ck_assert_int_eq(spool_load_start(S, &sw, &err), 0);
	free(sd);
}

static void
open_spool(int room)
{
	open_spool_sinks(room, 1);
}

/* Frees what the window still holds (as a dispatcher cut short at
 * shutdown: no hook) and the spool. */
static void
close_spool(void)
{
	int i;

	spool_load_stop(S);
	spool_flush(S);
	pthread_mutex_lock(&w.lock);
	for (i = 0; i < w.n_held; i++)
		ld_event_unref(w.held[i].ev);
	w.n_held = 0;
	pthread_mutex_unlock(&w.lock);
	spool_free(S);
	S = NULL;
}

static char *
spool_sub(void)
{
	char *p = NULL;

	ck_assert_int_ge(asprintf(&p, "%s/spool", dir), 0);
	return p;
}

static void
setup(void)
{
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	memset(w.sn, 0, sizeof w.sn);
	memset(w.fin, 0, sizeof w.fin);
	w.n = w.n_held = w.direct = w.committed = 0;
	dir = tu_tmpdir();
}

static void
teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

/*
 * A window of 4 and 40 events over 3 conversations: all are accepted,
 * the first 4 go direct, the rest wait on disk and come in as the window
 * frees, in arrival order (so in order per conversation) -- and while
 * they drain the batches go, and the spool is empty at the end.
 */
START_TEST(deferred_events_load_in_order_and_batches_go)
{
	struct spool_status st;
	char *err = NULL, *sd;
	int i;

	open_spool(4);
	for (i = 0; i < 40; i++)
		append(i, i % 3);
	wait_committed(40);
	wait_submitted(4);
	ck_assert_int_eq(w.direct, 4);
	ck_assert_int_eq(spool_status(S, NULL, &st, &err), 0);
	ck_assert_uint_eq(st.pending, 40);
	ck_assert(st.deferred);
	ck_assert_uint_gt(st.backlog_bytes, 0);
	ck_assert_int_gt(st.oldest_usec, 0);
	for (i = 0; i < 40; i++) {
		wait_submitted(i + 1);
		ck_assert(finish_one());
	}
	for (i = 0; i < 40; i++)
		ck_assert_int_eq(w.msg[i], i);
	ck_assert_int_eq(spool_status(S, NULL, &st, &err), 0);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.backlog_bytes, 0);
	sd = spool_sub();
	ck_assert_int_eq(count_files(sd, ".batch"), 0);
	ck_assert_int_eq(count_files(sd, ".done"), 0);
	/* Caught up: the next event goes direct again. */
	for (i = 0; i < 100 && spool_status(S, NULL, &st, &err) == 0 &&
	    st.deferred; i++)
		usleep(10000);
	ck_assert(!st.deferred);
	append(40, 0);
	wait_committed(41);
	ck_assert_int_eq(w.direct, 5);
	ck_assert(finish_one());
	close_spool();
	free(sd);
}
END_TEST

/* Only part of a backlog drains: the batches that are finished go, the
 * others stay, while the daemon runs. */
START_TEST(finished_batches_go_while_draining)
{
	char *sd = spool_sub();
	int i, before, after;

	open_spool(2);
	/* One commit at a time: one batch per event. */
	for (i = 0; i < 20; i++) {
		append(i, 7);
		wait_committed(i + 1);
	}
	before = count_files(sd, ".batch");
	ck_assert_int_eq(before, 20);
	for (i = 0; i < 10; i++) {
		wait_submitted(i + 1);
		ck_assert(finish_one());
	}
	wait_submitted(12);
	after = count_files(sd, ".batch");
	/* 10 finished and gone; 2 in the window; 8 on disk. */
	ck_assert_int_eq(after, 10);
	close_spool();
	free(sd);
}
END_TEST

/*
 * A restart with a backlog: nothing is handed over before the loader
 * runs, each sink's events stream in seq order within its window, events
 * marked done ("*") are skipped, one marked done by a sink is skipped
 * for that sink alone, and a gap in the seqs (a commit that failed) is
 * stepped over.
 */
START_TEST(recovery_streams_through_the_loader)
{
	static const long long want_a[] = { 0, 3, 4, 7, 8, 9 };
	static const long long want_b[] = { 0, 2, 3, 4, 7, 8, 9 };
	char *sd = spool_sub(), *p = NULL;
	int i;

	open_spool_sinks(1, 2);
	for (i = 0; i < 10; i++) {
		append(i, i % 2);
		wait_committed(i + 1);
	}
	wait_sink(0, 1);
	wait_sink(1, 1);
	close_spool();
	/* Seq 0 went to both sinks and is not done. Mark seq 1 done by
	 * every sink, seq 2 by sink "a" only, by hand, as a run would. */
	ck_assert_int_ge(asprintf(&p, "%s/new/%016" PRIx64 ".done", sd,
	    (uint64_t)1), 0);
	tu_write_file(p, "1 a\n1 *\n", 8);
	free(p);
	ck_assert_int_ge(asprintf(&p, "%s/new/%016" PRIx64 ".done", sd,
	    (uint64_t)2), 0);
	tu_write_file(p, "2 a\n", 4);
	free(p);
	/* Seq 6 done by every sink as its last sink writes it: "*" alone
	 * (seq 1's is as older runs wrote it, the sink's line first). */
	ck_assert_int_ge(asprintf(&p, "%s/new/%016" PRIx64 ".done", sd,
	    (uint64_t)6), 0);
	tu_write_file(p, "6 *\n", 4);
	free(p);
	/* A gap: seq 5's batch never made it (its commit failed). */
	ck_assert_int_ge(asprintf(&p, "%s/new/%016" PRIx64 ".batch", sd,
	    (uint64_t)5), 0);
	ck_assert_int_eq(unlink(p), 0);
	free(p);
	memset(w.sn, 0, sizeof w.sn);
	memset(w.fin, 0, sizeof w.fin);
	w.n = 0;
	w.committed = 0;
	open_spool_sinks(3, 2);
	wait_sink(0, 3);
	wait_sink(1, 3);
	/* Each window bounds its sink's load: 3 before room frees. */
	usleep(100000);
	ck_assert_int_eq(w.sn[0], 3);
	ck_assert_int_eq(w.sn[1], 3);
	drain_sink(0, 6);
	drain_sink(1, 7);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(w.smsg[0][i], want_a[i]);
	for (i = 0; i < 7; i++)
		ck_assert_int_eq(w.smsg[1][i], want_b[i]);
	for (i = 0; i < 100 && count_files(sd, ".batch") > 0; i++)
		usleep(10000);
	ck_assert_int_eq(count_files(sd, ".batch"), 0);
	close_spool();
	free(sd);
}
END_TEST

/*
 * Two sinks, each with a window of 4: "b" is stuck (never finishes),
 * "a" drains every event, in seq order, while b holds only its own
 * window. The batches stay while b's cursor is behind them; a, caught
 * up, takes new events direct while b's still wait on disk; then b
 * drains, in order too, and the batches go.
 */
START_TEST(stuck_sink_holds_back_only_its_own)
{
	struct spool_status st;
	char *err = NULL, *sd = spool_sub();
	int i, direct0;

	open_spool_sinks(4, 2);
	for (i = 0; i < 40; i++)
		append(i, i % 3);
	wait_committed(40);
	/* The first 4 went direct to both. */
	direct0 = w.direct;
	ck_assert_int_eq(direct0, 4);
	drain_sink(0, 40);
	for (i = 0; i < 40; i++)
		ck_assert_int_eq(w.smsg[0][i], i);
	/* b had its window's worth, no more. */
	usleep(100000);
	ck_assert_int_eq(w.sn[1], 4);
	/* Nothing is finished by every sink: every batch stays. */
	ck_assert_int_gt(count_files(sd, ".batch"), 0);
	ck_assert_int_eq(spool_status(S, NULL, &st, &err), 0);
	ck_assert_uint_eq(st.pending, 40);
	ck_assert(st.deferred);
	/* a is caught up: its next event goes direct, b's waits. */
	for (i = 0; i < 100; i++) {
		append(40 + i, 0);
		wait_committed(41 + i);
		if (w.direct > direct0)
			break;
		drain_sink(0, 41 + i);
	}
	ck_assert_int_eq(w.direct, direct0 + 1);
	wait_sink(0, 41 + i);
	ck_assert(finish_sink(0));
	ck_assert_int_eq(w.smsg[0][40 + i], 40 + i);
	ck_assert_int_eq(w.sn[1], 4);
	/* b drains, in order, and then the batches go. */
	drain_sink(1, 41 + i);
	{
		int k;

		for (k = 0; k < 41 + i; k++)
			ck_assert_int_eq(w.smsg[1][k], k);
	}
	for (i = 0; i < 100 && count_files(sd, ".batch") > 0; i++)
		usleep(10000);
	ck_assert_int_eq(count_files(sd, ".batch"), 0);
	ck_assert_int_eq(spool_status(S, NULL, &st, &err), 0);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.backlog_bytes, 0);
	close_spool();
	free(sd);
}
END_TEST

/*
 * The progress lines of an event handed to every sink at once: a line for
 * each sink but the last, whose line is the event's "*" (one write, not
 * two), and nothing more when the event ends; a failure whose dead letter
 * is written counts as done like a success. The batch goes at the end.
 */
START_TEST(last_sink_writes_the_star)
{
	struct sink_result ok = { .ok = true };
	struct spool_status st;
	struct ld_event *ev;
	char *sd = spool_sub(), *p = NULL, *text, *err = NULL;

	open_spool_sinks(1, 2);
	append(1, 1);
	wait_committed(1);
	wait_sink(0, 1);
	wait_sink(1, 1);
	pthread_mutex_lock(&w.lock);
	ck_assert_int_eq(w.n_held, 1);
	ev = w.held[0].ev;
	w.n_held = 0;
	pthread_mutex_unlock(&w.lock);
	ck_assert_int_ge(asprintf(&p, "%s/new/%016" PRIx64 ".done", sd,
	    (uint64_t)0), 0);
	spool_sink_done(S, ev, "a", &ok, 1);
	text = tu_read_file(p, NULL);
	ck_assert_str_eq(text, "0 a\n");
	free(text);
	spool_sink_done(S, ev, "b", &ok, 1);
	text = tu_read_file(p, NULL);
	ck_assert_str_eq(text, "0 a\n0 *\n");
	free(text);
	/* Done for every sink on disk; the backlog counts it until the
	 * event ends. */
	ck_assert_int_eq(spool_status(S, NULL, &st, &err), 0);
	ck_assert_uint_eq(st.pending, 1);
	spool_event_done(S, ev);
	ld_event_unref(ev);
	ck_assert_int_eq(spool_status(S, NULL, &st, &err), 0);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_int_eq(count_files(sd, ".batch"), 0);
	ck_assert_int_eq(count_files(sd, ".done"), 0);
	close_spool();
	free(p);
	free(sd);
}
END_TEST

/*
 * One event failed for good by two sinks through two entries (one took it
 * directly, the other loaded it from disk: two copies of the event): its
 * reason file names both, it counts as one dead letter, and removing it
 * takes both files and the count.
 */
START_TEST(dead_letter_keeps_every_sinks_failure)
{
	struct sink_result fail = { .ok = false, .exited = true,
	    .exit_status = 3 };
	struct spool_status st;
	struct ld_event *direct = event(7, 1), *loaded = event(7, 1);
	char *sd = spool_sub(), *p = NULL, *err = NULL;
	json_t *reason, *f;

	open_spool_sinks(1, 2);
	snprintf(fail.detail, sizeof fail.detail, "exited with status 3");
	ck_assert_int_eq(spool_dead_add(S, direct, "a", &fail, 2), 0);
	ck_assert_int_eq(spool_dead_add(S, loaded, "b", &fail, 1), 0);
	ck_assert_int_ge(asprintf(&p, "%s/failed/d-7.reason.json", sd), 0);
	reason = json_load_file(p, 0, NULL);
	ck_assert_ptr_nonnull(reason);
	f = json_object_get(reason, "failures");
	ck_assert_uint_eq(json_array_size(f), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(f,
	    0), "sink")), "a");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(f,
	    1), "sink")), "b");
	json_decref(reason);
	ck_assert_int_eq(spool_status(S, NULL, &st, &err), 0);
	ck_assert_uint_eq(st.dead, 1);

	ck_assert_int_eq(spool_dead_remove(S, "d-7"), 0);
	ck_assert_int_eq(access(p, F_OK), -1);
	free(p);
	ck_assert_int_ge(asprintf(&p, "%s/failed/d-7.json", sd), 0);
	ck_assert_int_eq(access(p, F_OK), -1);
	ck_assert_int_eq(spool_status(S, NULL, &st, &err), 0);
	ck_assert_uint_eq(st.dead, 0);
	ck_assert_int_eq(spool_dead_remove(S, "d-7"), -1);
	close_spool();
	ld_event_unref(direct);
	ld_event_unref(loaded);
	free(p);
	free(sd);
}
END_TEST

/* spool_max: the room the spool answers for, and back when drained. */
START_TEST(spool_max_refuses)
{
	int i;

	open_spool(1);
	spool_set_limits(S, 4096, 0);
	ck_assert_int_eq(spool_room(S, 100), SPOOL_ROOM);
	ck_assert_int_eq(spool_room(S, 5000), SPOOL_FULL_MAX);
	for (i = 0; i < 40 && spool_room(S, 200) == SPOOL_ROOM; i++) {
		append(i, 1);
		wait_committed(i + 1);
	}
	ck_assert_int_lt(i, 40);
	ck_assert_int_eq(spool_room(S, 200), SPOOL_FULL_MAX);
	spool_set_limits(S, 1ULL << 30, 1ULL << 62);
	ck_assert_int_eq(spool_room(S, 200), SPOOL_FULL_DISK);
	spool_set_limits(S, 4096, 0);
	{
		int n = i, k;

		for (k = 0; k < n; k++) {
			wait_submitted(k + 1);
			ck_assert(finish_one());
		}
	}
	ck_assert_int_eq(spool_room(S, 200), SPOOL_ROOM);
	close_spool();
}
END_TEST

static Suite *
spool_load_suite(void)
{
	Suite *s = suite_create("spool_load");
	TCase *tc = tcase_create("spool_load");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, deferred_events_load_in_order_and_batches_go);
	tcase_add_test(tc, finished_batches_go_while_draining);
	tcase_add_test(tc, recovery_streams_through_the_loader);
	tcase_add_test(tc, stuck_sink_holds_back_only_its_own);
	tcase_add_test(tc, spool_max_refuses);
	tcase_add_test(tc, last_sink_writes_the_star);
	tcase_add_test(tc, dead_letter_keeps_every_sinks_failure);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(spool_load_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
