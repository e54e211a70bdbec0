/*
 * livedesk-send driven from outside: the real binary against a mock LiveDesk
 * API (tool_mock_api) on a loopback port that records every request.
 *
 * LD_SEND_VALGRIND=1 runs each livedesk-send under valgrind, whose errors
 * and leaks turn into exit status 99 and so into failed tests.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "testutil.h"

extern char **environ;

#define KEY	"test-key"
#define SECRET	"test-secret"
#define THAI	"เจ้าหน้าที่กำลังส่งข้อความ เป็นปกติหรือไม่"
#define FAILED_REASON "131047: Re-engagement message is not allowed"

#define ARGS(...)	((const char *const[]){ __VA_ARGS__, NULL })
#define ENV(...)	((const char *const[]){ __VA_ARGS__, NULL })

struct mock {
	pid_t	 pid;
	int	 port;
	char	 log[512];
	char	 url[64];
};

struct run {
	int		 status;	/* exit status, or 128 + signal */
	char		*out;
	char		*err;
	long long	 ms;
};

static struct mock M;		/* this test's mock API */
static char *T;			/* this test's private directory */
static json_t *reqs;		/* requests read back, freed in teardown */

static bool
under_valgrind(void)
{
	const char *v = getenv("LD_SEND_VALGRIND");

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/* Time bounds stretch under valgrind. */
static long long
slack(long long ms)
{
	return under_valgrind() ? ms * 8 : ms;
}

static void
setup(void)
{
	T = tu_tmpdir();
	memset(&M, 0, sizeof M);
	reqs = json_array();
	ck_assert_ptr_nonnull(reqs);
}

static void
mock_stop(void)
{
	tu_mock_api_stop(M.pid);
	M.pid = 0;
}

static void
teardown(void)
{
	mock_stop();
	json_decref(reqs);
	reqs = NULL;
	if (getenv("LD_KEEP_TMP") == NULL)
		tu_rmtree(T);
	free(T);
	T = NULL;
}

/* Starts the mock with extra arguments and reads the port it prints. */
static void
mock_start(const char *const *args)
{
	snprintf(M.log, sizeof M.log, "%s/requests.jsonl", T);
	tu_write_file(M.log, "", 0);
	M.pid = tu_mock_api_start(M.log, args, &M.port);
	snprintf(M.url, sizeof M.url, "http://127.0.0.1:%d", M.port);
}

static int
mock_count(void)
{
	return tu_count_lines(M.log);
}

/* Request i (from 0) as the mock recorded it; owned by the test. */
static json_t *
mock_req(int i)
{
	char *text = tu_read_file(M.log, NULL), *line = text, *nl;
	json_error_t e;
	json_t *j;

	for (; i > 0 && line != NULL; i--)
		line = (nl = strchr(line, '\n')) != NULL ? nl + 1 : NULL;
	ck_assert_msg(line != NULL && *line != '\0', "no such request");
	j = json_loads(line, JSON_DISABLE_EOF_CHECK, &e);
	ck_assert_msg(j != NULL, "request log: %s", e.text);
	free(text);
	json_array_append_new(reqs, j);
	return j;
}

static const char *
req_str(json_t *req, const char *key)
{
	const char *s = json_string_value(json_object_get(req, key));

	ck_assert_msg(s != NULL, "request has no %s", key);
	return s;
}

static const char *
req_header(json_t *req, const char *name)
{
	return json_string_value(json_object_get(json_object_get(req,
	    "headers"), name));
}

/* Builds the environment: defaults, then extra ("N=V" sets, "N" unsets). */
static char **
make_env(const char *const *extra)
{
	static const char *const pass[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS",
	    "LSAN_OPTIONS" };
	char **env = calloc(64, sizeof *env);
	size_t n = 0, i, j, nl;
	const char *v;

	ck_assert_ptr_nonnull(env);
	env[n++] = strdup("PATH=/usr/local/bin:/usr/bin:/bin");
	ck_assert_int_ge(asprintf(&env[n++], "LIVEDESK_API_URL=%s",
	    M.port > 0 ? M.url : "http://127.0.0.1:9"), 0);
	env[n++] = strdup("LIVEDESK_API_KEY=" KEY);
	env[n++] = strdup("LIVEDESK_API_SECRET=" SECRET);
	env[n++] = strdup("LIVEDESK_SEND_RETRY_DELAY_MS=10");
	env[n++] = strdup("LIVEDESK_SEND_TIMEOUT=10");
	/* A sanitizer's finding must not pass for one of our exit codes. */
	for (i = 0; i < sizeof pass / sizeof pass[0]; i++) {
		v = getenv(pass[i]);
		ck_assert_int_ge(asprintf(&env[n++], "%s=%s%sexitcode=98",
		    pass[i], v != NULL ? v : "",
		    v != NULL && *v != '\0' ? ":" : ""), 0);
	}
	for (; extra != NULL && *extra != NULL; extra++) {
		nl = strcspn(*extra, "=");
		for (i = 0; i < n; i++) {
			if (strncmp(env[i], *extra, nl) == 0 &&
			    env[i][nl] == '=') {
				free(env[i]);
				for (j = i; j + 1 < n; j++)
					env[j] = env[j + 1];
				env[--n] = NULL;
				break;
			}
		}
		if ((*extra)[nl] == '=')
			env[n++] = strdup(*extra);
		ck_assert_uint_lt(n, 60);
	}
	for (i = 0; i < n; i++)
		ck_assert_ptr_nonnull(env[i]);
	return env;
}

/* Runs argv (a program and its arguments) and waits for it, bounded. */
static void
run_prog(struct run *r, const char *const *argv, const char *const *extra_env,
    const char *in)
{
	char out_path[512], err_path[512], in_path[512];
	posix_spawn_file_actions_t fa;
	char **env = make_env(extra_env);
	long long start, limit = slack(20000);
	pid_t pid;
	int st, i;

	memset(r, 0, sizeof *r);
	snprintf(out_path, sizeof out_path, "%s/stdout", T);
	snprintf(err_path, sizeof err_path, "%s/stderr", T);
	snprintf(in_path, sizeof in_path, "%s/stdin", T);
	tu_write_file(in_path, in != NULL ? in : "", in != NULL ? strlen(in) :
	    0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, in_path, O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out_path,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err_path,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	start = tu_now_ms();
	ck_assert_int_eq(posix_spawn(&pid, argv[0], &fa, NULL,
	    (char *const *)argv, env), 0);
	posix_spawn_file_actions_destroy(&fa);
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			break;
		ck_assert_int_ne(w, -1);
		if (tu_now_ms() - start > limit) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			ck_abort_msg("%s ran longer than %lld ms", argv[0],
			    limit);
		}
		usleep(2000);
	}
	r->ms = tu_now_ms() - start;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = tu_read_file(out_path, NULL);
	r->err = tu_read_file(err_path, NULL);
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* Runs build/livedesk-send with args (under valgrind if asked). */
static void
run_send(struct run *r, const char *const *args, const char *const *env,
    const char *in)
{
	static const char *const vg[] = { "/usr/bin/valgrind", "-q",
	    "--leak-check=full", "--show-leak-kinds=definite,indirect",
	    "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
	    NULL };
	const char *argv[64];
	char bin[512];
	int argc = 0, i;

	snprintf(bin, sizeof bin, "%s/livedesk-send", tu_build_dir());
	if (under_valgrind())
		for (i = 0; vg[i] != NULL; i++)
			argv[argc++] = vg[i];
	argv[argc++] = bin;
	for (; args != NULL && *args != NULL && argc < 63; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	run_prog(r, argv, env, in);
}

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof *r);
}

