/* Check suite for codec_archive.c and codec_stream.c: every event encoded
 * and decoded again is the same event with the same payload bytes (the
 * archive's newlines as spaces); what is not a line or an entry is
 * refused with a reason. Pure: no daemon, no Redis. */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "codec_archive.h"
#include "codec_stream.h"
#include "livedesk/event.h"
#include "testutil.h"
#include "util.h"

#define DEPTH	64
#define ID	"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
#define USEC	1714564800123456LL	/* 2024-05-01T12:00:00.123456Z */
#define USEC_MS	1714564800123000LL	/* the same, to the millisecond */

/* An event of body, as the receiver makes it. */
static struct ld_event *
event_of(const char *body, size_t len, const char *id, int64_t usec)
{
	struct ld_event_error perr = { 0, "" };
	struct ld_event *ev = ld_event_parse(body, len, DEPTH, &perr);

	ck_assert_msg(ev != NULL, "test payload refused: %s", perr.text);
	snprintf(ev->delivery_id, sizeof ev->delivery_id, "%s", id);
	ev->received_usec = usec;
	return ev;
}

static struct ld_event *
event_str(const char *body)
{
	return event_of(body, strlen(body), ID, USEC);
}

/* raw as the archive keeps it: newlines and carriage returns as spaces. */
static char *
spaced(const char *raw, size_t len)
{
	char *s = malloc(len + 1);
	size_t i;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < len; i++)
		s[i] = raw[i] == '\n' || raw[i] == '\r' ? ' ' : raw[i];
	s[len] = '\0';
	return s;
}

/* The typed view of b is a's. */
static void
assert_same_event(const struct ld_event *a, const struct ld_event *b)
{
	struct ld_id ca = ld_event_conversation_id(a);
	struct ld_id cb = ld_event_conversation_id(b);

	ck_assert_str_eq(b->name, a->name);
	ck_assert_int_eq(b->kind, a->kind);
	ck_assert_str_eq(b->delivery_id, a->delivery_id);
	ck_assert_int_eq(cb.set, ca.set);
	ck_assert_int_eq(cb.v, ca.v);
	ck_assert_int_eq(b->message.id.set, a->message.id.set);
	ck_assert_int_eq(b->message.id.v, a->message.id.v);
	ck_assert_int_eq(b->message.message_type, a->message.message_type);
	if (a->message.content == NULL)
		ck_assert_ptr_null(b->message.content);
	else
		ck_assert_str_eq(b->message.content, a->message.content);
	if (a->contact.name == NULL)
		ck_assert_ptr_null(b->contact.name);
	else
		ck_assert_str_eq(b->contact.name, a->contact.name);
	ck_assert_uint_eq(b->n_changes, a->n_changes);
}

/* --- the archive line --- */

/* Encodes ev, checks the line's shape, decodes it. */
static struct ld_event *
archive_round_trip(const struct ld_event *ev)
{
	struct ld_event *back;
	char *line, *err = NULL;
	size_t len;

	line = codec_archive_encode(ev, &len);
	ck_assert_ptr_nonnull(line);
	ck_assert_uint_eq(strlen(line), len);
	/* One line: its only newline is the last byte. */
	ck_assert_ptr_eq(strchr(line, '\n'), line + len - 1);
	ck_assert_ptr_null(strchr(line, '\r'));
	ck_assert(codec_archive_recognise(line, len));
	back = codec_archive_decode(line, len, DEPTH, &err);
	ck_assert_msg(back != NULL, "decode refused its own line: %s", err);
	/* The newline is optional: getline keeps it, a caller may not. */
	{
		struct ld_event *again = codec_archive_decode(line, len - 1,
		    DEPTH, &err);

		ck_assert_msg(again != NULL, "without newline: %s", err);
		ck_assert_uint_eq(again->raw_len, back->raw_len);
		ck_assert(memcmp(again->raw, back->raw, back->raw_len) == 0);
		ld_event_unref(again);
	}
	free(line);
	return back;
}

/* ev through the archive: the same event, the payload byte for byte
 * with newlines as spaces, the time to the millisecond. */
