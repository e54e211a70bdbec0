/* The environment a run gets: the daemon's PATH, LANG and credentials
 * directory, the sink's env lines, then the event's fields as LIVEDESK_*. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "exec_env.h"
#include "util.h"

#define EXEC_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"
#define EXEC_VALUE_MAX		(32 * 1024)	/* per environment value */

const char *
exec_env_path(char *const *lines, size_t n)
{
	const char *p = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		if (strncmp(lines[i], "PATH=", 5) == 0)
			p = lines[i] + 5;
	if (p == NULL)
		p = getenv("PATH");
	return p != NULL ? p : EXEC_DEFAULT_PATH;
}

void
exec_env_free(struct exec_env *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		explicit_bzero(e->v[i], strlen(e->v[i]));
		free(e->v[i]);
	}
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/* Adds "KEY=VALUE", replacing one of the same key. Takes ownership. */
static void
env_put(struct exec_env *e, char *kv)
{
	size_t klen = strcspn(kv, "=") + 1, i;

	for (i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], kv, klen) == 0) {
			free(e->v[i]);
			e->v[i] = kv;
			return;
		}
	}
	e->v = xreallocarray(e->v, e->n + 2, sizeof *e->v);
	e->v[e->n++] = kv;
	e->v[e->n] = NULL;
}

/* Sets key to value when there is one; returns whether it was cut. */
static bool
env_str(struct exec_env *e, const char *key, const char *value)
{
	size_t n, cut;

	if (value == NULL)
		return false;
	n = strlen(value);
	cut = n <= EXEC_VALUE_MAX ? n : util_utf8_whole(value,
	    EXEC_VALUE_MAX);
	env_put(e, xasprintf("%s=%.*s", key, (int)cut, value));
	return cut < n;
}

static void
env_id(struct exec_env *e, const char *key, struct ld_id id)
{
	if (id.set)
		env_put(e, xasprintf("%s=%" PRId64, key, id.v));
}

char **
exec_env_event(struct exec_env *e, const struct exec_env *sink_env,
    const char *sink, const struct ld_event *ev)
{
	const struct ld_person *sender;
	struct ld_id contact;
	size_t i;

	for (i = 0; i < sink_env->n; i++)
		env_put(e, xstrdup(sink_env->v[i]));
	env_put(e, xasprintf("LIVEDESK_SINK=%s", sink));
	env_str(e, "LIVEDESK_EVENT", ev->name);
	if (ev->delivery_id[0] != '\0')
		env_str(e, "LIVEDESK_DELIVERY_ID", ev->delivery_id);
	env_id(e, "LIVEDESK_ACCOUNT_ID", ev->account.id);
	env_id(e, "LIVEDESK_INBOX_ID", ev->inbox.id);
	env_id(e, "LIVEDESK_CONVERSATION_ID", ld_event_conversation_id(ev));
	env_str(e, "LIVEDESK_CONVERSATION_STATUS", ev->conversation.status);
	if (ld_event_is_message(ev)) {
		const struct ld_message *m = &ev->message;

		env_id(e, "LIVEDESK_MESSAGE_ID", m->id);
		env_str(e, "LIVEDESK_MESSAGE_TYPE",
		    ld_message_type_name(m->message_type));
		/* The whole content is on stdin in any case. */
		if (env_str(e, "LIVEDESK_MESSAGE_CONTENT", m->content))
			env_put(e, xstrdup(
			    "LIVEDESK_MESSAGE_CONTENT_TRUNCATED=true"));
		if (m->is_private.set)
			env_str(e, "LIVEDESK_MESSAGE_PRIVATE",
			    m->is_private.v ? "true" : "false");
		/* What a script needs to react to a failed send. */
		env_str(e, "LIVEDESK_MESSAGE_STATUS", m->status);
		env_str(e, "LIVEDESK_MESSAGE_ERROR", m->external_error);
		sender = &m->sender;
		contact = ev->contact.id.set ? ev->contact.id : m->contact_id;
	} else if (ev->typing.present) {
		/* Typing: who types, and whether a private note. */
		if (ev->typing.is_private.set)
			env_str(e, "LIVEDESK_MESSAGE_PRIVATE",
			    ev->typing.is_private.v ? "true" : "false");
		sender = &ev->typing.user;
		contact = ev->contact.id;
	} else {
		/* The conversation's contact, or the contact or widget
		 * event's own. */
		sender = &ev->contact;
		contact = ev->contact.id;
	}
	env_id(e, "LIVEDESK_SENDER_ID", sender->id);
	env_str(e, "LIVEDESK_SENDER_NAME", sender->name);
	env_str(e, "LIVEDESK_SENDER_EMAIL", sender->email);
	env_str(e, "LIVEDESK_SENDER_PHONE", sender->phone_number);
	env_str(e, "LIVEDESK_SENDER_TYPE", sender->type);
	env_id(e, "LIVEDESK_CONTACT_ID", contact);
	return e->v;
}

void
exec_env_sink(struct exec_env *e, char *const *lines, size_t n)
{
	const char *lang;
	size_t i;

	env_put(e, xasprintf("PATH=%s", getenv("PATH") != NULL ?
	    getenv("PATH") : EXEC_DEFAULT_PATH));
	if ((lang = getenv("LANG")) != NULL)
		env_put(e, xasprintf("LANG=%s", lang));
	/* The service's systemd credentials are the scripts' too: that is
	 * where livedesk-send finds its API key. */
	if ((lang = getenv("CREDENTIALS_DIRECTORY")) != NULL)
		env_put(e, xasprintf("CREDENTIALS_DIRECTORY=%s", lang));
	for (i = 0; i < n; i++)
		env_put(e, xstrdup(lines[i]));
}
