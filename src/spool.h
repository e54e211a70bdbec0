/*
 * The durable spool: an accepted event is on disk before its 200 goes out,
 * each sink's progress is recorded, and what was not finished is given
 * back after a restart or a crash. Dead letters go to failed/.
 */
#ifndef SPOOL_H
#define SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "livedesk/event.h"
#include "livedesk/sink.h"

struct spool;

/* Called on the spool's thread once ev is on disk (ok) or could not be
 * written (!ok: answer 503). */
typedef void (*spool_commit_fn)(void *arg, struct ld_event *, bool ok);
/* Called by spool_recover for each unfinished event, oldest first, with
 * the sinks that had already finished it. */
typedef void (*spool_recover_fn)(void *arg, struct ld_event *,
		    const char *const *done, size_t n_done);

struct spool_status {
	size_t	 pending;	/* accepted, not finished by every sink */
	size_t	 dead;		/* dead letters in failed/ */
	size_t	 batches;	/* files in the spool */
	uint64_t write_errors;	/* since start (running daemon only) */
};

/* Creates dir, dir/tmp, dir/new, dir/failed as needed. durable = no skips
 * the fsyncs. Returns NULL with *err. */
struct spool	*spool_open(const char *dir, bool durable, char **err);
/* Stops the writer (after writing what is queued) and frees. */
void		 spool_free(struct spool *);	/* NULL is a no-op */
bool		 spool_durable(const struct spool *);

/*
 * Queues ev to be written with the next group commit; fn runs when it is
 * done. Takes a reference. Each commit is one file, fsync'd, renamed into
 * new/ and the directory fsync'd: concurrent requests share one fsync.
 */
void		 spool_append(struct spool *, struct ld_event *,
		    spool_commit_fn fn, void *arg);

/* Waits until every queued event has been committed (or refused). */
void		 spool_flush(struct spool *);

/* The dispatcher's hooks (struct dispatch_hooks), arg = the spool. */
void		 spool_sink_done(void *spool, struct ld_event *,
		    const char *sink, const struct sink_result *,
		    int attempts);
void		 spool_event_done(void *spool, struct ld_event *);

/*
 * Gives back every unfinished event in the spool, oldest first, and
 * discards half-written files (never acknowledged) with a log line. Call
 * once, before new events arrive.
 */
int		 spool_recover(struct spool *, spool_recover_fn, void *arg,
		    char **err);

/* Counts for --spool-status and /metrics; s may be a running spool or
 * NULL with dir given. */
int		 spool_status(struct spool *, const char *dir,
		    struct spool_status *, char **err);

/*
 * Reads dead letters (a failed/ payload file, a directory of them) or a
 * file-sink JSON Lines archive and calls fn for each event, with its
 * original delivery id. Returns the count, or -1 with *err.
 */
long		 spool_replay_read(const char *path, spool_recover_fn fn,
		    void *arg, char **err);

#endif
