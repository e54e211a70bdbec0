/*
 * libFuzzer harness for the HTTP front: any bytes, as what a client sends
 * on one connection (request lines, headers, chunked framing, pipelined
 * requests), to the daemon's own front (http.c on libmicrohttpd, the
 * runtime and a sink behind it) on a loopback port. The front is started
 * once, with the configuration below; each input is one connection:
 * connect, write the bytes, shut the write side, read the answer until
 * the server closes (or ANSWER_MSEC), close, then wait for the events it
 * queued to be delivered. Nothing is left behind per input: no thread,
 * no descriptor.
 *
 * The write side is shut only once the daemon has read every byte sent:
 * libmicrohttpd on epoll can miss an end of input that arrives together
 * with the last bytes, and then keeps the connection until
 * connection_timeout, which would make inputs take seconds, at random.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config.h"
#include "dispatch.h"
#include "http.h"
#include "netaddr.h"
#include "log.h"
#include "runtime.h"
#include "util.h"

/* How long the front has to answer and close after the input's end: it
 * closes at once on end of input, so this only bounds a bug. */
#define ANSWER_MSEC	2000
/* How long the daemon may take to read what was sent before the write
 * side is shut anyway (it may stop reading, e.g. to answer 431). */
#define READ_MSEC	100
/* How long the events of one input may take to reach the sink. */
#define SETTLE_MSEC	2000
/* How far past our own descriptor the daemon's end is looked for: both
 * are the lowest numbers free, so it is close. */
#define FD_SPAN		64

/*
 * Every check that needs no signature (no mutation could keep one
 * valid): the token, in the path or a header; allow_from behind a
 * trusted proxy, so that X-Forwarded-For and X-Real-IP are parsed.
 * Limits small enough for short inputs to reach 413 and 431. One HTTP
 * thread, no redelivery memory and no per-address limit, so that an
 * input is answered the same whatever came before it. Events go to
 * /dev/null. The seeds (Makefile, fuzz/seeds-http/) use this token.
 */
static const char conf_text[] =
    "[server]\n"
    "listen = 127.0.0.1:0\n"
    "path = /webhook\n"
    "token = fuzz-token\n"
    "trusted_proxies = 127.0.0.1\n"
    "allow_from = 127.0.0.0/8, 192.0.2.0/24, 2001:db8::/32\n"
    "max_body = 4k\n"
    "max_header_size = 4k\n"
    "http_threads = 1\n"
    "max_connections_per_ip = 0\n"
    "dedupe_window = 0\n"
    "log_level = warning\n"
    "\n"
    "[sink null]\n"
    "type = file\n"
    "path = /dev/null\n";

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The front, for the whole run: libFuzzer gives no other place to keep
 * it between inputs. */
static struct {
	struct runtime		*rt;
	struct http		*h;
	struct sockaddr_storage	 addr;
	unsigned		 addr_len;
} front;

static void __attribute__((noreturn))
die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_http: %s: %s\n", what, why);
	abort();
}

/* Stops the front as the daemon does, at the end of the run, so that
 * the leak check at exit sees a clean shutdown. */
static void
front_stop(void)
{
	runtime_refuse(front.rt);
	runtime_shutdown(front.rt);
	http_free(front.h);
	runtime_free(front.rt);
}

/* config_load reads a path: the configuration goes to a private
 * temporary file first, removed once read. */
