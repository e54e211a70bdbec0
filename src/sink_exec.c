/* Exec sink: runs a program per event, the payload on its stdin, the event's
 * fields in its environment, its output in the log. Never through a shell. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config_key.h"
#include "livedesk/sink.h"
#include "log.h"
#include "util.h"

#define EXEC_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"
#define EXEC_READ_MAX		4096	/* output read at once, per stream */
/* Longer output lines are logged in pieces: even fully escaped (4 bytes
 * for one) a piece stays within one log line. */
#define EXEC_PIECE_MAX		1000
#define EXEC_TAIL_LINES		5	/* stderr lines kept for the detail */
#define EXEC_TAIL_BYTES		400
#define EXEC_VALUE_MAX		(32 * 1024)	/* per environment value */
#define EXEC_POLL_MS		100	/* how soon a cancel is noticed */
#define EXEC_LINGER_MS		200	/* output still open after exit */
#define EXEC_STDIN_CHUNK	65536

struct exec_conf {
	char		 *command;	/* as written, for conf_print */
	char		**argv;		/* parsed from command, NULL-ended */
	int64_t		  timeout_ms;
	int64_t		  kill_after_ms;
	char		**env;		/* "KEY=VALUE" lines, n_env */
	size_t		  n_env;
	char		 *workdir;
	uint64_t	  max_output;
};

/* A growing, NULL-terminated environment; one string per key. */
struct envv {
	char	**v;
	size_t	  n;
};

struct exec_state {
	const struct exec_conf	 *conf;
	char			 *name;
	const atomic_bool	 *cancel;
	char			 *prog;		/* NULL: look it up per run */
	struct envv		  env;		/* PATH, LANG, the env lines */
	const char		 *path;		/* PATH's value, in env */
};

struct stream {
	int		 fd;
	int		 prio;
	const char	*label;
	size_t		 len;
	char		 buf[EXEC_READ_MAX];
};

enum why {
	WHY_NONE,
	WHY_TIMEOUT,
	WHY_CANCEL,
};

/* One run of the program. */
struct exec_run {
	const struct exec_state	*s;
	struct log_ctx		 ctx;
	pid_t			 pid;
	int			 in_fd;		/* our end of its stdin */
	const char		*in_buf;
	size_t			 in_len;
	size_t			 in_off;
	struct stream		 out[2];	/* stdout, stderr */
	uint64_t		 logged;
	uint64_t		 dropped;
	char			*tail[EXEC_TAIL_LINES];	/* raw stderr lines */
	size_t			 tail_len[EXEC_TAIL_LINES];
	size_t			 tail_next;
	bool			 sigpipe_pending;	/* before we began */
	enum why		 why;
};

/* --- configuration --- */

static void
argv_free(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/*
 * Splits a command into words the way sh would, without expanding anything:
 * 'single quotes', "double quotes" with \" \\ \$ \` escapes, and backslash
 * outside quotes. Shell operators outside quotes are refused: nothing here
 * runs a shell, so they would only become surprising arguments.
 */
static char **
argv_parse(const char *s, char **err)
{
	char **argv = NULL, *word = xmalloc(strlen(s) + 1);
	const char *p = s, *end;
	size_t argc = 0, len;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0')
			break;
		len = 0;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' &&
		    *p != '\r') {
			if (*p == '\'') {
				if ((end = strchr(p + 1, '\'')) == NULL) {
					*err = xstrdup("unterminated ' quote");
					goto fail;
				}
				memcpy(word + len, p + 1, (size_t)(end - p - 1));
				len += (size_t)(end - p - 1);
				p = end + 1;
			} else if (*p == '"') {
				for (p++; *p != '"'; p++) {
					if (*p == '\0') {
						*err = xstrdup("unterminated \" "
						    "quote");
						goto fail;
					}
					if (*p == '\\' && p[1] != '\0' &&
					    strchr("\"\\$`", p[1]) != NULL)
						p++;
					word[len++] = *p;
				}
				p++;
			} else if (*p == '\\') {
				if (p[1] == '\0') {
					*err = xstrdup("backslash at the end");
					goto fail;
				}
				word[len++] = p[1];
				p += 2;
			} else if (strchr("|&;<>`", *p) != NULL) {
				*err = xasprintf("unquoted '%c': the command "
				    "is not run by a shell (quote it, or use "
				    "/bin/sh -c '...')", *p);
				goto fail;
			} else
				word[len++] = *p++;
		}
		argv = xreallocarray(argv, argc + 2, sizeof *argv);
		argv[argc++] = xstrndup(word, len);
		argv[argc] = NULL;
	}
	if (argc == 0) {
		*err = xstrdup("empty command");
		goto fail;
	}
	free(word);
	return argv;
