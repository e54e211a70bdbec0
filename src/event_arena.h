/*
 * A per-thread bump arena for the jansson tree ld_event_parse builds and
 * drops within one call (see event_arena.c). Internal to event.c.
 */
#ifndef LD_EVENT_ARENA_H
#define LD_EVENT_ARENA_H

#include <stdbool.h>
#include <stddef.h>

/* Bodies longer than this are parsed with malloc: their trees would not
 * fit the arena a thread keeps, and are rare. */
#define EVENT_ARENA_BODY_MAX	(16 * 1024)

/* Installs the arena's allocation functions in jansson, once per process,
 * when jansson still has its default ones; every later call is a cheap
 * no-op. Called by the first event_arena_begin. */
void	event_arena_init(void);
/*
 * Sends this thread's jansson allocations to its arena until
 * event_arena_pause. False (and nothing changes) when jansson's allocation
 * functions are not the arena's: someone installed others since.
 */
bool	event_arena_begin(void);
/* Sends them to malloc again; what the arena holds stays valid. */
void	event_arena_pause(void);
/* Whether a node of the tree came from malloc since event_arena_begin
 * (the arena was full): the tree must then be freed with json_decref. */
bool	event_arena_spilled(void);
/* Drops everything the arena holds at once (ends the arena's use too).
 * No pointer into it may be used afterwards. */
void	event_arena_reset(void);

#endif
