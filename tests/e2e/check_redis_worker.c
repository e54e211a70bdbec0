/* Workers reading Redis Streams, against a real redis-server on a
 * loopback port: the same environment as a receiver's exec sink, two
 * workers sharing a group (each event once, in order per conversation), a
 * worker killed mid-script, a worker's own pending entries after a
 * restart, Redis away longer than claim_after, bad entries and failed
 * sinks dead-lettered, reload. Without redis-server it fails and says so
 * (make deps-check installs it). */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "redisutil.h"
#include "testutil.h"

/* A worker runs the exec sink as the receiver does: the same environment
 * and stdin, for the same event. */
START_TEST(worker_runs_like_receiver)
{
	struct rsrv r;
	struct tu_daemon d, w;
	char *dir = tu_tmpdir(), *script, *cmd, *conf, *wconf, *ids[4];
	char *a, *b, *pa, *pb;
	redisContext *c;
	const char *bodies[4] = {
		"{\"event\":\"message_created\",\"id\":11,\"message_type\":"
		    "\"incoming\",\"private\":false,\"content\":\"caf\\u00e9 "
		    "\\\"quoted\\\"\\nline two\",\"sender\":{\"id\":4,\"name\":"
		    "\"Ann\",\"email\":\"ann@example.com\",\"type\":\"contact\"},"
		    "\"inbox\":{\"id\":2,\"name\":\"Web\"},\"account\":{\"id\":1},"
		    "\"conversation\":{\"id\":40,\"status\":\"open\"}}",
		"{\"event\":\"conversation_status_changed\",\"id\":41,"
		    "\"status\":\"resolved\",\"inbox_id\":2}",
		"{\"event\":\"conversation_created\",\"id\":42,\"inbox_id\":2,"
		    "\"meta\":{\"sender\":{\"id\":5,\"name\":\"Bo\"}}}",
		"{\"event\":\"contact_created\",\"id\":9}",
	};
	long status;
	int i;

	ck_assert_int_ge(asprintf(&cmd, "mkdir -p %s/$1\n"
	    "cat > %s/$1/$LIVEDESK_DELIVERY_ID.stdin\n"
	    "env | grep -v '^_=' | sort > %s/$1/$LIVEDESK_DELIVERY_ID.env",
	    dir, dir, dir), 0);
	script = write_script(dir, "dump.sh", cmd);
	free(cmd);
	rsrv_start(&r, 0, NULL, false, NULL);
	/* The receiver runs it itself and also writes the stream. */
	ck_assert_int_ge(asprintf(&cmd, "[sink run]\ntype = exec\n"
	    "command = %s recv\nmessage_type = any\nprivate = any\n", script), 0);
	conf = receiver_conf(&r, "", cmd);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "[sink run]\ntype = exec\n"
	    "command = %s work\nmessage_type = any\nprivate = any\n", script), 0);
	wconf = worker_conf(&r, "60s", cmd);
	free(cmd);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	worker_start(&w, wconf, "w1");
	for (i = 0; i < 4; i++) {
		ids[i] = post(&d, bodies[i], &status);
		ck_assert_int_eq(status, 200);
	}
	/* Every script finished, the receiver's and the worker's. */
	ck_assert(tu_wait_idle(&d, 10000));
	c = rconn(&r, NULL, 0);
	wait_pending_zero(c, "livedesk:events", 10000);
	redisFree(c);
	for (i = 0; i < 4; i++) {
		ck_assert_int_ge(asprintf(&pa, "%s/recv/%s.env", dir, ids[i]),
		    0);
		ck_assert_int_ge(asprintf(&pb, "%s/work/%s.env", dir, ids[i]),
		    0);
		a = tu_read_file(pa, NULL);
		b = tu_read_file(pb, NULL);
		ck_assert_str_eq(a, b);
		ck_assert_ptr_nonnull(strstr(b, ids[i]));
		free(a);
		free(b);
		free(pa);
		free(pb);
		ck_assert_int_ge(asprintf(&pa, "%s/recv/%s.stdin", dir, ids[i]),
		    0);
		ck_assert_int_ge(asprintf(&pb, "%s/work/%s.stdin", dir, ids[i]),
		    0);
		a = tu_read_file(pa, NULL);
		b = tu_read_file(pb, NULL);
		ck_assert_str_eq(a, b);
		free(a);
		free(b);
		free(pa);
		free(pb);
		free(ids[i]);
	}
	/* Some fields, to be sure the environment is not just empty. */
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&w)), 0);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&w);
	tu_daemon_free(&d);
	free(conf);
	free(wconf);
	free(script);
	rsrv_free(&r);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Two workers, one group: each event runs once; per worker, a
 * conversation's events run in order. */
