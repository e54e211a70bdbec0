/* Redis Streams between receivers and workers, against a real redis-server
 * on a loopback port: the sink's entries field by field, workers sharing a
 * group (each event once, in order per conversation, the same environment
 * as a receiver's exec sink), a worker killed mid-script, a worker's own
 * pending entries after a restart, Redis stopped and started while events
 * arrive, bad entries and failed sinks dead-lettered, the [source] keys
 * and URLs. Without redis-server it fails and says so (make deps-check
 * installs it). */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "config.h"
#include "redis.h"
#include "testutil.h"

extern char **environ;

static const char *const json_ct[] = {
	"Content-Type: application/json", NULL
};

/* --- a redis-server of our own --- */

struct rsrv {
	pid_t	 pid;
	int	 port;
	char	*dir;
};

/* Spawns redis-server on r->port in r->dir; waits until it answers.
 * False when it exited first (its log says why). */
static bool
rsrv_spawn(struct rsrv *r, bool aof, const char *const *extra)
{
	char sport[16], *log;
	const char *argv[40];
	posix_spawn_file_actions_t fa;
	long long end;
	int argc = 0, fd, st;

	snprintf(sport, sizeof sport, "%d", r->port);
	argv[argc++] = "redis-server";
	argv[argc++] = "--port";
	argv[argc++] = sport;
	argv[argc++] = "--bind";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "--save";
	argv[argc++] = "";
	argv[argc++] = "--appendonly";
	argv[argc++] = aof ? "yes" : "no";
	if (aof) {
		argv[argc++] = "--appendfsync";
		argv[argc++] = "always";
	}
	argv[argc++] = "--daemonize";
	argv[argc++] = "no";
	argv[argc++] = "--dir";
	argv[argc++] = r->dir;
	for (; extra != NULL && *extra != NULL && argc < 38; extra++)
		argv[argc++] = *extra;
	argv[argc] = NULL;
	ck_assert_int_ge(asprintf(&log, "%s/redis.log", r->dir), 0);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	ck_assert_int_eq(posix_spawnp(&r->pid, "redis-server", &fa, NULL,
	    (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	free(log);
	/* Listening itself, not some other server on that port. */
	if (tu_listen_port(r->pid, 0, 10000) != r->port) {
		ck_assert_msg(waitpid(r->pid, &st, WNOHANG) == r->pid,
		    "redis-server did not listen on port %d", r->port);
		r->pid = 0;
		return false;
	}
	/* Up when it answers (a password still gets an answer). */
	for (end = tu_now_ms() + 10000; tu_now_ms() < end; usleep(10000)) {
		redisContext *c = redisConnect("127.0.0.1", r->port);
		redisReply *rep = NULL;
		bool up;

		if (c != NULL && !c->err)
			rep = redisCommand(c, "PING");
		up = rep != NULL;
		if (rep != NULL)
			freeReplyObject(rep);
		if (c != NULL)
			redisFree(c);
		if (up)
			return true;
	}
	ck_abort_msg("redis-server on port %d did not come up", r->port);
	return false;
}

/* Starts redis-server on port (0: a free one) in dir (NULL: a new one);
 * aof: append-only file with fsync always, so that a restart keeps the
 * streams. extra: more arguments (may be NULL). */
static void
rsrv_start(struct rsrv *r, int port, const char *dir, bool aof,
    const char *const *extra)
{
	char *log;
	int tries;

	memset(r, 0, sizeof *r);
	r->dir = dir ? strdup(dir) : tu_tmpdir();
	ck_assert_int_ge(asprintf(&log, "%s/redis.log", r->dir), 0);
	/* It cannot bind port 0 and say which it got: a port that was free,
	 * another if that one was taken meanwhile (by a suite beside). */
	for (tries = 1;; tries++) {
		r->port = port ? port : tu_free_port();
		if (rsrv_spawn(r, aof, extra))
			break;
		ck_assert_msg(port == 0 && tries < 5 && tu_port_taken(log),
		    "redis-server on port %d did not start (see %s)", r->port,
		    log);
		/* The next attempt's verdict is its own. */
		ck_assert_int_eq(truncate(log, 0), 0);
	}
	free(log);
}

static void
rsrv_stop(struct rsrv *r, int sig)
{
	int st;

	if (r->pid <= 0)
		return;
	kill(r->pid, sig);
	while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR)
		;
	r->pid = 0;
}

static void
rsrv_free(struct rsrv *r)
{
	rsrv_stop(r, SIGKILL);
	if (getenv("LD_KEEP_TMP") == NULL)
		tu_rmtree(r->dir);
	free(r->dir);
	r->dir = NULL;
}

static redisContext *
rconn(const struct rsrv *r, const char *password, int db)
{
	redisContext *c = redisConnect("127.0.0.1", r->port);
	redisReply *rep;

	ck_assert_msg(c != NULL && !c->err, "connect to redis: %s",
	    c ? c->errstr : "out of memory");
	if (password != NULL) {
		rep = redisCommand(c, "AUTH %s", password);
		ck_assert_int_eq(rep->type, REDIS_REPLY_STATUS);
		freeReplyObject(rep);
	}
	if (db != 0) {
		rep = redisCommand(c, "SELECT %d", db);
		ck_assert_int_eq(rep->type, REDIS_REPLY_STATUS);
		freeReplyObject(rep);
	}
	return c;
}

static redisReply *
rcmd(redisContext *c, const char *fmt, ...)
{
	redisReply *rep;
	va_list ap;

	va_start(ap, fmt);
	rep = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_msg(rep != NULL, "redis command %s: %s", fmt, c->errstr);
	return rep;
}

static long long
rinteger(redisContext *c, const char *fmt, const char *a, const char *b)
{
	redisReply *rep = rcmd(c, fmt, a, b);
	long long n;

	ck_assert_msg(rep->type == REDIS_REPLY_INTEGER, "%s: %s", fmt,
	    rep->type == REDIS_REPLY_ERROR ? rep->str : "not an integer");
	n = rep->integer;
	freeReplyObject(rep);
	return n;
}

/* XPENDING's count for the group, 0 when nothing is pending. */
static long long
pending(redisContext *c, const char *stream, const char *group)
{
	redisReply *rep = rcmd(c, "XPENDING %s %s", stream, group);
	long long n = -1;

	if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
	    rep->element[0]->type == REDIS_REPLY_INTEGER)
		n = rep->element[0]->integer;
	freeReplyObject(rep);
	return n;
}

static void
wait_pending_zero(redisContext *c, const char *stream, int ms)
{
	long long end = tu_now_ms() + ms, n;

	while ((n = pending(c, stream, "livedesk")) != 0 && tu_now_ms() < end)
		usleep(20000);
	ck_assert_msg(n == 0, "%lld entries still pending", n);
}

/* The value of field name in an entry's field array, or NULL. */
static const char *
fval(const redisReply *fields, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < fields->elements; i += 2)
		if (strcmp(fields->element[i]->str, name) == 0)
			return fields->element[i + 1]->str;
	return NULL;
}

