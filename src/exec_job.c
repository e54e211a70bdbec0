/*
 * The child of one exec run (see exec_job.h), with explicit states in the
 * manner of tmux's job.c, and waited for through a pidfd polled alongside
 * its pipes.
 */
#include <sys/pidfd.h>
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

/*
 * Where a job stands. Its exit and the end of its output come in either
 * order: a background process of a script may hold the output open after
 * the script exits, and a script may close its output and run on.
 */
enum job_state {
	JOB_RUNNING,	/* neither yet */
	JOB_EXITED,	/* reaped; its output still open */
	JOB_CLOSED,	/* its output closed; not reaped yet */
	JOB_DONE,	/* reaped, and its output closed, or left to a
			   background process EXEC_LINGER_MS after the exit */
};

/* How far stopping it has gone, at its timeout or a cancel. */
enum job_stop {
	JOB_STOP_NONE,
	JOB_STOP_TERM,	/* SIGTERM to its group; SIGKILL at kill_at */
	JOB_STOP_KILL,	/* SIGKILL to its group */
};

/* What a polled descriptor is: a stream's index, or one of these. */
enum {
	JOB_FD_STDIN = -1,
	JOB_FD_EXIT = -2,
};

struct job {
	const struct exec_job_spec *spec;
	struct exec_output	*out;
	const struct log_ctx	*ctx;
	enum job_state		 state;
	enum job_stop		 stop;
	enum exec_job_stopped	 why;
	pid_t			 pid;
	int			 pidfd;		/* -1: its exit is polled for */
	int			 in_fd;		/* our end of its stdin */
	size_t			 in_off;
	int			 out_fd[2];	/* EXEC_OUTPUT_STDOUT, _STDERR */
	bool			 sigpipe_pending;	/* before we began */
	bool			 known;
	int			 status;
	int64_t			 deadline;
	int64_t			 kill_at;
	int64_t			 exited_at;
	int			 backoff;	/* ms, while polled for */
};

static bool
reaped(const struct job *j)
{
	return j->state == JOB_EXITED || j->state == JOB_DONE;
}

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

/* The output is over: what is left of a stream is logged, its pipe
 * closed; with both closed, the job moves on. */
static void
stream_close(struct job *j, int i)
{
	if (j->out_fd[i] == -1)
		return;
	exec_output_flush(j->out, i);
	close(j->out_fd[i]);
	j->out_fd[i] = -1;
	if (j->out_fd[0] != -1 || j->out_fd[1] != -1)
		return;
	if (j->state == JOB_RUNNING)
		j->state = JOB_CLOSED;
	else if (j->state == JOB_EXITED)
		j->state = JOB_DONE;
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

int
exec_job_spawn(const char *prog, char *const *argv, char *const *envp,
    const char *workdir, pid_t *pid, int fds[3])
{
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
	    workdir)) == 0 &&
	    (rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) == 0 &&
	    (rc = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
	    (rc = posix_spawnattr_setsigdefault(&attr, &dfl)) == 0 &&
	    (rc = posix_spawnattr_setpgroup(&attr, 0)) == 0 &&
	    (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)) == 0)
		rc = posix_spawn(pid, prog, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		goto fail;
	close(in[0]);
	close(out[1]);
	close(err[1]);
	fds[0] = in[1];
	fds[1] = out[0];
	fds[2] = err[0];
	return 0;
fail:
	if (in[0] != -1) { close(in[0]); close(in[1]); }
	if (out[0] != -1) { close(out[0]); close(out[1]); }
	if (err[0] != -1) { close(err[0]); close(err[1]); }
	return rc;
}

