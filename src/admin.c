/*
 * The operator's page's listener (see admin.h): its own libmicrohttpd
 * daemon, the token (bearer or a login cookie), the CSRF token of POSTs,
 * the security headers, the routes, and what each request gathers into an
 * admin_view for admin_page.c and admin_api.c. Nothing here takes a lock
 * the webhook threads or workers wait on beyond a copy: the backlog comes
 * from the daemon loop's samples, the deliveries from a copy of the ring.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "admin.h"
#include "admin_int.h"
#include "codec_archive.h"
#include "config.h"
#include "deliveries.h"
#include "dispatch.h"
#include "http_int.h"
#include "log.h"
#include "runtime.h"
#include "spool.h"
#include "util.h"

#define ADMIN_COOKIE	"ld_admin"
#define ADMIN_BODY_MAX	4096	/* a login or replay form */

struct admin {
	struct MHD_Daemon *mhd;
	struct runtime	*rt;
	char		 address[300];
	char		*unix_path;	/* unlinked at the end */
	char		*token;		/* NULL: none (a Unix socket) */
	char		 session[65];	/* the login cookie's value */
	char		 csrf[65];
	char		*spool_dir;
	/* Guards what follows: held to copy a few fields in or out. */
	pthread_mutex_t	 lock;
	unsigned	 generation;
	int64_t		 reload_usec;
	char		 reload_err[512];
	size_t		 backlog_events;
	uint64_t	 backlog_bytes;
	int64_t		 backlog_oldest_usec;
	size_t		 chart[ADMIN_CHART];	/* a ring */
	size_t		 n_chart;
	int64_t		 chart_msec;	/* when sampled last */
	int64_t		 sample_msec;
	char		 replay_msg[512];
	/* One replay at a time: a second one is answered 409. */
	pthread_mutex_t	 replay_lock;
};

/* A request's body, gathered before it is answered. */
struct admin_req {
	char	 body[ADMIN_BODY_MAX + 1];
	size_t	 len;
	bool	 too_big;
};

static void
random_hex(char *out, size_t bytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];
	size_t i;

	if (bytes > sizeof b || RAND_bytes(b, (int)bytes) != 1)
		abort();	/* no randomness: no token can be made safe */
	for (i = 0; i < bytes; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * bytes] = '\0';
}

/* In constant time: the digests are compared, so that not even the
 * secret's length shows in the time taken. */
static bool
same(const char *given, const char *secret)
{
	unsigned char g[SHA256_DIGEST_LENGTH], s[SHA256_DIGEST_LENGTH];

	if (given == NULL || secret == NULL ||
	    SHA256((const unsigned char *)given, strlen(given), g) == NULL ||
	    SHA256((const unsigned char *)secret, strlen(secret), s) == NULL)
		return false;
	return CRYPTO_memcmp(g, s, sizeof g) == 0;
}

/* --- gathering --- */

void
admin_tick(struct admin *a)
{
	struct spool_status ss;
	struct dispatch_stats ds;
	struct gen *g;
	int64_t now = util_mono_msec();
	size_t events;
	uint64_t bytes;
	int64_t oldest = 0;
	char *err = NULL;

	if (a == NULL || now - a->sample_msec < 1000)
		return;
	a->sample_msec = now;
	if (runtime_spool(a->rt) != NULL) {
		if (spool_status(runtime_spool(a->rt), NULL, &ss, &err) == -1) {
			free(err);
			return;
		}
		events = ss.pending;
		bytes = ss.backlog_bytes;
		oldest = ss.oldest_usec;
	} else {
		g = runtime_acquire(a->rt);
		runtime_stats(a->rt, g, &ds);
		runtime_release(g);
		free(ds.sinks);
		events = ds.queued;
		bytes = ds.queued_bytes;
	}
	pthread_mutex_lock(&a->lock);
	a->backlog_events = events;
	a->backlog_bytes = bytes;
	a->backlog_oldest_usec = oldest;
	if (a->n_chart == 0 || now - a->chart_msec >= 60000) {
		a->chart[a->n_chart % ADMIN_CHART] = events;
		a->n_chart++;
		a->chart_msec = now;
	} else if (events > a->chart[(a->n_chart - 1) % ADMIN_CHART])
		/* The minute's peak. */
		a->chart[(a->n_chart - 1) % ADMIN_CHART] = events;
	pthread_mutex_unlock(&a->lock);
}

void
admin_reloaded(struct admin *a, const char *err)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->reload_usec = util_now_usec();
	if (err == NULL) {
		a->generation++;
		a->reload_err[0] = '\0';
	} else
		deliveries_excerpt(a->reload_err, sizeof a->reload_err, err);
	pthread_mutex_unlock(&a->lock);
}

