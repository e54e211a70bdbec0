/* Check suite for sink_log.c: lines written whole, and gathered into few
 * writes while a write is under way. */
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "livedesk/event.h"
#include "livedesk/sink.h"
#include "log.h"
#include "testutil.h"

#define WORKERS		8

struct workers {
	const struct sink_ops	*ops;
	void			*state;
	struct ld_event		*ev;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	int			 returned;
};

/* One delivery, as a dispatcher worker makes it. */
static void *
deliver_one(void *arg)
{
	struct workers *w = arg;
	struct sink_result r;

	memset(&r, 0, sizeof r);
	w->ops->deliver(w->state, w->ev, &r);
	pthread_mutex_lock(&w->lock);
	w->returned++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Whether n deliveries returned within 10 s. */
static bool
wait_returned(struct workers *w, int n)
{
	struct timespec until;
	int rc = 0;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&w->lock);
	while (w->returned < n && rc == 0)
		rc = pthread_cond_timedwait(&w->cond, &w->lock, &until);
	ok = w->returned >= n;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

static size_t
count_lines(const char *b, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += b[i] == '\n';
	return k;
}

/*
 * stderr is a SOCK_SEQPACKET socket, so that each write arrives as one
 * record, filled up so that the first delivery's write blocks. The other
 * workers' lines wait in the sink meanwhile and their deliveries return;
 * once the reader drains the socket, they go out in one more write. Each
 * line ends whole in its record. (Before, each line was a write of its
 * own: every worker blocked in it.)
 */
START_TEST(test_lines_gathered)
{
	struct workers w;
	pthread_t t[WORKERS];
	void *conf = NULL;
	char *err = NULL, rec[65536];
	struct sink_ctx ctx = { .name = "log" };
	int sv[2], fl, i, records = 0, saved;
	size_t len, lines = 0, fillers = 0;
	ssize_t n;
	char *body = tu_fixture("message_created.json", &len);
	struct ld_event_error perr;
	bool all_back;

	memset(&w, 0, sizeof w);
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	w.ev = ld_event_parse(body, len, 64, &perr);
	ck_assert_ptr_nonnull(w.ev);
	w.ops = sink_find("log");
	ck_assert_ptr_nonnull(w.ops);
	ck_assert_int_eq(w.ops->conf_check(&conf, &err), 0);
	ck_assert_int_eq(w.ops->start(&w.state, conf, &ctx, &err), 0);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(sv[0], STDERR_FILENO), STDERR_FILENO);
	log_init(LOG_TARGET_STDERR, LOG_INFO);
	/* Full: the next write blocks until the reader reads. */
	fl = fcntl(STDERR_FILENO, F_GETFL);
	ck_assert_int_eq(fcntl(STDERR_FILENO, F_SETFL, fl | O_NONBLOCK), 0);
	while (write(STDERR_FILENO, "filler\n", 7) == 7)
		fillers++;
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(fcntl(STDERR_FILENO, F_SETFL, fl), 0);

	for (i = 0; i < WORKERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, deliver_one, &w),
		    0);
	/* All but the one writing come back without writing. */
	all_back = wait_returned(&w, WORKERS - 1);

	while (lines < WORKERS) {
		n = recv(sv[1], rec, sizeof rec, 0);
		ck_assert_int_gt(n, 0);
		if (fillers > 0 && n == 7 && memcmp(rec, "filler\n", 7) == 0) {
			fillers--;
			continue;
		}
		ck_assert_int_eq(rec[n - 1], '\n');
		ck_assert_ptr_nonnull(memmem(rec, (size_t)n,
		    "message_created", 15));
		records++;
		lines += count_lines(rec, (size_t)n);
	}
	for (i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ck_assert_msg(all_back, "deliveries blocked behind another's write");
	ck_assert_uint_eq(lines, WORKERS);
	ck_assert_int_eq(records, 2);

	w.ops->stop(w.state);
	w.ops->conf_free(conf);
	ld_event_unref(w.ev);
	close(sv[0]);
	close(sv[1]);
	free(body);
}
END_TEST

/* Unloaded, each line is its own write, at once. */
START_TEST(test_line_alone)
{
	const struct sink_ops *ops = sink_find("log");
	void *conf = NULL, *state = NULL;
	char *err = NULL, rec[65536];
	struct sink_ctx ctx = { .name = "log" };
	struct sink_result r;
	struct ld_event_error perr;
	struct ld_event *ev;
	size_t len;
	char *body = tu_fixture("message_created.json", &len);
	int sv[2], saved, i;
	ssize_t n;

	ev = ld_event_parse(body, len, 64, &perr);
	ck_assert_ptr_nonnull(ev);
	ck_assert_int_eq(ops->conf_check(&conf, &err), 0);
	ck_assert_int_eq(ops->start(&state, conf, &ctx, &err), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	saved = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(sv[0], STDERR_FILENO), STDERR_FILENO);
	log_init(LOG_TARGET_STDERR, LOG_INFO);
	for (i = 0; i < 3; i++) {
		ops->deliver(state, ev, &r);
		n = recv(sv[1], rec, sizeof rec, MSG_DONTWAIT);
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(count_lines(rec, (size_t)n), 1);
		ck_assert_int_eq(rec[n - 1], '\n');
	}
	dup2(saved, STDERR_FILENO);
	close(saved);
	ops->stop(state);
	ops->conf_free(conf);
	ld_event_unref(ev);
	close(sv[0]);
	close(sv[1]);
	free(body);
}
END_TEST

