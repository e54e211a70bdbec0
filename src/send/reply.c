/* Replies: the API's answer on stdout, its verdict as the exit status. */
#include <stdio.h>
#include <string.h>

#include "send/send.h"

#define SHOW_MAX	4096	/* bytes of an error body shown on stderr */

/*
 * Writes at most max bytes of s to f with control characters escaped, so
 * that a reply cannot forge lines in the log that stderr goes to.
 */
static void
put_escaped(FILE *f, const char *s, size_t len, size_t max)
{
	size_t i;

	for (i = 0; i < len && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\')
			fputs("\\\\", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			putc(c, f);
	}
	if (len > max)
		fputs("...", f);
}

static void
print_body(const struct api_reply *r)
{
	fwrite(r->body, 1, r->len, stdout);
	if (r->len > 0 && r->body[r->len - 1] != '\n')
		putchar('\n');
}

/* Exit 3: what came back is not an answer we can trust. */
static int
http_error(const struct api_reply *r, const char *why)
{
	fprintf(stderr, SEND_PROG ": %s (HTTP %ld)", why, r->status);
	if (r->len > 0) {
		fputs(": ", stderr);
		put_escaped(stderr, r->body, r->len, SHOW_MAX);
	}
	putc('\n', stderr);
	return SEND_EXIT_HTTP;
}

int
reply_report(const struct api_reply *r, bool quiet, const char *retry_id)
{
	json_t *root, *id, *ca;
	const char *status, *why;
	int rc = SEND_EXIT_OK;

	if (r->status < 200 || r->status > 299)
		return http_error(r, "the API refused the request");
	root = json_loadb(r->body, r->len, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		/* A retry may be answered with no body at all. */
		if (retry_id != NULL && r->len == 0) {
			if (quiet)
				printf("%s\n", retry_id);
			return SEND_EXIT_OK;
		}
		return http_error(r, "the API's reply is not a JSON object");
	}
	id = json_object_get(root, "id");
	status = json_string_value(json_object_get(root, "status"));
	if (quiet) {
		if (json_is_integer(id))
			printf("%" JSON_INTEGER_FORMAT "\n",
			    json_integer_value(id));
		else if (retry_id != NULL)
			printf("%s\n", retry_id);
		else {
			json_decref(root);
			return http_error(r, "the API's reply has no message id");
		}
	} else
		print_body(r);
	if (status != NULL && strcmp(status, "failed") == 0) {
		ca = json_object_get(root, "content_attributes");
		why = json_string_value(json_object_get(ca, "external_error"));
		if (why == NULL)
			why = "no reason given";
		fputs(SEND_PROG ": the message failed: ", stderr);
		put_escaped(stderr, why, strlen(why), SHOW_MAX);
		putc('\n', stderr);
		rc = SEND_EXIT_FAILED;
	}
	json_decref(root);
	return rc;
}
