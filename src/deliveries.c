/* The ring of recent deliveries (see deliveries.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_esc.h"
#include "deliveries.h"
#include "util.h"

struct deliveries {
	pthread_mutex_t	 lock;
	uint64_t	 seq;		/* entries ever added */
	struct delivery	 ring[DELIVERIES_MAX];
};

struct deliveries *
deliveries_new(void)
{
	struct deliveries *d = xcalloc(1, sizeof *d);

	pthread_mutex_init(&d->lock, NULL);
	return d;
}

void
deliveries_free(struct deliveries *d)
{
	if (d == NULL)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void
deliveries_excerpt(char *dst, size_t len, const char *s)
{
	size_t n, cut;

	if (s == NULL) {
		dst[0] = '\0';
		return;
	}
	n = strlen(s);
	if (n < len) {
		memcpy(dst, s, n + 1);
		admin_esc_fix_utf8(dst);
		return;
	}
	/* Room for "..." and the NUL, cut between UTF-8 sequences. */
	cut = util_utf8_cut(s, len - 4);
	memcpy(dst, s, cut);
	memcpy(dst + cut, "...", 4);
	admin_esc_fix_utf8(dst);
}

/* The event's part of an entry, built outside the lock. */
static void
fill(struct delivery *e, const struct ld_event *ev, const char *sink)
{
	struct ld_id cid = ld_event_conversation_id(ev);
	const char *sender = ev->message.sender.name != NULL ?
	    ev->message.sender.name : ev->contact.name;

	memset(e, 0, sizeof *e);
	e->received_usec = ev->received_usec;
	e->done_usec = util_now_usec();
	snprintf(e->id, sizeof e->id, "%s", ev->delivery_id);
	deliveries_excerpt(e->event, sizeof e->event, ev->name);
	e->conversation = cid.set ? cid.v : -1;
	e->message = ev->message.id.set ? ev->message.id.v : -1;
	deliveries_excerpt(e->sender, sizeof e->sender, sender);
	deliveries_excerpt(e->excerpt, sizeof e->excerpt, ev->message.content);
	deliveries_excerpt(e->sink, sizeof e->sink, sink);
}

/* Only the copy in is under the lock. */
static void
put(struct deliveries *d, struct delivery *e)
{
	pthread_mutex_lock(&d->lock);
	e->seq = ++d->seq;
	d->ring[(e->seq - 1) % DELIVERIES_MAX] = *e;
	pthread_mutex_unlock(&d->lock);
}

void
deliveries_add(struct deliveries *d, const struct ld_event *ev,
    const char *sink, const struct sink_result *r, int attempts)
{
	struct delivery e;

	fill(&e, ev, sink);
	e.ok = r->ok;
	e.exited = r->exited;
	e.exit_status = r->exit_status;
	e.attempts = attempts;
	e.duration_usec = r->duration_usec;
	deliveries_excerpt(e.detail, sizeof e.detail, r->detail);
	put(d, &e);
}

void
deliveries_filtered(struct deliveries *d, const struct ld_event *ev,
    const char *sink, const char *why)
{
	struct delivery e;

	fill(&e, ev, sink);
	e.filtered = true;
	deliveries_excerpt(e.detail, sizeof e.detail, why);
	put(d, &e);
}

struct delivery *
deliveries_copy(struct deliveries *d, size_t *n)
{
	struct delivery *out = xmalloc(sizeof d->ring);
	uint64_t seq, i;

	pthread_mutex_lock(&d->lock);
	seq = d->seq;
	*n = seq < DELIVERIES_MAX ? (size_t)seq : DELIVERIES_MAX;
	for (i = 0; i < *n; i++)
		out[i] = d->ring[(seq - 1 - i) % DELIVERIES_MAX];
	pthread_mutex_unlock(&d->lock);
	return out;
}
