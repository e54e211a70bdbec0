/* Redis connections: URLs, timeouts, AUTH, reconnection with backoff (see
 * redis.h). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "redis.h"
#include "secret.h"
#include "util.h"

#define BACKOFF_BASE_MS	100
#define BACKOFF_CAP_MS	2000

struct redis_conn {
	const struct redis_url	*url;
	int64_t			 timeout_ms;
	redisContext		*c;
	int			 fails;		/* connection attempts failed */
	unsigned		 generation;	/* connections made */
	int64_t			 next_try;	/* monotonic ms */
	char			 last_err[256];
};

/* Decodes %XX in [s, s+n) into a new string; NULL on a bad escape. */
static char *
pct_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
		    !isxdigit((unsigned char)s[i + 2]))
			goto bad;
		{
			char hex[3] = { s[i + 1], s[i + 2], '\0' };

			*o++ = (char)strtol(hex, NULL, 16);
		}
		i += 2;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* USER:PASSWORD or :PASSWORD, before the '@'. */
static int
parse_userinfo(const char *s, size_t n, struct redis_url *u, char **err)
{
	const char *colon = memchr(s, ':', n);

	if (colon == NULL) {
		*err = xstrdup("the part before '@' has no ':' (write the "
		    "password as redis://:PASSWORD@HOST, or USER:PASSWORD@)");
		return -1;
	}
	if (colon > s && (u->user = pct_decode(s, (size_t)(colon - s))) ==
	    NULL)
		goto bad;
	if ((u->password = pct_decode(colon + 1, n - (size_t)(colon - s) -
	    1)) == NULL)
		goto bad;
	if (u->password[0] == '\0') {
		free(u->password);
		u->password = NULL;
	}
	return 0;
bad:
	*err = xstrdup("a bad %-escape in the user or password");
	return -1;
}

static int
parse_db(const char *s, struct redis_url *u, char **err)
{
	if (util_parse_int(s, 0, 1000000, &u->db) == -1) {
		*err = xasprintf("database '%s' is not a number from 0", s);
		return -1;
	}
	return 0;
}

/* HOST[:PORT][/DB] after redis:// and the user part. */
static int
parse_tcp(const char *s, struct redis_url *u, char **err)
{
	const char *end = s + strcspn(s, "/"), *hend, *port = NULL;
	long long p;

	if (*s == '[') {
		if ((hend = memchr(s, ']', (size_t)(end - s))) == NULL) {
			*err = xstrdup("an IPv6 address without its ']'");
			return -1;
		}
		u->host = xstrndup(s + 1, (size_t)(hend - s - 1));
		hend++;
	} else {
		hend = memchr(s, ':', (size_t)(end - s));
		if (hend == NULL)
			hend = end;
		u->host = xstrndup(s, (size_t)(hend - s));
	}
	if (u->host[0] == '\0') {
		*err = xstrdup("no host");
		return -1;
	}
	if (hend < end) {
		if (*hend != ':') {
			*err = xstrdup("junk after the host");
			return -1;
		}
		port = hend + 1;
	}
	u->port = 6379;
	if (port != NULL) {
		char *ps = xstrndup(port, (size_t)(end - port));
		int rc = util_parse_int(ps, 1, 65535, &p);

		if (rc == -1)
			*err = xasprintf("port '%s' is not a number from 1 to "
			    "65535", ps);
		free(ps);
		if (rc == -1)
			return -1;
		u->port = (int)p;
	}
	if (*end == '/' && end[1] != '\0')
		return parse_db(end + 1, u, err);
	return 0;
}

/* /PATH[?db=DB] after unix: or unix:// and the user part. */
static int
parse_unix(const char *s, struct redis_url *u, char **err)
{
	const char *q = strchr(s, '?');

	if (*s != '/') {
		*err = xstrdup("a unix socket needs an absolute path "
		    "(unix:/run/redis/redis.sock)");
		return -1;
	}
	u->path = q ? xstrndup(s, (size_t)(q - s)) : xstrdup(s);
	if (q == NULL)
		return 0;
	if (strncmp(q, "?db=", 4) != 0) {
		*err = xasprintf("unknown option '%s' (only ?db=N)", q);
		return -1;
	}
	return parse_db(q + 4, u, err);
}

