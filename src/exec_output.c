/* The child's output, logged: stdout and stderr line by line (long lines in
 * pieces), within max_output, with the last stderr lines kept for the
 * detail of a failure. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_output.h"
#include "log.h"
#include "util.h"

#define EXEC_READ_MAX		4096	/* output read at once, per stream */
/* Longer output lines are logged in pieces: even fully escaped (4 bytes
 * for one) a piece stays within one log line. */
#define EXEC_PIECE_MAX		1000
#define EXEC_TAIL_LINES		5	/* stderr lines kept for the detail */
#define EXEC_TAIL_BYTES		400

/* What is read of one stream and not yet logged. */
struct stream {
	int		 prio;
	const char	*label;
	size_t		 len;
	char		 buf[EXEC_READ_MAX];
};

struct exec_output {
	const struct log_ctx	*ctx;
	uint64_t		 max;		/* max_output */
	struct stream		 out[2];	/* EXEC_OUTPUT_STDOUT, _STDERR */
	uint64_t		 logged;
	uint64_t		 dropped;
	char			*tail[EXEC_TAIL_LINES];	/* raw stderr lines */
	size_t			 tail_len[EXEC_TAIL_LINES];
	size_t			 tail_next;
};

/* Where to cut s (n bytes) to at most max without splitting a UTF-8
 * sequence. */
static size_t
utf8_cut(const char *s, size_t n, size_t max)
{
	return n <= max ? n : util_utf8_whole(s, max);
}

struct exec_output *
exec_output_new(const struct log_ctx *ctx, uint64_t max_output)
{
	struct exec_output *o = xcalloc(1, sizeof *o);

	o->ctx = ctx;
	o->max = max_output;
	o->out[EXEC_OUTPUT_STDOUT].prio = LOG_INFO;
	o->out[EXEC_OUTPUT_STDOUT].label = "stdout";
	o->out[EXEC_OUTPUT_STDERR].prio = LOG_WARNING;
	o->out[EXEC_OUTPUT_STDERR].label = "stderr";
	return o;
}

void
exec_output_free(struct exec_output *o)
{
	size_t i;

	if (o == NULL)
		return;
	for (i = 0; i < EXEC_TAIL_LINES; i++)
		free(o->tail[i]);
	free(o);
}

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
tail_add(struct exec_output *o, const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	i = o->tail_next++ % EXEC_TAIL_LINES;
	n = utf8_cut(p, n, EXEC_TAIL_BYTES);
	free(o->tail[i]);
	o->tail[i] = xstrndup(p, n);
	o->tail_len[i] = n;
}

/* The last stderr lines, escaped and joined: as many of the newest as fit
 * in EXEC_TAIL_BYTES, and the newest in any case (cut). NULL: none. */
char *
exec_output_tail(const struct exec_output *o)
{
	char *esc[EXEC_TAIL_LINES], *out = NULL, *tmp, *e;
	size_t n = 0, k, i, total = 0, len;

	for (k = 1; k <= EXEC_TAIL_LINES && k <= o->tail_next; k++) {
		i = (o->tail_next - k) % EXEC_TAIL_LINES;
		e = escape_bytes(o->tail[i], o->tail_len[i]);
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
run_line(struct exec_output *o, const struct stream *st, const char *p,
    size_t n, bool newline)
{
	uint64_t max = o->max, cost = n + newline, room;
	size_t take;
	char *esc;

	if (st == &o->out[EXEC_OUTPUT_STDERR])
		tail_add(o, p, n);
	room = o->logged < max ? max - o->logged : 0;
	if (room == 0) {
		o->dropped += cost;
		return;
	}
	take = cost <= room ? n : utf8_cut(p, n, (size_t)room);
	esc = escape_bytes(p, take);
	log_ctx(st->prio, o->ctx, "%s: %s%s", st->label, esc,
	    take < n ? "..." : "");
	free(esc);
	if (cost <= room) {
		o->logged += cost;
	} else {
		o->logged += take;
		o->dropped += cost - take;
	}
}

/* Logs the complete lines in st's buffer, and pieces of long ones. */
static void
stream_lines(struct exec_output *o, struct stream *st)
{
	char *p = st->buf, *nl;
	size_t left = st->len, n;

	for (;;) {
		n = left < EXEC_PIECE_MAX ? left : EXEC_PIECE_MAX;
		if ((nl = memchr(p, '\n', n)) != NULL) {
			n = (size_t)(nl - p);
			run_line(o, st, p, n, true);
			n++;
		} else if (left >= EXEC_PIECE_MAX) {
			n = util_utf8_whole(p, EXEC_PIECE_MAX);
			run_line(o, st, p, n, false);
		} else
			break;
		p += n;
		left -= n;
	}
	memmove(st->buf, p, left);
	st->len = left;
}

ssize_t
exec_output_read(struct exec_output *o, int stream, int fd)
{
	struct stream *st = &o->out[stream];
	ssize_t n;

	n = read(fd, st->buf + st->len, sizeof st->buf - st->len);
	if (n > 0) {
		st->len += (size_t)n;
		stream_lines(o, st);
	}
	return n;
}

void
exec_output_flush(struct exec_output *o, int stream)
{
	struct stream *st = &o->out[stream];

	if (st->len > 0)
		run_line(o, st, st->buf, st->len, false);
	st->len = 0;
}

uint64_t
exec_output_dropped(const struct exec_output *o)
{
	return o->dropped;
}
