/* Redis Streams from the receiving side, against a real redis-server on a
 * loopback port: the sink's entries field by field, trimming and
 * partitions, Redis restarted under the sink, the documented layout of
 * receivers and workers through a worker kill and a Redis restart, the
 * [source] keys and URLs (check_redis_worker: the workers). Without
 * redis-server it fails and says so (make deps-check installs it). */
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

#include "config.h"
#include "redis.h"
#include "redisutil.h"
#include "testutil.h"

/* --- the sink --- */

START_TEST(sink_writes_fields)
{
	struct rsrv r;
	struct tu_daemon d;
	const char *redis_args[] = { "--requirepass", "pa55:w@rd", NULL };
	const char *bodies[3] = {
		"{\"event\":\"message_created\",\"id\":1,\"message_type\":"
		    "\"incoming\",\"content\":\"h\\u00e9llo\\nthere\","
		    "\"conversation\":{\"id\":7}}",
		"{\"event\":\"conversation_status_changed\",\"id\":8,"
		    "\"status\":\"resolved\",\"inbox_id\":3}",
		"{\"event\":\"contact_created\",\"name\":\"x\"}",
	};
	const char *convs[3] = { "7", "8", NULL };
	const char *events[3] = { "message_created",
	    "conversation_status_changed", "contact_created" };
	char *ids[3], *conf, *sink, *log, *out;
	const char *args[4];
	redisContext *c;
	redisReply *rep;
	long long t0 = 0, t1;
	long status;
	int i, st;
	struct timespec ts;

	rsrv_start(&r, 0, NULL, false, redis_args);
	ck_assert_int_ge(asprintf(&sink, "url = redis://:pa55%%3Aw%%40rd@"
	    "127.0.0.1:%d/3\n", r.port), 0);
	ck_assert_int_ge(asprintf(&conf, "[server]\n\n[sink stream]\n"
	    "type = redis\n%s", sink), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	clock_gettime(CLOCK_REALTIME, &ts);
	t0 = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	for (i = 0; i < 3; i++) {
		ids[i] = post(&d, bodies[i], &status);
		ck_assert_int_eq(status, 200);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	t1 = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;

	c = rconn(&r, "pa55:w@rd", 3);
	for (i = 0; i < 200 && rinteger(c, "XLEN %s", "livedesk:events", NULL) < 3;
	    i++)
		usleep(20000);
	rep = rcmd(c, "XRANGE livedesk:events - +");
	ck_assert_uint_eq(rep->elements, 3);
	for (i = 0; i < 3; i++) {
		const redisReply *f = rep->element[i]->element[1];
		long long usec = atoll(fval(f, "received_usec"));

		ck_assert_str_eq(fval(f, "event"), events[i]);
		ck_assert_str_eq(fval(f, "delivery_id"), ids[i]);
		ck_assert_msg(usec >= t0 && usec <= t1, "received_usec %lld "
		    "not in [%lld, %lld]", usec, t0, t1);
		if (convs[i] != NULL)
			ck_assert_str_eq(fval(f, "conversation_id"), convs[i]);
		else
			ck_assert_ptr_null(fval(f, "conversation_id"));
		/* The original bytes, not a re-encoding. */
		ck_assert_str_eq(fval(f, "json"), bodies[i]);
		free(ids[i]);
	}
	freeReplyObject(rep);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);

	/* The password is in no log line and no printed configuration. */
	log = tu_read_file(d.log, NULL);
	ck_assert_msg(strstr(log, "pa55") == NULL, "password in the log: %s",
	    log);
	ck_assert_ptr_nonnull(strstr(log, "redis://:***@127.0.0.1"));
	free(log);
	args[0] = "-c";
	args[1] = d.conf;
	args[2] = "--check-config";
	args[3] = NULL;
	out = run_capture(args, &st);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert_ptr_null(strstr(out, "pa55"));
	ck_assert_ptr_nonnull(strstr(out, "type = redis"));
	ck_assert_ptr_nonnull(strstr(out, "url = redis://:***@127.0.0.1:"));
	free(out);
	/* A wrong password: said, and still not shown. */
	tu_daemon_free(&d);
	free(conf);
	ck_assert_int_ge(asprintf(&conf, "[sink stream]\ntype = redis\n"
	    "url = redis://:secret-wrong@127.0.0.1:%d\nretries = 1\n"
	    "retry_base = 10ms\n", r.port), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	free(post(&d, bodies[0], &status));
	ck_assert(wait_file_has(d.log, "gave up", 5000));
	log = tu_read_file(d.log, NULL);
	ck_assert_ptr_null(strstr(log, "secret-wrong"));
	ck_assert_msg(strstr(log, "WRONGPASS") != NULL ||
	    strstr(log, "invalid password") != NULL, "%s", log);
	free(log);
	tu_daemon_free(&d);
	redisFree(c);
	free(conf);
	free(sink);
	rsrv_free(&r);
}
END_TEST

START_TEST(sink_maxlen_and_partitions)
{
	struct rsrv r;
	struct tu_daemon d;
	char *conf, *body, *id;
	redisContext *c;
	redisReply *rep;
	long long n0, n1;
	long status;
	size_t i, p;
	int k;

	rsrv_start(&r, 0, NULL, false, NULL);
	conf = receiver_conf(&r, "", "maxlen = 20\npartitions = 2\n");
	ck_assert(tu_daemon_start(&d, conf, NULL));
	for (k = 0; k < 300; k++) {
		body = body_for(k % 10, k);
		id = post(&d, body, &status);
		ck_assert_int_eq(status, 200);
		free(id);
		free(body);
	}
	c = rconn(&r, NULL, 0);
	/* Each partition holds its parity of conversation, in order. */
	for (p = 0; p < 2; p++) {
		char stream[64];
		long last = -1;

		snprintf(stream, sizeof stream, "livedesk:events:%zu", p);
		rep = rcmd(c, "XRANGE %s - +", stream);
		ck_assert_uint_gt(rep->elements, 0);
		for (i = 0; i < rep->elements; i++) {
			const redisReply *f = rep->element[i]->element[1];
			json_t *o = json_loads(fval(f, "json"), 0, NULL);
			long seq = (long)json_integer_value(json_object_get(o,
			    "id"));

			ck_assert_uint_eq(atoll(fval(f, "conversation_id")) % 2,
			    p);
			ck_assert_int_gt(seq, last);
			last = seq;
			json_decref(o);
		}
		freeReplyObject(rep);
	}
	/* Trimmed, approximately (whole macro nodes): well under 150. */
	n0 = rinteger(c, "XLEN %s", "livedesk:events:0", NULL);
	n1 = rinteger(c, "XLEN %s", "livedesk:events:1", NULL);
	ck_assert_msg(n0 < 150 && n1 < 150, "not trimmed: %lld %lld", n0, n1);
	ck_assert_int_eq(rinteger(c, "EXISTS %s", "livedesk:events", NULL), 0);
	redisFree(c);
	tu_daemon_free(&d);
	free(conf);
	rsrv_free(&r);
}
END_TEST

/* Redis restarted while the receiver's connection was idle: the next
 * event goes through on a new connection, with no retry to spend. */
START_TEST(sink_survives_idle_restart)
{
	struct rsrv r;
	struct tu_daemon d;
	char *conf, *body = body_for(1, 1), *id;
	redisContext *c;
	long status;
	int port, i;

	rsrv_start(&r, 0, NULL, false, NULL);
	port = r.port;
	conf = receiver_conf(&r, "", "retries = 0\n");
	ck_assert(tu_daemon_start(&d, conf, NULL));
	free(post(&d, body, &status));
	ck_assert_int_eq(status, 200);
	c = rconn(&r, NULL, 0);
	for (i = 0; i < 100 && rinteger(c, "XLEN %s", "livedesk:events",
	    NULL) < 1; i++)
		usleep(20000);
	redisFree(c);
	rsrv_free(&r);
	rsrv_start(&r, port, NULL, false, NULL);
	id = post(&d, body, &status);
	ck_assert_int_eq(status, 200);
	c = rconn(&r, NULL, 0);
	for (i = 0; i < 100 && rinteger(c, "XLEN %s", "livedesk:events",
	    NULL) < 1; i++)
		usleep(20000);
	ck_assert_int_eq(rinteger(c, "XLEN %s", "livedesk:events", NULL), 1);
	ck_assert(!file_has(d.log, "gave up"));
	redisFree(c);
	tu_daemon_free(&d);
	free(id);
	free(body);
	free(conf);
	rsrv_free(&r);
}
END_TEST


/* Redis stops and starts again while events arrive: the receiver's spool
 * holds them and the sink's retries bring them through; the worker
 * reconnects; nothing is lost, nothing runs twice, order per
 * conversation holds. */
START_TEST(redis_restart_loses_nothing)
{
	enum { N = 150, CONVS = 10 };
	struct rsrv r;
	struct tu_daemon d, w;
	char *dir = tu_tmpdir(), *runs, *script, *cmd, *conf, *wconf, *ids[N];
	char *spool, *rdir, *text, *line, *save = NULL, id[64];
	int i, port, conv, seq, last[CONVS];
	long status;
	redisContext *c;

	ck_assert_int_ge(asprintf(&runs, "%s/runs", dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "echo \"$LIVEDESK_DELIVERY_ID "
	    "$LIVEDESK_CONVERSATION_ID $LIVEDESK_MESSAGE_ID\" >> %s", runs),
	    0);
	script = write_script(dir, "rec.sh", cmd);
	free(cmd);
	rsrv_start(&r, 0, NULL, true, NULL);
	port = r.port;
	rdir = strdup(r.dir);
	ck_assert_int_ge(asprintf(&spool, "spool_dir = %s/spool\n", dir), 0);
	conf = receiver_conf(&r, spool, "retries = 1000\nretry_base = 50ms\n"
	    "retry_cap = 300ms\ntimeout = 1s\nconcurrency = 4\n");
	ck_assert_int_ge(asprintf(&cmd, "[sink run]\ntype = exec\n"
	    "command = %s\nconcurrency = 4\n", script), 0);
	/* No worker dies here: a claim would only be the worker taking back
	 * an entry it is still running, on a machine slow enough. */
	wconf = worker_conf(&r, "30s", cmd);
	free(cmd);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	worker_start(&w, wconf, "w1");
	for (i = 0; i < N; i++) {
		char *body = body_for(i % CONVS, i);

		if (i == N / 3)
			rsrv_stop(&r, SIGTERM);
		if (i == 2 * N / 3) {
			free(r.dir);
			rsrv_start(&r, port, rdir, true, NULL);
		}
		ids[i] = post(&d, body, &status);
		ck_assert_msg(status == 200, "event %d: %ld", i, status);
		free(body);
		usleep(5000);
	}
	ck_assert_msg(tu_wait_file_lines(runs, N, 30000), "%d of %d ran",
	    tu_count_lines(runs), N);
	c = rconn(&r, NULL, 0);
	wait_pending_zero(c, "livedesk:events", 5000);
	for (i = 0; i < N; i++) {
		ck_assert_msg(count_in(runs, ids[i]) == 1, "%s ran %d times",
		    ids[i], count_in(runs, ids[i]));
		free(ids[i]);
	}
	for (i = 0; i < CONVS; i++)
		last[i] = -1;
	text = tu_read_file(runs, NULL);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		ck_assert_int_eq(sscanf(line, "%63s %d %d", id, &conv, &seq), 3);
		ck_assert_msg(seq > last[conv], "conversation %d: %d after %d",
		    conv, seq, last[conv]);
		last[conv] = seq;
	}
	free(text);
	ck_assert(file_has(d.log, "connected to redis://127.0.0.1"));
	ck_assert(file_has(w.log, "connected again"));
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&w)), 0);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	redisFree(c);
	tu_daemon_free(&w);
	tu_daemon_free(&d);
	free(conf);
	free(wconf);
	free(spool);
	free(script);
	free(runs);
	free(rdir);
	rsrv_free(&r);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* How often each delivery id ran, from file-sink archives: an object of
 * id -> count. */
