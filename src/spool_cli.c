/* The spool's commands, --replay and --spool-status (see spool_cli.h). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "spool.h"
#include "spool_cli.h"
#include "util.h"

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
replay_submit(void *arg, struct ld_event *ev)
{
	(void)dispatch_submit(arg, ev, NULL, 0, DISPATCH_FORCE);
}

int
spool_cli_replay(struct config *cfg, const char *path, const char *sink,
    bool verbose)
{
	struct replay_count rc = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
	struct dispatch_hooks hooks = { replay_sink_done, NULL, &rc };
	struct dispatch *d = NULL;
	char *err = NULL;
	size_t skipped = 0;
	long n;
	int status = 1;

	if (sink != NULL && config_keep_sink(cfg, sink) == -1) {
		err = xasprintf("--sink %s: no such sink in %s", sink,
		    cfg->file ? cfg->file : "the default configuration");
		goto fail;
	}
	log_init(LOG_TARGET_STDERR, verbose ? LOG_DEBUG :
	    config_log_prio(cfg));
	if ((d = dispatch_new(cfg, &hooks, &err)) == NULL)
		goto fail;
	if ((n = spool_replay_read(path, replay_submit, d, &skipped, &err))
	    == -1)
		goto fail;
	(void)dispatch_drain(d, INT64_MAX / 4);
	printf("replayed %ld event%s from %s: %zu deliver%s ok, %zu failed",
	    n, n == 1 ? "" : "s", path, rc.ok, rc.ok == 1 ? "y" : "ies",
	    rc.failed);
	if (skipped > 0)
		printf("; %zu could not be read (logged above)", skipped);
	printf("\n");
	status = rc.failed == 0 && skipped == 0 ? 0 : 1;
	goto out;
fail:
	fprintf(stderr, "livedesk-webhookd: %s\n", err);
	free(err);
out:
	dispatch_free(d);
	config_free(cfg);
	return status;
}

int
spool_cli_status(struct config *cfg)
{
	struct spool_status st;
	char *err = NULL;
	int rc = 1;

	if (cfg->spool_dir == NULL) {
		err = xstrdup("no spool_dir in the configuration");
		goto fail;
	}
	if (spool_status(NULL, cfg->spool_dir, &st, &err) == -1)
		goto fail;
	printf("spool %s\npending %zu\ndead %zu\nfiles %zu\n",
	    cfg->spool_dir, st.pending, st.dead, st.batches);
	/* The same as /metrics' livedesk_backlog_*, from the directory. */
	{
		int64_t now = util_now_usec();

		printf("backlog_events %zu\nbacklog_bytes %llu\n"
		    "backlog_oldest_seconds %lld\n", st.pending,
		    (unsigned long long)st.backlog_bytes, (long long)(
		    st.oldest_usec > 0 && now > st.oldest_usec ?
		    (now - st.oldest_usec) / 1000000 : 0));
	}
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
