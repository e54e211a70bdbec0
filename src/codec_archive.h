/*
 * The file sink's archive line, written by the file sink and read back by
 * --replay: one event per line,
 *
 *   {"received_at":"2024-05-01T12:00:00.123Z","delivery_id":"...",
 *    "event":"message_created","payload":<the payload as received>}\n
 *
 * The payload is the received bytes themselves, so that it reads back
 * exactly; a newline or carriage return in it can only be whitespace
 * between tokens (JSON strings cannot hold raw control characters), so
 * each becomes a space. Pure: no I/O, no state.
 */
#ifndef CODEC_ARCHIVE_H
#define CODEC_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "livedesk/event.h"

/*
 * The line of ev, newline included, NUL-terminated, its length in *len;
 * the caller frees it. NULL only when jansson cannot encode the fields
 * (out of memory).
 */
char		*codec_archive_encode(const struct ld_event *ev, size_t *len);

/*
 * The event of one line (its newline optional), as ld_event_parse makes
 * it from the payload's bytes (max_depth as there), with one reference:
 * delivery_id as the line has it ("" when it has none), received_usec
 * from received_at (to the millisecond; 0 when it has none). A line not
 * in the sink's exact layout (reordered or reindented by hand) still
 * reads, the payload then being jansson's compact rewrite of it. NULL
 * with *err (the caller frees it) for a line that is not an archive line
 * or whose payload is not an event.
 */
struct ld_event	*codec_archive_decode(const char *line, size_t len,
		    int max_depth, char **err);

/* Whether text, from the first character that is not blank, starts like
 * an archive line (and not like a payload as LiveDesk sends it). */
bool		 codec_archive_recognise(const char *text, size_t len);

#endif