static void
assert_archive_round_trip(const struct ld_event *ev)
{
	struct ld_event *back = archive_round_trip(ev);
	char *want = spaced(ev->raw, ev->raw_len);

	assert_same_event(ev, back);
	ck_assert_uint_eq(back->raw_len, ev->raw_len);
	ck_assert_msg(memcmp(back->raw, want, ev->raw_len) == 0,
	    "payload differs after the archive");
	ck_assert_int_eq(back->received_usec,
	    ev->received_usec - ev->received_usec % 1000);
	free(want);
	ld_event_unref(back);
}

/* The fixtures that are events, read whole. */
static size_t
fixture_events(struct ld_event **evs, size_t max)
{
	DIR *d = opendir("fixtures");
	struct ld_event_error perr;
	struct ld_event *ev;
	struct dirent *de;
	size_t n = 0, len;
	char *body;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL && n < max) {
		if (strstr(de->d_name, ".json") == NULL)
			continue;
		body = tu_fixture(de->d_name, &len);
		if ((ev = ld_event_parse(body, len, DEPTH, &perr)) != NULL) {
			snprintf(ev->delivery_id, sizeof ev->delivery_id, "%s",
			    ID);
			ev->received_usec = USEC + (int64_t)n;
			evs[n++] = ev;
		}
		free(body);
	}
	closedir(d);
	ck_assert_uint_ge(n, 15);
	return n;
}

START_TEST(archive_fixtures)
{
	struct ld_event *evs[64];
	size_t n = fixture_events(evs, 64), i;

	for (i = 0; i < n; i++) {
		assert_archive_round_trip(evs[i]);
		ld_event_unref(evs[i]);
	}
}
END_TEST

/* Newlines between tokens (pretty-printed, CRLF, around the object) are
 * the only bytes the archive changes: to spaces, one line per event. */
START_TEST(archive_newlines)
{
	static const char *const bodies[] = {
		"{\n  \"event\": \"message_created\",\n  \"id\": 7,\n"
		"  \"content\": \"two\\nlines\",\n  \"conversation\": {\n"
		"    \"id\": 89\n  }\n}\n",
		"{\r\n\"event\":\"message_created\",\r\n\"id\":7,\r\n"
		"\"conversation\":{\"id\":89}\r\n}\r\n",
		"\n\n  {\"event\":\"conversation_created\",\"id\":3}  \n\n",
		"{\"event\"\n:\n\"message_created\"\n,\"id\"\n:\n8}",
	};
	struct ld_event *ev;
	size_t i, len;
	char *pretty;

	for (i = 0; i < nitems(bodies); i++) {
		ev = event_str(bodies[i]);
		assert_archive_round_trip(ev);
		ld_event_unref(ev);
	}
	pretty = tu_fixture("pretty.json", &len);
	ck_assert_ptr_nonnull(memchr(pretty, '\n', len));
	ev = event_of(pretty, len, ID, USEC);
	assert_archive_round_trip(ev);
	ld_event_unref(ev);
	free(pretty);
}
END_TEST

/* UTF-8 of every length, escapes kept as escapes, a non-ASCII event name
 * (which the line's own fields carry too). */
START_TEST(archive_unicode)
{
	static const char *const bodies[] = {
		"{\"event\":\"message_created\",\"content\":\"สวัสดี 🙏😊 👍🏽 🇹🇭 "
		"é ß € 𝄞\",\"conversation\":{\"id\":1}}",
		"{\"event\":\"message_created\",\"content\":\"\\u00e9\\ud83d"
		"\\ude00 \\\"quoted\\\" back\\\\slash \\/ \\t\"}",
		"{\"event\":\"événement_spécial\",\"id\":1}",
	};
	struct ld_event *ev;
	size_t i, len;
	char *emoji;

	for (i = 0; i < nitems(bodies); i++) {
		ev = event_str(bodies[i]);
		assert_archive_round_trip(ev);
		ld_event_unref(ev);
	}
	emoji = tu_fixture("emoji.json", &len);
	ev = event_of(emoji, len, ID, USEC);
	assert_archive_round_trip(ev);
	ld_event_unref(ev);
	free(emoji);
}
END_TEST

