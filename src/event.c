/* Event parser: a webhook body into a typed, reference-counted ld_event. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "livedesk/event.h"
#include "event_arena.h"

/* Where the typed parts of an event come from, and how much room they need,
 * worked out before the one allocation that holds them. */
struct shape {
	enum ld_event_kind	 kind;
	json_t			*msg;		/* the message, or NULL */
	json_t			*conv;		/* the conversation, or NULL */
	json_t			*contact;	/* a contact event's, the widget's */
	json_t			*inbox;		/* the inbox object, or NULL */
	bool			 typing;	/* a typing event */
	json_t			*typist;	/* its user, or NULL */
	size_t			 n_labels;
	size_t			 n_attachments;
	size_t			 n_changes;
};

/* Seconds that still fit int64_t once multiplied into microseconds. */
#define USEC_SEC_MAX	(INT64_MAX / 1000000)

static const char *const kind_names[] = {
	[LD_EVENT_UNKNOWN] = "unknown",
	[LD_EVENT_CONVERSATION_CREATED] = "conversation_created",
	[LD_EVENT_CONVERSATION_UPDATED] = "conversation_updated",
	[LD_EVENT_CONVERSATION_STATUS_CHANGED] = "conversation_status_changed",
	[LD_EVENT_MESSAGE_CREATED] = "message_created",
	[LD_EVENT_MESSAGE_UPDATED] = "message_updated",
};

static const char *const message_type_names[] = {
	[LD_MESSAGE_TYPE_INCOMING] = "incoming",
	[LD_MESSAGE_TYPE_OUTGOING] = "outgoing",
	[LD_MESSAGE_TYPE_ACTIVITY] = "activity",
	[LD_MESSAGE_TYPE_TEMPLATE] = "template",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static void set_error(struct ld_event_error *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills err (which may be NULL) with the status to answer and why. */
static void
set_error(struct ld_event_error *err, int status, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof err->text, fmt, ap);
	va_end(ap);
}

/*
 * Valid JSON that jansson refuses: a number beyond a double or int64_t
 * (1e400, 2^64) and an object key holding \u0000. Each refusal is mended
 * in a private copy of the body, the same length, and the body parsed
 * again; the raw bytes the sinks get stay the original. Each mend costs
 * another parse, so there is a bound.
 */
#define MEND_MAX	16

/* The characters a JSON number is written with. */
static bool
number_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
	    c == 'e' || c == 'E';
}

/* What may come just before a value in valid JSON. */
static bool
before_value(char c)
{
	return c == ':' || c == ',' || c == '[' || c == ' ' || c == '\t' ||
	    c == '\n' || c == '\r';
}