static struct config *
load_config(void)
{
	char path[] = "/tmp/ld-fuzz-http.XXXXXX", *err = NULL;
	struct config *cfg;
	size_t len = sizeof conf_text - 1;
	int fd;

	if ((fd = mkstemp(path)) == -1)
		die("mkstemp /tmp", strerror(errno));
	if (util_write_all(fd, conf_text, len) == -1) {
		unlink(path);
		die(path, strerror(errno));
	}
	close(fd);
	cfg = config_load(path, &err);
	unlink(path);
	if (cfg == NULL)
		die("the built-in configuration", err);
	return cfg;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config *cfg;
	char *err = NULL;

	(void)argc;
	(void)argv;
	/* As the daemon: a peer gone is an error return, not a signal. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die("signal SIGPIPE", strerror(errno));
	/* OpenSSL loads its configuration on first use: here, on this
	 * thread, rather than on libmicrohttpd's (the token check), whose
	 * state from it LeakSanitizer otherwise reports as lost at the end
	 * of the run; before the atexit below, so that OpenSSL's own
	 * clean-up runs after front_stop. */
	if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1)
		die("OPENSSL_init_crypto", "failed");
	cfg = load_config();
	log_init(LOG_TARGET_STDERR, config_log_prio(cfg));
	if ((front.rt = runtime_new(cfg, NULL, &err)) == NULL)
		die("runtime_new", err);
	if ((front.h = http_new(front.rt, cfg, 0, 0, &err)) == NULL)
		die("http_new", err);
	runtime_start(front.rt);
	if (netaddr_parse_listen(http_address(front.h), &front.addr,
	    &front.addr_len, &err) == -1)
		die("http_address", err);
	if (atexit(front_stop) != 0)
		die("atexit", "cannot register the shutdown");
	return 0;
}

/* Reads and drops what is there; keeps the first bytes in head. Returns
 * 0 at the end of the answer (the server closed or reset), 1 to go on. */