/* A text line longer than a log line may be is cut where an escape ends,
 * never inside one, and stays one line, short enough (with its stamp and
 * suffix) for a pipe to take it in one piece. */
START_TEST(test_long_line_cut_whole)
{
	const struct sink_ops *ops = sink_find("log");
	void *conf = NULL, *state = NULL;
	char *err = NULL, rec[65536], *body, *c;
	struct sink_ctx ctx = { .name = "log" };
	struct sink_result r;
	struct ld_event_error perr;
	struct ld_event *ev;
	size_t i, len, run;
	int sv[2], saved;
	ssize_t n;

	/* 3,000 newlines: 6,000 bytes escaped. */
	body = malloc(3000 * 2 + 100);
	ck_assert_ptr_nonnull(body);
	len = (size_t)sprintf(body, "{\"event\":\"message_created\","
	    "\"content\":\"");
	for (i = 0; i < 3000; i++, len += 2)
		memcpy(body + len, "\\n", 2);
	len += (size_t)sprintf(body + len, "\"}");
	ev = ld_event_parse(body, len, 64, &perr);
	ck_assert_ptr_nonnull(ev);
	ck_assert_int_eq(ops->conf_set(&conf, "max_content", "100000", &err),
	    0);
	ck_assert_int_eq(ops->conf_check(&conf, &err), 0);
	ck_assert_int_eq(ops->start(&state, conf, &ctx, &err), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	saved = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(sv[0], STDERR_FILENO), STDERR_FILENO);
	log_init(LOG_TARGET_STDERR, LOG_INFO);
	ops->deliver(state, ev, &r);
	n = recv(sv[1], rec, sizeof rec - 1, MSG_DONTWAIT);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ck_assert_int_gt(n, 0);
	rec[n] = '\0';
	ck_assert_int_eq(count_lines(rec, (size_t)n), 1);
	ck_assert_int_eq(rec[n - 1], '\n');
	/* One write a pipe takes whole: a longer one may be split, another
	 * thread's line landing inside it. */
	ck_assert_int_le(n, PIPE_BUF);
	c = strstr(rec, "content=\"");
	ck_assert_ptr_nonnull(c);
	c += 9;
	for (run = 0; c[run] == '\\' || c[run] == 'n'; run++)
		ck_assert_int_eq(c[run], run % 2 ? 'n' : '\\');
	ck_assert_uint_eq(run % 2, 0);
	ck_assert_uint_gt(run, 3000);
	ck_assert_msg(strncmp(c + run, "...\"", 4) == 0,
	    "after the content: \"%.20s\" (run %zu, line %zd)", c + run, run, n);
	ops->stop(state);
	ops->conf_free(conf);
	ld_event_unref(ev);
	close(sv[0]);
	close(sv[1]);
	free(body);
}
END_TEST

/* max_content = 0: a text line shows none of the content, as a JSON line
 * does (it showed all of it). */
START_TEST(test_no_content)
{
	const struct sink_ops *ops = sink_find("log");
	void *conf = NULL, *state = NULL;
	char *err = NULL, rec[65536];
	struct sink_ctx ctx = { .name = "log" };
	struct sink_result r;
	struct ld_event_error perr;
	struct ld_event *ev;
	size_t len;
	char *body = tu_fixture("message_created.json", &len);
	int sv[2], saved;
	ssize_t n;

	ev = ld_event_parse(body, len, 64, &perr);
	ck_assert_ptr_nonnull(ev);
	ck_assert_ptr_nonnull(ev->message.content);
	ck_assert_int_gt(strlen(ev->message.content), 4);
	ck_assert_int_eq(ops->conf_set(&conf, "max_content", "0", &err), 0);
	ck_assert_int_eq(ops->conf_check(&conf, &err), 0);
	ck_assert_int_eq(ops->start(&state, conf, &ctx, &err), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	saved = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(sv[0], STDERR_FILENO), STDERR_FILENO);
	log_init(LOG_TARGET_STDERR, LOG_INFO);
	ops->deliver(state, ev, &r);
	n = recv(sv[1], rec, sizeof rec - 1, MSG_DONTWAIT);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ck_assert_int_gt(n, 0);
	rec[n] = '\0';
	ck_assert_msg(strstr(rec, " content=\"\"") != NULL, "%s", rec);
	ck_assert_msg(strstr(rec, ev->message.content) == NULL, "%s", rec);
	ops->stop(state);
	ops->conf_free(conf);
	ld_event_unref(ev);
	close(sv[0]);
	close(sv[1]);
	free(body);
}
END_TEST

static Suite *
sink_log_suite(void)
{
	Suite *s = suite_create("sink_log");
	TCase *tc = tcase_create("lines");

	tcase_add_test(tc, test_lines_gathered);
	tcase_add_test(tc, test_line_alone);
	tcase_add_test(tc, test_long_line_cut_whole);
	tcase_add_test(tc, test_no_content);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sink_log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