fail:
	free(word);
	argv_free(argv);
	return NULL;
}

/* command: split into words once, here; printed as written. */
static int
command_set(void *conf, const struct config_key *k, const char *value,
    char **err)
{
	struct exec_conf *c = conf;
	char **argv;

	(void)k;
	if ((argv = argv_parse(value, err)) == NULL)
		return -1;
	argv_free(c->argv);
	free(c->command);
	c->argv = argv;
	c->command = xstrdup(value);
	return 0;
}

static void
command_free(void *conf, const struct config_key *k)
{
	struct exec_conf *c = conf;

	(void)k;
	free(c->command);
	argv_free(c->argv);
	c->command = NULL;
	c->argv = NULL;
}

/* env: each line adds a variable. */
static int
env_set(void *conf, const struct config_key *k, const char *value,
    char **err)
{
	struct exec_conf *c = conf;
	const char *eq;

	(void)k;
	if ((eq = strchr(value, '=')) == NULL || eq == value) {
		*err = xasprintf("'%s' is not KEY=VALUE", value);
		return -1;
	}
	c->env = xreallocarray(c->env, c->n_env + 1, sizeof *c->env);
	c->env[c->n_env++] = xstrdup(value);
	return 0;
}

static void
env_print(const void *conf, const struct config_key *k, FILE *out)
{
	const struct exec_conf *c = conf;
	size_t i;

	/* Values are never shown: a key's name cannot tell a database URL
	 * with a password from an office-hours setting. */
	for (i = 0; i < c->n_env; i++)
		fprintf(out, "%s = %.*s=(set, not shown)\n", k->name,
		    (int)strcspn(c->env[i], "="), c->env[i]);
}

static void
env_free(void *conf, const struct config_key *k)
{
	struct exec_conf *c = conf;
	size_t i;

	(void)k;
	for (i = 0; i < c->n_env; i++) {
		explicit_bzero(c->env[i], strlen(c->env[i]));
		free(c->env[i]);
	}
	free(c->env);
	c->env = NULL;
	c->n_env = 0;
}

static const struct config_key_own command_key = {
	.set = command_set,
	.free = command_free,
};
static const struct config_key_own env_key = {
	.set = env_set,
	.print = env_print,
	.free = env_free,
};

#define OFF(f) offsetof(struct exec_conf, f)
static const struct config_key exec_keys[] = {
	{ .name = "command", .type = CONFIG_KEY_OWN, .off = OFF(command),
	  .own = &command_key, .required = true },
	{ .name = "timeout", .type = CONFIG_KEY_DURATION,
	  .off = OFF(timeout_ms), .min = 1, .max = 86400000, .def = "30s" },
	{ .name = "kill_after", .type = CONFIG_KEY_DURATION,
	  .off = OFF(kill_after_ms), .min = 0, .max = 86400000,
	  .def = "5s" },
	{ .name = "workdir", .type = CONFIG_KEY_PATH, .off = OFF(workdir),
	  .def = "/" },
	{ .name = "max_output", .type = CONFIG_KEY_SIZE,
	  .off = OFF(max_output), .min = 0, .max = UINT64_MAX,
	  .def = "64k" },
	{ .name = "env", .type = CONFIG_KEY_OWN, .off = OFF(env),
	  .own = &env_key },
	{ .name = NULL },
};
#undef OFF

static const struct config_key_section exec_section = {
	.keys = exec_keys,
	.size = sizeof(struct exec_conf),
};

static int
exec_conf_set(void **conf, const char *key, const char *value, char **err)
{
	return config_key_section_set(&exec_section, conf, key, value, err);
}

static int
exec_conf_check(void **conf, char **err)
{
	return config_key_section_check(&exec_section, conf, err);
}

static void
exec_conf_print(const void *conf, FILE *out)
{
	config_key_section_print(&exec_section, conf, out);
}

static void
exec_conf_free(void *conf)
{
	config_key_section_free(&exec_section, conf);
}

/* --- finding the program --- */

/* The PATH the program gets: an env line, the daemon's own, a default. */
static const char *
path_var(const struct exec_conf *c)
{
	const char *p = NULL;
	size_t i;

	for (i = 0; i < c->n_env; i++)
		if (strncmp(c->env[i], "PATH=", 5) == 0)
			p = c->env[i] + 5;
	if (p == NULL)
		p = getenv("PATH");
	return p != NULL ? p : EXEC_DEFAULT_PATH;
}

