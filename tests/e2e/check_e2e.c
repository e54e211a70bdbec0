/* End to end, as a user runs it: the example configuration, real scripts
 * run by the exec sink, the file sink read back, and the example bot
 * answering through livedesk-send to a mock LiveDesk API. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "testutil.h"

static const char *const json_ct[] = {
	"Content-Type: application/json", NULL
};

static char *T;

static void
setup(void)
{
	T = tu_tmpdir();
}

static void
teardown(void)
{
	if (getenv("LD_KEEP_TMP") == NULL)
		tu_rmtree(T);
	free(T);
}

/* The example configuration with the test's paths, plus extra sections. */
static char *
example_conf(const char *extra)
{
	char *text = tu_read_file("conf/livedesk-webhookd.conf", NULL), *out;
	char *spool = strstr(text, "spool_dir = /var/lib/livedesk-webhookd/"
	    "spool\n"), *rest;

	ck_assert_msg(spool != NULL, "the example configuration no longer "
	    "sets spool_dir as this test expects");
	*spool = '\0';
	rest = spool + strlen("spool_dir = /var/lib/livedesk-webhookd/spool\n");
	ck_assert_int_ge(asprintf(&out, "%sspool_dir = %s/spool\n%s\n%s", text,
	    T, rest, extra), 0);
	free(text);
	return out;
}

static char *
post_fixture(const char *url, const char *name, long want)
{
	size_t len;
	char *body = tu_fixture(name, &len), *id = NULL;
	struct tu_response r;
	json_t *o;

	tu_http(&r, "POST", url, json_ct, body, len);
	ck_assert_msg(r.status == want, "%s: %ld", name, r.status);
	if (r.status == 200) {
		o = json_loads(r.body, 0, NULL);
		id = strdup(json_string_value(json_object_get(o,
		    "delivery_id")));
		json_decref(o);
	}
	tu_response_free(&r);
	free(body);
	return id;
}

/* The environment a recorded run had, as "KEY=VALUE\0" entries. */
static char *
recorded_env(const char *id, size_t *len)
{
	char *p, *env;

	ck_assert_int_ge(asprintf(&p, "%s/rec/%s.env", T, id), 0);
	env = tu_read_file(p, len);
	free(p);
	return env;
}

static const char *
env_get(const char *env, size_t len, const char *key)
{
	size_t kl = strlen(key);
	const char *p = env;

	while (p < env + len) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
			return p + kl + 1;
		p += strlen(p) + 1;
	}
	return NULL;
}

static int
count_runs(void)
{
	char *p;
	DIR *d;
	struct dirent *de;
	int n = 0;

	ck_assert_int_ge(asprintf(&p, "%s/rec", T), 0);
	d = opendir(p);
	free(p);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".env") != NULL &&
		    strstr(de->d_name, ".tmp") == NULL)
			n++;
	closedir(d);
	return n;
}

/*
 * The "done when": the example configuration with an exec sink
 * pointed at a script; the vendor's message_created made incoming runs it
 * once with the right environment; the vendor's original sample (an
 * agent's outgoing message) does not.
 */
