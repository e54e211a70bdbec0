/* livedesk-webhookd: reads options and configuration, starts the parts in
 * order, waits for signals, stops the parts in reverse order. */
#include <errno.h>
#include <getopt.h>
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
#include "util.h"

struct options {
	const char	*config;
	const char	*listen;
	const char	*path;
	bool		 check_config;
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
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); return 1;
		case 'V': printf("livedesk-webhookd %s\n", LD_VERSION);
			return 1;
		default: usage(stderr); return -1;
		}
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

	service_notify("RELOADING=1");
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
		g = runtime_acquire(rt);
		if (strcmp(g->cfg->listen, cfg->listen) != 0)
			log_warn("reload: listen changed to %s; it takes a "
			    "restart", cfg->listen);
		runtime_release(g);
		warn_probes(cfg);
		if (runtime_reload(rt, cfg, &err) == -1) {
			log_err("reload failed, keeping the running "
			    "configuration: %s", err);
			free(err);
			runtime_reopen(rt);
		} else
			log_notice("configuration reloaded from %s",
			    o->config);
	}
	service_notify("READY=1");
}

static void
notify_status(struct runtime *rt)
{
	struct metrics *m = &rt->metrics;
	struct gen *g = runtime_acquire(rt);
	struct dispatch_stats ds;
	uint64_t failed = 0;
	size_t i;

	dispatch_stats(g->disp, &ds);
	runtime_release(g);
	for (i = 0; i < ds.n_sinks; i++)
		failed += ds.sinks[i].dead;
	service_notifyf("STATUS=%llu events accepted, %zu queued, %llu "
	    "failed deliveries", (unsigned long long)atomic_load(&m->accepted),
	    ds.queued, (unsigned long long)failed);
	free(ds.sinks);
}

/* Waits for signals; does the work they ask for in ordinary code. */
static void
main_loop(struct runtime *rt, const struct options *o, const sigset_t *set)
{
	int64_t wd = service_watchdog_msec(), last_wd = 0, now;
	struct timespec tick = { 0, 500 * 1000000 };
	siginfo_t si;
	int sig;

	if (wd > 0 && wd < 1000)
		tick.tv_nsec = (long)(wd / 2) * 1000000;
	for (;;) {
		sig = sigtimedwait(set, &si, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			log_notice("%s: draining and stopping",
			    sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return;
		}
		if (sig == SIGHUP)
			reload(rt, o);
		now = util_mono_msec();
		if (wd > 0 && now - last_wd >= wd / 2) {
			service_notify("WATCHDOG=1");
			last_wd = now;
		}
		runtime_reap(rt);
		notify_status(rt);
	}
}

static int
run(const struct options *o)
{
	struct runtime *rt = NULL;
	struct http *h = NULL;
	struct config *cfg;
	char *err = NULL;
	sigset_t set;
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
	n_fds = service_listen_fds(&first_fd);
	if ((rt = runtime_new(cfg, &err)) == NULL)
		goto fail;
	if ((h = http_new(rt, cfg, first_fd, n_fds, &err)) == NULL)
		goto fail;
	log_notice("livedesk-webhookd %s listening on %s, path %s, %zu sink%s",
	    LD_VERSION, http_address(h), cfg->path, cfg->n_sinks,
	    cfg->n_sinks == 1 ? "" : "s");
	service_notify("READY=1");
	main_loop(rt, o, &set);
	service_notify("STOPPING=1");
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
	return run(&o);
}
