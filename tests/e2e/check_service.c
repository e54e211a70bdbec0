/*
 * The daemon under a pretend systemd: sd_notify messages read from a
 * NOTIFY_SOCKET the test binds (READY, STATUS, RELOADING, STOPPING,
 * WATCHDOG), socket activation through tests/tool_activate and
 * systemd-socket-activate, the journal chosen by JOURNAL_STREAM and its
 * structured fields, /healthz while draining, the delivery id in log lines
 * and in the exec sink's environment, the queue bound across a reload.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"

extern char **environ;

#define MAX_NOTES	1024
#define MAX_ARGS	32

#define ARGS(...)	((const char *const[]){ __VA_ARGS__, NULL })

/* One daemon and what the test sees of it. */
struct svc {
	pid_t	 pid;
	int	 port;		/* where it serves */
	char	*dir;
	char	*conf;
	char	*log;		/* its stdout and stderr */
	char	 url[128];
	int	 exit_status;	/* wait status, when it exited early */
	int	 notify_fd;	/* -1: no NOTIFY_SOCKET */
	int	 journal_fd;	/* -1: no private journal */
	char	*notes[MAX_NOTES];	/* datagrams, in order of arrival */
	size_t	 n_notes;
	size_t	 notes_len[MAX_NOTES];
};

static const char *const json_ct[] = {
	"Content-Type: application/json", NULL
};

static void
svc_init(struct svc *s, const char *conf_text)
{
	memset(s, 0, sizeof *s);
	s->notify_fd = s->journal_fd = -1;
	s->dir = tu_tmpdir();
	/* Port 0 until svc_spawn learns the one the kernel picked: no race
	 * with the suites running side by side. */
	s->port = 0;
	ck_assert_int_ge(asprintf(&s->log, "%s/daemon.log", s->dir), 0);
	if (conf_text != NULL) {
		ck_assert_int_ge(asprintf(&s->conf, "%s/test.conf", s->dir), 0);
		tu_write_file(s->conf, conf_text, strlen(conf_text));
	}
}

/* A datagram socket bound at DIR/NAME; its path in *path (malloc'd). */
static int
bind_dgram(const char *dir, const char *name, char **path)
{
	struct sockaddr_un sa;
	int fd, bufsz = 8 << 20;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	ck_assert_int_lt(snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s",
	    dir, name), (int)sizeof sa.sun_path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0,
	    "bind %s: %s", sa.sun_path, strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
	*path = strdup(sa.sun_path);
	ck_assert_ptr_nonnull(*path);
	return fd;
}

/* Binds DIR/notify and names it in NOTIFY_SOCKET for the next spawn. */
static void
svc_notify(struct svc *s)
{
	char *path;

	s->notify_fd = bind_dgram(s->dir, "notify", &path);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	free(path);
}

/* A listening TCP socket on 127.0.0.1 (port 0: any); its port in *port. */
static int
listen_tcp(int *port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof one), 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)*port);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(fd, 64), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Whether argv says "-l 127.0.0.1:0": a port for the kernel to pick. */
static bool
asks_port_zero(const char *const *argv)
{
	for (; argv[0] != NULL && argv[1] != NULL; argv++)
		if (strcmp(argv[0], "-l") == 0 &&
		    strcmp(argv[1], "127.0.0.1:0") == 0)
			return true;
	return false;
}

/* The port a socket is bound to. */
static int
port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	return ntohs(a.sin_port);
}

/* The port a daemon told "-l 127.0.0.1:0" got, into s->port and s->url:
 * from its log line, or (its log may be a journal) from /proc, where
 * not_port is one it was handed. Both stay unset when it exits first:
 * svc_wait_up says so. */
static void
svc_learn_port(struct svc *s, int not_port)
{
	long long end = tu_now_ms() + 10000;
	int i;

	for (i = 1; tu_now_ms() < end; i++) {
		if ((s->port = tu_log_port(s->log)) > 0)
			break;
		/* Now and then: /proc lists every socket of the machine. */
		if (i % 10 == 0 &&
		    (s->port = tu_listen_port(s->pid, not_port)) > 0)
			break;
		if (tu_exited(s->pid))
			return;
		usleep(10000);
	}
	ck_assert_msg(s->port > 0, "the daemon did not listen (see %s)",
	    s->log);
	snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
}

/*
 * Starts pre... (a launcher, may be NULL) then the daemon with "-c CONF"
 * (when there is one) and args, stdout and stderr to s->log, fds[i] at
 * 3 + i. The log file is opened without being replaced, so that a test may
 * know its inode beforehand. Told "-l 127.0.0.1:0" (svc_init's port), it
 * waits until the process listens and sets s->port and s->url.
 */
static void
svc_spawn(struct svc *s, const char *const *pre, const char *const *args,
    const int *fds, int n_fds)
{
	const char *argv[MAX_ARGS + 8];
	char bin[256];
	posix_spawn_file_actions_t fa;
	int argc = 0, logfd, high[8], i;

	snprintf(bin, sizeof bin, "%s/livedesk-webhookd", tu_build_dir());
	for (; pre != NULL && *pre != NULL && argc < MAX_ARGS; pre++)
		argv[argc++] = *pre;
	argv[argc++] = bin;
	if (s->conf != NULL) {
		argv[argc++] = "-c";
		argv[argc++] = s->conf;
	}
	for (; args != NULL && *args != NULL && argc < MAX_ARGS; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;

	logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ck_assert_int_ge(logfd, 0);
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, logfd, 1), 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, logfd, 2), 0);
	/* Out of the way first, so that dup2 never meets itself (which
	 * would leave close-on-exec set). */
	ck_assert_int_le(n_fds, 8);
	for (i = 0; i < n_fds; i++) {
		high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 100);
		ck_assert_int_ge(high[i], 100);
		ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, high[i],
		    3 + i), 0);
	}
	ck_assert_msg(posix_spawn(&s->pid, argv[0], &fa, NULL,
	    (char *const *)argv, environ) == 0, "spawn %s", argv[0]);
	posix_spawn_file_actions_destroy(&fa);
	for (i = 0; i < n_fds; i++)
		close(high[i]);
	close(logfd);
	if (asks_port_zero(argv))
		svc_learn_port(s, n_fds > 0 ? port_of(fds[0]) : 0);
}