static void
make_display(struct redis_url *u)
{
	const char *user = u->user ? u->user : "";
	bool cred = u->user != NULL || u->password != NULL;

	if (u->path != NULL)
		u->display = xasprintf("unix://%s%s%s%s%s?db=%lld", user,
		    cred ? ":" : "", u->password ? "***" : "", cred ? "@" : "",
		    u->path, u->db);
	else
		u->display = xasprintf("redis://%s%s%s%s%s%s%s:%d/%lld", user,
		    cred ? ":" : "", u->password ? "***" : "", cred ? "@" : "",
		    strchr(u->host, ':') ? "[" : "", u->host,
		    strchr(u->host, ':') ? "]" : "", u->port, u->db);
}

int
redis_url_parse(const char *text, struct redis_url *u, char **err)
{
	const char *rest, *at, *slash;
	bool is_unix = false;

	memset(u, 0, sizeof *u);
	if (strncmp(text, "redis://", 8) == 0)
		rest = text + 8;
	else if (strncmp(text, "unix://", 7) == 0) {
		rest = text + 7;
		is_unix = true;
	} else if (strncmp(text, "unix:", 5) == 0) {
		rest = text + 5;
		is_unix = true;
	} else if (strncmp(text, "rediss://", 9) == 0) {
		*err = xstrdup("rediss:// (TLS) is not supported by this "
		    "build: use redis:// on a private network, a unix socket, "
		    "or a TLS tunnel");
		return -1;
	} else {
		*err = xstrdup("not a Redis URL (redis://[:PASSWORD@]HOST"
		    "[:PORT][/DB] or unix:/PATH)");
		return -1;
	}
	/* The user part ends at the last '@' before the path: a password
	 * may hold '@' (better written %40). */
	slash = is_unix ? strstr(rest, "@/") : rest + strcspn(rest, "/");
	if (is_unix)
		at = slash;
	else {
		at = NULL;
		for (const char *p = rest; p < slash; p++)
			if (*p == '@')
				at = p;
	}
	if (at != NULL) {
		if (parse_userinfo(rest, (size_t)(at - rest), u, err) == -1)
			goto fail;
		rest = at + 1;
	}
	if ((is_unix ? parse_unix(rest, u, err) : parse_tcp(rest, u, err)) ==
	    -1)
		goto fail;
	if (u->user != NULL && u->password == NULL) {
		*err = xstrdup("a user without a password");
		goto fail;
	}
	make_display(u);
	return 0;
fail:
	redis_url_free(u);
	return -1;
}

int
redis_url_password_file(struct redis_url *u, const char *name, char **err)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	char *path, *line;

	/* A bare name is a systemd credential (LoadCredential=NAME:...). */
	if (name[0] == '/')
		path = xstrdup(name);
	else if (creds != NULL)
		path = xasprintf("%s/%s", creds, name);
	else {
		*err = xasprintf("password_file '%s' is not an absolute path, "
		    "and no systemd credentials are passed "
		    "($CREDENTIALS_DIRECTORY is not set)", name);
		return -1;
	}
	line = secret_read(path, err);
	free(path);
	if (line == NULL)
		return -1;
	if (u->password != NULL) {
		explicit_bzero(u->password, strlen(u->password));
		free(u->password);
	}
	u->password = line;
	free(u->display);
	make_display(u);
	return 0;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void
redis_url_copy(struct redis_url *dst, const struct redis_url *src)
{
	dst->host = dup_or_null(src->host);
	dst->port = src->port;
	dst->path = dup_or_null(src->path);
	dst->user = dup_or_null(src->user);
	dst->password = dup_or_null(src->password);
	dst->db = src->db;
	dst->display = dup_or_null(src->display);
}

void
redis_url_free(struct redis_url *u)
{
	if (u == NULL)
		return;
	if (u->password != NULL)
		explicit_bzero(u->password, strlen(u->password));
	free(u->host);
	free(u->path);
	free(u->user);
	free(u->password);
	free(u->display);
	memset(u, 0, sizeof *u);
}

/* --- connections --- */

