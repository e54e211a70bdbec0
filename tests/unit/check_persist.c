/* Tests for the exec sink's persistent mode (exec_persist.c), through the
 * sink's ops: the line a handler gets and its answers, protocol errors,
 * timeouts, a handler that never reads, one that floods stderr, one that
 * exits, and stop with handlers running; reload through the daemon. */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec_persist.h"
#include "livedesk/event.h"
#include "livedesk/sink.h"
#include "testutil.h"
#include "util.h"

extern const struct sink_ops sink_exec_ops;

static const struct sink_ops *ops = &sink_exec_ops;
static char *dir;
static atomic_bool cancel_flag;
static int saved_stderr = -1;

static void
setup(void)
{
	dir = tu_tmpdir();
	atomic_store(&cancel_flag, false);
}

static void
teardown(void)
{
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static const char *
at(const char *name)
{
	static char path[2][PATH_MAX];
	static int which;

	which ^= 1;
	snprintf(path[which], sizeof path[which], "%s/%s", dir, name);
	return path[which];
}

/* An executable DIR/name: interp's script body. */
static char *
script(const char *name, const char *interp, const char *body)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *text = xasprintf("#!%s\n%s\n", interp, body);

	tu_write_file(path, text, strlen(text));
	ck_assert_int_eq(chmod(path, 0755), 0);
	free(text);
	return path;
}

/* A Python handler: setup runs once (pid written to DIR/pids), then body
 * runs per event with ev (the line, parsed), n (its count) and answer(). */
static char *
python(const char *name, const char *body)
{
	char *text = xasprintf(
	    "import json, os, sys, time\n"
	    "D = %s\n"
	    "with open(D + '/pids', 'a') as f: f.write('%%d\\n' %% os.getpid())\n"
	    "P = len(open(D + '/pids').read().split())\n"
	    "def answer(o):\n"
	    "    sys.stdout.write(o if isinstance(o, str) else json.dumps(o))\n"
	    "    sys.stdout.write('\\n'); sys.stdout.flush()\n"
	    "n = 0\n"
	    "for line in sys.stdin:\n"
	    "    ev = json.loads(line); n += 1\n"
	    "    with open(D + '/lines', 'a') as f: f.write(line)\n"
	    "%s\n", "sys.argv[1]", body);
	char *path = script(name, "/usr/bin/env python3", text);

	free(text);
	return path;
}

static void *
conf_of(const char *const *kv)
{
	void *conf = NULL;
	char *err = NULL;
	size_t i;

	for (i = 0; kv[i] != NULL; i += 2)
		ck_assert_msg(ops->conf_set(&conf, kv[i], kv[i + 1], &err) ==
		    0, "%s: %s", kv[i], err ? err : "");
	ck_assert_int_eq(ops->conf_check(&conf, &err), 0);
	return conf;
}

/* The command line for a handler in DIR, with DIR as its argument. */
static char *
cmd(const char *prog)
{
	return xasprintf("%s %s", prog, dir);
}

static void *
start(const void *conf, long long concurrency)
{
	struct sink_ctx ctx = { "bot", &cancel_flag, concurrency, 300 };
	void *state = NULL;
	char *err = NULL;

	ck_assert_int_eq(ops->start(&state, conf, &ctx, &err), 0);
	return state;
}

static struct ld_event *
event_fixture(const char *name)
{
	struct ld_event_error e;
	struct ld_event *ev;
	size_t len;
	char *body = tu_fixture(name, &len);

	ev = ld_event_parse(body, len, 0, &e);
	ck_assert_msg(ev != NULL, "parse: %s", e.text);
	util_delivery_id(ev->delivery_id);
	free(body);
	return ev;
}

static void
deliver(void *state, struct ld_event *ev, struct sink_result *r)
{
	memset(r, 0, sizeof *r);
	ops->deliver(state, ev, r);
}

