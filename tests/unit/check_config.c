/* The configuration file: defaults, every error message (file, line, key),
 * --check-config (the binary, run once; it serves nothing), and every
 * key of every table: a good and a bad value, printed, documented. The
 * filter matrix: unit/check_filter.c; reload on the running daemon:
 * e2e/check_reload.c. */
#include <sys/stat.h>

#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "config_key.h"
#include "filter.h"
#include "netaddr.h"
#include "secret.h"
#include "testutil.h"
#include "util.h"

/* Loads text as a file; returns the config or NULL with *err. */
static struct config *
load(const char *text, char **err, char **path)
{
	char *dir = tu_tmpdir();
	struct config *cfg;

	ck_assert_int_ge(asprintf(path, "%s/t.conf", dir), 0);
	tu_write_file(*path, text, strlen(text));
	*err = NULL;
	cfg = config_load(*path, err);
	unlink(*path);
	rmdir(dir);
	free(dir);
	return cfg;
}

/* The load fails and the error has want (after "FILE:"). */
static void
load_fails(const char *text, const char *want)
{
	char *err, *path, *full;
	struct config *cfg = load(text, &err, &path);

	ck_assert_msg(cfg == NULL, "loaded, expected error %s", want);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_ge(asprintf(&full, "%s:%s", path, want), 0);
	ck_assert_msg(strstr(err, full) != NULL, "error '%s' lacks '%s'", err,
	    full);
	free(full);
	free(err);
	free(path);
}

START_TEST(defaults)
{
	struct config *cfg = config_default();

	ck_assert_str_eq(cfg->listen, "127.0.0.1:8080");
	ck_assert_str_eq(cfg->path, "/webhook");
	ck_assert_uint_eq(cfg->max_body, 1024 * 1024);
	ck_assert_uint_eq(cfg->n_sinks, 1);
	ck_assert_str_eq(cfg->sinks[0].ops->type, "log");
	ck_assert_int_eq(cfg->shutdown_grace_ms, 10000);
	config_free(cfg);
	config_free(NULL);
}
END_TEST

START_TEST(full_file)
{
	const char *text =
	    "; comment\n# comment\n[server]\nlisten = [::1]:9000\n"
	    "path = /hooks\nmax_body = 64k\nworkers = 3\nqueue_size = 10\n"
	    "[sink archive]\ntype = file\npath = /tmp/x.jsonl\nfsync = yes\n"
	    "events = message_created, conversation_created\n"
	    "inbox = 523 524\nretries = 2\nretry_base = 500ms\n"
	    "retry_cap = 5m\n"
	    "[sink log]\ntype = log\nformat = json\nmax_content = 20\n";
	char *err, *path;
	struct config *cfg = load(text, &err, &path);

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->listen, "[::1]:9000");
	ck_assert_str_eq(cfg->path, "/hooks");
	ck_assert_uint_eq(cfg->max_body, 65536);
	ck_assert_int_eq(cfg->workers, 3);
	ck_assert_int_eq(cfg->queue_size, 10);
	ck_assert_uint_eq(cfg->n_sinks, 2);
	ck_assert_str_eq(cfg->sinks[0].name, "archive");
	ck_assert_int_eq(cfg->sinks[0].retries, 2);
	ck_assert_int_eq(cfg->sinks[0].retry_base_ms, 500);
	ck_assert_int_eq(cfg->sinks[0].retry_cap_ms, 300000);
	ck_assert_uint_eq(cfg->sinks[0].filter.n_events, 2);
	ck_assert_uint_eq(cfg->sinks[0].filter.n_inboxes, 2);
	ck_assert_int_eq(cfg->sinks[0].filter.inboxes[1], 524);
	ck_assert_str_eq(cfg->sinks[1].ops->type, "log");
	config_free(cfg);
	free(path);
}
END_TEST