static int
drain_answer(int fd, char *head, size_t head_len, size_t *got)
{
	char buf[4096];
	ssize_t n;

	n = recv(fd, buf, sizeof buf, 0);
	if (n > 0) {
		if (*got < head_len) {
			size_t k = head_len - *got < (size_t)n ?
			    head_len - *got : (size_t)n;

			memcpy(head + *got, buf, k);
		}
		*got += (size_t)n;
		return 1;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 1;
	return 0;
}

/* The daemon's end of our connection (it runs in this process): the
 * socket whose peer is our address; -1 before it is accepted or once it
 * is closed. */
static int
server_end(int fd)
{
	struct sockaddr_storage ours, peer;
	socklen_t ol = sizeof ours, pl;
	int i;

	if (getsockname(fd, (struct sockaddr *)&ours, &ol) == -1)
		die("getsockname", strerror(errno));
	for (i = 3; i < fd + FD_SPAN; i++) {
		pl = sizeof peer;
		if (i != fd && getpeername(i, (struct sockaddr *)&peer,
		    &pl) == 0 && pl == ol && memcmp(&peer, &ours, ol) == 0)
			return i;
	}
	return -1;
}

/* Whether srv is still the daemon's end of fd. */
static bool
server_holds(int srv, int fd)
{
	struct sockaddr_storage ours, peer;
	socklen_t ol = sizeof ours, pl = sizeof peer;

	return getsockname(fd, (struct sockaddr *)&ours, &ol) == 0 &&
	    getpeername(srv, (struct sockaddr *)&peer, &pl) == 0 &&
	    pl == ol && memcmp(&peer, &ours, ol) == 0;
}

/* Waits (a little) for the daemon to close its end, which it does after
 * its last callback on the connection, so that their coverage counts
 * for this input and not the next. */
static void
await_close(int fd)
{
	int64_t end = util_mono_msec() + READ_MSEC;
	struct timespec pause = { 0, 20000 };
	int srv;

	if ((srv = server_end(fd)) == -1)
		return;
	while (server_holds(srv, fd) && util_mono_msec() < end)
		(void)nanosleep(&pause, NULL);
}

/* Whether the daemon has read all we sent (or closed its end). */
static bool
server_read_all(int srv)
{
	int n;

	return ioctl(srv, FIONREAD, &n) == -1 || n == 0;
}

/*
 * Writes the input, then, once the daemon has read it all, shuts the
 * write side; reads all along (a long input could otherwise fill both
 * directions' buffers), until the server closes or ANSWER_MSEC passes.
 * Returns the bytes of the answer; its first bytes in head.
 */
static size_t
exchange(int fd, const uint8_t *data, size_t size, char *head,
    size_t head_len)
{
	const struct timespec tick = { 0, 50000 };
	int64_t now, end = util_mono_msec() + ANSWER_MSEC, read_end = 0;
	enum { SENDING, WAITING, SHUT } phase = SENDING;
	struct timespec wait;
	struct pollfd p;
	size_t off = 0, got = 0;
	ssize_t n;
	int srv = -1;

	while ((now = util_mono_msec()) < end) {
		if (phase == SENDING && off == size) {
			phase = WAITING;
			read_end = now + READ_MSEC;
		}
		if (phase == WAITING) {
			if (srv == -1)
				srv = server_end(fd);
			if ((srv != -1 && server_read_all(srv)) ||
			    now >= read_end) {
				(void)shutdown(fd, SHUT_WR);
				phase = SHUT;
			}
		}
		p.fd = fd;
		p.events = POLLIN | (phase == SENDING ? POLLOUT : 0);
		p.revents = 0;
		wait.tv_sec = (end - now) / 1000;
		wait.tv_nsec = (end - now) % 1000 * 1000000;
		if (ppoll(&p, 1, phase == WAITING ? &tick : &wait, NULL) ==
		    -1) {
			if (errno == EINTR)
				continue;
			die("ppoll", strerror(errno));
		}
		if (phase == SENDING &&
		    (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n == -1 && errno != EAGAIN && errno != EINTR)
				phase = SHUT;	/* answered and closed early */
		}
		if ((p.revents & (POLLIN | POLLERR | POLLHUP)) &&
		    drain_answer(fd, head, head_len, &got) == 0)
			return got;
	}
	fprintf(stderr, "fuzz_http: the front did not close the connection "
	    "within %d ms of the input's end\n", ANSWER_MSEC);
	return got;
}

/* Waits until the events this input queued are delivered, so that the
 * workers' coverage counts for the input that caused it. */
static void
settle(void)
{
	int64_t end = util_mono_msec() + SETTLE_MSEC;
	struct timespec pause = { 0, 50000 };
	struct dispatch_stats ds;
	struct gen *g;

	do {
		g = runtime_acquire(front.rt);
		runtime_stats(front.rt, g, &ds);
		runtime_release(g);
		free(ds.sinks);
		if (ds.queued == 0)
			return;
		(void)nanosleep(&pause, NULL);
	} while (util_mono_msec() < end);
}

/* A non-blocking connection to the front. libFuzzer's timers interrupt
 * system calls: an interrupted connect goes on, and is waited for. */
static int
front_connect(void)
{
	struct pollfd p;
	socklen_t len = sizeof(int);
	int fd, err = 0;

	fd = socket(front.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		die("socket", strerror(errno));
	if (connect(fd, (struct sockaddr *)&front.addr, front.addr_len) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR)
		die("connect to the front", strerror(errno));
	p.fd = fd;
	p.events = POLLOUT;
	while (poll(&p, 1, ANSWER_MSEC) == -1)
		if (errno != EINTR)
			die("poll on connect", strerror(errno));
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		die("getsockopt SO_ERROR", strerror(errno));
	if (err != 0 || !(p.revents & POLLOUT))
		die("connect to the front", err != 0 ? strerror(err) :
		    "timed out");
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct linger reset = { 1, 0 };
	char head[8];
	size_t got, k;
	int fd;

	fd = front_connect();
	got = exchange(fd, data, size, head, sizeof head);
	await_close(fd);
	/* A reset, not a FIN: should the daemon still hold its end, it
	 * lets go at once instead of at connection_timeout. */
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == -1)
		die("setsockopt SO_LINGER", strerror(errno));
	close(fd);
	/* Whatever the input, an answer is HTTP: libmicrohttpd's own
	 * refusals or ours, never stray bytes. */
	k = got < 7 ? got : 7;
	if (memcmp(head, "HTTP/1.", k) != 0)
		die("answer", "does not start with HTTP/1.");
	settle();
	return 0;
}
