/*
 * Parse cost: the typed event (ld_event_parse, as the daemon calls it,
 * with the per-thread arena it installs in jansson) against json_loadb
 * alone with jansson's default allocator (malloc and free, as the floor
 * server has it), in CPU nanoseconds per payload; then the same with a
 * per-event arena of this file's given to jansson through
 * json_set_alloc_funcs, and with the event freed on another thread, as the
 * daemon's workers do.
 *
 * parse [-s SECONDS] [-r ROUNDS] FILE
 *
 * Each case runs ROUNDS times for SECONDS / ROUNDS (default 1.5 s in 5
 * rounds, the cases taking turns) and prints the median: "case=NAME ns=N". Then the heap one
 * parsed payload holds while it waits in a queue: "held=NAME bytes=N".
 */
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "livedesk/event.h"

#define MAX_DEPTH	64		/* the daemon's default max_depth */
#define BATCH		64		/* events handed over at once */
#define ROUNDS_MAX	25

/* --- a per-event arena for jansson --- */

/*
 * Every block carries a header saying where it came from, so that one free
 * function serves both: blocks from the arena are freed with it, all at
 * once; the others (jansson's allocations outside a parse) go to free().
 */
#define ARENA_CHUNK	16384
#define HDR		16

struct chunk {
	struct chunk	*next;
	size_t		 used, size;
	max_align_t	 data[];
};

struct arena {
	struct chunk	*head;
};

static _Thread_local struct arena *arena_cur;