START_TEST(errors_name_file_line_key)
{
	load_fails("[server]\nlisten = x:1\nbogus = 1\n",
	    "3: [server] unknown key 'bogus'");
	load_fails("[srv]\nlisten = 1\n", "1: unknown section [srv]");
	load_fails("[server]\nmax_body = lots\n", "2: [server] max_body: "
	    "'lots' is not a whole number");
	load_fails("[server]\nworkers = -1\n", "2: [server] workers:");
	load_fails("[server]\npath = a\npath = b\n", "3: [server] path: "
	    "given twice");
	load_fails("[sink a]\ntype = nope\n", "2: [sink a] type: unknown "
	    "sink type 'nope'");
	load_fails("\n\n[sink a]\npath = /x\ntype = file\n", "4: [sink a] "
	    "path: 'type' must come first");
	load_fails("[sink a]\n", "1: [sink a]: missing required key 'type'");
	load_fails("[sink a]\ntype = file\n", "1: [sink a] missing required "
	    "key 'path'");
	load_fails("[sink a]\ntype = log\nformat = xml\n", "3: [sink a] "
	    "format: 'xml' is not text or json");
	load_fails("[sink a]\ntype = log\ncolour = red\n", "3: [sink a] "
	    "unknown key 'colour' for type log");
	load_fails("[sink a]\ntype = log\nmessage_type = sideways\n",
	    "3: [sink a] message_type: 'sideways'");
	load_fails("[sink a]\ntype = log\nprivate = maybe\n", "3: [sink a] "
	    "private: 'maybe' is not yes, no or any");
	load_fails("[sink a]\ntype = log\nmatch = (unclosed\n", "3: [sink a] "
	    "match: bad regular expression");
	load_fails("[sink a]\ntype = log\ninbox = abc\n", "3: [sink a] inbox:"
	    " 'abc' is not an inbox id");
	load_fails("[sink a]\ntype = log\nretry_base = 5 parsecs\n",
	    "3: [sink a] retry_base: '5 parsecs' is not a duration");
	load_fails("[sink a]\ntype = log\n[sink a]\ntype = log\n",
	    "3: [sink a]: a sink of that name is already defined at line 1");
	load_fails("[server]\nlisten = x\n", " no [sink NAME] section");
	load_fails("[sink a]\ntype = log\nconcurrency = 0\n", "3: [sink a] "
	    "concurrency:");
	load_fails("[server]\ntoken_file = /nonexistent/x\n[sink a]\n"
	    "type = log\n", "2: [server] token_file: open /nonexistent/x");
	load_fails("[server]\nthis is not ini\n", "2: syntax error");
	load_fails("[sink *]\ntype = log\n", "1: [sink *]: a sink name is 1 "
	    "to 64 letters");
	load_fails("[sink a b]\ntype = log\n", "1: [sink a b]: a sink name");
	load_fails("[sink a]\ntype = log\nretry_cap = 100000000d\n",
	    "3: [sink a] retry_cap: '100000000d' is not a duration between");
	load_fails("[server]\ntoken_file = /dev/zero\n[sink a]\ntype = log\n",
	    "2: [server] token_file: /dev/zero is not a regular file");
	/* A FIFO with no writer: refused, where opening it blocked. */
	{
		char *d = tu_tmpdir(), *fifo, *text, *want;

		ck_assert_int_ge(asprintf(&fifo, "%s/fifo", d), 0);
		ck_assert_int_eq(mkfifo(fifo, 0600), 0);
		ck_assert_int_ge(asprintf(&text, "[server]\ntoken_file = %s\n"
		    "[sink a]\ntype = log\n", fifo), 0);
		ck_assert_int_ge(asprintf(&want, "2: [server] token_file: %s is "
		    "not a regular file", fifo), 0);
		load_fails(text, want);
		free(want);
		free(text);
		free(fifo);
		tu_rmtree(d);
		free(d);
	}
}
END_TEST

