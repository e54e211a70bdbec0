/* livedesk-webhookd: reads the options and the configuration, and picks
 * what runs: a command (check-config, replay, spool-status, dry-run,
 * run-once), or the daemon
 * as a receiver (HTTP) or as a worker (a Redis stream). */
#include <sys/socket.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "livedesk/event.h"
#include "daemon.h"
#include "netaddr.h"
#include "spool_cli.h"
#include "tool_cli.h"
#include "util.h"

struct options {
	const char	*config;
	const char	*listen;
	const char	*path;
	const char	*replay;
	const char	*dry_run;	/* a payload file, or - */
	const char	*run_once;	/* the same */
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
"      --sink NAME       with --replay or --run-once: only to this sink\n"
"      --spool-status    print pending and dead events in the spool, exit\n"
"      --dry-run FILE    run nothing: print which sinks the payload in FILE\n"
"                        (- for standard input) would reach, why the\n"
"                        others would not, and what each exec sink's\n"
"                        program would get, exit\n"
"      --run-once FILE   deliver the payload in FILE (- for standard input)\n"
"                        once to the sinks that take it, in the foreground,\n"
"                        exit: 0 when every one succeeded\n"
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
		{ "dry-run", required_argument, NULL, 'D' },
		{ "run-once", required_argument, NULL, 'O' },
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
		case 'D': o->dry_run = optarg; break;
		case 'O': o->run_once = optarg; break;
		case 'W': o->worker = true; o->consumer = optarg; break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); return 1;
		case 'V': printf("livedesk-webhookd %s\n", LD_VERSION);
			return 1;
		default: usage(stderr); return -1;
		}
	}
	if (o->sink != NULL && o->replay == NULL && o->run_once == NULL) {
		fprintf(stderr, "livedesk-webhookd: --sink goes with --replay "
		    "or --run-once\n");
		return -1;
	}
	if (o->check_config + (o->replay != NULL) + o->spool_status +
	    (o->dry_run != NULL) + (o->run_once != NULL) > 1) {
		fprintf(stderr, "livedesk-webhookd: --check-config, --replay, "
		    "--spool-status, --dry-run and --run-once go one at a "
		    "time\n");
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
		struct sockaddr_storage ss;
		unsigned sl;
		char *why = NULL;

		/* Checked as the file's listen is (config_load). */
		if (netaddr_parse_listen(o->listen, &ss, &sl, &why) == -1) {
			*err = xasprintf("-l %s: %s", o->listen, why);
			free(why);
			config_free(cfg);
			return NULL;
		}
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

/* For the daemon's reloads: the same file, the same command line. */
static struct config *
reload_config(void *arg, char **err)
{
	return load_config(arg, err);
}

int
main(int argc, char **argv)
{
	struct daemon_args args;
	struct options o;
	struct config *cfg;
	char *err = NULL;
	int rc;

	/* Before any thread, and before jansson allocates anything. */
	ld_event_init();
	memset(&o, 0, sizeof o);
	if ((rc = parse_options(argc, argv, &o)) != 0)
		return rc < 0 ? 2 : 0;
	if (o.check_config)
		return check_config(&o);
	if ((cfg = load_config(&o, &err)) == NULL) {
		fprintf(stderr, "livedesk-webhookd: %s\n", err);
		free(err);
		return 1;
	}
	/* The commands deliver as the daemon does (daemon.c ignores it
	 * too): a sink's peer gone (a Redis restarted, a handler exited)
	 * is an error of that delivery, not the end of the process. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		fprintf(stderr, "livedesk-webhookd: signal SIGPIPE: %s\n",
		    strerror(errno));
		config_free(cfg);
		return 1;
	}
	if (o.replay != NULL)
		return spool_cli_replay(cfg, o.replay, o.sink, o.verbose);
	if (o.spool_status)
		return spool_cli_status(cfg);
	if (o.dry_run != NULL)
		return tool_cli_dry_run(cfg, o.dry_run);
	if (o.run_once != NULL)
		return tool_cli_run_once(cfg, o.run_once, o.sink, o.verbose);
	memset(&args, 0, sizeof args);
	args.load = reload_config;
	args.load_arg = &o;
	args.config_file = o.config;
	args.verbose = o.verbose;
	args.consumer = o.consumer;
	/* A worker (--worker, or a [source] section) takes its events from
	 * the Redis stream instead of HTTP; the rest is the same. */
	return daemon_run(o.worker || cfg->source.present ?
	    &daemon_input_redis : &daemon_input_http, cfg, &args);
}
