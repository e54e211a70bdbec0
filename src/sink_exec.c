/* Exec sink: runs a program per event, the payload on its stdin, the event's
 * fields in its environment, its output in the log, or (mode = persistent)
 * keeps processes running that take an event per JSON line (exec_persist.c).
 * Never through a shell.
 * The sink's keys and its ops are here; the command line is exec_argv.c's,
 * finding the program exec_path.c's, the environment exec_env.c's, the
 * child exec_job.c's and its output exec_output.c's. */
#include <sys/wait.h>

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_persist.h"
#include "config_key.h"
#include "exec_argv.h"
#include "exec_env.h"
#include "exec_job.h"
#include "exec_output.h"
#include "exec_path.h"
#include "exec_persist.h"
#include "livedesk/sink.h"
#include "log.h"
#include "util.h"

struct exec_conf {
	char		 *command;	/* as written, for conf_print */
	char		**argv;		/* parsed from command, NULL-ended */
	int64_t		  timeout_ms;
	int64_t		  kill_after_ms;
	char		**env;		/* "KEY=VALUE" lines, n_env */
	size_t		  n_env;
	char		 *workdir;
	uint64_t	  max_output;
	int		  mode;		/* EXEC_MODE_* */
};

/* mode =: a process per event, or processes kept running. */
enum {
	EXEC_MODE_SPAWN,
	EXEC_MODE_PERSISTENT,
};
static const char *const exec_modes[] = { "spawn", "persistent", NULL };

struct exec_state {
	const struct exec_conf	 *conf;
	char			 *name;
	const atomic_bool	 *cancel;
	char			 *prog;		/* NULL: look it up per run */
	struct exec_env		  env;		/* PATH, LANG, the env lines */
	const char		 *path;		/* PATH's value, in env */
	struct exec_persist	 *pool;		/* mode = persistent */
};

/* --- configuration --- */

/* command: split into words once, here; printed as written. */
static int
command_set(void *conf, const struct config_key *k, const char *value,
    char **err)
{
	struct exec_conf *c = conf;
	char **argv;

	(void)k;
	if ((argv = exec_argv_parse(value, err)) == NULL)
		return -1;
	exec_argv_free(c->argv);
	free(c->command);
	c->argv = argv;
	c->command = xstrdup(value);
	return 0;
}

static void
command_free(void *conf, const struct config_key *k)
{
	struct exec_conf *c = conf;

	(void)k;
	free(c->command);
	exec_argv_free(c->argv);
	c->command = NULL;
	c->argv = NULL;
}

/* env: each line adds a variable. */
static int
env_set(void *conf, const struct config_key *k, const char *value,
    char **err)
{
	struct exec_conf *c = conf;
	const char *eq;

	(void)k;
	if ((eq = strchr(value, '=')) == NULL || eq == value) {
		*err = xasprintf("'%s' is not KEY=VALUE", value);
		return -1;
	}
	c->env = xreallocarray(c->env, c->n_env + 1, sizeof *c->env);
	c->env[c->n_env++] = xstrdup(value);
	return 0;
}

static void
env_print(const void *conf, const struct config_key *k, FILE *out)
{
	const struct exec_conf *c = conf;
	size_t i;

	/* Values are never shown: a key's name cannot tell a database URL
	 * with a password from an office-hours setting. */
	for (i = 0; i < c->n_env; i++)
		fprintf(out, "%s = %.*s=(set, not shown)\n", k->name,
		    (int)strcspn(c->env[i], "="), c->env[i]);
}

static void
env_free(void *conf, const struct config_key *k)
{
	struct exec_conf *c = conf;
	size_t i;

	(void)k;
	for (i = 0; i < c->n_env; i++) {
		explicit_bzero(c->env[i], strlen(c->env[i]));
		free(c->env[i]);
	}
	free(c->env);
	c->env = NULL;
	c->n_env = 0;
}

static const struct config_key_own command_key = {
	.set = command_set,
	.free = command_free,
};
static const struct config_key_own env_key = {
	.set = env_set,
	.print = env_print,
	.free = env_free,
};

