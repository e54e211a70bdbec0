/* livedesk-webhookd: reads options and configuration, starts the parts in
 * order, waits for signals, stops the parts in reverse order. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "dispatch.h"
#include "http.h"
#include "log.h"
#include "runtime.h"
#include "service.h"
#include "source_redis.h"
#include "spool.h"
#include "util.h"

struct options {
	const char	*config;
	const char	*listen;
	const char	*path;
	const char	*replay;
	const char	*sink;
	const char	*consumer;	/* --worker=NAME */
	bool		 worker;
	bool		 check_config;
	bool		 spool_status;
	bool		 verbose;
};

static void
usage(FILE *out)
{
	fprintf(out,
"usage: livedesk-webhookd [-c FILE] [-l ADDR:PORT] [-p PATH] [--check-config]\n"
"\n"
"Receives LiveDesk webhooks and hands each event to the configured sinks.\n"
"\n"
"  -c, --config FILE     read the configuration from FILE (INI); without it\n"
"                        the built-in default: 127.0.0.1:8080, /webhook, log\n"
"  -l, --listen ADDR:PORT  address to listen on ([::1]:8080 for IPv6)\n"
"  -p, --path PATH       the webhook's URL path (default /webhook)\n"
"      --check-config    validate, print the effective configuration, exit\n"
"      --replay PATH     deliver a dead letter, a directory of them, or a\n"
"                        file-sink JSON Lines archive to the sinks, exit\n"
"      --sink NAME       with --replay: only to this sink\n"
"      --spool-status    print pending and dead events in the spool, exit\n"
"      --worker[=NAME]   take events from the Redis stream of [source] as\n"
"                        consumer NAME (default: [source] consumer, or the\n"
"                        host name) instead of listening on HTTP\n"
"  -v, --verbose         log at debug level\n"
"  -h, --help            this text\n"
"  -V, --version         the version\n"
"\n"
"Signals: SIGTERM/SIGINT drain and stop; SIGHUP reloads the configuration\n"
"and reopens files. See livedesk-webhookd(8), livedesk-webhookd.conf(5).\n");
}

