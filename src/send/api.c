/* API transport: libcurl with Basic auth, bounded time and bounded retries. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "send/send.h"

#ifndef LD_VERSION
#define LD_VERSION "0"
#endif

#define REPLY_MAX	(8L * 1024 * 1024)	/* a message is a few KiB */

struct api {
	struct api_options	 opt;
	CURL			*curl;
	CURLU			*base;		/* scheme, host, port */
	char			*base_path;	/* without trailing '/' */
	char			 errbuf[CURL_ERROR_SIZE];
};

struct reply_buf {
	char	*buf;
	size_t	 len;
	size_t	 cap;
	bool	 too_big;
};

/* Tells the caller's notice function about a retry or a warning. */
static void
notice(const struct api *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
notice(const struct api *a, const char *fmt, ...)
{
	char msg[SEND_ERRLEN];
	va_list ap;

	if (a->opt.notice == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	a->opt.notice(msg);
}

/* Parses and checks the base URL: http or https, no query, no fragment. */
static int
parse_base(struct api *a, char *err, size_t errlen)
{
	char *scheme = NULL, *path = NULL, *query = NULL, *frag = NULL;
	char *host = NULL;
	size_t n;
	int rc = -1;

	if ((a->base = curl_url()) == NULL)
		goto oom;
	if (curl_url_set(a->base, CURLUPART_URL, a->opt.base_url, 0) !=
	    CURLUE_OK) {
		snprintf(err, errlen, "API URL \"%s\" is not a URL",
		    a->opt.base_url);
		goto fail;
	}
	if (curl_url_get(a->base, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(a->base, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(a->base, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto oom;
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(err, errlen, "API URL \"%s\": only http and https",
		    a->opt.base_url);
		goto fail;
	}
	if (curl_url_get(a->base, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	    curl_url_get(a->base, CURLUPART_FRAGMENT, &frag, 0) ==
	    CURLUE_OK) {
		snprintf(err, errlen, "API URL \"%s\": no query or fragment, "
		    "please", a->opt.base_url);
		goto fail;
	}
	if (strcmp(scheme, "http") == 0 && strcmp(host, "127.0.0.1") != 0 &&
	    strcmp(host, "localhost") != 0 && strcmp(host, "[::1]") != 0)
		notice(a, "warning: API URL %s is plain http: the credentials "
		    "travel unencrypted", a->opt.base_url);
	n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		path[--n] = '\0';
	if ((a->base_path = strdup(path)) == NULL)
		goto oom;
	rc = 0;
	goto fail;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
	curl_free(query);
	curl_free(frag);
	return rc;
}

/* libcurl's write callback: the reply body, bounded by REPLY_MAX. */
static size_t
collect(char *p, size_t size, size_t nmemb, void *arg)
{
	struct reply_buf *s = arg;
	size_t add = size * nmemb;
	char *nb;

	if (add > (size_t)REPLY_MAX - s->len) {
		s->too_big = true;
		return 0;
	}
	if (s->len + add + 1 > s->cap) {
		size_t cap = (s->len + add + 1) * 2;

		if ((nb = realloc(s->buf, cap)) == NULL)
			return 0;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

struct api *
api_new(const struct api_options *opt, char *err, size_t errlen)
{
	struct api *a = calloc(1, sizeof *a);
	CURL *c;

	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->opt = *opt;
	if (parse_base(a, err, errlen) == -1)
		goto fail;
	if ((c = a->curl = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "cannot start libcurl");
		goto fail;
	}
	if (curl_easy_setopt(c, CURLOPT_ERRORBUFFER, a->errbuf) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT,
	    SEND_PROG "/" LD_VERSION) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERNAME, opt->key) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PASSWORD, opt->secret) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, opt->timeout_ms) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    opt->connect_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect) != CURLE_OK) {
		snprintf(err, errlen, "libcurl lacks an option this program "
		    "needs");
		goto fail;
	}
	return a;
fail:
	api_free(a);
	return NULL;
}

void
api_free(struct api *a)
{
	if (a == NULL)
		return;
	if (a->curl != NULL)
		curl_easy_cleanup(a->curl);
	curl_url_cleanup(a->base);
	free(a->base_path);
	free(a);
}

CURL *
api_curl(struct api *a)
{
	return a->curl;
}

char *
api_url(struct api *a, const char *conversation_id, const char *message_id,
    char *err, size_t errlen)
{
	char *conv = NULL, *msg = NULL, *path = NULL, *url = NULL;
	CURLU *u = NULL;
	int n;

	/* Ids are digits already; escaping keeps it so whatever comes. */
	if ((conv = curl_easy_escape(a->curl, conversation_id, 0)) == NULL)
		goto oom;
	if (message_id != NULL &&
	    (msg = curl_easy_escape(a->curl, message_id, 0)) == NULL)
		goto oom;
	if (msg != NULL)
		n = asprintf(&path, "%s/api/v2/accounts/conversations/%s/"
		    "messages/%s/retry", a->base_path, conv, msg);
	else
		n = asprintf(&path, "%s/api/v2/accounts/conversations/%s/"
		    "messages", a->base_path, conv);
	if (n == -1) {
		path = NULL;
		goto oom;
	}
	if ((u = curl_url_dup(a->base)) == NULL ||
	    curl_url_set(u, CURLUPART_PATH, path, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
		goto oom;
	goto done;
oom:
	snprintf(err, errlen, "out of memory");
done:
	curl_free(conv);
	curl_free(msg);
	free(path);
	curl_url_cleanup(u);
	/* curl_free is free for URLs from curl_url_get; hand out a malloc'd copy. */
	if (url != NULL) {
		char *copy = strdup(url);

		curl_free(url);
		if (copy == NULL)
			snprintf(err, errlen, "out of memory");
		return copy;
	}
	return NULL;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Whether nothing reached the server, so that trying again is safe. */
static bool
not_sent(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	    rc == CURLE_COULDNT_RESOLVE_PROXY;
}

/* The wait before retry number n (from 1): backoff, or Retry-After. */
static long
retry_wait(const struct api *a, int n, curl_off_t retry_after)
{
	long wait = a->opt.retry_delay_ms, ra;
	int i;

	for (i = 1; i < n && wait < a->opt.max_wait_ms; i++)
		wait *= 2;
	if (wait > a->opt.max_wait_ms)
		wait = a->opt.max_wait_ms;
	if (retry_after > 0) {
		ra = retry_after > a->opt.max_wait_ms / 1000 ?
		    a->opt.max_wait_ms : (long)retry_after * 1000;
		if (ra > wait)
			wait = ra;
	}
	return wait;
}

int
api_post(struct api *a, const char *url, const char *json, curl_mime *mime,
    struct api_reply *r, char *err, size_t errlen)
{
	struct curl_slist *hl = NULL, *nl;
	struct reply_buf s = { 0 };
	curl_off_t retry_after;
	CURLcode rc;
	long wait;
	int attempt;

	memset(r, 0, sizeof *r);
	/* No "Expect: 100-continue" wait; the API speaks JSON. */
	if ((nl = curl_slist_append(hl, "Expect:")) == NULL)
		goto oom;
	hl = nl;
	if ((nl = curl_slist_append(hl, "Accept: application/json")) == NULL)
		goto oom;
	hl = nl;
	if (json != NULL) {
		if ((nl = curl_slist_append(hl,
		    "Content-Type: application/json")) == NULL)
			goto oom;
		hl = nl;
	}
	if (curl_easy_setopt(a->curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, hl) != CURLE_OK ||
	    curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &s) != CURLE_OK)
		goto oom;
	if (json != NULL) {
		if (curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, json) !=
		    CURLE_OK || curl_easy_setopt(a->curl,
		    CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json)) !=
		    CURLE_OK)
			goto oom;
	} else if (curl_easy_setopt(a->curl, CURLOPT_MIMEPOST, mime) !=
	    CURLE_OK)
		goto oom;

	for (attempt = 0;; attempt++) {
		s.len = 0;
		s.too_big = false;
		a->errbuf[0] = '\0';
		rc = curl_easy_perform(a->curl);
		if (rc != CURLE_OK) {
			if (not_sent(rc) && attempt < a->opt.retries) {
				wait = retry_wait(a, attempt + 1, 0);
				notice(a, "%s: %s; retry %d of %d in %ld ms",
				    url, curl_easy_strerror(rc), attempt + 1,
				    a->opt.retries, wait);
				sleep_ms(wait);
				continue;
			}
			if (s.too_big)
				snprintf(err, errlen, "%s: reply larger than "
				    "%ld bytes", url, REPLY_MAX);
			else
				snprintf(err, errlen, "%s: %s", url,
				    a->errbuf[0] != '\0' ? a->errbuf :
				    curl_easy_strerror(rc));
			goto fail;
		}
		if (curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE,
		    &r->status) != CURLE_OK)
			r->status = 0;
		if ((r->status == 429 || r->status >= 500) &&
		    attempt < a->opt.retries) {
			retry_after = 0;
			if (curl_easy_getinfo(a->curl, CURLINFO_RETRY_AFTER,
			    &retry_after) != CURLE_OK)
				retry_after = 0;
			wait = retry_wait(a, attempt + 1, retry_after);
			notice(a, "%s: HTTP %ld; retry %d of %d in %ld ms", url,
			    r->status, attempt + 1, a->opt.retries, wait);
			sleep_ms(wait);
			continue;
		}
		break;
	}
	if (s.buf == NULL && (s.buf = strdup("")) == NULL)
		goto oom;
	r->body = s.buf;
	s.buf = NULL;
	r->len = s.len;
	goto done;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	memset(r, 0, sizeof *r);
done:
	/* The handle must not keep pointers to what is freed here. */
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, NULL);
	curl_slist_free_all(hl);
	free(s.buf);
	return r->body != NULL ? 0 : -1;
}

void
api_reply_free(struct api_reply *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}
