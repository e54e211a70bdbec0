/*
 * The durable spool: the commit, and the batches and entries it keeps.
 *
 * Layout under spool_dir:
 *   tmp/NAME.batch      a commit being written; never acknowledged
 *   new/NAME.batch      committed events: per event a JSON header line
 *                       {"seq":..,"delivery_id":..,"received_usec":..,
 *                       "len":N} then N raw bytes and a newline
 *   new/NAME.done       progress, appended: "SEQ SINK\n" when a sink is
 *                       finished with an event, "SEQ *\n" when all are
 *                       (the last sink writes "*" alone)
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
 *
 * This file opens and frees the spool, commits (the writer), and keeps the
 * live batches and entries from their commit to their end; the progress
 * files are spool_progress.c's, dead letters spool_dead.c's, reading the
 * spool back at start spool_recover.c's, and --replay's reading
 * spool_replay.c's.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "spool.h"
#include "spool_int.h"
#include "util.h"

char *
spool_path(const struct spool *s, const char *sub, const char *name,
    const char *ext)
{
	return xasprintf("%s/%s/%s%s", s->dir, sub, name, ext);
}

int
spool_sync_dir(int fd)
{
	return fsync(fd) == -1 && errno != EINVAL ? -1 : 0;
}

/* Builds the batch in memory: one write, then one fsync. */
static char *
batch_bytes(struct spool_queue *list, uint64_t *first, size_t *len,
    size_t *n)
{
	char *buf = NULL, *hdr;
	size_t cap = 0, hl;
	struct spool_pending *p;

	*len = *n = 0;
	STAILQ_FOREACH(p, list, link) {
		struct ld_event *ev = p->ev;

		if (p == STAILQ_FIRST(list))
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
	char *tmp = spool_path(s, "tmp", name, ".batch");
	char *dst = spool_path(s, "new", name, ".batch");
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
	if (s->durable && spool_sync_dir(s->new_fd) == -1) {
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

/* The log says when the backlog crosses a tenth, a half and nine tenths
 * of spool_max, and when it has drained. Under lock. */
static void
backlog_levels(struct spool *s)
{
	static const int marks[] = { 1, 5, 9 };
	int level = 0;
	size_t i;

	if (s->spool_max == 0)
		return;
	for (i = 0; i < nitems(marks); i++)
		if (s->backlog_bytes >= s->spool_max / 10 * (uint64_t)marks[i])
			level = marks[i];
	if (level > s->level) {
		log_warn("spool: the backlog is past %d%% of spool_max: %zu "
		    "event%s, %" PRIu64 " of %" PRIu64 " bytes in %s",
		    level * 10, s->backlog_events,
		    s->backlog_events == 1 ? "" : "s", s->backlog_bytes,
		    s->spool_max, s->dir);
		s->level = level;
	} else if (s->level > 0 && s->backlog_events == 0) {
		log_notice("spool: the backlog has drained");
		s->level = 0;
	}
}

void
spool_write_error(struct spool *s, const char *fmt, ...)
{
	uint64_t held;
	int64_t span;
	va_list ap;
	bool show;

	show = log_rate_allow(&s->write_log, SPOOL_WRITE_LOG_BURST, &held,
	    &span);
	if (held > 0)
		log_err("spool: %llu more write errors not logged one by one "
		    "in the last %lld ms (livedesk_spool_write_errors_total "
		    "counts the commits among them)",
		    (unsigned long long)held, (long long)span);
	if (!show)
		return;
	va_start(ap, fmt);
	log_vctx(LOG_ERR, NULL, fmt, ap);
	va_end(ap);
}

static void
commit(struct spool *s, struct spool_queue *list)
{
	struct spool_batch *b = xcalloc(1, sizeof *b);
	struct spool_pending *p, *next;
	uint64_t first = 0;
	size_t len, n;
	char *buf = batch_bytes(list, &first, &len, &n);
	bool ok, gone = false;
	size_t i;

	snprintf(b->name, sizeof b->name, "%016" PRIx64, first);
	b->first = first;
	b->n = n;
	b->bytes = len;
	b->first_usec = STAILQ_FIRST(list)->ev->received_usec;
	b->done_fd = -1;
	ok = commit_file(s, b->name, buf, len) == 0;
	if (!ok) {
		pthread_mutex_lock(&s->lock);
		s->write_errors++;
		pthread_mutex_unlock(&s->lock);
		spool_write_error(s, "spool: write %s/tmp/%s.batch: %s; "
		    "answering 503", s->dir, b->name, strerror(errno));
		free(b);
		b = NULL;
	}
	free(buf);
	pthread_mutex_lock(&s->lock);
	STAILQ_FOREACH(p, list, link) {
		struct spool_entry *e = p->ev->spool;

		p->direct = e->direct;
		for (i = 0; i < p->n_later; i++)
			p->later[i]->uncommitted--;
		if (ok && e->direct) {
			e->batch = b;
			b->in_lane++;
		} else {
			/* Deferred: on disk only, until the loader. */
			spool_entry_remove(s, e);
			free(e);
			p->ev->spool = NULL;
		}
	}
	if (ok) {
		/* Not ready for the loader before its direct events are
		 * submitted: they come first in their conversations. The
		 * sinks' cursors say when it may go. */
		spool_batch_add(s, b);
		s->backlog_events += n;
		s->backlog_bytes += len;
	}
	pthread_mutex_unlock(&s->lock);
	for (p = STAILQ_FIRST(list); p != NULL; p = next) {
		const char **to = xcalloc(p->n_to + 1, sizeof *to);

		next = STAILQ_NEXT(p, link);
		for (i = 0; i < p->n_to; i++)
			to[i] = p->to[i];
		/* On disk means accepted: to the sinks that had room (should
		 * the dispatcher be closing, it waits in the spool for the
		 * next start). */
		if (ok && p->direct)
			s->window.submit(s->window.arg, p->ev, to, p->n_to);
		else if (!ok)
			for (i = 0; i < p->n_to; i++)
				s->window.unreserve(s->window.arg, p->ev,
				    to[i]);
		p->fn(p->arg, p->ev, ok, p->direct);
		ld_event_unref(p->ev);
		free(to);
		free(p->to);
		free(p->later);
		free(p);
	}
	pthread_mutex_lock(&s->lock);
	if (ok) {
		b->ready = true;
		gone = spool_batch_unlink_if_done(s, b);
		backlog_levels(s);
	}
	spool_load_wake(s);
	pthread_mutex_unlock(&s->lock);
	if (gone)
		spool_batch_finished(s, b);
}

static void *
writer(void *arg)
{
	struct spool *s = arg;
	struct spool_queue list;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (STAILQ_EMPTY(&s->queue) && !s->quit)
			pthread_cond_wait(&s->cond, &s->lock);
		if (STAILQ_EMPTY(&s->queue))
			break;
		/* Everything queued while the last commit ran goes into this
		 * one: that is the group commit. */
		STAILQ_INIT(&list);
		STAILQ_CONCAT(&list, &s->queue);
		s->committing = true;
		pthread_mutex_unlock(&s->lock);
		commit(s, &list);
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
	struct spool_pending *p = xcalloc(1, sizeof *p);
	char (*names)[SPOOL_SINK_NAME] = NULL;
	struct spool_lane *l;
	size_t i, n;

	p->ev = ld_event_ref(ev);
	p->fn = fn;
	p->arg = arg;
	ev->spool = xcalloc(1, sizeof *ev->spool);
	pthread_mutex_lock(&s->lock);
	ev->spool->seq = s->next_seq++;
	/*
	 * Decided here, under the lock, in seq order, for each sink: once
	 * one of a sink's events waits on disk, every later one for that
	 * sink does too, until the loader has caught the sink up, so that
	 * no conversation's event overtakes an earlier one at any sink.
	 * Without a window (stopped), it waits on disk for every sink.
	 */
	n = s->window_set ? spool_window_sinks(s, ev, &names) : 0;
	p->to = xcalloc(n > 0 ? n : 1, sizeof *p->to);
	p->later = xcalloc(s->n_lanes + n + 1, sizeof *p->later);
	for (i = 0; i < n; i++) {
		l = spool_lane_get(s, names[i]);
		if (!l->deferred && s->window.reserve(s->window.arg, ev,
		    l->name)) {
			memcpy(p->to[p->n_to++], l->name, sizeof l->name);
			continue;
		}
		if (!l->deferred) {
			l->deferred = true;
			l->cursor = ev->spool->seq;
		}
		l->uncommitted++;
		p->later[p->n_later++] = l;
	}
	if (!s->window_set) {
		for (i = 0; i < s->n_lanes; i++) {
			l = s->lanes[i];
			if (!l->deferred) {
				l->deferred = true;
				l->cursor = ev->spool->seq;
			}
			l->uncommitted++;
			p->later[p->n_later++] = l;
		}
	}
	/* Direct when some sink takes it now, or when it goes to none (it
	 * is finished at once). */
	ev->spool->direct = s->window_set && (p->n_to > 0 || p->n_later == 0);
	ev->spool->whole = p->n_later == 0;
	ev->spool->sinks_left = p->n_to;
	free(names);
	spool_entry_add(s, ev->spool);
	/* The writer waits only on an empty queue: the first event wakes
	 * it, the rest find it awake (or committing, and it looks again). */
	if (STAILQ_EMPTY(&s->queue))
		pthread_cond_broadcast(&s->cond);
	STAILQ_INSERT_TAIL(&s->queue, p, link);
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
	STAILQ_INIT(&s->queue);
	TAILQ_INIT(&s->batches);
	LIST_INIT(&s->entries);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->dead_lock, NULL);
	pthread_mutex_init(&s->done_lock, NULL);
	log_rate_init(&s->write_log);
	pthread_cond_init(&s->cond, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->load_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	s->spool_max = UINT64_MAX;
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
		char **names = spool_list_dir(dir, "failed", ".reason.json",
		    &s->n_dead, err);

		if (names == NULL)
			goto fail;
		util_strv_free(names, s->n_dead);
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
	while (!STAILQ_EMPTY(&s->queue) || s->committing)
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
	spool_load_stop(s);
	if (s->writer_started) {
		pthread_mutex_lock(&s->lock);
		s->quit = true;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->writer, NULL);
	}
	for (size_t i = 0; i < s->n_lanes; i++)
		free(s->lanes[i]);
	free(s->lanes);
	while (!TAILQ_EMPTY(&s->batches)) {
		struct spool_batch *b = TAILQ_FIRST(&s->batches);

		spool_batch_remove(s, b);
		spool_progress_close(s, b);
		free(b);
	}
	while (!LIST_EMPTY(&s->entries)) {
		struct spool_entry *e = LIST_FIRST(&s->entries);

		spool_entry_remove(s, e);
		free(e);
	}
	if (s->new_fd != -1)
		close(s->new_fd);
	if (s->failed_fd != -1)
		close(s->failed_fd);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->load_cond);
	pthread_mutex_destroy(&s->dead_lock);
	pthread_mutex_destroy(&s->done_lock);
	log_rate_destroy(&s->write_log);
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
}

void
spool_batch_add(struct spool *s, struct spool_batch *b)
{
	TAILQ_INSERT_TAIL(&s->batches, b, link);
	s->n_batches++;
}

void
spool_batch_remove(struct spool *s, struct spool_batch *b)
{
	TAILQ_REMOVE(&s->batches, b, link);
	s->n_batches--;
}

bool
spool_batch_unlink_if_done(struct spool *s, struct spool_batch *b)
{
	/* The sinks are known once the loader starts: before, at
	 * recovery, only a batch finished by every sink may go. */
	if (!b->ready || b->in_lane > 0 || b->keep || (!b->passed &&
	    (!s->lanes_known || !spool_lanes_past(s, b))))
		return false;
	spool_batch_remove(s, b);
	spool_progress_close(s, b);
	s->backlog_bytes -= b->bytes;
	/* What no "*" took out of the backlog: done by each sink apart. */
	s->backlog_events -= b->n - b->n_star;
	backlog_levels(s);
	return true;
}

void
spool_entry_add(struct spool *s, struct spool_entry *e)
{
	LIST_INSERT_HEAD(&s->entries, e, link);
	s->n_entries++;
}

void
spool_entry_remove(struct spool *s, struct spool_entry *e)
{
	LIST_REMOVE(e, link);
	s->n_entries--;
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
	bool ok = true, star = false;

	if (e == NULL || e->batch == NULL)
		return;
	if (!r->ok && spool_dead_add(s, ev, sink, r, attempts) == -1)
		ok = false;
	pthread_mutex_lock(&s->lock);
	if (!ok)
		e->keep = true;
	else if (e->whole && e->sinks_left > 0 && --e->sinks_left == 0 &&
	    !e->keep) {
		/* The last of the sinks it was handed to: one "*" line says
		 * this sink's part and the event's both. */
		star = e->star = true;
	}
	/* The sink's window has room again: its loader may go on. */
	spool_load_wake(s);
	pthread_mutex_unlock(&s->lock);
	/* Outside the lock (its batch stays while e is live): the HTTP
	 * threads and the writer need not wait for a write. */
	if (ok)
		spool_progress_add(s, e->batch, e->seq, star ? "*" : sink);
}

void
spool_batch_finished(struct spool *s, struct spool_batch *b)
{
	char *p;

	/* Out of the live ones already (spool_batch_unlink_if_done). The
	 * batch file goes first: a crash between the two leaves a
	 * progress file alone, which recovery removes. A damaged one is
	 * kept for a person to look at. */
	p = spool_path(s, "new", b->name, ".batch");
	if (b->damaged) {
		char *dst = spool_path(s, "failed", b->name, ".batch.damaged");

		if (rename(p, dst) == -1)
			log_err("spool: rename %s to %s: %s", p, dst,
			    strerror(errno));
		else
			log_err("spool: kept the damaged %s as %s", p, dst);
		free(dst);
	} else if (unlink(p) == -1)
		log_err("spool: unlink %s: %s", p, strerror(errno));
	free(p);
	p = spool_path(s, "new", b->name, ".done");
	(void)unlink(p);
	free(p);
	free(b);
}

void
spool_event_done(void *arg, struct ld_event *ev)
{
	struct spool *s = arg;
	struct spool_entry *e = ev->spool;
	struct spool_batch *b;
	bool gone;

	if (e == NULL || e->batch == NULL)
		return;
	b = e->batch;
	/* Every sink it goes to had it from here: it is done, unless its
	 * last sink said so already (spool_sink_done). Loaded for one sink,
	 * it is that sink's line that counts. Its sinks are all done: no
	 * other thread touches e now. */
	if (!e->keep && e->whole && !e->star)
		spool_progress_add(s, b, e->seq, "*");
	pthread_mutex_lock(&s->lock);
	if (e->keep) {
		log_err("spool: %s stays in the spool for the next start: its "
		    "dead letter could not be written", ev->delivery_id);
		b->keep = true;
	} else if (e->whole) {
		s->backlog_events--;
		b->n_star++;
	}
	b->in_lane--;
	spool_entry_remove(s, e);
	free(e);
	ev->spool = NULL;
	gone = spool_batch_unlink_if_done(s, b);
	if (s->backlog_events == 0)
		backlog_levels(s);
	/* Room in the window: the loader may go on. */
	spool_load_wake(s);
	pthread_mutex_unlock(&s->lock);
	if (gone)
		spool_batch_finished(s, b);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
spool_list_dir(const char *dir, const char *sub, const char *ext, size_t *n,
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

int
spool_status(struct spool *running, const char *dir, struct spool_status *st,
    char **err)
{
	struct spool *s = running;

	memset(st, 0, sizeof *st);
	if (s != NULL) {
		/* A running spool knows without reading the disk. */
		pthread_mutex_lock(&s->lock);
		st->write_errors = s->write_errors;
		st->batches = s->n_batches;
		st->dead = s->n_dead;
		st->pending = s->backlog_events;
		st->backlog_bytes = s->backlog_bytes;
		for (size_t i = 0; i < s->n_lanes; i++)
			st->deferred |= s->lanes[i]->deferred;
		if (!TAILQ_EMPTY(&s->batches) && s->backlog_events > 0)
			st->oldest_usec = TAILQ_FIRST(&s->batches)->first_usec;
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	return spool_recover_count(dir, st, err);
}

void
spool_set_limits(struct spool *s, uint64_t max, uint64_t min_free)
{
	pthread_mutex_lock(&s->lock);
	s->spool_max = max;
	s->min_free = min_free;
	s->free_checked = 0;
	pthread_mutex_unlock(&s->lock);
}

/* Free space for the spool on its filesystem, read at most every 100 ms:
 * a statvfs per request would cost more than the request. Under lock. */
static uint64_t
free_space(struct spool *s)
{
	struct statvfs sv;
	int64_t now = util_mono_msec();

	if (s->free_checked != 0 && now - s->free_checked < 100)
		return s->free_bytes;
	s->free_checked = now;
	if (statvfs(s->dir, &sv) == -1) {
		log_err("spool: statvfs %s: %s", s->dir, strerror(errno));
		s->free_bytes = UINT64_MAX;
	} else
		s->free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	return s->free_bytes;
}

enum spool_full
spool_room(struct spool *s, size_t len)
{
	enum spool_full why = SPOOL_ROOM;
	uint64_t avail, over = 0;
	int64_t now;

	pthread_mutex_lock(&s->lock);
	avail = free_space(s);
	if (s->backlog_bytes + len > s->spool_max) {
		why = SPOOL_FULL_MAX;
		over = s->backlog_bytes + len - s->spool_max;
	} else if (s->min_free > 0 && avail < s->min_free + len) {
		why = SPOOL_FULL_DISK;
		over = s->min_free + len - avail;
	}
	now = util_mono_msec();
	if (why != SPOOL_ROOM && (s->limit_logged == 0 ||
	    now - s->limit_logged >= 60000)) {
		s->limit_logged = now;
		if (why == SPOOL_FULL_MAX)
			log_err("spool: refusing events with 503: the backlog "
			    "in %s (%" PRIu64 " bytes) would pass spool_max "
			    "(%" PRIu64 ") by %" PRIu64 " bytes", s->dir,
			    s->backlog_bytes, s->spool_max, over);
		else
			log_err("spool: refusing events with 503: free space "
			    "on the filesystem of %s (%" PRIu64 " bytes) would "
			    "fall under spool_min_free (%" PRIu64 ") by %"
			    PRIu64 " bytes", s->dir, avail, s->min_free, over);
	}
	pthread_mutex_unlock(&s->lock);
	return why;
}
