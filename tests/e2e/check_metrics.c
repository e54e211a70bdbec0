/*
 * GET /metrics from the real daemon, read by a strict parser of the
 * Prometheus text exposition format (0.0.4): HELP and TYPE at most once
 * per family and before its samples, a family's samples together, names,
 * labels and escapes as the format defines them, histograms cumulative.
 * Then the counters checked against the requests the test sent.
 */
#include <sys/resource.h>

#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define MAX_FAMILIES	128
#define MAX_SAMPLES	2048

struct family {
	char	*name;
	char	*type;		/* NULL: untyped */
	bool	 help;
	bool	 has_samples;
	bool	 closed;	/* another family's samples came after */
};

struct sample {
	char	*key;		/* name{label="value",...}, as normalised */
	char	*name;
	char	*labels;	/* the labels without le, normalised */
	char	*le;		/* NULL: none */
	double	 value;
};

struct scrape {
	struct family	 fam[MAX_FAMILIES];
	size_t		 n_fam;
	struct sample	 s[MAX_SAMPLES];
	size_t		 n;
	char		*content_type;
};

static const char *const json_ct[] = {
	"Content-Type: application/json", NULL
};

static bool
name_start(int c)
{
	return isalpha(c) || c == '_' || c == ':';
}

static bool
name_char(int c)
{
	return isalnum(c) || c == '_' || c == ':';
}

/* Why the parser refused the text; set with REQ, which returns false. */
static char perr[512];

#define REQ(cond, ...)	do { if (!(cond)) { \
			    snprintf(perr, sizeof perr, __VA_ARGS__); \
			    return false; } } while (0)

/* Reads a metric name at *p into *out (malloc'd). */
static bool
read_name(const char **p, int line, char **out)
{
	const char *b = *p;

	REQ(name_start((unsigned char)**p), "line %d: bad name at '%.20s'",
	    line, *p);
	while (name_char((unsigned char)**p))
		(*p)++;
	*out = strndup(b, (size_t)(*p - b));
	return true;
}

/* A sample value as Go's ParseFloat takes it, or +Inf, -Inf, NaN. */
static bool
read_value(const char **p, int line, double *v)
{
	char *end;

	if (strncmp(*p, "+Inf", 4) == 0 || strncmp(*p, "-Inf", 4) == 0) {
		*v = **p == '+' ? INFINITY : -INFINITY;
		*p += 4;
		return true;
	}
	if (strncmp(*p, "NaN", 3) == 0) {
		*v = NAN;
		*p += 3;
		return true;
	}
	REQ(isdigit((unsigned char)**p) || **p == '-' || **p == '+' ||
	    **p == '.', "line %d: bad value '%.20s'", line, *p);
	*v = strtod(*p, &end);
	/* strtod would also take hex and "inf"; the format does not. */
	REQ(end != *p && memchr(*p, 'x', (size_t)(end - *p)) == NULL &&
	    memchr(*p, 'n', (size_t)(end - *p)) == NULL, "line %d: bad value "
	    "'%.20s'", line, *p);
	*p = end;
	return true;
}

static struct family *
family_get(struct scrape *sc, const char *name, bool create)
{
	size_t i;

	for (i = 0; i < sc->n_fam; i++)
		if (strcmp(sc->fam[i].name, name) == 0)
			return &sc->fam[i];
	if (!create || sc->n_fam == MAX_FAMILIES)
		return NULL;
	memset(&sc->fam[sc->n_fam], 0, sizeof sc->fam[0]);
	sc->fam[sc->n_fam].name = strdup(name);
	return &sc->fam[sc->n_fam++];
}

/* The family a sample belongs to: its own name, or for a histogram or a
 * summary the name without _bucket, _sum or _count. */
static struct family *
family_of(struct scrape *sc, const char *name)
{
	static const char *const sfx[] = { "_bucket", "_sum", "_count" };
	struct family *f;
	size_t i, n = strlen(name), k;
	char *base;

	for (i = 0; i < 3; i++) {
		k = strlen(sfx[i]);
		if (n <= k || strcmp(name + n - k, sfx[i]) != 0)
			continue;
		base = strndup(name, n - k);
		f = family_get(sc, base, false);
		free(base);
		if (f != NULL && f->type != NULL &&
		    (strcmp(f->type, "histogram") == 0 ||
		    (strcmp(f->type, "summary") == 0 && i > 0)))
			return f;
	}
	return family_get(sc, name, true);
}

/* Appends name="val" to *out, comma-separated. */
static void
add_label(char **out, const char *name, const char *v)
{
	char *tmp;

	if (asprintf(&tmp, "%s%s%s=\"%s\"", *out ? *out : "",
	    *out ? "," : "", name, v) < 0)
		abort();
	free(*out);
	*out = tmp;
}

