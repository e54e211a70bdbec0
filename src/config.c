/* The configuration: built-in defaults, the INI file read with inih,
 * validation with messages that name the file, the line and the key. */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <ini.h>

#include "auth.h"
#include "config.h"
#include "source_redis.h"
#include "util.h"

enum key_type { K_STR, K_SECRET, K_DURATION, K_SIZE, K_INT, K_BOOL };

/* The [server] keys: one row each, read and printed by the same table. */
static const struct server_key {
	const char	*name;
	enum key_type	 type;
	size_t		 off;
	long long	 min, max;
} server_keys[] = {
#define OFF(f) offsetof(struct config, f)
	{ "listen", K_STR, OFF(listen), 0, 0 },
	{ "path", K_STR, OFF(path), 0, 0 },
	{ "max_body", K_SIZE, OFF(max_body), 1, 1LL << 31 },
	{ "max_body_total", K_SIZE, OFF(max_body_total), 1024, 1LL << 40 },
	{ "workers", K_INT, OFF(workers), 0, 1024 },
	{ "queue_size", K_INT, OFF(queue_size), 1, 10000000 },
	{ "queue_bytes", K_SIZE, OFF(queue_bytes), 1024, 1LL << 40 },
	{ "http_threads", K_INT, OFF(http_threads), 1, 64 },
	{ "log_level", K_STR, OFF(log_level), 0, 0 },
	{ "max_depth", K_INT, OFF(max_depth), 1, 2048 },
	{ "max_connections", K_INT, OFF(max_connections), 1, 1000000 },
	{ "max_connections_per_ip", K_INT, OFF(max_connections_per_ip), 0,
	    1000000 },
	{ "connection_timeout", K_DURATION, OFF(connection_timeout_ms), 1000,
	    86400000 },
	{ "request_timeout", K_DURATION, OFF(request_timeout_ms), 1000,
	    86400000 },
	{ "max_header_size", K_SIZE, OFF(max_header_size), 4096, 1 << 20 },
	{ "shutdown_grace", K_DURATION, OFF(shutdown_grace_ms), 0, 86400000 },
	{ "token", K_SECRET, OFF(token), 0, 0 },
	{ "signature_secret", K_SECRET, OFF(signature_secret), 0, 0 },
	{ "standard_webhooks_secret", K_SECRET,
	    OFF(standard_webhooks_secret), 0, 0 },
	{ "signature_tolerance", K_DURATION, OFF(signature_tolerance_ms), 0,
	    86400000 },
	{ "dedupe_window", K_DURATION, OFF(dedupe_window_ms), 0, 86400000 },
	{ "allow_from", K_STR, OFF(allow_from), 0, 0 },
	{ "trusted_proxies", K_STR, OFF(trusted_proxies), 0, 0 },
	{ "spool_dir", K_STR, OFF(spool_dir), 0, 0 },
	{ "durable", K_BOOL, OFF(durable), 0, 0 },
#undef OFF
};

static const char *const log_levels[] = {
	"error", "warning", "notice", "info", "debug",
};
static const int log_prios[] = {
	LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG,
};

/* The state of one config_load: where inih is, and what went wrong. */
struct load {
	struct config	*cfg;
	const char	*file;
	FILE		*fp;
	int		 line;		/* of the line inih is handling */
	char		*section;	/* the current [section] */
	int		 section_line;
	struct config_sink *sink;	/* the current [sink NAME] or NULL */
	bool		 in_source;	/* in [source] */
	bool		 seen[nitems(server_keys)];
	char		*errors;
	int		 n_errors;
};

