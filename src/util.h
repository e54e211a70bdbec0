/* Small helpers every module uses: allocation that cannot silently fail,
 * clocks, durations and sizes as written in the configuration, ids. */
#ifndef UTIL_H
#define UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* Abort with a message when memory runs out: the daemon cannot do anything
 * useful without it, and systemd's Restart= brings it back. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
char	*xvasprintf(const char *, va_list) __attribute__((format(printf, 1, 0)));

int64_t	 util_now_usec(void);		/* wall clock, for timestamps */
int64_t	 util_mono_msec(void);		/* monotonic, for timeouts */
int64_t	 util_mono_usec(void);		/* monotonic, for durations */
struct timespec;
/* ms from now on the monotonic clock, for pthread_cond_timedwait on a
 * condition variable set to CLOCK_MONOTONIC. */
void	 util_deadline(struct timespec *, int64_t ms);

/* "500ms", "30s", "5m", "1h", "2d" (a bare number is seconds) into
 * milliseconds. Returns -1 on a bad value. */
int	 util_parse_duration(const char *, int64_t *msec);
/* "1048576", "64k", "1M", "2G" into bytes. Returns -1 on a bad value. */
int	 util_parse_size(const char *, uint64_t *bytes);
/* A decimal integer in [min, max]. Returns -1 on a bad value. */
int	 util_parse_int(const char *, long long min, long long max,
	    long long *out);
/* "yes"/"no"/"true"/"false"/"on"/"off"/"1"/"0". Returns -1 otherwise. */
int	 util_parse_bool(const char *, bool *out);
/* Formats milliseconds back as the shortest exact duration string. */
void	 util_format_duration(int64_t msec, char *buf, size_t len);

/* A new unique delivery id (UUIDv7: time-ordered, 36 characters). */
void	 util_delivery_id(char buf[40]);

/*
 * Copies s into a new string, escaping control characters, backslash and
 * invalid UTF-8 as \n, \t, \xNN, so that text from a request can never
 * forge or split a log line. At most max bytes of input are used (0: all);
 * a cut is marked with "...".
 */
char	*util_escape(const char *s, size_t max);
/* The same into out (cap bytes, at least 1), NUL-terminated, stopping
 * before an escaped character that would not fit whole, with room kept
 * for the "..." that marks the cut (when cap is at least 4). Returns the
 * length written. */
size_t	 util_escape_into(char *out, size_t cap, const char *s, size_t max);

/* The largest length <= n that does not cut a UTF-8 sequence of s, which
 * is at least n bytes long. */
size_t	 util_utf8_cut(const char *s, size_t n);
/* The length of s[0..n) without a sequence cut short at its end (judged
 * by its lead byte). Unlike util_utf8_cut, it reads nothing past s[n-1]. */
size_t	 util_utf8_whole(const char *s, size_t n);

/* Reads a whole regular file into a new buffer (NUL-terminated). Returns
 * NULL with errno set, having logged nothing. */
char	*util_read_file(const char *path, size_t *len);
/* Frees n strings and the array that holds them. */
void	 util_strv_free(char **, size_t n);

/* Writes all of buf, retrying on EINTR and short writes. */
int	 util_write_all(int fd, const void *buf, size_t len);

/* "SIGKILL" for 9, in buf; "unknown" for a number with no name. */
const char *util_signal_name(int sig, char *buf, size_t len);

#endif
