/*
 * The operator's page in a real headless browser: starts the real daemon
 * (webhooks on one port, the page on another with a token, a spool, an
 * exec sink that fails until a flag file exists, and a log sink) and runs
 * tests/browser/admin_page.py (selenium driving Debian's chromium), which
 * checks the page shows a posted event within 2 s, shows markup as text
 * and runs none of it, the dead letter with its reason and its Replay,
 * the headers, the 401 and the CSRF refusal; it takes the README's
 * screenshot into $LD_BUILD/tests/operator-page.png. Debian's python3,
 * whose python3-selenium make deps-check installs, not another one on
 * PATH.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util.h"

START_TEST(page_in_chromium)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *script = xasprintf("%s/sink.sh", dir);
	char *flag = xasprintf("%s/fixed", dir), *text, *conf, *cmd, *out;
	char *shot = xasprintf("%s/tests/operator-page.png", tu_build_dir());
	int port = tu_free_port(), st;

	text = xasprintf("#!/bin/sh\nif [ -e %s ]; then cat >/dev/null; "
	    "exit 0; fi\necho 'not fixed yet: cannot reach the CRM' >&2\n"
	    "exit 3\n", flag);
	tu_write_file(script, text, strlen(text));
	ck_assert_int_eq(chmod(script, 0755), 0);
	free(text);
	conf = xasprintf("[server]\nadmin_listen = 127.0.0.1:%d\n"
	    "admin_token = br0wser-t0ken\nspool_dir = %s/spool\n"
	    "[sink crm]\ntype = exec\ncommand = %s\nretries = 0\n"
	    "[sink journal]\ntype = log\n", port, dir, script);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	out = xasprintf("%s/browser.out", dir);
	/* Under valgrind (make check-valgrind) the daemon is many times
	 * slower: every wait scaled, and the browser test says so. */
	cmd = xasprintf("/usr/bin/python3 tests/browser/admin_page.py --admin "
	    "http://127.0.0.1:%d --webhook %s --token br0wser-t0ken "
	    "--flag %s --screenshot %s --scale %d > %s 2>&1", port, d.url,
	    flag, shot, getenv("LD_VALGRIND_DAEMON") != NULL ? 20 : 1, out);
	st = system(cmd);
	text = tu_read_file(out, NULL);
	/* Its lines in this suite's log, whatever the outcome. */
	fputs(text, stdout);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "the browser test failed:\n%s", text);
	ck_assert_msg(strstr(text, "6 passed, 0 failed") != NULL,
	    "not every browser check ran:\n%s", text);
	free(text);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);
	free(cmd);
	free(out);
	free(conf);
	free(shot);
	free(flag);
	free(script);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *
browser_suite(void)
{
	Suite *s = suite_create("admin_browser");
	TCase *tc = tcase_create("chromium");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, page_in_chromium);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(browser_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
