/*
 * The Redis stream entry of an event: the fields the Redis sink XADDs,
 * which a worker (--worker) reads back into the same event, and the
 * dead letters a worker XADDs to the dead-letter stream. An entry's
 * fields, in order:
 *
 *   event            the event's name (for people and redis-cli; the
 *                    payload's own is the one read back)
 *   delivery_id      the receiver's delivery id
 *   received_usec    when the receiver took it, microseconds since the
 *                    epoch (absent: the entry id's time)
 *   conversation_id  when the payload names one (for people, as event)
 *   json             the payload, byte for byte as received
 *
 * Pure: builds argument vectors and reads replies; no I/O.
 */
#ifndef CODEC_STREAM_H
#define CODEC_STREAM_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

#include "livedesk/event.h"
#include "redis.h"

/* Appends the fields of ev's entry to a, as copies (a may outlive ev). */
void		 codec_stream_encode(struct redis_argv *a,
		    const struct ld_event *ev);

/*
 * The event of an entry: id is the entry's id, fields its field-value
 * reply; the payload is parsed as ld_event_parse does (max_depth as
 * there). NULL with *err (the caller frees it), which says what is wrong
 * with the entry, never quoting more of it than jansson's error does.
 */
struct ld_event	*codec_stream_decode(const char *id, const redisReply *fields,
		    int max_depth, char **err);

/* What a dead letter says: where the entry came from and why it is dead;
 * then either the event whose sink gave up, or the entry's own fields as
 * they were when it could not be read. */
struct codec_stream_dead {
	const char		*source_id;	/* the entry's id */
	const char		*source_stream;
	const char		*consumer;	/* the worker that gave up */
	const char		*reason;
	/* A sink gave up (sink not NULL): */
	const char		*sink;
	int			 attempts;
	/* The exit code when the program exited, the signal when one
	 * ended it (0: none); only the one that applies is written. */
	bool			 exited;
	int			 exit_status;
	int			 signal;
	const char		*detail;
	const struct ld_event	*ev;
	/* Or the entry could not be read (sink NULL): its fields, or NULL. */
	const redisReply	*fields;
};

/* Appends the fields of a dead letter to a, as copies. Read back with
 * codec_stream_decode, a sink's dead letter gives its event again. */
void		 codec_stream_encode_dead(struct redis_argv *a,
		    const struct codec_stream_dead *d);

#endif
