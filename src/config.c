/* The configuration: the INI file read with inih into the key tables of
 * its sections (config_key.h), with messages that name the file, the line
 * and the key; what the sections say together; printing. */
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "netaddr.h"
#include "secret.h"
#include "util.h"

/* [source]'s keys are the Redis source's (source_redis.c), plugged in
 * here as a sink type's are in sink.c: the configuration does not depend
 * on the worker. */
extern const struct config_key_section source_redis_keys;

static const char *const log_levels[] = {
	"error", "warning", "notice", "info", "debug", NULL,
};
static const int log_prios[] = {
	LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG,
};

/* The [server] keys. */
#define OFF(f) offsetof(struct config, f)
const struct config_key config_server_keys[] = {
	{ .name = "listen", .type = CONFIG_KEY_STR, .off = OFF(listen),
	  .def = "127.0.0.1:8080" },
	{ .name = "path", .type = CONFIG_KEY_PATH, .off = OFF(path),
	  .def = "/webhook" },
	{ .name = "max_body", .type = CONFIG_KEY_SIZE, .off = OFF(max_body),
	  .min = 1, .max = 1LL << 31, .def = "1M" },
	{ .name = "max_body_total", .type = CONFIG_KEY_SIZE,
	  .off = OFF(max_body_total), .min = 1024, .max = 1LL << 40,
	  .def = "64M" },
	{ .name = "workers", .type = CONFIG_KEY_INT, .off = OFF(workers),
	  .min = 0, .max = 1024, .def = "0" },
	{ .name = "queue_size", .type = CONFIG_KEY_INT, .off = OFF(queue_size),
	  .min = 1, .max = 10000000, .def = "1024" },
	{ .name = "queue_bytes", .type = CONFIG_KEY_SIZE,
	  .off = OFF(queue_bytes), .min = 1024, .max = 1LL << 40,
	  .def = "64M" },
	{ .name = "http_threads", .type = CONFIG_KEY_INT,
	  .off = OFF(http_threads), .min = 1, .max = 64, .def = "2" },
	{ .name = "log_level", .type = CONFIG_KEY_ENUM, .off = OFF(log_level),
	  .choices = log_levels, .def = "info" },
	{ .name = "max_depth", .type = CONFIG_KEY_INT, .off = OFF(max_depth),
	  .min = 1, .max = 2048, .def = "64" },
	{ .name = "max_connections", .type = CONFIG_KEY_INT,
	  .off = OFF(max_connections), .min = 1, .max = 1000000,
	  .def = "1024" },
	{ .name = "max_connections_per_ip", .type = CONFIG_KEY_INT,
	  .off = OFF(max_connections_per_ip), .min = 0, .max = 1000000,
	  .def = "64" },
	{ .name = "connection_timeout", .type = CONFIG_KEY_DURATION,
	  .off = OFF(connection_timeout_ms), .min = 1000, .max = 86400000,
	  .def = "10s" },
	{ .name = "request_timeout", .type = CONFIG_KEY_DURATION,
	  .off = OFF(request_timeout_ms), .min = 1000, .max = 86400000,
	  .def = "30s" },
	{ .name = "max_header_size", .type = CONFIG_KEY_SIZE,
	  .off = OFF(max_header_size), .min = 4096, .max = 1 << 20,
	  .def = "32k" },
	{ .name = "shutdown_grace", .type = CONFIG_KEY_DURATION,
	  .off = OFF(shutdown_grace_ms), .min = 0, .max = 86400000,
	  .def = "10s" },
	{ .name = "token", .type = CONFIG_KEY_SECRET, .off = OFF(token) },
	{ .name = "signature_secret", .type = CONFIG_KEY_SECRET,
	  .off = OFF(signature_secret) },
	{ .name = "standard_webhooks_secret", .type = CONFIG_KEY_SECRET,
	  .off = OFF(standard_webhooks_secret) },
	{ .name = "signature_tolerance", .type = CONFIG_KEY_DURATION,
	  .off = OFF(signature_tolerance_ms), .min = 0, .max = 86400000,
	  .def = "5m" },
	{ .name = "dedupe_window", .type = CONFIG_KEY_DURATION,
	  .off = OFF(dedupe_window_ms), .min = 0, .max = 86400000,
	  .def = "10m" },
	{ .name = "allow_from", .type = CONFIG_KEY_STR,
	  .off = OFF(allow_from) },
	{ .name = "trusted_proxies", .type = CONFIG_KEY_STR,
	  .off = OFF(trusted_proxies) },
	{ .name = "admin_listen", .type = CONFIG_KEY_STR,
	  .off = OFF(admin_listen) },
	{ .name = "admin_token", .type = CONFIG_KEY_SECRET,
	  .off = OFF(admin_token) },
	{ .name = "spool_dir", .type = CONFIG_KEY_STR, .off = OFF(spool_dir) },
	{ .name = "durable", .type = CONFIG_KEY_BOOL, .off = OFF(durable),
	  .def = "yes" },
	/* The spool is the queue: these bound it, not queue_size. */
	{ .name = "spool_max", .type = CONFIG_KEY_SIZE, .off = OFF(spool_max),
	  .min = 1 << 20, .max = 1LL << 50, .def = "1G" },
	{ .name = "spool_min_free", .type = CONFIG_KEY_SIZE,
	  .off = OFF(spool_min_free), .min = 0, .max = 1LL << 50,
	  .def = "256M" },
	{ .name = NULL },
};
#undef OFF