static long
get_status(const char *url)
{
	struct tu_response r;
	long st;

	tu_http(&r, "GET", url, NULL, NULL, 0);
	st = r.status;
	tu_response_free(&r);
	return st;
}

/* Waits until GET url answers at all; false if the daemon exited first. */
static bool
svc_wait_up(struct svc *s, const char *base, int ms)
{
	char url[192];
	long long end = tu_now_ms() + ms;
	int st;

	snprintf(url, sizeof url, "%s/healthz", base ? base : s->url);
	while (tu_now_ms() < end) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			s->exit_status = st;
			return false;
		}
		if (get_status(url) != 0)
			return true;
		usleep(10000);
	}
	return false;
}

/* The contents of a file descriptor passed with a datagram (the journal
 * protocol's way with an entry too large for one), NUL-terminated. */
static char *
read_passed_fd(int fd, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t r;

	*len = 0;
	for (;;) {
		if (*len + 65536 + 1 > cap) {
			cap = (*len + 65536 + 1) * 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		r = pread(fd, buf + *len, cap - *len - 1, (off_t)*len);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		*len += (size_t)r;
	}
	buf[*len] = '\0';
	close(fd);
	return buf;
}

/* Reads the datagrams that arrive within ms (0: those already there). */
static void
svc_read_notes(struct svc *s, int ms)
{
	struct pollfd p = { .fd = s->notify_fd, .events = POLLIN };
	const size_t cap = 4 * 1024 * 1024;
	char *buf = malloc(cap + 1), *note;
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *c;
	size_t len;
	ssize_t n;
	int fd;

	ck_assert_ptr_nonnull(buf);
	while (poll(&p, 1, ms) > 0) {
		iov.iov_base = buf;
		iov.iov_len = cap;
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = &ctl;
		mh.msg_controllen = sizeof ctl;
		n = recvmsg(s->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			break;
		ck_assert_msg(!(mh.msg_flags & MSG_TRUNC), "datagram cut");
		fd = -1;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_RIGHTS)
				memcpy(&fd, CMSG_DATA(c), sizeof fd);
		if (fd >= 0 && n == 0) {
			note = read_passed_fd(fd, &len);
		} else {
			if (fd >= 0)
				close(fd);
			buf[n] = '\0';
			len = (size_t)n;
			note = malloc(len + 1);
			ck_assert_ptr_nonnull(note);
			memcpy(note, buf, len + 1);
		}
		ck_assert_uint_lt(s->n_notes, MAX_NOTES);
		s->notes[s->n_notes] = note;
		s->notes_len[s->n_notes++] = len;
		ms = 0;
	}
	free(buf);
}

/* Whether one of note's lines starts with prefix. */
static bool
note_has(const char *note, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p;

	for (p = note; p != NULL && *p != '\0';
	    p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, n) == 0)
			return true;
	return false;
}

/* The index of the first note from `from` on with a line starting with
 * prefix, waiting up to ms for it; -1 if none came. */
static int
svc_wait_note(struct svc *s, size_t from, const char *prefix, int ms)
{
	long long end = tu_now_ms() + ms;
	size_t i = from;

	for (;;) {
		for (; i < s->n_notes; i++)
			if (note_has(s->notes[i], prefix))
				return (int)i;
		if (tu_now_ms() >= end)
			return -1;
		svc_read_notes(s, (int)(end - tu_now_ms()));
	}
}

static size_t
svc_count_notes(const struct svc *s, size_t from, const char *prefix)
{
	size_t i, n = 0;

	for (i = from; i < s->n_notes; i++)
		n += note_has(s->notes[i], prefix);
	return n;
}

static int
svc_signal_wait(struct svc *s, int sig)
{
	int st = -1;
	pid_t w;

	if (s->pid <= 0)
		return -1;
	ck_assert_int_eq(kill(s->pid, sig), 0);
	/* Reading its notifications meanwhile, as systemd would: once ten
	 * wait unread (a watchdog pings every few ms), the daemon's next
	 * sd_notify blocks, and it would never get to stop. */
	while ((w = waitpid(s->pid, &st, s->notify_fd >= 0 ? WNOHANG : 0)) !=
	    s->pid) {
		ck_assert_msg(w != -1 || errno == EINTR, "waitpid %d: %s",
		    (int)s->pid, strerror(errno));
		if (s->notify_fd >= 0)
			svc_read_notes(s, 10);
	}
	s->pid = 0;
	return st;
}

static void
svc_free(struct svc *s)
{
	size_t i;

	if (s->pid > 0)
		(void)svc_signal_wait(s, SIGKILL);
	if (s->notify_fd >= 0)
		close(s->notify_fd);
	if (s->journal_fd >= 0)
		close(s->journal_fd);
	for (i = 0; i < s->n_notes; i++)
		free(s->notes[i]);
	if (getenv("LD_KEEP_TMP") == NULL)
		tu_rmtree(s->dir);
	free(s->dir);
	free(s->conf);
	free(s->log);
	unsetenv("NOTIFY_SOCKET");
	memset(s, 0, sizeof *s);
}

/* POSTs fixtures/NAME to base/webhook; returns the status, the delivery id
 * in id (when 200). */
static long
post_fixture(const char *base, const char *name, char id[64])
{
	struct tu_response r;
	char url[192], *body;
	json_error_t je;
	json_t *o;
	size_t len;
	long st;

	snprintf(url, sizeof url, "%s/webhook", base);
	body = tu_fixture(name, &len);
	tu_http(&r, "POST", url, json_ct, body, len);
	free(body);
	st = r.status;
	if (id != NULL) {
		id[0] = '\0';
		if (st == 200) {
			o = json_loads(r.body, 0, &je);
			ck_assert_ptr_nonnull(o);
			snprintf(id, 64, "%s", json_string_value(
			    json_object_get(o, "delivery_id")));
			json_decref(o);
		}
	}
	tu_response_free(&r);
	return st;
}

static char *
read_log(const struct svc *s)
{
	return tu_read_file(s->log, NULL);
}

/* --- sd_notify --- */