static json_t *
archive_counts(char *const *files, int n_files)
{
	json_t *counts = json_object();
	char *text, *line, *save, *p, id[64];
	int i;

	for (i = 0; i < n_files; i++) {
		if (access(files[i], F_OK) != 0)
			continue;
		text = tu_read_file(files[i], NULL);
		save = NULL;
		for (line = strtok_r(text, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			p = strstr(line, "\"delivery_id\":\"");
			ck_assert_ptr_nonnull(p);
			ck_assert_int_eq(sscanf(p + 15, "%63[^\"]", id), 1);
			json_object_set_new(counts, id, json_integer(1 +
			    json_integer_value(json_object_get(counts, id))));
		}
		free(text);
	}
	return counts;
}

/* The layout of the documentation, on one machine: 2 receivers with
 * spools, one Redis, 2 workers. A few thousand events; in the middle a
 * worker is killed (and started again, as systemd would), later Redis is
 * stopped and started. Nothing is lost; nothing runs twice but what the
 * killed worker had run and not yet acknowledged. */
START_TEST(layout_survives_worker_kill_and_redis_restart)
{
	enum { N = 3000, CONVS = 50, KILL_AT = 1000, REDIS_AT = 2000 };
	struct rsrv r;
	struct tu_daemon d[2], w[2];
	char *dir = tu_tmpdir(), *conf[2], *wconf[2], *files[2], *spool;
	char *ids[N], *cmd;
	int i, port, n, twice = 0;
	long status;
	redisContext *c;
	json_t *counts;

	rsrv_start(&r, 0, NULL, true, NULL);
	port = r.port;
	for (i = 0; i < 2; i++) {
		ck_assert_int_ge(asprintf(&spool, "spool_dir = %s/spool%d\n",
		    dir, i), 0);
		conf[i] = receiver_conf(&r, spool, "retries = 1000\n"
		    "retry_base = 50ms\nretry_cap = 500ms\ntimeout = 1s\n"
		    "concurrency = 4\n");
		free(spool);
		ck_assert(tu_daemon_start(&d[i], conf[i], NULL));
		ck_assert_int_ge(asprintf(&files[i], "%s/w%d.jsonl", dir, i),
		    0);
		ck_assert_int_ge(asprintf(&cmd, "[sink archive]\ntype = file\n"
		    "path = %s\nconcurrency = 4\n", files[i]), 0);
		wconf[i] = worker_conf(&r, "1s", cmd);
		free(cmd);
		worker_start(&w[i], wconf[i], i == 0 ? "w0" : "w1");
	}
	for (i = 0; i < N; i++) {
		char *body = body_for(i % CONVS, i);

		if (i == KILL_AT) {
			tu_daemon_kill(&w[0], SIGKILL);
			tu_daemon_free(&w[0]);
			worker_start(&w[0], wconf[0], "w0");
		}
		if (i == REDIS_AT)
			rsrv_stop(&r, SIGTERM);
		if (i == REDIS_AT + 200) {
			char *rdir = strdup(r.dir);

			free(r.dir);
			rsrv_start(&r, port, rdir, true, NULL);
			free(rdir);
		}
		ids[i] = post(&d[i % 2], body, &status);
		ck_assert_msg(status == 200, "event %d: %ld", i, status);
		free(body);
	}
	c = rconn(&r, NULL, 0);
	{
		long long end = tu_now_ms() + 40000;

		while (tu_count_lines(files[0]) + tu_count_lines(files[1]) < N &&
		    tu_now_ms() < end)
			usleep(50000);
	}
	wait_pending_zero(c, "livedesk:events", 10000);
	counts = archive_counts(files, 2);
	for (i = 0; i < N; i++) {
		n = (int)json_integer_value(json_object_get(counts, ids[i]));
		ck_assert_msg(n >= 1, "event %d (%s) was lost", i, ids[i]);
		ck_assert_msg(n == 1 || (i < KILL_AT + 200 && n == 2),
		    "event %d ran %d times", i, n);
		twice += n > 1;
		free(ids[i]);
	}
	/* At most what the killed worker had in hand. */
	ck_assert_int_le(twice, 1000);
	json_decref(counts);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&w[i])), 0);
		ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d[i])), 0);
		tu_daemon_free(&w[i]);
		tu_daemon_free(&d[i]);
		free(conf[i]);
		free(wconf[i]);
		free(files[i]);
	}
	redisFree(c);
	rsrv_free(&r);
	tu_rmtree(dir);
	free(dir);
}
END_TEST
/* --- configuration and URLs (no server needed) --- */