static void
load_error(struct load *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
load_error(struct load *l, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg, *all;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	/* Line 0: about the file as a whole. */
	if (line > 0)
		all = xasprintf("%s%s%s:%d: %s", l->errors ? l->errors : "",
		    l->errors ? "\n" : "", l->file, line, msg);
	else
		all = xasprintf("%s%s%s: %s", l->errors ? l->errors : "",
		    l->errors ? "\n" : "", l->file, msg);
	free(msg);
	free(l->errors);
	l->errors = all;
	l->n_errors++;
}

static void
sink_defaults(struct config_sink *s)
{
	s->concurrency = 1;
	s->retries = 0;
	s->retry_base_ms = 1000;
	s->retry_cap_ms = 300000;
}

static struct config_sink *
add_sink(struct config *cfg, const char *name, int line)
{
	struct config_sink *s;

	cfg->sinks = xreallocarray(cfg->sinks, cfg->n_sinks + 1,
	    sizeof *cfg->sinks);
	s = &cfg->sinks[cfg->n_sinks++];
	memset(s, 0, sizeof *s);
	s->name = xstrdup(name);
	s->line = line;
	sink_defaults(s);
	return s;
}

struct config *
config_default(void)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	struct config_sink *s;
	char *err = NULL;

	cfg->listen = xstrdup("127.0.0.1:8080");
	cfg->path = xstrdup("/webhook");
	cfg->max_body = 1024 * 1024;
	cfg->max_body_total = 64 * 1024 * 1024;
	cfg->queue_size = 1024;
	cfg->queue_bytes = 64 * 1024 * 1024;
	cfg->http_threads = 2;
	cfg->log_level = xstrdup("info");
	cfg->max_depth = 64;
	cfg->max_connections = 1024;
	cfg->max_connections_per_ip = 64;
	cfg->connection_timeout_ms = 10000;
	cfg->request_timeout_ms = 30000;
	cfg->max_header_size = 32 * 1024;
	cfg->shutdown_grace_ms = 10000;
	cfg->signature_tolerance_ms = 300000;
	cfg->dedupe_window_ms = 600000;
	cfg->durable = true;
	s = add_sink(cfg, "log", 0);
	s->ops = sink_find("log");
	filter_defaults(&s->filter, s->ops->incoming_only);
	if (s->ops->conf_check(&s->conf, &err) == -1)
		abort();	/* the log sink has no required key */
	return cfg;
}

