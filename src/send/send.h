/* livedesk-send: the client's modules and what they share. */
#ifndef SEND_H
#define SEND_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#define SEND_PROG	"livedesk-send"
#define SEND_ERRLEN	512

/* Exit statuses; the manual page lists the same. */
enum send_exit {
	SEND_EXIT_OK = 0,	/* the API accepted the message */
	SEND_EXIT_FAILED = 1,	/* the API answered "status": "failed" */
	SEND_EXIT_USAGE = 2,	/* bad options, input, files or credentials */
	SEND_EXIT_HTTP = 3,	/* HTTP error, network error, unexpected reply */
};

/* credentials.c: the API key and secret, never from the command line. */
struct credentials {
	char	*key;
	char	*secret;
};

/*
 * Fills c from file (when not NULL), else from $LIVEDESK_API_KEY and
 * $LIVEDESK_API_SECRET, else from $CREDENTIALS_DIRECTORY/livedesk-api.
 */
int	 credentials_load(struct credentials *c, const char *file, char *err,
	    size_t errlen);
/* Wipes and frees both strings; safe on a zeroed struct. */
void	 credentials_clear(struct credentials *c);

/* template.c: the template_params object of a WhatsApp template message. */
enum template_opt {
	TEMPLATE_NAME,
	TEMPLATE_LANGUAGE,
	TEMPLATE_NAMESPACE,
	TEMPLATE_CATEGORY,
	TEMPLATE_PARAM,
	TEMPLATE_HEADER_TEXT,
	TEMPLATE_HEADER_IMAGE,
	TEMPLATE_HEADER_VIDEO,
	TEMPLATE_HEADER_DOCUMENT,
	TEMPLATE_FILENAME,
	TEMPLATE_HEADER_LOCATION,
	TEMPLATE_FOOTER,
	TEMPLATE_BUTTON_URL,
	TEMPLATE_BUTTON_REPLY,
	TEMPLATE_NOPTS
};

struct template;

struct template	*template_new(void);
void		 template_free(struct template *);
/* Records one template option and its argument; checks it at once. */
int		 template_add(struct template *, enum template_opt,
		    const char *arg, char *err, size_t errlen);
/* Whether any template option was given. */
bool		 template_used(const struct template *);
/* The finished template_params (a new reference), or NULL and err. */
json_t		*template_params(const struct template *, char *err,
		    size_t errlen);

/* request.c: request bodies, built with jansson and curl_mime. */
struct message {
	const char	 *content;
	bool		  is_private;
	bool		  has_reply_to;
	json_int_t	  in_reply_to;
	json_t		 *template_params;	/* borrowed; NULL: plain text */
	char *const	 *attachments;		/* file names */
	size_t		  nattachments;
};

/* The JSON body of a text or template message; the caller frees it. */
char		*request_json(const struct message *, char *err, size_t errlen);
/* The multipart body of a message with attachments, tied to handle curl. */
curl_mime	*request_mime(CURL *curl, const struct message *, char *err,
		    size_t errlen);
/* The (empty object) JSON body of a retry request; the caller frees it. */
char		*request_retry_json(char *err, size_t errlen);
/* Parses a message or conversation id: digits only, fits in 63 bits. */
int		 request_parse_id(const char *s, json_int_t *id);

/* api.c: the HTTP transport: URLs, authentication, timeouts, retries. */
struct api_options {
	const char	*base_url;
	const char	*key;			/* borrowed for the api's life */
	const char	*secret;
	long		 timeout_ms;		/* whole attempt */
	long		 connect_timeout_ms;
	int		 retries;		/* after the first attempt */
	long		 retry_delay_ms;	/* first backoff; doubles */
	long		 max_wait_ms;		/* cap on one wait, Retry-After too */
	/* Told about each retry (may be NULL). */
	void		(*notice)(const char *msg);
};

struct api_reply {
	long	 status;	/* HTTP status */
	char	*body;		/* NUL-terminated; freed by api_reply_free */
	size_t	 len;
};

struct api;

struct api	*api_new(const struct api_options *, char *err, size_t errlen);
void		 api_free(struct api *);
/* The handle the requests run on, for request_mime. */
CURL		*api_curl(struct api *);
/*
 * The URL of a conversation's messages, or with message_id of that message's
 * retry call; the caller frees it.
 */
char		*api_url(struct api *, const char *conversation_id,
		    const char *message_id, char *err, size_t errlen);
/*
 * POSTs json (Content-Type: application/json) or mime to url, retrying 429,
 * 5xx and refused connections. 0 when an HTTP answer came (any status),
 * -1 and err on a network error.
 */
int		 api_post(struct api *, const char *url, const char *json,
		    curl_mime *mime, struct api_reply *, char *err,
		    size_t errlen);
void		 api_reply_free(struct api_reply *);

/* reply.c: what the API answered, told to the user, as an exit status. */
int		 reply_report(const struct api_reply *, bool quiet,
		    const char *retry_id);

#endif