START_TEST(every_error_at_once)
{
	char *err, *path;
	struct config *cfg = load("[server]\nbogus = 1\n[x]\n[sink a]\n"
	    "type = log\nformat = xml\n", &err, &path);

	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(err, ":2: "));
	ck_assert_ptr_nonnull(strstr(err, ":3: "));
	ck_assert_ptr_nonnull(strstr(err, ":6: "));
	free(err);
	free(path);
}
END_TEST

/* listen is checked at load: a port past 65535 (which getaddrinfo
 * would take modulo 65536) or none at all is an error, not a surprise at
 * start. */
START_TEST(listen_checked_at_load)
{
	static const char *const bad[] = {
		"127.0.0.1:99999", "127.0.0.1", "[::1", "127.0.0.1:-1",
		"127.0.0.1:http",
	};
	char text[200];
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "[server]\nlisten = %s\n"
		    "[sink a]\ntype = log\n", bad[i]);
		load_fails(text, " [server] listen '");
	}
}
END_TEST

START_TEST(missing_file)
{
	char *err = NULL;

	ck_assert_ptr_null(config_load("/nonexistent/livedesk.conf", &err));
	ck_assert_str_eq(err, "/nonexistent/livedesk.conf: No such file or "
	    "directory");
	free(err);
}
END_TEST

START_TEST(secret_from_file_never_printed)
{
	char *dir = tu_tmpdir(), *secret, *conf, *cmd, *out;
	int rc;

	ck_assert_int_ge(asprintf(&secret, "%s/token", dir), 0);
	ck_assert_int_ge(asprintf(&conf, "%s/t.conf", dir), 0);
	tu_write_file(secret, "s3cr3t-token\n", 13);
	ck_assert_int_ge(asprintf(&cmd, "[server]\ntoken_file = %s\n"
	    "[sink l]\ntype = log\n", secret), 0);
	tu_write_file(conf, cmd, strlen(cmd));
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s "
	    "--check-config > %s/out 2>&1", tu_build_dir(), conf, dir), 0);
	rc = system(cmd);
	ck_assert_int_eq(WEXITSTATUS(rc), 0);
	free(cmd);
	ck_assert_int_ge(asprintf(&cmd, "%s/out", dir), 0);
	out = tu_read_file(cmd, NULL);
	ck_assert_ptr_null(strstr(out, "s3cr3t"));
	ck_assert_ptr_nonnull(strstr(out, "token = (set, not shown)"));
	free(out);
	free(cmd);
	free(secret);
	free(conf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* --check-config prints the effective configuration and exits 0 or 1. */
START_TEST(check_config_option)
{
	char *dir = tu_tmpdir(), *conf, *cmd, *outp, *out;
	const char *good = "[server]\nlisten = 127.0.0.1:9999\n"
	    "[sink f]\ntype = file\npath = /tmp/ld-check.jsonl\n";

	ck_assert_int_ge(asprintf(&conf, "%s/t.conf", dir), 0);
	ck_assert_int_ge(asprintf(&outp, "%s/out", dir), 0);
	tu_write_file(conf, good, strlen(good));
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s -p /cli "
	    "--check-config > %s 2>&1", tu_build_dir(), conf, outp), 0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 0);
	free(cmd);
	out = tu_read_file(outp, NULL);
	ck_assert_ptr_nonnull(strstr(out, "listen = 127.0.0.1:9999\n"));
	ck_assert_ptr_nonnull(strstr(out, "path = /cli\n"));	/* CLI wins */
	ck_assert_ptr_nonnull(strstr(out, "[sink f]\ntype = file\n"));
	ck_assert_ptr_nonnull(strstr(out, "message_type = any\n"));
	free(out);

	tu_write_file(conf, "[sink f]\ntype = nope\n", 21);
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s "
	    "--check-config > %s 2>&1", tu_build_dir(), conf, outp), 0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
	free(cmd);
	out = tu_read_file(outp, NULL);
	ck_assert_ptr_nonnull(strstr(out, "t.conf:2: [sink f] type: unknown"));
	free(out);

	/* The daemon itself refuses to start on a bad file. */
	ck_assert_int_ge(asprintf(&cmd, "%s/livedesk-webhookd -c %s -l "
	    "127.0.0.1:1 > %s 2>&1", tu_build_dir(), conf, outp), 0);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
	free(cmd);
	free(conf);
	free(outp);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* ---- every key of every table ---- */

