/* Helpers shared by the Check suites: fixtures, temporary directories, the
 * real daemon started on a free loopback port, and a real HTTP client. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The build directory the suite belongs to ($LD_BUILD, default "build"). */
const char	*tu_build_dir(void);
/* Reads a whole file, NUL-terminated; aborts the test on failure. */
char		*tu_read_file(const char *path, size_t *len);
/* Reads fixtures/NAME. */
char		*tu_fixture(const char *name, size_t *len);
/* Writes a whole file; aborts on failure. */
void		 tu_write_file(const char *path, const char *data, size_t len);
/* A new private directory under /tmp; removed by tu_rmtree. */
char		*tu_tmpdir(void);
void		 tu_rmtree(const char *path);
/*
 * A TCP port on 127.0.0.1 that was free a moment ago: only for servers
 * that cannot bind port 0 and say which they got (redis-server, nginx,
 * caddy), which then retry on another when tu_port_taken says so.
 */
int		 tu_free_port(void);
/* Whether a server's log says the port it was given was taken meanwhile
 * ("Address already in use", in any case). */
bool		 tu_port_taken(const char *log);
/* The TCP port process pid listens on now, from /proc (its first but
 * not_port, say a socket it was handed; 0: any), or 0: for a daemon on
 * port 0 whose log is a journal. /proc lists every socket of the
 * machine, thousands while suites run: not for a tight loop. */
int		 tu_listen_port(pid_t pid, int not_port);
/* Waits up to ms for a server started on 127.0.0.1:port to listen there:
 * 1 when pid does, 0 when another process answers on that port (take
 * another), -1 when pid exits first or ms pass. */
int		 tu_wait_listening(pid_t pid, int port, int ms);
/* The port of the daemon's "listening on ADDR:PORT," line in log; 0
 * while there is none. */
int		 tu_log_port(const char *log);
/* Whether child pid has exited (it stays to be waited for). */
bool		 tu_exited(pid_t pid);
/* A 127.0.0.1 port that refuses connections: bound, never listened on,
 * so that nobody else takes it while the returned socket stays open. */
int		 tu_refusing_port(int *port);
/* Says that the calling test checks nothing here and why, as a line
 * "SKIP: test: why" that tests/run.sh counts and shows; the test then
 * returns. Only for what the machine cannot do (no mount namespace, a
 * timing under valgrind), never for a program make deps-check installs. */
void		 tu_skip(const char *test, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* Milliseconds on the monotonic clock. */
long long	 tu_now_ms(void);
/* Waits up to ms for path to exist and (if min_lines>0) hold min_lines. */
bool		 tu_wait_file_lines(const char *path, int min_lines, int ms);
int		 tu_count_lines(const char *path);
/* How often text occurs in the file at path (0 when there is none). */
int		 tu_count_in_file(const char *path, const char *text);
/* Waits up to ms for text to occur n times in the file at path. */
bool		 tu_wait_file_has(const char *path, const char *text, int n,
		    int ms);

/* X-Chatwoot-Signature for body sent at ts: sha256=<hex HMAC(secret,
 * "ts.body")>. */
void		 tu_sign_chatwoot(char out[80], const char *secret,
		    const char *ts, const char *body, size_t len);
/* A Standard Webhooks signature: v1,<base64 HMAC(key, "id.ts.body")>, the
 * key given in base64. */
void		 tu_sign_standard(char out[64], const char *key64,
		    const char *id, const char *ts, const char *body);

struct tu_daemon {
	pid_t	 pid;
	int	 port;
	char	*dir;		/* private directory: config, logs */
	char	*conf;		/* path of the configuration written */
	char	*log;		/* the daemon's stderr */
	char	 url[128];	/* http://127.0.0.1:PORT */
};

/*
 * Starts build/livedesk-webhookd with conf_text (may be NULL: built-in
 * default) written to a file, extra arguments after "-c FILE -l ADDR", and
 * waits until /healthz answers. Returns false if it did not come up.
 * When extra starts with "-l", "ADDR:PORT", that address is used instead
 * of a free 127.0.0.1 port.
 */
bool		 tu_daemon_start(struct tu_daemon *, const char *conf_text,
		    const char *const *extra_args);
/*
 * The same, with the daemon's soft RLIMIT_NOFILE at nofile from before it
 * runs, as a unit's LimitNOFILE= would set it. Lowering it with prlimit
 * on the running daemon is not the same under valgrind: valgrind keeps its
 * own descriptors above the limit it started with, and its forked children
 * die (status 1) before exec once the kernel's limit is below them.
 */
bool		 tu_daemon_start_nofile(struct tu_daemon *,
		    const char *conf_text, const char *const *extra_args,
		    unsigned nofile);
/* Waits up to ms for the daemon's log to hold text, e.g. "configuration
 * reloaded" after a SIGHUP; false if it does not. */
bool		 tu_wait_log(const struct tu_daemon *, const char *text,
		    int ms);
/*
 * The value of one sample of the daemon's /metrics, named as printed
 * (livedesk_queue_depth, livedesk_events_total{event="x"}); the test
 * fails when there is no such sample.
 */
long long	 tu_metric(const struct tu_daemon *, const char *name);
/* Waits up to ms until every event accepted so far is finished by every
 * sink (livedesk_queue_depth 0): then nothing more runs for them. */
bool		 tu_wait_idle(const struct tu_daemon *, int ms);
/* SIGTERM, wait; returns the exit status as from waitpid (or -1). */
int		 tu_daemon_stop(struct tu_daemon *);
/* Sends sig and waits; returns the raw wait status. */
int		 tu_daemon_kill(struct tu_daemon *, int sig);
void		 tu_daemon_free(struct tu_daemon *);

struct tu_response {
	long	 status;	/* 0 when the request failed */
	char	*body;
	size_t	 body_len;
	char	*headers;	/* the raw header block */
};

/*
 * Sends one request with libcurl. headers is a NULL-terminated list of
 * "Name: value" lines (may be NULL). body may be NULL. Returns status in r.
 */
void		 tu_http(struct tu_response *r, const char *method,
		    const char *url, const char *const *headers,
		    const char *body, size_t len);
/* The value of a response header (case-insensitive), malloc'd, or NULL. */
char		*tu_header(const struct tu_response *, const char *name);
void		 tu_response_free(struct tu_response *);

/*
 * Starts build/tests/tool_mock_api (the mock LiveDesk API) logging each
 * request to log as a JSON line, with extra arguments; returns its pid and
 * the port it listens on in *port.
 */
pid_t		 tu_mock_api_start(const char *log, const char *const *args,
		    int *port);
/* SIGTERM and wait. */
void		 tu_mock_api_stop(pid_t);

#endif
