/*
 * The JSON Lines a persistent exec handler (mode = persistent) reads and
 * writes, in one place. For each event the daemon writes one line:
 *
 *   {"delivery_id":"...","event":"...","env":{"LIVEDESK_...":"...",...},
 *    "payload":<the payload as received>}
 *
 * with "env" holding every LIVEDESK_* variable a spawned run gets, and the
 * payload byte for byte but for its line breaks (whitespace outside strings
 * in valid JSON), which become spaces. The handler answers one line:
 *
 *   {"ok":true}  or  {"ok":false,"error":"text"}
 *
 * which may echo "delivery_id" (then it must match); other keys are
 * ignored. Pure: no I/O.
 */
#ifndef CODEC_PERSIST_H
#define CODEC_PERSIST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "livedesk/event.h"

/* The longest answer line read; a longer one is a protocol error. */
#define CODEC_PERSIST_ANSWER_MAX	65536

/* ev's line, newline-ended: env is a NULL-ended "KEY=VALUE" array of
 * which the LIVEDESK_* entries are taken. malloc'd; its length in *len. */
char	*codec_persist_encode(const struct ld_event *ev, char *const *env,
	    size_t *len);

/* An event line read back (tests, tools): the event parsed as
 * ld_event_parse does (max_depth as there), its delivery id restored and
 * its "env" object in *env (a new reference). NULL with *err (malloc'd). */
struct ld_event *codec_persist_decode(const char *line, size_t len,
	    int max_depth, json_t **env, char **err);

/* A handler's answer. */
struct codec_persist_answer {
	bool	 ok;
	char	 error[400];	/* "ok": false: its "error", cut; may be "" */
};

/* The answer line for a handler (delivery_id NULL: not echoed; error
 * NULL: none), newline-ended, malloc'd. */
char	*codec_persist_answer_encode(bool ok, const char *error,
	    const char *delivery_id, size_t *len);

/* Reads one answer line (its newline may be there or not) to the event
 * delivery_id. 0, or -1 with *err (malloc'd) saying what is wrong with it,
 * quoting none of it. */
int	 codec_persist_answer_decode(const char *line, size_t len,
	    const char *delivery_id, struct codec_persist_answer *a,
	    char **err);

#endif
