/*
 * A mock of LiveDesk's send-message API for the tests: records every request
 * as one JSON line and answers as its options script it.
 *
 * tool_mock_api --log FILE [--port N] [--reply-status N] [--reply-body TEXT]
 *     [--fail-first N] [--fail-status N] [--retry-after S] [--failed]
 *     [--hang] [--max-seconds N]
 *
 * Listens on 127.0.0.1:N (0 or absent: any free port) and prints the port on
 * stdout once it is listening. Stops on SIGTERM or SIGINT, when its parent
 * dies, or after --max-seconds (default 60).
 */
#include <sys/prctl.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#define BODY_MAX	(16 * 1024 * 1024)

/* The vendor's sample reply to a text message. */
static const char sample_reply[] =
    "{\"id\":3030,\"content\":\"เจ้าหน้าที่กำลังส่งข้อความ เป็นปกติหรือไม่\","
    "\"inbox_id\":79,\"conversation_id\":141,\"message_type\":1,"
    "\"content_type\":\"text\",\"status\":\"sent\",\"content_attributes\":{},"
    "\"created_at\":1762331029,\"private\":false,\"source_id\":null,"
    "\"sorting_id\":4,\"sender\":{\"id\":3,\"name\":\"TEST\","
    "\"available_name\":\"TEST\",\"avatar_url\":\"\",\"type\":\"user\","
    "\"availability_status\":\"offline\",\"thumbnail\":\"\"}}";

/* The vendor's sample reply to a message that failed. */
static const char failed_reply[] =
    "{\"id\":123,\"status\":\"failed\",\"content_attributes\":"
    "{\"external_error\":\"131047: Re-engagement message is not allowed\"}}";

static const char error_reply[] = "{\"error\":\"mock says no\"}";

static struct {
	FILE		*log;
	long		 reply_status;
	const char	*reply_body;
	long		 fail_first;
	long		 fail_status;
	long		 retry_after;	/* -1: no Retry-After header */
	bool		 failed;
	bool		 hang;
	long		 count;		/* requests seen */
	bool		 stopping;
	pthread_mutex_t	 lock;
	pthread_cond_t	 stop;
} mock = {
	.reply_status = 200,
	.fail_status = 503,
	.retry_after = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.stop = PTHREAD_COND_INITIALIZER,
};

struct req {
	char	*body;
	size_t	 len;
	bool	 too_big;
};

static void
die(const char *msg, const char *arg)
{
	fprintf(stderr, "tool_mock_api: %s%s\n", msg, arg != NULL ? arg : "");
	exit(2);
}

static enum MHD_Result
add_header(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	json_t *headers = cls;
	char name[256];
	size_t i;

	(void)kind;
	for (i = 0; key[i] != '\0' && i < sizeof name - 1; i++)
		name[i] = (char)tolower((unsigned char)key[i]);
	name[i] = '\0';
	json_object_set_new(headers, name, json_string(value != NULL ?
	    value : ""));
	return MHD_YES;
}

