/*
 * A chained hash table of entries its caller owns: each embeds a struct
 * hash_entry, and its key (a uint64_t, a digest: key_len bytes; or a
 * NUL-terminated string) lives beside it. The table grows as it fills. It
 * has no lock of its own (its owner's guards it), and its hash is not
 * keyed: keys a sender can choose are made unguessable first (the dedupe
 * set keys by a salted HMAC).
 */
#ifndef HASH_H
#define HASH_H

#include <stddef.h>
#include <stdint.h>

/* key_len of a table keyed by NUL-terminated strings. */
#define HASH_STRING	0

struct hash;

/* The part of an entry the table uses; the owner never touches it. */
struct hash_entry {
	struct hash_entry	*next;		/* in its bucket */
	const void		*key;		/* in the owner's struct */
	uint64_t		 hv;
};

/* The struct an entry is embedded in, as member. */
#define hash_item(e, type, member) \
	((type *)(void *)((char *)(e) - offsetof(type, member)))

/* A table of keys of key_len bytes (HASH_STRING: strings), with buckets
 * for about n entries to begin with. */
struct hash	*hash_new(size_t key_len, size_t n);
/* Frees the table, not the entries (NULL is a no-op). */
void		 hash_free(struct hash *);
struct hash_entry *hash_find(const struct hash *, const void *key);
/* Adds e under key, which must stay where it is, unchanged, for as long as
 * e is in the table. A key already there is not looked for. */
void		 hash_add(struct hash *, struct hash_entry *, const void *key);
/* Takes e out; one that is not in the table is left alone. */
void		 hash_remove(struct hash *, struct hash_entry *);
/* Takes any one entry out and returns it (NULL when empty): to free them
 * all. */
struct hash_entry *hash_pop(struct hash *);

#endif