/* The bucket bound at quantile q of a sink's histogram; -1: none. */
static double
quantile(const struct dispatch_sink_stats *st, double q)
{
	size_t i;

	if (st->duration_count == 0)
		return -1;
	for (i = 0; i < nitems(dispatch_duration_bounds); i++)
		if ((double)st->duration_le[i] >= q *
		    (double)st->duration_count)
			return dispatch_duration_bounds[i];
	return dispatch_duration_bounds[nitems(dispatch_duration_bounds) -
	    1];
}

static bool
dl_matches(const struct delivery *d, const struct admin_filter *f)
{
	if (f->event[0] != '\0' && strcmp(d->event, f->event) != 0)
		return false;
	if (f->conversation >= 0 && d->conversation != f->conversation)
		return false;
	if (strcmp(f->outcome, "ok") == 0 && !d->ok)
		return false;
	if (strcmp(f->outcome, "failed") == 0 && (d->ok || d->filtered))
		return false;
	if (strcmp(f->outcome, "filtered") == 0 && !d->filtered)
		return false;
	return true;
}

static char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return xstrdup(s != NULL ? s : "");
}

/* A dead letter's reason file, read into *dl. -1 when unreadable. */
static int
dead_read(const char *dir, const char *id, struct admin_dead *dl)
{
	char *path = xasprintf("%s/failed/%s.reason.json", dir, id);
	json_t *o = json_load_file(path, 0, NULL), *f;
	struct abuf why = { 0 };
	size_t i;

	free(path);
	if (o == NULL)
		return -1;
	dl->id = xstrdup(id);
	dl->event = jstr(o, "event");
	dl->received_at = jstr(o, "received_at");
	dl->failed_at = jstr(o, "failed_at");
	json_array_foreach(json_object_get(o, "failures"), i, f) {
		const char *d = json_string_value(json_object_get(f, "detail"));

		/* The detail says how the script ended (its exit status or
		 * signal) and the tail of its stderr. */
		abuf_printf(&why, "%s%s: ", i > 0 ? "\n" : "",
		    json_string_value(json_object_get(f, "sink")) ?
		    json_string_value(json_object_get(f, "sink")) : "?");
		abuf_puts(&why, d != NULL ? d : "");
	}
	dl->reason = why.s != NULL ? why.s : xstrdup("");
	json_decref(o);
	return 0;
}

/* A dead letter's id: what its file is called, nothing that walks. */
static bool
valid_id(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > 64 || id[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' &&
		    id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
		    id[i] == '-' || id[i] == '_'))
			return false;
	return true;
}

static int
dead_cmp(const void *x, const void *y)
{
	const struct admin_dead *a = x, *b = y;

	return strcmp(b->failed_at, a->failed_at);
}

static void
dead_list(const char *dir, struct admin_view *v)
{
	char *path = xasprintf("%s/failed", dir), id[80];
	struct dirent *de;
	size_t n, cap = 0;
	DIR *d;

	if ((d = opendir(path)) == NULL) {
		free(path);
		return;
	}
	while ((de = readdir(d)) != NULL && v->n_dead < 1000) {
		n = strlen(de->d_name);
		if (n <= 12 || n - 12 >= sizeof id ||
		    strcmp(de->d_name + n - 12, ".reason.json") != 0)
			continue;
		memcpy(id, de->d_name, n - 12);
		id[n - 12] = '\0';
		if (!valid_id(id))
			continue;
		if (v->n_dead == cap) {
			cap = cap ? cap * 2 : 16;
			v->dead = xreallocarray(v->dead, cap, sizeof *v->dead);
		}
		if (dead_read(dir, id, &v->dead[v->n_dead]) == 0)
			v->n_dead++;
	}
	closedir(d);
	free(path);
	if (v->n_dead > 1)
		qsort(v->dead, v->n_dead, sizeof *v->dead, dead_cmp);
}

static void
view_free(struct admin_view *v)
{
	size_t i;

	for (i = 0; i < v->n_sinks; i++) {
		free(v->sinks[i].name);
		free(v->sinks[i].type);
	}
	free(v->sinks);
	free(v->dl);
	for (i = 0; i < v->n_dead; i++) {
		free(v->dead[i].id);
		free(v->dead[i].event);
		free(v->dead[i].received_at);
		free(v->dead[i].failed_at);
		free(v->dead[i].reason);
	}
	free(v->dead);
}