START_TEST(example_config_exec_runs_once_for_incoming_only)
{
	struct tu_daemon d;
	char *extra, *conf, *rec, *id, *in, *sample, url[256], *env;
	size_t envlen, len;

	ck_assert_int_ge(asprintf(&rec, "%s/rec", T), 0);
	ck_assert_int_eq(mkdir(rec, 0700), 0);
	ck_assert_int_ge(asprintf(&extra, "[sink script]\ntype = exec\n"
	    "command = %s/tests/scripts/record.sh\nenv = RECORD_DIR=%s\n",
	    getcwd(url, sizeof url), rec), 0);
	conf = example_conf(extra);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);

	id = post_fixture(url, "message_created_incoming.json", 200);
	free(post_fixture(url, "message_created.json", 200));
	free(post_fixture(url, "message_private.json", 200));
	free(post_fixture(url, "conversation_updated_full.json", 200));
	/* The conversation event runs it too: the loop guard is for
	 * messages. Once every event is finished, exactly those two ran. */
	ck_assert(tu_wait_idle(&d, 10000));
	ck_assert_int_eq(count_runs(), 2);

	env = recorded_env(id, &envlen);
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_EVENT"),
	    "message_created");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_DELIVERY_ID"), id);
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_ACCOUNT_ID"),
	    "17629000001207");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_INBOX_ID"), "523");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_CONVERSATION_ID"),
	    "89");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_CONVERSATION_STATUS"),
	    "open");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_MESSAGE_TYPE"),
	    "incoming");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_MESSAGE_PRIVATE"),
	    "false");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_SENDER_NAME"), "Test");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_SENDER_EMAIL"),
	    "alice@acme.inc");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_SENDER_TYPE"),
	    "contact");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_CONTACT_ID"),
	    "42218348");
	ck_assert_ptr_nonnull(env_get(env, envlen, "LIVEDESK_MESSAGE_ID"));
	ck_assert_ptr_nonnull(env_get(env, envlen, "LIVEDESK_MESSAGE_CONTENT"));
	free(env);
	/* stdin is the payload, byte for byte. */
	ck_assert_int_ge(asprintf(&in, "%s/%s.in", rec, id), 0);
	sample = tu_fixture("message_created_incoming.json", &len);
	{
		size_t inlen;
		char *got = tu_read_file(in, &inlen);

		ck_assert_uint_eq(inlen, len);
		ck_assert_int_eq(memcmp(got, sample, len), 0);
		free(got);
	}
	free(sample);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);
	free(in);
	free(id);
	free(rec);
	free(extra);
	free(conf);
}
END_TEST

/* Every fixture through the file sink: one line each, payload equal. */
START_TEST(file_sink_reads_back)
{
	static const char *const names[] = {
		"message_created.json", "conversation_created.json",
		"pretty.json", "emoji.json", "attachments.json", "nulls.json",
		"wrong_types.json", "unknown_event.json",
		"conversation_updated_full.json",
	};
	struct tu_daemon d;
	char *conf, *path, url[256], *text, *line, *save = NULL, *ids[16];
	size_t i, j, n = sizeof names / sizeof names[0];
	json_t *o, *want;

	ck_assert_int_ge(asprintf(&path, "%s/events.jsonl", T), 0);
	ck_assert_int_ge(asprintf(&conf, "[sink f]\ntype = file\npath = %s\n"
	    "fsync = yes\n", path), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	for (i = 0; i < n; i++)
		ids[i] = post_fixture(url, names[i], 200);
	ck_assert(tu_wait_file_lines(path, (int)n, 5000));
	text = tu_read_file(path, NULL);
	/* Lines come in order per conversation, not overall: match them to
	 * what was sent by delivery id. */
	for (i = 0, line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save), i++) {
		char *raw;

		o = json_loads(line, 0, NULL);
		ck_assert_msg(o != NULL, "line %zu is not JSON", i);
		for (j = 0; j < n; j++)
			if (strcmp(ids[j], json_string_value(json_object_get(o,
			    "delivery_id"))) == 0)
				break;
		ck_assert_msg(j < n, "line %zu: unknown delivery id", i);
		raw = tu_fixture(names[j], NULL);
		want = json_loads(raw, 0, NULL);
		ck_assert_msg(json_equal(json_object_get(o, "payload"), want),
		    "payload of %s differs", names[j]);
		ck_assert_str_eq(json_string_value(json_object_get(o,
		    "event")), json_string_value(json_object_get(want,
		    "event")));
		ck_assert_uint_eq(strlen(json_string_value(json_object_get(o,
		    "delivery_id"))), 36);
		ck_assert_ptr_nonnull(json_string_value(json_object_get(o,
		    "received_at")));
		json_decref(o);
		json_decref(want);
		free(raw);
	}
	ck_assert_uint_eq(i, n);
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(text);
	tu_daemon_free(&d);
	free(conf);
	free(path);
}
END_TEST