static struct config *
load_text(const char *text, char **err)
{
	char *dir = tu_tmpdir(), *path;
	struct config *cfg;

	ck_assert_int_ge(asprintf(&path, "%s/t.conf", dir), 0);
	tu_write_file(path, text, strlen(text));
	*err = NULL;
	cfg = config_load(path, err);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
	return cfg;
}

static void
load_fails(const char *text, const char *want)
{
	char *err;
	struct config *cfg = load_text(text, &err);

	ck_assert_msg(cfg == NULL, "loaded, expected error %s", want);
	ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err,
	    want);
	ck_assert_msg(strstr(err, "hunter2") == NULL, "password in '%s'", err);
	free(err);
}

START_TEST(source_config)
{
	struct config *cfg;
	char *err, *buf = NULL;
	size_t len = 0;
	FILE *f;

	load_fails("[source]\nstreem = x\n[sink a]\ntype = log\n",
	    ":2: [source] unknown key 'streem'");
	load_fails("[source]\nurl = rediss://h\n[sink a]\ntype = log\n",
	    ":2: [source] url: rediss:// (TLS) is not supported");
	load_fails("[source]\nurl = redis://hunter2@h\n[sink a]\ntype = log\n",
	    ":2: [source] url: the part before '@' has no ':'");
	load_fails("[source]\nurl = redis://:hunter2@h:99999\n[sink a]\n"
	    "type = log\n", "port '99999' is not a number");
	load_fails("[source]\nclaim_after = 10ms\n[sink a]\ntype = log\n",
	    ":2: [source] claim_after: '10ms' is not a duration");
	load_fails("[source]\ngroup = a b\n[sink a]\ntype = log\n",
	    "has spaces or control characters");
	load_fails("[source]\n[source]\n[sink a]\ntype = log\n",
	    ":2: [source]: given twice (first at line 1)");
	load_fails("[source]\nstream = s\ndead_letters = s\n[sink a]\n"
	    "type = log\n", "dead_letters: the same stream");
	load_fails("[sink r]\ntype = redis\nurl = http://x\n",
	    ":3: [sink r] url: not a Redis URL");
	load_fails("[sink r]\ntype = redis\npartitions = 0\n",
	    ":3: [sink r] partitions: '0' is not a number from 1 to 1024");

	cfg = load_text("[source]\nurl = redis://:hunter2@10.0.0.5:6380/2\n"
	    "group = g\nclaim_after = 5s\n[sink a]\ntype = log\n", &err);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert(cfg->source.present);
	f = open_memstream(&buf, &len);
	config_print(cfg, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "\n[source]\nurl = "
	    "redis://:***@10.0.0.5:6380/2\nstream = livedesk:events\n"
	    "group = g\n"));
	ck_assert_ptr_nonnull(strstr(buf, "dead_letters = livedesk:events:"
	    "failed\nclaim_after = 5s\n"));
	ck_assert_ptr_null(strstr(buf, "hunter2"));
	free(buf);
	config_free(cfg);
	/* password_file: a path, or a systemd credential's name. */
	{
		char *creds = tu_tmpdir(), *pf;
		const struct config_sink *sk;

		unsetenv("CREDENTIALS_DIRECTORY");
		load_fails("[sink r]\ntype = redis\npassword_file = redis-pw\n",
		    "no systemd credentials are passed");
		ck_assert_int_ge(asprintf(&pf, "%s/redis-pw", creds), 0);
		tu_write_file(pf, "hunter2\n", 8);
		setenv("CREDENTIALS_DIRECTORY", creds, 1);
		cfg = load_text("[sink r]\ntype = redis\nurl = redis://h\n"
		    "password_file = redis-pw\n", &err);
		ck_assert_msg(cfg != NULL, "%s", err);
		sk = &cfg->sinks[0];
		buf = NULL;
		f = open_memstream(&buf, &len);
		sk->ops->conf_print(sk->conf, f);
		fclose(f);
		ck_assert_ptr_nonnull(strstr(buf, "url = redis://:***@h:6379/0\n"
		    "password_file = redis-pw\n"));
		ck_assert_ptr_null(strstr(buf, "hunter2"));
		free(buf);
		config_free(cfg);
		unsetenv("CREDENTIALS_DIRECTORY");
		free(pf);
		tu_rmtree(creds);
		free(creds);
	}
	/* Without [source], no worker keys are printed. */
	cfg = load_text("[sink a]\ntype = log\n", &err);
	ck_assert(!cfg->source.present);
	config_free(cfg);
}
END_TEST

