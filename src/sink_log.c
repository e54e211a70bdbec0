/* Log sink: one line per event, text or compact JSON, to the log. */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_key.h"
#include "livedesk/sink.h"
#include "log.h"
#include "util.h"

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

struct log_conf {
	int		 format;	/* enum log_format */
	long long	 max_content;
};

static const char *const formats[] = { "text", "json", NULL };

#define OFF(f) offsetof(struct log_conf, f)
static const struct config_key log_keys[] = {
	{ .name = "format", .type = CONFIG_KEY_ENUM, .off = OFF(format),
	  .choices = formats, .def = "text" },
	{ .name = "max_content", .type = CONFIG_KEY_INT,
	  .off = OFF(max_content), .min = 0, .max = 1 << 20, .def = "200" },
	{ .name = NULL },
};
#undef OFF

static const struct config_key_section log_section = {
	.keys = log_keys,
	.size = sizeof(struct log_conf),
};

static int
log_conf_set(void **conf, const char *key, const char *value, char **err)
{
	return config_key_section_set(&log_section, conf, key, value, err);
}

static int
log_conf_check(void **conf, char **err)
{
	return config_key_section_check(&log_section, conf, err);
}

static void
log_conf_print(const void *conf, FILE *out)
{
	config_key_section_print(&log_section, conf, out);
}

static void
log_conf_free(void *conf)
{
	config_key_section_free(&log_section, conf);
}

/*
 * Lines to stderr are gathered: a worker that finds another one writing
 * adds its line to the pending block and goes on; the writer writes the
 * block with its own line once its write returns, and again until nothing
 * is pending. Unloaded, every line is one write as before; under load, one
 * write carries the lines of every worker that came meanwhile. A block
 * holds whole lines and at most PIPE_BUF bytes, so a write to a pipe is
 * never interleaved with another thread's line (a longer line goes alone,
 * as it always did). The journal takes lines one by one.
 */
#define BLOCK_MAX	4096		/* PIPE_BUF on Linux */

struct log_state {
	const struct log_conf	*conf;
	const char		*name;
	pthread_mutex_t		 lock;
	pthread_cond_t		 room;	/* pending has room, or is written */
	char			 pending[BLOCK_MAX];
	size_t			 len;	/* of pending; 0 unless writing */
	bool			 writing;
};

static int
log_start(void **state, const void *conf, const struct sink_ctx *ctx,
    char **err)
{
	struct log_state *s = xcalloc(1, sizeof *s);
	int e;

	s->conf = conf;
	s->name = ctx->name;
	if ((e = pthread_mutex_init(&s->lock, NULL)) != 0) {
		*err = xasprintf("log sink %s: mutex: %s", ctx->name,
		    strerror(e));
		goto fail;
	}
	if ((e = pthread_cond_init(&s->room, NULL)) != 0) {
		*err = xasprintf("log sink %s: condition variable: %s",
		    ctx->name, strerror(e));
		pthread_mutex_destroy(&s->lock);
		goto fail;
	}
	*state = s;
	return 0;
fail:
	free(s);
	return -1;
}

/* Writes line (n bytes, whole lines) with those other workers add while
 * a write is under way; see BLOCK_MAX. */
static void
emit(struct log_state *s, const char *line, size_t n)
{
	char out[BLOCK_MAX];
	size_t len;

	if (n > BLOCK_MAX) {
		log_write_lines(line, n);
		return;
	}
	pthread_mutex_lock(&s->lock);
	/* Full: the writer empties pending at its next turn. */
	while (s->len + n > BLOCK_MAX)
		pthread_cond_wait(&s->room, &s->lock);
	memcpy(s->pending + s->len, line, n);
	s->len += n;
	if (s->writing) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->writing = true;
	while ((len = s->len) > 0) {
		memcpy(out, s->pending, len);
		s->len = 0;
		pthread_cond_broadcast(&s->room);
		pthread_mutex_unlock(&s->lock);
		log_write_lines(out, len);
		pthread_mutex_lock(&s->lock);
	}
	s->writing = false;
	pthread_mutex_unlock(&s->lock);
}