START_TEST(ready_after_listening)
{
	struct svc s;
	char listen[64], url[192];
	int i;

	svc_init(&s, NULL);
	svc_notify(&s);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, NULL, ARGS("-l", listen), NULL, 0);
	i = svc_wait_note(&s, 0, "READY=1", 5000);
	ck_assert_msg(i >= 0, "no READY=1");
	/* No retry: READY=1 must mean that it answers already. */
	snprintf(url, sizeof url, "%s/healthz", s.url);
	ck_assert_int_eq(get_status(url), 200);
	ck_assert_int_eq(svc_count_notes(&s, 0, "READY=1"), 1);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

START_TEST(status_line_counts)
{
	struct svc s;
	char listen[64], id[64];
	int i;

	svc_init(&s, NULL);
	svc_notify(&s);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, NULL, ARGS("-l", listen), NULL, 0);
	ck_assert_int_ge(svc_wait_note(&s, 0, "READY=1", 5000), 0);
	i = svc_wait_note(&s, 0, "STATUS=0 events accepted, 0 queued, 0 "
	    "failed", 3000);
	ck_assert_msg(i >= 0, "no STATUS= line for 0 events");
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", id), 200);
	ck_assert_int_eq(post_fixture(s.url, "conversation_created.json", id),
	    200);
	i = svc_wait_note(&s, (size_t)i, "STATUS=2 events accepted, 0 queued",
	    3000);
	ck_assert_msg(i >= 0, "no STATUS= line for 2 events");
	/* One line: systemctl status shows it as it is. */
	ck_assert_ptr_null(strchr(strstr(s.notes[i], "STATUS=") + 7, '\n'));
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

static const char reload_conf[] =
    "[server]\nshutdown_grace = 1s\n[sink log]\ntype = log\n";

START_TEST(reloading_then_ready)
{
	struct svc s;
	char listen[64], *log;
	int ready, reloading, ready2, bad, ready3;

	svc_init(&s, reload_conf);
	svc_notify(&s);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, NULL, ARGS("-l", listen), NULL, 0);
	ready = svc_wait_note(&s, 0, "READY=1", 5000);
	ck_assert_int_ge(ready, 0);

	ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
	reloading = svc_wait_note(&s, (size_t)ready + 1, "RELOADING=1", 3000);
	ck_assert_msg(reloading > ready, "no RELOADING=1 after SIGHUP");
	/* Type=notify-reload (systemd 253) wants the time of the reload. */
	ck_assert(note_has(s.notes[reloading], "MONOTONIC_USEC="));
	ready2 = svc_wait_note(&s, (size_t)reloading + 1, "READY=1", 3000);
	ck_assert_msg(ready2 > reloading, "no READY=1 after RELOADING=1");

	/* A reload that fails keeps the old configuration, and still says
	 * READY=1 so that systemctl reload does not hang. */
	tu_write_file(s.conf, "[server]\nnonsense = 1\n", 22);
	ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
	bad = svc_wait_note(&s, (size_t)ready2 + 1, "RELOADING=1", 3000);
	ck_assert_int_gt(bad, ready2);
	ready3 = svc_wait_note(&s, (size_t)bad + 1, "READY=1", 3000);
	ck_assert_int_gt(ready3, bad);
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", NULL),
	    200);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	log = read_log(&s);
	ck_assert_ptr_nonnull(strstr(log, "configuration reloaded"));
	ck_assert_ptr_nonnull(strstr(log, "reload failed, keeping the "
	    "running configuration"));
	free(log);
	svc_free(&s);
}
END_TEST

START_TEST(stopping_on_sigterm)
{
	struct svc s;
	char listen[64];
	int ready, stopping, st;

	svc_init(&s, reload_conf);
	svc_notify(&s);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, NULL, ARGS("-l", listen), NULL, 0);
	ready = svc_wait_note(&s, 0, "READY=1", 5000);
	ck_assert_int_ge(ready, 0);
	st = svc_signal_wait(&s, SIGTERM);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	svc_read_notes(&s, 100);
	stopping = svc_wait_note(&s, (size_t)ready + 1, "STOPPING=1", 0);
	ck_assert_msg(stopping > ready, "no STOPPING=1");
	/* systemd waits for the drain, whatever TimeoutStopSec= says:
	 * shutdown_grace (1s) and a margin. */
	ck_assert(note_has(s.notes[stopping], "EXTEND_TIMEOUT_USEC="));
	ck_assert_int_ge(atoll(strstr(s.notes[stopping],
	    "EXTEND_TIMEOUT_USEC=") + 20), 1000000);
	/* Nothing after it claims to be ready again. */
	ck_assert_int_eq(svc_count_notes(&s, (size_t)stopping, "READY=1"), 0);
	svc_free(&s);
}
END_TEST

START_TEST(sigint_stops_too)
{
	struct svc s;
	char listen[64];
	int st;

	svc_init(&s, reload_conf);
	svc_notify(&s);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, NULL, ARGS("-l", listen), NULL, 0);
	ck_assert_int_ge(svc_wait_note(&s, 0, "READY=1", 5000), 0);
	st = svc_signal_wait(&s, SIGINT);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	svc_read_notes(&s, 100);
	ck_assert_int_ge(svc_wait_note(&s, 0, "STOPPING=1", 0), 0);
	svc_free(&s);
}
END_TEST

/* Without NOTIFY_SOCKET nothing breaks: the calls are no-ops. */
START_TEST(no_notify_socket)
{
	struct svc s;
	char listen[64];

	unsetenv("NOTIFY_SOCKET");
	svc_init(&s, reload_conf);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, NULL, ARGS("-l", listen), NULL, 0);
	ck_assert(svc_wait_up(&s, NULL, 5000));
	ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
	ck_assert(tu_wait_file_has(s.log, "configuration reloaded", 1, 5000));
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", NULL),
	    200);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

/* --- the watchdog --- */