START_TEST(redis_urls)
{
	static const struct {
		const char	*in;
		const char	*display;
		const char	*host, *path, *user, *password;
		int		 port;
		long long	 db;
	} ok[] = {
		{ "redis://localhost", "redis://localhost:6379/0", "localhost",
		    NULL, NULL, NULL, 6379, 0 },
		{ "redis://:p%40ss@h:7000/5", "redis://:***@h:7000/5", "h",
		    NULL, NULL, "p@ss", 7000, 5 },
		{ "redis://app:s3cret@[::1]:6390", "redis://app:***@[::1]:6390/0",
		    "::1", NULL, "app", "s3cret", 6390, 0 },
		{ "redis://:a@b@h/1", "redis://:***@h:6379/1", "h", NULL, NULL,
		    "a@b", 6379, 1 },
		{ "unix:/run/redis/redis.sock", "unix:///run/redis/redis.sock"
		    "?db=0", NULL, "/run/redis/redis.sock", NULL, NULL, 0, 0 },
		{ "unix://:pw@/tmp/r.sock?db=3", "unix://:***@/tmp/r.sock?db=3",
		    NULL, "/tmp/r.sock", NULL, "pw", 0, 3 },
	};
	static const char *const bad[] = {
		"redis://", "redis://h:0", "redis://h:x", "redis://h/x",
		"redis://[::1", "unix:relative", "unix:/x?password=y",
		"redis://user@h", "redis://:%zz@h", "memcache://h",
	};
	struct redis_url u;
	char *err;
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		ck_assert_msg(redis_url_parse(ok[i].in, &u, &err) == 0, "%s: %s",
		    ok[i].in, err);
		ck_assert_str_eq(u.display, ok[i].display);
		if (ok[i].host)
			ck_assert_str_eq(u.host, ok[i].host);
		else
			ck_assert_ptr_null(u.host);
		if (ok[i].path)
			ck_assert_str_eq(u.path, ok[i].path);
		if (ok[i].user)
			ck_assert_str_eq(u.user, ok[i].user);
		else
			ck_assert_ptr_null(u.user);
		if (ok[i].password)
			ck_assert_str_eq(u.password, ok[i].password);
		else
			ck_assert_ptr_null(u.password);
		if (ok[i].host)
			ck_assert_int_eq(u.port, ok[i].port);
		ck_assert_int_eq(u.db, ok[i].db);
		redis_url_free(&u);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err = NULL;
		ck_assert_msg(redis_url_parse(bad[i], &u, &err) == -1,
		    "accepted %s", bad[i]);
		ck_assert_ptr_nonnull(err);
		free(err);
	}
}
END_TEST

static Suite *
redis_suite(void)
{
	Suite *s = suite_create("redis");
	TCase *tc = tcase_create("redis");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, redis_urls);
	tcase_add_test(tc, source_config);
	tcase_add_test(tc, sink_writes_fields);
	tcase_add_test(tc, sink_maxlen_and_partitions);
	tcase_add_test(tc, sink_survives_idle_restart);
	tcase_add_test(tc, redis_restart_loses_nothing);
	tcase_add_test(tc, layout_survives_worker_kill_and_redis_restart);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return redis_suite_run("check_redis", redis_suite());
}