static size_t
digits(const char *s, size_t i, size_t n)
{
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

/* Whether s[0..n) is exactly one JSON number (RFC 8259, section 6). */
static bool
json_number(const char *s, size_t n)
{
	size_t i = 0, j;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		i = digits(s, i, n);
	else
		return false;
	if (i < n && s[i] == '.') {
		if ((j = digits(s, i + 1, n)) == i + 1)
			return false;
		i = j;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if ((j = digits(s, i, n)) == i)
			return false;
		i = j;
	}
	return i == n;
}

/*
 * jansson's position for a number it cannot hold is the end of the number
 * token. The token is overwritten with 1e300 (or -1e300) and spaces: a
 * number still beyond every typed field (ids fit int64_t, times are within
 * 2^63 microseconds), so each reads it as absent, while a conversation id
 * so mended is still seen as given and unusable. Every number jansson
 * cannot hold is long enough: the shortest real beyond DBL_MAX (1.8e308)
 * is "2e308", "-2e308" when negative; an integer beyond int64_t has 19
 * digits. Returns false, leaving b alone, when the position does not end
 * a number that starts where a value may.
 */
static bool
mend_number(char *b, size_t end)
{
	size_t start = end, n;
	const char *with;

	while (start > 0 && number_char(b[start - 1]))
		start--;
	if (start == end)
		return false;
	with = b[start] == '-' ? "-1e300" : "1e300";
	n = strlen(with);
	if (end - start < n || !json_number(b + start, end - start) ||
	    (start > 0 && !before_value(b[start - 1])))
		return false;
	memcpy(b + start, with, n);
	memset(b + start + n, ' ', end - start - n);
	return true;
}

/*
 * jansson's position for a key holding \u0000 is just past the key's
 * closing quote. Each \u0000 escape in it becomes \uFFFF, a noncharacter
 * that no real key holds; changes_parse leaves such a name out. (Should
 * that make two keys of one object equal, the body is refused as having
 * duplicate keys.) Returns false, leaving b alone, when the position does
 * not end such a key.
 */
static bool
mend_key(char *b, size_t end)
{
	size_t open, i, bs;
	bool found = false;

	if (end < 2 || b[end - 1] != '"')
		return false;
	/* Inside a string a quote is always escaped, after an odd run of
	 * backslashes: the first quote back after an even run opens it. */
	for (open = end - 1; open-- > 0;) {
		if (b[open] != '"')
			continue;
		for (bs = 0; bs < open && b[open - 1 - bs] == '\\'; bs++)
			;
		if (bs % 2 == 0)
			break;
	}
	if (open == SIZE_MAX)
		return false;
	for (i = open + 1; i + 1 < end - 1; i++) {
		if (b[i] != '\\')
			continue;
		if (b[++i] == 'u' && i + 5 <= end - 1 &&
		    memcmp(b + i + 1, "0000", 4) == 0) {
			memcpy(b + i + 1, "FFFF", 4);
			found = true;
		}
	}
	return found;
}

/* Mends the refusal je describes in b (len bytes); false when it cannot. */
static bool
mend(char *b, size_t len, const json_error_t *je)
{
	size_t end;

	if (je->position <= 0 || (size_t)je->position > len)
		return false;
	end = (size_t)je->position;
	switch (json_error_code(je)) {
	case json_error_numeric_overflow:
		return mend_number(b, end);
	case json_error_null_byte_in_key:
		return mend_key(b, end);
	default:
		return false;
	}
}

/* Turns json_loadb's complaint into ours; errno is as the call left it. */
static void
load_error(struct ld_event_error *err, const json_error_t *je, int errnum)
{
	/*
	 * Running out of memory is our failure, not the sender's: a 500, not
	 * a 400. jansson says so only sometimes: it may leave the text empty
	 * (je was zeroed before the call), or report a failed allocation in
	 * its lexer as a syntax error, so malloc's ENOMEM decides as well.
	 */
	if (errnum == ENOMEM || je->text[0] == '\0' ||
	    json_error_code(je) == json_error_out_of_memory) {
		set_error(err, 500, "out of memory while parsing JSON");
		return;
	}
	set_error(err, 400, "invalid JSON at line %d, column %d: %.150s",
	    je->line, je->column, je->text);
}

/*
 * Parses body as JSON, mending in a copy what jansson refuses although it
 * is valid (see MEND_MAX). Strings may hold \u0000: str_get leaves such a
 * string out of the typed view. Returns NULL and fills err on failure.
 */
static json_t *
json_load(const char *body, size_t len, struct ld_event_error *err)
{
	const size_t flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;
	const char *text = body;
	char *copy = NULL;
	json_error_t je;
	json_t *root;
	int n, errnum;

	for (n = 0;; n++) {
		memset(&je, 0, sizeof je);
		errno = 0;
		root = json_loadb(text, len, flags, &je);
		errnum = errno;
		if (root != NULL)
			break;
		if (json_error_code(&je) != json_error_numeric_overflow &&
		    json_error_code(&je) != json_error_null_byte_in_key) {
			load_error(err, &je, errnum);
			break;
		}
		if (n == MEND_MAX) {
			set_error(err, 400, "JSON holds more than %d numbers "
			    "beyond a double or a 64-bit integer, or keys with "
			    "\\u0000: the last at line %d, column %d",
			    MEND_MAX, je.line, je.column);
			break;
		}
		if (copy == NULL) {
			if ((copy = malloc(len)) == NULL) {
				set_error(err, 500, "out of memory for a copy "
				    "of a %zu-byte body", len);
				break;
			}
			memcpy(copy, body, len);
			text = copy;
		}
		/* A refusal that cannot be mended is the body's own
		 * error, at the same place as in the original: every
		 * mend keeps the length and the line breaks. */
		if (!mend(copy, len, &je)) {
			load_error(err, &je, errnum);
			break;
		}
	}
	free(copy);
	return root;
}

/* The caller keeps the tree, so it is malloc's, never the arena's. */
json_t *
ld_event_json_load(const char *body, size_t len, struct ld_event_error *err)
{
	return json_load(body, len, err);
}

/*
 * True when no array or object under v (itself at depth d) sits deeper than
 * max. Recursion stops one level past max, so the stack it uses is bounded
 * by max, and jansson has already bounded the tree by JSON_PARSER_MAX_DEPTH.
 */
static bool
depth_within(json_t *v, int d, int max)
{
	json_t *child;
	void *it;
	size_t i;

	if (d > max)
		return false;
	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			if ((json_is_array(child) || json_is_object(child)) &&
			    !depth_within(child, d + 1, max))
				return false;
		return true;
	}
	for (it = json_object_iter(v); it != NULL;
	    it = json_object_iter_next(v, it)) {
		child = json_object_iter_value(it);
		if ((json_is_array(child) || json_is_object(child)) &&
		    !depth_within(child, d + 1, max))
			return false;
	}
	return true;
}

