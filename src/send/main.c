/* livedesk-send: options and exit statuses; the modules do the work. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "send/send.h"

#define DEFAULT_API_URL		"https://livedesk-api.engagelab.com"
#define STDIN_MAX		(1024 * 1024)

#ifndef LD_VERSION
#define LD_VERSION		"0"
#endif

enum {
	OPT_PRIVATE = 256,
	OPT_IN_REPLY_TO,
	OPT_ATTACH,
	OPT_RETRY,
	OPT_CREDENTIALS,
	OPT_API_URL,
	OPT_TIMEOUT,
	OPT_RETRIES,
	OPT_RETRY_DELAY,
	OPT_MAX_WAIT,
	OPT_TEMPLATE = 1000,	/* + enum template_opt */
};

static const struct option long_opts[] = {
	{ "conversation",	required_argument, NULL, 'c' },
	{ "private",		no_argument,	   NULL, OPT_PRIVATE },
	{ "in-reply-to",	required_argument, NULL, OPT_IN_REPLY_TO },
	{ "attach",		required_argument, NULL, OPT_ATTACH },
	{ "retry",		required_argument, NULL, OPT_RETRY },
	{ "credentials",	required_argument, NULL, OPT_CREDENTIALS },
	{ "api-url",		required_argument, NULL, OPT_API_URL },
	{ "timeout",		required_argument, NULL, OPT_TIMEOUT },
	{ "retries",		required_argument, NULL, OPT_RETRIES },
	{ "retry-delay",	required_argument, NULL, OPT_RETRY_DELAY },
	{ "max-wait",		required_argument, NULL, OPT_MAX_WAIT },
	{ "quiet",		no_argument,	   NULL, 'q' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ "template",	required_argument, NULL, OPT_TEMPLATE + TEMPLATE_NAME },
	{ "language",	required_argument, NULL,
	    OPT_TEMPLATE + TEMPLATE_LANGUAGE },
	{ "namespace",	required_argument, NULL,
	    OPT_TEMPLATE + TEMPLATE_NAMESPACE },
	{ "category",	required_argument, NULL,
	    OPT_TEMPLATE + TEMPLATE_CATEGORY },
	{ "param",	required_argument, NULL, OPT_TEMPLATE + TEMPLATE_PARAM },
	{ "header-text", required_argument, NULL,
	    OPT_TEMPLATE + TEMPLATE_HEADER_TEXT },
	{ "header-image", required_argument, NULL,
	    OPT_TEMPLATE + TEMPLATE_HEADER_IMAGE },
	{ "header-video", required_argument, NULL,
	    OPT_TEMPLATE + TEMPLATE_HEADER_VIDEO },
	{ "header-document", required_argument, NULL,
	    OPT_TEMPLATE + TEMPLATE_HEADER_DOCUMENT },
	{ "filename",	required_argument, NULL,
	    OPT_TEMPLATE + TEMPLATE_FILENAME },
	{ "header-location", required_argument, NULL,
	    OPT_TEMPLATE + TEMPLATE_HEADER_LOCATION },
	{ "footer",	required_argument, NULL, OPT_TEMPLATE + TEMPLATE_FOOTER },
	{ "button-url",	required_argument, NULL,
	    OPT_TEMPLATE + TEMPLATE_BUTTON_URL },
	{ "button-reply", required_argument, NULL,
	    OPT_TEMPLATE + TEMPLATE_BUTTON_REPLY },
	{ NULL, 0, NULL, 0 }
};

struct opts {
	const char	 *conversation;
	const char	 *text;
	const char	 *retry_id;
	const char	 *credentials;
	const char	 *api_url;
	bool		  is_private;
	bool		  quiet;
	bool		  has_reply_to;
	json_int_t	  in_reply_to;
	char		**attachments;		/* argv strings */
	size_t		  nattachments;
	struct template	 *tmpl;
	long		  timeout_ms;
	int		  retries;
	long		  retry_delay_ms;
	long		  max_wait_ms;
};