/* [source]'s table, as config.c sees it. */
extern const struct config_key_section source_redis_keys;

/* 32 bytes of key: base64 of "0123456789abcdef0123456789abcdef". */
#define WH_SECRET "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

/* A table, and the file around one of its keys: its section's header
 * and required keys before it, what the file needs besides after it. */
struct table {
	const char		*section;	/* as messages name it */
	const struct config_key	*keys;
	char			*head;
	const char		*tail;
};

/* A file whose first line is a password, for password_file. */
static char *password_file;

/* The keys whose values no type describes: a good one, and a bad one
 * with what its error says. */
static const struct {
	const char *key, *good, *bad, *why;
} own_values[] = {
	{ "url", "redis://:pw@h:6380/1", "http://x", "not a Redis URL" },
	{ "command", "/bin/true", "/bin/echo a | wc", "unquoted '|'" },
	{ "env", "A=b", "NOEQUALS", "'NOEQUALS' is not KEY=VALUE" },
	{ "stream", "s", "a b", "'a b' has spaces or control characters" },
	{ "group", "g", "a b", "'a b' has spaces or control characters" },
	{ "consumer", "c", "a\tb", "'a\tb' has spaces or control characters" },
	{ "dead_letters", "d", "", "a name of 1 to 200 characters is "
	    "needed" },
};

/* Text keys checked once the file is read: values that pass. */
static const char *
text_good(const struct config_key *k)
{
	if (strcmp(k->name, "allow_from") == 0)
		return "127.0.0.1, ::1";
	if (strcmp(k->name, "trusted_proxies") == 0)
		return "10.0.0.0/8";
	if (strcmp(k->name, "standard_webhooks_secret") == 0)
		return WH_SECRET;
	if (strcmp(k->name, "password_file") == 0)
		return password_file;
	return NULL;
}

static size_t
own_index(const struct config_key *k)
{
	size_t i;

	for (i = 0; i < nitems(own_values); i++)
		if (strcmp(own_values[i].key, k->name) == 0)
			return i;
	ck_abort_msg("key '%s' reads its own values: give it a good and a "
	    "bad value in own_values", k->name);
	return 0;
}

/* A valid value of the key. */
static char *
good_value(const struct config_key *k)
{
	const char *t = text_good(k);

	if (t != NULL)
		return strdup(t);
	if (k->type == CONFIG_KEY_OWN)
		return strdup(own_values[own_index(k)].good);
	if (k->def != NULL && k->type != CONFIG_KEY_ENUM &&
	    k->type != CONFIG_KEY_BOOL)
		return strdup(k->def);
	switch (k->type) {
	case CONFIG_KEY_STR:
		return strdup("x");
	case CONFIG_KEY_SECRET:
		return strdup("s3cr3t-value");
	case CONFIG_KEY_PATH:
		return strdup("/tmp/x");
	case CONFIG_KEY_INT:
	case CONFIG_KEY_SIZE:
		return xasprintf("%" PRIu64, k->min);
	case CONFIG_KEY_DURATION:
		return xasprintf("%" PRIu64 "ms", k->max);
	case CONFIG_KEY_BOOL:
		/* Not the default, to see it change. */
		return strdup(k->def != NULL && strcmp(k->def, "yes") == 0 ?
		    "no" : "yes");
	case CONFIG_KEY_ENUM:
		return strdup(k->choices[1] ? k->choices[1] : k->choices[0]);
	case CONFIG_KEY_OWN:
		break;
	}
	return NULL;
}

