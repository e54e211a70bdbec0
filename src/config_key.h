/*
 * Configuration keys as tables: one row per key (its name, type, range and
 * default), and the one code that sets, checks, prints and frees what a
 * table describes, wording each kind of error once.
 */
#ifndef CONFIG_KEY_H
#define CONFIG_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_key_type {
	CONFIG_KEY_STR,		/* char *: any text but none */
	CONFIG_KEY_PATH,	/* char *: an absolute path */
	CONFIG_KEY_SECRET,	/* char *: never printed, wiped when freed */
	CONFIG_KEY_INT,		/* long long, from min to max */
	CONFIG_KEY_SIZE,	/* uint64_t bytes, from min to max */
	CONFIG_KEY_DURATION,	/* int64_t milliseconds, from min to max */
	CONFIG_KEY_BOOL,	/* bool */
	CONFIG_KEY_ENUM,	/* int: the index of the value in choices */
	CONFIG_KEY_OWN,		/* read, printed and freed by its own functions */
};

struct config_key;

/*
 * What a CONFIG_KEY_OWN key does with its value; conf is the struct the
 * table describes. set words its own errors. print and free may be NULL
 * for a value that is a char * at the key's offset, printed and freed as
 * a CONFIG_KEY_STR is.
 */
struct config_key_own {
	int	(*set)(void *conf, const struct config_key *,
		    const char *value, char **err);
	void	(*print)(const void *conf, const struct config_key *, FILE *);
	void	(*free)(void *conf, const struct config_key *);
};

/* One key. A table is an array of them that ends with a row without a
 * name; the keys are printed in its order. */
struct config_key {
	const char			*name;
	enum config_key_type		 type;
	size_t				 off;	/* of its value in the struct */
	uint64_t			 min, max; /* INT, SIZE, DURATION (ms) */
	const char			*def;	/* the default as written in
						   the file; NULL: none */
	const char *const		*choices; /* ENUM: NULL-terminated */
	const struct config_key_own	*own;	/* OWN */
	/* Printed as "# name = (unset)" while the key has no value. */
	const char			*unset;
	/* A section without it is an error (a pointer value, set once). */
	bool				 required;
};

/* A section whose struct this code allocates: a sink type's keys, or
 * [source]'s. */
struct config_key_section {
	const struct config_key	*keys;
	size_t			 size;		/* of the struct */
	/* Runs once every key is read: what the keys say together (a
	 * default made from another key, two keys that clash). May be
	 * NULL. Returns -1 with *err. */
	int			(*check)(void *conf, char **err);
};

/* The row called name, or NULL. */
const struct config_key	*config_key_find(const struct config_key *keys,
			    const char *name);
/* Where a key's value is in conf. */
void			*config_key_field(const struct config_key *,
			    const void *conf);
/* Reads value into one key's place in conf. Returns -1 with *err
 * (malloc'd), which says what a value of that type looks like. */
int			 config_key_set(const struct config_key *, void *conf,
			    const char *value, char **err);
/* Gives every key of the table that has a default its default. */
void			 config_key_defaults(const struct config_key *keys,
			    void *conf);
/* -1 with *err naming the first required key of the table without a
 * value. */
int			 config_key_required(const struct config_key *keys,
			    const void *conf, char **err);
/* Prints every key of the table as "name = value", secrets as
 * "(set, not shown)". */
void			 config_key_print(const struct config_key *keys,
			    const void *conf, FILE *);
/* Frees what the table's keys hold in conf (not conf itself), wiping
 * secrets. */
void			 config_key_free(const struct config_key *keys,
			    void *conf);

/*
 * The same for a section's own struct, *conf, which starts NULL and is
 * allocated with the defaults on first use. set returns 0 when taken, -1
 * with *err for a bad value, 1 for a key the section does not have. check
 * runs once the section is complete: required keys, then the section's
 * check. print and free take NULL.
 */
int	 config_key_section_set(const struct config_key_section *, void **conf,
	    const char *key, const char *value, char **err);
int	 config_key_section_check(const struct config_key_section *,
	    void **conf, char **err);
void	 config_key_section_print(const struct config_key_section *,
	    const void *conf, FILE *);
void	 config_key_section_free(const struct config_key_section *,
	    void *conf);

#endif