static enum ld_event_kind
kind_from_name(const char *name)
{
	size_t k;

	for (k = 1; k < NELEM(kind_names); k++)
		if (strcmp(name, kind_names[k]) == 0)
			return (enum ld_event_kind)k;
	return LD_EVENT_UNKNOWN;
}

/* A string's value; one holding \u0000 is not one for the typed view,
 * where a C string would cut it short. */
static const char *
str_value(const json_t *v)
{
	const char *s = json_string_value(v);

	if (s != NULL && memchr(s, '\0', json_string_length(v)) != NULL)
		return NULL;
	return s;
}

static const char *
str_get(const json_t *o, const char *key)
{
	return str_value(json_object_get(o, key));
}

/* An id: an integer, or a real that is integral and fits int64_t (some
 * serialisers write 42.0); anything else, strings included, is absent. */
static struct ld_id
id_get(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	struct ld_id id = { false, 0 };
	double d;

	if (json_is_integer(v)) {
		id.set = true;
		id.v = json_integer_value(v);
	} else if (json_is_real(v)) {
		d = json_real_value(v);
		/* Range first: an out-of-range conversion is undefined. */
		if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
		    (double)(int64_t)d == d) {
			id.set = true;
			id.v = (int64_t)d;
		}
	}
	return id;
}

