/* The progress files: new/NAME.done, a line appended each time a sink, or
 * every sink, is finished with an event of batch NAME; and read back. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "spool_int.h"
#include "util.h"

/* Closes b's progress file, if open, and takes it out of the cache of open
 * ones. Under done_lock. */
static void
done_close(struct spool *s, struct spool_batch *b)
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

void
spool_progress_close(struct spool *s, struct spool_batch *b)
{
	pthread_mutex_lock(&s->done_lock);
	done_close(s, b);
	pthread_mutex_unlock(&s->done_lock);
}

/* b's progress file, opened (closing the oldest open one when the cache
 * is full) if need be; -1 when it cannot be. Under done_lock. */
static int
done_open(struct spool *s, struct spool_batch *b)
{
	char *p;

	if (b->done_fd != -1)
		return b->done_fd;
	if (s->n_open_done == SPOOL_OPEN_DONE)
		done_close(s, s->open_done[0]);
	p = spool_path(s, "new", b->name, ".done");
	b->done_fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (b->done_fd == -1)
		spool_write_error(s, "spool: open %s: %s", p,
		    strerror(errno));
	else
		s->open_done[s->n_open_done++] = b;
	free(p);
	return b->done_fd;
}

/* Losing a line costs a repeated delivery after a crash, never a lost one,
 * so no fsync. */
void
spool_progress_add(struct spool *s, struct spool_batch *b, uint64_t seq,
    const char *what)
{
	char line[160];
	int n;

	n = snprintf(line, sizeof line, "%" PRIu64 " %s\n", seq, what);
	pthread_mutex_lock(&s->done_lock);
	if (done_open(s, b) != -1 && n > 0 && (size_t)n < sizeof line &&
	    util_write_all(b->done_fd, line, (size_t)n) == -1)
		spool_write_error(s, "spool: write %s/new/%s.done: %s", s->dir,
		    b->name, strerror(errno));
	pthread_mutex_unlock(&s->done_lock);
}

json_t *
spool_progress_read(struct spool *s, const char *name)
{
	char *p = spool_path(s, "new", name, ".done"), *line = NULL, *sp;
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

bool
spool_progress_has(json_t *sinks, const char *what)
{
	size_t i;
	json_t *v;

	json_array_foreach(sinks, i, v)
		if (strcmp(json_string_value(v), what) == 0)
			return true;
	return false;
}
