/* Request bodies: JSON for text and templates, multipart for attachments. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "send/send.h"

/* Dump flags: UTF-8 kept as it is (no \u escapes), reals kept short. */
#define DUMP_FLAGS	(JSON_COMPACT | JSON_REAL_PRECISION(15))

int
request_parse_id(const char *s, json_int_t *id)
{
	json_int_t v = 0;
	const char *p;

	if (s == NULL || *s == '\0' || strlen(s) > 18)
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	*id = v;
	return 0;
}

/* {"in_reply_to": N}, or NULL. */
static json_t *
content_attributes(const struct message *m)
{
	json_t *ca = json_object();

	if (ca == NULL)
		return NULL;
	if (json_object_set_new(ca, "in_reply_to",
	    json_integer(m->in_reply_to)) == -1) {
		json_decref(ca);
		return NULL;
	}
	return ca;
}

/* The content as a JSON string: UTF-8 is required. */
static json_t *
content_string(const struct message *m, char *err, size_t errlen)
{
	json_t *s = json_string(m->content);

	if (s == NULL)
		snprintf(err, errlen, "TEXT is not valid UTF-8");
	return s;
}

char *
request_json(const struct message *m, char *err, size_t errlen)
{
	json_t *o, *s;
	char *body = NULL;

	if ((o = json_object()) == NULL)
		goto oom;
	if ((s = content_string(m, err, errlen)) == NULL)
		goto fail;
	/* json_object_set_new consumes its value even when it fails. */
	if (json_object_set_new(o, "content", s) == -1)
		goto oom;
	if (m->template_params != NULL) {
		if (json_object_set_new(o, "message_type",
		    json_string("outgoing")) == -1 ||
		    json_object_set(o, "template_params",
		    m->template_params) == -1)
			goto oom;
	} else if (json_object_set_new(o, "private",
	    json_boolean(m->is_private)) == -1)
		goto oom;
	if (m->has_reply_to && json_object_set_new(o, "content_attributes",
	    content_attributes(m)) == -1)
		goto oom;
	if ((body = json_dumps(o, DUMP_FLAGS)) == NULL)
		goto oom;
	json_decref(o);
	return body;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	json_decref(o);
	return NULL;
}

char *
request_retry_json(char *err, size_t errlen)
{
	json_t *o = json_object();
	char *body = o != NULL ? json_dumps(o, DUMP_FLAGS) : NULL;

	json_decref(o);
	if (body == NULL)
		snprintf(err, errlen, "out of memory");
	return body;
}

/* A regular file we can read, checked now so that a typo is a usage error. */
static int
check_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "read %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "read %s: not a regular file", path);
		return -1;
	}
	return 0;
}

/* Adds a text part name=value. */
static int
add_field(curl_mime *mime, const char *name, const char *value)
{
	curl_mimepart *part = curl_mime_addpart(mime);

	if (part == NULL)
		return -1;
	if (curl_mime_name(part, name) != CURLE_OK ||
	    curl_mime_data(part, value, CURL_ZERO_TERMINATED) != CURLE_OK)
		return -1;
	return 0;
}

/*
 * content, then (as Chatwoot's own client does in a form) private and
 * content_attributes as a JSON string, then one attachments[] per file.
 */
curl_mime *
request_mime(CURL *curl, const struct message *m, char *err, size_t errlen)
{
	curl_mime *mime = NULL;
	curl_mimepart *part;
	json_t *s = NULL, *ca = NULL;
	char *ca_text = NULL;
	size_t i;

	for (i = 0; i < m->nattachments; i++)
		if (check_file(m->attachments[i], err, errlen) == -1)
			return NULL;
	if ((s = content_string(m, err, errlen)) == NULL)
		return NULL;
	if ((mime = curl_mime_init(curl)) == NULL)
		goto oom;
	if (add_field(mime, "content", json_string_value(s)) == -1)
		goto oom;
	if (m->is_private && add_field(mime, "private", "true") == -1)
		goto oom;
	if (m->has_reply_to) {
		if ((ca = content_attributes(m)) == NULL ||
		    (ca_text = json_dumps(ca, DUMP_FLAGS)) == NULL ||
		    add_field(mime, "content_attributes", ca_text) == -1)
			goto oom;
	}
	for (i = 0; i < m->nattachments; i++) {
		if ((part = curl_mime_addpart(mime)) == NULL ||
		    curl_mime_name(part, "attachments[]") != CURLE_OK)
			goto oom;
		if (curl_mime_filedata(part, m->attachments[i]) != CURLE_OK) {
			snprintf(err, errlen, "read %s: cannot attach",
			    m->attachments[i]);
			goto fail;
		}
	}
	json_decref(s);
	json_decref(ca);
	free(ca_text);
	return mime;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	curl_mime_free(mime);
	json_decref(s);
	json_decref(ca);
	free(ca_text);
	return NULL;
}