/* A text line: gathered when it goes to stderr, else as log_ctx has it. */
static void
emit_text(struct log_state *s, const struct log_ctx *ctx, const char *msg)
{
	char buf[LOG_LINE_MAX];
	int n;

	switch (log_dest(LOG_INFO)) {
	case LOG_DEST_NONE:
		return;
	case LOG_DEST_JOURNAL:
		log_ctx(LOG_INFO, ctx, "%s", msg);
		return;
	case LOG_DEST_STDERR:
		break;
	}
	if ((n = log_format(buf, sizeof buf, LOG_INFO, ctx, msg)) > 0)
		emit(s, buf, (size_t)n);
}

/*
 * A text line is built in place: the log's message is at most 4095 bytes
 * (log_format), and the event's fields are appended to it as they fit,
 * escaped straight into it. No allocation per line: this runs for every
 * event.
 */
struct text {
	char	 buf[4096];
	size_t	 len;
	size_t	 cap;		/* of buf in use: see text_cap() */
};

/*
 * How much of buf a line for ctx may use. To stderr, the whole line with
 * the log's stamp and suffix must fit in BLOCK_MAX: a longer write to a
 * pipe goes alone and may be split, another thread's line landing inside
 * it. The journal takes up to log_format's 4095 bytes.
 */
static size_t
text_cap(const struct log_ctx *ctx)
{
	char line[LOG_LINE_MAX];
	int n;

	if (log_dest(LOG_INFO) != LOG_DEST_STDERR)
		return sizeof ((struct text *)0)->buf;
	/* The line without a message: what the rest may take. */
	n = log_format(line, sizeof line, LOG_INFO, ctx, "");
	if (n <= 0 || (size_t)n >= BLOCK_MAX)
		return 1;
	/* + 1: the NUL, which the line does not carry (n >= 1: at most
	 * BLOCK_MAX, the size of buf). */
	return BLOCK_MAX - (size_t)n + 1;
}

