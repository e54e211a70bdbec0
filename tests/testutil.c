/* Helpers shared by the Check suites (see testutil.h). */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "testutil.h"

extern char **environ;

const char *
tu_build_dir(void)
{
	const char *b = getenv("LD_BUILD");

	return b != NULL && *b != '\0' ? b : "build";
}

char *
tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
	do {
		if (n + 4096 + 1 > cap) {
			cap = (cap + 4096) * 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	ck_assert_msg(!ferror(f), "read %s", path);
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

char *
tu_fixture(const char *name, size_t *len)
{
	char path[512];

	snprintf(path, sizeof path, "fixtures/%s", name);
	return tu_read_file(path, len);
}

void
tu_write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

char *
tu_tmpdir(void)
{
	char *d = strdup("/tmp/ldtest.XXXXXX");

	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

void
tu_rmtree(const char *path)
{
	if (path != NULL)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
tu_free_port(void)
{
	int port;

	close(tu_refusing_port(&port));
	return port;
}

bool
tu_port_taken(const char *log)
{
	char *text;
	bool taken;

	if (access(log, F_OK) != 0)
		return false;
	text = tu_read_file(log, NULL);
	taken = strcasestr(text, "address already in use") != NULL;
	free(text);
	return taken;
}

/* Whether the socket inode is among pid's descriptors. */
static bool
pid_has_socket(pid_t pid, unsigned long inode)
{
	char dir[64], path[320], link[64], want[64];
	struct dirent *e;
	bool found = false;
	DIR *d;
	ssize_t n;

	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof want, "socket:[%lu]", inode);
	if ((d = opendir(dir)) == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof link - 1);
		if (n > 0) {
			link[n] = '\0';
			found = strcmp(link, want) == 0;
		}
	}
	closedir(d);
	return found;
}

/* The port of a listening socket of pid in /proc/PID/net/FILE: port
 * itself (0: the first but not_port), or 0 for none. */
static int
listen_port_in(pid_t pid, const char *file, int port, int not_port)
{
	char path[64], line[512];
	unsigned long inode;
	unsigned int p, state;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/net/%s", (int)pid, file);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (found == 0 && fgets(line, sizeof line, f) != NULL) {
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*s %*[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s "
		    "%*s %lu", &p, &state, &inode) == 3 && state == 0x0A &&
		    (port == 0 ? (int)p != not_port : (int)p == port) &&
		    pid_has_socket(pid, inode))
			found = (int)p;
	}
	fclose(f);
	return found;
}

bool
tu_exited(pid_t pid)
{
	siginfo_t si;

	/* Without reaping it: its status is the caller's. */
	memset(&si, 0, sizeof si);
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
	    0 && si.si_pid == pid;
}

int
tu_listen_port(pid_t pid, int not_port)
{
	int port;

	if ((port = listen_port_in(pid, "tcp", 0, not_port)) == 0)
		port = listen_port_in(pid, "tcp6", 0, not_port);
	return port;
}

/* Whether a connection to 127.0.0.1:port is taken. */
static bool
answers(int port)
{
	struct sockaddr_in a;
	int fd, rc;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	rc = connect(fd, (struct sockaddr *)&a, sizeof a);
	close(fd);
	return rc == 0;
}

int
tu_wait_listening(pid_t pid, int port, int ms)
{
	long long end = tu_now_ms() + ms;

	/* Connecting is cheap; /proc is read once something answers. */
	do {
		if (tu_exited(pid))
			return -1;
		/* On 127.0.0.1, or on :: for both families (caddy). */
		if (answers(port))
			return listen_port_in(pid, "tcp", port, 0) == port ||
			    listen_port_in(pid, "tcp6", port, 0) == port;
		usleep(10000);
	} while (tu_now_ms() < end);
	return -1;
}

