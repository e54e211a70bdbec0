/*
 * The processes of an exec sink in persistent mode (see exec_persist.h).
 * A process belongs to the delivery that took it: that thread feeds it the
 * event's line, reads its answer and its stderr, and stops it at the
 * timeout; between events nobody watches it, and the next delivery first
 * looks at what it did meanwhile (exited, wrote out of turn). One mutex
 * guards only which processes are taken.
 */
#include <sys/pidfd.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec_persist.h"
#include "exec_job.h"
#include "exec_output.h"
#include "exec_path.h"
#include "exec_persist.h"
#include "log.h"
#include "util.h"

#define PERSIST_POLL_MS		100	/* how soon a cancel is noticed */
#define PERSIST_BACKOFF_MIN	100
#define PERSIST_BACKOFF_MAX	30000
#define PERSIST_GOOD_MS		60000	/* service that resets the backoff */
#define PERSIST_QUOTE		200	/* bytes of a bad line in the log */

struct proc {
	pid_t		 pid;		/* 0: not running */
	int		 pidfd;		/* -1: its exit is polled for */
	int		 in_fd, out_fd, err_fd;
	bool		 busy;		/* taken by a delivery */
	int64_t		 started_at;
	int64_t		 backoff_ms;	/* the last wait before a start */
	int64_t		 not_before;	/* no start before, monotonic ms */
	char		*ans;		/* stdout read, not yet an answer */
	size_t		 ans_len;
	bool		 reaped;
	bool		 known;		/* its wait status, once reaped */
	int		 status;
};

struct exec_persist {
	struct exec_persist_spec spec;
	struct log_ctx		 ctx;		/* the sink's, no event */
	pthread_mutex_t		 lock;
	pthread_cond_t		 idle;
	struct proc		*procs;		/* spec.n */
};

/* How a delivery's process stands. */
struct run {
	struct exec_persist	*pool;
	struct proc		*p;
	const struct log_ctx	*ctx;
	struct exec_output	*out;		/* its stderr, logged */
	struct sink_result	*r;
	bool			 sigpipe_pending;	/* before we began */
};

