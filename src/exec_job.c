/* The child of one exec run (see exec_job.h). */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec_job.h"
#include "exec_output.h"
#include "log.h"
#include "util.h"

#define EXEC_POLL_MS		100	/* how soon a cancel is noticed */
#define EXEC_LINGER_MS		200	/* output still open after exit */
#define EXEC_STDIN_CHUNK	65536

struct job {
	const struct exec_job_spec *spec;
	struct exec_output	*out;
	const struct log_ctx	*ctx;
	pid_t			 pid;
	int			 in_fd;		/* our end of its stdin */
	size_t			 in_off;
	int			 out_fd[2];	/* EXEC_OUTPUT_STDOUT, _STDERR */
	bool			 sigpipe_pending;	/* before we began */
	enum exec_job_stopped	 why;
};

static void
stdin_close(struct job *j)
{
	if (j->in_fd != -1)
		close(j->in_fd);
	j->in_fd = -1;
}

/* Writes what the pipe takes now; a reader that went away is fine. */
static void
stdin_write(struct job *j)
{
	sigset_t pipe_set;
	struct timespec zero = { 0, 0 };
	size_t n;
	ssize_t w;
	int saved;

	while (j->in_off < j->spec->in_len) {
		n = j->spec->in_len - j->in_off;
		w = write(j->in_fd, j->spec->in + j->in_off,
		    n < EXEC_STDIN_CHUNK ? n : EXEC_STDIN_CHUNK);
		if (w > 0) {
			j->in_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		saved = w < 0 ? errno : EIO;
		if (saved == EPIPE && !j->sigpipe_pending) {
			/* Ours, blocked in this thread: take it back. */
			sigemptyset(&pipe_set);
			sigaddset(&pipe_set, SIGPIPE);
			(void)sigtimedwait(&pipe_set, NULL, &zero);
		}
		if (saved != EPIPE)
			log_ctx(LOG_WARNING, j->ctx, "stdin: %s",
			    strerror(saved));
		break;
	}
	stdin_close(j);
}

static void
stream_close(struct job *j, int i)
{
	if (j->out_fd[i] == -1)
		return;
	exec_output_flush(j->out, i);
	close(j->out_fd[i]);
	j->out_fd[i] = -1;
}

static void
stream_read(struct job *j, int i)
{
	ssize_t n = exec_output_read(j->out, i, j->out_fd[i]);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		stream_close(j, i);
}

static int
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Starts the program on three fresh pipes. Returns 0, or an errno. */
static int
job_spawn(struct job *j)
{
	const struct exec_job_spec *sp = j->spec;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int rc;

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(err, O_CLOEXEC) == -1 || nonblock(in[1]) == -1 ||
	    nonblock(out[0]) == -1 || nonblock(err[0]) == -1) {
		rc = errno;
		goto fail;
	}
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		goto fail;
	if ((rc = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		goto fail;
	}
	/* Signals the daemon blocks or ignores are the child's own again;
	 * its own process group lets a timeout stop all it started. */
	sigemptyset(&none);
	sigfillset(&dfl);
	sigdelset(&dfl, SIGKILL);
	sigdelset(&dfl, SIGSTOP);
	if ((rc = posix_spawn_file_actions_adddup2(&fa, in[0], 0)) == 0 &&
	    (rc = posix_spawn_file_actions_adddup2(&fa, out[1], 1)) == 0 &&
	    (rc = posix_spawn_file_actions_adddup2(&fa, err[1], 2)) == 0 &&
	    (rc = posix_spawn_file_actions_addchdir_np(&fa,
	    sp->workdir)) == 0 &&
	    (rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) == 0 &&
	    (rc = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
	    (rc = posix_spawnattr_setsigdefault(&attr, &dfl)) == 0 &&
	    (rc = posix_spawnattr_setpgroup(&attr, 0)) == 0 &&
	    (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)) == 0)
		rc = posix_spawn(&j->pid, sp->prog, &fa, &attr, sp->argv,
		    sp->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		goto fail;
	close(in[0]);
	close(out[1]);
	close(err[1]);
	j->in_fd = in[1];
	j->out_fd[EXEC_OUTPUT_STDOUT] = out[0];
	j->out_fd[EXEC_OUTPUT_STDERR] = err[0];
	return 0;
fail:
	if (in[0] != -1) { close(in[0]); close(in[1]); }
	if (out[0] != -1) { close(out[0]); close(out[1]); }
	if (err[0] != -1) { close(err[0]); close(err[1]); }
	return rc;
}

/* Signals the child's process group (and the child, should it have left
 * the group). */
static void
job_signal(const struct job *j, int sig)
{
	if (killpg(j->pid, sig) == -1)
		(void)kill(j->pid, sig);
}

/* Reaps our child if it has ended; never anyone else's. */
static bool
job_reap(struct job *j, int *status, bool *known)
{
	pid_t w;

	do
		w = waitpid(j->pid, status, WNOHANG);
	while (w == -1 && errno == EINTR);
	if (w == 0)
		return false;
	/* ECHILD: SIGCHLD ignored, reaped by the kernel; status lost. */
	*known = w == j->pid;
	return true;
}

/*
 * Feeds stdin, logs output, and waits for the child, stopping its process
 * group at the timeout or a cancel: SIGTERM, then SIGKILL kill_after later.
 * Returns once the child is reaped and its output closed (or left behind
 * by a background process for EXEC_LINGER_MS).
 */
static void
job_wait(struct job *j, int *status, bool *known)
{
	const struct exec_job_spec *sp = j->spec;
	int64_t now = util_mono_msec(), deadline = now + sp->timeout_ms;
	int64_t kill_at = 0, reaped_at = 0, wait_ms;
	struct pollfd pfd[3];
	int what[3];
	bool reaped = false, killed = false, open_out;
	int nfd, i, k, backoff = 1;

	for (;;) {
		if (!reaped && job_reap(j, status, known)) {
			reaped = true;
			reaped_at = util_mono_msec();
		}
		now = util_mono_msec();
		if (!reaped && j->why == EXEC_JOB_NOT_STOPPED) {
			if (sp->cancel != NULL && atomic_load(sp->cancel))
				j->why = EXEC_JOB_CANCELLED;
			else if (now >= deadline)
				j->why = EXEC_JOB_TIMED_OUT;
			if (j->why != EXEC_JOB_NOT_STOPPED) {
				job_signal(j, SIGTERM);
				kill_at = now + sp->kill_after_ms;
			}
		}
		if (j->why != EXEC_JOB_NOT_STOPPED && !killed &&
		    now >= kill_at) {
			job_signal(j, SIGKILL);
			killed = true;
		}
		open_out = j->out_fd[0] != -1 || j->out_fd[1] != -1;
		/* Done; but past a timeout, not before the rest of the
		 * group is gone or has had its SIGKILL. */
		if (reaped && (!open_out || now >= reaped_at + EXEC_LINGER_MS) &&
		    (j->why == EXEC_JOB_NOT_STOPPED || killed ||
		    killpg(j->pid, 0) == -1))
			break;

		wait_ms = EXEC_POLL_MS;
		if (!reaped && j->why == EXEC_JOB_NOT_STOPPED &&
		    deadline - now < wait_ms)
			wait_ms = deadline - now;
		if (j->why != EXEC_JOB_NOT_STOPPED && !killed &&
		    kill_at - now < wait_ms)
			wait_ms = kill_at - now;
		if (reaped && open_out && reaped_at + EXEC_LINGER_MS - now <
		    wait_ms)
			wait_ms = reaped_at + EXEC_LINGER_MS - now;
		if (!reaped && !open_out) {
			/* Only its exit left to see: look soon, then less. */
			if (backoff < wait_ms)
				wait_ms = backoff;
			backoff = backoff < 50 ? backoff * 2 : 50;
		}
		if (wait_ms < 0)
			wait_ms = 0;

		nfd = 0;
		if (j->in_fd != -1) {
			pfd[nfd].fd = j->in_fd;
			pfd[nfd].events = POLLOUT;
			what[nfd++] = -1;
		}
		for (i = 0; i < 2; i++) {
			if (j->out_fd[i] == -1)
				continue;
			pfd[nfd].fd = j->out_fd[i];
			pfd[nfd].events = POLLIN;
			what[nfd++] = i;
		}
		if (poll(pfd, (nfds_t)nfd, (int)wait_ms) <= 0)
			continue;
		for (i = 0; i < nfd; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (what[i] == -1)
				stdin_write(j);
			else
				stream_read(j, what[i]);
		}
	}
	stdin_close(j);
	for (i = 0; i < 2; i++) {
		/* What is there now, not what a straggler may still write. */
		for (k = 0; k < 64 && j->out_fd[i] != -1; k++)
			if (exec_output_read(j->out, i, j->out_fd[i]) <= 0)
				break;
		stream_close(j, i);
	}
}

int
exec_job_run(const struct exec_job_spec *spec, struct exec_output *out,
    const struct log_ctx *ctx, struct exec_job_end *end)
{
	struct job j;
	sigset_t pipe_set, old_mask, pending;
	bool known = false;
	int status = 0, rc;

	memset(&j, 0, sizeof j);
	j.spec = spec;
	j.out = out;
	j.ctx = ctx;
	j.why = EXEC_JOB_NOT_STOPPED;
	j.in_fd = j.out_fd[0] = j.out_fd[1] = -1;

	/* A child that closes its stdin early must not kill the daemon:
	 * SIGPIPE stays blocked in this thread and is taken back. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	j.sigpipe_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

	if ((rc = job_spawn(&j)) == 0) {
		log_ctx(LOG_DEBUG, ctx, "started %s, pid %ld", spec->prog,
		    (long)j.pid);
		job_wait(&j, &status, &known);
		end->stopped = j.why;
		end->known = known;
		end->status = status;
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	return rc;
}