/* logrotate: rename the file, SIGHUP, the next line goes to a new one. */
START_TEST(file_sink_reopens_on_sighup)
{
	struct tu_daemon d;
	char *conf, *path, *rotated, url[256];

	ck_assert_int_ge(asprintf(&path, "%s/events.jsonl", T), 0);
	ck_assert_int_ge(asprintf(&rotated, "%s/events.jsonl.1", T), 0);
	ck_assert_int_ge(asprintf(&conf, "[sink f]\ntype = file\npath = %s\n",
	    path), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	free(post_fixture(url, "message_created.json", 200));
	ck_assert(tu_wait_file_lines(path, 1, 5000));
	ck_assert_int_eq(rename(path, rotated), 0);
	kill(d.pid, SIGHUP);
	ck_assert(tu_wait_log(&d, "configuration reloaded", 5000));
	free(post_fixture(url, "conversation_created.json", 200));
	ck_assert(tu_wait_file_lines(path, 1, 5000));
	ck_assert_int_eq(tu_count_lines(rotated), 1);
	tu_daemon_free(&d);
	free(conf);
	free(path);
	free(rotated);
}
END_TEST

/*
 * The example bot: the vendor's message_created made incoming reaches
 * auto-reply.sh through the exec sink, which answers through livedesk-send;
 * the mock API receives the reply for conversation 89 with the right
 * credentials.
 */
START_TEST(auto_reply_answers_through_livedesk_send)
{
	struct tu_daemon d;
	char *log, *extra, *conf, url[256], cwd[256], *text, auth[128];
	unsigned char b64[64];
	json_t *req, *body;
	pid_t mock;
	int port;

	ck_assert_int_ge(asprintf(&log, "%s/requests.jsonl", T), 0);
	tu_write_file(log, "", 0);
	mock = tu_mock_api_start(log, NULL, &port);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_ge(asprintf(&extra, "[sink auto-reply]\ntype = exec\n"
	    "command = %s/conf/examples/auto-reply.sh\n"
	    "env = LIVEDESK_SEND=%s/%s/livedesk-send\n"
	    "env = LIVEDESK_API_URL=http://127.0.0.1:%d\n"
	    "env = LIVEDESK_API_KEY=key-123\n"
	    "env = LIVEDESK_API_SECRET=secret-456\n"
	    "env = ALWAYS_REPLY=1\nenv = AUTO_REPLY_TEXT=ได้รับข้อความแล้ว\n",
	    cwd, cwd, tu_build_dir(), port), 0);
	conf = example_conf(extra);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	free(post_fixture(url, "message_created_incoming.json", 200));
	/* The agent's own message must not be answered: no loop. */
	free(post_fixture(url, "message_created.json", 200));
	ck_assert_msg(tu_wait_file_lines(log, 1, 10000), "no request reached "
	    "the mock API; daemon log:\n%s", tu_read_file(d.log, NULL));
	/* Both events finished: the one request is all there is. */
	ck_assert(tu_wait_idle(&d, 10000));
	ck_assert_int_eq(tu_count_lines(log), 1);
	text = tu_read_file(log, NULL);
	req = json_loads(text, JSON_DISABLE_EOF_CHECK, NULL);
	ck_assert_ptr_nonnull(req);
	ck_assert_str_eq(json_string_value(json_object_get(req, "method")),
	    "POST");
	ck_assert_str_eq(json_string_value(json_object_get(req, "url")),
	    "/api/v2/accounts/conversations/89/messages");
	EVP_EncodeBlock(b64, (const unsigned char *)"key-123:secret-456", 18);
	snprintf(auth, sizeof auth, "Basic %s", b64);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(req,
	    "headers"), "authorization")), auth);
	body = json_loads(json_string_value(json_object_get(req, "body")), 0,
	    NULL);
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(json_string_value(json_object_get(body, "content")),
	    "ได้รับข้อความแล้ว");
	ck_assert(json_is_integer(json_object_get(json_object_get(body,
	    "content_attributes"), "in_reply_to")));
	json_decref(body);
	json_decref(req);
	free(text);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);
	tu_mock_api_stop(mock);
	free(log);
	free(extra);
	free(conf);
}
END_TEST

/* Starts the daemon with an exec sink running record.sh into T/rec, with
 * extra lines (may be "") in its section. */
static void
start_recording(struct tu_daemon *d, const char *extra, char *url,
    size_t len)
{
	char *rec, *conf, cwd[256];

	ck_assert_int_ge(asprintf(&rec, "%s/rec", T), 0);
	ck_assert_int_eq(mkdir(rec, 0700), 0);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_ge(asprintf(&conf, "[sink script]\ntype = exec\n"
	    "command = %s/tests/scripts/record.sh\nenv = RECORD_DIR=%s\n%s",
	    cwd, rec, extra), 0);
	ck_assert(tu_daemon_start(d, conf, NULL));
	snprintf(url, len, "%s/webhook", d->url);
	free(rec);
	free(conf);
}