START_TEST(two_workers_exactly_once)
{
	enum { N = 200, CONVS = 10 };
	struct rsrv r;
	struct tu_daemon d, w1, w2;
	char *dir = tu_tmpdir(), *runs, *script, *cmd, *conf, *wconf, *ids[N];
	char *text, *line, *save = NULL, id[64];
	int i, conv, seq, last[2][CONVS], n1 = 0, n2 = 0, ppid, who;
	pid_t p1, p2;
	long status;
	redisContext *c;

	ck_assert_int_ge(asprintf(&runs, "%s/runs", dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "echo \"$LIVEDESK_DELIVERY_ID "
	    "$LIVEDESK_CONVERSATION_ID $LIVEDESK_MESSAGE_ID $PPID\" >> %s",
	    runs), 0);
	script = write_script(dir, "rec.sh", cmd);
	free(cmd);
	rsrv_start(&r, 0, NULL, false, NULL);
	conf = receiver_conf(&r, "", "");
	ck_assert_int_ge(asprintf(&cmd, "[sink run]\ntype = exec\n"
	    "command = %s\nconcurrency = 4\n", script), 0);
	wconf = worker_conf(&r, "60s", cmd);
	free(cmd);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	worker_start(&w1, wconf, "w1");
	worker_start(&w2, wconf, "w2");
	for (i = 0; i < N; i++) {
		char *body = body_for(i % CONVS, i);

		ids[i] = post(&d, body, &status);
		ck_assert_int_eq(status, 200);
		free(body);
	}
	ck_assert_msg(tu_wait_file_lines(runs, N, 20000), "%d of %d ran",
	    tu_count_lines(runs), N);
	c = rconn(&r, NULL, 0);
	wait_pending_zero(c, "livedesk:events", 5000);
	/* Stopped: nothing runs twice, not even late. */
	p1 = w1.pid;
	p2 = w2.pid;
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&w1)), 0);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&w2)), 0);
	ck_assert_int_eq(tu_count_lines(runs), N);
	for (i = 0; i < N; i++) {
		ck_assert_msg(count_in(runs, ids[i]) == 1, "%s ran %d times",
		    ids[i], count_in(runs, ids[i]));
		free(ids[i]);
	}
	for (i = 0; i < CONVS; i++)
		last[0][i] = last[1][i] = -1;
	text = tu_read_file(runs, NULL);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		ck_assert_int_eq(sscanf(line, "%63s %d %d %d", id, &conv, &seq,
		    &ppid), 4);
		ck_assert(ppid == p1 || ppid == p2);
		who = ppid == p1 ? 0 : 1;
		n1 += who == 0;
		n2 += who == 1;
		ck_assert_msg(seq > last[who][conv], "worker %d, conversation "
		    "%d: %d after %d", who + 1, conv, seq, last[who][conv]);
		last[who][conv] = seq;
	}
	free(text);
	ck_assert_msg(n1 > 0 && n2 > 0, "one worker did everything: %d/%d",
	    n1, n2);
	redisFree(c);
	tu_daemon_free(&w1);
	tu_daemon_free(&w2);
	tu_daemon_free(&d);
	free(conf);
	free(wconf);
	free(script);
	free(runs);
	rsrv_free(&r);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Reads "start ID PPID PID" lines: the PPID and PID of the first. */