/* Returns -1 to exit 2 (usage), 1 to exit 0 (--help), 0 to go on. */
static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "path", required_argument, NULL, 'p' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "replay", required_argument, NULL, 'R' },
		{ "sink", required_argument, NULL, 'S' },
		{ "spool-status", no_argument, NULL, 'T' },
		{ "worker", optional_argument, NULL, 'W' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "c:l:p:vhV", longopts, NULL))
	    != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'p': o->path = optarg; break;
		case 'C': o->check_config = true; break;
		case 'R': o->replay = optarg; break;
		case 'S': o->sink = optarg; break;
		case 'T': o->spool_status = true; break;
		case 'W': o->worker = true; o->consumer = optarg; break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); return 1;
		case 'V': printf("livedesk-webhookd %s\n", LD_VERSION);
			return 1;
		default: usage(stderr); return -1;
		}
	}
	if (o->sink != NULL && o->replay == NULL) {
		fprintf(stderr, "livedesk-webhookd: --sink goes with --replay\n");
		return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "livedesk-webhookd: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

/* The configuration file, or the default, with the command line over it. */
static struct config *
load_config(const struct options *o, char **err)
{
	struct config *cfg;

	cfg = o->config ? config_load(o->config, err) : config_default();
	if (cfg == NULL)
		return NULL;
	if (o->listen != NULL) {
		free(cfg->listen);
		cfg->listen = xstrdup(o->listen);
	}
	if (o->path != NULL) {
		if (o->path[0] != '/') {
			*err = xasprintf("--path '%s' must start with /",
			    o->path);
			config_free(cfg);
			return NULL;
		}
		free(cfg->path);
		cfg->path = xstrdup(o->path);
	}
	return cfg;
}

static int
check_config(const struct options *o)
{
	char *err = NULL;
	struct config *cfg = load_config(o, &err);
	int rc = 0;

	if (cfg == NULL) {
		fprintf(stderr, "%s\n", err);
		free(err);
		return 1;
	}
	config_print(cfg, stdout);
	if (config_check(cfg, &err) == -1) {
		fprintf(stderr, "%s\n", err);
		free(err);
		rc = 1;
	}
	config_free(cfg);
	return rc;
}

struct replay_count {
	pthread_mutex_t	 lock;
	size_t		 ok, failed;
};

static void
replay_sink_done(void *arg, struct ld_event *ev, const char *sink,
    const struct sink_result *r, int attempts)
{
	struct replay_count *rc = arg;

	(void)attempts;
	pthread_mutex_lock(&rc->lock);
	if (r->ok)
		rc->ok++;
	else
		rc->failed++;
	pthread_mutex_unlock(&rc->lock);
	if (!r->ok)
		fprintf(stderr, "replay: %s to sink %s failed: %s\n",
		    ev->delivery_id, sink, r->detail);
}

static void
replay_submit(void *arg, struct ld_event *ev, const char *const *done,
    size_t n_done)
{
	(void)dispatch_submit(arg, ev, done, n_done, DISPATCH_FORCE);
}

/* --replay: delivers what PATH holds to the configured sinks, waits for
 * every delivery (retries included), exits 0 when all went through. */
static int
replay(const struct options *o)
{
	struct replay_count rc = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
	struct dispatch_hooks hooks = { replay_sink_done, NULL, &rc };
	struct dispatch *d = NULL;
	struct config *cfg;
	char *err = NULL;
	long n;
	int status = 1;

	if ((cfg = load_config(o, &err)) == NULL)
		goto fail;
	if (o->sink != NULL && config_keep_sink(cfg, o->sink) == -1) {
		err = xasprintf("--sink %s: no such sink in %s", o->sink,
		    cfg->file ? cfg->file : "the default configuration");
		goto fail;
	}
	log_init(LOG_TARGET_STDERR, o->verbose ? LOG_DEBUG :
	    config_log_prio(cfg));
	if ((d = dispatch_new(cfg, &hooks, &err)) == NULL)
		goto fail;
	if ((n = spool_replay_read(o->replay, replay_submit, d, &err)) == -1)
		goto fail;
	(void)dispatch_drain(d, INT64_MAX / 4);
	printf("replayed %ld event%s from %s: %zu deliver%s ok, %zu failed\n",
	    n, n == 1 ? "" : "s", o->replay, rc.ok, rc.ok == 1 ? "y" : "ies",
	    rc.failed);
	status = rc.failed == 0 ? 0 : 1;
	goto out;
fail:
	fprintf(stderr, "livedesk-webhookd: %s\n", err);
	free(err);
out:
	dispatch_free(d);
	config_free(cfg);
	return status;
}

/* --spool-status: what the spool holds, read from disk. */
static int
print_spool_status(const struct options *o)
{
	struct spool_status st;
	struct config *cfg;
	char *err = NULL;
	int rc = 1;

	if ((cfg = load_config(o, &err)) == NULL)
		goto fail;
	if (cfg->spool_dir == NULL) {
		err = xstrdup("no spool_dir in the configuration");
		goto fail;
	}
	if (spool_status(NULL, cfg->spool_dir, &st, &err) == -1)
		goto fail;
	printf("spool %s\npending %zu\ndead %zu\nfiles %zu\n",
	    cfg->spool_dir, st.pending, st.dead, st.batches);
	if (st.dead > 0)
		printf("# dead letters are in %s/failed/; re-deliver them with "
		    "--replay %s/failed\n", cfg->spool_dir, cfg->spool_dir);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "livedesk-webhookd: %s\n", err);
	free(err);
out:
	config_free(cfg);
	return rc;
}

static void
warn_probes(const struct config *cfg)
{
	char *err = NULL;

	if (config_check(cfg, &err) == -1) {
		log_warn("%s", err);
		free(err);
	}
}

