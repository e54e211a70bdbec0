/*
 * How people will run it: `make install` into a DESTDIR (the layout, the
 * paths the units name, a configuration never overwritten) and `make
 * uninstall`; the units checked by systemd-analyze (verify, and a security
 * rating of 2.5 or better); the example configuration and the manual pages
 * complete for every option and key; the nginx and Caddy examples checked
 * by the real programs and put in front of the real daemon. `make check`
 * installs every program these need (systemd-analyze, groff, nginx, caddy,
 * openssl): one that is missing fails its test, it never passes unseen.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

#define ARGS(...)	((const char *const[]){ __VA_ARGS__, NULL })
/* A program the test needs; make deps-check installs it. */
#define NEED(ok, prog)	ck_assert_msg((ok), "%s is not installed (make " \
			    "deps-check installs it)", (prog))

static char *T;		/* this test's directory */

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

/* Whether prog is an executable in PATH. */
static bool
have(const char *prog)
{
	const char *path = getenv("PATH"), *p, *end;
	char buf[512];

	for (p = path ? path : "/usr/bin:/bin"; *p != '\0'; p = end + !!*end) {
		end = strchrnul(p, ':');
		snprintf(buf, sizeof buf, "%.*s/%s", (int)(end - p), p, prog);
		if (access(buf, X_OK) == 0)
			return true;
	}
	return false;
}

/*
 * Runs argv (found in PATH) with stdout to out (may be NULL: /dev/null),
 * stderr to err (NULL: with stdout), and the test's environment plus env
 * (NAME=VALUE, may be NULL), without make's own variables, so that a `make
 * check` above does not leak its jobserver into the make below. Returns
 * the wait status.
 */
static int
run_split(const char *const *argv, const char *const *env, const char *out,
    const char *err)
{
	const char *envp[512];
	posix_spawn_file_actions_t fa;
	size_t n = 0, i;
	pid_t pid;
	int fd, efd = -1, st, rc;

	for (i = 0; environ[i] != NULL && n < 480; i++)
		if (strncmp(environ[i], "MAKEFLAGS=", 10) != 0 &&
		    strncmp(environ[i], "MFLAGS=", 7) != 0 &&
		    strncmp(environ[i], "MAKELEVEL=", 10) != 0 &&
		    strncmp(environ[i], "MAKEOVERRIDES=", 14) != 0)
			envp[n++] = environ[i];
	for (; env != NULL && *env != NULL && n < 510; env++)
		envp[n++] = *env;
	envp[n] = NULL;
	fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	if (err != NULL) {
		efd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		ck_assert_int_ge(efd, 0);
	}
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, fd, 1), 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa,
	    efd >= 0 ? efd : fd, 2), 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv,
	    (char *const *)envp);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	if (efd >= 0)
		close(efd);
	ck_assert_msg(rc == 0, "spawn %s: %s", argv[0], strerror(rc));
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return st;
}

static int
run(const char *const *argv, const char *const *env, const char *out)
{
	return run_split(argv, env, out, NULL);
}

/* Whether every line of the file at path holds what. */
static bool
every_line_has(const char *path, const char *what)
{
	char *text = tu_read_file(path, NULL), *line, *save = NULL;
	bool all = true;

	for (line = strtok_r(text, "\n", &save); line != NULL && all;
	    line = strtok_r(NULL, "\n", &save))
		all = strstr(line, what) != NULL;
	free(text);
	return all;
}

static char *
path_in(const char *dir, const char *rel)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, rel), 0);
	return p;
}

/* make install or uninstall with the binaries of this build as they are
 * (-o: never rebuilt from here) and VAR=VALUE arguments; output in *log. */
static int
make_target(const char *target, const char *const *vars, char **log)
{
	const char *argv[24];
	char build[300], daemon[300], send[300];
	int argc = 0;

	snprintf(build, sizeof build, "BUILD=%s", tu_build_dir());
	snprintf(daemon, sizeof daemon, "%s/livedesk-webhookd",
	    tu_build_dir());
	snprintf(send, sizeof send, "%s/livedesk-send", tu_build_dir());
	argv[argc++] = "make";
	argv[argc++] = "-s";
	argv[argc++] = "--no-print-directory";
	argv[argc++] = "-o";
	argv[argc++] = daemon;
	argv[argc++] = "-o";
	argv[argc++] = send;
	argv[argc++] = build;
	argv[argc++] = target;
	for (; vars != NULL && *vars != NULL && argc < 23; vars++)
		argv[argc++] = *vars;
	argv[argc] = NULL;
	*log = path_in(T, "make.log");
	return run(argv, NULL, *log);
}

static void
install_ok(const char *const *vars)
{
	char *log;
	int st = make_target("install", vars, &log);

	if (st != 0) {
		char *text = tu_read_file(log, NULL);

		ck_abort_msg("make install: status %#x:\n%s", st, text);
	}
	free(log);
}

static void
uninstall_ok(const char *const *vars, char **out)
{
	char *log;
	int st = make_target("uninstall", vars, &log);
	char *text = tu_read_file(log, NULL);

	ck_assert_msg(st == 0, "make uninstall: status %#x:\n%s", st, text);
	free(log);
	if (out != NULL)
		*out = text;
	else
		free(text);
}

static mode_t
mode_of(const char *root, const char *rel)
{
	char *p = path_in(root, rel);
	struct stat st;

	ck_assert_msg(stat(p, &st) == 0, "%s: %s", p, strerror(errno));
	free(p);
	return st.st_mode;
}

static char *
read_in(const char *root, const char *rel)
{
	char *p = path_in(root, rel), *text = tu_read_file(p, NULL);

	free(p);
	return text;
}

