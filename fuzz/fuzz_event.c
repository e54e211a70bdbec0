/* libFuzzer harness for the event parser: any bytes, as a body. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "livedesk/event.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static size_t
len(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

/*
 * The bytes of a kept change value, read here (instrumented code, where
 * jansson's own is not): the parse's tree lived in the thread's arena,
 * poisoned once dropped, so a value still pointing into it is reported.
 */
static size_t
value_len(const json_t *v)
{
	const char *key;
	json_t *m;
	size_t i, n = 0;

	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		for (i = 0; i < json_string_length(v); i++)
			n += s[i] != 0;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			n += value_len(m);
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, m)
			n += strlen(key) + value_len(m);
	} else if (json_is_integer(v))
		n += json_integer_value(v) != 0;
	return n;
}

static size_t
person_len(const struct ld_person *p)
{
	return len(p->name) + len(p->email) + len(p->phone_number) +
	    len(p->identifier) + len(p->type) + len(p->availability) +
	    len(p->thumbnail);
}

/* Reads every string the typed view points at: they are copies the parser
 * made, and ASan checks every byte. */
static size_t
walk(const struct ld_event *ev)
{
	const struct ld_conversation *c = &ev->conversation;
	const struct ld_message *m = &ev->message;
	const struct ld_attachment *a;
	size_t i, n = strlen(ev->name);

	n += len(ev->account.name) + len(ev->inbox.name);
	n += len(c->status) + len(c->priority) + len(c->channel);
	for (i = 0; i < c->n_labels; i++)
		n += strlen(c->labels[i]);
	n += len(c->contact_inbox.source_id) +
	    len(c->contact_inbox.pubsub_token);
	n += person_len(&c->sender) + person_len(&c->assignee) +
	    len(c->team.name);
	n += len(m->content) + len(m->content_type) + len(m->status) +
	    len(m->external_error) + len(m->source_id) +
	    person_len(&m->sender);
	for (i = 0; i < m->n_attachments; i++) {
		a = &m->attachments[i];
		n += len(a->file_type) + len(a->extension) + len(a->data_url) +
		    len(a->thumb_url);
	}
	n += person_len(&ev->contact) + person_len(&ev->typing.user);
	for (i = 0; i < ev->n_changes; i++)
		n += strlen(ev->changes[i].name) +
		    value_len(ev->changes[i].previous) +
		    value_len(ev->changes[i].current);
	return n;
}

/* The last input's event, walked again after the next input's parses
 * have reused the arena. */
static struct ld_event *keep;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ld_event_error err;
	struct ld_event *ev;

	/* The depth the daemon uses by default, then jansson's own. */
	ev = ld_event_parse((const char *)data, size, 64, &err);
	if (keep != NULL)
		(void)walk(keep);
	if (ev != NULL) {
		(void)walk(ev);
		(void)ld_event_conversation_id(ev);
		(void)ld_event_kind_name(ev->kind);
		(void)ld_message_type_name(ev->message.message_type);
		ld_event_unref(ld_event_ref(ev));
		ld_event_unref(ev);
	}
	/* The values kept after the thread's arena was reused. */
	ld_event_unref(keep);
	keep = NULL;
	ev = ld_event_parse((const char *)data, size, 0, &err);
	if (ev != NULL)
		(void)walk(ev);
	keep = ev;
	return 0;
}