/* A 4 MB payload whose bytes include the line's own key names. */
static char *
large_body(size_t *len)
{
	static const char piece[] = "ab \\\"received_at\\\":{\\\"payload\\\":}";
	const size_t n = (4 << 20) / (sizeof piece - 1);
	char *body = malloc(n * (sizeof piece - 1) + 200), *p;
	size_t i;

	ck_assert_ptr_nonnull(body);
	p = body + sprintf(body, "{\"event\":\"message_created\",\"id\":9,"
	    "\"conversation\":{\"id\":5},\"content\":\"");
	for (i = 0; i < n; i++, p += sizeof piece - 1)
		memcpy(p, piece, sizeof piece - 1);
	p += sprintf(p, "\",\"received_at\":\"x\",\"payload\":{}}");
	*len = (size_t)(p - body);
	return body;
}

START_TEST(archive_large)
{
	struct ld_event *ev;
	size_t len;
	char *body = large_body(&len);

	ev = event_of(body, len, ID, USEC);
	assert_archive_round_trip(ev);
	ld_event_unref(ev);
	free(body);
}
END_TEST

/* received_at keeps milliseconds, before the epoch too. */
START_TEST(archive_times)
{
	static const int64_t times[] = { 0, 999, 1000, USEC, -1, -1500,
	    253402300799999999LL };
	struct ld_event *ev, *back;
	size_t i;

	for (i = 0; i < nitems(times); i++) {
		ev = event_of("{\"event\":\"x\"}", 13, ID, times[i]);
		back = archive_round_trip(ev);
		/* Floor to the millisecond, as ld_time_format writes. */
		ck_assert_int_eq(back->received_usec, times[i] >= 0 ?
		    times[i] / 1000 * 1000 : (times[i] - 999) / 1000 * 1000);
		ld_event_unref(back);
		ld_event_unref(ev);
	}
}
END_TEST

#define LINE_HEAD "{\"received_at\":\"2024-05-01T12:00:00.123Z\"," \
	"\"delivery_id\":\"" ID "\",\"event\":\"x\","

/* What is not an archive line, or carries no event, is refused and
 * says why. */