/* Reads one label value at *p (after its opening quote) into val. */
static bool
read_label_value(const char **p, int line, char *val)
{
	size_t vl = 0;

	for (; **p != '"'; (*p)++) {
		REQ(**p != '\0', "line %d: unterminated label value", line);
		if (**p == '\\') {
			(*p)++;
			REQ(**p == '\\' || **p == '"' || **p == 'n', "line "
			    "%d: bad escape \\%c", line, **p);
			val[vl++] = **p == 'n' ? '\n' : **p;
		} else
			val[vl++] = **p;
	}
	val[vl] = '\0';
	(*p)++;
	return true;
}

/* Parses {a="x",b="y"} at *p into a normalised string without le, and
 * le on its own. */
static bool
read_labels(const char **p, int line, char **labels, char **le)
{
	char *out = NULL, *name = NULL, *val;
	bool ok = false;

	*labels = NULL;
	*le = NULL;
	if (**p == '{') {
		(*p)++;
		val = malloc(strlen(*p) + 1);
		if (val == NULL)
			abort();
		while (**p != '}') {
			if (!isalpha((unsigned char)**p) && **p != '_') {
				snprintf(perr, sizeof perr, "line %d: bad "
				    "label name at '%.20s'", line, *p);
				goto out;
			}
			if (!read_name(p, line, &name))
				goto out;
			if (strchr(name, ':') != NULL || **p != '=' ||
			    (*p)[1] != '"') {
				snprintf(perr, sizeof perr, "line %d: bad "
				    "label %s", line, name);
				goto out;
			}
			*p += 2;
			if (!read_label_value(p, line, val))
				goto out;
			if (strcmp(name, "le") == 0)
				*le = strdup(val);
			else
				add_label(&out, name, val);
			free(name);
			name = NULL;
			if (**p == ',')
				(*p)++;
			else if (**p != '}') {
				snprintf(perr, sizeof perr, "line %d: ',' or "
				    "'}' expected at '%.20s'", line, *p);
				goto out;
			}
		}
		(*p)++;
		ok = true;
out:
		free(val);
		free(name);
		if (!ok) {
			free(out);
			return false;
		}
	}
	*labels = out != NULL ? out : strdup("");
	return true;
}

static bool
parse_comment(struct scrape *sc, const char *p, int line)
{
	static const char *const types[] = {
		"counter", "gauge", "histogram", "summary", "untyped",
	};
	struct family *f;
	bool help = strncmp(p, "# HELP ", 7) == 0;
	char *name;
	size_t i;

	if (!help && strncmp(p, "# TYPE ", 7) != 0)
		return true;		/* any other comment */
	p += 7;
	if (!read_name(&p, line, &name))
		return false;
	f = family_get(sc, name, true);
	free(name);
	REQ(f != NULL, "too many families");
	REQ(!f->closed && !f->has_samples, "line %d: %s for %s after its "
	    "samples", line, help ? "HELP" : "TYPE", f->name);
	if (help) {
		REQ(!f->help, "line %d: second HELP for %s", line, f->name);
		REQ(*p == ' ' && p[1] != '\0', "line %d: empty HELP", line);
		f->help = true;
		return true;
	}
	REQ(f->type == NULL, "line %d: second TYPE for %s", line, f->name);
	REQ(*p == ' ', "line %d: TYPE without a type", line);
	for (i = 0; i < 5; i++)
		if (strcmp(p + 1, types[i]) == 0)
			f->type = strdup(types[i]);
	REQ(f->type != NULL, "line %d: unknown type '%s'", line, p + 1);
	return true;
}

static bool
parse_sample(struct scrape *sc, const char *p, int line,
    struct family **last)
{
	struct sample *s;
	struct family *f;
	size_t i, n;

	REQ(sc->n < MAX_SAMPLES, "too many samples");
	s = &sc->s[sc->n];
	memset(s, 0, sizeof *s);
	if (!read_name(&p, line, &s->name))
		return false;
	sc->n++;		/* from here on, scrape_free frees it */
	if (!read_labels(&p, line, &s->labels, &s->le))
		return false;
	REQ(*p == ' ', "line %d: a space expected before the value", line);
	p++;
	if (!read_value(&p, line, &s->value))
		return false;
	if (*p == ' ') {	/* a timestamp */
		p++;
		(void)strtoll(p, (char **)&p, 10);
	}
	REQ(*p == '\0', "line %d: junk after the value: '%s'", line, p);
	if (asprintf(&s->key, "%s{%s%s%s%s%s}", s->name, s->labels,
	    s->le && *s->labels ? "," : "", s->le ? "le=\"" : "",
	    s->le ? s->le : "", s->le ? "\"" : "") < 0)
		abort();
	for (i = 0; i + 1 < sc->n; i++)
		REQ(strcmp(sc->s[i].key, s->key) != 0, "line %d: %s twice",
		    line, s->key);
	f = family_of(sc, s->name);
	REQ(f != NULL, "too many families");
	REQ(!f->closed, "line %d: %s: the samples of %s are not together",
	    line, s->name, f->name);
	if (*last != NULL && *last != f)
		(*last)->closed = true;
	*last = f;
	f->has_samples = true;
	REQ(s->le == NULL || (f->type && strcmp(f->type, "histogram") == 0),
	    "line %d: le outside a histogram", line);
	if (f->type != NULL && strcmp(f->type, "counter") == 0) {
		n = strlen(s->name);
		REQ(s->value >= 0, "line %d: negative counter", line);
		REQ(n > 6 && strcmp(s->name + n - 6, "_total") == 0, "line %d: "
		    "counter %s without _total", line, s->name);
	}
	return true;
}