static void
first_start(const char *runs, int *ppid, int *pid)
{
	char *text = tu_read_file(runs, NULL), *p = strstr(text, "start ");
	char id[64];

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(sscanf(p, "start %63s %d %d", id, ppid, pid), 3);
	free(text);
}

/* slow.sh: says "start ID PPID PID" in runs, sleeps SECS the first time it
 * runs only, then says "done ID PPID". */
static char *
slow_once_script(const char *dir, const char *runs, const char *secs)
{
	char *cmd, *script;

	ck_assert_int_ge(asprintf(&cmd, "echo \"start $LIVEDESK_DELIVERY_ID "
	    "$PPID $$\" >> %s\n[ -e %s.once ] || { touch %s.once; sleep %s; }"
	    "\necho \"done $LIVEDESK_DELIVERY_ID $PPID\" >> %s", runs, runs,
	    runs, secs, runs), 0);
	script = write_script(dir, "slow.sh", cmd);
	free(cmd);
	return script;
}

/* SIGKILL a worker mid-script: after claim_after the other claims the
 * entry and completes it; while the first lived, nobody took it. */
START_TEST(killed_worker_entry_claimed)
{
	struct rsrv r;
	struct tu_daemon d, w1, w2, *dead, *alive;
	char *dir = tu_tmpdir(), *runs, *script, *cmd, *conf, *wconf, *id;
	char *body = body_for(3, 1), want[128];
	int ppid, pid;
	long status;
	redisContext *c;

	ck_assert_int_ge(asprintf(&runs, "%s/runs", dir), 0);
	/* The first run outlives claim_after; the claimed one need not. */
	script = slow_once_script(dir, runs, "2.5");
	rsrv_start(&r, 0, NULL, false, NULL);
	conf = receiver_conf(&r, "", "");
	ck_assert_int_ge(asprintf(&cmd, "[sink run]\ntype = exec\n"
	    "command = %s\ntimeout = 30s\n", script), 0);
	wconf = worker_conf(&r, "1s", cmd);
	free(cmd);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	worker_start(&w1, wconf, "w1");
	worker_start(&w2, wconf, "w2");
	id = post(&d, body, &status);
	ck_assert_int_eq(status, 200);
	ck_assert(wait_file_has(runs, "start", 5000));
	first_start(runs, &ppid, &pid);
	dead = ppid == w1.pid ? &w1 : &w2;
	alive = dead == &w1 ? &w2 : &w1;
	/* Longer than claim_after: the heartbeat keeps the entry ours. */
	usleep(1800000);
	ck_assert_int_eq(count_in(runs, "start"), 1);
	tu_daemon_kill(dead, SIGKILL);
	kill(pid, SIGKILL);	/* its orphaned script */
	snprintf(want, sizeof want, "done %s %d", id, alive->pid);
	ck_assert_msg(wait_file_has(runs, want, 10000), "not completed by "
	    "the other worker");
	c = rconn(&r, NULL, 0);
	wait_pending_zero(c, "livedesk:events", 5000);
	ck_assert(wait_file_has(alive->log, "claimed 1 entry", 1000));
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(alive)), 0);
	redisFree(c);
	tu_daemon_free(&w1);
	tu_daemon_free(&w2);
	tu_daemon_free(&d);
	free(id);
	free(body);
	free(conf);
	free(wconf);
	free(script);
	free(runs);
	rsrv_free(&r);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* A worker killed and started again under its name takes up its own
 * pending entries first, without waiting for claim_after. */