/* The keys every sink has, whatever its type (its filters are filter.c's
 * and its type's keys the type's). */
#define OFF(f) offsetof(struct config_sink, f)
const struct config_key config_sink_keys[] = {
	{ .name = "concurrency", .type = CONFIG_KEY_INT,
	  .off = OFF(concurrency), .min = 1, .max = 1024, .def = "1" },
	{ .name = "retries", .type = CONFIG_KEY_INT, .off = OFF(retries),
	  .min = 0, .max = 1000, .def = "0" },
	/* At most a day: the backoff doubles it, and a bound keeps that sum
	 * far from overflowing. */
	{ .name = "retry_base", .type = CONFIG_KEY_DURATION,
	  .off = OFF(retry_base_ms), .min = 1, .max = 86400000, .def = "1s" },
	{ .name = "retry_cap", .type = CONFIG_KEY_DURATION,
	  .off = OFF(retry_cap_ms), .min = 1, .max = 86400000, .def = "5m" },
	{ .name = NULL },
};
#undef OFF

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
	bool		 seen[nitems(config_server_keys)];
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
	config_key_defaults(config_sink_keys, s);
	return s;
}

static void
sink_destroy(struct config_sink *s)
{
	free(s->name);
	filter_destroy(&s->filter);
	if (s->ops != NULL && s->ops->conf_free != NULL)
		s->ops->conf_free(s->conf);
}

/* [server] at its defaults, and no sink. */
static struct config *
config_new(void)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);

	config_key_defaults(config_server_keys, cfg);
	return cfg;
}

struct config *
config_default(void)
{
	struct config *cfg = config_new();
	struct config_sink *s;
	char *err = NULL;

	s = add_sink(cfg, "log", 0);
	s->ops = sink_find("log");
	filter_defaults(&s->filter, s->ops->incoming_only);
	if (s->ops->conf_check(&s->conf, &err) == -1)
		abort();	/* the log sink has no required key */
	return cfg;
}

static void
set_server(struct load *l, const char *key, const char *value)
{
	const struct config_key *k;
	char *err = NULL, *secret = NULL, *base = NULL;
	size_t n = strlen(key);

	/* token_file, signature_secret_file, ...: the secret from a file. */
	if (n > 5 && strcmp(key + n - 5, "_file") == 0)
		base = xstrndup(key, n - 5);
	k = config_key_find(config_server_keys, base ? base : key);
	if (k == NULL || (base != NULL && k->type != CONFIG_KEY_SECRET))
		load_error(l, l->line, "[server] unknown key '%s'", key);
	else if (l->seen[k - config_server_keys])
		load_error(l, l->line, "[server] %s: given twice", key);
	else {
		l->seen[k - config_server_keys] = true;
		if ((base != NULL &&
		    (secret = secret_read(value, &err)) == NULL) ||
		    config_key_set(k, l->cfg, secret ? secret : value,
		    &err) == -1)
			load_error(l, l->line, "[server] %s: %s", key, err);
	}
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
	free(secret);
	free(err);
	free(base);
}

/* The keys every sink has: its common ones and its filters. */
static int
set_sink_common(struct config_sink *s, const char *key, const char *value,
    char **err)
{
	const struct config_key *k = config_key_find(config_sink_keys, key);

	if (k != NULL)
		return config_key_set(k, s, value, err);
	return filter_set(&s->filter, key, value, err);
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
	int rc = config_key_section_set(&source_redis_keys, &l->cfg->source.conf,
	    key, value, &err);

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
	const struct config_key *k;
	char **field, *path, *err;

	if (dir == NULL)
		return;
	for (k = config_server_keys; k->name != NULL; k++) {
		field = config_key_field(k, l->cfg);
		if (k->type != CONFIG_KEY_SECRET || *field != NULL)
			continue;
		path = xasprintf("%s/%s", dir, k->name);
		if (access(path, F_OK) == 0 &&
		    (*field = secret_read(path, &err)) == NULL) {
			load_error(l, 0, "credential %s", err);
			free(err);
		}
		free(path);
	}
}

/* A CIDR list, parsed once here rather than per connection. */
static struct netaddr_list *
nets(struct load *l, const char *key, const char *text)
{
	struct netaddr_list *nl;
	char *err = NULL;

	if (text == NULL)
		return NULL;
	if ((nl = netaddr_list_parse(text, &err)) == NULL) {
		load_error(l, 0, "[server] %s: %s", key, err);
		free(err);
	}
	return nl;
}

