/*
 * The floor: what the HTTP layer alone does on this machine. A
 * libmicrohttpd server set up like the daemon's (internal thread pool,
 * same limits), which reads the POST body and answers 200 with a small
 * JSON object; with -j it also parses the body with jansson first.
 *
 * floor [-j] [-t THREADS] [-c MAX_CONNECTIONS] ADDR:PORT
 *
 * Runs until SIGTERM or SIGINT.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#define BODY_MAX	(1024 * 1024)

static bool parse_json;

/* One request's body, from the first callback to the completed one. */
struct body {
	char	*buf;
	size_t	 len, cap;
};

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
	    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json") == MHD_NO) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data,
    size_t *data_size, void **con_cls)
{
	struct body *b = *con_cls;
	json_error_t je;
	json_t *root;

	(void)cls;
	(void)url;
	(void)version;
	if (b == NULL) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "{\"ok\":false}");
		if ((b = calloc(1, sizeof *b)) == NULL)
			return MHD_NO;
		*con_cls = b;
		return MHD_YES;
	}
	if (*data_size > 0) {
		if (b->len + *data_size + 1 > BODY_MAX)
			return MHD_NO;
		if (b->len + *data_size + 1 > b->cap) {
			size_t cap = b->cap ? b->cap : 4096;
			char *p;

			while (cap < b->len + *data_size + 1)
				cap *= 2;
			if ((p = realloc(b->buf, cap)) == NULL)
				return MHD_NO;
			b->buf = p;
			b->cap = cap;
		}
		memcpy(b->buf + b->len, data, *data_size);
		b->len += *data_size;
		*data_size = 0;
		return MHD_YES;
	}
	if (parse_json) {
		root = json_loadb(b->buf ? b->buf : "", b->len, 0, &je);
		if (root == NULL)
			return answer(c, MHD_HTTP_BAD_REQUEST, "{\"ok\":false}");
		json_decref(root);
	}
	return answer(c, MHD_HTTP_OK, "{\"ok\":true}");
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct body *b = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (b == NULL)
		return;
	free(b->buf);
	free(b);
	*con_cls = NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: floor [-j] [-t THREADS] [-c MAX_CONNECTIONS] "
	    "ADDR:PORT\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	struct sockaddr_in sin;
	unsigned threads = 2, max_conn = 1024;
	char host[64], *colon;
	sigset_t set;
	int ch, sig;

	while ((ch = getopt(argc, argv, "jt:c:")) != -1) {
		switch (ch) {
		case 'j': parse_json = true; break;
		case 't': threads = (unsigned)atoi(optarg); break;
		case 'c': max_conn = (unsigned)atoi(optarg); break;
		default: usage();
		}
	}
	if (optind + 1 != argc || (colon = strrchr(argv[optind], ':')) ==
	    NULL || (size_t)(colon - argv[optind]) >= sizeof host)
		usage();
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(colon + 1));
	snprintf(host, sizeof host, "%.*s", (int)(colon - argv[optind]),
	    argv[optind]);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		usage();

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* As the daemon starts it (http.c start_mhd), with its defaults. */
	d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_LIMIT, max_conn,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10u,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "floor: cannot listen on %s\n", argv[optind]);
		return 1;
	}
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