/* The samples of one series from i on: the same name and labels. */
static size_t
series_end(const struct scrape *sc, size_t i)
{
	size_t j;

	for (j = i; j < sc->n && strcmp(sc->s[j].name, sc->s[i].name) == 0 &&
	    strcmp(sc->s[j].labels, sc->s[i].labels) == 0; j++)
		;
	return j;
}

/* Buckets ascending in le, counts never falling, +Inf equal to _count. */
static bool
check_histograms(const struct scrape *sc)
{
	size_t i, j, end, n;
	char *count;
	bool found;

	for (i = 0; i < sc->n; i = end) {
		const struct sample *a = &sc->s[i];
		double prev_le = -INFINITY, prev = 0, le;

		end = series_end(sc, i);
		n = strlen(a->name);
		if (n < 7 || strcmp(a->name + n - 7, "_bucket") != 0)
			continue;
		for (j = i; j < end; j++) {
			REQ(sc->s[j].le != NULL, "%s: no le", sc->s[j].key);
			le = strcmp(sc->s[j].le, "+Inf") == 0 ? INFINITY :
			    strtod(sc->s[j].le, NULL);
			REQ(le > prev_le, "%s: le not ascending", sc->s[j].key);
			REQ(sc->s[j].value >= prev, "%s: a bucket smaller "
			    "than the one before", sc->s[j].key);
			prev_le = le;
			prev = sc->s[j].value;
		}
		REQ(isinf(prev_le), "%s: no +Inf bucket", a->key);
		if (asprintf(&count, "%.*s_count{%s}", (int)(n - 7), a->name,
		    a->labels) < 0)
			abort();
		for (found = false, j = 0; j < sc->n && !found; j++)
			found = strcmp(sc->s[j].key, count) == 0 &&
			    sc->s[j].value == prev;
		free(count);
		REQ(found, "%s: no _count equal to the +Inf bucket", a->key);
	}
	return true;
}

/* Parses text (changed in place); false with perr when it is not valid. */
static bool
scrape_parse(struct scrape *sc, char *text)
{
	struct family *last = NULL;
	char *line, *nl;
	int n = 0;

	REQ(*text != '\0', "empty text");
	REQ(text[strlen(text) - 1] == '\n', "no final newline");
	for (line = text; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		*nl = '\0';
		n++;
		REQ(strchr(line, '\r') == NULL, "line %d: CR", n);
		if (*line == '\0')
			continue;
		if (!(*line == '#' ? parse_comment(sc, line, n) :
		    parse_sample(sc, line, n, &last)))
			return false;
	}
	return check_histograms(sc);
}

/* GET /metrics, checked and parsed. */
static void
scrape(struct scrape *sc, const char *base)
{
	struct tu_response r;
	char url[192];

	memset(sc, 0, sizeof *sc);
	snprintf(url, sizeof url, "%s/metrics", base);
	tu_http(&r, "GET", url, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 200);
	sc->content_type = tu_header(&r, "Content-Type");
	ck_assert_msg(scrape_parse(sc, r.body), "/metrics: %s", perr);
	tu_response_free(&r);
}

static void
scrape_free(struct scrape *sc)
{
	size_t i;

	for (i = 0; i < sc->n_fam; i++) {
		free(sc->fam[i].name);
		free(sc->fam[i].type);
	}
	for (i = 0; i < sc->n; i++) {
		free(sc->s[i].key);
		free(sc->s[i].name);
		free(sc->s[i].labels);
		free(sc->s[i].le);
	}
	free(sc->content_type);
}

/* The value of the sample with that exact key; the test fails without. */
static double
val(const struct scrape *sc, const char *key)
{
	size_t i;

	for (i = 0; i < sc->n; i++)
		if (strcmp(sc->s[i].key, key) == 0)
			return sc->s[i].value;
	ck_abort_msg("no sample %s", key);
	return 0;
}

static const char *
family_type(struct scrape *sc, const char *name)
{
	struct family *f = family_get(sc, name, false);

	ck_assert_msg(f != NULL, "no family %s", name);
	ck_assert_msg(f->help, "no HELP for %s", name);
	ck_assert_msg(f->type != NULL, "no TYPE for %s", name);
	return f->type;
}