struct redis_conn *
redis_conn_new(const struct redis_url *url, int64_t timeout_ms)
{
	struct redis_conn *rc = xcalloc(1, sizeof *rc);

	rc->url = url;
	rc->timeout_ms = timeout_ms;
	return rc;
}

void
redis_conn_free(struct redis_conn *rc)
{
	if (rc == NULL)
		return;
	redis_conn_drop(rc);
	free(rc);
}

void
redis_conn_drop(struct redis_conn *rc)
{
	if (rc->c != NULL)
		redisFree(rc->c);
	rc->c = NULL;
}

const char *
redis_reply_text(const redisReply *r)
{
	if (r == NULL)
		return "no reply";
	switch (r->type) {
	case REDIS_REPLY_ERROR:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_STRING:
		return r->str;
	case REDIS_REPLY_NIL:
		return "nil reply";
	case REDIS_REPLY_ARRAY:
		return "array reply";
	case REDIS_REPLY_INTEGER:
		return "integer reply";
	}
	return "unknown reply";
}

/* Runs AUTH or SELECT while connecting; -1 with err. */
static int
setup_command(struct redis_conn *rc, int argc, const char **argv,
    const char *what, char *err, size_t len)
{
	redisReply *r = redisCommandArgv(rc->c, argc, argv, NULL);

	if (r == NULL) {
		snprintf(err, len, "%s: %s: %s", rc->url->display, what,
		    rc->c->errstr);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, len, "%s: %s: %s", rc->url->display, what,
		    r->str);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

static int
do_connect(struct redis_conn *rc, char *err, size_t len)
{
	const struct redis_url *u = rc->url;
	struct timeval tv = { (time_t)(rc->timeout_ms / 1000),
	    (suseconds_t)(rc->timeout_ms % 1000) * 1000 };
	char db[24];

	rc->c = u->path ? redisConnectUnixWithTimeout(u->path, tv) :
	    redisConnectWithTimeout(u->host, u->port, tv);
	if (rc->c == NULL) {
		snprintf(err, len, "%s: cannot allocate a connection",
		    u->display);
		return -1;
	}
	if (rc->c->err) {
		snprintf(err, len, "%s: connect: %s", u->display,
		    rc->c->errstr);
		goto fail;
	}
	if (redisSetTimeout(rc->c, tv) != REDIS_OK) {
		snprintf(err, len, "%s: set timeout: %s", u->display,
		    rc->c->errstr);
		goto fail;
	}
	if (u->path == NULL && redisEnableKeepAlive(rc->c) != REDIS_OK) {
		snprintf(err, len, "%s: keepalive: %s", u->display,
		    rc->c->errstr);
		goto fail;
	}
	if (u->password != NULL) {
		const char *av[3] = { "AUTH", u->user ? u->user : u->password,
		    u->password };

		if (setup_command(rc, u->user ? 3 : 2, av, "AUTH", err, len)
		    == -1)
			goto fail;
	}
	if (u->db != 0) {
		const char *av[2] = { "SELECT", db };

		snprintf(db, sizeof db, "%lld", u->db);
		if (setup_command(rc, 2, av, "SELECT", err, len) == -1)
			goto fail;
	}
	return 0;
fail:
	redis_conn_drop(rc);
	return -1;
}

int
redis_conn_ready(struct redis_conn *rc, char *err, size_t len)
{
	int64_t now, ms;
	int i;

	if (rc->c != NULL)
		return 0;
	now = util_mono_msec();
	if (rc->fails > 0 && now < rc->next_try) {
		snprintf(err, len, "%s (next connection attempt in %lldms)",
		    rc->last_err, (long long)(rc->next_try - now));
		return -1;
	}
	if (do_connect(rc, err, len) == -1) {
		snprintf(rc->last_err, sizeof rc->last_err, "%s", err);
		for (i = 0, ms = BACKOFF_BASE_MS; i < rc->fails &&
		    ms < BACKOFF_CAP_MS; i++)
			ms *= 2;
		rc->fails++;
		rc->next_try = now + (ms < BACKOFF_CAP_MS ? ms :
		    BACKOFF_CAP_MS);
		return -1;
	}
	rc->fails = 0;
	rc->generation++;
	return 1;
}

int64_t
redis_conn_wait_ms(const struct redis_conn *rc)
{
	int64_t d;

	if (rc->c != NULL || rc->fails == 0)
		return 0;
	d = rc->next_try - util_mono_msec();
	return d > 0 ? d : 0;
}

unsigned
redis_conn_generation(const struct redis_conn *rc)
{
	return rc->generation;
}

/* The connection broke: say why, and drop it. */
static void
broke(struct redis_conn *rc, const char *what, char *err, size_t len)
{
	snprintf(err, len, "%s: %s: %s", rc->url->display, what,
	    rc->c->err ? rc->c->errstr : "connection lost");
	redis_conn_drop(rc);
}

/* Whether a command failed because the server had closed the connection
 * while it was idle (a Redis restart): the command almost surely never
 * ran, so one more try on a new connection spares a failed delivery; at
 * worst an entry is written twice, which at-least-once allows. */
static bool
stale(const redisContext *c)
{
	return c->err == REDIS_ERR_EOF || (c->err == REDIS_ERR_IO &&
	    (errno == EPIPE || errno == ECONNRESET));
}

redisReply *
redis_conn_command(struct redis_conn *rc, int argc, const char **argv,
    const size_t *lens, char *err, size_t len)
{
	redisReply *r;
	int was;

	if ((was = redis_conn_ready(rc, err, len)) == -1)
		return NULL;
	if ((r = redisCommandArgv(rc->c, argc, argv, lens)) != NULL)
		return r;
	if (was == 0 && stale(rc->c)) {
		redis_conn_drop(rc);
		if (redis_conn_ready(rc, err, len) == -1)
			return NULL;
		if ((r = redisCommandArgv(rc->c, argc, argv, lens)) != NULL)
			return r;
	}
	broke(rc, argv[0], err, len);
	return NULL;
}

int
redis_conn_append(struct redis_conn *rc, int argc, const char **argv,
    const size_t *lens, char *err, size_t len)
{
	if (rc->c == NULL) {
		snprintf(err, len, "%s: not connected", rc->url->display);
		return -1;
	}
	if (redisAppendCommandArgv(rc->c, argc, argv, lens) != REDIS_OK) {
		broke(rc, argv[0], err, len);
		return -1;
	}
	return 0;
}

redisReply *
redis_conn_reply(struct redis_conn *rc, char *err, size_t len)
{
	void *r = NULL;

	if (rc->c == NULL) {
		snprintf(err, len, "%s: not connected", rc->url->display);
		return NULL;
	}
	if (redisGetReply(rc->c, &r) != REDIS_OK || r == NULL) {
		if (rc->c != NULL)
			broke(rc, "reply", err, len);
		return NULL;
	}
	return r;
}

/* --- argument vectors --- */

void
redis_argv_add(struct redis_argv *a, const char *s, size_t len)
{
	if (a->argc == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->argv = xreallocarray(a->argv, (size_t)a->cap,
		    sizeof *a->argv);
		a->lens = xreallocarray(a->lens, (size_t)a->cap,
		    sizeof *a->lens);
	}
	a->argv[a->argc] = s;
	a->lens[a->argc] = len;
	a->argc++;
}

void
redis_argv_str(struct redis_argv *a, const char *s)
{
	redis_argv_add(a, s, strlen(s));
}

static void
own(struct redis_argv *a, char *s, size_t len)
{
	a->owned = xreallocarray(a->owned, (size_t)a->n_owned + 1,
	    sizeof *a->owned);
	a->owned[a->n_owned++] = s;
	redis_argv_add(a, s, len);
}

void
redis_argv_dup(struct redis_argv *a, const char *s, size_t len)
{
	char *copy = xmalloc(len + 1);

	memcpy(copy, s, len);
	copy[len] = '\0';
	own(a, copy, len);
}

void
redis_argv_fmt(struct redis_argv *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	own(a, s, strlen(s));
}

void
redis_argv_free(struct redis_argv *a)
{
	int i;

	for (i = 0; i < a->n_owned; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->argv);
	free(a->lens);
	memset(a, 0, sizeof *a);
}
