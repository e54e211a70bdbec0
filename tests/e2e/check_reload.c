/* Reload on the running daemon: SIGHUP with a good file swaps it in, with
 * a bad one the running one stays and the log says why; a conversation
 * waiting for a retry keeps its order across a reload. */
#include <sys/stat.h>

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* SIGHUP with a good file swaps it in; with a bad one the running one
 * stays and the log says why. */
START_TEST(reload_good_and_bad)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *a, *b, *conf, *log, u[256];
	const char *body = "{\"event\":\"message_created\",\"id\":1}";
	struct tu_response r;

	ck_assert_int_ge(asprintf(&a, "%s/a.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&b, "%s/b.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&conf, "[sink f]\ntype = file\npath = %s\n",
	    a), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(u, sizeof u, "%s/webhook", d.url);
	tu_http(&r, "POST", u, NULL, body, strlen(body));
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	ck_assert(tu_wait_file_lines(a, 1, 5000));

	free(conf);
	ck_assert_int_ge(asprintf(&conf, "[sink f]\ntype = file\npath = %s\n",
	    b), 0);
	tu_write_file(d.conf, conf, strlen(conf));
	kill(d.pid, SIGHUP);
	ck_assert(tu_wait_log(&d, "configuration reloaded", 5000));
	tu_http(&r, "POST", u, NULL, body, strlen(body));
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	ck_assert(tu_wait_file_lines(b, 1, 5000));
	ck_assert_int_eq(tu_count_lines(a), 1);

	tu_write_file(d.conf, "[sink f]\ntype = bogus\n", 22);
	kill(d.pid, SIGHUP);
	ck_assert(tu_wait_log(&d, "reload failed", 5000));
	tu_http(&r, "POST", u, NULL, body, strlen(body));
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	ck_assert(tu_wait_file_lines(b, 2, 5000));
	log = tu_read_file(d.log, NULL);
	ck_assert_msg(strstr(log, "reload failed, keeping the running "
	    "configuration") != NULL, "%s", log);
	ck_assert_ptr_nonnull(strstr(log, "test.conf:2: [sink f] type: "
	    "unknown sink type 'bogus'"));
	free(log);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);
	free(a);
	free(b);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST


/* A conversation with an event waiting for its retry keeps its order
 * across a reload: the next event waits behind it. */
START_TEST(reload_keeps_conversation_order)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *script, *conf, *cmd, *runs, *text, u[256];
	const char *m1 = "{\"event\":\"message_created\",\"id\":1,"
	    "\"message_type\":\"incoming\",\"conversation\":{\"id\":7}}";
	const char *m2 = "{\"event\":\"message_created\",\"id\":2,"
	    "\"message_type\":\"incoming\",\"conversation\":{\"id\":7}}";
	struct tu_response r;

	ck_assert_int_ge(asprintf(&runs, "%s/runs", dir), 0);
	ck_assert_int_ge(asprintf(&script, "%s/s.sh", dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "#!/bin/sh\ncat >/dev/null\n"
	    "if [ \"$LIVEDESK_MESSAGE_ID\" = 1 ] && [ ! -e %s/once ]; then "
	    "touch %s/once; exit 1; fi\necho $LIVEDESK_MESSAGE_ID >> %s\n",
	    dir, dir, runs), 0);
	tu_write_file(script, cmd, strlen(cmd));
	ck_assert_int_eq(chmod(script, 0755), 0);
	free(cmd);
	/* The retry comes after 1 to 2 s: long after the reload and the
	 * second message, which take a few ms once waited for. */
	ck_assert_int_ge(asprintf(&conf, "[sink s]\ntype = exec\ncommand = %s"
	    "\nretries = 3\nretry_base = 2s\n", script), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(u, sizeof u, "%s/webhook", d.url);
	tu_http(&r, "POST", u, NULL, m1, strlen(m1));
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	/* Message 1 failed and waits for its retry. */
	ck_assert(tu_wait_log(&d, "attempt 1 of 4 failed", 5000));
	kill(d.pid, SIGHUP);
	ck_assert(tu_wait_log(&d, "configuration reloaded", 5000));
	tu_http(&r, "POST", u, NULL, m2, strlen(m2));
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	ck_assert(tu_wait_file_lines(runs, 2, 10000));
	text = tu_read_file(runs, NULL);
	ck_assert_str_eq(text, "1\n2\n");
	free(text);
	tu_daemon_free(&d);
	free(runs);
	free(script);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *
reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = tcase_create("reload");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, reload_good_and_bad);
	tcase_add_test(tc, reload_keeps_conversation_order);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reload_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
