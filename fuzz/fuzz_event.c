/* libFuzzer harness for the event parser: any bytes, as a body. */
#include <stddef.h>
#include <stdint.h>

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
		/* Walk what the typed view points at. */
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
