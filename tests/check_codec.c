/* Check suite for codec_archive.c: every event encoded and decoded again
 * is the same event with the same payload bytes (newlines as spaces);
 * what is not a line is refused with a reason. Pure: no daemon. */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_archive.h"
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

static Suite *
codec_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *archive = tcase_create("archive");

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
