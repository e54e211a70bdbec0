/* Tests for the exec sink: configuration, the child's environment, stdin
 * and output, and how a run ends (exit, signal, timeout, cancel). */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "livedesk/event.h"
#include "livedesk/sink.h"
#include "log.h"
#include "testutil.h"
#include "util.h"

extern const struct sink_ops sink_exec_ops;

static const struct sink_ops *ops = &sink_exec_ops;
static char *dir;		/* this test's private directory */
static char record[PATH_MAX];	/* tests/scripts/record.sh, absolute */
static atomic_bool cancel_flag;

static void
setup(void)
{
	dir = tu_tmpdir();
	atomic_store(&cancel_flag, false);
	ck_assert_ptr_nonnull(realpath("tests/scripts/record.sh", record));
}

static void
teardown(void)
{
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* DIR/name, in a static buffer (one at a time is enough here). */
static const char *
at(const char *name)
{
	static char path[2][PATH_MAX];
	static int which;

	which ^= 1;
	snprintf(path[which], sizeof path[which], "%s/%s", dir, name);
	return path[which];
}

/* Writes an executable script DIR/name; returns its path (malloc'd). */
static char *
script(const char *name, const char *body)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *text = xasprintf("#!/bin/sh\n%s\n", body);

	tu_write_file(path, text, strlen(text));
	ck_assert_int_eq(chmod(path, 0755), 0);
	free(text);
	return path;
}

/* A configuration from key, value pairs (NULL-ended); must be valid. */
static void *
conf_of(const char *const *kv)
{
	void *conf = NULL;
	char *err = NULL;
	size_t i;

	for (i = 0; kv[i] != NULL; i += 2) {
		int rc = ops->conf_set(&conf, kv[i], kv[i + 1], &err);

		ck_assert_msg(rc == 0, "%s = %s: %d %s", kv[i], kv[i + 1], rc,
		    err ? err : "");
	}
	ck_assert_int_eq(ops->conf_check(&conf, &err), 0);
	return conf;
}

static struct ld_event *
event_of(const char *body, size_t len)
{
	struct ld_event_error e;
	struct ld_event *ev = ld_event_parse(body, len, 0, &e);

	ck_assert_msg(ev != NULL, "parse: %s", e.text);
	util_delivery_id(ev->delivery_id);
	return ev;
}

static struct ld_event *
event_fixture(const char *name)
{
	size_t len;
	char *body = tu_fixture(name, &len);
	struct ld_event *ev = event_of(body, len);

	free(body);
	return ev;
}

static void *
start(const void *conf)
{
	struct sink_ctx ctx = { "t", &cancel_flag, 1, 1000 };
	void *state = NULL;
	char *err = NULL;

	ck_assert_int_eq(ops->start(&state, conf, &ctx, &err), 0);
	return state;
}

/* One delivery with a fresh state; returns how long it took (ms). */
static long long
run(const void *conf, struct ld_event *ev, struct sink_result *r)
{
	void *state = start(conf);
	long long t0 = tu_now_ms();

	memset(r, 0x55, sizeof *r);	/* deliver must fill it all */
	ops->deliver(state, ev, r);
	t0 = tu_now_ms() - t0;
	ops->stop(state);
	return t0;
}

/* Sends the log (our stderr) to DIR/log while f runs. */
static int saved_stderr = -1;

static void
capture_begin(void)
{
	int fd = open(at("log"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);

	ck_assert_int_ge(fd, 0);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

static char *
capture_end(size_t *len)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	return tu_read_file(at("log"), len);
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay++)
		n++;
	return n;
}

/* NUL-separated records of a file, as a NULL-ended array. */
static char **
split0(const char *path, size_t *n)
{
	size_t len, i, k = 0;
	char *buf = tu_read_file(path, &len), **v;

	v = xcalloc(len + 1, sizeof *v);
	for (i = 0; i < len; i += strlen(buf + i) + 1)
		v[k++] = xstrdup(buf + i);
	free(buf);
	*n = k;
	return v;
}