static void
view_build(struct admin *a, struct admin_view *v,
    const struct admin_filter *f)
{
	struct dispatch_stats ds;
	struct gen *g;
	struct delivery *all;
	size_t n, i, j, k;

	memset(v, 0, sizeof *v);
	v->version = LD_VERSION;
	v->uptime_s = (util_now_usec() - runtime_metrics(a->rt)->start_usec) /
	    1000000;
	pthread_mutex_lock(&a->lock);
	v->generation = a->generation;
	v->reload_usec = a->reload_usec;
	memcpy(v->reload_err, a->reload_err, sizeof v->reload_err);
	v->backlog_events = a->backlog_events;
	v->backlog_bytes = a->backlog_bytes;
	v->backlog_oldest_s = a->backlog_oldest_usec > 0 ? (util_now_usec() -
	    a->backlog_oldest_usec) / 1000000 : 0;
	v->n_chart = a->n_chart < ADMIN_CHART ? a->n_chart : ADMIN_CHART;
	for (i = 0; i < v->n_chart; i++)
		v->chart[i] = a->chart[(a->n_chart - v->n_chart + i) %
		    ADMIN_CHART];
	memcpy(v->replay_msg, a->replay_msg, sizeof v->replay_msg);
	pthread_mutex_unlock(&a->lock);
	memcpy(v->csrf, a->csrf, sizeof v->csrf);
	random_hex(v->nonce, 16);

	g = runtime_acquire(a->rt);
	runtime_stats(a->rt, g, &ds);
	v->retrying = ds.retrying;
	v->n_sinks = ds.n_sinks;
	v->sinks = xcalloc(ds.n_sinks + 1, sizeof *v->sinks);
	for (i = 0; i < ds.n_sinks; i++) {
		v->sinks[i].name = xstrdup(ds.sinks[i].name);
		v->sinks[i].type = xstrdup(ds.sinks[i].type);
		v->sinks[i].delivered = ds.sinks[i].delivered;
		v->sinks[i].failed = ds.sinks[i].failed;
		v->sinks[i].retried = ds.sinks[i].retried;
		v->sinks[i].dead = ds.sinks[i].dead;
		v->sinks[i].p50 = quantile(&ds.sinks[i], 0.5);
		v->sinks[i].p99 = quantile(&ds.sinks[i], 0.99);
	}
	runtime_release(g);
	free(ds.sinks);

	all = deliveries_copy(runtime_deliveries(a->rt), &n);
	/* Each sink's last error: its newest failure in the ring. */
	for (j = 0; j < n; j++)
		for (k = 0; !all[j].ok && !all[j].filtered && k < v->n_sinks;
		    k++)
			if (v->sinks[k].last_error[0] == '\0' &&
			    strcmp(all[j].sink, v->sinks[k].name) == 0)
				memcpy(v->sinks[k].last_error, all[j].detail,
				    sizeof v->sinks[k].last_error);
	if (f != NULL) {
		v->filter = *f;
		for (i = j = 0; i < n; i++)
			if (dl_matches(&all[i], f))
				all[j++] = all[i];
		n = j;
	} else
		v->filter.conversation = -1;
	v->dl = all;
	v->n_dl = n;
	if (a->spool_dir != NULL) {
		v->spool = true;
		dead_list(a->spool_dir, v);
	}
}

/* --- replay, through --replay's path (spool_replay_read) --- */

struct replay {
	struct dispatch	*d;
	const char	**skip;		/* sinks the dead letter did not fail */
	size_t		 n_skip;
	pthread_mutex_t	 lock;
	size_t		 ok, failed;
	struct abuf	 why;
};

static void
replay_sink_done(void *arg, struct ld_event *ev, const char *sink,
    const struct sink_result *r, int attempts)
{
	struct replay *rp = arg;

	(void)ev;
	(void)attempts;
	pthread_mutex_lock(&rp->lock);
	if (r->ok) {
		rp->ok++;
	} else {
		rp->failed++;
		abuf_printf(&rp->why, "%s%s: %s", rp->why.len ? "; " : "",
		    sink, r->detail);
	}
	pthread_mutex_unlock(&rp->lock);
}

static void
replay_submit(void *arg, struct ld_event *ev)
{
	struct replay *rp = arg;

	(void)dispatch_submit(rp->d, ev, rp->skip, rp->n_skip,
	    DISPATCH_FORCE);
}

/* Whether the dead letter names sink among its failures. */
static bool
failed_in(json_t *reason, const char *sink)
{
	json_t *f;
	size_t i;

	json_array_foreach(json_object_get(reason, "failures"), i, f)
		if (json_is_string(json_object_get(f, "sink")) &&
		    strcmp(json_string_value(json_object_get(f, "sink")),
		    sink) == 0)
			return true;
	return false;
}