/* Sends the log (our stderr) to DIR/log until capture_end. */
static void
capture_begin(void)
{
	int fd = open(at("log"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);

	ck_assert_int_ge(fd, 0);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

static char *
capture_end(void)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	return tu_read_file(at("log"), NULL);
}

/* Every pid in DIR/pids, up to max. */
static size_t
pids(pid_t *v, size_t max)
{
	FILE *f = fopen(at("pids"), "r");
	size_t n = 0;
	long p;

	if (f == NULL)
		return 0;
	while (n < max && fscanf(f, "%ld", &p) == 1)
		v[n++] = (pid_t)p;
	fclose(f);
	return n;
}

/* The line a handler gets: the event's, with the variables spawn mode
 * sets; its answers, ok and not; one process for both events, with none
 * of the per-event variables in its environment. */
START_TEST(line_and_answers)
{
	char *h = python("h.py",
	    "    with open(D + '/environ', 'w') as f:\n"
	    "        f.write(' '.join(k for k in os.environ if k.startswith('LIVEDESK')))\n"
	    "    answer({'ok': True, 'delivery_id': ev['delivery_id']} if n == 1 else\n"
	    "        {'ok': False, 'error': 'API said 503\\x1b'})");
	char *c = cmd(h);
	const char *kv[] = { "command", c, "mode", "persistent",
	    "env", "LIVEDESK_API_URL=http://x", NULL };
	void *conf = conf_of(kv), *st = start(conf, 1);
	struct ld_event *ev = event_fixture("message_created_incoming.json");
	struct ld_event *back;
	struct sink_result r;
	json_t *env = NULL;
	char *lines, *err = NULL, *environ_keys, *nl;
	pid_t p[4];

	deliver(st, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	ck_assert_uint_eq(r.restarts, 0);
	deliver(st, ev, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.detail, "handler answered not ok: API said 503\\x1b");
	ops->stop(st);
	ck_assert_uint_eq(pids(p, 4), 1);
	lines = tu_read_file(at("lines"), NULL);
	nl = strchr(lines, '\n');
	ck_assert_ptr_nonnull(nl);
	back = codec_persist_decode(lines, (size_t)(nl - lines + 1), 0, &env,
	    &err);
	ck_assert_msg(back != NULL, "%s", err);
	ck_assert_str_eq(back->delivery_id, ev->delivery_id);
	ck_assert_str_eq(json_string_value(json_object_get(env,
	    "LIVEDESK_CONVERSATION_ID")), "89");
	ck_assert_str_eq(json_string_value(json_object_get(env,
	    "LIVEDESK_MESSAGE_TYPE")), "incoming");
	ck_assert_str_eq(json_string_value(json_object_get(env,
	    "LIVEDESK_SINK")), "bot");
	ck_assert_ptr_null(json_object_get(env, "LIVEDESK_API_URL"));
	/* The process's own: the env line only. */
	environ_keys = tu_read_file(at("environ"), NULL);
	ck_assert_str_eq(environ_keys, "LIVEDESK_API_URL");
	free(environ_keys);
	json_decref(env);
	ld_event_unref(back);
	free(lines);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(c);
	free(h);
}
END_TEST

/* What is not an answer: a failed attempt, the line quoted escaped in the
 * log, the process restarted; the next event goes to the new one. */
START_TEST(protocol_errors)
{
	char *h = python("h.py",
	    "    if P == 1: answer('garbage \\x1b[31m red')\n"
	    "    else: answer({'ok': True, 'delivery_id': 'another'})");
	char *c = cmd(h);
	const char *kv[] = { "command", c, "mode", "persistent", NULL };
	void *conf = conf_of(kv), *st = start(conf, 1);
	struct ld_event *ev = event_fixture("message_created_incoming.json");
	struct sink_result r;
	char *log;
	pid_t p[8];

	capture_begin();
	deliver(st, ev, &r);
	ck_assert(!r.ok);
	ck_assert_uint_eq(r.restarts, 1);
	ck_assert_msg(strncmp(r.detail, "protocol error: not JSON", 24) == 0,
	    "%s", r.detail);
	/* A new process: its first answer, the wrong delivery id. */
	deliver(st, ev, &r);
	ck_assert(!r.ok);
	ck_assert_uint_eq(r.restarts, 1);
	ck_assert_str_eq(r.detail, "protocol error: its \"delivery_id\" is "
	    "not the event's");
	ops->stop(st);
	log = capture_end();
	ck_assert_msg(strstr(log, "answered \"garbage \\x1b[31m red\"") !=
	    NULL, "%s", log);
	ck_assert_ptr_null(strchr(log, '\x1b'));
	/* Restarted at the next event, not before. */
	ck_assert_uint_eq(pids(p, 8), 2);
	free(log);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(c);
	free(h);
}
END_TEST

/* Past its timeout: SIGTERM, then SIGKILL (it ignores SIGTERM), a failed
 * attempt, a restart; the next process answers. */
START_TEST(timeout)
{
	char *h = python("h.py",
	    "    if not os.path.exists(D + '/slow'):\n"
	    "        open(D + '/slow', 'w').close()\n"
	    "        import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
	    "        time.sleep(30)\n"
	    "    answer({'ok': True})");
	char *c = cmd(h);
	/* The next process's start counts against its event's timeout:
	 * 5 s leaves Python room to start on a loaded machine. */
	const char *kv[] = { "command", c, "mode", "persistent",
	    "timeout", "5s", "kill_after", "200ms", NULL };
	void *conf = conf_of(kv), *st = start(conf, 1);
	struct ld_event *ev = event_fixture("message_created_incoming.json");
	struct sink_result r;

	deliver(st, ev, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.detail, "timed out after 5s");
	ck_assert_uint_eq(r.restarts, 1);
	deliver(st, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	ops->stop(st);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(c);
	free(h);
}
END_TEST

/* A process that never reads its stdin, given a line larger than a pipe
 * holds: the writer never blocks; the timeout ends it. */
START_TEST(never_reads_stdin)
{
	char *h = script("h.sh", "/bin/sh", "echo $$ >> \"$1/pids\"; exec sleep 30");
	char *c = cmd(h), *body;
	const char *kv[] = { "command", c, "mode", "persistent",
	    "timeout", "300ms", "kill_after", "100ms", NULL };
	void *conf = conf_of(kv), *st = start(conf, 1);
	struct ld_event_error e;
	struct ld_event *ev;
	struct sink_result r;
	size_t n = 300000, head;

	body = xmalloc(n + 200);
	snprintf(body, 200, "{\"event\":\"message_created\",\"message_type\":"
	    "\"incoming\",\"conversation\":{\"id\":1},\"content\":\"");
	head = strlen(body);
	memset(body + head, 'x', n);
	memcpy(body + head + n, "\"}", 3);
	ev = ld_event_parse(body, strlen(body), 0, &e);
	ck_assert_msg(ev != NULL, "%s", e.text);
	deliver(st, ev, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.detail, "timed out after 300ms");
	ck_assert_uint_eq(r.restarts, 1);
	ops->stop(st);
	ld_event_unref(ev);
	free(body);
	ops->conf_free(conf);
	free(c);
	free(h);
}
END_TEST

/* 50 MB on stderr during one event: read as it comes (the process never
 * blocks on it), logged within max_output, the rest counted. */
START_TEST(stderr_50mb)
{
	char *h = python("h.py",
	    "    chunk = ('x' * 999 + '\\n') * 1000\n"
	    "    for i in range(50): sys.stderr.write(chunk)\n"
	    "    sys.stderr.flush()\n"
	    "    answer({'ok': True})");
	char *c = cmd(h), *log;
	const char *kv[] = { "command", c, "mode", "persistent",
	    "timeout", "60s", "max_output", "4k", NULL };
	void *conf = conf_of(kv), *st = start(conf, 1);
	struct ld_event *ev = event_fixture("message_created_incoming.json");
	struct sink_result r;

	capture_begin();
	deliver(st, ev, &r);
	ops->stop(st);
	log = capture_end();
	ck_assert_msg(r.ok, "%s", r.detail);
	/* 50,000,000 bytes, 4096 of them logged. */
	ck_assert(strstr(log, "49995904 bytes of stderr dropped "
	    "(max_output 4096)") != NULL);
	free(log);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(c);
	free(h);
}
END_TEST

/* A process that exits without answering: a failed attempt with its exit
 * status and stderr; a new one after the backoff takes the next event. */
START_TEST(exits_without_answer)
{
	char *h = python("h.py",
	    "    if n == 1 and not os.path.exists(D + '/once'):\n"
	    "        open(D + '/once', 'w').close()\n"
	    "        print('bye', file=sys.stderr); sys.exit(3)\n"
	    "    answer({'ok': True})");
	char *c = cmd(h);
	const char *kv[] = { "command", c, "mode", "persistent", NULL };
	void *conf = conf_of(kv), *st = start(conf, 1);
	struct ld_event *ev = event_fixture("message_created_incoming.json");
	struct sink_result r;

	deliver(st, ev, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.detail, "handler exited with status 3 without "
	    "answering; stderr: bye");
	ck_assert_uint_eq(r.restarts, 1);
	deliver(st, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	ck_assert_uint_eq(r.restarts, 0);
	ops->stop(st);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(c);
	free(h);
}
END_TEST

/* A process's state letter from /proc (R, S, Z, ...), or 0. */
static char
proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' ? p[2] : 0;
}

/* A handler that exits leaves nothing behind: what it forked and did not
 * wait for goes with it (its process group), before the next starts. */
START_TEST(exit_ends_its_group)
{
	char *h = python("h.py",
	    "    if n == 1 and not os.path.exists(D + '/once'):\n"
	    "        open(D + '/once', 'w').close()\n"
	    "        import subprocess\n"
	    "        c = subprocess.Popen(['sleep', '3600'])\n"
	    "        with open(D + '/child', 'w') as f: f.write(str(c.pid))\n"
	    "        sys.exit(3)\n"
	    "    answer({'ok': True})");
	char *c = cmd(h), *child_file, *text;
	const char *kv[] = { "command", c, "mode", "persistent",
	    "kill_after", "500ms", NULL };
	void *conf = conf_of(kv), *st = start(conf, 1);
	struct ld_event *ev = event_fixture("message_created_incoming.json");
	struct sink_result r;
	pid_t child;

	deliver(st, ev, &r);
	ck_assert(!r.ok);
	child_file = xasprintf("%s/child", dir);
	text = tu_read_file(child_file, NULL);
	child = (pid_t)atol(text);
	ck_assert_int_gt(child, 0);
	deliver(st, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	/* Gone (or a zombie whose parent, init, reaps it). */
	ck_assert_msg(kill(child, 0) == -1 || proc_state(child) == 'Z',
	    "the handler's child %ld outlived it", (long)child);
	ops->stop(st);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(text);
	free(child_file);
	free(c);
	free(h);
}
END_TEST

/* Stop with processes running: those that exit at the end of their stdin
 * go at once; those that do not, and what they started, are killed after
 * the grace. None is left. */
START_TEST(stop_with_processes_running)
{
	char *good = python("good.py", "    answer({'ok': True})");
	char *bad = script("bad.sh", "/bin/sh",
	    "trap '' TERM; sleep 30 & echo $! >> \"$1/pids\"\n"
	    "echo $$ >> \"$1/pids\"; while :; do sleep 1; done");
	char *cg = cmd(good), *cb = cmd(bad), *log;
	const char *kvg[] = { "command", cg, "mode", "persistent", NULL };
	const char *kvb[] = { "command", cb, "mode", "persistent",
	    "kill_after", "200ms", NULL };
	void *conf = conf_of(kvg), *st;
	pid_t p[16];
	size_t n, i;
	long long t0;

	st = start(conf, 3);
	ck_assert(tu_wait_file_lines(at("pids"), 3, 10000));
	capture_begin();
	ops->stop(st);
	log = capture_end();
	ck_assert_ptr_null(strstr(log, "still running"));
	free(log);
	n = pids(p, 16);
	for (i = 0; i < n; i++)
		ck_assert_msg(kill(p[i], 0) == -1 && errno == ESRCH,
		    "pid %ld left", (long)p[i]);
	ops->conf_free(conf);

	unlink(at("pids"));
	conf = conf_of(kvb);
	st = start(conf, 2);
	ck_assert(tu_wait_file_lines(at("pids"), 4, 10000));
	capture_begin();
	t0 = tu_now_ms();
	ops->stop(st);
	t0 = tu_now_ms() - t0;
	log = capture_end();
	ck_assert_msg(strstr(log, "still running after its stdin closed") !=
	    NULL, "%s", log);
	/* The grace (300ms here) was waited for. */
	ck_assert_int_ge(t0, 300);
	free(log);
	n = pids(p, 16);
	ck_assert_uint_eq(n, 4);
	for (i = 0; i < n; i++) {
		long long end = tu_now_ms() + 5000;

		/* The background sleeps are not ours to reap: gone or a
		 * zombie of init's soon. */
		while (kill(p[i], 0) == 0 && tu_now_ms() < end) {
			char path[64], *stat;

			snprintf(path, sizeof path, "/proc/%ld/stat",
			    (long)p[i]);
			stat = tu_read_file(path, NULL);
			if (strstr(strrchr(stat, ')'), ") Z") != NULL) {
				free(stat);
				break;
			}
			free(stat);
			usleep(10000);
		}
	}
	ops->conf_free(conf);
	free(cg);
	free(cb);
	free(good);
	free(bad);
}
END_TEST

static Suite *
persist_suite(void)
{
	Suite *s = suite_create("persist");
	TCase *tc = tcase_create("handler");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, line_and_answers);
	tcase_add_test(tc, protocol_errors);
	tcase_add_test(tc, timeout);
	tcase_add_test(tc, never_reads_stdin);
	tcase_add_test(tc, stderr_50mb);
	tcase_add_test(tc, exits_without_answer);
	tcase_add_test(tc, exit_ends_its_group);
	tcase_add_test(tc, stop_with_processes_running);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(persist_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
