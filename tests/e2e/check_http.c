/* The real daemon on a loopback port, driven by a real HTTP client: every
 * status the HTTP front answers, and the log line each event becomes. */
#include <sys/stat.h>

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"

static struct tu_daemon d;
static char url[256];

static void
start_default(void)
{
	ck_assert_msg(tu_daemon_start(&d, NULL, NULL), "daemon did not start");
	snprintf(url, sizeof url, "%s/webhook", d.url);
}

static void
stop(void)
{
	tu_daemon_free(&d);
}

static const char *const json_ct[] = {
	"Content-Type: application/json", NULL
};

/* POSTs body and checks the status and that the answer is a JSON object
 * with a boolean ok; returns the parsed answer. */
static json_t *
post(const char *u, const char *const *hdrs, const char *body, size_t len,
    long want)
{
	struct tu_response r;
	json_error_t je;
	json_t *o;
	char *ct;

	tu_http(&r, "POST", u, hdrs, body, len);
	ck_assert_msg(r.status == want, "POST %s: status %ld, want %ld (%s)",
	    u, r.status, want, r.body ? r.body : "");
	ct = tu_header(&r, "Content-Type");
	ck_assert_ptr_nonnull(ct);
	ck_assert_str_eq(ct, "application/json");
	free(ct);
	o = json_loads(r.body, 0, &je);
	ck_assert_msg(o != NULL && json_is_object(o), "answer not JSON: %s",
	    r.body);
	ck_assert(json_is_boolean(json_object_get(o, "ok")));
	ck_assert_msg(strchr(r.body, '\n') == NULL, "answer not one line");
	tu_response_free(&r);
	return o;
}

static void
post_fixture(const char *name, long want)
{
	size_t len;
	char *body = tu_fixture(name, &len);

	json_decref(post(url, json_ct, body, len, want));
	free(body);
}

START_TEST(accepted_with_delivery_id)
{
	const char *body = "{\"event\":\"message_created\"}";
	json_t *a = post(url, json_ct, body, strlen(body), 200);
	json_t *b = post(url, json_ct, body, strlen(body), 200);
	const char *ida = json_string_value(json_object_get(a, "delivery_id"));
	const char *idb = json_string_value(json_object_get(b, "delivery_id"));

	ck_assert(json_is_true(json_object_get(a, "ok")));
	ck_assert_ptr_nonnull(ida);
	ck_assert_ptr_nonnull(idb);
	ck_assert_uint_eq(strlen(ida), 36);
	ck_assert_str_ne(ida, idb);
	json_decref(a);
	json_decref(b);
}
END_TEST

START_TEST(every_vendor_sample_accepted)
{
	static const char *const names[] = {
		"conversation_created.json", "vendor_conversation_updated.json",
		"vendor_conversation_status_changed.json", "message_created.json",
		"vendor_message_updated.json", "conversation_updated_full.json",
		"conversation_status_changed_full.json",
		"message_updated_full.json", "unknown_event.json", "nulls.json",
		"wrong_types.json", "pretty.json", "emoji.json",
		"attachments.json",
	};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		post_fixture(names[i], 200);
}
END_TEST

START_TEST(content_type_charset_and_absent)
{
	static const char *const charset[] = {
		"Content-Type: application/json; charset=utf-8", NULL
	};
	const char *body = "{\"event\":\"x\"}";

	json_decref(post(url, charset, body, strlen(body), 200));
	/* No Content-Type at all is accepted: only a wrong one is refused. */
	json_decref(post(url, NULL, body, strlen(body), 200));
}
END_TEST

START_TEST(not_json_400_with_position)
{
	const char *body = "{\"event\": \"x\",\n  oops}";
	json_t *o = post(url, json_ct, body, strlen(body), 400);
	const char *err = json_string_value(json_object_get(o, "error"));

	ck_assert(json_is_false(json_object_get(o, "ok")));
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, "line 2") != NULL, "no line in '%s'", err);
	ck_assert_msg(strstr(err, "column") != NULL, "no column in '%s'", err);
	json_decref(o);
}
END_TEST

START_TEST(not_an_object_400)
{
	static const char *const bodies[] = {
		"[1,2]", "\"event\"", "42", "", "{\"event\":\"x\"", "null",
	};
	size_t i;

	for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
		json_decref(post(url, json_ct, bodies[i], strlen(bodies[i]),
		    400));
}
END_TEST

START_TEST(no_string_event_422)
{
	static const char *const bodies[] = {
		"{}", "{\"event\":5}", "{\"event\":null}", "{\"id\":1}",
	};
	size_t i;

	for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
		json_decref(post(url, json_ct, bodies[i], strlen(bodies[i]),
		    422));
}
END_TEST

START_TEST(other_path_404)
{
	char u[300];
	const char *body = "{\"event\":\"x\"}";
	struct tu_response r;

	snprintf(u, sizeof u, "%s/other", d.url);
	json_decref(post(u, json_ct, body, strlen(body), 404));
	snprintf(u, sizeof u, "%s/webhookx", d.url);
	json_decref(post(u, json_ct, body, strlen(body), 404));
	snprintf(u, sizeof u, "%s/", d.url);
	tu_http(&r, "GET", u, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 404);
	tu_response_free(&r);
}
END_TEST

