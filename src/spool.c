/*
 * The durable spool.
 *
 * Layout under spool_dir:
 *   tmp/NAME.batch      a commit being written; never acknowledged
 *   new/NAME.batch      committed events: per event a JSON header line
 *                       {"seq":..,"delivery_id":..,"received_usec":..,
 *                       "len":N} then N raw bytes and a newline
 *   new/NAME.done       progress, appended: "SEQ SINK\n" when a sink is
 *                       finished with an event, "SEQ *\n" when all are
 *   failed/ID.json      a dead letter's payload, byte for byte
 *   failed/ID.reason.json  why: sink, attempts, exit code or signal,
 *                       stderr tail
 *
 * NAME is the first event's sequence number in hex, so names sort in
 * arrival order. A batch file is deleted once every event in it is done.
 *
 * Threads: HTTP threads append to a queue; one writer thread commits the
 * queue as one batch (one fsync for all of it); dispatcher workers record
 * progress. One mutex guards the queue, the batches and the entries.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "codec_archive.h"
#include "log.h"
#include "spool.h"
#include "util.h"

/*
 * Progress files kept open at once. Events of one batch mostly finish
 * close together, so a few open files save an open and a close per
 * progress line; a bound, because a backlog of thousands of batches must
 * not cost a descriptor each (under systemd's soft limit of 1024 that
 * ran the daemon out of them).
 */
#define SPOOL_OPEN_DONE	4

struct batch {
	struct batch	*next, *prev;	/* every live batch, for spool_free */
	char		 name[32];
	int		 done_fd;	/* new/NAME.done while in the cache */
	size_t		 n;		/* events in the batch */
	size_t		 finished;
	bool		 damaged;	/* kept in failed/ when finished */
};

struct spool_entry {
	struct spool_entry *next, *prev; /* every live entry */
	struct batch	*batch;
	uint64_t	 seq;
	json_t		*failures;	/* array, NULL while none */
	bool		 dead_written;	/* its payload is in failed/ */
	bool		 keep;		/* a dead letter could not be written:
					 * not done, runs again at next start */
};

struct pending {
	struct pending	*next;
	struct ld_event	*ev;
	spool_commit_fn	 fn;
	void		*arg;
};

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
	struct pending	*head, *tail;
	struct batch	*batches;
	struct spool_entry *entries;
	/* The batches whose progress file is open, oldest first. */
	struct batch	*open_done[SPOOL_OPEN_DONE];
	size_t		 n_open_done;
	uint64_t	 next_seq;
	uint64_t	 write_errors;
	size_t		 n_entries;	/* events not yet finished */
	size_t		 n_batches;
	size_t		 n_dead;		/* dead letters in failed/ */
};

static char *
path_in(const struct spool *s, const char *sub, const char *name,
    const char *ext)
{
	return xasprintf("%s/%s/%s%s", s->dir, sub, name, ext);
}

static char	**list_dir(const char *, const char *, const char *, size_t *,
		    char **);
static void	  free_names(char **, size_t);
static void	  done_close(struct spool *, struct batch *);

/* Doubly linked lists of live batches and entries, under s->lock, so that
 * spool_free can free what shutdown left unfinished. */
#define LIST_INSERT(sp, list, e) do {				\
	(sp)->n_##list++;						\
	(e)->prev = NULL;						\
	(e)->next = (sp)->list;						\
	if ((sp)->list != NULL)						\
		(sp)->list->prev = (e);					\
	(sp)->list = (e);						\
} while (0)
#define LIST_REMOVE(sp, list, e) do {				\
	(sp)->n_##list--;						\
	if ((e)->prev != NULL)						\
		(e)->prev->next = (e)->next;				\
	else								\
		(sp)->list = (e)->next;					\
	if ((e)->next != NULL)						\
		(e)->next->prev = (e)->prev;				\
} while (0)

/* fsync on a directory makes renames and unlinks in it durable. */
static int
sync_dir(int fd)
{
	return fsync(fd) == -1 && errno != EINVAL ? -1 : 0;
}