START_TEST(archive_refused)
{
	static const struct {
		const char	*line;
		const char	*why;
	} bad[] = {
		{ "", "not a file-sink line" },
		{ "\n", "not a file-sink line" },
		{ "{", "not a file-sink line" },
		{ "not json\n", "not a file-sink line" },
		{ "[1,2]\n", "not a file-sink line: no payload" },
		{ "\"payload\"\n", "not a file-sink line" },
		{ "{\"received_at\":\"2024-05-01T12:00:00.123Z\"}\n",
		    "not a file-sink line: no payload" },
		/* Cut off mid-write, as by a crash. */
		{ LINE_HEAD "\"payload\":{\"event\":\"x\",\"id\"", "not a "
		    "file-sink line" },
		{ LINE_HEAD "\"payload\":{\"event\":\"x\"}} trailing\n",
		    "not a file-sink line" },
		{ LINE_HEAD "\"payload\":{\"event\":\"x\"},\"payload\":{}}\n",
		    "duplicate" },
		{ LINE_HEAD "\"payload\":[1,2]}\n", "payload: " },
		{ LINE_HEAD "\"payload\":\"text\"}\n", "payload: " },
		{ LINE_HEAD "\"payload\":{\"id\":1}}\n", "payload: " },
		{ LINE_HEAD "\"payload\":null}\n", "payload: " },
		{ "{\"received_at\":\"yesterday\",\"payload\":"
		    "{\"event\":\"x\"}}", "received_at is not a time" },
		{ "{\"received_at\":\"2024-05-01 12:00:00.123Z\",\"payload\":"
		    "{\"event\":\"x\"}}", "received_at is not a time" },
		{ "{\"received_at\":\"2024-05-01T12:00:00Z\",\"payload\":"
		    "{\"event\":\"x\"}}", "received_at is not a time" },
		{ "{\"received_at\":\"2024-13-01T12:00:00.123Z\",\"payload\":"
		    "{\"event\":\"x\"}}", "received_at is not a time" },
		{ "{\"received_at\":\" 2024-05-01T12:00:00.123Z\",\"payload\":"
		    "{\"event\":\"x\"}}", "received_at is not a time" },
		{ "{\"received_at\":\"2024-05-01T12:00:00.123Z \",\"payload\":"
		    "{\"event\":\"x\"}}", "received_at is not a time" },
		{ "{\"received_at\":1714564800,\"payload\":{\"event\":\"x\"}}",
		    "received_at is not a time" },
		{ "{\"delivery_id\":42,\"payload\":{\"event\":\"x\"}}",
		    "delivery_id is not a string" },
		{ "{\"delivery_id\":\"\",\"payload\":{\"event\":\"x\"}}",
		    "delivery_id is not a string" },
		{ "{\"delivery_id\":\"a b\",\"payload\":{\"event\":\"x\"}}",
		    "delivery_id is not a string" },
		{ "{\"delivery_id\":\"a\\nb\",\"payload\":{\"event\":\"x\"}}",
		    "delivery_id is not a string" },
		{ "{\"delivery_id\":\"\\u00e9\",\"payload\":{\"event\":\"x\"}}",
		    "delivery_id is not a string" },
		{ "{\"delivery_id\":\"0123456789012345678901234567890123456789"
		    "\",\"payload\":{\"event\":\"x\"}}",
		    "delivery_id is not a string" },
	};
	struct ld_event *ev;
	char *err;
	size_t i;

	for (i = 0; i < nitems(bad); i++) {
		err = NULL;
		ev = codec_archive_decode(bad[i].line, strlen(bad[i].line),
		    DEPTH, &err);
		ck_assert_msg(ev == NULL, "line %zu accepted", i);
		ck_assert_msg(err != NULL && strstr(err, bad[i].why) != NULL,
		    "line %zu: '%s' lacks '%s'", i, err, bad[i].why);
		free(err);
	}
}
END_TEST

/* max_depth goes to the payload's parse. */
START_TEST(archive_depth)
{
	const char *line = LINE_HEAD "\"payload\":{\"event\":\"x\","
	    "\"a\":{\"b\":{\"c\":{}}}}}\n";
	struct ld_event *ev;
	char *err = NULL;

	ev = codec_archive_decode(line, strlen(line), 3, &err);
	ck_assert_ptr_null(ev);
	ck_assert_ptr_nonnull(strstr(err, "payload: "));
	free(err);
	ev = codec_archive_decode(line, strlen(line), 4, &err);
	ck_assert_ptr_nonnull(ev);
	ld_event_unref(ev);
}
END_TEST

/* A line reordered or reindented (by hand, by jq) still reads: the same
 * event, its payload as jansson writes it back. Without delivery_id and
 * received_at, the caller is told so. */
START_TEST(archive_other_layouts)
{
	const char *reordered = "{ \"payload\" : {\"event\": "
	    "\"message_created\", \"id\": 7, \"conversation\": {\"id\": 89}},\n"
	    "  \"event\": \"message_created\", \"delivery_id\": \"" ID "\", "
	    "\"received_at\": \"2024-05-01T12:00:00.123Z\" }\n";
	const char *extra = LINE_HEAD "\"payload\":{\"event\":"
	    "\"message_created\",\"id\":7},\"note\":\"added by hand\"}\n";
	const char *bare = "{\"received_at\":\"2024-05-01T12:00:00.123Z\","
	    "\"payload\":{\"event\":\"x\"}}\n";
	struct ld_event *ev;
	char *err = NULL;

	ev = codec_archive_decode(reordered, strlen(reordered), DEPTH, &err);
	ck_assert_msg(ev != NULL, "%s", err);
	ck_assert_str_eq(ev->name, "message_created");
	ck_assert_str_eq(ev->delivery_id, ID);
	ck_assert_int_eq(ev->received_usec, USEC_MS);
	ck_assert_int_eq(ld_event_conversation_id(ev).v, 89);
	ck_assert_uint_eq(ev->raw_len, strlen("{\"event\":\"message_created\","
	    "\"id\":7,\"conversation\":{\"id\":89}}"));
	ck_assert(memcmp(ev->raw, "{\"event\":\"message_created\",\"id\":7,"
	    "\"conversation\":{\"id\":89}}", ev->raw_len) == 0);
	ld_event_unref(ev);

	ev = codec_archive_decode(extra, strlen(extra), DEPTH, &err);
	ck_assert_msg(ev != NULL, "%s", err);
	ck_assert_uint_eq(ev->raw_len, strlen("{\"event\":\"message_created\","
	    "\"id\":7}"));
	ld_event_unref(ev);

	ev = codec_archive_decode(bare, strlen(bare), DEPTH, &err);
	ck_assert_msg(ev != NULL, "%s", err);
	ck_assert_str_eq(ev->delivery_id, "");
	ld_event_unref(ev);
	bare = "{\"payload\":{\"event\":\"x\"}}";
	ev = codec_archive_decode(bare, strlen(bare), DEPTH, &err);
	ck_assert_msg(ev != NULL, "%s", err);
	ck_assert_int_eq(ev->received_usec, 0);
	ld_event_unref(ev);
}
END_TEST