START_TEST(other_method_405)
{
	static const char *const methods[] = { "GET", "PUT", "DELETE",
	    "PATCH" };
	struct tu_response r;
	size_t i;
	char *allow;

	for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		tu_http(&r, methods[i], url, NULL, NULL, 0);
		ck_assert_msg(r.status == 405, "%s: %ld", methods[i], r.status);
		allow = tu_header(&r, "Allow");
		ck_assert_ptr_nonnull(allow);
		ck_assert_str_eq(allow, "POST");
		free(allow);
		tu_response_free(&r);
	}
}
END_TEST

START_TEST(too_large_413)
{
	size_t n = 1024 * 1024 + 1;
	char *body = malloc(n + 1);
	static const char *const chunked[] = {
		"Content-Type: application/json", "Transfer-Encoding: chunked",
		NULL
	};

	ck_assert_ptr_nonnull(body);
	memset(body, ' ', n);
	body[0] = '{';
	memcpy(body + n - 14, "\"event\":\"x\"}", 12);
	json_decref(post(url, json_ct, body, n, 413));
	/* Chunked: no length up front, counted as it arrives. */
	json_decref(post(url, chunked, body, n, 413));
	/* Exactly max_body is fine. */
	json_decref(post(url, chunked, body, n - 1, 200));
	json_decref(post(url, json_ct, body, n - 1, 200));
	free(body);
}
END_TEST

START_TEST(wrong_content_type_415)
{
	static const char *const form[] = {
		"Content-Type: application/x-www-form-urlencoded", NULL
	};
	static const char *const text[] = { "Content-Type: text/plain", NULL };
	static const char *const jsonx[] = {
		"Content-Type: application/jsonx", NULL
	};
	const char *body = "{\"event\":\"x\"}";

	json_decref(post(url, form, body, strlen(body), 415));
	json_decref(post(url, text, body, strlen(body), 415));
	json_decref(post(url, jsonx, body, strlen(body), 415));
}
END_TEST

START_TEST(healthz_200)
{
	struct tu_response r;
	char u[300];

	snprintf(u, sizeof u, "%s/healthz", d.url);
	tu_http(&r, "GET", u, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"ok\":true"));
	tu_response_free(&r);
}
END_TEST

/* One log line per event, with the ids, type, sender and content. */
START_TEST(log_line_per_event)
{
	char *log, *line;

	post_fixture("message_created.json", 200);
	post_fixture("conversation_created.json", 200);
	post_fixture("emoji.json", 200);
	post_fixture("conversation_updated_full.json", 200);
	/* Every event finished: every line written. */
	ck_assert(tu_wait_idle(&d, 5000));
	log = tu_read_file(d.log, NULL);
	line = strstr(log, "info: message_created ");
	ck_assert_msg(line != NULL, "no message_created line in:\n%s", log);
	ck_assert_ptr_nonnull(strstr(line, "account=17629000001207"));
	ck_assert_ptr_nonnull(strstr(line, "inbox=523"));
	ck_assert_ptr_nonnull(strstr(line, "conversation=89"));
	ck_assert_ptr_nonnull(strstr(line, "message=2187685"));
	ck_assert_ptr_nonnull(strstr(line, "type=outgoing"));
	ck_assert_ptr_nonnull(strstr(line, "sender=\"support\""));
	ck_assert_ptr_nonnull(strstr(line,
	    "content=\"สวัสดีคุณต้องการความช่วยเหลืออะไร\""));
	ck_assert_ptr_nonnull(strstr(line, "delivery="));
	line = strstr(log, "info: conversation_created ");
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line, "sender=\"Test\""));
	line = strstr(log, "info: conversation_updated ");
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line, " status=open "));
	ck_assert_ptr_nonnull(strstr(line,
	    " changed=updated_at,first_reply_created_at,waiting_since "));
	free(log);
}
END_TEST

/* Control characters in content never split a log line. */
START_TEST(log_escapes_control_characters)
{
	const char *body = "{\"event\":\"message_created\",\"content\":"
	    "\"line1\\nFAKE info: injected\\r\\u001b[31m\",\"id\":7}";
	const char *forged = "{\"event\":\"x\\n2026-01-01T00:00:00.000Z "
	    "error: FORGED\"}";
	char *log;

	json_decref(post(url, json_ct, body, strlen(body), 200));
	json_decref(post(url, json_ct, forged, strlen(forged), 200));
	ck_assert(tu_wait_idle(&d, 5000));
	log = tu_read_file(d.log, NULL);
	ck_assert_msg(strstr(log, "line1\\nFAKE info: injected\\r\\x1b[31m")
	    != NULL, "not escaped:\n%s", log);
	ck_assert_ptr_nonnull(strstr(log, "info: x\\n2026-01-01T00:00:00.000Z "
	    "error: FORGED"));
	ck_assert_int_eq(tu_count_lines(d.log), 3);
	free(log);
}
END_TEST

