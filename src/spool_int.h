/*
 * What the spool's files share and no other module needs: the spool itself,
 * its batches and entries, and the helpers its files call one another by.
 * The layout on disk is described in spool.c.
 */
#ifndef SPOOL_INT_H
#define SPOOL_INT_H

#include <sys/queue.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "log.h"
#include "spool.h"

struct ld_event;
struct sink_result;
struct spool_status;

/*
 * Progress files kept open at once. Events of one batch mostly finish
 * close together, so a few open files save an open and a close per
 * progress line; a bound, because a backlog of thousands of batches must
 * not cost a descriptor each (under systemd's soft limit of 1024 that
 * ran the daemon out of them).
 */
#define SPOOL_OPEN_DONE	4

/*
 * A live batch: a file in new/ not yet deleted. Small and fixed in size,
 * whatever the number of events in the file: the events themselves are
 * in memory only while they are in the dispatcher's window (an entry
 * each). A batch goes once every sink's cursor is past it (or it is
 * passed: nothing in it is left for anyone) and no entry of it is left
 * (in_lane == 0).
 */
struct spool_batch {
	TAILQ_ENTRY(spool_batch) link;	/* every live batch, in seq order */
	char		 name[32];
	int		 done_fd;	/* new/NAME.done while in the cache */
	uint64_t	 first;		/* its first seq */
	size_t		 n;		/* events in the batch */
	size_t		 in_lane;	/* entries of it in the window */
	size_t		 n_star;	/* events done by every sink ("*"),
					 * out of the backlog already */
	uint64_t	 bytes;		/* the file's size */
	int64_t		 first_usec;	/* received time of its first event */
	bool		 ready;		/* its direct events are submitted */
	bool		 passed;	/* nothing of it left for any sink */
	bool		 keep;		/* a dead letter could not be written */
	bool		 damaged;	/* kept in failed/ when finished */
};

struct spool_entry {
	LIST_ENTRY(spool_entry) link;	/* every live entry */
	struct spool_batch *batch;
	uint64_t	 seq;
	bool		 keep;		/* a dead letter could not be written:
					 * not done, runs again at next start */
	bool		 direct;	/* into the window at commit, not
					 * through the loader */
	bool		 whole;		/* handed to every sink it goes to at
					 * once: its end is the event's */
	bool		 star;		/* its "*" line is written */
	size_t		 sinks_left;	/* whole: sinks not yet done with it */
};

/* An event waiting for the next group commit; fn is its spool_commit_fn
 * (spool.h). */
struct spool_pending {
	STAILQ_ENTRY(spool_pending) link;
	struct ld_event	*ev;
	spool_commit_fn	 fn;
	bool		 direct;	/* set at commit, from the entry */
	void		*arg;
	/* Decided at append: the sinks it goes to direct (room reserved)
	 * and the lanes it is deferred for. */
	char		(*to)[SPOOL_SINK_NAME];
	size_t		 n_to;
	struct spool_lane **later;
	size_t		 n_later;
};

/* The loader's hand in one sink's backlog: the batch it reads and the
 * event it could not yet place. */
struct spool_hand {
	struct spool_batch *b;
	FILE		*f;
	json_t		*prog;		/* b's progress, by seq */
	struct ld_event	*ev;
	uint64_t	 from;		/* the cursor when b was entered */
};

/*
 * A sink's place in the spool. While deferred, every new event for the
 * sink goes through the disk, and the loader hands the sink its events
 * from cursor on as its window frees, in seq order (spool_load.c); once
 * caught up, new events go direct again. Made on first sight of a sink's
 * name and kept (a handful, whatever the reloads).
 */
struct spool_lane {
	char		 name[SPOOL_SINK_NAME];
	bool		 deferred;
	uint64_t	 cursor;	/* the first seq not yet loaded */
	size_t		 uncommitted;	/* deferred events in the queue */
	struct spool_hand h;		/* the loader's */
};


STAILQ_HEAD(spool_queue, spool_pending);

struct spool {
	char		*dir;
	bool		 durable;
	int		 new_fd;	/* new/, for fsync after rename */
	int		 failed_fd;
	pthread_mutex_t	 lock;
	pthread_mutex_t	 dead_lock;	/* one dead-letter write at a time */
	pthread_cond_t	 cond;
	pthread_t	 writer;
	bool		 writer_started;
	bool		 quit;
	bool		 committing;	/* the writer has a list in hand */
	struct spool_queue queue;	/* for the next commit */
	/* The live batches and entries, under lock, so that spool_free can
	 * free what shutdown left unfinished. */
	TAILQ_HEAD(, spool_batch) batches;
	LIST_HEAD(, spool_entry) entries;
	/* The batches whose progress file is open, oldest first, under
	 * done_lock (taken after lock, never before): a progress line is
	 * written without holding up the HTTP threads and the writer. */
	pthread_mutex_t	 done_lock;
	struct spool_batch *open_done[SPOOL_OPEN_DONE];
	size_t		 n_open_done;
	uint64_t	 next_seq;
	uint64_t	 write_errors;
	/* A full disk fails every commit and progress line: their log
	 * lines, a few a second. */
	struct log_rate	 write_log;
	size_t		 n_entries;	/* events not yet finished */
	size_t		 n_batches;
	size_t		 n_dead;		/* dead letters in failed/ */