/* Starts the program on three fresh pipes. Returns 0, or an errno. */
static int
job_spawn(struct job *j)
{
	const struct exec_job_spec *sp = j->spec;
	int fds[3], rc;

	rc = exec_job_spawn(sp->prog, sp->argv, sp->envp, sp->workdir,
	    &j->pid, fds);
	if (rc != 0)
		return rc;
	j->in_fd = fds[0];
	j->out_fd[EXEC_OUTPUT_STDOUT] = fds[1];
	j->out_fd[EXEC_OUTPUT_STDERR] = fds[2];
	return 0;
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
static void
job_reap(struct job *j)
{
	pid_t w;

	do
		w = waitpid(j->pid, &j->status, WNOHANG);
	while (w == -1 && errno == EINTR);
	if (w == 0)
		return;
	/* ECHILD: SIGCHLD ignored, reaped by the kernel; status lost. */
	j->known = w == j->pid;
	j->exited_at = util_mono_msec();
	j->state = j->state == JOB_CLOSED ? JOB_DONE : JOB_EXITED;
}

/* At the timeout or a cancel, SIGTERM to the group; kill_after later,
 * SIGKILL. */
static void
job_stop(struct job *j, int64_t now)
{
	const struct exec_job_spec *sp = j->spec;

	if (!reaped(j) && j->stop == JOB_STOP_NONE) {
		if (sp->cancel != NULL && atomic_load(sp->cancel))
			j->why = EXEC_JOB_CANCELLED;
		else if (now >= j->deadline)
			j->why = EXEC_JOB_TIMED_OUT;
		if (j->why != EXEC_JOB_NOT_STOPPED) {
			job_signal(j, SIGTERM);
			j->stop = JOB_STOP_TERM;
			j->kill_at = now + sp->kill_after_ms;
		}
	}
	if (j->stop == JOB_STOP_TERM && now >= j->kill_at) {
		job_signal(j, SIGKILL);
		j->stop = JOB_STOP_KILL;
	}
}

/* How long poll may wait: until the next thing due, and never so long
 * that a cancel goes unseen. */
static int64_t
job_timeout(struct job *j, int64_t now)
{
	int64_t ms = EXEC_POLL_MS;

	if (!reaped(j) && j->stop == JOB_STOP_NONE && j->deadline - now < ms)
		ms = j->deadline - now;
	if (j->stop == JOB_STOP_TERM && j->kill_at - now < ms)
		ms = j->kill_at - now;
	if (j->state == JOB_EXITED && j->exited_at + EXEC_LINGER_MS - now < ms)
		ms = j->exited_at + EXEC_LINGER_MS - now;
	if (j->state == JOB_CLOSED && j->pidfd == -1) {
		/* Only its exit left to see, and no pidfd to tell: look
		 * soon, then less. */
		if (j->backoff < ms)
			ms = j->backoff;
		j->backoff = j->backoff < 50 ? j->backoff * 2 : 50;
	}
	return ms < 0 ? 0 : ms;
}

/* What to poll: its stdin while there is more for it, its output while
 * open, its pidfd until it is reaped. */
static int
job_pollfds(const struct job *j, struct pollfd pfd[4], int what[4])
{
	int n = 0, i;

	if (j->in_fd != -1) {
		pfd[n].fd = j->in_fd;
		pfd[n].events = POLLOUT;
		what[n++] = JOB_FD_STDIN;
	}
	for (i = 0; i < 2; i++) {
		if (j->out_fd[i] == -1)
			continue;
		pfd[n].fd = j->out_fd[i];
		pfd[n].events = POLLIN;
		what[n++] = i;
	}
	if (!reaped(j) && j->pidfd != -1) {
		pfd[n].fd = j->pidfd;
		pfd[n].events = POLLIN;
		what[n++] = JOB_FD_EXIT;
	}
	return n;
}

/*
 * Feeds stdin, logs output, and waits for the child, stopping its group
 * at the timeout or a cancel. Returns once the job is done and, past a
 * timeout or a cancel, the rest of its group gone or sent its SIGKILL.
 */
static void
job_wait(struct job *j)
{
	struct pollfd pfd[4];
	int what[4], n, i, k;
	int64_t now;

	j->deadline = util_mono_msec() + j->spec->timeout_ms;
	/* Linux >= 5.3. Without one (an older kernel, no descriptor left,
	 * a child already reaped by the kernel) its exit is polled for. */
	j->pidfd = pidfd_open(j->pid, 0);
	for (;;) {
		if (!reaped(j) && j->pidfd == -1)
			job_reap(j);
		now = util_mono_msec();
		job_stop(j, now);
		if (j->state == JOB_EXITED && now >= j->exited_at +
		    EXEC_LINGER_MS)
			j->state = JOB_DONE;
		if (j->state == JOB_DONE && (j->stop != JOB_STOP_TERM ||
		    killpg(j->pid, 0) == -1))
			break;
		n = job_pollfds(j, pfd, what);
		if (poll(pfd, (nfds_t)n, (int)job_timeout(j, now)) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (what[i] == JOB_FD_STDIN)
				stdin_write(j);
			else if (what[i] == JOB_FD_EXIT)
				job_reap(j);
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
	if (j->pidfd != -1)
		close(j->pidfd);
}

int
exec_job_run(const struct exec_job_spec *spec, struct exec_output *out,
    const struct log_ctx *ctx, struct exec_job_end *end)
{
	struct job j;
	sigset_t pipe_set, old_mask, pending;
	int rc;

	memset(&j, 0, sizeof j);
	j.spec = spec;
	j.out = out;
	j.ctx = ctx;
	j.state = JOB_RUNNING;
	j.stop = JOB_STOP_NONE;
	j.why = EXEC_JOB_NOT_STOPPED;
	j.pidfd = j.in_fd = j.out_fd[0] = j.out_fd[1] = -1;
	j.backoff = 1;

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
		job_wait(&j);
		end->stopped = j.why;
		end->known = j.known;
		end->status = j.status;
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	return rc;
}
