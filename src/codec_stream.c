/* The Redis stream entry of an event and its dead letter, encoded and
 * decoded side by side (see codec_stream.h for the fields). */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_stream.h"
#include "util.h"

void
codec_stream_encode(struct redis_argv *a, const struct ld_event *ev)
{
	struct ld_id conv = ld_event_conversation_id(ev);

	redis_argv_str(a, "event");
	redis_argv_fmt(a, "%s", ev->name);
	redis_argv_str(a, "delivery_id");
	redis_argv_fmt(a, "%s", ev->delivery_id);
	redis_argv_str(a, "received_usec");
	redis_argv_fmt(a, "%" PRId64, ev->received_usec);
	if (conv.set) {
		redis_argv_str(a, "conversation_id");
		redis_argv_fmt(a, "%" PRId64, conv.v);
	}
	redis_argv_str(a, "json");
	redis_argv_dup(a, ev->raw, ev->raw_len);
}

/* The value of the first field called name, when it is a string. */
static const redisReply *
field(const redisReply *fields, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < fields->elements; i += 2)
		if (fields->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(fields->element[i]->str, name) == 0 &&
		    fields->element[i + 1]->type == REDIS_REPLY_STRING)
			return fields->element[i + 1];
	return NULL;
}

struct ld_event *
codec_stream_decode(const char *id, const redisReply *fields, int max_depth,
    char **err)
{
	const redisReply *json, *did, *recv;
	struct ld_event_error perr;
	struct ld_event *ev;
	long long usec, ms;
	const char *p;

	if (fields->type != REDIS_REPLY_ARRAY || fields->elements % 2 != 0) {
		*err = xstrdup("the entry's fields are not pairs");
		return NULL;
	}
	if ((json = field(fields, "json")) == NULL) {
		*err = xstrdup("no json field");
		return NULL;
	}
	if ((did = field(fields, "delivery_id")) == NULL) {
		*err = xstrdup("no delivery_id field");
		return NULL;
	}
	if (did->len == 0 || did->len >= sizeof ev->delivery_id) {
		*err = xasprintf("delivery_id is empty or longer than %zu "
		    "bytes", sizeof ev->delivery_id - 1);
		return NULL;
	}
	/* It names files and goes into scripts' environment. */
	for (p = did->str; p < did->str + did->len; p++)
		if (*p <= ' ' || *p >= 0x7f) {
			*err = xstrdup("delivery_id has characters other than "
			    "printable ASCII");
			return NULL;
		}
	/* The entry's own time: its id's milliseconds, when they make a
	 * time (an id given by hand may be anything up to 2^64-1). */
	ms = strtoll(id, NULL, 10);
	usec = ms > 0 && ms <= INT64_MAX / 1000 ? ms * 1000 : 0;
	if ((recv = field(fields, "received_usec")) != NULL &&
	    util_parse_int(recv->str, 0, INT64_MAX / 2, &usec) == -1) {
		*err = xstrdup("received_usec is not a number of "
		    "microseconds");
		return NULL;
	}
	if ((ev = ld_event_parse(json->str, json->len, max_depth, &perr)) ==
	    NULL) {
		*err = xasprintf("json: %s", perr.text);
		return NULL;
	}
	memcpy(ev->delivery_id, did->str, did->len);
	ev->delivery_id[did->len] = '\0';
	ev->received_usec = usec;
	return ev;
}

void
codec_stream_encode_dead(struct redis_argv *a,
    const struct codec_stream_dead *d)
{
	const redisReply *f = d->fields;
	size_t i;

	redis_argv_str(a, "source_id");
	redis_argv_fmt(a, "%s", d->source_id);
	redis_argv_str(a, "source_stream");
	redis_argv_fmt(a, "%s", d->source_stream);
	redis_argv_str(a, "consumer");
	redis_argv_fmt(a, "%s", d->consumer);
	redis_argv_str(a, "reason");
	redis_argv_fmt(a, "%s", d->reason);
	if (d->sink != NULL) {
		redis_argv_str(a, "sink");
		redis_argv_fmt(a, "%s", d->sink);
		redis_argv_str(a, "attempts");
		redis_argv_fmt(a, "%d", d->attempts);
		/* The exit code and the signal apart, as in a reason file. */
		if (d->exited) {
			redis_argv_str(a, "exit_status");
			redis_argv_fmt(a, "%d", d->exit_status);
		}
		if (d->signal != 0) {
			char name[32];

			redis_argv_str(a, "signal");
			redis_argv_fmt(a, "%d", d->signal);
			redis_argv_str(a, "signal_name");
			redis_argv_fmt(a, "%s", util_signal_name(d->signal,
			    name, sizeof name));
		}
		redis_argv_str(a, "detail");
		redis_argv_fmt(a, "%s", d->detail);
		codec_stream_encode(a, d->ev);
		return;
	}
	/* An entry that is not an event: its fields as they were, to look
	 * at and mend by hand. */
	if (f != NULL && f->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < f->elements; i++)
			if (f->element[i]->type == REDIS_REPLY_STRING)
				redis_argv_dup(a, f->element[i]->str,
				    f->element[i]->len);
}
