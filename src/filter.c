/* Per-sink filters: which events reach a sink (see filter.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "util.h"

/* Splits a list written "a, b c" (commas and/or spaces) into words. */
static char **
split_list(const char *value, size_t *n)
{
	char *copy = xstrdup(value), *save = NULL, *w, **out = NULL;

	*n = 0;
	for (w = strtok_r(copy, ", \t", &save); w != NULL;
	    w = strtok_r(NULL, ", \t", &save)) {
		out = xreallocarray(out, *n + 1, sizeof *out);
		out[(*n)++] = xstrdup(w);
	}
	free(copy);
	return out;
}

static void
free_list(char **l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static int
set_events(struct filter *f, const char *value, char **err)
{
	size_t n;
	char **l = split_list(value, &n);

	if (n == 0) {
		*err = xstrdup("empty list (use * for every event)");
		free(l);
		return -1;
	}
	free_list(f->events, f->n_events);
	f->events = NULL;
	f->n_events = 0;
	if (n == 1 && strcmp(l[0], "*") == 0) {
		free_list(l, n);
		return 0;
	}
	f->events = l;
	f->n_events = n;
	return 0;
}

static int
set_inboxes(struct filter *f, const char *value, char **err)
{
	size_t n, i;
	char **l = split_list(value, &n);
	long long v;
	int rc = -1;

	free(f->inboxes);
	f->inboxes = NULL;
	f->n_inboxes = 0;
	if (n == 1 && strcmp(l[0], "*") == 0) {
		rc = 0;
		goto out;
	}
	if (n == 0) {
		*err = xstrdup("empty list (use * for every inbox)");
		goto out;
	}
	f->inboxes = xcalloc(n, sizeof *f->inboxes);
	for (i = 0; i < n; i++) {
		if (util_parse_int(l[i], 0, INT64_MAX, &v) == -1) {
			*err = xasprintf("'%s' is not an inbox id", l[i]);
			free(f->inboxes);
			f->inboxes = NULL;
			goto out;
		}
		f->inboxes[i] = v;
	}
	f->n_inboxes = n;
	rc = 0;
out:
	free_list(l, n);
	return rc;
}

static int
set_message_type(struct filter *f, const char *value, char **err)
{
	enum ld_message_type t;

	if (strcmp(value, "any") == 0)
		t = LD_MESSAGE_TYPE_NONE;
	else if ((t = ld_message_type_from_name(value)) ==
	    LD_MESSAGE_TYPE_NONE) {
		*err = xasprintf("'%s' is not incoming, outgoing, activity, "
		    "template or any", value);
		return -1;
	}
	f->message_type = t;
	f->message_type_set = true;
	return 0;
}

static int
set_private(struct filter *f, const char *value, char **err)
{
	bool b;

	if (strcmp(value, "any") == 0)
		f->private_ = FILTER_ANY;
	else if (util_parse_bool(value, &b) == 0)
		f->private_ = b ? FILTER_YES : FILTER_NO;
	else {
		*err = xasprintf("'%s' is not yes, no or any", value);
		return -1;
	}
	return 0;
}

static int
set_match(struct filter *f, const char *value, char **err)
{
	char buf[256];
	int rc;

	if (f->has_match) {
		regfree(&f->match);
		free(f->match_src);
		f->has_match = false;
	}
	rc = regcomp(&f->match, value, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &f->match, buf, sizeof buf);
		*err = xasprintf("bad regular expression '%s': %s", value, buf);
		return -1;
	}
	f->match_src = xstrdup(value);
	f->has_match = true;
	return 0;
}

int
filter_set(struct filter *f, const char *key, const char *value, char **err)
{
	if (strcmp(key, "events") == 0)
		return set_events(f, value, err);
	if (strcmp(key, "inbox") == 0)
		return set_inboxes(f, value, err);
	if (strcmp(key, "message_type") == 0)
		return set_message_type(f, value, err);
	if (strcmp(key, "private") == 0)
		return set_private(f, value, err);
	if (strcmp(key, "match") == 0)
		return set_match(f, value, err);
	return 1;
}

void
filter_defaults(struct filter *f, bool incoming_only)
{
	if (!f->message_type_set) {
		f->message_type = incoming_only ? LD_MESSAGE_TYPE_INCOMING :
		    LD_MESSAGE_TYPE_NONE;
		f->message_type_set = true;
		f->guard_message_type = incoming_only;
	}
	if (f->private_ == FILTER_UNSET) {
		f->private_ = incoming_only ? FILTER_NO : FILTER_ANY;
		f->guard_private = incoming_only;
	}
}

/* The filter that refuses an event, in the order filter_match tests. */
enum filter_miss {
	FILTER_PASS,
	FILTER_MISS_EVENTS,
	FILTER_MISS_INBOX,
	FILTER_MISS_MESSAGE_TYPE,
	FILTER_MISS_PRIVATE_YES,
	FILTER_MISS_PRIVATE_NO,
	FILTER_MISS_MATCH,
};

static bool
match_event_name(const struct filter *f, const char *name)
{
	size_t i;

	if (f->events == NULL)
		return true;
	for (i = 0; i < f->n_events; i++)
		if (strcmp(f->events[i], name) == 0)
			return true;
	return false;
}

