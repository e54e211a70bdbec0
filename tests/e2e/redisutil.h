/* What the Redis suites (check_redis, check_redis_worker) share: a
 * redis-server of their own, connections to it, workers, scripts, events. */
#ifndef REDISUTIL_H
#define REDISUTIL_H

#include <sys/types.h>

#include <stdbool.h>

#include <check.h>
#include <hiredis/hiredis.h>

struct tu_daemon;

/* A redis-server of the test's own. */
struct rsrv {
	pid_t	 pid;
	int	 port;
	char	*dir;
};

/* Starts redis-server on port (0: a free one) in dir (NULL: a new one);
 * aof: append-only file with fsync always, so that a restart keeps the
 * streams. extra: more arguments (may be NULL). */
void		 rsrv_start(struct rsrv *, int port, const char *dir, bool aof,
		    const char *const *extra);
/* Sends sig and waits. */
void		 rsrv_stop(struct rsrv *, int sig);
/* Kills it and removes its directory. */
void		 rsrv_free(struct rsrv *);
/* A connection, authenticated with password and on db when given. */
redisContext	*rconn(const struct rsrv *, const char *password, int db);
/* A command's reply; the test fails when there is none. */
redisReply	*rcmd(redisContext *, const char *fmt, ...);
/* An integer reply to fmt with a and b. */
long long	 rinteger(redisContext *, const char *fmt, const char *a,
		    const char *b);
/* XPENDING's count for the group, 0 when nothing is pending. */
long long	 pending(redisContext *, const char *stream, const char *group);
/* Waits up to ms for the group livedesk to have nothing pending. */
void		 wait_pending_zero(redisContext *, const char *stream, int ms);
/* The value of field name in an entry's field array, or NULL. */
const char	*fval(const redisReply *fields, const char *name);

/* DIR/NAME, an executable sh script running body. */
char		*write_script(const char *dir, const char *name,
		    const char *body);
bool		 file_has(const char *path, const char *needle);
bool		 wait_file_has(const char *path, const char *needle, int ms);
/* How many times path holds needle. */
int		 count_in(const char *path, const char *needle);
/* Starts a worker with conf_text as consumer name; waits until it reads. */
void		 worker_start(struct tu_daemon *, const char *conf_text,
		    const char *name);
/* Runs the daemon with args to completion; returns its output. */
char		*run_capture(const char *const *args, int *status);
/* An incoming message_created, id seq, of conversation conv. */
char		*body_for(int conv, int seq);
/* POSTs; returns the delivery id (malloc'd) on 200, NULL otherwise. */
char		*post(const struct tu_daemon *, const char *body, long *status);
/* A receiver's configuration: a redis sink on r, and extra lines. */
char		*receiver_conf(const struct rsrv *, const char *server_extra,
		    const char *sink_extra);
/* A worker's configuration: claim_after, and sinks. */
char		*worker_conf(const struct rsrv *, const char *claim_after,
		    const char *sinks);
/* The main of a Redis suite called name: fails at once, saying why,
 * without redis-server; runs s otherwise. */
int		 redis_suite_run(const char *name, Suite *s);

#endif
