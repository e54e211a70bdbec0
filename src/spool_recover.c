/* The spool read back from disk: its batch files record by record, the
 * live batches taken back after a restart or a crash (their events are
 * the loader's to stream), and the counts of a spool no daemon runs on. */
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "spool.h"
#include "spool_int.h"
#include "util.h"

int
spool_record_next(FILE *f, struct spool_record *r, bool raw)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	json_t *h = NULL;
	json_int_t seq, rlen, usec;
	const char *id;
	int rc = -1;

	r->raw = NULL;
	if ((n = getline(&line, &cap, f)) <= 0) {
		free(line);
		return feof(f) ? 0 : -1;
	}
	if (line[n - 1] != '\n' ||
	    (h = json_loadb(line, (size_t)n - 1, 0, NULL)) == NULL ||
	    json_unpack(h, "{s:I, s:s, s:I, s:I}", "seq", &seq, "delivery_id",
	    &id, "received_usec", &usec, "len", &rlen) == -1 || seq < 0 ||
	    rlen < 0 || rlen > (json_int_t)1 << 32)
		goto out;
	r->seq = (uint64_t)seq;
	r->usec = usec;
	r->len = (size_t)rlen;
	snprintf(r->id, sizeof r->id, "%s", id);
	if (raw) {
		r->raw = xmalloc(r->len + 1);
		if (fread(r->raw, 1, r->len, f) != r->len)
			goto out;
		r->raw[r->len] = '\0';
	} else if (fseeko(f, (off_t)r->len, SEEK_CUR) == -1)
		goto out;
	if (fgetc(f) != '\n')
		goto out;
	rc = 1;
out:
	if (rc != 1) {
		free(r->raw);
		r->raw = NULL;
	}
	json_decref(h);
	free(line);
	return rc;
}

/* The events marked done by every sink in NAME's progress file. */
static size_t
count_done(struct spool *s, const char *name)
{
	char *p = spool_path(s, "new", name, ".done"), *line = NULL;
	FILE *f = fopen(p, "re");
	size_t cap = 0, n = 0;
	ssize_t len;

	free(p);
	if (f == NULL)
		return 0;
	while ((len = getline(&line, &cap, f)) > 0)
		if (len >= 3 && strcmp(line + len - 3, " *\n") == 0)
			n++;
	free(line);
	fclose(f);
	return n;
}

int
spool_batch_scan(struct spool *s, const char *name, size_t *n,
    uint64_t *last, int64_t *first_usec, size_t *n_done)
{
	char *p = spool_path(s, "new", name, ".batch");
	FILE *f = fopen(p, "re");
	struct spool_record r;
	int rc;

	*n = *n_done = 0;
	*last = 0;
	*first_usec = 0;
	if (f == NULL) {
		log_err("spool: open %s: %s", p, strerror(errno));
		free(p);
		return -1;
	}
	while ((rc = spool_record_next(f, &r, false)) == 1) {
		if (*n == 0)
			*first_usec = r.usec;
		(*n)++;
		*last = r.seq;
	}
	fclose(f);
	if (rc == -1)
		log_err("spool: %s is damaged after record %zu; what follows "
		    "is lost, the file is kept", p, *n);
	free(p);
	*n_done = count_done(s, name);
	if (*n_done > *n)
		*n_done = *n;
	return rc == -1 ? 1 : 0;
}

/* Removes tmp/ leftovers: written by a commit that a crash interrupted,
 * so never acknowledged. */
static void
discard_tmp(struct spool *s)
{
	char **names, *err = NULL, *p;
	size_t n, i;

	if ((names = spool_list_dir(s->dir, "tmp", ".batch", &n, &err)) == NULL) {
		log_err("%s", err);
		free(err);
		return;
	}
	for (i = 0; i < n; i++) {
		p = spool_path(s, "tmp", names[i], "");
		log_warn("spool: discarding half-written %s (a crash during "
		    "its commit; it was never acknowledged)", p);
		if (unlink(p) == -1)
			log_err("spool: unlink %s: %s", p, strerror(errno));
		free(p);
	}
	util_strv_free(names, n);
}