/* Reads a secret from a file: the first line, without its newline. */
static char *
read_secret(const char *path, char **err)
{
	char buf[4096], *line = NULL;
	struct stat st;
	size_t n;
	FILE *f;

	/* A regular file only, read with a bound: /dev/stdin would block
	 * the start-up and /dev/zero would eat the memory. */
	if ((f = fopen(path, "re")) == NULL || fstat(fileno(f), &st) == -1) {
		*err = xasprintf("open %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = xasprintf("%s is not a regular file", path);
		goto out;
	}
	if (fgets(buf, sizeof buf, f) == NULL) {
		*err = xasprintf("%s is empty", path);
		goto out;
	}
	n = strlen(buf);
	if (n == sizeof buf - 1 && buf[n - 1] != '\n') {
		*err = xasprintf("%s: the secret is longer than %zu bytes",
		    path, sizeof buf - 2);
		goto out;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0)
		*err = xasprintf("%s is empty", path);
	else
		line = xstrdup(buf);
out:
	explicit_bzero(buf, sizeof buf);
	if (f != NULL)
		fclose(f);
	return line;
}

/* Sets one [server] key from its table row. */
static int
set_server_value(struct config *cfg, const struct server_key *k,
    const char *value, char **err)
{
	void *field = (char *)cfg + k->off;
	long long ll;
	uint64_t u;
	int64_t ms;

	switch (k->type) {
	case K_STR:
	case K_SECRET:
		if (*value == '\0') {
			*err = xstrdup("empty value");
			return -1;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case K_INT:
		if (util_parse_int(value, k->min, k->max, &ll) == -1)
			break;
		*(long long *)field = ll;
		return 0;
	case K_SIZE:
		if (util_parse_size(value, &u) == -1 ||
		    u < (uint64_t)k->min || u > (uint64_t)k->max)
			break;
		*(uint64_t *)field = u;
		return 0;
	case K_DURATION:
		if (util_parse_duration(value, &ms) == -1 || ms < k->min ||
		    ms > k->max)
			break;
		*(int64_t *)field = ms;
		return 0;
	case K_BOOL:
		if (util_parse_bool(value, (bool *)field) == -1) {
			*err = xasprintf("'%s' is not yes or no", value);
			return -1;
		}
		return 0;
	}
	if (k->type == K_DURATION)
		*err = xasprintf("'%s' is not a duration between %lldms and "
		    "%lldms (write it like 500ms, 30s, 5m)", value, k->min,
		    k->max);
	else
		*err = xasprintf("'%s' is not a whole number between %lld "
		    "and %lld%s", value, k->min, k->max,
		    k->type == K_SIZE ? " (suffixes k, M, G allowed)" : "");
	return -1;
}

static int
set_server(struct load *l, const char *key, const char *value)
{
	char *err = NULL, *secret, *base = NULL;
	size_t i, n = strlen(key);
	int rc = -1;

	/* token_file, signature_secret_file, ...: the secret from a file. */
	if (n > 5 && strcmp(key + n - 5, "_file") == 0)
		base = xstrndup(key, n - 5);
	for (i = 0; i < nitems(server_keys); i++) {
		const struct server_key *k = &server_keys[i];

		if (strcmp(k->name, base ? base : key) != 0 ||
		    (base != NULL && k->type != K_SECRET))
			continue;
		if (l->seen[i]) {
			load_error(l, l->line, "[server] %s: given twice", key);
			goto out;
		}
		l->seen[i] = true;
		if (base != NULL) {
			if ((secret = read_secret(value, &err)) == NULL)
				break;
			rc = set_server_value(l->cfg, k, secret, &err);
			explicit_bzero(secret, strlen(secret));
			free(secret);
		} else
			rc = set_server_value(l->cfg, k, value, &err);
		if (rc == -1)
			break;
		goto out;
	}
	if (i == nitems(server_keys))
		load_error(l, l->line, "[server] unknown key '%s'", key);
	else
		load_error(l, l->line, "[server] %s: %s", key, err);
out:
	free(err);
	free(base);
	return rc;
}

/* The keys every sink has, whatever its type. */
static int
set_sink_common(struct config_sink *s, const char *key, const char *value,
    char **err)
{
	long long ll;
	int64_t ms;

	if (strcmp(key, "concurrency") == 0) {
		if (util_parse_int(value, 1, 1024, &ll) == -1)
			goto bad_int;
		s->concurrency = ll;
		return 0;
	}
	if (strcmp(key, "retries") == 0) {
		if (util_parse_int(value, 0, 1000, &ll) == -1)
			goto bad_int;
		s->retries = ll;
		return 0;
	}
	if (strcmp(key, "retry_base") == 0 || strcmp(key, "retry_cap") == 0) {
		/* At most a day: the backoff doubles it, and a bound keeps
		 * that sum far from overflowing. */
		if (util_parse_duration(value, &ms) == -1 || ms < 1 ||
		    ms > 86400000) {
			*err = xasprintf("'%s' is not a duration between 1ms "
			    "and 1d (write it like 500ms, 30s, 5m)", value);
			return -1;
		}
		*(key[6] == 'b' ? &s->retry_base_ms : &s->retry_cap_ms) = ms;
		return 0;
	}
	return filter_set(&s->filter, key, value, err);
bad_int:
	*err = xasprintf("'%s' is not a whole number in range", value);
	return -1;
}

static void
set_sink(struct load *l, const char *key, const char *value)
{
	struct config_sink *s = l->sink;
	char *err = NULL;
	int rc;

	if (strcmp(key, "type") == 0) {
		if (s->ops != NULL)
			load_error(l, l->line, "[sink %s] type: given twice",
			    s->name);
		else if ((s->ops = sink_find(value)) == NULL)
			load_error(l, l->line, "[sink %s] type: unknown sink "
			    "type '%s'", s->name, value);
		return;
	}
	rc = set_sink_common(s, key, value, &err);
	if (rc == 1 && s->ops == NULL) {
		load_error(l, l->line, "[sink %s] %s: 'type' must come first",
		    s->name, key);
		return;
	}
	if (rc == 1)
		rc = s->ops->conf_set(&s->conf, key, value, &err);
	if (rc == 1)
		load_error(l, l->line, "[sink %s] unknown key '%s' for type "
		    "%s", s->name, key, s->ops->type);
	else if (rc == -1)
		load_error(l, l->line, "[sink %s] %s: %s", s->name, key, err);
	free(err);
}

static void
set_source(struct load *l, const char *key, const char *value)
{
	char *err = NULL;
	int rc = source_redis_conf_set(&l->cfg->source.conf, key, value, &err);

	if (rc == 1)
		load_error(l, l->line, "[source] unknown key '%s'", key);
	else if (rc == -1)
		load_error(l, l->line, "[source] %s: %s", key, err);
	free(err);
}

/* Starts a section; called from the reader, so that empty sections are
 * seen too. */
static void
begin_section(struct load *l, const char *name)
{
	size_t i;

	free(l->section);
	l->section = xstrdup(name);
	l->section_line = l->line;
	l->sink = NULL;
	l->in_source = false;
	if (strcmp(name, "server") == 0)
		return;
	if (strcmp(name, "source") == 0) {
		if (l->cfg->source.present)
			load_error(l, l->line, "[source]: given twice (first at "
			    "line %d)", l->cfg->source.line);
		l->cfg->source.present = true;
		l->cfg->source.line = l->line;
		l->in_source = true;
		return;
	}
	if (strncmp(name, "sink ", 5) == 0 && name[5] != '\0') {
		/* Names go into the spool's progress lines, metric labels and
		 * log lines: letters, digits, '.', '_', '-' only. */
		if (strlen(name + 5) > 64 || strspn(name + 5, "abcdefghijklmn"
		    "opqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
		    strlen(name + 5))
			load_error(l, l->line, "[%s]: a sink name is 1 to 64 "
			    "letters, digits, '.', '_' or '-'", name);
		for (i = 0; i < l->cfg->n_sinks; i++)
			if (strcmp(l->cfg->sinks[i].name, name + 5) == 0)
				load_error(l, l->line, "[%s]: a sink of that "
				    "name is already defined at line %d",
				    name, l->cfg->sinks[i].line);
		l->sink = add_sink(l->cfg, name + 5, l->line);
		return;
	}
	load_error(l, l->line, "unknown section [%s] (expected [server], "
	    "[source] or [sink NAME])", name);
}

static int
on_key(void *user, const char *section, const char *key, const char *value)
{
	struct load *l = user;

	(void)section;
	if (l->section == NULL)
		load_error(l, l->line, "'%s' outside any section", key);
	else if (strcmp(l->section, "server") == 0)
		set_server(l, key, value);
	else if (l->sink != NULL)
		set_sink(l, key, value);
	else if (l->in_source)
		set_source(l, key, value);
	return 1;	/* go on: report every error at once */
}

/* inih's reader: counts lines and notices section headers, so that errors
 * carry line numbers and empty sections are not silently skipped. */
static char *
reader(char *str, int num, void *stream)
{
	struct load *l = stream;
	char *p, *end;
	size_t n;

	if (fgets(str, num, l->fp) == NULL)
		return NULL;
	l->line++;
	n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n' && !feof(l->fp)) {
		int c;

		load_error(l, l->line, "line longer than %d characters",
		    num - 2);
		while ((c = fgetc(l->fp)) != EOF && c != '\n')
			;
		str[0] = '\0';
		return str;
	}
	for (p = str; isspace((unsigned char)*p); p++)
		;
	if (*p == '[' && (end = strchr(p, ']')) != NULL) {
		*end = '\0';
		begin_section(l, p + 1);
		*end = ']';
	}
	return str;
}

static void
finish_sink(struct load *l, struct config_sink *s)
{
	char *err = NULL;

	if (s->ops == NULL) {
		load_error(l, s->line, "[sink %s]: missing required key "
		    "'type' (log, file, exec or redis)", s->name);
		return;
	}
	filter_defaults(&s->filter, s->ops->incoming_only);
	if (s->retry_cap_ms < s->retry_base_ms)
		load_error(l, s->line, "[sink %s] retry_cap: shorter than "
		    "retry_base", s->name);
	if (s->ops->conf_check != NULL &&
	    s->ops->conf_check(&s->conf, &err) == -1) {
		load_error(l, s->line, "[sink %s] %s", s->name, err);
		free(err);
	}
}

/* A secret not given in the file may be a systemd credential named after
 * the key (LoadCredential=token:/etc/...). */
static void
credentials(struct load *l)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	size_t i;

	if (dir == NULL)
		return;
	for (i = 0; i < nitems(server_keys); i++) {
		const struct server_key *k = &server_keys[i];
		char **field = (char **)((char *)l->cfg + k->off), *path, *err;

		if (k->type != K_SECRET || *field != NULL)
			continue;
		path = xasprintf("%s/%s", dir, k->name);
		if (access(path, F_OK) == 0) {
			if ((*field = read_secret(path, &err)) == NULL) {
				load_error(l, 0, "credential %s", err);
				free(err);
			}
		}
		free(path);
	}
}

static void
auth_error(void *arg, const char *msg)
{
	struct load *l = arg;

	load_error(l, 0, "%s", msg);
}

static void
finish(struct load *l)
{
	struct config *cfg = l->cfg;
	char *err = NULL;
	size_t i;

	for (i = 0; i < cfg->n_sinks; i++)
		finish_sink(l, &cfg->sinks[i]);
	if (cfg->source.present &&
	    source_redis_conf_check(&cfg->source.conf, &err) == -1) {
		load_error(l, cfg->source.line, "[source] %s", err);
		free(err);
	}
	if (cfg->n_sinks == 0)
		load_error(l, 0, "no [sink NAME] section: events would go "
		    "nowhere");
	if (cfg->max_body_total < cfg->max_body)
		load_error(l, 0, "[server] max_body_total: %llu is less than "
		    "max_body (%llu): no body that large could be received",
		    (unsigned long long)cfg->max_body_total,
		    (unsigned long long)cfg->max_body);
	if (cfg->path[0] != '/')
		load_error(l, 0, "[server] path: '%s' must start with /",
		    cfg->path);
	if (config_log_prio(cfg) < 0)
		load_error(l, 0, "[server] log_level: '%s' is not error, "
		    "warning, notice, info or debug", cfg->log_level);
	credentials(l);
	auth_config_check(cfg, auth_error, l);
}

struct config *
config_load(const char *file, char **err)
{
	struct config *def = config_default();
	struct load l;
	int rc;

	memset(&l, 0, sizeof l);
	l.cfg = def;
	l.file = file;
	/* The file replaces the default sink; it keeps the server defaults. */
	free(def->sinks[0].name);
	filter_destroy(&def->sinks[0].filter);
	def->sinks[0].ops->conf_free(def->sinks[0].conf);
	free(def->sinks);
	def->sinks = NULL;
	def->n_sinks = 0;
	def->file = xstrdup(file);
	if ((l.fp = fopen(file, "re")) == NULL) {
		*err = xasprintf("%s: %s", file, strerror(errno));
		config_free(def);
		return NULL;
	}
	rc = ini_parse_stream(reader, &l, on_key, &l);
	if (rc > 0 && l.n_errors == 0)
		load_error(&l, rc, "syntax error (expected key = value, "
		    "[section] or a comment)");
	else if (rc < 0)
		load_error(&l, 0, "cannot read the file");
	fclose(l.fp);
	finish(&l);
	free(l.section);
	if (l.n_errors > 0) {
		*err = l.errors;
		config_free(def);
		return NULL;
	}
	return def;
}

int
config_check(const struct config *cfg, char **err)
{
	char *why = NULL, *all = NULL, *tmp;
	size_t i;

	for (i = 0; i < cfg->n_sinks; i++) {
		const struct config_sink *s = &cfg->sinks[i];

		if (s->ops->probe == NULL || s->ops->probe(s->conf, &why) == 0)
			continue;
		tmp = xasprintf("%s%s%s:%d: [sink %s] %s", all ? all : "",
		    all ? "\n" : "", cfg->file ? cfg->file : "(default)",
		    s->line, s->name, why);
		free(all);
		free(why);
		all = tmp;
	}
	*err = all;
	return all == NULL ? 0 : -1;
}

char *
config_restart_keys(const struct config *a, const struct config *b)
{
	char *list = NULL, *tmp;

#define DIFF(f, name) do {						\
	if (a->f != b->f) {						\
		tmp = xasprintf("%s%s%s", list ? list : "",		\
		    list ? ", " : "", name);				\
		free(list);						\
		list = tmp;						\
	}								\
} while (0)
	if (strcmp(a->listen, b->listen) != 0)
		list = xstrdup("listen");
	DIFF(http_threads, "http_threads");
	DIFF(max_connections, "max_connections");
	DIFF(max_connections_per_ip, "max_connections_per_ip");
	DIFF(connection_timeout_ms, "connection_timeout");
	DIFF(request_timeout_ms, "request_timeout");
	DIFF(max_header_size, "max_header_size");
#undef DIFF
	return list;
}

