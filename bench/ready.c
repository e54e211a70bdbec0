/*
 * Start-up and idle memory: starts a program with NOTIFY_SOCKET set to a
 * datagram socket of our own, times it from spawn to READY=1, lets it idle,
 * reads its memory from /proc, stops it with SIGTERM.
 *
 * ready [-i IDLE_MS] [-t TIMEOUT_MS] -- PROGRAM ARG...
 *
 * Prints one line: "ready_ms=12.345 rss_kb=N anon_kb=N hwm_kb=N". Exits 1
 * when READY=1 does not come within the timeout (default 5 s).
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The value of "Name:   N kB" in /proc/PID/status, or -1. */
static long
status_kb(pid_t pid, const char *name)
{
	char path[64], line[256];
	size_t n = strlen(name);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			kb = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return kb;
}

/* Waits up to ms for a datagram that holds READY=1. */
static int
wait_ready(int fd, double deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[4096];
	ssize_t n;
	double left;

	while ((left = deadline - now_ms()) > 0) {
		if (poll(&pfd, 1, (int)left + 1) <= 0)
			continue;
		if ((n = recv(fd, buf, sizeof buf - 1, 0)) <= 0)
			continue;
		buf[n] = '\0';
		if (strncmp(buf, "READY=1", 7) == 0 ||
		    strstr(buf, "\nREADY=1") != NULL)
			return 0;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun;
	long idle_ms = 1000, timeout_ms = 5000;
	double t0, t1;
	pid_t pid;
	int ch, fd, status, rc = 0;
	char dir[] = "/tmp/ready.XXXXXX";

	while ((ch = getopt(argc, argv, "i:t:")) != -1) {
		switch (ch) {
		case 'i': idle_ms = atol(optarg); break;
		case 't': timeout_ms = atol(optarg); break;
		default: goto usage;
		}
	}
	if (optind >= argc)
		goto usage;
	if (mkdtemp(dir) == NULL) {
		perror("ready: mkdtemp");
		return 1;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/notify", dir);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		perror("ready: notify socket");
		return 1;
	}
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	t0 = now_ms();
	if ((errno = posix_spawn(&pid, argv[optind], NULL, NULL,
	    argv + optind, environ)) != 0) {
		perror("ready: posix_spawn");
		return 1;
	}
	if (wait_ready(fd, t0 + timeout_ms) == -1) {
		fprintf(stderr, "ready: no READY=1 within %ld ms\n",
		    timeout_ms);
		rc = 1;
	} else {
		t1 = now_ms();
		usleep((useconds_t)idle_ms * 1000);
		printf("ready_ms=%.3f rss_kb=%ld anon_kb=%ld hwm_kb=%ld\n",
		    t1 - t0, status_kb(pid, "VmRSS"),
		    status_kb(pid, "RssAnon"), status_kb(pid, "VmHWM"));
	}
	kill(pid, SIGTERM);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	close(fd);
	unlink(sun.sun_path);
	rmdir(dir);
	return rc;
usage:
	fprintf(stderr, "usage: ready [-i IDLE_MS] [-t TIMEOUT_MS] -- PROGRAM "
	    "ARG...\n");
	return 2;
}