/* Counts WATCHDOG=1 over ms after READY=1. */
static size_t
watchdog_pings(const char *usec, const char *pid, int ms, struct svc *s)
{
	char listen[64];
	int ready;

	svc_init(s, reload_conf);
	svc_notify(s);
	if (usec != NULL)
		ck_assert_int_eq(setenv("WATCHDOG_USEC", usec, 1), 0);
	if (pid != NULL)
		ck_assert_int_eq(setenv("WATCHDOG_PID", pid, 1), 0);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
	svc_spawn(s, NULL, ARGS("-l", listen), NULL, 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	ready = svc_wait_note(s, 0, "READY=1", 5000);
	ck_assert_int_ge(ready, 0);
	svc_read_notes(s, 0);
	{
		long long end = tu_now_ms() + ms;

		while (tu_now_ms() < end)
			svc_read_notes(s, (int)(end - tu_now_ms()));
	}
	return svc_count_notes(s, 0, "WATCHDOG=1");
}

START_TEST(watchdog_half_interval)
{
	struct svc s;
	size_t n;

	/* 400ms: a ping every 200ms, about 5 in a second. */
	n = watchdog_pings("400000", NULL, 1000, &s);
	ck_assert_msg(n >= 3 && n <= 8, "%zu WATCHDOG=1 in 1s", n);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

START_TEST(watchdog_long_interval)
{
	struct svc s;
	size_t n;

	/* 3s: the first ping comes at once, the next at 1.5s, not at
	 * every tick of the main loop. */
	n = watchdog_pings("3000000", NULL, 1000, &s);
	ck_assert_msg(n >= 1 && n <= 2, "%zu WATCHDOG=1 in 1s", n);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

START_TEST(watchdog_tiny_interval)
{
	struct svc s;
	size_t n;

	/* A timing test: under valgrind's slowdown it measures valgrind. */
	if (getenv("VALGRIND") != NULL) {
		tu_skip("watchdog_tiny_interval", "a timing, under valgrind");
		return;
	}
	/* 20ms: a ping every 10ms, and no busy loop around it. */
	n = watchdog_pings("20000", NULL, 300, &s);
	ck_assert_msg(n >= 10 && n <= 40, "%zu WATCHDOG=1 in 300ms", n);
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", NULL),
	    200);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

START_TEST(watchdog_other_pid)
{
	struct svc s;

	/* WATCHDOG_PID names another process: not ours to ping. */
	ck_assert_uint_eq(watchdog_pings("400000", "1", 700, &s), 0);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

START_TEST(watchdog_off)
{
	struct svc s;

	ck_assert_uint_eq(watchdog_pings(NULL, NULL, 700, &s), 0);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

/* --- socket activation --- */

static void
tool_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/tests/tool_activate", tu_build_dir());
}

START_TEST(activation_one_socket)
{
	struct svc s;
	char tool[256], conf[256], url[128], *log;
	int port = 0, fd, blocker, busy = 0;

	/* [server] listen names a port that is taken: binding it would
	 * fail, so an answer proves the passed socket is served. */
	blocker = listen_tcp(&busy);
	snprintf(conf, sizeof conf, "[server]\nlisten = 127.0.0.1:%d\n"
	    "[sink log]\ntype = log\n", busy);
	svc_init(&s, conf);
	svc_notify(&s);
	fd = listen_tcp(&port);
	tool_path(tool, sizeof tool);
	svc_spawn(&s, ARGS(tool, "-n", "1"), NULL, &fd, 1);
	close(fd);
	ck_assert_int_ge(svc_wait_note(&s, 0, "READY=1", 5000), 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	ck_assert_int_eq(post_fixture(url, "message_created.json", NULL), 200);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	log = read_log(&s);
	ck_assert_msg(strstr(log, "socket activation (1 socket)") != NULL,
	    "%s", log);
	free(log);
	close(blocker);
	svc_free(&s);
}
END_TEST

START_TEST(activation_two_sockets)
{
	struct svc s;
	char tool[256], url[128];
	int ports[2] = { 0, 0 }, fds[2], i;

	svc_init(&s, reload_conf);
	svc_notify(&s);
	fds[0] = listen_tcp(&ports[0]);
	fds[1] = listen_tcp(&ports[1]);
	tool_path(tool, sizeof tool);
	svc_spawn(&s, ARGS(tool, "-n", "2"), NULL, fds, 2);
	close(fds[0]);
	close(fds[1]);
	ck_assert_int_ge(svc_wait_note(&s, 0, "READY=1", 5000), 0);
	for (i = 0; i < 2; i++) {
		snprintf(url, sizeof url, "http://127.0.0.1:%d", ports[i]);
		ck_assert_int_eq(post_fixture(url, "message_created.json",
		    NULL), 200);
	}
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

START_TEST(activation_not_for_us)
{
	struct svc s;
	char tool[256], listen[64];
	int port = 0, fd;

	/* LISTEN_PID is another process's: the sockets are not ours, the
	 * daemon binds [server] listen as usual. */
	svc_init(&s, reload_conf);
	svc_notify(&s);
	fd = listen_tcp(&port);
	tool_path(tool, sizeof tool);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, ARGS(tool, "-n", "1", "-p", "1"), ARGS("-l", listen),
	    &fd, 1);
	close(fd);
	ck_assert_int_ge(svc_wait_note(&s, 0, "READY=1", 5000), 0);
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", NULL),
	    200);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

START_TEST(activation_wrong_socket_type)
{
	struct svc s;
	char tool[256], *log;
	int fd, st;

	/* A datagram socket cannot be served: a clear error, exit 1. */
	svc_init(&s, reload_conf);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	tool_path(tool, sizeof tool);
	svc_spawn(&s, ARGS(tool, "-n", "1"), NULL, &fd, 1);
	close(fd);
	while (waitpid(s.pid, &st, 0) < 0 && errno == EINTR)
		;
	s.pid = 0;
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %#x", st);
	log = read_log(&s);
	ck_assert_msg(strstr(log, "not a listening stream socket") != NULL,
	    "%s", log);
	free(log);
	svc_free(&s);
}
END_TEST

START_TEST(activation_systemd_socket_activate)
{
	const char *ssa = "/usr/bin/systemd-socket-activate";
	struct svc s;
	char addr[64];
	int tries, st, up;

	ck_assert_msg(access(ssa, X_OK) == 0, "%s is not installed (make "
	    "deps-check installs systemd)", ssa);
	svc_init(&s, reload_conf);
	svc_notify(&s);
	/* It passes only the LISTEN_* variables and those named by -E, and
	 * starts the program at the first connection, which waits in the
	 * backlog meanwhile: the first request is answered all the same.
	 * It cannot bind port 0: a free port, another if that was taken. */
	for (tries = 1;; tries++) {
		s.port = tu_free_port();
		snprintf(s.url, sizeof s.url, "http://127.0.0.1:%d", s.port);
		snprintf(addr, sizeof addr, "127.0.0.1:%d", s.port);
		svc_spawn(&s, ARGS(ssa, "-E", "NOTIFY_SOCKET", "-l", addr),
		    NULL, NULL, 0);
		if ((up = tu_wait_listening(s.pid, s.port, 5000)) == 1)
			break;
		ck_assert_msg(tries < 5 && (up == 0 || tu_port_taken(s.log)),
		    "%s did not listen (see %s)", ssa, s.log);
		(void)kill(s.pid, SIGKILL);
		while (waitpid(s.pid, &st, 0) < 0 && errno == EINTR)
			;
		s.pid = 0;
	}
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", NULL),
	    200);
	ck_assert_int_ge(svc_wait_note(&s, 0, "READY=1", 5000), 0);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

/* --- the journal --- */

/* Sets JOURNAL_STREAM to the log file's "dev:ino", or a near miss. */
static void
journal_stream(const struct svc *s, bool match)
{
	struct stat st;
	char v[64];
	int fd;

	fd = open(s->log, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + (match ? 0 : 1));
	ck_assert_int_eq(setenv("JOURNAL_STREAM", v, 1), 0);
}

START_TEST(journal_stream_matches)
{
	struct svc s;
	char listen[64], *log;

	int ready;

	svc_init(&s, reload_conf);
	/* Its log is the journal: the notifications say when it reloaded. */
	svc_notify(&s);
	journal_stream(&s, true);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, NULL, ARGS("-l", listen), NULL, 0);
	unsetenv("JOURNAL_STREAM");
	ck_assert(svc_wait_up(&s, NULL, 5000));
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", NULL),
	    200);
	ready = svc_wait_note(&s, 0, "READY=1", 5000);
	ck_assert_int_ge(ready, 0);
	ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
	ready = svc_wait_note(&s, (size_t)ready + 1, "READY=1", 5000);
	ck_assert_msg(ready > 0, "no READY=1 after the reload");
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	/* Every line went to the journal (here: nowhere), none to stderr,
	 * where journald would have stored it a second time. */
	log = read_log(&s);
	ck_assert_msg(log[0] == '\0', "plain lines on stderr:\n%s", log);
	free(log);
	svc_free(&s);
}
END_TEST

START_TEST(journal_stream_other_file)
{
	struct svc s;
	char listen[64], *log;

	svc_init(&s, reload_conf);
	journal_stream(&s, false);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, NULL, ARGS("-l", listen), NULL, 0);
	unsetenv("JOURNAL_STREAM");
	ck_assert(svc_wait_up(&s, NULL, 5000));
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", NULL),
	    200);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	log = read_log(&s);
	ck_assert_msg(strstr(log, " notice: livedesk-webhookd ") != NULL,
	    "%s", log);
	ck_assert_ptr_nonnull(strstr(log, " info: message_created "));
	free(log);
	svc_free(&s);
}
END_TEST

/* One journal entry, as sd_journal_sendv sends it: "NAME=value\n", or
 * "NAME\n" + 64-bit little-endian length + value + "\n". */
struct entry {
	char	*fields[32];
	size_t	 n;
};

static void
entry_parse(const char *buf, size_t len, struct entry *e)
{
	const char *p = buf, *end = buf + len, *nl;
	uint64_t vl;
	size_t nlen;
	int i;

	memset(e, 0, sizeof *e);
	while (p < end && e->n < 32) {
		nl = memchr(p, '\n', (size_t)(end - p));
		ck_assert_ptr_nonnull(nl);
		if (memchr(p, '=', (size_t)(nl - p)) != NULL) {
			e->fields[e->n++] = strndup(p, (size_t)(nl - p));
			p = nl + 1;
			continue;
		}
		nlen = (size_t)(nl - p);
		ck_assert_int_le(nl + 9 - buf, (long)len);
		for (vl = 0, i = 7; i >= 0; i--)
			vl = vl << 8 | (unsigned char)nl[1 + i];
		ck_assert_uint_le((size_t)(nl + 9 - buf) + vl + 1, len);
		ck_assert_int_ge(asprintf(&e->fields[e->n++], "%.*s=%.*s",
		    (int)nlen, p, (int)vl, nl + 9), 0);
		p = nl + 9 + vl + 1;
	}
}

static const char *
entry_get(const struct entry *e, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < e->n; i++)
		if (strncmp(e->fields[i], name, n) == 0 &&
		    e->fields[i][n] == '=')
			return e->fields[i] + n + 1;
	return NULL;
}