int
tu_refusing_port(int *port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

void
tu_skip(const char *test, const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: %s: ", test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

long long
tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
tu_count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int c, n = 0;

	if (f == NULL)
		return -1;
	while ((c = getc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

bool
tu_wait_file_lines(const char *path, int min_lines, int ms)
{
	long long end = tu_now_ms() + ms;

	do {
		int n = tu_count_lines(path);

		if (n >= 0 && n >= min_lines)
			return true;
		usleep(10000);
	} while (tu_now_ms() < end);
	return false;
}

int
tu_count_in_file(const char *path, const char *text)
{
	char *buf, *p;
	size_t n = strlen(text);
	int count = 0;

	if (access(path, F_OK) != 0)
		return 0;
	buf = tu_read_file(path, NULL);
	for (p = buf; (p = strstr(p, text)) != NULL; p += n)
		count++;
	free(buf);
	return count;
}

bool
tu_wait_file_has(const char *path, const char *text, int n, int ms)
{
	long long end = tu_now_ms() + ms;

	do {
		if (tu_count_in_file(path, text) >= n)
			return true;
		usleep(10000);
	} while (tu_now_ms() < end);
	return false;
}

void
tu_sign_chatwoot(char out[80], const char *secret, const char *ts,
    const char *body, size_t len)
{
	unsigned char mac[32];
	unsigned int ml = 0;
	char *msg;
	size_t n = strlen(ts), i;

	msg = malloc(n + 1 + len);
	ck_assert_ptr_nonnull(msg);
	memcpy(msg, ts, n);
	msg[n] = '.';
	memcpy(msg + n + 1, body, len);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (unsigned char *)msg, n + 1 + len, mac, &ml));
	free(msg);
	strcpy(out, "sha256=");
	for (i = 0; i < 32; i++)
		sprintf(out + 7 + 2 * i, "%02x", mac[i]);
}

void
tu_sign_standard(char out[64], const char *key64, const char *id,
    const char *ts, const char *body)
{
	unsigned char key[64], mac[32];
	unsigned int ml = 0;
	char msg[4096];
	int kl;

	kl = EVP_DecodeBlock(key, (const unsigned char *)key64,
	    (int)strlen(key64));
	ck_assert_int_gt(kl, 0);
	if (key64[strlen(key64) - 1] == '=')
		kl--;
	snprintf(msg, sizeof msg, "%s.%s.%s", id, ts, body);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, kl,
	    (unsigned char *)msg, strlen(msg), mac, &ml));
	strcpy(out, "v1,");
	EVP_EncodeBlock((unsigned char *)out + 3, mac, 32);
}

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	char **buf = arg;
	size_t old = *buf ? strlen(*buf) : 0, add = size * n;
	char *nb = realloc(*buf, old + add + 1);

	if (nb == NULL)
		return 0;
	memcpy(nb + old, p, add);
	nb[old + add] = '\0';
	*buf = nb;
	return add;
}

void
tu_http(struct tu_response *r, const char *method, const char *url,
    const char *const *headers, const char *body, size_t len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;

	memset(r, 0, sizeof *r);
	ck_assert_ptr_nonnull(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	/* curl adds a form Content-Type to POSTs unless told otherwise. */
	hl = curl_slist_append(hl, "Content-Type:");
	hl = curl_slist_append(hl, "Expect:");
	for (; headers != NULL && *headers != NULL; headers++)
		hl = curl_slist_append(hl, *headers);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	r->body_len = r->body ? strlen(r->body) : 0;
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
}

char *
tu_header(const struct tu_response *r, const char *name)
{
	size_t nl = strlen(name);
	const char *p = r->headers;

	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);

		if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t vl;

			while (*v == ' ')
				v++;
			vl = (size_t)(p + ll - v);
			while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			return strndup(v, vl);
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

void
tu_response_free(struct tu_response *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof *r);
}

int
tu_log_port(const char *log)
{
	char *text, *p, *q;
	int port = 0;

	if (access(log, F_OK) != 0)
		return 0;
	text = tu_read_file(log, NULL);
	/* 127.0.0.1:PORT or [::1]:PORT: the port after the last colon
	 * before the comma. */
	if ((p = strstr(text, "listening on ")) != NULL &&
	    (q = strchr(p, ',')) != NULL) {
		*q = '\0';
		port = atoi(strrchr(p, ':') + 1);
	}
	free(text);
	return port;
}

/* Reads the port a daemon started on port 0 took from its log, waiting
 * until end; false if it exits or never says. */
static bool
listening_port(struct tu_daemon *d, long long end)
{
	int st;

	while (tu_now_ms() < end) {
		if ((d->port = tu_log_port(d->log)) > 0)
			return true;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return false;
		}
		usleep(5000);
	}
	return false;
}