/* Replays dead letter id to the sinks that failed it, with the running
 * configuration; once every one delivered, it leaves failed/. Returns
 * 0 (the result in msg) or -1 with msg saying why it did not run. */
static int
replay_one(struct admin *a, const char *id, char *msg, size_t len,
    bool *ok)
{
	struct dispatch_hooks hooks;
	struct replay rp;
	struct gen *g;
	const struct config *cfg;
	char *path = xasprintf("%s/failed/%s.json", a->spool_dir, id);
	char *rpath = xasprintf("%s/failed/%s.reason.json", a->spool_dir, id);
	char *err = NULL;
	json_t *reason = json_load_file(rpath, 0, NULL);
	size_t i, skipped = 0;
	int rc = -1;

	memset(&rp, 0, sizeof rp);
	pthread_mutex_init(&rp.lock, NULL);
	*ok = false;
	g = runtime_acquire(a->rt);
	cfg = runtime_config(g);
	if (reason == NULL) {
		snprintf(msg, len, "%s: no such dead letter", id);
		goto out;
	}
	rp.skip = xcalloc(cfg->n_sinks + 1, sizeof *rp.skip);
	for (i = 0; i < cfg->n_sinks; i++)
		if (!failed_in(reason, cfg->sinks[i].name))
			rp.skip[rp.n_skip++] = cfg->sinks[i].name;
	if (rp.n_skip == cfg->n_sinks) {
		snprintf(msg, len, "%s: none of its sinks is configured now",
		    id);
		goto out;
	}
	hooks.sink_done = replay_sink_done;
	hooks.event_done = NULL;
	hooks.arg = &rp;
	if ((rp.d = dispatch_new(cfg, &hooks, &err)) == NULL ||
	    spool_replay_read(path, replay_submit, &rp, &skipped, &err) ==
	    -1) {
		snprintf(msg, len, "%s: %s", id, err);
		goto out;
	}
	(void)dispatch_drain(rp.d, INT64_MAX / 4);
	rc = 0;
	*ok = rp.failed == 0 && rp.ok > 0;
	if (*ok) {
		/* Delivered: it is no longer a dead letter. */
		if (spool_dead_remove(runtime_spool(a->rt), id) == -1)
			log_err("admin: replayed %s, but cannot remove it from "
			    "failed/: %s", id, strerror(errno));
		snprintf(msg, len, "replayed %s: %zu deliver%s ok", id, rp.ok,
		    rp.ok == 1 ? "y" : "ies");
	} else
		snprintf(msg, len, "replayed %s: %zu ok, %zu failed: %s", id,
		    rp.ok, rp.failed, rp.why.s ? rp.why.s : "");
	log_notice("admin: %s", msg);
out:
	dispatch_free(rp.d);
	runtime_release(g);
	json_decref(reason);
	free(rp.skip);
	abuf_free(&rp.why);
	pthread_mutex_destroy(&rp.lock);
	free(err);
	free(path);
	free(rpath);
	return rc;
}

/* --- HTTP --- */

/* Every answer: the security headers, and a CSP whose nonce is the
 * page's (NULL: no script or style at all). */
static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *type,
    char *body, const char *nonce, const char *extra_name,
    const char *extra_value)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char csp[300];

	r = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	if (nonce != NULL)
		snprintf(csp, sizeof csp, "default-src 'none'; script-src "
		    "'nonce-%s'; style-src 'nonce-%s'; img-src 'self'; "
		    "connect-src 'self'; form-action 'self'; base-uri 'none'; "
		    "frame-ancestors 'none'", nonce, nonce);
	else
		snprintf(csp, sizeof csp, "default-src 'none'; "
		    "frame-ancestors 'none'; base-uri 'none'");
	if (MHD_add_response_header(r, "Content-Type", type) == MHD_NO ||
	    MHD_add_response_header(r, "Content-Security-Policy", csp) ==
	    MHD_NO || MHD_add_response_header(r, "X-Content-Type-Options",
	    "nosniff") == MHD_NO || MHD_add_response_header(r,
	    "Referrer-Policy", "no-referrer") == MHD_NO ||
	    MHD_add_response_header(r, "X-Frame-Options", "DENY") == MHD_NO ||
	    MHD_add_response_header(r, "Cache-Control", "no-store") ==
	    MHD_NO || (extra_name != NULL && MHD_add_response_header(r,
	    extra_name, extra_value) == MHD_NO)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_json(struct MHD_Connection *c, unsigned status, char *body)
{
	if (body == NULL)
		return MHD_NO;
	return reply(c, status, "application/json", body, NULL, NULL, NULL);
}

static enum MHD_Result
reply_error(struct MHD_Connection *c, unsigned status, const char *text)
{
	json_t *o = json_pack("{s:s}", "error", text);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return reply_json(c, status, s);
}

static enum MHD_Result
see_other(struct MHD_Connection *c, const char *where, const char *cookie)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL,
	    MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	if (MHD_add_response_header(r, "Location", where) == MHD_NO ||
	    MHD_add_response_header(r, "Referrer-Policy", "no-referrer") ==
	    MHD_NO || MHD_add_response_header(r, "X-Content-Type-Options",
	    "nosniff") == MHD_NO || MHD_add_response_header(r,
	    "Content-Security-Policy", "default-src 'none'; "
	    "frame-ancestors 'none'") == MHD_NO || (cookie != NULL &&
	    MHD_add_response_header(r, "Set-Cookie", cookie) == MHD_NO)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, MHD_HTTP_SEE_OTHER, r);
	MHD_destroy_response(r);
	return ret;
}