/* Whether path is a file we may execute; -1 with errno if not. */
static int
can_exec(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EACCES;
		return -1;
	}
	return faccessat(AT_FDCWD, path, X_OK, AT_EACCESS);
}

/* Whether path is a directory; -1 with errno if not. */
static int
is_dir(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/*
 * Finds the program as execvp would: a name with a slash as it is (relative
 * to workdir, where it runs), else the first executable in path. Returns a
 * malloc'd path, or NULL with errno (EACCES when one was found but could not
 * be run, as execvp says).
 */
static char *
resolve(const char *prog, const char *path, const char *workdir)
{
	const char *p, *end;
	char *cand;
	int saved = ENOENT;

	if (strchr(prog, '/') != NULL) {
		cand = prog[0] == '/' ? xstrdup(prog) :
		    xasprintf("%s/%s", workdir, prog);
		if (can_exec(cand) == 0)
			return cand;
		saved = errno;
		free(cand);
		errno = saved;
		return NULL;
	}
	for (p = path; *p != '\0'; p = *end == ':' ? end + 1 : end) {
		end = strchrnul(p, ':');
		/* Empty or relative entries would depend on the cwd. */
		if (*p != '/')
			continue;
		cand = xasprintf("%.*s/%s", (int)(end - p), p, prog);
		if (can_exec(cand) == 0)
			return cand;
		if (errno == EACCES)
			saved = EACCES;
		free(cand);
	}
	errno = saved;
	return NULL;
}

/* Why the program cannot be found, as "NAME: reason"; malloc'd. */
static char *
resolve_error(const char *prog, const char *path, int err)
{
	if (strchr(prog, '/') == NULL && err == ENOENT)
		return xasprintf("%s: not found in PATH (%s)", prog, path);
	return xasprintf("%s: %s", prog, strerror(err));
}

static int
exec_probe(const void *conf, char **err)
{
	const struct exec_conf *c = conf;
	const char *path = path_var(c);
	char *prog, *why;

	if (is_dir(c->workdir) == -1) {
		*err = xasprintf("workdir %s: %s", c->workdir,
		    strerror(errno));
		return -1;
	}
	if ((prog = resolve(c->argv[0], path, c->workdir)) == NULL) {
		why = resolve_error(c->argv[0], path, errno);
		*err = xasprintf("command %s", why);
		free(why);
		return -1;
	}
	free(prog);
	return 0;
}

/* --- the environment --- */

static void
envv_free(struct envv *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		explicit_bzero(e->v[i], strlen(e->v[i]));
		free(e->v[i]);
	}
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/* Adds "KEY=VALUE", replacing one of the same key. Takes ownership. */
static void
envv_put(struct envv *e, char *kv)
{
	size_t klen = strcspn(kv, "=") + 1, i;

	for (i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], kv, klen) == 0) {
			free(e->v[i]);
			e->v[i] = kv;
			return;
		}
	}
	e->v = xreallocarray(e->v, e->n + 2, sizeof *e->v);
	e->v[e->n++] = kv;
	e->v[e->n] = NULL;
}

/* The length of s[0..n) without an incomplete UTF-8 sequence at its end. */
static size_t
utf8_whole(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = n, k, need;

	for (k = 0; k < 4 && i > 0; k++) {
		i--;
		if ((p[i] & 0xc0) == 0x80)
			continue;
		need = p[i] < 0xc0 ? 1 : p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ?
		    3 : 2;
		return n - i >= need ? n : i;
	}
	return n;
}

/* Where to cut s (n bytes) to at most max without splitting a UTF-8
 * sequence. */
static size_t
utf8_cut(const char *s, size_t n, size_t max)
{
	return n <= max ? n : utf8_whole(s, max);
}

/* Sets key to value when there is one; returns whether it was cut. */
static bool
env_str(struct envv *e, const char *key, const char *value)
{
	size_t n, cut;

	if (value == NULL)
		return false;
	n = strlen(value);
	cut = utf8_cut(value, n, EXEC_VALUE_MAX);
	envv_put(e, xasprintf("%s=%.*s", key, (int)cut, value));
	return cut < n;
}

static void
env_id(struct envv *e, const char *key, struct ld_id id)
{
	if (id.set)
		envv_put(e, xasprintf("%s=%" PRId64, key, id.v));
}

/* The environment of one run: the sink's own, then the event's fields. */
static char **
event_env(const struct exec_state *s, const struct ld_event *ev,
    struct envv *e)
{
	const struct ld_person *sender;
	struct ld_id contact;
	size_t i;

