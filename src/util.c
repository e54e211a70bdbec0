/* Small helpers every module uses (see util.h). */
#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void
oom(size_t n)
{
	fprintf(stderr, "livedesk-webhookd: out of memory (%zu bytes)\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom(n * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *np = realloc(p, n ? n : 1);

	if (np == NULL)
		oom(n);
	return np;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		oom(SIZE_MAX);
	return xrealloc(p, n * size);
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		oom(strlen(s));
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		oom(n);
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		oom(0);
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

/* What a clock says, in microseconds. */
static int64_t
clock_usec(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
util_now_usec(void)
{
	return clock_usec(CLOCK_REALTIME);
}

int64_t
util_mono_msec(void)
{
	return clock_usec(CLOCK_MONOTONIC) / 1000;
}

int64_t
util_mono_usec(void)
{
	return clock_usec(CLOCK_MONOTONIC);
}

void
util_deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int
util_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Splits "30s" into 30 and "s"; the number must be a whole number. */
static int
split_unit(const char *s, uint64_t *num, const char **unit)
{
	char *end;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*num = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	*unit = end;
	return 0;
}

/* A whole number and a unit from the table, as that many of its
 * multiples; at most max. */
struct unit {
	const char	*name;
	uint64_t	 mult;
};

static int
parse_units(const char *s, const struct unit *units, size_t n_units,
    uint64_t max, uint64_t *out)
{
	const char *unit;
	uint64_t n;
	size_t i;

	if (split_unit(s, &n, &unit) == -1)
		return -1;
	for (i = 0; i < n_units; i++) {
		if (strcmp(unit, units[i].name) != 0)
			continue;
		if (n > max / units[i].mult)
			return -1;
		*out = n * units[i].mult;
		return 0;
	}
	return -1;
}

int
util_parse_duration(const char *s, int64_t *msec)
{
	static const struct unit units[] = {
		{ "ms", 1 }, { "", 1000 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	uint64_t v;

	if (parse_units(s, units, nitems(units), INT64_MAX, &v) == -1)
		return -1;
	*msec = (int64_t)v;
	return 0;
}

int
util_parse_size(const char *s, uint64_t *bytes)
{
	static const struct unit units[] = {
		{ "", 1 }, { "k", 1024 }, { "K", 1024 }, { "M", 1024 * 1024 },
		{ "G", 1024ULL * 1024 * 1024 },
	};

	return parse_units(s, units, nitems(units), UINT64_MAX, bytes);
}

int
util_parse_bool(const char *s, bool *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < nitems(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

void
util_format_duration(int64_t msec, char *buf, size_t len)
{
	if (msec != 0 && msec % 3600000 == 0)
		snprintf(buf, len, "%" PRId64 "h", msec / 3600000);
	else if (msec != 0 && msec % 60000 == 0)
		snprintf(buf, len, "%" PRId64 "m", msec / 60000);
	else if (msec % 1000 == 0)
		snprintf(buf, len, "%" PRId64 "s", msec / 1000);
	else
		snprintf(buf, len, "%" PRId64 "ms", msec);
}

void
util_delivery_id(char buf[40])
{
	/* Random bytes for this thread's next ids: one getrandom call for
	 * 24 ids rather than one for each request. Each thread has its
	 * own; nothing else reads them. */
	static _Thread_local struct {
		uint8_t	 b[240];
		size_t	 used;
	} pool = { .used = 240 };
	uint8_t b[16];
	uint64_t ms = (uint64_t)(util_now_usec() / 1000);
	size_t got = 0;
	ssize_t r;

	while (pool.used == sizeof pool.b) {
		r = getrandom(pool.b + got, sizeof pool.b - got, 0);
		if (r > 0)
			got += (size_t)r;
		else if (errno != EINTR)
			break;	/* cannot happen on Linux >= 3.17 */
		if (got == sizeof pool.b)
			pool.used = 0;
	}
	if (pool.used < sizeof pool.b) {
		memcpy(b + 6, pool.b + pool.used, 10);
		pool.used += 10;
	} else
		memset(b + 6, 0, 10);
	b[0] = (uint8_t)(ms >> 40); b[1] = (uint8_t)(ms >> 32);
	b[2] = (uint8_t)(ms >> 24); b[3] = (uint8_t)(ms >> 16);
	b[4] = (uint8_t)(ms >> 8);  b[5] = (uint8_t)ms;
	b[6] = (uint8_t)(0x70 | (b[6] & 0x0f));
	b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
	snprintf(buf, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2; cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3; cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4; cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	/* C1 controls and the line/paragraph separators split lines too. */
	if (cp < 0xa0 || cp == 0x2028 || cp == 0x2029)
		return 0;
	return len;
}

char *
util_escape(const char *s, size_t max)
{
	size_t n = strlen(s), cap;
	char *out;

	if (max != 0 && n > max)
		n = max;
	/* Room for the worst case: every byte as \xNN, then "...". */
	cap = n * 4 + 4;
	out = xmalloc(cap);
	util_escape_into(out, cap, s, max);
	return out;
}

size_t
util_escape_into(char *out, size_t cap, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), o = 0, l, w;
	bool cut = false;
	char esc[5];

	if (max != 0 && n > max) {
		n = util_utf8_cut(s, max);
		cut = true;
	}
	while (n > 0) {
		const char *src = esc;

		if (*p == '\\' || *p == '\n' || *p == '\t' || *p == '\r') {
			esc[0] = '\\';
			esc[1] = *p == '\\' ? '\\' : *p == '\n' ? 'n' :
			    *p == '\t' ? 't' : 'r';
			w = 2;
			l = 1;
		} else if (*p >= 0x20 && *p < 0x7f) {
			src = (const char *)p;
			w = l = 1;
		} else if (*p >= 0x80 && (l = utf8_len(p, n)) > 0) {
			src = (const char *)p;
			w = l;
		} else {
			w = (size_t)snprintf(esc, sizeof esc, "\\x%02x", *p);
			l = 1;
		}
		/* Room kept for the mark while more is to come. */
		if (o + w >= cap || (n > l && o + w + 3 >= cap)) {
			cut = true;
			break;
		}
		memcpy(out + o, src, w);
		o += w;
		p += l;
		n -= l;
	}
	if (cut && o + 3 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return o;
}

char *
util_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;
	int saved;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 65536 + 1) {
			cap = cap ? cap * 2 : 65536 * 2;
			buf = xrealloc(buf, cap);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		saved = errno ? errno : EIO;
		fclose(f);
		free(buf);
		errno = saved;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

void
util_strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

size_t
util_utf8_cut(const char *s, size_t n)
{
	size_t back = 0;

	/* Step back over continuation bytes, at most a sequence's length. */
	while (n > 0 && back < 4 && ((unsigned char)s[n] & 0xc0) == 0x80) {
		n--;
		back++;
	}
	return n;
}

size_t
util_utf8_whole(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = n, k, need;

	for (k = 0; k < 4 && i > 0; k++) {
		i--;
		if ((p[i] & 0xc0) == 0x80)
			continue;
		need = p[i] < 0xc0 ? 1 : p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ?
		    3 : 2;
		return n - i >= need ? n : i;
	}
	return n;
}

const char *
util_signal_name(int sig, char *buf, size_t len)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev == NULL)
		return "unknown";
	snprintf(buf, len, "SIG%s", abbrev);
	return buf;
}