/* Waits for n recorded runs of d's sink. */
static void
wait_runs(const struct tu_daemon *d, int n)
{
	long long end = tu_now_ms() + 10000;

	while (count_runs() < n && tu_now_ms() < end)
		usleep(20000);
	ck_assert_msg(count_runs() == n, "%d runs, not %d; daemon log:\n%s",
	    count_runs(), n, tu_read_file(d->log, NULL));
}

/*
 * Valid JSON that jansson refuses by default (\u0000 in a string or a
 * key, an integer beyond 64 bits, a real beyond a double) is answered 200
 * and reaches the sink byte for byte: the sender never retries. Invalid
 * JSON is still a 400 that says where.
 */
START_TEST(valid_json_values_accepted)
{
	static const char *const names[] = {
		"nul_in_string.json", "big_integer.json", "huge_number.json",
	};
	static const char bad[] = "{\"event\":\"x\",\n\"a\":1e400 x}";
	struct tu_daemon d;
	struct tu_response r;
	char url[256], *ids[3], *in, *got, *sample, *env;
	size_t i, len, inlen, envlen;

	start_recording(&d, "", url, sizeof url);
	for (i = 0; i < 3; i++)
		ids[i] = post_fixture(url, names[i], 200);
	tu_http(&r, "POST", url, json_ct, bad, strlen(bad));
	ck_assert_int_eq(r.status, 400);
	ck_assert_msg(strstr(r.body, "line 2, column 11") != NULL, "%s",
	    r.body);
	tu_response_free(&r);
	wait_runs(&d, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_int_ge(asprintf(&in, "%s/rec/%s.in", T, ids[i]), 0);
		got = tu_read_file(in, &inlen);
		sample = tu_fixture(names[i], &len);
		ck_assert_uint_eq(inlen, len);
		ck_assert_msg(memcmp(got, sample, len) == 0, "%s changed",
		    names[i]);
		free(sample);
		free(got);
		free(in);
	}
	/* The content holding \u0000 is not in the environment, cut short:
	 * it is absent; the rest of the message is there. */
	env = recorded_env(ids[0], &envlen);
	ck_assert_ptr_null(env_get(env, envlen, "LIVEDESK_MESSAGE_CONTENT"));
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_MESSAGE_ID"),
	    "2187690");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_CONVERSATION_ID"),
	    "89");
	free(env);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);
	for (i = 0; i < 3; i++)
		free(ids[i]);
}
END_TEST

/*
 * Every other event the upstream sender emits is answered 200 and reaches
 * a script with the fields it carries: the widget's conversation (in
 * current_conversation), the typist, a failed send's status and error.
 */
START_TEST(other_events_reach_scripts)
{
	static const char *const names[] = {
		"webwidget_triggered.json", "conversation_typing_on.json",
		"conversation_typing_off.json", "message_updated_failed.json",
		"contact_created.json", "contact_updated.json",
		"inbox_created.json", "inbox_updated.json",
	};
	enum { N = sizeof names / sizeof names[0] };
	struct tu_daemon d;
	char url[256], *ids[N], *env;
	size_t i, envlen;

	/* The loop guard would keep the outgoing message from it. */
	start_recording(&d, "message_type = any\n", url, sizeof url);
	for (i = 0; i < N; i++)
		ids[i] = post_fixture(url, names[i], 200);
	wait_runs(&d, (int)N);

	env = recorded_env(ids[0], &envlen);
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_CONVERSATION_ID"),
	    "89");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_CONTACT_ID"),
	    "42218348");
	free(env);
	env = recorded_env(ids[1], &envlen);
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_CONVERSATION_ID"),
	    "89");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_SENDER_TYPE"), "user");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_MESSAGE_PRIVATE"),
	    "true");
	free(env);
	env = recorded_env(ids[3], &envlen);
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_MESSAGE_STATUS"),
	    "failed");
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_MESSAGE_ERROR"),
	    "131047: Re-engagement message is not allowed");
	free(env);
	env = recorded_env(ids[4], &envlen);
	ck_assert_ptr_null(env_get(env, envlen, "LIVEDESK_CONVERSATION_ID"));
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_SENDER_NAME"), "Test");
	free(env);
	env = recorded_env(ids[7], &envlen);
	ck_assert_str_eq(env_get(env, envlen, "LIVEDESK_INBOX_ID"), "523");
	free(env);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);
	for (i = 0; i < N; i++)
		free(ids[i]);
}
END_TEST