/* Whether the parser refuses text. */
static bool
refused(const char *text)
{
	struct scrape sc;
	char *copy = strdup(text);
	bool ok;

	memset(&sc, 0, sizeof sc);
	ok = scrape_parse(&sc, copy);
	scrape_free(&sc);
	free(copy);
	return !ok;
}

START_TEST(parser_refuses_bad_texts)
{
	struct scrape sc;
	char *ok = strdup("# HELP a_total A.\n# TYPE a_total counter\n"
	    "a_total{x=\"1\"} 1\na_total{x=\"2\"} 2\n# TYPE g gauge\ng 1.5\n");

	memset(&sc, 0, sizeof sc);
	ck_assert_msg(scrape_parse(&sc, ok), "%s", perr);
	ck_assert_uint_eq(sc.n, 3);
	ck_assert(val(&sc, "a_total{x=\"2\"}") == 2);
	scrape_free(&sc);
	free(ok);
	/* TYPE after the samples, twice, interleaved families. */
	ck_assert(refused("a_total 1\n# TYPE a_total counter\n"));
	ck_assert(refused("# TYPE a gauge\n# TYPE a gauge\na 1\n"));
	ck_assert(refused("# TYPE a gauge\n# TYPE b gauge\na{x=\"1\"} 1\n"
	    "b 1\na{x=\"2\"} 1\n"));
	ck_assert(refused("a{x=\"un\"escaped\"} 1\n"));
	ck_assert(refused("a{x=\"bad \\t escape\"} 1\n"));
	ck_assert(refused("a 1\na 2\n"));
	ck_assert(refused("# TYPE c counter\nc 1\n"));
	ck_assert(refused("a one\n"));
	ck_assert(refused("a 1"));
	ck_assert(refused("# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
	    "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"));
	ck_assert(refused("# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
	    "h_sum 1\nh_count 1\n"));
}
END_TEST

/* A daemon with a log sink, a file sink, a sink that always fails (with
 * one retry) and a sink whose name needs escaping in a label. */
static void
start(struct tu_daemon *d, char **dir)
{
	char *conf;

	*dir = tu_tmpdir();
	ck_assert_int_ge(asprintf(&conf,
	    "[server]\nmax_body = 4k\nshutdown_grace = 1s\n"
	    "[sink log]\ntype = log\n"
	    "[sink archive]\ntype = file\npath = %s/events.jsonl\n"
	    "[sink full]\ntype = file\npath = /dev/full\nretries = 1\n"
	    "retry_base = 10ms\n"
	    "[sink odd.name-1]\ntype = file\npath = %s/weird.jsonl\n"
	    "events = conversation_created\n", *dir, *dir), 0);
	ck_assert_msg(tu_daemon_start(d, conf, NULL), "daemon did not start");
	free(conf);
}

static long
post(const struct tu_daemon *d, const char *path, const char *const *hdrs,
    const char *body, size_t len)
{
	struct tu_response r;
	char url[192];
	long st;

	snprintf(url, sizeof url, "%s%s", d->url, path);
	tu_http(&r, "POST", url, hdrs, body, len);
	st = r.status;
	tu_response_free(&r);
	return st;
}

static long
post_fixture(const struct tu_daemon *d, const char *name)
{
	size_t len;
	char *body = tu_fixture(name, &len);
	long st = post(d, "/webhook", json_ct, body, len);

	free(body);
	return st;
}

/* Scrapes until the queue is empty and the failing sink has given up on
 * n events. Returns how many scrapes it took. */
static int
scrape_settled(struct scrape *sc, const struct tu_daemon *d, double dead)
{
	long long end = tu_now_ms() + 5000;
	int n = 0;

	for (;;) {
		scrape(sc, d->url);
		n++;
		if (val(sc, "livedesk_queue_depth{}") == 0 && val(sc,
		    "livedesk_sink_dead_total{sink=\"full\",type=\"file\"}") >=
		    dead)
			return n;
		ck_assert_msg(tu_now_ms() < end, "the queue did not empty");
		scrape_free(sc);
		usleep(20000);
	}
}

