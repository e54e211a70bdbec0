/* Check suite for codec_persist.c: every fixture's event line read back is
 * the same event with the same payload bytes (newlines as spaces) and the
 * LIVEDESK_* variables spawn mode sets; answers round-trip; what is not an
 * answer is refused with a reason. Pure: no daemon. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_persist.h"
#include "exec_env.h"
#include "livedesk/event.h"
#include "testutil.h"
#include "util.h"

#define DEPTH	64
#define ID	"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

static struct ld_event *
event_of(const char *body, size_t len)
{
	struct ld_event_error perr = { 0, "" };
	struct ld_event *ev = ld_event_parse(body, len, DEPTH, &perr);

	if (ev != NULL)
		snprintf(ev->delivery_id, sizeof ev->delivery_id, "%s", ID);
	return ev;
}

/* Encodes ev with the environment spawn mode would give it, checks the
 * line, decodes it and compares. */
static void
round_trip(const struct ld_event *ev)
{
	struct exec_env sink = { NULL, 0 }, env = { NULL, 0 };
	char *const lines[] = { "SECRET=x" };
	struct ld_event *back;
	json_t *benv = NULL;
	char *line, *err = NULL, *eq;
	size_t len, i, n = 0, k;

	exec_env_sink(&sink, lines, 1);
	exec_env_event(&env, &sink, "bot", ev);
	line = codec_persist_encode(ev, env.v, &len);
	ck_assert_ptr_nonnull(line);
	ck_assert_uint_eq(strlen(line), len);
	/* One line, whatever the payload's layout. */
	ck_assert_ptr_eq(strchr(line, '\n'), line + len - 1);
	ck_assert_ptr_null(strchr(line, '\r'));
	back = codec_persist_decode(line, len, DEPTH, &benv, &err);
	ck_assert_msg(back != NULL, "%s: %s", ev->name, err);
	ck_assert_str_eq(back->name, ev->name);
	ck_assert_str_eq(back->delivery_id, ev->delivery_id);
	ck_assert_int_eq(back->kind, ev->kind);
	ck_assert_uint_eq(back->raw_len, ev->raw_len);
	for (i = 0; i < ev->raw_len; i++)
		ck_assert_int_eq(back->raw[i], ev->raw[i] == '\n' ||
		    ev->raw[i] == '\r' ? ' ' : ev->raw[i]);
	/* env: the LIVEDESK_* variables, names and values as spawn mode's;
	 * nothing of the sink's own environment. */
	for (i = 0; i < env.n; i++) {
		if (strncmp(env.v[i], "LIVEDESK_", 9) != 0)
			continue;
		n++;
		eq = strchr(env.v[i], '=');
		k = (size_t)(eq - env.v[i]);
		{
			char key[64];

			snprintf(key, sizeof key, "%.*s", (int)k, env.v[i]);
			ck_assert_msg(json_is_string(json_object_get(benv,
			    key)), "%s missing", key);
			ck_assert_str_eq(json_string_value(json_object_get(
			    benv, key)), eq + 1);
		}
	}
	ck_assert_uint_ge(n, 2);
	ck_assert_uint_eq(json_object_size(benv), n);
	ck_assert_ptr_null(json_object_get(benv, "SECRET"));
	ck_assert_str_eq(json_string_value(json_object_get(benv,
	    "LIVEDESK_SINK")), "bot");
	json_decref(benv);
	ld_event_unref(back);
	free(line);
	exec_env_free(&env);
	exec_env_free(&sink);
}

START_TEST(event_fixtures)
{
	DIR *d = opendir("fixtures");
	struct ld_event *ev;
	struct dirent *de;
	size_t n = 0, len;
	char *body;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".json") == NULL)
			continue;
		body = tu_fixture(de->d_name, &len);
		if ((ev = event_of(body, len)) != NULL) {
			round_trip(ev);
			ld_event_unref(ev);
			n++;
		}
		free(body);
	}
	closedir(d);
	ck_assert_uint_ge(n, 15);
}
END_TEST

/* A pretty-printed payload with CR LF stays one line, its bytes kept. */
START_TEST(event_newlines)
{
	const char *body = "{\r\n  \"event\": \"message_created\",\r\n"
	    "  \"id\": 7,\n  \"content\": \"a\\nb\",\n"
	    "  \"conversation\": {\"id\": 3}\n}\n";
	struct ld_event *ev = event_of(body, strlen(body));

	ck_assert_ptr_nonnull(ev);
	round_trip(ev);
	ld_event_unref(ev);
}
END_TEST

/* Lines that are not the daemon's are refused with a reason. */
START_TEST(event_refused)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"delivery_id\":\"a\",\"event\":\"x\",\"env\":{}}",
		"{\"delivery_id\":1,\"event\":\"x\",\"env\":{},\"payload\":{}}",
		/* Keys in another order: not the daemon's layout. */
		"{\"event\":\"x\",\"delivery_id\":\"a\",\"env\":{},"
		    "\"payload\":{\"event\":\"x\"}}",
		"{\"delivery_id\":\"a\",\"event\":\"x\",\"env\":{},"
		    "\"payload\":\"not an object\"}",
	};
	struct ld_event *ev;
	json_t *env = NULL;
	char *err;
	size_t i;

	for (i = 0; i < nitems(bad); i++) {
		err = NULL;
		ev = codec_persist_decode(bad[i], strlen(bad[i]), DEPTH, &env,
		    &err);
		ck_assert_msg(ev == NULL, "accepted: %s", bad[i]);
		ck_assert_ptr_nonnull(err);
		ck_assert_uint_gt(strlen(err), 5);
		free(err);
	}
}
END_TEST