static void
fd_close(int *fd)
{
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

/* Reaps p if it has ended; never anyone else's child. */
static bool
proc_reap(struct proc *p, bool block)
{
	pid_t w;

	if (p->pid == 0 || p->reaped)
		return true;
	do
		w = waitpid(p->pid, &p->status, block ? 0 : WNOHANG);
	while (w == -1 && errno == EINTR);
	if (w == 0)
		return false;
	/* ECHILD: SIGCHLD ignored, reaped by the kernel; status lost. */
	p->known = w == p->pid;
	p->reaped = true;
	return true;
}

/* What the process came to, for a detail: "exited with status 3". */
static void
proc_ended(const struct proc *p, char *buf, size_t len)
{
	char sig[32];

	if (!p->known)
		snprintf(buf, len, "ended (exit status lost)");
	else if (WIFEXITED(p->status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(p->status));
	else if (WIFSIGNALED(p->status))
		snprintf(buf, len, "was killed by signal %d (%s)",
		    WTERMSIG(p->status), util_signal_name(WTERMSIG(p->status),
		    sig, sizeof sig));
	else
		snprintf(buf, len, "ended with wait status %#x",
		    (unsigned)p->status);
}

/* Reads what p's stderr has now into out (or discards it without one). */
static void
stderr_drain(struct proc *p, struct exec_output *out)
{
	char buf[4096];
	ssize_t n;

	while (p->err_fd != -1) {
		if (out != NULL)
			n = exec_output_read(out, EXEC_OUTPUT_STDERR,
			    p->err_fd);
		else
			n = read(p->err_fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			fd_close(&p->err_fd);
	}
}

/* Stops p's process group: SIGTERM, SIGKILL kill_after later (its stderr
 * still logged meanwhile, so that a full pipe cannot hold it), and reaps
 * it. */
static void
proc_kill(struct exec_persist *pool, struct proc *p, struct exec_output *out)
{
	int64_t kill_at;
	struct pollfd pfd[2];
	int n;

	if (killpg(p->pid, SIGTERM) == -1)
		(void)kill(p->pid, SIGTERM);
	kill_at = util_mono_msec() + pool->spec.kill_after_ms;
	while (!proc_reap(p, false) && util_mono_msec() < kill_at) {
		n = 0;
		if (p->pidfd != -1) {
			pfd[n].fd = p->pidfd;
			pfd[n++].events = POLLIN;
		}
		if (p->err_fd != -1) {
			pfd[n].fd = p->err_fd;
			pfd[n++].events = POLLIN;
		}
		(void)poll(pfd, (nfds_t)n, 20);
		stderr_drain(p, out);
	}
	/* The rest of its group too: what it started goes with it (the
	 * group outlives its leader while it has members). The leader
	 * itself only while not reaped: its pid may be another's now. */
	(void)killpg(p->pid, SIGKILL);
	if (!p->reaped)
		(void)kill(p->pid, SIGKILL);
	(void)proc_reap(p, true);
}

/*
 * What a handler that exited left running in its process group (a child
 * it forked and did not wait for): SIGTERM, SIGKILL kill_after later if
 * any is still there, as for a handler that is stopped. The group's id
 * is the handler's pid, which the kernel does not hand out again while
 * the group has members.
 */
static void
group_end(struct exec_persist *pool, pid_t pgid)
{
	int64_t kill_at;

	if (killpg(pgid, SIGTERM) == -1)
		return;
	kill_at = util_mono_msec() + pool->spec.kill_after_ms;
	while (killpg(pgid, 0) == 0 && util_mono_msec() < kill_at)
		(void)poll(NULL, 0, 10);
	(void)killpg(pgid, SIGKILL);
}

/* p is gone, or to be stopped (kill): its descriptors closed, what it
 * left in its group ended, its start again put off by the backoff. */
static void
proc_lose(struct exec_persist *pool, struct proc *p, bool kill,
    struct exec_output *out)
{
	int64_t now;

	fd_close(&p->in_fd);
	if (kill)
		proc_kill(pool, p, out);
	else {
		(void)proc_reap(p, true);
		group_end(pool, p->pid);
	}
	stderr_drain(p, out);
	if (out != NULL)
		exec_output_flush(out, EXEC_OUTPUT_STDERR);
	fd_close(&p->out_fd);
	fd_close(&p->err_fd);
	fd_close(&p->pidfd);
	p->pid = 0;
	p->ans_len = 0;
	now = util_mono_msec();
	if (now - p->started_at >= PERSIST_GOOD_MS || p->backoff_ms == 0)
		p->backoff_ms = PERSIST_BACKOFF_MIN;
	else if ((p->backoff_ms *= 2) > PERSIST_BACKOFF_MAX)
		p->backoff_ms = PERSIST_BACKOFF_MAX;
	p->not_before = now + p->backoff_ms;
}

/* Starts p's process. Returns 0, or an errno with *what saying what. */
static int
proc_start(struct exec_persist *pool, struct proc *p, char **what)
{
	const struct exec_persist_spec *sp = &pool->spec;
	char *prog = NULL;
	int fds[3], rc;

	if (exec_path_is_dir(sp->workdir) == -1) {
		rc = errno;
		*what = xasprintf("cannot change to workdir %s: %s",
		    sp->workdir, strerror(rc));
		return rc;
	}
	if (sp->prog == NULL || exec_path_can_exec(sp->prog) == -1) {
		/* Not there at start, or gone since: look again. */
		if ((prog = exec_path_resolve(sp->argv[0], sp->path,
		    sp->workdir)) == NULL) {
			rc = errno;
			*what = exec_path_error(sp->argv[0], sp->path, rc);
			return rc;
		}
	}
	rc = exec_job_spawn(prog != NULL ? prog : sp->prog, sp->argv,
	    sp->envp, sp->workdir, &p->pid, fds);
	if (rc != 0) {
		*what = xasprintf("cannot run %s: %s", prog != NULL ? prog :
		    sp->prog, strerror(rc));
		p->pid = 0;
		free(prog);
		return rc;
	}
	free(prog);
	p->in_fd = fds[0];
	p->out_fd = fds[1];
	p->err_fd = fds[2];
	/* Linux >= 5.3; without one its exit is polled for. */
	p->pidfd = pidfd_open(p->pid, 0);
	p->started_at = util_mono_msec();
	p->ans_len = 0;
	p->reaped = false;
	p->known = false;
	log_ctx(LOG_INFO, &pool->ctx, "started handler %s, pid %ld",
	    sp->argv[0], (long)p->pid);
	return 0;
}

struct exec_persist *
exec_persist_new(const struct exec_persist_spec *spec)
{
	struct exec_persist *pool = xcalloc(1, sizeof *pool);
	char *what;
	size_t i;

	pool->spec = *spec;
	if (pool->spec.n < 1)
		pool->spec.n = 1;
	pool->ctx.sink = spec->name;
	pool->ctx.conversation_id = -1;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->idle, NULL);
	pool->procs = xcalloc(pool->spec.n, sizeof *pool->procs);
	for (i = 0; i < pool->spec.n; i++) {
		struct proc *p = &pool->procs[i];

		p->pidfd = p->in_fd = p->out_fd = p->err_fd = -1;
		p->ans = xmalloc(CODEC_PERSIST_ANSWER_MAX + 1);
		if (proc_start(pool, p, &what) != 0) {
			/* Said again, and counted, at its first event. */
			log_ctx(LOG_WARNING, &pool->ctx, "%s", what);
			free(what);
		}
	}
	return pool;
}

/* Takes an idle process: a running one, else the one due soonest. */
static struct proc *
take(struct exec_persist *pool)
{
	struct proc *p, *best;
	size_t i;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		best = NULL;
		for (i = 0; i < pool->spec.n; i++) {
			p = &pool->procs[i];
			if (p->busy)
				continue;
			if (best == NULL || (best->pid == 0 && (p->pid != 0 ||
			    p->not_before < best->not_before)))
				best = p;
		}
		if (best != NULL)
			break;
		/* More deliveries than processes: the dispatcher keeps to
		 * concurrency, but a caller that does not just waits. */
		pthread_cond_wait(&pool->idle, &pool->lock);
	}
	best->busy = true;
	pthread_mutex_unlock(&pool->lock);
	return best;
}

static void
give_back(struct exec_persist *pool, struct proc *p)
{
	pthread_mutex_lock(&pool->lock);
	p->busy = false;
	pthread_cond_signal(&pool->idle);
	pthread_mutex_unlock(&pool->lock);
}

/* bytes as a log line may quote them: escaped, cut. */
static char *
quote(const char *bytes, size_t n)
{
	char *s = xstrndup(bytes, n), *q;

	q = util_escape(s, PERSIST_QUOTE);
	free(s);
	return q;
}

/* Between events: what the process did while nobody watched. Its stderr
 * is logged; one that exited or wrote to stdout out of turn is lost. */
static void
check_idle(struct run *u)
{
	struct exec_persist *pool = u->pool;
	struct proc *p = u->p;
	struct exec_output *out;
	struct pollfd pfd;
	char how[96], buf[256], *q;
	bool exited, eof = false;
	ssize_t n;

	if (p->pid == 0)
		return;
	out = exec_output_new(&pool->ctx, pool->spec.max_output);
	stderr_drain(p, out);
	exec_output_flush(out, EXEC_OUTPUT_STDERR);
	exited = proc_reap(p, false);
	pfd.fd = p->out_fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) == 1) {
		n = read(p->out_fd, buf, sizeof buf);
		if (n > 0) {
			q = quote(buf, (size_t)n);
			log_ctx(LOG_ERR, &pool->ctx, "protocol error: handler "
			    "pid %ld wrote to stdout with no event in flight: "
			    "\"%s\"; restarting it", (long)p->pid, q);
			free(q);
			proc_lose(pool, p, !exited, out);
			u->r->restarts++;
			goto out;
		}
		eof = n == 0;
	}
	if (exited || eof) {
		/* Exited, or closed its stdout: either way done with. */
		proc_lose(pool, p, !exited, out);
		if (exited)
			proc_ended(p, how, sizeof how);
		else
			snprintf(how, sizeof how, "closed its stdout");
		log_ctx(LOG_WARNING, &pool->ctx, "handler %s while idle; "
		    "restarting it", how);
		u->r->restarts++;
	}