/* Builds the batch in memory: one write, then one fsync. */
static char *
batch_bytes(struct pending *list, uint64_t *first, size_t *len, size_t *n)
{
	char *buf = NULL, *hdr;
	size_t cap = 0, hl;
	struct pending *p;

	*len = *n = 0;
	for (p = list; p != NULL; p = p->next) {
		struct ld_event *ev = p->ev;

		if (p == list)
			*first = ev->spool->seq;
		hdr = xasprintf("{\"seq\":%" PRIu64 ",\"delivery_id\":\"%s\","
		    "\"received_usec\":%" PRId64 ",\"len\":%zu}\n",
		    ev->spool->seq, ev->delivery_id, ev->received_usec,
		    ev->raw_len);
		hl = strlen(hdr);
		if (*len + hl + ev->raw_len + 1 > cap) {
			cap = (*len + hl + ev->raw_len + 1) * 2;
			buf = xrealloc(buf, cap);
		}
		memcpy(buf + *len, hdr, hl);
		memcpy(buf + *len + hl, ev->raw, ev->raw_len);
		*len += hl + ev->raw_len;
		buf[(*len)++] = '\n';
		(*n)++;
		free(hdr);
	}
	return buf;
}

/* Writes tmp/NAME.batch, fsyncs it, renames it into new/, fsyncs new/.
 * Returns -1 with errno set and nothing left behind on failure. */
static int
commit_file(struct spool *s, const char *name, const char *buf, size_t len)
{
	char *tmp = path_in(s, "tmp", name, ".batch");
	char *dst = path_in(s, "new", name, ".batch");
	int fd, rc = -1, saved = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		saved = errno;
		goto out;
	}
	if (util_write_all(fd, buf, len) == -1 ||
	    (s->durable && fdatasync(fd) == -1)) {
		saved = errno;
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) == -1 || rename(tmp, dst) == -1) {
		saved = errno;
		unlink(tmp);
		goto out;
	}
	if (s->durable && sync_dir(s->new_fd) == -1) {
		saved = errno;
		unlink(dst);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	free(dst);
	errno = saved;
	return rc;
}

static void
commit(struct spool *s, struct pending *list)
{
	struct batch *b = xcalloc(1, sizeof *b);
	struct pending *p, *next;
	uint64_t first = 0;
	size_t len, n;
	char *buf = batch_bytes(list, &first, &len, &n);
	bool ok;

	snprintf(b->name, sizeof b->name, "%016" PRIx64, first);
	b->n = n;
	b->done_fd = -1;
	ok = commit_file(s, b->name, buf, len) == 0;
	if (!ok) {
		pthread_mutex_lock(&s->lock);
		s->write_errors++;
		pthread_mutex_unlock(&s->lock);
		log_err("spool: write %s/tmp/%s.batch: %s; answering 503",
		    s->dir, b->name, strerror(errno));
		free(b);
		b = NULL;
	}
	free(buf);
	pthread_mutex_lock(&s->lock);
	if (ok)
		LIST_INSERT(s, batches, b);
	for (p = list; p != NULL; p = p->next) {
		if (ok) {
			p->ev->spool->batch = b;
		} else {
			LIST_REMOVE(s, entries, p->ev->spool);
			free(p->ev->spool);
			p->ev->spool = NULL;
		}
	}
	pthread_mutex_unlock(&s->lock);
	for (p = list; p != NULL; p = next) {
		next = p->next;
		p->fn(p->arg, p->ev, ok);
		ld_event_unref(p->ev);
		free(p);
	}
}

static void *
writer(void *arg)
{
	struct spool *s = arg;
	struct pending *list;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (s->head == NULL && !s->quit)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->head == NULL)
			break;
		/* Everything queued while the last commit ran goes into this
		 * one: that is the group commit. */
		list = s->head;
		s->head = s->tail = NULL;
		s->committing = true;
		pthread_mutex_unlock(&s->lock);
		commit(s, list);
		pthread_mutex_lock(&s->lock);
		s->committing = false;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void