static void
tables(struct table *t, size_t *n)
{
	const struct config_key *k;
	char *head, *v, *tmp;
	size_t i;

	*n = 0;
	t[(*n)++] = (struct table){ "[server]", config_server_keys,
	    strdup("[server]\n"), "[sink t]\ntype = log\n" };
	t[(*n)++] = (struct table){ "[sink t]", config_sink_keys,
	    strdup("[sink t]\ntype = log\n"), "" };
	t[(*n)++] = (struct table){ "[source]", source_redis_keys.keys,
	    strdup("[source]\n"), "[sink t]\ntype = log\n" };
	for (i = 0; sink_types[i] != NULL; i++) {
		ck_assert_msg(sink_types[i]->keys != NULL, "sink type %s has "
		    "no table of keys", sink_types[i]->type);
		head = xasprintf("[sink t]\ntype = %s\n", sink_types[i]->type);
		for (k = sink_types[i]->keys->keys; k->name != NULL; k++) {
			if (!k->required)
				continue;
			v = good_value(k);
			tmp = xasprintf("%s%s = %s\n", head, k->name, v);
			free(head);
			free(v);
			head = tmp;
		}
		t[(*n)++] = (struct table){ "[sink t]",
		    sink_types[i]->keys->keys, head, "" };
	}
}