#define ck_exit(r, code) do {						\
	ck_assert_msg((r)->status == (code),				\
	    "exit %d, expected %d; stdout: %s; stderr: %s",		\
	    (r)->status, (code), (r)->out, (r)->err);			\
	ck_assert_msg(strstr((r)->err, "Sanitizer") == NULL &&		\
	    strstr((r)->err, "runtime error") == NULL, "%s", (r)->err);	\
} while (0)

/* "Basic base64(key:secret)", computed independently of the client. */
static const char *
basic(const char *key, const char *secret)
{
	static char out[256];
	char in[128];
	int n;

	n = snprintf(in, sizeof in, "%s:%s", key, secret);
	memcpy(out, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, (unsigned char *)in, n);
	return out;
}

/* The request's body is JSON equal (types and all) to expected. */
static void
ck_body_json(json_t *req, const char *expected)
{
	json_error_t e;
	json_t *got, *want;
	char *gs, *ws;

	want = json_loads(expected, 0, &e);
	ck_assert_msg(want != NULL, "expected JSON: %s", e.text);
	got = json_loads(req_str(req, "body"), 0, &e);
	ck_assert_msg(got != NULL, "body is not JSON: %s", e.text);
	gs = json_dumps(got, JSON_SORT_KEYS);
	ws = json_dumps(want, JSON_SORT_KEYS);
	ck_assert_msg(json_equal(got, want), "body %s, expected %s", gs, ws);
	free(gs);
	free(ws);
	json_decref(got);
	json_decref(want);
}

/* One message request went out: POST to path with our Basic auth. */
static json_t *
ck_one_post(const char *path)
{
	json_t *req;

	ck_assert_int_eq(mock_count(), 1);
	req = mock_req(0);
	ck_assert_str_eq(req_str(req, "method"), "POST");
	ck_assert_str_eq(req_str(req, "url"), path);
	ck_assert_pstr_eq(req_header(req, "authorization"), basic(KEY, SECRET));
	return req;
}

#define MSGS	"/api/v2/accounts/conversations/141/messages"

/* Sends args against a default mock; expects exit code and one request. */
static json_t *
send_ok(const char *const *args, const char *in)
{
	struct run r;
	json_t *req;

	mock_start(NULL);
	run_send(&r, args, NULL, in);
	ck_exit(&r, 0);
	req = ck_one_post(MSGS);
	ck_assert_str_eq(req_header(req, "content-type"), "application/json");
	run_free(&r);
	return req;
}

/* ---- text messages ---- */

START_TEST(test_text_basic)
{
	struct run r;
	json_t *req, *reply;

	mock_start(NULL);
	run_send(&r, ARGS("-c", "141", "Thanks, we are on it"), NULL, NULL);
	ck_exit(&r, 0);
	req = ck_one_post(MSGS);
	ck_assert_str_eq(req_header(req, "content-type"), "application/json");
	ck_body_json(req, "{\"content\": \"Thanks, we are on it\", "
	    "\"private\": false}");
	/* The API's reply, as it came, on stdout. */
	reply = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(reply);
	ck_assert_int_eq(json_integer_value(json_object_get(reply, "id")),
	    3030);
	json_decref(reply);
	ck_assert_str_eq(r.err, "");
	run_free(&r);
}
END_TEST

START_TEST(test_text_conversation_from_env)
{
	struct run r;

	mock_start(NULL);
	run_send(&r, ARGS("hello"), ENV("LIVEDESK_CONVERSATION_ID=77"), NULL);
	ck_exit(&r, 0);
	ck_one_post("/api/v2/accounts/conversations/77/messages");
	run_free(&r);
	/* -c wins over the environment. */
	run_send(&r, ARGS("-c", "141", "hello"),
	    ENV("LIVEDESK_CONVERSATION_ID=77"), NULL);
	ck_exit(&r, 0);
	ck_assert_str_eq(req_str(mock_req(1), "url"), MSGS);
	run_free(&r);
}
END_TEST

START_TEST(test_text_private_in_reply_to)
{
	json_t *req = send_ok(ARGS("--conversation", "141", "--private",
	    "--in-reply-to", "29", THAI), NULL);

	ck_body_json(req, "{\"content\": \"" THAI "\", \"private\": true, "
	    "\"content_attributes\": {\"in_reply_to\": 29}}");
}
END_TEST

START_TEST(test_text_stdin_thai)
{
	json_t *req = send_ok(ARGS("-c", "141", "-"), THAI "\n");
	const char *body = req_str(req, "body");

	ck_body_json(req, "{\"content\": \"" THAI "\", \"private\": false}");
	/* The UTF-8 bytes travel as they are, not as \u escapes. */
	ck_assert_ptr_nonnull(strstr(body, THAI));
	ck_assert_ptr_null(strstr(body, "\\u"));
}
END_TEST

START_TEST(test_text_stdin_multiline)
{
	json_t *req = send_ok(ARGS("-c", "141", "-"),
	    "line one\nบรรทัดสอง \"quoted\"\n\n");

	ck_body_json(req, "{\"content\": \"line one\\nบรรทัดสอง "
	    "\\\"quoted\\\"\", \"private\": false}");
}
END_TEST