static void
entry_free(struct entry *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->fields[i]);
}

START_TEST(journal_structured_fields)
{
	struct svc s;
	char tool[256], listen[64], id[64], conf[512], *path, *log;
	struct entry e;
	bool saw_start = false, saw_event = false, saw_failure = false;
	long long end;
	int st;
	size_t i;

	snprintf(conf, sizeof conf, "[server]\nshutdown_grace = 1s\n"
	    "[sink log]\ntype = log\n"
	    "[sink full]\ntype = file\npath = /dev/full\n");
	svc_init(&s, conf);
	/* The journal's socket, seen by the daemon in its own mount
	 * namespace as /run/systemd/journal/socket. */
	s.journal_fd = bind_dgram(s.dir, "socket", &path);
	free(path);
	journal_stream(&s, true);
	tool_path(tool, sizeof tool);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, ARGS(tool, "-j", s.dir), ARGS("-l", listen), NULL, 0);
	unsetenv("JOURNAL_STREAM");
	if (!svc_wait_up(&s, NULL, 5000)) {
		log = read_log(&s);
		/* tool_activate says 77 when it may not make the namespace;
		 * anything else is the daemon's failure. */
		ck_assert_msg(s.pid == 0 && WIFEXITED(s.exit_status) &&
		    WEXITSTATUS(s.exit_status) == 77, "did not start: %s", log);
		tu_skip("journal_structured_fields",
		    "no private mount namespace here: %s", log);
		free(log);
		svc_free(&s);
		return;
	}
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", id), 200);

	/* Gather entries until the event's and the failure's have come. */
	s.notify_fd = s.journal_fd;
	s.journal_fd = -1;
	end = tu_now_ms() + 3000;
	for (i = 0; tu_now_ms() < end && !(saw_start && saw_event &&
	    saw_failure); ) {
		svc_read_notes(&s, 100);
		for (; i < s.n_notes; i++) {
			const char *m, *v;

			entry_parse(s.notes[i], s.notes_len[i], &e);
			m = entry_get(&e, "MESSAGE");
			ck_assert_ptr_nonnull(m);
			ck_assert_ptr_nonnull(entry_get(&e, "PRIORITY"));
			ck_assert_str_eq(entry_get(&e, "SYSLOG_IDENTIFIER"),
			    "livedesk-webhookd");
			if (strstr(m, "listening on") != NULL) {
				saw_start = true;
				ck_assert_str_eq(entry_get(&e, "PRIORITY"),
				    "5");
			}
			v = entry_get(&e, "LIVEDESK_DELIVERY_ID");
			if (strncmp(m, "message_created ", 16) == 0) {
				saw_event = true;
				ck_assert_str_eq(entry_get(&e, "PRIORITY"),
				    "6");
				ck_assert_ptr_nonnull(v);
				ck_assert_str_eq(v, id);
				ck_assert_str_eq(entry_get(&e,
				    "LIVEDESK_EVENT"), "message_created");
				ck_assert_str_eq(entry_get(&e,
				    "LIVEDESK_CONVERSATION_ID"), "89");
				/* The plain-line suffix is for stderr only. */
				ck_assert_ptr_null(strstr(m, "delivery="));
			}
			if (v != NULL && entry_get(&e, "LIVEDESK_SINK") &&
			    strcmp(entry_get(&e, "LIVEDESK_SINK"), "full") ==
			    0) {
				saw_failure = true;
				ck_assert_str_eq(v, id);
				ck_assert_str_eq(entry_get(&e, "PRIORITY"),
				    "3");
			}
			entry_free(&e);
		}
	}
	ck_assert_msg(saw_start, "no start-up entry");
	ck_assert_msg(saw_event, "no entry for the event");
	ck_assert_msg(saw_failure, "no entry for the failed delivery");
	st = svc_signal_wait(&s, SIGTERM);
	ck_assert_int_eq(st, 0);
	log = read_log(&s);
	ck_assert_msg(log[0] == '\0', "plain lines on stderr:\n%s", log);
	free(log);
	svc_free(&s);
}
END_TEST

