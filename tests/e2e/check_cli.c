/*
 * The script author's tools and examples (issue 15): --dry-run tells the
 * truth about every fixture (which sinks the real daemon reaches, and what
 * an exec program gets), --run-once delivers in the foreground and says
 * which sink failed and why, both read - as standard input; the persistent
 * examples (auto-reply.py, persistent.sh) speak the JSON Lines protocol,
 * by hand and under the daemon.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"

extern char **environ;

#define ARGS(...)	((const char *const[]){ __VA_ARGS__, NULL })
#define ENV(...)	((const char *const[]){ __VA_ARGS__, NULL })

static char *T;		/* this test's private directory */

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
	T = NULL;
}

static char *
path_in(const char *dir, const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

/* An executable script in T. */
static char *
script(const char *name, const char *text)
{
	char *p = path_in(T, name);

	tu_write_file(p, text, strlen(text));
	ck_assert_int_eq(chmod(p, 0755), 0);
	return p;
}

/* A configuration file in T. */
static char *
conf_file(const char *text)
{
	char *p = path_in(T, "test.conf");

	tu_write_file(p, text, strlen(text));
	return p;
}

/* Whether the file at path holds exactly want. */
static bool
file_is(const char *path, const char *want)
{
	char *text = tu_read_file(path, NULL);
	bool eq = strcmp(text, want) == 0;

	if (!eq)
		fprintf(stderr, "%s holds:\n%s\n", path, text);
	free(text);
	return eq;
}

/* Whether the file at path holds needle. */
static bool
file_has(const char *path, const char *needle)
{
	char *text = tu_read_file(path, NULL);
	bool has = strstr(text, needle) != NULL;

	free(text);
	return has;
}

struct run {
	pid_t	 pid;
	int	 status;	/* exit status, or 128 + signal */
	char	*out;
	char	*err;
	char	*out_path, *err_path;
};

/* Starts argv (argv[0] a path) with stdin from in_path (NULL: /dev/null),
 * stdout and stderr to files in T, and the test's environment plus env. */
static void
run_start(struct run *r, const char *const *argv, const char *const *env,
    const char *in_path)
{
	static int seq;
	posix_spawn_file_actions_t fa;
	const char *envp[512];
	size_t n = 0;
	char name[32];

	memset(r, 0, sizeof *r);
	snprintf(name, sizeof name, "run%d.out", seq);
	r->out_path = path_in(T, name);
	snprintf(name, sizeof name, "run%d.err", seq++);
	r->err_path = path_in(T, name);
	for (char **e = environ; *e != NULL && n < 400; e++)
		envp[n++] = *e;
	for (; env != NULL && *env != NULL && n < 510; env++)
		envp[n++] = *env;
	envp[n] = NULL;
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 0,
	    in_path != NULL ? in_path : "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 1, r->out_path,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 2, r->err_path,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	ck_assert_int_eq(posix_spawn(&r->pid, argv[0], &fa, NULL,
	    (char *const *)argv, (char *const *)envp), 0);
	posix_spawn_file_actions_destroy(&fa);
}

static void
run_wait(struct run *r)
{
	int st;

	ck_assert_int_eq(waitpid(r->pid, &st, 0), r->pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = tu_read_file(r->out_path, NULL);
	r->err = tu_read_file(r->err_path, NULL);
}

static void
run(struct run *r, const char *const *argv, const char *const *env,
    const char *in_path)
{
	run_start(r, argv, env, in_path);
	run_wait(r);
}

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	free(r->out_path);
	free(r->err_path);
}

/* livedesk-webhookd -c conf, then args. */
static void
daemon_cmd(struct run *r, const char *conf, const char *const *args,
    const char *in_path)
{
	const char *argv[16];
	char bin[300];
	size_t n = 0;

	snprintf(bin, sizeof bin, "%s/livedesk-webhookd", tu_build_dir());
	argv[n++] = bin;
	argv[n++] = "-c";
	argv[n++] = conf;
	for (; *args != NULL && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	run(r, argv, NULL, in_path);
}

#define ck_exit(r, want)	ck_assert_msg((r)->status == (want), \
	"exit %d, not %d; stdout:\n%s\nstderr:\n%s", (r)->status, (want), \
	(r)->out, (r)->err)

/* What --dry-run says of sink name: 1 takes it, 0 does not, -1 silent. */
static int
dry_takes(const char *out, const char *name)
{
	char head[128];
	const char *p;

	snprintf(head, sizeof head, "\nsink %s (", name);
	if ((p = strstr(out, head)) == NULL)
		return -1;
	ck_assert_msg(strstr(p + 1, head) == NULL, "sink %s twice", name);
	p = strchr(p + strlen(head), ')');
	ck_assert_ptr_nonnull(p);
	if (strncmp(p, "): takes it\n", 12) == 0)
		return 1;
	if (strncmp(p, "): does not take it: ", 21) == 0 &&
	    strchr(p + 21, '\n') - (p + 21) > 5)
		return 0;
	return -1;
}

/* ---- --dry-run against the real daemon, on every fixture ---- */

#define N_SINKS	6
static const char *const sink_names[N_SINKS] = {
	"every", "conv", "inbox9", "bot", "notes", "orders",
};

