/* The hash table that the dispatcher's conversations and the dedupe set
 * share (see hash.h). */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "util.h"

struct hash {
	struct hash_entry	**buckets;
	size_t			  n_buckets;	/* a power of two */
	size_t			  n;
	size_t			  key_len;	/* HASH_STRING: strings */
	size_t			  low;		/* no entry in a bucket below */
};

/* FNV-1a, its high half folded in: the bucket is taken from the low bits. */
static uint64_t
hash_of(const struct hash *h, const void *key)
{
	const unsigned char *p = key;
	size_t n = h->key_len == HASH_STRING ? strlen(key) : h->key_len, i;
	uint64_t v = 0xcbf29ce484222325ULL;

	for (i = 0; i < n; i++) {
		v ^= p[i];
		v *= 0x100000001b3ULL;
	}
	return v ^ (v >> 32);
}

static int
key_equal(const struct hash *h, const void *a, const void *b)
{
	if (h->key_len == HASH_STRING)
		return strcmp(a, b) == 0;
	return memcmp(a, b, h->key_len) == 0;
}

static struct hash_entry **
bucket(const struct hash *h, uint64_t hv)
{
	return &h->buckets[hv & (h->n_buckets - 1)];
}

struct hash *
hash_new(size_t key_len, size_t n)
{
	struct hash *h = xcalloc(1, sizeof *h);

	h->key_len = key_len;
	for (h->n_buckets = 1; h->n_buckets < n; h->n_buckets *= 2)
		;
	h->buckets = xcalloc(h->n_buckets, sizeof *h->buckets);
	return h;
}

void
hash_free(struct hash *h)
{
	if (h == NULL)
		return;
	free(h->buckets);
	free(h);
}

struct hash_entry *
hash_find(const struct hash *h, const void *key)
{
	uint64_t hv = hash_of(h, key);
	struct hash_entry *e;

	for (e = *bucket(h, hv); e != NULL; e = e->next)
		if (e->hv == hv && key_equal(h, e->key, key))
			return e;
	return NULL;
}

/* Twice as many buckets, once there are twice as many entries as
 * buckets. */
static void
grow(struct hash *h)
{
	struct hash_entry **old = h->buckets, *e, *next, **b;
	size_t n = h->n_buckets, i;

	h->n_buckets = n * 2;
	h->buckets = xcalloc(h->n_buckets, sizeof *h->buckets);
	h->low = 0;
	for (i = 0; i < n; i++) {
		for (e = old[i]; e != NULL; e = next) {
			next = e->next;
			b = bucket(h, e->hv);
			e->next = *b;
			*b = e;
		}
	}
	free(old);
}

void
hash_add(struct hash *h, struct hash_entry *e, const void *key)
{
	struct hash_entry **b;
	size_t i;

	if (h->n >= h->n_buckets * 2)
		grow(h);
	e->key = key;
	e->hv = hash_of(h, key);
	b = bucket(h, e->hv);
	e->next = *b;
	*b = e;
	h->n++;
	if ((i = (size_t)(b - h->buckets)) < h->low)
		h->low = i;
}

void
hash_remove(struct hash *h, struct hash_entry *e)
{
	struct hash_entry **pp = bucket(h, e->hv);

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return;
	*pp = e->next;
	e->next = NULL;
	h->n--;
}

struct hash_entry *
hash_pop(struct hash *h)
{
	struct hash_entry *e;

	for (; h->low < h->n_buckets; h->low++) {
		if ((e = h->buckets[h->low]) != NULL) {
			h->buckets[h->low] = e->next;
			e->next = NULL;
			h->n--;
			return e;
		}
	}
	return NULL;
}
