/* File sink: JSON Lines, one line per event with the original payload
 * (the line: codec_archive.h), appended with one write; reopened on SIGHUP
 * for logrotate. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec_archive.h"
#include "config_key.h"
#include "livedesk/sink.h"
#include "log.h"
#include "util.h"

struct file_conf {
	char	*path;
	bool	 fsync;
};

#define OFF(f) offsetof(struct file_conf, f)
static const struct config_key file_keys[] = {
	{ .name = "path", .type = CONFIG_KEY_PATH, .off = OFF(path),
	  .required = true },
	{ .name = "fsync", .type = CONFIG_KEY_BOOL, .off = OFF(fsync),
	  .def = "no" },
	{ .name = NULL },
};
#undef OFF

static const struct config_key_section file_section = {
	.keys = file_keys,
	.size = sizeof(struct file_conf),
};

static int
file_conf_set(void **conf, const char *key, const char *value, char **err)
{
	return config_key_section_set(&file_section, conf, key, value, err);
}

static int
file_conf_check(void **conf, char **err)
{
	return config_key_section_check(&file_section, conf, err);
}

static void
file_conf_print(const void *conf, FILE *out)
{
	config_key_section_print(&file_section, conf, out);
}

static void
file_conf_free(void *conf)
{
	config_key_section_free(&file_section, conf);
}

static int
file_probe(const void *conf, char **err)
{
	const struct file_conf *c = conf;
	char *dir = xstrdup(c->path), *slash = strrchr(dir, '/');
	int rc = 0;

	if (slash != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (access(c->path, W_OK) == -1 && (errno != ENOENT ||
	    access(dir, W_OK | X_OK) == -1)) {
		*err = xasprintf("cannot write %s: %s", c->path,
		    strerror(errno));
		rc = -1;
	}
	free(dir);
	return rc;
}

/* The fd is swapped by reopen while deliveries may be writing: they hold
 * the read side of the lock for one write. */
struct file_state {
	const struct file_conf	*conf;
	const char		*name;
	pthread_rwlock_t	 lock;
	int			 fd;
};

static int
open_file(const char *path, char **err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd == -1)
		*err = xasprintf("open %s: %s", path, strerror(errno));
	return fd;
}

static int
file_start(void **state, const void *conf, const struct sink_ctx *ctx,
    char **err)
{
	const struct file_conf *c = conf;
	struct file_state *s;
	int fd;

	if ((fd = open_file(c->path, err)) == -1)
		return -1;
	s = xcalloc(1, sizeof *s);
	if ((errno = pthread_rwlock_init(&s->lock, NULL)) != 0) {
		*err = xasprintf("rwlock: %s", strerror(errno));
		close(fd);
		free(s);
		return -1;
	}
	s->conf = c;
	s->name = ctx->name;
	s->fd = fd;
	*state = s;
	return 0;
}

static void
file_deliver(void *state, struct ld_event *ev, struct sink_result *r)
{
	struct file_state *s = state;
	size_t len;
	char *line = codec_archive_encode(ev, &len);
	int rc, saved;

	if (line == NULL) {
		snprintf(r->detail, sizeof r->detail, "out of memory");
		return;
	}
	pthread_rwlock_rdlock(&s->lock);
	rc = util_write_all(s->fd, line, len);
	if (rc == 0 && s->conf->fsync)
		rc = fdatasync(s->fd);
	saved = errno;
	pthread_rwlock_unlock(&s->lock);
	free(line);
	if (rc == -1) {
		snprintf(r->detail, sizeof r->detail, "write %s: %s",
		    s->conf->path, strerror(saved));
		return;
	}
	r->ok = true;
}

static int
file_reopen(void *state)
{
	struct file_state *s = state;
	char *err = NULL;
	int fd = open_file(s->conf->path, &err), old;

	if (fd == -1) {
		struct log_ctx ctx = { NULL, NULL, s->name, -1 };

		log_ctx(LOG_ERR, &ctx, "reopen: %s (keeping the old file)",
		    err);
		free(err);
		return -1;
	}
	pthread_rwlock_wrlock(&s->lock);
	old = s->fd;
	s->fd = fd;
	pthread_rwlock_unlock(&s->lock);
	close(old);
	return 0;
}

static void
file_stop(void *state)
{
	struct file_state *s = state;

	if (s == NULL)
		return;
	close(s->fd);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

const struct sink_ops sink_file_ops = {
	.type = "file",
	.incoming_only = false,
	.keys = &file_section,
	.conf_set = file_conf_set,
	.conf_check = file_conf_check,
	.conf_print = file_conf_print,
	.conf_free = file_conf_free,
	.probe = file_probe,
	.start = file_start,
	.deliver = file_deliver,
	.reopen = file_reopen,
	.stop = file_stop,
};
