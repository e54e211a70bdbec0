/* The keys every section that talks to Redis has (the Redis sink's and
 * [source]'s): where Redis is (url, password_file) and how long a command
 * may wait for it (timeout), as rows of their tables. */
#ifndef REDIS_CONF_H
#define REDIS_CONF_H

#include <stddef.h>

#include "config_key.h"
#include "redis.h"

#define REDIS_CONF_DEFAULT_URL	"redis://127.0.0.1:6379/0"
/* What the sink writes to and a worker reads from, unless told. */
#define REDIS_CONF_DEFAULT_STREAM "livedesk:events"

/* How a url key reads, prints and frees its struct redis_url. */
extern const struct config_key_own redis_conf_url;

/* The rows, for the table of a struct st with the fields url (struct
 * redis_url), password_file (char *) and timeout_ms (int64_t). */
#define REDIS_CONF_URL(st)						\
	{ .name = "url", .type = CONFIG_KEY_OWN, .off = offsetof(st, url), \
	  .own = &redis_conf_url, .def = REDIS_CONF_DEFAULT_URL }
#define REDIS_CONF_PASSWORD_FILE(st)					\
	{ .name = "password_file", .type = CONFIG_KEY_STR,		\
	  .off = offsetof(st, password_file) }
#define REDIS_CONF_TIMEOUT(st)						\
	{ .name = "timeout", .type = CONFIG_KEY_DURATION,		\
	  .off = offsetof(st, timeout_ms), .min = 10, .max = 600000,	\
	  .def = "5s" }

/* Once the section is complete: the password of url from password_file,
 * when that is set. Returns -1 with *err. */
int	 redis_conf_check(struct redis_url *url, const char *password_file,
	    char **err);

#endif
