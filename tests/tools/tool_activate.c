/*
 * Test launcher: execs a program the way systemd would start it.
 *
 *   tool_activate [-n N] [-p PID] [-j DIR] PROGRAM [ARG...]
 *
 * -n N    the caller passed N listening sockets at fds 3..3+N-1: set
 *         LISTEN_FDS=N and LISTEN_PID to this process's pid, which exec
 *         keeps, so that it is the program's own (what sd_listen_fds asks).
 * -p PID  LISTEN_PID=PID instead (sockets meant for another process).
 * -j DIR  run in a private mount namespace where DIR is mounted on
 *         /run/systemd/journal, so that the program's journal datagrams
 *         reach DIR/socket, which the caller reads. Exits 77 when the
 *         namespace is not permitted (not root, no CAP_SYS_ADMIN).
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_SKIP	77

static int
private_journal(const char *dir)
{
	if (unshare(CLONE_NEWNS) == -1) {
		fprintf(stderr, "tool_activate: unshare: %s\n",
		    strerror(errno));
		return -1;
	}
	/* A tmpfs over /run: the host's is left alone, and the mount point
	 * can be made without touching it. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
	    == -1 ||
	    mkdir("/run/systemd", 0755) == -1 ||
	    mkdir("/run/systemd/journal", 0755) == -1 ||
	    mount(dir, "/run/systemd/journal", NULL, MS_BIND, NULL) == -1) {
		fprintf(stderr, "tool_activate: journal mounts: %s\n",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *nfds = NULL, *pid = NULL, *journal = NULL;
	char buf[32];
	int ch;

	while ((ch = getopt(argc, argv, "+n:p:j:")) != -1) {
		switch (ch) {
		case 'n': nfds = optarg; break;
		case 'p': pid = optarg; break;
		case 'j': journal = optarg; break;
		default:
			fprintf(stderr, "usage: tool_activate [-n N] [-p PID] "
			    "[-j DIR] PROGRAM [ARG...]\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "tool_activate: no program\n");
		return 2;
	}
	if (journal != NULL && private_journal(journal) == -1)
		return EXIT_SKIP;
	if (nfds != NULL) {
		if (pid == NULL) {
			snprintf(buf, sizeof buf, "%ld", (long)getpid());
			pid = buf;
		}
		if (setenv("LISTEN_FDS", nfds, 1) == -1 ||
		    setenv("LISTEN_PID", pid, 1) == -1) {
			fprintf(stderr, "tool_activate: setenv: %s\n",
			    strerror(errno));
			return 2;
		}
	}
	execv(argv[optind], argv + optind);
	fprintf(stderr, "tool_activate: %s: %s\n", argv[optind],
	    strerror(errno));
	return 127;
}
