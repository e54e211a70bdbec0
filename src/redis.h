/*
 * Redis connections, shared by the Redis sink and the worker's source:
 * URLs (shown with the password as ***, never in clear), connecting with
 * timeouts, AUTH and SELECT, commands in argv form (binary safe), and
 * reconnection with backoff. A connection is used by one thread at a time.
 */
#ifndef REDIS_H
#define REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], unix:/PATH[?db=DB],
 * unix://[[USER]:PASSWORD@]/PATH[?db=DB]. */
struct redis_url {
	char		*host;		/* TCP; NULL for a unix socket */
	int		 port;
	char		*path;		/* a unix socket; NULL for TCP */
	char		*user;		/* an ACL user; NULL: the default */
	char		*password;	/* NULL: none */
	long long	 db;
	char		*display;	/* for messages: the password as *** */
};

/* Parses text into u (zeroed first). Returns -1 with *err (which never
 * holds the password). */
int		 redis_url_parse(const char *text, struct redis_url *u,
		    char **err);
/* Sets the password from the first line of a file, read as every secret
 * is (secret_read): an absolute path, or the name of a systemd credential
 * (in $CREDENTIALS_DIRECTORY). */
int		 redis_url_password_file(struct redis_url *, const char *name,
		    char **err);
/* A copy of src into dst. */
void		 redis_url_copy(struct redis_url *dst,
		    const struct redis_url *src);
void		 redis_url_free(struct redis_url *);	/* wipes the password */

struct redis_conn;

/* A connection to url (which must outlive it), not yet connected. Every
 * command waits at most timeout_ms for its reply. */
struct redis_conn *redis_conn_new(const struct redis_url *url,
		    int64_t timeout_ms);
void		 redis_conn_free(struct redis_conn *);	/* NULL: no-op */

/*
 * Makes sure the connection is up: returns 0 when it was, 1 when it has
 * just been (re)connected, -1 with the reason in err when it is down. After
 * a failure no new attempt is made before the backoff (100ms doubling up
 * to 2s) is over: until then it fails at once.
 */
int		 redis_conn_ready(struct redis_conn *, char *err, size_t len);
/* Milliseconds until the next connection attempt (0: now or connected). */
int64_t		 redis_conn_wait_ms(const struct redis_conn *);
/* How many times the connection has been made: a change means a new
 * connection (to a Redis that may have restarted). */
unsigned	 redis_conn_generation(const struct redis_conn *);

/*
 * Runs one command, connecting first if needed. Returns the reply (free
 * it with freeReplyObject), an error reply included; NULL with err when
 * the connection is down or broke (it is dropped; the next call
 * reconnects).
 */
redisReply	*redis_conn_command(struct redis_conn *, int argc,
		    const char **argv, const size_t *lens, char *err,
		    size_t len);
/* Pipelining on a ready connection: append commands, then read their
 * replies in order. -1 / NULL with err when the connection broke. */
int		 redis_conn_append(struct redis_conn *, int argc,
		    const char **argv, const size_t *lens, char *err,
		    size_t len);
redisReply	*redis_conn_reply(struct redis_conn *, char *err, size_t len);
/* Closes the connection (after an error the caller cannot recover). */
void		 redis_conn_drop(struct redis_conn *);

/* A growing argument vector for the commands above. */
struct redis_argv {
	const char	**argv;
	size_t		 *lens;
	char		**owned;	/* copies to free with the vector */
	int		  argc, cap, n_owned;
};

void		 redis_argv_add(struct redis_argv *, const char *s, size_t len);
void		 redis_argv_str(struct redis_argv *, const char *s);
/* Adds a copy of s, for a vector that outlives it. */
void		 redis_argv_dup(struct redis_argv *, const char *s, size_t len);
/* Adds a copy of a formatted string. */
void		 redis_argv_fmt(struct redis_argv *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
void		 redis_argv_free(struct redis_argv *);

/* The text of an error or status reply, or a description of its type. */
const char	*redis_reply_text(const redisReply *);

#endif