	for (i = 0; i < s->env.n; i++)
		envv_put(e, xstrdup(s->env.v[i]));
	envv_put(e, xasprintf("LIVEDESK_SINK=%s", s->name));
	env_str(e, "LIVEDESK_EVENT", ev->name);
	if (ev->delivery_id[0] != '\0')
		env_str(e, "LIVEDESK_DELIVERY_ID", ev->delivery_id);
	env_id(e, "LIVEDESK_ACCOUNT_ID", ev->account.id);
	env_id(e, "LIVEDESK_INBOX_ID", ev->inbox.id);
	env_id(e, "LIVEDESK_CONVERSATION_ID", ld_event_conversation_id(ev));
	env_str(e, "LIVEDESK_CONVERSATION_STATUS", ev->conversation.status);
	if (ld_event_is_message(ev)) {
		const struct ld_message *m = &ev->message;

		env_id(e, "LIVEDESK_MESSAGE_ID", m->id);
		env_str(e, "LIVEDESK_MESSAGE_TYPE",
		    ld_message_type_name(m->message_type));
		/* The whole content is on stdin in any case. */
		if (env_str(e, "LIVEDESK_MESSAGE_CONTENT", m->content))
			envv_put(e, xstrdup(
			    "LIVEDESK_MESSAGE_CONTENT_TRUNCATED=true"));
		if (m->is_private.set)
			env_str(e, "LIVEDESK_MESSAGE_PRIVATE",
			    m->is_private.v ? "true" : "false");
		/* What a script needs to react to a failed send. */
		env_str(e, "LIVEDESK_MESSAGE_STATUS", m->status);
		env_str(e, "LIVEDESK_MESSAGE_ERROR", m->external_error);
		sender = &m->sender;
		contact = ev->contact.id.set ? ev->contact.id : m->contact_id;
	} else if (ev->typing.present) {
		/* Typing: who types, and whether a private note. */
		if (ev->typing.is_private.set)
			env_str(e, "LIVEDESK_MESSAGE_PRIVATE",
			    ev->typing.is_private.v ? "true" : "false");
		sender = &ev->typing.user;
		contact = ev->contact.id;
	} else {
		/* The conversation's contact, or the contact or widget
		 * event's own. */
		sender = &ev->contact;
		contact = ev->contact.id;
	}
	env_id(e, "LIVEDESK_SENDER_ID", sender->id);
	env_str(e, "LIVEDESK_SENDER_NAME", sender->name);
	env_str(e, "LIVEDESK_SENDER_EMAIL", sender->email);
	env_str(e, "LIVEDESK_SENDER_PHONE", sender->phone_number);
	env_str(e, "LIVEDESK_SENDER_TYPE", sender->type);
	env_id(e, "LIVEDESK_CONTACT_ID", contact);
	return e->v;
}

/* --- start and stop --- */

static int
exec_start(void **state, const void *conf, const struct sink_ctx *ctx,
    char **err)
{
	const struct exec_conf *c = conf;
	struct exec_state *s;
	const char *lang;
	size_t i;

	(void)err;
	s = xcalloc(1, sizeof *s);
	s->conf = c;
	s->name = xstrdup(ctx->name);
	s->cancel = ctx->cancel;
	envv_put(&s->env, xasprintf("PATH=%s", getenv("PATH") != NULL ?
	    getenv("PATH") : EXEC_DEFAULT_PATH));
	if ((lang = getenv("LANG")) != NULL)
		envv_put(&s->env, xasprintf("LANG=%s", lang));
	/* The service's systemd credentials are the scripts' too: that is
	 * where livedesk-send finds its API key. */
	if ((lang = getenv("CREDENTIALS_DIRECTORY")) != NULL)
		envv_put(&s->env, xasprintf("CREDENTIALS_DIRECTORY=%s", lang));
	for (i = 0; i < c->n_env; i++)
		envv_put(&s->env, xstrdup(c->env[i]));
	for (i = 0; i < s->env.n; i++)
		if (strncmp(s->env.v[i], "PATH=", 5) == 0)
			s->path = s->env.v[i] + 5;
	/* Not found now: the probe said so; each run looks again. */
	s->prog = resolve(c->argv[0], s->path, c->workdir);
	*state = s;
	return 0;
}

static int
exec_reopen(void *state)
{
	(void)state;
	return 0;
}

static void
exec_stop(void *state)
{
	struct exec_state *s = state;

	if (s == NULL)
		return;
	envv_free(&s->env);
	free(s->prog);
	free(s->name);
	free(s);
}

/* --- one run --- */

