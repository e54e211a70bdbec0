/* Configuration keys as tables (see config_key.h): setting, printing and
 * freeing by type, and the one wording of each error. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_key.h"
#include "util.h"

const struct config_key *
config_key_find(const struct config_key *keys, const char *name)
{
	for (; keys->name != NULL; keys++)
		if (strcmp(keys->name, name) == 0)
			return keys;
	return NULL;
}

void *
config_key_field(const struct config_key *k, const void *conf)
{
	return (char *)conf + k->off;
}

/* A size as the shortest exact way to write it: 65536 is 64k. */
static void
format_size(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "GMk";
	uint64_t mult = 1024ULL * 1024 * 1024;
	size_t i;

	for (i = 0; i < sizeof units - 1; i++, mult /= 1024)
		if (n != 0 && n % mult == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", n / mult, units[i]);
			return;
		}
	snprintf(buf, len, "%" PRIu64, n);
}

/* "'x' is not a, b or c". */
static char *
choices_error(const char *const *choices, const char *value)
{
	char *list = xstrdup(choices[0]), *tmp;
	size_t i;

	for (i = 1; choices[i] != NULL; i++) {
		tmp = xasprintf("%s%s%s", list, choices[i + 1] ? ", " : " or ",
		    choices[i]);
		free(list);
		list = tmp;
	}
	tmp = xasprintf("'%s' is not %s", value, list);
	free(list);
	return tmp;
}

/* What a value of the key's type looks like, and its range. */
static char *
type_error(const struct config_key *k, const char *value)
{
	char lo[32], hi[32];

	switch (k->type) {
	case CONFIG_KEY_INT:
		return xasprintf("'%s' is not a number from %" PRIu64 " to %"
		    PRIu64, value, k->min, k->max);
	case CONFIG_KEY_SIZE:
		format_size(k->min, lo, sizeof lo);
		format_size(k->max, hi, sizeof hi);
		return xasprintf("'%s' is not a whole number, and is not a "
		    "size, from %s to %s (write it like 65536, 64k, 1M)", value,
		    lo, hi);
	case CONFIG_KEY_DURATION:
		util_format_duration((int64_t)k->min, lo, sizeof lo);
		util_format_duration((int64_t)k->max, hi, sizeof hi);
		return xasprintf("'%s' is not a duration between %s and %s "
		    "(write it like 500ms, 30s, 5m)", value, lo, hi);
	case CONFIG_KEY_BOOL:
		return xasprintf("'%s' is not yes or no", value);
	case CONFIG_KEY_ENUM:
		return choices_error(k->choices, value);
	case CONFIG_KEY_PATH:
		return xasprintf("'%s' is not an absolute path", value);
	default:
		return xstrdup("empty value");
	}
}

static void
set_str(char **field, const char *value)
{
	if (*field != NULL)
		explicit_bzero(*field, strlen(*field));
	free(*field);
	*field = xstrdup(value);
}

int
config_key_set(const struct config_key *k, void *conf, const char *value,
    char **err)
{
	void *field = config_key_field(k, conf);
	long long ll;
	uint64_t u;
	int64_t ms;
	size_t i;

	switch (k->type) {
	case CONFIG_KEY_OWN:
		return k->own->set(conf, k, value, err);
	case CONFIG_KEY_STR:
	case CONFIG_KEY_SECRET:
		if (*value == '\0')
			break;
		set_str(field, value);
		return 0;
	case CONFIG_KEY_PATH:
		if (value[0] != '/')
			break;
		set_str(field, value);
		return 0;
	case CONFIG_KEY_INT:
		if (util_parse_int(value, (long long)k->min,
		    (long long)k->max, &ll) == -1)
			break;
		*(long long *)field = ll;
		return 0;
	case CONFIG_KEY_SIZE:
		if (util_parse_size(value, &u) == -1 || u < k->min ||
		    u > k->max)
			break;
		*(uint64_t *)field = u;
		return 0;
	case CONFIG_KEY_DURATION:
		if (util_parse_duration(value, &ms) == -1 ||
		    (uint64_t)ms < k->min || (uint64_t)ms > k->max)
			break;
		*(int64_t *)field = ms;
		return 0;
	case CONFIG_KEY_BOOL:
		if (util_parse_bool(value, field) == -1)
			break;
		return 0;
	case CONFIG_KEY_ENUM:
		for (i = 0; k->choices[i] != NULL; i++)
			if (strcmp(value, k->choices[i]) == 0) {
				*(int *)field = (int)i;
				return 0;
			}
		break;
	}
	*err = type_error(k, value);
	return -1;
}

