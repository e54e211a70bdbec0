/* End to end for the exec sink's persistent mode: the daemon on loopback,
 * messages posted over many conversations to a stdlib Python handler, in
 * spawn mode and then in persistent mode (and again with a handler that
 * exits without answering now and then): every event handled once, in
 * order per conversation, and the restarts in /metrics. The time per
 * event of each mode is printed; make bench measures it properly. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"
#include "util.h"

#define CONVS		200
#define PER_CONV	10	/* 2,000 events in persistent mode */
/* Spawn mode starts Python per event: 2,000 of them take half a minute
 * of CPU on a shared 2-CPU machine, so it gets 50 (5 conversations). */
#define SPAWN_CONVS	5

static const char *const json_ct[] = {
	"Content-Type: application/json", NULL,
};

/* Posts messages k0 to k1 - 1 of each of convs conversations, round
 * robin (message id: conversation * 1000 + k). */
static void
post_range(const char *url, int convs, int k0, int k1)
{
	size_t len;
	char *tmpl = tu_fixture("message_created_incoming.json", &len), *body;
	json_t *o = json_loadb(tmpl, len, 0, NULL);
	struct tu_response r;
	int c, k;

	ck_assert_ptr_nonnull(o);
	for (k = k0; k < k1; k++) {
		for (c = 1; c <= convs; c++) {
			json_object_set_new(json_object_get(o, "conversation"),
			    "id", json_integer(c));
			json_object_set_new(o, "id", json_integer(c * 1000 + k));
			body = json_dumps(o, JSON_COMPACT);
			tu_http(&r, "POST", url, json_ct, body, strlen(body));
			ck_assert_int_eq(r.status, 200);
			tu_response_free(&r);
			free(body);
		}
	}
	json_decref(o);
	free(tmpl);
}

/* Posts per_conv messages to each of convs conversations, round robin,
 * and waits for every one to be handled (out has a line each); returns
 * the milliseconds from the first post to the last line. */
static long long
post_all(const char *url, const char *out, int convs, int per_conv)
{
	long long t0 = tu_now_ms();

	post_range(url, convs, 0, per_conv);
	ck_assert_msg(tu_wait_file_lines(out, convs * per_conv, 50000),
	    "%d of %d handled", tu_count_lines(out), convs * per_conv);
	return tu_now_ms() - t0;
}

/* Every event once, and each conversation's in the order posted. */
static void
assert_in_order(const char *out, int convs, int per_conv)
{
	FILE *f = fopen(out, "r");
	int *next = xcalloc((size_t)convs + 1, sizeof *next);
	long c, id, n = 0;
	int len, i;

	ck_assert_ptr_nonnull(f);
	while (fscanf(f, "%ld %ld %d", &c, &id, &len) == 3) {
		ck_assert(c >= 1 && c <= convs);
		ck_assert_msg(id == c * 1000 + next[c], "conversation %ld: "
		    "message %ld, expected %ld", c, id, c * 1000 + next[c]);
		next[c]++;
		n++;
	}
	fclose(f);
	ck_assert_int_eq(n, (long)convs * per_conv);
	for (i = 1; i <= convs; i++)
		ck_assert_int_eq(next[i], per_conv);
	free(next);
}

/* One run: the daemon with the handler in mode, the events posted. */
static long long
run(const char *mode, const char *args, int convs, int per_conv,
    double *restarts)
{
	struct tu_daemon d;
	char cwd[512], *conf, *out, url[256];
	struct tu_response r;
	const char *m;
	long long ms;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	out = xasprintf("%s/handled.%s.%d", "/tmp", mode, (int)getpid());
	unlink(out);
	/* Room for every event at once: this is about the handler, not
	 * the queue's bound (a slow restart must not turn into 503s). */
	conf = xasprintf("[server]\nqueue_size = 4096\n"
	    "[sink bot]\ntype = exec\nmode = %s\n"
	    "command = %s/tests/scripts/persist_handler.py %s %s %s\n"
	    "concurrency = 4\nretries = 5\nretry_base = 10ms\n"
	    "retry_cap = 50ms\n", strcmp(mode, "spawn") == 0 ? "spawn" :
	    "persistent", cwd, strcmp(mode, "spawn") == 0 ? "spawn" :
	    "persistent", out, args);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	ms = post_all(url, out, convs, per_conv);
	assert_in_order(out, convs, per_conv);
	snprintf(url, sizeof url, "%s/metrics", d.url);
	tu_http(&r, "GET", url, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 200);
	m = strstr(r.body, "livedesk_sink_restarts_total{sink=\"bot\","
	    "type=\"exec\"} ");
	ck_assert_ptr_nonnull(m);
	*restarts = strtod(strchr(m, '}') + 2, NULL);
	tu_response_free(&r);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	tu_daemon_free(&d);
	unlink(out);
	free(out);
	free(conf);
	return ms;
}