/* Replay tells an archive from a dead letter (a payload) by its start. */
START_TEST(archive_recognise)
{
	const char *payload = "{\"event\":\"message_created\",\"id\":1}";
	struct ld_event *ev = event_str(payload);
	size_t len, plen;
	char *line = codec_archive_encode(ev, &len), *fix;

	ck_assert(codec_archive_recognise(line, len));
	ck_assert(codec_archive_recognise(line, 14));
	ck_assert(!codec_archive_recognise(line, 13));
	ck_assert(!codec_archive_recognise(payload, strlen(payload)));
	ck_assert(!codec_archive_recognise("{\"delivery_id\":\"a\"}", 19));
	ck_assert(!codec_archive_recognise("", 0));
	fix = tu_fixture("message_created.json", &plen);
	ck_assert(!codec_archive_recognise(fix, plen));
	free(fix);
	free(line);
	ld_event_unref(ev);
}
END_TEST

/* --- the stream entry --- */

/* The reply Redis gives for fields (argv[from..]): the argument vector
 * as RESP, read back by hiredis's reader, as XRANGE returns an entry's
 * fields. */
static redisReply *
reply_of(const struct redis_argv *a, int from)
{
	redisReader *rd = redisReaderCreate();
	void *reply = NULL;
	char *cmd = NULL;
	long long n;

	ck_assert_ptr_nonnull(rd);
	n = redisFormatCommandArgv(&cmd, a->argc - from, a->argv + from,
	    a->lens + from);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(redisReaderFeed(rd, cmd, (size_t)n), REDIS_OK);
	ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
	ck_assert_ptr_nonnull(reply);
	redisFreeCommand(cmd);
	redisReaderFree(rd);
	return reply;
}

