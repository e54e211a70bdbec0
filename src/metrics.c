/* Counters for /metrics and the systemd status line (see metrics.h). */
#include <sys/resource.h>

#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "metrics.h"
#include "spool.h"
#include "util.h"

static const unsigned statuses[METRICS_STATUSES] = {
	200, 400, 401, 403, 404, 405, 408, 413, 414, 415, 422, 429, 431, 500,
	501, 503, 505, 0,
};

static const char *const drop_names[DROP_MAX] = {
	"invalid_json", "no_event", "too_large", "media_type",
	"unauthorized", "forbidden", "queue_full", "spool_error", "stopping",
	"duplicate", "bad_request", "unsupported", "too_many_connections",
	"busy", "body_memory", "spool_full",
};

void
metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof *m);
	m->start_usec = util_now_usec();
}

void
metrics_request(struct metrics *m, unsigned status)
{
	size_t i;

	for (i = 0; i < METRICS_STATUSES - 1 && statuses[i] != 0; i++)
		if (statuses[i] == status)
			break;
	/* The last slot counts every status not listed. */
	if (statuses[i] != status)
		i = METRICS_STATUSES - 1;
	atomic_fetch_add_explicit(&m->requests[i], 1, memory_order_relaxed);
}

void
metrics_event(struct metrics *m, enum ld_event_kind k)
{
	atomic_fetch_add_explicit(&m->events[k], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->accepted, 1, memory_order_relaxed);
}

void
metrics_drop(struct metrics *m, enum metrics_drop why)
{
	atomic_fetch_add_explicit(&m->dropped[why], 1, memory_order_relaxed);
}