/* What an installed tree holds: "f MODE path" or "d MODE path" lines. */
static char *found;
static const char *found_root;

static int
list_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	char *tmp;

	(void)flag;
	(void)ftw;
	if (strcmp(p, found_root) == 0)
		return 0;
	ck_assert_int_ge(asprintf(&tmp, "%s%c %04o %s\n", found ? found : "",
	    S_ISDIR(sb->st_mode) ? 'd' : 'f', (unsigned)(sb->st_mode & 07777),
	    p + strlen(found_root)), 0);
	free(found);
	found = tmp;
	return 0;
}

static char *
list_tree(const char *root)
{
	found = NULL;
	found_root = root;
	ck_assert_int_eq(nftw(root, list_one, 16, FTW_PHYS), 0);
	return found ? found : strdup("");
}

START_TEST(install_layout)
{
	char *root = path_in(T, "root"), *dest, *unit, *a, *b, *conf, *bin;
	static const char *const want[] = {
		"/usr/local/sbin/livedesk-webhookd",
		"/usr/local/bin/livedesk-send",
		"/lib/systemd/system/livedesk-webhookd.service",
		"/lib/systemd/system/livedesk-webhookd.socket",
		"/etc/livedesk-webhookd/livedesk-webhookd.conf",
		"/usr/local/share/livedesk-webhookd/livedesk-webhookd.conf",
		"/usr/local/share/livedesk-webhookd/examples/auto-reply.sh",
		"/usr/local/share/livedesk-webhookd/examples/auto-reply.py",
		"/usr/local/share/livedesk-webhookd/examples/persistent.sh",
		"/usr/local/share/livedesk-webhookd/nginx/"
		    "livedesk-webhookd.conf",
		"/usr/local/share/livedesk-webhookd/caddy/Caddyfile",
		"/usr/local/share/man/man8/livedesk-webhookd.8",
		"/usr/local/share/man/man5/livedesk-webhookd.conf.5",
	};
	size_t i;

	ck_assert_int_ge(asprintf(&dest, "DESTDIR=%s", root), 0);
	install_ok(ARGS(dest));
	for (i = 0; i < sizeof want / sizeof want[0]; i++)
		(void)mode_of(root, want[i]);
	if (access("man/livedesk-send.1", F_OK) == 0)
		(void)mode_of(root,
		    "/usr/local/share/man/man1/livedesk-send.1");
	ck_assert_int_eq(mode_of(root, want[0]) & 0777, 0755);
	ck_assert_int_eq(mode_of(root, want[1]) & 0777, 0755);
	ck_assert_int_eq(mode_of(root, want[2]) & 0777, 0644);
	ck_assert_int_eq(mode_of(root, want[4]) & 0777, 0644);
	ck_assert_int_eq(mode_of(root, want[6]) & 0777, 0755);
	ck_assert_int_eq(mode_of(root, want[9]) & 0777, 0644);
	/* Secrets for LoadCredential= go here: root's only. */
	ck_assert_int_eq(mode_of(root, "/etc/livedesk-webhookd/credentials") &
	    07777, 0700);
	/* The unit names the installed paths. */
	unit = read_in(root, want[2]);
	ck_assert_ptr_nonnull(strstr(unit, "\nExecStart=/usr/local/sbin/"
	    "livedesk-webhookd --config /etc/livedesk-webhookd/"
	    "livedesk-webhookd.conf\n"));
	ck_assert_ptr_nonnull(strstr(unit, "\nType=notify\n"));
	ck_assert_ptr_nonnull(strstr(unit, "\nStateDirectory=livedesk-webhookd"
	    "\n"));
	free(unit);
	/* The configuration is the example, which the installed daemon
	 * takes as it is. */
	a = read_in(root, want[4]);
	b = read_in(root, want[5]);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	bin = path_in(root, want[0]);
	conf = path_in(root, want[4]);
	ck_assert_int_eq(run(ARGS(bin, "-c", conf, "--check-config"), NULL,
	    NULL), 0);
	free(bin);
	free(conf);
	free(dest);
	free(root);
}
END_TEST

START_TEST(install_paths_follow_variables)
{
	char *root = path_in(T, "root"), *dest, *unit, *conf, *sock;

	ck_assert_int_ge(asprintf(&dest, "DESTDIR=%s", root), 0);
	install_ok(ARGS(dest, "PREFIX=/opt/ld", "SYSCONFDIR=/opt/ld/etc",
	    "UNITDIR=/opt/ld/units"));
	(void)mode_of(root, "/opt/ld/sbin/livedesk-webhookd");
	(void)mode_of(root, "/opt/ld/bin/livedesk-send");
	(void)mode_of(root, "/opt/ld/share/man/man8/livedesk-webhookd.8");
	(void)mode_of(root, "/opt/ld/etc/livedesk-webhookd/"
	    "livedesk-webhookd.conf");
	unit = read_in(root, "/opt/ld/units/livedesk-webhookd.service");
	ck_assert_ptr_nonnull(strstr(unit, "\nExecStart=/opt/ld/sbin/"
	    "livedesk-webhookd --config /opt/ld/etc/livedesk-webhookd/"
	    "livedesk-webhookd.conf\n"));
	ck_assert_ptr_nonnull(strstr(unit, "#LoadCredential=token:/opt/ld/etc/"
	    "livedesk-webhookd/credentials/token\n"));
	ck_assert_ptr_null(strstr(unit, "/usr/local"));
	ck_assert_ptr_null(strstr(unit, "=token:/etc/"));
	conf = read_in(root, "/opt/ld/etc/livedesk-webhookd/"
	    "livedesk-webhookd.conf");
	ck_assert_ptr_nonnull(strstr(conf, "#command = /opt/ld/share/"
	    "livedesk-webhookd/examples/auto-reply.sh\n"));
	sock = read_in(root, "/opt/ld/units/livedesk-webhookd.socket");
	ck_assert_ptr_nonnull(strstr(sock, "\nListenStream=127.0.0.1:8080\n"));
	free(sock);
	free(conf);
	free(unit);
	free(dest);
	free(root);
}
END_TEST