/* Whether the daemon ran sink name for delivery id: its line in T/ran. */
static bool
ran(const char *log, const char *name, const char *id)
{
	char want[128];

	snprintf(want, sizeof want, "%s %s\n", name, id);
	return strstr(log, want) != NULL;
}

/*
 * Every fixture through --dry-run, then the same payloads through the real
 * daemon over HTTP: each sink --dry-run says takes it ran, each it says
 * does not never did. Three file sinks (every event; two event names; an
 * inbox no fixture has) and three exec sinks (the loop guard's defaults;
 * private notes only; a match on the content) all record into T/ran.
 */
START_TEST(dry_run_tells_the_truth_on_every_fixture)
{
	char *rec, *conf_text, *conf, *ran_path, *names[64], *says[64];
	char url[200], *ids[64], *log, *files[3];
	const char *file_sinks[3] = { "every", "conv", "inbox9" };
	struct tu_daemon d;
	struct tu_response resp;
	struct dirent *de;
	struct run r;
	json_t *j;
	DIR *dir;
	size_t n = 0, i, k, reached = 0, refused = 0;
	int t;

	ran_path = path_in(T, "ran");
	tu_write_file(ran_path, "", 0);
	rec = script("rec.sh", "#!/bin/sh\ncat >/dev/null\n"
	    "echo \"$LIVEDESK_SINK $LIVEDESK_DELIVERY_ID\" >>\"$RAN\"\n");
	for (k = 0; k < 3; k++)
		files[k] = path_in(T, file_sinks[k]);
	ck_assert_int_ge(asprintf(&conf_text,
	    "[sink every]\ntype = file\npath = %s\n"
	    "[sink conv]\ntype = file\npath = %s\n"
	    "events = conversation_created, conversation_updated\n"
	    "[sink inbox9]\ntype = file\npath = %s\ninbox = 9\n"
	    "[sink bot]\ntype = exec\ncommand = %s\nenv = RAN=%s\n"
	    "[sink notes]\ntype = exec\ncommand = %s\nenv = RAN=%s\n"
	    "message_type = any\nprivate = yes\n"
	    "[sink orders]\ntype = exec\ncommand = %s\nenv = RAN=%s\n"
	    "match = #[0-9]+\n",
	    files[0], files[1], files[2], rec, ran_path, rec, ran_path, rec,
	    ran_path), 0);
	conf = conf_file(conf_text);

	ck_assert_ptr_nonnull(dir = opendir("fixtures"));
	while ((de = readdir(dir)) != NULL) {
		if (strstr(de->d_name, ".json") == NULL)
			continue;
		ck_assert_uint_lt(n, 64);
		names[n] = path_in("fixtures", de->d_name);
		daemon_cmd(&r, conf, ARGS("--dry-run", names[n]), NULL);
		/* Every fixture is one the daemon takes. */
		ck_exit(&r, 0);
		says[n] = strdup(r.out);
		for (k = 0, t = 0; k < N_SINKS; k++) {
			int s = dry_takes(r.out, sink_names[k]);

			ck_assert_msg(s != -1, "%s: nothing clear on sink %s:\n%s",
			    names[n], sink_names[k], r.out);
			t += s;
		}
		{
			char want[64];

			snprintf(want, sizeof want, "sinks: %d of %d take it\n",
			    t, N_SINKS);
			ck_assert_msg(strstr(r.out, want) != NULL, "%s: %s",
			    names[n], r.out);
		}
		run_free(&r);
		n++;
	}
	closedir(dir);
	ck_assert_uint_ge(n, 30);

	/* The same payloads, to the daemon. */
	ck_assert(tu_daemon_start(&d, conf_text, NULL));
	snprintf(url, sizeof url, "%s/webhook", d.url);
	for (i = 0; i < n; i++) {
		size_t len;
		char *body = tu_read_file(names[i], &len);

		tu_http(&resp, "POST", url, ENV("Content-Type: "
		    "application/json"), body, len);
		ck_assert_int_eq(resp.status, 200);
		j = json_loads(resp.body, 0, NULL);
		ck_assert_ptr_nonnull(j);
		ids[i] = strdup(json_string_value(json_object_get(j,
		    "delivery_id")));
		json_decref(j);
		tu_response_free(&resp);
		free(body);
	}
	/* The drain finishes every delivery before it exits. */
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	log = tu_read_file(ran_path, NULL);
	for (k = 0; k < 3; k++) {
		char *f;

		if (access(files[k], F_OK) != 0)
			tu_write_file(files[k], "", 0);
		f = tu_read_file(files[k], NULL);
		for (i = 0; i < n; i++) {
			char want[128];

			snprintf(want, sizeof want, "\"delivery_id\":\"%s\"",
			    ids[i]);
			ck_assert_msg((strstr(f, want) != NULL) ==
			    (dry_takes(says[i], file_sinks[k]) == 1),
			    "%s: sink %s: --dry-run says %s, the daemon %s",
			    names[i], file_sinks[k],
			    dry_takes(says[i], file_sinks[k]) ? "yes" : "no",
			    strstr(f, want) ? "ran it" : "did not");
			reached += strstr(f, want) != NULL;
			refused += strstr(f, want) == NULL;
		}
		free(f);
	}
	for (k = 3; k < N_SINKS; k++) {
		for (i = 0; i < n; i++) {
			bool yes = dry_takes(says[i], sink_names[k]) == 1;

			ck_assert_msg(ran(log, sink_names[k], ids[i]) == yes,
			    "%s: sink %s: --dry-run says %s, the daemon %s",
			    names[i], sink_names[k], yes ? "yes" : "no",
			    yes ? "did not run it" : "ran it");
			/* An exec sink it reaches: the program's view. */
			if (yes)
				ck_assert_ptr_nonnull(strstr(says[i],
				    "  environment ("));
			reached += yes;
			refused += !yes;
		}
	}
	/* Both answers occur, for every kind of reason. */
	ck_assert_uint_gt(reached, n);
	ck_assert_uint_gt(refused, n);
	for (i = 0; i < n; i++) {
		if (strstr(names[i], "/message_created.json") != NULL)
			ck_assert_ptr_nonnull(strstr(says[i], "sink bot (exec): "
			    "does not take it: message_type = incoming: the "
			    "message is outgoing (the loop guard"));
		if (strstr(names[i], "/message_created_incoming.json") !=
		    NULL) {
			ck_assert_ptr_nonnull(strstr(says[i], "sink inbox9 "
			    "(file): does not take it: inbox: 523 is not in "
			    "the list\n"));
			ck_assert_ptr_nonnull(strstr(says[i], "sink conv (file):"
			    " does not take it: events: message_created is "
			    "not in the list\n"));
			ck_assert_ptr_nonnull(strstr(says[i], "sink notes "
			    "(exec): does not take it: private = yes"));
		}
		if (strstr(names[i], "/conversation_created.json") != NULL)
			ck_assert_ptr_nonnull(strstr(says[i], "sink orders "
			    "(exec): does not take it: match = #[0-9]+: the "
			    "event has no message content\n"));
		free(names[i]);
		free(says[i]);
		free(ids[i]);
	}
	for (k = 0; k < 3; k++)
		free(files[k]);
	free(log);
	tu_daemon_free(&d);
	free(conf_text);
	free(conf);
	free(rec);
	free(ran_path);
}
END_TEST

