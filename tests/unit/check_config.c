/* The configuration file: defaults, every error message (file, line, key),
 * and --check-config (the binary, run once; it serves nothing). Reload on
 * the running daemon: e2e/check_reload.c. */
#include <sys/stat.h>

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"
#include "util.h"

/* Loads text as a file; returns the config or NULL with *err. */
static struct config *
load(const char *text, char **err, char **path)
{
	char *dir = tu_tmpdir();
	struct config *cfg;

	ck_assert_int_ge(asprintf(path, "%s/t.conf", dir), 0);
	tu_write_file(*path, text, strlen(text));
	*err = NULL;
	cfg = config_load(*path, err);
	unlink(*path);
	rmdir(dir);
	free(dir);
	return cfg;
}

/* The load fails and the error has want (after "FILE:"). */
static void
load_fails(const char *text, const char *want)
{
	char *err, *path, *full;
	struct config *cfg = load(text, &err, &path);

	ck_assert_msg(cfg == NULL, "loaded, expected error %s", want);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_ge(asprintf(&full, "%s:%s", path, want), 0);
	ck_assert_msg(strstr(err, full) != NULL, "error '%s' lacks '%s'", err,
	    full);
	free(full);
	free(err);
	free(path);
}

START_TEST(defaults)
{
	struct config *cfg = config_default();

	ck_assert_str_eq(cfg->listen, "127.0.0.1:8080");
	ck_assert_str_eq(cfg->path, "/webhook");
	ck_assert_uint_eq(cfg->max_body, 1024 * 1024);
	ck_assert_uint_eq(cfg->n_sinks, 1);
	ck_assert_str_eq(cfg->sinks[0].ops->type, "log");
	ck_assert_int_eq(cfg->shutdown_grace_ms, 10000);
	config_free(cfg);
	config_free(NULL);
}
END_TEST

START_TEST(full_file)
{
	const char *text =
	    "; comment\n# comment\n[server]\nlisten = [::1]:9000\n"
	    "path = /hooks\nmax_body = 64k\nworkers = 3\nqueue_size = 10\n"
	    "[sink archive]\ntype = file\npath = /tmp/x.jsonl\nfsync = yes\n"
	    "events = message_created, conversation_created\n"
	    "inbox = 523 524\nretries = 2\nretry_base = 500ms\n"
	    "retry_cap = 5m\n"
	    "[sink log]\ntype = log\nformat = json\nmax_content = 20\n";
	char *err, *path;
	struct config *cfg = load(text, &err, &path);

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->listen, "[::1]:9000");
	ck_assert_str_eq(cfg->path, "/hooks");
	ck_assert_uint_eq(cfg->max_body, 65536);
	ck_assert_int_eq(cfg->workers, 3);
	ck_assert_int_eq(cfg->queue_size, 10);
	ck_assert_uint_eq(cfg->n_sinks, 2);
	ck_assert_str_eq(cfg->sinks[0].name, "archive");
	ck_assert_int_eq(cfg->sinks[0].retries, 2);
	ck_assert_int_eq(cfg->sinks[0].retry_base_ms, 500);
	ck_assert_int_eq(cfg->sinks[0].retry_cap_ms, 300000);
	ck_assert_uint_eq(cfg->sinks[0].filter.n_events, 2);
	ck_assert_uint_eq(cfg->sinks[0].filter.n_inboxes, 2);
	ck_assert_int_eq(cfg->sinks[0].filter.inboxes[1], 524);
	ck_assert_str_eq(cfg->sinks[1].ops->type, "log");
	config_free(cfg);
	free(path);
}
END_TEST

START_TEST(errors_name_file_line_key)
{
	load_fails("[server]\nlisten = x:1\nbogus = 1\n",
	    "3: [server] unknown key 'bogus'");
	load_fails("[srv]\nlisten = 1\n", "1: unknown section [srv]");
	load_fails("[server]\nmax_body = lots\n", "2: [server] max_body: "
	    "'lots' is not a whole number");
	load_fails("[server]\nworkers = -1\n", "2: [server] workers:");
	load_fails("[server]\npath = a\npath = b\n", "3: [server] path: "
	    "given twice");
	load_fails("[sink a]\ntype = nope\n", "2: [sink a] type: unknown "
	    "sink type 'nope'");
	load_fails("\n\n[sink a]\npath = /x\ntype = file\n", "4: [sink a] "
	    "path: 'type' must come first");
	load_fails("[sink a]\n", "1: [sink a]: missing required key 'type'");
	load_fails("[sink a]\ntype = file\n", "1: [sink a] missing required "
	    "key 'path'");
	load_fails("[sink a]\ntype = log\nformat = xml\n", "3: [sink a] "
	    "format: 'xml' is not text or json");
	load_fails("[sink a]\ntype = log\ncolour = red\n", "3: [sink a] "
	    "unknown key 'colour' for type log");
	load_fails("[sink a]\ntype = log\nmessage_type = sideways\n",
	    "3: [sink a] message_type: 'sideways'");
	load_fails("[sink a]\ntype = log\nprivate = maybe\n", "3: [sink a] "
	    "private: 'maybe' is not yes, no or any");
	load_fails("[sink a]\ntype = log\nmatch = (unclosed\n", "3: [sink a] "
	    "match: bad regular expression");
	load_fails("[sink a]\ntype = log\ninbox = abc\n", "3: [sink a] inbox:"
	    " 'abc' is not an inbox id");
	load_fails("[sink a]\ntype = log\nretry_base = 5 parsecs\n",
	    "3: [sink a] retry_base: '5 parsecs' is not a duration");
	load_fails("[sink a]\ntype = log\n[sink a]\ntype = log\n",
	    "3: [sink a]: a sink of that name is already defined at line 1");
	load_fails("[server]\nlisten = x\n", " no [sink NAME] section");
	load_fails("[sink a]\ntype = log\nconcurrency = 0\n", "3: [sink a] "
	    "concurrency:");
	load_fails("[server]\ntoken_file = /nonexistent/x\n[sink a]\n"
	    "type = log\n", "2: [server] token_file: open /nonexistent/x");
	load_fails("[server]\nthis is not ini\n", "2: syntax error");
	load_fails("[sink *]\ntype = log\n", "1: [sink *]: a sink name is 1 "
	    "to 64 letters");
	load_fails("[sink a b]\ntype = log\n", "1: [sink a b]: a sink name");
	load_fails("[sink a]\ntype = log\nretry_cap = 100000000d\n",
	    "3: [sink a] retry_cap: '100000000d' is not a duration between");
	load_fails("[server]\ntoken_file = /dev/zero\n[sink a]\ntype = log\n",
	    "2: [server] token_file: /dev/zero is not a regular file");
}
END_TEST