/* Appends the request as one JSON line; the body as a string if UTF-8. */
static void
log_request(struct MHD_Connection *c, const char *method, const char *url,
    const struct req *r, long n)
{
	json_t *o = json_object(), *headers = json_object(), *body;
	char *line, *b64;

	MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, headers);
	json_object_set_new(o, "n", json_integer(n));
	json_object_set_new(o, "method", json_string(method));
	json_object_set_new(o, "url", json_string(url));
	json_object_set_new(o, "headers", headers);
	body = json_stringn(r->body != NULL ? r->body : "", r->len);
	if (body != NULL)
		json_object_set_new(o, "body", body);
	else if ((b64 = malloc(4 * ((r->len + 2) / 3) + 1)) != NULL) {
		EVP_EncodeBlock((unsigned char *)b64,
		    (const unsigned char *)r->body, (int)r->len);
		json_object_set_new(o, "body", json_null());
		json_object_set_new(o, "body_base64", json_string(b64));
		free(b64);
	}
	line = json_dumps(o, JSON_COMPACT);
	if (line != NULL) {
		fprintf(mock.log, "%s\n", line);
		fflush(mock.log);
		free(line);
	}
	json_decref(o);
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned int status, const char *body,
    long retry_after)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char ra[32];

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type",
	    "application/json; charset=utf-8");
	if (retry_after >= 0) {
		snprintf(ra, sizeof ra, "%ld", retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct req *r = *con_cls;
	long n;
	bool fail;
	char *nb;

	(void)cls;
	(void)version;
	if (r == NULL) {
		if ((r = calloc(1, sizeof *r)) == NULL)
			return MHD_NO;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (r->len + *upload_size > BODY_MAX)
			r->too_big = true;
		else if ((nb = realloc(r->body, r->len + *upload_size + 1)) ==
		    NULL)
			return MHD_NO;
		else {
			r->body = nb;
			memcpy(r->body + r->len, upload, *upload_size);
			r->len += *upload_size;
			r->body[r->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big)
		return answer(c, 413, error_reply, -1);

	pthread_mutex_lock(&mock.lock);
	n = ++mock.count;
	log_request(c, method, url, r, n);
	fail = n <= mock.fail_first;
	if (!fail && mock.hang) {
		/* Never answer: hold the connection until told to stop. */
		while (!mock.stopping)
			pthread_cond_wait(&mock.stop, &mock.lock);
		pthread_mutex_unlock(&mock.lock);
		return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, error_reply, -1);
	}
	pthread_mutex_unlock(&mock.lock);

	if (fail)
		return answer(c, (unsigned int)mock.fail_status, error_reply,
		    mock.retry_after);
	if (mock.failed)
		return answer(c, MHD_HTTP_OK, failed_reply, -1);
	return answer(c, (unsigned int)mock.reply_status,
	    mock.reply_body != NULL ? mock.reply_body :
	    mock.reply_status == 200 ? sample_reply : error_reply, -1);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r != NULL) {
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

static long
number(const char *s, long min, long max, const char *opt)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		die("bad number for ", opt);
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "reply-status", required_argument, NULL, 's' },
		{ "reply-body", required_argument, NULL, 'b' },
		{ "fail-first", required_argument, NULL, 'f' },
		{ "fail-status", required_argument, NULL, 'F' },
		{ "retry-after", required_argument, NULL, 'r' },
		{ "failed", no_argument, NULL, 'x' },
		{ "hang", no_argument, NULL, 'H' },
		{ "max-seconds", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	struct sockaddr_in sa;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	const char *log_path = NULL;
	long port = 0, max_seconds = 60;
	sigset_t set;
	int c, sig;
	pid_t parent = getppid();

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': log_path = optarg; break;
		case 'p': port = number(optarg, 0, 65535, "--port"); break;
		case 's': mock.reply_status = number(optarg, 100, 599,
		    "--reply-status"); break;
		case 'b': mock.reply_body = optarg; break;
		case 'f': mock.fail_first = number(optarg, 0, 1000000,
		    "--fail-first"); break;
		case 'F': mock.fail_status = number(optarg, 100, 599,
		    "--fail-status"); break;
		case 'r': mock.retry_after = number(optarg, 0, 100000,
		    "--retry-after"); break;
		case 'x': mock.failed = true; break;
		case 'H': mock.hang = true; break;
		case 'm': max_seconds = number(optarg, 1, 3600,
		    "--max-seconds"); break;
		default: die("usage: tool_mock_api --log FILE [options]", NULL);
		}
	}
	if (log_path == NULL)
		die("--log FILE is required", NULL);
	if ((mock.log = fopen(log_path, "a")) == NULL)
		die("cannot open ", log_path);

	/* Signals are taken by sigwait below; threads inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		die("parent gone", NULL);
	alarm((unsigned int)max_seconds);

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    handle, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)max_seconds,
	    MHD_OPTION_END);
	if (d == NULL)
		die("cannot listen", NULL);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL)
		die("no port", NULL);
	printf("%u\n", (unsigned int)info->port);
	fflush(stdout);

	while (sigwait(&set, &sig) != 0)
		;
	pthread_mutex_lock(&mock.lock);
	mock.stopping = true;
	pthread_cond_broadcast(&mock.stop);
	pthread_mutex_unlock(&mock.lock);
	MHD_stop_daemon(d);
	fclose(mock.log);
	return 0;
}