START_TEST(ipv6_listen)
{
	struct tu_daemon d6;
	const char *args[] = { "-l", "[::1]:0", NULL };
	char u[160];
	struct tu_response r;
	const char *body = "{\"event\":\"x\"}";

	if (!tu_daemon_start(&d6, NULL, args)) {
		/* No IPv6 loopback on this machine: nothing to test. */
		ck_assert_int_ne(system("ip -6 addr show lo 2>/dev/null | "
		    "grep -q ::1"), 0);
		tu_daemon_free(&d6);
		tu_skip("ipv6_listen", "no IPv6 loopback (::1) here");
		return;
	}
	snprintf(u, sizeof u, "%s/webhook", d6.url);
	tu_http(&r, "POST", u, json_ct, body, strlen(body));
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d6)), 0);
	tu_daemon_free(&d6);
}
END_TEST

START_TEST(sigterm_exits_zero)
{
	int st;

	post_fixture("message_created.json", 200);
	st = tu_daemon_stop(&d);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert_int_eq(tu_count_lines(d.log) >= 3, 1);
}
END_TEST

START_TEST(path_option)
{
	struct tu_daemon dp;
	const char *args[] = { "-p", "/hooks/livedesk", NULL };
	char u[256];
	const char *body = "{\"event\":\"x\"}";

	ck_assert(tu_daemon_start(&dp, NULL, args));
	snprintf(u, sizeof u, "%s/hooks/livedesk", dp.url);
	json_decref(post(u, json_ct, body, strlen(body), 200));
	snprintf(u, sizeof u, "%s/webhook", dp.url);
	json_decref(post(u, json_ct, body, strlen(body), 404));
	tu_daemon_free(&dp);
}
END_TEST

/* A queue of one, held by an exec sink that waits for the test to let it
 * go: the next is 503. */
START_TEST(queue_full_503)
{
	struct tu_daemon dq;
	const char *body = "{\"event\":\"x\",\"conversation\":{\"id\":1}}";
	struct tu_response r;
	char u[256], *ra, *dir = tu_tmpdir(), *go, *hold, *text, *conf;

	ck_assert_int_ge(asprintf(&go, "%s/go", dir), 0);
	ck_assert_int_ge(asprintf(&hold, "%s/hold.sh", dir), 0);
	ck_assert_int_ge(asprintf(&text, "#!/bin/sh\nwhile [ ! -e %s ]; do "
	    "sleep 0.01; done\n", go), 0);
	tu_write_file(hold, text, strlen(text));
	ck_assert_int_eq(chmod(hold, 0755), 0);
	ck_assert_int_ge(asprintf(&conf, "[server]\nqueue_size = 1\n"
	    "[sink slow]\ntype = exec\ncommand = %s\n"
	    "events = *\nmessage_type = any\n", hold), 0);
	ck_assert(tu_daemon_start(&dq, conf, NULL));
	snprintf(u, sizeof u, "%s/webhook", dq.url);
	json_decref(post(u, json_ct, body, strlen(body), 200));
	tu_http(&r, "POST", u, json_ct, body, strlen(body));
	ck_assert_int_eq(r.status, 503);
	ra = tu_header(&r, "Retry-After");
	ck_assert_ptr_nonnull(ra);
	ck_assert_int_gt(atoi(ra), 0);
	free(ra);
	tu_response_free(&r);
	tu_write_file(go, "", 0);
	tu_daemon_free(&dq);
	tu_rmtree(dir);
	free(dir);
	free(go);
	free(hold);
	free(text);
	free(conf);
}
END_TEST

START_TEST(help_and_version)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "%s/livedesk-webhookd --help | grep -q "
	    "'\\-\\-listen'", tu_build_dir());
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "%s/livedesk-webhookd --version | grep -q "
	    "'^livedesk-webhookd [0-9]'", tu_build_dir());
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "%s/livedesk-webhookd --bogus 2>/dev/null",
	    tu_build_dir());
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("statuses");

	tcase_add_checked_fixture(tc, start_default, stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, accepted_with_delivery_id);
	tcase_add_test(tc, every_vendor_sample_accepted);
	tcase_add_test(tc, content_type_charset_and_absent);
	tcase_add_test(tc, not_json_400_with_position);
	tcase_add_test(tc, not_an_object_400);
	tcase_add_test(tc, no_string_event_422);
	tcase_add_test(tc, other_path_404);
	tcase_add_test(tc, other_method_405);
	tcase_add_test(tc, too_large_413);
	tcase_add_test(tc, wrong_content_type_415);
	tcase_add_test(tc, healthz_200);
	tcase_add_test(tc, log_line_per_event);
	tcase_add_test(tc, log_escapes_control_characters);
	tcase_add_test(tc, sigterm_exits_zero);
	suite_add_tcase(s, tc);

	tc = tcase_create("options");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, ipv6_listen);
	tcase_add_test(tc, path_option);
	tcase_add_test(tc, queue_full_503);
	tcase_add_test(tc, help_and_version);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