START_TEST(journal_long_message_kept)
{
	struct svc s;
	char tool[256], listen[64], *path, *log, *body;
	struct tu_response r;
	struct entry e;
	bool saw = false;
	long long end;
	size_t i, n;

	/* A JSON log line far longer than any fixed buffer still reaches
	 * the journal whole. */
	svc_init(&s, "[server]\nshutdown_grace = 1s\n[sink log]\ntype = log\n"
	    "format = json\nmax_content = 1000000\n");
	s.journal_fd = bind_dgram(s.dir, "socket", &path);
	free(path);
	journal_stream(&s, true);
	tool_path(tool, sizeof tool);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, ARGS(tool, "-j", s.dir), ARGS("-l", listen), NULL, 0);
	unsetenv("JOURNAL_STREAM");
	if (!svc_wait_up(&s, NULL, 5000)) {
		log = read_log(&s);
		ck_assert_msg(s.pid == 0 && WIFEXITED(s.exit_status) &&
		    WEXITSTATUS(s.exit_status) == 77, "did not start: %s", log);
		tu_skip("journal_long_message_kept",
		    "no private mount namespace here: %s", log);
		free(log);
		svc_free(&s);
		return;
	}
	/* Larger than a datagram may be: the entry comes in a memfd. */
	n = 300000;
	body = malloc(n + 100);
	ck_assert_ptr_nonnull(body);
	i = (size_t)sprintf(body, "{\"event\":\"message_created\","
	    "\"content\":\"");
	memset(body + i, 'x', n);
	i += n;
	i += (size_t)sprintf(body + i, "\"}");
	{
		char url[192];

		snprintf(url, sizeof url, "%s/webhook", s.url);
		tu_http(&r, "POST", url, json_ct, body, i);
		ck_assert_int_eq(r.status, 200);
		tu_response_free(&r);
	}
	free(body);
	s.notify_fd = s.journal_fd;
	s.journal_fd = -1;
	end = tu_now_ms() + 3000;
	for (i = 0; tu_now_ms() < end && !saw; ) {
		svc_read_notes(&s, 100);
		for (; i < s.n_notes; i++) {
			const char *m;

			entry_parse(s.notes[i], s.notes_len[i], &e);
			m = entry_get(&e, "MESSAGE");
			ck_assert_msg(m != NULL, "an entry without MESSAGE");
			if (strstr(m, "\"event\":\"message_created\"")) {
				saw = true;
				ck_assert_uint_ge(strlen(m), n);
			}
			entry_free(&e);
		}
	}
	ck_assert_msg(saw, "the long line did not reach the journal");
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
}
END_TEST

/* --- draining, delivery ids --- */

