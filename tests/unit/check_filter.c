/* Check suite for filter.c: each filter key, its values and the errors it
 * gives, the loop guard an exec sink defaults to, the printed form, and
 * the matrix of filters over the vendor fixtures. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "livedesk/event.h"
#include "testutil.h"

/* An event from JSON text; name says where it came from. */
static struct ld_event *
event_of(const char *name, const char *json, size_t len)
{
	struct ld_event_error err;
	struct ld_event *ev = ld_event_parse(json, len, 0, &err);

	ck_assert_msg(ev != NULL, "%s: %s", name, err.text);
	return ev;
}

/* Builds a filter from "key=value;key=value" with the type's defaults. */
static void
make_filter(struct filter *f, const char *spec, bool incoming_only)
{
	char *copy = strdup(spec), *save = NULL, *kv, *err = NULL;

	memset(f, 0, sizeof *f);
	for (kv = strtok_r(copy, ";", &save); kv != NULL;
	    kv = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(kv, '=');

		ck_assert_ptr_nonnull(eq);
		*eq = '\0';
		ck_assert_msg(filter_set(f, kv, eq + 1, &err) == 0, "%s", err);
	}
	filter_defaults(f, incoming_only);
	free(copy);
}

/* Whether the filter spec lets ev through; takes ev. */
static bool
passes(const char *spec, bool incoming_only, struct ld_event *ev)
{
	struct filter f;
	bool m;

	make_filter(&f, spec, incoming_only);
	m = filter_match(&f, ev);
	filter_destroy(&f);
	ld_event_unref(ev);
	return m;
}

/* The same for fixtures/NAME. */
static bool
matches(const char *spec, bool incoming_only, const char *fixture)
{
	size_t len;
	char *body = tu_fixture(fixture, &len);
	struct ld_event *ev = event_of(fixture, body, len);

	free(body);
	return passes(spec, incoming_only, ev);
}

/* The same for JSON text. */
static bool
lets(const char *spec, bool incoming_only, const char *json)
{
	return passes(spec, incoming_only, event_of(json, json,
	    strlen(json)));
}

/* The error filter_set gives key = value (malloc'd); the test fails when
 * it takes the value. */
static char *
refused(const char *key, const char *value)
{
	struct filter f;
	char *err = NULL;

	memset(&f, 0, sizeof f);
	ck_assert_msg(filter_set(&f, key, value, &err) == -1, "%s = '%s' "
	    "taken", key, value);
	ck_assert_ptr_nonnull(err);
	filter_destroy(&f);
	return err;
}

/* What filter_print says of the filter spec, malloc'd. */
static char *
printed(const char *spec, bool incoming_only)
{
	struct filter f;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(out);
	make_filter(&f, spec, incoming_only);
	filter_print(&f, out);
	ck_assert_int_eq(fclose(out), 0);
	filter_destroy(&f);
	return text;
}

static void
assert_printed(const char *spec, bool incoming_only, const char *want)
{
	char *text = printed(spec, incoming_only);

	ck_assert_str_eq(text, want);
	free(text);
}

#define MSG(type, priv) "{\"event\":\"message_created\",\"id\":1," \
	"\"content\":\"hello\",\"message_type\":\"" type "\"" priv "}"

START_TEST(keys_not_ours)
{
	struct filter f;
	char *err = NULL;

	/* Not a filter key: 1, and no error made up. */
	memset(&f, 0, sizeof f);
	ck_assert_int_eq(filter_set(&f, "command", "/bin/true", &err), 1);
	ck_assert_int_eq(filter_set(&f, "Events", "x", &err), 1);
	ck_assert_ptr_null(err);
	filter_destroy(&f);
}
END_TEST

START_TEST(bad_values)
{
	char *err;

	err = refused("events", "");
	ck_assert_str_eq(err, "empty list (use * for every event)");
	free(err);
	free(refused("events", " , \t"));
	err = refused("inbox", "");
	ck_assert_str_eq(err, "empty list (use * for every inbox)");
	free(err);
	err = refused("inbox", "3, x7");
	ck_assert_str_eq(err, "'x7' is not an inbox id");
	free(err);
	free(refused("inbox", "-1"));
	free(refused("inbox", "1.5"));
	err = refused("message_type", "sideways");
	ck_assert_str_eq(err, "'sideways' is not incoming, outgoing, "
	    "activity, template or any");
	free(err);
	free(refused("message_type", ""));
	err = refused("private", "maybe");
	ck_assert_str_eq(err, "'maybe' is not yes, no or any");
	free(err);
	err = refused("match", "(unclosed");
	ck_assert_msg(strncmp(err, "bad regular expression '(unclosed': ",
	    36) == 0, "%s", err);
	free(err);
}
END_TEST