int
config_keep_sink(struct config *cfg, const char *name)
{
	struct config_sink keep;
	size_t i, found = cfg->n_sinks;

	for (i = 0; i < cfg->n_sinks; i++)
		if (strcmp(cfg->sinks[i].name, name) == 0)
			found = i;
	if (found == cfg->n_sinks)
		return -1;
	keep = cfg->sinks[found];
	for (i = 0; i < cfg->n_sinks; i++) {
		struct config_sink *s = &cfg->sinks[i];

		if (i == found)
			continue;
		free(s->name);
		filter_destroy(&s->filter);
		if (s->ops != NULL && s->ops->conf_free != NULL)
			s->ops->conf_free(s->conf);
	}
	cfg->sinks[0] = keep;
	cfg->n_sinks = 1;
	return 0;
}

int
config_log_prio(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < nitems(log_levels); i++)
		if (strcmp(cfg->log_level, log_levels[i]) == 0)
			return log_prios[i];
	return -1;
}

static void
print_server(const struct config *cfg, FILE *out)
{
	char buf[64];
	size_t i;

	fputs("[server]\n", out);
	for (i = 0; i < nitems(server_keys); i++) {
		const struct server_key *k = &server_keys[i];
		const void *field = (const char *)cfg + k->off;

		switch (k->type) {
		case K_STR:
			if (*(char *const *)field != NULL)
				fprintf(out, "%s = %s\n", k->name,
				    *(char *const *)field);
			break;
		case K_SECRET:
			if (*(char *const *)field != NULL)
				fprintf(out, "%s = (set, not shown)\n",
				    k->name);
			break;
		case K_INT:
			fprintf(out, "%s = %lld\n", k->name,
			    *(const long long *)field);
			break;
		case K_SIZE:
			fprintf(out, "%s = %llu\n", k->name,
			    (unsigned long long)*(const uint64_t *)field);
			break;
		case K_DURATION:
			util_format_duration(*(const int64_t *)field, buf,
			    sizeof buf);
			fprintf(out, "%s = %s\n", k->name, buf);
			break;
		case K_BOOL:
			fprintf(out, "%s = %s\n", k->name,
			    *(const bool *)field ? "yes" : "no");
			break;
		}
	}
}