START_TEST(install_keeps_config)
{
	char *root = path_in(T, "root"), *dest, *etc, *conf, *log, *text;
	char *sys = path_in(T, "root/etc");
	static const char mine[] = "[sink mine]\ntype = log\n";

	ck_assert_int_ge(asprintf(&dest, "DESTDIR=%s", root), 0);
	etc = path_in(root, "/etc/livedesk-webhookd");
	ck_assert_int_eq(mkdir(root, 0755), 0);
	ck_assert_int_eq(mkdir(sys, 0755), 0);
	ck_assert_int_eq(mkdir(etc, 0755), 0);
	free(sys);
	conf = path_in(etc, "livedesk-webhookd.conf");
	tu_write_file(conf, mine, strlen(mine));
	ck_assert_int_eq(make_target("install", ARGS(dest), &log), 0);
	text = tu_read_file(conf, NULL);
	ck_assert_str_eq(text, mine);
	free(text);
	text = tu_read_file(log, NULL);
	ck_assert_msg(strstr(text, "keeping") != NULL, "%s", text);
	free(text);
	/* A second install over the first keeps it too. */
	install_ok(ARGS(dest));
	text = tu_read_file(conf, NULL);
	ck_assert_str_eq(text, mine);
	free(text);
	free(log);
	free(conf);
	free(etc);
	free(dest);
	free(root);
}
END_TEST

START_TEST(uninstall_removes_everything)
{
	char *root = path_in(T, "root"), *dest, *left, *line, *save = NULL;

	ck_assert_int_ge(asprintf(&dest, "DESTDIR=%s", root), 0);
	install_ok(ARGS(dest));
	uninstall_ok(ARGS(dest), NULL);
	/* Only directories any package shares may stay (bin, share/man),
	 * and nothing at all of ours. */
	left = list_tree(root);
	for (line = strtok_r(left, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		ck_assert_msg(line[0] == 'd', "left behind: %s", line);
		ck_assert_msg(strstr(line, "livedesk") == NULL, "left behind: "
		    "%s", line);
	}
	free(left);
	/* Uninstalling what is not there is not an error. */
	uninstall_ok(ARGS(dest), NULL);
	free(dest);
	free(root);
}
END_TEST

START_TEST(uninstall_keeps_changed_config)
{
	char *root = path_in(T, "root"), *dest, *conf, *out, *text;
	FILE *f;

	ck_assert_int_ge(asprintf(&dest, "DESTDIR=%s", root), 0);
	install_ok(ARGS(dest));
	conf = path_in(root, "/etc/livedesk-webhookd/livedesk-webhookd.conf");
	f = fopen(conf, "a");
	ck_assert_ptr_nonnull(f);
	fputs("\n[sink mine]\ntype = log\n", f);
	ck_assert_int_eq(fclose(f), 0);
	uninstall_ok(ARGS(dest), &out);
	ck_assert_msg(strstr(out, "keeping") != NULL, "%s", out);
	text = tu_read_file(conf, NULL);
	ck_assert_ptr_nonnull(strstr(text, "[sink mine]"));
	free(text);
	text = path_in(root, "/usr/local/sbin/livedesk-webhookd");
	ck_assert_int_ne(access(text, F_OK), 0);
	free(text);
	text = path_in(root, "/lib/systemd/system/livedesk-webhookd.service");
	ck_assert_int_ne(access(text, F_OK), 0);
	free(text);
	free(out);
	free(conf);
	free(dest);
	free(root);
}
END_TEST

/* Installs for real paths under T (no DESTDIR), so that the units name
 * files that exist, as systemd-analyze wants. */
static void
install_under_t(char **units)
{
	char *prefix, *etc, *unitdir;

	ck_assert_int_ge(asprintf(&prefix, "PREFIX=%s/usr", T), 0);
	ck_assert_int_ge(asprintf(&etc, "SYSCONFDIR=%s/etc", T), 0);
	ck_assert_int_ge(asprintf(&unitdir, "UNITDIR=%s/units", T), 0);
	install_ok(ARGS(prefix, etc, unitdir));
	*units = path_in(T, "units");
	free(prefix);
	free(etc);
	free(unitdir);
}

START_TEST(units_verify)
{
	char *units, *svc, *sock, *out, *text, *manpath;
	int st;

	NEED(have("systemd-analyze"), "systemd-analyze");
	install_under_t(&units);
	svc = path_in(units, "livedesk-webhookd.service");
	sock = path_in(units, "livedesk-webhookd.socket");
	out = path_in(T, "verify.log");
	/* Documentation=man:... is checked too: the pages just installed. */
	ck_assert_int_ge(asprintf(&manpath, "MANPATH=%s/usr/share/man", T), 0);
	st = run(ARGS("systemd-analyze", "verify", svc, sock),
	    ARGS(manpath), out);
	text = tu_read_file(out, NULL);
	ck_assert_msg(st == 0 && text[0] == '\0', "systemd-analyze verify: "
	    "status %#x:\n%s", st, text);
	free(text);
	free(manpath);
	free(out);
	free(sock);
	free(svc);
	free(units);
}
END_TEST

START_TEST(units_security_rating)
{
	char *units, *svc, *out, *text, *p;
	double rating;
	int st;

	NEED(have("systemd-analyze"), "systemd-analyze");
	install_under_t(&units);
	svc = path_in(units, "livedesk-webhookd.service");
	out = path_in(T, "security.log");
	st = run(ARGS("systemd-analyze", "security", "--offline=yes",
	    "--threshold=25", svc), NULL, out);
	text = tu_read_file(out, NULL);
	ck_assert_msg(strstr(text, "offline") == NULL || strstr(text,
	    "Unknown") == NULL, "this systemd-analyze has no --offline:\n%s",
	    text);
	p = strstr(text, "Overall exposure level for "
	    "livedesk-webhookd.service: ");
	ck_assert_msg(p != NULL, "%s", text);
	rating = strtod(p + strlen("Overall exposure level for "
	    "livedesk-webhookd.service: "), NULL);
	printf("systemd-analyze security --offline=yes: %.1f\n", rating);
	ck_assert_msg(rating <= 2.5, "exposure %.1f, more than 2.5", rating);
	ck_assert_msg(st == 0, "status %#x:\n%s", st, text);
	free(text);
	free(out);
	free(svc);
	free(units);
}
END_TEST

/* --- the example configuration and the manual pages are complete --- */

/* The keys --check-config prints for conf_text, section by section:
 * "server:listen", "log:format", "source:url", ... one per line. A sink
 * that cannot work here (a Redis that is not running) is no matter: the
 * configuration is printed before the sinks are probed. */
static char *
printed_keys(const char *conf_text)
{
	char *conf = path_in(T, "keys.conf"), *out = path_in(T, "keys.out");
	char *err = path_in(T, "keys.err");
	char *text, *line, *save = NULL, *keys = NULL, *tmp, *eq;
	char bin[300], section[64] = "", type[64] = "";
	int st;

	tu_write_file(conf, conf_text, strlen(conf_text));
	snprintf(bin, sizeof bin, "%s/livedesk-webhookd", tu_build_dir());
	st = run_split(ARGS(bin, "-c", conf, "--check-config"), NULL, out,
	    err);
	text = tu_read_file(out, NULL);
	ck_assert_msg(st == 0 || every_line_has(err, "cannot reach Redis"),
	    "--check-config: %s", text);
	ck_assert_ptr_nonnull(strstr(text, "# effective configuration"));
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '[') {
			snprintf(section, sizeof section, "%s", line);
			snprintf(type, sizeof type, "%s", strcmp(line,
			    "[source]") == 0 ? "source" : "");
			continue;
		}
		if ((eq = strstr(line, " = ")) == NULL || line[0] == '#')
			continue;
		*eq = '\0';
		if (strcmp(line, "type") == 0) {
			snprintf(type, sizeof type, "%s", eq + 3);
			continue;
		}
		ck_assert_int_ge(asprintf(&tmp, "%s%s:%s\n", keys ? keys : "",
		    strcmp(section, "[server]") == 0 ? "server" : type, line),
		    0);
		free(keys);
		keys = tmp;
	}
	free(text);
	free(conf);
	free(out);
	free(err);
	return keys;
}