/* The loop guard: a sink that runs programs (exec) hears incoming,
 * public messages unless told otherwise; the others hear everything. */
START_TEST(loop_guard_defaults)
{
	assert_printed("", true, "events = *\ninbox = *\n"
	    "message_type = incoming\nprivate = no\n");
	assert_printed("", false, "events = *\ninbox = *\n"
	    "message_type = any\nprivate = any\n");
	/* What the section says stays, each key on its own. */
	assert_printed("message_type=any", true, "events = *\ninbox = *\n"
	    "message_type = any\nprivate = no\n");
	assert_printed("private=any", true, "events = *\ninbox = *\n"
	    "message_type = incoming\nprivate = any\n");
	assert_printed("message_type=outgoing;private=yes", false,
	    "events = *\ninbox = *\nmessage_type = outgoing\n"
	    "private = yes\n");

	ck_assert(lets("", true, MSG("incoming", ",\"private\":false")));
	ck_assert(!lets("", true, MSG("outgoing", ",\"private\":false")));
	ck_assert(!lets("", true, MSG("activity", "")));
	ck_assert(!lets("", true, MSG("template", "")));
	ck_assert(!lets("", true, MSG("incoming", ",\"private\":true")));
	/* A message that does not say its type is not let through: the
	 * guard fails closed. One that does not say private is public. */
	ck_assert(!lets("", true, "{\"event\":\"message_created\","
	    "\"content\":\"x\"}"));
	ck_assert(lets("", true, MSG("incoming", "")));
	/* Our own reply (outgoing) reaches a sink that is not exec. */
	ck_assert(lets("", false, MSG("outgoing", ",\"private\":true")));
	/* Conversation events pass the message keys. */
	ck_assert(lets("", true, "{\"event\":\"conversation_created\","
	    "\"id\":3}"));
}
END_TEST

START_TEST(each_key)
{
	const char *in5 = "{\"event\":\"message_created\",\"id\":1,"
	    "\"message_type\":\"incoming\",\"content\":\"Refund please\","
	    "\"inbox\":{\"id\":5}}";
	const char *conv = "{\"event\":\"conversation_status_changed\","
	    "\"id\":9,\"inbox_id\":6,\"status\":\"resolved\"}";

	/* events: a list, or *; names compared whole. */
	ck_assert(lets("events=message_created", false, in5));
	ck_assert(lets("events=conversation_created message_created", false,
	    in5));
	ck_assert(!lets("events=message", false, in5));
	ck_assert(!lets("events=message_created_", false, in5));
	ck_assert(lets("events=*", false, conv));
	/* inbox: ids from the inbox object or the conversation's inbox_id;
	 * an event with no inbox passes no inbox list. */
	ck_assert(lets("inbox=5", false, in5));
	ck_assert(lets("inbox=4,5", false, in5));
	ck_assert(!lets("inbox=55", false, in5));
	ck_assert(lets("inbox=6", false, conv));
	ck_assert(!lets("inbox=5", false, conv));
	ck_assert(!lets("inbox=0", false, "{\"event\":\"message_created\","
	    "\"message_type\":\"incoming\"}"));
	ck_assert(lets("inbox=*", false, "{\"event\":\"message_created\"}"));
	/* message_type: each type, and any. */
	ck_assert(lets("message_type=incoming", false, in5));
	ck_assert(lets("message_type=activity", false, MSG("activity", "")));
	ck_assert(!lets("message_type=activity", false, MSG("template", "")));
	ck_assert(lets("message_type=template", false, MSG("template", "")));
	ck_assert(lets("message_type=any", false, MSG("template", "")));
	/* private: yes wants it said; no lets an unsaid one through. */
	ck_assert(lets("private=yes", false, MSG("incoming",
	    ",\"private\":true")));
	ck_assert(!lets("private=yes", false, MSG("incoming", "")));
	ck_assert(lets("private=no", false, MSG("incoming", "")));
	ck_assert(!lets("private=no", false, MSG("incoming",
	    ",\"private\":true")));
	ck_assert(lets("private=off", false, MSG("incoming", "")));
	ck_assert(lets("private=any", false, MSG("incoming",
	    ",\"private\":true")));
	/* match: an extended regular expression, anywhere in the content,
	 * case as written; no content never matches. */
	ck_assert(lets("match=Refund|return", false, in5));
	ck_assert(lets("match=fund", false, in5));
	ck_assert(!lets("match=refund", false, in5));
	ck_assert(lets("match=[Rr]efund", false, in5));
	ck_assert(!lets("match=^please", false, in5));
	ck_assert(!lets("match=.*", false, conv));
}
END_TEST

