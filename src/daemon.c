/*
 * The daemon: one loop for every mode around the runtime and one input
 * (see daemon.h). Signals reach only this loop, which does what they ask
 * in ordinary code; the input hands events to the runtime and has no
 * lifecycle of its own beyond the steps of struct daemon_input.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "config.h"
#include "daemon.h"
#include "dispatch.h"
#include "http.h"
#include "log.h"
#include "runtime.h"
#include "service.h"
#include "source_redis.h"
#include "util.h"

/* An input's steps, in the order the daemon takes them. */
struct daemon_input {
	/* Before the runtime: what the input needs first (the sockets, a
	 * name). Returns NULL with *err. */
	void	*(*new)(const struct config *, const struct daemon_args *,
		    char **err);
	/* The hooks the dispatchers call as events finish, for an input
	 * that acknowledges its events itself; NULL: the spool's. */
	const struct dispatch_hooks *(*hooks)(void *in);
	/* Starts handing events to rt and says so. -1 with *err. */
	int	 (*start)(void *in, struct runtime *rt,
		    const struct config *cfg, char **err);
	/* A reload from old to cfg: warns of, or refuses (-1 with *err),
	 * what takes a restart to change. */
	int	 (*reload)(void *in, const struct config *old,
		    const struct config *cfg, char **err);
	/* Its own part of the status line, or NULL. */
	void	 (*status)(void *in, char *buf, size_t len);
	/* Takes nothing new, before the drain; or NULL. */
	void	 (*stop)(void *in);
	/* After the drain. */
	void	 (*free)(void *in);
};

struct daemon {
	const struct daemon_input *ops;
	const struct daemon_args *args;
	void		*in;
	struct runtime	*rt;
	struct admin	*admin;		/* the operator's page, or NULL */
	char		 status[256];	/* the STATUS= sent last */
};

/* --- the HTTP front --- */

struct http_in {
	struct http	*h;
	int		 first_fd, n_fds;	/* socket activation */
};

static void *
http_in_new(const struct config *cfg, const struct daemon_args *a,
    char **err)
{
	struct http_in *in = xcalloc(1, sizeof *in);

	(void)cfg;
	(void)a;
	if ((in->n_fds = service_listen_fds(&in->first_fd, err)) == -1) {
		free(in);
		return NULL;
	}
	return in;
}

static int
http_in_start(void *arg, struct runtime *rt, const struct config *cfg,
    char **err)
{
	struct http_in *in = arg;

	if ((in->h = http_new(rt, cfg, in->first_fd, in->n_fds, err)) ==
	    NULL)
		return -1;
	log_notice("livedesk-webhookd %s listening on %s, path %s, %zu sink%s",
	    LD_VERSION, http_address(in->h), cfg->path, cfg->n_sinks,
	    cfg->n_sinks == 1 ? "" : "s");
	return 0;
}

/* libmicrohttpd's limits stay as it started with them: a warning. */
static int
http_in_reload(void *arg, const struct config *old, const struct config *cfg,
    char **err)
{
	char *keys;

	(void)arg;
	(void)err;
	if ((keys = config_restart_keys(old, cfg)) != NULL)
		log_warn("reload: %s changed; that takes a restart, the "
		    "running value%s stay%s", keys,
		    strchr(keys, ',') ? "s" : "",
		    strchr(keys, ',') ? "" : "s");
	free(keys);
	return 0;
}

static void
http_in_free(void *arg)
{
	struct http_in *in = arg;

	http_free(in->h);
	free(in);
}

const struct daemon_input daemon_input_http = {
	.new = http_in_new,
	.start = http_in_start,
	.reload = http_in_reload,
	.free = http_in_free,
};

/* --- the Redis stream --- */

static void *
redis_in_new(const struct config *cfg, const struct daemon_args *a,
    char **err)
{
	return source_redis_new(cfg, a->consumer, err);
}

static const struct dispatch_hooks *
redis_in_hooks(void *in)
{
	return source_redis_hooks(in);
}