/* Answers written by the codec read back the same. */
START_TEST(answer_round_trip)
{
	static const struct {
		bool		 ok;
		const char	*error;
		const char	*id;
	} cases[] = {
		{ true, NULL, NULL },
		{ true, NULL, ID },
		{ false, "the API said 503", NULL },
		{ false, "quote \" newline \n tab \t é", ID },
		{ false, NULL, NULL },
		{ false, "", ID },
	};
	struct codec_persist_answer a;
	char *line, *err = NULL;
	size_t len, i;

	for (i = 0; i < nitems(cases); i++) {
		line = codec_persist_answer_encode(cases[i].ok,
		    cases[i].error, cases[i].id, &len);
		ck_assert_ptr_nonnull(line);
		ck_assert_ptr_eq(strchr(line, '\n'), line + len - 1);
		ck_assert_int_eq(codec_persist_answer_decode(line, len, ID,
		    &a, &err), 0);
		ck_assert_int_eq(a.ok, cases[i].ok);
		ck_assert_str_eq(a.error, cases[i].error != NULL ?
		    cases[i].error : "");
		free(line);
	}
}
END_TEST

/* What scripts write by hand: spaces, other keys, no newline. */
START_TEST(answer_by_hand)
{
	static const char *const good[] = {
		"{\"ok\":true}",
		"{\"ok\": true}\n",
		"  { \"ok\" : true , \"took_ms\": 3 }\r\n",
		"{\"ok\":true,\"delivery_id\":\"" ID "\"}",
		"{\"ok\":false,\"error\":null}",
	};
	struct codec_persist_answer a;
	char *err = NULL;
	size_t i;

	for (i = 0; i < nitems(good); i++)
		ck_assert_msg(codec_persist_answer_decode(good[i],
		    strlen(good[i]), ID, &a, &err) == 0, "%s: %s", good[i],
		    err);
}
END_TEST

/* Protocol errors: each refused with a reason that quotes none of it. */
START_TEST(answer_refused)
{
	static const char *const bad[] = {
		"",
		"\n",
		"ok",
		"true",
		"{\"ok\":1}",
		"{\"ok\":\"true\"}",
		"{\"error\":\"x\"}",
		"{\"ok\":true}{\"ok\":true}",
		"{\"ok\":true,\"ok\":false}",
		"{\"ok\":false,\"error\":42}",
		"{\"ok\":true,\"delivery_id\":\"another\"}",
		"{\"ok\":true,\"delivery_id\":7}",
		"[{\"ok\":true}]",
	};
	struct codec_persist_answer a;
	char *err, *big;
	size_t i;

	for (i = 0; i < nitems(bad); i++) {
		err = NULL;
		ck_assert_msg(codec_persist_answer_decode(bad[i],
		    strlen(bad[i]), ID, &a, &err) == -1, "accepted: %s",
		    bad[i]);
		ck_assert_ptr_nonnull(err);
		if (strlen(bad[i]) > 6)
			ck_assert_ptr_null(strstr(err, bad[i]));
		free(err);
	}
	/* Longer than the bound: refused before parsing. */
	big = xmalloc(CODEC_PERSIST_ANSWER_MAX + 64);
	snprintf(big, 64, "{\"ok\":false,\"error\":\"");
	memset(big + strlen(big), 'x', CODEC_PERSIST_ANSWER_MAX);
	memcpy(big + CODEC_PERSIST_ANSWER_MAX + 20, "\"}", 3);
	err = NULL;
	ck_assert_int_eq(codec_persist_answer_decode(big, strlen(big), ID, &a,
	    &err), -1);
	free(err);
	/* A long error is cut on a character, not refused. */
	snprintf(big, 64, "{\"ok\":false,\"error\":\"");
	for (i = strlen(big); i < 2000; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	memcpy(big + i, "\"}", 3);
	ck_assert_int_eq(codec_persist_answer_decode(big, strlen(big), ID, &a,
	    &err), 0);
	ck_assert_uint_lt(strlen(a.error), sizeof a.error);
	ck_assert_uint_eq(strlen(a.error) % 2, 0);
	free(big);
}
END_TEST

static Suite *
persist_codec_suite(void)
{
	Suite *s = suite_create("persist_codec");
	TCase *ev = tcase_create("event");
	TCase *ans = tcase_create("answer");

	tcase_add_test(ev, event_fixtures);
	tcase_add_test(ev, event_newlines);
	tcase_add_test(ev, event_refused);
	tcase_set_timeout(ev, 60);
	suite_add_tcase(s, ev);
	tcase_add_test(ans, answer_round_trip);
	tcase_add_test(ans, answer_by_hand);
	tcase_add_test(ans, answer_refused);
	suite_add_tcase(s, ans);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(persist_codec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