static uint64_t
get(const atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static void
render_requests(FILE *f, const struct metrics *m)
{
	size_t i;

	fputs("# HELP livedesk_http_requests_total HTTP requests by status.\n"
	    "# TYPE livedesk_http_requests_total counter\n", f);
	for (i = 0; i < METRICS_STATUSES - 1 && statuses[i] != 0; i++)
		fprintf(f, "livedesk_http_requests_total{code=\"%u\"} %llu\n",
		    statuses[i], (unsigned long long)get(&m->requests[i]));
	fprintf(f, "livedesk_http_requests_total{code=\"other\"} %llu\n",
	    (unsigned long long)get(&m->requests[METRICS_STATUSES - 1]));
	fputs("# HELP livedesk_events_total Events accepted, by name.\n"
	    "# TYPE livedesk_events_total counter\n", f);
	for (i = 0; i <= LD_EVENT_MESSAGE_UPDATED; i++)
		fprintf(f, "livedesk_events_total{event=\"%s\"} %llu\n",
		    ld_event_kind_name((enum ld_event_kind)i),
		    (unsigned long long)get(&m->events[i]));
	fputs("# HELP livedesk_events_dropped_total Requests not dispatched, "
	    "by reason.\n# TYPE livedesk_events_dropped_total counter\n", f);
	for (i = 0; i < DROP_MAX; i++)
		fprintf(f, "livedesk_events_dropped_total{reason=\"%s\"} %llu\n",
		    drop_names[i], (unsigned long long)get(&m->dropped[i]));
}

/* A label value with backslash, double quote and newline escaped, as the
 * text format wants: a sink's name comes from the configuration. */
static void
put_label(FILE *f, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* {sink="NAME",type="TYPE" and what follows, up to the closing brace. */
static void
put_sink_labels(FILE *f, const char *metric,
    const struct dispatch_sink_stats *s)
{
	fprintf(f, "%s{sink=\"", metric);
	put_label(f, s->name);
	fputs("\",type=\"", f);
	put_label(f, s->type);
	fputc('"', f);
}

/* The per-sink counters, one family each. */
static const struct {
	const char	*name;
	const char	*help;
	size_t		 off;
} sink_counters[] = {
#define OFF(f) offsetof(struct dispatch_sink_stats, f)
	{ "livedesk_sink_deliveries_total", "Events a sink delivered.",
	    OFF(delivered) },
	{ "livedesk_sink_failures_total", "Delivery attempts that failed.",
	    OFF(failed) },
	{ "livedesk_sink_retries_total", "Retries after a failed attempt.",
	    OFF(retried) },
	{ "livedesk_sink_dead_total", "Events given up after the last "
	    "retry (dead letters).", OFF(dead) },
	{ "livedesk_sink_restarts_total", "Handler processes of a "
	    "persistent exec sink started again after one was lost.",
	    OFF(restarts) },
#undef OFF
};

/* Every sample of a family together, after its HELP and TYPE, as the
 * exposition format requires: one family at a time over all the sinks. */
static void
render_sinks(FILE *f, const struct dispatch_stats *ds)
{
	const struct dispatch_sink_stats *s;
	size_t c, i, b;

	for (c = 0; c < nitems(sink_counters); c++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n",
		    sink_counters[c].name, sink_counters[c].help,
		    sink_counters[c].name);
		for (i = 0; i < ds->n_sinks; i++) {
			s = &ds->sinks[i];
			put_sink_labels(f, sink_counters[c].name, s);
			fprintf(f, "} %llu\n", (unsigned long long)
			    *(const uint64_t *)(const void *)
			    ((const char *)s + sink_counters[c].off));
		}
	}
	fputs("# HELP livedesk_sink_duration_seconds Time one delivery "
	    "attempt took.\n"
	    "# TYPE livedesk_sink_duration_seconds histogram\n", f);
	for (i = 0; i < ds->n_sinks; i++) {
		s = &ds->sinks[i];
		for (b = 0; b < nitems(dispatch_duration_bounds); b++) {
			put_sink_labels(f,
			    "livedesk_sink_duration_seconds_bucket", s);
			fprintf(f, ",le=\"%g\"} %llu\n",
			    dispatch_duration_bounds[b],
			    (unsigned long long)s->duration_le[b]);
		}
		put_sink_labels(f, "livedesk_sink_duration_seconds_bucket", s);
		fprintf(f, ",le=\"+Inf\"} %llu\n",
		    (unsigned long long)s->duration_count);
		put_sink_labels(f, "livedesk_sink_duration_seconds_sum", s);
		fprintf(f, "} %.6f\n", (double)s->duration_usec / 1e6);
		put_sink_labels(f, "livedesk_sink_duration_seconds_count", s);
		fprintf(f, "} %llu\n", (unsigned long long)s->duration_count);
	}
}

static void
render_dispatch(FILE *f, const struct dispatch_stats *ds)
{
	fprintf(f, "# HELP livedesk_queue_depth Events accepted and not yet "
	    "finished by every sink.\n# TYPE livedesk_queue_depth gauge\n"
	    "livedesk_queue_depth %zu\n", ds->queued);
	fprintf(f, "# HELP livedesk_queue_bytes Bytes of the events in the "
	    "queue.\n# TYPE livedesk_queue_bytes gauge\n"
	    "livedesk_queue_bytes %zu\n", ds->queued_bytes);
	fprintf(f, "# HELP livedesk_dispatch_wakeups_total Times a sleeping "
	    "worker was woken for new work (under load, far fewer than "
	    "events).\n# TYPE livedesk_dispatch_wakeups_total counter\n"
	    "livedesk_dispatch_wakeups_total %llu\n",
	    (unsigned long long)ds->wakeups);
	render_sinks(f, ds);
}

static void
render_spool(FILE *f, const struct spool_status *ss, size_t retrying)
{
	fprintf(f, "# HELP livedesk_spool_pending Events in the spool not yet "
	    "finished by every sink.\n# TYPE livedesk_spool_pending gauge\n"
	    "livedesk_spool_pending %zu\n", ss->pending);
	fprintf(f, "# HELP livedesk_spool_retrying Deliveries waiting for a "
	    "retry.\n# TYPE livedesk_spool_retrying gauge\n"
	    "livedesk_spool_retrying %zu\n", retrying);
	fprintf(f, "# HELP livedesk_spool_dead Dead letters in the spool's "
	    "failed/ directory.\n# TYPE livedesk_spool_dead gauge\n"
	    "livedesk_spool_dead %zu\n", ss->dead);
	{
		int64_t now = util_now_usec();
		double age = ss->oldest_usec > 0 && now > ss->oldest_usec ?
		    (double)(now - ss->oldest_usec) / 1e6 : 0;

		fprintf(f, "# HELP livedesk_backlog_events Events accepted "
		    "and not yet finished by every sink (on disk, in the "
		    "window or not).\n# TYPE livedesk_backlog_events gauge\n"
		    "livedesk_backlog_events %zu\n", ss->pending);
		fprintf(f, "# HELP livedesk_backlog_bytes Bytes of the spool's "
		    "live batch files (what spool_max bounds).\n"
		    "# TYPE livedesk_backlog_bytes gauge\n"
		    "livedesk_backlog_bytes %llu\n",
		    (unsigned long long)ss->backlog_bytes);
		fprintf(f, "# HELP livedesk_backlog_oldest_seconds Age of the "
		    "oldest unfinished event (of the oldest live batch).\n"
		    "# TYPE livedesk_backlog_oldest_seconds gauge\n"
		    "livedesk_backlog_oldest_seconds %.3f\n", age);
	}
	fprintf(f, "# HELP livedesk_spool_write_errors_total Commits that "
	    "could not be written (answered 503).\n"
	    "# TYPE livedesk_spool_write_errors_total counter\n"
	    "livedesk_spool_write_errors_total %llu\n",
	    (unsigned long long)ss->write_errors);
}

/* Fields 14 (utime), 15 (stime), 22 (starttime), 23 (vsize) and 24 (rss)
 * of /proc/self/stat. The second field, the command, is in parentheses and
 * may hold spaces: the scan starts after its last ')'. */
struct proc_stat {
	unsigned long long utime, stime, starttime, vsize;
	long long	 rss;
};

static int
read_proc_stat(struct proc_stat *ps)
{
	char buf[1024], *p;
	size_t n;
	FILE *f = fopen("/proc/self/stat", "re");

	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* From field 3 (state) on: skip 3..13, read 14, 15, skip 16..21,
	 * read 22, 23, 24. */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
	    &ps->utime, &ps->stime, &ps->starttime, &ps->vsize,
	    &ps->rss) != 5)
		return -1;
	return 0;
}