static void *
arena_malloc(size_t n)
{
	struct arena *a = arena_cur;
	struct chunk *c;
	char *p;

	n = (n + HDR + 15) & ~(size_t)15;
	if (a == NULL) {
		if ((p = malloc(n)) == NULL)
			return NULL;
		p[0] = 0;
		return p + HDR;
	}
	if ((c = a->head) == NULL || c->size - c->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		if ((c = malloc(sizeof *c + size)) == NULL)
			return NULL;
		c->used = 0;
		c->size = size;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += n;
	p[0] = 1;
	return p + HDR;
}

static void
arena_free(void *ptr)
{
	char *p = ptr;

	if (p != NULL && p[-HDR] == 0)
		free(p - HDR);
	/* Arena blocks go with their arena. */
}

static void
arena_release(struct arena *a)
{
	struct chunk *c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

/* --- the cases --- */

struct payload {
	const char	*buf;
	size_t		 len;
};

/* One parse and free; *keep gets what the free needs (for the handover). */
typedef void	 parse_fn(const struct payload *, void **keep);
typedef void	 free_fn(void *keep);

static void
parse_loadb(const struct payload *p, void **keep)
{
	json_error_t je;

	if ((*keep = json_loadb(p->buf, p->len, 0, &je)) == NULL)
		abort();
}

static void
parse_loadb_dup(const struct payload *p, void **keep)
{
	json_error_t je;

	if ((*keep = json_loadb(p->buf, p->len, JSON_REJECT_DUPLICATES, &je))
	    == NULL)
		abort();
}

static void
free_json(void *keep)
{
	json_decref(keep);
}

static void
parse_event(const struct payload *p, void **keep)
{
	struct ld_event_error err;

	if ((*keep = ld_event_parse(p->buf, p->len, MAX_DEPTH, &err)) == NULL)
		abort();
}

static void
free_event(void *keep)
{
	ld_event_unref(keep);
}

/* An event with its arena: the pair travels to whoever frees it. */
struct arena_event {
	struct arena	 arena;
	void		*v;
};

static parse_fn *arena_inner;
static free_fn *arena_inner_free;

static void
parse_arena(const struct payload *p, void **keep)
{
	struct arena_event *ae = malloc(sizeof *ae);

	if (ae == NULL)
		abort();
	ae->arena.head = NULL;
	arena_cur = &ae->arena;
	arena_inner(p, &ae->v);
	arena_cur = NULL;
	*keep = ae;
}

static void
free_arena(void *keep)
{
	struct arena_event *ae = keep;

	arena_inner_free(ae->v);
	arena_release(&ae->arena);
	free(ae);
}

static double
thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Parse and free on this thread for secs: CPU ns per event. */
static double
run_here(const struct payload *p, parse_fn *parse, free_fn *fr, double secs)
{
	double end = mono_s() + secs, t0 = thread_ns();
	long n = 0;
	void *keep;
	int i;

	while (mono_s() < end) {
		for (i = 0; i < 100; i++) {
			parse(p, &keep);
			fr(keep);
		}
		n += 100;
	}
	return (thread_ns() - t0) / (double)n;
}

/* The handover: batches of BATCH events from the parser to the freer. */
struct handover {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	void		*batch[BATCH];
	bool		 full, done;
	free_fn		*fr;
	double		 cpu_ns;
};

static void *
freer(void *arg)
{
	struct handover *h = arg;
	void *mine[BATCH];
	double t0 = thread_ns();
	int i;

	for (;;) {
		pthread_mutex_lock(&h->lock);
		while (!h->full && !h->done)
			pthread_cond_wait(&h->cond, &h->lock);
		if (!h->full) {
			pthread_mutex_unlock(&h->lock);
			break;
		}
		memcpy(mine, h->batch, sizeof mine);
		h->full = false;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		for (i = 0; i < BATCH; i++)
			h->fr(mine[i]);
	}
	h->cpu_ns = thread_ns() - t0;
	return NULL;
}

/* Parse here, free on another thread: CPU ns per event, both threads. */
static double
run_there(const struct payload *p, parse_fn *parse, free_fn *fr, double secs)
{
	struct handover h;
	pthread_t t;
	double end = mono_s() + secs, t0 = thread_ns(), mine;
	void *batch[BATCH];
	long n = 0;
	int i;

	memset(&h, 0, sizeof h);
	pthread_mutex_init(&h.lock, NULL);
	pthread_cond_init(&h.cond, NULL);
	h.fr = fr;
	if (pthread_create(&t, NULL, freer, &h) != 0)
		abort();
	while (mono_s() < end) {
		for (i = 0; i < BATCH; i++)
			parse(p, &batch[i]);
		pthread_mutex_lock(&h.lock);
		while (h.full)
			pthread_cond_wait(&h.cond, &h.lock);
		memcpy(h.batch, batch, sizeof batch);
		h.full = true;
		pthread_cond_broadcast(&h.cond);
		pthread_mutex_unlock(&h.lock);
		n += BATCH;
	}
	mine = thread_ns() - t0;
	pthread_mutex_lock(&h.lock);
	h.done = true;
	pthread_cond_broadcast(&h.cond);
	pthread_mutex_unlock(&h.lock);
	pthread_join(t, NULL);
	return (mine + h.cpu_ns) / (double)n;
}

/* Heap bytes one parsed payload holds, over HELD_N kept at once. */
#define HELD_N	1000

static double
held(const struct payload *p, parse_fn *parse, free_fn *fr)
{
	static void *keep[HELD_N];
	size_t before, after;
	int i;

	before = mallinfo2().uordblks;
	for (i = 0; i < HELD_N; i++)
		parse(p, &keep[i]);
	after = mallinfo2().uordblks;
	for (i = 0; i < HELD_N; i++)
		fr(keep[i]);
	return ((double)after - (double)before) / HELD_N;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static const struct bench_case {
	const char	*name;
	parse_fn	*parse;
	free_fn		*fr;
	bool		 arena;
	bool		 there;
	bool		 lib;		/* with the parser's allocator */
} cases[] = {
	{ "json_loadb", parse_loadb, free_json, false, false, false },
	{ "json_loadb_reject_dup", parse_loadb_dup, free_json, false, false,
	    false },
	{ "typed_event", parse_event, free_event, false, false, true },
	{ "json_loadb_arena", parse_loadb, free_json, true, false, false },
	{ "typed_event_arena", parse_event, free_event, true, false, false },
	{ "typed_event_other_thread", parse_event, free_event, false, true,
	    true },
	{ "typed_event_arena_other_thread", parse_event, free_event, true,
	    true, false },
};
#define NCASES	(sizeof cases / sizeof cases[0])

int
main(int argc, char **argv)
{
	struct ld_event_error err;
	json_malloc_t lib_malloc;
	json_free_t lib_free;
	struct payload p;
	double secs = 1.5, ns[NCASES][ROUNDS_MAX];
	int rounds = 5, ch, r;
	size_t i, cap = 0, n;
	char *buf = NULL;
	FILE *f;

	while ((ch = getopt(argc, argv, "s:r:")) != -1) {
		switch (ch) {
		case 's': secs = atof(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (optind + 1 != argc || rounds < 1 || rounds > ROUNDS_MAX ||
	    secs <= 0)
		goto usage;
	if ((f = fopen(argv[optind], "rb")) == NULL) {
		perror(argv[optind]);
		return 1;
	}
	p.len = 0;
	do {
		if (p.len == cap && (buf = realloc(buf, cap = cap * 2 + 4096))
		    == NULL)
			abort();
		n = fread(buf + p.len, 1, cap - p.len, f);
		p.len += n;
	} while (n > 0);
	fclose(f);
	p.buf = buf;
	printf("payload bytes=%zu\n", p.len);
	/* The first parse installs the parser's allocator (and takes its
	 * arena): what the typed cases run with, and the json_loadb ones
	 * without. */
	ld_event_unref(ld_event_parse(p.buf, p.len, MAX_DEPTH, &err));
	json_get_alloc_funcs(&lib_malloc, &lib_free);
	/* Round by round, every case in turn: whatever else the machine does
	 * weighs on all cases alike. */
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < NCASES; i++) {
			const struct bench_case *c = &cases[i];
			parse_fn *parse = c->parse;
			free_fn *fr = c->fr;

			if (c->arena) {
				json_set_alloc_funcs(arena_malloc, arena_free);
				arena_inner = parse;
				arena_inner_free = fr;
				parse = parse_arena;
				fr = free_arena;
			} else if (c->lib)
				json_set_alloc_funcs(lib_malloc, lib_free);
			else
				json_set_alloc_funcs(malloc, free);
			ns[i][r] = c->there ? run_there(&p, parse, fr,
			    secs / rounds) : run_here(&p, parse, fr,
			    secs / rounds);
		}
	}
	json_set_alloc_funcs(malloc, free);
	for (i = 0; i < NCASES; i++) {
		qsort(ns[i], (size_t)rounds, sizeof ns[i][0], cmp_double);
		printf("case=%s ns=%.0f\n", cases[i].name, ns[i][rounds / 2]);
	}
	printf("held=json_loadb bytes=%.0f\n", held(&p, parse_loadb,
	    free_json));
	json_set_alloc_funcs(lib_malloc, lib_free);
	printf("held=typed_event bytes=%.0f\n", held(&p, parse_event,
	    free_event));
	free(buf);
	return 0;
usage:
	fprintf(stderr, "usage: parse [-s SECONDS] [-r ROUNDS] FILE\n");
	return 2;
}
