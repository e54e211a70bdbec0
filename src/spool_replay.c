/* Replay: dead letters and file-sink archives read back as new receipts,
 * for --replay. */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_archive.h"
#include "log.h"
#include "spool.h"
#include "spool_int.h"
#include "util.h"

/* Calls fn with ev as a new receipt: received now, with a new delivery
 * id unless it carries one. Takes the caller's reference. */
static void
replay_event(struct ld_event *ev, spool_replay_fn fn, void *arg)
{
	if (ev->delivery_id[0] == '\0')
		util_delivery_id(ev->delivery_id);
	ev->received_usec = util_now_usec();
	fn(arg, ev);
	ld_event_unref(ev);
}

/* Calls fn with body as an event carrying id (NULL: a new one). */
static int
replay_one(const char *what, const char *body, size_t len, const char *id,
    spool_replay_fn fn, void *arg, char **err)
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
replay_dead_letter(const char *path, spool_replay_fn fn, void *arg,
    char **err)
{
	size_t pl = strlen(path), len;
	char *payload, *body, *base, *id;
	int rc;

	if (pl > 12 && strcmp(path + pl - 12, ".reason.json") == 0)
		payload = xasprintf("%.*s.json", (int)(pl - 12), path);
	else
		payload = xstrdup(path);
	if ((body = util_read_file(payload, &len)) == NULL) {
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
replay_archive(const char *path, FILE *f, spool_replay_fn fn, void *arg,
    size_t *skipped)
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
			log_err("replay: %s:%ld: %s; skipped", path, lineno,
			    why);
			free(why);
			why = NULL;
			(*skipped)++;
			continue;
		}
		replay_event(ev, fn, arg);
		count++;
	}
	free(line);
	return count;
}

long
spool_replay_read(const char *path, spool_replay_fn fn, void *arg,
    size_t *skipped, char **err)
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
		/* Every payload, ID.json, with its reason or without (one
		 * whose reason was lost is still a customer's message). */
		if ((names = spool_list_dir(path, NULL, ".json", &n, err)) ==
		    NULL)
			return -1;
		for (i = 0; i < n; i++) {
			size_t nl = strlen(names[i]);
			char *why = NULL;

			if (nl > 12 && strcmp(names[i] + nl - 12,
			    ".reason.json") == 0)
				continue;
			p = xasprintf("%s/%s", path, names[i]);
			if (replay_dead_letter(p, fn, arg, &why) == 0)
				count++;
			else {
				log_err("replay: %s; skipped", why);
				(*skipped)++;
			}
			free(why);
			free(p);
		}
		util_strv_free(names, n);
		return count;
	}
	/* A device or a pipe (/dev/zero) would be read without end. */
	if (!S_ISREG(st.st_mode)) {
		*err = xasprintf("%s: not a regular file or a directory", path);
		return -1;
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
		count = replay_archive(path, f, fn, arg, skipped);
		fclose(f);
		return count;
	}
	fclose(f);
	return replay_dead_letter(path, fn, arg, err) == -1 ? -1 : 1;
}