out:
	exec_output_free(out);
}

/* Waits for p's backoff to pass and starts it. 0, or -1 with r filled. */
static int
ensure_running(struct run *u)
{
	struct exec_persist *pool = u->pool;
	struct proc *p = u->p;
	struct timespec ts;
	int64_t left;
	char *what;
	int rc;

	if (p->pid != 0)
		return 0;
	while ((left = p->not_before - util_mono_msec()) > 0) {
		if (pool->spec.cancel != NULL &&
		    atomic_load(pool->spec.cancel)) {
			snprintf(u->r->detail, sizeof u->r->detail,
			    "cancelled at shutdown");
			return -1;
		}
		if (left > PERSIST_POLL_MS)
			left = PERSIST_POLL_MS;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		(void)nanosleep(&ts, NULL);
	}
	if ((rc = proc_start(pool, p, &what)) == 0)
		return 0;
	snprintf(u->r->detail, sizeof u->r->detail, "%s", what);
	free(what);
	/* Short of descriptors or processes: not the event's fault. */
	u->r->retry_later = rc == EMFILE || rc == ENFILE || rc == EAGAIN ||
	    rc == ENOMEM;
	if (!u->r->retry_later)
		log_ctx(LOG_ERR, u->ctx, "%s", u->r->detail);
	/* Tried again after a backoff, as after a loss. */
	p->started_at = util_mono_msec();
	p->backoff_ms = p->backoff_ms == 0 ? PERSIST_BACKOFF_MIN :
	    p->backoff_ms * 2 > PERSIST_BACKOFF_MAX ? PERSIST_BACKOFF_MAX :
	    p->backoff_ms * 2;
	p->not_before = p->started_at + p->backoff_ms;
	return -1;
}