/* One field of an urlencoded form body, decoded into out. */
static bool
form_field(const char *body, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name), vl;
	const char *p = body, *end;

	while (p != NULL && *p != '\0') {
		end = strchr(p, '&');
		vl = end ? (size_t)(end - p) : strlen(p);
		if (vl > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			vl -= nl + 1;
			if (vl >= len)
				return false;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			for (char *q = out; *q; q++)
				if (*q == '+')
					*q = ' ';
			MHD_http_unescape(out);
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* Whether the request carries the token: bearer or the login cookie. */
static bool
authorized(struct admin *a, struct MHD_Connection *c)
{
	const char *h, *cookie;

	if (a->token == NULL)
		return true;	/* a Unix socket without a token */
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0 &&
	    same(h + 7, a->token))
		return true;
	cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND,
	    ADMIN_COOKIE);
	return same(cookie, a->session);
}

static bool
csrf_ok(struct admin *a, struct MHD_Connection *c, const char *body)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-CSRF-Token");
	char field[100];

	if (h != NULL)
		return same(h, a->csrf);
	return form_field(body, "csrf", field, sizeof field) &&
	    same(field, a->csrf);
}

static void
filter_from(struct MHD_Connection *c, struct admin_filter *f)
{
	const char *s;

	memset(f, 0, sizeof *f);
	f->conversation = -1;
	if ((s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
	    "event")) != NULL)
		snprintf(f->event, sizeof f->event, "%s", s);
	if ((s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
	    "conversation")) != NULL && s[0] != '\0') {
		char *end;
		long long v = strtoll(s, &end, 10);

		if (*end == '\0' && v >= 0)
			f->conversation = v;
	}
	if ((s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
	    "outcome")) != NULL && (strcmp(s, "ok") == 0 ||
	    strcmp(s, "failed") == 0 || strcmp(s, "filtered") == 0))
		snprintf(f->outcome, sizeof f->outcome, "%s", s);
}

/* text's JSON, pretty-printed, or NULL. */
static char *
pretty(const char *text, size_t len)
{
	json_t *o = json_loadb(text, len, JSON_DECODE_ANY, NULL);
	char *out = o != NULL ? json_dumps(o, JSON_INDENT(2) |
	    JSON_SORT_KEYS) : NULL;

	json_decref(o);
	return out;
}

/* How much of a file sink's archive is searched for a payload: its end,
 * where recent deliveries are. */
#define ARCHIVE_TAIL	(64ULL << 20)

/* ev's payload from a file sink's archive at path, or NULL. */
static char *
archive_payload(const char *path, const char *id)
{
	char *needle = xasprintf("\"delivery_id\":\"%s\"", id), *line = NULL;
	char *why = NULL, *out = NULL;
	struct ld_event *ev;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	long size;

	if ((f = fopen(path, "re")) == NULL)
		goto out;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 &&
	    (unsigned long long)size > ARCHIVE_TAIL) {
		/* Past the line the seek lands in. */
		if (fseek(f, size - (long)ARCHIVE_TAIL, SEEK_SET) == 0)
			(void)getline(&line, &cap, f);
	} else
		rewind(f);
	while (out == NULL && (n = getline(&line, &cap, f)) > 0) {
		if (strstr(line, needle) == NULL)
			continue;
		if ((ev = codec_archive_decode(line, (size_t)n, 0, &why)) ==
		    NULL) {
			free(why);
			why = NULL;
			continue;
		}
		if (strcmp(ev->delivery_id, id) == 0)
			out = pretty(ev->raw, ev->raw_len);
		ld_event_unref(ev);
	}
	fclose(f);
