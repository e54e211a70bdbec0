/*
 * The monitoring kit of conf/: the alert rules' promtool unit tests, and
 * every metric the rules and the Grafana dashboard name checked against a
 * scrape of the real daemon's /metrics, every query against promtool's
 * parser (tests/scripts/check_monitoring.py). A renamed metric or a broken
 * query would otherwise show only as an empty panel or a silent alert.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

#define RULES		"conf/prometheus/alerts.yml"
#define RULE_TESTS	"conf/prometheus/alerts.test.yml"
#define DASHBOARD	"conf/grafana/livedesk-webhookd.json"
#define CHECKER		"tests/scripts/check_monitoring.py"

/* Runs argv with stdout and stderr to out; returns the wait status. */
static int
run(const char *const *argv, const char *out)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int fd, st, rc;

	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "open %s: %s", out, strerror(errno));
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, fd, 1), 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, fd, 2), 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv,
	    environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	ck_assert_msg(rc == 0, "spawn %s: %s", argv[0], strerror(rc));
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return st;
}

/* A daemon with a spool and every kind of per-sink series (a file sink
 * that delivers), one event through it, and its /metrics in dir/scrape. */
static void
scrape_daemon(const char *dir, char *scrape, size_t len)
{
	struct tu_daemon d;
	struct tu_response r;
	char *conf, url[192], *body;
	size_t blen;
	static const char *const json_ct[] = {
		"Content-Type: application/json", NULL
	};

	ck_assert_int_ge(asprintf(&conf,
	    "[server]\nspool_dir = %s/spool\nshutdown_grace = 1s\n"
	    "[sink archive]\ntype = file\npath = %s/events.jsonl\n",
	    dir, dir), 0);
	ck_assert_msg(tu_daemon_start(&d, conf, NULL), "daemon did not start");
	free(conf);
	body = tu_fixture("message_created.json", &blen);
	snprintf(url, sizeof url, "%s/webhook", d.url);
	tu_http(&r, "POST", url, json_ct, body, blen);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	free(body);
	snprintf(url, sizeof url, "%s/metrics", d.url);
	tu_http(&r, "GET", url, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 200);
	snprintf(scrape, len, "%s/scrape", dir);
	tu_write_file(scrape, r.body, r.body_len);
	tu_response_free(&r);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	tu_daemon_free(&d);
}

START_TEST(alert_rule_unit_tests)
{
	char *dir = tu_tmpdir(), out[512], *text;
	const char *argv[] = { "promtool", "test", "rules", RULE_TESTS, NULL };
	int st;

	snprintf(out, sizeof out, "%s/out", dir);
	st = run(argv, out);
	text = tu_read_file(out, NULL);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "promtool test rules failed:\n%s", text);
	ck_assert_ptr_nonnull(strstr(text, "SUCCESS"));
	free(text);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(names_exist_and_queries_parse)
{
	char *dir = tu_tmpdir(), scrape[512], out[512], *text;
	const char *argv[] = { "python3", CHECKER, scrape, RULES, DASHBOARD,
	    NULL };
	int st;

	scrape_daemon(dir, scrape, sizeof scrape);
	snprintf(out, sizeof out, "%s/out", dir);
	st = run(argv, out);
	text = tu_read_file(out, NULL);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "check_monitoring.py:\n%s", text);
	ck_assert_ptr_nonnull(strstr(text, " 0 problem(s)"));
	free(text);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* The checker is the test: it must refuse a metric the daemon does not
 * export, one it dropped (the process_* families of a build without them),
 * and a query promtool cannot parse. */
START_TEST(checker_refuses_what_is_wrong)
{
	char *dir = tu_tmpdir(), scrape[512], out[512], bad[512], *text;
	const char *argv[] = { "python3", CHECKER, scrape, bad, NULL };
	static const char dash[] =
	    "{\"panels\":[{\"title\":\"t\",\"targets\":["
	    "{\"refId\":\"A\",\"expr\":\"rate(livedesk_no_such_total"
	    "{job=\\\"$job\\\"}[$__rate_interval])\"},"
	    "{\"refId\":\"B\",\"expr\":\"sum(rate(livedesk_events_total[5m])\"}"
	    "]}]}";
	static const char rules[] =
	    "groups:\n- name: g\n  rules:\n  - alert: A\n"
	    "    expr: process_open_fds > 0\n";
	static const char no_process[] =
	    "# TYPE livedesk_events_total counter\n"
	    "livedesk_events_total{event=\"x\"} 1\n";
	int st;

	snprintf(scrape, sizeof scrape, "%s/scrape", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	snprintf(bad, sizeof bad, "%s/bad.json", dir);
	tu_write_file(scrape, no_process, sizeof no_process - 1);
	tu_write_file(bad, dash, sizeof dash - 1);
	st = run(argv, out);
	text = tu_read_file(out, NULL);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s", text);
	ck_assert_msg(strstr(text, "livedesk_no_such_total is not in "
	    "/metrics") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "parse error") != NULL, "%s", text);
	free(text);

	snprintf(bad, sizeof bad, "%s/bad.yml", dir);
	tu_write_file(bad, rules, sizeof rules - 1);
	st = run(argv, out);
	text = tu_read_file(out, NULL);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s", text);
	ck_assert_msg(strstr(text, "process_open_fds is not in /metrics") !=
	    NULL, "%s", text);
	free(text);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *
monitoring_suite(void)
{
	Suite *s = suite_create("monitoring");
	TCase *tc = tcase_create("kit");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, alert_rule_unit_tests);
	tcase_add_test(tc, names_exist_and_queries_parse);
	tcase_add_test(tc, checker_refuses_what_is_wrong);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(monitoring_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