/* Writes what the pipe takes of line now. 0, or an errno. */
static int
feed(struct run *u, const char *line, size_t len, size_t *off)
{
	sigset_t pipe_set;
	struct timespec zero = { 0, 0 };
	ssize_t w;

	while (*off < len) {
		w = write(u->p->in_fd, line + *off, len - *off);
		if (w > 0) {
			*off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w < 0 && errno == EPIPE && !u->sigpipe_pending) {
			/* Ours, blocked in this thread: take it back. */
			sigemptyset(&pipe_set);
			sigaddset(&pipe_set, SIGPIPE);
			(void)sigtimedwait(&pipe_set, NULL, &zero);
		}
		return w < 0 ? errno : EIO;
	}
	return 0;
}

/* Reads p's stdout. 1: a whole line is there (its length, newline
 * included, in *n); 0: not yet; -1: it closed stdout; -2: too long. */
static int
read_answer(struct proc *p, size_t *n)
{
	char *nl;
	ssize_t got;

	for (;;) {
		if (p->ans_len > CODEC_PERSIST_ANSWER_MAX)
			return -2;
		got = read(p->out_fd, p->ans + p->ans_len,
		    CODEC_PERSIST_ANSWER_MAX + 1 - p->ans_len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN)
			break;
		if (got <= 0)
			return -1;
		p->ans_len += (size_t)got;
	}
	if ((nl = memchr(p->ans, '\n', p->ans_len)) != NULL) {
		*n = (size_t)(nl - p->ans) + 1;
		return 1;
	}
	return p->ans_len > CODEC_PERSIST_ANSWER_MAX ? -2 : 0;
}

/* The answer line (n bytes) to ev: r from it, or a protocol error. */
static void
take_answer(struct run *u, const struct ld_event *ev, size_t n)
{
	struct proc *p = u->p;
	struct codec_persist_answer a;
	char *why = NULL, *q;

	if (n < p->ans_len) {
		q = quote(p->ans + n, p->ans_len - n);
		why = xasprintf("more than one line for one event (then "
		    "\"%s\")", q);
		free(q);
	} else if (codec_persist_answer_decode(p->ans, n, ev->delivery_id,
	    &a, &why) == 0) {
		p->ans_len = 0;
		if (a.ok) {
			u->r->ok = true;
			return;
		}
		q = util_escape(a.error, 0);
		snprintf(u->r->detail, sizeof u->r->detail, "handler "
		    "answered not ok: %s", a.error[0] != '\0' ? q :
		    "(no error given)");
		free(q);
		log_ctx(LOG_WARNING, u->ctx, "%s", u->r->detail);
		return;
	}
	q = quote(p->ans, n > 0 && p->ans[n - 1] == '\n' ? n - 1 : n);
	log_ctx(LOG_ERR, u->ctx, "protocol error: handler pid %ld answered "
	    "\"%s\": %s; restarting it", (long)p->pid, q, why);
	snprintf(u->r->detail, sizeof u->r->detail, "protocol error: %s",
	    why);
	free(q);
	free(why);
	proc_lose(u->pool, p, true, u->out);
	u->r->restarts++;
}

