/* The keys every section that talks to Redis has (see redis_conf.h). */
#include <stdio.h>

#include "redis_conf.h"

/* A new URL replaces the old one only once it has parsed. */
static int
url_set(void *conf, const struct config_key *k, const char *value,
    char **err)
{
	struct redis_url *u = config_key_field(k, conf), parsed;

	if (redis_url_parse(value, &parsed, err) == -1)
		return -1;
	redis_url_free(u);
	*u = parsed;
	return 0;
}

/* Shown with the password as ***. */
static void
url_print(const void *conf, const struct config_key *k, FILE *out)
{
	const struct redis_url *u = config_key_field(k, conf);

	fprintf(out, "%s = %s\n", k->name, u->display);
}

static void
url_free(void *conf, const struct config_key *k)
{
	redis_url_free(config_key_field(k, conf));
}

const struct config_key_own redis_conf_url = {
	.set = url_set,
	.print = url_print,
	.free = url_free,
};

int
redis_conf_check(struct redis_url *url, const char *password_file,
    char **err)
{
	if (password_file == NULL)
		return 0;
	return redis_url_password_file(url, password_file, err);
}
