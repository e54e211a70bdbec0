/* What the Redis suites share: a redis-server of their own on a loopback
 * port, connections and commands to it, workers, scripts and events. */
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
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "redisutil.h"
#include "testutil.h"

extern char **environ;

static const char *const json_ct[] = {
	"Content-Type: application/json", NULL
};

/* --- a redis-server of our own --- */

/* Spawns redis-server on r->port in r->dir; waits until it answers.
 * False when it exited first (its log says why) or *taken, another
 * process answering on that port. */
static bool
rsrv_spawn(struct rsrv *r, bool aof, const char *const *extra, bool *taken)
{
	char sport[16], *log;
	const char *argv[40];
	posix_spawn_file_actions_t fa;
	long long end;
	int argc = 0, fd, st, listening;

	*taken = false;
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
	if ((listening = tu_wait_listening(r->pid, r->port, 10000)) != 1) {
		ck_assert_msg(listening == 0 || tu_exited(r->pid),
		    "redis-server did not listen on port %d", r->port);
		(void)kill(r->pid, SIGKILL);
		while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR)
			;
		r->pid = 0;
		*taken = listening == 0;
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
void
rsrv_start(struct rsrv *r, int port, const char *dir, bool aof,
    const char *const *extra)
{
	char *log;
	bool taken;
	int tries;

	memset(r, 0, sizeof *r);
	r->dir = dir ? strdup(dir) : tu_tmpdir();
	ck_assert_int_ge(asprintf(&log, "%s/redis.log", r->dir), 0);
	/* It cannot bind port 0 and say which it got: a port that was free,
	 * another if that one was taken meanwhile (by a suite beside). */
	for (tries = 1;; tries++) {
		r->port = port ? port : tu_free_port();
		if (rsrv_spawn(r, aof, extra, &taken))
			break;
		ck_assert_msg(port == 0 && tries < 5 && (taken ||
		    tu_port_taken(log)),
		    "redis-server on port %d did not start (see %s)", r->port,
		    log);
		/* The next attempt's verdict is its own. */
		ck_assert_int_eq(truncate(log, 0), 0);
	}
	free(log);
}

void
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

void
rsrv_free(struct rsrv *r)
{
	rsrv_stop(r, SIGKILL);
	if (getenv("LD_KEEP_TMP") == NULL)
		tu_rmtree(r->dir);
	free(r->dir);
	r->dir = NULL;
}

redisContext *
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

redisReply *
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

long long
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
long long
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

void
wait_pending_zero(redisContext *c, const char *stream, int ms)
{
	long long end = tu_now_ms() + ms, n;

	while ((n = pending(c, stream, "livedesk")) != 0 && tu_now_ms() < end)
		usleep(20000);
	ck_assert_msg(n == 0, "%lld entries still pending", n);
}

/* The value of field name in an entry's field array, or NULL. */
const char *
fval(const redisReply *fields, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < fields->elements; i += 2)
		if (strcmp(fields->element[i]->str, name) == 0)
			return fields->element[i + 1]->str;
	return NULL;
}

/* --- daemons, scripts, events --- */

char *
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

bool
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

bool
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
void
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
char *
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

char *
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
char *
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

char *
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
char *
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
int
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
redis_suite_run(const char *name, Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	if (!have_redis_server()) {
		printf("%s: redis-server is not installed (make deps-check "
		    "installs it: apt-get install redis-server)\n", name);
		srunner_free(sr);
		return EXIT_FAILURE;
	}
	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