START_TEST(worker_restart_runs_own_pending)
{
	struct rsrv r;
	struct tu_daemon d, w;
	char *dir = tu_tmpdir(), *runs, *script, *cmd, *conf, *wconf, *id;
	char *body = body_for(5, 1), want[128];
	int ppid, pid;
	long status;
	redisContext *c;

	ck_assert_int_ge(asprintf(&runs, "%s/runs", dir), 0);
	/* The first run is killed in its sleep; the second need not wait. */
	script = slow_once_script(dir, runs, "1");
	rsrv_start(&r, 0, NULL, false, NULL);
	conf = receiver_conf(&r, "", "");
	ck_assert_int_ge(asprintf(&cmd, "[sink run]\ntype = exec\n"
	    "command = %s\n", script), 0);
	wconf = worker_conf(&r, "1h", cmd);
	free(cmd);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	worker_start(&w, wconf, "only");
	id = post(&d, body, &status);
	ck_assert_int_eq(status, 200);
	ck_assert(wait_file_has(runs, "start", 5000));
	first_start(runs, &ppid, &pid);
	tu_daemon_kill(&w, SIGKILL);
	kill(pid, SIGKILL);
	tu_daemon_free(&w);
	worker_start(&w, wconf, "only");
	snprintf(want, sizeof want, "done %s %d", id, w.pid);
	ck_assert(wait_file_has(runs, want, 5000));
	c = rconn(&r, NULL, 0);
	wait_pending_zero(c, "livedesk:events", 5000);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&w)), 0);
	redisFree(c);
	tu_daemon_free(&w);
	tu_daemon_free(&d);
	free(id);
	free(body);
	free(conf);
	free(wconf);
	free(script);
	free(runs);
	rsrv_free(&r);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Redis away for longer than claim_after while two workers run slow
 * scripts: once it is back every entry looks idle, yet each live worker
 * keeps its own; nothing runs twice. */
START_TEST(redis_outage_no_double_run)
{
	struct rsrv r;
	struct tu_daemon w1, w2;
	char *dir = tu_tmpdir(), *runs, *script, *cmd, *wconf, *rdir;
	char id[32];
	redisContext *c;
	int i, port;

	ck_assert_int_ge(asprintf(&runs, "%s/runs", dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "echo \"start $LIVEDESK_DELIVERY_ID\" "
	    ">> %s\nsleep 4\necho \"done $LIVEDESK_DELIVERY_ID\" >> %s", runs,
	    runs), 0);
	script = write_script(dir, "slow.sh", cmd);
	free(cmd);
	rsrv_start(&r, 0, NULL, true, NULL);
	port = r.port;
	rdir = strdup(r.dir);
	ck_assert_int_ge(asprintf(&cmd, "[sink run]\ntype = exec\n"
	    "command = %s\nconcurrency = 4\nmessage_type = any\n"
	    "private = any\n", script), 0);
	wconf = worker_conf(&r, "1s", cmd);
	free(cmd);
	worker_start(&w1, wconf, "w1");
	worker_start(&w2, wconf, "w2");
	c = rconn(&r, NULL, 0);
	for (i = 0; i < 4; i++) {
		snprintf(id, sizeof id, "o-%d", i);
		freeReplyObject(rcmd(c, "XADD livedesk:events * delivery_id %s "
		    "json {\"event\":\"x\",\"id\":%d}", id, i));
	}
	redisFree(c);
	{
		long long end = tu_now_ms() + 5000;

		while (count_in(runs, "start") < 4 && tu_now_ms() < end)
			usleep(20000);
	}
	ck_assert_int_eq(count_in(runs, "start"), 4);
	rsrv_stop(&r, SIGTERM);
	usleep(1500000);
	free(r.dir);
	rsrv_start(&r, port, rdir, true, NULL);
	c = rconn(&r, NULL, 0);
	wait_pending_zero(c, "livedesk:events", 15000);
	/* Stopped: nothing runs twice, not even late. */
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&w1)), 0);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&w2)), 0);
	for (i = 0; i < 4; i++) {
		char want[32];

		snprintf(want, sizeof want, "start o-%d\n", i);
		ck_assert_msg(count_in(runs, want) == 1, "o-%d ran %d times", i,
		    count_in(runs, want));
		snprintf(want, sizeof want, "done o-%d\n", i);
		ck_assert_int_eq(count_in(runs, want), 1);
	}
	redisFree(c);
	tu_daemon_free(&w1);
	tu_daemon_free(&w2);
	free(wconf);
	free(script);
	free(runs);
	free(rdir);
	rsrv_free(&r);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Entries that are not events, and an event whose sink keeps failing: to
 * the dead-letter stream with a reason, acknowledged, the worker going
 * on. */