out:
	free(line);
	free(needle);
	return out;
}

/*
 * A delivery's payload, pretty-printed: its dead letter's if it has one,
 * else the line of a file sink's archive that holds it; NULL when it is
 * no longer kept. Read when it is opened: the ring keeps excerpts only.
 */
static char *
payload_of(struct admin *a, const char *id)
{
	const struct config_key *k;
	const struct config *cfg;
	struct gen *g;
	char *path, *out = NULL, *body, **file;
	size_t len, i;

	if (!valid_id(id))
		return NULL;
	if (a->spool_dir != NULL) {
		path = xasprintf("%s/failed/%s.json", a->spool_dir, id);
		if ((body = util_read_file(path, &len)) != NULL)
			out = pretty(body, len);
		free(body);
		free(path);
		if (out != NULL)
			return out;
	}
	g = runtime_acquire(a->rt);
	cfg = runtime_config(g);
	for (i = 0; out == NULL && i < cfg->n_sinks; i++) {
		if (strcmp(cfg->sinks[i].ops->type, "file") != 0 ||
		    cfg->sinks[i].ops->keys == NULL || (k = config_key_find(
		    cfg->sinks[i].ops->keys->keys, "path")) == NULL)
			continue;
		file = config_key_field(k, cfg->sinks[i].conf);
		if (*file != NULL)
			out = archive_payload(*file, id);
	}
	runtime_release(g);
	return out;
}

static enum MHD_Result
serve_page(struct admin *a, struct MHD_Connection *c, const char *open_id)
{
	struct admin_view v;
	struct admin_filter f;
	struct abuf b = { 0 };
	const struct delivery *detail = NULL;
	char *payload = NULL, nonce[33];
	size_t i;

	filter_from(c, &f);
	view_build(a, &v, &f);
	if (open_id != NULL) {
		for (i = 0; i < v.n_dl && detail == NULL; i++)
			if (strcmp(v.dl[i].id, open_id) == 0)
				detail = &v.dl[i];
		/* Only a delivery shown has its payload read (from the
		 * archives' tails: up to megabytes, every refresh). */
		if (detail != NULL)
			payload = payload_of(a, open_id);
	}
	admin_page_render(&b, &v, detail, payload);
	memcpy(nonce, v.nonce, sizeof nonce);
	free(payload);
	view_free(&v);
	return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", b.s, nonce,
	    NULL, NULL);
}

static enum MHD_Result
serve_login(struct MHD_Connection *c, unsigned status, bool failed)
{
	struct abuf b = { 0 };
	char nonce[33];

	random_hex(nonce, 16);
	admin_page_login(&b, nonce, failed);
	return reply(c, status, "text/html; charset=utf-8", b.s, nonce,
	    "WWW-Authenticate", "Bearer realm=\"livedesk-webhookd\"");
}

static enum MHD_Result
do_login(struct admin *a, struct MHD_Connection *c, const char *body)
{
	char token[4200], *cookie;
	enum MHD_Result ret;

	if (a->token == NULL)
		return see_other(c, "/", NULL);
	if (!form_field(body, "token", token, sizeof token) ||
	    !same(token, a->token)) {
		OPENSSL_cleanse(token, sizeof token);
		log_warn("admin: login refused: wrong token");
		return serve_login(c, MHD_HTTP_UNAUTHORIZED, true);
	}
	OPENSSL_cleanse(token, sizeof token);
	cookie = xasprintf("%s=%s; Path=/; HttpOnly; SameSite=Strict",
	    ADMIN_COOKIE, a->session);
	ret = see_other(c, "/", cookie);
	free(cookie);
	return ret;
}

/* POST /api/dead-letters/ID/replay and /api/dead-letters/replay (all):
 * JSON, or from the page's form a redirect back to it. */
