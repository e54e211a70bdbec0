/* The redelivery set: the keys of accepted requests, each kept for a window
 * of its own (see auth.h). */
#include <sys/random.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "auth_int.h"
#include "config.h"
#include "hash.h"
#include "util.h"

/* The redelivery set: a ring of entries in the order they came (the
 * oldest is the first to go, by the cap, or by age once it reaches the
 * head) and a hash table of the ring's live entries. The ring is calloc'd
 * memory, which costs nothing until used. Entries keep windows of their
 * own, so one that expired behind a younger head waits for the head to
 * pass it; dd_find's callers look at the expiry, not only at presence. */
enum { DD_FREE, DD_BUSY, DD_DONE };

/* A delivery id, and a MAC per signature scheme. */
#define DD_KEYS		3

struct dd_entry {
	struct hash_entry h;		/* in keys, unless DD_FREE */
	uint8_t		 key[16];	/* HMAC-SHA256(salt, what), truncated */
	int64_t		 until;		/* expires, msec */
	uint8_t		 state;
};

struct auth_dedupe {
	pthread_mutex_t	 lock;
	uint8_t		 salt[16];	/* so that chains cannot be aimed at */
	struct dd_entry	*e;		/* the ring */
	struct hash	*keys;		/* its live entries, by key */
	size_t		 cap, head, used;
};

struct auth_claim {
	size_t		 n;
	struct {
		uint8_t	 key[16];
		int64_t	 window;
		bool	 mac;		/* a signature, not a delivery id */
	} k[DD_KEYS];
};

struct auth_dedupe *
auth_dedupe_new(size_t cap)
{
	struct auth_dedupe *d = xcalloc(1, sizeof *d);

	if (cap < 1)
		cap = 1;
	if (cap > UINT32_MAX - 1)
		cap = UINT32_MAX - 1;
	d->cap = cap;
	d->e = xcalloc(cap, sizeof *d->e);
	/* As many buckets as entries: it never needs to grow. */
	d->keys = hash_new(sizeof d->e->key, cap);
	if (getrandom(d->salt, sizeof d->salt, 0) != sizeof d->salt)
		memset(d->salt, 0, sizeof d->salt);	/* still correct */
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

void
auth_dedupe_free(struct auth_dedupe *d)
{
	if (d == NULL)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d->e);
	hash_free(d->keys);
	free(d);
}

/* Adds a key to a claim: a keyed hash of the n pieces, so that ids from
 * outside cannot be chosen to collide. */
static void
dd_add(const struct auth_dedupe *d, struct auth_claim *c,
    const struct iovec *v, size_t n, int64_t window, bool mac)
{
	uint8_t h[AUTH_SHA256_LEN];

	if (auth_sig_hmac(d->salt, sizeof d->salt, v, n, h) == -1)
		abort();	/* OpenSSL out of memory, like xmalloc */
	memcpy(c->k[c->n].key, h, sizeof c->k[c->n].key);
	c->k[c->n].window = window;
	c->k[c->n].mac = mac;
	c->n++;
}

static void
dd_add_id(const struct auth_dedupe *d, struct auth_claim *c, const char *id,
    int64_t window)
{
	struct iovec v[1];

	v[0].iov_base = (void *)id;
	v[0].iov_len = strlen(id);
	dd_add(d, c, v, 1, window, false);
}

/* A MAC is keyed as a NUL, the scheme's tag and its bytes: an id, a C
 * string, never starts with a NUL, so the two never meet. */
static void
dd_add_mac(const struct auth_dedupe *d, struct auth_claim *c,
    const char tag[2], const uint8_t mac[AUTH_SHA256_LEN], int64_t window)
{
	struct iovec v[3];

	v[0].iov_base = (void *)"";
	v[0].iov_len = 1;
	v[1].iov_base = (void *)tag;
	v[1].iov_len = 2;
	v[2].iov_base = (void *)mac;
	v[2].iov_len = AUTH_SHA256_LEN;
	dd_add(d, c, v, 3, window, true);
}

static struct dd_entry *
dd_find(struct auth_dedupe *d, const uint8_t key[16])
{
	struct hash_entry *e = hash_find(d->keys, key);

	return e != NULL ? hash_item(e, struct dd_entry, h) : NULL;
}

/* Takes an entry out of the table and frees it; its ring slot stays until
 * the ring's head passes it. */
static void
dd_unlink(struct auth_dedupe *d, struct dd_entry *x)
{
	hash_remove(d->keys, &x->h);
	x->state = DD_FREE;
}

static void
dd_pop(struct auth_dedupe *d)
{
	struct dd_entry *x = &d->e[d->head];

	if (x->state != DD_FREE)
		dd_unlink(d, x);
	d->head = (d->head + 1) % d->cap;
	d->used--;
}

static void
dd_expire(struct auth_dedupe *d, int64_t now)
{
	while (d->used > 0 && (d->e[d->head].state == DD_FREE ||
	    d->e[d->head].until <= now))
		dd_pop(d);
}