/* Whether text holds "KEY = " at the start of a line, or "#KEY = ". */
static bool
example_has(const char *text, const char *key)
{
	char *a, *b;
	bool yes;

	ck_assert_int_ge(asprintf(&a, "\n%s = ", key), 0);
	ck_assert_int_ge(asprintf(&b, "\n#%s = ", key), 0);
	yes = strstr(text, a) != NULL || strstr(text, b) != NULL;
	free(a);
	free(b);
	return yes;
}

/* Whether the man page documents key as a tagged paragraph:
 * ".BR key " at the start of a line. */
static bool
man_has(const char *page, const char *key)
{
	char *a;
	bool yes;

	ck_assert_int_ge(asprintf(&a, "\n.TP\n.BR %s \" = \"", key), 0);
	yes = strstr(page, a) != NULL;
	free(a);
	return yes;
}

START_TEST(every_key_documented)
{
	static const char *const confs[] = {
		"[sink a]\ntype = log\n",
		"[sink a]\ntype = file\npath = /tmp/x\n",
		"[sink a]\ntype = exec\ncommand = /bin/true\n",
		"[sink a]\ntype = redis\ntimeout = 10ms\n",
		"[source]\n[sink a]\ntype = log\n",
	};
	char *example = tu_read_file("conf/livedesk-webhookd.conf", NULL);
	char *page = tu_read_file("man/livedesk-webhookd.conf.5", NULL);
	char *keys, *line, *save, *key;
	size_t i;

	for (i = 0; i < sizeof confs / sizeof confs[0]; i++) {
		keys = printed_keys(confs[i]);
		save = NULL;
		for (line = strtok_r(keys, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			key = strchr(line, ':') + 1;
			ck_assert_msg(man_has(page, key), "%s is not in "
			    "livedesk-webhookd.conf(5)", line);
			ck_assert_msg(example_has(example, key), "%s is not in "
			    "conf/livedesk-webhookd.conf", line);
		}
		free(keys);
	}
	/* Keys --check-config does not print: the secrets and their
	 * files, the spool. */
	ck_assert(man_has(page, "token"));
	ck_assert(man_has(page, "signature_secret"));
	ck_assert(man_has(page, "standard_webhooks_secret"));
	ck_assert(man_has(page, "allow_from"));
	ck_assert(man_has(page, "trusted_proxies"));
	ck_assert(man_has(page, "spool_dir"));
	ck_assert(man_has(page, "env"));
	ck_assert(man_has(page, "password_file"));
	ck_assert(man_has(page, "consumer"));
	ck_assert(example_has(example, "token_file"));
	ck_assert(example_has(example, "signature_secret_file"));
	ck_assert(example_has(example, "standard_webhooks_secret_file"));
	ck_assert(example_has(example, "allow_from"));
	ck_assert(example_has(example, "trusted_proxies"));
	ck_assert(example_has(example, "spool_dir"));
	ck_assert(example_has(example, "env"));
	ck_assert(example_has(example, "password_file"));
	ck_assert(example_has(example, "consumer"));
	ck_assert(man_has(page, "admin_token"));
	ck_assert(example_has(example, "admin_token_file"));
	free(example);
	free(page);
}
END_TEST

START_TEST(every_option_documented)
{
	char bin[300], *out = path_in(T, "help.out"), *help, *page, *p, *q;
	char opt[64], want[160], *nl;
	size_t n = 0, i, w;

	snprintf(bin, sizeof bin, "%s/livedesk-webhookd", tu_build_dir());
	ck_assert_int_eq(run(ARGS(bin, "--help"), NULL, out), 0);
	help = tu_read_file(out, NULL);
	page = tu_read_file("man/livedesk-webhookd.8", NULL);
	for (p = help; (p = strstr(p, "  -")) != NULL; p = q) {
		/* "  -c, --config FILE" or "      --check-config" */
		q = strstr(p, "--");
		nl = strchr(p, '\n');
		if (q == NULL || (nl != NULL && nl < q)) {
			q = p + 3;
			continue;
		}
		q += 2;
		snprintf(opt, sizeof opt, "%.*s", (int)strspn(q,
		    "abcdefghijklmnopqrstuvwxyz-"), q);
		/* In roff every '-' of an option is written \-. */
		for (w = 0, i = 0; opt[i] != '\0' || i == 0; i++) {
			if (i == 0) {
				memcpy(want, "\\-\\-", 4);
				w = 4;
			}
			if (opt[i] == '-')
				want[w++] = '\\';
			want[w++] = opt[i];
			if (opt[i] == '\0')
				break;
		}
		want[w] = '\0';
		ck_assert_msg(strstr(page, want) != NULL, "--%s (%s) is not in "
		    "livedesk-webhookd(8)", opt, want);
		n++;
	}
	ck_assert_uint_ge(n, 8);
	/* And the environment and signals the issue names. */
	ck_assert_ptr_nonnull(strstr(page, "JOURNAL_STREAM"));
	ck_assert_ptr_nonnull(strstr(page, "LISTEN_FDS"));
	ck_assert_ptr_nonnull(strstr(page, "NOTIFY_SOCKET"));
	ck_assert_ptr_nonnull(strstr(page, "CREDENTIALS_DIRECTORY"));
	ck_assert_ptr_nonnull(strstr(page, ".SH EXIT STATUS"));
	ck_assert_ptr_nonnull(strstr(page, ".SH SIGNALS"));
	free(help);
	free(page);
	free(out);
}
END_TEST

/* Replaces every "from" in *text with "to". */
static void
replace_all(char **text, const char *from, const char *to)
{
	char *p, *out;
	size_t fl = strlen(from);

	while ((p = strstr(*text, from)) != NULL) {
		ck_assert_int_ge(asprintf(&out, "%.*s%s%s", (int)(p - *text),
		    *text, to, p + fl), 0);
		free(*text);
		*text = out;
	}
}

START_TEST(example_with_everything_uncommented)
{
	char *text = tu_read_file("conf/livedesk-webhookd.conf", NULL);
	char *out = NULL, *line, *save = NULL, *tmp, *cred, *f, *conf, *log;
	char *errs;
	char *cwd = getcwd(NULL, 0), *examples, bin[300];
	static const char *const secrets[][2] = {
		{ "token", "t0ken" },
		{ "signature_secret", "s3cret" },
		{ "standard_webhooks_secret",
		    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
		{ "redis", "r3dis" },
		{ "admin_token", "adm1n" },
	};
	size_t i;
	int st;

	/* Every commented key line and section, made real. */
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		bool key = line[0] == '#' && (line[1] == '[' ||
		    (line[1] >= 'a' && line[1] <= 'z' &&
		    strstr(line, " = ") != NULL &&
		    strspn(line + 1, "abcdefghijklmnopqrstuvwxyz_") ==
		    (size_t)(strstr(line, " = ") - line - 1)));

		ck_assert_int_ge(asprintf(&tmp, "%s%s\n", out ? out : "",
		    key ? line + 1 : line), 0);
		free(out);
		out = tmp;
	}
	free(text);
	cred = path_in(T, "cred/");
	ck_assert_int_eq(mkdir(cred, 0700), 0);
	for (i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
		f = path_in(cred, secrets[i][0]);
		tu_write_file(f, secrets[i][1], strlen(secrets[i][1]));
		free(f);
	}
	replace_all(&out, "/etc/livedesk-webhookd/credentials/", cred);
	tmp = path_in(T, "");
	replace_all(&out, "/var/log/livedesk-webhookd/", tmp);
	replace_all(&out, "/var/lib/livedesk-webhookd/", tmp);
	free(tmp);
	examples = path_in(cwd, "conf/examples/");
	replace_all(&out, "/usr/local/share/livedesk-webhookd/examples/",
	    examples);
	conf = path_in(T, "full.conf");
	tu_write_file(conf, out, strlen(out));
	log = path_in(T, "full.out");
	errs = path_in(T, "full.err");
	snprintf(bin, sizeof bin, "%s/livedesk-webhookd", tu_build_dir());
	/* Redis need not run here: that is the only complaint allowed. */
	st = run_split(ARGS(bin, "-c", conf, "--check-config"), NULL, log,
	    errs);
	text = tu_read_file(errs, NULL);
	ck_assert_msg(st == 0 || every_line_has(errs, "cannot reach Redis"),
	    "the example with every line uncommented:\n%s", text);
	free(text);
	text = tu_read_file(log, NULL);
	ck_assert_ptr_nonnull(strstr(text, "[sink archive]\ntype = file\n"));
	ck_assert_ptr_nonnull(strstr(text, "[sink auto-reply]\ntype = exec\n"));
	ck_assert_ptr_nonnull(strstr(text, "token = (set, not shown)"));
	ck_assert_ptr_nonnull(strstr(text,
	    "[sink to-workers]\ntype = redis\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n[source]\n"));
	free(text);
	free(errs);
	free(log);
	free(conf);
	free(examples);
	free(cred);
	free(cwd);
	free(out);
}
END_TEST

START_TEST(man_pages_render_cleanly)
{
	static const char *const pages[] = {
		"man/livedesk-webhookd.8", "man/livedesk-webhookd.conf.5",
	};
	char *out = path_in(T, "groff.log"), *text;
	size_t i;
	int st;

	NEED(have("groff"), "groff");
	for (i = 0; i < 2; i++) {
		st = run(ARGS("groff", "-man", "-Tutf8", "-ww", "-z",
		    pages[i]), ARGS("LC_ALL=C.UTF-8"), out);
		text = tu_read_file(out, NULL);
		ck_assert_msg(st == 0 && text[0] == '\0', "%s: %s", pages[i],
		    text);
		free(text);
	}
	free(out);
}
END_TEST

/* --- the reverse proxies, for real --- */

/* A self-signed certificate for webhook.example.com in T. */
static bool
make_cert(char **cert, char **key)
{
	*cert = path_in(T, "cert.pem");
	*key = path_in(T, "key.pem");
	return run(ARGS("openssl", "req", "-x509", "-newkey", "rsa:2048",
	    "-nodes", "-keyout", *key, "-out", *cert, "-days", "2", "-subj",
	    "/CN=webhook.example.com"), NULL, NULL) == 0;
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* POSTs over TLS to https://webhook.example.com:port/webhook, from the
 * local address src, with extra headers. Returns the status. */
static long
post_tls(int port, const char *src, const char *xff, const char *body,
    size_t len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL, *res = NULL;
	char url[128], resolve[128], hdr[128];
	long status = 0;

	ck_assert_ptr_nonnull(c);
	snprintf(url, sizeof url, "https://webhook.example.com:%d/webhook",
	    port);
	snprintf(resolve, sizeof resolve, "webhook.example.com:%d:127.0.0.1",
	    port);
	res = curl_slist_append(res, resolve);
	hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:");
	if (xff != NULL) {
		snprintf(hdr, sizeof hdr, "X-Forwarded-For: %s", xff);
		hl = curl_slist_append(hl, hdr);
		snprintf(hdr, sizeof hdr, "X-Real-IP: %s", xff);
		hl = curl_slist_append(hl, hdr);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, res);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(c, CURLOPT_INTERFACE, src);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	/* A proxy may answer 413 and close before the upload is over: the
	 * answer counts even when curl reports the broken upload. */
	(void)curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hl);
	curl_slist_free_all(res);
	curl_easy_cleanup(c);
	return status;
}

/* Waits until https://webhook.example.com:port/healthz answers through
 * the proxy (a proxy may listen before its certificate is ready). */
static bool
wait_tls(int port, pid_t pid, int ms)
{
	long long end = tu_now_ms() + ms;
	char url[128], resolve[128];
	struct curl_slist *res;
	long status;
	CURL *c;
	int st;

	snprintf(url, sizeof url, "https://webhook.example.com:%d/healthz",
	    port);
	snprintf(resolve, sizeof resolve, "webhook.example.com:%d:127.0.0.1",
	    port);
	while (tu_now_ms() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return false;
		c = curl_easy_init();
		ck_assert_ptr_nonnull(c);
		res = curl_slist_append(NULL, resolve);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_RESOLVE, res);
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 2L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
		status = 0;
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(c);
		curl_slist_free_all(res);
		if (status == 200)
			return true;
		usleep(50000);
	}
	return false;
}