static enum MHD_Result
do_replay(struct admin *a, struct MHD_Connection *c, const char *id,
    bool form)
{
	struct admin_view v;
	char msg[512], one[512];
	json_t *o, *results;
	size_t i, n_ok = 0, n_failed = 0;
	bool ok = false, all_ok = true;
	int rc = 0;

	if (a->spool_dir == NULL)
		return reply_error(c, MHD_HTTP_NOT_FOUND, "no spool_dir: no "
		    "dead letters");
	if (id != NULL && !valid_id(id))
		return reply_error(c, MHD_HTTP_NOT_FOUND, "no such dead letter");
	if (pthread_mutex_trylock(&a->replay_lock) != 0)
		return reply_error(c, MHD_HTTP_CONFLICT, "a replay is running");
	results = json_array();
	if (id != NULL) {
		rc = replay_one(a, id, msg, sizeof msg, &ok);
		json_array_append_new(results, json_pack("{s:s, s:b, s:s}",
		    "id", id, "ok", ok, "result", msg));
		all_ok = ok;
	} else {
		memset(&v, 0, sizeof v);
		dead_list(a->spool_dir, &v);
		for (i = 0; i < v.n_dead; i++) {
			(void)replay_one(a, v.dead[i].id, one, sizeof one, &ok);
			json_array_append_new(results, json_pack(
			    "{s:s, s:b, s:s}", "id", v.dead[i].id, "ok", ok,
			    "result", one));
			ok ? n_ok++ : n_failed++;
		}
		all_ok = n_failed == 0;
		snprintf(msg, sizeof msg, "replayed %zu dead letter%s: %zu "
		    "delivered, %zu still failing", v.n_dead, v.n_dead == 1 ?
		    "" : "s", n_ok, n_failed);
		view_free(&v);
	}
	pthread_mutex_lock(&a->lock);
	memcpy(a->replay_msg, msg, sizeof a->replay_msg);
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_unlock(&a->replay_lock);
	if (form) {
		json_decref(results);
		return see_other(c, "/#dead", NULL);
	}
	if (rc == -1) {
		json_decref(results);
		return reply_error(c, MHD_HTTP_NOT_FOUND, msg);
	}
	o = json_pack("{s:b, s:s, s:o}", "ok", all_ok, "result", msg,
	    "replays", results);
	{
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

		json_decref(o);
		return reply_json(c, MHD_HTTP_OK, s);
	}
}

static enum MHD_Result
route(struct admin *a, struct MHD_Connection *c, const char *method,
    const char *url, const char *body)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0;
	struct admin_view v;
	const char *ct, *s;
	char *json, id[80];
	size_t n;
	bool form;

	if (post && strcmp(url, "/login") == 0)
		return do_login(a, c, body);
	if (!authorized(a, c)) {
		if (strncmp(url, "/api/", 5) == 0)
			return reply_error(c, MHD_HTTP_UNAUTHORIZED,
			    "the admin token is needed: Authorization: Bearer "
			    "TOKEN, or log in");
		return serve_login(c, MHD_HTTP_UNAUTHORIZED, false);
	}
	if (get && (strcmp(url, "/") == 0 || strcmp(url, "/login") == 0))
		return serve_page(a, c, MHD_lookup_connection_value(c,
		    MHD_GET_ARGUMENT_KIND, "open"));
	if (get && (strcmp(url, "/api/status") == 0 ||
	    strcmp(url, "/api/deliveries") == 0 ||
	    strcmp(url, "/api/dead-letters") == 0)) {
		struct admin_filter f;

		filter_from(c, &f);
		view_build(a, &v, &f);
		json = url[5] == 's' ? admin_api_status(&v) : url[5] == 'd' &&
		    url[6] == 'e' && url[7] == 'l' ? admin_api_deliveries(&v) :
		    admin_api_dead(&v);
		view_free(&v);
		return reply_json(c, MHD_HTTP_OK, json);
	}
	if (get && strncmp(url, "/api/deliveries/", 16) == 0) {
		struct delivery *d = NULL;
		char *payload;
		size_t i;

		view_build(a, &v, NULL);
		for (i = 0; i < v.n_dl && d == NULL; i++)
			if (strcmp(v.dl[i].id, url + 16) == 0)
				d = &v.dl[i];
		if (d == NULL) {
			view_free(&v);
			return reply_error(c, MHD_HTTP_NOT_FOUND, "no such "
			    "delivery among the recent ones");
		}
		payload = payload_of(a, d->id);
		json = admin_api_delivery(d, payload);
		free(payload);
		view_free(&v);
		return reply_json(c, MHD_HTTP_OK, json);
	}
	if (post && strncmp(url, "/api/dead-letters/", 18) == 0) {
		ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_TYPE);
		form = ct != NULL && strncasecmp(ct,
		    "application/x-www-form-urlencoded", 33) == 0;
		if (!csrf_ok(a, c, body))
			return reply_error(c, MHD_HTTP_FORBIDDEN, "the CSRF "
			    "token is missing or wrong (X-CSRF-Token, or the "
			    "form's csrf field; /api/status has it)");
		s = url + 18;
		if (strcmp(s, "replay") == 0)
			return do_replay(a, c, NULL, form);
		n = strlen(s);
		if (n > 7 && n - 7 < sizeof id &&
		    strcmp(s + n - 7, "/replay") == 0) {
			memcpy(id, s, n - 7);
			id[n - 7] = '\0';
			return do_replay(a, c, id, form);
		}
	}
	if (!get && !post)
		return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method not allowed");
	return reply_error(c, MHD_HTTP_NOT_FOUND, "not found");
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data,
    size_t *size, void **con_cls)
{
	struct admin *a = cls;
	struct admin_req *rq = *con_cls;

	(void)version;
	if (rq == NULL) {
		rq = xcalloc(1, sizeof *rq);
		*con_cls = rq;
		return MHD_YES;
	}
	if (*size > 0) {
		if (rq->len + *size > ADMIN_BODY_MAX)
			rq->too_big = true;
		else {
			memcpy(rq->body + rq->len, data, *size);
			rq->len += *size;
		}
		*size = 0;
		return MHD_YES;
	}
	rq->body[rq->len] = '\0';
	if (rq->too_big)
		return reply_error(c, 413,
		    "body too large");
	return route(a, c, method, url, rq->body);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct admin_req *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq != NULL)
		OPENSSL_cleanse(rq->body, sizeof rq->body);
	free(rq);
	*con_cls = NULL;
}