START_TEST(bad_entries_dead_lettered)
{
	struct rsrv r;
	struct tu_daemon w;
	char *dir = tu_tmpdir(), *runs, *script, *cmd, *wconf;
	const char *reasons[] = {
		"json: ", "no json field", "no delivery_id field", "json: ",
		"delivery_id has characters", "sink failed",
	};
	const char *fail_body = "{\"event\":\"message_created\",\"id\":2,"
	    "\"content\":\"FAIL\",\"conversation\":{\"id\":1}}";
	redisContext *c;
	redisReply *rep;
	size_t i;

	ck_assert_int_ge(asprintf(&runs, "%s/runs", dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "case \"$(cat)\" in *FAIL*) "
	    "echo 'the CRM said no' >&2; exit 3;; esac\n"
	    "echo \"$LIVEDESK_DELIVERY_ID\" >> %s", runs), 0);
	script = write_script(dir, "run.sh", cmd);
	free(cmd);
	rsrv_start(&r, 0, NULL, false, NULL);
	ck_assert_int_ge(asprintf(&cmd, "[sink run]\ntype = exec\n"
	    "command = %s\nmessage_type = any\nprivate = any\nretries = 1\n"
	    "retry_base = 10ms\n", script), 0);
	wconf = worker_conf(&r, "60s", cmd);
	free(cmd);
	worker_start(&w, wconf, "w1");
	c = rconn(&r, NULL, 0);
	freeReplyObject(rcmd(c, "XADD livedesk:events * delivery_id bad-1 "
	    "json %s", "{not json"));
	freeReplyObject(rcmd(c, "XADD livedesk:events * delivery_id bad-2 "
	    "event message_created"));
	freeReplyObject(rcmd(c, "XADD livedesk:events * json %s",
	    "{\"event\":\"x\"}"));
	freeReplyObject(rcmd(c, "XADD livedesk:events * delivery_id bad-4 "
	    "json %s", "[1,2]"));
	freeReplyObject(rcmd(c, "XADD livedesk:events * delivery_id %s "
	    "json %s", "bad 5", "{\"event\":\"x\"}"));
	freeReplyObject(rcmd(c, "XADD livedesk:events * delivery_id fail-6 "
	    "received_usec 1700000000000000 json %s", fail_body));
	freeReplyObject(rcmd(c, "XADD livedesk:events * delivery_id good-7 "
	    "json %s", "{\"event\":\"conversation_opened\",\"id\":3}"));
	ck_assert(wait_file_has(runs, "good-7", 10000));
	wait_pending_zero(c, "livedesk:events", 5000);
	ck_assert_int_eq(kill(w.pid, 0), 0);	/* still running */
	rep = rcmd(c, "XRANGE livedesk:events:failed - +");
	ck_assert_uint_eq(rep->elements, 6);
	for (i = 0; i < 6; i++) {
		const redisReply *f = rep->element[i]->element[1];

		ck_assert_msg(strstr(fval(f, "reason"), reasons[i]) != NULL,
		    "reason '%s' lacks '%s'", fval(f, "reason"), reasons[i]);
		ck_assert_ptr_nonnull(fval(f, "source_id"));
		ck_assert_str_eq(fval(f, "source_stream"), "livedesk:events");
		ck_assert_str_eq(fval(f, "consumer"), "w1");
	}
	/* The bad entry's own fields come along as they were. */
	ck_assert_str_eq(fval(rep->element[0]->element[1], "json"),
	    "{not json");
	/* The failed sink: which, how often, why, and the event to replay. */
	{
		const redisReply *f = rep->element[5]->element[1];

		ck_assert_str_eq(fval(f, "sink"), "run");
		ck_assert_str_eq(fval(f, "attempts"), "2");
		ck_assert_ptr_nonnull(strstr(fval(f, "detail"),
		    "the CRM said no"));
		ck_assert_str_eq(fval(f, "delivery_id"), "fail-6");
		ck_assert_str_eq(fval(f, "received_usec"), "1700000000000000");
		ck_assert_str_eq(fval(f, "conversation_id"), "1");
		ck_assert_str_eq(fval(f, "json"), fail_body);
	}
	freeReplyObject(rep);
	ck_assert_int_eq(count_in(runs, "fail-6"), 0);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&w)), 0);
	redisFree(c);
	tu_daemon_free(&w);
	free(wconf);
	free(script);
	free(runs);
	rsrv_free(&r);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* SIGHUP with a new sink: the worker goes on with it. */