#define OFF(f) offsetof(struct exec_conf, f)
static const struct config_key exec_keys[] = {
	{ .name = "command", .type = CONFIG_KEY_OWN, .off = OFF(command),
	  .own = &command_key, .required = true },
	{ .name = "timeout", .type = CONFIG_KEY_DURATION,
	  .off = OFF(timeout_ms), .min = 1, .max = 86400000, .def = "30s" },
	{ .name = "kill_after", .type = CONFIG_KEY_DURATION,
	  .off = OFF(kill_after_ms), .min = 0, .max = 86400000,
	  .def = "5s" },
	{ .name = "workdir", .type = CONFIG_KEY_PATH, .off = OFF(workdir),
	  .def = "/" },
	{ .name = "max_output", .type = CONFIG_KEY_SIZE,
	  .off = OFF(max_output), .min = 0, .max = UINT64_MAX,
	  .def = "64k" },
	{ .name = "env", .type = CONFIG_KEY_OWN, .off = OFF(env),
	  .own = &env_key },
	{ .name = "mode", .type = CONFIG_KEY_ENUM, .off = OFF(mode),
	  .choices = exec_modes, .def = "spawn" },
	{ .name = NULL },
};
#undef OFF

static const struct config_key_section exec_section = {
	.keys = exec_keys,
	.size = sizeof(struct exec_conf),
};

static int
exec_conf_set(void **conf, const char *key, const char *value, char **err)
{
	return config_key_section_set(&exec_section, conf, key, value, err);
}

static int
exec_conf_check(void **conf, char **err)
{
	return config_key_section_check(&exec_section, conf, err);
}

static void
exec_conf_print(const void *conf, FILE *out)
{
	config_key_section_print(&exec_section, conf, out);
}

static void
exec_conf_free(void *conf)
{
	config_key_section_free(&exec_section, conf);
}

/* --- finding the program --- */

static int
exec_probe(const void *conf, char **err)
{
	const struct exec_conf *c = conf;
	const char *path = exec_env_path(c->env, c->n_env);
	char *prog, *why;

	if (exec_path_is_dir(c->workdir) == -1) {
		*err = xasprintf("workdir %s: %s", c->workdir,
		    strerror(errno));
		return -1;
	}
	if ((prog = exec_path_resolve(c->argv[0], path, c->workdir)) ==
	    NULL) {
		why = exec_path_error(c->argv[0], path, errno);
		*err = xasprintf("command %s", why);
		free(why);
		return -1;
	}
	free(prog);
	return 0;
}

/* --- start and stop --- */

static int
exec_start(void **state, const void *conf, const struct sink_ctx *ctx,
    char **err)
{
	const struct exec_conf *c = conf;
	struct exec_state *s;

	(void)err;
	s = xcalloc(1, sizeof *s);
	s->conf = c;
	s->name = xstrdup(ctx->name);
	s->cancel = ctx->cancel;
	exec_env_sink(&s->env, c->env, c->n_env);
	s->path = exec_env_path(s->env.v, s->env.n);
	/* Not found now: the probe said so; each run looks again. */
	s->prog = exec_path_resolve(c->argv[0], s->path, c->workdir);
	if (c->mode == EXEC_MODE_PERSISTENT) {
		struct exec_persist_spec ps = {
			.name = s->name,
			.prog = s->prog,
			.argv = c->argv,
			.envp = s->env.v,
			.path = s->path,
			.workdir = c->workdir,
			.timeout_ms = c->timeout_ms,
			.kill_after_ms = c->kill_after_ms,
			.grace_ms = ctx->grace_ms,
			.max_output = c->max_output,
			.n = ctx->concurrency > 0 ? (size_t)ctx->concurrency : 1,
			.cancel = ctx->cancel,
		};

		s->pool = exec_persist_new(&ps);
	}
	*state = s;
	return 0;
}

static int
exec_reopen(void *state)
{
	(void)state;
	return 0;
}

static void
exec_stop(void *state)
{
	struct exec_state *s = state;

	if (s == NULL)
		return;
	/* Before what its processes were started with is freed. */
	exec_persist_free(s->pool);
	exec_env_free(&s->env);
	free(s->prog);
	free(s->name);
	free(s);
}

/* --- one run --- */

/* Whether a failed start is the machine's shortage (descriptors, process
 * slots, memory) rather than anything about the program or the event. */
static bool
shortage(int err)
{
	return err == EMFILE || err == ENFILE || err == EAGAIN ||
	    err == ENOMEM;
}

/* Fills r from how the run ended. */
static void
run_result(const struct exec_state *s, const struct log_ctx *ctx,
    const struct exec_output *out, const struct exec_job_end *end,
    struct sink_result *r)
{
	int status = end->status;
	bool known = end->known;
	char dur[32], sig[32], *tail;
	size_t o;