static int
redis_in_start(void *in, struct runtime *rt, const struct config *cfg,
    char **err)
{
	if (source_redis_start(in, rt, err) == -1)
		return -1;
	log_notice("livedesk-webhookd %s worker started, %zu sink%s",
	    LD_VERSION, cfg->n_sinks, cfg->n_sinks == 1 ? "" : "s");
	return 0;
}

static int
redis_in_reload(void *in, const struct config *old, const struct config *cfg,
    char **err)
{
	(void)old;
	return source_redis_reload(in, cfg, err);
}

static void
redis_in_status(void *in, char *buf, size_t len)
{
	source_redis_status(in, buf, len);
}

static void
redis_in_stop(void *in)
{
	source_redis_stop(in);
}

static void
redis_in_free(void *in)
{
	source_redis_free(in);
}

const struct daemon_input daemon_input_redis = {
	.new = redis_in_new,
	.hooks = redis_in_hooks,
	.start = redis_in_start,
	.reload = redis_in_reload,
	.status = redis_in_status,
	.stop = redis_in_stop,
	.free = redis_in_free,
};

/* --- the loop --- */

static void
warn_probes(const struct config *cfg)
{
	char *err = NULL;

	if (config_check(cfg, &err) == -1) {
		log_warn("%s", err);
		free(err);
	}
}

/* Swaps cfg in (taking ownership) once the input has had its say.
 * Returns -1 with *err to keep the running configuration. */
static int
reload_to(struct daemon *d, struct config *cfg, char **err)
{
	struct gen *g = runtime_acquire(d->rt);
	int prio = config_log_prio(cfg), rc;
	size_t n = cfg->n_sinks;

	rc = d->ops->reload(d->in, runtime_config(g), cfg, err);
	runtime_release(g);
	if (rc == -1) {
		config_free(cfg);
		return -1;
	}
	warn_probes(cfg);
	if (runtime_reload(d->rt, cfg, err) == -1)
		return -1;
	if (!d->args->verbose)
		log_set_level(prio);
	log_notice("configuration reloaded from %s: new configuration in use, "
	    "%zu sink%s", d->args->config_file, n, n == 1 ? "" : "s");
	return 0;
}

/* SIGHUP: a new configuration, or at least the files reopened. */
static void
daemon_reload(struct daemon *d)
{
	const struct daemon_args *a = d->args;
	struct config *cfg;
	char *err = NULL;

	service_reloading();
	if (a->config_file == NULL) {
		log_notice("SIGHUP: no configuration file to reload; files "
		    "reopened");
		runtime_reopen(d->rt);
	} else if ((cfg = a->load(a->load_arg, &err)) == NULL) {
		log_err("reload failed, keeping the running configuration:\n%s",
		    err);
		admin_reloaded(d->admin, err);
		free(err);
		runtime_reopen(d->rt);
	} else if (reload_to(d, cfg, &err) == -1) {
		log_err("reload failed, keeping the running configuration: %s",
		    err);
		admin_reloaded(d->admin, err);
		free(err);
		runtime_reopen(d->rt);
	} else
		admin_reloaded(d->admin, NULL);
	service_notify("READY=1");
}

/* STATUS= for systemctl status: the runtime's counts, then the input's;
 * sent when it changes. */
static void
daemon_status(struct daemon *d)
{
	char now[sizeof d->status];
	size_t n;

	n = (size_t)snprintf(now, sizeof now, "STATUS=");
	runtime_status(d->rt, now + n, sizeof now - n);
	n = strlen(now);
	if (d->ops->status != NULL && n + 2 < sizeof now) {
		memcpy(now + n, "; ", 3);
		d->ops->status(d->in, now + n + 2, sizeof now - n - 2);
	}
	if (strcmp(now, d->status) != 0) {
		service_notify(now);
		memcpy(d->status, now, sizeof now);
	}
}

/* Waits for signals; does the work they ask for in ordinary code, and
 * between them the watchdog, the reaping of retired generations and the
 * status line. Returns on SIGTERM or SIGINT. */