/* Escapes n bytes that may hold NULs (util_escape stops at one). */
static char *
escape_bytes(const char *p, size_t n)
{
	const char *nul;
	char *out = NULL, *seg, *esc, *tmp;
	size_t len;

	for (;;) {
		nul = memchr(p, '\0', n);
		len = nul != NULL ? (size_t)(nul - p) : n;
		seg = xstrndup(p, len);
		esc = util_escape(seg, 0);
		free(seg);
		if (out == NULL) {
			out = esc;
		} else {
			tmp = xasprintf("%s\\x00%s", out, esc);
			free(out);
			free(esc);
			out = tmp;
		}
		if (nul == NULL)
			return out;
		p = nul + 1;
		n -= len + 1;
	}
}

static void
tail_add(struct exec_run *rn, const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	i = rn->tail_next++ % EXEC_TAIL_LINES;
	n = utf8_cut(p, n, EXEC_TAIL_BYTES);
	free(rn->tail[i]);
	rn->tail[i] = xstrndup(p, n);
	rn->tail_len[i] = n;
}

/* The last stderr lines, escaped and joined: as many of the newest as fit
 * in EXEC_TAIL_BYTES, and the newest in any case (cut). NULL: none. */
static char *
tail_text(const struct exec_run *rn)
{
	char *esc[EXEC_TAIL_LINES], *out = NULL, *tmp, *e;
	size_t n = 0, k, i, total = 0, len;

	for (k = 1; k <= EXEC_TAIL_LINES && k <= rn->tail_next; k++) {
		i = (rn->tail_next - k) % EXEC_TAIL_LINES;
		e = escape_bytes(rn->tail[i], rn->tail_len[i]);
		len = strlen(e);
		if (n == 0 && len > EXEC_TAIL_BYTES) {
			tmp = xasprintf("%.*s...",
			    (int)utf8_cut(e, len, EXEC_TAIL_BYTES), e);
			free(e);
			e = tmp;
			len = strlen(e);
		} else if (total + len > EXEC_TAIL_BYTES) {
			free(e);
			break;
		}
		esc[n++] = e;
		total += len + 3;
	}
	for (k = n; k > 0; k--) {
		tmp = out == NULL ? xstrdup(esc[k - 1]) :
		    xasprintf("%s | %s", out, esc[k - 1]);
		free(out);
		free(esc[k - 1]);
		out = tmp;
	}
	return out;
}

/* One line (or piece of a long one) of output: logged within max_output,
 * counted as dropped past it. */
static void
run_line(struct exec_run *rn, const struct stream *st, const char *p,
    size_t n, bool newline)
{
	uint64_t max = rn->s->conf->max_output, cost = n + newline, room;
	size_t take;
	char *esc;

	if (st == &rn->out[1])
		tail_add(rn, p, n);
	room = rn->logged < max ? max - rn->logged : 0;
	if (room == 0) {
		rn->dropped += cost;
		return;
	}
	take = cost <= room ? n : utf8_cut(p, n, (size_t)room);
	esc = escape_bytes(p, take);
	log_ctx(st->prio, &rn->ctx, "%s: %s%s", st->label, esc,
	    take < n ? "..." : "");
	free(esc);
	if (cost <= room) {
		rn->logged += cost;
	} else {
		rn->logged += take;
		rn->dropped += cost - take;
	}
}

/* Logs the complete lines in st's buffer, and pieces of long ones. */
static void
stream_lines(struct exec_run *rn, struct stream *st)
{
	char *p = st->buf, *nl;
	size_t left = st->len, n;

	for (;;) {
		n = left < EXEC_PIECE_MAX ? left : EXEC_PIECE_MAX;
		if ((nl = memchr(p, '\n', n)) != NULL) {
			n = (size_t)(nl - p);
			run_line(rn, st, p, n, true);
			n++;
		} else if (left >= EXEC_PIECE_MAX) {
			n = utf8_whole(p, EXEC_PIECE_MAX);
			run_line(rn, st, p, n, false);
		} else
			break;
		p += n;
		left -= n;
	}
	memmove(st->buf, p, left);
	st->len = left;
}

static void
stream_close(struct exec_run *rn, struct stream *st)
{
	if (st->fd == -1)
		return;
	if (st->len > 0)
		run_line(rn, st, st->buf, st->len, false);
	st->len = 0;
	close(st->fd);
	st->fd = -1;
}

static void
stream_read(struct exec_run *rn, struct stream *st)
{
	ssize_t n;

	n = read(st->fd, st->buf + st->len, sizeof st->buf - st->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		stream_close(rn, st);
		return;
	}
	st->len += (size_t)n;
	stream_lines(rn, st);
}

static void
stdin_close(struct exec_run *rn)
{
	if (rn->in_fd != -1)
		close(rn->in_fd);
	rn->in_fd = -1;
}