static void
reload(struct runtime *rt, const struct options *o)
{
	char *err = NULL;
	struct config *cfg;
	struct gen *g;

	service_reloading();
	if (o->config == NULL) {
		log_notice("SIGHUP: no configuration file to reload; files "
		    "reopened");
		runtime_reopen(rt);
	} else if ((cfg = load_config(o, &err)) == NULL) {
		log_err("reload failed, keeping the running configuration:\n%s",
		    err);
		free(err);
		runtime_reopen(rt);
	} else {
		char *keys;

		g = runtime_acquire(rt);
		if ((keys = config_restart_keys(g->cfg, cfg)) != NULL)
			log_warn("reload: %s changed; that takes a restart, "
			    "the running value%s stay%s", keys,
			    strchr(keys, ',') ? "s" : "",
			    strchr(keys, ',') ? "" : "s");
		free(keys);
		runtime_release(g);
		warn_probes(cfg);
		if (runtime_reload(rt, cfg, &err) == -1) {
			log_err("reload failed, keeping the running "
			    "configuration: %s", err);
			free(err);
			runtime_reopen(rt);
		} else {
			if (!o->verbose)
				log_set_level(config_log_prio(
				    rt->cur->cfg));
			log_notice("configuration reloaded from %s",
			    o->config);
		}
	}
	service_notify("READY=1");
}

/* SIGHUP in worker mode: new sinks once the entries in hand are done. */
static void
worker_reload(struct source_redis *src, const struct options *o)
{
	char *err = NULL;
	struct config *cfg;

	service_reloading();
	if (o->config == NULL) {
		log_notice("SIGHUP: no configuration file to reload; files "
		    "reopened");
		source_redis_reopen(src);
	} else if ((cfg = load_config(o, &err)) == NULL) {
		log_err("reload failed, keeping the running configuration:\n%s",
		    err);
		free(err);
		source_redis_reopen(src);
	} else {
		int prio = config_log_prio(cfg);

		warn_probes(cfg);
		if (source_redis_reload(src, cfg, &err) == -1) {
			log_err("reload failed, keeping the running "
			    "configuration: %s", err);
			free(err);
			source_redis_reopen(src);
		} else {
			if (!o->verbose)
				log_set_level(prio);
			log_notice("configuration reloaded from %s",
			    o->config);
		}
	}
	service_notify("READY=1");
}

static void
worker_status(struct source_redis *src, char *last, size_t len)
{
	char now[200];

	memcpy(now, "STATUS=", 7);
	source_redis_status(src, now + 7, sizeof now - 7);
	if (strcmp(now, last) != 0) {
		service_notify(now);
		snprintf(last, len, "%s", now);
	}
}

/* STATUS= for systemctl status, sent when it changes. last holds the one
 * sent before. */
static void
notify_status(struct runtime *rt, char *last, size_t len)
{
	struct metrics *m = &rt->metrics;
	struct gen *g = runtime_acquire(rt);
	struct dispatch_stats ds;
	uint64_t failed = 0;
	size_t i;
	char now[160];

	runtime_stats(rt, g, &ds);
	runtime_release(g);
	for (i = 0; i < ds.n_sinks; i++)
		failed += ds.sinks[i].dead;
	snprintf(now, sizeof now, "STATUS=%llu events accepted, %zu queued, "
	    "%llu failed deliveries",
	    (unsigned long long)atomic_load(&m->accepted), ds.queued,
	    (unsigned long long)failed);
	free(ds.sinks);
	if (strcmp(now, last) != 0) {
		service_notify(now);
		snprintf(last, len, "%s", now);
	}
}

/* Waits for signals; does the work they ask for in ordinary code. For a
 * receiver rt is set, for a worker src. */
static void
main_loop(struct runtime *rt, struct source_redis *src,
    const struct options *o, const sigset_t *set)
{
	int64_t wd = service_watchdog_usec(), tick_usec = 500000, now,
	    last_wd = 0;
	struct timespec tick;
	char status[200] = "";
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
		if (sig == SIGHUP && src != NULL)
			worker_reload(src, o);
		else if (sig == SIGHUP)
			reload(rt, o);
		now = util_mono_msec() * 1000;
		if (wd > 0 && (last_wd == 0 || now - last_wd >= wd / 2 -
		    tick_usec / 10)) {
			service_notify("WATCHDOG=1");
			last_wd = now;
		}
		if (src != NULL) {
			worker_status(src, status, sizeof status);
			continue;
		}
		runtime_reap(rt);
		notify_status(rt, status, sizeof status);
	}
}