spool_append(struct spool *s, struct ld_event *ev, spool_commit_fn fn,
    void *arg)
{
	struct pending *p = xcalloc(1, sizeof *p);

	p->ev = ld_event_ref(ev);
	p->fn = fn;
	p->arg = arg;
	ev->spool = xcalloc(1, sizeof *ev->spool);
	pthread_mutex_lock(&s->lock);
	ev->spool->seq = s->next_seq++;
	LIST_INSERT(s, entries, ev->spool);
	if (s->tail != NULL)
		s->tail->next = p;
	else
		s->head = p;
	s->tail = p;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* mkdir -p for the spool's parents: /var/lib/x/spool on a machine where
 * /var/lib/x was never made. */
static int
make_parents(char *p)
{
	char *slash;
	int rc = 0;

	for (slash = strchr(p + 1, '/'); slash != NULL && rc == 0;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			rc = -1;
		*slash = '/';
	}
	return rc;
}

static int
make_dir(const char *dir, const char *sub, char **err)
{
	char *p = sub ? xasprintf("%s/%s", dir, sub) : xstrdup(dir);
	int rc = 0;

	if (sub == NULL && make_parents(p) == -1) {
		*err = xasprintf("spool: mkdir the parents of %s: %s", p,
		    strerror(errno));
		free(p);
		return -1;
	}
	if (mkdir(p, 0700) == -1 && errno != EEXIST) {
		*err = xasprintf("spool: mkdir %s: %s", p, strerror(errno));
		rc = -1;
	} else if (access(p, W_OK | X_OK) == -1) {
		*err = xasprintf("spool: %s: %s", p, strerror(errno));
		rc = -1;
	}
	free(p);
	return rc;
}

static int
open_dir(const char *dir, const char *sub, char **err)
{
	char *p = xasprintf("%s/%s", dir, sub);
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1)
		*err = xasprintf("spool: open %s: %s", p, strerror(errno));
	free(p);
	return fd;
}

struct spool *
spool_open(const char *dir, bool durable, char **err)
{
	struct spool *s = xcalloc(1, sizeof *s);
	int rc;

	s->dir = xstrdup(dir);
	s->durable = durable;
	s->new_fd = s->failed_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->dead_lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (make_dir(dir, NULL, err) == -1 || make_dir(dir, "tmp", err) == -1 ||
	    make_dir(dir, "new", err) == -1 ||
	    make_dir(dir, "failed", err) == -1)
		goto fail;
	if ((s->new_fd = open_dir(dir, "new", err)) == -1 ||
	    (s->failed_fd = open_dir(dir, "failed", err)) == -1)
		goto fail;
	if ((rc = pthread_create(&s->writer, NULL, writer, s)) != 0) {
		*err = xasprintf("spool: pthread_create: %s", strerror(rc));
		goto fail;
	}
	s->writer_started = true;
	{
		char **names = list_dir(dir, "failed", ".reason.json",
		    &s->n_dead, err);

		if (names == NULL)
			goto fail;
		free_names(names, s->n_dead);
	}
	return s;
fail:
	spool_free(s);
	return NULL;
}

void
spool_flush(struct spool *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->head != NULL || s->committing)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

bool
spool_durable(const struct spool *s)
{
	return s->durable;
}

void
spool_free(struct spool *s)
{
	if (s == NULL)
		return;
	if (s->writer_started) {
		pthread_mutex_lock(&s->lock);
		s->quit = true;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->writer, NULL);
	}
	while (s->batches != NULL) {
		struct batch *b = s->batches;

		LIST_REMOVE(s, batches, b);
		done_close(s, b);
		free(b);
	}
	while (s->entries != NULL) {
		struct spool_entry *e = s->entries;

		LIST_REMOVE(s, entries, e);
		json_decref(e->failures);
		free(e);
	}
	if (s->new_fd != -1)
		close(s->new_fd);
	if (s->failed_fd != -1)
		close(s->failed_fd);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->dead_lock);
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
}

/* Closes b's progress file, if open, and takes it out of the cache.
 * Under s->lock. */
static void
done_close(struct spool *s, struct batch *b)
{
	size_t i;

	if (b->done_fd == -1)
		return;
	close(b->done_fd);
	b->done_fd = -1;
	for (i = 0; i < s->n_open_done; i++) {
		if (s->open_done[i] == b) {
			memmove(&s->open_done[i], &s->open_done[i + 1],
			    (s->n_open_done - i - 1) * sizeof *s->open_done);
			s->n_open_done--;
			break;
		}
	}
}

/* b's progress file, opened (closing the oldest open one when the cache
 * is full) if need be; -1 when it cannot be. Under s->lock. */
static int
done_open(struct spool *s, struct batch *b)
{
	char *p;

	if (b->done_fd != -1)
		return b->done_fd;
	if (s->n_open_done == SPOOL_OPEN_DONE)
		done_close(s, s->open_done[0]);
	p = path_in(s, "new", b->name, ".done");
	b->done_fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (b->done_fd == -1)
		log_err("spool: open %s: %s", p, strerror(errno));
	else
		s->open_done[s->n_open_done++] = b;
	free(p);
	return b->done_fd;
}

/* Appends "SEQ WHAT\n" to the batch's progress file. Losing a line costs
 * a repeated delivery after a crash, never a lost one, so no fsync. Under
 * s->lock. */