	/* The exit code and the signal, never the raw wait status: what a
	 * person reads in a dead letter must match what the shell says. */
	r->exited = known && WIFEXITED(status);
	r->exit_status = r->exited ? WEXITSTATUS(status) : 0;
	r->signal = known && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	if (end->stopped == EXEC_JOB_CANCELLED) {
		snprintf(r->detail, sizeof r->detail, "cancelled at shutdown");
	} else if (end->stopped == EXEC_JOB_TIMED_OUT) {
		util_format_duration(s->conf->timeout_ms, dur, sizeof dur);
		snprintf(r->detail, sizeof r->detail, "timed out after %s",
		    dur);
	} else if (!known) {
		snprintf(r->detail, sizeof r->detail, "exit status lost "
		    "(is SIGCHLD ignored?)");
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_ctx(LOG_DEBUG, ctx, "exited with status 0");
		r->ok = true;
		return;
	} else if (WIFEXITED(status)) {
		snprintf(r->detail, sizeof r->detail, "exited with status %d",
		    WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		snprintf(r->detail, sizeof r->detail, "killed by signal %d "
		    "(%s)%s", WTERMSIG(status), util_signal_name(WTERMSIG(status),
		    sig, sizeof sig), WCOREDUMP(status) ? ", core dumped" : "");
	} else {
		snprintf(r->detail, sizeof r->detail, "ended with wait status "
		    "%#x", (unsigned)status);
	}
	log_ctx(LOG_WARNING, ctx, "%s", r->detail);
	if ((tail = exec_output_tail(out)) != NULL) {
		o = strlen(r->detail);
		snprintf(r->detail + o, sizeof r->detail - o, "; stderr: %s",
		    tail);
		free(tail);
	}
}

static void
exec_deliver(void *state, struct ld_event *ev, struct sink_result *r)
{
	const struct exec_state *s = state;
	struct exec_env env = { NULL, 0 };
	struct ld_id conv = ld_event_conversation_id(ev);
	struct log_ctx ctx;
	struct exec_output *out = NULL;
	struct exec_job_spec spec;
	struct exec_job_end end;
	char *prog = NULL, *event_name = util_escape(ev->name, 64), *why;
	int rc;

	r->ok = false;
	r->retry_later = false;
	r->exited = false;
	r->exit_status = 0;
	r->signal = 0;
	r->detail[0] = '\0';
	ctx.event = event_name;
	ctx.delivery_id = ev->delivery_id[0] != '\0' ? ev->delivery_id : NULL;
	ctx.sink = s->name;
	ctx.conversation_id = conv.set ? conv.v : -1;

	if (s->pool != NULL) {
		/* The same LIVEDESK_* variables as a spawned run's, in the
		 * line rather than the environment. */
		struct exec_env none = { NULL, 0 };

		exec_persist_deliver(s->pool, ev, exec_env_event(&env, &none,
		    s->name, ev), &ctx, r);
		exec_env_free(&env);
		free(event_name);
		return;
	}
	/* Checked first, so that the usual mistakes read clearly even where
	 * posix_spawn cannot report a failed exec (valgrind). */
	if (exec_path_is_dir(s->conf->workdir) == -1) {
		snprintf(r->detail, sizeof r->detail, "cannot change to workdir "
		    "%s: %s", s->conf->workdir, strerror(errno));
		log_ctx(LOG_ERR, &ctx, "%s", r->detail);
		goto out;
	}
	prog = s->prog;
	if (prog == NULL || exec_path_can_exec(prog) == -1) {
		/* Not there at start, or gone since: look again. */
		if ((prog = exec_path_resolve(s->conf->argv[0], s->path,
		    s->conf->workdir)) == NULL) {
			why = exec_path_error(s->conf->argv[0], s->path,
			    errno);
			snprintf(r->detail, sizeof r->detail, "cannot run %s",
			    why);
			free(why);
			log_ctx(LOG_ERR, &ctx, "%s", r->detail);
			goto out;
		}
	}

	out = exec_output_new(&ctx, s->conf->max_output);
	spec.prog = prog;
	spec.argv = s->conf->argv;
	spec.envp = exec_env_event(&env, &s->env, s->name, ev);
	spec.workdir = s->conf->workdir;
	spec.in = ev->raw;
	spec.in_len = ev->raw != NULL ? ev->raw_len : 0;
	spec.timeout_ms = s->conf->timeout_ms;
	spec.kill_after_ms = s->conf->kill_after_ms;
	spec.cancel = s->cancel;
	rc = exec_job_run(&spec, out, &ctx, &end);
	exec_env_free(&env);
	if (rc != 0) {
		snprintf(r->detail, sizeof r->detail, "cannot run %s: %s",
		    prog, strerror(rc));
		r->retry_later = shortage(rc);
		/* A shortage is logged where its retry is decided. */
		if (!r->retry_later)
			log_ctx(LOG_ERR, &ctx, "%s", r->detail);
	} else {
		if (exec_output_dropped(out) > 0)
			log_ctx(LOG_NOTICE, &ctx, "%" PRIu64 " bytes of "
			    "output dropped (max_output %" PRIu64 ")",
			    exec_output_dropped(out), s->conf->max_output);
		run_result(s, &ctx, out, &end, r);
	}
out:
	if (prog != s->prog)
		free(prog);
	exec_output_free(out);
	free(event_name);
}

/* --- --dry-run --- */

/* Whether env line kv came from the sink's env lines, as they are: its
 * value is then not shown, as --check-config shows none. */
static bool
from_env_line(const struct exec_conf *c, const char *kv)
{
	size_t i;

	for (i = 0; i < c->n_env; i++)
		if (strcmp(c->env[i], kv) == 0)
			return true;
	return false;
}

/* The process's environment, without the event's fields. */
static void
describe_env(const struct exec_conf *c, const struct exec_env *env,
    FILE *out)
{
	size_t i;
	char *v;

	for (i = 0; i < env->n; i++) {
		if (from_env_line(c, env->v[i])) {
			fprintf(out, "    %.*s=(env =, not shown)\n",
			    (int)strcspn(env->v[i], "="), env->v[i]);
			continue;
		}
		v = util_escape(env->v[i], 0);
		fprintf(out, "    %s\n", v);
		free(v);
	}
}

/* Spawn mode: one process per event, the event's fields in its
 * environment, the payload on its stdin. */
static void
describe_spawn(const struct exec_conf *c, const struct exec_env *env,
    const struct ld_event *ev, FILE *out)
{
	const char *raw = ev->raw != NULL ? ev->raw : "";
	size_t len = ev->raw != NULL ? ev->raw_len : 0;

	fprintf(out, "  mode: spawn, a process per event\n"
	    "  environment (%zu variables; control characters shown as \\n, "
	    "\\t, \\xNN; PATH, LANG and CREDENTIALS_DIRECTORY are this "
	    "shell's, the service's come from its unit):\n", env->n);
	describe_env(c, env, out);
	fprintf(out, "  stdin (%zu bytes, the payload as received):\n", len);
	fwrite(raw, 1, len, out);
	if (len == 0 || raw[len - 1] != '\n')
		fputc('\n', out);
}

/* Persistent mode: processes kept running with the sink's environment
 * alone; each event is one JSON line on the stdin of one of them, as
 * codec_persist writes it. */
static void
describe_persistent(const struct exec_conf *c,
    const struct exec_env *sink_env, const struct exec_env *env,
    const struct ld_event *ev, FILE *out)
{
	size_t len;
	char *line;

	fprintf(out, "  mode: persistent, processes kept running\n"
	    "  their environment (%zu variables; PATH, LANG and "
	    "CREDENTIALS_DIRECTORY are this shell's, the service's come "
	    "from its unit):\n", sink_env->n);
	describe_env(c, sink_env, out);
	if ((line = codec_persist_encode(ev, env->v, &len)) == NULL)
		fprintf(out, "  stdin line: cannot be written (out of "
		    "memory)\n");
	else {
		fprintf(out, "  stdin line (%zu bytes):\n", len);
		fwrite(line, 1, len, out);
	}
	free(line);
}

static void
exec_describe(const void *conf, const char *name, const struct ld_event *ev,
    FILE *out)
{
	const struct exec_conf *c = conf;
	const char *path = exec_env_path(c->env, c->n_env);
	struct exec_env sink_env = { NULL, 0 }, env = { NULL, 0 };
	char *prog, *why;

	fprintf(out, "  command: %s\n", c->command);
	if ((prog = exec_path_resolve(c->argv[0], path, c->workdir)) != NULL)
		fprintf(out, "  program: %s\n", prog);
	else {
		why = exec_path_error(c->argv[0], path, errno);
		fprintf(out, "  program: cannot run %s\n", why);
		free(why);
	}
	free(prog);
	fprintf(out, "  workdir: %s\n", c->workdir);
	/* The one place a mode's input is described. */
	exec_env_sink(&sink_env, c->env, c->n_env);
	(void)exec_env_event(&env, &sink_env, name, ev);
	if (c->mode == EXEC_MODE_PERSISTENT)
		describe_persistent(c, &sink_env, &env, ev, out);
	else
		describe_spawn(c, &env, ev, out);
	exec_env_free(&env);
	exec_env_free(&sink_env);
}

const struct sink_ops sink_exec_ops = {
	.type = "exec",
	.incoming_only = true,
	.keys = &exec_section,
	.conf_set = exec_conf_set,
	.conf_check = exec_conf_check,
	.conf_print = exec_conf_print,
	.probe = exec_probe,
	.conf_free = exec_conf_free,
	.describe = exec_describe,
	.start = exec_start,
	.deliver = exec_deliver,
	.reopen = exec_reopen,
	.stop = exec_stop,
};