/* The LIVEDESK_* lines of text (KEY=VALUE a line, after indent), sorted
 * into one string, without LIVEDESK_DELIVERY_ID (each run has its own). */
static char *
livedesk_vars(const char *text, const char *indent)
{
	char *lines[64], *out, *p, *nl, pre[64];
	size_t n = 0, i, k, len = 1;

	snprintf(pre, sizeof pre, "%sLIVEDESK_", indent);
	for (p = (char *)text; (p = strstr(p, pre)) != NULL; p = nl) {
		if (p != text && p[-1] != '\n') {
			nl = p + 1;
			continue;
		}
		p += strlen(indent);
		nl = strchrnul(p, '\n');
		if (strncmp(p, "LIVEDESK_DELIVERY_ID=", 21) != 0 && n < 64)
			lines[n++] = strndup(p, (size_t)(nl - p));
	}
	for (i = 1; i < n; i++)
		for (k = i; k > 0 && strcmp(lines[k - 1], lines[k]) > 0; k--) {
			p = lines[k];
			lines[k] = lines[k - 1];
			lines[k - 1] = p;
		}
	for (i = 0; i < n; i++)
		len += strlen(lines[i]) + 1;
	out = calloc(1, len);
	for (i = 0; i < n; i++) {
		strcat(out, lines[i]);
		strcat(out, "\n");
		free(lines[i]);
	}
	return out;
}

/*
 * What --dry-run prints for an exec sink is what --run-once's program then
 * gets: the same LIVEDESK_* variables and values, and the payload on its
 * stdin byte for byte. An env = line's value is never shown. Both read
 * the payload from - as well as from a file.
 */
