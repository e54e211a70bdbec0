/* The script author's commands, --dry-run and --run-once (see
 * tool_cli.h): the event is made as the HTTP front makes it, matched by
 * the dispatcher's own filters, and handed to the sinks' own ops. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "filter.h"
#include "livedesk/event.h"
#include "livedesk/sink.h"
#include "log.h"
#include "tool_cli.h"
#include "util.h"

#define TOOL_READ_CHUNK	65536
#define TOOL_POLL_MS	100	/* how soon --run-once sees its sinks done */

/*
 * Reads path ("-": standard input, which may be a pipe) into a new
 * NUL-terminated buffer, at most max + 1 bytes: one more than the daemon
 * takes tells the payload is too large without reading all of it.
 */
static char *
payload_read(const char *path, uint64_t max, size_t *len, char **err)
{
	bool in = strcmp(path, "-") == 0;
	size_t cap = 0, n = 0, want;
	char *buf = NULL;
	ssize_t r;
	int fd;

	if (in)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*err = xasprintf("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			cap += TOOL_READ_CHUNK;
			buf = xrealloc(buf, cap + 1);
		}
		want = cap - n;
		if ((uint64_t)n + want > max + 1)
			want = (size_t)(max + 1 - n);
		if (want == 0)
			break;
		if ((r = read(fd, buf + n, want)) == -1) {
			if (errno == EINTR)
				continue;
			*err = xasprintf("cannot read %s: %s", in ?
			    "standard input" : path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (!in)
		close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	if (!in)
		close(fd);
	free(buf);
	return NULL;
}

/*
 * The event the daemon would make of the payload in path, with a delivery
 * id of its own; NULL with *err saying why it cannot be read or what the
 * daemon would answer instead of 200.
 */
static struct ld_event *
payload_event(const struct config *cfg, const char *path, char **err)
{
	struct ld_event_error perr;
	struct ld_event *ev;
	size_t len;
	char *body;

	if ((body = payload_read(path, cfg->max_body, &len, err)) == NULL)
		return NULL;
	if (len > cfg->max_body) {
		*err = xasprintf("the daemon would refuse it: 413, larger than "
		    "max_body (%" PRIu64 " bytes)", cfg->max_body);
		free(body);
		return NULL;
	}
	ev = ld_event_parse(body, len, (int)cfg->max_depth, &perr);
	free(body);
	if (ev == NULL) {
		*err = xasprintf("the daemon would refuse it: %d, %s",
		    perr.status, perr.text);
		return NULL;
	}
	util_delivery_id(ev->delivery_id);
	ev->received_usec = util_now_usec();
	return ev;
}

/* One line on what the event is and what its filters look at. */
static void
print_event(const struct ld_event *ev, FILE *out)
{
	const struct ld_message *m = &ev->message;
	struct ld_id conv = ld_event_conversation_id(ev);
	char *name = util_escape(ev->name, 64);
	const char *type;

	fprintf(out, "event: %s", name);
	if (conv.set)
		fprintf(out, ", conversation %" PRId64, conv.v);
	else if (ld_event_conversation_id_invalid(ev))
		fputs(", a conversation id that keeps no order", out);
	else
		fputs(", no conversation", out);
	if (ev->inbox.id.set)
		fprintf(out, ", inbox %" PRId64, ev->inbox.id.v);
	if (ld_event_is_message(ev)) {
		type = ld_message_type_name(m->message_type);
		fprintf(out, ", message %s", type != NULL ? type :
		    "of no known type");
		if (m->is_private.set && m->is_private.v)
			fputs(", a private note", out);
	}
	fputc('\n', out);
	free(name);
}

int
tool_cli_dry_run(struct config *cfg, const char *payload)
{
	struct ld_event *ev;
	char *err = NULL, *why;
	size_t i, n = 0;

	if ((ev = payload_event(cfg, payload, &err)) == NULL) {
		printf("payload: %s\n%s; no sink would see it\n", payload, err);
		free(err);
		config_free(cfg);
		return 1;
	}
	for (i = 0; i < cfg->n_sinks; i++)
		n += filter_match(&cfg->sinks[i].filter, ev);
	printf("payload: %s (%zu bytes)\n", payload, ev->raw_len);
	print_event(ev, stdout);
	printf("delivery id: %s (made for this run: each request gets one "
	    "of its own)\n", ev->delivery_id);
	printf("sinks: %zu of %zu take it\n", n, cfg->n_sinks);
	for (i = 0; i < cfg->n_sinks; i++) {
		const struct config_sink *s = &cfg->sinks[i];

		printf("\nsink %s (%s): ", s->name, s->ops->type);
		if ((why = filter_why_not(&s->filter, ev)) != NULL) {
			printf("does not take it: %s\n", why);
			free(why);
			continue;
		}
		printf("takes it\n");
		if (s->ops->describe != NULL)
			s->ops->describe(s->conf, s->name, ev, stdout);
	}
	ld_event_unref(ev);
	config_free(cfg);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* --run-once's deliveries, on a thread of their own while the main thread
 * waits for a signal. */
struct once {
	const struct config	*cfg;
	struct ld_event		*ev;
	const char		*only;		/* --sink, or NULL */
	atomic_bool		 cancel;
	atomic_bool		 done;
	size_t			 ran, failed;
};

/* Delivers ev to one sink: started, one attempt, stopped. */
static void
once_deliver(struct once *o, const struct config_sink *s)
{
	/* One delivery at a time: a persistent sink keeps one process. */
	struct sink_ctx ctx = {
		.name = s->name, .cancel = &o->cancel, .concurrency = 1,
		.grace_ms = o->cfg->shutdown_grace_ms,
	};
	struct sink_result r;
	void *state = NULL;
	char *err = NULL;

	o->ran++;
	memset(&r, 0, sizeof r);
	if (s->ops->start(&state, s->conf, &ctx, &err) == -1) {
		snprintf(r.detail, sizeof r.detail, "cannot start: %s", err);
		free(err);
	} else {
		s->ops->deliver(state, o->ev, &r);
		s->ops->stop(state);
	}
	if (r.ok) {
		printf("sink %s: delivered\n", s->name);
		fflush(stdout);
		return;
	}
	o->failed++;
	fprintf(stderr, "livedesk-webhookd: sink %s failed: %s\n", s->name,
	    r.detail[0] != '\0' ? r.detail : "no reason given");
}

static void *
once_run(void *arg)
{
	struct once *o = arg;
	const struct config *cfg = o->cfg;
	char *why;
	size_t i;

	for (i = 0; i < cfg->n_sinks && !atomic_load(&o->cancel); i++) {
		const struct config_sink *s = &cfg->sinks[i];

		if ((why = filter_why_not(&s->filter, o->ev)) == NULL) {
			once_deliver(o, s);
			continue;
		}
		/* Named, it was meant to run: that it cannot is a failure. */
		fprintf(stderr, "livedesk-webhookd: sink %s does not take this "
		    "event: %s\n", s->name, why);
		free(why);
		if (o->only != NULL)
			o->failed++;
	}
	if (o->ran == 0 && o->only == NULL)
		fprintf(stderr, "livedesk-webhookd: no sink takes this event\n");
	atomic_store(&o->done, true);
	return NULL;
}

/* Waits for the deliveries; SIGINT or SIGTERM cancels them, which stops a
 * running program as shutdown does (SIGTERM, then SIGKILL). */
static void
once_wait(struct once *o, const sigset_t *sigs)
{
	struct timespec tick = { 0, TOOL_POLL_MS * 1000000L };
	char name[32];
	int sig;

	while (!atomic_load(&o->done)) {
		if ((sig = sigtimedwait(sigs, NULL, &tick)) == -1)
			continue;
		if (!atomic_load(&o->cancel))
			fprintf(stderr, "livedesk-webhookd: %s: stopping\n",
			    util_signal_name(sig, name, sizeof name));
		atomic_store(&o->cancel, true);
	}
}

int
tool_cli_run_once(struct config *cfg, const char *payload, const char *sink,
    bool verbose)
{
	struct once o;
	sigset_t sigs, old;
	pthread_t t;
	char *err = NULL;
	int prio, rc, status = 1;
	bool masked = false;

	memset(&o, 0, sizeof o);
	atomic_init(&o.cancel, false);
	atomic_init(&o.done, false);
	o.cfg = cfg;
	o.only = sink;
	if (sink != NULL && config_keep_sink(cfg, sink) == -1) {
		err = xasprintf("--sink %s: no such sink in %s", sink,
		    cfg->file ? cfg->file : "the default configuration");
		goto fail;
	}
	/* A program's output is logged at info (stdout) and warning
	 * (stderr): shown, whatever log_level says. */
	prio = config_log_prio(cfg);
	log_init(LOG_TARGET_STDERR, verbose ? LOG_DEBUG : prio > LOG_INFO ?
	    prio : LOG_INFO);
	if ((o.ev = payload_event(cfg, payload, &err)) == NULL)
		goto fail;
	log_info("run-once: %s, delivery id %s", payload, o.ev->delivery_id);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	if ((rc = pthread_sigmask(SIG_BLOCK, &sigs, &old)) != 0) {
		err = xasprintf("cannot block SIGINT and SIGTERM: %s",
		    strerror(rc));
		goto fail;
	}
	masked = true;
	if ((rc = pthread_create(&t, NULL, once_run, &o)) != 0) {
		err = xasprintf("cannot start a thread: %s", strerror(rc));
		goto fail;
	}
	once_wait(&o, &sigs);
	pthread_join(t, NULL);
	status = o.failed == 0 && !atomic_load(&o.cancel) ? 0 : 1;
	goto out;
fail:
	fprintf(stderr, "livedesk-webhookd: %s\n", err);
	free(err);
out:
	if (masked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	ld_event_unref(o.ev);
	config_free(cfg);
	return status;
}