/* A reply of raw RESP, for what no argument vector makes. */
static redisReply *
reply_resp(const char *resp)
{
	redisReader *rd = redisReaderCreate();
	void *reply = NULL;

	ck_assert_ptr_nonnull(rd);
	ck_assert_int_eq(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
	ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
	ck_assert_ptr_nonnull(reply);
	redisReaderFree(rd);
	return reply;
}

/* ev through an entry: the same event, the payload byte for byte, the
 * time to the microsecond. */
static void
assert_stream_round_trip(const struct ld_event *ev)
{
	struct redis_argv a = { 0 };
	struct ld_event *back;
	redisReply *r;
	char *err = NULL;

	codec_stream_encode(&a, ev);
	r = reply_of(&a, 0);
	back = codec_stream_decode("1714564800999-0", r, DEPTH, &err);
	ck_assert_msg(back != NULL, "decode refused its own entry: %s", err);
	assert_same_event(ev, back);
	ck_assert_int_eq(back->received_usec, ev->received_usec);
	ck_assert_uint_eq(back->raw_len, ev->raw_len);
	ck_assert_msg(memcmp(back->raw, ev->raw, ev->raw_len) == 0,
	    "payload differs after the stream");
	ld_event_unref(back);
	freeReplyObject(r);
	redis_argv_free(&a);
}

/* The fields, their order and values: what workers of other versions
 * and people with redis-cli read. */
START_TEST(stream_layout)
{
	const char *body = "{\"event\":\"message_created\",\"id\":7,"
	    "\"conversation\":{\"id\":89}}";
	const char *want[] = { "event", "message_created", "delivery_id", ID,
	    "received_usec", "1714564800123456", "conversation_id", "89",
	    "json", body };
	struct ld_event *ev = event_str(body);
	struct redis_argv a = { 0 };
	size_t i;

	redis_argv_str(&a, "XADD");
	codec_stream_encode(&a, ev);
	ld_event_unref(ev);	/* the vector holds copies */
	ck_assert_int_eq(a.argc, 1 + (int)nitems(want));
	for (i = 0; i < nitems(want); i++) {
		ck_assert_uint_eq(a.lens[i + 1], strlen(want[i]));
		ck_assert(memcmp(a.argv[i + 1], want[i], a.lens[i + 1]) == 0);
	}
	redis_argv_free(&a);

	/* No conversation, no conversation_id. */
	ev = event_str("{\"event\":\"x\"}");
	codec_stream_encode(&a, ev);
	ck_assert_int_eq(a.argc, 8);
	ck_assert_str_eq(a.argv[6], "json");
	redis_argv_free(&a);
	ld_event_unref(ev);
}
END_TEST

START_TEST(stream_fixtures)
{
	struct ld_event *evs[64];
	size_t n = fixture_events(evs, 64), i;

	for (i = 0; i < n; i++) {
		assert_stream_round_trip(evs[i]);
		ld_event_unref(evs[i]);
	}
}
END_TEST

/* The stream keeps every byte: newlines, UTF-8, escapes, a large
 * payload; the archive and the stream read back the same event. */
START_TEST(stream_bytes)
{
	static const char *const bodies[] = {
		"{\n  \"event\": \"message_created\",\r\n  \"id\": 7,\n"
		"  \"conversation\": {\"id\": 89}\n}\n",
		"{\"event\":\"message_created\",\"content\":\"สวัสดี 🙏😊 🇹🇭 "
		"\\u00e9\\ud83d\\ude00 \\\"q\\\" \\\\ \\/\"}",
		"{\"event\":\"événement\",\"id\":1}",
		"  {\"event\":\"x\",\"json\":\"delivery_id\"}  ",
	};
	struct ld_event *ev, *via_archive;
	size_t i, len;
	char *body;

	for (i = 0; i < nitems(bodies); i++) {
		ev = event_str(bodies[i]);
		assert_stream_round_trip(ev);
		via_archive = archive_round_trip(ev);
		assert_same_event(ev, via_archive);
		ld_event_unref(via_archive);
		ld_event_unref(ev);
	}
	body = large_body(&len);
	ev = event_of(body, len, ID, USEC);
	assert_stream_round_trip(ev);
	ld_event_unref(ev);
	free(body);
}
END_TEST

/* The RESP of a json field holding a minimal event. */
#define JSON_X	"$4\r\njson\r\n$13\r\n{\"event\":\"x\"}\r\n"

/* Without received_usec, the entry's own time (an entry added by hand). */
START_TEST(stream_time_from_id)
{
	redisReply *r = reply_resp("*4\r\n$11\r\ndelivery_id\r\n$3\r\nd-1\r\n"
	    JSON_X);
	struct ld_event *ev;
	char *err = NULL;

	ev = codec_stream_decode("1700000000123-4", r, DEPTH, &err);
	ck_assert_msg(ev != NULL, "%s", err);
	ck_assert_int_eq(ev->received_usec, 1700000000123000LL);
	ck_assert_str_eq(ev->delivery_id, "d-1");
	ld_event_unref(ev);
	/* An id given by hand, too large for microseconds: no time, and no
	 * overflow (UBSan would abort on one). */
	ev = codec_stream_decode("18446744073709551615-0", r, DEPTH, &err);
	ck_assert_msg(ev != NULL, "%s", err);
	ck_assert_int_eq(ev->received_usec, 0);
	ld_event_unref(ev);
	freeReplyObject(r);
}
END_TEST

/* What is not an entry of an event is refused and says why (the reason
 * goes into the dead letter). */
START_TEST(stream_refused)
{
	static const struct {
		const char	*resp;
		const char	*why;
	} bad[] = {
		{ "$4\r\njson\r\n", "not pairs" },
		{ "*1\r\n$4\r\njson\r\n", "not pairs" },
		{ "*3\r\n$4\r\njson\r\n$2\r\n{}\r\n$1\r\nx\r\n", "not pairs" },
		{ "*0\r\n", "no json field" },
		{ "*2\r\n$11\r\ndelivery_id\r\n$1\r\na\r\n", "no json field" },
		{ "*4\r\n$11\r\ndelivery_id\r\n$1\r\na\r\n$4\r\njson\r\n:5\r\n",
		    "no json field" },
		{ "*2\r\n" JSON_X, "no delivery_id field" },
		{ "*4\r\n$11\r\ndelivery_id\r\n$0\r\n\r\n"
		    JSON_X, "empty or longer" },
		{ "*4\r\n$11\r\ndelivery_id\r\n$40\r\n"
		    "0123456789012345678901234567890123456789\r\n"
		    JSON_X, "empty or longer" },
		{ "*4\r\n$11\r\ndelivery_id\r\n$3\r\na b\r\n"
		    JSON_X, "printable ASCII" },
		{ "*4\r\n$11\r\ndelivery_id\r\n$2\r\n\xc3\xa9\r\n"
		    JSON_X, "printable ASCII" },
		{ "*6\r\n$11\r\ndelivery_id\r\n$1\r\na\r\n"
		    "$13\r\nreceived_usec\r\n$4\r\nsoon\r\n" JSON_X,
		    "received_usec" },
		{ "*6\r\n$11\r\ndelivery_id\r\n$1\r\na\r\n"
		    "$13\r\nreceived_usec\r\n$2\r\n-1\r\n" JSON_X,
		    "received_usec" },
		{ "*4\r\n$11\r\ndelivery_id\r\n$1\r\na\r\n"
		    "$4\r\njson\r\n$9\r\n{not json\r\n", "json: " },
		{ "*4\r\n$11\r\ndelivery_id\r\n$1\r\na\r\n"
		    "$4\r\njson\r\n$5\r\n[1,2]\r\n", "json: " },
		{ "*4\r\n$11\r\ndelivery_id\r\n$1\r\na\r\n"
		    "$4\r\njson\r\n$8\r\n{\"id\":1}\r\n", "json: " },
		{ "*4\r\n$11\r\ndelivery_id\r\n$1\r\na\r\n"
		    "$4\r\njson\r\n$0\r\n\r\n", "json: " },
	};
	struct ld_event *ev;
	redisReply *r;
	char *err;
	size_t i;

	for (i = 0; i < nitems(bad); i++) {
		err = NULL;
		r = reply_resp(bad[i].resp);
		ev = codec_stream_decode("1-0", r, DEPTH, &err);
		ck_assert_msg(ev == NULL, "entry %zu accepted", i);
		ck_assert_msg(err != NULL && strstr(err, bad[i].why) != NULL,
		    "entry %zu: '%s' lacks '%s'", i, err, bad[i].why);
		free(err);
		freeReplyObject(r);
	}
}
END_TEST

/* The value of field name in argv[from..], or NULL. */
static const char *
argv_field(const struct redis_argv *a, int from, const char *name)
{
	int i;

	for (i = from; i + 1 < a->argc; i += 2)
		if (strcmp(a->argv[i], name) == 0)
			return a->argv[i + 1];
	return NULL;
}

/* A sink's dead letter says where and why, and reads back as its event;
 * an unreadable entry's dead letter keeps the entry's fields. */
START_TEST(stream_dead_letters)
{
	const char *body = "{\"event\":\"message_created\",\"id\":2,"
	    "\"content\":\"FAIL\\nnow\",\"conversation\":{\"id\":1}}";
	struct ld_event *ev = event_str(body), *back;
	struct codec_stream_dead d = {
		.source_id = "1714564800999-0",
		.source_stream = "livedesk:events", .consumer = "w1",
		.reason = "sink failed", .sink = "run", .attempts = 2,
		.exited = true, .exit_status = 3, .detail = "the CRM said no", .ev = ev,
	};
	struct redis_argv a = { 0 };
	redisReply *r, *fields;
	char *err = NULL;
	size_t i;

	codec_stream_encode_dead(&a, &d);
	ck_assert_str_eq(a.argv[0], "source_id");
	ck_assert_str_eq(argv_field(&a, 0, "source_id"), "1714564800999-0");
	ck_assert_str_eq(argv_field(&a, 0, "source_stream"), "livedesk:events");
	ck_assert_str_eq(argv_field(&a, 0, "consumer"), "w1");
	ck_assert_str_eq(argv_field(&a, 0, "reason"), "sink failed");
	ck_assert_str_eq(argv_field(&a, 0, "sink"), "run");
	ck_assert_str_eq(argv_field(&a, 0, "attempts"), "2");
	ck_assert_str_eq(argv_field(&a, 0, "exit_status"), "3");
	ck_assert_str_eq(argv_field(&a, 0, "detail"), "the CRM said no");
	r = reply_of(&a, 0);
	back = codec_stream_decode("1714564801000-0", r, DEPTH, &err);
	ck_assert_msg(back != NULL, "%s", err);
	assert_same_event(ev, back);
	ck_assert_int_eq(back->received_usec, USEC);
	ck_assert_uint_eq(back->raw_len, strlen(body));
	ck_assert(memcmp(back->raw, body, back->raw_len) == 0);
	ld_event_unref(back);
	freeReplyObject(r);
	redis_argv_free(&a);

	/* An entry that is no event: its fields as they were, the one that
	 * is no string left out. */
	fields = reply_resp("*6\r\n$11\r\ndelivery_id\r\n$5\r\nbad-1\r\n"
	    "$4\r\njson\r\n$9\r\n{not json\r\n$4\r\nsize\r\n:9\r\n");
	memset(&d, 0, sizeof d);
	d.source_id = "1-0";
	d.source_stream = "livedesk:events";
	d.consumer = "w1";
	d.reason = "json: not JSON";
	d.fields = fields;
	codec_stream_encode_dead(&a, &d);
	freeReplyObject(fields);	/* the vector holds copies */
	ck_assert_int_eq(a.argc, 8 + 5);
	ck_assert_str_eq(argv_field(&a, 0, "reason"), "json: not JSON");
	ck_assert_ptr_null(argv_field(&a, 0, "sink"));
	{
		const char *want[] = { "delivery_id", "bad-1", "json",
		    "{not json", "size" };

		for (i = 0; i < nitems(want); i++)
			ck_assert_str_eq(a.argv[8 + i], want[i]);
	}
	redis_argv_free(&a);
	ld_event_unref(ev);
}
END_TEST

static Suite *
codec_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *archive = tcase_create("archive");
	TCase *stream = tcase_create("stream");

	tcase_add_test(archive, archive_fixtures);
	tcase_add_test(archive, archive_newlines);
	tcase_add_test(archive, archive_unicode);
	tcase_add_test(archive, archive_large);
	tcase_add_test(archive, archive_times);
	tcase_add_test(archive, archive_refused);
	tcase_add_test(archive, archive_depth);
	tcase_add_test(archive, archive_other_layouts);
	tcase_add_test(archive, archive_recognise);
	/* Large payloads under valgrind. */
	tcase_set_timeout(archive, 60);
	suite_add_tcase(s, archive);

	tcase_add_test(stream, stream_layout);
	tcase_add_test(stream, stream_fixtures);
	tcase_add_test(stream, stream_bytes);
	tcase_add_test(stream, stream_time_from_id);
	tcase_add_test(stream, stream_refused);
	tcase_add_test(stream, stream_dead_letters);
	tcase_set_timeout(stream, 60);
	suite_add_tcase(s, stream);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(codec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