START_TEST(dry_run_shows_what_the_program_gets)
{
	char *sh, *conf, *text, *envf, *inf, *fixture, *a, *b, *fix_text;
	char *env_text, *in_text;
	size_t fix_len, in_len;
	struct run r;

	envf = path_in(T, "env");
	inf = path_in(T, "in");
	sh = script("dump.sh", "#!/bin/sh\nenv >\"$OUT_ENV\"\n"
	    "cat >\"$OUT_IN\"\necho dumped\n");
	ck_assert_int_ge(asprintf(&text, "[sink dump]\ntype = exec\n"
	    "command = %s\nenv = OUT_ENV=%s\nenv = OUT_IN=%s\n"
	    "env = API_PASSWORD=hunter2-not-shown\n", sh, envf, inf), 0);
	conf = conf_file(text);
	fixture = "fixtures/message_created_incoming.json";
	fix_text = tu_read_file(fixture, &fix_len);

	daemon_cmd(&r, conf, ARGS("--dry-run", "-"), fixture);
	ck_exit(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "payload: - ("));
	ck_assert_int_eq(dry_takes(r.out, "dump"), 1);
	ck_assert_ptr_nonnull(strstr(r.out, "  command: "));
	ck_assert_ptr_nonnull(strstr(r.out, "    API_PASSWORD=(env =, not "
	    "shown)\n"));
	ck_assert_ptr_null(strstr(r.out, "hunter2"));
	ck_assert_ptr_nonnull(strstr(r.out, "    LIVEDESK_SINK=dump\n"));
	/* The payload, as received, after its heading. */
	ck_assert_ptr_nonnull(strstr(r.out, "bytes, the payload as "
	    "received):\n"));
	ck_assert_ptr_nonnull(strstr(strstr(r.out, "the payload as "
	    "received):\n"), fix_text));
	a = livedesk_vars(r.out, "    ");
	ck_assert_ptr_nonnull(strstr(a, "LIVEDESK_MESSAGE_TYPE=incoming\n"));
	ck_assert_ptr_nonnull(strstr(a, "LIVEDESK_CONVERSATION_ID=89\n"));
	run_free(&r);

	daemon_cmd(&r, conf, ARGS("--run-once", "-"), fixture);
	ck_exit(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "sink dump: delivered\n"));
	/* The program's output, on the terminal (the log on stderr). */
	ck_assert_ptr_nonnull(strstr(r.err, "stdout: dumped"));
	env_text = tu_read_file(envf, NULL);
	b = livedesk_vars(env_text, "");
	ck_assert_str_eq(a, b);
	ck_assert_ptr_nonnull(strstr(env_text,
	    "API_PASSWORD=hunter2-not-shown\n"));
	in_text = tu_read_file(inf, &in_len);
	ck_assert_uint_eq(in_len, fix_len);
	ck_assert_mem_eq(in_text, fix_text, fix_len);
	free(env_text);
	free(in_text);
	run_free(&r);
	free(a);
	free(b);
	free(fix_text);
	free(text);
	free(conf);
	free(sh);
	free(envf);
	free(inf);
}
END_TEST

/* ---- --run-once ---- */

/*
 * 0 when every sink that takes the event succeeded; 1, with the failing
 * sink's reason (its exit status and stderr), when one did not, the others
 * still delivered. --sink NAME runs only that one.
 */
START_TEST(run_once_exit_status_and_reason)
{
	char *ok, *bad, *text, *conf, *marks;
	struct run r;

	marks = path_in(T, "marks");
	tu_write_file(marks, "", 0);
	ok = script("ok.sh", "#!/bin/sh\ncat >/dev/null\n"
	    "echo \"$LIVEDESK_SINK\" >>\"$MARKS\"\necho all good\n");
	bad = script("bad.sh", "#!/bin/sh\ncat >/dev/null\n"
	    "echo \"$LIVEDESK_SINK\" >>\"$MARKS\"\n"
	    "echo 'the CRM said no' >&2\nexit 3\n");
	ck_assert_int_ge(asprintf(&text,
	    "[sink good]\ntype = exec\ncommand = %s\nenv = MARKS=%s\n"
	    "retries = 5\n"
	    "[sink failing]\ntype = exec\ncommand = %s\nenv = MARKS=%s\n"
	    "retries = 5\n"
	    "[sink good2]\ntype = exec\ncommand = %s\nenv = MARKS=%s\n",
	    ok, marks, bad, marks, ok, marks), 0);
	conf = conf_file(text);

	daemon_cmd(&r, conf, ARGS("--run-once",
	    "fixtures/message_created_incoming.json"), NULL);
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "sink failing failed: exited "
	    "with status 3; stderr: the CRM said no"));
	ck_assert_ptr_nonnull(strstr(r.out, "sink good: delivered\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "sink good2: delivered\n"));
	ck_assert_ptr_nonnull(strstr(r.err, "stdout: all good"));
	/* Once each, no retries, in the order of the file. */
	ck_assert(file_is(marks, "good\nfailing\ngood2\n"));
	run_free(&r);

	tu_write_file(marks, "", 0);
	daemon_cmd(&r, conf, ARGS("--run-once",
	    "fixtures/message_created_incoming.json", "--sink", "good2"),
	    NULL);
	ck_exit(&r, 0);
	ck_assert(file_is(marks, "good2\n"));
	run_free(&r);

	daemon_cmd(&r, conf, ARGS("--sink", "failing", "--run-once",
	    "fixtures/message_created_incoming.json"), NULL);
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "sink failing failed: exited "
	    "with status 3"));
	run_free(&r);

	/* A sink the event does not reach: not run, and the named one
	 * says why (the loop guard), exit 1. */
	tu_write_file(marks, "", 0);
	daemon_cmd(&r, conf, ARGS("--run-once", "fixtures/message_created.json",
	    "--sink", "good"), NULL);
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "sink good does not take this "
	    "event: message_type = incoming: the message is outgoing (the "
	    "loop guard"));
	run_free(&r);
	daemon_cmd(&r, conf, ARGS("--run-once", "fixtures/message_created.json"),
	    NULL);
	ck_exit(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "no sink takes this event"));
	ck_assert(file_is(marks, ""));
	run_free(&r);

	daemon_cmd(&r, conf, ARGS("--run-once",
	    "fixtures/message_created_incoming.json", "--sink", "nope"), NULL);
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "--sink nope: no such sink"));
	run_free(&r);
	free(text);
	free(conf);
	free(ok);
	free(bad);
	free(marks);
}
END_TEST