/* The process went wrong mid-event (how says why); r says so. */
static void
lose_mid_event(struct run *u, bool kill, const char *how)
{
	char ended[96], *tail;
	size_t o;

	proc_lose(u->pool, u->p, kill, u->out);
	u->r->restarts++;
	if (how == NULL) {
		proc_ended(u->p, ended, sizeof ended);
		snprintf(u->r->detail, sizeof u->r->detail, "handler %s "
		    "without answering", ended);
	} else
		snprintf(u->r->detail, sizeof u->r->detail, "%s", how);
	log_ctx(LOG_WARNING, u->ctx, "%s; restarting it", u->r->detail);
	if ((tail = exec_output_tail(u->out)) != NULL) {
		o = strlen(u->r->detail);
		snprintf(u->r->detail + o, sizeof u->r->detail - o,
		    "; stderr: %s", tail);
		free(tail);
	}
}

/* Waits up to ms for p to exit; whether it did. */
static bool
wait_exit(struct proc *p, int64_t ms)
{
	int64_t end = util_mono_msec() + ms;
	struct pollfd pfd;

	while (!proc_reap(p, false)) {
		if (util_mono_msec() >= end)
			return false;
		pfd.fd = p->pidfd;
		pfd.events = POLLIN;
		(void)poll(&pfd, p->pidfd != -1 ? 1 : 0, 10);
	}
	return true;
}

/* One event through p: its line written, its answer read. */
static void
run_event(struct run *u, const struct ld_event *ev, const char *line,
    size_t len)
{
	struct exec_persist *pool = u->pool;
	struct proc *p = u->p;
	struct pollfd pfd[4];
	int64_t deadline = util_mono_msec() + pool->spec.timeout_ms, now;
	size_t off = 0, n;
	char dur[32], how[128];
	bool exited;
	int k, rc, wait;

	for (;;) {
		k = 0;
		if (off < len) {
			pfd[k].fd = p->in_fd;
			pfd[k++].events = POLLOUT;
		}
		pfd[k].fd = p->out_fd;
		pfd[k++].events = POLLIN;
		if (p->err_fd != -1) {
			pfd[k].fd = p->err_fd;
			pfd[k++].events = POLLIN;
		}
		if (p->pidfd != -1) {
			pfd[k].fd = p->pidfd;
			pfd[k++].events = POLLIN;
		}
		now = util_mono_msec();
		wait = deadline - now < PERSIST_POLL_MS ?
		    (int)(deadline - now) : PERSIST_POLL_MS;
		(void)poll(pfd, (nfds_t)k, wait < 0 ? 0 : wait);
		if (off < len && (rc = feed(u, line, len, &off)) != 0) {
			/* It closed its stdin: it can take no event. */
			lose_mid_event(u, true, rc == EPIPE ? "handler "
			    "closed its stdin" : "writing to the handler "
			    "failed");
			return;
		}
		stderr_drain(p, u->out);
		/* Reaped first: all an exited process wrote is there. */
		exited = proc_reap(p, false);
		rc = read_answer(p, &n);
		if (rc == 1 || rc == -2) {
			take_answer(u, ev, rc == 1 ? n : p->ans_len);
			return;
		}
		if (exited) {
			lose_mid_event(u, false, NULL);
			return;
		}
		if (rc == -1) {
			/* No answer can come. A process that exits closes
			 * its stdout a moment before it can be reaped. */
			if (wait_exit(p, pool->spec.kill_after_ms))
				lose_mid_event(u, false, NULL);
			else
				lose_mid_event(u, true, "handler closed its "
				    "stdout without answering");
			return;
		}
		now = util_mono_msec();
		if (pool->spec.cancel != NULL &&
		    atomic_load(pool->spec.cancel)) {
			lose_mid_event(u, true, "cancelled at shutdown");
			return;
		}
		if (now >= deadline) {
			util_format_duration(pool->spec.timeout_ms, dur,
			    sizeof dur);
			snprintf(how, sizeof how, "timed out after %s", dur);
			lose_mid_event(u, true, how);
			return;
		}
	}
}