/* Takes one batch file back as a live batch, its events left on disk. */
static void
recover_batch(struct spool *s, const char *file)
{
	struct spool_batch *b = xcalloc(1, sizeof *b);
	struct stat sb;
	char *p;
	size_t n, n_done;
	uint64_t last;
	int64_t usec;
	int rc;

	snprintf(b->name, sizeof b->name, "%.*s", (int)(strlen(file) - 6),
	    file);
	b->done_fd = -1;
	b->first = strtoull(b->name, NULL, 16);
	rc = spool_batch_scan(s, b->name, &n, &last, &usec, &n_done);
	p = spool_path(s, "new", b->name, ".batch");
	if (stat(p, &sb) == 0)
		b->bytes = (uint64_t)sb.st_size;
	free(p);
	b->n = n;
	b->first_usec = usec;
	b->ready = true;
	b->damaged = rc == 1;
	/* Unreadable: left for the next start, whatever happens now. */
	b->keep = rc == -1;
	b->passed = rc == -1 || n_done == n;
	b->n_star = n_done;
	pthread_mutex_lock(&s->lock);
	spool_batch_add(s, b);
	s->backlog_bytes += b->bytes;
	s->backlog_events += n - n_done;
	/* Every sink starts from the oldest unfinished batch (the loader
	 * skips what a sink's progress says it has done). */
	if (!b->passed && !s->recovering) {
		s->recovering = true;
		s->recover_from = b->first;
	}
	if (n > 0 && last + 1 > s->next_seq)
		s->next_seq = last + 1;
	if (b->first + 1 > s->next_seq)
		s->next_seq = b->first + 1;
	if (spool_batch_unlink_if_done(s, b)) {
		pthread_mutex_unlock(&s->lock);
		spool_batch_finished(s, b);
		return;
	}
	pthread_mutex_unlock(&s->lock);
}

int
spool_recover(struct spool *s, char **err)
{
	char **names, **dones, *p;
	size_t n, nd, i, given;

	discard_tmp(s);
	if ((names = spool_list_dir(s->dir, "new", ".batch", &n, err)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		recover_batch(s, names[i]);
	util_strv_free(names, n);
	/* A progress file whose batch is gone: the batch finished and a
	 * crash came before the progress file was removed. */
	if ((dones = spool_list_dir(s->dir, "new", ".done", &nd, err)) == NULL)
		return -1;
	for (i = 0; i < nd; i++) {
		char *batch;

		p = spool_path(s, "new", dones[i], "");
		batch = xasprintf("%.*s.batch", (int)(strlen(p) - 5), p);
		if (access(batch, F_OK) == -1)
			(void)unlink(p);
		free(batch);
		free(p);
	}
	util_strv_free(dones, nd);
	pthread_mutex_lock(&s->lock);
	given = s->backlog_events;
	pthread_mutex_unlock(&s->lock);
	if (given > 0)
		log_notice("spool: recovered %zu unfinished event%s from %s; "
		    "they are loaded from disk as the window frees", given,
		    given == 1 ? "" : "s", s->dir);
	return 0;
}

int
spool_recover_count(const char *dir, struct spool_status *st, char **err)
{
	struct spool tmp;
	struct stat sb;
	char **names, *p, name[32];
	size_t n, i, ne, nd;
	uint64_t last;
	int64_t usec;

	memset(&tmp, 0, sizeof tmp);
	tmp.dir = (char *)dir;
	if ((names = spool_list_dir(dir, "new", ".batch", &n, err)) == NULL)
		return -1;
	st->batches = n;
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "%.*s",
		    (int)(strlen(names[i]) - 6), names[i]);
		if (spool_batch_scan(&tmp, name, &ne, &last, &usec, &nd) == -1)
			continue;
		st->pending += ne - nd;
		if (ne > nd && st->oldest_usec == 0)
			st->oldest_usec = usec;
		p = spool_path(&tmp, "new", name, ".batch");
		if (stat(p, &sb) == 0)
			st->backlog_bytes += (uint64_t)sb.st_size;
		free(p);
	}
	util_strv_free(names, n);
	if ((names = spool_list_dir(dir, "failed", ".reason.json", &n,
	    err)) == NULL)
		return -1;
	st->dead = n;
	util_strv_free(names, n);
	return 0;
}
