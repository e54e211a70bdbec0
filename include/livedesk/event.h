/* The typed view of one LiveDesk webhook event, and its parser. */
#ifndef LIVEDESK_EVENT_H
#define LIVEDESK_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Every field may be absent or null in a real payload. Strings are NULL when
 * absent; every other field carries its own `set` flag. A field of an
 * unexpected type, or one the view cannot hold (a string with a NUL in it,
 * a number beyond a double or a 64-bit integer), is treated as absent.
 * Strings are the event's own and live as long as it. The bytes received
 * are kept as they came (raw), so that sinks pass the payload on unchanged;
 * the parsed tree is not kept.
 */

/* The five events the vendor documents. The other events the upstream
 * sender emits (typing, widget, contact, inbox, automation and macro
 * events) are LD_EVENT_UNKNOWN by kind; their name still decides where
 * their parts are read from (see struct ld_event). */
enum ld_event_kind {
	LD_EVENT_UNKNOWN = 0,	/* any other name; ld_event.name keeps it */
	LD_EVENT_CONVERSATION_CREATED,
	LD_EVENT_CONVERSATION_UPDATED,
	LD_EVENT_CONVERSATION_STATUS_CHANGED,
	LD_EVENT_MESSAGE_CREATED,
	LD_EVENT_MESSAGE_UPDATED,
};

/* Normalised from the string ("incoming") or integer (0) forms. */
enum ld_message_type {
	LD_MESSAGE_TYPE_NONE = -1,	/* absent or not understood */
	LD_MESSAGE_TYPE_INCOMING = 0,
	LD_MESSAGE_TYPE_OUTGOING = 1,
	LD_MESSAGE_TYPE_ACTIVITY = 2,
	LD_MESSAGE_TYPE_TEMPLATE = 3,
};

struct ld_id {
	bool	 set;
	int64_t	 v;
};

struct ld_bool {
	bool	 set;
	bool	 v;
};

/* Any of ISO-8601, epoch integer or epoch float, as microseconds since the
 * Unix epoch (UTC). */
struct ld_time {
	bool	 set;
	int64_t	 usec;
};

struct ld_account {
	struct ld_id	 id;
	const char	*name;
};

struct ld_inbox {
	struct ld_id	 id;
	const char	*name;
};

/* A contact, an agent or a bot: sender, meta.sender, assignee. */
struct ld_person {
	struct ld_id	 id;
	const char	*name;
	const char	*email;
	const char	*phone_number;
	const char	*identifier;
	const char	*type;		/* "contact", "user", ... */
	const char	*availability;
	const char	*thumbnail;
	struct ld_bool	 blocked;
};

struct ld_team {
	struct ld_id	 id;
	const char	*name;
};

struct ld_contact_inbox {
	struct ld_id	 id;
	struct ld_id	 contact_id;
	struct ld_id	 inbox_id;
	const char	*source_id;
	const char	*pubsub_token;
	struct ld_bool	 hmac_verified;
	struct ld_time	 created_at;
	struct ld_time	 updated_at;
};

struct ld_attachment {
	struct ld_id	 id;
	struct ld_id	 message_id;
	const char	*file_type;
	const char	*extension;
	const char	*data_url;
	const char	*thumb_url;
	struct ld_id	 file_size;
	struct ld_id	 width;
	struct ld_id	 height;
};

/* One entry of conversation_updated's changed_attributes. The values are
 * strings, numbers or null (JSON null, not a NULL pointer); NULL pointer
 * means the key was absent. */
struct ld_change {
	const char	*name;
	const json_t	*previous;
	const json_t	*current;
};

struct ld_conversation {
	bool			 present;
	struct ld_id		 id;
	struct ld_id		 inbox_id;
	const char		*status;
	const char		*priority;
	const char		*channel;
	struct ld_bool		 can_reply;
	struct ld_id		 unread_count;
	const char	       **labels;	/* n_labels strings */
	size_t			 n_labels;
	struct ld_contact_inbox	 contact_inbox;
	struct ld_person	 sender;	/* meta.sender: the contact */
	struct ld_person	 assignee;	/* meta.assignee */
	struct ld_team		 team;		/* meta.team */
	struct ld_time		 created_at;
	struct ld_time		 updated_at;
	struct ld_time		 last_activity_at;
	struct ld_time		 waiting_since;
	struct ld_time		 snoozed_until;
	struct ld_time		 first_reply_created_at;
	struct ld_time		 timestamp;
};

struct ld_message {
	bool			 present;
	struct ld_id		 id;
	const char		*content;
	const char		*content_type;
	enum ld_message_type	 message_type;
	struct ld_bool		 is_private;
	const char		*status;	/* sent, delivered, failed... */
	/* content_attributes.external_error: why a send failed, as the
	 * channel said ("131047: Re-engagement message is not allowed"). */
	const char		*external_error;
	const char		*source_id;
	struct ld_id		 in_reply_to;	/* content_attributes.in_reply_to */
	struct ld_id		 contact_id;
	struct ld_person	 sender;
	struct ld_attachment	*attachments;	/* n_attachments entries */
	size_t			 n_attachments;
	struct ld_time		 created_at;
};