void
config_key_defaults(const struct config_key *keys, void *conf)
{
	char *err = NULL;

	for (; keys->name != NULL; keys++)
		if (keys->def != NULL &&
		    config_key_set(keys, conf, keys->def, &err) == -1) {
			/* A table's own default is wrong: a bug, caught by
			 * the first test that loads a configuration. */
			fprintf(stderr, "the default of %s: %s\n", keys->name,
			    err);
			abort();
		}
}

int
config_key_required(const struct config_key *keys, const void *conf,
    char **err)
{
	for (; keys->name != NULL; keys++)
		if (keys->required &&
		    *(void **)config_key_field(keys, conf) == NULL) {
			*err = xasprintf("missing required key '%s'",
			    keys->name);
			return -1;
		}
	return 0;
}

static void
print_one(const struct config_key *k, const void *conf, FILE *out)
{
	const void *field = config_key_field(k, conf);
	char buf[64];

	switch (k->type) {
	case CONFIG_KEY_OWN:
		if (k->own->print != NULL) {
			k->own->print(conf, k, out);
			break;
		}
		/* FALLTHROUGH */
	case CONFIG_KEY_STR:
	case CONFIG_KEY_PATH:
		if (*(char *const *)field != NULL)
			fprintf(out, "%s = %s\n", k->name,
			    *(char *const *)field);
		else if (k->unset != NULL)
			fprintf(out, "# %s = (%s)\n", k->name, k->unset);
		break;
	case CONFIG_KEY_SECRET:
		if (*(char *const *)field != NULL)
			fprintf(out, "%s = (set, not shown)\n", k->name);
		break;
	case CONFIG_KEY_INT:
		fprintf(out, "%s = %lld\n", k->name,
		    *(const long long *)field);
		break;
	case CONFIG_KEY_SIZE:
		format_size(*(const uint64_t *)field, buf, sizeof buf);
		fprintf(out, "%s = %s\n", k->name, buf);
		break;
	case CONFIG_KEY_DURATION:
		util_format_duration(*(const int64_t *)field, buf, sizeof buf);
		fprintf(out, "%s = %s\n", k->name, buf);
		break;
	case CONFIG_KEY_BOOL:
		fprintf(out, "%s = %s\n", k->name,
		    *(const bool *)field ? "yes" : "no");
		break;
	case CONFIG_KEY_ENUM:
		fprintf(out, "%s = %s\n", k->name,
		    k->choices[*(const int *)field]);
		break;
	}
}

void
config_key_print(const struct config_key *keys, const void *conf, FILE *out)
{
	for (; keys->name != NULL; keys++)
		print_one(keys, conf, out);
}

void
config_key_free(const struct config_key *keys, void *conf)
{
	char **field;

	for (; keys->name != NULL; keys++) {
		if (keys->type == CONFIG_KEY_OWN && keys->own->free != NULL) {
			keys->own->free(conf, keys);
			continue;
		}
		if (keys->type != CONFIG_KEY_STR &&
		    keys->type != CONFIG_KEY_PATH &&
		    keys->type != CONFIG_KEY_SECRET &&
		    keys->type != CONFIG_KEY_OWN)
			continue;
		field = config_key_field(keys, conf);
		if (*field != NULL && keys->type == CONFIG_KEY_SECRET)
			explicit_bzero(*field, strlen(*field));
		free(*field);
		*field = NULL;
	}
}

/* The section's struct, made with its defaults when there is none yet. */
static void *
section_get(const struct config_key_section *sec, void **conf)
{
	if (*conf == NULL) {
		*conf = xcalloc(1, sec->size);
		config_key_defaults(sec->keys, *conf);
	}
	return *conf;
}

int
config_key_section_set(const struct config_key_section *sec, void **conf,
    const char *key, const char *value, char **err)
{
	const struct config_key *k = config_key_find(sec->keys, key);

	section_get(sec, conf);
	if (k == NULL)
		return 1;
	return config_key_set(k, *conf, value, err);
}

int
config_key_section_check(const struct config_key_section *sec, void **conf,
    char **err)
{
	section_get(sec, conf);
	if (config_key_required(sec->keys, *conf, err) == -1)
		return -1;
	return sec->check != NULL ? sec->check(*conf, err) : 0;
}

void
config_key_section_print(const struct config_key_section *sec,
    const void *conf, FILE *out)
{
	if (conf != NULL)
		config_key_print(sec->keys, conf, out);
}

void
config_key_section_free(const struct config_key_section *sec, void *conf)
{
	if (conf == NULL)
		return;
	config_key_free(sec->keys, conf);
	free(conf);
}