/* What the daemon would refuse, neither command delivers: the status and
 * the reason, exit 1; a missing file says so. Usage errors exit 2. */
START_TEST(refusals_and_usage)
{
	char *conf, *sh, *text, *bad, *big, *marks;
	struct run r;

	marks = path_in(T, "marks");
	sh = script("mark.sh", "#!/bin/sh\ntouch \"$MARK\"\n");
	ck_assert_int_ge(asprintf(&text, "[server]\nmax_body = 4k\n"
	    "[sink s]\ntype = exec\ncommand = %s\nmessage_type = any\n"
	    "env = MARK=%s\n", sh, marks), 0);
	conf = conf_file(text);
	bad = path_in(T, "bad.json");
	tu_write_file(bad, "{\"event\": ", 10);
	big = path_in(T, "big.json");
	{
		char body[6000];

		memset(body, ' ', sizeof body);
		memcpy(body, "{\"event\":\"message_created\"}", 27);
		tu_write_file(big, body, sizeof body);
	}
	daemon_cmd(&r, conf, ARGS("--dry-run", bad), NULL);
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "the daemon would refuse it: 400"));
	run_free(&r);
	daemon_cmd(&r, conf, ARGS("--run-once", "-"), bad);
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "the daemon would refuse it: 400"));
	run_free(&r);
	daemon_cmd(&r, conf, ARGS("--dry-run", "-"), big);
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "413, larger than max_body"));
	run_free(&r);
	daemon_cmd(&r, conf, ARGS("--run-once", big), NULL);
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "413"));
	run_free(&r);
	daemon_cmd(&r, conf, ARGS("--dry-run", "/nonexistent/x.json"), NULL);
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "cannot open /nonexistent/x.json: "
	    "No such file"));
	run_free(&r);
	ck_assert_int_ne(access(marks, F_OK), 0);

	daemon_cmd(&r, conf, ARGS("--sink", "s"), NULL);
	ck_exit(&r, 2);
	run_free(&r);
	daemon_cmd(&r, conf, ARGS("--dry-run", bad, "--run-once", bad), NULL);
	ck_exit(&r, 2);
	run_free(&r);
	daemon_cmd(&r, conf, ARGS("--dry-run"), NULL);
	ck_exit(&r, 2);
	run_free(&r);
	/* -l is checked as the file's listen is, not taken on trust. */
	daemon_cmd(&r, conf, ARGS("--check-config", "-l", "garbage"), NULL);
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "-l garbage: listen 'garbage': "
	    "expected ADDR:PORT"));
	run_free(&r);
	free(conf);
	free(sh);
	free(text);
	free(bad);
	free(big);
	free(marks);
}
END_TEST

/* Ctrl-C on --run-once stops the program as a shutdown does (SIGTERM to
 * its group), and the command exits 1 saying so; nothing is left behind. */
START_TEST(run_once_interrupted)
{
	char *sh, *text, *conf, *started, *termed, bin[300];
	struct run r;
	long long end;

	started = path_in(T, "started");
	termed = path_in(T, "termed");
	sh = script("slow.sh", "#!/bin/sh\ncat >/dev/null\n"
	    "trap 'echo term >\"$TERMED\"; exit 143' TERM\n"
	    "touch \"$STARTED\"\nsleep 30 & wait\n");
	ck_assert_int_ge(asprintf(&text, "[sink slow]\ntype = exec\n"
	    "command = %s\nenv = STARTED=%s\nenv = TERMED=%s\n", sh, started,
	    termed), 0);
	conf = conf_file(text);
	snprintf(bin, sizeof bin, "%s/livedesk-webhookd", tu_build_dir());
	run_start(&r, ARGS(bin, "-c", conf, "--run-once",
	    "fixtures/message_created_incoming.json"), NULL, NULL);
	end = tu_now_ms() + 10000;
	while (access(started, F_OK) != 0 && tu_now_ms() < end)
		usleep(10000);
	ck_assert_int_eq(access(started, F_OK), 0);
	ck_assert_int_eq(kill(r.pid, SIGINT), 0);
	run_wait(&r);
	ck_exit(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "SIGINT: stopping"));
	ck_assert_ptr_nonnull(strstr(r.err, "sink slow failed: cancelled"));
	ck_assert(file_is(termed, "term\n"));
	run_free(&r);
	free(sh);
	free(text);
	free(conf);
	free(started);
	free(termed);
}
END_TEST

/* ---- the persistent examples, by hand: the protocol's lines ---- */

/* One event line as the daemon writes it (issue 15's protocol). */
static char *
event_line(const char *id, const char *event, const char *env_json,
    const char *payload)
{
	char *s;

	ck_assert_int_ge(asprintf(&s, "{\"delivery_id\": \"%s\", \"event\": "
	    "\"%s\", \"env\": %s, \"payload\": %s}\n", id, event, env_json,
	    payload), 0);
	return s;
}