START_TEST(healthz_not_ready_while_draining)
{
	struct svc s;
	char listen[64], url[192];
	struct tu_response r;
	int stopping, st;
	long long t0;

	/* /dev/full fails every write: the event waits for its retries,
	 * so the drain takes the whole shutdown_grace. */
	svc_init(&s, "[server]\nshutdown_grace = 2s\n"
	    "[sink full]\ntype = file\npath = /dev/full\nretries = 5\n"
	    "retry_base = 500ms\n");
	svc_notify(&s);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, NULL, ARGS("-l", listen), NULL, 0);
	ck_assert_int_ge(svc_wait_note(&s, 0, "READY=1", 5000), 0);
	snprintf(url, sizeof url, "%s/healthz", s.url);
	tu_http(&r, "GET", url, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"ok\":true,\"status\":\"ready\"}");
	tu_response_free(&r);
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", NULL),
	    200);

	t0 = tu_now_ms();
	ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
	stopping = svc_wait_note(&s, 0, "STOPPING=1", 2000);
	ck_assert_int_ge(stopping, 0);
	tu_http(&r, "GET", url, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(r.body, "{\"ok\":false,\"status\":\"stopping\"}");
	tu_response_free(&r);
	/* New events are refused while it drains, with a Retry-After. */
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", NULL),
	    503);
	while (waitpid(s.pid, &st, 0) < 0 && errno == EINTR)
		;
	s.pid = 0;
	ck_assert_int_eq(st, 0);
	ck_assert_msg(tu_now_ms() - t0 >= 1500, "drained in %lld ms",
	    tu_now_ms() - t0);
	svc_free(&s);
}
END_TEST

/* Every line that is about one request carries its delivery id. */
START_TEST(delivery_id_in_log_lines)
{
	struct svc s;
	char listen[64], id[64], *log, *line, *save = NULL;
	int about = 0;

	svc_init(&s, "[server]\nshutdown_grace = 1s\n[sink log]\ntype = log\n"
	    "[sink full]\ntype = file\npath = /dev/full\nretries = 1\n"
	    "retry_base = 10ms\n");
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, NULL, ARGS("-l", listen), NULL, 0);
	ck_assert(svc_wait_up(&s, NULL, 5000));
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", id), 200);
	ck_assert(tu_wait_file_lines(s.log, 4, 3000));
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	log = read_log(&s);
	for (line = strtok_r(log, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "message_created") == NULL &&
		    strstr(line, "sink=full") == NULL)
			continue;
		about++;
		ck_assert_msg(strstr(line, id) != NULL, "no delivery id %s in "
		    "'%s'", id, line);
	}
	/* The log sink's line, the failed attempt, the dead letter. */
	ck_assert_int_ge(about, 3);
	free(log);
	svc_free(&s);
}
END_TEST