/* tu_daemon_start, with the soft RLIMIT_NOFILE at nofile (0: as is) from
 * before the daemon runs. */
static bool
daemon_start(struct tu_daemon *d, const char *conf_text,
    const char *const *extra, unsigned nofile)
{
	char listen[64], bin[256], health[160], ulimit[64];
	const char *argv[64];
	int argc = 0, fd;
	posix_spawn_file_actions_t fa;
	long long end;

	memset(d, 0, sizeof *d);
	d->dir = tu_tmpdir();
	if (extra != NULL && extra[0] != NULL && extra[1] != NULL &&
	    strcmp(extra[0], "-l") == 0) {
		/* The caller's own address ("[::1]:0"; port 0 as below). */
		snprintf(listen, sizeof listen, "%s", extra[1]);
		d->port = atoi(strrchr(listen, ':') + 1);
		extra += 2;
	} else {
		/* Port 0: the kernel picks, the daemon says which (no race
		 * with suites running side by side). */
		snprintf(listen, sizeof listen, "127.0.0.1:0");
	}
	snprintf(bin, sizeof bin, "%s/livedesk-webhookd", tu_build_dir());
	ck_assert_int_ge(asprintf(&d->log, "%s/daemon.log", d->dir), 0);
	if (nofile != 0) {
		/* Set by a shell that then execs: under check-valgrind this
		 * process is itself under valgrind, which keeps a setrlimit
		 * of RLIMIT_NOFILE to itself and never gives it to the
		 * kernel, so no child would inherit it. Only the soft limit:
		 * valgrind keeps its own descriptors above it, up to the
		 * hard one. */
		snprintf(ulimit, sizeof ulimit, "ulimit -S -n %u && "
		    "exec \"$@\"", nofile);
		argv[argc++] = "/bin/sh";
		argv[argc++] = "-c";
		argv[argc++] = ulimit;
		argv[argc++] = "sh";
	}
	if (getenv("LD_VALGRIND_DAEMON") != NULL) {
		/* The daemon itself under memcheck: errors and leaks make it
		 * exit 99, which tu_daemon_free and tu_daemon_stop report. */
		argv[argc++] = "/usr/bin/valgrind";
		argv[argc++] = "-q";
		argv[argc++] = "--leak-check=full";
		argv[argc++] = "--errors-for-leak-kinds=definite,indirect";
		argv[argc++] = "--error-exitcode=99";
	}
	argv[argc++] = bin;
	if (conf_text != NULL) {
		ck_assert_int_ge(asprintf(&d->conf, "%s/test.conf", d->dir), 0);
		tu_write_file(d->conf, conf_text, strlen(conf_text));
		argv[argc++] = "-c";
		argv[argc++] = d->conf;
	}
	argv[argc++] = "-l";
	argv[argc++] = listen;
	for (; extra != NULL && *extra != NULL && argc < 62; extra++)
		argv[argc++] = *extra;
	argv[argc] = NULL;

	fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	ck_assert_int_eq(posix_spawn(&d->pid, argv[0], &fa, NULL,
	    (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);

	end = tu_now_ms() + (getenv("LD_VALGRIND_DAEMON") ? 60000 : 10000);
	if (d->port == 0) {
		char *p = strrchr(listen, ':') + 1;

		if (!listening_port(d, end))
			return false;
		snprintf(p, sizeof listen - (size_t)(p - listen), "%d",
		    d->port);
	}
	snprintf(d->url, sizeof d->url, "http://%s", listen);
	snprintf(health, sizeof health, "%s/healthz", d->url);
	while (tu_now_ms() < end) {
		struct tu_response r;
		int st;

		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return false;
		}
		long status;

		tu_http(&r, "GET", health, NULL, NULL, 0);
		status = r.status;
		tu_response_free(&r);
		if (status == 0) {
			usleep(10000);
			continue;
		}
		return true;
	}
	return false;
}

bool
tu_daemon_start(struct tu_daemon *d, const char *conf_text,
    const char *const *extra)
{
	return daemon_start(d, conf_text, extra, 0);
}

bool
tu_daemon_start_nofile(struct tu_daemon *d, const char *conf_text,
    const char *const *extra, unsigned nofile)
{
	return daemon_start(d, conf_text, extra, nofile);
}

bool
tu_wait_log(const struct tu_daemon *d, const char *text, int ms)
{
	return tu_wait_file_has(d->log, text, 1, ms);
}

long long
tu_metric(const struct tu_daemon *d, const char *name)
{
	struct tu_response r;
	char url[192];
	const char *p;
	size_t n = strlen(name);
	long long v = -1;
	bool found = false;

	snprintf(url, sizeof url, "%s/metrics", d->url);
	tu_http(&r, "GET", url, NULL, NULL, 0);
	ck_assert_msg(r.status == 200, "GET %s: %ld", url, r.status);
	for (p = r.body; p != NULL && *p != '\0' && !found;
	    p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ') {
			v = atoll(p + n + 1);
			found = true;
		}
	tu_response_free(&r);
	ck_assert_msg(found, "no %s in %s", name, url);
	return v;
}

bool
tu_wait_idle(const struct tu_daemon *d, int ms)
{
	long long end = tu_now_ms() + ms;

	do {
		if (tu_metric(d, "livedesk_queue_depth") == 0)
			return true;
		usleep(10000);
	} while (tu_now_ms() < end);
	return false;
}

int
tu_daemon_kill(struct tu_daemon *d, int sig)
{
	int st = -1;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	while (waitpid(d->pid, &st, 0) < 0 && errno == EINTR)
		;
	d->pid = 0;
	return st;
}

int
tu_daemon_stop(struct tu_daemon *d)
{
	return tu_daemon_kill(d, SIGTERM);
}

/* Waits up to ms for pid; returns its status or -1 if it still runs. */
static int
wait_exit(pid_t pid, int ms)
{
	long long end = tu_now_ms() + ms;
	int st;

	do {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(5000);
	} while (tu_now_ms() < end);
	return -1;
}

void
tu_daemon_free(struct tu_daemon *d)
{
	int st;

	/*
	 * A clean stop, so that the sanitizers' leak check (or valgrind's)
	 * runs and its verdict lands in the exit status: a daemon still
	 * running at the end of a test must stop cleanly, with status 0.
	 */
	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		st = wait_exit(d->pid, 60000);
		if (st == -1) {
			tu_daemon_kill(d, SIGKILL);
			ck_abort_msg("the daemon did not stop on SIGTERM");
		}
		d->pid = 0;
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "the daemon stopped with status %d (see %s)",
		    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
		    d->log);
	}
	/* Whatever way it ended, the sanitizers had nothing to say. */
	if (d->log != NULL && access(d->log, F_OK) == 0) {
		char *text = tu_read_file(d->log, NULL);

		ck_assert_msg(strstr(text, "Sanitizer") == NULL &&
		    strstr(text, "runtime error") == NULL,
		    "sanitizer report in %s:\n%s", d->log, text);
		free(text);
	}
	if (getenv("LD_KEEP_TMP") == NULL)
		tu_rmtree(d->dir);
	free(d->dir);
	free(d->conf);
	free(d->log);
	memset(d, 0, sizeof *d);
}