/* conversation_typing_on and _off: who is typing, and whether it is a
 * private note. */
struct ld_typing {
	bool			 present;
	struct ld_person	 user;		/* a contact or an agent */
	struct ld_bool		 is_private;
};

/*
 * Where each event keeps its parts:
 *   message_created, message_updated: the message at the top level, its
 *     conversation in `conversation`;
 *   conversation_created, _updated, _status_changed, automation_event.*,
 *     macro.executed: the conversation at the top level;
 *   conversation_typing_on, _off: the conversation in `conversation`, the
 *     typist in `user`, and `is_private`;
 *   webwidget_triggered: the conversation in `current_conversation`, the
 *     contact in `contact`, with `inbox` and `account`;
 *   contact_created, contact_updated: the contact at the top level;
 *   inbox_created, inbox_updated: the inbox at the top level;
 *   any other name: a message when it nests a conversation, else a
 *     conversation when it looks like one.
 */
struct ld_event {
	enum ld_event_kind	 kind;
	const char		*name;		/* the `event` string, never NULL */
	struct ld_account	 account;
	struct ld_inbox		 inbox;
	struct ld_conversation	 conversation;
	struct ld_message	 message;
	/* The customer: the contact of contact and widget events; else the
	 * message's sender when it is a contact; else the conversation's
	 * meta.sender. */
	struct ld_person	 contact;
	struct ld_typing	 typing;
	/* changed_attributes of conversation, contact and inbox updates. */
	struct ld_change	*changes;	/* n_changes entries */
	size_t			 n_changes;

	/* Set by the receiver, not the payload. */
	char			 delivery_id[40];
	int64_t			 received_usec;
	/* The spool's record of this event, set before it is dispatched;
	 * owned and guarded by the spool (spool.c). NULL without a spool. */
	struct spool_entry	*spool;

	const char		*raw;		/* the bytes received, owned */
	size_t			 raw_len;
	/* Private: use ld_event_ref, ld_event_conversation_id. */
	int			 refs;
	char			*strings;	/* the typed view's strings */
	struct ld_id		 conversation_id_field;
	bool			 conversation_id_named;
};

/* Why ld_event_parse failed: the HTTP status to answer and a message. */
struct ld_event_error {
	int	 status;	/* 400 not JSON or not an object, 422 no event */
	char	 text[200];
};

/*
 * Gives jansson the parser's allocation functions (a per-thread arena for
 * the tree ld_event_parse drops before it returns; malloc for everything
 * else), unless other ones were set already. The first ld_event_parse
 * does it; a program with other threads using jansson calls it first,
 * before they start, since json_set_alloc_funcs is process-wide.
 */
void		 ld_event_init(void);
/*
 * Parses a body into a new event with one reference. Copies the raw bytes.
 * max_depth limits JSON nesting (0: jansson's own limit). Returns NULL and
 * fills err on failure.
 */
struct ld_event	*ld_event_parse(const char *body, size_t len, int max_depth,
		    struct ld_event_error *err);
struct ld_event	*ld_event_ref(struct ld_event *);
void		 ld_event_unref(struct ld_event *);	/* NULL is a no-op */
/*
 * Parses any valid JSON text as ld_event_parse does, including what
 * jansson alone refuses (\u0000 in keys, numbers beyond a double), for a
 * wire format that carries a payload inside a JSON line. Returns a new
 * jansson reference, or NULL and fills err.
 */
struct json_t	*ld_event_json_load(const char *text, size_t len,
		    struct ld_event_error *err);

const char	*ld_event_kind_name(enum ld_event_kind);
/* "incoming", "outgoing", "activity", "template", or NULL for NONE. */
const char	*ld_message_type_name(enum ld_message_type);
/* Parses the names above; NONE when unknown. */
enum ld_message_type ld_message_type_from_name(const char *);
bool		 ld_event_is_message(const struct ld_event *);

/* The conversation id the event belongs to, for ordering; set=false when
 * the payload names none. */
struct ld_id	 ld_event_conversation_id(const struct ld_event *);
/* True when the payload names a conversation id that cannot order the
 * conversation's events: a negative one, or one that is not an integer
 * (a string, a fraction, a number beyond 64 bits). null names none. */
bool		 ld_event_conversation_id_invalid(const struct ld_event *);

/* Formats usec as ISO-8601 UTC with milliseconds into buf (>= 32 bytes). */
void		 ld_time_format(int64_t usec, char *buf, size_t len);

#endif