/* How many lines of text hold both a and b. */
static int
lines_with(const char *text, const char *a, const char *b)
{
	const char *p = text, *nl;
	int n = 0;

	for (; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		char *line;

		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		line = strndup(p, (size_t)(nl - p));
		ck_assert_ptr_nonnull(line);
		n += strstr(line, a) != NULL && strstr(line, b) != NULL;
		free(line);
	}
	return n;
}

/*
 * A conversation id that is negative or not an integer keeps no
 * per-conversation order: the log says so once per event (not once per
 * sink), naming its delivery id; a valid id, none or null says nothing.
 */
START_TEST(unordered_conversation_id_warned)
{
	static const char *const ids[] = {
		"-5", "\"89\"", "89.5", "1e400", "[89]",	/* warned */
		"89", "null",				/* not */
	};
	enum { N = sizeof ids / sizeof ids[0], WARNED = 5 };
	struct tu_daemon d;
	struct tu_response r;
	char *conf, *a, *b, url[256], body[200], *did[N + 1], *log;
	json_t *o;
	size_t i;

	ck_assert_int_ge(asprintf(&a, "%s/a.jsonl", T), 0);
	ck_assert_int_ge(asprintf(&b, "%s/b.jsonl", T), 0);
	ck_assert_int_ge(asprintf(&conf, "[sink a]\ntype = file\npath = %s\n"
	    "[sink b]\ntype = file\npath = %s\n", a, b), 0);
	ck_assert(tu_daemon_start(&d, conf, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	for (i = 0; i <= N; i++) {
		/* The last: a message naming its conversation only at the
		 * top level, negatively. */
		if (i < N)
			snprintf(body, sizeof body, "{\"event\":"
			    "\"message_created\",\"id\":%zu,\"conversation\":"
			    "{\"id\":%s}}", i, ids[i]);
		else
			snprintf(body, sizeof body, "{\"event\":"
			    "\"message_created\",\"conversation_id\":-1}");
		tu_http(&r, "POST", url, json_ct, body, strlen(body));
		ck_assert_msg(r.status == 200, "%s: %ld", body, r.status);
		o = json_loads(r.body, 0, NULL);
		did[i] = strdup(json_string_value(json_object_get(o,
		    "delivery_id")));
		json_decref(o);
		tu_response_free(&r);
	}
	ck_assert(tu_wait_file_lines(a, N + 1, 5000));
	ck_assert(tu_wait_file_lines(b, N + 1, 5000));
	log = tu_read_file(d.log, NULL);
	for (i = 0; i <= N; i++)
		ck_assert_msg(lines_with(log, did[i], "order") ==
		    (i < WARNED || i == N ? 1 : 0), "conversation id %s: %d "
		    "lines; log:\n%s", i < N ? ids[i] : "-1 (top level)",
		    lines_with(log, did[i], "order"), log);
	ck_assert_int_eq(lines_with(log, "warning: message_created: the "
	    "conversation id is negative or not an integer", "delivery="),
	    WARNED + 1);
	free(log);
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	tu_daemon_free(&d);
	for (i = 0; i <= N; i++)
		free(did[i]);
	free(conf);
	free(a);
	free(b);
}
END_TEST

static Suite *
e2e_suite(void)
{
	Suite *s = suite_create("e2e");
	TCase *tc = tcase_create("e2e");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, example_config_exec_runs_once_for_incoming_only);
	tcase_add_test(tc, file_sink_reads_back);
	tcase_add_test(tc, file_sink_reopens_on_sighup);
	tcase_add_test(tc, auto_reply_answers_through_livedesk_send);
	tcase_add_test(tc, valid_json_values_accepted);
	tcase_add_test(tc, other_events_reach_scripts);
	tcase_add_test(tc, unordered_conversation_id_warned);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(e2e_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