pid_t
tu_mock_api_start(const char *log, const char *const *args, int *port)
{
	const char *argv[32];
	char bin[512], buf[32];
	posix_spawn_file_actions_t fa;
	struct pollfd pfd;
	size_t n = 0;
	ssize_t r;
	int p[2], argc = 0;
	pid_t pid;

	snprintf(bin, sizeof bin, "%s/tests/tool_mock_api", tu_build_dir());
	argv[argc++] = bin;
	argv[argc++] = "--log";
	argv[argc++] = log;
	argv[argc++] = "--max-seconds";
	argv[argc++] = "60";
	for (; args != NULL && *args != NULL && argc < 31; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	ck_assert_int_eq(posix_spawn(&pid, bin, &fa, NULL,
	    (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	buf[0] = '\0';
	while (n < sizeof buf - 1 && memchr(buf, '\n', n) == NULL) {
		ck_assert_msg(poll(&pfd, 1, 5000) == 1, "mock did not start");
		r = read(p[0], buf + n, sizeof buf - 1 - n);
		ck_assert_msg(r > 0, "mock did not start");
		n += (size_t)r;
	}
	close(p[0]);
	buf[n] = '\0';
	*port = atoi(buf);
	ck_assert_int_gt(*port, 0);
	return pid;
}

void
tu_mock_api_stop(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
}
