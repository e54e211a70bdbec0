/* libFuzzer harness for the event parser: any bytes, as a body. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "livedesk/event.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ld_event_error err;
	struct ld_event *ev;

	/* The depth the daemon uses by default, then jansson's own. */
	ev = ld_event_parse((const char *)data, size, 64, &err);
	if (ev != NULL) {
		/* Walk what the typed view points at: its strings are
		 * copies the parser made, and ASan checks every byte. */
		size_t i, n = strlen(ev->name);

		if (ev->message.content != NULL)
			n += strlen(ev->message.content);
		if (ev->contact.name != NULL)
			n += strlen(ev->contact.name);
		if (ev->conversation.status != NULL)
			n += strlen(ev->conversation.status);
		for (i = 0; i < ev->conversation.n_labels; i++)
			n += strlen(ev->conversation.labels[i]);
		for (i = 0; i < ev->n_changes; i++)
			n += strlen(ev->changes[i].name);
		for (i = 0; i < ev->message.n_attachments; i++)
			if (ev->message.attachments[i].data_url != NULL)
				n += strlen(ev->message.attachments[i].data_url);
		(void)n;
		(void)ld_event_conversation_id(ev);
		(void)ld_event_kind_name(ev->kind);
		(void)ld_message_type_name(ev->message.message_type);
		ld_event_unref(ld_event_ref(ev));
		ld_event_unref(ev);
	}
	ev = ld_event_parse((const char *)data, size, 0, &err);
	ld_event_unref(ev);
	return 0;
}