void
config_print(const struct config *cfg, FILE *out)
{
	char base[64], cap[64];
	size_t i;

	fprintf(out, "# effective configuration (%s)\n",
	    cfg->file ? cfg->file : "built-in default");
	print_server(cfg, out);
	if (cfg->source.present) {
		fputs("\n[source]\n", out);
		source_redis_conf_print(cfg->source.conf, out);
	}
	for (i = 0; i < cfg->n_sinks; i++) {
		const struct config_sink *s = &cfg->sinks[i];

		util_format_duration(s->retry_base_ms, base, sizeof base);
		util_format_duration(s->retry_cap_ms, cap, sizeof cap);
		fprintf(out, "\n[sink %s]\ntype = %s\nconcurrency = %lld\n"
		    "retries = %lld\nretry_base = %s\nretry_cap = %s\n",
		    s->name, s->ops->type, s->concurrency, s->retries, base,
		    cap);
		filter_print(&s->filter, out);
		if (s->ops->conf_print != NULL)
			s->ops->conf_print(s->conf, out);
	}
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < nitems(server_keys); i++) {
		char **field = (char **)((char *)cfg + server_keys[i].off);

		if (server_keys[i].type == K_SECRET && *field != NULL)
			explicit_bzero(*field, strlen(*field));
		if (server_keys[i].type == K_STR ||
		    server_keys[i].type == K_SECRET)
			free(*field);
	}
	for (i = 0; i < cfg->n_sinks; i++) {
		struct config_sink *s = &cfg->sinks[i];

		free(s->name);
		filter_destroy(&s->filter);
		if (s->ops != NULL && s->ops->conf_free != NULL)
			s->ops->conf_free(s->conf);
	}
	free(cfg->sinks);
	source_redis_conf_free(cfg->source.conf);
	free(cfg->file);
	free(cfg);
}