static void
free_list(char **v)
{
	size_t i;

	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/*
 * The recorded environment is exactly expected (NULL-ended "K=V"), apart
 * from PWD, which sh itself exports (it must then be the workdir).
 */
static void
assert_env(const char *name, const char *const *expected,
    const char *workdir)
{
	char path[PATH_MAX], pwd[PATH_MAX + 8], **got;
	size_t n, i, k;

	snprintf(path, sizeof path, "%s/%s.env", dir, name);
	got = split0(path, &n);
	snprintf(pwd, sizeof pwd, "PWD=%s", workdir);
	for (i = 0; i < n; i++) {
		bool found = strcmp(got[i], pwd) == 0;

		for (k = 0; expected[k] != NULL && !found; k++)
			found = strcmp(got[i], expected[k]) == 0;
		ck_assert_msg(found, "unexpected variable %s", got[i]);
	}
	for (k = 0; expected[k] != NULL; k++) {
		bool found = false;

		for (i = 0; i < n && !found; i++)
			found = strcmp(got[i], expected[k]) == 0;
		ck_assert_msg(found, "missing variable %s", expected[k]);
	}
	free_list(got);
}

/* --- configuration --- */

START_TEST(conf_errors)
{
	static const struct { const char *key, *value, *err; } bad[] = {
		{ "command", "/bin/echo 'abc", "unterminated ' quote" },
		{ "command", "/bin/echo \"abc", "unterminated \" quote" },
		{ "command", "/bin/echo \"abc\\\"", "unterminated \" quote" },
		{ "command", "/bin/echo abc\\", "backslash at the end" },
		{ "command", "", "empty command" },
		{ "command", "  \t ", "empty command" },
		{ "command", "/bin/echo a | wc", "unquoted '|'" },
		{ "command", "/bin/echo a>b", "unquoted '>'" },
		{ "command", "/bin/echo a; rm", "unquoted ';'" },
		{ "command", "/bin/echo `id`", "unquoted '`'" },
		{ "timeout", "soon", "is not a duration" },
		{ "timeout", "0", "is not a duration" },
		{ "timeout", "-1s", "is not a duration" },
		{ "kill_after", "5x", "is not a duration" },
		{ "env", "NOEQUALS", "is not KEY=VALUE" },
		{ "env", "=value", "is not KEY=VALUE" },
		{ "workdir", "relative/dir", "not an absolute path" },
		{ "max_output", "lots", "is not a size" },
	};
	void *conf = NULL;
	char *err;
	size_t i;

	for (i = 0; i < nitems(bad); i++) {
		err = NULL;
		ck_assert_int_eq(ops->conf_set(&conf, bad[i].key, bad[i].value,
		    &err), -1);
		ck_assert_ptr_nonnull(err);
		ck_assert_msg(strstr(err, bad[i].err) != NULL,
		    "%s = %s: got '%s'", bad[i].key, bad[i].value, err);
		free(err);
	}
	err = NULL;
	ck_assert_int_eq(ops->conf_set(&conf, "path", "/x", &err), 1);
	ck_assert_int_eq(ops->conf_set(&conf, "concurrency", "2", &err), 1);
	ck_assert_ptr_null(err);
	/* Nothing valid was given: command is still missing. */
	ck_assert_int_eq(ops->conf_check(&conf, &err), -1);
	ck_assert_str_eq(err, "missing required key 'command'");
	free(err);
	ops->conf_free(conf);

	conf = NULL;
	ck_assert_int_eq(ops->conf_check(&conf, &err), -1);
	ck_assert_str_eq(err, "missing required key 'command'");
	free(err);
	ops->conf_free(conf);
	ops->conf_free(NULL);
}
END_TEST

START_TEST(conf_print)
{
	const char *kv[] = {
		"command", "/usr/bin/hook --flag 'a b'",
		"env", "FOO=bar baz",
		"env", "LIVEDESK_API_SECRET=hunter2",
		"timeout", "1500ms",
		NULL,
	};
	void *conf = conf_of(kv);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ops->conf_print(conf, f);
	fclose(f);
	ck_assert_str_eq(out,
	    "command = /usr/bin/hook --flag 'a b'\n"
	    "timeout = 1500ms\n"
	    "kill_after = 5s\n"
	    "workdir = /\n"
	    "max_output = 64k\n"
	    "env = FOO=(set, not shown)\n"
	    "env = LIVEDESK_API_SECRET=(set, not shown)\n"
	    "mode = spawn\n");
	free(out);
	ops->conf_free(conf);

	/* The defaults. */
	const char *kv2[] = { "command", "x", NULL };
	conf = conf_of(kv2);
	f = open_memstream(&out, &len);
	ops->conf_print(conf, f);
	fclose(f);
	ck_assert_str_eq(out, "command = x\ntimeout = 30s\nkill_after = 5s\n"
	    "workdir = /\nmax_output = 64k\nmode = spawn\n");
	free(out);
	ops->conf_free(conf);
}
END_TEST

/* Quoting: every form ends up as the argument meant, nothing expanded. */
START_TEST(quoting)
{
	char *cmd = xasprintf("%s 'a b' \"c\\\"d\" e\\ f '' \"x\\$y\" "
	    "\"back\\\\slash\" \"keep\\n\" '$HOME' mixed'single'\"double\" "
	    "\"'\" '\"'", record);
	char *env = xasprintf("RECORD_DIR=%s", dir);
	const char *kv[] = { "command", cmd, "env", env, NULL };
	static const char *const want[] = {
		"a b", "c\"d", "e f", "", "x$y", "back\\slash", "keep\\n",
		"$HOME", "mixedsingledouble", "'", "\"",
	};
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	char path[PATH_MAX], **got;
	size_t n, i;

	run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	snprintf(path, sizeof path, "%s/%s.args", dir, ev->delivery_id);
	got = split0(path, &n);
	ck_assert_uint_eq(n, nitems(want));
	for (i = 0; i < n; i++)
		ck_assert_str_eq(got[i], want[i]);
	free_list(got);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(cmd);
	free(env);
}
END_TEST

/* The brief's own example: sh -c with a variable that sh expands. */
START_TEST(sh_c)
{
	char *cmd = xasprintf("/bin/sh -c 'echo \"$LIVEDESK_EVENT\" > %s'",
	    at("out"));
	const char *kv[] = { "command", cmd, NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	char *out;

	run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	out = tu_read_file(at("out"), NULL);
	ck_assert_str_eq(out, "message_created\n");
	free(out);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(cmd);
}
END_TEST

/* A bare name is found in PATH: the daemon's, or an env line's. */
START_TEST(path_lookup)
{
	char *envp = xasprintf("PATH=%s", dir), *err = NULL, *body, *out;
	const char *kv[] = { "command", "sh -c 'exit 0'", NULL };
	const char *kv2[] = { "command", "my-hook 'an arg'", "env", envp,
	    NULL };
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	void *conf = conf_of(kv);

	ck_assert_int_eq(ops->probe(conf, &err), 0);
	run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	ops->conf_free(conf);

	/* my-hook lives only in DIR, which the env line makes the PATH. */
	body = xasprintf("echo \"$1 $PATH\" > %s", at("hook.out"));
	free(script("my-hook", body));
	free(body);
	conf = conf_of(kv2);
	ck_assert_int_eq(ops->probe(conf, &err), 0);
	run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	out = tu_read_file(at("hook.out"), NULL);
	body = xasprintf("an arg %s\n", dir);
	ck_assert_str_eq(out, body);
	free(body);
	free(out);
	ops->conf_free(conf);
	ld_event_unref(ev);
	free(envp);
}
END_TEST

/* --- environment and stdin --- */

START_TEST(env_message_created)
{
	char *cmd = xstrdup(record);
	char *envr = xasprintf("RECORD_DIR=%s", dir);
	const char *kv[] = { "command", cmd, "env", envr, NULL };
	void *conf;
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	char *path = xasprintf("PATH=%s", getenv("PATH"));
	char *did = xasprintf("LIVEDESK_DELIVERY_ID=%s", ev->delivery_id);
	const char *want[] = {
		path, "LANG=C.UTF-8", envr, did,
		"LIVEDESK_SINK=t",
		"LIVEDESK_EVENT=message_created",
		"LIVEDESK_ACCOUNT_ID=17629000001207",
		"LIVEDESK_INBOX_ID=523",
		"LIVEDESK_CONVERSATION_ID=89",
		"LIVEDESK_CONVERSATION_STATUS=open",
		"LIVEDESK_MESSAGE_ID=2187685",
		"LIVEDESK_MESSAGE_TYPE=outgoing",
		"LIVEDESK_MESSAGE_CONTENT="
		    "สวัสดีคุณต้องการความช่วยเหลืออะไร",
		"LIVEDESK_MESSAGE_PRIVATE=false",
		"LIVEDESK_SENDER_ID=41",
		"LIVEDESK_SENDER_NAME=support",
		"LIVEDESK_SENDER_EMAIL=support@jiguang.cn",
		"LIVEDESK_SENDER_TYPE=user",
		"LIVEDESK_CONTACT_ID=42218348",
		NULL,
	};
	char *in, p[PATH_MAX];
	size_t len;

	/* What the daemon has that the child must not get. */
	setenv("LANG", "C.UTF-8", 1);
	setenv("HOME", "/root", 1);
	setenv("LIVEDESK_API_SECRET", "leaked", 1);
	setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
	conf = conf_of(kv);
	run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	ck_assert_int_eq(r.exit_status, 0);
	assert_env(ev->delivery_id, want, "/");
	/* stdin: the bytes received, exactly. */
	snprintf(p, sizeof p, "%s/%s.in", dir, ev->delivery_id);
	in = tu_read_file(p, &len);
	ck_assert_uint_eq(len, ev->raw_len);
	ck_assert(memcmp(in, ev->raw, len) == 0);
	free(in);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(cmd);
	free(envr);
	free(path);
	free(did);
}
END_TEST

START_TEST(env_conversation_created)
{
	char *envr = xasprintf("RECORD_DIR=%s", dir);
	const char *kv[] = { "command", record, "env", envr,
	    "env", "PATH=/usr/bin:/bin", "workdir", dir, NULL };
	void *conf;
	struct ld_event *ev = event_fixture("conversation_created.json");
	struct sink_result r;
	char *did = xasprintf("LIVEDESK_DELIVERY_ID=%s", ev->delivery_id);
	const char *want[] = {
		"PATH=/usr/bin:/bin", envr, did,
		"LIVEDESK_SINK=t",
		"LIVEDESK_EVENT=conversation_created",
		"LIVEDESK_ACCOUNT_ID=17629000001207",
		"LIVEDESK_INBOX_ID=523",
		"LIVEDESK_CONVERSATION_ID=89",
		"LIVEDESK_CONVERSATION_STATUS=open",
		"LIVEDESK_SENDER_ID=42218348",
		"LIVEDESK_SENDER_NAME=Test",
		"LIVEDESK_SENDER_EMAIL=alice@acme.inc",
		"LIVEDESK_SENDER_PHONE=+123456789",
		"LIVEDESK_SENDER_TYPE=contact",
		"LIVEDESK_CONTACT_ID=42218348",
		NULL,
	};

	unsetenv("LANG");
	conf = conf_of(kv);
	run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	assert_env(ev->delivery_id, want, dir);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(envr);
	free(did);
}
END_TEST

/* Runs record.sh for fixtures/NAME with PATH=/usr/bin:/bin and checks
 * that the event's variables are exactly want (NULL-ended), after the
 * fixed ones every run has. */
static void
assert_event_env(const char *name, const char *const *want)
{
	char *envr = xasprintf("RECORD_DIR=%s", dir);
	const char *kv[] = { "command", record, "env", envr,
	    "env", "PATH=/usr/bin:/bin", NULL };
	struct ld_event *ev = event_fixture(name);
	char *did = xasprintf("LIVEDESK_DELIVERY_ID=%s", ev->delivery_id);
	const char *all[32] = { "PATH=/usr/bin:/bin", envr, did,
	    "LIVEDESK_SINK=t" };
	struct sink_result r;
	size_t n = 4, i;
	void *conf;

	for (i = 0; want[i] != NULL; i++) {
		ck_assert_uint_lt(n, 31);
		all[n++] = want[i];
	}
	unsetenv("LANG");
	conf = conf_of(kv);
	run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s: %s", name, r.detail);
	assert_env(ev->delivery_id, all, "/");
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(envr);
	free(did);
}

/* A failed send: its status and the channel's error, for a script to
 * react to (retry, tell an agent). */
START_TEST(env_message_updated_failed)
{
	static const char *const want[] = {
		"LIVEDESK_EVENT=message_updated",
		"LIVEDESK_ACCOUNT_ID=17629000001207",
		"LIVEDESK_INBOX_ID=523",
		"LIVEDESK_CONVERSATION_ID=89",
		"LIVEDESK_CONVERSATION_STATUS=open",
		"LIVEDESK_MESSAGE_ID=2187685",
		"LIVEDESK_MESSAGE_TYPE=outgoing",
		"LIVEDESK_MESSAGE_CONTENT=สวัสดีค่ะ ต้องการความช่วยเหลืออะไรคะ",
		"LIVEDESK_MESSAGE_PRIVATE=false",
		"LIVEDESK_MESSAGE_STATUS=failed",
		"LIVEDESK_MESSAGE_ERROR=131047: Re-engagement message is not "
		    "allowed",
		"LIVEDESK_SENDER_ID=41",
		"LIVEDESK_SENDER_NAME=support",
		"LIVEDESK_SENDER_EMAIL=support@jiguang.cn",
		"LIVEDESK_SENDER_TYPE=user",
		"LIVEDESK_CONTACT_ID=42218348",
		NULL,
	};

	assert_event_env("message_updated_failed.json", want);
}
END_TEST

/* Typing: the conversation, the typist as the sender, and whether it is
 * a private note. */
START_TEST(env_typing)
{
	static const char *const on[] = {
		"LIVEDESK_EVENT=conversation_typing_on",
		"LIVEDESK_ACCOUNT_ID=17629000001207",
		"LIVEDESK_INBOX_ID=523",
		"LIVEDESK_CONVERSATION_ID=89",
		"LIVEDESK_CONVERSATION_STATUS=open",
		"LIVEDESK_MESSAGE_PRIVATE=true",
		"LIVEDESK_SENDER_ID=41",
		"LIVEDESK_SENDER_NAME=support",
		"LIVEDESK_SENDER_EMAIL=support@jiguang.cn",
		"LIVEDESK_SENDER_TYPE=user",
		"LIVEDESK_CONTACT_ID=42218348",
		NULL,
	};
	static const char *const off[] = {
		"LIVEDESK_EVENT=conversation_typing_off",
		"LIVEDESK_ACCOUNT_ID=17629000001207",
		"LIVEDESK_INBOX_ID=523",
		"LIVEDESK_CONVERSATION_ID=89",
		"LIVEDESK_CONVERSATION_STATUS=open",
		"LIVEDESK_MESSAGE_PRIVATE=false",
		"LIVEDESK_SENDER_ID=42218348",
		"LIVEDESK_SENDER_NAME=Test",
		"LIVEDESK_SENDER_EMAIL=alice@acme.inc",
		"LIVEDESK_SENDER_PHONE=+123456789",
		"LIVEDESK_CONTACT_ID=42218348",
		NULL,
	};

	assert_event_env("conversation_typing_on.json", on);
	assert_event_env("conversation_typing_off.json", off);
}
END_TEST

/* The widget: current_conversation's id, not the contact inbox's; the
 * contact as the sender. */
START_TEST(env_webwidget_triggered)
{
	static const char *const want[] = {
		"LIVEDESK_EVENT=webwidget_triggered",
		"LIVEDESK_ACCOUNT_ID=17629000001207",
		"LIVEDESK_INBOX_ID=523",
		"LIVEDESK_CONVERSATION_ID=89",
		"LIVEDESK_CONVERSATION_STATUS=open",
		"LIVEDESK_SENDER_ID=42218348",
		"LIVEDESK_SENDER_NAME=Test",
		"LIVEDESK_SENDER_EMAIL=alice@acme.inc",
		"LIVEDESK_SENDER_PHONE=+123456789",
		"LIVEDESK_CONTACT_ID=42218348",
		NULL,
	};

	assert_event_env("webwidget_triggered.json", want);
}
END_TEST

/* Contact and inbox events: the contact, the inbox; no conversation. */
START_TEST(env_contact_and_inbox)
{
	static const char *const contact[] = {
		"LIVEDESK_EVENT=contact_updated",
		"LIVEDESK_ACCOUNT_ID=17629000001207",
		"LIVEDESK_SENDER_ID=42218348",
		"LIVEDESK_SENDER_NAME=Test",
		"LIVEDESK_SENDER_EMAIL=alice@acme.inc",
		"LIVEDESK_SENDER_PHONE=+66812345678",
		"LIVEDESK_CONTACT_ID=42218348",
		NULL,
	};
	static const char *const inbox[] = {
		"LIVEDESK_EVENT=inbox_created",
		"LIVEDESK_INBOX_ID=523",
		NULL,
	};

	assert_event_env("contact_updated.json", contact);
	assert_event_env("inbox_created.json", inbox);
}
END_TEST

/* env lines: added in order, a later one wins, the event's own win over
 * them; a minimal event sets only what it has. */
START_TEST(env_lines)
{
	static const char body[] = "{\"event\":\"contact_created\"}";
	char *envr = xasprintf("RECORD_DIR=%s", dir);
	const char *kv[] = { "command", record, "env", envr,
	    "env", "A=1", "env", "B=x=y", "env", "A=2", "env", "EMPTY=",
	    "env", "HOME=/nonexistent", "env", "LIVEDESK_EVENT=spoofed",
	    "env", "LIVEDESK_API_KEY=k", NULL };
	void *conf;
	struct ld_event *ev = event_of(body, sizeof body - 1);
	struct sink_result r;
	char *path = xasprintf("PATH=%s", getenv("PATH"));
	char *did = xasprintf("LIVEDESK_DELIVERY_ID=%s", ev->delivery_id);
	const char *want[] = {
		path, envr, did, "A=2", "B=x=y", "EMPTY=",
		"HOME=/nonexistent", "LIVEDESK_API_KEY=k",
		"LIVEDESK_SINK=t", "LIVEDESK_EVENT=contact_created",
		NULL,
	};

	unsetenv("LANG");
	conf = conf_of(kv);
	run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	assert_env(ev->delivery_id, want, "/");
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(envr);
	free(path);
	free(did);
}
END_TEST

/* A 1 MiB body: all of it on stdin, no pipe deadlock; the content in the
 * environment is cut (and says so), the child can still run. */
START_TEST(stdin_big)
{
	size_t n = 1024 * 1024, len, i;
	char *body = xmalloc(n + 64), *in, p[PATH_MAX], **env;
	char *envr = xasprintf("RECORD_DIR=%s", dir);
	const char *kv[] = { "command", record, "env", envr, NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev;
	struct sink_result r;
	bool cut = false, content = false;

	len = (size_t)snprintf(body, 64, "{\"event\":\"message_created\","
	    "\"content\":\"");
	/* Thai, three bytes a character: a cut must not split one. */
	while (len + 3 < n) {
		memcpy(body + len, "ส", 3);
		len += 3;
	}
	len += (size_t)snprintf(body + len, 8, "\"}\n");
	ev = event_of(body, len);
	run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	snprintf(p, sizeof p, "%s/%s.in", dir, ev->delivery_id);
	in = tu_read_file(p, &n);
	ck_assert_uint_eq(n, len);
	ck_assert(memcmp(in, body, len) == 0);
	free(in);
	snprintf(p, sizeof p, "%s/%s.env", dir, ev->delivery_id);
	env = split0(p, &n);
	for (i = 0; i < n; i++) {
		if (strcmp(env[i], "LIVEDESK_MESSAGE_CONTENT_TRUNCATED=true")
		    == 0)
			cut = true;
		if (strncmp(env[i], "LIVEDESK_MESSAGE_CONTENT=", 25) == 0) {
			size_t vl = strlen(env[i] + 25);

			content = true;
			ck_assert_uint_le(vl, 32 * 1024);
			ck_assert_uint_ge(vl, 32 * 1024 - 3);
			ck_assert_uint_eq(vl % 3, 0);
		}
	}
	ck_assert(cut && content);
	free_list(env);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(envr);
	free(body);
}
END_TEST

/* A program that never reads stdin, with a body far larger than a pipe. */
START_TEST(stdin_unread)
{
	size_t n = 1024 * 1024;
	char *body = xmalloc(n + 64), *sh = script("noread.sh",
	    "sleep 0.2; exit 0");
	const char *kv[] = { "command", sh, NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev;
	struct sink_result r;
	size_t len;
	long long ms;

	len = (size_t)snprintf(body, 64, "{\"event\":\"x\",\"pad\":\"");
	memset(body + len, 'a', n - len - 2);
	memcpy(body + n - 2, "\"}", 2);
	ev = event_of(body, n);
	ms = run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	ck_assert_int_lt(ms, 2000);
	ops->conf_free(conf);
	free(sh);

	/* Closes stdin at once: EPIPE, which must not kill us. */
	sh = script("close.sh", "exec 0<&-; sleep 0.1; exit 0");
	const char *kv2[] = { "command", sh, NULL };
	conf = conf_of(kv2);
	ms = run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	ck_assert_int_lt(ms, 2000);
	ops->conf_free(conf);
	ld_event_unref(ev);
	free(sh);
	free(body);
}
END_TEST

/* The child starts clean: its own process group, no signal blocked or
 * ignored, no descriptor of ours, in workdir. */
START_TEST(child_setup)
{
	/* Run directly, not by sh, which sets up signals its own way.
	 * glibc's posix_spawn leaves its two internal signals (32, 33)
	 * ignored; nothing else may be. */
	static const char *const sig_cmds[] = {
		"/bin/grep -q '^SigBlk:[[:space:]]*0\\{16\\}$' /proc/self/status",
		"/bin/grep -Eq '^SigIgn:[[:space:]]*0{7}(18|00)0{7}$' "
		    "/proc/self/status",
	};
	char *body, *sh;
	sigset_t block, old;
	int fd = open("/dev/null", O_RDONLY);	/* without O_CLOEXEC */
	void *conf;
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r[3];
	size_t i;

	ck_assert_int_ge(fd, 3);
	body = xasprintf(
	    "read pid comm state ppid pgrp rest </proc/self/stat\n"
	    "[ \"$pid\" = \"$pgrp\" ] || exit 10\n"
	    "[ ! -e /proc/self/fd/%d ] || exit 11\n"
	    "[ \"$(pwd -P)\" = \"$(cd %s && pwd -P)\" ] || exit 12\n"
	    "[ -p /proc/self/fd/0 ] || exit 15\n"
	    "[ -p /proc/self/fd/1 ] || exit 16\n"
	    "[ -p /proc/self/fd/2 ] || exit 17\n"
	    "exit 0", fd, dir);
	sh = script("setup.sh", body);
	/* As in the daemon's threads: signals blocked, some ignored. */
	sigfillset(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < 3; i++) {
		const char *kv[] = { "command", i == 0 ? sh : sig_cmds[i - 1],
		    "workdir", dir, NULL };

		conf = conf_of(kv);
		run(conf, ev, &r[i]);
		ops->conf_free(conf);
	}
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ck_assert_msg(r[0].ok, "%s", r[0].detail);
	ck_assert_msg(r[1].ok, "signals blocked in the child: %s",
	    r[1].detail);
	ck_assert_msg(r[2].ok, "signals ignored in the child: %s",
	    r[2].detail);
	close(fd);
	ld_event_unref(ev);
	free(sh);
	free(body);
}
END_TEST

/* Several threads at once on one state. */
struct par {
	void		*state;
	struct ld_event	*ev;
	struct sink_result r;
};

static void *
par_run(void *arg)
{
	struct par *p = arg;

	ops->deliver(p->state, p->ev, &p->r);
	return NULL;
}

START_TEST(concurrent)
{
	char *envr = xasprintf("RECORD_DIR=%s", dir);
	const char *kv[] = { "command", record, "env", envr, NULL };
	void *conf = conf_of(kv), *state = start(conf);
	struct par p[6];
	pthread_t t[6];
	char path[PATH_MAX], *in;
	size_t i, len;

	for (i = 0; i < nitems(p); i++) {
		p[i].state = state;
		p[i].ev = event_fixture(i % 2 ? "message_created.json" :
		    "conversation_created.json");
		ck_assert_int_eq(pthread_create(&t[i], NULL, par_run, &p[i]),
		    0);
	}
	for (i = 0; i < nitems(p); i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(p[i].r.ok, "%s", p[i].r.detail);
		snprintf(path, sizeof path, "%s/%s.in", dir,
		    p[i].ev->delivery_id);
		in = tu_read_file(path, &len);
		ck_assert_uint_eq(len, p[i].ev->raw_len);
		ck_assert(memcmp(in, p[i].ev->raw, len) == 0);
		free(in);
		ld_event_unref(p[i].ev);
	}
	ops->stop(state);
	ops->conf_free(conf);
	free(envr);
}
END_TEST

/* --- output --- */

START_TEST(output_logged)
{
	char *sh = script("out.sh", "echo hello; printf 'a\\033[31mb\\tc\\n' "
	    ">&2; printf 'x\\0y\\n'; printf 'no newline'");
	const char *kv[] = { "command", sh, NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	char *log, *want;

	capture_begin();
	run(conf, ev, &r);
	log = capture_end(NULL);
	ck_assert_msg(r.ok, "%s", r.detail);
	want = xasprintf("info: stdout: hello sink=t delivery=%s",
	    ev->delivery_id);
	ck_assert_msg(strstr(log, want) != NULL, "log:\n%s", log);
	free(want);
	ck_assert_msg(strstr(log, "warning: stderr: a\\x1b[31mb\\tc sink=t")
	    != NULL, "log:\n%s", log);
	ck_assert_msg(strstr(log, "info: stdout: x\\x00y sink=t") != NULL,
	    "log:\n%s", log);
	ck_assert_msg(strstr(log, "info: stdout: no newline sink=t") != NULL,
	    "log:\n%s", log);
	free(log);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
}
END_TEST

/* A long line of Thai is cut into pieces between characters. */
START_TEST(output_utf8_pieces)
{
	char *text = xmalloc(400 * 3 + 2), *body, *sh, *log;
	const char *kv[] = { "command", NULL, NULL };
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	void *conf;
	size_t i;

	for (i = 0; i < 400; i++)
		memcpy(text + 3 * i, "ส", 3);
	memcpy(text + 1200, "\n", 2);
	tu_write_file(at("thai"), text, 1201);
	body = xasprintf("cat %s", at("thai"));
	sh = script("thai.sh", body);
	kv[1] = sh;
	conf = conf_of(kv);
	capture_begin();
	run(conf, ev, &r);
	log = capture_end(NULL);
	ck_assert_msg(r.ok, "%s", r.detail);
	ck_assert_int_eq(count_of(log, "stdout: "), 2);
	ck_assert_int_eq(count_of(log, "ส"), 400);
	ck_assert_msg(strstr(log, "\\x") == NULL, "log:\n%s", log);
	free(log);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
	free(body);
	free(text);
}
END_TEST

/* About 1.2 MB of lines with max_output 1k: a few lines, then one saying
 * how much was dropped. */
START_TEST(output_bounded)
{
	char *sh = script("seq.sh", "seq 1 200000; echo last words >&2; "
	    "exit 2");
	const char *kv[] = { "command", sh, "max_output", "1k", NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	size_t len;
	char *log;

	capture_begin();
	run(conf, ev, &r);
	log = capture_end(&len);
	ck_assert(!r.ok);
	ck_assert_msg(strstr(r.detail, "stderr: last words") != NULL,
	    "%s", r.detail);
	ck_assert_int_le(count_of(log, "stdout: "), 1024 / 2);
	ck_assert_int_eq(count_of(log, "stdout: 1 "), 1);
	ck_assert_int_eq(count_of(log, "bytes of output dropped"), 1);
	/* seq prints 1288895 bytes, then stderr 11; 1024 are logged. */
	ck_assert_msg(strstr(log, "1287882 bytes of output dropped "
	    "(max_output 1024)") != NULL, "log:\n%.2000s", log);
	ck_assert_uint_lt(len, 1024 * 64);
	free(log);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
}
END_TEST

/* One 1 MiB line, echoed from stdin: logged in pieces of 1000 bytes, each
 * a whole log line, up to max_output (the default 64k), while stdin is
 * still being written. */
START_TEST(output_long_line)
{
	size_t n = 1024 * 1024;
	char *body = xmalloc(n), *log, *sh = script("cat.sh", "exec cat");
	const char *kv[] = { "command", sh, NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev;
	struct sink_result r;
	size_t len, hl;

	hl = (size_t)snprintf(body, 64, "{\"event\":\"x\",\"pad\":\"");
	memset(body + hl, 'a', n - hl - 2);
	memcpy(body + n - 2, "\"}", 2);
	ev = event_of(body, n);
	capture_begin();
	run(conf, ev, &r);
	log = capture_end(&len);
	ck_assert_msg(r.ok, "%s", r.detail);
	ck_assert_int_eq(count_of(log, "stdout: "), 66);
	ck_assert_int_eq(count_of(log, "a sink=t delivery="), 65);
	ck_assert_int_eq(count_of(log, "a... sink=t delivery="), 1);
	ck_assert_msg(strstr(log, "983040 bytes of output dropped") != NULL,
	    "log:\n%.2000s", log);
	ck_assert_uint_lt(len, 65536 + 67 * 150);
	free(log);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
	free(body);
}
END_TEST

/* --- how a run ends --- */

START_TEST(exit_status)
{
	char *sh = script("fail.sh", "for i in 1 2 3 4 5 6 7; do "
	    "echo \"line $i\" >&2; done; echo; exit 3");
	const char *kv[] = { "command", sh, NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	char *log;

	capture_begin();
	run(conf, ev, &r);
	log = capture_end(NULL);
	ck_assert(!r.ok);
	/* The exit code, not the wait status (768). */
	ck_assert(r.exited);
	ck_assert_int_eq(r.exit_status, 3);
	ck_assert_int_eq(r.signal, 0);
	ck_assert_str_eq(r.detail, "exited with status 3; stderr: line 3 | "
	    "line 4 | line 5 | line 6 | line 7");
	ck_assert_msg(strstr(log, "warning: exited with status 3 sink=t")
	    != NULL, "log:\n%s", log);
	free(log);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
}
END_TEST

START_TEST(killed_by_signal)
{
	char *sh = script("sig.sh", "kill -USR1 $$; sleep 5");
	const char *kv[] = { "command", sh, NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	char want[64];

	run(conf, ev, &r);
	ck_assert(!r.ok);
	ck_assert(!r.exited);
	ck_assert_int_eq(r.exit_status, 0);
	ck_assert_int_eq(r.signal, SIGUSR1);
	snprintf(want, sizeof want, "killed by signal %d (SIGUSR1)", SIGUSR1);
	ck_assert_str_eq(r.detail, want);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
}
END_TEST

START_TEST(timeout)
{
	char *sh = script("slow.sh", "echo working >&2; sleep 30");
	const char *kv[] = { "command", sh, "timeout", "300ms",
	    "kill_after", "200ms", NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	long long ms;

	ms = run(conf, ev, &r);
	ck_assert(!r.ok);
	ck_assert_int_ge(ms, 300);
	ck_assert_int_lt(ms, 1000);
	ck_assert_str_eq(r.detail, "timed out after 300ms; stderr: working");
	ck_assert(!r.exited);
	ck_assert_int_eq(r.signal, SIGTERM);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
}
END_TEST

/* Ignoring SIGTERM buys kill_after, then SIGKILL. */
START_TEST(timeout_sigkill)
{
	char *sh = script("stubborn.sh", "trap '' TERM; sleep 30");
	const char *kv[] = { "command", sh, "timeout", "300ms",
	    "kill_after", "200ms", NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	long long ms;

	ms = run(conf, ev, &r);
	ck_assert(!r.ok);
	ck_assert_int_ge(ms, 500);
	ck_assert_int_lt(ms, 1200);
	ck_assert_str_eq(r.detail, "timed out after 300ms");
	ck_assert(!r.exited);
	ck_assert_int_eq(r.signal, SIGKILL);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
}
END_TEST

/* Whether pid has ended (gone, or a zombie nobody reaps here). */
static bool
dead(pid_t pid)
{
	char path[64], *stat, *p;
	bool gone;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;
	fclose(f);
	stat = tu_read_file(path, NULL);
	p = strrchr(stat, ')');
	gone = p != NULL && (p[2] == 'Z' || p[2] == 'X');
	free(stat);
	return gone;
}

static pid_t
read_pid(const char *name)
{
	char *s;
	long pid;

	ck_assert(tu_wait_file_lines(at(name), 1, 2000));
	s = tu_read_file(at(name), NULL);
	pid = atol(s);
	free(s);
	ck_assert_int_gt(pid, 1);
	return (pid_t)pid;
}

/* The whole group goes: a background child of the script too, even one
 * that ignores SIGTERM and holds the output pipes. */
START_TEST(timeout_group)
{
	char *body = xasprintf("sleep 30 & echo $! > %s\n"
	    "(trap '' TERM; exec sleep 31) & echo $! > %s\nwait",
	    at("bg1.pid"), at("bg2.pid"));
	char *sh = script("group.sh", body);
	const char *kv[] = { "command", sh, "timeout", "300ms",
	    "kill_after", "200ms", NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	long long ms, t0;
	pid_t bg1, bg2;

	ms = run(conf, ev, &r);
	ck_assert(!r.ok);
	ck_assert_int_lt(ms, 1200);
	ck_assert_str_eq(r.detail, "timed out after 300ms");
	bg1 = read_pid("bg1.pid");
	bg2 = read_pid("bg2.pid");
	t0 = tu_now_ms();
	while ((!dead(bg1) || !dead(bg2)) && tu_now_ms() - t0 < 1000)
		usleep(10000);
	ck_assert_msg(dead(bg1), "background sleep %ld survived", (long)bg1);
	ck_assert_msg(dead(bg2), "background sleep %ld survived", (long)bg2);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
	free(body);
}
END_TEST

/* A script that exits, leaving a background process with the output
 * pipes: done shortly after the exit, not when the straggler is. */
START_TEST(exit_leaves_background)
{
	char *body = xasprintf("sleep 3 & echo $! > %s; echo bye; exit 0",
	    at("bg.pid"));
	char *sh = script("bg.sh", body);
	const char *kv[] = { "command", sh, NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	long long ms;

	ms = run(conf, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	ck_assert_int_lt(ms, 1000);
	kill(read_pid("bg.pid"), SIGKILL);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
	free(body);
}
END_TEST

/* A script that closes its output and runs on: the run ends at its exit,
 * with its exit code, not when the output closes. */
START_TEST(output_closed_before_exit)
{
	char *sh = script("quiet.sh", "echo before; exec >&- 2>&-; "
	    "sleep 0.3; exit 4");
	const char *kv[] = { "command", sh, NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	long long ms;
	char *log;

	capture_begin();
	ms = run(conf, ev, &r);
	log = capture_end(NULL);
	ck_assert(!r.ok);
	ck_assert(r.exited);
	ck_assert_int_eq(r.exit_status, 4);
	ck_assert_str_eq(r.detail, "exited with status 4");
	ck_assert_int_ge(ms, 300);
	ck_assert_msg(strstr(log, "stdout: before") != NULL, "log:\n%s", log);
	free(log);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
}
END_TEST

/* With SIGCHLD ignored the kernel reaps the child itself: the run still
 * ends when the child does (quickly, or after a while), its status said
 * to be lost. The test runs in a process of its own (CK_FORK). */
START_TEST(sigchld_ignored)
{
	const char *bodies[] = { "exit 0", "sleep 0.3; exit 0" };
	struct sigaction ign, old;
	struct sink_result r;
	long long ms;
	size_t i;

	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	ck_assert_int_eq(sigaction(SIGCHLD, &ign, &old), 0);
	for (i = 0; i < nitems(bodies); i++) {
		char *sh = script("ok.sh", bodies[i]);
		const char *kv[] = { "command", sh, NULL };
		void *conf = conf_of(kv);
		struct ld_event *ev = event_fixture("message_created.json");

		ms = run(conf, ev, &r);
		ck_assert(!r.ok);
		ck_assert(!r.exited);
		ck_assert_int_eq(r.signal, 0);
		ck_assert_str_eq(r.detail,
		    "exit status lost (is SIGCHLD ignored?)");
		if (i == 1)
			ck_assert_int_ge(ms, 300);
		ld_event_unref(ev);
		ops->conf_free(conf);
		free(sh);
	}
	ck_assert_int_eq(sigaction(SIGCHLD, &old, NULL), 0);
}
END_TEST

static void *
cancel_later(void *arg)
{
	(void)arg;
	usleep(200 * 1000);
	atomic_store(&cancel_flag, true);
	return NULL;
}

START_TEST(cancel)
{
	char *sh = script("long.sh", "sleep 30");
	const char *kv[] = { "command", sh, "kill_after", "200ms", NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	pthread_t t;
	long long ms;

	ck_assert_int_eq(pthread_create(&t, NULL, cancel_later, NULL), 0);
	ms = run(conf, ev, &r);
	pthread_join(t, NULL);
	ck_assert(!r.ok);
	ck_assert_int_ge(ms, 200);
	ck_assert_int_lt(ms, 800);
	ck_assert_str_eq(r.detail, "cancelled at shutdown");
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
}
END_TEST

/* --- programs that cannot run --- */

START_TEST(missing)
{
	char *sh = xasprintf("%s/nope", dir), *err = NULL, *want, *log;
	const char *kv[] = { "command", sh, NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;

	ck_assert_int_eq(ops->probe(conf, &err), -1);
	want = xasprintf("command %s: No such file or directory", sh);
	ck_assert_str_eq(err, want);
	free(want);
	free(err);
	capture_begin();
	run(conf, ev, &r);
	log = capture_end(NULL);
	ck_assert(!r.ok);
	want = xasprintf("cannot run %s: No such file or directory", sh);
	ck_assert_str_eq(r.detail, want);
	ck_assert(!r.retry_later);	/* the program's fault: for good */
	ck_assert_msg(strstr(log, "error: cannot run") != NULL, "%s", log);
	free(want);
	free(log);
	ops->conf_free(conf);

	/* Not in PATH. */
	const char *kv2[] = { "command", "livedesk-no-such-hook", "env",
	    "PATH=/nonexistent:/usr/bin", NULL };
	conf = conf_of(kv2);
	err = NULL;
	ck_assert_int_eq(ops->probe(conf, &err), -1);
	ck_assert_str_eq(err, "command livedesk-no-such-hook: not found in "
	    "PATH (/nonexistent:/usr/bin)");
	free(err);
	run(conf, ev, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.detail, "cannot run livedesk-no-such-hook: not "
	    "found in PATH (/nonexistent:/usr/bin)");
	ops->conf_free(conf);

	/* A bad workdir. */
	const char *kv3[] = { "command", "/bin/true", "workdir",
	    "/nonexistent", NULL };
	conf = conf_of(kv3);
	err = NULL;
	ck_assert_int_eq(ops->probe(conf, &err), -1);
	ck_assert_str_eq(err, "workdir /nonexistent: No such file or "
	    "directory");
	free(err);
	run(conf, ev, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.detail, "cannot change to workdir /nonexistent: "
	    "No such file or directory");
	ops->conf_free(conf);
	ld_event_unref(ev);
	free(sh);
}
END_TEST

/* Removed after start: the spawn itself fails. */
START_TEST(removed_after_start)
{
	char *sh = script("gone.sh", "exit 0"), *want;
	const char *kv[] = { "command", sh, NULL };
	void *conf = conf_of(kv), *state = start(conf);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;

	ck_assert_int_eq(unlink(sh), 0);
	ops->deliver(state, ev, &r);
	ck_assert(!r.ok);
	want = xasprintf("cannot run %s: No such file or directory", sh);
	ck_assert_str_eq(r.detail, want);
	free(want);
	/* Back again: runs. */
	free(script("gone.sh", "exit 0"));
	ops->deliver(state, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	ck_assert_int_eq(ops->reopen(state), 0);
	ops->stop(state);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
}
END_TEST

START_TEST(not_executable)
{
	char *sh = script("plain.sh", "exit 0"), *err = NULL, *want;
	const char *kv[] = { "command", sh, NULL };
	void *conf = conf_of(kv);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;

	ck_assert_int_eq(chmod(sh, 0644), 0);
	ck_assert_int_eq(ops->probe(conf, &err), -1);
	want = xasprintf("command %s: Permission denied", sh);
	ck_assert_str_eq(err, want);
	free(want);
	free(err);
	run(conf, ev, &r);
	ck_assert(!r.ok);
	want = xasprintf("cannot run %s: Permission denied", sh);
	ck_assert_str_eq(r.detail, want);
	free(want);
	ops->conf_free(conf);

	/* A directory is not a program either. */
	const char *kv2[] = { "command", dir, NULL };
	conf = conf_of(kv2);
	err = NULL;
	ck_assert_int_eq(ops->probe(conf, &err), -1);
	want = xasprintf("command %s: Permission denied", dir);
	ck_assert_str_eq(err, want);
	free(want);
	free(err);
	ops->conf_free(conf);
	ld_event_unref(ev);
	free(sh);
}
END_TEST

/* Out of descriptors, the program cannot get its pipes: that is the
 * machine's shortage, to retry later, not a failure of the event. */
START_TEST(out_of_descriptors)
{
	char *sh = script("ok.sh", "cat > /dev/null"), *want;
	const char *kv[] = { "command", sh, NULL };
	void *conf = conf_of(kv), *state = start(conf);
	struct ld_event *ev = event_fixture("message_created.json");
	struct sink_result r;
	struct rlimit old, low;
	int next = dup(0);

	/* Only the descriptors open now: the next one is refused. */
	ck_assert_int_ge(next, 0);
	close(next);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)next;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ops->deliver(state, ev, &r);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert(!r.ok);
	ck_assert(r.retry_later);
	want = xasprintf("cannot run %s: Too many open files", sh);
	ck_assert_str_eq(r.detail, want);
	free(want);
	/* Descriptors again: it runs. */
	ops->deliver(state, ev, &r);
	ck_assert_msg(r.ok, "%s", r.detail);
	ck_assert(!r.retry_later);
	ops->stop(state);
	ld_event_unref(ev);
	ops->conf_free(conf);
	free(sh);
}
END_TEST

static Suite *
exec_suite(void)
{
	Suite *s = suite_create("exec");
	TCase *tc;

	tc = tcase_create("conf");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, conf_errors);
	tcase_add_test(tc, conf_print);
	tcase_add_test(tc, quoting);
	tcase_add_test(tc, sh_c);
	tcase_add_test(tc, path_lookup);
	suite_add_tcase(s, tc);

	tc = tcase_create("input");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, env_message_created);
	tcase_add_test(tc, env_conversation_created);
	tcase_add_test(tc, env_message_updated_failed);
	tcase_add_test(tc, env_typing);
	tcase_add_test(tc, env_webwidget_triggered);
	tcase_add_test(tc, env_contact_and_inbox);
	tcase_add_test(tc, env_lines);
	tcase_add_test(tc, stdin_big);
	tcase_add_test(tc, stdin_unread);
	tcase_add_test(tc, child_setup);
	tcase_add_test(tc, concurrent);
	suite_add_tcase(s, tc);

	tc = tcase_create("output");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, output_logged);
	tcase_add_test(tc, output_utf8_pieces);
	tcase_add_test(tc, output_bounded);
	tcase_add_test(tc, output_long_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("end");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, exit_status);
	tcase_add_test(tc, killed_by_signal);
	tcase_add_test(tc, timeout);
	tcase_add_test(tc, timeout_sigkill);
	tcase_add_test(tc, timeout_group);
	tcase_add_test(tc, exit_leaves_background);
	tcase_add_test(tc, output_closed_before_exit);
	tcase_add_test(tc, sigchld_ignored);
	tcase_add_test(tc, cancel);
	tcase_add_test(tc, missing);
	tcase_add_test(tc, removed_after_start);
	tcase_add_test(tc, not_executable);
	tcase_add_test(tc, out_of_descriptors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(exec_suite());
	int failed;

	log_init(LOG_TARGET_STDERR, LOG_INFO);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