static struct ld_bool
bool_get(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	struct ld_bool b = { false, false };

	if (json_is_boolean(v)) {
		b.set = true;
		b.v = json_is_true(v);
	}
	return b;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
two_digits(const char *p, int *v)
{
	if (!is_digit(p[0]) || !is_digit(p[1]))
		return false;
	*v = (p[0] - '0') * 10 + (p[1] - '0');
	return true;
}

/* Reads the digits after the decimal point: six make the microseconds, a
 * seventh rounds them, any further ones are ignored. */
static const char *
fraction_parse(const char *p, int64_t *usec)
{
	int64_t v = 0;
	int n;

	if (!is_digit(*p))
		return NULL;
	for (n = 0; is_digit(*p); p++, n++) {
		if (n < 6)
			v = v * 10 + (*p - '0');
		else if (n == 6 && *p >= '5')
			v++;
	}
	for (; n < 6; n++)
		v *= 10;
	*usec = v;
	return p;
}

/* Reads the zone: "Z", "+07:00", "-0500", "+07", or nothing, taken as UTC
 * because Rails always writes one and a guess at local time would be worse.
 * *off is the offset east of UTC in seconds. */
static bool
offset_parse(const char *p, int64_t *off)
{
	int sign, hh, mm = 0;

	*off = 0;
	if (*p == '\0')
		return true;
	if (*p == 'Z' || *p == 'z')
		return p[1] == '\0';
	if (*p != '+' && *p != '-')
		return false;
	sign = *p++ == '-' ? -1 : 1;
	if (!two_digits(p, &hh))
		return false;
	p += 2;
	if (*p == ':' && p[1] == '\0')
		return false;
	if (*p == ':')
		p++;
	if (*p != '\0') {
		if (!two_digits(p, &mm))
			return false;
		p += 2;
	}
	if (*p != '\0' || hh > 23 || mm > 59)
		return false;
	*off = sign * (hh * 3600 + mm * 60);
	return true;
}

/*
 * Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). Used instead of timegm(3), which in glibc takes the
 * timezone lock and keeps a static guess shared by all threads.
 */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* ISO-8601 date and time, with optional fraction and zone; a date alone,
 * an epoch in a string or trailing text is refused. */
static bool
time_from_iso(const char *s, int64_t *usec)
{
	struct tm tm;
	const char *p;
	int64_t frac = 0, off, secs;

	/* strptime skips leading blanks; a timestamp has none. */
	if (!is_digit(*s))
		return false;
	memset(&tm, 0, sizeof tm);
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return false;
	if (*p == '.' || *p == ',')
		if ((p = fraction_parse(p + 1, &frac)) == NULL)
			return false;
	if (!offset_parse(p, &off))
		return false;
	secs = days_from_civil(tm.tm_year + 1900LL, tm.tm_mon + 1, tm.tm_mday) *
	    86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec - off;
	*usec = secs * 1000000 + frac;
	return true;
}

/* Epoch seconds as a double, rounded to the nearest microsecond. */
static struct ld_time
time_from_real(double d)
{
	struct ld_time t = { false, 0 };
	int64_t s;
	double f;

	if (!(d > -(double)USEC_SEC_MAX && d < (double)USEC_SEC_MAX))
		return t;
	s = (int64_t)d;
	if ((double)s > d)
		s--;
	/*
	 * The double is a little off (1768967324.268219 is stored as
	 * ...268218994), so round to the nearest microsecond, not down.
	 * Split first: d - s is exact, and scaling only the fraction keeps
	 * the product exact enough, where d * 1e6 (about 1.8e15) would
	 * already be rounded to a quarter microsecond.
	 */
	f = d - (double)s;
	t.usec = s * 1000000 + (int64_t)(f * 1e6 + 0.5);
	t.set = true;
	return t;
}

/* A time in any of the three forms the payloads use. */
static struct ld_time
time_get(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	struct ld_time t = { false, 0 };
	json_int_t i;

	if (json_is_integer(v)) {
		i = json_integer_value(v);
		if (i >= -USEC_SEC_MAX && i <= USEC_SEC_MAX) {
			t.set = true;
			t.usec = (int64_t)i * 1000000;
		}
	} else if (json_is_real(v))
		t = time_from_real(json_real_value(v));
	else if (str_value(v) != NULL)
		t.set = time_from_iso(str_value(v), &t.usec);
	return t;
}

/* The string form at a message's top level, the integer form inside
 * conversation.messages[]. */
static enum ld_message_type
message_type_get(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	json_int_t i;

	if (json_is_string(v))
		return ld_message_type_from_name(str_value(v));
	if (json_is_integer(v)) {
		i = json_integer_value(v);
		if (i >= LD_MESSAGE_TYPE_INCOMING &&
		    i <= LD_MESSAGE_TYPE_TEMPLATE)
			return (enum ld_message_type)i;
	}
	return LD_MESSAGE_TYPE_NONE;
}

static void
person_parse(const json_t *o, struct ld_person *p)
{
	if (!json_is_object(o))
		return;
	p->id = id_get(o, "id");
	p->name = str_get(o, "name");
	p->email = str_get(o, "email");
	p->phone_number = str_get(o, "phone_number");
	p->identifier = str_get(o, "identifier");
	p->type = str_get(o, "type");
	p->availability = str_get(o, "availability");
	p->thumbnail = str_get(o, "thumbnail");
	p->blocked = bool_get(o, "blocked");
}

static void
contact_inbox_parse(const json_t *o, struct ld_contact_inbox *ci)
{
	if (!json_is_object(o))
		return;
	ci->id = id_get(o, "id");
	ci->contact_id = id_get(o, "contact_id");
	ci->inbox_id = id_get(o, "inbox_id");
	ci->source_id = str_get(o, "source_id");
	ci->pubsub_token = str_get(o, "pubsub_token");
	ci->hmac_verified = bool_get(o, "hmac_verified");
	ci->created_at = time_get(o, "created_at");
	ci->updated_at = time_get(o, "updated_at");
}

static void
team_parse(const json_t *o, struct ld_team *t)
{
	t->id = id_get(o, "id");
	t->name = str_get(o, "name");
}

static size_t
count_strings(const json_t *a)
{
	const json_t *v;
	size_t i, n = 0;

	json_array_foreach(a, i, v)
		n += str_value(v) != NULL;
	return n;
}

static size_t
count_objects(const json_t *a)
{
	const json_t *v;
	size_t i, n = 0;

	json_array_foreach(a, i, v)
		n += json_is_object(v);
	return n;
}

/* One change per key of every object in changed_attributes. */
static size_t
count_changes(const json_t *a)
{
	const json_t *v;
	size_t i, n = 0;

	json_array_foreach(a, i, v)
		n += json_object_size(v);
	return n;
}

/* c->labels already points at room for every string in the array. */
static void
conversation_parse(const json_t *o, struct ld_conversation *c)
{
	const json_t *meta, *v;
	size_t i;

	c->present = true;
	c->id = id_get(o, "id");
	c->inbox_id = id_get(o, "inbox_id");
	c->status = str_get(o, "status");
	c->priority = str_get(o, "priority");
	c->channel = str_get(o, "channel");
	c->can_reply = bool_get(o, "can_reply");
	c->unread_count = id_get(o, "unread_count");
	json_array_foreach(json_object_get(o, "labels"), i, v)
		if (str_value(v) != NULL)
			c->labels[c->n_labels++] = str_value(v);
	contact_inbox_parse(json_object_get(o, "contact_inbox"),
	    &c->contact_inbox);
	meta = json_object_get(o, "meta");
	person_parse(json_object_get(meta, "sender"), &c->sender);
	person_parse(json_object_get(meta, "assignee"), &c->assignee);
	team_parse(json_object_get(meta, "team"), &c->team);
	c->created_at = time_get(o, "created_at");
	c->updated_at = time_get(o, "updated_at");
	c->last_activity_at = time_get(o, "last_activity_at");
	c->waiting_since = time_get(o, "waiting_since");
	c->snoozed_until = time_get(o, "snoozed_until");
	c->first_reply_created_at = time_get(o, "first_reply_created_at");
	c->timestamp = time_get(o, "timestamp");
}

static void
attachment_parse(const json_t *o, struct ld_attachment *a)
{
	a->id = id_get(o, "id");
	a->message_id = id_get(o, "message_id");
	a->file_type = str_get(o, "file_type");
	a->extension = str_get(o, "extension");
	a->data_url = str_get(o, "data_url");
	a->thumb_url = str_get(o, "thumb_url");
	a->file_size = id_get(o, "file_size");
	a->width = id_get(o, "width");
	a->height = id_get(o, "height");
}

/* m->attachments already points at room for every object in the array. */
static void
message_parse(const json_t *o, struct ld_message *m)
{
	const json_t *v;
	size_t i;

	m->present = true;
	m->id = id_get(o, "id");
	m->content = str_get(o, "content");
	m->content_type = str_get(o, "content_type");
	m->message_type = message_type_get(o, "message_type");
	m->is_private = bool_get(o, "private");
	m->status = str_get(o, "status");
	m->source_id = str_get(o, "source_id");
	m->in_reply_to = id_get(json_object_get(o, "content_attributes"),
	    "in_reply_to");
	m->external_error = str_get(json_object_get(o, "content_attributes"),
	    "external_error");
	m->contact_id = id_get(o, "contact_id");
	person_parse(json_object_get(o, "sender"), &m->sender);
	json_array_foreach(json_object_get(o, "attachments"), i, v)
		if (json_is_object(v))
			attachment_parse(v,
			    &m->attachments[m->n_attachments++]);
	m->created_at = time_get(o, "created_at");
}

/* changed_attributes: [{name: {previous_value, current_value}}, ...]. A key
 * whose value is not an object is still a change, with both values absent;
 * a key that held \u0000 (mend_key made it U+FFFF) is left out. */
static void
changes_parse(json_t *a, struct ld_event *ev)
{
	struct ld_change *c;
	const char *name;
	json_t *o, *v;
	void *it;
	size_t i;

	json_array_foreach(a, i, o) {
		for (it = json_object_iter(o); it != NULL;
		    it = json_object_iter_next(o, it)) {
			name = json_object_iter_key(it);
			if (strstr(name, "\xef\xbf\xbf") != NULL)
				continue;
			c = &ev->changes[ev->n_changes++];
			v = json_object_iter_value(it);
			c->name = name;
			c->previous = json_object_get(v, "previous_value");
			c->current = json_object_get(v, "current_value");
		}
	}
}

/*
 * Where the events the upstream sender emits keep their parts (see struct
 * ld_event), by name; the five the vendor documents go by kind.
 */
enum layout {
	LAYOUT_GUESS,		/* a name not known: see shape_find */
	LAYOUT_MESSAGE,
	LAYOUT_CONVERSATION,
	LAYOUT_TYPING,
	LAYOUT_WIDGET,
	LAYOUT_CONTACT,
	LAYOUT_INBOX,
};

static const struct {
	const char	*name;
	bool		 prefix;	/* name is a prefix of the event's */
	enum layout	 layout;
} layouts[] = {
	{ "conversation_typing_on", false, LAYOUT_TYPING },
	{ "conversation_typing_off", false, LAYOUT_TYPING },
	{ "webwidget_triggered", false, LAYOUT_WIDGET },
	{ "contact_created", false, LAYOUT_CONTACT },
	{ "contact_updated", false, LAYOUT_CONTACT },
	{ "inbox_created", false, LAYOUT_INBOX },
	{ "inbox_updated", false, LAYOUT_INBOX },
	/* Automation rules and macros send the conversation. */
	{ "automation_event.", true, LAYOUT_CONVERSATION },
	{ "macro.executed", false, LAYOUT_CONVERSATION },
};

static enum layout
layout_of(enum ld_event_kind kind, const char *name)
{
	size_t i, n;

	switch (kind) {
	case LD_EVENT_MESSAGE_CREATED:
	case LD_EVENT_MESSAGE_UPDATED:
		return LAYOUT_MESSAGE;
	case LD_EVENT_CONVERSATION_CREATED:
	case LD_EVENT_CONVERSATION_UPDATED:
	case LD_EVENT_CONVERSATION_STATUS_CHANGED:
		return LAYOUT_CONVERSATION;
	default:
		break;
	}
	for (i = 0; i < NELEM(layouts); i++) {
		n = strlen(layouts[i].name);
		if (layouts[i].prefix ? strncmp(name, layouts[i].name, n) == 0 :
		    strcmp(name, layouts[i].name) == 0)
			return layouts[i].layout;
	}
	return LAYOUT_GUESS;
}

static bool
looks_like_conversation(const json_t *o)
{
	return json_object_get(o, "contact_inbox") != NULL ||
	    json_object_get(o, "inbox_id") != NULL ||
	    json_object_get(o, "meta") != NULL ||
	    json_object_get(o, "messages") != NULL;
}

/* The object under key, or NULL when it is absent or not an object. */
static json_t *
object_get(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_object(v) ? v : NULL;
}

static void
shape_find(json_t *root, enum ld_event_kind kind, const char *name,
    struct shape *sh)
{
	json_t *nested = object_get(root, "conversation");

	memset(sh, 0, sizeof *sh);
	sh->kind = kind;
	sh->inbox = object_get(root, "inbox");
	switch (layout_of(kind, name)) {
	case LAYOUT_MESSAGE:
		sh->msg = root;
		sh->conv = nested;
		break;
	case LAYOUT_CONVERSATION:
		sh->conv = root;
		break;
	case LAYOUT_TYPING:
		sh->typing = true;
		sh->conv = nested;
		sh->typist = object_get(root, "user");
		break;
	case LAYOUT_WIDGET:
		/* The top level is the contact inbox, its id not a
		 * conversation's. */
		sh->conv = object_get(root, "current_conversation");
		sh->contact = object_get(root, "contact");
		break;
	case LAYOUT_CONTACT:
		sh->contact = root;
		break;
	case LAYOUT_INBOX:
		sh->inbox = root;
		break;
	case LAYOUT_GUESS:
		/* A nested conversation means the top level is a message;
		 * otherwise the top level is a conversation only if it
		 * looks like one, so that an id of something else is not
		 * taken for a conversation's. */
		sh->msg = nested != NULL ? root : NULL;
		sh->conv = nested != NULL ? nested :
		    looks_like_conversation(root) ? root : NULL;
		break;
	}
	if (sh->conv != NULL)
		sh->n_labels = count_strings(json_object_get(sh->conv,
		    "labels"));
	if (sh->msg != NULL)
		sh->n_attachments = count_objects(json_object_get(sh->msg,
		    "attachments"));
	sh->n_changes = count_changes(json_object_get(root,
	    "changed_attributes"));
}

static size_t
align_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

/*
 * One block holds the event, its attachments, changes, label pointers and
 * the copy of the raw body, so that parsing costs one malloc besides
 * jansson's and unref one free. Returns NULL when out of memory.
 */
static struct ld_event *
event_new(const struct shape *sh, const char *body, size_t len)
{
	size_t off_att, off_chg, off_lab, off_raw;
	struct ld_event *ev;
	char *base;

	off_att = align_up(sizeof *ev, _Alignof(struct ld_attachment));
	off_chg = align_up(off_att + sh->n_attachments *
	    sizeof(struct ld_attachment), _Alignof(struct ld_change));
	off_lab = align_up(off_chg + sh->n_changes * sizeof(struct ld_change),
	    _Alignof(const char *));
	off_raw = off_lab + sh->n_labels * sizeof(const char *);
	if (len > SIZE_MAX - off_raw - 1 ||
	    (base = malloc(off_raw + len + 1)) == NULL)
		return NULL;
	ev = (struct ld_event *)base;
	memset(ev, 0, sizeof *ev);
	if (sh->n_attachments > 0)
		ev->message.attachments =
		    (struct ld_attachment *)(base + off_att);
	if (sh->n_changes > 0)
		ev->changes = (struct ld_change *)(base + off_chg);
	if (sh->n_labels > 0)
		ev->conversation.labels = (const char **)(base + off_lab);
	if (len > 0)
		memcpy(base + off_raw, body, len);
	base[off_raw + len] = '\0';
	ev->raw = base + off_raw;
	ev->raw_len = len;
	ev->message.message_type = LD_MESSAGE_TYPE_NONE;
	ev->refs = 1;
	return ev;
}

/* Whether o has key with a value other than null. */
static bool
named(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return v != NULL && !json_is_null(v);
}

/* Fills the typed view from the tree root. */
static void
event_fill(struct ld_event *ev, json_t *root, const struct shape *sh)
{
	const json_t *acct;

	if (sh->conv != NULL)
		conversation_parse(sh->conv, &ev->conversation);
	if (sh->msg != NULL)
		message_parse(sh->msg, &ev->message);
	if (sh->contact != NULL)
		person_parse(sh->contact, &ev->contact);
	if (sh->typing) {
		ev->typing.present = true;
		person_parse(sh->typist, &ev->typing.user);
		ev->typing.is_private = bool_get(root, "is_private");
	}
	changes_parse(json_object_get(root, "changed_attributes"), ev);

	acct = json_object_get(root, "account");
	if (!json_is_object(acct))
		acct = json_object_get(sh->conv, "account");
	ev->account.id = id_get(acct, "id");
	ev->account.name = str_get(acct, "name");

	ev->inbox.id = id_get(sh->inbox, "id");
	ev->inbox.name = str_get(sh->inbox, "name");
	if (!ev->inbox.id.set)
		ev->inbox.id = ev->conversation.inbox_id;
	/* Where ld_event_conversation_id looks. */
	ev->conversation_id_named = named(sh->conv, "id") ||
	    (sh->msg != NULL && named(root, "conversation_id"));
}

/* The customer, when the event has none of its own (contact and widget
 * events do): the message's sender when it is a contact, else the
 * conversation's meta.sender. A copy of one of them, made last. */
static void
contact_derive(struct ld_event *ev, const struct shape *sh)
{
	if (sh->contact != NULL)
		return;
	if (ev->message.sender.type != NULL &&
	    strcasecmp(ev->message.sender.type, "contact") == 0)
		ev->contact = ev->message.sender;
	else
		ev->contact = ev->conversation.sender;
}

typedef void slot_fn(const char **, void *);

static void
person_slots(struct ld_person *p, slot_fn *fn, void *arg)
{
	fn(&p->name, arg); fn(&p->email, arg); fn(&p->phone_number, arg);
	fn(&p->identifier, arg); fn(&p->type, arg); fn(&p->availability, arg);
	fn(&p->thumbnail, arg);
}

static void
visit_strings(struct ld_event *ev, slot_fn *fn, void *arg)
{
	struct ld_conversation *c = &ev->conversation;
	struct ld_message *m = &ev->message;
	size_t i;

	fn(&ev->name, arg);
	fn(&ev->account.name, arg);
	fn(&ev->inbox.name, arg);
	fn(&c->status, arg); fn(&c->priority, arg); fn(&c->channel, arg);
	for (i = 0; i < c->n_labels; i++)
		fn(&c->labels[i], arg);
	fn(&c->contact_inbox.source_id, arg);
	fn(&c->contact_inbox.pubsub_token, arg);
	person_slots(&c->sender, fn, arg);
	person_slots(&c->assignee, fn, arg);
	fn(&c->team.name, arg);
	fn(&m->content, arg); fn(&m->content_type, arg); fn(&m->status, arg);
	fn(&m->external_error, arg); fn(&m->source_id, arg);
	person_slots(&m->sender, fn, arg);
	/* Copied here only when the event has a contact of its own; else
	 * contact_derive copies a person already copied, after this. */
	person_slots(&ev->contact, fn, arg);
	person_slots(&ev->typing.user, fn, arg);
	for (i = 0; i < m->n_attachments; i++) {
		fn(&m->attachments[i].file_type, arg);
		fn(&m->attachments[i].extension, arg);
		fn(&m->attachments[i].data_url, arg);
		fn(&m->attachments[i].thumb_url, arg);
	}
	for (i = 0; i < ev->n_changes; i++)
		fn(&ev->changes[i].name, arg);
}

static void
count_slot(const char **s, void *arg)
{
	if (*s != NULL)
		*(size_t *)arg += strlen(*s) + 1;
}

static void
copy_slot(const char **s, void *arg)
{
	char **cur = arg;
	size_t n;

	if (*s == NULL)
		return;
	n = strlen(*s) + 1;
	memcpy(*cur, *s, n);
	*s = *cur;
	*cur += n;
}

/* A copy of v made with malloc (the arena is paused), or NULL for NULL. */
static bool
value_copy(const json_t **v)
{
	if (*v == NULL)
		return true;
	*v = json_deep_copy(*v);
	return *v != NULL;
}

/*
 * The typed view takes copies of its strings (one block) and the tree is
 * dropped here, on the thread that built it: a queued event holds 5 KB
 * instead of 31 KB, and the tree may live in this thread's arena, which
 * the next parse reuses. changed_attributes' values, small, are the only
 * jansson nodes an event keeps: deep copies, made with malloc. On failure
 * (out of memory) every pointer into the tree is cleared, so that
 * ld_event_unref frees what was copied.
 */
static int
detach(struct ld_event *ev, json_t *root)
{
	struct ld_change *c;
	size_t total = 0, i;
	bool ok = true;
	char *cur;

	for (i = 0; i < ev->n_changes; i++) {
		c = &ev->changes[i];
		if (!ok || !value_copy(&c->previous)) {
			c->previous = c->current = NULL;
			ok = false;
		} else if (!value_copy(&c->current)) {
			c->current = NULL;
			ok = false;
		}
	}
	if (!ok)
		return -1;
	visit_strings(ev, count_slot, &total);
	if ((ev->strings = malloc(total + 1)) == NULL)
		return -1;
	cur = ev->strings;
	visit_strings(ev, copy_slot, &cur);
	if (!ev->conversation.id.set && ev->message.present)
		ev->conversation_id_field = id_get(root, "conversation_id");
	return 0;
}

/* Drops the tree of one parse: from the arena at once, unless some of it
 * came from malloc (a full arena, or no arena), which json_decref frees. */
static void
tree_drop(json_t *root, bool arena)
{
	if (!arena || event_arena_spilled())
		json_decref(root);
	if (arena)
		event_arena_reset();
}

void
ld_event_init(void)
{
	event_arena_init();
}

struct ld_event *
ld_event_parse(const char *body, size_t len, int max_depth,
    struct ld_event_error *err)
{
	struct ld_event *ev;
	struct shape sh;
	json_t *root;
	const char *name;
	bool arena;

	if (body == NULL) {
		body = "";
		len = 0;
	}
	/* The tree goes before this returns: it may live in the arena.
	 * Nothing below allocates with jansson but value_copy, which must
	 * not, hence the pause. */
	arena = len <= EVENT_ARENA_BODY_MAX && event_arena_begin();
	root = json_load(body, len, err);
	if (arena)
		event_arena_pause();
	if (root == NULL)
		goto fail;
	/* Without JSON_DECODE_ANY the top level is an object or an array. */
	if (!json_is_object(root)) {
		set_error(err, 400, "JSON body is an array, not an object");
		goto fail;
	}
	/* Past jansson's own limit the walk could find nothing new. */
	if (max_depth > 0 && max_depth < JSON_PARSER_MAX_DEPTH &&
	    !depth_within(root, 1, max_depth)) {
		set_error(err, 400, "JSON nests deeper than %d levels",
		    max_depth);
		goto fail;
	}
	if ((name = str_get(root, "event")) == NULL) {
		set_error(err, 422, "missing or non-string \"event\"");
		goto fail;
	}
	shape_find(root, kind_from_name(name), name, &sh);
	if ((ev = event_new(&sh, body, len)) == NULL) {
		set_error(err, 500, "out of memory for a %zu-byte event", len);
		goto fail;
	}
	ev->kind = sh.kind;
	ev->name = name;
	event_fill(ev, root, &sh);
	if (detach(ev, root) == -1) {
		set_error(err, 500, "out of memory for a %zu-byte event", len);
		ld_event_unref(ev);
		goto fail;
	}
	contact_derive(ev, &sh);
	tree_drop(root, arena);
	return ev;
fail:
	tree_drop(root, arena);
	return NULL;
}

struct ld_event *
ld_event_ref(struct ld_event *ev)
{
	if (ev != NULL)
		__atomic_add_fetch(&ev->refs, 1, __ATOMIC_RELAXED);
	return ev;
}

void
ld_event_unref(struct ld_event *ev)
{
	/* Release/acquire so the last holder sees every other holder's
	 * writes (delivery_id and the like) before it frees. */
	if (ev == NULL ||
	    __atomic_sub_fetch(&ev->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < ev->n_changes; i++) {
		json_decref((json_t *)ev->changes[i].previous);
		json_decref((json_t *)ev->changes[i].current);
	}
	free(ev->strings);
	free(ev);	/* attachments, changes, labels and raw live in it */
}

const char *
ld_event_kind_name(enum ld_event_kind kind)
{
	if ((size_t)kind >= NELEM(kind_names))
		return kind_names[LD_EVENT_UNKNOWN];
	return kind_names[kind];
}

const char *
ld_message_type_name(enum ld_message_type t)
{
	if (t < LD_MESSAGE_TYPE_INCOMING || t > LD_MESSAGE_TYPE_TEMPLATE)
		return NULL;
	return message_type_names[t];
}

enum ld_message_type
ld_message_type_from_name(const char *name)
{
	size_t t;

	if (name == NULL)
		return LD_MESSAGE_TYPE_NONE;
	for (t = 0; t < NELEM(message_type_names); t++)
		if (strcmp(name, message_type_names[t]) == 0)
			return (enum ld_message_type)t;
	return LD_MESSAGE_TYPE_NONE;
}

bool
ld_event_is_message(const struct ld_event *ev)
{
	return ev->kind == LD_EVENT_MESSAGE_CREATED ||
	    ev->kind == LD_EVENT_MESSAGE_UPDATED;
}

struct ld_id
ld_event_conversation_id(const struct ld_event *ev)
{
	/* A message without its nested conversation may still name it. */
	if (!ev->conversation.id.set && ev->message.present)
		return ev->conversation_id_field;
	return ev->conversation.id;
}

bool
ld_event_conversation_id_invalid(const struct ld_event *ev)
{
	struct ld_id id = ld_event_conversation_id(ev);

	return ev->conversation_id_named && (!id.set || id.v < 0);
}

void
ld_time_format(int64_t usec, char *buf, size_t len)
{
	int64_t sec = usec / 1000000, rem = usec % 1000000;
	struct tm tm;
	time_t t;
	size_t n;

	if (len == 0)
		return;
	if (rem < 0) {
		rem += 1000000;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL ||
	    (n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf + n, len - n, ".%03dZ", (int)(rem / 1000));
}