static void
usage(FILE *f)
{
	fputs(
"Usage: " SEND_PROG " [-c ID] [--private] [--in-reply-to MESSAGE_ID] TEXT\n"
"       " SEND_PROG " [-c ID] --attach FILE [--attach FILE]... TEXT\n"
"       " SEND_PROG " [-c ID] --template NAME --language CODE [template options] TEXT\n"
"       " SEND_PROG " [-c ID] --retry MESSAGE_ID\n"
"Sends a message into a LiveDesk conversation; TEXT \"-\" reads standard input.\n"
"\n"
"  -c, --conversation ID     conversation (default $LIVEDESK_CONVERSATION_ID)\n"
"      --private             a private note, seen by agents only\n"
"      --in-reply-to ID      quote the message ID\n"
"      --attach FILE         attach a file (repeatable; sent as multipart)\n"
"      --retry MESSAGE_ID    resend a message that failed\n"
"\n"
"WhatsApp template options:\n"
"      --template NAME       template name\n"
"      --language CODE       template language, e.g. en_US\n"
"      --namespace NS        template namespace\n"
"      --category CAT        template category, e.g. MARKETING\n"
"      --param KEY=VALUE     body variable (repeatable)\n"
"      --header-text KEY=VALUE           text header variable (repeatable)\n"
"      --header-image URL                image header\n"
"      --header-video URL                video header\n"
"      --header-document URL             document header\n"
"      --filename NAME                   the document's file name\n"
"      --header-location LAT,LON[,NAME[,ADDRESS]]  location header\n"
"      --footer KEY=VALUE    footer variable (repeatable)\n"
"      --button-url INDEX=TEXT        url button suffix (repeatable)\n"
"      --button-reply INDEX=PAYLOAD   quick reply payload (repeatable)\n"
"\n"
"Connection:\n"
"      --credentials FILE    KEY:SECRET (or KEY and SECRET on two lines)\n"
"      --api-url URL         API base (default $LIVEDESK_API_URL or\n"
"                            " DEFAULT_API_URL ")\n"
"      --timeout SECONDS     limit on each attempt (default 30)\n"
"      --retries N           retries of 429, 5xx, refused connections (3)\n"
"      --retry-delay MS      first wait between attempts, doubling (500)\n"
"      --max-wait SECONDS    longest wait, Retry-After included (30)\n"
"  -q, --quiet               print only the message id\n"
"  -h, --help                this help\n"
"  -V, --version             the version\n"
"\n"
"Credentials: $LIVEDESK_API_KEY and $LIVEDESK_API_SECRET, --credentials FILE,\n"
"or the file livedesk-api in $CREDENTIALS_DIRECTORY (systemd LoadCredential=).\n"
"Exit status: 0 sent, 1 the API says the message failed, 2 usage error,\n"
"3 HTTP or network error. See livedesk-send(1).\n", f);
}

static int
usage_error(const char *msg)
{
	fprintf(stderr, SEND_PROG ": %s\nTry '" SEND_PROG " --help'.\n", msg);
	return SEND_EXIT_USAGE;
}

/* A number of seconds (fractions allowed) within [min_ms, max_ms] as ms. */
static int
parse_seconds(const char *s, long min_ms, long max_ms, long *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) ||
	    strpbrk(s, "xXnN") != NULL)
		return -1;
	v = round(v * 1000);
	if (v < (double)min_ms || v > (double)max_ms)
		return -1;
	*ms = (long)v;
	return 0;
}

static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Applies one numeric knob, from an option or from the environment. */
static int
set_knob(struct opts *o, int opt, const char *val, const char *from)
{
	char msg[SEND_ERRLEN];
	long v;

	switch (opt) {
	case OPT_TIMEOUT:
		if (parse_seconds(val, 1, 3600L * 1000, &o->timeout_ms) == 0)
			return 0;
		snprintf(msg, sizeof msg, "%s: expected seconds in (0, 3600], "
		    "got \"%s\"", from, val);
		break;
	case OPT_RETRIES:
		if (parse_long(val, 0, 10, &v) == 0) {
			o->retries = (int)v;
			return 0;
		}
		snprintf(msg, sizeof msg, "%s: expected 0 to 10, got \"%s\"",
		    from, val);
		break;
	case OPT_RETRY_DELAY:
		if (parse_long(val, 0, 60000, &o->retry_delay_ms) == 0)
			return 0;
		snprintf(msg, sizeof msg, "%s: expected milliseconds from 0 to "
		    "60000, got \"%s\"", from, val);
		break;
	default:	/* OPT_MAX_WAIT */
		if (parse_seconds(val, 0, 3600L * 1000, &o->max_wait_ms) == 0)
			return 0;
		snprintf(msg, sizeof msg, "%s: expected seconds from 0 to "
		    "3600, got \"%s\"", from, val);
		break;
	}
	return usage_error(msg);
}