static void
tables_free(struct table *t, size_t n)
{
	while (n-- > 0)
		free(t[n].head);
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* Loads "KEY = value" in its section: NULL, or the printed configuration
 * (malloc'd) when it loads. */
static char *
load_key(const struct table *t, const struct config_key *k,
    const char *value, char **err)
{
	char *text = xasprintf("%s%s = %s\n%s", t->head, k->name, value,
	    t->tail), *path, *out = NULL;
	struct config *cfg = load(text, err, &path);
	size_t len = 0;
	FILE *f;

	if (cfg != NULL) {
		f = open_memstream(&out, &len);
		config_print(cfg, f);
		fclose(f);
		config_free(cfg);
	}
	free(text);
	free(path);
	return out;
}

/* The value is refused, on its line, with why. */
static void
refused(const struct table *t, const struct config_key *k,
    const char *value, const char *why)
{
	char *err = NULL, *out = load_key(t, k, value, &err), *want;

	ck_assert_msg(out == NULL, "%s %s = '%s' loaded", t->section,
	    k->name, value);
	want = xasprintf(":%zu: %s %s: %s", count_lines(t->head) + 1,
	    t->section, k->name, why);
	ck_assert_msg(strstr(err, want) != NULL, "%s %s = '%s': got '%s', "
	    "want '%s'", t->section, k->name, value, err, want);
	free(want);
	free(err);
}

/* The value loads, and is printed back (a secret as set, not shown). */
static void
taken(const struct table *t, const struct config_key *k, const char *value)
{
	char *err = NULL, *out = load_key(t, k, value, &err), *want;

	ck_assert_msg(out != NULL, "%s %s = '%s': %s", t->section, k->name,
	    value, err);
	if (k->type == CONFIG_KEY_SECRET)
		want = xasprintf("\n%s = (set, not shown)\n", k->name);
	else
		want = xasprintf("\n%s = ", k->name);
	ck_assert_msg(strstr(out, want) != NULL, "%s %s is not printed:\n%s",
	    t->section, k->name, out);
	if (k->type == CONFIG_KEY_SECRET)
		ck_assert_ptr_null(strstr(out, value));
	free(want);
	free(out);
}

/* An end of the key's range is the key's to take: if the file is refused,
 * it is for something else (retry_cap shorter than retry_base). */
static void
in_range(const struct table *t, const struct config_key *k, const char *value)
{
	char *err = NULL, *out = load_key(t, k, value, &err), *not;

	not = xasprintf(":%zu: %s %s:", count_lines(t->head) + 1, t->section,
	    k->name);
	ck_assert_msg(out != NULL || strstr(err, not) == NULL, "%s %s = '%s' "
	    "is in its range but refused: %s", t->section, k->name, value,
	    err);
	free(not);
	free(out);
	free(err);
}

/* Each type's one wording: a value of the wrong form, or out of range. */
static void
bad_values(const struct table *t, const struct config_key *k)
{
	char *v, *why, *list, *tmp;
	size_t i;

	switch (k->type) {
	case CONFIG_KEY_OWN:
		i = own_index(k);
		refused(t, k, own_values[i].bad, own_values[i].why);
		return;
	case CONFIG_KEY_STR:
	case CONFIG_KEY_SECRET:
		refused(t, k, "", "empty value");
		return;
	case CONFIG_KEY_PATH:
		refused(t, k, "rel/ative", "'rel/ative' is not an absolute "
		    "path");
		return;
	case CONFIG_KEY_INT:
		refused(t, k, "lots", "'lots' is not a number from ");
		v = xasprintf("%" PRIu64, k->max + 1);
		why = xasprintf("'%s' is not a number from %" PRIu64 " to %"
		    PRIu64, v, k->min, k->max);
		refused(t, k, v, why);
		free(v);
		free(why);
		if (k->min > 0) {
			v = xasprintf("%" PRIu64, k->min - 1);
			why = xasprintf("'%s' is not a number from", v);
			refused(t, k, v, why);
			free(v);
			free(why);
		}
		return;
	case CONFIG_KEY_SIZE:
		refused(t, k, "lots", "'lots' is not a whole number, and is "
		    "not a size, from ");
		if (k->max < UINT64_MAX) {
			v = xasprintf("%" PRIu64, k->max + 1);
			why = xasprintf("'%s' is not a whole number, and is not a "
			    "size, from ", v);
			refused(t, k, v, why);
			free(v);
			free(why);
		}
		return;
	case CONFIG_KEY_DURATION:
		refused(t, k, "soon", "'soon' is not a duration between ");
		v = xasprintf("%" PRIu64 "ms", k->max + 1);
		why = xasprintf("'%s' is not a duration between ", v);
		refused(t, k, v, why);
		free(v);
		free(why);
		return;
	case CONFIG_KEY_BOOL:
		refused(t, k, "maybe", "'maybe' is not yes or no");
		return;
	case CONFIG_KEY_ENUM:
		list = strdup(k->choices[0]);
		for (i = 1; k->choices[i] != NULL; i++) {
			tmp = xasprintf("%s%s%s", list, k->choices[i + 1] ?
			    ", " : " or ", k->choices[i]);
			free(list);
			list = tmp;
		}
		why = xasprintf("'bogus' is not %s", list);
		refused(t, k, "bogus", why);
		free(why);
		free(list);
		return;
	}
}

static void
keys_setup(void)
{
	char *dir = tu_tmpdir();

	password_file = xasprintf("%s/redis-pw", dir);
	tu_write_file(password_file, "pw\n", 3);
	free(dir);
}

static void
keys_teardown(void)
{
	char *dir = strdup(password_file);

	*strrchr(dir, '/') = '\0';
	tu_rmtree(dir);
	free(dir);
	free(password_file);
}

/* Every key of every table: a good value loads and is printed, a bad one
 * is refused on its line with its type's one wording. */
START_TEST(every_key_good_and_bad)
{
	struct table t[16];
	const struct config_key *k;
	size_t n, i;
	char *v;

	tables(t, &n);
	for (i = 0; i < n; i++)
		for (k = t[i].keys; k->name != NULL; k++) {
			v = good_value(k);
			taken(&t[i], k, v);
			free(v);
			if (k->type == CONFIG_KEY_INT ||
			    k->type == CONFIG_KEY_SIZE ||
			    k->type == CONFIG_KEY_DURATION) {
				v = xasprintf("%" PRIu64 "%s", k->min,
				    k->type == CONFIG_KEY_DURATION ? "ms" : "");
				in_range(&t[i], k, v);
				free(v);
				v = xasprintf("%" PRIu64 "%s", k->max,
				    k->type == CONFIG_KEY_DURATION ? "ms" : "");
				in_range(&t[i], k, v);
				free(v);
			}
			bad_values(&t[i], k);
		}
	tables_free(t, n);
}
END_TEST

/* A default is written as --check-config prints it, and a section left
 * empty prints every default. */
START_TEST(defaults_as_printed)
{
	struct table t[16];
	const struct config_key *k;
	char *text, *path, *err, *out = NULL, *want;
	struct config *cfg;
	size_t n, i, len = 0;
	FILE *f;

	tables(t, &n);
	for (i = 0; i < n; i++) {
		text = xasprintf("%s%s", t[i].head, t[i].tail);
		cfg = load(text, &err, &path);
		ck_assert_msg(cfg != NULL, "%s", err);
		f = open_memstream(&out, &len);
		config_print(cfg, f);
		fclose(f);
		for (k = t[i].keys; k->name != NULL; k++) {
			if (k->def == NULL || k->required)
				continue;
			want = xasprintf("\n%s = %s\n", k->name, k->def);
			ck_assert_msg(strstr(out, want) != NULL, "%s %s: the "
			    "default '%s' is not printed as written:\n%s",
			    t[i].section, k->name, k->def, out);
			free(want);
		}
		free(out);
		out = NULL;
		config_free(cfg);
		free(text);
		free(path);
	}
	tables_free(t, n);
}
END_TEST

/* Whether the man page documents key as a tagged paragraph. */
static bool
man_has(const char *page, const char *key)
{
	char *a = xasprintf("\n.TP\n.BR %s \" = \"", key);
	bool yes = strstr(page, a) != NULL;

	free(a);
	return yes;
}

/* Every key of a table set at once: --check-config prints each, what it
 * prints loads back to the same, and each key is in the man page and in
 * the example file. */
START_TEST(every_key_printed_and_documented)
{
	char *page = tu_read_file("man/livedesk-webhookd.conf.5", NULL);
	char *example = tu_read_file("conf/livedesk-webhookd.conf", NULL);
	char *dir = tu_tmpdir(), *conf = xasprintf("%s/t.conf", dir);
	char *outp = xasprintf("%s/out", dir), *text, *tmp, *v, *out, *cmd;
	char *again, *want, *want2, *err, *path;
	const struct config_key *k;
	struct config *cfg;
	struct table t[16];
	size_t n, i, len;
	bool secrets;
	FILE *f;

	tables(t, &n);
	for (i = 0; i < n; i++) {
		text = strdup(t[i].head);
		secrets = false;
		for (k = t[i].keys; k->name != NULL; k++) {
			v = good_value(k);
			tmp = xasprintf("%s%s = %s\n", text, k->name, v);
			free(text);
			free(v);
			text = tmp;
			secrets = secrets || k->type == CONFIG_KEY_SECRET;
			ck_assert_msg(man_has(page, k->name), "%s %s is not in "
			    "livedesk-webhookd.conf(5)", t[i].section, k->name);
			/* A secret is there as its _file. */
			want = xasprintf("\n%s%s = ", k->name,
			    k->type == CONFIG_KEY_SECRET ? "_file" : "");
			want2 = xasprintf("\n#%s", want + 1);
			ck_assert_msg(strstr(example, want) != NULL ||
			    strstr(example, want2) != NULL, "%s %s is not in "
			    "conf/livedesk-webhookd.conf", t[i].section,
			    k->name);
			free(want);
			free(want2);
		}
		tmp = xasprintf("%s%s", text, t[i].tail);
		free(text);
		text = tmp;
		tu_write_file(conf, text, strlen(text));
		/* Redis need not run: the sink's probe may fail. */
		cmd = xasprintf("%s/livedesk-webhookd -c %s --check-config > %s "
		    "2>/dev/null", tu_build_dir(), conf, outp);
		(void)system(cmd);
		free(cmd);
		out = tu_read_file(outp, NULL);
		for (k = t[i].keys; k->name != NULL; k++) {
			want = xasprintf("\n%s = ", k->name);
			ck_assert_msg(strstr(out, want) != NULL, "%s %s is not "
			    "printed by --check-config:\n%s", t[i].section,
			    k->name, out);
			free(want);
		}
		/* What it prints is a file of its own (but for the secrets,
		 * which it does not show). */
		if (!secrets) {
			cfg = load(out, &err, &path);
			ck_assert_msg(cfg != NULL, "%s printed:\n%s\nloads as "
			    "%s", t[i].section, out, err);
			again = NULL;
			f = open_memstream(&again, &len);
			config_print(cfg, f);
			fclose(f);
			ck_assert_ptr_nonnull(strchr(again, '\n'));
			ck_assert_str_eq(strchr(again, '\n'),
			    strchr(out, '\n'));
			free(again);
			free(path);
			config_free(cfg);
		}
		free(out);
		free(text);
	}
	tables_free(t, n);
	free(conf);
	free(outp);
	tu_rmtree(dir);
	free(dir);
	free(page);
	free(example);
}
END_TEST

/* The CIDR lists and the Standard Webhooks key are decoded when the file
 * loads, not per request; the built-in default has none. */
START_TEST(decoded_once_at_load)
{
	char *err, *path;
	struct config *cfg = load("[server]\nallow_from = 192.0.2.0/24, ::1\n"
	    "trusted_proxies = 10.0.0.0/8\nstandard_webhooks_secret = "
	    WH_SECRET "\n[sink t]\ntype = log\n", &err, &path);
	struct netaddr a;

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(netaddr_parse(&a, "192.0.2.9", 9), 0);
	ck_assert(netaddr_list_has(cfg->allow_nets, &a));
	ck_assert(!netaddr_list_has(cfg->proxy_nets, &a));
	ck_assert_int_eq(netaddr_parse(&a, "10.1.2.3", 8), 0);
	ck_assert(!netaddr_list_has(cfg->allow_nets, &a));
	ck_assert(netaddr_list_has(cfg->proxy_nets, &a));
	ck_assert_ptr_nonnull(cfg->webhooks_key);
	ck_assert_uint_eq(cfg->webhooks_key->len, 32);
	ck_assert_int_eq(memcmp(cfg->webhooks_key->b,
	    "0123456789abcdef0123456789abcdef", 32), 0);
	config_free(cfg);
	free(path);

	cfg = config_default();
	ck_assert_ptr_null(cfg->allow_nets);
	ck_assert_ptr_null(cfg->proxy_nets);
	ck_assert_ptr_null(cfg->webhooks_key);
	ck_assert(!netaddr_list_has(cfg->allow_nets, &a));
	config_free(cfg);

	load_fails("[server]\nstandard_webhooks_secret = whsec_!!\n"
	    "[sink t]\ntype = log\n", " [server] standard_webhooks_secret: not "
	    "whsec_ followed by base64 of 1 to 128 bytes");
	load_fails("[server]\ntrusted_proxies = 10.0.0.1/8\n[sink t]\n"
	    "type = log\n", " [server] trusted_proxies: '10.0.0.1/8' has bits "
	    "set past its prefix length");
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, full_file);
	tcase_add_test(tc, errors_name_file_line_key);
	tcase_add_test(tc, every_error_at_once);
	tcase_add_test(tc, listen_checked_at_load);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, secret_from_file_never_printed);
	tcase_add_test(tc, check_config_option);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, keys_setup, keys_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, every_key_good_and_bad);
	tcase_add_test(tc, defaults_as_printed);
	tcase_add_test(tc, every_key_printed_and_documented);
	tcase_add_test(tc, decoded_once_at_load);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