START_TEST(test_text_dash_dash)
{
	json_t *req = send_ok(ARGS("-c", "141", "--", "-5 degrees outside"),
	    NULL);

	ck_body_json(req, "{\"content\": \"-5 degrees outside\", "
	    "\"private\": false}");
}
END_TEST

START_TEST(test_quiet)
{
	struct run r;

	mock_start(NULL);
	run_send(&r, ARGS("-q", "-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 0);
	ck_assert_str_eq(r.out, "3030\n");
	run_free(&r);
	run_send(&r, ARGS("--quiet", "-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 0);
	ck_assert_str_eq(r.out, "3030\n");
	run_free(&r);
}
END_TEST

START_TEST(test_api_url_with_prefix)
{
	struct run r;
	char url[128];

	mock_start(NULL);
	snprintf(url, sizeof url, "%s/proxy/livedesk/", M.url);
	run_send(&r, ARGS("--api-url", url, "-c", "141", "hi"),
	    ENV("LIVEDESK_API_URL=http://127.0.0.1:9"), NULL);
	ck_exit(&r, 0);
	ck_one_post("/proxy/livedesk" MSGS);
	run_free(&r);
}
END_TEST

/* ---- WhatsApp templates ---- */

START_TEST(test_template_vendor_example)
{
	/* The vendor document's example, every field of it. */
	json_t *req = send_ok(ARGS("-c", "141",
	    "--template", "order_update", "--namespace", "optional_namespace",
	    "--language", "en_US", "--category", "MARKETING",
	    "--param", "1=John", "--param", "2=shipped",
	    "--header-text", "1=Order #456", "--footer", "1=Acme Corp",
	    "--button-url", "0=track/12345",
	    "ข้อความที่แสดงในหน้าต่างแชต"), NULL);

	ck_body_json(req, "{"
	    "\"content\": \"ข้อความที่แสดงในหน้าต่างแชต\","
	    "\"message_type\": \"outgoing\","
	    "\"template_params\": {"
	    "  \"name\": \"order_update\","
	    "  \"namespace\": \"optional_namespace\","
	    "  \"language\": \"en_US\","
	    "  \"category\": \"MARKETING\","
	    "  \"processed_params\": {\"1\": \"John\", \"2\": \"shipped\"},"
	    "  \"header_params\": {\"type\": \"text\","
	    "    \"text_variables\": {\"1\": \"Order #456\"}},"
	    "  \"footer_params\": {\"text_variables\": {\"1\": \"Acme Corp\"}},"
	    "  \"button_params\": [{\"index\": 0, \"sub_type\": \"url\","
	    "    \"text\": \"track/12345\"}]"
	    "}}");
}
END_TEST

START_TEST(test_template_minimal)
{
	json_t *req = send_ok(ARGS("-c", "141", "--template", "hello_world",
	    "--language", "th", "--in-reply-to", "5", "สวัสดี"), NULL);

	ck_body_json(req, "{\"content\": \"สวัสดี\", \"message_type\": "
	    "\"outgoing\", \"template_params\": {\"name\": \"hello_world\", "
	    "\"language\": \"th\"}, \"content_attributes\": "
	    "{\"in_reply_to\": 5}}");
}
END_TEST

START_TEST(test_template_text_header_variables)
{
	json_t *req = send_ok(ARGS("-c", "141", "--template", "t",
	    "--language", "en_US", "--header-text", "1=Order #456",
	    "--header-text", "name=คุณสมชาย", "--param", "customer=A=B",
	    "x"), NULL);

	ck_body_json(req, "{\"content\": \"x\", \"message_type\": \"outgoing\","
	    "\"template_params\": {\"name\": \"t\", \"language\": \"en_US\","
	    "\"processed_params\": {\"customer\": \"A=B\"},"
	    "\"header_params\": {\"type\": \"text\", \"text_variables\": "
	    "{\"1\": \"Order #456\", \"name\": \"คุณสมชาย\"}}}}");
}
END_TEST

START_TEST(test_template_header_image)
{
	json_t *req = send_ok(ARGS("-c", "141", "--template", "t",
	    "--language", "en_US", "--header-image",
	    "https://example.com/image.jpg", "x"), NULL);

	ck_body_json(req, "{\"content\": \"x\", \"message_type\": \"outgoing\","
	    "\"template_params\": {\"name\": \"t\", \"language\": \"en_US\","
	    "\"header_params\": {\"type\": \"image\", "
	    "\"media_url\": \"https://example.com/image.jpg\"}}}");
}
END_TEST

START_TEST(test_template_header_video)
{
	json_t *req = send_ok(ARGS("-c", "141", "--template", "t",
	    "--language", "en_US", "--header-video",
	    "https://example.com/video.mp4", "x"), NULL);

	ck_body_json(req, "{\"content\": \"x\", \"message_type\": \"outgoing\","
	    "\"template_params\": {\"name\": \"t\", \"language\": \"en_US\","
	    "\"header_params\": {\"type\": \"video\", "
	    "\"media_url\": \"https://example.com/video.mp4\"}}}");
}
END_TEST

START_TEST(test_template_header_document)
{
	json_t *req = send_ok(ARGS("-c", "141", "--template", "t",
	    "--language", "en_US", "--filename", "invoice.pdf",
	    "--header-document", "https://example.com/invoice.pdf", "x"),
	    NULL);

	ck_body_json(req, "{\"content\": \"x\", \"message_type\": \"outgoing\","
	    "\"template_params\": {\"name\": \"t\", \"language\": \"en_US\","
	    "\"header_params\": {\"type\": \"document\", "
	    "\"media_url\": \"https://example.com/invoice.pdf\", "
	    "\"filename\": \"invoice.pdf\"}}}");
}
END_TEST

START_TEST(test_template_header_document_no_filename)
{
	json_t *req = send_ok(ARGS("-c", "141", "--template", "t",
	    "--language", "en_US", "--header-document",
	    "https://example.com/invoice.pdf", "x"), NULL);

	ck_body_json(req, "{\"content\": \"x\", \"message_type\": \"outgoing\","
	    "\"template_params\": {\"name\": \"t\", \"language\": \"en_US\","
	    "\"header_params\": {\"type\": \"document\", "
	    "\"media_url\": \"https://example.com/invoice.pdf\"}}}");
}
END_TEST

START_TEST(test_template_header_location_full)
{
	json_t *req = send_ok(ARGS("-c", "141", "--template", "t",
	    "--language", "en_US", "--header-location",
	    "37.7749,-122.4194,Acme HQ,123 Main St, San Francisco", "x"),
	    NULL);

	/* Numbers, not strings: the vendor's latitude is a Float. */
	ck_body_json(req, "{\"content\": \"x\", \"message_type\": \"outgoing\","
	    "\"template_params\": {\"name\": \"t\", \"language\": \"en_US\","
	    "\"header_params\": {\"type\": \"location\", \"location\": {"
	    "\"latitude\": 37.7749, \"longitude\": -122.4194, "
	    "\"name\": \"Acme HQ\", "
	    "\"address\": \"123 Main St, San Francisco\"}}}}");
	ck_assert_ptr_nonnull(strstr(req_str(req, "body"),
	    "\"latitude\":37.7749,\"longitude\":-122.4194"));
}
END_TEST

START_TEST(test_template_header_location_bare)
{
	json_t *req = send_ok(ARGS("-c", "141", "--template", "t",
	    "--language", "en_US", "--header-location", "13.7563,100.5018",
	    "x"), NULL);

	ck_body_json(req, "{\"content\": \"x\", \"message_type\": \"outgoing\","
	    "\"template_params\": {\"name\": \"t\", \"language\": \"en_US\","
	    "\"header_params\": {\"type\": \"location\", \"location\": {"
	    "\"latitude\": 13.7563, \"longitude\": 100.5018}}}}");
}
END_TEST

START_TEST(test_template_header_location_name_only)
{
	json_t *req = send_ok(ARGS("-c", "141", "--template", "t",
	    "--language", "en_US", "--header-location",
	    "-33,151,ร้านสาขาซิดนีย์", "x"), NULL);

	ck_body_json(req, "{\"content\": \"x\", \"message_type\": \"outgoing\","
	    "\"template_params\": {\"name\": \"t\", \"language\": \"en_US\","
	    "\"header_params\": {\"type\": \"location\", \"location\": {"
	    "\"latitude\": -33.0, \"longitude\": 151.0, "
	    "\"name\": \"ร้านสาขาซิดนีย์\"}}}}");
}
END_TEST

START_TEST(test_template_footer_and_buttons)
{
	/* The vendor's button_params example, url and quick_reply. */
	json_t *req = send_ok(ARGS("-c", "141", "--template", "t",
	    "--language", "en_US", "--footer", "1=Acme Corp",
	    "--button-url", "0=track/12345", "--button-reply", "1=OPT_OUT",
	    "x"), NULL);

	ck_body_json(req, "{\"content\": \"x\", \"message_type\": \"outgoing\","
	    "\"template_params\": {\"name\": \"t\", \"language\": \"en_US\","
	    "\"footer_params\": {\"text_variables\": {\"1\": \"Acme Corp\"}},"
	    "\"button_params\": ["
	    "{\"index\": 0, \"sub_type\": \"url\", \"text\": \"track/12345\"},"
	    "{\"index\": 1, \"sub_type\": \"quick_reply\", "
	    "\"payload\": \"OPT_OUT\"}]}}");
}
END_TEST

/* Template option mistakes: exit 2, a message, and nothing sent. */
static const char *const *const template_usage_cases[] = {
	ARGS("-c", "141", "--template", "t", "x"),
	ARGS("-c", "141", "--language", "en_US", "x"),
	ARGS("-c", "141", "--param", "1=a", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en", "--param",
	    "novalue", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en", "--param",
	    "=v", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en", "--param",
	    "1=a", "--param", "1=b", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en",
	    "--header-image", "https://e/i.jpg", "--header-video",
	    "https://e/v.mp4", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en",
	    "--header-text", "1=a", "--header-image", "https://e/i.jpg", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en",
	    "--header-image", "https://e/i.jpg", "--filename", "i.jpg", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en",
	    "--header-location", "91,0", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en",
	    "--header-location", "10", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en",
	    "--header-location", "north,south", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en",
	    "--header-location", "1,nan", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en",
	    "--button-url", "x=track", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en",
	    "--button-reply", "1", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en",
	    "--button-url", "0=a", "--button-reply", "0=b", "x"),
	ARGS("-c", "141", "--template", "t", "--template", "u", "--language",
	    "en", "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en", "--private",
	    "x"),
	ARGS("-c", "141", "--template", "t", "--language", "en", "--attach",
	    "/etc/hostname", "x"),
};

START_TEST(test_template_usage_errors)
{
	const char *const *args = template_usage_cases[_i];
	struct run r;

	mock_start(NULL);
	run_send(&r, args, NULL, NULL);
	ck_exit(&r, 2);
	ck_assert_msg(strncmp(r.err, "livedesk-send: ", 15) == 0,
	    "stderr: %s", r.err);
	ck_assert_int_eq(mock_count(), 0);
	run_free(&r);
}
END_TEST

/* ---- attachments ---- */

static int
count_str(const char *hay, const char *needle)
{
	int n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay += strlen(needle))
		n++;
	return n;
}

START_TEST(test_attach_two_files)
{
	char one[512], two[512];
	const char *body, *ct;
	struct run r;
	json_t *req;

	snprintf(one, sizeof one, "%s/one.txt", T);
	snprintf(two, sizeof two, "%s/สอง.csv", T);
	tu_write_file(one, "first file: ไฟล์แรก\n", strlen("first file: "
	    "ไฟล์แรก\n"));
	tu_write_file(two, "a,b\n1,2\n", 8);
	mock_start(NULL);
	run_send(&r, ARGS("-c", "141", "--attach", one, "--attach", two,
	    "รายละเอียดของรูปภาพมีดังนี้"), NULL, NULL);
	ck_exit(&r, 0);
	req = ck_one_post(MSGS);
	ct = req_header(req, "content-type");
	ck_assert_ptr_nonnull(ct);
	ck_assert_msg(strncmp(ct, "multipart/form-data; boundary=", 30) == 0,
	    "content-type %s", ct);
	body = req_str(req, "body");
	ck_assert_ptr_nonnull(strstr(body, "name=\"content\"\r\n\r\n"
	    "รายละเอียดของรูปภาพมีดังนี้\r\n"));
	ck_assert_int_eq(count_str(body, "name=\"attachments[]\""), 2);
	ck_assert_ptr_nonnull(strstr(body, "name=\"attachments[]\"; "
	    "filename=\"one.txt\""));
	ck_assert_ptr_nonnull(strstr(body, "filename=\"สอง.csv\""));
	ck_assert_ptr_nonnull(strstr(body, "\r\n\r\nfirst file: ไฟล์แรก\n"
	    "\r\n"));
	ck_assert_ptr_nonnull(strstr(body, "\r\n\r\na,b\n1,2\n\r\n"));
	/* content comes first, then the files in the order given. */
	ck_assert(strstr(body, "name=\"content\"") < strstr(body, "one.txt"));
	ck_assert(strstr(body, "one.txt") < strstr(body, "a,b"));
	ck_assert_ptr_null(strstr(body, "name=\"private\""));
	ck_assert_ptr_null(strstr(body, "name=\"content_attributes\""));
	run_free(&r);
}
END_TEST

START_TEST(test_attach_private_in_reply_to)
{
	const char *body;
	char file[512];
	struct run r;
	json_t *req;

	snprintf(file, sizeof file, "%s/note.txt", T);
	tu_write_file(file, "note", 4);
	mock_start(NULL);
	run_send(&r, ARGS("-c", "141", "--private", "--in-reply-to", "7",
	    "--attach", file, "see file"), NULL, NULL);
	ck_exit(&r, 0);
	req = ck_one_post(MSGS);
	body = req_str(req, "body");
	ck_assert_ptr_nonnull(strstr(body, "name=\"private\"\r\n\r\ntrue\r\n"));
	ck_assert_ptr_nonnull(strstr(body, "name=\"content_attributes\"\r\n"
	    "\r\n{\"in_reply_to\":7}\r\n"));
	run_free(&r);
}
END_TEST

START_TEST(test_attach_missing_file)
{
	struct run r;

	mock_start(NULL);
	run_send(&r, ARGS("-c", "141", "--attach", "/nonexistent/x.png",
	    "hi"), NULL, NULL);
	ck_exit(&r, 2);
	ck_assert_ptr_nonnull(strstr(r.err,
	    "livedesk-send: read /nonexistent/x.png: No such file"));
	ck_assert_int_eq(mock_count(), 0);
	run_free(&r);
	/* A directory is not a file to attach either. */
	run_send(&r, ARGS("-c", "141", "--attach", T, "hi"), NULL, NULL);
	ck_exit(&r, 2);
	ck_assert_int_eq(mock_count(), 0);
	run_free(&r);
}
END_TEST

/* ---- retrying a failed message ---- */

START_TEST(test_retry_message)
{
	struct run r;
	json_t *req;

	mock_start(NULL);
	run_send(&r, ARGS("--retry", "3030", "-c", "141"), NULL, NULL);
	ck_exit(&r, 0);
	req = ck_one_post(MSGS "/3030/retry");
	ck_body_json(req, "{}");
	ck_assert_ptr_nonnull(strstr(r.out, "\"id\":3030"));
	run_free(&r);
}
END_TEST

START_TEST(test_retry_message_usage)
{
	struct run r;

	mock_start(NULL);
	run_send(&r, ARGS("--retry", "3030", "-c", "141", "text"), NULL, NULL);
	ck_exit(&r, 2);
	run_free(&r);
	run_send(&r, ARGS("--retry", "30x", "-c", "141"), NULL, NULL);
	ck_exit(&r, 2);
	run_free(&r);
	run_send(&r, ARGS("--retry", "3030", "--private"), 
	    ENV("LIVEDESK_CONVERSATION_ID=141"), NULL);
	ck_exit(&r, 2);
	run_free(&r);
	ck_assert_int_eq(mock_count(), 0);
}
END_TEST

/* ---- exit statuses ---- */

START_TEST(test_exit_1_failed)
{
	struct run r;

	mock_start(ARGS("--failed"));
	run_send(&r, ARGS("-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 1);
	ck_assert_int_eq(mock_count(), 1);
	ck_assert_ptr_nonnull(strstr(r.err, FAILED_REASON));
	ck_assert_ptr_nonnull(strstr(r.out, "\"status\":\"failed\""));
	run_free(&r);
	/* --quiet still gives the id, for a later --retry. */
	run_send(&r, ARGS("-q", "-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 1);
	ck_assert_str_eq(r.out, "123\n");
	ck_assert_ptr_nonnull(strstr(r.err, FAILED_REASON));
	run_free(&r);
}
END_TEST

/* Usage mistakes: exit 2, a message, and nothing sent. */
static const char *const *const usage_cases[] = {
	ARGS("-c", "141"),
	ARGS("-c", "141", "two", "texts"),
	ARGS("-c", "14a", "hi"),
	ARGS("-c", "", "hi"),
	ARGS("-c", "141", ""),
	ARGS("-c", "141", "\xff\xfe not UTF-8"),
	ARGS("-c", "141", "--in-reply-to", "abc", "hi"),
	ARGS("-c", "141", "--in-reply-to", "-1", "hi"),
	ARGS("-c", "141", "--timeout", "0", "hi"),
	ARGS("-c", "141", "--timeout", "soon", "hi"),
	ARGS("-c", "141", "--retries", "99", "hi"),
	ARGS("-c", "141", "--no-such-option", "hi"),
	ARGS("-c", "141", "--api-url", "ftp://127.0.0.1/", "hi"),
	ARGS("-c", "141", "--api-url", "not a url", "hi"),
	ARGS("hi"),
};

START_TEST(test_exit_2_usage)
{
	struct run r;

	mock_start(NULL);
	run_send(&r, usage_cases[_i], NULL, NULL);
	ck_exit(&r, 2);
	ck_assert_msg(strstr(r.err, "livedesk-send") != NULL, "stderr: %s",
	    r.err);
	ck_assert_int_eq(mock_count(), 0);
	run_free(&r);
}
END_TEST

START_TEST(test_exit_2_stdin_not_utf8)
{
	struct run r;

	mock_start(NULL);
	run_send(&r, ARGS("-c", "141", "-"), NULL, "caf\xe9\n");
	ck_exit(&r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "UTF-8"));
	ck_assert_int_eq(mock_count(), 0);
	run_free(&r);
}
END_TEST

START_TEST(test_exit_3_http_error)
{
	struct run r;

	mock_start(ARGS("--reply-status", "422"));
	run_send(&r, ARGS("-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 3);
	ck_assert_ptr_nonnull(strstr(r.err, "HTTP 422"));
	ck_assert_ptr_nonnull(strstr(r.err, "mock says no"));
	ck_assert_str_eq(r.out, "");
	/* A 4xx other than 429 is not retried. */
	ck_assert_int_eq(mock_count(), 1);
	run_free(&r);
}
END_TEST

START_TEST(test_exit_3_unauthorized)
{
	struct run r;

	mock_start(ARGS("--reply-status", "401", "--reply-body",
	    "{\"error\":\"bad\\ncredentials\"}"));
	run_send(&r, ARGS("-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 3);
	ck_assert_ptr_nonnull(strstr(r.err, "HTTP 401"));
	ck_assert_int_eq(mock_count(), 1);
	run_free(&r);
}
END_TEST

START_TEST(test_exit_3_not_json)
{
	struct run r;

	mock_start(ARGS("--reply-body", "<html>proxy page\n</html>"));
	run_send(&r, ARGS("-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 3);
	/* The body is shown with its control characters escaped. */
	ck_assert_ptr_nonnull(strstr(r.err, "<html>proxy page\\x0a</html>"));
	run_free(&r);
}
END_TEST

START_TEST(test_exit_3_connection_refused)
{
	struct run r;
	char url[64];
	int port, fd = tu_refusing_port(&port);

	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	run_send(&r, ARGS("--api-url", url, "--retries", "1", "-c", "141",
	    "hi"), NULL, NULL);
	close(fd);
	ck_exit(&r, 3);
	ck_assert_ptr_nonnull(strstr(r.err, url));
	/* Nothing reached a server: it tried once more. */
	ck_assert_ptr_nonnull(strstr(r.err, "retry 1 of 1"));
	run_free(&r);
}
END_TEST

START_TEST(test_help_and_version)
{
	struct run r;

	run_send(&r, ARGS("--help"), NULL, NULL);
	ck_exit(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: livedesk-send"));
	ck_assert_ptr_nonnull(strstr(r.out, "--header-location"));
	ck_assert_ptr_nonnull(strstr(r.out, "--retry MESSAGE_ID"));
	run_free(&r);
	run_send(&r, ARGS("-V"), NULL, NULL);
	ck_exit(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "livedesk-send "));
	run_free(&r);
}
END_TEST

/* ---- retries and time bounds ---- */

START_TEST(test_retries_503_then_sent)
{
	struct run r;

	mock_start(ARGS("--fail-first", "2"));
	run_send(&r, ARGS("-q", "-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 0);
	ck_assert_str_eq(r.out, "3030\n");
	ck_assert_int_eq(mock_count(), 3);
	ck_assert_ptr_nonnull(strstr(r.err, "HTTP 503; retry 2 of 3"));
	/* The same body each time. */
	ck_assert_str_eq(req_str(mock_req(0), "body"),
	    req_str(mock_req(2), "body"));
	run_free(&r);
}
END_TEST

START_TEST(test_retries_429_retry_after)
{
	struct run r;

	mock_start(ARGS("--fail-first", "1", "--fail-status", "429",
	    "--retry-after", "1"));
	run_send(&r, ARGS("-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 0);
	ck_assert_int_eq(mock_count(), 2);
	/* Retry-After: 1 beats the 10 ms backoff. */
	ck_assert_msg(r.ms >= 950, "retried after %lld ms", r.ms);
	ck_assert_msg(r.ms < slack(3000), "took %lld ms", r.ms);
	ck_assert_ptr_nonnull(strstr(r.err, "HTTP 429; retry 1 of 3 in "
	    "1000 ms"));
	run_free(&r);
}
END_TEST

START_TEST(test_retries_retry_after_capped)
{
	struct run r;

	mock_start(ARGS("--fail-first", "1", "--fail-status", "429",
	    "--retry-after", "3600"));
	run_send(&r, ARGS("--max-wait", "0.2", "-c", "141", "hi"), NULL,
	    NULL);
	ck_exit(&r, 0);
	ck_assert_int_eq(mock_count(), 2);
	ck_assert_msg(r.ms < slack(2000), "took %lld ms", r.ms);
	run_free(&r);
}
END_TEST

START_TEST(test_retries_give_up)
{
	struct run r;

	mock_start(ARGS("--fail-first", "1000"));
	run_send(&r, ARGS("--retries", "2", "-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 3);
	ck_assert_int_eq(mock_count(), 3);
	ck_assert_ptr_nonnull(strstr(r.err, "HTTP 503"));
	run_free(&r);
	/* The same bound from the environment; 0 means one attempt. */
	run_send(&r, ARGS("-c", "141", "hi"), ENV("LIVEDESK_SEND_RETRIES=0"),
	    NULL);
	ck_exit(&r, 3);
	ck_assert_int_eq(mock_count(), 4);
	run_free(&r);
}
END_TEST

START_TEST(test_retries_default_bound)
{
	struct run r;

	mock_start(ARGS("--fail-first", "1000", "--fail-status", "500"));
	run_send(&r, ARGS("-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 3);
	/* One attempt and three retries. */
	ck_assert_int_eq(mock_count(), 4);
	run_free(&r);
}
END_TEST

START_TEST(test_timeout_server_never_answers)
{
	struct run r;

	mock_start(ARGS("--hang"));
	run_send(&r, ARGS("--timeout", "1", "-c", "141", "hi"), NULL, NULL);
	ck_exit(&r, 3);
	ck_assert_msg(r.ms >= 900 && r.ms < slack(3000), "took %lld ms",
	    r.ms);
	ck_assert_ptr_nonnull(strstr(r.err, "timed out"));
	/* It may have been received: a timeout is not retried. */
	ck_assert_int_eq(mock_count(), 1);
	run_free(&r);
}
END_TEST

/* ---- credentials ---- */

START_TEST(test_credentials_missing)
{
	struct run r;

	mock_start(NULL);
	run_send(&r, ARGS("-c", "141", "hi"),
	    ENV("LIVEDESK_API_KEY", "LIVEDESK_API_SECRET"), NULL);
	ck_exit(&r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "no API credentials"));
	ck_assert_ptr_nonnull(strstr(r.err, "LIVEDESK_API_KEY"));
	run_free(&r);
	/* Half a pair is a mistake, not a fallback. */
	run_send(&r, ARGS("-c", "141", "hi"), ENV("LIVEDESK_API_SECRET"),
	    NULL);
	ck_exit(&r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "LIVEDESK_API_KEY is set but "
	    "LIVEDESK_API_SECRET is not"));
	run_free(&r);
	ck_assert_int_eq(mock_count(), 0);
}
END_TEST

/* Sends with a credentials file holding text; checks the auth header. */
static void
ck_credentials_file(const char *text, const char *const *extra_args,
    const char *key, const char *secret)
{
	char path[512];
	const char *args[16];
	struct run r;
	int n = 0;
	json_t *req;

	snprintf(path, sizeof path, "%s/api-credentials", T);
	tu_write_file(path, text, strlen(text));
	args[n++] = "--credentials";
	args[n++] = path;
	for (; extra_args != NULL && *extra_args != NULL; extra_args++)
		args[n++] = *extra_args;
	args[n] = NULL;
	run_send(&r, args, ENV("LIVEDESK_API_KEY", "LIVEDESK_API_SECRET"),
	    NULL);
	ck_exit(&r, 0);
	req = mock_req(mock_count() - 1);
	ck_assert_str_eq(req_header(req, "authorization"), basic(key, secret));
	run_free(&r);
}

START_TEST(test_credentials_file)
{
	mock_start(NULL);
	ck_credentials_file("file-key:file:secret\n", ARGS("-c", "141", "hi"),
	    "file-key", "file:secret");
	ck_credentials_file("key2\r\nsecret2\r\n", ARGS("-c", "141", "hi"),
	    "key2", "secret2");
	ck_credentials_file("key3\nsecret3", ARGS("-c", "141", "hi"),
	    "key3", "secret3");
}
END_TEST

START_TEST(test_credentials_file_wins_over_env)
{
	char path[512];
	struct run r;

	mock_start(NULL);
	snprintf(path, sizeof path, "%s/cred", T);
	tu_write_file(path, "fk:fs\n", 6);
	run_send(&r, ARGS("--credentials", path, "-c", "141", "hi"), NULL,
	    NULL);
	ck_exit(&r, 0);
	ck_assert_str_eq(req_header(mock_req(0), "authorization"),
	    basic("fk", "fs"));
	run_free(&r);
}
END_TEST

START_TEST(test_credentials_file_bad)
{
	static const char *const texts[] = { "nocolon\n", ":secret\n",
	    "key:\n", "\n\n", "a\nb\nc\n", "" };
	char path[512];
	struct run r;
	size_t i;

	mock_start(NULL);
	snprintf(path, sizeof path, "%s/cred", T);
	for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		tu_write_file(path, texts[i], strlen(texts[i]));
		run_send(&r, ARGS("--credentials", path, "-c", "141", "hi"),
		    NULL, NULL);
		ck_exit(&r, 2);
		ck_assert_ptr_nonnull(strstr(r.err, path));
		run_free(&r);
	}
	run_send(&r, ARGS("--credentials", "/nonexistent/cred", "-c", "141",
	    "hi"), NULL, NULL);
	ck_exit(&r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "livedesk-send: read "
	    "/nonexistent/cred: No such file"));
	run_free(&r);
	ck_assert_int_eq(mock_count(), 0);
}
END_TEST

START_TEST(test_credentials_directory)
{
	char dir[512], path[600], env[600];
	struct run r;

	mock_start(NULL);
	snprintf(dir, sizeof dir, "%s/creds", T);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(path, sizeof path, "%s/livedesk-api", dir);
	tu_write_file(path, "sd-key:sd-secret\n", 17);
	snprintf(env, sizeof env, "CREDENTIALS_DIRECTORY=%s", dir);
	run_send(&r, ARGS("-c", "141", "hi"), ENV("LIVEDESK_API_KEY",
	    "LIVEDESK_API_SECRET", env), NULL);
	ck_exit(&r, 0);
	ck_assert_str_eq(req_header(mock_req(0), "authorization"),
	    basic("sd-key", "sd-secret"));
	run_free(&r);
	/* The directory without the file: a clear message, exit 2. */
	ck_assert_int_eq(unlink(path), 0);
	run_send(&r, ARGS("-c", "141", "hi"), ENV("LIVEDESK_API_KEY",
	    "LIVEDESK_API_SECRET", env), NULL);
	ck_exit(&r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "livedesk-api"));
	ck_assert_ptr_nonnull(strstr(r.err, dir));
	ck_assert_int_eq(mock_count(), 1);
	run_free(&r);
}
END_TEST

/* ---- the example bot, run by hand as the exec sink would ---- */

static void
run_auto_reply(struct run *r, const char *const *extra_env)
{
	const char *env[24];
	char send[600];
	int n = 0;

	snprintf(send, sizeof send, "LIVEDESK_SEND=%s/livedesk-send",
	    tu_build_dir());
	env[n++] = send;
	env[n++] = "LIVEDESK_EVENT=message_created";
	env[n++] = "LIVEDESK_CONVERSATION_ID=141";
	env[n++] = "LIVEDESK_MESSAGE_ID=29";
	env[n++] = "LIVEDESK_MESSAGE_TYPE=incoming";
	env[n++] = "LIVEDESK_MESSAGE_CONTENT=สวัสดีครับ $(exit 7)";
	env[n++] = "LIVEDESK_SENDER_NAME=Somchai";
	for (; extra_env != NULL && *extra_env != NULL && n < 23; extra_env++)
		env[n++] = *extra_env;
	env[n] = NULL;
	run_prog(r, ARGS("/bin/sh", "conf/examples/auto-reply.sh"), env,
	    "{\"event\":\"message_created\",\"id\":29}");
}

START_TEST(test_auto_reply_always)
{
	struct run r;
	json_t *req;

	mock_start(NULL);
	run_auto_reply(&r, ENV("ALWAYS_REPLY=1",
	    "AUTO_REPLY_TEXT=-ขอบคุณครับ เราจะติดต่อกลับ"));
	ck_exit(&r, 0);
	ck_assert_str_eq(r.out, "3030\n");
	req = ck_one_post(MSGS);
	ck_body_json(req, "{\"content\": \"-ขอบคุณครับ เราจะติดต่อกลับ\", "
	    "\"private\": false, \"content_attributes\": {\"in_reply_to\": 29}}");
	run_free(&r);
}
END_TEST

START_TEST(test_auto_reply_office_hours)
{
	char closed[64];
	struct run r;
	time_t now = time(NULL);
	struct tm tm;
	int h;

	mock_start(NULL);
	/* Open all day, every day: nothing to say. */
	run_auto_reply(&r, ENV("OFFICE_HOURS=00-24", "OFFICE_DAYS=1-7",
	    "TZ=UTC"));
	ck_exit(&r, 0);
	ck_assert_int_eq(mock_count(), 0);
	run_free(&r);
	/* Closed now (the office opens in an hour): the bot answers. */
	gmtime_r(&now, &tm);
	h = tm.tm_hour;
	snprintf(closed, sizeof closed, "OFFICE_HOURS=%02d-%02d",
	    (h + 1) % 24, (h + 2) % 24 == 0 ? 24 : (h + 2) % 24);
	run_auto_reply(&r, ENV(closed, "OFFICE_DAYS=1-7", "TZ=UTC"));
	ck_exit(&r, 0);
	ck_assert_int_eq(mock_count(), 1);
	ck_assert_ptr_nonnull(strstr(req_str(mock_req(0), "body"),
	    "\"in_reply_to\":29"));
	run_free(&r);
	/* Open hours but not an office day (an empty list of days). */
	run_auto_reply(&r, ENV("OFFICE_HOURS=00-24", "OFFICE_DAYS=none",
	    "TZ=UTC"));
	ck_exit(&r, 0);
	ck_assert_int_eq(mock_count(), 2);
	run_free(&r);
}
END_TEST

START_TEST(test_auto_reply_ignores)
{
	const char *const *const cases[] = {
		ENV("ALWAYS_REPLY=1", "LIVEDESK_MESSAGE_TYPE=outgoing"),
		ENV("ALWAYS_REPLY=1", "LIVEDESK_EVENT=conversation_created"),
		ENV("ALWAYS_REPLY=1", "LIVEDESK_MESSAGE_TYPE"),
	};
	struct run r;
	size_t i;

	mock_start(NULL);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run_auto_reply(&r, cases[i]);
		ck_exit(&r, 0);
		run_free(&r);
	}
	ck_assert_int_eq(mock_count(), 0);
}
END_TEST

START_TEST(test_auto_reply_once_a_day)
{
	char state[600];
	struct run r;

	mock_start(NULL);
	snprintf(state, sizeof state, "AUTO_REPLY_STATE_DIR=%s", T);
	run_auto_reply(&r, ENV("ALWAYS_REPLY=1", state));
	ck_exit(&r, 0);
	run_free(&r);
	run_auto_reply(&r, ENV("ALWAYS_REPLY=1", state));
	ck_exit(&r, 0);
	run_free(&r);
	ck_assert_int_eq(mock_count(), 1);
}
END_TEST

START_TEST(test_auto_reply_passes_failure_on)
{
	struct run r;

	mock_start(ARGS("--failed"));
	run_auto_reply(&r, ENV("ALWAYS_REPLY=1"));
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, FAILED_REASON));
	run_free(&r);
	/* Without LIVEDESK_SEND it looks in PATH. */
	run_auto_reply(&r, ENV("ALWAYS_REPLY=1", "LIVEDESK_SEND",
	    "PATH=/usr/bin:/bin"));
	ck_exit(&r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "livedesk-send not found"));
	run_free(&r);
}
END_TEST

static Suite *
send_suite(void)
{
	Suite *s = suite_create("send");
	TCase *tc;

	tc = tcase_create("text");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_text_basic);
	tcase_add_test(tc, test_text_conversation_from_env);
	tcase_add_test(tc, test_text_private_in_reply_to);
	tcase_add_test(tc, test_text_stdin_thai);
	tcase_add_test(tc, test_text_stdin_multiline);
	tcase_add_test(tc, test_text_dash_dash);
	tcase_add_test(tc, test_quiet);
	tcase_add_test(tc, test_api_url_with_prefix);
	suite_add_tcase(s, tc);

	tc = tcase_create("template");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_template_vendor_example);
	tcase_add_test(tc, test_template_minimal);
	tcase_add_test(tc, test_template_text_header_variables);
	tcase_add_test(tc, test_template_header_image);
	tcase_add_test(tc, test_template_header_video);
	tcase_add_test(tc, test_template_header_document);
	tcase_add_test(tc, test_template_header_document_no_filename);
	tcase_add_test(tc, test_template_header_location_full);
	tcase_add_test(tc, test_template_header_location_bare);
	tcase_add_test(tc, test_template_header_location_name_only);
	tcase_add_test(tc, test_template_footer_and_buttons);
	tcase_add_loop_test(tc, test_template_usage_errors, 0,
	    (int)(sizeof template_usage_cases /
	    sizeof template_usage_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("attach");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_attach_two_files);
	tcase_add_test(tc, test_attach_private_in_reply_to);
	tcase_add_test(tc, test_attach_missing_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("retry");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_retry_message);
	tcase_add_test(tc, test_retry_message_usage);
	suite_add_tcase(s, tc);

	tc = tcase_create("exit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_exit_1_failed);
	tcase_add_loop_test(tc, test_exit_2_usage, 0,
	    (int)(sizeof usage_cases / sizeof usage_cases[0]));
	tcase_add_test(tc, test_exit_2_stdin_not_utf8);
	tcase_add_test(tc, test_exit_3_http_error);
	tcase_add_test(tc, test_exit_3_unauthorized);
	tcase_add_test(tc, test_exit_3_not_json);
	tcase_add_test(tc, test_exit_3_connection_refused);
	tcase_add_test(tc, test_help_and_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_retries_503_then_sent);
	tcase_add_test(tc, test_retries_429_retry_after);
	tcase_add_test(tc, test_retries_retry_after_capped);
	tcase_add_test(tc, test_retries_give_up);
	tcase_add_test(tc, test_retries_default_bound);
	tcase_add_test(tc, test_timeout_server_never_answers);
	suite_add_tcase(s, tc);

	tc = tcase_create("credentials");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_credentials_missing);
	tcase_add_test(tc, test_credentials_file);
	tcase_add_test(tc, test_credentials_file_wins_over_env);
	tcase_add_test(tc, test_credentials_file_bad);
	tcase_add_test(tc, test_credentials_directory);
	suite_add_tcase(s, tc);

	tc = tcase_create("auto_reply");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_auto_reply_always);
	tcase_add_test(tc, test_auto_reply_office_hours);
	tcase_add_test(tc, test_auto_reply_ignores);
	tcase_add_test(tc, test_auto_reply_once_a_day);
	tcase_add_test(tc, test_auto_reply_passes_failure_on);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(send_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
