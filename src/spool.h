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
 * written (!ok: answer 503). direct: ev took room in some sink's window
 * at append and the spool has handed it over (spool_window's submit) to
 * those sinks; the others load it from disk later. */
typedef void (*spool_commit_fn)(void *arg, struct ld_event *, bool ok,
		    bool direct);
/* Called by spool_replay_read for each event. */
typedef void (*spool_replay_fn)(void *arg, struct ld_event *);
/* A sink's name, NUL included (config: 1 to 64 bytes). */
#define SPOOL_SINK_NAME	65
/*
 * The dispatcher's window, as the spool fills it, one per sink: a sink
 * that is behind holds back only its own deliveries. sinks names the
 * sinks ev goes to (every sink when ev is NULL), max at most, and returns
 * their count (which may be more than max);
 * reserve takes room for ev in sink's window (false when there is none),
 * unreserve gives it back (the commit failed); submit hands ev over to
 * the sinks in only[0..n), each with its room reserved (given back once
 * counted).
 */
struct spool_window {
	size_t	(*sinks)(void *arg, const struct ld_event *,
		    char (*names)[SPOOL_SINK_NAME], size_t max);
	bool	(*reserve)(void *arg, const struct ld_event *,
		    const char *sink);
	void	(*unreserve)(void *arg, const struct ld_event *,
		    const char *sink);
	void	(*submit)(void *arg, struct ld_event *, const char *const *only,
		    size_t n);
	void	 *arg;
};

/* Why the spool takes no more events now (spool_room). */
enum spool_full {
	SPOOL_ROOM,		/* it does */
	SPOOL_FULL_MAX,		/* the backlog is at spool_max */
	SPOOL_FULL_DISK,	/* the filesystem is at spool_min_free */
};

struct spool_status {
	size_t	 pending;	/* accepted, not finished by every sink */
	size_t	 dead;		/* dead letters in failed/ */
	size_t	 batches;	/* files in the spool */
	uint64_t write_errors;	/* since start (running daemon only) */
	uint64_t backlog_bytes;	/* the live batch files' sizes */
	int64_t	 oldest_usec;	/* received time of the oldest; 0: none */
	bool	 deferred;	/* events wait on disk for some sink's
				 * window */
};

/* Creates dir, dir/tmp, dir/new, dir/failed as needed. durable = no skips
 * the fsyncs. Returns NULL with *err. */
struct spool	*spool_open(const char *dir, bool durable, char **err);
/* spool_max and spool_min_free, in bytes (at start and on reload). */
void		 spool_set_limits(struct spool *, uint64_t max,
		    uint64_t min_free);
/* Whether an event of len bytes may be accepted now; past a limit, the
 * log says which and by how much, once a minute at most. */
enum spool_full	 spool_room(struct spool *, size_t len);
/* Removes dead letter id from failed/ (its reason file, then its payload),
 * as a replay that delivered it does: the count of dead letters follows.
 * Returns -1 with errno set when a file could not be removed. */
int		 spool_dead_remove(struct spool *, const char *id);
/* Stops the writer (after writing what is queued) and frees. */
void		 spool_free(struct spool *);	/* NULL is a no-op */
bool		 spool_durable(const struct spool *);

/*
 * Queues ev to be written with the next group commit; fn runs when it is
 * done. Takes a reference. Each commit is one file, fsync'd, renamed into
 * new/ and the directory fsync'd: concurrent requests share one fsync.
 * For each sink ev goes to: direct (into that sink's window, reserved
 * here, in seq order) when nothing of the sink's waits on disk and its
 * window has room; else deferred, and the loader brings it to that sink
 * later, in order.
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
 * Takes the spool's files back after a restart: counts the unfinished
 * events (without keeping them: the loader streams them into the window
 * once started) and discards half-written files (never acknowledged) with
 * a log line. Call once, before spool_load_start.
 */
int		 spool_recover(struct spool *, char **err);
/* Starts the loader, which fills w's window from disk as it frees, oldest
 * first; returns -1 with *err. spool_load_stop stops it (before the
 * window's dispatchers go); spool_free does too. */
int		 spool_load_start(struct spool *, const struct spool_window *w,
		    char **err);
void		 spool_load_stop(struct spool *);

/* Counts for --spool-status and /metrics; s may be a running spool or
 * NULL with dir given. */
int		 spool_status(struct spool *, const char *dir,
		    struct spool_status *, char **err);

/*
 * Reads dead letters (a failed/ payload file, a directory of them) or a
 * file-sink JSON Lines archive and calls fn for each event, with its
 * original delivery id. Returns the count, or -1 with *err when nothing
 * could be read. In a directory or an archive, what cannot be read (a
 * damaged file, a line a crash cut) is logged and counted in *skipped,
 * and the rest is still read: what went to fn before it has gone.
 */
long		 spool_replay_read(const char *path, spool_replay_fn fn,
		    void *arg, size_t *skipped, char **err);

#endif