/* Answer line i (from 0) of text, parsed; the caller decrefs. */
static json_t *
answer(const char *text, int i)
{
	const char *p = text;
	json_error_t e;
	json_t *j;

	for (; i > 0 && p != NULL; i--)
		p = (p = strchr(p, '\n')) != NULL ? p + 1 : NULL;
	ck_assert_msg(p != NULL && *p != '\0', "no answer %d in:\n%s", i,
	    text);
	j = json_loadb(p, strcspn(p, "\n"), 0, &e);
	ck_assert_msg(j != NULL, "answer is not JSON (%s): %s", e.text, p);
	return j;
}

static void
ck_answer(const char *text, int i, bool ok, const char *id)
{
	json_t *j = answer(text, i);

	ck_assert_msg(json_is_boolean(json_object_get(j, "ok")) &&
	    json_is_true(json_object_get(j, "ok")) == ok, "answer %d: %s", i,
	    text);
	if (!ok)
		ck_assert(json_string_length(json_object_get(j, "error")) > 0);
	if (id != NULL)
		ck_assert_str_eq(json_string_value(json_object_get(j,
		    "delivery_id")), id);
	json_decref(j);
}

/*
 * auto-reply.py, fed three event lines and a broken one: it answers each
 * with one line, in order, echoing the delivery id; only the customer's
 * message gets a reply through livedesk-send (on the mock API); the broken
 * line is a failed answer, not the end of the bot; end of input ends it.
 */
START_TEST(python_example_speaks_the_protocol)
{
	char *in, *lines, *a, *b, *c, *log, port_env[64], send[400];
	struct run r;
	pid_t mock;
	int port;
	json_t *req;

	log = path_in(T, "requests.jsonl");
	tu_write_file(log, "", 0);
	mock = tu_mock_api_start(log, NULL, &port);
	snprintf(port_env, sizeof port_env, "LIVEDESK_API_URL=http://"
	    "127.0.0.1:%d", port);
	snprintf(send, sizeof send, "LIVEDESK_SEND=%s/livedesk-send",
	    tu_build_dir());
	a = event_line("d-1", "message_created", "{\"LIVEDESK_EVENT\": "
	    "\"message_created\", \"LIVEDESK_MESSAGE_TYPE\": \"incoming\", "
	    "\"LIVEDESK_CONVERSATION_ID\": \"141\", \"LIVEDESK_MESSAGE_ID\": "
	    "\"29\", \"LIVEDESK_MESSAGE_CONTENT\": \"สวัสดี $(exit 7)\"}",
	    "{\"event\": \"message_created\", \"id\": 29}");
	b = event_line("d-2", "message_created", "{\"LIVEDESK_EVENT\": "
	    "\"message_created\", \"LIVEDESK_MESSAGE_TYPE\": \"outgoing\", "
	    "\"LIVEDESK_CONVERSATION_ID\": \"141\"}", "{}");
	c = event_line("d-3", "conversation_created", "{\"LIVEDESK_EVENT\": "
	    "\"conversation_created\", \"LIVEDESK_CONVERSATION_ID\": \"141\"}",
	    "{}");
	ck_assert_int_ge(asprintf(&lines, "%s%s%snot json\n", a, b, c), 0);
	in = path_in(T, "in");
	tu_write_file(in, lines, strlen(lines));
	run(&r, ARGS("/usr/bin/env", "python3", "conf/examples/auto-reply.py"),
	    ENV(port_env, send, "LIVEDESK_API_KEY=k", "LIVEDESK_API_SECRET=s",
	    "ALWAYS_REPLY=1", "AUTO_REPLY_TEXT=ได้รับแล้ว",
	    "LIVEDESK_SEND_TIMEOUT=10"), in);
	ck_exit(&r, 0);
	ck_assert_int_eq(tu_count_lines(r.out_path), 4);
	ck_answer(r.out, 0, true, "d-1");
	ck_answer(r.out, 1, true, "d-2");
	ck_answer(r.out, 2, true, "d-3");
	ck_answer(r.out, 3, false, NULL);
	ck_assert_int_eq(tu_count_lines(log), 1);
	req = json_load_file(log, JSON_DISABLE_EOF_CHECK, NULL);
	ck_assert_ptr_nonnull(req);
	ck_assert_str_eq(json_string_value(json_object_get(req, "url")),
	    "/api/v2/accounts/conversations/141/messages");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(req,
	    "body")), "ได้รับแล้ว"));
	json_decref(req);
	run_free(&r);

	/* livedesk-send fails: the event's answer is a failure. */
	run(&r, ARGS("/usr/bin/env", "python3", "conf/examples/auto-reply.py"),
	    ENV("LIVEDESK_SEND=/bin/false", "ALWAYS_REPLY=1"), in);
	ck_exit(&r, 0);
	ck_answer(r.out, 0, false, "d-1");
	ck_assert_ptr_nonnull(strstr(r.out, "livedesk-send exited with "
	    "status 1"));
	ck_answer(r.out, 1, true, "d-2");
	run_free(&r);
	tu_mock_api_stop(mock);
	free(a);
	free(b);
	free(c);
	free(lines);
	free(in);
	free(log);
}
END_TEST

/* persistent.sh: one answer a line, echoing the id; each line appended to
 * EVENTS_FILE exactly (backslashes kept); a file it cannot write is a
 * failed answer, not the end of the loop. */