START_TEST(every_error_at_once)
{
	char *err, *path;
	struct config *cfg = load("[server]\nbogus = 1\n[x]\n[sink a]\n"
	    "type = log\nformat = xml\n", &err, &path);

	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(err, ":2: "));
	ck_assert_ptr_nonnull(strstr(err, ":3: "));
	ck_assert_ptr_nonnull(strstr(err, ":6: "));
	free(err);
	free(path);
}
END_TEST

START_TEST(missing_file)
{
	char *err = NULL;

	ck_assert_ptr_null(config_load("/nonexistent/livedesk.conf", &err));
	ck_assert_str_eq(err, "/nonexistent/livedesk.conf: No such file or "
	    "directory");
	free(err);
}
END_TEST

START_TEST(secret_from_file_never_printed)
{
	char *dir = tu_tmpdir(), *secret, *conf, *cmd, *out;
	int rc;

	ck_assert_int_ge(asprintf(&secret, "%s/token", dir), 0);
	ck_assert_int_ge(asprintf(&conf, "%s/t.conf", dir), 0);
	tu_write_file(secret, "s3cr3t-token\n", 13);
	ck_assert_int_ge(asprintf(&cmd, "[server]\ntoken_file = %s\n"
	    "[sink l]\ntype = log\n", secret), 0);
	tu_write_file(conf, cmd, strlen(cmd));
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s "
	    "--check-config > %s/out 2>&1", tu_build_dir(), conf, dir), 0);
	rc = system(cmd);
	ck_assert_int_eq(WEXITSTATUS(rc), 0);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "%s/out", dir), 0);
	out = tu_read_file(cmd, NULL);
	ck_assert_ptr_null(strstr(out, "s3cr3t"));
	ck_assert_ptr_nonnull(strstr(out, "token = (set, not shown)"));
	free(out);
	free(cmd);
	free(secret);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* --check-config prints the effective configuration and exits 0 or 1. */
START_TEST(check_config_option)
{
	char *dir = tu_tmpdir(), *conf, *cmd, *outp, *out;
	const char *good = "[server]\nlisten = 127.0.0.1:9999\n"
	    "[sink f]\ntype = file\npath = /tmp/ld-check.jsonl\n";

	ck_assert_int_ge(asprintf(&conf, "%s/t.conf", dir), 0);
	ck_assert_int_ge(asprintf(&outp, "%s/out", dir), 0);
	tu_write_file(conf, good, strlen(good));
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s -p /cli "
	    "--check-config > %s 2>&1", tu_build_dir(), conf, outp), 0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 0);
	free(cmd);
	out = tu_read_file(outp, NULL);
	ck_assert_ptr_nonnull(strstr(out, "listen = 127.0.0.1:9999\n"));
	ck_assert_ptr_nonnull(strstr(out, "path = /cli\n"));	/* CLI wins */
	ck_assert_ptr_nonnull(strstr(out, "[sink f]\ntype = file\n"));
	ck_assert_ptr_nonnull(strstr(out, "message_type = any\n"));
	free(out);

	tu_write_file(conf, "[sink f]\ntype = nope\n", 21);
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s "
	    "--check-config > %s 2>&1", tu_build_dir(), conf, outp), 0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
	free(cmd);
	out = tu_read_file(outp, NULL);
	ck_assert_ptr_nonnull(strstr(out, "t.conf:2: [sink f] type: unknown"));
	free(out);

	/* The daemon itself refuses to start on a bad file. */
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s -l "
	    "127.0.0.1:1 > %s 2>&1", tu_build_dir(), conf, outp), 0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
	free(cmd);
	free(conf);
	free(outp);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, full_file);
	tcase_add_test(tc, errors_name_file_line_key);
	tcase_add_test(tc, every_error_at_once);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, secret_from_file_never_printed);
	tcase_add_test(tc, check_config_option);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