START_TEST(exposition_format)
{
	struct tu_daemon d;
	struct scrape sc;
	char *dir;

	start(&d, &dir);
	ck_assert_int_eq(post_fixture(&d, "message_created.json"), 200);
	ck_assert_int_eq(post_fixture(&d, "conversation_created.json"), 200);
	ck_assert_int_eq(post(&d, "/webhook", json_ct, "{", 1), 400);
	scrape_settled(&sc, &d, 2);
	ck_assert_str_eq(sc.content_type, "text/plain; version=0.0.4");
	ck_assert_str_eq(family_type(&sc, "livedesk_http_requests_total"),
	    "counter");
	ck_assert_str_eq(family_type(&sc, "livedesk_events_total"), "counter");
	ck_assert_str_eq(family_type(&sc, "livedesk_events_dropped_total"),
	    "counter");
	ck_assert_str_eq(family_type(&sc, "livedesk_queue_depth"), "gauge");
	ck_assert_str_eq(family_type(&sc, "livedesk_queue_bytes"), "gauge");
	ck_assert_str_eq(family_type(&sc, "livedesk_dispatch_wakeups_total"),
	    "counter");
	ck_assert_str_eq(family_type(&sc, "livedesk_sink_deliveries_total"),
	    "counter");
	ck_assert_str_eq(family_type(&sc, "livedesk_sink_failures_total"),
	    "counter");
	ck_assert_str_eq(family_type(&sc, "livedesk_sink_retries_total"),
	    "counter");
	ck_assert_str_eq(family_type(&sc, "livedesk_sink_dead_total"),
	    "counter");
	ck_assert_str_eq(family_type(&sc, "livedesk_sink_duration_seconds"),
	    "histogram");
	ck_assert_str_eq(family_type(&sc,
	    "livedesk_process_start_time_seconds"), "gauge");
	/* The odd (but allowed) name comes back whole. */
	ck_assert(val(&sc, "livedesk_sink_deliveries_total{sink=\"odd.name-1\","
	    "type=\"file\"}") == 1);
	ck_assert(val(&sc, "livedesk_sink_duration_seconds_count{sink="
	    "\"odd.name-1\",type=\"file\"}") == 1);
	scrape_free(&sc);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	tu_daemon_free(&d);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(counters_follow_requests)
{
	struct tu_daemon d;
	struct scrape a, b;
	struct tu_response r;
	char url[192], big[6000], *dir;
	int n;
	static const char *const form_ct[] = {
		"Content-Type: application/x-www-form-urlencoded", NULL
	};

#define DELTA(key)	(val(&b, key) - val(&a, key))
	start(&d, &dir);
	scrape(&a, d.url);
	ck_assert_int_eq(post_fixture(&d, "message_created.json"), 200);
	ck_assert_int_eq(post_fixture(&d, "message_created.json"), 200);
	ck_assert_int_eq(post_fixture(&d, "conversation_created.json"), 200);
	ck_assert_int_eq(post_fixture(&d, "unknown_event.json"), 200);
	ck_assert_int_eq(post(&d, "/webhook", json_ct, "{", 1), 400);
	ck_assert_int_eq(post(&d, "/webhook", json_ct, "{\"a\":1}", 7), 422);
	ck_assert_int_eq(post(&d, "/webhook", form_ct, "a=1", 3), 415);
	memset(big, ' ', sizeof big);
	big[0] = '{';
	big[sizeof big - 1] = '}';
	ck_assert_int_eq(post(&d, "/webhook", json_ct, big, sizeof big), 413);
	ck_assert_int_eq(post(&d, "/elsewhere", json_ct, "{}", 2), 404);
	snprintf(url, sizeof url, "%s/webhook", d.url);
	tu_http(&r, "GET", url, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 405);
	tu_response_free(&r);
	n = scrape_settled(&b, &d, 4);

	/* A scrape is counted once it is answered: a, and those that
	 * waited for the queue to empty, are in b. */
	ck_assert(DELTA("livedesk_http_requests_total{code=\"200\"}") ==
	    4 + 1 + (n - 1));
	ck_assert(DELTA("livedesk_http_requests_total{code=\"400\"}") == 1);
	ck_assert(DELTA("livedesk_http_requests_total{code=\"422\"}") == 1);
	ck_assert(DELTA("livedesk_http_requests_total{code=\"415\"}") == 1);
	ck_assert(DELTA("livedesk_http_requests_total{code=\"413\"}") == 1);
	ck_assert(DELTA("livedesk_http_requests_total{code=\"404\"}") == 1);
	ck_assert(DELTA("livedesk_http_requests_total{code=\"405\"}") == 1);
	ck_assert(DELTA("livedesk_http_requests_total{code=\"503\"}") == 0);
	ck_assert(DELTA("livedesk_events_total{event=\"message_created\"}") ==
	    2);
	ck_assert(DELTA("livedesk_events_total{event=\"conversation_created\""
	    "}") == 1);
	ck_assert(DELTA("livedesk_events_total{event=\"unknown\"}") == 1);
	ck_assert(DELTA("livedesk_events_total{event=\"message_updated\"}") ==
	    0);
	ck_assert(DELTA("livedesk_events_dropped_total{reason=\"invalid_json\""
	    "}") == 1);
	ck_assert(DELTA("livedesk_events_dropped_total{reason=\"no_event\"}")
	    == 1);
	ck_assert(DELTA("livedesk_events_dropped_total{reason=\"media_type\"}")
	    == 1);
	ck_assert(DELTA("livedesk_events_dropped_total{reason=\"too_large\"}")
	    == 1);
	ck_assert(DELTA("livedesk_events_dropped_total{reason=\"queue_full\"}")
	    == 0);
	/* Four events to log and archive; the weird sink takes one kind;
	 * the full one fails each twice (a retry) and gives up. */
	ck_assert(val(&b, "livedesk_sink_deliveries_total{sink=\"log\","
	    "type=\"log\"}") == 4);
	ck_assert(val(&b, "livedesk_sink_deliveries_total{sink=\"archive\","
	    "type=\"file\"}") == 4);
	ck_assert(val(&b, "livedesk_sink_deliveries_total{sink=\"odd.name-1\","
	    "type=\"file\"}") == 1);
	ck_assert(val(&b, "livedesk_sink_deliveries_total{sink=\"full\","
	    "type=\"file\"}") == 0);
	ck_assert(val(&b, "livedesk_sink_failures_total{sink=\"full\","
	    "type=\"file\"}") == 8);
	ck_assert(val(&b, "livedesk_sink_retries_total{sink=\"full\","
	    "type=\"file\"}") == 4);
	ck_assert(val(&b, "livedesk_sink_dead_total{sink=\"full\","
	    "type=\"file\"}") == 4);
	ck_assert(val(&b, "livedesk_sink_failures_total{sink=\"archive\","
	    "type=\"file\"}") == 0);
	ck_assert(val(&b, "livedesk_sink_duration_seconds_count{sink=\""
	    "archive\",type=\"file\"}") == 4);
	ck_assert(val(&b, "livedesk_sink_duration_seconds_sum{sink=\""
	    "archive\",type=\"file\"}") >= 0);
	ck_assert(val(&b, "livedesk_queue_depth{}") == 0);
	ck_assert(val(&b, "livedesk_queue_bytes{}") == 0);
#undef DELTA
	scrape_free(&a);
	scrape_free(&b);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	tu_daemon_free(&d);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(start_time_and_reload)
{
	struct tu_daemon d;
	struct scrape a, b;
	double now = (double)time(NULL), start_time;
	char *dir;

	start(&d, &dir);
	scrape(&a, d.url);
	start_time = val(&a, "livedesk_process_start_time_seconds{}");
	ck_assert_msg(start_time >= now - 5 && start_time <= now + 5,
	    "start time %f, now %f", start_time, now);
	ck_assert_int_eq(post_fixture(&d, "message_created.json"), 200);
	/* A reload swaps the sinks; the daemon's own counters go on. */
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	ck_assert(tu_wait_log(&d, "configuration reloaded", 5000));
	scrape(&b, d.url);
	ck_assert(val(&b, "livedesk_process_start_time_seconds{}") ==
	    start_time);
	ck_assert(val(&b, "livedesk_events_total{event=\"message_created\"}")
	    == val(&a, "livedesk_events_total{event=\"message_created\"}") + 1);
	ck_assert(val(&b, "livedesk_http_requests_total{code=\"200\"}") >
	    val(&a, "livedesk_http_requests_total{code=\"200\"}"));
	scrape_free(&a);
	scrape_free(&b);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	tu_daemon_free(&d);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Waits until the daemon's log says "configuration reloaded" n times. */
static void
wait_reloads(const struct tu_daemon *d, int n)
{
	ck_assert_msg(tu_wait_file_has(d->log, "configuration reloaded", n,
	    5000), "%d reloads of %d", tu_count_in_file(d->log,
	    "configuration reloaded"), n);
}

/* How many descriptors pid has open on path: one per generation whose
 * file sink writes there, so 1 once the retired ones are reaped. */
static int
open_count(pid_t pid, const char *path)
{
	char fds[64], link[PATH_MAX + 64], real[PATH_MAX], target[PATH_MAX];
	struct dirent *e;
	ssize_t len;
	DIR *dir;
	int n = 0;

	ck_assert_ptr_nonnull(realpath(path, real));
	snprintf(fds, sizeof fds, "/proc/%d/fd", (int)pid);
	dir = opendir(fds);
	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir)) != NULL) {
		snprintf(link, sizeof link, "%s/%s", fds, e->d_name);
		len = readlink(link, target, sizeof target - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		n += strcmp(target, real) == 0;
	}
	closedir(dir);
	return n;
}

/* Every per-sink counter and histogram sample of a is in b, not smaller:
 * Prometheus takes a smaller value of a counter for a restart. */
static void
assert_sink_counters_grew(struct scrape *a, struct scrape *b)
{
	const struct family *f;
	size_t i, j;

	for (i = 0; i < a->n; i++) {
		if (strncmp(a->s[i].name, "livedesk_sink_", 14) != 0)
			continue;
		f = family_of(a, a->s[i].name);
		if (f == NULL || f->type == NULL ||
		    strcmp(f->type, "gauge") == 0)
			continue;
		for (j = 0; j < b->n && strcmp(b->s[j].key, a->s[i].key) != 0;
		    j++)
			;
		ck_assert_msg(j < b->n, "%s is gone", a->s[i].key);
		ck_assert_msg(b->s[j].value >= a->s[i].value, "%s went from %f "
		    "to %f", a->s[i].key, a->s[i].value, b->s[j].value);
	}
}

/* A reload storm while events come in: the per-sink counters carry over
 * to the new sinks of the same name, never going back. */
START_TEST(sink_counters_survive_reloads)
{
	enum { ROUNDS = 5, PER_ROUND = 8 };
	const int n = ROUNDS * PER_ROUND;
	struct tu_daemon d;
	struct scrape a, b;
	char *dir, *archive;
	int round, i;
	long long end;

	start(&d, &dir);
	scrape(&a, d.url);
	/* A scrape after each event, a reload in each round while the
	 * events before it may still be delivered or wait for a retry. */
	for (round = 1; round <= ROUNDS; round++) {
		for (i = 0; i < PER_ROUND; i++) {
			ck_assert_int_eq(post_fixture(&d,
			    "message_created.json"), 200);
			if (i == round)
				ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
			scrape(&b, d.url);
			assert_sink_counters_grew(&a, &b);
			scrape_free(&a);
			a = b;
		}
		wait_reloads(&d, round);
	}
	/* Until every event is finished and the retired generations are
	 * reaped (main's loop does it twice a second), their counts kept. */
	ck_assert_int_ge(asprintf(&archive, "%s/events.jsonl", dir), 0);
	for (end = tu_now_ms() + 10000;; usleep(20000)) {
		scrape(&b, d.url);
		assert_sink_counters_grew(&a, &b);
		scrape_free(&a);
		a = b;
		if (val(&a, "livedesk_queue_depth{}") == 0 && val(&a,
		    "livedesk_sink_dead_total{sink=\"full\",type=\"file\"}") >=
		    n && open_count(d.pid, archive) == 1)
			break;
		ck_assert_msg(tu_now_ms() < end, "not settled: %f dead of %d",
		    val(&a, "livedesk_sink_dead_total{sink=\"full\","
		    "type=\"file\"}"), n);
	}
	/* Each event counted once, whichever generation delivered it. */
	ck_assert(val(&a, "livedesk_sink_deliveries_total{sink=\"log\","
	    "type=\"log\"}") == n);
	ck_assert(val(&a, "livedesk_sink_deliveries_total{sink=\"archive\","
	    "type=\"file\"}") == n);
	ck_assert(val(&a, "livedesk_sink_duration_seconds_count{sink=\""
	    "archive\",type=\"file\"}") == n);
	ck_assert(val(&a, "livedesk_sink_duration_seconds_bucket{sink=\""
	    "archive\",type=\"file\",le=\"+Inf\"}") == n);
	ck_assert(val(&a, "livedesk_sink_dead_total{sink=\"full\","
	    "type=\"file\"}") == n);
	ck_assert(val(&a, "livedesk_sink_failures_total{sink=\"full\","
	    "type=\"file\"}") == 2 * n);
	ck_assert(val(&a, "livedesk_sink_retries_total{sink=\"full\","
	    "type=\"file\"}") == n);
	scrape_free(&a);
	free(archive);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	tu_daemon_free(&d);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Scrapes until the sample key reaches v. */
static void
scrape_until(struct scrape *sc, const struct tu_daemon *d, const char *key,
    double v)
{
	long long end = tu_now_ms() + 5000;

	for (;;) {
		scrape(sc, d->url);
		if (val(sc, key) >= v)
			return;
		ck_assert_msg(tu_now_ms() < end, "%s: %f, not %f", key,
		    val(sc, key), v);
		scrape_free(sc);
		usleep(20000);
	}
}

/* Whether a scrape has any sample of sink NAME. */
static bool
has_sink(const struct scrape *sc, const char *name)
{
	char label[128];
	size_t i;

	snprintf(label, sizeof label, "sink=\"%s\"", name);
	for (i = 0; i < sc->n; i++)
		if (strstr(sc->s[i].labels, label) != NULL)
			return true;
	return false;
}

/* A sink a reload removes drops out (a counter may vanish, not reset);
 * back under the same name, it goes on from its earlier counts. */
START_TEST(removed_sink_series)
{
	const char *key = "livedesk_sink_deliveries_total{sink=\"archive\","
	    "type=\"file\"}";
	struct tu_daemon d;
	struct scrape sc;
	char *without, *with;

	ck_assert_int_ge(asprintf(&without, "[sink log]\ntype = log\n"), 0);
	ck_assert(tu_daemon_start(&d, without, NULL));
	ck_assert_int_ge(asprintf(&with, "%s[sink archive]\ntype = file\n"
	    "path = %s/events.jsonl\n", without, d.dir), 0);
	tu_write_file(d.conf, with, strlen(with));
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	wait_reloads(&d, 1);
	ck_assert_int_eq(post_fixture(&d, "message_created.json"), 200);
	ck_assert_int_eq(post_fixture(&d, "message_created.json"), 200);
	scrape_until(&sc, &d, key, 2);
	ck_assert(val(&sc, key) == 2);
	scrape_free(&sc);

	tu_write_file(d.conf, without, strlen(without));
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	wait_reloads(&d, 2);
	scrape(&sc, d.url);
	ck_assert(!has_sink(&sc, "archive"));
	ck_assert(has_sink(&sc, "log"));
	scrape_free(&sc);

	tu_write_file(d.conf, with, strlen(with));
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	wait_reloads(&d, 3);
	ck_assert_int_eq(post_fixture(&d, "message_created.json"), 200);
	scrape_until(&sc, &d, key, 3);
	ck_assert(val(&sc, key) == 3);
	scrape_free(&sc);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	tu_daemon_free(&d);
	free(with);
	free(without);
}
END_TEST

START_TEST(head_and_healthz)
{
	struct tu_daemon d;
	struct tu_response r;
	char url[192], *dir;

	start(&d, &dir);
	snprintf(url, sizeof url, "%s/metrics", d.url);
	tu_http(&r, "HEAD", url, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	tu_http(&r, "POST", url, json_ct, "{}", 2);
	ck_assert_int_ne(r.status, 200);
	tu_response_free(&r);
	snprintf(url, sizeof url, "%s/healthz", d.url);
	tu_http(&r, "GET", url, NULL, NULL, 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"ok\":true,\"status\":\"ready\"}");
	tu_response_free(&r);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	tu_daemon_free(&d);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* The process collector's families, as every Prometheus client library
 * exports them, so that the usual memory and descriptor panels and the
 * restart alert (changes(process_start_time_seconds)) work on this target:
 * values from the daemon's /proc entry, checked against this test's view
 * of the same process. */
START_TEST(process_metrics)
{
	struct tu_daemon d;
	struct scrape sc;
	struct rlimit rl;
	char *dir, path[64], line[256];
	double start_s, rss, vsz, fds, max;
	long long rss_kb = -1;
	FILE *f;

	start(&d, &dir);
	scrape(&sc, d.url);
	ck_assert_str_eq(family_type(&sc, "process_cpu_seconds_total"),
	    "counter");
	ck_assert_str_eq(family_type(&sc, "process_start_time_seconds"),
	    "gauge");
	ck_assert_str_eq(family_type(&sc, "process_resident_memory_bytes"),
	    "gauge");
	ck_assert_str_eq(family_type(&sc, "process_virtual_memory_bytes"),
	    "gauge");
	ck_assert_str_eq(family_type(&sc, "process_open_fds"), "gauge");
	ck_assert_str_eq(family_type(&sc, "process_max_fds"), "gauge");
	ck_assert(val(&sc, "process_cpu_seconds_total{}") >= 0);
	/* Started a moment ago, by the wall clock. */
	start_s = val(&sc, "process_start_time_seconds{}");
	ck_assert_msg(start_s > (double)time(NULL) - 60 &&
	    start_s < (double)time(NULL) + 2, "start time %f", start_s);
	/* Resident memory: what /proc/PID/status says, within a margin for
	 * what the scrape itself allocated in between. */
	snprintf(path, sizeof path, "/proc/%d/status", (int)d.pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %lld kB", &rss_kb) == 1)
			break;
	fclose(f);
	ck_assert_int_gt(rss_kb, 0);
	rss = val(&sc, "process_resident_memory_bytes{}");
	vsz = val(&sc, "process_virtual_memory_bytes{}");
	ck_assert_msg(rss > (double)rss_kb * 1024 / 2 &&
	    rss < (double)rss_kb * 1024 * 2, "rss %f, VmRSS %lld kB", rss,
	    rss_kb);
	ck_assert(vsz >= rss);
	/* At least the standard three, the listener and the spool; the
	 * limit is the one the daemon inherited from this test. */
	fds = val(&sc, "process_open_fds{}");
	max = val(&sc, "process_max_fds{}");
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_msg(fds >= 4 && fds <= max, "open %f max %f", fds, max);
	ck_assert(max == (double)rl.rlim_cur);
	scrape_free(&sc);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	tu_daemon_free(&d);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc;

	tc = tcase_create("parser");
	tcase_add_test(tc, parser_refuses_bad_texts);
	suite_add_tcase(s, tc);

	tc = tcase_create("daemon");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, exposition_format);
	tcase_add_test(tc, counters_follow_requests);
	tcase_add_test(tc, start_time_and_reload);
	tcase_add_test(tc, sink_counters_survive_reloads);
	tcase_add_test(tc, removed_sink_series);
	tcase_add_test(tc, head_and_healthz);
	tcase_add_test(tc, process_metrics);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