static void
progress(struct spool *s, struct batch *b, uint64_t seq, const char *what)
{
	char line[160];
	int n;

	if (done_open(s, b) == -1)
		return;
	n = snprintf(line, sizeof line, "%" PRIu64 " %s\n", seq, what);
	if (n > 0 && (size_t)n < sizeof line &&
	    util_write_all(b->done_fd, line, (size_t)n) == -1)
		log_err("spool: write %s/new/%s.done: %s", s->dir, b->name,
		    strerror(errno));
}

/* Writes name under failed/ through a temporary file, fsync'd. */
static int
write_failed(struct spool *s, const char *name, const char *data, size_t len)
{
	char *tmp = xasprintf("%s/failed/.%s.tmp", s->dir, name);
	char *dst = xasprintf("%s/failed/%s", s->dir, name);
	int fd, rc = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		goto out;
	if (util_write_all(fd, data, len) == -1 || fdatasync(fd) == -1) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) == -1 || rename(tmp, dst) == -1) {
		unlink(tmp);
		goto out;
	}
	rc = sync_dir(s->failed_fd);
out:
	if (rc == -1)
		log_err("spool: write %s: %s", dst, strerror(errno));
	free(tmp);
	free(dst);
	return rc;
}

/* The event failed for good in a sink: its payload (once) and the reason,
 * rewritten with every failure so far. Called under dead_lock. */
static int
dead_letter(struct spool *s, struct ld_event *ev, struct spool_entry *e)
{
	char when[40], now[40], *name = NULL, *reason;
	json_t *o;
	int rc = -1;

	ld_time_format(ev->received_usec, when, sizeof when);
	ld_time_format(util_now_usec(), now, sizeof now);
	o = json_pack("{s:s, s:s, s:s, s:s, s:O}", "delivery_id",
	    ev->delivery_id, "event", ev->name, "received_at", when,
	    "failed_at", now, "failures", e->failures);
	reason = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	json_decref(o);
	if (reason == NULL)
		return -1;
	if (!e->dead_written) {
		name = xasprintf("%s.json", ev->delivery_id);
		if (write_failed(s, name, ev->raw, ev->raw_len) == -1)
			goto out;
		free(name);
	}
	name = xasprintf("%s.reason.json", ev->delivery_id);
	if ((rc = write_failed(s, name, reason, strlen(reason))) == -1)
		goto out;
	log_err("spool: %s is a dead letter in %s/failed/", ev->delivery_id,
	    s->dir);
	if (!e->dead_written) {
		e->dead_written = true;
		pthread_mutex_lock(&s->lock);
		s->n_dead++;
		pthread_mutex_unlock(&s->lock);
	}
out:
	free(name);
	free(reason);
	return rc;
}

/*
 * One failure for the reason file. exit_status is the program's exit code
 * and signal (with its name) what killed it, each null when it does not
 * apply, so that neither is ever read as the other.
 */
static json_t *
failure_json(const char *sink, const struct sink_result *r, int attempts)
{
	char name[32];
	json_t *f = json_pack("{s:s, s:i, s:n, s:n, s:n, s:s}", "sink", sink,
	    "attempts", attempts, "exit_status", "signal", "signal_name",
	    "detail", r->detail);

	if (f == NULL)
		return NULL;
	if ((r->exited && json_object_set_new(f, "exit_status",
	    json_integer(r->exit_status)) == -1) ||
	    (r->signal != 0 && (json_object_set_new(f, "signal",
	    json_integer(r->signal)) == -1 || json_object_set_new(f,
	    "signal_name", json_string(util_signal_name(r->signal, name,
	    sizeof name))) == -1))) {
		json_decref(f);
		return NULL;
	}
	return f;
}

/*
 * A sink is finished with an event. A failure for good is written to
 * failed/ before the sink is marked done, so that a crash can never leave
 * it marked done with its dead letter unwritten; when the dead letter
 * cannot be written the sink stays unmarked and runs again at the next
 * start.
 */
void
spool_sink_done(void *arg, struct ld_event *ev, const char *sink,
    const struct sink_result *r, int attempts)
{
	struct spool *s = arg;
	struct spool_entry *e = ev->spool;
	json_t *f;
	bool ok = true;

	if (e == NULL || e->batch == NULL)
		return;
	if (!r->ok) {
		f = failure_json(sink, r, attempts);
		pthread_mutex_lock(&s->dead_lock);
		if (e->failures == NULL)
			e->failures = json_array();
		if (f == NULL || e->failures == NULL ||
		    json_array_append_new(e->failures, f) == -1 ||
		    dead_letter(s, ev, e) == -1)
			ok = false;
		pthread_mutex_unlock(&s->dead_lock);
	}
	pthread_mutex_lock(&s->lock);
	if (ok)
		progress(s, e->batch, e->seq, sink);
	else
		e->keep = true;
	pthread_mutex_unlock(&s->lock);
}

