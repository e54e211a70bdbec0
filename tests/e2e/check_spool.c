/* Nothing lost: the real daemon with a durable spool and real scripts,
 * killed with SIGKILL mid-flight and during recovery; retries, dead
 * letters, replay, a full disk, a descriptor limit, graceful shutdown. */
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"

static const char *const json_ct[] = {
	"Content-Type: application/json", NULL
};

/* A script that records "CONV SEQ DELIVERY" and sleeps a little. */
static char *
write_script(const char *dir, const char *name, const char *body)
{
	char *p, *text;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	ck_assert_int_ge(asprintf(&text, "#!/bin/sh\n%s\n", body), 0);
	tu_write_file(p, text, strlen(text));
	ck_assert_int_eq(chmod(p, 0755), 0);
	free(text);
	return p;
}

static char *
body_for(int conv, int seq)
{
	char *b;

	ck_assert_int_ge(asprintf(&b, "{\"event\":\"message_created\","
	    "\"id\":%d,\"message_type\":\"incoming\",\"private\":false,"
	    "\"content\":\"n%d\",\"conversation\":{\"id\":%d}}", seq, seq,
	    conv), 0);
	return b;
}

/* POSTs; returns the delivery id (malloc'd) on 200, NULL otherwise. */
static char *
post_event(const char *url, const char *body, long *status)
{
	struct tu_response r;
	json_t *o;
	char *id = NULL;

	tu_http(&r, "POST", url, json_ct, body, strlen(body));
	*status = r.status;
	if (r.status == 200 && (o = json_loads(r.body, 0, NULL)) != NULL) {
		id = strdup(json_string_value(json_object_get(o,
		    "delivery_id")));
		json_decref(o);
	}
	tu_response_free(&r);
	return id;
}

static char *
spool_conf(const char *dir, const char *script, const char *extra)
{
	char *conf;

	ck_assert_int_ge(asprintf(&conf, "[server]\nspool_dir = %s/spool\n"
	    "shutdown_grace = 1s\n%s\n[sink run]\ntype = exec\n"
	    "command = %s\nconcurrency = 4\ntimeout = 10s\n", dir, extra,
	    script), 0);
	return conf;
}

static int
count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	size_t sl = strlen(suffix);

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Reads the record file: checks every acked id ran, and per conversation
 * the runs never go backwards and first runs follow the send order. */
static void
check_records(const char *path, char **acked, int n_acked, int n_conv)
{
	char *text = tu_read_file(path, NULL), *line, *save = NULL;
	int last[64], i, conv, seq, runs = 0;
	char id[64];

	for (i = 0; i < 64; i++)
		last[i] = -1;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		ck_assert_int_eq(sscanf(line, "%d %d %63s", &conv, &seq, id), 3);
		ck_assert_int_lt(conv, n_conv);
		/* At least once: a re-run after a crash repeats the last one,
		 * it never goes back further. */
		ck_assert_msg(seq >= last[conv], "conversation %d: %d after %d",
		    conv, seq, last[conv]);
		last[conv] = seq;
		runs++;
	}
	free(text);
	text = tu_read_file(path, NULL);
	for (i = 0; i < n_acked; i++)
		ck_assert_msg(strstr(text, acked[i]) != NULL,
		    "acknowledged %s never ran", acked[i]);
	ck_assert_int_ge(runs, n_acked);
	free(text);
}

static void
wait_records(const char *path, char **acked, int n_acked, int ms)
{
	long long end = tu_now_ms() + ms;
	char *text;
	int i, missing;

	do {
		missing = 0;
		if (access(path, F_OK) == 0) {
			text = tu_read_file(path, NULL);
			for (i = 0; i < n_acked; i++)
				if (strstr(text, acked[i]) == NULL)
					missing++;
			free(text);
		} else
			missing = n_acked;
		if (missing == 0)
			return;
		usleep(50000);
	} while (tu_now_ms() < end);
	ck_abort_msg("%d acknowledged events never ran", missing);
}

/* Sends n events over n_conv conversations; kills the daemon with
 * SIGKILL after kill_after acknowledgements. */
static int
drive(struct tu_daemon *d, int n, int n_conv, int kill_after, char **acked)
{
	char url[256], *body, *id;
	int i, n_acked = 0;
	long status;

	snprintf(url, sizeof url, "%s/webhook", d->url);
	for (i = 0; i < n; i++) {
		body = body_for(i % n_conv, i);
		id = post_event(url, body, &status);
		free(body);
		if (id != NULL)
			acked[n_acked++] = id;
		if (n_acked == kill_after) {
			tu_daemon_kill(d, SIGKILL);
			break;
		}
	}
	return n_acked;
}