/* Writes what the pipe takes now; a reader that went away is fine. */
static void
stdin_write(struct exec_run *rn)
{
	sigset_t pipe_set;
	struct timespec zero = { 0, 0 };
	size_t n;
	ssize_t w;
	int saved;

	while (rn->in_off < rn->in_len) {
		n = rn->in_len - rn->in_off;
		w = write(rn->in_fd, rn->in_buf + rn->in_off,
		    n < EXEC_STDIN_CHUNK ? n : EXEC_STDIN_CHUNK);
		if (w > 0) {
			rn->in_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		saved = w < 0 ? errno : EIO;
		if (saved == EPIPE && !rn->sigpipe_pending) {
			/* Ours, blocked in this thread: take it back. */
			sigemptyset(&pipe_set);
			sigaddset(&pipe_set, SIGPIPE);
			(void)sigtimedwait(&pipe_set, NULL, &zero);
		}
		if (saved != EPIPE)
			log_ctx(LOG_WARNING, &rn->ctx, "stdin: %s",
			    strerror(saved));
		break;
	}
	stdin_close(rn);
}

static int
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Whether a failed start is the machine's shortage (descriptors, process
 * slots, memory) rather than anything about the program or the event. */
static bool
shortage(int err)
{
	return err == EMFILE || err == ENFILE || err == EAGAIN ||
	    err == ENOMEM;
}