static void
batch_finished(struct spool *s, struct batch *b)
{
	char *p;

	pthread_mutex_lock(&s->lock);
	LIST_REMOVE(s, batches, b);
	done_close(s, b);
	pthread_mutex_unlock(&s->lock);
	/* The batch file goes first: a crash between the two leaves a
	 * progress file alone, which recovery removes. A damaged one is
	 * kept for a person to look at. */
	p = path_in(s, "new", b->name, ".batch");
	if (b->damaged) {
		char *dst = path_in(s, "failed", b->name, ".batch.damaged");

		if (rename(p, dst) == -1)
			log_err("spool: rename %s to %s: %s", p, dst,
			    strerror(errno));
		else
			log_err("spool: kept the damaged %s as %s", p, dst);
		free(dst);
	} else if (unlink(p) == -1)
		log_err("spool: unlink %s: %s", p, strerror(errno));
	free(p);
	p = path_in(s, "new", b->name, ".done");
	(void)unlink(p);
	free(p);
	free(b);
}

void
spool_event_done(void *arg, struct ld_event *ev)
{
	struct spool *s = arg;
	struct spool_entry *e = ev->spool;
	struct batch *b;
	bool last = false;

	if (e == NULL || e->batch == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	b = e->batch;
	if (e->keep)
		log_err("spool: %s stays in the spool for the next start: its "
		    "dead letter could not be written", ev->delivery_id);
	else {
		progress(s, b, e->seq, "*");
		last = ++b->finished == b->n;
	}
	json_decref(e->failures);
	LIST_REMOVE(s, entries, e);
	free(e);
	ev->spool = NULL;
	pthread_mutex_unlock(&s->lock);
	if (last)
		batch_finished(s, b);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir/sub ending in ext, sorted (arrival order). */
static char **
list_dir(const char *dir, const char *sub, const char *ext, size_t *n,
    char **err)
{
	char *p = sub ? xasprintf("%s/%s", dir, sub) : xstrdup(dir);
	DIR *d = opendir(p);
	struct dirent *de;
	char **names = NULL;
	size_t el = strlen(ext), nl;

	*n = 0;
	if (d == NULL) {
		*err = xasprintf("spool: opendir %s: %s", p, strerror(errno));
		free(p);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		nl = strlen(de->d_name);
		if (de->d_name[0] == '.' || nl <= el ||
		    strcmp(de->d_name + nl - el, ext) != 0)
			continue;
		names = xreallocarray(names, *n + 1, sizeof *names);
		names[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	free(p);
	if (*n > 0)
		qsort(names, *n, sizeof *names, cmp_names);
	else
		names = xcalloc(1, sizeof *names);
	return names;
}

static void
free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The progress file as {"SEQ": ["sink", ..., "*"]}. */
static json_t *
read_progress(struct spool *s, const char *name)
{
	char *p = path_in(s, "new", name, ".done"), *line = NULL, *sp;
	FILE *f = fopen(p, "re");
	json_t *o = json_object(), *a;
	size_t cap = 0;
	ssize_t n;

	free(p);
	if (f == NULL || o == NULL) {
		if (f != NULL)
			fclose(f);
		return o;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break;	/* a line cut by a crash */
		line[n - 1] = '\0';
		if ((sp = strchr(line, ' ')) == NULL)
			continue;
		*sp = '\0';
		if ((a = json_object_get(o, line)) == NULL) {
			a = json_array();
			json_object_set_new(o, line, a);
		}
		json_array_append_new(a, json_string(sp + 1));
	}
	free(line);
	fclose(f);
	return o;
}

static bool
progress_has(json_t *sinks, const char *what)
{
	size_t i;
	json_t *v;

	json_array_foreach(sinks, i, v)
		if (strcmp(json_string_value(v), what) == 0)
			return true;
	return false;
}

/* Reads a whole regular file into a new buffer (NUL-terminated). Returns
 * NULL with errno set, having logged nothing. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;
	int saved;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 65536 + 1) {
			cap = cap ? cap * 2 : 65536 * 2;
			buf = xrealloc(buf, cap);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		saved = errno ? errno : EIO;
		fclose(f);
		free(buf);
		errno = saved;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* One record of a batch file read back. */
struct record {
	struct ld_event	*ev;
	json_t		*done;	/* borrowed from the progress object */
};

/*
 * Parses the records of one batch file into events. Returns -1 when the
 * file cannot be read (it is left alone for the next start), 1 when a
 * damaged record stops the parse (with the fsync before the rename that
 * takes a damaged disk; what follows cannot be framed), 0 otherwise.
 */
static int
read_batch(struct spool *s, const char *name, json_t *prog,
    struct record **recs, size_t *n, uint64_t *max_seq)
{
	char *p = path_in(s, "new", name, ".batch"), *buf;
	size_t len = 0, off = 0;
	int rc = 0;

	*recs = NULL;
	*n = 0;
	if ((buf = slurp(p, &len)) == NULL) {
		log_err("spool: read %s: %s; left for the next start", p,
		    strerror(errno));
		free(p);
		return -1;
	}
	while (off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		json_t *h;
		json_int_t seq, rlen, usec;
		const char *id;
		struct ld_event_error perr;
		struct ld_event *ev;
		char key[32];

		if (nl == NULL ||
		    (h = json_loadb(buf + off, (size_t)(nl - buf - off), 0,
		    NULL)) == NULL)
			goto damaged;
		if (json_unpack(h, "{s:I, s:s, s:I, s:I}", "seq", &seq,
		    "delivery_id", &id, "received_usec", &usec, "len", &rlen)
		    == -1 || seq < 0 || rlen < 0 ||
		    (size_t)rlen > len - (size_t)(nl - buf) - 1 ||
		    nl[1 + rlen] != '\n') {
			json_decref(h);
			goto damaged;
		}
		ev = ld_event_parse(nl + 1, (size_t)rlen, 0, &perr);
		if (ev == NULL) {
			/* It parsed when it came in: only a damaged disk. */
			log_err("spool: %s: record %" PRId64 " no longer "
			    "parses (%s); skipped", p, (int64_t)seq, perr.text);
			rc = 1;
		} else {
			snprintf(ev->delivery_id, sizeof ev->delivery_id, "%s",
			    id);
			ev->received_usec = usec;
			ev->spool = xcalloc(1, sizeof *ev->spool);
			ev->spool->seq = (uint64_t)seq;
			snprintf(key, sizeof key, "%" PRId64, (int64_t)seq);
			*recs = xreallocarray(*recs, *n + 1, sizeof **recs);
			(*recs)[*n].ev = ev;
			(*recs)[*n].done = json_object_get(prog, key);
			(*n)++;
		}
		if ((uint64_t)seq > *max_seq)
			*max_seq = (uint64_t)seq;
		json_decref(h);
		off = (size_t)(nl - buf) + 1 + (size_t)rlen + 1;
	}
	goto out;
damaged:
	log_err("spool: %s is damaged at byte %zu; what follows is lost, the "
	    "file is kept", p, off);
	rc = 1;
out:
	free(buf);
	free(p);
	return rc;
}

/* Removes tmp/ leftovers: written by a commit that a crash interrupted,
 * so never acknowledged. */
static void
discard_tmp(struct spool *s)
{
	char **names, *err = NULL, *p;
	size_t n, i;

	if ((names = list_dir(s->dir, "tmp", ".batch", &n, &err)) == NULL) {
		log_err("%s", err);
		free(err);
		return;
	}
	for (i = 0; i < n; i++) {
		p = path_in(s, "tmp", names[i], "");
		log_warn("spool: discarding half-written %s (a crash during "
		    "its commit; it was never acknowledged)", p);
		if (unlink(p) == -1)
			log_err("spool: unlink %s: %s", p, strerror(errno));
		free(p);
	}
	free_names(names, n);
}

/* Hands one batch's unfinished events to fn, in order. */
static void
recover_batch(struct spool *s, const char *file, spool_recover_fn fn,
    void *arg, uint64_t *max_seq, size_t *given)
{
	char name[32];
	json_t *prog, *v;
	struct record *recs;
	struct batch *b;
	size_t n, i, j, nd;
	const char *done[64];
	int rc;

	snprintf(name, sizeof name, "%.*s", (int)(strlen(file) - 6), file);
	prog = read_progress(s, name);
	if ((rc = read_batch(s, name, prog, &recs, &n, max_seq)) == -1) {
		json_decref(prog);
		return;
	}
	b = xcalloc(1, sizeof *b);
	snprintf(b->name, sizeof b->name, "%s", name);
	b->done_fd = -1;
	b->n = n;
	b->damaged = rc == 1;
	pthread_mutex_lock(&s->lock);
	LIST_INSERT(s, batches, b);
	for (i = 0; i < n; i++) {
		recs[i].ev->spool->batch = b;
		LIST_INSERT(s, entries, recs[i].ev->spool);
		if (recs[i].done && progress_has(recs[i].done, "*"))
			b->finished++;
	}
	pthread_mutex_unlock(&s->lock);
	if (b->finished == b->n)
		batch_finished(s, b);
	for (i = 0; i < n; i++) {
		struct ld_event *ev = recs[i].ev;

		if (recs[i].done && progress_has(recs[i].done, "*")) {
			pthread_mutex_lock(&s->lock);
			LIST_REMOVE(s, entries, ev->spool);
			pthread_mutex_unlock(&s->lock);
			free(ev->spool);
			ev->spool = NULL;
		} else {
			nd = 0;
			json_array_foreach(recs[i].done, j, v)
				if (nd < nitems(done))
					done[nd++] = json_string_value(v);
			fn(arg, ev, done, nd);
			(*given)++;
		}
		ld_event_unref(ev);
	}
	free(recs);
	json_decref(prog);
}

int
spool_recover(struct spool *s, spool_recover_fn fn, void *arg, char **err)
{
	char **names, **dones, *p;
	uint64_t max_seq = 0;
	size_t n, nd, i, given = 0;

	discard_tmp(s);
	if ((names = list_dir(s->dir, "new", ".batch", &n, err)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		recover_batch(s, names[i], fn, arg, &max_seq, &given);
	if (n > 0) {
		pthread_mutex_lock(&s->lock);
		if (max_seq + 1 > s->next_seq)
			s->next_seq = max_seq + 1;
		pthread_mutex_unlock(&s->lock);
	}
	free_names(names, n);
	/* A progress file whose batch is gone: the batch finished and a
	 * crash came before the progress file was removed. */
	if ((dones = list_dir(s->dir, "new", ".done", &nd, err)) == NULL)
		return -1;
	for (i = 0; i < nd; i++) {
		char *batch;

		p = path_in(s, "new", dones[i], "");
		batch = xasprintf("%.*s.batch", (int)(strlen(p) - 5), p);
		if (access(batch, F_OK) == -1)
			(void)unlink(p);
		free(batch);
		free(p);
	}
	free_names(dones, nd);
	if (given > 0)
		log_notice("spool: recovered %zu unfinished event%s from %s",
		    given, given == 1 ? "" : "s", s->dir);
	return 0;
}

/* Counts the records of a batch file that are not marked done. */
static size_t
count_pending(struct spool *s, const char *file)
{
	char name[32];
	json_t *prog;
	struct record *recs;
	uint64_t max = 0;
	size_t n, i, pending = 0;

	snprintf(name, sizeof name, "%.*s", (int)(strlen(file) - 6), file);
	prog = read_progress(s, name);
	(void)read_batch(s, name, prog, &recs, &n, &max);
	for (i = 0; i < n; i++) {
		if (!(recs[i].done && progress_has(recs[i].done, "*")))
			pending++;
		free(recs[i].ev->spool);
		recs[i].ev->spool = NULL;
		ld_event_unref(recs[i].ev);
	}
	free(recs);
	json_decref(prog);
	return pending;
}

int
spool_status(struct spool *running, const char *dir, struct spool_status *st,
    char **err)
{
	struct spool tmp;
	struct spool *s = running;
	char **names;
	size_t n, i;

	memset(st, 0, sizeof *st);
	if (s != NULL) {
		/* A running spool knows without reading the disk. */
		pthread_mutex_lock(&s->lock);
		st->write_errors = s->write_errors;
		st->pending = s->n_entries;
		st->batches = s->n_batches;
		st->dead = s->n_dead;
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	memset(&tmp, 0, sizeof tmp);
	tmp.dir = (char *)dir;
	s = &tmp;
	if ((names = list_dir(s->dir, "new", ".batch", &n, err)) == NULL)
		return -1;
	st->batches = n;
	for (i = 0; i < n; i++)
		st->pending += count_pending(s, names[i]);
	free_names(names, n);
	if ((names = list_dir(s->dir, "failed", ".reason.json", &n, err)) ==
	    NULL)
		return -1;
	st->dead = n;
	free_names(names, n);
	return 0;
}

/* Calls fn with ev as a new receipt: received now, with a new delivery
 * id unless it carries one. Takes the caller's reference. */
static void
replay_event(struct ld_event *ev, spool_recover_fn fn, void *arg)
{
	if (ev->delivery_id[0] == '\0')
		util_delivery_id(ev->delivery_id);
	ev->received_usec = util_now_usec();
	fn(arg, ev, NULL, 0);
	ld_event_unref(ev);
}

/* Calls fn with body as an event carrying id (NULL: a new one). */
static int
replay_one(const char *what, const char *body, size_t len, const char *id,
    spool_recover_fn fn, void *arg, char **err)
{
	struct ld_event_error perr;
	struct ld_event *ev = ld_event_parse(body, len, 0, &perr);

	if (ev == NULL) {
		*err = xasprintf("%s: %s", what, perr.text);
		return -1;
	}
	if (id != NULL)
		snprintf(ev->delivery_id, sizeof ev->delivery_id, "%s", id);
	replay_event(ev, fn, arg);
	return 0;
}

/* A dead letter: PATH is failed/ID.json (or its ID.reason.json); the
 * delivery id is the file's name. */
static int
replay_dead_letter(const char *path, spool_recover_fn fn, void *arg,
    char **err)
{
	size_t pl = strlen(path), len;
	char *payload, *body, *base, *id;
	int rc;

	if (pl > 12 && strcmp(path + pl - 12, ".reason.json") == 0)
		payload = xasprintf("%.*s.json", (int)(pl - 12), path);
	else
		payload = xstrdup(path);
	if ((body = slurp(payload, &len)) == NULL) {
		*err = xasprintf("read %s: %s", payload, strerror(errno));
		free(payload);
		return -1;
	}
	base = strrchr(payload, '/') ? strrchr(payload, '/') + 1 : payload;
	pl = strlen(base);
	/* ID.json names the original delivery; any other name gets a new
	 * delivery id. */
	id = pl > 5 && strcmp(base + pl - 5, ".json") == 0 ?
	    xstrndup(base, pl - 5) : NULL;
	rc = replay_one(payload, body, len, id, fn, arg, err);
	free(id);
	free(body);
	free(payload);
	return rc;
}

/* A file sink archive: one event per line (codec_archive.h), each with
 * its original delivery id. */
static long
replay_archive(const char *path, FILE *f, spool_recover_fn fn, void *arg,
    char **err)
{
	char *line = NULL, *why = NULL;
	size_t cap = 0;
	ssize_t n;
	long count = 0, lineno = 0;
	struct ld_event *ev;

	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (n <= 1)
			continue;
		if ((ev = codec_archive_decode(line, (size_t)n, 0, &why)) ==
		    NULL) {
			*err = xasprintf("%s:%ld: %s", path, lineno, why);
			free(why);
			free(line);
			return -1;
		}
		replay_event(ev, fn, arg);
		count++;
	}
	free(line);
	return count;
}

long
spool_read_replay(const char *path, spool_recover_fn fn, void *arg,
    char **err)
{
	struct stat st;
	char **names, *p;
	size_t n, i;
	long count = 0;
	char head[16];
	size_t hn;
	FILE *f;
	int c;

	if (stat(path, &st) == -1) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		if ((names = list_dir(path, NULL, ".reason.json", &n, err)) ==
		    NULL)
			return -1;
		for (i = 0; i < n && count >= 0; i++) {
			p = xasprintf("%s/%s", path, names[i]);
			count = replay_dead_letter(p, fn, arg, err) == -1 ? -1 :
			    count + 1;
			free(p);
		}
		free_names(names, n);
		return count;
	}
	if ((f = fopen(path, "re")) == NULL) {
		*err = xasprintf("open %s: %s", path, strerror(errno));
		return -1;
	}
	/* An archive, or a dead letter: the payload as LiveDesk sent it. */
	while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\t')
		;
	hn = 0;
	if (c != EOF) {
		head[hn++] = (char)c;
		hn += fread(head + 1, 1, sizeof head - 1, f);
	}
	if (codec_archive_recognise(head, hn)) {
		rewind(f);
		count = replay_archive(path, f, fn, arg, err);
		fclose(f);
		return count;
	}
	fclose(f);
	return replay_dead_letter(path, fn, arg, err) == -1 ? -1 : 1;
}
