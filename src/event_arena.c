/*
 * A per-thread bump arena for jansson, used only while ld_event_parse
 * builds a tree it drops before returning.
 *
 * jansson's default allocator costs a malloc and a free per node (about
 * 200 for a 4 KB webhook), and json_decref walks the tree to free them.
 * Here the nodes of one parse come from chunks this thread owns, by moving
 * a pointer; free of such a node does nothing, and the whole tree goes at
 * once when the typed view holds copies of what it needs (event_arena_reset).
 *
 * json_set_alloc_funcs is process-wide: every jansson allocation on every
 * thread (configuration, codecs, metrics, the Redis source, jansson's own
 * json_dumps) comes here. Only the thread inside an ld_event_parse, between
 * event_arena_begin and event_arena_pause, allocates from its arena; every
 * other allocation is malloc's. A free tells the two apart by address: a
 * pointer inside one of this thread's chunks is the arena's. So a node of
 * the arena must never outlive the parse or cross to another thread:
 * event.c copies the strings and deep-copies (with malloc) the few values
 * it keeps.
 *
 * Under AddressSanitizer the free space of every chunk is poisoned, each
 * block is unpoisoned to its exact size with a poisoned header before it
 * (which records that size), a freed block is poisoned again, and a reset
 * poisons everything: reads past a node, into a freed one, or into a tree
 * already dropped are reported as with malloc.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event_arena.h"

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN	1
#endif
#endif

#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
/* Each block's header: its size, and a poisoned gap from the block before. */
#define HDR		16
#define POISON(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define HDR		0
#define POISON(p, n)	((void)(p), (void)(n))
#define UNPOISON(p, n)	((void)(p), (void)(n))
#endif

/* Blocks are aligned as malloc's are. */
#define ALIGN		_Alignof(max_align_t)
/* The first chunk: a 4 KB webhook's tree is about 26 KB. */
#define CHUNK_FIRST	(64 * 1024)
/* At most this much kept between parses: the largest chunk so bounded. */
#define CHUNK_KEEP	(128 * 1024)
/* At most this much in chunks during one parse; past it, malloc. */
#define ARENA_MAX	(1024 * 1024)

struct chunk {
	struct chunk	*next;
	size_t		 size, used;	/* of data */
	max_align_t	 data[];
};

struct arena {
	struct chunk	*head;		/* allocating from; older after it */
	size_t		 total;		/* sizes of all chunks */
	bool		 active;	/* inside a parse: allocate here */
	bool		 spilled;	/* a block of this parse is malloc's */
	bool		 keyed;		/* the thread-exit destructor is set */
};

static _Thread_local struct arena arena;

/* Set once under pthread_once, read-only afterwards. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static bool exit_key_ok;

static void
chunks_free(struct chunk *c)
{
	struct chunk *next;

	for (; c != NULL; c = next) {
		next = c->next;
		UNPOISON(c->data, c->size);
		free(c);
	}
}

/* At thread exit: the thread's chunks, which only it could reach. */
static void
arena_exit(void *arg)
{
	struct arena *a = arg;

	chunks_free(a->head);
	a->head = NULL;
	a->total = 0;
}

static bool
in_arena(const struct arena *a, const void *p)
{
	const struct chunk *c;
	uintptr_t u = (uintptr_t)p, lo;

	for (c = a->head; c != NULL; c = c->next) {
		lo = (uintptr_t)c->data;
		if (u >= lo && u < lo + c->size)
			return true;
	}
	return false;
}

/* A new chunk for a block of need bytes, or NULL: then malloc's. */
static struct chunk *
chunk_new(struct arena *a, size_t need)
{
	struct chunk *c;
	size_t size = a->head == NULL ? CHUNK_FIRST : a->head->size * 2;

	if (size < need)
		size = need;
	if (size > ARENA_MAX - a->total)
		return NULL;
	if ((c = malloc(sizeof *c + size)) == NULL)
		return NULL;
	/* Registered with the first chunk: without a key (pthread_key_create
	 * failed) the chunks would leak at thread exit, so none is kept. */
	if (!a->keyed) {
		if (!exit_key_ok || pthread_setspecific(exit_key, a) != 0) {
			free(c);
			return NULL;
		}
		a->keyed = true;
	}
	c->size = size;
	c->used = 0;
	c->next = a->head;
	POISON(c->data, size);
	a->head = c;
	a->total += size;
	return c;
}

static void *
arena_malloc(size_t n)
{
	struct arena *a = &arena;
	struct chunk *c;
	unsigned char *p;
	size_t need;
	void *m;

	if (!a->active)
		return malloc(n);
	if (n > ARENA_MAX)
		goto spill;
	need = HDR + (n + ALIGN - 1) / ALIGN * ALIGN;
	if ((c = a->head) == NULL || c->size - c->used < need)
		if ((c = chunk_new(a, need)) == NULL)
			goto spill;
	p = (unsigned char *)c->data + c->used + HDR;
	c->used += need;
#ifdef ARENA_ASAN
	UNPOISON(p - HDR, sizeof n);
	memcpy(p - HDR, &n, sizeof n);
	POISON(p - HDR, sizeof n);
#endif
	UNPOISON(p, n);
	return p;
spill:
	if ((m = malloc(n)) != NULL)
		a->spilled = true;
	return m;
}

static void
arena_free(void *p)
{
	if (p == NULL)
		return;
	if (!in_arena(&arena, p)) {
		free(p);
		return;
	}
	/* The arena's: it goes with the reset. */
#ifdef ARENA_ASAN
	{
		unsigned char *b = p;
		size_t n;

		UNPOISON(b - HDR, sizeof n);
		memcpy(&n, b - HDR, sizeof n);
		POISON(b - HDR, sizeof n);
		POISON(b, n);
	}
#endif
}

/* Installs the arena's functions unless someone chose others already (a
 * test's failing malloc, a benchmark's own arena): theirs stay, and
 * event_arena_begin then declines. */
static void
arena_init(void)
{
	json_malloc_t m;
	json_free_t f;

	exit_key_ok = pthread_key_create(&exit_key, arena_exit) == 0;
	json_get_alloc_funcs(&m, &f);
	if (m == malloc && f == free)
		json_set_alloc_funcs(arena_malloc, arena_free);
}

void
event_arena_init(void)
{
	(void)pthread_once(&init_once, arena_init);
}

bool
event_arena_begin(void)
{
	json_malloc_t m;
	json_free_t f;

	event_arena_init();
	json_get_alloc_funcs(&m, &f);
	if (m != arena_malloc || f != arena_free)
		return false;
	arena.active = true;
	arena.spilled = false;
	return true;
}

void
event_arena_pause(void)
{
	arena.active = false;
}

bool
event_arena_spilled(void)
{
	return arena.spilled;
}

void
event_arena_reset(void)
{
	struct arena *a = &arena;
	struct chunk *c, *keep = NULL, **pp;

	a->active = false;
	a->spilled = false;
	/* The largest chunk small enough stays, emptied: the next parse of
	 * a like body needs no malloc at all. */
	for (c = a->head; c != NULL; c = c->next)
		if (c->size <= CHUNK_KEEP && (keep == NULL || c->size > keep->size))
			keep = c;
	for (pp = &a->head; *pp != NULL;) {
		c = *pp;
		if (c == keep) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		c->next = NULL;
		chunks_free(c);
	}
	a->total = keep != NULL ? keep->size : 0;
	if (keep != NULL && keep->used > 0) {
		POISON(keep->data, keep->used);
		keep->used = 0;
	}
}