static pid_t
spawn_bg(const char *const *argv, const char *const *env, const char *log)
{
	const char *envp[512];
	posix_spawn_file_actions_t fa;
	size_t n = 0, i;
	pid_t pid;
	int fd;

	for (i = 0; environ[i] != NULL && n < 480; i++)
		envp[n++] = environ[i];
	for (; env != NULL && *env != NULL && n < 510; env++)
		envp[n++] = *env;
	envp[n] = NULL;
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	ck_assert_int_eq(posix_spawnp(&pid, argv[0], &fa, NULL,
	    (char *const *)argv, (char *const *)envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	return pid;
}

static void
stop_bg(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}

/*
 * The daemon behind the proxy: trusted_proxies names the proxy
 * (127.0.0.1), allow_from only 127.0.0.2. A client on 127.0.0.2 gets in
 * through the proxy; one on 127.0.0.3 does not, even when it claims
 * 127.0.0.2 in X-Forwarded-For and X-Real-IP, which the proxy replaces;
 * a body over the proxy's limit is refused by the proxy.
 */
static void
proxy_checks(int tls_port, const char *proxy)
{
	size_t len, big = 2 * 1024 * 1024;
	char *body = tu_fixture("message_created.json", &len), *huge;

	ck_assert_msg(post_tls(tls_port, "127.0.0.2", NULL, body, len) == 200,
	    "%s: the allowed client was refused", proxy);
	ck_assert_msg(post_tls(tls_port, "127.0.0.3", NULL, body, len) == 403,
	    "%s: another client got in", proxy);
	ck_assert_msg(post_tls(tls_port, "127.0.0.3", "127.0.0.2", body, len)
	    == 403, "%s: a forged X-Forwarded-For got through", proxy);
	huge = malloc(big);
	ck_assert_ptr_nonnull(huge);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	ck_assert_int_eq(post_tls(tls_port, "127.0.0.2", NULL, huge, big),
	    413);
	free(huge);
	free(body);
}

static void
start_daemon_for_proxy(struct tu_daemon *d)
{
	/* max_body above the proxies' limit: their 413 is their own. */
	ck_assert(tu_daemon_start(d, "[server]\nmax_body = 8M\n"
	    "trusted_proxies = 127.0.0.1/32\nallow_from = 127.0.0.2/32\n"
	    "[sink log]\ntype = log\n", NULL));
}

/*
 * Starts a proxy (argv, env) that cannot bind port 0 and say which it got
 * (nginx, caddy): on two ports that were free, written into its
 * configuration by write_conf, and again on two others when its log
 * (nginx: error_log too) says one was taken meanwhile. Returns its pid,
 * listening on *tls_port.
 */
static pid_t
proxy_start(const char *const *argv, const char *const *env, const char *log,
    const char *error_log, void (*write_conf)(void *, int, int), void *arg,
    int *tls_port)
{
	int plain_port, tries, up;
	pid_t pid;

	for (tries = 1;; tries++) {
		*tls_port = tu_free_port();
		plain_port = tu_free_port();
		write_conf(arg, *tls_port, plain_port);
		pid = spawn_bg(argv, env, log);
		/* Itself on that port, not another suite's server. */
		if ((up = tu_wait_listening(pid, *tls_port, 10000)) == 1)
			return pid;
		stop_bg(pid);
		ck_assert_msg(tries < 5 && (up == 0 || tu_port_taken(log) ||
		    (error_log != NULL && tu_port_taken(error_log))),
		    "%s did not start (see %s)", argv[0], log);
		ck_assert_int_eq(truncate(log, 0), 0);
		if (error_log != NULL)
			(void)truncate(error_log, 0);
	}
}

struct nginx_conf {
	const char	*text;		/* the site, all but the ports */
	const char	*site;		/* where it goes */
};

static void
nginx_write(void *arg, int tls_port, int plain_port)
{
	const struct nginx_conf *nc = arg;
	char *text = strdup(nc->text), *tls, *plain;

	ck_assert_ptr_nonnull(text);
	ck_assert_int_ge(asprintf(&tls, "listen 127.0.0.1:%d ssl;", tls_port),
	    0);
	replace_all(&text, "listen 443 ssl;", tls);
	ck_assert_int_ge(asprintf(&plain, "listen 127.0.0.1:%d;", plain_port),
	    0);
	replace_all(&text, "listen 80;", plain);
	tu_write_file(nc->site, text, strlen(text));
	free(plain);
	free(tls);
	free(text);
}

START_TEST(nginx_in_front)
{
	struct tu_daemon d;
	struct nginx_conf nc;
	char *cert, *key, *site, *main_conf, *text, *log, *up, *elog;
	char *cfg;
	const char *nginx;
	int tls_port, st;
	pid_t pid;

	NEED(have("nginx") || access("/usr/sbin/nginx", X_OK) == 0, "nginx");
	NEED(have("openssl"), "openssl");
	nginx = have("nginx") ? "nginx" : "/usr/sbin/nginx";
	ck_assert(make_cert(&cert, &key));
	start_daemon_for_proxy(&d);
	/* The example with this test's ports, certificate and logs. */
	text = tu_read_file("conf/nginx/livedesk-webhookd.conf", NULL);
	replace_all(&text, "/etc/letsencrypt/live/webhook.example.com/"
	    "fullchain.pem", cert);
	replace_all(&text, "/etc/letsencrypt/live/webhook.example.com/"
	    "privkey.pem", key);
	replace_all(&text, "/var/log/nginx/", T);
	ck_assert_int_ge(asprintf(&up, "server 127.0.0.1:%d;", d.port), 0);
	replace_all(&text, "server 127.0.0.1:8080;", up);
	replace_all(&text, "listen [::]:443 ssl;", "");
	replace_all(&text, "listen [::]:80;", "");
	replace_all(&text, "/var/www/html", T);
	site = path_in(T, "site.conf");
	main_conf = path_in(T, "nginx.conf");
	elog = path_in(T, "nginx.error.log");
	ck_assert_int_ge(asprintf(&cfg, "%spid %s/nginx.pid;\n"
	    "error_log %s;\ndaemon off;\nevents {}\nhttp {\n"
	    "access_log %s/access.log;\n"
	    "client_body_temp_path %s/body;\nproxy_temp_path %s/proxy;\n"
	    "fastcgi_temp_path %s/fcgi;\nuwsgi_temp_path %s/uwsgi;\n"
	    "scgi_temp_path %s/scgi;\ninclude %s;\n}\n",
	    geteuid() == 0 ? "user root;\n" : "", T, elog, T, T, T, T, T, T,
	    site),
	    0);
	tu_write_file(main_conf, cfg, strlen(cfg));
	nc.text = text;
	nc.site = site;
	nginx_write(&nc, 443, 80);
	log = path_in(T, "nginx.out");
	st = run(ARGS(nginx, "-t", "-c", main_conf, "-p", T), NULL, log);
	{
		char *out = tu_read_file(log, NULL);

		ck_assert_msg(st == 0, "nginx -t:\n%s", out);
		free(out);
	}

	pid = proxy_start(ARGS(nginx, "-c", main_conf, "-p", T), NULL, log,
	    elog, nginx_write, &nc, &tls_port);
	ck_assert_msg(wait_tls(tls_port, pid, 5000), "nginx did not start");
	proxy_checks(tls_port, "nginx");
	stop_bg(pid);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	tu_daemon_free(&d);
	free(text);
	free(cfg);
	free(up);
	free(log);
	free(elog);
	free(main_conf);
	free(site);
	free(cert);
	free(key);
}
END_TEST

struct caddy_conf {
	const char	*text;		/* the Caddyfile, all but the ports */
	const char	*file;		/* where it goes */
};

static void
caddy_write(void *arg, int tls_port, int http_port)
{
	const struct caddy_conf *cc = arg;
	char *text = strdup(cc->text), *site, *global;

	ck_assert_ptr_nonnull(text);
	ck_assert_int_ge(asprintf(&site, "webhook.example.com:%d {", tls_port),
	    0);
	replace_all(&text, "webhook.example.com {", site);
	ck_assert_int_ge(asprintf(&global, "{\n\tlocal_certs\n\tadmin off\n"
	    "\tskip_install_trust\n\thttp_port %d\n\thttps_port %d\n}\n%s",
	    http_port, tls_port, text), 0);
	tu_write_file(cc->file, global, strlen(global));
	free(global);
	free(site);
	free(text);
}

START_TEST(caddy_in_front)
{
	struct tu_daemon d;
	struct caddy_conf cc;
	char *text, *file, *log, *up, *home, *xdg, *xdgc;
	int tls_port, st;
	pid_t pid;

	NEED(have("caddy"), "caddy");
	start_daemon_for_proxy(&d);
	ck_assert_int_ge(asprintf(&home, "HOME=%s", T), 0);
	ck_assert_int_ge(asprintf(&xdg, "XDG_DATA_HOME=%s", T), 0);
	ck_assert_int_ge(asprintf(&xdgc, "XDG_CONFIG_HOME=%s", T), 0);
	text = tu_read_file("conf/caddy/Caddyfile", NULL);
	replace_all(&text, "/var/log/caddy/", T);
	file = path_in(T, "Caddyfile");
	tu_write_file(file, text, strlen(text));
	log = path_in(T, "caddy.out");
	st = run(ARGS("caddy", "validate", "--config", file, "--adapter",
	    "caddyfile"), ARGS(home, xdg, xdgc), log);
	{
		char *out = tu_read_file(log, NULL);

		ck_assert_msg(st == 0, "caddy validate:\n%s", out);
		free(out);
	}

	/* Run for real: local certificates, this test's ports. */
	ck_assert_int_ge(asprintf(&up, "127.0.0.1:%d", d.port), 0);
	replace_all(&text, "127.0.0.1:8080", up);
	cc.text = text;
	cc.file = file;
	pid = proxy_start(ARGS("caddy", "run", "--config", file, "--adapter",
	    "caddyfile"), ARGS(home, xdg, xdgc), log, NULL, caddy_write, &cc,
	    &tls_port);
	ck_assert_msg(wait_tls(tls_port, pid, 8000), "caddy did not start");
	proxy_checks(tls_port, "caddy");
	stop_bg(pid);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	tu_daemon_free(&d);
	free(up);
	free(log);
	free(file);
	free(text);
	free(home);
	free(xdg);
	free(xdgc);
}
END_TEST

/*
 * livedesk-send builds from its own package list: with the daemon's
 * packages named as one pkg-config cannot find, the client still builds
 * and the daemon's build stops with pkg-config's own message.
 */
START_TEST(send_builds_without_daemon_packages)
{
	char build[400], send[420], daemon[420], *log, *text;
	const char *const no_pkgs = "PKGS=livedesk-no-such-package";
	int st;

	snprintf(build, sizeof build, "BUILD=%s/b", T);
	snprintf(send, sizeof send, "%s/b/livedesk-send", T);
	snprintf(daemon, sizeof daemon, "%s/b/livedesk-webhookd", T);
	log = path_in(T, "make-send.log");
	st = run(ARGS("make", "-s", "--no-print-directory", build, no_pkgs,
	    "OPT=-O0", send), NULL, log);
	text = tu_read_file(log, NULL);
	ck_assert_msg(st == 0, "make livedesk-send: status %#x:\n%s", st, text);
	ck_assert_msg(access(send, X_OK) == 0, "%s not built", send);
	free(text);
	st = run(ARGS("make", "-s", "--no-print-directory", build, no_pkgs,
	    daemon), NULL, log);
	text = tu_read_file(log, NULL);
	ck_assert_msg(st != 0, "the daemon built without its packages");
	ck_assert_msg(strstr(text, "livedesk-no-such-package") != NULL &&
	    strstr(text, "make deps") != NULL,
	    "pkg-config's error is not shown:\n%s", text);
	free(text);
	free(log);
}
END_TEST

static Suite *
install_suite(void)
{
	Suite *s = suite_create("install");
	TCase *tc;

	tc = tcase_create("make");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, install_layout);
	tcase_add_test(tc, install_paths_follow_variables);
	tcase_add_test(tc, install_keeps_config);
	tcase_add_test(tc, uninstall_removes_everything);
	tcase_add_test(tc, uninstall_keeps_changed_config);
	tcase_add_test(tc, send_builds_without_daemon_packages);
	suite_add_tcase(s, tc);

	tc = tcase_create("units");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, units_verify);
	tcase_add_test(tc, units_security_rating);
	suite_add_tcase(s, tc);

	tc = tcase_create("docs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, every_key_documented);
	tcase_add_test(tc, every_option_documented);
	tcase_add_test(tc, example_with_everything_uncommented);
	tcase_add_test(tc, man_pages_render_cleanly);
	suite_add_tcase(s, tc);

	tc = tcase_create("proxies");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, nginx_in_front);
	tcase_add_test(tc, caddy_in_front);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(install_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