START_TEST(shell_example_speaks_the_protocol)
{
	char *in, *lines, *a, *b, *events, ev_env[600];
	struct run r;

	events = path_in(T, "events.jsonl");
	a = event_line("d-1", "message_created", "{\"LIVEDESK_EVENT\": "
	    "\"message_created\"}", "{\"content\": \"a\\\\b \\\" c\"}");
	b = event_line("d-2", "conversation_created", "{}", "{}");
	ck_assert_int_ge(asprintf(&lines, "%s%s", a, b), 0);
	in = path_in(T, "in");
	tu_write_file(in, lines, strlen(lines));
	snprintf(ev_env, sizeof ev_env, "EVENTS_FILE=%s", events);
	run(&r, ARGS("/bin/sh", "conf/examples/persistent.sh"), ENV(ev_env),
	    in);
	ck_exit(&r, 0);
	ck_assert_int_eq(tu_count_lines(r.out_path), 2);
	ck_answer(r.out, 0, true, "d-1");
	ck_answer(r.out, 1, true, "d-2");
	ck_assert(file_is(events, lines));
	run_free(&r);

	run(&r, ARGS("/bin/sh", "conf/examples/persistent.sh"),
	    ENV("EVENTS_FILE=/nonexistent/dir/events.jsonl"), in);
	ck_exit(&r, 0);
	ck_answer(r.out, 0, false, "d-1");
	ck_answer(r.out, 1, false, "d-2");
	ck_assert_ptr_nonnull(strstr(r.err, "cannot append"));
	run_free(&r);
	free(a);
	free(b);
	free(lines);
	free(in);
	free(events);
}
END_TEST

/* ---- the persistent examples under the daemon (mode = persistent) ---- */

/*
 * auto-reply.py as a persistent exec sink: the customer's message is
 * answered once through livedesk-send, the agent's own never (the loop
 * guard), and the process serves both events.
 */
START_TEST(python_example_under_the_daemon)
{
	char *log, *text, cwd[256], url[256];
	struct tu_daemon d;
	size_t len;
	char *body;
	struct tu_response resp;
	pid_t mock;
	int port;
	const char *const fx[] = { "fixtures/message_created_incoming.json",
	    "fixtures/message_created.json",
	    "fixtures/message_created_incoming.json" };
	size_t i;

	log = path_in(T, "requests.jsonl");
	tu_write_file(log, "", 0);
	mock = tu_mock_api_start(log, NULL, &port);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_ge(asprintf(&text, "[sink auto-reply]\ntype = exec\n"
	    "mode = persistent\ncommand = %s/conf/examples/auto-reply.py\n"
	    "env = LIVEDESK_SEND=%s/%s/livedesk-send\n"
	    "env = LIVEDESK_API_URL=http://127.0.0.1:%d\n"
	    "env = LIVEDESK_API_KEY=k\nenv = LIVEDESK_API_SECRET=s\n"
	    "env = ALWAYS_REPLY=1\nenv = AUTO_REPLY_STATE_DIR=%s\n",
	    cwd, cwd, tu_build_dir(), port, T), 0);
	ck_assert_msg(tu_daemon_start(&d, text, NULL), "the daemon did not "
	    "start (mode = persistent needs the persistent mode): %s",
	    d.log ? tu_read_file(d.log, NULL) : "");
	snprintf(url, sizeof url, "%s/webhook", d.url);
	for (i = 0; i < 3; i++) {
		body = tu_read_file(fx[i], &len);
		tu_http(&resp, "POST", url, ENV("Content-Type: "
		    "application/json"), body, len);
		ck_assert_int_eq(resp.status, 200);
		tu_response_free(&resp);
		free(body);
	}
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	/* Answered once: the second incoming message finds today's stamp. */
	ck_assert_msg(tu_count_lines(log) == 1, "%d replies; daemon log:\n%s",
	    tu_count_lines(log), tu_read_file(d.log, NULL));
	ck_assert(file_has(log, "/conversations/89/messages"));
	tu_daemon_free(&d);
	tu_mock_api_stop(mock);
	free(text);
	free(log);
}
END_TEST

/*
 * persistent.sh as a persistent exec sink: each event's line lands in
 * EVENTS_FILE, as the protocol says: the delivery id the daemon answered,
 * the event's name, its LIVEDESK_* variables, and the payload itself.
 */
/* A JSON line without the parts each run makes anew (the delivery id). */
static json_t *
line_without_id(const char *p, size_t len)
{
	json_t *j = json_loadb(p, len, 0, NULL), *env;

	ck_assert_msg(j != NULL, "not a JSON line: %.*s", (int)len, p);
	ck_assert_int_eq(json_object_del(j, "delivery_id"), 0);
	env = json_object_get(j, "env");
	ck_assert_int_eq(json_object_del(env, "LIVEDESK_DELIVERY_ID"), 0);
	return j;
}

/*
 * For a persistent sink --dry-run prints the line the handler would read:
 * the line --run-once then hands persistent.sh (which appends it to
 * EVENTS_FILE), the delivery id aside, which each run makes anew.
 */