START_TEST(spawn_then_persistent)
{
	double restarts, spawn_ms, persist_ms;
	long long ms;
	int n_spawn = SPAWN_CONVS * PER_CONV, n = CONVS * PER_CONV;

	ms = run("spawn", "", SPAWN_CONVS, PER_CONV, &restarts);
	spawn_ms = (double)ms / n_spawn;
	ms = run("persistent", "0", CONVS, PER_CONV, &restarts);
	persist_ms = (double)ms / n;
	ck_assert_int_eq((int)restarts, 0);
	printf("persist_e2e: spawn %d events %.2f ms/event; persistent %d "
	    "events %.2f ms/event; persistent %.1fx sooner per event\n",
	    n_spawn, spawn_ms, n, persist_ms, spawn_ms / persist_ms);
	fflush(stdout);
	/* Loose: timings are make bench's to judge. */
	ck_assert(persist_ms < spawn_ms);
}
END_TEST

/* A handler that exits without answering every 300 events: nothing lost,
 * nothing out of order, and the restarts counted. */
START_TEST(persistent_handler_exits)
{
	double restarts;
	int n = CONVS * PER_CONV;

	run("persistent", "300", CONVS, PER_CONV, &restarts);
	/* Four processes, each gone at its 300th event. */
	ck_assert_msg(restarts >= (double)n / 4 / 300, "%g restarts",
	    restarts);
	printf("persist_e2e: exits every 300 events: %g restarts\n",
	    restarts);
}
END_TEST

/* How many running processes have all of words in their command line. */
static int
handlers_with(const char *a, const char *b)
{
	char path[300], buf[4096];
	struct dirent *de;
	DIR *dir = opendir("/proc");
	int n = 0;
	size_t got, i;
	FILE *f;

	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		got = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		for (i = 0; i < got; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[got] = '\0';
		n += strstr(buf, a) != NULL && strstr(buf, b) != NULL;
	}
	closedir(dir);
	return n;
}

/* SIGHUP with handlers running and events in flight: each old process
 * finishes its event and goes (its stdin closed), the new generation's
 * processes take the rest; every event once, in order per conversation,
 * and no old process left behind. */
START_TEST(reload_with_handlers_running)
{
	enum { C = 20, K = 10 };
	struct tu_daemon d;
	char cwd[512], *conf[2], *out, url[256];
	const char *every[2] = { "0", "100000" };
	int i;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	out = xasprintf("/tmp/handled.reload.%d", (int)getpid());
	unlink(out);
	/* The generations differ only in the handler's last argument,
	 * which tells their processes apart. */
	for (i = 0; i < 2; i++)
		conf[i] = xasprintf("[server]\nqueue_size = 4096\n"
		    "[sink bot]\ntype = exec\nmode = persistent\n"
		    "command = %s/tests/scripts/persist_handler.py persistent "
		    "%s %s\nconcurrency = 2\n", cwd, out, every[i]);
	ck_assert(tu_daemon_start(&d, conf[0], NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	post_range(url, C, 0, K / 2);
	ck_assert_int_gt(handlers_with(out, " 0"), 0);
	tu_write_file(d.conf, conf[1], strlen(conf[1]));
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	post_range(url, C, K / 2, K);
	ck_assert(tu_wait_log(&d, "configuration reloaded", 10000));
	ck_assert_msg(tu_wait_file_lines(out, C * K, 50000),
	    "%d of %d handled", tu_count_lines(out), C * K);
	assert_in_order(out, C, K);
	ck_assert(tu_wait_idle(&d, 10000));
	/* The old generation's processes: gone once it is reaped. */
	{
		long long end = tu_now_ms() + 10000;

		while (handlers_with(out, " 0") > 0 && tu_now_ms() < end)
			usleep(50000);
	}
	ck_assert_int_eq(handlers_with(out, " 0"), 0);
	ck_assert_int_gt(handlers_with(out, " 100000"), 0);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	ck_assert_int_eq(handlers_with(out, " 100000"), 0);
	tu_daemon_free(&d);
	unlink(out);
	free(out);
	free(conf[0]);
	free(conf[1]);
}
END_TEST

static Suite *
persist_e2e_suite(void)
{
	Suite *s = suite_create("persist_e2e");
	TCase *tc = tcase_create("e2e");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, spawn_then_persistent);
	tcase_add_test(tc, persistent_handler_exits);
	tcase_add_test(tc, reload_with_handlers_running);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(persist_e2e_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