/* What auth.c and http.c use per request, decoded once the secrets are
 * all in (credentials come last). */
static void
decode(struct load *l)
{
	struct config *cfg = l->cfg;

	cfg->allow_nets = nets(l, "allow_from", cfg->allow_from);
	cfg->proxy_nets = nets(l, "trusted_proxies", cfg->trusted_proxies);
	if (cfg->standard_webhooks_secret == NULL)
		return;
	cfg->webhooks_key = xmalloc(sizeof *cfg->webhooks_key);
	if (secret_whsec(cfg->standard_webhooks_secret,
	    cfg->webhooks_key) == -1)
		load_error(l, 0, "[server] standard_webhooks_secret: not whsec_ "
		    "followed by base64 of 1 to %d bytes", SECRET_KEY_MAX);
}

static void
finish(struct load *l)
{
	struct config *cfg = l->cfg;
	struct sockaddr_storage ss;
	char *err = NULL;
	unsigned sl;
	size_t i;

	for (i = 0; i < cfg->n_sinks; i++)
		finish_sink(l, &cfg->sinks[i]);
	if (cfg->source.present && config_key_section_check(&source_redis_keys,
	    &cfg->source.conf, &err) == -1) {
		load_error(l, cfg->source.line, "[source] %s", err);
		free(err);
	}
	if (cfg->n_sinks == 0)
		load_error(l, 0, "no [sink NAME] section: events would go "
		    "nowhere");
	if (netaddr_parse_listen(cfg->listen, &ss, &sl, &err) == -1) {
		load_error(l, 0, "[server] %s", err);
		free(err);
		err = NULL;
	}
	if (cfg->max_body_total < cfg->max_body)
		load_error(l, 0, "[server] max_body_total: %llu is less than "
		    "max_body (%llu): no body that large could be received",
		    (unsigned long long)cfg->max_body_total,
		    (unsigned long long)cfg->max_body);
	credentials(l);
	decode(l);
}

struct config *
config_load(const char *file, char **err)
{
	struct config *cfg = config_new();
	struct load l;
	int rc;

	memset(&l, 0, sizeof l);
	l.cfg = cfg;
	l.file = file;
	cfg->file = xstrdup(file);
	if ((l.fp = fopen(file, "re")) == NULL) {
		*err = xasprintf("%s: %s", file, strerror(errno));
		config_free(cfg);
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
		config_free(cfg);
		return NULL;
	}
	return cfg;
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
	if ((a->admin_listen == NULL) != (b->admin_listen == NULL) ||
	    (a->admin_listen != NULL && strcmp(a->admin_listen,
	    b->admin_listen) != 0)) {
		tmp = xasprintf("%s%sadmin_listen", list ? list : "",
		    list ? ", " : "");
		free(list);
		list = tmp;
	}
	/* Only the key's name is said: it is a secret. */
	if ((a->admin_token == NULL) != (b->admin_token == NULL) ||
	    (a->admin_token != NULL && strcmp(a->admin_token,
	    b->admin_token) != 0)) {
		tmp = xasprintf("%s%sadmin_token", list ? list : "",
		    list ? ", " : "");
		free(list);
		list = tmp;
	}
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

		if (i != found)
			sink_destroy(s);
	}
	cfg->sinks[0] = keep;
	cfg->n_sinks = 1;
	return 0;
}

int
config_log_prio(const struct config *cfg)
{
	if (cfg->log_level < 0 || (size_t)cfg->log_level >= nitems(log_prios))
		return -1;
	return log_prios[cfg->log_level];
}

void
config_print(const struct config *cfg, FILE *out)
{
	size_t i;

	fprintf(out, "# effective configuration (%s)\n[server]\n",
	    cfg->file ? cfg->file : "built-in default");
	config_key_print(config_server_keys, cfg, out);
	if (cfg->source.present) {
		fputs("\n[source]\n", out);
		config_key_section_print(&source_redis_keys, cfg->source.conf,
		    out);
	}
	for (i = 0; i < cfg->n_sinks; i++) {
		const struct config_sink *s = &cfg->sinks[i];

		fprintf(out, "\n[sink %s]\ntype = %s\n", s->name,
		    s->ops->type);
		config_key_print(config_sink_keys, s, out);
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
	config_key_free(config_server_keys, cfg);
	netaddr_list_free(cfg->allow_nets);
	netaddr_list_free(cfg->proxy_nets);
	if (cfg->webhooks_key != NULL)
		explicit_bzero(cfg->webhooks_key, sizeof *cfg->webhooks_key);
	free(cfg->webhooks_key);
	for (i = 0; i < cfg->n_sinks; i++)
		sink_destroy(&cfg->sinks[i]);
	free(cfg->sinks);
	config_key_section_free(&source_redis_keys, cfg->source.conf);
	free(cfg->file);
	free(cfg);
}