static int
knobs_from_env(struct opts *o)
{
	static const struct {
		const char	*name;
		int		 opt;
	} vars[] = {
		{ "LIVEDESK_SEND_TIMEOUT", OPT_TIMEOUT },
		{ "LIVEDESK_SEND_RETRIES", OPT_RETRIES },
		{ "LIVEDESK_SEND_RETRY_DELAY_MS", OPT_RETRY_DELAY },
		{ "LIVEDESK_SEND_MAX_WAIT", OPT_MAX_WAIT },
	};
	const char *v;
	size_t i;

	for (i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		v = getenv(vars[i].name);
		if (v != NULL && *v != '\0' &&
		    set_knob(o, vars[i].opt, v, vars[i].name) != 0)
			return SEND_EXIT_USAGE;
	}
	return 0;
}

/* Checks the combination of options once all are read. */
static int
check_opts(struct opts *o, int nargs)
{
	const char *v;

	if (o->conversation == NULL &&
	    (v = getenv("LIVEDESK_CONVERSATION_ID")) != NULL && *v != '\0')
		o->conversation = v;
	if (o->conversation == NULL)
		return usage_error("no conversation: give -c ID or set "
		    "LIVEDESK_CONVERSATION_ID");
	if (request_parse_id(o->conversation, &(json_int_t){ 0 }) == -1)
		return usage_error("the conversation id must be digits");
	if (o->retry_id != NULL) {
		if (nargs != 0 || o->is_private || o->has_reply_to ||
		    o->nattachments > 0 || template_used(o->tmpl))
			return usage_error("--retry takes a message id and no "
			    "TEXT or message options");
		return 0;
	}
	if (nargs == 0)
		return usage_error("no TEXT (use \"-\" to read standard input)");
	if (nargs > 1)
		return usage_error("one TEXT only: quote it (and put \"--\" "
		    "before a TEXT that starts with '-')");
	if (template_used(o->tmpl) && o->nattachments > 0)
		return usage_error("--template and --attach do not mix");
	if (template_used(o->tmpl) && o->is_private)
		return usage_error("a template is not a private note: "
		    "--template and --private do not mix");
	return 0;
}