/* --- daemons, scripts, events --- */

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

static bool
file_has(const char *path, const char *needle)
{
	char *text;
	bool has;

	if (access(path, F_OK) != 0)
		return false;
	text = tu_read_file(path, NULL);
	has = strstr(text, needle) != NULL;
	free(text);
	return has;
}

static bool
wait_file_has(const char *path, const char *needle, int ms)
{
	long long end = tu_now_ms() + ms;

	do {
		if (file_has(path, needle))
			return true;
		usleep(20000);
	} while (tu_now_ms() < end);
	return false;
}

/* Starts a worker with conf_text as consumer name; waits until it reads. */
static void
worker_start(struct tu_daemon *d, const char *conf_text, const char *name)
{
	char bin[256], opt[128];
	const char *argv[8];
	posix_spawn_file_actions_t fa;
	int fd;

	memset(d, 0, sizeof *d);
	d->dir = tu_tmpdir();
	ck_assert_int_ge(asprintf(&d->conf, "%s/worker.conf", d->dir), 0);
	ck_assert_int_ge(asprintf(&d->log, "%s/worker.log", d->dir), 0);
	tu_write_file(d->conf, conf_text, strlen(conf_text));
	snprintf(bin, sizeof bin, "%s/livedesk-webhookd", tu_build_dir());
	snprintf(opt, sizeof opt, "--worker=%s", name);
	argv[0] = bin;
	argv[1] = "-c";
	argv[2] = d->conf;
	argv[3] = opt;
	argv[4] = NULL;
	fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	ck_assert_int_eq(posix_spawn(&d->pid, bin, &fa, NULL,
	    (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	ck_assert_msg(wait_file_has(d->log, "as consumer", 10000),
	    "worker %s did not start reading; see %s", name, d->log);
}

/* Runs the daemon with args to completion; returns its output. */
static char *
run_capture(const char *const *args, int *status)
{
	char bin[256], *dir = tu_tmpdir(), *out, *text;
	const char *argv[16];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int argc = 0, fd;

	snprintf(bin, sizeof bin, "%s/livedesk-webhookd", tu_build_dir());
	argv[argc++] = bin;
	for (; *args != NULL && argc < 15; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	ck_assert_int_ge(asprintf(&out, "%s/out", dir), 0);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	ck_assert_int_eq(posix_spawn(&pid, bin, &fa, NULL,
	    (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	ck_assert_int_eq(waitpid(pid, status, 0), pid);
	text = tu_read_file(out, NULL);
	tu_rmtree(dir);
	free(dir);
	free(out);
	return text;
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
post(const struct tu_daemon *d, const char *body, long *status)
{
	struct tu_response r;
	char url[256], *id = NULL;
	json_t *o;

	snprintf(url, sizeof url, "%s/webhook", d->url);
	tu_http(&r, "POST", url, json_ct, body, strlen(body));
	if (status != NULL)
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
receiver_conf(const struct rsrv *r, const char *server_extra,
    const char *sink_extra)
{
	char *conf;

	ck_assert_int_ge(asprintf(&conf, "[server]\nshutdown_grace = 2s\n%s\n"
	    "[sink stream]\ntype = redis\nurl = redis://127.0.0.1:%d\n%s\n",
	    server_extra, r->port, sink_extra), 0);
	return conf;
}

/* A worker's configuration: claim_after, and sinks. */
static char *
worker_conf(const struct rsrv *r, const char *claim_after,
    const char *sinks)
{
	char *conf;

	ck_assert_int_ge(asprintf(&conf, "[server]\nshutdown_grace = 2s\n\n"
	    "[source]\nurl = redis://127.0.0.1:%d\nclaim_after = %s\n\n%s",
	    r->port, claim_after, sinks), 0);
	return conf;
}

/* How many lines of path hold needle. */
static int
count_in(const char *path, const char *needle)
{
	char *text, *p;
	int n = 0;

	if (access(path, F_OK) != 0)
		return 0;
	text = tu_read_file(path, NULL);
	for (p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(text);
	return n;
}

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

/* --- workers --- */

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
	ck_assert_int_ge(asprintf(&cmd, "echo \"start $LIVEDESK_DELIVERY_ID "
	    "$PPID $$\" >> %s\n[ -e %s.once ] || { touch %s.once; sleep 2.5; }"
	    "\necho \"done $LIVEDESK_DELIVERY_ID $PPID\" >> %s", runs, runs,
	    runs, runs), 0);
	script = write_script(dir, "slow.sh", cmd);
	free(cmd);
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
	ck_assert_int_ge(asprintf(&cmd, "echo \"start $LIVEDESK_DELIVERY_ID "
	    "$PPID $$\" >> %s\n[ -e %s.once ] || { touch %s.once; sleep 1; }"
	    "\necho \"done $LIVEDESK_DELIVERY_ID $PPID\" >> %s", runs, runs,
	    runs, runs), 0);
	script = write_script(dir, "slow.sh", cmd);
	free(cmd);
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
	wconf = worker_conf(&r, "2s", cmd);
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
	tcase_add_test(tc, worker_runs_like_receiver);
	tcase_add_test(tc, two_workers_exactly_once);
	tcase_add_test(tc, killed_worker_entry_claimed);
	tcase_add_test(tc, worker_restart_runs_own_pending);
	tcase_add_test(tc, redis_restart_loses_nothing);
	tcase_add_test(tc, redis_outage_no_double_run);
	tcase_add_test(tc, layout_survives_worker_kill_and_redis_restart);
	tcase_add_test(tc, bad_entries_dead_lettered);
	tcase_add_test(tc, worker_reload);
	suite_add_tcase(s, tc);
	return s;
}

/* Whether redis-server is on PATH. */
static bool
have_redis_server(void)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, p[512];
	bool found = false;

	copy = strdup(path ? path : "/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir != NULL && !found;
	    dir = strtok_r(NULL, ":", &save)) {
		snprintf(p, sizeof p, "%s/redis-server", dir);
		found = access(p, X_OK) == 0;
	}
	free(copy);
	return found;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (!have_redis_server()) {
		printf("check_redis: redis-server is not installed (make "
		    "deps-check installs it: apt-get install redis-server)\n");
		return EXIT_FAILURE;
	}
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(redis_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