/* --worker or [source]: the stream instead of HTTP, the same loop. Takes
 * ownership of cfg. */
static int
run_worker(const struct options *o, struct config *cfg, const sigset_t *set)
{
	struct source_redis *src;
	char *err = NULL;
	int64_t grace_ms;

	if ((src = source_redis_new(cfg, o->consumer, &err)) == NULL) {
		log_err("%s", err);
		free(err);
		return 1;
	}
	log_notice("livedesk-webhookd %s worker started, %zu sink%s",
	    LD_VERSION, cfg->n_sinks, cfg->n_sinks == 1 ? "" : "s");
	service_notify("READY=1");
	main_loop(NULL, src, o, set);
	grace_ms = source_redis_grace_ms(src);
	service_stopping((grace_ms + 15000) * 1000);
	(void)source_redis_drain(src);
	source_redis_free(src);
	return 0;
}

static int
run(const struct options *o)
{
	struct runtime *rt = NULL;
	struct http *h = NULL;
	struct config *cfg;
	struct gen *g;
	char *err = NULL;
	sigset_t set;
	int64_t grace_ms;
	int first_fd, n_fds, rc = 1;

	if ((cfg = load_config(o, &err)) == NULL) {
		fprintf(stderr, "livedesk-webhookd: %s\n", err);
		free(err);
		return 1;
	}
	log_init(service_stderr_is_journal() ? LOG_TARGET_JOURNAL :
	    LOG_TARGET_STDERR, o->verbose ? LOG_DEBUG : config_log_prio(cfg));
	warn_probes(cfg);
	/* Threads inherit this mask: signals reach only sigtimedwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* EPIPE and EFBIG are handled where they happen. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
	    signal(SIGXFSZ, SIG_IGN) == SIG_ERR) {
		log_err("cannot set up signals: %s", strerror(errno));
		config_free(cfg);
		return 1;
	}
	if (o->worker || cfg->source.present)
		return run_worker(o, cfg, &set);
	if ((n_fds = service_listen_fds(&first_fd, &err)) == -1) {
		config_free(cfg);
		goto fail;
	}
	if ((rt = runtime_new(cfg, &err)) == NULL)
		goto fail;
	if ((h = http_new(rt, cfg, first_fd, n_fds, &err)) == NULL)
		goto fail;
	runtime_start(rt);
	log_notice("livedesk-webhookd %s listening on %s, path %s, %zu sink%s",
	    LD_VERSION, http_address(h), cfg->path, cfg->n_sinks,
	    cfg->n_sinks == 1 ? "" : "s");
	service_notify("READY=1");
	main_loop(rt, NULL, o, &set);
	g = runtime_acquire(rt);
	grace_ms = g->cfg->shutdown_grace_ms;
	runtime_release(g);
	/* Each generation drains for up to shutdown_grace; then the sinks
	 * stop (an exec sink's kill_after): a margin for those. */
	/* Not ready before systemd (or a test) hears STOPPING=1. */
	runtime_refuse(rt);
	service_stopping((grace_ms + 15000) * 1000);
	runtime_shutdown(rt);
	rc = 0;
	goto out;
fail:
	log_err("%s", err);
	free(err);
out:
	http_free(h);
	runtime_free(rt);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options o;
	int rc;

	memset(&o, 0, sizeof o);
	if ((rc = parse_options(argc, argv, &o)) != 0)
		return rc < 0 ? 2 : 0;
	if (o.check_config)
		return check_config(&o);
	if (o.replay != NULL)
		return replay(&o);
	if (o.spool_status)
		return print_spool_status(&o);
	return run(&o);
}
