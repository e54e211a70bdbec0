/*
 * The operator's page's memory of recent deliveries: a ring of the last
 * DELIVERIES_MAX outcomes (one per event and sink), each of a fixed size
 * (excerpts, never whole payloads), so the whole is bounded in bytes.
 * Workers add under a lock held only to copy one entry in; the page copies
 * the ring out under the same lock and renders from its copy.
 */
#ifndef DELIVERIES_H
#define DELIVERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "livedesk/event.h"
#include "livedesk/sink.h"

#define DELIVERIES_MAX	500

struct delivery {
	uint64_t	 seq;		/* 1, 2, ... in order added */
	int64_t		 received_usec;
	int64_t		 done_usec;
	char		 id[40];	/* delivery id */
	char		 event[40];
	int64_t		 conversation;	/* -1: none */
	int64_t		 message;	/* -1: none */
	char		 sender[64];
	char		 excerpt[160];	/* of the message's content */
	char		 sink[48];
	bool		 ok;
	bool		 filtered;	/* not delivered: detail says why */
	bool		 exited;
	int		 exit_status;
	int		 attempts;
	int64_t		 duration_usec;	/* of the last attempt */
	char		 detail[512];	/* why it failed; stderr's tail */
};

struct deliveries;

struct deliveries *deliveries_new(void);
void		 deliveries_free(struct deliveries *);	/* NULL: no-op */
/* One sink finished with ev (the dispatcher's sink_done). */
void		 deliveries_add(struct deliveries *, const struct ld_event *,
		    const char *sink, const struct sink_result *, int attempts);
/* ev went to no sink called sink: its filter refused it, for why. */
void		 deliveries_filtered(struct deliveries *,
		    const struct ld_event *, const char *sink,
		    const char *why);
/* A copy of the ring, newest first: *n entries, caller frees. */
struct delivery	*deliveries_copy(struct deliveries *, size_t *n);
/* s cut to fit len bytes between UTF-8 sequences, "..." marking a cut. */
void		 deliveries_excerpt(char *dst, size_t len, const char *s);

#endif
