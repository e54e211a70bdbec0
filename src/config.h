/* The configuration: built-in defaults, the INI file, validation. One
 * immutable object; a reload builds a new one and swaps it in whole. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config_key.h"
#include "filter.h"
#include "livedesk/sink.h"

struct netaddr_list;
struct secret_key;

struct config_sink {
	char			*name;
	int			 line;		/* of the [sink NAME] header */
	const struct sink_ops	*ops;
	void			*conf;		/* the type's own keys */
	struct filter		 filter;
	long long		 concurrency;
	long long		 retries;
	int64_t			 retry_base_ms;
	int64_t			 retry_cap_ms;
};

/* [source]: worker mode reads events from a Redis stream instead of
 * HTTP (source_redis.c has the keys' table). */
struct config_source {
	bool			 present;	/* the file has [source] */
	int			 line;		/* of its header */
	void			*conf;		/* source_redis's own keys */
};

struct config {
	char			*file;		/* NULL: the built-in default */
	/* [server] */
	char			*listen;
	char			*path;
	uint64_t		 max_body;
	uint64_t		 max_body_total;	/* every body at once */
	long long		 workers;	/* 0: one per unit of concurrency */
	long long		 queue_size;
	uint64_t		 queue_bytes;
	long long		 http_threads;
	int			 log_level;	/* an index: config_log_prio */
	long long		 max_depth;
	long long		 max_connections;
	long long		 max_connections_per_ip;
	int64_t			 connection_timeout_ms;	/* idle */
	int64_t			 request_timeout_ms;	/* whole request */
	uint64_t		 max_header_size;	/* MHD memory limit */
	int64_t			 shutdown_grace_ms;
	/* Who may enter (auth.c). Secrets come from the key, a *_file, or
	 * a systemd credential of the key's name; never printed. */
	char			*token;
	char			*signature_secret;
	char			*standard_webhooks_secret;
	int64_t			 signature_tolerance_ms;
	int64_t			 dedupe_window_ms;
	char			*allow_from;		/* CIDR list */
	char			*trusted_proxies;	/* CIDR list */
	/* The same decoded once, when the file loads, for auth.c and
	 * http.c: NULL when the key is not set, and in a configuration
	 * whose keys are set by hand after (tests, fuzzers), which auth
	 * then reads from the text above. */
	struct netaddr_list	*allow_nets;
	struct netaddr_list	*proxy_nets;
	struct secret_key	*webhooks_key;		/* of the secret */
	/* The operator's page (admin.c): a Unix socket path or ADDR:PORT,
	 * NULL: none; its token, a secret as token is. */
	char			*admin_listen;
	char			*admin_token;
	/* Nothing lost (spool.c). */
	char			*spool_dir;
	bool			 durable;
	uint64_t		 spool_max;	/* backlog bytes on disk */
	uint64_t		 spool_min_free;	/* free space to leave */

	struct config_source	 source;

	struct config_sink	*sinks;
	size_t			 n_sinks;
};

/* The keys of [server] and those every sink has (then its filters and
 * its type's, sink_ops.keys), for what wants to go through them all. */
extern const struct config_key config_server_keys[];
extern const struct config_key config_sink_keys[];

/* The built-in default: 127.0.0.1:8080, /webhook, one log sink. */
struct config	*config_default(void);
/* Reads FILE over the defaults. On errors returns NULL and *err holds
 * every error, one "FILE:LINE: ..." per line. */
struct config	*config_load(const char *file, char **err);
/* Checks what a loaded file cannot say by itself (scripts that cannot run).
 * Returns -1 with *err. */
int		 config_check(const struct config *, char **err);
/* Prints the effective configuration as an INI file. */
void		 config_print(const struct config *, FILE *);
void		 config_free(struct config *);	/* NULL is a no-op */

/* The [server] keys that differ between a and b and take a restart to
 * change (the listening socket and libmicrohttpd's limits), as a
 * comma-separated list, or NULL. */
char		*config_restart_keys(const struct config *a,
		    const struct config *b);

/* Drops every sink but the one called name (--replay --sink); -1 when
 * there is none. */
int		 config_keep_sink(struct config *, const char *name);

/* The syslog priority named by log_level. */
int		 config_log_prio(const struct config *);

#endif
