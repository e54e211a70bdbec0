/* Per-sink filters: which events reach a sink. */
#ifndef FILTER_H
#define FILTER_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "livedesk/event.h"

enum filter_tri { FILTER_UNSET = 0, FILTER_ANY, FILTER_YES, FILTER_NO };

struct filter {
	char		**events;	/* NULL: every event ("*") */
	size_t		  n_events;
	int64_t		 *inboxes;	/* NULL: every inbox */
	size_t		  n_inboxes;
	/* LD_MESSAGE_TYPE_NONE stands for `any`; unset until defaults. */
	bool		  message_type_set;
	enum ld_message_type message_type;
	enum filter_tri	  private_;
	/* message_type and private came from the loop guard (an exec sink's
	 * defaults), not from the section: --dry-run says which. */
	bool		  guard_message_type;
	bool		  guard_private;
	bool		  has_match;
	char		 *match_src;
	regex_t		  match;
};

/* Takes a filter key: 0 taken, -1 bad value (*err malloc'd), 1 not a
 * filter key. */
int	filter_set(struct filter *, const char *key, const char *value,
	    char **err);
/* Fills what the section left unset. incoming_only: the loop guard. */
void	filter_defaults(struct filter *, bool incoming_only);
bool	filter_match(const struct filter *, const struct ld_event *);
/* Why ev does not pass f, naming the filter (and the loop guard when its
 * default is what refuses): a malloc'd sentence, or NULL when it passes.
 * For --dry-run; the same test as filter_match. */
char	*filter_why_not(const struct filter *, const struct ld_event *);
void	filter_print(const struct filter *, FILE *);
void	filter_destroy(struct filter *);

#endif