/* Starts the program on three fresh pipes. Returns 0, or an errno. */
static int
run_spawn(struct exec_run *rn, const char *prog, char *const envp[])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int rc;

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(err, O_CLOEXEC) == -1 || nonblock(in[1]) == -1 ||
	    nonblock(out[0]) == -1 || nonblock(err[0]) == -1) {
		rc = errno;
		goto fail;
	}
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		goto fail;
	if ((rc = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		goto fail;
	}
	/* Signals the daemon blocks or ignores are the child's own again;
	 * its own process group lets a timeout stop all it started. */
	sigemptyset(&none);
	sigfillset(&dfl);
	sigdelset(&dfl, SIGKILL);
	sigdelset(&dfl, SIGSTOP);
	if ((rc = posix_spawn_file_actions_adddup2(&fa, in[0], 0)) == 0 &&
	    (rc = posix_spawn_file_actions_adddup2(&fa, out[1], 1)) == 0 &&
	    (rc = posix_spawn_file_actions_adddup2(&fa, err[1], 2)) == 0 &&
	    (rc = posix_spawn_file_actions_addchdir_np(&fa,
	    rn->s->conf->workdir)) == 0 &&
	    (rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) == 0 &&
	    (rc = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
	    (rc = posix_spawnattr_setsigdefault(&attr, &dfl)) == 0 &&
	    (rc = posix_spawnattr_setpgroup(&attr, 0)) == 0 &&
	    (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)) == 0)
		rc = posix_spawn(&rn->pid, prog, &fa, &attr,
		    rn->s->conf->argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		goto fail;
	close(in[0]);
	close(out[1]);
	close(err[1]);
	rn->in_fd = in[1];
	rn->out[0].fd = out[0];
	rn->out[1].fd = err[0];
	return 0;
fail:
	if (in[0] != -1) { close(in[0]); close(in[1]); }
	if (out[0] != -1) { close(out[0]); close(out[1]); }
	if (err[0] != -1) { close(err[0]); close(err[1]); }
	return rc;
}

/* Signals the child's process group (and the child, should it have left
 * the group). */
static void
run_signal(const struct exec_run *rn, int sig)
{
	if (killpg(rn->pid, sig) == -1)
		(void)kill(rn->pid, sig);
}

/* Reaps our child if it has ended; never anyone else's. */
static bool
run_reap(struct exec_run *rn, int *status, bool *known)
{
	pid_t w;

	do
		w = waitpid(rn->pid, status, WNOHANG);
	while (w == -1 && errno == EINTR);
	if (w == 0)
		return false;
	/* ECHILD: SIGCHLD ignored, reaped by the kernel; status lost. */
	*known = w == rn->pid;
	return true;
}

/*
 * Feeds stdin, logs output, and waits for the child, stopping its process
 * group at the timeout or a cancel: SIGTERM, then SIGKILL kill_after later.
 * Returns once the child is reaped and its output closed (or left behind
 * by a background process for EXEC_LINGER_MS).
 */
static void
run_loop(struct exec_run *rn, int *status, bool *known)
{
	const struct exec_conf *c = rn->s->conf;
	int64_t now = util_mono_msec(), deadline = now + c->timeout_ms;
	int64_t kill_at = 0, reaped_at = 0, wait_ms;
	struct pollfd pfd[3];
	struct stream *st[3];
	bool reaped = false, killed = false, open_out;
	int nfd, i, k, backoff = 1;

	for (;;) {
		if (!reaped && run_reap(rn, status, known)) {
			reaped = true;
			reaped_at = util_mono_msec();
		}
		now = util_mono_msec();
		if (!reaped && rn->why == WHY_NONE) {
			if (rn->s->cancel != NULL && atomic_load(rn->s->cancel))
				rn->why = WHY_CANCEL;
			else if (now >= deadline)
				rn->why = WHY_TIMEOUT;
			if (rn->why != WHY_NONE) {
				run_signal(rn, SIGTERM);
				kill_at = now + c->kill_after_ms;
			}
		}
		if (rn->why != WHY_NONE && !killed && now >= kill_at) {
			run_signal(rn, SIGKILL);
			killed = true;
		}
		open_out = rn->out[0].fd != -1 || rn->out[1].fd != -1;
		/* Done; but past a timeout, not before the rest of the
		 * group is gone or has had its SIGKILL. */
		if (reaped && (!open_out || now >= reaped_at + EXEC_LINGER_MS) &&
		    (rn->why == WHY_NONE || killed || killpg(rn->pid, 0) == -1))
			break;

		wait_ms = EXEC_POLL_MS;
		if (!reaped && rn->why == WHY_NONE && deadline - now < wait_ms)
			wait_ms = deadline - now;
		if (rn->why != WHY_NONE && !killed && kill_at - now < wait_ms)
			wait_ms = kill_at - now;
		if (reaped && open_out && reaped_at + EXEC_LINGER_MS - now <
		    wait_ms)
			wait_ms = reaped_at + EXEC_LINGER_MS - now;
		if (!reaped && !open_out) {
			/* Only its exit left to see: look soon, then less. */
			if (backoff < wait_ms)
				wait_ms = backoff;
			backoff = backoff < 50 ? backoff * 2 : 50;
		}
		if (wait_ms < 0)
			wait_ms = 0;

		nfd = 0;
		if (rn->in_fd != -1) {
			pfd[nfd].fd = rn->in_fd;
			pfd[nfd].events = POLLOUT;
			st[nfd++] = NULL;
		}
		for (i = 0; i < 2; i++) {
			if (rn->out[i].fd == -1)
				continue;
			pfd[nfd].fd = rn->out[i].fd;
			pfd[nfd].events = POLLIN;
			st[nfd++] = &rn->out[i];
		}
		if (poll(pfd, (nfds_t)nfd, (int)wait_ms) <= 0)
			continue;
		for (i = 0; i < nfd; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (st[i] == NULL)
				stdin_write(rn);
			else
				stream_read(rn, st[i]);
		}
	}
	stdin_close(rn);
	for (i = 0; i < 2; i++) {
		/* What is there now, not what a straggler may still write. */
		for (k = 0; k < 64 && rn->out[i].fd != -1; k++) {
			size_t have = rn->out[i].len;
			ssize_t n = read(rn->out[i].fd, rn->out[i].buf + have,
			    sizeof rn->out[i].buf - have);

			if (n <= 0)
				break;
			rn->out[i].len += (size_t)n;
			stream_lines(rn, &rn->out[i]);
		}
		stream_close(rn, &rn->out[i]);
	}
}

/* Fills r from how the run ended. */
static void
run_result(struct exec_run *rn, int status, bool known,
    struct sink_result *r)
{
	char dur[32], sig[32], *tail;
	size_t o;

	/* The exit code and the signal, never the raw wait status: what a
	 * person reads in a dead letter must match what the shell says. */
	r->exited = known && WIFEXITED(status);
	r->exit_status = r->exited ? WEXITSTATUS(status) : 0;
	r->signal = known && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	if (rn->why == WHY_CANCEL) {
		snprintf(r->detail, sizeof r->detail, "cancelled at shutdown");
	} else if (rn->why == WHY_TIMEOUT) {
		util_format_duration(rn->s->conf->timeout_ms, dur, sizeof dur);
		snprintf(r->detail, sizeof r->detail, "timed out after %s",
		    dur);
	} else if (!known) {
		snprintf(r->detail, sizeof r->detail, "exit status lost "
		    "(is SIGCHLD ignored?)");
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_ctx(LOG_DEBUG, &rn->ctx, "exited with status 0");
		r->ok = true;
		return;
	} else if (WIFEXITED(status)) {
		snprintf(r->detail, sizeof r->detail, "exited with status %d",
		    WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		snprintf(r->detail, sizeof r->detail, "killed by signal %d "
		    "(%s)%s", WTERMSIG(status), util_signal_name(WTERMSIG(status),
		    sig, sizeof sig), WCOREDUMP(status) ? ", core dumped" : "");
	} else {
		snprintf(r->detail, sizeof r->detail, "ended with wait status "
		    "%#x", (unsigned)status);
	}
	log_ctx(LOG_WARNING, &rn->ctx, "%s", r->detail);
	if ((tail = tail_text(rn)) != NULL) {
		o = strlen(r->detail);
		snprintf(r->detail + o, sizeof r->detail - o, "; stderr: %s",
		    tail);
		free(tail);
	}
}

static void
exec_deliver(void *state, struct ld_event *ev, struct sink_result *r)
{
	const struct exec_state *s = state;
	struct exec_run *rn = xcalloc(1, sizeof *rn);
	struct envv env = { NULL, 0 };
	struct ld_id conv = ld_event_conversation_id(ev);
	sigset_t pipe_set, old_mask, pending;
	char *prog = NULL, *event_name = util_escape(ev->name, 64), *why;
	bool known = false;
	int status = 0, rc;
	size_t i;

	r->ok = false;
	r->retry_later = false;
	r->exited = false;
	r->exit_status = 0;
	r->signal = 0;
	r->detail[0] = '\0';
	rn->s = s;
	rn->ctx.event = event_name;
	rn->ctx.delivery_id = ev->delivery_id[0] != '\0' ? ev->delivery_id :
	    NULL;
	rn->ctx.sink = s->name;
	rn->ctx.conversation_id = conv.set ? conv.v : -1;
	rn->in_fd = rn->out[0].fd = rn->out[1].fd = -1;
	rn->in_buf = ev->raw;
	rn->in_len = ev->raw != NULL ? ev->raw_len : 0;
	rn->out[0].prio = LOG_INFO;
	rn->out[0].label = "stdout";
	rn->out[1].prio = LOG_WARNING;
	rn->out[1].label = "stderr";

	/* Checked first, so that the usual mistakes read clearly even where
	 * posix_spawn cannot report a failed exec (valgrind). */
	if (is_dir(s->conf->workdir) == -1) {
		snprintf(r->detail, sizeof r->detail, "cannot change to workdir "
		    "%s: %s", s->conf->workdir, strerror(errno));
		log_ctx(LOG_ERR, &rn->ctx, "%s", r->detail);
		goto out;
	}
	prog = s->prog;
	if (prog == NULL || can_exec(prog) == -1) {
		/* Not there at start, or gone since: look again. */
		if ((prog = resolve(s->conf->argv[0], s->path,
		    s->conf->workdir)) == NULL) {
			why = resolve_error(s->conf->argv[0], s->path, errno);
			snprintf(r->detail, sizeof r->detail, "cannot run %s",
			    why);
			free(why);
			log_ctx(LOG_ERR, &rn->ctx, "%s", r->detail);
			goto out;
		}
	}

	/* A child that closes its stdin early must not kill the daemon:
	 * SIGPIPE stays blocked in this thread and is taken back. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	rn->sigpipe_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

	rc = run_spawn(rn, prog, event_env(s, ev, &env));
	envv_free(&env);
	if (rc != 0) {
		snprintf(r->detail, sizeof r->detail, "cannot run %s: %s",
		    prog, strerror(rc));
		r->retry_later = shortage(rc);
		/* A shortage is logged where its retry is decided. */
		if (!r->retry_later)
			log_ctx(LOG_ERR, &rn->ctx, "%s", r->detail);
	} else {
		log_ctx(LOG_DEBUG, &rn->ctx, "started %s, pid %ld", prog,
		    (long)rn->pid);
		run_loop(rn, &status, &known);
		if (rn->dropped > 0)
			log_ctx(LOG_NOTICE, &rn->ctx, "%" PRIu64 " bytes of "
			    "output dropped (max_output %" PRIu64 ")",
			    rn->dropped, s->conf->max_output);
		run_result(rn, status, known, r);
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
out:
	if (prog != s->prog)
		free(prog);
	for (i = 0; i < EXEC_TAIL_LINES; i++)
		free(rn->tail[i]);
	free(rn);
	free(event_name);
}

const struct sink_ops sink_exec_ops = {
	.type = "exec",
	.incoming_only = true,
	.keys = &exec_section,
	.conf_set = exec_conf_set,
	.conf_check = exec_conf_check,
	.conf_print = exec_conf_print,
	.probe = exec_probe,
	.conf_free = exec_conf_free,
	.start = exec_start,
	.deliver = exec_deliver,
	.reopen = exec_reopen,
	.stop = exec_stop,
};