START_TEST(dry_run_shows_the_persistent_line)
{
	char *events, *text, *conf, cwd[256], *got, *line;
	const char *fixture = "fixtures/message_created_incoming.json";
	json_t *a, *b;
	struct run r;

	events = path_in(T, "events.jsonl");
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_ge(asprintf(&text, "[sink journal]\ntype = exec\n"
	    "mode = persistent\ncommand = %s/conf/examples/persistent.sh\n"
	    "env = EVENTS_FILE=%s\n", cwd, events), 0);
	conf = conf_file(text);
	daemon_cmd(&r, conf, ARGS("--dry-run", "-"), fixture);
	ck_exit(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "  mode: persistent"));
	ck_assert_ptr_nonnull(strstr(r.out, "    EVENTS_FILE=(env =, not "
	    "shown)\n"));
	line = strstr(r.out, "  stdin line (");
	ck_assert_ptr_nonnull(line);
	line = strchr(line, '\n') + 1;
	a = line_without_id(line, strcspn(line, "\n"));
	run_free(&r);

	daemon_cmd(&r, conf, ARGS("--run-once", "-"), fixture);
	ck_exit(&r, 0);
	got = tu_read_file(events, NULL);
	b = line_without_id(got, strcspn(got, "\n"));
	ck_assert_msg(json_equal(a, b), "--dry-run's line is not the one the "
	    "handler got:\n%s", got);
	json_decref(a);
	json_decref(b);
	free(got);
	run_free(&r);
	free(conf);
	free(text);
	free(events);
}
END_TEST

START_TEST(shell_example_under_the_daemon)
{
	char *events, *text, cwd[256], url[256], *ids[2], *lines, *p;
	const char *const fx[] = { "fixtures/message_created_incoming.json",
	    "fixtures/conversation_created.json" };
	struct tu_daemon d;
	struct tu_response resp;
	json_t *j, *line, *want;
	size_t len, i;
	char *body;

	events = path_in(T, "events.jsonl");
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_ge(asprintf(&text, "[sink journal]\ntype = exec\n"
	    "mode = persistent\ncommand = %s/conf/examples/persistent.sh\n"
	    "env = EVENTS_FILE=%s\n", cwd, events), 0);
	ck_assert_msg(tu_daemon_start(&d, text, NULL), "the daemon did not "
	    "start (mode = persistent needs the persistent mode)");
	snprintf(url, sizeof url, "%s/webhook", d.url);
	for (i = 0; i < 2; i++) {
		body = tu_read_file(fx[i], &len);
		tu_http(&resp, "POST", url, ENV("Content-Type: "
		    "application/json"), body, len);
		ck_assert_int_eq(resp.status, 200);
		j = json_loads(resp.body, 0, NULL);
		ids[i] = strdup(json_string_value(json_object_get(j,
		    "delivery_id")));
		json_decref(j);
		tu_response_free(&resp);
		free(body);
	}
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&d)), 0);
	lines = tu_read_file(events, NULL);
	p = lines;
	for (i = 0; i < 2; i++) {
		line = json_loadb(p, strcspn(p, "\n"), 0, NULL);
		ck_assert_msg(line != NULL, "line %zu: %s", i, lines);
		ck_assert_str_eq(json_string_value(json_object_get(line,
		    "delivery_id")), ids[i]);
		want = json_load_file(fx[i], 0, NULL);
		ck_assert_str_eq(json_string_value(json_object_get(line,
		    "event")), json_string_value(json_object_get(want,
		    "event")));
		ck_assert_str_eq(json_string_value(json_object_get(
		    json_object_get(line, "env"), "LIVEDESK_EVENT")),
		    json_string_value(json_object_get(want, "event")));
		ck_assert_str_eq(json_string_value(json_object_get(
		    json_object_get(line, "env"), "LIVEDESK_DELIVERY_ID")),
		    ids[i]);
		ck_assert(json_equal(json_object_get(line, "payload"), want));
		json_decref(want);
		json_decref(line);
		p = strchr(p, '\n') + 1;
		free(ids[i]);
	}
	tu_daemon_free(&d);
	free(lines);
	free(text);
	free(events);
}
END_TEST

static Suite *
cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("tools");
	TCase *ex = tcase_create("examples");
	TCase *pm = tcase_create("persistent");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, dry_run_tells_the_truth_on_every_fixture);
	tcase_add_test(tc, dry_run_shows_what_the_program_gets);
	tcase_add_test(tc, run_once_exit_status_and_reason);
	tcase_add_test(tc, refusals_and_usage);
	tcase_add_test(tc, run_once_interrupted);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(ex, setup, teardown);
	tcase_set_timeout(ex, 60);
	tcase_add_test(ex, python_example_speaks_the_protocol);
	tcase_add_test(ex, shell_example_speaks_the_protocol);
	suite_add_tcase(s, ex);

	/* The daemon's mode = persistent. */
	tcase_add_checked_fixture(pm, setup, teardown);
	tcase_set_timeout(pm, 60);
	tcase_add_test(pm, python_example_under_the_daemon);
	tcase_add_test(pm, shell_example_under_the_daemon);
	tcase_add_test(pm, dry_run_shows_the_persistent_line);
	suite_add_tcase(s, pm);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cli_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