START_TEST(crash_loses_nothing_acknowledged)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *script, *conf, *out, *acked[400], *cmd;
	int n_acked, i;

	ck_assert_int_ge(asprintf(&out, "%s/runs", dir), 0);
	/* Under systemd a dead daemon's scripts die with it (its control
	 * group); here they would live on as orphans, so a script whose
	 * daemon is gone records nothing. */
	ck_assert_int_ge(asprintf(&cmd, "sleep 0.02; kill -0 $PPID || exit 1;"
	    " echo \"$LIVEDESK_CONVERSATION_ID $LIVEDESK_MESSAGE_ID "
	    "$LIVEDESK_DELIVERY_ID\" >> %s", out), 0);
	script = write_script(dir, "rec.sh", cmd);
	free(cmd);
	conf = spool_conf(dir, script, "");
	ck_assert(tu_daemon_start(&d, conf, NULL));
	n_acked = drive(&d, 300, 10, 150, acked);
	ck_assert_int_eq(n_acked, 150);
	/* Restart on the same spool: the rest runs, in order. */
	tu_daemon_free(&d);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	wait_records(out, acked, n_acked, 30000);
	check_records(out, acked, n_acked, 10);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);
	for (i = 0; i < n_acked; i++)
		free(acked[i]);
	free(script);
	free(conf);
	free(out);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* SIGKILL while the daemon is still working through what it recovered. */
START_TEST(crash_during_recovery)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *slow, *fast, *conf, *out, *acked[100];
	char *cmd;
	int n_acked, i;

	ck_assert_int_ge(asprintf(&out, "%s/runs", dir), 0);
	slow = write_script(dir, "slow.sh", "sleep 5");
	ck_assert_int_ge(asprintf(&cmd, "sleep 0.05; kill -0 $PPID || exit 1; "
	    "echo \"0 $LIVEDESK_MESSAGE_ID $LIVEDESK_DELIVERY_ID\" >> %s",
	    out), 0);
	fast = write_script(dir, "fast.sh", cmd);
	free(cmd);
	/* One conversation: everything waits behind the slow first one. */
	conf = spool_conf(dir, slow, "");
	ck_assert(tu_daemon_start(&d, conf, NULL));
	n_acked = drive(&d, 60, 1, 60, acked);
	ck_assert_int_eq(n_acked, 60);
	tu_daemon_free(&d);
	free(conf);
	conf = spool_conf(dir, fast, "");
	ck_assert(tu_daemon_start(&d, conf, NULL));
	/* Some ran; kill in the middle of the recovered backlog. */
	ck_assert(tu_wait_file_lines(out, 5, 10000));
	tu_daemon_kill(&d, SIGKILL);
	ck_assert_int_lt(tu_count_lines(out), 60);
	tu_daemon_free(&d);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	wait_records(out, acked, n_acked, 30000);
	check_records(out, acked, n_acked, 1);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);
	for (i = 0; i < n_acked; i++)
		free(acked[i]);
	free(slow);
	free(fast);
	free(conf);
	free(out);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Fails twice, then succeeds: no dead letter; always fails: one. */
START_TEST(retries_then_dead_letter_then_replay)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *flaky, *bad, *good, *conf, *cmd, *p, *text;
	char url[256], *id, *body = body_for(7, 1);
	long status;
	json_t *reason, *f;
	int rc;

	ck_assert_int_ge(asprintf(&cmd, "n=$(cat %s/count 2>/dev/null || "
	    "echo 0); echo $((n+1)) > %s/count; [ $n -ge 2 ]", dir, dir), 0);
	flaky = write_script(dir, "flaky.sh", cmd);
	free(cmd);
	bad = write_script(dir, "bad.sh", "echo 'no route to the CRM' >&2; "
	    "exit 3");
	ck_assert_int_ge(asprintf(&cmd, "cat > %s/replayed.json; echo "
	    "$LIVEDESK_DELIVERY_ID >> %s/replayed", dir, dir), 0);
	good = write_script(dir, "good.sh", cmd);
	free(cmd);

	conf = spool_conf(dir, flaky, "");
	ck_assert_int_ge(asprintf(&text, "%sretries = 3\nretry_base = 50ms\n",
	    conf), 0);
	ck_assert(tu_daemon_start(&d, text, NULL));
	free(text);
	snprintf(url, sizeof url, "%s/webhook", d.url);
	id = post_event(url, body, &status);
	ck_assert_ptr_nonnull(id);
	ck_assert_int_eq(status, 200);
	ck_assert_int_ge(asprintf(&p, "%s/count", dir), 0);
	{
		long long end = tu_now_ms() + 5000;
		int runs = 0;

		while (tu_now_ms() < end && runs < 3) {
			usleep(20000);
			if (access(p, F_OK) != 0)
				continue;
			text = tu_read_file(p, NULL);
			runs = atoi(text);
			free(text);
		}
		ck_assert_int_eq(runs, 3);
	}
	/* Finished, and no dead letter for it. */
	ck_assert(tu_wait_idle(&d, 5000));
	free(p);
	ck_assert_int_ge(asprintf(&p, "%s/spool/failed", dir), 0);
	ck_assert_int_eq(count_files(p, ".json"), 0);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);
	free(id);
	free(conf);

	conf = spool_conf(dir, bad, "");
	ck_assert_int_ge(asprintf(&text, "%sretries = 1\nretry_base = 50ms\n",
	    conf), 0);
	ck_assert(tu_daemon_start(&d, text, NULL));
	free(text);
	snprintf(url, sizeof url, "%s/webhook", d.url);
	id = post_event(url, body, &status);
	ck_assert_ptr_nonnull(id);
	{
		long long end = tu_now_ms() + 5000;

		while (tu_now_ms() < end && count_files(p, ".reason.json") < 1)
			usleep(20000);
	}
	free(p);
	/* The payload byte for byte, and why. */
	ck_assert_int_ge(asprintf(&p, "%s/spool/failed/%s.json", dir, id), 0);
	text = tu_read_file(p, NULL);
	ck_assert_str_eq(text, body);
	free(text);
	free(p);
	ck_assert_int_ge(asprintf(&p, "%s/spool/failed/%s.reason.json", dir,
	    id), 0);
	reason = json_load_file(p, 0, NULL);
	ck_assert_ptr_nonnull(reason);
	free(p);
	f = json_array_get(json_object_get(reason, "failures"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "sink")), "run");
	ck_assert_int_eq(json_integer_value(json_object_get(f, "attempts")),
	    2);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(f,
	    "detail")), "no route to the CRM"));
	ck_assert_str_eq(json_string_value(json_object_get(reason,
	    "delivery_id")), id);
	json_decref(reason);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);

	/* --spool-status sees it; --replay delivers it once fixed. */
	free(conf);
	conf = spool_conf(dir, good, "");
	ck_assert_int_ge(asprintf(&p, "%s/good.conf", dir), 0);
	tu_write_file(p, conf, strlen(conf));
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s "
	    "--spool-status | grep -q '^dead 1$'", tu_build_dir(), p), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s --replay "
	    "%s/spool/failed --sink run > %s/replay.out 2>&1", tu_build_dir(),
	    p, dir, dir), 0);
	rc = system(cmd);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "%s/replay.out", dir), 0);
	text = tu_read_file(cmd, NULL);
	ck_assert_msg(WEXITSTATUS(rc) == 0, "%s", text);
	ck_assert_ptr_nonnull(strstr(text, "replayed 1 event"));
	free(text);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "%s/replayed.json", dir), 0);
	text = tu_read_file(cmd, NULL);
	ck_assert_str_eq(text, body);
	free(text);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "%s/replayed", dir), 0);
	text = tu_read_file(cmd, NULL);
	ck_assert_ptr_nonnull(strstr(text, id));	/* the same id */
	free(text);
	free(cmd);
	/* A --sink that does not exist is a clear error. */
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s --replay "
	    "%s/spool/failed --sink nope 2>/dev/null", tu_build_dir(), p, dir),
	    0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
	free(cmd);
	free(p);
	free(id);
	free(body);
	free(flaky);
	free(bad);
	free(good);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST


/* A sink that fails for good while another still runs: its dead letter is
 * on disk at once, so a crash before the event is finished loses it not. */
START_TEST(dead_letter_written_before_crash)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *bad, *slow, *conf, *p, url[256], *id;
	char *body = body_for(4, 1);
	long status;
	long long end;

	bad = write_script(dir, "bad.sh", "exit 3");
	slow = write_script(dir, "slow.sh", "sleep 30");
	ck_assert_int_ge(asprintf(&conf, "[server]\nspool_dir = %s/spool\n"
	    "shutdown_grace = 1s\n[sink bad]\ntype = exec\ncommand = %s\n"
	    "[sink slow]\ntype = exec\ncommand = %s\n", dir, bad, slow), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	id = post_event(url, body, &status);
	ck_assert_ptr_nonnull(id);
	ck_assert_int_ge(asprintf(&p, "%s/spool/failed/%s.reason.json", dir,
	    id), 0);
	end = tu_now_ms() + 5000;
	while (access(p, F_OK) != 0 && tu_now_ms() < end)
		usleep(20000);
	ck_assert_int_eq(access(p, F_OK), 0);
	tu_daemon_kill(&d, SIGKILL);
	tu_daemon_free(&d);
	free(p);
	ck_assert_int_ge(asprintf(&p, "%s/spool/failed/%s.json", dir, id), 0);
	{
		char *got = tu_read_file(p, NULL);

		ck_assert_str_eq(got, body);
		free(got);
	}
	free(p);
	free(id);
	free(body);
	free(bad);
	free(slow);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* When failed/ cannot be written, the event is not marked done: it stays
 * in the spool and its sink runs again at the next start. */
START_TEST(dead_letter_unwritable_keeps_event)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *flag, *script, *conf, *p, *cmd, *log, *id;
	char url[256], *body = body_for(5, 1);
	long status;
	long long end;

	ck_assert_int_ge(asprintf(&flag, "%s/fixed", dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "cat > /dev/null; [ -e %s ] && echo "
	    "ran >> %s/ran", flag, dir), 0);
	script = write_script(dir, "s.sh", cmd);
	free(cmd);
	ck_assert_int_ge(asprintf(&conf, "[server]\nspool_dir = %s/spool\n"
	    "[sink s]\ntype = exec\ncommand = %s\n", dir, script), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	/* failed/ becomes a plain file: every write into it fails. */
	ck_assert_int_ge(asprintf(&p, "%s/spool/failed", dir), 0);
	tu_rmtree(p);
	tu_write_file(p, "", 0);
	snprintf(url, sizeof url, "%s/webhook", d.url);
	id = post_event(url, body, &status);
	ck_assert_ptr_nonnull(id);
	end = tu_now_ms() + 5000;
	do {
		usleep(50000);
		log = tu_read_file(d.log, NULL);
		if (strstr(log, "stays in the spool") != NULL)
			break;
		free(log);
		log = NULL;
	} while (tu_now_ms() < end);
	ck_assert_msg(log != NULL, "no 'stays in the spool' line");
	free(log);
	tu_daemon_kill(&d, SIGKILL);
	tu_daemon_free(&d);
	/* Mended: the next start runs it again, now successfully. */
	ck_assert_int_eq(unlink(p), 0);
	tu_write_file(flag, "", 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	ck_assert_int_ge(asprintf(&cmd, "%s/ran", dir), 0);
	ck_assert(tu_wait_file_lines(cmd, 1, 10000));
	tu_daemon_free(&d);
	free(cmd);
	free(p);
	free(id);
	free(body);
	free(flag);
	free(script);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* A file sink's archive replays into the sinks, one event per line. */
START_TEST(replay_archive)
{
	char *dir = tu_tmpdir(), *arch, *conf, *p, *cmd, *out;
	struct tu_daemon d;
	char url[256], *id, *body;
	long status;
	int i;

	ck_assert_int_ge(asprintf(&arch, "%s/archive.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&conf, "[sink a]\ntype = file\npath = %s\n",
	    arch), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	for (i = 0; i < 3; i++) {
		body = body_for(1, i);
		id = post_event(url, body, &status);
		ck_assert_ptr_nonnull(id);
		free(id);
		free(body);
	}
	ck_assert(tu_wait_file_lines(arch, 3, 5000));
	tu_daemon_free(&d);
	free(conf);
	ck_assert_int_ge(asprintf(&out, "%s/out.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&conf, "[sink b]\ntype = file\npath = %s\n",
	    out), 0);
	ck_assert_int_ge(asprintf(&p, "%s/b.conf", dir), 0);
	tu_write_file(p, conf, strlen(conf));
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s --replay "
	    "%s >/dev/null", tu_build_dir(), p, arch), 0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 0);
	ck_assert_int_eq(tu_count_lines(out), 3);
	free(cmd);
	{
		char *a = tu_read_file(arch, NULL), *b = tu_read_file(out, NULL);
		json_t *ja = json_loads(a, JSON_DISABLE_EOF_CHECK, NULL);
		json_t *jb = json_loads(b, JSON_DISABLE_EOF_CHECK, NULL);

		/* Same payload and delivery id as the original. */
		ck_assert(json_equal(json_object_get(ja, "payload"),
		    json_object_get(jb, "payload")));
		ck_assert(json_equal(json_object_get(ja, "delivery_id"),
		    json_object_get(jb, "delivery_id")));
		json_decref(ja);
		json_decref(jb);
		free(a);
		free(b);
	}
	free(p);
	free(arch);
	free(out);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* An archive line that cannot be read (a crash cut it, someone edited
 * it) is logged and skipped: the lines around it are still replayed, and
 * the exit status and the summary say one was not. */
START_TEST(replay_archive_skips_bad_line)
{
	char *dir = tu_tmpdir(), *arch, *conf, *p, *cmd, *out, *text, *mixed;
	char url[256], *id, *body, *res;
	struct tu_daemon d;
	long status;
	int i;

	ck_assert_int_ge(asprintf(&arch, "%s/archive.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&conf, "[sink a]\ntype = file\npath = %s\n",
	    arch), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	for (i = 0; i < 2; i++) {
		body = body_for(1, i);
		id = post_event(url, body, &status);
		ck_assert_ptr_nonnull(id);
		free(id);
		free(body);
	}
	ck_assert(tu_wait_file_lines(arch, 2, 5000));
	tu_daemon_free(&d);
	free(conf);
	/* Line 2 of 4 is not an event; line 4 was cut short. */
	text = tu_read_file(arch, NULL);
	ck_assert_ptr_nonnull(strchr(text, '\n'));
	ck_assert_int_ge(asprintf(&mixed, "%.*s{\"not\": \"an archive "
	    "line\"}\n%s{\"v\":1,\"deli", (int)(strchr(text, '\n') - text +
	    1), text, strchr(text, '\n') + 1), 0);
	tu_write_file(arch, mixed, strlen(mixed));
	ck_assert_int_ge(asprintf(&out, "%s/out.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&conf, "[sink b]\ntype = file\npath = %s\n",
	    out), 0);
	ck_assert_int_ge(asprintf(&p, "%s/b.conf", dir), 0);
	tu_write_file(p, conf, strlen(conf));
	ck_assert_int_ge(asprintf(&res, "%s/res", dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s --replay "
	    "%s >%s 2>&1", tu_build_dir(), p, arch, res), 0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
	ck_assert_int_eq(tu_count_lines(out), 2);
	free(text);
	text = tu_read_file(res, NULL);
	ck_assert_msg(strstr(text, "archive.jsonl:2:") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "archive.jsonl:4:") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "replayed 2 events") != NULL &&
	    strstr(text, "2 could not be read") != NULL, "%s", text);
	free(text);
	free(res);
	free(cmd);
	free(mixed);
	free(p);
	free(arch);
	free(out);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* SIGTERM with a script still running: it gets shutdown_grace, then the
 * event stays in the spool and runs at the next start; exit code 0. */
START_TEST(graceful_shutdown_keeps_unfinished)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *slow, *fast, *conf, *cmd, *out, url[256];
	char *id, *body = body_for(3, 1);
	long status;
	long long t0;
	int st;

	ck_assert_int_ge(asprintf(&out, "%s/runs", dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "touch %s/started; sleep 30", dir),
	    0);
	slow = write_script(dir, "slow.sh", cmd);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "echo \"3 1 $LIVEDESK_DELIVERY_ID\" "
	    ">> %s", out), 0);
	fast = write_script(dir, "fast.sh", cmd);
	free(cmd);
	conf = spool_conf(dir, slow, "");
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	id = post_event(url, body, &status);
	ck_assert_ptr_nonnull(id);
	/* The script runs. */
	ck_assert_int_ge(asprintf(&cmd, "%s/started", dir), 0);
	ck_assert(tu_wait_file_lines(cmd, 0, 5000));
	free(cmd);
	t0 = tu_now_ms();
	st = tu_daemon_stop(&d);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	/* grace 1 s + the script's SIGTERM: well under its 30 s. */
	ck_assert_int_lt(tu_now_ms() - t0, 8000);
	tu_daemon_free(&d);
	free(conf);
	conf = spool_conf(dir, fast, "");
	ck_assert(tu_daemon_start(&d, conf, NULL));
	wait_records(out, &id, 1, 10000);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);
	/* Finished: nothing left in the spool. */
	ck_assert_int_ge(asprintf(&cmd, "%s/spool/new", dir), 0);
	ck_assert_int_eq(count_files(cmd, ".batch"), 0);
	free(cmd);
	free(id);
	free(body);
	free(slow);
	free(fast);
	free(conf);
	free(out);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* A half-written commit (a crash in the middle) was never acknowledged:
 * discarded at start with a log line. */
START_TEST(half_written_discarded)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *script, *conf, *p, *log;

	script = write_script(dir, "t.sh", "true");
	conf = spool_conf(dir, script, "");
	ck_assert_int_ge(asprintf(&p, "%s/spool", dir), 0);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
	ck_assert_int_ge(asprintf(&p, "%s/spool/tmp", dir), 0);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
	ck_assert_int_ge(asprintf(&p, "%s/spool/tmp/00000000000000aa.batch",
	    dir), 0);
	tu_write_file(p, "{\"seq\":170,\"deliv", 17);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	ck_assert_int_eq(access(p, F_OK), -1);
	log = tu_read_file(d.log, NULL);
	ck_assert_ptr_nonnull(strstr(log, "discarding half-written"));
	free(log);
	tu_daemon_free(&d);
	free(p);
	free(script);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* A spool on a small filesystem: once it is full the answer is 503 with
 * Retry-After, never 200, and nothing acknowledged is lost. */
START_TEST(disk_full_503)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *script, *conf, *mnt, *out, *cmd, url[256];
	char *acked[2000], *big, *id, *metrics;
	int n_acked = 0, n_503 = 0, i;
	long status;
	struct tu_response r;

	ck_assert_int_ge(asprintf(&mnt, "%s/spool", dir), 0);
	ck_assert_int_eq(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") == -1) {
		tu_skip("disk_full_503", "cannot mount a tmpfs (%s)",
		    strerror(errno));
		tu_rmtree(dir);
		free(mnt);
		free(dir);
		return;
	}
	ck_assert_int_ge(asprintf(&out, "%s/runs", dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "echo \"$LIVEDESK_DELIVERY_ID\" >> %s;"
	    " sleep 60", out), 0);
	/* Scripts that never finish: nothing leaves the spool. */
	script = write_script(dir, "stuck.sh", cmd);
	free(cmd);
	/* spool_min_free = 0: this is about a write that fails, not the
	 * limit that refuses before it (which would refuse at once on a
	 * filesystem this small). */
	conf = spool_conf(dir, script, "queue_size = 5000\n"
	    "spool_min_free = 0\n");
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	big = malloc(8192);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < 200 && n_503 < 3; i++) {
		snprintf(big, 8192, "{\"event\":\"message_created\",\"id\":%d,"
		    "\"message_type\":\"incoming\",\"conversation\":{\"id\":%d},"
		    "\"content\":\"%0*d\"}", i,
		    1000 + i, 4000, i);
		id = post_event(url, big, &status);
		if (id != NULL)
			acked[n_acked++] = id;
		else {
			ck_assert_int_eq(status, 503);
			n_503++;
		}
	}
	ck_assert_int_eq(n_503, 3);
	ck_assert_int_gt(n_acked, 10);
	/* Retry-After on the 503. */
	tu_http(&r, "POST", url, json_ct, big, strlen(big));
	ck_assert_int_eq(r.status, 503);
	{
		char *ra = tu_header(&r, "Retry-After");

		ck_assert_ptr_nonnull(ra);
		free(ra);
	}
	tu_response_free(&r);
	snprintf(big, 8192, "%s/metrics", d.url);
	tu_http(&r, "GET", big, NULL, NULL, 0);
	metrics = r.body;
	ck_assert_ptr_nonnull(strstr(metrics,
	    "livedesk_events_dropped_total{reason=\"spool_error\"} 4"));
	ck_assert_ptr_nonnull(strstr(metrics, "livedesk_spool_write_errors"));
	tu_response_free(&r);
	/* A full disk fails every commit: its log lines are a few a second,
	 * and the next one says how many were not written. */
	snprintf(big, 8192, "%s/webhook", d.url);
	for (i = 0; i < 30; i++) {
		tu_http(&r, "POST", big, json_ct, "{\"event\":\"x\"}", 13);
		ck_assert_int_eq(r.status, 503);
		tu_response_free(&r);
	}
	usleep(1100 * 1000);
	tu_http(&r, "POST", big, json_ct, "{\"event\":\"x\"}", 13);
	tu_response_free(&r);
	ck_assert(tu_wait_log(&d, "more write errors not logged", 3000));
	tu_daemon_kill(&d, SIGKILL);
	tu_daemon_free(&d);
	/* Everything acknowledged is still there: a restart with room
	 * recovers each one. */
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s/../x.conf "
	    "--spool-status >/dev/null 2>&1", tu_build_dir(), mnt), 0);
	free(cmd);
	{
		char *conf_path, *status_out;

		ck_assert_int_ge(asprintf(&conf_path, "%s/x.conf", dir), 0);
		tu_write_file(conf_path, conf, strlen(conf));
		ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s "
		    "--spool-status > %s/status", tu_build_dir(), conf_path,
		    dir), 0);
		ck_assert_int_eq(system(cmd), 0);
		free(cmd);
		ck_assert_int_ge(asprintf(&cmd, "%s/status", dir), 0);
		status_out = tu_read_file(cmd, NULL);
		free(big);
		ck_assert_int_ge(asprintf(&big, "pending %d\n", n_acked), 0);
		ck_assert_msg(strstr(status_out, big) != NULL, "%s",
		    status_out);
		free(status_out);
		free(cmd);
		free(conf_path);
	}
	for (i = 0; i < n_acked; i++)
		free(acked[i]);
	umount2(mnt, MNT_DETACH);
	free(big);
	free(mnt);
	free(out);
	free(script);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST


/* The descriptors pid has open below limit: the daemon's own when limit
 * is its RLIMIT_NOFILE (under valgrind, valgrind's are above it). */
static int
count_fds(pid_t pid, int limit)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
	dir = opendir(path);
	ck_assert_msg(dir != NULL, "%s: %s", path, strerror(errno));
	while ((e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.' && atoi(e->d_name) < limit)
			n++;
	closedir(dir);
	return n;
}

/* Sets the running pid's soft RLIMIT_NOFILE. Under valgrind a script
 * started while it is lowered dies before exec (tu_daemon_start_nofile
 * says why): only for a limit too low to get a pipe at all. */
static void
set_nofile(pid_t pid, rlim_t soft)
{
	struct rlimit rl;

	ck_assert_int_eq(prlimit(pid, RLIMIT_NOFILE, NULL, &rl), 0);
	rl.rlim_cur = soft;
	ck_assert_msg(prlimit(pid, RLIMIT_NOFILE, &rl, NULL) == 0,
	    "prlimit %ld: %s", (long)pid, strerror(errno));
}

/* Waits up to ms for the daemon's log to hold what, n times. */
static bool
log_has_n(const struct tu_daemon *d, const char *what, int n, int ms)
{
	long long end = tu_now_ms() + ms;
	char *log, *p;
	int found;

	do {
		log = tu_read_file(d->log, NULL);
		found = 0;
		for (p = strstr(log, what); p != NULL && found < n;
		    p = strstr(p + 1, what))
			found++;
		free(log);
		if (found == n)
			return true;
		usleep(20000);
	} while (tu_now_ms() < end);
	return false;
}

static bool
log_has(const struct tu_daemon *d, const char *what, int ms)
{
	return log_has_n(d, what, 1, ms);
}

/*
 * A backlog larger than the descriptor limit: a fast sink finishes every
 * event while a slow one holds them all. No descriptor may stay open per
 * pending batch: every request gets its 200, nothing is a dead letter,
 * and once the slow script is let go every event runs. The limit is set
 * before the daemon starts, as a unit's LimitNOFILE= is (see
 * tu_daemon_start_nofile for why not with prlimit once it runs).
 */
START_TEST(backlog_beyond_fd_limit)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *hold, *out, *cmd, *script, *conf, *p;
	char url[256], *acked[150], *body;
	int i, n_acked = 0;
	long status;

	ck_assert_int_ge(asprintf(&hold, "%s/hold", dir), 0);
	ck_assert_int_ge(asprintf(&out, "%s/runs", dir), 0);
	tu_write_file(hold, "", 0);
	ck_assert_int_ge(asprintf(&cmd, "cat > /dev/null; while [ -e %s ]; "
	    "do sleep 0.02; done; echo \"0 0 $LIVEDESK_DELIVERY_ID\" >> %s",
	    hold, out), 0);
	script = write_script(dir, "held.sh", cmd);
	free(cmd);
	ck_assert_int_ge(asprintf(&conf, "[server]\nspool_dir = %s/spool\n"
	    "shutdown_grace = 1s\n[sink fast]\ntype = log\n[sink slow]\n"
	    "type = exec\ncommand = %s\nconcurrency = 2\ntimeout = 30s\n",
	    dir, script), 0);
	ck_assert(tu_daemon_start_nofile(&d, conf, NULL, 64));
	ck_assert_int_eq(tu_metric(&d, "process_max_fds"), 64);
	ck_assert_int_lt(count_fds(d.pid, 64), 32);
	snprintf(url, sizeof url, "%s/webhook", d.url);
	/* One at a time: each its own commit, so its own batch. */
	for (i = 0; i < (int)(sizeof acked / sizeof *acked); i++) {
		body = body_for(i % 50, i);
		acked[n_acked] = post_event(url, body, &status);
		free(body);
		ck_assert_msg(status == 200, "request %d: %ld (see %s)", i,
		    status, d.log);
		n_acked++;
	}
	ck_assert_int_lt(count_fds(d.pid, 64), 64);
	ck_assert_int_ge(asprintf(&p, "%s/spool/failed", dir), 0);
	ck_assert_int_eq(count_files(p, ".json"), 0);
	/* Let go: everything runs, nothing went to failed/. */
	ck_assert_int_eq(unlink(hold), 0);
	wait_records(out, acked, n_acked, 30000);
	ck_assert_int_eq(count_files(p, ".json"), 0);
	tu_daemon_free(&d);
	for (i = 0; i < n_acked; i++)
		free(acked[i]);
	free(p);
	free(script);
	free(conf);
	free(hold);
	free(out);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/*
 * A script that cannot start because the daemon is out of descriptors is
 * retried once there are some again: the shortage is the machine's, not
 * the event's, so it never makes a dead letter, even with retries = 0.
 */
START_TEST(fd_shortage_retried_not_dead)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *hold, *out, *cmd, *script, *conf, *p;
	char url[256], *id1, *id2, *body;
	struct rlimit rl;
	long status;

	ck_assert_int_ge(asprintf(&hold, "%s/hold", dir), 0);
	ck_assert_int_ge(asprintf(&out, "%s/runs", dir), 0);
	tu_write_file(hold, "", 0);
	ck_assert_int_ge(asprintf(&cmd, "cat > /dev/null; echo \"0 0 "
	    "$LIVEDESK_DELIVERY_ID\" >> %s; while [ -e %s ]; do sleep 0.02; "
	    "done", out, hold), 0);
	script = write_script(dir, "s.sh", cmd);
	free(cmd);
	ck_assert_int_ge(asprintf(&conf, "[server]\nspool_dir = %s/spool\n"
	    "shutdown_grace = 1s\n[sink s]\ntype = exec\ncommand = %s\n"
	    "retry_base = 50ms\nretry_cap = 100ms\n", dir, script), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	/* One conversation: the second waits behind the first, held. */
	body = body_for(9, 1);
	id1 = post_event(url, body, &status);
	free(body);
	ck_assert_ptr_nonnull(id1);
	ck_assert(tu_wait_file_lines(out, 1, 5000));
	body = body_for(9, 2);
	id2 = post_event(url, body, &status);
	free(body);
	ck_assert_ptr_nonnull(id2);
	/* No descriptor to spare: the second cannot get its pipes. */
	ck_assert_int_eq(prlimit(d.pid, RLIMIT_NOFILE, NULL, &rl), 0);
	set_nofile(d.pid, 3);
	ck_assert_int_eq(unlink(hold), 0);
	/* Retried, more than once, while the shortage lasts. */
	ck_assert_msg(log_has_n(&d, "Too many open files; retrying, not "
	    "counted as an attempt", 3, 5000), "the second was not retried "
	    "(see %s)", d.log);
	set_nofile(d.pid, rl.rlim_cur);
	ck_assert_msg(tu_wait_file_lines(out, 2, 5000), "the second never ran "
	    "(see %s)", d.log);
	{
		char *text = tu_read_file(out, NULL);

		ck_assert_ptr_nonnull(strstr(text, id2));
		free(text);
	}
	ck_assert_int_ge(asprintf(&p, "%s/spool/failed", dir), 0);
	ck_assert_int_eq(count_files(p, ".json"), 0);
	free(p);
	ck_assert(!log_has(&d, "gave up", 0));
	tu_daemon_free(&d);
	free(id1);
	free(id2);
	free(script);
	free(conf);
	free(hold);
	free(out);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* The reason file says the exit code, and a signal in a field of its own;
 * the log and --replay say the same. */
START_TEST(reason_exit_code_and_signal)
{
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *three, *nine, *conf, *p, *cmd, *text, *id;
	char url[256], *body = body_for(6, 1);
	json_t *reason, *f, *v;
	long status;
	long long end;
	size_t i;
	int seen = 0;

	three = write_script(dir, "three.sh", "cat > /dev/null; exit 3");
	nine = write_script(dir, "nine.sh", "cat > /dev/null; kill -9 $$");
	ck_assert_int_ge(asprintf(&conf, "[server]\nspool_dir = %s/spool\n"
	    "[sink three]\ntype = exec\ncommand = %s\n[sink nine]\n"
	    "type = exec\ncommand = %s\n", dir, three, nine), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	id = post_event(url, body, &status);
	ck_assert_ptr_nonnull(id);
	ck_assert_int_ge(asprintf(&p, "%s/spool/failed/%s.reason.json", dir,
	    id), 0);
	/* Rewritten with each failure: wait for both. */
	end = tu_now_ms() + 5000;
	for (;;) {
		reason = json_load_file(p, 0, NULL);
		if (json_array_size(json_object_get(reason, "failures")) == 2)
			break;
		json_decref(reason);
		ck_assert_msg(tu_now_ms() < end, "no reason file with both "
		    "failures (see %s)", d.log);
		usleep(20000);
	}
	json_array_foreach(json_object_get(reason, "failures"), i, f) {
		const char *sink = json_string_value(json_object_get(f,
		    "sink"));

		ck_assert_ptr_nonnull(sink);
		if (strcmp(sink, "three") == 0) {
			v = json_object_get(f, "exit_status");
			ck_assert_msg(json_is_integer(v) &&
			    json_integer_value(v) == 3, "exit_status %lld",
			    (long long)json_integer_value(v));
			ck_assert(json_is_null(json_object_get(f, "signal")));
			seen |= 1;
		} else {
			ck_assert_str_eq(sink, "nine");
			ck_assert(json_is_null(json_object_get(f,
			    "exit_status")));
			v = json_object_get(f, "signal");
			ck_assert_msg(json_is_integer(v) &&
			    json_integer_value(v) == 9, "signal %lld",
			    (long long)json_integer_value(v));
			ck_assert_str_eq(json_string_value(json_object_get(f,
			    "signal_name")), "SIGKILL");
			seen |= 2;
		}
	}
	ck_assert_int_eq(seen, 3);
	json_decref(reason);
	ck_assert(log_has(&d, "exited with status 3", 0));
	ck_assert(log_has(&d, "killed by signal 9 (SIGKILL)", 0));
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	/* --replay reports the same words. */
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s --replay "
	    "%s/spool/failed > %s/replay.out 2>&1", tu_build_dir(), d.conf,
	    dir, dir), 0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "%s/replay.out", dir), 0);
	text = tu_read_file(cmd, NULL);
	ck_assert_msg(strstr(text, "exited with status 3") != NULL &&
	    strstr(text, "killed by signal 9 (SIGKILL)") != NULL, "%s", text);
	free(text);
	free(cmd);
	tu_daemon_free(&d);
	free(p);
	free(id);
	free(body);
	free(three);
	free(nine);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* --replay on what an operator may point it at: a device is refused at
 * once (it would be read without end), and a dead letter whose reason
 * file was lost is replayed all the same, with its delivery id. */
START_TEST(replay_odd_inputs)
{
	char *dir = tu_tmpdir(), *failed, *out, *conf, *p, *cmd, *body, *got;
	size_t len;

	ck_assert_int_ge(asprintf(&failed, "%s/failed", dir), 0);
	ck_assert_int_eq(mkdir(failed, 0700), 0);
	body = tu_fixture("message_created_incoming.json", &len);
	ck_assert_int_ge(asprintf(&p, "%s/0192-lost-reason.json", failed), 0);
	tu_write_file(p, body, len);
	free(p);
	ck_assert_int_ge(asprintf(&out, "%s/out.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&conf, "[sink b]\ntype = file\npath = %s\n",
	    out), 0);
	ck_assert_int_ge(asprintf(&p, "%s/b.conf", dir), 0);
	tu_write_file(p, conf, strlen(conf));
	ck_assert_int_ge(asprintf(&cmd, "timeout 10 %s/livedesk-webhookd -c %s "
	    "--replay /dev/zero 2>%s/err", tu_build_dir(), p, dir), 0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "%s/err", dir), 0);
	got = tu_read_file(cmd, NULL);
	ck_assert_msg(strstr(got, "/dev/zero: not a regular file") != NULL,
	    "%s", got);
	free(got);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s --replay "
	    "%s >/dev/null 2>&1", tu_build_dir(), p, failed), 0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 0);
	ck_assert_int_eq(tu_count_lines(out), 1);
	got = tu_read_file(out, NULL);
	ck_assert_ptr_nonnull(strstr(got, "\"delivery_id\":\"0192-lost-reason\""));
	free(got);
	free(cmd);
	free(p);
	free(conf);
	free(out);
	free(body);
	free(failed);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *
spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("spool");

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, crash_loses_nothing_acknowledged);
	tcase_add_test(tc, crash_during_recovery);
	tcase_add_test(tc, retries_then_dead_letter_then_replay);
	tcase_add_test(tc, replay_odd_inputs);
	tcase_add_test(tc, replay_archive);
	tcase_add_test(tc, replay_archive_skips_bad_line);
	tcase_add_test(tc, dead_letter_written_before_crash);
	tcase_add_test(tc, dead_letter_unwritable_keeps_event);
	tcase_add_test(tc, graceful_shutdown_keeps_unfinished);
	tcase_add_test(tc, half_written_discarded);
	tcase_add_test(tc, disk_full_503);
	tcase_add_test(tc, backlog_beyond_fd_limit);
	tcase_add_test(tc, fd_shortage_retried_not_dead);
	tcase_add_test(tc, reason_exit_code_and_signal);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(spool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