START_TEST(worker_reload)
{
	struct rsrv r;
	struct tu_daemon w;
	char *dir = tu_tmpdir(), *out1, *out2, *conf1, *conf2, *cmd;
	redisContext *c;

	ck_assert_int_ge(asprintf(&out1, "%s/one.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&out2, "%s/two.jsonl", dir), 0);
	rsrv_start(&r, 0, NULL, false, NULL);
	ck_assert_int_ge(asprintf(&cmd, "[sink f]\ntype = file\npath = %s\n",
	    out1), 0);
	conf1 = worker_conf(&r, "60s", cmd);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "[sink f]\ntype = file\npath = %s\n",
	    out2), 0);
	conf2 = worker_conf(&r, "60s", cmd);
	free(cmd);
	worker_start(&w, conf1, "w1");
	c = rconn(&r, NULL, 0);
	freeReplyObject(rcmd(c, "XADD livedesk:events * delivery_id d-1 "
	    "json %s", "{\"event\":\"a\"}"));
	ck_assert(tu_wait_file_lines(out1, 1, 5000));
	tu_write_file(w.conf, conf2, strlen(conf2));
	kill(w.pid, SIGHUP);
	/* Once the reader has let the entries in hand finish. */
	ck_assert(wait_file_has(w.log, "new configuration in use", 5000));
	freeReplyObject(rcmd(c, "XADD livedesk:events * delivery_id d-2 "
	    "json %s", "{\"event\":\"b\"}"));
	ck_assert(tu_wait_file_lines(out2, 1, 5000));
	ck_assert(file_has(out2, "d-2"));
	ck_assert_int_eq(tu_count_lines(out1), 1);
	/* The source itself takes a restart. */
	free(conf2);
	conf2 = worker_conf(&r, "30s", "[sink f]\ntype = log\n");
	tu_write_file(w.conf, conf2, strlen(conf2));
	kill(w.pid, SIGHUP);
	ck_assert(wait_file_has(w.log, "takes a restart", 5000));
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&w)), 0);
	redisFree(c);
	tu_daemon_free(&w);
	free(conf1);
	free(conf2);
	free(out1);
	free(out2);
	rsrv_free(&r);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *
redis_worker_suite(void)
{
	Suite *s = suite_create("redis_worker");
	TCase *tc = tcase_create("redis_worker");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, worker_runs_like_receiver);
	tcase_add_test(tc, two_workers_exactly_once);
	tcase_add_test(tc, killed_worker_entry_claimed);
	tcase_add_test(tc, worker_restart_runs_own_pending);
	tcase_add_test(tc, redis_outage_no_double_run);
	tcase_add_test(tc, bad_entries_dead_lettered);
	tcase_add_test(tc, worker_reload);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return redis_suite_run("check_redis_worker", redis_worker_suite());
}