	/* The backlog, per sink (struct spool_lane). recover_from: where
	 * every sink starts after a restart (recovering: there is a
	 * backlog), for the lanes spool_load_start makes. */
	struct spool_lane **lanes;
	size_t		 n_lanes;
	bool		 recovering;
	uint64_t	 recover_from;
	bool		 lanes_known;	/* the loader has started */
	struct spool_window window;
	bool		 window_set;
	pthread_t	 loader;
	bool		 loader_started;
	bool		 load_quit;
	pthread_cond_t	 load_cond;	/* room freed, a commit, quit */
	/* Counts for /metrics, --spool-status and the limits. */
	size_t		 backlog_events;	/* committed, not all done */
	uint64_t	 backlog_bytes;		/* live batch files */
	uint64_t	 spool_max;
	uint64_t	 min_free;
	int64_t		 free_checked;		/* mono ms */
	uint64_t	 free_bytes;
	int		 level;		/* tenths of spool_max warned about */
	int64_t		 limit_logged;	/* mono ms */
};

/* spool.c: "DIR/SUB/NAMEEXT", malloc'd. */
char	*spool_path(const struct spool *, const char *sub, const char *name,
	    const char *ext);
/* fsync on a directory makes renames and unlinks in it durable. */
int	 spool_sync_dir(int fd);
/* The names in dir/sub (sub may be NULL) ending in ext, sorted (arrival
 * order); free them with util_strv_free. NULL with *err. */
char	**spool_list_dir(const char *dir, const char *sub, const char *ext,
	    size_t *n, char **err);
/* Counts a batch or an entry in, or out, of the live ones. Under lock. */
void	 spool_batch_add(struct spool *, struct spool_batch *);
void	 spool_batch_remove(struct spool *, struct spool_batch *);
void	 spool_entry_add(struct spool *, struct spool_entry *);
void	 spool_entry_remove(struct spool *, struct spool_entry *);
/* Every event of b is done: b's files go (a damaged one is kept in
 * failed/), and b is freed. Takes the lock itself. */
void	 spool_batch_finished(struct spool *, struct spool_batch *);
/* Whether b may go now (passed, nothing in the window, not kept); if so
 * takes it out of the live ones for spool_batch_finished. Under lock. */
bool	 spool_batch_unlink_if_done(struct spool *, struct spool_batch *);

/* spool_progress.c: the progress files. Appends "SEQ WHAT\n" to b's
 * (WHAT: a sink, or "*" for the whole event); b must stay live meanwhile
 * (an entry of it held). Takes done_lock itself; not under lock. */
void	 spool_progress_add(struct spool *, struct spool_batch *, uint64_t seq,
	    const char *what);
/* Closes b's progress file, if open. Takes done_lock itself. */
void	 spool_progress_close(struct spool *, struct spool_batch *);
/* NAME's progress file read back as {"SEQ": ["sink", ..., "*"]}. */
json_t	*spool_progress_read(struct spool *, const char *name);
/* Whether a record's list (from spool_progress_read) holds what. */
bool	 spool_progress_has(json_t *sinks, const char *what);

/* spool_dead.c: a sink failed for good with ev: its failure is added to
 * the reason file, written with ev's payload under failed/. Returns -1
 * when the dead letter could not be written. Takes dead_lock itself. */
int	 spool_dead_add(struct spool *, struct ld_event *, const char *sink,
	    const struct sink_result *, int attempts);

/* spool_recover.c: the counts of a spool on disk, no daemon running. */
int	 spool_recover_count(const char *dir, struct spool_status *,
	    char **err);
/* Scans batch file NAME's headers without keeping them: its event count,
 * its last seq and its first event's received time; the events marked
 * done in its progress file. -1 when it cannot be read. */
int	 spool_batch_scan(struct spool *, const char *name, size_t *n,
	    uint64_t *last, int64_t *first_usec, size_t *n_done);

/* One record of a batch file, read back. */
struct spool_record {
	uint64_t	 seq;
	int64_t		 usec;
	char		 id[40];
	size_t		 len;
	char		*raw;	/* malloc'd, NUL-terminated, when asked */
};
/* Reads f's next record (its payload into r->raw when raw, else skipped):
 * 1, 0 at the end, -1 when damaged (what follows cannot be framed). */
int	 spool_record_next(FILE *f, struct spool_record *r, bool raw);

/* spool_load.c: the loader's thread; wakes it (under lock). */
void	*spool_loader(void *spool);
void	 spool_load_wake(struct spool *);
/* The lane of sink name, made (not deferred) on first sight. Under lock. */
struct spool_lane *spool_lane_get(struct spool *, const char *name);
/* The window's sinks for ev (every sink for NULL), malloc'd, in *names;
 * returns their count. */
size_t	 spool_window_sinks(struct spool *, const struct ld_event *,
	    char (**names)[SPOOL_SINK_NAME]);
/* Whether every sink's cursor is past b. Under lock. */
bool	 spool_lanes_past(struct spool *, const struct spool_batch *);
/* Deletes the batches every sink is past and no lane holds. Under lock
 * (let go of while files are removed). */
void	 spool_sweep(struct spool *);

/* Write errors: a few log lines a second, the rest counted (a full disk
 * fails every write). */
#define SPOOL_WRITE_LOG_BURST	5
void	spool_write_error(struct spool *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