static bool
match_inbox(const struct filter *f, const struct ld_event *ev)
{
	size_t i;

	if (f->inboxes == NULL)
		return true;
	if (!ev->inbox.id.set)
		return false;
	for (i = 0; i < f->n_inboxes; i++)
		if (f->inboxes[i] == ev->inbox.id.v)
			return true;
	return false;
}

/* message_type and private speak of messages: a conversation event passes
 * them. A message event that does not say is not let through a filter that
 * asks, because the loop guard must fail closed. */
static enum filter_miss
match_message(const struct filter *f, const struct ld_event *ev)
{
	const struct ld_message *m = &ev->message;

	if (!ld_event_is_message(ev))
		return FILTER_PASS;
	if (f->message_type != LD_MESSAGE_TYPE_NONE &&
	    m->message_type != f->message_type)
		return FILTER_MISS_MESSAGE_TYPE;
	if (f->private_ == FILTER_YES && !(m->is_private.set &&
	    m->is_private.v))
		return FILTER_MISS_PRIVATE_YES;
	if (f->private_ == FILTER_NO && m->is_private.set && m->is_private.v)
		return FILTER_MISS_PRIVATE_NO;
	return FILTER_PASS;
}

/* One test for both filter_match and filter_why_not, so that what
 * --dry-run says is what the dispatcher does. */
static enum filter_miss
filter_test(const struct filter *f, const struct ld_event *ev)
{
	enum filter_miss miss;

	if (!match_event_name(f, ev->name))
		return FILTER_MISS_EVENTS;
	if (!match_inbox(f, ev))
		return FILTER_MISS_INBOX;
	if ((miss = match_message(f, ev)) != FILTER_PASS)
		return miss;
	if (f->has_match && (ev->message.content == NULL ||
	    regexec(&f->match, ev->message.content, 0, NULL, 0) != 0))
		return FILTER_MISS_MATCH;
	return FILTER_PASS;
}

bool
filter_match(const struct filter *f, const struct ld_event *ev)
{
	return filter_test(f, ev) == FILTER_PASS;
}

/* The loop guard's name, when its default is the filter that refused. */
static const char *
guard(bool by_guard)
{
	return by_guard ? " (the loop guard: an exec sink takes customers' "
	    "messages only, unless the section says otherwise)" : "";
}

char *
filter_why_not(const struct filter *f, const struct ld_event *ev)
{
	const struct ld_message *m = &ev->message;
	char *name = NULL, *why = NULL;
	const char *type;

	switch (filter_test(f, ev)) {
	case FILTER_PASS:
		return NULL;
	case FILTER_MISS_EVENTS:
		name = util_escape(ev->name, 64);
		why = xasprintf("events: %s is not in the list", name);
		break;
	case FILTER_MISS_INBOX:
		if (!ev->inbox.id.set)
			why = xstrdup("inbox: the event names no inbox");
		else
			why = xasprintf("inbox: %lld is not in the list",
			    (long long)ev->inbox.id.v);
		break;
	case FILTER_MISS_MESSAGE_TYPE:
		type = ld_message_type_name(m->message_type);
		why = xasprintf("message_type = %s: the message is %s%s",
		    ld_message_type_name(f->message_type),
		    type != NULL ? type : "of no known type",
		    guard(f->guard_message_type));
		break;
	case FILTER_MISS_PRIVATE_YES:
		why = xstrdup("private = yes: the message is not a private "
		    "note");
		break;
	case FILTER_MISS_PRIVATE_NO:
		why = xasprintf("private = no: the message is a private "
		    "note%s", guard(f->guard_private));
		break;
	case FILTER_MISS_MATCH:
		why = xasprintf("match = %s: %s", f->match_src,
		    m->content == NULL ? "the event has no message content" :
		    "the content does not match");
		break;
	}
	free(name);
	return why;
}

void
filter_print(const struct filter *f, FILE *out)
{
	static const char *const tri[] = { "any", "any", "yes", "no" };
	size_t i;

	fputs("events = ", out);
	if (f->events == NULL)
		fputs("*", out);
	for (i = 0; i < f->n_events; i++)
		fprintf(out, "%s%s", i ? ", " : "", f->events[i]);
	fputs("\ninbox = ", out);
	if (f->inboxes == NULL)
		fputs("*", out);
	for (i = 0; i < f->n_inboxes; i++)
		fprintf(out, "%s%lld", i ? ", " : "", (long long)f->inboxes[i]);
	fprintf(out, "\nmessage_type = %s\nprivate = %s\n",
	    f->message_type == LD_MESSAGE_TYPE_NONE ? "any" :
	    ld_message_type_name(f->message_type), tri[f->private_]);
	if (f->has_match)
		fprintf(out, "match = %s\n", f->match_src);
}

void
filter_destroy(struct filter *f)
{
	free_list(f->events, f->n_events);
	free(f->inboxes);
	if (f->has_match) {
		regfree(&f->match);
		free(f->match_src);
	}
	memset(f, 0, sizeof *f);
}