/* The boot time, btime of /proc/stat, in seconds since the epoch: a
 * process's starttime counts clock ticks from it. */
static long long
read_boot_time(void)
{
	char line[256];
	long long bt = -1;
	FILE *f = fopen("/proc/stat", "re");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "btime %lld", &bt) == 1)
			break;
	fclose(f);
	return bt;
}

static long
count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The process collector's metrics, with the names and meanings of the
 * Prometheus client libraries (client_golang's process collector), so that
 * the dashboards and alerts written for any Prometheus target work here.
 * What cannot be read is left out rather than reported as zero. */
static void
render_process(FILE *f)
{
	struct proc_stat ps;
	struct rlimit rl;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	long long bt;
	long fds;

	if (read_proc_stat(&ps) == 0 && tck > 0 && page > 0) {
		fprintf(f, "# HELP process_cpu_seconds_total Total user and "
		    "system CPU time spent in seconds.\n"
		    "# TYPE process_cpu_seconds_total counter\n"
		    "process_cpu_seconds_total %.2f\n",
		    (double)(ps.utime + ps.stime) / (double)tck);
		fprintf(f, "# HELP process_virtual_memory_bytes Virtual memory "
		    "size in bytes.\n"
		    "# TYPE process_virtual_memory_bytes gauge\n"
		    "process_virtual_memory_bytes %llu\n", ps.vsize);
		fprintf(f, "# HELP process_resident_memory_bytes Resident "
		    "memory size in bytes.\n"
		    "# TYPE process_resident_memory_bytes gauge\n"
		    "process_resident_memory_bytes %lld\n",
		    ps.rss * (long long)page);
		if ((bt = read_boot_time()) >= 0)
			fprintf(f, "# HELP process_start_time_seconds Start "
			    "time of the process since unix epoch in "
			    "seconds.\n"
			    "# TYPE process_start_time_seconds gauge\n"
			    "process_start_time_seconds %.2f\n", (double)bt +
			    (double)ps.starttime / (double)tck);
	}
	if ((fds = count_open_fds()) >= 0)
		fprintf(f, "# HELP process_open_fds Number of open file "
		    "descriptors.\n# TYPE process_open_fds gauge\n"
		    "process_open_fds %ld\n", fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		fprintf(f, "# HELP process_max_fds Maximum number of open "
		    "file descriptors.\n# TYPE process_max_fds gauge\n"
		    "process_max_fds %llu\n", rl.rlim_cur == RLIM_INFINITY ?
		    0ULL : (unsigned long long)rl.rlim_cur);
}

char *
metrics_render(const struct metrics *m, const struct dispatch_stats *ds,
    const struct spool_status *ss)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	render_requests(f, m);
	if (ds != NULL)
		render_dispatch(f, ds);
	if (ss != NULL)
		render_spool(f, ss, ds ? ds->retrying : 0);
	fprintf(f, "# HELP livedesk_process_start_time_seconds Start time of "
	    "the process since the Unix epoch.\n"
	    "# TYPE livedesk_process_start_time_seconds gauge\n"
	    "livedesk_process_start_time_seconds %.3f\n",
	    (double)m->start_usec / 1e6);
	render_process(f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