static void
dd_insert(struct auth_dedupe *d, const uint8_t key[16], int state,
    int64_t until)
{
	struct dd_entry *x;

	if (d->used == d->cap)
		dd_pop(d);
	x = &d->e[(d->head + d->used) % d->cap];
	d->used++;
	memcpy(x->key, key, 16);
	x->until = until;
	x->state = (uint8_t)state;
	hash_add(d->keys, &x->h, x->key);
}

/* How strongly a live entry turns a request away: an accepted delivery
 * id (a redelivery) before an accepted MAC (a replay) before a claim in
 * flight. */
static enum auth_seen
dd_verdict(const struct dd_entry *x, bool mac)
{
	if (x->state == DD_DONE)
		return mac ? AUTH_REPLAY : AUTH_SEEN;
	return AUTH_BUSY;
}

static int
dd_rank(enum auth_seen s)
{
	switch (s) {
	case AUTH_SEEN:
		return 3;
	case AUTH_REPLAY:
		return 2;
	case AUTH_BUSY:
		return 1;
	case AUTH_NEW:
		break;
	}
	return 0;
}

/* Claims every key of c, or none of them: a replay under a new delivery
 * id must not leave that id behind. */
static enum auth_seen
dd_claim(struct auth_dedupe *d, const struct auth_claim *c, int64_t now,
    struct auth_claim **claim)
{
	enum auth_seen seen = AUTH_NEW, v;
	struct dd_entry *x;
	size_t i;

	*claim = NULL;
	if (c->n == 0)
		return AUTH_NEW;
	pthread_mutex_lock(&d->lock);
	dd_expire(d, now);
	for (i = 0; i < c->n; i++)
		if ((x = dd_find(d, c->k[i].key)) != NULL && x->until > now &&
		    dd_rank(v = dd_verdict(x, c->k[i].mac)) > dd_rank(seen))
			seen = v;
	for (i = 0; seen == AUTH_NEW && i < c->n; i++) {
		if ((x = dd_find(d, c->k[i].key)) != NULL)
			dd_unlink(d, x);	/* expired */
		dd_insert(d, c->k[i].key, DD_BUSY, now + c->k[i].window);
	}
	pthread_mutex_unlock(&d->lock);
	if (seen == AUTH_NEW) {
		*claim = xmalloc(sizeof **claim);
		**claim = *c;
	}
	return seen;
}

/*
 * How long a verified MAC is kept. A timestamp passes from tolerance
 * before now to tolerance after, in whole seconds: a replay can come up
 * to 2 x tolerance + 1 s after the first was let in, and one second more
 * covers the time from the check to the claim (the HMAC of the body).
 * With a tolerance of 0 timestamps are not checked, nothing bounds a
 * replay, and the MAC is kept as long as a delivery id.
 */
static int64_t
replay_window(const struct config *cfg)
{
	int64_t w = cfg->signature_tolerance_ms / 1000 * 2000 + 2000;

	if (cfg->signature_tolerance_ms == 0 || w < cfg->dedupe_window_ms)
		return cfg->dedupe_window_ms;
	return w;
}

enum auth_seen
auth_dedupe_claim_request(struct auth_dedupe *d, const struct config *cfg,
    const struct auth_request *r, const struct auth_macs *macs,
    int64_t now, struct auth_claim **claim)
{
	struct auth_claim c;
	int64_t mw = replay_window(cfg);
	const char *id;

	c.n = 0;
	if (cfg->dedupe_window_ms > 0 && (id = auth_delivery_id(r)) != NULL)
		dd_add_id(d, &c, id, cfg->dedupe_window_ms);
	if (mw > 0 && macs->cw)
		dd_add_mac(d, &c, "cw", macs->cw_mac, mw);
	if (mw > 0 && macs->wh)
		dd_add_mac(d, &c, "wh", macs->wh_mac, mw);
	return dd_claim(d, &c, now, claim);
}

enum auth_seen
auth_dedupe_claim(struct auth_dedupe *d, const char *id, int64_t now,
    int64_t window, struct auth_claim **claim)
{
	struct auth_claim c;

	c.n = 0;
	dd_add_id(d, &c, id, window);
	return dd_claim(d, &c, now, claim);
}

void
auth_dedupe_done(struct auth_dedupe *d, const struct auth_claim *c,
    bool accepted, int64_t now)
{
	struct dd_entry *x;
	size_t i;

	if (c == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	for (i = 0; i < c->n; i++) {
		x = dd_find(d, c->k[i].key);
		if (!accepted) {
			/* Only our own claim: had it expired in flight and
			 * another request been accepted since, that one
			 * stays. */
			if (x != NULL && x->state == DD_BUSY)
				dd_unlink(d, x);
		} else if (x != NULL) {
			x->state = DD_DONE;
			x->until = now + c->k[i].window;
		} else
			/* Pushed out by the cap while in flight: keep it
			 * now. */
			dd_insert(d, c->k[i].key, DD_DONE,
			    now + c->k[i].window);
	}
	pthread_mutex_unlock(&d->lock);
}

size_t
auth_dedupe_size(struct auth_dedupe *d)
{
	size_t i, n = 0;

	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->used; i++)
		if (d->e[(d->head + i) % d->cap].state != DD_FREE)
			n++;
	pthread_mutex_unlock(&d->lock);
	return n;
}
