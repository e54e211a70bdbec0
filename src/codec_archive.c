/* The file sink's archive line, encoded and decoded side by side (see
 * codec_archive.h for the layout). */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "codec_archive.h"
#include "codec_line.h"
#include "util.h"

/* How a line starts: its first key, as head() writes it. */
#define LINE_START	"{\"received_at\""

/* The line up to the payload's bytes, {"received_at":...,"payload":
 * (codec_line_head). NULL when jansson cannot (not UTF-8, out of memory). */
static char *
head(const char *received_at, const char *delivery_id, const char *event,
    size_t *len)
{
	return codec_line_head(json_pack("{s:s, s:s, s:s, s:n}", "received_at",
	    received_at, "delivery_id", delivery_id, "event", event,
	    "payload"), len);
}

char *
codec_archive_encode(const struct ld_event *ev, size_t *len)
{
	char when[40], *line;
	size_t hl;

	ld_time_format(ev->received_usec, when, sizeof when);
	if ((line = head(when, ev->delivery_id, ev->name, &hl)) == NULL)
		return NULL;
	return codec_line_finish(line, hl, ev->raw, ev->raw_len, len);
}

/*
 * received_at back into microseconds: only the exact form ld_time_format
 * writes (checked by writing it again), so that a line edited into
 * another form is refused rather than misread. timegm's lock is no cost
 * here: a replay reads one line at a time.
 */
static bool
time_parse(const char *s, int64_t *usec)
{
	const int64_t max_sec = INT64_MAX / 1000000 - 1;
	char back[40];
	const char *p;
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof tm);
	/* strptime skips leading blanks; the sink writes none. */
	if (!isdigit((unsigned char)*s) ||
	    (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return false;
	if (p[0] != '.' || !isdigit((unsigned char)p[1]) ||
	    !isdigit((unsigned char)p[2]) || !isdigit((unsigned char)p[3]))
		return false;
	t = timegm(&tm);
	if (t < -max_sec || t > max_sec)
		return false;
	*usec = (int64_t)t * 1000000 + ((p[1] - '0') * 100 +
	    (p[2] - '0') * 10 + (p[3] - '0')) * 1000;
	ld_time_format(*usec, back, sizeof back);
	return strcmp(back, s) == 0;
}

/* A delivery id as the receiver makes them: it names files and goes into
 * scripts' environment and log lines. */
static bool
delivery_id_ok(const char *s, size_t n, size_t max)
{
	size_t i;

	if (n == 0 || n >= max)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f)
			return false;
	return true;
}

/* The payload's bytes in a line in the sink's exact layout: what follows
 * the head, up to the closing brace. false for any other layout. */
static bool
payload_bytes(const char *line, size_t len, const json_t *o,
    const char **body, size_t *blen)
{
	const char *when, *id, *name;
	size_t hl, end = len;
	bool same;
	char *h;

	when = json_string_value(json_object_get(o, "received_at"));
	id = json_string_value(json_object_get(o, "delivery_id"));
	name = json_string_value(json_object_get(o, "event"));
	/* Four keys, none twice (the line was loaded so): the payload is
	 * the last, right after the head. */
	if (when == NULL || id == NULL || name == NULL ||
	    json_object_size(o) != 4 ||
	    (h = head(when, id, name, &hl)) == NULL)
		return false;
	same = hl < len && memcmp(line, h, hl) == 0;
	free(h);
	if (!same)
		return false;
	while (end > hl && (line[end - 1] == ' ' || line[end - 1] == '\t' ||
	    line[end - 1] == '\r' || line[end - 1] == '\n'))
		end--;
	if (end <= hl || line[end - 1] != '}')
		return false;
	*body = line + hl;
	*blen = end - 1 - hl;
	return true;
}

struct ld_event *
codec_archive_decode(const char *line, size_t len, int max_depth,
    char **err)
{
	struct ld_event *ev = NULL;
	struct ld_event_error perr;
	const json_t *payload, *when, *id;
	char *rewrite = NULL;
	const char *body;
	int64_t usec = 0;
	size_t blen;
	json_t *o;

	/* The payload is any valid JSON the daemon took: read the line as
	 * the event parser reads a body. */
	if ((o = ld_event_json_load(line, len, &perr)) == NULL) {
		*err = xasprintf("not a file-sink line: %s", perr.text);
		return NULL;
	}
	if (!json_is_object(o) ||
	    (payload = json_object_get(o, "payload")) == NULL) {
		*err = xstrdup("not a file-sink line: no payload");
		goto fail;
	}
	if ((when = json_object_get(o, "received_at")) != NULL &&
	    (!json_is_string(when) ||
	    !time_parse(json_string_value(when), &usec))) {
		*err = xstrdup("received_at is not a time as the file sink "
		    "writes it (2024-05-01T12:00:00.123Z)");
		goto fail;
	}
	if ((id = json_object_get(o, "delivery_id")) != NULL &&
	    (!json_is_string(id) || !delivery_id_ok(json_string_value(id),
	    json_string_length(id), sizeof ev->delivery_id))) {
		*err = xasprintf("delivery_id is not a string of 1 to %zu "
		    "printable ASCII characters", sizeof ev->delivery_id - 1);
		goto fail;
	}
	if (!payload_bytes(line, len, o, &body, &blen)) {
		/* Edited by hand or by a tool: the payload as jansson writes
		 * it, equal as JSON if not byte for byte. */
		rewrite = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY |
		    JSON_REAL_PRECISION(17));
		if (rewrite == NULL) {
			*err = xstrdup("payload: cannot write it back (out of "
			    "memory)");
			goto fail;
		}
		body = rewrite;
		blen = strlen(rewrite);
	}
	if ((ev = ld_event_parse(body, blen, max_depth, &perr)) == NULL) {
		*err = xasprintf("payload: %s", perr.text);
		goto fail;
	}
	if (id != NULL)
		memcpy(ev->delivery_id, json_string_value(id),
		    json_string_length(id) + 1);
	ev->received_usec = usec;
fail:
	free(rewrite);
	json_decref(o);
	return ev;
}

bool
codec_archive_recognise(const char *text, size_t len)
{
	return len >= strlen(LINE_START) &&
	    memcmp(text, LINE_START, strlen(LINE_START)) == 0;
}