static void
daemon_loop(struct daemon *d, const sigset_t *set)
{
	int64_t wd = service_watchdog_usec(), tick_usec = 500000, now,
	    last_wd = 0;
	struct timespec tick;
	siginfo_t si;
	int sig;

	/* WATCHDOG=1 at half the interval: wake up at least that often. */
	if (wd > 0 && wd / 2 < tick_usec)
		tick_usec = wd / 2 > 0 ? wd / 2 : 1;
	tick.tv_sec = 0;
	tick.tv_nsec = (long)tick_usec * 1000;
	for (;;) {
		sig = sigtimedwait(set, &si, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			log_notice("%s: draining and stopping",
			    sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return;
		}
		if (sig == SIGHUP)
			daemon_reload(d);
		now = util_mono_msec() * 1000;
		if (wd > 0 && (last_wd == 0 || now - last_wd >= wd / 2 -
		    tick_usec / 10)) {
			service_notify("WATCHDOG=1");
			last_wd = now;
		}
		runtime_reap(d->rt);
		admin_tick(d->admin);
		daemon_status(d);
	}
}

/* Refuses, says STOPPING=1, stops the input taking more, and drains
 * every generation against one shutdown_grace. */
static void
daemon_stop(struct daemon *d)
{
	struct gen *g = runtime_acquire(d->rt);
	int64_t grace_ms = runtime_config(g)->shutdown_grace_ms;

	runtime_release(g);
	/* Not ready before systemd (or a test) hears STOPPING=1. */
	runtime_refuse(d->rt);
	/* Each generation drains for up to shutdown_grace; then the sinks
	 * stop (an exec sink's kill_after): a margin for those. */
	service_stopping((grace_ms + 15000) * 1000);
	if (d->ops->stop != NULL)
		d->ops->stop(d->in);
	runtime_shutdown(d->rt);
}

/* Threads inherit this mask: signals reach only sigtimedwait. */
static int
block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	/* EPIPE and EFBIG are handled where they happen. */
	if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0 ||
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
	    signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
		return -1;
	return 0;
}

int
daemon_run(const struct daemon_input *ops, struct config *cfg,
    const struct daemon_args *args)
{
	struct daemon d = { .ops = ops, .args = args };
	int prio = args->verbose ? LOG_DEBUG : config_log_prio(cfg), rc = 1;
	char *err = NULL;
	sigset_t set;

	if (service_stderr_is_journal())
		log_init_journal(service_journal, prio);
	else
		log_init(LOG_TARGET_STDERR, prio);
	warn_probes(cfg);
	if (block_signals(&set) == -1) {
		log_err("cannot set up signals: %s", strerror(errno));
		config_free(cfg);
		return 1;
	}
	if ((d.in = ops->new(cfg, args, &err)) == NULL) {
		config_free(cfg);
		goto fail;
	}
	/* cfg is the runtime's from here on, and its first generation's. */
	if ((d.rt = runtime_new(cfg, ops->hooks != NULL ? ops->hooks(d.in) :
	    NULL, &err)) == NULL)
		goto fail;
	/* The page after the runtime, and gone before it stops; up before
	 * the input, so that whoever sees the daemon ready finds it. */
	if ((d.admin = admin_new(d.rt, cfg, &err)) == NULL && err != NULL)
		goto fail;
	if (d.admin != NULL)
		log_notice("admin page on %s", admin_address(d.admin));
	if (ops->start(d.in, d.rt, cfg, &err) == -1)
		goto fail;
	runtime_start(d.rt);
	service_notify("READY=1");
	daemon_loop(&d, &set);
	admin_free(d.admin);
	d.admin = NULL;
	daemon_stop(&d);
	rc = 0;
	goto out;
fail:
	log_err("%s", err);
	free(err);
out:
	admin_free(d.admin);
	/* The input before the runtime: requests hold generations. */
	if (d.in != NULL)
		ops->free(d.in);
	runtime_free(d.rt);
	return rc;
}