/* Returns 0 to go on, or the exit status. */
static int
parse_args(int argc, char **argv, struct opts *o)
{
	char err[SEND_ERRLEN];
	char **na;
	int c, rc;

	if ((rc = knobs_from_env(o)) != 0)
		return rc;
	while ((c = getopt_long(argc, argv, "c:qhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->conversation = optarg;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case 'V':
			printf(SEND_PROG " " LD_VERSION "\n");
			return -1;
		case OPT_PRIVATE:
			o->is_private = true;
			break;
		case OPT_IN_REPLY_TO:
			if (request_parse_id(optarg, &o->in_reply_to) == -1)
				return usage_error("--in-reply-to: the message "
				    "id must be digits");
			o->has_reply_to = true;
			break;
		case OPT_ATTACH:
			na = reallocarray(o->attachments, o->nattachments + 1,
			    sizeof *na);
			if (na == NULL)
				return usage_error("out of memory");
			o->attachments = na;
			o->attachments[o->nattachments++] = optarg;
			break;
		case OPT_RETRY:
			if (request_parse_id(optarg, &(json_int_t){ 0 }) == -1)
				return usage_error("--retry: the message id "
				    "must be digits");
			o->retry_id = optarg;
			break;
		case OPT_CREDENTIALS:
			o->credentials = optarg;
			break;
		case OPT_API_URL:
			o->api_url = optarg;
			break;
		case OPT_TIMEOUT:
		case OPT_RETRIES:
		case OPT_RETRY_DELAY:
		case OPT_MAX_WAIT:
			if (set_knob(o, c, optarg, argv[optind - 1]) != 0)
				return SEND_EXIT_USAGE;
			break;
		default:
			if (c >= OPT_TEMPLATE &&
			    c < OPT_TEMPLATE + TEMPLATE_NOPTS) {
				if (template_add(o->tmpl,
				    (enum template_opt)(c - OPT_TEMPLATE),
				    optarg, err, sizeof err) == -1)
					return usage_error(err);
				break;
			}
			/* getopt has said what was wrong. */
			fputs("Try '" SEND_PROG " --help'.\n", stderr);
			return SEND_EXIT_USAGE;
		}
	}
	if ((rc = check_opts(o, argc - optind)) != 0)
		return rc;
	if (optind < argc)
		o->text = argv[optind];
	return 0;
}

/* Reads TEXT from stdin; trailing line ends go, as in $(...). */
static char *
read_stdin(char *err, size_t errlen)
{
	char *buf;
	size_t n = 0;
	ssize_t r;

	if ((buf = malloc(STDIN_MAX + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (;;) {
		r = read(STDIN_FILENO, buf + n, STDIN_MAX + 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errlen, "read standard input: %s",
			    strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > STDIN_MAX) {
			snprintf(err, errlen, "standard input: TEXT larger "
			    "than %d bytes", STDIN_MAX);
			goto fail;
		}
	}
	if (memchr(buf, '\0', n) != NULL) {
		snprintf(err, errlen, "standard input: TEXT holds a NUL byte");
		goto fail;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return buf;
fail:
	free(buf);
	return NULL;
}

static void
print_notice(const char *msg)
{
	fprintf(stderr, SEND_PROG ": %s\n", msg);
}

/* Builds the request for o, sends it, and tells what came back. */
static int
run(struct opts *o, const struct credentials *cred)
{
	struct api_options ao = {
		.base_url = o->api_url,
		.key = cred->key,
		.secret = cred->secret,
		.timeout_ms = o->timeout_ms,
		.connect_timeout_ms = o->timeout_ms < 10000 ? o->timeout_ms :
		    10000,
		.retries = o->retries,
		.retry_delay_ms = o->retry_delay_ms,
		.max_wait_ms = o->max_wait_ms,
		.notice = print_notice,
	};
	struct message m = {
		.content = o->text,
		.is_private = o->is_private,
		.has_reply_to = o->has_reply_to,
		.in_reply_to = o->in_reply_to,
		.attachments = o->attachments,
		.nattachments = o->nattachments,
	};
	struct api_reply reply = { 0 };
	char err[SEND_ERRLEN];
	struct api *api = NULL;
	curl_mime *mime = NULL;
	char *url = NULL, *body = NULL;
	int rc = SEND_EXIT_USAGE;

	if ((api = api_new(&ao, err, sizeof err)) == NULL)
		goto fail;
	if ((url = api_url(api, o->conversation, o->retry_id, err,
	    sizeof err)) == NULL)
		goto fail;
	if (o->retry_id != NULL)
		body = request_retry_json(err, sizeof err);
	else if (template_used(o->tmpl)) {
		if ((m.template_params = template_params(o->tmpl, err,
		    sizeof err)) == NULL)
			goto fail;
		body = request_json(&m, err, sizeof err);
	} else if (m.nattachments > 0)
		mime = request_mime(api_curl(api), &m, err, sizeof err);
	else
		body = request_json(&m, err, sizeof err);
	if (body == NULL && mime == NULL)
		goto fail;
	if (api_post(api, url, body, mime, &reply, err, sizeof err) == -1) {
		rc = SEND_EXIT_HTTP;
		goto fail;
	}
	rc = reply_report(&reply, o->quiet, o->retry_id);
	goto done;
fail:
	fprintf(stderr, SEND_PROG ": %s\n", err);
done:
	api_reply_free(&reply);
	json_decref(m.template_params);
	curl_mime_free(mime);
	free(body);
	free(url);
	api_free(api);
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts o = {
		.timeout_ms = 30000,
		.retries = 3,
		.retry_delay_ms = 500,
		.max_wait_ms = 30000,
	};
	struct credentials cred = { 0 };
	char err[SEND_ERRLEN], *stdin_text = NULL;
	const char *v;
	int rc;

	if ((o.tmpl = template_new()) == NULL) {
		fputs(SEND_PROG ": out of memory\n", stderr);
		return SEND_EXIT_USAGE;
	}
	if ((rc = parse_args(argc, argv, &o)) != 0) {
		rc = rc == -1 ? SEND_EXIT_OK : rc;
		goto done;
	}
	rc = SEND_EXIT_USAGE;
	if (o.api_url == NULL)
		o.api_url = (v = getenv("LIVEDESK_API_URL")) != NULL &&
		    *v != '\0' ? v : DEFAULT_API_URL;
	if (credentials_load(&cred, o.credentials, err, sizeof err) == -1)
		goto fail;
	if (o.text != NULL && strcmp(o.text, "-") == 0) {
		if ((stdin_text = read_stdin(err, sizeof err)) == NULL)
			goto fail;
		o.text = stdin_text;
	}
	if (o.text != NULL && *o.text == '\0' && o.nattachments == 0) {
		snprintf(err, sizeof err, "TEXT is empty");
		goto fail;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, sizeof err, "cannot start libcurl");
		rc = SEND_EXIT_HTTP;
		goto fail;
	}
	rc = run(&o, &cred);
	curl_global_cleanup();
	goto done;
fail:
	fprintf(stderr, SEND_PROG ": %s\n", err);
done:
	if (fflush(stdout) == EOF)
		fprintf(stderr, SEND_PROG ": write standard output: %s\n",
		    strerror(errno));
	credentials_clear(&cred);
	free(stdin_text);
	free(o.attachments);
	template_free(o.tmpl);
	return rc;
}