/* Whether this build has the exec sink (it may be on its way). */
static bool
have_exec_sink(const char *dir)
{
	char bin[256], *conf;
	const char *argv[5];
	pid_t pid;
	int st, devnull;
	posix_spawn_file_actions_t fa;

	ck_assert_int_ge(asprintf(&conf, "%s/probe.conf", dir), 0);
	tu_write_file(conf, "[sink x]\ntype = exec\ncommand = /bin/true\n",
	    40);
	snprintf(bin, sizeof bin, "%s/livedesk-webhookd", tu_build_dir());
	argv[0] = bin;
	argv[1] = "-c";
	argv[2] = conf;
	argv[3] = "--check-config";
	argv[4] = NULL;
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(devnull, 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, devnull, 1);
	posix_spawn_file_actions_adddup2(&fa, devnull, 2);
	ck_assert_int_eq(posix_spawn(&pid, bin, &fa, NULL,
	    (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(devnull);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	free(conf);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

START_TEST(delivery_id_in_exec_env)
{
	struct svc s;
	char listen[64], id[64], conf[512], *dir, *out, *got;

	dir = tu_tmpdir();
	ck_assert_msg(have_exec_sink(dir), "this build has no exec sink");
	ck_assert_int_ge(asprintf(&out, "%s/ids", dir), 0);
	snprintf(conf, sizeof conf, "[server]\nshutdown_grace = 2s\n"
	    "[sink run]\ntype = exec\nevents = *\nmessage_type = any\n"
	    "command = /bin/sh -c 'echo \"$LIVEDESK_DELIVERY_ID\" >\"$OUT\"'\n"
	    "env = OUT=%s\n", out);
	svc_init(&s, conf);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s.port);
	svc_spawn(&s, NULL, ARGS("-l", listen), NULL, 0);
	ck_assert(svc_wait_up(&s, NULL, 5000));
	ck_assert_int_eq(post_fixture(s.url, "message_created.json", id), 200);
	ck_assert_msg(tu_wait_file_lines(out, 1, 3000), "the script did not "
	    "run");
	got = tu_read_file(out, NULL);
	ck_assert_uint_eq(strlen(got), strlen(id) + 1);
	ck_assert(strncmp(got, id, strlen(id)) == 0);
	free(got);
	ck_assert_int_eq(svc_signal_wait(&s, SIGTERM), 0);
	svc_free(&s);
	tu_rmtree(dir);
	free(dir);
	free(out);
}
END_TEST

/* --- reload --- */

/* Waits up to ms for the file at path to contain needle. */
static bool
wait_file_has(const char *path, const char *needle, int ms)
{
	long long end = tu_now_ms() + ms;
	char *text;
	bool found;

	for (;;) {
		text = tu_read_file(path, NULL);
		found = strstr(text, needle) != NULL;
		free(text);
		if (found || tu_now_ms() >= end)
			return found;
		usleep(10000);
	}
}

/* The value of an unlabelled sample in GET base/metrics. */
static long long
metric_value(const char *base, const char *name)
{
	struct tu_response r;
	char url[192], *p;
	size_t n = strlen(name);
	long long v = -1;

	snprintf(url, sizeof url, "%s/metrics", base);
	tu_http(&r, "GET", url, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 200);
	for (p = r.body; p != NULL; p = strchr(p, '\n') ? strchr(p, '\n') + 1 :
	    NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			v = atoll(p + n + 1);
	tu_response_free(&r);
	ck_assert_msg(v >= 0, "no %s in /metrics", name);
	return v;
}

/* POSTs message id of conversation conv (incoming, for an exec sink). */
static long
post_message(const char *base, int conv, int id)
{
	struct tu_response r;
	char url[192], body[160];
	long st;

	snprintf(url, sizeof url, "%s/webhook", base);
	snprintf(body, sizeof body, "{\"event\":\"message_created\",\"id\":%d,"
	    "\"message_type\":\"incoming\",\"conversation\":{\"id\":%d}}", id,
	    conv);
	tu_http(&r, "POST", url, json_ct, body, strlen(body));
	st = r.status;
	tu_response_free(&r);
	return st;
}

/*
 * logrotate's daily SIGHUP while a conversation is busy: the retired
 * generation keeps that conversation (its order holds), and what it holds
 * still counts against queue_size, whichever generation takes the next
 * event; /metrics counts every generation's queue. _i: 0 without a spool,
 * 1 with one (then queue_size bounds the window, and nothing is refused). Conversation 7 is the busy one; 8 goes to the new generation.
 */
START_TEST(reload_keeps_queue_bound)
{
	enum { QUEUE = 10, BEFORE = 3, AFTER = 30 };
	struct tu_daemon d;
	char *dir = tu_tmpdir(), *script, *text, *conf, *runs, *go, *line,
	    *save = NULL, want[32];
	bool accepted[BEFORE + AFTER + 1] = { false };
	int id, n200 = 0, n503 = 0, last7 = 0, lines = 0;
	long st;

	ck_assert_int_ge(asprintf(&runs, "%s/runs", dir), 0);
	ck_assert_int_ge(asprintf(&go, "%s/go", dir), 0);
	ck_assert_int_ge(asprintf(&script, "%s/slow.sh", dir), 0);
	/* Runs until the test says go: nothing finishes meanwhile. */
	ck_assert_int_ge(asprintf(&text, "#!/bin/sh\ncat >/dev/null\n"
	    "while [ ! -e %s ]; do sleep 0.02; done\n"
	    "echo \"$LIVEDESK_CONVERSATION_ID $LIVEDESK_MESSAGE_ID\" >>%s\n",
	    go, runs), 0);
	tu_write_file(script, text, strlen(text));
	ck_assert_int_eq(chmod(script, 0755), 0);
	free(text);
	ck_assert_int_ge(asprintf(&conf, "[server]\nqueue_size = %d\n"
	    "shutdown_grace = 5s\n%s%s%s[sink slow]\ntype = exec\n"
	    "command = %s\n", QUEUE, _i ? "spool_dir = " : "", _i ? dir : "",
	    _i ? "/spool\n" : "", script), 0);
	ck_assert_msg(tu_daemon_start(&d, conf, NULL), "daemon did not start");

	for (id = 1; id <= BEFORE; id++) {
		ck_assert_int_eq(post_message(d.url, 7, id), 200);
		accepted[id] = true;
	}
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	ck_assert_msg(wait_file_has(d.log, "configuration reloaded", 5000),
	    "no reload");
	for (; id <= BEFORE + AFTER; id++) {
		st = post_message(d.url, id % 2 ? 7 : 8, id);
		ck_assert_msg(st == 200 || st == 503, "status %ld", st);
		accepted[id] = st == 200;
		n200 += st == 200;
		n503 += st == 503;
	}
	ck_assert_int_eq(n200 + n503, AFTER);
	if (_i) {
		/* With a spool the disk is the queue: everything is accepted,
		 * and queue_size bounds the window in memory, every
		 * generation's together; the rest waits on disk. */
		ck_assert_int_eq(n503, 0);
		ck_assert_int_eq(metric_value(d.url, "livedesk_queue_depth"),
		    QUEUE);
		ck_assert_int_eq(metric_value(d.url, "livedesk_backlog_events"),
		    BEFORE + AFTER);
	} else {
		/* Nothing finished: every accepted event is still pending. */
		ck_assert_msg(BEFORE + n200 <= QUEUE, "%d events accepted "
		    "after the reload, with %d pending and queue_size %d",
		    n200, BEFORE, QUEUE);
		ck_assert_int_gt(n200, 0);
		ck_assert_int_eq(metric_value(d.url, "livedesk_queue_depth"),
		    BEFORE + n200);
	}

	/* Nothing accepted is lost, and conversation 7 keeps its order. */
	tu_write_file(go, "", 0);
	ck_assert_msg(tu_wait_file_lines(runs, BEFORE + n200, 10000),
	    "%d of %d events ran", tu_count_lines(runs), BEFORE + n200);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	text = tu_read_file(runs, NULL);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save), lines++) {
		int conv = atoi(line);

		id = atoi(strchr(line, ' ') + 1);
		ck_assert_msg(id >= 1 && id <= BEFORE + AFTER && accepted[id],
		    "ran %s, not accepted", line);
		snprintf(want, sizeof want, "%d %d", id % 2 || id <= BEFORE ?
		    7 : 8, id);
		ck_assert_str_eq(line, want);
		if (conv == 7) {
			ck_assert_msg(id > last7, "%d ran after %d", id, last7);
			last7 = id;
		}
		accepted[id] = false;
	}
	ck_assert_int_eq(lines, BEFORE + n200);
	free(text);
	tu_daemon_free(&d);
	free(conf);
	free(script);
	free(runs);
	free(go);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *
service_suite(void)
{
	Suite *s = suite_create("service");
	TCase *tc;

	tc = tcase_create("notify");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, ready_after_listening);
	tcase_add_test(tc, status_line_counts);
	tcase_add_test(tc, reloading_then_ready);
	tcase_add_test(tc, stopping_on_sigterm);
	tcase_add_test(tc, sigint_stops_too);
	tcase_add_test(tc, no_notify_socket);
	suite_add_tcase(s, tc);

	tc = tcase_create("watchdog");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, watchdog_half_interval);
	tcase_add_test(tc, watchdog_long_interval);
	tcase_add_test(tc, watchdog_tiny_interval);
	tcase_add_test(tc, watchdog_other_pid);
	tcase_add_test(tc, watchdog_off);
	suite_add_tcase(s, tc);

	tc = tcase_create("activation");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, activation_one_socket);
	tcase_add_test(tc, activation_two_sockets);
	tcase_add_test(tc, activation_not_for_us);
	tcase_add_test(tc, activation_wrong_socket_type);
	tcase_add_test(tc, activation_systemd_socket_activate);
	suite_add_tcase(s, tc);

	tc = tcase_create("journal");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, journal_stream_matches);
	tcase_add_test(tc, journal_stream_other_file);
	tcase_add_test(tc, journal_structured_fields);
	tcase_add_test(tc, journal_long_message_kept);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, healthz_not_ready_while_draining);
	tcase_add_test(tc, delivery_id_in_log_lines);
	tcase_add_test(tc, delivery_id_in_exec_env);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, reload_keeps_queue_bound, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(service_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