static void
put_raw(struct text *t, const char *s)
{
	size_t n = strlen(s);

	if (n >= t->cap - t->len)
		n = t->cap - t->len - 1;
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

/* " key=123" when the id is set. */
static void
put_id(struct text *t, const char *key, struct ld_id id)
{
	size_t room = t->cap - t->len;
	int n;

	if (!id.set)
		return;
	n = snprintf(t->buf + t->len, room, " %s=%" PRId64, key, id.v);
	t->len += n < 0 ? 0 : (size_t)n < room ? (size_t)n : room - 1;
}

/* The sender's text, escaped: it must not split the line. */
static void
put_escaped(struct text *t, const char *value, size_t max)
{
	t->len += util_escape_into(t->buf + t->len, t->cap - t->len, value,
	    max);
}

/* " key=value" (quoted when asked) when the string is set. */
static void
put_str(struct text *t, const char *key, const char *value, size_t max,
    bool quote)
{
	if (value == NULL)
		return;
	put_raw(t, " ");
	put_raw(t, key);
	put_raw(t, quote ? "=\"" : "=");
	/* A cut value keeps its closing quote: a byte is held back for it. */
	if (quote && t->cap - t->len > 1) {
		t->cap--;
		put_escaped(t, value, max);
		t->cap++;
		put_raw(t, "\"");
	} else
		put_escaped(t, value, max);
}

/* " changed=a,b,c": what a conversation_updated changed. */
static void
put_changes(struct text *t, const struct ld_event *ev)
{
	size_t i;

	for (i = 0; i < ev->n_changes && i < 16; i++) {
		put_raw(t, i == 0 ? " changed=" : ",");
		put_escaped(t, ev->changes[i].name, 64);
	}
}

static void
log_text(struct log_state *s, const struct ld_event *ev,
    const struct log_ctx *ctx)
{
	const struct ld_person *sender = ld_event_is_message(ev) ?
	    &ev->message.sender : &ev->conversation.sender;
	struct text t;

	t.len = 0;
	t.cap = text_cap(ctx);
	t.buf[0] = '\0';
	put_escaped(&t, ev->name, 64);
	put_id(&t, "account", ev->account.id);
	put_id(&t, "inbox", ev->inbox.id);
	put_id(&t, "conversation", ev->conversation.id);
	put_id(&t, "message", ev->message.id);
	if (!ld_event_is_message(ev))
		put_str(&t, "status", ev->conversation.status, 32, false);
	put_str(&t, "type", ld_message_type_name(ev->message.message_type), 0,
	    false);
	if (ev->message.is_private.set && ev->message.is_private.v)
		put_raw(&t, " private");
	put_str(&t, "sender", sender->name, 64, true);
	put_changes(&t, ev);
	/* max_content = 0 shows none of it, as in a JSON line (to
	 * util_escape_into, 0 is no limit). */
	put_str(&t, "content", ev->message.content == NULL ? NULL :
	    s->conf->max_content > 0 ? ev->message.content : "",
	    (size_t)s->conf->max_content, true);
	emit_text(s, ctx, t.buf);
}

/* Compact JSON, escaped by jansson (control characters become \uXXXX, so
 * one event stays one line). */
static void
log_json(struct log_state *s, const struct ld_event *ev)
{
	char when[40], buf[BLOCK_MAX];
	json_t *o;
	char *line;
	size_t len;

	ld_time_format(ev->received_usec, when, sizeof when);
	o = json_pack("{s:s, s:s, s:s}", "time", when, "event", ev->name,
	    "delivery_id", ev->delivery_id);
	if (o == NULL)
		return;
#define ID(k, f) if ((f).set) json_object_set_new(o, k, json_integer((f).v))
	ID("account_id", ev->account.id);
	ID("inbox_id", ev->inbox.id);
	ID("conversation_id", ev->conversation.id);
	ID("message_id", ev->message.id);
#undef ID
	if (ev->message.message_type != LD_MESSAGE_TYPE_NONE)
		json_object_set_new(o, "message_type", json_string(
		    ld_message_type_name(ev->message.message_type)));
	if (ev->message.sender.name != NULL)
		json_object_set_new(o, "sender",
		    json_string(ev->message.sender.name));
	if (ev->message.content != NULL) {
		size_t n = strlen(ev->message.content);

		if ((long long)n > s->conf->max_content)
			n = util_utf8_cut(ev->message.content,
			    (size_t)s->conf->max_content);
		json_object_set_new(o, "content",
		    json_stringn_nocheck(ev->message.content, n));
	}
	line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (line == NULL)
		return;
	if (log_dest(LOG_INFO) != LOG_DEST_STDERR ||
	    (len = strlen(line)) >= BLOCK_MAX) {
		log_raw(LOG_INFO, line);
		free(line);
		return;
	}
	memcpy(buf, line, len);
	buf[len++] = '\n';
	emit(s, buf, len);
	free(line);
}

static void
log_deliver(void *state, struct ld_event *ev, struct sink_result *r)
{
	struct log_state *s = state;
	struct log_ctx ctx = { ev->name, ev->delivery_id, NULL,
	    ev->conversation.id.set ? ev->conversation.id.v : -1 };

	if (s->conf->format == LOG_FORMAT_JSON)
		log_json(s, ev);
	else
		log_text(s, ev, &ctx);
	r->ok = true;
}

static int
log_reopen(void *state)
{
	(void)state;
	return 0;
}

static void
log_stop(void *state)
{
	struct log_state *s = state;

	pthread_cond_destroy(&s->room);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct sink_ops sink_log_ops = {
	.type = "log",
	.incoming_only = false,
	.keys = &log_section,
	.conf_set = log_conf_set,
	.conf_check = log_conf_check,
	.conf_print = log_conf_print,
	.conf_free = log_conf_free,
	.start = log_start,
	.deliver = log_deliver,
	.reopen = log_reopen,
	.stop = log_stop,
};
