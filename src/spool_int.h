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

#include <jansson.h>

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

struct spool_batch {
	LIST_ENTRY(spool_batch) link;	/* every live batch */
	char		 name[32];
	int		 done_fd;	/* new/NAME.done while in the cache */
	size_t		 n;		/* events in the batch */
	size_t		 finished;
	bool		 damaged;	/* kept in failed/ when finished */
};

struct spool_entry {
	LIST_ENTRY(spool_entry) link;	/* every live entry */
	struct spool_batch *batch;
	uint64_t	 seq;
	json_t		*failures;	/* array, NULL while none */
	bool		 dead_written;	/* its payload is in failed/ */
	bool		 keep;		/* a dead letter could not be written:
					 * not done, runs again at next start */
};

/* An event waiting for the next group commit; fn is its spool_commit_fn
 * (spool.h). */
struct spool_pending {
	STAILQ_ENTRY(spool_pending) link;
	struct ld_event	*ev;
	void		(*fn)(void *arg, struct ld_event *, bool ok);
	void		*arg;
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
	LIST_HEAD(, spool_batch) batches;
	LIST_HEAD(, spool_entry) entries;
	/* The batches whose progress file is open, oldest first. */
	struct spool_batch *open_done[SPOOL_OPEN_DONE];
	size_t		 n_open_done;
	uint64_t	 next_seq;
	uint64_t	 write_errors;
	size_t		 n_entries;	/* events not yet finished */
	size_t		 n_batches;
	size_t		 n_dead;		/* dead letters in failed/ */
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

/* spool_progress.c: the progress files, under lock. Appends "SEQ WHAT\n"
 * to b's (WHAT: a sink, or "*" for the whole event). */
void	 spool_progress_add(struct spool *, struct spool_batch *, uint64_t seq,
	    const char *what);
/* Closes b's progress file, if open. */
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

#endif