void
exec_persist_deliver(struct exec_persist *pool, const struct ld_event *ev,
    char *const *env, const struct log_ctx *ctx, struct sink_result *r)
{
	sigset_t pipe_set, old_mask, pending;
	struct run u;
	char *line;
	size_t len;

	memset(&u, 0, sizeof u);
	u.pool = pool;
	u.ctx = ctx;
	u.r = r;
	if ((line = codec_persist_encode(ev, env, &len)) == NULL) {
		snprintf(r->detail, sizeof r->detail, "cannot write the "
		    "event's line (out of memory?)");
		log_ctx(LOG_ERR, ctx, "%s", r->detail);
		return;
	}
	/* A process that closes its stdin must not kill the daemon:
	 * SIGPIPE stays blocked in this thread and is taken back. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	u.sigpipe_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

	u.p = take(pool);
	check_idle(&u);
	if (ensure_running(&u) == 0) {
		u.out = exec_output_new(ctx, pool->spec.max_output);
		run_event(&u, ev, line, len);
		stderr_drain(u.p, u.out);
		exec_output_flush(u.out, EXEC_OUTPUT_STDERR);
		if (exec_output_dropped(u.out) > 0)
			log_ctx(LOG_NOTICE, ctx, "%llu bytes of stderr "
			    "dropped (max_output %llu)",
			    (unsigned long long)exec_output_dropped(u.out),
			    (unsigned long long)pool->spec.max_output);
		exec_output_free(u.out);
	}
	give_back(pool, u.p);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	free(line);
}

/* At stop: every stdin closed, up to grace_ms for the processes to see
 * the end of it and exit. */
static void
stop_wait(struct exec_persist *pool, struct exec_output *out)
{
	int64_t end = util_mono_msec() + pool->spec.grace_ms;
	struct pollfd pfd;
	bool left;
	size_t i;
	char buf[4096];

	for (i = 0; i < pool->spec.n; i++)
		fd_close(&pool->procs[i].in_fd);
	for (;;) {
		left = false;
		for (i = 0; i < pool->spec.n; i++) {
			struct proc *p = &pool->procs[i];

			if (p->pid == 0)
				continue;
			stderr_drain(p, out);
			/* Whatever it still says on stdout is no answer. */
			while (p->out_fd != -1 && read(p->out_fd, buf,
			    sizeof buf) > 0)
				;
			if (proc_reap(p, false)) {
				exec_output_flush(out, EXEC_OUTPUT_STDERR);
				fd_close(&p->out_fd);
				fd_close(&p->err_fd);
				fd_close(&p->pidfd);
				p->pid = 0;
			} else
				left = true;
		}
		if (!left || util_mono_msec() >= end)
			return;
		pfd.fd = -1;
		(void)poll(&pfd, 0, 10);
	}
}

void
exec_persist_free(struct exec_persist *pool)
{
	struct exec_output *out;
	size_t i;

	if (pool == NULL)
		return;
	out = exec_output_new(&pool->ctx, pool->spec.max_output);
	stop_wait(pool, out);
	for (i = 0; i < pool->spec.n; i++) {
		struct proc *p = &pool->procs[i];

		if (p->pid != 0) {
			log_ctx(LOG_WARNING, &pool->ctx, "handler pid %ld "
			    "still running after its stdin closed; stopping "
			    "it", (long)p->pid);
			proc_kill(pool, p, out);
			exec_output_flush(out, EXEC_OUTPUT_STDERR);
		}
		fd_close(&p->out_fd);
		fd_close(&p->err_fd);
		fd_close(&p->pidfd);
		free(p->ans);
	}
	exec_output_free(out);
	free(pool->procs);
	pthread_cond_destroy(&pool->idle);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}