/* A Unix socket at path, mode 0660 (the group may reach the page), a
 * stale socket there replaced. */
static int
unix_listen(const char *path, char **err)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		*err = xasprintf("admin_listen %s: a socket path is at most "
		    "%zu bytes", path, sizeof sun.sun_path - 1);
		return -1;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    unlink(path) == -1) {
		*err = xasprintf("admin_listen: remove stale %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		*err = xasprintf("admin_listen: socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    chmod(path, 0660) == -1 || listen(fd, 64) == -1) {
		*err = xasprintf("admin_listen on %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct admin *
admin_new(struct runtime *rt, const struct config *cfg, char **err)
{
	struct admin *a;
	int fd;

	*err = NULL;
	if (cfg->admin_listen == NULL)
		return NULL;
	/* The page shows every payload: over TCP only with a token (a Unix
	 * socket is guarded by its file mode). */
	if (cfg->admin_listen[0] != '/' && cfg->admin_token == NULL) {
		*err = xasprintf("[server] admin_listen: %s is an address; it "
		    "needs admin_token (or admin_token_file, or the credential "
		    "admin_token)", cfg->admin_listen);
		return NULL;
	}
	a = xcalloc(1, sizeof *a);
	a->rt = rt;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->replay_lock, NULL);
	a->generation = 1;
	random_hex(a->session, 32);
	random_hex(a->csrf, 32);
	if (cfg->admin_token != NULL)
		a->token = xstrdup(cfg->admin_token);
	/* The dead letters of the spool this daemon runs (a worker has
	 * none: its spool_dir is another process's). */
	if (runtime_spool(rt) != NULL)
		a->spool_dir = xstrdup(cfg->spool_dir);
	if (cfg->admin_listen[0] == '/') {
		if ((fd = unix_listen(cfg->admin_listen, err)) == -1)
			goto fail;
		a->unix_path = xstrdup(cfg->admin_listen);
		snprintf(a->address, sizeof a->address, "%s",
		    cfg->admin_listen);
	} else if ((fd = http_listen_socket(cfg->admin_listen, 0, 0, 0,
	    a->address, sizeof a->address, err)) == -1)
		goto fail;
	/* A thread per connection: a replay runs a sink, and the page
	 * must stay up meanwhile; a few connections at most. */
	a->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, handler, a,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, a,
	    MHD_OPTION_END);
	if (a->mhd == NULL) {
		*err = xasprintf("admin_listen %s: libmicrohttpd did not start",
		    cfg->admin_listen);
		close(fd);
		goto fail;
	}
	admin_tick(a);
	return a;
fail:
	admin_free(a);
	return NULL;
}

const char *
admin_address(const struct admin *a)
{
	return a->address;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	if (a->mhd != NULL)
		MHD_stop_daemon(a->mhd);
	if (a->unix_path != NULL && unlink(a->unix_path) == -1 &&
	    errno != ENOENT)
		log_warn("admin: remove %s: %s", a->unix_path, strerror(errno));
	free(a->unix_path);
	if (a->token != NULL)
		OPENSSL_cleanse(a->token, strlen(a->token));
	free(a->token);
	free(a->spool_dir);
	pthread_mutex_destroy(&a->replay_lock);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
