/* Credentials: the API key and secret from a file, the environment or systemd. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "send/send.h"

#define CRED_FILE	"livedesk-api"	/* name under $CREDENTIALS_DIRECTORY */
#define CRED_MAX	4096

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
credentials_clear(struct credentials *c)
{
	wipe_free(c->key);
	wipe_free(c->secret);
	c->key = c->secret = NULL;
}

/* A key or secret: not empty, no control characters, and a key has no ':'. */
static int
check_part(const char *s, const char *what, bool is_key, const char *src,
    char *err, size_t errlen)
{
	const unsigned char *p;

	if (*s == '\0') {
		snprintf(err, errlen, "%s: the API %s is empty", src, what);
		return -1;
	}
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "%s: the API %s holds a control "
			    "character", src, what);
			return -1;
		}
		if (is_key && *p == ':') {
			snprintf(err, errlen, "%s: the API key holds a ':'",
			    src);
			return -1;
		}
	}
	return 0;
}

static int
set_pair(struct credentials *c, const char *key, size_t klen,
    const char *secret, const char *src, char *err, size_t errlen)
{
	c->key = strndup(key, klen);
	c->secret = strdup(secret);
	if (c->key == NULL || c->secret == NULL) {
		snprintf(err, errlen, "%s: out of memory", src);
		goto fail;
	}
	if (check_part(c->key, "key", true, src, err, errlen) == -1 ||
	    check_part(c->secret, "secret", false, src, err, errlen) == -1)
		goto fail;
	return 0;
fail:
	credentials_clear(c);
	return -1;
}

/*
 * Parses "KEY:SECRET" on one line, or KEY and SECRET on two lines; trailing
 * white space and line ends (LF or CRLF) are dropped.
 */
static int
parse_text(struct credentials *c, char *text, const char *src, char *err,
    size_t errlen)
{
	size_t n = strlen(text);
	char *nl, *colon, *second;

	while (n > 0 && strchr(" \t\r\n", text[n - 1]) != NULL)
		text[--n] = '\0';
	nl = strchr(text, '\n');
	if (nl != NULL) {
		second = nl + 1;
		if (nl > text && nl[-1] == '\r')
			nl--;
		if (strchr(second, '\n') != NULL) {
			snprintf(err, errlen, "%s: expected KEY:SECRET on one "
			    "line or KEY and SECRET on two lines", src);
			return -1;
		}
		return set_pair(c, text, (size_t)(nl - text), second, src,
		    err, errlen);
	}
	colon = strchr(text, ':');
	if (colon == NULL) {
		snprintf(err, errlen, "%s: expected KEY:SECRET on one line or "
		    "KEY and SECRET on two lines", src);
		return -1;
	}
	return set_pair(c, text, (size_t)(colon - text), colon + 1, src, err,
	    errlen);
}

/* Reads path into c; a missing file is ENOENT in *missing when not NULL. */
static int
load_file(struct credentials *c, const char *path, bool *missing, char *err,
    size_t errlen)
{
	char buf[CRED_MAX + 1];
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		if (missing != NULL && errno == ENOENT) {
			*missing = true;
			return -1;
		}
		snprintf(err, errlen, "read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "read %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "read %s: not a regular file", path);
		goto fail;
	}
	while (n < sizeof buf - 1) {
		r = read(fd, buf + n, sizeof buf - 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errlen, "read %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n == sizeof buf - 1) {
		snprintf(err, errlen, "read %s: larger than %d bytes", path,
		    CRED_MAX);
		goto fail;
	}
	close(fd);
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		snprintf(err, errlen, "%s: holds a NUL byte", path);
		explicit_bzero(buf, sizeof buf);
		return -1;
	}
	rc = parse_text(c, buf, path, err, errlen);
	explicit_bzero(buf, sizeof buf);
	return rc;
fail:
	close(fd);
	explicit_bzero(buf, sizeof buf);
	return -1;
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

int
credentials_load(struct credentials *c, const char *file, char *err,
    size_t errlen)
{
	const char *key, *secret, *dir;
	char path[4096];
	bool missing = false;
	int n;

	c->key = c->secret = NULL;
	if (file != NULL)
		return load_file(c, file, NULL, err, errlen);

	key = env("LIVEDESK_API_KEY");
	secret = env("LIVEDESK_API_SECRET");
	if (key != NULL && secret != NULL)
		return set_pair(c, key, strlen(key), secret, "environment",
		    err, errlen);
	if (key != NULL || secret != NULL) {
		snprintf(err, errlen, "%s is set but %s is not",
		    key != NULL ? "LIVEDESK_API_KEY" : "LIVEDESK_API_SECRET",
		    key != NULL ? "LIVEDESK_API_SECRET" : "LIVEDESK_API_KEY");
		return -1;
	}

	dir = env("CREDENTIALS_DIRECTORY");
	if (dir == NULL) {
		snprintf(err, errlen, "no API credentials: set LIVEDESK_API_KEY "
		    "and LIVEDESK_API_SECRET, give --credentials FILE, or load "
		    "the systemd credential %s", CRED_FILE);
		return -1;
	}
	n = snprintf(path, sizeof path, "%s/%s", dir, CRED_FILE);
	if (n < 0 || (size_t)n >= sizeof path) {
		snprintf(err, errlen, "CREDENTIALS_DIRECTORY is too long");
		return -1;
	}
	if (load_file(c, path, &missing, err, errlen) == 0)
		return 0;
	if (missing)
		snprintf(err, errlen, "no API credentials: set LIVEDESK_API_KEY "
		    "and LIVEDESK_API_SECRET, give --credentials FILE, or put "
		    "%s in $CREDENTIALS_DIRECTORY (%s)", CRED_FILE, dir);
	return -1;
}