/* A key given again replaces its value; * goes back to everything. */
START_TEST(set_again)
{
	assert_printed("events=a, b;events=c", false, "events = c\n"
	    "inbox = *\nmessage_type = any\nprivate = any\n");
	assert_printed("events=a;events=*;inbox=1 2;inbox=*", false,
	    "events = *\ninbox = *\nmessage_type = any\nprivate = any\n");
	assert_printed("inbox=7,\t8;match=x;match=^y$", false,
	    "events = *\ninbox = 7, 8\nmessage_type = any\nprivate = any\n"
	    "match = ^y$\n");
	ck_assert(!lets("match=hello;match=^bye", false, MSG("incoming", "")));
}
END_TEST

START_TEST(filter_matrix)
{
	/* The loop guard: an exec sink's defaults. */
	ck_assert(!matches("", true, "message_created.json"));	/* outgoing */
	ck_assert(matches("", true, "message_created_incoming.json"));
	ck_assert(!matches("", true, "message_private.json"));
	ck_assert(!matches("", true, "minimal_message_created.json"));
	ck_assert(matches("", true, "conversation_created.json"));
	ck_assert(matches("message_type=any", true, "message_created.json"));
	/* Other sinks default to everything. */
	ck_assert(matches("", false, "message_created.json"));
	ck_assert(matches("", false, "message_private.json"));
	ck_assert(matches("", false, "unknown_event.json"));
	/* events */
	ck_assert(matches("events=message_created", false,
	    "message_created.json"));
	ck_assert(!matches("events=message_created", false,
	    "conversation_created.json"));
	ck_assert(matches("events=*", false, "unknown_event.json"));
	ck_assert(matches("events=contact_created, message_updated", false,
	    "unknown_event.json"));
	/* inbox */
	ck_assert(matches("inbox=523", false, "message_created.json"));
	ck_assert(matches("inbox=1 523", false, "conversation_created.json"));
	ck_assert(!matches("inbox=1,2", false, "message_created.json"));
	ck_assert(!matches("inbox=523", false, "nulls.json"));
	/* message_type and private apply to message events only */
	ck_assert(matches("message_type=outgoing", false,
	    "message_created.json"));
	ck_assert(!matches("message_type=outgoing", false,
	    "message_created_incoming.json"));
	ck_assert(matches("message_type=outgoing", false,
	    "conversation_created.json"));
	ck_assert(matches("private=yes", false, "message_private.json"));
	ck_assert(!matches("private=yes", false, "message_created.json"));
	ck_assert(matches("private=no", false, "message_created.json"));
	/* match: a POSIX ERE on the content */
	ck_assert(matches("match=ความช่วยเหลือ", false,
	    "message_created.json"));
	ck_assert(matches("match=^สวัสดี", false, "message_created.json"));
	ck_assert(!matches("match=^refund", false, "message_created.json"));
	ck_assert(!matches("match=.", false, "conversation_created.json"));
	/* every filter that is set must match */
	ck_assert(matches("events=message_created;inbox=523;"
	    "message_type=incoming;private=no;match=.", true,
	    "message_created_incoming.json"));
	ck_assert(!matches("events=message_created;inbox=524;"
	    "message_type=incoming", true, "message_created_incoming.json"));
}
END_TEST

static Suite *
filter_suite(void)
{
	Suite *s = suite_create("filter");
	TCase *tc = tcase_create("filter");

	tcase_add_test(tc, keys_not_ours);
	tcase_add_test(tc, bad_values);
	tcase_add_test(tc, loop_guard_defaults);
	tcase_add_test(tc, each_key);
	tcase_add_test(tc, set_again);
	tcase_add_test(tc, filter_matrix);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(filter_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
